"""VIX options and futures in the book: prices, settlement, variation margin, costs, margin."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios import load
from sim.book import Book, OrderFlow, UncoveredShortError, group_margin
from sim.config import CostModel, MarketModel, SmileModel, VixSpec
from sim.engine import Agent, Clock, MarketView, simulate
from sim.instruments import (
    INSTRUMENT_NAMES,
    MULTIPLIERS,
    SPX_OPTION,
    VIX_FUTURE,
    VIX_OPTION,
    VIX_STRIKE_STEP,
    SpxPricer,
    VixPricer,
    vix_expiries_after,
    vix_expiry_on_or_after,
)
from sim.market import generate
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.signals import MarketSignals
from sim.market.term_structure import business_days_to, vix_futures_for

from ..conftest import small_scenario

DAY0 = int(np.datetime64("2025-01-02", "D").astype(np.int64))
#: The front and second monthly VIX expiries after DAY0 (2025-01-22, 2025-02-19).
FRONT, SECOND = (int(d) for d in vix_expiries_after(DAY0, 2))
MARKET = MarketModel(theta=0.04, variance0=0.04, rate=0.0, dividend_yield=0.0)
SMILE = SmileModel(kind="parametric")
NO_COSTS = CostModel(commission=0.0, min_width=0.0, width_share=0.0, vix_widening=0.0,
                     future_half_spread=0.0, future_commission=0.0)
COSTS = CostModel(commission=0.65, min_width=0.05, width_share=0.03, vix_widening=0.25,
                  future_half_spread=0.05, future_commission=1.25)


def view(tick, day, variance=0.04, vix=20.0, spot=5000.0, n=3, regime=0):
    """A market view with the given state on all ``n`` paths (scalars or arrays)."""
    def full(x, dtype=float):
        return np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).copy()

    return MarketView(tick=tick, date=np.datetime64(day, "D"), day=day, spot=full(spot),
                      variance=full(variance), vix=full(vix), is_last=False,
                      regime=full(regime, np.int8))


def make_book(costs=NO_COSTS, market=MARKET, n=3, vix=None):
    vix = VixSpec() if vix is None else vix
    return Book(n, 100_000.0, SpxPricer(market, SMILE), costs,
                vix_pricer=VixPricer(market, vix))


def start_tick(book, v):
    book.begin_tick(v)
    book.settle_expired(v)


def end_tick(book, v):
    book.mark_to_market(v)
    book.check_identity()


def futures_spread(book, block, v, qty=(1.0, -1.0), expiry=((FRONT,), (SECOND,)), mask=None,
                   reason="hedge"):
    n = book.n_paths
    mask = np.ones(n, bool) if mask is None else mask
    quantity = np.asarray(qty, float)[:, None] * np.ones((len(qty), n))
    return book.open(v, block, mask, np.zeros((len(qty), n)), False, quantity,
                     np.asarray(expiry, np.int64), reason, kind=VIX_FUTURE)


# ---------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------


def test_instrument_constants():
    assert (SPX_OPTION, VIX_OPTION, VIX_FUTURE) == (0, 1, 2)
    assert INSTRUMENT_NAMES == ("spx_option", "vix_option", "vix_future")
    np.testing.assert_array_equal(MULTIPLIERS, [100.0, 100.0, 1000.0])
    assert VIX_STRIKE_STEP == 0.5


def test_vix_expiry_helpers():
    assert np.datetime64(FRONT, "D") == np.datetime64("2025-01-22")
    assert vix_expiry_on_or_after(FRONT) == FRONT
    assert vix_expiry_on_or_after(FRONT - 1) == FRONT
    assert vix_expiry_on_or_after(FRONT + 1) == SECOND
    expiries = vix_expiries_after(FRONT, 3)
    assert expiries.dtype == np.int64 and expiries[0] == SECOND and np.all(np.diff(expiries) > 0)


@pytest.mark.parametrize("preset", ["default", "calibrated"])
def test_vix_pricer_futures_equal_the_signal_curve(preset):
    """Futures equal MarketSignals.futures_at bit for bit; with one regime, vix_futures_for."""
    scenario = load(preset)
    market = generate(scenario.market, 40, 30, 1 / 252, np.random.default_rng(5),
                      start_date=scenario.simulation.start_date)
    signals = MarketSignals(market, scenario)
    clock = Clock(simpy.Environment(), market, signals)
    pricer = VixPricer(scenario.market, scenario.vix)
    for tick in (0, 9, 30):
        v = clock.view_at(tick)
        prices, expiries = signals.futures_at(tick)
        days = expiries.astype(np.int64)
        np.testing.assert_array_equal(pricer.future(v, days[:, None]), prices.T)
        if scenario.market.regimes.n_regimes == 1:
            # Business-day horizon: the frozen-regime formula is exact with one regime.
            T = business_days_to(v.day, days) / TICKS_PER_YEAR
            np.testing.assert_allclose(
                pricer.future(v, days[:, None]).T,
                vix_futures_for(scenario.market, v.variance, v.regime, T), rtol=1e-12)
        # Per-path expiries (last axis) and the legs form agree.
        np.testing.assert_array_equal(pricer.future(v, np.full(40, days[1])), prices[:, 1])
        legs = pricer.future_legs(v, days[:, None], np.ones((len(days), 40), bool))
        np.testing.assert_array_equal(legs, prices.T)


def test_futures_and_options_at_and_after_expiry_use_the_vix():
    pricer = VixPricer(MARKET, VixSpec())
    vix = np.array([12.0, 20.0, 31.5])
    for day in (FRONT, FRONT + 3):
        v = view(5, day, vix=vix)
        np.testing.assert_array_equal(pricer.future(v, FRONT), vix)
        strike = np.array([[18.0, 18.0, 18.0], [25.0, 25.0, 25.0]])
        price = pricer.option(v, strike, np.array([[True], [False]]), FRONT, True)
        np.testing.assert_array_equal(price, [np.maximum(vix - 18.0, 0.0),
                                              np.maximum(25.0 - vix, 0.0)])
    # Inactive legs are not priced.
    v = view(0, DAY0)
    price = pricer.option(v, np.full((2, 3), 20.0), True, FRONT, np.array([[True], [False]]))
    assert np.all(price[0] > 0) and np.all(price[1] == 0.0)


@settings(max_examples=60, deadline=None)
@given(variance=st.floats(0.003, 0.6), strike=st.integers(10, 160), dte=st.integers(1, 200),
       rate=st.floats(-0.02, 0.1), premium=st.floats(0.0, 3.0))
def test_vix_put_call_parity_on_the_future(variance, strike, dte, rate, premium):
    """C - P = e^{-rT} (F - K), with F the future of the option's expiry."""
    market = dataclasses.replace(MARKET, rate=rate, vol_risk_premium=premium)
    pricer = VixPricer(market, VixSpec())
    v = view(0, DAY0, variance=variance, n=1)
    K = np.array([[strike * VIX_STRIKE_STEP]] * 2)
    call, put = pricer.option(v, K, np.array([[True], [False]]), DAY0 + dte, True)[:, 0]
    forward = pricer.future(v, DAY0 + dte)[0]
    parity = np.exp(-rate * dte / 365.0) * (forward - K[0, 0])
    assert call - put == pytest.approx(parity, abs=1e-9 * (1.0 + forward))
    assert call >= 0.0 and put >= 0.0


@settings(max_examples=60, deadline=None)
@given(variance=st.floats(0.003, 0.6), low=st.integers(10, 120), width=st.integers(1, 40),
       dte=st.integers(1, 200), rate=st.floats(0.0, 0.1))
def test_vix_call_spread_is_worth_between_zero_and_the_discounted_width(variance, low, width,
                                                                       dte, rate):
    pricer = VixPricer(dataclasses.replace(MARKET, rate=rate), VixSpec())
    v = view(0, DAY0, variance=variance, n=1)
    K = np.array([[low * VIX_STRIKE_STEP], [(low + width) * VIX_STRIKE_STEP]])
    long_call, short_call = pricer.option(v, K, True, DAY0 + dte, True)[:, 0]
    spread = long_call - short_call
    bound = np.exp(-rate * dte / 365.0) * width * VIX_STRIKE_STEP
    assert -1e-12 <= spread <= bound + 1e-12


# ---------------------------------------------------------------------------
# Book: marks, variation margin, settlement
# ---------------------------------------------------------------------------


def test_future_variation_margin_pays_the_price_change_into_cash():
    """Cumulative cash of a future = quantity * 1000 * (exit - entry) - costs; value stays 0."""
    book = make_book(COSTS)
    block = book.reserve(1)
    v0 = view(0, DAY0, variance=0.03, vix=18.0)
    start_tick(book, v0)
    entry = book.open(v0, block, np.ones(3, bool), np.zeros((1, 3)), False,
                      np.array([[3.0, -2.0, 5.0]]), np.int64(SECOND), "hedge", kind=VIX_FUTURE)
    future0 = book.vix_pricer.future(v0, SECOND)
    np.testing.assert_array_equal(entry[0], future0)
    open_cost = book.total_costs.copy()
    np.testing.assert_allclose(open_cost, np.array([3.0, 2.0, 5.0]) * (0.05 * 1000 + 1.25))
    np.testing.assert_allclose(book.cash, 100_000.0 - open_cost)  # no premium
    assert np.all(book.marked_value == 0.0)
    end_tick(book, v0)
    qty = np.array([3.0, -2.0, 5.0])
    last, cash = entry[0], book.cash.copy()
    for tick, variance in enumerate((0.05, 0.02, 0.09), start=1):
        v = view(tick, DAY0 + tick, variance=variance)
        start_tick(book, v)
        end_tick(book, v)
        price = book.vix_pricer.future(v, SECOND)
        # Each mark pays that day's price change.
        np.testing.assert_allclose(book.cash - cash, qty * 1000 * (price - last), rtol=1e-12)
        last, cash = price, book.cash.copy()
        assert np.all(book.marked_value == 0.0)
    v = view(4, DAY0 + 4, variance=0.06)
    start_tick(book, v)
    flow = book.close(v, block, np.ones(3, bool), "unwind")
    end_tick(book, v)
    rows = book.ledger.records()
    exit_price = rows[rows["action"] == "close"]["price"]
    np.testing.assert_allclose(exit_price, book.vix_pricer.future(v, SECOND))
    np.testing.assert_allclose(book.cash - 100_000.0,
                               qty * 1000 * (exit_price - entry[0]) - book.total_costs,
                               rtol=1e-10)
    np.testing.assert_allclose(book.total_costs, 2 * open_cost)
    np.testing.assert_allclose(flow, qty * 1000 * (exit_price - last) - open_cost)
    np.testing.assert_array_equal(book.last_order.flow, flow)
    assert set(rows["instrument"]) == {"vix_future"}
    np.testing.assert_array_equal(book.margin, 0.0)


def test_futures_settle_to_the_vix_on_their_expiry():
    book = make_book()
    block = book.reserve(2)
    v0 = view(0, DAY0)
    start_tick(book, v0)
    entry = futures_spread(book, block, v0)
    end_tick(book, v0)
    np.testing.assert_allclose(book.margin, 1500.0)
    vix = np.array([14.0, 22.0, 40.0])
    v1 = view(1, FRONT, variance=0.05, vix=vix)
    start_tick(book, v1)
    settled = book.ledger.records()[-3:]
    assert set(settled["action"]) == {"settle"} and set(settled["slot"]) == {block.start}
    np.testing.assert_array_equal(settled["price"], vix)
    # The front leg has settled: the short second future stands alone.
    np.testing.assert_allclose(book.margin, 6000.0)
    end_tick(book, v1)
    second = book.vix_pricer.future(v1, SECOND)
    np.testing.assert_allclose(book.cash - 100_000.0,
                               1000 * (vix - entry[0]) - 1000 * (second - entry[1]),
                               rtol=1e-12)


def test_vix_option_settles_to_intrinsic_against_the_vix_not_the_spx():
    book = make_book()
    block = book.reserve(2)
    v0 = view(0, DAY0)
    start_tick(book, v0)
    strike = np.array([[20.0] * 3, [25.0] * 3])
    price = book.open(v0, block, np.ones(3, bool), strike, True, np.array([[2.0] * 3, [-2.0] * 3]),
                      np.int64(FRONT), "hedge", kind=VIX_OPTION)
    spread = price[0] - price[1]
    np.testing.assert_allclose(book.cash, 100_000.0 - 2 * spread * 100)
    # Max loss of a long call spread: its premium.
    np.testing.assert_allclose(book.margin, 2 * spread * 100)
    end_tick(book, v0)
    vix = np.array([15.0, 23.0, 60.0])
    v1 = view(1, FRONT, vix=vix, spot=4000.0)
    start_tick(book, v1)
    payoff = np.clip(vix - 20.0, 0.0, 5.0) * 2 * 100
    np.testing.assert_allclose(book.cash, 100_000.0 - 2 * spread * 100 + payoff)
    assert not book.active.any() and np.all(book.margin == 0.0)
    end_tick(book, v1)


def test_long_vix_calls_hold_their_premium_as_margin_and_marks_use_multiplier_100():
    book = make_book(COSTS)
    block = book.reserve(1)
    v0 = view(0, DAY0, variance=0.05)
    start_tick(book, v0)
    strike = np.array([[22.0, 25.0, 30.0]])
    price = book.open(v0, block, np.ones(3, bool), strike, True, np.full((1, 3), 4.0),
                      np.int64(SECOND), "L1", kind=VIX_OPTION)
    np.testing.assert_allclose(book.margin, 4 * price[0] * 100)
    np.testing.assert_allclose(book.marked_value, 4 * price[0] * 100)
    expected_cost = 4 * book.unit_cost(v0, price, VIX_OPTION)[0]
    np.testing.assert_allclose(book.last_order.cost, expected_cost)
    np.testing.assert_allclose(book.last_order.flow, -4 * price[0] * 100 - expected_cost)
    assert isinstance(book.last_order, OrderFlow)
    end_tick(book, v0)
    v1 = view(1, DAY0 + 1, variance=0.08)
    start_tick(book, v1)
    end_tick(book, v1)
    mark = book.vix_pricer.option(v1, strike, True, SECOND, True)
    np.testing.assert_allclose(book.marked_value, 4 * mark[0] * 100)


def test_unit_cost_per_kind():
    book = make_book(COSTS)
    v = view(0, DAY0, vix=30.0)
    price = np.array([[1.0, 5.0, 40.0], [1.0, 5.0, 40.0], [18.0, 19.0, 20.0]])
    got = book.unit_cost(v, price, np.array([SPX_OPTION, VIX_OPTION, VIX_FUTURE]))
    width = np.maximum(0.05, 0.03 * price[:2]) * (1 + 0.25 * (30 - 20) / 10)
    np.testing.assert_allclose(got[:2], 0.5 * width * 100 + 0.65)
    np.testing.assert_allclose(got[2], 0.05 * 1000 + 1.25)
    np.testing.assert_allclose(book.unit_cost(v, price[2], VIX_FUTURE), got[2])


@settings(max_examples=50, deadline=None)
@given(quantity=st.lists(st.integers(-6, 6), min_size=1, max_size=4),
       outright=st.floats(0.0, 20_000.0), spread=st.floats(0.0, 5_000.0))
def test_futures_margin_formula(quantity, outright, spread):
    qty = np.array(quantity, float)[:, None]
    spec = VixSpec(future_margin=outright, future_spread_margin=spread)
    margin = group_margin(np.zeros((len(quantity), 1)), False, qty, np.full_like(qty, 20.0),
                          VIX_FUTURE, True, spec)
    long, short = qty[qty > 0].sum(), -qty[qty < 0].sum()
    assert margin[0] == pytest.approx(outright * abs(long - short) + spread * min(long, short))


def test_group_margin_adds_the_underlyings_and_the_futures():
    # A SPX put spread (max loss 10 - 3 = 7 points x 100), a long VIX call (premium 1.5 x 100
    # x 2) and a long VIX future (6000).
    strike = np.array([[4900.0], [4890.0], [25.0], [0.0]])
    is_call = np.array([False, False, True, False])
    qty = np.array([[-1.0], [1.0], [2.0], [1.0]])
    entry = np.array([[10.0], [7.0], [1.5], [19.0]])
    kind = np.array([SPX_OPTION, SPX_OPTION, VIX_OPTION, VIX_FUTURE])
    margin = group_margin(strike, is_call, qty, entry, kind, True, VixSpec())
    assert margin[0] == pytest.approx(7 * 100 + 1.5 * 100 * 2 + 6000)
    # Uncovered: a short VIX call is not covered by a long SPX call or a long future.
    bad = group_margin(np.array([[5100.0], [25.0], [0.0]]), np.array([True, True, False]),
                       np.array([[1.0], [-1.0], [1.0]]), np.ones((3, 1)),
                       np.array([SPX_OPTION, VIX_OPTION, VIX_FUTURE]), True, VixSpec())
    assert np.isinf(bad[0])


def test_uncovered_short_vix_call_is_refused():
    book = make_book(n=1)
    block = book.reserve(1)
    v = view(0, DAY0, n=1)
    book.begin_tick(v)
    with pytest.raises(UncoveredShortError, match="short calls"):
        book.open(v, block, np.array([True]), np.array([[25.0]]), True, np.array([[-1.0]]),
                  np.int64(FRONT), "test", kind=VIX_OPTION)


def test_mixed_kinds_in_one_order_and_quote_new():
    book = make_book()
    block = book.reserve(3)
    v = view(0, DAY0, variance=0.05, vix=22.0)
    start_tick(book, v)
    kind = np.array([SPX_OPTION, VIX_OPTION, VIX_FUTURE])
    strike = np.array([[4800.0] * 3, [24.0] * 3, [0.0] * 3])
    is_call = np.array([False, True, False])
    expiry = np.array([[DAY0 + 30], [FRONT], [FRONT]])
    quoted = book.quote_new(v, strike, is_call, expiry, kind=kind)
    np.testing.assert_array_equal(quoted[0], book.pricer.price(v, strike[:1], False,
                                                               expiry[:1], True)[0])
    np.testing.assert_array_equal(quoted[1], book.vix_pricer.option(v, strike[1:2], True,
                                                                    FRONT, True)[0])
    np.testing.assert_array_equal(quoted[2], book.vix_pricer.future(v, FRONT))
    price = book.open(v, block, np.ones(3, bool), strike, is_call, np.ones((3, 3)), expiry,
                      "mix", kind=kind)
    np.testing.assert_array_equal(price, quoted)
    np.testing.assert_array_equal(book.multiplier[block.slots, 0], [100.0, 100.0, 1000.0])
    np.testing.assert_allclose(book.marked_value, (price[:2] * 100).sum(axis=0))
    rows = book.ledger.records()
    assert list(rows["instrument"][rows["path"] == 0]) == list(INSTRUMENT_NAMES)
    end_tick(book, v)
    v1 = view(1, DAY0 + 1, variance=0.07, vix=26.0, spot=4950.0)
    start_tick(book, v1)
    book.close(v1, block, np.ones(3, bool), "all")
    end_tick(book, v1)
    assert not book.active.any()


def test_record_skip_writes_one_row_per_path():
    book = make_book()
    block = book.reserve(1)
    other = book.reserve(1)
    v = view(0, DAY0)
    start_tick(book, v)
    book.open(v, block, np.array([True, False, True]), np.full((1, 3), 25.0), True,
              np.ones((1, 3)), np.int64(FRONT), "L1", kind=VIX_OPTION)
    before = len(book.ledger)
    cash = book.cash.copy()
    book.record_skip(v, block, np.array([False, True, True]), "L1 budget cut")
    book.record_skip(v, other, np.array([True, False, False]), "L2 quick ratio below floor")
    book.record_skip(v, other, np.array([False, True, False]), "L3 skipped", kind=VIX_FUTURE)
    rows = book.ledger.records()[before:]
    assert list(rows["path"]) == [1, 2, 0, 1]
    assert set(rows["action"]) == {"skip"}
    assert list(rows["reason"]) == ["L1 budget cut"] * 2 + ["L2 quick ratio below floor",
                                                            "L3 skipped"]
    # Path 1 never held a leg in the block; path 2 holds a VIX call there.
    assert list(rows["instrument"]) == ["none", "vix_option", "none", "vix_future"]
    assert list(rows["slot"]) == [block.start] * 2 + [other.start] * 2
    for column in ("quantity", "price", "cost", "cash_flow", "strike"):
        assert np.all(rows[column] == 0.0), column
    assert np.all(np.isnat(rows["expiry"])) and np.all(rows["position_id"] == -1)
    np.testing.assert_array_equal(book.cash, cash)
    end_tick(book, v)


def test_book_without_a_vix_pricer_says_so():
    class Bare:
        rate = 0.0

        def price(self, view, strike, is_call, expiry, active):
            return np.zeros(np.shape(strike))

    book = Book(1, 1e5, Bare(), NO_COSTS)
    block = book.reserve(1)
    v = view(0, DAY0, n=1)
    book.begin_tick(v)
    with pytest.raises(RuntimeError, match="VixPricer"):
        book.open(v, block, np.array([True]), np.zeros((1, 1)), False, np.ones((1, 1)),
                  np.int64(FRONT), "test", kind=VIX_FUTURE)
    # Made from the SPX pricer's model when it has one.
    assert make_book().vix_pricer is not None
    assert Book(1, 1e5, SpxPricer(MARKET, SMILE), NO_COSTS).vix_pricer.spec == VixSpec()


# ---------------------------------------------------------------------------
# A SimPy run: a VIX call and a VIX futures calendar spread held through expiry
# ---------------------------------------------------------------------------


class VixHolder(Agent):
    """At tick 0 opens 2 ATM front VIX calls and a long-front / short-second futures spread."""

    def __init__(self, ctx):
        book = ctx.book
        self.call = book.reserve(1)
        self.spread = book.reserve(2)
        self.margins = None
        super().__init__(ctx)

    def run(self):
        view = yield self.ctx.clock.phase("hedge")
        book = self.ctx.book
        n = book.n_paths
        everyone = np.ones(n, dtype=bool)
        self.front, self.second = (int(d) for d in vix_expiries_after(view.day, 2))
        forward = book.vix_pricer.future(view, self.front)
        self.strike = np.round(forward / VIX_STRIKE_STEP) * VIX_STRIKE_STEP
        self.call_price = book.open(view, self.call, everyone, self.strike[None], True,
                                    np.full((1, n), 2.0), np.int64(self.front), "L1",
                                    kind=VIX_OPTION)[0]
        self.call_cost = book.last_order.cost
        self.entry = book.open(view, self.spread, everyone, np.zeros((2, n)), False,
                               np.stack([np.ones(n), -np.ones(n)]),
                               np.array([[self.front], [self.second]]), "L3", kind=VIX_FUTURE)
        self.spread_cost = book.last_order.cost
        self.margins = book.group_margin.copy()


def test_vix_call_and_futures_spread_settle_against_the_vix_with_the_identity_every_tick():
    scenario = small_scenario(n_days=20)
    market = generate(scenario.market, 30, 20, 1 / 252, np.random.default_rng(11),
                      start_date=scenario.simulation.start_date)
    batch = simulate(scenario, market, [VixHolder], check_identity=True)
    book, agent = batch.book, batch.agents[0]
    # Margins at entry: the calls' premium; the spread's offsetting pair.
    np.testing.assert_allclose(agent.margins[agent.call.group], 2 * agent.call_price * 100)
    np.testing.assert_allclose(agent.margins[agent.spread.group], 1500.0)
    ticks = market.dates.astype("datetime64[D]").astype(np.int64)
    expiry_tick = int(np.flatnonzero(ticks >= agent.front)[0])
    assert ticks[expiry_tick] == agent.front  # a Wednesday, a trading day
    vix_at_expiry = market.vix[expiry_tick]
    rows = book.ledger.records()
    settled = rows[rows["action"] == "settle"]
    call_rows = settled[settled["slot"] == agent.call.start]
    front_rows = settled[settled["slot"] == agent.spread.start]
    assert np.all(call_rows["tick"] == expiry_tick) and len(call_rows) == 30
    np.testing.assert_array_equal(call_rows["path"], np.arange(30))
    np.testing.assert_allclose(call_rows["price"], np.maximum(vix_at_expiry - agent.strike, 0))
    np.testing.assert_allclose(front_rows["price"], vix_at_expiry)
    assert set(call_rows["instrument"]) == {"vix_option"}
    assert set(front_rows["instrument"]) == {"vix_future"}
    # Only the short second-month future is left, holding the outright margin.
    assert not book.active[agent.call.start].any() and not book.active[agent.spread.start].any()
    assert book.active[agent.spread.start + 1].all()
    np.testing.assert_allclose(book.group_margin[agent.spread.group], 6000.0)
    np.testing.assert_allclose(book.group_margin[agent.call.group], 0.0)
    # Whole-run cash: calls' premium and payoff, futures' variation, costs and carry.
    second_mark = book.mark[agent.spread.start + 1]
    variation = (1000 * (vix_at_expiry - agent.entry[0])
                 - 1000 * (second_mark - agent.entry[1]))
    calls = 200 * (np.maximum(vix_at_expiry - agent.strike, 0) - agent.call_price)
    expected = (book.initial_cash + book.total_carry + calls + variation - agent.call_cost
                - agent.spread_cost)
    np.testing.assert_allclose(book.cash, expected, rtol=1e-10)
    np.testing.assert_allclose(book.equity, book.cash)
