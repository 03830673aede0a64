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

from pricing.black import bs_greeks_one, bs_price_one
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


def strikes_for_delta(spot, vix, T, r, q, smile, target_delta, is_call):
    """Strike (index points, on the 5-point grid) whose smile delta is ``target_delta``.

    The delta is the Black-Scholes delta at the smile vol of that strike
    (sticky strike), solved by bisection on log-moneyness, then rounded to
    the nearest strike of the SPX grid.

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

    Returns
    -------
    ndarray, shape (n_paths,)
    """
    out = np.empty(spot.shape, dtype=np.float64)
    _strike_for_delta_kernel(spot, vix, T, r, q, *smile_args(smile), target_delta,
                             is_call, SPX_STRIKE_STEP, out)
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
                             min_vol, max_vol, target_delta, is_call, step, out):
    for j in range(spot.shape[0]):
        S = spot[j]
        forward = S * np.exp((r - q) * T)
        # |delta| falls monotonically as the strike moves away from the money on
        # this side (for smiles without arbitrage); bisect on ln(K/F).
        if is_call:
            lo, hi = 0.0, 3.0
        else:
            lo, hi = -3.0, 0.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            K = forward * np.exp(mid)
            d = abs(spx_option_delta_one(S, K, T, r, q, vix[j], is_call, atm_ratio, skew,
                                         curvature, max_moneyness, min_vol, max_vol))
            if is_call:
                if d > target_delta:
                    lo = mid
                else:
                    hi = mid
            else:
                if d > target_delta:
                    hi = mid
                else:
                    lo = mid
        K = forward * np.exp(0.5 * (lo + hi))
        out[j] = max(step, np.round(K / step) * step)
