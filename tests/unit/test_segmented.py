"""cohort.stats.segmented: segmented regression (interrupted time series) agrees with R's
quasi-Poisson glm and recovers known level and slope changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import trends_ref

from cohort.exceptions import DefinitionError
from cohort.stats.base import (
    ConvergenceWarning,
    StatisticalWarning,
    fit_by_group,
    release_table_by_group,
)
from cohort.stats.segmented import SegmentedRegression, its_design


def _close(ours, ref, rtol=1e-4):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(ref, float), rtol=rtol)


def test_segmented_regression_matches_quasipoisson(total):
    m = SegmentedRegression("2024-07-01").fit(total, "measures", "interval_start", "person_years")
    out = m.release_table()
    ref = trends_ref("segmented")
    assert out["term"].tolist() == ref["term"].tolist()
    _close(out["estimate"], ref["estimate"], rtol=1e-6)
    _close(out["se"], ref["se"])
    _close(out["dispersion"], ref["dispersion"])
    assert out["n_pre"].iloc[0] == 6  # 2023Q1-2024Q2; the change is 1 July 2024
    assert out["n_post"].iloc[0] == len(total) - 6
    assert list(out.columns) == ["term", "estimate", "se", "ci_lower", "ci_upper", "statistic", "p",
                                 "rate_ratio", "rr_ci_lower", "rr_ci_upper", "dispersion",
                                 "n_pre", "n_post"]


def test_seasonal_segmented_regression_matches_quasipoisson(total):
    m = SegmentedRegression("2024-07-01", seasonal=True).fit(total, "measures", "interval_start",
                                                             "person_years")
    out = m.summary
    ref = trends_ref("segmented_seasonal")
    assert out.index.tolist() == ref["term"].tolist()
    _close(out["estimate"], ref["estimate"], rtol=1e-6)
    _close(out["se"], ref["se"])
    _close(m.dispersion_, ref["dispersion"].iloc[0])


def test_segmented_regression_recovers_level_and_slope_change():
    periods = pd.date_range("2022-01-01", periods=24, freq="QS")
    d = its_design(pd.Series(periods), "2025-01-01")
    mu = 5000 * np.exp(-3 + 0.02 * d["time"] - 0.3 * d["post"] + 0.05 * d["time_since_change"])
    df = pd.DataFrame({"start": periods, "n": np.random.default_rng(5).poisson(mu), "pop": 5000.0})
    out = SegmentedRegression("2025-01-01").fit(df, "n", "start", "pop").summary
    assert out.loc["level_change", "ci_lower"] < -0.3 < out.loc["level_change", "ci_upper"]
    assert out.loc["slope_change", "ci_lower"] < 0.05 < out.loc["slope_change", "ci_upper"]


def test_segmented_regression_per_site(quarterly):
    before = quarterly["interval_start"] < "2024-07-01"
    counts = before.groupby(quarterly["site"]).agg(["sum", "size"])
    sites = counts.index[(counts["sum"] >= 2) & (counts["size"] - counts["sum"] >= 2)]
    d = quarterly[quarterly["site"].isin(sites)]
    models = fit_by_group(SegmentedRegression("2024-07-01"), d, ["site"], "referrals",
                          "interval_start", "person_years")
    out = release_table_by_group(models, ["site"])
    assert out.columns[0] == "site"
    assert out.groupby("site").size().eq(4).all()
    assert sorted(out["site"].unique()) == sorted(sites)
    one = SegmentedRegression("2024-07-01").fit(d[d["site"] == sites[0]], "referrals",
                                                "interval_start", "person_years")
    np.testing.assert_array_equal(out.loc[out["site"] == sites[0], "estimate"], one.params_)


def test_segmented_needs_periods_on_both_sides(total, quarterly):
    with pytest.warns(StatisticalWarning, match="not estimable here"):
        m = SegmentedRegression("2030-01-01").fit(total, "measures", "interval_start", "person_years")
    assert m.not_estimable_.reason == "too_few_periods" and m.not_estimable_.facts["n_post"] == 0
    with pytest.raises(DefinitionError, match="before and after"):
        _ = m.params_
    with pytest.warns(StatisticalWarning):
        models = fit_by_group(SegmentedRegression("2030-01-01"), quarterly, ["site"], "referrals",
                              "interval_start")
    assert all(model.not_estimable_.reason == "too_few_periods" for model in models.values())


def test_describe_states_family_scale_and_change_date(total):
    m = SegmentedRegression("2024-05-15").fit(total, "measures", "interval_start", "person_years")
    facts = m.describe()
    assert facts["family"] == "quasi-Poisson" and facts["scale"] == "Pearson chi2 / residual df"
    assert facts["change_date"] == "2024-05-15" and facts["first_post_period"] == "2024-07-01"
    assert facts["dispersion"] == m.dispersion_ and facts["unit"] == "period"
    assert m.term_support_.loc["level_change", "units"] == min(m.n_pre_, m.n_post_)
    with pytest.warns(ConvergenceWarning):
        SegmentedRegression("2024-05-15", max_iter=1).fit(total, "measures", "interval_start",
                                                           "person_years")


def test_its_design_first_post_quarter_is_zero():
    d = its_design(pd.Series(pd.date_range("2024-01-01", periods=6, freq="QS")), "2024-05-15")
    # the first quarter starting on or after 15 May 2024 is July 2024
    assert d["post"].tolist() == [0, 0, 1, 1, 1, 1]
    assert d["time_since_change"].tolist() == [0, 0, 0, 1, 2, 3]
