"""Spec: the disclosure rules of docs/disclosure.md, each at its boundary.

Every rule is a tiny table with the expected verdict per row: the protection range of the
attack audit, the zero rule, the workbench minimum and its explicit lowering, formula
cells, and which columns the release check reads as counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.disclosure.check import column_roles
from cohort.disclosure.policy import (
    MINIMUM_THRESHOLD,
    curve_start_rows,
    disclosure_settings,
    interval_protected,
    protected_zeros,
)
from cohort.disclosure.safe_text import formula_mask, neutralise
from cohort.exceptions import ParameterError

# --- the protection range ---------------------------------------------------------------
# (lower, upper) a reader can infer -> protected? threshold 10, width 10

PROTECTION = [
    ((0, 9), False),  # a sum of suppressed cells below 10 is known
    ((0, 10), True),  # eleven possible values: as good as a count of 10
    ((3, 12), False),  # width 9
    ((3, 13), True),
    ((9, 9), False),  # exact and small
    ((10, 10), True),  # exact but releasable anyway
    ((12, 14), True),  # known to be at least 10
    ((0, np.inf), True),
]


@pytest.mark.parametrize(("interval", "protected"), PROTECTION)
def test_protection_range(interval, protected):
    lo, hi = interval
    assert interval_protected(np.array([lo]), np.array([hi]), 10).tolist() == [protected]


def test_a_wider_protection_width():
    assert interval_protected(np.array([0, 0]), np.array([14, 15]), 10, width=15).tolist() == [False, True]


# --- the zero rule ------------------------------------------------------------------------
# a curve: (time, n_event) -> protected zero?

CURVE = pd.DataFrame(
    {
        "time": ["0", "30", "95", "0", "40"],
        "n_event": ["0", "12", "0", "0", "10"],
        "expected": [False, False, True, False, False],  # two curves, each starting at 0
    }
)


def test_zeros_are_protected_except_at_the_start_of_a_curve():
    start = curve_start_rows(CURVE["time"])
    assert protected_zeros(CURVE["n_event"], structural=start).tolist() == CURVE["expected"].tolist()


def test_declared_structural_zeros_and_suppressed_cells():
    values = ["0", "0", "[suppressed]", "", "4"]
    assert protected_zeros(values, structural=[True, False, False, False, False]).tolist() == [
        False, True, False, False, False,
    ]


# --- the workbench minimum -------------------------------------------------------------------
# disclosure mapping of a parameter file -> threshold in force, or the error


MINIMUM = [
    ({}, 10),
    ({"threshold": 10}, 10),
    ({"threshold": 15}, 15),
    ({"threshold": 9}, "below the workbench minimum 10"),
    ({"threshold": 1}, "below the workbench minimum 10"),
    ({"threshold": 9, "lower_minimum": "agreed with CBS for this pilot"}, 9),
    ({"threshold": 10, "lower_minimum": "no need"}, "not below the minimum"),
    ({"threshold": 5, "lower_minimum": ""}, "a reason in words"),
    ({"threshold": 5, "lower_minimum": 3}, "a reason in words"),
    ({"threshold": 10, "protection_width": 0}, "protection_width"),
    ({"threshold": 10, "colour": "red"}, "unknown key 'colour'"),
]


@pytest.mark.parametrize(("mapping", "expected"), MINIMUM)
def test_the_minimum_and_its_explicit_lowering(mapping, expected):
    assert MINIMUM_THRESHOLD == 10
    if isinstance(expected, int):
        settings = disclosure_settings(mapping, source="p.yaml")
        assert settings.policy.threshold == expected
        assert settings.as_dict()["minimum"] == 10
        assert settings.as_dict()["lower_minimum"] == mapping.get("lower_minimum")
    else:
        with pytest.raises(ParameterError, match=expected):
            disclosure_settings(mapping, source="p.yaml")


# --- formula cells ---------------------------------------------------------------------------

FORMULAS = [
    ("=1+1", True),
    ('=HYPERLINK("http://x","AMS")', True),
    ("+31 10 1234567", True),
    ("-A1", True),
    ("@SUM(A1)", True),
    ("\tcmd", True),
    ("\rcmd", True),
    ("  =1", True),  # spaces first: still a formula in some spreadsheets
    ("\uff1d1+1", True),  # a full-width equals sign
    ("-3", False),  # numbers are numbers
    ("+5", False),
    ("-0.25", False),
    ("-3,5", False),  # decimal comma
    ("1e-3", False),
    ("-", False),  # a lone dash runs nothing
    ("a-b", False),
    ("AMS", False),
    ("", False),
]


@pytest.mark.parametrize(("text", "formula"), FORMULAS)
def test_formula_cells(text, formula):
    assert formula_mask([text]).tolist() == [formula]
    out = neutralise(pd.Series([text], dtype=object)).iloc[0]
    assert out == ("'" + text if formula else text)


# --- which columns are counts ----------------------------------------------------------------
# column name, values, manifest role -> role the check gives it

COLUMNS = [
    ("aantal", ["12", "4"], None, "count"),
    ("value", ["105", "0"], None, "count"),
    ("value", ["0.12", "0.5"], None, "value"),
    ("households", ["12", "4"], "value", "count"),  # the manifest cannot exempt a count
    ("jaar", ["2023", "2024"], None, "axis"),
    ("jaar", ["1990", "2100"], None, "axis"),
    ("jaar", ["1989", "2024"], None, "count"),  # no year
    ("year", ["3", "2024"], None, "count"),
    ("quarter", ["1", "4"], None, "axis"),
    ("quarter", ["1", "5"], None, "count"),
    ("", ["1", "2"], None, "axis"),  # row numbers
    ("", ["1", "3"], None, "count"),
    ("time", ["0", "30"], None, "axis"),  # a time axis that never decreases
    ("time", ["30", "0"], None, "count"),
    ("df", ["1", "7"], None, "count"),  # without a manifest a statistic is checked
    ("df", ["1", "7"], "value", "value"),
    ("score", ["6", "7"], "value", "value"),
    ("n", ["[suppressed]", "[suppressed]"], None, "count"),
    ("n", ["12", "-3"], None, "value"),  # negative: not a count
    ("n", ["12", "<10"], None, "count"),
    ("label", ["AMS", "UTR"], None, "text"),
]


@pytest.mark.parametrize(("name", "values", "declared", "role"), COLUMNS)
def test_count_like_columns(name, values, declared, role):
    frame = pd.DataFrame({name: values}, dtype=object)
    assert column_roles(frame, {name: declared} if declared else None)[name] == role
