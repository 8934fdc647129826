"""cohort.trends: intervals, percent change and count models agree with R.

Reference values: r/trends_reference.R on tests/fixtures/trends/quarterly.csv
(survival::cipoisson, prop.test, binom.test, lm, glm, MASS::glm.nb, quasipoisson glm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError, ParameterError
from cohort.stats import trends

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "trends"


def _ref(name):
    return pd.read_csv(FIX / "r" / f"{name}.csv")


@pytest.fixture(scope="module")
def quarterly():
    return pd.read_csv(FIX / "quarterly.csv", parse_dates=["interval_start"])


@pytest.fixture(scope="module")
def total(quarterly):
    tot = quarterly.groupby("interval_start", as_index=False)[
        ["measures", "person_years", "registrations"]].sum()
    tot["quarter"] = trends.quarter_index(tot["interval_start"]) - trends.quarter_index(
        [pd.Timestamp("2023-01-01")])[0] + 1
    return tot


def _r_names(terms):
    return ["(Intercept)" if t == "Intercept" else t.replace("[T.", "").replace("]", "") for t in terms]


def _close(ours, ref, rtol=1e-4):
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    np.testing.assert_allclose(ours, ref, rtol=rtol)


# ------------------------------------------------------------------ intervals


def test_exact_poisson_rate_interval_matches_cipoisson(quarterly):
    out = trends.rate_intervals(quarterly, "measures", "person_years")
    ref = _ref("cipoisson")
    np.testing.assert_allclose(out["ci_lower"], ref["lower"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out["ci_upper"], ref["upper"], rtol=1e-10)
    assert (out["ci_method"] == "exact Poisson").all()


def test_rate_per_multiplier_and_zero_count():
    out = trends.rate_intervals(pd.DataFrame({"k": [0], "py": [50.0]}), "k", "py", per=1000)
    assert out["rate"].iloc[0] == 0 and out["ci_lower"].iloc[0] == 0
    # upper limit of a zero count: -log(0.025) = 3.6889 events, per 50 person-years
    np.testing.assert_allclose(out["ci_upper"].iloc[0], 3.688879454 / 50 * 1000, rtol=1e-9)


@pytest.mark.parametrize("method,col", [("wilson", "wilson"), ("clopper-pearson", "cp")])
def test_proportion_intervals_match_prop_test_and_binom_test(quarterly, method, col):
    d = quarterly[quarterly["registrations"] > 0].reset_index(drop=True)
    out = trends.proportion_intervals(d, "registrations_without_children", "registrations", method=method)
    ref = _ref("proportions")
    np.testing.assert_allclose(out["ci_lower"], ref[f"{col}_lower"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["ci_upper"], ref[f"{col}_upper"], rtol=1e-9, atol=1e-12)
    assert (out["ci_method"] == method).all()


def test_proportion_bad_input():
    df = pd.DataFrame({"x": [5], "n": [3]})
    with pytest.raises(DefinitionError, match="between 0"):
        trends.proportion_intervals(df, "x", "n")
    with pytest.raises(ParameterError, match="method"):
        trends.proportion_intervals(df.assign(x=1), "x", "n", method="wald")


def test_counts_must_be_whole():
    with pytest.raises(DefinitionError, match="whole counts"):
        trends.count_intervals(pd.DataFrame({"n": [1.5]}), "n")


def test_interval_functions_do_not_mutate(quarterly):
    before = quarterly.copy()
    trends.rate_intervals(quarterly, "measures", "person_years")
    trends.proportion_intervals(quarterly, "registrations_without_children", "registrations")
    pd.testing.assert_frame_equal(quarterly, before)


# ------------------------------------------------------------------ percent change


def test_apc_and_aapc_match_log_linear_lm(total):
    pos = total[total["registrations"] > 0]
    one = trends.percent_change(pos, "quarter", "registrations")
    jp = trends.percent_change(pos, "quarter", "registrations", joinpoints=[6])
    ours = pd.concat([one.iloc[:1], jp], ignore_index=True)
    assert ours["measure"].tolist() == ["APC", "APC", "APC", "AAPC"]
    ref = _ref("percent_change")
    for col in ["slope", "slope_se", "percent_change", "ci_lower", "ci_upper"]:
        _close(ours[col], ref[col], rtol=1e-9)


def test_apc_single_segment_aapc_equals_apc(total):
    out = trends.percent_change(total[total["registrations"] > 0], "quarter", "registrations")
    np.testing.assert_allclose(out["percent_change"].iloc[0], out["percent_change"].iloc[1])


def test_apc_recovers_exact_growth():
    df = pd.DataFrame({"q": np.arange(12.0), "y": 50 * 1.04 ** np.arange(12) * np.exp(
        np.random.default_rng(1).normal(0, 0.01, 12))})
    out = trends.percent_change(df, "q", "y")
    row = out.iloc[0]
    assert row["ci_lower"] < 4.0 < row["ci_upper"]


def test_apc_by_site(quarterly):
    d = quarterly.assign(q=trends.quarter_index(quarterly["interval_start"]))
    out = trends.percent_change(d[d["registrations"] > 0], "q", "registrations", by=["site"])
    assert sorted(out["site"].unique()) == sorted(quarterly["site"].unique())
    assert set(out["measure"]) == {"APC", "AAPC"}


# ------------------------------------------------------------------ count models


def test_poisson_with_offset_matches_glm(quarterly):
    out = trends.poisson_trend(quarterly, "measures", "quarter", "person_years", categorical=["site"])
    ref = _ref("poisson")
    assert _r_names(out["term"]) == ref["term"].tolist()
    _close(out["estimate"], ref["estimate"], rtol=1e-6)
    _close(out["se"], ref["se"], rtol=1e-6)
    np.testing.assert_allclose(out["rate_ratio"], np.exp(out["estimate"]))


def test_negative_binomial_matches_glm_nb(quarterly):
    m = trends.NegativeBinomialModel().fit(quarterly, "referrals", "quarter", "person_years",
                                           categorical=["site"])
    ref = _ref("negbin")
    theta = _ref("negbin_theta").set_index("quantity")["value"]
    assert _r_names(m.params_.index) == ref["term"].tolist()
    _close(m.params_, ref["estimate"])
    _close(m.bse_, ref["se"])
    _close(m.theta_, theta["theta"])
    _close(m.theta_se_, theta["theta_se"])
    _close(m.twologlik_, theta["twologlik"], rtol=1e-8)


def test_negbin_dispersion_is_estimated_not_fixed(quarterly):
    out = trends.negbin_trend(quarterly, "referrals", "quarter", "person_years", categorical=["site"])
    assert out.attrs["theta"] != pytest.approx(1.0, abs=0.5)


def test_segmented_regression_matches_quasipoisson(total):
    out = trends.segmented_regression(total, "measures", "interval_start", "2024-07-01", "person_years")
    ref = _ref("segmented")
    assert out["term"].tolist() == ref["term"].tolist()
    _close(out["estimate"], ref["estimate"], rtol=1e-6)
    _close(out["se"], ref["se"])
    _close(out["dispersion"], ref["dispersion"])
    assert out["n_pre"].iloc[0] == 6  # 2023Q1-2024Q2; the change is 1 July 2024
    assert out["n_post"].iloc[0] == len(total) - 6


def test_seasonal_segmented_regression_matches_quasipoisson(total):
    out = trends.segmented_regression(total, "measures", "interval_start", "2024-07-01", "person_years",
                                      seasonal=True)
    ref = _ref("segmented_seasonal")
    assert out["term"].tolist() == ref["term"].tolist()
    _close(out["estimate"], ref["estimate"], rtol=1e-6)
    _close(out["se"], ref["se"])
    _close(out["dispersion"], ref["dispersion"])


def test_segmented_regression_recovers_level_and_slope_change():
    periods = pd.date_range("2022-01-01", periods=24, freq="QS")
    d = trends.its_design(pd.Series(periods), "2025-01-01")
    mu = 5000 * np.exp(-3 + 0.02 * d["time"] - 0.3 * d["post"] + 0.05 * d["time_since_change"])
    df = pd.DataFrame({"start": periods, "n": np.random.default_rng(5).poisson(mu), "pop": 5000.0})
    out = trends.segmented_regression(df, "n", "start", "2025-01-01", "pop").set_index("term")
    assert out.loc["level_change", "ci_lower"] < -0.3 < out.loc["level_change", "ci_upper"]
    assert out.loc["slope_change", "ci_lower"] < 0.05 < out.loc["slope_change", "ci_upper"]


def test_segmented_regression_per_site(quarterly):
    before = quarterly["interval_start"] < "2024-07-01"
    counts = before.groupby(quarterly["site"]).agg(["sum", "size"])
    sites = counts.index[(counts["sum"] >= 2) & (counts["size"] - counts["sum"] >= 2)]
    d = quarterly[quarterly["site"].isin(sites)]
    out = trends.segmented_regression(d, "referrals", "interval_start", "2024-07-01",
                                      "person_years", by=["site"])
    assert out.groupby("site").size().eq(4).all()
    assert sorted(out["site"].unique()) == sorted(sites)


def test_segmented_needs_periods_on_both_sides(total):
    with pytest.raises(DefinitionError, match="before and after"):
        trends.segmented_regression(total, "measures", "interval_start", "2030-01-01", "person_years")


def test_offset_must_be_positive(total):
    with pytest.raises(DefinitionError, match="positive"):
        trends.poisson_trend(total.assign(person_years=0.0), "measures", "quarter", "person_years")


def test_its_design_first_post_quarter_is_zero():
    d = trends.its_design(pd.Series(pd.date_range("2024-01-01", periods=6, freq="QS")), "2024-05-15")
    # the first quarter starting on or after 15 May 2024 is July 2024
    assert d["post"].tolist() == [0, 0, 1, 1, 1, 1]
    assert d["time_since_change"].tolist() == [0, 0, 0, 1, 2, 3]


def test_with_quarter_number_on_a_measures_series():
    series = pd.DataFrame({"indicator": "registrations", "site": ["A", "A", "B"],
                           "interval_start": pd.to_datetime(["2023-04-01", "2023-07-01", "2023-10-01"]),
                           "numerator": [12, 15, 20]})
    out = trends.with_quarter_number(series, start=1)
    assert out["quarter"].tolist() == [1, 2, 3]
    assert "quarter" not in series.columns


def test_logistic_share_trend_matches_binomial_glm(quarterly):
    out = trends.logistic_trend(quarterly, "registrations_without_children", "registrations", "quarter",
                                categorical=["site"])
    ref = _ref("logistic")
    assert _r_names(out["term"]) == ref["term"].tolist()
    _close(out["estimate"], ref["estimate"], rtol=1e-6)
    # R's IRLS stops at a relative deviance change of 1e-8: its SEs carry ~1e-5 of that
    _close(out["se"], ref["se"], rtol=1e-4)


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
    q = trends.with_quarter_number(q)
    q["years"] = (q["quarter"] + 0.5) / 4
    out = trends.logistic_trend(q, "without", "registrations", "years").set_index("term")
    truth = MODEL["childless_logit_per_year"]
    assert out.loc["years", "ci_lower"] < truth < out.loc["years", "ci_upper"]
    assert out.loc["Intercept", "ci_lower"] < MODEL["childless_logit_intercept"] < out.loc["Intercept", "ci_upper"]
