"""The book: vectorized positions, cash, marks, margin, costs and the trade ledger.

Positions are a struct of arrays of shape ``(n_slots, n_paths)``: each agent
reserves a block of slots (a *group*, e.g. the four legs of a condor) and
opens, closes or lets expire the legs of that block on a masked set of paths.

Accounting, in dollars, per path:

- ``cash`` earns the risk-free rate over calendar days
  (``carry = cash * (exp(r * days / 365) - 1)``), pays premiums, costs and
  receives settlements.
- ``marked_value = sum(quantity * mark * multiplier)`` over active legs, at
  mid prices.
- ``equity = cash + marked_value``.
- Every trade is done at mid and pays ``cost = |quantity| * (half_spread *
  multiplier + commission)``; the half spread follows
  :class:`sim.config.CostModel`.
- Leg P&L of a tick is ``quantity * multiplier * (new price - old price)`` for
  every leg, where a leg opened this tick starts at its trade price and a
  leg closed or settled ends at its exit price.

The identity ``equity_t - equity_{t-1} = leg_pnl + carry - costs`` is checked
by :meth:`Book.check_identity`; the two sides are computed by separate code
(cash flows on one side, price changes on the other), so a bookkeeping slip
shows up as a violation naming the path and tick.

Margin of a group is its maximum loss from entry: the net premium paid at
entry plus the worst settlement value of its legs over all SPX levels
(defined-risk spreads hold their max loss, long options their premium).
``quick_ratio = cash / margin``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.config import CostModel
from sim.instruments import SPX_MULTIPLIER, SpxPricer
from sim.ledger import Ledger


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
    """

    def __init__(self, n_paths: int, initial_cash: float, pricer: SpxPricer,
                 costs: CostModel, ledger: Ledger | None = None) -> None:
        self.n_paths = n_paths
        self.pricer = pricer
        self.rate = pricer.rate
        self.costs = costs
        self.ledger = ledger if ledger is not None else Ledger()
        self.initial_cash = float(initial_cash)
        self.cash = np.full(n_paths, self.initial_cash)
        self.blocks: list[SlotBlock] = []
        self._alloc_slots(0)
        self.group_margin = np.zeros((0, n_paths))
        self.next_position_id = 0
        self.n_orders = np.zeros(n_paths, dtype=np.int64)
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
        """Mid value of all active legs, dollars per path."""
        return (self.quantity * self.mark * self.active).sum(axis=0) * SPX_MULTIPLIER

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

    def quote(self, view, block: SlotBlock) -> np.ndarray:
        """Mid prices now (index points) of the block's active legs, ``(n_legs, n_paths)``.

        Every active leg is priced once per tick, after settlement
        (:meth:`refresh_quotes`); a leg opened since is quoted at its trade
        price, which is its mid price at this tick.
        """
        if view.tick != self.quotes_tick:
            self.refresh_quotes(view)
        return self.quotes[block.slots].copy()

    def refresh_quotes(self, view) -> None:
        """Price every active leg at mid at this tick's market state."""
        self.quotes = self.pricer.price(view, self.strike, self.is_call, self.expiry,
                                        self.active)
        self.quotes_tick = view.tick

    def quote_new(self, view, strike: np.ndarray, is_call: np.ndarray,
                  expiry: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Mid prices (index points) of legs not yet held, ``(n_legs, n_paths)``.

        Only paths in ``mask`` (all if omitted) are priced; the others get 0.
        """
        shape = np.shape(strike)
        active = np.ones(shape, dtype=bool) if mask is None else np.broadcast_to(mask, shape)
        is_call = np.broadcast_to(np.asarray(is_call, dtype=bool).reshape(shape[0], -1), shape)
        expiry = np.broadcast_to(np.asarray(expiry, dtype=np.int64), shape)
        return self.pricer.price(view, strike, is_call, expiry, active)

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
        """Cash-settle every leg whose expiry date has come, at today's spot.

        Returns
        -------
        ndarray of bool, shape (n_slots, n_paths)
            The legs settled now.
        """
        due = self.active & (self.expiry <= view.day)
        if not due.any():
            return due
        spot = np.broadcast_to(view.spot, due.shape)
        intrinsic = np.where(self.is_call, np.maximum(spot - self.strike, 0.0),
                             np.maximum(self.strike - spot, 0.0))
        flow = np.where(due, self.quantity * intrinsic * SPX_MULTIPLIER, 0.0)
        self.leg_pnl += np.where(due, self.quantity * (intrinsic - self.mark), 0.0).sum(
            axis=0) * SPX_MULTIPLIER
        self.cash += flow.sum(axis=0)
        self._record(view, due, "settle", "expiry", intrinsic, np.zeros(due.shape), flow)
        self.active &= ~due
        self.mark = np.where(due, 0.0, self.mark)
        self.quotes = np.where(due, 0.0, self.quotes)
        for block in self.blocks:
            if due[block.slots].any():
                self._update_margin(block)
        return due

    def mark_to_market(self, view) -> None:
        """Reprice all active legs at mid and roll the tick's P&L and statistics."""
        if self.n_slots:
            if view.tick != self.quotes_tick:
                self.refresh_quotes(view)
            new_mark = np.where(self.active, self.quotes, 0.0)
            self.leg_pnl += (self.quantity * (new_mark - self.mark) * self.active).sum(
                axis=0) * SPX_MULTIPLIER
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
             reason: str) -> np.ndarray:
        """Open the legs of a block on the masked paths, at mid plus costs.

        Parameters
        ----------
        view : MarketView
        block : SlotBlock
            Must be flat on the masked paths.
        mask : ndarray of bool, shape (n_paths,)
        strike : ndarray, shape (n_legs, n_paths)
            Index points.
        is_call : ndarray of bool, shape (n_legs,) or (n_legs, n_paths)
        quantity : ndarray, shape (n_legs, n_paths)
            Signed contracts (negative = short).
        expiry : ndarray of int64, shape (n_paths,) or (n_legs, n_paths)
            Days since 1970-01-01.
        reason : str
            Why, for the ledger.

        Returns
        -------
        ndarray, shape (n_legs, n_paths)
            Trade prices (mid, index points); zero off the mask.
        """
        s = block.slots
        if (self.active[s] & mask).any():
            raise RuntimeError(f"group {block.group} already holds legs on some masked paths")
        shape = (block.size, self.n_paths)
        legs = np.broadcast_to(mask, shape)
        is_call = np.broadcast_to(np.asarray(is_call, dtype=bool).reshape(block.size, -1),
                                  shape)
        expiry = np.broadcast_to(np.asarray(expiry, dtype=np.int64), shape)
        price = self.quote_new(view, strike, is_call, expiry, mask)
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
        cost = self._trade_cost(view, price, quantity, legs)
        flow = np.where(legs, -quantity * price * SPX_MULTIPLIER, 0.0) - cost
        self.cash += flow.sum(axis=0)
        self._charge(cost)
        self.n_orders += mask
        self._record(view, self._full(block, legs), "open", reason,
                     self._full(block, price), self._full(block, cost),
                     self._full(block, flow))
        self._update_margin(block)
        return price

    def close(self, view, block: SlotBlock, mask: np.ndarray, reason: str) -> np.ndarray:
        """Close every active leg of a block on the masked paths, at mid plus costs.

        Returns
        -------
        ndarray, shape (n_paths,)
            Dollars received for the closing order (negative if paid), costs included.
        """
        s = block.slots
        legs = self.active[s] & mask
        price = self.quote(view, block)
        qty = self.quantity[s]
        self.leg_pnl += np.where(legs, qty * (price - self.mark[s]), 0.0).sum(
            axis=0) * SPX_MULTIPLIER
        cost = self._trade_cost(view, price, qty, legs)
        flow = np.where(legs, qty * price * SPX_MULTIPLIER, 0.0) - cost
        order_flow = flow.sum(axis=0)
        self.cash += order_flow
        self._charge(cost)
        self.n_orders += legs.any(axis=0)
        self._record(view, self._full(block, legs), "close", reason,
                     self._full(block, price), self._full(block, cost),
                     self._full(block, flow))
        self.active[s] &= ~legs
        self.mark[s] = np.where(legs, 0.0, self.mark[s])
        self.quotes[s] = np.where(legs, 0.0, self.quotes[s])
        self._update_margin(block)
        return order_flow

    # --------------------------------------------------------------- helpers
    def _trade_cost(self, view, price, quantity, legs) -> np.ndarray:
        half = self.half_spread(price, view.vix)
        per_contract = half * SPX_MULTIPLIER + self.costs.commission
        return np.where(legs, np.abs(quantity) * per_contract, 0.0)

    def _charge(self, cost: np.ndarray) -> None:
        paid = cost.sum(axis=0)
        self.tick_costs += paid
        self.total_costs += paid

    def _full(self, block: SlotBlock, values: np.ndarray) -> np.ndarray:
        """Embed a block's ``(n_legs, n_paths)`` array into ``(n_slots, n_paths)``."""
        out = np.zeros((self.n_slots, self.n_paths), dtype=values.dtype)
        out[block.slots] = values
        return out

    def _update_margin(self, block: SlotBlock) -> None:
        s = block.slots
        margin = np.zeros(self.n_paths)
        _group_max_loss_kernel(self.active[s], self.is_call[s], self.strike[s],
                               self.quantity[s], self.entry_price[s], SPX_MULTIPLIER,
                               margin)
        if np.isinf(margin).any():
            p = int(np.flatnonzero(np.isinf(margin))[0])
            raise UncoveredShortError(
                f"group {block.group}, path {p}: short calls exceed long calls; "
                "the loss would be unbounded")
        self.group_margin[block.group] = margin
        self.peak_margin = np.maximum(self.peak_margin, self.margin)

    def _record(self, view, legs, action, reason, price, cost, flow) -> None:
        if not legs.any():
            return
        slot, path = np.nonzero(legs)
        self.ledger.append(
            tick=view.tick, date=view.day, path=path, slot=slot,
            position_id=self.position_id[slot, path], action=action, reason=reason,
            is_call=self.is_call[slot, path], strike=self.strike[slot, path],
            expiry=self.expiry[slot, path], quantity=self.quantity[slot, path],
            price=price[slot, path], cost=cost[slot, path], cash_flow=flow[slot, path])


@njit(cache=True)
def _group_max_loss_kernel(active, is_call, strike, quantity, entry_price, multiplier, out):
    """Max loss from entry (dollars) of each path's group of legs on one underlying.

    The settlement value of the legs is piecewise linear in the SPX level,
    so its minimum over S >= 0 sits at S = 0, at a strike, or at infinity
    (where it is unbounded below if short calls exceed long calls).
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
