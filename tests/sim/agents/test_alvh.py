"""The ALVH hedge agent: triggers, hysteresis, budget, liquidity, layer order, rolls.

Invariants are checked by an observer agent that listens to the hedge
agent's ``hedge.opened`` events and reads the book itself at that moment
(not the hedge agent's own bookkeeping), and by recomputing the hedge spend
from the ledger.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios.policy_loader import load_policy
from sim.agents.alvh import HedgeAgent, condition_state, trigger_state
from sim.config import CondorSpec, MarketModel
from sim.engine import Agent, simulate
from sim.market import generate
from sim.metrics import path_results
from sim.policy import Budget, Condition, Liquidity, Trigger

from ...conftest import small_scenario

N_PATHS, N_DAYS = 80, 70


@pytest.fixture(scope="module")
def hedge_scenario():
    """A volatile market (VIX often above 20) and a condor big enough to hedge."""
    market = MarketModel(variance0=0.05, theta=0.05, xi=0.9, jump_intensity=3.0)
    condor = CondorSpec(risk_budget=0.25, max_contracts=50)
    return small_scenario(n_days=N_DAYS, market=market, condor=condor)


@pytest.fixture(scope="module")
def hedge_market(hedge_scenario):
    s = hedge_scenario
    return generate(s.market, N_PATHS, s.simulation.n_days, 1 / 252,
                    np.random.default_rng(2024), start_date=s.simulation.start_date)


class Observer(Agent):
    """Checks, at every ``hedge.opened``, what the book says right then."""

    def __init__(self, ctx, agents):
        self.agents = agents
        self.violations: list[str] = []
        self.openings = 0
        super().__init__(ctx)

    def run(self):
        queue = self.ctx.bus.subscribe("hedge.opened")
        while True:
            event = yield queue.get()
            self.openings += 1
            condor, hedge = self.agents["condor"], self.agents["hedge"]
            book = self.ctx.book
            mask = event.mask
            floor = hedge.policy.liquidity.min_quick_ratio
            qr = book.quick_ratio[mask]
            if (qr < floor * (1 - 1e-9)).any():
                self.violations.append(f"tick {event.tick}: quick ratio {qr.min()} < {floor}")
            if book.is_flat(condor.block)[mask].any():
                self.violations.append(f"tick {event.tick}: {event.payload['layer']} opened "
                                       "on a path whose condor is flat")
            i = hedge.layer_index[event.payload["layer"]]
            for j in hedge.required[i]:
                if book.is_flat(hedge.blocks[j])[mask].any():
                    self.violations.append(f"tick {event.tick}: {event.payload['layer']} "
                                           f"opened before {hedge.policy.layers[j].name}")


def kept_factories(policy, agents: dict) -> list:
    """The policy's agent factories, each keeping its agent in ``agents`` (condor, hedge)."""
    factories = []
    for factory in policy.agent_factories():
        def keep(ctx, factory=factory):
            agent = factory(ctx)
            agents["hedge" if isinstance(agent, HedgeAgent) else "condor"] = agent
            return agent
        factories.append(keep)
    return factories


def run_policy(scenario, market, policy, observe=True):
    """Simulate a policy's agents plus an observer; returns (batch, agents dict)."""
    agents: dict = {}
    factories = kept_factories(policy, agents)
    if observe:
        factories.append(lambda ctx: Observer(ctx, agents))
    batch = simulate(scenario, market, factories, check_identity=True)
    return batch, agents


def ledger_spend(batch, hedge) -> np.ndarray:
    """Hedge spend per path recomputed from the ledger: premium paid + costs of openings."""
    rows = batch.book.ledger.records()
    slots = np.concatenate([np.arange(b.start, b.stop) for b in hedge.blocks])
    rows = rows[(rows["action"] == "open") & np.isin(rows["slot"], slots)]
    spend = np.zeros(batch.market.n_paths)
    # An order is one position id on one path (an order spans all its paths).
    for key in np.unique(rows[["position_id", "path"]]):
        order = rows[(rows["position_id"] == key["position_id"]) & (rows["path"] == key["path"])]
        premium = (order["cash_flow"] + order["cost"]).sum()
        spend[key["path"]] += max(-premium, 0.0) + order["cost"].sum()
    return spend


def test_alvh_opens_every_layer_and_keeps_its_invariants(hedge_scenario, hedge_market):
    policy = load_policy("alvh")
    batch, agents = run_policy(hedge_scenario, hedge_market, policy)
    observer = batch.agents[-1]
    assert observer.violations == []
    hedge = agents["hedge"]
    stats = hedge.path_stats()
    opened = {name: int((stats[f"layer_{name}_opens"] > 0).sum()) for name in
              policy.layer_names}
    assert opened["L1"] > 0 and observer.openings > 0, opened
    # Budget: cumulative spend within the cap on every path, and the ledger agrees.
    cap = policy.budget.max_share * stats["hedge_budget_base"]
    assert (stats["hedge_spend"] <= cap + 1e-6).all()
    np.testing.assert_allclose(ledger_spend(batch, hedge), stats["hedge_spend"], atol=1e-6)
    # The ledger says which orders the budget or the floor cut or skipped.
    rows = batch.book.ledger.records()
    skips = rows[rows["action"] == "skip"]
    assert stats["layer_L1_cuts"].sum() + sum(stats[f"layer_{n}_cuts"].sum()
                                              for n in policy.layer_names[1:]) == len(skips)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), style=st.sampled_from(["non-trailed", "active"]),
       policy_name=st.sampled_from(["alvh", "alvh-credit-first", "static-vix"]),
       size=st.floats(0.05, 3.0))
def test_with_every_trigger_off_a_policy_is_the_bare_condor_path_for_path(
        seed, style, policy_name, size, hedge_scenario):
    base = load_policy(policy_name)
    silent = dataclasses.replace(
        base, condor_style=style, shrink=dataclasses.replace(base.shrink, enabled=False),
        layers=tuple(dataclasses.replace(layer, size=size, trigger=dataclasses.replace(
            layer.trigger, enabled=False)) for layer in base.layers))
    bare = dataclasses.replace(load_policy("none"), condor_style=style)
    s = hedge_scenario
    market = generate(s.market, 30, 40, 1 / 252, np.random.default_rng(seed),
                      start_date=s.simulation.start_date)
    hedged, _ = run_policy(s, market, silent, observe=False)
    alone, _ = run_policy(s, market, bare, observe=False)
    hedged, alone = path_results(hedged), path_results(alone)
    for column in alone:
        np.testing.assert_array_equal(hedged[column], alone[column], err_msg=column)
    assert (hedged["hedge_spend"] == 0).all()


def test_rolling_keeps_the_identity_and_happens(hedge_scenario, hedge_market):
    policy = load_policy("static-vix")
    # Long-lived layers with a wide roll window, so that rolls are due often.
    layers = tuple(dataclasses.replace(layer, roll_dte=6, min_dte=7, max_dte=14,
                                       profit_target=0.0, unwind_vix_below_entry=False,
                                       unwind_on_clear=False, instrument=instrument,
                                       size_basis="notional", size=0.05)
                   for layer, instrument in zip(policy.layers,
                                                ("vix_call", "vix_future_spread",
                                                 "spx_put_spread"), strict=True))
    layers = tuple(dataclasses.replace(layer, trigger=Trigger(
        mode="all", conditions=(Condition(signal="vix", op=">", on=0.0),)),
        max_dte=45 if layer.instrument == "vix_future_spread" else layer.max_dte)
        for layer in layers)
    policy = dataclasses.replace(policy, layers=layers,
                                 budget=Budget(max_share=100.0), liquidity=Liquidity(0.0))
    batch, agents = run_policy(hedge_scenario, hedge_market, policy)  # identity checked
    stats = agents["hedge"].path_stats()
    for name in policy.layer_names:
        assert stats[f"layer_{name}_rolls"].sum() > 0, name
    rows = batch.book.ledger.records()
    assert any("roll" in reason for reason in rows["reason"])
    assert batch.agents[-1].violations == []


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(max_share=st.floats(0.0, 0.6), floor=st.sampled_from([0.0, 1.2, 5.0, 20.0, 60.0]),
       vix_on=st.floats(10.0, 30.0), size=st.floats(0.05, 2.0),
       seed=st.integers(0, 2**16))
def test_budget_liquidity_and_layer_order_hold_for_any_policy(max_share, floor, vix_on, size,
                                                              seed, hedge_scenario):
    base = load_policy("alvh")
    layers = tuple(dataclasses.replace(layer, size=size if layer.size_basis != "notional"
                                       else min(size, 1.0) * layer.size,
                                       trigger=Trigger(mode="all", conditions=(
                                           Condition(signal="vix", op=">", on=vix_on,
                                                     off=vix_on - 1.0),)))
                   for layer in base.layers)
    policy = dataclasses.replace(base, layers=layers, budget=Budget(max_share=max_share),
                                 liquidity=Liquidity(min_quick_ratio=floor))
    s = hedge_scenario
    market = generate(s.market, 40, 45, 1 / 252, np.random.default_rng(seed),
                      start_date=s.simulation.start_date)
    batch, agents = run_policy(s, market, policy)
    assert batch.agents[-1].violations == []
    stats = agents["hedge"].path_stats()
    assert (stats["hedge_spend"] <= max_share * stats["hedge_budget_base"] + 1e-6).all()


def test_hysteresis_turns_on_at_on_and_off_only_past_off():
    cond = Condition(signal="vix", op=">", on=20.0, off=18.0)
    series = [17.0, 19.0, 20.0, 19.0, 18.0, 17.9, 19.5, 21.0, np.nan, 21.0]
    expected = [False, False, True, True, True, False, False, True, False, True]
    state = np.zeros(1, dtype=bool)
    seen = []
    for value in series:
        state = condition_state(state, np.array([value]), cond)
        seen.append(bool(state[0]))
    assert seen == expected
    below = Condition(signal="rsi_spx", op="<", on=30.0, off=40.0)
    state = condition_state(np.array([False, True, True]), np.array([35.0, 35.0, 41.0]),
                            below)
    assert state.tolist() == [False, True, False]


def test_score_triggers_use_weights_and_their_own_hysteresis():
    conds = (Condition(signal="vix", on=1.0, weight=3.0), Condition(signal="vx1", on=1.0,
                                                                     weight=1.0))
    trigger = Trigger(mode="score", threshold=0.7, clear=0.5, conditions=conds)
    states = np.array([[True, False, True, False], [False, True, True, False]])
    off = np.zeros(4, dtype=bool)
    assert trigger_state(off, states, trigger).tolist() == [True, False, True, False]
    on = np.ones(4, dtype=bool)
    assert trigger_state(on, states, trigger).tolist() == [True, False, True, False]
    half = Trigger(mode="score", threshold=0.7, clear=0.2, conditions=conds)
    assert trigger_state(on, states, half).tolist() == [True, True, True, False]
    assert trigger_state(off, states, Trigger(mode="any", conditions=conds)).tolist() == [
        True, True, True, False]
    assert trigger_state(off, states, Trigger(mode="all", conditions=conds)).tolist() == [
        False, False, True, False]


@pytest.mark.parametrize("style", ["non-trailed", "active"])
def test_the_hedge_agent_knows_at_every_tick_which_condors_are_open(style, hedge_scenario,
                                                                     hedge_market):
    """The hedge agent's copy of the condor (from bus events only) never drifts."""
    policy = dataclasses.replace(load_policy("alvh"), condor_style=style)
    mismatches = []

    class Check(Agent):
        def run(self):
            while True:
                view = yield self.ctx.clock.phase("mark")
                condor, hedge = agents["condor"], agents["hedge"]
                if not np.array_equal(condor.is_open, hedge.condor.is_open):
                    mismatches.append(view.tick)
                live = condor.is_open
                if not np.array_equal(condor.tested[live], hedge.condor.tested[live]):
                    mismatches.append(("tested", view.tick))

    agents: dict = {}
    simulate(hedge_scenario, hedge_market, [*kept_factories(policy, agents), Check])
    assert mismatches == []


def test_the_leverage_layer_waits_for_the_base_layer(hedge_scenario, hedge_market):
    """LEV's own trigger is always on; it still opens only where L1 is open."""
    alvh = load_policy("alvh")
    always = Trigger(mode="all", conditions=(Condition(signal="vix", op=">", on=0.0),))
    layers = []
    for layer in alvh.layers:
        if layer.role == "leverage":
            layer = dataclasses.replace(layer, trigger=always, size_basis="notional",
                                        size=0.01)
        elif layer.role == "base":
            layer = dataclasses.replace(layer, trigger=Trigger(mode="all", conditions=(
                Condition(signal="vix", op=">", on=24.0, off=22.0),)))
        else:
            layer = dataclasses.replace(layer, trigger=dataclasses.replace(layer.trigger,
                                                                           enabled=False))
        layers.append(layer)
    policy = dataclasses.replace(alvh, layers=tuple(layers), budget=Budget(max_share=5.0),
                                 liquidity=Liquidity(0.0))
    batch, agents = run_policy(hedge_scenario, hedge_market, policy)
    assert batch.agents[-1].violations == []
    stats = agents["hedge"].path_stats()
    assert stats["layer_LEV_opens"].sum() > 0
    assert (stats["layer_LEV_opens"][stats["layer_L1_opens"] == 0] == 0).all()


def test_a_registered_python_signal_drives_a_layer(hedge_scenario, hedge_market):
    from sim.policy import SIGNAL_REGISTRY, register_signal

    @register_signal("test_even_paths")
    def even_paths(view, condor):
        return (np.arange(condor.contracts.size) % 2 == 0).astype(float)

    try:
        alvh = load_policy("alvh")
        layer = dataclasses.replace(alvh.layers[0], trigger=Trigger(mode="all", conditions=(
            Condition(signal="test_even_paths", op=">", on=0.5),)))
        policy = dataclasses.replace(alvh, layers=(layer,), budget=Budget(max_share=5.0))
        _, agents = run_policy(hedge_scenario, hedge_market, policy)
        opens = agents["hedge"].path_stats()["layer_L1_opens"]
        assert opens[::2].sum() > 0 and opens[1::2].sum() == 0
    finally:
        SIGNAL_REGISTRY.pop("test_even_paths")


def test_an_unregistered_python_signal_is_a_clear_error(hedge_scenario, hedge_market):
    """What a worker process meets when a signal was registered only in the parent."""
    alvh = load_policy("alvh")
    trigger = Trigger(mode="all", conditions=(Condition(signal="not_registered_here", op=">",
                                                        on=0.0),))
    layer = dataclasses.replace(alvh.layers[0], trigger=trigger)
    policy = dataclasses.replace(alvh, layers=(layer,))
    with pytest.raises(LookupError, match="signal 'not_registered_here', which is not "
                                          "registered in this process"):
        run_policy(hedge_scenario, hedge_market, policy)
