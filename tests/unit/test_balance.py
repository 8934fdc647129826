"""Balance diagnostics: standardised mean differences, effective sample size, weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.balance import balance_table, effective_sample_size, weight_summary
from cohort.stats.propensity import PropensityScore
from tests.unit.effects_fixtures import COVARIATES, OUTCOMES, reference, trial


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_standardised_differences_and_ess_equal_r(outcome):
    d = trial(outcome)
    ps = PropensityScore().fit(d, "treated", COVARIATES)
    got = balance_table(d, "treated", COVARIATES, ps.weights_).set_index("term")
    ref = reference("balance").query("outcome == @outcome").set_index("covariate")
    np.testing.assert_allclose(got.loc[ref.index, "smd_unweighted"], ref["smd_unweighted"], atol=1e-8)
    np.testing.assert_allclose(got.loc[ref.index, "smd_weighted"], ref["smd_weighted"], atol=1e-8)
    ess = effective_sample_size(ps.weights_, d["treated"])
    assert ess["pilot"] == pytest.approx(ref["ess_pilot"].iloc[0], rel=1e-8)
    assert ess["comparison"] == pytest.approx(ref["ess_comparison"].iloc[0], rel=1e-8)


def test_weighting_removes_the_imbalance_of_the_confounders():
    d = trial("legal_measure")
    ps = PropensityScore().fit(d, "treated", COVARIATES)
    bal = balance_table(d, "treated", COVARIATES, ps.weights_)
    assert (bal["smd_unweighted"].abs() > 0.1).any()  # the design confounds by case mix
    assert (bal["smd_weighted"].abs() < 0.02).all()


def test_a_text_covariate_gets_a_row_per_level_with_its_households():
    d = pd.DataFrame({"a": [1, 1, 1, 0, 0, 0], "sev": ["high", "low", "high", "low", "low", "high"]})
    bal = balance_table(d, "a", ["sev"], np.ones(6)).set_index("term")
    assert list(bal.index) == ["sev: high", "sev: low"]
    assert (bal.loc["sev: high", "n_pilot"], bal.loc["sev: high", "n_comparison"]) == (2, 1)
    assert bal.loc["sev: high", "smd_unweighted"] == pytest.approx(-bal.loc["sev: low", "smd_unweighted"])


def test_weight_summary_per_arm():
    s = weight_summary([1.0, 3.0, 2.0, 0.5, 0.5], [1, 1, 1, 0, 0], truncated=[True, False, False, False, False])
    s = s.set_index("arm")
    assert s.loc["pilot", "median"] == 2.0 and s.loc["pilot", "truncated"] == 1
    assert s.loc["comparison", "effective_sample_size"] == pytest.approx(2.0)


def test_bad_weights_are_definition_errors():
    with pytest.raises(DefinitionError, match="finite and not negative"):
        effective_sample_size([1.0, -1.0], [1, 0])
    with pytest.raises(DefinitionError, match="equally long"):
        effective_sample_size([1.0], [1, 0])
