"""Disclosure control: exact boundaries, rounding, secondary suppression, ratios, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohort.disclosure.cells import apply_disclosure, protect_cells
from cohort.disclosure.policy import (
    DEFAULT_POLICY,
    NO_DISCLOSURE_CONTROL,
    SUPPRESSED,
    SUPPRESSION_THRESHOLD,
    TOTAL,
    DisclosurePolicy,
)
from cohort.disclosure.writer import ReleaseFolder, released_csv
from cohort.exceptions import DisclosureError, ParameterError, ReportError


def counts_table(values):
    return pd.DataFrame({"cell": [f"c{i}" for i in range(len(values))], "count": values})


# --- primary suppression at the threshold ---------------------------------------------


def test_default_threshold_is_the_cbs_rule():
    assert SUPPRESSION_THRESHOLD == 10
    assert (
        DEFAULT_POLICY.threshold == 10
        and DEFAULT_POLICY.enabled
        and DEFAULT_POLICY.rounding is None
    )


@pytest.mark.parametrize(
    ("n", "suppressed"), [(0, True), (1, True), (9, True), (10, False), (11, False)]
)
def test_boundary_at_ten(n, suppressed):
    out = apply_disclosure(counts_table([n]))
    assert bool(out.loc[0, "suppressed"]) is suppressed
    assert bool(out["count"].isna().iloc[0]) is suppressed
    if not suppressed:
        assert out.loc[0, "count"] == n


@pytest.mark.parametrize(("n", "suppressed"), [(6, True), (7, False), (8, False)])
def test_boundary_at_a_custom_threshold(n, suppressed):
    out = apply_disclosure(counts_table([n]), DisclosurePolicy(threshold=7))
    assert bool(out.loc[0, "suppressed"]) is suppressed


def test_suppressed_cell_is_never_shown_as_zero():
    out = apply_disclosure(counts_table([0, 3, 50]))
    assert out["count"].isna().tolist() == [True, True, False]
    assert (out["count"].dropna() != 0).all()
    text = released_csv(out)
    assert text.splitlines()[1:] == [
        f"c0,{SUPPRESSED},true",
        f"c1,{SUPPRESSED},true",
        "c2,50,false",
    ]


# --- rounding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "shown"), [(10, 10), (11, 10), (12, 10), (13, 15), (17, 15), (18, 20), (1234, 1235)]
)
def test_rounding_to_five(n, shown):
    out = apply_disclosure(counts_table([n]), DisclosurePolicy(rounding=5))
    assert out.loc[0, "count"] == shown


def test_rounding_does_not_rescue_a_small_cell():
    # 9 would round to 10, but it rests on 9 units: suppressed, not shown as 10.
    out = apply_disclosure(counts_table([9]), DisclosurePolicy(rounding=5))
    assert out["count"].isna().all()


def test_vectorised_rounding_matches_the_scalar_rule():
    policy = DisclosurePolicy(rounding=5)
    values = np.arange(0, 200)
    assert policy.round_counts(values).tolist() == [policy.round_count(v) for v in values]
    assert NO_DISCLOSURE_CONTROL.round_counts(values).tolist() == values.tolist()


# --- secondary suppression ------------------------------------------------------------


def sites(values, total=None):
    total = sum(values) if total is None else total
    labels = [f"S{i}" for i in range(len(values))]
    return pd.DataFrame({"site": [*labels, TOTAL], "count": [*values, total]})


def test_one_small_site_takes_the_next_smallest_with_it():
    out = apply_disclosure(sites([40, 12, 5, 30]), group_columns=["site"])
    assert out["suppressed"].tolist() == [False, True, True, False, False]
    assert out.loc[4, "count"] == 87  # the total stays: two unknowns cannot be separated


def test_two_small_sites_need_nothing_more():
    out = apply_disclosure(sites([40, 8, 5, 30]), group_columns=["site"])
    assert out["suppressed"].tolist() == [False, True, True, False, False]


def test_without_a_total_row_there_is_no_margin_to_protect():
    out = apply_disclosure(sites([40, 12, 5, 30]).iloc[:4], group_columns=["site"])
    assert out["suppressed"].tolist() == [False, False, True, False]


def test_margins_are_protected_per_table_in_a_long_table():
    t = pd.concat(
        [sites([40, 12, 5]).assign(indicator="a"), sites([40, 12, 15]).assign(indicator="b")],
        ignore_index=True,
    )
    out = apply_disclosure(t, group_columns=["site"], by=["indicator"])
    assert out.loc[out["indicator"] == "a", "suppressed"].tolist() == [False, True, True, False]
    assert not out.loc[out["indicator"] == "b", "suppressed"].any()


def test_two_way_table_with_margins():
    # site x has_children with both margins; one small cell (5) must not be recoverable
    # from its row total nor from its column total.
    rows = []
    cells = {("A", "yes"): 50, ("A", "no"): 5, ("B", "yes"): 40, ("B", "no"): 20}
    for (s, c), v in cells.items():
        rows.append((s, c, v))
    for s in ("A", "B"):
        rows.append((s, TOTAL, cells[(s, "yes")] + cells[(s, "no")]))
    for c in ("yes", "no"):
        rows.append((TOTAL, c, cells[("A", c)] + cells[("B", c)]))
    rows.append((TOTAL, TOTAL, sum(cells.values())))
    t = pd.DataFrame(rows, columns=["site", "has_children", "count"])
    out = apply_disclosure(t, group_columns=["site", "has_children"])
    sup = out.set_index(["site", "has_children"])["suppressed"]
    assert sup[("A", "no")]
    # every relation (a row or a column with its total) has 0 or at least 2 suppressed cells
    for other in ("has_children", "site"):
        for _, block in out.groupby(other):
            assert block["suppressed"].sum() != 1, block
    # the grand total is never needed
    assert not sup[(TOTAL, TOTAL)]


def test_subset_and_its_complement_are_protected():
    # registrations 30, of which 25 without children: the 5 with children follow by subtraction.
    counts = np.array([30, 25, 5])
    relations = (np.zeros(3, int), np.arange(3))
    virtual = np.array([False, False, True])
    assert protect_cells(counts, relations, virtual=virtual).tolist() == [False, True, False]
    # a large complement may be worked out: nothing to do
    counts = np.array([60, 25, 35])
    assert protect_cells(counts, relations, virtual=virtual).tolist() == [False, False, False]


def test_derived_cells_are_followed_through_several_relations():
    # cells: 0=a (shown 50), 1=b (shown 12), 2=c (hidden, derivable 38 = a - b),
    # 3=d (shown 40), 4=e (small, 2 = d - c). c is not shown but follows from relation 1,
    # so e would follow from relation 2: something in relation 2 must go as well.
    counts = np.array([50, 12, 38, 40, 2])
    rel = np.array([0, 0, 0, 1, 1, 1])
    cell = np.array([0, 1, 2, 3, 2, 4])
    virtual = np.array([False, False, True, False, False])
    out = protect_cells(counts, (rel, cell), virtual=virtual)
    assert out[4] and out[3]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=8))
def test_no_margin_relation_is_left_with_a_single_suppressed_cell(values):
    out = apply_disclosure(sites(values), group_columns=["site"])
    assert out["suppressed"].sum() != 1
    released = out.loc[~out["suppressed"], "count"]
    assert (released >= 10).all()


# --- ratios and derived values --------------------------------------------------------


def test_ratio_with_a_suppressed_part_is_suppressed():
    t = pd.DataFrame(
        {"numerator": [5, 50, 20], "denominator": [100, 8, 40], "value": [0.05, 6.25, 0.5]}
    )
    out = apply_disclosure(t, count_columns=["numerator", "denominator"], value_columns=["value"])
    assert out["suppressed"].tolist() == [True, True, False]
    assert out["value"].isna().tolist() == [True, True, False]
    # the part that is safe stays
    assert out.loc[0, "denominator"] == 100 and pd.isna(out.loc[0, "numerator"])
    lines = released_csv(out).splitlines()
    assert lines[1] == f"{SUPPRESSED},100,{SUPPRESSED},true"


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([-1, 20], "0 or more"),
        ([2.5, 20], "whole numbers"),
        ([np.nan, 20], "missing"),
        (["a", "b"], "whole-number"),
    ],
)
def test_bad_counts_are_refused(values, message):
    with pytest.raises(DisclosureError, match=message):
        apply_disclosure(counts_table(values))


def test_missing_column_and_identifiers_are_refused():
    with pytest.raises(DisclosureError, match="no column"):
        apply_disclosure(counts_table([20]), count_columns=["n"])
    with pytest.raises(DisclosureError, match="identifier"):
        apply_disclosure(pd.DataFrame({"household_id": ["x"], "count": [20]}))
    with pytest.raises(DisclosureError, match="DataFrame"):
        apply_disclosure([1, 2, 3])


@pytest.mark.parametrize(
    "kwargs", [{"threshold": 0}, {"threshold": True}, {"threshold": 2.5}, {"rounding": 0}]
)
def test_bad_policy(kwargs):
    with pytest.raises(ParameterError):
        DisclosurePolicy(**kwargs)


def test_a_missing_policy_is_not_off():
    with pytest.raises(ParameterError, match="NO_DISCLOSURE_CONTROL"):
        apply_disclosure(counts_table([20]), None)


def test_protect_cells_checks_its_input():
    with pytest.raises(DisclosureError):
        protect_cells([[1, 2]])
    with pytest.raises(DisclosureError):
        protect_cells([1, 2], (np.array([0, 0]), np.array([0, 5])))
    with pytest.raises(DisclosureError):
        protect_cells([1, 2], virtual=[True])


# --- switching off is explicit and recorded -------------------------------------------


def test_switching_off_is_recorded():
    out = apply_disclosure(counts_table([3, 50]), NO_DISCLOSURE_CONTROL)
    assert out["count"].tolist() == [3, 50]
    record = out.attrs["disclosure"]
    assert record["enabled"] is False and record["applied"] is False
    assert "not for release" in record["warning"]
    with pytest.raises(DisclosureError, match="switched off"):
        released_csv(out)
    assert released_csv(out, allow_unprotected=True).splitlines()[1] == "c0,3,false"


def test_on_is_recorded_too():
    out = apply_disclosure(counts_table([3, 50]), DisclosurePolicy(rounding=5))
    record = out.attrs["disclosure"]
    assert record == {
        "threshold": 10,
        "rounding": 5,
        "enabled": True,
        "applied": True,
        "count_columns": ["count"],
        "value_columns": [],
        "suppressed_cells": 1,
        "marker": SUPPRESSED,
    }


def test_input_is_not_changed():
    t = sites([40, 12, 5, 30])
    before = t.copy()
    apply_disclosure(t, group_columns=["site"])
    pd.testing.assert_frame_equal(t, before)


def test_unprotected_tables_cannot_be_written(tmp_path):
    with pytest.raises(DisclosureError, match="not passed disclosure control"):
        released_csv(counts_table([50]))
    gate = ReleaseFolder(tmp_path, DisclosurePolicy())
    with pytest.raises(DisclosureError, match="never passed disclosure control"):
        gate.release(pd.DataFrame({"total": [3, 41]}), "totals")
    assert not (tmp_path / "tables").exists()


def test_an_exemption_is_recorded_with_its_reason(tmp_path):
    gate = ReleaseFolder(tmp_path, DisclosurePolicy())
    gate.release(pd.DataFrame({"rule": ["date_order"]}), "rules", exemption="rule names only")
    record = gate.records()["tables/rules.csv"]
    assert record["exemption"] == "rule names only" and record["disclosure"] is None
    with pytest.raises(DisclosureError, match="never passed"):
        gate.release(pd.DataFrame({"total": [3]}), "blank", exemption="  ")


def test_the_gate_refuses_identifier_columns_and_a_second_release(tmp_path):
    gate = ReleaseFolder(tmp_path, DisclosurePolicy())
    table = apply_disclosure(counts_table([50]))
    with pytest.raises(DisclosureError, match="identifier column 'household_id'"):
        gate.release(table.assign(household_id="SYN-1"), "ids")
    gate.release(table, "once")
    with pytest.raises(ReportError, match="released twice"):
        gate.release(table, "once")


def test_written_release_is_byte_identical(tmp_path):
    t = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-12-31", "2024-12-31"]),
            "site": ["A", TOTAL],
            "count": [25, 25],
            "share": [1 / 3, 0.25],
        }
    )
    for name in ("a", "b"):
        out = apply_disclosure(t, group_columns=["site"], value_columns=["share"])
        ReleaseFolder(tmp_path, DisclosurePolicy()).release(out, name)
    a = (tmp_path / "tables" / "a.csv").read_bytes()
    assert a == (tmp_path / "tables" / "b.csv").read_bytes()
    assert a.decode().splitlines()[1] == "2024-12-31,A,25,0.3333333333,false"


def test_records_survive_concatenation():
    from cohort.disclosure.cells import concat

    parts = [apply_disclosure(counts_table(c)) for c in ([3, 50], [4, 60, 70])]
    out = concat([p.assign(part=i) for i, p in enumerate(parts)], ignore_index=True)
    record = out.attrs["disclosure"]
    assert record["suppressed_cells"] == 2 and record["count_columns"] == ["count"]
    with pytest.raises(DisclosureError, match="no disclosure record"):
        concat([parts[0], counts_table([5])])


# --- an earlier release: forced and public cells --------------------------------------

ONE_RELATION = (np.zeros(3, int), np.arange(3))  # cell 0 = cell 1 + cell 2


def test_a_forced_cell_is_suppressed_at_any_count_and_protected():
    # 10 is safe on its own, but an earlier release suppressed it: it stays suppressed,
    # and the smaller of the other two goes too (else 10 = 30 - 20).
    out = protect_cells([30, 20, 10], ONE_RELATION, forced=[False, False, True])
    assert out.tolist() == [False, True, True]
    assert protect_cells([30, 20, 10], ONE_RELATION).tolist() == [False, False, False]


def test_a_public_cell_is_never_a_secondary_suppression():
    # 9 is small; 21 would be the secondary, but the reader has 21 already: the total goes.
    assert protect_cells([30, 21, 9], ONE_RELATION).tolist() == [False, True, True]
    out = protect_cells([30, 21, 9], ONE_RELATION, public=[False, True, False])
    assert out.tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("new", "suppressed"),
    [(34, True), (35, False)],  # a difference of 9 (< 10) or exactly 10
)
def test_a_cross_release_difference_at_the_threshold(new, suppressed):
    # Cell 0: a value an earlier release showed (not in this table, known); cell 1: this
    # release's count a quarter later; cell 2: the difference, a count of new units.
    counts = [25, new, new - 25]
    out = protect_cells(
        counts,
        ONE_RELATION,
        virtual=[True, False, True],
        public=[True, False, False],
    )
    assert out.tolist() == [False, suppressed, False]


def test_a_small_public_cell_is_still_suppressed_but_known():
    # Primary suppression is never relaxed; the reader knows the 9 from the earlier
    # release, so hiding 21 as well would protect nothing.
    out = protect_cells([30, 21, 9], ONE_RELATION, public=[False, False, True])
    assert out.tolist() == [False, False, True]


def test_a_relation_revealed_by_the_earlier_release_is_left_alone():
    # 30 and 21 are both out already: nothing in this table can hide 9 = 30 - 21.
    out = protect_cells([30, 21, 9], ONE_RELATION, public=[True, True, False])
    assert out.tolist() == [False, False, True]


def test_forced_and_public_are_checked():
    with pytest.raises(DisclosureError, match="both forced"):
        protect_cells([30, 21, 9], ONE_RELATION, forced=[True, False, False], public=[True, False, False])
    with pytest.raises(DisclosureError, match="forced must be a boolean array"):
        protect_cells([30, 21, 9], ONE_RELATION, forced=[True])
    with pytest.raises(DisclosureError, match="public must be a boolean array"):
        protect_cells([30, 21, 9], ONE_RELATION, public=[True, False])


def test_apply_disclosure_takes_forced_and_public_per_row_or_per_cell():
    table = sites([40, 12, 5, 30])  # S0..S3 and the total 87
    plain = apply_disclosure(table, group_columns=["site"])
    assert plain["suppressed"].tolist() == [False, True, True, False, False]
    # S1 (12) was released before: S3 (30) is the secondary instead.
    public = apply_disclosure(
        table, group_columns=["site"], public=[False, True, False, False, False]
    )
    assert public["suppressed"].tolist() == [False, False, True, True, False]
    assert public.loc[1, "count"] == 12
    # S0 (40) was suppressed before: with S2 that makes two unknowns, S1 may stay.
    forced = apply_disclosure(
        table, group_columns=["site"], forced=np.array([[True], [False], [False], [False], [False]])
    )
    assert forced["suppressed"].tolist() == [True, False, True, False, False]
    with pytest.raises(DisclosureError, match="one flag per row"):
        apply_disclosure(table, group_columns=["site"], forced=[True, False])
