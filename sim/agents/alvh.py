"""The Adaptive Layered VIX Hedge (ALVH) agent: a state machine per path, vectorized.

The hedge agent follows the condor through the bus (``condor.opened``,
``condor.tested``, ``condor.rolled``, ``condor.resized``, ``condor.closed``,
on one ordered subscription; it never imports the
condor agent) and acts in the ``hedge`` phase of every tick, after the
condor's trades of that tick. For each layer of its :class:`sim.policy.Policy`,
on all paths at once:

1. **Signals and triggers.** The signals its conditions name are read (market
   signals from the batch's signal table; ``strike_distance``, ``strike_drift``
   and ``short_delta`` from the condor it follows; registered Python signals),
   each condition's hysteresis state is updated (on at ``on``, off only past
   ``off``), and the trigger combines them (all, any, or a weighted score with
   its own on/off levels).
2. **Exits** of an open layer, in this order: the condor closed (if
   ``close_with_condor``), profit target (gain >= ``profit_target`` x the
   layer's max loss at entry), VIX back under its entry level less
   ``vix_unwind_margin``, the trigger cleared (``unwind_on_clear``), and
   time: at ``roll_dte`` days to its first leg's expiry the layer is rolled to
   a new expiry if its trigger still holds and the layers it requires are
   open (*time shifting*), else closed.
3. **Size shrink** (policy ``[shrink]``): once per condor, when realized vol
   exceeds implied by the margin, publish ``condor.shrink`` (payload
   ``scale``) for the condor to cut its size.
4. **Openings**, in layer order: a closed layer whose trigger is on opens on
   paths where the condor is open, the layer is *armed* (its trigger has been
   off since the layer last closed, or a new condor has opened since: no
   re-entry while the same signal stays on), and every layer it requires is
   open (a ``leverage`` layer requires the policy's first ``base`` layer).
   Units = ``size`` x basis (see :class:`sim.policy.LayerSpec`), then cut to
   what the hedge budget leaves (cumulative spend <= ``max_share`` x premium
   collected) and to what keeps the quick ratio (cash / margin) at or above
   its floor after the trade; cuts and skips are written to the ledger
   (``action = "skip"``).

Bus events published: ``hedge.opened`` and ``hedge.closed`` (payload
``layer``, and ``reason`` for closes), ``condor.shrink``.

Per-path statistics: ``hedge_spend`` ($, premium paid on hedge openings plus
their costs), ``hedge_budget_base`` ($, condor premium collected as the hedge
agent counts it), ``shrink_requests``, and per layer ``layer_<name>_opens``,
``layer_<name>_rolls``, ``layer_<name>_ticks`` (ticks held) and
``layer_<name>_cuts`` (openings cut by the budget or liquidity, and
episodes in which they skipped the layer: a skip is recorded once, not on
every tick the trigger stays on without room).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.book import unit_cost_one
from sim.engine import Agent, Context
from sim.instruments import (
    DAYS_PER_YEAR,
    MULTIPLIERS,
    PREMIUM_MULTIPLIERS,
    SPX_MULTIPLIER,
    SPX_OPTION,
    SPX_STRIKE_STEP,
    VIX_FUTURE,
    VIX_OPTION,
    VIX_STRIKE_STEP,
    kernel_array,
    nan_max,
)
from sim.market.indicators import drift_to_strike
from sim.market.term_structure import vix_expiries_after, vix_index_for
from sim.policy import (
    MARKET_SIGNALS,
    SIGNAL_REGISTRY,
    Condition,
    LayerSpec,
    Policy,
    Trigger,
)

#: Ticks over which ``strike_drift`` measures the change of ``strike_distance``.
DRIFT_WINDOW = 5
#: Legs per instrument.
LEGS = {"vix_call": 1, "vix_call_spread": 2, "vix_future_spread": 2, "spx_put_spread": 2,
        "spx_credit_spread": 2}
#: Safety margin on the liquidity bound, so rounding never crosses the floor.
_LIQUIDITY_EPS = 1e-9
#: Reasons a layer is closed, in the order they are tried (codes 1, 2, ...).
_EXIT_REASONS = ("condor_closed", "profit_target", "vix_unwind", "signal_cleared",
                 "expiry_near", "roll")


@dataclass
class CondorState:
    """What the hedge agent knows of the condor on every path, from bus events.

    Strikes in index points, ``credit`` in index points per contract (net,
    at entry), ``expiry`` in days since 1970-01-01.
    """

    is_open: np.ndarray
    short_put: np.ndarray
    short_call: np.ndarray
    long_put: np.ndarray
    long_call: np.ndarray
    credit: np.ndarray
    contracts: np.ndarray
    expiry: np.ndarray
    tested: np.ndarray

    @classmethod
    def flat(cls, n: int) -> CondorState:
        """No condor on any of ``n`` paths."""
        z = np.zeros(n)
        return cls(np.zeros(n, dtype=bool), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(),
                   z.copy(), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))


@dataclass
class _Order:
    """One unit of a layer's instrument on every path, and what it costs."""

    strike: np.ndarray       # (n_legs, n_paths) index points
    is_call: np.ndarray      # (n_legs, n_paths)
    sign: np.ndarray         # (n_legs,) +1 long, -1 short
    kind: np.ndarray         # (n_legs,) instrument kinds
    expiry: np.ndarray       # (n_legs, n_paths) days
    ok: np.ndarray           # (n_paths,) where the order can be built

    def take(self, at: np.ndarray) -> _Order:
        """The order on some of its paths (column indices ``at``)."""
        return _Order(strike=self.strike[:, at], is_call=self.is_call[:, at], sign=self.sign,
                      kind=self.kind, expiry=self.expiry[:, at], ok=self.ok[at])


class HedgeAgent(Agent):
    """Runs the layers of one policy on every path of the batch.

    Parameters
    ----------
    ctx : Context
    policy : Policy
    """

    def __init__(self, ctx: Context, policy: Policy) -> None:
        self.policy = policy
        book = ctx.book
        n = book.n_paths
        self.n = n
        self.condor = CondorState.flat(n)
        self.blocks = [book.reserve(LEGS[layer.instrument]) for layer in policy.layers]
        self.layer_index = {layer.name: i for i, layer in enumerate(policy.layers)}
        self.required = [self._requirements(i, layer) for i, layer in enumerate(policy.layers)]
        n_layers = len(policy.layers)
        self.condition_on = [np.zeros((len(layer.trigger.conditions), n), dtype=bool)
                             for layer in policy.layers]
        self.trigger_on = np.zeros((n_layers, n), dtype=bool)
        self.armed = np.ones((n_layers, n), dtype=bool)
        self.refused = np.zeros((n_layers, n), dtype=bool)
        self.entry_vix = np.zeros((n_layers, n))
        self.entry_risk = np.zeros((n_layers, n))
        self.expiry = np.zeros((n_layers, n), dtype=np.int64)
        self.opens = np.zeros((n_layers, n), dtype=np.int64)
        self.rolls = np.zeros((n_layers, n), dtype=np.int64)
        self.ticks_open = np.zeros((n_layers, n), dtype=np.int64)
        self.cuts = np.zeros((n_layers, n), dtype=np.int64)
        self.spend = np.zeros(n)
        self.budget_base = np.zeros(n)
        self.shrunk = np.zeros(n, dtype=bool)
        self.shrink_requests = np.zeros(n, dtype=np.int64)
        # Ring buffer of the last DRIFT_WINDOW + 1 strike distances; row
        # ``_history_newest`` is this tick's.
        self._distance_history = np.full((DRIFT_WINDOW + 1, n), np.nan)
        self._history_newest = DRIFT_WINDOW
        self._signal_cache: dict[str, np.ndarray] = {}
        self._whole_view = None
        self._expiry_cache: dict[tuple[int, str], tuple[int, ...] | None] = {}
        self._min_unit_spend = [_min_unit_spend(book.costs, layer) for layer in policy.layers]
        # Score triggers whose weighted sums are exact in any order are summed in
        # a kernel (the same numbers as numpy's product); the others by numpy.
        self._score_weights = [_exact_weights(layer.trigger) for layer in policy.layers]
        read = {cond.signal for layer in policy.layers for cond in layer.trigger.conditions}
        self._tracks_drift = "strike_drift" in read
        # Which condor signals the triggers read every tick: both are computed in
        # one pass over the open condors when the first of them is asked for.
        self._reads_distance = bool(read & {"strike_distance", "strike_drift"})
        self._reads_delta = "short_delta" in read
        super().__init__(ctx)
        # One queue for all condor channels, so events are seen in publication order.
        ctx.env.process(self._follow(ctx.bus.subscribe(
            "condor.opened", "condor.tested", "condor.rolled", "condor.resized",
            "condor.closed")))

    def _requirements(self, i: int, layer: LayerSpec) -> list[int]:
        needed = [self.layer_index[name] for name in layer.requires]
        if layer.role == "leverage":
            base = next(j for j, other in enumerate(self.policy.layers[:i])
                        if other.role == "base")
            needed.append(base)
        return sorted(set(needed))

    # ------------------------------------------------------------- condor
    def _follow(self, queue):
        """SimPy process: keep :attr:`condor` in step with the condor's events."""
        state = self.condor
        while True:
            event = yield queue.get()
            channel, mask, payload = event.name, event.mask, event.payload
            if channel == "condor.closed":
                state.is_open &= ~mask
                state.tested &= ~mask
                continue
            if channel == "condor.tested":
                state.tested |= mask
                continue
            if channel == "condor.resized":
                state.contracts = np.where(mask, payload["contracts"], state.contracts)
                continue
            for name in ("short_put", "short_call", "long_put", "long_call", "credit",
                         "contracts", "expiry"):
                if name in payload:
                    value = np.broadcast_to(payload[name], mask.shape)
                    setattr(state, name, np.where(mask, value, getattr(state, name)))
            self._distance_history[:, mask] = np.nan
            if channel == "condor.opened":
                state.is_open |= mask
                state.tested &= ~mask
                credit = np.broadcast_to(payload["credit"], mask.shape)
                contracts = np.broadcast_to(payload["contracts"], mask.shape)
                self.budget_base += np.where(mask, credit * contracts * SPX_MULTIPLIER, 0.0)
                self.armed[:, mask] = True
                self.refused[:, mask] = False
                self.shrunk &= ~mask

    # -------------------------------------------------------------- ticks
    def run(self):
        """Each hedge phase: signals, triggers, exits, shrink, openings."""
        clock = self.ctx.clock
        while True:
            view = yield clock.phase("hedge")
            self._whole_view = view
            self._signal_cache = {}
            self._update_distance_history(view)
            self._update_triggers(view)
            for i in range(len(self.policy.layers)):
                self._manage(view, i)
            self._shrink(view)
            if not view.is_last:
                for i in range(len(self.policy.layers)):
                    self._open(view, i, self._candidates(i), "open")
            for i, block in enumerate(self.blocks):
                self.ticks_open[i] += ~self.ctx.book.is_flat(block)

    # ------------------------------------------------------------ signals
    def signal(self, view, name: str) -> np.ndarray:
        """Value of a trigger signal on every path this tick (see ``sim.policy``)."""
        if name in self._signal_cache:
            return self._signal_cache[name]
        if name in MARKET_SIGNALS:
            value = view.signal(name)
        elif name == "vix":
            value = view.vix
        elif name == "days_to_event":
            value = np.full(self.n, float(view.days_to_event))
        elif name == "strike_distance":
            value = np.fmin(*self._distances(view))
        elif name == "strike_drift":
            value = self._strike_drift()
        elif name == "short_delta":
            value = self._short_delta(view)
        elif name == "condor_tested":
            value = np.where(self.condor.is_open, self.condor.tested.astype(float), np.nan)
        else:
            function = SIGNAL_REGISTRY.get(name)
            if function is None:
                raise LookupError(
                    f"policy {self.policy.name!r} reads signal {name!r}, which is not "
                    f"registered in this process (pid {os.getpid()}): worker processes "
                    "(backends 'processes' and 'dask') see only the signals registered "
                    "when a module they import is imported; register it at the top level "
                    "of such a module, or run with backend 'serial'")
            value = function(view, self.condor)
        value = np.asarray(value, dtype=np.float64)
        self._signal_cache[name] = value
        return value

    def _distances(self, view) -> tuple[np.ndarray, np.ndarray]:
        """Distance of SPX to the short put and the short call, ATM stdevs (NaN if flat)."""
        if "_put_distance" not in self._signal_cache:
            self._condor_signals(view, distance=True, delta=self._reads_delta)
        return self._signal_cache["_put_distance"], self._signal_cache["_call_distance"]

    def _short_delta(self, view) -> np.ndarray:
        if "_short_delta" not in self._signal_cache:
            self._condor_signals(view, distance=self._reads_distance, delta=True)
        return self._signal_cache["_short_delta"]

    def _condor_signals(self, view, distance: bool, delta: bool) -> None:
        """Strike distances and short-leg delta on the paths with an open condor, cached.

        ``distance``: ``drift_to_strike`` of each short strike at the ATM vol
        to expiry (``T = max(dte, 1) / 365``); ``delta``: the larger absolute
        Black-Scholes delta of the two short legs at their smile vols. Both
        come from one pricing pass over the open paths only; NaN elsewhere.
        """
        c = self.condor
        live = np.flatnonzero(c.is_open)
        sub = view.take(live)
        expiry = c.expiry[live]
        short_put, short_call = c.short_put[live], c.short_call[live]
        atm, put_delta, call_delta = self.ctx.book.pricer.short_strike_signals(
            sub, expiry, short_put, short_call, need_atm=distance, need_delta=delta)
        if distance:
            T = np.maximum(expiry - view.day, 1) / DAYS_PER_YEAR
            put = np.full(self.n, np.nan)
            call = np.full(self.n, np.nan)
            put[live] = drift_to_strike(sub.spot, short_put, atm, T)
            call[live] = drift_to_strike(sub.spot, short_call, atm, T, is_call=True)
            self._signal_cache["_put_distance"] = put
            self._signal_cache["_call_distance"] = call
        if delta:
            short_delta = np.full(self.n, np.nan)
            short_delta[live] = np.fmax(put_delta, call_delta)
            self._signal_cache["_short_delta"] = short_delta

    def _update_distance_history(self, view) -> None:
        if not self._tracks_drift:
            return
        self._history_newest = (self._history_newest + 1) % (DRIFT_WINDOW + 1)
        self._distance_history[self._history_newest] = np.fmin(*self._distances(view))

    def _strike_drift(self) -> np.ndarray:
        """Change of the strike distance over the last DRIFT_WINDOW ticks."""
        oldest = (self._history_newest + 1) % (DRIFT_WINDOW + 1)
        history = self._distance_history
        return history[self._history_newest] - history[oldest]

    def _update_triggers(self, view) -> None:
        for i, layer in enumerate(self.policy.layers):
            trigger = layer.trigger
            if not trigger.enabled or not trigger.conditions:
                self.trigger_on[i] = False
                continue
            states = self.condition_on[i]
            for j, cond in enumerate(trigger.conditions):
                # condition_state, in place and in one pass.
                _hysteresis_kernel(states[j], self.signal(view, cond.signal), cond.op == ">",
                                   float(cond.on), float(cond.off_level))
            if trigger.mode == "score":
                weights = self._score_weights[i]
                if weights is None:
                    self.trigger_on[i] = trigger_state(self.trigger_on[i], states, trigger)
                else:
                    _score_kernel(states, weights, float(weights.sum()),
                                  float(trigger.clear_level), float(trigger.threshold),
                                  self.trigger_on[i])
            else:
                _combine_kernel(states, trigger.mode == "all", self.trigger_on[i])
            _rearm_kernel(self.trigger_on[i], self.armed[i], self.refused[i])

    # -------------------------------------------------------------- exits
    def _manage(self, view, i: int) -> None:
        """Exits of layer ``i``, in order: condor closed, profit target, VIX unwind,
        trigger cleared; then time (roll or close near expiry).

        Every exit is decided on the state before any of them is traded (one
        pass over the paths); each path leaves by its first exit.
        """
        layer = self.policy.layers[i]
        book = self.ctx.book
        block = self.blocks[i]
        if layer.profit_target > 0:
            book.ensure_quotes(view)
        reason = np.empty(self.n, dtype=np.int8)
        if not _layer_exit_kernel(
                block.start, block.stop, book.active, book.quotes, book.quantity,
                book.entry_price, book.kind, MULTIPLIERS, self.condor.is_open,
                self.entry_risk[i], self.entry_vix[i], np.asarray(view.vix, dtype=np.float64),
                self.trigger_on[i], self.expiry[i], int(view.day),
                bool(self.policy.close_with_condor), float(layer.profit_target),
                bool(layer.unwind_vix_below_entry), float(layer.vix_unwind_margin),
                bool(layer.unwind_on_clear), int(layer.roll_dte), bool(view.is_last), reason):
            return
        for code, name in enumerate(_EXIT_REASONS, start=1):
            mask = reason == code
            if mask.any():
                self._close(view, i, mask, name)
                if name == "roll":
                    # A layer rolls only where the layers it requires are open
                    # (a leverage layer never outlives its base layer's episode);
                    # elsewhere the roll is a close.
                    for j in self.required[i]:
                        mask = mask & ~book.is_flat(self.blocks[j])
                    if mask.any():
                        self.rolls[i] += self._open(view, i, mask, "roll")

    def _gain(self, view, i: int, live: np.ndarray) -> np.ndarray:
        """Dollars the layer's legs have gained since they were opened (at mid), on ``live``."""
        book = self.ctx.book
        block = self.blocks[i]
        paths = np.flatnonzero(live)
        rows = block.slots
        price = book.quote_at(view, block, paths)
        multiplier = MULTIPLIERS[book.kind[rows, paths]]
        held = book.active[rows, paths]
        gain = np.zeros(self.n)
        gain[paths] = (np.where(held, book.quantity[rows, paths]
                                * (price - book.entry_price[rows, paths]), 0.0)
                       * multiplier).sum(axis=0)
        return gain

    def _close(self, view, i: int, mask: np.ndarray, reason: str) -> None:
        if not mask.any():
            return
        name = self.policy.layers[i].name
        self.ctx.book.close(view, self.blocks[i], mask, f"{name} {reason}")
        self.ctx.bus.publish("hedge.closed", view.tick, mask, layer=name, reason=reason)

    # ------------------------------------------------------------- shrink
    def _shrink(self, view) -> None:
        spec = self.policy.shrink
        if not spec.enabled:
            return
        with np.errstate(invalid="ignore"):
            hot = self.signal(view, "rv_iv_ratio") >= 1.0 + spec.margin
        ask = self.condor.is_open & ~self.shrunk & hot
        if ask.any():
            self.shrunk |= ask
            self.shrink_requests += ask
            self.ctx.bus.publish("condor.shrink", view.tick, ask,
                                 scale=np.full(self.n, spec.keep))

    # ----------------------------------------------------------- openings
    def _candidates(self, i: int) -> np.ndarray:
        book = self.ctx.book
        ready = (self.condor.is_open & self.trigger_on[i] & self.armed[i]
                 & book.is_flat(self.blocks[i]))
        for j in self.required[i]:
            ready &= ~book.is_flat(self.blocks[j])
        return ready

    def _open(self, view, i: int, mask: np.ndarray, reason: str) -> np.ndarray:
        """Open layer ``i`` on the masked paths, sized and capped; returns where it opened.

        The work runs on the masked paths only (gathered), so its cost follows
        the number of candidates, not the batch. Paths already refused this
        episode where nothing can change are left out: no order is built
        where the budget room is below the least one unit can cost (the
        costs of its legs at the narrowest spread, ``_min_unit_spend``), and
        the layer's size (which may reprice the condor) is not found where
        the budget or the liquidity floor still leaves no room for a unit.
        In both cases the layer stays refused and nothing is traded or
        written, exactly as if the numbers had been computed.
        """
        opened = np.zeros(self.n, dtype=bool)
        paths = np.flatnonzero(mask)
        layer = self.policy.layers[i]
        if paths.size and self._min_unit_spend[i] > 0.0:
            # Refused paths whose budget room is below the least a unit can
            # cost stay refused with nothing to write: leave them out.
            room = (self.policy.budget.max_share * self.budget_base[paths]
                    - self.spend[paths])
            paths = paths[~(self.refused[i, paths] & (room < self._min_unit_spend[i]))]
        expiries = self._expiries(view.day, layer) if paths.size else None
        if expiries is None:
            return opened
        book = self.ctx.book
        block = self.blocks[i]
        sub = view.take(paths)
        notional = layer.size_basis == "notional"
        if notional:
            # A notional size needs no strikes or prices: where it asks for no
            # whole unit nothing can happen (no trade, cut or skip).
            wanted = self._notional_wanted(sub, layer, paths, expiries)
            keep = np.flatnonzero(wanted >= 1)
            if not keep.size:
                return opened
            if keep.size < paths.size:
                paths, sub, wanted = paths[keep], sub.take(keep), wanted[keep]
        order = self._build(sub, layer, paths, expiries)
        if not order.ok.all():
            keep = np.flatnonzero(order.ok)
            if not keep.size:
                return opened
            paths, sub, order = paths[keep], sub.take(keep), order.take(keep)
            if notional:
                wanted = wanted[keep]
        price = book.quote_new(sub, order.strike, order.is_call, order.expiry, kind=order.kind)
        sign = order.sign[:, None]
        unit_margin = self._unit_margin(order, price)
        # Per unit: premium flow (futures pay none: variation margin), costs,
        # and how many units the hedge budget (cumulative spend <= max_share x
        # premium collected) and the liquidity floor ((cash + u f) >= floor
        # (margin + u m), f = premium flow - cost) leave room for.
        k = paths.size
        premium_flow, unit_cost, by_budget, by_cash = (np.empty(k) for _ in range(4))
        costs = book.costs
        _caps_kernel(price, order.sign, order.kind, PREMIUM_MULTIPLIERS, MULTIPLIERS,
                     np.asarray(sub.vix, dtype=np.float64), costs.min_width, costs.width_share,
                     costs.vix_widening, costs.commission, book.future_unit_cost(), unit_margin,
                     float(self.policy.budget.max_share), self.budget_base, self.spend, paths,
                     book.cash, book.margin_at(paths),
                     float(self.policy.liquidity.min_quick_ratio), _LIQUIDITY_EPS,
                     premium_flow, unit_cost, by_budget, by_cash)
        if not notional:
            # Where the layer was already refused and still has no room for a
            # unit, its size changes nothing: no trade, no new skip or cut row.
            sized = ~(self.refused[i, paths] & (np.minimum(by_budget, by_cash) < 1.0))
            if sized.all():
                wanted = self._wanted(sub, layer, order, price, unit_margin, paths)
            else:
                wanted = np.zeros(paths.size)
                at = np.flatnonzero(sized)
                if at.size:
                    wanted[at] = self._wanted(sub.take(at), layer, order.take(at),
                                              price[:, at], unit_margin[at], paths[at])
        units = np.minimum(wanted, np.minimum(by_budget, by_cash))
        cut_budget = (wanted >= 1) & (by_budget < wanted)
        cut_cash = (wanted >= 1) & ~cut_budget & (by_cash < wanted)
        skipped = (cut_budget | cut_cash) & (units < 1)
        # A skip is written once per episode (until the trigger clears, the
        # layer opens or a new condor opens), not on every tick it persists.
        refused = self.refused[i, paths]
        new_skip = skipped & ~refused
        self.refused[i, paths] = refused | skipped
        for what, cut in (("budget", cut_budget), ("liquidity", cut_cash)):
            for label, rows in (("cut", cut & (units >= 1)), ("skip", cut & new_skip)):
                if rows.any():
                    book.record_skip_at(view, block, paths[rows],
                                        f"{layer.name} {what} {label}")
                    self.cuts[i, paths[rows]] += 1
        opening = units >= 1
        if not opening.any():
            return opened
        at = np.flatnonzero(opening)
        traded = paths[at]
        quantity = sign * units[at]
        book.open_at(view, block, traded, order.strike[:, at], order.is_call[:, at], quantity,
                     order.expiry[:, at], f"{layer.name} {reason}", kind=order.kind,
                     subview=sub.take(at), price=price[:, at])
        _, flow, cost = book.last_order_at()
        premium = flow + cost
        self.spend[traded] += np.maximum(-premium, 0.0) + cost
        self.entry_vix[i, traded] = sub.vix[at]
        self.entry_risk[i, traded] = book.group_margin[block.group, traded]
        # The layer's expiry is its first leg's: a futures spread rolls or closes
        # before its front future settles, never leaving the back month's short alone.
        self.expiry[i, traded] = order.expiry[:, at].min(axis=0)
        self.armed[i, traded] = False
        self.refused[i, traded] = False
        self.opens[i, traded] += 1
        opened[traded] = True
        all_units = np.zeros(self.n)
        all_units[paths] = units
        self.ctx.bus.publish("hedge.opened", view.tick, opened, layer=layer.name,
                             units=all_units, reason=reason)
        return opened

    def _notional_wanted(self, view, layer: LayerSpec, paths: np.ndarray,
                         expiries: tuple[int, ...]) -> np.ndarray:
        """Units a notional-sized layer asks for on ``paths``, before any order is built."""
        kind = np.array([_LEG_KINDS[layer.instrument][0]], dtype=np.int64)
        first = _Order(strike=np.zeros((1, paths.size)), is_call=np.zeros((1, paths.size), bool),
                       sign=np.ones(1), kind=kind,
                       expiry=np.full((1, paths.size), expiries[0], dtype=np.int64),
                       ok=np.ones(paths.size, dtype=bool))
        return self._wanted(view, layer, first, np.zeros((1, paths.size)),
                            np.zeros(paths.size), paths)

    def _wanted(self, view, layer: LayerSpec, order: _Order, price: np.ndarray,
                unit_margin: np.ndarray, paths: np.ndarray) -> np.ndarray:
        """Units the layer's size basis asks for (whole, >= 0, at most ``max_units``)."""
        wanted = np.floor(np.minimum(self._basis_units(view, layer, order, price, unit_margin,
                                                       paths), layer.max_units))
        return np.where(np.isfinite(wanted), np.maximum(wanted, 0.0), 0.0)

    def _unit_margin(self, order: _Order, price: np.ndarray) -> np.ndarray:
        from sim.book import group_margin

        book = self.ctx.book
        shape = order.strike.shape
        quantity = np.broadcast_to(order.sign[:, None], shape)
        return group_margin(order.strike, order.is_call, quantity, price,
                            np.broadcast_to(order.kind[:, None], shape), True, book.vix_spec)

    # ------------------------------------------------------------- sizing
    def _basis_units(self, view, layer: LayerSpec, order: _Order, price: np.ndarray,
                     unit_margin: np.ndarray, paths: np.ndarray) -> np.ndarray:
        """Units of the size basis on ``paths`` (``view`` is their view)."""
        c = self.condor
        contracts = c.contracts[paths]
        with np.errstate(divide="ignore", invalid="ignore"):
            if layer.size_basis == "credit":
                credit = c.credit[paths] * contracts * SPX_MULTIPLIER
                return layer.size * credit / np.where(unit_margin > 0, unit_margin, np.nan)
            if layer.size_basis == "notional":
                notional = contracts * view.spot * SPX_MULTIPLIER
                first = int(order.kind[0])
                if first == SPX_OPTION:
                    unit = view.spot * SPX_MULTIPLIER
                else:
                    future = self.ctx.book.vix_pricer.future(view, order.expiry[0])
                    unit = future * MULTIPLIERS[first]
                return layer.size * notional / unit
            condor_loss, unit_gain = self._vix_sensitivities(view, order, paths, price)
            return layer.size * condor_loss / np.where(unit_gain > 0, unit_gain, np.nan)

    def _vix_sensitivities(self, view, order: _Order, paths: np.ndarray, price: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Condor loss and unit gain per VIX point ($), by repricing at a bumped variance.

        The variance is scaled so that the VIX (under each path's pricing
        measure) rises by about one point; both sides are divided by the exact
        VIX change, so the numbers are dollars per VIX point. ``view`` is the
        view of ``paths``; ``price`` the order's mid prices in it.
        """
        book = self.ctx.book
        c = self.condor
        model = self.ctx.scenario.market
        vix = np.maximum(view.vix, 1e-6)
        variance = view.variance * ((vix + 1.0) / vix) ** 2
        # The T = 0 future is the VIX index of that variance under the path's regime.
        bumped_vix = vix_index_for(model, variance, view.regime)
        bumped = dataclasses.replace(view, variance=variance, vix=bumped_vix)
        d_vix = np.maximum(bumped_vix - view.vix, 1e-9)
        strikes = np.stack([c.long_put[paths], c.short_put[paths], c.short_call[paths],
                            c.long_call[paths]])
        condor_sign = np.array([1.0, -1.0, -1.0, 1.0])[:, None] * c.contracts[paths]
        is_call = np.array([False, False, True, True])
        expiry = c.expiry[paths]
        base = book.quote_new(view, strikes, is_call, expiry)
        up = book.quote_new(bumped, strikes, is_call, expiry)
        condor_loss = -(condor_sign * (up - base)).sum(axis=0) * SPX_MULTIPLIER / d_vix
        base = price
        up = book.quote_new(bumped, order.strike, order.is_call, order.expiry, kind=order.kind)
        multiplier = MULTIPLIERS[order.kind][:, None]
        unit_gain = (order.sign[:, None] * (up - base) * multiplier).sum(axis=0) / d_vix
        return np.maximum(condor_loss, 0.0), unit_gain

    # ----------------------------------------------------------- building
    def _expiries(self, day: int, layer: LayerSpec) -> tuple[int, ...] | None:
        """Expiry (days since 1970-01-01) of each leg of the layer's instrument if opened today.

        None where the instrument has no expiry in the layer's window today
        (the same for every path). Found once per day and layer.
        """
        key = (day, layer.name)
        if key not in self._expiry_cache:
            self._expiry_cache[key] = self._layer_expiries(day, layer)
        return self._expiry_cache[key]

    def _layer_expiries(self, day: int, layer: LayerSpec) -> tuple[int, ...] | None:
        inst = layer.instrument
        if inst == "vix_future_spread":
            dates = vix_expiries_after(np.datetime64(int(day + layer.min_dte - 1), "D"), 2)
            front, back = (int(d) for d in dates.astype(np.int64))
            return (front, back) if front - day <= layer.max_dte else None
        weekday = "Wed" if inst in ("vix_call", "vix_call_spread") else "Fri"
        expiry = _weekday_on_or_after(day + layer.min_dte, weekday)
        if expiry - day > layer.max_dte:
            return None
        return (expiry,) * LEGS[inst]

    def _build(self, view, layer: LayerSpec, paths: np.ndarray, expiries: tuple[int, ...]
               ) -> _Order:
        """Strikes, expiries and signs of one unit of the layer's instrument on ``paths``.

        ``view`` is the view of ``paths``; ``expiries`` is :meth:`_expiries`.
        """
        n = paths.size
        book = self.ctx.book
        inst = layer.instrument
        ok = np.ones(n, dtype=bool)
        if inst in ("vix_call", "vix_call_spread"):
            expiry = expiries[0]
            future = book.vix_pricer.future(view, np.int64(expiry))
            offsets = [layer.long_offset] + ([layer.short_offset] if inst != "vix_call" else [])
            strike = np.stack([_vix_strike(future + off) for off in offsets])
            sign = np.array([1.0, -1.0][:len(offsets)])
            kind = np.full(len(offsets), VIX_OPTION)
            is_call = np.ones((len(offsets), n), dtype=bool)
            expiries = np.full((len(offsets), n), expiry, dtype=np.int64)
        elif inst == "vix_future_spread":
            front, back = expiries
            strike = np.zeros((2, n))
            sign = np.array([1.0, -1.0])
            kind = np.full(2, VIX_FUTURE)
            is_call = np.zeros((2, n), dtype=bool)
            expiries = np.stack([np.full(n, front), np.full(n, back)]).astype(np.int64)
        else:
            expiry = expiries[0]
            T = (expiry - view.day) / DAYS_PER_YEAR
            kind = np.full(2, SPX_OPTION)
            expiries = np.full((2, n), expiry, dtype=np.int64)
            sign = np.array([1.0, -1.0])
            if inst == "spx_put_spread":
                long_put = book.pricer.strikes_for_delta(view, T, layer.long_delta, False, ok)
                short_put = book.pricer.strikes_for_delta(view, T, layer.short_delta, False, ok)
                short_put = np.minimum(short_put, long_put - SPX_STRIKE_STEP)
                strike = np.stack([long_put, short_put])
                is_call = np.zeros((2, n), dtype=bool)
                ok &= short_put > 0
            else:
                strike, is_call = self._credit_spread(view, layer, paths)
        strike = _order_strikes(kernel_array(strike, dtype=np.float64), ok)
        return _Order(strike=strike, is_call=is_call, sign=sign, kind=kind.astype(np.int64),
                      expiry=expiries, ok=ok)

    def _credit_spread(self, view, layer: LayerSpec, paths: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Long and short legs of an SPX credit spread beyond the condor's break-even."""
        c = self.condor
        step = SPX_STRIKE_STEP
        n = paths.size
        if layer.side in ("put", "call"):
            call_side = np.full(n, layer.side == "call")
        else:
            put_distance, call_distance = self._distances(self._whole_view)
            toward_call = np.nan_to_num(call_distance[paths], nan=np.inf) < np.nan_to_num(
                put_distance[paths], nan=np.inf)
            call_side = toward_call if layer.side == "toward" else ~toward_call
        credit = c.credit[paths]
        put_short = np.floor((c.short_put[paths] - credit - layer.breakeven_buffer) / step) * step
        call_short = np.ceil((c.short_call[paths] + credit + layer.breakeven_buffer) / step) * step
        short = np.where(call_side, call_short, put_short)
        long = np.where(call_side, short + layer.spread_width, short - layer.spread_width)
        return np.stack([long, short]), np.stack([call_side, call_side])

    def path_stats(self) -> dict[str, np.ndarray]:
        """Hedge spend, budget base, shrink requests and per-layer counts, per path."""
        stats = {"hedge_spend": self.spend, "hedge_budget_base": self.budget_base,
                 "shrink_requests": self.shrink_requests}
        for i, layer in enumerate(self.policy.layers):
            stats[f"layer_{layer.name}_opens"] = self.opens[i]
            stats[f"layer_{layer.name}_rolls"] = self.rolls[i]
            stats[f"layer_{layer.name}_ticks"] = self.ticks_open[i]
            stats[f"layer_{layer.name}_cuts"] = self.cuts[i]
        return stats


#: Instrument kind of each leg of each layer instrument.
_LEG_KINDS = {"vix_call": (VIX_OPTION,), "vix_call_spread": (VIX_OPTION, VIX_OPTION),
              "vix_future_spread": (VIX_FUTURE, VIX_FUTURE),
              "spx_put_spread": (SPX_OPTION, SPX_OPTION),
              "spx_credit_spread": (SPX_OPTION, SPX_OPTION)}


def _min_unit_spend(costs, layer: LayerSpec) -> float:
    """A lower bound (dollars) on what one unit of the layer's instrument costs to open.

    The sum over its legs of ``Book.unit_cost`` at the narrowest spread
    (``min_width``, no VIX widening), by the same operations in the same
    order, so that for any prices the spend of a unit (premium paid, if any,
    plus those costs) is at least this number in floating point too.
    """
    total = 0.0
    for kind in _LEG_KINDS[layer.instrument]:
        if kind == VIX_FUTURE:
            total += costs.future_half_spread * MULTIPLIERS[VIX_FUTURE] + costs.future_commission
        else:
            total += 0.5 * costs.min_width * MULTIPLIERS[kind] + costs.commission
    return float(total)


def _exact_weights(trigger: Trigger) -> np.ndarray | None:
    """A score trigger's weights if every partial sum of them is exact, else None.

    True when all weights are multiples of one power of two ``2^-m``
    (``m <= 30``) and their absolute sum is below ``2^53`` of those steps:
    then a weighted sum of condition states does not depend on the order of
    the additions.
    """
    if trigger.mode != "score" or not trigger.conditions:
        return None
    weights = np.array([cond.weight for cond in trigger.conditions], dtype=np.float64)
    if not np.isfinite(weights).all():
        return None
    for m in range(31):
        scaled = weights * 2.0**m
        if (scaled == np.round(scaled)).all():
            return weights if np.abs(scaled).sum() < 2.0**53 else None
    return None


def _weekday_on_or_after(day: int, weekday: str) -> int:
    """First ``weekday`` (``"Wed"``, ``"Fri"``) on or after ``day`` (days since 1970-01-01)."""
    date = np.busday_offset(np.datetime64(int(day), "D"), 0, roll="forward", weekmask=weekday)
    return int(date.astype(np.int64))


def _vix_strike(level: np.ndarray) -> np.ndarray:
    """Nearest VIX option strike (0.5-point grid, at least 0.5) to ``level``."""
    return np.maximum(np.round(level / VIX_STRIKE_STEP) * VIX_STRIKE_STEP, VIX_STRIKE_STEP)


def condition_state(was_on: np.ndarray, value: np.ndarray, cond: Condition) -> np.ndarray:
    """A condition's state after this tick's signal ``value`` (hysteresis; NaN is off).

    ``op = ">"``: off -> on when ``value >= on``; on stays on while ``value >=
    off``. ``op = "<"``: off -> on when ``value <= on``; on stays on while
    ``value <= off``.
    """
    with np.errstate(invalid="ignore"):
        if cond.op == ">":
            turn_on, stay_on = value >= cond.on, value >= cond.off_level
        else:
            turn_on, stay_on = value <= cond.on, value <= cond.off_level
    return np.where(was_on, stay_on, turn_on)


def trigger_state(was_on: np.ndarray, states: np.ndarray, trigger: Trigger) -> np.ndarray:
    """A trigger's state from its conditions' states ``(n_conditions, n_paths)``.

    ``all`` / ``any`` combine the (already hysteretic) conditions; ``score``
    turns on at ``score >= threshold`` and stays on while ``score >= clear``.
    """
    if trigger.mode == "all":
        return states.all(axis=0)
    if trigger.mode == "any":
        return states.any(axis=0)
    weights = np.array([cond.weight for cond in trigger.conditions])
    total = weights.sum()
    score = (weights @ states) / total if total > 0 else np.zeros(states.shape[1])
    return np.where(was_on, score >= trigger.clear_level, score >= trigger.threshold)


# ---------------------------------------------------------------------------
# Kernels: one pass over the paths for what runs every tick
# ---------------------------------------------------------------------------


@njit(cache=True)
def _hysteresis_kernel(state, value, greater, on, off):
    """:func:`condition_state` in place: ``state = where(state, stay_on, turn_on)``."""
    for k in range(state.shape[0]):
        if greater:
            state[k] = value[k] >= off if state[k] else value[k] >= on
        else:
            state[k] = value[k] <= off if state[k] else value[k] <= on


@njit(cache=True)
def _combine_kernel(states, every, out):
    """:func:`trigger_state` of an ``all`` (``every``) or ``any`` trigger, into ``out``."""
    n_conditions, n_paths = states.shape
    for k in range(n_paths):
        result = every
        for j in range(n_conditions):
            if states[j, k] != every:
                result = not every
                break
        out[k] = result


@njit(cache=True)
def _rearm_kernel(trigger_on, armed, refused):
    """A layer is armed again once its trigger is off; a refusal lasts while it is on."""
    for k in range(trigger_on.shape[0]):
        if not trigger_on[k]:
            armed[k] = True
            refused[k] = False


@njit(cache=True)
def _layer_exit_kernel(start, stop, active, quotes, quantity, entry_price, kind, multipliers,
                       condor_open, entry_risk, entry_vix, vix, trigger_on, expiry, day,
                       close_with_condor, profit_target, unwind_vix, vix_margin,
                       unwind_on_clear, roll_dte, is_last, reason):
    """Why each path leaves the layer now: the code (1-based) of its first reason in
    ``_EXIT_REASONS``, 0 where it stays or holds nothing. Returns whether any leg is held.

    The gain since entry is ``sum(where(held, q (quote - entry), 0) * multiplier)``
    over the layer's legs, in leg order.
    """
    any_held = False
    for k in range(reason.shape[0]):
        reason[k] = 0
        held = False
        gain = 0.0
        for s in range(start, stop):
            if active[s, k]:
                held = True
                gain += (quantity[s, k] * (quotes[s, k] - entry_price[s, k])
                         * multipliers[kind[s, k]])
        if not held:
            continue
        any_held = True
        if close_with_condor and not condor_open[k]:
            reason[k] = 1
        elif profit_target > 0 and gain >= profit_target * entry_risk[k]:
            reason[k] = 2
        elif unwind_vix and vix[k] < entry_vix[k] - vix_margin:
            reason[k] = 3
        elif unwind_on_clear and not trigger_on[k]:
            reason[k] = 4
        elif roll_dte > 0 and expiry[k] - day <= roll_dte:
            reason[k] = 6 if (trigger_on[k] and condor_open[k] and not is_last) else 5
    return any_held


@njit(cache=True)
def _caps_kernel(price, sign, kind, premium_multipliers, multipliers, vix, min_width,
                 width_share, vix_widening, commission, future_unit_cost, unit_margin,
                 max_share, budget_base, spend, paths, cash, margin, floor, eps, premium_flow,
                 unit_cost, by_budget, by_cash):
    """Per path of an order: premium flow and costs of one unit, and the units that the
    hedge budget and the liquidity floor leave room for (whole, >= 0, inf if unbounded).

    As the array form: ``premium_flow = -sum(sign price premium)``, ``unit_cost =
    sum(Book.unit_cost)`` over legs in order; ``by_budget = max(floor(room / spend), 0)``
    (inf if the unit costs nothing); ``by_cash = floor(slack / need - eps)`` (inf if
    ``need <= 0``, 0 if ``slack < 0``).
    """
    n_legs, n_cols = price.shape
    for c in range(n_cols):
        p = paths[c]
        paid = 0.0
        cost = 0.0
        for leg in range(n_legs):
            paid += sign[leg] * price[leg, c] * premium_multipliers[kind[leg]]
            cost += unit_cost_one(price[leg, c], vix[c], kind[leg], min_width, width_share,
                                  vix_widening, commission, future_unit_cost, multipliers)
        flow = -paid
        premium_flow[c] = flow
        unit_cost[c] = cost
        unit_spend = nan_max(-flow, 0.0) + cost
        room = max_share * budget_base[p] - spend[p]
        budget = np.floor(room / unit_spend) if unit_spend > 0 else np.inf
        by_budget[c] = nan_max(budget, 0.0)
        slack = cash[p] - floor * margin[c]
        need = floor * unit_margin[c] - (flow - cost)
        room_cash = np.floor(slack / need - eps) if need > 0 else np.inf
        by_cash[c] = 0.0 if slack < 0 else nan_max(room_cash, 0.0)


@njit(cache=True)
def _score_kernel(states, weights, total, clear, threshold, trigger_on):
    """:func:`trigger_state` of a ``score`` trigger with exactly summable weights, in place."""
    n_conditions, n_paths = states.shape
    weighted = np.zeros(n_paths)
    for j in range(n_conditions):
        w = weights[j]
        row = states[j]
        for k in range(n_paths):
            if row[k]:
                weighted[k] += w
    for k in range(n_paths):
        score = weighted[k] / total if total > 0 else 0.0
        trigger_on[k] = score >= clear if trigger_on[k] else score >= threshold


@njit(cache=True)
def _order_strikes(strike, ok):
    """``where(ok, nan_to_num(strike, nan=0), 0)``: strikes of an order's buildable paths."""
    out = np.empty_like(strike)
    big = np.finfo(np.float64).max
    for i in range(strike.shape[0]):
        for k in range(strike.shape[1]):
            x = strike[i, k]
            if not ok[k] or x != x:
                out[i, k] = 0.0
            elif x == np.inf:
                out[i, k] = big
            elif x == -np.inf:
                out[i, k] = -big
            else:
                out[i, k] = x
    return out
