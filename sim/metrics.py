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
"""

from __future__ import annotations

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
