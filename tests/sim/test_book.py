"""Book: trades at mid plus costs, margin, carry, settlement and the accounting identity."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing import bs_price
from sim.agents.condor import CondorAgent
from sim.book import AccountingError, Book, UncoveredShortError
from sim.config import CostModel, MarketModel, SmileModel
from sim.engine import MarketView, simulate
from sim.instruments import SPX_MULTIPLIER, SpxPricer

from ..conftest import small_scenario

DAY0 = int(np.datetime64("2025-01-02", "D").astype(np.int64))
FLAT_SMILE = SmileModel(kind="parametric", atm_vix_ratio=1.0, skew=0.0, curvature=0.0)
# Variance at its mean and no jumps: the variance-swap vol is sqrt(v) at every
# expiry, so the flat smile prices every option at vol VIX/100.
FLAT_MARKET = MarketModel(theta=0.04, variance0=0.04, jump_intensity=0.0)


def pricer(rate=0.0):
    market = dataclasses.replace(FLAT_MARKET, rate=rate, dividend_yield=0.0)
    return SpxPricer(market, FLAT_SMILE)
NO_COSTS = CostModel(commission=0.0, min_width=0.0, width_share=0.0, vix_widening=0.0)


def view(tick, day, spot, vix=20.0, n=3, last=False):
    spot = np.full(n, float(spot)) if np.isscalar(spot) else np.asarray(spot, float)
    # theta follows the variance so that the vol is flat at VIX/100 for every T.
    return MarketView(tick=tick, date=np.datetime64(day, "D"), day=day, spot=spot,
                      variance=(np.full(n, vix / 100.0)) ** 2, vix=np.full(n, float(vix)),
                      is_last=last, regime=np.zeros(n, dtype=np.int8))


def condor_book(costs=NO_COSTS, rate=0.0, n=3):
    book = Book(n, 100_000.0, pricer(rate), costs)
    block = book.reserve(4)
    return book, block


STRIKES = np.array([4800.0, 4900.0, 5100.0, 5200.0])
IS_CALL = np.array([False, False, True, True])
SIGN = np.array([1.0, -1.0, -1.0, 1.0])


def open_condor(book, block, v, contracts=2.0, mask=None, expiry=DAY0 + 35):
    mask = np.ones(book.n_paths, bool) if mask is None else mask
    strike = np.repeat(STRIKES[:, None], book.n_paths, axis=1)
    qty = SIGN[:, None] * contracts * np.ones((4, book.n_paths))
    return book.open(v, block, mask, strike, IS_CALL, qty, np.int64(expiry), "entry")


def start_tick(book, v):
    book.begin_tick(v)
    book.settle_expired(v)


def end_tick(book, v):
    book.mark_to_market(v)
    book.check_identity()


def test_open_prices_at_smile_mid_and_books_credit_and_margin():
    book, block = condor_book()
    v = view(0, DAY0, 5000.0)
    start_tick(book, v)
    price = open_condor(book, block, v)
    T = 35 / 365
    expected = bs_price(5000.0, STRIKES, T, 0.0, 0.0, 0.20, IS_CALL)
    np.testing.assert_allclose(price[:, 0], expected, rtol=1e-12)
    credit = -(SIGN * expected).sum()
    np.testing.assert_allclose(book.cash, 100_000.0 + 2 * credit * SPX_MULTIPLIER)
    # Max loss from entry: width minus credit, per contract, times the multiplier.
    np.testing.assert_allclose(book.margin, 2 * (100.0 - credit) * SPX_MULTIPLIER)
    np.testing.assert_allclose(book.equity, 100_000.0)
    end_tick(book, v)


def test_costs_are_half_spread_plus_commission():
    costs = CostModel(commission=0.65, min_width=0.10, width_share=0.03, vix_widening=0.25)
    book, block = condor_book(costs)
    v = view(0, DAY0, 5000.0, vix=30.0)
    start_tick(book, v)
    price = open_condor(book, block, v, contracts=3.0)
    width = np.maximum(0.10, 0.03 * price[:, 0]) * (1 + 0.25 * (30 - 20) / 10)
    expected = (3 * (0.5 * width * SPX_MULTIPLIER + 0.65)).sum()
    np.testing.assert_allclose(book.total_costs, expected)
    np.testing.assert_allclose(book.equity, 100_000.0 - expected)
    end_tick(book, v)


def test_settlement_pays_intrinsic_and_frees_margin():
    book, block = condor_book()
    v0 = view(0, DAY0, 5000.0)
    start_tick(book, v0)
    open_condor(book, block, v0, expiry=DAY0 + 7)
    end_tick(book, v0)
    cash_before = book.cash.copy()
    spots = np.array([4850.0, 5000.0, 5300.0])
    v1 = view(5, DAY0 + 7, spots)
    start_tick(book, v1)
    # 4850: short put 50 ITM -> pay 50 x 2 x 100; 5000: nothing; 5300: call spread max loss.
    np.testing.assert_allclose(book.cash - cash_before, [-10_000.0, 0.0, -20_000.0])
    assert not book.active.any()
    np.testing.assert_allclose(book.margin, 0.0)
    end_tick(book, v1)
    rows = book.ledger.records()
    assert set(rows["action"]) == {"open", "settle"}


def test_cash_accrues_the_risk_free_rate_over_calendar_days():
    book, _ = condor_book(rate=0.05)
    start_tick(book, view(0, DAY0, 5000.0))
    end_tick(book, view(0, DAY0, 5000.0))
    v = view(1, DAY0 + 3, 5000.0)  # over a weekend
    start_tick(book, v)
    np.testing.assert_allclose(book.cash, 100_000.0 * math.exp(0.05 * 3 / 365))
    end_tick(book, v)


def test_close_realizes_mark_and_identity_holds():
    costs = CostModel(commission=1.0, min_width=0.05, width_share=0.02, vix_widening=0.0)
    book, block = condor_book(costs)
    v0 = view(0, DAY0, 5000.0)
    start_tick(book, v0)
    open_condor(book, block, v0)
    end_tick(book, v0)
    v1 = view(1, DAY0 + 1, [4950.0, 5000.0, 5080.0], vix=25.0)
    start_tick(book, v1)
    mask = np.array([True, False, True])
    book.close(v1, block, mask, "test")
    assert not book.active[:, 0].any() and book.active[:, 1].all()
    end_tick(book, v1)
    np.testing.assert_allclose(book.margin[[0, 2]], 0.0)


def test_identity_catches_a_bookkeeping_slip():
    book, block = condor_book()
    v0 = view(0, DAY0, 5000.0)
    start_tick(book, v0)
    open_condor(book, block, v0)
    end_tick(book, v0)
    v1 = view(1, DAY0 + 1, 5010.0)
    start_tick(book, v1)
    book.cash[1] += 1.0  # money from nowhere
    book.mark_to_market(v1)
    with pytest.raises(AccountingError, match="path 1"):
        book.check_identity()


def test_naked_short_call_is_refused():
    book = Book(1, 1e5, pricer(), NO_COSTS)
    block = book.reserve(1)
    v = view(0, DAY0, 5000.0, n=1)
    book.begin_tick(v)
    with pytest.raises(UncoveredShortError):
        book.open(v, block, np.array([True]), np.array([[5100.0]]), np.array([True]),
                  np.array([[-1.0]]), np.int64(DAY0 + 30), "test")


@settings(max_examples=25, deadline=None)
@given(
    commission=st.floats(0.0, 5.0),
    width_share=st.floats(0.0, 0.2),
    profit_target=st.floats(0.05, 1.0),
    stop_loss=st.floats(0.1, 5.0),
    wing=st.sampled_from([10.0, 25.0, 50.0, 100.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_accounting_identity_every_tick_on_every_path(commission, width_share, profit_target,
                                                      stop_loss, wing, seed):
    """Book identity on random costs and condor rules; check_identity raises on failure."""
    import dataclasses

    from sim.market import generate

    base = small_scenario(n_days=40)
    scenario = dataclasses.replace(
        base,
        costs=CostModel(commission=commission, width_share=width_share),
        condor=dataclasses.replace(base.condor, profit_target=profit_target,
                                   stop_loss=stop_loss, wing_width=wing, dte_min=7,
                                   dte_max=14, entry_interval=1))
    market = generate(scenario.market, 20, 40, 1 / 252, np.random.default_rng(seed))
    batch = simulate(scenario, market, [CondorAgent], check_identity=True)
    book = batch.book
    # Final equity equals initial cash plus all flows, as a whole-run cross-check.
    rows = book.ledger.records()
    flows = np.bincount(rows["path"], weights=rows["cash_flow"], minlength=20)
    np.testing.assert_allclose(book.cash, book.initial_cash + flows + book.total_carry,
                               rtol=1e-9, atol=1e-6)
