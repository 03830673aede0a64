"""Shared fixtures of the market tests: numba kernels are compiled (or loaded
from the cache) once per session, so no test pays for compilation."""

import dataclasses

import numpy as np
import pytest

from sim.config import MarketModel
from sim.market import generate
from tests.market.models import four_regime_model


@pytest.fixture(scope="session", autouse=True)
def _warm_kernels() -> None:
    """Run every kernel once: the QE branch, the deterministic branch, the VIX,
    regimes, events and breadth."""
    rng = np.random.default_rng(0)
    generate(MarketModel(), 2, 2, 1 / 252, rng)
    generate(dataclasses.replace(MarketModel(), xi=0.0), 2, 2, 1 / 252, rng)
    generate(four_regime_model(), 2, 2, 1 / 252, rng)
