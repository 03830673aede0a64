"""Are VIX hedges priced at what the model's own paths pay?

Two checks, with trading costs off:

1. **Options.** From a preset's first-tick state, simulate many paths under
   the pricing measure (the preset's variance risk premium, if any, taken
   out), and compare the VIX call price of ``sim.instruments.VixPricer``
   (Black-76 on the model future at the model's lognormal vol of VIX, plus
   the scenario's ``option_skew``) with the discounted mean payoff
   ``max(VIX_T - K, 0)`` of the paths, for several expiries and strikes (with
   the standard error). Scheduled events are switched off here (the pricer
   ignores them).
2. **Hedge P&L.** Run ``none`` and ``static-vix`` on the same paths with costs
   off and print the paired mean P&L difference with its standard error: a
   fairly priced hedge costs nothing on average before costs.

Presets without a variance risk premium price under the path dynamics, so
any gap is a pricing approximation (lognormal VIX, frozen regime), or a
premium the scenario states (``option_skew > 0``).

Run: ``python benchmarks/vix_option_bias.py [--paths N]`` (default 40,000
option paths and 2,000 hedge paths; about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

import scenarios
from sim.config import CostModel
from sim.engine import MarketView
from sim.instruments import VixPricer
from sim.market import generate
from sim.market.calendar import TICKS_PER_YEAR

EXPIRY_TICKS = (5, 10, 20)
OFFSETS = (0.0, 2.0, 5.0, 10.0)


def option_table(name: str, skew: float | None, n_paths: int, seed: int) -> list[str]:
    """Model price vs Monte Carlo payoff of VIX calls from one preset's first state."""
    scenario = scenarios.load(name)
    market_model = dataclasses.replace(scenario.market, events=dataclasses.replace(
        scenario.market.events, calendar="none"))
    vix_spec = scenario.vix if skew is None else dataclasses.replace(scenario.vix,
                                                                     option_skew=skew)
    # Paths under the pricing measure: a preset's variance risk premium is a
    # stated price of risk, not a pricing error, so it is taken out here (the
    # hedge P&L below, on the real paths, keeps it).
    paths = generate(market_model.under_pricing_measure(), n_paths, max(EXPIRY_TICKS),
                     1.0 / TICKS_PER_YEAR,
                     np.random.default_rng(seed), start_date=scenario.simulation.start_date)
    days = paths.dates.astype("datetime64[D]").astype(np.int64)
    pricer = VixPricer(market_model, vix_spec)
    # Price from one path's first-tick state (all paths start in the same state
    # unless the initial regime is drawn; then group by it).
    lines = []
    for regime in np.unique(paths.regime[0]):
        group = paths.regime[0] == regime
        first = int(np.flatnonzero(group)[0])
        view = MarketView(tick=0, date=paths.dates[0], day=int(days[0]),
                          spot=paths.spot[0, [first]], variance=paths.variance[0, [first]],
                          vix=paths.vix[0, [first]], is_last=False,
                          regime=paths.regime[0, [first]])
        for tick in EXPIRY_TICKS:
            expiry = days[tick]
            future = float(pricer.future(view, np.int64(expiry))[0])
            vix_T = paths.vix[tick, group]
            discount = np.exp(-market_model.rate * (expiry - days[0]) / 365.0)
            for offset in OFFSETS:
                strike = np.round((future + offset) * 2.0) / 2.0
                price = pricer.option(view, np.array([[strike]]), np.array([[True]]),
                                      np.array([[expiry]]), np.array([[True]]))[0, 0]
                payoff = np.maximum(vix_T - strike, 0.0) * discount
                mc, se = payoff.mean(), payoff.std(ddof=1) / np.sqrt(payoff.size)
                lines.append(
                    f"{name:<11} {paths.regime_names[regime]:<9} {expiry - days[0]:>4d} "
                    f"{future:>7.2f} {vix_T.mean():>7.2f} {strike:>6.1f} {price:>8.3f} "
                    f"{mc:>8.3f} {se:>6.3f} {100 * (price / mc - 1) if mc > 0 else np.nan:>+8.1f}")
    return lines


def hedge_pnl(name: str, skew: float | None, n_paths: int, seed: int) -> str:
    """Paired mean P&L of static-vix minus none with costs off ($ per path)."""
    from sim.compare import compare
    from sim.experiment import apply_overrides

    scenario = apply_overrides(scenarios.load(name), (("account.initial_cash", 1e6),))
    no_costs = CostModel(commission=0.0, min_width=0.0, width_share=0.0, vix_widening=0.0,
                         future_half_spread=0.0, future_commission=0.0)
    vix_spec = scenario.vix if skew is None else dataclasses.replace(scenario.vix,
                                                                     option_skew=skew)
    scenario = dataclasses.replace(scenario, costs=no_costs, vix=vix_spec)
    result = compare([scenario], ["none", "static-vix"], n_paths=n_paths, seed=seed,
                     bootstrap=200)
    a = result.paths[scenario.name]["static-vix"]["pnl"].to_numpy()
    b = result.paths[scenario.name]["none"]["pnl"].to_numpy()
    spend = result.paths[scenario.name]["static-vix"]["hedge_spend"].to_numpy()
    diff = a - b
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    return (f"{name:<11} skew {vix_spec.option_skew:<4g} static-vix - none: "
            f"{diff.mean():>+9,.0f} +- {se:,.0f} $/path (hedge premium paid "
            f"{spend.mean():,.0f} $/path)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=40_000)
    parser.add_argument("--hedge-paths", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    print("VIX calls: model price vs discounted mean payoff of the model's paths")
    print(f"{'preset':<11} {'regime':<9} {'days':>4} {'future':>7} {'E[VIX]':>7} "
          f"{'strike':>6} {'model':>8} {'paths':>8} {'se':>6} {'gap %':>8}")
    for name, skew in (("default", None), ("default", 0.6), ("whipsaw_range", None),
                       ("calibrated", None)):
        if skew is not None:
            print(f"-- default with option_skew = {skew} (a stated VIX call premium)")
        for line in option_table(name, skew, args.paths, args.seed):
            print(line)
    print()
    print("Hedge P&L with costs off, same paths (a fair hedge is 0 on average)")
    for name, skew in (("default", None), ("default", 0.6), ("calm_grind", None),
                       ("whipsaw_range", None), ("calibrated", None)):
        print(hedge_pnl(name, skew, args.hedge_paths, args.seed))


if __name__ == "__main__":
    main()
