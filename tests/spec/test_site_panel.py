"""Spec: quarterly site outcomes of the staggered-adoption analysis (docs/definitions.md,
"Staggered adoption: quarterly site outcomes").

Tiny deliveries written as tables; the expected value per site and quarter. Site A is a
pilot site starting the new way on 15 May 2023 (inside 2023Q2), site C a comparison site;
both deliver from 1 January 2023 to 30 June 2025 unless a test says otherwise.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cohort.definitions.site_panel import site_quarter_panel

D = pd.to_datetime


def delivery(episodes, referrals=(), measures=(), moved=None, site_rows=None):
    """episodes: (episode, household, site, registration, closure or None, reason or None)."""
    ep = pd.DataFrame(episodes, columns=["episode_id", "household_id", "site", "registration_date",
                                         "closure_date", "closure_reason"])
    ep["registration_date"] = D(ep["registration_date"])
    ep["closure_date"] = D(ep["closure_date"])
    hh = ep.drop_duplicates("household_id")[["household_id", "site"]].reset_index(drop=True)
    hh["moved_out_date"] = D(hh["household_id"].map(moved or {}))
    sites = pd.DataFrame(
        site_rows
        or [("A", "2023-01-01", "2025-06-30", "pilot", "2023-05-15"),
            ("C", "2023-01-01", "2025-06-30", "comparison", None)],
        columns=["site", "delivery_start", "delivery_end", "arm", "pilot_start"],
    )
    for c in ("delivery_start", "delivery_end", "pilot_start"):
        sites[c] = D(sites[c])
    refs = pd.DataFrame(list(referrals), columns=["household_id", "referral_date"])
    refs["referral_date"] = D(refs["referral_date"])
    refs["household_id"] = refs["household_id"].astype("string")
    lm = pd.DataFrame(list(measures), columns=["household_id", "start_date"])
    lm["start_date"] = D(lm["start_date"])
    return {"sites": sites, "households": hh, "episodes": ep, "referrals": refs, "legal_measures": lm}


def value(panel, site, quarter, column):
    row = panel[(panel["site"] == site) & (panel["quarter"] == quarter)]
    assert len(row) == 1, (site, quarter)
    return row[column].iloc[0]


def test_groups_and_treated_quarters():
    p = site_quarter_panel(delivery([("E1", "H1", "A", "2023-02-01", None, None)]), "2024-12-31")
    assert set(p.loc[p["site"] == "A", "group"]) == {"2023Q2"}
    assert set(p.loc[p["site"] == "C", "group"]) == {"never"}
    # a start inside a quarter makes that quarter treated
    treated = dict(zip(p.loc[p["site"] == "A", "quarter"], p.loc[p["site"] == "A", "treated"], strict=True))
    assert (treated["2023Q1"], treated["2023Q2"], treated["2024Q4"]) == (False, True, True)
    assert not p.loc[p["site"] == "C", "treated"].any()


def test_only_complete_quarters_on_or_before_the_reference_date():
    p = site_quarter_panel(delivery([("E1", "H1", "A", "2023-02-01", None, None)]), "2024-11-15")
    assert p.loc[p["site"] == "A", "quarter"].tolist()[-1] == "2024Q3"
    rows = [("A", "2023-02-10", "2025-06-30", "pilot", "2023-05-15"),
            ("C", "2023-01-01", "2024-08-31", "comparison", None)]
    p = site_quarter_panel(delivery([("E1", "H1", "A", "2023-03-01", None, None)], site_rows=rows), "2024-12-31")
    assert p.loc[p["site"] == "A", "quarter"].tolist()[0] == "2023Q2"  # 2023Q1 not wholly delivered
    assert p.loc[p["site"] == "C", "quarter"].tolist()[-1] == "2024Q2"


def test_registrations_and_households_active():
    p = site_quarter_panel(
        delivery([
            ("E1", "H1", "A", "2023-03-31", "2023-04-01", "other"),  # active on 31 March only
            ("E2", "H2", "A", "2023-01-05", "2023-07-01", "other"),  # closed on 2023Q3's first day
            ("E3", "H2", "A", "2023-02-01", None, None),  # the same household: counted once
        ]),
        "2023-12-31",
    )
    assert value(p, "A", "2023Q1", "registrations") == 3
    assert value(p, "A", "2023Q1", "first_registrations") == 2  # E3 is H2's second episode
    assert value(p, "A", "2023Q1", "households_active") == 2
    assert value(p, "A", "2023Q2", "households_active") == 1  # H2 (H1 closed on 1 April)
    assert value(p, "A", "2023Q3", "households_active") == 1  # H2 through E3, not E2


def test_legal_measures_per_household_by_the_household_s_site():
    p = site_quarter_panel(
        delivery([("E1", "H1", "A", "2023-01-05", None, None), ("E2", "H2", "A", "2023-02-05", None, None)],
                 measures=[("H1", "2023-03-01"), ("H1", "2023-03-20"), ("H2", "2023-04-02")]),
        "2023-12-31",
    )
    assert value(p, "A", "2023Q1", "legal_measures") == 2
    assert value(p, "A", "2023Q1", "legal_measures_per_household") == pytest.approx(1.0)
    assert value(p, "A", "2023Q2", "legal_measures_per_household") == pytest.approx(0.5)


def test_reregistration_within_12_months_of_a_closure():
    p = site_quarter_panel(
        delivery(
            [("E1", "H1", "C", "2023-01-05", "2023-02-01", "goal_reached"),  # re-referred on day 365
             ("E2", "H2", "C", "2023-01-05", "2023-02-01", "goal_reached"),  # on day 366: not within
             ("E3", "H3", "C", "2023-01-05", "2023-02-01", "moved_away"),  # not at risk: no closure
             ("E4", "H4", "C", "2023-01-05", "2023-02-01", "other"),  # re-registered by an episode
             ("E5", "H4", "C", "2023-06-01", None, None)],
            referrals=[("H1", "2024-02-01"), ("H2", "2024-02-02")],
        ),
        "2025-06-30",
    )
    assert value(p, "C", "2023Q1", "closures") == 3
    assert value(p, "C", "2023Q1", "reregistered_12m") == 2
    assert value(p, "C", "2023Q1", "reregistered_12m_share") == pytest.approx(2 / 3)


def test_the_share_needs_a_complete_year_of_follow_up():
    p = site_quarter_panel(
        delivery([("E1", "H1", "C", "2023-01-05", "2024-02-01", "goal_reached")]), "2025-03-30"
    )
    assert value(p, "C", "2024Q1", "closures") == 1
    assert pd.isna(value(p, "C", "2024Q1", "reregistered_12m_share"))  # 31 March 2025 > R
