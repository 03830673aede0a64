"""Trading calendar: business days, roll-forward, Friday expiries."""

import numpy as np
import pytest

from sim.market.calendar import calendar_days_between, trading_dates, weekly_expiry_dates


def test_trading_dates_are_consecutive_business_days():
    dates = trading_dates("2025-01-02", 30)
    assert dates.dtype == np.dtype("datetime64[D]")
    assert dates.shape == (31,)
    assert dates[0] == np.datetime64("2025-01-02")
    assert np.is_busday(dates).all()
    # Exactly one business day between neighbours: no business day skipped.
    assert (np.busday_count(dates[:-1], dates[1:]) == 1).all()


def test_weekend_start_rolls_forward_to_monday():
    dates = trading_dates(np.datetime64("2025-01-04"), 2)  # a Saturday
    np.testing.assert_array_equal(
        dates, np.array(["2025-01-06", "2025-01-07", "2025-01-08"], dtype="datetime64[D]")
    )


def test_trading_dates_rejects_negative_steps():
    with pytest.raises(ValueError, match="n_steps"):
        trading_dates("2025-01-02", -1)


def test_calendar_days_between_counts_weekends():
    dates = trading_dates("2025-01-02", 3)  # Thu, Fri, Mon, Tue
    np.testing.assert_array_equal(calendar_days_between(dates), [1, 3, 1])


def test_weekly_expiries_are_the_fridays_in_range():
    expiries = weekly_expiry_dates("2025-01-01", "2025-01-31")
    expected = np.array(
        ["2025-01-03", "2025-01-10", "2025-01-17", "2025-01-24", "2025-01-31"],
        dtype="datetime64[D]",
    )
    np.testing.assert_array_equal(expiries, expected)
    assert np.is_busday(expiries, weekmask="Fri").all()


def test_weekly_expiries_include_friday_bounds_and_may_be_empty():
    assert weekly_expiry_dates("2025-01-03", "2025-01-03").tolist() == [
        np.datetime64("2025-01-03").astype(object)
    ]
    assert weekly_expiry_dates("2025-01-04", "2025-01-09").size == 0
    assert weekly_expiry_dates("2025-02-01", "2025-01-01").size == 0
