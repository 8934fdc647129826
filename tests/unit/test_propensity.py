"""The propensity model and its weights: R's glm, stabilisation, truncation, influence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.propensity import PropensityScore
from tests.unit.effects_fixtures import COVARIATES, OUTCOMES, reference, trial


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_coefficients_and_standard_errors_equal_r_glm(outcome):
    ps = PropensityScore().fit(trial(outcome), "treated", COVARIATES)
    ref = reference("propensity").query("outcome == @outcome").set_index("term")
    np.testing.assert_allclose(ps.params_[ref.index], ref["estimate"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ps.standard_errors_[ref.index], ref["se"], rtol=1e-4)
    assert ps.summary.loc["severity_high", "exp_estimate"] == pytest.approx(np.exp(ref.loc["severity_high", "estimate"]))


def test_stabilised_weights_average_one_per_arm_in_expectation():
    d = trial("legal_measure")
    ps = PropensityScore().fit(d, "treated", COVARIATES)
    w, a = ps.weights_.to_numpy(), d["treated"].to_numpy() == 1
    # sum of stabilised weights in an arm estimates that arm's size (Hajek identity up to noise)
    assert w[a].sum() / a.sum() == pytest.approx(1.0, abs=0.05)
    assert w[~a].sum() / (~a).sum() == pytest.approx(1.0, abs=0.05)
    raw = PropensityScore(stabilised=False).fit(d, "treated", COVARIATES).weights_.to_numpy()
    np.testing.assert_allclose(w[a], raw[a] * a.mean())
    np.testing.assert_allclose(w[~a], raw[~a] * (1 - a.mean()))


def test_truncation_at_quantiles_clips_the_weights_and_zeroes_their_derivative():
    d = trial("legal_measure")
    ps = PropensityScore(trim_quantiles=(0.05, 0.95)).fit(d, "treated", COVARIATES)
    lo, hi = np.quantile(ps.raw_weights_, [0.05, 0.95])
    assert ps.weights_.min() == pytest.approx(lo) and ps.weights_.max() == pytest.approx(hi)
    assert ps.truncated_.sum() == ((ps.raw_weights_ < lo) | (ps.raw_weights_ > hi)).sum() > 0
    assert (ps.weight_jacobian()[ps.truncated_] == 0).all()


@pytest.mark.parametrize("stabilised", [True, False])
def test_weight_jacobian_equals_numerical_derivatives(stabilised):
    d = trial("reregistration").iloc[:600]
    ps = PropensityScore(stabilised=stabilised).fit(d, "treated", COVARIATES)
    X, a = ps._X, ps.treatment_

    def weights(eta):
        p = 1 / (1 + np.exp(-X @ eta[: X.shape[1]]))
        share = eta[-1] if stabilised else 1.0
        num = np.where(a == 1, share, 1 - share) if stabilised else 1.0
        return num / np.where(a == 1, p, 1 - p)

    eta = np.r_[ps.params_.to_numpy(), [ps.pilot_share_] if stabilised else []]
    numeric = np.column_stack([
        (weights(eta + e) - weights(eta - e)) / 2e-6 for e in np.eye(len(eta)) * 1e-6
    ])
    np.testing.assert_allclose(ps.weight_jacobian(), numeric, rtol=1e-6, atol=1e-8)


def test_influence_of_the_coefficients_predicts_leaving_a_household_out():
    d = trial("legal_measure").iloc[:800].reset_index(drop=True)
    ps = PropensityScore(stabilised=False).fit(d, "treated", COVARIATES)
    for j in (0, 17, 333):
        without = PropensityScore(stabilised=False).fit(d.drop(index=j), "treated", COVARIATES)
        change = without.params_.to_numpy() - ps.params_.to_numpy()
        np.testing.assert_allclose(change, -ps.weight_influence_[j], rtol=0.05, atol=1e-5)


def test_one_arm_or_bad_treatment_is_a_definition_error():
    d = pd.DataFrame({"a": [1, 1, 1], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(DefinitionError, match="holds one arm only"):
        PropensityScore().fit(d, "a", ["x"])
    with pytest.raises(DefinitionError, match="must hold 0 .comparison. and 1 .pilot."):
        PropensityScore().fit(d.assign(a=[0, 1, 2]), "a", ["x"])
    with pytest.raises(DefinitionError, match="trim_quantiles"):
        PropensityScore(trim_quantiles=(0.9, 0.1))


def test_the_input_frame_is_not_changed():
    d = trial("legal_measure")
    before = d.copy()
    PropensityScore(trim_quantiles=(0.01, 0.99)).fit(d, "treated", COVARIATES)
    pd.testing.assert_frame_equal(d, before)
