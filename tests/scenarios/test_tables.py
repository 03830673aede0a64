"""describe(): plain-text tables of a scenario (scenarios.tables)."""

from __future__ import annotations

from scenarios import describe, loads
from tests.scenarios.documents import FIELDS, document, loaded_value

CHAIN = """
[market.regimes]
names = ["calm", "normal", "crisis"]
transition = [[0.98, 0.02, 0.0], [0.01, 0.98, 0.01], [0.0, 0.25, 0.75]]
initial = "stationary"
stress = ["crisis"]

[market.regimes.calm]
theta = 0.011

[market.regimes.crisis]
theta = 0.25
jump_intensity = 12.0
"""


def _row(lines: list[str], key: str) -> str:
    rows = [line for line in lines if line.split()[:1] == [key]]
    assert len(rows) == 1, key
    return rows[0]


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(none)"
    return str(value)


def test_describe_mentions_every_key_with_unit_and_definition():
    scenario = loads(document({"market.rho": -0.25}) + CHAIN)
    text = describe(scenario)
    lines = text.splitlines()
    assert "test" in text and "a test scenario" in text
    headers = [line for line in lines if line.startswith("[")]
    assert headers == ["[market]", "[market.regimes]", "[market.events]", "[market.breadth]",
                       "[smile]", "[vix]", "[costs]", "[condor]", "[account]", "[simulation]"]
    for dotted, f, _ in FIELDS:
        key = dotted.rsplit(".", 1)[1]
        row = _row(lines, key)
        value = loaded_value(scenario, dotted)
        if key != "transition":
            assert _shown(value) in row, key
        assert f.metadata["unit"] in row and row.endswith(f.metadata["doc"]), key
    assert "3 x 3 matrix" in _row(lines, "transition")
    header = lines[lines.index("[market]") + 1]
    assert header.split() == ["key", "value", "unit", "definition"]


def test_describe_prints_the_transition_matrix_by_rows():
    lines = describe(loads(document() + CHAIN)).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("P(regime tomorrow"))
    assert "per trading day" in lines[start]
    assert lines[start + 1].split() == ["today", "\\", "tomorrow", "calm", "normal", "crisis"]
    assert lines[start + 2].split() == ["calm", "0.98", "0.02", "0.0"]
    assert lines[start + 3].split() == ["normal", "0.01", "0.98", "0.01"]
    assert lines[start + 4].split() == ["crisis", "0.0", "0.25", "0.75"]


def test_describe_prints_overrides_as_regime_by_field():
    lines = describe(loads(document() + CHAIN)).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("overrides of [market]"))
    # Only the overridden fields are columns; "-" means the [market] value.
    assert lines[start + 1].split() == ["regime", "theta", "jump_intensity"]
    assert lines[start + 2].split() == ["[unit]", "[1/year", "(variance)]", "[jumps/year]"]
    assert lines[start + 3].split() == ["calm", "0.011", "-"]
    assert lines[start + 4].split() == ["normal", "-", "-"]
    assert lines[start + 5].split() == ["crisis", "0.25", "12.0"]


def test_describe_says_when_no_regime_overrides_anything():
    text = describe(loads(document()))
    assert "overrides of [market] per regime: none" in text
