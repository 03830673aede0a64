"""The iron condor agent: open, hold or manage, exit on target, stop or time.

Entry (both styles). On every ``entry_interval``-th tick but the last, each
path with no condor opens one:

- expiry: the first Friday at least ``dte_min`` calendar days away (skipped
  if that is more than ``dte_max`` days away);
- short strikes: the put and the call whose smile delta (Black-Scholes delta
  at the smile vol of that strike) is ``short_delta``, on the SPX 5-point
  grid; long wings ``wing_width`` points further out;
- size: ``floor(risk_budget * equity / max loss per contract)`` contracts,
  capped at ``max_contracts``, where the max loss per contract is
  ``(wing_width - credit) * 100`` dollars; no trade if that is below one
  contract or the credit is not positive.

Exits (both styles). An open condor is closed at mid (plus costs) when its
unrealized profit reaches ``profit_target`` x credit, when its loss reaches
``stop_loss`` x credit, or when its days to expiry fall to ``exit_dte`` (if
positive); otherwise it is cash-settled at expiry by the book. The credit is
the condor's net credit per contract at mid (index points): the entry credit,
plus the net credit of every untested-side roll (active style).

Styles (``CondorAgent(ctx, style=...)``):

``non-trailed``
    hold the condor until one of the exits above; no adjustment.
``active``
    the rules of :class:`sim.policy.ActiveManagement`, applied in the trade
    phase after the exits (not on the last tick, when no trade can pay off):

    1. *roll out*: on paths whose condor is newly tested this tick (spot at
       or beyond a short strike), with ``roll_out`` on and fewer than
       ``max_roll_outs`` roll-outs in a row, close the whole condor (ledger
       reason ``roll_out``) and open a new one at once by the entry rule
       (strikes by delta from today's spot, size by the risk budget), at the
       entry expiry, or the Friday after the old expiry if the entry expiry
       is not later (a roll-out always moves out in time; no roll-out where
       that is beyond ``dte_max``). Where the risk budget no longer buys
       one contract the path is left flat (the entry rule may reopen it).
       The streak of roll-outs resets when a condor ends by any other exit
       or a new one opens by the entry rule;
    2. *roll the untested side*: on the other open paths, where one short
       leg's absolute smile delta is at least ``roll_delta`` and the other's
       below it, and the condor has rolled fewer than ``max_untested_rolls``
       times, close the other (untested) side's spread and reopen it at
       ``short_delta`` from today's spot, same width, expiry and contracts
       (ledger reason ``roll_untested``). The new short put stays at least
       5 points below the short call (the new short call 5 points above the
       short put), so strikes never cross; where the new short strike would
       not move toward the money, nothing is traded.

Shrink on request (both styles). The agent listens to the bus channel
``condor.shrink`` (payload ``scale``: share of contracts to keep, in
[0, 1], per path, clipped to it); on the requested paths with an open condor
it resizes the condor to ``trunc(contracts * scale)`` contracts (ledger
reason ``shrink``) at once, in the phase of the request (the hedge phase,
for the hedge agent), at the current tick's mid plus costs; a condor shrunk
to zero contracts is closed. Requests on flat paths are ignored.

Per-path statistics (:meth:`CondorAgent.path_stats`, the same columns in both
styles): ``n_condors``, ``exits_<reason>``, ``n_roll_outs``,
``n_untested_rolls``, ``n_shrinks`` and ``premium_collected`` (dollars of
net credit received at mid, costs excluded: ``credit * contracts * 100`` at
every opening, by entry or roll-out, plus the net credit of every
untested-side roll, i.e. the new side's credit less the old side's cost to
close).

Bus events published (mask = paths; payload arrays have shape (n_paths,) and
mean something on the masked paths only):

``condor.opened``
    a condor was opened (by the entry rule or a roll-out). Payload:
    ``short_put``, ``short_call``, ``long_put``, ``long_call`` (strikes,
    index points), ``credit`` (net credit at mid, index points per
    contract), ``contracts``, ``expiry`` (int64 days since 1970-01-01),
    ``reason`` (``"entry"`` or ``"roll_out"``).
``condor.tested``
    spot first at or beyond a short strike of the open condor.
``condor.rolled``
    the untested side was rolled in. Payload: the four strikes after the
    roll (as above), ``put_side`` (bool: the put side was rolled, else the
    call side), ``credit`` (updated, index points per contract),
    ``net_credit`` (dollars received at mid by this roll).
``condor.resized``
    a shrink request was carried out (contracts fell). Payload:
    ``contracts`` (after; 0 where the condor was closed, which then also
    publishes ``condor.closed``), ``scale`` (as requested, clipped to
    [0, 1]).
``condor.closed``
    the condor ended. Payload: ``reason`` (``profit_target``,
    ``stop_loss``, ``exit_dte``, ``expiry``, ``shrink``, ``roll_out``). A
    roll-out publishes ``condor.closed`` then ``condor.opened`` in the same
    phase, so listeners should ``subscribe`` rather than ``wait``.

Signals for other agents, per path, as of the last trade phase (computed
when read): ``put_distance`` and ``call_distance``, the distance of SPX to each short
strike in expected standard deviations to expiry (``ln(S/K_put) / (atm
sqrt(T))`` and ``ln(K_call/S) / (atm sqrt(T))``, positive on the safe side,
NaN where no condor is open); the drift toward a strike is their change over
time (``sim.market.indicators.drift_rate``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pricing import bs_greeks
from sim.engine import Agent, Context, PathEvent
from sim.instruments import DAYS_PER_YEAR, SPX_MULTIPLIER, SPX_STRIKE_STEP
from sim.market.indicators import drift_to_strike
from sim.policy import CONDOR_STYLES, ActiveManagement

# Leg order inside the condor's slot block.
LONG_PUT, SHORT_PUT, SHORT_CALL, LONG_CALL = range(4)
LEG_IS_CALL = np.array([False, False, True, True])
LEG_SIGN = np.array([1.0, -1.0, -1.0, 1.0])
#: Legs of each side's credit spread, in block order.
PUT_SIDE = (LONG_PUT, SHORT_PUT)
CALL_SIDE = (SHORT_CALL, LONG_CALL)
#: Ways a condor ends other than a roll-out (``exits_<reason>`` path statistics).
EXIT_REASONS = ("profit_target", "stop_loss", "exit_dte", "expiry", "shrink")
#: Days between two SPX weekly expiries.
WEEK = 7
#: Exits checked at every trade phase, in order (codes 1, 2, 3 of ``_condor_exit_kernel``).
_MANAGED_EXITS = ("profit_target", "stop_loss", "exit_dte")


class CondorAgent(Agent):
    """Opens and manages one SPX iron condor at a time on every path.

    Parameters
    ----------
    ctx : Context
        The batch's environment, clock, bus, book and scenario (its
        ``condor`` section is the :class:`sim.config.CondorSpec`).
    style : {"non-trailed", "active"}
        Hold the condor to its exits, or manage it by ``active``.
    active : ActiveManagement, optional
        Rules of the active style (defaults if omitted); ignored by the
        non-trailed style.

    Raises
    ------
    ValueError
        If ``style`` is not one of ``sim.policy.CONDOR_STYLES``.
    """

    def __init__(self, ctx: Context, style: str = "non-trailed",
                 active: ActiveManagement | None = None) -> None:
        if style not in CONDOR_STYLES:
            allowed = ", ".join(repr(s) for s in CONDOR_STYLES)
            raise ValueError(f"condor style must be one of {allowed}; got {style!r}")
        self.style = style
        self.rules = None
        if style == "active":
            self.rules = ActiveManagement() if active is None else active
        self.spec = ctx.scenario.condor
        self.block = ctx.book.reserve(4)
        n = ctx.book.n_paths
        self.is_open = np.zeros(n, dtype=bool)
        self.tested = np.zeros(n, dtype=bool)
        self.credit = np.zeros(n)          # index points per contract, net at mid
        self.contracts = np.zeros(n)
        self.expiry = np.zeros(n, dtype=np.int64)
        self.n_condors = np.zeros(n, dtype=np.int64)
        self._last_view = None
        self.n_exits = {reason: np.zeros(n, dtype=np.int64) for reason in EXIT_REASONS}
        # Premium received at mid, dollars: entries plus net credits of rolls.
        self.premium_collected = np.zeros(n)
        self.n_untested_rolls = np.zeros(n, dtype=np.int64)
        self.n_roll_outs = np.zeros(n, dtype=np.int64)
        self.n_shrinks = np.zeros(n, dtype=np.int64)
        # State of the current condor chain: untested rolls of this condor,
        # roll-outs in a row that led to it.
        self.condor_rolls = np.zeros(n, dtype=np.int64)
        self.roll_out_streak = np.zeros(n, dtype=np.int64)
        super().__init__(ctx)
        # Subscribed now, before the first tick, so no request is missed.
        ctx.env.process(self._serve_shrinks(ctx.bus.subscribe("condor.shrink")))

    def run(self):
        """Each trade phase: book what expired, manage open condors, open new ones."""
        clock = self.ctx.clock
        while True:
            view = yield clock.phase("trade")
            self._sync_settled(view)
            newly_tested = self._manage(view)
            if self.rules is not None and not view.is_last:
                rolled_out = self._roll_out(view, newly_tested)
                self._roll_untested(view, skip=rolled_out)
            self._enter(view)
            self._last_view = view

    # ----------------------------------------------------------------- steps
    def _sync_settled(self, view) -> None:
        """Paths whose condor the book settled at expiry this tick."""
        settled = self.is_open & self.ctx.book.is_flat(self.block)
        if settled.any():
            self._mark_closed(view, settled, "expiry")

    def _manage(self, view) -> np.ndarray:
        """Exits by target, stop and time; returns the paths newly tested this tick."""
        live = self.is_open
        if not live.any():
            return np.zeros_like(live)
        book = self.ctx.book
        book.ensure_quotes(view)
        spec = self.spec
        reason = np.empty(live.shape, dtype=np.int8)
        _condor_exit_kernel(self.block.start, book.quotes, book.quantity, live, self.contracts,
                            self.credit, self.expiry, int(view.day), float(spec.profit_target),
                            float(spec.stop_loss), int(spec.exit_dte), reason)
        for code, name in enumerate(_MANAGED_EXITS, start=1):
            mask = reason == code
            if mask.any():
                book.close(view, self.block, mask, name)
                self._mark_closed(view, mask, name)
        newly_tested = self.is_open & ~self.tested & (
            (view.spot <= book.strike[SHORT_PUT + self.block.start])
            | (view.spot >= book.strike[SHORT_CALL + self.block.start]))
        if newly_tested.any():
            self.tested |= newly_tested
            self.ctx.bus.publish("condor.tested", view.tick, newly_tested)
        return newly_tested

    def _enter(self, view) -> None:
        spec = self.spec
        if view.is_last or view.tick % spec.entry_interval:
            return
        candidates = ~self.is_open
        if not candidates.any():
            return
        expiry = first_expiry_on_or_after(view.day + spec.dte_min)
        if expiry - view.day > spec.dte_max:
            return
        opened = self._open(view, candidates, expiry, "entry")
        self.roll_out_streak[opened] = 0

    def _open(self, view, candidates: np.ndarray, expiry, reason: str) -> np.ndarray:
        """Open a condor by the entry rule on the candidate (flat) paths.

        Parameters
        ----------
        view : MarketView
        candidates : ndarray of bool, shape (n_paths,)
        expiry : int or ndarray of int64, shape (n_paths,)
            Expiry, days since 1970-01-01.
        reason : str
            Ledger reason of the opening order (``entry`` or ``roll_out``).

        Returns
        -------
        ndarray of bool, shape (n_paths,)
            The paths on which a condor was opened.
        """
        spec, book = self.spec, self.ctx.book
        expiry = np.broadcast_to(np.asarray(expiry, dtype=np.int64), candidates.shape)
        opening = np.zeros(candidates.shape, dtype=bool)
        # The entry rule runs on the candidate paths only (gathered).
        paths = np.flatnonzero(candidates)
        if not paths.size:
            return opening
        sub = view.take(paths)
        expiry = expiry[paths]
        everywhere = np.ones(paths.size, dtype=bool)
        short_put = self._strikes_for_delta(sub, everywhere, expiry, is_call=False)
        short_call = self._strikes_for_delta(sub, everywhere, expiry, is_call=True)
        short_call = np.maximum(short_call, short_put + 5.0)
        strike = np.stack([short_put - spec.wing_width, short_put, short_call,
                           short_call + spec.wing_width])
        price = book.quote_new(sub, strike, LEG_IS_CALL, expiry)
        credit = (-LEG_SIGN[:, None] * price).sum(axis=0)
        max_loss = (spec.wing_width - credit) * SPX_MULTIPLIER
        with np.errstate(divide="ignore", invalid="ignore"):
            affordable = np.floor(spec.risk_budget * book.equity_at(paths) / max_loss)
        contracts = np.minimum(np.where(max_loss > 0, affordable, 0.0), spec.max_contracts)
        ok = (credit > 0) & (contracts >= 1) & (strike[LONG_PUT] > 0)
        if not ok.any():
            return opening
        at = np.flatnonzero(ok)
        paths = paths[at]
        contracts = contracts[at]
        quantity = LEG_SIGN[:, None] * contracts
        traded = book.open_at(view, self.block, paths, strike[:, at], LEG_IS_CALL, quantity,
                              expiry[at], reason, subview=sub.take(at), price=price[:, at])
        opening[paths] = True
        self.is_open[paths] = True
        self.tested[paths] = False
        credit = (-LEG_SIGN[:, None] * traded).sum(axis=0)
        self.credit[paths] = credit
        self.contracts[paths] = contracts
        self.expiry[paths] = expiry[at]
        self.n_condors[paths] += 1
        self.condor_rolls[paths] = 0
        self.premium_collected[paths] += credit * contracts * SPX_MULTIPLIER
        self.ctx.bus.publish("condor.opened", view.tick, opening, **self._strike_payload(),
                             credit=self.credit.copy(), contracts=self.contracts.copy(),
                             expiry=self.expiry.copy(), reason=reason)
        return opening

    # ---------------------------------------------------------- active style
    def _roll_out(self, view, newly_tested: np.ndarray) -> np.ndarray:
        """Close newly tested condors and reopen them further out; returns the paths rolled."""
        rules, spec = self.rules, self.spec
        rolling = newly_tested & self.is_open & (self.roll_out_streak < rules.max_roll_outs)
        if not rules.roll_out or not rolling.any():
            return np.zeros_like(rolling)
        entry = first_expiry_on_or_after(view.day + spec.dte_min)
        # A roll-out moves out in time: the entry expiry, or the next weekly
        # after the old expiry when the entry expiry is not later.
        expiry = np.where(entry > self.expiry, entry, self.expiry + WEEK)
        rolling &= expiry - view.day <= spec.dte_max
        if not rolling.any():
            return rolling
        self.ctx.book.close(view, self.block, rolling, "roll_out")
        self._mark_closed(view, rolling, "roll_out")
        self.roll_out_streak += rolling
        # Where the risk budget no longer buys a contract the path stays flat
        # (the entry rule may open again later).
        self._open(view, rolling, expiry, "roll_out")
        return rolling

    def _roll_untested(self, view, skip: np.ndarray) -> None:
        """Roll the untested side in where the other short leg reached ``roll_delta``."""
        rules, spec, book = self.rules, self.spec, self.ctx.book
        eligible = self.is_open & ~skip & (self.condor_rolls < rules.max_untested_rolls)
        if not eligible.any():
            return
        start = self.block.start
        short_put = book.strike[start + SHORT_PUT].copy()
        short_call = book.strike[start + SHORT_CALL].copy()
        # Deltas on the eligible paths only (0 elsewhere: never tested).
        at = np.flatnonzero(eligible)
        sub = view.take(at)
        T = (self.expiry[at] - view.day) / DAYS_PER_YEAR
        put_delta = np.zeros(eligible.shape)
        call_delta = np.zeros(eligible.shape)
        put_delta[at] = self._abs_delta(sub, short_put[at], T, False)
        call_delta[at] = self._abs_delta(sub, short_call[at], T, True)
        put_tested = put_delta >= rules.roll_delta
        call_tested = call_delta >= rules.roll_delta
        roll_puts = eligible & call_tested & ~put_tested
        roll_calls = eligible & put_tested & ~call_tested
        if not (roll_puts.any() or roll_calls.any()):
            return
        # New shorts never cross the tested short, and must move toward the money.
        new_put = np.minimum(self._strikes_for_delta(view, roll_puts, self.expiry, False),
                             short_call - SPX_STRIKE_STEP)
        new_call = np.maximum(self._strikes_for_delta(view, roll_calls, self.expiry, True),
                              short_put + SPX_STRIKE_STEP)
        roll_puts &= (new_put > short_put) & (new_put - spec.wing_width > 0)
        roll_calls &= new_call < short_call
        net_credit = np.zeros_like(self.credit)   # index points per contract
        for legs, mask, strikes in (
                (PUT_SIDE, roll_puts, (new_put - spec.wing_width, new_put)),
                (CALL_SIDE, roll_calls, (new_call, new_call + spec.wing_width))):
            if not mask.any():
                continue
            legs = list(legs)
            sign = LEG_SIGN[legs][:, None]
            # Mid value of a credit spread is what its short leg costs less its long leg.
            cost_to_close = -(sign * book.quote(view, self.block)[legs]).sum(axis=0)
            old_strike = book.strike[self.block.slots][legs]
            strike = np.where(mask, np.stack(strikes), old_strike)
            quantity = sign * np.where(mask, self.contracts, 0.0)
            traded = book.roll_legs(view, self.block, mask, legs, strike, LEG_IS_CALL[legs],
                                    quantity, self.expiry, "roll_untested")
            side_credit = -(sign * traded).sum(axis=0)
            net_credit = np.where(mask, side_credit - cost_to_close, net_credit)
        rolled = roll_puts | roll_calls
        if not rolled.any():
            return
        self.credit = self.credit + net_credit
        net_dollars = net_credit * self.contracts * SPX_MULTIPLIER
        self.premium_collected += net_dollars
        self.condor_rolls += rolled
        self.n_untested_rolls += rolled
        self.ctx.bus.publish("condor.rolled", view.tick, rolled, **self._strike_payload(),
                             put_side=roll_puts.copy(), credit=self.credit.copy(),
                             net_credit=net_dollars)

    def _abs_delta(self, view, strike: np.ndarray, T: np.ndarray, is_call: bool) -> np.ndarray:
        """|Black-Scholes delta| at the smile vol of ``strike`` (index points), ``T`` years."""
        pricer = self.ctx.book.pricer
        vol = pricer.vol(view, strike, T)
        greeks = bs_greeks(view.spot, strike, T, pricer.rate, pricer.dividend_yield, vol,
                           is_call)
        return np.abs(greeks.delta)

    def _strikes_for_delta(self, view, mask: np.ndarray, expiry: np.ndarray,
                           is_call: bool) -> np.ndarray:
        """Strikes at ``short_delta`` on the masked paths for each path's expiry (NaN elsewhere).

        The pricer solves one expiry at a time; paths are grouped by expiry,
        so the Python work grows with the distinct expiries, not the paths.
        """
        pricer = self.ctx.book.pricer
        out = np.full(mask.shape, np.nan)
        for day in np.unique(expiry[mask]):
            group = mask & (expiry == day)
            T = (day - view.day) / DAYS_PER_YEAR
            strikes = pricer.strikes_for_delta(view, T, self.spec.short_delta,
                                               is_call=is_call, mask=group)
            out = np.where(group, strikes, out)
        return out

    # ---------------------------------------------------------------- shrink
    def _serve_shrinks(self, requests):
        """SimPy process: carry out every ``condor.shrink`` request when it is published."""
        while True:
            request = yield requests.get()
            self._shrink(self.ctx.clock.view, request)

    def _shrink(self, view, request: PathEvent) -> None:
        """Keep ``trunc(contracts * scale)`` contracts on the requested open paths."""
        scale = np.clip(np.broadcast_to(np.asarray(request.payload["scale"], dtype=float),
                                        self.is_open.shape), 0.0, 1.0)
        kept = np.trunc(self.contracts * scale)
        shrinking = request.mask & self.is_open & (kept < self.contracts)
        if not shrinking.any():
            return
        book = self.ctx.book
        to_zero = shrinking & (kept == 0)
        partial = shrinking & ~to_zero
        if partial.any():
            book.resize(view, self.block, partial, np.where(partial, scale, 1.0), "shrink")
        if to_zero.any():
            book.close(view, self.block, to_zero, "shrink")
        self.contracts = np.where(shrinking, kept, self.contracts)
        self.n_shrinks += shrinking
        self.ctx.bus.publish("condor.resized", view.tick, shrinking,
                             contracts=self.contracts.copy(), scale=scale.copy())
        if to_zero.any():
            self._mark_closed(view, to_zero, "shrink")

    # --------------------------------------------------------------- signals
    @property
    def put_distance(self) -> np.ndarray:
        """Distance of SPX to the short put at the last trade phase, ATM stdevs (NaN if flat)."""
        return self._distances()[0]

    @property
    def call_distance(self) -> np.ndarray:
        """Distance of SPX to the short call at the last trade phase, ATM stdevs (NaN if flat)."""
        return self._distances()[1]

    def _distances(self) -> tuple[np.ndarray, np.ndarray]:
        # Computed when asked for (it prices an ATM vol per path), not every tick.
        view, live = self._last_view, self.is_open
        n = live.size
        if view is None or not live.any():
            return np.full(n, np.nan), np.full(n, np.nan)
        book = self.ctx.book
        T = np.where(live, np.maximum(self.expiry - view.day, 1), 1) / DAYS_PER_YEAR
        atm = book.pricer.atm_vol(view, T)
        start = self.block.start
        out = []
        for strike, is_call in ((book.strike[start + SHORT_PUT], False),
                                (book.strike[start + SHORT_CALL], True)):
            distance = drift_to_strike(view.spot, np.where(live, strike, view.spot), atm, T,
                                       is_call=is_call)
            out.append(np.where(live, distance, np.nan))
        return out[0], out[1]

    def _strike_payload(self) -> dict[str, np.ndarray]:
        """The condor's four strikes now (index points, 0 where flat), for event payloads."""
        book, start = self.ctx.book, self.block.start
        names = {"long_put": LONG_PUT, "short_put": SHORT_PUT, "short_call": SHORT_CALL,
                 "long_call": LONG_CALL}
        return {name: np.where(book.active[start + leg], book.strike[start + leg], 0.0)
                for name, leg in names.items()}

    def _mark_closed(self, view, mask: np.ndarray, reason: str) -> None:
        self.is_open &= ~mask
        if reason == "roll_out":
            self.n_roll_outs += mask
        else:
            self.n_exits[reason] += mask
            self.roll_out_streak[mask] = 0
        self.ctx.bus.publish("condor.closed", view.tick, mask, reason=reason)

    def path_stats(self) -> dict[str, np.ndarray]:
        """Per-path counts and premium of the condor, the same columns in both styles.

        Returns
        -------
        dict of str to ndarray, shape (n_paths,)
            ``n_condors`` (condors opened, roll-outs' new condors included),
            ``exits_<reason>`` (condors ended by each exit of
            ``EXIT_REASONS``), ``n_roll_outs`` (condors closed by a roll-out;
            every condor opened is in one of these counts or still open),
            ``n_untested_rolls``, ``n_shrinks`` (resizes carried out,
            closing ones included), ``premium_collected`` (dollars of net
            credit received at mid: every opening order plus the net credit
            of every untested-side roll, costs excluded).
        """
        stats = {"n_condors": self.n_condors}
        stats.update({f"exits_{reason}": count for reason, count in self.n_exits.items()})
        stats.update(n_roll_outs=self.n_roll_outs, n_untested_rolls=self.n_untested_rolls,
                     n_shrinks=self.n_shrinks, premium_collected=self.premium_collected)
        return stats


def first_expiry_on_or_after(day: int) -> int:
    """First Friday (SPX weekly expiry) on or after ``day`` (days since 1970-01-01)."""
    friday = np.busday_offset(np.datetime64(int(day), "D"), 0, roll="forward",
                              weekmask="Fri")
    return int(friday.astype(np.int64))


@njit(cache=True)
def _condor_exit_kernel(start, quotes, quantity, live, contracts, credit, expiry, day,
                        profit_target, stop_loss, exit_dte, reason):
    """Exit of each open condor now: 1 profit target, 2 stop, 3 time (``exit_dte > 0``), 0 none.

    The cost to close per contract is ``-sum(quantity * quote) / contracts``
    over the four legs in order, the profit ``credit - cost_to_close``.
    """
    for k in range(live.shape[0]):
        reason[k] = 0
        if not live[k]:
            continue
        value = 0.0
        for leg in range(4):
            value += quantity[start + leg, k] * quotes[start + leg, k]
        profit = credit[k] - (-value / contracts[k])
        if profit >= profit_target * credit[k]:
            reason[k] = 1
        elif -profit >= stop_loss * credit[k]:
            reason[k] = 2
        elif exit_dte > 0 and expiry[k] - day <= exit_dte:
            reason[k] = 3
