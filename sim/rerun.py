"""Run a recorded run again from its manifest and check its numbers: ``alvh rerun``.

A run's ``manifest.json`` (``sim.runner``) holds what its numbers depend on:
the scenario as TOML, the policy as TOML, the seed, the path count and the
block size of the seeding. :func:`rerun` rebuilds the scenario
(``scenarios.loads``) and the policy (``scenarios.policy_loader.loads_policy``)
from the manifest alone - the original files may be gone - runs them with
the same seed and paths, and compares the numbers with what the original run
wrote next to its manifest:

- ``summary.json``: every summary value and every column's count, mean,
  standard deviation, min, max, positive and missing counts, exactly;
- the shard files, when the original run wrote them: every per-path value,
  bit for bit, whatever the shard size of either run.

The backend, the workers and the shard size may differ from the original
run's: they change no number. Different versions of the tool or of the
numeric packages are reported as warnings, not refused; they are the usual
reason for a difference.

Not reproducible from the manifest alone: agents and policies built in
Python (their factories are only named), and policies whose triggers read
signals registered in Python (register them again first); pass such a
policy with ``policy=``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.output import MANIFEST, SUMMARY, OutputError, RunFolder
from sim.runner import (
    RunResult,
    _layout_of,
    package_versions,
    policy_sha256,
    run,
    summary_document,
    tool_version,
)
from sim.shards import PATHS_PER_BLOCK, ShardLayout

__all__ = ["RerunError", "RerunReport", "find_manifest", "read_manifest", "rebuild", "rerun"]


class RerunError(ValueError):
    """A manifest that cannot be run again as it is (bad file, policy built in Python...)."""


@dataclass
class RerunReport:
    """The rerun and how its numbers compare with the original run's.

    Attributes
    ----------
    manifest_path : Path
        The manifest read.
    result : RunResult
        The new run.
    compared : list of str
        What was compared (summary, column statistics, per-path values).
    differences : list of str
        One line per number that differs; empty when identical.
    warnings : list of str
        Version differences and other reasons a result could differ.
    """

    manifest_path: Path
    result: RunResult
    compared: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Whether something was compared and every number was the same."""
        return bool(self.compared) and not self.differences

    def to_text(self, max_lines: int = 20) -> str:
        """What was compared, and ``identical`` or the differences (at most ``max_lines``)."""
        lines = [f"warning: {w}" for w in self.warnings]
        if not self.compared:
            lines.append("nothing to compare: the original run left neither summary.json nor "
                         "shard files next to its manifest")
            return "\n".join(lines)
        lines.append("compared with the original run: " + "; ".join(self.compared))
        if not self.differences:
            lines.append("identical: every number is the same, bit for bit")
            return "\n".join(lines)
        lines.append(f"DIFFERENT: {len(self.differences)} difference(s)")
        lines += [f"  {d}" for d in self.differences[:max_lines]]
        if len(self.differences) > max_lines:
            lines.append(f"  ... and {len(self.differences) - max_lines} more")
        return "\n".join(lines)


# ------------------------------------------------------------------ reading
def find_manifest(path: str | os.PathLike[str]) -> Path:
    """The manifest file of ``path``: the file itself, or ``path/manifest.json``.

    Raises
    ------
    RerunError
        If there is no such file.
    """
    path = Path(path)
    candidate = path / MANIFEST if path.is_dir() else path
    if not candidate.is_file():
        what = "a run folder without manifest.json" if path.is_dir() else "no such file"
        raise RerunError(f"{path}: {what}; allowed: a run's manifest.json or its folder")
    return candidate


def read_manifest(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """``(manifest file, manifest)`` of a manifest file or a run folder.

    Raises
    ------
    RerunError
        If the file is missing, not JSON, or not a manifest of this tool.
    """
    manifest_path = find_manifest(path)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RerunError(f"{manifest_path}: cannot read the manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("tool") != "alvh":
        raise RerunError(f"{manifest_path}: not a manifest of an alvh run; allowed: the "
                         "manifest.json that alvh run writes")
    for key, kind in (("scenario", dict), ("policy", dict), ("seed", int), ("n_paths", int),
                      ("paths_per_block", int), ("shards", dict)):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise RerunError(f"{manifest_path}: the manifest has no valid {key!r}; allowed: "
                             "the manifest.json that alvh run writes")
    return manifest_path, manifest


def _version_warnings(manifest: dict[str, Any]) -> list[str]:
    warnings = []
    if manifest.get("version") != tool_version():
        warnings.append(f"the run was made by alvh {manifest.get('version')}, this is "
                        f"{tool_version()}")
    recorded = manifest.get("packages")
    if not isinstance(recorded, dict):
        warnings.append("the manifest does not record package versions")
        return warnings
    now = package_versions()
    changed = [f"{name} {recorded.get(name, 'absent')} -> {now.get(name, 'absent')}"
               for name in sorted(set(recorded) | set(now))
               if name != "alvh" and recorded.get(name) != now.get(name)]
    if changed:
        warnings.append("package versions differ: " + ", ".join(changed))
    return warnings


# --------------------------------------------------------------- rebuilding
def rebuild(manifest: dict[str, Any], manifest_path: str | os.PathLike[str] = MANIFEST,
            policy: Any = None) -> tuple[Any, Any, list[str]]:
    """The scenario and policy of a manifest, from its own text.

    Parameters
    ----------
    manifest : dict
        A manifest (:func:`read_manifest`).
    manifest_path : str or Path
        Its file, for messages.
    policy : object, optional
        The policy to run instead of the recorded one (needed for agents and
        policies built in Python); a warning says if its hash differs.

    Returns
    -------
    scenario : Scenario
    policy : object
    warnings : list of str

    Raises
    ------
    RerunError
        If the policy cannot be rebuilt from the manifest.
    scenarios.ScenarioError
        If the recorded TOML is no longer valid (a newer tool, or a
        registered signal that is missing).
    """
    import scenarios
    from scenarios.policy_loader import loads_policy

    warnings: list[str] = []
    record = manifest["scenario"]
    text = record.get("toml")
    if not isinstance(text, str):
        raise RerunError(f"{manifest_path}: the manifest holds no scenario TOML")
    text = _with_calendar(text, record.get("calendar"), warnings)
    scenario = scenarios.loads(text, f"{manifest_path} [scenario]")
    again = scenarios.dumps(scenario, comments=False)
    if hashlib.sha256(again.encode()).hexdigest() != record.get("sha256") and not warnings:
        warnings.append("the scenario TOML reads back to a different scenario in this version")

    wanted = manifest["policy"]
    if policy is not None:
        if policy_sha256(policy) != wanted.get("sha256"):
            warnings.append(f"the policy given ({policy.name}) is not the recorded one "
                            f"({wanted.get('name')})")
        return scenario, policy, warnings
    if isinstance(wanted.get("toml"), str):
        rebuilt = loads_policy(wanted["toml"], f"{manifest_path} [policy]")
    else:
        rebuilt = _policy_by_name(manifest_path, wanted)
    if policy_sha256(rebuilt) != wanted.get("sha256"):
        warnings.append("the policy TOML reads back to a different policy in this version")
    return scenario, rebuilt, warnings


def _policy_by_name(manifest_path: Any, wanted: dict[str, Any]) -> Any:
    """A policy recorded by name only (a manifest of format 1, or one built in Python)."""
    from sim.policy import POLICY_REGISTRY, load_policy

    name = wanted.get("name")
    factories = wanted.get("factories")
    if factories is not None or not isinstance(name, str):
        shown = "; ".join(factories or []) or "unknown"
        raise RerunError(f"{manifest_path}: policy {name!r} was built in Python (agents: "
                         f"{shown}); not reproducible from the manifest alone; allowed: pass "
                         "the same policy to sim.rerun.rerun(..., policy=...)")
    try:
        policy = load_policy(name)
    except ValueError:
        raise RerunError(f"{manifest_path}: the manifest records policy {name!r} by name only, "
                         "and no such policy is shipped or registered") from None
    if policy_sha256(policy) != wanted.get("sha256") and name not in POLICY_REGISTRY:
        raise RerunError(f"{manifest_path}: the manifest records policy {name!r} by name only, "
                         "and the policy of that name has changed since")
    return policy


def _with_calendar(text: str, calendar: Any, warnings: list[str]) -> str:
    """``text`` reading the recorded event calendar when its file is gone or changed."""
    from scenarios.writer import toml_value

    if not isinstance(calendar, dict) or not isinstance(calendar.get("text"), str):
        return text
    path, recorded = calendar.get("path"), calendar["text"]
    try:
        if Path(path).read_text(encoding="utf-8") == recorded:
            return text
    except (OSError, ValueError, TypeError):
        pass
    folder = tempfile.mkdtemp(prefix="alvh-rerun-")
    copy = Path(folder) / "calendar.csv"
    copy.write_text(recorded, encoding="utf-8")
    warnings.append(f"the event calendar {path} is gone or changed; using the copy recorded "
                    f"in the manifest ({copy})")
    return text.replace(f"calendar = {toml_value(path)}", f"calendar = {toml_value(str(copy))}")


# -------------------------------------------------------------------- rerun
def rerun(path: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None,
          backend: str = "auto", workers: int | None = None, scheduler: str | None = None,
          shard_size: int | None = None, policy: Any = None,
          progress: bool = False) -> RerunReport:
    """Run the run of a manifest again and compare its numbers with the original's.

    Parameters
    ----------
    path : str or Path
        A ``manifest.json``, or the run folder that holds it.
    out : str or Path, optional
        Folder for the new run (manifest, shards, summary); default: none
        kept (shards are written to a temporary folder for the comparison).
    backend, workers, scheduler
        Where the new run's shards run (``sim.runner.run``); no number
        depends on them.
    shard_size : int, optional
        Paths per shard of the new run; default the original's. No number
        depends on it.
    policy : object, optional
        The policy, for runs whose policy the manifest cannot rebuild.
    progress : bool
        Show a progress bar on a terminal.

    Returns
    -------
    RerunReport

    Raises
    ------
    RerunError
        If the manifest cannot be read or rebuilt.
    scenarios.ScenarioError
        If its scenario or policy TOML is no longer valid.
    """
    manifest_path, manifest = read_manifest(path)
    if manifest["paths_per_block"] != PATHS_PER_BLOCK:
        raise RerunError(f"{manifest_path}: the run drew its paths in blocks of "
                         f"{manifest['paths_per_block']} paths; this version draws blocks of "
                         f"{PATHS_PER_BLOCK}, so it cannot draw the same paths")
    scenario, rebuilt, warnings = rebuild(manifest, manifest_path, policy)
    warnings = _version_warnings(manifest) + warnings
    try:
        original_layout = _layout_of(manifest)
    except OutputError as exc:
        raise RerunError(str(exc)) from None
    original = RunFolder(manifest_path.parent)
    shard_files = [i for i in original.existing_shards() if i < original_layout.n_shards]
    if shard_size is None:
        shard_size = original_layout.shard_size

    with tempfile.TemporaryDirectory(prefix="alvh-rerun-") as scratch:
        folder = Path(out) if out is not None else (Path(scratch) / "run" if shard_files
                                                    else None)
        result = run(scenario, n_paths=manifest["n_paths"], seed=manifest["seed"],
                     shard_size=shard_size, policy=rebuilt, backend=backend, workers=workers,
                     scheduler=scheduler, out=folder, keep_paths=False, progress=progress)
        report = RerunReport(manifest_path=manifest_path, result=result, warnings=warnings)
        _compare_summary(original.root / SUMMARY, summary_document(result), report)
        if shard_files:
            _compare_shards(original, manifest, original_layout, shard_files, result, report)
    if report.differences and any(w.startswith(("package", "the run was made"))
                                  for w in warnings):
        report.warnings.append("the versions differ: that may explain the differences")
    return report


def _compare_summary(path: Path, new: dict[str, Any], report: RerunReport) -> None:
    """Compare ``summary.json`` of the original run with the new run's, value by value."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        report.differences.append(f"{path}: unreadable ({exc})")
        return
    old_rows = {row.get("metric"): row.get("value") for row in old.get("summary") or []
                if isinstance(row, dict)}
    new_rows = {row["metric"]: row["value"] for row in new["summary"]}
    for metric in [*new_rows, *(m for m in old_rows if m not in new_rows)]:
        if metric not in old_rows or metric not in new_rows:
            where = "original" if metric in old_rows else "rerun"
            report.differences.append(f"summary {metric!r}: only in the {where}")
        elif not _same(old_rows[metric], new_rows[metric]):
            report.differences.append(f"summary {metric}: original {old_rows[metric]!r}, "
                                      f"rerun {new_rows[metric]!r}")
    old_columns, new_columns = old.get("columns") or {}, new["columns"]
    for name in sorted(set(old_columns) | set(new_columns)):
        if name not in old_columns or name not in new_columns:
            where = "original" if name in old_columns else "rerun"
            report.differences.append(f"column {name!r}: only in the {where}")
            continue
        for stat, value in new_columns[name].items():
            if not _same(old_columns[name].get(stat), value):
                report.differences.append(f"column {name} {stat}: original "
                                          f"{old_columns[name].get(stat)!r}, rerun {value!r}")
    report.compared.append(f"summary ({len(new_rows)} values) and statistics of "
                           f"{len(new_columns)} columns from {path.name}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex()   # bit for bit: -0.0 is not 0.0
    return type(a) is type(b) and a == b


def _compare_shards(original: RunFolder, manifest: dict[str, Any], layout: ShardLayout,
                    shard_files: list[int], result: RunResult, report: RerunReport) -> None:
    """Compare every per-path value of the original shard files with the new run's."""
    new = _PathRows(RunFolder(result.out), result.layout, result.run_id)
    run_id = manifest.get("run_id")
    checked, unreadable, columns = 0, [], None
    counts: dict[str, list[int]] = {}
    for index in shard_files:
        table = original.read_shard(index, run_id, layout.shard_paths(index))
        if table is None:
            unreadable.append(index)
            continue
        first, stop = layout.shard_paths(index)
        rows = new.rows(first, stop)
        if columns is None:
            columns = list(table)
            if list(rows) != columns:
                report.differences.append(f"per-path columns differ: original {columns}, "
                                          f"rerun {list(rows)}")
        for name in table:
            if name not in rows:
                continue
            differ = _differing(table[name], rows[name])
            if differ.any():
                entry = counts.setdefault(name, [0, first + int(np.argmax(differ))])
                entry[0] += int(differ.sum())
        checked += stop - first
    for name, (count, first_path) in counts.items():
        report.differences.append(f"per-path {name}: {count:,} path(s) differ, the first "
                                  f"is path {first_path}")
    if unreadable:
        report.warnings.append(f"original shard file(s) {', '.join(map(str, unreadable))} "
                               "unreadable: not compared")
    missing = layout.n_shards - len(shard_files)
    if missing:
        report.warnings.append(f"{missing} shard file(s) of the original run are missing "
                               "(an interrupted run?): not compared")
    if checked:
        report.compared.append(f"{checked:,} paths x {len(columns or [])} per-path columns from "
                               f"{len(shard_files) - len(unreadable)} shard file(s), bit for bit")


def _differing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mask of the elements that differ in value or bits (NaN equal to the same NaN)."""
    if a.shape != b.shape:
        return np.ones(max(a.size, b.size), dtype=bool)
    if a.dtype != b.dtype:
        return np.ones(a.shape, dtype=bool)
    if a.dtype.kind == "f":
        width = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
        return a.view(width) != b.view(width)
    return a != b


class _PathRows:
    """Rows of a run folder by path range, reading each shard file once, in path order."""

    def __init__(self, folder: RunFolder, layout: ShardLayout, run_id: str) -> None:
        self.folder, self.layout, self.run_id = folder, layout, run_id
        self._index, self._table = -1, {}

    def _shard(self, index: int) -> dict[str, np.ndarray]:
        if index != self._index:
            table = self.folder.read_shard(index, self.run_id, self.layout.shard_paths(index))
            if table is None:
                raise RerunError(f"{self.folder.shard_path(index)}: the rerun's shard file "
                                 "is unreadable")
            self._index, self._table = index, table
        return self._table

    def rows(self, first: int, stop: int) -> dict[str, np.ndarray]:
        """Every column for paths ``first .. stop - 1``."""
        parts: list[dict[str, np.ndarray]] = []
        for index, lo, hi in self._pieces(first, stop):
            table = self._shard(index)
            start = self.layout.shard_paths(index)[0]
            parts.append({k: v[lo - start:hi - start] for k, v in table.items()})
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _pieces(self, first: int, stop: int) -> Iterator[tuple[int, int, int]]:
        index = first // self.layout.shard_size
        while first < stop:
            hi = self.layout.shard_paths(index)[1]
            yield index, first, min(hi, stop)
            first, index = min(hi, stop), index + 1
