"""Policy comparison: statistic definitions, paired bootstrap, common random numbers,
and ``compare()`` / ``alvh compare`` end to end on a tiny run."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import scenarios
from sim import compare as comparing
from sim.agents.condor import CondorAgent
from sim.cli import main
from sim.compare import (
    DIFFERENCE_COLUMNS,
    SUMMARY_COLUMNS,
    CompareError,
    check_common_paths,
    compare,
    dominant_regime,
    margin_returns,
    market_fingerprints,
    paired_difference,
    policy_statistics,
    sharpe_ratio,
    sortino_ratio,
)
from sim.engine import Agent
from sim.market import generate
from sim.market.calendar import TICKS_PER_YEAR
from sim.metrics import cvar
from sim.runner import run

N_DAYS = 30


# ------------------------------------------------------------ test policies
class WatchAgent(Agent):
    """Trades nothing; counts the ticks where VIX is 10% above its first value as
    openings of a paper hedge layer ``watch`` (so its P&L is the condor's alone)."""

    def __init__(self, ctx) -> None:
        self.opens = np.zeros(ctx.book.n_paths, dtype=np.int64)
        super().__init__(ctx)

    def run(self):
        first = None
        while True:
            view = yield self.ctx.clock.phase("hedge")
            first = view.vix.copy() if first is None else first
            self.opens += view.vix > 1.1 * first

    def path_stats(self) -> dict[str, np.ndarray]:
        return {"layer_watch_opens": self.opens,
                "hedge_spend": np.zeros(self.opens.size)}


class QuickProfitCondor(CondorAgent):
    """The non-trailed condor taking profit at 25% of credit instead of the scenario's."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.spec = dataclasses.replace(self.spec, profit_target=0.25)


class MarketTamperer(Agent):
    """Writes to the market it is given (what an agent must never do)."""

    def run(self):
        view = yield self.ctx.clock.phase("trade")
        self.ctx.clock.market.spot[-1] *= 1.0 + 1e-9
        del view


@dataclasses.dataclass(frozen=True)
class PaperPolicy:
    """A policy object as ``sim.policy.load_policy`` returns one."""

    name: str
    factories: tuple
    layer_names: tuple[str, ...] = ()
    description: str = "test policy"

    def agent_factories(self) -> tuple:
        return self.factories


NONE = PaperPolicy("none", (CondorAgent,))
WATCH = PaperPolicy("watch", (CondorAgent, WatchAgent), ("watch",))
QUICK = PaperPolicy("quick", (QuickProfitCondor,))
TAMPER = PaperPolicy("tamper", (CondorAgent, MarketTamperer))
POLICIES = {p.name: p for p in (NONE, WATCH, QUICK, TAMPER)}


def short(name: str, n_days: int = N_DAYS):
    scenario = scenarios.load(name)
    return dataclasses.replace(scenario, simulation=dataclasses.replace(
        scenario.simulation, n_days=n_days))


@pytest.fixture(scope="module")
def result():
    """40 paths x 30 days of two scenarios (one with four regimes), three policies."""
    return compare([short("default"), short("calibrated")], [NONE, WATCH, QUICK],
                   n_paths=40, seed=7, batch_size=15, bootstrap=500)


# ------------------------------------------------------ statistic definitions
def test_margin_returns_take_carry_out_and_are_zero_without_margin():
    x = margin_returns(np.array([110.0, -50.0, 30.0]), np.array([10.0, 0.0, 5.0]),
                       np.array([100.0, 200.0, 0.0]))
    np.testing.assert_allclose(x, [1.0, -0.25, 0.0])


def test_sharpe_and_sortino_by_hand():
    x = np.array([0.10, -0.05, 0.20, 0.03])
    horizon = 0.25                                  # a quarter: annualize by sqrt(4) = 2
    # mean 0.07; deviations 0.03, -0.12, 0.13, -0.04; sum of squares 0.0338
    assert sharpe_ratio(x, horizon) == pytest.approx(0.07 / math.sqrt(0.0338 / 3) * 2.0)
    # downside: only -0.05, mean of squares 0.0025 / 4, root 0.025
    assert sortino_ratio(x, horizon) == pytest.approx(0.07 / 0.025 * 2.0)


def test_sharpe_and_sortino_are_nan_where_undefined():
    assert math.isnan(sharpe_ratio(np.array([0.1]), 1.0))
    assert math.isnan(sharpe_ratio(np.full(10, 0.1), 1.0))       # no dispersion
    assert math.isnan(sortino_ratio(np.array([0.1, 0.2, 0.0]), 1.0))  # no downside
    assert math.isnan(sortino_ratio(np.array([]), 1.0))


def test_cvar_99_by_hand():
    pnl = np.arange(200.0)[::-1]
    assert cvar(pnl, 0.99) == pytest.approx(0.5)    # ceil(1% of 200) = 2 worst: 0 and 1
    assert cvar(pnl[:150], 0.99) == pytest.approx((50.0 + 51.0) / 2)   # ceil(1.5) = 2
    assert cvar(np.array([3.0, -7.0, 1.0]), 0.99) == -7.0           # at least one path


def test_dominant_regime_takes_the_most_ticks_and_the_lower_index_on_ties():
    regime = np.array([[0, 2, 3, 2, 1],
                       [0, 1, 3, 2, 1],
                       [1, 1, 3, 2, 0],
                       [1, 2, 0, 2, 1]], dtype=np.int8)
    np.testing.assert_array_equal(dominant_regime(regime, 4), [0, 1, 3, 2, 1])
    np.testing.assert_array_equal(dominant_regime(regime), [0, 1, 3, 2, 1])


def test_policy_statistics_by_hand():
    table = pd.DataFrame({
        "pnl": [100.0, -300.0, 50.0, 0.0],
        "carry": [0.0, 0.0, 0.0, 0.0],
        "peak_margin": [1000.0, 1000.0, 1000.0, 0.0],
        "max_drawdown": [10.0, 400.0, 20.0, 0.0],
        "premium_collected": [200.0, 200.0, 100.0, 0.0],
        "hedge_spend": [50.0, 0.0, 0.0, 0.0],
        "layer_l1_opens": [1, 0, 3, 0],
    })
    stats = policy_statistics(table, 1.0, ("l1", "l2"), ("l1", "l2", "other"))
    assert stats["paths"] == 4
    assert stats["mean P&L ($)"] == pytest.approx(-37.5)
    assert stats["median P&L ($)"] == pytest.approx(25.0)
    assert stats["win rate (%)"] == pytest.approx(50.0)
    assert stats["CVaR 95% ($)"] == stats["CVaR 99% ($)"] == -300.0
    assert stats["hedge spend (% of premium)"] == pytest.approx(100.0 * 50.0 / 500.0)
    assert stats["layer l1 active (%)"] == pytest.approx(50.0)
    assert stats["layer l2 active (%)"] == 0.0          # the policy's layer, no column
    assert math.isnan(stats["layer other active (%)"])   # not a layer of this policy
    x = np.array([0.1, -0.3, 0.05, 0.0])
    assert stats["Sharpe (annualized)"] == pytest.approx(x.mean() / x.std(ddof=1))
    assert {c for c, _ in SUMMARY_COLUMNS} <= set(stats)
    # No premium column: hedge spend share is undefined, not zero.
    bare = policy_statistics(table[["pnl", "carry", "peak_margin", "max_drawdown"]], 1.0)
    assert math.isnan(bare["hedge spend (% of premium)"])
    assert bare["mean hedge spend ($)"] == 0.0


# --------------------------------------------------------------- bootstrap
def test_bootstrap_ci_covers_the_true_mean_difference_at_the_stated_rate():
    rng = np.random.default_rng(2024)
    replications, n, true_diff = 400, 200, 0.1
    covered = 0
    for _ in range(replications):
        base = rng.normal(0.0, 1.0, n)
        policy = base + rng.normal(true_diff, 0.5, n)
        diff = paired_difference(policy, base, policy / 1e4, base / 1e4, 1.0,
                                 n_resamples=400, rng=rng)
        low, high = diff.mean_pnl_ci
        covered += low <= true_diff <= high
    rate = covered / replications
    # 3 standard errors of a binomial share at 95%, plus 1% for the percentile
    # bootstrap's known small undercoverage at n = 200.
    se = math.sqrt(0.95 * 0.05 / replications)
    assert abs(rate - 0.95) < 3 * se + 0.01, rate


def test_bootstrap_is_deterministic_under_the_seed_and_chunking(monkeypatch):
    rng = np.random.default_rng(5)
    base, policy = rng.normal(0, 1, 300), rng.normal(0.2, 1, 300)
    x_base, x_policy = rng.normal(0.01, 0.05, 300), rng.normal(0.02, 0.05, 300)

    def once():
        return paired_difference(policy, base, x_policy, x_base, 0.5, n_resamples=250,
                                 rng=np.random.default_rng(11))

    first = once()
    assert once() == first
    monkeypatch.setattr(comparing, "BOOTSTRAP_CHUNK_ELEMENTS", 7 * 300)   # chunks of 7
    assert once() == first
    other = paired_difference(policy, base, x_policy, x_base, 0.5, n_resamples=250,
                              rng=np.random.default_rng(12))
    assert other.mean_pnl == first.mean_pnl and other.mean_pnl_ci != first.mean_pnl_ci
    low, high = first.sharpe_ci
    assert low < first.sharpe < high
    assert first.relative_sharpe == pytest.approx(
        first.sharpe / abs(sharpe_ratio(x_base, 0.5)))


def test_identical_policies_give_zero_difference_and_zero_width_ci():
    rng = np.random.default_rng(3)
    pnl, x = rng.normal(100, 500, 150), rng.normal(0.01, 0.1, 150)
    diff = paired_difference(pnl.copy(), pnl, x.copy(), x, 1.0, n_resamples=300)
    assert diff.mean_pnl == 0.0 and diff.mean_pnl_ci == (0.0, 0.0)
    assert diff.sharpe == 0.0 and diff.sharpe_ci == (0.0, 0.0)
    assert diff.relative_sharpe == 0.0 and diff.relative_sharpe_ci == (0.0, 0.0)
    assert diff.share_above_zero == 0.0


def test_relative_sharpe_is_nan_when_the_baseline_sharpe_is_undefined():
    pnl = np.linspace(-1.0, 1.0, 50)
    diff = paired_difference(pnl, np.zeros(50), pnl / 100, np.zeros(50), 1.0,
                             n_resamples=100)
    assert math.isnan(diff.sharpe) and math.isnan(diff.relative_sharpe)
    assert all(math.isnan(v) for v in diff.relative_sharpe_ci)


# ------------------------------------------------- common random numbers
def test_different_markets_have_different_fingerprints_and_raise():
    model = scenarios.load("default").market
    one = generate(model, 6, 10, 1 / TICKS_PER_YEAR, np.random.default_rng(1))
    same = generate(model, 6, 10, 1 / TICKS_PER_YEAR, np.random.default_rng(1))
    other = generate(model, 6, 10, 1 / TICKS_PER_YEAR, np.random.default_rng(2))
    prints = market_fingerprints(one)
    assert prints.dtype == np.uint64 and np.unique(prints).size == 6
    np.testing.assert_array_equal(prints, market_fingerprints(same))
    check_common_paths({"a": prints, "b": market_fingerprints(same)})
    with pytest.raises(RuntimeError, match="common random numbers"):
        check_common_paths({"a": prints, "b": market_fingerprints(other)}, "default")
    with pytest.raises(RuntimeError, match=r"'b'.*1 of 6"):
        check_common_paths({"a": prints, "b": market_fingerprints(one.select(
            np.array([0, 1, 2, 3, 4, 0])))})


def test_an_agent_that_writes_to_the_market_breaks_common_random_numbers():
    for order in ([TAMPER, NONE], [NONE, TAMPER]):
        with pytest.raises(RuntimeError, match="common random numbers"):
            compare(short("default", 5), order, n_paths=4, seed=1, batch_size=4,
                    bootstrap=10)


# ------------------------------------------------------------- end to end
def test_every_policy_sees_the_same_paths(result):
    for by_policy in result.paths.values():
        prints = [t["market_fingerprint"].to_numpy() for t in by_policy.values()]
        assert all(p.dtype == np.uint64 for p in prints)
        for p in prints[1:]:
            np.testing.assert_array_equal(p, prints[0])
        assert np.unique(prints[0]).size == 40


def test_the_no_hedge_policy_matches_alvh_run_on_the_same_seed(result):
    runner = run(short("default"), n_paths=40, seed=7, batch_size=15)
    table = result.paths["default"]["none"]
    for column in ("pnl", "max_drawdown", "n_trades", "n_condors"):
        np.testing.assert_array_equal(table[column].to_numpy(), runner.paths[column])
    np.testing.assert_array_equal(table["path"].to_numpy(), np.arange(40))


def test_summary_and_differences_tables(result):
    summary, diffs = result.summary, result.differences
    assert list(summary.columns) == ["scenario", "regime", "policy",
                                     *(c for c, _ in SUMMARY_COLUMNS),
                                     "layer watch active (%)"]
    assert list(diffs.columns) == ["scenario", "regime", "policy", "baseline",
                                   *(c for c, _ in DIFFERENCE_COLUMNS)]
    everything = summary[summary["regime"] == "all"]
    assert len(everything) == 6 and (everything["paths"] == 40).all()
    # Regime groups partition the paths, by dominant regime.
    cal = summary[(summary["scenario"] == "calibrated") & (summary["policy"] == "none")]
    assert cal[cal["regime"] != "all"]["paths"].sum() == 40
    regimes = result.paths["calibrated"]["none"]["regime"].to_numpy()
    for _, row in cal[cal["regime"] != "all"].iterrows():
        index = result.regime_names["calibrated"].index(row["regime"])
        assert row["paths"] == np.count_nonzero(regimes == index)
    # The watch agent trades nothing: zero difference, zero-width CI.
    watch = diffs[diffs["policy"] == "watch"]
    assert (watch[["mean P&L diff ($)", "P&L diff CI low ($)",
                   "P&L diff CI high ($)"]] == 0.0).all().all()
    # Sharpe: zero with a zero-width CI, or NaN where a regime group is too
    # small (or too uniform) for a Sharpe ratio.
    defined = watch["Sharpe diff"].notna()
    assert defined.sum() >= 2      # at least the two "all" groups
    assert (watch.loc[defined, ["Sharpe diff", "Sharpe diff CI low",
                                "Sharpe diff CI high"]] == 0.0).all().all()
    assert summary["layer watch active (%)"][summary["policy"] != "watch"].isna().all()
    assert summary["layer watch active (%)"][summary["policy"] == "watch"].notna().all()
    # Taking profit earlier changes the P&L: a non-degenerate interval around it.
    quick = diffs[(diffs["policy"] == "quick") & (diffs["regime"] == "all")]
    for _, row in quick.iterrows():
        assert row["P&L diff CI low ($)"] < row["P&L diff CI high ($)"]
        assert row["P&L diff CI low ($)"] <= row["mean P&L diff ($)"]
        assert row["mean P&L diff ($)"] <= row["P&L diff CI high ($)"]
        mine = result.paths[row["scenario"]]
        expected = (mine["quick"]["pnl"] - mine["none"]["pnl"]).mean()
        assert row["mean P&L diff ($)"] == pytest.approx(expected)


def test_compare_is_reproducible_under_the_seed(result):
    again = compare([short("default"), short("calibrated")], [NONE, WATCH, QUICK],
                    n_paths=40, seed=7, batch_size=15, bootstrap=500)
    pd.testing.assert_frame_equal(again.summary, result.summary)
    pd.testing.assert_frame_equal(again.differences, result.differences)


def test_text_has_units_and_fits_a_100_column_terminal(result):
    text = result.to_text()
    assert max(len(line) for line in text.splitlines()) <= 100
    for label in ("mean P&L ($)", "CVaR 99% ($)", "win rate (%)", "95% CI ($)",
                  "Sharpe (annualized)", "scenario: calibrated", "vs 'none'"):
        assert label in text


def test_a_named_baseline_and_bad_input():
    small = short("default", 5)
    kwargs = dict(n_paths=6, seed=1, batch_size=6, bootstrap=20)
    out = compare(small, [NONE, QUICK], baseline="quick", **kwargs)
    assert set(out.differences["policy"]) == {"none"}
    assert set(out.differences["baseline"]) == {"quick"}
    with pytest.raises(ValueError, match="baseline 'nope'"):
        compare(small, [NONE, QUICK], baseline="nope", **kwargs)
    with pytest.raises(ValueError, match="given twice"):
        compare(small, [NONE, dataclasses.replace(QUICK, name="none")], **kwargs)
    with pytest.raises(CompareError):
        compare(small, [], **kwargs)


# -------------------------------------------------------------------- CLI
@pytest.fixture()
def test_policies(monkeypatch):
    def resolve(name: str):
        if name not in POLICIES:
            raise scenarios.ScenarioError(f"no policy named {name!r}")
        return POLICIES[name]

    monkeypatch.setattr(comparing, "resolve_policy", resolve)


@pytest.fixture()
def tiny_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\ndescription = "short default"\n'
                    '[simulation]\nn_days = 20\n')
    return str(path)


def test_cli_compare_prints_tables_and_writes_csv(test_policies, tiny_file, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["compare", tiny_file, "--policies", "none", "quick", "--paths", "12",
                 "--seed", "3", "--batch-size", "6", "--bootstrap", "50",
                 "--csv", str(out_dir)]) == 0
    text = capsys.readouterr().out
    assert "mean P&L ($)" in text and "mean P&L diff ($)" in text and "wall time:" in text
    assert "baseline: none" in text
    summary = pd.read_csv(out_dir / "summary.csv")
    diffs = pd.read_csv(out_dir / "differences.csv")
    assert set(summary["policy"]) == {"none", "quick"} and (summary["paths"] == 12).all()
    assert list(diffs["policy"]) == ["quick", "quick"]       # all, and the one regime


@pytest.mark.parametrize("extra, message", [
    (["--policies", "none", "quick", "--baseline", "nope"], "baseline 'nope'"),
    (["--policies", "none", "ghost"], "ghost"),
    (["--policies", "none", "none"], "given twice"),
])
def test_cli_compare_bad_input_exits_2_with_one_line(test_policies, tiny_file, capsys,
                                                     extra, message):
    assert main(["compare", tiny_file, "--paths", "4", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
