"""The docs say what the code does: the index's links resolve, and every number
the tool reports is defined in ``docs/metrics.md``.

The metric names are read from the code (a tiny simulation for the per-path
columns and the summary rows, the declared column tuples for the rest), so a
column added without its definition fails here.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import numpy as np
import pytest

import sim.config
from sim.compare import DIFFERENCE_COLUMNS, SUMMARY_COLUMNS
from sim.engine import simulate
from sim.ledger import LEDGER_DTYPE
from sim.market import generate
from sim.market.calendar import TICKS_PER_YEAR
from sim.metrics import path_results, summarize
from sim.policy import load_policy
from sim.shards import FINGERPRINT_COLUMN, PATH_COLUMN, REGIME_COLUMN
from tests.conftest import small_scenario
from tests.scenarios.documents import FIELDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Files other engineers are writing: listed in the index, skipped while missing.
IN_PROGRESS = {"testing.md", "report.md", "replay.md", "tutorial.md"}
#: Markdown links ``[text](target)``; the target's ``#anchor`` is dropped.
_LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")
#: Per-layer columns of the hedge agent, written ``layer_<name>_...`` in the docs.
_LAYER = re.compile(r"^layer_.+_(opens|rolls|ticks|cuts)$")


def _index_links() -> list[str]:
    text = (DOCS / "README.md").read_text(encoding="utf-8")
    links = [t for t in _LINK.findall(text) if "://" not in t and not t.startswith("mailto:")]
    return sorted(set(links))


@pytest.fixture(scope="module")
def metrics_doc() -> str:
    return (DOCS / "metrics.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tiny_table() -> dict[str, np.ndarray]:
    """``path_results`` of the ``alvh`` policy (condor and hedge agent) on 3 paths x 8 days."""
    scenario = small_scenario(n_days=8)
    market = generate(scenario.market, 3, 8, 1.0 / TICKS_PER_YEAR, np.random.default_rng(7),
                      start_date=scenario.simulation.start_date)
    return path_results(simulate(scenario, market, load_policy("alvh").agent_factories()))


def test_the_index_lists_the_docs_being_written():
    links = {Path(t).name for t in _index_links()}
    assert IN_PROGRESS | {"model.md", "metrics.md", "market.md", "policies.md"} <= links


@pytest.mark.parametrize("target", _index_links())
def test_every_file_linked_from_the_index_exists(target):
    path = (DOCS / target).resolve()
    if not path.exists() and path.name in IN_PROGRESS and path.parent == DOCS:
        pytest.skip(f"docs/{path.name} is being written by someone else")
    assert path.exists(), f"docs/README.md links to {target}, which does not exist"


def _documented(name: str, doc: str) -> bool:
    return f"`{name}`" in doc


def test_every_per_path_column_is_defined(tiny_table, metrics_doc):
    columns = [*tiny_table, PATH_COLUMN, REGIME_COLUMN, FINGERPRINT_COLUMN]
    assert any(_LAYER.match(c) for c in columns), "the alvh policy should add layer columns"
    missing = [c for c in columns
               if not _documented(_LAYER.sub(r"layer_<name>_\1", c), metrics_doc)]
    assert not missing, f"per-path columns not defined in docs/metrics.md: {missing}"


def test_every_summary_row_of_alvh_run_is_defined(tiny_table, metrics_doc):
    labels = [row.metric for row in summarize(tiny_table)]
    assert "CVaR 95%" in labels and "mean carry" in labels
    missing = [label for label in labels if not _documented(label, metrics_doc)]
    assert not missing, f"alvh run summary rows not defined in docs/metrics.md: {missing}"


def test_every_compare_column_and_ledger_column_is_defined(metrics_doc):
    names = [c for c, _ in SUMMARY_COLUMNS] + [c for c, _ in DIFFERENCE_COLUMNS]
    names += ["layer <name> active (%)", *LEDGER_DTYPE.names]
    missing = [n for n in names if not _documented(n, metrics_doc)]
    assert not missing, f"not defined in docs/metrics.md: {missing}"


def test_config_fields_outside_the_describe_table_have_unit_and_doc():
    """Every ``sim.config`` field has a unit and a definition.

    ``tests/scenarios/test_tables.py`` checks this for every key of a scenario
    document (``FIELDS``); the per-regime override table (``RegimeParams``) and
    ``RegimeChain.params`` are not among them, so they are checked here.
    """
    covered = {id(f) for _, f, _ in FIELDS}
    sections = [cls for cls in vars(sim.config).values()
                if isinstance(cls, type) and dataclasses.is_dataclass(cls)
                and cls.__module__ == sim.config.__name__ and cls is not sim.config.Scenario]
    unchecked = []
    for cls in sections:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            nested = dataclasses.is_dataclass(hints[f.name])
            if id(f) in covered or nested:
                continue
            unchecked.append(f"{cls.__name__}.{f.name}")
            assert f.metadata.get("unit") and f.metadata.get("doc"), \
                f"{cls.__name__}.{f.name} lacks a unit or a definition in its metadata"
    assert "RegimeParams.vol_risk_premium" in unchecked
