"""Experiments: claims about policies, tested on common random numbers across scenarios.

An experiment file (TOML, e.g. ``scenarios/experiments/claims.toml``) states
claims of the form *policy P beats baseline B on metric M in scenarios S*,
with the size the claim asserts, and the Monte Carlo settings to test them
with::

    name = "claims"
    description = "..."
    paths = 2000                 # [paths] per scenario
    seed = 20261125              # root seed (the same paths for every policy)
    bootstrap = 2000             # [resamples] of the paired bootstrap
    [overrides]                  # applied to every scenario, for every policy alike
    "account.initial_cash" = 1000000.0
    [[claims]]
    id = "a"
    statement = "Rigid VIX-level triggers underperform adaptive entries by ~40%"
    policy = "alvh"
    baseline = "static-vix"
    metric = "sharpe_rel"        # or "sharpe" or "pnl"
    claimed = 40.0               # the size claimed, in the metric's unit
    scenarios = ["default", "calm_grind"]

Metrics (policy minus baseline, per path on the same paths, with a 95%
percentile bootstrap CI over paths, ``sim.compare``):

- ``pnl``: mean P&L difference, $ per path over the horizon;
- ``sharpe``: difference of annualized Sharpe ratios on margin;
- ``sharpe_rel``: ``(Sharpe_P - Sharpe_B) / |Sharpe_B|``, %.

Verdict per scenario, from the CI ``[lo, hi]`` and the claimed value ``c``
(a claim asserts ``P`` is better, i.e. ``c > 0``; ``c = 0`` asserts only the
sign):

- ``supported``: ``lo > 0`` and (``c = 0`` or ``lo <= c <= hi``);
- ``better, smaller than claimed`` / ``better, larger than claimed``:
  ``lo > 0`` but ``c`` outside the CI;
- ``inconclusive``: the CI contains 0;
- ``contradicted``: ``hi < 0`` (the baseline is better).

Nothing here knows what the answer "should" be: the simulator, policies
and scenarios are the shipped ones, and the experiment only reads results.
"""

from __future__ import annotations

import dataclasses
import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.config import Scenario

#: Folder of the experiment files shipped with the package.
EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "experiments"
#: Metrics a claim may be about: (DataFrame column stem, unit).
METRICS = {"pnl": ("P&L diff", "$"), "sharpe": ("Sharpe diff", "1"),
           "sharpe_rel": ("Sharpe rel. diff", "%")}


@dataclass(frozen=True)
class Claim:
    """One claim: ``policy`` beats ``baseline`` on ``metric`` by ``claimed`` in ``scenarios``."""

    id: str
    statement: str
    policy: str
    baseline: str
    metric: str
    claimed: float
    scenarios: tuple[str, ...]


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file."""

    name: str
    description: str
    paths: int
    seed: int
    bootstrap: int
    overrides: tuple[tuple[str, Any], ...]
    claims: tuple[Claim, ...]
    source: str


def _error(source: str, key: str | None, problem: str, allowed: str | None = None):
    from scenarios.loader import _error as scenario_error

    return scenario_error(source, key, problem, allowed)


def load_experiment(name_or_path: str | os.PathLike[str]) -> Experiment:
    """Read and validate an experiment file (a shipped name or a path).

    Raises
    ------
    scenarios.ScenarioError
        One line naming the file, the key and what is allowed.
    """
    text_name = os.fspath(name_or_path)
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and "/" not in text_name and not text_name.endswith(
            ".toml"):
        path = EXPERIMENTS_DIR / f"{text_name}.toml"
    source = os.fspath(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _error(source, None, "no such experiment file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(source, None, f"cannot read the file ({exc})") from None
    except ValueError as exc:
        raise _error(source, None, f"invalid TOML: {exc}") from None
    return _build(document, source)


def _take(source: str, table: dict, key: str, kind: type, prefix: str = "",
          default: Any = None, positive: bool = False) -> Any:
    dotted = prefix + key
    if key not in table:
        if default is None:
            raise _error(source, dotted, f"{dotted} is missing", f"a {kind.__name__}")
        return default
    value = table[key]
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok or (positive and value < 1):
        noun = {int: "an integer >= 1" if positive else "an integer", float: "a number",
                str: "a string"}[kind]
        raise _error(source, dotted, f"{dotted} = {value!r} is not {noun}", noun)
    return value


def _build(document: dict, source: str) -> Experiment:
    allowed = ("name", "description", "paths", "seed", "bootstrap", "overrides", "claims")
    for key in document:
        if key not in allowed:
            raise _error(source, key, f"{key} is not a known key", ", ".join(allowed))
    overrides = document.get("overrides", {})
    if not isinstance(overrides, dict):
        raise _error(source, "overrides", "overrides is not a table",
                     'a table of "section.key" = value')
    claims_doc = document.get("claims")
    if not isinstance(claims_doc, list) or not claims_doc or not all(
            isinstance(c, dict) for c in claims_doc):
        raise _error(source, "claims", "claims is missing or not an array of tables",
                     "one or more [[claims]] tables")
    claims = []
    claim_keys = [f.name for f in dataclasses.fields(Claim)]
    for i, table in enumerate(claims_doc):
        prefix = f"claims[{i}]."
        for key in table:
            if key not in claim_keys:
                raise _error(source, prefix + key, f"{prefix}{key} is not a known key",
                             ", ".join(claim_keys))
        metric = _take(source, table, "metric", str, prefix)
        if metric not in METRICS:
            raise _error(source, prefix + "metric", f"{prefix}metric = {metric!r} is not "
                         "a known metric", ", ".join(METRICS))
        names = table.get("scenarios")
        if not isinstance(names, list) or not names or not all(
                isinstance(n, str) for n in names):
            raise _error(source, prefix + "scenarios", f"{prefix}scenarios is not a "
                         "non-empty array of strings", "scenario names or files")
        claims.append(Claim(
            id=_take(source, table, "id", str, prefix),
            statement=_take(source, table, "statement", str, prefix),
            policy=_take(source, table, "policy", str, prefix),
            baseline=_take(source, table, "baseline", str, prefix),
            metric=metric, claimed=_take(source, table, "claimed", float, prefix),
            scenarios=tuple(names)))
    return Experiment(
        name=_take(source, document, "name", str),
        description=_take(source, document, "description", str),
        paths=_take(source, document, "paths", int, positive=True),
        seed=_take(source, document, "seed", int),
        bootstrap=_take(source, document, "bootstrap", int, default=2000, positive=True),
        overrides=tuple(overrides.items()), claims=tuple(claims), source=source)


def apply_overrides(scenario: Scenario, overrides: tuple[tuple[str, Any], ...],
                    source: str = "<experiment>") -> Scenario:
    """The scenario with ``"section.key" = value`` overrides, validated by the scenario loader."""
    import scenarios
    from scenarios.writer import dumps

    if not overrides:
        return scenario
    changed = scenario
    for dotted, value in overrides:
        parts = dotted.split(".")
        if len(parts) != 2 or not hasattr(scenario, parts[0]) or not dataclasses.is_dataclass(
                getattr(scenario, parts[0])) or not hasattr(getattr(scenario, parts[0]),
                                                            parts[1]):
            raise _error(source, f"overrides.{dotted}", f"overrides.{dotted} is not a "
                         "scenario parameter", '"section.key", e.g. "account.initial_cash"')
        section = getattr(changed, parts[0])
        changed = dataclasses.replace(changed, **{
            parts[0]: dataclasses.replace(section, **{parts[1]: value})})
    # Round-trip through TOML so that every overridden value is validated once.
    return dataclasses.replace(scenarios.loads(dumps(changed), source=source),
                               source=scenario.source)


@dataclass
class ExperimentResult:
    """Per claim and scenario: the measured value, its CI and the verdict."""

    experiment: Experiment
    table: pd.DataFrame
    wall_seconds: float

    def to_text(self) -> str:
        """The results as text, one block per claim."""
        lines = [f"experiment: {self.experiment.name} ({self.experiment.source})",
                 f"{self.experiment.paths:,} paths per scenario, seed {self.experiment.seed}, "
                 f"{self.experiment.bootstrap:,} bootstrap resamples"]
        for claim in self.experiment.claims:
            stem, unit = METRICS[claim.metric]
            lines += ["", f"claim ({claim.id}): {claim.statement}",
                      f"  {claim.policy} minus {claim.baseline}, {stem} [{unit}], claimed "
                      f"{claim.claimed:+g} {unit}"]
            rows = self.table[self.table["claim"] == claim.id]
            width = max(len(s) for s in rows["scenario"])
            for _, row in rows.iterrows():
                lines.append(f"  {row['scenario']:<{width}}  {row['value']:+10.2f}  "
                             f"[{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]  "
                             f"{row['verdict']}")
        lines += ["", f"wall time: {self.wall_seconds:.1f} s"]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The results as a Markdown table per claim (for the docs)."""
        out = []
        for claim in self.experiment.claims:
            stem, unit = METRICS[claim.metric]
            out += [f"**Claim ({claim.id})**: {claim.statement}. Measured: `{claim.policy}` "
                    f"minus `{claim.baseline}`, {stem} ({unit}); claimed {claim.claimed:+g} "
                    f"{unit}.", ""]
            head = (f"| scenario | {stem} ({unit}) | 95% CI | verdict | Sharpe "
                    f"`{claim.policy}` / `{claim.baseline}` |")
            if claim.metric == "pnl":
                head += " Sharpe diff | 95% CI |"
            else:
                head += " mean P&L diff ($) | 95% CI ($) |"
            out += [head, "|---|---:|---|---|---|---:|---|"]
            rows = self.table[self.table["claim"] == claim.id]
            for _, row in rows.iterrows():
                fmt = "{:+,.0f}" if claim.metric == "pnl" else "{:+.2f}"
                line = (f"| {row['scenario']} | {fmt.format(row['value'])} | "
                        f"[{fmt.format(row['ci_low'])}, {fmt.format(row['ci_high'])}] | "
                        f"{row['verdict']} | {row['sharpe_policy']:+.2f} / "
                        f"{row['sharpe_baseline']:+.2f} |")
                if claim.metric == "pnl":
                    line += (f" {row['sharpe_diff']:+.2f} | [{row['sharpe_low']:+.2f}, "
                             f"{row['sharpe_high']:+.2f}] |")
                else:
                    line += (f" {row['pnl']:+,.0f} | [{row['pnl_low']:+,.0f}, "
                             f"{row['pnl_high']:+,.0f}] |")
                out.append(line)
            out.append("")
        return "\n".join(out)


def verdict(low: float, high: float, claimed: float) -> str:
    """Verdict of a claim from the CI ``[low, high]`` of policy minus baseline."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "undefined"
    if high < 0:
        return "contradicted"
    if low <= 0:
        return "inconclusive"
    if claimed == 0 or low <= claimed <= high:
        return "supported"
    return "better, smaller than claimed" if claimed > high else "better, larger than claimed"


def run_experiment(experiment: Experiment | str, paths: int | None = None,
                   seed: int | None = None) -> ExperimentResult:
    """Run every claim of an experiment (each scenario once, all its policies on the same paths).

    Parameters
    ----------
    experiment : Experiment or str
        An :class:`Experiment` or a name/path for :func:`load_experiment`.
    paths, seed : int, optional
        Override the file's path count and seed.

    Returns
    -------
    ExperimentResult
    """
    import scenarios
    from sim.compare import compare

    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    if paths is not None or seed is not None:
        experiment = dataclasses.replace(
            experiment, paths=experiment.paths if paths is None else int(paths),
            seed=experiment.seed if seed is None else int(seed))
    started = time.perf_counter()
    order: list[str] = []
    for claim in experiment.claims:
        order += [s for s in claim.scenarios if s not in order]
    rows = []
    for name in order:
        scenario = apply_overrides(scenarios.load(name), experiment.overrides,
                                   experiment.source)
        claims = [c for c in experiment.claims if name in c.scenarios]
        for baseline in dict.fromkeys(c.baseline for c in claims):
            policies = [baseline, *dict.fromkeys(
                c.policy for c in claims if c.baseline == baseline)]
            result = compare([scenario], policies, n_paths=experiment.paths,
                             seed=experiment.seed, baseline=baseline,
                             bootstrap=experiment.bootstrap)
            diffs = result.differences
            diffs = diffs[diffs["regime"] == "all"]
            summary = result.summary[result.summary["regime"] == "all"].set_index("policy")
            for claim in claims:
                if claim.baseline != baseline:
                    continue
                row = diffs[diffs["policy"] == claim.policy].iloc[0]
                stem, unit = METRICS[claim.metric]
                col = f"mean {stem} ({unit})" if claim.metric == "pnl" else (
                    f"{stem} ({unit})" if unit == "%" else stem)
                low, high = _ci_columns(diffs, stem, unit)
                value, ci_low, ci_high = row[col], row[low], row[high]
                rows.append(dict(claim=claim.id, scenario=scenario.name, policy=claim.policy,
                                 baseline=baseline, metric=claim.metric, value=value,
                                 ci_low=ci_low, ci_high=ci_high,
                                 pnl=row["mean P&L diff ($)"],
                                 pnl_low=row["P&L diff CI low ($)"],
                                 pnl_high=row["P&L diff CI high ($)"],
                                 sharpe_policy=summary.loc[claim.policy, "Sharpe (annualized)"],
                                 sharpe_baseline=summary.loc[baseline, "Sharpe (annualized)"],
                                 sharpe_diff=row["Sharpe diff"],
                                 sharpe_low=row["Sharpe diff CI low"],
                                 sharpe_high=row["Sharpe diff CI high"],
                                 verdict=verdict(ci_low, ci_high, claim.claimed)))
    table = pd.DataFrame(rows)
    order_of = {c.id: i for i, c in enumerate(experiment.claims)}
    table = table.sort_values(["claim"], key=lambda s: s.map(order_of), kind="stable")
    return ExperimentResult(experiment=experiment, table=table.reset_index(drop=True),
                            wall_seconds=time.perf_counter() - started)


def _ci_columns(diffs: pd.DataFrame, stem: str, unit: str) -> tuple[str, str]:
    suffix = f" ({unit})" if unit != "1" else ""
    low, high = f"{stem} CI low{suffix}", f"{stem} CI high{suffix}"
    missing = [c for c in (low, high) if c not in diffs.columns]
    if missing:
        raise KeyError(f"sim.compare differences lack {missing}")
    return low, high
