"""cohort.stats.mixed: the vectorised REML random intercept-and-slope model agrees with lme4.

Reference values: r/trends_reference.R (lme4::lmer, REML) on tests/fixtures/trends/.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from r_reference import TRENDS as FIX

from cohort.exceptions import DefinitionError
from cohort.stats.base import ConvergenceWarning, StatisticalWarning
from cohort.stats.mixed import MixedModel, fitted_mean_trajectory


def _professional():
    s = pd.read_csv(FIX / "safety_long.csv")
    return s[s["respondent"] == "professional"].reset_index(drop=True)


def _r_term(term: str) -> str:
    return "(Intercept)" if term == "Intercept" else term.replace("[T.", "").replace("]", "")


@pytest.fixture(scope="module")
def fitted():
    return MixedModel().fit(_professional(), "score", "years", "household",
                            categorical=["severity", "site"])


def test_fixed_effects_and_se_match_lmer(fitted):
    ref = pd.read_csv(FIX / "r" / "lmer_fixed.csv").set_index("term")
    ours_est = fitted.params_.rename(index=_r_term)
    ours_se = fitted.bse_.rename(index=_r_term)
    assert list(ours_est.index) == list(ref.index)
    # relative 1e-4; for estimates near zero, relative to their standard error
    np.testing.assert_allclose(ours_est, ref["estimate"], rtol=1e-4, atol=1e-4 * ref["se"].min())
    np.testing.assert_allclose(ours_se, ref["se"], rtol=1e-4)


def test_variance_components_match_lmer(fitted):
    ref = pd.read_csv(FIX / "r" / "lmer_varcomp.csv").set_index("quantity")["value"]
    vc = fitted.variance_components_.set_index("component")
    np.testing.assert_allclose(vc.loc["group_intercept", "variance"], ref["var_intercept"], rtol=1e-4)
    np.testing.assert_allclose(vc.loc["group_slope", "variance"], ref["var_slope"], rtol=1e-4)
    np.testing.assert_allclose(vc.loc["residual", "variance"], ref["sigma2"], rtol=1e-4)
    # the covariance is small here: compare on the scale of the variances
    np.testing.assert_allclose(vc.loc["group_intercept_slope", "variance"], ref["cov_intercept_slope"],
                               atol=1e-4 * ref["var_intercept"])
    np.testing.assert_allclose(fitted.deviance_, ref["REMLcrit"], rtol=1e-8)
    assert fitted.n_obs_ == int(ref["n_obs"]) and fitted.n_groups_ == int(ref["n_groups"])


def test_agrees_with_statsmodels_mixedlm_on_a_small_sample():
    d = _professional()
    d = d[d["household"] <= 150]
    ours = MixedModel().fit(d, "score", "years", "household")
    sm_fit = smf.mixedlm("score ~ years", d, groups=d["household"], re_formula="~years").fit(
        reml=True, method="lbfgs")
    np.testing.assert_allclose(ours.params_.to_numpy(), sm_fit.fe_params.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(ours.sigma2_, sm_fit.scale, rtol=1e-3)
    # statsmodels' cov_re is the raw covariance of the random effects (see STATS-NOTES)
    np.testing.assert_allclose(ours.cov_re_.to_numpy(), sm_fit.cov_re.to_numpy(), rtol=1e-2, atol=1e-3)


def test_row_order_and_missing_outcomes_do_not_matter(fitted):
    d = _professional()
    shuffled = d.sample(frac=1.0, random_state=3)
    extra = shuffled.iloc[:5].assign(score=np.nan)
    refit = MixedModel().fit(pd.concat([shuffled, extra]), "score", "years", "household",
                             categorical=["severity", "site"])
    np.testing.assert_allclose(refit.params_, fitted.params_, rtol=1e-6, atol=1e-8)
    assert refit.n_dropped_ == 5


def test_input_not_mutated():
    d = _professional()
    before = d.copy()
    MixedModel().fit(d, "score", "years", "household")
    pd.testing.assert_frame_equal(d, before)


def test_recovers_simulated_parameters():
    rng = np.random.default_rng(11)
    G = 4000
    g = np.repeat(np.arange(G), 4)
    t = np.tile(np.arange(4.0), G) / 2
    b = rng.multivariate_normal([0, 0], [[1.0, 0.2], [0.2, 0.25]], G)
    y = 5 + 0.8 * t + b[g, 0] + b[g, 1] * t + rng.normal(0, 0.6, len(g))
    m = MixedModel().fit(pd.DataFrame({"g": g, "t": t, "y": y}), "y", "t", "g")
    lo, hi = m.summary[["ci_lower", "ci_upper"]].T.to_numpy()
    assert lo[0] < 5 < hi[0] and lo[1] < 0.8 < hi[1]
    # within about three standard errors of the variance estimates at 4000 groups
    np.testing.assert_allclose(m.cov_re_.to_numpy(), [[1.0, 0.2], [0.2, 0.25]], atol=0.1)
    np.testing.assert_allclose(m.sigma2_, 0.36, rtol=0.05)


def test_ml_option_gives_smaller_variances_than_reml(fitted):
    ml = MixedModel(reml=False).fit(_professional(), "score", "years", "household",
                                    categorical=["severity", "site"])
    assert ml.cov_re_.iloc[0, 0] < fitted.cov_re_.iloc[0, 0]


def test_missing_column_is_a_user_error():
    with pytest.raises(DefinitionError, match="lacks column"):
        MixedModel().fit(_professional(), "scor", "years", "household")


def test_constant_covariate_is_not_estimable_here():
    d = _professional().assign(one=1.0)
    with pytest.warns(StatisticalWarning, match="rank deficient"):
        model = MixedModel().fit(d, "score", "years", "household", covariates=["one"])
    assert model.not_estimable_.reason == "rank_deficient"
    with pytest.raises(DefinitionError, match="rank deficient"):
        _ = model.summary


def test_bad_alpha():
    with pytest.raises(DefinitionError):
        MixedModel(alpha=1.5)


def test_time_in_months_small_slope_variance_is_found():
    # The slope SD per month is small relative to lme4's start (theta = 1): the optimiser
    # must not stop at the l22 = 0 saddle.
    rng = np.random.default_rng(4)
    G = 3000
    g = np.repeat(np.arange(G), 4)
    months = np.tile([0.0, 6.0, 12.0, 18.0], G) + rng.normal(0, 0.3, 4 * G)
    b0, b1 = rng.normal(0, 1.0, G), rng.normal(0, 0.04, G)
    y = 4.6 + 0.12 * months + b0[g] + b1[g] * months + rng.normal(0, 0.9, g.size)
    m = MixedModel().fit(pd.DataFrame({"g": g, "m": months, "y": y}), "y", "m", "g")
    sd = m.variance_components_.set_index("component")["sd"]
    assert 0.03 < sd["group_slope"] < 0.05
    assert 0.9 < sd["group_intercept"] < 1.1


def test_newton_steps_finish_an_abnormally_stopped_optimiser(fitted, monkeypatch):
    import cohort.stats.mixed as mixed

    real = mixed.optimize.minimize

    def stopped_early(*args, **kwargs):
        kwargs["options"] = {**kwargs.get("options", {}), "maxiter": 4}
        res = real(*args, **kwargs)
        res.success = False
        return res

    monkeypatch.setattr(mixed.optimize, "minimize", stopped_early)
    m = MixedModel().fit(_professional(), "score", "years", "household",
                         categorical=["severity", "site"])
    assert m.optimizer_result_.success
    np.testing.assert_allclose(m.params_, fitted.params_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(m.cov_re_.to_numpy(), fitted.cov_re_.to_numpy(), rtol=1e-5, atol=1e-7)


def test_maximum_likelihood_matches_lmer_reml_false():
    ref = pd.read_csv(FIX / "r" / "lmer_ml.csv")
    m = MixedModel(reml=False).fit(_professional(), "score", "years", "household",
                                   categorical=["severity", "site"])
    np.testing.assert_allclose(m.params_.to_numpy(), ref["estimate"], rtol=1e-4, atol=1e-4 * ref["se"].min())
    np.testing.assert_allclose(m.bse_.to_numpy(), ref["se"], rtol=1e-4)
    np.testing.assert_allclose(m.deviance_, ref["deviance"].iloc[0], rtol=1e-8)
    np.testing.assert_allclose(m.sigma2_, ref["sigma2"].iloc[0], rtol=1e-4)


def test_summary_is_the_wald_table(fitted):
    s = fitted.summary
    assert s.index.name == "term" and list(s.index) == list(fitted.params_.index)
    assert list(s.columns) == ["estimate", "se", "statistic", "p", "ci_lower", "ci_upper"]
    np.testing.assert_array_equal(s["se"], fitted.bse_)
    np.testing.assert_array_equal(s["statistic"], fitted.params_ / fitted.bse_)


def test_release_table_keeps_its_rows_and_columns(fitted):
    tab = fitted.release_table()
    assert list(tab.columns) == ["term", "estimate", "se", "ci_lower", "ci_upper", "p"]
    assert tab["term"].iloc[:-4].tolist() == list(fitted.params_.index)
    assert tab["term"].iloc[-4:].tolist() == [
        "sd(Intercept | household)", "sd(years | household)",
        "corr(Intercept, years | household)", "sd(residual)"]
    vc = fitted.variance_components_.set_index("component")
    assert tab["estimate"].iloc[-1] == vc.loc["residual", "sd"]
    assert tab.attrs == {"n_obs": fitted.n_obs_, "n_households": fitted.n_groups_, "method": "REML"}


def test_describe_term_support_and_convergence(fitted):
    facts = fitted.describe()
    assert facts["method"] == "REML" and facts["random_effects"] == "(1 + years | household)"
    assert facts["n_obs"] == fitted.n_obs_ and facts["n_groups"] == fitted.n_groups_
    assert facts["converged"] is True and fitted.n_iter_ > 0
    ts = fitted.term_support_
    assert ts.loc["Intercept", "units"] == fitted.n_groups_
    d = _professional()
    low = d.loc[d["severity"] == "low", "household"].nunique()
    high = d.loc[d["severity"] != "low", "household"].nunique()
    assert ts.loc["severity[T.low]", "units"] == min(high, low)
    assert ts["events"].isna().all()


def test_predict_and_fitted_trajectory_use_the_same_design(fitted):
    d = _professional().iloc[:5]
    pred = fitted.predict(d)
    X = np.column_stack([np.ones(5), d["years"], (d["severity"] == "low").astype(float)]
                        + [(d["site"] == s).astype(float) for s in
                           [n[len("site[T."):-1] for n in fitted.params_.index if n.startswith("site")]])
    np.testing.assert_allclose(pred, X @ fitted.params_.to_numpy())
    assert (fitted.predict_se(d) > 0).all()
    traj = fitted_mean_trajectory(fitted, [0, 12])
    assert traj["n_households"].eq(fitted.n_groups_).all()
    np.testing.assert_allclose(traj["estimate"].diff().iloc[1], fitted.params_["years"])


def test_convergence_warning_when_the_optimiser_stops_early(monkeypatch):
    import cohort.stats.mixed as mixed

    monkeypatch.setattr(MixedModel, "_newton_polish",
                        lambda self, theta, fun, max_iter=10: (theta, fun, False, 0))
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        m = MixedModel(max_iter=2).fit(_professional(), "score", "years", "household")
    assert not m.converged_ and not m.optimizer_result_.success
    assert mixed.MixedModel is MixedModel


def test_not_fitted():
    with pytest.raises(DefinitionError, match="call fit"):
        _ = MixedModel().summary
    assert repr(MixedModel()) == "<MixedModel: not fitted>"
