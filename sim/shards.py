"""Shards: the picklable units of work of a Monte Carlo run, and their seeding.

The unit of randomness is a **block** of :data:`PATHS_PER_BLOCK` paths. Block
``k`` of a run with root seed ``s`` draws its market from
``numpy.random.default_rng(SeedSequence(s).spawn(n_blocks)[k])`` (the last
block of a run holds the remaining ``n_paths - k * PATHS_PER_BLOCK`` paths).
The child seed sequence depends on ``s`` and ``k`` only, not on ``n_blocks``
(``SeedSequence(s).spawn(n)[k]`` is ``SeedSequence(s, spawn_key=(k,))``), so
a block's paths are the same in every run that contains it.

A **shard** is a contiguous range of whole blocks, the work a backend sends
to one worker. Its market is its blocks' markets side by side
(:meth:`sim.market.MarketPaths.concat`), simulated as one SimPy batch
(:func:`sim.engine.simulate`). Per-path results do not depend on which other
paths share the batch, so every per-path number of a run is the same bits
whatever the shard size, the number of workers and the backend.

A :class:`ShardTask` holds only picklable things (the scenario and policies
are frozen dataclasses, the rest numbers), so it can go to a local process
or a Dask worker; :func:`run_shard` is the function they run.
"""

from __future__ import annotations

import gc
import hashlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sim.config import Scenario
from sim.engine import AgentFactory, BatchResult, simulate
from sim.market import MarketPaths, generate
from sim.market.calendar import TICKS_PER_YEAR
from sim.metrics import path_results

#: Paths per block, the unit of randomness: part of a run's definition (a run
#: with another block size draws other paths).
PATHS_PER_BLOCK = 256
#: Per-path column of the path's index in the run (0 .. n_paths - 1).
PATH_COLUMN = "path"
#: Per-path column of the dominant regime index (comparisons only).
REGIME_COLUMN = "regime"
#: Per-path column of the market fingerprint, uint64 (comparisons only).
FINGERPRINT_COLUMN = "market_fingerprint"


class PolicyLike(Protocol):
    """What a shard needs of a policy: a name and its agent factories."""

    name: str

    def agent_factories(self) -> tuple[AgentFactory, ...]:
        """Factories ``Context -> Agent``, in acting order."""
        ...


@dataclass(frozen=True)
class AgentsPolicy:
    """Explicit agent factories (``sim.runner.run(agents=...)``) as a policy.

    Attributes
    ----------
    name : str
        Name shown in tables and written to the manifest.
    factories : tuple of callables
        Factories ``Context -> Agent``; picklable ones (classes, module-level
        functions, ``functools.partial`` of them) can go to worker processes,
        lambdas and local classes cannot.
    description : str
    layer_names : tuple of str
    """

    name: str
    factories: tuple[AgentFactory, ...]
    description: str = "explicit agent factories"
    layer_names: tuple[str, ...] = ()

    def agent_factories(self) -> tuple[AgentFactory, ...]:
        """The factories, as given."""
        return self.factories


# ------------------------------------------------------------------ layout
@dataclass(frozen=True)
class ShardLayout:
    """How the paths of a run are cut into blocks and shards.

    Attributes
    ----------
    n_paths : int
        Paths of the run.
    block_size : int
        Paths per block (the last block may be shorter).
    blocks_per_shard : int
        Whole blocks per shard (the last shard may hold fewer).
    """

    n_paths: int
    block_size: int
    blocks_per_shard: int

    def __post_init__(self) -> None:
        for name in ("n_paths", "block_size", "blocks_per_shard"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def plan(cls, n_paths: int, shard_size: int,
             block_size: int = PATHS_PER_BLOCK) -> ShardLayout:
        """The layout for a requested shard size, rounded up to whole blocks.

        Parameters
        ----------
        n_paths : int
            Paths of the run, >= 1.
        shard_size : int
            Requested paths per shard, >= 1; rounded up to a multiple of
            ``block_size``.
        block_size : int
            Paths per block.

        Returns
        -------
        ShardLayout
        """
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        return cls(int(n_paths), int(block_size), max(1, math.ceil(shard_size / block_size)))

    @property
    def shard_size(self) -> int:
        """Paths per shard (a whole number of blocks), paths."""
        return self.blocks_per_shard * self.block_size

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return math.ceil(self.n_paths / self.block_size)

    @property
    def n_shards(self) -> int:
        """Number of shards."""
        return math.ceil(self.n_blocks / self.blocks_per_shard)

    def blocks(self, shard: int) -> range:
        """Indices of the blocks of a shard."""
        first = shard * self.blocks_per_shard
        return range(first, min(first + self.blocks_per_shard, self.n_blocks))

    def block_paths(self, block: int) -> tuple[int, int]:
        """First path and one past the last path of a block."""
        first = block * self.block_size
        return first, min(first + self.block_size, self.n_paths)

    def shard_paths(self, shard: int) -> tuple[int, int]:
        """First path and one past the last path of a shard."""
        blocks = self.blocks(shard)
        return self.block_paths(blocks[0])[0], self.block_paths(blocks[-1])[1]

    def describe(self) -> str:
        """One line: shards, their size and the block size."""
        plural = "s" if self.n_shards > 1 else ""
        return (f"{self.n_shards:,} shard{plural} of up to {self.shard_size:,} paths "
                f"(whole blocks of {self.block_size:,} paths)")


# ---------------------------------------------------------------- seeding
def block_seed(seed: int, block: int) -> np.random.SeedSequence:
    """Seed sequence of one block: ``SeedSequence(seed).spawn(n_blocks)[block]``.

    Parameters
    ----------
    seed : int
        Root seed of the run, >= 0.
    block : int
        Block index, >= 0.

    Returns
    -------
    numpy.random.SeedSequence
        Equal to the ``block``-th child spawned from ``SeedSequence(seed)``,
        for any number of children spawned.
    """
    return np.random.SeedSequence(seed, spawn_key=(block,))


def block_market(scenario: Scenario, seed: int, layout: ShardLayout, block: int) -> MarketPaths:
    """The market paths of one block of a run."""
    first, stop = layout.block_paths(block)
    spec = scenario.simulation
    return generate(scenario.market, stop - first, spec.n_days, 1.0 / TICKS_PER_YEAR,
                    np.random.default_rng(block_seed(seed, block)),
                    start_date=spec.start_date)


def shard_market(scenario: Scenario, seed: int, layout: ShardLayout, shard: int) -> MarketPaths:
    """The market paths of one shard: its blocks' markets side by side."""
    return MarketPaths.concat([block_market(scenario, seed, layout, block)
                               for block in layout.blocks(shard)])


# ----------------------------------------------------- common random numbers
def dominant_regime(regime: np.ndarray, n_regimes: int | None = None) -> np.ndarray:
    """Index of the regime each path spent the most ticks in (ties: the lower index).

    Parameters
    ----------
    regime : ndarray of int, shape (n_ticks, n_paths)
        Regime index at each tick of each path.
    n_regimes : int, optional
        Number of regimes (default: ``regime.max() + 1``).

    Returns
    -------
    ndarray of int8, shape (n_paths,)
    """
    regime = np.asarray(regime)
    if regime.ndim != 2:
        raise ValueError(f"regime must have shape (n_ticks, n_paths), got {regime.shape}")
    if n_regimes is None:
        n_regimes = int(regime.max()) + 1 if regime.size else 1
    counts = np.stack([(regime == r).sum(axis=0) for r in range(n_regimes)])
    return counts.argmax(axis=0).astype(np.int8)   # argmax takes the first of equal counts


def market_fingerprints(market: MarketPaths) -> np.ndarray:
    """A 64-bit hash of each path's spot, variance and regime at every tick.

    Parameters
    ----------
    market : MarketPaths

    Returns
    -------
    ndarray of uint64, shape (n_paths,)
        BLAKE2b digests (8 bytes, little-endian) of the path's bytes: equal
        for two paths exactly when their spot, variance and regime agree bit
        for bit (up to a 2**-64 chance of collision).
    """
    per_path = np.concatenate([
        np.ascontiguousarray(market.spot.T, dtype=np.float64).view(np.uint8),
        np.ascontiguousarray(market.variance.T, dtype=np.float64).view(np.uint8),
        np.ascontiguousarray(market.regime.T, dtype=np.int8).view(np.uint8),
    ], axis=1)
    digests = b"".join(hashlib.blake2b(row.tobytes(), digest_size=8).digest()
                       for row in per_path)
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def check_common_paths(fingerprints: dict[str, np.ndarray], scenario: str = "",
                       reference: np.ndarray | None = None) -> None:
    """Check that every policy saw the same market paths.

    Parameters
    ----------
    fingerprints : dict of str to ndarray of uint64
        Policy name -> per-path fingerprints (:func:`market_fingerprints`).
    scenario : str
        Scenario name, for the message.
    reference : ndarray of uint64, optional
        Fingerprints of the market as generated, before any policy ran.

    Raises
    ------
    RuntimeError
        If two policies (or a policy and the reference) differ on any path.
    """
    where = f" in scenario {scenario!r}" if scenario else ""
    items = list(fingerprints.items())
    if reference is not None:
        items.insert(0, ("<generated market>", np.asarray(reference)))
    if not items:
        return
    first_name, first = items[0]
    for name, other in items[1:]:
        other = np.asarray(other)
        if other.shape != first.shape:
            raise RuntimeError(f"common random numbers broken{where}: policy {name!r} has "
                               f"{other.size} paths, {first_name!r} has {first.size}")
        differing = int(np.count_nonzero(other != first))
        if differing:
            raise RuntimeError(f"common random numbers broken{where}: policy {name!r} saw "
                               f"different market paths than {first_name!r} on "
                               f"{differing} of {first.size} paths")


# ------------------------------------------------------------------- work
@dataclass(frozen=True)
class ShardTask:
    """One shard of a run: everything a worker needs, picklable.

    Attributes
    ----------
    scenario : Scenario
    policies : tuple of policies
        Policies run on the shard's market, each on the same paths (their
        ``name`` distinct).
    seed : int
        Root seed of the run.
    layout : ShardLayout
    index : int
        Shard index.
    check_identity : bool
        Check the book's accounting identity at every tick.
    common_paths : bool
        Add the ``regime`` and ``market_fingerprint`` columns and check that
        every policy saw the market as generated (comparisons).
    hook : callable, optional
        Called as ``hook(index)`` in the worker after the shard's market is
        generated and before it is simulated (fault-injection tests).
    keep_batches : bool
        Return each policy's :class:`~sim.engine.BatchResult` (market, book,
        agents, ledger) with the tables; for this process only (``serial``).
    """

    scenario: Scenario
    policies: tuple[Any, ...]
    seed: int
    layout: ShardLayout
    index: int
    check_identity: bool = True
    common_paths: bool = False
    hook: Callable[[int], None] | None = None
    keep_batches: bool = False

    @property
    def paths(self) -> tuple[int, int]:
        """First path and one past the last path of the shard."""
        return self.layout.shard_paths(self.index)


@dataclass
class ShardOutput:
    """What a worker sends back: per policy, the per-path table of the shard.

    Attributes
    ----------
    index : int
        Shard index.
    first_path : int
        Index in the run of the shard's first path.
    tables : dict
        Policy name -> column -> ndarray of shape ``(n_paths_of_shard,)``;
        the ``path`` column first.
    seconds : float
        Wall time of the shard in the worker, s.
    batches : dict
        Policy name -> :class:`~sim.engine.BatchResult`, with ``keep_batches``.
    """

    index: int
    first_path: int
    tables: dict[str, dict[str, np.ndarray]]
    seconds: float
    batches: dict[str, BatchResult] = field(default_factory=dict)


def run_shard(task: ShardTask) -> ShardOutput:
    """Generate a shard's market and run every policy of the task on it.

    Parameters
    ----------
    task : ShardTask

    Returns
    -------
    ShardOutput
        Per policy, ``path`` (index in the run, int64), then (with
        ``common_paths``) ``regime`` (dominant regime, int8) and
        ``market_fingerprint`` (uint64), then the columns of
        :func:`sim.metrics.path_results`.

    Raises
    ------
    RuntimeError
        With ``common_paths``, if an agent changed the market (two policies
        saw different paths).
    """
    started = time.perf_counter()
    market = shard_market(task.scenario, task.seed, task.layout, task.index)
    if task.hook is not None:
        task.hook(task.index)
    first, stop = task.paths
    path_index = np.arange(first, stop, dtype=np.int64)
    extra: dict[str, np.ndarray] = {}
    reference = None
    if task.common_paths:
        reference = market_fingerprints(market)
        # The regime of each step is the regime at its first tick.
        extra[REGIME_COLUMN] = dominant_regime(
            market.regime[:-1] if market.n_steps else market.regime, len(market.regime_names))
    tables: dict[str, dict[str, np.ndarray]] = {}
    fingerprints: dict[str, np.ndarray] = {}
    batches: dict[str, BatchResult] = {}
    for policy in task.policies:
        batch = simulate(task.scenario, market, policy.agent_factories(),
                         check_identity=task.check_identity)
        table = {PATH_COLUMN: path_index, **extra}
        if task.common_paths:
            fingerprints[policy.name] = market_fingerprints(batch.market)
            table[FINGERPRINT_COLUMN] = fingerprints[policy.name]
        table.update(path_results(batch))
        tables[policy.name] = table
        if task.keep_batches:
            batches[policy.name] = batch
        del batch
    if task.common_paths:
        check_common_paths(fingerprints, task.scenario.name, reference=reference)
    del market
    if not task.keep_batches:
        _release_shard_memory()
    return ShardOutput(index=task.index, first_path=first, tables=tables,
                       seconds=time.perf_counter() - started, batches=batches)


#: Set in worker processes by :func:`prepare_worker`: freeze the long-lived
#: objects out of the garbage collector's scans after the first shard.
_freeze_after_shard = False


def prepare_worker(numba_threads: int | None = None) -> None:
    """Set up a worker process (``ProcessPoolExecutor`` initializer, Dask worker setup).

    Parameters
    ----------
    numba_threads : int, optional
        Threads of numba's parallel kernels in this worker (``numba.set_num_threads``):
        with several worker processes on one machine, the machine's CPUs
        divided among them, so that workers do not oversubscribe the cores.

    Notes
    -----
    After the worker's first shard (modules imported, kernels loaded) the
    objects alive are moved out of the garbage collector's scans
    (``gc.freeze``), so the full collection after every shard costs
    milliseconds. Never called in the user's own process.

    Ctrl-C (SIGINT to the terminal's process group) ends a local worker at
    once and silently (exit status 130): the main process reports the
    interrupt and abandons the run, and the shard the worker was running is
    not written (shard files are atomic; ``--resume`` runs it again). A
    worker started with SIGINT ignored (Dask's ``LocalCluster``) keeps
    ignoring it.
    """
    global _freeze_after_shard
    _freeze_after_shard = True
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
        signal.signal(signal.SIGINT, _exit_on_interrupt)
    if numba_threads is not None:
        import numba

        numba.set_num_threads(max(1, min(int(numba_threads), numba.config.NUMBA_NUM_THREADS)))


def _exit_on_interrupt(signum: int, frame: Any) -> None:
    """SIGINT handler of a worker process: exit now, without a traceback."""
    os._exit(130)


def _release_shard_memory() -> None:
    """Free a finished shard's SimPy environment now.

    The environment, its processes and the agents refer to each other, so
    only the cyclic garbage collector frees them, with the shard's books and
    market; left to its thresholds it runs too rarely and memory grows by
    tens of MB per shard.
    """
    global _freeze_after_shard
    gc.collect()
    if _freeze_after_shard:
        gc.freeze()
        _freeze_after_shard = False


def make_tasks(scenario: Scenario, policies: Sequence[Any], seed: int, layout: ShardLayout,
               shards: Sequence[int], check_identity: bool = True, common_paths: bool = False,
               hook: Callable[[int], None] | None = None,
               keep_batches: bool = False) -> list[ShardTask]:
    """The tasks of some shards of a run, in the given order."""
    return [ShardTask(scenario=scenario, policies=tuple(policies), seed=int(seed),
                      layout=layout, index=int(i), check_identity=check_identity,
                      common_paths=common_paths, hook=hook, keep_batches=keep_batches)
            for i in shards]
