"""Spec: which households an analysis sees (docs/definitions.md, "Study population: sites
and arms").

The monitor and every indicator count pilot-arm sites only; the effect analyses see both
arms. Each test is a tiny delivery written as a table, with the expected household per
site and arm.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cohort.definitions.population import ALL_ARMS, restrict, site_arms
from cohort.exceptions import ParameterError
from cohort.monitor.indicators import counted_units

D = pd.to_datetime


def delivery(sites, households):
    """sites: (site, arm or None, pilot_start or None); households: (household_id, site,
    registration_date); one episode per household, open, and one referral on its day."""
    st = pd.DataFrame(sites, columns=["site", "arm", "pilot_start"])
    st = st.assign(
        name=st["site"],
        delivery_start=D("2022-01-01"),
        delivery_end=D("2026-09-30"),
        pilot_start=D(st["pilot_start"]),
    ).astype({"site": "string", "arm": "string"})
    hh = pd.DataFrame(households, columns=["household_id", "site", "registration_date"])
    ep = pd.DataFrame(
        {
            "episode_id": "E" + hh["household_id"],
            "household_id": hh["household_id"],
            "site": hh["site"],
            "registration_date": D(hh["registration_date"]),
            "closure_date": D([None] * len(hh)),
        }
    ).astype({"episode_id": "string", "household_id": "string", "site": "string"})
    households = hh.assign(has_children=True)[["household_id", "site", "has_children"]].astype(
        {"household_id": "string", "site": "string", "has_children": "boolean"}
    )
    refs = pd.DataFrame(
        {"referral_id": "R" + hh["household_id"], "household_id": hh["household_id"],
         "referral_date": D(hh["registration_date"])}
    )
    measures = pd.DataFrame(
        {"measure_id": ["M1"], "household_id": [hh["household_id"].iloc[-1]],
         "episode_id": ["E" + hh["household_id"].iloc[-1]], "start_date": D(["2024-02-01"]),
         "measure_type": ["supervision_order"]}
    )
    return {"sites": st, "households": households, "episodes": ep, "referrals": refs,
            "legal_measures": measures}


SITES = [("A", "pilot", "2023-01-01"), ("B", "pilot", None), ("C", "comparison", None)]
HOUSEHOLDS = [("H1", "A", "2023-03-01"), ("H2", "B", "2023-05-01"), ("H3", "C", "2023-06-01")]


def involved(tables):
    units = ["H1", "H2", "H3"]
    counted = set(counted_units(tables, "households_involved", "2024-10-01", "2024-12-31"))
    return {u: u in counted for u in units}


def test_the_monitor_counts_pilot_arm_households_only():
    t = restrict(delivery(SITES, HOUSEHOLDS))
    assert involved(t) == {"H1": True, "H2": True, "H3": False}


def test_the_comparison_arm_and_both_arms_on_request():
    t = delivery(SITES, HOUSEHOLDS)
    assert involved(restrict(t, arms=("comparison",))) == {"H1": False, "H2": False, "H3": True}
    assert involved(restrict(t, arms=ALL_ARMS)) == {"H1": True, "H2": True, "H3": True}
    assert involved(restrict(t, arms="all")) == {"H1": True, "H2": True, "H3": True}


def test_household_tables_follow_their_household():
    t = restrict(delivery(SITES, HOUSEHOLDS))
    assert t["referrals"]["household_id"].tolist() == ["H1", "H2"]
    assert t["legal_measures"].empty  # the measure is H3's, at the comparison site
    assert t["sites"]["site"].tolist() == ["A", "B"]


def test_sites_and_arms_together():
    t = restrict(delivery(SITES, HOUSEHOLDS), sites=["B", "C"])
    assert involved(t) == {"H1": False, "H2": True, "H3": False}


def test_a_delivery_without_arms_is_all_pilot():
    t = delivery(SITES, HOUSEHOLDS)
    t["sites"] = t["sites"].drop(columns=["arm", "pilot_start"])
    assert involved(restrict(t)) == {"H1": True, "H2": True, "H3": True}
    assert site_arms(t)["arm"].tolist() == ["pilot", "pilot", "pilot"]


def test_an_empty_arm_is_pilot_and_an_empty_pilot_start_is_the_delivery_start():
    t = delivery([("A", None, None), ("C", "comparison", None)], HOUSEHOLDS[:1] + HOUSEHOLDS[2:])
    arms = site_arms(t).set_index("site")
    assert arms.loc["A", "arm"] == "pilot"
    assert arms.loc["A", "pilot_start"] == pd.Timestamp("2022-01-01")
    assert pd.isna(arms.loc["C", "pilot_start"])


def test_the_input_is_not_changed():
    t = delivery(SITES, HOUSEHOLDS)
    before = {k: v.copy() for k, v in t.items()}
    restrict(t)
    for k, v in t.items():
        pd.testing.assert_frame_equal(v, before[k])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sites": ["X"]}, "site 'X' is not a site of the delivery; known sites: A, B, C"),
    ({"arms": ("control",)}, "arms must be a non-empty selection of pilot, comparison"),
    ({"arms": ()}, "arms must be a non-empty selection"),
])
def test_bad_selections_are_parameter_errors(kwargs, message):
    with pytest.raises(ParameterError, match=message.replace("(", r"\(")):
        restrict(delivery(SITES, HOUSEHOLDS), **kwargs)
