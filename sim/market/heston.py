"""SVCJ path generator: Heston variance with joint jumps in SPX and variance.

Dynamics (see ``sim.config.MarketModel``; Eraker, Johannes and Polson 2003)::

    dv     = kappa (theta - v) dt + xi sqrt(v) dW_v + J_v dN
    d ln S = (r - q - lambda mbar - v/2) dt + sqrt(v) dW_S + J_S dN
    corr(dW_S, dW_v) = rho,  J_v ~ Exp(mu_v),
    J_S | J_v ~ N(mu_S + b J_v, sigma_S^2),  mbar = E[e^{J_S}] - 1.

Discretisation of one step of length ``dt``, from Andersen, L. (2008),
"Simple and efficient simulation of the Heston stochastic volatility model",
Journal of Computational Finance 11(3):

1. Diffusive variance by the quadratic-exponential (QE) scheme with
   ``psi_c = 1.5``: match the exact conditional mean ``m`` and variance
   ``s^2`` of the CIR transition; for ``psi = s^2/m^2 <= psi_c`` draw
   ``a (b + Z_v)^2``, otherwise the mixture of a point mass at 0 and an
   exponential, sampled by inverting its distribution at a uniform ``U_v``.
   Both keep ``v >= 0`` and the mean is exact, Feller condition or not.
2. Log spot by Andersen's integrated-variance discretisation, which carries
   the correlation through the variance increment
   (``rho int sqrt(v) dW_v = rho/xi (v' - v - kappa theta dt + kappa int v ds)``):
   ``ln S' = ln S + (r - q - lambda mbar) dt + K0 + K1 v + K2 v' +
   sqrt(K3 v + K4 v') Z_S`` with ``K0 = -rho kappa theta dt / xi``,
   ``K1 = gamma1 dt (kappa rho / xi - 1/2) - rho / xi``,
   ``K2 = gamma2 dt (kappa rho / xi - 1/2) + rho / xi``,
   ``K3 = gamma1 dt (1 - rho^2)``, ``K4 = gamma2 dt (1 - rho^2)``.
   The weights of ``int v ds ~ gamma1 dt v + gamma2 dt v'`` are not the
   central ``1/2, 1/2`` but ``gamma2 = (1 - a)/(1 - e^{-kappa dt})``,
   ``a = (1 - e^{-kappa dt})/(kappa dt)``, ``gamma1 = 1 - gamma2``, which is
   ``1/2 + kappa dt / 12 + O(dt^2)``: the rule is then exact on the
   conditional-mean path, whereas the central rule leaves a drift error of
   about ``rho/xi * kappa^3 dt^3 (v - theta) / 12`` per step that explodes as
   ``xi -> 0`` (``4e-3 |rho|`` in ``ln S`` per daily step at ``kappa = 100``,
   ``xi = 0.1``, ``v - theta = 0.1``).  No martingale correction is applied (Andersen's
   ``K0*``); the martingale test shows the bias is below Monte Carlo error
   at daily steps.
3. Jumps: ``N ~ Poisson(lambda dt)`` per step; the variance jump is the sum of
   ``N`` exponentials, ``Gamma(N, mu_v)``; the log spot jump is
   ``N mu_S + b J_v,total + sigma_S sqrt(N) Z_J``.  The variance jump is added
   after the QE step, so the correlation term of step 2 only sees the
   diffusive increment.

When ``xi < XI_DETERMINISTIC`` (``xi = 0`` switches stochastic variance off)
the variance follows its deterministic mean path between jumps and the log
spot takes a plain log-Euler step with the exact integrated variance ``I`` of
that path, ``(r - q - lambda mbar) dt - I/2 + sqrt(I) (rho Z_v +
sqrt(1 - rho^2) Z_S)``, so nothing divides by ``xi``; the shock is the
``xi -> 0`` limit of step 2, which keeps paths continuous in ``xi`` for a seed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from pricing.vix import vix_from_variance
from sim.config import MarketModel
from sim.market.calendar import trading_dates
from sim.market.paths import MarketPaths

#: Andersen's switching level between the quadratic and exponential QE branches.
PSI_CRITICAL = 1.5

#: Below this vol of variance (1/sqrt(year)) the variance is treated as
#: deterministic: the ``rho / xi`` terms of the log-spot step cancel to a
#: rounding error of roughly ``1e-16 v / xi``, and a step's variance noise
#: ``xi sqrt(v dt)`` is negligible anyway.
XI_DETERMINISTIC = 1e-6

# psi below this is a point mass at the mean (2/psi would overflow).
_PSI_FLOOR = 1e-300

# Below this kappa*dt the closed form of (1 - a)/x cancels (error ~ 1e-16/x);
# its Taylor series is used instead.
_SERIES_CUTOFF = 1e-2


def vix_jump_term(model: MarketModel) -> float:
    """Jump contribution to VIX^2: ``2 lambda (E[e^J] - 1 - E[J])``.

    The log-contract jump term (Carr and Wu 2009; Duffie, Pan and Singleton
    2000) that ``pricing.vix.vix_from_variance`` adds to the expected average
    diffusive variance.

    Parameters
    ----------
    model : MarketModel
        The market model; ``J`` is its log SPX jump.

    Returns
    -------
    float
        Annualized variance (vol squared), ``>= 0``; 0 without jumps.

    Raises
    ------
    ValueError
        If jumps are on and ``E[e^J]`` is infinite (see ``generate``).
    """
    if model.jump_intensity == 0.0:
        return 0.0
    mbar, mean_log_jump = _jump_moments(model)
    return 2.0 * model.jump_intensity * (mbar - mean_log_jump)


def _jump_moments(model: MarketModel) -> tuple[float, float]:
    """``MarketModel.jump_moments`` after checking that ``E[e^J]`` is finite."""
    loading = model.jump_spot_per_variance * model.jump_variance_mean
    if not loading < 1.0:
        raise ValueError(
            "market: jump_spot_per_variance * jump_variance_mean must be < 1 when "
            f"jump_intensity > 0 (E[e^J] is infinite otherwise), got "
            f"{model.jump_spot_per_variance!r} * {model.jump_variance_mean!r} = {loading!r}"
        )
    return model.jump_moments()


def generate(
    model: MarketModel,
    n_paths: int,
    n_steps: int,
    dt: float,
    rng: np.random.Generator,
    start_date: str | np.datetime64 = "2025-01-02",
) -> MarketPaths:
    """Simulate SPX, variance, VIX and jump counts under the SVCJ model.

    Random numbers come only from ``rng``, step by step, in this order for
    each step: ``z_var = rng.standard_normal(n_paths)``,
    ``u_var = rng.uniform(size=n_paths)``,
    ``z_spot = rng.standard_normal(n_paths)``; then, only if
    ``jump_intensity > 0``, ``n_jumps = rng.poisson(lambda dt, n_paths)`` and,
    for the paths with ``n_jumps > 0`` in path order,
    ``rng.gamma(n_jumps, jump_variance_mean)`` followed by
    ``rng.standard_normal(n_jumping)``.  The same generator state gives
    bit-identical paths.

    Parameters
    ----------
    model : MarketModel
        Market parameters (initial spot and variance included).
    n_paths : int
        Number of paths, ``>= 1``.
    n_steps : int
        Number of steps after the first tick, ``>= 1``.
    dt : float
        Step length in years, ``> 0`` (1/252 for daily ticks).  The scheme is
        accurate for steps short against ``1/kappa``; much longer steps stay
        finite but the ``rho`` term scales the end-point variance noise by
        ``kappa dt``.
    rng : numpy.random.Generator
        Source of all randomness; it is advanced.
    start_date : str or numpy.datetime64, optional
        Calendar date of the first tick; rolled forward to a business day.

    Returns
    -------
    MarketPaths
        Arrays of shape ``(n_steps + 1, n_paths)``: spot (index points),
        variance (annualized), VIX (index points), jumps per step (int32).

    Raises
    ------
    ValueError
        If ``n_paths < 1``, ``n_steps < 1``, ``dt`` is not a positive finite
        number, or jumps are on with
        ``jump_spot_per_variance * jump_variance_mean >= 1`` (then
        ``E[e^J]`` and the drift compensator are infinite).
    """
    if isinstance(n_paths, bool) or not isinstance(n_paths, int | np.integer) or n_paths < 1:
        raise ValueError(f"n_paths must be an integer >= 1, got {n_paths!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if not (isinstance(dt, int | float | np.floating) and math.isfinite(dt) and dt > 0.0):
        raise ValueError(f"dt must be a finite number of years > 0, got {dt!r}")
    n_paths, n_steps, dt = int(n_paths), int(n_steps), float(dt)

    jump_intensity = float(model.jump_intensity)
    mbar = _jump_moments(model)[0] if jump_intensity > 0.0 else 0.0
    drift = (model.rate - model.dividend_yield - jump_intensity * mbar) * dt

    dates = trading_dates(start_date, n_steps)
    spot = np.empty((n_steps + 1, n_paths))
    variance = np.empty((n_steps + 1, n_paths))
    jumps = np.zeros((n_steps + 1, n_paths), dtype=np.int32)
    spot[0] = model.spot0
    variance[0] = model.variance0
    log_spot = np.full(n_paths, math.log(model.spot0))
    jump_log_spot = np.zeros(n_paths)
    jump_variance = np.zeros(n_paths)

    for t in range(n_steps):
        z_var = rng.standard_normal(n_paths)
        u_var = rng.uniform(size=n_paths)
        z_spot = rng.standard_normal(n_paths)
        if jump_intensity > 0.0:
            n_jumps = rng.poisson(jump_intensity * dt, n_paths)
            jumps[t + 1] = n_jumps
            jumping = np.flatnonzero(n_jumps)
            jump_log_spot.fill(0.0)
            jump_variance.fill(0.0)
            if jumping.size:
                counts = n_jumps[jumping]
                variance_jump = rng.gamma(counts, model.jump_variance_mean)
                z_jump = rng.standard_normal(jumping.size)
                jump_variance[jumping] = variance_jump
                jump_log_spot[jumping] = (
                    counts * model.jump_spot_mean
                    + model.jump_spot_per_variance * variance_jump
                    + model.jump_spot_std * np.sqrt(counts) * z_jump
                )
        _svcj_step_kernel(
            log_spot, variance[t], variance[t + 1], spot[t + 1],
            z_var, u_var, z_spot, jump_log_spot, jump_variance,
            float(model.kappa), float(model.theta), float(model.xi), float(model.rho),
            dt, drift,
        )

    vix = vix_from_variance(
        variance, model.kappa, model.theta, jump_intensity, model.jump_variance_mean,
        vix_jump_term(model),
    )
    return MarketPaths(dates=dates, dt=dt, spot=spot, variance=variance, vix=vix, jumps=jumps)


@njit(cache=True)
def _integration_weights(kappa: float, dt: float) -> tuple[float, float]:
    """Weights ``(w1, w2)`` with ``int_t^{t+dt} v_s ds ~ w1 v(t) + w2 v(t+dt)``.

    Andersen's ``gamma1 dt`` and ``gamma2 dt`` with ``gamma1 + gamma2 = 1``,
    chosen so that the rule is exact for the conditional-mean path
    ``E[v(t+dt)] = theta + (v - theta) e^{-kappa dt}``:
    ``gamma2 = (1 - a) / (1 - e^{-kappa dt})``, ``a = (1 - e^{-kappa dt})/(kappa dt)``.
    ``gamma2 = 1/2 + kappa dt / 12 + O((kappa dt)^2)``, the central rule
    ``gamma1 = gamma2 = 1/2`` as ``kappa dt -> 0``.
    """
    x = kappa * dt
    one_minus_decay = -math.expm1(-x)
    a = one_minus_decay / x if x > 0.0 else 1.0
    if x < _SERIES_CUTOFF:
        # (1 - a)/x by its Taylor series, then (1 - a)/(1 - e^-x) = ((1 - a)/x) / a.
        one_minus_a_over_x = 0.5 - x * (1.0 / 6.0 - x * (1.0 / 24.0 - x * (1.0 / 120.0
                                                                      - x / 720.0)))
        gamma2 = one_minus_a_over_x / a
    else:
        gamma2 = (1.0 - a) / one_minus_decay
    return (1.0 - gamma2) * dt, gamma2 * dt


@njit(cache=True)
def _svcj_step_kernel(
    log_spot: np.ndarray,
    variance_now: np.ndarray,
    variance_next: np.ndarray,
    spot_next: np.ndarray,
    z_var: np.ndarray,
    u_var: np.ndarray,
    z_spot: np.ndarray,
    jump_log_spot: np.ndarray,
    jump_variance: np.ndarray,
    kappa: float,
    theta: float,
    xi: float,
    rho: float,
    dt: float,
    drift: float,
) -> None:
    """Advance every path one step; writes ``log_spot`` in place and the next rows.

    ``drift`` is ``(r - q - lambda mbar) dt``; ``jump_*`` are the step's total
    jumps per path (0 where none arrived).  Inputs are assumed valid.
    """
    n_paths = log_spot.size
    decay = math.exp(-kappa * dt)
    # (1 - e^{-kappa dt}) / kappa, exact via expm1, -> dt as kappa -> 0.
    x = kappa * dt
    decay_integral = -math.expm1(-x) / kappa if x > 0.0 else dt
    w1, w2 = _integration_weights(kappa, dt)
    rho_bar = math.sqrt(max(1.0 - rho * rho, 0.0))

    if xi < XI_DETERMINISTIC:
        for i in range(n_paths):
            v = variance_now[i]
            v_diffusive = theta + (v - theta) * decay
            # w1 v + w2 v' is the exact int v ds of the deterministic path, >= 0.
            integrated = max(w1 * v + w2 * v_diffusive, 0.0)
            # rho z_var + rho_bar z_spot: the xi -> 0 limit of the QE step below,
            # so paths are continuous in xi for a fixed seed.
            shock = rho * z_var[i] + rho_bar * z_spot[i]
            log_spot[i] += (
                drift - 0.5 * integrated + math.sqrt(integrated) * shock + jump_log_spot[i]
            )
            variance_next[i] = v_diffusive + jump_variance[i]
            spot_next[i] = math.exp(log_spot[i])
        return

    # CIR conditional variance s^2 = v * s2_per_v + s2_const (Andersen 2008, QE
    # moments), written with decay_integral so that kappa = 0 needs no limit.
    xi2 = xi * xi
    s2_per_v = xi2 * decay * decay_integral
    s2_const = 0.5 * theta * xi2 * kappa * decay_integral * decay_integral
    # Andersen (2008) discretisation of ln S with gamma1 dt = w1, gamma2 dt = w2:
    # ln S' = ln S + K0 + K1 v + K2 v' + sqrt(K3 v + K4 v') Z_S, where the rho/xi
    # terms are rho int sqrt(v) dW_v = rho/xi (v' - v - kappa theta dt + kappa int v ds).
    rho_over_xi = rho / xi
    k0 = -rho_over_xi * kappa * theta * dt
    k1 = w1 * (kappa * rho_over_xi - 0.5) - rho_over_xi
    k2 = w2 * (kappa * rho_over_xi - 0.5) + rho_over_xi
    k3 = w1 * (1.0 - rho * rho)
    k4 = w2 * (1.0 - rho * rho)

    for i in range(n_paths):
        v = variance_now[i]
        m = theta + (v - theta) * decay
        s2 = v * s2_per_v + s2_const
        m2 = m * m
        if m <= 0.0:
            v_diffusive = 0.0
        elif s2 <= _PSI_FLOOR * m2:
            # psi ~ 0: no variance noise at this state.
            v_diffusive = m
        elif m2 == 0.0:
            # m below ~1e-162 and psi = s2/m^2 infinite: the exponential branch's
            # mass at zero is 1.
            v_diffusive = 0.0
        else:
            psi = s2 / m2
            if psi <= PSI_CRITICAL:
                # Quadratic branch: v' = a (b + Z)^2 matches m and s^2.
                two_over_psi = 2.0 / psi
                b2 = two_over_psi - 1.0 + math.sqrt(two_over_psi) * math.sqrt(two_over_psi - 1.0)
                a = m / (1.0 + b2)
                root = math.sqrt(b2) + z_var[i]
                v_diffusive = a * root * root
            else:
                # Exponential branch: mass p at 0, exponential tail with rate beta;
                # 1 - p = 2/(psi + 1) computed directly to keep digits when psi is large.
                one_minus_p = 2.0 / (psi + 1.0)
                beta = one_minus_p / m
                ratio = one_minus_p / (1.0 - u_var[i])
                v_diffusive = math.log(ratio) / beta if ratio > 1.0 else 0.0
        diffusion_var = max(k3 * v + k4 * v_diffusive, 0.0)
        log_spot[i] += (
            drift + k0 + k1 * v + k2 * v_diffusive
            + math.sqrt(diffusion_var) * z_spot[i] + jump_log_spot[i]
        )
        variance_next[i] = v_diffusive + jump_variance[i]
        spot_next[i] = math.exp(log_spot[i])
