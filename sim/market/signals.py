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

For a large batch the tables are computed by the indicator kernels over
blocks of paths in parallel (``sim.market.indicators``, the column drivers),
and the front futures by one moment pass over all ticks: the numbers of the
public indicator functions and of :meth:`MarketSignals.futures_at`, bit for bit.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit

from sim.market import indicators
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.paths import MarketPaths
from sim.market.term_structure import RegimeVixTerms, business_days_to, vix_expiries_after

#: Window lengths, ticks.
RSI_WINDOW = 14
RV_WINDOW = 20
SLOPE_Z_WINDOW = 30
DIVERGENCE_WINDOW = 10
#: Path-ticks per block when the front futures are computed for the whole batch.
_FUTURES_BLOCK = 1 << 18
#: Smallest batch whose signal tables are computed in parallel over blocks of paths.
_PARALLEL_MIN_PATHS = 2048

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
        # A large batch runs the kernels over blocks of paths in parallel (the
        # same numbers: see ``indicators``); the public functions otherwise.
        columns = _in_parallel(m.n_paths, name)
        if name.startswith("rsi_"):
            series = m.spot if name.endswith("spx") else m.vix
            if columns:
                cache[name] = np.empty(series.shape)
                indicators._rsi_columns(_paths_array(series), RSI_WINDOW, cache[name])
            else:
                cache[name] = indicators.rsi(series, RSI_WINDOW)
        elif name.startswith("macd"):
            suffix = name.rsplit("_", 1)[1]
            series = m.spot if suffix == "spx" else m.vix
            if columns:
                line, signal, hist = (np.empty(series.shape) for _ in range(3))
                indicators._macd_columns(_paths_array(series), 2.0 / (12 + 1.0),
                                         2.0 / (26 + 1.0), 2.0 / (9 + 1.0), line, signal, hist)
            else:
                line, signal, hist = indicators.macd(series)
            cache[f"macd_{suffix}"] = line
            cache[f"macd_signal_{suffix}"] = signal
            cache[f"macd_hist_{suffix}"] = hist
        elif name == "realized_vol":
            if columns:
                cache[name] = np.empty(m.spot.shape)
                indicators._realized_vol_columns(_paths_array(m.spot), RV_WINDOW,
                                                 float(TICKS_PER_YEAR), cache[name])
            else:
                cache[name] = indicators.realized_vol(m.spot, RV_WINDOW, TICKS_PER_YEAR)
        elif name == "rv_iv_ratio":
            if columns:
                # realized_implied_ratio: realized over implied where implied is > 0.
                ratio = np.empty(m.spot.shape)
                indicators._ratio_where_valid_kernel(self["realized_vol"], m.vix / 100.0,
                                                     False, ratio)
                cache[name] = ratio
            else:
                cache[name] = indicators.realized_implied_ratio(m.spot, m.vix / 100.0,
                                                                RV_WINDOW, TICKS_PER_YEAR)
        elif name in ("vx1", "vx2"):
            curve = self._front_futures()
            cache["vx1"], cache["vx2"] = curve[..., 0], curve[..., 1]
        elif name == "ts_slope":
            if columns:
                slope = np.empty(m.spot.shape)
                indicators._ratio_where_valid_kernel(self["vx1"], self["vx2"], True, slope)
                cache[name] = slope
            else:
                cache[name] = indicators.term_structure_slope(self["vx1"], self["vx2"])
        elif name == "ts_slope_z":
            if columns:
                cache[name] = np.empty(m.spot.shape)
                indicators._rolling_zscore_columns(self["ts_slope"], SLOPE_Z_WINDOW,
                                                   cache[name])
            else:
                cache[name] = indicators.rolling_zscore(self["ts_slope"], SLOPE_Z_WINDOW)
        elif name == "ad_divergence":
            if columns:
                cache[name] = np.empty(m.spot.shape)
                indicators._ad_divergence_columns(_paths_array(m.spot), _paths_array(m.ad_line),
                                                  DIVERGENCE_WINDOW, cache[name])
            else:
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
        """Front and second VIX futures at every tick, ``(n_ticks, n_paths, 2)``.

        The numbers of :meth:`futures_at`, element for element: the moments in
        one kernel pass, then the moment match (``term_structure.
        futures_from_moments``'s operations, its power in numpy), in blocks of
        ticks to bound the temporaries.
        """
        m = self.market
        n_ticks = m.n_steps + 1
        days = m.dates.astype("datetime64[D]").astype(np.int64)
        steps = np.empty((n_ticks, 2), dtype=np.int64)
        for tick in range(n_ticks):
            expiries = vix_expiries_after(m.dates[tick], 2).astype(np.int64)
            steps[tick] = business_days_to(int(days[tick]), expiries)
        mean_coef, second_coef = self.terms.coefficients(int(steps.max()))
        variance = np.ascontiguousarray(m.variance, dtype=np.float64)
        regime = np.ascontiguousarray(m.regime, dtype=np.int64)
        out = np.empty((*m.spot.shape, 2))
        block = max(1, _FUTURES_BLOCK // max(1, m.spot.shape[1]))
        for start in range(0, n_ticks, block):
            rows = slice(start, min(n_ticks, start + block))
            mean = np.empty(out[rows].shape)
            ratio = np.empty(out[rows].shape)
            _front_moments_kernel(variance[rows], regime[rows], steps[rows], mean_coef,
                                  second_coef, mean, ratio)
            _front_futures_kernel(mean, (1.0 + ratio) ** -0.125, out[rows])
        return out


def _in_parallel(n_paths: int, name: str) -> bool:
    """Whether signal ``name`` is computed over blocks of paths in parallel.

    For large batches with several threads; and the first time in a process
    whatever the size, so that a small warm-up run compiles (or loads) the
    parallel drivers too. The numbers are the same either way.
    """
    if numba.get_num_threads() < 2:
        return False
    if n_paths >= _PARALLEL_MIN_PATHS or name not in _PARALLEL_SEEN:
        _PARALLEL_SEEN.add(name)
        return True
    return False


#: Signals computed in parallel at least once in this process.
_PARALLEL_SEEN: set[str] = set()


def _paths_array(values: np.ndarray) -> np.ndarray:
    """A C-contiguous float64 ``(n_ticks, n_paths)`` array (as the indicators take it)."""
    return np.ascontiguousarray(values, dtype=np.float64)


@njit(cache=True)
def _front_moments_kernel(variance, regime, steps, mean_coef, second_coef, mean, ratio):
    """``E[VIX^2]`` and ``Var / E^2`` of the two front futures at every (tick, path).

    The operations of ``RegimeVixTerms.moments`` and ``futures_from_moments``.
    """
    n_ticks, n_paths = variance.shape
    for t in range(n_ticks):
        for f in range(2):
            k = steps[t, f]
            for p in range(n_paths):
                r = regime[t, p]
                v = variance[t, p]
                m = mean_coef[k, 0, r] + mean_coef[k, 1, r] * v + mean_coef[k, 2, r] * v * v
                second = (second_coef[k, 0, r] + second_coef[k, 1, r] * v
                          + second_coef[k, 2, r] * v * v)
                d = second - m * m
                var = d if (d >= 0.0 or d != d) else 0.0
                mean[t, p, f] = m
                # m * m underflows to 0 below m ~ 1e-162 (a variance near 0): divide twice.
                ratio[t, p, f] = var / (m * m) if m * m > 0 else (var / m / m if m > 0
                                                                   else 0.0)


@njit(cache=True)
def _front_futures_kernel(mean, shrink, out):
    """``100 sqrt(m) (1 + ratio)^(-1/8)`` (``shrink`` is the power), 0 where ``m <= 0``."""
    n_ticks, n_paths, n_futures = mean.shape
    for t in range(n_ticks):
        for p in range(n_paths):
            for f in range(n_futures):
                m = mean[t, p, f]
                out[t, p, f] = 100.0 * np.sqrt(m) * shrink[t, p, f] if m > 0 else 0.0
