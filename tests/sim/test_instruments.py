"""SPX option marks: model mode equals the SVCJ Fourier price; business-day variance time."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing import implied_vol
from pricing.svcj import svcj_price
from sim.config import EventSpec, MarketModel, SmileModel
from sim.engine import MarketView
from sim.instruments import TICKS_PER_YEAR, SpxPricer, _business_days_after

MONDAY = int(np.datetime64("2025-01-06", "D").astype(np.int64))


def view(spot, variance, day=MONDAY):
    n = len(spot)
    return MarketView(tick=0, date=np.datetime64(day, "D"), day=day,
                      spot=np.asarray(spot, float), variance=np.asarray(variance, float),
                      vix=np.full(n, 20.0), is_last=False, regime=np.zeros(n, np.int8))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40_000), st.integers(0, 400))
def test_business_days_match_numpy(today, gap):
    expected = np.busday_count(np.datetime64(today + 1, "D"), np.datetime64(today + gap + 1, "D"))
    assert _business_days_after(today, today + gap) == expected


@pytest.mark.parametrize("days", [4, 11, 32, 60])
@pytest.mark.parametrize("variance", [0.015, 0.04, 0.12])
def test_model_marks_are_the_svcj_price_in_business_day_time(days, variance):
    model = MarketModel()
    pricer = SpxPricer(model, SmileModel(kind="model"))
    spot = 5000.0
    T_cal = days / 365.0
    T_var = np.busday_count(np.datetime64(MONDAY + 1, "D"),
                            np.datetime64(MONDAY + days + 1, "D")) / TICKS_PER_YEAR
    forward = spot * np.exp((model.rate - model.dividend_yield) * T_cal)
    sd = np.sqrt(variance * T_var)
    for z in (-2.0, -1.0, 0.0, 1.0):
        K = float(np.round(forward * np.exp(z * sd) / 5) * 5)
        is_call = K >= forward
        mark = pricer.price(view([spot], [variance]), np.array([[K]]), is_call,
                            np.int64(MONDAY + days), True)[0, 0]
        # The model price over T_var of variance time, discounted over calendar time.
        fair_forward = float(svcj_price(forward, K, T_var, 0.0, 0.0, variance, model.kappa,
                                         model.theta, model.xi, model.rho,
                                         model.jump_intensity, model.jump_spot_mean,
                                         model.jump_spot_std, model.jump_variance_mean,
                                         model.jump_spot_per_variance, is_call))
        # Undiscounted price on the forward, discounted over calendar time.
        fair = fair_forward * np.exp(-model.rate * T_cal)
        iv_mark = implied_vol(mark, spot, K, T_cal, model.rate, model.dividend_yield, is_call)
        iv_fair = implied_vol(fair, spot, K, T_cal, model.rate, model.dividend_yield, is_call)
        # The vol table interpolates to about 0.1-0.2 vol points.
        assert abs(iv_mark - iv_fair) < 0.003, (K, iv_mark, iv_fair)


def test_scheduled_events_add_their_variance_before_expiry():
    from sim.market import generate

    quiet = MarketModel(events=EventSpec(calendar="generated"))
    loud = dataclasses.replace(quiet, events=EventSpec(fomc_spot_std=0.03, cpi_spot_std=0.02))
    market = generate(loud, 2, 60, 1 / TICKS_PER_YEAR, np.random.default_rng(0),
                      start_date="2025-01-06")
    K = np.array([[5000.0]])
    v = view([5000.0], [0.03])
    base = SpxPricer(quiet, SmileModel(), market).price(v, K, True, np.int64(MONDAY + 45), True)
    more = SpxPricer(loud, SmileModel(), market).price(v, K, True, np.int64(MONDAY + 45), True)
    assert more[0, 0] > base[0, 0] * 1.02
    # No event before a 1-day expiry (the first generated event is later).
    first = SpxPricer(quiet, SmileModel(), market).price(v, K, True, np.int64(MONDAY + 1), True)
    same = SpxPricer(loud, SmileModel(), market).price(v, K, True, np.int64(MONDAY + 1), True)
    assert first[0, 0] == same[0, 0]
