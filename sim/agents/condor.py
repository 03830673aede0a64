"""The iron condor agent, non-trailed: open, hold, exit on target, stop or time.

On every ``entry_interval``-th tick, each path with no condor opens one:

- expiry: the first Friday at least ``dte_min`` calendar days away (skipped
  if that is more than ``dte_max`` days away);
- short strikes: the put and the call whose smile delta (Black-Scholes delta
  at the smile vol of that strike) is ``short_delta``, on the SPX 5-point
  grid; long wings ``wing_width`` points further out;
- size: ``floor(risk_budget * equity / max loss per contract)`` contracts,
  capped at ``max_contracts``, where the max loss per contract is
  ``(wing_width - credit) * 100`` dollars; no trade if that is below one
  contract or the credit is not positive.

An open condor is closed at mid (plus costs) when its unrealized profit
reaches ``profit_target`` x credit, when its loss reaches ``stop_loss`` x
credit, or when its days to expiry fall to ``exit_dte`` (if positive);
otherwise it is cash-settled at expiry by the book.

Bus events published (mask = paths): ``condor.opened`` (payload: strikes,
credit, contracts, expiry), ``condor.tested`` (spot first at or beyond a
short strike), ``condor.closed`` (payload: reason).

Signals for other agents, per path, as of the last trade phase (computed
when read): ``put_distance`` and ``call_distance``, the distance of SPX to each short
strike in expected standard deviations to expiry (``ln(S/K_put) / (atm
sqrt(T))`` and ``ln(K_call/S) / (atm sqrt(T))``, positive on the safe side,
NaN where no condor is open); the drift toward a strike is their change over
time (``sim.market.indicators.drift_rate``).
"""

from __future__ import annotations

import numpy as np

from sim.engine import Agent, Context
from sim.instruments import DAYS_PER_YEAR, SPX_MULTIPLIER
from sim.market.indicators import drift_to_strike

# Leg order inside the condor's slot block.
LONG_PUT, SHORT_PUT, SHORT_CALL, LONG_CALL = range(4)
LEG_IS_CALL = np.array([False, False, True, True])
LEG_SIGN = np.array([1.0, -1.0, -1.0, 1.0])


class CondorAgent(Agent):
    """Opens and manages one SPX iron condor at a time on every path."""

    def __init__(self, ctx: Context) -> None:
        self.spec = ctx.scenario.condor
        self.block = ctx.book.reserve(4)
        n = ctx.book.n_paths
        self.is_open = np.zeros(n, dtype=bool)
        self.tested = np.zeros(n, dtype=bool)
        self.credit = np.zeros(n)          # index points per contract, at entry (mid)
        self.contracts = np.zeros(n)
        self.expiry = np.zeros(n, dtype=np.int64)
        self.n_condors = np.zeros(n, dtype=np.int64)
        self._last_view = None
        self.n_exits = {reason: np.zeros(n, dtype=np.int64)
                        for reason in ("profit_target", "stop_loss", "exit_dte", "expiry")}
        super().__init__(ctx)

    def run(self):
        """Each trade phase: book what expired, manage open condors, open new ones."""
        clock = self.ctx.clock
        while True:
            view = yield clock.phase("trade")
            self._sync_settled(view)
            self._manage(view)
            self._enter(view)
            self._last_view = view

    # ----------------------------------------------------------------- steps
    def _sync_settled(self, view) -> None:
        """Paths whose condor the book settled at expiry this tick."""
        settled = self.is_open & self.ctx.book.is_flat(self.block)
        if settled.any():
            self._mark_closed(view, settled, "expiry")

    def _manage(self, view) -> None:
        live = self.is_open
        if not live.any():
            return
        book = self.ctx.book
        price = book.quote(view, self.block)
        # Per-contract cost to buy the condor back at mid (index points).
        qty = book.quantity[self.block.slots]
        per_contract = np.where(live, self.contracts, 1.0)
        cost_to_close = -(qty * price).sum(axis=0) / per_contract
        profit = self.credit - cost_to_close
        spec = self.spec
        take = live & (profit >= spec.profit_target * self.credit)
        stop = live & ~take & (-profit >= spec.stop_loss * self.credit)
        exits = [("profit_target", take), ("stop_loss", stop)]
        if spec.exit_dte > 0:
            dte = self.expiry - view.day
            exits.append(("exit_dte", live & ~take & ~stop & (dte <= spec.exit_dte)))
        for reason, mask in exits:
            if mask.any():
                book.close(view, self.block, mask, reason)
                self._mark_closed(view, mask, reason)
        newly_tested = self.is_open & ~self.tested & (
            (view.spot <= book.strike[SHORT_PUT + self.block.start])
            | (view.spot >= book.strike[SHORT_CALL + self.block.start]))
        if newly_tested.any():
            self.tested |= newly_tested
            self.ctx.bus.publish("condor.tested", view.tick, newly_tested)

    def _enter(self, view) -> None:
        spec = self.spec
        if view.is_last or view.tick % spec.entry_interval:
            return
        candidates = ~self.is_open
        if not candidates.any():
            return
        expiry = first_expiry_on_or_after(view.day + spec.dte_min)
        dte = expiry - view.day
        if dte > spec.dte_max:
            return
        book = self.ctx.book
        T = dte / DAYS_PER_YEAR
        short_put = book.pricer.strikes_for_delta(view, T, spec.short_delta, is_call=False,
                                                  mask=candidates)
        short_call = book.pricer.strikes_for_delta(view, T, spec.short_delta, is_call=True,
                                                   mask=candidates)
        short_put = np.where(candidates, short_put, 0.0)
        short_call = np.where(candidates, np.maximum(short_call, short_put + 5.0), 0.0)
        strike = np.stack([short_put - spec.wing_width, short_put, short_call,
                           short_call + spec.wing_width])
        price = book.quote_new(view, strike, LEG_IS_CALL, np.int64(expiry), candidates)
        credit = (-LEG_SIGN[:, None] * price).sum(axis=0)
        max_loss = (spec.wing_width - credit) * SPX_MULTIPLIER
        with np.errstate(divide="ignore", invalid="ignore"):
            affordable = np.floor(spec.risk_budget * book.equity / max_loss)
        contracts = np.minimum(np.where(max_loss > 0, affordable, 0.0), spec.max_contracts)
        opening = candidates & (credit > 0) & (contracts >= 1) & (strike[LONG_PUT] > 0)
        if not opening.any():
            return
        quantity = LEG_SIGN[:, None] * np.where(opening, contracts, 0.0)
        traded = book.open(view, self.block, opening, strike, LEG_IS_CALL, quantity,
                           np.int64(expiry), "entry")
        self.is_open |= opening
        self.tested &= ~opening
        self.credit = np.where(opening, (-LEG_SIGN[:, None] * traded).sum(axis=0),
                               self.credit)
        self.contracts = np.where(opening, contracts, self.contracts)
        self.expiry = np.where(opening, expiry, self.expiry)
        self.n_condors += opening
        self.ctx.bus.publish("condor.opened", view.tick, opening, short_put=short_put,
                             short_call=short_call, credit=self.credit,
                             contracts=self.contracts, expiry=expiry)

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

    def _mark_closed(self, view, mask: np.ndarray, reason: str) -> None:
        self.is_open &= ~mask
        self.n_exits[reason] += mask
        self.ctx.bus.publish("condor.closed", view.tick, mask, reason=reason)

    def path_stats(self) -> dict[str, np.ndarray]:
        """Condors opened and exits by reason, per path."""
        stats = {"n_condors": self.n_condors}
        stats.update({f"exits_{reason}": count for reason, count in self.n_exits.items()})
        return stats


def first_expiry_on_or_after(day: int) -> int:
    """First Friday (SPX weekly expiry) on or after ``day`` (days since 1970-01-01)."""
    friday = np.busday_offset(np.datetime64(int(day), "D"), 0, roll="forward",
                              weekmask="Fri")
    return int(friday.astype(np.int64))
