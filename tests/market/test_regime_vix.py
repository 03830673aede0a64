"""VIX futures with regime switches priced in (``term_structure.RegimeVixTerms``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import scenarios
from sim.config import RegimeChain
from sim.market import generate
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.term_structure import (
    RegimeVixTerms,
    business_days_to,
    vix_futures_for,
    vix_option_model_vol_for,
)


def test_one_regime_is_the_frozen_regime_formula_at_the_business_day_horizon():
    model = scenarios.load("default").market
    terms = RegimeVixTerms(model)
    v = np.array([0.0, 0.01, 0.025, 0.09, 0.4])
    for steps in (0, 1, 7, 40, 180):
        T = steps / TICKS_PER_YEAR
        np.testing.assert_allclose(terms.futures(v, 0, steps),
                                   vix_futures_for(model, v, 0, np.array([T]))[:, 0],
                                   rtol=1e-12)
        if steps:
            np.testing.assert_allclose(terms.model_vol(v, 0, steps, T),
                                       vix_option_model_vol_for(model, v, 0,
                                                                np.array([T]))[:, 0],
                                       rtol=1e-9)


def test_a_chain_that_never_switches_is_the_frozen_formula_in_every_regime():
    model = scenarios.load("calibrated").market
    n = model.regimes.n_regimes
    frozen = dataclasses.replace(model, regimes=dataclasses.replace(
        model.regimes, transition=tuple(tuple(float(i == j) for j in range(n))
                                        for i in range(n))))
    terms = RegimeVixTerms(frozen)
    v = np.full(n, 0.03)
    regime = np.arange(n)
    T = 15 / TICKS_PER_YEAR
    np.testing.assert_allclose(terms.futures(v, regime, 15),
                               vix_futures_for(frozen, v, regime, np.array([T]))[:, 0],
                               rtol=1e-12)


def test_at_expiry_the_future_is_the_generators_vix():
    scenario = scenarios.load("whipsaw_range")
    market = generate(scenario.market, 50, 5, 1 / TICKS_PER_YEAR, np.random.default_rng(1))
    terms = RegimeVixTerms(scenario.market)
    np.testing.assert_allclose(terms.futures(market.variance[3], market.regime[3], 0),
                               market.vix[3], rtol=1e-12)


@pytest.mark.parametrize("preset", ["whipsaw_range", "calibrated"])
def test_expected_vix_squared_matches_the_simulated_paths(preset):
    """E[(VIX_T/100)^2] is exact (linear); Q paths agree within 4 standard errors."""
    scenario = scenarios.load(preset)
    # Paths under the pricing measure (a preset's variance risk premium moves
    # prices, not paths), without the scheduled events the formula leaves out.
    model = dataclasses.replace(scenario.market, events=dataclasses.replace(
        scenario.market.events, calendar="none")).under_pricing_measure()
    chain = model.regimes
    terms = RegimeVixTerms(model)
    for start in range(chain.n_regimes):
        started = dataclasses.replace(model, regimes=RegimeChain(
            names=chain.names, transition=chain.transition, initial=chain.names[start],
            stress=chain.stress, params=chain.params))
        n_paths, steps = 20_000, 15
        paths = generate(started, n_paths, steps, 1 / TICKS_PER_YEAR,
                         np.random.default_rng(7 + start), start_date="2025-01-06")
        vix2 = (paths.vix[steps] / 100.0) ** 2
        mean, var = terms.moments(started.variance0, start, steps)
        se = vix2.std(ddof=1) / np.sqrt(n_paths)
        assert abs(vix2.mean() - mean) < 4 * se + 1e-12, (start, vix2.mean(), mean, se)
        assert var == pytest.approx(vix2.var(), rel=0.15)


def test_business_days_count_weekdays_after_today_up_to_expiry():
    monday = int(np.datetime64("2025-01-06", "D").astype(np.int64))
    assert business_days_to(monday, monday) == 0
    assert business_days_to(monday, monday + 4) == 4      # Friday
    assert business_days_to(monday, monday + 6) == 4      # Sunday
    assert business_days_to(monday, monday + 7) == 5      # next Monday
    np.testing.assert_array_equal(business_days_to(monday, monday + np.array([1, 9])), [1, 7])
