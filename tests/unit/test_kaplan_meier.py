"""Kaplan-Meier (cohort.stats.kaplan_meier) against R's survfit: curves, medians, summary times."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import ABS, close, survival_ref

from cohort.definitions.dates import DAYS_PER_MONTH
from cohort.exceptions import DefinitionError
from cohort.stats.kaplan_meier import KaplanMeier

KM_CASES = {
    "rossi": ("rossi", "week", "arrest", None, None),
    "rossi_fin": ("rossi", "week", "arrest", "fin", None),
    "tied_site": ("tied", "time", "event", "site", None),
    "cp_entry": ("cp", "stop", "event", None, "start"),
}


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
@pytest.mark.parametrize("case", sorted(KM_CASES))
def test_km_matches_r(case, conf_type, request):
    data, t, e, g, entry = KM_CASES[case]
    df = request.getfixturevalue(data)
    km = KaplanMeier(conf_type=conf_type).fit(df, t, e, group_col=g, entry_col=entry)
    ref = survival_ref("km.csv")
    ref = ref[ref["case"] == f"{case}_{conf_type}"]
    tab = km.table_
    if entry is not None:
        # R's survfit on (start, stop] data also lists entry times; compare at R's rows
        tab = tab.set_index("time").reindex(ref["time"].to_numpy()).reset_index()
    assert len(tab) == len(ref)
    close(tab["time"], ref["time"])
    close(tab["n_risk"], ref["n_risk"])
    close(tab["n_event"], ref["n_event"])
    for col in ("survival", "std_err", "ci_lower", "ci_upper"):
        close(tab[col], ref[col], atol=ABS)


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
@pytest.mark.parametrize("case", sorted(KM_CASES))
def test_km_median_matches_r(case, conf_type, request):
    data, t, e, g, entry = KM_CASES[case]
    df = request.getfixturevalue(data)
    km = KaplanMeier(conf_type=conf_type).fit(df, t, e, group_col=g, entry_col=entry)
    ref = survival_ref("km_median.csv")
    ref = ref[ref["case"] == f"{case}_{conf_type}"]
    for col in ("median", "ci_lower", "ci_upper"):
        close(km.median_[col], ref[col], atol=ABS)


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
@pytest.mark.parametrize(
    ("case", "times"), [("rossi_fin", [10, 26, 52, 60]), ("tied_site", [3, 7.5, 12, 30])]
)
def test_km_survival_at_matches_r_summary_times(case, times, conf_type, request):
    data, t, e, g, entry = KM_CASES[case]
    km = KaplanMeier(conf_type=conf_type).fit(request.getfixturevalue(data), t, e, group_col=g)
    ref = survival_ref("km_at.csv")
    ref = ref[ref["case"] == f"{case}_{conf_type}"].reset_index(drop=True)
    got = km.survival_at(times)
    # R drops requested times beyond the last observation of a group only without extend;
    # with extend=TRUE all are present.
    assert len(got) == len(ref)
    for col in ("n_risk", "n_event"):
        close(got[col], ref[col])
    for col in ("survival", "ci_lower", "ci_upper"):
        close(got[col], ref[col], atol=ABS)


@pytest.mark.parametrize(
    ("case", "data", "group"), [("fu_ep", "fu_ep", None), ("fu_ep_site", "fu_ep", "site"), ("fu_lm", "fu_lm", None)]
)
def test_synthetic_km_matches_r(case, data, group, request):
    df = request.getfixturevalue(data)
    if group:
        df = df.assign(site=df["site"].astype(str))
    km = KaplanMeier().fit(df, "time", "event", group_col=group)
    ref = survival_ref("fu_km.csv")
    ref = ref[ref["case"] == case]
    assert len(km.table_) == len(ref)
    for col in ("time", "n_risk", "n_event"):
        close(km.table_[col], ref[col])
    for col in ("survival", "std_err", "ci_lower", "ci_upper"):
        close(km.table_[col], ref[col], atol=ABS)
    if case == "fu_ep_site":
        at = km.survival_at([182.625, 365.25, 730.5])
        r = survival_ref("fu_km_at.csv")
        for col in ("n_risk", "survival", "ci_lower", "ci_upper"):
            close(at[col], r[col], atol=ABS)
    else:
        med = survival_ref("fu_km_median.csv").set_index("case").loc[case]
        for col in ("median", "ci_lower", "ci_upper"):
            got = km.median_[col].iloc[0]
            assert (np.isnan(got) and np.isnan(med[col])) or got == pytest.approx(med[col], abs=ABS)


def test_km_summary_reports_months_in_days(rossi):
    rossi = rossi.assign(days=rossi["week"] * 7)
    km = KaplanMeier().fit(rossi, "days", "arrest", group_col="fin")
    s = km.summary
    assert list(s["group"]) == [0, 1]
    at = km.survival_at([6 * DAYS_PER_MONTH])
    np.testing.assert_allclose(s["survival_6m"], at["survival"])
    assert s.attrs["conf_type"] == "log"
    assert s["n"].tolist() == rossi.groupby("fin").size().tolist()
    assert s["events"].tolist() == rossi.groupby("fin")["arrest"].sum().tolist()


def test_km_curves_are_the_table_per_group(rossi):
    km = KaplanMeier().fit(rossi, "week", "arrest", group_col="fin")
    curves = dict(km.curves())
    assert list(curves) == [0, 1]
    pd.testing.assert_frame_equal(pd.concat(curves.values()), km.table_)
    assert dict(km._curves()).keys() == curves.keys()


def test_km_describe_states_what_was_fitted(cp):
    km = KaplanMeier(conf_type="log-log", alpha=0.1).fit(cp, "stop", "event", entry_col="start")
    facts = km.describe()
    assert facts == {
        "model": "KaplanMeier", "n": len(cp), "confidence_level": 0.9,
        "events": int(cp["event"].sum()), "conf_type": "log-log", "group_col": None,
        "n_groups": 1, "entry_col": "start", "variance": "Greenwood",
    }
    assert repr(km).startswith("<KaplanMeier: n=") and "conf_type=log-log" in repr(km)


def test_km_rejects_bad_input(rossi):
    with pytest.raises(DefinitionError, match="conf_type"):
        KaplanMeier(conf_type="logit")
    with pytest.raises(DefinitionError, match="lacks column"):
        KaplanMeier().fit(rossi, "weeks", "arrest")
    bad = rossi.assign(arrest=rossi["arrest"] * 2)
    with pytest.raises(DefinitionError, match="0 \\(censored\\) or 1"):
        KaplanMeier().fit(bad, "week", "arrest")
    with pytest.raises(DefinitionError, match="alpha"):
        KaplanMeier(alpha=0)
    with pytest.raises(DefinitionError, match="call fit"):
        KaplanMeier().survival_at([1])


def test_km_does_not_mutate_input(rossi):
    before = rossi.copy()
    KaplanMeier().fit(rossi, "week", "arrest", group_col="fin")
    pd.testing.assert_frame_equal(rossi, before)
