"""cohort.stats.safety: descriptive safety tables against R (t.test, cor.test) and by hand.

Reference values: r/trends_reference.R on tests/fixtures/trends/safety_long.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import TRENDS as FIX
from safety_tables import long_table, safety_delivery

from cohort.definitions.waves import prepare_safety
from cohort.exceptions import ParameterError
from cohort.stats import safety
from cohort.stats.intervals import proportion_intervals


def test_trajectory_keeps_the_latest_score_per_wave():
    sa, ep, hh = safety_delivery([
        ("h1", "AMS", "2024-01-01", "2024-01-05", "professional", 3.0, "T0"),
        ("h1", "AMS", "2024-01-01", "2024-01-20", "professional", 5.0, "T0"),  # latest T0
        ("h2", "AMS", "2024-01-01", "2024-01-05", "professional", 6.0, "T0"),
        ("h2", "AMS", "2024-01-01", "2024-01-05", "parent", 9.0, "T0"),        # other respondent
    ])
    out = safety.trajectory_by_wave(prepare_safety(sa, ep, hh))
    assert out[["wave", "n_households", "mean"]].to_dict("records") == [
        {"wave": "T0", "n_households": 2, "mean": 5.5}]


def test_trajectory_interval_is_the_t_interval(fixture_long):
    out = safety.trajectory_by_wave(fixture_long).set_index("wave")
    t1 = fixture_long[(fixture_long["respondent"] == "professional") & (fixture_long["wave"] == "T1")]
    t1 = t1.sort_values("assessment_date").drop_duplicates(["household_id", "episode_id"], keep="last")
    from scipy import stats
    lo, hi = stats.t.interval(0.95, len(t1) - 1, loc=t1["score"].mean(), scale=stats.sem(t1["score"]))
    np.testing.assert_allclose([out.loc["T1", "ci_lower"], out.loc["T1", "ci_upper"]], [lo, hi])


def test_trajectory_by_months_bins():
    sa, ep, hh = safety_delivery([
        ("h1", "AMS", "2024-01-01", "2024-01-05", "professional", 3.0, "T0"),
        ("h1", "AMS", "2024-01-01", "2024-05-01", "professional", 5.0, "T1"),
        ("h2", "AMS", "2024-01-01", "2024-02-01", "professional", 7.0, "T0"),
    ])
    out = safety.trajectory_by_months(prepare_safety(sa, ep, hh), bin_months=3)
    assert out[["months_from", "months_to", "n_households", "mean"]].to_dict("records") == [
        {"months_from": 0.0, "months_to": 3.0, "n_households": 2, "mean": 5.0},
        {"months_from": 3.0, "months_to": 6.0, "n_households": 1, "mean": 5.0}]


def test_share_at_or_above_threshold_counts_the_threshold_itself():
    sa, ep, hh = safety_delivery([(h, "AMS", "2024-01-01", "2024-01-05", "professional", s, "T0")
                          for h, s in zip("abcde", [6.9, 7.0, 7.1, 10.0, 0.0], strict=True)])
    out = safety.share_at_or_above(prepare_safety(sa, ep, hh), threshold=7)
    assert out[["n_at_or_above", "n_households"]].iloc[0].tolist() == [3, 5]
    ref = proportion_intervals(pd.DataFrame({"x": [3], "n": [5]}), "x", "n")
    np.testing.assert_allclose(out[["ci_lower", "ci_upper"]].iloc[0], ref[["ci_lower", "ci_upper"]].iloc[0])
    with pytest.raises(ParameterError):
        safety.share_at_or_above(prepare_safety(sa, ep, hh), threshold=11)


def test_change_from_t0_matches_paired_t_test(fixture_long):
    out = safety.change_from_baseline(fixture_long)
    ref = pd.read_csv(FIX / "r" / "change_from_baseline.csv")
    assert out["wave"].tolist() == ref["wave"].tolist()
    assert out["n_pairs"].tolist() == ref["n_pairs"].tolist()
    for col in ["mean_change", "ci_lower", "ci_upper"]:
        np.testing.assert_allclose(out[col], ref[col], rtol=1e-10)
    np.testing.assert_allclose(out["p"], ref["p"], rtol=1e-6)
    assert (out["analysis"] == "complete-case").all()


def test_change_from_t0_is_complete_case():
    sa, ep, hh = safety_delivery([
        ("a", "AMS", "2024-01-01", "2024-01-05", "professional", 3.0, "T0"),
        ("a", "AMS", "2024-01-01", "2024-07-05", "professional", 6.0, "T1"),
        ("b", "AMS", "2024-01-01", "2024-07-05", "professional", 9.0, "T1"),  # no T0: left out
        ("c", "AMS", "2024-01-01", "2024-01-05", "professional", 5.0, "T0"),
        ("c", "AMS", "2024-01-01", "2024-07-05", "professional", 6.0, "T1"),
    ])
    out = safety.change_from_baseline(prepare_safety(sa, ep, hh))
    assert out[["wave", "n_households", "mean_change"]].to_dict("records") == [
        {"wave": "T1", "n_households": 2, "mean_change": 2.0}]


# ------------------------------------------------------------------ agreement


def _pairs(a_scores, b_scores):
    rows = []
    for i, (x, y) in enumerate(zip(a_scores, b_scores, strict=True)):
        rows += [(f"h{i}", "AMS", "2024-01-01", "2024-01-05", "professional", x, "T0"),
                 (f"h{i}", "AMS", "2024-01-01", "2024-01-05", "parent", y, "T0")]
    return long_table(rows)


def test_agreement_identical_scores():
    x = [2.0, 4.0, 5.0, 7.0, 8.0, 3.0]
    out = safety.respondent_agreement(_pairs(x, x)).iloc[0]
    assert out["mean_difference"] == 0 and out["sd_difference"] == 0
    np.testing.assert_allclose([out["pearson_r"], out["icc_a1"]], [1.0, 1.0])


def test_agreement_systematic_shift_lowers_icc_not_correlation():
    x = np.array([2.0, 4.0, 5.0, 7.0, 8.0, 3.0])
    out = safety.respondent_agreement(_pairs(x, x - 1.0)).iloc[0]
    np.testing.assert_allclose(out["mean_difference"], 1.0)
    np.testing.assert_allclose(out["pearson_r"], 1.0)
    assert out["icc_a1"] < 1.0
    # ICC(A,1) by its definition: var(rows) / (var(rows) + var(raters) + error)
    n = len(x)
    m = np.column_stack([x, x - 1])
    msr = 2 * np.var(m.mean(axis=1), ddof=1)
    msc = n * np.sum((m.mean(axis=0) - m.mean()) ** 2)
    np.testing.assert_allclose(out["icc_a1"], msr / (msr + 2 * msc / n), rtol=1e-12)


def test_agreement_limits(fixture_long):
    out = safety.respondent_agreement(fixture_long)
    np.testing.assert_allclose(out["loa_upper"] - out["mean_difference"], 1.96 * out["sd_difference"])
    assert (out["n_pairs"] > 0).all() and list(out["wave"]) == sorted(out["wave"])


def test_agreement_matches_t_test_and_cor_test(fixture_long):
    out = safety.respondent_agreement(fixture_long)
    ref = pd.read_csv(FIX / "r" / "agreement.csv")
    assert out["wave"].tolist() == ref["wave"].tolist()
    assert out["n_pairs"].tolist() == ref["n_pairs"].tolist()
    for col in ["mean_difference", "md_ci_lower", "md_ci_upper", "sd_difference", "pearson_r",
                "r_ci_lower", "r_ci_upper"]:
        np.testing.assert_allclose(out[col], ref[col], rtol=1e-10, err_msg=col)
