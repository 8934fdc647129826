"""Release of survival results (cohort.disclosure.curves and .models) from the estimators.

Kept with the estimators' tests: the release code reads the estimators' attributes
(``KaplanMeier.table_``, ``AalenJohansen.table_``, ``CoxPH.release_table()`` and
``unit_counts_``), so a change to those is caught here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.disclosure.curves import release_cif_table, release_km_summary, release_km_table
from cohort.disclosure.models import release_cox_table
from cohort.disclosure.policy import NO_DISCLOSURE_CONTROL, DisclosurePolicy
from cohort.disclosure.writer import released_csv
from cohort.exceptions import DefinitionError, DisclosureError
from cohort.stats.aalen_johansen import AalenJohansen
from cohort.stats.cox import CoxPH
from cohort.stats.kaplan_meier import KaplanMeier


def test_release_km_table_pools_steps_and_truncates(fu_ep):
    df = fu_ep.assign(site=fu_ep["site"].astype(str))
    km = KaplanMeier().fit(df, "time", "event", group_col="site")
    policy = DisclosurePolicy(threshold=10)
    rel = release_km_table(km, policy)
    assert list(rel.columns) == [
        "group", "time", "survival", "ci_lower", "ci_upper", "n_risk", "n_event", "suppressed"
    ]
    steps = rel[rel["time"] > 0]
    assert (steps["n_event"] >= 10).all()
    assert (rel["n_risk"] >= 10).all()
    # released survival is the exact estimate at the released times
    for group, part in steps.groupby("group"):
        full = km.table_[km.table_["group"] == group].set_index("time")
        np.testing.assert_allclose(part["survival"], full.loc[part["time"], "survival"])
        # the curve stops before fewer than 10 are at risk
        first_small = full.index[full["n_risk"] < 10]
        if len(first_small):
            assert part["time"].max() < first_small.min()
    # events are accounted for: pooled counts never exceed the group's events
    ev = steps.groupby("group")["n_event"].sum()
    total = km.table_.groupby("group")["n_event"].sum()
    assert (ev <= total.reindex(ev.index)).all()
    text = released_csv(rel)
    assert text.startswith("group,time,survival")


def test_release_km_table_rounds_and_can_be_switched_off(fu_ep):
    km = KaplanMeier().fit(fu_ep, "time", "event")
    rel = release_km_table(km, DisclosurePolicy(threshold=10, rounding=5))
    assert (rel["n_risk"] % 5 == 0).all() and (rel["n_event"] % 5 == 0).all()
    off = release_km_table(km, NO_DISCLOSURE_CONTROL)
    assert len(off) == int((km.table_["n_event"] > 0).sum()) + 1
    with pytest.raises(DisclosureError, match="switched off"):
        released_csv(off)


@pytest.mark.parametrize(("n", "shown"), [(18, False), (19, True), (20, True)])
def test_release_km_table_threshold_boundary(n, shown):
    # n households with an event on days 1..n: 10 events while at least 10 are at risk
    # (n - 9 at risk on day 10) needs n >= 19
    df = pd.DataFrame({"t": np.arange(1, n + 1), "e": np.ones(n, int)})
    rel = release_km_table(KaplanMeier().fit(df, "t", "e"), DisclosurePolicy(threshold=10))
    assert rel["n_event"].tolist() == ([0, 10] if shown else [0])
    assert (rel["n_risk"] >= 10).all()


def test_release_cif_table(fu_ep):
    aj = AalenJohansen().fit(fu_ep, "time", "status")
    rel = release_cif_table(aj, DisclosurePolicy(threshold=10), cause=2)
    assert (rel.loc[rel["time"] > 0, "n_event"] >= 10).all()
    full = aj.table_.set_index("time")
    steps = rel[rel["time"] > 0]
    np.testing.assert_allclose(steps["cif"], full.loc[steps["time"], "cif_2"])
    with pytest.raises(DefinitionError, match="cause"):
        release_cif_table(aj, DisclosurePolicy(), cause=3)


def test_release_km_summary_suppresses_small_groups():
    df = pd.DataFrame(
        {
            "t": np.r_[np.arange(1, 41) * 10, np.arange(1, 6) * 10],
            "e": np.r_[np.ones(40, int), np.ones(5, int)],
            "g": ["big"] * 40 + ["small"] * 5,
        }
    )
    s = release_km_summary(KaplanMeier().fit(df, "t", "e", group_col="g"), DisclosurePolicy(threshold=10))
    small = s.set_index("group").loc["small"]
    assert bool(small["suppressed"]) and pd.isna(small["n"]) and pd.isna(small["median"])
    big = s.set_index("group").loc["big"]
    # S = 0.5 exactly on day 200: R takes the midpoint to the next event time
    assert big["n"] == 40 and big["median"] == pytest.approx(205.0)
    # at 6 months (182.6 days) 22 are at risk and 18 events happened: shown
    assert big["survival_6m"] == pytest.approx(22 / 40)
    # at 12 months nobody is at risk: suppressed
    assert pd.isna(big["survival_12m"])
    assert "[suppressed]" in released_csv(s)


def test_release_cox_table(tied, rossi):
    cox = CoxPH().fit(tied, "time", "event", ["x1", "x2", "x3"], cluster_col="cluster")
    rel = release_cox_table(cox, DisclosurePolicy(threshold=10))
    assert list(rel.columns) == [
        "term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p", "suppressed"
    ]
    assert not rel["suppressed"].any()
    # an indicator with only 5 subjects in one level is not released
    rare = rossi.assign(rare=(np.arange(len(rossi)) < 5).astype(int))
    cox = CoxPH().fit(rare, "week", "arrest", ["fin", "rare"])
    rel = release_cox_table(cox, DisclosurePolicy(threshold=10)).set_index("term")
    assert bool(rel.loc["rare", "suppressed"]) and pd.isna(rel.loc["rare", "coef"])
    assert not bool(rel.loc["fin", "suppressed"])
    few = rossi.iloc[:40]
    cox = CoxPH().fit(few, "week", "arrest", ["fin"])
    assert cox.n_events_ < 12
    threshold = max(cox.n_events_ + 1, 10)
    rel = release_cox_table(cox, DisclosurePolicy(threshold=threshold))
    assert rel["suppressed"].all() and rel["coef"].isna().all()  # the model as a whole
    assert rel.attrs["disclosure"]["reason"] == (
        f"the Cox model rests on {cox.n_events_} events, fewer than {threshold}"
    )
