"""sim.testing.strategies: only valid objects, shrinking toward simple cases.

Validity is what the loaders accept: every drawn scenario and policy is
written back as TOML and read again to the same object. Shrinking is shown
with ``hypothesis.find``: the simplest example of a property is the default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import scenarios
from scenarios.policy_loader import loads_policy
from scenarios.writer import dumps_policy
from sim.check import market_of_run
from sim.config import CondorSpec, Scenario
from sim.market.term_structure import vix_index_for
from sim.policy import (
    CONDOR_STYLES,
    INSTRUMENTS,
    ROLES,
    SIGNALS,
    SIZE_BASES,
    TRIGGER_MODES,
    LayerSpec,
    Policy,
)
from sim.testing import strategies as alvh_st

ROOT = Path(__file__).resolve().parents[2]
QUICK = settings(max_examples=60, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
FIND = settings(max_examples=200, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
GENERATE = settings(FIND, phases=(Phase.generate,), derandomize=True)


@QUICK
@given(alvh_st.scenarios())
def test_scenarios_are_what_the_loader_reads_back(scenario):
    assert scenarios.loads(scenarios.dumps(scenario)) == scenario
    spec = scenario.simulation
    assert 20 <= spec.n_days <= 60 and 4 <= spec.n_paths <= 32
    assert scenario.condor.wing_width % 5 == 0
    assert scenario.condor.exit_dte < scenario.condor.dte_min <= scenario.condor.dte_max


@QUICK
@given(alvh_st.policies(min_layers=0))
def test_policies_are_what_the_loader_reads_back(policy):
    again = loads_policy(dumps_policy(policy), "<string>")
    assert again == policy
    names = [layer.name for layer in policy.layers]
    for i, layer in enumerate(policy.layers):
        assert set(layer.requires) <= set(names[:i])
        if layer.role == "leverage":
            assert any(other.role == "base" for other in policy.layers[:i])


def drawn(strategy, n: int) -> list:
    """``n`` examples of a strategy, generated (not shrunk), in Hypothesis's order."""
    seen: list = []

    def keep(value) -> bool:
        seen.append(value)
        return False

    with contextlib.suppress(NoSuchExample):
        find(strategy, keep, settings=settings(GENERATE, max_examples=n))
    return seen


def simplest(strategy):
    """The first example Hypothesis generates: the one every choice made simplest."""
    return drawn(strategy, 1)[0]


def test_every_combination_of_layers_triggers_and_sizes_is_drawn():
    policies = drawn(alvh_st.policies(), 150)
    layers = [layer for policy in policies for layer in policy.layers]
    assert {layer.instrument for layer in layers} == set(INSTRUMENTS)
    assert {layer.role for layer in layers} == set(ROLES)
    assert {layer.size_basis for layer in layers} == set(SIZE_BASES)
    assert {layer.trigger.mode for layer in layers} == set(TRIGGER_MODES)
    assert {len(policy.layers) for policy in policies} == {1, 2, 3, 4}
    assert any(layer.requires for layer in layers)
    assert {cond.signal for layer in layers for cond in layer.trigger.conditions} == set(SIGNALS)
    assert {policy.condor_style for policy in policies} == set(CONDOR_STYLES)
    assert any(policy.shrink.enabled for policy in policies)
    for policy in policies:
        roles = [layer.role for layer in policy.layers]
        if "leverage" in roles:
            assert "base" in roles[:roles.index("leverage")]


def test_policies_shrink_to_one_default_layer_with_one_condition():
    policy = simplest(alvh_st.policies())
    layer = policy.layers[0]
    assert len(policy.layers) == 1
    assert dataclasses.replace(layer, trigger=LayerSpec().trigger) == LayerSpec(name="L1")
    assert [(c.signal, c.op, c.on, c.off) for c in layer.trigger.conditions] == [
        ("vix", ">", 20.0, None)]
    defaults = Policy(name="generated", description="drawn by sim.testing.strategies")
    assert dataclasses.replace(policy, layers=(), source=defaults.source) == defaults


def test_scenarios_shrink_to_the_default_on_a_short_horizon():
    scenario = simplest(alvh_st.scenarios())
    spec = scenario.simulation
    assert (spec.n_days, spec.n_paths, spec.seed) == (20, 4, 0)
    base = Scenario("generated", "drawn by sim.testing.strategies")
    assert dataclasses.replace(scenario, simulation=base.simulation,
                               source=base.source) == base
    for n in (1, 2, 3):
        # Searched for, not counted in a fixed number of draws: the draws of a
        # derandomized search depend on what ran before it in the session.
        model = find(alvh_st.market_models(), lambda m, n=n: m.regimes.n_regimes == n,
                     settings=settings(FIND, max_examples=1000))
        assert model.regimes.n_regimes == n


def test_a_failing_example_shrinks_to_the_simplest_that_fails():
    # Shrinking for real (a few seconds): the smallest horizon above 30 days.
    found = find(alvh_st.simulation_specs(), lambda spec: spec.n_days > 30, settings=FIND)
    assert (found.n_days, found.n_paths, found.seed) == (31, 4, 0)


@settings(max_examples=20, deadline=None, database=None)
@given(alvh_st.market_states())
def test_market_states_carry_the_models_vix(state):
    view = state.view
    n = view.spot.size
    assert 1 <= n <= 8 and view.variance.shape == view.regime.shape == (n,)
    np.testing.assert_array_equal(view.vix, vix_index_for(state.model, view.variance,
                                                          view.regime))
    assert (view.regime < state.model.regimes.n_regimes).all()


def test_market_states_shrink_to_one_path_at_the_first_tick():
    state = simplest(alvh_st.market_states())
    assert state.view.spot.tolist() == [5000.0]
    assert state.view.variance.tolist() == [0.025]


@settings(max_examples=5, deadline=None, database=None)
@given(alvh_st.path_batches())
def test_path_batches_are_the_paths_of_alvh_run(batch):
    spec = batch.scenario.simulation
    assert batch.seed == spec.seed and batch.n_paths == spec.n_paths
    assert batch.market.spot.shape == (spec.n_days + 1, spec.n_paths)
    again = market_of_run(batch.scenario, spec.seed, spec.n_paths)
    np.testing.assert_array_equal(batch.market.spot, again.spot)
    assert "PathBatch(seed=" in repr(batch)


@settings(max_examples=30, deadline=None, database=None)
@given(st.data())
def test_every_field_value_is_inside_the_loader_range(data):
    # field_values draws a field's whole range; the loader takes every value.
    f = next(f for f in dataclasses.fields(CondorSpec) if f.name == "risk_budget")
    value = data.draw(alvh_st.field_values(f, float))
    text = f"name = 'x'\ndescription = 'y'\n[condor]\nrisk_budget = {value!r}\n"
    assert scenarios.loads(text).condor.risk_budget == float(value)


def test_the_documented_example_runs():
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/testing.md", "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test()
