"""Spec: the effect analyses as emulated target trials (docs/definitions.md, "Effects
against comparison households").

Each test is a tiny delivery written as tables, with the expected result per household:
its arm, its time zero, and for the outcomes ``{household: (time in days, status)}``
(status 0 censored, 1 event, 2 competing). Dates are day numbers after 1 January 2024:
``d(10)`` is 11 January 2024. Site A is a pilot site that starts the new way on d(100);
site C is a comparison site; both deliver from d(-400) to d(1000). The reference date is
d(600) and the enrolment window d(0) to d(500).
"""

from __future__ import annotations

import pandas as pd
import pytest

from cohort.definitions.followup import attrition
from cohort.definitions.target_trial import (
    TrialSpec,
    legal_measure_trial,
    reregistration_trial,
    safety_trial,
    trial_population,
)
from cohort.exceptions import DefinitionError, ParameterError

BASE = pd.Timestamp("2024-01-01")


def d(n):
    return None if n is None or pd.isna(n) else BASE + pd.Timedelta(days=int(n))


def dates(values):
    return pd.Series([d(v) for v in values], dtype="datetime64[ns]")


SPEC = TrialSpec(reference_date=d(600), enrolment_start=d(0), enrolment_end=d(500))


def delivery(episodes, households=None, referrals=(), measures=(), scores=()):
    """episodes: (episode, household, site, reg, close, reason); households: {id: overrides};
    referrals: (household, day); measures: (episode, day); scores: (episode, wave, day, score)."""
    ep = pd.DataFrame(episodes, columns=["episode_id", "household_id", "site", "reg", "close", "reason"])
    ids = sorted(set(ep["household_id"]))
    extra = households or {}
    hh = pd.DataFrame(
        {
            "household_id": ids,
            "site": [ep.loc[ep["household_id"] == h, "site"].iloc[0] for h in ids],
            "has_children": [extra.get(h, {}).get("has_children", True) for h in ids],
            "moved_out_date": dates([extra.get(h, {}).get("moved") for h in ids]),
            "severity": [extra.get(h, {}).get("severity", "low") for h in ids],
            "prior_reports": pd.array([extra.get(h, {}).get("prior", 1) for h in ids], dtype="Int64"),
        }
    )
    sites = pd.DataFrame(
        {
            "site": ["A", "C"],
            "name": ["Pilot", "Comparison"],
            "delivery_start": dates([-400, -400]),
            "delivery_end": dates([1000, 1000]),
            "arm": ["pilot", "comparison"],
            "pilot_start": dates([100, None]),
        }
    )
    episodes = pd.DataFrame(
        {
            "episode_id": ep["episode_id"],
            "household_id": ep["household_id"],
            "site": ep["site"],
            "registration_date": dates(ep["reg"]),
            "closure_date": dates(ep["close"]),
            "closure_reason": ep["reason"],
        }
    )
    refs = pd.DataFrame(list(referrals), columns=["household_id", "day"])
    lm = pd.DataFrame(list(measures), columns=["episode_id", "day"])
    lm = lm.assign(
        measure_id=[f"M{i}" for i in range(len(lm))],
        household_id=lm["episode_id"].map(dict(zip(ep["episode_id"], ep["household_id"], strict=True))),
        start_date=dates(lm["day"]),
        measure_type="supervision_order",
    )
    sc = pd.DataFrame(list(scores), columns=["episode_id", "wave", "day", "score"])
    sa = sc.assign(
        assessment_id=[f"A{i}" for i in range(len(sc))],
        household_id=sc["episode_id"].map(dict(zip(ep["episode_id"], ep["household_id"], strict=True))),
        assessment_date=dates(sc["day"]),
        respondent="professional",
    )
    return {
        "sites": sites,
        "households": hh,
        "episodes": episodes,
        "referrals": pd.DataFrame(
            {"referral_id": [f"R{i}" for i in range(len(refs))], "household_id": refs["household_id"],
             "referral_date": dates(refs["day"])}
        ),
        "legal_measures": lm,
        "safety_assessments": sa,
    }


def arms(table):
    return dict(zip(table["household_id"], table["arm"], strict=True))


def zero(table):
    return {h: (t - BASE).days for h, t in zip(table["household_id"], table["time_zero"], strict=True)}


def outcome(table):
    return {h: (int(t), int(s)) for h, t, s in zip(table["household_id"], table["time"], table["status"], strict=True)}


# --- assignment at time zero ------------------------------------------------------------


class TestAssignment:
    EPISODES = [
        ("E1", "H1", "A", 150, 300, "goal_reached"),  # at the pilot site after its start
        ("E2", "H2", "A", 50, 300, "goal_reached"),  # before the start, still open at it
        ("E3", "H3", "C", 150, 300, "goal_reached"),  # comparison site
        ("E4", "H4", "A", 100, None, None),  # on the start day itself
    ]

    def test_the_arm_is_the_way_of_working_of_the_site_on_the_registration_day(self):
        t = trial_population(delivery(self.EPISODES), SPEC, keep_ids=True)
        assert arms(t) == {"H1": "pilot", "H3": "comparison", "H4": "pilot"}
        assert zero(t) == {"H1": 150, "H3": 150, "H4": 100}

    def test_a_household_registered_before_the_start_is_never_a_pilot_household(self):
        # E2 is open when site A starts the new way: counting H2 as a pilot household would
        # credit its first 50 days of follow-up to the new way (immortal time). It is left
        # out of the concurrent trial, or a comparison household in the historical one.
        spec = TrialSpec(reference_date=d(600), enrolment_start=d(0), enrolment_end=d(500),
                         comparison="concurrent_and_before")
        t = trial_population(delivery(self.EPISODES), spec, keep_ids=True)
        assert arms(t) == {"H1": "pilot", "H2": "comparison", "H3": "comparison", "H4": "pilot"}
        assert dict(zip(t["household_id"], t["comparison_source"], strict=True))["H2"] == "before_pilot_start"
        assert zero(t)["H2"] == 50

    def test_the_arm_does_not_change_during_follow_up(self):
        # H2's measure on d(120), after site A started, still counts for the comparison arm
        spec = TrialSpec(reference_date=d(600), enrolment_start=d(0), enrolment_end=d(500),
                         comparison="concurrent_and_before")
        t = legal_measure_trial(delivery(self.EPISODES, measures=[("E2", 120)]), spec, keep_ids=True)
        assert arms(t)["H2"] == "comparison"
        assert outcome(t)["H2"] == (70, 1)


# --- eligibility at time zero ------------------------------------------------------------


class TestEligibility:
    def test_one_entry_per_household_its_first_eligible_registration(self):
        t = trial_population(
            delivery([("E1", "H1", "A", 150, 200, "goal_reached"), ("E2", "H1", "A", 260, None, None)]),
            SPEC, keep_ids=True,
        )
        assert t["episode_id"].tolist() == ["E1"]

    def test_a_registration_while_an_earlier_episode_is_open_is_not_a_new_registration(self):
        t = trial_population(
            delivery([("E1", "H1", "C", -200, None, None), ("E2", "H1", "C", 150, 250, "other"),
                      ("E3", "H2", "C", -200, -10, "goal_reached"), ("E4", "H2", "C", 150, None, None)]),
            SPEC, keep_ids=True,
        )
        assert t["episode_id"].tolist() == ["E4"]  # H2's earlier episode had closed

    @pytest.mark.parametrize(("reg", "kept"), [(-1, False), (0, True), (500, True), (501, False)])
    def test_the_enrolment_window_includes_both_ends(self, reg, kept):
        t = trial_population(delivery([("E1", "H1", "C", reg, None, None)]), SPEC)
        assert len(t) == int(kept)

    def test_a_household_missing_a_covariate_is_left_out_and_counted(self):
        t = trial_population(
            delivery([("E1", "H1", "C", 150, None, None), ("E2", "H2", "C", 160, None, None)],
                     households={"H2": {"severity": None}}),
            SPEC, keep_ids=True,
        )
        assert t["household_id"].tolist() == ["H1"]
        att = attrition(t).set_index("step")
        assert att.loc["excluded: a covariate is missing", "households"] == 1

    def test_every_episode_is_accounted_for(self):
        t = trial_population(
            delivery(TestAssignment.EPISODES + [("E5", "H5", "C", 550, None, None), ("E6", "H6", "C", 700, None, None)]),
            SPEC,
        )
        att = attrition(t)
        assert att["episodes"].iloc[0] == 6
        assert att["episodes"].iloc[1:-1].sum() + att["episodes"].iloc[-1] == 6
        assert att["episodes"].iloc[-1] == len(t) == 3

    def test_an_unknown_covariate_is_named(self):
        spec = TrialSpec(reference_date=d(600), covariates=("severity", "income"))
        with pytest.raises(DefinitionError, match=r"covariate\(s\) \['income'\]"):
            trial_population(delivery([("E1", "H1", "C", 150, None, None)]), spec)


# --- outcomes --------------------------------------------------------------------------


class TestLegalMeasure:
    def test_event_competing_closure_and_censoring(self):
        t = legal_measure_trial(
            delivery(
                [("E1", "H1", "A", 150, 400, "goal_reached"),  # measure on d(200)
                 ("E2", "H2", "A", 150, 300, "goal_reached"),  # measure after closure: episode ended
                 ("E3", "H3", "C", 150, None, None),  # open: censored at R
                 ("E4", "H4", "C", 150, 300, "goal_reached"),  # measure on the closure day counts
                 ("E5", "H5", "C", 150, 160, "moved_away"),  # ended by moving: episode ended
                 ("E6", "H6", "A", 150, None, None)],  # measure on the registration day: time 0
                measures=[("E1", 200), ("E2", 350), ("E4", 300), ("E6", 150)],
            ),
            SPEC, keep_ids=True,
        )
        assert outcome(t) == {
            "H1": (50, 1), "H2": (150, 2), "H3": (450, 0), "H4": (150, 1), "H5": (10, 2), "H6": (0, 1),
        }


class TestReregistration:
    def test_time_zero_is_the_closure_and_the_arm_the_episode_s(self):
        t = reregistration_trial(
            delivery(
                [("E1", "H1", "A", 150, 250, "goal_reached"),  # re-referred on d(300)
                 ("E2", "H2", "C", 150, 250, "goal_reached"),  # moves out on d(280)
                 ("E3", "H3", "C", 150, 250, "moved_away"),  # left the region: not at risk
                 ("E4", "H4", "A", 150, None, None),  # open on R: no time zero yet
                 ("E5", "H5", "C", 150, 250, "refused")],  # censored at R
                households={"H2": {"moved": 280}, "H3": {"moved": 250}},
                referrals=[("H1", 250), ("H1", 300)],  # on the closure day: not a re-registration
            ),
            SPEC, keep_ids=True,
        )
        assert outcome(t) == {"H1": (50, 1), "H2": (30, 2), "H5": (350, 0)}
        assert zero(t) == {"H1": 250, "H2": 250, "H5": 250}
        assert arms(t) == {"H1": "pilot", "H2": "comparison", "H5": "comparison"}
        steps = attrition(t).set_index("step")["households"]
        assert steps["excluded: closed because the household moved away"] == 1
        assert steps["excluded: the episode is open on the reference date"] == 1


class TestSafety:
    def test_change_from_t0_to_t2_of_the_trial_episode(self):
        t = safety_trial(
            delivery(
                [("E1", "H1", "A", 150, None, None), ("E2", "H2", "C", 150, None, None)],
                scores=[("E1", "T0", 155, 4.0), ("E1", "T2", 520, 7.0), ("E2", "T0", 155, 5.0)],
            ),
            SPEC, keep_ids=True,
        )
        assert dict(zip(t["household_id"], t["change"], strict=True)) == {"H1": 3.0}
        steps = attrition(t).set_index("step")["households"]
        assert steps["excluded: no professional score at T2 (yet)"] == 1


# --- the protocol --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"comparison": "historical"}, "comparison must be one of concurrent, concurrent_and_before"),
        ({"enrolment_start": "2027-01-01"}, "the enrolment window 2027-01-01 to 2026-06-30 must be in order"),
        ({"covariates": []}, "covariates must be a non-empty list"),
        ({"horizons_months": [0, 12]}, "horizons_months must be whole months from 1 to 120"),
        ({"trim_quantiles": [0.99, 0.01]}, "trim_quantiles must be two quantiles"),
        ({"bootstrap_replications": 10}, "bootstrap_replications must be a whole number from 99"),
    ],
)
def test_a_bad_protocol_is_a_parameter_error_naming_the_key(values, message):
    with pytest.raises(ParameterError, match=message):
        TrialSpec.from_mapping(values, "2026-06-30", source="final.yaml: effects")
