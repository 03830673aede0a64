"""Historical replay: the condor and hedge agents on the real S&P 500 and VIX closes.

A replay is one market path built from data (:func:`replay_market`) and run
through the same engine, agents and book as a simulation
(:func:`sim.engine.simulate`), once per policy (:func:`replay`). The data
are the daily closes shipped with the ``arch`` package: the S&P 500
(``arch.data.sp500``, 1999-01-04..2018-12-31) and the VIX
(``arch.data.vix``, 2014-01-03..2019-01-03, holidays as empty rows); a
replay needs both, so its days are the trading days with both closes,
2014-01-03..2018-12-31 (:func:`available_range`).

What is data and what is model, field by field of the :class:`MarketPaths`:

=================== ==========================================================
field               in a replay
=================== ==========================================================
``dates``           data: the trading days with both closes (real holidays
                    are missing; the simulator's pricing still counts
                    Monday-Friday business days to expiries)
``spot``            data: the S&P 500 close, exactly
``vix``             data: the VIX close, exactly
``variance``        model: the instantaneous variance whose model VIX is the
                    VIX close (:func:`implied_variance`: the VIX^2 of the
                    scenario's pricing measure is affine in ``v``, inverted
                    in closed form under the day's regime)
``regime``          model: :func:`replay_regimes` (not observable; a rule on
                    the trailing realized variance of the S&P 500)
``events``          model: the scenario's event calendar on the real dates
                    (generated FOMC/CPI/PPI days, not the real ones, unless
                    the scenario names a calendar file)
``jumps``           0: the data carry no jump labels (no agent reads them)
``net_advances``,   neutral (0, 0, False): the data carry no breadth, so
``ad_line``,        ``ad_divergence`` is 0 on every day and every breadth
``divergence``      signal is uninformative in a replay
``dt``              ``1 / TICKS_PER_YEAR``: one trading day is one tick, as
                    in :mod:`sim.market.calibrate`
=================== ==========================================================

VIX futures and options, SPX option marks, margins and costs come from the
scenario's model and specs, exactly as in a simulation, from this path's
variance and regime.

Regimes (:func:`replay_regimes`). With one regime there is nothing to
choose. With several, the day's regime is read from the S&P 500 alone, by
the rule :mod:`sim.market.calibrate` uses to define the regimes it fits:
the mean squared daily log return of the 21 trading days up to and
including the day (annualized with ``TICKS_PER_YEAR``) is ranked against
its whole 1999-2018 history, and the regimes, in order of their real-world
mean variance ``theta + lambda mu_v / kappa``, take the shares of days of
the chain's stationary distribution (for ``calibrated``: about 30/40/20/10%,
the quantiles its regimes were fitted on). Where the regime so chosen
cannot produce a VIX as low as the day's close (its model VIX at zero
variance is above it), the next calmer regime is taken, until one can; on
days where no regime can, the calmest is kept and the variance is 0 (the
model VIX is then above the data's; :attr:`RegimeChoice.unreachable`
counts them).

Episodes (:data:`EPISODES`): the three stress episodes of 2014-2018 that
the report marks, each with its dates and sources.

The text tables, the narration, the CSV files and the HTML report are
:mod:`sim.replay_report`'s.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pricing.vix import VIX_TAU, vix_squared_one
from sim.config import MarketModel, Scenario
from sim.engine import simulate
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.events import event_flags
from sim.market.heston import vix_jump_term
from sim.market.paths import MarketPaths
from sim.market.regimes import stationary_distribution, transition_matrix
from sim.metrics import path_results
from sim.recorder import STRIKE_NAMES, Recording, SeriesRecorder

#: Policies replayed when none are named.
DEFAULT_POLICIES = ("none", "alvh", "static-vix")
#: Scenario replayed when none is named.
DEFAULT_SCENARIO = "calibrated"
#: Trading days in the trailing realized variance that sets the regime (as calibrate's).
REGIME_WINDOW = 21
#: Where the data come from, for messages and the report.
DATA_NOTE = ("S&P 500 daily closes (arch.data.sp500, column Close) and VIX daily closes "
             "(arch.data.vix)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReplayError(ValueError):
    """Bad replay input (dates, window); the message is one line naming what is allowed."""


# --------------------------------------------------------------------------- episodes
@dataclass(frozen=True)
class Episode:
    """A known stress episode of the replay data.

    Attributes
    ----------
    name : str
        Short label, e.g. ``"Aug 2015"``.
    start, end : str
        ISO dates of its first and last calendar day, both included.
    note : str
        What happened, with the numbers of the replay data.
    sources : str
        Where the dating and the account come from.
    """

    name: str
    start: str
    end: str
    note: str
    sources: str

    @property
    def first(self) -> np.datetime64:
        """First calendar day, ``datetime64[D]``."""
        return np.datetime64(self.start, "D")

    @property
    def last(self) -> np.datetime64:
        """Last calendar day, ``datetime64[D]``."""
        return np.datetime64(self.end, "D")


#: The stress episodes of 2014-2018 that a replay marks. The closes quoted
#: are those of the replay data (``tests/sim/test_replay.py`` checks them).
EPISODES: tuple[Episode, ...] = (
    Episode(
        name="Aug 2015", start="2015-08-17", end="2015-09-30",
        note=("after the yuan devaluation of 11 Aug 2015, the S&P 500 fell 11% from "
              "2,102.44 (17 Aug) to 1,867.61 (25 Aug); on Monday 24 Aug, a day of "
              "disorderly opening prices and widespread trading halts, the VIX closed at "
              "40.74, its highest close of 2014-2018; a second leg down into late September"),
        sources=("SEC staff research note 'Equity Market Volatility on August 24, 2015' "
                 "(Dec 2015); CBOE VIX history"),
    ),
    Episode(
        name="Feb 2018", start="2018-01-26", end="2018-03-09",
        note=("from the S&P 500's record close of 2,872.87 (26 Jan 2018) to 2,581.00 "
              "(8 Feb), -10%; on 5 Feb ('Volmageddon') the VIX rose 20 points in a day, "
              "from 17.31 to 37.32, and short-volatility products (XIV) were wiped out"),
        sources=("BIS Quarterly Review, March 2018, 'Volatility is back'; Credit Suisse "
                 "XIV acceleration notice (6 Feb 2018); CBOE VIX history"),
    ),
    Episode(
        name="Q4 2018", start="2018-10-01", end="2018-12-31",
        note=("the Q4 2018 sell-off: the S&P 500 fell from 2,924.59 (1 Oct) to 2,351.10 "
              "(24 Dec), -19.6%, nearly a bear market, with the VIX at 36.07 on 24 Dec; "
              "rate fears, trade war, the 19 Dec Fed hike; a rebound in the last week"),
        sources=("BIS Quarterly Review, March 2019; FOMC statement of 19 Dec 2018; "
                 "CBOE VIX history"),
    ),
)


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ReplayData:
    """The real closes a replay reads.

    Attributes
    ----------
    dates : numpy.ndarray
        ``datetime64[D]`` trading days with both an S&P 500 and a VIX close.
    spx_close, vix_close : numpy.ndarray
        Closes on ``dates``, index points.
    history_dates, history_spx : numpy.ndarray
        Every S&P 500 trading day and close of the data (1999-2018), for the
        trailing realized variance that sets the regime.
    spx_span, vix_span : tuple of str
        First and last date of each series in the data.
    """

    dates: np.ndarray
    spx_close: np.ndarray
    vix_close: np.ndarray
    history_dates: np.ndarray
    history_spx: np.ndarray
    spx_span: tuple[str, str]
    vix_span: tuple[str, str]


@functools.cache
def load_data() -> ReplayData:
    """The S&P 500 and VIX daily closes shipped with ``arch`` (read once per process).

    The arrays are read-only: one copy serves every replay of the process.
    """
    import arch.data.sp500
    import arch.data.vix

    spx = arch.data.sp500.load()["Close"].dropna()
    vix = arch.data.vix.load()["vix"].dropna()
    joint = spx.index.intersection(vix.index)

    def span(index) -> tuple[str, str]:
        return str(index[0].date()), str(index[-1].date())

    def frozen(values: np.ndarray) -> np.ndarray:
        values = np.array(values)   # a copy of its own, shared by every caller: read-only
        values.flags.writeable = False
        return values

    return ReplayData(
        dates=frozen(joint.values.astype("datetime64[D]")),
        spx_close=frozen(spx.loc[joint].to_numpy(dtype=np.float64)),
        vix_close=frozen(vix.loc[joint].to_numpy(dtype=np.float64)),
        history_dates=frozen(spx.index.values.astype("datetime64[D]")),
        history_spx=frozen(spx.to_numpy(dtype=np.float64)),
        spx_span=span(spx.index), vix_span=span(vix.index))


def available_range(data: ReplayData | None = None) -> tuple[np.datetime64, np.datetime64]:
    """First and last day a replay may use: the days with both closes."""
    data = load_data() if data is None else data
    return data.dates[0], data.dates[-1]


def _range_text(data: ReplayData) -> str:
    first, last = available_range(data)
    return (f"{first}..{last} (days with both an S&P 500 close, arch {data.spx_span[0]}.."
            f"{data.spx_span[1]}, and a VIX close, arch {data.vix_span[0]}..{data.vix_span[1]})")


#: Calendar days a --start / --end may lie before the data's first day or after
#: its last; such a date moves to that day.
DATE_SLACK_DAYS = 7


def parse_date(text: str | None, what: str, data: ReplayData | None = None
               ) -> np.datetime64 | None:
    """An ISO date ``YYYY-MM-DD`` inside the replay data, or None for None.

    A date at most :data:`DATE_SLACK_DAYS` calendar days before the data's
    first day (after its last) is that day.

    Raises
    ------
    ReplayError
        If ``text`` is not a valid ISO date, or lies outside :func:`available_range`.
    """
    if text is None:
        return None
    data = load_data() if data is None else data
    date = None
    if isinstance(text, str) and _ISO_DATE.fullmatch(text.strip()):
        try:
            date = np.datetime64(text.strip(), "D")
        except ValueError:
            date = None
    if date is None:
        raise ReplayError(f"{what} {text!r} is not a date; allowed: YYYY-MM-DD within "
                          f"{_range_text(data)}")
    first, last = available_range(data)
    # A date a few days outside the data (e.g. 2014-01-02, the first trading
    # day of 2014, when arch's VIX starts on 2014-01-03) moves to the data's
    # first / last day, as a non-trading day inside the window does.
    slack = np.timedelta64(DATE_SLACK_DAYS, "D")
    if first - slack <= date < first:
        return first
    if last < date <= last + slack:
        return last
    if not first <= date <= last:
        raise ReplayError(f"{what} {date} is outside the replay data; allowed: "
                          f"{_range_text(data)}")
    return date


def window_indices(start: str | None = None, end: str | None = None,
                   data: ReplayData | None = None) -> np.ndarray:
    """Indices into ``data.dates`` of the replay days from ``start`` to ``end``.

    Parameters
    ----------
    start, end : str or None
        ISO dates, both included; None for the first / last day of the data.
        A date that is not a trading day of the data keeps the days inside.

    Returns
    -------
    numpy.ndarray of int
        At least two consecutive indices.

    Raises
    ------
    ReplayError
        Bad date, date outside the data, ``start`` after ``end``, or fewer
        than two trading days between them.
    """
    data = load_data() if data is None else data
    first = parse_date(start, "--start", data)
    last = parse_date(end, "--end", data)
    first = data.dates[0] if first is None else first
    last = data.dates[-1] if last is None else last
    if first > last:
        raise ReplayError(f"--start {first} is after --end {last}; allowed: start <= end "
                          f"within {_range_text(data)}")
    days = np.flatnonzero((data.dates >= first) & (data.dates <= last))
    if days.size < 2:
        raise ReplayError(f"{first}..{last} holds {days.size} trading day(s) of the data; "
                          "allowed: a window of at least 2 trading days")
    return days


# --------------------------------------------------------------------------- variance
def vix_line(model: MarketModel) -> tuple[float, float]:
    """Intercept and slope of the model's squared VIX in the variance: ``VIX^2 = A + a v``.

    Read from :func:`pricing.vix.vix_squared_one`, the formula of the
    simulated VIX (``sim.market.heston``), so the inversion follows it
    whatever it holds: ``A = VIX^2(v = 0)``, ``a = VIX^2(1) - VIX^2(0)``
    (``a = (1 - e^{-kappa tau}) / (kappa tau)``, ``tau = 30/365``).

    Parameters
    ----------
    model : MarketModel
        One regime's dynamics under the pricing measure (an element of
        ``MarketModel.pricing_models()``).

    Returns
    -------
    intercept : float
        ``A``, annualized variance (``(VIX/100)^2`` at ``v = 0``).
    slope : float
        ``a``, dimensionless, in ``(0, 1]``.
    """
    args = (model.kappa, model.theta, model.jump_intensity, model.jump_variance_mean,
            vix_jump_term(model), VIX_TAU)
    intercept = vix_squared_one(0.0, *args)
    return intercept, vix_squared_one(1.0, *args) - intercept


def implied_variance(vix: np.ndarray, model: MarketModel) -> tuple[np.ndarray, np.ndarray]:
    """The instantaneous variance whose model VIX is ``vix``, and where one exists.

    The closed-form inverse of the model's VIX (:func:`vix_line`):
    ``v = ((VIX/100)^2 - A) / a``, floored at 0 where the VIX is below the
    model's VIX at zero variance, ``100 sqrt(A)``.

    Parameters
    ----------
    vix : array_like
        VIX, index points.
    model : MarketModel
        One regime's dynamics under the pricing measure.

    Returns
    -------
    variance : numpy.ndarray
        Annualized variance, ``>= 0``, the shape of ``vix``.
    reachable : numpy.ndarray of bool
        Where ``vix >= 100 sqrt(A)``, i.e. the model reproduces the VIX.
    """
    intercept, slope = vix_line(model)
    vix = np.asarray(vix, dtype=np.float64)
    variance = ((vix / 100.0) ** 2 - intercept) / slope
    reachable = variance >= 0.0
    return np.where(reachable, variance, 0.0), reachable


def vix_floor(model: MarketModel) -> float:
    """The model's VIX at zero variance, index points: the lowest VIX it can show."""
    return 100.0 * math.sqrt(max(vix_line(model)[0], 0.0))


# --------------------------------------------------------------------------- regimes
@dataclass(frozen=True)
class RegimeChoice:
    """The regime of each replay day and how it was chosen.

    Attributes
    ----------
    regime : numpy.ndarray
        int8 regime index per day of the window.
    realized_variance : numpy.ndarray
        The trailing 21-day realized variance of each day (annualized).
    thresholds : numpy.ndarray
        Realized-variance boundaries between consecutive regimes in
        ``order`` (empty with one regime).
    order : tuple of int
        Regime indices from the calmest (lowest real-world mean variance).
    shares : numpy.ndarray
        Stationary share of days of each regime in ``order``.
    lowered : int
        Days on which the regime was lowered because its model VIX cannot go
        as low as the close.
    unreachable : int
        Days on which no regime reproduces the VIX close (variance 0).
    max_gap : float
        Largest model VIX minus VIX close on those days, index points.
    rule : str
        One-line account of the rule, for the output.
    """

    regime: np.ndarray
    realized_variance: np.ndarray
    thresholds: np.ndarray
    order: tuple[int, ...]
    shares: np.ndarray
    lowered: int
    unreachable: int
    max_gap: float
    rule: str


def trailing_realized_variance(spx_close: np.ndarray, window: int = REGIME_WINDOW
                               ) -> np.ndarray:
    """Mean squared daily log return of the ``window`` days up to and including each day.

    Annualized with ``TICKS_PER_YEAR`` (one trading day is one tick, as in
    :mod:`sim.market.calibrate`, whose ``variance_proxy`` this is, shifted by
    one day: the variance known at the close rather than the open). The
    window is shorter at the start of the data; day 0 (no return) gets
    day 1's value.

    Parameters
    ----------
    spx_close : numpy.ndarray, shape (n,)
        Daily closes.
    window : int
        Trading days.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Annualized variance.
    """
    returns = np.diff(np.log(spx_close))
    squared = np.concatenate([[0.0], np.cumsum(returns ** 2)])
    # Day t's return is returns[t - 1]; its window is returns[max(t - window, 0):t].
    hi = np.maximum(np.arange(spx_close.size), 1)
    lo = np.maximum(hi - window, 0)
    return (squared[hi] - squared[lo]) / (hi - lo) * TICKS_PER_YEAR


def replay_regimes(scenario: Scenario, days: np.ndarray, data: ReplayData | None = None
                   ) -> RegimeChoice:
    """The regime of each replay day (module docstring, *Regimes*).

    Parameters
    ----------
    scenario : Scenario
        Its regime chain and per-regime dynamics.
    days : numpy.ndarray of int
        Indices into ``data.dates`` (:func:`window_indices`).
    data : ReplayData, optional

    Returns
    -------
    RegimeChoice
    """
    data = load_data() if data is None else data
    market = scenario.market
    chain = market.regimes
    names = chain.names
    real = market.regime_models()
    pricing = market.pricing_models()
    history = trailing_realized_variance(data.history_spx)
    at = np.searchsorted(data.history_dates, data.dates[days])
    realized = history[at]
    if chain.n_regimes == 1:
        regime = np.zeros(days.size, dtype=np.int8)
        order, shares, thresholds = (0,), np.ones(1), np.zeros(0)
        rule = f"one regime ({names[0]}): nothing to choose"
    else:
        mean_variance = np.array([m.theta + (m.jump_intensity * m.jump_variance_mean / m.kappa
                                             if m.kappa > 0 else 0.0) for m in real])
        order = tuple(int(r) for r in np.argsort(mean_variance, kind="stable"))
        stationary = stationary_distribution(transition_matrix(chain))
        shares = stationary[list(order)]
        thresholds = np.quantile(history, np.cumsum(shares)[:-1])
        rank = np.searchsorted(thresholds, realized, side="right")
        regime = np.asarray(order, dtype=np.int8)[rank]
        vols = ", ".join(f"{100 * math.sqrt(t):.1f}%" for t in thresholds)
        share_text = ", ".join(f"{names[r]} {s:.0%}" for r, s in zip(order, shares, strict=True))
        span = f"{data.spx_span[0][:4]}-{data.spx_span[1][:4]}"
        rule = (f"trailing 21-day realized vol of the S&P 500 ranked against {span}, "
                "regimes from the calmest by their shares of the chain's stationary "
                f"distribution ({share_text}; boundaries {vols})")
    floors = np.array([vix_floor(m) for m in pricing])
    vix = data.vix_close[days]
    rank_of = {r: k for k, r in enumerate(order)}
    label = regime
    regime = regime.copy()
    for t in np.flatnonzero(vix < floors[regime]):
        k = rank_of[int(regime[t])]
        while k > 0 and vix[t] < floors[order[k]]:
            k -= 1
        regime[t] = order[k]
    short = vix < floors[regime]
    gap = float((floors[regime] - vix)[short].max()) if short.any() else 0.0
    if chain.n_regimes > 1:
        rule += ("; lowered to a calmer regime on days whose VIX close is below the "
                 "regime's model VIX at zero variance")
    return RegimeChoice(regime=regime.astype(np.int8), realized_variance=realized,
                        thresholds=thresholds, order=order, shares=shares,
                        lowered=int((regime != label).sum()), unreachable=int(short.sum()),
                        max_gap=gap, rule=rule)


# --------------------------------------------------------------------------- market
@dataclass(frozen=True)
class ReplayMarket:
    """The one-path market of a replay and how its model fields were set.

    Attributes
    ----------
    market : MarketPaths
        One path (``n_paths = 1``).
    regimes : RegimeChoice
    model_vix : numpy.ndarray
        The model's VIX of the path's variance and regime, index points
        (equal to ``market.vix`` on every reachable day).
    notes : tuple of str
        What in the path is model, not data, one line each.
    """

    market: MarketPaths
    regimes: RegimeChoice
    model_vix: np.ndarray
    notes: tuple[str, ...]


def replay_market(scenario: Scenario, start: str | None = None, end: str | None = None,
                  data: ReplayData | None = None) -> ReplayMarket:
    """One market path from the real closes (module docstring: data and model).

    Parameters
    ----------
    scenario : Scenario
        Its pricing-measure dynamics give the variance implied by the VIX,
        its regimes and event calendar the model fields.
    start, end : str or None
        ISO dates of the window (:func:`window_indices`).
    data : ReplayData, optional

    Returns
    -------
    ReplayMarket

    Raises
    ------
    ReplayError
        Bad window.
    """
    data = load_data() if data is None else data
    days = window_indices(start, end, data)
    dates = data.dates[days]
    spot = data.spx_close[days]
    vix = data.vix_close[days]
    choice = replay_regimes(scenario, days, data)
    pricing = scenario.market.pricing_models()
    variance = np.empty(days.size)
    model_vix = np.empty(days.size)
    for r, model in enumerate(pricing):
        here = choice.regime == r
        if here.any():
            variance[here] = implied_variance(vix[here], model)[0]
            intercept, slope = vix_line(model)
            model_vix[here] = 100.0 * np.sqrt(np.maximum(intercept + slope * variance[here],
                                                         0.0))
    n = days.size
    column = (n, 1)
    market = MarketPaths(
        dates=dates, dt=1.0 / TICKS_PER_YEAR, spot=spot.reshape(column).copy(),
        variance=variance.reshape(column), vix=vix.reshape(column).copy(),
        jumps=np.zeros(column, dtype=np.int32),
        regime=choice.regime.reshape(column).copy(),
        regime_names=tuple(scenario.market.regimes.names),
        events=event_flags(dates, scenario.market.events),
        net_advances=np.zeros(column), ad_line=np.zeros(column),
        divergence=np.zeros(column, dtype=bool))
    calendar = scenario.market.events.calendar
    notes = [
        f"data: {DATA_NOTE}; S&P 500 close = spot, VIX close = VIX, exactly, on each of "
        f"{n:,} trading days",
        "variance: the closed-form inverse of the scenario's VIX formula under the pricing "
        "measure of the day's regime (VIX^2 = A + a v); VIX futures, VIX options and SPX "
        "option marks are the model's, from that variance and regime",
        f"regime: {choice.rule}",
        f"events: the scenario's calendar ({calendar}) on the real dates"
        + (" - rule-generated FOMC/CPI/PPI days, not the real ones"
           if calendar == "generated" else ""),
        "breadth: none in the data; net advances 0, A/D line flat, no divergence: "
        "ad_divergence is 0 every day, breadth-based signals are uninformative in a replay",
        "calendar: real trading days (holidays missing); option time counts calendar days "
        "and variance time Monday-Friday business days, as in a simulation; an expiry on a "
        "holiday settles at the next close",
    ]
    if choice.lowered:
        notes.append(f"regime lowered on {choice.lowered} day(s) whose VIX close the chosen "
                     "regime's model cannot reach")
    if choice.unreachable:
        notes.append(f"{choice.unreachable} day(s) with a VIX close below every regime's "
                     f"model VIX at zero variance: variance 0 there, model VIX up to "
                     f"{choice.max_gap:.2f} points above the close (the path's VIX stays "
                     "the close)")
    return ReplayMarket(market=market, regimes=choice, model_vix=model_vix,
                        notes=tuple(notes))


# --------------------------------------------------------------------------- replay
@dataclass
class PolicyReplay:
    """One policy's replay: its daily series, totals and trades.

    Attributes
    ----------
    name, description : str
    layer_names : tuple of str
    layer_instruments : tuple of str
        Instrument of each layer (``vix_call``, ``spx_put_spread``...).
    series : dict of str to numpy.ndarray
        Daily columns, one value per trading day of the window (see
        :data:`SERIES_COLUMNS` and ``layer_<name>``, 1 where the layer is held).
    totals : dict of str to float
        The engine's per-path results (``sim.metrics.path_results``) of the
        one path: ``pnl``, ``max_drawdown``, ``n_trades``, ``hedge_spend``...
    trades : numpy.ndarray
        Ledger rows (``sim.ledger.LEDGER_DTYPE``), in trade order.
    owners : dict of int to str
        Book slot -> ``"condor"`` or layer name.
    initial_cash : float
        $.
    """

    name: str
    description: str
    layer_names: tuple[str, ...]
    layer_instruments: tuple[str, ...]
    series: dict[str, np.ndarray]
    totals: dict[str, float]
    trades: np.ndarray
    owners: dict[int, str]
    initial_cash: float

    def layer_days(self) -> dict[str, int]:
        """Trading days on which each layer was held at the close."""
        return {name: int(self.series[f"layer_{name}"].sum()) for name in self.layer_names}

    def owner_of(self, rows: np.ndarray) -> np.ndarray:
        """Owner name (``"condor"`` or a layer) of each ledger row."""
        return np.array([self.owners.get(int(s), "") for s in rows["slot"]], dtype=object)


#: Daily series columns of every policy, with units (``layer_<name>`` follow).
SERIES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("date", "ISO date"), ("spx", "index points"), ("vix", "index points"),
    ("model_vix", "index points"), ("variance", "annualized"), ("regime", "name"),
    ("equity", "$"), ("pnl", "$"), ("drawdown", "$"), ("cash", "$"), ("margin", "$"),
    ("hedge_spend", "$"), ("condor_contracts", "contracts"),
    ("long_put", "index points"), ("short_put", "index points"),
    ("short_call", "index points"), ("long_call", "index points"),
)


@dataclass
class ReplayResult:
    """Everything a replay produced.

    Attributes
    ----------
    scenario : Scenario
    replay : ReplayMarket
    policies : list of PolicyReplay
    wall_seconds : float
    """

    scenario: Scenario
    replay: ReplayMarket
    policies: list[PolicyReplay]
    wall_seconds: float = 0.0
    _episodes: list[EpisodeStats] | None = field(default=None, repr=False)

    @property
    def market(self) -> MarketPaths:
        """The one-path market."""
        return self.replay.market

    @property
    def dates(self) -> np.ndarray:
        """Trading days of the window, ``datetime64[D]``."""
        return self.replay.market.dates

    def episodes(self) -> list[EpisodeStats]:
        """Statistics of every episode that overlaps the window (:func:`episode_stats`)."""
        if self._episodes is None:
            self._episodes = episode_stats(self)
        return self._episodes


def replay(scenario: Scenario | str = DEFAULT_SCENARIO,
           policies: Sequence[Any] = DEFAULT_POLICIES, start: str | None = None,
           end: str | None = None, data: ReplayData | None = None) -> ReplayResult:
    """Run policies over the real S&P 500 and VIX closes.

    Parameters
    ----------
    scenario : Scenario or str
        Scenario (or preset name / TOML file): pricing model, costs, account,
        condor; its regimes and event calendar as the module docstring says.
    policies : sequence
        Policy names, TOML files or policy objects (``sim.policy.load_policy``).
    start, end : str or None
        ISO dates of the window, both included; None for the ends of the data.
    data : ReplayData, optional

    Returns
    -------
    ReplayResult

    Raises
    ------
    ReplayError
        Bad window or duplicate policy names.
    scenarios.ScenarioError
        Unknown scenario or policy.
    """
    import scenarios
    from sim.policy import load_policy

    started = time.perf_counter()
    if isinstance(scenario, str):
        scenario = scenarios.load(scenario)
    loaded = [load_policy(p) if isinstance(p, str) else p for p in policies]
    names = [p.name for p in loaded]
    if not loaded:
        raise ReplayError("no policy to replay; allowed: one or more policy names or files")
    if len(set(names)) != len(names):
        raise ReplayError(f"policies {', '.join(names)} repeat a name; allowed: each once")
    built = replay_market(scenario, start, end, data)
    market = built.market
    runs = []
    for policy in loaded:
        recorder = SeriesRecorder()
        batch = simulate(scenario, market, recorder.wrap(policy.agent_factories()),
                         check_identity=True)
        rec = recorder.recording.path(0)
        totals = {k: float(np.asarray(v)[0]) for k, v in path_results(batch).items()}
        series = _series(built, rec, scenario.account.initial_cash)
        runs.append(PolicyReplay(
            name=policy.name, description=getattr(policy, "description", ""),
            layer_names=rec.layer_names,
            layer_instruments=tuple(layer.instrument for layer in getattr(policy, "layers", ())),
            series=series, totals=totals,
            trades=batch.book.ledger.records(),
            owners={slot: owner for slot, owner in enumerate(rec.slot_owner) if owner},
            initial_cash=float(scenario.account.initial_cash)))
    return ReplayResult(scenario=scenario, replay=built, policies=runs,
                        wall_seconds=time.perf_counter() - started)


def _series(built: ReplayMarket, rec: Recording, initial_cash: float
            ) -> dict[str, np.ndarray]:
    """The daily series of a replay from its one-path recording."""
    market = built.market
    names = np.array(market.regime_names, dtype=object)
    equity = rec.equity[:, 0]
    peak = np.maximum.accumulate(np.maximum(equity, initial_cash))
    series: dict[str, np.ndarray] = {
        "date": market.dates.astype(str),
        "spx": market.spot[:, 0].copy(),
        "vix": market.vix[:, 0].copy(),
        "model_vix": built.model_vix.copy(),
        "variance": market.variance[:, 0].copy(),
        "regime": names[market.regime[:, 0].astype(np.int64)],
        "equity": equity.copy(),
        "pnl": equity - initial_cash,
        "drawdown": peak - equity,
        "cash": rec.cash[:, 0].copy(),
        "margin": rec.margin[:, 0].copy(),
        "hedge_spend": rec.hedge_spend[:, 0].copy(),
        "condor_contracts": np.where(rec.condor_open[:, 0], rec.contracts[:, 0], 0.0),
    }
    for row, name in enumerate(STRIKE_NAMES):
        series[name] = rec.condor_strikes[row, :, 0].copy()
    for i, name in enumerate(rec.layer_names):
        series[f"layer_{name}"] = rec.layer_open[i, :, 0].astype(np.int64)
    return series


# --------------------------------------------------------------------------- episodes
@dataclass(frozen=True)
class TradeEvent:
    """A position of the condor or of a hedge layer opened, closed or settled.

    Attributes
    ----------
    action : str
        ``"open"``, ``"close"`` or ``"settle"`` (the ledger's action).
    date : str
        ISO date of the trade.
    reason : str
        The ledger's reason, without the layer name (``entry``, ``stop_loss``,
        ``open``, ``roll``, ``vix_unwind``, ...).
    """

    action: str
    date: str
    reason: str


@dataclass(frozen=True)
class LayerActivity:
    """What one layer (or the condor) did in an episode, from the ledger.

    Attributes
    ----------
    name : str
        Layer name, or ``"condor"``.
    opened, closed : int
        Positions opened / closed or settled in the episode (a roll is a close
        and an open).
    events : tuple of TradeEvent
        In trade order, one per position opened, closed or settled.
    days_on : int
        Trading days of the episode on which it was held at the close.
    """

    name: str
    opened: int
    closed: int
    events: tuple[TradeEvent, ...]
    days_on: int


@dataclass(frozen=True)
class PolicyEpisode:
    """One policy in one episode.

    Attributes
    ----------
    policy : str
    equity_before : float
        Equity at the close before the episode's first day (the initial cash
        when the episode starts on the window's first day), $.
    equity_after : float
        Equity at the close of its last day, $.
    pnl : float
        ``equity_after - equity_before``, $.
    hedge_spend : float
        Hedge spend during the episode, $.
    trough : float
        Lowest P&L relative to ``equity_before`` at a close in the episode, $.
    trough_date : str
        ISO date of that close.
    condor : LayerActivity
    layers : tuple of LayerActivity
    """

    policy: str
    equity_before: float
    equity_after: float
    pnl: float
    hedge_spend: float
    trough: float
    trough_date: str
    condor: LayerActivity
    layers: tuple[LayerActivity, ...]


@dataclass(frozen=True)
class EpisodeStats:
    """An episode as seen in the window.

    Attributes
    ----------
    episode : Episode
    first_day, last_day : numpy.datetime64
        First and last trading day of the episode inside the window.
    first_tick, last_tick : int
        Their tick indices.
    partial : bool
        Whether the window cuts the episode.
    peak_vix : float
    peak_vix_date : numpy.datetime64
    spx_before, spx_last, spx_low : float
        S&P 500 at the close before the episode (its first day's if none),
        at its last day, and its lowest close in it.
    spx_low_date : numpy.datetime64
    policies : tuple of PolicyEpisode
    """

    episode: Episode
    first_day: np.datetime64
    last_day: np.datetime64
    first_tick: int
    last_tick: int
    partial: bool
    peak_vix: float
    peak_vix_date: np.datetime64
    spx_before: float
    spx_last: float
    spx_low: float
    spx_low_date: np.datetime64
    policies: tuple[PolicyEpisode, ...]

    @property
    def n_days(self) -> int:
        """Trading days of the episode in the window."""
        return self.last_tick - self.first_tick + 1

    @property
    def spx_change(self) -> float:
        """S&P 500 change over the episode, decimal."""
        return self.spx_last / self.spx_before - 1.0

    @property
    def spx_fall(self) -> float:
        """Fall of the S&P 500 from the close before the episode to its low in it, decimal."""
        return self.spx_low / self.spx_before - 1.0


def episode_stats(result: ReplayResult, episodes: Sequence[Episode] = EPISODES
                  ) -> list[EpisodeStats]:
    """Statistics of every episode that overlaps the replay window.

    Parameters
    ----------
    result : ReplayResult
    episodes : sequence of Episode

    Returns
    -------
    list of EpisodeStats
        In the order of ``episodes``; episodes outside the window are left out.
    """
    dates = result.dates
    spot = result.market.spot[:, 0]
    vix = result.market.vix[:, 0]
    out = []
    for episode in episodes:
        ticks = np.flatnonzero((dates >= episode.first) & (dates <= episode.last))
        if ticks.size == 0:
            continue
        first, last = int(ticks[0]), int(ticks[-1])
        partial = bool(dates[0] > episode.first or dates[-1] < episode.last)
        peak = first + int(np.argmax(vix[first:last + 1]))
        low = first + int(np.argmin(spot[first:last + 1]))
        policies = tuple(_policy_episode(run, first, last, dates) for run in result.policies)
        out.append(EpisodeStats(
            episode=episode, first_day=dates[first], last_day=dates[last], first_tick=first,
            last_tick=last, partial=partial, peak_vix=float(vix[peak]),
            peak_vix_date=dates[peak], spx_before=float(spot[max(first - 1, 0)]),
            spx_last=float(spot[last]), spx_low=float(spot[low]), spx_low_date=dates[low],
            policies=policies))
    return out


def _policy_episode(run: PolicyReplay, first: int, last: int, dates: np.ndarray
                    ) -> PolicyEpisode:
    equity = run.series["equity"]
    spend = run.series["hedge_spend"]
    before = run.initial_cash if first == 0 else float(equity[first - 1])
    spend_before = 0.0 if first == 0 else float(spend[first - 1])
    rows = run.trades
    rows = rows[(rows["tick"] >= first) & (rows["tick"] <= last)]
    owners = run.owner_of(rows)

    def activity(name: str, days_on: int) -> LayerActivity:
        seen: set[tuple[str, int]] = set()
        events = []
        for row in rows[owners == name]:
            action = str(row["action"])
            if action not in ("open", "close", "settle"):
                continue
            key = ("open" if action == "open" else "end", int(row["position_id"]))
            if key in seen:
                continue
            seen.add(key)
            reason = str(row["reason"])
            if reason.startswith(f"{name} "):
                reason = reason[len(name) + 1:]
            events.append(TradeEvent(action, str(row["date"]), reason))
        opened = sum(ev.action == "open" for ev in events)
        return LayerActivity(name=name, opened=opened, closed=len(events) - opened,
                             events=tuple(events), days_on=days_on)

    window = slice(first, last + 1)
    condor_days = int((run.series["condor_contracts"][window] > 0).sum())
    layers = tuple(activity(name, int(run.series[f"layer_{name}"][window].sum()))
                   for name in run.layer_names)
    return PolicyEpisode(
        policy=run.name, equity_before=before, equity_after=float(equity[last]),
        pnl=float(equity[last]) - before, hedge_spend=float(spend[last]) - spend_before,
        trough=float(equity[window].min()) - before,
        trough_date=str(dates[first + int(np.argmin(equity[window]))]),
        condor=activity("condor", condor_days),
        layers=layers)


__all__ = [
    "DEFAULT_POLICIES", "DEFAULT_SCENARIO", "EPISODES", "SERIES_COLUMNS",
    "Episode", "EpisodeStats", "LayerActivity", "PolicyEpisode", "PolicyReplay", "RegimeChoice",
    "ReplayData", "ReplayError", "ReplayMarket", "ReplayResult", "TradeEvent",
    "available_range", "episode_stats", "implied_variance", "load_data", "replay",
    "replay_market", "replay_regimes", "trailing_realized_variance", "vix_floor", "vix_line",
    "window_indices",
]
