"""Compare hedge policies on the same simulated paths (common random numbers).

:func:`compare` runs every policy on every scenario. Within a scenario, each
shard of paths is generated once (blocks, seeds and shards exactly as
``sim.runner.run``: ``sim.shards``) and every policy's agents trade that same
:class:`~sim.market.paths.MarketPaths`, so differences between policies come
from the policies, not from the paths, and a policy's per-path numbers equal
those of ``sim.runner.run`` with that policy. Shards run on any backend of
``sim.backends`` with the same results. Each policy's per-path table records
a 64-bit fingerprint of every path's market (spot, variance, regime); before
any statistic is computed, the fingerprints of all policies must be equal,
else a :class:`RuntimeError` is raised. Only per-path tables are kept across
shards, never a past shard's market.

Statistics (:data:`SUMMARY_COLUMNS`), per scenario, regime group and policy,
over the ``n`` paths of the group:

- *regime group*: ``all`` paths, and each regime by the paths whose
  **dominant regime** it is: the regime that governed most of the path's
  daily steps (the regime at ticks ``0 .. n_days - 1``; ties go to the lower
  regime index). Empty groups are left out.
- *mean, median, stdev P&L* ($): of the final P&L ``pnl`` (stdev with
  ``ddof = 1``).
- *margin return*: per path ``x = (pnl - carry) / peak_margin``, the trading
  P&L (interest on cash taken out, as it is the risk-free part) as a return
  on the largest margin the path held, over the horizon
  ``H = n_days / TICKS_PER_YEAR`` years; ``x = 0`` on paths that never held
  margin.
- *Sharpe (annualized)*: ``mean(x) / std(x, ddof=1) * sqrt(1 / H)``, the
  horizon ratio scaled to a year as if horizons were independent; NaN with
  fewer than two paths or when ``std(x)`` is zero (to ``1e-12`` relative).
- *Sortino (annualized)*: ``mean(x) / sqrt(mean(min(x, 0)^2)) * sqrt(1 / H)``,
  the downside deviation taken about a target of 0 over all ``n`` paths;
  NaN when no path has ``x < 0``.
- *CVaR 95% / 99%* ($): ``sim.metrics.cvar``, the mean P&L of the worst
  ``ceil(5% n)`` / ``ceil(1% n)`` paths (at least one), negative for a loss.
- *median / 95th pct max drawdown* ($): of the per-path ``max_drawdown``.
- *win rate* (%): share of paths with ``pnl > 0``.
- *mean premium collected* and *mean hedge spend* ($ per path), and *hedge
  spend* (% of premium): ``100 * sum(hedge_spend) / sum(premium_collected)``,
  NaN when no premium was collected.
- *layer <name> active* (%): share of paths with at least one opening of
  that hedge layer (column ``layer_<name>_opens``); NaN for a policy that
  has no such layer.

Missing per-path columns (a policy without a hedge agent has no
``hedge_spend``) count as 0.

Paired differences vs the baseline policy (:data:`DIFFERENCE_COLUMNS`), per
scenario, regime group and other policy, on the same ``n`` paths:

- *mean P&L diff* ($): ``mean(pnl_policy - pnl_baseline)``;
- *Sharpe diff*: ``Sharpe_policy - Sharpe_baseline``;
- *Sharpe rel. diff* (%): ``100 * (Sharpe_policy - Sharpe_baseline) /
  |Sharpe_baseline|``, NaN where the baseline Sharpe is 0 or undefined.

Each comes with a 95% **percentile bootstrap** confidence interval: draw
``B`` (default 2000) resamples of ``n`` path indices with replacement; a
resample takes the *same* paths for the policy and the baseline (pairs are
kept, which is what common random numbers buy); the statistic is recomputed
on each resample, and the interval is the 2.5th and 97.5th percentiles of the
``B`` values (numpy's linear interpolation), taken over the resamples where
the statistic is defined (NaN if none is, or if the full-sample value is
NaN). *P&L diff > 0* is the share of resamples whose mean P&L difference is
above zero. The resamples come from a ``numpy.random.Generator`` seeded with
``SeedSequence([seed, 0xB007, crc32(scenario + regime group)])``: the same
run seed gives the same intervals, and within a cell every policy is
compared on the same resamples. Resampling is vectorized in chunks of at
most :data:`BOOTSTRAP_CHUNK_ELEMENTS` path draws, so memory stays bounded
for any ``n``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import textwrap
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from sim import CallableModule
from sim.backends import Backend
from sim.config import Scenario
from sim.engine import AgentFactory
from sim.market.calendar import TICKS_PER_YEAR
from sim.metrics import cvar
from sim.runner import RunError, open_backend
from sim.shards import (
    FINGERPRINT_COLUMN,
    PATH_COLUMN,
    REGIME_COLUMN,
    ShardLayout,
    check_common_paths,
    dominant_regime,
    make_tasks,
    market_fingerprints,
    run_shard,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Confidence level of the bootstrap intervals.
CONFIDENCE_LEVEL = 0.95
#: Path draws held in memory at once by the bootstrap (per resampled array).
BOOTSTRAP_CHUNK_ELEMENTS = 1 << 21
#: Tag that separates the bootstrap's random stream from the paths' streams.
BOOTSTRAP_STREAM_TAG = 0xB007
#: Label of the regime group that holds every path.
ALL_REGIMES = "all"
#: Re-exported from ``sim.shards``, where shards compute them.
__all__ = ["FINGERPRINT_COLUMN", "PATH_COLUMN", "REGIME_COLUMN", "CompareError",
           "CompareResult", "check_common_paths", "compare", "dominant_regime",
           "market_fingerprints", "paired_difference", "paired_differences",
           "policy_statistics", "run_policies", "sharpe_ratio", "sortino_ratio"]

#: (column, unit) of the summary table after ``scenario, regime, policy``;
#: one ``layer <name> active (%)`` column per layer name follows.
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("paths", "paths"),
    ("mean P&L ($)", "$"),
    ("median P&L ($)", "$"),
    ("stdev P&L ($)", "$"),
    ("Sharpe (annualized)", "ratio"),
    ("Sortino (annualized)", "ratio"),
    ("CVaR 95% ($)", "$"),
    ("CVaR 99% ($)", "$"),
    ("median max drawdown ($)", "$"),
    ("max drawdown 95th pct ($)", "$"),
    ("win rate (%)", "%"),
    ("mean premium collected ($)", "$"),
    ("mean hedge spend ($)", "$"),
    ("hedge spend (% of premium)", "%"),
)
#: (column, unit) of the differences table after ``scenario, regime, policy, baseline``.
DIFFERENCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("paths", "paths"),
    ("mean P&L diff ($)", "$"),
    ("P&L diff CI low ($)", "$"),
    ("P&L diff CI high ($)", "$"),
    ("P&L diff > 0 (% of resamples)", "%"),
    ("Sharpe diff", "ratio"),
    ("Sharpe diff CI low", "ratio"),
    ("Sharpe diff CI high", "ratio"),
    ("Sharpe rel. diff (%)", "%"),
    ("Sharpe rel. diff CI low (%)", "%"),
    ("Sharpe rel. diff CI high (%)", "%"),
)
#: Summary rows shown for each single-regime group by :meth:`CompareResult.to_text`.
_REGIME_TEXT_ROWS = ("paths", "mean P&L ($)", "median P&L ($)", "CVaR 95% ($)",
                     "Sharpe (annualized)", "Sortino (annualized)", "win rate (%)",
                     "hedge spend (% of premium)")


class Policy(Protocol):
    """What :func:`compare` needs of a policy (``sim.policy.load_policy`` returns one)."""

    name: str
    description: str
    layer_names: tuple[str, ...]

    def agent_factories(self) -> tuple[AgentFactory, ...]:
        """Factories ``Context -> Agent`` of the policy's agents, in acting order."""
        ...


class CompareError(ValueError):
    """Bad input to a comparison (unknown baseline, duplicate names, bad sizes)."""


def resolve_policy(name: str) -> Policy:
    """The policy of a name or policy file, from ``sim.policy.load_policy``.

    Parameters
    ----------
    name : str
        Shipped policy name (``none``, ``active``, ``static-vix``, ``alvh``,
        ``alvh-credit-first``) or a policy file.

    Returns
    -------
    Policy

    Raises
    ------
    scenarios.ScenarioError
        On an unknown name or an invalid file (from ``load_policy``).
    CompareError
        If the policy registry is not available.
    """
    try:
        from sim.policy import load_policy
    except ImportError as exc:
        raise CompareError(f"policy {name!r}: the policy registry (sim.policy.load_policy) "
                           f"is not available: {exc}") from exc
    return load_policy(name)


# ------------------------------------------------------------- statistics
def margin_returns(pnl: np.ndarray, carry: np.ndarray, peak_margin: np.ndarray) -> np.ndarray:
    """Trading return on peak margin per path: ``(pnl - carry) / peak_margin``, 0 without margin.

    Parameters
    ----------
    pnl, carry, peak_margin : ndarray, shape (n_paths,)
        Final P&L, interest earned on cash and largest margin held, in $.

    Returns
    -------
    ndarray, shape (n_paths,)
        Return over the run's horizon (decimal, not annualized).
    """
    pnl = np.asarray(pnl, dtype=np.float64)
    carry = np.asarray(carry, dtype=np.float64)
    margin = np.asarray(peak_margin, dtype=np.float64)
    held = margin > 0.0
    out = np.zeros(np.broadcast(pnl, carry, margin).shape)
    np.divide(pnl - carry, margin, out=out, where=held)
    return out


def sharpe_ratio(x: np.ndarray, horizon_years: float) -> float:
    """Annualized Sharpe ratio ``mean(x) / std(x, ddof=1) * sqrt(1 / horizon_years)``.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Returns over the horizon (decimal), one per path.
    horizon_years : float
        Horizon of one return, years.

    Returns
    -------
    float
        NaN with fewer than two values or a zero standard deviation.
    """
    return float(_sharpe_rows(np.asarray(x, dtype=np.float64)[None, :], horizon_years)[0])


def sortino_ratio(x: np.ndarray, horizon_years: float) -> float:
    """Annualized Sortino ratio ``mean(x) / sqrt(mean(min(x, 0)^2)) * sqrt(1 / horizon_years)``.

    Parameters
    ----------
    x : ndarray, shape (n,)
        Returns over the horizon (decimal), one per path.
    horizon_years : float
        Horizon of one return, years.

    Returns
    -------
    float
        NaN when no value is negative (no downside) or ``x`` is empty.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return float("nan")
    downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
    if downside == 0.0:
        return float("nan")
    return float(x.mean() / downside * math.sqrt(1.0 / horizon_years))


def _sharpe_rows(rows: np.ndarray, horizon_years: float) -> np.ndarray:
    """Annualized Sharpe ratio of each row of ``rows`` (NaN where undefined)."""
    n = rows.shape[1]
    if n < 2:
        return np.full(rows.shape[0], np.nan)
    mean = rows.mean(axis=1)
    sd = rows.std(axis=1, ddof=1)
    # A constant sample leaves a rounding-level sd, not a real one.
    defined = sd > 1e-12 * np.abs(mean)
    out = np.full(rows.shape[0], np.nan)
    np.divide(mean, sd, out=out, where=defined)
    return out * math.sqrt(1.0 / horizon_years)


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    """A per-path column as float64, zeros when the table lacks it."""
    if name in table:
        return table[name].to_numpy(dtype=np.float64)
    return np.zeros(len(table))


def policy_statistics(table: pd.DataFrame, horizon_years: float,
                      layer_names: Sequence[str] = (),
                      all_layers: Sequence[str] = ()) -> dict[str, float]:
    """Summary statistics of one policy's paths (the module docstring defines them).

    Parameters
    ----------
    table : DataFrame
        Per-path table (``pnl``, ``carry``, ``peak_margin``, ``max_drawdown``;
        optional ``premium_collected``, ``hedge_spend``, ``layer_<name>_opens``).
    horizon_years : float
        Horizon of the run, years.
    layer_names : sequence of str
        The policy's hedge layers.
    all_layers : sequence of str
        Layers to report (a layer the policy lacks gets NaN).

    Returns
    -------
    dict
        Column of :data:`SUMMARY_COLUMNS` (and ``layer <name> active (%)``) -> value.
    """
    n = len(table)
    nan = float("nan")
    pnl = _column(table, "pnl")
    x = margin_returns(pnl, _column(table, "carry"), _column(table, "peak_margin"))
    drawdown = _column(table, "max_drawdown")
    premium = _column(table, "premium_collected")
    spend = _column(table, "hedge_spend")
    premium_total = float(premium.sum())
    stats = {
        "paths": float(n),
        "mean P&L ($)": float(pnl.mean()) if n else nan,
        "median P&L ($)": float(np.median(pnl)) if n else nan,
        "stdev P&L ($)": float(pnl.std(ddof=1)) if n > 1 else nan,
        "Sharpe (annualized)": sharpe_ratio(x, horizon_years),
        "Sortino (annualized)": sortino_ratio(x, horizon_years),
        "CVaR 95% ($)": cvar(pnl, 0.95) if n else nan,
        "CVaR 99% ($)": cvar(pnl, 0.99) if n else nan,
        "median max drawdown ($)": float(np.median(drawdown)) if n else nan,
        "max drawdown 95th pct ($)": float(np.percentile(drawdown, 95)) if n else nan,
        "win rate (%)": float((pnl > 0).mean() * 100.0) if n else nan,
        "mean premium collected ($)": premium_total / n if n else nan,
        "mean hedge spend ($)": float(spend.mean()) if n else nan,
        "hedge spend (% of premium)": (100.0 * float(spend.sum()) / premium_total
                                       if premium_total != 0.0 else nan),
    }
    for layer in all_layers:
        key = layer_active_column(layer)
        if layer not in layer_names or n == 0:
            stats[key] = nan
        else:
            stats[key] = float((_column(table, f"layer_{layer}_opens") > 0).mean() * 100.0)
    return stats


def layer_active_column(layer: str) -> str:
    """Summary column of a layer's activation rate."""
    return f"layer {layer} active (%)"


# --------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class PairedDifference:
    """A policy minus the baseline on the same paths, with percentile bootstrap CIs.

    Attributes
    ----------
    mean_pnl : float
        Mean per-path P&L difference, $.
    mean_pnl_ci : tuple of float
        Its confidence interval, $.
    share_above_zero : float
        Share of resamples with a positive mean P&L difference, decimal.
    sharpe : float
        Difference of annualized Sharpe ratios.
    sharpe_ci : tuple of float
    relative_sharpe : float
        ``(Sharpe_policy - Sharpe_baseline) / |Sharpe_baseline|``, decimal.
    relative_sharpe_ci : tuple of float
    """

    mean_pnl: float
    mean_pnl_ci: tuple[float, float]
    share_above_zero: float
    sharpe: float
    sharpe_ci: tuple[float, float]
    relative_sharpe: float
    relative_sharpe_ci: tuple[float, float]


def _resample_chunks(n: int, n_resamples: int, rng: np.random.Generator
                     ) -> Iterator[np.ndarray]:
    """Index arrays of shape (chunk, n): ``n_resamples`` draws of n paths with replacement."""
    chunk = max(1, min(n_resamples, BOOTSTRAP_CHUNK_ELEMENTS // max(n, 1)))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def _relative(diff: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``diff / |base|``, NaN where ``base`` is 0 or NaN."""
    out = np.full(np.shape(diff), np.nan)
    np.divide(diff, np.abs(base), out=out, where=np.isfinite(base) & (base != 0.0))
    return out


def _interval(values: np.ndarray, point: float, level: float) -> tuple[float, float]:
    """Percentile interval of the finite ``values`` (NaN if none or ``point`` is NaN)."""
    finite = values[np.isfinite(values)]
    if not np.isfinite(point) or finite.size == 0:
        return (float("nan"), float("nan"))
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return (float(low), float(high))


def paired_differences(pnl_base: np.ndarray, x_base: np.ndarray,
                       others: Sequence[tuple[np.ndarray, np.ndarray]],
                       horizon_years: float, n_resamples: int,
                       rng: np.random.Generator,
                       level: float = CONFIDENCE_LEVEL) -> list[PairedDifference]:
    """Paired differences of several policies against one baseline, on shared resamples.

    Parameters
    ----------
    pnl_base, x_base : ndarray, shape (n,)
        The baseline's per-path P&L ($) and margin return (decimal,
        :func:`margin_returns`).
    others : sequence of (pnl, x) pairs of ndarray, shape (n,)
        The same for each policy, on the same paths in the same order.
    horizon_years : float
        Horizon of the returns, years (annualizes the Sharpe ratios).
    n_resamples : int
        Bootstrap resamples ``B`` (>= 1).
    rng : numpy.random.Generator
        Source of the resampled path indices.
    level : float
        Confidence level of the percentile intervals.

    Returns
    -------
    list of PairedDifference
        One per entry of ``others``.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    pnl_base = np.asarray(pnl_base, dtype=np.float64)
    x_base = np.asarray(x_base, dtype=np.float64)
    n = pnl_base.size
    pairs = [(np.asarray(p, dtype=np.float64), np.asarray(x, dtype=np.float64))
             for p, x in others]
    for pnl, x in pairs:
        if pnl.shape != (n,) or x.shape != (n,):
            raise ValueError(f"every policy needs {n} paths like the baseline, got "
                             f"{pnl.shape} and {x.shape}")
    if n == 0:
        nan2 = (float("nan"), float("nan"))
        return [PairedDifference(float("nan"), nan2, float("nan"), float("nan"), nan2,
                                 float("nan"), nan2) for _ in pairs]
    deltas = [pnl - pnl_base for pnl, _ in pairs]
    base_sharpe = sharpe_ratio(x_base, horizon_years)
    sharpes = [sharpe_ratio(x, horizon_years) for _, x in pairs]
    boot_mean = [np.empty(n_resamples) for _ in pairs]
    boot_sharpe = [np.empty(n_resamples) for _ in pairs]
    boot_base = np.empty(n_resamples)
    start = 0
    for index in _resample_chunks(n, n_resamples, rng):
        stop = start + index.shape[0]
        boot_base[start:stop] = _sharpe_rows(x_base[index], horizon_years)
        for k, ((_, x), delta) in enumerate(zip(pairs, deltas, strict=True)):
            boot_mean[k][start:stop] = delta[index].mean(axis=1)
            boot_sharpe[k][start:stop] = _sharpe_rows(x[index], horizon_years)
        start = stop
    results = []
    for k, delta in enumerate(deltas):
        mean_diff = float(delta.mean())
        sharpe_diff = sharpes[k] - base_sharpe
        boot_diff = boot_sharpe[k] - boot_base
        relative = float(_relative(np.asarray(sharpe_diff), np.asarray(base_sharpe)))
        results.append(PairedDifference(
            mean_pnl=mean_diff,
            mean_pnl_ci=_interval(boot_mean[k], mean_diff, level),
            share_above_zero=float(np.mean(boot_mean[k] > 0.0)),
            sharpe=float(sharpe_diff),
            sharpe_ci=_interval(boot_diff, sharpe_diff, level),
            relative_sharpe=relative,
            relative_sharpe_ci=_interval(_relative(boot_diff, boot_base), relative, level),
        ))
    return results


def paired_difference(pnl_policy: np.ndarray, pnl_base: np.ndarray, x_policy: np.ndarray,
                      x_base: np.ndarray, horizon_years: float, n_resamples: int = 2000,
                      rng: np.random.Generator | None = None,
                      level: float = CONFIDENCE_LEVEL) -> PairedDifference:
    """One policy minus the baseline with bootstrap CIs (see :func:`paired_differences`).

    Parameters
    ----------
    pnl_policy, pnl_base : ndarray, shape (n,)
        Per-path P&L, $, on the same paths.
    x_policy, x_base : ndarray, shape (n,)
        Per-path margin returns (decimal).
    horizon_years : float
        Horizon of the returns, years.
    n_resamples : int
        Bootstrap resamples.
    rng : numpy.random.Generator, optional
        Default: ``numpy.random.default_rng(0)``.
    level : float
        Confidence level.

    Returns
    -------
    PairedDifference
    """
    rng = np.random.default_rng(0) if rng is None else rng
    return paired_differences(pnl_base, x_base, [(pnl_policy, x_policy)], horizon_years,
                              n_resamples, rng, level)[0]


def bootstrap_rng(seed: int, scenario: str, group: str) -> np.random.Generator:
    """The bootstrap's generator for one (scenario, regime group) cell of a run."""
    cell = zlib.crc32(f"{scenario}\x00{group}".encode())
    return np.random.default_rng(np.random.SeedSequence([seed, BOOTSTRAP_STREAM_TAG, cell]))


# ------------------------------------------------------------------ running
@dataclass
class ScenarioPaths:
    """Per-path tables of every policy on one scenario (same paths, same order)."""

    scenario: Scenario
    regime_names: tuple[str, ...]
    tables: dict[str, pd.DataFrame]


def run_policies(scenario: Scenario, policies: Sequence[Policy], n_paths: int, seed: int,
                 shard_size: int, check_identity: bool = True, *,
                 backend: str | Backend = "serial", workers: int | None = None,
                 scheduler: str | None = None,
                 shard_hook: Callable[[int], None] | None = None) -> ScenarioPaths:
    """Run every policy on the same paths of one scenario (common random numbers).

    The paths are those of ``sim.runner.run`` with the same ``n_paths`` and
    ``seed``: blocks of ``sim.shards.PATHS_PER_BLOCK`` paths, block ``k``
    drawn from ``SeedSequence(seed).spawn(n_blocks)[k]``, grouped into
    shards of ``shard_size`` paths (rounded up to whole blocks). Each shard's
    market is generated once, in its worker, and every policy's agents
    trade it; so a policy's per-path numbers here equal those of
    ``sim.runner.run`` with that policy, path for path, whatever the shard
    size or backend. Only the per-path tables are kept.

    Parameters
    ----------
    scenario : Scenario
    policies : sequence of Policy
        Distinct names; picklable for a backend other than ``serial``.
    n_paths, seed, shard_size : int
        Paths, root seed and paths per shard (one SimPy environment).
    check_identity : bool
        Check the book's accounting identity at every tick.
    backend : str or Backend
        ``serial``, ``processes``, ``dask`` or ``auto`` (``sim.runner.run``),
        or an open backend (``sim.backends.make_backend``) to reuse.
    workers : int, optional
        Worker processes of a new backend.
    scheduler : str, optional
        Address of an existing Dask scheduler.
    shard_hook : callable, optional
        ``hook(shard_index)`` run in the worker before each shard attempt.

    Returns
    -------
    ScenarioPaths
        Per policy, the table of ``sim.metrics.path_results`` plus ``path``
        (index in the run), ``regime`` (dominant regime index) and
        ``market_fingerprint`` (uint64).

    Raises
    ------
    RuntimeError
        If two policies saw different market paths (an agent wrote to the
        market), checked shard by shard.
    CompareError
        If the policies cannot be pickled for the backend.
    """
    layout = ShardLayout.plan(n_paths, shard_size)
    tasks = make_tasks(scenario, policies, seed, layout, range(layout.n_shards),
                       check_identity=check_identity, common_paths=True, hook=shard_hook)
    outputs: list = [None] * layout.n_shards
    with contextlib.ExitStack() as stack:
        if not isinstance(backend, Backend):
            try:
                backend = stack.enter_context(open_backend(
                    backend, layout.n_shards, workers, scheduler, (tuple(policies), shard_hook)))
            except RunError as exc:
                raise CompareError(str(exc)) from exc
        for output in backend.map_unordered(run_shard, tasks):
            outputs[output.index] = output.tables
    tables = {p.name: _concat([shard[p.name] for shard in outputs]) for p in policies}
    check_common_paths({name: t[FINGERPRINT_COLUMN].to_numpy() for name, t in tables.items()},
                       scenario.name)
    return ScenarioPaths(scenario=scenario, regime_names=tuple(scenario.market.regimes.names),
                         tables=tables)


def _concat(chunks: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """One table from shard tables; a column missing from a shard is zeros there."""
    names: list[str] = []
    for chunk in chunks:
        names += [name for name in chunk if name not in names]
    columns = {}
    for name in names:
        arrays = [chunk.get(name) for chunk in chunks]
        dtype = next(a for a in arrays if a is not None).dtype
        columns[name] = np.concatenate([
            np.asarray(a) if a is not None
            else np.zeros(len(next(iter(chunk.values()))), dtype=dtype)
            for a, chunk in zip(arrays, chunks, strict=True)])
    return pd.DataFrame(columns)


# --------------------------------------------------------------- comparing
@dataclass
class CompareResult:
    """Outcome of :func:`compare`.

    Attributes
    ----------
    summary : DataFrame
        One row per (scenario, regime group, policy): columns ``scenario``,
        ``regime``, ``policy``, then :data:`SUMMARY_COLUMNS` and one
        ``layer <name> active (%)`` per layer of any policy.
    differences : DataFrame
        One row per (scenario, regime group, policy other than the
        baseline): ``scenario``, ``regime``, ``policy``, ``baseline``, then
        :data:`DIFFERENCE_COLUMNS`.
    paths : dict
        Scenario name -> policy name -> per-path DataFrame.
    scenarios : tuple of Scenario
    policies : tuple of Policy
    baseline : str
    n_paths, seed, shard_size, bootstrap : int
        Paths per scenario, root seed, requested paths per shard (rounded up
        to whole blocks when run), bootstrap resamples.
    wall_seconds : float
        Wall time of the simulation and the statistics, s.
    regime_names : dict
        Scenario name -> regime names, in index order.
    """

    summary: pd.DataFrame
    differences: pd.DataFrame
    paths: dict[str, dict[str, pd.DataFrame]]
    scenarios: tuple[Scenario, ...]
    policies: tuple[Policy, ...]
    baseline: str
    n_paths: int
    seed: int
    shard_size: int
    bootstrap: int
    wall_seconds: float
    regime_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        """Deprecated name of :attr:`shard_size`."""
        return self.shard_size

    @property
    def policy_names(self) -> tuple[str, ...]:
        """Names of the compared policies, in order."""
        return tuple(p.name for p in self.policies)

    def to_text(self, width: int = 100) -> str:
        """Both tables as text, one section per scenario, at most ``width`` columns wide.

        Each regime group is a block with one row per statistic (unit in its
        label) and one column per policy; blocks wider than ``width`` are
        split into several. Single-regime groups show the key statistics
        only (the DataFrames hold them all).
        """
        names = self.policy_names
        others = [n for n in names if n != self.baseline]
        tail = round(100.0 * (1.0 - CONFIDENCE_LEVEL) / 2.0, 1)
        sections = []
        for scenario in self.scenarios:
            lines = [f"== scenario: {scenario.name} ==", ""]
            summary = self.summary[self.summary["scenario"] == scenario.name]
            metrics = [c for c in summary.columns if c not in ("scenario", "regime", "policy")]
            diffs = self.differences[self.differences["scenario"] == scenario.name]
            if len(self.regime_names.get(scenario.name, ())) == 1:
                # One regime: its group is the same paths as "all".
                summary = summary[summary["regime"] == ALL_REGIMES]
                diffs = diffs[diffs["regime"] == ALL_REGIMES]
            for group in summary["regime"].unique():
                rows = summary[summary["regime"] == group].set_index("policy")
                shown = metrics if group == ALL_REGIMES else [
                    m for m in metrics if m in _REGIME_TEXT_ROWS]
                title = _group_title("summary", group)
                cells = {p: [format_statistic(rows.at[p, m], m) for m in shown] for p in names}
                lines += [*_render_block(title, shown, cells, width), ""]
            for group in diffs["regime"].unique():
                rows = diffs[diffs["regime"] == group].set_index("policy")
                title = _group_title(f"paired difference vs {self.baseline!r}", group)
                labels = ["paths", "mean P&L diff ($)", "  95% CI ($)",
                          "P&L diff > 0 (% of resamples)", "Sharpe diff", "  95% CI",
                          "Sharpe rel. diff (%)", "  95% CI (%)"]
                cells = {p: _difference_cells(rows.loc[p]) for p in others}
                lines += [*_render_block(title, labels, cells, width), ""]
            sections.append("\n".join(lines).rstrip())
        notes = (f"{self.n_paths:,} paths per scenario, seed {self.seed}, the same paths for "
                 f"every policy. Sharpe/Sortino: annualized, on (P&L - carry) / peak margin. "
                 f"CIs: percentile bootstrap over paths ({tail}th-{100 - tail}th pct of "
                 f"{self.bootstrap:,} paired resamples).")
        return "\n\n".join(sections) + "\n\n" + textwrap.fill(notes, width)


def _group_title(what: str, group: str) -> str:
    if group == ALL_REGIMES:
        return f"{what}, all paths"
    return f"{what}, paths mostly in regime {group!r}"


def format_statistic(value: float, column: str) -> str:
    """A statistic as text, by the unit in its column name.

    ``($)`` and ``paths`` whole, ``%`` one decimal, anything else two; NaN
    and None as ``-``; a value that rounds to zero without a sign.
    """
    if value is None or not np.isfinite(value):
        return "-"
    if column == "paths":
        return f"{value:,.0f}"
    if "($)" in column:
        text = f"{value:,.0f}"
    elif "%" in column:
        text = f"{value:,.1f}"
    else:
        text = f"{value:,.2f}"
    # A value that rounds to zero prints without a sign.
    return text.lstrip("-") if not text.strip("-0.,") else text


def _difference_cells(row: pd.Series) -> list[str]:
    def ci(low: str, high: str, column: str) -> str:
        a, b = format_statistic(row[low], column), format_statistic(row[high], column)
        return "-" if a == "-" else f"[{a}, {b}]"

    return [
        format_statistic(row["paths"], "paths"),
        format_statistic(row["mean P&L diff ($)"], "($)"),
        ci("P&L diff CI low ($)", "P&L diff CI high ($)", "($)"),
        format_statistic(row["P&L diff > 0 (% of resamples)"], "%"),
        format_statistic(row["Sharpe diff"], "ratio"),
        ci("Sharpe diff CI low", "Sharpe diff CI high", "ratio"),
        format_statistic(row["Sharpe rel. diff (%)"], "%"),
        ci("Sharpe rel. diff CI low (%)", "Sharpe rel. diff CI high (%)", "%"),
    ]


def _render_block(title: str, labels: Sequence[str], cells: dict[str, list[str]],
                  width: int) -> list[str]:
    """Rows = labels, columns = ``cells`` keys; split into blocks at most ``width`` wide."""
    label_width = max(len(label) for label in labels)
    columns = list(cells)
    if not columns:
        return [title, "(no other policy)"]
    col_width = {c: max(len(c), *(len(v) for v in cells[c])) for c in columns}
    groups: list[list[str]] = [[]]
    used = label_width
    for c in columns:
        if groups[-1] and used + 2 + col_width[c] > width:
            groups.append([])
            used = label_width
        groups[-1].append(c)
        used += 2 + col_width[c]
    lines = [title]
    for part in groups:
        header = f"{'':<{label_width}}" + "".join(f"  {c:>{col_width[c]}}" for c in part)
        rule = "-" * label_width + "".join("  " + "-" * col_width[c] for c in part)
        lines += [header, rule]
        for i, label in enumerate(labels):
            lines.append(f"{label:<{label_width}}"
                         + "".join(f"  {cells[c][i]:>{col_width[c]}}" for c in part))
    return lines


def _load_scenario(spec: Scenario | str | os.PathLike[str]) -> Scenario:
    if isinstance(spec, Scenario):
        return spec
    import scenarios

    return scenarios.load(spec)


def _load_policy(spec: Policy | str) -> Policy:
    if isinstance(spec, str):
        return resolve_policy(spec)
    return spec


def compare(scenarios: Sequence[Scenario | str | os.PathLike[str]] | Scenario | str,
            policies: Sequence[Policy | str],
            n_paths: int | None = None, seed: int | None = None,
            shard_size: int | None = None, baseline: str | None = None,
            bootstrap: int = 2000, check_identity: bool = True, *,
            backend: str = "serial", workers: int | None = None,
            scheduler: str | None = None, batch_size: int | None = None) -> CompareResult:
    """Run policies on the same paths of each scenario and compare them.

    Parameters
    ----------
    scenarios : Scenario, str, or a sequence of them
        Scenario objects, preset names or TOML files (``scenarios.load``).
    policies : sequence of Policy or str
        Policy objects, or names/files resolved by :func:`resolve_policy`.
    n_paths, seed, shard_size : int, optional
        Defaults from the first scenario's ``simulation`` table (the shard
        size from its ``batch_size``); the same values serve every scenario.
        The shard size is rounded up to whole blocks and changes no result.
    baseline : str, optional
        Name of the policy the others are compared with (default: the first).
    bootstrap : int
        Bootstrap resamples ``B`` per confidence interval (>= 1).
    check_identity : bool
        Check the book's accounting identity at every tick.
    backend : str
        ``serial``, ``processes``, ``dask`` or ``auto`` (see ``sim.runner.run``).
    workers : int, optional
        Worker processes (default: the CPUs available).
    scheduler : str, optional
        Address of an existing Dask scheduler (backend ``dask``).
    batch_size : int, optional
        Deprecated name of ``shard_size``.

    Returns
    -------
    CompareResult

    Raises
    ------
    CompareError
        (a ValueError) for no policy or scenario, duplicate policy or
        scenario names, an unknown baseline, or sizes below 1.
    scenarios.ScenarioError
        For an unknown or invalid scenario or policy.
    RuntimeError
        If the policies did not see the same market paths.
    """
    started = time.perf_counter()
    if isinstance(scenarios, Scenario | str | os.PathLike):
        scenarios = [scenarios]
    if isinstance(policies, str):
        policies = [policies]
    if not scenarios:
        raise CompareError("compare needs at least one scenario")
    if not policies:
        raise CompareError("compare needs at least one policy")
    _check_unique([p for p in policies if isinstance(p, str)], "policy")
    loaded = tuple(_load_scenario(s) for s in scenarios)
    resolved = tuple(_load_policy(p) for p in policies)
    policy_names = [p.name for p in resolved]
    _check_unique(policy_names, "policy")
    _check_unique([s.name for s in loaded], "scenario")
    baseline = policy_names[0] if baseline is None else baseline
    if baseline not in policy_names:
        raise CompareError(f"baseline {baseline!r} is not one of the compared policies "
                           f"({', '.join(policy_names)})")
    first = loaded[0].simulation
    n_paths = first.n_paths if n_paths is None else int(n_paths)
    seed = first.seed if seed is None else int(seed)
    if shard_size is None:
        shard_size = batch_size
    shard_size = first.batch_size if shard_size is None else int(shard_size)
    for what, value in (("n_paths", n_paths), ("shard_size", shard_size),
                        ("bootstrap", bootstrap)):
        if value < 1:
            raise CompareError(f"{what} must be >= 1, got {value}")
    if seed < 0:
        raise CompareError(f"seed must be >= 0, got {seed}")

    all_layers: list[str] = []
    for policy in resolved:
        all_layers += [layer for layer in policy.layer_names if layer not in all_layers]
    summary_rows: list[dict] = []
    difference_rows: list[dict] = []
    paths: dict[str, dict[str, pd.DataFrame]] = {}
    regime_names: dict[str, tuple[str, ...]] = {}
    try:
        executor = open_backend(backend, ShardLayout.plan(n_paths, shard_size).n_shards,
                                workers, scheduler, (resolved,))
    except RunError as exc:
        raise CompareError(str(exc)) from exc
    with executor:
        runs = [run_policies(scenario, resolved, n_paths, seed, shard_size, check_identity,
                             backend=executor) for scenario in loaded]
    for scenario, run in zip(loaded, runs, strict=True):
        paths[scenario.name] = run.tables
        regime_names[scenario.name] = run.regime_names
        horizon = scenario.simulation.n_days / TICKS_PER_YEAR
        regimes = run.tables[baseline][REGIME_COLUMN].to_numpy()
        groups = [(ALL_REGIMES, np.ones(regimes.size, dtype=bool))]
        groups += [(name, regimes == index) for index, name in enumerate(run.regime_names)
                   if (regimes == index).any()]
        for group, mask in groups:
            cell = {name: run.tables[name][mask] for name in policy_names}
            for policy in resolved:
                row = {"scenario": scenario.name, "regime": group, "policy": policy.name}
                row.update(policy_statistics(cell[policy.name], horizon, policy.layer_names,
                                             all_layers))
                summary_rows.append(row)
            difference_rows += _difference_rows(scenario.name, group, cell, baseline,
                                                horizon, bootstrap,
                                                bootstrap_rng(seed, scenario.name, group))
    summary = pd.DataFrame(summary_rows, columns=[
        "scenario", "regime", "policy", *(c for c, _ in SUMMARY_COLUMNS),
        *(layer_active_column(layer) for layer in all_layers)])
    summary["paths"] = summary["paths"].astype(np.int64)
    differences = pd.DataFrame(difference_rows, columns=[
        "scenario", "regime", "policy", "baseline", *(c for c, _ in DIFFERENCE_COLUMNS)])
    differences["paths"] = differences["paths"].astype(np.int64)
    return CompareResult(summary=summary, differences=differences, paths=paths,
                         scenarios=loaded, policies=resolved, baseline=baseline,
                         n_paths=n_paths, seed=seed, shard_size=shard_size,
                         bootstrap=bootstrap, wall_seconds=time.perf_counter() - started,
                         regime_names=regime_names)


def _check_unique(names: Sequence[str], what: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise CompareError(f"{what} {name!r} is given twice; {what} names must be distinct")
        seen.add(name)


def _difference_rows(scenario: str, group: str, cell: dict[str, pd.DataFrame],
                     baseline: str, horizon: float, bootstrap: int,
                     rng: np.random.Generator) -> list[dict]:
    """Rows of the differences table for one (scenario, regime group)."""

    def pnl_and_x(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        pnl = _column(table, "pnl")
        return pnl, margin_returns(pnl, _column(table, "carry"), _column(table, "peak_margin"))

    others = [name for name in cell if name != baseline]
    if not others:
        return []
    pnl_base, x_base = pnl_and_x(cell[baseline])
    results = paired_differences(pnl_base, x_base, [pnl_and_x(cell[n]) for n in others],
                                 horizon, bootstrap, rng)
    rows = []
    for name, diff in zip(others, results, strict=True):
        rows.append({
            "scenario": scenario, "regime": group, "policy": name, "baseline": baseline,
            "paths": pnl_base.size,
            "mean P&L diff ($)": diff.mean_pnl,
            "P&L diff CI low ($)": diff.mean_pnl_ci[0],
            "P&L diff CI high ($)": diff.mean_pnl_ci[1],
            "P&L diff > 0 (% of resamples)": 100.0 * diff.share_above_zero,
            "Sharpe diff": diff.sharpe,
            "Sharpe diff CI low": diff.sharpe_ci[0],
            "Sharpe diff CI high": diff.sharpe_ci[1],
            "Sharpe rel. diff (%)": 100.0 * diff.relative_sharpe,
            "Sharpe rel. diff CI low (%)": 100.0 * diff.relative_sharpe_ci[0],
            "Sharpe rel. diff CI high (%)": 100.0 * diff.relative_sharpe_ci[1],
        })
    return rows


# ``sim.compare(...)`` (the module called) is the notebook API's compare (sim/__init__.py).
sys.modules[__name__].__class__ = CallableModule
