"""alvh check: the search, its output, and that the printed commands reproduce a failure.

A failure is made deliberately: an invariant that breaks whenever some
path's VIX reaches 25 is patched in, so that the search finds a market where
it does, shrinks it, and writes it out; the test then loads the file, checks
that ``alvh run`` with the printed seed and path count simulates the same
paths, and that checking them again fails the same way.
"""

from __future__ import annotations

import shlex

import numpy as np
import pytest

import scenarios
import sim.invariants
from sim.check import check_case, market_of_run, search
from sim.cli import main
from sim.config import Scenario, SimulationSpec
from sim.engine import simulate
from sim.invariants import InvariantError
from sim.metrics import path_results
from sim.policy import load_policy
from sim.runner import run
from sim.shards import market_fingerprints

VIX_LIMIT = 25.0


def vix_limit(result, scenario=None):
    """A deliberately broken invariant: no path's VIX may reach 25."""
    hit = np.argwhere(result.market.vix >= VIX_LIMIT)
    if hit.size:
        tick, path = (int(x) for x in hit[0])
        raise InvariantError("no-arbitrage prices", path, tick,
                             f"VIX {result.market.vix[tick, path]:.2f} >= {VIX_LIMIT:g}")
    return int(result.market.vix.size)


@pytest.fixture
def broken(monkeypatch):
    monkeypatch.setattr(sim.invariants, "check_no_arbitrage", vix_limit)


def test_market_of_run_is_the_market_of_alvh_run_for_any_shard_layout():
    scenario = Scenario("m", "m", simulation=SimulationSpec(n_days=5, n_paths=300))
    ours = market_fingerprints(market_of_run(scenario, 7, 300))
    result = run(scenario, n_paths=300, seed=7, shard_size=256, policy="none",
                 keep_batches=True)
    theirs = np.concatenate([market_fingerprints(b.market) for b in result.batches])
    np.testing.assert_array_equal(ours, theirs)


def test_a_policy_that_keeps_its_invariants_passes(capsys):
    outcome = search(load_policy("static-vix"), examples=3, seed=1)
    assert outcome.failure is None and outcome.examples == 3
    assert outcome.checked["accounting identity"] == outcome.path_ticks > 0
    assert main(["check", "none", "--examples", "2"]) == 0
    out = capsys.readouterr().out
    assert "checked 2 generated scenarios" in out and "every invariant holds" in out
    assert "same seed, same result" in out and "hedge budget cap" in out


def test_the_search_is_reproducible_by_its_seed(broken):
    policy = load_policy("none")
    first, again = search(policy, examples=10, seed=5), search(policy, examples=10, seed=5)
    assert first.failure is not None
    assert first.failure.scenario == again.failure.scenario
    assert first.failure.seed == again.failure.seed


def test_a_failure_is_shrunk_written_and_reproduced(broken, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "failure.toml"
    assert main(["check", "none", "--examples", "15", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAILED after" in printed and "no-arbitrage prices broken on path" in printed
    text = out.read_text(encoding="utf-8")
    assert text in printed
    # Shrunk: the default market would rarely reach VIX 25 in 20 days, so the
    # search keeps what it needs (a volatile market) and little else.
    scenario = scenarios.load(out)
    spec = scenario.simulation
    assert spec.n_paths <= 32 and spec.n_days <= 60
    commands = [line.strip() for line in printed.splitlines()
                if line.strip().startswith("alvh ")]
    run_cmd, check_cmd = (shlex.split(c) for c in commands)
    assert run_cmd[:2] == ["alvh", "run"] and check_cmd[:2] == ["alvh", "check"]
    seed = int(run_cmd[run_cmd.index("--seed") + 1])
    paths = int(run_cmd[run_cmd.index("--paths") + 1])
    assert (seed, paths) == (spec.seed, spec.n_paths)
    # alvh run with that file, seed and path count: the same paths and results.
    assert main([*run_cmd[1:], "--quiet"]) == 0
    ran = run(scenario, n_paths=paths, seed=seed, policy="none", keep_batches=True)
    market = market_of_run(scenario, seed, paths)
    np.testing.assert_array_equal(market_fingerprints(ran.batches[0].market),
                                  market_fingerprints(market))
    again = path_results(simulate(scenario, market, load_policy("none").agent_factories()))
    np.testing.assert_array_equal(ran.paths["pnl"], again["pnl"])
    # ... on which the invariant fails again, at the same path and tick.
    message = next(line.strip() for line in printed.splitlines() if "broken on path" in line)
    with pytest.raises(InvariantError) as caught:
        check_case(scenario, load_policy("none"), seed, paths)
    assert str(caught.value) == message
    assert main(check_cmd[1:]) == 1
    assert message in capsys.readouterr().out


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["check", "no-such-policy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no policy named" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ndescription = "y"\n[budget]\nmax_share = -1\n', encoding="utf-8")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "budget.max_share" in err
    with pytest.raises(SystemExit) as exited:
        main(["check", "none", "--examples", "0"])
    assert exited.value.code == 2
