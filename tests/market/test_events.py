"""Macro event calendar: the generated rules, CSV files, flags on ticks, and
days to the next event."""

import numpy as np
import pytest

from sim.config import EventSpec
from sim.market import (
    ALL_EVENTS,
    CPI,
    FOMC,
    PPI,
    days_to_next_event,
    event_flags,
    generated_calendar,
    load_calendar_file,
    trading_dates,
)
from sim.market.calendar import nth_weekday
from sim.market.events import NO_EVENT_DAYS, draw_event_shocks


def _dates(events, kind):
    return np.array([d for d, k in events if k == kind], dtype="datetime64[D]")


# --- generated calendar -----------------------------------------------------------------------

@pytest.mark.parametrize("year", [2024, 2025, 2026, 2031])
def test_generated_calendar_counts_and_business_days(year):
    events = generated_calendar(f"{year}-01-01", f"{year}-12-31")
    for kind, count in ((FOMC, 8), (CPI, 12), (PPI, 12)):
        dates = _dates(events, kind)
        assert dates.size == count
        assert np.is_busday(dates).all()
        assert (np.diff(dates).astype(int) > 0).all()
    assert events == sorted(events, key=lambda e: (e[0], e[1]))
    fomc, cpi, ppi = _dates(events, FOMC), _dates(events, CPI), _dates(events, PPI)
    months = fomc.astype("datetime64[M]").astype(int) % 12 + 1
    np.testing.assert_array_equal(months, [1, 3, 5, 6, 7, 9, 11, 12])
    assert np.is_busday(fomc, weekmask="Wed").all()
    # CPI: a Wednesday from the 10th to the 16th; PPI the business day before.
    assert np.is_busday(cpi, weekmask="Wed").all()
    day_of_month = (cpi - cpi.astype("datetime64[M]")).astype(int) + 1
    assert ((day_of_month >= 10) & (day_of_month <= 16)).all()
    np.testing.assert_array_equal(ppi, np.busday_offset(cpi, -1))


def test_generated_fomc_dates_of_2025():
    expected = ["2025-01-29", "2025-03-19", "2025-05-07", "2025-06-18", "2025-07-30",
                "2025-09-17", "2025-11-05", "2025-12-10"]
    np.testing.assert_array_equal(_dates(generated_calendar("2025-01-01", "2025-12-31"), FOMC),
                                  np.array(expected, dtype="datetime64[D]"))


def test_generated_calendar_bounds_are_inclusive():
    assert generated_calendar("2025-01-15", "2025-01-15") == [(np.datetime64("2025-01-15"),
                                                                CPI)]
    assert generated_calendar("2025-01-16", "2025-01-28") == []
    assert generated_calendar("2025-02-01", "2025-01-01") == []
    spanning = generated_calendar("2024-12-01", "2025-01-31")
    # 2024-12-11 is both the second Wednesday (FOMC) and the CPI Wednesday: same
    # date, kinds in flag order.
    assert spanning[1][0] == spanning[2][0] == np.datetime64("2024-12-11")
    assert [k for _, k in spanning] == [PPI, FOMC, CPI, PPI, CPI, FOMC]


def test_nth_weekday():
    assert nth_weekday(2025, 1, "Wed", 1) == np.datetime64("2025-01-01")
    assert nth_weekday(2025, 1, "Wed", 5) == np.datetime64("2025-01-29")
    assert nth_weekday(2025, 1, "Wed", -1) == np.datetime64("2025-01-29")
    assert nth_weekday(2025, 2, "Fri", -1) == np.datetime64("2025-02-28")
    with pytest.raises(ValueError, match="no Wed number 5"):
        nth_weekday(2025, 2, "Wed", 5)
    with pytest.raises(ValueError, match="weekday"):
        nth_weekday(2025, 2, "Wednesday", 1)
    with pytest.raises(ValueError, match="n must"):
        nth_weekday(2025, 2, "Wed", 0)


# --- calendar files ---------------------------------------------------------------------------

def test_load_calendar_file(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("Date, Kind\n2025-03-19,fomc\n\n 2025-03-12 , CPI\n2025-03-15,Ppi\n")
    assert load_calendar_file(path) == [
        (np.datetime64("2025-03-19"), FOMC),
        (np.datetime64("2025-03-12"), CPI),
        (np.datetime64("2025-03-15"), PPI),
    ]
    header_only = tmp_path / "empty_list.csv"
    header_only.write_text("date,kind\n")
    assert load_calendar_file(header_only) == []


@pytest.mark.parametrize(
    ("text", "line", "allowed"),
    [
        ("date,kind\n2025-03-19,FOMC\n2025-13-01,CPI\n", 3, "ISO date YYYY-MM-DD"),
        ("date,kind\n2025-3-19,FOMC\n", 2, "ISO date YYYY-MM-DD"),
        ("date,kind\n20250319,FOMC\n", 2, "ISO date YYYY-MM-DD"),
        ("date,kind\n2025-03-19,FOMC\n2025-03-20,GDP\n", 3, "FOMC, CPI, PPI"),
        ("2025-03-19,FOMC\n", 1, "header must be 'date,kind'"),
        ("day,kind\n2025-03-19,FOMC\n", 1, "header must be 'date,kind'"),
        ("", 1, "header 'date,kind'"),
        ("date,kind\n2025-03-19,FOMC,extra\n", 2, "2 fields 'date,kind'"),
        ("date,kind\n2025-03-19\n", 2, "2 fields 'date,kind'"),
    ],
)
def test_bad_calendar_files_name_file_line_and_what_is_allowed(tmp_path, text, line, allowed):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"line {line}:") as error:
        load_calendar_file(path)
    assert str(path) in str(error.value)
    assert allowed in str(error.value)


def test_missing_calendar_file(tmp_path):
    path = tmp_path / "missing.csv"
    with pytest.raises(ValueError, match=r"missing\.csv: cannot read"):
        event_flags(trading_dates("2025-01-02", 5), EventSpec(calendar=str(path)))


# --- flags on ticks and days to the next event ------------------------------------------------

def test_event_flags_from_the_generated_calendar():
    dates = trading_dates("2025-01-02", 260)
    flags = event_flags(dates, EventSpec())
    assert flags.dtype == np.uint8 and flags.shape == dates.shape
    events = [(d, k) for d, k in generated_calendar(dates[0], dates[-1])]
    assert len(events) == 32
    for date, kind in events:
        assert flags[dates == date][0] & kind
    assert int(np.count_nonzero(flags)) == len({d for d, _ in events})
    assert not event_flags(dates, EventSpec(calendar="none")).any()


def test_event_flags_from_a_file_roll_weekends_forward_and_combine(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("date,kind\n2025-01-04,FOMC\n2025-01-06,cpi\n2025-01-01,PPI\n"
                    "2025-01-03,PPI\n2025-01-11,FOMC\n")
    dates = trading_dates("2025-01-02", 5)  # Thu 2 .. Thu 9 January
    flags = event_flags(dates, EventSpec(calendar=str(path)))
    # Saturday 4th rolls to Monday 6th, joining the CPI; 1st is before the first tick;
    # Saturday 11th rolls past the last tick.
    np.testing.assert_array_equal(flags, [0, PPI, FOMC | CPI, 0, 0, 0])


def test_days_to_next_event():
    dates = trading_dates("2025-01-02", 7)  # Thu 2, Fri 3, Mon 6 ... Fri 10, Mon 13
    flags = np.array([FOMC, 0, CPI, 0, 0, PPI | FOMC, 0, 0], dtype=np.uint8)
    # The tick's own event has passed (its shock is in the close): count to the next.
    np.testing.assert_array_equal(days_to_next_event(dates, flags),
                                  [4, 3, 3, 2, 1] + [NO_EVENT_DAYS] * 3)
    np.testing.assert_array_equal(days_to_next_event(dates, flags, CPI),
                                  [4, 3] + [NO_EVENT_DAYS] * 6)
    assert days_to_next_event(dates, flags, ALL_EVENTS).dtype == np.int64
    with pytest.raises(ValueError, match="shape"):
        days_to_next_event(dates, flags[:-1])


def test_draw_event_shocks_order_and_sizes():
    spec = EventSpec(fomc_spot_std=0.02, fomc_variance_jump=0.1, cpi_spot_std=0.01,
                     ppi_variance_jump=0.3)
    rng = np.random.default_rng(5)
    spot, variance = draw_event_shocks(FOMC | CPI | PPI, spec, 4, rng)
    expected = np.random.default_rng(5)
    s2 = 0.02**2 + 0.01**2
    np.testing.assert_allclose(spot, -0.5 * s2 + np.sqrt(s2) * expected.standard_normal(4),
                               rtol=1e-15)
    np.testing.assert_allclose(variance, expected.exponential(0.1, 4)
                               + expected.exponential(0.3, 4), rtol=1e-15)
    state = rng.bit_generator.state
    assert draw_event_shocks(PPI, EventSpec(), 4, rng) == (None, None)
    assert rng.bit_generator.state == state
