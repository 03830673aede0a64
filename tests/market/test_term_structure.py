"""The VIX futures curve on simulated paths: expiry calendar, prices, Monte Carlo check.

Expiry dates verified against published settlement dates: April 2011
(2011-04-20) and December 2011 (2011-12-21) from the Cboe Options Hub blog
posts on those settlements; January 2025 (2025-01-22) and February 2025
(2025-02-19) from the Cboe expiration calendar. March 2014 and March 2025
settled on Tuesdays (2014-03-18, 2025-03-18) because the third Friday of
April was Good Friday; without holidays the rule gives the Wednesdays after.
"""

from __future__ import annotations

import dataclasses
import datetime
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.vix import variance_moments, vix_future, vix_future_one, vix_squared_moments_one
from sim.config import MarketModel
from sim.market import generate
from sim.market.heston import vix_jump_term
from sim.market.term_structure import vix_expiries_after, vix_expiry, vix_futures

MODEL = MarketModel()
DYNAMICS = (MODEL.kappa, MODEL.theta, MODEL.xi, MODEL.jump_intensity, MODEL.jump_variance_mean,
            vix_jump_term(MODEL))


# ---------------------------------------------------------------------------
# Expiry calendar
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("year", "month", "expected"), [
    (2011, 4, "2011-04-20"),
    (2011, 12, "2011-12-21"),
    (2024, 12, "2024-12-18"),
    (2025, 1, "2025-01-22"),
    (2025, 2, "2025-02-19"),
    (2025, 4, "2025-04-16"),
    (2025, 5, "2025-05-21"),
    (2025, 6, "2025-06-18"),
])
def test_known_expiries(year, month, expected):
    assert vix_expiry(year, month) == np.datetime64(expected)


@pytest.mark.parametrize(("year", "month", "rule", "real"), [
    (2014, 3, "2014-03-19", "2014-03-18"),
    (2025, 3, "2025-03-19", "2025-03-18"),
])
def test_good_friday_expiries_follow_the_rule_without_holidays(year, month, rule, real):
    # The real expiry is the Tuesday: no holidays are modelled (module docstring).
    assert vix_expiry(year, month) == np.datetime64(rule)
    assert vix_expiry(year, month) - np.timedelta64(1, "D") == np.datetime64(real)


@settings(max_examples=200, deadline=None)
@given(st.integers(1990, 2200), st.integers(1, 12))
def test_expiry_is_the_wednesday_thirty_days_before_the_third_friday(year, month):
    expiry = vix_expiry(year, month)
    assert expiry.dtype == np.dtype("datetime64[D]")
    assert np.is_busday(expiry, weekmask="Wed")
    assert expiry.astype("datetime64[M]") == np.datetime64(f"{year:04d}-{month:02d}")
    spx_expiry = expiry + np.timedelta64(30, "D")
    assert np.is_busday(spx_expiry, weekmask="Fri")
    assert spx_expiry.astype("datetime64[M]") == np.datetime64(f"{year:04d}-{month:02d}") + 1
    day_of_month = (spx_expiry - spx_expiry.astype("datetime64[M]")).astype(int) + 1
    assert 15 <= day_of_month <= 21


def test_rejects_bad_month():
    with pytest.raises(ValueError, match="month"):
        vix_expiry(2025, 13)


@settings(max_examples=200, deadline=None)
@given(st.dates(datetime.date(1990, 1, 1), datetime.date(2200, 1, 1)), st.integers(0, 15))
def test_expiries_after_a_date_are_the_next_monthly_ones(date, n):
    day = np.datetime64(date, "D")
    expiries = vix_expiries_after(day, n)
    assert expiries.shape == (n,) and expiries.dtype == np.dtype("datetime64[D]")
    if n == 0:
        return
    assert expiries[0] > day
    months = expiries.astype("datetime64[M]")
    assert (np.diff(months).astype(int) == 1).all()
    # No expiry is skipped: the previous month's one is on or before the date.
    previous = months[0] - 1
    year = int(previous.astype("datetime64[Y]").astype(int)) + 1970
    assert vix_expiry(year, int(previous.astype(int) % 12) + 1) <= day


def test_expiries_after_exclude_the_date_itself_and_cross_the_year():
    np.testing.assert_array_equal(
        vix_expiries_after("2025-01-22", 2), np.array(["2025-02-19", "2025-03-19"], "M8[D]"))
    np.testing.assert_array_equal(
        vix_expiries_after("2025-01-21", 1), np.array(["2025-01-22"], "M8[D]"))
    np.testing.assert_array_equal(
        vix_expiries_after("2024-12-19", 2), np.array(["2025-01-22", "2025-02-19"], "M8[D]"))
    with pytest.raises(ValueError, match="n must be >= 0"):
        vix_expiries_after("2025-01-01", -1)


# ---------------------------------------------------------------------------
# Futures curve on paths
# ---------------------------------------------------------------------------


def test_futures_curve_has_paths_by_tenors_and_per_path_dynamics():
    variance = np.array([0.01, 0.04, 0.1, 0.5])
    T = np.array([0.0, 7 / 365, 30 / 365, 0.5])
    kappa = np.array([2.0, 4.0, 6.0, 8.0])
    curve = vix_futures(variance, T, kappa, *DYNAMICS[1:])
    assert curve.shape == (4, 4) and curve.dtype == np.float64
    for p in range(4):
        for j in range(4):
            assert curve[p, j] == vix_future_one(variance[p], T[j], kappa[p], *DYNAMICS[1:])
    # Scalar parameters are the same as per-path arrays of that value.
    flat = vix_futures(variance, T, *DYNAMICS)
    per_path = vix_futures(variance, T, *(np.full(4, p) for p in DYNAMICS))
    np.testing.assert_array_equal(flat, per_path)


def test_front_of_the_curve_is_the_generators_vix(market):
    # T = 0 is the VIX index of each path's variance, the generator's own VIX.
    tick = market.n_steps // 2
    curve = vix_futures(market.variance[tick], np.array([0.0, 0.1]), *DYNAMICS)
    np.testing.assert_array_equal(curve[:, 0], market.vix[tick])
    assert curve.shape == (market.n_paths, 2)


def test_futures_curve_rejects_negative_input():
    with pytest.raises(ValueError, match="T must be >= 0"):
        vix_futures(np.array([0.02]), np.array([-0.1]), *DYNAMICS)


# ---------------------------------------------------------------------------
# Moments against Monte Carlo of the path generator
# ---------------------------------------------------------------------------

N_PATHS = 20_000
N_STEPS = 30
DT = 1.0 / 252.0


def _standard_error_of_variance(x: np.ndarray) -> float:
    """Standard error of the sample variance: sqrt((m4 - s^4) / n)."""
    centred = x - x.mean()
    return math.sqrt((np.mean(centred**4) - np.var(x) ** 2) / x.size)


@pytest.mark.parametrize("variance0", [0.025, 0.08])
def test_variance_and_vix_moments_match_the_generator(variance0):
    """E[v_T], Var[v_T] and E[VIX_T^2] within 4 standard errors of 20k paths.

    Jumps on (default model: lambda = 0.5/year, mu_v = 0.04), T = 30 daily
    steps of 1/252 year. The generator's own discretisation errors (jumps
    added at step ends, (1 - e^{-kappa dt})/kappa vs dt for their mean) are
    ~1e-5 in E[v_T], below a tenth of a standard error.
    """
    model = dataclasses.replace(MODEL, variance0=variance0)
    paths = generate(model, N_PATHS, N_STEPS, DT, np.random.default_rng(20250102))
    horizon = N_STEPS * DT
    v_T = paths.variance[-1]
    mean, var = variance_moments(variance0, horizon, *DYNAMICS[:5])
    assert abs(v_T.mean() - mean) <= 4.0 * v_T.std(ddof=1) / math.sqrt(N_PATHS)
    assert abs(v_T.var(ddof=1) - var) <= 4.0 * _standard_error_of_variance(v_T)

    vix_squared = (paths.vix[-1] / 100.0) ** 2
    m, s2 = vix_squared_moments_one(variance0, horizon, *DYNAMICS)
    assert abs(vix_squared.mean() - m) <= 4.0 * vix_squared.std(ddof=1) / math.sqrt(N_PATHS)
    assert abs(vix_squared.var(ddof=1) - s2) <= 4.0 * _standard_error_of_variance(vix_squared)


def test_vix_future_matches_the_generators_mean_vix():
    """E[VIX_T] at 30 trading days from the default state, within 4 standard errors.

    The lognormal match is an approximation: against 1M paths it overstates
    E[VIX_T] by about 0.08 points here (1.8 standard errors of 20k paths), by
    0.13-0.17 points from v = 0.04-0.1 and by 0.14-0.30 at 90 days.
    """
    paths = generate(MODEL, N_PATHS, N_STEPS, DT, np.random.default_rng(20250102))
    vix_T = paths.vix[-1]
    future = vix_future(MODEL.variance0, N_STEPS * DT, *DYNAMICS)
    assert abs(vix_T.mean() - future) <= 4.0 * vix_T.std(ddof=1) / math.sqrt(N_PATHS)
    # Jensen: the future is below sqrt(E[VIX_T^2]) on the paths too.
    assert future < 100.0 * math.sqrt(np.mean((vix_T / 100.0) ** 2))
