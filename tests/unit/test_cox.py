"""The Cox model (cohort.stats.cox) against R's coxph: Efron and Breslow ties, strata,
(start, stop] rows, cluster-robust variance (where lifelines and statsmodels differ from R);
its coefficient table, release table, term and stratum support."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FU_COV
from r_reference import REL, close, survival_ref

from cohort.exceptions import DefinitionError
from cohort.stats.base import StatisticalWarning
from cohort.stats.cox import CoxPH

ROSSI_ALL = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
COX_CASES = {
    "rossi": ("rossi", dict(duration_col="week", event_col="arrest", covariates=ROSSI_ALL), {}),
    "rossi_breslow": (
        "rossi",
        dict(duration_col="week", event_col="arrest", covariates=ROSSI_ALL),
        {"ties": "breslow"},
    ),
    "rossi_strata_wexp": (
        "rossi",
        dict(duration_col="week", event_col="arrest", covariates=["fin", "age", "prio"], strata="wexp"),
        {},
    ),
    "rossi_robust": (
        "rossi",
        dict(duration_col="week", event_col="arrest", covariates=["fin", "age", "prio"], robust=True),
        {},
    ),
    "tied": ("tied", dict(duration_col="time", event_col="event", covariates=["x1", "x2", "x3"]), {}),
    "tied_site_factor": (
        "tied",
        dict(duration_col="time", event_col="event", covariates=["x1", "x2", "x3", "site"]),
        {},
    ),
    "tied_cluster": (
        "tied",
        dict(duration_col="time", event_col="event", covariates=["x1", "x2", "x3"], cluster_col="cluster"),
        {},
    ),
    "tied_strata_cluster": (
        "tied",
        dict(
            duration_col="time",
            event_col="event",
            covariates=["x1", "x2", "x3"],
            strata="site",
            cluster_col="cluster",
        ),
        {},
    ),
    "tied_breslow_cluster": (
        "tied",
        dict(duration_col="time", event_col="event", covariates=["x1", "x2", "x3"], cluster_col="cluster"),
        {"ties": "breslow"},
    ),
    "cp_cluster": (
        "cp",
        dict(
            duration_col="stop",
            event_col="event",
            entry_col="start",
            covariates=["x1", "x2", "x3"],
            cluster_col="id",
        ),
        {},
    ),
    "cp_strata_cluster": (
        "cp",
        dict(
            duration_col="stop",
            event_col="event",
            entry_col="start",
            covariates=["x1", "x2", "x3"],
            strata="site",
            cluster_col="id",
        ),
        {},
    ),
    "cp_naive": (
        "cp",
        dict(duration_col="stop", event_col="event", entry_col="start", covariates=["x1", "x2"]),
        {},
    ),
}

FU_COX = {
    "fu_ep_cluster": ("fu_ep", dict(duration_col="time", covariates=[*FU_COV, "site"], cluster_col="cluster")),
    "fu_ep_strata_cluster": (
        "fu_ep",
        dict(duration_col="time", covariates=FU_COV, strata="site", cluster_col="cluster"),
    ),
    "fu_ag_cluster": (
        "fu_rec",
        dict(duration_col="stop", entry_col="start", covariates=[*FU_COV, "prior_events"], cluster_col="cluster"),
    ),
    "fu_lm_strata_cluster": (
        "fu_lm",
        dict(duration_col="time", covariates=FU_COV, strata="site", cluster_col="cluster"),
    ),
}


def fit_case(case, request) -> CoxPH:
    """The Cox model of an R reference case (shared with test_cox_zph)."""
    if case in FU_COX:
        data, kwargs = FU_COX[case]
        return CoxPH().fit(request.getfixturevalue(data), event_col="event", **kwargs)
    data, kwargs, opts = COX_CASES[case]
    return CoxPH(**opts).fit(request.getfixturevalue(data), **kwargs)


@pytest.mark.parametrize("case", sorted(COX_CASES))
def test_cox_matches_r_coxph(case, request):
    cox = fit_case(case, request)
    ref = survival_ref("cox.csv")
    ref = ref[ref["case"] == case]
    assert list(cox.covariates_) == list(ref["term"])
    rel = cox.release_table()
    close(rel["coef"], ref["coef"], rtol=REL)
    close(rel["se"], ref["se"], rtol=REL)
    if ref["robust_se"].notna().all():
        close(rel["robust_se"], ref["robust_se"], rtol=REL)
    else:
        assert rel["robust_se"].isna().all()
    close(rel["hr_lower"], ref["hr_lower"], rtol=REL)
    close(rel["hr_upper"], ref["hr_upper"], rtol=REL)
    close(rel["p"], ref["p"], rtol=1e-5, atol=1e-12)
    fit = survival_ref("cox_fit.csv").set_index("case").loc[case]
    assert cox.log_likelihood_ == pytest.approx(fit["loglik"], rel=1e-9)
    assert cox.log_likelihood_null_ == pytest.approx(fit["loglik_null"], rel=1e-9)
    assert cox.n_events_ == fit["nevent"]
    # the summary speaks the one vocabulary: se is the SE inference uses
    s = cox.summary
    close(s["estimate"], ref["coef"], rtol=REL)
    robust = ref["robust_se"].notna().all()
    close(s["se"], ref["robust_se" if robust else "se"], rtol=REL)
    close(s["exp_ci_lower"], ref["hr_lower"], rtol=REL)
    assert ("se_model" in s.columns) == robust
    if robust:
        close(s["se_model"], ref["se"], rtol=REL)


@pytest.mark.parametrize("case", sorted(FU_COX))
def test_synthetic_cox_matches_r(case, request):
    cox = fit_case(case, request)
    ref = survival_ref("fu_cox.csv")
    ref = ref[ref["case"] == case]
    rel = cox.release_table()
    assert list(rel["term"]) == list(ref["term"])
    for col in ("coef", "se", "robust_se", "hr_lower", "hr_upper"):
        close(rel[col], ref[col], rtol=REL)


def test_rossi_matches_published_coefficients(rossi):
    cox = CoxPH().fit(rossi, "week", "arrest", ROSSI_ALL)
    published = {"fin": -0.37942, "age": -0.05744, "race": 0.31390, "wexp": -0.14980,
                 "mar": -0.43370, "paro": -0.08487, "prio": 0.09150}
    for term, coef in published.items():
        assert cox.params_[term] == pytest.approx(coef, abs=5e-6)
    assert cox.log_likelihood_ratio_test_[0] == pytest.approx(33.27, abs=5e-3)


@pytest.mark.parametrize("case", ["rossi", "cp_cluster"])
def test_cox_score_residuals_match_r(case, request):
    cox = fit_case(case, request)
    ref = survival_ref("cox_score_residuals.csv")
    ref = ref[ref["case"] == case]
    got = cox.score_residuals()
    wide = ref.pivot(index="row", columns="term", values="score")[cox.covariates_]
    np.testing.assert_allclose(got, wide.to_numpy(), atol=1e-8, rtol=1e-6)


def test_release_table_keeps_its_columns(tied):
    cox = CoxPH().fit(tied, "time", "event", ["x1", "x2", "x3"], cluster_col="cluster")
    rel = cox.release_table()
    assert list(rel.columns) == ["term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"]
    np.testing.assert_array_equal(rel["se"], np.sqrt(np.diag(cox.naive_variance_)))
    np.testing.assert_array_equal(rel["robust_se"], cox.standard_errors_)
    np.testing.assert_array_equal(rel["hr"], np.exp(cox.params_))


def test_describe_says_strata_cluster_and_robust(fu_ep):
    cox = CoxPH().fit(fu_ep, "time", "event", FU_COV, strata="site", cluster_col="cluster")
    facts = cox.describe()
    assert facts["ties"] == "efron" and facts["strata"] == ["site"]
    assert facts["n_strata"] == fu_ep["site"].nunique()
    assert facts["cluster_col"] == "cluster" and facts["robust"] is True
    assert facts["n_clusters"] == fu_ep["cluster"].nunique()
    assert facts["n"] == len(fu_ep) and facts["events"] == int(fu_ep["event"].sum())
    assert facts["terms"] == FU_COV and facts["converged"] is True
    plain = CoxPH(ties="breslow").fit(fu_ep, "time", "event", FU_COV).describe()
    assert plain["robust"] is False and plain["n_clusters"] is None and plain["strata"] is None


def test_term_and_strata_support_count_households_and_events():
    # eight rows of seven households (a has two); x = 1 for a's first row, b, e and f
    d = pd.DataFrame({"hh": list("aabcdefg"), "t": [1, 2, 3, 4, 5, 6, 7, 8],
                      "e": [1, 0, 1, 1, 0, 1, 0, 1], "x": [1, 0, 1, 0, 0, 1, 1, 0],
                      "z": [0.5, 1.0, 2.0, 0.1, 0.3, 1.7, 0.2, 0.9], "s": list("ppppqqqq")})
    cox = CoxPH().fit(d, "t", "e", ["x", "z"], cluster_col="hh")
    ts = cox.term_support_
    # x = 1: households a, b, e, f with 3 events; x = 0: a, c, d, g with 2 events
    assert ts.loc["x"].tolist() == [True, 4, 2]
    assert ts.loc["z"].tolist() == [False, 7, 5]
    uc = cox.unit_counts_
    assert uc.loc["x"].tolist() == [True, 4, 4, 3, 2]
    assert uc.loc["z"].tolist() == [False, -1, -1, -1, -1]
    ss = CoxPH().fit(d, "t", "e", ["z"], strata="s", cluster_col="hh").strata_support_
    assert ss.to_dict("list") == {"s": ["p", "q"], "units": [3, 4], "events": [3, 2]}
    # without a cluster, every row is a unit
    rows = CoxPH().fit(d, "t", "e", ["x"])
    assert rows.term_support_.loc["x", "units"] == 4
    assert rows.strata_support_.to_dict("list") == {"units": [8], "events": [5]}


def test_cox_does_not_mutate_and_rejects_bad_input(rossi):
    before = rossi.copy()
    CoxPH().fit(rossi, "week", "arrest", ["fin"])
    pd.testing.assert_frame_equal(rossi, before)
    with pytest.raises(DefinitionError, match="ties"):
        CoxPH(ties="exact")
    with pytest.raises(DefinitionError, match="missing"):
        CoxPH().fit(rossi.assign(fin=rossi["fin"].where(rossi.index > 3)), "week", "arrest", ["fin"])
    with pytest.raises(DefinitionError, match="before"):
        CoxPH().fit(rossi.assign(start=rossi["week"]), "week", "arrest", ["fin"], entry_col="start")
    # no events: R's null fit (coefficients NA, log-likelihood 0), marked not estimable
    with pytest.warns(StatisticalWarning, match="not estimable here: there are no events"):
        none = CoxPH().fit(rossi.assign(arrest=0), "week", "arrest", ["fin"])
    assert not none.estimable and none.not_estimable_.reason == "no_events"
    assert np.isnan(none.params_["fin"]) and none.log_likelihood_ == 0.0


def test_cox_constant_or_collinear_covariates_are_dropped_as_r_does(rossi):
    full = CoxPH().fit(rossi, "week", "arrest", ["fin"])
    with pytest.warns(StatisticalWarning, match="drops"):
        cox = CoxPH().fit(rossi.assign(one=1), "week", "arrest", ["fin", "one"])
    assert cox.dropped_terms_ == {"one": "constant"} and np.isnan(cox.params_["one"])
    assert cox.params_["fin"] == pytest.approx(full.params_["fin"], abs=1e-12)
    with pytest.warns(StatisticalWarning, match="drops"):
        cox = CoxPH().fit(rossi.assign(fin2=rossi["fin"] * 2), "week", "arrest", ["fin", "fin2"])
    assert cox.dropped_terms_ == {"fin2": "collinear"}
    with pytest.raises(DefinitionError, match="strata"):
        CoxPH().fit(rossi.assign(s=rossi["wexp"].where(rossi.index > 0)), "week", "arrest", ["fin"], strata="s")


def test_null_model_has_no_terms(rossi):
    cox = CoxPH().fit(rossi, "week", "arrest", [])
    assert cox.params_.empty and cox.converged_
    assert cox.log_likelihood_ == cox.log_likelihood_null_
