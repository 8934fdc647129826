"""The safety models on the bundled synthetic delivery: the mixed model and the GEE recover
the generator's true effects (cohort.synth.generate.TRUE_EFFECTS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cohort.definitions.waves import prepare_safety
from cohort.stats.gee import GEE
from cohort.stats.mixed import MixedModel

DELIVERY = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "default"


@pytest.mark.skipif(not (DELIVERY / "safety_assessments.csv").exists(), reason="bundled delivery missing")
def test_true_safety_effects_are_recovered_on_the_bundled_delivery():
    from cohort.delivery.load import load
    from cohort.synth.generate import TRUE_EFFECTS

    truth = TRUE_EFFECTS["safety"]
    d = load(DELIVERY, cache_dir=False)
    long = prepare_safety(d.safety_assessments, d.episodes, d.households, covariates=["severity"])
    long = long[long["respondent"].isin(["professional", "parent"])]
    levels = {"severity": ["low", "high"], "respondent": ["professional", "parent"]}
    # 99% intervals: four effects are checked at once; scores are rounded and clipped.
    m = MixedModel(alpha=0.01).fit(long, "score", "months_since_registration", "household_id",
                                   categorical=["severity", "respondent"], levels=levels)
    tab = m.summary
    expected = {"Intercept": truth["intercept"], "months_since_registration": truth["slope_per_month"],
                "severity[T.high]": truth["severity_high"],
                "respondent[T.parent]": truth["respondent"]["parent"] - truth["respondent"]["professional"]}
    for term, value in expected.items():
        assert tab.loc[term, "ci_lower"] < value < tab.loc[term, "ci_upper"], term
    vc = m.variance_components_.set_index("component")["sd"]
    np.testing.assert_allclose(vc["group_intercept"], truth["random_intercept_sd"], rtol=0.1)
    np.testing.assert_allclose(vc["group_slope"], truth["random_slope_sd"], rtol=0.1)
    # rounding to whole points adds 1/12 to the residual variance
    np.testing.assert_allclose(vc["residual"], np.sqrt(truth["residual_sd"] ** 2 + 1 / 12), rtol=0.05)
    g = GEE(alpha=0.01).fit(long, "score", "months_since_registration", "household_id",
                            categorical=["severity", "respondent"], levels=levels).summary
    assert g.loc["months_since_registration", "ci_lower"] < truth["slope_per_month"] < g.loc[
        "months_since_registration", "ci_upper"]
    assert g.loc["severity[T.high]", "ci_lower"] < truth["severity_high"] < g.loc["severity[T.high]", "ci_upper"]


def test_mixed_model_on_the_safety_table_matches_lmer(fixture_long):
    import pandas as pd
    from r_reference import TRENDS

    prof = fixture_long[fixture_long["respondent"] == "professional"]
    m = MixedModel().fit(prof, "score", "years_since_registration", "household_id",
                         categorical=["severity", "site"])
    ref = pd.read_csv(TRENDS / "r" / "lmer_fixed.csv")
    np.testing.assert_allclose(m.params_.to_numpy(), ref["estimate"], rtol=1e-4, atol=1e-4 * ref["se"].min())
    tab = m.release_table()
    assert list(tab.columns) == ["term", "estimate", "se", "ci_lower", "ci_upper", "p"]
    assert tab["term"].iloc[-4:].str.startswith(("sd(", "corr(")).all()
    assert tab.attrs["n_households"] == m.n_groups_
