"""``docs/tutorial.md`` runs as written: its Python blocks, its files and its commands.

What is run, and how:

- Every fenced ``toml`` block whose first line is ``# file: NAME`` is written
  to ``NAME`` in a temporary working folder (``my_policy.toml``,
  ``my_policy_5d.toml``); other ``toml`` blocks are excerpts and are not.
- Every fenced ``python`` block is run, in the order of the page, in one
  namespace, with that folder as the working directory. Tracebacks point at
  the lines of ``docs/tutorial.md``.
- The tutorial runs 2,000 paths and re-simulates 512 sample paths for its
  figures, for realistic numbers. Here every ``paths=N`` in a block is
  replaced by ``paths=300`` (:data:`PATHS`) and every ``sample_paths=N`` by
  ``sample_paths=64`` (:data:`SAMPLE_PATHS`), so the whole module takes
  seconds (the outputs pasted in the page are not compared: they come from
  the full-size runs).
- Shell commands are not run, with one exception: ``alvh run --policy
  my_policy.toml --paths 300`` through :func:`sim.cli.main`. Every ``$ alvh
  ...`` command line shown in the page is parsed by the real argument
  parser, so a renamed command or option fails here.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from scenarios.policy_loader import loads_policy
from sim.cli import build_parser, main
from sim.policy import SIGNAL_REGISTRY

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
#: Paths per run and comparison in the test (the tutorial uses 2,000).
PATHS = 300
#: Paths re-simulated for the figures over time (the tutorial uses 512).
SAMPLE_PATHS = 64
#: A fenced block: its language, its body, and where it starts.
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.S | re.M)
_FILE_MARK = re.compile(r"^#\s*file:\s*(\S+)\s*$")
_PATHS_ARG = re.compile(r"\bpaths=[0-9_]+")
_SAMPLE_PATHS_ARG = re.compile(r"\bsample_paths=[0-9_]+")
#: The signal the tutorial registers (removed again after the test).
_SIGNAL = "spx_5d_return"


def _blocks(language: str) -> list[tuple[int, str]]:
    """``(first line of the body in the page, body)`` of every block in ``language``."""
    text = TUTORIAL.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(2)) + 1, m.group(2))
            for m in _FENCE.finditer(text) if m.group(1) == language]


def _files() -> dict[str, str]:
    """The files the tutorial asks the reader to write: ``{name: text}``."""
    files = {}
    for _, body in _blocks("toml"):
        mark = _FILE_MARK.match(body.splitlines()[0]) if body.strip() else None
        if mark:
            files[mark.group(1)] = body
    return files


def _smaller(code: str) -> str:
    """The block with the test's path counts (see the module docstring)."""
    code = _PATHS_ARG.sub(f"paths={PATHS}", code)
    return _SAMPLE_PATHS_ARG.sub(f"sample_paths={SAMPLE_PATHS}", code)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working folder holding the tutorial's files, as the current directory."""
    folder = tmp_path_factory.mktemp("tutorial")
    for name, text in _files().items():
        (folder / name).write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("ALVH_RUNS_DIR", str(folder / "runs"))
        yield folder


@pytest.fixture(scope="module")
def namespace(workdir):
    """The namespace after every Python block of the tutorial ran, in order."""
    registered_before = _SIGNAL in SIGNAL_REGISTRY
    names: dict[str, object] = {"__name__": "tutorial"}
    try:
        for line, body in _blocks("python"):
            # Leading newlines keep the page's line numbers in tracebacks.
            code = compile("\n" * (line - 1) + _smaller(body), str(TUTORIAL), "exec")
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, names)
        yield names
    finally:
        if not registered_before:
            SIGNAL_REGISTRY.pop(_SIGNAL, None)


def test_the_tutorial_writes_its_policy_files():
    files = _files()
    assert set(files) == {"my_policy.toml", "my_policy_5d.toml"}
    for text in files.values():
        tomllib.loads(text)
    policy = loads_policy(files["my_policy.toml"], "my_policy.toml")
    assert policy.name == "my-vix-calls"
    assert policy.layer_names == ("H1",)


def test_every_python_block_gets_the_small_path_counts():
    blocks = [body for _, body in _blocks("python")]
    assert blocks, "the tutorial should hold Python blocks"
    code = "\n".join(blocks)
    assert _PATHS_ARG.search(code), "no paths=N to make smaller: update the test"
    smaller = "\n".join(_smaller(b) for b in blocks)
    counts = {m.group(0) for m in re.finditer(r"\b(?:sample_)?paths=[0-9_]+", smaller)}
    assert counts <= {f"paths={PATHS}", f"sample_paths={SAMPLE_PATHS}"}


def test_the_python_blocks_run_in_order(namespace, workdir):
    run, comparison, custom = namespace["r"], namespace["c"], namespace["c5"]
    assert run.result.n_paths == PATHS
    assert run.result.policy.name == "my-vix-calls"
    assert len(namespace["table"]) == PATHS
    assert {"layer_H1_opens", "layer_H1_cuts"} <= set(namespace["table"].columns)
    assert set(comparison.differences()["policy"]) == {"alvh", "my-vix-calls"}
    assert comparison.result.baseline == "none"
    assert "verdict" in namespace["d"].columns
    assert set(namespace["d"]["verdict"]) <= {"higher", "lower", "inconclusive"}
    assert custom.result.baseline == "my-vix-calls"
    assert "my-vix-calls-5d" in set(custom.differences()["policy"])
    for name in ("my_policy_pnl.png", "my_policy_fan.png", "differences.png", "hedges.png",
                 "worst_path.png", "reports/notebook.html"):
        assert (workdir / name).stat().st_size > 0, name
    assert callable(SIGNAL_REGISTRY[_SIGNAL])


def test_alvh_run_of_my_policy(workdir, capsys):
    status = main(["run", "--policy", "my_policy.toml", "--paths", str(PATHS)])
    out = capsys.readouterr().out
    assert status == 0
    assert f"{PATHS} paths x 252 daily ticks" in out
    assert "policy: my-vix-calls (One VIX call layer" in out
    assert re.search(r"^mean P&L\s+\$\s+-?[0-9,]+$", out, re.M)


def _shown_commands() -> list[list[str]]:
    """Every ``$ alvh ...`` line of the page's output blocks, and the ``alvh``
    lines of its ``bash`` blocks, as argument lists."""
    lines = [ln[2:] for _, body in _blocks("text") for ln in body.splitlines()
             if ln.startswith("$ alvh ")]
    lines += [ln for _, body in _blocks("bash") for ln in body.splitlines()
              if ln.startswith("alvh ")]
    return [shlex.split(ln, comments=True)[1:] for ln in lines]


def test_every_command_shown_parses():
    commands = _shown_commands()
    assert {c[0] for c in commands} >= {"run", "scenarios", "describe", "policies",
                                        "compare", "check"}
    parser = build_parser()
    for args in commands:
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                parser.parse_args(args)
            except SystemExit as exc:   # argparse exits on an unknown command or option
                pytest.fail(f"`alvh {shlex.join(args)}` does not parse (exit {exc.code})")
