"""``dumps_policy`` writes a policy that reads back equal."""

import dataclasses

import pytest

from scenarios.policy_loader import _preset_names, load_policy, loads_policy
from scenarios.writer import dumps_policy
from sim.policy import Condition, LayerSpec, Policy, Trigger


@pytest.mark.parametrize("name", _preset_names())
def test_shipped_policies_round_trip(name):
    policy = load_policy(name)
    again = loads_policy(dumps_policy(policy), "<dumped>")
    assert dataclasses.replace(again, source=policy.source) == policy


def test_none_levels_and_unicode_round_trip():
    layer = LayerSpec(name="L1", requires=(), trigger=Trigger(
        mode="score", clear=None, conditions=(Condition(signal="vix", on=20.0, off=None),)))
    policy = Policy(name="é \"quoted\" \\ name", description="line\nbreak", layers=(layer,))
    text = dumps_policy(policy)
    keys = {line.split(" = ")[0] for line in text.splitlines() if " = " in line}
    assert "off" not in keys and "clear" not in keys
    again = loads_policy(text, "<dumped>")
    assert again == dataclasses.replace(policy, source="<dumped>")
