"""Stochastic SPX/VIX path generators, regimes, macro events, breadth and the
trading calendar."""

from sim.market.calendar import trading_dates
from sim.market.events import (
    ALL_EVENTS,
    CPI,
    FOMC,
    PPI,
    days_to_next_event,
    event_flags,
    generated_calendar,
    load_calendar_file,
)
from sim.market.heston import generate
from sim.market.paths import MarketPaths
from sim.market.regimes import stationary_distribution

__all__ = [
    "ALL_EVENTS",
    "CPI",
    "FOMC",
    "PPI",
    "MarketPaths",
    "days_to_next_event",
    "event_flags",
    "generate",
    "generated_calendar",
    "load_calendar_file",
    "stationary_distribution",
    "trading_dates",
]
