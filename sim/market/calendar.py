"""Trading calendar: the dates of the daily ticks and the SPX weekly expiries.

Business days are Monday to Friday (numpy's ``busday`` functions with the
default week mask).  No exchange holidays are modelled yet: New Year's Day,
Good Friday, Thanksgiving etc. count as trading days.  When holidays arrive
they go in as the ``holidays=`` argument of the same numpy functions.
"""

from __future__ import annotations

import numpy as np

#: SPX weekly options (SPXW) expire on Fridays.
EXPIRY_WEEKMASK = "Fri"


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
