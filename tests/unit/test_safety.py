"""cohort.safety: wave rule, descriptives, GEE and change from T0 against R, recovery.

Reference values: r/trends_reference.R (geepack::geeglm, t.test) on
tests/fixtures/trends/safety_long.csv; recovery against cohort.synth.generate.TRUE_EFFECTS on the
bundled synthetic delivery.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError, ParameterError
from cohort.stats import safety
from cohort.stats.intervals import proportion_intervals

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures" / "trends"
DELIVERY = ROOT / "data" / "synthetic" / "default"


@pytest.fixture(scope="module")
def fixture_long():
    s = pd.read_csv(FIX / "safety_long.csv", parse_dates=["assessment_date"])
    s = s.rename(columns={"household": "household_id", "episode": "episode_id",
                          "years": "years_since_registration"})
    s["wave_number"] = s["wave"].str.slice(1).astype(int)
    return s


def _tables(rows):
    """Tiny delivery tables: rows are (household, site, registration, assessment, resp, score, wave)."""
    hh = pd.DataFrame({"household_id": sorted({r[0] for r in rows}),
                       "site": [next(r[1] for r in rows if r[0] == h) for h in sorted({r[0] for r in rows})]})
    ep = pd.DataFrame({"episode_id": "E" + hh["household_id"], "household_id": hh["household_id"],
                       "registration_date": pd.to_datetime([next(r[2] for r in rows if r[0] == h)
                                                            for h in hh["household_id"]])})
    sa = pd.DataFrame({
        "assessment_id": [f"A{i}" for i in range(len(rows))],
        "household_id": [r[0] for r in rows], "episode_id": ["E" + r[0] for r in rows],
        "assessment_date": pd.to_datetime([r[3] for r in rows]), "respondent": [r[4] for r in rows],
        "score": pd.array([r[5] for r in rows], dtype="Float64"),
        "wave": pd.array([r[6] for r in rows], dtype="string")})
    return sa, ep, hh


# ------------------------------------------------------------------ preparation


def test_missing_wave_is_derived_from_months_since_registration():
    sa, ep, hh = _tables([
        ("h1", "AMS", "2024-01-01", "2024-01-10", "professional", 4.0, None),   # 0.3 months -> T0
        ("h1", "AMS", "2024-01-01", "2024-03-25", "professional", 5.0, None),   # 2.8 months -> T0
        ("h1", "AMS", "2024-01-01", "2024-04-15", "professional", 5.0, None),   # 3.5 months -> T1
        ("h1", "AMS", "2024-01-01", "2024-12-20", "professional", 6.0, None),   # 11.6 months -> T2
        ("h1", "AMS", "2024-01-01", "2026-01-01", "professional", 7.0, None),   # 24 months -> T3 (cap)
        ("h2", "UTR", "2024-01-01", "2024-12-20", "professional", 6.0, "T1"),   # recorded wins
    ])
    long = safety.prepare_safety(sa, ep, hh)
    got = dict(zip(long["assessment_date"].dt.strftime("%Y-%m-%d") + long["household_id"],
                   long["wave"], strict=True))
    assert got == {"2024-01-10h1": "T0", "2024-03-25h1": "T0", "2024-04-15h1": "T1",
                   "2024-12-20h1": "T2", "2026-01-01h1": "T3", "2024-12-20h2": "T1"}
    assert long.loc[long["household_id"] == "h2", "wave_source"].tolist() == ["recorded"]
    assert (long.loc[long["household_id"] == "h1", "wave_source"] == "derived").all()


def test_assessments_before_registration_are_left_out_and_counted():
    sa, ep, hh = _tables([("h1", "AMS", "2024-03-01", "2024-02-01", "professional", 4.0, "T0"),
                          ("h1", "AMS", "2024-03-01", "2024-03-05", "professional", 5.0, "T0")])
    long = safety.prepare_safety(sa, ep, hh)
    assert len(long) == 1 and long.attrs["n_before_registration"] == 1


def test_prepare_does_not_mutate_and_needs_the_episode():
    sa, ep, hh = _tables([("h1", "AMS", "2024-03-01", "2024-03-05", "professional", 5.0, "T0")])
    before = sa.copy()
    safety.prepare_safety(sa, ep, hh)
    pd.testing.assert_frame_equal(sa, before)
    with pytest.raises(DefinitionError, match="not found in episodes"):
        safety.prepare_safety(sa.assign(episode_id="nope"), ep, hh)
    with pytest.raises(DefinitionError, match="lacks column"):
        safety.prepare_safety(sa.drop(columns="score"), ep, hh)


def test_derive_wave_parameters():
    assert safety.derive_wave(pd.Series([0.0, 4.0, 8.0]), wave_months=4, n_waves=2).tolist() == ["T0", "T1", "T1"]
    with pytest.raises(ParameterError):
        safety.derive_wave(pd.Series([1.0]), wave_months=0)


# ------------------------------------------------------------------ descriptives


def test_trajectory_keeps_the_latest_score_per_wave():
    sa, ep, hh = _tables([
        ("h1", "AMS", "2024-01-01", "2024-01-05", "professional", 3.0, "T0"),
        ("h1", "AMS", "2024-01-01", "2024-01-20", "professional", 5.0, "T0"),  # latest T0
        ("h2", "AMS", "2024-01-01", "2024-01-05", "professional", 6.0, "T0"),
        ("h2", "AMS", "2024-01-01", "2024-01-05", "parent", 9.0, "T0"),        # other respondent
    ])
    out = safety.trajectory_by_wave(safety.prepare_safety(sa, ep, hh))
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
    sa, ep, hh = _tables([
        ("h1", "AMS", "2024-01-01", "2024-01-05", "professional", 3.0, "T0"),
        ("h1", "AMS", "2024-01-01", "2024-05-01", "professional", 5.0, "T1"),
        ("h2", "AMS", "2024-01-01", "2024-02-01", "professional", 7.0, "T0"),
    ])
    out = safety.trajectory_by_months(safety.prepare_safety(sa, ep, hh), bin_months=3)
    assert out[["months_from", "months_to", "n_households", "mean"]].to_dict("records") == [
        {"months_from": 0.0, "months_to": 3.0, "n_households": 2, "mean": 5.0},
        {"months_from": 3.0, "months_to": 6.0, "n_households": 1, "mean": 5.0}]


def test_share_at_or_above_threshold_counts_the_threshold_itself():
    sa, ep, hh = _tables([(h, "AMS", "2024-01-01", "2024-01-05", "professional", s, "T0")
                          for h, s in zip("abcde", [6.9, 7.0, 7.1, 10.0, 0.0], strict=True)])
    out = safety.share_at_or_above(safety.prepare_safety(sa, ep, hh), threshold=7)
    assert out[["n_at_or_above", "n_households"]].iloc[0].tolist() == [3, 5]
    ref = proportion_intervals(pd.DataFrame({"x": [3], "n": [5]}), "x", "n")
    np.testing.assert_allclose(out[["ci_lower", "ci_upper"]].iloc[0], ref[["ci_lower", "ci_upper"]].iloc[0])
    with pytest.raises(ParameterError):
        safety.share_at_or_above(safety.prepare_safety(sa, ep, hh), threshold=11)


# ------------------------------------------------------------------ models against R


def test_gee_matches_geeglm(fixture_long):
    out = safety.fit_gee(fixture_long, categorical=["severity", "site"])
    ref = pd.read_csv(FIX / "r" / "geeglm.csv")
    names = ["(Intercept)" if t == "Intercept" else t.replace("[T.", "").replace("]", "")
             for t in out["term"]]
    assert names == [t.replace("years", "years_since_registration") for t in ref["term"]]
    np.testing.assert_allclose(out["estimate"], ref["estimate"], rtol=1e-4, atol=1e-5 * ref["se"].min())
    np.testing.assert_allclose(out["se"], ref["se"], rtol=1e-4)
    params = pd.read_csv(FIX / "r" / "geeglm_params.csv").set_index("quantity")["value"]
    np.testing.assert_allclose(out.attrs["working_correlation"], params["alpha"], rtol=1e-4)
    np.testing.assert_allclose(out.attrs["scale"], params["scale"], rtol=1e-4)


def test_mixed_model_wrapper_and_table(fixture_long):
    m = safety.fit_mixed_model(fixture_long, categorical=["severity", "site"])
    ref = pd.read_csv(FIX / "r" / "lmer_fixed.csv")
    np.testing.assert_allclose(m.params_.to_numpy(), ref["estimate"], rtol=1e-4, atol=1e-4 * ref["se"].min())
    tab = safety.mixed_model_table(m)
    assert list(tab.columns) == ["term", "estimate", "se", "ci_lower", "ci_upper", "p"]
    assert tab["term"].iloc[-4:].str.startswith(("sd(", "corr(")).all()
    assert tab.attrs["n_households"] == m.n_groups_


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
    sa, ep, hh = _tables([
        ("a", "AMS", "2024-01-01", "2024-01-05", "professional", 3.0, "T0"),
        ("a", "AMS", "2024-01-01", "2024-07-05", "professional", 6.0, "T1"),
        ("b", "AMS", "2024-01-01", "2024-07-05", "professional", 9.0, "T1"),  # no T0: left out
        ("c", "AMS", "2024-01-01", "2024-01-05", "professional", 5.0, "T0"),
        ("c", "AMS", "2024-01-01", "2024-07-05", "professional", 6.0, "T1"),
    ])
    out = safety.change_from_baseline(safety.prepare_safety(sa, ep, hh))
    assert out[["wave", "n_households", "mean_change"]].to_dict("records") == [
        {"wave": "T1", "n_households": 2, "mean_change": 2.0}]


# ------------------------------------------------------------------ agreement


def _pairs(a_scores, b_scores):
    rows = []
    for i, (x, y) in enumerate(zip(a_scores, b_scores, strict=True)):
        rows += [(f"h{i}", "AMS", "2024-01-01", "2024-01-05", "professional", x, "T0"),
                 (f"h{i}", "AMS", "2024-01-01", "2024-01-05", "parent", y, "T0")]
    return safety.prepare_safety(*_tables(rows))


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


# ------------------------------------------------------------------ recovery


@pytest.mark.skipif(not (DELIVERY / "safety_assessments.csv").exists(), reason="bundled delivery missing")
def test_true_safety_effects_are_recovered_on_the_bundled_delivery():
    from cohort.delivery.load import load
    from cohort.synth.generate import TRUE_EFFECTS

    truth = TRUE_EFFECTS["safety"]
    d = load(DELIVERY, cache_dir=False)
    long = safety.prepare_safety(d.safety_assessments, d.episodes, d.households, covariates=["severity"])
    long = long[long["respondent"].isin(["professional", "parent"])]
    # 99% intervals: four effects are checked at once; scores are rounded and clipped.
    m = safety.fit_mixed_model(long, respondent=None, time_col="months_since_registration",
                               categorical=["severity", "respondent"], alpha=0.01,
                               levels={"severity": ["low", "high"], "respondent": ["professional", "parent"]})
    tab = m.summary.set_index("term")
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
    gee = safety.fit_gee(long, respondent=None, time_col="months_since_registration",
                         categorical=["severity", "respondent"], alpha=0.01,
                         levels={"severity": ["low", "high"], "respondent": ["professional", "parent"]})
    g = gee.set_index("term")
    assert g.loc["months_since_registration", "ci_lower"] < truth["slope_per_month"] < g.loc[
        "months_since_registration", "ci_upper"]
    assert g.loc["severity[T.high]", "ci_lower"] < truth["severity_high"] < g.loc["severity[T.high]", "ci_upper"]


def test_agreement_matches_t_test_and_cor_test(fixture_long):
    out = safety.respondent_agreement(fixture_long)
    ref = pd.read_csv(FIX / "r" / "agreement.csv")
    assert out["wave"].tolist() == ref["wave"].tolist()
    assert out["n_pairs"].tolist() == ref["n_pairs"].tolist()
    for col in ["mean_difference", "md_ci_lower", "md_ci_upper", "sd_difference", "pearson_r",
                "r_ci_lower", "r_ci_upper"]:
        np.testing.assert_allclose(out[col], ref[col], rtol=1e-10, err_msg=col)


def test_models_use_the_time_column_asked_for(fixture_long):
    d = fixture_long.rename(columns={"years_since_registration": "t"})
    gee = safety.fit_gee(d, time_col="t", categorical=())
    mm = safety.fit_mixed_model(d, time_col="t", categorical=())
    assert gee["term"].tolist() == ["Intercept", "t"] == list(mm.params_.index)
    with pytest.raises(DefinitionError, match="lacks column"):
        safety.fit_gee(d, time_col="years_since_registration")


def test_vectorised_gee_equals_statsmodels_gee(fixture_long):
    import statsmodels.api as sm

    from cohort.stats.mixed import design_matrix

    d = fixture_long[(fixture_long["respondent"] == "professional") & (fixture_long["household_id"] <= 800)]
    X, _, _ = design_matrix(d, "years_since_registration", [], ["severity"])
    codes = d["household_id"].to_numpy()
    ours = safety.gee_exchangeable(d["score"].to_numpy(float), X, codes)
    order = np.argsort(codes, kind="stable")
    model = sm.GEE(d["score"].to_numpy(float)[order], X[order], groups=codes[order],
                   family=sm.families.Gaussian(), cov_struct=sm.cov_struct.Exchangeable())
    res = model.fit(maxiter=200, ctol=1e-12, ddof_scale=0)
    np.testing.assert_allclose(ours["params"], res.params, rtol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(ours["cov"])), res.bse, rtol=1e-6)
    np.testing.assert_allclose(ours["rho"], model.cov_struct.dep_params, rtol=1e-6)
