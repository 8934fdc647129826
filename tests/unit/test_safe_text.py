"""Safe text: formula cells neutralised in released tables, never the input changed."""

from __future__ import annotations

import pandas as pd

from cohort.disclosure.check import check_table
from cohort.disclosure.policy import DisclosurePolicy
from cohort.disclosure.safe_text import PREFIX, formula_mask, neutralise_frame


def test_neutralise_frame_changes_text_cells_and_names_only():
    table = pd.DataFrame(
        {"site": ["AMS", "=HYPERLINK(1)", "@x"], "=n": [12, -3, 40], "change": [-0.5, 1.0, 2.0]}
    )
    table.attrs["disclosure"] = {"applied": True}
    before = table.copy()
    out, changed = neutralise_frame(table)
    assert changed == 3  # two cells and one column name
    assert out["site"].tolist() == ["AMS", PREFIX + "=HYPERLINK(1)", PREFIX + "@x"]
    assert list(out.columns) == ["site", PREFIX + "=n", "change"]
    assert out[PREFIX + "=n"].tolist() == [12, -3, 40]  # numbers stay numbers
    assert out.attrs == table.attrs
    pd.testing.assert_frame_equal(table, before)  # the input is untouched


def test_neutralised_cells_pass_the_check():
    raw = pd.DataFrame({"label": ["=cmd|' /C calc'!A0", "ok"], "n": ["12", "40"]})
    assert [f.rule for f in check_table(raw, "t.csv", DisclosurePolicy())] == ["formula"]
    safe, _ = neutralise_frame(raw)
    assert check_table(safe, "t.csv", DisclosurePolicy()) == []
    assert not formula_mask(safe["label"].to_numpy()).any()
