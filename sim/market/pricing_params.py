"""Per-regime parameters that option and VIX prices are computed from."""

from __future__ import annotations

import numpy as np

from sim.config import MarketModel
from sim.market.heston import vix_jump_term

#: Rows of :func:`regime_pricing_table`.
PRICING_ROWS = ("kappa", "theta", "jump_intensity", "jump_variance_mean", "jump_var_contrib")


def regime_pricing_table(model: MarketModel) -> np.ndarray:
    """Per-regime pricing parameters, float64 of shape ``(5, n_regimes)``.

    Rows (:data:`PRICING_ROWS`): ``kappa`` (1/year), ``theta`` (annualized
    variance), ``jump_intensity`` (jumps/year), ``jump_variance_mean``
    (annualized variance) and the VIX jump term ``2 lambda (E[e^J] - 1 - E[J])``
    (annualized variance), each regime under the pricing measure
    (``MarketModel.pricing_models``).
    """
    rows = [(m.kappa, m.theta, m.jump_intensity, m.jump_variance_mean, vix_jump_term(m))
            for m in model.pricing_models()]
    return np.ascontiguousarray(np.array(rows, dtype=np.float64).T)
