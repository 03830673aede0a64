"""Errors on the command line: bad input is one line and exit status 2, a bug is one
line naming the exception and its traceback file (exit 1), Ctrl-C is one line (130).

No traceback ever reaches the user unless ``ALVH_DEBUG=1`` asks for it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sim.cli
from sim.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = """name = "tiny"
description = "a short test scenario"
[simulation]
n_days = 5
"""


@pytest.fixture(autouse=True)
def _run_records_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("ALVH_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("ALVH_DEBUG", raising=False)


def exit_status(argv: list[str]) -> int:
    """``main(argv)``, with argparse's SystemExit turned into its status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("alvh: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Name -> (argv, a fragment the one-line message must hold)."""
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text('name = "x"\ndescription = "y"\n[market]\nrho = 1.5\n')
    not_toml = tmp / "not.toml"
    not_toml.write_bytes(b"\xff\xfe garbage")
    tiny = tmp / "tiny.toml"
    tiny.write_text(TINY)
    a_file = tmp / "a_file"
    a_file.write_text("x")
    foreign = {}
    for name, text in (("array", "[]"), ("policy_list", '{"policy": ["x"], "scenario": 3}'),
                       ("not_json", "{nope"), ("other_tool", '{"tool": "other"}')):
        folder = tmp / f"foreign_{name}"
        folder.mkdir()
        (folder / "manifest.json").write_text(text)
        foreign[name] = folder
    empty = tmp / "empty_folder"
    empty.mkdir()
    return {
        "unknown preset": (["run", "nosuchpreset"], "nosuchpreset"),
        "unknown policy": (["run", str(tiny), "--policy", "nosuchpolicy"], "nosuchpolicy"),
        "bad value": (["run", str(bad_toml)], "market.rho"),
        "not UTF-8": (["run", str(not_toml)], "not UTF-8"),
        "folder as scenario": (["run", str(empty)], "cannot read"),
        "NUL in name": (["run", "a\x00b.toml"], "file name"),
        "zero paths": (["run", "--paths", "0"], "--paths"),
        "text paths": (["run", "--paths", "many"], "--paths"),
        "negative seed": (["run", "--seed", "-3"], "--seed"),
        "huge shard": (["run", "--shard-size", "1e9"], "--shard-size"),
        "bad backend": (["run", "--backend", "gpu"], "--backend"),
        "unknown option": (["run", "--colour"], "--colour"),
        "unknown command": (["fly"], "fly"),
        "no command": ([], "command"),
        "out is a file": (["run", str(tiny), "--paths", "5", "--out", str(a_file)], "a_file"),
        "out under a file": (["run", str(tiny), "--paths", "5", "--out",
                              str(a_file / "sub")], "a_file"),
        "resume without out": (["run", "--resume"], "--resume"),
        **{f"resume foreign manifest ({name})": (
            ["run", str(tiny), "--paths", "5", "--out", str(folder), "--resume"],
            "manifest") for name, folder in foreign.items()},
        "compare unknown scenario": (["compare", "nosuch", "--paths", "4"], "nosuch"),
        "compare unknown policy": (["compare", str(tiny), "--policies", "nosuchpolicy",
                                    "--paths", "4"], "nosuchpolicy"),
        "compare bad baseline": (["compare", str(tiny), "--policies", "none", "--baseline",
                                  "alvh", "--paths", "4"], "baseline"),
        "describe unknown": (["describe", "nosuch"], "nosuch"),
        "describe bad file": (["describe", str(bad_toml)], "market.rho"),
        "experiment unknown": (["experiment", "nosuch"], "nosuch"),
        "report no folder": (["report", str(tmp / "absent")], "absent"),
        "check unknown policy": (["check", "nosuchpolicy"], "nosuchpolicy"),
        "replay bad date": (["replay", "--start", "notadate"], "notadate"),
        "replay unknown scenario": (["replay", "--scenario", "nosuch"], "nosuch"),
        "calibrate zero paths": (["calibrate", "--paths", "0"], "--paths"),
        "rerun missing": (["rerun", str(tmp / "absent")], "absent"),
        "rerun folder without manifest": (["rerun", str(empty)], "manifest"),
        **{f"rerun foreign manifest ({name})": (["rerun", str(folder)], "manifest")
           for name, folder in foreign.items()},
    }


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    return _bad_inputs(tmp_path_factory.mktemp("bad"))


CASES = ["unknown preset", "unknown policy", "bad value", "not UTF-8", "folder as scenario",
         "NUL in name", "zero paths", "text paths", "negative seed", "huge shard",
         "bad backend", "unknown option", "unknown command", "no command", "out is a file",
         "out under a file", "resume without out", "resume foreign manifest (array)",
         "resume foreign manifest (policy_list)", "resume foreign manifest (not_json)",
         "compare unknown scenario", "compare unknown policy", "compare bad baseline",
         "describe unknown", "describe bad file", "experiment unknown", "report no folder",
         "check unknown policy", "replay bad date", "replay unknown scenario",
         "calibrate zero paths",
         "rerun missing", "rerun folder without manifest", "rerun foreign manifest (array)",
         "rerun foreign manifest (policy_list)", "rerun foreign manifest (not_json)",
         "rerun foreign manifest (other_tool)"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_status_2(case, bad_inputs, capsys):
    argv, fragment = bad_inputs[case]
    assert exit_status(argv) == 2
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert fragment in line


def test_an_unwritable_out_folder_fails_before_simulating(tmp_path, capsys, monkeypatch):
    import sim.runner

    def no_simulation(*args, **kwargs):   # pragma: no cover - must not be reached
        raise AssertionError("simulated before checking the folder")

    monkeypatch.setattr(sim.runner, "make_tasks", no_simulation)
    (tmp_path / "file").write_text("x")
    assert main(["run", "--paths", "5", "--out", str(tmp_path / "file" / "out")]) == 2
    assert "file" in one_error_line(capsys.readouterr().err)


def test_a_finished_run_folder_is_never_overwritten(tmp_path, capsys):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--paths", "5", "--out", str(out), "--quiet"]) == 0
    before = (out / "manifest.json").read_bytes()
    capsys.readouterr()
    assert main(["run", str(scenario), "--paths", "5", "--out", str(out)]) == 2
    assert "already holds a run" in one_error_line(capsys.readouterr().err)
    assert (out / "manifest.json").read_bytes() == before


# ---------------------------------------------------------------------------
# Bugs, Ctrl-C, out of memory, broken pipes
# ---------------------------------------------------------------------------


def _failing(exc: BaseException):
    def command(args):
        raise exc
    return command


def test_a_bug_is_one_line_naming_the_exception_and_its_traceback_file(monkeypatch, capsys):
    monkeypatch.setitem(sim.cli.COMMANDS, "scenarios",
                        _failing(RuntimeError("boom\nsecond line")))
    assert main(["scenarios"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("alvh: internal error: RuntimeError: boom second line at ")
    path = Path(re.search(r"full traceback in (\S+);", err).group(1))
    report = path.read_text()
    assert "Traceback" in report and "boom" in report and "command:" in report
    path.unlink()


def test_alvh_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setenv("ALVH_DEBUG", "1")
    monkeypatch.setitem(sim.cli.COMMANDS, "scenarios", _failing(ZeroDivisionError("x")))
    assert main(["scenarios"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("alvh: internal error: ZeroDivisionError: x")


@pytest.mark.parametrize("exc, status, fragment", [
    (KeyboardInterrupt(), 130, "alvh: interrupted"),
    (MemoryError("Unable to allocate 7 PiB"), 1, "alvh: error: out of memory"),
    (PermissionError(13, "Permission denied", "/x/y"), 2, "alvh: error: /x/y: Permission"),
    (BrokenPipeError(32, "Broken pipe"), 1, None),
])
def test_interrupts_and_system_errors_are_one_line(monkeypatch, capsys, exc, status, fragment):
    monkeypatch.setitem(sim.cli.COMMANDS, "scenarios", _failing(exc))
    assert main(["scenarios"]) == status
    err = capsys.readouterr().err
    if fragment is None:
        assert err == ""
        return
    assert len(err.splitlines()) == 1 and err.startswith(fragment)


# ---------------------------------------------------------------------------
# The real thing: `python -m sim.cli` in a subprocess
# ---------------------------------------------------------------------------


def _alvh(*argv: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.cli", *argv], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env, **kwargs)


def test_subprocess_bad_input_and_bug(tmp_path):
    env = {**os.environ, "ALVH_RUNS_DIR": str(tmp_path / "runs"), "TMPDIR": str(tmp_path)}
    env.pop("ALVH_DEBUG", None)
    (tmp_path / "file").write_text("x")
    proc = _alvh("run", "--paths", "3", "--out", str(tmp_path / "file"), env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    one_error_line(proc.stderr)
    proc = _alvh("rerun", str(tmp_path), env=env)
    assert proc.returncode == 2
    one_error_line(proc.stderr)
    # A bug: a command that divides by zero, through the real entry point.
    code = ("import sys, sim.cli; sim.cli.COMMANDS['policies'] = lambda args: 1 / 0; "
            "sys.exit(sim.cli.main(['policies']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "ZeroDivisionError" in proc.stderr
    crash = list(tmp_path.glob("alvh-crash-*.txt"))
    assert len(crash) == 1 and "ZeroDivisionError" in crash[0].read_text()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**env, "ALVH_DEBUG": "1"})
    assert proc.returncode == 1 and "Traceback (most recent call last)" in proc.stderr


def _default_interrupts() -> None:
    # As at a terminal: a test run started in the background (``cmd &`` in a
    # script) inherits SIGINT ignored, and a Python started so keeps ignoring it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_subprocess_ctrl_c_of_a_run_on_worker_processes(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C does): one line, status 130."""
    env = {**os.environ, "ALVH_RUNS_DIR": str(tmp_path / "runs")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", "--paths", "50000", "--shard-size", "256",
         "--backend", "processes", "--workers", "2", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
        start_new_session=True, preexec_fn=_default_interrupts)
    deadline = time.monotonic() + 60
    shards = tmp_path / "out" / "shards"
    while time.monotonic() < deadline and not (shards.is_dir() and any(shards.iterdir())):
        time.sleep(0.1)   # interrupt once worker processes are busy
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err == "alvh: interrupted\n"
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["n_paths"] == 50000
