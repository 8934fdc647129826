"""The Fine-Gray model (cohort.stats.fine_gray) against cmprsk::crr."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FU_COV
from r_reference import REL, close, survival_ref

from cohort.exceptions import DefinitionError
from cohort.stats.fine_gray import FineGray

FG_CASES = {
    "tied_cause1": ("tied", "time", "status", ["x1", "x2", "x3"], 1),
    "tied_cause2": ("tied", "time", "status", ["x1", "x2", "x3"], 2),
    "mgus2_cause1": ("mgus2", "etime", "status", ["age", "male"], 1),
    "fu_ep_cause1": ("fu_ep", "time", "status", FU_COV, 1),
}


@pytest.mark.parametrize("case", sorted(FG_CASES))
def test_fine_gray_matches_cmprsk_crr(case, request):
    data, t, s, cov, cause = FG_CASES[case]
    df = request.getfixturevalue(data)
    if data == "mgus2":
        df = df.assign(male=(df["sex"] == "M").astype(int))
    fg = FineGray().fit(df, t, s, cov, cause=cause)
    ref = survival_ref("fine_gray.csv")
    ref = ref[ref["case"] == case]
    assert list(fg.covariates_) == list(ref["term"])
    close(fg.params_, ref["coef"], rtol=REL)
    close(fg.standard_errors_, ref["se"], rtol=REL)
    assert fg.log_likelihood_ == pytest.approx(ref["loglik"].iloc[0], rel=1e-9)
    close(fg.summary["se"], ref["se"], rtol=REL)


def test_summary_support_and_describe(tied):
    fg = FineGray().fit(tied, "time", "status", ["x1", "x2", "x3"], cause=2)
    s = fg.summary
    assert list(s.columns) == ["estimate", "se", "statistic", "p", "ci_lower", "ci_upper",
                               "exp_estimate", "exp_ci_lower", "exp_ci_upper"]
    np.testing.assert_allclose(s["exp_estimate"], np.exp(fg.params_))
    assert fg.term_support_["units"].max() <= len(tied)
    assert (fg.term_support_["events"] <= (tied["status"] == 2).sum()).all()
    facts = fg.describe()
    assert facts["cause"] == 2 and facts["events"] == int((tied["status"] == 2).sum())
    assert facts["competing_events"] == int((tied["status"] == 1).sum())
    assert facts["converged"] and fg.n_iter_ > 1


def test_no_event_of_the_cause(tied):
    with pytest.raises(DefinitionError, match="no events of cause 3"):
        FineGray().fit(tied, "time", "status", ["x1"], cause=3)
