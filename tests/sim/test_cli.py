"""The alvh command line: run, scenarios, describe, and exit status 2 on bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim.cli import main


@pytest.fixture(autouse=True)
def _run_records_in_tmp(tmp_path, monkeypatch):
    """``alvh run`` without --out keeps a run record: here, not in the working directory."""
    monkeypatch.setenv("ALVH_RUNS_DIR", str(tmp_path / "runs"))


def test_run_prints_a_summary_with_units_and_wall_time(capsys):
    assert main(["run", "--paths", "30", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "mean P&L" in out and "CVaR 95%" in out and "unit" in out
    assert "wall time:" in out and "scenario: default" in out


def test_scenarios_lists_the_default(capsys):
    assert main(["scenarios"]) == 0
    assert "default" in capsys.readouterr().out


def test_describe_prints_units(capsys):
    assert main(["describe", "default"]) == 0
    out = capsys.readouterr().out
    assert "rho" in out and "index points" in out


@pytest.mark.parametrize("argv", [["run", "--paths", "0"], ["run", "--seed", "x"], ["nope"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_bad_scenario_file_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ndescription = "y"\n[market]\nrho = 1.5\n')
    assert main(["run", str(bad), "--paths", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bad.toml" in err and "market.rho" in err


def test_console_script_module_entry_runs():
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", "nosuchpreset"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "nosuchpreset" in proc.stderr and "Traceback" not in proc.stderr


def test_calibrate_writes_a_loadable_scenario_and_prints_the_facts(tmp_path, capsys):
    import scenarios

    out = tmp_path / "cal.toml"
    assert main(["calibrate", "--out", str(out), "--paths", "4", "--days", "400",
                 "--keep-smile"]) == 0
    text = capsys.readouterr().out
    assert "stylized facts" in text and "VIX AR(1)" in text and "wrote" in text
    scenario = scenarios.load(str(out))
    assert scenario.market.regimes.names == ("calm", "normal", "stressed", "crisis")


def test_calibrate_to_a_missing_folder_exits_2(tmp_path, capsys):
    assert main(["calibrate", "--out", str(tmp_path / "no" / "such" / "x.toml"),
                 "--paths", "2", "--days", "100", "--keep-smile"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "x.toml" in err


def test_run_takes_a_policy_and_policies_lists_them(capsys):
    assert main(["run", "--policy", "alvh", "--paths", "20", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "policy: alvh" in out and "mean P&L" in out
    assert main(["policies"]) == 0
    listed = capsys.readouterr().out
    for name in ("none", "active", "static-vix", "alvh", "alvh-credit-first"):
        assert name in listed


def test_an_unknown_policy_exits_2_with_one_line(capsys):
    assert main(["run", "--policy", "no-such-policy", "--paths", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no policy named" in err
