"""Indicators: the vectorised counting agrees with the per-unit definitions; input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohort.definitions.dates import to_date
from cohort.definitions.episodes import (
    activity_spells,
    clip_to_reference,
    first_registration,
    households_active_on,
    in_study,
    inactive_spells,
)
from cohort.exceptions import DefinitionError, DeliveryError, ParameterError
from cohort.monitor.indicators import (
    INDICATORS,
    TOTAL,
    check_intervals,
    count_on_dates,
    counted_units,
    indicator_counts,
    indicator_table,
    prepare,
    quarterly_intervals,
)

S, R = "2023-01-01", "2024-12-31"


def random_delivery(seed=0, n_households=400):
    """A random delivery with several, overlapping and pre-study episodes and measures."""
    rng = np.random.default_rng(seed)
    hh = pd.DataFrame(
        {
            "household_id": pd.array([f"H{i:04d}" for i in range(n_households)], dtype="string"),
            "site": pd.array(rng.choice(["A", "B", "C"], n_households), dtype="string"),
            "has_children": pd.array(rng.random(n_households) < 0.8, dtype="boolean"),
        }
    )
    n_ep = int(n_households * 1.4)
    owner = rng.integers(0, n_households, n_ep)
    reg = pd.Timestamp("2022-07-01") + pd.to_timedelta(rng.integers(0, 1000, n_ep), "D")
    closure = reg + pd.to_timedelta(rng.integers(0, 400, n_ep), "D")
    closure = closure.where(rng.random(n_ep) < 0.75)
    ep = pd.DataFrame(
        {
            "episode_id": pd.array([f"E{i:05d}" for i in range(n_ep)], dtype="string"),
            "household_id": hh["household_id"].to_numpy()[owner],
            "site": hh["site"].to_numpy()[owner],
            "registration_date": reg,
            "closure_date": closure,
        }
    ).astype({"household_id": "string", "site": "string"})
    n_m = n_households // 4
    m_owner = rng.integers(0, n_households, n_m)
    ms = pd.DataFrame(
        {
            "measure_id": pd.array([f"M{i:05d}" for i in range(n_m)], dtype="string"),
            "household_id": hh["household_id"].to_numpy()[m_owner],
            "start_date": pd.Timestamp("2022-10-01")
            + pd.to_timedelta(rng.integers(0, 900, n_m), "D"),
        }
    ).astype({"household_id": "string"})
    return {"households": hh, "episodes": ep, "legal_measures": ms}


@pytest.fixture(scope="module")
def tables():
    return random_delivery()


def test_counted_units_and_counts_agree_for_every_indicator(tables):
    counts = indicator_counts(tables, R)
    for name in INDICATORS:
        for start, end in quarterly_intervals(S, R).itertuples(index=False):
            units = counted_units(tables, name, start, end, reference_date=R)
            got = counts.loc[
                (counts["indicator"] == name) & (counts["interval_end"] == end), "count"
            ]
            assert got.item() == len(units), (name, end)
            assert units.is_unique or INDICATORS[name].unit != "household", name


def test_counts_agree_with_the_per_household_definitions(tables):
    """The engine (spells, searchsorted, cumulative sums) against the plain definitions."""
    counts = indicator_counts(tables, R).set_index(["indicator", "interval_end"])["count"]
    clipped = clip_to_reference(tables["episodes"], R)
    study = clipped.loc[in_study(clipped, S).to_numpy()]
    first = first_registration(clipped, S)
    for start, end in quarterly_intervals(S, R).itertuples(index=False):  # 8 quarters
        active = households_active_on(study, end)
        assert counts[("households_active", end)] == int(active.sum())
        assert counts[("households_involved", end)] == int((first <= end).sum())
        involved = set(first.index[first <= end])
        assert counts[("ended_since_start", end)] == len(involved - set(active.index[active]))
        reg = study["registration_date"]
        assert counts[("registrations", end)] == int(((reg >= start) & (reg <= end)).sum())
        closed = study["closure_date"]
        assert counts[("ended_in_period", end)] == int(((closed >= start) & (closed <= end)).sum())


def test_involved_is_active_plus_ended(tables):
    c = indicator_counts(tables, R, group_by=["site", "has_children"]).set_index(
        ["indicator", "interval_end", "site", "has_children"]
    )["count"]
    assert (c["households_involved"] == c["households_active"] + c["ended_since_start"]).all()


def test_margins_are_sums(tables):
    c = indicator_counts(tables, R, group_by=["site", "has_children"])
    parts = c.loc[(c["site"] != TOTAL) & (c["has_children"] != TOTAL)]
    total = c.loc[(c["site"] == TOTAL) & (c["has_children"] == TOTAL)].set_index(
        ["indicator", "interval_end"]
    )
    sums = parts.groupby(["indicator", "interval_end"])["count"].sum()
    pd.testing.assert_series_equal(
        sums.sort_index(), total["count"].sort_index(), check_names=False
    )
    ungrouped = indicator_counts(tables, R).set_index(["indicator", "interval_end"])["count"]
    pd.testing.assert_series_equal(
        ungrouped.sort_index(), total["count"].sort_index(), check_names=False
    )


def test_spells_merge_overlaps_so_households_count_once(tables):
    spells = activity_spells(clip_to_reference(tables["episodes"], R))
    same = spells["household_id"].to_numpy()[1:] == spells["household_id"].to_numpy()[:-1]
    # within a household, the next spell starts after the previous ended (disjoint, not touching)
    assert (spells["start"].to_numpy()[1:][same] > spells["end"].to_numpy()[:-1][same]).all()


def test_inactive_spells_complement_the_active_ones(tables):
    clipped = clip_to_reference(tables["episodes"], R)
    gaps = inactive_spells(clipped, S)
    spells = activity_spells(clipped.loc[in_study(clipped, S).to_numpy()])
    for d in pd.to_datetime(["2023-06-30", "2024-02-29", "2024-12-31"]):
        in_gap = set(
            gaps.loc[
                (gaps["start"] <= d) & (gaps["end"].isna() | (gaps["end"] > d)), "household_id"
            ]
        )
        in_spell = set(
            spells.loc[
                (spells["start"] <= d) & (spells["end"].isna() | (spells["end"] > d)),
                "household_id",
            ]
        )
        first = first_registration(clipped, S)
        assert in_gap.isdisjoint(in_spell)
        assert in_gap | in_spell == set(first.index[first <= d])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 2)), max_size=30),
    st.lists(st.integers(-2, 32), min_size=1, max_size=10, unique=True),
)
def test_count_on_dates_matches_brute_force(rows, dates):
    entry = np.array([r[0] for r in rows], dtype=np.int64)
    exit_ = np.array([max(r[0], r[1]) for r in rows], dtype=np.int64)
    group = np.array([r[2] for r in rows], dtype=np.int64)
    d = np.array(sorted(dates), dtype=np.int64)
    got = count_on_dates(entry, exit_, group, 3, d)
    want = np.array(
        [[int(((group == g) & (entry <= x) & (x < exit_)).sum()) for x in d] for g in range(3)]
    )
    assert (got == want).all()


def test_quarterly_intervals_from_a_mid_quarter_start():
    iv = quarterly_intervals("2023-02-15", "2023-04-01")
    assert list(iv.itertuples(index=False, name=None)) == [
        (pd.Timestamp("2023-02-15"), pd.Timestamp("2023-03-31")),
        (pd.Timestamp("2023-04-01"), pd.Timestamp("2023-04-01")),
    ]
    assert len(quarterly_intervals("2023-01-01", "2023-01-01")) == 1


@pytest.mark.parametrize(
    "intervals",
    [
        [("2022-12-01", "2023-03-31")],
        [("2023-03-31", "2023-01-01")],
        [("2023-01-01", "2025-01-01")],
        [],
    ],
)
def test_bad_intervals(intervals):
    with pytest.raises(ParameterError):
        check_intervals(intervals, S, R)


def test_custom_and_overlapping_intervals(tables):
    iv = [(S, R), ("2024-10-01", R), ("2024-01-01", "2024-12-31")]
    c = indicator_counts(tables, R, ["registrations"], intervals=iv)
    quarters = indicator_counts(tables, R, ["registrations"])
    assert c.loc[c["interval_start"] == pd.Timestamp(S), "count"].item() == quarters["count"].sum()
    assert (
        c.loc[c["interval_start"] == pd.Timestamp("2024-01-01"), "count"].item()
        == quarters["count"].iloc[-4:].sum()
    )


@pytest.mark.parametrize("value", ["2024-13-01", "31-12-2024", "", None, "2024-12-31T10:00", 3.5])
def test_bad_dates(value):
    with pytest.raises(ParameterError):
        to_date(value, "reference_date")


def test_reference_before_start():
    with pytest.raises(ParameterError, match="before study_start"):
        indicator_counts(random_delivery(n_households=5), "2022-12-31")


def test_unknown_indicator_and_grouping(tables):
    with pytest.raises(DefinitionError, match="known indicators"):
        indicator_counts(tables, R, ["households"])
    with pytest.raises(DefinitionError, match="group by"):
        indicator_counts(tables, R, group_by=["municipality"])


def test_missing_tables_and_columns(tables):
    with pytest.raises(DeliveryError, match="legal_measures"):
        prepare({k: v for k, v in tables.items() if k != "legal_measures"}, R)
    broken = dict(tables, episodes=tables["episodes"].drop(columns="closure_date"))
    with pytest.raises(DeliveryError, match="closure_date"):
        prepare(broken, R)


def test_inconsistent_delivery_is_refused(tables):
    dup = dict(tables, households=pd.concat([tables["households"], tables["households"].iloc[:1]]))
    with pytest.raises(DeliveryError, match="duplicate"):
        prepare(dup, R)
    orphan = tables["episodes"].copy()
    orphan.loc[0, "household_id"] = "NOT-THERE"
    with pytest.raises(DeliveryError, match="not in 'households'"):
        prepare(dict(tables, episodes=orphan), R)
    no_date = tables["episodes"].copy()
    no_date.loc[0, "registration_date"] = pd.NaT
    with pytest.raises(DefinitionError, match="registration_date"):
        prepare(dict(tables, episodes=no_date), R)


def test_missing_has_children_is_its_own_group(tables):
    hh = tables["households"].copy()
    hh.loc[0, "has_children"] = pd.NA
    c = indicator_counts(
        dict(tables, households=hh), R, ["households_involved"], group_by=["has_children"]
    )
    assert set(c["has_children"]) == {"no", "yes", "unknown", TOTAL}


def test_input_is_not_changed(tables):
    before = {k: v.copy() for k, v in tables.items()}
    indicator_counts(tables, "2024-06-30", group_by=["site"])
    for k, v in tables.items():
        pd.testing.assert_frame_equal(v, before[k])


def test_data_after_the_reference_date_does_not_change_earlier_counts(tables):
    early = indicator_counts(tables, "2024-06-30")
    late = indicator_counts(tables, R)
    merged = early.merge(
        late, on=["indicator", "interval_start", "interval_end"], suffixes=("_early", "_late")
    )
    assert (merged["count_early"] == merged["count_late"]).all()


def test_indicator_table_lists_every_indicator():
    table = indicator_table()
    assert table["indicator"].tolist() == list(INDICATORS)
    assert set(table["kind"]) == {"on_date", "in_period"}
