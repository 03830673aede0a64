"""Fit the parametric SPX smile to the option prices a market model implies.

The smile of :class:`sim.config.SmileModel` is not derived from the path
model; if the two disagree, an option seller or buyer earns an edge that
nothing in the scenario says exists. This module measures the disagreement
and removes it: it prices European options by Monte Carlo under the model
(discounted mean payoff over simulated terminal SPX levels), converts the
prices to Black-Scholes implied vols, and fits ``atm_vix_ratio``, ``skew`` and
``curvature`` by least squares. The smile's ATM level is read exactly as the
simulator's SPX pricer reads it (``sim.instruments``): ``atm_vix_ratio`` times
the model's variance-swap vol to the option's expiry, under the pricing
measure of the starting regime.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from pricing import implied_vol, smile_vol
from pricing.vix import spx_atm_vol
from sim.config import MarketModel, SmileModel
from sim.market.heston import generate
from sim.market.pricing_params import regime_pricing_table


@dataclass(frozen=True)
class ImpliedVolQuotes:
    """Model-implied vols on a grid of states, expiries and strikes (flat arrays).

    Attributes
    ----------
    strike, forward : ndarray
        Index points.
    T : ndarray
        Option time to expiry, years (calendar days / 365).
    swap_vol : ndarray
        The model's variance-swap vol to ``T`` at the pricing date (the ATM
        level before ``atm_vix_ratio``), annualized decimal.
    implied : ndarray
        Black-Scholes implied vol of the Monte Carlo price, annualized decimal.
    stderr : ndarray
        Standard error of the implied vol from Monte Carlo noise (price
        standard error divided by vega), annualized decimal.
    """

    strike: np.ndarray
    forward: np.ndarray
    T: np.ndarray
    swap_vol: np.ndarray
    implied: np.ndarray
    stderr: np.ndarray


def model_implied_vols(model: MarketModel, variances=(0.015, 0.025, 0.04),
                       expiries_days=(14, 35, 45), moneyness=None,
                       n_paths: int = 100_000, ticks_per_year: float = 365.25 * 5 / 7,
                       seed: int = 0) -> ImpliedVolQuotes:
    """Monte Carlo implied vols of the model, one state and expiry at a time.

    Parameters
    ----------
    model : MarketModel
        The path model; ``variance0`` is replaced by each of ``variances``. Its
        ``regimes.initial`` must name a regime (the ATM level is that regime's).
    variances : sequence of float
        Spot variances (annualized) to price from.
    expiries_days : sequence of int
        Calendar days to expiry; the paths run the business days in between.
    moneyness : array_like, optional
        Strikes as ``ln(K/F)`` in units of ``VIX/100 * sqrt(T)``; default ten
        points from -2.5 to 2.
    n_paths : int
        Paths per state and expiry.
    ticks_per_year : float
        Path steps per year of variance time (the runner's).
    seed : int
        Seed of the paths.

    Returns
    -------
    ImpliedVolQuotes
    """
    moneyness = np.linspace(-2.5, 2.0, 10) if moneyness is None else moneyness
    rng = np.random.default_rng(seed)
    cols: dict[str, list[float]] = {k: [] for k in ("strike", "forward", "T", "swap_vol",
                                                   "implied", "stderr")}
    chain = model.regimes
    if chain.initial not in chain.names:
        raise ValueError("model_implied_vols needs market.regimes.initial to name a regime, "
                         f"got {chain.initial!r}")
    pricing = regime_pricing_table(model)[:, chain.index(chain.initial)]
    for v0 in variances:
        for days in expiries_days:
            n_steps = int(np.busday_count(np.datetime64("2025-01-06"),
                                          np.datetime64("2025-01-06") + days))
            paths = generate(dataclasses.replace(model, variance0=v0), n_paths,
                             max(n_steps, 1), 1.0 / ticks_per_year, rng,
                             start_date="2025-01-06")
            terminal = paths.spot[-1]
            T = days / 365.0
            S0, vix0 = model.spot0, float(paths.vix[0, 0])
            forward = S0 * np.exp((model.rate - model.dividend_yield) * T)
            discount = np.exp(-model.rate * T)
            swap_vol = float(spx_atm_vol(v0, T, *pricing, 1.0))
            for z in np.asarray(moneyness, dtype=float):
                K = forward * np.exp(z * vix0 / 100.0 * np.sqrt(T))
                is_call = K >= forward
                payoff = np.maximum(terminal - K, 0.0) if is_call else np.maximum(
                    K - terminal, 0.0)
                price = discount * payoff.mean()
                price_se = discount * payoff.std(ddof=1) / np.sqrt(n_paths)
                iv = float(implied_vol(price, S0, K, T, model.rate, model.dividend_yield,
                                       is_call))
                if not np.isfinite(iv) or iv <= 0:
                    continue
                iv_up = float(implied_vol(price + price_se, S0, K, T, model.rate,
                                          model.dividend_yield, is_call))
                for key, value in (("strike", K), ("forward", forward), ("T", T),
                                   ("swap_vol", swap_vol), ("implied", iv),
                                   ("stderr", abs(iv_up - iv) if np.isfinite(iv_up)
                                    else np.nan)):
                    cols[key].append(value)
    return ImpliedVolQuotes(**{k: np.asarray(v) for k, v in cols.items()})


def smile_errors(smile: SmileModel, quotes: ImpliedVolQuotes) -> np.ndarray:
    """Smile vol minus model-implied vol at each quote, annualized decimal."""
    fitted = smile_vol(quotes.strike, quotes.forward, quotes.T,
                       smile.atm_vix_ratio * quotes.swap_vol, smile.skew, smile.curvature,
                       smile.max_moneyness, smile.min_vol, smile.max_vol)
    return fitted - quotes.implied


def fit_smile(quotes: ImpliedVolQuotes, start: SmileModel | None = None) -> SmileModel:
    """Least-squares fit of ``atm_vix_ratio``, ``skew`` and ``curvature`` to the quotes.

    The other smile parameters are kept from ``start`` (the defaults if omitted).
    """
    start = SmileModel() if start is None else start

    def residuals(p):
        trial = dataclasses.replace(start, atm_vix_ratio=p[0], skew=p[1], curvature=p[2])
        return smile_errors(trial, quotes)

    fit = least_squares(residuals, [start.atm_vix_ratio, start.skew, start.curvature],
                        bounds=([1e-3, -1.0, 0.0], [3.0, 1.0, 1.0]))
    return dataclasses.replace(start, atm_vix_ratio=float(fit.x[0]), skew=float(fit.x[1]),
                               curvature=float(fit.x[2]))
