"""Plain-text tables of a scenario's parameters: :func:`describe` (``alvh describe``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from scenarios.fields import scalar_fields, tables
from sim.config import RegimeChain, RegimeParams, Scenario

__all__ = ["describe"]

# Values longer than this do not widen the value column of every table.
_VALUE_WIDTH_LIMIT = 30


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        if value and all(isinstance(row, tuple) for row in value):
            return f"{len(value)} x {len(value[0])} matrix, below"
        return ", ".join(str(item) for item in value) if value else "(none)"
    return str(value)


def _grid(rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    """Rows of cells as aligned text; columns from ``numeric_from`` on are right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.rjust(w) if i >= numeric_from else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                             ).rstrip()
            for row in rows]


def _chain_tables(chain: RegimeChain) -> list[str]:
    """The transition matrix and the per-regime overrides of a regime chain."""
    unit = dataclasses.fields(RegimeChain)[1].metadata["unit"]
    lines = ["", f"P(regime tomorrow = column | regime today = row) [{unit}]"]
    lines += _grid([["today \\ tomorrow", *chain.names],
                    *([name, *(_cell(p) for p in row)]
                      for name, row in zip(chain.names, chain.transition, strict=True))])

    overrides = {params.name: params for params in chain.params}
    columns = [f for f in dataclasses.fields(RegimeParams) if f.name != "name"
               and any(getattr(p, f.name) is not None for p in chain.params)]
    lines.append("")
    if not columns:
        lines.append("overrides of [market] per regime: none; every regime has the "
                     "[market] dynamics")
        return lines
    lines.append("overrides of [market] per regime (-: the [market] value)")
    rows = [["regime", *(f.name for f in columns)],
            ["[unit]", *(f"[{f.metadata['unit']}]" for f in columns)]]
    for name in chain.names:
        params = overrides.get(name)
        rows.append([name, *("-" if params is None or getattr(params, f.name) is None
                             else _cell(getattr(params, f.name)) for f in columns)])
    return lines + _grid(rows)


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
        ``sim.config.SECTIONS`` and each nested section (``[market.regimes]``,
        ``[market.events]``, ...) a table with columns key, value, unit and
        definition, taken from the field metadata. ``[market.regimes]`` is
        followed by its transition matrix (row: today, column: tomorrow) and a
        table of the per-regime overrides of ``[market]`` (regime x field).
    """
    sections = []
    for path, section in tables(scenario):
        rows = [(f.name, _cell(getattr(section, f.name)), f.metadata.get("unit", ""),
                 f.metadata.get("doc", ""))
                for f in scalar_fields(type(section))]
        sections.append((".".join(path), section, rows))
    header = ("key", "value", "unit", "definition")
    all_rows = [header, *(row for _, _, rows in sections for row in rows)]
    widths = [max(len(row[i]) for row in all_rows
                  if i != 1 or len(row[1]) <= _VALUE_WIDTH_LIMIT) for i in range(3)]

    def line(row: tuple[str, str, str, str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) \
            + "  " + row[3]

    lines = [f"scenario: {scenario.name}", f"description: {scenario.description}",
             f"source: {scenario.source}"]
    for name, section, rows in sections:
        lines += ["", f"[{name}]", line(header), line(("-" * widths[0], "-" * widths[1],
                                                        "-" * widths[2], "-" * 10))]
        lines += [line(row) for row in rows]
        if isinstance(section, RegimeChain):
            lines += _chain_tables(section)
    return "\n".join(lines) + "\n"
