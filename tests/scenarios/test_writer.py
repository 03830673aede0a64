"""dumps(): a scenario written back as TOML (scenarios.writer)."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest
from hypothesis import given

from scenarios import dumps, list_presets, load, loads
from sim.config import RegimeChain, RegimeParams, Scenario
from tests.scenarios.documents import FIELDS
from tests.scenarios.strategies import scenarios


@given(scenarios())
def test_loads_of_dumps_is_the_same_scenario(scenario):
    assert loads(dumps(scenario)) == scenario
    assert loads(dumps(scenario, comments=False)) == scenario


@pytest.mark.parametrize("name", [name for name, _ in list_presets()])
def test_presets_round_trip(name):
    scenario = load(name)
    assert dataclasses.replace(loads(dumps(scenario)), source=scenario.source) == scenario


def test_every_key_is_written_with_unit_and_definition():
    text = dumps(load("default"))
    document = tomllib.loads(text)

    def keys(table: dict, prefix: str) -> set[str]:
        found = set()
        for key, value in table.items():
            dotted = f"{prefix}{key}"
            found |= keys(value, f"{dotted}.") if isinstance(value, dict) else {dotted}
        return found

    assert keys(document, "") == {"name", "description"} | {dotted for dotted, _, _ in FIELDS}
    for _, f, _ in FIELDS:
        assert f"# [{f.metadata['unit']}] {f.metadata['doc']}" in text
    assert "#" not in dumps(load("default"), comments=False)


def test_strings_and_names_that_need_escaping():
    awkward = 'quote " backslash \\ tab \t newline \n del \x7f bell \x07 ünïcode 😀'
    regimes = RegimeChain(
        names=("my regime", "a.b", "ü", 'q"uote'), initial='q"uote', stress=("a.b",),
        transition=((0.5, 0.5, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.25, 0.25, 0.25, 0.25),
                    (0.0, 0.0, 0.0, 1.0)),
        params=(RegimeParams(name="my regime", theta=0.04), RegimeParams(name="a.b"),
                RegimeParams(name='q"uote', rho=-0.9, jump_spot_per_variance=-20.0)))
    scenario = Scenario(name=awkward, description=awkward, source="<string>",
                        market=dataclasses.replace(Scenario("x", "y").market, regimes=regimes))
    text = dumps(scenario)
    assert '[market.regimes."a.b"]' in text and '[market.regimes."my regime"]' in text
    assert loads(text) == scenario


def test_floats_keep_every_digit():
    market = dataclasses.replace(Scenario("x", "y").market, rho=0.1 + 0.2 - 1.0, theta=5e-324,
                                 spot0=999999999.9999999, kappa=-0.0, xi=1e-17)
    scenario = Scenario(name="x", description="y", market=market, source="<string>")
    loaded = loads(dumps(scenario))
    assert loaded == scenario
    assert loaded.market.rho == 0.1 + 0.2 - 1.0 and loaded.market.theta == 5e-324


def test_calendar_path_round_trips(tmp_path):
    calendar = tmp_path / "events.csv"
    calendar.write_text("date,kind\n2025-01-29,FOMC\n", encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\ndescription = "y"\n[market.events]\ncalendar = "events.csv"\n',
                    encoding="utf-8")
    scenario = load(path)
    assert scenario.market.events.calendar == str(calendar)
    assert dataclasses.replace(loads(dumps(scenario)), source=str(path)) == scenario
