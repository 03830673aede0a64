"""Loading, validation errors and description of scenarios (scenarios.loader)."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
from pathlib import Path

import pytest

import scenarios
from scenarios import ScenarioError, list_presets, load, loads, preset_path
from sim.config import SECTIONS, EventSpec, MarketModel, Scenario
from tests.scenarios.documents import FIELDS, document, loaded_value

# ---------------------------------------------------------------------------
# The default preset and the dataclasses
# ---------------------------------------------------------------------------


#: Fields where presets/default.toml departs from the dataclass defaults, on purpose:
#: it switches modest event-day jumps on (the dataclasses leave them off).
DEFAULT_TOML_EVENTS = {"fomc_spot_std": 0.008, "fomc_variance_jump": 0.002,
                       "cpi_spot_std": 0.006, "cpi_variance_jump": 0.001,
                       "ppi_spot_std": 0.003, "ppi_variance_jump": 0.0}


def test_default_preset_equals_dataclass_defaults_but_event_jumps():
    scenario = load()
    assert scenario.name == "default"
    assert scenario.description
    assert scenario.source == str(preset_path("default"))
    events = dataclasses.replace(EventSpec(), **DEFAULT_TOML_EVENTS)
    expected = Scenario(name="default", description=scenario.description,
                        market=MarketModel(events=events), source=scenario.source)
    assert scenario == expected
    for dotted, _, _ in FIELDS:  # types too: 5000.0 stays a float, 30 an int
        got, want = loaded_value(scenario, dotted), loaded_value(expected, dotted)
        assert type(got) is type(want), dotted


def test_none_name_and_path_load_the_same_scenario():
    assert load(None) == load("default") == load(preset_path("default"))
    assert load(str(preset_path("default"))) == load()


def test_minimal_document_takes_the_defaults():
    scenario = loads(document())
    assert scenario == Scenario(name="test", description="a test scenario", source="<string>")


@pytest.mark.parametrize("cls", [*SECTIONS.values(), Scenario])
def test_sections_are_frozen(cls):
    instance = cls(name="x", description="y") if cls is Scenario else cls()
    field_name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(instance, field_name, None)


def test_source_is_the_path_as_given(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text(document({"market.rho": -0.5}), encoding="utf-8")
    assert load(path).source == str(path)
    assert load(str(path)).market.rho == -0.5
    monkeypatch.chdir(tmp_path)
    assert load("mine.toml").source == "mine.toml"  # .toml suffix: a path, not a preset


def test_pathlike_is_always_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load(Path("default"))


def test_int_for_float_field_is_stored_as_float():
    scenario = loads(document({"condor.wing_width": 55, "market.spot0": 4000}))
    assert scenario.condor.wing_width == 55.0 and type(scenario.condor.wing_width) is float
    assert type(scenario.market.spot0) is float


def test_start_date_accepts_a_toml_date():
    text = document() + "\n[simulation]\nstart_date = 2024-03-01\n"
    assert loads(text).simulation.start_date == "2024-03-01"


@pytest.mark.parametrize(
    "overrides",
    [
        {"condor.dte_min": 45, "condor.dte_max": 45},  # equal is allowed
        {"condor.exit_dte": 29},
        {"smile.min_vol": 0.5, "smile.max_vol": 0.51},
        {"market.jump_spot_per_variance": 20.0, "market.jump_variance_mean": 0.0499},
        {"market.rho": -1, "condor.short_delta": 0.49, "smile.atm_vix_ratio": 3},
        {"simulation.seed": 2**63 - 1, "simulation.start_date": "2024-02-29"},
        {"vix.min_option_vol": 2.99, "vix.n_futures": 12, "market.events.fomc_spot_std": 0.5},
        {"market.breadth.divergence_predicts_stress": False, "market.breadth.beta": 0},
        {"market.regimes.normal.theta": 4.0, "market.regimes.normal.rho": -1.0},
        {"market.regimes.normal.jump_spot_per_variance": 20.0,
         "market.regimes.normal.jump_variance_mean": 0.0499},
        # kappa under the pricing measure, kappa - vol_risk_premium, just above 0.
        {"market.kappa": 4.0, "market.vol_risk_premium": 3.999},
        {"market.kappa": 0.0, "market.vol_risk_premium": -50.0},
        {"market.kappa": 0.0, "market.vol_risk_premium": 0.0},  # no premium: no rule
        {"market.regimes.normal.kappa": 1.0, "market.regimes.normal.vol_risk_premium": 0.5},
    ],
)
def test_edge_values_are_accepted(overrides):
    scenario = loads(document(overrides))
    for dotted, value in overrides.items():
        assert loaded_value(scenario, dotted) == value


# ---------------------------------------------------------------------------
# Every bad input raises ScenarioError: one line, naming file, key, what is allowed
# ---------------------------------------------------------------------------


def check_error(err: ScenarioError, path: str, key: str | None, *fragments: str) -> None:
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert err.path == path
    assert err.key == key
    if key is not None:
        assert key in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def load_file(tmp_path: Path, text: str) -> tuple[str, ScenarioError]:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load(path)
    return str(path), info.value


BAD_VALUES = [
    # wrong types
    ({"market.rho": "-0.7"}, "market.rho", ["a number", "-1 <= rho <= 1"]),
    ({"market.rho": True}, "market.rho", ["a number", "-1 <= rho <= 1"]),
    ({"market.spot0": [5000.0]}, "market.spot0", ["a number", "0 < spot0"]),
    ({"condor.dte_min": 30.0}, "condor.dte_min", ["an integer", "1 <= dte_min <= 365"]),
    ({"condor.dte_min": False}, "condor.dte_min", ["an integer"]),
    ({"simulation.n_paths": "1000"}, "simulation.n_paths", ["an integer"]),
    ({"simulation.start_date": 20250102}, "simulation.start_date", ["YYYY-MM-DD"]),
    ({"market.kappa": {"value": 4.0}}, "market.kappa", ["a number"]),
    # out of range: negative vol-like fields, |rho| > 1, open bounds hit exactly
    ({"market.xi": -0.1}, "market.xi", ["out of range", "0 <= xi <= 5"]),
    ({"market.variance0": -0.01}, "market.variance0", ["0 <= variance0 <= 4"]),
    ({"market.theta": -1e-12}, "market.theta", ["0 <= theta <= 4"]),
    ({"market.jump_spot_std": -0.01}, "market.jump_spot_std", ["0 <= jump_spot_std <= 1"]),
    ({"market.rho": 1.5}, "market.rho", ["= 1.5 is out of range", "-1 <= rho <= 1"]),
    ({"market.rho": -1.0000001}, "market.rho", ["-1 <= rho <= 1"]),
    ({"smile.min_vol": 0.0}, "smile.min_vol", ["0 < min_vol <= 5"]),
    ({"smile.atm_vix_ratio": 0}, "smile.atm_vix_ratio", ["0 < atm_vix_ratio <= 3"]),
    ({"condor.short_delta": 0.5}, "condor.short_delta", ["0 < short_delta < 0.5"]),
    ({"condor.short_delta": 0.0}, "condor.short_delta", ["0 < short_delta < 0.5"]),
    ({"market.spot0": 0.0}, "market.spot0", ["0 < spot0"]),
    ({"account.initial_cash": -1}, "account.initial_cash", ["0 < initial_cash"]),
    ({"condor.dte_max": 366}, "condor.dte_max", ["1 <= dte_max <= 365"]),
    ({"simulation.n_paths": 0}, "simulation.n_paths", ["1 <= n_paths"]),
    ({"simulation.seed": -1}, "simulation.seed", ["0 <= seed"]),
    # non-finite numbers
    ({"market.rho": float("nan")}, "market.rho", ["finite", "-1 <= rho <= 1"]),
    ({"market.spot0": float("inf")}, "market.spot0", ["finite", "0 < spot0"]),
    ({"account.initial_cash": float("inf")}, "account.initial_cash", ["finite"]),
    ({"market.rate": float("-inf")}, "market.rate", ["finite", "-0.1 <= rate <= 0.5"]),
    ({"market.spot0": 10**400}, "market.spot0", ["finite"]),
    # dates
    ({"simulation.start_date": "2025-02-30"}, "simulation.start_date", ["YYYY-MM-DD"]),
    ({"simulation.start_date": "2025/01/02"}, "simulation.start_date", ["YYYY-MM-DD"]),
    ({"simulation.start_date": "20250102"}, "simulation.start_date", ["YYYY-MM-DD"]),
    ({"simulation.start_date": "2025-01-02T00:00"}, "simulation.start_date", ["YYYY-MM-DD"]),
    # unknown keys
    ({"market.rh0": 0.5}, "market.rh0", ["not a known key", "market.rho?", "spot0", "rho"]),
    ({"condor.delta": 0.1}, "condor.delta", ["not a known key", "short_delta"]),
    # nested tables and new sections
    ({"market.events.fomc_spot_std": -0.1}, "market.events.fomc_spot_std",
     ["out of range", "0 <= fomc_spot_std <= 0.5"]),
    ({"market.events.cpi_spotstd": 0.1}, "market.events.cpi_spotstd",
     ["not a known key", "market.events.cpi_spot_std?"]),
    ({"market.breadth.divergence_predicts_stress": 1},
     "market.breadth.divergence_predicts_stress", ["is not true or false"]),
    ({"market.breadth.divergence_predicts_stress": "true"},
     "market.breadth.divergence_predicts_stress", ["allowed: true or false"]),
    ({"market.breadth.stress_multiplier": 0.5}, "market.breadth.stress_multiplier",
     ["1 <= stress_multiplier <= 100"]),
    ({"vix.n_futures": 13}, "vix.n_futures", ["1 <= n_futures <= 12"]),
    ({"vix.n_futures": 6.0}, "vix.n_futures", ["an integer"]),
    ({"vix.min_option_vol": 0}, "vix.min_option_vol", ["0 < min_option_vol <= 10"]),
    ({"market.regimes.normal.theta": 5.0}, "market.regimes.normal.theta",
     ["out of range", "0 <= theta <= 4"]),
    ({"market.regimes.normal.rho": "high"}, "market.regimes.normal.rho", ["a number"]),
    ({"market.regimes.normal.thetta": 0.1}, "market.regimes.normal.thetta",
     ["not a known key", "market.regimes.normal.theta?"]),
    ({"market.regimes.normal.name": "x"}, "market.regimes.normal.name",
     ["not a known key", "equity_premium"]),
    ({"market.regimes.normal.spot0": 10.0}, "market.regimes.normal.spot0",
     ["not a known key"]),
    ({"market.regimes.transitions": [[1.0]]}, "market.regimes.transitions",
     ["not a known key", "market.regimes.transition?"]),
    ({"market.regimes.params": []}, "market.regimes.params", ["not a known key"]),
    ({"market.regimes.normal": 3}, "market.regimes.normal", ["not a table"]),
    ({"market.events.calendar": 3}, "market.events.calendar", ["not a string"]),
    ({"market.events.calendar": ""}, "market.events.calendar", ["blank", "generated"]),
    ({"market.events.calendar": "Generated"}, "market.events.calendar",
     ["no such file", "generated", "none"]),
]


@pytest.mark.parametrize(("overrides", "key", "fragments"), BAD_VALUES,
                         ids=[case[1] for case in BAD_VALUES])
def test_bad_value_names_file_key_and_allowed(tmp_path, overrides, key, fragments):
    path, err = load_file(tmp_path, document(overrides))
    check_error(err, path, key, *fragments)


CROSS_FIELD = [
    ({"condor.dte_min": 46}, ("condor.dte_min", "condor.dte_max"), "<="),
    ({"condor.dte_max": 29}, ("condor.dte_min", "condor.dte_max"), "<="),
    ({"condor.exit_dte": 30}, ("condor.exit_dte", "condor.dte_min"), "<"),
    ({"condor.wing_width": 52.5}, ("condor.wing_width",), "multiple of 5"),
    ({"condor.wing_width": 51}, ("condor.wing_width",), "multiple of 5"),
    ({"smile.min_vol": 3.0}, ("smile.min_vol", "smile.max_vol"), "<"),
    ({"smile.max_vol": 0.02}, ("smile.min_vol", "smile.max_vol"), "<"),
    ({"market.jump_spot_per_variance": 20.0, "market.jump_variance_mean": 0.05},
     ("market.jump_spot_per_variance", "market.jump_variance_mean"), "< 1"),
    ({"market.jump_spot_per_variance": 2.0, "market.jump_variance_mean": 4.0},
     ("market.jump_spot_per_variance", "market.jump_variance_mean"), "< 1"),
    ({"vix.min_option_vol": 3.0}, ("vix.min_option_vol", "vix.max_option_vol"), "<"),
    ({"vix.max_option_vol": 0.1}, ("vix.min_option_vol", "vix.max_option_vol"), "<"),
    ({"market.regimes.normal.jump_spot_per_variance": 20.0,
      "market.regimes.normal.jump_variance_mean": 0.05},
     ("market.regimes.normal.jump_spot_per_variance",
      "market.regimes.normal.jump_variance_mean"), "in every regime"),
    ({"market.breadth.divergence_predicts_stress": True},
     ("market.breadth.divergence_predicts_stress", "market.regimes.stress",
      "market.regimes.names"), "some but not all regimes"),
    ({"market.vol_risk_premium": 4.0}, ("market.kappa", "market.vol_risk_premium"),
     "market.kappa - market.vol_risk_premium > 0"),
    ({"market.kappa": 0.0, "market.vol_risk_premium": 1.0},
     ("market.kappa", "market.vol_risk_premium"), "pricing measure"),
    ({"market.regimes.normal.vol_risk_premium": 5.0},
     ("market.regimes.normal.kappa", "market.regimes.normal.vol_risk_premium"),
     "in every regime"),
    ({"market.regimes.normal.kappa": 1.0, "market.vol_risk_premium": 1.0},
     ("market.regimes.normal.kappa", "market.regimes.normal.vol_risk_premium"),
     "kappa - vol_risk_premium > 0"),
]


@pytest.mark.parametrize(("overrides", "keys", "rule"), CROSS_FIELD,
                         ids=["-".join(case[0]) for case in CROSS_FIELD])
def test_cross_field_violation_names_both_keys(tmp_path, overrides, keys, rule):
    path, err = load_file(tmp_path, document(overrides))
    check_error(err, path, keys[0], *keys, rule)
    assert err.keys == keys


@pytest.mark.parametrize(
    ("text", "key", "fragments"),
    [
        ('description = "x"\n', "name", ["missing", "a string"]),
        ('name = "x"\n', "description", ["missing", "a string"]),
        ('name = 3\ndescription = "x"\n', "name", ["a non-empty string"]),
        ('name = ""\ndescription = "x"\n', "name", ["a non-empty string"]),
        (document() + "source = 'x'\n", "source", ["not a known key", "name, description"]),
        (document() + "markets = {}\n", "markets", ["not a known key", "market?"]),
        (document() + "market = 3\n", "market", ["not a table", "spot0"]),
        (document() + "condor = [1, 2]\n", "condor", ["not a table", "short_delta"]),
        (document() + "vix = 1\n", "vix", ["not a table", "n_futures"]),
        (document() + "[market]\nevents = 1\n", "market.events", ["not a table", "calendar"]),
        (document() + "[market]\nregimes = 1\n", "market.regimes", ["not a table", "names"]),
        (document() + "[market.event]\n", "market.event", ["not a known key", "market.events?"]),
    ],
)
def test_bad_document_structure(tmp_path, text, key, fragments):
    path, err = load_file(tmp_path, text)
    check_error(err, path, key, *fragments)


def test_toml_syntax_error_gives_line_and_column(tmp_path):
    path, err = load_file(tmp_path, document() + "[market]\nrho = = 1\n")
    check_error(err, path, None, "invalid TOML", "line 4, column 7")


def test_huge_integer_is_a_toml_error_not_a_crash(tmp_path):
    path, err = load_file(tmp_path, document() + "[market]\nrho = 1" + "0" * 5000 + "\n")
    check_error(err, path, None, "invalid TOML")


def test_missing_file(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ScenarioError) as info:
        load(path)
    check_error(info.value, str(path), None, "no such scenario file")


def test_unreadable_file(tmp_path):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(ScenarioError) as info:
        load(folder)
    check_error(info.value, str(folder), None, "cannot read")


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "caf\xe9"\ndescription = "x"\n')
    with pytest.raises(ScenarioError) as info:
        load(path)
    check_error(info.value, str(path), None, "UTF-8")


@pytest.mark.parametrize("name", ["no_such_preset", "", "..", "sub\\dir"])
def test_unknown_preset_lists_available_names(name):
    with pytest.raises(ScenarioError) as info:
        load(name) if "\\" not in name else preset_path(name)
    message = str(info.value)
    assert "\n" not in message
    assert "presets" in message and "allowed:" in message and "default" in message


def test_loads_reports_its_source_label():
    with pytest.raises(ScenarioError, match=r"^fuzz#3: market\.rho = 2\.0 is out of range"):
        loads(document({"market.rho": 2.0}), source="fuzz#3")


def test_error_is_a_value_error_and_pickles():
    with pytest.raises(ValueError) as info:
        loads(document({"condor.dte_min": 50}), source="x.toml")
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, ScenarioError)
    assert (str(copy), copy.path, copy.key, copy.keys) == (
        str(info.value), "x.toml", "condor.dte_min", ("condor.dte_min", "condor.dte_max"))


# ---------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------


def test_list_presets_includes_default():
    presets = list_presets()
    assert presets == sorted(presets)
    assert ("default", load().description) in presets


def test_preset_files_live_in_the_package(tmp_path):
    path = preset_path("default")
    assert path.is_file() and path.parent.name == "presets"
    assert path.parent.parent == Path(scenarios.__file__).parent
    copy = tmp_path / "copy.toml"
    shutil.copy(path, copy)
    assert dataclasses.replace(load(copy), source="") == dataclasses.replace(load(), source="")
