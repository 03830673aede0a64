"""Scheduled macro events (FOMC, CPI, PPI): their calendar and their shocks.

An event is a date and a kind. Kinds are bit flags, so one tick can carry
several (``FOMC | CPI`` when a rate decision and a CPI print fall on the same
day); ``MarketPaths.events`` holds one ``uint8`` of flags per tick.

Calendars
---------
``"generated"`` (see :func:`generated_calendar`) follows fixed rules that
resemble the real schedules, without holidays:

- FOMC, eight decisions a year, on the Wednesday that ends each two-day
  meeting: the last Wednesday of January, the third of March, the first of
  May, the third of June, the last of July, the third of September, the first
  of November and the second of December (``FOMC_RULE``).
- CPI, monthly, on the first Wednesday on or after the 10th (so the 10th to
  the 16th; ``CPI_EARLIEST_DAY``).
- PPI, monthly, on the business day before the CPI release (a Tuesday).

``"none"`` has no events; any other string is the path of a CSV file read by
:func:`load_calendar_file`. An event dated on a weekend (or any date that is
not a tick) takes effect on the next tick on or after it.

Shocks
------
The step that ends on an event tick gets, after the QE variance step like
the SVCJ jumps, an extra log SPX return ``N(-s^2/2, s^2)`` with ``s^2`` the
sum of the day's kinds' ``*_spot_std`` squared (mean-corrected, so the
discounted SPX stays a martingale) and an extra variance jump, the sum over
the day's kinds of independent ``Exp(mean = *_variance_jump)`` draws. See
:func:`draw_event_shocks` for the draw order.
"""

from __future__ import annotations

import csv
import datetime
import math
import re
from pathlib import Path

import numpy as np

from sim.config import EventSpec
from sim.market.calendar import nth_weekday

#: Federal Open Market Committee rate decision.
FOMC = 1
#: Consumer price index release.
CPI = 2
#: Producer price index release.
PPI = 4
#: Every kind, for masks.
ALL_EVENTS = FOMC | CPI | PPI
#: Kind flags in draw order, and their names in calendar files.
EVENT_KINDS: dict[str, int] = {"FOMC": FOMC, "CPI": CPI, "PPI": PPI}

#: ``days_to_next_event`` where no event of the kinds asked for remains.
NO_EVENT_DAYS = 9999

#: FOMC decision days of the generated calendar: (month, n-th Wednesday; -1 the last).
FOMC_RULE: tuple[tuple[int, int], ...] = (
    (1, -1), (3, 3), (5, 1), (6, 3), (7, -1), (9, 3), (11, 1), (12, 2),
)
#: Generated CPI release: the first Wednesday on or after this day of the month.
CPI_EARLIEST_DAY = 10

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Event = tuple[np.datetime64, int]


def generated_calendar(first_date: str | np.datetime64,
                       last_date: str | np.datetime64) -> list[Event]:
    """FOMC, CPI and PPI dates between two dates on the rules of this module.

    Parameters
    ----------
    first_date, last_date : str or numpy.datetime64
        Calendar dates bounding the range, both included.

    Returns
    -------
    list of (numpy.datetime64, int)
        ``(datetime64[D] date, kind flag)`` sorted by date, then kind; every
        date is a business day (Monday to Friday). Empty if
        ``last_date < first_date``.
    """
    first = np.datetime64(first_date, "D")
    last = np.datetime64(last_date, "D")
    events: list[Event] = []
    if last < first:
        return events
    first_year = int(first.astype("datetime64[Y]").astype(int)) + 1970
    last_year = int(last.astype("datetime64[Y]").astype(int)) + 1970
    for year in range(first_year, last_year + 1):
        for month, n in FOMC_RULE:
            events.append((nth_weekday(year, month, "Wed", n), FOMC))
        for month in range(1, 13):
            earliest = np.datetime64(f"{year:04d}-{month:02d}-{CPI_EARLIEST_DAY:02d}", "D")
            cpi = np.busday_offset(earliest, 0, roll="forward", weekmask="Wed")
            events.append((cpi, CPI))
            events.append((np.busday_offset(cpi, -1, roll="backward"), PPI))
    return sorted(((d, k) for d, k in events if first <= d <= last),
                  key=lambda event: (event[0], event[1]))


def load_calendar_file(path: str | Path) -> list[Event]:
    """Read events from a CSV file with header ``date,kind``.

    Dates are ISO ``YYYY-MM-DD``; kinds are ``FOMC``, ``CPI`` or ``PPI`` in
    any case. Blank lines are skipped; surrounding spaces are ignored.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    list of (numpy.datetime64, int)
        ``(datetime64[D] date, kind flag)`` in file order; dates may fall on
        weekends (:func:`event_flags` rolls them forward).

    Raises
    ------
    ValueError
        If the file cannot be read or any line is malformed; the message
        names the file, the line number and what is allowed.
    """
    allowed_kinds = ", ".join(EVENT_KINDS)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: cannot read the event calendar ({error}); expected a "
                         "CSV file with header 'date,kind'") from error
    header_line = next((n for n, row in enumerate(rows, 1) if any(c.strip() for c in row)),
                       None)
    if header_line is None:
        raise ValueError(f"{path}: line 1: empty file; expected the header 'date,kind'")
    header = [cell.strip().lower() for cell in rows[header_line - 1]]
    if header != ["date", "kind"]:
        raise ValueError(f"{path}: line {header_line}: header must be 'date,kind', got "
                         f"{','.join(rows[header_line - 1])!r}")
    events: list[Event] = []
    for line, row in enumerate(rows[header_line:], header_line + 1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) != 2:
            raise ValueError(f"{path}: line {line}: expected 2 fields 'date,kind', got "
                             f"{len(cells)}: {','.join(row)!r}")
        text, kind_name = cells
        try:
            if not _ISO_DATE.fullmatch(text):
                raise ValueError(text)
            date = np.datetime64(datetime.date.fromisoformat(text), "D")
        except ValueError:
            raise ValueError(f"{path}: line {line}: date {text!r} is not an ISO date "
                             "YYYY-MM-DD") from None
        kind = EVENT_KINDS.get(kind_name.upper())
        if kind is None:
            raise ValueError(f"{path}: line {line}: kind {kind_name!r} is not one of "
                             f"{allowed_kinds} (any case)")
        events.append((date, kind))
    return events


def calendar_events(spec: EventSpec, first_date: str | np.datetime64,
                    last_date: str | np.datetime64) -> list[Event]:
    """The events of a spec's calendar between two dates (file events unfiltered).

    Parameters
    ----------
    spec : EventSpec
        ``spec.calendar`` is ``"generated"``, ``"none"`` or a CSV path.
    first_date, last_date : str or numpy.datetime64
        Bounds of the generated calendar, both included.

    Returns
    -------
    list of (numpy.datetime64, int)
    """
    if spec.calendar == "none":
        return []
    if spec.calendar == "generated":
        return generated_calendar(first_date, last_date)
    return load_calendar_file(spec.calendar)


def event_flags(dates: np.ndarray, spec: EventSpec) -> np.ndarray:
    """Event kinds falling on each tick, as bit flags.

    An event takes effect on the first tick dated on or after it, so a
    weekend event rolls forward to the next business day; events before the
    first tick or after the last are dropped.

    Parameters
    ----------
    dates : numpy.ndarray
        ``datetime64[D]`` tick dates, ascending, shape ``(n_ticks,)``.
    spec : EventSpec
        The calendar (``"generated"``, ``"none"`` or a CSV path).

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(n_ticks,)``: OR of ``FOMC``, ``CPI``, ``PPI``.

    Raises
    ------
    ValueError
        If the calendar file cannot be read or is malformed.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    flags = np.zeros(dates.shape[0], dtype=np.uint8)
    if dates.size == 0:
        return flags
    for date, kind in calendar_events(spec, dates[0], dates[-1]):
        tick = int(np.searchsorted(dates, date, side="left"))
        if date >= dates[0] and tick < dates.size:
            flags[tick] |= kind
    return flags


def days_to_next_event(dates: np.ndarray, flags: np.ndarray,
                       kinds_mask: int = ALL_EVENTS) -> np.ndarray:
    """Calendar days from each tick to the next later tick with an event.

    The event of the tick itself does not count: at tick ``t`` its shock is
    already in the tick's close, so the next event is strictly later. An
    agent at the tick before an event reads the calendar days to it (1, or 3
    over a weekend).

    Parameters
    ----------
    dates : numpy.ndarray
        ``datetime64[D]`` tick dates, ascending, shape ``(n_ticks,)``.
    flags : numpy.ndarray
        Event flags per tick (``MarketPaths.events``), shape ``(n_ticks,)``.
    kinds_mask : int, optional
        Kinds that count, e.g. ``FOMC`` or ``CPI | PPI``; all by default.

    Returns
    -------
    numpy.ndarray
        ``int64`` calendar days, shape ``(n_ticks,)``; ``NO_EVENT_DAYS``
        (9999) where no event of those kinds remains among the ticks.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    flags = np.asarray(flags)
    if flags.shape != dates.shape:
        raise ValueError(f"flags must have the shape of dates {dates.shape}, got {flags.shape}")
    event_ticks = np.flatnonzero(flags & kinds_mask)
    following = np.searchsorted(event_ticks, np.arange(dates.size), side="right")
    days = np.full(dates.size, NO_EVENT_DAYS, dtype=np.int64)
    has_next = following < event_ticks.size
    next_dates = dates[event_ticks[following[has_next]]]
    days[has_next] = (next_dates - dates[has_next]).astype(np.int64)
    return days


def event_sizes(spec: EventSpec) -> dict[int, tuple[float, float]]:
    """Shock sizes per kind: ``kind -> (spot_std log-return, variance_jump mean)``."""
    return {
        FOMC: (float(spec.fomc_spot_std), float(spec.fomc_variance_jump)),
        CPI: (float(spec.cpi_spot_std), float(spec.cpi_variance_jump)),
        PPI: (float(spec.ppi_spot_std), float(spec.ppi_variance_jump)),
    }


def has_shocks(spec: EventSpec) -> bool:
    """Whether any event kind moves the SPX or the variance."""
    return any(s > 0.0 or m > 0.0 for s, m in event_sizes(spec).values())


def draw_event_shocks(kinds: int, spec: EventSpec, n_paths: int, rng: np.random.Generator,
                      ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The extra log SPX return and variance jump of a step ending on an event tick.

    Draw order: first, if the day's total ``s^2 = sum s_k^2`` is positive,
    ``rng.standard_normal(n_paths)`` for the spot shock ``-s^2/2 + s Z``;
    then, for each kind of the day in the order FOMC, CPI, PPI whose mean
    variance jump is positive, ``rng.exponential(mean, n_paths)``. Nothing
    is drawn for kinds without shocks.

    Parameters
    ----------
    kinds : int
        Flags of the tick (``FOMC | CPI | PPI`` bits).
    spec : EventSpec
        Shock sizes.
    n_paths : int
        Paths.
    rng : numpy.random.Generator
        The market stream; it is advanced as above.

    Returns
    -------
    log_spot_shock : numpy.ndarray or None
        Log-return per path, shape ``(n_paths,)``; ``None`` if no spot shock.
    variance_jump : numpy.ndarray or None
        Annualized variance per path, ``>= 0``; ``None`` if no variance jump.
    """
    sizes = event_sizes(spec)
    day_kinds = [kind for kind in EVENT_KINDS.values() if kinds & kind]
    spot_var = sum(sizes[kind][0] ** 2 for kind in day_kinds)
    log_spot_shock = None
    if spot_var > 0.0:
        log_spot_shock = -0.5 * spot_var + math.sqrt(spot_var) * rng.standard_normal(n_paths)
    variance_jump = None
    for kind in day_kinds:
        mean = sizes[kind][1]
        if mean > 0.0:
            draw = rng.exponential(mean, n_paths)
            variance_jump = draw if variance_jump is None else variance_jump + draw
    return log_spot_shock, variance_jump
