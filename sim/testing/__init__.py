"""Tools for testing the simulator and the policies written for it.

``sim.testing.strategies`` holds Hypothesis strategies for valid market
models, market states, short simulated path batches, condor specifications,
whole scenarios and hedge policies; ``sim.invariants`` holds the checks to
run on what they produce (``docs/testing.md`` shows both in a property test
of a few lines). The strategies need the ``hypothesis`` package
(``pip install hypothesis``, or ``pip install -e ".[dev]"``).
"""
