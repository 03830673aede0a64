"""Regime chain: stationary distribution, the divergence tilt, and the simulated
chain against its matrix.

Statistical checks use a fixed seed and 4 standard errors (or a chi-square
p-value above 1e-4) computed from independent paths, so autocorrelation
along a path does not shrink the error bars.
"""

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from sim.config import BreadthSpec, MarketModel, RegimeChain
from sim.market import generate, stationary_distribution
from sim.market.regimes import (
    cumulative_rows,
    divergence_transition_matrix,
    simulate_regimes,
    transition_matrix,
)
from tests.market.models import FOUR_REGIMES

N_SE = 4.0
P_MIN = 1e-4
DAY = 7 / (5 * 365.25)


def _transition_counts(regime: np.ndarray, n_regimes: int,
                       where: np.ndarray | None = None) -> np.ndarray:
    """counts[i, j] of steps from regime i to regime j (optionally only where ``where``)."""
    before, after = regime[:-1].astype(np.int64), regime[1:].astype(np.int64)
    if where is not None:
        before, after = before[where], after[where]
    return np.bincount((before * n_regimes + after).ravel(),
                       minlength=n_regimes * n_regimes).reshape(n_regimes, n_regimes)


def _assert_counts_match(counts: np.ndarray, matrix: np.ndarray) -> None:
    """Anderson-Goodman chi-square test of transition counts against a matrix.

    Given the visits to state i, the moves out of it are multinomial with
    probabilities matrix[i]; transitions of probability 0 must never occur.
    """
    assert (counts[matrix == 0.0] == 0).all()
    visits = counts.sum(axis=1, keepdims=True)
    expected = visits * matrix
    used = matrix > 0.0
    chi2 = (((counts - expected) ** 2)[used] / expected[used]).sum()
    dof = int((used.sum(axis=1) - 1)[visits[:, 0] > 0].sum())
    assert stats.chi2.sf(chi2, dof) > P_MIN, f"chi2 {chi2:.1f} on {dof} dof"


# --- stationary distribution ------------------------------------------------------------------

def test_stationary_distribution_of_an_irreducible_chain_is_the_left_eigenvector():
    P = transition_matrix(FOUR_REGIMES)
    pi = stationary_distribution(P)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-15)
    assert pi.sum() == pytest.approx(1.0, abs=1e-15)
    values, vectors = np.linalg.eig(P.T)
    eigen = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    np.testing.assert_allclose(pi, eigen / eigen.sum(), atol=1e-13)


def test_stationary_distribution_of_two_state_chain_in_closed_form():
    a, b = 0.03, 0.2
    pi = stationary_distribution(np.array([[1 - a, a], [b, 1 - b]]))
    np.testing.assert_allclose(pi, [b / (a + b), a / (a + b)], rtol=1e-14)


def test_stationary_distribution_of_a_periodic_chain():
    pi = stationary_distribution(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(pi, [1 / 3, 1 / 3, 1 / 3], rtol=1e-14)


def test_stationary_distribution_of_a_reducible_chain_weights_closed_classes():
    # States 0 and 1 absorbing; state 2 transient, absorbed into 0 with probability
    # 0.2 / (0.2 + 0.6) = 1/4 and into 1 with 3/4. From a uniform start the long-run
    # occupancy is (1/3 + 1/3 * 1/4, 1/3 + 1/3 * 3/4, 0).
    P = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.6, 0.2]])
    pi = stationary_distribution(P)
    np.testing.assert_allclose(pi, [5 / 12, 7 / 12, 0.0], atol=1e-15)
    np.testing.assert_allclose(pi @ P, pi, atol=1e-15)
    # Two closed classes of two states each and a transient state that always ends
    # in the second: weights 2/5 and 3/5 from a uniform start.
    Q = np.zeros((5, 5))
    Q[0, :2] = [0.9, 0.1]
    Q[1, :2] = [0.5, 0.5]
    Q[2, 2:4] = [0.3, 0.7]
    Q[3, 2:4] = [0.4, 0.6]
    Q[4, [3, 4]] = [0.5, 0.5]
    pi = stationary_distribution(Q)
    np.testing.assert_allclose(pi @ Q, pi, atol=1e-15)
    first = np.array([5 / 6, 1 / 6])  # stationary of the first class
    second = np.array([4 / 11, 7 / 11])
    np.testing.assert_allclose(pi, np.r_[0.4 * first, 0.6 * second, 0.0], atol=1e-14)


def test_one_regime():
    np.testing.assert_array_equal(stationary_distribution(np.array([[1.0]])), [1.0])


# --- the divergence tilt and the inverse-CDF table --------------------------------------------

@pytest.mark.parametrize("multiplier", [1.0, 2.0, 20.0, 100.0])
def test_divergence_matrix_scales_stress_odds_and_stays_stochastic(multiplier):
    P = transition_matrix(FOUR_REGIMES)
    stress = np.array([False, False, True, True])
    tilted = divergence_transition_matrix(P, stress, multiplier)
    np.testing.assert_allclose(tilted.sum(axis=1), 1.0, rtol=1e-15)
    assert (tilted >= 0.0).all()
    np.testing.assert_array_equal(tilted[stress], P[stress])  # stress rows untouched
    np.testing.assert_array_equal(tilted[0], P[0])  # calm has no stress mass
    p_stress = P[1, stress].sum()
    if multiplier * p_stress < 1.0:
        np.testing.assert_allclose(tilted[1, stress], multiplier * P[1, stress], rtol=1e-15)
        np.testing.assert_allclose(tilted[1, ~stress] / P[1, ~stress],
                                   (1 - multiplier * p_stress) / (1 - p_stress), rtol=1e-14)
    else:  # capped: all of the row goes to stress, in proportion
        np.testing.assert_allclose(tilted[1, stress], P[1, stress] / p_stress, rtol=1e-15)
        np.testing.assert_array_equal(tilted[1, ~stress], 0.0)


def test_cumulative_rows_never_select_impossible_states():
    P = np.array([[0.1, 0.2, 0.7 - 1e-17, 0.0], [0.0, 1.0, 0.0, 0.0]])
    P = np.vstack([P, [0.0, 0.0, 0.0, 1.0], [0.25, 0.0, 0.75, 0.0]])
    cumulative = cumulative_rows(P)
    assert (cumulative[:, -1] == 1.0).all()
    assert (cumulative[0, 2:] == 1.0).all() and (cumulative[3, 2:] == 1.0).all()
    u = np.nextafter(1.0, 0.0)
    assert [int(np.searchsorted(row, u, side="right")) for row in cumulative] == [2, 1, 3, 2]


# --- the simulated chain ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def four_regime_chain() -> np.ndarray:
    """Regimes of 2000 independent paths x 500 steps, started from the stationary law."""
    divergence = np.zeros((501, 2000), dtype=bool)
    return simulate_regimes(FOUR_REGIMES, BreadthSpec(), divergence, np.random.default_rng(31))


def test_occupancy_matches_the_stationary_distribution(four_regime_chain):
    regime = four_regime_chain
    n_paths = regime.shape[1]
    pi = stationary_distribution(transition_matrix(FOUR_REGIMES))
    for r, p in enumerate(pi):
        # First and last ticks: one independent draw per path from pi, so the count is
        # binomial with standard error sqrt(p (1 - p) / n).
        se = math.sqrt(p * (1 - p) / n_paths)
        for tick in (0, -1):
            share = (regime[tick] == r).mean()
            assert abs(share - p) <= N_SE * se, (r, tick, share, p)
        # Time average along a path: independent across paths, so its standard error
        # comes from the spread across paths, autocorrelation included.
        per_path = (regime == r).mean(axis=0)
        se_time = per_path.std(ddof=1) / math.sqrt(n_paths)
        assert abs(per_path.mean() - p) <= N_SE * se_time, (r, per_path.mean(), p)


def test_transition_counts_match_the_matrix(four_regime_chain):
    counts = _transition_counts(four_regime_chain, 4)
    _assert_counts_match(counts, transition_matrix(FOUR_REGIMES))


def test_initial_regime_by_name_and_single_regime():
    chain = dataclasses.replace(FOUR_REGIMES, initial="crisis")
    regime = simulate_regimes(chain, BreadthSpec(), np.zeros((3, 50), dtype=bool),
                              np.random.default_rng(0))
    assert regime.dtype == np.int8 and (regime[0] == 3).all()
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    one = simulate_regimes(RegimeChain(), BreadthSpec(), np.zeros((3, 5), dtype=bool), rng)
    assert (one == 0).all()
    assert rng.bit_generator.state == state  # one regime draws nothing


def test_divergence_is_ignored_when_the_switch_is_off():
    divergence = np.random.default_rng(1).uniform(size=(101, 300)) < 0.5
    off = simulate_regimes(FOUR_REGIMES, BreadthSpec(stress_multiplier=50.0), divergence,
                           np.random.default_rng(2))
    calm = simulate_regimes(FOUR_REGIMES, BreadthSpec(), np.zeros_like(divergence),
                            np.random.default_rng(2))
    np.testing.assert_array_equal(off, calm)


def test_divergence_tilts_transitions_when_the_switch_is_on():
    # Episodes at random ticks; moves out of ticks in an episode follow the tilted
    # matrix, the others the plain one.
    multiplier = 8.0
    divergence = np.random.default_rng(3).uniform(size=(401, 2000)) < 0.3
    breadth = BreadthSpec(divergence_predicts_stress=True, stress_multiplier=multiplier)
    regime = simulate_regimes(FOUR_REGIMES, breadth, divergence, np.random.default_rng(4))
    P = transition_matrix(FOUR_REGIMES)
    tilted = divergence_transition_matrix(P, np.array([False, False, True, True]), multiplier)
    _assert_counts_match(_transition_counts(regime, 4, divergence[:-1]), tilted)
    _assert_counts_match(_transition_counts(regime, 4, ~divergence[:-1]), P)


@pytest.mark.parametrize(
    ("chain", "match"),
    [
        (dataclasses.replace(FOUR_REGIMES, initial="panic"), "initial"),
        (dataclasses.replace(FOUR_REGIMES, stress=("panic",)), "stress"),
        (dataclasses.replace(FOUR_REGIMES, transition=((1.0,),)), "4 x 4"),
        (RegimeChain(names=("a", "b"), transition=((0.5, 0.6), (0.5, 0.5))), "row 'a' sums"),
        (RegimeChain(names=("a", "b"), transition=((1.5, -0.5), (0.5, 0.5))), "in \\[0, 1\\]"),
    ],
)
def test_invalid_chains_are_refused(chain, match):
    with pytest.raises(ValueError, match=match):
        generate(MarketModel(regimes=chain), 2, 2, DAY, np.random.default_rng(0))
