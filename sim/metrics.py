"""Per-path results and their summary.

Per-path columns (one value per simulated path):

================== ========= =====================================================
column             unit      definition
================== ========= =====================================================
pnl                $         final equity minus initial cash (open legs at mid)
return_on_margin   1         pnl / peak margin held on the path (NaN if no margin)
max_drawdown       $         largest fall of equity from its running peak, at ticks
peak_margin        $         largest total margin held at any tick
n_trades           orders    orders sent (an order is all legs traded together)
costs              $         half spreads and commissions paid
carry              $         interest earned on cash
final_equity       $         cash plus marked value at the last tick
================== ========= =====================================================

Agents add their own columns (e.g. ``n_condors``, exits by reason).

The summary (:func:`summarize`) reports, over paths: mean, standard
deviation, 1/5/50/95th percentiles of P&L; CVaR 95% (the mean P&L of the
worst 5% of paths, a negative number for losses); the win rate (share of
paths with P&L > 0); the median return on margin; the median and 95th
percentile of max drawdown; and the mean orders, costs and carry per path.

Streaming. :class:`PathAggregate` takes a run's per-path table shard by
shard, in any order, and keeps (i) per block of paths, mergeable statistics
of every column (:class:`ColumnStats`: count, mean and sum of squared
deviations merged with the pairwise update of Chan, Golub and LeVeque (1979),
min, max, count of positive values), merged in block order at the end so the
bits do not depend on the shard size or the order shards arrive in, and (ii)
the columns the summary needs whole (:data:`SUMMARY_INPUTS`, 8 bytes per path
each), from which :func:`summarize` gives exactly the numbers it gives on the
full in-memory table. Nothing else of a finished shard is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.engine import BatchResult

#: (column, unit) of the per-path table, in order.
PATH_COLUMNS = (
    ("pnl", "$"), ("return_on_margin", "1"), ("max_drawdown", "$"), ("peak_margin", "$"),
    ("n_trades", "orders"), ("costs", "$"), ("carry", "$"), ("final_equity", "$"),
)


def path_results(batch: BatchResult) -> dict[str, np.ndarray]:
    """The per-path table of one batch (column -> array of shape (n_paths,))."""
    book = batch.book
    equity = book.equity
    pnl = equity - book.initial_cash
    with np.errstate(divide="ignore", invalid="ignore"):
        rom = np.where(book.peak_margin > 0, pnl / book.peak_margin, np.nan)
    table = {
        "pnl": pnl,
        "return_on_margin": rom,
        "max_drawdown": book.max_drawdown.copy(),
        "peak_margin": book.peak_margin.copy(),
        "n_trades": book.n_orders.copy(),
        "costs": book.total_costs.copy(),
        "carry": book.total_carry.copy(),
        "final_equity": equity,
    }
    for agent in batch.agents:
        for name, values in agent.path_stats().items():
            table[name] = np.asarray(values).copy()
    return table


@dataclass(frozen=True)
class SummaryRow:
    """One line of the summary table."""

    metric: str
    unit: str
    value: float
    definition: str


def cvar(pnl: np.ndarray, level: float = 0.95) -> float:
    """Conditional value at risk: mean P&L of the worst ``1 - level`` share of paths.

    Uses the ``ceil((1 - level) * n)`` lowest values (at least one), so it is
    defined for any number of paths; in dollars, negative for a loss.
    """
    pnl = np.sort(np.asarray(pnl, dtype=np.float64))
    k = max(1, int(np.ceil((1.0 - level) * pnl.size - 1e-9)))
    return float(pnl[:k].mean())


def summarize(table: dict[str, np.ndarray]) -> list[SummaryRow]:
    """Summary statistics of a per-path table over its paths."""
    pnl = np.asarray(table["pnl"], dtype=np.float64)
    dd = np.asarray(table["max_drawdown"], dtype=np.float64)
    rom = np.asarray(table["return_on_margin"], dtype=np.float64)
    p1, p5, p50, p95 = np.percentile(pnl, [1, 5, 50, 95])
    rows = [
        SummaryRow("paths", "paths", float(pnl.size), "number of simulated paths"),
        SummaryRow("mean P&L", "$", float(pnl.mean()), "mean final P&L over paths"),
        SummaryRow("stdev P&L", "$", float(pnl.std(ddof=1)) if pnl.size > 1 else float("nan"),
                   "sample standard deviation of final P&L"),
        SummaryRow("P&L 1st pct", "$", float(p1), "1st percentile of final P&L"),
        SummaryRow("P&L 5th pct", "$", float(p5), "5th percentile of final P&L"),
        SummaryRow("median P&L", "$", float(p50), "50th percentile of final P&L"),
        SummaryRow("P&L 95th pct", "$", float(p95), "95th percentile of final P&L"),
        SummaryRow("CVaR 95%", "$", cvar(pnl, 0.95), "mean P&L of the worst 5% of paths"),
        SummaryRow("win rate", "%", float((pnl > 0).mean() * 100.0),
                   "share of paths with final P&L > 0"),
        SummaryRow("median return on margin", "%",
                   float(np.nanmedian(rom) * 100.0) if np.isfinite(rom).any() else float("nan"),
                   "median of P&L / peak margin over paths that held margin"),
        SummaryRow("median max drawdown", "$", float(np.median(dd)),
                   "median over paths of the largest equity fall from its peak"),
        SummaryRow("max drawdown 95th pct", "$", float(np.percentile(dd, 95)),
                   "95th percentile over paths of the max drawdown"),
        SummaryRow("mean trades", "orders/path", float(np.mean(table["n_trades"])),
                   "mean number of orders per path"),
    ]
    for column, metric, definition in (
            ("costs", "mean costs", "mean half spreads and commissions paid per path"),
            ("carry", "mean carry", "mean interest earned on cash per path")):
        if column in table:
            rows.append(SummaryRow(metric, "$", float(np.mean(table[column])), definition))
    return rows


# ---------------------------------------------------------------- streaming
#: Per-path columns :func:`summarize` reads; :class:`PathAggregate` keeps them whole.
SUMMARY_INPUTS = ("pnl", "max_drawdown", "return_on_margin", "n_trades", "costs", "carry")


@dataclass(frozen=True)
class ColumnStats:
    """Mergeable statistics of one per-path column over some paths.

    NaN values (e.g. ``return_on_margin`` on a path that never held margin)
    are counted in ``missing`` and left out of everything else.

    Attributes
    ----------
    count : int
        Non-NaN values.
    mean : float
        Their mean (NaN when ``count`` is 0), in the column's unit.
    m2 : float
        Sum of squared deviations from the mean, in the column's unit squared.
    minimum, maximum : float
        Smallest and largest value (+inf / -inf when ``count`` is 0).
    positive : int
        Values ``> 0`` (for ``pnl``: winning paths).
    missing : int
        NaN values.
    """

    count: int = 0
    mean: float = math.nan
    m2: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    positive: int = 0
    missing: int = 0

    @classmethod
    def of(cls, values: np.ndarray) -> ColumnStats:
        """Statistics of an array of per-path values."""
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return cls()
        rows = block_statistics(values, values.size)
        return cls.from_row(rows[0])

    @classmethod
    def from_row(cls, row: np.ndarray) -> ColumnStats:
        """From a row of :func:`block_statistics`."""
        count, mean, m2, low, high, positive, missing = (float(x) for x in row)
        return cls(int(count), mean, m2, low, high, int(positive), int(missing))

    @property
    def sum(self) -> float:
        """Sum of the non-NaN values, in the column's unit (``count * mean``)."""
        return self.count * self.mean if self.count else 0.0

    @property
    def variance(self) -> float:
        """Sample variance (``ddof = 1``); NaN with fewer than two values."""
        return self.m2 / (self.count - 1) if self.count > 1 else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (``ddof = 1``); NaN with fewer than two values."""
        return math.sqrt(self.variance) if self.count > 1 else math.nan

    def merge(self, other: ColumnStats) -> ColumnStats:
        """Statistics of the union of two disjoint sets of paths.

        The mean and ``m2`` follow Chan, Golub and LeVeque (1979):
        ``delta = mean_b - mean_a``, ``mean = mean_a + delta n_b / n``,
        ``m2 = m2_a + m2_b + delta^2 n_a n_b / n``. Merging is not
        associative to the last bit, so callers merge in a fixed order.
        """
        if other.count == 0 or self.count == 0:
            base = other if self.count == 0 else self
            return ColumnStats(base.count, base.mean, base.m2, base.minimum, base.maximum,
                               self.positive + other.positive, self.missing + other.missing)
        n = self.count + other.count
        delta = other.mean - self.mean
        return ColumnStats(
            count=n,
            mean=self.mean + delta * other.count / n,
            m2=self.m2 + other.m2 + delta * delta * self.count * other.count / n,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
            positive=self.positive + other.positive,
            missing=self.missing + other.missing,
        )

    def as_dict(self) -> dict[str, float]:
        """Count, mean, standard deviation, min, max, positive and missing counts."""
        finite = self.count > 0
        return {"count": self.count, "mean": self.mean if finite else None,
                "std": self.std if self.count > 1 else None,
                "min": self.minimum if finite else None,
                "max": self.maximum if finite else None,
                "positive": self.positive, "missing": self.missing}


def block_statistics(values: np.ndarray, block_size: int) -> np.ndarray:
    """:class:`ColumnStats` fields of consecutive blocks of an array.

    Parameters
    ----------
    values : ndarray, shape (n,)
        Per-path values (cast to float64).
    block_size : int
        Values per block; the last block holds the rest.

    Returns
    -------
    ndarray of float64, shape (ceil(n / block_size), 7)
        Per block: count, mean, m2, min, max, positive, missing. A block's
        row depends on its values only, not on where the array starts.
    """
    values = np.asarray(values, dtype=np.float64)
    starts = np.arange(0, values.size, block_size)
    lengths = np.diff(np.append(starts, values.size))
    finite = ~np.isnan(values)
    count = np.add.reduceat(finite.astype(np.float64), starts)
    total = np.add.reduceat(np.where(finite, values, 0.0), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    deviation = np.where(finite, values - np.repeat(mean, lengths), 0.0)
    m2 = np.add.reduceat(deviation * deviation, starts)
    low = np.minimum.reduceat(np.where(finite, values, np.inf), starts)
    high = np.maximum.reduceat(np.where(finite, values, -np.inf), starts)
    positive = np.add.reduceat((values > 0.0).astype(np.float64), starts)
    return np.column_stack([count, mean, m2, low, high, positive, lengths - count])


class PathAggregate:
    """Running aggregates of a run's per-path table, fed shard by shard in any order.

    Parameters
    ----------
    n_paths : int
        Paths of the run.
    block_size : int
        Paths per block: the statistics of each block are kept apart and
        merged in block order, so every shard must start on a block boundary
        and hold whole blocks (the run's last block may be short).
    keep_paths : bool
        Keep every column whole (the full per-path table), not only
        :data:`SUMMARY_INPUTS`.
    exclude : tuple of str
        Columns without statistics (e.g. the path index).

    Notes
    -----
    Memory: 7 floats per block and column, plus 8 bytes per path for each
    kept column (6 by default: 48 MB at a million paths).
    """

    def __init__(self, n_paths: int, block_size: int, keep_paths: bool = False,
                 exclude: tuple[str, ...] = ("path",)) -> None:
        if n_paths < 1 or block_size < 1:
            raise ValueError(f"n_paths and block_size must be >= 1, got {n_paths}, {block_size}")
        self.n_paths = int(n_paths)
        self.block_size = int(block_size)
        self.keep_paths = keep_paths
        self.exclude = exclude
        self.n_blocks = math.ceil(self.n_paths / self.block_size)
        self._blocks_done = np.zeros(self.n_blocks, dtype=bool)
        self._block_stats: dict[str, np.ndarray] = {}
        self._columns: dict[str, np.ndarray] = {}
        self.paths_done = 0

    @property
    def complete(self) -> bool:
        """Whether every path has been added."""
        return bool(self._blocks_done.all())

    def add(self, first_path: int, table: dict[str, np.ndarray]) -> None:
        """Add the per-path results of paths ``first_path ..`` (whole blocks).

        Parameters
        ----------
        first_path : int
            Index in the run of the table's first path (a block boundary).
        table : dict of str to ndarray
            Column -> values, all of the same length.

        Raises
        ------
        ValueError
            If the paths are not whole blocks, run past ``n_paths``, or some
            were added before.
        """
        lengths = {np.shape(values)[0] for values in table.values()}
        if len(lengths) != 1:
            raise ValueError(f"columns of a table must have one length, got {sorted(lengths)}")
        n = lengths.pop()
        stop = first_path + n
        if (first_path % self.block_size or stop > self.n_paths
                or (n % self.block_size and stop != self.n_paths) or n == 0):
            raise ValueError(f"paths {first_path}..{stop - 1} are not whole blocks of "
                             f"{self.block_size} paths within {self.n_paths}")
        blocks = slice(first_path // self.block_size, math.ceil(stop / self.block_size))
        if self._blocks_done[blocks].any():
            raise ValueError(f"paths {first_path}..{stop - 1} were already added")
        for name, values in table.items():
            values = np.asarray(values)
            if name not in self.exclude:
                stats = self._block_stats.get(name)
                if stats is None:
                    stats = np.zeros((self.n_blocks, 7))
                    stats[:, 1] = np.nan
                    stats[:, 3] = np.inf
                    stats[:, 4] = -np.inf
                    self._block_stats[name] = stats
                stats[blocks] = block_statistics(values, self.block_size)
            if self.keep_paths or name in SUMMARY_INPUTS:
                column = self._columns.get(name)
                if column is None:
                    column = self._columns[name] = np.zeros(self.n_paths, dtype=values.dtype)
                column[first_path:stop] = values
        self._blocks_done[blocks] = True
        self.paths_done += n

    def column_stats(self) -> dict[str, ColumnStats]:
        """Statistics of every column over the paths added, merged in block order."""
        merged = {}
        for name, rows in self._block_stats.items():
            total = ColumnStats()
            for block in np.flatnonzero(self._blocks_done):
                total = total.merge(ColumnStats.from_row(rows[block]))
            merged[name] = total
        return merged

    def table(self) -> dict[str, np.ndarray]:
        """The kept columns, whole (all columns with ``keep_paths``)."""
        return dict(self._columns)

    def summary(self) -> list[SummaryRow]:
        """:func:`summarize` of the run: the same numbers as on the full table.

        Raises
        ------
        ValueError
            If some paths were not added yet.
        """
        if not self.complete:
            missing = int(np.count_nonzero(~self._blocks_done))
            raise ValueError(f"{missing} of {self.n_blocks} blocks of paths are missing")
        return summarize({name: self._columns[name] for name in SUMMARY_INPUTS
                          if name in self._columns})
