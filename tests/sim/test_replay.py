"""Historical replay (sim/replay.py, sim/replay_report.py, ``alvh replay``).

Most tests share one replay of a short window (Jul-Oct 2015, which holds the
whole Aug 2015 episode) with three policies; one test runs the whole
2014-2018 window with policy ``none``.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scenarios
from pricing.vix import vix_from_variance
from sim.book import Book
from sim.cli import main
from sim.engine import simulate
from sim.market.calibrate import regime_labels, variance_proxy
from sim.market.heston import vix_jump_term
from sim.market.term_structure import vix_index_for
from sim.policy import load_policy
from sim.replay import (
    EPISODES,
    ReplayError,
    available_range,
    implied_variance,
    load_data,
    replay,
    replay_market,
    vix_floor,
    window_indices,
)
from sim.replay_report import FIGURE_IDS, format_report, narration, write_outputs

SHORT = ("2015-07-01", "2015-10-30")
POLICIES = ("none", "static-vix", "alvh")


@pytest.fixture(scope="module")
def calibrated():
    return scenarios.load("calibrated")


@pytest.fixture(scope="module")
def short(calibrated):
    """Three policies over Jul-Oct 2015."""
    return replay(calibrated, POLICIES, *SHORT)


@pytest.fixture(scope="module")
def full(calibrated):
    """The whole data window, 2014-01-03..2018-12-31, policy none."""
    return replay(calibrated, ["none"])


# --------------------------------------------------------------------------- data
def test_available_range_is_where_both_closes_exist():
    first, last = available_range()
    assert (str(first), str(last)) == ("2014-01-03", "2018-12-31")
    data = load_data()
    assert data.spx_span == ("1999-01-04", "2018-12-31")
    assert data.vix_span == ("2014-01-03", "2019-01-03")


def test_path_is_the_data_on_every_date(full):
    import arch.data.sp500
    import arch.data.vix

    spx = arch.data.sp500.load()["Close"]
    vix = arch.data.vix.load()["vix"]
    dates = pd.DatetimeIndex(full.dates.astype("datetime64[ns]"))
    np.testing.assert_array_equal(full.market.spot[:, 0], spx.loc[dates].to_numpy())
    np.testing.assert_array_equal(full.market.vix[:, 0], vix.loc[dates].to_numpy())
    # Every day with both closes, none else.
    both = spx.dropna().index.intersection(vix.dropna().index)
    assert dates.equals(both)
    assert full.market.n_paths == 1


def test_unobserved_inputs_are_neutral(short):
    market = short.market
    assert not market.net_advances.any() and not market.ad_line.any()
    assert not market.divergence.any() and not market.jumps.any()
    notes = " ".join(short.replay.notes)
    assert "breadth-based signals are uninformative" in notes
    assert "regime:" in notes and "events:" in notes


# --------------------------------------------------------------------------- variance
@settings(max_examples=60, deadline=None)
@given(kappa=st.floats(0.5, 30.0), premium_share=st.floats(0.0, 0.8),
       theta=st.floats(0.005, 0.2), intensity=st.floats(0.0, 3.0),
       jump_variance=st.floats(0.0, 0.1), above=st.floats(0.01, 60.0))
def test_implied_variance_round_trips(kappa, premium_share, theta, intensity, jump_variance,
                                      above):
    model = scenarios.load("default").market
    model = dataclasses.replace(model, kappa=kappa, theta=theta, jump_intensity=intensity,
                                jump_variance_mean=jump_variance, jump_spot_per_variance=0.0,
                                vol_risk_premium=premium_share * kappa).pricing_model()
    vix = np.array([vix_floor(model) + above])
    variance, reachable = implied_variance(vix, model)
    assert reachable.all() and variance[0] >= 0.0
    again = vix_from_variance(variance, model.kappa, model.theta, model.jump_intensity,
                              model.jump_variance_mean, vix_jump_term(model))
    assert abs(again[0] / vix[0] - 1.0) < 1e-10


def test_implied_variance_reproduces_the_vix_of_the_path(full, calibrated):
    market = full.market
    model_vix = vix_index_for(calibrated.market, market.variance[:, 0], market.regime[:, 0])
    vix = market.vix[:, 0]
    reachable = market.variance[:, 0] > 0.0
    np.testing.assert_allclose(model_vix[reachable], vix[reachable], rtol=1e-10)
    np.testing.assert_allclose(full.replay.model_vix, model_vix, rtol=1e-12)
    # The few days below every regime's floor are counted and said.
    regimes = full.replay.regimes
    assert regimes.unreachable == int((~reachable).sum()) == 5
    assert (model_vix[~reachable] >= vix[~reachable]).all()
    assert 0 < regimes.max_gap < 0.1
    assert any("5 day(s) with a VIX close below" in note for note in full.replay.notes)


def test_regimes_follow_the_calibration_rule(full, calibrated):
    data = load_data()
    returns = np.diff(np.log(data.history_spx))
    labels, _ = regime_labels(variance_proxy(returns))
    # Calibrate's label of day t + 1 (the variance known at its open) is the regime
    # of the replay tick at day t (it sets the step from t to t + 1).
    at = np.searchsorted(data.history_dates, full.dates)
    calibrate_label = labels[np.minimum(at, labels.size - 1)]
    regimes = full.replay.regimes
    ranked = np.searchsorted(regimes.thresholds, regimes.realized_variance, side="right")
    assert np.mean(ranked == calibrate_label) > 0.99
    # Lowered only where the VIX close is below the labelled regime's floor.
    floors = np.array([vix_floor(m) for m in calibrated.market.pricing_models()])
    vix = full.market.vix[:, 0]
    lowered = full.market.regime[:, 0] != np.asarray(regimes.order)[ranked]
    assert (vix[lowered] < floors[np.asarray(regimes.order)[ranked][lowered]]).all()
    assert regimes.lowered == int(lowered.sum())


def test_one_regime_scenario_has_nothing_to_choose():
    default = scenarios.load("default")
    built = replay_market(default, *SHORT)
    assert (built.market.regime == 0).all()
    assert built.regimes.rule.startswith("one regime")


# --------------------------------------------------------------------------- engine
def test_engine_runs_and_the_book_identity_holds(short, calibrated, monkeypatch):
    market = short.market
    checked = []
    original = Book.check_identity

    def counted(book, *args, **kwargs):
        checked.append(book.tick)
        return original(book, *args, **kwargs)

    # The replay's own run checks the identity at every tick (simulate's
    # check_identity=True); here the same run, counting the checks.
    monkeypatch.setattr(Book, "check_identity", counted)
    for run in short.policies:
        checked.clear()
        batch = simulate(calibrated, market, load_policy(run.name).agent_factories(),
                         check_identity=True)
        assert checked == list(range(market.n_steps + 1))
        assert batch.book.equity[0] == pytest.approx(run.series["equity"][-1], abs=1e-9)
        assert run.totals["pnl"] == pytest.approx(run.series["pnl"][-1], abs=1e-9)
        assert run.totals["n_trades"] == batch.book.n_orders[0] > 0
        assert run.series["drawdown"].max() == pytest.approx(run.totals["max_drawdown"],
                                                             abs=1e-9)


def test_hedge_policies_hedge_and_none_does_not(short):
    by_name = {run.name: run for run in short.policies}
    assert by_name["none"].layer_names == ()
    assert by_name["static-vix"].totals["hedge_spend"] > 0
    assert sum(by_name["static-vix"].layer_days().values()) > 0
    np.testing.assert_array_equal(by_name["static-vix"].series["hedge_spend"][-1],
                                  by_name["static-vix"].totals["hedge_spend"])


# --------------------------------------------------------------------------- episodes
def test_episodes_appear_with_their_dates(full):
    stats = {s.episode.name: s for s in full.episodes()}
    assert list(stats) == [e.name for e in EPISODES]
    expected = {"Aug 2015": ("2015-08-17", "2015-09-30", 40.74, "2015-08-24"),
                "Feb 2018": ("2018-01-26", "2018-03-09", 37.32, "2018-02-05"),
                "Q4 2018": ("2018-10-01", "2018-12-31", 36.07, "2018-12-24")}
    for name, (first, last, peak, peak_day) in expected.items():
        s = stats[name]
        assert (str(s.first_day), str(s.last_day)) == (first, last)
        assert (s.peak_vix, str(s.peak_vix_date)) == (peak, peak_day)
        assert not s.partial
    text = format_report(full)
    for name, (first, last, _, _) in expected.items():
        assert f"{name}: {first}..{last}" in text


def test_episode_notes_quote_the_data():
    data = load_data()

    def close(day):
        i = int(np.searchsorted(data.dates, np.datetime64(day)))
        return data.spx_close[i], data.vix_close[i]

    assert close("2015-08-17")[0] == pytest.approx(2102.44, abs=0.005)
    assert close("2015-08-25")[0] == pytest.approx(1867.61, abs=0.005)
    assert close("2018-01-26")[0] == pytest.approx(2872.87, abs=0.005)
    assert close("2018-02-08")[0] == pytest.approx(2581.00, abs=0.005)
    assert (close("2018-02-02")[1], close("2018-02-05")[1]) == (17.31, 37.32)
    assert close("2018-10-01")[0] == pytest.approx(2924.59, abs=0.005)
    assert close("2018-12-24") == (pytest.approx(2351.10, abs=0.005), 36.07)
    assert close("2015-08-24")[1] == 40.74 == data.vix_close.max()
    for episode in EPISODES:
        assert episode.first <= episode.last and episode.sources


def test_episode_pnl_is_the_equity_difference(short):
    (stats,) = short.episodes()
    assert stats.episode.name == "Aug 2015"
    first, last = stats.first_tick, stats.last_tick
    assert str(short.dates[first]) == "2015-08-17"
    for run, p in zip(short.policies, stats.policies, strict=True):
        equity = run.series["equity"]
        assert p.pnl == equity[last] - equity[first - 1]
        assert p.equity_before == equity[first - 1]
        assert p.hedge_spend == pytest.approx(run.series["hedge_spend"][last]
                                              - run.series["hedge_spend"][first - 1])
        assert p.trough == pytest.approx(equity[first:last + 1].min() - equity[first - 1])


def test_episode_cut_by_the_window_is_partial(calibrated):
    result = replay(calibrated, ["none"], "2015-09-01", "2015-11-30")
    (stats,) = result.episodes()
    assert stats.partial and str(stats.first_day) == "2015-09-01"
    equity = result.policies[0].series["equity"]
    assert stats.policies[0].pnl == equity[stats.last_tick] - result.policies[0].initial_cash


def test_narration_uses_the_ledger(short):
    (stats,) = short.episodes()
    lines = narration(stats, short)
    assert len(lines) == len(POLICIES)
    for line, p in zip(lines, stats.policies, strict=True):
        assert line.startswith(p.policy)
        assert f"${abs(p.pnl):,.0f}" in line
    static = lines[POLICIES.index("static-vix")]
    assert "L1 (vix_call): opened 2015-08-20" in static


# --------------------------------------------------------------------------- window
@pytest.mark.parametrize(("start", "end", "message"), [
    ("2013-12-20", None, "--start 2013-12-20 is outside the replay data"),
    ("2013-06-03", "2014-06-02", "--start 2013-06-03 is outside the replay data"),
    (None, "2019-01-09", "--end 2019-01-09 is outside the replay data"),
    ("2015-02-30", None, "is not a date"),
    ("15-01-02", None, "is not a date"),
    ("2015-03-02", "2015-02-02", "is after --end"),
    ("2015-01-03", "2015-01-04", "holds 0 trading day(s)"),
])
def test_bad_windows_are_refused(start, end, message):
    with pytest.raises(ReplayError, match=re.escape(message)):
        window_indices(start, end)


def test_dates_a_few_days_outside_move_to_the_data():
    data = load_data()
    days = data.dates[window_indices("2014-01-02", "2019-01-02")]
    assert [str(d) for d in days[[0, -1]]] == ["2014-01-03", "2018-12-31"]


def test_weekend_bounds_keep_the_days_inside():
    data = load_data()
    days = data.dates[window_indices("2015-01-03", "2015-01-11")]
    assert [str(d) for d in days[[0, -1]]] == ["2015-01-05", "2015-01-09"]


@pytest.mark.parametrize("argv", [
    ["replay", "--start", "2013-12-20"],
    ["replay", "--end", "2019-01-09"],
    ["replay", "--start", "2015/01/05"],
    ["replay", "--start", "2015-01-05", "--end", "2015-02-05", "--policies", "nope"],
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("alvh: error: ")
    if "nope" not in argv:
        assert "allowed: " in err and "2014-01-03..2018-12-31" in err


def test_cli_replay_prints_tables_and_writes_files(tmp_path, capsys):
    out = tmp_path / "replay"
    assert main(["replay", "--start", "2015-08-03", "--end", "2015-09-04", "--policies",
                 "none", "static-vix", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "per policy, whole window" in text and "Aug 2015: 2015-08-17..2015-09-04" in text
    assert "cut by the window" in text
    names = sorted(p.name for p in out.iterdir())
    assert names == ["episodes.csv", "replay.html", "series-none.csv", "series-static-vix.csv",
                     "summary.csv"]


# --------------------------------------------------------------------------- outputs
def test_outputs_hold_every_figure_and_the_episode_table(short, tmp_path):
    files = write_outputs(short, tmp_path)
    assert {p.name for p in files} == {"series-none.csv", "series-static-vix.csv",
                                       "series-alvh.csv", "summary.csv", "episodes.csv",
                                       "replay.html"}
    page = (tmp_path / "replay.html").read_text(encoding="utf-8")
    for fig_id in (*FIGURE_IDS, "fig-episode-1"):
        match = re.search(rf'<img id="{fig_id}" alt="[^"]*" src="data:image/png;base64,'
                          r'([A-Za-z0-9+/=]+)"', page)
        assert match, fig_id
        assert base64.b64decode(match.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert 'id="episode-table-1"' in page and "Aug 2015" in page
    for line in narration(short.episodes()[0], short):
        assert html.escape(line) in page
    # Self-contained: no scripts, no links out.
    assert "<script" not in page and "http://" not in page and "https://" not in page
    # The CSVs hold the ledger's numbers.
    episodes = pd.read_csv(tmp_path / "episodes.csv")
    assert list(episodes["policy"]) == list(POLICIES)
    for run in short.policies:
        series = pd.read_csv(tmp_path / f"series-{run.name}.csv")
        assert list(series["date"]) == [str(d) for d in short.dates]
        np.testing.assert_array_equal(series["equity"].to_numpy(), run.series["equity"])
        row = episodes[episodes["policy"] == run.name].iloc[0]
        first = short.episodes()[0].first_tick
        last = short.episodes()[0].last_tick
        assert row["pnl_usd"] == series["equity"][last] - series["equity"][first - 1]


def test_replay_is_deterministic(short, calibrated, tmp_path):
    again = replay(calibrated, POLICIES, *SHORT)
    for one, two in zip(short.policies, again.policies, strict=True):
        for name, values in one.series.items():
            np.testing.assert_array_equal(values, two.series[name], err_msg=name)
        # Bytes, since NaT (the expiry of a skip row) never compares equal.
        assert one.trades.tobytes() == two.trades.tobytes()
    assert format_report(short) == format_report(again)
    first = write_outputs(short, tmp_path / "a")
    second = write_outputs(again, tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_full_window_with_policy_none(full):
    (run,) = full.policies
    assert full.dates.size == 1257
    assert np.isfinite(run.series["equity"]).all()
    assert run.totals["n_condors"] > 50
    assert len(full.episodes()) == 3
