"""The ALVH simulator: market paths, SimPy engine, book, agents, metrics, runner, CLI."""
