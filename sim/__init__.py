"""The ALVH simulator: market paths, SimPy engine, book, agents, metrics, runner, CLI.

The notebook API (``sim.api``)::

    import sim
    r = sim.run("default", policy="alvh", paths=2_000)       # -> sim.api.Run
    c = sim.compare("default", ["none", "alvh"], paths=2_000)  # -> sim.api.Comparison

``sim.compare`` is also the module of the comparison machinery
(``sim.compare.compare``, ``sim.compare.CompareResult``, ...); calling the
module calls :func:`sim.api.compare`. Both are imported on first use, so
``import sim`` stays cheap.
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["compare", "run"]


def run(*args: Any, **kwargs: Any) -> Any:
    """:func:`sim.api.run`: simulate one policy on a scenario; returns a ``sim.api.Run``."""
    from sim.api import run as api_run

    return api_run(*args, **kwargs)


class CallableModule(types.ModuleType):
    """Module type of ``sim.compare``: calling the module calls :func:`sim.api.compare`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from sim.api import compare as api_compare

        return api_compare(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "compare":
        import importlib

        return importlib.import_module("sim.compare")
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
