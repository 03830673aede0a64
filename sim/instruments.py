"""Instruments the book can hold, and how each is priced from a market state.

For now: European, cash-settled SPX options (multiplier 100), priced with
Black-Scholes at a vol read from the parametric smile of
:class:`sim.config.SmileModel`, whose ATM level is tied to the VIX index.

Time to expiry is calendar time, ``T = (expiry date - today) / 365`` years
(Actual/365, as in the reference tables); the path generator steps in trading
time (1/252 year per business day). Positions expire at the close of their
expiry date and settle to that close's spot.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pricing.black import bs_greeks_one, bs_price_one, norm_ppf
from pricing.smile import smile_vol_one
from sim.config import SmileModel

#: Contract multiplier of an SPX option, dollars per index point.
SPX_MULTIPLIER = 100.0
#: Strike grid of SPX options, index points.
SPX_STRIKE_STEP = 5.0
#: Days per year of option time (Actual/365).
DAYS_PER_YEAR = 365.0


def smile_args(smile: SmileModel) -> tuple[float, float, float, float, float]:
    """The smile parameters as the positional tuple the kernels take."""
    return (smile.atm_vix_ratio, smile.skew, smile.curvature, smile.max_moneyness,
            smile.min_vol, smile.max_vol)


@njit(cache=True)
def spx_option_vol_one(S, K, T, r, q, vix, atm_ratio, skew, curvature, max_moneyness,
                       min_vol, max_vol):
    """Smile vol (annualized decimal) of one SPX option; VIX in index points."""
    forward = S * np.exp((r - q) * T)
    return smile_vol_one(K, forward, T, atm_ratio * vix / 100.0, skew, curvature,
                         max_moneyness, min_vol, max_vol)


@njit(cache=True)
def spx_option_price_one(S, K, T, r, q, vix, is_call, atm_ratio, skew, curvature,
                         max_moneyness, min_vol, max_vol):
    """Mid price (index points) of one SPX option under the smile."""
    sigma = spx_option_vol_one(S, K, T, r, q, vix, atm_ratio, skew, curvature,
                               max_moneyness, min_vol, max_vol)
    return bs_price_one(S, K, T, r, q, sigma, is_call)


@njit(cache=True)
def spx_option_delta_one(S, K, T, r, q, vix, is_call, atm_ratio, skew, curvature,
                         max_moneyness, min_vol, max_vol):
    """Black-Scholes delta at the smile vol (sticky strike), per unit of spot."""
    sigma = spx_option_vol_one(S, K, T, r, q, vix, atm_ratio, skew, curvature,
                               max_moneyness, min_vol, max_vol)
    return bs_greeks_one(S, K, T, r, q, sigma, is_call)[0]


def price_legs(spot, vix, today, r, q, smile, strike, is_call, expiry, active):
    """Mid prices of a table of SPX option legs on every path.

    Parameters
    ----------
    spot, vix : ndarray, shape (n_paths,)
        SPX level and VIX index, index points.
    today : int
        Today's date as days since 1970-01-01.
    r, q : float
        Risk-free rate and dividend yield, annualized decimals.
    smile : SmileModel
        The smile the vols are read from.
    strike : ndarray, shape (n_legs, n_paths)
        Strikes, index points.
    is_call : ndarray of bool, shape (n_legs, n_paths)
    expiry : ndarray of int64, shape (n_legs, n_paths)
        Expiry dates as days since 1970-01-01.
    active : ndarray of bool, shape (n_legs, n_paths)
        Only active legs are priced; the others get 0.

    Returns
    -------
    ndarray, shape (n_legs, n_paths)
        Mid price per unit (index points); intrinsic value on the expiry date.
    """
    strike = np.ascontiguousarray(strike, dtype=np.float64)
    shape = strike.shape
    out = np.zeros(shape, dtype=np.float64)
    _price_legs_kernel(
        np.ascontiguousarray(spot, dtype=np.float64), np.ascontiguousarray(vix, dtype=np.float64),
        int(today), float(r), float(q), *smile_args(smile), strike,
        np.ascontiguousarray(np.broadcast_to(is_call, shape), dtype=np.bool_),
        np.ascontiguousarray(np.broadcast_to(expiry, shape), dtype=np.int64),
        np.ascontiguousarray(np.broadcast_to(active, shape), dtype=np.bool_), out)
    return out


def strikes_for_delta(spot, vix, T, r, q, smile, target_delta, is_call, mask=None):
    """Strike (index points, on the 5-point grid) whose smile delta is ``target_delta``.

    The delta is the Black-Scholes delta at the smile vol of that strike
    (sticky strike), solved as a fixed point in log-moneyness by the secant
    method (bisection on the delta as a fallback), then rounded to the nearest
    strike of the SPX grid.

    Parameters
    ----------
    spot, vix : ndarray, shape (n_paths,)
        SPX level and VIX index, index points.
    T : float
        Time to expiry, years.
    r, q : float
        Annualized decimals.
    smile : SmileModel
    target_delta : float
        Absolute delta in (0, 0.5), e.g. 0.16.
    is_call : bool
        Call strike (above spot) or put strike (below spot).
    mask : ndarray of bool, shape (n_paths,), optional
        Paths to solve (all if omitted); the others get NaN.

    Returns
    -------
    ndarray, shape (n_paths,)
    """
    out = np.empty(spot.shape, dtype=np.float64)
    solve = np.ones(spot.shape, dtype=np.bool_) if mask is None else np.asarray(mask, np.bool_)
    _strike_for_delta_kernel(spot, vix, float(T), float(r), float(q), *smile_args(smile),
                             float(target_delta), bool(is_call), SPX_STRIKE_STEP, solve, out)
    return out


@njit(cache=True)
def _price_legs_kernel(spot, vix, today, r, q, atm_ratio, skew, curvature, max_moneyness,
                       min_vol, max_vol, strike, is_call, expiry, active, out):
    n_legs, n_paths = strike.shape
    for j in range(n_paths):
        for i in range(n_legs):
            if not active[i, j]:
                out[i, j] = 0.0
                continue
            T = (expiry[i, j] - today) / DAYS_PER_YEAR
            out[i, j] = spx_option_price_one(spot[j], strike[i, j], T, r, q, vix[j],
                                             is_call[i, j], atm_ratio, skew, curvature,
                                             max_moneyness, min_vol, max_vol)


@njit(cache=True)
def _strike_for_delta_kernel(spot, vix, T, r, q, atm_ratio, skew, curvature, max_moneyness,
                             min_vol, max_vol, target_delta, is_call, step, solve, out):
    # Sticky-strike delta at the smile vol: |delta| = e^{-qT} N(+-d1), so d1 is
    # fixed by the target and ln(K/F) = sigma(K)^2 T / 2 - d1 sigma(K) sqrt(T),
    # a fixed point in k = ln(K/F), solved by the secant method on
    # h(k) = g(k) - k; bisection on the delta itself is the fallback.
    sqrt_t = np.sqrt(T)
    p = target_delta * np.exp(q * T)
    d1 = norm_ppf(p) if is_call else -norm_ppf(p)
    for j in range(spot.shape[0]):
        if not solve[j]:
            out[j] = np.nan
            continue
        S = spot[j]
        forward = S * np.exp((r - q) * T)
        k_prev = 0.0
        h_prev = _delta_fixed_point(k_prev, forward, T, sqrt_t, d1, vix[j], atm_ratio, skew,
                                    curvature, max_moneyness, min_vol, max_vol) - k_prev
        k = k_prev + h_prev
        found = False
        for _ in range(40):
            h = _delta_fixed_point(k, forward, T, sqrt_t, d1, vix[j], atm_ratio, skew,
                                   curvature, max_moneyness, min_vol, max_vol) - k
            if abs(h) < 1e-10:
                found = True
                break
            slope = (h - h_prev) / (k - k_prev) if k != k_prev else -1.0
            k_prev, h_prev = k, h
            k = k - h / slope if slope != 0.0 else k + h
        if not found or (k > 0.0) != is_call:
            k = _bisect_delta(S, forward, T, r, q, vix[j], atm_ratio, skew, curvature,
                              max_moneyness, min_vol, max_vol, target_delta, is_call)
        out[j] = max(step, np.round(forward * np.exp(k) / step) * step)


@njit(cache=True)
def _delta_fixed_point(k, forward, T, sqrt_t, d1, vix, atm_ratio, skew, curvature,
                       max_moneyness, min_vol, max_vol):
    sigma = smile_vol_one(forward * np.exp(k), forward, T, atm_ratio * vix / 100.0, skew,
                          curvature, max_moneyness, min_vol, max_vol)
    return 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t


@njit(cache=True)
def _bisect_delta(S, forward, T, r, q, vix, atm_ratio, skew, curvature, max_moneyness,
                  min_vol, max_vol, target_delta, is_call):
    # |delta| falls monotonically as the strike moves away from the money on
    # this side (for smiles without arbitrage): bisect on ln(K/F) over eight
    # ATM standard deviations, to 1e-7 (far below the 5-point grid).
    reach = 8.0 * max(atm_ratio * vix / 100.0, min_vol) * np.sqrt(max(T, 1e-6)) + 0.01
    if is_call:
        lo, hi = 0.0, reach
    else:
        lo, hi = -reach, 0.0
    while hi - lo > 1e-7:
        mid = 0.5 * (lo + hi)
        d = abs(spx_option_delta_one(S, forward * np.exp(mid), T, r, q, vix, is_call,
                                     atm_ratio, skew, curvature, max_moneyness, min_vol,
                                     max_vol))
        if (d > target_delta) == is_call:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
