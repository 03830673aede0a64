"""Fuzzing the scenario and policy loaders with random TOML documents.

Whatever the input - random nested tables and arrays, unicode keys and
strings, huge, tiny, NaN and infinite numbers, wrong types at every level,
missing required keys, text that is not TOML, files that are not UTF-8,
empty files, folders, missing files - ``scenarios.loads`` and
``scenarios.policy_loader.loads_policy`` end in exactly one of two ways:

- a valid object that survives a write/read round trip
  (``loads(dumps(s)) == s``, ``loads_policy(dumps_policy(p)) == p``), or
- one :class:`scenarios.ScenarioError` whose message is one line that starts
  with the source, contains the dotted key when one is involved, and says
  what is allowed.

Any other exception is a bug of the loader. Documents are built two ways:
entirely at random, and by mutating valid documents (the shipped presets
and policies, and every-field documents written by the writers), which is
what reaches the deep checks.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scenarios
from scenarios import ScenarioError, loads
from scenarios.policy_loader import POLICIES_DIR, load_policy, loads_policy
from scenarios.writer import dumps_policy, toml_key, toml_value
from sim.config import Scenario

# Characters str.splitlines() breaks on: a message must show them escaped.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# Lone surrogates cannot be written in a UTF-8 file.
CHARS = st.characters(exclude_categories=["Cs"])
INT64 = 2**63 - 1

#: Examples per fuzzing property; ``ALVH_FUZZ_EXAMPLES=20000 pytest ...`` for a long hunt.
EXAMPLES = int(os.environ.get("ALVH_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------
# Writing any document as TOML (inline tables, so any nesting is one line)
# ---------------------------------------------------------------------------


def toml_text(document: dict[str, Any]) -> str:
    """A whole document: one ``key = value`` line per top-level key."""
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in document.items())


# ---------------------------------------------------------------------------
# Random values and documents
# ---------------------------------------------------------------------------

keys = st.text(CHARS, max_size=12) | st.sampled_from(
    ["name", "description", "market", "regimes", "names", "transition", "initial", "layers",
     "trigger", "conditions", "signal", "on", "off", "normal", "calm", "budget", "kappa"])
extreme_floats = st.sampled_from([
    math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, -5e-324, 1e-300, 1.7976931348623157e308,
    -1.7976931348623157e308, 1e16, 0.1, 0.5, 1.0, 2.0, -1.0, 1e-12])
numbers = (st.integers(-INT64 - 1, INT64) | st.sampled_from([0, 1, -1, 2, 5, 7, 30, INT64])
           | st.floats() | extreme_floats)
scalars = (numbers | st.booleans() | st.text(CHARS, max_size=20)
           | st.sampled_from(["", " ", "vix", "stationary", "generated", "none", "2025-01-02",
                              "score", "all", "base", "vix_call", "\u2028", "é\x00"])
           | st.dates() | st.datetimes() | st.times())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
random_documents = st.dictionaries(keys, values, max_size=6)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location inside a document (dict keys and list indices)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += _paths(child, (*prefix, i))
    return found


def _parent(document: Any, path: tuple) -> Any:
    node = document
    for step in path[:-1]:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid document with one to four random edits: delete, replace, add, or
    swap in a value of another kind (a table for a number, a number for a table...)."""
    import copy

    document = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(_paths(document)))
        action = draw(st.sampled_from(["delete", "replace", "add", "extreme", "empty"]))
        if not where:
            action = "add"
        if action == "add":
            node = document if not where else _parent(document, where)[where[-1]]
            if isinstance(node, dict):
                node[draw(keys)] = draw(values)
            elif isinstance(node, list):
                node.append(draw(values))
            continue
        parent, last = _parent(document, where), where[-1]
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(values)
        elif action == "extreme":
            parent[last] = draw(extreme_floats | st.integers(-INT64 - 1, INT64))
        else:
            parent[last] = draw(st.sampled_from([{}, [], "", [{}], [[]]]))
    return document


def _scenario_bases() -> list[dict[str, Any]]:
    texts = [path.read_text(encoding="utf-8")
             for path in sorted(scenarios.loader.PRESETS_DIR.glob("*.toml"))]
    # Every field written out, with a four-regime chain and regime tables.
    texts.append(scenarios.dumps(scenarios.load("calibrated"), comments=False))
    texts.append(scenarios.dumps(Scenario(name="x", description="y"), comments=False))
    return [tomllib.loads(text) for text in texts]


def _policy_bases() -> list[dict[str, Any]]:
    texts = [path.read_text(encoding="utf-8") for path in sorted(POLICIES_DIR.glob("*.toml"))]
    texts += [dumps_policy(load_policy(path.stem)) for path in sorted(POLICIES_DIR.glob("*.toml"))]
    return [tomllib.loads(text) for text in texts]


SCENARIO_BASES = _scenario_bases()
POLICY_BASES = _policy_bases()
sources = st.sampled_from(["fuzz.toml", "<string>", "dir/with space/é.toml"]) | st.text(
    CHARS, min_size=1, max_size=12)


# ---------------------------------------------------------------------------
# The outcome every input must have
# ---------------------------------------------------------------------------


def one_line(text: str) -> str:
    return text.translate({ord(ch): ch.encode("unicode_escape").decode("ascii")
                           for ch in LINE_BREAKS})


def check_error(error: ScenarioError, source: str) -> None:
    """One line naming the source, the key (when there is one) and what is allowed."""
    message = str(error)
    assert len(message.splitlines()) == 1, message
    assert message.startswith(one_line(source) + ": "), message
    assert error.path == source
    assert "; allowed: " in message, message
    if error.key is not None:
        assert one_line(error.key) in message, (error.key, message)
        assert error.key in error.keys
    assert all(one_line(key) in message for key in error.keys), message


def outcome(load: Any, text: str, source: str) -> Any:
    """The loaded object, or None after checking the ScenarioError; anything else fails."""
    try:
        return load(text, source)
    except ScenarioError as error:
        check_error(error, source)
        return None


def check_scenario_text(text: str, source: str) -> None:
    scenario = outcome(loads, text, source)
    if scenario is not None:
        assert isinstance(scenario, Scenario) and scenario.source == source
        assert loads(scenarios.dumps(scenario), source) == scenario


def check_policy_text(text: str, source: str) -> None:
    policy = outcome(loads_policy, text, source)
    if policy is not None:
        assert policy.source == source
        assert loads_policy(dumps_policy(policy), source) == policy


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


@given(random_documents)
def test_the_document_writer_of_these_tests_is_sound(document):
    """Sanity check of the fuzzer: what it writes, tomllib reads back as written."""
    text = toml_text(document)
    assert toml_text(tomllib.loads(text)) == text


@FUZZ
@given(random_documents, sources)
def test_random_documents_load_or_raise_one_clear_error(document, source):
    check_scenario_text(toml_text(document), source)
    check_policy_text(toml_text(document), source)


@FUZZ
@given(mutated(SCENARIO_BASES), sources)
def test_mutated_scenarios_load_or_raise_one_clear_error(document, source):
    check_scenario_text(toml_text(document), source)


@FUZZ
@given(mutated(POLICY_BASES), sources)
def test_mutated_policies_load_or_raise_one_clear_error(document, source):
    check_policy_text(toml_text(document), source)


@FUZZ
@given(st.text(CHARS | st.sampled_from(list('[]{}="\'.,#\n\\')), max_size=80))
def test_any_text_loads_or_raises_one_clear_error(text):
    check_scenario_text(text, "text.toml")
    check_policy_text(text, "text.toml")


@pytest.mark.parametrize("which", ["scenario", "policy"])
@pytest.mark.parametrize("required", ["name", "description"])
def test_missing_required_keys_are_named(which, required):
    base = SCENARIO_BASES[0] if which == "scenario" else POLICY_BASES[0]
    document = {k: v for k, v in base.items() if k != required}
    load = loads if which == "scenario" else loads_policy
    with pytest.raises(ScenarioError) as info:
        load(toml_text(document), "x.toml")
    check_error(info.value, "x.toml")
    assert info.value.key == required and "is missing" in str(info.value)


@pytest.mark.parametrize("text", [
    "", "\n", "# only a comment\n", "\ufeffname = \"x\"\n", "name = \"x\"\r\ndescription = 1\r\n",
    "a = 1\na = 2\n", "[market]\n[market]\n", "x = \"\\ud800\"\n", "name = \"\x00\"\n",
    "name = 1" + "0" * 5000 + "\n", "name = [" * 2000 + "]" * 2000 + "\n",
    "name = {" * 300 + "}" * 300 + "\n",
    # Nested deep enough to have exhausted the stack: in tomllib, and in the message.
    'name = "x"\ndescription = "y"\n[market]\nrho = ' + "[" * 450 + "]" * 450 + "\n",
    'name = "x"\ndescription = "y"\nlayers = [' + "{a = " * 450 + "1" + "}" * 450 + "]\n",
], ids=lambda text: repr(text[:20]))
def test_odd_texts_raise_one_clear_error(text):
    for load in (loads, loads_policy):
        with pytest.raises(ScenarioError) as info:
            load(text, "odd.toml")
        check_error(info.value, "odd.toml")


# ---------------------------------------------------------------------------
# Files: empty, not UTF-8, folders, missing, odd names
# ---------------------------------------------------------------------------

LOADERS = {"scenario": scenarios.load, "policy": load_policy}


def _raises_clear_error(load: Any, path: Any) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load(path)
    check_error(info.value, info.value.path)
    return info.value


@pytest.mark.parametrize("which", list(LOADERS))
@pytest.mark.parametrize("content, fragment", [
    (b"", "name is missing"),
    (b"\xff\xfe\x00n\x00a\x00m\x00e", "not UTF-8"),
    (b'name = "caf\xe9"\n', "not UTF-8"),
    (b"\x00\x01\x02", "invalid TOML"),
    (b"\xef\xbb\xbf", "name is missing"),
])
def test_bad_files_raise_one_clear_error(tmp_path, which, content, fragment):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    error = _raises_clear_error(LOADERS[which], path)
    assert error.path == str(path) and fragment in str(error)


@pytest.mark.parametrize("which", list(LOADERS))
def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path, which):
    path = tmp_path / "bom.toml"
    source = scenarios.preset_path("default") if which == "scenario" else POLICIES_DIR / "alvh.toml"
    path.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    loaded = LOADERS[which](path)
    assert dataclasses.replace(loaded, source="") == dataclasses.replace(
        LOADERS[which](source), source="")


@pytest.mark.parametrize("which", list(LOADERS))
def test_folders_and_missing_files_raise_one_clear_error(tmp_path, which):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    assert "cannot read" in str(_raises_clear_error(LOADERS[which], folder))
    assert "cannot read" in str(_raises_clear_error(LOADERS[which], str(folder)))
    missing = tmp_path / "missing" / "x.toml"
    assert "no such" in str(_raises_clear_error(LOADERS[which], missing))
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    _raises_clear_error(LOADERS[which], loop)


@pytest.mark.parametrize("which", list(LOADERS))
@pytest.mark.parametrize("name", [
    "", ".", "..", "a\x00b", "a\x00b.toml", "x" * 5000, "x" * 5000 + ".toml", "/",
    "nested/" * 3 + "x.toml", "\udcff.toml", "\udcff", "é" * 300, "\n", "con", "-",
], ids=lambda name: repr(name[:12]))
def test_odd_names_raise_one_clear_error(which, name):
    error = _raises_clear_error(LOADERS[which], name)
    assert len(str(error).splitlines()) == 1


@pytest.mark.parametrize("which", list(LOADERS))
def test_pathlike_objects_are_files(tmp_path, which):
    error = _raises_clear_error(LOADERS[which], Path(tmp_path / "absent"))
    assert "no such" in str(error)


# ---------------------------------------------------------------------------
# Round trips of the writers over mutated valid documents
# ---------------------------------------------------------------------------


@FUZZ
@given(mutated(POLICY_BASES))
def test_every_policy_that_loads_round_trips_through_dumps_policy(document):
    policy = outcome(loads_policy, toml_text(document), "p.toml")
    if policy is not None:
        again = loads_policy(dumps_policy(policy), "<dumped>")
        assert dataclasses.replace(again, source=policy.source) == policy
