"""Read scenario TOML files into validated, frozen :class:`sim.config.Scenario` objects.

This is the one place where scenario input is checked (STYLE.md: validate every
field once, at the edge). The checks are driven by the dataclass fields of
``sim.config``: each field's type and its ``param(...)`` metadata (range, open
or closed bounds, unit) say what a TOML value may be, and a field whose type
is a dataclass is a nested table, so adding a parameter to ``sim.config``
needs no change here. Written by hand are only the regime chain
(``[market.regimes]``: names, a transition matrix and per-regime tables), the
event calendar path, and the rules that tie fields together
(``_CONSISTENCY_RULES`` and ``_check_regimes``).

Document format::

    name = "default"                 # required string
    description = "Normal market..." # required string
    [market]                         # each table optional, named as in sim.config.SECTIONS
    rho = -0.7                       # omitted keys take the dataclass defaults
    [market.regimes]                 # nested tables: [market.regimes], [market.events], ...
    names = ["calm", "stressed"]
    transition = [[0.98, 0.02], [0.05, 0.95]]   # per trading day, rows sum to 1
    initial = "calm"
    [market.regimes.stressed]        # overrides of the [market] dynamics in one regime
    theta = 0.06

Every problem is reported as a :class:`ScenarioError` whose message is one line
naming the file, the dotted key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import importlib
import json
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.fields import (
    CHAIN_KEYS,
    STATIONARY,
    field_types,
    is_string_tuple,
    is_table,
    table_tuple_type,
    unwrap_optional,
)
from sim.config import (
    SECTIONS,
    EventSpec,
    RegimeChain,
    RegimeParams,
    Scenario,
    allowed_range,
)

__all__ = ["ScenarioError", "list_presets", "load", "loads", "preset_path"]

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


# Characters str.splitlines() breaks on, written escaped so a message stays one line
# even when a quoted TOML key or a file name holds them.
_LINE_BREAKS = {ord(ch): ch.encode("unicode_escape").decode("ascii")
                for ch in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _error(
    source: str, key: str | None, problem: str, allowed: str | None = None,
    keys: tuple[str, ...] = (),
) -> ScenarioError:
    message = f"{source}: {problem}" + ("" if allowed is None else f"; allowed: {allowed}")
    return ScenarioError(message.translate(_LINE_BREAKS), path=source, key=key, keys=keys)


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
    if not _is_bare_name(name) or not is_file(path):
        names = ", ".join(_preset_names()) or "(none)"
        raise _error(str(path), None, f"no preset named {json.dumps(name, ensure_ascii=False)}",
                     names)
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


def is_file(path: Path) -> bool:
    """``path.is_file()``, False for names the system refuses (too long, NUL bytes)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


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
    allowed = (f"a preset name ({', '.join(_preset_names()) or 'none installed'}) or the "
               "path of an existing, readable UTF-8 TOML file")
    return loads(read_text(path, "scenario", allowed), source)


def read_text(path: Path, what: str, allowed: str | None = None) -> str:
    """The UTF-8 text of a ``what`` file (scenario, policy...), or a one-line ScenarioError.

    ``allowed`` says what the caller accepts instead (default: an existing,
    readable UTF-8 TOML file).
    """
    source = os.fspath(path)
    if allowed is None:
        allowed = f"the path of an existing, readable UTF-8 TOML {what} file"
    try:
        # "utf-8-sig": a byte order mark that some editors put first is not part of the text.
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise _error(source, None, f"no such {what} file", allowed) from None
    except UnicodeDecodeError as exc:
        raise _error(source, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                     "a UTF-8 TOML file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _error(source, None, f"cannot read the file ({reason})", allowed) from None
    except ValueError as exc:  # a name the system refuses, e.g. with a NUL byte
        raise _error(source, None, f"not a usable file name ({exc})", allowed) from None


#: What a document must be when it is not TOML at all.
TOML_ALLOWED = "TOML 1.0 text (https://toml.io/en/v1.0.0)"


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """``tomllib.loads(text)``, or a one-line ScenarioError with tomllib's line and column."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _error(source, None, f"invalid TOML: {exc}", TOML_ALLOWED) from None
    except ValueError:  # int() refusing an integer of more than 4300 digits
        raise _error(source, None, "invalid TOML: an integer with more than "
                     f"{sys.get_int_max_str_digits()} digits", TOML_ALLOWED) from None
    except RecursionError:  # arrays or inline tables nested too deep for the parser
        raise _error(source, None, "invalid TOML: values nested too deep",
                     TOML_ALLOWED) from None


def loads(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario TOML text held in memory.

    Parameters
    ----------
    text : str
        The TOML document.
    source : str
        Label for error messages and ``Scenario.source`` (usually a file path).
        A relative ``market.events.calendar`` path is resolved against its
        folder; for the default ``"<string>"`` that is the working directory.

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
    return _build_scenario(parse_toml(text, source), source)


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
    "smile kind": (lambda value: value if value in ("model", "parametric") else None,
                   '"model" or "parametric"'),
}


#: Width of a value shown in a message, characters.
_SHOW_WIDTH = 60
# Containers nested deeper than this are shown as {...} / [...]: the text is cut
# at _SHOW_WIDTH anyway, and a deep TOML array must not exhaust the stack.
_SHOW_DEPTH = 8


def _show(value: Any, depth: int = 0) -> str:
    """A TOML-like rendering of ``value`` for a one-line message."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value[:_SHOW_WIDTH + 1], ensure_ascii=False)
    elif isinstance(value, float | int):
        text = repr(value)
    elif isinstance(value, datetime.date | datetime.time):
        text = value.isoformat()
    elif isinstance(value, dict):
        items = list(value.items())[:_SHOW_WIDTH]   # no more can fit
        text = ("{...}" if depth >= _SHOW_DEPTH and value else
                "{" + ", ".join(f"{k} = {_show(v, depth + 1)}" for k, v in items) + "}")
    elif isinstance(value, list | tuple):
        text = ("[...]" if depth >= _SHOW_DEPTH and value else
                "[" + ", ".join(_show(v, depth + 1) for v in value[:_SHOW_WIDTH]) + "]")
    else:
        text = repr(value)
    return text if len(text) <= _SHOW_WIDTH else text[:_SHOW_WIDTH - 3] + "..."


def _names(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(json.dumps(name, ensure_ascii=False) for name in names)


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

    choices = meta.get("choices")
    if choices is not None:
        allowed = _names(choices)
        if not isinstance(value, str):
            raise _error(source, dotted, f"{shown} is not a string", allowed)
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {json.dumps(close[0])}?)" if close else ""
            raise _error(source, dotted, f"{shown} is not a known choice{hint}", allowed)
        return value

    if fmt is not None:
        normalize, allowed = fmt
        normalized = normalize(value)
        if normalized is None:
            problem = "is not a string" if not isinstance(value, str) else f"is not a valid {unit}"
            raise _error(source, dotted, f"{shown} {problem}", allowed)
        return normalized

    if kind is None:
        # A type sim.config uses that this loader does not know: a bug here, not bad input.
        raise TypeError(f"scenarios.loader cannot read {dotted} of type {ftype!r}")

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


def _string_array(source: str, dotted: str, value: Any, what: str) -> tuple[str, ...]:
    """A TOML array of strings as a tuple; ``what`` says what is allowed."""
    if not isinstance(value, list):
        raise _error(source, dotted, f"{dotted} = {_show(value)} is not an array of strings",
                     what)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _error(source, dotted, f"{dotted}[{i}] = {_show(item)} is not a string", what)
    return tuple(value)


def _field_value(source: str, dotted: str, f: dataclasses.Field, ftype: Any,
                 value: Any) -> Any:
    """The value of one field of a table: a nested table, an array of strings or a scalar."""
    if is_table(ftype):
        return _build_table(source, dotted, ftype, value)
    item_type = table_tuple_type(ftype)
    if item_type is not None:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _error(source, dotted, f"{dotted} = {_show(value)} is not an array of tables",
                         f"[[{dotted}]] tables with keys "
                         + ", ".join(f.name for f in dataclasses.fields(item_type)))
        return tuple(_build_table(source, f"{dotted}[{i}]", item_type, item)
                     for i, item in enumerate(value))
    if is_string_tuple(ftype):
        return _string_array(source, dotted, value, "an array of strings")
    # TOML has no null: an optional field is either given (a value) or absent (None).
    return _validated_value(source, dotted, f, unwrap_optional(ftype)[0], value)


def _build_table(source: str, dotted: str, cls: type, table: Any,
                 fixed: Mapping[str, Any] | None = None) -> Any:
    """Instance of dataclass ``cls`` from TOML table ``[dotted]``.

    ``fixed`` gives fields the document does not write (a regime's ``name``,
    taken from its table name); they are not accepted as keys.
    """
    builder = _TABLE_BUILDERS.get(cls)
    if builder is not None:
        return builder(source, dotted, table)
    fixed = fixed or {}
    fields = [f for f in dataclasses.fields(cls) if f.name not in fixed]
    field_names = [f.name for f in fields]
    if not isinstance(table, dict):
        raise _error(source, dotted, f"{dotted} = {_show(table)} is not a table",
                     f"a table [{dotted}] with keys {', '.join(field_names)}")
    _check_unknown(source, table, field_names, prefix=f"{dotted}.")
    types = field_types(cls)
    values = dict(fixed)
    for f in fields:
        if f.name in table:
            key = f"{dotted}.{f.name}"
            value = _field_value(source, key, f, types[f.name], table[f.name])
            check = _FIELD_CHECKS.get((cls, f.name))
            values[f.name] = value if check is None else check(source, key, value)
    return cls(**values)


# ---------------------------------------------------------------------------
# The regime chain: [market.regimes] and its [market.regimes.<name>] tables
# ---------------------------------------------------------------------------

# Regime names that would clash with a key of [market.regimes] or with `initial`.
_RESERVED_NAMES = frozenset(f.name for f in dataclasses.fields(RegimeChain)) | {STATIONARY}
_ROW_SUM_TOLERANCE = 1e-9


def _regime_names(source: str, dotted: str, value: Any) -> tuple[str, ...]:
    allowed = ("a non-empty array of distinct non-empty strings, none of "
               + _names(sorted(_RESERVED_NAMES)))
    names = _string_array(source, dotted, value, allowed)
    if not names:
        raise _error(source, dotted, f"{dotted} is empty", allowed)
    for i, name in enumerate(names):
        if not name.strip():
            raise _error(source, dotted, f"{dotted}[{i}] = {_show(name)} is blank", allowed)
        if name in _RESERVED_NAMES:
            raise _error(source, dotted, f"{dotted}[{i}] = {_show(name)} is a reserved word",
                         allowed)
        if name in names[:i]:
            raise _error(source, dotted, f"{dotted} names {_show(name)} twice", allowed)
    return names


def _transition(source: str, dotted: str, value: Any,
                names: tuple[str, ...]) -> tuple[tuple[float, ...], ...]:
    """The transition matrix: one row per regime, probabilities summing to 1."""
    n = len(names)
    shape = (f"{n} rows of {n} probabilities in [0, 1] (row i: from regime i to each of "
             f"{_names(names)}), each row summing to 1")
    if not isinstance(value, list) or len(value) != n:
        problem = (f"has {len(value)} rows" if isinstance(value, list)
                   else "is not an array of rows")
        raise _error(source, dotted, f"{dotted} = {_show(value)} {problem}", shape)
    rows = []
    for i, row in enumerate(value):
        key = f"{dotted}[{i}]"
        shown = f"{key} (from {_show(names[i])}) = {_show(row)}"
        if not isinstance(row, list) or len(row) != n:
            problem = f"has {len(row)} entries" if isinstance(row, list) else "is not an array"
            raise _error(source, key, f"{shown} {problem}", shape)
        for j, p in enumerate(row):
            if not _KINDS[float].accepts(p):
                raise _error(source, key, f"{shown} has {_show(p)} at column {j}, not a number",
                             shape)
            if not 0.0 <= p <= 1.0:  # also refuses nan
                raise _error(source, key, f"{shown} has {_show(p)} at column {j} "
                             f"(to {_show(names[j])}), not a probability", shape)
        total = math.fsum(row)
        if abs(total - 1.0) > _ROW_SUM_TOLERANCE:
            raise _error(source, key, f"{shown} sums to {total!r}",
                         f"each row summing to 1 within {_ROW_SUM_TOLERANCE:g}")
        rows.append(tuple(float(p) for p in row))
    return tuple(rows)


def _closed_classes(transition: tuple[tuple[float, ...], ...]) -> list[list[int]]:
    """Closed communicating classes of a Markov chain, each a sorted list of states.

    The stationary distribution is unique exactly when there is one
    (Norris, *Markov Chains*, 1997, theorems 1.7.7 and 1.5.6).
    """
    n = len(transition)
    reach = []
    for start in range(n):
        seen, todo = {start}, [start]
        while todo:
            i = todo.pop()
            for j in range(n):
                if transition[i][j] > 0.0 and j not in seen:
                    seen.add(j)
                    todo.append(j)
        reach.append(seen)
    classes = {frozenset(reach[i]) for i in range(n) if all(i in reach[j] for j in reach[i])}
    return sorted(sorted(c) for c in classes)


def _build_regimes(source: str, dotted: str, table: Any) -> RegimeChain:
    """The :class:`RegimeChain` of ``[market.regimes]`` (hand-written: its keys depend
    on each other, and its sub-tables are named by the regimes)."""
    keys_text = (f"keys {', '.join(CHAIN_KEYS)} and a table [{dotted}.<name>] per regime "
                 "that changes the dynamics")
    if not isinstance(table, dict):
        raise _error(source, dotted, f"{dotted} = {_show(table)} is not a table",
                     f"a table [{dotted}] with {keys_text}")
    default = RegimeChain()
    names = (_regime_names(source, f"{dotted}.names", table["names"]) if "names" in table
             else default.names)

    # Unknown keys first: a misspelled key should not be reported as a missing one.
    for key, value in table.items():
        if key in CHAIN_KEYS or (isinstance(value, dict) and key in names):
            continue
        close = difflib.get_close_matches(key, [*CHAIN_KEYS, *names], n=1)
        hint = f" (did you mean {dotted}.{close[0]}?)" if close else ""
        if isinstance(value, dict):
            raise _error(source, f"{dotted}.{key}",
                         f"[{dotted}.{key}] is not a regime of {dotted}.names{hint}",
                         f"a table per regime of {_names(names)}")
        if key in names:
            raise _error(source, f"{dotted}.{key}", f"{dotted}.{key} = {_show(value)} is not a "
                         "table", f"a table [{dotted}.{key}] of overrides of [market] keys")
        raise _error(source, f"{dotted}.{key}", f"{dotted}.{key} is not a known key{hint}",
                     keys_text)

    if "names" in table and "transition" not in table:
        raise _error(source, f"{dotted}.transition", f"{dotted}.transition is missing",
                     f"required with {dotted}.names: {len(names)} rows of {len(names)} "
                     "probabilities, each row summing to 1")
    transition = (_transition(source, f"{dotted}.transition", table["transition"], names)
                  if "transition" in table else default.transition)

    initial_key = f"{dotted}.initial"
    initial_allowed = f"one of {_names(names)}, or {_show(STATIONARY)}"
    if "initial" in table:
        initial = table["initial"]
        if not isinstance(initial, str) or (initial not in names and initial != STATIONARY):
            raise _error(source, initial_key, f"{initial_key} = {_show(initial)} is not a "
                         "regime name", initial_allowed)
    elif len(names) > 1:
        raise _error(source, initial_key, f"{initial_key} is missing",
                     f"required when {dotted}.names has more than one regime: {initial_allowed}")
    else:
        initial = names[0]
    if initial == STATIONARY and len(classes := _closed_classes(transition)) > 1:
        shown = "; ".join(_names([names[i] for i in c]) for c in classes)
        raise _error(source, initial_key,
                     f"{initial_key} = {_show(STATIONARY)} needs one stationary distribution, "
                     f"but {dotted}.transition has {len(classes)} closed sets of regimes "
                     f"({shown})", "a chain in which every regime leads to one closed set, "
                     "or initial set to a regime name", keys=(initial_key, f"{dotted}.transition"))

    stress: tuple[str, ...] = default.stress
    if "stress" in table:
        stress_key = f"{dotted}.stress"
        allowed = f"an array of distinct names among {_names(names)}"
        stress = _string_array(source, stress_key, table["stress"], allowed)
        for i, name in enumerate(stress):
            if name not in names or name in stress[:i]:
                problem = "is not a regime name" if name not in names else "is repeated"
                raise _error(source, stress_key, f"{stress_key}[{i}] = {_show(name)} {problem}",
                             allowed)

    # One RegimeParams per table given, in the order of `names` (the canonical form).
    params = tuple(
        _build_table(source, f"{dotted}.{name}", RegimeParams, table[name], fixed={"name": name})
        for name in names if name in table)
    return RegimeChain(names=names, transition=transition, initial=initial, stress=stress,
                       params=params)


# ---------------------------------------------------------------------------
# The event calendar: "generated", "none" or a CSV file next to the scenario
# ---------------------------------------------------------------------------

CALENDAR_WORDS = ("generated", "none")


def _calendar(source: str, dotted: str, value: str) -> str:
    """``value`` itself for a keyword, else the CSV file's absolute path, checked."""
    if value in CALENDAR_WORDS:
        return value
    allowed = (f"{_show(CALENDAR_WORDS[0])}, {_show(CALENDAR_WORDS[1])}, or the path of an "
               "existing CSV file of date,kind, relative to the scenario file")
    if not value.strip():
        raise _error(source, dotted, f"{dotted} = {_show(value)} is blank", allowed)
    # Relative to the scenario file's folder; in-memory text ("<string>") has ".": the CWD.
    path = os.path.abspath(Path(source).parent / value)
    if not os.path.isfile(path):
        raise _error(source, dotted, f"{dotted} = {_show(value)}: no such file {path}", allowed)
    _check_calendar_file(source, dotted, path)
    return path


def _check_calendar_file(source: str, dotted: str, path: str) -> None:
    """Let ``sim.market.events.load_calendar_file`` read the file, when it exists.

    The CSV format belongs to the events module; the loader only turns its
    ``ValueError`` (which names the file and line) into a ScenarioError.
    """
    try:
        events = importlib.import_module("sim.market.events")
    except ModuleNotFoundError as exc:
        if exc.name in ("sim.market.events", "sim.market", "sim"):
            return
        raise
    load_calendar_file = getattr(events, "load_calendar_file", None)
    if load_calendar_file is None:
        return
    try:
        load_calendar_file(path)
    except ValueError as exc:
        message = " ".join(str(exc).split())  # keep the error on one line
        raise _error(source, dotted, f"{dotted}: {message}",
                     "a CSV file with header date,kind (kind: FOMC, CPI or PPI)") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _error(source, dotted, f"{dotted}: cannot read {path} ({reason})") from None


# Tables whose keys depend on each other, and fields that need more than a type check.
_TABLE_BUILDERS: dict[type, Callable[[str, str, Any], Any]] = {RegimeChain: _build_regimes}
_FIELD_CHECKS: dict[tuple[type, str], Callable[[str, str, Any], Any]] = {
    (EventSpec, "calendar"): _calendar,
}


def _build_scenario(document: dict[str, Any], source: str) -> Scenario:
    header = [f for f in dataclasses.fields(Scenario) if f.name not in _LOADER_FIELDS]
    allowed_top = [f.name for f in header] + list(SECTIONS)
    _check_unknown(source, document, allowed_top, prefix="")

    header_types = field_types(Scenario)
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
        values[name] = _build_table(source, name, cls, document.get(name, {}))

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


def _jump_moments_finite(b: float, m: float) -> bool:
    # E[e^{b J_v}] = 1 / (1 - b m) for J_v ~ Exp(mean m); infinite when b m >= 1.
    return b * m < 1


def _pricing_kappa_positive(kappa: float, premium: float) -> bool:
    # kappa_Q = kappa - vol_risk_premium is the variance's speed of mean reversion
    # under the pricing measure (sim.config.MarketModel); no premium, no condition.
    return premium == 0 or kappa - premium > 0


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
    _Rule(("vix.min_option_vol", "vix.max_option_vol"), lambda lo, hi: lo < hi,
          "vix.min_option_vol < vix.max_option_vol"),
    _Rule(("market.jump_spot_per_variance", "market.jump_variance_mean"), _jump_moments_finite,
          "market.jump_spot_per_variance * market.jump_variance_mean < 1"),
    _Rule(("market.kappa", "market.vol_risk_premium"), _pricing_kappa_positive,
          "market.kappa - market.vol_risk_premium > 0 (kappa under the pricing measure) "
          "when market.vol_risk_premium != 0"),
    # The switch moves probability from non-stress to stress regimes: it needs both kinds.
    _Rule(("market.breadth.divergence_predicts_stress", "market.regimes.stress",
           "market.regimes.names"),
          lambda on, stress, names: not on or 0 < len(stress) < len(names),
          "market.regimes.stress naming some but not all regimes when "
          "market.breadth.divergence_predicts_stress = true"),
)


def _lookup(scenario: Scenario, dotted: str) -> Any:
    value: Any = scenario
    for name in dotted.split("."):
        value = getattr(value, name)
    return value


def _broken(source: str, keys: tuple[str, ...], values: list[Any], allowed: str,
            notes: tuple[str, ...] | None = None) -> ScenarioError:
    notes = notes or ("",) * len(keys)
    shown = " and ".join(f"{key} = {_show(v)}{note}"
                         for key, v, note in zip(keys, values, notes, strict=True))
    verb = "breaks a rule" if len(keys) == 1 else "break a rule"
    return _error(source, keys[0], f"{shown} {verb}", allowed, keys=keys)


def _check_consistency(scenario: Scenario, source: str) -> None:
    for rule in _CONSISTENCY_RULES:
        values = [_lookup(scenario, key) for key in rule.keys]
        if not rule.holds(*values):
            raise _broken(source, rule.keys, values, rule.allowed)
    _check_regimes(scenario, source)


#: Rules each regime must obey with its overrides applied to ``[market]``:
#: (fields, condition, what is allowed).
_REGIME_RULES: tuple[tuple[tuple[str, ...], Callable[..., bool], str], ...] = (
    (("jump_spot_per_variance", "jump_variance_mean"), _jump_moments_finite,
     "jump_spot_per_variance * jump_variance_mean < 1 in every regime"),
    (("kappa", "vol_risk_premium"), _pricing_kappa_positive,
     "kappa - vol_risk_premium > 0 (kappa under the pricing measure) in every regime "
     "whose vol_risk_premium != 0"),
)


def _check_regimes(scenario: Scenario, source: str) -> None:
    """Each regime's dynamics, its overrides applied to ``[market]``, obey `_REGIME_RULES`."""
    market = scenario.market
    for fields, holds, allowed in _REGIME_RULES:
        for params in market.regimes.params:
            overrides = [getattr(params, name) for name in fields]
            if all(value is None for value in overrides):
                continue  # the [market] values, already checked
            values = [getattr(market, name) if value is None else value
                      for name, value in zip(fields, overrides, strict=True)]
            if not holds(*values):
                keys = tuple(f"market.regimes.{params.name}.{name}" for name in fields)
                notes = tuple(f" (from market.{name})" if value is None else ""
                              for name, value in zip(fields, overrides, strict=True))
                raise _broken(source, keys, values, allowed, notes)
