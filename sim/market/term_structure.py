"""The VIX futures curve: monthly expiry dates and futures prices on every path.

Expiries follow the CBOE rule for monthly VIX futures and options: the
Wednesday 30 calendar days before the third Friday of the following calendar
month (the day the SPX options that make up that VIX expire 30 days later).
The real rule has a holiday clause: if that Friday is an exchange holiday, the
expiry is 30 days before the business day preceding it (e.g. the March 2025
future expired on Tuesday 2025-03-18, because Friday 2025-04-18 was Good
Friday).  No holidays are modelled here (see ``sim.market.calendar``), so such
expiries come out one day late, on the Wednesday.

Prices are ``pricing.vix.vix_future``: ``100 E[VIX_T]`` from the conditional
moments of the variance, with a lognormal convexity correction.  Each path
may carry its own dynamics (its regime), so the parameters are scalars or
per-path arrays.  Under regime switching this is an approximation: a path's
futures are priced as if its current regime's dynamics held until expiry
(the chance of switching before expiry is ignored).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pricing.vix import vix_future

__all__ = ["vix_expiries_after", "vix_expiry", "vix_futures"]

#: Calendar days from a VIX expiry to the SPX expiry (third Friday) it prices.
_DAYS_BEFORE_SPX_EXPIRY = 30


def vix_expiry(year: int, month: int) -> np.datetime64:
    """Expiry date of the monthly VIX future of ``(year, month)``.

    The Wednesday 30 calendar days before the third Friday of the following
    month (CBOE rule, without the holiday clause: see the module docstring).

    Parameters
    ----------
    year : int
        Contract year, e.g. 2025.
    month : int
        Contract month, 1 (January) to 12 (December).

    Returns
    -------
    numpy.datetime64
        The expiry, ``datetime64[D]``; always a Wednesday in ``(year, month)``.

    Raises
    ------
    ValueError
        If ``month`` is not in 1..12.
    """
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month!r}")
    following = np.datetime64(f"{int(year):04d}-{int(month):02d}", "M") + 1
    first_day = following.astype("datetime64[D]")
    # Third Friday: the first Friday on or after the 1st, plus two weeks.
    third_friday = np.busday_offset(first_day, 2, roll="forward", weekmask="Fri")
    return third_friday - np.timedelta64(_DAYS_BEFORE_SPX_EXPIRY, "D")


def vix_expiries_after(date: str | np.datetime64, n: int) -> NDArray[np.datetime64]:
    """The next ``n`` monthly VIX expiries strictly after ``date``.

    Parameters
    ----------
    date : str or numpy.datetime64
        Calendar date (ISO ``"YYYY-MM-DD"``); an expiry on that date is excluded.
    n : int
        Number of expiries, ``>= 0``.

    Returns
    -------
    numpy.ndarray
        ``datetime64[D]``, shape ``(n,)``, ascending, one per consecutive month.

    Raises
    ------
    ValueError
        If ``n < 0``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n!r}")
    day = np.datetime64(date, "D")
    month = day.astype("datetime64[M]")
    # The expiry of a contract month falls inside that month, so the first one
    # after `day` is this month's or next month's.
    if _expiry_of_month(month) <= day:
        month = month + 1
    return np.array([_expiry_of_month(month + i) for i in range(n)], dtype="datetime64[D]")


def _expiry_of_month(month: np.datetime64) -> np.datetime64:
    """`vix_expiry` of a ``datetime64[M]`` month."""
    year = int(month.astype("datetime64[Y]").astype(np.int64)) + 1970
    return vix_expiry(year, int(month.astype(np.int64) % 12) + 1)


def vix_futures(
    variance: ArrayLike,
    T_years: ArrayLike,
    kappa: ArrayLike,
    theta: ArrayLike,
    xi: ArrayLike,
    jump_intensity: ArrayLike,
    jump_variance_mean: ArrayLike,
    jump_var_contrib: ArrayLike,
) -> NDArray[np.float64]:
    """VIX futures curve on every path: ``100 E[VIX_T]`` for each time to expiry.

    Parameters
    ----------
    variance : array_like
        Instantaneous variance per path (annualized, vol squared), shape
        ``(n_paths,)`` (any shape works; the futures axis is appended last).
    T_years : array_like
        Times to the futures' expiries, years, ``>= 0``, shape ``(n_futures,)``
        (or any shape that broadcasts against ``variance.shape + (1,)``).
    kappa, theta, xi, jump_intensity, jump_variance_mean, jump_var_contrib : array_like
        Dynamics of the variance (as in ``pricing.vix.vix_future``): scalars,
        or per-path arrays of the shape of ``variance`` (e.g. each path's
        regime parameters).  Units: 1/year, annualized variance,
        1/sqrt(year), jumps/year, annualized variance, annualized variance.

    Returns
    -------
    numpy.ndarray
        Futures prices, index points, float64, shape ``(n_paths, n_futures)``.

    Raises
    ------
    ValueError
        If any input has a negative entry, or the shapes do not broadcast.
    """
    variance = np.asarray(variance, dtype=np.float64)
    per_path = [np.asarray(p, dtype=np.float64)[..., np.newaxis]
                for p in (variance, kappa, theta, xi, jump_intensity, jump_variance_mean,
                          jump_var_contrib)]
    futures = vix_future(per_path[0], T_years, *per_path[1:])
    return np.asarray(futures, dtype=np.float64)
