"""The signal table of a batch: every trigger input, on every path, at every tick.

Signals are computed from the batch's :class:`MarketPaths` with the numba
kernels of :mod:`sim.market.indicators`, once per batch and only when first
asked for (a run whose agents read no signal pays nothing). Each is an array
of shape ``(n_ticks, n_paths)``; row ``t`` uses only ticks ``<= t`` (no
look-ahead). Agents read a row with ``view.signal(name)``.

========================= ============ ==================================================
name                      unit         definition
========================= ============ ==================================================
``rsi_spx``, ``rsi_vix``  0-100        Wilder RSI(14) of SPX / of the VIX index
``macd_spx``              index pts    MACD line EMA12 - EMA26 of SPX (also ``_vix``)
``macd_signal_spx``       index pts    EMA9 of the MACD line (also ``_vix``)
``macd_hist_spx``         index pts    MACD line minus signal line (also ``_vix``)
``realized_vol``          1/sqrt(yr)   RMS of the last 20 daily log returns, annualized
``rv_iv_ratio``           1            ``realized_vol`` / (VIX / 100)
``vx1``, ``vx2``          index pts    front and second monthly VIX futures
``ts_slope``              1            ``vx1 / vx2`` (> 1: backwardation)
``ts_slope_z``            1            z-score of ``ts_slope`` over the last 30 ticks
``ad_divergence``         0/1          1 where SPX is above and the A/D line below
                                       their levels 10 ticks earlier
========================= ============ ==================================================

Annualization uses the simulator's ticks per year
(:data:`sim.market.calendar.TICKS_PER_YEAR`), so realized and implied vols are
on the same clock. The VIX futures use each path's current regime under the
pricing measure with regime switches priced in
(:class:`sim.market.term_structure.RegimeVixTerms`), the same numbers the book
trades VIX futures at.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.market import indicators
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.paths import MarketPaths
from sim.market.term_structure import RegimeVixTerms, business_days_to, vix_expiries_after

#: Window lengths, ticks.
RSI_WINDOW = 14
RV_WINDOW = 20
SLOPE_Z_WINDOW = 30
DIVERGENCE_WINDOW = 10

SIGNAL_NAMES = (
    "rsi_spx", "rsi_vix", "macd_spx", "macd_signal_spx", "macd_hist_spx", "macd_vix",
    "macd_signal_vix", "macd_hist_vix", "realized_vol", "rv_iv_ratio", "vx1", "vx2",
    "ts_slope", "ts_slope_z", "ad_divergence",
)


class MarketSignals:
    """Lazily computed signal arrays of one batch of paths.

    Parameters
    ----------
    market : MarketPaths
    scenario : Scenario
        Its market model gives the per-regime parameters of the VIX futures.
    """

    def __init__(self, market: MarketPaths, scenario: Any) -> None:
        self.market = market
        self.model = scenario.market
        self.n_futures = scenario.vix.n_futures
        self.terms = RegimeVixTerms(self.model)
        self._cache: dict[str, np.ndarray] = {}

    def at(self, name: str, tick: int) -> np.ndarray:
        """Row ``tick`` of signal ``name``, shape ``(n_paths,)``."""
        return self[name][tick]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            if name not in SIGNAL_NAMES:
                raise KeyError(f"unknown signal {name!r}; known: {', '.join(SIGNAL_NAMES)}")
            self._compute(name)
        return self._cache[name]

    def _compute(self, name: str) -> None:
        m = self.market
        cache = self._cache
        if name.startswith("rsi_"):
            series = m.spot if name.endswith("spx") else m.vix
            cache[name] = indicators.rsi(series, RSI_WINDOW)
        elif name.startswith("macd"):
            suffix = name.rsplit("_", 1)[1]
            line, signal, hist = indicators.macd(m.spot if suffix == "spx" else m.vix)
            cache[f"macd_{suffix}"] = line
            cache[f"macd_signal_{suffix}"] = signal
            cache[f"macd_hist_{suffix}"] = hist
        elif name == "realized_vol":
            cache[name] = indicators.realized_vol(m.spot, RV_WINDOW, TICKS_PER_YEAR)
        elif name == "rv_iv_ratio":
            cache[name] = indicators.realized_implied_ratio(m.spot, m.vix / 100.0, RV_WINDOW,
                                                            TICKS_PER_YEAR)
        elif name in ("vx1", "vx2"):
            curve = self._front_futures()
            cache["vx1"], cache["vx2"] = curve[..., 0], curve[..., 1]
        elif name == "ts_slope":
            cache[name] = indicators.term_structure_slope(self["vx1"], self["vx2"])
        elif name == "ts_slope_z":
            cache[name] = indicators.rolling_zscore(self["ts_slope"], SLOPE_Z_WINDOW)
        elif name == "ad_divergence":
            cache[name] = indicators.ad_divergence(m.spot, m.ad_line, DIVERGENCE_WINDOW)

    def futures_at(self, tick: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The VIX futures curve at one tick.

        Returns
        -------
        prices : ndarray, shape (n_paths, n)
            Index points.
        expiries : ndarray of datetime64[D], shape (n,)
        """
        n = self.n_futures if n is None else n
        date = self.market.dates[tick]
        expiries = vix_expiries_after(date, n)
        today = int(np.datetime64(date, "D").astype(np.int64))
        steps = business_days_to(today, expiries.astype(np.int64))
        variance = self.market.variance[tick][:, None]
        regime = self.market.regime[tick][:, None]
        return self.terms.futures(variance, regime, steps[None, :]), expiries

    def _front_futures(self) -> np.ndarray:
        m = self.market
        out = np.empty((*m.spot.shape, 2))
        for tick in range(m.n_steps + 1):
            out[tick] = self.futures_at(tick, 2)[0]
        return out

