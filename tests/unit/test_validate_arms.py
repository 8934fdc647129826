"""Validation of the sites' arms: ``arm`` and ``pilot_start`` (docs/data-model.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cohort.delivery.load import load
from cohort.delivery.validate import validate_delivery

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"


def delivery_with_sites(tmp_path: Path, lines: list[str]) -> Path:
    folder = tmp_path / "delivery"
    shutil.copytree(VALID, folder)
    (folder / "sites.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_a_delivery_without_arms_is_all_pilot(tmp_path):
    d = load(VALID, cache_dir=False)
    assert d.sites["arm"].tolist() == ["pilot", "pilot"]
    assert d.sites["pilot_start"].isna().all()


def test_empty_arm_means_pilot_and_arms_are_kept(tmp_path):
    folder = delivery_with_sites(
        tmp_path,
        [
            "site,name,delivery_start,delivery_end,arm,pilot_start",
            "AMS,Amsterdam-Amstelland,2023-01-01,2024-12-31,,2023-04-01",
            "UTR,Utrecht,2023-01-01,2024-06-30,comparison,",
        ],
    )
    d = load(folder, cache_dir=False)
    assert d.sites.set_index("site")["arm"].to_dict() == {"AMS": "pilot", "UTR": "comparison"}
    assert d.sites.set_index("site")["pilot_start"].to_dict()["AMS"] == pd.Timestamp("2023-04-01")


@pytest.mark.parametrize(
    ("row", "column", "rule", "value"),
    [
        # a comparison site works in regular care: no start of the new way
        ("UTR,Utrecht,2023-01-01,2024-06-30,comparison,2023-06-01", "pilot_start",
         "pilot_start_for_comparison", "2023-06-01"),
        # the start lies in the delivery period (bounds included, see the next tests)
        ("UTR,Utrecht,2023-01-01,2024-06-30,pilot,2022-12-31", "pilot_start",
         "pilot_start_outside_delivery", "2022-12-31"),
        ("UTR,Utrecht,2023-01-01,2024-06-30,pilot,2024-07-01", "pilot_start",
         "pilot_start_outside_delivery", "2024-07-01"),
        # an arm outside the list is not shown (it is free text)
        ("UTR,Utrecht,2023-01-01,2024-06-30,control,", "arm", "allowed_values", None),
        ("UTR,Utrecht,2023-01-01,2024-06-30,pilot,2023-02-30", "pilot_start", "invalid_date", None),
    ],
)
def test_arm_rules_name_file_row_column_and_rule(tmp_path, row, column, rule, value):
    folder = delivery_with_sites(
        tmp_path,
        [
            "site,name,delivery_start,delivery_end,arm,pilot_start",
            "AMS,Amsterdam-Amstelland,2023-01-01,2024-12-31,pilot,2023-01-01",
            row,
        ],
    )
    report = validate_delivery(folder)
    v = report.violations
    hit = v[(v["file"] == "sites.csv") & (v["rule"] == rule)]
    assert hit[["row", "column"]].values.tolist() == [[3, column]]
    assert hit["severity"].tolist() == ["error"]
    shown = hit["value"].iloc[0]
    assert (pd.isna(shown) if value is None else shown == value)
    if value is None and rule == "allowed_values":
        assert "control" not in hit["message"].iloc[0]
    # the rejected site takes its households and their rows along
    acc = report.accounting.set_index("table")
    assert acc.loc["sites", "rows_rejected"] == 1
    assert acc.loc["households", "rows_rejected"] > 0
    assert (acc["rows_read"] == acc["rows_accepted"] + acc["rows_rejected"]).all()


@pytest.mark.parametrize("start", ["2023-01-01", "2024-06-30"])
def test_pilot_start_on_the_delivery_bounds_is_fine(tmp_path, start):
    folder = delivery_with_sites(
        tmp_path,
        [
            "site,name,delivery_start,delivery_end,arm,pilot_start",
            "AMS,Amsterdam-Amstelland,2023-01-01,2024-12-31,pilot,2023-01-01",
            f"UTR,Utrecht,2023-01-01,2024-06-30,pilot,{start}",
        ],
    )
    assert validate_delivery(folder).ok
