"""The book: vectorized positions, cash, marks, margin, costs and the trade ledger.

Positions are a struct of arrays of shape ``(n_slots, n_paths)``: each agent
reserves a block of slots (a *group*, e.g. the four legs of a condor) and
opens, closes, rolls, resizes or lets expire the legs of that block on a
masked set of paths. A slot holds one of three instrument kinds
(``sim.instruments``): an SPX option, a VIX option or a VIX future, with the
kind's multiplier (100, 100 and 1000 dollars per index point).

Accounting, in dollars, per path:

- ``cash`` earns the risk-free rate over calendar days
  (``carry = cash * (exp(r * days / 365) - 1)``), pays premiums, costs and
  receives settlements and the variation margin of futures.
- ``marked_value = sum(quantity * mark * multiplier)`` over active option
  legs, at mid prices. A VIX future has marked value 0: it is settled into
  cash every day (daily variation margin). Opening one pays no premium; at
  every mark ``quantity * 1000 * (new price - last price)`` moves into cash,
  and closing or settling (at the VIX on the expiry date) pays the last
  variation. Variation flows have no ledger row; the close and settle rows
  carry the final price.
- ``equity = cash + marked_value``.
- Every trade is done at mid and pays ``cost = |quantity| * unit_cost``:
  options ``half_spread * multiplier + commission`` (half spread from
  :class:`sim.config.CostModel`), futures ``future_half_spread * 1000 +
  future_commission`` (:meth:`Book.unit_cost`).
- Leg P&L of a tick is ``quantity * multiplier * (new price - old price)`` for
  every leg, where a leg opened this tick starts at its trade price and a
  leg closed or settled ends at its exit price.
- Settlement on the expiry date: SPX options to intrinsic against the SPX,
  VIX options to intrinsic against the VIX index, VIX futures to the VIX.

The identity ``equity_t - equity_{t-1} = leg_pnl + carry - costs`` is checked
by :meth:`Book.check_identity`; the two sides are computed by separate code
(cash flows on one side, price changes on the other), so a bookkeeping slip
shows up as a violation naming the path and tick.

Margin of a group (:func:`group_margin`): its option legs hold their maximum
loss from entry, per underlying (SPX options; VIX options), i.e. the net
premium paid at entry plus the worst settlement value of those legs over all
levels of the underlying (defined-risk spreads hold their max loss, long
options their premium); its futures hold ``VixSpec.future_margin`` per net
contract plus ``VixSpec.future_spread_margin`` per offsetting long/short
pair. ``quick_ratio = cash / margin``. Futures do not cover options in this
margin model (a short VIX call needs a long VIX call in its group).

Speed. An order's work follows the paths it is sent on, not the batch: the
public mask methods gather those paths and call the ``*_at`` methods
(``open_at``, ``close_at``...), whose numba kernels (bottom of the module)
update the slot tables, cash and costs, write the ledger columns and the
group's margin in one pass each. Every active leg is priced once per tick
(:meth:`Book.refresh_quotes`, one kernel over all SPX legs, parallel over
paths for large batches); the mark, its statistics and the identity check
are one pass each. Sums over a path's legs, groups or slots are taken in row
order, as numpy's column sums of these tables add them, so the numbers are
those of the array formulas in the docstrings, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from sim.config import CostModel, VixSpec
from sim.instruments import (
    INSTRUMENT_NAMES,
    MULTIPLIERS,
    PREMIUM_MULTIPLIERS,
    SPX_OPTION,
    VIX_FUTURE,
    VIX_OPTION,
    KernelChoice,
    SpxPricer,
    VixPricer,
    kernel_array,
    nan_max,
)
from sim.ledger import Ledger

#: Ledger text of each kind; index -1 (a slot that never held a leg) is ``"none"``.
_LEDGER_NAMES = np.array((*INSTRUMENT_NAMES, "none"))
#: Expiry written for ledger rows without a leg (NaT in ``datetime64[D]``).
_NO_EXPIRY = np.iinfo(np.int64).min
#: Kinds whose legs are options, priced and margined per underlying.
_OPTION_KINDS = (SPX_OPTION, VIX_OPTION)
#: Batches from which the mark runs over blocks of paths in parallel, and the blocks.
_PARALLEL_MIN_PATHS = 4096
_CHUNKS = 16


class AccountingError(AssertionError):
    """The book's identity failed; the message names the path, tick and numbers."""


class UncoveredShortError(ValueError):
    """An order would leave a short option without cover (unbounded loss)."""


@dataclass(frozen=True)
class SlotBlock:
    """A block of position slots reserved by one agent: one group of legs."""

    group: int
    start: int
    stop: int

    @property
    def slots(self) -> slice:
        """Slice of the slot axis."""
        return slice(self.start, self.stop)

    @property
    def size(self) -> int:
        """Number of legs in the block."""
        return self.stop - self.start


@dataclass(frozen=True)
class OrderFlow:
    """Dollars of the book's last order, per path (``Book.last_order``).

    Attributes
    ----------
    flow : ndarray, shape (n_paths,)
        Dollars received for the whole order (negative if paid), costs
        included; for futures the variation margin paid at the close.
    cost : ndarray, shape (n_paths,)
        Half spreads plus commissions paid, dollars (>= 0).
    """

    flow: np.ndarray
    cost: np.ndarray


def _per_leg(values, shape: tuple[int, int], dtype) -> np.ndarray:
    """Broadcast a scalar, a per-leg ``(n_legs,)`` or a full array to ``(n_legs, n_paths)``."""
    array = np.asarray(values, dtype=dtype)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return np.broadcast_to(array, shape)


def _check_kinds(kind: np.ndarray) -> None:
    bad = (kind < SPX_OPTION) | (kind > VIX_FUTURE)
    if bad.any():
        raise ValueError(f"instrument kind must be one of {SPX_OPTION}, {VIX_OPTION}, "
                         f"{VIX_FUTURE} ({', '.join(INSTRUMENT_NAMES)}), got "
                         f"{int(kind[bad].flat[0])}")


def group_margin(strike, is_call, quantity, entry_price, kind, active,
                 vix_spec: VixSpec) -> np.ndarray:
    """Margin (dollars per path) that one group of legs holds.

    Option legs hold their max loss from entry, computed separately for the
    SPX options and the VIX options of the group (each with its multiplier,
    over all levels of its underlying, ``>= 0``); VIX futures hold
    ``future_margin * |net contracts| + future_spread_margin * min(long
    contracts, short contracts)``. Use it to find the margin a hypothetical
    order would add before sending it (the book uses it after every order).

    Parameters
    ----------
    strike : ndarray, shape (n_legs, n_paths)
        Index points (ignored for futures).
    is_call : array of bool, shape (n_legs,) or (n_legs, n_paths)
    quantity : ndarray, shape (n_legs, n_paths)
        Signed contracts.
    entry_price : ndarray, shape (n_legs, n_paths)
        Trade price at entry, index points (premium per unit for options).
    kind : int or array of int, shape (n_legs,) or (n_legs, n_paths)
        ``SPX_OPTION``, ``VIX_OPTION`` or ``VIX_FUTURE``.
    active : array of bool, broadcastable to ``(n_legs, n_paths)``
        Legs held (others are ignored).
    vix_spec : VixSpec
        ``future_margin`` ($/contract) and ``future_spread_margin`` ($ per pair).

    Returns
    -------
    ndarray, shape (n_paths,)
        Dollars; ``inf`` where short calls exceed long calls on one underlying
        (an unbounded loss: the book refuses it with :class:`UncoveredShortError`).
    """
    strike = kernel_array(strike, dtype=np.float64)
    shape = strike.shape
    margin = np.empty(shape[1])
    _margin_kernel(strike, kernel_array(_per_leg(is_call, shape, np.bool_)),
                   kernel_array(np.broadcast_to(quantity, shape), dtype=np.float64),
                   kernel_array(np.broadcast_to(entry_price, shape), dtype=np.float64),
                   kernel_array(_per_leg(kind, shape, np.int8)),
                   kernel_array(np.broadcast_to(np.asarray(active, dtype=np.bool_),
                                                        shape)),
                   vix_spec.future_margin, vix_spec.future_spread_margin,
                   MULTIPLIERS[SPX_OPTION], MULTIPLIERS[VIX_OPTION], margin)
    return margin


class Book:
    """Vectorized portfolio of all paths of a batch.

    Parameters
    ----------
    n_paths : int
        Paths in the batch.
    initial_cash : float
        Dollars per path at the first tick.
    pricer : SpxPricer
        Marks SPX options; its ``rate`` (annualized decimal) is what cash earns.
    costs : CostModel
        Commission and spread model.
    ledger : Ledger, optional
        Where trades are recorded; a new one if omitted.
    vix_pricer : VixPricer, optional
        Marks VIX options and futures; its ``spec`` gives the futures margin
        rates. If omitted, one is made from ``pricer.model`` with the default
        :class:`sim.config.VixSpec` (pass the scenario's to use its option
        vols and margin rates).
    """

    def __init__(self, n_paths: int, initial_cash: float, pricer: SpxPricer,
                 costs: CostModel, ledger: Ledger | None = None,
                 vix_pricer: VixPricer | None = None) -> None:
        self.n_paths = n_paths
        self.pricer = pricer
        self.rate = pricer.rate
        self.costs = costs
        if vix_pricer is None and getattr(pricer, "model", None) is not None:
            vix_pricer = VixPricer(pricer.model, VixSpec())
        self.vix_pricer = vix_pricer
        self.vix_spec = vix_pricer.spec if vix_pricer is not None else VixSpec()
        self.ledger = ledger if ledger is not None else Ledger()
        self.initial_cash = float(initial_cash)
        self.cash = np.full(n_paths, self.initial_cash)
        self.blocks: list[SlotBlock] = []
        self._alloc_slots(0)
        self.group_margin = np.zeros((0, n_paths))
        self.next_position_id = 0
        self.n_orders = np.zeros(n_paths, dtype=np.int64)
        # The last order's dollars on the paths it traded (``last_order`` spreads
        # them over all paths when asked).
        self._last_paths = np.zeros(0, dtype=np.int64)
        self._last_flow = np.zeros(0)
        self._last_cost = np.zeros(0)
        self._last_order: OrderFlow | None = None
        # Tick state: the last date cash accrued to, and this tick's flows.
        self.today: int | None = None
        self.tick = -1
        self.quotes_tick = -1
        self.prev_equity = self.cash.copy()
        self.leg_pnl = np.zeros(n_paths)
        self.carry = np.zeros(n_paths)
        self.tick_costs = np.zeros(n_paths)
        # Running path statistics.
        self.total_costs = np.zeros(n_paths)
        self.total_carry = np.zeros(n_paths)
        self.peak_equity = self.cash.copy()
        self.max_drawdown = np.zeros(n_paths)
        self.peak_margin = np.zeros(n_paths)

    # ----------------------------------------------------------------- slots
    def _alloc_slots(self, n_slots: int) -> None:
        shape = (n_slots, self.n_paths)
        self.active = np.zeros(shape, dtype=bool)
        # Kind of the leg a slot holds or last held; -1: never held one.
        self.kind = np.full(shape, -1, dtype=np.int8)
        self.multiplier = np.zeros(shape)
        self.is_call = np.zeros(shape, dtype=bool)
        self.strike = np.zeros(shape)
        self.expiry = np.zeros(shape, dtype=np.int64)
        self.quantity = np.zeros(shape)
        self.entry_price = np.zeros(shape)
        self.mark = np.zeros(shape)
        self.quotes = np.zeros(shape)
        self.position_id = np.full(shape, -1, dtype=np.int64)

    def reserve(self, n_legs: int) -> SlotBlock:
        """Reserve a block of ``n_legs`` slots for one agent's group of legs.

        Must be called before the first tick (agents do it when created).
        """
        if self.tick >= 0:
            raise RuntimeError("slots must be reserved before the simulation starts")
        start = self.active.shape[0]
        block = SlotBlock(group=len(self.blocks), start=start, stop=start + n_legs)
        self.blocks.append(block)
        self._alloc_slots(block.stop)
        self.group_margin = np.zeros((len(self.blocks), self.n_paths))
        return block

    @property
    def n_slots(self) -> int:
        """Number of reserved slots."""
        return self.active.shape[0]

    # ----------------------------------------------------------------- views
    @property
    def marked_value(self) -> np.ndarray:
        """Mid value of all active option legs, dollars per path (futures count 0)."""
        held = self.active & (self.kind != VIX_FUTURE)
        return (self.quantity * self.mark * self.multiplier * held).sum(axis=0)

    @property
    def equity(self) -> np.ndarray:
        """Cash plus marked value, dollars per path."""
        return self.cash + self.marked_value

    def equity_at(self, paths: np.ndarray) -> np.ndarray:
        """:attr:`equity` on some paths only (the same numbers)."""
        out = np.empty(len(paths))
        _equity_at_kernel(np.asarray(paths, dtype=np.int64), self.active, self.kind,
                          self.quantity, self.mark, self.multiplier, self.cash, out)
        return out

    def margin_at(self, paths: np.ndarray) -> np.ndarray:
        """:attr:`margin` on some paths only (the same numbers)."""
        out = np.empty(len(paths))
        _margin_at_kernel(np.asarray(paths, dtype=np.int64), self.group_margin, out)
        return out

    @property
    def margin(self) -> np.ndarray:
        """Margin held by all groups, dollars per path."""
        return self.group_margin.sum(axis=0)

    @property
    def quick_ratio(self) -> np.ndarray:
        """Liquid cash over margin held (``inf`` where no margin is held)."""
        margin = self.margin
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(margin > 0, self.cash / np.where(margin > 0, margin, 1.0), np.inf)

    @property
    def last_order(self) -> OrderFlow:
        """Dollars of the last order sent, on every path (0 where it did not trade)."""
        if self._last_order is None:
            flow = np.zeros(self.n_paths)
            cost = np.zeros(self.n_paths)
            flow[self._last_paths] = self._last_flow
            cost[self._last_paths] = self._last_cost
            self._last_order = OrderFlow(flow=flow, cost=cost)
        return self._last_order

    def last_order_at(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The last order's ``(paths, flow, cost)``: its paths and its dollars on them."""
        return self._last_paths, self._last_flow, self._last_cost

    def is_flat(self, block: SlotBlock) -> np.ndarray:
        """Paths on which the block holds no active leg."""
        return ~self.active[block.slots].any(axis=0)

    def half_spread(self, price: np.ndarray, vix: np.ndarray) -> np.ndarray:
        """Half the bid-ask width (index points) of options at mid ``price``."""
        c = self.costs
        width = np.maximum(c.min_width, c.width_share * price)
        width = width * (1.0 + c.vix_widening * np.maximum(vix - 20.0, 0.0) / 10.0)
        return 0.5 * width

    def unit_cost(self, view, price, kind=SPX_OPTION) -> np.ndarray:
        """Cost of trading one contract at mid ``price``: half spread plus commission.

        Parameters
        ----------
        view : MarketView
            Its VIX (index points) widens option spreads.
        price : array_like
            Mid prices, index points, shape ``(n_paths,)`` or ``(n_legs, n_paths)``.
        kind : int or array of int
            Instrument kind, a scalar or broadcastable to ``price`` (a 1-D
            array against a 2-D ``price`` is one kind per leg).

        Returns
        -------
        ndarray
            Dollars per contract, the shape of ``price``: options
            ``half_spread(price) * multiplier + commission``, futures
            ``future_half_spread * 1000 + future_commission``.
        """
        price = np.asarray(price, dtype=np.float64)
        kind = np.asarray(kind, dtype=np.int8)
        if kind.ndim == 1 and price.ndim == 2:
            kind = kind.reshape(-1, 1)
        kind = np.broadcast_to(kind, price.shape)
        c = self.costs
        option = (self.half_spread(price, view.vix) * MULTIPLIERS[np.clip(kind, 0, None)]
                  + c.commission)
        future = c.future_half_spread * MULTIPLIERS[VIX_FUTURE] + c.future_commission
        return np.where(kind == VIX_FUTURE, future, option)

    def quote(self, view, block: SlotBlock) -> np.ndarray:
        """Mid prices now (index points) of the block's active legs, ``(n_legs, n_paths)``.

        Every active leg is priced once per tick, after settlement
        (:meth:`refresh_quotes`); a leg opened since is quoted at its trade
        price, which is its mid price at this tick. A future's quote is its
        price (its marked value is 0: see the module docstring).
        """
        self.ensure_quotes(view)
        return self.quotes[block.slots].copy()

    def quote_at(self, view, block: SlotBlock, paths: np.ndarray) -> np.ndarray:
        """:meth:`quote` on some paths only, ``(n_legs, len(paths))``."""
        self.ensure_quotes(view)
        return self.quotes[block.start:block.stop, paths]

    def ensure_quotes(self, view) -> None:
        """Make :attr:`quotes` this tick's (see :meth:`quote`), pricing the legs if needed."""
        if view.tick != self.quotes_tick:
            self.refresh_quotes(view)

    def refresh_quotes(self, view) -> None:
        """Price every active leg at mid at this tick's market state, each by its kind."""
        self.quotes = self._price(view, self.strike, self.is_call, self.expiry, self.active,
                                  self.kind)
        self.quotes_tick = view.tick

    def quote_new(self, view, strike: np.ndarray, is_call: np.ndarray,
                  expiry: np.ndarray, mask: np.ndarray | None = None,
                  kind=SPX_OPTION) -> np.ndarray:
        """Mid prices (index points) of legs not yet held, ``(n_legs, n_paths)``.

        Only paths in ``mask`` (all if omitted) are priced; the others get 0.
        ``kind`` is an instrument kind or one per leg, ``(n_legs,)``; a
        future's strike and ``is_call`` are ignored. ``view`` may be a view of
        some paths only (``MarketView.take``), with arrays of its length.
        """
        strike = np.asarray(strike, dtype=np.float64)
        shape = strike.shape
        active = np.ones(shape, dtype=bool) if mask is None else np.broadcast_to(mask, shape)
        is_call = _per_leg(is_call, shape, np.bool_)
        expiry = np.broadcast_to(np.asarray(expiry, dtype=np.int64), shape)
        kind = _per_leg(kind, shape, np.int8)
        _check_kinds(kind)
        return self._price(view, strike, is_call, expiry, active, kind)

    def _price(self, view, strike, is_call, expiry, active, kind) -> np.ndarray:
        """Mid prices of a table of legs, each by the pricer of its kind; 0 where inactive."""
        out = np.zeros(np.shape(strike))
        price_into = getattr(self.pricer, "price_into", None)
        if price_into is not None:
            # SPX options: one parallel kernel over the table (it skips other kinds).
            price_into(view, strike, is_call, expiry, kind, active, out)
        else:
            spx = active & (kind == SPX_OPTION)
            if spx.any():
                out = np.array(self.pricer.price(view, strike, is_call, expiry, spx),
                               dtype=np.float64)
        if out.size == 0:
            return out
        vix_kinds = active & (kind != SPX_OPTION)
        if vix_kinds.any():
            leg, path = np.nonzero(vix_kinds)
            leg_kind = kind[leg, path]
            days = np.asarray(expiry)[leg, path] - int(view.day)
            pricer = self._vix_pricer()
            options = leg_kind == VIX_OPTION
            if options.any():
                at = (leg[options], path[options])
                out[at] = pricer.option_legs(view, path[options], strike[at],
                                             np.asarray(is_call)[at], days[options])
            futures = ~options
            if futures.any():
                out[leg[futures], path[futures]] = pricer.future_legs_at(
                    view, path[futures], days[futures])
        return out

    def _vix_pricer(self) -> VixPricer:
        if self.vix_pricer is None:
            raise RuntimeError("the book has no VixPricer (its SpxPricer has no model): "
                               "pass vix_pricer= to Book to trade VIX options or futures")
        return self.vix_pricer

    # ---------------------------------------------------------------- phases
    def begin_tick(self, view) -> None:
        """Accrue interest on cash since the last tick and reset this tick's flows."""
        self.leg_pnl[:] = 0.0
        self.tick_costs[:] = 0.0
        if self.today is None:
            self.carry[:] = 0.0
        else:
            days = view.day - self.today
            self.carry = self.cash * np.expm1(self.rate * days / 365.0)
            self.cash += self.carry
            self.total_carry += self.carry
        self.today = view.day
        self.tick = view.tick

    def settle_expired(self, view) -> np.ndarray:
        """Cash-settle every leg whose expiry date has come.

        SPX options pay their intrinsic value against today's SPX, VIX
        options against today's VIX; VIX futures pay their last variation
        margin, to today's VIX.

        Returns
        -------
        ndarray of bool, shape (n_slots, n_paths)
            The legs settled now.
        """
        due = self.active & (self.expiry <= view.day)
        if not due.any():
            return due
        slot, path = np.nonzero(due)
        kind = self.kind[slot, path]
        strike = self.strike[slot, path]
        quantity = self.quantity[slot, path]
        multiplier = self.multiplier[slot, path]
        underlying = np.where(kind == SPX_OPTION, np.asarray(view.spot)[path],
                              np.asarray(view.vix)[path])
        intrinsic = np.where(self.is_call[slot, path], np.maximum(underlying - strike, 0.0),
                             np.maximum(strike - underlying, 0.0))
        future = kind == VIX_FUTURE
        price = np.where(future, underlying, intrinsic)
        pnl = quantity * (price - self.mark[slot, path]) * multiplier
        flow = np.where(future, pnl, quantity * price * multiplier)
        # Per-path sums over the settled legs in slot order (np.nonzero's order),
        # as the column sums of the full table would add them.
        self.leg_pnl += np.bincount(path, weights=pnl, minlength=self.n_paths)
        self.cash += np.bincount(path, weights=flow, minlength=self.n_paths)
        self._record_rows(view, slot, path, "settle", "expiry", price, np.zeros(path.size),
                          flow, quantity)
        self.active[slot, path] = False
        self.mark[slot, path] = 0.0
        self.quotes[slot, path] = 0.0
        for block in self.blocks:
            in_block = (slot >= block.start) & (slot < block.stop)
            if in_block.any():
                self._update_margin(block, np.unique(path[in_block]))
        return due

    def mark_to_market(self, view) -> None:
        """Reprice all active legs at mid, settle futures' variation, roll the statistics."""
        if self.n_slots:
            self.ensure_quotes(view)
        # Large batches over threads when that is faster (``KernelChoice``).
        _MARK(self.n_paths, _PARALLEL_MIN_PATHS,
              (self.active, self.kind, self.quantity, self.quotes, self.mark, self.multiplier,
               self.group_margin, self.cash, self.leg_pnl, self.peak_equity,
               self.max_drawdown, self.peak_margin))

    def check_identity(self, tol: float = 1e-6) -> None:
        """Check ``equity = cash + marked value`` and the change of equity this tick.

        Raises
        ------
        AccountingError
            Naming the first failing path, the tick and the numbers involved.
        """
        equity = np.empty(self.n_paths)
        p = _identity_kernel(self.active, self.kind, self.quantity, self.mark,
                             self.multiplier, self.cash, self.prev_equity, self.leg_pnl,
                             self.carry, self.tick_costs, float(tol), equity)
        if p >= 0:
            change = equity[p] - self.prev_equity[p]
            explained = self.leg_pnl[p] + self.carry[p] - self.tick_costs[p]
            raise AccountingError(
                f"tick {self.tick}, path {p}: equity change {change:.6f} $ != leg P&L "
                f"{self.leg_pnl[p]:.6f} + carry {self.carry[p]:.6f} - costs "
                f"{self.tick_costs[p]:.6f} = {explained:.6f} $")
        self.prev_equity = equity

    # ---------------------------------------------------------------- trades
    def open(self, view, block: SlotBlock, mask: np.ndarray, strike: np.ndarray,
             is_call: np.ndarray, quantity: np.ndarray, expiry: np.ndarray,
             reason: str, kind=SPX_OPTION) -> np.ndarray:
        """Open the legs of a block on the masked paths, at mid plus costs.

        Parameters
        ----------
        view : MarketView
        block : SlotBlock
            Must be flat on the masked paths.
        mask : ndarray of bool, shape (n_paths,)
        strike : ndarray, shape (n_legs, n_paths)
            Index points (ignored for futures, recorded as 0).
        is_call : ndarray of bool, shape (n_legs,) or (n_legs, n_paths)
            Ignored for futures (recorded as False).
        quantity : ndarray, shape (n_legs, n_paths)
            Signed contracts (negative = short); a leg with quantity 0 on a
            masked path is priced but not opened there.
        expiry : ndarray of int64, shape (n_paths,) or (n_legs, n_paths)
            Days since 1970-01-01 (for VIX legs a VIX expiry date, e.g.
            ``sim.instruments.vix_expiry_on_or_after``).
        reason : str
            Why, for the ledger.
        kind : int or ndarray of int, shape (n_legs,)
            ``SPX_OPTION`` (default), ``VIX_OPTION`` or ``VIX_FUTURE``, for all
            legs or one per leg.

        Returns
        -------
        ndarray, shape (n_legs, n_paths)
            Trade prices (mid, index points; a future's price, on which it
            pays no premium); zero off the mask.

        Raises
        ------
        UncoveredShortError
            If a group would hold more short than long calls on one underlying.
        """
        paths = np.flatnonzero(mask)
        shape = (block.size, self.n_paths)
        price = self.open_at(view, block, paths,
                             _take_paths(strike, shape, paths, np.float64),
                             _per_leg(is_call, shape, np.bool_)[:, paths],
                             _take_paths(quantity, shape, paths, np.float64),
                             _take_paths(expiry, shape, paths, np.int64),
                             reason, kind=_per_leg(kind, shape, np.int8)[:, paths])
        out = np.zeros(shape)
        out[:, paths] = price
        return out

    def open_at(self, view, block: SlotBlock, paths: np.ndarray, strike: np.ndarray,
                is_call, quantity: np.ndarray, expiry, reason: str, kind=SPX_OPTION,
                subview=None, price=None) -> np.ndarray:
        """:meth:`open` on a list of paths, with the legs' arrays gathered at them.

        Parameters
        ----------
        view : MarketView
            The whole batch's view.
        block : SlotBlock
        paths : ndarray of int, shape (k,)
            Ascending path indices; the block must be flat on them.
        strike, quantity : ndarray, shape (n_legs, k)
        is_call, kind : per leg ``(n_legs,)`` or ``(n_legs, k)``
        expiry : int64, broadcastable to ``(n_legs, k)``
        reason : str
        subview : MarketView, optional
            ``view.take(paths)`` if the caller has it.
        price : ndarray, shape (n_legs, k), optional
            The legs' mid prices now, if the caller has them from
            :meth:`quote_new` on ``subview`` (the same numbers; not priced again).

        Returns
        -------
        ndarray, shape (n_legs, k)
            Trade prices (mid, index points).
        """
        paths = np.asarray(paths, dtype=np.int64)
        rows = block.slots
        if self.active[rows, paths].any():
            raise RuntimeError(f"group {block.group} already holds legs on some masked paths")
        shape = (block.size, paths.size)
        sub = view.take(paths) if subview is None else subview
        legs = np.ones(shape, dtype=bool)
        price, flow, cost = self._open_at(
            view, sub, block, paths, legs, np.broadcast_to(np.asarray(strike, np.float64), shape),
            _per_leg(is_call, shape, np.bool_),
            np.broadcast_to(np.asarray(quantity, np.float64), shape),
            np.broadcast_to(np.asarray(expiry, np.int64), shape),
            _per_leg(kind, shape, np.int8), reason,
            None if price is None else kernel_array(price, dtype=np.float64))
        self.n_orders[paths] += 1
        self._update_margin(block, paths)
        self._set_last_order(paths, flow, cost)
        return price

    def close(self, view, block: SlotBlock, mask: np.ndarray, reason: str,
              legs: Sequence[int] | None = None) -> np.ndarray:
        """Close the active legs of a block on the masked paths, at mid plus costs.

        Parameters
        ----------
        view : MarketView
        block : SlotBlock
        mask : ndarray of bool, shape (n_paths,)
        reason : str
            Why, for the ledger.
        legs : sequence of int, optional
            Leg indices within the block to close (all if omitted).

        Returns
        -------
        ndarray, shape (n_paths,)
            Dollars received for the closing order (negative if paid), costs included.
        """
        paths = np.flatnonzero(mask)
        flow = self.close_at(view, block, paths, reason, legs)
        out = np.zeros(self.n_paths)
        out[paths] = flow
        return out

    def close_at(self, view, block: SlotBlock, paths: np.ndarray, reason: str,
                 legs: Sequence[int] | None = None, subview=None) -> np.ndarray:
        """:meth:`close` on a list of ascending path indices; returns their flows, ``(k,)``."""
        paths = np.asarray(paths, dtype=np.int64)
        rows = block.slots
        closing = self.active[rows, paths] & self._leg_rows(block, legs)[:, None]
        sub = view.take(paths) if subview is None else subview
        flow, cost = self._reduce_at(view, sub, block, paths, closing,
                                     self.quantity[rows, paths], reason)
        self.n_orders[paths] += closing.any(axis=0)
        self._update_margin(block, paths)
        return self._set_last_order(paths, flow, cost)

    def resize(self, view, block: SlotBlock, mask: np.ndarray, scale, reason: str
               ) -> np.ndarray:
        """Scale the active legs of a block on the masked paths, trading the difference.

        Each leg's quantity becomes ``trunc(quantity * scale)`` (toward zero;
        ``scale = 1`` keeps it exactly); the part given up is closed at mid
        plus costs (ledger action ``close``, quantity the closed part, signed
        as held). Legs that reach 0 become inactive. Margin is recomputed.

        Parameters
        ----------
        view : MarketView
        block : SlotBlock
        mask : ndarray of bool, shape (n_paths,)
        scale : float or ndarray, shape (n_paths,)
            Share of each leg to keep, in [0, 1].
        reason : str
            Why, for the ledger.

        Returns
        -------
        ndarray, shape (n_paths,)
            Dollars received (negative if paid), costs included.

        Raises
        ------
        ValueError
            If ``scale`` is outside [0, 1] on a masked path.
        UncoveredShortError
            If truncation leaves more short than long calls on one underlying.
        """
        scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (self.n_paths,))
        if np.any(mask & ~((scale >= 0.0) & (scale <= 1.0))):
            raise ValueError("resize: scale must be in [0, 1] on the masked paths")
        paths = np.flatnonzero(mask)
        rows = block.slots
        held = self.active[rows, paths]
        qty = self.quantity[rows, paths]
        keep = scale[paths]
        kept = np.where(keep >= 1.0, qty, np.trunc(qty * keep))
        closed = np.where(held, qty - kept, 0.0)
        trading = held & (closed != 0.0)
        flow, cost = self._reduce_at(view, view.take(paths), block, paths, trading, closed,
                                     reason)
        self.n_orders[paths] += trading.any(axis=0)
        self._update_margin(block, paths)
        out = np.zeros(self.n_paths)
        out[paths] = self._set_last_order(paths, flow, cost)
        return out

    def roll_legs(self, view, block: SlotBlock, mask: np.ndarray, legs: Sequence[int],
                  strike: np.ndarray, is_call: np.ndarray, quantity: np.ndarray,
                  expiry: np.ndarray, reason: str, kind=SPX_OPTION) -> np.ndarray:
        """Replace some legs of a block by new ones in the same slots, on the masked paths.

        The legs are closed at mid plus costs, then the new legs opened at mid
        plus costs under a new position id (ledger rows ``close`` then
        ``open``, both with ``reason``); the group's margin is recomputed once,
        at the end, so a roll may pass through an uncovered state. A new leg
        whose quantity is 0 on a path is not opened there (the slot is only
        closed), as in :meth:`open`.

        Parameters
        ----------
        view : MarketView
        block : SlotBlock
        mask : ndarray of bool, shape (n_paths,)
        legs : sequence of int
            Leg indices within the block, each active on every masked path.
        strike : ndarray, shape (len(legs), n_paths)
            Index points.
        is_call : ndarray of bool, shape (len(legs),) or (len(legs), n_paths)
        quantity : ndarray, shape (len(legs), n_paths)
            Signed contracts of the new legs.
        expiry : int or ndarray of int64, shape (n_paths,) or (len(legs), n_paths)
            Days since 1970-01-01.
        reason : str
            Why, for the ledger.
        kind : int or ndarray of int, shape (len(legs),)
            Instrument kind of the new legs.

        Returns
        -------
        ndarray, shape (len(legs), n_paths)
            Trade prices (mid, index points) of the new legs; zero off the mask.

        Raises
        ------
        RuntimeError
            If a rolled leg is not active on a masked path.
        UncoveredShortError
            If the group ends up with more short than long calls on one underlying.
        """
        rows = self._leg_indices(block, legs)
        s = block.slots
        paths = np.flatnonzero(mask)
        active = self.active[s, paths]
        if (~active[rows]).any():
            raise RuntimeError(f"group {block.group}: legs {rows.tolist()} must be active on "
                               "every masked path to be rolled")
        sub = view.take(paths)
        selected = np.zeros(block.size, dtype=bool)
        selected[rows] = True
        closing = active & selected[:, None]
        flow_close, cost_close = self._reduce_at(view, sub, block, paths, closing,
                                                 self.quantity[s, paths], reason)
        new_shape = (rows.size, self.n_paths)
        full_shape = (block.size, paths.size)
        values = {"strike": np.zeros(full_shape), "is_call": np.zeros(full_shape, bool),
                  "quantity": np.zeros(full_shape), "expiry": np.zeros(full_shape, np.int64),
                  "kind": np.zeros(full_shape, np.int8)}
        values["strike"][rows] = _take_paths(strike, new_shape, paths, np.float64)
        values["is_call"][rows] = _per_leg(is_call, new_shape, np.bool_)[:, paths]
        values["quantity"][rows] = _take_paths(quantity, new_shape, paths, np.float64)
        values["expiry"][rows] = _take_paths(expiry, new_shape, paths, np.int64)
        values["kind"][rows] = _per_leg(kind, new_shape, np.int8)[:, paths]
        opening = np.zeros(full_shape, dtype=bool)
        opening[rows] = True
        price, flow_open, cost_open = self._open_at(
            view, sub, block, paths, opening, values["strike"], values["is_call"],
            values["quantity"], values["expiry"], values["kind"], reason)
        self.n_orders[paths] += 1
        self._update_margin(block, paths)
        self._set_last_order(paths, flow_close + flow_open, cost_close + cost_open)
        out = np.zeros(new_shape)
        out[:, paths] = price[rows]
        return out

    def record_skip(self, view, block: SlotBlock, mask: np.ndarray, reason: str,
                    kind: int | None = None) -> None:
        """Write one ledger row per masked path saying an order was skipped or cut there.

        No trade happens: the rows have action ``skip``, slot ``block.start``,
        position id -1, quantity, price, cost, cash flow and strike 0, and no
        expiry (NaT).

        Parameters
        ----------
        view : MarketView
        block : SlotBlock
        mask : ndarray of bool, shape (n_paths,)
        reason : str
            Why, e.g. ``"L1 budget cut"`` (up to 32 characters are kept).
        kind : int, optional
            Instrument of the order skipped; by default that of the block's
            first slot on each path (``"none"`` if it never held a leg).
        """
        self.record_skip_at(view, block, np.flatnonzero(mask), reason, kind)

    def record_skip_at(self, view, block: SlotBlock, paths: np.ndarray, reason: str,
                       kind: int | None = None) -> None:
        """:meth:`record_skip` on a list of ascending path indices."""
        path = np.asarray(paths, dtype=np.int64)
        if not path.size:
            return
        if kind is None:
            instrument = _LEDGER_NAMES[self.kind[block.start, path]]
        else:
            instrument = INSTRUMENT_NAMES[kind]
        self.ledger.append(
            tick=view.tick, date=view.day, path=path, slot=block.start, position_id=-1,
            action="skip", reason=reason, is_call=False, strike=0.0, expiry=_NO_EXPIRY,
            quantity=0.0, price=0.0, cost=0.0, cash_flow=0.0, instrument=instrument)

    # --------------------------------------------------------------- helpers
    def _open_at(self, view, sub, block, paths, legs, strike, is_call, quantity, expiry, kind,
                 reason, price=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open the block's legs where ``legs`` is set, on the given paths.

        Every array is ``(n_legs, len(paths))``, gathered at ``paths``; ``sub``
        is the view of those paths. Every leg in ``legs`` is priced; those
        with quantity 0 are not opened. Returns the trade prices, the cash
        flows and the costs, each ``(n_legs, len(paths))``. Margin and order
        counts are left to the caller.
        """
        _check_kinds(kind[legs])
        future = kind == VIX_FUTURE
        strike = np.where(future, 0.0, strike)
        is_call = is_call & ~future
        if price is None:
            price = self._price(sub, strike, is_call, expiry, legs, kind)
        opened = np.array(legs, dtype=np.bool_)
        flow = np.empty(legs.shape)
        cost = np.empty(legs.shape)
        c = self.costs
        n_rows = _open_kernel(
            block.start, paths, opened, kernel_array(kind, dtype=np.int8),
            kernel_array(strike, dtype=np.float64), kernel_array(is_call),
            kernel_array(expiry, dtype=np.int64),
            kernel_array(quantity, dtype=np.float64), price, self.next_position_id,
            np.asarray(sub.vix, dtype=np.float64), c.min_width, c.width_share,
            c.vix_widening, c.commission, self.future_unit_cost(), MULTIPLIERS,
            PREMIUM_MULTIPLIERS, self.kind, self.multiplier, self.strike, self.is_call,
            self.expiry, self.quantity, self.entry_price, self.mark, self.quotes,
            self.position_id, self.active, self.cash, self.tick_costs, self.total_costs,
            flow, cost)
        self.next_position_id += 1
        self._record(view, block, paths, opened, n_rows, "open", reason, price, cost, flow)
        return price, flow, cost

    def _reduce_at(self, view, sub, block, paths, legs, closed, reason
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Close ``closed`` contracts (signed as held) of the block's legs where ``legs`` is set.

        Each traded leg is first marked to its trade price (its leg P&L; for a
        future also its last variation margin, into cash), then the closed
        part is sold at mid plus costs. Arrays are ``(n_legs, len(paths))``,
        gathered at ``paths``. Returns cash flows and costs of that shape.
        Margin and order counts are left to the caller.
        """
        self.ensure_quotes(view)
        shape = legs.shape
        price = np.empty(shape)
        flow = np.empty(shape)
        cost = np.empty(shape)
        closed = kernel_array(closed, dtype=np.float64)
        legs = kernel_array(legs, dtype=np.bool_)
        # The ledger shows the legs as they were before the trade.
        c = self.costs
        n_rows = _reduce_kernel(
            block.start, paths, legs, closed, np.asarray(sub.vix, dtype=np.float64),
            c.min_width, c.width_share, c.vix_widening, c.commission, self.future_unit_cost(),
            MULTIPLIERS, self.quotes, self.quantity, self.multiplier, self.kind, self.mark,
            self.active, self.leg_pnl, self.cash, self.tick_costs, self.total_costs, price,
            flow, cost)
        self._record(view, block, paths, legs, n_rows, "close", reason, price, cost, flow,
                     quantity=closed)
        return flow, cost

    def future_unit_cost(self) -> float:
        """Cost of trading one VIX future, dollars (as :meth:`unit_cost` computes it)."""
        c = self.costs
        return float(c.future_half_spread * MULTIPLIERS[VIX_FUTURE] + c.future_commission)

    def _leg_indices(self, block: SlotBlock, legs: Sequence[int]) -> np.ndarray:
        rows = np.asarray(legs, dtype=np.int64).reshape(-1)
        if rows.size == 0 or rows.min() < 0 or rows.max() >= block.size:
            raise ValueError(f"group {block.group}: leg indices must be in 0..{block.size - 1}, "
                             f"got {rows.tolist()}")
        if np.unique(rows).size != rows.size:
            raise ValueError(f"group {block.group}: leg indices repeat: {rows.tolist()}")
        return rows

    def _leg_rows(self, block: SlotBlock, legs: Sequence[int] | None) -> np.ndarray:
        """Boolean ``(n_legs,)`` selection of a block's legs (all if ``legs`` is None)."""
        selected = np.zeros(block.size, dtype=bool)
        selected[slice(None) if legs is None else self._leg_indices(block, legs)] = True
        return selected

    def _set_last_order(self, paths: np.ndarray, flow: np.ndarray, cost: np.ndarray
                        ) -> np.ndarray:
        """Store the order's dollars on its paths (``last_order``); return its flow there."""
        self._last_paths = paths
        self._last_flow = flow.sum(axis=0)
        self._last_cost = cost.sum(axis=0)
        self._last_order = None
        return self._last_flow.copy()

    def _update_margin(self, block: SlotBlock, paths: np.ndarray) -> None:
        """Recompute the group's margin on the paths whose legs changed.

        Other paths' margins did not change since their peak was last taken.
        """
        rows = block.slots
        margin = np.empty(paths.size)
        spec = self.vix_spec
        _margin_kernel(self.strike[rows, paths], self.is_call[rows, paths],
                       self.quantity[rows, paths], self.entry_price[rows, paths],
                       self.kind[rows, paths], self.active[rows, paths], spec.future_margin,
                       spec.future_spread_margin, MULTIPLIERS[SPX_OPTION],
                       MULTIPLIERS[VIX_OPTION], margin)
        bad = _store_margin_kernel(block.group, paths, margin, self.group_margin,
                                   self.peak_margin)
        if bad >= 0:
            raise UncoveredShortError(
                f"group {block.group}, path {int(paths[bad])}: short calls exceed long calls "
                "on one underlying; the loss would be unbounded")

    def _record(self, view, block, paths, legs, n_rows, action, reason, price, cost, flow,
                quantity=None) -> None:
        """Ledger rows of the legs set in ``legs`` (``(n_legs, len(paths))``), slot-major."""
        if not n_rows:
            return
        leg, column = np.nonzero(legs)
        self._record_rows(view, leg + block.start, paths[column], action, reason,
                          price[leg, column], cost[leg, column], flow[leg, column],
                          None if quantity is None else quantity[leg, column])

    def _record_rows(self, view, slot, path, action, reason, price, cost, flow,
                     quantity=None) -> None:
        held = self.quantity[slot, path] if quantity is None else quantity
        self.ledger.append(
            tick=view.tick, date=view.day, path=path, slot=slot,
            position_id=self.position_id[slot, path], action=action, reason=reason,
            is_call=self.is_call[slot, path], strike=self.strike[slot, path],
            expiry=self.expiry[slot, path], quantity=held, price=price, cost=cost,
            cash_flow=flow, instrument=_LEDGER_NAMES[self.kind[slot, path]], copy=False)


def _take_paths(values, shape: tuple[int, int], paths: np.ndarray, dtype) -> np.ndarray:
    """Broadcast ``values`` (numpy rules) to ``(n_legs, n_paths)`` and gather the paths."""
    return np.broadcast_to(np.asarray(values, dtype=dtype), shape)[:, paths]


@njit(cache=True)
def _mark_paths(start, stop, active, kind, quantity, quotes, mark, multiplier, group_margin,
                cash, leg_pnl, peak_equity, max_drawdown, peak_margin):
    """The mark of paths ``start`` to ``stop``: leg P&L, futures' variation, equity statistics.

    Per path, in one pass over the slots, the numbers of the array form
    ``pnl = quantity * (new_mark - mark) * multiplier`` summed over slots in
    slot order (as numpy's column sums add them), futures' variation into
    cash, ``mark = quote`` (0 if inactive), equity ``cash + sum(quantity *
    mark * multiplier)`` over held option legs, then the running peak
    equity, drawdown and peak margin (margins summed in group order).
    """
    n_slots = quantity.shape[0]
    n_groups = group_margin.shape[0]
    for j in range(start, stop):
        pnl_sum = 0.0
        variation = 0.0
        has_future = False
        value = 0.0
        for i in range(n_slots):
            if not active[i, j]:
                mark[i, j] = 0.0
                continue
            new_mark = quotes[i, j]
            pnl = quantity[i, j] * (new_mark - mark[i, j]) * multiplier[i, j]
            pnl_sum += pnl
            mark[i, j] = new_mark
            if kind[i, j] == VIX_FUTURE:
                has_future = True
                variation += pnl
            else:
                value += quantity[i, j] * new_mark * multiplier[i, j]
        leg_pnl[j] += pnl_sum
        if has_future:
            cash[j] += variation
        equity = cash[j] + value
        peak = nan_max(peak_equity[j], equity)
        peak_equity[j] = peak
        max_drawdown[j] = nan_max(max_drawdown[j], peak - equity)
        margin = 0.0
        for g in range(n_groups):
            margin += group_margin[g, j]
        peak_margin[j] = nan_max(peak_margin[j], margin)


@njit(cache=True)
def _mark_kernel(active, kind, quantity, quotes, mark, multiplier, group_margin, cash,
                 leg_pnl, peak_equity, max_drawdown, peak_margin):
    """:func:`_mark_paths` of every path."""
    _mark_paths(0, quantity.shape[1], active, kind, quantity, quotes, mark, multiplier,
                group_margin, cash, leg_pnl, peak_equity, max_drawdown, peak_margin)


@njit(cache=True, parallel=True)
def _mark_parallel(active, kind, quantity, quotes, mark, multiplier, group_margin, cash,
                   leg_pnl, peak_equity, max_drawdown, peak_margin):
    """:func:`_mark_kernel` over blocks of paths in parallel (each path's own entries only)."""
    n_paths = quantity.shape[1]
    size = -(-n_paths // _CHUNKS)
    for c in prange(_CHUNKS):
        _mark_paths(min(n_paths, c * size), min(n_paths, (c + 1) * size), active, kind,
                    quantity, quotes, mark, multiplier, group_margin, cash, leg_pnl,
                    peak_equity, max_drawdown, peak_margin)


@njit(cache=True)
def _identity_kernel(active, kind, quantity, mark, multiplier, cash, prev_equity, leg_pnl,
                     carry, tick_costs, tol, equity):
    """Equity now (into ``equity``) and the first path whose change is unexplained (-1: none).

    ``equity = cash + sum(quantity * mark * multiplier)`` over held option
    legs; the change since ``prev_equity`` must equal ``leg_pnl + carry -
    tick_costs`` within ``tol * (1 + |equity|)``.
    """
    n_slots, n_paths = quantity.shape
    first_bad = -1
    for j in range(n_paths):
        value = 0.0
        for i in range(n_slots):
            if active[i, j] and kind[i, j] != VIX_FUTURE:
                value += quantity[i, j] * mark[i, j] * multiplier[i, j]
        equity[j] = cash[j] + value
        change = equity[j] - prev_equity[j]
        explained = leg_pnl[j] + carry[j] - tick_costs[j]
        # As ``abs(change - explained) > tol * scale`` in numpy: NaN is not flagged.
        if first_bad < 0 and abs(change - explained) > tol * (1.0 + abs(equity[j])):
            first_bad = j
    return first_bad


@njit(cache=True)
def _group_max_loss_kernel(active, is_call, strike, quantity, entry_price, multiplier, out):
    """Max loss from entry (dollars) of each path's group of legs on one underlying.

    The settlement value of the legs is piecewise linear in the underlying's
    level, so its minimum over levels >= 0 sits at 0, at a strike, or at
    infinity (where it is unbounded below if short calls exceed long calls).
    """
    n_legs, n_paths = strike.shape
    for j in range(n_paths):
        any_leg = False
        for i in range(n_legs):
            if active[i, j]:
                any_leg = True
                break
        if not any_leg:
            out[j] = 0.0
            continue
        out[j] = _max_loss_one(j, active, is_call, strike, quantity, entry_price, multiplier)


# ---------------------------------------------------------------------------
# Order kernels: one call per order over the paths it is sent on. Sums over a
# path's legs (or groups, or slots) are taken in row order, as numpy's column
# sums of the book's (rows, paths) tables add them, so every number is the
# one the array expressions in the docstrings give.
# ---------------------------------------------------------------------------


@njit(cache=True)
def _np_min(a, b):
    """``np.minimum`` of two floats: NaN if either is NaN, else the smaller."""
    if a <= b or a != a:
        return a
    return b


@njit(cache=True)
def unit_cost_one(price, vix, kind, min_width, width_share, vix_widening, commission,
                   future_unit_cost, multipliers):
    """:meth:`Book.unit_cost` of one contract (dollars), for kernels: the same operations.

    ``future_unit_cost`` is :meth:`Book.future_unit_cost`; ``multipliers`` is
    ``sim.instruments.MULTIPLIERS``.
    """
    if kind == VIX_FUTURE:
        return future_unit_cost
    width = nan_max(min_width, width_share * price)
    width = width * (1.0 + vix_widening * nan_max(vix - 20.0, 0.0) / 10.0)
    return 0.5 * width * multipliers[max(kind, 0)] + commission


@njit(cache=True)
def _reduce_kernel(start, paths, legs, closed, vix, min_width, width_share, vix_widening,
                   commission, future_unit_cost, multipliers, quotes, quantity, multiplier,
                   kind, mark, active, leg_pnl, cash, tick_costs, total_costs, price_out,
                   flow_out, cost_out):
    """Close ``closed`` contracts of the legs set in ``legs`` (``(n_legs, k)``) on ``paths``.

    As the array form: ``pnl = where(legs, qty (price - mark) mult, 0)``,
    ``cost = where(legs, |closed| unit_cost(price), 0)``, ``flow =
    where(legs, where(future, pnl, closed price mult), 0) - cost``, their
    column sums into leg P&L, cash and costs, then the quantities, activity,
    marks and quotes of the traded legs. ``price`` is the leg's quote.
    Returns the number of ledger rows (legs traded).
    """
    n_legs, n_cols = legs.shape
    n_rows = 0
    for c in range(n_cols):
        p = paths[c]
        pnl_sum = 0.0
        flow_sum = 0.0
        cost_sum = 0.0
        for i in range(n_legs):
            slot = start + i
            price = quotes[slot, p]
            price_out[i, c] = price
            if not legs[i, c]:
                flow_out[i, c] = 0.0
                cost_out[i, c] = 0.0
                continue
            n_rows += 1
            qty = quantity[slot, p]
            mult = multiplier[slot, p]
            kd = kind[slot, p]
            pnl = qty * (price - mark[slot, p]) * mult
            cost = abs(closed[i, c]) * unit_cost_one(price, vix[c], kd, min_width, width_share,
                                                      vix_widening, commission,
                                                      future_unit_cost, multipliers)
            if kd == VIX_FUTURE:
                flow = pnl - cost
            else:
                flow = closed[i, c] * price * mult - cost
            pnl_sum += pnl
            flow_sum += flow
            cost_sum += cost
            flow_out[i, c] = flow
            cost_out[i, c] = cost
            remaining = qty - closed[i, c]
            quantity[slot, p] = remaining
            if remaining == 0.0:
                active[slot, p] = False
                mark[slot, p] = 0.0
                quotes[slot, p] = 0.0
            else:
                mark[slot, p] = price
        leg_pnl[p] += pnl_sum
        cash[p] += flow_sum
        tick_costs[p] += cost_sum
        total_costs[p] += cost_sum
    return n_rows


@njit(cache=True)
def _open_kernel(start, paths, legs, kind, strike, is_call, expiry, quantity, price,
                 position_id, vix, min_width, width_share, vix_widening, commission,
                 future_unit_cost, multipliers, premium_multipliers, s_kind, s_multiplier,
                 s_strike, s_is_call, s_expiry, s_quantity, s_entry_price, s_mark, s_quotes,
                 s_position_id, s_active, cash, tick_costs, total_costs, flow_out, cost_out):
    """Open the legs set in ``legs`` whose quantity is not 0, at ``price``, on ``paths``.

    As the array form: the slots take the new legs (futures with strike 0
    and ``is_call`` False, as given), ``cost = where(opened, |q|
    unit_cost(price), 0)``, ``flow = where(opened, -q price premium, 0) -
    cost``, and their column sums go into cash and costs. ``legs`` is
    cleared where the quantity is 0 (those legs are not opened). Returns the
    number of legs opened (ledger rows).
    """
    n_legs, n_cols = legs.shape
    n_rows = 0
    for c in range(n_cols):
        p = paths[c]
        flow_sum = 0.0
        cost_sum = 0.0
        for i in range(n_legs):
            if not legs[i, c] or quantity[i, c] == 0.0:
                legs[i, c] = False
                flow_out[i, c] = 0.0
                cost_out[i, c] = 0.0
                continue
            n_rows += 1
            slot = start + i
            kd = kind[i, c]
            q = quantity[i, c]
            trade = price[i, c]
            s_kind[slot, p] = kd
            s_multiplier[slot, p] = multipliers[max(kd, 0)]
            s_strike[slot, p] = strike[i, c]
            s_is_call[slot, p] = is_call[i, c]
            s_expiry[slot, p] = expiry[i, c]
            s_quantity[slot, p] = q
            s_entry_price[slot, p] = trade
            s_mark[slot, p] = trade
            s_quotes[slot, p] = trade
            s_position_id[slot, p] = position_id
            s_active[slot, p] = True
            cost = abs(q) * unit_cost_one(trade, vix[c], kd, min_width, width_share,
                                           vix_widening, commission, future_unit_cost,
                                           multipliers)
            flow = -q * trade * premium_multipliers[max(kd, 0)] - cost
            flow_sum += flow
            cost_sum += cost
            flow_out[i, c] = flow
            cost_out[i, c] = cost
        cash[p] += flow_sum
        tick_costs[p] += cost_sum
        total_costs[p] += cost_sum
    return n_rows


@njit(cache=True, inline="always")
def _max_loss_one(j, held, is_call, strike, quantity, entry_price, multiplier):
    """Max loss from entry (dollars) of column ``j``'s legs selected by ``held``.

    The one implementation of the max-loss rule (:func:`_group_max_loss_kernel`
    calls it per path); ``held`` selects the legs of one underlying, at least
    one of them in this column.
    """
    n_legs = strike.shape[0]
    premium = 0.0
    call_slope = 0.0
    for i in range(n_legs):
        if held[i, j]:
            premium += quantity[i, j] * entry_price[i, j]
            if is_call[i, j]:
                call_slope += quantity[i, j]
    if call_slope < -1e-12:
        return np.inf
    worst = np.inf
    for c in range(-1, n_legs):
        if c >= 0 and not held[c, j]:
            continue
        level = 0.0 if c < 0 else strike[c, j]
        value = 0.0
        for i in range(n_legs):
            if held[i, j]:
                if is_call[i, j]:
                    value += quantity[i, j] * max(level - strike[i, j], 0.0)
                else:
                    value += quantity[i, j] * max(strike[i, j] - level, 0.0)
        worst = min(worst, value)
    return max(0.0, (premium - worst) * multiplier)


@njit(cache=True)
def _margin_kernel(strike, is_call, quantity, entry_price, kind, active, future_margin,
                   future_spread_margin, spx_multiplier, vix_multiplier, out):
    """:func:`group_margin` of each column: option max losses per underlying, then futures."""
    n_legs, n_cols = strike.shape
    spx = np.empty((n_legs, n_cols), dtype=np.bool_)
    vix = np.empty((n_legs, n_cols), dtype=np.bool_)
    for i in range(n_legs):
        for j in range(n_cols):
            spx[i, j] = active[i, j] and kind[i, j] == SPX_OPTION
            vix[i, j] = active[i, j] and kind[i, j] == VIX_OPTION
    for j in range(n_cols):
        margin = 0.0
        has_spx = has_vix = any_future = False
        for i in range(n_legs):
            has_spx |= spx[i, j]
            has_vix |= vix[i, j]
            any_future |= active[i, j] and kind[i, j] == VIX_FUTURE
        if has_spx:
            margin += _max_loss_one(j, spx, is_call, strike, quantity, entry_price,
                                    spx_multiplier)
        if has_vix:
            margin += _max_loss_one(j, vix, is_call, strike, quantity, entry_price,
                                    vix_multiplier)
        if any_future:
            long = 0.0
            short = 0.0
            for i in range(n_legs):
                if active[i, j] and kind[i, j] == VIX_FUTURE:
                    long += nan_max(quantity[i, j], 0.0)
                    short += nan_max(-quantity[i, j], 0.0)
            margin += (future_margin * abs(long - short)
                       + future_spread_margin * _np_min(long, short))
        out[j] = margin


@njit(cache=True)
def _store_margin_kernel(group, paths, margin, group_margin, peak_margin):
    """Store a group's new margins on ``paths`` and roll their peak; the first unbounded one.

    Returns the column of the first infinite margin (nothing is stored
    then), else -1. The peak is over the sum of all groups' margins, summed
    in group order.
    """
    for c in range(paths.shape[0]):
        if np.isinf(margin[c]):
            return c
    n_groups = group_margin.shape[0]
    for c in range(paths.shape[0]):
        p = paths[c]
        group_margin[group, p] = margin[c]
        total = 0.0
        for g in range(n_groups):
            total += group_margin[g, p]
        peak_margin[p] = nan_max(peak_margin[p], total)
    return -1


@njit(cache=True)
def _equity_at_kernel(paths, active, kind, quantity, mark, multiplier, cash, out):
    """Cash plus marked value of ``paths``, summed over slots in order (as ``Book.equity``)."""
    for c in range(paths.shape[0]):
        p = paths[c]
        value = 0.0
        for i in range(quantity.shape[0]):
            if active[i, p] and kind[i, p] != VIX_FUTURE:
                value += quantity[i, p] * mark[i, p] * multiplier[i, p]
        out[c] = cash[p] + value


@njit(cache=True)
def _margin_at_kernel(paths, group_margin, out):
    """Margin of all groups on ``paths``, summed in group order (as ``Book.margin``)."""
    for c in range(paths.shape[0]):
        p = paths[c]
        total = 0.0
        for g in range(group_margin.shape[0]):
            total += group_margin[g, p]
        out[c] = total


#: The mark, serial or over threads by measured speed.
_MARK = KernelChoice(_mark_kernel, _mark_parallel)
