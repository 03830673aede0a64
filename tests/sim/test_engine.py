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
