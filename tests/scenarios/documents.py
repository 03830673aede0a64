"""Build scenario TOML text in tests: a valid header plus dotted-key overrides.

The field lists are derived here from ``sim.config`` directly (not through
``scenarios.fields``), so the tests do not share the loader's view of the
document's shape.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import Any

from scenarios.writer import toml_key, toml_value
from sim.config import SECTIONS, RegimeChain, RegimeParams

Entry = tuple[str, dataclasses.Field, Any]


def _walk(prefix: str, cls: type) -> Iterator[Entry]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        ftype = hints[f.name]
        if dataclasses.is_dataclass(ftype):
            yield from _walk(f"{prefix}.{f.name}", ftype)
        elif not (cls is RegimeChain and f.name == "params"):  # params: per-regime tables
            yield f"{prefix}.{f.name}", f, ftype


#: Every key of a full document except the per-regime tables: (dotted key, field,
#: type), in SECTIONS order, nested tables in place of their field
#: (``market.regimes.names``, ``market.events.calendar``, ...).
FIELDS: list[Entry] = [entry for section, cls in SECTIONS.items()
                       for entry in _walk(section, cls)]

#: Keys of ``[market.regimes.normal]``, the override table of the default single
#: regime; their type is the float inside ``float | None``.
OVERRIDES: list[Entry] = [(f"market.regimes.normal.{f.name}", f, float)
                          for f in dataclasses.fields(RegimeParams) if f.name != "name"]

#: Keys whose values depend on each other or on the file system, tested by hand.
SPECIAL = {"market.regimes.names", "market.regimes.transition", "market.regimes.initial",
           "market.regimes.stress", "market.events.calendar"}

#: Keys a generic property may set alone: numbers, booleans and plain strings.
SCALARS: list[Entry] = [e for e in FIELDS if e[0] not in SPECIAL] + OVERRIDES

#: Dotted key -> default value from the dataclasses.
DEFAULTS: dict[str, Any] = {key: f.default for key, f, _ in FIELDS}


def document(overrides: dict[str, Any] | None = None, *, name: str = "test",
             description: str = "a test scenario") -> str:
    """A scenario document with ``name``, ``description`` and ``{"table.key": value}``.

    The table is everything before the last dot: ``"market.events.cpi_spot_std"``
    goes to ``[market.events]``, ``"market.regimes.calm.theta"`` to
    ``[market.regimes.calm]`` (regime names used this way must not hold dots).
    """
    lines = [f"name = {toml_value(name)}", f"description = {toml_value(description)}"]
    tables: dict[str, list[str]] = {}
    for dotted, value in (overrides or {}).items():
        table, key = dotted.rsplit(".", 1)
        tables.setdefault(table, []).append(f"{toml_key(key)} = {toml_value(value)}")
    for table, rows in tables.items():
        lines += ["", f"[{table}]", *rows]
    return "\n".join(lines) + "\n"


def consistent(overrides: dict[str, Any]) -> bool:
    """Whether the defaults with ``overrides`` obey the rules that tie fields together.

    Restated from the brief of ``scenarios.loader`` as an independent oracle;
    per-regime keys may only name the default regime ``normal``.
    """
    v = {**DEFAULTS, **overrides}
    b = v.get("market.regimes.normal.jump_spot_per_variance", v["market.jump_spot_per_variance"])
    m = v.get("market.regimes.normal.jump_variance_mean", v["market.jump_variance_mean"])
    kappa = v.get("market.regimes.normal.kappa", v["market.kappa"])
    premium = v.get("market.regimes.normal.vol_risk_premium", v["market.vol_risk_premium"])
    # A regime table with neither key inherits [market]'s pair, checked already.
    regime_pair = ("market.regimes.normal.kappa" in v
                   or "market.regimes.normal.vol_risk_premium" in v)
    stress, names = v["market.regimes.stress"], v["market.regimes.names"]
    return (
        v["condor.dte_min"] <= v["condor.dte_max"]
        and v["condor.exit_dte"] < v["condor.dte_min"]
        and v["condor.wing_width"] % 5 == 0
        and v["smile.min_vol"] < v["smile.max_vol"]
        and v["vix.min_option_vol"] < v["vix.max_option_vol"]
        and v["market.jump_spot_per_variance"] * v["market.jump_variance_mean"] < 1
        and b * m < 1
        and (v["market.vol_risk_premium"] == 0
             or v["market.kappa"] - v["market.vol_risk_premium"] > 0)
        and (not regime_pair or premium == 0 or kappa - premium > 0)
        and (not v["market.breadth.divergence_predicts_stress"]
             or 0 < len(stress) < len(names))
    )


def loaded_value(scenario: Any, dotted: str) -> Any:
    """The value at ``dotted`` in a loaded scenario; ``market.regimes.<name>.<key>``
    reads the override of regime ``name`` (``None`` when it has none)."""
    parts = dotted.split(".")
    if parts[:2] == ["market", "regimes"] and len(parts) == 4:
        params = {p.name: p for p in scenario.market.regimes.params}
        return getattr(params[parts[2]], parts[3]) if parts[2] in params else None
    value = scenario
    for part in parts:
        value = getattr(value, part)
    return value
