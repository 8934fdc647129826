"""Weighted Kaplan-Meier and Aalen-Johansen per arm: R's survfit(weights=), and the
standard errors that account for the estimated weights (R chain rule, numerical checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.propensity import PropensityScore
from cohort.stats.weighted_aalen_johansen import WeightedAalenJohansen
from cohort.stats.weighted_kaplan_meier import WeightedKaplanMeier
from tests.unit.effects_fixtures import COVARIATES, HORIZONS_DAYS, OUTCOMES, reference, trial


def fitted(outcome, kind):
    d = trial(outcome)
    ps = PropensityScore().fit(d, "treated", COVARIATES)
    if kind == "km":
        d = d.assign(event=(d["status"] == 1).astype(int))
        est = WeightedKaplanMeier(horizons_days=HORIZONS_DAYS).fit(d, "time", "event", "arm", propensity=ps)
    else:
        est = WeightedAalenJohansen(horizons_days=HORIZONS_DAYS).fit(d, "time", "status", "arm", propensity=ps)
    return d, ps, est


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("kind", ["km", "aj"])
def test_curves_at_6_12_24_months_equal_r(outcome, kind):
    _, _, est = fitted(outcome, kind)
    ref = reference("curves").query("outcome == @outcome + ':' + @kind")
    got = est.survival_ if kind == "km" else est.risks_
    value = "survival" if kind == "km" else "cif"
    got = got.assign(arm=(got["group"] == "pilot").astype(int), cause=got.get("cause", 1),
                     months=np.round(got["time"] / 30.4375).astype(int))
    merged = ref.merge(got, on=["arm", "cause", "months"])
    assert len(merged) == len(ref) > 0
    np.testing.assert_allclose(merged[value], merged["estimate"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(merged["se_fixed_weights_y"], merged["se_fixed_weights_x"], rtol=1e-4)
    np.testing.assert_allclose(merged["se_y"], merged["se_x"], rtol=1e-4)


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("kind", ["km", "aj"])
def test_differences_between_arms_equal_r(outcome, kind):
    _, _, est = fitted(outcome, kind)
    ref = reference("curve_differences").query("outcome == @outcome + ':' + @kind")
    got = est.differences_.assign(cause=est.differences_.get("cause", 1),
                                  months=np.round(est.differences_["time"] / 30.4375).astype(int))
    merged = ref.merge(got, on=["cause", "months"])
    assert len(merged) == len(ref)
    np.testing.assert_allclose(merged["difference_y"], merged["difference_x"], atol=1e-6)
    np.testing.assert_allclose(merged["se_y"], merged["se_x"], rtol=1e-4)
    np.testing.assert_allclose(merged["se_fixed_weights_y"], merged["se_fixed_weights_x"], rtol=1e-4)


def test_the_derivative_of_the_difference_wrt_the_weight_parameters_is_exact():
    d = trial("reregistration").iloc[:1500].reset_index(drop=True)
    ps = PropensityScore().fit(d, "treated", COVARIATES)
    X, a = ps._X, ps.treatment_

    def difference(eta):
        p = 1 / (1 + np.exp(-X @ eta[:-1]))
        w = np.where(a == 1, eta[-1] / p, (1 - eta[-1]) / (1 - p))
        return WeightedAalenJohansen(horizons_days=HORIZONS_DAYS).fit(
            d, "time", "status", "arm", weights=w).differences_["difference"].to_numpy()

    eta = np.r_[ps.params_.to_numpy(), ps.pilot_share_]
    numeric = np.column_stack([(difference(eta + e) - difference(eta - e)) / 2e-6 for e in np.eye(len(eta)) * 1e-6])
    # the estimated-weights part of the influence is Phi times that gradient
    est = WeightedAalenJohansen(horizons_days=HORIZONS_DAYS).fit(d, "time", "status", "arm", propensity=ps)
    corr_numeric = ps.weight_influence_ @ numeric.T
    fixed = WeightedAalenJohansen(horizons_days=HORIZONS_DAYS).fit(d, "time", "status", "arm", weights=ps.weights_)
    np.testing.assert_allclose(est.influence_ - fixed.influence_, corr_numeric, rtol=1e-5, atol=1e-9)


def test_estimated_weights_narrow_the_interval_here():
    _, _, est = fitted("legal_measure", "aj")
    diff = est.differences_
    assert (diff["se"] <= diff["se_fixed_weights"] + 1e-12).all()


def test_single_cause_aalen_johansen_is_one_minus_kaplan_meier():
    d = trial("reregistration").assign(event=lambda f: (f["status"] == 1).astype(int))
    w = PropensityScore().fit(d, "treated", COVARIATES).weights_
    km = WeightedKaplanMeier(horizons_days=HORIZONS_DAYS).fit(d, "time", "event", "arm", weights=w)
    aj = WeightedAalenJohansen(horizons_days=HORIZONS_DAYS).fit(d, "time", "event", "arm", weights=w)
    np.testing.assert_allclose(km.risks_["risk"], aj.risks_["cif"], atol=1e-12)
    np.testing.assert_allclose(km.risks_["se"], aj.risks_["se"], rtol=1e-9)


def test_unit_weights_give_the_plain_estimators():
    from cohort.stats.kaplan_meier import KaplanMeier

    d = trial("reregistration").assign(event=lambda f: (f["status"] == 1).astype(int))
    km = WeightedKaplanMeier(horizons_days=HORIZONS_DAYS).fit(d, "time", "event", "arm")
    plain = KaplanMeier().fit(d, "time", "event", group_col="arm").survival_at(HORIZONS_DAYS)
    merged = km.survival_.merge(plain, on=["group", "time"])
    np.testing.assert_allclose(merged["survival_x"], merged["survival_y"], atol=1e-12)


def test_counts_behind_the_curves_are_households_not_weights():
    _, _, est = fitted("legal_measure", "aj")
    t = est.table_
    assert t["n_risk"].dtype.kind == "i" and (t["n_risk"] >= 0).all()
    first = t.groupby("group")["n_risk"].first()
    d = trial("legal_measure")
    assert first["pilot"] == (d["treated"] == 1).sum() and first["comparison"] == (d["treated"] == 0).sum()


def test_bad_input_is_a_definition_error():
    d = pd.DataFrame({"t": [1, 2, 3], "e": [1, 0, 1], "g": ["a", "b", "c"]})
    with pytest.raises(DefinitionError, match="must hold two arms"):
        WeightedKaplanMeier().fit(d, "t", "e", "g")
    d = pd.DataFrame({"t": [1, 2], "e": [1, 2], "g": ["pilot", "comparison"]})
    with pytest.raises(DefinitionError, match="for competing events use WeightedAalenJohansen"):
        WeightedKaplanMeier().fit(d, "t", "e", "g")
    with pytest.raises(DefinitionError, match="weights must be positive"):
        WeightedAalenJohansen().fit(d, "t", "e", "g", weights=[1.0, -1.0])
