"""Fixtures shared by the unit tests of the estimators (R reference inputs)."""

from __future__ import annotations

import pandas as pd
import pytest
from r_reference import TRENDS, survival_input

#: Covariates of the synthetic follow-up tables analysed by R (r/export_survival_inputs.py).
FU_COV = ["no_children", "severity_high", "prior_reports"]


@pytest.fixture(scope="session")
def rossi():
    return survival_input("rossi.csv")


@pytest.fixture(scope="session")
def tied():
    return survival_input("tied.csv")


@pytest.fixture(scope="session")
def cp():
    return survival_input("cp.csv")


@pytest.fixture(scope="session")
def mgus2():
    return survival_input("mgus2.csv")


@pytest.fixture(scope="session")
def fu_ep():
    """Closed episodes of the bundled delivery (reference date 2026-06-30), UTR the reference site."""
    ep = survival_input("followup_episodes.csv")
    sites = ["UTR", *sorted(s for s in ep["site"].unique() if s != "UTR")]
    return ep.assign(site=pd.Categorical(ep["site"], categories=sites))


@pytest.fixture(scope="session")
def fu_rec():
    return survival_input("followup_recurrent.csv")


@pytest.fixture(scope="session")
def fu_lm():
    return survival_input("followup_measures.csv")


@pytest.fixture(scope="session")
def quarterly():
    return pd.read_csv(TRENDS / "quarterly.csv", parse_dates=["interval_start"])


@pytest.fixture(scope="session")
def safety_professional():
    s = pd.read_csv(TRENDS / "safety_long.csv")
    return s[s["respondent"] == "professional"].reset_index(drop=True)


@pytest.fixture(scope="session")
def fixture_long():
    """The trends fixture as a safety table (the columns of cohort.definitions.waves)."""
    s = pd.read_csv(TRENDS / "safety_long.csv", parse_dates=["assessment_date"])
    s = s.rename(columns={"household": "household_id", "episode": "episode_id",
                          "years": "years_since_registration"})
    s["wave_number"] = s["wave"].str.slice(1).astype(int)
    return s


@pytest.fixture(scope="session")
def total(quarterly):
    """The quarterly fixture summed over sites, with ``quarter`` 1 for 2023Q1."""
    from cohort.definitions.dates import quarter_index

    tot = quarterly.groupby("interval_start", as_index=False)[
        ["measures", "person_years", "registrations"]].sum()
    tot["quarter"] = quarter_index(tot["interval_start"]) - quarter_index(
        [pd.Timestamp("2023-01-01")])[0] + 1
    return tot
