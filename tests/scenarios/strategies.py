"""Hypothesis strategies for scenario values, regime chains and whole scenarios."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from hypothesis import strategies as st

from sim.config import (
    SECTIONS,
    BreadthSpec,
    EventSpec,
    MarketModel,
    RegimeChain,
    RegimeParams,
    Scenario,
)
from sim.testing import strategies as _package

# Field strategies and chain helpers shared with the package's own strategies.
INT64_MAX = _package.INT64_MAX
CHARS = _package.CHARS
_int_bounds = _package.int_bounds
in_range = _package.field_values

#: Regime names the loader refuses: keys of [market.regimes] and the word "stationary".
RESERVED_NAMES = frozenset({"names", "transition", "initial", "stress", "params", "stationary"})


def out_of_range(f: dataclasses.Field, ftype: type) -> st.SearchStrategy[Any]:
    """Numbers just or far outside the field's range."""
    meta = f.metadata
    lo, hi = meta.get("lo"), meta.get("hi")
    options = []
    if ftype is int:
        if lo is not None:
            options.append(st.integers(lo - 10**9, lo if meta.get("lo_open") else lo - 1))
        if hi is not None:
            options.append(st.integers(hi if meta.get("hi_open") else hi + 1, hi + 10**9))
    else:
        # The filters drop -0.0 / +0.0 next to a closed bound at 0, which are inside it.
        if lo is not None:
            below = st.floats(max_value=lo, allow_nan=False, allow_infinity=False)
            options.append(below if meta.get("lo_open") else below.filter(lambda v: v < lo))
        if hi is not None:
            above = st.floats(min_value=hi, allow_nan=False, allow_infinity=False)
            options.append(above if meta.get("hi_open") else above.filter(lambda v: v > hi))
    return st.one_of(options)


def as_loaded(ftype: type, value: Any) -> Any:
    """What the loader stores for ``value`` given to a field of type ``ftype``."""
    if ftype is float:
        return float(value)
    if ftype is str and not isinstance(value, str):
        return value.isoformat()  # a TOML date for an ISO-date field
    return value


# ---------------------------------------------------------------------------
# Regime chains
# ---------------------------------------------------------------------------

#: Names that can be written as bare TOML keys (for documents built line by line).
bare_names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda name: name not in RESERVED_NAMES)

#: Any name the loader accepts (quoted TOML keys; for dumps round trips).
any_names = st.text(CHARS, min_size=1, max_size=8).filter(
    lambda name: name.strip() != "" and name not in RESERVED_NAMES)


stochastic_matrices = _package.stochastic_matrices
unique_stationary = _package.unique_stationary


override_fields = [f for f in dataclasses.fields(RegimeParams) if f.name != "name"]


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, float]:
    """A regime's override table: some RegimeParams keys with in-range floats."""
    chosen = draw(st.lists(st.sampled_from(override_fields), max_size=4, unique=True))
    table = {f.name: float(draw(in_range(f, float))) for f in chosen}
    # Keep E[e^{b J_v}] finite (b m < 1) against the default [market], whose b m < 0.
    b, m = table.get("jump_spot_per_variance", -0.5), table.get("jump_variance_mean", 0.04)
    if b * m >= 1:
        table["jump_spot_per_variance"] = -b
    # Keep kappa_Q = kappa - vol_risk_premium > 0 against the default [market] (kappa 4,
    # no premium): a premium >= kappa >= 0 is positive, so its negative is valid.
    kappa, premium = table.get("kappa", 4.0), table.get("vol_risk_premium", 0.0)
    if premium != 0 and not kappa - premium > 0:
        table["vol_risk_premium"] = -premium
    return table


@st.composite
def chains(draw: st.DrawFn, names: st.SearchStrategy[str] = bare_names,
           max_regimes: int = 4) -> dict[str, Any]:
    """The keys of a valid ``[market.regimes]``: names, transition, initial, stress,
    and ``tables``, regime name -> override table (only some regimes have one)."""
    regime_names = tuple(draw(st.lists(names, min_size=1, max_size=max_regimes, unique=True)))
    transition = draw(stochastic_matrices(len(regime_names)))
    initial = draw(st.sampled_from([*regime_names, "stationary"]))
    if initial == "stationary" and not unique_stationary(transition):
        initial = regime_names[0]
    stress = tuple(draw(st.lists(st.sampled_from(regime_names), unique=True)))
    stress = tuple(name for name in regime_names if name in stress)  # any order is valid
    given = draw(st.lists(st.sampled_from(regime_names), unique=True))
    tables = {name: draw(overrides()) for name in regime_names if name in given}
    return {"names": regime_names, "transition": transition, "initial": initial,
            "stress": stress, "tables": tables}


def chain_toml(chain: dict[str, Any], prefix: str = "market.regimes") -> str:
    """TOML text of :func:`chains` output (bare names only)."""
    from tests.scenarios.documents import toml_value

    lines = [f"[{prefix}]"] + [f"{key} = {toml_value(chain[key])}"
                               for key in ("names", "transition", "initial", "stress")]
    for name, table in chain["tables"].items():
        lines += [f"[{prefix}.{name}]", *(f"{k} = {toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Whole valid scenarios
# ---------------------------------------------------------------------------


def _scalar_values(draw: st.DrawFn, cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        ftype = hints[f.name]
        if ftype in (float, int, bool, str):
            values[f.name] = as_loaded(ftype, draw(in_range(f, ftype)))
    return values


def _finite_jumps(b: float, m: float) -> bool:
    return b * m < 1


def _pricing_kappa_positive(kappa: float, premium: float) -> bool:
    return premium == 0 or kappa - premium > 0


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Valid scenarios, every field drawn, with the rules that tie fields together
    obeyed by construction; ``source`` is ``"<string>"``."""
    sections = {name: _scalar_values(draw, cls) for name, cls in SECTIONS.items()}
    condor, smile, vix, market = (sections[k] for k in ("condor", "smile", "vix", "market"))
    condor["dte_min"], condor["dte_max"] = sorted((condor["dte_min"], condor["dte_max"]))
    condor["exit_dte"] = draw(st.integers(0, condor["dte_min"] - 1))
    condor["wing_width"] = 5.0 * draw(st.integers(1, 200))
    smile["max_vol"] = draw(st.floats(min_value=smile["min_vol"], max_value=10.0,
                                      exclude_min=True))
    vix["max_option_vol"] = draw(st.floats(min_value=vix["min_option_vol"], max_value=20.0,
                                           exclude_min=True))
    if not _finite_jumps(market["jump_spot_per_variance"], market["jump_variance_mean"]):
        market["jump_spot_per_variance"] *= -1.0
    if not _pricing_kappa_positive(market["kappa"], market["vol_risk_premium"]):
        market["vol_risk_premium"] *= -1.0  # it was >= kappa >= 0, hence > 0

    chain = draw(chains(names=any_names))
    params = []
    for name, table in chain["tables"].items():
        b = table.get("jump_spot_per_variance", market["jump_spot_per_variance"])
        m = table.get("jump_variance_mean", market["jump_variance_mean"])
        if not _finite_jumps(b, m):
            table = {**table, "jump_spot_per_variance": 0.0}
        if ("kappa" in table or "vol_risk_premium" in table) and not _pricing_kappa_positive(
                table.get("kappa", market["kappa"]),
                table.get("vol_risk_premium", market["vol_risk_premium"])):
            table = {**table, "vol_risk_premium": 0.0}
        params.append(RegimeParams(name=name, **table))
    regimes = RegimeChain(names=chain["names"], transition=chain["transition"],
                          initial=chain["initial"], stress=chain["stress"], params=tuple(params))

    events = _scalar_values(draw, EventSpec)
    events["calendar"] = draw(st.sampled_from(["generated", "none"]))
    breadth = _scalar_values(draw, BreadthSpec)
    if not 0 < len(regimes.stress) < len(regimes.names):
        breadth["divergence_predicts_stress"] = False

    built = {name: cls(**sections[name]) for name, cls in SECTIONS.items() if name != "market"}
    built["market"] = MarketModel(
        **market, regimes=regimes, events=EventSpec(**events), breadth=BreadthSpec(**breadth))
    text = st.text(CHARS, min_size=1, max_size=20).filter(lambda s: s.strip() != "")
    return Scenario(name=draw(text), description=draw(text), source="<string>", **built)
