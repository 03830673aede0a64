"""Speed report: pricing kernel throughput and end-to-end path-ticks per second.

Run with ``python benchmarks/run.py`` (add ``--quick`` for a smoke run). All
numbers come from one run on one machine and are reported as rates and as
ratios between rows measured side by side; nothing here asserts a time.

Measured:

1. ``bs_price`` on 1,000,000 random options (options/s), beside the same
   Black-Scholes formula written with ``scipy.stats.norm`` on numpy arrays;
2. path generation (path-steps/s) for the default scenario's model;
3. end-to-end simulation of the default scenario (market generation, SimPy
   engine, condor agent, full repricing of every leg at every tick, identity
   checks), 10,000 paths x 252 daily ticks after a warm-up (path-ticks/s).

The results are printed as a table and written to
``benchmarks/results/run.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

import pricing
import scenarios
from sim.market import generate
from sim.runner import TICKS_PER_YEAR, run


def best_of(fn, repeat: int) -> float:
    """Fastest wall time (s) of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def scipy_bs_price(S, K, T, r, q, sigma, is_call):
    """Black-Scholes with scipy.stats.norm over numpy arrays (the comparison)."""
    sqrt_t = np.sqrt(T)
    d1 = (np.log(S / K) + (r - q + 0.5 * sigma**2) * T) / (sigma * sqrt_t)
    d2 = d1 - sigma * sqrt_t
    call = S * np.exp(-q * T) * norm.cdf(d1) - K * np.exp(-r * T) * norm.cdf(d2)
    put = K * np.exp(-r * T) * norm.cdf(-d2) - S * np.exp(-q * T) * norm.cdf(-d1)
    return np.where(is_call, call, put)


def bench_pricing(n: int, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    S = rng.uniform(50, 150, n)
    K = rng.uniform(50, 150, n)
    T = rng.uniform(0.02, 2.0, n)
    r = rng.uniform(0.0, 0.08, n)
    q = rng.uniform(0.0, 0.04, n)
    sigma = rng.uniform(0.05, 0.8, n)
    is_call = rng.random(n) < 0.5
    ours = pricing.bs_price(S, K, T, r, q, sigma, is_call)
    reference = scipy_bs_price(S, K, T, r, q, sigma, is_call)
    max_diff = float(np.max(np.abs(ours - reference)))
    t_ours = best_of(lambda: pricing.bs_price(S, K, T, r, q, sigma, is_call), repeat)
    t_scipy = best_of(lambda: scipy_bs_price(S, K, T, r, q, sigma, is_call), repeat)
    return {"options": n, "bs_price_options_per_s": n / t_ours,
            "scipy_options_per_s": n / t_scipy, "speedup_vs_scipy": t_scipy / t_ours,
            "max_abs_diff_vs_scipy": max_diff}


def bench_generation(n_paths: int, n_steps: int) -> dict:
    model = scenarios.load("default").market
    dt = 1.0 / TICKS_PER_YEAR
    generate(model, 100, 10, dt, np.random.default_rng(0))  # warm-up
    start = time.perf_counter()
    generate(model, n_paths, n_steps, dt, np.random.default_rng(1))
    wall = time.perf_counter() - start
    return {"paths": n_paths, "steps": n_steps, "seconds": wall,
            "path_steps_per_s": n_paths * n_steps / wall}


def bench_end_to_end(n_paths: int, n_days: int) -> dict:
    import dataclasses

    scenario = scenarios.load("default")
    scenario = dataclasses.replace(scenario, simulation=dataclasses.replace(
        scenario.simulation, n_days=n_days, batch_size=n_paths))
    start = time.perf_counter()
    run(scenario, n_paths=50, seed=0)  # warm-up: compiles or loads cached kernels
    warm_up = time.perf_counter() - start
    start = time.perf_counter()
    result = run(scenario, n_paths=n_paths, seed=1)
    wall = time.perf_counter() - start
    ticks = n_paths * (n_days + 1)
    return {"paths": n_paths, "ticks_per_path": n_days + 1, "seconds": wall,
            "path_ticks_per_s": ticks / wall, "warm_up_seconds": warm_up,
            "mean_pnl_usd": float(np.mean(result.paths["pnl"]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "run.json")
    args = parser.parse_args()
    n_options = 100_000 if args.quick else 1_000_000
    n_paths = 500 if args.quick else 10_000
    report = {
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "platform": platform.platform()},
        "pricing": bench_pricing(n_options, repeat=5),
        "generation": bench_generation(n_paths, 252),
        "end_to_end": bench_end_to_end(n_paths, 252),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    p, g, e = report["pricing"], report["generation"], report["end_to_end"]
    rows = [
        ("bs_price (numba)", f"{p['bs_price_options_per_s']:,.0f}", "options/s"),
        ("scipy.stats.norm formula", f"{p['scipy_options_per_s']:,.0f}", "options/s"),
        ("  ratio numba / scipy", f"{p['speedup_vs_scipy']:.1f}", "x"),
        ("path generation (SVCJ, QE)", f"{g['path_steps_per_s']:,.0f}", "path-steps/s"),
        (f"end to end, {e['paths']:,} paths x {e['ticks_per_path']} ticks",
         f"{e['path_ticks_per_s']:,.0f}", "path-ticks/s"),
        ("  its wall time", f"{e['seconds']:.2f}", "s"),
        ("  warm-up (compile or cache load)", f"{e['warm_up_seconds']:.2f}", "s"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'value':>14}  unit")
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:>14}  {unit}")
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
