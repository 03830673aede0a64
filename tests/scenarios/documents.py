"""Build scenario TOML text in tests: a valid header plus dotted-key overrides."""

from __future__ import annotations

import dataclasses
import datetime
import math
import typing
from typing import Any

from sim.config import SECTIONS

#: Every scenario parameter: (dotted key, field, Python type), in SECTIONS order.
FIELDS: list[tuple[str, dataclasses.Field, type]] = [
    (f"{section}.{f.name}", f, typing.get_type_hints(cls)[f.name])
    for section, cls in SECTIONS.items()
    for f in dataclasses.fields(cls)
]

#: Dotted key -> default value from the dataclasses.
DEFAULTS: dict[str, Any] = {key: f.default for key, f, _ in FIELDS}


def _escape(ch: str) -> str:
    # TOML basic strings: escape quote, backslash and control characters (DEL included).
    if ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\u{ord(ch):04x}"
    return ch


def toml_value(value: Any) -> str:
    """``value`` written as a TOML value (inline tables and arrays included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest round-trip form; valid TOML
    if isinstance(value, str):
        return '"' + "".join(_escape(ch) for ch in value) + '"'
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def document(overrides: dict[str, Any] | None = None, *, name: str = "test",
             description: str = "a test scenario") -> str:
    """A scenario document with ``name``, ``description`` and ``{"section.key": value}``."""
    lines = [f"name = {toml_value(name)}", f"description = {toml_value(description)}"]
    tables: dict[str, list[str]] = {}
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".")
        tables.setdefault(section, []).append(f"{key} = {toml_value(value)}")
    for section, rows in tables.items():
        lines += ["", f"[{section}]", *rows]
    return "\n".join(lines) + "\n"


def consistent(overrides: dict[str, Any]) -> bool:
    """Whether the defaults with ``overrides`` obey the rules that tie fields together.

    Restated from the brief of ``scenarios.loader`` as an independent oracle.
    """
    v = {**DEFAULTS, **overrides}
    return (
        v["condor.dte_min"] <= v["condor.dte_max"]
        and v["condor.exit_dte"] < v["condor.dte_min"]
        and v["condor.wing_width"] % 5 == 0
        and v["smile.min_vol"] < v["smile.max_vol"]
        and v["market.jump_spot_per_variance"] * v["market.jump_variance_mean"] < 1
    )
