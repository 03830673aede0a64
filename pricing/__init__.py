"""Pure numeric pricing kernels: Black-Scholes, Black-76, implied vol, smiles, VIX."""

from pricing.black import Greeks, black76_greeks, black76_price, bs_greeks, bs_price
from pricing.implied import implied_vol, implied_vol_black76
from pricing.smile import smile_vol

__all__ = [
    "Greeks",
    "black76_greeks",
    "black76_price",
    "bs_greeks",
    "bs_price",
    "implied_vol",
    "implied_vol_black76",
    "smile_vol",
]
