"""Metrics: definitions checked on hand-made tables."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.metrics import cvar, summarize


def table(pnl, dd=None):
    pnl = np.asarray(pnl, float)
    dd = np.zeros_like(pnl) if dd is None else np.asarray(dd, float)
    return {"pnl": pnl, "max_drawdown": dd, "return_on_margin": pnl / 1000.0,
            "n_trades": np.ones(pnl.size)}


def test_summary_values_on_a_known_sample():
    pnl = np.arange(1, 101, dtype=float) - 50.0  # -49 .. 50
    rows = {r.metric: r for r in summarize(table(pnl, dd=np.arange(100.0)))}
    assert rows["mean P&L"].value == 0.5
    assert rows["mean P&L"].unit == "$"
    assert rows["CVaR 95%"].value == np.mean(np.arange(-49.0, -44.0))
    assert rows["win rate"].value == 50.0
    assert rows["median max drawdown"].value == 49.5
    assert rows["P&L 5th pct"].value == np.percentile(pnl, 5)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(1, 300),
              elements=st.floats(-1e6, 1e6, allow_nan=False)))
def test_cvar_is_at_most_the_mean_and_at_least_the_minimum(pnl):
    c = cvar(pnl, 0.95)
    assert pnl.min() - 1e-6 <= c <= pnl.mean() + 1e-6 * (1 + abs(pnl.mean()))
