"""Read scenario TOML files into validated, frozen :class:`sim.config.Scenario` objects.

This is the one place where scenario input is checked (STYLE.md: validate every
field once, at the edge). The checks are driven by the dataclass fields of
``sim.config``: each field's type and its ``param(...)`` metadata (range, open
or closed bounds, unit) say what a TOML value may be, so adding a parameter to
``sim.config`` needs no change here. Only the rules that tie two fields together
(``_CONSISTENCY_RULES``) are written by hand.

Document format::

    name = "default"                 # required string
    description = "Normal market..." # required string
    [market]                         # each table optional, named as in sim.config.SECTIONS
    rho = -0.7                       # omitted keys take the dataclass defaults

Every problem is reported as a :class:`ScenarioError` whose message is one line
naming the file, the dotted key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import json
import math
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.config import SECTIONS, Scenario, allowed_range

__all__ = ["ScenarioError", "describe", "list_presets", "load", "loads", "preset_path"]

#: Folder of the preset scenario files shipped with the package.
PRESETS_DIR = Path(__file__).resolve().parent / "presets"

#: Preset used by ``load()`` with no argument.
DEFAULT_PRESET = "default"

# Scenario fields the loader fills itself; a document may not set them.
_LOADER_FIELDS = frozenset({"source"} | set(SECTIONS))


class ScenarioError(ValueError):
    """A scenario file or text that cannot be turned into a valid :class:`Scenario`.

    The message is one line: ``<file>: <problem>; allowed: <what is allowed>``.

    Attributes
    ----------
    path : str or None
        The file (or the ``source`` label of in-memory text) the problem is in.
    key : str or None
        Dotted key of the offending value (``"market.rho"``), the first key of a
        broken rule that ties several keys together, or ``None`` when the problem
        is the file itself (missing, unreadable, not TOML).
    keys : tuple of str
        Every key the problem involves (two for a rule such as
        ``condor.dte_min <= condor.dte_max``); empty when ``key`` is ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        keys: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.path = path
        self.key = key
        self.keys = keys if keys else ((key,) if key is not None else ())


def _error(
    source: str, key: str | None, problem: str, allowed: str | None = None,
    keys: tuple[str, ...] = (),
) -> ScenarioError:
    message = f"{source}: {problem}" + ("" if allowed is None else f"; allowed: {allowed}")
    return ScenarioError(message, path=source, key=key, keys=keys)


# ---------------------------------------------------------------------------
# Locating and reading files
# ---------------------------------------------------------------------------


def preset_path(name: str) -> Path:
    """Path of the preset scenario file called ``name``.

    Parameters
    ----------
    name : str
        Preset name, the file name without ``.toml`` (``"default"``).

    Returns
    -------
    pathlib.Path
        ``scenarios/presets/<name>.toml`` inside the installed package.

    Raises
    ------
    ScenarioError
        When there is no such preset; the message lists the available names.
    """
    path = PRESETS_DIR / f"{name}.toml"
    if not _is_bare_name(name) or not path.is_file():
        names = ", ".join(_preset_names()) or "(none)"
        raise _error(str(path), None, f"no preset named {json.dumps(name)}", names)
    return path


def list_presets() -> list[tuple[str, str]]:
    """Names and one-line descriptions of the preset scenarios, sorted by name.

    Returns
    -------
    list of (str, str)
        ``(name, description)`` per preset; ``name`` is the file name without
        ``.toml``, which is what :func:`load` accepts.

    Raises
    ------
    ScenarioError
        When a preset file is not a valid scenario (a packaging bug).
    """
    return [(name, load(name).description) for name in _preset_names()]


def _preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml") if p.is_file())


def _is_bare_name(name: str) -> bool:
    separators = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    return not any(sep in name for sep in separators) and not name.endswith(".toml")


def load(name_or_path: str | os.PathLike[str] | None = None) -> Scenario:
    """Load and validate a scenario from a preset name or a TOML file.

    Parameters
    ----------
    name_or_path : str, os.PathLike or None
        ``None`` loads the ``default`` preset. A string with no path separator
        and no ``.toml`` suffix is a preset name (see :func:`list_presets`).
        Anything else, and every ``os.PathLike``, is a path to a TOML file,
        relative to the working directory.

    Returns
    -------
    Scenario
        The validated scenario; ``source`` is the file path as a string.

    Raises
    ------
    ScenarioError
        Unknown preset, missing or unreadable file, invalid TOML, or any value
        that breaks the rules of ``sim.config``. The message is one line naming
        the file, the key and what is allowed.
    """
    if name_or_path is None:
        path = preset_path(DEFAULT_PRESET)
    elif isinstance(name_or_path, str) and _is_bare_name(name_or_path):
        path = preset_path(name_or_path)
    else:
        path = Path(name_or_path)
    source = os.fspath(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise _error(source, None, "no such scenario file") from None
    except UnicodeDecodeError as exc:
        raise _error(source, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                     "a UTF-8 TOML file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _error(source, None, f"cannot read the file ({reason})") from None
    return loads(text, source)


def loads(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario TOML text held in memory.

    Parameters
    ----------
    text : str
        The TOML document.
    source : str
        Label for error messages and ``Scenario.source`` (usually a file path).

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        Invalid TOML (with tomllib's line and column) or any value that breaks
        the rules of ``sim.config``.
    """
    try:
        document = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or int() refusing a 4300+ digit integer
        raise _error(source, None, f"invalid TOML: {exc}") from None
    return _build_scenario(document, source)


# ---------------------------------------------------------------------------
# Validation, driven by the dataclass fields of sim.config
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """What a field's Python type accepts from TOML."""

    noun: str                        # "a number", used in "allowed: a number, ..."
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any]


def _not_bool(kind: type | tuple[type, ...]) -> Callable[[Any], bool]:
    # bool is a subclass of int in Python; TOML true/false are never numbers.
    return lambda value: isinstance(value, kind) and not isinstance(value, bool)


def _to_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond the float range: report it as non-finite
        return math.inf if value > 0 else -math.inf


_KINDS: dict[type, _Kind] = {
    float: _Kind("a number", _not_bool((int, float)), _to_float),
    int: _Kind("an integer", _not_bool(int), int),
    str: _Kind("a string", lambda value: isinstance(value, str), str),
    bool: _Kind("true or false", lambda value: isinstance(value, bool), bool),
}


def _iso_date(value: Any) -> str | None:
    """``value`` as ``YYYY-MM-DD``, or ``None`` when it is not a valid calendar date."""
    # A TOML local date (unquoted 2025-01-02) is the same date; datetimes are not dates.
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            return None
    return None


# Formats of string fields, keyed by the unit in the field's metadata:
# (normalizer returning None when invalid, what is allowed).
_FORMATS: dict[str, tuple[Callable[[Any], str | None], str]] = {
    "ISO date": (_iso_date, "a date written YYYY-MM-DD"),
}


def _field_types(cls: type) -> dict[str, type]:
    # sim.config uses `from __future__ import annotations`: field.type is a string.
    return typing.get_type_hints(cls)


def _show(value: Any) -> str:
    """A TOML-like rendering of ``value`` for a one-line message."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float | int):
        text = repr(value)
    elif isinstance(value, datetime.date | datetime.time):
        text = value.isoformat()
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_unknown(
    source: str, table: Mapping[str, Any], allowed: list[str], prefix: str,
) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise _error(source, prefix + key, f"{prefix}{key} is not a known key{hint}",
                         ", ".join(allowed))


def _validated_value(source: str, dotted: str, f: dataclasses.Field, ftype: type,
                     value: Any) -> Any:
    """``value`` converted to the field's type, or a ScenarioError naming what is wrong."""
    meta = f.metadata
    unit = meta.get("unit")
    fmt = _FORMATS.get(unit) if ftype is str else None
    bounded = meta.get("lo") is not None or meta.get("hi") is not None
    kind = _KINDS.get(ftype)
    shown = f"{dotted} = {_show(value)}"

    if fmt is not None:
        normalize, allowed = fmt
        normalized = normalize(value)
        if normalized is None:
            problem = "is not a string" if not isinstance(value, str) else f"is not a valid {unit}"
            raise _error(source, dotted, f"{shown} {problem}", allowed)
        return normalized

    if kind is None:
        if not isinstance(value, ftype):
            raise _error(source, dotted, f"{shown} has the wrong type", ftype.__name__)
        return value

    if not kind.accepts(value):
        allowed = f"{kind.noun}, {allowed_range(f)}" if bounded else kind.noun
        raise _error(source, dotted, f"{shown} is not {kind.noun}", allowed)
    value = kind.convert(value)

    if isinstance(value, float) and not math.isfinite(value):
        lo, hi = meta.get("lo"), meta.get("hi")
        # A closed bound at +-inf is the only way a range admits a non-finite value.
        admitted = (value == math.inf and hi == math.inf and not meta.get("hi_open")) or (
            value == -math.inf and lo == -math.inf and not meta.get("lo_open"))
        if not admitted:
            allowed = (f"a finite number, {allowed_range(f)}" if bounded
                       else "a finite number")
            raise _error(source, dotted, f"{shown} is not a finite number", allowed)

    if bounded and not _in_range(value, meta):
        raise _error(source, dotted, f"{shown} is out of range", allowed_range(f))
    return value


def _in_range(value: float, meta: Mapping[str, Any]) -> bool:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value <= lo if meta.get("lo_open") else value < lo):
        return False
    return not (hi is not None and (value >= hi if meta.get("hi_open") else value > hi))


def _build_section(source: str, name: str, cls: type, table: Any) -> Any:
    fields = dataclasses.fields(cls)
    field_names = [f.name for f in fields]
    if not isinstance(table, dict):
        raise _error(source, name, f"{name} = {_show(table)} is not a table",
                     f"a table [{name}] with keys {', '.join(field_names)}")
    _check_unknown(source, table, field_names, prefix=f"{name}.")
    types = _field_types(cls)
    values = {
        f.name: _validated_value(source, f"{name}.{f.name}", f, types[f.name], table[f.name])
        for f in fields if f.name in table
    }
    return cls(**values)


def _build_scenario(document: dict[str, Any], source: str) -> Scenario:
    header = [f for f in dataclasses.fields(Scenario) if f.name not in _LOADER_FIELDS]
    allowed_top = [f.name for f in header] + list(SECTIONS)
    _check_unknown(source, document, allowed_top, prefix="")

    header_types = _field_types(Scenario)
    values: dict[str, Any] = {}
    for f in header:
        kind = _KINDS[header_types[f.name]]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in document:
            if required:
                raise _error(source, f.name, f"{f.name} is missing",
                             f"{kind.noun} (required)")
            continue
        value = document[f.name]
        if not kind.accepts(value) or (isinstance(value, str) and not value.strip()):
            noun = "a non-empty string" if header_types[f.name] is str else kind.noun
            raise _error(source, f.name, f"{f.name} = {_show(value)} is not {noun}", noun)
        values[f.name] = value

    for name, cls in SECTIONS.items():
        values[name] = _build_section(source, name, cls, document.get(name, {}))

    scenario = Scenario(**values, source=source)
    _check_consistency(scenario, source)
    return scenario


# ---------------------------------------------------------------------------
# Rules that tie fields together (the only hand-written checks)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    """A condition on several fields; ``keys`` are dotted, ``allowed`` says the rule."""

    keys: tuple[str, ...]
    holds: Callable[..., bool]
    allowed: str


_CONSISTENCY_RULES: tuple[_Rule, ...] = (
    _Rule(("condor.dte_min", "condor.dte_max"), lambda lo, hi: lo <= hi,
          "condor.dte_min <= condor.dte_max"),
    _Rule(("condor.exit_dte", "condor.dte_min"), lambda exit_dte, dte_min: exit_dte < dte_min,
          "condor.exit_dte < condor.dte_min"),
    # Strikes of SPX options are listed 5 points apart, so wings must land on them.
    _Rule(("condor.wing_width",), lambda width: width % 5 == 0,
          "condor.wing_width a multiple of 5"),
    _Rule(("smile.min_vol", "smile.max_vol"), lambda lo, hi: lo < hi,
          "smile.min_vol < smile.max_vol"),
    # E[e^{b J_v}] = 1 / (1 - b m) for J_v ~ Exp(mean m); infinite when b m >= 1.
    _Rule(("market.jump_spot_per_variance", "market.jump_variance_mean"),
          lambda b, m: b * m < 1,
          "market.jump_spot_per_variance * market.jump_variance_mean < 1"),
)


def _lookup(scenario: Scenario, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(scenario, section), name)


def _check_consistency(scenario: Scenario, source: str) -> None:
    for rule in _CONSISTENCY_RULES:
        values = [_lookup(scenario, key) for key in rule.keys]
        if not rule.holds(*values):
            shown = " and ".join(f"{key} = {_show(v)}" for key, v in zip(rule.keys, values,
                                                                          strict=True))
            verb = "breaks a rule" if len(rule.keys) == 1 else "break a rule"
            raise _error(source, rule.keys[0], f"{shown} {verb}", rule.allowed, keys=rule.keys)


# ---------------------------------------------------------------------------
# Describing a scenario
# ---------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def describe(scenario: Scenario) -> str:
    """Plain-text tables of every parameter of a scenario, one table per section.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.

    Returns
    -------
    str
        A header (name, description, source), then for each section of
        ``sim.config.SECTIONS`` a table with columns key, value, unit and
        definition, taken from the field metadata.
    """
    rows: dict[str, list[tuple[str, str, str, str]]] = {}
    for name, cls in SECTIONS.items():
        section = getattr(scenario, name)
        rows[name] = [
            (f.name, _cell(getattr(section, f.name)), f.metadata.get("unit", ""),
             f.metadata.get("doc", ""))
            for f in dataclasses.fields(cls)
        ]
    header = ("key", "value", "unit", "definition")
    all_rows = [header, *(row for section_rows in rows.values() for row in section_rows)]
    widths = [max(len(row[i]) for row in all_rows) for i in range(3)]

    def line(row: tuple[str, str, str, str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) \
            + "  " + row[3]

    lines = [f"scenario: {scenario.name}", f"description: {scenario.description}",
             f"source: {scenario.source}"]
    for name, section_rows in rows.items():
        lines += ["", f"[{name}]", line(header), line(("-" * widths[0], "-" * widths[1],
                                                        "-" * widths[2], "-" * 10))]
        lines += [line(row) for row in section_rows]
    return "\n".join(lines) + "\n"
