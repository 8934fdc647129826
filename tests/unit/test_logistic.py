"""cohort.stats.logistic: the share trend agrees with R's binomial glm and recovers the
generator's true trend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import r_names, trends_ref

from cohort.definitions.dates import with_quarter_number
from cohort.exceptions import DefinitionError
from cohort.stats.base import ConvergenceWarning
from cohort.stats.logistic import LogisticModel


def test_logistic_share_trend_matches_binomial_glm(quarterly):
    m = LogisticModel().fit(quarterly, "registrations_without_children", "registrations", "quarter",
                            categorical=["site"])
    out = m.summary
    ref = trends_ref("logistic")
    assert r_names(out.index) == ref["term"].tolist()
    np.testing.assert_allclose(out["estimate"], ref["estimate"], rtol=1e-6)
    # R's IRLS stops at a relative deviance change of 1e-8: its SEs carry ~1e-5 of that
    np.testing.assert_allclose(out["se"], ref["se"], rtol=1e-4)
    rel = m.release_table()
    assert list(rel.columns)[-3:] == ["odds_ratio", "or_ci_lower", "or_ci_upper"]
    assert m.describe()["ratio"] == "odds ratio"


def test_true_childless_trend_is_recovered_from_a_generated_delivery():
    # The generator: logit P(no children) = -2.05 + 0.20 * years since 1 January 2023, at
    # a household's first registration (cohort.synth.generate.MODEL). A scaled, uncalibrated draw.
    from cohort.synth.generate import MODEL, generate

    d = generate(seed=7, households=20000)
    ep, hh = d.tables["episodes"], d.tables["households"]
    first = ep.sort_values("registration_date").drop_duplicates("household_id")
    x = first.merge(hh[["household_id", "has_children"]], on="household_id")
    x["interval_start"] = x["registration_date"].dt.to_period("Q").dt.start_time
    x["without_children"] = ~x["has_children"].astype(bool)
    q = x.groupby("interval_start", as_index=False).agg(
        registrations=("without_children", "size"), without=("without_children", "sum"))
    # quarter midpoints in years since the study start
    q = with_quarter_number(q)
    q["years"] = (q["quarter"] + 0.5) / 4
    out = LogisticModel().fit(q, "without", "registrations", "years").summary
    truth = MODEL["childless_logit_per_year"]
    assert out.loc["years", "ci_lower"] < truth < out.loc["years", "ci_upper"]
    assert out.loc["Intercept", "ci_lower"] < MODEL["childless_logit_intercept"] < out.loc["Intercept", "ci_upper"]


def test_bad_counts_zero_denominators_and_convergence():
    df = pd.DataFrame({"q": np.arange(5.0), "x": [1, 2, 0, 3, 4], "n": [10, 10, 0, 10, 10]})
    m = LogisticModel().fit(df, "x", "n", "q")
    assert m.n_ == 4  # the quarter without registrations is left out
    assert m.term_support_.loc["q", "events"] == 10
    with pytest.raises(DefinitionError, match="between 0"):
        LogisticModel().fit(df.assign(x=[11, 0, 0, 0, 0]), "x", "n", "q")
    with pytest.warns(ConvergenceWarning, match="logistic model"):
        LogisticModel(max_iter=1).fit(df, "x", "n", "q")
