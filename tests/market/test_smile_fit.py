"""The default smile prices options close to fair under the default market model."""

from __future__ import annotations

import numpy as np

from sim.config import MarketModel, SmileModel
from sim.market.smile_fit import fit_smile, model_implied_vols, smile_errors


def test_default_smile_matches_the_default_models_implied_vols():
    quotes = model_implied_vols(MarketModel(), variances=(0.015, 0.04), expiries_days=(35,),
                                moneyness=np.linspace(-2.0, 1.5, 6), n_paths=40_000, seed=3)
    errors = smile_errors(SmileModel(), quotes)
    # Within 2 vol points everywhere on the grid (Monte Carlo error is ~0.1-0.3 points).
    assert np.all(np.abs(errors) < 0.02), errors
    # The fit reproduces the shipped defaults' quality, and a badly mispriced
    # smile is detected.
    refit = fit_smile(quotes)
    assert np.sqrt(np.mean(smile_errors(refit, quotes) ** 2)) <= np.sqrt(
        np.mean(errors**2)) + 1e-9
    cheap = SmileModel(atm_vix_ratio=0.8)
    assert np.mean(smile_errors(cheap, quotes)) < -0.015
