"""VIX index from the instantaneous variance of a Heston model with SVCJ jumps.

The VIX is the 30-calendar-day model-free implied variance, i.e. the price of
the log contract (CBOE VIX white paper).  Under a model with jumps in price
and variance it splits into the expected average diffusive variance over
``tau = 30/365`` years plus a jump term (Carr and Wu 2009, "Variance risk
premiums", Rev. Financial Studies 22(3), the jump part of the variance swap
rate; Duffie, Pan and Singleton 2000, Econometrica 68(6), for the
affine expectation of the variance):

``VIX^2 = (1/tau) E[int_0^tau v_s ds] + 2 lambda (E[e^J] - 1 - E[J])``.

For ``dv = kappa (theta - v) dt + xi sqrt(v) dW + J_v dN`` with
``E[J_v] = mu_v`` and Poisson intensity ``lambda``, ``E[v_s]`` mean-reverts to
the effective long-run mean ``theta* = theta + lambda mu_v / kappa`` (the
variance jumps raise expected future variance), so

``(1/tau) E[int_0^tau v_s ds] = theta* + (v - theta*) a``,
``a = (1 - e^{-kappa tau}) / (kappa tau)``,

written below without the division by ``kappa`` as
``v a + theta (1 - a) + lambda mu_v c`` with ``c = (1 - a) / kappa``, which
tends to ``tau / 2`` as ``kappa -> 0`` (then the average is
``v + lambda mu_v tau / 2``).

Pure numba: this module imports nothing from ``sim``; the caller supplies the
jump term ``jump_var_contrib = 2 lambda (E[e^J] - 1 - E[J])`` (see
``sim.market.heston.vix_jump_term``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: VIX horizon: 30 calendar days, in years.
VIX_TAU = 30.0 / 365.0

# Below this kappa*tau the closed form of c = (1 - a)/kappa loses digits to
# cancellation (relative error ~ 1e-16 / x^2); its Taylor series is used instead.
_SERIES_CUTOFF = 1e-2


@njit(cache=True)
def vix_from_variance_one(
    v: float,
    kappa: float,
    theta: float,
    jump_intensity: float,
    jump_variance_mean: float,
    jump_var_contrib: float,
    tau: float = VIX_TAU,
) -> float:
    """VIX of one variance state, in index points.

    Parameters
    ----------
    v : float
        Instantaneous variance (annualized, vol squared), ``>= 0``.
    kappa : float
        Mean-reversion speed of the variance, 1/year, ``>= 0``.
    theta : float
        Long-run mean of the diffusive variance, annualized.
    jump_intensity : float
        Poisson intensity ``lambda`` of joint jumps, jumps/year.
    jump_variance_mean : float
        Mean ``mu_v`` of the variance jump, annualized variance.
    jump_var_contrib : float
        ``2 lambda (E[e^J] - 1 - E[J])``, the log-contract jump term,
        annualized variance.
    tau : float, optional
        Horizon in years, default 30/365.

    Returns
    -------
    float
        ``100 sqrt(max(VIX^2, 0))``, index points.
    """
    x = kappa * tau
    # a = (1 - e^-x)/x; expm1 keeps it exact down to x -> 0, where a -> 1.
    a = -math.expm1(-x) / x if x > 0.0 else 1.0
    if x < _SERIES_CUTOFF:
        # c/tau = (x - 1 + e^-x)/x^2 by its Taylor series (next term x^5/5040).
        c_over_tau = 0.5 - x * (1.0 / 6.0 - x * (1.0 / 24.0 - x * (1.0 / 120.0 - x / 720.0)))
    else:
        c_over_tau = (1.0 - a) / x
    average_variance = (
        v * a + theta * (1.0 - a) + jump_intensity * jump_variance_mean * c_over_tau * tau
    )
    vix_squared = average_variance + jump_var_contrib
    return 100.0 * math.sqrt(max(vix_squared, 0.0))


@njit(cache=True)
def _vix_kernel(
    variance: np.ndarray,
    kappa: float,
    theta: float,
    jump_intensity: float,
    jump_variance_mean: float,
    jump_var_contrib: float,
    tau: float,
) -> np.ndarray:
    """VIX of a flat array of variances (index points); inputs assumed valid."""
    vix = np.empty(variance.size)
    for i in range(variance.size):
        vix[i] = vix_from_variance_one(
            variance[i], kappa, theta, jump_intensity, jump_variance_mean, jump_var_contrib, tau
        )
    return vix


def vix_from_variance(
    variance: np.ndarray | float,
    kappa: float,
    theta: float,
    jump_intensity: float,
    jump_variance_mean: float,
    jump_var_contrib: float,
    tau: float = VIX_TAU,
) -> np.ndarray:
    """VIX index from instantaneous variance, elementwise.

    ``VIX^2 = theta* + (v - theta*) a + jump_var_contrib`` with
    ``theta* = theta + lambda mu_v / kappa`` and
    ``a = (1 - e^{-kappa tau}) / (kappa tau)``; see the module docstring for
    the derivation, the ``kappa = 0`` limit and the sources.

    Parameters
    ----------
    variance : array_like
        Instantaneous variance (annualized, vol squared), any shape.
    kappa : float
        Mean-reversion speed of the variance, 1/year, ``>= 0``.
    theta : float
        Long-run mean of the diffusive variance, annualized.
    jump_intensity : float
        Poisson intensity ``lambda`` of joint jumps, jumps/year, ``>= 0``.
    jump_variance_mean : float
        Mean ``mu_v`` of the exponential variance jump, annualized variance.
    jump_var_contrib : float
        ``2 lambda (E[e^J] - 1 - E[J])`` for the log SPX jump ``J``,
        annualized variance.
    tau : float, optional
        Horizon in years, default 30/365 (the VIX's 30 calendar days).

    Returns
    -------
    numpy.ndarray
        VIX in index points (e.g. 20.0 for 20% vol), float64, same shape as
        ``variance``.

    Raises
    ------
    ValueError
        If ``tau <= 0``, ``kappa < 0`` or ``jump_intensity < 0``.
    """
    if not tau > 0.0:
        raise ValueError(f"tau must be > 0 years, got {tau!r}")
    if not kappa >= 0.0:
        raise ValueError(f"kappa must be >= 0 per year, got {kappa!r}")
    if not jump_intensity >= 0.0:
        raise ValueError(f"jump_intensity must be >= 0 per year, got {jump_intensity!r}")
    variance = np.asarray(variance, dtype=np.float64)
    flat = np.ascontiguousarray(variance).reshape(-1)
    vix = _vix_kernel(
        flat,
        float(kappa),
        float(theta),
        float(jump_intensity),
        float(jump_variance_mean),
        float(jump_var_contrib),
        float(tau),
    )
    return vix.reshape(variance.shape)
