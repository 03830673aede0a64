"""Hypothesis properties of scenario validation over all fields of sim.config,
nested tables and the regime chain included."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from scenarios import ScenarioError, loads
from sim.config import SECTIONS, allowed_range
from tests.scenarios.documents import (
    FIELDS,
    OVERRIDES,
    SCALARS,
    consistent,
    document,
    loaded_value,
    toml_key,
    toml_value,
)
from tests.scenarios.strategies import (
    CHARS,
    as_loaded,
    chain_toml,
    chains,
    in_range,
    out_of_range,
    override_fields,
)

SOURCE = "prop.toml"

FIELD = {dotted: (f, ftype) for dotted, f, ftype in SCALARS}
BOUNDED = [dotted for dotted, (f, ftype) in FIELD.items() if ftype in (int, float)
           and (f.metadata.get("lo") is not None or f.metadata.get("hi") is not None)]
TYPED = [dotted for dotted, (_, ftype) in FIELD.items() if ftype in (int, float, bool)]


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
    plain = {dotted: as_loaded(FIELD[dotted][1], value) for dotted, value in pairs}
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
        loaded = loaded_value(scenario, dotted)
        assert loaded == as_loaded(ftype, value)
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


text = st.text(CHARS, max_size=5)
wrong_types = {
    float: st.booleans() | text | st.dates() | st.lists(st.floats(0, 1), max_size=2),
    int: st.booleans() | text | st.floats(allow_nan=False, allow_infinity=False)
    | st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=2),
    bool: st.integers(0, 1) | st.floats(0, 1) | st.sampled_from(["true", "false", "yes"])
    | st.lists(st.booleans(), max_size=2),
}
NOUNS = {float: "a number", int: "an integer", bool: "true or false"}


@given(keyed(TYPED, lambda key: wrong_types[FIELD[key][1]]))
def test_values_of_the_wrong_type_name_key_and_type(pair):
    dotted, value = pair
    ftype = FIELD[dotted][1]
    with pytest.raises(ScenarioError) as info:
        loads(document({dotted: value}), SOURCE)
    assert info.value.key == dotted
    assert f"{dotted} = " in str(info.value) and f"allowed: {NOUNS[ftype]}" in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("entry", [e for e in SCALARS if e[2] is float], ids=lambda e: e[0])
def test_non_finite_numbers_are_refused(entry, value):
    dotted, f, _ = entry
    with pytest.raises(ScenarioError, match="is not a finite number") as info:
        loads(document({dotted: value}), SOURCE)
    assert info.value.key == dotted and allowed_range(f) in str(info.value)


# ---------------------------------------------------------------------------
# The regime chain
# ---------------------------------------------------------------------------


@given(chains())
def test_valid_chains_load_as_written(chain):
    scenario = loads(document() + chain_toml(chain), SOURCE)
    regimes = scenario.market.regimes
    assert regimes.names == chain["names"]
    assert regimes.transition == chain["transition"]
    assert regimes.initial == chain["initial"] and regimes.stress == chain["stress"]
    # One override entry per table, in the order of names, holding exactly what was given.
    assert [p.name for p in regimes.params] == list(chain["tables"])
    for params in regimes.params:
        table = chain["tables"][params.name]
        for f in override_fields:
            assert getattr(params, f.name) == table.get(f.name)
    models = scenario.market.regime_models()
    assert len(models) == len(regimes.names)


def _break_row(row: list[float], how: str, column: int) -> list[Any]:
    row = list(row)
    if how == "sum":
        row[column] += 1e-6 if row[column] < 0.5 else -1e-6
    elif how == "negative":
        row[column] = -0.25
    elif how == "above one":
        row[column] = 1.5
    elif how == "short":
        row = row[:-1]
    elif how == "long":
        row = [*row, 0.0]
    elif how == "text":
        row[column] = "0.5"
    elif how == "bool":
        row[column] = True
    elif how == "nan":
        row[column] = math.nan
    return row


@given(chains(), st.sampled_from(["sum", "negative", "above one", "short", "long", "text",
                                  "bool", "nan"]), st.data())
def test_a_broken_row_is_named(chain, how, data):
    n = len(chain["names"])
    i = data.draw(st.integers(0, n - 1), label="row")
    j = data.draw(st.integers(0, n - 1), label="column")
    matrix = [list(row) for row in chain["transition"]]
    matrix[i] = _break_row(matrix[i], how, j)
    with pytest.raises(ScenarioError) as info:
        loads(document() + chain_toml({**chain, "transition": matrix}), SOURCE)
    key = f"market.regimes.transition[{i}]"
    message = str(info.value)
    assert info.value.key == key and message.startswith(f"{SOURCE}: {key} ")
    assert "\n" not in message and "allowed: " in message


@given(chains(), st.integers(0, 3))
def test_a_wrong_number_of_rows_is_refused(chain, extra):
    matrix = [list(row) for row in chain["transition"]]
    matrix = matrix[:-1] if extra == 0 else matrix + [matrix[0]] * extra
    with pytest.raises(ScenarioError) as info:
        loads(document() + chain_toml({**chain, "transition": matrix}), SOURCE)
    assert info.value.key == "market.regimes.transition"
    assert f"{len(chain['names'])} rows" in str(info.value)


@given(chains(), st.text(CHARS, max_size=8))
def test_initial_must_be_a_name_or_stationary(chain, initial):
    assume(initial not in chain["names"] and initial != "stationary")
    with pytest.raises(ScenarioError) as info:
        loads(document() + chain_toml({**chain, "initial": initial}), SOURCE)
    assert info.value.key == "market.regimes.initial"
    assert all(toml_value(name) in str(info.value) for name in chain["names"])


@given(chains(), st.text(CHARS, max_size=8))
def test_stress_must_name_regimes(chain, stranger):
    assume(stranger not in chain["names"])
    with pytest.raises(ScenarioError) as info:
        loads(document() + chain_toml({**chain, "stress": (*chain["stress"], stranger)}), SOURCE)
    assert info.value.key == "market.regimes.stress"


@given(chains(), st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8))
def test_a_table_for_an_unknown_regime_lists_the_names(chain, stranger):
    assume(stranger not in chain["names"] and stranger not in
           {"names", "transition", "initial", "stress"})
    text = document() + chain_toml(chain) + f"[market.regimes.{stranger}]\ntheta = 0.04\n"
    with pytest.raises(ScenarioError) as info:
        loads(text, SOURCE)
    assert info.value.key == f"market.regimes.{stranger}"
    assert all(toml_value(name) in str(info.value) for name in chain["names"])


@given(chains(), st.floats(1.0, 20.0), st.floats(0.05, 4.0), st.booleans(), st.data())
def test_each_regime_keeps_jump_moments_finite(chain, b, m, only_b, data):
    assume(b * m >= 1)
    name = data.draw(st.sampled_from(chain["names"]), label="regime")
    table = {"jump_spot_per_variance": b} if only_b else {"jump_spot_per_variance": b,
                                                           "jump_variance_mean": m}
    market = {} if not only_b else {"market.jump_variance_mean": m,
                                    "market.jump_spot_per_variance": 0.0}
    # Other regimes take the jump loading from [market]; only `name` breaks the rule.
    neutral = {regime: {k: v for k, v in t.items()
                        if k not in ("jump_spot_per_variance", "jump_variance_mean")}
               for regime, t in chain["tables"].items()}
    chain = {**chain, "tables": {**neutral, name: table}}
    with pytest.raises(ScenarioError) as info:
        loads(document(market) + chain_toml(chain), SOURCE)
    keys = (f"market.regimes.{name}.jump_spot_per_variance",
            f"market.regimes.{name}.jump_variance_mean")
    assert info.value.keys == keys and all(key in str(info.value) for key in keys)
    assert ("(from market.jump_variance_mean)" in str(info.value)) == only_b


# ---------------------------------------------------------------------------
# Unknown keys, in every table, with any characters
# ---------------------------------------------------------------------------

TABLES = ["", "market", "market.regimes", "market.regimes.normal", "market.events",
          "market.breadth", "smile", "vix", "condor", "simulation"]
KNOWN = ({"name", "description", *SECTIONS, "market.regimes", "market.events",
          "market.breadth", "market.regimes.normal"}
         | {dotted for dotted, _, _ in FIELDS} | {dotted for dotted, _, _ in OVERRIDES})


@given(st.sampled_from(TABLES), st.text(CHARS, min_size=1, max_size=8))
def test_unknown_keys_are_named_on_one_line(table, key):
    dotted = f"{table}.{key}" if table else key
    assume(dotted not in KNOWN)
    line = f"{toml_key(key)} = 1\n"
    text = document() + f"[{table}]\n" + line if table else line + document()
    with pytest.raises(ScenarioError) as info:
        loads(text, SOURCE)
    assert info.value.key == dotted
    assert len(str(info.value).splitlines()) == 1 and str(info.value).startswith(SOURCE)
