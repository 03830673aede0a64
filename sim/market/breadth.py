"""Market breadth: divergence episodes, daily net advances and the A/D line.

Model (``sim.config.BreadthSpec``), per path:

- Divergence episodes ``D`` are a two-state Markov chain on the ticks:
  ``D[0] = 0`` (every path starts outside an episode); outside, an episode
  starts in a step with probability ``1 - exp(-divergence_rate * dt)``
  (``dt`` in years, ``divergence_rate`` per year); inside, it ends with
  probability ``1 / divergence_days`` per step, so episodes last
  ``divergence_days`` steps on average (geometrically distributed; one step
  is one trading day, as for the regime chain).
- Net advances of the step ending at tick ``t + 1`` (advancers minus
  decliners as a share of issues, in ``[-1, 1]``):
  ``tanh(beta z + noise e + divergence_drift D[t + 1])`` with
  ``z = ln(S[t + 1] / S[t]) / sqrt(max(v[t], VARIANCE_FLOOR) dt)`` the
  step's SPX log-return over its expected stdev and ``e ~ N(0, 1)``.
  Row 0 is 0.
- The A/D line is the running sum of net advances (row 0 is 0).

``D[t + 1]`` shows in the breadth of tick ``t + 1`` before it can tilt the
regime transition out of tick ``t + 1`` (``sim.market.regimes``), so a
reader of the A/D line sees a divergence before any stress it may bring.

Randomness comes from a stream of its own (``generate`` spawns it), in this
order: ``rng.uniform(size=(n_steps, n_paths))`` for the episodes (nothing
when ``divergence_rate = 0``), then for each step
``rng.standard_normal(n_paths, dtype=float32)`` for ``e`` (nothing when
``noise = 0``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.config import BreadthSpec

#: Floor on the variance (annualized) that standardizes a step's return, so a
#: path at v = 0 gives a finite z.
VARIANCE_FLOOR = 1e-8


def divergence_episodes(spec: BreadthSpec, n_paths: int, n_steps: int, dt: float,
                        rng: np.random.Generator) -> np.ndarray:
    """Whether each path is in a divergence episode at each tick.

    Parameters
    ----------
    spec : BreadthSpec
        ``divergence_rate`` (episodes per year) and ``divergence_days``
        (mean length, steps).
    n_paths, n_steps : int
        Paths and steps after the first tick.
    dt : float
        Step length in years.
    rng : numpy.random.Generator
        The breadth stream; draws ``uniform(size=(n_steps, n_paths))`` unless
        ``divergence_rate = 0``.

    Returns
    -------
    numpy.ndarray
        bool ``(n_steps + 1, n_paths)``; row 0 is False.
    """
    divergence = np.zeros((n_steps + 1, n_paths), dtype=np.bool_)
    if spec.divergence_rate <= 0.0:
        return divergence
    start_probability = -math.expm1(-float(spec.divergence_rate) * dt)
    end_probability = 1.0 / float(spec.divergence_days)
    uniforms = rng.uniform(size=(n_steps, n_paths))
    _divergence_kernel(divergence, uniforms, start_probability, end_probability)
    return divergence


def step_noise(spec: BreadthSpec, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """Idiosyncratic breadth noise ``e`` of one step, one per path.

    Draws ``rng.standard_normal(n_paths, dtype=float32)`` (zeros and no draw
    when ``spec.noise = 0``): single precision halves the cost of the draws,
    and seven digits are ample for noise on a share of issues.
    """
    if spec.noise > 0.0:
        return rng.standard_normal(n_paths, dtype=np.float32)
    return np.zeros(n_paths, dtype=np.float32)


def net_advances_step(advances: np.ndarray, ad_line: np.ndarray, t: int,
                      log_return: np.ndarray, divergence: np.ndarray, variance: np.ndarray,
                      noise: np.ndarray, spec: BreadthSpec, dt: float) -> None:
    """Write row ``t + 1`` of the net advances and the A/D line, in place.

    Parameters
    ----------
    advances, ad_line : numpy.ndarray
        float64 ``(n_steps + 1, n_paths)`` outputs; row ``t`` of ``ad_line``
        must be filled.
    t : int
        The step from tick ``t`` to ``t + 1``.
    log_return : numpy.ndarray
        SPX log-return of the step per path, ``(n_paths,)``.
    divergence, variance : numpy.ndarray
        ``(n_steps + 1, n_paths)``: episodes (bool) and instantaneous
        variance (annualized); rows ``t + 1`` and ``t`` are read.
    noise : numpy.ndarray
        :func:`step_noise` of the step.
    spec : BreadthSpec
    dt : float
        Step length in years.
    """
    _net_advances_step_kernel(advances, ad_line, t, log_return, divergence, variance, noise,
                              float(spec.beta), float(spec.noise),
                              float(spec.divergence_drift), float(dt))


def net_advances(spot: np.ndarray, variance: np.ndarray, divergence: np.ndarray,
                 spec: BreadthSpec, dt: float, rng: np.random.Generator,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Daily net advances and the advance-decline line of whole paths.

    ``generate`` does the same step by step with the log-returns of its
    step kernel; this whole-path form reads them off ``spot``.

    Parameters
    ----------
    spot : numpy.ndarray
        SPX, index points, ``(n_steps + 1, n_paths)``, ``> 0``.
    variance : numpy.ndarray
        Instantaneous variance (annualized), same shape.
    divergence : numpy.ndarray
        bool, same shape (:func:`divergence_episodes`).
    spec : BreadthSpec
        ``beta``, ``noise``, ``divergence_drift``.
    dt : float
        Step length in years.
    rng : numpy.random.Generator
        The breadth stream, after :func:`divergence_episodes`; one
        :func:`step_noise` draw per step.

    Returns
    -------
    net_advances : numpy.ndarray
        float64 share of issues in ``[-1, 1]``, same shape, row 0 zeros.
    ad_line : numpy.ndarray
        float64 running sum of ``net_advances``, row 0 zeros.
    """
    n_ticks, n_paths = spot.shape
    advances = np.zeros((n_ticks, n_paths))
    ad_line = np.zeros((n_ticks, n_paths))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_return = np.log(spot[1:] / spot[:-1])
    # A spot that underflowed to 0 (only in extreme models) counts as flat.
    log_return[~np.isfinite(log_return)] = 0.0
    for t in range(n_ticks - 1):
        net_advances_step(advances, ad_line, t, log_return[t], divergence, variance,
                          step_noise(spec, n_paths, rng), spec, dt)
    return advances, ad_line


@njit(cache=True)
def _tanh(x: float) -> float:
    """``tanh(x)`` from one ``expm1``: a few ulp, about 2x faster than libm's ``tanh``."""
    em1 = math.expm1(-2.0 * abs(x))
    return math.copysign(-em1 / (2.0 + em1), x)


@njit(cache=True)
def _divergence_kernel(divergence: np.ndarray, uniforms: np.ndarray,
                       start_probability: float, end_probability: float) -> None:
    """Fill ``divergence[1:]`` from row 0 by the two-state chain; in place."""
    n_steps, n_paths = uniforms.shape
    for t in range(n_steps):
        for i in range(n_paths):
            if divergence[t, i]:
                divergence[t + 1, i] = not uniforms[t, i] < end_probability
            else:
                divergence[t + 1, i] = uniforms[t, i] < start_probability


@njit(cache=True)
def _net_advances_step_kernel(advances: np.ndarray, ad_line: np.ndarray, t: int,
                              log_return: np.ndarray, divergence: np.ndarray,
                              variance: np.ndarray, noise: np.ndarray, beta: float,
                              noise_scale: float, divergence_drift: float, dt: float) -> None:
    """Write row ``t + 1`` of net advances and A/D line. Inputs assumed valid."""
    for i in range(log_return.size):
        stdev = math.sqrt(max(variance[t, i], VARIANCE_FLOOR) * dt)
        shift = divergence_drift if divergence[t + 1, i] else 0.0
        value = _tanh(beta * (log_return[i] / stdev) + noise_scale * noise[i] + shift)
        advances[t + 1, i] = value
        ad_line[t + 1, i] = ad_line[t, i] + value
