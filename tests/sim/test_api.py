"""The notebook API: ``sim.run`` / ``sim.compare`` give the command line's numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import scenarios
import sim
from sim.policy import load_policy
from sim.runner import run as runner_run


@pytest.fixture(scope="module")
def short():
    base = scenarios.load("default")
    return dataclasses.replace(base, simulation=dataclasses.replace(base.simulation, n_days=40))


@pytest.fixture(scope="module")
def run_result(short):
    return sim.run(short, policy="alvh", paths=300, seed=11)


@pytest.fixture(scope="module")
def comparison(short):
    return sim.compare(short, ["none", "alvh"], paths=300, seed=11, bootstrap=100)


def test_run_equals_runner(short, run_result):
    direct = runner_run(short, 300, 11, policy=load_policy("alvh"), keep_paths=True)
    paths = run_result.paths()
    assert isinstance(paths, pd.DataFrame) and len(paths) == 300
    for column, values in direct.paths.items():
        np.testing.assert_array_equal(paths[column].to_numpy(), values)
    summary = run_result.summary()
    assert list(summary.columns) == ["metric", "unit", "value", "definition"]
    assert summary.set_index("metric").at["paths", "value"] == 300
    assert summary.set_index("metric").at["mean P&L", "value"] == pytest.approx(
        float(np.mean(direct.paths["pnl"])))


def test_compare_same_paths_as_run(run_result, comparison):
    assert callable(sim.compare)
    alvh = comparison.paths(policy="alvh")
    np.testing.assert_array_equal(alvh["pnl"].to_numpy(), run_result.paths()["pnl"].to_numpy())
    diffs = comparison.differences()
    row = diffs[(diffs["regime"] == "all") & (diffs["policy"] == "alvh")].iloc[0]
    none = comparison.paths(policy="none")["pnl"].to_numpy()
    assert row["mean P&L diff ($)"] == pytest.approx(float(np.mean(alvh["pnl"] - none)))
    with pytest.raises(KeyError, match="no paths"):
        comparison.paths(policy="static-vix")


def test_by_regime_matches_compare(run_result, comparison):
    ours = run_result.by_regime().set_index("regime")
    theirs = comparison.summary()
    theirs = theirs[theirs["policy"] == "alvh"].set_index("regime")
    for column in ("paths", "mean P&L ($)", "CVaR 95% ($)"):
        np.testing.assert_allclose(ours[column].to_numpy(float),
                                   theirs.loc[ours.index, column].to_numpy(float))


def test_figures_are_matplotlib_figures(run_result, comparison):
    from matplotlib.figure import Figure

    figures = [run_result.plot_pnl(), run_result.plot_drawdown(),
               run_result.plot_equity_fan(sample_paths=64), run_result.plot_hedges(sample_paths=64),
               run_result.plot_sample_path("median", sample_paths=64),
               comparison.plot_differences(), comparison.plot_pnl()]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes
    story = run_result.narrative("worst", sample_paths=64)
    assert story and story[0].startswith("tick ")
    with pytest.raises(ValueError, match="allowed: best, median, worst"):
        run_result.plot_sample_path("typical")


def test_report_from_the_api(comparison, tmp_path):
    html = comparison.report(tmp_path / "r.html", sample_paths=64)
    text = html.read_text()
    assert 'id="fig-default-equity-fan"' in text and "data:image/png;base64," in text
