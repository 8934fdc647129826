"""Declared columns (columns.yaml): types, checks, and what a declaration may not do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cohort.delivery.columns import TYPES, parse_declarations, read_declarations
from cohort.delivery.load import load
from cohort.delivery.validate import validate_delivery
from cohort.exceptions import DeliveryError

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"


def test_every_type_maps_to_a_column_kind():
    decl = parse_declarations({"households": {f"c_{t}": t for t in TYPES}})
    kinds = {c.name: (c.kind, c.free_text, c.required, c.nullable) for c in decl["households"]}
    assert kinds["c_text"] == ("str", True, False, True)
    assert kinds["c_code"][0] == "cat" and kinds["c_integer"][0] == "int"
    assert kinds["c_number"][0] == "float" and kinds["c_boolean"][0] == "bool"
    assert kinds["c_date"][0] == "date"
    assert decl["episodes"] == ()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"clients": {"x": "text"}}, "'clients' is not a table of the data model"),
        ({"households": {"site": "text"}}, "households.site is a column of the data model"),
        ({"households": {"x": "txt"}}, "households.x: type must be one of"),
        ({"households": {"x": {"type": "text", "colour": 1}}}, "has unknown key 'colour'"),
        ({"households": {"x": {"type": "text", "values": ["a"]}}}, "for columns of type code"),
        ({"households": {"x": {"type": "code", "values": []}}}, "non-empty list"),
        ({"households": {"x": {"type": "code", "values": ["a", "a"]}}}, "lists a code twice"),
        ({"households": {"X": "text", "x": "text"}}, "households.x is declared twice"),
        ({"households": {"111222333": "integer"}}, "looks like a direct identifier"),
        ({"households": ["x"]}, "must map column names"),
        (["households"], "must map table names"),
    ],
)
def test_bad_declarations_name_table_column_and_rule(values, message):
    with pytest.raises(DeliveryError, match="rule: declaration") as info:
        parse_declarations(values)
    assert message in str(info.value)
    assert "111222333" not in str(info.value)


def test_the_file_is_read_strictly():
    with pytest.raises(DeliveryError, match=r"columns.yaml line 3.*duplicate_key"):
        read_declarations(b"households:\n  a: text\n  a: code\n")
    with pytest.raises(DeliveryError, match="yaml_alias"):
        read_declarations(b"households:\n  a: &t text\n  b: *t\n")


def _delivery(tmp_path, declarations: str, column: str, values: list[str]) -> Path:
    import pandas as pd

    folder = tmp_path / "d"
    shutil.copytree(VALID, folder)
    frame = pd.read_csv(folder / "episodes.csv", dtype=str, keep_default_na=False)
    frame[column] = (values * len(frame))[: len(frame)]
    frame.to_csv(folder / "episodes.csv", index=False)
    (folder / "columns.yaml").write_text(declarations, encoding="utf-8")
    return folder


def test_declared_columns_are_typed_and_checked_as_declared(tmp_path):
    folder = _delivery(tmp_path, "episodes:\n  team:\n    type: code\n    values: [a, b]\n",
                       "team", ["a", "b", "c"])
    v = validate_delivery(folder).violations
    assert set(v.loc[v["column"] == "team", "rule"]) == {"allowed_values"}
    folder = _delivery(tmp_path / "2", "episodes:\n  visits: integer\n", "visits", ["1", "2", "x"])
    v = validate_delivery(folder).violations
    assert set(v.loc[v["column"] == "visits", "rule"]) == {"invalid_integer"}
    folder = _delivery(tmp_path / "3", "episodes:\n  intake: date\n", "intake",
                       ["2023-03-01", "2199-01-01", ""])
    v = validate_delivery(folder).violations
    assert "implausible_date" in set(v.loc[v["column"] == "intake", "rule"])


def test_declared_columns_are_kept_in_order_and_change_the_fingerprint(tmp_path):
    folder = _delivery(tmp_path, "episodes:\n  team: code\n  visits: integer\n", "team", ["a"])
    first = load(folder, cache_dir=tmp_path / "cache")
    assert list(first.episodes.columns)[-2:] == ["team", "visits"]
    assert first.episodes["visits"].isna().all() and str(first.episodes["visits"].dtype) == "Int64"
    (folder / "columns.yaml").write_text("episodes:\n  team: text\n", encoding="utf-8")
    second = load(folder, cache_dir=tmp_path / "cache")
    assert not second.from_cache and second.fingerprint != first.fingerprint
