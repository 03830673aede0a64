"""SVCJ path generator: moments against closed forms, jumps, determinism, and
finiteness over every valid MarketModel.

Statistical tests use a fixed seed and a tolerance of 4 standard errors of the
Monte Carlo estimate (two-sided false-alarm rate ~6e-5 per check if the seed
were random).
"""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.vix import vix_from_variance
from sim.config import MarketModel
from sim.market import generate
from sim.market.heston import (
    _integration_weights,
    _regime_constants,
    _svcj_step_kernel,
    vix_jump_term,
)

N_SE = 4.0
DAY = 1 / 252


def _mean_within(sample: np.ndarray, expected: float, n_se: float = N_SE) -> None:
    standard_error = sample.std(ddof=1) / math.sqrt(sample.size)
    assert abs(sample.mean() - expected) <= n_se * standard_error, (
        f"mean {sample.mean():.6g} vs {expected:.6g}, standard error {standard_error:.3g}"
    )


# --- moments against closed forms -------------------------------------------------------------

def test_constant_vol_is_geometric_brownian_motion():
    sigma2 = 0.04
    model = MarketModel(variance0=sigma2, theta=sigma2, xi=0.0, jump_intensity=0.0)
    n_paths, n_steps = 20_000, 50
    paths = generate(model, n_paths, n_steps, DAY, np.random.default_rng(11))
    T = n_steps * DAY
    growth = math.exp((model.rate - model.dividend_yield) * T)
    spot_T = paths.spot[-1]

    _mean_within(spot_T, model.spot0 * growth)

    expected_var = model.spot0**2 * growth**2 * math.expm1(sigma2 * T)
    centred = spot_T - spot_T.mean()
    sample_var = centred.var(ddof=1)
    # Standard error of the sample variance: sqrt((mu4 - sigma^4) / n).
    se_var = math.sqrt((np.mean(centred**4) - sample_var**2) / n_paths)
    assert abs(sample_var - expected_var) <= N_SE * se_var
    np.testing.assert_allclose(paths.variance, sigma2, rtol=1e-14)
    np.testing.assert_allclose(paths.vix, 20.0, rtol=1e-13)


@pytest.mark.parametrize(
    ("kappa", "theta", "xi", "variance0"),
    [
        (4.0, 0.035, 0.6, 0.06),   # Feller broken (2 kappa theta < xi^2), both QE branches
        (1.5, 0.04, 2.0, 0.01),    # exponential branch most of the time
        (0.0, 0.04, 0.8, 0.05),    # no mean reversion: v is a martingale
    ],
)
def test_variance_mean_matches_cir_without_jumps(kappa, theta, xi, variance0):
    model = MarketModel(kappa=kappa, theta=theta, xi=xi, variance0=variance0,
                        jump_intensity=0.0)
    n_steps = 50
    paths = generate(model, 20_000, n_steps, DAY, np.random.default_rng(12))
    T = n_steps * DAY
    assert (paths.variance >= 0.0).all()
    _mean_within(paths.variance[-1], theta + (variance0 - theta) * math.exp(-kappa * T))


@pytest.mark.parametrize(
    "model",
    [
        MarketModel(jump_intensity=5.0),
        MarketModel(jump_intensity=3.0, xi=2.0, rho=-0.95, jump_spot_mean=-0.08,
                    jump_spot_std=0.05, jump_variance_mean=0.2, jump_spot_per_variance=-1.0),
        MarketModel(jump_intensity=10.0, xi=0.0, jump_spot_mean=0.02,
                    jump_spot_per_variance=2.0),
        # Fast mean reversion, small xi: the central rule gamma1 = gamma2 = 1/2 would
        # bias E[S_T] by ~4% here (rho/xi kappa^3 dt^3 (v - theta) / 12 per step).
        MarketModel(kappa=100.0, theta=0.04, xi=0.1, rho=-0.9, variance0=0.4,
                    jump_intensity=0.0),
    ],
)
def test_discounted_spot_is_a_martingale_with_jumps(model):
    n_steps = 50
    paths = generate(model, 20_000, n_steps, DAY, np.random.default_rng(13))
    T = n_steps * DAY
    discounted = paths.spot[-1] * math.exp(-(model.rate - model.dividend_yield) * T)
    _mean_within(discounted, model.spot0)


# --- jumps -------------------------------------------------------------------------------------

def test_jump_counts_are_poisson_with_intensity():
    model = MarketModel(jump_intensity=12.0)
    n_paths, n_steps = 5_000, 63
    paths = generate(model, n_paths, n_steps, DAY, np.random.default_rng(14))
    T = n_steps * DAY
    totals = paths.jumps.sum(axis=0)
    standard_error = math.sqrt(model.jump_intensity * T / n_paths)  # Poisson: var = mean
    assert abs(totals.mean() - model.jump_intensity * T) <= N_SE * standard_error
    assert (paths.jumps >= 0).all() and (paths.jumps[0] == 0).all()


def test_variance_jumps_up_on_jump_steps_and_follows_its_mean_otherwise():
    # With xi = 0 the diffusive variance is deterministic, so a jump is visible exactly.
    model = MarketModel(xi=0.0, jump_intensity=25.0, variance0=0.06)
    n_paths = 2_000
    paths = generate(model, n_paths, 40, DAY, np.random.default_rng(15))
    v_now, v_next = paths.variance[:-1], paths.variance[1:]
    deterministic = model.theta + (v_now - model.theta) * math.exp(-model.kappa * DAY)
    jumped = paths.jumps[1:] > 0
    assert jumped.sum() > 100
    assert (v_next[jumped] > deterministic[jumped]).all()
    np.testing.assert_allclose(v_next[~jumped], deterministic[~jumped], rtol=1e-13)

    # Steps with exactly one jump: variance jump ~ Exp(mu_v), log jump mean mu_S + b mu_v.
    single = paths.jumps[1:] == 1
    _mean_within((v_next - deterministic)[single], model.jump_variance_mean)
    log_return = np.log(paths.spot[1:] / paths.spot[:-1])
    mbar = model.jump_moments()[0]
    integrated = model.theta * DAY + (v_now - model.theta) * -math.expm1(-model.kappa * DAY) / (
        model.kappa)
    diffusive_mean = (model.rate - model.dividend_yield - model.jump_intensity * mbar) * DAY - (
        0.5 * integrated)
    _mean_within((log_return - diffusive_mean)[single],
                 model.jump_spot_mean + model.jump_spot_per_variance * model.jump_variance_mean)


def test_jumps_raise_variance_with_stochastic_variance():
    model = MarketModel(jump_intensity=25.0, jump_variance_mean=0.2)
    paths = generate(model, 2_000, 40, DAY, np.random.default_rng(16))
    increment = np.diff(paths.variance, axis=0)
    jumped = paths.jumps[1:] > 0
    # Mean increment on jump steps exceeds the no-jump mean by about mu_v.
    excess = increment[jumped].mean() - increment[~jumped].mean()
    se = math.sqrt(increment[jumped].var() / jumped.sum() + increment[~jumped].var() / (
        ~jumped).sum())
    mean_jumps_given_jump = paths.jumps[1:][jumped].mean()
    assert abs(excess - model.jump_variance_mean * mean_jumps_given_jump) <= N_SE * se
    # An Exp(mu_v) jump can be smaller than the diffusive fall of that step, so not all rise.
    assert (increment[jumped] > 0).mean() > 0.9


# --- VIX wiring, determinism, validation -------------------------------------------------------

def test_vix_is_computed_from_the_variance():
    model = MarketModel()
    paths = generate(model, 50, 20, DAY, np.random.default_rng(17))
    expected = vix_from_variance(paths.variance, model.kappa, model.theta, model.jump_intensity,
                                 model.jump_variance_mean, vix_jump_term(model))
    np.testing.assert_array_equal(paths.vix, expected)
    assert paths.vix.dtype == np.float64 and paths.spot.dtype == np.float64


def test_same_seed_same_bits_and_different_seeds_differ():
    model = MarketModel(jump_intensity=30.0)
    first = generate(model, 300, 30, DAY, np.random.default_rng(2025))
    again = generate(model, 300, 30, DAY, np.random.default_rng(2025))
    other = generate(model, 300, 30, DAY, np.random.default_rng(2026))
    for name in ("dates", "spot", "variance", "vix", "jumps"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.spot, other.spot)
    assert not np.array_equal(first.variance, other.variance)
    assert not np.array_equal(first.jumps, other.jumps)


def test_start_date_and_first_row():
    model = MarketModel()
    paths = generate(model, 3, 4, DAY, np.random.default_rng(1), start_date="2025-03-08")
    assert paths.dates[0] == np.datetime64("2025-03-10")  # Saturday rolled to Monday
    assert paths.dt == DAY
    np.testing.assert_array_equal(paths.spot[0], model.spot0)
    np.testing.assert_array_equal(paths.variance[0], model.variance0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_paths": 0}, "n_paths"),
        ({"n_paths": 2.0}, "n_paths"),
        ({"n_steps": 0}, "n_steps"),
        ({"dt": 0.0}, "dt"),
        ({"dt": -DAY}, "dt"),
        ({"dt": math.nan}, "dt"),
    ],
)
def test_rejects_bad_arguments(kwargs, name):
    arguments = {"n_paths": 2, "n_steps": 2, "dt": DAY} | kwargs
    with pytest.raises(ValueError, match=name):
        generate(MarketModel(), rng=np.random.default_rng(0), **arguments)


def test_rejects_jumps_with_infinite_exponential_moment():
    model = MarketModel(jump_spot_per_variance=20.0, jump_variance_mean=0.05)
    with pytest.raises(ValueError, match="jump_spot_per_variance"):
        generate(model, 2, 2, DAY, np.random.default_rng(0))


@pytest.mark.parametrize("rho", [-0.7, 0.0, 1.0])
def test_paths_are_continuous_as_xi_goes_to_zero(rho):
    # The xi = 0 branch uses the xi -> 0 limit of the QE shocks, so for a seed the
    # paths move by O(xi) when stochastic variance is switched on, plus an
    # O((kappa dt)^2) relative difference in the shock's scale (the QE step uses
    # the exact CIR conditional sd, the xi = 0 step sqrt(int v ds)): ~2e-6 here.
    seed = 18
    off = generate(MarketModel(xi=0.0, rho=rho), 200, 30, DAY, np.random.default_rng(seed))
    small = generate(MarketModel(xi=1e-5, rho=rho), 200, 30, DAY, np.random.default_rng(seed))
    np.testing.assert_allclose(small.variance, off.variance, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.log(small.spot), np.log(off.spot), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kappa", [0.0, 1e-9, 0.5, 4.0, 2.5 / DAY, 100.0, 1e4])
def test_integration_weights_are_exact_on_the_mean_path(kappa):
    dt = DAY
    w1, w2 = _integration_weights(kappa, dt)
    assert w1 + w2 == pytest.approx(dt, rel=1e-14)
    assert 0.0 < w1 <= w2 < dt
    decay = math.exp(-kappa * dt)
    mean_integral = dt if kappa == 0 else -math.expm1(-kappa * dt) / kappa
    theta, v = 0.04, 0.3
    exact = theta * dt + (v - theta) * mean_integral
    assert w1 * v + w2 * (theta + (v - theta) * decay) == pytest.approx(exact, rel=1e-13)
    if kappa * dt < 1e-6:
        assert w2 == pytest.approx(dt / 2, rel=1e-6)


def test_integration_weights_continuous_at_series_cutoff():
    below = _integration_weights(1e-2 * (1 - 1e-12), 1.0)
    above = _integration_weights(1e-2 * (1 + 1e-12), 1.0)
    np.testing.assert_allclose(below, above, rtol=1e-11)


@pytest.mark.parametrize("xi", [0.0, 0.6, 5.0])
def test_kernel_matches_its_python_twin(xi):
    # Two regimes per call (the kernel reads each path's row of constants): one
    # with the xi under test, one QE regime with other parameters.
    rng = np.random.default_rng(19)
    n = 64
    variance_now = rng.exponential(0.05, n)
    variance_now[:4] = 0.0
    inputs = (rng.standard_normal(n), rng.uniform(size=n), rng.standard_normal(n),
              rng.normal(-0.03, 0.05, n), rng.exponential(0.04, n))
    regimes = (MarketModel(kappa=4.0, theta=0.035, xi=xi, rho=-0.7, equity_premium=0.02),
               MarketModel(kappa=1.5, theta=0.09, xi=1.2, rho=-0.9, jump_intensity=3.0))
    constants = _regime_constants(regimes, DAY)
    regime_now = (rng.uniform(size=n) < 0.3).astype(np.int8)
    results = []
    for kernel in (_svcj_step_kernel, _svcj_step_kernel.py_func):
        log_spot, v_next, s_next = np.full(n, math.log(5000.0)), np.empty(n), np.empty(n)
        log_return = np.empty(n)
        kernel(log_spot, variance_now, v_next, s_next, *inputs, regime_now, constants,
               log_return)
        np.testing.assert_array_equal(log_spot, math.log(5000.0) + log_return)
        results.append((log_spot, v_next, s_next))
    for jitted, python in zip(*results, strict=True):
        np.testing.assert_allclose(jitted, python, rtol=1e-13, atol=1e-300)


# --- every valid model gives finite, non-negative paths ----------------------------------------

# The scalar parameters of MarketModel (the nested regime, event and breadth
# sections are drawn in test_regime_generator.py).
_MODEL_FIELDS = {f.name: f for f in dataclasses.fields(MarketModel) if "lo" in f.metadata}


def _field_values(name: str, hi: float | None = None) -> st.SearchStrategy[float]:
    meta = _MODEL_FIELDS[name].metadata
    upper = meta["hi"] if hi is None else hi
    return st.floats(meta["lo"], upper, exclude_min=meta["lo_open"],
                     exclude_max=meta["hi_open"], allow_nan=False, allow_infinity=False)


@st.composite
def valid_models(draw) -> MarketModel:
    """MarketModel over its documented ranges (config metadata).

    spot0 is capped at 1e12 index points (the range is open above; e^709 is
    where float64 ends), jump_spot_per_variance * jump_variance_mean < 1
    when jumps are on (otherwise E[e^J] is infinite and generate refuses),
    and kappa - vol_risk_premium > 0 when the premium is not 0 (otherwise
    there is no pricing measure and generate refuses).
    """
    values = {name: draw(_field_values(name)) for name in _MODEL_FIELDS if name != "spot0"}
    values["spot0"] = draw(_field_values("spot0", hi=1e12))
    mean = values["jump_variance_mean"]
    if values["jump_intensity"] > 0 and values["jump_spot_per_variance"] * mean >= 1.0:
        values["jump_spot_per_variance"] = draw(st.floats(-20.0, math.nextafter(1.0 / mean, 0)
                                                          * (1 - 1e-12)))
    premium = values["vol_risk_premium"]
    if premium != 0.0 and not values["kappa"] - premium > 0.0:
        # premium >= kappa >= 0, so -premium < 0 gives kappa_Q = kappa + premium > 0.
        values["vol_risk_premium"] = draw(st.sampled_from([0.0, -premium]))
    return MarketModel(**values)


@settings(max_examples=50, deadline=None)
@given(model=valid_models(), n_paths=st.integers(1, 6), n_steps=st.integers(1, 8),
       dt=st.sampled_from([1e-4, DAY, 1 / 12, 1.0]), seed=st.integers(0, 2**32 - 1))
def test_every_valid_model_gives_finite_nonnegative_paths(model, n_paths, n_steps, dt, seed):
    paths = generate(model, n_paths, n_steps, dt, np.random.default_rng(seed))
    for array in (paths.spot, paths.variance, paths.vix):
        assert np.isfinite(array).all()
        assert (array >= 0.0).all()
    assert (paths.jumps >= 0).all()
    assert (paths.n_steps, paths.n_paths) == (n_steps, n_paths)


@pytest.mark.parametrize(
    "model",
    [
        MarketModel(kappa=0.0, xi=5.0, rho=1.0, variance0=0.0, theta=0.0),
        MarketModel(kappa=100.0, xi=5.0, rho=-1.0, variance0=4.0, theta=4.0),
        MarketModel(kappa=0.0, xi=0.0, jump_intensity=252.0, jump_variance_mean=4.0,
                    jump_spot_mean=1.0, jump_spot_std=1.0, jump_spot_per_variance=0.2),
        MarketModel(kappa=0.01, theta=1e-6, xi=5.0, variance0=1e-300, jump_intensity=0.0),
        MarketModel(xi=1e-9, jump_spot_per_variance=-20.0, jump_variance_mean=4.0,
                    jump_intensity=252.0),
    ],
)
def test_extreme_models_stay_finite(model):
    paths = generate(model, 200, 252, DAY, np.random.default_rng(20))
    for array in (paths.spot, paths.variance, paths.vix):
        assert np.isfinite(array).all()
        assert (array >= 0.0).all()
