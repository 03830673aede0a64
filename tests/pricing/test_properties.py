"""Hypothesis properties of the pricing kernels: invariants over all valid inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pricing import (
    Greeks,
    black76_greeks,
    black76_price,
    bs_greeks,
    bs_price,
    implied_vol,
    implied_vol_black76,
    smile_vol,
)
from pricing.black import bs_greeks_one, bs_price_one
from pricing.implied import implied_vol_one
from pricing.smile import smile_vol_one

FAST = settings(max_examples=100, deadline=None)
THOROUGH = settings(max_examples=200, deadline=None)

spots = st.floats(1.0, 10_000.0)
log_moneyness = st.floats(-1.0, 1.0)
expiries = st.floats(1.0 / 365.0, 5.0)
rates = st.floats(-0.02, 0.10)
yields = st.floats(0.0, 0.06)
vols = st.floats(0.01, 3.0)
option_types = st.booleans()


@st.composite
def options(draw, vol=vols, expiry=expiries, moneyness=log_moneyness):
    """An option as a dict of S, K, T, r, q, sigma, is_call."""
    S = draw(spots)
    return {
        "S": S,
        "K": S * math.exp(draw(moneyness)),
        "T": draw(expiry),
        "r": draw(rates),
        "q": draw(yields),
        "sigma": draw(vol),
        "is_call": draw(option_types),
    }


def _price(o: dict, **bumped: float) -> float:
    args = {**o, **bumped}
    return float(
        bs_price(
            args["S"], args["K"], args["T"], args["r"], args["q"], args["sigma"], args["is_call"]
        )
    )


def _bounds(o: dict) -> tuple[float, float]:
    fwd_pv = o["S"] * math.exp(-o["q"] * o["T"])
    strike_pv = o["K"] * math.exp(-o["r"] * o["T"])
    if o["is_call"]:
        return max(fwd_pv - strike_pv, 0.0), fwd_pv
    return max(strike_pv - fwd_pv, 0.0), strike_pv


# ---------------------------------------------------------------------------
# No-arbitrage relations
# ---------------------------------------------------------------------------


@FAST
@given(options())
def test_bs_put_call_parity(o: dict) -> None:
    call = _price(o, is_call=True)
    put = _price(o, is_call=False)
    forward_value = o["S"] * math.exp(-o["q"] * o["T"]) - o["K"] * math.exp(-o["r"] * o["T"])
    assert call - put == pytest.approx(forward_value, abs=1e-12 * (o["S"] + o["K"]))


@FAST
@given(options())
def test_black76_put_call_parity(o: dict) -> None:
    F, K, T, r, sigma = o["S"], o["K"], o["T"], o["r"], o["sigma"]
    call = black76_price(F, K, T, r, sigma, True)
    put = black76_price(F, K, T, r, sigma, False)
    assert call - put == pytest.approx(math.exp(-r * T) * (F - K), abs=1e-12 * (F + K))


@THOROUGH
@given(
    options(vol=st.floats(0.0, 20.0), expiry=st.floats(0.0, 10.0), moneyness=st.floats(-5.0, 5.0))
)
def test_price_within_no_arbitrage_bounds(o: dict) -> None:
    lower, upper = _bounds(o)
    tol = 1e-12 * (o["S"] + o["K"])
    price = _price(o)
    if o["T"] == 0.0:
        lower = max(o["S"] - o["K"], 0.0) if o["is_call"] else max(o["K"] - o["S"], 0.0)
        upper = lower
    assert lower - tol <= price <= upper + tol


@FAST
@given(options(), st.floats(0.001, 0.5))
def test_price_increases_with_vol(o: dict, extra_vol: float) -> None:
    tol = 1e-12 * (o["S"] + o["K"])
    assert _price(o, sigma=o["sigma"] + extra_vol) >= _price(o) - tol


# ---------------------------------------------------------------------------
# Greeks against central finite differences of the price
# ---------------------------------------------------------------------------

greek_options = options(
    vol=st.floats(0.05, 1.5), expiry=st.floats(0.02, 3.0), moneyness=st.floats(-0.7, 0.7)
)


@THOROUGH
@given(greek_options)
def test_greeks_match_finite_differences(o: dict) -> None:
    S, sigma, T = o["S"], o["sigma"], o["T"]
    greeks = bs_greeks(o["S"], o["K"], T, o["r"], o["q"], sigma, o["is_call"])
    # Steps scale with the option's natural widths: S sigma sqrt(T) in spot,
    # sigma in vol, T in time. Truncation error is O(1e-6) relative.
    total_vol = sigma * math.sqrt(T)
    h_spot = 1e-3 * S * total_vol
    h_vol = 1e-4 * sigma
    h_time = 1e-4 * T
    up, mid, down = _price(o, S=S + h_spot), _price(o), _price(o, S=S - h_spot)
    delta_fd = (up - down) / (2.0 * h_spot)
    gamma_fd = (up - 2.0 * mid + down) / h_spot**2
    vega_fd = (_price(o, sigma=sigma + h_vol) - _price(o, sigma=sigma - h_vol)) / (2.0 * h_vol)
    theta_fd = -(_price(o, T=T + h_time) - _price(o, T=T - h_time)) / (2.0 * h_time)
    # Absolute floors: rounding of prices of size ~S divided by the step.
    price_noise = 1e-14 * (S + o["K"])
    assert greeks.delta == pytest.approx(delta_fd, rel=1e-5, abs=1e-9 + price_noise / h_spot)
    assert greeks.gamma == pytest.approx(gamma_fd, rel=1e-4, abs=4.0 * price_noise / h_spot**2)
    assert greeks.vega == pytest.approx(vega_fd, rel=1e-5, abs=1e-9 * S + price_noise / h_vol)
    assert greeks.theta == pytest.approx(theta_fd, rel=1e-5, abs=1e-9 * S + price_noise / h_time)


@FAST
@given(greek_options)
def test_black76_greeks_are_bs_greeks_with_zero_carry(o: dict) -> None:
    F, K, T, r, sigma, is_call = o["S"], o["K"], o["T"], o["r"], o["sigma"], o["is_call"]
    black = black76_greeks(F, K, T, r, sigma, is_call)
    scholes = bs_greeks(F, K, T, r, r, sigma, is_call)
    assert tuple(black) == tuple(scholes)
    h = 1e-3 * F * sigma * math.sqrt(T)
    delta_fd = (
        black76_price(F + h, K, T, r, sigma, is_call)
        - black76_price(F - h, K, T, r, sigma, is_call)
    ) / (2.0 * h)
    assert black.delta == pytest.approx(delta_fd, rel=1e-5, abs=1e-9 + 1e-14 * (F + K) / h)


@FAST
@given(greek_options)
def test_greek_signs(o: dict) -> None:
    greeks = bs_greeks(o["S"], o["K"], o["T"], o["r"], o["q"], o["sigma"], o["is_call"])
    assert greeks.gamma >= 0.0
    assert greeks.vega >= 0.0
    if o["is_call"]:
        assert 0.0 <= greeks.delta <= 1.0
    else:
        assert -1.0 <= greeks.delta <= 0.0


# ---------------------------------------------------------------------------
# Implied volatility
# ---------------------------------------------------------------------------


@THOROUGH
@given(options(vol=st.floats(0.01, 5.0), moneyness=st.floats(-2.0, 2.0)))
def test_implied_vol_round_trip(o: dict) -> None:
    vega = bs_greeks(o["S"], o["K"], o["T"], o["r"], o["q"], o["sigma"], o["is_call"]).vega
    # Where vega is negligible the price does not determine the vol.
    assume(vega >= 1e-4 * o["S"])
    price = _price(o)
    recovered = implied_vol(price, o["S"], o["K"], o["T"], o["r"], o["q"], o["is_call"])
    # The price itself is known to a few ulps of S + K; that error over vega
    # is the attainable accuracy of the vol.
    tol = 1e-10 + 1e-13 * (o["S"] + o["K"]) / vega
    assert recovered == pytest.approx(o["sigma"], abs=tol)


@FAST
@given(options(vol=st.floats(0.05, 5.0), moneyness=st.floats(-2.0, 2.0)))
def test_implied_vol_black76_round_trip(o: dict) -> None:
    F, K, T, r, sigma, is_call = o["S"], o["K"], o["T"], o["r"], o["sigma"], o["is_call"]
    vega = black76_greeks(F, K, T, r, sigma, is_call).vega
    assume(vega >= 1e-4 * F)
    recovered = implied_vol_black76(black76_price(F, K, T, r, sigma, is_call), F, K, T, r, is_call)
    assert recovered == pytest.approx(sigma, abs=1e-10 + 1e-13 * (F + K) / vega)


@FAST
@given(options(), st.floats(1e-6, 1.0))
def test_implied_vol_is_nan_outside_bounds(o: dict, excess: float) -> None:
    lower, upper = _bounds(o)
    args = (o["S"], o["K"], o["T"], o["r"], o["q"], o["is_call"])
    gap = excess * (o["S"] + o["K"])
    assert np.isnan(implied_vol(lower - gap, *args))
    assert np.isnan(implied_vol(upper + gap, *args))
    assert np.isnan(implied_vol(upper, *args))


@FAST
@given(options())
def test_implied_vol_degenerate_inputs(o: dict) -> None:
    lower, upper = _bounds(o)
    args = (o["S"], o["K"], o["r"], o["q"], o["is_call"])
    S, K, r, q, is_call = args
    mid_price = 0.5 * (lower + upper)
    assert np.isnan(implied_vol(mid_price, S, K, 0.0, r, q, is_call))
    assert np.isnan(implied_vol(np.nan, S, K, o["T"], r, q, is_call))
    assert implied_vol(lower, S, K, o["T"], r, q, is_call) == 0.0


def test_implied_vol_far_from_the_money() -> None:
    # Prices of order 1e-30 and vols above the initial bracket still invert.
    S, T, r, q = 100.0, 0.25, 0.03, 0.01
    K = np.array([20.0, 400.0, 100.0, 100.0])
    sigma = np.array([0.3, 0.25, 15.0, 12.0])
    is_call = np.array([False, True, True, False])
    price = bs_price(S, K, T, r, q, sigma, is_call)
    assert np.all(price[:2] < 1e-20)
    np.testing.assert_allclose(implied_vol(price, S, K, T, r, q, is_call), sigma, rtol=1e-8)


# ---------------------------------------------------------------------------
# Edge cases: finite limits, never an exception inside a kernel
# ---------------------------------------------------------------------------


@FAST
@given(options())
def test_expired_option_is_intrinsic(o: dict) -> None:
    S, K, r, q, is_call = o["S"], o["K"], o["r"], o["q"], o["is_call"]
    intrinsic = max(S - K, 0.0) if is_call else max(K - S, 0.0)
    assert _price(o, T=0.0) == intrinsic
    greeks = bs_greeks(S, K, 0.0, r, q, o["sigma"], is_call)
    step = 1.0 if S > K else (0.5 if S == K else 0.0)
    assert greeks == (step if is_call else step - 1.0, 0.0, 0.0, 0.0)


@FAST
@given(options())
def test_zero_vol_is_discounted_forward_intrinsic(o: dict) -> None:
    lower, _upper = _bounds(o)
    assert _price(o, sigma=0.0) == pytest.approx(lower, rel=1e-14, abs=1e-14 * o["S"])
    greeks = bs_greeks(o["S"], o["K"], o["T"], o["r"], o["q"], 0.0, o["is_call"])
    assert np.all(np.isfinite(np.array(greeks)))
    # Continuous in sigma at 0 away from the money forward.
    assume(abs(lower) > 1e-3 * o["S"] or _price(o, sigma=1e-9) < 1e-6)
    assert _price(o, sigma=1e-9) == pytest.approx(lower, abs=1e-9 * o["S"])


def test_at_the_money_edge_conventions() -> None:
    expired = bs_greeks(100.0, 100.0, 0.0, 0.05, 0.0, 0.2, [True, False])
    np.testing.assert_array_equal(expired.delta, [0.5, -0.5])
    # Zero vol, at the money forward (r == q): N(d1) = N(d2) = 1/2, vega is the
    # right limit S e^{-qT} sqrt(T) / sqrt(2 pi), price 0.
    T, rate = 0.25, 0.03
    flat = bs_greeks(100.0, 100.0, T, rate, rate, 0.0, [True, False])
    discount = math.exp(-rate * T)
    np.testing.assert_allclose(flat.delta, [0.5 * discount, -0.5 * discount], rtol=1e-15)
    np.testing.assert_allclose(
        flat.vega, 100.0 * discount * math.sqrt(T / (2.0 * math.pi)), rtol=1e-15
    )
    np.testing.assert_allclose(
        flat.vega, bs_greeks(100.0, 100.0, T, rate, rate, 1e-9, True).vega, rtol=1e-8
    )
    assert bs_price(100.0, 100.0, T, rate, rate, 0.0, True) == 0.0


def test_non_positive_strike_is_a_forward() -> None:
    S, T, r, q = 100.0, 0.5, 0.04, 0.01
    K = np.array([0.0, -10.0])
    calls = bs_price(S, K, T, r, q, 0.2, True)
    np.testing.assert_allclose(calls, S * math.exp(-q * T) - K * math.exp(-r * T), rtol=1e-15)
    np.testing.assert_array_equal(bs_price(S, K, T, r, q, 0.2, False), [0.0, 0.0])
    greeks = bs_greeks(S, K, T, r, q, 0.2, True)
    np.testing.assert_allclose(greeks.delta, math.exp(-q * T), rtol=1e-15)
    assert np.all(np.isfinite(np.array(greeks)))


def test_zero_spot() -> None:
    T, r = 0.5, 0.04
    assert bs_price(0.0, 100.0, T, r, 0.0, 0.2, True) == 0.0
    assert bs_price(0.0, 100.0, T, r, 0.0, 0.2, False) == pytest.approx(100.0 * math.exp(-r * T))
    assert np.all(np.isfinite(np.array(bs_greeks(0.0, 100.0, T, r, 0.0, 0.2, [True, False]))))


def test_infinite_vol_reaches_the_upper_bounds() -> None:
    S, K, T, r, q = 100.0, 90.0, 0.5, 0.04, 0.01
    prices = bs_price(S, K, T, r, q, np.inf, [True, False])
    np.testing.assert_allclose(prices, [S * math.exp(-q * T), K * math.exp(-r * T)], rtol=1e-15)


def test_nan_propagates() -> None:
    args = [100.0, 100.0, 0.5, 0.02, 0.01, 0.2]
    for position in range(len(args)):
        bad = list(args)
        bad[position] = np.nan
        assert np.isnan(bs_price(*bad, True))
        assert np.all(np.isnan(np.array(bs_greeks(*bad, False))))
    assert np.isnan(black76_price(np.nan, 100.0, 0.5, 0.02, 0.2, True))
    assert np.isnan(smile_vol(100.0, 100.0, np.nan, 0.2, -0.1, 0.05, 3.0, 0.05, 2.0))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: bs_price(-1.0, 100.0, 0.5, 0.0, 0.0, 0.2, True), "S"),
        (lambda: bs_price(100.0, 100.0, -0.5, 0.0, 0.0, 0.2, True), "T"),
        (lambda: bs_price(100.0, 100.0, 0.5, 0.0, 0.0, [0.2, -0.2], True), "sigma"),
        (lambda: bs_greeks(-1.0, 100.0, 0.5, 0.0, 0.0, 0.2, True), "S"),
        (lambda: black76_price(-1.0, 100.0, 0.5, 0.0, 0.2, True), "F"),
        (lambda: black76_greeks(20.0, 20.0, -1.0, 0.0, 0.2, True), "T"),
        (lambda: black76_greeks(20.0, 20.0, 1.0, 0.0, -0.2, True), "sigma"),
        (lambda: smile_vol(-1.0, 100.0, 0.5, 0.2, -0.1, 0.05, 3.0, 0.05, 2.0), "K"),
        (lambda: smile_vol(100.0, 100.0, 0.5, 0.2, -0.1, 0.05, 3.0, 2.0, 0.05), "min_vol"),
    ],
)
def test_invalid_input_raises_naming_the_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()


# ---------------------------------------------------------------------------
# Broadcasting, shapes and dtypes of the public wrappers
# ---------------------------------------------------------------------------


def test_scalar_inputs_give_numpy_float64_scalars() -> None:
    price = bs_price(100, 100, 1, 0, 0, 0.2, True)
    assert isinstance(price, np.float64)
    greeks = bs_greeks(100, 100, 1, 0, 0, 0.2, True)
    assert isinstance(greeks, Greeks)
    assert all(isinstance(g, np.float64) for g in greeks)
    assert isinstance(black76_price(20, 20, 0.1, 0, 0.8, False), np.float64)
    assert isinstance(implied_vol(price, 100, 100, 1, 0, 0, True), np.float64)
    assert isinstance(smile_vol(100, 100, 0.1, 0.2, -0.1, 0.05, 3.0, 0.05, 2.0), np.float64)


def test_broadcast_shapes_and_dtypes() -> None:
    spot = np.array([[90], [100], [110]])  # integers on purpose
    strikes = np.array([95.0, 100.0, 105.0, 110.0])
    is_call = np.array([True, False, True, False])
    price = bs_price(spot, strikes, 0.25, 0.03, 0.01, 0.2, is_call)
    assert price.shape == (3, 4)
    assert price.dtype == np.float64
    for greek in bs_greeks(spot, strikes, 0.25, 0.03, 0.01, 0.2, is_call):
        assert greek.shape == (3, 4)
        assert greek.dtype == np.float64
    expected = [
        [
            bs_price_one(float(s), k, 0.25, 0.03, 0.01, 0.2, c)
            for k, c in zip(strikes, is_call, strict=True)
        ]
        for s in spot[:, 0]
    ]
    np.testing.assert_array_equal(price, expected)
    vol = implied_vol(price, spot, strikes, 0.25, 0.03, 0.01, is_call)
    assert vol.shape == (3, 4)
    np.testing.assert_allclose(vol, 0.2, atol=1e-10)
    futures = black76_price(spot, strikes, 0.25, 0.03, 0.9, is_call)
    assert futures.shape == (3, 4)
    assert implied_vol_black76(futures, spot, strikes, 0.25, 0.03, is_call).shape == (3, 4)
    assert black76_greeks(spot, strikes, 0.25, 0.03, 0.9, True).gamma.shape == (3, 4)
    assert smile_vol(strikes, spot, 0.25, 0.2, -0.1, 0.05, 3.0, 0.05, 2.0).shape == (3, 4)


def test_empty_and_list_inputs() -> None:
    assert bs_price(np.empty(0), 100.0, 1.0, 0.0, 0.0, 0.2, True).shape == (0,)
    assert bs_greeks([100.0, 101.0], 100.0, 1.0, 0.0, 0.0, 0.2, True).delta.shape == (2,)
    with pytest.raises(ValueError):
        bs_price(np.ones(2), np.ones(3), 1.0, 0.0, 0.0, 0.2, True)


@FAST
@given(options())
def test_jitted_kernels_match_python_twins(o: dict) -> None:
    args = (o["S"], o["K"], o["T"], o["r"], o["q"], o["sigma"], o["is_call"])
    assert bs_price_one(*args) == pytest.approx(bs_price_one.py_func(*args), rel=1e-14, abs=0)
    assert bs_greeks_one(*args) == pytest.approx(bs_greeks_one.py_func(*args), rel=1e-14, abs=0)
    price = bs_price_one(*args)
    iv_args = (price, *args[:5], o["is_call"])
    assert implied_vol_one(*iv_args) == pytest.approx(
        implied_vol_one.py_func(*iv_args), rel=1e-12, nan_ok=True
    )


# ---------------------------------------------------------------------------
# SPX smile
# ---------------------------------------------------------------------------

smile_params = st.fixed_dictionaries(
    {
        "atm_vol": st.floats(0.05, 1.5),
        "skew": st.floats(-2.0, 2.0),
        "curvature": st.floats(0.0, 1.0),
        "max_moneyness": st.floats(0.1, 10.0),
        "min_vol": st.floats(0.01, 0.5),
        "max_vol": st.floats(0.5, 5.0),
    }
)


@FAST
@given(st.floats(-3.0, 3.0), st.floats(100.0, 10_000.0), st.floats(0.0, 3.0), smile_params)
def test_smile_within_bounds_and_atm_at_the_forward(
    log_strike: float, forward: float, T: float, p: dict
) -> None:
    vol = smile_vol(forward * math.exp(log_strike), forward, T, **p)
    assert p["min_vol"] <= vol <= p["max_vol"]
    at_forward = smile_vol(forward, forward, T, **p)
    assert at_forward == min(max(p["atm_vol"], p["min_vol"]), p["max_vol"])


def test_smile_formula_and_time_floor() -> None:
    K, F, T, atm = 3800.0, 4000.0, 30.0 / 365.0, 0.18
    x = math.log(K / F) / (atm * math.sqrt(T))
    u = 3.0 * math.tanh(x / 3.0)
    expected = atm * (1.0 - 0.16 * u + 0.09 * u * u)
    args = (atm, -0.16, 0.09, 3.0, 0.03, 3.0)
    assert smile_vol(K, F, T, *args) == pytest.approx(expected, rel=1e-15)
    assert smile_vol_one(K, F, T, *args) == pytest.approx(expected, rel=1e-15)
    one_hour = 1.0 / (365.0 * 24.0)
    assert smile_vol(K, F, 0.0, *args) == smile_vol(K, F, one_hour, *args)
    # Far wings flatten at the bound u -> -3: atm * (1 + 0.48 + 0.81).
    assert smile_vol(1.0, F, T, *args) == pytest.approx(atm * 2.29, rel=1e-9)


@FAST
@given(st.floats(0.05, 1.0), st.floats(1.0 / 365.0, 1.0), st.integers(5, 60))
def test_default_smile_has_no_static_arbitrage_on_a_strike_grid(atm, T, n_strikes) -> None:
    """Calls decrease and are convex in strike on a grid across +-4 ATM stdevs."""
    F = 5000.0
    width = 4.0 * atm * math.sqrt(T)
    strikes = F * np.exp(np.linspace(-width, width, n_strikes))
    vols = smile_vol(strikes, F, T, atm, -0.16, 0.09, 3.0, 0.03, 3.0)
    calls = bs_price(F, strikes, T, 0.0, 0.0, vols, True)
    slopes = np.diff(calls) / np.diff(strikes)
    assert np.all(slopes <= 1e-12) and np.all(slopes >= -1.0 - 1e-12)
    assert np.all(np.diff(slopes) >= -1e-9)


@FAST
@given(st.floats(1e-300, 1.0 - 1e-16, exclude_max=True))
def test_norm_ppf_inverts_the_cdf_to_full_precision(p: float) -> None:
    from scipy.special import ndtri

    from pricing.black import norm_ppf

    expected = ndtri(p)
    assert norm_ppf(p) == pytest.approx(expected, rel=1e-13, abs=1e-13)
