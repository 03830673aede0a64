"""Scenario presets (TOML files in ``presets/``), their loader and writer.

``load("default")`` reads ``presets/default.toml``; ``load("my/run.toml")`` reads
any file. Adding a preset is adding a file to ``presets/``. Every value is
checked once, here, against the ranges declared in ``sim.config``; a bad value
raises :class:`ScenarioError` with a one-line message naming the file, the key
and what is allowed. ``dumps(scenario)`` writes a scenario back as TOML
(``loads(dumps(s)) == s`` but for ``source``); ``describe(scenario)`` prints
its parameters as tables with units.
"""

from scenarios.loader import ScenarioError, list_presets, load, loads, preset_path
from scenarios.tables import describe
from scenarios.writer import dumps

__all__ = ["ScenarioError", "describe", "dumps", "list_presets", "load", "loads", "preset_path"]
