"""Experiments: file validation, overrides, verdicts, and a tiny end-to-end run."""

from __future__ import annotations

import numpy as np
import pytest

import scenarios
from scenarios import ScenarioError
from sim.cli import main
from sim.experiment import apply_overrides, load_experiment, run_experiment, verdict

TINY = '''
name = "tiny"
description = "two claims on a short horizon"
paths = 24
seed = 7
bootstrap = 200
[overrides]
"simulation.n_days" = 30
"account.initial_cash" = 1000000.0
[[claims]]
id = "a"
statement = "alvh beats static-vix risk-adjusted"
policy = "alvh"
baseline = "static-vix"
metric = "sharpe"
claimed = 0.0
scenarios = ["default"]
[[claims]]
id = "b"
statement = "alvh beats none"
policy = "alvh"
baseline = "none"
metric = "pnl"
claimed = 0.0
scenarios = ["default"]
'''


@pytest.mark.parametrize("low, high, claimed, expected", [
    (-3.0, -1.0, 40.0, "contradicted"),
    (-1.0, 2.0, 40.0, "inconclusive"),
    (10.0, 60.0, 40.0, "supported"),
    (10.0, 30.0, 40.0, "better, smaller than claimed"),
    (50.0, 60.0, 40.0, "better, larger than claimed"),
    (0.5, 1.0, 0.0, "supported"),
    (np.nan, 1.0, 0.0, "undefined"),
])
def test_verdicts_read_the_confidence_interval(low, high, claimed, expected):
    assert verdict(low, high, claimed) == expected


def test_the_shipped_claims_file_is_valid():
    experiment = load_experiment("claims")
    assert [c.id for c in experiment.claims] == ["a", "a-entries", "b"]
    presets = {name for name, _ in scenarios.list_presets()}
    assert set(experiment.claims[0].scenarios) == presets
    assert experiment.claims[0].baseline == "static-vix"
    assert experiment.claims[1].scenarios == experiment.claims[0].scenarios
    assert experiment.claims[2].baseline == "active"


@pytest.mark.parametrize("edit, key", [
    (('metric = "sharpe"', 'metric = "sortino"'), "claims[0].metric"),
    (('paths = 24', 'paths = 0'), "paths"),
    (('name = "tiny"', 'name = "tiny"\ncolour = 1'), "colour"),
    (('scenarios = ["default"]\n[[claims]]', 'scenarios = []\n[[claims]]'),
     "claims[0].scenarios"),
])
def test_bad_experiment_files_name_the_key(tmp_path, edit, key):
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace(*edit))
    with pytest.raises(ScenarioError) as caught:
        load_experiment(path)
    assert caught.value.key == key and str(caught.value).startswith(str(path))


def test_overrides_are_validated_by_the_scenario_loader():
    base = scenarios.load("default")
    changed = apply_overrides(base, (("account.initial_cash", 5e5),))
    assert changed.account.initial_cash == 5e5 and changed.market == base.market
    with pytest.raises(ScenarioError, match=r"account\.initial_cash"):
        apply_overrides(base, (("account.initial_cash", -1.0),))
    with pytest.raises(ScenarioError, match="not a scenario parameter"):
        apply_overrides(base, (("account.colour", 1.0),))


def test_a_tiny_experiment_runs_and_is_reproducible(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    first = run_experiment(str(path))
    table = first.table
    assert list(table["claim"]) == ["a", "b"]
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    again = run_experiment(str(path))
    np.testing.assert_array_equal(first.table["value"], again.table["value"])
    assert "claim (a)" in first.to_text() and "| default |" in first.to_markdown()


def test_the_experiment_command_writes_markdown_and_refuses_bad_files(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "claims.md"
    assert main(["experiment", str(path), "--paths", "12", "--markdown", str(out)]) == 0
    assert "Claim (b)" in out.read_text()
    assert main(["experiment", str(tmp_path / "missing.toml")]) == 2
    assert "no such experiment file" in capsys.readouterr().err
