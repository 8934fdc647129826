"""cohort.stats.negative_binomial: theta estimated by ML agrees with MASS::glm.nb."""

from __future__ import annotations

import numpy as np
import pytest
from r_reference import r_names, trends_ref

from cohort.stats.base import ConvergenceWarning
from cohort.stats.negative_binomial import NegativeBinomialModel


def _close(ours, ref, rtol=1e-4):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(ref, float), rtol=rtol)


def test_negative_binomial_matches_glm_nb(quarterly):
    m = NegativeBinomialModel().fit(quarterly, "referrals", "quarter", "person_years",
                                    categorical=["site"])
    ref = trends_ref("negbin")
    theta = trends_ref("negbin_theta").set_index("quantity")["value"]
    assert r_names(m.params_.index) == ref["term"].tolist()
    _close(m.params_, ref["estimate"])
    _close(m.bse_, ref["se"])
    _close(m.theta_, theta["theta"])
    _close(m.theta_se_, theta["theta_se"])
    _close(m.twologlik_, theta["twologlik"], rtol=1e-8)
    _close(m.summary["se"], ref["se"])


def test_negbin_dispersion_is_estimated_not_fixed(quarterly):
    m = NegativeBinomialModel().fit(quarterly, "referrals", "quarter", "person_years",
                                    categorical=["site"])
    rel = m.release_table()
    assert rel.attrs["theta"] != pytest.approx(1.0, abs=0.5)
    assert list(rel.columns)[-3:] == ["rate_ratio", "rr_ci_lower", "rr_ci_upper"]
    facts = m.describe()
    assert facts["theta"] == m.theta_ and facts["converged"] is True
    assert m.term_support_.loc["quarter", "events"] == quarterly["referrals"].sum()


def test_convergence_warning_when_the_search_stops_early(quarterly):
    with pytest.warns(ConvergenceWarning, match="negative binomial"):
        m = NegativeBinomialModel(max_iter=1).fit(quarterly, "referrals", "quarter", "person_years",
                                                  categorical=["site"])
    assert not m.converged_
