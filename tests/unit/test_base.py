"""The shared base of the estimators (cohort.stats.base): options, repr, describe, the Wald
table, Newton's method, term support, and a ConvergenceWarning from every iterative fitter."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError, ParameterError
from cohort.stats.aalen_johansen import AalenJohansen
from cohort.stats.base import (
    ConvergenceWarning,
    Estimator,
    HypothesisTest,
    RegressionModel,
    StatisticalWarning,
    check_alpha,
    newton_raphson,
    term_support,
    wald_table,
)
from cohort.stats.cox import CoxPH
from cohort.stats.cox_zph import ProportionalHazardsTest
from cohort.stats.fine_gray import FineGray
from cohort.stats.gee import GEE
from cohort.stats.kaplan_meier import KaplanMeier
from cohort.stats.logistic import LogisticModel
from cohort.stats.logrank import LogRankTest
from cohort.stats.mcf import MeanCumulativeFunction
from cohort.stats.mixed import MixedModel
from cohort.stats.negative_binomial import NegativeBinomialModel
from cohort.stats.poisson import PoissonModel
from cohort.stats.segmented import SegmentedRegression

ESTIMATORS = [
    KaplanMeier, AalenJohansen, CoxPH, FineGray, MeanCumulativeFunction, MixedModel, GEE,
    PoissonModel, LogisticModel, NegativeBinomialModel, LogRankTest, ProportionalHazardsTest,
]
REGRESSION = [CoxPH, FineGray, MixedModel, GEE, PoissonModel, LogisticModel, NegativeBinomialModel,
              SegmentedRegression]


def _unfitted(cls):
    return cls("2024-01-01") if cls is SegmentedRegression else cls()


@pytest.mark.parametrize("cls", [*ESTIMATORS, SegmentedRegression], ids=lambda c: c.__name__)
def test_every_estimator_is_on_the_base_and_refuses_results_before_fit(cls):
    est = _unfitted(cls)
    assert isinstance(est, Estimator)
    assert repr(est) == f"<{cls.__name__}: not fitted>"
    with pytest.raises(DefinitionError, match=f"{cls.__name__} is not fitted yet: call fit"):
        _ = est.summary
    with pytest.raises(DefinitionError, match="call fit"):
        est.describe()


@pytest.mark.parametrize("cls", REGRESSION, ids=lambda c: c.__name__)
def test_regression_models_share_the_vocabulary(cls):
    assert issubclass(cls, RegressionModel)
    kwargs = {"change_date": "2024-01-01"} if cls is SegmentedRegression else {}
    with pytest.raises(DefinitionError, match="alpha"):
        cls(alpha=1.0, **kwargs)


def test_tests_are_hypothesis_tests():
    assert issubclass(LogRankTest, HypothesisTest) and issubclass(ProportionalHazardsTest, HypothesisTest)


def test_check_alpha():
    assert check_alpha(0.1) == 0.1
    for bad in (0, 1, -0.5, "0.05", True, None, float("nan")):
        with pytest.raises(DefinitionError, match="alpha must lie in"):
            check_alpha(bad)
    with pytest.raises(ParameterError):
        check_alpha(2, error=ParameterError)


def test_wald_table_columns_and_t_distribution():
    tab = wald_table(["a", "b"], [1.0, -0.2], [0.5, 0.1], alpha=0.1, exp=True)
    assert tab.index.name == "term" and list(tab.index) == ["a", "b"]
    assert list(tab.columns) == ["estimate", "se", "statistic", "p", "ci_lower", "ci_upper",
                                 "exp_estimate", "exp_ci_lower", "exp_ci_upper"]
    np.testing.assert_allclose(tab["ci_upper"], [1 + 1.6448536 * 0.5, -0.2 + 1.6448536 * 0.1], rtol=1e-7)
    t = wald_table(["a"], [1.0], [0.5], dist="t", df_resid=3)
    assert t["p"].iloc[0] > wald_table(["a"], [1.0], [0.5])["p"].iloc[0]
    with pytest.raises(DefinitionError, match="degrees of freedom"):
        wald_table(["a"], [1.0], [0.5], dist="t")


def test_newton_raphson_step_halving_and_warning():
    # log(1 + x^2)-shaped concave objective: full Newton steps overshoot, halving saves them
    def objective(x):
        v = -np.log1p((x[0] - 3) ** 2)
        g = np.array([-2 * (x[0] - 3) / (1 + (x[0] - 3) ** 2)])
        h = np.array([[max(2 * (1 - (x[0] - 3) ** 2) / (1 + (x[0] - 3) ** 2) ** 2, 0.05)]])
        return v, g, h

    res = newton_raphson(objective, [2.5])
    assert res.converged and res.x[0] == pytest.approx(3.0)
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 iterations"):
        res = newton_raphson(objective, [0.0], max_iter=1, what="toy model")
    assert not res.converged and res.n_iter == 1 and res.value >= res.value_start
    with pytest.raises(DefinitionError, match="singular"):
        newton_raphson(lambda x: (0.0, np.zeros(2), np.zeros((2, 2))), [0.0, 0.0])


def test_term_support_on_tiny_designs():
    X = np.array([[1.0, 1.0, 0.2], [1.0, 0.0, 0.4], [1.0, 1.0, 0.1], [1.0, 0.0, 0.3]])
    units = np.array([0, 0, 1, 2])  # unit 0 has rows on both sides of the 0/1 column
    events = np.array([True, False, True, True])
    ts = term_support(X, ["Intercept", "x", "z"], units, events)
    assert ts.to_dict("index") == {
        "Intercept": {"indicator": False, "units": 3, "events": 3},  # constant: every unit
        "x": {"indicator": True, "units": 2, "events": 1},  # x=1: units 0, 1; x=0: 0, 2
        "z": {"indicator": False, "units": 3, "events": 3},
    }
    both = term_support(X, ["Intercept", "x", "z"], units, events, levels=True)
    assert both.loc["x", ["units_1", "units_0", "events_1", "events_0"]].tolist() == [2, 2, 2, 1]
    assert both.loc["z", ["units_1", "events_0"]].isna().all()
    counts = term_support(X[:, 1:2], ["x"], np.arange(4), np.array([5, 0, 7, 1]))
    assert counts.loc["x", "events"] == 1  # aggregated counts: the sum on the smaller side
    none = term_support(X[:, 1:2], ["x"], np.arange(4))
    assert none["events"].isna().all() and str(none["units"].dtype) == "Int64"
    empty = term_support(np.zeros((0, 1)), ["x"], np.zeros(0, dtype=int))
    assert empty.loc["x", "units"] == 0


def test_repr_and_describe_of_a_fitted_model(rossi):
    cox = CoxPH().fit(rossi, "week", "arrest", ["fin", "prio"])
    text = repr(cox)
    assert text.startswith("<CoxPH: n=432, confidence_level=0.95, converged=True")
    assert "terms" not in text  # lists stay in describe()
    assert cox.describe()["terms"] == ["fin", "prio"]


# ----------------------------------------------------------------------------- convergence


@pytest.fixture(scope="module")
def separated():
    """x = 1 fails first everywhere: the likelihood grows without bound in x's coefficient."""
    return pd.DataFrame({"t": np.arange(1, 11), "e": 1, "s": [1, 1, 1, 1, 1, 2, 0, 2, 0, 1],
                         "x": [1] * 5 + [0] * 5})


def test_cox_warns_when_a_term_separates_the_outcome(separated):
    # as R's coxph: the likelihood converges while the coefficient runs off ("coefficient
    # may be infinite"); here the term is marked infinite and not estimated
    with pytest.warns(StatisticalWarning, match="infinite"):
        cox = CoxPH().fit(separated, "t", "e", ["x"])
    assert cox.dropped_terms_ == {"x": "infinite"} and np.isnan(cox.params_["x"])


def test_fine_gray_warns_when_it_stops_early(separated):
    with pytest.warns(ConvergenceWarning, match="Fine-Gray model did not converge in 3"):
        fg = FineGray(max_iter=3).fit(separated, "t", "s", ["x"])
    assert not fg.converged_ and fg.n_iter_ == 3
    # left to run, the coefficient diverges: a not-estimable result that says so
    with pytest.warns(StatisticalWarning, match="FineGray is not estimable here: .*diverges"):
        fg = FineGray().fit(separated, "t", "s", ["x"])
    assert not fg.estimable and fg.not_estimable_.reason == "diverging"
    with pytest.raises(DefinitionError, match="diverges"):
        _ = fg.params_


def test_glm_fitters_warn_when_irls_stops_early():
    df = pd.DataFrame({"q": np.arange(8.0), "n": [3, 9, 4, 12, 6, 15, 7, 20], "x": [1, 2, 1, 5, 2, 6, 3, 9],
                       "start": pd.date_range("2023-01-01", periods=8, freq="QS")})
    for model, args in ((PoissonModel(max_iter=1), ("n", "q")),
                        (LogisticModel(max_iter=1), ("x", "n", "q")),
                        (SegmentedRegression("2024-01-01", max_iter=1), ("n", "start"))):
        with pytest.warns(ConvergenceWarning, match="did not converge in 1 iterations"):
            model.fit(df, *args)
        assert not model.converged_


def test_gee_negative_binomial_and_mixed_model_warn(fixture_long, quarterly, monkeypatch):
    prof = fixture_long[fixture_long["respondent"] == "professional"]
    with pytest.warns(ConvergenceWarning):
        assert not GEE(max_iter=1).fit(prof, "score", "years_since_registration", "household_id").converged_
    with pytest.warns(ConvergenceWarning):
        NegativeBinomialModel(max_iter=1).fit(quarterly, "referrals", "quarter", "person_years")
    # the optimiser stops after two iterations and the Newton steps that finish it are
    # switched off: the model must say so
    monkeypatch.setattr(MixedModel, "_newton_polish",
                        lambda self, theta, fun, max_iter=10: (theta, fun, False, 0))
    with pytest.warns(ConvergenceWarning, match="mixed model"):
        m = MixedModel(max_iter=2).fit(prof, "score", "years_since_registration", "household_id")
    assert not m.converged_


def test_warnings_are_user_warnings_of_their_own_class():
    assert issubclass(ConvergenceWarning, UserWarning) and issubclass(StatisticalWarning, UserWarning)
    assert not issubclass(ConvergenceWarning, StatisticalWarning)
