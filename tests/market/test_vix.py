"""VIX from the variance state (pricing.vix) and the jump term of the model.

Reference values were computed by hand with 30-digit arithmetic (mpmath):
``a = (1 - e^{-kappa tau}) / (kappa tau)``, ``tau = 30/365``.
"""

import dataclasses
import math

import numpy as np
import pytest

from pricing.vix import VIX_TAU, vix_from_variance, vix_from_variance_one
from sim.config import MarketModel
from sim.market.heston import vix_jump_term


def test_no_jumps_at_long_run_mean_gives_sqrt_theta():
    theta = 0.035
    vix = vix_from_variance(np.array([theta]), 4.0, theta, 0.0, 0.04, 0.0)
    np.testing.assert_allclose(vix, 100.0 * math.sqrt(theta), rtol=1e-14)


def test_at_effective_long_run_mean_with_jumps():
    # v = theta* = theta + lambda mu_v / kappa is a fixed point of E[v_s].
    kappa, theta, lam, mu_v, jump_term = 4.0, 0.035, 0.5, 0.04, 0.002
    theta_star = theta + lam * mu_v / kappa
    vix = vix_from_variance(theta_star, kappa, theta, lam, mu_v, jump_term)
    np.testing.assert_allclose(vix, 100.0 * math.sqrt(theta_star + jump_term), rtol=1e-14)


def test_hand_computed_value_without_jumps():
    # kappa tau = 60/365, a = 0.92213271852598..., VIX^2 = 0.03 + 0.01 a.
    vix = vix_from_variance(0.04, 2.0, 0.03, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(vix, 19.8043750684690496, rtol=1e-13)


def test_hand_computed_value_with_jumps_of_default_model():
    # Default MarketModel jumps: mbar = e^{-0.03 + 0.00045} / 1.02 - 1,
    # E[J] = -0.05, jump term = 2 * 0.5 * (mbar + 0.05) = 0.0018454238342701737.
    model = MarketModel()
    jump_term = vix_jump_term(model)
    assert jump_term == pytest.approx(0.0018454238342701737, rel=1e-13)
    vix = vix_from_variance(0.02, model.kappa, model.theta, model.jump_intensity,
                            model.jump_variance_mean, jump_term)
    np.testing.assert_allclose(vix, 15.748196769671453, rtol=1e-13)


def test_kappa_zero_limit():
    # avg = v + lambda mu_v tau / 2 when the variance does not mean-revert.
    jump_term = vix_jump_term(MarketModel())
    vix0 = vix_from_variance(0.02, 0.0, 0.035, 0.5, 0.04, jump_term)
    np.testing.assert_allclose(vix0, 15.055677215751323, rtol=1e-13)
    vix_small = vix_from_variance(0.02, 1e-9, 0.035, 0.5, 0.04, jump_term)
    np.testing.assert_allclose(vix_small, vix0, rtol=1e-9)


def test_series_and_closed_form_agree_at_the_cutoff():
    # kappa tau = 1e-2 is where the Taylor series for (1 - a)/kappa takes over.
    kappa = 1e-2 / VIX_TAU
    below = vix_from_variance(0.02, kappa * (1 - 1e-12), 0.035, 0.5, 0.04, 0.0)
    above = vix_from_variance(0.02, kappa * (1 + 1e-12), 0.035, 0.5, 0.04, 0.0)
    np.testing.assert_allclose(below, above, rtol=1e-11)


@pytest.mark.parametrize("kappa", [0.0, 0.5, 4.0, 100.0])
def test_vix_increases_with_variance(kappa):
    variance = np.linspace(0.0, 4.0, 401)
    vix = vix_from_variance(variance, kappa, 0.035, 0.5, 0.04, 0.002)
    assert (np.diff(vix) > 0).all()


def test_keeps_shape_and_matches_scalar_and_python_twin():
    variance = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    vix = vix_from_variance(variance, 4.0, 0.035, 0.5, 0.04, 0.002)
    assert vix.shape == (3, 4)
    for v, expected in zip(variance.ravel(), vix.ravel(), strict=True):
        assert vix_from_variance_one(v, 4.0, 0.035, 0.5, 0.04, 0.002) == expected
        assert vix_from_variance_one.py_func(v, 4.0, 0.035, 0.5, 0.04, 0.002, VIX_TAU) == (
            pytest.approx(expected, rel=1e-14)
        )


def test_rejects_bad_horizon():
    with pytest.raises(ValueError, match="tau"):
        vix_from_variance(0.04, 4.0, 0.035, 0.0, 0.0, 0.0, tau=0.0)


def test_jump_term_is_zero_without_jumps_and_rejects_infinite_moments():
    assert vix_jump_term(dataclasses.replace(MarketModel(), jump_intensity=0.0)) == 0.0
    # b * mu_v = 1: E[e^J] is infinite, but irrelevant without jumps.
    infinite = dataclasses.replace(MarketModel(), jump_spot_per_variance=10.0,
                                   jump_variance_mean=0.1)
    assert vix_jump_term(dataclasses.replace(infinite, jump_intensity=0.0)) == 0.0
    with pytest.raises(ValueError, match="jump_spot_per_variance"):
        vix_jump_term(infinite)
