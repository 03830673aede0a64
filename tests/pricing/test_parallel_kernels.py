"""The multi-threaded kernels of the public wrappers equal the serial ones bit for bit."""

import numba
import numpy as np
import pytest

from pricing import black

N = black.PARALLEL_MIN + 7


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(5)
    S = rng.uniform(0.0, 200.0, N)
    K = rng.uniform(-10.0, 200.0, N)
    T = rng.choice([0.0, 1e-9, 0.5, 3.0], N)
    r = rng.uniform(-0.01, 0.08, N)
    q = rng.uniform(0.0, 0.04, N)
    sigma = rng.choice([0.0, 1e-6, 0.2, 2.0, np.inf], N)
    S[::97] = np.nan
    return S, K, T, r, q, sigma, rng.random(N) < 0.5


def _serial(fn, *args):
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        numba.set_num_threads(threads)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread")
def test_parallel_equals_serial(inputs):
    S, K, T, r, _q, sigma, is_call = inputs
    np.testing.assert_array_equal(black.bs_price(*inputs), _serial(black.bs_price, *inputs))
    for a, b in zip(black.bs_greeks(*inputs), _serial(black.bs_greeks, *inputs), strict=True):
        np.testing.assert_array_equal(a, b)
    b76 = (S, K, T, r, sigma, is_call)
    np.testing.assert_array_equal(black.black76_price(*b76), _serial(black.black76_price, *b76))
    for a, b in zip(black.black76_greeks(*b76), _serial(black.black76_greeks, *b76),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_parallel_equals_scalar_kernel(inputs):
    S, K, T, r, q, sigma, is_call = inputs
    prices = black.bs_price(*inputs)
    for i in range(0, N, 1013):
        expected = black.bs_price_one(S[i], K[i], T[i], r[i], q[i], sigma[i], is_call[i])
        np.testing.assert_equal(prices[i], expected)


@pytest.mark.parametrize("name", ["S", "T", "sigma"])
def test_negative_input_raises_on_large_arrays(inputs, name):
    args = dict(zip(["S", "K", "T", "r", "q", "sigma", "is_call"], inputs, strict=True))
    bad = args[name].copy()
    bad[N - 3] = -1.5
    args[name] = bad
    with pytest.raises(ValueError, match=f"{name} must be >= 0, got -1.5"):
        black.bs_price(**args)
    with pytest.raises(ValueError, match=f"{name} must be >= 0, got -1.5"):
        black.bs_greeks(**args)


def test_caller_arrays_are_not_modified(inputs):
    copies = [a.copy() for a in inputs]
    black.bs_price(*inputs)
    for a, b in zip(inputs, copies, strict=True):
        np.testing.assert_array_equal(a, b)
