"""The preset scenario files shipped in scenarios/presets/."""

from __future__ import annotations

import re
import tomllib

import pytest

from scenarios import list_presets, load, preset_path
from tests.scenarios.documents import FIELDS

PRESET_NAMES = [name for name, _ in list_presets()]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_loads_and_is_named_after_its_file(name):
    scenario = load(name)
    assert scenario.name == name
    assert scenario.description and "\n" not in scenario.description


def test_default_writes_every_parameter_with_unit_and_definition():
    path = preset_path("default")
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    written = {f"{section}.{key}" for section, table in document.items()
               if isinstance(table, dict) for key in table}
    assert written == {dotted for dotted, _, _ in FIELDS}

    # Each key's line carries a trailing "# [unit] definition" comment from sim.config.
    section = ""
    comments: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"\[(\w+)\]", line):
            section = match.group(1)
        elif section and (match := re.match(r"(\w+)\s*=[^#]*#\s*(.*)$", line)):
            comments[f"{section}.{match.group(1)}"] = match.group(2)
    for dotted, f, _ in FIELDS:
        assert comments[dotted] == f"[{f.metadata['unit']}] {f.metadata['doc']}", dotted
