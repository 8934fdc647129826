"""Spec: re-registration and time to first legal measure (docs/definitions.md).

Each test is a tiny delivery written out as tables, with the expected result per household
(or per episode): ``{household: (time in days, status)}``, status 0 censored, 1 event,
2 competing. Dates are written as day numbers after 1 January 2024 to keep the tables
readable: ``d(10)`` is 11 January 2024.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from cohort.definitions.followup import (
    attrition,
    legal_measure_table,
    recurrent_reregistration_table,
    reregistration_table,
)

BASE = pd.Timestamp("2024-01-01")
R = BASE + pd.Timedelta(days=300)  # the reference date is d(300)


def d(n):
    return None if n is None or pd.isna(n) else BASE + pd.Timedelta(days=int(n))


def dates(values):
    return pd.Series([d(v) for v in values], dtype="datetime64[ns]")


def delivery(episodes, referrals=(), households=None, measures=(), sites=None):
    """Build a delivery from rows: episodes (id, household, site, reg, close, reason)."""
    ep = pd.DataFrame(episodes, columns=["episode_id", "household_id", "site", "reg", "close", "reason"])
    hh_ids = sorted(set(ep["household_id"]))
    hh_rows = households or {}
    hh = pd.DataFrame(
        {
            "household_id": hh_ids,
            "site": [ep.loc[ep["household_id"] == h, "site"].iloc[0] for h in hh_ids],
            "has_children": [True] * len(hh_ids),
            "moved_out_date": dates([hh_rows.get(h) for h in hh_ids]),
        }
    )
    site_rows = sites or {"A": 1000}
    tables = {
        "sites": pd.DataFrame(
            {
                "site": list(site_rows),
                "delivery_start": dates([-365] * len(site_rows)),
                "delivery_end": dates(list(site_rows.values())),
            }
        ),
        "households": hh,
        "episodes": pd.DataFrame(
            {
                "episode_id": ep["episode_id"],
                "household_id": ep["household_id"],
                "site": ep["site"],
                "registration_date": dates(ep["reg"]),
                "closure_date": dates(ep["close"]),
                "closure_reason": pd.Series(ep["reason"], dtype="string"),
            }
        ),
        "referrals": pd.DataFrame(
            {
                "referral_id": [f"R{i}" for i in range(len(referrals))],
                "household_id": [h for h, _ in referrals],
                "referral_date": dates([t for _, t in referrals]),
            }
        ),
        "legal_measures": pd.DataFrame(
            {
                "measure_id": [f"M{i}" for i in range(len(measures))],
                "household_id": [h for h, _, _ in measures],
                "episode_id": [e for _, e, _ in measures],
                "measure_type": ["supervision_order"] * len(measures),
                "start_date": dates([t for _, _, t in measures]),
            }
        ),
    }
    for name in ("household_id", "episode_id", "site"):
        for t in tables.values():
            if name in t.columns:
                t[name] = t[name].astype("string")
    return SimpleNamespace(tables=tables)


def per_household(table):
    return {h: (int(t), int(s)) for h, t, s in zip(table["household_id"], table["time"], table["status"], strict=True)}


# ----------------------------------------------------------------------------- re-registration


def test_first_referral_or_registration_after_closure_is_the_event():
    dl = delivery(
        [
            ("E1", "H1", "A", -50, 10, "goal_reached"),
            ("E2", "H2", "A", -50, 10, "goal_reached"),
            ("E3", "H2", "A", 60, None, None),
            ("E4", "H3", "A", -50, 10, "refused"),
            ("E5", "H3", "A", 40, None, None),
        ],
        referrals=[("H1", 30), ("H1", 20), ("H3", 70)],
    )
    got = per_household(reregistration_table(dl, R, keep_ids=True))
    assert got == {
        "H1": (20 - 10, 1),  # the earliest referral
        "H2": (60 - 10, 1),  # a new registration, no referral
        "H3": (40 - 10, 1),  # the registration comes before the referral
    }


def test_referral_or_registration_on_the_closure_day_is_not_a_reregistration():
    dl = delivery(
        [
            ("E1", "H1", "A", -50, 10, "goal_reached"),
            ("E2", "H2", "A", -50, 10, "goal_reached"),
            ("E3", "H2", "A", 10, 200, "other"),
        ],
        referrals=[("H1", 10), ("H1", 11)],
    )
    got = per_household(reregistration_table(dl, R, keep_ids=True))
    assert got["H1"] == (1, 1)
    # H2: its second episode registered on the closure day is not an event; H2's second
    # closure (d200) has its own row, censored at R
    t = reregistration_table(dl, R, keep_ids=True)
    h2 = t[t["household_id"] == "H2"]
    assert list(zip(h2["time"], h2["status"], strict=True)) == [(300 - 10, 0), (300 - 200, 0)]


def test_moving_out_competes_and_censoring_at_reference_date_or_delivery_end():
    dl = delivery(
        [
            ("E1", "H1", "A", -50, 10, "goal_reached"),  # moves out at d100
            ("E2", "H2", "A", -50, 10, "goal_reached"),  # nothing happens: censored at R
            ("E3", "H3", "B", -50, 10, "goal_reached"),  # site B stops delivering at d120
            ("E4", "H4", "B", -50, 10, "goal_reached"),  # referral after B's delivery end
        ],
        referrals=[("H4", 150)],
        households={"H1": 100},
        sites={"A": 1000, "B": 120},
    )
    t = reregistration_table(dl, R, keep_ids=True)
    assert per_household(t) == {
        "H1": (90, 2),
        "H2": (290, 0),
        "H3": (110, 0),
        "H4": (110, 0),
    }
    assert dict(zip(t["household_id"], t["censor_reason"], strict=True)) == {
        "H1": "moved_out",
        "H2": "reference_date",
        "H3": "delivery_end",
        "H4": "delivery_end",
    }


def test_event_on_the_censoring_day_counts_and_after_it_does_not():
    dl = delivery(
        [
            ("E1", "H1", "A", -50, 10, "goal_reached"),
            ("E2", "H2", "A", -50, 10, "goal_reached"),
            ("E3", "H3", "A", -50, 10, "goal_reached"),
        ],
        referrals=[("H1", 300), ("H2", 301), ("H3", 100)],
        households={"H3": 100},  # moves on the day of the referral
    )
    assert per_household(reregistration_table(dl, R, keep_ids=True)) == {
        "H1": (290, 1),  # on R: an event
        "H2": (290, 0),  # after R: does not exist
        "H3": (90, 1),  # referral and move on one day: a re-registration
    }


def test_exclusions_are_counted_in_the_attrition_table():
    dl = delivery(
        [
            ("E1", "H1", "A", -50, 10, "moved_away"),  # not at risk: moved away
            ("E2", "H2", "A", -50, 310, "goal_reached"),  # closed after R: open on R
            ("E3", "H3", "A", 301, 320, "goal_reached"),  # registered after R
            ("E4", "H4", "A", -50, 10, "goal_reached"),  # analysed
            ("E5", "H5", "A", -50, 300, "goal_reached"),  # closed on R: no follow-up
            ("E6", "H6", "A", -50, 10, "goal_reached"),  # moved out before the closure
        ],
        households={"H6": 5},
    )
    t = reregistration_table(dl, R, keep_ids=True)
    assert list(t["household_id"]) == ["H4"]
    att = attrition(t).set_index("step")["episodes"]
    assert att["episodes in the delivery"] == 6
    assert att["excluded: closed because the household moved away"] == 1
    assert att["excluded: open on the reference date"] == 1
    assert att["excluded: registered after the reference date"] == 1
    assert att["excluded: closed on the reference date (no follow-up)"] == 1
    assert att["excluded: household moved out on or before the closure"] == 1
    assert att["analysed"] == 1
    assert att.iloc[1:-1].sum() + att["analysed"] == att["episodes in the delivery"]


@pytest.mark.parametrize(("referral_day", "within"), [(375, True), (376, False)])
def test_within_window_includes_its_last_day(referral_day, within):
    dl = delivery([("E1", "H1", "A", -50, 10, "goal_reached")], referrals=[("H1", referral_day)])
    t = reregistration_table(dl, d(600), window_days=365, keep_ids=True)
    assert bool(t["reregistered_within_window"].iloc[0]) is within


def test_output_has_no_pseudonyms_by_default():
    dl = delivery([("E1", "H1", "A", -50, 10, "goal_reached")])
    t = reregistration_table(dl, R)
    assert "household_id" not in t.columns and "episode_id" not in t.columns
    assert t["cluster"].tolist() == [0]


# ----------------------------------------------------------------------------- recurrent


def test_recurrent_rows_are_at_risk_only_between_episodes():
    dl = delivery(
        [
            ("E1", "H1", "A", -50, 10, "goal_reached"),
            ("E2", "H1", "A", 60, 110, "goal_reached"),
        ],
        # d20, d40: re-registrations without an episode; d60 opens E2 (an event that ends
        # the at-risk period); d80 is a report during E2 (not a re-registration); d110 on
        # the closure day is not one either.
        referrals=[("H1", 20), ("H1", 40), ("H1", 80), ("H1", 110), ("H1", 200)],
    )
    t = recurrent_reregistration_table(dl, R, keep_ids=True)
    rows = list(zip(t["start"], t["stop"], t["event"], t["prior_events"], t["period"], strict=True))
    assert rows == [
        (0, 10, 1, 0, 1),
        (10, 30, 1, 1, 1),
        (30, 50, 1, 2, 1),
        (100, 190, 1, 3, 2),
        (190, 290, 0, 4, 2),
    ]


def test_recurrent_follow_up_ends_at_moving_out():
    dl = delivery(
        [("E1", "H1", "A", -50, 10, "goal_reached")],
        referrals=[("H1", 20), ("H1", 200)],
        households={"H1": 150},
    )
    t = recurrent_reregistration_table(dl, R, keep_ids=True)
    assert list(zip(t["start"], t["stop"], t["event"], strict=True)) == [(0, 10, 1), (10, 140, 0)]


# ----------------------------------------------------------------------------- legal measures


def test_time_to_first_legal_measure():
    dl = delivery(
        [
            ("E1", "H1", "A", 10, None, None),  # measures at d40 and d30: first is d30
            ("E2", "H2", "A", 10, 100, "moved_away"),  # moves away: competing at closure
            ("E3", "H3", "A", 10, 100, "goal_reached"),  # measure after closure: censored
            ("E4", "H4", "A", 10, 100, "goal_reached"),  # measure on the closure day: event
            ("E5", "H5", "A", 10, None, None),  # measure on the registration day: time 0
            ("E6", "H6", "A", 10, None, None),  # measure before registration: ignored
            ("E7", "H7", "A", -10, None, None),  # registered before the study start
        ],
        measures=[
            ("H1", "E1", 40),
            ("H1", "E1", 30),
            ("H3", "E3", 120),
            ("H4", "E4", 100),
            ("H5", "E5", 10),
            ("H6", "E6", 5),
        ],
    )
    t = legal_measure_table(dl, R, study_start=BASE, keep_ids=True)
    assert per_household(t) == {
        "H1": (20, 1),
        "H2": (90, 2),
        "H3": (90, 0),
        "H4": (90, 1),
        "H5": (0, 1),
        "H6": (290, 0),
    }
    att = attrition(t).set_index("step")["episodes"]
    assert att["excluded: registered before the study start"] == 1


@pytest.mark.parametrize(("link_days", "expected"), [
    # the registration 10 days after the referral is the same re-registration: one event,
    # the at-risk period ends at the referral
    (14, [(0, 20, 1), (80, 290, 0)]),
    # counted separately when not linked
    (0, [(0, 20, 1), (20, 30, 1), (80, 290, 0)]),
])
def test_registration_following_a_referral_is_one_reregistration(link_days, expected):
    dl = delivery(
        [
            ("E1", "H1", "A", -50, 10, "goal_reached"),
            ("E2", "H1", "A", 40, 90, "goal_reached"),
        ],
        referrals=[("H1", 30)],
    )
    t = recurrent_reregistration_table(dl, R, link_days=link_days, keep_ids=True)
    assert list(zip(t["start"], t["stop"], t["event"], strict=True)) == expected


def test_time_to_first_legal_measure_censored_at_delivery_end():
    dl = delivery(
        [
            ("E1", "H1", "B", 10, None, None),  # site B stops delivering at d120
            ("E2", "H2", "B", 10, None, None),  # measure on B's last day: an event
        ],
        measures=[("H1", "E1", 150), ("H2", "E2", 120)],
        sites={"B": 120},
    )
    t = legal_measure_table(dl, R, study_start=BASE, keep_ids=True)
    assert per_household(t) == {"H1": (110, 0), "H2": (110, 1)}
    assert dict(zip(t["household_id"], t["censor_reason"], strict=True)) == {
        "H1": "delivery_end",
        "H2": "legal_measure",
    }
