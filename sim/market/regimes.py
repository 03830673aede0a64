"""Markov chain over market regimes (calm, normal, stressed, crisis, ...).

The chain of ``sim.config.RegimeChain`` has a row-stochastic matrix ``P``
with ``P[i, j] = P(regime at tick t+1 = j | regime at tick t = i)``. It is
applied once per simulation step: one step is one trading day for the chain
whatever ``dt`` the generator is given (the runner's ``dt`` is one business
day; with another ``dt`` the matrix still acts once per step, as the
geometric episode lengths of ``sim.market.breadth`` do).

Timing: ``regime[t]`` is the regime of tick ``t`` and sets the dynamics of
the step from tick ``t`` to ``t + 1``; ``regime[t + 1]`` is drawn at the
start of that step from row ``regime[t]``, by inverting the row's cumulative
distribution at a uniform.

Divergence coupling (``BreadthSpec.divergence_predicts_stress``): a path
that is in a breadth divergence episode at tick ``t`` and in a non-stress
regime draws ``regime[t + 1]`` from a tilted row (see
:func:`divergence_transition_matrix`): the probabilities into the stress
regimes are multiplied by ``stress_multiplier``, capped so they sum to at
most 1, and the other entries are scaled to keep the row summing to 1.
Rows of stress regimes are never tilted. With the switch off the divergence
array is not read, so breadth cannot change the regimes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.config import BreadthSpec, RegimeChain

#: Allowed deviation of a transition row's sum from 1 before it is refused.
ROW_SUM_TOLERANCE = 1e-6

#: ``MarketPaths.regime`` is int8.
MAX_REGIMES = 127


def transition_matrix(chain: RegimeChain) -> np.ndarray:
    """The chain's transition matrix, checked and with rows normalised to sum to 1.

    Parameters
    ----------
    chain : RegimeChain

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_regimes, n_regimes)``, probability per step.

    Raises
    ------
    ValueError
        If the matrix is not square of side ``n_regimes``, has entries
        outside ``[0, 1]`` or rows that do not sum to 1 within
        ``ROW_SUM_TOLERANCE``, or there are more than ``MAX_REGIMES`` regimes.
    """
    n = chain.n_regimes
    if not 1 <= n <= MAX_REGIMES:
        raise ValueError(f"market.regimes.names: 1 to {MAX_REGIMES} regimes allowed, got {n}")
    try:
        matrix = np.array(chain.transition, dtype=np.float64)
    except ValueError as error:
        raise ValueError("market.regimes.transition must be a square matrix of numbers "
                         f"({error})") from None
    if matrix.shape != (n, n):
        raise ValueError(f"market.regimes.transition must be {n} x {n} (one row and column per "
                         f"regime), got shape {matrix.shape}")
    if not (np.isfinite(matrix).all() and (matrix >= 0.0).all() and (matrix <= 1.0).all()):
        raise ValueError("market.regimes.transition: entries must be probabilities in [0, 1]")
    sums = matrix.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"market.regimes.transition: row {chain.names[i]!r} sums to "
                         f"{sums[i]!r}, must sum to 1")
    return matrix / sums[:, None]


def stress_mask(chain: RegimeChain) -> np.ndarray:
    """Boolean per regime: is it listed in ``chain.stress``.

    Raises
    ------
    ValueError
        If a stress name is not a regime name.
    """
    unknown = [name for name in chain.stress if name not in chain.names]
    if unknown:
        raise ValueError(f"market.regimes.stress: {unknown[0]!r} is not one of "
                         f"{', '.join(chain.names)}")
    return np.array([name in chain.stress for name in chain.names], dtype=bool)


def divergence_transition_matrix(matrix: np.ndarray, stress: np.ndarray,
                                 multiplier: float) -> np.ndarray:
    """Transition matrix of a path inside a breadth divergence episode.

    For each non-stress row ``i`` with stress mass ``p_S = sum_{j in S} P[i, j]``:
    if ``multiplier * p_S >= 1`` the row becomes ``P[i, S] / p_S`` on the
    stress regimes and 0 elsewhere (capped); otherwise the stress entries
    become ``multiplier * P[i, j]`` and the others are scaled by
    ``(1 - multiplier p_S) / (1 - p_S)``. Rows of stress regimes and rows
    without stress mass are unchanged.

    Parameters
    ----------
    matrix : numpy.ndarray
        Row-stochastic ``(n, n)`` matrix, probability per step.
    stress : numpy.ndarray
        Boolean ``(n,)``, the stress regimes.
    multiplier : float
        Factor on the odds into stress, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        Row-stochastic ``(n, n)`` float64 matrix.
    """
    tilted = np.array(matrix, dtype=np.float64, copy=True)
    for i in range(tilted.shape[0]):
        if stress[i]:
            continue
        p_stress = tilted[i, stress].sum()
        if p_stress <= 0.0:
            continue
        if multiplier * p_stress >= 1.0:
            tilted[i, stress] /= p_stress
            tilted[i, ~stress] = 0.0
        else:
            tilted[i, ~stress] *= (1.0 - multiplier * p_stress) / (1.0 - p_stress)
            tilted[i, stress] *= multiplier
    return tilted


def stationary_distribution(matrix: np.ndarray) -> np.ndarray:
    """Long-run distribution of a finite Markov chain, unique or not.

    For an irreducible chain (periodic or not) this is the unique ``pi`` with
    ``pi P = pi`` and ``sum(pi) = 1``, found by a linear solve on each closed
    class. A reducible chain has one stationary distribution per closed
    communicating class; the one returned is the long-run occupancy of the
    chain started from the uniform distribution over states: each closed
    class's stationary distribution weighted by the probability of being
    absorbed into it (transient states get 0). No power iteration, so
    periodic and slowly mixing chains are exact.

    Parameters
    ----------
    matrix : numpy.ndarray
        Row-stochastic ``(n, n)`` matrix.

    Returns
    -------
    numpy.ndarray
        float64 ``(n,)``, non-negative, summing to 1.
    """
    P = np.asarray(matrix, dtype=np.float64)
    n = P.shape[0]
    reach = _reachability(P > 0.0)
    recurrent = np.array([all(reach[j, i] for j in range(n) if reach[i, j]) for i in range(n)])
    classes: list[np.ndarray] = []
    seen = np.zeros(n, dtype=bool)
    for i in range(n):
        if recurrent[i] and not seen[i]:
            members = np.flatnonzero(reach[i] & reach[:, i])
            seen[members] = True
            classes.append(members)
    transient = np.flatnonzero(~recurrent)
    pi = np.zeros(n)
    for members in classes:
        class_pi = _irreducible_stationary(P[np.ix_(members, members)])
        # Probability of absorption into this class from each state, by
        # h_T = (I - P_TT)^{-1} P_{T,C} 1 for the transient states T.
        absorbed = np.zeros(n)
        absorbed[members] = 1.0
        if transient.size:
            into_class = P[np.ix_(transient, members)].sum(axis=1)
            system = np.eye(transient.size) - P[np.ix_(transient, transient)]
            absorbed[transient] = np.linalg.solve(system, into_class)
        pi[members] += absorbed.mean() * class_pi
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _reachability(edges: np.ndarray) -> np.ndarray:
    """Reflexive-transitive closure of a boolean adjacency matrix (Warshall)."""
    reach = edges | np.eye(edges.shape[0], dtype=bool)
    for k in range(reach.shape[0]):
        reach |= reach[:, k : k + 1] & reach[k : k + 1, :]
    return reach


def _irreducible_stationary(P: np.ndarray) -> np.ndarray:
    """``pi`` with ``pi (P - I) = 0`` and ``sum(pi) = 1`` for an irreducible ``P``.

    One equation of the rank ``n - 1`` system ``(P - I)^T pi = 0`` is replaced
    by the normalisation, which makes the system non-singular.
    """
    n = P.shape[0]
    system = P.T - np.eye(n)
    system[-1, :] = 1.0
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    pi = np.linalg.solve(system, rhs)
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def cumulative_rows(matrix: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities for inverse-CDF sampling.

    Entries from each row's last positive probability on are set to exactly
    1, so a uniform in ``[0, 1)`` never selects a state of probability 0
    through rounding.
    """
    cumulative = np.cumsum(matrix, axis=1)
    for i in range(matrix.shape[0]):
        last = int(np.flatnonzero(matrix[i] > 0.0)[-1])
        cumulative[i, last:] = 1.0
    return cumulative


def simulate_regimes(chain: RegimeChain, breadth: BreadthSpec, divergence: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Regime of every path at every tick.

    Draw order from ``rng`` (nothing at all with one regime): if
    ``chain.initial == "stationary"``, ``rng.uniform(size=n_paths)`` for the
    first tick, inverted on :func:`stationary_distribution`; then
    ``rng.uniform(size=(n_steps, n_paths))``, row ``t`` for the transition
    from tick ``t`` to ``t + 1``.

    Parameters
    ----------
    chain : RegimeChain
        Names, transition matrix (per step), initial regime, stress regimes.
    breadth : BreadthSpec
        Its ``divergence_predicts_stress`` and ``stress_multiplier`` tilt the
        rows of paths in a divergence episode (module docstring).
    divergence : numpy.ndarray
        bool ``(n_steps + 1, n_paths)``, divergence episode at each tick; read
        only when the switch is on.
    rng : numpy.random.Generator
        The market stream.

    Returns
    -------
    numpy.ndarray
        int8 ``(n_steps + 1, n_paths)``, index into ``chain.names``.

    Raises
    ------
    ValueError
        If the matrix is invalid, the initial regime is neither a name nor
        ``"stationary"``, or a stress name is unknown.
    """
    n_ticks, n_paths = divergence.shape
    matrix = transition_matrix(chain)
    stress = stress_mask(chain)
    regime = np.zeros((n_ticks, n_paths), dtype=np.int8)
    if chain.initial == "stationary":
        start = None
    elif chain.initial in chain.names:
        start = chain.index(chain.initial)
    else:
        raise ValueError(f"market.regimes.initial must be 'stationary' or one of "
                         f"{', '.join(chain.names)}, got {chain.initial!r}")
    if chain.n_regimes == 1:
        return regime
    if start is None:
        cumulative = cumulative_rows(stationary_distribution(matrix)[None, :])[0]
        regime[0] = np.searchsorted(cumulative, rng.uniform(size=n_paths), side="right")
    else:
        regime[0] = start
    uniforms = rng.uniform(size=(n_ticks - 1, n_paths))
    coupled = bool(breadth.divergence_predicts_stress) and bool(stress.any())
    tilted = (divergence_transition_matrix(matrix, stress, float(breadth.stress_multiplier))
              if coupled else matrix)
    _regime_chain_kernel(regime, cumulative_rows(matrix), cumulative_rows(tilted), divergence,
                         uniforms, coupled)
    return regime


@njit(cache=True)
def _regime_chain_kernel(regime: np.ndarray, cumulative: np.ndarray,
                         cumulative_diverged: np.ndarray, divergence: np.ndarray,
                         uniforms: np.ndarray, coupled: bool) -> None:
    """Fill ``regime[1:]`` from ``regime[0]`` by inverse-CDF steps; in place.

    Row ``t`` of ``uniforms`` moves tick ``t`` to ``t + 1``; a path in a
    divergence episode at ``t`` uses ``cumulative_diverged`` when ``coupled``.
    """
    n_steps, n_paths = uniforms.shape
    n_regimes = cumulative.shape[0]
    for t in range(n_steps):
        for i in range(n_paths):
            now = regime[t, i]
            u = uniforms[t, i]
            table = cumulative_diverged if coupled and divergence[t, i] else cumulative
            # The rows are non-decreasing and end at 1 > u, so the first j with
            # u < table[now, j] is the count of j with u >= table[now, j]
            # (branch-free; several times faster than a search with a break).
            nxt = 0
            for j in range(n_regimes - 1):
                nxt += u >= table[now, j]
            regime[t + 1, i] = nxt
