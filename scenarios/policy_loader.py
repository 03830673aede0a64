"""Read hedge-policy TOML files into validated, frozen :class:`sim.policy.Policy` objects.

The same generic, field-driven checks as the scenario loader
(:mod:`scenarios.loader`): each field's type, range and choices come from
``sim.policy``; nested tables (``[budget]``, ``[liquidity]``, ``[shrink]``,
``[active]``, ``[layers.trigger]``) and arrays of tables (``[[layers]]``,
``[[layers.trigger.conditions]]``) follow the dataclasses. Written by hand are
only the rules that tie fields together (:func:`_check_policy`).

Document format::

    name = "alvh"
    description = "Adaptive multi-factor layers"
    condor_style = "non-trailed"      # or "active" (then an [active] table applies)
    [budget]
    max_share = 0.20
    [[layers]]
    name = "L1"
    instrument = "vix_call"
    [layers.trigger]
    mode = "score"
    threshold = 0.5
    [[layers.trigger.conditions]]
    signal = "vix"
    op = ">"
    on = 20.0
    off = 18.0

Errors are :class:`scenarios.ScenarioError`: one line naming the file, the
dotted key (``layers[1].trigger.conditions[0].signal``) and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

from scenarios.fields import field_types
from scenarios.loader import (
    ScenarioError,
    _check_unknown,
    _error,
    _field_value,
    _show,
    is_file,
    parse_toml,
    read_text,
)
from sim.policy import POLICY_REGISTRY, SIGNAL_REGISTRY, SIGNALS, Policy

__all__ = ["POLICIES_DIR", "list_policy_presets", "load_policy", "loads_policy"]

#: Folder of the policy files shipped with the package.
POLICIES_DIR = Path(__file__).resolve().parent / "policies"

_LAYER_NAME = re.compile(r"[A-Za-z0-9_-]{1,24}")


def _preset_names() -> list[str]:
    return sorted(p.stem for p in POLICIES_DIR.glob("*.toml") if p.is_file())


def list_policy_presets() -> list[tuple[str, str]]:
    """Names and one-line descriptions of the shipped policies, sorted by name."""
    return [(name, load_policy(name).description) for name in _preset_names()]


def load_policy(name_or_path: str | os.PathLike[str]) -> Policy:
    """Load and validate a policy from a shipped name or a TOML file.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A name without path separator and ``.toml`` suffix is a shipped policy
        (``scenarios/policies/<name>.toml``); anything else is a file path.

    Returns
    -------
    Policy

    Raises
    ------
    ScenarioError
        Unknown name, unreadable file, invalid TOML or any invalid value.
    """
    text_name = os.fspath(name_or_path)
    bare = isinstance(name_or_path, str) and not any(
        sep in text_name for sep in ("/", "\\", os.sep)) and not text_name.endswith(".toml")
    names = ", ".join(_preset_names() + sorted(POLICY_REGISTRY)) or "(none)"
    if bare:
        path = POLICIES_DIR / f"{text_name}.toml"
        if not is_file(path):
            raise _error(str(path), None,
                         f"no policy named {json.dumps(text_name, ensure_ascii=False)}", names)
    else:
        path = Path(name_or_path)
    allowed = f"a policy name ({names}) or the path of an existing, readable UTF-8 TOML file"
    return loads_policy(read_text(path, "policy", allowed), os.fspath(path))


def loads_policy(text: str, source: str = "<string>") -> Policy:
    """Validate policy TOML text held in memory (see :func:`load_policy`)."""
    return _build_policy(parse_toml(text, source), source)


def _build_policy(document: dict[str, Any], source: str) -> Policy:
    fields = [f for f in dataclasses.fields(Policy) if f.name != "source"]
    _check_unknown(source, document, [f.name for f in fields], prefix="")
    types = field_types(Policy)
    values: dict[str, Any] = {}
    for f in fields:
        if f.name in ("name", "description"):
            value = document.get(f.name)
            if value is None:
                raise _error(source, f.name, f"{f.name} is missing", "a string (required)")
            if not isinstance(value, str) or not value.strip():
                raise _error(source, f.name, f"{f.name} = {_show(value)} is not a non-empty "
                             "string", "a non-empty string")
            values[f.name] = value
        elif f.name in document:
            values[f.name] = _field_value(source, f.name, f, types[f.name], document[f.name])
    policy = Policy(**values, source=source)
    _check_policy(policy, source)
    return policy


def _check_policy(policy: Policy, source: str) -> None:
    """The rules that tie policy fields together."""
    seen: list[str] = []
    for i, layer in enumerate(policy.layers):
        key = f"layers[{i}]"
        if not _LAYER_NAME.fullmatch(layer.name):
            raise _error(source, f"{key}.name", f"{key}.name = {_show(layer.name)} is not a "
                         "layer name", "1 to 24 letters, digits, '_' or '-'")
        if layer.name in seen:
            raise _error(source, f"{key}.name", f"{key}.name = {_show(layer.name)} is used "
                         "twice", "a name unique in the policy")
        if layer.min_dte > layer.max_dte:
            raise _error(source, f"{key}.min_dte", f"{key}.min_dte = {layer.min_dte} > "
                         f"{key}.max_dte = {layer.max_dte}", "min_dte <= max_dte",
                         keys=(f"{key}.min_dte", f"{key}.max_dte"))
        if layer.instrument == "vix_call_spread" and layer.short_offset <= layer.long_offset:
            raise _error(source, f"{key}.short_offset", f"{key}.short_offset = "
                         f"{layer.short_offset:g} is not above {key}.long_offset = "
                         f"{layer.long_offset:g}", "short_offset > long_offset",
                         keys=(f"{key}.short_offset", f"{key}.long_offset"))
        if layer.instrument == "spx_put_spread" and layer.short_delta >= layer.long_delta:
            raise _error(source, f"{key}.short_delta", f"{key}.short_delta = "
                         f"{layer.short_delta:g} is not below {key}.long_delta = "
                         f"{layer.long_delta:g}", "short_delta < long_delta",
                         keys=(f"{key}.short_delta", f"{key}.long_delta"))
        if layer.spread_width % 5:
            raise _error(source, f"{key}.spread_width", f"{key}.spread_width = "
                         f"{layer.spread_width:g} is not a multiple of 5",
                         "a multiple of 5 index points")
        for j, name in enumerate(layer.requires):
            if name not in seen:
                raise _error(source, f"{key}.requires", f"{key}.requires[{j}] = "
                             f"{_show(name)} is not an earlier layer",
                             "names of layers listed before this one: "
                             + (", ".join(seen) or "(none)"))
        if layer.role == "leverage":
            bases = [other.name for other in policy.layers[:i] if other.role == "base"]
            if not bases:
                raise _error(source, f"{key}.role", f"{key}.role = \"leverage\" has no base "
                             "layer before it", "a leverage layer after a layer with "
                             "role = \"base\"")
        trigger = layer.trigger
        if trigger.clear_level > trigger.threshold:
            raise _error(source, f"{key}.trigger.clear", f"{key}.trigger.clear = "
                         f"{trigger.clear_level:g} is above {key}.trigger.threshold = "
                         f"{trigger.threshold:g}",
                         "clear <= threshold", keys=(f"{key}.trigger.clear",
                                                     f"{key}.trigger.threshold"))
        for j, cond in enumerate(trigger.conditions):
            ckey = f"{key}.trigger.conditions[{j}]"
            if cond.signal not in SIGNALS and cond.signal not in SIGNAL_REGISTRY:
                import difflib

                known = list(SIGNALS) + sorted(SIGNAL_REGISTRY)
                close = difflib.get_close_matches(cond.signal, known, n=1)
                hint = f" (did you mean {json.dumps(close[0])}?)" if close else ""
                raise _error(source, f"{ckey}.signal", f"{ckey}.signal = {_show(cond.signal)} "
                             f"is not a known signal{hint}", ", ".join(known))
            wrong_side = (cond.off_level > cond.on if cond.op == ">"
                          else cond.off_level < cond.on)
            if wrong_side:
                rule = "off <= on for op '>'" if cond.op == ">" else "off >= on for op '<'"
                raise _error(source, f"{ckey}.off", f"{ckey}.off = {cond.off_level:g} is on "
                             f"the wrong side of {ckey}.on = {cond.on:g}", rule,
                             keys=(f"{ckey}.off", f"{ckey}.on"))
        seen.append(layer.name)


# Re-exported for callers that catch loader errors from this module.
PolicyError = ScenarioError
