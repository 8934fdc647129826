"""Average treatment effects on risks: riskRegression::ate's IPTW and AIPTW estimators.

IPTW agrees with ``ate(..., estimator = "IPTW")`` (estimates and standard errors that
account for the propensity and censoring models) on the tied, day-level trial data. The
augmented estimator agrees with ``ate(..., estimator = "AIPTW", known.nuisance = TRUE)`` on
untied data. On tied data riskRegression 2022.11.28 repeats each tied censoring time in the
augmentation integral (so a time with k censorings adds its censoring hazard k times);
there the reference is the same estimator assembled in R from riskRegression's own
predictions over the distinct censoring times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.ate import AverageTreatmentEffect
from tests.unit.effects_fixtures import (
    COVARIATES,
    FIXTURES,
    HORIZONS_DAYS,
    OUTCOMES,
    reference,
    trial,
)


def frame(est):
    r = est.risks_.assign(what="risk_" + est.risks_["arm"].astype(str), estimate=est.risks_["risk"])
    d = est.differences_.assign(what="difference", estimate=est.differences_["difference"])
    out = pd.concat([r[["what", "time", "estimate", "se"]], d[["what", "time", "estimate", "se"]]])
    return out.assign(months=np.round(out["time"] / 30.4375).astype(int))


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_iptw_equals_riskregression_ate_with_estimated_nuisance(outcome):
    est = AverageTreatmentEffect("IPTW", times=HORIZONS_DAYS).fit(trial(outcome), "time", "status", "treated", COVARIATES)
    ref = reference("ate_iptw").query("outcome == @outcome")
    merged = ref.merge(frame(est), on=["what", "months"])
    assert len(merged) == 9
    np.testing.assert_allclose(merged["estimate_y"], merged["estimate_x"], atol=1e-6)
    np.testing.assert_allclose(merged["se_y"], merged["se_x"], rtol=1e-4)


def test_aiptw_equals_riskregression_ate_on_untied_data():
    d = pd.read_csv(FIXTURES / "inputs" / "legal_measure_untied.csv")
    est = AverageTreatmentEffect("AIPTW", times=HORIZONS_DAYS).fit(d, "time", "status", "treated", COVARIATES)
    ref = reference("ate_aiptw_untied")
    merged = ref.merge(frame(est), on=["what", "months"])
    assert len(merged) == 9
    np.testing.assert_allclose(merged["estimate_y"], merged["estimate_x"], atol=1e-6)
    np.testing.assert_allclose(merged["se_y"], merged["se_x"], rtol=1e-4)


def test_aiptw_on_tied_data_uses_the_distinct_censoring_times():
    est = AverageTreatmentEffect("AIPTW", times=HORIZONS_DAYS).fit(
        trial("legal_measure"), "time", "status", "treated", COVARIATES)
    ref = reference("aiptw_distinct_jumps")
    got = est.risks_.pivot(index="time", columns="arm", values="risk")
    np.testing.assert_allclose(got[0].to_numpy(), ref["risk_0"], atol=1e-6)
    np.testing.assert_allclose(got[1].to_numpy(), ref["risk_1"], atol=1e-6)
    np.testing.assert_allclose(est.differences_["difference"], ref["difference"], atol=1e-6)


def test_without_censoring_iptw_is_the_horvitz_thompson_mean():
    d = trial("legal_measure")
    d = d[d["status"] > 0].reset_index(drop=True)  # no censored rows
    iptw = AverageTreatmentEffect("IPTW", times=HORIZONS_DAYS).fit(d, "time", "status", "treated", COVARIATES)
    p = iptw.propensity_model_.propensity_
    a = d["treated"].to_numpy()
    y = (d["time"].to_numpy()[:, None] <= np.array(HORIZONS_DAYS)) & (d["status"].to_numpy() == 1)[:, None]
    ht1 = (a / p) @ y / len(d)
    np.testing.assert_allclose(iptw.risks_.query("arm == 1")["risk"], ht1, atol=1e-12)


def test_bad_options_are_definition_errors():
    with pytest.raises(DefinitionError, match="estimator must be one of"):
        AverageTreatmentEffect("TMLE")
    with pytest.raises(DefinitionError, match="times must be positive"):
        AverageTreatmentEffect(times=[0])
    d = trial("legal_measure").assign(status=0)
    with pytest.raises(DefinitionError, match="no events of cause 1"):
        AverageTreatmentEffect().fit(d, "time", "status", "treated", COVARIATES)
