"""The semi-parametric PH model for interval-censored data (the approach of icenReg's
``ic_sp``, which is not packaged here): recovery of known effects from data simulated
under proportional hazards, the bootstrap, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.interval_ph import IntervalPH
from cohort.stats.interval_regression import IntervalRegression

TRUE_BETA = {"x1": 0.6, "x2": -0.4}


def simulate(n, seed=1, beta=(0.6, -0.4), shape=1.5, scale=300.0):
    """Weibull proportional hazards, S(t) = exp(-(t/scale)^shape exp(x'beta)), seen only at
    visits 60-120 days apart (whole days), up to 12 visits; households are pairs of rows."""
    rng = np.random.default_rng(seed)
    x1 = rng.integers(0, 2, n)
    x2 = np.round(rng.normal(size=n), 2)
    t = scale * (rng.exponential(size=n) / np.exp(beta[0] * x1 + beta[1] * x2)) ** (1 / shape)
    visits = np.round(np.c_[np.zeros(n), np.cumsum(rng.uniform(60, 120, (n, 12)), axis=1)])
    k = (visits < t[:, None]).sum(axis=1)
    left = visits[np.arange(n), k - 1]
    right = np.where(k <= 12, visits[np.arange(n), np.minimum(k, 12)], np.inf)
    return pd.DataFrame({"left": left, "right": right, "x1": x1, "x2": x2,
                         "cluster": np.arange(n) // 2})


@pytest.fixture(scope="module")
def data():
    return simulate(2500)


@pytest.fixture(scope="module")
def fitted(data):
    return IntervalPH(n_bootstrap=40, seed=5).fit(data, covariates=["x1", "x2"], cluster_col="cluster")


def test_recovers_the_true_log_hazard_ratios_within_their_intervals(fitted):
    s = fitted.summary
    assert fitted.converged_
    for term, value in TRUE_BETA.items():
        assert abs(s.loc[term, "estimate"] - value) < 3.29 * s.loc[term, "se"], term
    assert s.loc["x1", "exp_estimate"] == pytest.approx(np.exp(s.loc["x1", "estimate"]))


def test_agrees_with_the_weibull_model_where_that_model_is_true(data, fitted):
    """On Weibull PH data the parametric model gives log HR = -beta / sigma; both estimate
    the same effects, and the bootstrap standard errors are of the same size as the
    parametric ones (a little larger: the baseline is not assumed)."""
    w = IntervalRegression("weibull").fit(data, covariates=["x1", "x2"])
    loghr = -w.params_[["x1", "x2"]] / w.scale_
    se_w = w.standard_errors_[["x1", "x2"]] / w.scale_  # the scale is precise: first order
    se_ph = fitted.standard_errors_
    for term in ("x1", "x2"):
        assert abs(fitted.params_[term] - loghr[term]) < 2 * se_w[term]
        assert 0.6 < se_ph[term] / se_w[term] < 1.8


def test_the_bootstrap_is_seeded(data):
    small = data.iloc[:600]
    a = IntervalPH(n_bootstrap=8, seed=3).fit(small, covariates=["x1"], cluster_col="cluster")
    b = IntervalPH(n_bootstrap=8, seed=3).fit(small, covariates=["x1"], cluster_col="cluster")
    c = IntervalPH(n_bootstrap=8, seed=4).fit(small, covariates=["x1"], cluster_col="cluster")
    pd.testing.assert_frame_equal(a.bootstrap_, b.bootstrap_)
    assert not a.bootstrap_.equals(c.bootstrap_)
    assert len(a.bootstrap_) == 8


def test_baseline_is_a_survival_function(fitted):
    s = fitted.baseline_["survival"].to_numpy()
    assert (np.diff(s) <= 1e-12).all() and (s >= 0).all() and (s <= 1).all()


def test_no_bootstrap_gives_no_standard_errors(data):
    fit = IntervalPH(n_bootstrap=0).fit(data.iloc[:400], covariates=["x1"])
    assert np.isnan(fit.standard_errors_["x1"])
    assert "bootstrap" in fit.describe()["variance"]


def test_input_not_changed_and_bad_input(data):
    small = data.iloc[:300].copy()
    before = small.copy()
    IntervalPH(n_bootstrap=2).fit(small, covariates=["x1"])
    pd.testing.assert_frame_equal(small, before)
    with pytest.raises(DefinitionError, match="at least one covariate"):
        IntervalPH().fit(small)
    with pytest.raises(DefinitionError, match="nothing to estimate"):
        IntervalPH().fit(small.assign(right=np.inf), covariates=["x1"])
    for kwargs in ({"n_bootstrap": -1}, {"seed": 1.5}, {"tol": 0}):
        with pytest.raises(DefinitionError):
            IntervalPH(**kwargs)
