"""Does the way options are marked give an exit rule an edge the market does not have?

Runs the default condor with trading costs off on the same paths under
several exit rules and marking modes, and prints the mean trading P&L per path
and year (P&L minus interest on cash, $) with its standard error. With
model-consistent marks every rule should be fair (about 0) before costs; a
rule whose P&L differs from holding to expiry by many standard errors is
harvesting a marking artifact, not the market.

Run: ``python benchmarks/marking_bias.py [--paths N]`` (default 6,000 paths,
about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

import scenarios
from sim.config import CostModel, EventSpec
from sim.runner import run

RULES = (("hold to expiry", 1.0, 100.0), ("profit target 50%", 0.5, 100.0),
         ("target 50% + stop 2x", 0.5, 2.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    base = scenarios.load("default")
    base = dataclasses.replace(base, costs=CostModel(commission=0.0, min_width=0.0,
                                                     width_share=0.0, vix_widening=0.0))
    variants = []
    for kind in ("model", "parametric"):
        for events in (True, False):
            market = base.market if events else dataclasses.replace(base.market,
                                                                    events=EventSpec())
            variants.append((kind, events, dataclasses.replace(
                base, market=market, smile=dataclasses.replace(base.smile, kind=kind))))
    print(f"{'marks':<11} {'events':<7} {'exit rule':<22} {'trading P&L $/path/yr':>22}")
    for kind, events, scenario in variants:
        for name, target, stop in RULES:
            s = dataclasses.replace(scenario, condor=dataclasses.replace(
                scenario.condor, profit_target=target, stop_loss=stop))
            r = run(s, n_paths=args.paths, seed=args.seed, batch_size=args.paths)
            pnl = r.paths["pnl"] - r.paths["carry"]
            se = pnl.std(ddof=1) / np.sqrt(pnl.size)
            print(f"{kind:<11} {'on' if events else 'off':<7} {name:<22} "
                  f"{pnl.mean():>13,.0f} +- {se:>4,.0f}", flush=True)


if __name__ == "__main__":
    main()
