"""The weighted Cox model: R's coxph(weights=, cluster=), and the estimated-weights variance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.propensity import PropensityScore
from cohort.stats.weighted_cox import WeightedCoxPH
from tests.unit.effects_fixtures import COVARIATES, FIXTURES, OUTCOMES, reference, trial


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_hazard_ratio_and_standard_errors_equal_r(outcome):
    d = trial(outcome).assign(event=lambda f: (f["status"] == 1).astype(int))
    ps = PropensityScore().fit(d, "treated", COVARIATES)
    cox = WeightedCoxPH().fit(d, "time", "event", ["treated"], propensity=ps, cluster_col="id")
    ref = reference("weighted_cox").query("outcome == @outcome").iloc[0]
    assert cox.params_["treated"] == pytest.approx(ref["coef"], abs=1e-6)
    se = lambda v: float(np.sqrt(v.loc["treated", "treated"]))  # noqa: E731
    assert se(cox.robust_variance_) == pytest.approx(ref["robust_se"], rel=1e-4)
    assert se(cox.model_variance_) == pytest.approx(ref["model_se"], rel=1e-4)
    assert se(cox.estimated_weights_variance_) == pytest.approx(ref["se_estimated_weights"], rel=1e-4)
    assert cox.variance_ == "estimated-weights"
    assert cox.summary.loc["treated", "se"] == pytest.approx(ref["se_estimated_weights"], rel=1e-4)


def test_breslow_case_weights_are_replicated_rows():
    # with Breslow ties an integer weight is the same as repeating the row (with Efron ties
    # it is not: R's case weights share the mean weight of the tied deaths, as here)
    d = pd.read_csv(FIXTURES.parent / "survival" / "tied.csv").assign(e=lambda f: (f["status"] == 1).astype(int))
    w = (np.arange(len(d)) % 3 + 1).astype(float)
    weighted = WeightedCoxPH(ties="breslow").fit(d, "time", "e", ["x1", "x2"], weights=w)
    dup = d.loc[d.index.repeat(w.astype(int))].reset_index(drop=True)
    plain = WeightedCoxPH(ties="breslow").fit(dup, "time", "e", ["x1", "x2"])
    np.testing.assert_allclose(weighted.params_, plain.params_, atol=1e-9)
    np.testing.assert_allclose(weighted.model_variance_, plain.model_variance_, rtol=1e-8)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_the_estimated_weights_term_equals_numerical_derivatives(ties):
    d = trial("legal_measure").iloc[:2000].reset_index(drop=True).assign(event=lambda f: (f["status"] == 1).astype(int))
    ps = PropensityScore().fit(d, "treated", COVARIATES)
    X, a = ps._X, ps.treatment_

    def beta(eta):
        p = 1 / (1 + np.exp(-X @ eta[:-1]))
        w = np.where(a == 1, eta[-1] / p, (1 - eta[-1]) / (1 - p))
        return WeightedCoxPH(ties=ties).fit(d, "time", "event", ["treated"], weights=w).params_.to_numpy()

    eta = np.r_[ps.params_.to_numpy(), ps.pilot_share_]
    numeric = np.column_stack([(beta(eta + e) - beta(eta - e)) / 2e-6 for e in np.eye(len(eta)) * 1e-6])
    cox = WeightedCoxPH(ties=ties).fit(d, "time", "event", ["treated"], propensity=ps)
    analytic = cox.model_variance_.to_numpy() @ (cox._resid.T @ ps.weight_jacobian())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


def test_term_support_counts_households_and_events_per_arm():
    d = trial("legal_measure").assign(event=lambda f: (f["status"] == 1).astype(int))
    cox = WeightedCoxPH().fit(d, "time", "event", ["treated"], weights=np.ones(len(d)))
    sup = cox.term_support_.loc["treated"]
    assert sup["units"] == min((d["treated"] == 1).sum(), (d["treated"] == 0).sum())
    assert sup["events"] == min(d.loc[d["treated"] == 1, "event"].sum(), d.loc[d["treated"] == 0, "event"].sum())


def test_cumulative_hazard_uses_the_breslow_baseline():
    d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 1], "x": [0.0, 1.0, 0.0, 1.0]})
    cox = WeightedCoxPH(ties="breslow").fit(d, "t", "e", ["x"])
    b = cox.params_["x"]
    r = np.exp(b * d["x"].to_numpy())
    # Breslow: dLambda(t) = d(t) / sum over the risk set of exp(x b)
    expected = np.cumsum([1 / r[0:].sum(), 1 / r[1:].sum(), 0.0, 1 / r[3:].sum()])
    got = cox.cumulative_hazard(pd.DataFrame({"x": [0.0]}), [1, 2, 3, 4])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_bad_input_is_a_definition_error():
    d = pd.DataFrame({"t": [1, 2, 3], "e": [0, 0, 0], "x": [1.0, 0.0, 1.0]})
    with pytest.raises(DefinitionError, match="no events"):
        WeightedCoxPH().fit(d, "t", "e", ["x"])
    with pytest.raises(DefinitionError, match="needs the propensity model"):
        WeightedCoxPH(variance="estimated-weights").fit(d.assign(e=[1, 0, 1]), "t", "e", ["x"])
    with pytest.raises(DefinitionError, match="ties must be"):
        WeightedCoxPH(ties="exact")
