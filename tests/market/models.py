"""Market models shared by the market tests."""

import dataclasses

from sim.config import BreadthSpec, EventSpec, MarketModel, RegimeChain, RegimeParams

#: Four regimes with distinct dynamics, a sticky chain whose rows have zeros,
#: and two stress regimes.
FOUR_REGIMES = RegimeChain(
    names=("calm", "normal", "stressed", "crisis"),
    transition=((0.97, 0.03, 0.0, 0.0),
                (0.02, 0.95, 0.03, 0.0),
                (0.0, 0.06, 0.90, 0.04),
                (0.0, 0.0, 0.15, 0.85)),
    initial="stationary",
    stress=("stressed", "crisis"),
    params=(RegimeParams(name="calm", theta=0.012, xi=0.4, jump_intensity=0.2),
            RegimeParams(name="stressed", theta=0.06, xi=0.9, rho=-0.8, jump_intensity=2.0),
            RegimeParams(name="crisis", theta=0.15, xi=1.2, kappa=6.0, jump_intensity=6.0,
                         jump_spot_mean=-0.05, equity_premium=-0.2)),
)


def four_regime_model(**changes) -> MarketModel:
    """Default market with ``FOUR_REGIMES``, event shocks and coupled breadth."""
    model = MarketModel(
        regimes=FOUR_REGIMES,
        events=EventSpec(fomc_spot_std=0.01, fomc_variance_jump=0.01, cpi_spot_std=0.008,
                         cpi_variance_jump=0.005, ppi_spot_std=0.004),
        breadth=BreadthSpec(divergence_predicts_stress=True),
    )
    return dataclasses.replace(model, **changes)
