"""Spec: the release rules of docs/definitions.md ("Disclosure control"), each at its boundary.

A paragraph per rule: a tiny table, and the released value (or the finding of the release
check) expected for every row, with threshold 10 and the rows placed on both sides of it.
The protection range, the zero rule, the workbench minimum, formula cells and the column
roles are in ``test_disclosure_rules.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.disclosure.cells import apply_disclosure
from cohort.disclosure.check import check_release, errors, record_release
from cohort.disclosure.curves import numbers_at_risk_table, release_km_table
from cohort.disclosure.ledger import LEDGER_ENV, ReleaseContext
from cohort.disclosure.policy import SUPPRESSED, DisclosurePolicy, disclosure_settings
from cohort.disclosure.protect import apply_suppressions
from cohort.disclosure.tables import release_proportion_table
from cohort.stats.kaplan_meier import KaplanMeier

NA = pd.NA
S = SUPPRESSED


@pytest.fixture(autouse=True)
def _no_ledger_from_the_environment(monkeypatch):
    monkeypatch.delenv(LEDGER_ENV, raising=False)


DEFAULT = DisclosurePolicy()


def released(values, policy=DEFAULT, **kwargs):
    out = apply_disclosure(pd.DataFrame({"n": values}), policy, count_columns=["n"], **kwargs)
    return out["n"].tolist()


# --- primary suppression: fewer than 10 units ----------------------------------------------


def test_a_count_below_the_threshold_is_suppressed_and_zero_with_it():
    assert released([0, 1, 9, 10, 11]) == [NA, NA, NA, 10, 11]


def test_a_raised_threshold():
    assert released([14, 15], DisclosurePolicy(threshold=15)) == [NA, 15]


# --- rounding: half up to the multiple ----------------------------------------------------------


@pytest.mark.parametrize(
    ("rounding", "counts", "expected"),
    [
        (5, [10, 12, 13, 17, 18], [10, 10, 15, 15, 20]),
        (10, [14, 15, 25], [10, 20, 30]),  # a half goes up
    ],
)
def test_released_counts_are_rounded_half_up(rounding, counts, expected):
    assert released(counts, DisclosurePolicy(threshold=10, rounding=rounding)) == expected


# --- secondary suppression: a total must not give a suppressed part away ------------------------


@pytest.mark.parametrize(
    ("b", "expected"),
    [
        (9, [40, NA, NA, 64]),  # B suppressed; C, the smallest other part, too
        (10, [40, 10, 15, 65]),  # nothing to protect
    ],
)
def test_a_margin_never_leaves_one_suppressed_part(b, expected):
    table = pd.DataFrame({"site": ["A", "B", "C", "all"], "n": [40, b, 15, 55 + b]})
    out = apply_disclosure(table, count_columns=["n"], group_columns=["site"])
    assert out["n"].tolist() == expected


# --- shares: numerator and complement together --------------------------------------------------


def test_a_share_is_suppressed_when_its_numerator_or_complement_is_small():
    table = pd.DataFrame({"g": ["a", "b", "c", "d"], "x": [9, 10, 40, 41], "n": [50, 50, 50, 50]})
    out = release_proportion_table(table, "x", "n", DisclosurePolicy(), by=["g"])
    assert out["x"].tolist() == [NA, 10, 40, NA]
    assert out["x_complement"].tolist() == [NA, 40, 10, NA]
    assert out["proportion"].isna().tolist() == [True, False, False, True]


# --- curves: steps on at least 10 events, while at least 10 are at risk --------------------------


def km_of(groups):
    """A Kaplan-Meier fit of (time, events, censored) triples."""
    time = np.concatenate([np.full(e + c, t, dtype=float) for t, e, c in groups])
    event = np.concatenate([np.r_[np.ones(e, int), np.zeros(c, int)] for _, e, c in groups])
    return KaplanMeier().fit(pd.DataFrame({"t": time, "e": event}), "t", "e")


def test_events_are_pooled_into_steps_of_at_least_ten():
    # 4 + 5 events (9) are no step; the step is released at day 3, where 10 are complete
    table = release_km_table(km_of([(1, 4, 0), (2, 5, 0), (3, 1, 0), (4, 6, 0), (50, 0, 14)]), DisclosurePolicy())
    assert table[["time", "n_event"]].values.tolist() == [[0.0, 0], [3.0, 10]]


@pytest.mark.parametrize(("left_after_day_1", "steps"), [(13, [0.0, 1.0, 3.0]), (12, [0.0, 1.0])])
def test_a_curve_ends_where_fewer_than_ten_are_at_risk(left_after_day_1, steps):
    # after the first step, 3 + 7 events complete the next at day 3, where 10 (or 9) are at risk
    rest = left_after_day_1 - 10
    km = km_of([(1, 10, 0), (2, 3, 0), (3, 7, 0), (50, 0, rest)])
    assert km.table_.loc[km.table_["time"] == 3.0, "n_risk"].item() == left_after_day_1 - 3
    assert release_km_table(km, DisclosurePolicy())["time"].tolist() == steps


def test_numbers_at_risk_follow_the_cell_rule():
    tab = pd.DataFrame({"time": [10.0, 20.0, 30.0, 40.0], "n_risk": [11, 10, 9, 1]})
    out = numbers_at_risk_table(tab, [10, 20, 30, 40, 50], DisclosurePolicy())
    assert out["n_risk"].tolist() == [11, 10, NA, NA, NA]  # 9, 1 and the 0 after the end


# --- further suppressions chosen by the build (the attack audit) ---------------------------------


def test_a_further_suppression_blanks_the_cell_and_its_values():
    table = apply_disclosure(pd.DataFrame({"site": ["A", "B", "all"], "n": [40, 30, 70], "share": [0.57, 0.43, 1.0]}),
                             count_columns=["n"], group_columns=["site"], value_columns=["share"])
    out = apply_suppressions(table, [(2, "n")])
    assert out["n"].tolist() == [40, NA, 70]
    assert out["share"].isna().tolist() == [False, True, False]
    assert out["suppressed"].tolist() == [False, True, False]


# --- the release ledger: protected against every earlier release ---------------------------------


def report(folder: Path, table: str, sites, reference_date="2024-12-31") -> Path:
    (folder / "tables").mkdir(parents=True)
    provenance = {"report": folder.name, "parameters": {
        "sites": list(sites), "study_start": "2023-01-01", "reference_date": reference_date,
        "disclosure": {"threshold": 10, "rounding": None, "enabled": True}}}
    (folder / "provenance.json").write_text(json.dumps(provenance), encoding="utf-8")
    (folder / "tables" / "t.csv").write_text(table, encoding="utf-8")
    return folder


def derivable(found):
    return sorted({f.message.split(":")[0] for f in found if f.rule == "derivable-cell"})


@pytest.mark.parametrize(("utr", "found"), [(9, True), (10, False)])
def test_nested_site_sets_across_releases(tmp_path, utr, found):
    """All sites (UTR and ZEE suppressed, 20 together), then all but ZEE: its total gives
    UTR exactly. Exact and below 10 is derivable; exactly 10 (and ZEE 10) is releasable."""
    reports = tmp_path / "reports"
    everyone = report(reports / "interim", f"site,aantal\nAMS,40\nUTR,{S}\nZEE,{S}\nall,60\n", ["AMS", "UTR", "ZEE"])
    record_release(everyone, ReleaseContext("interim", sites=("AMS", "UTR", "ZEE"), reference_date="2024-12-31"),
                   disclosure_settings({}), ledger=reports / ".ledger")
    subset = report(reports / "interim-no-zee", f"site,aantal\nall,{40 + utr}\n", ["AMS", "UTR"])
    assert errors(check_release(subset, ledger=False)) == []  # alone it gives nothing away
    findings = errors(check_release(subset))
    assert bool(derivable(findings)) is found
    if found:
        assert any("sites UTR" in f.message and f"as {utr}" in f.message for f in findings)


@pytest.mark.parametrize(("new", "found"), [(9, True), (10, False)])
def test_consecutive_quarters_of_a_cumulative_count(tmp_path, new, found):
    header = "indicator,kind,interval_start,interval_end,site,numerator,denominator,value,suppressed\n"
    reports = tmp_path / "reports"
    q4 = report(reports / "q4", header + "households_involved,count,2024-10-01,2024-12-31,all,1653,,1653,false\n",
                ["AMS"])
    record_release(q4, ReleaseContext("q4", sites=("AMS",), reference_date="2024-12-31"), disclosure_settings({}),
                   ledger=reports / ".ledger")
    q1 = report(reports / "q1", header + f"households_involved,count,2025-01-01,2025-03-31,all,{1653 + new},,"
                f"{1653 + new},false\n", ["AMS"], reference_date="2025-03-31")
    assert bool(derivable(errors(check_release(q1)))) is found
