"""Partial operations on a block: roll_legs, resize, close of some legs; identity and margin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.book import UncoveredShortError, group_margin
from sim.instruments import SPX_OPTION, VIX_FUTURE, VIX_OPTION

from .test_book_vix import COSTS, DAY0, FRONT, SECOND, end_tick, make_book, start_tick, view

STRIKES = np.array([4800.0, 4900.0, 5100.0, 5200.0])
IS_CALL = np.array([False, False, True, True])
SIGN = np.array([1.0, -1.0, -1.0, 1.0])
CONDOR_EXPIRY = DAY0 + 35
EVERYONE = np.ones(3, dtype=bool)


def open_condor(book, block, v, contracts=2.0, mask=EVERYONE):
    strike = np.repeat(STRIKES[:, None], book.n_paths, axis=1)
    qty = SIGN[:, None] * contracts * np.ones((4, book.n_paths))
    return book.open(v, block, mask, strike, IS_CALL, qty, np.int64(CONDOR_EXPIRY), "entry")


def condor_max_loss(entry, contracts, wing=100.0):
    """Max loss from entry of an iron condor with equal wings, dollars per path."""
    credit = -(SIGN[:, None] * entry).sum(axis=0)
    return contracts * (wing - credit) * 100.0


def margins_from_state(book):
    """Each group's margin recomputed from the book's arrays by ``group_margin``."""
    return np.array([group_margin(book.strike[b.slots], book.is_call[b.slots],
                                  book.quantity[b.slots], book.entry_price[b.slots],
                                  book.kind[b.slots], book.active[b.slots], book.vix_spec)
                     for b in book.blocks])


def snapshot(book):
    names = ("cash", "active", "kind", "strike", "is_call", "expiry", "quantity", "entry_price",
             "mark", "position_id", "group_margin", "n_orders", "total_costs")
    return {name: getattr(book, name).copy() for name in names}


def condor_book(costs=COSTS):
    book = make_book(costs)
    block = book.reserve(4)
    v0 = view(0, DAY0)
    start_tick(book, v0)
    open_condor(book, block, v0)
    end_tick(book, v0)
    return book, block


# ---------------------------------------------------------------------------
# roll_legs
# ---------------------------------------------------------------------------


def test_roll_the_call_side_up_keeps_identity_and_margin():
    book, block = condor_book()
    old_ids = book.position_id[block.slots].copy()
    v1 = view(1, DAY0 + 1, spot=5090.0, variance=0.05)
    start_tick(book, v1)
    mask = np.array([True, False, True])
    new_strike = np.array([[5200.0] * 3, [5300.0] * 3])
    quantity = np.array([[-2.0] * 3, [2.0] * 3])
    expected = book.quote_new(v1, new_strike, True, np.int64(CONDOR_EXPIRY), mask)
    before = len(book.ledger)
    price = book.roll_legs(v1, block, mask, [2, 3], new_strike, True, quantity,
                           np.int64(CONDOR_EXPIRY), "roll_up")
    np.testing.assert_array_equal(price, expected)
    end_tick(book, v1)
    np.testing.assert_array_equal(book.strike[block.start + 2], [5200.0, 5100.0, 5200.0])
    np.testing.assert_array_equal(book.strike[block.start + 3], [5300.0, 5200.0, 5300.0])
    # The rolled legs got a new position id; the others and path 1 kept theirs.
    ids = book.position_id[block.slots]
    assert np.all(ids[2:, mask] != old_ids[2:, mask]) and len(np.unique(ids[2:, mask])) == 1
    np.testing.assert_array_equal(ids[:2], old_ids[:2])
    np.testing.assert_array_equal(ids[:, 1], old_ids[:, 1])
    rows = book.ledger.records()[before:]
    assert list(rows["action"]) == ["close"] * 4 + ["open"] * 4
    assert set(rows["reason"]) == {"roll_up"}
    np.testing.assert_array_equal(rows["quantity"][:4], [-2.0, -2.0, 2.0, 2.0])
    # Margin: the max loss of the new condor from its (mixed) entry prices.
    np.testing.assert_allclose(book.margin, condor_max_loss(book.entry_price[block.slots], 2.0))
    np.testing.assert_allclose(book.group_margin, margins_from_state(book))
    np.testing.assert_allclose(book.last_order.flow[1], 0.0)
    assert np.all(book.last_order.cost[mask] > 0)


def test_a_roll_may_pass_through_an_uncovered_state():
    book, block = condor_book()
    v1 = view(1, DAY0 + 1)
    start_tick(book, v1)
    # Closing the long call alone would leave the short call naked; the roll does not raise.
    book.roll_legs(v1, block, EVERYONE, [3], np.full((1, 3), 5250.0), True,
                   np.full((1, 3), 2.0), np.int64(CONDOR_EXPIRY), "widen")
    end_tick(book, v1)
    np.testing.assert_allclose(book.margin, condor_max_loss(book.entry_price[block.slots], 2.0,
                                                             wing=150.0))
    v2 = view(2, DAY0 + 2)
    start_tick(book, v2)
    with pytest.raises(UncoveredShortError):
        book.roll_legs(v2, block, EVERYONE, [3], np.full((1, 3), 5250.0), False,
                       np.full((1, 3), 2.0), np.int64(CONDOR_EXPIRY), "bad")


def test_roll_needs_the_legs_active_and_valid_indices():
    book = make_book()
    block = book.reserve(4)
    v0 = view(0, DAY0)
    start_tick(book, v0)
    open_condor(book, block, v0, mask=np.array([True, True, False]))
    with pytest.raises(RuntimeError, match="active"):
        book.roll_legs(v0, block, EVERYONE, [0], np.full((1, 3), 4700.0), False,
                       np.ones((1, 3)), np.int64(CONDOR_EXPIRY), "roll")
    with pytest.raises(ValueError, match="leg indices"):
        book.roll_legs(v0, block, EVERYONE, [4], np.full((1, 3), 4700.0), False,
                       np.ones((1, 3)), np.int64(CONDOR_EXPIRY), "roll")


def test_roll_vix_calls_forward_in_time_and_a_zero_quantity_only_closes():
    book = make_book(COSTS)
    block = book.reserve(2)
    v0 = view(0, DAY0, variance=0.04)
    start_tick(book, v0)
    book.open(v0, block, EVERYONE, np.array([[20.0] * 3, [26.0] * 3]), True,
              np.array([[3.0] * 3, [-3.0] * 3]), np.int64(FRONT), "L2", kind=VIX_OPTION)
    end_tick(book, v0)
    v1 = view(1, FRONT - 2, variance=0.06, vix=24.0)
    start_tick(book, v1)
    # Time shifting: the front call spread becomes a second-month call (path 2: nothing).
    quantity = np.array([[3.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    expiry = np.array([SECOND, SECOND, SECOND])
    price = book.roll_legs(v1, block, EVERYONE, [0, 1], np.array([[22.0] * 3, [30.0] * 3]),
                           True, quantity, expiry, "time_shift", kind=VIX_OPTION)
    # Prices are quoted even where a leg is not opened.
    np.testing.assert_array_equal(price, book.vix_pricer.option(
        v1, np.array([[22.0] * 3, [30.0] * 3]), True, SECOND, True))
    end_tick(book, v1)
    np.testing.assert_array_equal(book.active[block.slots], [[True, True, False],
                                                             [False, False, False]])
    np.testing.assert_array_equal(book.expiry[block.start, :2], [SECOND, SECOND])
    np.testing.assert_allclose(book.margin, [3 * price[0, 0] * 100, 3 * price[0, 1] * 100, 0])
    np.testing.assert_allclose(book.group_margin, margins_from_state(book))


# ---------------------------------------------------------------------------
# resize and close of some legs
# ---------------------------------------------------------------------------


def test_resize_with_scale_one_changes_nothing():
    book, block = condor_book()
    v1 = view(1, DAY0 + 1, spot=4980.0)
    start_tick(book, v1)
    before, rows = snapshot(book), len(book.ledger)
    flow = book.resize(v1, block, EVERYONE, 1.0, "keep")
    np.testing.assert_array_equal(flow, 0.0)
    after = snapshot(book)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    assert len(book.ledger) == rows
    end_tick(book, v1)


def test_resize_with_scale_zero_equals_close():
    books = [condor_book() for _ in range(2)]
    v1 = view(1, DAY0 + 1, spot=5060.0, variance=0.05, vix=27.0)
    mask = np.array([True, True, False])
    for book, _ in books:
        start_tick(book, v1)
    resized = books[0][0].resize(v1, books[0][1], mask, np.zeros(3), "exit")
    closed = books[1][0].close(v1, books[1][1], mask, "exit")
    np.testing.assert_array_equal(resized, closed)
    (a, _), (b, _) = books
    for name, value in snapshot(b).items():
        np.testing.assert_array_equal(snapshot(a)[name], value, err_msg=name)
    np.testing.assert_array_equal(a.ledger.records(), b.ledger.records())
    np.testing.assert_array_equal(a.last_order.cost, b.last_order.cost)
    for book, _ in books:
        end_tick(book, v1)


def test_resize_truncates_toward_zero_and_trades_the_difference():
    book = make_book(COSTS)
    block = book.reserve(4)
    v0 = view(0, DAY0)
    start_tick(book, v0)
    open_condor(book, block, v0, contracts=5.0)
    end_tick(book, v0)
    v1 = view(1, DAY0 + 1, spot=4950.0)
    start_tick(book, v1)
    price = book.quote(v1, block)
    scale = np.array([0.5, 0.99, 0.2])
    before = len(book.ledger)
    flow = book.resize(v1, block, EVERYONE, scale, "budget")
    kept = np.array([2.0, 4.0, 1.0])
    np.testing.assert_array_equal(book.quantity[block.slots], SIGN[:, None] * kept)
    closed = SIGN[:, None] * (5.0 - kept)
    cost = np.abs(closed) * book.unit_cost(v1, price, SPX_OPTION)
    np.testing.assert_allclose(flow, (closed * price * 100).sum(axis=0) - cost.sum(axis=0))
    rows = book.ledger.records()[before:]
    assert set(rows["action"]) == {"close"} and len(rows) == 12
    for row in rows:
        assert row["quantity"] == closed[row["slot"] - block.start, row["path"]]
    np.testing.assert_allclose(book.margin, condor_max_loss(book.entry_price[block.slots], kept))
    end_tick(book, v1)


def test_resize_a_futures_spread_and_close_some_legs():
    book = make_book(COSTS)
    block = book.reserve(3)
    v0 = view(0, DAY0)
    start_tick(book, v0)
    quantity = np.array([[4.0] * 3, [-4.0] * 3, [3.0] * 3])
    book.open(v0, block, EVERYONE, np.zeros((3, 3)), False, quantity,
              np.array([[FRONT], [SECOND], [SECOND]]), "L3", kind=VIX_FUTURE)
    # 4 offsetting pairs... long 7, short 4: 3 net, 4 pairs.
    np.testing.assert_allclose(book.margin, 3 * 6000.0 + 4 * 1500.0)
    end_tick(book, v0)
    v1 = view(1, DAY0 + 1, variance=0.06)
    start_tick(book, v1)
    book.resize(v1, block, EVERYONE, 0.5, "cut")
    np.testing.assert_array_equal(book.quantity[block.slots, 0], [2.0, -2.0, 1.0])
    np.testing.assert_allclose(book.margin, 1 * 6000.0 + 2 * 1500.0)
    book.close(v1, block, np.array([True, False, False]), "unwind", legs=[0, 2])
    np.testing.assert_array_equal(book.active[block.slots, 0], [False, True, False])
    np.testing.assert_allclose(book.margin, [2 * 6000.0, 6000.0 + 2 * 1500.0,
                                             6000.0 + 2 * 1500.0])
    end_tick(book, v1)


def test_close_some_legs_of_a_condor():
    book, block = condor_book()
    v1 = view(1, DAY0 + 1)
    start_tick(book, v1)
    book.close(v1, block, EVERYONE, "puts", legs=[0, 1])
    np.testing.assert_array_equal(book.active[block.slots].all(axis=1), [False, False, True, True])
    end_tick(book, v1)
    entry = book.entry_price[block.slots]
    np.testing.assert_allclose(book.margin, 2 * (100.0 - (entry[2] - entry[3])) * 100)
    v2 = view(2, DAY0 + 2)
    start_tick(book, v2)
    with pytest.raises(UncoveredShortError):
        book.close(v2, block, EVERYONE, "long call", legs=[3])


# ---------------------------------------------------------------------------
# A random sequence of operations keeps the identity and the margins
# ---------------------------------------------------------------------------

OPERATIONS = ("open", "close", "close_some", "resize", "roll", "nothing")


def _random_order(book, blocks, v, rng, operation):
    condor, vix = blocks
    n = book.n_paths
    pick = rng.random(n) < 0.6
    if operation == "open":
        flat = book.is_flat(condor) & pick
        if flat.any():
            open_condor(book, condor, v, contracts=float(rng.integers(1, 6)), mask=flat)
        flat = book.is_flat(vix) & (rng.random(n) < 0.6)
        if flat.any():
            size = float(rng.integers(1, 6))
            qty = np.array([size, -size, size, -float(rng.integers(0, 6))])
            book.open(v, vix, flat, np.array([[20.0] * n, [25.0] * n, [0.0] * n, [0.0] * n]),
                      np.array([True, True, False, False]), qty[:, None] * np.ones((4, n)),
                      np.array([[FRONT], [FRONT], [FRONT], [SECOND]]), "vix",
                      kind=np.array([VIX_OPTION, VIX_OPTION, VIX_FUTURE, VIX_FUTURE]))
    elif operation == "close":
        book.close(v, condor if rng.random() < 0.5 else vix, pick, "close")
    elif operation == "close_some":
        book.close(v, vix, pick, "futures", legs=[2, 3])
    elif operation == "resize":
        block = condor if rng.random() < 0.5 else vix
        book.resize(v, block, pick, rng.random(n), "resize")
    elif operation == "roll":
        held = pick & book.active[condor.start + 2] & book.active[condor.start + 3]
        if held.any():
            qty = book.quantity[condor.start + 2:condor.start + 4]
            shift = 25.0 * rng.integers(-2, 3)
            book.roll_legs(v, condor, held, [2, 3],
                           np.array([[5100.0 + shift] * n, [5200.0 + shift] * n]), True,
                           np.where(held, qty, 0.0), np.int64(CONDOR_EXPIRY + 7), "roll")
        held = pick & book.active[vix.start] & book.active[vix.start + 1]
        if held.any():
            qty = book.quantity[vix.start:vix.start + 2]
            book.roll_legs(v, vix, held, [0, 1], np.array([[21.0] * n, [27.0] * n]), True,
                           np.where(held, qty, 0.0), np.int64(SECOND), "time_shift",
                           kind=VIX_OPTION)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       operations=st.lists(st.sampled_from(OPERATIONS), min_size=3, max_size=8))
def test_random_operations_keep_identity_and_margins(seed, operations):
    rng = np.random.default_rng(seed)
    book = make_book(COSTS)
    blocks = (book.reserve(4), book.reserve(4))
    day = DAY0
    for tick, operation in enumerate(["open", *operations]):
        n = book.n_paths
        v = view(tick, day, spot=5000.0 + rng.normal(0.0, 80.0, n),
                 variance=rng.uniform(0.01, 0.2, n), vix=rng.uniform(11.0, 45.0, n))
        start_tick(book, v)
        _random_order(book, blocks, v, rng, operation)
        np.testing.assert_allclose(book.group_margin, margins_from_state(book))
        end_tick(book, v)
        assert np.all(book.quantity[book.active] != 0.0)
        day += int(rng.integers(1, 6))
