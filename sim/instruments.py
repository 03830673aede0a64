"""Instruments the book can hold, and how each is priced from a market state.

SPX options: European, cash-settled, multiplier 100, priced with
Black-Scholes at the vol of the parametric smile of
:class:`sim.config.SmileModel`. The smile's ATM level for expiry ``T`` is
``atm_vix_ratio`` times the model's variance-swap vol to ``T``,
``sqrt(theta* + (v - theta*) a(T) + jump term)`` with ``a(T) = (1 -
e^{-kappa T}) / (kappa T)`` (``pricing.vix.spx_atm_vol_one``), read from the
path's variance and the parameters of its current regime under the pricing
measure: the same formula as the VIX index (equal to ``atm_vix_ratio *
VIX / 100`` at 30 days), so the ATM term structure is in contango when the
variance is below its mean and inverted above it.

Time to expiry is calendar time, ``T = (expiry date - today) / 365`` years
(Actual/365, as in the reference tables). Positions expire at the close of
their expiry date and settle to that close's spot.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pricing.black import bs_greeks_one, bs_price_one, norm_ppf
from pricing.smile import smile_vol_one
from pricing.vix import spx_atm_vol_one
from sim.config import MarketModel, SmileModel
from sim.market.pricing_params import regime_pricing_table

#: Contract multiplier of an SPX option, dollars per index point.
SPX_MULTIPLIER = 100.0
#: Strike grid of SPX options, index points.
SPX_STRIKE_STEP = 5.0
#: Days per year of option time (Actual/365).
DAYS_PER_YEAR = 365.0


class SpxPricer:
    """Prices SPX options on every path from its variance, regime and the smile.

    Parameters
    ----------
    model : MarketModel
        Rates, dividend yield and the per-regime dynamics.
    smile : SmileModel
        The smile shape.
    """

    def __init__(self, model: MarketModel, smile: SmileModel) -> None:
        self.rate = float(model.rate)
        self.dividend_yield = float(model.dividend_yield)
        self.smile = smile
        self.table = regime_pricing_table(model)
        self.smile_args = (smile.atm_vix_ratio, smile.skew, smile.curvature,
                           smile.max_moneyness, smile.min_vol, smile.max_vol)

    def _state(self, view) -> tuple[np.ndarray, ...]:
        regime = np.asarray(view.regime, dtype=np.int64)
        return (np.ascontiguousarray(view.spot, dtype=np.float64),
                np.ascontiguousarray(view.variance, dtype=np.float64),
                np.ascontiguousarray(regime))

    def price(self, view, strike, is_call, expiry, active) -> np.ndarray:
        """Mid prices of a table of legs on every path.

        Parameters
        ----------
        view : MarketView
            Spot (index points), variance (annualized), regime and date (``day``).
        strike : ndarray, shape (n_legs, n_paths)
            Index points.
        is_call : array of bool, broadcastable to ``strike``
        expiry : array of int64, broadcastable to ``strike``
            Expiry dates as days since 1970-01-01.
        active : array of bool, broadcastable to ``strike``
            Only active legs are priced; the others get 0.

        Returns
        -------
        ndarray, shape (n_legs, n_paths)
            Mid price per unit, index points; intrinsic value on the expiry date.
        """
        strike = np.ascontiguousarray(strike, dtype=np.float64)
        shape = strike.shape
        out = np.zeros(shape, dtype=np.float64)
        spot, variance, regime = self._state(view)
        _price_legs_kernel(
            spot, variance, regime, self.table, int(view.day), self.rate,
            self.dividend_yield, *self.smile_args, strike,
            np.ascontiguousarray(np.broadcast_to(is_call, shape), dtype=np.bool_),
            np.ascontiguousarray(np.broadcast_to(expiry, shape), dtype=np.int64),
            np.ascontiguousarray(np.broadcast_to(active, shape), dtype=np.bool_), out)
        return out

    def vol(self, view, strike, T) -> np.ndarray:
        """Smile vol (annualized decimal) of one strike per path at ``T`` years.

        ``strike`` and ``T`` are scalars or arrays of shape ``(n_paths,)``.
        """
        spot, variance, regime = self._state(view)
        out = np.empty(spot.shape, dtype=np.float64)
        T = np.ascontiguousarray(np.broadcast_to(T, spot.shape), dtype=np.float64)
        _vol_kernel(spot, variance, regime, self.table, T, self.rate,
                    self.dividend_yield, *self.smile_args,
                    np.ascontiguousarray(np.broadcast_to(strike, spot.shape), np.float64), out)
        return out

    def atm_vol(self, view, T) -> np.ndarray:
        """ATM vol (annualized decimal) at ``T`` years on every path."""
        spot = np.asarray(view.spot, dtype=np.float64)
        forward = spot * np.exp((self.rate - self.dividend_yield) * T)
        return self.vol(view, forward, T)

    def strikes_for_delta(self, view, T: float, target_delta: float, is_call: bool,
                          mask=None) -> np.ndarray:
        """Strike (index points, on the 5-point grid) whose smile delta is ``target_delta``.

        The delta is the Black-Scholes delta at the smile vol of that strike
        (sticky strike), solved as a fixed point in log-moneyness by the
        secant method (bisection on the delta as a fallback), then rounded to
        the nearest strike of the SPX grid. Paths outside ``mask`` get NaN.
        """
        spot, variance, regime = self._state(view)
        out = np.empty(spot.shape, dtype=np.float64)
        solve = (np.ones(spot.shape, dtype=np.bool_) if mask is None
                 else np.ascontiguousarray(mask, dtype=np.bool_))
        _strike_for_delta_kernel(spot, variance, regime, self.table, float(T), self.rate,
                                 self.dividend_yield, *self.smile_args, float(target_delta),
                                 bool(is_call), SPX_STRIKE_STEP, solve, out)
        return out


@njit(cache=True)
def spx_option_vol_one(S, K, T, r, q, v, kappa, theta, lam, mu_v, jump_term, atm_ratio, skew,
                       curvature, max_moneyness, min_vol, max_vol):
    """Smile vol (annualized decimal) of one SPX option at variance ``v``."""
    forward = S * np.exp((r - q) * T)
    atm = spx_atm_vol_one(v, T, kappa, theta, lam, mu_v, jump_term, atm_ratio)
    return smile_vol_one(K, forward, T, atm, skew, curvature, max_moneyness, min_vol,
                         max_vol)


@njit(cache=True)
def _leg_vol(S, K, T, r, q, v, table, regime, smile):
    return spx_option_vol_one(S, K, T, r, q, v, table[0, regime], table[1, regime],
                              table[2, regime], table[3, regime], table[4, regime],
                              smile[0], smile[1], smile[2], smile[3], smile[4], smile[5])


@njit(cache=True)
def _price_legs_kernel(spot, variance, regime, table, today, r, q, atm_ratio, skew, curvature,
                       max_moneyness, min_vol, max_vol, strike, is_call, expiry, active, out):
    smile = (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol)
    n_legs, n_paths = strike.shape
    for j in range(n_paths):
        for i in range(n_legs):
            if not active[i, j]:
                out[i, j] = 0.0
                continue
            T = (expiry[i, j] - today) / DAYS_PER_YEAR
            sigma = _leg_vol(spot[j], strike[i, j], T, r, q, variance[j], table, regime[j],
                             smile)
            out[i, j] = bs_price_one(spot[j], strike[i, j], T, r, q, sigma, is_call[i, j])


@njit(cache=True)
def _vol_kernel(spot, variance, regime, table, T, r, q, atm_ratio, skew, curvature,
                max_moneyness, min_vol, max_vol, strike, out):
    smile = (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol)
    for j in range(spot.shape[0]):
        out[j] = _leg_vol(spot[j], strike[j], T[j], r, q, variance[j], table, regime[j], smile)


@njit(cache=True)
def _strike_for_delta_kernel(spot, variance, regime, table, T, r, q, atm_ratio, skew,
                             curvature, max_moneyness, min_vol, max_vol, target_delta, is_call,
                             step, solve, out):
    # Sticky-strike delta at the smile vol: |delta| = e^{-qT} N(+-d1), so d1 is
    # fixed by the target and ln(K/F) = sigma(K)^2 T / 2 - d1 sigma(K) sqrt(T),
    # a fixed point in k = ln(K/F), solved by the secant method on
    # h(k) = g(k) - k; bisection on the delta itself is the fallback.
    smile = (atm_ratio, skew, curvature, max_moneyness, min_vol, max_vol)
    sqrt_t = np.sqrt(T)
    p = target_delta * np.exp(q * T)
    d1 = norm_ppf(p) if is_call else -norm_ppf(p)
    for j in range(spot.shape[0]):
        if not solve[j]:
            out[j] = np.nan
            continue
        S = spot[j]
        v = variance[j]
        reg = regime[j]
        forward = S * np.exp((r - q) * T)
        k_prev = 0.0
        sigma = _leg_vol(S, forward, T, r, q, v, table, reg, smile)
        h_prev = 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t - k_prev
        k = k_prev + h_prev
        found = False
        for _ in range(40):
            sigma = _leg_vol(S, forward * np.exp(k), T, r, q, v, table, reg, smile)
            h = 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t - k
            if abs(h) < 1e-10:
                found = True
                break
            slope = (h - h_prev) / (k - k_prev) if k != k_prev else -1.0
            k_prev, h_prev = k, h
            k = k - h / slope if slope != 0.0 else k + h
        if not found or (k > 0.0) != is_call:
            k = _bisect_delta(S, forward, T, r, q, v, table, reg, smile, target_delta, is_call)
        out[j] = max(step, np.round(forward * np.exp(k) / step) * step)


@njit(cache=True)
def _bisect_delta(S, forward, T, r, q, v, table, regime, smile, target_delta, is_call):
    # |delta| falls monotonically as the strike moves away from the money on
    # this side (for smiles without arbitrage): bisect on ln(K/F) over eight
    # ATM standard deviations, to 1e-7 (far below the 5-point grid).
    atm = _leg_vol(S, forward, T, r, q, v, table, regime, smile)
    reach = 8.0 * max(atm, smile[4]) * np.sqrt(max(T, 1e-6)) + 0.01
    if is_call:
        lo, hi = 0.0, reach
    else:
        lo, hi = -reach, 0.0
    while hi - lo > 1e-7:
        mid = 0.5 * (lo + hi)
        K = forward * np.exp(mid)
        sigma = _leg_vol(S, K, T, r, q, v, table, regime, smile)
        d = abs(bs_greeks_one(S, K, T, r, q, sigma, is_call)[0])
        if (d > target_delta) == is_call:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
