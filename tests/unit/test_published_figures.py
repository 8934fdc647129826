"""The bundled synthetic delivery reproduces the progress report's figures for 31 December 2024.

Published (sixth progress report, "Monitoring ontwikkelingen proeftuinen"): 1653 households
involved since 1 January 2023; 199 compulsory legal measures (12%); 1185 households actively
involved on 31 December 2024 and 812 on 30 June 2024; 468 whose involvement ended (the
report's "ended in the fourth quarter", arithmetically involved - active); 557 registrations
in the fourth quarter of which 88 without children (15.8%).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cohort.commands.monitor import render
from cohort.delivery.load import load
from cohort.disclosure.policy import DEFAULT_POLICY
from cohort.disclosure.release import release
from cohort.monitor.series import monitor_summary, quarterly_counts

DELIVERY = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "default"
REFERENCE = "2024-12-31"

pytestmark = pytest.mark.skipif(
    not DELIVERY.is_dir(), reason="bundled synthetic delivery not generated"
)


@pytest.fixture(scope="module")
def delivery():
    return load(DELIVERY, cache_dir=False)


@pytest.fixture(scope="module")
def summary(delivery):
    return monitor_summary(release(quarterly_counts(delivery, REFERENCE), DEFAULT_POLICY)).set_index("figure")


def figure(summary, indicator, end=REFERENCE):
    rows = summary.loc[
        (summary["indicator"] == indicator) & (summary["interval_end"] == pd.Timestamp(end))
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def test_published_counts(summary):
    assert not summary["suppressed"].any()
    assert figure(summary, "households_involved")["numerator"] == 1653
    assert figure(summary, "legal_measures")["numerator"] == 199
    assert figure(summary, "households_active")["numerator"] == 1185
    assert figure(summary, "households_active", "2024-06-30")["numerator"] == 812
    assert figure(summary, "ended_since_start")["numerator"] == 468
    assert figure(summary, "registrations")["numerator"] == 557
    assert figure(summary, "registrations_without_children")["numerator"] == 88


def test_published_shares(summary):
    share = figure(summary, "legal_measures_share")
    assert (share["numerator"], share["denominator"]) == (199, 1653)
    assert round(100 * share["value"], 1) == 12.0  # the report's "12%"; 12.3% is not this ratio
    assert share["ci_method"] == "none"  # measures per household: a ratio, not a proportion
    without = figure(summary, "registrations_without_children_share")
    assert round(100 * without["value"], 1) == 15.8
    assert without["ci_method"] == "wilson"


def test_both_readings_of_ended(summary):
    # "Ended in Q4" as episodes closed in the quarter differs from the published 468.
    assert figure(summary, "ended_in_period")["numerator"] != 468
    assert (
        figure(summary, "households_involved")["numerator"]
        - figure(summary, "households_active")["numerator"]
        == figure(summary, "ended_since_start")["numerator"]
    )


def test_by_site_totals_are_the_same(delivery):
    series = release(quarterly_counts(delivery, REFERENCE, by="site"), DEFAULT_POLICY)
    totals = series.loc[
        (series["site"] == "all") & (series["interval_end"] == pd.Timestamp(REFERENCE))
    ]
    got = totals.set_index("indicator")["numerator"]
    assert (got["households_involved"], got["households_active"], got["registrations"]) == (
        1653,
        1185,
        557,
    )
    assert series.attrs["disclosure"]["applied"] is True
    assert series.attrs["disclosure"]["threshold"] == DEFAULT_POLICY.threshold


def test_rendered_monitor_shows_the_figures(delivery):
    series = release(quarterly_counts(delivery, REFERENCE), DEFAULT_POLICY)
    text = render(monitor_summary(series), series, DEFAULT_POLICY)
    for number in ("1653", "199", "12.0%", "1185", "812", "468", "557", "88", "15.8%"):
        assert number in text
