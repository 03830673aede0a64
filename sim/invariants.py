"""Invariants of a simulated batch: checks that name the path, the tick and the numbers.

Each ``check_*`` function reads a finished :class:`sim.engine.BatchResult`
(its book, its trade ledger, its market, and what a :class:`Recorder` saw
during the run), raises :class:`InvariantError` at the first violation, and
otherwise returns how many things it checked. ``check_all`` runs them all.

====================== ===============================================================
invariant              definition (money in $, prices in index points)
====================== ===============================================================
accounting identity    at every tick and path ``equity_t - equity_{t-1} = leg P&L +
                       carry - costs`` (tolerance ``1e-6 (1 + |equity|)``); the ledger
                       replays to the book's final positions; its costs add up to the
                       book's; and ``final equity - initial cash = carry - costs + sum
                       of option cash flows at mid + option legs still held at their
                       last mark + VIX futures P&L`` (entry to exit price x 1,000)
max-loss bound         every condor (from its entry or roll-out until it is flat,
                       untested-side rolls and shrinks included) loses at most
                       ``width x D x contracts x 100 - premium collected`` plus its
                       costs, i.e. ``(wing width - credit) x contracts x 100`` with no
                       roll; every hedge option order loses at most its max loss at
                       entry (premium paid, or width - credit for a credit spread)
                       plus its costs; so each path's P&L is at least ``carry - costs -
                       sum of those max losses + VIX futures P&L``. ``D = max(1,
                       e^{-r T})`` (T: years to expiry at entry) allows for a close
                       before expiry at a negative rate; futures spreads have no max loss
hedge budget cap       after every hedge opening (new or roll), the path's cumulative
                       hedge spend (premium paid, 0 for a credit or a future, plus costs)
                       <= ``budget.max_share x`` the condor premium collected so far
                       (credit x contracts x 100 of every condor entry and roll-out)
quick-ratio floor      right after every hedge opening order, ``cash >=
                       liquidity.min_quick_ratio x margin`` on every path it traded
layer order            a layer opens (reason ``open``) only while the condor is open and
                       every layer it requires is open (a ``leverage`` layer: the first
                       ``base`` layer); a roll likewise
no naked shorts        at the end of every tick, in every group of legs, each short
                       option is covered by long options of the same underlying, type
                       and expiry (contracts), and each short VIX future by a long one
flat after expiry      at the end of every tick no leg is held past its expiry date,
                       so the book is flat once the last expiry of its legs has passed
no-arbitrage prices    every option trade price and every mark lies in its bounds: SPX
                       call ``[max(S e^{-qT} - K e^{-rT}, 0), S e^{-qT}]``, put ``[max(K
                       e^{-rT} - S e^{-qT}, 0), K e^{-rT}]``; VIX options the same on
                       the future ``F`` with ``q = r``; prices of one tick, path, expiry
                       and type fall with moneyness no faster than the discounted
                       strike gap; settlements are exactly intrinsic
same seed, same result two runs of the same scenario, seed and policy give equal
                       markets, per-path results and ledgers, bit for bit
====================== ===============================================================

The :class:`Recorder` is an agent that never trades: it notes the book right
after every hedge opening (through the bus, synchronously) and after every
mark. :func:`simulate_recorded` runs a policy with one; the checks that need
its notes (quick ratio, per-tick identity, marks) raise ``ValueError`` for a
result without one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from sim.book import SlotBlock
from sim.engine import Agent, BatchResult, Clock, Context, MarketView, simulate
from sim.instruments import DAYS_PER_YEAR, MULTIPLIERS, SPX_OPTION, VIX_FUTURE, VIX_OPTION

__all__ = [
    "INVARIANTS", "InvariantError", "Recorder", "check_accounting", "check_all",
    "check_budget", "check_flat_after_expiry", "check_layer_order", "check_max_loss",
    "check_no_arbitrage", "check_no_naked_shorts", "check_quick_ratio", "check_same_result",
    "recorded_factories", "simulate_recorded",
]

#: Names of the invariants, in the order ``check_all`` runs them.
INVARIANTS = ("accounting identity", "max-loss bound", "hedge budget cap",
              "quick-ratio floor", "layer order", "no naked shorts", "flat after expiry",
              "no-arbitrage prices", "same seed, same result")
#: Ledger names of the instrument kinds.
_KIND_OF = {"spx_option": SPX_OPTION, "vix_option": VIX_OPTION, "vix_future": VIX_FUTURE}
#: Relative and absolute tolerance of money comparisons, $.
_REL, _ABS = 1e-9, 1e-6
#: Tolerance of price bounds: relative to the underlying (or strike), index points.
_PRICE_REL, _PRICE_ABS = 1e-9, 1e-12
#: SimPy time after the mark phase at which the recorder reads the book (before
#: the next tick's settle phase, one time unit later).
_AFTER_MARK = 0.5


class InvariantError(AssertionError):
    """An invariant does not hold; the message names the path, the tick and the numbers.

    Attributes
    ----------
    invariant : str
        One of :data:`INVARIANTS`.
    path : int or None
        Path index in the batch (the run's path index for one-shard runs).
    tick : int or None
        Tick of the violation.
    detail : str
        The numbers involved.
    """

    def __init__(self, invariant: str, path: int | None, tick: int | None,
                 detail: str) -> None:
        where = []
        if path is not None:
            where.append(f"on path {path}")
        if tick is not None:
            where.append(f"at tick {tick}")
        super().__init__(f"{invariant} broken {' '.join(where)}: {detail}".replace(
            "broken :", "broken:"))
        self.invariant = invariant
        self.path = path
        self.tick = tick
        self.detail = detail


def _usd(value: float) -> str:
    return f"{value:,.2f} $"


def _close_enough(small: float, large: float) -> bool:
    """``small <= large`` up to rounding of dollar sums."""
    return small <= large + _REL * max(abs(small), abs(large)) + _ABS


# ---------------------------------------------------------------------------
# The recorder
# ---------------------------------------------------------------------------


@dataclass
class HedgeOpening:
    """The book right after one hedge opening order (a ``hedge.opened`` event).

    Attributes
    ----------
    tick : int
    layer : str
    reason : str
        ``open`` or ``roll``.
    paths : ndarray of int
        Paths the order traded.
    cash, margin : ndarray
        Cash and total margin ($) on those paths right after the order.
    """

    tick: int
    layer: str
    reason: str
    paths: np.ndarray
    cash: np.ndarray
    margin: np.ndarray


@dataclass
class MarkSnapshot:
    """The option legs held after one tick's mark: one entry per leg and path."""

    tick: int
    slot: np.ndarray
    path: np.ndarray
    kind: np.ndarray
    is_call: np.ndarray
    strike: np.ndarray
    expiry: np.ndarray
    mark: np.ndarray


class Recorder(Agent):
    """An agent that never trades: it notes what the invariants need during a run.

    Right after every hedge opening order (it observes ``bus.publish``, so
    it reads the book before anything else trades) it notes the cash and
    margin of the paths traded; after every tick's mark (half a SimPy time
    unit after the ``mark`` phase) it notes every path's equity, cash,
    margin, leg P&L, carry and costs of the tick, and the marks of the option
    legs held. Put it last among the agent factories (:func:`recorded_factories`).
    Recording does not change the run: the other agents see the same events in
    the same order (``tests/sim/test_invariants.py`` checks it bit for bit).
    """

    def __init__(self, ctx: Context) -> None:
        book = ctx.book
        n_ticks, n_paths = ctx.clock.n_ticks, book.n_paths
        self.initial_cash = book.initial_cash
        self.equity = np.full((n_ticks, n_paths), np.nan)
        self.cash = np.full((n_ticks, n_paths), np.nan)
        self.margin = np.full((n_ticks, n_paths), np.nan)
        self.leg_pnl = np.full((n_ticks, n_paths), np.nan)
        self.carry = np.full((n_ticks, n_paths), np.nan)
        self.costs = np.full((n_ticks, n_paths), np.nan)
        self.recorded = np.zeros(n_ticks, dtype=bool)
        self.openings: list[HedgeOpening] = []
        self.marks: list[MarkSnapshot] = []
        publish = ctx.bus.publish

        def observed_publish(name: str, tick: int, mask: np.ndarray, **payload: Any) -> None:
            if name == "hedge.opened" and mask.any():
                paths = np.flatnonzero(mask)
                self.openings.append(HedgeOpening(
                    tick=int(tick), layer=str(payload.get("layer", "")),
                    reason=str(payload.get("reason", "")), paths=paths,
                    cash=book.cash[paths].copy(), margin=book.margin_at(paths)))
            publish(name, tick, mask, **payload)

        ctx.bus.publish = observed_publish  # type: ignore[method-assign]
        super().__init__(ctx)

    def run(self):
        """SimPy process: after every mark, note the book."""
        env, clock = self.ctx.env, self.ctx.clock
        while True:
            view = yield clock.phase("mark")
            yield env.timeout(_AFTER_MARK)
            self._note(view.tick)

    def _note(self, tick: int) -> None:
        book = self.ctx.book
        held = book.active & (book.kind != VIX_FUTURE)
        value = (book.quantity * book.mark * book.multiplier * held).sum(axis=0)
        self.equity[tick] = book.cash + value
        self.cash[tick] = book.cash
        self.margin[tick] = book.margin
        self.leg_pnl[tick] = book.leg_pnl
        self.carry[tick] = book.carry
        self.costs[tick] = book.tick_costs
        self.recorded[tick] = True
        slot, path = np.nonzero(held)
        self.marks.append(MarkSnapshot(
            tick=tick, slot=slot, path=path, kind=book.kind[slot, path].copy(),
            is_call=book.is_call[slot, path].copy(), strike=book.strike[slot, path].copy(),
            expiry=book.expiry[slot, path].copy(), mark=book.mark[slot, path].copy()))


def recorded_factories(policy: Any) -> tuple[Callable[[Context], Agent], ...]:
    """The policy's agent factories followed by a :class:`Recorder`."""
    return (*policy.agent_factories(), Recorder)


def simulate_recorded(scenario, market, policy, check_identity: bool = True) -> BatchResult:
    """``sim.engine.simulate`` of a policy with a :class:`Recorder` as last agent.

    Parameters
    ----------
    scenario : Scenario
    market : MarketPaths
    policy : Policy or any object with ``agent_factories()``
    check_identity : bool
        Let the book check its identity at every tick as well.

    Returns
    -------
    BatchResult
        Ready for :func:`check_all`.
    """
    return simulate(scenario, market, recorded_factories(policy),
                    check_identity=check_identity)


def _recorder(result: BatchResult, invariant: str) -> Recorder:
    for agent in result.agents:
        if isinstance(agent, Recorder):
            return agent
    raise ValueError(f"{invariant}: the result has no Recorder; run it with "
                     "sim.invariants.simulate_recorded (or add sim.invariants.Recorder as the "
                     "last agent factory)")


# ---------------------------------------------------------------------------
# Who holds which slots, and the ledger replayed
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Groups:
    """The condor's block and each hedge layer's block (from the agents of a result)."""

    condor: SlotBlock | None
    layers: tuple[tuple[Any, SlotBlock], ...]   # (LayerSpec, block)
    blocks: tuple[SlotBlock, ...]

    def group_of(self, slot: int) -> int:
        for block in self.blocks:
            if block.start <= slot < block.stop:
                return block.group
        return -1

    def layer_at(self, slot: int) -> tuple[Any, SlotBlock] | None:
        for layer, block in self.layers:
            if block.start <= slot < block.stop:
                return layer, block
        return None

    def name_of(self, slot: int) -> str:
        if self.condor is not None and self.condor.start <= slot < self.condor.stop:
            return "condor"
        found = self.layer_at(slot)
        return f"layer {found[0].name}" if found else f"group {self.group_of(slot)}"


def _groups(result: BatchResult) -> _Groups:
    from sim.agents.alvh import HedgeAgent
    from sim.agents.condor import CondorAgent

    condor = None
    layers: list[tuple[Any, SlotBlock]] = []
    for agent in result.agents:
        if isinstance(agent, CondorAgent):
            condor = agent.block
        elif isinstance(agent, HedgeAgent):
            layers += list(zip(agent.policy.layers, agent.blocks, strict=True))
    return _Groups(condor=condor, layers=tuple(layers), blocks=tuple(result.book.blocks))


@dataclass
class _Leg:
    """A leg held in one slot of one path, as the ledger tells it."""

    kind: int
    is_call: bool
    strike: float
    expiry: int
    quantity: float
    entry_price: float
    position_id: int
    open_tick: int


def _days(result: BatchResult) -> np.ndarray:
    return result.market.dates.astype("datetime64[D]").astype(np.int64)


def _rows_by_path(result: BatchResult) -> dict[int, np.ndarray]:
    """The ledger's rows of each path, in the order they were traded."""
    rows = result.book.ledger.records()
    if not rows.size:
        return {}
    order = np.argsort(rows["path"], kind="stable")
    rows = rows[order]
    paths, starts = np.unique(rows["path"], return_index=True)
    stops = [*starts[1:], rows.size]
    return {int(p): rows[a:b] for p, a, b in zip(paths, starts, stops, strict=True)}


def _apply(legs: dict[int, _Leg], row) -> tuple[str, _Leg | None]:
    """Apply one ledger row to a path's legs; returns what it did and the leg before."""
    action = str(row["action"])
    slot = int(row["slot"])
    if action == "skip":
        return action, None
    if action == "open":
        before = legs.get(slot)
        legs[slot] = _Leg(kind=_KIND_OF[str(row["instrument"])], is_call=bool(row["is_call"]),
                          strike=float(row["strike"]),
                          expiry=int(row["expiry"].astype(np.int64)),
                          quantity=float(row["quantity"]), entry_price=float(row["price"]),
                          position_id=int(row["position_id"]), open_tick=int(row["tick"]))
        return action, before
    leg = legs.get(slot)
    if leg is None:
        return action, None
    if action == "close":
        leg.quantity -= float(row["quantity"])
        if leg.quantity == 0.0:
            del legs[slot]
    else:  # settle
        del legs[slot]
    return action, leg


def _tick_ends(rows: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """``(tick, first, stop)`` row ranges of each tick that has rows."""
    if not rows.size:
        return
    ticks = rows["tick"]
    cuts = np.flatnonzero(np.diff(ticks)) + 1
    starts = [0, *cuts]
    stops = [*cuts, rows.size]
    for a, b in zip(starts, stops, strict=True):
        yield int(ticks[a]), int(a), int(b)


# ---------------------------------------------------------------------------
# Accounting identity
# ---------------------------------------------------------------------------


def check_accounting(result: BatchResult, tol: float = 1e-6) -> int:
    """Accounting identity, per tick (recorded) and over the run (ledger against book).

    Parameters
    ----------
    result : BatchResult
        From :func:`simulate_recorded`.
    tol : float
        Relative tolerance of the per-tick identity, as ``Book.check_identity``.

    Returns
    -------
    int
        Path-ticks checked.

    Raises
    ------
    InvariantError
        Naming the path, the tick and the two sides.
    """
    name = "accounting identity"
    rec = _recorder(result, name)
    book = result.book
    n_ticks = rec.recorded.size
    if not rec.recorded.all():
        missing = int(np.flatnonzero(~rec.recorded)[0])
        raise InvariantError(name, None, missing, "the book was never marked at this tick")
    previous = np.full(book.n_paths, rec.initial_cash)
    for tick in range(n_ticks):
        change = rec.equity[tick] - previous
        explained = rec.leg_pnl[tick] + rec.carry[tick] - rec.costs[tick]
        bad = ~(np.abs(change - explained) <= tol * (1.0 + np.abs(rec.equity[tick])))
        if bad.any():
            p = int(np.flatnonzero(bad)[0])
            raise InvariantError(
                name, p, tick, f"equity change {change[p]:,.6f} $ != leg P&L "
                f"{rec.leg_pnl[tick, p]:,.6f} $ + carry {rec.carry[tick, p]:,.6f} $ - costs "
                f"{rec.costs[tick, p]:,.6f} $ = {explained[p]:,.6f} $")
        previous = rec.equity[tick]
    last = n_ticks - 1
    final_equity = book.equity
    if not np.array_equal(final_equity, rec.equity[last]):
        p = int(np.flatnonzero(final_equity != rec.equity[last])[0])
        raise InvariantError(name, p, last, f"book equity {_usd(final_equity[p])} != equity "
                             f"recorded at the last mark {_usd(rec.equity[last, p])}")
    by_path = _rows_by_path(result)
    for p in range(book.n_paths):
        rows = by_path.get(p, np.empty(0, dtype=book.ledger.records().dtype))
        _reconcile_path(result, p, rows, last)
    return n_ticks * book.n_paths


def _reconcile_path(result: BatchResult, p: int, rows: np.ndarray, last: int) -> None:
    """The ledger of one path against the book: positions, costs and P&L."""
    name = "accounting identity"
    book = result.book
    legs: dict[int, _Leg] = {}
    option_flows = 0.0
    futures_pnl = 0.0
    for row in rows:
        action, before = _apply(legs, row)
        if action == "skip":
            continue
        kind = _KIND_OF[str(row["instrument"])]
        if kind == VIX_FUTURE:
            if action in ("close", "settle") and before is not None:
                futures_pnl += (float(row["quantity"]) * MULTIPLIERS[VIX_FUTURE]
                                * (float(row["price"]) - before.entry_price))
        else:
            option_flows += float(row["cash_flow"]) + float(row["cost"])
    # Positions: the replayed legs are the book's.
    held = np.flatnonzero(book.active[:, p])
    if sorted(legs) != held.tolist():
        raise InvariantError(name, p, last, f"the ledger replays to legs in slots "
                             f"{sorted(legs)}, the book holds slots {held.tolist()}")
    marked = 0.0
    for slot in held:
        leg = legs[int(slot)]
        quantity = float(book.quantity[slot, p])
        if (leg.quantity != quantity or leg.strike != float(book.strike[slot, p])
                or leg.expiry != int(book.expiry[slot, p]) or leg.kind != int(book.kind[slot, p])):
            raise InvariantError(name, p, last, f"slot {slot}: the ledger replays to "
                                 f"{leg.quantity:g} contracts at {leg.strike:g}, the book "
                                 f"holds {quantity:g} at {float(book.strike[slot, p]):g}")
        if leg.kind == VIX_FUTURE:
            futures_pnl += (quantity * MULTIPLIERS[VIX_FUTURE]
                            * (float(book.mark[slot, p]) - leg.entry_price))
        else:
            marked += quantity * float(book.mark[slot, p]) * float(book.multiplier[slot, p])
    # Costs: the ledger's add up to the book's.
    ledger_costs = float(rows["cost"].sum()) if rows.size else 0.0
    book_costs = float(book.total_costs[p])
    if abs(ledger_costs - book_costs) > _REL * max(abs(book_costs), 1.0) + _ABS:
        raise InvariantError(name, p, last, f"ledger costs {_usd(ledger_costs)} != book "
                             f"costs {_usd(book_costs)}")
    # P&L: the book's equals the ledger's pieces.
    pnl = float(book.equity[p]) - book.initial_cash
    carry = float(book.total_carry[p])
    explained = carry - book_costs + option_flows + marked + futures_pnl
    scale = max(abs(pnl), abs(explained), abs(book.initial_cash))
    if abs(pnl - explained) > 1e-8 * scale + _ABS:
        raise InvariantError(
            name, p, last, f"P&L {_usd(pnl)} != carry {_usd(carry)} - costs "
            f"{_usd(book_costs)} + option cash flows at mid {_usd(option_flows)} + options "
            f"held at mid {_usd(marked)} + VIX futures P&L {_usd(futures_pnl)} = "
            f"{_usd(explained)}")


# ---------------------------------------------------------------------------
# Max-loss bound
# ---------------------------------------------------------------------------


def _worst_settlement(legs: list[_Leg]) -> float:
    """Lowest settlement value (index points, per unit of the legs' quantities) of option
    legs of one underlying over all levels >= 0; -inf if short calls exceed long calls."""
    if sum(leg.quantity for leg in legs if leg.is_call) < -1e-12:
        return -math.inf
    levels = [0.0, *(leg.strike for leg in legs)]
    worst = math.inf
    for level in levels:
        value = sum(leg.quantity * (max(level - leg.strike, 0.0) if leg.is_call
                                    else max(leg.strike - level, 0.0)) for leg in legs)
        worst = min(worst, value)
    return worst


@dataclass
class _Position:
    """One condor (entry to flat) or one hedge order, as the ledger tells it."""

    owner: str
    first_tick: int
    last_tick: int = -1
    legs: list[_Leg] = field(default_factory=list)
    pnl_at_mid: float = 0.0       # $, costs excluded, exits and held legs at mid
    premium: float = 0.0          # $, condor: mid credits of entry and untested rolls
    costs: float = 0.0
    contracts: float = 0.0
    width: float = 0.0
    discount: float = 1.0
    is_condor: bool = False
    open: bool = True
    has_future: bool = False


def _max_loss_of_order(legs: list[_Leg], discount: float) -> float:
    """Max loss from entry ($) of a hedge order's option legs, a close at mid allowed."""
    loss = 0.0
    for kind in (SPX_OPTION, VIX_OPTION):
        own = [leg for leg in legs if leg.kind == kind]
        if not own:
            continue
        premium = sum(leg.quantity * leg.entry_price for leg in own)
        worst = _worst_settlement(own)
        floor = worst * (discount if worst < 0 else 1.0)
        loss += max(0.0, premium - floor) * MULTIPLIERS[kind]
    return loss


def check_max_loss(result: BatchResult, rate: float | None = None) -> int:
    """Max-loss bound of every condor and hedge order, and of each path's P&L.

    Parameters
    ----------
    result : BatchResult
    rate : float, optional
        Risk-free rate (annualized); default the book pricer's.

    Returns
    -------
    int
        Positions checked (condors and hedge option orders).

    Raises
    ------
    InvariantError
        Naming the position, the path, its last tick, the loss and the bound.
    """
    name = "max-loss bound"
    groups = _groups(result)
    book = result.book
    r = book.rate if rate is None else float(rate)
    days = _days(result)
    last = result.market.n_steps
    by_path = _rows_by_path(result)
    n_checked = 0
    for p in range(book.n_paths):
        positions = _positions(result, groups, by_path.get(p), p, days, r)
        bound_total = 0.0
        futures_pnl = 0.0
        for position in positions:
            if position.has_future:
                futures_pnl += position.pnl_at_mid
                continue
            n_checked += 1
            tick = position.last_tick if not position.open else last
            if position.is_condor:
                bound = (position.width * position.discount * position.contracts * 100.0
                         - position.premium)
                credit = position.premium / max(position.contracts * 100.0, 1e-300)
                what = (f"(wing width {position.width:g} x {position.discount:.6g} - credit "
                        f"{credit:.4f}) x {position.contracts:g} contracts x 100")
            else:
                bound = _max_loss_of_order(position.legs, position.discount)
                what = "its max loss at entry"
            bound_total += bound
            loss = -position.pnl_at_mid
            if not _close_enough(loss, bound):
                raise InvariantError(
                    name, p, tick, f"{position.owner} opened at tick {position.first_tick} "
                    f"lost {_usd(loss + position.costs)} including costs "
                    f"{_usd(position.costs)} > {what} = {_usd(bound)} + costs "
                    f"{_usd(position.costs)}")
        pnl = float(book.equity[p]) - book.initial_cash
        floor = (float(book.total_carry[p]) - float(book.total_costs[p]) - bound_total
                 + futures_pnl)
        if not _close_enough(floor, pnl):
            raise InvariantError(
                name, p, last, f"P&L {_usd(pnl)} < carry {_usd(float(book.total_carry[p]))} - "
                f"costs {_usd(float(book.total_costs[p]))} - max losses "
                f"{_usd(bound_total)} + VIX futures P&L {_usd(futures_pnl)} = {_usd(floor)}")
    return n_checked


def _positions(result: BatchResult, groups: _Groups, rows: np.ndarray | None, p: int,
               days: np.ndarray, rate: float) -> list[_Position]:
    """The condors and hedge orders of one path, with their P&L at mid and premiums.

    Ledger rows carry the position id of the order that opened their leg, so
    a hedge order's rows are found by that id; a condor runs from an opening
    with reason ``entry`` or ``roll_out`` until its block is flat.
    """
    book = result.book
    legs: dict[int, _Leg] = {}
    positions: list[_Position] = []
    condor: _Position | None = None
    orders: dict[int, _Position] = {}
    condor_slots = (range(groups.condor.start, groups.condor.stop)
                    if groups.condor is not None else range(0))
    for row in (() if rows is None else rows):
        action = str(row["action"])
        if action == "skip":
            continue
        slot, tick = int(row["slot"]), int(row["tick"])
        reason = str(row["reason"])
        flow = float(row["cash_flow"]) + float(row["cost"])
        _, before = _apply(legs, row)
        if slot in condor_slots:
            if action == "open" and reason in ("entry", "roll_out") and (
                    condor is None or not condor.open):
                condor = _Position(owner="condor", first_tick=tick, is_condor=True)
                positions.append(condor)
            if condor is None:
                continue
            position = condor
            if action == "open":
                leg = legs[slot]
                if reason in ("entry", "roll_out"):
                    position.contracts = max(position.contracts, abs(leg.quantity))
                position.discount = max(position.discount, _discount(
                    rate, (leg.expiry - days[tick]) / DAYS_PER_YEAR))
                position.premium += flow
                _widen(position, legs, condor_slots)
            elif reason == "roll_untested":
                position.premium += flow
        else:
            pid = int(row["position_id"])
            position = orders.get(pid)
            if position is None:
                position = _Position(owner=f"{groups.name_of(slot)} order {pid}",
                                     first_tick=tick)
                orders[pid] = position
                positions.append(position)
            if action == "open":
                leg = legs[slot]
                position.legs.append(dataclasses.replace(leg))   # as opened
                position.discount = max(position.discount, _discount(
                    rate, (leg.expiry - days[tick]) / DAYS_PER_YEAR))
                position.has_future |= leg.kind == VIX_FUTURE
        if _KIND_OF[str(row["instrument"])] == VIX_FUTURE:
            if action != "open" and before is not None:
                position.pnl_at_mid += (float(row["quantity"]) * MULTIPLIERS[VIX_FUTURE]
                                        * (float(row["price"]) - before.entry_price))
        else:
            position.pnl_at_mid += flow
        position.costs += float(row["cost"])
        position.last_tick = tick
        if position is condor:
            position.open = any(s in legs for s in condor_slots)
    held_orders = {leg.position_id for slot, leg in legs.items() if slot not in condor_slots}
    for pid, position in orders.items():
        position.open = pid in held_orders
    # Legs still held: at their last mark (options) or price (futures).
    for slot, leg in legs.items():
        position = condor if slot in condor_slots else orders.get(leg.position_id)
        if position is None:
            continue
        mark = float(book.mark[slot, p])
        if leg.kind == VIX_FUTURE:
            position.pnl_at_mid += leg.quantity * MULTIPLIERS[VIX_FUTURE] * (
                mark - leg.entry_price)
        else:
            position.pnl_at_mid += leg.quantity * mark * MULTIPLIERS[leg.kind]
    return positions


def _discount(rate: float, years: float) -> float:
    """``max(1, e^{-r T})``: how far a mid price may exceed its settlement value."""
    return max(1.0, math.exp(-rate * max(years, 0.0)))


def _widen(position: _Position, legs: dict[int, _Leg], slots: range) -> None:
    """The condor's wing width: the larger short-to-long distance of its two sides."""
    held = [legs[s] for s in slots if s in legs]
    for is_call in (False, True):
        side = [leg for leg in held if leg.is_call == is_call]
        shorts = [leg.strike for leg in side if leg.quantity < 0]
        longs = [leg.strike for leg in side if leg.quantity > 0]
        if shorts and longs:
            position.width = max(position.width, max(abs(s - q) for s in shorts for q in longs))


# ---------------------------------------------------------------------------
# Hedge budget
# ---------------------------------------------------------------------------


def check_budget(result: BatchResult, policy: Any) -> int:
    """Hedge budget cap after every hedge opening order.

    Spend of an order = premium paid (``max(-(cash flow + costs), 0)``, 0 for
    a credit or a future) + its costs; premium collected = ``-sum(quantity x
    price x 100)`` over the condor's entry and roll-out orders (the hedge
    agent's budget base: untested-side rolls do not add to it).

    Returns
    -------
    int
        Hedge opening orders checked.
    """
    name = "hedge budget cap"
    groups = _groups(result)
    if not groups.layers or groups.condor is None:
        return 0
    share = float(policy.budget.max_share)
    condor = range(groups.condor.start, groups.condor.stop)
    by_path = _rows_by_path(result)
    n_checked = 0
    for p, rows in by_path.items():
        base = 0.0
        spend = 0.0
        i = 0
        while i < rows.size:
            row = rows[i]
            if str(row["action"]) != "open":
                i += 1
                continue
            pid = int(row["position_id"])
            j = i
            while j < rows.size and str(rows[j]["action"]) == "open" and int(
                    rows[j]["position_id"]) == pid:
                j += 1
            order = rows[i:j]
            slot = int(row["slot"])
            if slot in condor:
                if str(row["reason"]) in ("entry", "roll_out"):
                    base += float(-(order["quantity"] * order["price"]).sum() * 100.0)
            elif groups.layer_at(slot) is not None:
                premium = float((order["cash_flow"] + order["cost"]).sum())
                cost = float(order["cost"].sum())
                spend += max(-premium, 0.0) + cost
                n_checked += 1
                cap = share * base
                if not _close_enough(spend, cap):
                    layer = groups.layer_at(slot)[0].name
                    raise InvariantError(
                        name, p, int(row["tick"]), f"hedge spend {_usd(spend)} (after "
                        f"{layer} {str(row['reason']).split(' ', 1)[-1]}: premium "
                        f"{_usd(max(-premium, 0.0))} + costs {_usd(cost)}) > {share:g} x "
                        f"premium collected {_usd(base)} = {_usd(cap)}")
            i = j
    return n_checked


# ---------------------------------------------------------------------------
# Quick ratio
# ---------------------------------------------------------------------------


def check_quick_ratio(result: BatchResult, policy: Any) -> int:
    """Quick-ratio floor right after every hedge opening order (new or roll).

    Returns
    -------
    int
        Path-openings checked.
    """
    name = "quick-ratio floor"
    rec = _recorder(result, name)
    floor = float(policy.liquidity.min_quick_ratio)
    n_checked = 0
    for opening in rec.openings:
        need = floor * opening.margin
        bad = ~(opening.cash >= need - (_REL * np.maximum(np.abs(opening.cash), need) + _ABS))
        n_checked += opening.paths.size
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            cash, margin = float(opening.cash[k]), float(opening.margin[k])
            ratio = cash / margin if margin > 0 else math.inf
            raise InvariantError(
                name, int(opening.paths[k]), opening.tick,
                f"after {opening.layer} {opening.reason}: cash {_usd(cash)} / margin "
                f"{_usd(margin)} = quick ratio {ratio:.6g} < floor {floor:g}")
    return n_checked


# ---------------------------------------------------------------------------
# Layer order
# ---------------------------------------------------------------------------


def _required(layers: tuple[tuple[Any, SlotBlock], ...], i: int) -> list[int]:
    """Indices of the layers layer ``i`` requires (its ``requires``; leverage: first base)."""
    spec = layers[i][0]
    names = [layer.name for layer, _ in layers]
    needed = {names.index(n) for n in spec.requires if n in names}
    if spec.role == "leverage":
        base = next((j for j in range(i) if layers[j][0].role == "base"), None)
        if base is not None:
            needed.add(base)
    return sorted(needed)


def check_layer_order(result: BatchResult, policy: Any = None) -> int:
    """Layers open only while the condor and the layers they require are open.

    Returns
    -------
    int
        Hedge opening orders checked.
    """
    name = "layer order"
    groups = _groups(result)
    if not groups.layers:
        return 0
    declared = {layer.name: layer for layer in getattr(policy, "layers", ())}
    if declared:
        # The rules as the policy states them (the agents ran the same policy).
        groups = dataclasses.replace(groups, layers=tuple(
            (declared.get(layer.name, layer), block) for layer, block in groups.layers))
    by_path = _rows_by_path(result)
    n_checked = 0
    for p, rows in by_path.items():
        legs: dict[int, _Leg] = {}
        previous = (-1, -1)
        for row in rows:
            slot = int(row["slot"])
            key = (int(row["position_id"]), slot)
            found = groups.layer_at(slot)
            first_of_order = str(row["action"]) == "open" and key[0] != previous[0]
            if found is not None and first_of_order:
                n_checked += 1
                layer, _ = found
                i = next(k for k, (spec, _) in enumerate(groups.layers) if spec is layer)
                tick = int(row["tick"])
                reason = str(row["reason"])
                if groups.condor is not None and not any(
                        s in legs for s in range(groups.condor.start, groups.condor.stop)):
                    raise InvariantError(name, p, tick, f"{layer.name} ({reason}) traded "
                                         "while the condor was flat")
                if reason in (f"{layer.name} open", f"{layer.name} roll"):
                    for j in _required(groups.layers, i):
                        other, block = groups.layers[j]
                        if not any(s in legs for s in range(block.start, block.stop)):
                            why = ("leverage layer needs the first base layer"
                                   if layer.role == "leverage" and other.name not in
                                   layer.requires else "required")
                            raise InvariantError(
                                name, p, tick, f"{layer.name} (role {layer.role}) opened "
                                f"while {other.name} ({why}) was flat")
            if str(row["action"]) == "open":
                previous = key
            _apply(legs, row)
    return n_checked


# ---------------------------------------------------------------------------
# Naked shorts and legs past expiry (end of every tick)
# ---------------------------------------------------------------------------


def _tick_states(result: BatchResult) -> Iterator[tuple[int, int, dict[int, _Leg]]]:
    """``(path, tick, legs)`` at the end of every tick in which the path traded."""
    for p, rows in _rows_by_path(result).items():
        legs: dict[int, _Leg] = {}
        for tick, a, b in _tick_ends(rows):
            for row in rows[a:b]:
                _apply(legs, row)
            yield p, tick, legs


def check_no_naked_shorts(result: BatchResult) -> int:
    """Every short option covered, every short VIX future paired, at every tick's end.

    Returns
    -------
    int
        Path-tick states checked.
    """
    name = "no naked shorts"
    groups = _groups(result)
    n_checked = 0
    for p, tick, legs in _tick_states(result):
        n_checked += 1
        by_group: dict[int, list[tuple[int, _Leg]]] = {}
        for slot, leg in legs.items():
            by_group.setdefault(groups.group_of(slot), []).append((slot, leg))
        for group_legs in by_group.values():
            owner = groups.name_of(group_legs[0][0])
            options: dict[tuple[int, bool, int], list[float]] = {}
            futures = [0.0, 0.0]
            for _, leg in group_legs:
                if leg.kind == VIX_FUTURE:
                    futures[leg.quantity < 0] += abs(leg.quantity)
                    continue
                held = options.setdefault((leg.kind, leg.is_call, leg.expiry), [0.0, 0.0])
                held[leg.quantity < 0] += abs(leg.quantity)
            for (kind, is_call, expiry), (long, short) in options.items():
                if short > long:
                    what = f"{'SPX' if kind == SPX_OPTION else 'VIX'} " \
                           f"{'calls' if is_call else 'puts'}"
                    date = np.datetime64(int(expiry), "D")
                    raise InvariantError(name, p, tick, f"{owner} is short {short:g} {what} "
                                         f"expiring {date} but long only {long:g}")
            if futures[1] > futures[0]:
                raise InvariantError(name, p, tick, f"{owner} is short {futures[1]:g} VIX "
                                     f"futures but long only {futures[0]:g} (a naked short "
                                     "future)")
    return n_checked


def check_flat_after_expiry(result: BatchResult) -> int:
    """No leg is held past its expiry date at the end of any tick.

    Returns
    -------
    int
        Path-tick states checked.
    """
    name = "flat after expiry"
    groups = _groups(result)
    days = _days(result)
    dates = result.market.dates
    n_checked = 0
    for p, tick, legs in _tick_states(result):
        n_checked += 1
        for slot, leg in legs.items():
            if leg.expiry <= days[tick]:
                raise InvariantError(name, p, tick, f"{groups.name_of(slot)} still holds "
                                     f"{leg.quantity:g} contracts (slot {slot}) that expired "
                                     f"on {np.datetime64(leg.expiry, 'D')}, today is "
                                     f"{dates[tick]}")
    book = result.book
    last = result.market.n_steps
    slot, path = np.nonzero(book.active & (book.expiry <= days[last]))
    if slot.size:
        raise InvariantError(name, int(path[0]), last, f"the book still holds slot "
                             f"{int(slot[0])}, expired on "
                             f"{np.datetime64(int(book.expiry[slot[0], path[0]]), 'D')}")
    return n_checked


# ---------------------------------------------------------------------------
# No-arbitrage bounds
# ---------------------------------------------------------------------------


def _views(result: BatchResult) -> Callable[[int], MarketView]:
    clock = Clock(simpy.Environment(), result.market)
    cache: dict[int, MarketView] = {}

    def view(tick: int) -> MarketView:
        if tick not in cache:
            cache[tick] = clock.view_at(tick)
        return cache[tick]

    return view


def check_no_arbitrage(result: BatchResult, scenario=None) -> int:
    """Option trade prices and marks inside no-arbitrage bounds; settlements intrinsic.

    Parameters
    ----------
    result : BatchResult
        From :func:`simulate_recorded` (for the marks; without a recorder only
        the ledger's prices are checked).
    scenario : Scenario, optional
        Unused (rates come from the book's pricers); accepted for symmetry
        with the other checks.

    Returns
    -------
    int
        Prices checked.
    """
    name = "no-arbitrage prices"
    book = result.book
    market = result.market
    days = _days(result)
    r = float(book.rate)
    q = float(book.pricer.dividend_yield)
    view = _views(result)
    rows = book.ledger.records()
    observed: list[tuple[np.ndarray, ...]] = []
    # Settlements: exactly intrinsic (against SPX, or the VIX for VIX options and futures).
    settle = rows[rows["action"] == "settle"]
    if settle.size:
        tick, path = settle["tick"].astype(np.int64), settle["path"].astype(np.int64)
        kind = np.array([_KIND_OF[str(k)] for k in settle["instrument"]])
        under = np.where(kind == SPX_OPTION, market.spot[tick, path], market.vix[tick, path])
        intrinsic = np.where(settle["is_call"], np.maximum(under - settle["strike"], 0.0),
                             np.maximum(settle["strike"] - under, 0.0))
        expected = np.where(kind == VIX_FUTURE, under, intrinsic)
        bad = settle["price"] != expected
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise InvariantError(name, int(path[k]), int(tick[k]), f"{settle['instrument'][k]} "
                                 f"strike {settle['strike'][k]:g} settled at "
                                 f"{settle['price'][k]:.6f}, intrinsic value is "
                                 f"{expected[k]:.6f}")
    trades = rows[np.isin(rows["action"], ("open", "close"))
                  & np.isin(rows["instrument"], ("spx_option", "vix_option"))]
    if trades.size:
        observed.append((trades["tick"].astype(np.int64), trades["path"].astype(np.int64),
                         np.array([_KIND_OF[str(k)] for k in trades["instrument"]]),
                         trades["is_call"], trades["strike"],
                         trades["expiry"].astype(np.int64), trades["price"]))
    for rec in result.agents:
        if isinstance(rec, Recorder):
            for snap in rec.marks:
                if snap.path.size:
                    observed.append((np.full(snap.path.size, snap.tick), snap.path, snap.kind,
                                     snap.is_call, snap.strike, snap.expiry, snap.mark))
    if not observed:
        return int(settle.size)
    tick, path, kind, is_call, strike, expiry, price = (np.concatenate(parts)
                                                         for parts in zip(*observed,
                                                                          strict=True))
    T = (expiry - days[tick]) / DAYS_PER_YEAR
    # The underlying's forward value today: S e^{-qT} for SPX, F e^{-rT} for VIX options.
    underlying = np.empty(tick.size)
    spx = kind == SPX_OPTION
    underlying[spx] = market.spot[tick[spx], path[spx]] * np.exp(-q * T[spx])
    for t in np.unique(tick[~spx]):
        at = np.flatnonzero((~spx) & (tick == t))
        future = book.vix_pricer.future_legs_at(view(int(t)), path[at],
                                                expiry[at] - days[int(t)])
        underlying[at] = future * np.exp(-r * T[at])
    strike_pv = strike * np.exp(-r * T)
    lower = np.where(is_call, np.maximum(underlying - strike_pv, 0.0),
                     np.maximum(strike_pv - underlying, 0.0))
    upper = np.where(is_call, underlying, strike_pv)
    slack = _PRICE_REL * np.maximum(underlying, strike_pv) + _PRICE_ABS
    bad = ~((price >= lower - slack) & (price <= upper + slack))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        what = (f"{'SPX' if spx[k] else 'VIX'} {'call' if is_call[k] else 'put'} strike "
                f"{strike[k]:g} expiring {np.datetime64(int(expiry[k]), 'D')}")
        base = "S e^{-qT}" if spx[k] else "F e^{-rT}"
        raise InvariantError(name, int(path[k]), int(tick[k]), f"{what} priced "
                             f"{price[k]:.6f} outside [{lower[k]:.6f}, {upper[k]:.6f}] "
                             f"({base} = {underlying[k]:.6f}, K e^{{-rT}} = "
                             f"{strike_pv[k]:.6f}, T = {T[k]:.6f} y)")
    _check_strike_slopes(name, tick, path, kind, is_call, strike, expiry, price, T, r)
    return int(price.size + settle.size)


def _check_strike_slopes(name, tick, path, kind, is_call, strike, expiry, price, T, r) -> None:
    """Prices of one tick, path, kind, type and expiry: monotone and slope-bounded in strike."""
    order = np.lexsort((strike, expiry, is_call, kind, path, tick))
    tick, path, kind, is_call, strike, expiry, price, T = (
        a[order] for a in (tick, path, kind, is_call, strike, expiry, price, T))
    same = ((tick[1:] == tick[:-1]) & (path[1:] == path[:-1]) & (kind[1:] == kind[:-1])
            & (is_call[1:] == is_call[:-1]) & (expiry[1:] == expiry[:-1]))
    gap = strike[1:] - strike[:-1]
    # Calls fall as the strike rises, puts rise; by at most the discounted strike gap.
    change = np.where(is_call[1:], price[:-1] - price[1:], price[1:] - price[:-1])
    most = gap * np.exp(-r * T[1:])
    slack = _PRICE_REL * np.maximum(strike[1:], 1.0) + _PRICE_ABS
    bad = same & ~((change >= -slack) & (change <= most + slack))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        what = f"{'SPX' if kind[k] == SPX_OPTION else 'VIX'} {'calls' if is_call[k] else 'puts'}"
        raise InvariantError(name, int(path[k]), int(tick[k]), f"{what} expiring "
                             f"{np.datetime64(int(expiry[k]), 'D')}: strike {strike[k]:g} "
                             f"priced {price[k]:.6f}, strike {strike[k + 1]:g} priced "
                             f"{price[k + 1]:.6f}; a vertical spread worth {change[k]:.6f} is "
                             f"outside [0, {most[k]:.6f}] (strike gap x e^{{-rT}})")


# ---------------------------------------------------------------------------
# Same seed, same result
# ---------------------------------------------------------------------------


def check_same_result(first: BatchResult, second: BatchResult) -> int:
    """Two runs of the same scenario, seed and policy: equal markets, results and ledgers.

    Returns
    -------
    int
        Paths compared.
    """
    from sim.metrics import path_results
    from sim.shards import market_fingerprints

    name = "same seed, same result"
    a_market, b_market = market_fingerprints(first.market), market_fingerprints(second.market)
    if a_market.shape != b_market.shape or (a_market != b_market).any():
        p = 0 if a_market.shape != b_market.shape else int(np.flatnonzero(
            a_market != b_market)[0])
        raise InvariantError(name, p, None, "the two runs drew different market paths")
    last = first.market.n_steps
    a, b = path_results(first), path_results(second)
    for column in a:
        x, y = np.asarray(a[column]), np.asarray(b.get(column, np.array([])))
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            if x.shape != y.shape:
                raise InvariantError(name, None, None, f"column {column!r} has shapes "
                                     f"{x.shape} and {y.shape}")
            p = int(np.flatnonzero(~((x == y) | (np.isnan(x) & np.isnan(y))
                                     if x.dtype.kind == "f" else x == y))[0])
            raise InvariantError(name, p, last, f"{column} = {x[p]!r} in the first run, "
                                 f"{y[p]!r} in the second")
    rows_a, rows_b = first.book.ledger.records(), second.book.ledger.records()
    if rows_a.size != rows_b.size:
        n = min(rows_a.size, rows_b.size)
        k = next((i for i in range(n) if rows_a[i].tobytes() != rows_b[i].tobytes()), n)
        row = rows_a[k] if k < rows_a.size else rows_b[k]
        raise InvariantError(name, int(row["path"]), int(row["tick"]), f"the ledgers have "
                             f"{rows_a.size:,} and {rows_b.size:,} rows; first difference "
                             f"at row {k}")
    if rows_a.tobytes() != rows_b.tobytes():
        k = next(i for i in range(rows_a.size) if rows_a[i].tobytes() != rows_b[i].tobytes())
        fields = [f for f in rows_a.dtype.names
                  if rows_a[k][f].tobytes() != rows_b[k][f].tobytes()]
        raise InvariantError(name, int(rows_a[k]["path"]), int(rows_a[k]["tick"]),
                             f"ledger row {k} differs in {', '.join(fields)}: "
                             f"{[rows_a[k][f] for f in fields]} then "
                             f"{[rows_b[k][f] for f in fields]}")
    return int(first.market.n_paths)


# ---------------------------------------------------------------------------
# All of them
# ---------------------------------------------------------------------------


def check_all(result: BatchResult, scenario=None, policy: Any = None,
              rerun: BatchResult | None = None, skip: tuple[str, ...] = ()
              ) -> dict[str, int]:
    """Run every invariant on a recorded result; raise at the first violation.

    Parameters
    ----------
    result : BatchResult
        From :func:`simulate_recorded`.
    scenario : Scenario, optional
        The scenario simulated (for messages; the book holds what the checks need).
    policy : Policy, optional
        The policy simulated: its budget share and quick-ratio floor. Without
        one (or for a policy that is not a ``sim.policy.Policy``) the budget
        and quick-ratio checks are skipped.
    rerun : BatchResult, optional
        A second run of the same scenario, seed and policy: checked against
        ``result`` by :func:`check_same_result`.
    skip : tuple of str
        Names (of :data:`INVARIANTS`) not to check, e.g. one with a known bug.

    Returns
    -------
    dict of str to int
        Invariant name -> how many things it checked (paths-ticks, orders,
        prices...); a skipped invariant is absent.

    Raises
    ------
    InvariantError
    """
    unknown = set(skip) - set(INVARIANTS)
    if unknown:
        raise ValueError(f"unknown invariants {sorted(unknown)}; known: {', '.join(INVARIANTS)}")
    has_rules = policy is not None and hasattr(policy, "budget") and hasattr(policy, "liquidity")
    runs: list[tuple[str, Callable[[], int]]] = [
        ("accounting identity", lambda: check_accounting(result)),
        ("max-loss bound", lambda: check_max_loss(result)),
        ("hedge budget cap", lambda: check_budget(result, policy) if has_rules else None),
        ("quick-ratio floor", lambda: check_quick_ratio(result, policy) if has_rules else None),
        ("layer order", lambda: check_layer_order(result, policy)),
        ("no naked shorts", lambda: check_no_naked_shorts(result)),
        ("flat after expiry", lambda: check_flat_after_expiry(result)),
        ("no-arbitrage prices", lambda: check_no_arbitrage(result, scenario)),
        ("same seed, same result",
         lambda: check_same_result(result, rerun) if rerun is not None else None),
    ]
    checked: dict[str, int] = {}
    for name, run in runs:
        if name in skip:
            continue
        count = run()
        if count is not None:
            checked[name] = count
    return checked
