"""Breadth: divergence episodes, net advances and the A/D line, its own random
stream, and the divergence switch.

Statistical checks use a fixed seed and 4 standard errors from independent
paths.
"""

import dataclasses
import math

import numpy as np
import pytest

from sim.config import BreadthSpec, MarketModel
from sim.market import generate
from sim.market.breadth import _tanh, divergence_episodes, net_advances
from sim.market.regimes import stress_mask
from tests.market.models import FOUR_REGIMES, four_regime_model

N_SE = 4.0
DAY = 7 / (5 * 365.25)
MARKET_FIELDS = ("spot", "variance", "vix", "jumps", "regime", "events")


def test_episodes_start_and_end_at_their_rates():
    spec = BreadthSpec(divergence_rate=12.0, divergence_days=10.0)
    n_paths, n_steps = 2000, 500
    divergence = divergence_episodes(spec, n_paths, n_steps, DAY, np.random.default_rng(41))
    assert divergence.dtype == np.bool_ and divergence.shape == (n_steps + 1, n_paths)
    assert not divergence[0].any()
    before, after = divergence[:-1], divergence[1:]
    # Per path, starts / ticks outside and ends / ticks inside; pooled over paths with a
    # ratio-estimator standard error from the spread across (independent) paths.
    for state, moved, expected in ((False, after & ~before, -math.expm1(-12.0 * DAY)),
                                   (True, before & ~after, 0.1)):
        exposure = (before == state).sum(axis=0).astype(float)
        events = moved.sum(axis=0).astype(float)
        rate = events.sum() / exposure.sum()
        residual = events - rate * exposure
        se = math.sqrt((residual**2).sum()) / exposure.sum()
        assert abs(rate - expected) <= N_SE * se, (state, rate, expected, se)


def test_no_episodes_without_a_rate():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    divergence = divergence_episodes(BreadthSpec(divergence_rate=0.0), 5, 10, DAY, rng)
    assert not divergence.any() and rng.bit_generator.state == state


def test_tanh_matches_numpy():
    x = np.r_[np.linspace(-30, 30, 20001), np.logspace(-300, 2, 500), -np.logspace(-300, 2, 500),
              0.0, np.inf, -np.inf]
    ours = np.array([_tanh(v) for v in x])
    np.testing.assert_allclose(ours, np.tanh(x), rtol=4 * np.finfo(float).eps, atol=0)


@pytest.fixture(scope="module")
def coupled_paths():
    return generate(four_regime_model(), 1000, 252, DAY, np.random.default_rng(42))


def test_net_advances_and_ad_line(coupled_paths):
    paths = coupled_paths
    assert (np.abs(paths.net_advances) <= 1.0).all()
    np.testing.assert_array_equal(paths.net_advances[0], 0.0)
    np.testing.assert_allclose(paths.ad_line, np.cumsum(paths.net_advances, axis=0),
                               rtol=1e-12, atol=1e-12)


def test_generator_breadth_follows_the_documented_stream(coupled_paths):
    # generate spawns the breadth stream from its rng before any draw; rebuilding it the
    # same way and recomputing breadth from the spot paths gives the same values.
    model = four_regime_model()
    breadth_rng = np.random.default_rng(42).spawn(1)[0]
    divergence = divergence_episodes(model.breadth, 1000, 252, DAY, breadth_rng)
    np.testing.assert_array_equal(divergence, coupled_paths.divergence)
    advances, ad_line = net_advances(coupled_paths.spot, coupled_paths.variance, divergence,
                                     model.breadth, DAY, breadth_rng)
    np.testing.assert_allclose(advances, coupled_paths.net_advances, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ad_line, coupled_paths.ad_line, rtol=0, atol=1e-7)


def test_breadth_moves_with_spx_returns():
    paths = generate(MarketModel(), 500, 100, DAY, np.random.default_rng(43))
    log_return = np.diff(np.log(paths.spot), axis=0)
    # Per-path correlations are independent across paths.
    corr = np.array([np.corrcoef(log_return[:, p], paths.net_advances[1:, p])[0, 1]
                     for p in range(paths.n_paths)])
    assert corr.mean() - N_SE * corr.std(ddof=1) / math.sqrt(corr.size) > 0.8
    # Days with SPX up have more advancers on average, and the A/D line follows the index.
    assert paths.net_advances[1:][log_return > 0].mean() > 0.3
    assert paths.net_advances[1:][log_return < 0].mean() < -0.3


def test_divergence_drift_lowers_net_advances_in_episodes():
    spec = BreadthSpec(divergence_rate=20.0, divergence_drift=-1.0)
    paths = generate(MarketModel(breadth=spec), 1000, 100, DAY, np.random.default_rng(44))
    inside = paths.divergence[1:]
    per_path = [paths.net_advances[1:, p][inside[:, p]].mean()
                - paths.net_advances[1:, p][~inside[:, p]].mean()
                for p in range(paths.n_paths) if inside[:, p].any()]
    gap = np.array(per_path)
    assert gap.mean() + N_SE * gap.std(ddof=1) / math.sqrt(gap.size) < -0.3


def test_breadth_parameters_cannot_move_the_market_when_the_switch_is_off():
    base = four_regime_model(breadth=BreadthSpec(divergence_predicts_stress=False))
    other = dataclasses.replace(base, breadth=BreadthSpec(
        beta=3.0, noise=0.0, divergence_rate=100.0, divergence_days=2.0,
        divergence_drift=5.0, divergence_predicts_stress=False, stress_multiplier=90.0))
    first = generate(base, 300, 120, DAY, np.random.default_rng(45))
    second = generate(other, 300, 120, DAY, np.random.default_rng(45))
    for name in MARKET_FIELDS:
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.divergence, second.divergence)
    assert not np.array_equal(first.net_advances, second.net_advances)


def test_divergence_pushes_paths_into_stress_when_the_switch_is_on():
    n_paths, n_steps = 1000, 252
    breadth = BreadthSpec(divergence_rate=10.0, divergence_days=15.0,
                          divergence_predicts_stress=True, stress_multiplier=20.0)
    on = generate(four_regime_model(breadth=breadth), n_paths, n_steps, DAY,
                  np.random.default_rng(46))
    off = generate(four_regime_model(breadth=dataclasses.replace(
        breadth, divergence_predicts_stress=False)), n_paths, n_steps, DAY,
        np.random.default_rng(46))
    # Same seed: identical episodes, and identical regime draws.
    np.testing.assert_array_equal(on.divergence, off.divergence)
    stress = stress_mask(FOUR_REGIMES)
    # Paired per-path difference of the share of ticks in stress during or within 20 ticks
    # after an episode.
    recent = np.zeros_like(on.divergence)
    for lag in range(21):
        recent[lag:] |= on.divergence[: n_steps + 1 - lag]
    share_on = (stress[on.regime] & recent).sum(axis=0) / np.maximum(recent.sum(axis=0), 1)
    share_off = (stress[off.regime] & recent).sum(axis=0) / np.maximum(recent.sum(axis=0), 1)
    gap = (share_on - share_off)[recent.any(axis=0)]
    assert gap.mean() - N_SE * gap.std(ddof=1) / math.sqrt(gap.size) > 0.1
    # Switch on, entering stress is far likelier from an episode than outside one.
    leaving = ~stress[on.regime[:-1]]
    entered = stress[on.regime[1:]] & leaving
    p_in = entered[on.divergence[:-1]].sum() / (leaving & on.divergence[:-1]).sum()
    p_out = entered[~on.divergence[:-1]].sum() / (leaving & ~on.divergence[:-1]).sum()
    assert p_in > 5 * p_out
