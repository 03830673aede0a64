"""The path generator gives only finite numbers over the whole valid parameter space.

Scenarios are drawn with every field inside the range ``sim.config`` declares
(the loader's own check), regime chains, events and breadth included, and
generated through ``sim.shards.block_market``, the runner's entry. Spot,
variance, VIX and breadth must be finite, the variance and the VIX never
negative - with the Feller condition broken, huge joint jumps, no diffusive
variance at all, and every regime switching between such extremes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config import EventSpec, MarketModel, RegimeChain, RegimeParams, Scenario
from sim.shards import ShardLayout, block_market
from tests.scenarios.strategies import scenarios

# sim.config bounds spot0 below only: beyond ~1e300 index points the first up move
# overflows the float range. The draws stay under this (a realistic cap, far above
# any index level); the missing upper bound is reported, not tested.
MAX_SPOT0 = 1e12
N_DAYS = 40


def check_finite(scenario: Scenario, seed: int, n_paths: int = 12) -> None:
    market = block_market(scenario, seed, ShardLayout.plan(n_paths, 256), 0)
    for name in ("spot", "variance", "vix", "net_advances", "ad_line"):
        values = getattr(market, name)
        assert np.isfinite(values).all(), (name, values[~np.isfinite(values)][:5])
    assert (market.spot > 0.0).all()   # ln S never reaches -inf: no return is undefined
    assert (market.variance >= 0.0).all() and (market.vix >= 0.0).all()
    assert (np.abs(market.net_advances) <= 1.0).all()


def short(scenario: Scenario) -> Scenario:
    market = dataclasses.replace(scenario.market, spot0=min(scenario.market.spot0, MAX_SPOT0))
    return dataclasses.replace(scenario, market=market, simulation=dataclasses.replace(
        scenario.simulation, n_days=N_DAYS))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 2**63 - 1))
def test_any_valid_scenario_generates_finite_paths(scenario, seed):
    check_finite(short(scenario), seed)


def _scenario(**market) -> Scenario:
    return Scenario(name="extreme", description="x", market=MarketModel(**market))


EXTREMES = {
    # 2 kappa theta = 0.002 << xi^2 = 25: the variance sits at 0 most of the time.
    "feller broken": dict(kappa=0.1, theta=0.01, xi=5.0, rho=-1.0, variance0=0.0),
    "feller broken, fast": dict(kappa=100.0, theta=1e-6, xi=5.0, rho=1.0, variance0=4.0),
    "no mean reversion": dict(kappa=0.0, theta=4.0, xi=5.0, variance0=4.0),
    "huge crash jumps": dict(jump_intensity=252.0, jump_variance_mean=4.0, jump_spot_mean=-1.0,
                             jump_spot_std=1.0, jump_spot_per_variance=-20.0),
    # b m = 0.9995: E[e^J] = 2000 e^{1.5}, the largest compensator the rules allow.
    "huge rally jumps": dict(jump_intensity=252.0, jump_variance_mean=0.05, jump_spot_mean=1.0,
                             jump_spot_std=1.0, jump_spot_per_variance=19.99),
    "no variance at all": dict(variance0=0.0, theta=0.0, xi=0.0, jump_intensity=0.0),
    "vol of variance at the deterministic switch": dict(xi=1e-6, variance0=1e-300),
    "vol of variance just below it": dict(xi=9.99e-7, theta=5e-324, kappa=100.0),
    "subnormal everything": dict(variance0=5e-324, theta=5e-324, xi=5e-324, kappa=5e-324,
                                 jump_intensity=5e-324, jump_variance_mean=5e-324),
    "largest premium": dict(kappa=100.0, vol_risk_premium=99.999999, theta=4.0),
    "tiny and huge spot": dict(spot0=5e-324, equity_premium=2.0, rate=0.5),
}


@pytest.mark.parametrize("case", list(EXTREMES))
def test_extreme_markets_generate_finite_paths(case):
    check_finite(dataclasses.replace(_scenario(**EXTREMES[case]), simulation=dataclasses.replace(
        Scenario(name="x", description="x").simulation, n_days=N_DAYS)), seed=11, n_paths=64)


def test_regimes_switching_between_extremes_with_event_jumps():
    names = tuple(EXTREMES)[:5]
    n = len(names)
    transition = tuple(tuple(0.5 if i == j else 0.5 / (n - 1) for j in range(n))
                       for i in range(n))
    params = tuple(RegimeParams(name=name, **{k: v for k, v in EXTREMES[name].items()
                                               if k != "variance0"}) for name in names)
    market = MarketModel(
        regimes=RegimeChain(names=names, transition=transition, initial="stationary",
                            params=params),
        events=EventSpec(fomc_spot_std=0.5, fomc_variance_jump=4.0, cpi_spot_std=0.5,
                         cpi_variance_jump=4.0, ppi_spot_std=0.5, ppi_variance_jump=4.0))
    scenario = Scenario(name="switching", description="x", market=market)
    scenario = dataclasses.replace(scenario, simulation=dataclasses.replace(
        scenario.simulation, n_days=120))
    check_finite(scenario, seed=3, n_paths=64)
