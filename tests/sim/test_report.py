"""The HTML report: sections and figures, percentiles, sample paths, CSVs, and that the
re-simulated paths are the run's own (checked against the shard rows, bit for bit)."""

from __future__ import annotations

import base64
import dataclasses
import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import scenarios
from sim.cli import main
from sim.compare import compare
from sim.engine import simulate
from sim.market.paths import MarketPaths
from sim.metrics import path_results
from sim.output import RunFolder
from sim.policy import load_policy
from sim.recorder import SeriesRecorder
from sim.report import (
    FAN_LEVELS,
    SECTIONS,
    TABLES,
    ReportError,
    build_from_compare,
    build_from_run,
    figure_ids,
    format_cell,
    write_report,
)
from sim.report_narrative import money
from sim.runner import read_paths, run
from sim.shards import PATHS_PER_BLOCK, ShardLayout, block_market

N_DAYS = 60
N_PATHS = 400
SAMPLE = 300
SEED = 11
POLICIES = ("none", "static-vix", "alvh")


def short(name: str, n_days: int = N_DAYS):
    scenario = scenarios.load(name)
    return dataclasses.replace(scenario, simulation=dataclasses.replace(
        scenario.simulation, n_days=n_days))


@pytest.fixture(scope="module")
def compared():
    return compare([short("default")], list(POLICIES), n_paths=N_PATHS, seed=SEED,
                   bootstrap=200)


@pytest.fixture(scope="module")
def report(compared, tmp_path_factory):
    """The report data of the comparison and the files written from it."""
    data = build_from_compare(compared, sample_paths=SAMPLE)
    files = write_report(data, tmp_path_factory.mktemp("report") / "cmp.html")
    return data, files


class _Page(HTMLParser):
    """Ids, images, tables (header and cell texts) and outside references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: dict[str, dict[str, str]] = {}
        self.tables: list[dict] = []
        self.outside: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if value.startswith(("http:", "https:", "//")):
                self.outside.append(value)
        if tag == "img":
            self.images[attrs.get("id", "")] = attrs
        elif tag == "table":
            self.tables.append({"id": attrs["id"], "csv": attrs["data-csv"],
                                "scenario": attrs["data-scenario"], "header": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            (table["header"] if self._in_head else table["rows"]).append(self._row)
            if self._in_head:
                table["header"] = self._row
            self._row = None
        elif tag == "thead":
            self._in_head = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def first_paths_market(scenario, k: int) -> MarketPaths:
    layout = ShardLayout.plan(N_PATHS, PATHS_PER_BLOCK)
    blocks = [block_market(scenario, SEED, layout, b) for b in range(math.ceil(k / 256))]
    return MarketPaths.concat(blocks).select(np.arange(k))


# ------------------------------------------------------------------ the page
def test_page_has_every_section_and_figure_embedded(report):
    data, files = report
    page = parse(files.html)
    scenario = data.scenarios[0]
    for name in SECTIONS:
        assert f"{scenario.slug}-{name}" in page.ids
    expected = figure_ids(scenario)
    assert files.figure_ids == expected
    assert len(expected) == 9          # 5 figures, paired differences, 3 sample paths
    assert sorted(page.images) == sorted(expected)
    for figure_id, img in page.images.items():
        assert img["alt"], figure_id
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        png = base64.b64decode(img["src"][len(prefix):])
        assert png[:8] == b"\x89PNG\r\n\x1a\n", figure_id
        assert len(png) > 5_000, figure_id
    assert len(page.ids) == len(set(page.ids))
    assert not page.outside and "script" not in page.tags and "link" not in page.tags
    text = files.html.read_text(encoding="utf-8")
    for label in ("best", "median", "worst"):
        assert f"{label.capitalize()} path" in text


def test_percentiles_and_hedge_series_match_numpy_on_the_recorded_series(report):
    data, files = report
    scenario = data.scenarios[0]
    market = first_paths_market(scenario.scenario, SAMPLE)
    csv = pd.read_csv(files.tables["equity_percentiles"])
    hedges = pd.read_csv(files.tables["hedge_activity"])
    for name in POLICIES:
        recorder = SeriesRecorder()
        simulate(scenario.scenario, market, recorder.wrap(load_policy(name).agent_factories()))
        recording = recorder.recording
        expected = np.percentile(recording.equity - recording.initial_cash, FAN_LEVELS, axis=1)
        np.testing.assert_array_equal(scenario.sample[name].pnl_percentiles, expected)
        rows = csv[csv["policy"] == name]
        assert (rows["sample paths"] == SAMPLE).all()
        for level, values in zip(FAN_LEVELS, expected, strict=True):
            np.testing.assert_allclose(rows[f"P&L {level:g}th pct ($)"], values, rtol=1e-12)
        rows = hedges[hedges["policy"] == name]
        np.testing.assert_allclose(rows["mean hedge spend ($)"],
                                   recording.hedge_spend.mean(axis=1), rtol=1e-12)
        for i, layer in enumerate(recording.layer_names):
            np.testing.assert_allclose(rows[f"layer {layer} held (% of paths)"],
                                       100.0 * recording.layer_open[i].mean(axis=1))
    assert (hedges[hedges["policy"] == "none"]["mean hedge spend ($)"] == 0).all()
    alvh = hedges[hedges["policy"] == "alvh"]
    assert alvh["layer L1 held (% of paths)"].max() > 0


def test_sample_paths_are_the_best_median_and_worst_of_the_focus_policy(report, compared):
    data, files = report
    scenario = data.scenarios[0]
    assert scenario.focus == "alvh"                 # the last policy that is not the baseline
    pnl = compared.paths["default"]["alvh"]["pnl"].to_numpy()
    picked = {s.label: s.path for s in scenario.samples}
    assert pnl[picked["best"]] == pnl.max()
    assert pnl[picked["worst"]] == pnl.min()
    assert pnl[picked["median"]] == np.sort(pnl)[(pnl.size - 1) // 2]
    table = pd.read_csv(files.tables["sample_paths"])
    for sample in scenario.samples:
        row = table[table["sample"] == sample.label].iloc[0]
        assert row["path"] == sample.path
        for name in POLICIES:
            value = compared.paths["default"][name]["pnl"].to_numpy()[sample.path]
            assert sample.final_pnl(name) == value
            assert row[f"P&L {name} ($)"] == pytest.approx(value, rel=1e-12)


def test_csv_files_hold_the_tables_of_the_page(report):
    data, files = report
    page = parse(files.html)
    assert {t["csv"] for t in page.tables} == {f"{name}.csv" for name in TABLES}
    names = {r.slug: r.name for r in data.scenarios}
    for table in page.tables:
        csv = pd.read_csv(files.tables[table["csv"].removesuffix(".csv")])
        csv = csv[csv["scenario"] == names[table["scenario"]]]
        assert table["header"] == list(csv.columns), table["id"]
        assert len(table["rows"]) == len(csv) > 0, table["id"]
        numeric = {c: pd.api.types.is_numeric_dtype(csv[c]) for c in csv.columns}
        for cells, values in zip(table["rows"], csv.itertuples(index=False), strict=True):
            for column, cell, value in zip(csv.columns, cells, values, strict=True):
                if isinstance(value, float) and math.isnan(value) and not numeric[column]:
                    expected = ""
                else:
                    expected = format_cell(value, column)
                assert cell == expected, (table["id"], column, cell, value)


def test_narration_tells_the_ledger_with_its_numbers(report):
    data, _ = report
    scenario = data.scenarios[0]
    for sample in scenario.samples:
        recording = sample.recordings["alvh"]
        rows = recording.trade_rows()
        story = sample.narrative
        assert story[-1].startswith(f"tick {N_DAYS} (")
        assert money(sample.final_pnl("alvh")) in story[-1]
        assert "none made" in story[-1] and "static-vix made" in story[-1]
        first = rows[0]
        assert first["reason"] == "entry" and story[0].startswith("tick 0 (")
        short_put = rows[(rows["tick"] == 0) & ~rows["is_call"] & (rows["quantity"] < 0)]
        assert f"short put {short_put['strike'][0]:,.0f}" in story[0]
        opens = rows[(rows["action"] == "open") & (rows["slot"] >= 4)]    # hedge slots
        bodies = [sentence.split("): ", 1)[1] for sentence in story]
        told = [b for b in bodies if b.startswith(recording.layer_names)
                and ("opened:" in b or "rolled into" in b)]
        if len(story) <= 40:                        # every event told one by one
            assert len(told) == np.unique(opens["position_id"]).size
        for body in told:
            if body.startswith("L1 "):
                assert "VIX call" in body and "(premium and costs)" in body


# ------------------------------------------------------------ same paths
def test_recorder_changes_nothing_and_its_series_agree_with_the_book():
    scenario = short("default")
    market = first_paths_market(scenario, 256)
    policy = load_policy("alvh")
    plain = path_results(simulate(scenario, market, policy.agent_factories()))
    recorder = SeriesRecorder()
    recorded = path_results(simulate(scenario, market, recorder.wrap(policy.agent_factories())))
    for name, values in plain.items():
        np.testing.assert_array_equal(recorded[name], values, err_msg=name)
    recording = recorder.recording
    np.testing.assert_array_equal(recording.pnl[-1], plain["pnl"])
    np.testing.assert_allclose(recording.drawdown().max(axis=0), plain["max_drawdown"],
                               rtol=0, atol=1e-6)
    np.testing.assert_array_equal(recording.hedge_spend[-1], plain["hedge_spend"])
    for i, layer in enumerate(recording.layer_names):
        np.testing.assert_array_equal(recording.layer_open[i].sum(axis=0),
                                      plain[f"layer_{layer}_ticks"])
    held = recording.condor_open
    assert np.isnan(recording.condor_strikes[:, ~held]).all()
    one = recording.path(5)
    np.testing.assert_array_equal(one.pnl[:, 0], recording.pnl[:, 5])
    np.testing.assert_array_equal(one.layer_open[:, :, 0], recording.layer_open[:, :, 5])
    rows = recording.trade_rows()
    assert one.trade_rows().size == (rows["path"] == 5).sum() > 0
    assert (one.trade_rows()["path"] == 0).all()
    assert (recording.condor_strikes[1][held] < recording.condor_strikes[2][held]).all()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "alvh-run"
    run(short("default"), n_paths=300, seed=SEED, policy="alvh", out=out, shard_size=256)
    return out


def test_a_run_folder_report_uses_and_verifies_the_shard_rows(run_folder, tmp_path):
    data = build_from_run(run_folder, sample_paths=256)
    scenario = data.scenarios[0]
    assert scenario.baseline is None and scenario.focus == "alvh"
    # Every policy's first paths and the three sample paths were checked.
    assert scenario.verified == 256 + 3
    table = read_paths(run_folder)
    np.testing.assert_array_equal(scenario.columns["alvh"]["pnl"], table["pnl"])
    assert scenario.sample["alvh"].final_pnl.tolist() == table["pnl"][:256].tolist()
    files = write_report(data, tmp_path / "r.html")
    page = parse(files.html)
    assert sorted(page.images) == sorted(figure_ids(scenario))
    assert f"fig-{scenario.slug}-paired-differences" not in page.images
    assert "no baseline to compare with" in files.html.read_text(encoding="utf-8")


def test_a_report_refuses_paths_that_differ_from_the_run(run_folder, tmp_path):
    import shutil

    copy = tmp_path / "tampered"
    shutil.copytree(run_folder, copy)
    folder = RunFolder(copy)
    manifest = folder.read_manifest()
    table = folder.read_shard(0)
    table["pnl"] = table["pnl"].copy()
    table["pnl"][7] += 0.01
    folder.write_shard(0, table, manifest["run_id"])
    with pytest.raises(ReportError, match="re-simulated path 7 differs from the run: pnl"):
        build_from_run(copy, sample_paths=256)


def test_a_run_folder_report_finds_the_regimes_of_compare(tmp_path):
    calibrated = short("calibrated")
    out = tmp_path / "cal"
    run(calibrated, n_paths=260, seed=3, policy="none", out=out)
    data = build_from_run(out, sample_paths=16)
    cmp = compare([calibrated], ["none"], n_paths=260, seed=3, bootstrap=10)
    scenario = data.scenarios[0]
    np.testing.assert_array_equal(scenario.regimes, cmp.paths[calibrated.name]["none"]["regime"])
    ours = scenario.summary.set_index("regime")
    theirs = cmp.summary.set_index("regime")
    assert len(ours) > 2 and list(ours.index) == list(theirs.index)
    for column in ("paths", "mean P&L ($)", "CVaR 95% ($)", "Sharpe (annualized)"):
        np.testing.assert_array_equal(ours[column].to_numpy(), theirs[column].to_numpy())


# ------------------------------------------------------------------- CLI
def test_cli_report_of_a_run_folder_and_of_a_comparison(tmp_path, capsys):
    toml = tmp_path / "short.toml"
    toml.write_text(scenarios.dumps(short("default", 40)), encoding="utf-8")
    out = tmp_path / "run"
    assert main(["run", str(toml), "--policy", "static-vix", "--paths", "200", "--seed", "4",
                 "--out", str(out), "--quiet"]) == 0
    assert main(["report", str(out), "--sample-paths", "100"]) == 0
    assert (out / "report.html").is_file() and (out / "report_tables" / "summary.csv").is_file()
    assert "report.html (8 figures)" in capsys.readouterr().out
    page = tmp_path / "cmp" / "page.html"
    assert main(["compare", str(toml), "--policies", "none", "static-vix", "--paths", "200",
                 "--seed", "4", "--bootstrap", "50", "--report", str(page),
                 "--sample-paths", "100"]) == 0
    assert page.is_file() and (tmp_path / "cmp" / "page_tables" / "differences.csv").is_file()
    assert "page.html (9 figures)" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "manifest.json: not found" in capsys.readouterr().err
