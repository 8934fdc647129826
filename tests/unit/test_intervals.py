"""Confidence intervals (cohort.stats.intervals) against R: survfit's transforms,
survival::cipoisson, prop.test and binom.test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import trends_ref

from cohort.exceptions import DefinitionError, ParameterError
from cohort.stats.intervals import (
    confint,
    count_intervals,
    proportion_ci,
    proportion_intervals,
    rate_intervals,
)


def test_confint_log_matches_hand_computation():
    lo, up = confint(np.array([0.5]), np.array([0.1]), "log", 0.05)
    z = 1.959963984540054
    assert lo[0] == pytest.approx(0.5 * np.exp(-z * 0.1))
    assert up[0] == pytest.approx(0.5 * np.exp(z * 0.1))


def test_exact_poisson_rate_interval_matches_cipoisson(quarterly):
    out = rate_intervals(quarterly, "measures", "person_years")
    ref = trends_ref("cipoisson")
    np.testing.assert_allclose(out["ci_lower"], ref["lower"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out["ci_upper"], ref["upper"], rtol=1e-10)
    assert (out["ci_method"] == "exact Poisson").all()


def test_rate_per_multiplier_and_zero_count():
    out = rate_intervals(pd.DataFrame({"k": [0], "py": [50.0]}), "k", "py", per=1000)
    assert out["rate"].iloc[0] == 0 and out["ci_lower"].iloc[0] == 0
    # upper limit of a zero count: -log(0.025) = 3.6889 events, per 50 person-years
    np.testing.assert_allclose(out["ci_upper"].iloc[0], 3.688879454 / 50 * 1000, rtol=1e-9)


@pytest.mark.parametrize("method,col", [("wilson", "wilson"), ("clopper-pearson", "cp")])
def test_proportion_intervals_match_prop_test_and_binom_test(quarterly, method, col):
    d = quarterly[quarterly["registrations"] > 0].reset_index(drop=True)
    out = proportion_intervals(d, "registrations_without_children", "registrations", method=method)
    ref = trends_ref("proportions")
    np.testing.assert_allclose(out["ci_lower"], ref[f"{col}_lower"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["ci_upper"], ref[f"{col}_upper"], rtol=1e-9, atol=1e-12)
    assert (out["ci_method"] == method).all()
    # the array function the monitor calls gives the same limits
    lo, hi = proportion_ci(d["registrations_without_children"], d["registrations"], method)
    np.testing.assert_array_equal(lo, out["ci_lower"])
    np.testing.assert_array_equal(hi, out["ci_upper"])


def test_proportion_ci_on_arrays():
    lo, hi = proportion_ci([88, 0, 5, 3, np.nan], [557, 10, 3, 0, 10])
    assert f"{lo[0]:.5f} {hi[0]:.5f}" == "0.13006 0.19061"
    assert lo[1] == 0.0 and 0 < hi[1] < 1
    assert np.isnan(lo[2:]).all() and np.isnan(hi[2:]).all()  # x > n, n = 0, missing
    with pytest.raises(ParameterError, match="method"):
        proportion_ci([1], [2], method="wald")
    with pytest.raises(ParameterError, match="alpha"):
        proportion_ci([1], [2], alpha=1.5)
    with pytest.raises(DefinitionError, match="alpha"):
        proportion_ci([1], [2], alpha=0, error=DefinitionError)


def test_proportion_bad_input():
    df = pd.DataFrame({"x": [5], "n": [3]})
    with pytest.raises(DefinitionError, match="between 0"):
        proportion_intervals(df, "x", "n")
    with pytest.raises(ParameterError, match="method"):
        proportion_intervals(df.assign(x=1), "x", "n", method="wald")


def test_counts_must_be_whole():
    with pytest.raises(DefinitionError, match="whole counts"):
        count_intervals(pd.DataFrame({"n": [1.5]}), "n")


def test_interval_functions_do_not_mutate(quarterly):
    before = quarterly.copy()
    rate_intervals(quarterly, "measures", "person_years")
    proportion_intervals(quarterly, "registrations_without_children", "registrations")
    pd.testing.assert_frame_equal(quarterly, before)
