"""Weibull and log-normal AFT models for interval-censored data against R's survreg, and
recovery of known effects from simulated data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.interval_regression import IntervalRegression

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "interval"
REF = pd.read_csv(FIX / "r" / "survreg.csv")
FITS = pd.read_csv(FIX / "r" / "survreg_fit.csv")
MODELS = {1: ["severity", "children", "prior_reports"], 2: ["severity", "site"]}
TOL = 1e-6


def _r_name(term):
    # R names a dummy <column><level>; ours too, except booleans (none here)
    return term


@pytest.mark.parametrize(("case", "dist", "model"),
                         sorted({tuple(r) for r in FITS[["case", "dist", "model"]].itertuples(index=False)}))
def test_agrees_with_survreg(case, dist, model):
    df = pd.read_csv(FIX / f"{case}.csv")
    df = df[df["right"] > 0]  # safe at time zero: refused by survreg, left out there too
    fit = IntervalRegression(dist).fit(df, covariates=MODELS[model], cluster_col="cluster")
    ref = REF[(REF["case"] == case) & (REF["dist"] == dist) & (REF["model"] == model)]
    ref = ref.set_index("term")
    assert list(fit.params_.index) == list(ref.index)
    np.testing.assert_allclose(fit.params_.to_numpy(), ref["estimate"].to_numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.standard_errors_.to_numpy(), ref["se"].to_numpy(), rtol=0, atol=TOL)
    row = FITS[(FITS["case"] == case) & (FITS["dist"] == dist) & (FITS["model"] == model)].iloc[0]
    assert fit.loglik_ == pytest.approx(row["loglik"], abs=TOL)
    assert fit.loglik_null_ == pytest.approx(row["loglik_null"], abs=TOL)
    assert fit.scale_ == pytest.approx(row["scale"], abs=TOL)
    assert fit.n_ == row["n"]
    assert fit.converged_


def _simulate(n, dist, beta=(5.0, 0.5, -0.3), log_scale=-0.4, seed=11):
    """log T = b0 + b1 x1 + b2 x2 + sigma W, inspected at visits 30-90 days apart."""
    rng = np.random.default_rng(seed)
    x1 = rng.integers(0, 2, n)
    x2 = np.round(rng.normal(size=n), 2)
    sigma = np.exp(log_scale)
    w = np.log(rng.exponential(size=n)) if dist == "weibull" else rng.normal(size=n)
    t = np.exp(beta[0] + beta[1] * x1 + beta[2] * x2 + sigma * w)
    visits = np.round(np.c_[np.zeros(n), np.cumsum(rng.uniform(30, 90, (n, 10)), axis=1)])
    k = (visits < t[:, None]).sum(axis=1)
    left = visits[np.arange(n), k - 1]
    right = np.where(k <= 10, visits[np.arange(n), np.minimum(k, 10)], np.inf)
    return pd.DataFrame({"left": left, "right": right, "x1": x1, "x2": x2})


@pytest.mark.parametrize("dist", ["weibull", "lognormal"])
def test_recovers_known_effects_within_their_intervals(dist):
    df = _simulate(4000, dist)
    fit = IntervalRegression(dist).fit(df, covariates=["x1", "x2"])
    s = fit.summary
    truth = {"(Intercept)": 5.0, "x1": 0.5, "x2": -0.3, "Log(scale)": -0.4}
    for term, value in truth.items():
        # 99.9% interval so that the check fails only for a real fault
        half = 3.29 * s.loc[term, "se"]
        assert abs(s.loc[term, "estimate"] - value) < half, term


def test_weibull_hazard_ratio_is_minus_beta_over_sigma():
    df = _simulate(2000, "weibull")
    fit = IntervalRegression("weibull").fit(df, covariates=["x1", "x2"])
    hr = fit.hazard_ratios()
    assert hr["x1"] == pytest.approx(np.exp(-fit.params_["x1"] / fit.scale_))
    with pytest.raises(DefinitionError, match="Weibull"):
        IntervalRegression("lognormal").fit(df, covariates=["x1"]).hazard_ratios()


def test_summary_is_the_shared_wald_table_with_time_ratios():
    df = _simulate(500, "lognormal")
    fit = IntervalRegression("lognormal").fit(df, covariates=["x1"])
    s = fit.summary
    assert list(s.columns) == ["estimate", "se", "statistic", "p", "ci_lower", "ci_upper",
                               "exp_estimate", "exp_ci_lower", "exp_ci_upper"]
    assert np.isnan(s.loc["Log(scale)", "exp_estimate"])
    assert s.loc["x1", "exp_estimate"] == pytest.approx(np.exp(s.loc["x1", "estimate"]))
    assert fit.describe()["ratio"] == "time ratio"
    lr = fit.likelihood_ratio_test()
    assert lr["df"] == 1 and lr["chisq"] > 0


def test_left_censored_from_zero_equals_missing_left_bound():
    df = _simulate(600, "weibull")
    a = IntervalRegression().fit(df, covariates=["x1"])
    b = IntervalRegression().fit(df.assign(left=df["left"].where(df["left"] > 0)), covariates=["x1"])
    np.testing.assert_allclose(a.params_, b.params_, atol=1e-10)


def test_event_at_time_zero_is_refused_as_r_does():
    df = pd.DataFrame({"left": [0.0, 3.0, 5.0], "right": [0.0, 9.0, np.inf], "x": [0, 1, 0]})
    with pytest.raises(DefinitionError, match="time 0"):
        IntervalRegression().fit(df, covariates=["x"])


def test_right_censored_at_zero_carries_no_information_and_is_dropped():
    df = _simulate(400, "weibull")
    extra = pd.DataFrame({"left": [0.0] * 5, "right": [np.inf] * 5, "x1": [1] * 5, "x2": [0.0] * 5})
    a = IntervalRegression().fit(df, covariates=["x1"])
    b = IntervalRegression().fit(pd.concat([df, extra], ignore_index=True), covariates=["x1"])
    np.testing.assert_allclose(a.params_, b.params_, atol=1e-10)
    assert b.n_dropped_ == 5 and b.n_ == len(df)


def test_term_support_counts_households_and_events():
    df = _simulate(300, "weibull").assign(cluster=lambda d: np.arange(len(d)) // 2)
    fit = IntervalRegression().fit(df, covariates=["x1"], cluster_col="cluster")
    sup = fit.term_support_
    assert bool(sup.loc["x1", "indicator"])
    assert sup.loc["(Intercept)", "units"] == 150
    assert sup.loc["x1", "units"] <= 150


def test_input_not_changed_and_bad_options():
    df = _simulate(200, "weibull")
    before = df.copy()
    IntervalRegression().fit(df, covariates=["x1"])
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(DefinitionError):
        IntervalRegression("gamma")
    with pytest.raises(DefinitionError, match="lacks column"):
        IntervalRegression().fit(df, covariates=["nope"])
