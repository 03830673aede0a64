"""Trading calendar: the dates of the daily ticks, the SPX weekly expiries and
the weekday rules that macro event schedules are built from.

Business days are Monday to Friday (numpy's ``busday`` functions with the
default week mask).  No exchange holidays are modelled yet: New Year's Day,
Good Friday, Thanksgiving etc. count as trading days.  When holidays arrive
they go in as the ``holidays=`` argument of the same numpy functions.
"""

from __future__ import annotations

import numpy as np

#: SPX weekly options (SPXW) expire on Fridays.
EXPIRY_WEEKMASK = "Fri"

#: numpy week-mask names of the days, Monday first.
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def trading_dates(start_date: str | np.datetime64, n_steps: int) -> np.ndarray:
    """Dates of ``n_steps + 1`` consecutive trading days from ``start_date``.

    Parameters
    ----------
    start_date : str or numpy.datetime64
        Calendar date of the first tick (ISO ``"YYYY-MM-DD"``); a weekend date
        rolls forward to the next Monday.
    n_steps : int
        Number of daily steps after the first tick, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        ``datetime64[D]``, shape ``(n_steps + 1,)``, Monday to Friday only.

    Raises
    ------
    ValueError
        If ``n_steps < 0``.
    """
    if n_steps < 0:
        raise ValueError(f"n_steps must be >= 0, got {n_steps!r}")
    first = np.busday_offset(np.datetime64(start_date, "D"), 0, roll="forward")
    return np.busday_offset(first, np.arange(n_steps + 1), roll="forward")


def calendar_days_between(dates: np.ndarray) -> np.ndarray:
    """Calendar days from each date to the next (3 over a weekend).

    Parameters
    ----------
    dates : numpy.ndarray
        ``datetime64`` dates, shape ``(n,)``, ascending.

    Returns
    -------
    numpy.ndarray
        ``int64`` calendar-day gaps, shape ``(n - 1,)``.
    """
    return np.diff(np.asarray(dates, dtype="datetime64[D]")).astype(np.int64)


def weekly_expiry_dates(first: str | np.datetime64, last: str | np.datetime64) -> np.ndarray:
    """Fridays from ``first`` to ``last``, both included: the SPX weekly expiries.

    Parameters
    ----------
    first, last : str or numpy.datetime64
        Calendar dates bounding the range.

    Returns
    -------
    numpy.ndarray
        ``datetime64[D]`` Fridays in ascending order; empty if there are none.
    """
    first = np.datetime64(first, "D")
    last = np.datetime64(last, "D")
    count = max(int(np.busday_count(first, last + 1, weekmask=EXPIRY_WEEKMASK)), 0)
    first_friday = np.busday_offset(first, 0, roll="forward", weekmask=EXPIRY_WEEKMASK)
    return np.busday_offset(first_friday, np.arange(count), weekmask=EXPIRY_WEEKMASK)


def nth_weekday(year: int, month: int, weekday: str, n: int) -> np.datetime64:
    """The ``n``-th given weekday of a month, or the last one for ``n = -1``.

    Parameters
    ----------
    year, month : int
        Calendar month (``month`` 1 to 12).
    weekday : str
        Day name as numpy writes it in week masks: ``"Mon"`` ... ``"Sun"``.
    n : int
        1 for the first such day of the month, 2 for the second, ...;
        -1 for the last.

    Returns
    -------
    numpy.datetime64
        ``datetime64[D]`` date.

    Raises
    ------
    ValueError
        If ``weekday`` is not a day name, ``n`` is 0 or below -1, or the
        month has fewer than ``n`` such days.
    """
    if weekday not in WEEKDAYS:
        raise ValueError(f"weekday must be one of {', '.join(WEEKDAYS)}, got {weekday!r}")
    if n == 0 or n < -1:
        raise ValueError(f"n must be >= 1 or -1 (the last), got {n!r}")
    first = np.datetime64(f"{year:04d}-{month:02d}", "M")
    first_day = first.astype("datetime64[D]")
    next_first_day = (first + 1).astype("datetime64[D]")
    if n == -1:
        return np.busday_offset(next_first_day - 1, 0, roll="backward", weekmask=weekday)
    day = np.busday_offset(first_day, n - 1, roll="forward", weekmask=weekday)
    if day >= next_first_day:
        raise ValueError(f"{year:04d}-{month:02d} has no {weekday} number {n}")
    return day


#: Ticks per year of variance time: business days per calendar year (365.25 x 5/7).
#: The calendar has no holidays, so with ``dt = 1 / TICKS_PER_YEAR`` a calendar
#: year of ticks carries exactly one year of variance, and the diffusion agrees
#: with option time to expiry (Actual/365 calendar days) over every whole week.
TICKS_PER_YEAR = 365.25 * 5.0 / 7.0
