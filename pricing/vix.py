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

Term structure: VIX futures, the model's vol of VIX, SPX ATM vols
-------------------------------------------------------------------
Conditional moments of the variance ``h`` years ahead, from ``v_0 = v``.  With
``e = e^{-kappa h}``, ``E1 = (1 - e) / kappa`` and ``E2 = (1 - e^2) / (2 kappa)``
(both ``-> h`` as ``kappa -> 0``):

* Mean.  ``m(s) = E[v_s]`` solves ``m' = kappa (theta - m) + lambda mu_v
  = kappa (theta* - m)``, so ``E[v_h] = theta* + (v - theta*) e
  = v e + (kappa theta + lambda mu_v) E1``.
* Variance.  ``Y_s = e^{kappa s} (v_s - m(s))`` is a martingale,
  ``dY = e^{kappa s} (xi sqrt(v) dW + J_v dN - lambda mu_v ds)``, whose
  quadratic variation has mean ``e^{2 kappa s} (xi^2 E[v_s] + lambda E[J_v^2]) ds``
  with ``E[J_v^2] = 2 mu_v^2`` for the exponential jump.  Hence
  ``Var[v_h] = int_0^h e^{-2 kappa (h - s)} (xi^2 E[v_s] + 2 lambda mu_v^2) ds``
  ``= xi^2 theta* E2 + xi^2 (v - theta*) e E1 + 2 lambda mu_v^2 E2``
  ``= xi^2 v e E1 + xi^2 (kappa theta + lambda mu_v) E1^2 / 2 + 2 lambda mu_v^2 E2``,
  using ``E2 - e E1 = kappa E1^2 / 2``.  Without jumps it is the CIR variance
  ``v xi^2 e (1 - e)/kappa + theta xi^2 (1 - e)^2 / (2 kappa)``; the last form
  has no ``1/kappa``, and at ``kappa = 0`` it is
  ``xi^2 v h + lambda mu_v xi^2 h^2 / 2 + 2 lambda mu_v^2 h``.  ``E1`` and ``E2``
  use ``expm1``, and their Taylor series when ``kappa h < 1e-8``.

``VIX_T^2`` (annualized variance, ``(VIX/100)^2``) is affine in ``v_T``:
``VIX_T^2 = A + B v_T`` with ``B = a`` and ``A = theta (1 - a) + lambda mu_v c
+ jump_var_contrib = (1 - a) theta* + jump_var_contrib`` (``tau = 30/365``),
so ``m = E[VIX_T^2] = A + B E[v_T]`` and ``s2 = Var[VIX_T^2] = B^2 Var[v_T]``.

* VIX future (index points): ``100 E[VIX_T]``, with ``VIX_T^2`` matched to a
  lognormal of mean ``m`` and variance ``s2``:
  ``E[sqrt(X)] = sqrt(m) (1 + s2/m^2)^(-1/8)``.  The factor is the convexity
  correction, ``<= 1``, and ``1`` at ``T = 0`` where the future is the VIX
  index of ``v`` (bit for bit).  As ``T -> inf`` it tends to
  ``100 sqrt(m_inf) (1 + s2_inf/m_inf^2)^(-1/8)`` with ``m_inf = theta* + jump
  term`` and ``s2_inf = a^2 (xi^2 theta* / (2 kappa) + lambda mu_v^2 / kappa)``.
  The convexity correction grows with ``T``, so the futures curve at
  ``v = theta*`` slopes down, and for ``v`` a little below ``theta*`` it can
  too: contango of ``E[VIX_T^2]`` does not imply contango of ``E[VIX_T]``
  (for the default ``MarketModel``, which has no variance risk premium, the
  front inverts above ``v ~ 0.021``, VIX ~ 16, while ``theta* = 0.04``).
  Prices take the dynamics of the pricing measure (``sim.config.MarketModel
  .pricing_model``): with a premium giving ``theta_Q = 2 theta`` the default
  curve is in contango for every ``v <= theta`` (``theta_Q = 1.5 theta`` is
  not enough: its front still dips above ``v ~ 0.030``).  The lognormal match is an
  approximation: against Monte Carlo of the default model it overstates
  ``E[VIX_T]`` by about 0.5% at 30 trading days and up to 1.4% at 90 days.
* The model's lognormal vol of VIX to ``T``:
  ``sigma^2 T = ln(E[VIX_T^2] / E[VIX_T]^2) = ln(1 + s2/m^2) / 4``.  As
  ``T -> 0`` it tends to ``a^2 (xi^2 v + 2 lambda mu_v^2) / (4 m_0^2)``
  (``m_0`` the VIX^2 of ``v``), the instantaneous lognormal variance of VIX;
  below ``T = 1e-10`` years that limit is returned.  (Where that rate is 0,
  at ``v = 0`` without jumps, ``sigma`` instead grows like ``sqrt(T)`` from the
  ``T^2`` term of ``Var[v_T]``, and the limit 0 is approached non-uniformly.)
  It is 0 when ``s2 = 0`` and when ``m <= 0``.
* SPX ATM vol to ``T``: ``atm_ratio * sqrt(VIX^2 formula with tau = T)``,
  the expected average variance over ``[0, T]`` plus the jump term, i.e.
  the variance swap rate to ``T``; ``T`` is floored at one hour.  At
  ``T = 30/365`` it is ``atm_ratio * VIX / 100``.

Pure numba: this module imports nothing from ``sim``; the caller supplies the
jump term ``jump_var_contrib = 2 lambda (E[e^J] - 1 - E[J])`` (see
``sim.market.heston.vix_jump_term``).  Kernels never raise: NaN in gives NaN
out; the public wrappers validate.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from pricing._arrays import flatten_inputs, require_non_negative, shaped

__all__ = [
    "MIN_ATM_T",
    "VIX_TAU",
    "spx_atm_vol",
    "spx_atm_vol_one",
    "variance_moments",
    "variance_moments_one",
    "vix_from_variance",
    "vix_from_variance_one",
    "vix_future",
    "vix_future_one",
    "vix_model_vol",
    "vix_model_vol_one",
    "vix_squared_moments_one",
    "vix_squared_one",
]

#: VIX horizon: 30 calendar days, in years.
VIX_TAU = 30.0 / 365.0

# Below this kappa*tau the closed form of c = (1 - a)/kappa loses digits to
# cancellation (relative error ~ 1e-16 / x^2); its Taylor series is used instead.
_SERIES_CUTOFF = 1e-2

# Below this kappa*h the moment integrals E1, E2 use their Taylor series, which
# are exact to ~1e-24 there and avoid expm1(x)/kappa with a subnormal x.
_MOMENT_SERIES_CUTOFF = 1e-8

#: Floor on time to expiry of the SPX ATM vol: one hour, in years (as in
#: ``pricing.smile``); shorter expiries use the one-hour variance rate.
MIN_ATM_T = 1.0 / 365.0 / 24.0

# Below this T (years) the model vol of VIX is its T -> 0 limit, exact to O(T)
# where Var[v_T] grows linearly (xi^2 v + 2 lambda mu_v^2 > 0). The limit is not
# uniform as that rate -> 0: at v = 0 without jumps sigma(T) ~ sqrt(T) -> 0.
_MIN_VOL_T = 1e-10


@njit(cache=True, error_model="numpy")
def _average_weights(kappa: float, tau: float) -> tuple[float, float]:
    """``(a, c)`` with ``a = (1 - e^{-kappa tau})/(kappa tau)`` and ``c = (1 - a)/kappa``.

    ``(1/tau) E[int_0^tau v_s ds] = v a + theta (1 - a) + lambda mu_v c``;
    ``a -> 1`` and ``c -> tau / 2`` as ``kappa -> 0``.
    """
    x = kappa * tau
    # a = (1 - e^-x)/x; expm1 keeps it exact down to x -> 0, where a -> 1.
    a = -math.expm1(-x) / x if x > 0.0 else 1.0
    if x < _SERIES_CUTOFF:
        # c/tau = (x - 1 + e^-x)/x^2 by its Taylor series (next term x^5/5040).
        c_over_tau = 0.5 - x * (1.0 / 6.0 - x * (1.0 / 24.0 - x * (1.0 / 120.0 - x / 720.0)))
    else:
        c_over_tau = (1.0 - a) / x
    return a, c_over_tau * tau


@njit(cache=True, error_model="numpy")
def vix_squared_one(
    v: float,
    kappa: float,
    theta: float,
    jump_intensity: float,
    jump_variance_mean: float,
    jump_var_contrib: float,
    tau: float = VIX_TAU,
) -> float:
    """Squared VIX of one variance state, annualized variance ``(VIX/100)^2``.

    ``v a + theta (1 - a) + lambda mu_v c + jump_var_contrib``, the expected
    average variance over ``tau`` years plus the jump term (module docstring).
    Not floored at 0; arguments as in `vix_from_variance_one`.
    """
    a, c = _average_weights(kappa, tau)
    average_variance = v * a + theta * (1.0 - a) + jump_intensity * jump_variance_mean * c
    return average_variance + jump_var_contrib


@njit(cache=True, error_model="numpy")
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
    vix_squared = vix_squared_one(
        v, kappa, theta, jump_intensity, jump_variance_mean, jump_var_contrib, tau
    )
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


# ---------------------------------------------------------------------------
# Term structure: scalar kernels (see the module docstring for the formulas).
# ---------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _decay_integrals(kappa: float, h: float) -> tuple[float, float, float]:
    """``(e, E1, E2)``: ``e^{-kappa h}``, ``(1 - e)/kappa``, ``(1 - e^2)/(2 kappa)``.

    ``E1`` and ``E2`` tend to ``h`` as ``kappa -> 0``.
    """
    x = kappa * h
    if x < _MOMENT_SERIES_CUTOFF:
        # (1 - e^-x)/x = 1 - x/2 + x^2/6, (1 - e^-2x)/(2x) = 1 - x + 2x^2/3 (+ O(x^3)).
        return math.exp(-x), h * (1.0 - x * (0.5 - x / 6.0)), h * (1.0 - x * (1.0 - x * 2.0 / 3.0))
    return math.exp(-x), -math.expm1(-x) / kappa, -math.expm1(-2.0 * x) / (2.0 * kappa)


@njit(cache=True, error_model="numpy")
def variance_moments_one(
    v: float,
    h: float,
    kappa: float,
    theta: float,
    xi: float,
    jump_intensity: float,
    jump_variance_mean: float,
) -> tuple[float, float]:
    """Conditional mean and variance of the variance ``h`` years ahead.

    ``E[v_h] = v e + (kappa theta + lambda mu_v) E1`` and
    ``Var[v_h] = xi^2 v e E1 + xi^2 (kappa theta + lambda mu_v) E1^2 / 2
    + 2 lambda mu_v^2 E2`` (module docstring).  ``v`` and ``theta`` in
    annualized variance, ``h`` in years, ``kappa`` 1/year, ``xi``
    1/sqrt(year), ``jump_intensity`` jumps/year, ``jump_variance_mean``
    annualized variance.  Returns ``(mean, variance)``: annualized variance
    and its square.
    """
    decay, e1, e2 = _decay_integrals(kappa, h)
    drift_level = kappa * theta + jump_intensity * jump_variance_mean
    mean = v * decay + drift_level * e1
    xi2 = xi * xi
    var = (
        xi2 * v * decay * e1
        + 0.5 * xi2 * drift_level * e1 * e1
        + 2.0 * jump_intensity * jump_variance_mean * jump_variance_mean * e2
    )
    return mean, var


@njit(cache=True, error_model="numpy")
def vix_squared_moments_one(
    v: float,
    T: float,
    kappa: float,
    theta: float,
    xi: float,
    jump_intensity: float,
    jump_variance_mean: float,
    jump_var_contrib: float,
) -> tuple[float, float]:
    """``(E[VIX_T^2], Var[VIX_T^2])`` in ``(VIX/100)^2`` units and their square.

    ``VIX_T^2 = A + B v_T`` with ``B = a(30/365)``, so the mean is the VIX^2
    formula at ``E[v_T]`` and the variance is ``B^2 Var[v_T]``.
    """
    mean_v, var_v = variance_moments_one(
        v, T, kappa, theta, xi, jump_intensity, jump_variance_mean
    )
    loading = _average_weights(kappa, VIX_TAU)[0]
    mean = vix_squared_one(
        mean_v, kappa, theta, jump_intensity, jump_variance_mean, jump_var_contrib, VIX_TAU
    )
    return mean, loading * loading * var_v


@njit(cache=True, error_model="numpy")
def _log1p_relative_variance(m: float, s2: float) -> float:
    """``ln(1 + s2/m^2)`` for ``m > 0``, ``s2 >= 0``, without under- or overflow of ``m^2``."""
    if s2 <= 0.0:
        return 0.0
    ratio = s2 / m / m
    if ratio < 1e300:
        return math.log1p(ratio)
    return math.log(s2) - 2.0 * math.log(m)


@njit(cache=True, error_model="numpy")
def vix_future_one(
    v: float,
    T: float,
    kappa: float,
    theta: float,
    xi: float,
    jump_intensity: float,
    jump_variance_mean: float,
    jump_var_contrib: float,
) -> float:
    """VIX future price (index points) for expiry ``T`` years from state ``v``.

    ``100 sqrt(m) (1 + s2/m^2)^(-1/8)`` with ``m``, ``s2`` the mean and
    variance of ``VIX_T^2`` (lognormal moment matching); at ``T = 0`` it is
    ``vix_from_variance_one(v, ...)`` exactly.  ``m <= 0`` gives 0.
    """
    m, s2 = vix_squared_moments_one(
        v, T, kappa, theta, xi, jump_intensity, jump_variance_mean, jump_var_contrib
    )
    if m != m or s2 != s2:
        return np.nan
    if m <= 0.0:
        return 0.0
    return 100.0 * math.sqrt(m) * math.exp(-0.125 * _log1p_relative_variance(m, s2))


@njit(cache=True, error_model="numpy")
def vix_model_vol_one(
    v: float,
    T: float,
    kappa: float,
    theta: float,
    xi: float,
    jump_intensity: float,
    jump_variance_mean: float,
    jump_var_contrib: float,
) -> float:
    """The model's lognormal vol of VIX to expiry ``T`` (annualized decimal).

    ``sigma^2 T = ln(E[VIX_T^2] / E[VIX_T]^2) = ln(1 + s2/m^2) / 4``.  For
    ``T < 1e-10`` years, the limit ``a^2 (xi^2 v + 2 lambda mu_v^2) / (4 m_0^2)``
    of ``sigma^2``; 0 when ``m <= 0``.
    """
    if T != T:
        return np.nan
    if T < _MIN_VOL_T:
        m0 = vix_squared_one(
            v, kappa, theta, jump_intensity, jump_variance_mean, jump_var_contrib, VIX_TAU
        )
        if m0 != m0:
            return np.nan
        if m0 <= 0.0:
            return 0.0
        loading = _average_weights(kappa, VIX_TAU)[0]
        rate = xi * xi * v + 2.0 * jump_intensity * jump_variance_mean * jump_variance_mean
        return loading * math.sqrt(max(rate, 0.0)) / (2.0 * m0)
    m, s2 = vix_squared_moments_one(
        v, T, kappa, theta, xi, jump_intensity, jump_variance_mean, jump_var_contrib
    )
    if m != m or s2 != s2:
        return np.nan
    if m <= 0.0:
        return 0.0
    return math.sqrt(0.25 * _log1p_relative_variance(m, s2) / T)


@njit(cache=True, error_model="numpy")
def spx_atm_vol_one(
    v: float,
    T: float,
    kappa: float,
    theta: float,
    jump_intensity: float,
    jump_variance_mean: float,
    jump_var_contrib: float,
    atm_ratio: float,
) -> float:
    """SPX at-the-money implied vol (annualized decimal) for expiry ``T`` years.

    ``atm_ratio * sqrt(VIX^2 formula with tau = max(T, 1 hour))``: the
    expected average variance over ``[0, T]`` plus the jump term.
    """
    if T != T:
        return np.nan
    horizon = T if T > MIN_ATM_T else MIN_ATM_T
    swap_variance = vix_squared_one(
        v, kappa, theta, jump_intensity, jump_variance_mean, jump_var_contrib, horizon
    )
    return atm_ratio * math.sqrt(max(swap_variance, 0.0))


# ---------------------------------------------------------------------------
# Term structure: public wrappers.
# ---------------------------------------------------------------------------

def _flatten_non_negative(
    named: dict[str, ArrayLike],
) -> tuple[tuple[int, ...], list[NDArray[np.float64]]]:
    """Broadcast and flatten the inputs; raise naming the first with a negative entry."""
    shape, flat, _flags = flatten_inputs(named)
    for name, values in zip(named, flat, strict=True):
        require_non_negative(name, values)
    return shape, flat


def variance_moments(
    v: ArrayLike,
    h: ArrayLike,
    kappa: ArrayLike,
    theta: ArrayLike,
    xi: ArrayLike,
    jump_intensity: ArrayLike,
    jump_variance_mean: ArrayLike,
) -> tuple[np.float64 | NDArray[np.float64], np.float64 | NDArray[np.float64]]:
    """Conditional mean and variance of the instantaneous variance ``h`` years ahead.

    Heston variance with compound-Poisson exponential jumps,
    ``dv = kappa (theta - v) dt + xi sqrt(v) dW + J_v dN``:
    ``E[v_h] = theta* + (v - theta*) e^{-kappa h}`` with
    ``theta* = theta + lambda mu_v / kappa``, and ``Var[v_h]`` the CIR variance
    around that mean path plus the jump variance (derivation in the module
    docstring).  All arguments broadcast against each other.

    Parameters
    ----------
    v : array_like
        Instantaneous variance now (annualized, vol squared), ``>= 0``.
    h : array_like
        Horizon, years, ``>= 0``.
    kappa : array_like
        Mean-reversion speed of the variance, 1/year, ``>= 0``.
    theta : array_like
        Long-run mean of the diffusive variance, annualized variance, ``>= 0``.
    xi : array_like
        Volatility of variance, 1/sqrt(year), ``>= 0``.
    jump_intensity : array_like
        Poisson intensity ``lambda`` of the variance jumps, jumps/year, ``>= 0``.
    jump_variance_mean : array_like
        Mean ``mu_v`` of the exponential variance jump, annualized variance, ``>= 0``.

    Returns
    -------
    mean : numpy.float64 or ndarray of float64
        ``E[v_h]``, annualized variance, of the broadcast shape.
    variance : numpy.float64 or ndarray of float64
        ``Var[v_h]``, annualized variance squared, of the broadcast shape.

    Raises
    ------
    ValueError
        If any argument has a negative entry.
    """
    named = {"v": v, "h": h, "kappa": kappa, "theta": theta, "xi": xi,
             "jump_intensity": jump_intensity, "jump_variance_mean": jump_variance_mean}
    shape, flat = _flatten_non_negative(named)
    mean = np.empty(flat[0].shape[0], dtype=np.float64)
    var = np.empty_like(mean)
    _variance_moments_kernel(*flat, mean, var)
    return shaped(mean, shape), shaped(var, shape)


def vix_future(
    v: ArrayLike,
    T: ArrayLike,
    kappa: ArrayLike,
    theta: ArrayLike,
    xi: ArrayLike,
    jump_intensity: ArrayLike,
    jump_variance_mean: ArrayLike,
    jump_var_contrib: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """VIX futures price from the variance state, with a convexity correction.

    ``100 E[VIX_T]`` where ``VIX_T^2 = A + B v_T`` has mean ``m`` and variance
    ``s2`` from the conditional moments of ``v_T``, and
    ``E[VIX_T] = sqrt(m) (1 + s2/m^2)^(-1/8)`` (lognormal moment matching).
    At ``T = 0`` it equals the VIX index of ``v``. All arguments broadcast
    against each other.

    Parameters
    ----------
    v : array_like
        Instantaneous variance now (annualized, vol squared), ``>= 0``.
    T : array_like
        Time to the future's expiry, years, ``>= 0``.
    kappa : array_like
        Mean-reversion speed of the variance, 1/year, ``>= 0``.
    theta : array_like
        Long-run mean of the diffusive variance, annualized variance, ``>= 0``.
    xi : array_like
        Volatility of variance, 1/sqrt(year), ``>= 0``.
    jump_intensity : array_like
        Poisson intensity ``lambda`` of the variance jumps, jumps/year, ``>= 0``.
    jump_variance_mean : array_like
        Mean ``mu_v`` of the exponential variance jump, annualized variance, ``>= 0``.
    jump_var_contrib : array_like
        ``2 lambda (E[e^J] - 1 - E[J])``, the log-contract jump term of VIX^2,
        annualized variance, ``>= 0``.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Futures price, index points, of the broadcast shape.

    Raises
    ------
    ValueError
        If any argument has a negative entry.
    """
    named = {"v": v, "T": T, "kappa": kappa, "theta": theta, "xi": xi,
             "jump_intensity": jump_intensity, "jump_variance_mean": jump_variance_mean,
             "jump_var_contrib": jump_var_contrib}
    shape, flat = _flatten_non_negative(named)
    out = np.empty(flat[0].shape[0], dtype=np.float64)
    _vix_future_kernel(*flat, out)
    return shaped(out, shape)


def vix_model_vol(
    v: ArrayLike,
    T: ArrayLike,
    kappa: ArrayLike,
    theta: ArrayLike,
    xi: ArrayLike,
    jump_intensity: ArrayLike,
    jump_variance_mean: ArrayLike,
    jump_var_contrib: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """The model's lognormal volatility of VIX to expiry ``T``.

    ``sigma^2 T = ln(E[VIX_T^2] / E[VIX_T]^2) = ln(1 + s2/m^2) / 4`` under the
    lognormal match of `vix_future`; below ``T = 1e-10`` years its ``T -> 0``
    limit ``a^2 (xi^2 v + 2 lambda mu_v^2) / (4 VIX_0^4)`` (VIX in decimal).
    The ATM vol of VIX options before `pricing.vix_options.vix_option_vol`
    scales and skews it. All arguments broadcast against each other.

    Parameters
    ----------
    v : array_like
        Instantaneous variance now (annualized, vol squared), ``>= 0``.
    T : array_like
        Time to expiry, years, ``>= 0``.
    kappa : array_like
        Mean-reversion speed of the variance, 1/year, ``>= 0``.
    theta : array_like
        Long-run mean of the diffusive variance, annualized variance, ``>= 0``.
    xi : array_like
        Volatility of variance, 1/sqrt(year), ``>= 0``.
    jump_intensity : array_like
        Poisson intensity ``lambda`` of the variance jumps, jumps/year, ``>= 0``.
    jump_variance_mean : array_like
        Mean ``mu_v`` of the exponential variance jump, annualized variance, ``>= 0``.
    jump_var_contrib : array_like
        Log-contract jump term of VIX^2, annualized variance, ``>= 0``.

    Returns
    -------
    numpy.float64 or ndarray of float64
        Vol of VIX, annualized decimal (e.g. 0.9 for 90%), of the broadcast
        shape; 0 where ``Var[VIX_T^2] = 0``.

    Raises
    ------
    ValueError
        If any argument has a negative entry.
    """
    named = {"v": v, "T": T, "kappa": kappa, "theta": theta, "xi": xi,
             "jump_intensity": jump_intensity, "jump_variance_mean": jump_variance_mean,
             "jump_var_contrib": jump_var_contrib}
    shape, flat = _flatten_non_negative(named)
    out = np.empty(flat[0].shape[0], dtype=np.float64)
    _vix_model_vol_kernel(*flat, out)
    return shaped(out, shape)


def spx_atm_vol(
    v: ArrayLike,
    T: ArrayLike,
    kappa: ArrayLike,
    theta: ArrayLike,
    jump_intensity: ArrayLike,
    jump_variance_mean: ArrayLike,
    jump_var_contrib: ArrayLike,
    atm_ratio: ArrayLike,
) -> np.float64 | NDArray[np.float64]:
    """SPX at-the-money implied vol for expiry ``T``: the model's variance term structure.

    ``atm_ratio * sqrt(theta* + (v - theta*) a(T) + jump_var_contrib)`` with
    ``a(T) = (1 - e^{-kappa T}) / (kappa T)``: the VIX formula with the horizon
    ``tau = max(T, 1 hour)`` instead of 30 days, i.e. the square root of the
    variance swap rate to ``T``. At ``T = 30/365`` it is
    ``atm_ratio * VIX / 100``. All arguments broadcast against each other.

    Parameters
    ----------
    v : array_like
        Instantaneous variance now (annualized, vol squared), ``>= 0``.
    T : array_like
        Time to expiry, years, ``>= 0`` (below one hour, one hour is used).
    kappa : array_like
        Mean-reversion speed of the variance, 1/year, ``>= 0``.
    theta : array_like
        Long-run mean of the diffusive variance, annualized variance, ``>= 0``.
    jump_intensity : array_like
        Poisson intensity ``lambda`` of the variance jumps, jumps/year, ``>= 0``.
    jump_variance_mean : array_like
        Mean ``mu_v`` of the exponential variance jump, annualized variance, ``>= 0``.
    jump_var_contrib : array_like
        Log-contract jump term, annualized variance, ``>= 0``.
    atm_ratio : array_like
        ATM implied vol as a share of the model's volatility swap rate
        (``SmileModel.atm_vix_ratio``), ``>= 0``.

    Returns
    -------
    numpy.float64 or ndarray of float64
        ATM implied vol, annualized decimal, of the broadcast shape.

    Raises
    ------
    ValueError
        If any argument has a negative entry.
    """
    named = {"v": v, "T": T, "kappa": kappa, "theta": theta,
             "jump_intensity": jump_intensity, "jump_variance_mean": jump_variance_mean,
             "jump_var_contrib": jump_var_contrib, "atm_ratio": atm_ratio}
    shape, flat = _flatten_non_negative(named)
    out = np.empty(flat[0].shape[0], dtype=np.float64)
    _spx_atm_vol_kernel(*flat, out)
    return shaped(out, shape)


# ---------------------------------------------------------------------------
# Term structure: array kernels over 1-D contiguous float64 inputs.
# ---------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _variance_moments_kernel(v, h, kappa, theta, xi, jump_intensity, jump_variance_mean,
                             mean, var):
    for i in range(mean.shape[0]):
        mean[i], var[i] = variance_moments_one(
            v[i], h[i], kappa[i], theta[i], xi[i], jump_intensity[i], jump_variance_mean[i]
        )


@njit(cache=True, error_model="numpy")
def _vix_future_kernel(v, T, kappa, theta, xi, jump_intensity, jump_variance_mean,
                       jump_var_contrib, out):
    for i in range(out.shape[0]):
        out[i] = vix_future_one(v[i], T[i], kappa[i], theta[i], xi[i], jump_intensity[i],
                                jump_variance_mean[i], jump_var_contrib[i])


@njit(cache=True, error_model="numpy")
def _vix_model_vol_kernel(v, T, kappa, theta, xi, jump_intensity, jump_variance_mean,
                          jump_var_contrib, out):
    for i in range(out.shape[0]):
        out[i] = vix_model_vol_one(v[i], T[i], kappa[i], theta[i], xi[i], jump_intensity[i],
                                   jump_variance_mean[i], jump_var_contrib[i])


@njit(cache=True, error_model="numpy")
def _spx_atm_vol_kernel(v, T, kappa, theta, jump_intensity, jump_variance_mean,
                        jump_var_contrib, atm_ratio, out):
    for i in range(out.shape[0]):
        out[i] = spx_atm_vol_one(v[i], T[i], kappa[i], theta[i], jump_intensity[i],
                                 jump_variance_mean[i], jump_var_contrib[i], atm_ratio[i])
