"""The shape of a scenario document, read from the dataclasses of ``sim.config``.

A section dataclass (``SECTIONS``) is a TOML table; a field whose type is
itself a dataclass is a nested table (``MarketModel.events`` is
``[market.events]``). The loader, :func:`scenarios.dumps` and
:func:`scenarios.describe` all walk the same tree through these helpers, so a
field added to ``sim.config`` appears in all three.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator
from typing import Any

from sim.config import SECTIONS, RegimeChain, Scenario

#: Fields of :class:`RegimeChain` written as keys of ``[market.regimes]``; its
#: ``params`` are the sub-tables ``[market.regimes.<name>]`` instead.
CHAIN_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(RegimeChain) if f.name != "params")

#: ``initial`` value that draws the first regime from the stationary distribution.
STATIONARY = "stationary"


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """Evaluated type of every field of ``cls`` (``sim.config`` annotations are strings)."""
    return typing.get_type_hints(cls)


def unwrap_optional(ftype: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(ftype, False)``."""
    if typing.get_origin(ftype) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(ftype) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(ftype)) == 2:
            return args[0], True
    return ftype, False


def is_table(ftype: Any) -> bool:
    """Whether a field of this type is a nested TOML table (a dataclass)."""
    return isinstance(ftype, type) and dataclasses.is_dataclass(ftype)


def is_string_tuple(ftype: Any) -> bool:
    """Whether ``ftype`` is ``tuple[str, ...]`` (a TOML array of strings)."""
    return typing.get_origin(ftype) is tuple and typing.get_args(ftype) == (str, ...)


def table_tuple_type(ftype: Any) -> type | None:
    """The dataclass ``T`` when ``ftype`` is ``tuple[T, ...]`` (a TOML array of tables)."""
    if typing.get_origin(ftype) is tuple:
        args = typing.get_args(ftype)
        if len(args) == 2 and args[1] is Ellipsis and is_table(args[0]):
            return args[0]
    return None


def scalar_fields(cls: type) -> list[dataclasses.Field]:
    """Fields of ``cls`` written as ``key = value`` in its own table.

    Nested tables are left out, and so are the ``params`` of a
    :class:`RegimeChain` (its per-regime sub-tables).
    """
    types_ = field_types(cls)
    return [f for f in dataclasses.fields(cls)
            if not is_table(types_[f.name]) and not (cls is RegimeChain and f.name == "params")]


def nested_fields(cls: type) -> list[dataclasses.Field]:
    """Fields of ``cls`` that are nested tables, in declaration order."""
    types_ = field_types(cls)
    return [f for f in dataclasses.fields(cls) if is_table(types_[f.name])]


def tables(scenario: Scenario) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every table of a scenario, parents before children.

    Yields
    ------
    (path, section)
        ``path`` is the table's key path (``("market", "events")``) and
        ``section`` the dataclass instance found there. Per-regime override
        tables are not included: they belong to their :class:`RegimeChain`.
    """
    def walk(path: tuple[str, ...], section: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
        yield path, section
        for f in nested_fields(type(section)):
            yield from walk((*path, f.name), getattr(section, f.name))

    for name in SECTIONS:
        yield from walk((name,), getattr(scenario, name))
