"""Measures: long output, confidence intervals against R, disclosure control inside evaluate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.disclosure.monitor import previous_cells, read_released
from cohort.disclosure.policy import (
    DEFAULT_POLICY,
    NO_DISCLOSURE_CONTROL,
    SUPPRESSED,
    DisclosurePolicy,
)
from cohort.disclosure.release import release
from cohort.disclosure.writer import released_csv
from cohort.exceptions import DefinitionError, DeliveryError, ParameterError
from cohort.monitor.indicators import TOTAL, indicator_counts
from cohort.monitor.measures import Measure, count_measures, monitor_measures
from cohort.monitor.series import comparison_quarter_end, monitor_summary, quarterly_counts
from cohort.stats.intervals import proportion_ci

R = "2024-12-31"


def evaluate(measures, tables, reference, *, policy=DEFAULT_POLICY, previous=None, **kwargs):
    """The released measures table: the counts, then the monitor's disclosure rule."""
    return release(count_measures(measures, tables, reference, **kwargs), policy, previous=previous)


def quarterly_series(tables, reference, *, policy=DEFAULT_POLICY, previous=None, **kwargs):
    """The released quarterly series of the monitor."""
    return release(quarterly_counts(tables, reference, **kwargs), policy, previous=previous)


def random_delivery(seed=0, n_households=400):
    """Random households at sites A, B, C with several, overlapping and pre-study episodes."""
    rng = np.random.default_rng(seed)
    ids = pd.array([f"H{i:04d}" for i in range(n_households)], dtype="string")
    site = pd.array(rng.choice(["A", "B", "C"], n_households), dtype="string")
    hh = pd.DataFrame(
        {
            "household_id": ids,
            "site": site,
            "has_children": pd.array(rng.random(n_households) < 0.8, dtype="boolean"),
        }
    )
    n_ep = int(n_households * 1.4)
    owner = rng.integers(0, n_households, n_ep)
    reg = pd.Timestamp("2022-07-01") + pd.to_timedelta(rng.integers(0, 1000, n_ep), "D")
    closure = (reg + pd.to_timedelta(rng.integers(0, 400, n_ep), "D")).where(
        rng.random(n_ep) < 0.75
    )
    ep = pd.DataFrame(
        {
            "episode_id": pd.array([f"E{i:05d}" for i in range(n_ep)], dtype="string"),
            "household_id": ids[owner],
            "site": site[owner],
            "registration_date": reg,
            "closure_date": closure,
        }
    )
    n_m = n_households // 4
    ms = pd.DataFrame(
        {
            "measure_id": pd.array([f"M{i:05d}" for i in range(n_m)], dtype="string"),
            "household_id": ids[rng.integers(0, n_households, n_m)],
            "start_date": pd.Timestamp("2022-10-01")
            + pd.to_timedelta(rng.integers(0, 900, n_m), "D"),
        }
    )
    return {"households": hh, "episodes": ep, "legal_measures": ms}


COLUMNS = [
    "indicator",
    "kind",
    "interval_start",
    "interval_end",
    "numerator",
    "denominator",
    "value",
    "ci_lower",
    "ci_upper",
    "ci_method",
    "suppressed",
]


@pytest.fixture(scope="module")
def tables():
    return random_delivery(seed=3, n_households=600)


# --- confidence intervals: values from R 4.2 ------------------------------------------
# prop.test(x, n, correct = FALSE)$conf.int and binom.test(x, n)$conf.int

R_INTERVALS = [
    (88, 557, (0.130055398141, 0.190608233251), (0.128682515360, 0.190977972193)),
    (0, 20, (0.0, 0.161125158053), (0.0, 0.168433470983)),
    (20, 20, (0.838874841947, 1.0), (0.831566529017, 1.0)),
    (3, 12, (0.088941668394, 0.532305334934), (0.054860644528, 0.571858461878)),
    (175, 1653, (0.091939137272, 0.121624723613), (0.091443582061, 0.121708531013)),
]


@pytest.mark.parametrize(("x", "n", "wilson", "exact"), R_INTERVALS)
def test_intervals_agree_with_r(x, n, wilson, exact):
    lo, hi = proportion_ci([x], [n], "wilson")
    assert (lo[0], hi[0]) == pytest.approx(wilson, abs=1e-9)
    lo, hi = proportion_ci([x], [n], "clopper-pearson")
    assert (lo[0], hi[0]) == pytest.approx(exact, abs=1e-9)


def test_interval_is_missing_without_a_denominator():
    lo, hi = proportion_ci([0, 5], [0, 10])
    assert np.isnan(lo[0]) and np.isnan(hi[0]) and not np.isnan(lo[1])


@pytest.mark.parametrize(
    ("kwargs", "error"), [({"method": "wald"}, ParameterError), ({"alpha": 1.5}, ParameterError)]
)
def test_interval_options(kwargs, error):
    with pytest.raises(error):
        proportion_ci([1], [2], **kwargs)


# --- Measure ----------------------------------------------------------------------------


def test_measure_kinds_and_checks():
    assert Measure("a", "registrations").kind == "count"
    assert (
        Measure("b", "households_with_measure", "households_involved", proportion=True).kind
        == "proportion"
    )
    assert Measure("c", "legal_measures", "households_involved").kind == "ratio"
    with pytest.raises(DefinitionError, match="known indicators"):
        Measure("d", "cases")
    with pytest.raises(DefinitionError, match="no denominator"):
        Measure("e", "registrations", proportion=True)
    assert Measure("f", "registrations", group_by="site").group_by == ("site",)


def test_evaluate_checks_its_measures(tables):
    with pytest.raises(DefinitionError, match="unique"):
        evaluate([Measure("a", "registrations"), Measure("a", "households_active")], tables, R)
    with pytest.raises(DefinitionError, match="non-empty"):
        evaluate([], tables, R)
    with pytest.raises(ParameterError, match="ci_method"):
        evaluate([Measure("a", "registrations")], tables, R, ci_method="wald")


# --- the long table ---------------------------------------------------------------------


def test_long_table_shape_and_order(tables):
    out = evaluate(monitor_measures("site"), tables, R, policy=NO_DISCLOSURE_CONTROL)
    assert list(out.columns) == COLUMNS[:4] + ["site"] + COLUMNS[4:]
    n_quarters, n_sites = 8, 3
    assert len(out) == len(monitor_measures()) * n_quarters * (n_sites + 1)
    assert out["indicator"].drop_duplicates().tolist() == [m.name for m in monitor_measures()]
    first = out.loc[out["indicator"] == "households_involved"].head(4)
    assert first["site"].tolist() == [TOTAL, "A", "B", "C"]
    assert set(out["ci_method"]) == {"wilson", "none"}
    assert (out.loc[out["kind"] == "proportion", "ci_method"] == "wilson").all()
    assert out.loc[out["kind"] != "proportion", "ci_lower"].isna().all()
    assert out.attrs["disclosure"]["applied"] is False


def test_values_match_the_raw_counts(tables):
    out = evaluate(monitor_measures(), tables, R, policy=NO_DISCLOSURE_CONTROL)
    raw = indicator_counts(tables, R).set_index(["indicator", "interval_end"])["count"]
    share = out.loc[out["indicator"] == "households_with_measure_share"]
    for row in share.itertuples():
        num = raw[("households_with_measure", row.interval_end)]
        den = raw[("households_involved", row.interval_end)]
        assert (row.numerator, row.denominator) == (num, den)
        assert row.value == pytest.approx(num / den)
        lo, hi = proportion_ci([num], [den])
        assert (row.ci_lower, row.ci_upper) == pytest.approx((lo[0], hi[0]))


def test_clopper_pearson_is_named(tables):
    out = evaluate(
        monitor_measures(), tables, R, ci_method="clopper-pearson", policy=NO_DISCLOSURE_CONTROL
    )
    assert set(out.loc[out["kind"] == "proportion", "ci_method"]) == {"clopper-pearson"}


def test_grouping_by_both_columns_has_all_margins(tables):
    m = [Measure("reg", "registrations", group_by=("site", "has_children"))]
    out = evaluate(m, tables, R, policy=NO_DISCLOSURE_CONTROL)
    last = out.loc[out["interval_end"] == pd.Timestamp(R)]
    assert len(last) == 4 * 3  # (3 sites + all) x (no, yes, all)
    total = last.loc[(last["site"] == TOTAL) & (last["has_children"] == TOTAL), "numerator"].item()
    parts = last.loc[(last["site"] != TOTAL) & (last["has_children"] != TOTAL), "numerator"].sum()
    assert total == parts


def test_evaluate_is_deterministic_and_pure(tables):
    before = {k: v.copy() for k, v in tables.items()}
    a = evaluate(monitor_measures("site"), tables, R)
    b = evaluate(monitor_measures("site"), tables, R)
    pd.testing.assert_frame_equal(a, b)
    assert released_csv(a) == released_csv(b)
    for k, v in tables.items():
        pd.testing.assert_frame_equal(v, before[k])


# --- disclosure control inside evaluate ---------------------------------------------------


def small_site_delivery():
    """Site A: 40 households; site B: 6 households (all registered in Q1 2023)."""
    n_a, n_b = 40, 6
    ids = [f"H{i}" for i in range(n_a + n_b)]
    sites = ["A"] * n_a + ["B"] * n_b
    hh = pd.DataFrame({"household_id": ids, "site": sites, "has_children": [True] * (n_a + n_b)})
    ep = pd.DataFrame(
        {
            "episode_id": [f"E{i}" for i in range(n_a + n_b)],
            "household_id": ids,
            "site": sites,
            "registration_date": pd.to_datetime(["2023-02-01"] * (n_a + n_b)),
            "closure_date": pd.NaT,
        }
    )
    ms = pd.DataFrame(
        {"measure_id": ["M1"], "household_id": ["H0"], "start_date": pd.to_datetime(["2023-03-01"])}
    )
    return {"households": hh, "episodes": ep, "legal_measures": ms}


def test_disclosure_is_on_by_default():
    out = evaluate(
        [Measure("hh", "households_active", group_by="site")], small_site_delivery(), "2023-03-31"
    )
    row = out.set_index("site")
    assert out.attrs["disclosure"]["applied"] is True
    assert bool(row.loc["B", "suppressed"]) and pd.isna(row.loc["B", "numerator"])
    # B (6) is small; A (40) goes as well, else B = total - A.
    assert bool(row.loc["A", "suppressed"])
    assert row.loc[TOTAL, "numerator"] == 46
    text = released_csv(out)
    assert text.count(SUPPRESSED) >= 4
    assert ",6," not in text


def test_share_with_a_suppressed_part_is_suppressed():
    d = small_site_delivery()
    d["episodes"].loc[10:21, "closure_date"] = pd.Timestamp("2023-03-15")  # 12 ended: all shown
    out = evaluate(monitor_measures(), d, "2023-03-31")
    row = out.set_index("indicator")
    assert row.loc[
        ["households_involved", "households_active", "ended_since_start"], "numerator"
    ].tolist() == [
        46,
        34,
        12,
    ]
    # one legal measure: the count, both shares and households with a measure go
    for name in ("legal_measures", "legal_measures_share", "households_with_measure_share"):
        assert bool(row.loc[name, "suppressed"]), name
        assert pd.isna(row.loc[name, "value"]) and pd.isna(row.loc[name, "ci_lower"])
    # ... while the denominator, 46 households involved, is shown
    assert row.loc["legal_measures_share", "denominator"] == 46


def test_ended_cannot_be_worked_out_from_involved_and_active():
    d = small_site_delivery()
    d["episodes"].loc[:2, "closure_date"] = pd.Timestamp("2023-03-15")  # 3 households ended
    out = evaluate(monitor_measures(), d, "2023-03-31").set_index("indicator")
    assert bool(out.loc["ended_since_start", "suppressed"])
    assert out.loc[["households_involved", "households_active"], "suppressed"].any()


def test_quarter_differences_of_cumulative_counts_are_protected():
    d = small_site_delivery()
    extra = pd.DataFrame(
        {
            "episode_id": ["E100", "E101"],
            "household_id": ["H100", "H101"],
            "site": ["A", "A"],
            "registration_date": pd.to_datetime(["2023-05-01", "2023-05-02"]),
            "closure_date": pd.NaT,
        }
    )
    d["households"] = pd.concat(
        [
            d["households"],
            pd.DataFrame({"household_id": ["H100", "H101"], "site": "A", "has_children": True}),
        ],
        ignore_index=True,
    )
    d["episodes"] = pd.concat([d["episodes"], extra], ignore_index=True)
    out = evaluate([Measure("inv", "households_involved")], d, "2023-06-30")
    # 46 then 48: the 2 new households would follow from the difference
    assert out["suppressed"].sum() >= 1
    raw = evaluate(
        [Measure("inv", "households_involved")], d, "2023-06-30", policy=NO_DISCLOSURE_CONTROL
    )
    assert raw["numerator"].tolist() == [46, 48]


def test_rounding_and_values_from_released_counts():
    hh = pd.DataFrame(
        {"household_id": [f"H{i}" for i in range(33)], "site": "A", "has_children": True}
    )
    ep = pd.DataFrame(
        {
            "episode_id": [f"E{i}" for i in range(33)],
            "household_id": hh["household_id"],
            "site": "A",
            "registration_date": pd.Timestamp("2023-02-01"),
            "closure_date": pd.NaT,
        }
    )
    ms = pd.DataFrame(
        {
            "measure_id": [f"M{i}" for i in range(12)],
            "household_id": hh["household_id"].iloc[:12],
            "start_date": pd.Timestamp("2023-02-10"),
        }
    )
    tables = {"households": hh, "episodes": ep, "legal_measures": ms}
    m = [Measure("share", "households_with_measure", "households_involved", proportion=True)]
    out = evaluate(m, tables, "2023-03-31", policy=DisclosurePolicy(rounding=5)).iloc[0]
    assert (out["numerator"], out["denominator"]) == (10, 35)
    assert out["value"] == pytest.approx(10 / 35)
    assert out.loc["ci_method"] == "wilson"


def test_switching_off_is_recorded(tables):
    out = evaluate(monitor_measures(), tables, R, policy=NO_DISCLOSURE_CONTROL)
    assert out.attrs["disclosure"]["enabled"] is False
    assert "not for release" in out.attrs["disclosure"]["warning"]


# --- the monitor --------------------------------------------------------------------------


def test_comparison_date_default():
    assert comparison_quarter_end("2024-12-31") == pd.Timestamp("2024-06-30")
    assert comparison_quarter_end("2023-02-10") == pd.Timestamp("2023-02-10")
    assert comparison_quarter_end("2024-11-15") == pd.Timestamp("2024-06-30")


def test_summary_rows_come_from_the_series(tables):
    series = quarterly_series(tables, R, by="site")
    summary = monitor_summary(series)
    assert summary["figure"].nunique() == 12
    assert set(summary["indicator"]) <= set(series["indicator"])
    merged = summary.merge(
        series, on=["indicator", "interval_start", "interval_end", "site"], suffixes=("", "_s")
    )
    assert len(merged) == len(summary)
    assert merged["numerator"].equals(merged["numerator_s"])
    both = set(summary["indicator"])
    assert {"ended_in_period", "ended_since_start"} <= both
    assert summary.attrs["comparison_date"] == "2024-06-30"


def test_summary_states_the_period_each_figure_is_read_against(tables):
    """Since-start figures run from the study start, on-date figures name one day, and
    quarterly figures the quarter: never the quarter's start for a since-start count."""
    summary = monitor_summary(quarterly_series(tables, R, study_start="2023-01-01")).set_index("figure")
    period = summary["period"]
    assert period["households involved since the study start"] == "2023-01-01 to 2024-12-31"
    assert period["legal measures per household involved"] == "2023-01-01 to 2024-12-31"
    assert (
        period["households whose involvement ended since the start (involved - active)"]
        == "2023-01-01 to 2024-12-31"
    )
    assert period["households actively involved on the reference date"] == "2024-12-31"
    assert period["households actively involved on the comparison date"] == "2024-06-30"
    assert period["registrations in the last quarter"] == "2024-10-01 to 2024-12-31"
    assert period["involvements ended in the last quarter (episodes closed)"] == (
        "2024-10-01 to 2024-12-31"
    )


def test_summary_rejects_a_comparison_date_off_the_quarter_grid(tables):
    with pytest.raises(ParameterError, match="not the end of a quarter"):
        monitor_summary(quarterly_series(tables, R), comparison_date="2024-05-15")


def test_an_empty_delivery_gives_a_fully_suppressed_table():
    empty = {
        "households": pd.DataFrame(
            {"household_id": [], "site": [], "has_children": pd.array([], dtype="boolean")}
        ),
        "episodes": pd.DataFrame(
            {
                "episode_id": [],
                "household_id": [],
                "site": [],
                "registration_date": pd.to_datetime([]),
                "closure_date": pd.to_datetime([]),
            }
        ),
        "legal_measures": pd.DataFrame(
            {"measure_id": [], "household_id": [], "start_date": pd.to_datetime([])}
        ),
    }
    out = quarterly_series(empty, "2023-06-30", by="site")
    assert len(out) == 2 * len(monitor_measures())  # two quarters, only the (empty) total
    assert out["suppressed"].all() and out["numerator"].isna().all()


# --- an earlier release: previous= ----------------------------------------------------

Q1 = (pd.Timestamp("2023-01-01"), pd.Timestamp("2023-03-31"))


def earlier(rows, group_by=("site",)):
    """An earlier release of measure ``inv``: (site, numerator or None if suppressed)."""
    frame = pd.DataFrame(
        {
            "indicator": "inv",
            "kind": "count",
            "interval_start": Q1[0],
            "interval_end": Q1[1],
            **({"site": [site for site, _ in rows]} if group_by else {}),
            "numerator": pd.array([n for _, n in rows], dtype="Int64"),
        }
    )
    frame["suppressed"] = frame["numerator"].isna()
    return frame


def by_site(out):
    return out.set_index("site")


def test_a_cell_the_earlier_release_suppressed_stays_suppressed():
    # Site A: 40 households, site B: 6 (small). Alone, A goes with B; here an earlier
    # release (other data) had suppressed the total and shown A.
    measures = [Measure("inv", "households_active", group_by="site")]
    plain = by_site(evaluate(measures, small_site_delivery(), "2023-03-31"))
    assert plain["suppressed"].tolist() == [False, True, True]
    previous = earlier([(TOTAL, None), ("A", 40), ("B", None)])
    previous["indicator"] = "inv"
    out = by_site(evaluate(measures, small_site_delivery(), "2023-03-31", previous=previous))
    assert out["suppressed"].tolist() == [True, False, True]
    assert out.loc["A", "numerator"] == 40


def test_a_cell_the_earlier_release_showed_is_not_a_secondary_suppression():
    measures = [Measure("inv", "households_active", group_by="site")]
    previous = earlier([("A", 40)])
    out = by_site(evaluate(measures, small_site_delivery(), "2023-03-31", previous=previous))
    # B (6) is small; A is public, so the total is the secondary suppression.
    assert out["suppressed"].to_dict() == {TOTAL: True, "A": False, "B": True}


def with_new_households(k):
    """small_site_delivery plus ``k`` households at site A registered in Q2 2023."""
    d = small_site_delivery()
    ids = [f"N{i}" for i in range(k)]
    d["households"] = pd.concat(
        [d["households"], pd.DataFrame({"household_id": ids, "site": "A", "has_children": True})],
        ignore_index=True,
    )
    d["episodes"] = pd.concat(
        [
            d["episodes"],
            pd.DataFrame(
                {
                    "episode_id": [f"EN{i}" for i in range(k)],
                    "household_id": ids,
                    "site": "A",
                    "registration_date": pd.Timestamp("2023-05-01"),
                    "closure_date": pd.NaT,
                }
            ),
        ],
        ignore_index=True,
    )
    return d


@pytest.mark.parametrize(
    ("old", "q2_suppressed"),
    [
        (46, False),  # same data: 56 - 46 = 10, exactly the threshold
        (47, True),  # revised: the earlier report said 47; 56 - 47 = 9 new households
        (57, False),  # revised downwards since: a negative difference is no count
    ],
)
def test_cumulative_counts_across_releases_at_the_threshold(old, q2_suppressed):
    measures = [Measure("inv", "households_involved")]
    d = with_new_households(10)
    raw = evaluate(measures, d, "2023-06-30", policy=NO_DISCLOSURE_CONTROL)
    assert raw["numerator"].tolist() == [46, 56]
    alone = evaluate(measures, d, "2023-06-30")
    assert not alone["suppressed"].any()
    out = evaluate(measures, d, "2023-06-30", previous=earlier([(TOTAL, old)], group_by=()))
    # The earlier report's quarter is out already: only the new quarter can go.
    assert out["suppressed"].tolist() == [False, q2_suppressed]


def test_previous_from_a_released_csv_equals_previous_from_the_frame(tmp_path, tables):
    from cohort.disclosure.writer import ReleaseFolder

    first = quarterly_series(tables, "2023-12-31", by="site")
    ReleaseFolder(tmp_path, DisclosurePolicy()).release(first, "monitor")
    path = tmp_path / "tables" / "monitor.csv"
    read = read_released(path)
    assert read["numerator"].isna().tolist() == first["numerator"].isna().tolist()
    a = quarterly_series(tables, R, by="site", previous=first)
    b = quarterly_series(tables, R, by="site", previous=read)
    pd.testing.assert_frame_equal(a, b)
    cells = previous_cells(read, monitor_measures("site"), ("site",))
    assert not cells.duplicated(["indicator", "interval_start", "interval_end", "site"]).any()


def test_previous_must_be_a_measures_table(tables):
    with pytest.raises(ParameterError, match="no column 'numerator'"):
        quarterly_series(tables, R, previous=pd.DataFrame({"indicator": [], "interval_start": [], "interval_end": []}))
    with pytest.raises(ParameterError, match="released measures table"):
        quarterly_series(tables, R, previous="monitor.csv")


BUNDLED = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "default"


@pytest.mark.skipif(not BUNDLED.is_dir(), reason="bundled synthetic delivery not generated")
def test_interim_and_final_monitor_cannot_be_differenced(tmp_path):
    """End to end on the bundled delivery: the check fails without previous=, passes with."""
    from cohort.delivery.load import load
    from cohort.disclosure.check import check_differencing
    from cohort.disclosure.writer import ReleaseFolder

    delivery = load(BUNDLED, cache_dir=False)
    interim = quarterly_series(delivery, "2024-12-31", by="site")

    def check(final, label):
        folders = []
        for name, table in (("interim", interim), (label, final)):
            folder = tmp_path / label / name
            ReleaseFolder(folder, DisclosurePolicy()).release(table, "monitor")
            folders.append(folder)
        return check_differencing(*folders, policy=DisclosurePolicy())

    alone = check(quarterly_series(delivery, "2026-06-30", by="site"), "final-alone")
    assert {f.rule for f in alone} == {"differencing-same-cell", "differencing-cumulative"}
    read = read_released(tmp_path / "final-alone" / "interim" / "tables" / "monitor.csv")
    protected = quarterly_series(delivery, "2026-06-30", by="site", previous=read)
    assert check(protected, "final") == []
    # What the interim report suppressed, the final report suppresses too.
    keys = ["indicator", "interval_start", "interval_end", "site"]
    both = interim.merge(protected, on=keys, suffixes=("_interim", "_final"))
    hidden = both["numerator_interim"].isna().to_numpy()
    assert hidden.any() and both.loc[hidden, "numerator_final"].isna().all()


@pytest.mark.skipif(not BUNDLED.is_dir(), reason="bundled synthetic delivery not generated")
def test_measures_by_type_count_what_the_monitor_counts():
    """The by-type table rests on the same definition as the monitor's legal measures."""
    from cohort import load
    from cohort.monitor.series import legal_measures_by_type

    delivery = load(BUNDLED, cache_dir=False)
    by_type = legal_measures_by_type(delivery, R).set_index("measure_type")
    assert by_type.loc["all", "measures"] == 199
    assert by_type.loc["all", "households"] == 170
    types = by_type.drop(index="all")
    assert types["measures"].sum() == 199  # every type released here, and they add up
    assert (types["households"] <= types["measures"]).all()


def test_measures_by_type_suppress_small_types_and_protect_the_total():
    """12 supervision orders, 11 barring orders, 3 contact bans: the contact bans are
    suppressed, and one more type with them, since the total would give them away."""
    from cohort.monitor.series import legal_measures_by_type

    n = 26
    types = ["supervision_order"] * 12 + ["barring_order"] * 11 + ["contact_ban"] * 3
    hh = [f"H{i}" for i in range(n)]
    tiny = {
        "households": pd.DataFrame({"household_id": hh, "site": "A", "has_children": True}),
        "episodes": pd.DataFrame(
            {
                "episode_id": [f"E{i}" for i in range(n)],
                "household_id": hh,
                "site": "A",
                "registration_date": pd.Timestamp("2023-02-01"),
                "closure_date": pd.NaT,
            }
        ),
        "legal_measures": pd.DataFrame(
            {
                "measure_id": [f"M{i}" for i in range(n)],
                "household_id": hh,
                "measure_type": types,
                "start_date": pd.Timestamp("2023-03-01"),
            }
        ),
    }
    released = release(legal_measures_by_type(tiny, R), DEFAULT_POLICY).set_index("measure_type")
    assert released.loc[TOTAL, "measures"] == 26
    assert pd.isna(released.loc["contact_ban", "measures"])
    hidden = released.drop(index=TOTAL)["measures"].isna()
    assert hidden.sum() == 2
    assert released.loc[~hidden.reindex(released.index, fill_value=False), "measures"].ge(10).all()

    with pytest.raises(DeliveryError, match="measure_type"):
        legal_measures_by_type(
            {**tiny, "legal_measures": tiny["legal_measures"].drop(columns="measure_type")}, R
        )
