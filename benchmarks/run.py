"""Speed report of the simulator: pricing, path generation, end to end, naive, scaling, startup.

Run from the repository root::

    python benchmarks/run.py                       # everything, ~4 min on 2 cores
    python benchmarks/run.py --quick               # small sizes, a smoke run (~1 min)
    python benchmarks/run.py --only pricing,naive  # some sections
    python benchmarks/run.py --max-paths 100000    # scaling ladder up to 100k paths

Sections (``--only`` takes a comma-separated list of these names):

``pricing``
    ``pricing.bs_price`` on 1,000,000 random options (options/s) beside a
    plain ``@njit`` loop over the same formula and the same erfc normal CDF
    (the floor: no input checks, no degenerate cases) and beside the same
    formula with ``scipy.stats.norm.cdf`` on numpy arrays. Median of
    ``--repeat`` timings after one warm-up call each. Targets: time of
    ``bs_price`` / time of the floor <= 1.25; ``bs_price`` >= 2x faster than scipy.
``generation``
    ``sim.market.generate`` for the ``calibrated`` preset (four regimes,
    SVCJ jumps, macro events, breadth), 20,000 paths x 252 steps (path-steps/s).
``end_to_end``
    ``sim.engine.simulate`` (SimPy engine, agents, book marking every leg at
    the model's price every tick, accounting identity checked every tick) of
    the condor + ``alvh`` policy and of the condor alone (``none``) on one
    generated ``default`` market of 10,000 paths x 252 daily steps (253
    ticks), after a warm-up run on 200 paths; path-ticks/s = paths x 253 /
    wall time of ``simulate``; generation timed apart. Also the same
    ``alvh`` work through ``sim.runner.run(backend="processes")`` on two
    workers (generation and worker start included). Target: >= 1,000,000
    path-ticks/s for ``alvh``.
``naive``
    ``benchmarks/naive.py``: the same condor (and one VIX call per path)
    simulated the naive way, one SimPy process per path, scalar
    Black-Scholes / Black-76 with ``scipy.stats.norm`` on Python floats, on
    20 paths of the same kind of market; the ratio of the vectorized rate
    (``end_to_end``, which this section therefore also runs) to the naive
    one. Target: >= 300x. Also checks that the naive condor gives the same
    P&L as the vectorized ``none`` run on the same paths.
``scaling``
    ``python -m sim.cli run --paths N --out DIR`` (= ``alvh run``) in a child
    process for N = 1k, 10k, 100k (``--backend serial``) and 1M (``--backend
    processes --workers 2``): wall time, path-ticks/s, peak RSS of the
    largest process (GNU ``time -v``) and of the whole process tree (sampled
    from ``/proc``), CPU time. Fixed-cost runs (``--paths 1``, or one path
    per worker) alternate with the small rungs and are subtracted before the
    per-path times are compared. Targets: core time per path (the run's own
    wall time times the cores it used: 1 serial, the workers otherwise)
    within +-30% of its median across the ladder; largest-process RSS at the
    top rung within 2x that of the rung below, and the process tree under 2 GB.
``startup``
    ``alvh run --paths 2000`` in a child process with ``NUMBA_CACHE_DIR``
    pointing to a fresh empty folder (cold: every kernel compiles), then the
    same command again (warm: kernels load from that cache); plus the import
    time of the modules ``alvh run`` loads.

Every number is written with its unit to ``benchmarks/results/run.json``
(with the machine, the date and the command) and printed as one table with
a target and a met? column. All numbers come from one run on one machine;
nothing here (or in the tests) asserts a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np
from naive import NaiveResult, run_naive
from numba import njit, prange
from scipy.stats import norm

import pricing
import pricing.black
import scenarios
from sim.config import Scenario
from sim.engine import BatchResult, simulate
from sim.market import generate
from sim.market.calendar import TICKS_PER_YEAR
from sim.market.paths import MarketPaths
from sim.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "run.json"
SECTIONS = ("pricing", "generation", "end_to_end", "naive", "scaling", "startup")
#: Paths of the scaling ladder.
LADDER = (1_000, 10_000, 100_000, 1_000_000)
QUICK_LADDER = (500, 1_000, 2_000)
#: Paths of the untimed run that warms the kernel cache before the scaling ladder.
PATHS_PER_WARM_UP = 300
#: Scaling rungs up to this many paths are run ``REPEATS_SMALL`` times, each
#: after a fixed-cost run, and the fastest of each is kept.
REPEAT_UP_TO = 10_000
REPEATS_SMALL = 5
DT = 1.0 / TICKS_PER_YEAR
N_DAYS = 252
MB = 1024.0 * 1024.0


# ---------------------------------------------------------------------------
# Report structure
# ---------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the printed table and of the JSON file: a number with its unit.

    ``target`` is a human-readable condition (``">= 300"``), ``met`` whether
    this run met it (None where there is no target or it could not be checked).
    """

    key: str
    label: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None


@dataclass
class Section:
    """What one benchmark measured: parameters (with units), rows and notes."""

    name: str
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def param(self, name: str, value: Any, unit: str) -> None:
        """Record a parameter of the benchmark with its unit."""
        self.parameters[name] = {"value": value, "unit": unit}

    def add(self, key: str, label: str, value: float | None, unit: str, target: str = "",
            met: bool | None = None) -> Row:
        """Append a measured row and return it."""
        row = Row(key, label, None if value is None else float(value), unit, target, met)
        self.rows.append(row)
        return row

    def row(self, key: str) -> Row | None:
        """The row of ``key``, if measured."""
        return next((r for r in self.rows if r.key == key), None)

    def to_json(self) -> dict[str, Any]:
        """The section as JSON-ready data."""
        return {"parameters": self.parameters, "rows": [dataclasses.asdict(r) for r in self.rows],
                "notes": self.notes, "section_wall_s": self.seconds}


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time (s) of ``repeat`` calls of ``fn``, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# ---------------------------------------------------------------------------
# 1. Pricing kernel
# ---------------------------------------------------------------------------

_SQRT_2 = math.sqrt(2.0)


def _floor_body(S, K, T, r, q, sigma, is_call, out, i):
    # The formula of pricing.black.bs_price_one with nothing around it: no NaN
    # or degenerate-input branches, no input checks, the same erfc normal CDF,
    # the same error_model (no division checks).
    total_vol = sigma[i] * math.sqrt(T[i])
    d1 = (math.log(S[i] / K[i]) + (r[i] - q[i]) * T[i]) / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    fwd_pv = S[i] * math.exp(-q[i] * T[i])
    strike_pv = K[i] * math.exp(-r[i] * T[i])
    if is_call[i]:
        out[i] = (fwd_pv * 0.5 * math.erfc(-d1 / _SQRT_2)
                  - strike_pv * 0.5 * math.erfc(-d2 / _SQRT_2))
    else:
        out[i] = (strike_pv * 0.5 * math.erfc(d2 / _SQRT_2)
                  - fwd_pv * 0.5 * math.erfc(d1 / _SQRT_2))


_floor_one = njit(cache=True, error_model="numpy", inline="always")(_floor_body)


@njit(cache=True, error_model="numpy")
def _floor_bs_kernel(S, K, T, r, q, sigma, is_call, out):
    for i in range(out.shape[0]):
        _floor_one(S, K, T, r, q, sigma, is_call, out, i)


@njit(cache=True, error_model="numpy", parallel=True)
def _floor_bs_kernel_parallel(S, K, T, r, q, sigma, is_call, out):
    for i in prange(out.shape[0]):
        _floor_one(S, K, T, r, q, sigma, is_call, out, i)


def floor_bs_price(S: np.ndarray, K: np.ndarray, T: np.ndarray, r: np.ndarray,
                   q: np.ndarray, sigma: np.ndarray, is_call: np.ndarray,
                   parallel: bool = False) -> np.ndarray:
    """The floor: a plain ``@njit`` loop over the Black-Scholes formula (output allocated here).

    ``parallel=True``: the same loop as a ``prange`` over the numba threads.
    """
    out = np.empty(S.shape[0])
    (_floor_bs_kernel_parallel if parallel else _floor_bs_kernel)(S, K, T, r, q, sigma,
                                                                   is_call, out)
    return out


def scipy_bs_price(S: np.ndarray, K: np.ndarray, T: np.ndarray, r: np.ndarray,
                   q: np.ndarray, sigma: np.ndarray, is_call: np.ndarray) -> np.ndarray:
    """The same formula on numpy arrays with ``scipy.stats.norm.cdf`` (one CDF pair per option)."""
    w = np.where(is_call, 1.0, -1.0)
    total_vol = sigma * np.sqrt(T)
    d1 = (np.log(S / K) + (r - q) * T) / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    return w * (S * np.exp(-q * T) * norm.cdf(w * d1) - K * np.exp(-r * T) * norm.cdf(w * d2))


def bench_pricing(n_options: int, repeat: int) -> Section:
    """Benchmark 1: ``bs_price`` against the numba floor and scipy."""
    section = Section("pricing")
    section.param("options", n_options, "options")
    section.param("repeats", repeat, "timings (median reported, after one warm-up call)")
    rng = np.random.default_rng(0)
    S = rng.uniform(50.0, 150.0, n_options)
    K = rng.uniform(50.0, 150.0, n_options)
    T = rng.uniform(0.02, 2.0, n_options)
    r = rng.uniform(0.0, 0.08, n_options)
    q = rng.uniform(0.0, 0.04, n_options)
    sigma = rng.uniform(0.05, 0.8, n_options)
    is_call = rng.random(n_options) < 0.5
    args = (S, K, T, r, q, sigma, is_call)
    threads = numba.get_num_threads()
    parallel = n_options >= pricing.black.PARALLEL_MIN and threads > 1
    section.param("numba_threads", threads, "threads")
    ours, floor, ref = pricing.bs_price(*args), floor_bs_price(*args), scipy_bs_price(*args)
    floor_parallel = floor_bs_price(*args, parallel=True)
    t_ours = median_time(lambda: pricing.bs_price(*args), repeat)
    t_floor_serial = median_time(lambda: floor_bs_price(*args), repeat)
    t_floor_parallel = median_time(lambda: floor_bs_price(*args, parallel=True), repeat)
    t_scipy = median_time(lambda: scipy_bs_price(*args), repeat)
    numba.set_num_threads(1)
    try:
        t_ours_serial = median_time(lambda: pricing.bs_price(*args), repeat)
    finally:
        numba.set_num_threads(threads)
    # The floor with the same threading as bs_price (a prange loop when
    # bs_price runs its parallel kernel), so the ratio measures overhead only.
    t_floor = t_floor_parallel if parallel else t_floor_serial
    ratio = t_ours / t_floor
    ratio_serial = t_ours_serial / t_floor_serial
    speedup = t_scipy / t_ours
    section.add("bs_price_rate", f"pricing.bs_price (numba, {threads} threads)",
                n_options / t_ours, "options/s")
    section.add("floor_rate", "floor: plain @njit prange loop, same formula, same threads"
                if parallel else "floor: plain @njit loop, same formula",
                n_options / t_floor, "options/s")
    section.add("scipy_rate", "same formula, scipy.stats.norm on arrays", n_options / t_scipy,
                "options/s")
    section.add("ratio_to_floor", "time bs_price / time floor", ratio, "x", "<= 1.25",
                ratio <= 1.25)
    section.add("speedup_vs_scipy", "speed bs_price / speed scipy", speedup, "x", ">= 2",
                speedup >= 2.0)
    section.add("bs_price_serial_rate", "pricing.bs_price on 1 numba thread",
                n_options / t_ours_serial, "options/s")
    section.add("floor_serial_rate", "floor: plain @njit loop (1 thread)",
                n_options / t_floor_serial, "options/s")
    section.add("ratio_to_floor_serial", "time bs_price / time floor, both 1 thread",
                ratio_serial, "x", "<= 1.25", ratio_serial <= 1.25)
    section.add("speedup_vs_scipy_serial", "speed bs_price (1 thread) / speed scipy",
                t_scipy / t_ours_serial, "x")
    section.add("max_abs_diff_floor_parallel", "max |floor prange - floor loop|",
                float(np.max(np.abs(floor_parallel - floor))), "index points")
    section.add("max_abs_diff_floor", "max |bs_price - floor|",
                float(np.max(np.abs(ours - floor))), "index points")
    section.add("max_abs_diff_scipy", "max |bs_price - scipy|",
                float(np.max(np.abs(ours - ref))), "index points")
    section.notes.append("inputs: S, K uniform 50-150, T 0.02-2 y, r 0-8%, q 0-4%, "
                         "sigma 5-80%, half calls; float64 contiguous arrays")
    section.notes.append("bs_price runs a prange kernel from "
                         f"{pricing.black.PARALLEL_MIN:,} options when numba has several "
                         "threads (scipy.stats.norm is single-threaded); the 1-thread rows "
                         "show the same comparison without threads")
    section.notes.append("scipy evaluates one CDF pair per option (call or put, signs folded "
                         "in); the previous run.py priced both the call and the put with "
                         "scipy and selected, twice the CDFs, hence its larger ratio")
    return section


# ---------------------------------------------------------------------------
# 2. Path generation
# ---------------------------------------------------------------------------


def bench_generation(n_paths: int, repeat: int) -> Section:
    """Benchmark 2: ``sim.market.generate`` for the ``calibrated`` preset."""
    section = Section("generation")
    scenario = scenarios.load("calibrated")
    model = scenario.market
    start_date = scenario.simulation.start_date
    section.param("scenario", "calibrated", "preset")
    section.param("regimes", model.regimes.n_regimes, "regimes")
    section.param("paths", n_paths, "paths")
    section.param("steps", N_DAYS, "daily steps")
    section.param("repeats", repeat, "timings (median reported, after a warm-up)")
    generate(model, 200, N_DAYS, DT, np.random.default_rng(0), start_date=start_date)
    times = []
    for seed in range(repeat):
        start = time.perf_counter()
        market = generate(model, n_paths, N_DAYS, DT, np.random.default_rng(seed + 1),
                          start_date=start_date)
        times.append(time.perf_counter() - start)
        del market
    wall = float(np.median(times))
    section.add("path_steps_rate", f"generate, calibrated, {n_paths:,} x {N_DAYS}",
                n_paths * N_DAYS / wall, "path-steps/s")
    section.add("wall", "  its wall time", wall, "s")
    return section


# ---------------------------------------------------------------------------
# 3. End to end
# ---------------------------------------------------------------------------


def default_market(scenario: Scenario, n_paths: int, seed: int) -> MarketPaths:
    """A ``default``-preset market of ``n_paths`` x 252 daily steps."""
    return generate(scenario.market, n_paths, N_DAYS, DT, np.random.default_rng(seed),
                    start_date=scenario.simulation.start_date)


def _layer_share(batch: BatchResult, layer: str) -> float | None:
    """Share of path-ticks in which the hedge agent held ``layer`` (None without it)."""
    for agent in batch.agents:
        ticks = agent.path_stats().get(f"layer_{layer}_ticks")
        if ticks is not None:
            return float(np.sum(ticks)) / (batch.market.n_paths * (batch.market.n_steps + 1))
    return None


def bench_end_to_end(n_paths: int, warm_paths: int, policies: Sequence[str],
                     workers: int) -> Section:
    """Benchmark 3: ``simulate`` of condor + ``alvh`` (and ``none``) after a warm-up."""
    section = Section("end_to_end")
    scenario = scenarios.load("default")
    n_ticks = N_DAYS + 1
    section.param("scenario", "default", "preset")
    section.param("paths", n_paths, "paths")
    section.param("ticks", n_ticks, "ticks per path (252 daily steps + the first)")
    section.param("warm_up_paths", warm_paths, "paths")
    section.param("processes", 1, "simulate runs in one process, one SimPy environment")
    section.param("check_identity", True, "accounting identity checked every tick")
    start = time.perf_counter()
    warm = default_market(scenario, warm_paths, 0)
    for policy in policies:
        simulate(scenario, warm, load_policy(policy).agent_factories())
    section.add("warm_up", f"warm-up: {warm_paths} paths, every policy (compile or cache load)",
                time.perf_counter() - start, "s")
    start = time.perf_counter()
    market = default_market(scenario, n_paths, 1)
    generation = time.perf_counter() - start
    section.add("generation", f"generation, default, {n_paths:,} x {N_DAYS}", generation, "s")
    section.add("generation_rate", "  generation rate", n_paths * N_DAYS / generation,
                "path-steps/s")
    for policy in policies:
        agents = load_policy(policy).agent_factories()
        start = time.perf_counter()
        batch = simulate(scenario, market, agents)
        wall = time.perf_counter() - start
        rate = n_paths * n_ticks / wall
        label = "condor + alvh" if policy == "alvh" else f"condor, policy {policy}"
        target, met = ("", None)
        if policy == "alvh":
            target, met = ">= 1,000,000", rate >= 1e6
        section.add(f"{policy}_rate", f"simulate {label}, {n_paths:,} x {n_ticks}", rate,
                    "path-ticks/s", target, met)
        section.add(f"{policy}_wall", "  its wall time", wall, "s")
        share = _layer_share(batch, "L1")
        if share is not None:
            section.add(f"{policy}_l1_share", "  path-ticks with VIX call layer L1 held",
                        100.0 * share, "%")
        pnl = batch.book.equity - batch.book.initial_cash
        section.notes.append(f"{policy}: mean P&L {float(np.mean(pnl)):,.0f} $/path")
        del batch
    del market
    if workers > 1:
        _bench_runner_processes(section, scenario, n_paths, workers)
    return section


def _bench_runner_processes(section: Section, scenario: Scenario, n_paths: int,
                            workers: int) -> None:
    """The same work through the sharded runner on ``workers`` worker processes.

    Two rows. *Warm*: the runner's own worker pool (``sim.runner.open_backend``,
    one numba thread per worker) first runs a small warm-up run, then the
    timed run's shards (``sim.shards.run_shard``: market generation,
    simulation, per-path results sent back); this is the steady state of a
    pool that has loaded its kernels, as in a long run or a Dask cluster.
    *Cold*: ``sim.runner.run(..., backend="processes")`` from scratch, worker
    start (interpreters, cached kernels, vol tables) and aggregation
    included, as one ``alvh run`` pays it.
    """
    from sim import runner
    from sim.policy import load_policy as policy_of
    from sim.shards import ShardLayout, make_tasks, run_shard

    n_ticks = N_DAYS + 1
    policy = policy_of("alvh")
    layout = ShardLayout.plan(n_paths, math.ceil(n_paths / workers))
    walls = []
    with runner.open_backend("processes", layout.n_shards, workers, payload=(policy,)) as pool:
        # Warm-up: the same shards on another seed (a small run leaves the
        # size-dependent set-up of the first large shard in the timing).
        for seed in (0, 1, 1, 1):
            tasks = make_tasks(scenario, [policy], seed, layout, range(layout.n_shards))
            start = time.perf_counter()
            outputs = list(pool.map_unordered(run_shard, tasks))
            walls.append(time.perf_counter() - start)
    done = sum(len(next(iter(o.tables.values()))["path"]) for o in outputs)
    if done != n_paths:
        raise RuntimeError(f"warm runner returned {done} paths, expected {n_paths}")
    wall = float(np.median(walls[1:]))
    rate = n_paths * n_ticks / wall
    section.param("runner_shards", layout.describe(), "shards of the warm and cold runs")
    section.add("alvh_warm_processes_rate", f"runner, condor + alvh, {workers} warm worker "
                f"processes, {n_paths:,} x {n_ticks} (generation incl.)", rate,
                "path-ticks/s", ">= 1,000,000", rate >= 1e6)
    section.add("alvh_warm_processes_wall", "  its wall time (median of 3 after the warm-up)",
                wall, "s")
    section.add("alvh_warm_processes_first", "  the warm-up run (first large shards)",
                walls[0], "s")
    start = time.perf_counter()
    runner.run(scenario, n_paths=n_paths, seed=1, shard_size=layout.shard_size, policy="alvh",
               backend="processes", workers=workers, keep_paths=False)
    wall = time.perf_counter() - start
    section.add("alvh_processes_rate", f"runner cold, condor + alvh, processes x {workers}, "
                f"{n_paths:,} x {n_ticks} (worker start, generation incl.)",
                n_paths * n_ticks / wall, "path-ticks/s")
    section.add("alvh_processes_wall", "  its wall time", wall, "s")


# ---------------------------------------------------------------------------
# 4. Naive
# ---------------------------------------------------------------------------


def bench_naive(n_paths: int, end_to_end: Section | None) -> Section:
    """Benchmark 4: ``benchmarks/naive.py`` and its ratio to the vectorized engine."""
    section = Section("naive")
    scenario = scenarios.load("default")
    market = default_market(scenario, n_paths, 2)
    section.param("paths", n_paths, "paths")
    section.param("ticks", N_DAYS + 1, "ticks per path")
    section.param("spx_vol", "SpxPricer.vol on a one-path view (model vol table)",
                  "scalar call per leg and tick")
    section.param("vix_call", "RegimeVixTerms.futures/.model_vol + vix_option_vol",
                  "scalar calls per tick")
    # Warm the scalar paths (numba dispatch of SpxPricer.vol, scipy) on one path.
    run_naive(scenario, default_market(scenario, 1, 3), hedge=True)
    hedged: NaiveResult = run_naive(scenario, market, hedge=True)
    alone: NaiveResult = run_naive(scenario, market, hedge=False)
    vectorized = simulate(scenario, market, load_policy("none").agent_factories())
    vec_pnl = vectorized.book.equity - vectorized.book.initial_cash
    condors = next(a.path_stats()["n_condors"] for a in vectorized.agents
               if "n_condors" in a.path_stats())
    section.add("hedged_rate", f"naive condor + VIX call, {n_paths} x {N_DAYS + 1}",
                hedged.path_ticks_per_second, "path-ticks/s")
    section.add("hedged_wall", "  its wall time", hedged.wall_seconds, "s")
    end_to_end = end_to_end or Section("end_to_end")
    alvh = end_to_end.row("alvh_rate")
    if alvh is not None and alvh.value:
        ratio = alvh.value / hedged.path_ticks_per_second
        section.add("ratio_alvh", "vectorized condor + alvh / naive condor + VIX call", ratio,
                    "x", ">= 300", ratio >= 300.0)
    section.add("alone_rate", f"naive condor alone, {n_paths} x {N_DAYS + 1}",
                alone.path_ticks_per_second, "path-ticks/s")
    none = end_to_end.row("none_rate")
    if none is not None and none.value:
        section.add("ratio_none", "vectorized condor (none) / naive condor alone",
                    none.value / alone.path_ticks_per_second, "x")
    section.add("pnl_max_diff", "same work? max |naive - vectorized| condor P&L",
                float(np.max(np.abs(alone.condor_pnl - vec_pnl))), "$/path")
    section.add("condors_equal", "same work? paths with equal condor count",
                100.0 * float(np.mean(alone.n_condors == condors)), "%")
    section.add("spx_prices", "scalar SPX option prices, hedged run",
                hedged.spx_prices / (n_paths * (N_DAYS + 1)), "per path-tick")
    section.add("vix_prices", "scalar VIX option prices, hedged run",
                hedged.vix_prices / (n_paths * (N_DAYS + 1)), "per path-tick")
    section.notes.append("generation excluded on both sides; the naive paths are a separate "
                         f"{n_paths}-path default market, vectorized rates are end_to_end's")
    return section


# ---------------------------------------------------------------------------
# Child processes: wall time, CPU time, peak RSS
# ---------------------------------------------------------------------------


def _process_tree(root: int) -> list[int]:
    """``root`` and its live descendants (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, ()))
    return tree


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


class TreeMemorySampler(threading.Thread):
    """Samples the summed RSS (bytes) of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.peak_processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample until :meth:`stop`."""
        while not self._stop_event.is_set():
            tree = _process_tree(self.pid)
            total = sum(_rss_bytes(pid) for pid in tree)
            if total > self.peak:
                self.peak, self.peak_processes = total, len(tree)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        self.join()


@dataclass
class ChildRun:
    """A child process's wall time (s), CPU time (s), peak RSS (bytes), exit code and output.

    ``run_wall`` is the wall time (s) the command printed itself (``alvh
    run``'s "wall time: ... s"), ``shards`` the number of shards it reported
    ("shards: N shards ..."), if it did.
    """

    command: list[str]
    wall: float
    cpu: float
    max_rss: int
    tree_rss: int
    tree_processes: int
    returncode: int
    output: str
    run_wall: float | None = None
    shards: int | None = None


#: GNU time, whose ``-v`` report gives a child's peak RSS free of this process's own.
GNU_TIME = Path("/usr/bin/time")


def _gnu_time_report(text: str) -> dict[str, float]:
    """The numbers of a GNU ``time -v`` report, by their label."""
    values = {}
    for line in text.splitlines():
        label, _, value = line.strip().rpartition(": ")
        try:
            values[label] = float(value)
        except ValueError:
            continue
    return values


def run_child(command: list[str], env: dict[str, str] | None = None) -> ChildRun:
    """Run ``command`` from the repository root and measure it.

    ``cpu`` (user + system time of the child and its waited-for descendants)
    and ``max_rss`` (RSS of the largest single process among them) come from
    GNU ``/usr/bin/time -v`` when it exists, else from ``wait4`` (whose
    ``ru_maxrss`` then also counts this benchmark's own RSS at the fork, an
    upper bound); ``tree_rss`` is the largest sum of RSS over the process
    tree, sampled from ``/proc`` every 0.2 s; ``wall`` is measured here.
    """
    with tempfile.TemporaryDirectory(prefix="alvh-child-") as scratch:
        report = Path(scratch) / "time.txt"
        timed = GNU_TIME.exists()
        full = [str(GNU_TIME), "-v", "-o", str(report), *command] if timed else command
        with open(Path(scratch) / "output.txt", "w+b") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(full, cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
            sampler = TreeMemorySampler(proc.pid)
            sampler.start()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            sampler.stop()
            proc.returncode = os.waitstatus_to_exitcode(status)
            log.seek(0)
            output = log.read().decode(errors="replace")
        cpu, max_rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024
        if timed and report.exists():
            numbers = _gnu_time_report(report.read_text(errors="replace"))
            cpu = numbers.get("User time (seconds)", 0.0) + numbers.get(
                "System time (seconds)", 0.0)
            max_rss = int(numbers.get("Maximum resident set size (kbytes)", 0.0) * 1024)
    reported = re.findall(r"^wall time: ([0-9.]+) s", output, flags=re.MULTILINE)
    shards = re.findall(r"^shards: ([0-9,]+) shard", output, flags=re.MULTILINE)
    return ChildRun(command=command, wall=wall, cpu=cpu, max_rss=max_rss,
                    tree_rss=sampler.peak, tree_processes=sampler.peak_processes,
                    returncode=proc.returncode, output=output[-2000:],
                    run_wall=float(reported[-1]) if reported else None,
                    shards=int(shards[-1].replace(",", "")) if shards else None)


def cli_run_options() -> set[str]:
    """Long options ``alvh run`` accepts now (the runner is being extended)."""
    help_text = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=False).stdout
    return set(re.findall(r"--[a-z][a-z-]*", help_text))


def _alvh_run(n_paths: int, policy: str, options: set[str], extra: Sequence[str] = ()
              ) -> list[str]:
    command = [sys.executable, "-m", "sim.cli", "run", "--paths", str(n_paths),
               "--policy", policy, *extra]
    if "--quiet" in options:
        command.append("--quiet")
    return command


def _check_child(run: ChildRun) -> None:
    if run.returncode != 0:
        raise RuntimeError(f"{shlex.join(run.command)} exited with {run.returncode}:\n"
                           f"{run.output}")


# ---------------------------------------------------------------------------
# 5. Scaling
# ---------------------------------------------------------------------------


def _per_path(child: ChildRun, base: ChildRun, n: int, cores: int) -> tuple[float, float]:
    """CPU seconds and core seconds per path of ``child`` above the fixed-cost run ``base``.

    Core seconds are the run's wall time times the ``cores`` it ran on (1
    for the serial backend, the workers for the processes backend), so that
    rungs on different backends compare; the wall time is the run's own
    (``alvh run``'s "wall time", without the interpreter start and imports)
    when both runs print it, else the child's.
    """
    cpu = (child.cpu - base.cpu) / n
    if child.run_wall is not None and base.run_wall is not None:
        return cpu, cores * (child.run_wall - base.run_wall) / n
    return cpu, cores * (child.wall - base.wall) / n


def bench_scaling(ladder: Sequence[int], policy: str, processes_from: int, workers: int
                  ) -> Section:
    """Benchmark 5: ``alvh run`` at growing path counts, in child processes.

    Each rung up to ``REPEAT_UP_TO`` paths runs ``REPEATS_SMALL`` times,
    alternating with a fixed-cost run (``--paths 1``, or one path per worker
    for the processes backend) so that both see the same machine load; the
    fastest of each is kept. Larger rungs run once (after their fixed-cost
    runs).
    """
    section = Section("scaling")
    options = cli_run_options()
    has_backend = {"--backend", "--workers", "--out"} <= options
    section.param("policy", policy, "policy")
    section.param("ladder", list(ladder), "paths")
    section.param("processes_from", processes_from,
                  f"paths (rungs at or above: --backend processes --workers {workers})")
    section.param("ticks", N_DAYS + 1, "ticks per path")
    section.param("repeats", {"up_to_paths": REPEAT_UP_TO, "runs": REPEATS_SMALL},
                  "runs per rung, alternating with fixed-cost runs (fastest of each kept); "
                  "larger rungs run once")
    n_ticks = N_DAYS + 1
    fixed_runs: dict[str, list[ChildRun]] = {}
    rungs: list[tuple[int, str, ChildRun]] = []
    with tempfile.TemporaryDirectory(prefix="alvh-bench-") as scratch:
        counter = iter(range(10**9))

        def command(n: int, backend: str) -> list[str]:
            # Every run streams its per-path results to its own output folder,
            # as a large run would, so memory does not hold the per-path table.
            if not has_backend:
                return _alvh_run(n, policy, options)
            out = ["--out", str(Path(scratch) / f"run-{next(counter)}")]
            if backend == "serial":
                return _alvh_run(n, policy, options, ["--backend", "serial", *out])
            return _alvh_run(n, policy, options, ["--backend", "processes", "--workers",
                                                  str(workers), *out])

        def checked(run: ChildRun) -> ChildRun:
            _check_child(run)
            return run

        def fixed_run(backend: str) -> None:
            small = 1 if backend == "serial" else workers
            fixed_runs.setdefault(backend, []).append(checked(run_child(command(small,
                                                                                backend))))

        # Make sure every kernel is compiled and cached before anything is timed.
        checked(run_child(command(PATHS_PER_WARM_UP, "serial")))
        for n in ladder:
            backend = "serial" if n < processes_from else "processes"
            if backend == "processes" and not has_backend:
                section.notes.append(f"{n:,} paths not run: `alvh run` has no --backend "
                                     "processes yet")
                continue
            runs = []
            for _ in range(REPEATS_SMALL if n <= REPEAT_UP_TO else 1):
                fixed_run(backend)
                runs.append(checked(run_child(command(n, backend))))
            while len(fixed_runs[backend]) < REPEATS_SMALL:
                fixed_run(backend)
            rungs.append((n, backend, min(runs, key=lambda r: r.wall)))
    fixed = {b: min(runs, key=lambda r: r.wall) for b, runs in fixed_runs.items()}
    for backend, base in fixed.items():
        small = 1 if backend == "serial" else workers
        section.add(f"fixed_{backend}", f"fixed cost: --paths {small}, {backend}: wall time",
                    base.wall, "s")
        if base.run_wall is not None:
            section.add(f"fixed_run_{backend}", "  of which the run itself (alvh's wall time)",
                        base.run_wall, "s")
    # Cores a rung ran on: 1 serial; the workers, or fewer if it had fewer shards.
    cores = {n: 1 if b == "serial" else min(workers, c.shards or workers)
             for n, b, c in rungs}
    for n, backend, child in rungs:
        tag = f"{n:,} paths, {backend}"
        cpu, wall = _per_path(child, fixed[backend], n, cores[n])
        section.add(f"wall_{n}", f"{tag}: wall time", child.wall, "s")
        section.add(f"rate_{n}", f"{tag}: rate", n * n_ticks / child.wall, "path-ticks/s")
        section.add(f"rss_{n}", f"{tag}: peak RSS, largest process", child.max_rss / MB, "MB")
        section.add(f"tree_rss_{n}", f"{tag}: peak RSS, process tree "
                    f"({child.tree_processes} proc.)", child.tree_rss / MB, "MB")
        section.add(f"cpu_per_path_{n}", f"{tag}: CPU time per path (fixed cost off)",
                    1e3 * cpu, "ms/path")
        section.add(f"core_per_path_{n}", f"{tag}: run time x {cores[n]} "
                    f"core{'s' if cores[n] > 1 else ''} per path (fixed cost off)",
                    1e3 * wall, "ms/path")
    _scaling_checks(section, rungs, fixed, cores)
    return section


def _scaling_checks(section: Section, rungs: list[tuple[int, str, ChildRun]],
                    fixed: dict[str, ChildRun], cores: dict[int, int]) -> None:
    """Linearity in time and flatness in memory over the measured rungs.

    Linearity is judged on core time per path (the run's wall time times the
    cores it used, fixed cost off). The children's CPU time is reported but
    not judged: it also counts helper threads (OpenBLAS's: with
    ``OPENBLAS_NUM_THREADS=1`` CPU time falls to about the wall time), whose
    time does not grow with the paths and, at 1,000 paths, is as large as
    the difference being measured.
    """
    if len(rungs) < 2:
        section.notes.append("fewer than two rungs: no scaling checks")
        return
    per_path = {n: _per_path(c, fixed[b], n, cores[n]) for n, b, c in rungs}
    core = np.array([per_path[n][1] for n, _, _ in rungs])
    spread = 100.0 * float(np.max(np.abs(core / np.median(core) - 1.0)))
    section.add("time_linearity", "linear: max deviation of core time per path from median",
                spread, "%", "<= 30", spread <= 30.0)
    (n_lo, _, lo), (n_hi, _, hi) = rungs[-2], rungs[-1]
    growth = hi.max_rss / lo.max_rss
    section.add("rss_growth", f"flat: largest-process RSS, {n_hi:,} / {n_lo:,} paths", growth,
                "x", "<= 2", growth <= 2.0)
    top = hi.tree_rss / MB
    section.add("rss_top", f"flat: process-tree RSS at {n_hi:,} paths", top, "MB",
                "< 2,048", top < 2048.0)
    serial = [n for n, b, _ in rungs if b == "serial"]
    processes = [n for n, b, _ in rungs if b == "processes"]
    if processes and serial:
        n_s, n_p = serial[-1], processes[-1]
        speedup = cores[n_p] * per_path[n_s][1] / per_path[n_p][1]
        section.add("processes_speedup", f"run time per path, serial {n_s:,} / processes "
                    f"{n_p:,} ({cores[n_p]} busy worker{'s' if cores[n_p] > 1 else ''})",
                    speedup, "x")


# ---------------------------------------------------------------------------
# 6. Startup
# ---------------------------------------------------------------------------

_IMPORT_PROBE = ("import time; t = time.perf_counter(); import scenarios, sim.cli, sim.policy, "
                 "sim.runner; print(time.perf_counter() - t)")


def bench_startup(n_paths: int) -> Section:
    """Benchmark 6: cold start (empty numba cache) and warm start of ``alvh run``."""
    section = Section("startup")
    options = cli_run_options()
    command = _alvh_run(n_paths, "none", options)
    section.param("command", shlex.join(["alvh", *command[3:]]), "command (run as python -m "
                  "sim.cli)")
    with tempfile.TemporaryDirectory(prefix="alvh-numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cold = run_child(command, env)
        _check_child(cold)
        warm = run_child(command, env)
        _check_child(warm)
        probe = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], cwd=ROOT, env=env,
                               capture_output=True, text=True, check=True)
        interpreter = run_child([sys.executable, "-c", "pass"], env)
    section.add("python", "python -c pass", interpreter.wall, "s")
    section.add("import", "import of what alvh run loads (in-process)",
                float(probe.stdout.strip().splitlines()[-1]), "s")
    section.add("cold", f"cold start: alvh run --paths {n_paths:,}, empty numba cache",
                cold.wall, "s")
    section.add("warm", "warm start: the same, cached kernels", warm.wall, "s")
    section.add("compile", "  cold - warm (compiling and caching)", cold.wall - warm.wall, "s")
    return section


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU count and model, memory, Python and library versions, platform."""
    import numba
    import scipy
    import simpy

    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MB
    return {"cpu_count": os.cpu_count(),
            "cpu_affinity": len(os.sched_getaffinity(0)),
            "cpu_model": model, "memory_mb": round(memory),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scipy": scipy.__version__,
            "simpy": simpy.__version__, "platform": platform.platform()}


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == "x" and abs(value) < 10:
        return f"{value:.3f}"   # ratios near their targets (1.25, 2) need the third digit
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 1 or size == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_table(sections: Sequence[Section]) -> str:
    """Every row of every section as one aligned text table."""
    header = ("section", "benchmark", "value", "unit", "target", "met?")
    cells = []
    for section in sections:
        for row in section.rows:
            met = "" if row.met is None else ("yes" if row.met else "NO")
            cells.append((section.name, row.label, _fmt(row.value, row.unit), row.unit,
                          row.target, met))
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    right = {2}
    lines = []
    for line in [header, tuple("-" * w for w in widths), *cells]:
        parts = [f"{text:>{w}}" if i in right else f"{text:<{w}}"
                 for i, (text, w) in enumerate(zip(line, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default: all: {','.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes everywhere, for a smoke run")
    parser.add_argument("--max-paths", type=int, default=None,
                        help="largest rung of the scaling ladder (default 1,000,000; "
                             "2,000 with --quick)")
    parser.add_argument("--scaling-policy", default="none",
                        help="policy of the scaling runs (default none: the condor alone)")
    parser.add_argument("--processes-from", type=int, default=1_000_000,
                        help="rungs with at least this many paths use --backend processes "
                             "(default 1,000,000)")
    parser.add_argument("--workers", type=int, default=2,
                        help="workers of the processes backend (default 2)")
    parser.add_argument("--repeat", type=int, default=7,
                        help="timings per pricing variant (median reported; default 7)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"JSON file to write (default {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; "
                     f"allowed: {', '.join(SECTIONS)}")
    if "naive" in chosen and "end_to_end" not in chosen:
        chosen.append("end_to_end")   # the naive ratio is taken against this run's rates
    args.sections = [name for name in SECTIONS if name in chosen]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chosen benchmarks, print the table and write the JSON file."""
    args = parse_args(argv)
    quick = args.quick
    max_paths = args.max_paths if args.max_paths is not None else (
        QUICK_LADDER[-1] if quick else LADDER[-1])
    ladder = [n for n in (QUICK_LADDER if quick else LADDER) if n <= max_paths]
    runners: dict[str, Callable[[dict[str, Section]], Section]] = {
        "pricing": lambda done: bench_pricing(100_000 if quick else 1_000_000, args.repeat),
        "generation": lambda done: bench_generation(2_000 if quick else 20_000,
                                                    1 if quick else 3),
        "end_to_end": lambda done: bench_end_to_end(500 if quick else 10_000,
                                                    50 if quick else 200, ("alvh", "none"),
                                                    args.workers),
        "naive": lambda done: bench_naive(3 if quick else 20, done.get("end_to_end")),
        "scaling": lambda done: bench_scaling(ladder, args.scaling_policy,
                                              args.processes_from, args.workers),
        "startup": lambda done: bench_startup(200 if quick else 2_000),
    }
    order = [s for s in ("pricing", "generation", "end_to_end", "naive", "startup", "scaling")
             if s in args.sections]
    started = dt.datetime.now(dt.UTC)
    load_at_start = os.getloadavg()[0]
    done: dict[str, Section] = {}
    for name in order:
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            done[name] = runners[name](done)
        except Exception as exc:  # one broken section must not lose the others
            print(f"[{name}] failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            first_line = (str(exc).splitlines() or [""])[0]
            done[name] = Section(name, notes=[f"FAILED: {type(exc).__name__}: {first_line}"])
        done[name].seconds = time.perf_counter() - start
    sections = [done[name] for name in SECTIONS if name in done]
    command = shlex.join(["python", "benchmarks/run.py", *(sys.argv[1:] if argv is None
                                                           else argv)])
    report = {"command": command, "date": started.isoformat(timespec="seconds"),
              "quick": quick,
              "machine": {**machine(), "load_average_1min_start": load_at_start,
                          "load_average_1min_end": os.getloadavg()[0]},
              "sections": {s.name: s.to_json() for s in sections}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    info = report["machine"]
    print(f"command: {command}")
    print(f"machine: {info['cpu_count']} CPUs ({info['cpu_model']}), python {info['python']}, "
          f"numpy {info['numpy']}, numba {info['numba']}, scipy {info['scipy']}; "
          f"{report['date']}; load average {info['load_average_1min_start']:.2f} at start, "
          f"{info['load_average_1min_end']:.2f} at end")
    if quick:
        print("quick run: small sizes, for a smoke test; the targets hold for the full sizes "
              "only")
    print()
    print(format_table(sections))
    for section in sections:
        for note in section.notes:
            print(f"note ({section.name}): {note}")
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
