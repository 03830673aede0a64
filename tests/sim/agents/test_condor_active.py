"""Condor styles: the non-trailed default is unchanged, the active style's rolls,
the shrink requests of other agents, and the premium collected.

A :class:`BusLog` agent wraps the bus's ``publish`` so it sees every
publication in the order it is made and can read the book at that very moment
(the margin right after a roll, for instance), independently of the condor's
own bookkeeping.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from pricing import bs_greeks
from sim.agents.condor import LONG_CALL, LONG_PUT, SHORT_CALL, SHORT_PUT, CondorAgent
from sim.config import CondorSpec, MarketModel
from sim.engine import Agent, simulate
from sim.instruments import SPX_MULTIPLIER
from sim.market import generate
from sim.metrics import path_results
from sim.policy import ActiveManagement

from ...conftest import DT, small_scenario

N_PATHS, N_DAYS = 60, 80
STRIKE_NAMES = ("long_put", "short_put", "short_call", "long_call")


@pytest.fixture(scope="module")
def volatile_scenario():
    """A volatile market (short strikes tested often) and condors of several contracts."""
    market = MarketModel(variance0=0.05, theta=0.05, xi=0.9, jump_intensity=3.0)
    condor = CondorSpec(risk_budget=0.25, max_contracts=50)
    return small_scenario(n_days=N_DAYS, market=market, condor=condor)


@pytest.fixture(scope="module")
def volatile_market(volatile_scenario):
    s = volatile_scenario
    return generate(s.market, N_PATHS, N_DAYS, DT, np.random.default_rng(11),
                    start_date=s.simulation.start_date)


def active_condor(**rules):
    """Factory of an active-style condor with the given ``ActiveManagement`` fields."""
    return functools.partial(CondorAgent, style="active", active=ActiveManagement(**rules))


def condor_legs(book, block):
    """Strike, signed quantity and entry price of the condor's legs, ``(4, n_paths)`` each."""
    s = block.slots
    return book.strike[s], book.quantity[s], book.entry_price[s]


def condor_max_loss(book, block) -> np.ndarray:
    """Max loss (dollars) of the held condor legs from their entry prices.

    With short put below short call at most one spread is in the money at
    expiry, so the worst settlement is the wider spread's width times the
    contracts; the max loss is that plus the net premium paid at entry.
    """
    strike, qty, entry = condor_legs(book, block)
    contracts = -qty[SHORT_PUT]
    width = np.maximum(strike[SHORT_PUT] - strike[LONG_PUT],
                       strike[LONG_CALL] - strike[SHORT_CALL])
    return np.maximum(0.0, ((qty * entry).sum(axis=0) + width * contracts) * SPX_MULTIPLIER)


class BusLog(Agent):
    """Logs every bus publication in order, and checks the condor's book as it happens.

    At each ``condor.opened`` / ``condor.rolled`` it checks that the payload
    strikes are the book's, that strikes are ordered (never crossed) and that
    the condor's margin is the max loss of its held legs. At every mark it
    checks the order of strikes and the margin on every path holding a condor.
    The condor must be the first agent (it owns the book's first block).
    """

    def __init__(self, ctx) -> None:
        self.log: list[tuple[str, int, np.ndarray, dict]] = []
        self.problems: list[str] = []
        self.marks_checked = 0
        self.tested_deltas: list[np.ndarray] = []
        super().__init__(ctx)
        publish = ctx.bus.publish

        def logged(name, tick, mask, **payload):
            if mask.any():
                self.log.append((name, tick, mask.copy(), dict(payload)))
                if name in ("condor.opened", "condor.rolled"):
                    self._check_payload(name, tick, mask, payload)
                if name == "condor.rolled":
                    self.tested_deltas.append(self._tested_delta(mask, payload["put_side"]))
            publish(name, tick, mask, **payload)

        ctx.bus.publish = logged

    def run(self):
        while True:
            view = yield self.ctx.clock.phase("mark")
            book = self.ctx.book
            block = book.blocks[0]
            held = ~book.is_flat(block)
            self._check_book(f"mark {view.tick}", held)
            self.marks_checked += 1

    def _check_payload(self, name, tick, mask, payload) -> None:
        strike, _, _ = condor_legs(self.ctx.book, self.ctx.book.blocks[0])
        for leg, key in enumerate(STRIKE_NAMES):
            if not np.array_equal(payload[key][mask], strike[leg][mask]):
                self.problems.append(f"{name} tick {tick}: payload {key} is not the book's")
        self._check_book(f"{name} tick {tick}", mask)

    def _tested_delta(self, mask, put_side) -> np.ndarray:
        """|Smile delta| now of the short leg that stayed (the tested one), on ``mask``."""
        book, view = self.ctx.book, self.ctx.clock.view
        slot = book.blocks[0].start + np.where(put_side, SHORT_CALL, SHORT_PUT)
        paths = np.arange(book.n_paths)
        strike = np.where(mask, book.strike[slot, paths], view.spot)
        T = np.where(mask, book.expiry[slot, paths] - view.day, 1) / 365.0
        vol = book.pricer.vol(view, strike, T)
        delta = bs_greeks(view.spot, strike, T, book.pricer.rate, book.pricer.dividend_yield,
                          vol, put_side).delta
        return np.abs(delta[mask])

    def _check_book(self, where: str, paths: np.ndarray) -> None:
        book = self.ctx.book
        block = book.blocks[0]
        strike = book.strike[block.slots]
        if not paths.any():
            return
        k = strike[:, paths]
        if not ((k[0] < k[1]) & (k[1] < k[2]) & (k[2] < k[3])).all():
            self.problems.append(f"{where}: strikes out of order {k.T[:3].tolist()}")
        if not (book.active[block.slots][:, paths]).all():
            self.problems.append(f"{where}: a condor leg is missing")
        margin = book.group_margin[block.group][paths]
        expected = condor_max_loss(book, block)[paths]
        if not np.allclose(margin, expected, rtol=1e-12, atol=1e-6):
            self.problems.append(f"{where}: margin {margin[:3]} != max loss {expected[:3]}")

    def events(self, name: str, **match) -> list[tuple[int, np.ndarray, dict]]:
        """The logged publications on ``name`` whose payload matches ``match``."""
        return [(tick, mask, payload) for n, tick, mask, payload in self.log
                if n == name and all(payload.get(k) == v for k, v in match.items())]


def run_logged(scenario, market, condor_factory, *others):
    """Simulate the condor (first), ``others`` and a :class:`BusLog`; identity checked."""
    batch = simulate(scenario, market, [condor_factory, *others, BusLog], check_identity=True)
    return batch, batch.agents[0], batch.agents[-1]


def ledger_premium(rows, block, n_paths: int) -> np.ndarray:
    """Premium collected per path recomputed from the ledger, dollars.

    The definition: over the condor's slots, the mid value of every order
    that sells a condor or re-sells a side of it, i.e. ``cash_flow + cost``
    (dollars received before costs; ``-(quantity * price * 100)`` for an
    opening row, ``quantity * price * 100`` for a closing one) summed over
    the rows of entries (``entry``), of roll-outs' openings (``roll_out``,
    action ``open``: the closing half is an exit, not premium) and of
    untested-side rolls (``roll_untested``, both the buy-back and the new
    sale: a roll's premium is its net credit).
    """
    condor = (rows["slot"] >= block.start) & (rows["slot"] < block.stop)
    selling = condor & ((rows["reason"] == "entry") | (rows["reason"] == "roll_untested")
                        | ((rows["reason"] == "roll_out") & (rows["action"] == "open")))
    received = rows["cash_flow"] + rows["cost"]
    return np.bincount(rows["path"][selling], weights=received[selling], minlength=n_paths)


def condors_accounted(stats, condor) -> bool:
    """Every condor opened ended by one exit, by a roll-out, or is still open."""
    ended = sum(v for k, v in stats.items() if k.startswith("exits_")) + stats["n_roll_outs"]
    return np.array_equal(stats["n_condors"], ended + condor.is_open)


# --------------------------------------------------------------------- style


@pytest.mark.parametrize("style", ["trailed", "Active", ""])
def test_unknown_style_raises_naming_the_allowed_ones(scenario, market, style):
    with pytest.raises(ValueError, match="'non-trailed', 'active'"):
        simulate(scenario, market.select([0]), [functools.partial(CondorAgent, style=style)])


def test_non_trailed_default_is_unchanged_bit_for_bit(volatile_scenario, volatile_market):
    """``CondorAgent(ctx)`` is the non-trailed style; rules given to it are ignored, and
    the active style with every adjustment off trades exactly the same."""
    s, m = volatile_scenario, volatile_market
    reference = simulate(s, m, [CondorAgent])
    ref_table = path_results(reference)
    ref_rows = reference.book.ledger.records()
    for factory in (functools.partial(CondorAgent, style="non-trailed"),
                    functools.partial(CondorAgent, style="non-trailed",
                                      active=ActiveManagement(roll_delta=0.05)),
                    active_condor(max_untested_rolls=0, roll_out=False)):
        batch = simulate(s, m, [factory])
        table = path_results(batch)
        assert table.keys() == ref_table.keys()
        for column, values in ref_table.items():
            np.testing.assert_array_equal(table[column], values, err_msg=column)
        assert batch.book.ledger.records().tobytes() == ref_rows.tobytes()
    stats = reference.agents[0].path_stats()
    for column in ("n_untested_rolls", "n_roll_outs", "n_shrinks", "exits_shrink"):
        assert not stats[column].any(), column
    assert condors_accounted(stats, reference.agents[0])


# -------------------------------------------------------------------- active


def test_active_rolls_happen_and_keep_identity_margin_and_strike_order(volatile_scenario,
                                                                       volatile_market):
    rules = ActiveManagement(max_untested_rolls=2)
    batch, condor, log = run_logged(volatile_scenario, volatile_market,
                                    functools.partial(CondorAgent, style="active",
                                                      active=rules))
    assert log.problems == []
    assert log.marks_checked == N_DAYS + 1
    stats = condor.path_stats()
    assert stats["n_untested_rolls"].sum() > 0 and stats["n_roll_outs"].sum() > 0
    assert condors_accounted(stats, condor)
    rows = batch.book.ledger.records()
    assert {"entry", "roll_untested", "roll_out"} <= set(rows["reason"])
    # An untested-side roll trades four legs: two closed, two opened.
    rolls = rows[rows["reason"] == "roll_untested"]
    assert len(rolls) == 4 * stats["n_untested_rolls"].sum()
    assert (rolls["action"] == "close").sum() == (rolls["action"] == "open").sum()
    rolled = log.events("condor.rolled")
    assert sum(int(mask.sum()) for _, mask, _ in rolled) == stats["n_untested_rolls"].sum()


@pytest.mark.parametrize(("short_delta", "roll_delta"), [(0.16, 0.30), (0.45, 0.55)],
                         ids=["default", "near-the-money"])
def test_untested_rolls_move_toward_the_money_and_never_cross(volatile_scenario,
                                                              volatile_market, short_delta,
                                                              roll_delta):
    """Near the money the delta rule alone would cross the strikes: the roll stops
    5 points short of the tested short strike."""
    scenario = dataclasses.replace(volatile_scenario, condor=dataclasses.replace(
        volatile_scenario.condor, short_delta=short_delta))
    spec = scenario.condor
    rules = ActiveManagement(roll_delta=roll_delta, max_untested_rolls=2, roll_out=False)
    _, condor, log = run_logged(scenario, volatile_market,
                                functools.partial(CondorAgent, style="active", active=rules))
    assert log.problems == []
    strikes = np.zeros((4, N_PATHS))
    rolls_of_condor = np.zeros(N_PATHS, dtype=int)
    credit = np.zeros(N_PATHS)
    contracts = np.zeros(N_PATHS)
    n_rolls = n_clamped = 0
    sides_rolled = set()
    for name, _, mask, payload in log.log:
        if name in ("condor.opened", "condor.resized"):
            contracts = np.where(mask, payload["contracts"], contracts)
        if name == "condor.opened":
            rolls_of_condor[mask] = 0
        elif name == "condor.rolled":
            n_rolls += int(mask.sum())
            new = np.stack([payload[key] for key in STRIKE_NAMES])
            put = payload["put_side"] & mask
            call = ~payload["put_side"] & mask
            sides_rolled |= {"put"} if put.any() else set()
            sides_rolled |= {"call"} if call.any() else set()
            # The rolled side moves toward the money; the tested side stays.
            assert (new[SHORT_PUT][put] > strikes[SHORT_PUT][put]).all()
            assert (new[SHORT_CALL][call] < strikes[SHORT_CALL][call]).all()
            np.testing.assert_array_equal(new[2:, put], strikes[2:, put])
            np.testing.assert_array_equal(new[:2, call], strikes[:2, call])
            assert (new[SHORT_PUT][mask] <= new[SHORT_CALL][mask] - 5.0).all()
            n_clamped += int((new[SHORT_CALL][mask] - new[SHORT_PUT][mask] == 5.0).sum())
            np.testing.assert_array_equal(new[SHORT_PUT][mask] - new[LONG_PUT][mask],
                                          spec.wing_width)
            np.testing.assert_array_equal(new[LONG_CALL][mask] - new[SHORT_CALL][mask],
                                          spec.wing_width)
            # The credit grows by the roll's net credit, per contract.
            np.testing.assert_allclose(
                payload["credit"][mask] - credit[mask],
                payload["net_credit"][mask] / (contracts[mask] * SPX_MULTIPLIER),
                rtol=1e-9, atol=1e-9)
            rolls_of_condor[mask] += 1
        if name in ("condor.opened", "condor.rolled"):
            strikes = np.where(mask, np.stack([payload[key] for key in STRIKE_NAMES]),
                               strikes)
            credit = np.where(mask, payload["credit"], credit)
        assert rolls_of_condor.max() <= rules.max_untested_rolls
    assert n_rolls > 0 and sides_rolled == {"put", "call"}
    assert (np.concatenate(log.tested_deltas) >= roll_delta).all()
    assert n_clamped > 0 if short_delta > 0.4 else n_clamped == 0
    assert condor.path_stats()["n_roll_outs"].sum() == 0


def test_roll_out_reopens_at_once_with_a_later_expiry(volatile_scenario, volatile_market):
    rules = ActiveManagement(max_untested_rolls=0, roll_out=True, max_roll_outs=1)
    batch, condor, log = run_logged(volatile_scenario, volatile_market,
                                    functools.partial(CondorAgent, style="active",
                                                      active=rules))
    assert log.problems == []
    stats = condor.path_stats()
    assert stats["n_roll_outs"].sum() > 0 and not stats["n_untested_rolls"].any()
    # Closed then opened, in that order, on the same paths and tick.
    order = [(name, tick, payload.get("reason")) for name, tick, _, payload in log.log
             if name in ("condor.opened", "condor.closed")]
    closes = log.events("condor.closed", reason="roll_out")
    opens = log.events("condor.opened", reason="roll_out")
    assert len(closes) == len(opens) > 0
    for (tick, closed_mask, _), (open_tick, opened_mask, _) in zip(closes, opens, strict=True):
        assert tick == open_tick
        np.testing.assert_array_equal(closed_mask, opened_mask)
        i = order.index(("condor.closed", tick, "roll_out"))
        assert order[i + 1] == ("condor.opened", tick, "roll_out")
    # The ledger: every roll-out close is followed at the same tick and path by
    # an open with a later expiry.
    rows = batch.book.ledger.records()
    out = rows[rows["reason"] == "roll_out"]
    closed = out[out["action"] == "close"]
    opened = out[out["action"] == "open"]
    assert len(closed) == len(opened) == 4 * stats["n_roll_outs"].sum()
    old = {(r["tick"], r["path"]): r["expiry"] for r in closed}
    new = {(r["tick"], r["path"]): r["expiry"] for r in opened}
    assert old.keys() == new.keys()
    assert all(new[key] > old[key] for key in old)
    # At most one roll-out in a row: a condor opened by a roll-out is never rolled out.
    origin = np.array([""] * N_PATHS, dtype=object)
    for name, _, mask, payload in log.log:
        if name == "condor.closed" and payload["reason"] == "roll_out":
            assert (origin[mask] == "entry").all()
        if name == "condor.opened":
            origin[mask] = payload["reason"]
    assert condors_accounted(stats, condor)


# -------------------------------------------------------------------- shrink


class ShrinkRequester(Agent):
    """Asks the condor, in the hedge phase of one tick, to keep ``scale`` of its contracts.

    Records the condor's contracts (from the book) just before asking and at
    the mark of the same tick.
    """

    def __init__(self, ctx, tick: int, mask: np.ndarray, scale: np.ndarray) -> None:
        self.tick, self.mask, self.scale = tick, mask, scale
        self.before = self.after = None
        super().__init__(ctx)

    def _contracts(self) -> np.ndarray:
        book = self.ctx.book
        block = book.blocks[0]
        return np.where(book.active[block.start + SHORT_PUT],
                        -book.quantity[block.start + SHORT_PUT], 0.0)

    def run(self):
        clock = self.ctx.clock
        while True:
            view = yield clock.phase("hedge")
            if view.tick == self.tick:
                self.before = self._contracts()
                self.ctx.bus.publish("condor.shrink", view.tick, self.mask, scale=self.scale)
                yield clock.phase("mark")
                self.after = self._contracts()


@pytest.mark.parametrize("style", ["non-trailed", "active"])
def test_shrink_request_halves_contracts_and_keeps_the_identity(volatile_scenario,
                                                                volatile_market, style):
    tick = 10
    mask = np.arange(N_PATHS) % 3 != 0            # every third path is not asked
    scale = np.where(np.arange(N_PATHS) % 3 == 2, 0.0, 0.5)   # some asked to close
    requester = functools.partial(ShrinkRequester, tick=tick, mask=mask, scale=scale)
    batch, condor, log = run_logged(volatile_scenario, volatile_market,
                                    functools.partial(CondorAgent, style=style), requester)
    asker = batch.agents[1]
    assert log.problems == []
    before, after = asker.before, asker.after
    held = before > 0
    assert (held & mask & (scale == 0.5) & (before >= 2)).any()
    halved = held & mask & (scale == 0.5)
    np.testing.assert_array_equal(after[halved], np.trunc(before[halved] * 0.5))
    np.testing.assert_array_equal(after[~mask], before[~mask])       # not asked
    closed = held & mask & (scale == 0.0)
    assert closed.any() and not after[closed].any()
    stats = condor.path_stats()
    shrunk = halved & (np.trunc(before * 0.5) < before) | closed
    np.testing.assert_array_equal(stats["n_shrinks"], shrunk)
    np.testing.assert_array_equal(stats["exits_shrink"], closed)
    assert condors_accounted(stats, condor)
    # Flat paths were ignored: no shrink order there.
    rows = batch.book.ledger.records()
    shrink_rows = rows[rows["reason"] == "shrink"]
    assert set(np.unique(shrink_rows["path"])) == set(np.flatnonzero(shrunk))
    assert (shrink_rows["tick"] == tick).all()
    # Events: resized on every shrunk path, closed (reason shrink) where none is left.
    (resized_tick, resized_mask, payload), = log.events("condor.resized")
    assert resized_tick == tick
    np.testing.assert_array_equal(resized_mask, shrunk)
    np.testing.assert_array_equal(payload["contracts"][shrunk], after[shrunk])
    (_, closed_mask, _), = log.events("condor.closed", reason="shrink")
    np.testing.assert_array_equal(closed_mask, closed)


# ------------------------------------------------------------------- premium


@pytest.mark.parametrize("factory", [
    CondorAgent,
    active_condor(),
    active_condor(max_untested_rolls=3, max_roll_outs=5),
], ids=["non-trailed", "active", "active-many-rolls"])
def test_premium_collected_is_the_mid_credit_of_every_sale(volatile_scenario, volatile_market,
                                                          factory):
    requester = functools.partial(ShrinkRequester, tick=20, mask=np.ones(N_PATHS, bool),
                                  scale=np.full(N_PATHS, 0.5))
    batch, condor, _ = run_logged(volatile_scenario, volatile_market, factory, requester)
    stats = condor.path_stats()
    rows = batch.book.ledger.records()
    expected = ledger_premium(rows, condor.block, N_PATHS)
    np.testing.assert_allclose(stats["premium_collected"], expected, rtol=1e-12, atol=1e-6)
    assert (stats["premium_collected"] > 0).all()


@pytest.mark.parametrize("factory", [CondorAgent, active_condor()],
                         ids=["non-trailed", "active"])
def test_opened_payload_is_what_the_ledger_shows(volatile_scenario, volatile_market, factory):
    batch, condor, log = run_logged(volatile_scenario, volatile_market, factory)
    assert log.problems == []   # strikes of the payload are the book's
    rows = batch.book.ledger.records()
    opens = rows[(rows["action"] == "open") & (rows["slot"] < condor.block.stop)
                 & (rows["slot"] >= condor.block.start)]
    events = log.events("condor.opened")
    assert sum(int(mask.sum()) for _, mask, _ in events) == condor.n_condors.sum()
    for tick, mask, payload in events:
        legs = opens[(opens["tick"] == tick) & (opens["reason"] == payload["reason"])]
        paths = np.flatnonzero(mask)
        assert len(legs) == 4 * paths.size
        order = np.lexsort((legs["slot"], legs["path"]))
        legs = legs[order]
        quantity = legs["quantity"].reshape(-1, 4)
        price = legs["price"].reshape(-1, 4)
        np.testing.assert_array_equal(legs["path"][::4], paths)
        contracts = np.abs(quantity).max(axis=1)
        np.testing.assert_array_equal(payload["contracts"][mask], contracts)
        np.testing.assert_allclose(payload["credit"][mask],
                                   -(quantity * price).sum(axis=1) / contracts, rtol=1e-12)
        np.testing.assert_array_equal(
            payload["expiry"][mask], legs["expiry"][::4].astype(np.int64))
        assert payload["expiry"].dtype == np.int64
