"""Stochastic SPX/VIX path generators and the trading calendar."""

from sim.market.calendar import trading_dates
from sim.market.heston import generate
from sim.market.paths import MarketPaths

__all__ = ["MarketPaths", "generate", "trading_dates"]
