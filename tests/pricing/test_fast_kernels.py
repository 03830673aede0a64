"""Scalar helpers of the fast kernels: the same numbers as the general functions."""

from __future__ import annotations

import numpy as np
from numba import njit

from pricing.black import bs_delta_one, bs_greeks_one
from pricing.vol_table import _LINEAR, DEFAULT_X_GRID, _bracket


@njit(cache=True)
def _deltas(S, K, T, r, q, sigma, is_call):
    fast = np.empty(S.shape[0])
    full = np.empty(S.shape[0])
    for i in range(S.shape[0]):
        fast[i] = bs_delta_one(S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i])
        full[i] = bs_greeks_one(S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i])[0]
    return fast, full


def test_delta_alone_is_the_delta_of_all_greeks():
    rng = np.random.default_rng(0)
    n = 50_000
    # Ordinary and degenerate inputs: zero and infinite vol and time, zero spot
    # and strike, NaN.
    S = rng.choice([0.0, 100.0, 5000.0, np.nan], n, p=[0.02, 0.1, 0.86, 0.02])
    S = S * rng.uniform(0.9, 1.1, n)
    K = rng.choice([0.0, 5000.0, np.nan], n, p=[0.02, 0.96, 0.02]) * rng.uniform(0.5, 1.5, n)
    T = rng.choice([0.0, 0.1, np.inf], n, p=[0.05, 0.9, 0.05]) * rng.uniform(0.0, 2.0, n)
    sigma = rng.choice([0.0, 0.3, np.inf], n, p=[0.05, 0.9, 0.05]) * rng.uniform(0.0, 2.0, n)
    r = rng.uniform(-0.01, 0.08, n)
    q = rng.uniform(0.0, 0.03, n)
    with np.errstate(all="ignore"):
        fast, full = _deltas(S, K, T, r, q, sigma, rng.random(n) < 0.5)
    np.testing.assert_array_equal(fast, full)


@njit(cache=True)
def _brackets(grid, values, scale):
    index = np.empty(values.shape[0], dtype=np.int64)
    weight = np.empty(values.shape[0])
    for k in range(values.shape[0]):
        index[k], weight[k] = _bracket(grid, values[k], scale)
    return index, weight


def test_linear_bracket_is_the_binary_search_bracket():
    rng = np.random.default_rng(1)
    for grid in (np.ascontiguousarray(DEFAULT_X_GRID, dtype=np.float64),
                 np.sort(rng.uniform(-3.0, 5.0, 30)), np.geomspace(0.01, 3.0, 12),
                 np.array([0.0, 1.0])):
        values = np.concatenate([rng.uniform(grid[0] - 1.0, grid[-1] + 1.0, 20_000), grid,
                                 np.nextafter(grid, np.inf), np.nextafter(grid, -np.inf),
                                 [np.nan, np.inf, -np.inf]])
        index, weight = _brackets(grid, values, _LINEAR)
        inside = (values > grid[0]) & (values < grid[-1])
        expected = np.searchsorted(grid, values, side="right") - 1
        np.testing.assert_array_equal(index[inside], expected[inside])
        lo, hi = grid[expected[inside]], grid[expected[inside] + 1]
        np.testing.assert_array_equal(weight[inside], (values[inside] - lo) / (hi - lo))
