"""Manifests and ``alvh rerun``: a run is reproduced bit for bit from its manifest alone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import scenarios
from scenarios.policy_loader import load_policy, loads_policy
from scenarios.writer import dumps_policy
from sim.agents.condor import CondorAgent
from sim.cli import main
from sim.output import RunFolder
from sim.rerun import RerunError, rerun
from sim.runner import package_versions, read_paths, run
from sim.shards import AgentsPolicy

SCENARIO = """name = "rerun-test"
description = "short horizon, one stress regime, event jumps"
[market]
jump_intensity = 2.0
[market.regimes]
names = ["calm", "stressed"]
transition = [[0.95, 0.05], [0.10, 0.90]]
initial = "stationary"
stress = ["stressed"]
[market.regimes.stressed]
theta = 0.09
xi = 1.2
[market.events]
calendar = "{calendar}"
fomc_spot_std = 0.01
cpi_variance_jump = 0.004
[simulation]
n_days = 25
"""
CALENDAR = "date,kind\n2025-01-08,CPI\n2025-01-15,FOMC\n2025-01-22,PPI\n"
N_PATHS, SEED = 600, 7


@pytest.fixture(autouse=True)
def _run_records_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("ALVH_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture
def files(tmp_path):
    """A scenario with its event calendar file, and a custom policy file."""
    (tmp_path / "events.csv").write_text(CALENDAR)
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO.format(calendar="events.csv"))
    base = load_policy("alvh")
    custom = dataclasses.replace(base, name="my-hedge", description="alvh, cheaper", layers=(
        dataclasses.replace(base.layers[0], size=0.45, long_offset=3.0), *base.layers[1:]))
    policy = tmp_path / "my_policy.toml"
    policy.write_text(dumps_policy(custom))
    return scenario, policy


def summary_lines(out: str) -> str:
    return out.split("metric")[1].split("\n\n")[0]


def test_the_manifest_records_everything_a_rerun_needs(files, tmp_path):
    scenario_file, policy_file = files
    out = tmp_path / "run"
    result = run(scenarios.load(scenario_file), n_paths=N_PATHS, seed=SEED, shard_size=256,
                 policy=str(policy_file), out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == result.manifest
    assert manifest["format"] == 2 and manifest["version"]
    assert set(manifest["packages"]) >= {"python", "numpy", "numba", "scipy", "simpy",
                                         "pandas", "pyarrow"}
    assert manifest["packages"] == package_versions()
    policy = manifest["policy"]
    assert policy["reproducible"] and policy["name"] == "my-hedge"
    assert loads_policy(policy["toml"]) == dataclasses.replace(result.policy, source="<string>")
    assert manifest["scenario"]["calendar"]["text"] == CALENDAR
    assert scenarios.loads(manifest["scenario"]["toml"]).market.events.calendar == str(
        tmp_path / "events.csv")
    assert (manifest["seed"], manifest["n_paths"], manifest["paths_per_block"]) == (
        SEED, N_PATHS, 256)
    assert manifest["shards"]["count"] == 3 and manifest["backend"] == "serial"
    assert manifest["workers"] == 1


def test_rerun_reproduces_a_custom_policy_run_bit_for_bit_from_the_manifest_alone(
        files, tmp_path, capsys):
    scenario_file, policy_file = files
    out = tmp_path / "run"
    argv = ["run", str(scenario_file), "--policy", str(policy_file), "--paths", str(N_PATHS),
            "--seed", str(SEED), "--shard-size", "256", "--backend", "serial", "--out",
            str(out), "--quiet"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    original = read_paths(out)
    # The manifest alone suffices: the policy file, the scenario file and its calendar go.
    for path in (policy_file, scenario_file, tmp_path / "events.csv"):
        path.unlink()
    again = tmp_path / "again"
    status = main(["rerun", str(out / "manifest.json"), "--out", str(again), "--shard-size",
                   "512", "--backend", "processes", "--workers", "2", "--quiet"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "identical: every number is the same, bit for bit" in printed
    assert "paths x" in printed and "shard file(s), bit for bit" in printed
    assert "event calendar" in printed   # the recorded copy was used
    assert summary_lines(printed) == summary_lines(first)
    rerun_paths = read_paths(again)
    assert list(rerun_paths) == list(original)
    for column, values in original.items():   # bit for bit, NaN included
        assert rerun_paths[column].tobytes() == values.tobytes(), column
    assert json.loads((again / "manifest.json").read_text())["shards"]["paths_per_shard"] == 512


def test_a_run_record_without_out_reruns_from_its_summary(tmp_path, capsys):
    scenario_file = tmp_path / "tiny.toml"
    scenario_file.write_text('name = "tiny"\ndescription = "x"\n[simulation]\nn_days = 10\n')
    assert main(["run", str(scenario_file), "--paths", "300", "--seed", "2", "--policy",
                 "static-vix", "--quiet"]) == 0
    printed = capsys.readouterr().out
    records = list((tmp_path / "runs").iterdir())
    assert len(records) == 1 and f"run record: {records[0]}" in printed
    assert sorted(p.name for p in records[0].iterdir()) == ["manifest.json", "summary.json"]
    scenario_file.unlink()
    assert main(["rerun", str(records[0]), "--quiet"]) == 0
    again = capsys.readouterr().out
    assert "identical" in again and "from summary.json" in again
    assert summary_lines(again) == summary_lines(printed)
    assert main(["run", str(tmp_path / "x.toml"), "--no-record"]) == 2   # missing file
    capsys.readouterr()
    scenario_file.write_text('name = "tiny"\ndescription = "x"\n[simulation]\nn_days = 3\n')
    assert main(["run", str(scenario_file), "--paths", "5", "--no-record", "--quiet"]) == 0
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_differences_are_listed_and_exit_1(files, tmp_path, capsys):
    scenario_file, _ = files
    out = tmp_path / "run"
    run(scenarios.load(scenario_file), n_paths=N_PATHS, seed=SEED, shard_size=256, out=out)
    # Change one value of one shard file, keeping its metadata, and one summary value.
    path = RunFolder(out).shard_path(1)
    table = pq.read_table(path)
    pnl = table.column("pnl").to_numpy().copy()
    pnl[5] = np.nextafter(pnl[5], np.inf)
    table = table.set_column(table.column_names.index("pnl"), "pnl", pa.array(pnl))
    pq.write_table(table, path)
    summary = json.loads((out / "summary.json").read_text())
    summary["summary"][1]["value"] += 1.0
    (out / "summary.json").write_text(json.dumps(summary))
    assert main(["rerun", str(out), "--backend", "serial", "--quiet"]) == 1
    printed = capsys.readouterr().out
    assert "DIFFERENT" in printed
    assert "summary mean P&L: original" in printed
    assert "per-path pnl: 1 path(s) differ, the first is path 261" in printed


def test_version_differences_are_warnings_not_errors(files, tmp_path):
    scenario_file, _ = files
    out = tmp_path / "run"
    run(scenarios.load(scenario_file), n_paths=300, seed=SEED, out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["version"] = "0.0.1"
    manifest["packages"]["numpy"] = "1.0.0"
    del manifest["packages"]["simpy"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    report = rerun(out, backend="serial")
    assert report.identical
    assert any("alvh 0.0.1" in w for w in report.warnings)
    assert any("numpy 1.0.0 -> " in w and "simpy absent -> " in w for w in report.warnings)


def test_agents_built_in_python_are_not_reproducible_from_the_manifest_alone(files, tmp_path,
                                                                            capsys):
    scenario_file, _ = files
    out = tmp_path / "run"
    scenario = scenarios.load(scenario_file)
    run(scenario, n_paths=300, seed=SEED, agents=[CondorAgent], out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"]["reproducible"] is False
    assert manifest["policy"]["toml"] is None
    assert manifest["policy"]["factories"] == ["sim.agents.condor.CondorAgent"]
    with pytest.raises(RerunError, match="built in Python"):
        rerun(out)
    assert main(["rerun", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not reproducible from the manifest alone" in err
    report = rerun(out, policy=AgentsPolicy(name="CondorAgent", factories=(CondorAgent,)),
                   backend="serial")
    assert report.identical and not report.warnings[1:]


def test_a_manifest_of_format_1_reruns_a_shipped_policy_by_name(files, tmp_path):
    scenario_file, _ = files
    out = tmp_path / "run"
    run(scenarios.load(scenario_file), n_paths=300, seed=SEED, policy="alvh", out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format"] = 1
    for key in ("toml", "reproducible", "source"):
        manifest["policy"].pop(key)
    for key in ("packages", "platform"):
        manifest.pop(key)
    (out / "manifest.json").write_text(json.dumps(manifest))
    report = rerun(out / "manifest.json", backend="serial")
    assert report.identical
    assert any("does not record package versions" in w for w in report.warnings)
    assert Path(report.manifest_path) == out / "manifest.json"
