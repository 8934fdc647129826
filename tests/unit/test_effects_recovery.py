"""Recovery and bias: on a scaled delivery of the comparison design the weighted analyses
recover the generator's true effects within their intervals, and a naive (unweighted)
comparison of pilot and comparison households does not.

The delivery (60,000 households, seed 7) is confounded by case mix: pilot sites take on
extra severe and acute cases (cohort.synth.generate.TRUE_PILOT_EFFECTS). The truths are
computed from the generating model for the same trial population
(cohort.synth.comparison.true_risks, true_marginal_hazard_ratio).
"""

from __future__ import annotations

import numpy as np
import pytest

from cohort.definitions.site_panel import site_quarter_panel
from cohort.definitions.target_trial import (
    TrialSpec,
    legal_measure_trial,
    reregistration_trial,
    safety_trial,
)
from cohort.stats.ate import AverageTreatmentEffect
from cohort.stats.propensity import PropensityScore
from cohort.stats.staggered_did import StaggeredDiD
from cohort.stats.weighted_aalen_johansen import WeightedAalenJohansen
from cohort.stats.weighted_cox import WeightedCoxPH
from cohort.stats.weighted_mean import WeightedMeanDifference
from cohort.synth.comparison import generate_comparison, true_marginal_hazard_ratio, true_risks
from cohort.synth.generate import TRUE_PILOT_EFFECTS

pytestmark = pytest.mark.slow

SPEC = TrialSpec(reference_date="2026-06-30")
COVARIATES = list(SPEC.covariates)


@pytest.fixture(scope="module")
def delivery():
    return generate_comparison(seed=7, households=60_000)


@pytest.fixture(scope="module", params=["legal_measure", "reregistration"])
def trial(request, delivery):
    make = legal_measure_trial if request.param == "legal_measure" else reregistration_trial
    table = make(delivery, SPEC)
    ps = PropensityScore().fit(table, "treated", COVARIATES)
    return request.param, table, ps


def covers(frame, truth):
    return (frame["ci_lower"].to_numpy() <= truth) & (truth <= frame["ci_upper"].to_numpy())


def test_weighted_cumulative_incidence_differences_cover_the_true_risk_differences(trial):
    outcome, table, ps = trial
    truth = true_risks(table, outcome)["risk_difference"].to_numpy()
    weighted = WeightedAalenJohansen().fit(table, "time", "status", "arm", propensity=ps)
    diff = weighted.differences_.query("cause == 1")
    assert covers(diff, truth).all(), (diff, truth)
    # the naive comparison is biased towards no effect: the pilot's households are worse off
    naive = WeightedAalenJohansen().fit(table, "time", "status", "arm").differences_.query("cause == 1")
    assert (np.abs(naive["difference"].to_numpy() - truth) > np.abs(diff["difference"].to_numpy() - truth)).all()
    assert (naive["difference"].to_numpy() > truth).all()
    if outcome == "legal_measure":
        assert not covers(naive, truth).any()
    else:
        assert not covers(naive, truth)[1]  # 12 months


def test_weighted_cox_covers_the_true_marginal_hazard_ratio_and_the_naive_one_does_not(trial):
    outcome, table, ps = trial
    truth = np.log(true_marginal_hazard_ratio(table, outcome))
    table = table.assign(event=(table["status"] == 1).astype(int))
    weighted = WeightedCoxPH().fit(table, "time", "event", ["treated"], propensity=ps).summary.loc["treated"]
    naive = WeightedCoxPH(variance="model").fit(table, "time", "event", ["treated"]).summary.loc["treated"]
    assert weighted["ci_lower"] <= truth <= weighted["ci_upper"]
    assert naive["ci_lower"] > truth
    # the conditional hazard ratio of the model is not the marginal one, but close here
    conditional = {"legal_measure": TRUE_PILOT_EFFECTS["measure_loghr"]["pilot"],
                   "reregistration": TRUE_PILOT_EFFECTS["reregistration_loghr"]["pilot"]}[outcome]
    assert abs(truth - conditional) < 0.05


def test_iptw_risk_differences_cover_the_truth(trial):
    outcome, table, _ = trial
    truth = true_risks(table, outcome)["risk_difference"].to_numpy()
    est = AverageTreatmentEffect("IPTW").fit(table, "time", "status", "treated", COVARIATES)
    assert covers(est.differences_, truth).all()


def test_the_safety_slope_effect_is_recovered(delivery):
    table = safety_trial(delivery, SPEC)
    ps = PropensityScore().fit(table, "treated", COVARIATES)
    est = WeightedMeanDifference().fit(table, "change", "arm", propensity=ps).summary.iloc[0]
    truth = TRUE_PILOT_EFFECTS["safety"]["pilot_change_12m"]
    assert est["ci_lower"] <= truth <= est["ci_upper"]


def test_staggered_adoption_recovers_the_intake_effect(delivery):
    panel = site_quarter_panel(delivery, "2026-06-30")
    panel = panel.assign(y=np.log(panel["first_registrations"]))
    did = StaggeredDiD(seed=20260630).fit(panel, "y", "site", "period", "group_period")
    overall = did.overall_.set_index("aggregation").loc["simple"]
    truth = np.log(TRUE_PILOT_EFFECTS["intake"]["pilot_intake_ratio"])
    assert overall["ci_lower"] <= truth <= overall["ci_upper"]
    pre = did.att_gt_.query("not post")["att"]
    assert abs(pre.mean()) < 0.05  # no effect before adoption (parallel trends hold)
