"""The sharded runner: block seeding, shard-size and backend independence, streaming
aggregates, the output folder, resume, policies, the progress bar and the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import scenarios
from sim.agents.condor import CondorAgent
from sim.cli import main
from sim.compare import compare
from sim.market import MarketPaths
from sim.metrics import SUMMARY_INPUTS, ColumnStats, PathAggregate, path_results, summarize
from sim.output import RunFolder
from sim.progress import ProgressBar
from sim.runner import RunError, read_paths, run
from sim.shards import PATHS_PER_BLOCK, ShardLayout, block_market, block_seed, shard_market


@pytest.fixture(autouse=True)
def _run_records_in_tmp(tmp_path, monkeypatch):
    """``alvh run`` without --out keeps a run record: here, not in the working directory."""
    monkeypatch.setenv("ALVH_RUNS_DIR", str(tmp_path / "runs"))


N_DAYS = 20
N_PATHS = 600          # blocks of 256, 256 and 88 paths
SEED = 11


def short(name: str = "default", n_days: int = N_DAYS):
    scenario = scenarios.load(name)
    return dataclasses.replace(scenario, simulation=dataclasses.replace(
        scenario.simulation, n_days=n_days))


def assert_same_paths(a: dict, b: dict, columns=None) -> None:
    columns = list(a) if columns is None else columns
    assert set(columns) <= set(b)
    for column in columns:
        np.testing.assert_array_equal(np.asarray(a[column]), np.asarray(b[column]),
                                      err_msg=column)


def assert_same_summary(a, b) -> None:
    """Same metrics, same values bit for bit (NaN equal to NaN)."""
    assert [r.metric for r in a] == [r.metric for r in b]
    np.testing.assert_array_equal([r.value for r in a], [r.value for r in b])


@pytest.fixture(scope="module")
def scenario():
    return short()


@pytest.fixture(scope="module")
def reference(scenario):
    """The run every other layout and backend must reproduce bit for bit."""
    return run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=256, keep_paths=True)


# ------------------------------------------------------------------ seeding
def test_a_block_seed_is_the_spawned_child_whatever_the_number_spawned():
    for n_children in (3, 10, 1000):
        children = np.random.SeedSequence(SEED).spawn(n_children)
        for k in (0, 2):
            np.testing.assert_array_equal(children[k].generate_state(8),
                                          block_seed(SEED, k).generate_state(8))


def test_layout_rounds_shards_up_to_whole_blocks():
    layout = ShardLayout.plan(N_PATHS, 300)
    assert PATHS_PER_BLOCK == 256 and layout.shard_size == 512
    assert (layout.n_blocks, layout.n_shards) == (3, 2)
    assert layout.shard_paths(0) == (0, 512) and layout.shard_paths(1) == (512, 600)
    assert list(layout.blocks(1)) == [2] and layout.block_paths(2) == (512, 600)
    assert ShardLayout.plan(N_PATHS, 1).shard_size == 256
    assert ShardLayout.plan(N_PATHS, 10**6).n_shards == 1
    with pytest.raises(ValueError):
        ShardLayout.plan(N_PATHS, 0)


def test_a_shard_market_is_its_blocks_side_by_side(scenario):
    layout = ShardLayout.plan(N_PATHS, 512)
    blocks = [block_market(scenario, SEED, layout, k) for k in range(3)]
    first = shard_market(scenario, SEED, layout, 0)
    assert first.n_paths == 512
    np.testing.assert_array_equal(first.spot[:, 256:], blocks[1].spot)
    np.testing.assert_array_equal(first.regime[:, :256], blocks[0].regime)
    np.testing.assert_array_equal(first.divergence[:, 256:], blocks[1].divergence)
    assert blocks[2].n_paths == 88
    whole = MarketPaths.concat(blocks)
    again = MarketPaths.concat([whole.select(slice(0, 100)), whole.select(slice(100, None))])
    for name in ("spot", "variance", "vix", "jumps", "regime", "net_advances", "ad_line",
                 "divergence"):
        np.testing.assert_array_equal(getattr(again, name), getattr(whole, name))
    other_days = block_market(short(n_days=N_DAYS + 1), SEED, layout, 0)
    with pytest.raises(ValueError, match="dates"):
        MarketPaths.concat([blocks[0], other_days])
    with pytest.raises(ValueError):
        MarketPaths.concat([])


# -------------------------------------------------- layout and backend do not matter
@pytest.mark.parametrize("shard_size, backend", [(512, "serial"), (2048, "serial"),
                                                 (256, "processes")])
def test_results_do_not_depend_on_shard_size_or_backend(scenario, reference, shard_size,
                                                        backend):
    other = run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=shard_size, backend=backend,
                workers=2, keep_paths=True)
    assert other.layout.shard_size == shard_size
    assert list(other.paths) == list(reference.paths)
    assert_same_paths(reference.paths, other.paths)
    assert_same_summary(reference.summary(), other.summary())
    assert other.column_stats() == reference.column_stats()
    np.testing.assert_array_equal(reference.paths["path"], np.arange(N_PATHS))


def test_the_first_blocks_do_not_depend_on_the_path_count(scenario, reference):
    longer = run(scenario, n_paths=N_PATHS + 300, seed=SEED, shard_size=256, keep_paths=True)
    full = 2 * PATHS_PER_BLOCK
    assert_same_paths({k: v[:full] for k, v in reference.paths.items()},
                      {k: v[:full] for k, v in longer.paths.items()})


def test_compare_with_one_policy_equals_run_with_that_policy(scenario):
    cmp = compare(scenario, ["none", "alvh"], n_paths=N_PATHS, seed=SEED, shard_size=512,
                  bootstrap=20)
    for name in ("none", "alvh"):
        alone = run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=256, policy=name,
                    keep_paths=True)
        table = cmp.paths[scenario.name][name]
        assert_same_paths(alone.paths, {c: table[c].to_numpy() for c in table.columns})


def test_explicit_agents_run_serial_only_unless_they_pickle(scenario, reference):
    lambdas = [lambda ctx: CondorAgent(ctx)]
    with pytest.raises(RunError, match="pickled"):
        run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=256, agents=lambdas,
            backend="processes")
    serial = run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=2048, agents=lambdas)
    assert_same_paths(reference.paths, serial.paths)
    with pytest.raises(RunError, match="not both"):
        run(scenario, n_paths=10, agents=[CondorAgent], policy="none")


# --------------------------------------------------------------- aggregates
def synthetic_table(n: int = 1000, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    margin = np.where(rng.uniform(size=n) < 0.1, 0.0, rng.uniform(1e3, 1e4, n))
    pnl = rng.standard_t(3, n) * 5000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rom = np.where(margin > 0, pnl / margin, np.nan)
    return {"path": np.arange(n), "pnl": pnl, "return_on_margin": rom,
            "max_drawdown": np.abs(rng.normal(0, 3000, n)), "peak_margin": margin,
            "n_trades": rng.integers(0, 40, n), "costs": rng.uniform(0, 3000, n),
            "carry": rng.uniform(3000, 4000, n), "flag": rng.uniform(size=n) < 0.3}


@pytest.mark.parametrize("shard_blocks, order", [(1, "shuffled"), (3, "reversed"), (4, "in")])
def test_streamed_summary_equals_the_in_memory_summary(shard_blocks, order):
    table = synthetic_table()
    layout = ShardLayout(1000, 64, shard_blocks)
    shards = list(range(layout.n_shards))
    if order == "shuffled":
        np.random.default_rng(0).shuffle(shards)
    elif order == "reversed":
        shards.reverse()
    aggregate = PathAggregate(1000, 64)
    for index in shards:
        first, stop = layout.shard_paths(index)
        assert not aggregate.complete
        aggregate.add(first, {k: v[first:stop] for k, v in table.items()})
    assert aggregate.complete and aggregate.paths_done == 1000
    assert set(aggregate.table()) == set(SUMMARY_INPUTS)
    assert_same_summary(summarize(table), aggregate.summary())
    stats = aggregate.column_stats()
    assert "path" not in stats
    in_order = PathAggregate(1000, 64)
    in_order.add(0, table)
    assert stats == in_order.column_stats()     # merged in block order: the same bits
    for name in ("pnl", "return_on_margin", "n_trades", "flag"):
        values = table[name].astype(np.float64)
        finite = values[~np.isnan(values)]
        assert stats[name].count == finite.size
        assert stats[name].missing == values.size - finite.size
        assert stats[name].positive == np.count_nonzero(values > 0)
        assert stats[name].mean == pytest.approx(finite.mean(), rel=1e-12)
        assert stats[name].std == pytest.approx(finite.std(ddof=1), rel=1e-12)
        assert stats[name].sum == pytest.approx(finite.sum(), rel=1e-12)
        assert (stats[name].minimum, stats[name].maximum) == (finite.min(), finite.max())


def test_aggregate_refuses_partial_blocks_and_double_counting():
    table = synthetic_table(300)
    aggregate = PathAggregate(300, 64)
    with pytest.raises(ValueError, match="whole blocks"):
        aggregate.add(10, {k: v[10:74] for k, v in table.items()})
    aggregate.add(0, {k: v[:128] for k, v in table.items()})
    with pytest.raises(ValueError, match="already"):
        aggregate.add(64, {k: v[64:128] for k, v in table.items()})
    with pytest.raises(ValueError, match="missing"):
        aggregate.summary()
    aggregate.add(128, {k: v[128:] for k, v in table.items()})   # the short last block
    assert_same_summary(summarize(table), aggregate.summary())


def test_column_stats_merge_is_chan_et_al():
    rng = np.random.default_rng(5)
    a, b = rng.normal(1e6, 1.0, 333), rng.normal(1e6 + 3.0, 2.0, 77)
    merged = ColumnStats.of(a).merge(ColumnStats.of(b))
    both = np.concatenate([a, b])
    assert merged.count == 410
    assert merged.mean == pytest.approx(both.mean(), rel=1e-15)
    assert merged.variance == pytest.approx(both.var(ddof=1), rel=1e-9)
    assert ColumnStats().merge(ColumnStats.of(a)) == ColumnStats.of(a)
    empty = ColumnStats.of(np.array([np.nan, np.nan]))
    assert (empty.count, empty.missing, empty.sum) == (0, 2, 0.0) and np.isnan(empty.std)


# ------------------------------------------------------------- output folder
def test_the_output_folder_holds_a_manifest_and_one_parquet_file_per_shard(scenario,
                                                                           reference,
                                                                           tmp_path):
    out = tmp_path / "run"
    result = run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=256, out=out)
    assert not result.aggregate.keep_paths and result.out == out
    manifest = json.loads((out / "manifest.json").read_text())
    text = manifest["scenario"]["toml"]
    assert manifest["scenario"]["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert scenarios.loads(text).simulation.n_days == N_DAYS
    assert manifest["policy"]["name"] == "none" and manifest["seed"] == SEED
    assert (manifest["n_paths"], manifest["n_days"], manifest["paths_per_block"]) == (
        N_PATHS, N_DAYS, 256)
    assert manifest["shards"] == {"count": 3, "paths_per_shard": 256, "blocks_per_shard": 1,
                                  "files": "shards/shard-{index:06d}.parquet"}
    assert manifest["backend"] == "serial" and manifest["version"]
    files = sorted(p.name for p in (out / "shards").iterdir())
    assert files == [f"shard-{i:06d}.parquet" for i in range(3)]   # no temporary file left
    shard = pq.read_table(out / "shards" / "shard-000002.parquet")
    assert shard.column_names[0] == "path" and shard.num_rows == 88
    assert set(shard.column_names) == set(reference.paths)
    assert_same_paths(reference.paths, read_paths(out))
    assert_same_paths(reference.paths, result.paths)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"][1]["metric"] == "mean P&L"
    assert summary["summary"][1]["value"] == reference.summary()[1].value
    assert summary["columns"]["pnl"]["count"] == N_PATHS


def test_resume_reruns_missing_and_corrupt_shards_and_gives_the_same_numbers(scenario,
                                                                            tmp_path):
    out = tmp_path / "run"
    n_paths = 900                                     # four shards of 256, 256, 256, 132
    whole = run(scenario, n_paths=n_paths, seed=SEED, shard_size=256, out=out)
    original = read_paths(out)
    folder = RunFolder(out)
    folder.shard_path(0).unlink()
    folder.shard_path(2).unlink()
    damaged = folder.shard_path(3)
    damaged.write_bytes(damaged.read_bytes()[:300])
    with pytest.raises(RunError, match="already holds a run"):
        run(scenario, n_paths=n_paths, seed=SEED, shard_size=256, out=out)
    resumed = run(scenario, n_paths=n_paths, seed=SEED, shard_size=999, out=out,
                  resume=True, backend="serial")
    assert (resumed.shards_resumed, resumed.shards_run) == (1, 3)
    assert resumed.layout == whole.layout                # the folder's shards are kept
    assert any("unreadable" in note and "3" in note for note in resumed.notes)
    assert_same_summary(whole.summary(), resumed.summary())
    assert resumed.column_stats() == whole.column_stats()
    assert_same_paths(original, read_paths(out))


def test_resume_after_an_interruption_equals_an_uninterrupted_run(scenario, reference,
                                                                  tmp_path):
    out = tmp_path / "run"

    def interrupt(index: int, done: int) -> None:
        if index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=256, out=out, on_shard=interrupt)
    assert RunFolder(out).existing_shards() == [0, 1]
    resumed = run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=256, out=out, resume=True)
    assert (resumed.shards_resumed, resumed.shards_run) == (2, 1)
    assert_same_summary(reference.summary(), resumed.summary())
    assert_same_paths(reference.paths, read_paths(out))


def test_resume_refuses_a_folder_of_another_run(scenario, tmp_path):
    out = tmp_path / "run"
    run(scenario, n_paths=300, seed=SEED, shard_size=256, out=out)
    with pytest.raises(RunError, match=r"seed differs \(folder: 11, requested: 12\)"):
        run(scenario, n_paths=300, seed=SEED + 1, out=out, resume=True)
    with pytest.raises(RunError, match="policy differs"):
        run(scenario, n_paths=300, seed=SEED, out=out, resume=True, policy="alvh")
    with pytest.raises(RunError, match="paths differs"):
        run(scenario, n_paths=301, seed=SEED, out=out, resume=True)
    with pytest.raises(RunError, match="scenario"):
        run(short(n_days=N_DAYS + 1), n_paths=300, seed=SEED, out=out, resume=True)
    with pytest.raises(RunError, match="needs an output folder"):
        run(scenario, n_paths=300, resume=True)


# ----------------------------------------------------------------- progress
class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool = True) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_the_progress_bar_shows_after_two_seconds_on_a_terminal_only():
    now = [0.0]
    terminal = FakeTerminal()
    bar = ProgressBar(10_000, stream=terminal, clock=lambda: now[0])
    now[0] = 1.0
    bar.update(1_000)
    assert terminal.getvalue() == ""
    now[0] = 4.0
    bar.update(4_000)
    line = terminal.getvalue()
    assert line.startswith("\r[") and "4,000/10,000 paths" in line
    assert "1,000 paths/s" in line and "6s left" in line
    bar.close()
    assert terminal.getvalue().endswith("\r")
    for stream, enabled in ((FakeTerminal(tty=False), True), (FakeTerminal(), False)):
        quiet = ProgressBar(10, enabled=enabled, stream=stream, clock=lambda: now[0])
        now[0] += 10.0
        quiet.update(5)
        quiet.close()
        assert stream.getvalue() == ""


# ---------------------------------------------------------------------- CLI
def test_cli_run_writes_a_folder_and_resumes_it(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["run", "--paths", "260", "--seed", "3", "--shard-size", "200", "--backend",
            "serial", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "shards: 2 shards of up to 256 paths" in captured.out
    assert "rounded up to 256" in captured.out and f"output: {out}" in captured.out
    first = captured.out.split("metric")[1].split("wall time")[0]
    RunFolder(out).shard_path(1).unlink()
    assert main([*argv, "--resume"]) == 0
    again = capsys.readouterr().out
    assert "1 shard(s) read back, 1 run" in again
    assert again.split("metric")[1].split("wall time")[0] == first
    assert main([*argv[:-3], "--batch-size", "512", "--backend", "serial"]) == 0
    assert capsys.readouterr().out.split("metric")[1].split("wall time")[0] == first


@pytest.mark.parametrize("extra, message", [
    (["--resume"], "--resume needs --out"),
    (["--backend", "serial", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs"),
])
def test_cli_bad_sharding_options_exit_2_with_one_line(extra, message, capsys):
    assert main(["run", "--paths", "5", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_cli_resume_of_another_run_exits_2_naming_what_differs(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert main(["run", "--paths", "20", "--seed", "1", "--out", out, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["run", "--paths", "20", "--seed", "2", "--out", out, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed differs" in err and "manifest.json" in err


def test_path_results_table_is_what_a_shard_writes(scenario, reference):
    # The Parquet columns are exactly path + sim.metrics.path_results of the batch.
    from sim.engine import simulate
    from sim.policy import load_policy

    market = shard_market(scenario, SEED, ShardLayout.plan(N_PATHS, 256), 2)
    table = path_results(simulate(scenario, market, load_policy("none").agent_factories()))
    assert ["path", *table] == list(reference.paths)
    assert_same_paths(table, {k: v[512:] for k, v in reference.paths.items()})


def test_keep_batches_keeps_each_shards_book_and_ledger_serial_only(scenario, reference):
    kept = run(scenario, n_paths=N_PATHS, seed=SEED, shard_size=512, keep_batches=True)
    assert [b.market.n_paths for b in kept.batches] == [512, 88]
    assert len(kept.batches[0].book.ledger.records()) > 0
    assert_same_paths(reference.paths, kept.paths)
    with pytest.raises(RunError, match="serial"):
        run(scenario, n_paths=N_PATHS, keep_batches=True, backend="processes")
