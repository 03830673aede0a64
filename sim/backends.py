"""Where shards run: in this process, in local worker processes, or on a Dask cluster.

A backend is a context manager whose :meth:`~Backend.map_unordered` runs a
function over tasks and yields the results as they complete (callers that
need an order put the results back in it). Every backend gives the same
results, because a shard's result depends on the shard alone
(``sim.shards``).

- ``serial``: one task after the other in this process.
- ``processes``: a ``concurrent.futures.ProcessPoolExecutor`` of ``workers``
  processes started with ``spawn`` (fresh interpreters: no state inherited
  from the parent, the same on every platform; numba loads its cached
  kernels from ``__pycache__``). If a worker process dies mid-task (killed,
  out of memory), the pool breaks; the tasks that did not finish are
  submitted again to a new pool, at most :data:`MAX_POOL_RESTARTS` times,
  then :class:`WorkerLostError` is raised. A script that uses this backend
  needs the usual ``if __name__ == "__main__":`` guard.
- ``dask``: ``dask.distributed``; a ``LocalCluster`` of ``workers``
  single-threaded worker processes by default, or the existing cluster whose
  scheduler is at ``scheduler`` (its workers need this package installed).
  Tasks are submitted with ``retries`` (a task that raises is run again) and
  the scheduler re-runs a task whose worker died (up to its
  ``distributed.scheduler.allowed-failures``, 3 by default).

At most ``2 x workers`` tasks are in flight at once, so results never pile
up in the driver faster than it writes them.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

#: Backend names.
BACKENDS = ("serial", "processes", "dask")
#: Times a broken process pool is replaced before a run gives up.
MAX_POOL_RESTARTS = 3
#: Retries of a Dask task that raised.
DASK_RETRIES = 2
#: Tasks in flight per worker.
IN_FLIGHT_PER_WORKER = 2


class BackendError(ValueError):
    """A backend that cannot be used as asked (unknown name, dask missing, bad address)."""


class WorkerLostError(RuntimeError):
    """Worker processes kept dying: the run gave up after :data:`MAX_POOL_RESTARTS`."""


def default_workers() -> int:
    """Local worker processes by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Backend:
    """Runs tasks; a context manager that owns its workers."""

    name = "backend"
    workers = 1

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the workers."""

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Any]:
        """Yield ``fn(task)`` for every task, in completion order."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line: the backend and its workers."""
        plural = "s" if self.workers != 1 else ""
        return f"{self.name}, {self.workers} worker{plural}"


class SerialBackend(Backend):
    """Tasks one after the other, in this process."""

    name = "serial"

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Any]:
        for task in tasks:
            yield fn(task)

    def describe(self) -> str:
        return "serial (this process)"


class ProcessBackend(Backend):
    """Local worker processes (``concurrent.futures``), with pool restarts.

    Parameters
    ----------
    workers : int
        Worker processes.
    max_restarts : int
        Broken pools replaced before :class:`WorkerLostError`.
    initializer : callable, optional
        Run once in each worker process when it starts.
    """

    name = "processes"

    def __init__(self, workers: int, max_restarts: int = MAX_POOL_RESTARTS,
                 initializer: Callable[[], None] | None = None) -> None:
        if workers < 1:
            raise BackendError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)
        self.max_restarts = max_restarts
        self.initializer = initializer
        self.restarts = 0
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=self.initializer)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Any]:
        pending = deque(tasks)
        in_flight: dict[Future, Any] = {}
        window = IN_FLIGHT_PER_WORKER * self.workers
        try:
            while pending or in_flight:
                if self._pool is None:
                    self._pool = self._new_pool()
                while pending and len(in_flight) < window:
                    task = pending.popleft()
                    in_flight[self._pool.submit(fn, task)] = task
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken = True
                        continue
                    del in_flight[future]
                    yield future.result()
                if broken:
                    yield from self._recover(in_flight, pending)
        finally:
            # An abandoned run (error, Ctrl-C) does not wait for queued tasks.
            if self._pool is not None and (pending or in_flight):
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _recover(self, in_flight: dict[Future, Any], pending: deque) -> Iterator[Any]:
        """After a worker died: keep what finished, queue the rest first, new pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        lost = []
        for future, task in list(in_flight.items()):
            del in_flight[future]
            if future.done() and not future.cancelled() and future.exception() is None:
                yield future.result()
            else:
                lost.append(task)
        self.restarts += 1
        if self.restarts > self.max_restarts:
            names = ", ".join(str(getattr(t, "index", t)) for t in lost)
            raise WorkerLostError(f"a worker process died {self.restarts} times (last while "
                                  f"running shard(s) {names}); giving up")
        pending.extendleft(reversed(lost))


class DaskBackend(Backend):
    """A Dask cluster: a new ``LocalCluster`` or an existing scheduler.

    Parameters
    ----------
    workers : int
        Worker processes of the ``LocalCluster`` (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:8786``).
    retries : int
        Re-runs of a task that raised.
    initializer : callable, optional
        Run once in each worker of the ``LocalCluster`` (also in workers
        restarted after a death); not installed on an existing cluster.
    """

    name = "dask"

    def __init__(self, workers: int, scheduler: str | None = None,
                 retries: int = DASK_RETRIES,
                 initializer: Callable[[], None] | None = None) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise BackendError("backend 'dask' needs dask.distributed: "
                               "pip install 'dask[distributed]'") from exc
        self.scheduler = scheduler
        self.retries = retries
        self._cluster = None
        try:
            if scheduler is None:
                self._cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1,
                                             processes=True, dashboard_address=None,
                                             silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
                if initializer is not None:
                    self._client.register_worker_callbacks(setup=initializer)
            else:
                self._client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            self.close()
            where = scheduler or "a LocalCluster"
            raise BackendError(f"cannot connect to the Dask scheduler at {where}: "
                               f"{exc}") from exc
        threads = sum(self._client.nthreads().values())
        self.workers = max(1, threads) if scheduler is not None else int(workers)
        self._token = uuid.uuid4().hex[:8]

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def describe(self) -> str:
        where = f"scheduler {self.scheduler}" if self.scheduler else "LocalCluster"
        plural = "s" if self.workers != 1 else ""
        return f"dask ({where}), {self.workers} worker{plural}"

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Any]:
        from dask.distributed import as_completed

        client = self._client
        counter = itertools.count()
        queue = deque(tasks)

        def submit(task: Any) -> Any:
            key = f"alvh-shard-{getattr(task, 'index', next(counter))}-{self._token}"
            return client.submit(fn, task, retries=self.retries, pure=False, key=key)

        window = IN_FLIGHT_PER_WORKER * max(1, self.workers)
        submitted = {submit(queue.popleft()) for _ in range(min(window, len(queue)))}
        running = as_completed(list(submitted))
        try:
            for future in running:
                result = future.result()
                submitted.discard(future)
                if queue:
                    future = submit(queue.popleft())
                    submitted.add(future)
                    running.add(future)
                yield result
        finally:
            for future in submitted:
                future.cancel()


def make_backend(name: str, workers: int | None = None, scheduler: str | None = None,
                 initializer: Callable[[], None] | None = None) -> Backend:
    """A backend by name (:data:`BACKENDS`).

    Parameters
    ----------
    name : str
        ``serial``, ``processes`` or ``dask``.
    workers : int, optional
        Worker processes (default: :func:`default_workers`; ignored by
        ``serial`` and by ``dask`` with a ``scheduler``).
    scheduler : str, optional
        Dask scheduler address (``dask`` only).
    initializer : callable, optional
        Run once in each worker process this backend starts (not in this
        process, not on an existing Dask cluster).

    Returns
    -------
    Backend

    Raises
    ------
    BackendError
        On an unknown name, ``workers < 1``, ``scheduler`` without ``dask``,
        dask not installed, or an unreachable scheduler.
    """
    if name not in BACKENDS:
        raise BackendError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
    if scheduler is not None and name != "dask":
        raise BackendError(f"a scheduler address needs backend 'dask', not {name!r}")
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise BackendError(f"workers must be >= 1, got {workers}")
    if name == "serial":
        return SerialBackend()
    if name == "processes":
        return ProcessBackend(workers, initializer=initializer)
    return DaskBackend(workers, scheduler, initializer=initializer)
