"""Per-regime parameters that option and VIX prices are computed from."""

from __future__ import annotations

import numpy as np

from sim.config import MarketModel
from sim.market.heston import vix_jump_term

#: Rows of :func:`regime_pricing_table`.
PRICING_ROWS = ("kappa", "theta", "jump_intensity", "jump_variance_mean", "jump_var_contrib")


def pricing_models(model: MarketModel) -> tuple[MarketModel, ...]:
    """One single-regime model per regime, under the pricing measure.

    Each regime's model is ``regime.pricing_model()`` where the model defines
    one (a volatility risk premium changes ``kappa`` and ``theta`` under the
    pricing measure), else the regime's model itself.
    """
    return tuple(r.pricing_model() if hasattr(r, "pricing_model") else r
                 for r in model.regime_models())


def regime_pricing_table(model: MarketModel) -> np.ndarray:
    """Per-regime pricing parameters, float64 of shape ``(5, n_regimes)``.

    Rows (:data:`PRICING_ROWS`): ``kappa`` (1/year), ``theta`` (annualized
    variance), ``jump_intensity`` (jumps/year), ``jump_variance_mean``
    (annualized variance) and the VIX jump term ``2 lambda (E[e^J] - 1 - E[J])``
    (annualized variance), each under the pricing measure.
    """
    rows = [(m.kappa, m.theta, m.jump_intensity, m.jump_variance_mean, vix_jump_term(m))
            for m in pricing_models(model)]
    return np.ascontiguousarray(np.array(rows, dtype=np.float64).T)
