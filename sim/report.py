"""The HTML report of a run or a comparison: one self-contained file, tables as CSV.

``alvh report RUN_DIR`` (a ``run --out`` folder, one policy) and ``alvh
compare ... --report FILE.html`` (several policies on the same paths) write
one HTML file with inline CSS and every figure embedded as a
``data:image/png;base64`` image (nothing to fetch to view it), and beside it
``<stem>_tables/*.csv``: the tables of the page, and the series behind the
time-series figures. Every file is written atomically (``sim.output``).

What comes from where (``docs/report.md`` says it for users):

- **Every path** (the shard rows, or ``CompareResult.paths``): the final
  P&L and max-drawdown distributions, the summary and the per-regime
  breakdown (``sim.compare.policy_statistics`` per dominant regime group),
  the paired differences (``CompareResult.differences``), and the choice of
  the sample paths: **best, median and worst by final P&L among all paths**
  of the *focus* policy (the last policy that is not the baseline; ties go
  to the lower path index: best is the last of a stable sort by P&L, worst
  the first, median the ``(n - 1) // 2``-th).
- **The first K paths** (``sample_paths``, default 2,048, at most the
  run's), simulated again with a :class:`sim.recorder.SeriesRecorder`: the
  time series (P&L percentiles per tick, mean cumulative hedge spend,
  share of paths holding each layer).
- **The three sample paths**, each simulated again alone, under every
  policy: the per-path figures, the narration and the trades.

Re-simulation uses the run's own seeding (``sim.shards.block_market``: block
``k`` from ``SeedSequence(seed).spawn(n_blocks)[k]``), so these are the run's
paths; every re-simulated path's results (every column of
``sim.metrics.path_results``, and for a comparison the market fingerprint
and dominant regime) must equal the run's row bit for bit, else
:class:`ReportError`. A run folder records no regime per path, so its
paths' dominant regimes come from generating each block's market again
(market only, no trading).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.config import Scenario
from sim.engine import simulate
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.paths import MarketPaths
from sim.metrics import path_results
from sim.output import OutputError, RunFolder, atomic_file
from sim.recorder import Recording, SeriesRecorder
from sim.report_narrative import money, narrate
from sim.shards import (
    FINGERPRINT_COLUMN,
    PATH_COLUMN,
    PATHS_PER_BLOCK,
    REGIME_COLUMN,
    ShardLayout,
    block_market,
    dominant_regime,
    market_fingerprints,
)

#: Paths re-simulated for the time-series figures (the run's first paths).
DEFAULT_SAMPLE_PATHS = 2048
#: Percentiles of the equity fan chart, %.
FAN_LEVELS = (5.0, 25.0, 50.0, 75.0, 95.0)
#: The sample paths, in the order they are shown.
SAMPLE_LABELS = ("best", "median", "worst")
#: Sections of each scenario, in page order (their ids are ``<scenario>-<name>``).
SECTIONS = ("summary", "pnl", "equity", "drawdown", "hedges", "regimes", "differences",
            "samples")
#: Label of the regime group of all paths (as ``sim.compare.ALL_REGIMES``).
ALL_REGIMES = "all"
#: Per-path columns a report reads for every path (others only on verified rows).
_KEPT_COLUMNS = ("pnl", "max_drawdown", "carry", "peak_margin", "premium_collected",
                 "hedge_spend", "n_trades", REGIME_COLUMN)
#: Columns of the per-regime breakdown (after scenario, regime, policy).
REGIME_TABLE_COLUMNS = ("paths", "mean P&L ($)", "median P&L ($)", "CVaR 95% ($)",
                        "win rate (%)", "Sharpe (annualized)", "median max drawdown ($)",
                        "mean hedge spend ($)", "hedge spend (% of premium)")
#: Table names (CSV stems) in page order.
TABLES = ("summary", "regimes", "differences", "sample_paths", "sample_trades")
#: Series behind figures, written as CSV only.
SERIES = ("equity_percentiles", "hedge_activity")


class ReportError(ValueError):
    """A report that cannot be made (a folder it cannot read, paths that do not match)."""


# ------------------------------------------------------------------ results
@dataclass
class SampleSeries:
    """Time series over the re-simulated first paths of one policy.

    Attributes
    ----------
    n_paths : int
        Paths in the sample.
    pnl_percentiles : ndarray, shape (len(FAN_LEVELS), n_ticks)
        Percentiles of P&L at each tick over the sample's paths, $ (numpy's
        linear interpolation).
    mean_spend : ndarray, shape (n_ticks,)
        Mean cumulative hedge spend, $ per path.
    layer_share : dict of str to ndarray, shape (n_ticks,)
        Layer -> share of the sample's paths holding it after each tick's mark, %.
    final_pnl : ndarray, shape (n_paths,)
        Final P&L of each sample path, $.
    """

    n_paths: int
    pnl_percentiles: np.ndarray
    mean_spend: np.ndarray
    layer_share: dict[str, np.ndarray]
    final_pnl: np.ndarray


@dataclass
class SamplePath:
    """One narrated path (best, median or worst of the focus policy).

    Attributes
    ----------
    label : str
        ``best``, ``median`` or ``worst``.
    path : int
        Index of the path in the run.
    regime : str
        Its dominant regime.
    recordings : dict of str to Recording
        Policy -> the path's one-path recording.
    narrative : list of str
        Sentences about the focus policy on this path.
    """

    label: str
    path: int
    regime: str
    recordings: dict[str, Recording]
    narrative: list[str]

    def final_pnl(self, policy: str) -> float:
        """Final P&L of a policy on this path, $."""
        return float(self.recordings[policy].pnl[-1, 0])


@dataclass
class ScenarioReport:
    """Everything the report shows for one scenario.

    Attributes
    ----------
    scenario : Scenario
    seed, n_paths : int
    policies : tuple of str
        Policy names, in the order given.
    layer_names : dict of str to tuple of str
        Policy -> its hedge layers.
    baseline : str or None
        The policy the others are compared with (None: one policy, no comparison).
    focus : str
        The policy whose sample paths are picked and narrated.
    regime_names : tuple of str
    regimes : ndarray of int8, shape (n_paths,)
        Dominant regime index of every path.
    columns : dict of str to dict of str to ndarray
        Policy -> per-path column (``pnl``, ``max_drawdown``, ...) -> every path.
    dates : ndarray of datetime64[D], shape (n_ticks,)
    sample : dict of str to SampleSeries
    samples : list of SamplePath
    summary : DataFrame
        One row per regime group and policy (``sim.compare.SUMMARY_COLUMNS``).
    differences : DataFrame or None
        Paired differences vs the baseline, per regime group (None without one).
    verified : int
        Re-simulated paths checked against the run's rows (all policies).
    """

    scenario: Scenario
    seed: int
    n_paths: int
    policies: tuple[str, ...]
    layer_names: dict[str, tuple[str, ...]]
    baseline: str | None
    focus: str
    regime_names: tuple[str, ...]
    regimes: np.ndarray
    columns: dict[str, dict[str, np.ndarray]]
    dates: np.ndarray
    sample: dict[str, SampleSeries]
    samples: list[SamplePath]
    summary: pd.DataFrame
    differences: pd.DataFrame | None
    verified: int = 0

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.scenario.name

    @property
    def slug(self) -> str:
        """The scenario's name as an HTML id part."""
        return slug(self.scenario.name)


@dataclass
class ReportData:
    """A whole report: its scenarios, where it comes from, and notes.

    Attributes
    ----------
    title : str
    origin : str
        What the numbers come from, in words (a command or a folder).
    scenarios : list of ScenarioReport
    sample_paths : int
        Requested size of the time-series sample, paths.
    seconds : float
        Time spent re-simulating and verifying, s.
    """

    title: str
    origin: str
    scenarios: list[ScenarioReport]
    sample_paths: int
    seconds: float = 0.0


@dataclass
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    html : Path
    tables : dict of str to Path
        Table or series name -> its CSV file.
    figure_ids : tuple of str
        The ``id`` of every figure ``<img>`` of the page.
    seconds : float
        Wall time of the whole report (re-simulation included), s.
    """

    html: Path
    tables: dict[str, Path] = field(default_factory=dict)
    figure_ids: tuple[str, ...] = ()
    seconds: float = 0.0


def slug(name: str) -> str:
    """Lower-case letters, digits and dashes only (an HTML id part)."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text or "scenario"


def figure_ids(report: ScenarioReport) -> tuple[str, ...]:
    """The ids of a scenario's figures, in page order."""
    ids = [f"fig-{report.slug}-{name}" for name in (
        "pnl-distribution", "equity-fan", "drawdown-distribution", "hedge-activity",
        "regime-breakdown")]
    if report.baseline is not None and len(report.policies) > 1:
        ids.append(f"fig-{report.slug}-paired-differences")
    ids += [f"fig-{report.slug}-sample-{label}" for label in SAMPLE_LABELS]
    return tuple(ids)


# ------------------------------------------------------------- re-simulating
def simulate_recorded(scenario: Scenario, market: MarketPaths, policy: Any
                      ) -> tuple[Recording, dict[str, np.ndarray]]:
    """Simulate a policy on a market with a recorder appended to its agents.

    Parameters
    ----------
    scenario : Scenario
    market : MarketPaths
    policy : Policy
        Anything with ``agent_factories()``.

    Returns
    -------
    Recording
        The batch's per-tick series.
    dict of str to ndarray
        The batch's per-path results (``sim.metrics.path_results``), as the
        run computes them.
    """
    recorder = SeriesRecorder()
    batch = simulate(scenario, market, recorder.wrap(policy.agent_factories()))
    return recorder.recording, path_results(batch)


def sample_series(recording: Recording, levels: Sequence[float] = FAN_LEVELS) -> SampleSeries:
    """The time series a report draws, over every path of a recording.

    Parameters
    ----------
    recording : Recording
    levels : sequence of float
        Percentiles of P&L, %.

    Returns
    -------
    SampleSeries
    """
    pnl = recording.pnl
    return SampleSeries(
        n_paths=recording.n_paths,
        pnl_percentiles=np.percentile(pnl, list(levels), axis=1),
        mean_spend=recording.hedge_spend.mean(axis=1),
        layer_share={name: 100.0 * recording.layer_open[i].mean(axis=1)
                     for i, name in enumerate(recording.layer_names)},
        final_pnl=pnl[-1].copy())


def verify_rows(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray],
                paths: np.ndarray, what: str) -> int:
    """Check re-simulated per-path results against the run's rows, bit for bit.

    Parameters
    ----------
    expected : dict of str to ndarray
        The run's rows of ``paths`` (every column it stored).
    actual : dict of str to ndarray
        Re-simulated ``sim.metrics.path_results`` of the same paths, in order.
    paths : ndarray of int
        The paths' indices in the run.
    what : str
        Scenario and policy, for the message.

    Returns
    -------
    int
        Paths checked.

    Raises
    ------
    ReportError
        Naming the first column and path that differ, or a column present
        on one side only.
    """
    bookkeeping = {PATH_COLUMN, REGIME_COLUMN, FINGERPRINT_COLUMN}
    missing = sorted(set(actual) - set(expected))
    extra = sorted(set(expected) - set(actual) - bookkeeping)
    if missing or extra:
        raise ReportError(f"{what}: the re-simulated paths have other columns than the run "
                          f"(only re-simulated: {missing}; only in the run: {extra}); the "
                          f"run was made by another version of the simulator or policy")
    if PATH_COLUMN in expected and not np.array_equal(expected[PATH_COLUMN], paths):
        raise ReportError(f"{what}: the run's rows are not paths {paths[:5].tolist()}...")
    for name, values in actual.items():
        a = np.asarray(values)
        e = np.asarray(expected[name])
        if a.shape != e.shape:
            raise ReportError(f"{what}: column {name!r} has {e.size} rows in the run, "
                              f"{a.size} re-simulated")
        if a.dtype.kind == "f" or e.dtype.kind == "f":
            a64, e64 = a.astype(np.float64), e.astype(np.float64)
            same = (a64 == e64) | (np.isnan(a64) & np.isnan(e64))
        else:
            same = a == e
        if not np.all(same):
            bad = int(np.flatnonzero(~same)[0])
            raise ReportError(
                f"{what}: re-simulated path {int(paths[bad])} differs from the run: "
                f"{name} = {a[bad]!r} here, {e[bad]!r} in the run ({int((~same).sum())} of "
                f"{same.size} paths differ); the report would not show the run's paths: "
                f"was the run made by another version of the simulator, scenario or policy?")
    return int(paths.size)


class PathTables:
    """The run's per-path rows, by policy: every path's key columns, any path's full row."""

    n_paths: int

    def column(self, policy: str, name: str) -> np.ndarray:
        """One column of every path (zeros if the policy has no such column)."""
        raise NotImplementedError

    def has(self, policy: str, name: str) -> bool:
        """Whether the policy's table has the column."""
        raise NotImplementedError

    def rows(self, policy: str, paths: np.ndarray) -> dict[str, np.ndarray]:
        """Every stored column of some paths, in the order of ``paths``."""
        raise NotImplementedError

    def frame(self, policy: str) -> pd.DataFrame:
        """The columns ``sim.compare.policy_statistics`` reads, every path."""
        raise NotImplementedError


class FramePaths(PathTables):
    """Per-path tables held in memory (``CompareResult.paths[scenario]``)."""

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self.tables = tables
        first = next(iter(tables.values()))
        self.n_paths = len(first)
        for name, table in tables.items():
            if not np.array_equal(table[PATH_COLUMN].to_numpy(), np.arange(self.n_paths)):
                raise ReportError(f"policy {name!r}: the per-path table is not paths "
                                  f"0..{self.n_paths - 1} in order")

    def column(self, policy: str, name: str) -> np.ndarray:
        table = self.tables[policy]
        if name not in table:
            return np.zeros(self.n_paths)
        return table[name].to_numpy()

    def has(self, policy: str, name: str) -> bool:
        return name in self.tables[policy]

    def rows(self, policy: str, paths: np.ndarray) -> dict[str, np.ndarray]:
        table = self.tables[policy]
        return {name: table[name].to_numpy()[paths] for name in table.columns}

    def frame(self, policy: str) -> pd.DataFrame:
        return self.tables[policy]


class FolderPaths(PathTables):
    """Per-path rows of a run folder: key columns kept, full rows read back on demand.

    Parameters
    ----------
    folder : RunFolder
    manifest : dict
    policy : str
        The run's policy name.

    Memory: the kept columns (:data:`_KEPT_COLUMNS` and ``layer_*_opens``),
    8 bytes per path each; a shard's other columns are dropped once read.
    """

    def __init__(self, folder: RunFolder, manifest: dict[str, Any], policy: str) -> None:
        self.folder = folder
        self.policy = policy
        self.run_id = manifest.get("run_id")
        self.layout = layout_of(manifest)
        self.n_paths = self.layout.n_paths
        parts: dict[str, list[np.ndarray]] = {}
        self.names: list[str] = []
        for index in range(self.layout.n_shards):
            table = self._shard(index)
            if not self.names:
                self.names = list(table)
            for name, values in table.items():
                if name in _KEPT_COLUMNS or (name.startswith("layer_")
                                             and name.endswith("_opens")):
                    parts.setdefault(name, []).append(np.asarray(values))
            del table
        self.kept = {name: np.concatenate(chunks) for name, chunks in parts.items()}

    def _shard(self, index: int) -> dict[str, np.ndarray]:
        table = self.folder.read_shard(index, self.run_id, self.layout.shard_paths(index))
        if table is None:
            raise ReportError(f"{self.folder.shard_path(index)}: missing, unreadable or not "
                              f"of this run; resume the run (alvh run ... --out "
                              f"{self.folder.root} --resume) to write it")
        return table

    def column(self, policy: str, name: str) -> np.ndarray:
        return self.kept.get(name, np.zeros(self.n_paths))

    def has(self, policy: str, name: str) -> bool:
        return name in self.kept

    def rows(self, policy: str, paths: np.ndarray) -> dict[str, np.ndarray]:
        paths = np.asarray(paths, dtype=np.int64)
        out = {name: [None] * paths.size for name in self.names}
        shard_of = paths // self.layout.shard_size
        for index in np.unique(shard_of):
            table = self._shard(int(index))
            first = self.layout.shard_paths(int(index))[0]
            for k in np.flatnonzero(shard_of == index):
                for name in self.names:
                    out[name][k] = np.asarray(table[name])[paths[k] - first]
        return {name: np.array(values) for name, values in out.items()}

    def frame(self, policy: str) -> pd.DataFrame:
        return pd.DataFrame(self.kept)


def layout_of(manifest: dict[str, Any]) -> ShardLayout:
    """The shard layout a run folder's manifest records.

    Raises
    ------
    ReportError
        If the manifest lacks it.
    """
    try:
        return ShardLayout(int(manifest["n_paths"]), int(manifest["paths_per_block"]),
                           int(manifest["shards"]["blocks_per_shard"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"the manifest lacks the shard layout: {exc}") from exc


def _regime_of_markets(scenario: Scenario, seed: int, layout: ShardLayout) -> np.ndarray:
    """Dominant regime of every path, from each block's market generated again."""
    n_regimes = len(scenario.market.regimes.names)
    parts = []
    for block in range(layout.n_blocks):
        market = block_market(scenario, seed, layout, block)
        parts.append(dominant_regime(market.regime[:-1] if market.n_steps else market.regime,
                                     n_regimes))
    return np.concatenate(parts)


def _first_paths_market(scenario: Scenario, seed: int, layout: ShardLayout,
                        k: int) -> MarketPaths:
    """The market of the run's first ``k`` paths (whole blocks generated, then cut)."""
    n_blocks = math.ceil(k / layout.block_size)
    market = MarketPaths.concat([block_market(scenario, seed, layout, b)
                                 for b in range(n_blocks)])
    return market if market.n_paths == k else market.select(np.arange(k))


def build_scenario(scenario: Scenario, policies: Sequence[Any], seed: int,
                   tables: PathTables, regimes: np.ndarray, summary: pd.DataFrame,
                   differences: pd.DataFrame | None, baseline: str | None,
                   focus: str | None = None, sample_paths: int = DEFAULT_SAMPLE_PATHS,
                   block_size: int = PATHS_PER_BLOCK,
                   check_market: bool = False) -> ScenarioReport:
    """Re-simulate a scenario's sample and sample paths, verify them, and gather the report.

    Parameters
    ----------
    scenario : Scenario
    policies : sequence of Policy
        The run's policies (``agent_factories()``, ``name``, ``layer_names``).
    seed : int
        The run's root seed.
    tables : PathTables
        The run's per-path rows.
    regimes : ndarray of int, shape (n_paths,)
        Dominant regime of every path.
    summary, differences : DataFrame
        Statistics per regime group (``differences`` None without a baseline).
    baseline : str or None
    focus : str, optional
        The policy whose best, median and worst paths are shown (default:
        the last policy that is not the baseline).
    sample_paths : int
        Paths of the time-series sample (the run's first ones), >= 1.
    block_size : int
        Paths per block of the run.
    check_market : bool
        Also check the run's ``market_fingerprint`` and ``regime`` columns
        on the re-simulated paths (comparisons store them).

    Returns
    -------
    ScenarioReport

    Raises
    ------
    ReportError
        If a re-simulated path differs from the run's row.
    """
    names = tuple(p.name for p in policies)
    if focus is None:
        others = [n for n in names if n != baseline]
        focus = others[-1] if others else names[0]
    if focus not in names:
        raise ReportError(f"focus policy {focus!r} is not one of {', '.join(names)}")
    if sample_paths < 1:
        raise ReportError(f"sample_paths must be >= 1, got {sample_paths}")
    n_paths = tables.n_paths
    layout = ShardLayout(n_paths, block_size, 1)
    n_regimes = len(scenario.market.regimes.names)
    verified = 0

    def check(policy: Any, market: MarketPaths, paths: np.ndarray,
              results: dict[str, np.ndarray]) -> int:
        what = f"scenario {scenario.name!r}, policy {policy.name!r}"
        expected = tables.rows(policy.name, paths)
        if check_market:
            for column, values in ((FINGERPRINT_COLUMN, market_fingerprints(market)),
                                   (REGIME_COLUMN, dominant_regime(
                                       market.regime[:-1] if market.n_steps else market.regime,
                                       n_regimes))):
                if column in expected and not np.array_equal(expected[column], values):
                    bad = int(np.flatnonzero(expected[column] != values)[0])
                    raise ReportError(f"{what}: the re-generated market of path "
                                      f"{int(paths[bad])} differs from the run's "
                                      f"({column}); these are not the run's paths")
        return verify_rows(expected, results, paths, what)

    k = min(n_paths, int(sample_paths))
    market = _first_paths_market(scenario, seed, layout, k)
    sample: dict[str, SampleSeries] = {}
    for policy in policies:
        recording, results = simulate_recorded(scenario, market, policy)
        verified += check(policy, market, np.arange(k), results)
        sample[policy.name] = sample_series(recording)
        del recording
    dates = market.dates.copy()
    del market

    pnl = tables.column(focus, "pnl")
    order = np.argsort(pnl, kind="stable")
    picks = {"best": int(order[-1]), "median": int(order[(n_paths - 1) // 2]),
             "worst": int(order[0])}
    regime_names = tuple(scenario.market.regimes.names)
    samples = []
    for label in SAMPLE_LABELS:
        path = picks[label]
        block, offset = divmod(path, block_size)
        one = block_market(scenario, seed, layout, block).select(offset)
        recordings = {}
        for policy in policies:
            recording, results = simulate_recorded(scenario, one, policy)
            verified += check(policy, one, np.array([path]), results)
            recordings[policy.name] = recording
        others = {name: float(recordings[name].pnl[-1, 0]) for name in names if name != focus}
        samples.append(SamplePath(label=label, path=path,
                                  regime=regime_names[int(regimes[path])],
                                  recordings=recordings,
                                  narrative=narrate(recordings[focus], 0, others)))
    columns = {name: {c: tables.column(name, c) for c in ("pnl", "max_drawdown")}
               for name in names}
    return ScenarioReport(
        scenario=scenario, seed=seed, n_paths=n_paths, policies=names,
        layer_names={p.name: tuple(getattr(p, "layer_names", ())) for p in policies},
        baseline=baseline, focus=focus, regime_names=regime_names,
        regimes=np.asarray(regimes), columns=columns, dates=dates, sample=sample,
        samples=samples, summary=summary, differences=differences, verified=verified)


# --------------------------------------------------------------- entry points
def build_from_compare(result: Any, sample_paths: int = DEFAULT_SAMPLE_PATHS,
                       focus: str | None = None) -> ReportData:
    """The report of a comparison (``sim.compare.CompareResult``).

    Parameters
    ----------
    result : CompareResult
    sample_paths : int
        Paths of the time-series sample per scenario (the first ones).
    focus : str, optional
        Policy whose sample paths are shown (default: the last non-baseline one).

    Returns
    -------
    ReportData
    """
    started = time.perf_counter()
    reports = []
    for scenario in result.scenarios:
        tables = FramePaths(result.paths[scenario.name])
        regimes = tables.column(result.baseline, REGIME_COLUMN)
        summary = result.summary[result.summary["scenario"] == scenario.name]
        differences = result.differences[result.differences["scenario"] == scenario.name]
        reports.append(build_scenario(
            scenario, result.policies, result.seed, tables, regimes,
            summary.reset_index(drop=True), differences.reset_index(drop=True),
            result.baseline, focus, sample_paths, check_market=True))
    names = ", ".join(result.policy_names)
    origin = (f"alvh compare {' '.join(s.name for s in result.scenarios)} --policies "
              f"{' '.join(result.policy_names)} --paths {result.n_paths} --seed {result.seed}"
              f" --baseline {result.baseline} --bootstrap {result.bootstrap}")
    return ReportData(title=f"ALVH report: {names} on "
                            f"{', '.join(s.name for s in result.scenarios)}",
                      origin=origin, scenarios=reports, sample_paths=sample_paths,
                      seconds=time.perf_counter() - started)


def build_from_run(run_dir: str | os.PathLike[str], sample_paths: int = DEFAULT_SAMPLE_PATHS,
                   policy: Any = None) -> ReportData:
    """The report of a ``run --out`` folder (one policy).

    Parameters
    ----------
    run_dir : str or Path
        The run's output folder (``manifest.json``, ``shards/``).
    sample_paths : int
        Paths of the time-series sample (the first ones).
    policy : Policy or str, optional
        The run's policy, when it is not a shipped one (a file the run was
        given); by default the manifest's policy name is loaded. Its
        settings must hash as the manifest says.

    Returns
    -------
    ReportData

    Raises
    ------
    ReportError
        For a folder without a readable manifest or shard, a scenario or
        policy that does not match the manifest, or re-simulated paths that
        differ from the shard rows.
    """
    import scenarios
    from sim.policy import load_policy
    from sim.runner import policy_sha256

    started = time.perf_counter()
    folder = RunFolder(run_dir)
    if not folder.has_manifest():
        raise ReportError(f"{folder.manifest_path}: not found; give the folder of "
                          f"'alvh run ... --out DIR'")
    try:
        manifest = folder.read_manifest()
    except OutputError as exc:
        raise ReportError(str(exc)) from exc
    text = (manifest.get("scenario") or {}).get("toml")
    if not text:
        raise ReportError(f"{folder.manifest_path}: no scenario text (scenario.toml)")
    if hashlib.sha256(text.encode()).hexdigest() != manifest["scenario"].get("sha256"):
        raise ReportError(f"{folder.manifest_path}: the scenario text does not match its "
                          f"sha256")
    scenario = scenarios.loads(text, source=f"{folder.manifest_path} (scenario.toml)")
    recorded = manifest.get("policy") or {}
    if policy is None or isinstance(policy, str | os.PathLike):
        try:
            policy = load_policy(os.fspath(policy) if policy is not None
                                 else recorded.get("name", ""))
        except Exception as exc:
            raise ReportError(f"{folder.manifest_path}: cannot load the run's policy "
                              f"{recorded.get('name')!r} ({exc}); pass its file with "
                              f"--policy FILE") from exc
    if policy_sha256(policy) != recorded.get("sha256"):
        raise ReportError(f"{folder.manifest_path}: policy {policy.name!r} as loaded now is "
                          f"not the run's (settings hash differs); pass the run's policy "
                          f"file with --policy FILE")
    seed = int(manifest["seed"])
    tables = FolderPaths(folder, manifest, policy.name)
    layout = tables.layout
    if tables.has(policy.name, REGIME_COLUMN):
        regimes = tables.column(policy.name, REGIME_COLUMN)
    else:
        regimes = _regime_of_markets(scenario, seed, layout)
    summary = single_policy_summary(scenario, policy, tables.frame(policy.name), regimes)
    report = build_scenario(scenario, [policy], seed, tables, regimes, summary, None, None,
                            policy.name, sample_paths, layout.block_size)
    origin = (f"run folder {folder.root} (alvh run {scenario.name} --policy {policy.name} "
              f"--paths {tables.n_paths} --seed {seed})")
    return ReportData(title=f"ALVH report: {policy.name} on {scenario.name}", origin=origin,
                      scenarios=[report], sample_paths=sample_paths,
                      seconds=time.perf_counter() - started)


def single_policy_summary(scenario: Scenario, policy: Any, frame: pd.DataFrame,
                          regimes: np.ndarray) -> pd.DataFrame:
    """``alvh compare``'s statistics of one policy's paths, all paths and per dominant regime.

    Parameters
    ----------
    scenario : Scenario
    policy : Policy
    frame : DataFrame
        The run's per-path table (``sim.metrics.path_results`` columns).
    regimes : ndarray of int, shape (n_paths,)
        Dominant regime index of every path.

    Returns
    -------
    DataFrame
        One row per regime group (``all`` first, then each regime present):
        ``scenario``, ``regime``, ``policy`` and ``sim.compare.policy_statistics``.
    """
    from sim.compare import policy_statistics

    horizon = scenario.simulation.n_days / TICKS_PER_YEAR
    groups = [(ALL_REGIMES, np.ones(len(frame), dtype=bool))]
    groups += [(name, regimes == i) for i, name in enumerate(scenario.market.regimes.names)
               if (regimes == i).any()]
    layers = tuple(getattr(policy, "layer_names", ()))
    rows = []
    for group, mask in groups:
        row = {"scenario": scenario.name, "regime": group, "policy": policy.name}
        row.update(policy_statistics(frame[mask], horizon, layers, layers))
        rows.append(row)
    summary = pd.DataFrame(rows)
    summary["paths"] = summary["paths"].astype(np.int64)
    return summary


def report_from_compare(result: Any, out: str | os.PathLike[str],
                        sample_paths: int = DEFAULT_SAMPLE_PATHS,
                        focus: str | None = None) -> ReportFiles:
    """Write the HTML report (and its CSV tables) of a comparison.

    Parameters
    ----------
    result : CompareResult
    out : str or Path
        The HTML file; tables go to ``<stem>_tables/`` beside it.
    sample_paths : int
    focus : str, optional

    Returns
    -------
    ReportFiles
    """
    started = time.perf_counter()
    files = write_report(build_from_compare(result, sample_paths, focus), out)
    files.seconds = time.perf_counter() - started
    return files


def report_from_run(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                    sample_paths: int = DEFAULT_SAMPLE_PATHS, policy: Any = None
                    ) -> ReportFiles:
    """Write the HTML report (and its CSV tables) of a run folder.

    Parameters
    ----------
    run_dir : str or Path
    out : str or Path, optional
        The HTML file (default ``RUN_DIR/report.html``).
    sample_paths : int
    policy : Policy or str, optional
        The run's policy file, when not a shipped policy.

    Returns
    -------
    ReportFiles
    """
    started = time.perf_counter()
    out = Path(run_dir) / "report.html" if out is None else out
    files = write_report(build_from_run(run_dir, sample_paths, policy), out)
    files.seconds = time.perf_counter() - started
    return files


# ------------------------------------------------------------------- tables
def summary_table(report: ScenarioReport) -> pd.DataFrame:
    """Every statistic over all paths, one row per policy."""
    rows = report.summary[report.summary["regime"] == ALL_REGIMES]
    return rows.reset_index(drop=True)


def regime_table(report: ScenarioReport) -> pd.DataFrame:
    """Key statistics per dominant-regime group (``all`` first) and policy."""
    columns = ["scenario", "regime", "policy",
               *(c for c in REGIME_TABLE_COLUMNS if c in report.summary.columns)]
    return report.summary[columns].reset_index(drop=True)


def differences_table(report: ScenarioReport) -> pd.DataFrame:
    """Paired differences vs the baseline (empty without a baseline)."""
    if report.differences is None:
        return pd.DataFrame(columns=["scenario", "regime", "policy", "baseline"])
    return report.differences.reset_index(drop=True)


def sample_paths_table(report: ScenarioReport) -> pd.DataFrame:
    """The three sample paths: index, regime, and every policy's result on them."""
    rows = []
    for sample in report.samples:
        row: dict[str, Any] = {"scenario": report.name, "sample": sample.label,
                               "path": sample.path, "dominant regime": sample.regime}
        for name in report.policies:
            row[f"P&L {name} ($)"] = sample.final_pnl(name)
        focus = sample.recordings[report.focus]
        row[f"max drawdown {report.focus} ($)"] = float(focus.drawdown()[:, 0].max())
        row[f"hedge spend {report.focus} ($)"] = float(focus.hedge_spend[-1, 0])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["path"] = table["path"].astype(np.int64)
    return table


#: Columns of the trades table.
TRADE_COLUMNS = ("scenario", "sample", "path", "policy", "tick", "date", "owner", "action",
                 "reason", "instrument", "type", "strike (index pts)", "expiry",
                 "quantity (contracts)", "price (index pts)", "cost ($)", "cash flow ($)")


def trades_table(report: ScenarioReport) -> pd.DataFrame:
    """Every ledger row of the sample paths, per policy (``sim.ledger`` columns, units)."""
    frames = []
    for sample in report.samples:
        for name in report.policies:
            recording = sample.recordings[name]
            rows = recording.trade_rows()
            owners = np.array([*recording.slot_owner, ""], dtype=object)
            owner = owners[np.minimum(rows["slot"].astype(np.int64), len(owners) - 1)]
            kind = np.where(rows["instrument"] == "vix_future", "future",
                            np.where(rows["is_call"], "call", "put"))
            kind = np.where(rows["action"] == "skip", "", kind)
            frames.append(pd.DataFrame({
                "scenario": report.name, "sample": sample.label, "path": sample.path,
                "policy": name, "tick": rows["tick"].astype(np.int64),
                "date": rows["date"].astype(str), "owner": owner.astype(str),
                "action": rows["action"], "reason": rows["reason"],
                "instrument": rows["instrument"], "type": kind,
                "strike (index pts)": rows["strike"],
                "expiry": np.where(np.isnat(rows["expiry"]), "",
                                   rows["expiry"].astype(str)),
                "quantity (contracts)": rows["quantity"], "price (index pts)": rows["price"],
                "cost ($)": rows["cost"], "cash flow ($)": rows["cash_flow"]},
                columns=list(TRADE_COLUMNS)))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=list(TRADE_COLUMNS))
    for column in ("path", "tick"):
        table[column] = table[column].astype(np.int64)
    return table


def _series_keys(report: ScenarioReport, policy: str) -> dict[str, Any]:
    """The columns that identify each row of a per-tick series: scenario, policy, tick, date."""
    return {"scenario": report.name, "policy": policy,
            "sample paths": report.sample[policy].n_paths,
            "tick": np.arange(report.dates.size), "date": report.dates.astype(str)}


def percentile_series(report: ScenarioReport) -> pd.DataFrame:
    """P&L percentiles per tick over the sample, per policy (the fan chart's data)."""
    frames = []
    for name in report.policies:
        series = report.sample[name]
        data = _series_keys(report, name)
        for level, values in zip(FAN_LEVELS, series.pnl_percentiles, strict=True):
            data[f"P&L {level:g}th pct ($)"] = values
        frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)


def hedge_series(report: ScenarioReport) -> pd.DataFrame:
    """Mean cumulative hedge spend and share of paths holding each layer, per tick."""
    layers: list[str] = []
    for name in report.policies:
        layers += [layer for layer in report.sample[name].layer_share if layer not in layers]
    frames = []
    for name in report.policies:
        series = report.sample[name]
        data = _series_keys(report, name)
        data["mean hedge spend ($)"] = series.mean_spend
        for layer in layers:
            data[f"layer {layer} held (% of paths)"] = series.layer_share.get(
                layer, np.full(report.dates.size, np.nan))
        frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)


def report_tables(report: ScenarioReport) -> dict[str, pd.DataFrame]:
    """Every table (and series) of one scenario, by CSV stem."""
    return {"summary": summary_table(report), "regimes": regime_table(report),
            "differences": differences_table(report),
            "sample_paths": sample_paths_table(report), "sample_trades": trades_table(report),
            "equity_percentiles": percentile_series(report),
            "hedge_activity": hedge_series(report)}


def format_cell(value: Any, column: str) -> str:
    """A table cell as the page shows it, by the unit in its column header.

    Dollars (``($)``) and contracts whole, percentages one decimal, index
    points two, counts with thousands separators, ratios two decimals;
    NaN as ``-``.
    """
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if column != "tick" and column != "path" else str(int(value))
    from sim.compare import format_statistic

    # Contracts are whole, as dollars are.
    return format_statistic(float(value), "($)" if "(contracts)" in column else column)


# --------------------------------------------------------------------- HTML
_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1100px;padding:0 18px 40px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-top:24px}h2{border-bottom:2px solid #1f77b4;padding-bottom:4px;
margin-top:40px}h3{margin-top:28px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#eef3f8}caption{text-align:left;font-size:12px;color:#555}td.text,th.text{text-align:left}
.scroll{overflow-x:auto;max-width:100%}
figure{margin:10px 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:12px;color:#555}.note{background:#f7f7f2;border-left:4px solid #bcbd22;
padding:6px 10px;font-size:13px}nav ul{columns:2;font-size:13px}
ol.story{font-size:13px}details{margin:8px 0}code{background:#f2f2f2;padding:0 3px}
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table_html(table: pd.DataFrame, name: str, scenario_slug: str, caption: str) -> str:
    numeric = {c: pd.api.types.is_numeric_dtype(table[c]) for c in table.columns}
    head = "".join(f'<th class="{"num" if numeric[c] else "text"}">{_esc(c)}</th>'
                   for c in table.columns)
    body = []
    for row in table.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="{"text" if isinstance(v, str) else "num"}">'
            f"{_esc(format_cell(v, c))}</td>"
            for c, v in zip(table.columns, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table id="tab-{scenario_slug}-{name.replace("_", "-")}" '
            f'data-csv="{name}.csv" data-scenario="{_esc(scenario_slug)}">'
            f"<caption>{_esc(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _figure_html(figure_id: str, png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img id="{figure_id}" alt="{_esc(alt)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_esc(caption)}</figcaption>'
            f"</figure>")


# ------------------------------------------------------------------ figures
def pnl_distribution_png(name: str, columns: dict[str, dict[str, np.ndarray]]) -> bytes:
    """Final P&L per path ($), one outline per policy, all paths (``columns[policy]["pnl"]``)."""
    from sim import report_figures as figures

    return figures.distribution_figure({p: c["pnl"] for p, c in columns.items()},
                                       "final P&L ($)", f"{name}: final P&L per path, all paths")


def drawdown_distribution_png(name: str, columns: dict[str, dict[str, np.ndarray]]) -> bytes:
    """Max drawdown per path ($), one outline per policy, all paths."""
    from sim import report_figures as figures

    return figures.distribution_figure({p: c["max_drawdown"] for p, c in columns.items()},
                                       "max drawdown ($)",
                                       f"{name}: max drawdown per path, all paths")


def sample_size(report: ScenarioReport) -> int:
    """Paths of the re-simulated time-series sample."""
    return next(iter(report.sample.values())).n_paths


def equity_fan_png(report: ScenarioReport) -> bytes:
    """P&L percentiles per tick over the sample, one panel per policy."""
    from sim import report_figures as figures

    return figures.equity_fan_figure(
        report.dates, {n: report.sample[n].pnl_percentiles for n in report.policies},
        FAN_LEVELS, f"{report.name}: P&L over time, first {sample_size(report):,} paths")


def hedge_activity_png(report: ScenarioReport) -> bytes:
    """Mean cumulative hedge spend and share of the sample holding each layer, per tick."""
    from sim import report_figures as figures

    return figures.hedge_activity_figure(
        report.dates, {n: report.sample[n].mean_spend for n in report.policies},
        {n: report.sample[n].layer_share for n in report.policies
         if report.sample[n].layer_share},
        f"{report.name}: hedges over time, first {sample_size(report):,} paths")


def differences_png(name: str, diffs: pd.DataFrame, baseline: str) -> bytes:
    """Mean P&L difference vs the baseline with its 95% CI, per policy and regime group."""
    from sim import report_figures as figures

    labels = [f"{p} ({g})" for p, g in zip(diffs["policy"], diffs["regime"], strict=True)]
    return figures.differences_figure(
        labels, diffs["mean P&L diff ($)"].to_numpy(), diffs["P&L diff CI low ($)"].to_numpy(),
        diffs["P&L diff CI high ($)"].to_numpy(), baseline, f"{name}: paired differences")


def sample_path_png(report: ScenarioReport, sample: SamplePath) -> bytes:
    """SPX with the focus policy's strikes, VIX with its layers, and every policy's P&L."""
    from sim import report_figures as figures

    focus = sample.recordings[report.focus]
    return figures.sample_path_figure(
        focus.market.dates, focus.market.spot[:, 0], focus.market.vix[:, 0],
        focus.condor_strikes[:, :, 0],
        {name: focus.layer_open[i, :, 0] for i, name in enumerate(focus.layer_names)},
        {name: sample.recordings[name].pnl[:, 0] for name in report.policies},
        report.focus, f"{report.name}: {sample.label} path of {report.focus} "
                      f"(path {sample.path:,}, mostly {sample.regime})")


def _scenario_html(report: ScenarioReport, tables: dict[str, pd.DataFrame],
                   tables_dir: str) -> str:
    from sim import report_figures as figures

    s = report.slug
    parts = [f'<section id="{s}" class="scenario"><h2>Scenario {_esc(report.name)}</h2>',
             f"<p>{_esc(report.scenario.description)}</p>",
             f"<p>{report.n_paths:,} paths x {report.scenario.simulation.n_days} daily ticks, "
             f"seed {report.seed}; policies: {_esc(', '.join(report.policies))}"
             + (f"; baseline: {_esc(report.baseline)}" if report.baseline else "")
             + f"; sample paths narrated for: {_esc(report.focus)}.</p>"]

    def section(name: str, title: str, body: str) -> None:
        parts.append(f'<section id="{s}-{name}"><h3>{_esc(title)}</h3>{body}</section>')

    section("summary", "Summary over all paths",
            _table_html(tables["summary"], "summary", s,
                        f"Statistics over all {report.n_paths:,} paths, one row per policy "
                        f"(definitions: Method below)."))
    section("pnl", "P&L distribution", _figure_html(
        f"fig-{s}-pnl-distribution", pnl_distribution_png(report.name, report.columns),
        f"Histogram of final P&L of each policy over all {report.n_paths:,} paths",
        "Share of paths per P&L bin for each policy (outlines), all paths; dotted lines "
        "are medians. Bins span the pooled 0.5th to 99.5th percentiles; paths beyond "
        "are counted in the edge bins."))
    k = sample_size(report)
    section("equity", "Equity fan chart", _figure_html(
        f"fig-{s}-equity-fan", equity_fan_png(report),
        "Fan chart of P&L over time: 5th, 25th, 50th, 75th and 95th percentiles per tick",
        f"P&L (equity minus initial cash, open legs at mid) at each tick over the run's "
        f"first {k:,} paths, re-simulated: median line, 25th-75th and 5th-95th percentile "
        f"bands. Data: {tables_dir}/equity_percentiles.csv."))
    section("drawdown", "Drawdown distribution", _figure_html(
        f"fig-{s}-drawdown-distribution", drawdown_distribution_png(report.name, report.columns),
        "Histogram of the max drawdown of each policy over all paths",
        "Largest fall of equity from its running peak on each path, all paths."))
    section("hedges", "Hedge spend and layer activation over time", _figure_html(
        f"fig-{s}-hedge-activity", hedge_activity_png(report),
        "Mean cumulative hedge spend and share of paths holding each hedge layer, per tick",
        f"Left: cumulative hedge spend (premium paid on openings plus costs), mean over the "
        f"first {k:,} paths. Right: share of those paths holding each layer after the "
        f"tick's mark. Data: {tables_dir}/hedge_activity.csv."))
    regimes = tables["regimes"]
    groups = list(dict.fromkeys(regimes["regime"]))
    mean = np.array([[_cell(regimes, g, p, "mean P&L ($)") for p in report.policies]
                     for g in groups])
    cvar95 = np.array([[_cell(regimes, g, p, "CVaR 95% ($)") for p in report.policies]
                       for g in groups])
    counts = [int(_cell(regimes, g, report.policies[0], "paths")) for g in groups]
    section("regimes", "Per-regime breakdown", _figure_html(
        f"fig-{s}-regime-breakdown",
        figures.regime_figure(groups, report.policies, mean, cvar95, counts,
                              f"{report.name}: by dominant regime"),
        "Bar charts of mean P&L and CVaR 95% by dominant regime and policy",
        "Paths grouped by the regime that governed most of their daily steps.")
        + _table_html(regimes, "regimes", s, "Key statistics per dominant-regime group "
                      "(all paths first)."))
    if report.baseline is None or len(report.policies) < 2:
        body = ('<p class="note">This report is of one policy\'s run folder: there is no '
                "baseline to compare with on the same paths. Run <code>alvh compare "
                f"{_esc(report.name)} --policies none {_esc(report.focus)} --report "
                "FILE.html</code> for paired differences with confidence intervals.</p>")
    else:
        diffs = tables["differences"]
        body = _figure_html(
            f"fig-{s}-paired-differences",
            differences_png(report.name, diffs, report.baseline),
            f"Mean P&L difference of each policy minus {report.baseline} with 95% CI",
            "Per regime group, mean over the same paths of P&L minus the baseline's, with "
            "its 95% percentile-bootstrap interval.")
        body += _table_html(diffs, "differences", s,
                            f"Paired differences vs {report.baseline} on the same paths, "
                            f"95% percentile-bootstrap intervals.")
    section("differences", "Paired differences", body)
    stories = []
    for sample in report.samples:
        png = sample_path_png(report, sample)
        story = "".join(f"<li>{_esc(sentence)}</li>" for sentence in sample.narrative)
        stories.append(
            f'<div id="{s}-sample-{sample.label}"><h4>{sample.label.capitalize()} path: '
            f"path {sample.path:,}, final P&L of {_esc(report.focus)} "
            f"{_esc(money(sample.final_pnl(report.focus)))}</h4>"
            + _figure_html(f"fig-{s}-sample-{sample.label}", png,
                           f"{sample.label} path {sample.path}: SPX with the condor strikes, "
                           f"VIX with the hedge layers held, and P&L",
                           "Top: SPX and the focus policy's condor strikes (solid: shorts, "
                           "dotted: wings). Middle: VIX; bands at the bottom mark when each "
                           "layer was held, triangles its openings and closings. Bottom: "
                           "P&L of every policy on this path.")
            + f'<ol class="story">{story}</ol></div>')
    section("samples", "Sample paths: best, median, worst",
            f"<p>Picked among all {report.n_paths:,} paths by the final P&L of "
            f"{_esc(report.focus)}, simulated again alone under every policy.</p>"
            + _table_html(tables["sample_paths"], "sample_paths", s, "The sample paths.")
            + "".join(stories)
            + "<details><summary>Every trade of the sample paths (ledger rows)</summary>"
            + _table_html(tables["sample_trades"], "sample_trades", s,
                          "Ledger rows of the sample paths, every policy.")
            + "</details>")
    parts.append("</section>")
    return "".join(parts)


def _cell(table: pd.DataFrame, group: str, policy: str, column: str) -> float:
    rows = table[(table["regime"] == group) & (table["policy"] == policy)]
    return float(rows[column].iloc[0]) if len(rows) else float("nan")


def _method_html(data: ReportData) -> str:
    verified = sum(r.verified for r in data.scenarios)
    return (
        '<section id="method"><h2>Method</h2><ul>'
        "<li><b>P&amp;L</b> ($): equity (cash plus open option legs at mid) minus the initial "
        "cash; final P&amp;L at the last tick. <b>Max drawdown</b> ($): the largest fall of "
        "equity from its running peak at ticks.</li>"
        "<li><b>All paths</b>: the P&amp;L and drawdown distributions, summary, per-regime "
        "breakdown and paired differences use every path of the run (its per-path "
        "rows).</li>"
        f"<li><b>Time series</b> (fan chart, hedge activity): the run's first paths (up to "
        f"{data.sample_paths:,} per scenario) were simulated again with a recorder that "
        "reads the book and the agents after each tick's mark. Percentiles are numpy's "
        "(linear interpolation) over those paths at each tick.</li>"
        "<li><b>Sample paths</b>: the best, median and worst final P&amp;L of the focus "
        "policy among all paths (ties to the lower path index), each simulated again "
        "alone under every policy; the narration comes from its ledger and market.</li>"
        f"<li><b>Same paths as the run</b>: re-simulation uses the run's seeding (block "
        f"k of {PATHS_PER_BLOCK} paths from SeedSequence(seed).spawn(n_blocks)[k]); "
        f"{verified:,} re-simulated path results were checked against the run's rows, every "
        "column equal bit for bit (a difference stops the report).</li>"
        "<li><b>Regime</b>: the dominant regime of a path governed most of its daily steps "
        "(ties to the lower regime).</li>"
        "<li><b>Statistics and confidence intervals</b>: as <code>alvh compare</code> "
        "(<code>sim.compare</code>, <code>docs/policies.md</code>): Sharpe and Sortino on "
        "(P&amp;L - carry) / peak margin, annualized; paired percentile-bootstrap 95% "
        "intervals on the same paths.</li></ul></section>")


def render_html(data: ReportData, tables: dict[str, dict[str, pd.DataFrame]],
                tables_dir: str) -> str:
    """The report page.

    Parameters
    ----------
    data : ReportData
    tables : dict
        Scenario name -> table name -> table (:func:`report_tables`).
    tables_dir : str
        Folder of the CSV files, relative to the page.

    Returns
    -------
    str
        One HTML document, CSS inline, figures embedded.
    """
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    toc = []
    for report in data.scenarios:
        s = report.slug
        titles = dict(zip(SECTIONS, ("Summary", "P&L distribution", "Equity fan chart",
                                     "Drawdown distribution", "Hedge spend and layers",
                                     "Per-regime breakdown", "Paired differences",
                                     "Sample paths"), strict=True))
        items = "".join(f'<li><a href="#{s}-{n}">{_esc(report.name)}: {_esc(t)}</a></li>'
                        for n, t in titles.items())
        toc.append(items)
    csvs = ", ".join(f'<a href="{_esc(tables_dir)}/{name}.csv">{name}.csv</a>'
                     for name in (*TABLES, *SERIES))
    body = "".join(_scenario_html(r, tables[r.name], tables_dir) for r in data.scenarios)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width\"><title>{_esc(data.title)}"
        f"</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_esc(data.title)}</h1><p>From: <code>{_esc(data.origin)}</code>. "
        f"Written {created} by alvh. Tables as CSV: {csvs}.</p></header>"
        f'<nav id="contents"><h2>Contents</h2><ul>{"".join(toc)}'
        '<li><a href="#method">Method</a></li></ul></nav>'
        f"{body}{_method_html(data)}</body></html>\n")


def write_report(data: ReportData, out: str | os.PathLike[str]) -> ReportFiles:
    """Write the page and its CSV tables, each file atomically.

    Parameters
    ----------
    data : ReportData
    out : str or Path
        The HTML file; its tables go to ``<stem>_tables/`` beside it (both
        replaced if present).

    Returns
    -------
    ReportFiles
    """
    out = Path(out)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    folder = out.parent / f"{out.stem}_tables"
    folder.mkdir(exist_ok=True)
    tables = {r.name: report_tables(r) for r in data.scenarios}
    written: dict[str, Path] = {}
    for name in (*TABLES, *SERIES):
        frames = [tables[r.name][name] for r in data.scenarios]
        frames = [f for f in frames if len(f.columns)]
        combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        path = folder / f"{name}.csv"
        with atomic_file(path, "w") as handle:
            combined.to_csv(handle, index=False, lineterminator="\n")
        written[name] = path
    page = render_html(data, tables, folder.name)
    with atomic_file(out, "w") as handle:
        handle.write(page)
    ids = tuple(i for r in data.scenarios for i in figure_ids(r))
    return ReportFiles(html=out, tables=written, figure_ids=ids, seconds=data.seconds)
