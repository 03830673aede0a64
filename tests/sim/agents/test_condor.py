"""Iron condor agent: strikes, sizing, exits and the max-loss bound."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing import bs_greeks
from sim.agents.condor import CondorAgent, first_expiry_on_or_after
from sim.config import MarketModel
from sim.engine import MarketView, simulate
from sim.instruments import SPX_MULTIPLIER, SpxPricer
from sim.market import generate

from ...conftest import small_scenario


def condor_rounds(ledger_rows):
    """Per (path, position_id): realized cash, costs, credit and contracts of closed condors."""
    out = []
    keys = np.unique(ledger_rows[["path", "position_id"]])
    for key in keys:
        rows = ledger_rows[(ledger_rows["path"] == key["path"])
                           & (ledger_rows["position_id"] == key["position_id"])]
        opened = rows[rows["action"] == "open"]
        exits = rows[rows["action"] != "open"]
        if len(exits) < len(opened):
            continue  # still open at the end of the run
        contracts = np.abs(opened["quantity"]).max()
        credit = -(opened["quantity"] * opened["price"]).sum() / contracts
        out.append(dict(path=int(key["path"]), realized=rows["cash_flow"].sum(),
                        costs=rows["cost"].sum(), credit=credit, contracts=contracts,
                        width=opened["strike"][1] - opened["strike"][0]))
    return out


def test_first_expiry_is_a_friday_on_or_after():
    day = int(np.datetime64("2025-01-02", "D").astype(np.int64))  # a Thursday
    fri = first_expiry_on_or_after(day)
    assert np.datetime64(fri, "D") == np.datetime64("2025-01-03")
    assert first_expiry_on_or_after(fri) == fri


def test_short_strikes_sit_at_the_target_delta_on_the_grid(scenario):
    spot = np.array([4000.0, 5000.0, 6123.0])
    variance = np.array([0.01, 0.04, 0.25])
    view = MarketView(tick=0, date=np.datetime64("2025-01-02"), day=20090, spot=spot,
                      variance=variance, vix=np.full(3, 20.0), is_last=False,
                      regime=np.zeros(3, dtype=np.int8))
    T = 35 / 365
    m = scenario.market
    pricer = SpxPricer(m, scenario.smile)
    for is_call in (False, True):
        K = pricer.strikes_for_delta(view, T, 0.16, is_call)
        assert np.all(K % 5 == 0)
        vols = pricer.vol(view, K, T)
        greeks = bs_greeks(spot, K, T, m.rate, m.dividend_yield, vols, is_call)
        # Rounding to the 5-point grid moves delta by at most gamma x 2.5 points
        # (plus the smile's own slope, small at this scale).
        assert np.all(np.abs(np.abs(greeks.delta) - 0.16) <= greeks.gamma * 2.5 * 1.5 + 1e-9)
        assert np.all(K < spot) if not is_call else np.all(K > spot)


def test_opens_condors_sized_by_risk_budget(scenario, market):
    batch = simulate(scenario, market, [CondorAgent])
    rows = batch.book.ledger.records()
    opened = rows[(rows["action"] == "open") & (rows["tick"] == 0)]
    assert len(opened) == 4 * market.n_paths  # every path opens at the first tick
    spec = scenario.condor
    for path in range(0, market.n_paths, 37):
        legs = opened[opened["path"] == path]
        strikes = legs["strike"]
        assert strikes[1] - strikes[0] == spec.wing_width == strikes[3] - strikes[2]
        assert strikes[1] < market.spot[0, path] < strikes[2]
        n = np.abs(legs["quantity"]).max()
        credit = -(legs["quantity"] * legs["price"]).sum() / n
        max_loss = (spec.wing_width - credit) * SPX_MULTIPLIER
        assert n == min(spec.max_contracts,
                        np.floor(spec.risk_budget * scenario.account.initial_cash / max_loss))
        dte = (legs["expiry"][0] - legs["date"][0]).astype(int)
        assert spec.dte_min <= dte <= spec.dte_max


STRESSED = MarketModel(variance0=0.09, theta=0.06, xi=1.2, jump_intensity=12.0,
                       jump_spot_mean=-0.04, jump_spot_std=0.05, jump_variance_mean=0.1)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), wing=st.sampled_from([10.0, 25.0, 50.0]),
       stop=st.floats(0.5, 50.0), exit_dte=st.integers(0, 6))
def test_realized_loss_never_exceeds_width_minus_credit_plus_costs(seed, wing, stop, exit_dte):
    base = small_scenario(n_days=60)
    scenario = dataclasses.replace(
        base, market=STRESSED,
        condor=dataclasses.replace(base.condor, wing_width=wing, stop_loss=stop,
                                   exit_dte=exit_dte, dte_min=7, dte_max=14,
                                   entry_interval=1))
    market = generate(scenario.market, 40, 60, 1 / 252, np.random.default_rng(seed))
    batch = simulate(scenario, market, [CondorAgent])
    rounds = condor_rounds(batch.book.ledger.records())
    assert rounds
    for r in rounds:
        bound = (r["width"] - r["credit"]) * SPX_MULTIPLIER * r["contracts"] + r["costs"]
        assert -r["realized"] <= bound + 1e-6, r


def test_profit_target_and_stop_exits_fire_with_their_reasons(scenario, market):
    tight = dataclasses.replace(scenario, condor=dataclasses.replace(
        scenario.condor, profit_target=0.1, stop_loss=0.2))
    batch = simulate(tight, market, [CondorAgent])
    reasons = set(batch.book.ledger.records()["reason"])
    assert {"entry", "profit_target", "stop_loss"} <= reasons
    stats = batch.agents[0].path_stats()
    closes = batch.book.ledger.records()
    n_close_orders = len(np.unique(closes[closes["action"] == "close"][["path", "position_id"]]))
    assert n_close_orders == stats["exits_profit_target"].sum() + stats["exits_stop_loss"].sum()


def test_exit_dte_closes_before_expiry(scenario, market):
    spec = dataclasses.replace(scenario.condor, exit_dte=21, profit_target=1.0, stop_loss=100.0)
    batch = simulate(dataclasses.replace(scenario, condor=spec), market, [CondorAgent])
    rows = batch.book.ledger.records()
    closes = rows[rows["reason"] == "exit_dte"]
    assert len(closes) > 0
    dte = (closes["expiry"] - closes["date"]).astype(int)
    assert np.all(dte <= 21)
    assert not np.any(rows["action"] == "settle")


@pytest.mark.parametrize("budget", [1e-6])
def test_no_trade_when_budget_buys_less_than_one_contract(scenario, market, budget):
    spec = dataclasses.replace(scenario.condor, risk_budget=budget)
    batch = simulate(dataclasses.replace(scenario, condor=spec), market, [CondorAgent])
    assert len(batch.book.ledger) == 0
    np.testing.assert_allclose(batch.book.margin, 0.0)


def test_distance_to_short_strikes_is_tracked(scenario, market):
    batch = simulate(scenario, market, [CondorAgent])
    condor, book = batch.agents[0], batch.book
    live = condor.is_open
    spot = market.spot[-1]
    # Open condors: positive distances where spot is between the shorts,
    # negative beyond a short strike, NaN where flat.
    inside = live & (spot > book.strike[1]) & (spot < book.strike[2])
    assert inside.any()
    assert np.all(condor.put_distance[inside] > 0) and np.all(condor.call_distance[inside] > 0)
    assert np.all(np.isnan(condor.put_distance[~live]))
    beyond = live & (spot < book.strike[1])
    assert np.all(condor.put_distance[beyond] < 0)
