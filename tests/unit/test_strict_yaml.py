"""Strict YAML: no anchors or aliases, no duplicate keys, bounded depth and size, short errors."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from cohort.exceptions import DeliveryError, ParameterError
from cohort.strict_yaml import MAX_BYTES, MAX_DEPTH, load_yaml, short


def _load(text, **kwargs):
    return load_yaml(text, source="f.yaml", error=ParameterError, **kwargs)


def test_plain_documents_load_and_dates_can_stay_text():
    assert _load("a: 1\nb: [x, y]\nc: {d: 2024-12-31}\n") == {
        "a": 1, "b": ["x", "y"], "c": {"d": dt.date(2024, 12, 31)}
    }
    assert _load("d: 2024-12-31\n", dates_as_text=True) == {"d": "2024-12-31"}
    assert _load("") is None


@pytest.mark.parametrize(
    "text",
    ["a: &x 1\nb: *x\n", "a: &x [1]\n", "base: &b {k: 1}\nother:\n  <<: *b\n", "a: *undefined\n"],
    ids=["alias", "anchor", "merge", "undefined"],
)
def test_anchors_and_aliases_are_refused(text):
    with pytest.raises(ParameterError, match=r"f.yaml line \d+, column \d+: .*\(rule: yaml_alias\)"):
        _load(text)


def test_an_alias_bomb_is_refused_before_it_expands():
    bomb = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n"
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        bomb += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    with pytest.raises(ParameterError) as info:
        _load(bomb)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("text", "where"),
    [("a: 1\na: 2\n", "line 2, column 1: key 'a' appears twice (first on line 1)"),
     ("m:\n  k: 1\n  j: 2\n  k: 3\n", "line 4, column 3: key 'k' appears twice (first on line 2)")],
)
def test_duplicate_keys_are_refused_with_both_lines(text, where):
    with pytest.raises(ParameterError, match=re.escape(f"f.yaml {where}")):
        _load(text)


def test_depth_and_size_are_bounded():
    with pytest.raises(ParameterError, match="yaml_depth"):
        _load("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert _load("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None
    with pytest.raises(ParameterError, match="yaml_size"):
        _load(b"a: 1\n" + b"#" * MAX_BYTES)


def test_errors_never_quote_the_document():
    with pytest.raises(DeliveryError) as info:
        load_yaml("secret-value: [\n", source="c.yaml", error=DeliveryError)
    assert "secret-value" not in str(info.value) and "(rule: yaml_syntax)" in str(info.value)
    with pytest.raises(ParameterError) as info:
        _load("x: !!python/object/apply:os.system ['rm -rf ~']\n")
    assert "rm -rf" not in str(info.value) and "os.system" not in str(info.value)
    with pytest.raises(ParameterError, match="not UTF-8"):
        _load(b"a: \xff\n")


def test_short_cuts_long_values():
    assert short("abc") == "'abc'"
    assert len(short(list(range(10_000)))) == 60
    assert short(list(range(10_000))).endswith("...]")
