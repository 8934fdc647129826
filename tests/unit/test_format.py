"""Report formatting: Dutch and English conventions for the same table."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohort.exceptions import CohortError
from cohort.report.format import (
    format_date,
    format_frame,
    format_number,
    infer_roles,
    suppression_footnote,
    suppression_marker,
    term_label,
)


@pytest.mark.parametrize(
    ("value", "role", "nl", "en"),
    [
        (19973, "count", "19.973", "19,973"),
        (1234567, "count", "1.234.567", "1,234,567"),
        (0, "count", "0", "0"),
        (0.1204, "share", "12,0%", "12.0%"),
        (1.0, "share", "100,0%", "100.0%"),
        (0.0004, "share", "0,0%", "0.0%"),
        (0.001, "p", "0,001", "0.001"),
        (0.000999, "p", "< 0,001", "< 0.001"),
        (0.0, "p", "< 0,001", "< 0.001"),
        (2.216724523e-26, "p", "< 0,001", "< 0.001"),
        (0.4987, "p", "0,499", "0.499"),
        (1.0, "p", "1,000", "1.000"),
        (-0.0001, "value", "-0,0001", "-0.0001"),
        (108.0601233, "value", "108", "108"),
        (4.68268777, "value", "4,68", "4.68"),
        (dt.date(2024, 12, 31), "date", "31 december 2024", "31 December 2024"),
        ("2026-06-30", "date", "30 juni 2026", "30 June 2026"),
        (pd.Timestamp("2024-03-01"), "date", "1 maart 2024", "1 March 2024"),
        ("AMS", "group", "AMS", "AMS"),
    ],
)
def test_a_cell_follows_the_report_language(value, role, nl, en):
    assert format_number(value, role, "nl") == nl
    assert format_number(value, role, "en") == en


def test_a_small_value_is_not_rounded_away_and_never_reads_minus_zero():
    assert format_number(-0.001, "value", "nl", decimals=2) == "-0,0010"
    assert format_number(-0.00001, "value", "nl", decimals=2) == "0,0000"
    assert format_number(0.0, "value", "en", decimals=2) == "0.00"


def test_dates_inside_text_cells_are_written_out():
    frame = pd.DataFrame({"period": ["2023-01-01 to 2024-12-31"], "n": [4]})
    assert format_frame(frame, {"period": "key"}, "en").loc[0, "period"] == "1 January 2023 to 31 December 2024"


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), st.sampled_from(["value", "count", "share", "p"]))
def test_no_e_notation_and_the_number_reads_back(value, role):
    for language, group, point in (("nl", ".", ","), ("en", ",", ".")):
        text = format_number(value, role, language)
        assert "e" not in text.lower() and "inf" not in text.lower()
        if role == "value":
            back = float(text.replace(group, "").replace(point, "."))
            assert abs(back - value) <= max(0.5, abs(value) * 0.005)


def test_suppressed_cells_read_as_one_marker_with_a_footnote():
    frame = pd.DataFrame(
        {
            "time": [0, 30, 60],
            "n_risk": ["441", "<10", "[suppressed]"],
            "survival": [1.0, 0.9758, pd.NA],
            "suppressed": [False, False, True],
        }
    )
    out = format_frame(frame.drop(columns="suppressed"), {"time": "count", "n_risk": "count"}, "nl",
                       suppressed=frame["suppressed"])
    assert out["n_risk"].tolist() == ["441", "x", "x"]
    assert out["survival"].tolist() == ["100,0%", "97,6%", "x"]
    assert suppression_marker("en") == "[c]"
    assert "10 households" in suppression_footnote("en", 10)
    assert suppression_footnote("nl", 10).startswith("x = niet getoond")
    assert "minder dan 10 huishoudens" in suppression_footnote("nl", 10)


def test_an_empty_cell_outside_a_suppressed_row_stays_empty():
    frame = pd.DataFrame({"kind": ["count"], "value": [105], "ci_lower": [pd.NA], "suppressed": [False]})
    out = format_frame(frame, {"kind": "group"}, "en")
    assert out.loc[0, "ci_lower"] == ""


def test_the_same_table_in_both_languages():
    frame = pd.DataFrame(
        {
            "wave": ["T1", "T2"],
            "n_pairs": [1706, 269],
            "mean_change": [0.6402266289, 1.3866171],
            "p": [1.655738512e-32, 0.0421],
            "interval_end": pd.to_datetime(["2024-12-31", "2025-03-31"]),
        }
    )
    nl = format_frame(frame, None, "nl")
    en = format_frame(frame, None, "en")
    assert nl.to_dict("records") == [
        {"wave": "T1", "n_pairs": "1.706", "mean_change": "0,64", "p": "< 0,001", "interval_end": "31 december 2024"},
        {"wave": "T2", "n_pairs": "269", "mean_change": "1,39", "p": "0,042", "interval_end": "31 maart 2025"},
    ]
    assert en.loc[0, "n_pairs"] == "1,706" and en.loc[1, "interval_end"] == "31 March 2025"
    assert frame["n_pairs"].tolist() == [1706, 269]  # the input is not changed


def test_one_number_of_decimals_per_value_column():
    frame = pd.DataFrame({"estimate": [4.3287, 1.4192, -0.2335, 0.1717]})
    assert format_frame(frame, {"estimate": "value"}, "en")["estimate"].tolist() == [
        "4.329", "1.419", "-0.234", "0.172",
    ]
    fixed = format_frame(frame, {"estimate": "value"}, "en", decimals={"estimate": 2})
    assert fixed["estimate"].tolist() == ["4.33", "1.42", "-0.23", "0.17"]


def test_rows_of_the_monitor_say_whether_their_value_is_a_count_or_a_share():
    frame = pd.DataFrame(
        {"indicator": ["households_involved", "households_with_measure_share", "legal_measures_share"],
         "kind": ["count", "proportion", "ratio"],
         "value": [1653, 0.1204, 0.1204]}
    )
    out = format_frame(frame, {"indicator": "key", "kind": "group", "value": "value"}, "nl")
    assert out["value"].tolist() == ["1.653", "12,0%", "0,120"]


def test_roles_from_column_names():
    roles = infer_roles(["n_households", "rows_rejected", "proportion", "p", "previous_date", "term", "hr"])
    assert roles == {"n_households": "count", "rows_rejected": "count", "proportion": "share", "p": "p",
                     "previous_date": "date", "term": "key", "hr": "value"}


def test_bad_role_and_language_are_refused():
    with pytest.raises(ValueError, match="unknown column role 'money'"):
        format_number(1, "money", "nl")
    with pytest.raises(CohortError, match="language 'de' is not supported"):
        format_number(1, "count", "de")
    with pytest.raises(CohortError):
        format_date(dt.date(2024, 1, 1), "fr")


@pytest.mark.parametrize(
    ("term", "nl", "en"),
    [
        ("site[T.FLE]", "proeftuin FLE", "site FLE"),
        ("C(site)[T.ZWL]", "proeftuin ZWL", "site ZWL"),
        ("severity[T.low]", "ernst: laag", "severity: low"),
        ("sd(Intercept | household)", "SD van het intercept tussen huishoudens", "SD of the intercept between households"),
        ("sd(residual)", "SD van het residu (binnen huishoudens)", "residual SD (within households)"),
        ("years_since_registration", "jaren sinds aanmelding", "years since registration"),
        ("level_change", "niveauverandering", "level change"),
    ],
)
def test_model_terms_are_written_out(term, nl, en):
    assert term_label(term, "nl") == nl
    assert term_label(term, "en") == en
