"""Scenario presets (TOML files in ``presets/``) and their loader.

``load("default")`` reads ``presets/default.toml``; ``load("my/run.toml")`` reads
any file. Adding a preset is adding a file to ``presets/``. Every value is
checked once, here, against the ranges declared in ``sim.config``; a bad value
raises :class:`ScenarioError` with a one-line message naming the file, the key
and what is allowed.
"""

from scenarios.loader import ScenarioError, describe, list_presets, load, loads, preset_path

__all__ = ["ScenarioError", "describe", "list_presets", "load", "loads", "preset_path"]
