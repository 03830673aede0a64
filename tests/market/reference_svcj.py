"""Frozen copy of the single-regime SVCJ generator as it was before regimes,
events and breadth were added (``sim/market/heston.py``; docstrings removed).

The reference for the test that the regime-switching generator reproduces
the old paths bit for bit when the model has one regime and no event
shocks. Do not edit: it is a record of the old behaviour, not code in use.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from pricing.vix import vix_from_variance
from sim.config import MarketModel
from sim.market.calendar import trading_dates
from sim.market.heston import PSI_CRITICAL, XI_DETERMINISTIC, _jump_moments, vix_jump_term

_PSI_FLOOR = 1e-300
_SERIES_CUTOFF = 1e-2


def reference_generate(
    model: MarketModel,
    n_paths: int,
    n_steps: int,
    dt: float,
    rng: np.random.Generator,
    start_date: str | np.datetime64 = "2025-01-02",
) -> dict[str, np.ndarray]:
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
    return {"dates": dates, "spot": spot, "variance": variance, "vix": vix, "jumps": jumps}


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
