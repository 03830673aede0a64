"""Write a scenario back as TOML text: :func:`dumps`, the inverse of ``scenarios.loads``."""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from typing import Any

from scenarios.fields import scalar_fields, tables
from sim.config import RegimeChain, RegimeParams, Scenario

__all__ = ["dumps", "dumps_policy", "toml_key", "toml_value"]

# Comments of rows longer than this are not aligned with the others.
_ALIGN_LIMIT = 40


def _escape(ch: str) -> str:
    # TOML basic strings: quote, backslash and control characters (DEL included) escaped.
    if ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\u{ord(ch):04x}"
    return ch


def toml_value(value: Any) -> str:
    """``value`` written as one TOML value.

    Floats use ``repr`` (the shortest text that reads back to the same float;
    ``inf`` and ``nan`` as TOML spells them), strings are basic strings with
    quotes, backslashes and control characters escaped, tuples and lists are
    arrays, dicts inline tables, dates and times their ISO form.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # "inf", "-inf", "1e-05", "5000.0": all valid TOML floats
    if isinstance(value, str):
        return '"' + "".join(_escape(ch) for ch in value) + '"'
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(key)} = {toml_value(item)}"
                               for key, item in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def toml_key(key: str) -> str:
    """``key`` bare when TOML allows it, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def _header(path: tuple[str, ...], section: Any = None, comments: bool = False) -> str:
    header = "[" + ".".join(toml_key(key) for key in path) + "]"
    doc = (type(section).__doc__ or "").strip().splitlines() if section is not None else []
    return f"{header}  # {doc[0]}" if comments and doc else header


def _value_lines(value: Any) -> list[str]:
    """A value as one line, or a matrix (tuple of tuples) as one row per line."""
    if isinstance(value, tuple) and value and all(isinstance(row, tuple) for row in value):
        return ["[", *(f"  {toml_value(row)}," for row in value), "]"]
    return [toml_value(value)]


def _rows(entries: list[tuple[str, Any, dataclasses.Field]], comments: bool) -> list[str]:
    """``key = value`` lines, with aligned ``# [unit] definition`` comments."""
    firsts = [f"{toml_key(key)} = {_value_lines(value)[0]}" for key, value, _ in entries]
    width = max((len(first) for first in firsts if len(first) <= _ALIGN_LIMIT), default=0)
    lines = []
    for first, (_, value, f) in zip(firsts, entries, strict=True):
        rest = _value_lines(value)[1:]
        if comments and "unit" in f.metadata:
            first = f"{first.ljust(width)}  # [{f.metadata['unit']}] {f.metadata['doc']}"
        lines += [first, *rest]
    return lines


def dumps(scenario: Scenario, *, comments: bool = True) -> str:
    """TOML text of a whole scenario, every field written out.

    Parameters
    ----------
    scenario : Scenario
        Any valid scenario.
    comments : bool
        Whether each key gets a trailing ``# [unit] definition`` comment from
        ``sim.config``, and each table header the first line of its class
        docstring (as in ``presets/default.toml``).

    Returns
    -------
    str
        A document with ``name``, ``description`` and one table per section
        and nested section (``[market]``, ``[market.regimes]``,
        ``[market.regimes.<name>]`` for each regime's overrides, holding only
        the overrides that are set, ``[market.events]``, ...).
        ``scenarios.loads(dumps(s))`` equals ``s`` except for ``source`` for
        every scenario that ``load``/``loads`` returns.
    """
    lines = [f"name = {toml_value(scenario.name)}",
             f"description = {toml_value(scenario.description)}"]
    for path, section in tables(scenario):
        entries = [(f.name, getattr(section, f.name), f) for f in scalar_fields(type(section))]
        lines += ["", _header(path, section, comments), *_rows(entries, comments)]
        if isinstance(section, RegimeChain):
            for params in section.params:
                overrides = [(f.name, getattr(params, f.name), f)
                             for f in dataclasses.fields(RegimeParams)
                             if f.name != "name" and getattr(params, f.name) is not None]
                lines += ["", _header((*path, params.name)), *_rows(overrides, comments)]
    return "\n".join(lines) + "\n"


def _policy_table_lines(obj: Any, path: tuple[str, ...], array: bool) -> list[str]:
    """Lines of one policy table: its scalar fields, then its nested tables."""
    header = "[[" if array else "["
    closing = "]]" if array else "]"
    lines = ["", header + ".".join(toml_key(key) for key in path) + closing] if path else []
    nested: list[str] = []
    for f in dataclasses.fields(obj):
        if f.name == "source":
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            nested += _policy_table_lines(value, (*path, f.name), array=False)
        elif (isinstance(value, tuple) and value
              and all(dataclasses.is_dataclass(item) for item in value)):
            for item in value:
                nested += _policy_table_lines(item, (*path, f.name), array=True)
        elif isinstance(value, tuple) and not value and f.name in ("conditions", "layers"):
            continue
        elif value is not None:
            lines.append(f"{toml_key(f.name)} = {toml_value(value)}")
    return lines + nested


def dumps_policy(policy: Any) -> str:
    """TOML text of a hedge policy, every field written out.

    Parameters
    ----------
    policy : sim.policy.Policy
        Any valid policy.

    Returns
    -------
    str
        A document that ``scenarios.policy_loader.loads_policy`` reads back
        to an equal policy (``source`` aside): top-level fields, then the
        ``[active]``, ``[budget]``, ``[liquidity]`` and ``[shrink]`` tables,
        then one ``[[layers]]`` table per layer with its ``[layers.trigger]``
        and ``[[layers.trigger.conditions]]``. Fields that are ``None``
        (``off``, ``clear``: "same as ``on`` / ``threshold``") are left out.
    """
    return "\n".join(_policy_table_lines(policy, (), array=False)).lstrip("\n") + "\n"
