"""Shared fixtures of the pricing tests."""

import numpy as np
import pytest

from pricing import (
    black76_greeks,
    black76_price,
    bs_greeks,
    bs_price,
    implied_vol,
    implied_vol_black76,
    smile_vol,
)


@pytest.fixture(scope="session", autouse=True)
def warm_pricing_kernels() -> None:
    """Compile (or load from the numba cache) every pricing kernel once per session."""
    spot = np.array([100.0, 100.0])
    is_call = np.array([True, False])
    price = bs_price(spot, 100.0, 0.5, 0.02, 0.01, 0.2, is_call)
    bs_greeks(spot, 100.0, 0.5, 0.02, 0.01, 0.2, is_call)
    implied_vol(price, spot, 100.0, 0.5, 0.02, 0.01, is_call)
    futures_price = black76_price(spot, 100.0, 0.5, 0.02, 0.2, is_call)
    black76_greeks(spot, 100.0, 0.5, 0.02, 0.2, is_call)
    implied_vol_black76(futures_price, spot, 100.0, 0.5, 0.02, is_call)
    smile_vol(spot, 100.0, 0.5, 0.2, -0.1, 0.05, 3.0, 0.05, 2.0)
