"""Per-regime parameters that option and VIX prices are computed from."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.config import MarketModel
from sim.market.heston import vix_jump_term

#: Rows of :func:`regime_pricing_table`.
PRICING_ROWS = ("kappa", "theta", "jump_intensity", "jump_variance_mean", "jump_var_contrib")
#: Rows of the SVCJ table the Fourier pricer takes (``pricing.svcj`` order).
SVCJ_ROWS = ("kappa", "theta", "xi", "rho", "jump_intensity", "jump_spot_mean",
             "jump_spot_std", "jump_variance_mean", "jump_spot_per_variance")


def pricing_table(model: MarketModel, rows: Sequence[str]) -> np.ndarray:
    """Named parameters of every regime under the pricing measure, ``(len(rows), n_regimes)``.

    Each row is a ``MarketModel`` field of ``model.pricing_models()`` (kappa
    and theta are the Q values), or ``"jump_var_contrib"``, the VIX jump term
    ``2 lambda (E[e^J] - 1 - E[J])`` (annualized variance). Units as the fields.
    """
    def value(m: MarketModel, name: str) -> float:
        return vix_jump_term(m) if name == "jump_var_contrib" else getattr(m, name)

    table = [[value(m, name) for m in model.pricing_models()] for name in rows]
    return np.ascontiguousarray(np.array(table, dtype=np.float64))


def regime_pricing_table(model: MarketModel) -> np.ndarray:
    """The :data:`PRICING_ROWS` of every regime under Q, float64 ``(5, n_regimes)``."""
    return pricing_table(model, PRICING_ROWS)
