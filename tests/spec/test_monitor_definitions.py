"""Spec: the indicators of the quarterly monitor (docs/definitions.md).

Each test is a paragraph of the definitions: a tiny delivery written as a table, and the
expected result per household (or episode, or measure), or per indicator and quarter.
Study start S = 2023-01-01 throughout.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cohort.disclosure.policy import NO_DISCLOSURE_CONTROL
from cohort.disclosure.release import release
from cohort.monitor.indicators import counted_units, indicator_counts, quarterly_intervals
from cohort.monitor.measures import count_measures, monitor_measures


def evaluate(measures, tables, reference, *, policy, **kwargs):
    """The released measures table: the counts, then the monitor's disclosure rule."""
    return release(count_measures(measures, tables, reference, **kwargs), policy)


def delivery(households, episodes, measures=()):
    """Tables from rows.

    households: (household_id, site, has_children)
    episodes:   (episode_id, household_id, registration_date, closure_date or None)
    measures:   (measure_id, household_id, start_date)
    """
    hh = pd.DataFrame(households, columns=["household_id", "site", "has_children"]).astype(
        {"household_id": "string", "site": "string", "has_children": "boolean"}
    )
    ep = pd.DataFrame(
        episodes, columns=["episode_id", "household_id", "registration_date", "closure_date"]
    )
    ep["site"] = ep["household_id"].map(dict(zip(hh["household_id"], hh["site"], strict=True)))
    ep = ep.astype({"episode_id": "string", "household_id": "string", "site": "string"})
    ep["registration_date"] = pd.to_datetime(ep["registration_date"])
    ep["closure_date"] = pd.to_datetime(ep["closure_date"])
    ms = pd.DataFrame(list(measures), columns=["measure_id", "household_id", "start_date"]).astype(
        {"measure_id": "string", "household_id": "string"}
    )
    ms["start_date"] = pd.to_datetime(ms["start_date"])
    ms["episode_id"] = pd.array([None] * len(ms), dtype="string")
    ms["measure_type"] = "supervision_order"
    return {"households": hh, "episodes": ep, "legal_measures": ms}


def per_unit(tables, indicator, start, end, units, reference_date=None):
    """{unit: counted?} for the units named in the expectation."""
    counted = set(counted_units(tables, indicator, start, end, reference_date=reference_date))
    return {u: u in counted for u in units}


def quarter_counts(tables, reference_date, indicator):
    counts = indicator_counts(tables, reference_date, [indicator])
    return dict(zip(counts["interval_end"].dt.strftime("%Y-%m-%d"), counts["count"], strict=True))


HOUSEHOLDS = [(f"H{i}", "A", True) for i in range(1, 10)]


# --- the reference date ---------------------------------------------------------------


class TestReferenceDate:
    def test_episode_closed_on_the_reference_date_is_not_active_but_ended(self):
        t = delivery(
            HOUSEHOLDS, [("E1", "H1", "2024-03-01", "2024-12-31"), ("E2", "H2", "2024-03-01", None)]
        )
        R = "2024-12-31"
        assert per_unit(t, "households_active", "2024-10-01", R, ["H1", "H2"]) == {
            "H1": False,
            "H2": True,
        }
        assert per_unit(t, "households_involved", "2024-10-01", R, ["H1", "H2"]) == {
            "H1": True,
            "H2": True,
        }
        assert per_unit(t, "ended_since_start", "2024-10-01", R, ["H1", "H2"]) == {
            "H1": True,
            "H2": False,
        }
        assert per_unit(t, "ended_in_period", "2024-10-01", R, ["E1", "E2"]) == {
            "E1": True,
            "E2": False,
        }

    def test_data_after_the_reference_date_is_ignored(self):
        t = delivery(
            HOUSEHOLDS,
            [
                ("E1", "H1", "2024-03-01", "2025-01-15"),  # closure after R: still open on R
                ("E2", "H2", "2025-01-02", None),  # registered after R: does not exist
                ("E3", "H3", "2024-12-31", None),  # registered on R: counts
            ],
            [("M1", "H1", "2025-01-01"), ("M2", "H1", "2024-12-31")],
        )
        R = "2024-12-31"
        assert per_unit(t, "households_active", "2024-10-01", R, ["H1", "H2", "H3"]) == {
            "H1": True,
            "H2": False,
            "H3": True,
        }
        assert per_unit(t, "ended_in_period", "2024-10-01", R, ["E1"]) == {"E1": False}
        assert per_unit(t, "registrations", "2024-10-01", R, ["E2", "E3"]) == {
            "E2": False,
            "E3": True,
        }
        assert per_unit(t, "legal_measures", "2024-10-01", R, ["M1", "M2"]) == {
            "M1": False,
            "M2": True,
        }

    def test_a_later_reference_date_sees_the_closure(self):
        t = delivery(HOUSEHOLDS, [("E1", "H1", "2024-03-01", "2025-01-15")])
        assert per_unit(t, "households_active", "2025-01-01", "2025-03-31", ["H1"]) == {"H1": False}
        assert per_unit(t, "ended_in_period", "2025-01-01", "2025-03-31", ["E1"]) == {"E1": True}
        # ... but a report on 2024-12-31 cut from the same later delivery does not.
        counts = quarter_counts(t, "2024-12-31", "ended_in_period")
        assert sum(counts.values()) == 0

    def test_the_last_quarter_is_cut_at_the_reference_date(self):
        iv = quarterly_intervals("2023-01-01", "2024-11-15")
        assert (iv["interval_start"].iloc[-1], iv["interval_end"].iloc[-1]) == (
            pd.Timestamp("2024-10-01"),
            pd.Timestamp("2024-11-15"),
        )
        assert len(iv) == 8


# --- episodes and the study period ----------------------------------------------------


class TestStudyPeriod:
    def test_episodes_before_the_start(self):
        t = delivery(
            HOUSEHOLDS,
            [
                ("E1", "H1", "2022-05-01", "2022-12-31"),  # closed before S: not in the study
                ("E2", "H2", "2022-05-01", "2023-01-01"),  # closed on S: in the study
                ("E3", "H3", "2022-05-01", None),  # open at S: in the study, not a registration
                ("E4", "H4", "2023-01-01", None),  # registered on S
            ],
        )
        hh = ["H1", "H2", "H3", "H4"]
        assert per_unit(t, "households_involved", "2023-01-01", "2023-03-31", hh) == {
            "H1": False,
            "H2": True,
            "H3": True,
            "H4": True,
        }
        assert per_unit(t, "registrations", "2023-01-01", "2023-03-31", ["E3", "E4"]) == {
            "E3": False,
            "E4": True,
        }
        assert per_unit(t, "households_active", "2023-01-01", "2023-01-01", hh) == {
            "H1": False,
            "H2": False,  # closed on S: not active on S
            "H3": True,
            "H4": True,
        }
        assert per_unit(t, "ended_since_start", "2023-01-01", "2023-03-31", hh) == {
            "H1": False,
            "H2": True,
            "H3": False,
            "H4": False,
        }

    def test_registrations_on_quarter_boundaries(self):
        t = delivery(
            HOUSEHOLDS,
            [
                ("E1", "H1", "2023-03-31", None),  # last day of Q1
                ("E2", "H2", "2023-04-01", "2023-06-30"),  # first day of Q2, closed last day of Q2
                ("E3", "H3", "2023-06-30", "2023-07-01"),  # last day of Q2, closed first day of Q3
                ("E4", "H4", "2023-01-01", "2023-03-31"),  # first day of Q1, closed last day of Q1
            ],
        )
        R = "2023-09-30"
        assert quarter_counts(t, R, "registrations") == {
            "2023-03-31": 2,
            "2023-06-30": 2,
            "2023-09-30": 0,
        }
        assert quarter_counts(t, R, "ended_in_period") == {
            "2023-03-31": 1,
            "2023-06-30": 1,
            "2023-09-30": 1,
        }
        # Active on the quarter's last day: registered on it counts, closed on it does not.
        assert quarter_counts(t, R, "households_active") == {
            "2023-03-31": 1,
            "2023-06-30": 2,
            "2023-09-30": 1,
        }
        assert quarter_counts(t, R, "households_involved") == {
            "2023-03-31": 2,
            "2023-06-30": 4,
            "2023-09-30": 4,
        }
        assert quarter_counts(t, R, "ended_since_start") == {
            "2023-03-31": 1,
            "2023-06-30": 2,
            "2023-09-30": 3,
        }

    def test_open_episodes_stay_active(self):
        t = delivery(HOUSEHOLDS, [("E1", "H1", "2023-02-10", None)])
        assert quarter_counts(t, "2024-12-31", "households_active") == {
            d: 1
            for d in quarterly_intervals("2023-01-01", "2024-12-31")["interval_end"].dt.strftime(
                "%Y-%m-%d"
            )
        }
        assert sum(quarter_counts(t, "2024-12-31", "ended_since_start").values()) == 0

    def test_same_day_episode_involves_but_is_never_active(self):
        t = delivery(HOUSEHOLDS, [("E1", "H1", "2023-05-10", "2023-05-10")])
        assert per_unit(t, "households_involved", "2023-04-01", "2023-06-30", ["H1"]) == {
            "H1": True
        }
        assert per_unit(t, "households_active", "2023-05-10", "2023-05-10", ["H1"]) == {"H1": False}
        assert per_unit(t, "ended_since_start", "2023-05-10", "2023-05-10", ["H1"]) == {"H1": True}
        assert per_unit(t, "ended_since_start", "2023-05-09", "2023-05-09", ["H1"]) == {"H1": False}


# --- several and overlapping episodes -------------------------------------------------


class TestSeveralEpisodes:
    EPISODES = [
        # H1: two consecutive episodes with a gap, then re-registered
        ("E1", "H1", "2023-02-01", "2023-05-15"),
        ("E2", "H1", "2023-08-01", None),
        # H2: overlapping episodes (second registered before the first closed)
        ("E3", "H2", "2023-02-01", "2023-09-30"),
        ("E4", "H2", "2023-06-01", "2023-07-31"),
        # H3: touching episodes (second registered on the closure day of the first)
        ("E5", "H3", "2023-02-01", "2023-04-30"),
        ("E6", "H3", "2023-04-30", "2023-10-15"),
    ]

    def test_a_household_counts_once_each_episode_counts(self):
        t = delivery(HOUSEHOLDS, self.EPISODES)
        R = "2023-12-31"
        assert quarter_counts(t, R, "households_involved") == {
            "2023-03-31": 3,
            "2023-06-30": 3,
            "2023-09-30": 3,
            "2023-12-31": 3,
        }
        assert quarter_counts(t, R, "registrations") == {
            "2023-03-31": 3,
            "2023-06-30": 2,
            "2023-09-30": 1,
            "2023-12-31": 0,
        }
        assert quarter_counts(t, R, "ended_in_period") == {
            "2023-03-31": 0,
            "2023-06-30": 2,
            "2023-09-30": 2,
            "2023-12-31": 1,
        }

    @pytest.mark.parametrize(
        ("date", "active", "ended"),
        [
            (
                "2023-05-15",
                {"H1": False, "H2": True, "H3": True},
                {"H1": True, "H2": False, "H3": False},
            ),
            (
                "2023-07-15",
                {"H1": False, "H2": True, "H3": True},
                {"H1": True, "H2": False, "H3": False},
            ),
            (
                "2023-08-01",
                {"H1": True, "H2": True, "H3": True},
                {"H1": False, "H2": False, "H3": False},
            ),
            (
                "2023-09-30",
                {"H1": True, "H2": False, "H3": True},
                {"H1": False, "H2": True, "H3": False},
            ),
            (
                "2023-10-15",
                {"H1": True, "H2": False, "H3": False},
                {"H1": False, "H2": True, "H3": True},
            ),
        ],
    )
    def test_active_and_ended_per_household(self, date, active, ended):
        t = delivery(HOUSEHOLDS, self.EPISODES)
        hh = ["H1", "H2", "H3"]
        assert (
            per_unit(t, "households_active", date, date, hh, reference_date="2023-12-31") == active
        )
        assert (
            per_unit(t, "ended_since_start", date, date, hh, reference_date="2023-12-31") == ended
        )

    def test_involved_is_active_plus_ended_on_every_quarter(self):
        t = delivery(HOUSEHOLDS, self.EPISODES)
        R = "2023-12-31"
        involved = quarter_counts(t, R, "households_involved")
        active = quarter_counts(t, R, "households_active")
        ended = quarter_counts(t, R, "ended_since_start")
        assert all(involved[d] == active[d] + ended[d] for d in involved)


# --- registrations with and without children ------------------------------------------


def test_registrations_split_by_children():
    households = [("H1", "A", True), ("H2", "A", False), ("H3", "B", False), ("H4", "B", True)]
    episodes = [
        ("E1", "H1", "2024-10-01", None),
        ("E2", "H2", "2024-11-01", None),
        ("E3", "H3", "2024-12-31", None),
        ("E4", "H3", "2024-10-05", "2024-10-20"),  # a household's second registration counts again
        ("E5", "H4", "2024-09-30", None),  # previous quarter
    ]
    t = delivery(households, episodes)
    R = "2024-12-31"
    assert per_unit(
        t, "registrations_without_children", "2024-10-01", R, ["E1", "E2", "E3", "E4", "E5"]
    ) == {
        "E1": False,
        "E2": True,
        "E3": True,
        "E4": True,
        "E5": False,
    }
    out = evaluate(monitor_measures(), t, R, policy=NO_DISCLOSURE_CONTROL)
    last = out.loc[out["interval_end"] == pd.Timestamp(R)].set_index("indicator")
    assert last.loc["registrations", "numerator"] == 4
    assert last.loc["registrations_without_children", "numerator"] == 3
    assert last.loc["registrations_without_children_share", "value"] == pytest.approx(0.75)
    by_site = evaluate(monitor_measures("site"), t, R, policy=NO_DISCLOSURE_CONTROL)
    q4 = by_site.loc[
        (by_site["interval_end"] == pd.Timestamp(R)) & (by_site["indicator"] == "registrations")
    ]
    assert dict(zip(q4["site"], q4["numerator"], strict=True)) == {"all": 4, "A": 2, "B": 2}


# --- legal measures -------------------------------------------------------------------


class TestLegalMeasures:
    def test_measures_before_the_start_are_not_counted(self):
        t = delivery(
            HOUSEHOLDS,
            [("E1", "H1", "2022-06-01", None), ("E2", "H2", "2023-02-01", None)],
            [
                ("M1", "H1", "2022-12-31"),  # before S: not counted, H1 still involved
                ("M2", "H1", "2023-01-01"),  # on S: counted
                ("M3", "H2", "2023-03-01"),
                ("M4", "H2", "2023-05-01"),  # second measure of H2: counts as a measure
            ],
        )
        R = "2023-06-30"
        assert per_unit(t, "legal_measures", "2023-04-01", R, ["M1", "M2", "M3", "M4"]) == {
            "M1": False,
            "M2": True,
            "M3": True,
            "M4": True,
        }
        assert quarter_counts(t, R, "legal_measures") == {"2023-03-31": 2, "2023-06-30": 3}
        assert quarter_counts(t, R, "households_with_measure") == {"2023-03-31": 2, "2023-06-30": 2}
        assert per_unit(t, "households_involved", "2023-04-01", R, ["H1", "H2"]) == {
            "H1": True,
            "H2": True,
        }

    def test_only_measures_before_the_start_leave_the_household_without(self):
        t = delivery(HOUSEHOLDS, [("E1", "H1", "2022-06-01", None)], [("M1", "H1", "2022-10-01")])
        assert per_unit(t, "households_with_measure", "2023-01-01", "2023-03-31", ["H1"]) == {
            "H1": False
        }

    def test_measure_before_the_registration_counts_from_the_registration(self):
        # A measure of a household not yet involved counts once the household is involved.
        t = delivery(HOUSEHOLDS, [("E1", "H1", "2023-05-01", None)], [("M1", "H1", "2023-03-01")])
        assert quarter_counts(t, "2023-06-30", "legal_measures") == {
            "2023-03-31": 0,
            "2023-06-30": 1,
        }

    def test_shares(self):
        hh = [(f"H{i}", "A", True) for i in range(1, 21)]
        eps = [(f"E{i}", f"H{i}", "2023-02-01", None) for i in range(1, 21)]
        ms = [("M1", "H1", "2023-02-01"), ("M2", "H1", "2023-03-01"), ("M3", "H2", "2023-03-31")]
        out = evaluate(
            monitor_measures(), delivery(hh, eps, ms), "2023-03-31", policy=NO_DISCLOSURE_CONTROL
        )
        row = out.set_index("indicator")
        assert (
            row.loc["legal_measures_share", "numerator"],
            row.loc["legal_measures_share", "denominator"],
        ) == (3, 20)
        assert row.loc["legal_measures_share", "value"] == pytest.approx(0.15)
        assert row.loc["legal_measures_share", "ci_method"] == "none"
        assert row.loc["households_with_measure_share", "value"] == pytest.approx(0.10)
        assert row.loc["households_with_measure_share", "ci_method"] == "wilson"


# --- 29 February ----------------------------------------------------------------------


class TestLeapDay:
    EPISODES = [
        ("E1", "H1", "2024-02-29", None),  # registered on the leap day
        ("E2", "H2", "2024-01-10", "2024-02-29"),  # closed on the leap day
        ("E3", "H3", "2024-02-28", "2024-03-01"),  # spans the leap day
    ]

    def test_activity_on_the_leap_day(self):
        t = delivery(HOUSEHOLDS, self.EPISODES)
        assert per_unit(t, "households_active", "2024-02-29", "2024-02-29", ["H1", "H2", "H3"]) == {
            "H1": True,
            "H2": False,
            "H3": True,
        }

    def test_reference_date_on_the_leap_day(self):
        t = delivery(HOUSEHOLDS, self.EPISODES)
        counts = indicator_counts(
            t, "2024-02-29", ["registrations", "households_active", "ended_in_period"]
        )
        last = counts.loc[counts["interval_end"] == pd.Timestamp("2024-02-29")].set_index(
            "indicator"
        )["count"]
        assert last.to_dict() == {"registrations": 3, "households_active": 2, "ended_in_period": 1}
        assert counts["interval_start"].max() == pd.Timestamp("2024-01-01")

    def test_leap_day_falls_in_the_first_quarter(self):
        t = delivery(HOUSEHOLDS, self.EPISODES)
        assert quarter_counts(t, "2024-06-30", "registrations")["2024-03-31"] == 3
        assert quarter_counts(t, "2024-06-30", "ended_in_period")["2024-03-31"] == 2


# --- groups ---------------------------------------------------------------------------


def test_household_indicators_follow_the_household_site_episode_indicators_the_episode_site():
    households = [("H1", "A", True), ("H2", "B", True)]
    t = delivery(households, [("E1", "H1", "2023-02-01", None), ("E2", "H2", "2023-02-01", None)])
    t["episodes"].loc[1, "site"] = "A"  # an episode at another site than its household's
    counts = indicator_counts(
        t, "2023-03-31", ["households_active", "registrations"], group_by=["site"]
    )
    table = counts.set_index(["indicator", "site"])["count"].to_dict()
    assert table[("households_active", "A")] == 1
    assert table[("households_active", "B")] == 1
    assert table[("registrations", "A")] == 2
    assert table[("registrations", "B")] == 0
    assert table[("registrations", "all")] == 2
