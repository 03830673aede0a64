"""VIX futures, the model's vol of VIX, VIX options and the SPX ATM term structure.

Three kinds of checks: closed forms against independent derivations (the CIR
variance, the moment ODEs integrated numerically, the kappa -> 0 limits),
Hypothesis properties of the curves (contango, backwardation, convexity,
limits), and no-static-arbitrage properties of the option prices that the
agents trade. The Monte Carlo check against the path generator lives in
``tests/market/test_term_structure.py``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from pricing.black import black76_price, bs_price
from pricing.smile import smile_vol
from pricing.vix import (
    MIN_ATM_T,
    VIX_TAU,
    spx_atm_vol,
    spx_atm_vol_one,
    variance_moments,
    variance_moments_one,
    vix_from_variance,
    vix_from_variance_one,
    vix_future,
    vix_future_one,
    vix_model_vol,
    vix_model_vol_one,
    vix_squared_moments_one,
    vix_squared_one,
)
from pricing.vix_options import (
    CLIP_BLEND,
    soft_clip,
    vix_option_price,
    vix_option_price_one,
    vix_option_vol,
    vix_option_vol_one,
)
from sim.config import MarketModel, SmileModel, VixSpec

FAST = settings(max_examples=100, deadline=None)
THOROUGH = settings(max_examples=200, deadline=None)

MODEL = MarketModel()
SMILE = SmileModel()
SPEC = VixSpec()


def _jump_term(model: MarketModel) -> float:
    """``2 lambda (E[e^J] - 1 - E[J])``, as ``sim.market.heston.vix_jump_term``."""
    mbar, mean_log_jump = model.jump_moments()
    return 2.0 * model.jump_intensity * (mbar - mean_log_jump)


#: The default model's dynamics in the order the kernels take them after ``(v, T)``.
DEFAULT = (MODEL.kappa, MODEL.theta, MODEL.xi, MODEL.jump_intensity, MODEL.jump_variance_mean,
           _jump_term(MODEL))
THETA_STAR = MODEL.theta + MODEL.jump_intensity * MODEL.jump_variance_mean / MODEL.kappa


@pytest.fixture(scope="module", autouse=True)
def _warm_kernels() -> None:
    """Compile (or load from the numba cache) the kernels of this module once."""
    variance_moments(0.02, 0.1, *DEFAULT[:5])
    vix_future([0.02], 0.1, *DEFAULT)
    vix_model_vol([0.02], 0.1, *DEFAULT)
    spx_atm_vol([0.02], 0.1, MODEL.kappa, MODEL.theta, *DEFAULT[3:], 0.95)
    vix_option_vol([20.0], 20.0, 0.1, 1.0, 1.0, 0.6, 0.2, 3.0)
    vix_option_price([20.0], 20.0, 0.1, 0.04, 1.0, 1.0, 0.6, 0.2, 3.0, True)


# Dynamics over wide but valid ranges: (kappa, theta, xi, lambda, mu_v, jump term).
variances = st.floats(0.0, 2.0)
dynamics = st.tuples(
    st.floats(0.0, 20.0), st.floats(0.0, 0.3), st.floats(0.0, 2.0),
    st.floats(0.0, 5.0), st.floats(0.0, 0.3), st.floats(0.0, 0.02),
)
#: Same, with kappa bounded away from 0 so that theta* is finite.
reverting = st.tuples(
    st.floats(0.05, 20.0), st.floats(0.005, 0.3), st.floats(0.0, 2.0),
    st.floats(0.0, 5.0), st.floats(0.0, 0.3), st.floats(0.0, 0.02),
)



@st.composite
def feller_dynamics(draw):
    """Mean-reverting dynamics with ``xi^2 <= 2 kappa theta`` (Feller condition)."""
    kappa, theta = draw(st.floats(0.05, 20.0)), draw(st.floats(0.005, 0.3))
    xi = draw(st.floats(0.0, 1.0)) * math.sqrt(2.0 * kappa * theta)
    return (kappa, theta, xi, draw(st.floats(0.0, 5.0)), draw(st.floats(0.0, 0.3)),
            draw(st.floats(0.0, 0.02)))


#: Dynamics for the shape of the futures curve: the default model (which
#: violates the Feller condition) or any dynamics that satisfies it. Far from
#: Feller (xi^2 >> 2 kappa theta) the variance of v_T can overshoot its
#: stationary level and the convexity correction then bends the curve both
#: ways: e.g. kappa = 2, theta = 0.0078, xi = 2, no jumps, v = 2 theta* gives a
#: curve that falls and then rises by 1e-5 points; v = 0 with kappa = 1,
#: theta = 0.0156, xi = 1 gives one that rises, dips by 2e-3 and rises again.
curve_dynamics = st.one_of(st.just(DEFAULT), feller_dynamics())


def _vix_loading(params) -> float:
    """``a = (1 - e^{-kappa tau})/(kappa tau)``, the weight of ``v`` in VIX^2."""
    kappa, theta, _xi, lam, mu_v, jump = params
    return (vix_squared_one(1.0, kappa, theta, lam, mu_v, jump)
            - vix_squared_one(0.0, kappa, theta, lam, mu_v, jump))


def _theta_star(params) -> float:
    kappa, theta, _xi, lam, mu_v, _jump = params
    return theta + lam * mu_v / kappa


# ---------------------------------------------------------------------------
# Conditional moments of the variance
# ---------------------------------------------------------------------------


@FAST
@given(variances, st.floats(0.0, 3.0), st.floats(1e-3, 20.0), st.floats(0.0, 0.3),
       st.floats(0.0, 2.0))
def test_moments_without_jumps_are_the_cir_moments(v, h, kappa, theta, xi):
    mean, var = variance_moments_one(v, h, kappa, theta, xi, 0.0, 0.0)
    # The textbook CIR moments, with 1 - e^{-kappa h} by expm1 to keep its digits.
    e, one_minus_e = math.exp(-kappa * h), -math.expm1(-kappa * h)
    cir_mean = theta + (v - theta) * e
    cir_var = (v * xi**2 * e * one_minus_e / kappa
               + theta * xi**2 * one_minus_e**2 / (2 * kappa))
    assert mean == pytest.approx(cir_mean, rel=1e-12, abs=1e-15)
    assert var == pytest.approx(cir_var, rel=1e-9, abs=1e-16)


@FAST
@given(variances, st.floats(0.01, 2.0), dynamics)
def test_moments_solve_their_ode(v, h, params):
    # d E[v]/dt = kappa (theta - E[v]) + lambda mu_v and
    # d Var/dt = -2 kappa Var + xi^2 E[v] + lambda E[J^2], E[J^2] = 2 mu_v^2
    # (Ito on v and v^2 with the compensated jump measure), integrated numerically.
    kappa, theta, xi, lam, mu_v, _jump = params

    def rhs(_t, y):
        return [kappa * (theta - y[0]) + lam * mu_v,
                -2.0 * kappa * y[1] + xi**2 * y[0] + 2.0 * lam * mu_v**2]

    sol = solve_ivp(rhs, (0.0, h), [v, 0.0], rtol=1e-11, atol=1e-14, method="DOP853")
    mean, var = variance_moments_one(v, h, kappa, theta, xi, lam, mu_v)
    assert mean == pytest.approx(sol.y[0, -1], rel=1e-8, abs=1e-12)
    assert var == pytest.approx(sol.y[1, -1], rel=1e-7, abs=1e-12)


def test_moments_at_kappa_zero_and_across_the_series_cutoff():
    v, h, theta, xi, lam, mu_v = 0.02, 0.5, 0.035, 0.6, 0.5, 0.04
    mean, var = variance_moments_one(v, h, 0.0, theta, xi, lam, mu_v)
    assert mean == pytest.approx(v + lam * mu_v * h, rel=1e-15)
    expected = xi**2 * v * h + lam * mu_v * xi**2 * h**2 / 2 + 2 * lam * mu_v**2 * h
    assert var == pytest.approx(expected, rel=1e-15)
    cutoff = 1e-8 / h
    below = variance_moments_one(v, h, cutoff * (1 - 1e-9), theta, xi, lam, mu_v)
    above = variance_moments_one(v, h, cutoff * (1 + 1e-9), theta, xi, lam, mu_v)
    np.testing.assert_allclose(below, above, rtol=1e-13)
    tiny = variance_moments_one(v, h, 1e-300, theta, xi, lam, mu_v)
    np.testing.assert_allclose(tiny, (mean, var), rtol=1e-14)


@FAST
@given(variances, reverting)
def test_moments_tend_to_the_stationary_law(v, params):
    kappa, theta, xi, lam, mu_v, _jump = params
    theta_star = _theta_star(params)
    mean, var = variance_moments_one(v, 60.0 / kappa, kappa, theta, xi, lam, mu_v)
    assert mean == pytest.approx(theta_star, rel=1e-12, abs=1e-15)
    stationary = xi**2 * theta_star / (2 * kappa) + lam * mu_v**2 / kappa
    assert var == pytest.approx(stationary, rel=1e-12, abs=1e-18)


def test_moments_wrapper_broadcasts_and_rejects_negative_input():
    h = np.array([0.0, 0.1, 1.0])
    mean, var = variance_moments(np.array([[0.01], [0.04]]), h, *DEFAULT[:5])
    assert mean.shape == var.shape == (2, 3)
    assert mean[0, 0] == 0.01 and var[0, 0] == 0.0
    assert mean[1, 2] == variance_moments_one(0.04, 1.0, *DEFAULT[:5])[0]
    scalar_mean, _ = variance_moments(0.04, 1.0, *DEFAULT[:5])
    assert isinstance(scalar_mean, np.float64)
    with pytest.raises(ValueError, match="h must be >= 0"):
        variance_moments(0.04, -1.0, *DEFAULT[:5])


# ---------------------------------------------------------------------------
# VIX futures
# ---------------------------------------------------------------------------


@THOROUGH
@given(variances, dynamics)
def test_future_at_expiry_is_the_vix_index_exactly(v, params):
    kappa, theta, _xi, lam, mu_v, jump = params
    index = vix_from_variance_one(v, kappa, theta, lam, mu_v, jump, VIX_TAU)
    assert vix_future_one(v, 0.0, *params) == index
    assert vix_future(v, 0.0, *params) == index


@FAST
@given(st.floats(1e-3, 2.0), dynamics)
def test_front_future_converges_to_the_vix_index_at_the_model_slope(v, params):
    # F(T) = VIX + T dF/dT(0) + O(T^2) with dF/dT(0) = F0 (m'/(2 m0) - s2'/(8 m0^2)),
    # m' = a (kappa theta + lambda mu_v - kappa v), s2' = a^2 (xi^2 v + 2 lambda mu_v^2).
    # (The convergence is not uniform as v -> 0, where s2'/m0^2 blows up.)
    kappa, theta, _xi, lam, mu_v, jump = params
    index = vix_from_variance_one(v, kappa, theta, lam, mu_v, jump, VIX_TAU)
    m0 = (index / 100.0) ** 2
    slope = index * _front_slope_sign(v, params) * _vix_loading(params) / (8.0 * m0 * m0)
    T = 1e-9
    assert (vix_future_one(v, T, *params) - index) / T == pytest.approx(
        slope, rel=1e-2, abs=1e-5 * index / T * 1e-9)


@FAST
@given(variances, reverting)
def test_long_dated_future_tends_to_the_convexity_corrected_long_run_level(v, params):
    kappa, _theta, xi, lam, mu_v, jump = params
    theta_star = _theta_star(params)
    loading = _vix_loading(params)
    m = theta_star + jump
    s2 = loading**2 * (xi**2 * theta_star / (2 * kappa) + lam * mu_v**2 / kappa)
    expected = 100.0 * math.sqrt(m) * (1.0 + s2 / m**2) ** -0.125 if m > 0 else 0.0
    assert vix_future_one(v, 60.0 / kappa, *params) == pytest.approx(expected, rel=1e-10)


@THOROUGH
@given(variances, st.floats(0.0, 5.0), dynamics)
def test_future_is_below_the_root_of_expected_vix_squared(v, T, params):
    m, s2 = vix_squared_moments_one(v, T, *params)
    future = vix_future_one(v, T, *params)
    assert s2 >= 0.0
    assert 0.0 <= future <= 100.0 * math.sqrt(m) * (1.0 + 1e-15)
    if m > 0.0 and s2 > 1e-12 * m * m:
        assert future < 100.0 * math.sqrt(m)


EXPIRIES = np.concatenate([[0.0], np.geomspace(1e-4, 5.0, 200)])


@FAST
@given(st.floats(0.0, 0.999), st.floats(1.001, 10.0), reverting)
def test_expected_vix_squared_is_in_contango_below_and_backwardation_above_theta_star(
        below, above, params):
    theta_star = _theta_star(params)
    for share, sign in ((below, 1.0), (above, -1.0)):
        m = np.array([vix_squared_moments_one(share * theta_star, T, *params)[0]
                      for T in EXPIRIES])
        slope = sign * np.diff(m)
        assert (slope >= -1e-14 * m[1:]).all()
        assert slope[0] > 0.0


@THOROUGH
@given(st.floats(1.0001, 10.0), curve_dynamics)
def test_futures_are_in_backwardation_above_theta_star(share, params):
    futures = vix_future(share * _theta_star(params), EXPIRIES, *params)
    # Strictly decreasing up to rounding once the curve has converged.
    assert (np.diff(futures) <= 1e-12 * futures[1:]).all()
    assert futures[1] < futures[0]


def _front_slope_sign(v, params) -> float:
    """Sign of dF/dT at T = 0: ``4 m_0 kappa (theta* - v) - a (xi^2 v + 2 lambda mu_v^2)``.

    From ``d ln F / dT = m'/(2 m) - s2'/(8 m^2)`` at ``T = 0``, with
    ``m' = a kappa (theta* - v)`` and ``s2' = a^2 (xi^2 v + 2 lambda mu_v^2)``.
    """
    kappa, theta, xi, lam, mu_v, jump = params
    loading = _vix_loading(params)
    m0 = vix_squared_one(v, kappa, theta, lam, mu_v, jump)
    return (4.0 * m0 * (kappa * theta + lam * mu_v - kappa * v)
            - loading * (xi**2 * v + 2.0 * lam * mu_v**2))


@THOROUGH
@given(st.floats(0.0, 0.9999), curve_dynamics)
def test_futures_are_in_contango_below_theta_star_where_the_front_slopes_up(share, params):
    # Below theta* the drift of VIX^2 pushes the curve up and the convexity
    # correction, growing with T, pulls it down: the curve is in contango
    # where the front slopes up (for the default model, v below ~0.021).
    v = share * _theta_star(params)
    assume(_front_slope_sign(v, params) > 0.0)
    futures = vix_future(v, EXPIRIES, *params)
    assert (np.diff(futures) >= -1e-12 * futures[1:]).all()
    assert futures[-1] > futures[0]


def test_far_from_feller_the_curve_can_bend_both_ways():
    # Above theta*, xi^2 = 4 >> 2 kappa theta = 0.03: falls, then rises by ~1e-5 points.
    params = (2.0, 0.0078125, 2.0, 0.0, 0.0, 0.015625)
    futures = vix_future(2.0 * _theta_star(params), EXPIRIES, *params)
    assert futures[1] < futures[0] and np.diff(futures).max() > 1e-6
    # At v = 0, xi^2 = 1 >> 0.03: the front slopes up (Var[v_T] grows like T^2
    # there), then the curve dips by ~2e-3 points and rises again.
    params = (1.0, 0.015625, 1.0, 0.0, 0.0, 0.0)
    assert _front_slope_sign(0.0, params) > 0.0
    futures = vix_future(0.0, EXPIRIES, *params)
    assert futures[-1] > futures[0] and np.diff(futures).min() < -1e-3


def test_without_a_premium_the_default_models_front_inverts_below_theta_star():
    # A property of the model, not a bug: with no variance risk premium (Q = P)
    # the convexity correction outweighs the drift of VIX^2 at the front for v
    # above ~0.021 (VIX ~16), though v = 0.03 is below theta* = 0.04. The curve
    # dips (to ~18.04 near 24 days) and then rises to its long-run level ~18.97.
    v = 0.03
    assert MODEL.vol_risk_premium == 0.0 and MODEL.pricing_model() is MODEL
    assert v < THETA_STAR
    index = vix_from_variance_one(v, MODEL.kappa, MODEL.theta, MODEL.jump_intensity,
                                  MODEL.jump_variance_mean, DEFAULT[5])
    assert vix_future_one(v, 30.0 / 365.0, *DEFAULT) < index - 0.2
    assert _front_slope_sign(v, DEFAULT) < 0.0
    futures = vix_future(v, EXPIRIES, *DEFAULT)
    assert futures[1] < futures[0] and futures.min() < index - 0.2 < index < futures[-1]


def test_default_model_front_inverts_at_vix_16():
    # Pins the number reported above: the front slope changes sign at v ~ 0.021.
    assert _front_slope_sign(0.0209, DEFAULT) > 0.0 > _front_slope_sign(0.0211, DEFAULT)
    index = vix_from_variance(0.021, MODEL.kappa, MODEL.theta, MODEL.jump_intensity,
                              MODEL.jump_variance_mean, DEFAULT[5])
    assert 15.9 < float(index) < 16.1


# ---------------------------------------------------------------------------
# With a variance risk premium: the curve under the pricing measure Q
# ---------------------------------------------------------------------------

#: The default model with ``theta_Q = 2 theta`` (``kappa_Q = kappa / 2``).
PREMIUM_MODEL = dataclasses.replace(MODEL, vol_risk_premium=MODEL.kappa / 2.0)
PRICING = PREMIUM_MODEL.pricing_model()
#: Its Q dynamics in the order the kernels take them after ``(v, T)``.
Q_DYNAMICS = (PRICING.kappa, PRICING.theta, PRICING.xi, PRICING.jump_intensity,
              PRICING.jump_variance_mean, _jump_term(PRICING))
THETA_STAR_Q = _theta_star(Q_DYNAMICS)


def test_pricing_model_is_hestons_market_price_of_volatility_risk():
    # kappa_Q = kappa + lambda_v, theta_Q = kappa theta / kappa_Q, lambda_v = -premium
    # (Heston 1993): xi, rho and the jumps are the same under Q.
    assert PRICING.kappa == 2.0 and PRICING.theta == pytest.approx(2.0 * MODEL.theta,
                                                                    rel=1e-15)
    assert PRICING.kappa * PRICING.theta == pytest.approx(MODEL.kappa * MODEL.theta, rel=1e-15)
    assert PRICING.vol_risk_premium == 0.0 and PRICING.pricing_model() is PRICING
    unchanged = {"kappa", "theta", "vol_risk_premium"}
    for f in dataclasses.fields(MarketModel):
        if f.name not in unchanged:
            assert getattr(PRICING, f.name) == getattr(PREMIUM_MODEL, f.name), f.name
    assert THETA_STAR_Q == pytest.approx(0.08, rel=1e-12)  # 0.07 + lambda mu_v / kappa_Q
    negative = dataclasses.replace(MODEL, vol_risk_premium=-4.0).pricing_model()
    assert negative.kappa == 8.0 and negative.theta == pytest.approx(MODEL.theta / 2)
    with pytest.raises(ValueError, match=r"kappa - vol_risk_premium .* 4.0 - 4.0 = 0.0"):
        dataclasses.replace(MODEL, vol_risk_premium=4.0).pricing_model()


@FAST
@given(variances, st.floats(-20.0, 3.99), st.floats(-20.0, 3.99))
def test_the_vix_index_rises_with_the_premium(v, premium_a, premium_b):
    # VIX^2 = a(kappa_Q) v + (kappa theta + lambda mu_v) c(kappa_Q) + jump term with
    # kappa_Q theta_Q = kappa theta fixed: a and c both fall as kappa_Q rises, so
    # a larger premium (smaller kappa_Q) gives a larger VIX in every state.
    low, high = sorted((premium_a, premium_b))
    index = []
    for premium in (low, high):
        q = dataclasses.replace(MODEL, vol_risk_premium=premium).pricing_model()
        index.append(vix_from_variance_one(v, q.kappa, q.theta, q.jump_intensity,
                                           q.jump_variance_mean, DEFAULT[5]))
    assert index[1] >= index[0] * (1.0 - 1e-14)
    if high - low > 1e-3:
        assert index[1] > index[0]


@THOROUGH
@given(st.floats(0.0, 1.0))
def test_with_a_premium_the_curve_is_in_contango_up_to_the_real_world_theta(share):
    # v <= theta (the P long-run mean of the diffusive variance) sits well below
    # theta*_Q = 0.08: the Q drift now outweighs the convexity correction.
    v = share * MODEL.theta
    futures = vix_future(v, EXPIRIES, *Q_DYNAMICS)
    assert (np.diff(futures) >= -1e-12 * futures[1:]).all()
    assert futures[1] > futures[0] and futures[-1] > futures[0] + 3.0
    assert _front_slope_sign(v, Q_DYNAMICS) > 0.0


@THOROUGH
@given(st.floats(2.0, 20.0))
def test_with_a_premium_the_curve_is_in_backwardation_above_twice_theta_star_q(share):
    futures = vix_future(share * THETA_STAR_Q, EXPIRIES, *Q_DYNAMICS)
    assert (np.diff(futures) <= 1e-12 * futures[1:]).all()
    assert futures[-1] < futures[0]


def test_a_premium_of_theta_q_one_and_a_half_theta_still_dips_at_theta():
    # theta_Q = 1.5 theta (premium kappa / 3) is not enough for contango up to
    # theta: the front dips for v above ~0.030 (v = theta = 0.035: by ~0.02 points).
    q = dataclasses.replace(MODEL, vol_risk_premium=MODEL.kappa / 3.0).pricing_model()
    params = (q.kappa, q.theta, q.xi, q.jump_intensity, q.jump_variance_mean, DEFAULT[5])
    assert _front_slope_sign(0.029, params) > 0.0 > _front_slope_sign(MODEL.theta, params)
    futures = vix_future(MODEL.theta, EXPIRIES, *params)
    assert futures.min() < futures[0] - 0.01 and futures[-1] > futures[0] + 2.0


@FAST
@given(st.floats(1e-3, 1.0))
def test_with_a_premium_the_front_future_converges_to_the_q_vix_index(v):
    index = vix_from_variance_one(v, PRICING.kappa, PRICING.theta, PRICING.jump_intensity,
                                  PRICING.jump_variance_mean, DEFAULT[5])
    assert vix_future_one(v, 0.0, *Q_DYNAMICS) == index
    for T in (1e-6, 1e-4):
        assert abs(vix_future_one(v, T, *Q_DYNAMICS) - index) < 1e3 * T * index
    # ... and not to the P index, which is lower.
    assert index > vix_from_variance_one(v, MODEL.kappa, MODEL.theta, MODEL.jump_intensity,
                                         MODEL.jump_variance_mean, DEFAULT[5])


def test_future_wrapper_matches_kernel_and_twin_and_validates():
    v = np.linspace(0.0, 0.5, 6).reshape(2, 3)
    futures = vix_future(v[..., None], np.array([0.0, 0.05, 0.5]), *DEFAULT)
    assert futures.shape == (2, 3, 3)
    for (i, j, k), value in np.ndenumerate(futures):
        T = (0.0, 0.05, 0.5)[k]
        assert value == vix_future_one(v[i, j], T, *DEFAULT)
        assert vix_future_one.py_func(v[i, j], T, *DEFAULT) == pytest.approx(value, rel=1e-13)
    assert math.isnan(vix_future(np.nan, 0.1, *DEFAULT))
    with pytest.raises(ValueError, match="xi must be >= 0"):
        vix_future(0.02, 0.1, 4.0, 0.035, -0.1, 0.5, 0.04, 0.0)


# ---------------------------------------------------------------------------
# The model's vol of VIX
# ---------------------------------------------------------------------------


@THOROUGH
@given(variances, st.floats(1e-6, 5.0), dynamics)
def test_model_vol_is_the_log_ratio_of_the_first_two_moments(v, T, params):
    m, _s2 = vix_squared_moments_one(v, T, *params)
    assume(m > 1e-6)
    future = vix_future_one(v, T, *params) / 100.0
    vol = vix_model_vol_one(v, T, *params)
    assert math.isfinite(vol) and vol >= 0.0
    assert vol**2 * T == pytest.approx(math.log(m / future**2), rel=1e-9, abs=1e-15)


def test_model_vol_is_zero_without_vol_of_variance_or_jumps():
    assert vix_model_vol_one(0.02, 0.1, 4.0, 0.035, 0.0, 0.0, 0.04, 0.0) == 0.0
    assert vix_model_vol_one(0.02, 0.0, 4.0, 0.035, 0.0, 0.0, 0.04, 0.0) == 0.0
    # m = 0: no variance now, none to come.
    assert vix_model_vol_one(0.0, 0.1, 4.0, 0.0, 0.6, 0.0, 0.04, 0.0) == 0.0


@FAST
@given(st.floats(1e-3, 2.0), dynamics)
def test_model_vol_is_continuous_at_its_short_expiry_limit(v, params):
    # sigma(T)^2 = sigma_0^2 + O(T) needs the linear growth of Var[v_T]
    # (xi^2 v + 2 lambda mu_v^2) to dominate its T^2 term
    # (xi^2 (kappa theta + lambda mu_v) T / 2) and s2/m^2 ~ 4 sigma_0^2 T to be
    # small; v >= 1e-3 and sigma_0 < 100 ensure both at T = 1e-7. As v -> 0
    # the limit is not uniform (at v = 0 without jumps sigma grows like sqrt(T)).
    limit = vix_model_vol_one(v, 0.0, *params)
    assume(limit < 100.0)
    assert vix_model_vol_one(v, 0.999e-10, *params) == limit
    assert vix_model_vol_one(v, 1.001e-10, *params) == pytest.approx(limit, rel=1e-5)
    assert vix_model_vol_one(v, 1e-7, *params) == pytest.approx(limit, rel=1e-2)


def test_model_vol_of_the_default_model():
    # Short expiries carry the instantaneous vol of VIX, which mean reversion damps.
    vols = vix_model_vol(0.02, np.array([0.0, 1 / 365, 30 / 365, 1.0]), *DEFAULT)
    assert (np.diff(vols) < 0).all()
    assert 1.0 < vols[2] < 1.3


# ---------------------------------------------------------------------------
# VIX options
# ---------------------------------------------------------------------------

# The kernels' properties are tested with a skew on (the default is 0, no skew):
# the skew and the soft cap are what could break monotonicity and convexity.
SKEWED = VixSpec(option_skew=0.6)
VIX_SPEC_ARGS = (SKEWED.option_vol_scale, SKEWED.option_skew, SKEWED.min_option_vol,
                 SKEWED.max_option_vol)


def _vix_chain(v, T):
    """Future, model vol and a 0.5-point strike grid from F/2 to 3F for one state."""
    F = vix_future_one(v, T, *DEFAULT)
    model_vol = vix_model_vol_one(v, T, *DEFAULT)
    strikes = np.arange(0.5 * math.ceil(F), 3.0 * F, 0.5)
    return F, model_vol, strikes


@THOROUGH
@given(st.floats(0.0, 1.0), st.floats(1.0, 180.0), st.floats(0.0, 3.0), st.floats(-0.02, 0.1))
def test_vix_option_put_call_parity(v, days, moneyness, r):
    T = days / 365.0
    F = vix_future_one(v, T, *DEFAULT)
    K = F * moneyness
    model_vol = vix_model_vol_one(v, T, *DEFAULT)
    call = vix_option_price_one(K, F, T, r, model_vol, *VIX_SPEC_ARGS, True)
    put = vix_option_price_one(K, F, T, r, model_vol, *VIX_SPEC_ARGS, False)
    assert call - put == pytest.approx(math.exp(-r * T) * (F - K), abs=1e-12 * (F + K))
    vol = vix_option_vol_one(K, F, T, model_vol, *VIX_SPEC_ARGS)
    assert call == black76_price(F, K, T, r, vol, True)


@THOROUGH
@given(st.floats(0.0, 1.0), st.floats(1.0, 180.0))
def test_vix_calls_decrease_and_are_convex_in_strike(v, days):
    # On every state, the soft max_option_vol cap included (see the next test).
    T = days / 365.0
    F, model_vol, strikes = _vix_chain(v, T)
    calls = vix_option_price(strikes, F, T, MODEL.rate, model_vol, *VIX_SPEC_ARGS, True)
    tol = 1e-12 * F
    assert (np.diff(calls) <= tol).all()
    assert (np.diff(calls, 2) >= -tol).all()


def test_vix_calls_are_convex_in_strike_across_the_max_vol_clip():
    # VIX ~10 and 5 days: the model vol is ~1.85 and the skewed vol reaches
    # max_option_vol = 3 near K = 2.8 F. A hard clip there made the call price
    # concave in strike (a butterfly of ~1e-4 index points on this 0.5-point grid);
    # the soft clip spreads the turn over its blend and leaves none.
    # A stated VIX skew of 0.6 (the default is 0, under which the cap does not bind).
    spec = VixSpec(option_skew=0.6)
    args = (spec.option_vol_scale, spec.option_skew, spec.min_option_vol, spec.max_option_vol)
    v, T = 0.001, 5.0 / 365.0
    F, model_vol, strikes = _vix_chain(v, T)
    skewed = spec.option_vol_scale * model_vol * (1.0 + spec.option_skew * np.log(strikes / F))
    assert skewed.max() > spec.max_option_vol  # the cap binds on this grid
    vols = vix_option_vol(strikes, F, T, model_vol, *args)
    blend = CLIP_BLEND * (spec.max_option_vol - spec.min_option_vol)
    assert spec.max_option_vol - blend < vols.max() < spec.max_option_vol
    calls = vix_option_price(strikes, F, T, MODEL.rate, model_vol, *args, True)
    assert (np.diff(calls, 2) >= -1e-12 * F).all()
    # The hard clip on the same grid: the butterfly the soft clip removes.
    hard = np.clip(skewed, spec.min_option_vol, spec.max_option_vol)
    hard_calls = black76_price(F, strikes, T, MODEL.rate, hard, True)
    assert np.diff(hard_calls, 2).min() < -1e-5


@THOROUGH
@given(st.floats(-20.0, 20.0), st.floats(0.01, 5.0), st.floats(0.0, 10.0))
def test_soft_clip_is_a_monotone_c1_saturation(x, lo, width):
    hi = lo + width
    w = CLIP_BLEND * width
    y = soft_clip(x, lo, hi)
    assert lo <= y <= hi
    assert y == soft_clip.py_func(x, lo, hi)
    if lo + w <= x <= hi - w:
        assert y == x
    if x <= lo - w:
        assert y == lo
    if x >= hi + w:
        assert y == hi
    # Monotone, with a slope in [0, 1] (a central difference, step h).
    h = 1e-6 * max(w, 1e-3)
    slope = (soft_clip(x + h, lo, hi) - soft_clip(x - h, lo, hi)) / (2.0 * h)
    assert -1e-6 <= slope <= 1.0 + 1e-6


@pytest.mark.parametrize("edge", ["lo - w", "lo + w", "hi - w", "hi + w"])
def test_soft_clip_value_and_slope_are_continuous_at_the_blend_edges(edge):
    lo, hi = SPEC.min_option_vol, SPEC.max_option_vol
    w = CLIP_BLEND * (hi - lo)
    x = {"lo - w": lo - w, "lo + w": lo + w, "hi - w": hi - w, "hi + w": hi + w}[edge]
    expected_slope = 0.0 if edge in ("lo - w", "hi + w") else 1.0
    h = 1e-7
    left = (soft_clip(x, lo, hi) - soft_clip(x - h, lo, hi)) / h
    right = (soft_clip(x + h, lo, hi) - soft_clip(x, lo, hi)) / h
    assert left == pytest.approx(expected_slope, abs=1e-6)
    assert right == pytest.approx(expected_slope, abs=1e-6)
    assert soft_clip(np.inf, lo, hi) == hi and soft_clip(-np.inf, lo, hi) == lo
    assert math.isnan(soft_clip(np.nan, lo, hi))
    assert soft_clip(5.0, lo, np.inf) == 5.0 and soft_clip(0.1, lo, np.inf) == lo


@THOROUGH
@given(st.floats(0.0, 200.0), st.floats(0.1, 100.0), st.floats(0.0, 5.0), st.floats(0.1, 3.0),
       st.floats(0.0, 5.0), st.floats(0.01, 1.0), st.floats(0.0, 10.0))
def test_vix_option_vol_is_clipped_and_skewed_upward(K, F, model_vol, scale, skew, lo, width):
    hi = lo + width
    strikes = np.array([K, K * 1.01 + 0.01])
    vols = vix_option_vol(strikes, F, 0.1, model_vol, scale, skew, lo, hi)
    assert (lo <= vols).all() and (vols <= hi).all()
    assert vols[1] >= vols[0]
    # Strictly increasing off the bounds; the relative margin keeps away from the ends
    # of the soft clip's blends, where its slope -> 0 and a step can round to nothing.
    inside = lo * (1.0 + 1e-9) < vols[0] and vols[1] < hi * (1.0 - 1e-9)
    if skew > 1e-6 and model_vol > 1e-6 and inside and K > 0.0:
        assert vols[1] > vols[0]


def test_vix_option_vol_degenerate_inputs():
    # K <= 0 reads as ln(K/F) = -inf (the K -> 0 limit); the price does not depend on it.
    assert vix_option_vol_one(0.0, 20.0, 0.1, 1.0, 1.0, 0.6, 0.2, 3.0) == 0.2
    assert vix_option_vol_one(-1.0, 20.0, 0.1, 1.0, 1.0, 0.0, 0.2, 3.0) == 1.0
    assert vix_option_vol_one(10.0, 0.0, 0.1, 1.0, 1.0, 0.6, 0.2, 3.0) == 3.0
    assert math.isnan(vix_option_vol_one(np.nan, 20.0, 0.1, 1.0, 1.0, 0.6, 0.2, 3.0))
    assert vix_option_vol_one(10.0, 20.0, 0.1, 1.0, 1.0, 5.0, 0.2, 3.0) == 0.2
    with pytest.raises(ValueError, match="min_vol"):
        vix_option_vol(20.0, 20.0, 0.1, 1.0, 1.0, 0.6, 3.0, 0.2)
    with pytest.raises(ValueError, match="F must be >= 0"):
        vix_option_price(20.0, -1.0, 0.1, 0.04, 1.0, 1.0, 0.6, 0.2, 3.0, True)


# ---------------------------------------------------------------------------
# SPX ATM term structure and the smile on top of it
# ---------------------------------------------------------------------------

ATM_ARGS = (MODEL.kappa, MODEL.theta, MODEL.jump_intensity, MODEL.jump_variance_mean,
            DEFAULT[5], SMILE.atm_vix_ratio)
SMILE_ARGS = (SMILE.skew, SMILE.curvature, SMILE.max_moneyness, SMILE.min_vol, SMILE.max_vol)


@FAST
@given(variances, dynamics, st.floats(0.1, 3.0))
def test_atm_vol_at_30_days_is_the_vix_rule(v, params, ratio):
    kappa, theta, _xi, lam, mu_v, jump = params
    vix = vix_from_variance_one(v, kappa, theta, lam, mu_v, jump, VIX_TAU)
    atm = spx_atm_vol_one(v, VIX_TAU, kappa, theta, lam, mu_v, jump, ratio)
    assert atm == pytest.approx(ratio * vix / 100.0, rel=1e-15, abs=1e-300)


def test_atm_vol_floors_expiry_at_one_hour_and_tends_to_spot_vol():
    v = 0.04
    at_floor = spx_atm_vol_one(v, MIN_ATM_T, *ATM_ARGS)
    assert spx_atm_vol_one(v, 0.0, *ATM_ARGS) == at_floor
    assert spx_atm_vol_one(v, MIN_ATM_T / 7, *ATM_ARGS) == at_floor
    spot_vol = SMILE.atm_vix_ratio * math.sqrt(v + DEFAULT[5])
    assert at_floor == pytest.approx(spot_vol, rel=1e-4)
    assert math.isnan(spx_atm_vol_one(v, np.nan, *ATM_ARGS))
    with pytest.raises(ValueError, match="T must be >= 0"):
        spx_atm_vol(v, -1.0, *ATM_ARGS)


def _spx_calls(v, days, spot):
    """Call prices on the 5-point strike grid from 0.5 to 1.5 x spot."""
    T = days / 365.0
    r, q = MODEL.rate, MODEL.dividend_yield
    forward = spot * math.exp((r - q) * T)
    atm = spx_atm_vol_one(v, T, *ATM_ARGS)
    strikes = np.arange(5.0 * math.ceil(0.5 * spot / 5.0), 1.5 * spot + 5.0, 5.0)
    vols = smile_vol(strikes, forward, T, atm, *SMILE_ARGS)
    return bs_price(spot, strikes, T, r, q, vols, True)


@THOROUGH
@given(st.floats(0.0, 1.0), st.floats(1.0, 60.0), st.floats(1000.0, 10_000.0))
def test_spx_calls_decrease_and_are_convex_on_the_traded_strikes(v, days, spot):
    calls = _spx_calls(v, days, spot)
    tol = 1e-10 * spot
    assert (np.diff(calls) <= tol).all()
    assert (np.diff(calls, 2) >= -tol).all()


@THOROUGH
@given(st.floats(0.0, 2.0), st.floats(0.0, 60.0), st.floats(0.01, 30.0), dynamics,
       st.floats(0.1, 3.0))
def test_atm_total_variance_increases_with_expiry(v, days, extra_days, params, ratio):
    kappa, theta, _xi, lam, mu_v, jump = params
    near, far = days / 365.0, (days + extra_days) / 365.0
    total = []
    for T in (near, far):
        atm = spx_atm_vol_one(v, T, kappa, theta, lam, mu_v, jump, ratio)
        # The smile's vol at the forward (x = 0) is its clipped ATM vol.
        vol = smile_vol(100.0, 100.0, T, atm, *SMILE_ARGS)
        total.append(vol**2 * T)
    assert total[1] >= total[0] * (1.0 - 1e-13)
