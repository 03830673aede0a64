"""Monte Carlo runner: batches of paths, seeded from one SeedSequence per run.

Batch ``b`` of a run with seed ``s`` draws its paths from
``SeedSequence(s).spawn(n_batches)[b]``; for the same seed, path count and
batch size, results are bit-identical. Only per-path result columns are kept
across batches (the market paths and the books of a batch are dropped once
its results are taken), so memory grows with the per-path table, not with
the paths' ticks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.agents.condor import CondorAgent
from sim.config import Scenario
from sim.engine import AgentFactory, BatchResult, simulate
from sim.market import generate
from sim.market.calendar import TICKS_PER_YEAR
from sim.metrics import SummaryRow, path_results, summarize

#: The agents of ``alvh run``: the non-trailed condor alone.
DEFAULT_AGENTS: tuple[AgentFactory, ...] = (CondorAgent,)


@dataclass
class RunResult:
    """Outcome of a run: the per-path table, its summary and the run's settings."""

    scenario: Scenario
    n_paths: int
    seed: int
    batch_size: int
    paths: dict[str, np.ndarray]
    wall_seconds: float
    batches: list[BatchResult] = field(default_factory=list)

    def summary(self) -> list[SummaryRow]:
        """Summary statistics over all paths."""
        return summarize(self.paths)


def batch_sizes(n_paths: int, batch_size: int) -> list[int]:
    """Sizes of the batches that make up ``n_paths`` paths."""
    full, rest = divmod(n_paths, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def run(scenario: Scenario, n_paths: int | None = None, seed: int | None = None,
        batch_size: int | None = None, agents: Sequence[AgentFactory] = DEFAULT_AGENTS,
        keep_batches: bool = False, check_identity: bool = True) -> RunResult:
    """Simulate a scenario on ``n_paths`` paths and collect per-path results.

    Parameters
    ----------
    scenario : Scenario
    n_paths, seed, batch_size : int, optional
        Defaults from ``scenario.simulation``.
    agents : sequence of agent factories
        Default: the non-trailed condor.
    keep_batches : bool
        Keep every batch's market, book and ledger in the result (for
        inspecting single paths; memory then grows with paths x ticks).
    check_identity : bool
        Check the book's accounting identity at every tick.

    Returns
    -------
    RunResult
    """
    sim_spec = scenario.simulation
    n_paths = sim_spec.n_paths if n_paths is None else int(n_paths)
    seed = sim_spec.seed if seed is None else int(seed)
    batch_size = sim_spec.batch_size if batch_size is None else int(batch_size)
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sizes = batch_sizes(n_paths, batch_size)
    streams = np.random.SeedSequence(seed).spawn(len(sizes))
    start = time.perf_counter()
    columns: dict[str, list[np.ndarray]] = {}
    kept: list[BatchResult] = []
    for size, stream in zip(sizes, streams, strict=True):
        market = generate(scenario.market, size, sim_spec.n_days, 1.0 / TICKS_PER_YEAR,
                          np.random.default_rng(stream), start_date=sim_spec.start_date)
        batch = simulate(scenario, market, agents, check_identity=check_identity)
        for name, values in path_results(batch).items():
            columns.setdefault(name, []).append(values)
        if keep_batches:
            kept.append(batch)
    paths = {name: np.concatenate(parts) for name, parts in columns.items()}
    return RunResult(scenario=scenario, n_paths=n_paths, seed=seed, batch_size=batch_size,
                     paths=paths, wall_seconds=time.perf_counter() - start, batches=kept)
