"""SVCJ path generator: Heston variance with joint jumps in SPX and variance,
switching between market regimes, with scheduled macro events and breadth.

Dynamics in regime ``r`` (see ``sim.config.MarketModel``; Eraker, Johannes and
Polson 2003)::

    dv     = kappa_r (theta_r - v) dt + xi_r sqrt(v) dW_v + J_v dN
    d ln S = (r - q + mu_r - lambda_r mbar_r - v/2) dt + sqrt(v) dW_S + J_S dN
    corr(dW_S, dW_v) = rho_r,  J_v ~ Exp(mu_v,r),
    J_S | J_v ~ N(mu_S,r + b_r J_v, sigma_S,r^2),  mbar_r = E[e^{J_S}] - 1,

with ``mu_r`` the regime's equity premium (0 by default: the discounted SPX
is then a martingale). The regime is a Markov chain stepped once per step
(``sim.market.regimes``); within a step every path uses the parameters of
its regime at the start of the step, and the variance carries over a switch.
Steps that end on an FOMC, CPI or PPI day add the event's SPX and variance
shocks like extra jumps (``sim.market.events``). Breadth
(``sim.market.breadth``) is drawn from a stream of its own and reads the
SPX returns; it feeds back only through the switch
``breadth.divergence_predicts_stress``.

The paths follow the real-world measure P. The VIX is a price: it is the
30-day expectation of ``pricing.vix`` under the pricing measure Q, i.e. with
each regime's ``kappa_Q = kappa - vol_risk_premium`` and ``theta_Q = kappa
theta / kappa_Q`` (``MarketModel.pricing_models``; Heston 1993's market price
of volatility risk, jumps the same under both measures). The premium changes
the VIX array and nothing else: with the same seed, spot, variance, jumps,
regimes and breadth are bit for bit those without it. Under regime switching
the VIX is the frozen-regime approximation: it uses the current regime's
parameters and ignores future switches and scheduled events.

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
   ``ln S' = ln S + (r - q + mu - lambda mbar) dt + K0 + K1 v + K2 v' +
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
   ``N mu_S + b J_v,total + sigma_S sqrt(N) Z_J``.  The variance jump (and
   any event variance jump) is added after the QE step, so the correlation
   term of step 2 only sees the diffusive increment.

When ``xi < XI_DETERMINISTIC`` (``xi = 0`` switches stochastic variance off)
the variance follows its deterministic mean path between jumps and the log
spot takes a plain log-Euler step with the exact integrated variance ``I`` of
that path, ``(r - q + mu - lambda mbar) dt - I/2 + sqrt(I) (rho Z_v +
sqrt(1 - rho^2) Z_S)``, so nothing divides by ``xi``; the shock is the
``xi -> 0`` limit of step 2, which keeps paths continuous in ``xi`` for a seed.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from pricing.vix import VIX_TAU, vix_from_variance, vix_from_variance_one
from sim.config import MarketModel
from sim.market.breadth import divergence_episodes, net_advances_step, step_noise
from sim.market.calendar import trading_dates
from sim.market.events import draw_event_shocks, event_flags, has_shocks
from sim.market.paths import MarketPaths
from sim.market.regimes import simulate_regimes

#: Andersen's switching level between the quadratic and exponential QE branches.
PSI_CRITICAL = 1.5

#: Below this vol of variance (1/sqrt(year)) the variance is treated as
#: deterministic: the ``rho / xi`` terms of the log-spot step cancel to a
#: rounding error of roughly ``1e-16 v / xi``, and a step's variance noise
#: ``xi sqrt(v dt)`` is negligible anyway.
XI_DETERMINISTIC = 1e-6

# psi below this is a point mass at the mean (2/psi would overflow).
_PSI_FLOOR = 1e-300

# Smallest spot (index points): exp(ln S) underflows to 0 below ln S ~ -745 after a
# run of extreme crash jumps, and S = 0 (ln S = -inf) breaks every return downstream.
_MIN_SPOT = 2.2250738585072014e-308   # the smallest normal float

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
    # E[e^J] - 1 - E[J] >= 0 (Jensen), but for jumps of ~1e-8 or less the difference
    # of the two rounded terms can come out a few ulps below 0 (then refused as a
    # negative jump term by pricing.vix): floor it.
    return max(2.0 * model.jump_intensity * (mbar - mean_log_jump), 0.0)


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
    """Simulate SPX, variance, VIX, regimes, events and breadth under regime-switching SVCJ.

    Each path follows the dynamics of its current regime (``model.regime_models()``):
    ``regime[t]`` sets kappa, theta, xi, rho, the drift
    ``(r - q + equity_premium - lambda mbar) dt`` and the jumps of the step
    from tick ``t`` to ``t + 1`` (``sim.market.regimes``). The variance
    carries over a switch. Steps ending on a macro event tick add the
    event's shocks (``sim.market.events``); breadth (``sim.market.breadth``)
    reads the SPX returns and, only if ``breadth.divergence_predicts_stress``,
    tilts the regime transitions.

    The VIX is priced under the pricing measure Q and uses the
    frozen-regime approximation: at each tick it is the 30-day
    log-contract value of ``pricing.vix.vix_from_variance`` under the Q
    parameters of the path's current regime (``model.pricing_models()``:
    its ``kappa_Q``, ``theta_Q``, jump intensity, variance-jump mean and
    ``vix_jump_term``), as if the regime lasted 30 days; future regime
    switches and scheduled events are not priced in. ``vol_risk_premium``
    changes only this array (it draws nothing and steers no path); at 0 in
    every regime Q is P and the VIX is that of the P parameters, bit for bit.

    Randomness. ``breadth_rng = rng.spawn(1)[0]`` first (this does not
    advance ``rng``): the breadth stream draws the divergence episodes
    before the market loop and the net-advances noise after it, so breadth
    parameters can never change a market draw. Then from ``rng``, in order:

    1. Regimes, only with more than one regime: ``rng.uniform(size=n_paths)``
       for the first tick if ``regimes.initial == "stationary"``, then
       ``rng.uniform(size=(n_steps, n_paths))`` for the transitions.
    2. For each step: ``z_var = rng.standard_normal(n_paths)``,
       ``u_var = rng.uniform(size=n_paths)``,
       ``z_spot = rng.standard_normal(n_paths)``; then, only if some regime
       has ``jump_intensity > 0``, ``n_jumps = rng.poisson(lambda dt)``
       (``lambda`` of each path's regime; a scalar with ``size=n_paths``
       when all regimes share it) and, for the paths with ``n_jumps > 0``
       in path order, ``rng.gamma(n_jumps, jump_variance_mean)`` (of each
       path's regime; a scalar when all share it)
       followed by ``rng.standard_normal(n_jumping)``; then, only if the
       step ends on an event tick with shocks, the draws of
       ``sim.market.events.draw_event_shocks``.

    With one regime and no event shocks this is exactly the draw order of
    the single-regime generator, whose paths it reproduces bit for bit. The
    same generator state gives bit-identical paths.

    Parameters
    ----------
    model : MarketModel
        Market parameters (initial spot and variance, regimes, events and
        breadth included).
    n_paths : int
        Number of paths, ``>= 1``.
    n_steps : int
        Number of steps after the first tick, ``>= 1``.
    dt : float
        Step length in years, ``> 0`` (``7 / (5 * 365.25)`` for the
        runner's daily ticks). The scheme is accurate for steps short
        against ``1/kappa``; much longer steps stay finite but the ``rho``
        term scales the end-point variance noise by ``kappa dt``. The
        regime matrix and the divergence episode ends act once per step
        whatever ``dt`` is (one step is one trading day).
    rng : numpy.random.Generator
        Source of all randomness; it is advanced and one child stream is
        spawned from its seed sequence.
    start_date : str or numpy.datetime64, optional
        Calendar date of the first tick; rolled forward to a business day.

    Returns
    -------
    MarketPaths
        Arrays of shape ``(n_steps + 1, n_paths)``: spot (index points),
        variance (annualized), VIX (index points), jumps per step (int32),
        regime (int8), net advances and A/D line (float64), divergence
        (bool); event flags (uint8) of shape ``(n_steps + 1,)``.

    Raises
    ------
    ValueError
        If ``n_paths < 1``, ``n_steps < 1``, ``dt`` is not a positive finite
        number, the regime chain or the event calendar is invalid, or a
        regime has jumps on with ``jump_spot_per_variance *
        jump_variance_mean >= 1`` (then ``E[e^J]`` and the drift compensator
        are infinite), or a regime has ``vol_risk_premium != 0`` and
        ``kappa - vol_risk_premium <= 0`` (no pricing measure).
    """
    if isinstance(n_paths, bool) or not isinstance(n_paths, int | np.integer) or n_paths < 1:
        raise ValueError(f"n_paths must be an integer >= 1, got {n_paths!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if not (isinstance(dt, int | float | np.floating) and math.isfinite(dt) and dt > 0.0):
        raise ValueError(f"dt must be a finite number of years > 0, got {dt!r}")
    n_paths, n_steps, dt = int(n_paths), int(n_steps), float(dt)

    regime_models = model.regime_models()
    constants = _regime_constants(regime_models, dt)
    # The VIX is a price: each regime's dynamics under Q (validated before any draw).
    pricing_models = model.pricing_models()
    jump_intensity = constants[:, _JUMP_INTENSITY]
    jump_variance_mean = constants[:, _JUMP_VARIANCE_MEAN]
    jump_spot_mean = constants[:, _JUMP_SPOT_MEAN]
    jump_spot_std = constants[:, _JUMP_SPOT_STD]
    jump_spot_per_variance = constants[:, _JUMP_SPOT_PER_VARIANCE]
    any_jumps = bool((jump_intensity > 0.0).any())
    # One intensity (and one variance-jump mean) for all regimes: scalar draws,
    # exactly those of the single-regime generator.
    common_intensity = bool((jump_intensity == jump_intensity[0]).all())
    common_variance_mean = bool((jump_variance_mean == jump_variance_mean[0]).all())

    dates = trading_dates(start_date, n_steps)
    events = event_flags(dates, model.events)
    event_shocks = has_shocks(model.events)

    breadth_rng = rng.spawn(1)[0]
    divergence = divergence_episodes(model.breadth, n_paths, n_steps, dt, breadth_rng)
    regime = simulate_regimes(model.regimes, model.breadth, divergence, rng)

    spot = np.empty((n_steps + 1, n_paths))
    variance = np.empty((n_steps + 1, n_paths))
    jumps = np.zeros((n_steps + 1, n_paths), dtype=np.int32)
    spot[0] = model.spot0
    variance[0] = model.variance0
    advances = np.empty((n_steps + 1, n_paths))
    ad_line = np.empty((n_steps + 1, n_paths))
    advances[0] = 0.0
    ad_line[0] = 0.0
    log_spot = np.full(n_paths, math.log(model.spot0))
    log_return = np.empty(n_paths)
    jump_log_spot = np.zeros(n_paths)
    jump_variance = np.zeros(n_paths)

    for t in range(n_steps):
        z_var = rng.standard_normal(n_paths)
        u_var = rng.uniform(size=n_paths)
        z_spot = rng.standard_normal(n_paths)
        regime_now = regime[t]
        if any_jumps or event_shocks:
            jump_log_spot.fill(0.0)
            jump_variance.fill(0.0)
        if any_jumps:
            if common_intensity:
                n_jumps = rng.poisson(jump_intensity[0] * dt, n_paths)
            else:
                n_jumps = rng.poisson(jump_intensity[regime_now] * dt)
            jumps[t + 1] = n_jumps
            jumping = np.flatnonzero(n_jumps)
            if jumping.size:
                counts = n_jumps[jumping]
                jumping_regime = regime_now[jumping]
                variance_jump = rng.gamma(
                    counts, jump_variance_mean[0] if common_variance_mean
                    else jump_variance_mean[jumping_regime])
                z_jump = rng.standard_normal(jumping.size)
                jump_variance[jumping] = variance_jump
                jump_log_spot[jumping] = (
                    counts * jump_spot_mean[jumping_regime]
                    + jump_spot_per_variance[jumping_regime] * variance_jump
                    + jump_spot_std[jumping_regime] * np.sqrt(counts) * z_jump
                )
        if event_shocks and events[t + 1]:
            event_log_spot, event_variance = draw_event_shocks(
                int(events[t + 1]), model.events, n_paths, rng)
            if event_log_spot is not None:
                jump_log_spot += event_log_spot
            if event_variance is not None:
                jump_variance += event_variance
        _svcj_step_kernel(
            log_spot, variance[t], variance[t + 1], spot[t + 1],
            z_var, u_var, z_spot, jump_log_spot, jump_variance, regime_now, constants,
            log_return,
        )
        # Breadth while the step's rows are in cache; its draws use its own stream.
        net_advances_step(advances, ad_line, t, log_return, divergence, variance,
                          step_noise(model.breadth, n_paths, breadth_rng), model.breadth, dt)

    vix = _vix_by_regime(variance, regime, pricing_models)
    return MarketPaths(
        dates=dates, dt=dt, spot=spot, variance=variance, vix=vix, jumps=jumps,
        regime=regime, regime_names=tuple(model.regimes.names), events=events,
        net_advances=advances, ad_line=ad_line, divergence=divergence,
    )


def _vix_by_regime(variance: np.ndarray, regime: np.ndarray,
                   regime_models: tuple[MarketModel, ...]) -> np.ndarray:
    """VIX of every tick under the path's current regime (frozen-regime approximation).

    Equal, element by element, to ``pricing.vix.vix_from_variance`` of the
    ticks in each regime with that regime's parameters (``generate`` passes
    the pricing-measure models); one pass in a kernel instead of a masked
    copy per regime.
    """
    if len(regime_models) == 1:
        m = regime_models[0]
        return vix_from_variance(variance, m.kappa, m.theta, m.jump_intensity,
                                 m.jump_variance_mean, vix_jump_term(m))
    vix_parameters = np.array([
        (m.kappa, m.theta, m.jump_intensity, m.jump_variance_mean, vix_jump_term(m))
        for m in regime_models
    ], dtype=np.float64)
    vix = np.empty_like(variance)
    _vix_by_regime_kernel(variance.reshape(-1), regime.reshape(-1), vix_parameters,
                          vix.reshape(-1), VIX_TAU)
    return vix


# Columns of the per-regime constants table built by _regime_constants.
_KAPPA, _THETA, _XI, _RHO, _DRIFT = 0, 1, 2, 3, 4
_DECAY, _W1, _W2, _RHO_BAR, _S2_PER_V, _S2_CONST = 5, 6, 7, 8, 9, 10
_K0, _K1, _K2, _K3, _K4 = 11, 12, 13, 14, 15
_JUMP_INTENSITY, _JUMP_VARIANCE_MEAN, _JUMP_SPOT_MEAN = 16, 17, 18
_JUMP_SPOT_STD, _JUMP_SPOT_PER_VARIANCE = 19, 20
_N_CONSTANTS = 21


def _regime_constants(regime_models: tuple[MarketModel, ...], dt: float) -> np.ndarray:
    """Per-regime step constants, ``(n_regimes, _N_CONSTANTS)`` float64, built once per run.

    Raises
    ------
    ValueError
        If a regime with jumps has ``E[e^J]`` infinite; the message names it.
    """
    table = np.empty((len(regime_models), _N_CONSTANTS))
    for r, m in enumerate(regime_models):
        intensity = float(m.jump_intensity)
        try:
            mbar = _jump_moments(m)[0] if intensity > 0.0 else 0.0
        except ValueError as error:
            if len(regime_models) == 1:
                raise
            raise ValueError(f"regime {m.regimes.names[r]!r}: {error}") from None
        drift = (m.rate - m.dividend_yield + m.equity_premium - intensity * mbar) * dt
        table[r, :_JUMP_INTENSITY] = _step_constants(
            float(m.kappa), float(m.theta), float(m.xi), float(m.rho), dt, drift)
        table[r, _JUMP_INTENSITY:] = (intensity, m.jump_variance_mean, m.jump_spot_mean,
                                      m.jump_spot_std, m.jump_spot_per_variance)
    return table


@njit(cache=True)
def _step_constants(kappa: float, theta: float, xi: float, rho: float, dt: float,
                    drift: float) -> np.ndarray:
    """Constants of one regime's step, columns ``_KAPPA`` to ``_K4``.

    ``drift`` is ``(r - q + mu - lambda mbar) dt``. The QE moments and
    Andersen's ``K0..K4`` are left 0 when ``xi < XI_DETERMINISTIC`` (they
    divide by ``xi``; the deterministic branch does not use them).
    """
    out = np.zeros(_JUMP_INTENSITY)
    decay = math.exp(-kappa * dt)
    # (1 - e^{-kappa dt}) / kappa, exact via expm1, -> dt as kappa -> 0.
    x = kappa * dt
    decay_integral = -math.expm1(-x) / kappa if x > 0.0 else dt
    w1, w2 = _integration_weights(kappa, dt)
    out[_KAPPA] = kappa
    out[_THETA] = theta
    out[_XI] = xi
    out[_RHO] = rho
    out[_DRIFT] = drift
    out[_DECAY] = decay
    out[_W1] = w1
    out[_W2] = w2
    out[_RHO_BAR] = math.sqrt(max(1.0 - rho * rho, 0.0))
    if xi >= XI_DETERMINISTIC:
        # CIR conditional variance s^2 = v * s2_per_v + s2_const (Andersen 2008, QE
        # moments), written with decay_integral so that kappa = 0 needs no limit.
        xi2 = xi * xi
        out[_S2_PER_V] = xi2 * decay * decay_integral
        out[_S2_CONST] = 0.5 * theta * xi2 * kappa * decay_integral * decay_integral
        # Andersen (2008) discretisation of ln S with gamma1 dt = w1, gamma2 dt = w2:
        # ln S' = ln S + K0 + K1 v + K2 v' + sqrt(K3 v + K4 v') Z_S, where the rho/xi
        # terms are rho int sqrt(v) dW_v = rho/xi (v' - v - kappa theta dt + kappa int v ds).
        rho_over_xi = rho / xi
        out[_K0] = -rho_over_xi * kappa * theta * dt
        out[_K1] = w1 * (kappa * rho_over_xi - 0.5) - rho_over_xi
        out[_K2] = w2 * (kappa * rho_over_xi - 0.5) + rho_over_xi
        out[_K3] = w1 * (1.0 - rho * rho)
        out[_K4] = w2 * (1.0 - rho * rho)
    return out


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
    regime_now: np.ndarray,
    constants: np.ndarray,
    log_return: np.ndarray,
) -> None:
    """Advance every path one step; writes ``log_spot`` and ``log_return`` in place
    and the next rows.

    Path ``i`` uses row ``regime_now[i]`` of ``constants`` (``_regime_constants``).
    ``jump_*`` are the step's total jumps per path, events included (0 where
    none arrived), added after the diffusive step.  Inputs are assumed valid.
    """
    n_paths = log_spot.size
    for i in range(n_paths):
        r = regime_now[i]
        theta = constants[r, _THETA]
        decay = constants[r, _DECAY]
        drift = constants[r, _DRIFT]
        v = variance_now[i]
        if constants[r, _XI] < XI_DETERMINISTIC:
            v_diffusive = theta + (v - theta) * decay
            # w1 v + w2 v' is the exact int v ds of the deterministic path, >= 0.
            integrated = max(constants[r, _W1] * v + constants[r, _W2] * v_diffusive, 0.0)
            # rho z_var + rho_bar z_spot: the xi -> 0 limit of the QE step below,
            # so paths are continuous in xi for a fixed seed.
            shock = constants[r, _RHO] * z_var[i] + constants[r, _RHO_BAR] * z_spot[i]
            step = drift - 0.5 * integrated + math.sqrt(integrated) * shock + jump_log_spot[i]
            log_return[i] = step
            log_spot[i] += step
            variance_next[i] = v_diffusive + jump_variance[i]
            spot_next[i] = max(math.exp(log_spot[i]), _MIN_SPOT)
            continue

        m = theta + (v - theta) * decay
        s2 = v * constants[r, _S2_PER_V] + constants[r, _S2_CONST]
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
        diffusion_var = max(constants[r, _K3] * v + constants[r, _K4] * v_diffusive, 0.0)
        step = (
            drift + constants[r, _K0] + constants[r, _K1] * v + constants[r, _K2] * v_diffusive
            + math.sqrt(diffusion_var) * z_spot[i] + jump_log_spot[i]
        )
        log_return[i] = step
        log_spot[i] += step
        variance_next[i] = v_diffusive + jump_variance[i]
        spot_next[i] = max(math.exp(log_spot[i]), _MIN_SPOT)


@njit(cache=True)
def _vix_by_regime_kernel(variance: np.ndarray, regime: np.ndarray, parameters: np.ndarray,
                          vix: np.ndarray, tau: float) -> None:
    """VIX (index points) of flat ``variance`` under row ``regime[i]`` of ``parameters``.

    ``parameters`` columns: kappa, theta, jump intensity, variance-jump mean,
    jump term of VIX^2.  Writes ``vix`` in place; inputs assumed valid.
    """
    for i in range(variance.size):
        r = regime[i]
        vix[i] = vix_from_variance_one(variance[i], parameters[r, 0], parameters[r, 1],
                                       parameters[r, 2], parameters[r, 3], parameters[r, 4],
                                       tau)
