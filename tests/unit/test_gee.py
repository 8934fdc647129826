"""cohort.stats.gee: the vectorised exchangeable GEE against geepack::geeglm and statsmodels.

Reference values: r/trends_reference.R (geepack::geeglm) on tests/fixtures/trends/.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import TRENDS as FIX
from r_reference import r_names

from cohort.exceptions import DefinitionError
from cohort.stats.base import ConvergenceWarning, StatisticalWarning
from cohort.stats.gee import GEE
from cohort.stats.mixed import fixed_effects_design


def professional(long):
    return long[long["respondent"] == "professional"]


def test_gee_matches_geeglm(fixture_long):
    gee = GEE().fit(professional(fixture_long), "score", "years_since_registration", "household_id",
                    categorical=["severity", "site"])
    ref = pd.read_csv(FIX / "r" / "geeglm.csv")
    out = gee.summary
    assert r_names(out.index) == [t.replace("years", "years_since_registration") for t in ref["term"]]
    np.testing.assert_allclose(out["estimate"], ref["estimate"], rtol=1e-4, atol=1e-5 * ref["se"].min())
    np.testing.assert_allclose(out["se"], ref["se"], rtol=1e-4)
    params = pd.read_csv(FIX / "r" / "geeglm_params.csv").set_index("quantity")["value"]
    np.testing.assert_allclose(gee.working_correlation_, params["alpha"], rtol=1e-4)
    np.testing.assert_allclose(gee.scale_, params["scale"], rtol=1e-4)


def test_vectorised_gee_equals_statsmodels_gee(fixture_long):
    import statsmodels.api as sm

    d = professional(fixture_long)
    d = d[d["household_id"] <= 800]
    ours = GEE(tol=1e-10).fit(d, "score", "years_since_registration", "household_id",
                              categorical=["severity"])
    X = fixed_effects_design(d, "years_since_registration", categorical=["severity"]).to_numpy()
    codes = d["household_id"].to_numpy()
    order = np.argsort(codes, kind="stable")
    model = sm.GEE(d["score"].to_numpy(float)[order], X[order], groups=codes[order],
                   family=sm.families.Gaussian(), cov_struct=sm.cov_struct.Exchangeable())
    res = model.fit(maxiter=200, ctol=1e-12, ddof_scale=0)
    np.testing.assert_allclose(ours.params_, res.params, rtol=1e-8)
    np.testing.assert_allclose(ours.standard_errors_, res.bse, rtol=1e-6)
    np.testing.assert_allclose(ours.working_correlation_, model.cov_struct.dep_params, rtol=1e-6)


def test_release_table_keeps_the_released_columns(fixture_long):
    gee = GEE().fit(professional(fixture_long), "score", "years_since_registration", "household_id",
                    categorical=["site"])
    tab = gee.release_table()
    assert list(tab.columns) == ["term", "estimate", "se", "ci_lower", "ci_upper", "statistic", "p"]
    assert tab.attrs["n_households"] == gee.n_groups_ == professional(fixture_long)["household_id"].nunique()
    assert tab.attrs["covariance"] == "robust"
    np.testing.assert_array_equal(tab["se"], gee.standard_errors_)


def test_describe_support_and_dropped_rows(fixture_long):
    d = professional(fixture_long).copy()
    d.loc[d.index[:3], "score"] = np.nan
    gee = GEE().fit(d, "score", "years_since_registration", "household_id", categorical=["severity"])
    assert gee.n_dropped_ == 3 and gee.n_obs_ == len(d) - 3
    facts = gee.describe()
    assert facts["working_correlation"] == "exchangeable" and facts["rho"] == gee.working_correlation_
    assert facts["covariance"] == "robust (sandwich)" and facts["converged"] is True
    assert gee.term_support_.loc["Intercept", "units"] == gee.n_groups_


def test_models_use_the_time_column_asked_for(fixture_long):
    d = professional(fixture_long).rename(columns={"years_since_registration": "t"})
    gee = GEE().fit(d, "score", "t", "household_id")
    assert list(gee.params_.index) == ["Intercept", "t"]
    with pytest.raises(DefinitionError, match="lacks column"):
        GEE().fit(d, "score", "years_since_registration", "household_id")


def test_rank_deficient_design_and_convergence(fixture_long):
    d = professional(fixture_long).assign(one=1.0)
    with pytest.warns(StatisticalWarning, match="rank deficient"):
        gee = GEE().fit(d, "score", "years_since_registration", "household_id", covariates=["one"])
    assert gee.not_estimable_.reason == "rank_deficient"
    with pytest.raises(DefinitionError, match="rank deficient"):
        _ = gee.params_
    with pytest.warns(ConvergenceWarning, match="GEE did not converge in 1 iterations"):
        gee = GEE(max_iter=1).fit(d, "score", "years_since_registration", "household_id")
    assert not gee.converged_ and gee.n_iter_ == 1
