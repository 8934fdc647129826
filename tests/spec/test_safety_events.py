"""Spec: time to direct and to stable safety (docs/definitions.md, "Time to safety").

Each test is a tiny delivery: every household has one episode registered on day 0 (unless
the test says otherwise) and a list of its scores as ``(day, score)`` (the professional's
unless a respondent is named). The expected result per household is its interval
``(left, right)`` in days since time zero, ``inf`` when right-censored, and where it
matters the kind of censoring. Days count from 1 January 2024; the reference date is day
600; the threshold is 7 and stable safety needs a run of safe assessments spanning at
least 90 days.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cohort.definitions.followup import attrition
from cohort.definitions.safety_events import safety_intervals
from cohort.exceptions import ParameterError

BASE = pd.Timestamp("2024-01-01")
R = BASE + pd.Timedelta(days=600)
inf = np.inf


def d(n):
    return None if n is None else BASE + pd.Timedelta(days=int(n))


def dates(values):
    return pd.Series([d(v) for v in values], dtype="datetime64[ns]")


def delivery(scores, episodes=None, moved=None, site_end=1000):
    """``scores``: {household: [(day, score) or (day, score, respondent), ...]};
    ``episodes``: {household: [(episode, registration day, closure day or None, reason)]}
    (default: one episode registered on day 0, open)."""
    episodes = episodes or {}
    moved = moved or {}
    ep_rows, sa_rows = [], []
    for h in sorted(set(scores) | set(episodes)):
        eps = episodes.get(h, [(f"{h}-E1", 0, None, None)])
        for e, reg, close, reason in eps:
            ep_rows.append((e, h, "A", d(reg), d(close), reason))
        for item in scores.get(h, []):
            day, score = item[0], item[1]
            who = item[2] if len(item) > 2 else "professional"
            episode = item[3] if len(item) > 3 else eps[0][0]
            sa_rows.append((h, episode, d(day), who, score))
    hh = sorted({r[1] for r in ep_rows})
    tables = {
        "sites": pd.DataFrame({"site": ["A"], "delivery_start": dates([-400]),
                               "delivery_end": dates([site_end])}),
        "households": pd.DataFrame({"household_id": hh, "site": "A", "has_children": True,
                                    "severity": "low", "moved_out_date": dates([moved.get(h) for h in hh])}),
        "episodes": pd.DataFrame(ep_rows, columns=["episode_id", "household_id", "site",
                                                   "registration_date", "closure_date", "closure_reason"]),
        "safety_assessments": pd.DataFrame(sa_rows, columns=["household_id", "episode_id",
                                                            "assessment_date", "respondent", "score"]),
    }
    for t in ("registration_date", "closure_date"):
        tables["episodes"][t] = tables["episodes"][t].astype("datetime64[ns]")
    tables["episodes"]["closure_reason"] = tables["episodes"]["closure_reason"].astype("string")
    tables["safety_assessments"]["assessment_date"] = tables["safety_assessments"]["assessment_date"].astype("datetime64[ns]")
    tables["safety_assessments"]["score"] = tables["safety_assessments"]["score"].astype("Float64")
    return SimpleNamespace(tables=tables)


def intervals(scores, outcome="direct", **kwargs):
    dl = delivery(scores, **{k: kwargs.pop(k) for k in ("episodes", "moved", "site_end") if k in kwargs})
    out = safety_intervals(dl, R, outcome=outcome, keep_ids=True, **kwargs)
    return out


def result(table, kind=False):
    rows = table.set_index("household_id")
    if kind:
        return {h: (r.left, r.right, r.censoring) for h, r in rows.iterrows()}
    return {h: (r.left, r.right) for h, r in rows.iterrows()}


# ----------------------------------------------------------------------------- direct


def test_direct_safety_is_bracketed_by_the_assessment_before_it():
    t = intervals({
        "H1": [(10, 4), (190, 7), (370, 8)],   # safe first at day 190, not at day 10
        "H2": [(10, 6), (100, 7)],             # a score equal to the threshold is safe
        "H3": [(10, 4), (190, 6), (370, 9)],
    })
    assert result(t, kind=True) == {
        "H1": (10, 190, "interval"),
        "H2": (10, 100, "interval"),
        "H3": (190, 370, "interval"),
    }


def test_safe_at_the_first_assessment_is_left_censored_from_time_zero():
    t = intervals({
        "H1": [(5, 8), (190, 9)],   # safe between registration and day 5
        "H2": [(0, 9)],             # assessed safe on the day of registration: an event at 0
    })
    assert result(t, kind=True) == {"H1": (0, 5, "left"), "H2": (0, 0, "left")}


def test_never_safe_is_right_censored_at_the_last_assessment():
    t = intervals({"H1": [(10, 3), (190, 6)], "H2": [(10, 5)]})
    assert result(t, kind=True) == {"H1": (190, inf, "right"), "H2": (10, inf, "right")}
    assert t.set_index("household_id")["event"].to_dict() == {"H1": 0, "H2": 0}


def test_households_with_one_assessment():
    t = intervals({"SAFE": [(12, 7)], "UNSAFE": [(12, 6)]})
    assert result(t) == {"SAFE": (0, 12), "UNSAFE": (12, inf)}
    assert t.set_index("household_id")["n_assessments"].to_dict() == {"SAFE": 1, "UNSAFE": 1}


def test_several_scores_on_one_day_the_lowest_counts_by_default():
    scores = {"H1": [(10, 8), (10, 5), (190, 7)]}
    assert result(intervals(scores)) == {"H1": (10, 190)}
    assert result(intervals(scores, same_day="max")) == {"H1": (0, 10)}
    assert result(intervals(scores, same_day="mean")) == {"H1": (10, 190)}  # 6.5 < 7


def test_only_the_chosen_respondent_counts():
    scores = {"H1": [(10, 9, "parent"), (10, 4), (190, 8), (190, 3, "child")]}
    assert result(intervals(scores)) == {"H1": (10, 190)}
    assert result(intervals(scores, respondent="parent")) == {"H1": (0, 10)}
    assert result(intervals(scores, respondent="child")) == {"H1": (190, inf)}


def test_missing_scores_are_left_out():
    t = intervals({"H1": [(10, 4), (100, None), (190, 8)]})
    assert result(t) == {"H1": (10, 190)}


def test_time_zero_at_t0():
    t = intervals({"H1": [(10, 4), (190, 7)], "H2": [(14, 8), (190, 9)]}, origin="t0")
    assert result(t, kind=True) == {"H1": (0, 180, "interval"), "H2": (0, 0, "left")}


# ----------------------------------------------------------------------------- follow-up


def test_follow_up_ends_at_closure_moving_away_delivery_end_and_reference_date():
    eps = {
        "CLOSED": [("C-E1", 0, 150, "goal_reached")],
        "MOVEDCL": [("M-E1", 0, 150, "moved_away")],
        "OPEN": [("O-E1", 0, None, None)],
        "MOVED": [("V-E1", 0, None, None)],
    }
    scores = {h: [(10, 4), (160, 9)] for h in eps}
    scores["OPEN"] = [(10, 4), (590, 3), (610, 9)]  # day 610 is after the reference date
    t = intervals(scores, episodes=eps, moved={"MOVED": 100})
    assert result(t) == {"CLOSED": (10, inf), "MOVEDCL": (10, inf), "OPEN": (590, inf),
                         "MOVED": (10, inf)}
    ends = t.set_index("household_id")[["end_reason", "follow_up_end"]]
    assert ends.to_dict("index") == {
        "CLOSED": {"end_reason": "closure", "follow_up_end": 150.0},
        "MOVEDCL": {"end_reason": "moved_away", "follow_up_end": 150.0},
        "OPEN": {"end_reason": "reference_date", "follow_up_end": 600.0},
        "MOVED": {"end_reason": "moved_away", "follow_up_end": 100.0},
    }


def test_an_assessment_on_the_day_follow_up_ends_counts():
    t = intervals({"H1": [(10, 4), (150, 9)]}, episodes={"H1": [("E1", 0, 150, "goal_reached")]})
    assert result(t) == {"H1": (10, 150)}


def test_the_site_stopping_delivery_ends_follow_up():
    t = intervals({"H1": [(10, 4), (190, 9)]}, site_end=120)
    assert result(t) == {"H1": (10, inf)}
    assert t["end_reason"].tolist() == ["delivery_end"]


def test_a_move_before_the_registration_does_not_end_a_later_episode():
    t = intervals({"H1": [(210, 4), (390, 9)]}, episodes={"H1": [("E1", 200, None, None)]},
                  moved={"H1": 100})
    assert result(t) == {"H1": (10, 190)}


def test_every_episode_is_accounted_for():
    eps = {
        "OK": [("OK-E1", 0, None, None), ("OK-E2", 400, None, None)],
        "LATE": [("L-E1", 650, None, None)],            # registered after the reference date
        "EARLY": [("X-E1", -500, None, None)],          # registered before the study start
        "NOSCORE": [("N-E1", 0, None, None)],           # only a parent's score
    }
    scores = {"OK": [(10, 4), (190, 8), (410, 9, "professional", "OK-E2")],
              "EARLY": [(10, 4)], "NOSCORE": [(10, 9, "parent")], "LATE": [(660, 3)]}
    t = intervals(scores, episodes=eps)
    assert sorted(zip(t["household_id"], t["episode_number"], strict=True)) == [("OK", 1), ("OK", 2)]
    assert result(t.loc[t["episode_number"] == 2]) == {"OK": (0, 10)}
    att = attrition(t).set_index("step")["episodes"].to_dict()
    assert att == {
        "episodes in the delivery": 5,
        "excluded: registered after the reference date": 1,
        "excluded: registered before the study start": 1,
        "excluded: site delivered no data after the registration": 0,
        "excluded: no professional score during follow-up": 1,
        "analysed": 2,
    }


# ----------------------------------------------------------------------------- stable


def test_stable_safety_is_a_safe_run_spanning_90_days_bracketed_like_direct_safety():
    t = intervals({
        "RUN": [(10, 4), (190, 7), (370, 8)],               # run 190-370: onset in (10, 190]
        "LONGRUN": [(10, 4), (100, 8), (110, 8), (300, 8)],  # run 100-300
        "SECOND": [(10, 8), (190, 5), (370, 8), (550, 9)],   # first run too short
        "LEFT": [(10, 8), (190, 9)],                         # safe from the first assessment
    }, outcome="stable")
    assert result(t, kind=True) == {
        "RUN": (10, 190, "interval"),
        "LONGRUN": (10, 100, "interval"),
        "SECOND": (190, 370, "interval"),
        "LEFT": (0, 10, "left"),
    }


def test_stable_safety_at_exactly_90_days_and_at_89():
    t = intervals({"AT90": [(10, 4), (100, 7), (190, 7)], "AT89": [(10, 4), (100, 7), (189, 7)]},
                  outcome="stable")
    assert result(t) == {"AT90": (10, 100), "AT89": (10, inf)}


def test_the_threshold_of_days_is_a_parameter():
    scores = {"H1": [(10, 4), (100, 7), (130, 7)]}
    assert result(intervals(scores, outcome="stable", stable_days=30)) == {"H1": (10, 100)}
    assert result(intervals(scores, outcome="stable")) == {"H1": (10, inf)}


def test_not_yet_stable_is_right_censored_where_stability_is_settled():
    """Censored at the last assessment made 90 days or more before the last one: up to it
    stability is settled whatever the later scores; the last score does not move it."""
    t = intervals({
        "SHORT": [(10, 4), (190, 7), (200, 8), (370, 3)],  # a short run, then unsafe again
        "TRAILING": [(10, 4), (190, 8)],                   # may still become stable
        "TRAILUNSAFE": [(10, 4), (190, 3)],                # the same, last score below
    }, outcome="stable")
    assert result(t, kind=True) == {
        "SHORT": (200, inf, "right"),
        "TRAILING": (10, inf, "right"),
        "TRAILUNSAFE": (10, inf, "right"),
    }


def test_stable_safety_that_cannot_be_settled_is_left_out_and_counted():
    """One assessment, or all within 90 days of the last: nothing is known about stable
    safety (the household may have been stably safe from its first assessment)."""
    t = intervals({"ONE": [(10, 8)], "CLOSE": [(10, 3), (60, 8)], "OK": [(10, 4), (190, 8)]},
                  outcome="stable")
    assert result(t) == {"OK": (10, inf)}
    att = attrition(t).set_index("step")["episodes"]
    assert att["excluded: stable safety not settled (no assessment 90 days before the last)"] == 2


def test_stable_safety_never_comes_before_direct_safety():
    scores = {
        "A": [(10, 8), (190, 5), (370, 8), (550, 9)],
        "B": [(10, 4), (190, 7), (200, 8), (370, 3), (400, 9), (550, 9)],
        "C": [(10, 3), (100, 9)],
    }
    direct = intervals(scores).set_index("household_id")
    stable = intervals(scores, outcome="stable").set_index("household_id")
    assert (stable["right"] >= direct["right"]).all()
    events = stable["event"] == 1
    assert (stable.loc[events, "left"] >= direct.loc[events, "left"]).all()


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("kwargs", [
    {"outcome": "sustained"}, {"safety_threshold": 11}, {"respondent": "ouder"},
    {"origin": "closure"}, {"same_day": "last"}, {"stable_days": 0},
])
def test_bad_options_are_parameter_errors(kwargs):
    with pytest.raises(ParameterError):
        intervals({"H1": [(10, 4)]}, **kwargs)


def test_released_columns_carry_no_pseudonyms_unless_asked():
    dl = delivery({"H1": [(10, 4), (190, 8)]})
    t = safety_intervals(dl, R)
    assert "household_id" not in t.columns and "episode_id" not in t.columns
    assert t.attrs["definition"]["safety_threshold"] == 7


# ----------------------------------------------------------------------------- wave scale

T = 6 * 365.25 / 12  # days from one planned wave to the next


def test_on_the_wave_scale_assessments_sit_at_their_planned_wave():
    t = intervals({
        "H1": [(10, 4), (190, 8)],                     # T0, T1
        "GAP": [(10, 4), (370, 8)],                    # T1 missed: interval over it
        "T0SAFE": [(10, 8)],
        "LATE": [(190, 8)],                            # first assessed at T1, safe
        "TWICE": [(10, 4), (190, 8), (200, 5), (370, 9)],  # T1 twice: the lowest counts
        "NEVER": [(10, 4), (190, 6), (370, 5)],
    }, time_scale="waves")
    got = result(t, kind=True)
    late = got.pop("LATE")
    assert np.isnan(late[0]) and late[1:] == (T, "left")
    assert got == {
        "H1": (0, T, "interval"),
        "GAP": (0, 2 * T, "interval"),
        "T0SAFE": (0, 0, "left"),
        "TWICE": (T, 2 * T, "interval"),
        "NEVER": (2 * T, inf, "right"),
    }


def test_stable_safety_on_the_wave_scale():
    t = intervals({"H1": [(10, 4), (190, 8), (370, 9)], "H2": [(10, 8), (190, 8)]},
                  outcome="stable", time_scale="waves")
    assert result(t) == {"H1": (0, T), "H2": (0, 0)}
