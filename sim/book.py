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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.config import CostModel, VixSpec
from sim.instruments import (
    INSTRUMENT_NAMES,
    MULTIPLIERS,
    PREMIUM_MULTIPLIERS,
    SPX_OPTION,
    VIX_FUTURE,
    VIX_OPTION,
    SpxPricer,
    VixPricer,
)
from sim.ledger import Ledger

#: Ledger text of each kind; index -1 (a slot that never held a leg) is ``"none"``.
_LEDGER_NAMES = np.array((*INSTRUMENT_NAMES, "none"))
#: Expiry written for ledger rows without a leg (NaT in ``datetime64[D]``).
_NO_EXPIRY = np.iinfo(np.int64).min
#: Kinds whose legs are options, priced and margined per underlying.
_OPTION_KINDS = (SPX_OPTION, VIX_OPTION)


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
    strike = np.ascontiguousarray(strike, dtype=np.float64)
    shape = strike.shape
    is_call = np.ascontiguousarray(_per_leg(is_call, shape, np.bool_))
    quantity = np.ascontiguousarray(np.broadcast_to(quantity, shape), dtype=np.float64)
    entry_price = np.ascontiguousarray(np.broadcast_to(entry_price, shape), dtype=np.float64)
    kind = _per_leg(kind, shape, np.int8)
    active = np.broadcast_to(np.asarray(active, dtype=np.bool_), shape)
    margin = np.zeros(shape[1])
    for k in _OPTION_KINDS:
        legs = np.ascontiguousarray(active & (kind == k))
        if legs.any():
            part = np.zeros(shape[1])
            _group_max_loss_kernel(legs, is_call, strike, quantity, entry_price,
                                   float(MULTIPLIERS[k]), part)
            margin += part
    futures = active & (kind == VIX_FUTURE)
    if futures.any():
        held = np.where(futures, quantity, 0.0)
        long = np.maximum(held, 0.0).sum(axis=0)
        short = np.maximum(-held, 0.0).sum(axis=0)
        margin += (vix_spec.future_margin * np.abs(long - short)
                   + vix_spec.future_spread_margin * np.minimum(long, short))
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
        self.last_order = OrderFlow(flow=np.zeros(n_paths), cost=np.zeros(n_paths))
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
        if view.tick != self.quotes_tick:
            self.refresh_quotes(view)
        return self.quotes[block.slots].copy()

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
        future's strike and ``is_call`` are ignored.
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
        spx = active & (kind == SPX_OPTION)
        vix_options = active & (kind == VIX_OPTION)
        futures = active & (kind == VIX_FUTURE)
        if spx.any():
            out = self.pricer.price(view, strike, is_call, expiry, spx)
        else:
            out = np.zeros(np.shape(strike))
        if vix_options.any():
            out += self._vix_pricer().option(view, strike, is_call, expiry, vix_options)
        if futures.any():
            out += self._vix_pricer().future_legs(view, expiry, futures)
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
        underlying = np.where(self.kind == SPX_OPTION, view.spot, view.vix)
        intrinsic = np.where(self.is_call, np.maximum(underlying - self.strike, 0.0),
                             np.maximum(self.strike - underlying, 0.0))
        future = self.kind == VIX_FUTURE
        price = np.where(future, underlying, intrinsic)
        pnl = np.where(due, self.quantity * (price - self.mark) * self.multiplier, 0.0)
        flow = np.where(future, pnl,
                        np.where(due, self.quantity * price * self.multiplier, 0.0))
        self.leg_pnl += pnl.sum(axis=0)
        self.cash += flow.sum(axis=0)
        self._record(view, due, "settle", "expiry", price, np.zeros(due.shape), flow)
        self.active &= ~due
        self.mark = np.where(due, 0.0, self.mark)
        self.quotes = np.where(due, 0.0, self.quotes)
        for block in self.blocks:
            if due[block.slots].any():
                self._update_margin(block)
        return due

    def mark_to_market(self, view) -> None:
        """Reprice all active legs at mid, settle futures' variation, roll the statistics."""
        if self.n_slots:
            if view.tick != self.quotes_tick:
                self.refresh_quotes(view)
            new_mark = np.where(self.active, self.quotes, 0.0)
            pnl = self.quantity * (new_mark - self.mark) * self.multiplier * self.active
            self.leg_pnl += pnl.sum(axis=0)
            futures = self.active & (self.kind == VIX_FUTURE)
            if futures.any():
                # Daily variation margin: a future's price change is paid in cash.
                self.cash += np.where(futures, pnl, 0.0).sum(axis=0)
            self.mark = new_mark
        equity = self.equity
        self.peak_equity = np.maximum(self.peak_equity, equity)
        self.max_drawdown = np.maximum(self.max_drawdown, self.peak_equity - equity)
        self.peak_margin = np.maximum(self.peak_margin, self.margin)

    def check_identity(self, tol: float = 1e-6) -> None:
        """Check ``equity = cash + marked value`` and the change of equity this tick.

        Raises
        ------
        AccountingError
            Naming the first failing path, the tick and the numbers involved.
        """
        equity = self.cash + self.marked_value
        change = equity - self.prev_equity
        explained = self.leg_pnl + self.carry - self.tick_costs
        scale = 1.0 + np.abs(equity)
        bad = np.abs(change - explained) > tol * scale
        if bad.any():
            p = int(np.flatnonzero(bad)[0])
            raise AccountingError(
                f"tick {self.tick}, path {p}: equity change {change[p]:.6f} $ != leg P&L "
                f"{self.leg_pnl[p]:.6f} + carry {self.carry[p]:.6f} - costs "
                f"{self.tick_costs[p]:.6f} = {explained[p]:.6f} $")
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
        s = block.slots
        if (self.active[s] & mask).any():
            raise RuntimeError(f"group {block.group} already holds legs on some masked paths")
        legs = np.broadcast_to(mask, (block.size, self.n_paths))
        price, flow, cost = self._open_legs(view, block, legs, strike, is_call, quantity,
                                            expiry, kind, reason)
        self.n_orders += mask
        self._update_margin(block)
        self._set_last_order(flow, cost)
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
        s = block.slots
        closing = self.active[s] & mask & self._leg_rows(block, legs)[:, None]
        flow, cost = self._reduce(view, block, closing, self.quantity[s].copy(), reason)
        self.n_orders += closing.any(axis=0)
        self._update_margin(block)
        return self._set_last_order(flow, cost)

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
        s = block.slots
        held = self.active[s] & mask
        qty = self.quantity[s]
        kept = np.where(scale >= 1.0, qty, np.trunc(qty * scale))
        closed = np.where(held, qty - kept, 0.0)
        trading = held & (closed != 0.0)
        flow, cost = self._reduce(view, block, trading, closed, reason)
        self.n_orders += trading.any(axis=0)
        self._update_margin(block)
        return self._set_last_order(flow, cost)

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
        if (mask & ~self.active[s][rows]).any():
            raise RuntimeError(f"group {block.group}: legs {rows.tolist()} must be active on "
                               "every masked path to be rolled")
        selected = np.zeros(block.size, dtype=bool)
        selected[rows] = True
        closing = self.active[s] & mask & selected[:, None]
        flow_close, cost_close = self._reduce(view, block, closing,
                                              self.quantity[s].copy(), reason)
        new_shape = (rows.size, self.n_paths)
        full_shape = (block.size, self.n_paths)
        new_quantity = np.broadcast_to(np.asarray(quantity, dtype=np.float64), new_shape)
        values = {"strike": np.zeros(full_shape), "is_call": np.zeros(full_shape, bool),
                  "quantity": np.zeros(full_shape), "expiry": np.zeros(full_shape, np.int64),
                  "kind": np.zeros(full_shape, np.int8)}
        values["strike"][rows] = np.broadcast_to(np.asarray(strike, np.float64), new_shape)
        values["is_call"][rows] = _per_leg(is_call, new_shape, np.bool_)
        values["quantity"][rows] = new_quantity
        values["expiry"][rows] = np.broadcast_to(np.asarray(expiry, np.int64), new_shape)
        values["kind"][rows] = _per_leg(kind, new_shape, np.int8)
        opening = np.zeros(full_shape, dtype=bool)
        opening[rows] = mask
        price, flow_open, cost_open = self._open_legs(
            view, block, opening, values["strike"], values["is_call"], values["quantity"],
            values["expiry"], values["kind"], reason)
        self.n_orders += mask
        self._update_margin(block)
        self._set_last_order(flow_close + flow_open, cost_close + cost_open)
        return price[rows]

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
        path = np.flatnonzero(mask)
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
    def _open_legs(self, view, block, legs, strike, is_call, quantity, expiry, kind,
                   reason) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open the block's legs where ``legs`` (``(n_legs, n_paths)`` bool) is set.

        Every leg in ``legs`` is priced; those with quantity 0 are not opened.
        Returns the trade prices, the cash flows and the costs, each
        ``(n_legs, n_paths)``. Margin and order counts are left to the caller.
        """
        s = block.slots
        shape = (block.size, self.n_paths)
        kind = _per_leg(kind, shape, np.int8)
        _check_kinds(kind[legs])
        future = kind == VIX_FUTURE
        strike = np.where(future, 0.0, np.broadcast_to(np.asarray(strike, np.float64), shape))
        is_call = _per_leg(is_call, shape, np.bool_) & ~future
        expiry = np.broadcast_to(np.asarray(expiry, dtype=np.int64), shape)
        quantity = np.broadcast_to(np.asarray(quantity, dtype=np.float64), shape)
        multiplier = MULTIPLIERS[np.clip(kind, 0, None)]
        price = self._price(view, strike, is_call, expiry, legs, kind)
        legs = legs & (quantity != 0.0)
        self.kind[s] = np.where(legs, kind, self.kind[s])
        self.multiplier[s] = np.where(legs, multiplier, self.multiplier[s])
        self.strike[s] = np.where(legs, strike, self.strike[s])
        self.is_call[s] = np.where(legs, is_call, self.is_call[s])
        self.expiry[s] = np.where(legs, expiry, self.expiry[s])
        self.quantity[s] = np.where(legs, quantity, self.quantity[s])
        self.entry_price[s] = np.where(legs, price, self.entry_price[s])
        self.mark[s] = np.where(legs, price, self.mark[s])
        self.quotes[s] = np.where(legs, price, self.quotes[s])
        self.position_id[s] = np.where(legs, self.next_position_id, self.position_id[s])
        self.next_position_id += 1
        self.active[s] |= legs
        cost = self._trade_cost(view, price, quantity, legs, kind)
        # A future pays no premium: its value is settled daily into cash.
        premium = PREMIUM_MULTIPLIERS[np.clip(kind, 0, None)]
        flow = np.where(legs, -quantity * price * premium, 0.0) - cost
        self.cash += flow.sum(axis=0)
        self._charge(cost)
        self._record(view, self._full(block, legs), "open", reason,
                     self._full(block, price), self._full(block, cost),
                     self._full(block, flow))
        return price, flow, cost

    def _reduce(self, view, block, legs, closed, reason) -> tuple[np.ndarray, np.ndarray]:
        """Close ``closed`` contracts (signed as held) of the block's legs where ``legs`` is set.

        Each traded leg is first marked to its trade price (its leg P&L; for a
        future also its last variation margin, into cash), then the closed
        part is sold at mid plus costs. Returns cash flows and costs,
        ``(n_legs, n_paths)``. Margin and order counts are left to the caller.
        """
        s = block.slots
        price = self.quote(view, block)
        qty = self.quantity[s]
        multiplier = self.multiplier[s]
        future = self.kind[s] == VIX_FUTURE
        pnl = np.where(legs, qty * (price - self.mark[s]) * multiplier, 0.0)
        self.leg_pnl += pnl.sum(axis=0)
        self.mark[s] = np.where(legs, price, self.mark[s])
        cost = self._trade_cost(view, price, closed, legs, self.kind[s])
        flow = np.where(legs, np.where(future, pnl, closed * price * multiplier), 0.0) - cost
        self.cash += flow.sum(axis=0)
        self._charge(cost)
        self._record(view, self._full(block, legs), "close", reason,
                     self._full(block, price), self._full(block, cost),
                     self._full(block, flow), quantity=self._full(block, closed))
        remaining = np.where(legs, qty - closed, qty)
        done = legs & (remaining == 0.0)
        self.quantity[s] = remaining
        self.active[s] &= ~done
        self.mark[s] = np.where(done, 0.0, self.mark[s])
        self.quotes[s] = np.where(done, 0.0, self.quotes[s])
        return flow, cost

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

    def _trade_cost(self, view, price, quantity, legs, kind) -> np.ndarray:
        return np.where(legs, np.abs(quantity) * self.unit_cost(view, price, kind), 0.0)

    def _charge(self, cost: np.ndarray) -> None:
        paid = cost.sum(axis=0)
        self.tick_costs += paid
        self.total_costs += paid

    def _set_last_order(self, flow: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """Store the order's per-path dollars in ``last_order``; return its flow."""
        self.last_order = OrderFlow(flow=flow.sum(axis=0), cost=cost.sum(axis=0))
        return self.last_order.flow.copy()

    def _full(self, block: SlotBlock, values: np.ndarray) -> np.ndarray:
        """Embed a block's ``(n_legs, n_paths)`` array into ``(n_slots, n_paths)``."""
        out = np.zeros((self.n_slots, self.n_paths), dtype=values.dtype)
        out[block.slots] = values
        return out

    def _update_margin(self, block: SlotBlock) -> None:
        s = block.slots
        margin = group_margin(self.strike[s], self.is_call[s], self.quantity[s],
                              self.entry_price[s], self.kind[s], self.active[s],
                              self.vix_spec)
        if np.isinf(margin).any():
            p = int(np.flatnonzero(np.isinf(margin))[0])
            raise UncoveredShortError(
                f"group {block.group}, path {p}: short calls exceed long calls on one "
                "underlying; the loss would be unbounded")
        self.group_margin[block.group] = margin
        self.peak_margin = np.maximum(self.peak_margin, self.margin)

    def _record(self, view, legs, action, reason, price, cost, flow, quantity=None) -> None:
        if not legs.any():
            return
        slot, path = np.nonzero(legs)
        held = self.quantity if quantity is None else quantity
        self.ledger.append(
            tick=view.tick, date=view.day, path=path, slot=slot,
            position_id=self.position_id[slot, path], action=action, reason=reason,
            is_call=self.is_call[slot, path], strike=self.strike[slot, path],
            expiry=self.expiry[slot, path], quantity=held[slot, path],
            price=price[slot, path], cost=cost[slot, path], cash_flow=flow[slot, path],
            instrument=_LEDGER_NAMES[self.kind[slot, path]])


@njit(cache=True)
def _group_max_loss_kernel(active, is_call, strike, quantity, entry_price, multiplier, out):
    """Max loss from entry (dollars) of each path's group of legs on one underlying.

    The settlement value of the legs is piecewise linear in the underlying's
    level, so its minimum over levels >= 0 sits at 0, at a strike, or at
    infinity (where it is unbounded below if short calls exceed long calls).
    """
    n_legs, n_paths = strike.shape
    for j in range(n_paths):
        premium = 0.0
        call_slope = 0.0
        any_leg = False
        for i in range(n_legs):
            if active[i, j]:
                any_leg = True
                premium += quantity[i, j] * entry_price[i, j]
                if is_call[i, j]:
                    call_slope += quantity[i, j]
        if not any_leg:
            out[j] = 0.0
            continue
        if call_slope < -1e-12:
            out[j] = np.inf
            continue
        worst = np.inf
        for c in range(-1, n_legs):
            if c >= 0 and not active[c, j]:
                continue
            level = 0.0 if c < 0 else strike[c, j]
            value = 0.0
            for i in range(n_legs):
                if active[i, j]:
                    if is_call[i, j]:
                        value += quantity[i, j] * max(level - strike[i, j], 0.0)
                    else:
                        value += quantity[i, j] * max(strike[i, j] - level, 0.0)
            worst = min(worst, value)
        out[j] = max(0.0, (premium - worst) * multiplier)
