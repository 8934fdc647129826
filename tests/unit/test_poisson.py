"""cohort.stats.poisson: Poisson and quasi-Poisson regression agree with R's glm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import r_names, trends_ref

from cohort.exceptions import DefinitionError
from cohort.stats.base import ConvergenceWarning
from cohort.stats.poisson import PoissonModel


def test_poisson_with_offset_matches_glm(quarterly):
    m = PoissonModel().fit(quarterly, "measures", "quarter", "person_years", categorical=["site"])
    out = m.summary
    ref = trends_ref("poisson")
    assert r_names(out.index) == ref["term"].tolist()
    np.testing.assert_allclose(out["estimate"], ref["estimate"], rtol=1e-6)
    np.testing.assert_allclose(out["se"], ref["se"], rtol=1e-6)
    np.testing.assert_allclose(out["exp_estimate"], np.exp(out["estimate"]))


def test_release_table_keeps_the_released_names(quarterly):
    m = PoissonModel(scale="X2").fit(quarterly, "measures", "quarter", "person_years")
    rel = m.release_table()
    assert list(rel.columns) == ["term", "estimate", "se", "ci_lower", "ci_upper", "statistic",
                                 "p", "rate_ratio", "rr_ci_lower", "rr_ci_upper"]
    assert rel.attrs["model"] == "quasi-Poisson" and rel.attrs["dispersion"] == m.dispersion_
    plain = PoissonModel().fit(quarterly, "measures", "quarter", "person_years")
    # quasi-Poisson scales the standard errors by the square root of the dispersion
    np.testing.assert_allclose(rel["se"], plain.standard_errors_ * np.sqrt(m.dispersion_), rtol=1e-10)


def test_describe_support_and_convergence(quarterly):
    m = PoissonModel().fit(quarterly, "measures", "quarter", "person_years", categorical=["site"])
    facts = m.describe()
    assert facts["family"] == "Poisson" and facts["offset"] == "person_years"
    assert facts["unit"] == "row (period)" and facts["converged"] is True
    ts = m.term_support_
    assert ts.loc["quarter", "units"] == len(quarterly)
    assert ts.loc["quarter", "events"] == quarterly["measures"].sum()
    site = sorted(quarterly["site"].unique())[1]
    rows = quarterly["site"] == site
    assert ts.loc[f"site[T.{site}]", "units"] == min(rows.sum(), (~rows).sum())
    with pytest.warns(ConvergenceWarning, match="Poisson model did not converge"):
        short = PoissonModel(max_iter=1).fit(quarterly, "measures", "quarter", "person_years",
                                             categorical=["site"])
    assert not short.converged_ and short.n_iter_ == 1


def test_offset_must_be_positive(total):
    with pytest.raises(DefinitionError, match="positive"):
        PoissonModel().fit(total.assign(person_years=0.0), "measures", "quarter", "person_years")
    with pytest.raises(DefinitionError, match="scale"):
        PoissonModel(scale="deviance")


def test_input_is_not_changed(quarterly):
    before = quarterly.copy()
    PoissonModel().fit(quarterly, "measures", "quarter", "person_years", categorical=["site"])
    pd.testing.assert_frame_equal(quarterly, before)
