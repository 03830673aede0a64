"""``alvh check POLICY``: the invariants of a policy over generated markets.

``alvh check POLICY [--examples N] [--seed S] [--out FILE]`` draws scenarios
(``sim.testing.strategies.scenarios``: market models, condors, costs,
20-60 days, 4-32 paths) and run seeds with Hypothesis, simulates the policy
on each with a :class:`sim.invariants.Recorder`, twice, and runs every
invariant of :mod:`sim.invariants` on it (the second run for "same seed,
same result"). The search is seeded (``--seed``, default 0), so the same
command finds the same examples.

On success it prints what was checked (examples, paths, ticks, and per
invariant what it counted) and exits 0. On failure Hypothesis shrinks the
example toward the simplest one that still fails; the command prints the
invariant's message, writes the shrunk scenario to ``--out`` (default
``./alvh-check-failure.toml``, its ``[simulation]`` table holding the seed
and path count), prints it, prints the ``alvh run`` command that simulates
exactly those paths and the ``alvh check --scenario`` command that checks
them again, and exits 1.

``alvh check POLICY --scenario FILE [--seed S] [--paths N]`` checks one
case: the paths of ``alvh run FILE --seed S --paths N`` (defaults: the
file's ``[simulation]`` seed and paths).

A run's market is made block by block exactly as ``sim.runner.run`` makes it
(:func:`market_of_run`), so a case's paths are those of ``alvh run`` with the
same scenario, seed and path count, whatever the shard size.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.config import Scenario
from sim.invariants import INVARIANTS, InvariantError, check_all, simulate_recorded
from sim.market import MarketPaths
from sim.shards import ShardLayout, shard_market

#: File the shrunk failing scenario is written to when ``--out`` is not given.
DEFAULT_OUT = "alvh-check-failure.toml"
#: Examples drawn when ``--examples`` is not given.
DEFAULT_EXAMPLES = 25
#: Exit status when an invariant is broken.
EXIT_FAILED = 1


def market_of_run(scenario: Scenario, seed: int, n_paths: int) -> MarketPaths:
    """The market paths of ``alvh run SCENARIO --seed SEED --paths N``.

    Parameters
    ----------
    scenario : Scenario
    seed : int
        Root seed of the run, >= 0.
    n_paths : int
        Paths, >= 1.

    Returns
    -------
    MarketPaths
        The run's blocks of ``sim.shards.PATHS_PER_BLOCK`` paths side by
        side, each drawn from ``SeedSequence(seed).spawn(n_blocks)[k]``, as
        every shard layout of ``sim.runner.run`` draws them.
    """
    layout = ShardLayout.plan(n_paths, n_paths)
    return shard_market(scenario, seed, layout, 0)


@dataclass
class CaseReport:
    """What one checked case (scenario, seed, paths) counted, per invariant."""

    scenario: Scenario
    seed: int
    n_paths: int
    checked: dict[str, int]

    @property
    def ticks(self) -> int:
        """Ticks per path (the first included)."""
        return self.scenario.simulation.n_days + 1


def check_case(scenario: Scenario, policy: Any, seed: int | None = None,
               n_paths: int | None = None, skip: tuple[str, ...] = ()) -> CaseReport:
    """Simulate a policy twice on the paths of ``alvh run`` and check every invariant.

    Parameters
    ----------
    scenario : Scenario
    policy : Policy
    seed, n_paths : int, optional
        Default: the scenario's ``[simulation]`` seed and paths.
    skip : tuple of str
        Invariants not to check (``sim.invariants.check_all``).

    Returns
    -------
    CaseReport

    Raises
    ------
    InvariantError
        At the first invariant broken.
    """
    spec = scenario.simulation
    seed = spec.seed if seed is None else int(seed)
    n_paths = spec.n_paths if n_paths is None else int(n_paths)
    market = market_of_run(scenario, seed, n_paths)
    first = simulate_recorded(scenario, market, policy, check_identity=False)
    again = simulate_recorded(scenario, market_of_run(scenario, seed, n_paths), policy,
                              check_identity=False)
    checked = check_all(first, scenario, policy, rerun=again, skip=skip)
    return CaseReport(scenario=scenario, seed=seed, n_paths=n_paths, checked=checked)


@dataclass
class Failure:
    """The shrunk example that breaks an invariant."""

    scenario: Scenario
    seed: int
    n_paths: int
    error: InvariantError


@dataclass
class CheckOutcome:
    """What ``alvh check`` found: the examples run and the shrunk failure, if any."""

    policy: Any
    examples: int = 0
    paths: int = 0
    path_ticks: int = 0
    checked: dict[str, int] = field(default_factory=dict)
    failure: Failure | None = None
    seconds: float = 0.0


def _as_case(scenario: Scenario) -> Scenario:
    """The scenario with ``batch_size = n_paths`` (one batch) as ``alvh check`` writes it."""
    spec = scenario.simulation
    return dataclasses.replace(scenario, simulation=dataclasses.replace(
        spec, batch_size=max(spec.batch_size, spec.n_paths)))


def search(policy: Any, examples: int = DEFAULT_EXAMPLES, seed: int = 0,
           scenarios: Any = None) -> CheckOutcome:
    """Check a policy over generated scenarios and seeds; shrink the first failure.

    Parameters
    ----------
    policy : Policy
    examples : int
        Scenarios (each with its seed and paths) to generate before giving up.
    seed : int
        Seed of the search: the same seed draws the same examples.
    scenarios : hypothesis strategy, optional
        Default ``sim.testing.strategies.scenarios()``.

    Returns
    -------
    CheckOutcome
        ``failure`` is the shrunk example (None if every example passed).
    """
    import random

    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    from sim.testing import strategies

    outcome = CheckOutcome(policy=policy)
    drawn = strategies.scenarios() if scenarios is None else scenarios
    started = time.perf_counter()
    failures: list[Failure] = []

    def breaks(scenario: Scenario) -> bool:
        case = _as_case(scenario)
        spec = case.simulation
        try:
            report = check_case(case, policy)
        except InvariantError as error:
            failures.append(Failure(case, spec.seed, spec.n_paths, error))
            return True
        if not failures:
            outcome.examples += 1
            outcome.paths += report.n_paths
            outcome.path_ticks += report.n_paths * report.ticks
            for name, count in report.checked.items():
                outcome.checked[name] = outcome.checked.get(name, 0) + count
        return False

    config = settings(max_examples=examples, database=None, deadline=None,
                      phases=(Phase.generate, Phase.shrink),
                      suppress_health_check=list(HealthCheck))
    try:
        shrunk = find(drawn, breaks, settings=config, random=random.Random(seed))
    except NoSuchExample:
        shrunk = None
    if shrunk is not None:
        case = _as_case(shrunk)
        spec = case.simulation
        try:
            check_case(case, policy)
        except InvariantError as error:
            outcome.failure = Failure(case, spec.seed, spec.n_paths, error)
        else:  # pragma: no cover - a failure that does not come back is a flaky check
            outcome.failure = failures[-1] if failures else None
    outcome.seconds = time.perf_counter() - started
    return outcome


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``alvh check`` (``sim.cli`` builds the subparser)."""
    from sim.cli import _positive_int, _seed

    parser.add_argument("policy", help="policy name or TOML file")
    parser.add_argument("--examples", type=_positive_int, default=DEFAULT_EXAMPLES,
                        metavar="N", help="generated scenarios to check (default "
                                          f"{DEFAULT_EXAMPLES})")
    parser.add_argument("--seed", type=_seed, default=None,
                        help="seed of the search (default 0); with --scenario, the run's "
                             "seed as in alvh run (default: the file's)")
    parser.add_argument("--scenario", default=None, metavar="FILE",
                        help="check only the paths of this scenario (preset or TOML file)")
    parser.add_argument("--paths", type=_positive_int, default=None, metavar="N",
                        help="with --scenario: paths of the run (default: the file's)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="FILE",
                        help=f"where to write a failing scenario (default ./{DEFAULT_OUT})")


def _policy_note(policy: Any) -> str:
    return f"policy: {policy.name} ({getattr(policy, 'source', '<registered>')})"


def _counts(checked: dict[str, int]) -> list[str]:
    units = {"accounting identity": "path-ticks", "max-loss bound": "condors and hedge orders",
             "hedge budget cap": "hedge orders", "quick-ratio floor": "path-openings",
             "layer order": "hedge orders", "no naked shorts": "path-tick positions",
             "flat after expiry": "path-tick positions", "no-arbitrage prices": "prices",
             "same seed, same result": "paths"}
    width = max(len(name) for name in INVARIANTS)
    lines = []
    for name in INVARIANTS:
        if name in checked:
            lines.append(f"  {name:<{width}}  {checked[name]:>10,} {units[name]}")
        else:
            lines.append(f"  {name:<{width}}  {'-':>10} (not applicable to this policy)")
    return lines


def run_command(args: argparse.Namespace) -> int:
    """``alvh check``: returns the exit status (0 pass, 1 invariant broken)."""
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        print("alvh: error: alvh check needs the hypothesis package: pip install hypothesis "
              "(or pip install -e \".[dev]\")", file=sys.stderr)
        return 2
    import scenarios
    from sim.policy import load_policy

    policy = load_policy(args.policy)
    if args.scenario is not None:
        scenario = scenarios.load(args.scenario)
        started = time.perf_counter()
        try:
            report = check_case(scenario, policy, args.seed, args.paths)
        except InvariantError as error:
            print(f"FAILED: {error}")
            print(_policy_note(policy))
            spec = scenario.simulation
            print(f"scenario: {scenario.name} ({scenario.source}), seed "
                  f"{spec.seed if args.seed is None else args.seed}, "
                  f"{spec.n_paths if args.paths is None else args.paths} paths")
            return EXIT_FAILED
        print(_policy_note(policy))
        print(f"checked {report.n_paths:,} paths x {report.ticks:,} ticks of "
              f"{scenario.name} ({scenario.source}), seed {report.seed}: every invariant "
              f"holds ({time.perf_counter() - started:.1f} s)")
        print("\n".join(_counts(report.checked)))
        return 0
    outcome = search(policy, examples=args.examples, seed=0 if args.seed is None else args.seed)
    print(_policy_note(policy))
    if outcome.failure is None:
        print(f"checked {outcome.examples:,} generated scenarios ({outcome.paths:,} paths, "
              f"{outcome.path_ticks:,} path-ticks, each run twice) in {outcome.seconds:.1f} s: "
              "every invariant holds")
        print("\n".join(_counts(outcome.checked)))
        return 0
    failure = outcome.failure
    case = dataclasses.replace(
        failure.scenario, name="alvh-check-failure",
        description=f"shrunk example of alvh check {args.policy}: {failure.error.invariant}")
    text = scenarios.dumps(case, comments=False)
    out = Path(args.out)
    from sim.output import atomic_file

    with atomic_file(out, "w") as handle:
        handle.write(text)
    policy_arg = args.policy
    print(f"FAILED after {outcome.examples:,} passing examples "
          f"({outcome.seconds:.1f} s, shrunk):")
    print(f"  {failure.error}")
    print()
    print(f"shrunk scenario (seed {failure.seed}, {failure.n_paths} paths, "
          f"{case.simulation.n_days} daily ticks), written to {out}:")
    print()
    print(text)
    print("reproduce the run (the same paths and trades):")
    print(f"  alvh run {out} --policy {policy_arg} --seed {failure.seed} "
          f"--paths {failure.n_paths}")
    print("check it again:")
    print(f"  alvh check {policy_arg} --scenario {out} --seed {failure.seed} "
          f"--paths {failure.n_paths}")
    return EXIT_FAILED
