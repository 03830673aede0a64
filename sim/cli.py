"""The ``alvh`` command line.

``alvh run [SCENARIO] [--policy P] [--paths N] [--seed S] [--shard-size N]
[--backend auto|serial|processes|dask] [--workers N] [--scheduler ADDRESS]
[--out DIR] [--resume] [--quiet]``
    simulate a scenario (the ``default`` preset when none is named) under a
    policy (default ``none``: the condor alone), shard by shard on a backend
    (``sim.runner``; the numbers do not depend on the shard size, backend or
    workers), and print the summary table with units, the shard layout, the
    output folder and the wall time. ``--out DIR`` streams every shard's
    per-path table to ``DIR/shards/*.parquet`` after ``DIR/manifest.json``;
    ``--resume`` continues an interrupted run in ``DIR``. A progress bar
    shows on a terminal for runs longer than 2 s, unless ``--quiet``.
    ``--batch-size`` is a deprecated alias of ``--shard-size``;
``alvh compare SCENARIO... [--policies P...] [--paths N] [--seed S] [--shard-size N]
[--backend ...] [--workers N] [--scheduler ADDRESS] [--baseline NAME] [--bootstrap B]
[--csv DIR]``
    run every policy (default ``none alvh``) on the same paths of each
    scenario (the paths of ``alvh run`` with the same seed) and print, per
    scenario and regime, the summary by policy and the paired differences
    against the baseline with bootstrap confidence intervals
    (``sim.compare``), and the wall time; ``--csv DIR`` also writes
    ``DIR/summary.csv`` and ``DIR/differences.csv``;
``alvh experiment EXPERIMENT [--paths N] [--seed S] [--markdown FILE]``
    test the claims of an experiment file (``claims``: the shipped one) and
    print each measured value with its confidence interval and verdict;
``alvh scenarios``, ``alvh policies``
    list the preset scenarios / the shipped policies with a one-line description;
``alvh describe SCENARIO``
    print every parameter of a scenario with its unit and definition;
``alvh calibrate [--out FILE] [--seed S] [--paths N] [--days D] [--keep-smile]``
    fit the regime model to the S&P 500 (1999-2018) and VIX (2014-2019)
    daily closes shipped with the ``arch`` package, write the scenario file,
    and print the real-versus-simulated stylized facts.

Bad input (unknown scenario, invalid file or value) prints one line naming
the file, the key and what is allowed, and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from sim.backends import BACKENDS
from sim.metrics import SummaryRow
from sim.shards import PATHS_PER_BLOCK

EXIT_USAGE = 2
#: Policies of ``alvh compare`` when ``--policies`` is not given.
DEFAULT_COMPARE_POLICIES = ("none", "alvh")


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line on bad usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _int_at_least(lowest: int, what: str):
    """An argparse type: an integer >= ``lowest``, else a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lowest:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_seed = _int_at_least(0, "an integer >= 0")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``alvh``."""
    parser = _Parser(prog="alvh", description="Stress-test SPX iron condors with "
                     "Adaptive Layered VIX Hedges on simulated SPX/VIX paths.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="simulate a scenario and print its summary")
    run.add_argument("scenario", nargs="?", default=None,
                     help="preset name or TOML file (default: the 'default' preset)")
    run.add_argument("--policy", default="none",
                     help="policy name or TOML file (default: none, the condor alone)")
    run.add_argument("--paths", type=_positive_int, default=None,
                     help="number of Monte Carlo paths (default: the scenario's)")
    run.add_argument("--seed", type=_seed, default=None,
                     help="root seed of the run (default: the scenario's)")
    _add_sharding(run)
    run.add_argument("--out", default=None, metavar="DIR",
                     help="write DIR/manifest.json and one Parquet file of per-path "
                          "results per shard in DIR/shards")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out DIR from the shards written")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    comp = sub.add_parser("compare", help="compare hedge policies on the same paths")
    comp.add_argument("scenario", nargs="+", help="preset names or TOML files")
    comp.add_argument("--policies", nargs="+", default=list(DEFAULT_COMPARE_POLICIES),
                      metavar="POLICY",
                      help="policy names or files (default: "
                           f"{' '.join(DEFAULT_COMPARE_POLICIES)})")
    comp.add_argument("--paths", type=_positive_int, default=None,
                      help="Monte Carlo paths per scenario (default: the first scenario's)")
    comp.add_argument("--seed", type=_seed, default=None,
                      help="root seed, shared by every scenario (default: the first "
                           "scenario's)")
    _add_sharding(comp)
    comp.add_argument("--baseline", default=None,
                      help="policy the others are compared with (default: the first)")
    comp.add_argument("--bootstrap", type=_positive_int, default=2000,
                      help="bootstrap resamples per confidence interval (default 2000)")
    comp.add_argument("--csv", default=None, metavar="DIR",
                      help="also write DIR/summary.csv and DIR/differences.csv")
    exp = sub.add_parser("experiment", help="test the claims of an experiment file")
    exp.add_argument("experiment", help="shipped experiment name (claims) or TOML file")
    exp.add_argument("--paths", type=_positive_int, default=None,
                     help="paths per scenario (default: the file's)")
    exp.add_argument("--seed", type=_seed, default=None,
                     help="root seed (default: the file's)")
    exp.add_argument("--markdown", default=None, metavar="FILE",
                     help="also write the results as Markdown tables to FILE")
    sub.add_parser("scenarios", help="list the preset scenarios")
    sub.add_parser("policies", help="list the shipped policies")
    describe = sub.add_parser("describe", help="print a scenario's parameters")
    describe.add_argument("scenario", help="preset name or TOML file")
    calib = sub.add_parser("calibrate", help="fit the market model to real SPX/VIX history")
    calib.add_argument("--out", default="calibrated.toml",
                       help="scenario file to write (default: ./calibrated.toml)")
    calib.add_argument("--seed", type=_seed, default=0,
                       help="seed of the check simulation and smile refit (default 0)")
    calib.add_argument("--paths", type=_positive_int, default=None,
                       help="paths of the check simulation (default 16)")
    calib.add_argument("--days", type=_positive_int, default=None,
                       help="daily ticks per check path (default 5030, the SPX history)")
    calib.add_argument("--keep-smile", action="store_true",
                       help="keep the default smile instead of refitting it")
    return parser


def _add_sharding(parser: argparse.ArgumentParser) -> None:
    """The options that say how a run is cut into shards and where they run."""
    parser.add_argument("--shard-size", "--batch-size", dest="shard_size",
                        type=_positive_int, default=None, metavar="N",
                        help="paths per shard, rounded up to whole blocks of "
                             f"{PATHS_PER_BLOCK} (default: the scenario's batch_size); "
                             "changes no result (--batch-size: deprecated alias)")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                        help="where shards run (default auto: processes for several "
                             "shards on several CPUs, else serial)")
    parser.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                        help="worker processes (default: the CPUs available)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="address of an existing Dask scheduler (implies --backend dask)")


def _backend_of(args: argparse.Namespace) -> str:
    """The backend asked for; ``--scheduler`` implies ``dask``."""
    if args.scheduler is not None:
        if args.backend not in ("auto", "dask"):
            raise _UsageError(f"--scheduler needs --backend dask, not {args.backend}")
        return "dask"
    return args.backend


class _UsageError(ValueError):
    """Options that do not go together."""


def format_table(rows: Sequence[SummaryRow]) -> str:
    """The summary as an aligned text table with a unit column."""
    header = ("metric", "unit", "value")
    cells = [(r.metric, r.unit, _fmt(r.value, r.unit)) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = [f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]:>{widths[2]}}",
             "  ".join("-" * w for w in widths)]
    lines += [f"{m:<{widths[0]}}  {u:<{widths[1]}}  {v:>{widths[2]}}" for m, u, v in cells]
    return "\n".join(lines)


def _fmt(value: float, unit: str) -> str:
    if unit == "paths":
        return f"{value:,.0f}"
    if unit == "$":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _cmd_run(args: argparse.Namespace) -> int:
    import scenarios
    from sim.policy import load_policy
    from sim.runner import run

    if args.resume and args.out is None:
        raise _UsageError("--resume needs --out DIR, the folder of the run to continue")
    backend = _backend_of(args)
    scenario = scenarios.load(args.scenario)
    policy = load_policy(args.policy)
    sim_spec = scenario.simulation
    n_paths = sim_spec.n_paths if args.paths is None else args.paths
    seed = sim_spec.seed if args.seed is None else args.seed
    started = time.perf_counter()
    result = run(scenario, n_paths=n_paths, seed=seed, shard_size=args.shard_size,
                 policy=policy, backend=backend, workers=args.workers,
                 scheduler=args.scheduler, out=args.out, resume=args.resume,
                 keep_paths=False, progress=not args.quiet and sys.stderr.isatty())
    wall = time.perf_counter() - started
    print(f"scenario: {scenario.name} ({scenario.source})")
    print(f"{n_paths:,} paths x {sim_spec.n_days} daily ticks, seed {seed}; "
          f"policy: {policy.name} ({policy.description})")
    print(f"shards: {result.layout.describe()}; backend: {result.backend}")
    for note in result.notes:
        print(f"note: {note}")
    if result.out is not None:
        resumed = (f"; {result.shards_resumed:,} shard(s) read back, {result.shards_run:,} run"
                   if args.resume else "")
        print(f"output: {result.out} (manifest.json, shards/shard-NNNNNN.parquet, "
              f"summary.json){resumed}")
    print()
    print(format_table(result.summary()))
    print()
    ticks = result.paths_run * (sim_spec.n_days + 1)
    if ticks:
        print(f"wall time: {wall:.2f} s ({ticks / wall:,.0f} path-ticks/s, compile and worker "
              f"start included)")
    else:
        print(f"wall time: {wall:.2f} s (every shard read back, nothing simulated)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.compare import CompareError, compare
    from sim.shards import ShardLayout

    try:
        result = compare(args.scenario, args.policies, n_paths=args.paths, seed=args.seed,
                         shard_size=args.shard_size, baseline=args.baseline,
                         bootstrap=args.bootstrap, backend=_backend_of(args),
                         workers=args.workers, scheduler=args.scheduler)
    except CompareError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    days = ", ".join(f"{s.name} {s.simulation.n_days}" for s in result.scenarios)
    print(f"scenarios: {', '.join(s.name for s in result.scenarios)} (daily ticks: {days})")
    print(f"policies: {', '.join(result.policy_names)}; baseline: {result.baseline}")
    layout = ShardLayout.plan(result.n_paths, result.shard_size)
    print(f"{result.n_paths:,} paths per scenario, seed {result.seed}, "
          f"{layout.describe()}; every policy trades the same paths")
    print()
    print(result.to_text())
    if args.csv is not None:
        folder = Path(args.csv)
        folder.mkdir(parents=True, exist_ok=True)
        result.summary.to_csv(folder / "summary.csv", index=False)
        result.differences.to_csv(folder / "differences.csv", index=False)
        print()
        print(f"wrote {folder / 'summary.csv'} and {folder / 'differences.csv'}")
    print()
    ticks = sum(result.n_paths * (s.simulation.n_days + 1) for s in result.scenarios)
    ticks *= len(result.policies)
    wall = result.wall_seconds
    print(f"wall time: {wall:.2f} s ({ticks / wall:,.0f} policy-path-ticks/s, "
          f"compile included)")
    return 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.experiment import run_experiment

    result = run_experiment(args.experiment, paths=args.paths, seed=args.seed)
    print(result.to_text())
    if args.markdown is not None:
        Path(args.markdown).write_text(result.to_markdown(), encoding="utf-8")
        print(f"wrote {args.markdown}")
    return 0


def _cmd_policies(args: argparse.Namespace) -> int:
    from sim.policy import list_policies

    listed = list_policies()
    width = max(len(name) for name, _ in listed)
    for name, description in listed:
        print(f"{name:<{width}}  {description}")
    return 0


def _cmd_scenarios(args: argparse.Namespace) -> int:
    import scenarios

    presets = scenarios.list_presets()
    width = max(len(name) for name, _ in presets)
    for name, description in presets:
        print(f"{name:<{width}}  {description}")
    return 0


def _cmd_describe(args: argparse.Namespace) -> int:
    import scenarios

    print(scenarios.describe(scenarios.load(args.scenario)))
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.market import calibrate

    kwargs = {"seed": args.seed, "refit_smile": not args.keep_smile}
    if args.paths is not None:
        kwargs["n_paths"] = args.paths
    if args.days is not None:
        kwargs["n_days"] = args.days
    _, report, seconds = calibrate.calibrate_command(out_path=args.out, **kwargs)
    print(report)
    print()
    print(f"wrote {args.out}; calibration took {seconds:.1f} s")
    return 0


COMMANDS = {"run": _cmd_run, "compare": _cmd_compare, "experiment": _cmd_experiment,
            "scenarios": _cmd_scenarios, "policies": _cmd_policies,
            "describe": _cmd_describe, "calibrate": _cmd_calibrate}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``alvh`` console script; returns the exit status."""
    from scenarios import ScenarioError
    from sim.backends import BackendError, WorkerLostError
    from sim.output import OutputError
    from sim.runner import RunError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ScenarioError, RunError, BackendError, OutputError, _UsageError) as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WorkerLostError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"alvh: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("alvh: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
