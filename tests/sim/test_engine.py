"""Engine: phase order, path-masked events, and batch independence of each path."""

from __future__ import annotations

import numpy as np

from sim.agents.condor import CondorAgent
from sim.engine import Agent, simulate
from sim.metrics import path_results


class Recorder(Agent):
    """Records the order of phases and the condor events it sees."""

    def __init__(self, ctx):
        self.seen = []
        super().__init__(ctx)
        ctx.env.process(self.listen("condor.opened"))
        ctx.env.process(self.listen("condor.closed"))

    def run(self):
        clock = self.ctx.clock
        while True:
            view = yield clock.phase("trade")
            self.seen.append(("trade", view.tick, self.ctx.env.now))

    def listen(self, name):
        while True:
            event = yield self.ctx.bus.wait(name)
            self.seen.append((name, event.tick, self.ctx.env.now, event.mask.copy()))


def test_phases_run_in_order_and_events_arrive_in_the_same_tick(scenario, market):
    batch = simulate(scenario, market, [CondorAgent, Recorder])
    recorder = batch.agents[1]
    trades = [s for s in recorder.seen if s[0] == "trade"]
    assert [s[1] for s in trades] == list(range(market.n_steps + 1))
    opened = [s for s in recorder.seen if s[0] == "condor.opened"]
    assert opened and opened[0][1] == 0
    # The event is seen during the trade phase of the tick it happened in.
    for _, tick, now, mask in opened:
        assert now == trades[tick][2]
        assert mask.dtype == bool and mask.shape == (market.n_paths,)
    condor = batch.agents[0]
    total_opened = sum(int(s[3].sum()) for s in opened)
    assert total_opened == condor.n_condors.sum()


def test_a_path_alone_equals_the_same_path_in_a_batch_of_1000(scenario):
    from sim.market import generate

    market = generate(scenario.market, 1000, 40, 1 / 252, np.random.default_rng(7))
    batch = path_results(simulate(scenario, market, [CondorAgent]))
    for path in (0, 417, 999):
        alone = path_results(simulate(scenario, market.select([path]), [CondorAgent]))
        for column, values in batch.items():
            np.testing.assert_array_equal(alone[column], values[[path]], err_msg=column)


def test_same_seed_same_bits(scenario):
    from sim.runner import run

    a = run(scenario, n_paths=50, seed=3, batch_size=20)
    b = run(scenario, n_paths=50, seed=3, batch_size=20)
    for column in a.paths:
        np.testing.assert_array_equal(a.paths[column], b.paths[column])
    c = run(scenario, n_paths=50, seed=4, batch_size=20)
    assert not np.array_equal(a.paths["pnl"], c.paths["pnl"])


class MacroListener(Agent):
    """Records the macro and expiry events the calendar fires, and what the view says."""

    def __init__(self, ctx):
        self.fired = []
        self.days_to_event = []
        super().__init__(ctx)
        for channel in ("macro.fomc", "macro.cpi", "macro.ppi", "expiry.spx"):
            ctx.env.process(self.listen(channel))

    def run(self):
        while True:
            view = yield self.ctx.clock.phase("trade")
            self.days_to_event.append((view.days_to_event,
                                       self.ctx.clock.days_to_next_event()))

    def listen(self, channel):
        while True:
            event = yield self.ctx.bus.wait(channel)
            self.fired.append((channel, event.tick, self.ctx.env.now, bool(event.mask.all())))


def test_calendar_fires_macro_events_on_their_ticks_before_trading(scenario, market):
    from sim.engine import CALENDAR_OFFSET, TICK
    from sim.market.events import CPI, FOMC, PPI

    batch = simulate(scenario, market, [MacroListener])
    listener = batch.agents[0]
    expected = []
    for tick, flags in enumerate(market.events):
        for kind, channel in ((FOMC, "macro.fomc"), (CPI, "macro.cpi"), (PPI, "macro.ppi")):
            if flags & kind:
                expected.append((channel, tick))
    fired_macro = [(c, t) for c, t, _, _ in listener.fired if c.startswith("macro.")]
    assert expected and fired_macro == expected
    for _, tick, now, everyone in listener.fired:
        assert now == tick * TICK + CALENDAR_OFFSET and everyone
    fridays = np.is_busday(market.dates, weekmask="Fri")
    assert [t for c, t, _, _ in listener.fired if c == "expiry.spx"] == list(
        np.flatnonzero(fridays))
    # Days to the next event: the view and the clock agree, and count down.
    view_days = [a for a, _ in listener.days_to_event]
    assert view_days == [b for _, b in listener.days_to_event]
    first_event = expected[0][1]
    gap = (market.dates[first_event] - market.dates[0]).astype(int)
    assert view_days[0] == gap


def test_views_carry_regime_breadth_and_signals(scenario, market):
    seen = {}

    class Reader(Agent):
        def run(self):
            while True:
                view = yield self.ctx.clock.phase("trade")
                if view.tick == 40:
                    seen["rsi"] = view.signal("rsi_spx").copy()
                    seen["slope"] = view.signal("ts_slope").copy()
                    seen["regime"] = view.regime.copy()
                    seen["ad"] = view.ad_line.copy()

    simulate(scenario, market, [Reader])
    assert np.all((seen["rsi"] >= 0) & (seen["rsi"] <= 100))
    assert np.all(np.isfinite(seen["slope"])) and np.all(seen["slope"] > 0)
    np.testing.assert_array_equal(seen["regime"], market.regime[40])
    np.testing.assert_array_equal(seen["ad"], market.ad_line[40])


def test_one_subscription_sees_several_channels_in_publication_order(scenario, market):
    """Two channels on one queue keep their interleaving, even within one phase."""
    seen = []

    class Talker(Agent):
        def run(self):
            while True:
                view = yield self.ctx.clock.phase("trade")
                everyone = np.ones(market.n_paths, dtype=bool)
                for name in ("a", "b", "a", "a", "b"):
                    self.ctx.bus.publish(name, view.tick, everyone)

    class Listener(Agent):
        def run(self):
            queue = self.ctx.bus.subscribe("a", "b")
            while True:
                event = yield queue.get()
                seen.append((event.tick, event.name))

    simulate(scenario, market.select(np.arange(3)), [Talker, Listener])
    assert seen[:5] == [(0, "a"), (0, "b"), (0, "a"), (0, "a"), (0, "b")]
    assert len(seen) == 5 * (market.n_steps + 1)
