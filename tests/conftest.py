"""Shared fixtures: small scenarios and market batches (hundreds of paths)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.config import Scenario, SimulationSpec
from sim.market import generate

DT = 1.0 / 252.0


def small_scenario(n_days: int = 80, **sections) -> Scenario:
    """The built-in defaults on a short horizon, with sections replaced by keyword."""
    scenario = Scenario(name="test", description="test scenario",
                        simulation=SimulationSpec(n_days=n_days, n_paths=200, batch_size=200))
    return dataclasses.replace(scenario, **sections)


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """Default market, 80 daily ticks."""
    return small_scenario()


@pytest.fixture(scope="session")
def market(scenario):
    """300 paths of the default market over the scenario's horizon."""
    return generate(scenario.market, 300, scenario.simulation.n_days, DT,
                    np.random.default_rng(12345), start_date=scenario.simulation.start_date)
