"""Black-Scholes and Black-76 prices and greeks of European options.

Scalar kernels (``bs_price_one``, ``bs_greeks_one``, ``black76_price_one``,
``norm_cdf``, ...) are ``@njit`` functions meant to be called from other
jitted code; the array kernels ``_..._kernel`` loop over 1-D arrays; the
public wrappers (``bs_price``, ``bs_greeks``, ``black76_price``,
``black76_greeks``) validate, broadcast and call the array kernels.

Formulas: Hull, *Options, Futures and Other Derivatives*, ch. 15 and 19
(continuous dividend yield ``q``); Black (1976) for options on futures, which
is Black-Scholes with the dividend yield set to the rate (Haug, *The Complete
Guide to Option Pricing Formulas*, 2nd ed., sec. 1.1.6, cost of carry b = 0).

Units: prices and strikes in index points, ``T`` in years, ``r`` and ``q``
continuously compounded per year, ``sigma`` annualized decimal.

Greeks follow QuantLib's conventions (the reference values in
``shared/reference/black_scholes.json``): delta = dV/dS (dV/dF for Black-76),
gamma = d2V/dS2, vega = dV/dsigma per 1.00 of vol, theta = dV/dt per year,
i.e. minus dV/dT (negative for a typical long option).

Degenerate inputs never raise inside the kernels; they return limits:

* ``T <= 0``: the undiscounted intrinsic value ``max(S - K, 0)`` (call) or
  ``max(K - S, 0)`` (put). Delta is that of the intrinsic value, a step of
  height 1 (call) or -1 (put) with the midpoint +-0.5 at ``S == K``; gamma,
  vega and theta are 0.
* ``sigma <= 0`` (or ``S <= 0``, ``K <= 0``) with ``T > 0``: the discounted
  intrinsic value of the forward, ``max(S e^{-qT} - K e^{-rT}, 0)`` for a
  call and ``max(K e^{-rT} - S e^{-qT}, 0)`` for a put; in particular
  ``K <= 0`` gives a call worth ``S e^{-qT} - K e^{-rT}`` and a put worth 0.
  Greeks are the zero-volatility limits: ``N(d1)`` and ``N(d2)`` become a
  step in the forward moneyness (1/2 exactly at the money forward), gamma is
  0 (its true limit at the money forward is a Dirac mass), vega is 0 except
  at the money forward where it is the right limit ``S e^{-qT} sqrt(T)/sqrt(2 pi)``.
  The greeks (not the price) take these limits also when ``S sigma sqrt(T) <
  1e-300``, where gamma would overflow.
* ``sigma = inf``: the upper bounds, ``S e^{-qT}`` (call) and ``K e^{-rT}`` (put).
* any NaN input gives NaN (all four greeks NaN).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import get_num_threads, njit, prange
from numpy.typing import ArrayLike, NDArray

from pricing._arrays import flatten_inputs, require_non_negative, shaped

__all__ = [
    "Greeks",
    "black76_greeks",
    "black76_greeks_one",
    "black76_price",
    "black76_price_one",
    "bs_greeks",
    "bs_greeks_one",
    "bs_price",
    "bs_price_one",
    "bs_price_terms",
    "norm_cdf",
    "norm_pdf",
    "norm_ppf",
]

_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# Below this S sigma sqrt(T) the greeks take their zero-volatility limits: gamma,
# e^{-qT} pdf(d1) / (S sigma sqrt(T)), would overflow or be 0/0 (subnormal sigma sqrt(T)).
_MIN_SCALED_VOL = 1e-300


class Greeks(NamedTuple):
    """Sensitivities of an option price (same shape as the price).

    Attributes
    ----------
    delta : float or ndarray
        dV/dS (dV/dF for Black-76), per index point of the underlying.
    gamma : float or ndarray
        d2V/dS2, per index point squared.
    vega : float or ndarray
        dV/dsigma, index points per 1.00 (100 vol points) of annualized vol.
    theta : float or ndarray
        dV/dt, index points per year of calendar time (minus dV/dT).
    """

    delta: np.float64 | NDArray[np.float64]
    gamma: np.float64 | NDArray[np.float64]
    vega: np.float64 | NDArray[np.float64]
    theta: np.float64 | NDArray[np.float64]


# ---------------------------------------------------------------------------
# Scalar kernels
# ---------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def norm_cdf(x):
    """Standard normal cumulative distribution, accurate in both tails (erfc)."""
    return 0.5 * math.erfc(-x / _SQRT_2)


@njit(cache=True, error_model="numpy")
def norm_pdf(x):
    """Standard normal density."""
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


# Acklam's rational approximation of the normal quantile (relative error
# 1.15e-9), refined below by one Halley step on norm_cdf to full precision.
_PPF_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
          1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_PPF_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
          6.680131188771972e01, -1.328068155288572e01)
_PPF_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
          -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_PPF_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
          3.754408661907416e00)


@njit(cache=True, error_model="numpy")
def norm_ppf(p):
    """Standard normal quantile (inverse of ``norm_cdf``); NaN outside [0, 1].

    Upper-tail ``p`` use the symmetry ``ppf(p) = -ppf(1 - p)`` (``1 - p`` is
    exact for ``p >= 0.5``), so both tails keep full relative precision.
    """
    if not (0.0 < p < 1.0):
        if p == 0.0:
            return -np.inf
        if p == 1.0:
            return np.inf
        return np.nan
    if p > 0.5:
        return -_norm_ppf_lower(1.0 - p)
    return _norm_ppf_lower(p)


@njit(cache=True, error_model="numpy")
def _norm_ppf_lower(p):
    """Normal quantile for ``0 < p <= 0.5``: Acklam's guess plus one Halley step."""
    a, b, c, d = _PPF_A, _PPF_B, _PPF_C, _PPF_D
    if p < 0.02425:
        t = math.sqrt(-2.0 * math.log(p))
        x = ((((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5])
             / ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0))
    else:
        t = p - 0.5
        r = t * t
        x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * t
             / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0))
    u = (norm_cdf(x) - p) / norm_pdf(x)
    return x - u / (1.0 + 0.5 * x * u)


@njit(cache=True, error_model="numpy")
def _has_nan(S, K, T, r, q, sigma):
    return S != S or K != K or T != T or r != r or q != q or sigma != sigma


@njit(cache=True, error_model="numpy")
def _intrinsic_delta(S, K, is_call):
    """Delta at expiry: of the intrinsic value, a step with its midpoint (+-0.5) at the strike."""
    if S > K:
        step = 1.0
    elif S < K:
        step = 0.0
    else:
        step = 0.5
    return step if is_call else step - 1.0


@njit(cache=True, error_model="numpy")
def _forward_step(fwd_pv, strike_pv):
    # N(d1) = N(d2) in the zero-variance limit: 1 in the money forward, 0 out,
    # 1/2 exactly at the money forward.
    if fwd_pv > strike_pv:
        return 1.0
    if fwd_pv < strike_pv:
        return 0.0
    return 0.5


@njit(cache=True, error_model="numpy")
def bs_price_one(S, K, T, r, q, sigma, is_call):
    """Black-Scholes price (index points) of one European option.

    ``S`` spot, ``K`` strike (index points), ``T`` years, ``r``, ``q``
    continuous rate and dividend yield, ``sigma`` annualized vol,
    ``is_call`` bool. See the module docstring for degenerate inputs.
    """
    if _has_nan(S, K, T, r, q, sigma):
        return np.nan
    if T <= 0.0:
        if is_call:
            return max(S - K, 0.0)
        return max(K - S, 0.0)
    return bs_price_terms(S, K, sigma, is_call, S * math.exp(-q * T), K * math.exp(-r * T),
                          math.sqrt(T), (r - q) * T)


@njit(cache=True, error_model="numpy", inline="always")
def bs_price_terms(S, K, sigma, is_call, fwd_pv, strike_pv, sqrt_T, carry):
    """``bs_price_one`` for ``T > 0`` and no NaN input, from its expiry terms.

    ``fwd_pv = S e^{-qT}``, ``strike_pv = K e^{-rT}``, ``sqrt_T = sqrt(T)``,
    ``carry = (r - q) T``: callers pricing many strikes of one expiry compute
    them once (``sim.instruments``); the price is bit for bit
    ``bs_price_one``'s, degenerate inputs included.
    """
    total_vol = sigma * sqrt_T
    if total_vol <= 0.0 or S <= 0.0 or K <= 0.0:
        if is_call:
            return max(fwd_pv - strike_pv, 0.0)
        return max(strike_pv - fwd_pv, 0.0)
    if total_vol == np.inf:
        if is_call:
            return fwd_pv
        return strike_pv
    d1 = (math.log(S / K) + carry) / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    if is_call:
        return fwd_pv * norm_cdf(d1) - strike_pv * norm_cdf(d2)
    return strike_pv * norm_cdf(-d2) - fwd_pv * norm_cdf(-d1)


@njit(cache=True, error_model="numpy")
def bs_greeks_one(S, K, T, r, q, sigma, is_call):
    """Black-Scholes ``(delta, gamma, vega, theta)`` of one European option.

    Same arguments as ``bs_price_one``. Vega per 1.00 of vol, theta per year
    of calendar time (QuantLib convention). See the module docstring for
    degenerate inputs.
    """
    if _has_nan(S, K, T, r, q, sigma):
        return np.nan, np.nan, np.nan, np.nan
    if T <= 0.0:
        return _intrinsic_delta(S, K, is_call), 0.0, 0.0, 0.0
    sqrt_T = math.sqrt(T)
    dividend_discount = math.exp(-q * T)
    fwd_pv = S * dividend_discount
    strike_pv = K * math.exp(-r * T)
    total_vol = sigma * sqrt_T
    if (total_vol <= 0.0 or S <= 0.0 or K <= 0.0 or total_vol == np.inf
            or S * total_vol < _MIN_SCALED_VOL):
        if total_vol == np.inf and S > 0.0 and K > 0.0:
            n_d1, n_d2 = 1.0, 0.0
        else:
            n_d1 = _forward_step(fwd_pv, strike_pv)
            n_d2 = n_d1
        vega = 0.0
        if total_vol < np.inf and fwd_pv == strike_pv:
            vega = fwd_pv * sqrt_T * _INV_SQRT_2PI
        if is_call:
            delta = dividend_discount * n_d1
            theta = q * fwd_pv * n_d1 - r * strike_pv * n_d2
        else:
            delta = dividend_discount * (n_d1 - 1.0)
            theta = -q * fwd_pv * (1.0 - n_d1) + r * strike_pv * (1.0 - n_d2)
        return delta, 0.0, vega, theta
    d1 = (math.log(S / K) + (r - q) * T) / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    pdf_d1 = norm_pdf(d1)
    gamma = dividend_discount * pdf_d1 / (S * total_vol)
    vega = fwd_pv * pdf_d1 * sqrt_T
    time_decay = -fwd_pv * pdf_d1 * sigma / (2.0 * sqrt_T)
    if is_call:
        n_d1 = norm_cdf(d1)
        delta = dividend_discount * n_d1
        theta = time_decay + q * fwd_pv * n_d1 - r * strike_pv * norm_cdf(d2)
    else:
        n_minus_d1 = norm_cdf(-d1)
        delta = -dividend_discount * n_minus_d1
        theta = time_decay - q * fwd_pv * n_minus_d1 + r * strike_pv * norm_cdf(-d2)
    return delta, gamma, vega, theta


@njit(cache=True, error_model="numpy")
def bs_delta_one(S, K, T, r, q, sigma, is_call):
    """Black-Scholes delta of one European option: ``bs_greeks_one(...)[0]``, bit for bit.

    The delta alone (no gamma, vega or theta), by the same operations as
    ``bs_greeks_one``, for callers that need only it.
    """
    if _has_nan(S, K, T, r, q, sigma):
        return np.nan
    if T <= 0.0:
        return _intrinsic_delta(S, K, is_call)
    sqrt_T = math.sqrt(T)
    dividend_discount = math.exp(-q * T)
    total_vol = sigma * sqrt_T
    if (total_vol <= 0.0 or S <= 0.0 or K <= 0.0 or total_vol == np.inf
            or S * total_vol < _MIN_SCALED_VOL):
        if total_vol == np.inf and S > 0.0 and K > 0.0:
            n_d1 = 1.0
        else:
            n_d1 = _forward_step(S * dividend_discount, K * math.exp(-r * T))
        if is_call:
            return dividend_discount * n_d1
        return dividend_discount * (n_d1 - 1.0)
    d1 = (math.log(S / K) + (r - q) * T) / total_vol + 0.5 * total_vol
    if is_call:
        return dividend_discount * norm_cdf(d1)
    return -dividend_discount * norm_cdf(-d1)


@njit(cache=True, error_model="numpy")
def black76_price_one(F, K, T, r, sigma, is_call):
    """Black-76 price (index points) of one European option on a future.

    ``F`` futures price, ``K`` strike, ``T`` years, ``r`` continuous rate
    used to discount the payoff, ``sigma`` annualized vol of the future.
    Black-76 is Black-Scholes with ``q = r`` (cost of carry 0).
    """
    return bs_price_one(F, K, T, r, r, sigma, is_call)


@njit(cache=True, error_model="numpy")
def black76_greeks_one(F, K, T, r, sigma, is_call):
    """Black-76 ``(delta, gamma, vega, theta)``; delta and gamma are in F."""
    return bs_greeks_one(F, K, T, r, r, sigma, is_call)


# ---------------------------------------------------------------------------
# Public wrappers
# ---------------------------------------------------------------------------

#: Options from which the wrappers use the multi-threaded kernels (when numba
#: has more than one thread). Each option is computed by the same scalar
#: kernel either way, so the results do not depend on the choice.
PARALLEL_MIN = 32_768


def bs_price(
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """Black-Scholes price of European options with a continuous dividend yield.

    All arguments broadcast against each other.

    Parameters
    ----------
    S : array_like
        Spot price, index points, >= 0.
    K : array_like
        Strike, index points (``K <= 0`` gives the forward-contract value).
    T : array_like
        Time to expiry, years, >= 0 (0 gives the intrinsic value).
    r : array_like
        Risk-free rate, continuously compounded, per year.
    q : array_like
        Dividend yield, continuously compounded, per year.
    sigma : array_like
        Volatility, annualized decimal, >= 0.
    is_call : array_like of bool
        True for a call, False for a put.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Option price in index points, of the broadcast shape (a scalar when
        every input is a scalar). NaN inputs give NaN.

    Raises
    ------
    ValueError
        If `S`, `T` or `sigma` has a negative entry.
    """
    shape, (S_, K_, T_, r_, q_, sigma_), flags = flatten_inputs(
        {"S": S, "K": K, "T": T, "r": r, "q": q, "sigma": sigma}, is_call
    )
    out = np.empty(S_.shape[0], dtype=np.float64)
    if _run_kernel(_bs_price_kernel, _bs_price_kernel_parallel, out.shape[0],
                   S_, K_, T_, r_, q_, sigma_, flags, out):
        _raise_negative({"S": S_, "T": T_, "sigma": sigma_})
    return shaped(out, shape)


def bs_greeks(
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Black-Scholes delta, gamma, vega and theta of European options.

    Arguments as in `bs_price`; all broadcast against each other.

    Parameters
    ----------
    S : array_like
        Spot price, index points, >= 0.
    K : array_like
        Strike, index points.
    T : array_like
        Time to expiry, years, >= 0.
    r : array_like
        Risk-free rate, continuously compounded, per year.
    q : array_like
        Dividend yield, continuously compounded, per year.
    sigma : array_like
        Volatility, annualized decimal, >= 0.
    is_call : array_like of bool
        True for a call, False for a put.

    Returns
    -------
    Greeks
        ``(delta, gamma, vega, theta)``: delta dV/dS (1), gamma d2V/dS2
        (1/index point), vega dV/dsigma (index points per 1.00 of vol),
        theta dV/dt (index points per year; QuantLib sign, negative for a
        typical long option). Each of the broadcast shape, float64.

    Raises
    ------
    ValueError
        If `S`, `T` or `sigma` has a negative entry.
    """
    shape, (S_, K_, T_, r_, q_, sigma_), flags = flatten_inputs(
        {"S": S, "K": K, "T": T, "r": r, "q": q, "sigma": sigma}, is_call
    )
    outs = np.empty((4, S_.shape[0]), dtype=np.float64)
    if _run_kernel(_bs_greeks_kernel, _bs_greeks_kernel_parallel, S_.shape[0],
                   S_, K_, T_, r_, q_, sigma_, flags, outs[0], outs[1], outs[2], outs[3]):
        _raise_negative({"S": S_, "T": T_, "sigma": sigma_})
    return Greeks(*(shaped(o, shape) for o in outs))


def black76_price(
    F: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """Black-76 price of European options on a future (e.g. VIX options).

    ``V = e^{-rT} [F N(d1) - K N(d2)]`` for a call, with
    ``d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt(T))``, ``d2 = d1 - sigma sqrt(T)``.
    All arguments broadcast against each other.

    Parameters
    ----------
    F : array_like
        Futures price, index points, >= 0.
    K : array_like
        Strike, index points.
    T : array_like
        Time to expiry, years, >= 0 (0 gives the intrinsic value).
    r : array_like
        Risk-free rate used to discount the payoff, continuously compounded.
    sigma : array_like
        Volatility of the future, annualized decimal, >= 0.
    is_call : array_like of bool
        True for a call, False for a put.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Option price in index points, of the broadcast shape.

    Raises
    ------
    ValueError
        If `F`, `T` or `sigma` has a negative entry.
    """
    shape, (F_, K_, T_, r_, sigma_), flags = flatten_inputs(
        {"F": F, "K": K, "T": T, "r": r, "sigma": sigma}, is_call
    )
    out = np.empty(F_.shape[0], dtype=np.float64)
    # Black-76 is Black-Scholes with q = r: the same kernels, r passed twice.
    if _run_kernel(_bs_price_kernel, _bs_price_kernel_parallel, out.shape[0],
                   F_, K_, T_, r_, r_, sigma_, flags, out):
        _raise_negative({"F": F_, "T": T_, "sigma": sigma_})
    return shaped(out, shape)


def black76_greeks(
    F: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    sigma: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Black-76 delta, gamma, vega and theta of European options on a future.

    Arguments as in `black76_price`; all broadcast against each other.

    Parameters
    ----------
    F : array_like
        Futures price, index points, >= 0.
    K : array_like
        Strike, index points.
    T : array_like
        Time to expiry, years, >= 0.
    r : array_like
        Risk-free rate used to discount the payoff, continuously compounded.
    sigma : array_like
        Volatility of the future, annualized decimal, >= 0.
    is_call : array_like of bool
        True for a call, False for a put.

    Returns
    -------
    Greeks
        ``(delta, gamma, vega, theta)`` with delta = dV/dF, gamma = d2V/dF2,
        vega per 1.00 of vol, theta = dV/dt per year holding F fixed.

    Raises
    ------
    ValueError
        If `F`, `T` or `sigma` has a negative entry.
    """
    shape, (F_, K_, T_, r_, sigma_), flags = flatten_inputs(
        {"F": F, "K": K, "T": T, "r": r, "sigma": sigma}, is_call
    )
    outs = np.empty((4, F_.shape[0]), dtype=np.float64)
    if _run_kernel(_bs_greeks_kernel, _bs_greeks_kernel_parallel, F_.shape[0],
                   F_, K_, T_, r_, r_, sigma_, flags, outs[0], outs[1], outs[2], outs[3]):
        _raise_negative({"F": F_, "T": T_, "sigma": sigma_})
    return Greeks(*(shaped(o, shape) for o in outs))


# ---------------------------------------------------------------------------
# Array kernels: 1-D contiguous float64 inputs (bool is_call), outputs written in place.
# ---------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _bs_price_kernel(S, K, T, r, q, sigma, is_call, out):
    negative = 0
    for i in range(out.shape[0]):
        negative += (S[i] < 0.0) | (T[i] < 0.0) | (sigma[i] < 0.0)
        out[i] = bs_price_one(S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i])
    return negative


@njit(cache=True, error_model="numpy", parallel=True)
def _bs_price_kernel_parallel(S, K, T, r, q, sigma, is_call, out):
    negative = 0
    for i in prange(out.shape[0]):
        negative += (S[i] < 0.0) | (T[i] < 0.0) | (sigma[i] < 0.0)
        out[i] = bs_price_one(S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i])
    return negative


@njit(cache=True, error_model="numpy")
def _bs_greeks_kernel(S, K, T, r, q, sigma, is_call, delta, gamma, vega, theta):
    negative = 0
    for i in range(delta.shape[0]):
        negative += (S[i] < 0.0) | (T[i] < 0.0) | (sigma[i] < 0.0)
        delta[i], gamma[i], vega[i], theta[i] = bs_greeks_one(
            S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i]
        )
    return negative


@njit(cache=True, error_model="numpy", parallel=True)
def _bs_greeks_kernel_parallel(S, K, T, r, q, sigma, is_call, delta, gamma, vega, theta):
    negative = 0
    for i in prange(delta.shape[0]):
        negative += (S[i] < 0.0) | (T[i] < 0.0) | (sigma[i] < 0.0)
        delta[i], gamma[i], vega[i], theta[i] = bs_greeks_one(
            S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i]
        )
    return negative


def _run_kernel(serial, parallel, n: int, *args) -> int:
    """Call the parallel variant for ``n >= PARALLEL_MIN`` options on several threads."""
    if n >= PARALLEL_MIN and get_num_threads() > 1:
        return parallel(*args)
    return serial(*args)


def _raise_negative(named: dict[str, NDArray[np.float64]]) -> None:
    """Raise the ValueError of the first named input with a negative entry."""
    for name, values in named.items():
        require_non_negative(name, values)
