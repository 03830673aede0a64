"""The ``alvh`` command line.

``alvh run [SCENARIO] [--paths N] [--seed S] [--batch-size B]``
    simulate a scenario (the ``default`` preset when none is named) and
    print the summary table with units and the wall time;
``alvh scenarios``
    list the preset scenarios with a one-line description;
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

from sim.metrics import SummaryRow

EXIT_USAGE = 2


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
    run.add_argument("--paths", type=_positive_int, default=None,
                     help="number of Monte Carlo paths (default: the scenario's)")
    run.add_argument("--seed", type=_seed, default=None,
                     help="root seed of the run (default: the scenario's)")
    run.add_argument("--batch-size", type=_positive_int, default=None,
                     help="paths per SimPy environment (default: the scenario's)")
    sub.add_parser("scenarios", help="list the preset scenarios")
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
    from sim.runner import run

    scenario = scenarios.load(args.scenario)
    started = time.perf_counter()
    result = run(scenario, n_paths=args.paths, seed=args.seed, batch_size=args.batch_size)
    wall = time.perf_counter() - started
    sim_spec = scenario.simulation
    print(f"scenario: {scenario.name} ({scenario.source})")
    print(f"{result.n_paths:,} paths x {sim_spec.n_days} daily ticks, seed {result.seed}, "
          f"batches of {result.batch_size:,}; policy: non-trailed iron condor, no hedge")
    print()
    print(format_table(result.summary()))
    print()
    ticks = result.n_paths * (sim_spec.n_days + 1)
    print(f"wall time: {wall:.2f} s ({ticks / wall:,.0f} path-ticks/s, compile included)")
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


COMMANDS = {"run": _cmd_run, "scenarios": _cmd_scenarios, "describe": _cmd_describe,
            "calibrate": _cmd_calibrate}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``alvh`` console script; returns the exit status."""
    from scenarios import ScenarioError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ScenarioError as exc:
        print(f"alvh: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"alvh: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("alvh: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
