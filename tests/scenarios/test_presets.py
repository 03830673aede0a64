"""The preset scenario files shipped in scenarios/presets/."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from scenarios import describe, list_presets, load, preset_path
from sim.config import CondorSpec, CostModel, SmileModel
from tests.scenarios.documents import FIELDS

PRESET_NAMES = [name for name, _ in list_presets()]
PRESET_FILES = sorted((Path(preset_path("default")).parent).glob("*.toml"))

#: Hand-written presets; a missing one is a packaging bug. Generated presets (such as
#: `alvh calibrate` output) may refit the smile, so only these keep the default trading setup.
HAND_WRITTEN = ["default", "calm_grind", "steady_uptrend", "vol_spike_recovery", "gap_crash",
                "prolonged_bear", "whipsaw_range"]


def stationary_distribution(transition: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """The unique ``pi`` with ``pi P = pi``, ``sum(pi) = 1``; fails when it is not unique."""
    p = np.array(transition)
    n = len(p)
    # Eigenvalue 1 of a stochastic matrix has multiplicity = number of closed classes.
    assert np.linalg.matrix_rank(np.eye(n) - p, tol=1e-9) == n - 1, "not unique"
    a = np.vstack([p.T - np.eye(n), np.ones(n)])
    pi = np.linalg.lstsq(a, np.r_[np.zeros(n), 1.0], rcond=None)[0]
    return pi


def test_the_expected_presets_ship():
    assert set(HAND_WRITTEN) <= set(PRESET_NAMES)
    assert [path.stem for path in PRESET_FILES] == PRESET_NAMES


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_loads_and_is_named_after_its_file(name):
    scenario = load(name)
    assert scenario.name == name
    assert scenario.description and "\n" not in scenario.description


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_is_documented(name):
    text = preset_path(name).read_text(encoding="utf-8")
    header = text.split("\nname = ", 1)[0]
    assert len([line for line in header.splitlines() if line.startswith("#")]) >= 5
    # Every key line carries a trailing "# [unit] ..." comment.
    for line in text.splitlines():
        if re.match(r"\s*[\w\"]+\s*=", line) and not line.startswith(("name", "description")):
            assert re.search(r"#\s*\[[^\]]+\]", line), line


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_multi_regime_presets_have_a_stationary_distribution(name):
    regimes = load(name).market.regimes
    if regimes.n_regimes == 1:
        return
    pi = stationary_distribution(regimes.transition)
    assert pi.shape == (regimes.n_regimes,)
    assert np.all(pi > -1e-12) and abs(pi.sum() - 1.0) < 1e-12
    assert np.allclose(pi @ np.array(regimes.transition), pi, atol=1e-12)
    # Every regime named is visited in the long run (no dead regime in a preset).
    assert np.all(pi > 1e-3), dict(zip(regimes.names, pi, strict=True))


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_presets_keep_the_default_trading_setup(name):
    scenario = load(name)
    assert scenario.smile == SmileModel()
    assert scenario.costs == CostModel()
    assert scenario.condor == CondorSpec()


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_describe_works_for_every_preset(name):
    scenario = load(name)
    text = describe(scenario)
    assert text.startswith(f"scenario: {name}\n") and "[market.regimes]" in text
    for regime in scenario.market.regimes.names:
        assert any(line.split()[:1] == [regime] for line in text.splitlines()), regime


def test_default_writes_every_parameter_with_unit_and_definition():
    path = preset_path("default")
    document = tomllib.loads(path.read_text(encoding="utf-8"))

    def keys(table: dict, prefix: str) -> set[str]:
        found = set()
        for key, value in table.items():
            dotted = f"{prefix}{key}"
            found |= keys(value, f"{dotted}.") if isinstance(value, dict) else {dotted}
        return found

    written = keys(document, "") - {"name", "description"}
    assert written == {dotted for dotted, _, _ in FIELDS}

    # Each key's line carries a trailing "# [unit] definition" comment from sim.config.
    table = ""
    comments: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"\[([\w.]+)\]", line):
            table = match.group(1)
        elif table and (match := re.match(r"(\w+)\s*=[^#]*#\s*(.*)$", line)):
            comments[f"{table}.{match.group(1)}"] = match.group(2)
    for dotted, f, _ in FIELDS:
        assert comments[dotted] == f"[{f.metadata['unit']}] {f.metadata['doc']}", dotted
