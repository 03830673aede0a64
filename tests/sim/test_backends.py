"""Backends survive workers that die mid-shard: the shard runs again and every
per-path number equals a serial run's (local processes and a real Dask LocalCluster)."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scenarios
from sim.backends import BackendError, ProcessBackend, WorkerLostError, make_backend
from sim.compare import compare
from sim.runner import run

N_PATHS = 600
N_DAYS = 20
SEED = 5
DOOMED_SHARD = 1


def die_once(index: int, *, marker_dir: str, shard: int) -> None:
    """Kill this worker process the first time it runs ``shard`` (a marker file remembers)."""
    marker = Path(marker_dir) / f"died-on-shard-{index}"
    if index == shard and not marker.exists():
        marker.touch()
        os._exit(1)


@pytest.fixture(scope="module")
def scenario():
    scenario = scenarios.load("default")
    return dataclasses.replace(scenario, simulation=dataclasses.replace(
        scenario.simulation, n_days=N_DAYS))


@pytest.fixture(scope="module")
def serial(scenario):
    return run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=256, keep_paths=True)


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_a_worker_that_dies_mid_shard_has_its_shard_run_again(backend, scenario, serial,
                                                              tmp_path):
    hook = functools.partial(die_once, marker_dir=str(tmp_path), shard=DOOMED_SHARD)
    result = run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=256, backend=backend,
                 workers=2, keep_paths=True, shard_hook=hook, out=tmp_path / "out")
    assert (tmp_path / f"died-on-shard-{DOOMED_SHARD}").exists()   # the worker did die
    assert result.backend.startswith(backend) and "2 workers" in result.backend
    assert result.layout.n_shards == 3
    for column, values in serial.paths.items():
        np.testing.assert_array_equal(result.paths[column], values, err_msg=column)
    assert [r.value for r in result.summary()] == [r.value for r in serial.summary()]


def test_the_process_pool_gives_up_when_workers_keep_dying():
    backend = ProcessBackend(1, max_restarts=1)
    with backend, pytest.raises(WorkerLostError, match="died 2 times"):
        list(backend.map_unordered(os._exit, [1, 1]))


def test_bad_backend_requests():
    with pytest.raises(BackendError, match="not one of"):
        make_backend("threads")
    with pytest.raises(BackendError, match="needs backend 'dask'"):
        make_backend("processes", 2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(BackendError, match="workers"):
        make_backend("processes", 0)


def test_compare_on_worker_processes_equals_compare_in_this_process(scenario):
    kwargs = dict(n_paths=300, seed=SEED, shard_size=256, bootstrap=50)
    here = compare(scenario, ["none", "active"], **kwargs)
    there = compare(scenario, ["none", "active"], backend="processes", workers=2, **kwargs)
    for name in ("none", "active"):
        pd.testing.assert_frame_equal(here.paths[scenario.name][name],
                                      there.paths[scenario.name][name])
    pd.testing.assert_frame_equal(here.summary, there.summary)
    pd.testing.assert_frame_equal(here.differences, there.differences)
