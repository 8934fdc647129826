"""The proportional-hazards test (cohort.stats.cox_zph) against R's cox.zph (survival >= 3.0).

lifelines' check_assumptions is a different (approximate) test; see STATS-NOTES.md.
"""

from __future__ import annotations

import pytest
from r_reference import REL, close, survival_ref
from test_cox import COX_CASES, FU_COX, ROSSI_ALL, fit_case

from cohort.exceptions import DefinitionError
from cohort.stats.cox import CoxPH
from cohort.stats.cox_zph import ProportionalHazardsTest, cox_zph


@pytest.mark.parametrize("case", sorted(COX_CASES))
def test_cox_zph_matches_r(case, request):
    cox = fit_case(case, request)
    ref = survival_ref("cox_zph.csv")
    ref = ref[ref["case"] == case].set_index("term")
    got = cox_zph(cox).summary
    assert list(got.index) == list(ref.index)
    close(got["chisq"], ref["chisq"], rtol=REL)
    close(got["df"], ref["df"])
    close(got["p"], ref["p"], rtol=1e-5)


@pytest.mark.parametrize("case", sorted(FU_COX))
def test_synthetic_cox_zph_matches_r(case, request):
    zph = cox_zph(fit_case(case, request)).summary
    zref = survival_ref("fu_cox_zph.csv")
    zref = zref[zref["case"] == case].set_index("term")
    assert list(zph.index) == list(zref.index)
    close(zph["chisq"], zref["chisq"], rtol=REL)


@pytest.mark.parametrize("transform", ["identity", "rank", "log"])
def test_cox_zph_other_transforms_match_r(rossi, transform):
    got = cox_zph(CoxPH().fit(rossi, "week", "arrest", ROSSI_ALL), transform=transform).summary
    ref = survival_ref("cox_zph_transforms.csv")
    ref = ref[ref["transform"] == transform].set_index("term")
    close(got["chisq"], ref["chisq"], rtol=REL)


def test_cox_zph_differs_from_lifelines_on_rossi(rossi):
    # STATS-NOTES: lifelines' rank-transform approximation gives 11.03 for age.
    got = cox_zph(CoxPH().fit(rossi, "week", "arrest", ROSSI_ALL)).summary
    assert got.loc["age", "chisq"] == pytest.approx(5.974, abs=1e-3)


def test_result_object_refers_to_its_model(tied):
    cox = CoxPH().fit(tied, "time", "event", ["x1", "x2", "x3", "site"])
    zph = ProportionalHazardsTest(transform="rank").fit(cox)
    assert zph.model is cox and zph.model_ is cox
    s = zph.summary
    assert s.index.name == "term" and list(s.columns) == ["chisq", "df", "p"]
    assert s.index[-1] == "GLOBAL" and "site" in s.index  # a factor is one term
    assert s.attrs["transform"] == "rank"
    assert zph.statistic_ == s.loc["GLOBAL", "chisq"] and zph.df_ == s.loc["GLOBAL", "df"]
    facts = zph.describe()
    assert facts["transform"] == "rank" and facts["events"] == cox.n_events_
    assert facts["p"] == pytest.approx(s.loc["GLOBAL", "p"])
    per_column = ProportionalHazardsTest(terms=False, global_test=False).fit(cox).summary
    assert "GLOBAL" not in per_column.index
    assert [t for t in per_column.index if t.startswith("site")] == [
        c for c in cox.covariates_ if c.startswith("site")]


def test_bad_use(tied):
    with pytest.raises(DefinitionError, match="transform"):
        ProportionalHazardsTest(transform="logit")
    with pytest.raises(DefinitionError, match="fitted CoxPH"):
        ProportionalHazardsTest().fit(CoxPH())
    with pytest.raises(DefinitionError, match="call fit"):
        _ = ProportionalHazardsTest().model
