"""The notebook API: :func:`run` and :func:`compare` returning result objects.

::

    import sim

    r = sim.run("default", policy="alvh", paths=2_000, seed=7)
    r.summary()              # DataFrame: metric, unit, value
    r.paths()                # DataFrame: one row per path (sim.metrics.path_results)
    r.plot_pnl()             # matplotlib Figure (shows itself in Jupyter)
    r.plot_equity_fan()      # P&L percentiles over time (first paths re-simulated)

    c = sim.compare(["default", "whipsaw_range"], ["none", "static-vix", "alvh"], paths=2_000)
    c.summary()              # per scenario x regime group x policy
    c.differences()          # paired differences vs the baseline, bootstrap CIs
    c.plot_differences("default")
    c.report("report.html")  # the self-contained HTML report (docs/report.md)

Both are thin layers over the command line's machinery: :func:`run` is
``sim.runner.run`` (same seeding, shards and backends: the numbers equal
``alvh run``'s with the same arguments), :func:`compare` is
``sim.compare.compare``. The figures are those of the HTML report
(``sim.report_figures``); those over time and the sample paths re-simulate
the run's first paths and its best, median and worst paths, and check every
re-simulated path against the run's row bit for bit (``sim.report``).

Units: money in dollars per path, percentages in %, as in ``docs/metrics.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Comparison", "Run", "compare", "run"]

#: Paths re-simulated for the figures over time, unless a method is told otherwise.
DEFAULT_SAMPLE_PATHS = 1024


def _scenario(spec: Any):
    import scenarios
    from sim.config import Scenario

    return spec if isinstance(spec, Scenario) else scenarios.load(spec)


def _policy(spec: Any):
    from sim.compare import resolve_policy

    return resolve_policy(spec) if isinstance(spec, str | os.PathLike) else spec


def _figure(build, *args):
    """A ``sim.report`` figure builder's matplotlib ``Figure`` instead of its PNG bytes."""
    from sim import report_figures

    with report_figures.returning_figures():
        return build(*args)


def _check_label(which: str) -> None:
    from sim.report import SAMPLE_LABELS

    if which not in SAMPLE_LABELS:
        raise ValueError(f"which = {which!r}; allowed: {', '.join(SAMPLE_LABELS)}")


def _sample(report: Any, which: str) -> Any:
    """The report's ``best``, ``median`` or ``worst`` sample path (``which`` checked)."""
    return next(s for s in report.samples if s.label == which)


class _Figures:
    """Figure methods shared by :class:`Run` and :class:`Comparison` (on a ScenarioReport)."""

    def _scenario_report(self, scenario: str | None, sample_paths: int):  # pragma: no cover
        raise NotImplementedError

    def _columns(self, scenario: str | None) -> tuple[str, dict[str, dict[str, np.ndarray]]]:
        raise NotImplementedError  # pragma: no cover

    def plot_pnl(self, scenario: str | None = None):
        """Histogram of final P&L per path ($), one outline per policy, all paths.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from sim.report import pnl_distribution_png

        return _figure(pnl_distribution_png, *self._columns(scenario))

    def plot_drawdown(self, scenario: str | None = None):
        """Histogram of the max drawdown per path ($), one outline per policy, all paths."""
        from sim.report import drawdown_distribution_png

        return _figure(drawdown_distribution_png, *self._columns(scenario))

    def plot_equity_fan(self, scenario: str | None = None,
                        sample_paths: int = DEFAULT_SAMPLE_PATHS):
        """P&L percentiles (5/25/50/75/95, $) per tick over the first ``sample_paths`` paths."""
        from sim.report import equity_fan_png

        return _figure(equity_fan_png, self._scenario_report(scenario, sample_paths))

    def plot_hedges(self, scenario: str | None = None,
                    sample_paths: int = DEFAULT_SAMPLE_PATHS):
        """Mean cumulative hedge spend ($/path) and share of paths holding each layer (%)."""
        from sim.report import hedge_activity_png

        return _figure(hedge_activity_png, self._scenario_report(scenario, sample_paths))

    def plot_sample_path(self, which: str = "worst", scenario: str | None = None,
                         sample_paths: int = DEFAULT_SAMPLE_PATHS):
        """SPX with the condor strikes, VIX with the layers held, and P&L of one path.

        Parameters
        ----------
        which : str
            ``best``, ``median`` or ``worst`` by final P&L of the focus policy
            (the last policy that is not the baseline), among all paths.
        """
        from sim.report import sample_path_png

        _check_label(which)
        report = self._scenario_report(scenario, sample_paths)
        return _figure(sample_path_png, report, _sample(report, which))

    def narrative(self, which: str = "worst", scenario: str | None = None,
                  sample_paths: int = DEFAULT_SAMPLE_PATHS) -> list[str]:
        """The report's sentences about the focus policy on the best, median or worst path."""
        _check_label(which)
        return list(_sample(self._scenario_report(scenario, sample_paths), which).narrative)


class Run(_Figures):
    """Result of :func:`run`: one policy on one scenario.

    Attributes
    ----------
    result : sim.runner.RunResult
        Everything the runner returned (aggregates, layout, manifest, wall time).
    """

    def __init__(self, result: Any) -> None:
        self.result = result
        self._reports: dict[int, Any] = {}
        self._regimes: np.ndarray | None = None

    def __repr__(self) -> str:
        r = self.result
        return (f"<Run {r.scenario.name} / {r.policy.name}: {r.n_paths:,} paths, seed "
                f"{r.seed}, {r.wall_seconds:.1f} s>")

    def summary(self) -> pd.DataFrame:
        """The ``alvh run`` summary: columns ``metric``, ``unit``, ``value``, ``definition``."""
        return pd.DataFrame([{"metric": row.metric, "unit": row.unit, "value": row.value,
                              "definition": row.definition} for row in self.result.summary()])

    def paths(self) -> pd.DataFrame:
        """One row per path: ``path`` (index in the run) and ``sim.metrics.path_results``."""
        return pd.DataFrame(self.result.paths)

    def regimes(self) -> np.ndarray:
        """Dominant regime index of every path (``scenario.market.regimes.names`` order)."""
        if self._regimes is None:
            from sim.report import _regime_of_markets

            r = self.result
            self._regimes = _regime_of_markets(r.scenario, r.seed, r.layout)
        return self._regimes

    def by_regime(self) -> pd.DataFrame:
        """``alvh compare``'s statistics of this run, all paths and per dominant regime."""
        from sim.report import single_policy_summary

        return single_policy_summary(self.result.scenario, self.result.policy, self.paths(),
                                     self.regimes())

    def _columns(self, scenario: str | None) -> tuple[str, dict[str, dict[str, np.ndarray]]]:
        table = self.result.paths
        return self.result.scenario.name, {
            self.result.policy.name: {"pnl": table["pnl"], "max_drawdown": table["max_drawdown"]}}

    def _scenario_report(self, scenario: str | None, sample_paths: int):
        if sample_paths not in self._reports:
            from sim.report import FramePaths, build_scenario

            r = self.result
            frame = self.paths()
            self._reports[sample_paths] = build_scenario(
                r.scenario, [r.policy], r.seed, FramePaths({r.policy.name: frame}),
                self.regimes(), self.by_regime(), None, None, r.policy.name, sample_paths,
                r.layout.block_size)
        return self._reports[sample_paths]


class Comparison(_Figures):
    """Result of :func:`compare`: several policies on the same paths of each scenario.

    Attributes
    ----------
    result : sim.compare.CompareResult
    """

    def __init__(self, result: Any) -> None:
        self.result = result
        self._data: dict[int, Any] = {}

    def __repr__(self) -> str:
        r = self.result
        return (f"<Comparison {', '.join(s.name for s in r.scenarios)}: "
                f"{', '.join(r.policy_names)} vs {r.baseline}, {r.n_paths:,} paths, seed "
                f"{r.seed}>")

    def summary(self) -> pd.DataFrame:
        """Per scenario x regime group x policy: ``sim.compare`` statistics (units in names)."""
        return self.result.summary.copy()

    def differences(self) -> pd.DataFrame:
        """Paired differences against the baseline with 95% bootstrap CIs."""
        return self.result.differences.copy()

    def paths(self, scenario: str | None = None, policy: str | None = None) -> pd.DataFrame:
        """Per-path rows, with ``scenario`` and ``policy`` columns first (filters optional)."""
        frames = []
        for name, tables in self.result.paths.items():
            if scenario is not None and name != scenario:
                continue
            for pol, frame in tables.items():
                if policy is not None and pol != policy:
                    continue
                frames.append(frame.assign(scenario=name, policy=pol)[
                    ["scenario", "policy", *frame.columns]])
        if not frames:
            raise KeyError(f"no paths for scenario={scenario!r}, policy={policy!r}")
        return pd.concat(frames, ignore_index=True)

    def report(self, out: str | os.PathLike[str],
               sample_paths: int = DEFAULT_SAMPLE_PATHS) -> Path:
        """Write the HTML report (``docs/report.md``); return the HTML file's path."""
        from sim.report import write_report

        return write_report(self._report_data(sample_paths), out).html

    def plot_differences(self, scenario: str | None = None):
        """Mean P&L difference vs the baseline ($/path) with 95% CIs, per regime group."""
        from sim.report import differences_png

        name = self._scenario_name(scenario)
        diffs = self.result.differences
        return _figure(differences_png, name, diffs[diffs["scenario"] == name],
                       self.result.baseline)

    def _scenario_name(self, scenario: str | None) -> str:
        names = [s.name for s in self.result.scenarios]
        if scenario is None:
            return names[0]
        if scenario not in names:
            raise KeyError(f"scenario {scenario!r} is not one of {', '.join(names)}")
        return scenario

    def _columns(self, scenario: str | None) -> tuple[str, dict[str, dict[str, np.ndarray]]]:
        name = self._scenario_name(scenario)
        return name, {p: {"pnl": f["pnl"].to_numpy(), "max_drawdown": f["max_drawdown"].to_numpy()}
                      for p, f in self.result.paths[name].items()}

    def _report_data(self, sample_paths: int):
        if sample_paths not in self._data:
            from sim.report import build_from_compare

            self._data[sample_paths] = build_from_compare(self.result, sample_paths)
        return self._data[sample_paths]

    def _scenario_report(self, scenario: str | None, sample_paths: int):
        name = self._scenario_name(scenario)
        return next(r for r in self._report_data(sample_paths).scenarios if r.name == name)


def run(scenario: Any = "default", policy: Any = "none", paths: int | None = None,
        seed: int | None = None, **options: Any) -> Run:
    """Simulate one policy on a scenario; the numbers of ``alvh run`` with the same arguments.

    Parameters
    ----------
    scenario : str, path or Scenario
        A preset name, a TOML file, or a ``sim.config.Scenario``.
    policy : str, path or Policy
        A shipped policy name, a policy TOML file, or a ``sim.policy.Policy``.
    paths, seed : int, optional
        Defaults from the scenario's ``[simulation]`` table.
    **options
        Passed to ``sim.runner.run``: ``shard_size``, ``backend``, ``workers``,
        ``scheduler``, ``out``, ``resume``, ``progress``, ...

    Returns
    -------
    Run
    """
    from sim import runner

    options.setdefault("keep_paths", True)
    return Run(runner.run(_scenario(scenario), paths, seed, policy=_policy(policy), **options))


def compare(scenarios: Any = "default", policies: Sequence[Any] = ("none", "alvh"),
            paths: int | None = None, seed: int | None = None, baseline: str | None = None,
            **options: Any) -> Comparison:
    """Run policies on the same paths of each scenario; ``alvh compare``'s numbers.

    Parameters
    ----------
    scenarios : str, path, Scenario, or a sequence of them
    policies : sequence of str, path or Policy
        The first is the baseline unless ``baseline`` names another.
    paths, seed : int, optional
    baseline : str, optional
    **options
        Passed to ``sim.compare.compare``: ``shard_size``, ``bootstrap``,
        ``backend``, ``workers``, ``scheduler``.

    Returns
    -------
    Comparison
    """
    from sim.compare import compare as compare_policies

    if isinstance(scenarios, str | os.PathLike) or not isinstance(scenarios, Sequence):
        scenarios = [scenarios]
    return Comparison(compare_policies(list(scenarios), [_policy(p) for p in policies],
                                       paths, seed, baseline=baseline, **options))
