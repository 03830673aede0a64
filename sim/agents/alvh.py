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
   time: at ``roll_dte`` days to expiry the layer is rolled to a new expiry if
   its trigger still holds (*time shifting*), else closed.
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
from dataclasses import dataclass

import numpy as np

from pricing.black import bs_greeks
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
)
from sim.market.indicators import drift_to_strike
from sim.market.term_structure import vix_expiries_after, vix_futures_for
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
        self._distance_history = np.full((DRIFT_WINDOW + 1, n), np.nan)
        self._signal_cache: dict[str, np.ndarray] = {}
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
            history = self._distance_history
            value = history[-1] - history[0]
        elif name == "short_delta":
            value = self._short_delta(view)
        elif name == "condor_tested":
            value = np.where(self.condor.is_open, self.condor.tested.astype(float), np.nan)
        else:
            value = SIGNAL_REGISTRY[name](view, self.condor)
        value = np.asarray(value, dtype=np.float64)
        self._signal_cache[name] = value
        return value

    def _distances(self, view) -> tuple[np.ndarray, np.ndarray]:
        """Distance of SPX to the short put and the short call, ATM stdevs (NaN if flat)."""
        c = self.condor
        if "_put_distance" in self._signal_cache:
            return self._signal_cache["_put_distance"], self._signal_cache["_call_distance"]
        live = c.is_open
        T = np.maximum(c.expiry - view.day, 1) / DAYS_PER_YEAR
        atm = self.ctx.book.pricer.atm_vol(view, T)
        put = drift_to_strike(view.spot, np.where(live, c.short_put, view.spot), atm, T)
        call = drift_to_strike(view.spot, np.where(live, c.short_call, view.spot), atm, T,
                               is_call=True)
        put = np.where(live, put, np.nan)
        call = np.where(live, call, np.nan)
        self._signal_cache["_put_distance"], self._signal_cache["_call_distance"] = put, call
        return put, call

    def _update_distance_history(self, view) -> None:
        if not any(cond.signal == "strike_drift" for layer in self.policy.layers
                   for cond in layer.trigger.conditions):
            return
        self._distance_history = np.roll(self._distance_history, -1, axis=0)
        self._distance_history[-1] = np.fmin(*self._distances(view))

    def _short_delta(self, view) -> np.ndarray:
        c = self.condor
        book = self.ctx.book
        T = np.maximum(c.expiry - view.day, 0) / DAYS_PER_YEAR
        out = []
        for strike, is_call in ((c.short_put, False), (c.short_call, True)):
            strike = np.where(c.is_open, strike, view.spot)
            vol = book.pricer.vol(view, strike, np.maximum(T, 1.0 / DAYS_PER_YEAR))
            greeks = bs_greeks(view.spot, strike, T, book.rate, book.pricer.dividend_yield,
                               vol, is_call)
            out.append(np.abs(greeks.delta))
        return np.where(c.is_open, np.fmax(out[0], out[1]), np.nan)

    def _update_triggers(self, view) -> None:
        for i, layer in enumerate(self.policy.layers):
            trigger = layer.trigger
            if not trigger.enabled or not trigger.conditions:
                self.trigger_on[i] = False
                continue
            states = self.condition_on[i]
            for j, cond in enumerate(trigger.conditions):
                states[j] = condition_state(states[j], self.signal(view, cond.signal), cond)
            self.trigger_on[i] = trigger_state(self.trigger_on[i], states, trigger)
            self.armed[i] |= ~self.trigger_on[i]
            self.refused[i] &= self.trigger_on[i]

    # -------------------------------------------------------------- exits
    def _manage(self, view, i: int) -> None:
        layer = self.policy.layers[i]
        book = self.ctx.book
        block = self.blocks[i]
        live = ~book.is_flat(block)
        if not live.any():
            return
        exits = []
        if self.policy.close_with_condor:
            exits.append(("condor_closed", live & ~self.condor.is_open))
        if layer.profit_target > 0:
            gain = self._gain(view, i)
            exits.append(("profit_target",
                          live & (gain >= layer.profit_target * self.entry_risk[i])))
        if layer.unwind_vix_below_entry:
            exits.append(("vix_unwind",
                          live & (view.vix < self.entry_vix[i] - layer.vix_unwind_margin)))
        if layer.unwind_on_clear:
            exits.append(("signal_cleared", live & ~self.trigger_on[i]))
        done = np.zeros(self.n, dtype=bool)
        for reason, mask in exits:
            mask = mask & ~done
            if mask.any():
                self._close(view, i, mask, reason)
                done |= mask
        if layer.roll_dte > 0:
            due = live & ~done & (self.expiry[i] - view.day <= layer.roll_dte)
            if due.any():
                roll = due & self.trigger_on[i] & self.condor.is_open
                if view.is_last:
                    roll[:] = False
                self._close(view, i, due & ~roll, "expiry_near")
                if roll.any():
                    self._close(view, i, roll, "roll")
                    rolled = self._open(view, i, roll, "roll")
                    self.rolls[i] += rolled

    def _gain(self, view, i: int) -> np.ndarray:
        """Dollars the layer's legs have gained since they were opened (at mid)."""
        book = self.ctx.book
        s = self.blocks[i].slots
        price = book.quote(view, self.blocks[i])
        multiplier = MULTIPLIERS[book.kind[s]]
        held = book.active[s]
        return (np.where(held, book.quantity[s] * (price - book.entry_price[s]), 0.0)
                * multiplier).sum(axis=0)

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
        """Open layer ``i`` on the masked paths, sized and capped; returns where it opened."""
        if not mask.any():
            return mask
        layer = self.policy.layers[i]
        book = self.ctx.book
        block = self.blocks[i]
        order = self._build(view, layer, mask)
        mask = mask & order.ok
        if not mask.any():
            return mask
        price = book.quote_new(view, order.strike, order.is_call, order.expiry, mask,
                               kind=order.kind)
        sign = order.sign[:, None]
        # Futures pay no premium (variation margin), options price x multiplier.
        premium_flow = -(sign * price * PREMIUM_MULTIPLIERS[order.kind][:, None]).sum(axis=0)
        unit_cost = np.zeros(self.n)
        for leg in range(order.sign.size):
            unit_cost += book.unit_cost(view, price[leg], int(order.kind[leg]))
        unit_margin = self._unit_margin(order, price, mask)
        unit_spend = np.maximum(-premium_flow, 0.0) + unit_cost
        wanted = np.floor(np.minimum(self._basis_units(view, layer, order, price,
                                                       unit_margin, mask),
                                     layer.max_units))
        wanted = np.where(mask & np.isfinite(wanted), np.maximum(wanted, 0.0), 0.0)
        # Hedge budget: cumulative spend <= max_share x premium collected.
        room = self.policy.budget.max_share * self.budget_base - self.spend
        with np.errstate(divide="ignore", invalid="ignore"):
            by_budget = np.where(unit_spend > 0, np.floor(room / unit_spend), np.inf)
        by_budget = np.maximum(by_budget, 0.0)
        # Liquidity: (cash + u f) >= floor (margin + u m), f = premium flow - cost.
        floor = self.policy.liquidity.min_quick_ratio
        unit_flow = premium_flow - unit_cost
        slack = book.cash - floor * book.margin
        need = floor * unit_margin - unit_flow
        with np.errstate(divide="ignore", invalid="ignore"):
            by_cash = np.where(need > 0, np.floor(slack / need - _LIQUIDITY_EPS), np.inf)
        by_cash = np.where(slack < 0, 0.0, np.maximum(by_cash, 0.0))
        units = np.minimum(wanted, np.minimum(by_budget, by_cash))
        cut_budget = mask & (wanted >= 1) & (by_budget < wanted)
        cut_cash = mask & (wanted >= 1) & ~cut_budget & (by_cash < wanted)
        skipped = (cut_budget | cut_cash) & (units < 1)
        # A skip is written once per episode (until the trigger clears, the
        # layer opens or a new condor opens), not on every tick it persists.
        new_skip = skipped & ~self.refused[i]
        self.refused[i] |= skipped
        for what, cut in (("budget", cut_budget), ("liquidity", cut_cash)):
            for label, rows in (("cut", cut & (units >= 1)), ("skip", cut & new_skip)):
                if rows.any():
                    book.record_skip(view, block, rows, f"{layer.name} {what} {label}")
                    self.cuts[i] += rows
        opening = mask & (units >= 1)
        if not opening.any():
            return opening
        quantity = sign * np.where(opening, units, 0.0)
        book.open(view, block, opening, np.where(opening, order.strike, 0.0),
                  order.is_call, quantity, order.expiry, f"{layer.name} {reason}",
                  kind=order.kind)
        paid = book.last_order
        premium = paid.flow + paid.cost
        self.spend += np.where(opening, np.maximum(-premium, 0.0) + paid.cost, 0.0)
        self.entry_vix[i] = np.where(opening, view.vix, self.entry_vix[i])
        self.entry_risk[i] = np.where(opening, book.group_margin[block.group],
                                      self.entry_risk[i])
        self.expiry[i] = np.where(opening, order.expiry.max(axis=0), self.expiry[i])
        self.armed[i] &= ~opening
        self.refused[i] &= ~opening
        self.opens[i] += opening
        self.ctx.bus.publish("hedge.opened", view.tick, opening, layer=layer.name,
                             units=units, reason=reason)
        return opening

    def _unit_margin(self, order: _Order, price: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from sim.book import group_margin

        book = self.ctx.book
        n_legs = order.sign.size
        quantity = np.broadcast_to(order.sign[:, None], (n_legs, self.n))
        active = np.broadcast_to(mask, (n_legs, self.n))
        return group_margin(order.strike, order.is_call, quantity, price,
                            np.broadcast_to(order.kind[:, None], (n_legs, self.n)), active,
                            book.vix_spec)

    # ------------------------------------------------------------- sizing
    def _basis_units(self, view, layer: LayerSpec, order: _Order, price: np.ndarray,
                     unit_margin: np.ndarray, mask: np.ndarray) -> np.ndarray:
        c = self.condor
        with np.errstate(divide="ignore", invalid="ignore"):
            if layer.size_basis == "credit":
                credit = c.credit * c.contracts * SPX_MULTIPLIER
                return layer.size * credit / np.where(unit_margin > 0, unit_margin, np.nan)
            if layer.size_basis == "notional":
                notional = c.contracts * view.spot * SPX_MULTIPLIER
                first = int(order.kind[0])
                if first == SPX_OPTION:
                    unit = view.spot * SPX_MULTIPLIER
                else:
                    future = self.ctx.book.vix_pricer.future(view, order.expiry[0])
                    unit = future * MULTIPLIERS[first]
                return layer.size * notional / unit
            condor_loss, unit_gain = self._vix_sensitivities(view, order, mask)
            return layer.size * condor_loss / np.where(unit_gain > 0, unit_gain, np.nan)

    def _vix_sensitivities(self, view, order: _Order, mask: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Condor loss and unit gain per VIX point ($), by repricing at a bumped variance.

        The variance is scaled so that the VIX (under each path's pricing
        measure) rises by about one point; both sides are divided by the exact
        VIX change, so the numbers are dollars per VIX point.
        """
        book = self.ctx.book
        c = self.condor
        model = self.ctx.scenario.market
        vix = np.maximum(view.vix, 1e-6)
        variance = view.variance * ((vix + 1.0) / vix) ** 2
        # The T = 0 future is the VIX index of that variance under the path's regime.
        bumped_vix = vix_futures_for(model, variance, view.regime, np.zeros(1))[:, 0]
        bumped = dataclasses.replace(view, variance=variance, vix=bumped_vix)
        d_vix = np.maximum(bumped_vix - view.vix, 1e-9)
        strikes = np.stack([c.long_put, c.short_put, c.short_call, c.long_call])
        condor_sign = np.array([1.0, -1.0, -1.0, 1.0])[:, None] * c.contracts
        is_call = np.array([False, False, True, True])
        base = book.quote_new(view, strikes, is_call, c.expiry, mask)
        up = book.quote_new(bumped, strikes, is_call, c.expiry, mask)
        condor_loss = -(condor_sign * (up - base)).sum(axis=0) * SPX_MULTIPLIER / d_vix
        base = book.quote_new(view, order.strike, order.is_call, order.expiry, mask,
                              kind=order.kind)
        up = book.quote_new(bumped, order.strike, order.is_call, order.expiry, mask,
                            kind=order.kind)
        multiplier = MULTIPLIERS[order.kind][:, None]
        unit_gain = (order.sign[:, None] * (up - base) * multiplier).sum(axis=0) / d_vix
        return np.maximum(condor_loss, 0.0), unit_gain

    # ----------------------------------------------------------- building
    def _build(self, view, layer: LayerSpec, mask: np.ndarray) -> _Order:
        """Strikes, expiries and signs of one unit of the layer's instrument."""
        n = self.n
        book = self.ctx.book
        inst = layer.instrument
        ok = mask.copy()
        if inst in ("vix_call", "vix_call_spread"):
            expiry = _weekday_on_or_after(view.day + layer.min_dte, "Wed")
            ok &= expiry - view.day <= layer.max_dte
            future = book.vix_pricer.future(view, np.int64(expiry))
            offsets = [layer.long_offset] + ([layer.short_offset] if inst != "vix_call" else [])
            strike = np.stack([_vix_strike(future + off) for off in offsets])
            sign = np.array([1.0, -1.0][:len(offsets)])
            kind = np.full(len(offsets), VIX_OPTION)
            is_call = np.ones((len(offsets), n), dtype=bool)
            expiries = np.full((len(offsets), n), expiry, dtype=np.int64)
        elif inst == "vix_future_spread":
            dates = vix_expiries_after(np.datetime64(int(view.day + layer.min_dte - 1), "D"), 2)
            front, back = (int(d) for d in dates.astype(np.int64))
            ok &= front - view.day <= layer.max_dte
            strike = np.zeros((2, n))
            sign = np.array([1.0, -1.0])
            kind = np.full(2, VIX_FUTURE)
            is_call = np.zeros((2, n), dtype=bool)
            expiries = np.stack([np.full(n, front), np.full(n, back)]).astype(np.int64)
        else:
            expiry = _weekday_on_or_after(view.day + layer.min_dte, "Fri")
            ok &= expiry - view.day <= layer.max_dte
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
                strike, is_call = self._credit_spread(view, layer)
        strike = np.where(ok, np.nan_to_num(strike, nan=0.0), 0.0)
        return _Order(strike=strike, is_call=is_call, sign=sign, kind=kind.astype(np.int64),
                      expiry=expiries, ok=ok)

    def _credit_spread(self, view, layer: LayerSpec) -> tuple[np.ndarray, np.ndarray]:
        """Long and short legs of an SPX credit spread beyond the condor's break-even."""
        c = self.condor
        step = SPX_STRIKE_STEP
        if layer.side in ("put", "call"):
            call_side = np.full(self.n, layer.side == "call")
        else:
            put_distance, call_distance = self._distances(view)
            toward_call = np.nan_to_num(call_distance, nan=np.inf) < np.nan_to_num(
                put_distance, nan=np.inf)
            call_side = toward_call if layer.side == "toward" else ~toward_call
        put_short = np.floor((c.short_put - c.credit - layer.breakeven_buffer) / step) * step
        call_short = np.ceil((c.short_call + c.credit + layer.breakeven_buffer) / step) * step
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
