"""Output is written atomically: a run killed at any moment leaves whole files or none.

A SIGKILL gives the process no chance to clean up, so these tests kill real
``python -m sim.cli run ... --out DIR`` processes and then read every file
that has a final name: JSON must parse, Parquet must read. Only hidden
temporary files (``.NAME.XXXX.tmp``) may be partial; ``--resume`` removes
them and finishes with the numbers of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import scenarios
from sim.output import RunFolder, atomic_file, is_temporary
from sim.runner import read_paths, run, summary_document

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = 'name = "kill"\ndescription = "killed runs"\n[simulation]\nn_days = 15\n'
N_PATHS, SHARD, SEED = 12 * 256, 256, 5


def check_whole(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with a final name is whole; count them by kind."""
    counts = {"json": 0, "parquet": 0, "temporary": 0}
    for path in folder.rglob("*"):
        if path.is_dir():
            continue
        if is_temporary(path):
            counts["temporary"] += 1
        elif path.suffix == ".json":
            assert isinstance(json.loads(path.read_text()), dict), path
            counts["json"] += 1
        elif path.suffix == ".parquet":
            table = pq.read_table(path)
            assert table.num_rows == SHARD and table.schema.metadata, path
            counts["parquet"] += 1
        else:
            pytest.fail(f"unexpected file {path}")
    return counts


def alvh_run(scenario: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", str(scenario), "--paths", str(N_PATHS),
         "--seed", str(SEED), "--shard-size", str(SHARD), "--backend", "serial", "--out",
         str(out), "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def test_a_killed_writer_leaves_the_old_file_or_none(tmp_path):
    target = tmp_path / "summary.json"
    code = ("import os, signal, sys; from sim.output import atomic_file\n"
            "with atomic_file(sys.argv[1], 'w') as handle:\n"
            "    handle.write('{\"half\": ')\n"
            "    handle.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    for before in (None, '{"old": 1}\n'):
        if before is not None:
            target.write_text(before)
        proc = subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, timeout=60)
        assert proc.returncode == -signal.SIGKILL
        assert (target.read_text() if target.exists() else None) == before
        assert [p for p in tmp_path.iterdir() if is_temporary(p)]
        assert RunFolder(tmp_path).remove_temporaries()
        assert not [p for p in tmp_path.iterdir() if is_temporary(p)]


def test_atomic_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "x.csv"
    with atomic_file(path, "w") as handle:
        handle.write("a,b\n")
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    path.chmod(0o640)
    with atomic_file(path, "w") as handle:
        handle.write("c,d\n")
    assert path.stat().st_mode & 0o777 == 0o640 and path.read_text() == "c,d\n"
    with pytest.raises(ZeroDivisionError), atomic_file(path, "w") as handle:
        handle.write("partial")
        raise ZeroDivisionError
    assert path.read_text() == "c,d\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "x.csv"]


def test_runs_killed_at_random_moments_resume_to_the_uninterrupted_numbers(tmp_path):
    scenario_file = tmp_path / "kill.toml"
    scenario_file.write_text(SCENARIO)
    out = tmp_path / "out"

    # A deterministic kill in the worst place: shard 2's bytes are written and flushed,
    # the rename has not happened.
    code = (
        "import os, signal, sys, pyarrow.parquet as pq\n"
        "write = pq.write_table\n"
        "def killing_write(table, where, **kwargs):\n"
        "    write(table, where, **kwargs)\n"
        "    if table.schema.metadata[b'alvh.shard'] == b'2':\n"
        "        where.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "pq.write_table = killing_write\n"
        "import sim.cli\n"
        "sys.exit(sim.cli.main(sys.argv[1:]))\n")
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", str(scenario_file), "--paths", str(N_PATHS),
         "--seed", str(SEED), "--shard-size", str(SHARD), "--backend", "serial", "--out",
         str(out), "--quiet"], cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert check_whole(out) == {"json": 1, "parquet": 2, "temporary": 1}

    # SIGKILL at random moments, each time resuming what the last one left: once early
    # (starting up, reading back), then each time a random number of shard files is
    # there, plus a random fraction of a shard's time (so some kills land in writes).
    rng = random.Random(20250102)
    n_shards = N_PATHS // SHARD
    targets = [None, *sorted(rng.sample(range(2, n_shards - 2), 5))]
    for target in targets:
        proc = alvh_run(scenario_file, out, "--resume")
        if target is None:
            time.sleep(rng.uniform(0.2, 1.0))
        else:
            deadline = time.monotonic() + 60
            while (len(RunFolder(out).existing_shards()) < target and proc.poll() is None
                   and time.monotonic() < deadline):
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the run ended before it was killed"
        counts = check_whole(out)
        assert counts["json"] <= 1 and counts["parquet"] < n_shards

    proc = alvh_run(scenario_file, out, "--resume")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert check_whole(out) == {"json": 2, "parquet": N_PATHS // SHARD, "temporary": 0}

    scenario = scenarios.load(scenario_file)
    reference = run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=SHARD, keep_paths=True)
    resumed = read_paths(out)
    for column, values in reference.paths.items():
        assert np.asarray(values).tobytes() == resumed[column].tobytes(), column
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"] == summary_document(reference)["summary"]
    assert summary["columns"] == summary_document(reference)["columns"]
