"""Implied volatility of European options under Black-Scholes and Black-76.

Method
------
1. No-arbitrage bounds. With ``fwd_pv = S e^{-qT}`` and ``strike_pv = K e^{-rT}``,
   a call price must lie in ``[max(fwd_pv - strike_pv, 0), fwd_pv)`` and a put
   price in ``[max(strike_pv - fwd_pv, 0), strike_pv)``. Outside, or for
   ``T <= 0``, ``K <= 0`` or any NaN input, the result is NaN (no volatility
   reproduces the price). A price equal to the lower bound gives 0.
2. Put-call parity turns the price into the price of the out-of-the-money
   option of the same strike (its time value), which has the same implied
   vol and no cancellation against the intrinsic value.
3. Safeguarded Newton iteration on a bracket ``[0, 10]`` (doubled while the
   price at the top is still below the target). The start is the inflection
   point of the price in vol, ``sigma* = sqrt(2 |ln(F/K)| / T)`` (Manaster and
   Koehler, 1982; Brenner and Subrahmanyam's ATM approximation when F = K).
   Above ``sigma*`` the price is concave in vol and plain Newton converges
   monotonically; below it Newton runs on ``ln(price)``, which is much closer
   to linear for far out-of-the-money options (the transform used by Jaeckel,
   "Let's be rational", 2015). Any step that leaves the bracket is replaced
   by bisection, so the loop always converges and stops after at most 100
   iterations.

Accuracy
--------
The iteration stops when the model price matches the target time value to
1e-12 relative, then applies one last Newton correction, so the vol is
accurate to about ``1e-12 * price / vega`` (typically better than 1e-13 in
absolute vol when vega is not negligible). Where vega is tiny (far from the
money, very short or very long expiries) the price carries little
information about the vol and the returned vol is only as accurate as the
price allows; for a price within about 1e-12 of the lower bound the
answer may be ~0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from pricing._arrays import flatten_inputs, shaped
from pricing.black import norm_cdf, norm_pdf

__all__ = ["implied_vol", "implied_vol_black76", "implied_vol_black76_one", "implied_vol_one"]

#: Most solver iterations (Newton or bisection steps) per option.
_MAX_ITERATIONS = 100
#: Top of the initial vol bracket, annualized decimal.
_SIGMA_BRACKET_TOP = 10.0
#: Most doublings of the bracket top for prices that need a larger vol.
_MAX_BRACKET_DOUBLINGS = 60
#: Relative price tolerance of the solver.
_PRICE_RTOL = 1e-12
#: Machine epsilon of float64.
_EPS = float(np.finfo(np.float64).eps)


@njit(cache=True, error_model="numpy")
def _price_and_vega(fwd_pv, strike_pv, log_moneyness, sqrt_T, sigma, is_call):
    # Black-Scholes price and vega written in the forward moneyness
    # ln(F/K) = ln(S/K) + (r - q) T; sigma > 0, fwd_pv > 0, strike_pv > 0.
    total_vol = sigma * sqrt_T
    if total_vol == np.inf:
        return (fwd_pv if is_call else strike_pv), 0.0
    if total_vol <= 0.0:
        if is_call:
            return max(fwd_pv - strike_pv, 0.0), 0.0
        return max(strike_pv - fwd_pv, 0.0), 0.0
    d1 = log_moneyness / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    if is_call:
        price = fwd_pv * norm_cdf(d1) - strike_pv * norm_cdf(d2)
    else:
        price = strike_pv * norm_cdf(-d2) - fwd_pv * norm_cdf(-d1)
    return price, fwd_pv * norm_pdf(d1) * sqrt_T


@njit(cache=True, error_model="numpy")
def implied_vol_one(price, S, K, T, r, q, is_call):
    """Black-Scholes implied vol (annualized decimal) of one European option.

    ``price``, ``S``, ``K`` in index points, ``T`` years, ``r``, ``q``
    continuous rate and dividend yield, ``is_call`` bool. Returns NaN for a
    price outside the no-arbitrage bounds, ``T <= 0``, ``K <= 0`` or NaN
    input; never raises; at most 100 iterations. See the module docstring.
    """
    if price != price or S != S or K != K or T != T or r != r or q != q:
        return np.nan
    if not (T > 0.0) or not (K > 0.0) or S < 0.0:
        return np.nan
    fwd_pv = S * math.exp(-q * T)
    strike_pv = K * math.exp(-r * T)
    if is_call:
        lower = max(fwd_pv - strike_pv, 0.0)
        upper = fwd_pv
    else:
        lower = max(strike_pv - fwd_pv, 0.0)
        upper = strike_pv
    if not (lower <= price < upper):
        return np.nan
    # Put-call parity: the out-of-the-money option is worth the time value.
    time_value = price - lower
    if time_value <= 0.0:
        return 0.0
    otm_is_call = fwd_pv < strike_pv
    sqrt_T = math.sqrt(T)
    log_moneyness = math.log(S / K) + (r - q) * T

    lo = 0.0
    hi = _SIGMA_BRACKET_TOP
    bracketed = False
    for _ in range(_MAX_BRACKET_DOUBLINGS):
        top_price, _vega = _price_and_vega(
            fwd_pv, strike_pv, log_moneyness, sqrt_T, hi, otm_is_call
        )
        if top_price >= time_value:
            bracketed = True
            break
        lo = hi
        hi *= 2.0
    if not bracketed:
        return np.nan

    # Start at the inflection point of price in vol (Manaster-Koehler), or at
    # the Brenner-Subrahmanyam ATM estimate when the forward is at the strike.
    sigma = math.sqrt(2.0 * abs(log_moneyness)) / sqrt_T
    if not (sigma > 0.0):
        sigma = math.sqrt(2.0 * math.pi) * time_value / (min(fwd_pv, strike_pv) * sqrt_T)
    if not (lo < sigma < hi):
        sigma = 0.5 * (lo + hi)
    start_price, _vega = _price_and_vega(
        fwd_pv, strike_pv, log_moneyness, sqrt_T, sigma, otm_is_call
    )
    # Below the inflection point the price is convex in vol and exponentially
    # small far from the money: iterate on ln(price) there.
    newton_on_log = start_price > time_value
    log_target = math.log(time_value)

    for _ in range(_MAX_ITERATIONS):
        model_price, vega = _price_and_vega(
            fwd_pv, strike_pv, log_moneyness, sqrt_T, sigma, otm_is_call
        )
        error = model_price - time_value
        if error < 0.0:
            lo = sigma
        else:
            hi = sigma
        if not (vega > 0.0):
            step = np.nan  # flat price: bisect
        elif newton_on_log and model_price > 0.0:
            step = (math.log(model_price) - log_target) * model_price / vega
        else:
            step = error / vega
        candidate = sigma - step
        newton_ok = lo < candidate < hi  # False for NaN (vega == 0)
        if abs(error) <= _PRICE_RTOL * time_value:
            return candidate if newton_ok else sigma
        if not newton_ok:
            candidate = 0.5 * (lo + hi)
        if abs(candidate - sigma) <= 4.0 * _EPS * candidate:
            return candidate
        sigma = candidate
    return sigma


@njit(cache=True, error_model="numpy")
def implied_vol_black76_one(price, F, K, T, r, is_call):
    """Black-76 implied vol (annualized decimal) of one option on a future.

    Black-76 is Black-Scholes with ``q = r``; see ``implied_vol_one``.
    """
    return implied_vol_one(price, F, K, T, r, r, is_call)


def implied_vol(
    price: ArrayLike,
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    is_call: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """Black-Scholes implied volatility of European options.

    Inverts `pricing.bs_price` in ``sigma``. All arguments broadcast against
    each other. Invalid inputs give NaN, never an exception.

    Parameters
    ----------
    price : array_like
        Option price, index points.
    S : array_like
        Spot price, index points.
    K : array_like
        Strike, index points.
    T : array_like
        Time to expiry, years.
    r : array_like
        Risk-free rate, continuously compounded, per year.
    q : array_like
        Dividend yield, continuously compounded, per year.
    is_call : array_like of bool
        True for a call, False for a put.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Implied volatility, annualized decimal, of the broadcast shape. NaN
        where the price is outside the no-arbitrage bounds
        ``[max(S e^{-qT} - K e^{-rT}, 0), S e^{-qT})`` (call) or
        ``[max(K e^{-rT} - S e^{-qT}, 0), K e^{-rT})`` (put), where
        ``T <= 0`` or ``K <= 0``, and for NaN input. The model price at the
        returned vol matches `price` to about 1e-12 relative (time value).
    """
    shape, (price_, S_, K_, T_, r_, q_), flags = flatten_inputs(
        {"price": price, "S": S, "K": K, "T": T, "r": r, "q": q}, is_call
    )
    out = np.empty(price_.shape[0], dtype=np.float64)
    _implied_vol_kernel(price_, S_, K_, T_, r_, q_, flags, out)
    return shaped(out, shape)


def implied_vol_black76(
    price: ArrayLike,
    F: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    is_call: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """Black-76 implied volatility of European options on a future.

    Inverts `pricing.black76_price` in ``sigma``. All arguments broadcast
    against each other. Invalid inputs give NaN, never an exception.

    Parameters
    ----------
    price : array_like
        Option price, index points.
    F : array_like
        Futures price, index points.
    K : array_like
        Strike, index points.
    T : array_like
        Time to expiry, years.
    r : array_like
        Risk-free rate used to discount the payoff, continuously compounded.
    is_call : array_like of bool
        True for a call, False for a put.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Implied volatility of the future, annualized decimal, of the
        broadcast shape. NaN where the price is outside
        ``[e^{-rT} max(F - K, 0), e^{-rT} F)`` (call) or
        ``[e^{-rT} max(K - F, 0), e^{-rT} K)`` (put), where ``T <= 0`` or
        ``K <= 0``, and for NaN input.
    """
    shape, (price_, F_, K_, T_, r_), flags = flatten_inputs(
        {"price": price, "F": F, "K": K, "T": T, "r": r}, is_call
    )
    out = np.empty(price_.shape[0], dtype=np.float64)
    _implied_vol_kernel(price_, F_, K_, T_, r_, r_, flags, out)
    return shaped(out, shape)


@njit(cache=True, error_model="numpy")
def _implied_vol_kernel(price, S, K, T, r, q, is_call, out):
    for i in range(out.shape[0]):
        out[i] = implied_vol_one(price[i], S[i], K[i], T[i], r[i], q[i], is_call[i])
