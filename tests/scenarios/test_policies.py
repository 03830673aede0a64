"""Policy files: the shipped ones load, and every bad value is one clear error."""

from __future__ import annotations

import dataclasses

import pytest

from scenarios import ScenarioError
from scenarios.policy_loader import list_policy_presets, load_policy, loads_policy
from sim.policy import SIGNAL_REGISTRY, Policy, register_signal
from sim.policy import load_policy as load_any

SHIPPED = ("none", "active", "static-vix", "alvh", "alvh-credit-first", "alvh-entries")

BASE = '''
name = "p"
description = "test policy"
[[layers]]
name = "L1"
instrument = "vix_call"
[layers.trigger]
mode = "all"
[[layers.trigger.conditions]]
signal = "vix"
op = ">"
on = 20.0
off = 18.0
'''


def test_every_shipped_policy_loads():
    names = [name for name, _ in list_policy_presets()]
    assert set(SHIPPED) <= set(names)
    for name in SHIPPED:
        policy = load_policy(name)
        assert isinstance(policy, Policy) and policy.name == name and policy.description


def test_shipped_policies_say_what_they_are():
    assert load_policy("none").layers == () and not load_policy("none").hedges
    assert load_policy("active").condor_style == "active"
    static = load_policy("static-vix")
    assert [c.on for layer in static.layers for c in layer.trigger.conditions] == [18, 22, 26]
    alvh = load_policy("alvh")
    assert [layer.role for layer in alvh.layers] == ["base", "acceleration", "defense",
                                                      "leverage"]
    assert alvh.budget.max_share == pytest.approx(0.20)
    assert alvh.liquidity.min_quick_ratio == pytest.approx(1.2)
    entries = load_policy("alvh-entries")
    for isolated, rigid, adaptive in zip(entries.layers, static.layers, alvh.layers[:3],
                                         strict=True):
        # The entry rule of alvh on the layers of static-vix, and nothing else.
        assert isolated.trigger == adaptive.trigger
        assert dataclasses.replace(isolated, trigger=rigid.trigger) == rigid
    assert not entries.shrink.enabled and len(entries.layers) == len(static.layers)
    credit_first = load_policy("alvh-credit-first")
    assert credit_first.layers[0].instrument == "spx_credit_spread"
    assert credit_first.layers[1:] == alvh.layers[1:]


def test_a_minimal_policy_takes_the_defaults():
    policy = loads_policy(BASE)
    layer = policy.layers[0]
    assert layer.trigger.conditions[0].off_level == 18.0
    assert policy.condor_style == "non-trailed" and policy.layer_names == ("L1",)


@pytest.mark.parametrize("edit, key, allowed", [
    (("instrument = \"vix_call\"", "instrument = \"vix_put\""), "layers[0].instrument",
     "vix_call"),
    (("signal = \"vix\"", "signal = \"vixx\""), "layers[0].trigger.conditions[0].signal",
     "did you mean \"vix\""),
    (("off = 18.0", "off = 22.0"), "layers[0].trigger.conditions[0].off", "off <= on"),
    (("mode = \"all\"", "mode = 3"), "layers[0].trigger.mode", "\"all\""),
    (("name = \"L1\"", "name = \"L 1\""), "layers[0].name", "letters"),
    (("instrument = \"vix_call\"", "instrument = \"vix_call\"\nmin_dte = 20\nmax_dte = 10"),
     "layers[0].min_dte", "min_dte <= max_dte"),
    (("instrument = \"vix_call\"", "instrument = \"vix_call\"\nsize = -1"), "layers[0].size",
     "size"),
    (("instrument = \"vix_call\"", "instrument = \"vix_call\"\nrole = \"leverage\""),
     "layers[0].role", "base"),
    (("instrument = \"vix_call\"", "instrument = \"vix_call\"\nrequires = [\"L0\"]"),
     "layers[0].requires", "earlier"),
    (("name = \"p\"", "name = \"p\"\nbudgett = 1"), "budgett", "did you mean budget"),
])
def test_bad_values_name_the_file_the_key_and_what_is_allowed(edit, key, allowed):
    text = BASE.replace(*edit)
    with pytest.raises(ScenarioError) as caught:
        loads_policy(text, source="my_policy.toml")
    message = str(caught.value)
    assert caught.value.key == key
    assert message.startswith("my_policy.toml: ") and "\n" not in message
    assert allowed in message


def test_duplicate_layer_names_are_refused():
    text = BASE + BASE[BASE.index("[[layers]]"):]
    with pytest.raises(ScenarioError, match="used twice"):
        loads_policy(text)


def test_layers_must_be_an_array_of_tables():
    with pytest.raises(ScenarioError, match="array of tables"):
        loads_policy('name = "p"\ndescription = "d"\nlayers = 3\n')


def test_unknown_policy_names_list_the_shipped_ones():
    with pytest.raises(ScenarioError, match="static-vix"):
        load_policy("no-such-policy")


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(ScenarioError, match="no such policy file"):
        load_policy(tmp_path / "missing.toml")


def test_registered_signals_are_accepted_by_name():
    @register_signal("test_constant_signal")
    def constant(view, condor):  # pragma: no cover - not evaluated here
        return condor.contracts * 0.0

    try:
        policy = loads_policy(BASE.replace('signal = "vix"', 'signal = "test_constant_signal"'))
        assert policy.layers[0].trigger.conditions[0].signal == "test_constant_signal"
    finally:
        SIGNAL_REGISTRY.pop("test_constant_signal")
    with pytest.raises(ValueError, match="built-in"):
        register_signal("vix")


def test_registered_policies_load_by_name():
    from sim.policy import POLICY_REGISTRY, register_policy

    register_policy("test-registered", lambda: loads_policy(BASE))
    try:
        assert load_any("test-registered").layer_names == ("L1",)
    finally:
        POLICY_REGISTRY.pop("test-registered")
