"""Pricing kernels give finite numbers within no-arbitrage bounds at the edges.

Time to expiry near 0 (0 itself, the smallest float, 1e-12 years), volatility
near 0 (0 itself and subnormal), strikes from 1e-6 to 1e6 times spot, rates
and model parameters over the ranges ``sim.config`` declares: Black-Scholes
and Black-76 prices and greeks, the VIX index, futures and vol of VIX, SPX
ATM vols, VIX option prices, and the simulator's SPX and VIX pricers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing import black76_greeks, black76_price, bs_greeks, bs_price
from pricing.black import bs_delta_one, bs_greeks_one
from pricing.vix import (
    spx_atm_vol,
    variance_moments,
    vix_from_variance,
    vix_future,
    vix_model_vol,
    vix_squared_moments_one,
)
from pricing.vix_options import vix_option_price
from sim.config import MarketModel, RegimeChain, SmileModel, VixSpec
from sim.engine import MarketView
from sim.instruments import SpxPricer, VixPricer
from sim.market.heston import vix_jump_term

FIELDS = {cls: {f.name: f for f in dataclasses.fields(cls)}
          for cls in (MarketModel, SmileModel, VixSpec)}


def in_range(cls: type, name: str, **kwargs) -> st.SearchStrategy[float]:
    """Floats inside the range ``sim.config`` declares for ``cls.name`` (subnormals too)."""
    meta = FIELDS[cls][name].metadata
    lo, hi = meta["lo"], meta["hi"]
    return st.floats(min_value=lo, max_value=hi, exclude_min=bool(meta["lo_open"]),
                     exclude_max=bool(meta["hi_open"]), allow_nan=False,
                     allow_infinity=False, **kwargs)


TINY = [0.0, 5e-324, 1e-310, 1e-300, 1e-150, 1e-12, 1e-8]
times = st.sampled_from([0.0, 5e-324, 1e-300, 1e-12, 1e-8, 1.0 / 365.0 / 24.0]) | st.floats(
    0.0, 30.0)
vols = st.sampled_from(TINY) | st.floats(0.0, 20.0)   # VixSpec.max_option_vol <= 20
spots = st.sampled_from([1e-2, 1.0, 20.0, 5000.0, 1e6]) | st.floats(1e-2, 1e6)
moneyness = st.floats(-6.0, 6.0).map(lambda x: 10.0 ** x)   # strike / spot
rates = in_range(MarketModel, "rate")
yields = in_range(MarketModel, "dividend_yield")


def bounds(S, K, T, r, q, is_call):
    """No-arbitrage bounds of a European option (undiscounted intrinsic at T = 0)."""
    S, K, T = np.broadcast_arrays(*(np.asarray(x, float) for x in (S, K, T)))
    fwd = np.where(T > 0, S * np.exp(-q * T), S)
    strike = np.where(T > 0, K * np.exp(-r * T), K)
    low = np.where(is_call, np.maximum(fwd - strike, 0.0), np.maximum(strike - fwd, 0.0))
    high = np.where(is_call, fwd, strike)
    return low, high


def assert_within(price, low, high):
    slack = 1e-12 * np.maximum(high, 1e-300) + 1e-300
    assert np.isfinite(price).all()
    assert (price >= low - slack).all() and (price <= high + slack).all()


def check_black_scholes(S, K, T, r, q, sigma, is_call):
    price = bs_price(S, K, T, r, q, sigma, is_call)
    assert_within(price, *bounds(S, K, T, r, q, is_call))
    greeks = bs_greeks(S, K, T, r, q, sigma, is_call)
    for name, values in zip(greeks._fields, greeks, strict=True):
        assert np.isfinite(values).all(), name
    discount = np.exp(-q * np.asarray(T))
    assert (np.abs(greeks.delta) <= np.maximum(discount, 1.0) * (1 + 1e-12)).all()
    assert (greeks.gamma >= 0).all() and (greeks.vega >= 0).all()
    futures_price = black76_price(S, K, T, r, sigma, is_call)
    assert_within(futures_price, *bounds(S, K, T, r, r, is_call))
    assert all(np.isfinite(g).all() for g in black76_greeks(S, K, T, r, sigma, is_call))


def test_black_scholes_on_a_grid_of_edges():
    grid = np.meshgrid(np.array([1e-2, 1.0, 17.0, 5000.0, 1e6]),
                       10.0 ** np.linspace(-6.0, 6.0, 13),
                       np.array([0.0, 5e-324, 1e-300, 1e-12, 1e-8, 1 / 365, 1.0, 30.0]),
                       np.array([*TINY, 0.2, 1.0, 20.0]),
                       np.array([-0.1, 0.0, 0.5]), np.array([0.0, 0.5]), [True, False],
                       indexing="ij")
    S, ratio, T, sigma, r, q, is_call = (g.ravel() for g in grid)
    check_black_scholes(S, S * ratio, T, r, q, sigma, is_call)


@settings(max_examples=300, deadline=None)
@given(spots, moneyness, times, rates, yields, vols, st.booleans())
def test_black_scholes_anywhere(S, ratio, T, r, q, sigma, is_call):
    check_black_scholes(S, S * ratio, T, r, q, sigma, is_call)
    # The delta-only kernel is the greeks' delta, bit for bit, at the edges too.
    assert bs_delta_one(S, S * ratio, T, r, q, sigma, is_call) == bs_greeks_one(
        S, S * ratio, T, r, q, sigma, is_call)[0]


def test_subnormal_volatility_takes_the_zero_volatility_limits():
    # sigma sqrt(T) subnormal: gamma was 0/0 = NaN out of the money and +inf at it.
    for S, K in ((0.01, 1e-8), (100.0, 100.0 * np.exp(0.04))):
        tiny = bs_greeks(S, K, 1.0, 0.04, 0.0, 5e-324, True)
        zero = bs_greeks(S, K, 1.0, 0.04, 0.0, 0.0, True)
        assert tuple(tiny) == tuple(zero)
        assert bs_price(S, K, 1.0, 0.04, 0.0, 5e-324, True) == bs_price(S, K, 1.0, 0.04, 0.0,
                                                                         0.0, True)


# ---------------------------------------------------------------------------
# VIX index, futures, vol of VIX, SPX ATM vol
# ---------------------------------------------------------------------------


@st.composite
def jump_models(draw: st.DrawFn) -> MarketModel:
    """A market with any valid jump law (``jump_spot_per_variance * mean < 1``)."""
    values = {name: draw(in_range(MarketModel, name)) for name in (
        "kappa", "theta", "xi", "jump_intensity", "jump_spot_mean", "jump_spot_std",
        "jump_variance_mean", "jump_spot_per_variance")}
    if values["jump_spot_per_variance"] * values["jump_variance_mean"] >= 1.0:
        values["jump_spot_per_variance"] = -values["jump_spot_per_variance"]
    return MarketModel(**values)


variances = st.sampled_from([0.0, 5e-324, 1e-12, 4.0, 1e4]) | st.floats(0.0, 100.0)


@settings(max_examples=300, deadline=None)
@given(jump_models(), variances, times, in_range(SmileModel, "atm_vix_ratio"))
def test_vix_term_structure_is_finite_and_non_negative(model, v, T, atm_ratio):
    args = (model.kappa, model.theta, model.xi, model.jump_intensity, model.jump_variance_mean,
            vix_jump_term(model))
    vix = vix_from_variance(v, model.kappa, model.theta, model.jump_intensity,
                            model.jump_variance_mean, vix_jump_term(model))
    future = vix_future(v, T, *args)
    vol_of_vix = vix_model_vol(v, T, *args)
    mean, var = variance_moments(v, T, *args[:5])
    atm = spx_atm_vol(v, T, model.kappa, model.theta, model.jump_intensity,
                      model.jump_variance_mean, vix_jump_term(model), atm_ratio)
    for name, value in (("vix", vix), ("future", future), ("vol of vix", vol_of_vix),
                        ("mean", mean), ("variance", var), ("atm", atm)):
        assert np.isfinite(value) and value >= 0.0, (name, value)
    # E[VIX_T] <= sqrt(E[VIX_T^2]): the convexity correction only lowers a future.
    second_moment = vix_squared_moments_one(v, T, *args)[0]
    assert future <= 100.0 * np.sqrt(max(second_moment, 0.0)) * (1 + 1e-12)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1e-6, 0.5, 20.0, 1e3]) | st.floats(1e-6, 1e3), moneyness, times,
       rates, st.sampled_from(TINY) | st.floats(0.0, 50.0),
       in_range(VixSpec, "option_vol_scale"), in_range(VixSpec, "option_skew"),
       in_range(VixSpec, "min_option_vol"), st.floats(0.0, 1.0), st.booleans())
def test_vix_options_are_finite_within_bounds(F, ratio, T, r, model_vol, scale, skew,
                                              min_vol, share, is_call):
    max_vol = min_vol + share * (20.0 - min_vol)     # min_option_vol <= max_option_vol <= 20
    K = F * ratio
    price = vix_option_price(K, F, T, r, model_vol, scale, skew, min_vol, max_vol, is_call)
    assert_within(price, *bounds(F, K, T, r, r, is_call))


# ---------------------------------------------------------------------------
# The simulator's pricers (sim.instruments)
# ---------------------------------------------------------------------------

MONDAY = int(np.datetime64("2025-01-06", "D").astype(np.int64))
STATE_SPOT = np.array([1e-2, 1.0, 5000.0, 5000.0, 5000.0, 1e6])
STATE_VARIANCE = np.array([0.0, 5e-324, 1e-12, 0.04, 100.0, 4.0])
DAYS = (0, 1, 2, 3, 7, 30, 91, 400)


def view(spot=STATE_SPOT, variance=STATE_VARIANCE, vix=None):
    n = len(spot)
    return MarketView(tick=0, date=np.datetime64(MONDAY, "D"), day=MONDAY,
                      spot=np.asarray(spot, float), variance=np.asarray(variance, float),
                      vix=np.full(n, 20.0) if vix is None else vix, is_last=False,
                      regime=np.zeros(n, np.int8))


def check_spx_pricer(model: MarketModel, smile: SmileModel) -> None:
    pricer = SpxPricer(model, smile)
    state = view()
    strikes = STATE_SPOT[None, :] * 10.0 ** np.linspace(-6.0, 6.0, 13)[:, None]
    for days in DAYS:
        T = days / 365.0
        for is_call in (True, False):
            price = pricer.price(state, strikes, is_call, np.int64(MONDAY + days), True)
            assert_within(price, *bounds(STATE_SPOT[None, :], strikes, T, model.rate,
                                         model.dividend_yield, is_call))
        assert np.isfinite(pricer.vol(state, strikes[6], max(T, 1e-12))).all()


@st.composite
def pricing_models(draw: st.DrawFn) -> MarketModel:
    model = dataclasses.replace(draw(jump_models()), rate=draw(rates),
                                dividend_yield=draw(yields), rho=draw(in_range(
                                    MarketModel, "rho")))
    premium = draw(in_range(MarketModel, "vol_risk_premium"))
    if premium != 0.0 and not model.kappa - premium > 0.0:
        premium = 0.0
    return dataclasses.replace(model, vol_risk_premium=premium)


@st.composite
def smiles(draw: st.DrawFn) -> SmileModel:
    values = {name: draw(in_range(SmileModel, name)) for name in (
        "atm_vix_ratio", "skew", "curvature", "max_moneyness", "min_vol")}
    values["max_vol"] = draw(st.floats(values["min_vol"], 10.0, exclude_min=True))
    return SmileModel(kind="parametric", **values)


@settings(max_examples=60, deadline=None)
@given(pricing_models(), smiles())
def test_spx_parametric_marks_are_finite_within_bounds(model, smile):
    check_spx_pricer(model, smile)


MODEL_MODE = {
    "feller broken": MarketModel(kappa=0.1, theta=0.01, xi=5.0, rho=-1.0),
    "no variance": MarketModel(theta=0.0, xi=0.0, jump_intensity=0.0, kappa=0.0),
    "fast, premium": MarketModel(kappa=100.0, theta=4.0, xi=5.0, rho=1.0,
                                 vol_risk_premium=-50.0),
    "rally jumps": MarketModel(jump_intensity=252.0, jump_variance_mean=0.05,
                               jump_spot_mean=1.0, jump_spot_std=1.0,
                               jump_spot_per_variance=19.9),
}


@pytest.mark.parametrize("case", list(MODEL_MODE))
def test_spx_model_marks_are_finite_within_bounds(case):
    check_spx_pricer(MODEL_MODE[case], SmileModel(kind="model"))


@settings(max_examples=60, deadline=None)
@given(pricing_models(), st.data())
def test_vix_futures_and_options_are_finite(model, data):
    spec = VixSpec(option_vol_scale=data.draw(in_range(VixSpec, "option_vol_scale")),
                   option_skew=data.draw(in_range(VixSpec, "option_skew")),
                   min_option_vol=1e-300, max_option_vol=20.0)
    two = dataclasses.replace(model, regimes=RegimeChain(
        names=("a", "b"), transition=((0.5, 0.5), (0.5, 0.5)), initial="a"))
    for market in (model, two):
        pricer = VixPricer(market, spec)
        state = view(vix=np.array([0.0, 1e-3, 10.0, 20.0, 200.0, 1e3]))
        state = dataclasses.replace(state, regime=np.array([0, 0, 0, 1, 1, 1], np.int8)
                                    if market is two else state.regime)
        expiries = np.array([MONDAY + d for d in DAYS], dtype=np.int64)[:, None]
        futures = pricer.future(state, expiries)
        assert np.isfinite(futures).all() and (futures >= 0).all()
        strikes = np.array([1e-6, 0.5, 15.0, 25.0, 1e3])[:, None] * np.ones((1, 6))
        for days in DAYS:
            for is_call in (True, False):
                price = pricer.option(state, strikes, is_call, np.int64(MONDAY + days), True)
                # Black-76 on the future: within its bounds up to rounding (a deep out of
                # the money put can come out a few subnormal ulps below 0).
                live = np.where(days > 0, futures[DAYS.index(days)], state.vix)
                assert_within(price, *bounds(live[None, :], strikes, days / 365.0,
                                             market.rate, market.rate, is_call))


# ---------------------------------------------------------------------------
# Regressions found by the properties above
# ---------------------------------------------------------------------------


def test_a_variance_near_zero_prices_vix_legs():
    """m = E[VIX_T^2] below 1e-162: m * m underflowed, 0/0 raised ZeroDivisionError
    (sim.instruments) or gave NaN futures (sim.market.term_structure)."""
    from sim.market.term_structure import RegimeVixTerms

    model = MarketModel(variance0=1e-200, theta=0.0, xi=0.0, jump_intensity=0.0)
    pricer = VixPricer(model, VixSpec())
    state = view(variance=np.array([0.0, 5e-324, 1e-200, 1e-170, 1e-100, 0.04]),
                 vix=np.array([0.0, 0.0, 1e-98, 1e-83, 1e-48, 20.0]))
    futures = pricer.future(state, np.array([[MONDAY + 30]]))
    assert np.isfinite(futures).all() and (futures >= 0).all()
    assert np.isfinite(pricer.option(state, np.full((1, 6), 20.0), True,
                                     np.int64(MONDAY + 30), True)).all()
    for xi_model in (model, dataclasses.replace(model, xi=0.5)):
        terms = RegimeVixTerms(xi_model)
        steps = np.full(6, 20)
        assert np.isfinite(terms.futures(state.variance, np.zeros(6, np.int64), steps)).all()
        assert np.isfinite(terms.model_vol(state.variance, np.zeros(6, np.int64), steps,
                                           20 / 252)).all()


def test_tiny_jumps_give_a_non_negative_vix_jump_term():
    # E[e^J] - 1 - E[J] rounded to -1.5e-163, refused as a negative jump term.
    model = MarketModel(jump_intensity=1.0, jump_spot_mean=7.5e-164, jump_spot_std=0.0,
                        jump_variance_mean=0.0, jump_spot_per_variance=0.0)
    assert vix_jump_term(model) == 0.0
    assert np.isfinite(VixPricer(model, VixSpec()).future(view(), MONDAY + 30)).all()


def test_a_subnormal_atm_vol_gives_a_smile_vol():
    from pricing.smile import smile_vol_one

    # atm_vol * sqrt(1 hour) underflows to 0: ln(K/F) / 0 was NaN at the money.
    assert smile_vol_one(5000.0, 5000.0, 0.0, 5e-323, 0.0, 0.0, 1.0, 1.0, 2.0) == 1.0
    assert smile_vol_one(6000.0, 5000.0, 0.0, 5e-323, 0.5, 0.0, 1.0, 1e-300, 2.0) == 1e-300


def test_a_hedged_run_on_a_market_whose_variance_is_near_zero_completes():
    from sim.config import Scenario, SimulationSpec
    from sim.runner import run

    # VIX hedges on a market with no variance left: the ZeroDivisionError above, in a run.
    scenario = Scenario(name="flat", description="x", simulation=SimulationSpec(n_days=30),
                        market=MarketModel(variance0=1e-200, theta=0.0, xi=0.0,
                                           jump_intensity=0.0))
    result = run(scenario, n_paths=8, seed=1, policy="static-vix")
    assert np.isfinite(result.paths["pnl"]).all()
