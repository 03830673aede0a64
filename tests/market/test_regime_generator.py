"""The generator with regimes, equity premium and macro events: the old paths
bit for bit in the single-regime case, regime dynamics, event shocks,
martingale checks, the VIX per regime, determinism, and finiteness over
every valid multi-regime model.

Statistical tests use a fixed seed and 4 standard errors from independent
paths.
"""

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.vix import vix_from_variance
from sim.config import (
    REGIME_FIELDS,
    BreadthSpec,
    EventSpec,
    MarketModel,
    RegimeChain,
    RegimeParams,
)
from sim.market import CPI, FOMC, generate
from sim.market.heston import vix_jump_term
from tests.market.models import FOUR_REGIMES, four_regime_model
from tests.market.reference_svcj import reference_generate
from tests.market.test_heston import valid_models

N_SE = 4.0
DAY = 7 / (5 * 365.25)


def _mean_within(sample: np.ndarray, expected: float, n_se: float = N_SE) -> None:
    standard_error = sample.std(ddof=1) / math.sqrt(sample.size)
    assert abs(sample.mean() - expected) <= n_se * standard_error, (
        f"mean {sample.mean():.6g} vs {expected:.6g}, standard error {standard_error:.3g}"
    )


# --- the single-regime generator is unchanged -------------------------------------------------

@pytest.mark.parametrize(
    "model",
    [
        MarketModel(),
        MarketModel(jump_intensity=30.0),
        MarketModel(xi=0.0, jump_intensity=20.0),
        MarketModel(jump_intensity=0.0, breadth=BreadthSpec(divergence_rate=50.0, noise=0.0)),
        # Event kinds without shocks draw nothing; the divergence switch needs stress regimes.
        MarketModel(events=EventSpec(calendar="none"),
                    breadth=BreadthSpec(divergence_predicts_stress=True)),
    ],
)
@pytest.mark.parametrize("dt", [DAY, 1 / 252])
def test_one_regime_without_event_shocks_reproduces_the_old_generator(model, dt):
    new = generate(model, 200, 60, dt, np.random.default_rng(2025))
    old = reference_generate(model, 200, 60, dt, np.random.default_rng(2025))
    for name, values in old.items():
        np.testing.assert_array_equal(getattr(new, name), values, err_msg=name)
    assert new.regime_names == ("normal",)
    assert (new.regime == 0).all()


# --- regime dynamics --------------------------------------------------------------------------

def test_the_regime_of_a_tick_sets_the_next_step():
    # Jumps only in "jumpy": a step has jumps only if the regime at its start is jumpy.
    chain = RegimeChain(names=("quiet", "jumpy"), transition=((0.9, 0.1), (0.2, 0.8)),
                        initial="stationary",
                        params=(RegimeParams(name="quiet", jump_intensity=0.0),
                                RegimeParams(name="jumpy", jump_intensity=100.0)))
    paths = generate(MarketModel(regimes=chain), 500, 100, DAY, np.random.default_rng(51))
    jumped = paths.jumps[1:] > 0
    jumpy = paths.regime[:-1] == 1
    assert jumped.sum() > 1000
    assert not (jumped & ~jumpy).any()
    # ... and at the rate of the jumpy regime.
    per_path = paths.jumps[1:].sum(axis=0) / np.maximum(jumpy.sum(axis=0), 1)
    _mean_within(per_path[jumpy.any(axis=0)], 100.0 * DAY, n_se=6.0)


def test_mean_variance_per_regime_is_ordered_as_theta():
    chain = RegimeChain(names=("calm", "normal", "wild"),
                        transition=((0.99, 0.01, 0.0), (0.01, 0.98, 0.01), (0.0, 0.02, 0.98)),
                        initial="stationary",
                        params=(RegimeParams(name="calm", theta=0.01),
                                RegimeParams(name="normal", theta=0.04),
                                RegimeParams(name="wild", theta=0.16)))
    model = MarketModel(kappa=20.0, xi=0.5, jump_intensity=0.0, regimes=chain)
    paths = generate(model, 1000, 252, DAY, np.random.default_rng(52))
    late = slice(100, None)  # after the start-up from variance0
    means = []
    for r in range(3):
        in_regime = paths.regime[late] == r
        # Per-path means are independent across paths.
        per_path = np.array([paths.variance[late][:, p][in_regime[:, p]].mean()
                             for p in range(paths.n_paths) if in_regime[:, p].sum() > 20])
        means.append((per_path.mean(), per_path.std(ddof=1) / math.sqrt(per_path.size)))
    for (low, se_low), (high, se_high) in itertools.pairwise(means):
        assert high - low > N_SE * math.hypot(se_low, se_high)
    assert 0.01 < means[0][0] < 0.04 < means[1][0] < 0.16 and means[2][0] > 0.06


# --- martingale and equity premium ------------------------------------------------------------

def test_discounted_spot_is_a_martingale_with_regimes_and_events():
    chain = dataclasses.replace(FOUR_REGIMES, params=tuple(
        dataclasses.replace(p, equity_premium=None) for p in FOUR_REGIMES.params))
    model = four_regime_model(regimes=chain)
    n_steps = 50
    paths = generate(model, 20_000, n_steps, DAY, np.random.default_rng(53))
    assert paths.events.any()
    assert len(np.unique(paths.regime)) == 4
    discounted = paths.spot[-1] * math.exp(-(model.rate - model.dividend_yield) * n_steps * DAY)
    _mean_within(discounted, model.spot0)


def test_equity_premium_sets_the_growth_of_spot():
    mu = 0.5
    model = MarketModel(equity_premium=mu, jump_intensity=5.0)
    n_steps = 50
    paths = generate(model, 20_000, n_steps, DAY, np.random.default_rng(54))
    T = n_steps * DAY
    _mean_within(paths.spot[-1], model.spot0 * math.exp((model.rate - model.dividend_yield
                                                         + mu) * T))
    # Path by path, the premium only shifts the drift: the same seed without it gives
    # the same shocks and a spot lower by exactly e^{mu t}.
    without = generate(dataclasses.replace(model, equity_premium=0.0), 20_000, n_steps, DAY,
                       np.random.default_rng(54))
    np.testing.assert_allclose(paths.spot, without.spot * np.exp(mu * DAY * np.arange(
        n_steps + 1))[:, None], rtol=1e-12)
    np.testing.assert_array_equal(paths.variance, without.variance)


def test_equity_premium_per_regime():
    # Given the regime path, E[S_T] = S0 exp((r - q) T + dt sum_t mu_{regime[t]}).
    model = four_regime_model()
    premium = np.array([m.equity_premium for m in model.regime_models()])
    assert premium.tolist() == [0.0, 0.0, 0.0, -0.2]
    model = dataclasses.replace(model, equity_premium=0.3)  # the regimes without their own
    premium = np.array([m.equity_premium for m in model.regime_models()])
    n_steps = 60
    paths = generate(model, 20_000, n_steps, DAY, np.random.default_rng(55))
    growth = (model.rate - model.dividend_yield) * n_steps * DAY + DAY * premium[
        paths.regime[:-1]].sum(axis=0)
    assert growth.std() > 0.0
    _mean_within(paths.spot[-1] * np.exp(-growth), model.spot0)


# --- macro events -----------------------------------------------------------------------------

def test_event_spot_shock_adds_its_variance_to_event_day_returns():
    s = 0.03
    model = MarketModel(variance0=0.04, theta=0.04, xi=0.0, jump_intensity=0.0,
                        events=EventSpec(cpi_spot_std=s))
    paths = generate(model, 2000, 60, DAY, np.random.default_rng(56))
    np.testing.assert_allclose(paths.variance, 0.04, rtol=1e-14)  # no variance jump asked
    log_return = np.diff(np.log(paths.spot), axis=0)
    # Only CPI has a shock; FOMC and PPI days are ordinary days here.
    event_day = (paths.events[1:] & CPI) != 0
    assert event_day.sum() == 3  # CPI on 15 January, 12 February and 12 March 2025

    def variance_and_se(x):
        centred = x - x.mean()
        var = centred.var(ddof=1)
        return var, math.sqrt((np.mean(centred**4) - var**2) / x.size)

    on, se_on = variance_and_se(log_return[event_day].ravel())
    off, se_off = variance_and_se(log_return[~event_day].ravel())
    assert abs((on - off) - s**2) <= N_SE * math.hypot(se_on, se_off)
    assert on - off > 0.5 * s**2


def test_event_variance_jumps_are_exponential_and_only_on_event_days():
    mean_jump = 0.05
    model = MarketModel(xi=0.0, jump_intensity=0.0, variance0=0.03,
                        events=EventSpec(fomc_variance_jump=mean_jump))
    paths = generate(model, 2000, 120, DAY, np.random.default_rng(57))
    v_now, v_next = paths.variance[:-1], paths.variance[1:]
    deterministic = model.theta + (v_now - model.theta) * math.exp(-model.kappa * DAY)
    fomc = (paths.events[1:] & FOMC) != 0
    assert fomc.sum() == 4
    jump = (v_next - deterministic)[fomc]
    assert (jump > 0.0).all()
    _mean_within(jump, mean_jump)
    np.testing.assert_allclose(v_next[~fomc], deterministic[~fomc], rtol=1e-13)


def test_event_variance_jumps_raise_variance_with_stochastic_variance():
    mean_jump = 0.05
    model = MarketModel(jump_intensity=0.0, events=EventSpec(fomc_variance_jump=mean_jump))
    paths = generate(model, 3000, 120, DAY, np.random.default_rng(58))
    increment = np.diff(paths.variance, axis=0)
    fomc = (paths.events[1:] & FOMC) != 0
    excess = increment[fomc].mean() - increment[~fomc].mean()
    se = math.hypot(increment[fomc].std() / math.sqrt(fomc.sum() * paths.n_paths),
                    increment[~fomc].std() / math.sqrt((~fomc).sum() * paths.n_paths))
    assert abs(excess - mean_jump) <= N_SE * se
    # Mean variance right after an FOMC day is above its level the day before.
    ticks = np.flatnonzero(paths.events & FOMC)
    rise = paths.variance[ticks] - paths.variance[ticks - 1]
    assert rise.mean() - N_SE * rise.std(ddof=1) / math.sqrt(rise.size) > 0.5 * mean_jump


# --- VIX, determinism, shapes -----------------------------------------------------------------

def test_vix_uses_the_parameters_of_the_current_regime():
    model = four_regime_model()
    paths = generate(model, 200, 60, DAY, np.random.default_rng(59))
    for r, m in enumerate(model.regime_models()):
        in_regime = paths.regime == r
        assert in_regime.any()
        expected = vix_from_variance(paths.variance[in_regime], m.kappa, m.theta,
                                     m.jump_intensity, m.jump_variance_mean, vix_jump_term(m))
        np.testing.assert_array_equal(paths.vix[in_regime], expected)


def test_same_seed_same_bits_and_different_seeds_differ():
    model = four_regime_model()
    first = generate(model, 300, 60, DAY, np.random.default_rng(2025))
    again = generate(model, 300, 60, DAY, np.random.default_rng(2025))
    other = generate(model, 300, 60, DAY, np.random.default_rng(2026))
    for field in dataclasses.fields(first):
        np.testing.assert_array_equal(getattr(first, field.name), getattr(again, field.name))
    for name in ("spot", "variance", "regime", "net_advances", "divergence"):
        assert not np.array_equal(getattr(first, name), getattr(other, name))


def test_fields_are_always_filled():
    paths = generate(MarketModel(), 3, 30, DAY, np.random.default_rng(0))
    assert paths.regime.shape == (31, 3) and (paths.regime == 0).all()
    assert paths.events.shape == (31,) and paths.events.any()  # generated calendar by default
    assert paths.net_advances[1:].any() and paths.ad_line[1:].any()


def test_rejects_a_regime_with_infinite_jump_moment():
    chain = RegimeChain(names=("a", "b"), transition=((0.5, 0.5), (0.5, 0.5)),
                        params=(RegimeParams(name="b", jump_spot_per_variance=20.0,
                                             jump_variance_mean=0.5),), initial="a")
    with pytest.raises(ValueError, match=r"regime 'b'.*jump_spot_per_variance"):
        generate(MarketModel(regimes=chain), 2, 2, DAY, np.random.default_rng(0))


# --- every valid multi-regime model gives finite paths ----------------------------------------

_REGIME_PARAM_FIELDS = {f.name: f for f in dataclasses.fields(RegimeParams)}
_EVENT_FIELDS = [f for f in dataclasses.fields(EventSpec) if "lo" in f.metadata
                 and f.metadata["lo"] is not None]
_BREADTH_FIELDS = [f for f in dataclasses.fields(BreadthSpec) if f.type == "float"]


def _in_range(f: dataclasses.Field) -> st.SearchStrategy[float]:
    meta = f.metadata
    return st.floats(meta["lo"], meta["hi"], exclude_min=meta.get("lo_open", False),
                     exclude_max=meta.get("hi_open", False), allow_nan=False,
                     allow_infinity=False)


@st.composite
def multi_regime_models(draw) -> MarketModel:
    """A valid MarketModel with 1 to 4 regimes, overrides, event shocks and breadth.

    Regimes whose jumps would have an infinite exponential moment get
    ``jump_spot_per_variance = 0``, and regimes with ``kappa -
    vol_risk_premium <= 0`` (no pricing measure) ``vol_risk_premium = 0``
    (generate refuses them otherwise).
    """
    base = draw(valid_models())
    n = draw(st.integers(1, 4))
    names = tuple(f"r{i}" for i in range(n))
    rows = []
    for _ in range(n):
        weights = draw(st.lists(st.sampled_from([0.0, 1e-6, 0.01, 0.3, 1.0]), min_size=n,
                                max_size=n))
        if sum(weights) == 0.0:
            weights[draw(st.integers(0, n - 1))] = 1.0
        rows.append(tuple(w / sum(weights) for w in weights))
    params = []
    for name in names:
        overrides = {f: draw(st.none() | _in_range(_REGIME_PARAM_FIELDS[f]))
                     for f in REGIME_FIELDS}
        params.append(RegimeParams(name=name, **overrides))
    chain = RegimeChain(names=names, transition=tuple(rows),
                        initial=draw(st.sampled_from((*names, "stationary"))),
                        stress=tuple(draw(st.sets(st.sampled_from(names)))),
                        params=tuple(params))
    events = EventSpec(calendar=draw(st.sampled_from(["generated", "none"])),
                       **{f.name: draw(_in_range(f)) for f in _EVENT_FIELDS})
    breadth = BreadthSpec(divergence_predicts_stress=draw(st.booleans()),
                          **{f.name: draw(_in_range(f)) for f in _BREADTH_FIELDS})
    model = dataclasses.replace(base, regimes=chain, events=events, breadth=breadth)
    fixed = []
    for p, m in zip(params, model.regime_models(), strict=True):
        if m.jump_intensity > 0 and m.jump_spot_per_variance * m.jump_variance_mean >= 1.0:
            p = dataclasses.replace(p, jump_spot_per_variance=0.0)
        if m.vol_risk_premium != 0.0 and not m.kappa - m.vol_risk_premium > 0.0:
            p = dataclasses.replace(p, vol_risk_premium=0.0)
        fixed.append(p)
    return dataclasses.replace(model, regimes=dataclasses.replace(chain, params=tuple(fixed)))


@settings(max_examples=30, deadline=None)
@given(model=multi_regime_models(), n_paths=st.integers(1, 6), n_steps=st.integers(1, 30),
       dt=st.sampled_from([1e-4, DAY, 1 / 12, 1.0]), seed=st.integers(0, 2**32 - 1))
def test_every_valid_multi_regime_model_gives_finite_paths(model, n_paths, n_steps, dt, seed):
    paths = generate(model, n_paths, n_steps, dt, np.random.default_rng(seed))
    for array in (paths.spot, paths.variance, paths.vix):
        assert np.isfinite(array).all()
        assert (array >= 0.0).all()
    assert np.isfinite(paths.net_advances).all() and np.isfinite(paths.ad_line).all()
    assert (np.abs(paths.net_advances) <= 1.0).all()
    assert (paths.regime >= 0).all() and (paths.regime < model.regimes.n_regimes).all()
    assert (paths.events <= 7).all()
    assert (paths.n_steps, paths.n_paths) == (n_steps, n_paths)
    # No move into a regime of probability 0 (the divergence tilt only moves mass
    # between possible entries).
    P = np.array(model.regimes.transition)
    assert (P[paths.regime[:-1], paths.regime[1:]] > 0.0).all()
