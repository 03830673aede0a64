"""sim.invariants: real runs pass every invariant, and each invariant catches a violation.

A violation is made by tampering with a copy of a finished result (its
ledger rows, the recorder's notes) or by checking it against stricter rules
than the run used; the originals are never changed. The property tests run
the shipped policies and generated policies over generated markets, with few
examples and derandomized, so that the suite is quick and stable
(``alvh check --seed`` explores further).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from scenarios.policy_loader import load_policy, loads_policy
from sim.check import check_case, market_of_run
from sim.config import AccountSpec, CondorSpec, MarketModel, Scenario, SimulationSpec
from sim.engine import simulate
from sim.invariants import (
    INVARIANTS,
    InvariantError,
    Recorder,
    check_accounting,
    check_all,
    check_budget,
    check_flat_after_expiry,
    check_layer_order,
    check_max_loss,
    check_no_arbitrage,
    check_no_naked_shorts,
    check_quick_ratio,
    check_same_result,
    simulate_recorded,
)
from sim.metrics import path_results
from sim.policy import Budget, Liquidity
from sim.testing import strategies as alvh_st

SHIPPED = ("none", "static-vix", "alvh", "alvh-credit-first", "alvh-entries", "active")
OPTION_INSTRUMENTS = ("vix_call", "vix_call_spread", "spx_put_spread", "spx_credit_spread")

#: Every option layer always on, big enough to trade whole contracts.
ALL_OPTION_LAYERS = """
name = "every-option-layer"
description = "each option instrument, always on"
[budget]
max_share = 2.0
[liquidity]
min_quick_ratio = 1.2
[[layers]]
name = "L1"
instrument = "vix_call"
size = 0.3
[layers.trigger]
[[layers.trigger.conditions]]
signal = "vix"
on = 0.0
[[layers]]
name = "L2"
role = "acceleration"
instrument = "vix_call_spread"
long_offset = 1.0
short_offset = 6.0
min_dte = 14
size = 0.5
[layers.trigger]
[[layers.trigger.conditions]]
signal = "vix"
on = 0.0
[[layers]]
name = "L3"
role = "defense"
instrument = "spx_put_spread"
size_basis = "notional"
size = 0.2
[layers.trigger]
[[layers.trigger.conditions]]
signal = "vix"
on = 0.0
[[layers]]
name = "L4"
role = "defense"
instrument = "spx_credit_spread"
side = "put"
spread_width = 25
size = 0.5
[layers.trigger]
[[layers.trigger.conditions]]
signal = "vix"
on = 0.0
"""


@pytest.fixture(scope="module")
def case():
    """A volatile market, a $1M account, and a condor big enough to hedge."""
    return Scenario(
        "invariants", "test", account=AccountSpec(1_000_000.0),
        market=MarketModel(variance0=0.05, theta=0.05, xi=0.9, jump_intensity=3.0),
        condor=CondorSpec(risk_budget=0.25, max_contracts=50),
        simulation=SimulationSpec(n_days=45, n_paths=16, batch_size=16, seed=11),
        source="<string>")


@pytest.fixture(scope="module")
def policy():
    return loads_policy(ALL_OPTION_LAYERS)


@pytest.fixture(scope="module")
def result(case, policy):
    spec = case.simulation
    return simulate_recorded(case, market_of_run(case, spec.seed, spec.n_paths), policy)


# ------------------------------------------------------------------ helpers
class _Rows:
    """A ledger stand-in holding given rows."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def records(self) -> np.ndarray:
        return self.rows


def with_rows(result, rows):
    """A copy of ``result`` whose ledger holds ``rows`` (the original is untouched)."""
    book = copy.copy(result.book)
    book.ledger = _Rows(rows)
    return dataclasses.replace(result, book=book)


def with_recorder(result, **changes):
    """A copy of ``result`` whose recorder has some attributes replaced."""
    agents = []
    for agent in result.agents:
        if isinstance(agent, Recorder):
            agent = copy.copy(agent)
            for name, value in changes.items():
                setattr(agent, name, value)
        agents.append(agent)
    return dataclasses.replace(result, agents=agents)


def rows_of(result) -> np.ndarray:
    return result.book.ledger.records().copy()


def first(rows, **where) -> int:
    mask = np.ones(rows.size, dtype=bool)
    for column, value in where.items():
        mask &= rows[column] == value
    found = np.flatnonzero(mask)
    assert found.size, f"no ledger row with {where}"
    return int(found[0])


# ---------------------------------------------------------- real runs pass
def test_a_run_with_every_option_layer_passes_every_invariant(result, case, policy):
    checked = check_all(result, case, policy)
    assert set(checked) == set(INVARIANTS) - {"same seed, same result"}
    assert all(count > 0 for count in checked.values()), checked
    rows = result.book.ledger.records()
    for layer in ("L1", "L2", "L3", "L4"):
        assert f"{layer} open" in rows["reason"], layer


def test_the_recorder_changes_nothing(case, policy):
    spec = case.simulation
    market = market_of_run(case, spec.seed, spec.n_paths)
    plain = simulate(case, market, policy.agent_factories())
    recorded = simulate_recorded(case, market, policy)
    a, b = path_results(plain), path_results(recorded)
    for column in a:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)
    assert plain.book.ledger.records().tobytes() == recorded.book.ledger.records().tobytes()
    assert check_same_result(plain, recorded) == spec.n_paths


def test_checks_that_need_the_recorder_say_so(case, policy):
    spec = case.simulation
    plain = simulate(case, market_of_run(case, spec.seed, spec.n_paths),
                     policy.agent_factories())
    with pytest.raises(ValueError, match="simulate_recorded"):
        check_quick_ratio(plain, policy)
    assert check_max_loss(plain) > 0          # ledger-only checks still run
    with pytest.raises(ValueError, match="unknown invariants"):
        check_all(plain, case, policy, skip=("no such invariant",))


# ------------------------------------------------------- each one catches
def test_accounting_catches_an_unexplained_equity_change(result):
    carry = result.agents[-1].carry.copy()
    carry[7, 3] += 25.0
    with pytest.raises(InvariantError, match=r"accounting identity broken on path 3 at tick 7: "
                                             r"equity change .* != leg P&L"):
        check_accounting(with_recorder(result, carry=carry))


def test_accounting_catches_a_ledger_that_disagrees_with_the_book(result):
    rows = rows_of(result)
    k = first(rows, action="open", path=2)
    rows["cost"][k] += 10.0
    with pytest.raises(InvariantError, match=r"on path 2 .*ledger costs .* != book costs"):
        check_accounting(with_rows(result, rows))
    rows = rows_of(result)
    slot, path = (int(x[0]) for x in np.nonzero(result.book.active))
    k = int(np.flatnonzero((rows["action"] == "open") & (rows["slot"] == slot)
                           & (rows["path"] == path))[-1])
    rows["quantity"][k] += 1.0
    with pytest.raises(InvariantError, match=rf"on path {path} .*slot {slot}: the ledger "
                                             r"replays to .* contracts"):
        check_accounting(with_rows(result, rows))
    rows = rows_of(result)
    k = first(rows, action="close", path=6)
    rows["cash_flow"][k] += 100.0
    with pytest.raises(InvariantError, match=r"on path 6 .*P&L .* != carry .* - costs .* \+ "
                                             r"option cash flows at mid"):
        check_accounting(with_rows(result, rows))


def test_max_loss_catches_a_condor_that_lost_more_than_wing_minus_credit(result):
    rows = rows_of(result)
    k = first(rows, path=1, slot=1, action="settle") if np.any(
        (rows["path"] == 1) & (rows["slot"] == 1) & (rows["action"] == "settle")) else first(
        rows, path=1, slot=1, action="close")
    rows["cash_flow"][k] -= 1e6          # paid a million more to get out of the short put
    with pytest.raises(InvariantError, match=r"max-loss bound broken on path 1 at tick \d+: "
                                             r"condor opened at tick \d+ lost .* > \(wing "
                                             r"width 50"):
        check_max_loss(with_rows(result, rows))


def test_max_loss_catches_a_hedge_that_lost_more_than_its_premium(result):
    rows = rows_of(result)
    opened = first(rows, action="open", reason="L1 open")
    exits = np.flatnonzero((rows["position_id"] == rows["position_id"][opened])
                           & (rows["path"] == rows["path"][opened])
                           & np.isin(rows["action"], ("close", "settle")))
    assert exits.size
    rows["cash_flow"][exits[0]] = -1e5    # a long VIX call that cost $100,000 to sell
    path = int(rows["path"][opened])
    with pytest.raises(InvariantError, match=rf"max-loss bound broken on path {path} .*layer "
                                             r"L1 order .* its max loss at entry"):
        check_max_loss(with_rows(result, rows))


def test_budget_catches_spend_over_the_cap(result, policy):
    tighter = dataclasses.replace(policy, budget=Budget(max_share=0.01))
    with pytest.raises(InvariantError, match=r"hedge budget cap broken on path \d+ at tick \d+:"
                                             r" hedge spend .* > 0.01 x premium collected"):
        check_budget(result, tighter)
    rows = rows_of(result)
    k = first(rows, action="open", reason="L2 open")
    rows["cost"][k] += 1e6
    with pytest.raises(InvariantError, match=r"hedge budget cap broken .*after L2 open"):
        check_budget(with_rows(result, rows), policy)


def test_quick_ratio_catches_an_opening_below_the_floor(result, policy):
    stricter = dataclasses.replace(policy, liquidity=Liquidity(min_quick_ratio=500.0))
    with pytest.raises(InvariantError, match=r"quick-ratio floor broken on path \d+ at tick "
                                             r"\d+: after L\d (open|roll): cash .* / margin .* = "
                                             r"quick ratio .* < floor 500"):
        check_quick_ratio(result, stricter)


def test_layer_order_catches_a_layer_opened_before_the_one_it_requires(case):
    # L1 never fires; L2 always does: fine as run, wrong if L2 required L1.
    free = loads_policy(ALL_OPTION_LAYERS.replace('signal = "vix"\non = 0.0',
                                                  'signal = "vix"\non = 1000.0', 1))
    spec = case.simulation
    run = simulate_recorded(case, market_of_run(case, spec.seed, spec.n_paths), free)
    assert check_layer_order(run, free) > 0
    layers = list(free.layers)
    layers[1] = dataclasses.replace(layers[1], requires=("L1",))
    with pytest.raises(InvariantError, match=r"layer order broken on path \d+ at tick \d+: L2 "
                                             r"\(role acceleration\) opened while L1 "
                                             r"\(required\) was flat"):
        check_layer_order(run, dataclasses.replace(free, layers=tuple(layers)))
    layers[1] = dataclasses.replace(layers[1], requires=(), role="leverage")
    with pytest.raises(InvariantError, match=r"L2 \(role leverage\) opened while L1 \(leverage "
                                             r"layer needs the first base layer\) was flat"):
        check_layer_order(run, dataclasses.replace(free, layers=tuple(layers)))


def test_layer_order_catches_a_hedge_opened_while_the_condor_is_flat(result, policy):
    rows = rows_of(result)
    k = first(rows, action="open", reason="L1 open")
    path = int(rows["path"][k])
    condor_rows = np.flatnonzero((rows["path"] == path) & (rows["slot"] < 4)
                                 & (np.arange(rows.size) < k))
    with pytest.raises(InvariantError, match=rf"layer order broken on path {path} .*traded "
                                             r"while the condor was flat"):
        check_layer_order(with_rows(result, np.delete(rows, condor_rows)), policy)


def test_naked_shorts_catches_a_short_option_without_its_wing(result):
    rows = rows_of(result)
    k = first(rows, action="open", reason="entry", slot=0, path=5)    # the long put
    tick = int(rows["tick"][k])
    with pytest.raises(InvariantError, match=rf"no naked shorts broken on path 5 at tick "
                                             rf"{tick}: condor is short \d+ SPX puts expiring "
                                             r".* but long only 0"):
        check_no_naked_shorts(with_rows(result, np.delete(rows, k)))


def test_flat_after_expiry_catches_a_leg_held_past_its_expiry(result):
    rows = rows_of(result)
    k = first(rows, action="settle")
    path, tick = int(rows["path"][k]), int(rows["tick"][k])
    with pytest.raises(InvariantError, match=rf"flat after expiry broken on path {path} at "
                                             rf"tick {tick}: .* expired on"):
        check_flat_after_expiry(with_rows(result, np.delete(rows, k)))


def test_no_arbitrage_catches_prices_outside_their_bounds(result):
    rows = rows_of(result)
    k = first(rows, action="open", instrument="spx_option", is_call=True)
    rows["price"][k] = 1e6
    with pytest.raises(InvariantError, match=r"no-arbitrage prices broken on path \d+ at tick "
                                             r"\d+: SPX call strike .* priced 1000000.000000 "
                                             r"outside \["):
        check_no_arbitrage(with_rows(result, rows))
    rows = rows_of(result)
    k = first(rows, action="open", instrument="vix_option")
    rows["price"][k] = -0.5
    with pytest.raises(InvariantError, match=r"VIX call strike .* priced -0.500000 outside"):
        check_no_arbitrage(with_rows(result, rows))
    rows = rows_of(result)
    k = first(rows, action="settle", instrument="spx_option")
    rows["price"][k] += 1.0
    with pytest.raises(InvariantError, match=r"settled at .*, intrinsic value is"):
        check_no_arbitrage(with_rows(result, rows))


def test_no_arbitrage_catches_a_vertical_spread_outside_zero_and_its_width(result):
    rows = rows_of(result)
    long_put = first(rows, action="open", reason="entry", slot=0)
    short_put = first(rows, action="open", reason="entry", slot=1, path=int(rows["path"][
        long_put]), tick=int(rows["tick"][long_put]))
    # The lower-strike put dearer than the higher one: a put spread worth less than 0.
    rows["price"][long_put] = rows["price"][short_put] + 0.5
    with pytest.raises(InvariantError, match=r"SPX puts expiring .*: strike .* a vertical "
                                             r"spread worth -0.5"):
        check_no_arbitrage(with_rows(with_recorder(result, marks=[]), rows))


def test_same_seed_same_result_catches_any_difference(case, policy):
    spec = case.simulation
    market = market_of_run(case, spec.seed, spec.n_paths)
    a = simulate_recorded(case, market, policy)
    b = simulate_recorded(case, market_of_run(case, spec.seed, spec.n_paths), policy)
    assert check_same_result(a, b) == spec.n_paths
    other = simulate_recorded(case, market_of_run(case, spec.seed + 1, spec.n_paths), policy)
    with pytest.raises(InvariantError, match=r"same seed, same result broken on path 0: the "
                                             r"two runs drew different market paths"):
        check_same_result(a, other)
    rows = rows_of(b)
    k = rows.size // 2
    rows["price"][k] += 1e-12
    with pytest.raises(InvariantError, match=rf"ledger row {k} differs in price"):
        check_same_result(a, with_rows(b, rows))


# ------------------------------------------- a bug found by "no naked shorts"
NAKED_FUTURES = """
name = "futures-spread"
description = "a VIX futures spread layer, always on"
[[layers]]
name = "L1"
instrument = "vix_future_spread"
min_dte = 7
max_dte = 60
size_basis = "notional"
size = 0.05
profit_target = 0.0
unwind_vix_below_entry = false
unwind_on_clear = false
[layers.trigger]
[[layers.trigger.conditions]]
signal = "vix"
on = 0.0
"""


def test_a_futures_spread_layer_never_holds_a_naked_short_future():
    # Found by this invariant: the layer's expiry was its LAST leg's, so a futures
    # spread rolled roll_dte days before its back month and held a naked short VIX
    # future after the front one settled (sim/agents/alvh.py, now its first leg's).
    scenario = Scenario("t", "t", account=AccountSpec(1_000_000.0), source="<string>",
                        simulation=SimulationSpec(n_days=20, n_paths=4, batch_size=4, seed=0))
    result = simulate_recorded(scenario, market_of_run(scenario, 0, 4),
                               loads_policy(NAKED_FUTURES))
    check_no_naked_shorts(result)


# --------------------------------------------------------- property tests
SIM_SETTINGS = settings(max_examples=3, deadline=None, derandomize=True, database=None,
                        suppress_health_check=[HealthCheck.too_slow,
                                               HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("name", SHIPPED)
@SIM_SETTINGS
@given(scenario=alvh_st.scenarios())
def test_shipped_policies_keep_every_invariant_on_generated_markets(name, scenario):
    report = check_case(scenario, load_policy(name))
    assert report.checked["accounting identity"] == report.n_paths * report.ticks


@settings(SIM_SETTINGS, max_examples=8)
@given(scenario=alvh_st.scenarios(),
       policy=alvh_st.policies(instruments=OPTION_INSTRUMENTS))
def test_generated_option_policies_keep_every_invariant(scenario, policy):
    check_case(scenario, policy)


@settings(SIM_SETTINGS, max_examples=3)
@given(scenario=alvh_st.scenarios(), policy=alvh_st.policies(max_layers=2))
def test_generated_policies_with_futures_spreads_keep_every_invariant(scenario, policy):
    check_case(scenario, policy)
