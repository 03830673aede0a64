"""SVCJ prices by COS: published Heston value, Black-Scholes and Merton limits, the
affine exponent against a numerical Riccati solution, no-arbitrage properties, and
Monte Carlo agreement with the path generator ``sim.market.generate``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from pricing import bs_price
from pricing.svcj import log_contract_variance_one, svcj_exponent, svcj_forward_puts, svcj_price

#: Fang and Oosterlee (2008), SIAM J. Sci. Comput. 31(2), sec. 5.2, Heston test:
#: S = K = 100, T = 1, r = q = 0, kappa = 1.5768, theta = 0.0398, xi = 0.5751,
#: rho = -0.5711, v0 = 0.0175; reference call value 5.785155450.
FO_HESTON = {"kappa": 1.5768, "theta": 0.0398, "xi": 0.5751, "rho": -0.5711}
FO_V0 = 0.0175
FO_CALL = 5.785155450
#: Their value agrees with an independent Lewis-formula integration (mpmath, 30
#: digits: 5.785155434376) to 1.6e-8; 1e-7 covers it and our L = 10 range error.
FO_TOL = 1e-7

#: The default market's jump and variance parameters (``sim.config.MarketModel``).
DEFAULT = {"kappa": 4.0, "theta": 0.035, "xi": 0.6, "rho": -0.7, "lam": 0.5, "mu_s": -0.03,
           "sigma_s": 0.03, "mu_v": 0.04, "b": -0.5}
NO_JUMPS = {"lam": 0.0, "mu_s": 0.0, "sigma_s": 0.0, "mu_v": 0.0, "b": 0.0}


def price(S, K, T, r, q, v, params, is_call, **kw):
    """``svcj_price`` with the model parameters from a dict."""
    p = {**NO_JUMPS, **params}
    return svcj_price(S, K, T, r, q, v, p["kappa"], p["theta"], p["xi"], p["rho"], p["lam"],
                      p["mu_s"], p["sigma_s"], p["mu_v"], p["b"], is_call, **kw)


@pytest.fixture(scope="module", autouse=True)
def warm_svcj_kernels() -> None:
    """Compile (or load from the numba cache) the SVCJ kernels once."""
    price(100.0, np.array([90.0, 110.0]), 0.1, 0.01, 0.0, 0.04, DEFAULT, np.array([True, False]))


# --- reference values --------------------------------------------------------------------------

def test_fang_oosterlee_heston_call():
    call = price(100.0, 100.0, 1.0, 0.0, 0.0, FO_V0, FO_HESTON, True)
    assert abs(call - FO_CALL) <= FO_TOL


@pytest.mark.parametrize("strike", [80.0, 100.0, 120.0])
def test_heston_terms_and_range_converged(strike):
    """The automatic terms against 4096 terms on the same range (series converged) and
    against a range twice as wide with 16384 terms (truncation error ~2e-10 of spot)."""
    auto = float(price(100.0, strike, 1.0, 0.0, 0.0, FO_V0, FO_HESTON, False))
    many = float(price(100.0, strike, 1.0, 0.0, 0.0, FO_V0, FO_HESTON, False, n_terms=4096))
    k = np.array([math.log(strike / 100.0)])
    wide = 100.0 * svcj_forward_puts(k, 1.0, FO_V0, *FO_HESTON.values(), 0.0, 0.0, 0.0, 0.0,
                                     0.0, 16384, 20.0)[0]
    assert abs(auto - many) <= 1e-11
    assert abs(auto - wide) <= 5e-8


@pytest.mark.parametrize("T", [1.0 / 365.0, 0.1, 1.0])
@pytest.mark.parametrize("xi", [0.0, 1e-9])
def test_deterministic_variance_is_black_scholes(T, xi):
    """``xi -> 0``, no jumps, ``v = theta``: Black-Scholes at ``sqrt(theta)``, to 1e-8.

    The price moves linearly in ``xi`` through ``rho`` (about 2.4e-1 xi at K = 90,
    T = 0.1), so the second case checks continuity at ``xi = 1e-9``."""
    theta = 0.04
    strikes = np.array([70.0, 90.0, 100.0, 110.0, 140.0])
    for is_call in (True, False):
        model = price(100.0, strikes, T, 0.03, 0.01, theta,
                      {"kappa": 3.0, "theta": theta, "xi": xi, "rho": -0.7}, is_call)
        reference = bs_price(100.0, strikes, T, 0.03, 0.01, math.sqrt(theta), is_call)
        np.testing.assert_allclose(model, reference, rtol=0.0, atol=1e-8)


def test_deterministic_variance_off_its_mean():
    """``xi = 0``, no jumps, ``v != theta``: Black-Scholes at the mean integrated variance."""
    kappa, theta, v, T = 2.0, 0.03, 0.09, 0.25
    total_variance = theta * T + (v - theta) * (1.0 - math.exp(-kappa * T)) / kappa
    strikes = np.array([80.0, 100.0, 125.0])
    model = price(100.0, strikes, T, 0.02, 0.0, v, {"kappa": kappa, "theta": theta, "xi": 0.0,
                                                   "rho": 0.3}, True)
    reference = bs_price(100.0, strikes, T, 0.02, 0.0, math.sqrt(total_variance / T), True)
    np.testing.assert_allclose(model, reference, rtol=0.0, atol=1e-8)


def merton_price(S, K, T, r, q, sigma, lam, mu_s, sigma_s, is_call, n_max=80):
    """Merton (1976, J. Financial Economics 3, 125-144) series: a Poisson mixture of
    Black-Scholes prices with ``sigma_n^2 = sigma^2 + n sigma_s^2 / T`` and
    ``r_n = r - lam mbar + n ln(1 + mbar) / T``, weights at intensity ``lam (1 + mbar)``."""
    mbar = math.exp(mu_s + 0.5 * sigma_s**2) - 1.0
    intensity = lam * (1.0 + mbar) * T
    total = 0.0
    for n in range(n_max):
        weight = math.exp(-intensity + n * math.log(intensity) - math.lgamma(n + 1))
        sigma_n = math.sqrt(sigma**2 + n * sigma_s**2 / T)
        r_n = r - lam * mbar + n * (mu_s + 0.5 * sigma_s**2) / T
        # Discounting at r_n instead of r is absorbed by the intensity lam (1 + mbar).
        total += weight * float(bs_price(S, K, T, r_n, q, sigma_n, is_call))
    return total


@pytest.mark.parametrize("T", [5.0 / 365.0, 0.25, 1.0])
def test_merton_jump_diffusion(T):
    """Tiny ``xi``, ``v = theta``, no variance jumps: Merton's series, to 1e-6.

    ``xi = 1e-8``: the price is linear in ``xi`` near 0 (1.5e-6 at ``xi = 1e-6``, K = 130,
    T = 1); at ``xi = 0`` the match is 2e-14."""
    theta = 0.03
    params = {"kappa": 2.0, "theta": theta, "xi": 1e-8, "rho": -0.5, "lam": 1.5,
              "mu_s": -0.06, "sigma_s": 0.08, "mu_v": 0.0, "b": 0.0}
    for strike in (70.0, 95.0, 100.0, 108.0, 130.0):
        for is_call in (True, False):
            model = float(price(100.0, strike, T, 0.03, 0.01, theta, params, is_call))
            reference = merton_price(100.0, strike, T, 0.03, 0.01, math.sqrt(theta),
                                     params["lam"], params["mu_s"], params["sigma_s"], is_call)
            assert abs(model - reference) <= 1e-6, (strike, is_call, model, reference)


# --- the affine exponent -----------------------------------------------------------------------

def riccati_exponent(u, T, v, kappa, theta, xi, rho, lam, mu_s, sigma_s, mu_v, b):
    """``alpha + beta v`` at ``c = iu`` by integrating the Riccati ODEs numerically."""
    c = 1j * u
    mbar = math.exp(mu_s + 0.5 * sigma_s**2) / (1.0 - mu_v * b) - 1.0

    def rhs(_tau, y):
        beta = y[1]
        jump = np.exp(c * mu_s + 0.5 * c * c * sigma_s**2) / (1.0 - mu_v * (beta + b * c))
        d_alpha = kappa * theta * beta + lam * (jump - 1.0) - c * lam * mbar
        d_beta = 0.5 * (c * c - c) + (rho * xi * c - kappa) * beta + 0.5 * xi**2 * beta**2
        return [d_alpha, d_beta]

    solution = solve_ivp(rhs, (0.0, T), np.zeros(2, dtype=complex), method="DOP853",
                         rtol=1e-12, atol=1e-14)
    alpha, beta = solution.y[:, -1]
    return alpha + beta * v


@pytest.mark.parametrize("T", [2.0 / 365.0, 0.1, 0.5])
@pytest.mark.parametrize("rho", [-0.7, 0.5])
def test_exponent_solves_the_riccati_equations(T, rho):
    """The closed form (little Heston trap) plus the graded Gauss-Legendre jump integral
    against DOP853 on the Riccati system, to 1e-9 on the exponent (the CF to 1e-9)."""
    params = {**DEFAULT, "rho": rho, "sigma_s": 0.01, "mu_v": 0.08, "b": -1.0}
    v = 0.05
    for u in (0.7, 7.0, 70.0, 400.0):
        alpha, beta = svcj_exponent(1j * u, T, *params.values())
        reference = riccati_exponent(u, T, v, *params.values())
        assert abs(np.exp(alpha + beta * v) - np.exp(reference)) <= 1e-9, (u, T)
        assert abs((alpha + beta * v).real - reference.real) <= 1e-9 * max(1.0, -reference.real)


def test_log_contract_variance_is_minus_twice_the_mean_log_return():
    """``v_ref = -2 E[X_T] / T``, with ``E[X_T] = -i phi'(0)`` by a central difference."""
    v, T, h = 0.05, 0.2, 1e-4
    plus = svcj_exponent(1j * h, T, *DEFAULT.values())
    minus = svcj_exponent(-1j * h, T, *DEFAULT.values())
    mean_log_return = ((plus[0] + plus[1] * v) - (minus[0] + minus[1] * v)).imag / (2.0 * h)
    v_ref = log_contract_variance_one(v, T, DEFAULT["kappa"], DEFAULT["theta"], DEFAULT["lam"],
                                      DEFAULT["mu_s"], DEFAULT["sigma_s"], DEFAULT["mu_v"],
                                      DEFAULT["b"])
    assert abs(v_ref + 2.0 * mean_log_return / T) <= 1e-7 * v_ref


# --- no-arbitrage properties -------------------------------------------------------------------

@st.composite
def svcj_models(draw):
    """SVCJ parameters in a box around equity-index values (``mu_v b < 1`` by construction)."""
    return {
        "kappa": draw(st.floats(0.5, 10.0)),
        "theta": draw(st.floats(0.005, 0.25)),
        "xi": draw(st.floats(0.0, 1.5)),
        "rho": draw(st.floats(-0.95, 0.3)),
        "lam": draw(st.floats(0.0, 3.0)),
        "mu_s": draw(st.floats(-0.1, 0.05)),
        "sigma_s": draw(st.floats(0.0, 0.1)),
        "mu_v": draw(st.floats(0.0, 0.2)),
        "b": draw(st.floats(-2.0, 1.0)),
    }


@settings(max_examples=100, deadline=None)
@given(params=svcj_models(), v=st.floats(0.002, 1.0), T=st.floats(1.0 / 365.0, 1.0),
       S=st.floats(10.0, 10_000.0), r=st.floats(-0.01, 0.08), q=st.floats(0.0, 0.05),
       centre=st.floats(-3.0, 2.0), spacing=st.floats(0.05, 1.0))
def test_no_arbitrage(params, v, T, S, r, q, centre, spacing):
    """Parity, price bounds, calls decreasing and convex in the strike, to 1e-9 S."""
    tol = 1e-9 * S
    v_ref = log_contract_variance_one(v, T, params["kappa"], params["theta"], params["lam"],
                                      params["mu_s"], params["sigma_s"], params["mu_v"],
                                      params["b"])
    stdev = math.sqrt(v_ref * T)
    forward = S * math.exp((r - q) * T)
    # Five equally spaced strikes, from `centre` standard deviations up.
    low = forward * math.exp(centre * stdev)
    strikes = low + np.arange(5) * spacing * stdev * low
    calls = price(S, strikes, T, r, q, v, params, True)
    puts = price(S, strikes, T, r, q, v, params, False)
    fwd_pv, strike_pv = S * math.exp(-q * T), strikes * math.exp(-r * T)
    np.testing.assert_allclose(calls - puts, fwd_pv - strike_pv, rtol=0.0, atol=tol)
    assert np.all(calls >= np.maximum(fwd_pv - strike_pv, 0.0) - tol)
    assert np.all(calls <= fwd_pv + tol)
    assert np.all(puts >= np.maximum(strike_pv - fwd_pv, 0.0) - tol)
    assert np.all(puts <= strike_pv + tol)
    assert np.all(np.diff(calls) <= tol)
    butterflies = calls[:-2] - 2.0 * calls[1:-1] + calls[2:]
    assert np.all(butterflies >= -tol)


def test_degenerate_inputs():
    assert price(100.0, 90.0, 0.0, 0.03, 0.0, 0.04, DEFAULT, True) == 10.0
    assert price(100.0, 110.0, 0.0, 0.03, 0.0, 0.04, DEFAULT, False) == 10.0
    assert price(100.0, 0.0, 0.5, 0.0, 0.0, 0.04, DEFAULT, True) == 100.0
    assert price(100.0, 0.0, 0.5, 0.0, 0.0, 0.04, DEFAULT, False) == 0.0
    assert np.isnan(price(np.nan, 100.0, 0.5, 0.0, 0.0, 0.04, DEFAULT, True))
    with pytest.raises(ValueError, match="xi"):
        price(100.0, 100.0, 0.5, 0.0, 0.0, 0.04, {**DEFAULT, "xi": -0.1}, True)
    with pytest.raises(ValueError, match="mu_v \\* b"):
        price(100.0, 100.0, 0.5, 0.0, 0.0, 0.04, {**DEFAULT, "mu_v": 0.5, "b": 2.0}, True)


# --- Monte Carlo against the path generator ----------------------------------------------------

N_SE = 4.0


def test_monte_carlo_agreement_with_generator():
    """Discounted mean payoffs of 200k paths of ``generate`` (25 daily steps, variance
    jumps on) against ``svcj_price``, within 4 standard errors each (seeded)."""
    from sim.config import MarketModel
    from sim.market import generate

    params = {"kappa": 4.0, "theta": 0.035, "xi": 0.6, "rho": -0.7, "lam": 3.0,
              "mu_s": -0.03, "sigma_s": 0.03, "mu_v": 0.04, "b": -0.5}
    r, q, v0, S = 0.04, 0.015, 0.04, 100.0
    model = MarketModel(
        spot0=S, variance0=v0, kappa=params["kappa"], theta=params["theta"], xi=params["xi"],
        rho=params["rho"], rate=r, dividend_yield=q, jump_intensity=params["lam"],
        jump_spot_mean=params["mu_s"], jump_spot_std=params["sigma_s"],
        jump_variance_mean=params["mu_v"], jump_spot_per_variance=params["b"])
    n_steps, dt = 25, 1.0 / 252.0
    T = n_steps * dt
    terminal = generate(model, 200_000, n_steps, dt, np.random.default_rng(20250102)).spot[-1]
    discount = math.exp(-r * T)
    for strike, is_call in ((85.0, False), (92.0, False), (100.0, False), (105.0, True),
                            (110.0, True)):
        payoff = np.maximum(terminal - strike, 0.0) if is_call else np.maximum(
            strike - terminal, 0.0)
        payoff *= discount
        standard_error = payoff.std(ddof=1) / math.sqrt(payoff.size)
        model_price = float(price(S, strike, T, r, q, v0, params, is_call))
        assert abs(payoff.mean() - model_price) <= N_SE * standard_error, (
            f"K={strike}: Monte Carlo {payoff.mean():.5f} vs COS {model_price:.5f}, "
            f"standard error {standard_error:.2g}")
