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
[--csv DIR] [--report FILE.html [--sample-paths N]]``
    run every policy (default ``none alvh``) on the same paths of each
    scenario (the paths of ``alvh run`` with the same seed) and print, per
    scenario and regime, the summary by policy and the paired differences
    against the baseline with bootstrap confidence intervals
    (``sim.compare``), and the wall time; ``--csv DIR`` also writes
    ``DIR/summary.csv`` and ``DIR/differences.csv``; ``--report FILE.html``
    also writes the HTML report (``sim.report``);
``alvh report RUN_DIR [--out FILE.html] [--sample-paths N] [--policy FILE]``
    write the HTML report of a ``run --out`` folder (default
    ``RUN_DIR/report.html``, tables in ``RUN_DIR/report_tables/``);
``alvh experiment EXPERIMENT [--paths N] [--seed S] [--markdown FILE]``
    test the claims of an experiment file (``claims``: the shipped one) and
    print each measured value with its confidence interval and verdict;
``alvh scenarios``, ``alvh policies``
    list the preset scenarios / the shipped policies with a one-line description;
``alvh check POLICY [--examples N] [--seed S] [--out FILE] [--scenario FILE [--paths N]]``
    run the invariants of ``sim.invariants`` on the policy across generated
    scenarios and seeds (``sim.check``); on failure print the shrunk example
    as a scenario file and the ``alvh run`` command that reproduces it, exit 1;
``alvh describe SCENARIO``
    print every parameter of a scenario with its unit and definition;
``alvh calibrate [--out FILE] [--seed S] [--paths N] [--days D] [--keep-smile]``
    fit the regime model to the S&P 500 (1999-2018) and VIX (2014-2018)
    daily closes shipped with the ``arch`` package, write the scenario file,
    and print the real-versus-simulated stylized facts.
``alvh replay [--start D] [--end D] [--policies P...] [--scenario S] [--out DIR]``
    drive the agents over the real S&P 500 and VIX daily closes of ``arch``
    (2014-01-03..2018-12-31; ``sim.replay``) with each policy (default
    ``none alvh static-vix``) and print a table per policy and per stress
    episode; ``--out DIR`` also writes the daily series, the episode table
    (CSV) and ``DIR/replay.html`` (``sim.replay_report``);
``alvh rerun MANIFEST [--out DIR] [--shard-size N] [--backend ...] [--workers N]``
    run the run of a ``manifest.json`` (or of the run folder holding it)
    again from the manifest alone (``sim.rerun``), print its summary, and
    compare its numbers with the original's ``summary.json`` and shard
    files: ``identical`` (exit 0) or the differences (exit 1).

Without ``--out``, ``alvh run`` keeps a light run record (``manifest.json``
and ``summary.json``, no shard files) in ``runs/<time>-<scenario>-<policy>``
(``$ALVH_RUNS_DIR`` instead of ``runs`` when set; ``--no-record``: none),
so that every run can be rerun.

Bad input (unknown scenario, invalid file or value, unusable folder)
prints one line ``alvh: error: ...`` naming the file, the key and what is
allowed, and exits with status 2. An unexpected error (a bug) prints one
line naming the exception and the file that holds its traceback, and exits
with status 1 (``ALVH_DEBUG=1`` prints the traceback instead); Ctrl-C prints
one line and exits with status 130. Every file written is written
atomically (``sim.output.atomic_file``): whole, or not at all.
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
        command = self.prog.removeprefix("alvh").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"alvh: error: {where}{message}\n")


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
    run.add_argument("--no-record", action="store_true",
                     help="without --out, keep no run record (by default manifest.json and "
                          "summary.json go to runs/<time>-<scenario>-<policy>, or to "
                          "$ALVH_RUNS_DIR)")
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
    comp.add_argument("--report", default=None, metavar="FILE",
                      help="also write the HTML report to FILE (tables in FILE's "
                           "<stem>_tables/)")
    _add_sample_paths(comp)
    rep = sub.add_parser("report", help="write the HTML report of a run folder")
    rep.add_argument("run_dir", metavar="RUN_DIR", help="folder of 'alvh run ... --out DIR'")
    rep.add_argument("--out", default=None, metavar="FILE",
                     help="HTML file to write (default: RUN_DIR/report.html)")
    _add_sample_paths(rep)
    rep.add_argument("--policy", default=None, metavar="FILE",
                     help="the run's policy file, when it was not a shipped policy")
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
    check = sub.add_parser("check", help="check a policy's invariants on generated markets")
    from sim.check import add_arguments as add_check_arguments

    add_check_arguments(check)
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
    replay = sub.add_parser("replay", help="run policies over the real S&P 500 and VIX closes")
    replay.add_argument("--start", default=None, metavar="D",
                        help="first day, YYYY-MM-DD (default: 2014-01-03, the data's first)")
    replay.add_argument("--end", default=None, metavar="D",
                        help="last day, YYYY-MM-DD (default: 2018-12-31, the data's last)")
    replay.add_argument("--policies", nargs="+", default=None, metavar="POLICY",
                        help="policy names or files (default: none alvh static-vix)")
    replay.add_argument("--scenario", default=None, metavar="S",
                        help="preset or TOML file: pricing model, costs, account, condor "
                             "(default: calibrated)")
    replay.add_argument("--out", default=None, metavar="DIR",
                        help="write the daily series and episode table (CSV) and "
                             "DIR/replay.html")
    again = sub.add_parser("rerun", help="run a recorded run again and check its numbers")
    again.add_argument("manifest", metavar="MANIFEST",
                       help="manifest.json of a run, or the run folder that holds it")
    again.add_argument("--out", default=None, metavar="DIR",
                       help="keep the new run in DIR (manifest, shards, summary)")
    _add_sharding(again)
    again.add_argument("--quiet", action="store_true", help="no progress bar")
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


def _add_sample_paths(parser: argparse.ArgumentParser) -> None:
    """The report's ``--sample-paths`` option."""
    parser.add_argument("--sample-paths", type=_positive_int, default=None, metavar="N",
                        help="report: re-simulate the run's first N paths for the time "
                             "series (default 2048)")


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
    out, record_note = args.out, None
    if out is None and not args.no_record:
        out, record_note = _record_folder(scenario, policy.name)
    started = time.perf_counter()
    try:
        result = run(scenario, n_paths=n_paths, seed=seed, shard_size=args.shard_size,
                     policy=policy, backend=backend, workers=args.workers,
                     scheduler=args.scheduler, out=out, resume=args.resume,
                     keep_paths=False, progress=not args.quiet and sys.stderr.isatty(),
                     write_shards=args.out is not None)
    except BaseException:
        if args.out is None and out is not None:
            import contextlib

            with contextlib.suppress(OSError):
                out.rmdir()   # a run record folder left empty by a failed start
        raise
    wall = time.perf_counter() - started
    print(f"scenario: {scenario.name} ({scenario.source})")
    print(f"{n_paths:,} paths x {sim_spec.n_days} daily ticks, seed {seed}; "
          f"policy: {policy.name} ({policy.description})")
    print(f"shards: {result.layout.describe()}; backend: {result.backend}")
    for note in result.notes:
        print(f"note: {note}")
    if record_note is not None:
        print(f"note: {record_note}")
    if result.out is not None and args.out is None:
        print(f"run record: {result.out} (manifest.json, summary.json; alvh rerun "
              f"{result.out} runs it again)")
    elif result.out is not None:
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
        from sim.output import atomic_file

        folder = Path(args.csv)
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in (("summary.csv", result.summary),
                            ("differences.csv", result.differences)):
            with atomic_file(folder / name, "w") as handle:
                table.to_csv(handle, index=False)
        print()
        print(f"wrote {folder / 'summary.csv'} and {folder / 'differences.csv'}")
    print()
    ticks = sum(result.n_paths * (s.simulation.n_days + 1) for s in result.scenarios)
    ticks *= len(result.policies)
    wall = result.wall_seconds
    print(f"wall time: {wall:.2f} s ({ticks / wall:,.0f} policy-path-ticks/s, "
          f"compile included)")
    if args.report is not None:
        from sim.report import ReportError, report_from_compare

        try:
            files = report_from_compare(result, args.report, **_sample_paths(args))
        except ReportError as exc:
            print(f"alvh: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        _print_report(files)
    return 0


def _sample_paths(args: argparse.Namespace) -> dict[str, int]:
    return {} if args.sample_paths is None else {"sample_paths": args.sample_paths}


def _print_report(files) -> None:
    print()
    print(f"wrote {files.html} ({len(files.figure_ids)} figures) and "
          f"{len(files.tables)} CSV files in {files.html.parent / (files.html.stem + '_tables')}"
          f" in {files.seconds:.1f} s")


def _cmd_report(args: argparse.Namespace) -> int:
    from sim.report import ReportError, report_from_run

    try:
        files = report_from_run(args.run_dir, args.out, policy=args.policy,
                                **_sample_paths(args))
    except ReportError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _print_report(files)
    return 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.experiment import run_experiment

    result = run_experiment(args.experiment, paths=args.paths, seed=args.seed)
    print(result.to_text())
    if args.markdown is not None:
        from sim.output import atomic_file

        with atomic_file(Path(args.markdown), "w") as handle:
            handle.write(result.to_markdown())
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
    from sim.output import atomic_file

    kwargs = {"seed": args.seed,
              "smile_paths": calibrate.SMILE_PATHS if not args.keep_smile else 0}
    if args.paths is not None:
        kwargs["n_paths"] = args.paths
    if args.days is not None:
        kwargs["n_days"] = args.days
    result = calibrate.calibrate(**kwargs)
    # calibrate.write_scenario, atomically: a killed calibration leaves the old file.
    with atomic_file(args.out, "w") as handle:
        handle.write(calibrate.scenario_toml(result))
    report, seconds = result.report(), result.seconds["total"]
    print(report)
    print()
    print(f"wrote {args.out}; calibration took {seconds:.1f} s")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from sim.replay import DEFAULT_POLICIES, DEFAULT_SCENARIO, ReplayError
    from sim.replay_report import replay_command

    try:
        _, text = replay_command(args.scenario or DEFAULT_SCENARIO,
                                 args.policies or list(DEFAULT_POLICIES), args.start, args.end,
                                 args.out)
    except ReplayError as exc:
        raise _UsageError(str(exc)) from None
    print(text)
    return 0


def _record_folder(scenario, policy_name: str):
    """``(folder, None)`` for the run record of ``alvh run`` without ``--out``, or
    ``(None, note)`` when it cannot be made (a read-only working directory)."""
    from sim.output import OutputError
    from sim.runner import default_record_folder

    try:
        return default_record_folder(scenario, policy_name), None
    except OutputError as exc:
        return None, (f"no run record kept ({exc}); give --out DIR, set ALVH_RUNS_DIR, or "
                      "pass --no-record")


def _cmd_rerun(args: argparse.Namespace) -> int:
    from sim.rerun import rerun

    started = time.perf_counter()
    report = rerun(args.manifest, out=args.out, backend=_backend_of(args),
                   workers=args.workers, scheduler=args.scheduler, shard_size=args.shard_size,
                   progress=not args.quiet and sys.stderr.isatty())
    wall = time.perf_counter() - started
    result = report.result
    print(f"rerun of: {report.manifest_path}")
    print(f"scenario: {result.scenario.name}; policy: {result.policy.name} "
          f"({getattr(result.policy, 'description', '')})")
    print(f"{result.n_paths:,} paths x {result.scenario.simulation.n_days} daily ticks, "
          f"seed {result.seed}")
    print(f"shards: {result.layout.describe()}; backend: {result.backend}")
    for note in result.notes:
        print(f"note: {note}")
    if args.out is not None:
        print(f"output: {result.out} (manifest.json, shards/shard-NNNNNN.parquet, "
              "summary.json)")
    print()
    print(format_table(result.summary()))
    print()
    print(report.to_text())
    print()
    print(f"wall time: {wall:.2f} s")
    return 0 if report.identical else 1


def _cmd_check(args: argparse.Namespace) -> int:
    from sim.check import run_command

    return run_command(args)


COMMANDS = {"run": _cmd_run, "compare": _cmd_compare, "experiment": _cmd_experiment,
            "scenarios": _cmd_scenarios, "policies": _cmd_policies,
            "describe": _cmd_describe, "calibrate": _cmd_calibrate, "report": _cmd_report,
            "rerun": _cmd_rerun, "check": _cmd_check, "replay": _cmd_replay}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``alvh`` console script; returns the exit status.

    Exit status: 0 done; 2 bad input or usage (one line ``alvh: error: ...``
    on stderr); 1 a failure that is not the input's fault (worker processes
    that keep dying, out of memory, or a bug: one line naming the exception
    and the file holding its traceback; ``ALVH_DEBUG=1`` prints the
    traceback instead); 130 interrupted (Ctrl-C). ``alvh rerun`` also exits
    with 1 when the numbers differ.
    """
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("alvh: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:   # every exception ends as one line and an exit status
        return _report_error(exc, argv)


def _say(text: str) -> None:
    """``text`` as one line on stderr."""
    print(" ".join(str(text).splitlines()), file=sys.stderr)


def _report_error(exc: Exception, argv: Sequence[str] | None) -> int:
    """Print one line for ``exc`` and return the exit status (see :func:`main`)."""
    from scenarios import ScenarioError
    from sim.backends import BackendError, WorkerLostError
    from sim.output import OutputError
    from sim.rerun import RerunError
    from sim.runner import RunError

    if isinstance(exc, ScenarioError | RunError | BackendError | OutputError | RerunError
                  | _UsageError):
        _say(f"alvh: error: {exc}")
        return EXIT_USAGE
    if isinstance(exc, WorkerLostError):
        _say(f"alvh: error: {exc}")
        return 1
    if isinstance(exc, BrokenPipeError):
        # The reader of stdout went away (alvh run | head): stop quietly.
        import contextlib
        import os

        with contextlib.suppress(Exception):   # no stdout file descriptor: nothing to do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        _say(f"alvh: error: {where}{exc.strerror or exc or type(exc).__name__}")
        return EXIT_USAGE
    if isinstance(exc, MemoryError):
        _say(f"alvh: error: out of memory ({exc or 'MemoryError'}); try fewer paths, or "
             "fewer paths per shard (--shard-size)")
        return 1
    return _internal_error(exc, argv)


def _internal_error(exc: Exception, argv: Sequence[str] | None) -> int:
    """A bug: one line naming the exception and where its traceback was written."""
    import datetime as dt
    import os
    import tempfile
    import traceback

    name = type(exc).__qualname__
    if type(exc).__module__ not in ("builtins", "__main__"):
        name = f"{type(exc).__module__}.{name}"
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    message = " ".join(str(exc).splitlines())
    message = message if len(message) <= 200 else message[:197] + "..."
    line = f"alvh: internal error: {name}: {message}{at}"
    text = "".join(traceback.format_exception(exc))
    if os.environ.get("ALVH_DEBUG", "") not in ("", "0"):
        sys.stderr.write(text)
        _say(line)
        return 1
    from sim.output import atomic_file

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    path = os.path.join(tempfile.gettempdir(), f"alvh-crash-{stamp}-{os.getpid()}.txt")
    command = " ".join(sys.argv[:1] + list(sys.argv[1:] if argv is None else argv))
    try:
        with atomic_file(path, "w") as handle:
            handle.write(f"command: {command}\npython: {sys.version}\n\n{text}")
    except OSError:
        sys.stderr.write(text)   # nowhere to keep it: show it
        _say(line)
        return 1
    _say(f"{line} (a bug; full traceback in {path}; ALVH_DEBUG=1 prints it)")
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
