"""Monte Carlo runner: shards of paths on a backend, streamed to disk and to aggregates.

The same scenario, policy, path count and seed give the same numbers, bit for
bit, on a laptop or a cluster:

- **Seeding.** The unit of randomness is a block of
  :data:`~sim.shards.PATHS_PER_BLOCK` (256) paths, part of the run's
  definition. Block ``k`` draws its market from
  ``numpy.random.default_rng(SeedSequence(seed).spawn(n_blocks)[k])`` with
  ``sim.market.generate(scenario.market, block_paths, n_days,
  1 / TICKS_PER_YEAR, rng, start_date=...)``; the last block holds the
  remaining paths.
- **Shards.** A shard is a contiguous range of whole blocks: the requested
  shard size (``shard_size``, default the scenario's
  ``simulation.batch_size``) is rounded up to a multiple of the block. A
  shard's market is its blocks' markets side by side, simulated as one
  SimPy batch; a path's results do not depend on the other paths of its
  batch, so per-path results are the same bits whatever the shard size, the
  number of workers and the backend (``sim.shards``).
- **Backends** (``sim.backends``): ``serial`` (this process), ``processes``
  (local worker processes; a worker that dies has its shards run again) and
  ``dask`` (a ``LocalCluster`` by default, or an existing cluster by its
  scheduler address; the scheduler re-runs a shard whose worker died).
  Shards are picklable tasks (scenario, policy, seed, block range); agent
  factories given with ``agents=`` must be picklable to leave this process
  (lambdas and local classes run on ``serial`` only).
- **Streaming and memory.** Each finished shard's per-path table is written
  to the output folder, if any (``out``: ``manifest.json`` first, then
  ``shards/shard-NNNNNN.parquet``, each written atomically; ``sim.output``),
  and folded into :class:`~sim.metrics.PathAggregate`: per block, mergeable
  statistics of every column (merged in block order, so they too do not
  depend on the shard layout or the order shards finish in), and the six
  columns the summary's percentiles and CVaR need, 8 bytes per path each.
  Market paths and books of finished shards are dropped; with
  ``keep_paths`` the whole per-path table is also kept (the default when
  there is no output folder).
- **Resume.** ``resume=True`` with an ``out`` folder whose manifest
  describes the same run (scenario text, policy, seed, path count, block
  size) reads the shard files that are there and whole, runs the others,
  and gives the same numbers as a run that was never interrupted. The
  folder's shard layout is kept; the backend and workers may differ.
  Temporary files that a killed run left are removed first.
- **Manifest.** ``manifest.json`` holds everything needed to run the same
  numbers again (``alvh rerun``, :mod:`sim.rerun`): the tool and package
  versions, the scenario as TOML and its hash, the policy as TOML (or, for
  agents and policies built in Python, their names and factories, marked as
  not reproducible from the file alone), the seed, the path count, the
  shard layout, the backend and workers. With ``write_shards=False`` the
  folder is a light run record: manifest and summary, no shard files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import os
import pickle
import platform
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.agents.condor import CondorAgent
from sim.backends import Backend, BackendError, default_workers, make_backend
from sim.config import Scenario
from sim.engine import AgentFactory, BatchResult
from sim.market.calendar import TICKS_PER_YEAR
from sim.metrics import ColumnStats, PathAggregate, SummaryRow
from sim.output import OutputError, RunFolder
from sim.progress import ProgressBar
from sim.shards import (
    PATH_COLUMN,
    PATHS_PER_BLOCK,
    AgentsPolicy,
    ShardLayout,
    make_tasks,
    prepare_worker,
    run_shard,
)

__all__ = ["DEFAULT_AGENTS", "DEFAULT_POLICY", "PATHS_PER_BLOCK", "TICKS_PER_YEAR",
           "BackendError", "RunError", "RunResult", "default_record_folder",
           "open_backend", "package_versions", "read_paths", "resolve_backend", "run",
           "summary_document"]

#: The agents of ``alvh run``: the non-trailed condor alone.
DEFAULT_AGENTS: tuple[AgentFactory, ...] = (CondorAgent,)
#: Policy of a run when neither ``policy`` nor ``agents`` is given.
DEFAULT_POLICY = "none"
#: Version of the output folder's layout (2: packages, policy TOML, light records).
OUTPUT_FORMAT = 2
#: Distributions whose versions a manifest records (those installed).
RECORDED_PACKAGES = ("alvh", "numpy", "numba", "llvmlite", "scipy", "simpy", "pandas",
                     "pyarrow", "dask", "distributed")
#: Folder of the run records of ``alvh run`` without ``--out`` (relative to the
#: working directory), unless the environment variable ``ALVH_RUNS_DIR`` names another.
RUNS_DIR = "runs"


class RunError(ValueError):
    """A run that cannot start as asked (bad sizes, output folder, resume mismatch)."""


@dataclass
class RunResult:
    """Outcome of a run: aggregates, optionally the per-path table, and the settings.

    Attributes
    ----------
    scenario : Scenario
    policy : object
        The policy run (``sim.policy.Policy``, or the agents given).
    n_paths, seed : int
    layout : ShardLayout
        Blocks and shards of the run.
    backend : str
        The backend and its workers, in words.
    wall_seconds : float
        Wall time of the run, s.
    aggregate : PathAggregate
        Running aggregates over every path.
    out : Path or None
        The output folder.
    shards_run, shards_resumed : int
        Shards simulated by this call, and shards read back from ``out``.
    paths_run : int
        Paths simulated by this call.
    run_id : str
        Identity of the run (hash of its definition and shard layout).
    notes : list of str
        What the run adjusted (shard size rounded up, resumed layout, shard
        files run again).
    batches : list of BatchResult
        With ``keep_batches``: each shard's market, book (with its trade
        ledger) and agents, in shard order.
    manifest : dict
        The run's manifest (what ``manifest.json`` holds), also when no
        folder was written; a resumed run gives the folder's.
    """

    scenario: Scenario
    policy: Any
    n_paths: int
    seed: int
    layout: ShardLayout
    backend: str
    wall_seconds: float
    aggregate: PathAggregate
    out: Path | None = None
    shards_run: int = 0
    shards_resumed: int = 0
    paths_run: int = 0
    run_id: str = ""
    notes: list[str] = field(default_factory=list)
    batches: list[BatchResult] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def shard_size(self) -> int:
        """Paths per shard (a whole number of blocks)."""
        return self.layout.shard_size

    @property
    def batch_size(self) -> int:
        """Deprecated name of :attr:`shard_size`."""
        return self.layout.shard_size

    @property
    def block_size(self) -> int:
        """Paths per block, the unit of randomness."""
        return self.layout.block_size

    @property
    def paths(self) -> dict[str, np.ndarray]:
        """The per-path table: column -> array of shape ``(n_paths,)``.

        Kept in memory with ``keep_paths``; else read back from the output
        folder's shard files.

        Raises
        ------
        RunError
            If the run kept no table and wrote no folder.
        """
        if self.aggregate.keep_paths:
            return self.aggregate.table()
        if self.out is not None and (self.manifest.get("shards") or {}).get("files", True):
            return read_paths(self.out)
        raise RunError("this run kept no per-path table: pass keep_paths=True or out=DIR")

    def summary(self) -> list[SummaryRow]:
        """Summary statistics over all paths (``sim.metrics.summarize``)."""
        return self.aggregate.summary()

    def column_stats(self) -> dict[str, ColumnStats]:
        """Count, mean, standard deviation, min and max of every per-path column."""
        return self.aggregate.column_stats()


def read_paths(out: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The per-path table of a finished run, from its output folder.

    Parameters
    ----------
    out : str or Path
        The run's output folder.

    Returns
    -------
    dict of str to ndarray
        Column -> values of every path, in path order.

    Raises
    ------
    OutputError
        If a shard file is missing or unreadable.
    """
    folder = RunFolder(out)
    manifest = folder.read_manifest()
    layout = _layout_of(manifest)
    if not (manifest.get("shards") or {}).get("files", True):
        raise OutputError(f"{folder.root}: a run record without shard files (alvh run without "
                          "--out); run again with --out DIR to keep the per-path table")
    parts = []
    for index in range(layout.n_shards):
        table = folder.read_shard(index, manifest.get("run_id"), layout.shard_paths(index))
        if table is None:
            raise OutputError(f"{folder.shard_path(index)}: missing or unreadable; "
                              f"resume the run to write it")
        parts.append(table)
    names = list(parts[0])
    return {name: np.concatenate([part[name] for part in parts]) for name in names}


# ------------------------------------------------------------------ policies
def _resolve_policy(policy: Any, agents: Sequence[AgentFactory] | None) -> Any:
    if agents is not None and policy is not None:
        raise RunError("give a policy or agents, not both")
    if agents is not None:
        factories = tuple(agents)
        name = "+".join(_factory_name(f) for f in factories) or "no agents"
        return AgentsPolicy(name=name, factories=factories)
    if policy is None or isinstance(policy, str | os.PathLike):
        from sim.policy import load_policy

        return load_policy(DEFAULT_POLICY if policy is None else os.fspath(policy))
    return policy


def _factory_name(factory: Callable) -> str:
    if isinstance(factory, functools.partial):
        return _factory_name(factory.func)
    return getattr(factory, "__qualname__", type(factory).__name__)


def _factory_text(factory: Callable) -> str:
    """A description of an agent factory that is the same in every process."""
    if isinstance(factory, functools.partial):
        keywords = ", ".join(f"{k}={v!r}" for k, v in sorted(factory.keywords.items()))
        return f"partial({_factory_text(factory.func)}, {keywords})"
    return f"{getattr(factory, '__module__', '?')}.{_factory_name(factory)}"


def policy_sha256(policy: Any) -> str:
    """Hash of what a policy does (its fields, its file's location left out)."""
    if isinstance(policy, AgentsPolicy):
        text = "; ".join(_factory_text(f) for f in policy.factories)
    elif dataclasses.is_dataclass(policy):
        text = repr({f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)
                     if f.name != "source"})
    else:
        text = f"{type(policy).__module__}.{type(policy).__qualname__}:{policy.name}"
    return hashlib.sha256(text.encode()).hexdigest()


def _picklable(*objects: Any) -> str | None:
    """None if the objects pickle, else the reason."""
    try:
        pickle.dumps(objects)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def open_backend(backend: str, n_shards: int, workers: int | None = None,
                 scheduler: str | None = None, payload: Sequence[Any] = ()) -> Backend:
    """Start the backend that runs ``n_shards`` shards carrying ``payload``.

    Parameters
    ----------
    backend : str
        ``serial``, ``processes``, ``dask`` or ``auto`` (:func:`resolve_backend`).
    n_shards : int
        Shards to run (``processes`` starts at most one worker per shard).
    workers : int, optional
        Worker processes (default: the CPUs available).
    scheduler : str, optional
        Address of an existing Dask scheduler.
    payload : sequence
        What the shards send to workers (policies, hooks): it must pickle
        for any backend but ``serial``.

    Returns
    -------
    Backend
        To use as a context manager.

    Raises
    ------
    RunError
        If the payload cannot be pickled for the backend.
    sim.backends.BackendError
        For an unknown backend or an unreachable scheduler.
    """
    problem = _picklable(*payload)
    name = resolve_backend(backend, n_shards, workers, problem is None)
    if name != "serial" and problem is not None:
        raise RunError(f"backend {name!r} sends shards to other processes, but the policy's "
                       f"agents (or the shard hook) cannot be pickled ({problem}); use a "
                       f"policy, module-level agent classes, or backend 'serial'")
    if name == "processes":
        workers = min(default_workers() if workers is None else workers, max(1, n_shards))
    initializer = None
    if name != "serial" and scheduler is None:
        # Local workers share this machine's CPUs: numba's parallel kernels
        # get their share, not all of them each.
        n = default_workers() if workers is None else workers
        initializer = functools.partial(prepare_worker,
                                        numba_threads=max(1, default_workers() // n))
    if name == "dask" and scheduler is None:
        with _children_ignore_interrupts():
            return make_backend(name, workers, scheduler, initializer=initializer)
    return make_backend(name, workers, scheduler, initializer=initializer)


@contextlib.contextmanager
def _children_ignore_interrupts() -> Iterator[None]:
    """Start worker processes with Ctrl-C (SIGINT) ignored.

    Ctrl-C reaches every process of the terminal's foreground group; the
    workers of a Dask ``LocalCluster`` would each print a traceback. Started
    with SIGINT ignored (an ignored signal stays ignored in a child, and
    Python and asyncio then install no handler), they leave the interrupt to
    this process, which shuts the cluster down. This process ignores SIGINT
    only while the cluster starts.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def resolve_backend(name: str, n_shards: int, workers: int | None, can_pickle: bool) -> str:
    """The backend of ``name``; ``auto`` is ``processes`` for several shards and CPUs.

    ``auto`` picks ``serial`` for a single shard, a single worker, or work
    that cannot be pickled.
    """
    if name != "auto":
        return name
    workers = default_workers() if workers is None else workers
    return "processes" if n_shards > 1 and workers > 1 and can_pickle else "serial"


# ------------------------------------------------------------------ manifest
def _scenario_text(scenario: Scenario) -> str:
    import scenarios

    return scenarios.dumps(scenario, comments=False)


def tool_version() -> str:
    """The installed version of this tool (``alvh``), or ``"unknown"``."""
    return _tool_version()


def _tool_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("alvh")
    except metadata.PackageNotFoundError:   # pragma: no cover - not installed
        return "unknown"


def _identity(scenario_sha: str, policy: Any, seed: int, layout: ShardLayout) -> dict[str, Any]:
    """What must match for a folder's shards to belong to a run."""
    return {"scenario_sha256": scenario_sha, "policy": policy.name,
            "policy_sha256": policy_sha256(policy), "seed": seed, "n_paths": layout.n_paths,
            "paths_per_block": layout.block_size}


def _run_id(identity: dict[str, Any], layout: ShardLayout) -> str:
    text = json.dumps({**identity, "blocks_per_shard": layout.blocks_per_shard},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages the numbers depend on (those installed).

    Returns
    -------
    dict of str to str
        ``python`` and each of :data:`RECORDED_PACKAGES` found by
        ``importlib.metadata``, in that order.
    """
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _policy_record(policy: Any) -> dict[str, Any]:
    """What the manifest says of a policy: its TOML when it has one, else its factories."""
    from sim.policy import SIGNAL_REGISTRY, Policy

    record: dict[str, Any] = {"name": policy.name,
                              "description": getattr(policy, "description", ""),
                              "sha256": policy_sha256(policy)}
    if isinstance(policy, Policy):
        from scenarios.writer import dumps_policy

        record["source"] = policy.source
        record["toml"] = dumps_policy(policy)
        registered = sorted({c.signal for layer in policy.layers
                             for c in layer.trigger.conditions if c.signal in SIGNAL_REGISTRY})
        record["reproducible"] = not registered
        if registered:
            record["registered_signals"] = registered
            record["note"] = ("its triggers read signals registered in Python; register them "
                              "again before a rerun")
        return record
    factories = (policy.factories if isinstance(policy, AgentsPolicy)
                 else tuple(policy.agent_factories()))
    record["kind"] = type(policy).__qualname__
    record["factories"] = [_factory_text(f) for f in factories]
    record["toml"] = None
    record["reproducible"] = False
    record["note"] = ("agents or a policy built in Python: not reproducible from this file "
                      "alone; pass the same policy to sim.rerun.rerun(..., policy=...)")
    return record


def _calendar_record(scenario: Scenario) -> dict[str, Any] | None:
    """The event calendar CSV a scenario reads, kept so a rerun does not need the file."""
    path = scenario.market.events.calendar
    if path in ("generated", "none"):
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return {"path": path, "text": None, "sha256": None}
    return {"path": path, "text": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _manifest(scenario: Scenario, scenario_text: str, policy: Any, seed: int,
              layout: ShardLayout, backend: str, workers: int, run_id: str,
              write_shards: bool = True) -> dict[str, Any]:
    return {
        "format": OUTPUT_FORMAT,
        "tool": "alvh",
        "version": _tool_version(),
        "packages": package_versions(),
        "platform": {"system": platform.platform(), "machine": platform.machine()},
        "run_id": run_id,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenario": {"name": scenario.name, "source": scenario.source,
                     "sha256": hashlib.sha256(scenario_text.encode()).hexdigest(),
                     "toml": scenario_text, "calendar": _calendar_record(scenario)},
        "policy": _policy_record(policy),
        "seed": seed,
        "n_paths": layout.n_paths,
        "n_days": scenario.simulation.n_days,
        "ticks_per_year": TICKS_PER_YEAR,
        "paths_per_block": layout.block_size,
        "seeding": "block k: numpy.random.default_rng(SeedSequence(seed).spawn(n_blocks)[k])",
        "shards": {"count": layout.n_shards, "paths_per_shard": layout.shard_size,
                   "blocks_per_shard": layout.blocks_per_shard,
                   "files": "shards/shard-{index:06d}.parquet" if write_shards else None},
        "columns": f"{PATH_COLUMN} (index of the path in the run), then sim.metrics.path_results",
        "backend": backend,
        "workers": workers,
    }


def _manifest_identity(manifest: dict[str, Any]) -> dict[str, Any]:
    def table(key: str) -> dict[str, Any]:
        value = manifest.get(key)
        return value if isinstance(value, dict) else {}

    policy = table("policy")
    return {"scenario_sha256": table("scenario").get("sha256"),
            "policy": policy.get("name"), "policy_sha256": policy.get("sha256"),
            "seed": manifest.get("seed"), "n_paths": manifest.get("n_paths"),
            "paths_per_block": manifest.get("paths_per_block")}


def default_record_folder(scenario: Scenario, policy_name: str,
                          root: str | os.PathLike[str] | None = None) -> Path:
    """A new, empty folder for the run record of ``alvh run`` without ``--out``.

    Parameters
    ----------
    scenario : Scenario
    policy_name : str
    root : str or Path, optional
        Parent folder; default ``$ALVH_RUNS_DIR``, else :data:`RUNS_DIR`
        (``runs``) in the working directory.

    Returns
    -------
    Path
        ``ROOT/YYYYMMDD-HHMMSS-<scenario>-<policy>`` (UTC), created, with
        ``-2``, ``-3``... appended when the name is taken.

    Raises
    ------
    OutputError
        If the folder cannot be created.
    """
    root = Path(root if root is not None else os.environ.get("ALVH_RUNS_DIR") or RUNS_DIR)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")

    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:40] or "x"

    base = f"{stamp}-{slug(scenario.name)}-{slug(policy_name)}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            folder = root / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder
    except OSError as exc:
        raise OutputError(f"{root}: cannot create a run record folder "
                          f"({exc.strerror or type(exc).__name__})") from None
    raise OutputError(f"{root}: cannot find a free name for a run record folder")


def _layout_of(manifest: dict[str, Any]) -> ShardLayout:
    try:
        return ShardLayout(int(manifest["n_paths"]), int(manifest["paths_per_block"]),
                           int(manifest["shards"]["blocks_per_shard"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise OutputError(f"manifest lacks the shard layout: {exc}") from exc


_IDENTITY_WORDS = {"scenario_sha256": "scenario (its TOML text)", "policy": "policy",
                   "policy_sha256": "policy settings", "seed": "seed", "n_paths": "paths",
                   "paths_per_block": "paths per block"}


def _differences(found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    out = []
    for key, words in _IDENTITY_WORDS.items():
        if found.get(key) != wanted.get(key):
            if key.endswith("sha256"):
                out.append(f"{words} differs")
            else:
                out.append(f"{words} differs (folder: {found.get(key)}, "
                           f"requested: {wanted.get(key)})")
    if found.get("policy") != wanted.get("policy"):
        out = [d for d in out if not d.startswith("policy settings")]
    return out


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# ----------------------------------------------------------------------- run
def run(scenario: Scenario, n_paths: int | None = None, seed: int | None = None,
        shard_size: int | None = None, *, policy: Any = None,
        agents: Sequence[AgentFactory] | None = None, backend: str = "serial",
        workers: int | None = None, scheduler: str | None = None,
        out: str | os.PathLike[str] | None = None, resume: bool = False,
        keep_paths: bool | None = None, progress: bool = False, check_identity: bool = True,
        keep_batches: bool = False, batch_size: int | None = None,
        shard_hook: Callable[[int], None] | None = None,
        on_shard: Callable[[int, int], None] | None = None,
        write_shards: bool = True) -> RunResult:
    """Simulate a scenario on ``n_paths`` paths, shard by shard, and aggregate the results.

    Parameters
    ----------
    scenario : Scenario
    n_paths, seed : int, optional
        Paths (>= 1) and root seed (>= 0); defaults from ``scenario.simulation``.
    shard_size : int, optional
        Paths per shard, rounded up to whole blocks of
        :data:`~sim.shards.PATHS_PER_BLOCK`; default the scenario's
        ``simulation.batch_size``. It changes no result.
    policy : Policy or str, optional
        A ``sim.policy`` policy or its name/file (default ``none``: the
        non-trailed condor alone).
    agents : sequence of agent factories, optional
        Explicit factories ``Context -> Agent`` instead of a policy; they
        must be picklable for a backend other than ``serial``.
    backend : str
        ``serial``, ``processes``, ``dask``, or ``auto`` (``processes`` when
        there are several shards and CPUs, else ``serial``).
    workers : int, optional
        Worker processes (default: the CPUs available; at most one per shard
        for ``processes``).
    scheduler : str, optional
        Address of an existing Dask scheduler (backend ``dask``).
    out : str or Path, optional
        Output folder: ``manifest.json``, ``shards/shard-NNNNNN.parquet``,
        ``summary.json``. None: nothing is written (the manifest is still
        in ``RunResult.manifest``).
    resume : bool
        Continue the run in ``out`` (same scenario, policy, seed, paths):
        shards whose file is whole are read, the others run.
    keep_paths : bool, optional
        Keep the whole per-path table in memory (default: only when ``out``
        is None).
    progress : bool
        Show a progress bar on stderr when it is a terminal and the run
        lasts more than 2 s.
    check_identity : bool
        Check the book's accounting identity at every tick.
    keep_batches : bool
        Keep every shard's market, book (trade ledger) and agents in
        ``RunResult.batches`` (``serial`` backend only; memory then grows
        with paths x ticks).
    batch_size : int, optional
        Deprecated name of ``shard_size``.
    shard_hook : callable, optional
        ``hook(shard_index)``, called in the worker before each shard attempt
        is simulated (fault-injection tests); picklable for other backends
        than ``serial``.
    on_shard : callable, optional
        ``on_shard(shard_index, paths_done)`` in this process after each
        shard is aggregated.
    write_shards : bool
        With ``out``: write the shard files (default), or only
        ``manifest.json`` and ``summary.json`` (a light run record).

    Returns
    -------
    RunResult

    Raises
    ------
    RunError
        (a ValueError) for bad sizes, both ``policy`` and ``agents``, an
        output folder that holds another run, ``resume`` without ``out``,
        or work that cannot be pickled for the backend.
    sim.backends.BackendError
        For an unknown backend or an unreachable Dask scheduler.
    sim.backends.WorkerLostError
        If worker processes kept dying.
    """
    started = time.perf_counter()
    sim_spec = scenario.simulation
    if shard_size is None:
        shard_size = batch_size
    requested = shard_size is not None
    n_paths = sim_spec.n_paths if n_paths is None else int(n_paths)
    seed = sim_spec.seed if seed is None else int(seed)
    shard_size = sim_spec.batch_size if shard_size is None else int(shard_size)
    if n_paths < 1:
        raise RunError(f"n_paths must be >= 1, got {n_paths}")
    if shard_size < 1:
        raise RunError(f"shard_size must be >= 1, got {shard_size}")
    if seed < 0:
        raise RunError(f"seed must be >= 0, got {seed}")
    if workers is not None and workers < 1:
        raise RunError(f"workers must be >= 1, got {workers}")
    if resume and out is None:
        raise RunError("resume needs an output folder (out=DIR, --out DIR)")
    if keep_batches and backend not in ("serial", "auto"):
        raise RunError(f"keep_batches keeps books in this process: backend 'serial' only, "
                       f"not {backend!r}")
    if keep_batches:
        backend = "serial"
    resolved = _resolve_policy(policy, agents)
    layout = ShardLayout.plan(n_paths, shard_size)
    notes: list[str] = []
    if requested and layout.shard_size != shard_size:
        notes.append(f"shard size {shard_size:,} rounded up to {layout.shard_size:,} paths "
                     f"(whole blocks of {layout.block_size})")

    folder = RunFolder(out) if out is not None else None
    if folder is not None and folder.root.exists() and not folder.root.is_dir():
        raise OutputError(f"{folder.root}: exists and is not a folder; allowed: a new or empty "
                          "folder, or the folder of a run to resume")
    scenario_text = _scenario_text(scenario)
    identity = _identity(hashlib.sha256(scenario_text.encode()).hexdigest(), resolved, seed,
                         layout)
    manifest = None
    if folder is not None and folder.has_manifest():
        if not resume:
            raise RunError(f"{folder.root} already holds a run ({folder.manifest_path.name}); "
                           f"resume it (resume=True, --resume) or choose another folder")
        manifest = folder.read_manifest()
        differences = _differences(_manifest_identity(manifest), identity)
        if differences:
            raise RunError(f"{folder.manifest_path}: cannot resume: "
                           f"{'; '.join(differences)}")
        folder_layout = _layout_of(manifest)
        if folder_layout != layout:
            notes = [f"resumed with the folder's shards of {folder_layout.shard_size:,} paths"]
            layout = folder_layout
        if write_shards and not (manifest.get("shards") or {}).get("files", True):
            raise RunError(f"{folder.manifest_path}: cannot resume: the folder is a run record "
                           "without shard files; run again with another --out folder")
        write_shards = bool((manifest.get("shards") or {}).get("files", True)) and write_shards
        folder.remove_temporaries()
    run_id = _run_id(identity, layout)
    if folder is not None:
        folder.prepare(shards=write_shards)   # a bad folder fails before any simulation

    if keep_paths is None:
        keep_paths = folder is None or not write_shards
    aggregate = PathAggregate(n_paths, layout.block_size, keep_paths=keep_paths)
    todo = list(range(layout.n_shards))
    resumed = 0
    if manifest is not None:
        todo = []
        for index in range(layout.n_shards):
            table = folder.read_shard(index, run_id, layout.shard_paths(index))
            if table is None:
                todo.append(index)
                continue
            aggregate.add(layout.shard_paths(index)[0], table)
            resumed += 1
        rerun = sorted(set(todo) & set(folder.existing_shards()))
        if rerun:
            notes.append(f"shard file(s) {', '.join(map(str, rerun))} unreadable: run again")

    paths_resumed = aggregate.paths_done
    bar = ProgressBar(n_paths, enabled=progress, already_done=paths_resumed)
    tasks = make_tasks(scenario, (resolved,), seed, layout, todo,
                       check_identity=check_identity, hook=shard_hook,
                       keep_batches=keep_batches)
    kept: dict[int, BatchResult] = {}
    description = "serial (this process)"
    try:
        with open_backend(backend if tasks else "serial", len(tasks), workers, scheduler,
                          (resolved, shard_hook)) as executor:
            description = executor.describe()
            if manifest is None:
                manifest = _manifest(scenario, scenario_text, resolved, seed, layout,
                                     executor.name, executor.workers, run_id, write_shards)
                if folder is not None:
                    folder.create(manifest, shards=write_shards)
            for output in executor.map_unordered(run_shard, tasks):
                index, table = output.index, output.tables[resolved.name]
                if keep_batches:
                    kept[index] = output.batches[resolved.name]
                if folder is not None and write_shards:
                    folder.write_shard(index, table, run_id)
                aggregate.add(output.first_path, table)
                del output, table
                bar.update(aggregate.paths_done)
                if on_shard is not None:
                    on_shard(index, aggregate.paths_done)
    finally:
        bar.close()
    result = RunResult(scenario=scenario, policy=resolved, n_paths=n_paths, seed=seed,
                       layout=layout, backend=description,
                       wall_seconds=time.perf_counter() - started, aggregate=aggregate,
                       out=folder.root if folder is not None else None,
                       shards_run=len(tasks), shards_resumed=resumed,
                       paths_run=aggregate.paths_done - paths_resumed, run_id=run_id,
                       notes=notes, batches=[kept[i] for i in sorted(kept)], manifest=manifest)
    if folder is not None:
        folder.write_json("summary.json", summary_document(result))
    return result


def summary_document(result: RunResult) -> dict[str, Any]:
    """What ``summary.json`` holds: the summary rows and every column's statistics.

    Non-finite values are written as ``null``; floats are written exactly
    (``json`` uses the shortest text that reads back to the same float).
    """
    return {
        "run_id": result.run_id,
        "summary": [{"metric": r.metric, "unit": r.unit, "value": _finite(r.value),
                     "definition": r.definition} for r in result.summary()],
        "columns": {name: {k: (_finite(v) if isinstance(v, float) else v)
                           for k, v in stats.as_dict().items()}
                    for name, stats in result.column_stats().items()},
        "shards_run": result.shards_run,
        "shards_resumed": result.shards_resumed,
        "backend": result.backend,
        "wall_seconds": result.wall_seconds,
    }

