"""Hypothesis strategies for the simulator: markets, paths, condors, scenarios, policies.

Every strategy draws only **valid** objects, those the loaders accept
(``scenarios.loads(scenarios.dumps(x)) == x`` and
``loads_policy(dumps_policy(p)) == p``, tested in ``tests/sim/test_strategies.py``),
and **shrinks toward simple cases**: each field is drawn as "its default, or a
value in a plausible range", so a failing example shrinks to the defaults, one
regime, one hedge layer with one trigger condition, a short horizon and few
paths.

Values come from the fields of the frozen dataclasses themselves
(``sim.config``, ``sim.policy``): choices and booleans from their metadata,
numbers from a *plausible range* inside the loader's range (the tables
``MARKET_RANGES``, ``CONDOR_RANGES``, ... below; a field not named there keeps
its default). The plausible ranges keep simulations meaningful and quick: the
loader accepts, e.g., a vol of variance of 5 or 252 jumps a year, which
would make every path a crash. Pass your own strategies to the composite ones
(``scenarios(markets=...)``) to search elsewhere.

Strategies
----------
``market_models()``       :class:`sim.config.MarketModel` (1 to 3 regimes, events)
``market_states()``       :class:`MarketState`: a model and a one-tick ``MarketView``
``condor_specs()``        :class:`sim.config.CondorSpec`
``scenarios()``           whole :class:`sim.config.Scenario` objects, 20-60 days, 4-32 paths
``path_batches()``        :class:`PathBatch`: a scenario, a seed and its market paths,
                          generated exactly as ``alvh run`` generates them
``seeds()``               run seeds
``conditions()``, ``triggers()``, ``layer_specs()``, ``policies()``
                          hedge policies: any valid combination of layers,
                          instruments, roles, ``requires``, triggers and sizes

Example
-------
>>> from hypothesis import given, settings
>>> from sim.invariants import check_all, simulate_recorded
>>> from sim.testing import strategies as alvh_st
>>> @settings(max_examples=5, deadline=None)
... @given(alvh_st.path_batches(), alvh_st.policies())
... def test_my_policy_family(batch, policy):
...     result = simulate_recorded(batch.scenario, batch.market, policy)
...     check_all(result, batch.scenario, policy)
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from sim.config import (
    AccountSpec,
    BreadthSpec,
    CondorSpec,
    CostModel,
    EventSpec,
    MarketModel,
    RegimeChain,
    RegimeParams,
    Scenario,
    SimulationSpec,
    SmileModel,
    VixSpec,
)
from sim.policy import (
    INSTRUMENTS,
    SIGNALS,
    ActiveManagement,
    Budget,
    Condition,
    LayerSpec,
    Liquidity,
    Policy,
    Shrink,
    Trigger,
)

__all__ = [
    "CONDOR_RANGES",
    "COST_RANGES",
    "LAYER_RANGES",
    "MARKET_RANGES",
    "SIGNAL_RANGES",
    "MarketState",
    "PathBatch",
    "conditions",
    "condor_specs",
    "cost_models",
    "event_specs",
    "field_values",
    "layer_specs",
    "market_models",
    "market_states",
    "path_batches",
    "policies",
    "regime_chains",
    "scenarios",
    "seeds",
    "simulation_specs",
    "stochastic_matrices",
    "triggers",
    "unique_stationary",
]

INT64_MAX = 2**63 - 1  # TOML integers are 64-bit
# Lone surrogates cannot be written in a TOML file.
CHARS = st.characters(exclude_categories=["Cs"])


# ---------------------------------------------------------------------------
# Any value the loader accepts for one field (full ranges: loader fuzzing)
# ---------------------------------------------------------------------------


def int_bounds(meta: Mapping[str, Any]) -> tuple[int, int]:
    """Smallest and largest integer inside a field's range (clipped to int64)."""
    lo, hi = meta.get("lo"), meta.get("hi")
    low = (-INT64_MAX if lo is None
           else math.floor(lo) + 1 if meta.get("lo_open") else math.ceil(lo))
    high = (INT64_MAX if hi is None
            else math.ceil(hi) - 1 if meta.get("hi_open") else math.floor(hi))
    return max(low, -INT64_MAX), min(high, INT64_MAX)


def field_values(f: dataclasses.Field, ftype: type) -> st.SearchStrategy[Any]:
    """Any value a TOML file may give for the scalar field ``f`` (its whole range).

    Floats may come as whole numbers (TOML writers often give them as
    integers); see :func:`plausible` for values that make a simulation
    meaningful.
    """
    meta = f.metadata
    if ftype is bool:
        return st.booleans()
    if ftype is str:
        if meta.get("unit") == "ISO date":
            return st.dates() | st.dates().map(lambda day: day.isoformat())
        if meta.get("unit") == "smile kind":
            return st.sampled_from(["model", "parametric"])
        return st.text(CHARS)
    low, high = int_bounds(meta)
    integers = st.integers(low, high) if low <= high else st.nothing()
    if ftype is int:
        return integers
    lo, hi = meta.get("lo"), meta.get("hi")
    floats = st.floats(
        min_value=lo, max_value=hi,
        exclude_min=lo is not None and bool(meta.get("lo_open")),
        exclude_max=hi is not None and bool(meta.get("hi_open")),
        allow_nan=False, allow_infinity=False,
    )
    return floats | integers


def stochastic_matrices(n: int) -> st.SearchStrategy[tuple[tuple[float, ...], ...]]:
    """Row-stochastic ``n x n`` matrices with some zero entries.

    Weights are small integers, normalized, so a zero is a structural zero
    (and :func:`unique_stationary` sees the same chain as the loader).
    """
    row = st.lists(st.integers(0, 6), min_size=n, max_size=n).filter(any).map(
        lambda w: tuple(x / sum(w) for x in w))
    return st.tuples(*[row] * n)


def unique_stationary(transition: tuple[tuple[float, ...], ...]) -> bool:
    """Whether the chain has one stationary distribution: ``rank(I - P) = n - 1``.

    For a stochastic matrix the eigenvalue 1 is semisimple, with multiplicity
    the number of closed classes, so the rank tells how many there are.
    """
    p = np.array(transition)
    return int(np.linalg.matrix_rank(np.eye(len(p)) - p, tol=1e-9)) == len(p) - 1


# ---------------------------------------------------------------------------
# Plausible values, shrinking to the default
# ---------------------------------------------------------------------------

#: Plausible ranges of :class:`MarketModel` fields (inside the loader's ranges).
MARKET_RANGES: dict[str, tuple[float, float]] = {
    "spot0": (1000.0, 10000.0), "variance0": (0.005, 0.2), "kappa": (0.5, 10.0),
    "theta": (0.01, 0.2), "xi": (0.1, 1.5), "rho": (-0.95, 0.2), "rate": (-0.01, 0.08),
    "dividend_yield": (0.0, 0.04), "equity_premium": (-0.2, 0.2),
    "jump_intensity": (0.0, 5.0), "jump_spot_mean": (-0.1, 0.02),
    "jump_spot_std": (0.0, 0.08), "jump_variance_mean": (0.0, 0.2),
    "jump_spot_per_variance": (-2.0, 1.0), "vol_risk_premium": (-1.0, 0.4),
}
#: Plausible ranges of the per-regime overrides (``[market.regimes.<name>]``).
REGIME_RANGES: dict[str, tuple[float, float]] = {
    "theta": (0.01, 0.3), "xi": (0.1, 1.5), "equity_premium": (-0.3, 0.3),
    "jump_intensity": (0.0, 8.0),
}
#: Plausible ranges of scheduled event shocks (:class:`EventSpec`).
EVENT_RANGES: dict[str, tuple[float, float]] = {
    "fomc_spot_std": (0.0, 0.02), "fomc_variance_jump": (0.0, 0.05),
    "cpi_spot_std": (0.0, 0.015), "cpi_variance_jump": (0.0, 0.03),
    "ppi_spot_std": (0.0, 0.01), "ppi_variance_jump": (0.0, 0.02),
}
#: Plausible ranges of :class:`CondorSpec` fields (``wing_width``, ``dte_max`` and
#: ``exit_dte`` are drawn by :func:`condor_specs`, which keeps them consistent).
CONDOR_RANGES: dict[str, tuple[float, float]] = {
    "short_delta": (0.05, 0.35), "dte_min": (7, 60), "entry_interval": (1, 20),
    "profit_target": (0.1, 1.0), "stop_loss": (0.5, 5.0), "risk_budget": (0.01, 0.5),
    "max_contracts": (1, 200),
}
#: Plausible ranges of :class:`CostModel` fields.
COST_RANGES: dict[str, tuple[float, float]] = {
    "commission": (0.0, 2.0), "min_width": (0.0, 0.5), "width_share": (0.0, 0.05),
    "vix_widening": (0.0, 1.0), "future_half_spread": (0.0, 0.1),
    "future_commission": (0.0, 3.0),
}
#: Plausible ranges of :class:`VixSpec` fields.
VIX_RANGES: dict[str, tuple[float, float]] = {
    "option_vol_scale": (0.5, 2.0), "option_skew": (0.0, 1.0),
    "future_margin": (1000.0, 10000.0), "future_spread_margin": (200.0, 3000.0),
}
#: Plausible ranges of :class:`LayerSpec` numbers (offsets, deltas, widths and
#: expiries are drawn by :func:`layer_specs`, which keeps them consistent).
LAYER_RANGES: dict[str, tuple[float, float]] = {
    "breakeven_buffer": (0.0, 200.0), "size": (0.01, 3.0), "max_units": (1, 1000),
    "roll_dte": (0, 30), "profit_target": (0.0, 5.0), "vix_unwind_margin": (0.0, 10.0),
}
#: Plausible ranges of the small policy tables.
ACTIVE_RANGES: dict[str, tuple[float, float]] = {
    "roll_delta": (0.1, 0.6), "max_untested_rolls": (0, 3), "max_roll_outs": (0, 5)}
BUDGET_RANGES: dict[str, tuple[float, float]] = {"max_share": (0.0, 1.0)}
LIQUIDITY_RANGES: dict[str, tuple[float, float]] = {"min_quick_ratio": (0.0, 5.0)}
SHRINK_RANGES: dict[str, tuple[float, float]] = {"margin": (0.0, 2.0), "keep": (0.0, 0.99)}
#: Typical range of each built-in signal (its unit), where trigger levels are drawn, and
#: the level a condition shrinks to.
SIGNAL_RANGES: dict[str, tuple[float, float, float]] = {
    "vix": (10.0, 45.0, 20.0), "vx1": (10.0, 45.0, 20.0), "vx2": (10.0, 45.0, 20.0),
    "ts_slope": (0.8, 1.2, 1.0), "ts_slope_z": (-3.0, 3.0, 1.0),
    "rsi_spx": (10.0, 90.0, 50.0), "rsi_vix": (10.0, 90.0, 50.0),
    "macd_spx": (-100.0, 100.0, 0.0), "macd_signal_spx": (-100.0, 100.0, 0.0),
    "macd_hist_spx": (-50.0, 50.0, 0.0), "macd_vix": (-3.0, 3.0, 0.0),
    "macd_signal_vix": (-3.0, 3.0, 0.0), "macd_hist_vix": (-2.0, 2.0, 0.0),
    "ad_divergence": (0.0, 1.0, 0.5), "realized_vol": (0.05, 0.6, 0.2),
    "rv_iv_ratio": (0.3, 2.0, 1.0), "days_to_event": (0.0, 30.0, 3.0),
    "strike_distance": (-1.0, 3.0, 1.0), "strike_drift": (-1.0, 1.0, 0.0),
    "short_delta": (0.0, 0.5, 0.25), "condor_tested": (0.0, 1.0, 0.5),
}
#: Business days a scenario may start on (the first is the default).
START_DATES = ("2025-01-02", "2024-03-15", "2020-02-20", "2018-01-29")
#: Account sizes drawn by :func:`scenarios` (the first is the default): a larger
#: account trades more contracts, so that hedge sizes do not all round to zero.
ACCOUNT_SIZES = (100_000.0, 1_000_000.0, 10_000_000.0)


def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    out = {}
    for name, ftype in hints.items():
        args = [a for a in typing.get_args(ftype) if a is not type(None)]
        out[name] = args[0] if len(args) == 1 and typing.get_args(ftype) else ftype
    return out


def plausible(f: dataclasses.Field, ftype: type,
              span: tuple[float, float] | None = None) -> st.SearchStrategy[Any]:
    """The field's default, or a value drawn from ``span`` (clipped to its own range).

    Choices (``metadata["choices"]``) are drawn with the default first and
    booleans as ``[default, not default]``, so every field shrinks to its
    default. Without ``span`` a number keeps its default.
    """
    default = f.default
    meta = f.metadata
    if ftype is bool:
        return st.sampled_from([default, not default])
    if meta.get("choices"):
        return st.sampled_from([default, *(c for c in meta["choices"] if c != default)])
    if span is None or ftype not in (int, float):
        return st.just(default)
    lo, hi = span
    if meta.get("lo") is not None:
        lo = max(lo, meta["lo"])
    if meta.get("hi") is not None:
        hi = min(hi, meta["hi"])
    if ftype is int:
        return st.just(default) | st.integers(math.ceil(lo), math.floor(hi))
    values = st.floats(lo, hi, allow_nan=False, allow_infinity=False,
                       exclude_min=bool(meta.get("lo_open")) and lo == meta.get("lo"),
                       exclude_max=bool(meta.get("hi_open")) and hi == meta.get("hi"))
    return st.just(default) | values


def fields(cls: type, ranges: Mapping[str, tuple[float, float]],
           **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments of ``cls`` drawn field by field by :func:`plausible`.

    Scalar fields named in ``ranges`` are drawn in that range; text fields
    with choices and booleans are drawn from their choices; every other field
    (and those in ``fixed``, given as strategies or values) keeps its default
    or the fixed value.
    """
    hints = _hints(cls)
    drawn: dict[str, st.SearchStrategy[Any]] = {}
    for f in dataclasses.fields(cls):
        if f.name in fixed:
            value = fixed[f.name]
            drawn[f.name] = value if isinstance(value, st.SearchStrategy) else st.just(value)
        elif f.name in ranges or hints[f.name] is bool or f.metadata.get("choices"):
            drawn[f.name] = plausible(f, hints[f.name], ranges.get(f.name))
    return st.fixed_dictionaries(drawn)


def section(cls: type, ranges: Mapping[str, tuple[float, float]],
            **fixed: Any) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` drawn by :func:`fields`."""
    return fields(cls, ranges, **fixed).map(lambda kwargs: cls(**kwargs))


# ---------------------------------------------------------------------------
# Markets
# ---------------------------------------------------------------------------

_REGIME_NAMES = ("calm", "normal", "stressed")


@st.composite
def regime_chains(draw: st.DrawFn, max_regimes: int = 3) -> RegimeChain:
    """Regime chains: the default single regime, or 2 to ``max_regimes`` named ones.

    Every regime can reach every other (each day it stays with probability
    0.8-0.99 and moves to each other regime with an equal share of the rest),
    so the chain has one stationary distribution; some regimes override
    ``theta``, ``xi``, ``equity_premium`` or ``jump_intensity``.
    """
    n = draw(st.just(1) | st.integers(1, max(1, min(max_regimes, len(_REGIME_NAMES)))))
    if n == 1:
        return RegimeChain()
    names = _REGIME_NAMES[:n]
    rows = []
    for i in range(n):
        stay = draw(st.just(0.95) | st.floats(0.8, 0.99))
        move = (1.0 - stay) / (n - 1)
        rows.append(tuple(stay if j == i else move for j in range(n)))
    initial = draw(st.sampled_from([*names, "stationary"]))
    stress = draw(st.sampled_from([(), (names[-1],)]))
    params = []
    for name in names:
        chosen = draw(st.lists(st.sampled_from(sorted(REGIME_RANGES)), max_size=2, unique=True))
        overrides = {key: draw(st.floats(*REGIME_RANGES[key])) for key in sorted(chosen)}
        if overrides:
            params.append(RegimeParams(name=name, **overrides))
    return RegimeChain(names=names, transition=tuple(rows), initial=initial, stress=stress,
                       params=tuple(params))


def event_specs() -> st.SearchStrategy[EventSpec]:
    """Scheduled events: the default (generated calendar, no shocks), or small shocks."""
    return section(EventSpec, EVENT_RANGES,
                   calendar=st.sampled_from(["generated", "none"]))


@st.composite
def market_models(draw: st.DrawFn, max_regimes: int = 3) -> MarketModel:
    """Valid market models in plausible ranges, shrinking to the default model.

    Parameters
    ----------
    max_regimes : int
        Most regimes of the chain (1 gives single-regime models only).
    """
    kwargs = draw(fields(MarketModel, MARKET_RANGES))
    regimes = draw(regime_chains(max_regimes))
    breadth = BreadthSpec()
    if 0 < len(regimes.stress) < regimes.n_regimes and draw(st.booleans()):
        breadth = BreadthSpec(divergence_predicts_stress=True)
    return MarketModel(**kwargs, regimes=regimes, events=draw(event_specs()), breadth=breadth)


@dataclass(frozen=True)
class MarketState:
    """A market model and a one-tick view of some paths under it.

    Attributes
    ----------
    model : MarketModel
    view : sim.engine.MarketView
        Tick 0 on ``len(view.spot)`` paths: spot (index points), variance
        (annualized), regime, and the VIX (index points) the model gives them.
    """

    model: MarketModel
    view: Any

    def __repr__(self) -> str:
        v = self.view
        return (f"MarketState(spot={v.spot.tolist()}, variance={v.variance.tolist()}, "
                f"regime={v.regime.tolist()}, date={v.date})")


@st.composite
def market_states(draw: st.DrawFn, models: st.SearchStrategy[MarketModel] | None = None,
                  max_paths: int = 8) -> MarketState:
    """A model and one tick of 1 to ``max_paths`` paths: spot, variance, regime, VIX.

    Shrinks to one path at the model's first-tick spot and variance.
    """
    from sim.engine import MarketView
    from sim.market.term_structure import vix_index_for

    model = draw(market_models() if models is None else models)
    n = draw(st.integers(1, max_paths))
    spot = np.array(draw(st.lists(st.just(model.spot0) | st.floats(500.0, 20000.0),
                                  min_size=n, max_size=n)))
    variance = np.array(draw(st.lists(st.just(model.variance0) | st.floats(0.0005, 1.0),
                                      min_size=n, max_size=n)))
    regime = np.array(draw(st.lists(st.integers(0, model.regimes.n_regimes - 1),
                                    min_size=n, max_size=n)), dtype=np.int8)
    date = np.datetime64(draw(st.sampled_from(START_DATES)), "D")
    view = MarketView(tick=0, date=date, day=int(date.astype(np.int64)), spot=spot,
                      variance=variance, vix=vix_index_for(model, variance, regime),
                      is_last=False, regime=regime)
    return MarketState(model=model, view=view)


# ---------------------------------------------------------------------------
# Condor, costs, whole scenarios
# ---------------------------------------------------------------------------


@st.composite
def condor_specs(draw: st.DrawFn) -> CondorSpec:
    """Valid condor specifications, shrinking to the default condor.

    Wings are a multiple of 5 points (5 to 200), ``dte_min <= dte_max``
    (entries within 7 to 90 days) and ``exit_dte < dte_min``.
    """
    kwargs = draw(fields(CondorSpec, CONDOR_RANGES))
    kwargs["wing_width"] = 5.0 * draw(st.just(10) | st.integers(1, 40))
    default_max = CondorSpec().dte_max
    kwargs["dte_max"] = max(kwargs["dte_min"], draw(st.just(default_max) | st.integers(7, 90)))
    kwargs["exit_dte"] = draw(st.just(0) | st.integers(0, min(kwargs["dte_min"] - 1, 14)))
    return CondorSpec(**kwargs)


def cost_models() -> st.SearchStrategy[CostModel]:
    """Trading costs: the default, or commissions and spreads in plausible ranges."""
    return section(CostModel, COST_RANGES)


def vix_specs() -> st.SearchStrategy[VixSpec]:
    """VIX futures and options: the default, or other vol scales, skews and margins."""
    return section(VixSpec, VIX_RANGES)


def smile_models() -> st.SearchStrategy[SmileModel]:
    """The model smile (default) or the fitted parametric smile."""
    return section(SmileModel, {}, kind=st.sampled_from(["model", "parametric"]))


def simulation_specs(min_days: int = 20, max_days: int = 60, min_paths: int = 4,
                     max_paths: int = 32) -> st.SearchStrategy[SimulationSpec]:
    """Short runs: ``n_days`` in [min_days, max_days], ``n_paths`` (= batch size) in
    [min_paths, max_paths], any seed; shrinks to the shortest, smallest run."""
    return st.builds(
        lambda days, paths, seed, start: SimulationSpec(
            start_date=start, n_days=days, n_paths=paths, batch_size=paths, seed=seed),
        st.integers(min_days, max_days), st.integers(min_paths, max_paths), seeds(),
        st.sampled_from(START_DATES))


def seeds() -> st.SearchStrategy[int]:
    """Root seeds of a run (``alvh run --seed``), shrinking to 0."""
    return st.integers(0, 2**32 - 1)


@st.composite
def scenarios(draw: st.DrawFn, markets: st.SearchStrategy[MarketModel] | None = None,
              condors: st.SearchStrategy[CondorSpec] | None = None,
              simulations: st.SearchStrategy[SimulationSpec] | None = None,
              name: str = "generated") -> Scenario:
    """Valid scenarios with short horizons, shrinking to the default scenario.

    Parameters
    ----------
    markets, condors, simulations : strategies, optional
        Defaults :func:`market_models`, :func:`condor_specs` and
        :func:`simulation_specs` (20-60 days, 4-32 paths).
    name : str
        Name of every scenario drawn.

    Returns
    -------
    Scenario
        With ``source = "<string>"`` (what ``scenarios.loads`` gives).
    """
    return Scenario(
        name=name, description="drawn by sim.testing.strategies",
        market=draw(market_models() if markets is None else markets),
        smile=draw(smile_models()), vix=draw(vix_specs()), costs=draw(cost_models()),
        condor=draw(condor_specs() if condors is None else condors),
        account=AccountSpec(initial_cash=draw(st.sampled_from(ACCOUNT_SIZES))),
        simulation=draw(simulation_specs() if simulations is None else simulations),
        source="<string>")


@dataclass(frozen=True)
class PathBatch:
    """A scenario, a seed, and the market paths ``alvh run`` simulates for them.

    Attributes
    ----------
    scenario : Scenario
    seed : int
        Root seed of the run (``alvh run --seed``).
    market : MarketPaths
        The run's paths: ``scenario.simulation.n_paths`` paths of
        ``n_days + 1`` ticks, generated block by block as ``sim.runner.run`` does.
    """

    scenario: Scenario
    seed: int
    market: Any

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.market.n_paths)

    def __repr__(self) -> str:
        return (f"PathBatch(seed={self.seed}, n_paths={self.n_paths}, "
                f"n_days={self.scenario.simulation.n_days}, scenario={self.scenario!r})")


@st.composite
def path_batches(draw: st.DrawFn, scenarios_: st.SearchStrategy[Scenario] | None = None
                 ) -> PathBatch:
    """Short simulated path batches: a scenario, its seed and its paths.

    The market is ``sim.check.market_of_run(scenario, seed, n_paths)``, the
    paths of ``alvh run SCENARIO --seed SEED --paths N``, with ``seed`` and
    ``N`` those of the scenario's ``[simulation]`` table.
    """
    from sim.check import market_of_run

    scenario = draw(scenarios() if scenarios_ is None else scenarios_)
    spec = scenario.simulation
    return PathBatch(scenario=scenario, seed=spec.seed,
                     market=market_of_run(scenario, spec.seed, spec.n_paths))


# ---------------------------------------------------------------------------
# Hedge policies
# ---------------------------------------------------------------------------


@st.composite
def conditions(draw: st.DrawFn, signals: tuple[str, ...] = SIGNALS) -> Condition:
    """Trigger conditions on built-in signals, levels in each signal's typical range.

    Shrinks to ``vix > 20`` without hysteresis; ``off`` is None or on the
    valid side of ``on``.
    """
    ordered = sorted(signals, key=lambda s: (s != "vix", signals.index(s)))
    signal = draw(st.sampled_from(ordered))
    lo, hi, middle = SIGNAL_RANGES.get(signal, (-1.0, 1.0, 0.0))
    op = draw(st.sampled_from([">", "<"]))
    on = draw(st.just(middle) | st.floats(lo, hi))
    gap = draw(st.none() | st.floats(0.0, (hi - lo) / 4))
    off = None if gap is None else (on - gap if op == ">" else on + gap)
    weight = draw(st.just(1.0) | st.floats(0.0, 5.0))
    return Condition(signal=signal, op=op, on=on, off=off, weight=weight)


@st.composite
def triggers(draw: st.DrawFn, max_conditions: int = 3) -> Trigger:
    """Triggers of 1 to ``max_conditions`` conditions, any mode; shrinks to one condition."""
    kwargs = draw(fields(Trigger, {"threshold": (0.0, 1.0)}))
    threshold = kwargs["threshold"]
    clear = draw(st.none() | st.floats(0.0, threshold))
    found = tuple(draw(st.lists(conditions(), min_size=1, max_size=max_conditions)))
    return Trigger(**kwargs, clear=clear, conditions=found)


@st.composite
def layer_specs(draw: st.DrawFn, index: int = 0, earlier: tuple[LayerSpec, ...] = (),
                instruments: tuple[str, ...] = INSTRUMENTS) -> LayerSpec:
    """One valid layer named ``L<index + 1>`` that may require layers in ``earlier``.

    Every instrument, role, size basis and exit switch can be drawn; the rules
    that tie fields together hold by construction: ``min_dte <= max_dte``,
    ``short_offset > long_offset`` for VIX call spreads, ``short_delta <
    long_delta`` for SPX put spreads, a multiple of 5 for ``spread_width``,
    ``requires`` naming earlier layers only, and a ``leverage`` role only
    after a ``base`` layer. Shrinks to a default ``vix_call`` base layer.
    """
    kwargs = draw(fields(LayerSpec, LAYER_RANGES,
                         instrument=st.sampled_from(instruments),
                         name=f"L{index + 1}"))
    if kwargs["role"] == "leverage" and not any(layer.role == "base" for layer in earlier):
        kwargs["role"] = "base"
    kwargs["min_dte"] = draw(st.just(7) | st.integers(1, 60))
    kwargs["max_dte"] = max(kwargs["min_dte"], draw(st.just(45) | st.integers(1, 120)))
    kwargs["long_offset"] = draw(st.just(1.0) | st.floats(-5.0, 15.0))
    kwargs["short_offset"] = kwargs["long_offset"] + draw(st.just(5.0) | st.floats(0.5, 20.0))
    kwargs["long_delta"] = draw(st.just(0.25) | st.floats(0.05, 0.45))
    kwargs["short_delta"] = kwargs["long_delta"] * draw(st.just(0.4) | st.floats(0.1, 0.9))
    kwargs["spread_width"] = 5.0 * draw(st.just(5) | st.integers(1, 40))
    names = [layer.name for layer in earlier]
    required = draw(st.lists(st.sampled_from(names), unique=True, max_size=2)) if names else []
    kwargs["requires"] = tuple(name for name in names if name in required)
    kwargs["trigger"] = draw(triggers())
    return LayerSpec(**kwargs)


@st.composite
def policies(draw: st.DrawFn, min_layers: int = 1, max_layers: int = 4,
             instruments: tuple[str, ...] = INSTRUMENTS, name: str = "generated") -> Policy:
    """Valid hedge policies: any combination of layers, triggers, sizes and rules.

    Parameters
    ----------
    min_layers, max_layers : int
        Number of hedge layers (0 allowed: the condor alone, maybe with a shrink).
    instruments : tuple of str
        Instruments the layers may trade (default all of ``sim.policy.INSTRUMENTS``).
    name : str
        Name of every policy drawn.

    Returns
    -------
    Policy
        With ``source = "<string>"``. Shrinks to one default ``vix_call`` layer
        triggered by ``vix > 20``, the default budget (20% of premium),
        quick-ratio floor (1.2) and a non-trailed condor.
    """
    n_layers = draw(st.integers(min_layers, max_layers))
    layers: list[LayerSpec] = []
    for i in range(n_layers):
        layers.append(draw(layer_specs(i, tuple(layers), instruments)))
    kwargs = draw(fields(Policy, {}))
    kwargs.pop("name", None)
    kwargs.pop("description", None)
    return Policy(
        name=name, description="drawn by sim.testing.strategies", **kwargs,
        active=draw(section(ActiveManagement, ACTIVE_RANGES)),
        budget=draw(section(Budget, BUDGET_RANGES)),
        liquidity=draw(section(Liquidity, LIQUIDITY_RANGES)),
        shrink=draw(section(Shrink, SHRINK_RANGES)),
        layers=tuple(layers), source="<string>")

