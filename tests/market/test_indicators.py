"""Trading signals: plain-Python and pandas references, warm-up rows,
properties over random price arrays, and batch independence (bit-identical)."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.market import indicators
from sim.market.indicators import (
    ad_divergence,
    drift_rate,
    drift_to_strike,
    ema,
    macd,
    realized_implied_ratio,
    realized_vol,
    rolling_zscore,
    rsi,
    term_structure_slope,
)

# Kernels against references: different summation orders and formulas agree
# to rounding, many orders of magnitude inside this.
RTOL = 1e-10
ATOL = 1e-12


@pytest.fixture(scope="module", autouse=True)
def _warm_indicator_kernels() -> None:
    """Compile (or load from the cache) every kernel once for the module."""
    prices = 100.0 + np.arange(40.0).reshape(20, 2)
    rsi(prices, 3)
    macd(prices, 2, 3, 2)
    ema(prices, 3)
    realized_vol(prices, 3)
    rolling_zscore(prices, 3)
    ad_divergence(prices, prices, 3)
    drift_rate(prices, 3)


def random_walk(seed: int, n_ticks: int = 300, n_paths: int = 5, tick: float = 0.0) -> np.ndarray:
    """Geometric random walks from 100 with 1% daily moves, shape (n_ticks, n_paths).

    With ``tick > 0`` prices are rounded to that increment, so some changes are 0.
    """
    rng = np.random.default_rng(seed)
    steps = 0.01 * rng.standard_normal((n_ticks, n_paths))
    steps[0] = 0.0
    prices = 100.0 * np.exp(np.cumsum(steps, axis=0))
    return np.round(prices / tick) * tick if tick > 0.0 else prices


def leading_nan_rows(signal: np.ndarray) -> int:
    """Number of leading rows that are NaN on every path."""
    rows = np.isnan(signal).reshape(len(signal), -1).all(axis=1)
    return len(rows) if rows.all() else int(np.argmin(rows))


# ---------------------------------------------------------------------------
# Plain-Python references, one path (a list of floats) at a time
# ---------------------------------------------------------------------------


def rsi_reference(prices: list[float], n: int) -> list[float]:
    """Wilder (1978) as written: SMA seed, then (avg (n-1) + x) / n."""
    out = [math.nan] * len(prices)
    if len(prices) <= n:
        return out
    changes = [b - a for a, b in itertools.pairwise(prices)]
    gains = [max(c, 0.0) for c in changes]
    losses = [max(-c, 0.0) for c in changes]
    avg_gain = sum(gains[:n]) / n
    avg_loss = sum(losses[:n]) / n
    for t in range(n, len(prices)):
        if t > n:
            avg_gain = (avg_gain * (n - 1) + gains[t - 1]) / n
            avg_loss = (avg_loss * (n - 1) + losses[t - 1]) / n
        if avg_loss > 0.0:
            out[t] = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
        else:
            out[t] = 100.0 if avg_gain > 0.0 else 50.0
    return out


def ema_reference(x: list[float], span: int) -> list[float]:
    alpha = 2.0 / (span + 1.0)
    out = [x[0]]
    for value in x[1:]:
        out.append(alpha * value + (1.0 - alpha) * out[-1])
    return out


def realized_vol_reference(prices: list[float], window: int, per_year: float) -> list[float]:
    out = [math.nan] * len(prices)
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    for t in range(window, len(prices)):
        last = returns[t - window:t]
        out[t] = math.sqrt(per_year * sum(r * r for r in last) / window)
    return out


def zscore_reference(x: list[float], window: int) -> list[float]:
    out = [math.nan] * len(x)
    for t in range(window - 1, len(x)):
        last = x[t - window + 1:t + 1]
        stdev = statistics.stdev(last)
        if stdev > 0.0:
            out[t] = (x[t] - statistics.fmean(last)) / stdev
    return out


def per_path(reference, paths: np.ndarray, *args) -> np.ndarray:
    """Apply a one-path reference to every column."""
    return np.column_stack([reference(paths[:, p].tolist(), *args)
                            for p in range(paths.shape[1])])


# ---------------------------------------------------------------------------
# RSI
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 2, 14, 40])
@pytest.mark.parametrize("tick", [0.0, 0.25])
def test_rsi_matches_wilder_reference(window, tick):
    prices = random_walk(1, tick=tick)
    result = rsi(prices, window)
    np.testing.assert_allclose(result, per_path(rsi_reference, prices, window),
                               rtol=RTOL, atol=ATOL)
    assert leading_nan_rows(result) == window
    assert not np.isnan(result[window:]).any()


def test_rsi_bounds_and_extremes():
    prices = random_walk(2, tick=0.25)
    values = rsi(prices)[14:]
    assert ((values >= 0.0) & (values <= 100.0)).all()

    rising = 100.0 + np.arange(50.0)
    falling = rising[::-1].copy()
    flat = np.full(50, 100.0)
    assert (rsi(rising)[14:] == 100.0).all()
    assert (rsi(falling)[14:] == 0.0).all()
    assert (rsi(flat)[14:] == 50.0).all()


# ---------------------------------------------------------------------------
# EMA and MACD
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("span", [1, 5, 26])
def test_ema_matches_pandas_and_reference(span):
    x = random_walk(3)
    result = ema(x, span)
    expected = pd.DataFrame(x).ewm(span=span, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(result, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(result, per_path(ema_reference, x, span), rtol=RTOL, atol=ATOL)
    assert leading_nan_rows(result) == 0
    assert (result[0] == x[0]).all()


def test_macd_is_composed_from_ema_and_matches_pandas():
    prices = random_walk(4)
    line, signal, histogram = macd(prices, 12, 26, 9)
    composed_line = ema(prices, 12) - ema(prices, 26)
    composed_signal = ema(composed_line, 9)
    # The fused kernel does the same operations in the same order.
    np.testing.assert_array_equal(line, composed_line)
    np.testing.assert_array_equal(signal, composed_signal)
    np.testing.assert_array_equal(histogram, composed_line - composed_signal)

    frame = pd.DataFrame(prices)
    pandas_line = (frame.ewm(span=12, adjust=False).mean()
                   - frame.ewm(span=26, adjust=False).mean())
    pandas_signal = pandas_line.ewm(span=9, adjust=False).mean()
    np.testing.assert_allclose(line, pandas_line.to_numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(signal, pandas_signal.to_numpy(), rtol=RTOL, atol=ATOL)
    assert all(leading_nan_rows(a) == 0 for a in (line, signal, histogram))


def test_macd_of_a_constant_is_exactly_zero():
    for output in macd(np.full((60, 3), 4321.7)):
        assert (output == 0.0).all()


# ---------------------------------------------------------------------------
# Realized vol
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("window", "per_year"), [(1, 252), (20, 252), (60, 52.0)])
def test_realized_vol_matches_reference(window, per_year):
    prices = random_walk(5)
    result = realized_vol(prices, window, per_year)
    np.testing.assert_allclose(result, per_path(realized_vol_reference, prices, window, per_year),
                               rtol=RTOL, atol=ATOL)
    assert leading_nan_rows(result) == window
    assert not np.isnan(result[window:]).any()


def test_realized_vol_of_gbm_recovers_sigma():
    # Daily GBM, sigma = 20%, 400 paths; one 252-return window per path.
    # Per path, rv^2 = 252/n sum r^2 has stdev sigma^2 sqrt(2/n) (r normal;
    # the drift's share, (sigma^2/2)^2 dt, is 4e-5 of sigma^2), so the mean over
    # 400 paths has SE sigma^2 sqrt(2 / (252 * 400)) = 0.45% of sigma^2.
    # Tolerance 4 SE (seed fixed).
    sigma, n_returns, n_paths, dt = 0.2, 252, 400, 1.0 / 252.0
    rng = np.random.default_rng(20250102)
    log_returns = (-0.5 * sigma**2 * dt
                   + sigma * math.sqrt(dt) * rng.standard_normal((n_returns, n_paths)))
    prices = 4000.0 * np.exp(np.vstack([np.zeros((1, n_paths)),
                                        np.cumsum(log_returns, axis=0)]))
    variance = realized_vol(prices, n_returns)[-1] ** 2
    standard_error = sigma**2 * math.sqrt(2.0 / (n_returns * n_paths))
    assert abs(variance.mean() - sigma**2) < 4.0 * standard_error


def test_realized_implied_ratio():
    prices = random_walk(6)
    implied = np.full(prices.shape, 0.16)
    implied[50, 0], implied[60, 1], implied[70, 2] = 0.0, -0.1, np.nan
    ratio = realized_implied_ratio(prices, implied, 20)
    realized = realized_vol(prices, 20)
    expected = realized / implied
    expected[50, 0] = expected[60, 1] = np.nan
    np.testing.assert_array_equal(ratio, expected)
    assert leading_nan_rows(ratio) == 20
    # A scalar or one implied vol per tick broadcasts.
    np.testing.assert_array_equal(realized_implied_ratio(prices, 0.25), realized / 0.25)
    per_tick = np.linspace(0.1, 0.3, len(prices))[:, None]
    np.testing.assert_array_equal(realized_implied_ratio(prices, per_tick), realized / per_tick)
    with pytest.raises(ValueError, match="implied_vol"):
        realized_implied_ratio(prices, np.ones(7))


# ---------------------------------------------------------------------------
# Term structure and z-score
# ---------------------------------------------------------------------------


def test_term_structure_slope():
    front = np.array([[18.0, 30.0], [15.0, np.nan], [0.0, 20.0]])
    second = np.array([[20.0, 25.0], [15.0, 20.0], [19.0, -1.0]])
    slope = term_structure_slope(front, second)
    np.testing.assert_array_equal(slope, [[0.9, 1.2], [1.0, np.nan], [np.nan, np.nan]])
    assert term_structure_slope(30.0, 25.0) > 1.0  # backwardation
    assert isinstance(term_structure_slope(18.0, 20.0), float)
    assert term_structure_slope(front[:, :1], 20.0).shape == (3, 1)
    with pytest.raises(ValueError, match="second"):
        term_structure_slope(front, np.ones(3))


@pytest.mark.parametrize("window", [2, 5, 30])
def test_rolling_zscore_matches_reference(window):
    x = random_walk(7, n_ticks=200, n_paths=4)
    result = rolling_zscore(x, window)
    np.testing.assert_allclose(result, per_path(zscore_reference, x, window),
                               rtol=RTOL, atol=ATOL)
    assert leading_nan_rows(result) == window - 1
    assert not np.isnan(result[window - 1:]).any()


@pytest.mark.parametrize("window", [2, 30])
def test_rolling_zscore_of_a_linear_ramp_is_constant(window):
    ramp = np.column_stack([3.0 + 0.5 * np.arange(100.0), 5000.0 - 2.0 * np.arange(100.0)])
    # The last of `window` equally spaced values sits (w - 1)/2 steps above
    # their mean; their sample stdev is sqrt(w (w + 1) / 12) steps.
    z = math.sqrt(3.0) * (window - 1) / math.sqrt(window * (window + 1))
    result = rolling_zscore(ramp, window)[window - 1:]
    np.testing.assert_allclose(result[:, 0], z, rtol=RTOL)
    np.testing.assert_allclose(result[:, 1], -z, rtol=RTOL)


def test_rolling_zscore_is_nan_on_constant_windows_and_propagates_nan():
    x = np.concatenate([np.full(10, 0.1), np.arange(10.0)])
    x[15] = np.nan
    z = rolling_zscore(x, 3)
    assert np.isnan(z[:10]).all()  # warm-up, then constant windows of 0.1
    assert not np.isnan(z[10:15]).any()
    assert np.isnan(z[15:18]).all()  # windows holding the NaN
    assert not np.isnan(z[18:]).any()


# ---------------------------------------------------------------------------
# A/D divergence
# ---------------------------------------------------------------------------


def test_ad_divergence_fires_only_when_spx_rises_and_breadth_falls():
    ticks = np.arange(40.0)
    rising_spx = 4000.0 + 5.0 * ticks
    falling_spx = 4000.0 - 5.0 * ticks
    rising_ad = 0.2 * ticks
    falling_ad = -0.2 * ticks
    spx = np.column_stack([rising_spx, rising_spx, falling_spx, falling_spx])
    ad_line = np.column_stack([falling_ad, rising_ad, falling_ad, rising_ad])
    signal = ad_divergence(spx, ad_line, 10)
    assert leading_nan_rows(signal) == 10
    np.testing.assert_array_equal(signal[10:], np.tile([1.0, 0.0, 0.0, 0.0], (30, 1)))


def test_ad_divergence_matches_reference_on_random_walks():
    spx = random_walk(8)
    ad_line = np.cumsum(np.random.default_rng(9).uniform(-1.0, 1.0, spx.shape), axis=0)
    window = 10
    signal = ad_divergence(spx, ad_line, window)
    expected = np.full(spx.shape, np.nan)
    for t in range(window, len(spx)):
        for p in range(spx.shape[1]):
            diverging = spx[t, p] > spx[t - window, p] and ad_line[t, p] < ad_line[t - window, p]
            expected[t, p] = 1.0 if diverging else 0.0
    np.testing.assert_array_equal(signal, expected)
    assert 0.0 < np.nanmean(signal) < 1.0


# ---------------------------------------------------------------------------
# Distance to a short strike
# ---------------------------------------------------------------------------


def test_drift_to_strike_values_and_signs():
    vol, years = 0.2, 30.0 / 365.0
    stdev = vol * math.sqrt(years)
    put = drift_to_strike(5000.0, 4800.0, vol, years)
    call = drift_to_strike(5000.0, 5200.0, vol, years, is_call=True)
    assert isinstance(put, float)
    assert put == pytest.approx(math.log(5000.0 / 4800.0) / stdev, rel=RTOL)
    assert call == pytest.approx(math.log(5200.0 / 5000.0) / stdev, rel=RTOL)
    assert put > 0.0 and call > 0.0  # safe side of both short strikes
    assert drift_to_strike(4700.0, 4800.0, vol, years) < 0.0  # through the put
    assert drift_to_strike(5300.0, 5200.0, vol, years, is_call=True) < 0.0
    # Broadcasting with one flag per strike; NaN where undefined.
    spot = np.array([[5000.0], [4900.0]])
    strikes = np.array([4800.0, 5200.0, np.nan, 5100.0])
    flags = np.array([False, True, False, True])
    vols = np.array([0.2, 0.2, 0.2, 0.0])
    result = drift_to_strike(spot, strikes, vols, years, flags)
    assert result.shape == (2, 4)
    np.testing.assert_allclose(result[:, :2], [
        [math.log(5000 / 4800) / stdev, math.log(5200 / 5000) / stdev],
        [math.log(4900 / 4800) / stdev, math.log(5200 / 4900) / stdev]], rtol=RTOL)
    assert np.isnan(result[:, 2:]).all()
    assert math.isnan(drift_to_strike(5000.0, 4800.0, vol, 0.0))
    assert math.isnan(drift_to_strike(5000.0, 4800.0, vol, -1.0))


def test_drift_rate_is_negative_while_spot_falls_toward_a_put():
    spot = np.linspace(5000.0, 4800.0, 30)
    distance = drift_to_strike(spot, 4700.0, 0.2, np.linspace(30, 1, 30) / 365.0)
    rate = drift_rate(distance, 5)
    assert leading_nan_rows(rate) == 5
    np.testing.assert_array_equal(rate[5:], distance[5:] - distance[:-5])
    # Early on the spot's fall dominates the shrinking sqrt(T).
    assert (rate[5:15] < 0.0).all()
    with_gap = distance.copy()
    with_gap[10] = np.nan  # no position at tick 10
    gap_rate = drift_rate(with_gap, 5)
    assert np.isnan(gap_rate[[10, 15]]).all() and not np.isnan(gap_rate[11:15]).any()


# ---------------------------------------------------------------------------
# Warm-up, shapes, validation
# ---------------------------------------------------------------------------

WARMUP_CASES = [
    ("rsi", lambda x: rsi(x, 9), 9),
    ("ema", lambda x: ema(x, 9), 0),
    ("macd", lambda x: macd(x, 3, 9, 4)[2], 0),
    ("realized_vol", lambda x: realized_vol(x, 9), 9),
    ("realized_implied_ratio", lambda x: realized_implied_ratio(x, 0.2, 9), 9),
    ("rolling_zscore", lambda x: rolling_zscore(x, 9), 8),
    ("ad_divergence", lambda x: ad_divergence(x, -x, 9), 9),
    ("drift_rate", lambda x: drift_rate(x, 9), 9),
]


@pytest.mark.parametrize(("name", "signal", "warmup"), WARMUP_CASES,
                         ids=[case[0] for case in WARMUP_CASES])
@pytest.mark.parametrize("n_ticks", [1, 5, 9, 10, 30])
def test_warmup_rows_and_short_series(name, signal, warmup, n_ticks):
    prices = random_walk(10, n_ticks=n_ticks, n_paths=3)
    result = signal(prices)
    assert result.shape == prices.shape and result.dtype == np.float64
    assert leading_nan_rows(result) == min(warmup, n_ticks)
    assert not np.isnan(result[warmup:]).any()


@pytest.mark.parametrize(("name", "signal", "warmup"), WARMUP_CASES,
                         ids=[case[0] for case in WARMUP_CASES])
def test_one_dimensional_input_is_one_path(name, signal, warmup):
    prices = random_walk(11, n_ticks=40, n_paths=3)
    batch = signal(prices)
    for p in range(3):
        single = signal(prices[:, p])
        assert single.shape == (40,)
        np.testing.assert_array_equal(single, batch[:, p])


@pytest.mark.parametrize(("name", "signal", "warmup"), WARMUP_CASES,
                         ids=[case[0] for case in WARMUP_CASES])
def test_a_path_alone_equals_it_in_a_batch(name, signal, warmup):
    # 37 paths: full SIMD blocks and a scalar remainder.
    prices = random_walk(12, n_ticks=120, n_paths=37)
    batch = signal(prices)
    for p in (0, 5, 36):
        np.testing.assert_array_equal(signal(prices[:, p:p + 1])[:, 0], batch[:, p])
    # A Fortran-ordered batch gives the same bits.
    np.testing.assert_array_equal(signal(np.asfortranarray(prices)), batch)


def test_integer_prices_are_accepted():
    prices = (100 + np.arange(60)).astype(np.int64)
    np.testing.assert_array_equal(rsi(prices), rsi(prices.astype(float)))


@pytest.mark.parametrize(("call", "argument"), [
    (lambda x: rsi(x, 0), "window"),
    (lambda x: rsi(x, 2.0), "window"),
    (lambda x: rsi(x, True), "window"),
    (lambda x: rsi(x[None], 14), "prices"),
    (lambda x: rsi(x.astype(str), 14), "prices"),
    (lambda x: rsi(np.where(x > 101, np.nan, x), 14), "prices"),
    (lambda x: ema(x, 0), "span"),
    (lambda x: ema(np.where(x > 101, np.inf, x), 3), "x"),
    (lambda x: macd(x, 0), "fast"),
    (lambda x: macd(x, 12, 12), "fast must be < slow"),
    (lambda x: macd(x, 2, 5, -1), "signal"),
    (lambda x: realized_vol(x, -3), "window"),
    (lambda x: realized_vol(-x, 5), "prices"),
    (lambda x: realized_vol(x, 5, 0), "periods_per_year"),
    (lambda x: realized_vol(x, 5, math.inf), "periods_per_year"),
    (lambda x: realized_implied_ratio(x, "0.2"), "implied_vol"),
    (lambda x: rolling_zscore(x, 1), "window"),
    (lambda x: rolling_zscore(x.astype(complex), 5), "x"),
    (lambda x: ad_divergence(x, x[:, :1], 5), "ad_line"),
    (lambda x: ad_divergence(x, np.full(x.shape, np.nan), 5), "ad_line"),
    (lambda x: ad_divergence(x, x, 0), "window"),
    (lambda x: drift_rate(x, None), "window"),
    (lambda x: drift_to_strike(x, 4800.0, 0.2, 0.1, is_call=1), "is_call"),
    (lambda x: drift_to_strike(x, np.ones(7), 0.2, 0.1), "strike"),
    (lambda x: term_structure_slope(x, None), "second"),
])
def test_invalid_inputs_raise_naming_the_argument(call, argument):
    prices = random_walk(13, n_ticks=30, n_paths=2)
    with pytest.raises(ValueError, match=argument):
        call(prices)


@pytest.mark.parametrize(("kernel", "args"), [
    ("_rsi_kernel", (7,)), ("_ema_kernel", (0.25,)), ("_realized_vol_kernel", (7, 252.0)),
    ("_rolling_zscore_kernel", (7,)), ("_change_kernel", (7,))])
def test_kernels_match_their_plain_python_twins(kernel, args):
    prices = random_walk(14, n_ticks=40, n_paths=3, tick=0.25)
    compiled = getattr(indicators, kernel)
    np.testing.assert_array_equal(compiled(prices, *args), compiled.py_func(prices, *args))
    spx, ad_line = prices[:, :2], prices[:, 1:]
    np.testing.assert_array_equal(indicators._ad_divergence_kernel(spx, ad_line, 3),
                                  indicators._ad_divergence_kernel.py_func(spx, ad_line, 3))


def test_fused_macd_kernel_matches_its_plain_python_twin():
    prices = random_walk(15, n_ticks=40, n_paths=3)
    alphas = (2 / 4, 2 / 10, 2 / 5)
    for compiled, plain in zip(indicators._macd_kernel(prices, *alphas),
                               indicators._macd_kernel.py_func(prices, *alphas), strict=True):
        np.testing.assert_array_equal(compiled, plain)


# ---------------------------------------------------------------------------
# Properties over random positive prices
# ---------------------------------------------------------------------------

price_arrays = st.tuples(st.integers(1, 60), st.integers(1, 6)).flatmap(
    lambda shape: arrays(np.float64, shape,
                         elements=st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False)))
windows = st.integers(1, 20)


@settings(max_examples=80, deadline=None)
@given(prices=price_arrays, window=windows)
def test_outputs_are_finite_after_warmup(prices, window):
    n_ticks = len(prices)
    rv = realized_vol(prices, window)
    strength = rsi(prices, window)
    for result, warmup in ((strength, window), (rv, window),
                           (realized_implied_ratio(prices, 0.2, window), window),
                           (ad_divergence(prices, prices[::-1].copy(), window), window),
                           (drift_rate(prices, window), window)):
        assert result.shape == prices.shape
        assert np.isnan(result[:min(warmup, n_ticks)]).all()
        assert np.isfinite(result[warmup:]).all()
    assert ((strength[window:] >= 0.0) & (strength[window:] <= 100.0)).all()
    assert (rv[window:] >= 0.0).all()
    for result in (ema(prices, window), *macd(prices, window, window + 1, window)):
        assert result.shape == prices.shape and np.isfinite(result).all()
    z = rolling_zscore(prices, window + 1)
    assert z.shape == prices.shape and np.isnan(z[:window]).all()
    # After warm-up NaN only where the window is constant (stdev 0).
    constant = np.isnan(z[window:])
    for t, p in zip(*np.nonzero(constant), strict=True):
        assert np.ptp(prices[t:t + window + 1, p]) == 0.0
    assert np.isfinite(z[window:][~constant]).all()


@settings(max_examples=40, deadline=None)
@given(prices=price_arrays, window=windows, path=st.integers(0, 5))
def test_one_path_alone_is_bit_identical_to_the_batch(prices, window, path):
    path = min(path, prices.shape[1] - 1)
    alone = prices[:, path:path + 1].copy()
    for signal in (lambda x: rsi(x, window), lambda x: realized_vol(x, window),
                   lambda x: macd(x, window, window + 1, window)[2],
                   lambda x: rolling_zscore(x, window + 1),
                   lambda x: ad_divergence(x, np.sqrt(x), window)):
        np.testing.assert_array_equal(signal(alone)[:, 0], signal(prices)[:, path])
