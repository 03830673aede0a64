"""The per-tick fast paths give the numbers of the plain formulas they replace, bit for bit.

The book, the pricers and the agents run fused numba kernels over gathered
paths (parallel above a size) instead of numpy expressions over whole
tables. Each test here computes the same quantity the slow and obvious way
(the reference scalar kernels, numpy over full arrays, the public indicator
functions) and requires equality, not closeness. Whole runs are pinned by
two properties of the fast paths: a path's results do not depend on which
other paths share its batch, nor on the number of threads the kernels use.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

import scenarios
from pricing import bs_greeks
from pricing.black import norm_ppf
from pricing.vix_options import vix_option_price
from sim import book, instruments
from sim.book import _OPTION_KINDS, _group_max_loss_kernel, group_margin
from sim.config import SmileModel, VixSpec
from sim.engine import Clock, simulate
from sim.instruments import (
    DAYS_PER_YEAR,
    MULTIPLIERS,
    SPX_OPTION,
    VIX_FUTURE,
    VIX_OPTION,
    SpxPricer,
    VixPricer,
    _leg_vol,
    _price_legs_kernel,
)
from sim.market import generate, signals
from sim.market import indicators as ind
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.term_structure import RegimeVixTerms, business_days_to
from sim.metrics import path_results
from sim.policy import load_policy

N_PATHS = 400


@pytest.fixture(scope="module", params=["default", "gap_crash"])
def setting(request):
    """A preset (one and four regimes) and a market of a few hundred paths."""
    scenario = scenarios.load(request.param)
    market = generate(scenario.market, N_PATHS, 60, 1 / TICKS_PER_YEAR,
                      np.random.default_rng(11), start_date=scenario.simulation.start_date)
    return scenario, market


def a_view(market, tick=25):
    import simpy

    return Clock(simpy.Environment(), market).view_at(tick)


@pytest.fixture
def all_serial():
    """Every kernel runs on one thread."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


@pytest.fixture
def all_parallel(monkeypatch):
    """Every kernel call that can run over threads does, whatever its size or speed."""
    for name in ("_PARALLEL_MIN_LEGS", "_PARALLEL_MIN_PATHS", "_PARALLEL_MIN_SOLVES"):
        monkeypatch.setattr(instruments, name, 0)
    monkeypatch.setattr(book, "_PARALLEL_MIN_PATHS", 0)
    monkeypatch.setattr(instruments.KernelChoice, "_pick", lambda self: True)


def random_legs(rng, view, n_legs=7):
    n = view.spot.shape[0]
    strike = np.round(view.spot * rng.uniform(0.8, 1.2, (n_legs, n)) / 5.0) * 5.0
    is_call = rng.random((n_legs, n)) < 0.5
    # Several expiries per path, some expired or expiring today.
    days = rng.choice([-2, 0, 1, 4, 9, 35, 35, 35, 63], size=(n_legs, n))
    expiry = (view.day + days).astype(np.int64)
    active = rng.random((n_legs, n)) < 0.8
    kind = np.where(rng.random((n_legs, n)) < 0.85, SPX_OPTION, VIX_OPTION).astype(np.int8)
    return strike, is_call, expiry, active, kind


@pytest.mark.parametrize("smile", ["model", "parametric"])
@pytest.mark.parametrize("parallel", [False, True])
def test_spx_quotes_are_the_reference_kernel_prices(setting, smile, parallel, request):
    scenario, market = setting
    request.getfixturevalue("all_parallel" if parallel else "all_serial")
    pricer = SpxPricer(scenario.market, SmileModel(kind=smile), market)
    view = a_view(market)
    strike, is_call, expiry, active, kind = random_legs(np.random.default_rng(3), view)
    fast = np.full(strike.shape, -1.0)
    pricer.price_into(view, strike, is_call, expiry, kind, active, fast)
    reference = np.zeros(strike.shape)
    spot, variance, regime = pricer._state(view)
    _price_legs_kernel(spot, variance, regime, pricer.table, int(view.day), pricer.rate,
                       pricer.dividend_yield, *pricer.smile_args, *pricer._model_args, strike,
                       is_call, expiry, active & (kind == SPX_OPTION), reference)
    spx = active & (kind == SPX_OPTION)
    np.testing.assert_array_equal(fast[spx], reference[spx])
    # Legs of other kinds, or not active, are left alone.
    assert (fast[~spx] == -1.0).all()


@pytest.mark.parametrize("parallel", [False, True])
def test_short_strike_signals_are_the_separate_vol_and_delta_calls(setting, parallel, request):
    scenario, market = setting
    request.getfixturevalue("all_parallel" if parallel else "all_serial")
    pricer = SpxPricer(scenario.market, scenario.smile, market)
    view = a_view(market)
    rng = np.random.default_rng(5)
    expiry = (view.day + rng.choice([-1, 0, 1, 3, 17, 38], N_PATHS)).astype(np.int64)
    put = np.round(view.spot * rng.uniform(0.85, 1.0, N_PATHS) / 5.0) * 5.0
    call = np.round(view.spot * rng.uniform(1.0, 1.15, N_PATHS) / 5.0) * 5.0
    atm, put_delta, call_delta = pricer.short_strike_signals(view, expiry, put, call)
    T_atm = np.maximum(expiry - view.day, 1) / DAYS_PER_YEAR
    np.testing.assert_array_equal(atm, pricer.atm_vol(view, T_atm))
    T = np.maximum(expiry - view.day, 0) / DAYS_PER_YEAR
    for strike, is_call, fast in ((put, False, put_delta), (call, True, call_delta)):
        vol = pricer.vol(view, strike, np.maximum(T, 1.0 / DAYS_PER_YEAR))
        delta = bs_greeks(view.spot, strike, T, pricer.rate, pricer.dividend_yield, vol,
                          is_call).delta
        np.testing.assert_array_equal(fast, np.abs(delta))


def strike_for_delta_reference(pricer, view, T, target, is_call, j):
    """The secant / bisection solve of one path, in Python on the scalar vol function."""
    model = pricer._model_args
    smile = pricer.smile_args
    S, v, reg = float(view.spot[j]), float(view.variance[j]), int(view.regime[j])
    r, q, today = pricer.rate, pricer.dividend_yield, int(view.day)
    sqrt_t = np.sqrt(T)
    p = target * np.exp(q * T)
    d1 = norm_ppf(p) if is_call else -norm_ppf(p)
    forward = S * np.exp((r - q) * T)
    k_prev = 0.0
    sigma = _leg_vol(S, forward, T, r, q, v, pricer.table, reg, smile, model, today)
    h_prev = 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t - k_prev
    k = k_prev + h_prev
    found = False
    for _ in range(40):
        sigma = _leg_vol(S, forward * np.exp(k), T, r, q, v, pricer.table, reg, smile, model,
                         today)
        h = 0.5 * sigma * sigma * T - d1 * sigma * sqrt_t - k
        if abs(h) < 1e-10:
            found = True
            break
        slope = (h - h_prev) / (k - k_prev) if k != k_prev else -1.0
        k_prev, h_prev = k, h
        k = k - h / slope if slope != 0.0 else k + h
    if not found or (k > 0.0) != is_call:
        return None   # the bisection fallback: not compared here
    return max(5.0, np.round(forward * np.exp(k) / 5.0) * 5.0)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("is_call", [False, True])
def test_strikes_for_delta_are_the_secant_solution(setting, parallel, is_call, request):
    scenario, market = setting
    request.getfixturevalue("all_parallel" if parallel else "all_serial")
    pricer = SpxPricer(scenario.market, scenario.smile, market)
    view = a_view(market)
    mask = np.random.default_rng(8).random(N_PATHS) < 0.7
    T = 38 / DAYS_PER_YEAR
    fast = pricer.strikes_for_delta(view, T, 0.16, is_call, mask)
    assert np.isnan(fast[~mask]).all()
    compared = 0
    for j in np.flatnonzero(mask)[:60]:
        expected = strike_for_delta_reference(pricer, view, T, 0.16, is_call, j)
        if expected is not None:
            assert fast[j] == expected
            compared += 1
    assert compared > 40


def moments_reference(terms, variance, regime, steps):
    """The read-out of RegimeVixTerms as numpy over arrays, one step count at a time."""
    variance, regime, steps = np.broadcast_arrays(
        np.asarray(variance, np.float64), np.asarray(regime, np.int64),
        np.asarray(steps, np.int64))
    n = terms.n_regimes
    a, b = terms.vix2_slope, terms.vix2_level
    reads = (np.concatenate([b, a, np.zeros(n)]), np.concatenate([b * b, 2.0 * a * b, a * a]))
    out = [np.empty(variance.shape), np.empty(variance.shape)]
    for count in np.unique(steps):
        at = steps == count
        for values, read in zip(out, reads, strict=True):
            coef = (read @ terms._power(int(count))).reshape(3, n)
            r, v = regime[at], variance[at]
            values[at] = coef[0, r] + coef[1, r] * v + coef[2, r] * v * v
    return out[0], np.maximum(out[1] - out[0] * out[0], 0.0)


def test_vix_moments_futures_and_options_are_the_moment_formulas(setting):
    scenario, market = setting
    terms = RegimeVixTerms(scenario.market)
    rng = np.random.default_rng(2)
    variance = rng.gamma(1.5, 0.03, 500)
    regime = rng.integers(0, terms.n_regimes, 500)
    steps = rng.integers(0, 200, 500)
    for fast, slow in zip(terms.moments(variance, regime, steps),
                          moments_reference(terms, variance, regime, steps), strict=True):
        np.testing.assert_array_equal(fast, slow)
    pricer = VixPricer(scenario.market, VixSpec())
    view = a_view(market)
    path = rng.integers(0, N_PATHS, 300)
    days = rng.choice([-3, 0, 1, 6, 20, 45, 90], 300).astype(np.int64)
    K = np.round(view.vix[path] * rng.uniform(0.8, 1.5, 300) * 2.0) / 2.0
    call = rng.random(300) < 0.7
    live = days > 0
    p = path[live]
    step = business_days_to(int(view.day), int(view.day) + days[live])
    forward = terms.futures(view.variance[p], view.regime[p], step)
    model_vol = terms.model_vol(view.variance[p], view.regime[p], step,
                                days[live] / DAYS_PER_YEAR)
    futures = view.vix[path].copy()
    futures[live] = forward
    np.testing.assert_array_equal(pricer.future_legs_at(view, path, days), futures)
    vix = view.vix[path]
    options = np.where(call, np.maximum(vix - K, 0.0), np.maximum(K - vix, 0.0))
    options[live] = vix_option_price(K[live], forward, days[live] / DAYS_PER_YEAR, pricer.rate,
                                     model_vol, *pricer.option_args, call[live])
    np.testing.assert_array_equal(pricer.option_legs(view, path, K, call, days), options)


def group_margin_reference(strike, is_call, quantity, entry_price, kind, active, spec):
    """group_margin as numpy over the table plus the one-underlying max-loss kernel."""
    margin = np.zeros(strike.shape[1])
    for k in _OPTION_KINDS:
        legs = np.ascontiguousarray(active & (kind == k))
        if legs.any():
            part = np.zeros(strike.shape[1])
            _group_max_loss_kernel(legs, is_call, strike, quantity, entry_price,
                                   float(MULTIPLIERS[k]), part)
            margin += part
    futures = active & (kind == VIX_FUTURE)
    if futures.any():
        held = np.where(futures, quantity, 0.0)
        long = np.maximum(held, 0.0).sum(axis=0)
        short = np.maximum(-held, 0.0).sum(axis=0)
        margin += (spec.future_margin * np.abs(long - short)
                   + spec.future_spread_margin * np.minimum(long, short))
    return margin


def test_group_margin_is_the_reference_margin():
    rng = np.random.default_rng(4)
    n_legs, n = 5, 3000
    strike = np.round(rng.uniform(10.0, 6000.0, (n_legs, n)))
    is_call = rng.random((n_legs, n)) < 0.5
    quantity = rng.choice([-3.0, -1.0, 1.0, 2.0, 5.0], (n_legs, n))
    # Cover the short calls most of the time, so that margins are finite.
    quantity[0] = np.abs(quantity[0]) * 4
    is_call[0] = True
    strike[0] = 1.0
    entry_price = rng.uniform(0.0, 40.0, (n_legs, n))
    kind = rng.choice([SPX_OPTION, VIX_OPTION, VIX_FUTURE], (n_legs, n)).astype(np.int8)
    active = rng.random((n_legs, n)) < 0.8
    spec = VixSpec()
    fast = group_margin(strike, is_call, quantity, entry_price, kind, active, spec)
    slow = group_margin_reference(strike, is_call, quantity, entry_price, kind, active, spec)
    np.testing.assert_array_equal(fast, slow)


def test_signal_tables_in_parallel_are_the_indicator_functions(setting):
    scenario, market = setting
    fast = signals.MarketSignals(market, scenario)
    expected = {
        "rsi_spx": ind.rsi(market.spot, signals.RSI_WINDOW),
        "rsi_vix": ind.rsi(market.vix, signals.RSI_WINDOW),
        "macd_hist_spx": ind.macd(market.spot)[2],
        "macd_signal_vix": ind.macd(market.vix)[1],
        "realized_vol": ind.realized_vol(market.spot, signals.RV_WINDOW, TICKS_PER_YEAR),
        "rv_iv_ratio": ind.realized_implied_ratio(market.spot, market.vix / 100.0,
                                                  signals.RV_WINDOW, TICKS_PER_YEAR),
        "ad_divergence": ind.ad_divergence(market.spot, market.ad_line,
                                           signals.DIVERGENCE_WINDOW),
    }
    front = np.stack([fast.futures_at(t, 2)[0] for t in range(market.n_steps + 1)])
    expected["vx1"], expected["vx2"] = front[..., 0], front[..., 1]
    expected["ts_slope"] = ind.term_structure_slope(expected["vx1"], expected["vx2"])
    expected["ts_slope_z"] = ind.rolling_zscore(expected["ts_slope"], signals.SLOPE_Z_WINDOW)
    old = signals._PARALLEL_MIN_PATHS
    signals._PARALLEL_MIN_PATHS = 0
    try:
        for name, values in expected.items():
            np.testing.assert_array_equal(fast[name], values, err_msg=name)
    finally:
        signals._PARALLEL_MIN_PATHS = old


def run(scenario, market, policy):
    batch = simulate(scenario, market, load_policy(policy).agent_factories())
    return path_results(batch), batch.book.ledger.records(), batch.bus_counts


LEDGER_PER_PATH = ("tick", "date", "slot", "action", "reason", "instrument", "is_call",
                   "strike", "expiry", "quantity", "price", "cost", "cash_flow")


@pytest.mark.parametrize("policy", ["alvh", "active", "alvh-credit-first"])
def test_a_paths_results_do_not_depend_on_the_rest_of_its_batch(setting, policy):
    scenario, market = setting
    whole, rows, _ = run(scenario, market, policy)
    cut = 170
    parts = [run(scenario, market.select(slice(0, cut)), policy),
             run(scenario, market.select(slice(cut, N_PATHS)), policy)]
    for column, values in whole.items():
        np.testing.assert_array_equal(np.concatenate([part[0][column] for part in parts]),
                                      values, err_msg=column)
    for path in (0, 5, cut - 1, cut, cut + 77, N_PATHS - 1):
        part, offset = (parts[0], 0) if path < cut else (parts[1], cut)
        mine = rows[rows["path"] == path]
        alone = part[1][part[1]["path"] == path - offset]
        assert len(mine) == len(alone)
        for field in LEDGER_PER_PATH:
            assert mine[field].tobytes() == alone[field].tobytes(), field


def test_thread_count_does_not_change_results(setting, all_parallel):
    scenario, market = setting
    threads = numba.get_num_threads()
    if threads < 2:
        pytest.skip("one thread only")
    parallel = run(scenario, market, "alvh")
    numba.set_num_threads(1)
    try:
        serial = run(scenario, market, "alvh")
    finally:
        numba.set_num_threads(threads)
    for column, values in parallel[0].items():
        np.testing.assert_array_equal(serial[0][column], values, err_msg=column)
    assert serial[1].tobytes() == parallel[1].tobytes()
    assert serial[2] == parallel[2]


def test_a_view_of_some_paths_reads_their_signals(setting):
    scenario, market = setting
    import simpy

    view = Clock(simpy.Environment(), market, signals.MarketSignals(market, scenario)).view_at(30)
    paths = np.array([3, 7, 300])
    sub = view.take(paths)
    np.testing.assert_array_equal(sub.spot, view.spot[paths])
    np.testing.assert_array_equal(sub.signal("rsi_spx"), view.signal("rsi_spx")[paths])
    np.testing.assert_array_equal(sub.take(np.array([2])).signal("vx1"),
                                  view.signal("vx1")[[300]])
    assert dataclasses.replace(sub, vix=sub.vix).paths is sub.paths
