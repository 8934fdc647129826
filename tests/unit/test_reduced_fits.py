"""Reduced and refused fits against R (``r/reduced_fits_reference.R``, survival 3.5-3 and
lme4 1.1-31; inputs and results in ``tests/fixtures/reduced``).

Where R returns numbers our estimators return the same to 1e-9; where R drops a term
(coefficient ``NA``) the term is ``NaN`` and named in ``dropped_terms_``; where R refuses
the model the result is not estimable here, with the reason a report states.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import FIXTURES

from cohort.stats.base import ConvergenceWarning, StatisticalWarning
from cohort.stats.cox import CoxPH
from cohort.stats.cox_zph import ProportionalHazardsTest
from cohort.stats.fine_gray import FineGray
from cohort.stats.mixed import MixedModel
from cohort.stats.segmented import SegmentedRegression

REDUCED = FIXTURES / "reduced"
TOL = 1e-9


def ref(name: str) -> pd.DataFrame:
    return pd.read_csv(REDUCED / name, na_values=["NA"], keep_default_na=False)


@pytest.fixture(scope="module")
def cox_in():
    return pd.read_csv(REDUCED / "cox_input.csv")


def _coef(case: str) -> pd.DataFrame:
    coef = ref("cox_coef.csv")
    return coef[coef["case"] == case].set_index("term")


def _fit(case: str) -> pd.Series:
    fits = ref("cox_fit.csv")
    return fits[fits["case"] == case].iloc[0]


STRATA_TERMS = ["fin", "wexp_same", "age", "prio", "lin"]


@pytest.mark.parametrize("robust", [False, True])
def test_cox_drops_a_term_constant_within_every_stratum_and_a_collinear_one_as_coxph(cox_in, robust):
    case = "constant_within_strata_robust" if robust else "constant_within_strata"
    with pytest.warns(StatisticalWarning, match="drops"):
        cox = CoxPH().fit(cox_in, "week", "arrest", STRATA_TERMS, strata="wexp",
                          cluster_col="id" if robust else None)
    r = _coef(case)
    assert cox.dropped_terms_ == {"wexp_same": "constant_within_strata", "lin": "collinear"}
    # R: coefficient NA (and a printed standard error of 0); here NaN
    np.testing.assert_allclose(cox.params_[STRATA_TERMS].to_numpy(), r.loc[STRATA_TERMS, "coef"].to_numpy(),
                               rtol=TOL, atol=TOL, equal_nan=True)
    kept = ["fin", "age", "prio"]
    se = np.sqrt(np.diag(cox.variance_matrix_.loc[kept, kept]))
    np.testing.assert_allclose(se, r.loc[kept, "se"].to_numpy(), rtol=TOL)
    naive = np.sqrt(np.diag(cox.naive_variance_.loc[kept, kept]))
    np.testing.assert_allclose(naive, r.loc[kept, "se_model"].to_numpy(), rtol=TOL)
    assert np.isnan(cox.variance_matrix_.loc["lin", "lin"])
    fit = _fit(case)
    assert cox.n_ == fit["n"] and cox.n_events_ == fit["nevent"]
    assert cox.log_likelihood_ == pytest.approx(fit["loglik"], rel=TOL)
    assert cox.log_likelihood_null_ == pytest.approx(fit["loglik_null"], rel=TOL)
    assert int(cox.params_.notna().sum()) == fit["df"]


def test_cox_drops_a_constant_term_as_coxph(cox_in):
    with pytest.warns(StatisticalWarning, match="drops"):
        cox = CoxPH().fit(cox_in, "week", "arrest", ["fin", "none", "age"])
    r, fit = _coef("constant"), _fit("constant")
    assert cox.dropped_terms_ == {"none": "constant"}
    np.testing.assert_allclose(cox.params_.to_numpy(), r["coef"].to_numpy(), rtol=TOL, equal_nan=True)
    np.testing.assert_allclose(np.sqrt(np.diag(cox.variance_matrix_.loc[["fin", "age"], ["fin", "age"]])),
                               r.loc[["fin", "age"], "se"].to_numpy(), rtol=TOL)
    assert cox.log_likelihood_ == pytest.approx(fit["loglik"], rel=TOL)


def test_cox_without_events_is_rs_null_fit_marked_not_estimable(cox_in):
    with pytest.warns(StatisticalWarning, match="not estimable here"):
        cox = CoxPH().fit(cox_in.assign(arrest=0), "week", "arrest", ["fin", "age"])
    fit = _fit("no_events")
    assert cox.n_ == fit["n"] and cox.n_events_ == fit["nevent"] == 0
    assert cox.log_likelihood_ == fit["loglik"] == 0 and cox.log_likelihood_null_ == fit["loglik_null"]
    assert cox.params_.isna().all() and list(cox.params_.index) == list(_coef("no_events").index)
    assert not cox.estimable and cox.not_estimable_.reason == "no_events"


def test_cox_infinite_coefficient_is_found_by_rs_rule(cox_in):
    fit = _fit("infinite")
    assert "coefficient may be infinite" in fit["warning"]
    with pytest.warns(StatisticalWarning, match="infinite"):
        cox = CoxPH().fit(cox_in, "week", "arrest", ["fin", "age", "separates"])
    assert cox.dropped_terms_ == {"separates": "infinite"} and np.isnan(cox.params_["separates"])
    r = _coef("infinite")
    # the finite terms are their limits; R stops at a finite point of the divergence
    np.testing.assert_allclose(cox.params_[["fin", "age"]].to_numpy(), r.loc[["fin", "age"], "coef"].to_numpy(),
                               rtol=1e-6)
    assert cox.log_likelihood_ == pytest.approx(fit["loglik"], rel=1e-6)


def test_cox_zph_of_the_reduced_fit_leaves_the_na_terms_out_as_r(cox_in):
    with pytest.warns(StatisticalWarning):
        cox = CoxPH().fit(cox_in, "week", "arrest", STRATA_TERMS, strata="wexp")
    zph = ProportionalHazardsTest().fit(cox)
    r = ref("cox_zph_reduced.csv").set_index("term")
    table = zph.table_
    assert list(table.index) == list(r.index)
    np.testing.assert_allclose(table["chisq"].to_numpy(), r["chisq"].to_numpy(), rtol=TOL)
    np.testing.assert_array_equal(table["df"].to_numpy(), r["df"].to_numpy())
    np.testing.assert_allclose(table["p"].to_numpy(), r["p"].to_numpy(), rtol=1e-8)


def test_cox_zph_with_every_event_tied_is_not_estimable_where_r_stops():
    tied = pd.read_csv(REDUCED / "cox_tied_input.csv")
    r = ref("cox_zph_tied.csv").iloc[0]
    assert r["result"] == "error" and "singular" in r["message"]
    cox = CoxPH().fit(tied, "week", "arrest", ["fin", "age"])
    np.testing.assert_allclose(cox.params_[["fin", "age"]].to_numpy(), [r["coef_fin"], r["coef_age"]], rtol=TOL)
    with pytest.warns(StatisticalWarning, match="not estimable here"):
        zph = ProportionalHazardsTest().fit(cox)
    assert zph.not_estimable_.reason == "ph_tied_events"


def test_cox_zph_of_a_cox_model_without_events_is_not_estimable(cox_in):
    with pytest.warns(StatisticalWarning):
        cox = CoxPH().fit(cox_in.assign(arrest=0), "week", "arrest", ["fin"])
    with pytest.warns(StatisticalWarning, match="not estimable here"):
        zph = ProportionalHazardsTest().fit(cox)
    assert zph.not_estimable_.reason == "model_not_estimable"
    assert zph.not_estimable_.facts["cause"].reason == "no_events"


def test_segmented_regression_leaves_out_missing_quarters_as_glm_na_omit():
    q = pd.read_csv(REDUCED / "segmented_input.csv")
    r = ref("segmented.csv").set_index("term")
    with pytest.warns(StatisticalWarning, match="leaves out 3 period"):
        m = SegmentedRegression("2024-01-01").fit(q, "numerator", "interval_start")
    assert m.n_ == r["n_used"].iloc[0] and len(m.periods_left_out_) == r["n_omitted"].iloc[0]
    assert m.periods_left_out_ == ["2023-01-01", "2023-07-01", "2025-04-01"]
    est = m.params_
    np.testing.assert_allclose(est.to_numpy(), r["estimate"].to_numpy(), rtol=TOL, atol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(m.variance_matrix_)), r["se"].to_numpy(), rtol=TOL)
    assert m.dispersion_ == pytest.approx(r["dispersion"].iloc[0], rel=TOL)


def test_segmented_regression_without_counts_or_periods_is_not_estimable():
    q = pd.read_csv(REDUCED / "segmented_input.csv")
    with pytest.warns(StatisticalWarning, match="not estimable here"):
        m = SegmentedRegression("2024-01-01").fit(q.assign(numerator=np.nan), "numerator", "interval_start")
    assert m.not_estimable_.reason == "counts_missing"
    with pytest.warns(StatisticalWarning, match="not estimable here"):
        m = SegmentedRegression("2024-01-01").fit(q.assign(numerator=0), "numerator", "interval_start")
    assert m.not_estimable_.reason == "no_events"  # R: a deviance of NaN, no fit
    with pytest.warns(StatisticalWarning, match="not estimable here"):
        m = SegmentedRegression("2030-12-31").fit(q, "numerator", "interval_start")
    assert m.not_estimable_.reason == "too_few_periods"


# ------------------------------------------------------------------------------ lmer
@pytest.fixture(scope="module")
def lmer_in():
    return pd.read_csv(REDUCED / "lmer_input.csv")


DECISIONS = ref("lmer_decisions.csv")


@pytest.mark.parametrize("row", DECISIONS.to_dict("records"), ids=lambda r: f"{r['case']}-{r['random_effects']}")
def test_mixed_model_refuses_exactly_where_lme4_does(lmer_in, row):
    d = lmer_in[lmer_in["case"] == row["case"]]
    slope = row["random_effects"] == "slope"
    with pytest.warns() if not row["fitted"] else _maybe_warns():
        model = MixedModel(random_slope=slope).fit(d, "score", "t", "household_id")
    assert model.estimable == bool(row["fitted"]), row["message"]
    if not row["fitted"]:
        reason = model.not_estimable_
        assert reason.reason == "not_identifiable"
        assert reason.facts["n_obs"] == row["n_obs"]
        return
    fixed = ref("lmer_fixed.csv")
    fixed = fixed[(fixed["case"] == row["case"]) & (fixed["random_effects"] == row["random_effects"])]
    if row["case"] == "intercept_just_enough":
        # One household has two scores, the others one: the fixed slope can pass through
        # that household's two scores, and the REML criterion then falls without bound as
        # the residual variance goes to 0. lme4 accepts the model (41 > 40) and stops
        # where its optimiser does; the criterion here goes further down the same slope.
        assert model.deviance_ < fixed["reml"].iloc[0] and model.sigma2_ < 1e-10
        return
    np.testing.assert_allclose(model.params_.to_numpy(), fixed["estimate"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(model.bse_.to_numpy(), fixed["se"].to_numpy(), rtol=1e-5)
    assert model.deviance_ == pytest.approx(fixed["reml"].iloc[0], rel=1e-8)
    vc = ref("lmer_varcomp.csv")
    vc = vc[(vc["case"] == row["case"]) & (vc["random_effects"] == row["random_effects"])]
    residual = vc[vc["var1"].isna()]["vcov"].iloc[0]
    assert model.sigma2_ == pytest.approx(residual, rel=1e-5)


class _maybe_warns:
    """A fit lme4 accepts may still warn (a singular random-effects covariance)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", StatisticalWarning)
        return self

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def test_mixed_model_by_default_fits_what_lme4_accepts_and_says_so(lmer_in):
    d = lmer_in[lmer_in["case"] == "slope_one_too_few"]
    with pytest.warns(StatisticalWarning, match="random intercept only"):
        model = MixedModel().fit(d, "score", "t", "household_id")
    assert not model.random_slope_ and model.random_effects_ == "(1 | household_id)"
    assert model.reduction_ == {"dropped": "random slope", "reason": "not_identifiable", "n_obs": 80,
                                "n_re": 80, "n_groups": 40}
    assert model.describe()["reduced"]["n_re"] == 80
    fixed = ref("lmer_fixed.csv")
    fixed = fixed[(fixed["case"] == "slope_one_too_few") & (fixed["random_effects"] == "intercept")]
    np.testing.assert_allclose(model.params_.to_numpy(), fixed["estimate"].to_numpy(), rtol=1e-6)
    # one more score: lme4 accepts the slope, and so does the default
    d = lmer_in[lmer_in["case"] == "slope_just_enough"]
    with _maybe_warns():
        model = MixedModel().fit(d, "score", "t", "household_id")
    assert model.random_slope_ and model.reduction_ is None


# --------------------------------------------------------------------------- FineGray
def test_fine_gray_says_when_it_does_not_converge():
    d = pd.DataFrame({"t": np.arange(1, 11), "s": [1, 1, 1, 1, 1, 2, 0, 2, 0, 1], "x": [1] * 5 + [0] * 5})
    with pytest.warns(ConvergenceWarning, match="Fine-Gray model did not converge"):
        fg = FineGray(max_iter=2).fit(d, "t", "s", ["x"])
    assert not fg.converged_ and fg.describe()["converged"] is False


def test_newton_stops_and_warns_when_no_halving_improves_the_likelihood():
    from cohort.stats.base import newton_raphson

    # the gradient points uphill but every step goes down (as crr's line search fails)
    def objective(x):
        return -float(x @ x), np.ones(1), np.eye(1)

    with pytest.warns(ConvergenceWarning, match="no step of 30 halvings improved"):
        res = newton_raphson(objective, np.zeros(1), what="Fine-Gray model")
    assert not res.converged and res.x[0] == 0.0 and res.n_iter == 1
