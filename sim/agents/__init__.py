"""Agents: SimPy processes that trade on all paths of a batch at once."""
