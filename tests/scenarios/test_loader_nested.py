"""The hand-written parts of the loader: [market.regimes] and the event calendar."""

from __future__ import annotations

import os
import sys
import types

import pytest

from scenarios import ScenarioError, load, loads
from sim.config import RegimeChain, RegimeParams
from tests.scenarios.documents import document

SOURCE = "chain.toml"

FOUR = """
[market.regimes]
names = ["calm", "normal", "stressed", "crisis"]
transition = [
  [0.99, 0.01, 0.0, 0.0],
  [0.02, 0.97, 0.01, 0.0],
  [0.0, 0.05, 0.9, 0.05],
  [0.0, 0.0, 0.2, 0.8],
]
initial = "stationary"
stress = ["stressed", "crisis"]

[market.regimes.crisis]
theta = 0.25
jump_intensity = 12

[market.regimes.calm]
theta = 0.011
"""


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        loads(document() + text, SOURCE)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{SOURCE}: ")
    return info.value


# ---------------------------------------------------------------------------
# [market.regimes]
# ---------------------------------------------------------------------------


def test_a_four_regime_chain_loads():
    regimes = loads(document() + FOUR).market.regimes
    assert regimes.names == ("calm", "normal", "stressed", "crisis")
    assert regimes.transition[2] == (0.0, 0.05, 0.9, 0.05)
    assert all(type(p) is float for row in regimes.transition for p in row)
    assert regimes.initial == "stationary" and regimes.stress == ("stressed", "crisis")
    # Overrides come in the order of names, named after their table; others stay None.
    assert regimes.params == (RegimeParams(name="calm", theta=0.011),
                              RegimeParams(name="crisis", theta=0.25, jump_intensity=12.0))


def test_the_default_chain_is_one_normal_regime():
    assert loads(document()).market.regimes == RegimeChain()
    only_override = loads(document({"market.regimes.normal.kappa": 2.0})).market.regimes
    assert only_override.names == ("normal",) and only_override.initial == "normal"
    assert only_override.params == (RegimeParams(name="normal", kappa=2.0),)


def test_one_regime_takes_its_name_as_initial():
    text = '[market.regimes]\nnames = ["only"]\ntransition = [[1.0]]\n'
    assert loads(document() + text).market.regimes.initial == "only"


def test_an_empty_override_table_is_kept():
    regimes = loads(document() + "[market.regimes.normal]\n").market.regimes
    assert regimes.params == (RegimeParams(name="normal"),)


def test_row_sums_within_tolerance_are_accepted():
    text = ('[market.regimes]\nnames = ["a", "b", "c"]\ninitial = "a"\n'
            "transition = [[0.1, 0.2, 0.7], [0.3, 0.3, 0.4000000005], [1, 0, 0]]\n")
    assert loads(document() + text).market.regimes.transition[2] == (1.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("text", "key", "fragments"),
    [
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\n', "market.regimes.transition",
         ["is missing", "required with market.regimes.names", "2 rows of 2"]),
        ('[market.regimes]\nnames = ["a", "b"]\ntransition = [[1.0, 0.0], [0.0, 1.0]]\n',
         "market.regimes.initial", ["is missing", "more than one regime", '"a", "b"',
                                    '"stationary"']),
        ('[market.regimes]\nnames = []\ntransition = []\n', "market.regimes.names",
         ["is empty", "non-empty array"]),
        ('[market.regimes]\nnames = "calm"\ntransition = [[1.0]]\n', "market.regimes.names",
         ["not an array of strings"]),
        ('[market.regimes]\nnames = ["a", 3]\n', "market.regimes.names", ["[1] = 3"]),
        ('[market.regimes]\nnames = ["a", " "]\n', "market.regimes.names", ["[1]", "blank"]),
        ('[market.regimes]\nnames = ["a", "a"]\n', "market.regimes.names", ['"a" twice']),
        ('[market.regimes]\nnames = ["a", "stationary"]\n', "market.regimes.names",
         ["reserved"]),
        ('[market.regimes]\nnames = ["names"]\n', "market.regimes.names", ["reserved"]),
        ('[market.regimes]\ntransition = [[0.5, 0.5], [0.5, 0.5]]\n',
         "market.regimes.transition", ["has 2 rows", '1 rows of 1', '"normal"']),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\ntransition = [[1.0, 0.0]]\n',
         "market.regimes.transition", ["has 1 rows", "2 rows of 2 probabilities"]),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\ntransition = 1.0\n',
         "market.regimes.transition", ["not an array of rows"]),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\n'
         "transition = [[1.0, 0.0], [0.5, 0.4]]\n", "market.regimes.transition[1]",
         ['(from "b")', "sums to 0.9", "within 1e-09"]),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\n'
         "transition = [[1.0, 0.0], [1.5, -0.5]]\n", "market.regimes.transition[1]",
         ["1.5 at column 0", 'to "a"', "not a probability"]),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\n'
         "transition = [[1.0, 0.0], 0.5]\n", "market.regimes.transition[1]",
         ["is not an array"]),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\n'
         "transition = [[1.0, 0.0], [0.5, 0.3, 0.2]]\n", "market.regimes.transition[1]",
         ["has 3 entries"]),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\n'
         'transition = [[1.0, 0.0], [true, 0.0]]\n', "market.regimes.transition[1]",
         ["true at column 0, not a number"]),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "c"\n'
         "transition = [[1.0, 0.0], [0.0, 1.0]]\n", "market.regimes.initial",
         ['"c" is not a regime name', '"a", "b", or "stationary"']),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\nstress = ["b", "c"]\n'
         "transition = [[1.0, 0.0], [0.0, 1.0]]\n", "market.regimes.stress",
         ['[1] = "c" is not a regime name', '"a", "b"']),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\nstress = ["b", "b"]\n'
         "transition = [[1.0, 0.0], [0.0, 1.0]]\n", "market.regimes.stress", ["repeated"]),
        ('[market.regimes]\nnames = ["a", "b"]\ninitial = "a"\nstress = "b"\n'
         "transition = [[1.0, 0.0], [0.0, 1.0]]\n", "market.regimes.stress",
         ["not an array of strings"]),
        ('[market.regimes]\nnames = ["calm", "crisis"]\ninitial = "calm"\n'
         "transition = [[1.0, 0.0], [0.0, 1.0]]\n[market.regimes.crisiss]\ntheta = 0.2\n",
         "market.regimes.crisiss", ["not a regime of market.regimes.names",
                                    "did you mean market.regimes.crisis?", '"calm", "crisis"']),
        ("[market.regimes.calm]\ntheta = 0.2\n", "market.regimes.calm",
         ["not a regime", '"normal"']),
        ('[market.regimes]\nname = ["a"]\n', "market.regimes.name",
         ["not a known key", "did you mean market.regimes.names?"]),
    ],
)
def test_bad_chains(text, key, fragments):
    err = error(text)
    assert err.key == key and key in str(err)
    for fragment in fragments:
        assert fragment in str(err), (fragment, str(err))


def test_stationary_needs_one_closed_class():
    # "a" and "c" each absorb: two stationary distributions.
    text = ('[market.regimes]\nnames = ["a", "b", "c"]\ninitial = "stationary"\n'
            "transition = [[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]]\n")
    err = error(text)
    assert err.keys == ("market.regimes.initial", "market.regimes.transition")
    assert '2 closed sets of regimes ("a"; "c")' in str(err)
    # With "a" leading to "c", "b" and "a" are transient and "c" is the one closed class.
    fine = text.replace("[[1.0, 0.0, 0.0]", "[[0.0, 0.0, 1.0]")
    assert loads(document() + fine).market.regimes.initial == "stationary"


def test_per_regime_rule_names_inherited_values():
    market = "[market]\njump_variance_mean = 0.06\njump_spot_per_variance = 0.0\n"
    err = error(market + FOUR + "jump_spot_per_variance = 20.0\n")  # in [market.regimes.calm]
    assert err.keys == ("market.regimes.calm.jump_spot_per_variance",
                        "market.regimes.calm.jump_variance_mean")
    assert "market.regimes.calm.jump_variance_mean = 0.06 (from market.jump_variance_mean)" \
        in str(err)


def test_per_regime_pricing_measure_rule_names_inherited_values():
    # [market.regimes.calm] sets a premium above the kappa it inherits from [market].
    err = error("[market]\nkappa = 2.0\n" + FOUR + "vol_risk_premium = 2.5\n")
    assert err.keys == ("market.regimes.calm.kappa", "market.regimes.calm.vol_risk_premium")
    assert "market.regimes.calm.kappa = 2.0 (from market.kappa)" in str(err)
    assert "kappa - vol_risk_premium > 0" in str(err)
    fine = loads(document() + "[market]\nkappa = 2.0\n" + FOUR + "vol_risk_premium = 1.5\n")
    calm = fine.market.pricing_models()[0]
    assert calm.kappa == 0.5 and calm.theta == pytest.approx(4.0 * 0.011)  # kappa theta / kappa_Q


def test_breadth_switch_needs_stress_and_non_stress_regimes():
    switch = "[market.breadth]\ndivergence_predicts_stress = true\n"
    assert loads(document() + FOUR + switch).market.breadth.divergence_predicts_stress
    all_stress = FOUR.replace('stress = ["stressed", "crisis"]',
                              'stress = ["calm", "normal", "stressed", "crisis"]')
    err = error(all_stress + switch)
    assert err.key == "market.breadth.divergence_predicts_stress"


# ---------------------------------------------------------------------------
# [market.events] calendar
# ---------------------------------------------------------------------------

CSV = "date,kind\n2025-01-29,FOMC\n2025-02-12,CPI\n"


def scenario_file(folder, calendar: str) -> str:
    path = folder / "scenario.toml"
    path.write_text(document({"market.events.calendar": calendar}), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("word", ["generated", "none"])
def test_calendar_words(word):
    assert loads(document({"market.events.calendar": word})).market.events.calendar == word


def test_relative_calendar_is_resolved_against_the_scenario_folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "events.csv").write_text(CSV, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = scenario_file(tmp_path, "data/events.csv")
    calendar = load(path).market.events.calendar
    assert calendar == str(tmp_path / "data" / "events.csv") and os.path.isabs(calendar)
    # "../" is normalized away; an absolute path is kept.
    assert load(scenario_file(tmp_path, "../" + tmp_path.name + "/data/events.csv")
                ).market.events.calendar == calendar
    assert load(scenario_file(tmp_path, calendar)).market.events.calendar == calendar


def test_in_memory_text_resolves_against_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text(CSV, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    scenario = loads(document({"market.events.calendar": "events.csv"}))
    assert scenario.market.events.calendar == str(tmp_path / "events.csv")


@pytest.mark.parametrize("target", ["absent.csv", "folder"])
def test_missing_calendar_file_names_scenario_and_key(tmp_path, target):
    (tmp_path / "folder").mkdir()
    path = scenario_file(tmp_path, target)
    with pytest.raises(ScenarioError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: market.events.calendar = ")
    assert "no such file" in message and str(tmp_path / target) in message
    assert info.value.key == "market.events.calendar"


def fake_events(monkeypatch, **functions) -> list[str]:
    """Install a stand-in ``sim.market.events`` module; returns the paths it was given."""
    seen: list[str] = []
    module = types.ModuleType("sim.market.events")
    for name, function in functions.items():
        def recorded(path, function=function):
            seen.append(str(path))
            return function(path)
        setattr(module, name, recorded)
    monkeypatch.setitem(sys.modules, "sim.market.events", module)
    return seen


def test_calendar_file_is_read_by_the_events_module(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text(CSV, encoding="utf-8")
    seen = fake_events(monkeypatch, load_calendar_file=lambda path: ())
    load(scenario_file(tmp_path, "events.csv"))
    assert seen == [str(tmp_path / "events.csv")]


def test_calendar_file_errors_become_scenario_errors(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text("date,kind\n2025-13-01,FOMC\n", encoding="utf-8")

    def refuse(path):
        raise ValueError(f"{path}: line 2: month must be in 1..12\n(bad date)")

    fake_events(monkeypatch, load_calendar_file=refuse)
    path = scenario_file(tmp_path, "events.csv")
    with pytest.raises(ScenarioError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: market.events.calendar: ")
    assert "line 2: month must be in 1..12 (bad date)" in message
    assert info.value.key == "market.events.calendar"


def test_calendar_is_not_parsed_without_a_reader(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text("not a calendar", encoding="utf-8")
    fake_events(monkeypatch)  # a module without load_calendar_file
    path = scenario_file(tmp_path, "events.csv")
    assert load(path).market.events.calendar == str(tmp_path / "events.csv")
