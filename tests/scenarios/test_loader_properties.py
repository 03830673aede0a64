"""Hypothesis properties of scenario validation over all fields of sim.config."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenarios import ScenarioError, loads
from sim.config import allowed_range
from tests.scenarios.documents import FIELDS, consistent, document

SOURCE = "prop.toml"
INT64_MAX = 2**63 - 1  # TOML integers are 64-bit


def _int_bounds(meta: dict[str, Any]) -> tuple[int, int]:
    """Smallest and largest integer inside the field's range (clipped to int64)."""
    lo, hi = meta["lo"], meta["hi"]
    low = -INT64_MAX if lo is None else math.floor(lo) + 1 if meta["lo_open"] else math.ceil(lo)
    high = INT64_MAX if hi is None else math.ceil(hi) - 1 if meta["hi_open"] else math.floor(hi)
    return max(low, -INT64_MAX), min(high, INT64_MAX)


def in_range(f: dataclasses.Field, ftype: type) -> st.SearchStrategy[Any]:
    """Values a TOML file may give for field ``f``."""
    meta = f.metadata
    if ftype is str:
        if meta["unit"] == "ISO date":
            return st.dates() | st.dates().map(lambda day: day.isoformat())
        return st.text()
    low, high = _int_bounds(meta)
    integers = st.integers(low, high) if low <= high else st.nothing()
    if ftype is int:
        return integers
    floats = st.floats(
        min_value=meta["lo"], max_value=meta["hi"],
        exclude_min=meta["lo"] is not None and meta["lo_open"],
        exclude_max=meta["hi"] is not None and meta["hi_open"],
        allow_nan=False, allow_infinity=False,
    )
    return floats | integers  # TOML writers often give whole numbers as integers


def out_of_range(f: dataclasses.Field, ftype: type) -> st.SearchStrategy[Any]:
    """Numbers just or far outside the field's range."""
    meta = f.metadata
    lo, hi = meta["lo"], meta["hi"]
    options = []
    if ftype is int:
        if lo is not None:
            options.append(st.integers(lo - 10**9, lo if meta["lo_open"] else lo - 1))
        if hi is not None:
            options.append(st.integers(hi if meta["hi_open"] else hi + 1, hi + 10**9))
    else:
        # The filters drop -0.0 / +0.0 next to a closed bound at 0, which are inside it.
        if lo is not None:
            below = st.floats(max_value=lo, allow_nan=False, allow_infinity=False)
            options.append(below if meta["lo_open"] else below.filter(lambda v: v < lo))
        if hi is not None:
            above = st.floats(min_value=hi, allow_nan=False, allow_infinity=False)
            options.append(above if meta["hi_open"] else above.filter(lambda v: v > hi))
    return st.one_of(options)


def _expected(ftype: type, value: Any) -> Any:
    if ftype is float:
        return float(value)
    if ftype is str and not isinstance(value, str):
        return value.isoformat()  # a TOML date for an ISO-date field
    return value


def _loaded(scenario: Any, dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(scenario, section), key)


FIELD = {dotted: (f, ftype) for dotted, f, ftype in FIELDS}
BOUNDED = [dotted for dotted, (f, _) in FIELD.items()
           if f.metadata["lo"] is not None or f.metadata["hi"] is not None]
NUMERIC = [dotted for dotted, (_, ftype) in FIELD.items() if ftype in (int, float)]


def keyed(keys: list[str], values: Any) -> st.SearchStrategy[tuple[str, Any]]:
    """(dotted key, value) with the key drawn from ``keys``, the value from ``values(key)``."""
    return st.sampled_from(keys).flatmap(lambda key: st.tuples(st.just(key), values(key)))


overrides_in_range = st.lists(
    keyed(list(FIELD), lambda key: in_range(*FIELD[key])),
    min_size=1, max_size=4, unique_by=lambda pair: pair[0],
)


@given(overrides_in_range)
def test_values_in_range_load_and_round_trip(pairs):
    overrides = dict(pairs)
    text = document(overrides)
    plain = {dotted: _expected(FIELD[dotted][1], value) for dotted, value in pairs}
    if not consistent(plain):
        # Only a rule tying fields together may refuse in-range values, naming its keys.
        with pytest.raises(ScenarioError) as info:
            loads(text, SOURCE)
        assert set(info.value.keys) & set(overrides)
        assert all(key in str(info.value) for key in info.value.keys)
        return
    scenario = loads(text, SOURCE)
    for dotted, value in pairs:
        ftype = FIELD[dotted][1]
        loaded = _loaded(scenario, dotted)
        assert loaded == _expected(ftype, value)
        assert type(loaded) is ftype


@given(keyed(BOUNDED, lambda key: out_of_range(*FIELD[key])))
def test_values_out_of_range_name_key_and_range(pair):
    dotted, value = pair
    f = FIELD[dotted][0]
    with pytest.raises(ScenarioError) as info:
        loads(document({dotted: value}), SOURCE)
    message = str(info.value)
    assert info.value.key == dotted
    assert message.startswith(f"{SOURCE}: {dotted} = ")
    assert message.endswith(f"; allowed: {allowed_range(f)}")


# Lone surrogates cannot be written in a TOML file.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=5)
wrong_types = {
    float: st.booleans() | text | st.dates() | st.lists(st.floats(0, 1), max_size=2),
    int: st.booleans() | text | st.floats(allow_nan=False, allow_infinity=False)
    | st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=2),
}


@given(keyed(NUMERIC, lambda key: wrong_types[FIELD[key][1]]))
def test_values_of_the_wrong_type_name_key_and_type(pair):
    dotted, value = pair
    ftype = FIELD[dotted][1]
    with pytest.raises(ScenarioError) as info:
        loads(document({dotted: value}), SOURCE)
    noun = "a number" if ftype is float else "an integer"
    assert info.value.key == dotted
    assert f"{dotted} = " in str(info.value) and f"allowed: {noun}" in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("entry", [e for e in FIELDS if e[2] is float], ids=lambda e: e[0])
def test_non_finite_numbers_are_refused(entry, value):
    dotted, f, _ = entry
    with pytest.raises(ScenarioError, match="is not a finite number") as info:
        loads(document({dotted: value}), SOURCE)
    assert info.value.key == dotted and allowed_range(f) in str(info.value)
