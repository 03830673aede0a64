"""The variance risk premium: P paths, Q prices.

``vol_risk_premium`` moves the variance dynamics of prices to the pricing
measure Q (``kappa_Q = kappa - premium``, ``theta_Q = kappa theta / kappa_Q``;
Heston 1993) and leaves the simulated paths alone: the same seed gives the
same spot, variance, jumps, regimes and breadth bit for bit, and only the
VIX, a price, moves. The per-path ``*_for`` helpers of
``sim.market.term_structure`` price with each path's Q parameters.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pricing.vix import spx_atm_vol, vix_from_variance, vix_future, vix_model_vol
from sim.config import MarketModel, RegimeChain, RegimeParams
from sim.market import generate
from sim.market.heston import vix_jump_term
from sim.market.term_structure import (
    PRICING_PARAMETERS,
    pricing_parameters,
    spx_atm_vol_for,
    vix_futures,
    vix_futures_for,
    vix_option_model_vol_for,
)
from tests.market.models import four_regime_model

DAY = 7 / (5 * 365.25)
N_SE = 4.0
EXPIRIES = np.array([0.0, 7 / 365, 30 / 365, 0.25, 1.0])


def _with_premium(model: MarketModel, premium: float) -> MarketModel:
    return dataclasses.replace(model, vol_risk_premium=premium)


def _q_vix(variance: np.ndarray, q: MarketModel) -> np.ndarray:
    return vix_from_variance(variance, q.kappa, q.theta, q.jump_intensity,
                             q.jump_variance_mean, vix_jump_term(q))


# --- the pricing models -----------------------------------------------------------------------

def test_no_premium_is_no_change():
    model = four_regime_model()
    assert model.pricing_model() is model
    assert model.under_pricing_measure() is model
    assert model.pricing_models() == model.regime_models()


def test_each_regime_gets_its_own_pricing_dynamics():
    # calm: kappa 4 (inherited), its own premium 1; crisis: kappa 6, the [market] premium 0.5.
    chain = dataclasses.replace(four_regime_model().regimes, params=(
        RegimeParams(name="calm", theta=0.012, vol_risk_premium=1.0),
        RegimeParams(name="stressed", theta=0.06, xi=0.9),
        RegimeParams(name="crisis", theta=0.15, kappa=6.0, jump_intensity=6.0)))
    model = dataclasses.replace(four_regime_model(), regimes=chain, vol_risk_premium=0.5)
    kappa_theta = [(3.0, 0.016), (3.5, 4.0 * 0.035 / 3.5), (3.5, 4.0 * 0.06 / 3.5),
                   (5.5, 6.0 * 0.15 / 5.5)]
    for q, p, (kappa, theta) in zip(model.pricing_models(), model.regime_models(),
                                    kappa_theta, strict=True):
        assert q.kappa == kappa and q.theta == pytest.approx(theta, rel=1e-15)
        assert q.vol_risk_premium == 0.0
        assert (q.xi, q.rho, q.jump_intensity, q.jump_variance_mean, q.equity_premium) == (
            p.xi, p.rho, p.jump_intensity, p.jump_variance_mean, p.equity_premium)
    # The whole chain under Q has, regime by regime, the same dynamics.
    whole = model.under_pricing_measure()
    for a, b in zip(whole.regime_models(), model.pricing_models(), strict=True):
        assert {f: getattr(a, f) for f in ("kappa", "theta", "xi", "rho", "vol_risk_premium",
                                           "jump_intensity", "jump_variance_mean")} == {
            f: getattr(b, f) for f in ("kappa", "theta", "xi", "rho", "vol_risk_premium",
                                       "jump_intensity", "jump_variance_mean")}
    assert whole.under_pricing_measure() is whole  # no premium left anywhere


def test_a_regime_without_a_pricing_measure_is_refused_by_name():
    chain = RegimeChain(names=("a", "b"), transition=((0.5, 0.5), (0.5, 0.5)), initial="a",
                        params=(RegimeParams(name="b", kappa=1.0, vol_risk_premium=1.0),))
    model = MarketModel(regimes=chain)
    with pytest.raises(ValueError, match=r"regime 'b'.*kappa - vol_risk_premium"):
        model.pricing_models()
    with pytest.raises(ValueError, match=r"regime 'b'.*kappa - vol_risk_premium"):
        generate(model, 2, 2, DAY, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^market: kappa - vol_risk_premium"):
        generate(_with_premium(MarketModel(), 4.5), 2, 2, DAY, np.random.default_rng(0))


# --- paths under P, the VIX under Q -----------------------------------------------------------

@pytest.mark.parametrize("model", [MarketModel(), four_regime_model()],
                         ids=["one regime", "four regimes"])
def test_the_premium_changes_the_vix_and_nothing_else(model):
    without = generate(model, 300, 60, DAY, np.random.default_rng(2025))
    with_premium = generate(_with_premium(model, 0.5), 300, 60, DAY,
                            np.random.default_rng(2025))
    for f in dataclasses.fields(without):
        if f.name != "vix":
            np.testing.assert_array_equal(getattr(with_premium, f.name),
                                          getattr(without, f.name), err_msg=f.name)
    # A positive premium raises the VIX on every tick (kappa_Q theta_Q = kappa theta).
    assert (with_premium.vix > without.vix).all()
    # ... to the VIX of each regime's Q parameters.
    premium = _with_premium(model, 0.5)
    for r, q in enumerate(premium.pricing_models()):
        in_regime = with_premium.regime == r
        np.testing.assert_array_equal(with_premium.vix[in_regime],
                                      _q_vix(with_premium.variance[in_regime], q))


def test_discounted_spot_stays_a_martingale_under_a_premium():
    # The paths are those without a premium (previous test); checked here directly.
    model = _with_premium(MarketModel(), 2.0)
    n_steps = 50
    paths = generate(model, 20_000, n_steps, DAY, np.random.default_rng(53))
    discounted = paths.spot[-1] * math.exp(-(model.rate - model.dividend_yield) * n_steps * DAY)
    standard_error = discounted.std(ddof=1) / math.sqrt(discounted.size)
    assert abs(discounted.mean() - model.spot0) <= N_SE * standard_error


def test_the_vix_level_is_the_q_expectation_not_the_p_one():
    # Stationary means (one regime): E_P[v] = theta* = 0.04. Under Q with theta_Q =
    # 2 theta, VIX^2 = a_Q v + (1 - a_Q) theta*_Q + jump term averages a_Q 0.04 +
    # (1 - a_Q) 0.08 + jump term, above the no-premium a 0.04 + (1 - a) 0.04 + jump term.
    model = dataclasses.replace(_with_premium(MarketModel(), 2.0), variance0=0.04)
    paths = generate(model, 2000, 120, DAY, np.random.default_rng(7))
    q = model.pricing_model()
    a_q = -math.expm1(-q.kappa * 30 / 365) / (q.kappa * 30 / 365)
    jump = vix_jump_term(q)
    v = paths.variance[60:].ravel()
    expected = a_q * v.mean() + (1.0 - a_q) * 0.08 + jump
    np.testing.assert_allclose(np.mean((paths.vix[60:] / 100.0) ** 2), expected, rtol=1e-12)
    assert expected > 0.04 + jump + 0.1 * (1.0 - a_q) * 0.04


# --- the per-path pricing helpers -------------------------------------------------------------

def test_pricing_parameters_gather_each_paths_q_row():
    model = _with_premium(four_regime_model(), 1.0)
    regime = np.array([3, 0, 2, 2, 1])
    columns = pricing_parameters(model, regime)
    assert len(columns) == len(PRICING_PARAMETERS) == 6
    for path, r in enumerate(regime):
        q = model.pricing_models()[r]
        row = (q.kappa, q.theta, q.xi, q.jump_intensity, q.jump_variance_mean,
               vix_jump_term(q))
        assert tuple(c[path] for c in columns) == row
    with pytest.raises(ValueError, match=r"regime indices must be in 0..3"):
        pricing_parameters(model, np.array([0, 4]))
    with pytest.raises(ValueError, match="integer"):
        pricing_parameters(model, np.array([0.0, 1.0]))


@pytest.mark.parametrize("premium", [0.0, 1.5])
def test_futures_for_a_model_price_under_q_and_start_at_the_generators_vix(premium):
    model = _with_premium(four_regime_model(), premium)
    paths = generate(model, 200, 40, DAY, np.random.default_rng(11))
    tick = 30
    variance, regime = paths.variance[tick], paths.regime[tick]
    curve = vix_futures_for(model, variance, regime, EXPIRIES)
    assert curve.shape == (200, EXPIRIES.size)
    np.testing.assert_array_equal(curve[:, 0], paths.vix[tick])
    q_parameters = pricing_parameters(model, regime)
    np.testing.assert_array_equal(curve, vix_futures(variance, EXPIRIES, *q_parameters))
    vols = vix_option_model_vol_for(model, variance, regime, EXPIRIES)
    atm = spx_atm_vol_for(model, variance, regime, EXPIRIES, 0.95)
    for path in (0, 57, 199):
        q = model.pricing_models()[regime[path]]
        dynamics = (q.kappa, q.theta, q.xi, q.jump_intensity, q.jump_variance_mean,
                    vix_jump_term(q))
        np.testing.assert_array_equal(curve[path], vix_future(variance[path], EXPIRIES,
                                                              *dynamics))
        np.testing.assert_array_equal(vols[path], vix_model_vol(variance[path], EXPIRIES,
                                                                *dynamics))
        np.testing.assert_array_equal(atm[path], spx_atm_vol(
            variance[path], EXPIRIES, q.kappa, q.theta, q.jump_intensity,
            q.jump_variance_mean, dynamics[5], 0.95))
    # At 30 days the SPX ATM vol is the ratio times the generator's (Q) VIX.
    np.testing.assert_allclose(atm[:, 2], 0.95 * paths.vix[tick] / 100.0, rtol=1e-14)


def test_a_premium_lifts_the_whole_futures_curve():
    variance = np.array([0.0, 0.01, 0.035, 0.1, 0.5])
    regime = np.zeros(variance.size, dtype=np.int64)
    low = vix_futures_for(MarketModel(), variance, regime, EXPIRIES)
    high = vix_futures_for(_with_premium(MarketModel(), 2.0), variance, regime, EXPIRIES)
    assert (high > low).all()
    # A single-regime model takes a scalar regime as well.
    np.testing.assert_array_equal(vix_futures_for(MarketModel(), variance, 0, EXPIRIES), low)
