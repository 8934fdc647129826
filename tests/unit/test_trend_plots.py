"""Trend and safety tables released by their roles, and the figures drawn from released tables."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from cohort.disclosure import tables as trend_plots  # noqa: E402
from cohort.disclosure.check import check_table
from cohort.disclosure.policy import DisclosurePolicy
from cohort.disclosure.release import release  # noqa: E402
from cohort.disclosure.writer import released_csv
from cohort.exceptions import DefinitionError, DisclosureError  # noqa: E402
from cohort.plots.trends import plot_site_trends, plot_trajectories  # noqa: E402
from cohort.roles import column_roles  # noqa: E402
from cohort.stats import safety  # noqa: E402
from cohort.stats.gee import GEE  # noqa: E402
from cohort.stats.intervals import rate_intervals  # noqa: E402
from cohort.stats.mixed import MixedModel, fitted_mean_trajectory  # noqa: E402

POLICY = DisclosurePolicy(threshold=10)
ROUNDED = DisclosurePolicy(threshold=10, rounding=5)


def _long(n_per_wave: dict, site="AMS", seed=0):
    """A prepared long table: ``n_per_wave`` households scored at each wave."""
    rng = np.random.default_rng(seed)
    rows = []
    for w, n in n_per_wave.items():
        k = int(w[1:])
        for i in range(n):
            rows.append({"household_id": f"{site}{i}", "episode_id": f"{site}{i}", "site": site,
                         "respondent": "professional", "wave": w, "wave_number": k,
                         "assessment_date": pd.Timestamp("2024-01-01") + pd.Timedelta(days=182 * k),
                         "months_since_registration": 6.0 * k, "years_since_registration": k / 2,
                         "score": float(np.clip(round(4 + k + rng.normal()), 0, 10))})
    return pd.DataFrame(rows)


def _passes_release_check(table):
    text = released_csv(table)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    # as the build checks it: with the column roles the gate records in the manifest
    return [str(f) for f in check_table(frame, "tables/x.csv", POLICY, manifest=column_roles(table))]


def test_wave_cell_below_threshold_is_suppressed():
    long = _long({"T0": 30, "T1": 12, "T2": 9})
    out = trend_plots.release_table(safety.trajectory_by_wave(long), POLICY, ["n_households", "n_scores"])
    by = out.set_index("wave")
    assert by.loc["T2", "suppressed"] and pd.isna(by.loc["T2", "mean"]) and pd.isna(by.loc["T2", "n_households"])
    assert not by.loc["T1", "suppressed"] and by.loc["T1", "n_households"] == 12
    assert _passes_release_check(out) == []
    assert "[suppressed]" in released_csv(out)


def test_site_tables_with_total_get_secondary_suppression():
    long = pd.concat([_long({"T0": 30}, "AMS"), _long({"T0": 4}, "UTR"), _long({"T0": 25}, "ZEE")])
    t = safety.trajectory_by_wave(long, by=["site"], total=True)
    out = trend_plots.release_table(t, POLICY, ["n_households", "n_scores"], group_columns=["site"],
                                    by=["wave"])
    # UTR is small; one more site must go, or UTR = all - AMS - ZEE
    assert out["suppressed"].sum() >= 2
    assert not out.set_index("site").loc["all", "suppressed"]
    assert _passes_release_check(out) == []


def test_share_parts_are_suppressed_together_and_recomputed_after_rounding():
    long = _long({"T0": 40, "T1": 23})
    share = safety.share_at_or_above(long, threshold=7)
    out = trend_plots.release_share_table(share, ROUNDED)
    for _, row in out.iterrows():
        if row["suppressed"]:
            assert pd.isna(row["n_at_or_above"]) and pd.isna(row["n_below"]) and pd.isna(row["proportion"])
        else:
            assert row["n_at_or_above"] % 5 == 0 and row["n_below"] % 5 == 0
            assert row["proportion"] == pytest.approx(row["n_at_or_above"] / row["n_households"])
    assert _passes_release_check(out) == []


def test_share_with_small_complement_is_suppressed():
    share = pd.DataFrame({"wave": ["T0"], "n_at_or_above": [38], "n_households": [40], "ci_method": "wilson"})
    out = trend_plots.release_share_table(share, POLICY)
    assert out["suppressed"].iloc[0] and pd.isna(out["n_at_or_above"].iloc[0])
    assert out["n_households"].iloc[0] == 40


def test_rate_table_releases_only_its_columns_and_recomputes_rates():
    q = pd.DataFrame({"site": ["A", "A", "B"], "interval_start": pd.to_datetime(["2024-01-01", "2024-04-01", "2024-01-01"]),
                      "events": [23, 4, 12], "person_years": [100.0, 110.0, 90.0], "other_count": [3, 3, 3]})
    rates = rate_intervals(q, "events", "person_years", per=100)
    out = trend_plots.release_rate_table(rates, "events", "person_years", ROUNDED, per=100,
                                         by=["site", "interval_start"])
    assert "other_count" not in out.columns
    first = out.iloc[0]
    assert first["events"] == 25 and first["rate"] == pytest.approx(25.0)
    assert out["suppressed"].tolist() == [False, True, False]
    assert _passes_release_check(out) == []


def test_model_table_suppressed_below_threshold():
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(8), 4)
    t = np.tile(np.arange(4.0), 8)
    df = pd.DataFrame({"g": g, "t": t, "y": 5 + 0.5 * t + rng.normal(size=32)})
    out = release(MixedModel().fit(df, "y", "t", "g"), POLICY)  # 8 households
    assert out["suppressed"].all() and out["estimate"].isna().all()
    assert "8 households" in out.attrs["disclosure"]["reason"]
    big = pd.DataFrame({"g": np.repeat(np.arange(120), 4), "t": np.tile(np.arange(4.0), 120)})
    big["y"] = 5 + 0.5 * big["t"] + rng.normal(size=len(big))
    ok = release(MixedModel().fit(big, "y", "t", "g"), POLICY)
    assert not ok["suppressed"].any() and ok["estimate"].notna().all()
    assert _passes_release_check(ok) == []


def test_a_site_term_resting_on_few_households_is_suppressed():
    rng = np.random.default_rng(4)
    sites = np.repeat(["AMS"] * 30 + ["UTR"] * 25 + ["ZEE"] * 6, 3)
    df = pd.DataFrame({"g": np.repeat(np.arange(61), 3), "t": np.tile([0.0, 0.5, 1.0], 61), "site": sites})
    df["y"] = 5 + df["t"] + rng.normal(size=len(df))
    out = release(MixedModel().fit(df, "y", "t", "g", categorical=["site"]), POLICY).set_index("term")
    assert bool(out.loc["site[T.ZEE]", "suppressed"]) and pd.isna(out.loc["site[T.ZEE]", "estimate"])
    assert not out.loc["site[T.UTR]", "suppressed"] and not out.loc["sd(residual)", "suppressed"]


def test_trajectory_bands_suppress_small_waves_and_never_hold_ids():
    long = _long({"T0": 30, "T1": 15, "T2": 5})
    bands = release(safety.trajectory_bands(long), POLICY)
    assert bands.set_index("wave").loc["T2", "suppressed"]
    assert bands.set_index("wave")[["p10", "p90"]].loc["T2"].isna().all()
    assert not set(bands.columns) & {"household_id", "episode_id"}
    assert _passes_release_check(bands) == []
    with pytest.raises(DefinitionError):
        safety.trajectory_bands(long, percentiles=(0, 50, 100))


def test_plots_refuse_unreleased_tables():
    long = _long({"T0": 30, "T1": 15})
    raw = safety.trajectory_by_wave(long).assign(months=[0.0, 6.0], p25=1.0, p75=2.0)
    with pytest.raises(DisclosureError):
        plot_trajectories(raw)
    with pytest.raises(DisclosureError):
        plot_site_trends(raw, "wave", "mean")


def test_trajectory_figure_draws_only_aggregates():
    long = pd.concat([_long({"T0": 40, "T1": 30, "T2": 20}, "AMS"), _long({"T0": 40, "T1": 30}, "UTR", seed=1)])
    m = MixedModel().fit(long, "score", "years_since_registration", "household_id")
    bands = release(safety.trajectory_bands(long), POLICY)
    fitted = release(fitted_mean_trajectory(m, np.linspace(0, 12, 13)), POLICY)
    fig = plot_trajectories(bands, fitted)
    lines = fig.axes[0].get_lines()
    # the median of the bands and the fitted mean: nothing per household
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_ydata(), bands["p50"].to_numpy(dtype=float))
    np.testing.assert_allclose(fitted["estimate"], m.params_["Intercept"] + m.params_.iloc[1] * fitted["months"] / 12)


def test_site_trend_figure_matches_released_values_with_gaps():
    q = pd.DataFrame({"site": ["A"] * 3, "quarter": [1, 2, 3], "events": [20, 3, 30],
                      "person_years": [100.0, 100.0, 100.0]})
    released = trend_plots.release_rate_table(rate_intervals(q, "events", "person_years"),
                                              "events", "person_years", POLICY, by=["site", "quarter"])
    fig = plot_site_trends(released, "quarter", "rate")
    y = fig.axes[0].get_lines()[0].get_ydata()
    assert y[0] == pytest.approx(0.2) and np.isnan(y[1]) and y[2] == pytest.approx(0.3)


def test_fitted_trajectory_profile_must_name_a_term():
    long = _long({"T0": 30, "T1": 30})
    m = MixedModel().fit(long, "score", "years_since_registration", "household_id")
    with pytest.raises(DefinitionError, match="not a model term"):
        fitted_mean_trajectory(m, [0.0, 6.0], profile={"nope": 1.0})


def test_every_safety_release_table_passes_the_release_check():
    from pathlib import Path

    fix = Path(__file__).resolve().parents[1] / "fixtures" / "trends" / "safety_long.csv"
    s = pd.read_csv(fix, parse_dates=["assessment_date"]).rename(columns={
        "household": "household_id", "episode": "episode_id", "years": "years_since_registration"})
    s["wave_number"] = s["wave"].str.slice(1).astype(int)
    s["household_id"] = "H" + s["household_id"].astype(str)
    s["episode_id"] = "E" + s["episode_id"].astype(str)
    professional = s[s["respondent"] == "professional"]
    model = MixedModel().fit(professional, "score", "years_since_registration", "household_id", categorical=["site"])
    results = {
        "safety_by_wave": safety.trajectory_by_wave(s, by=["site"], total=True),
        "safety_by_wave_respondent": safety.trajectory_by_wave(s, by=["respondent"], respondent=None),
        "safety_change_from_t0": safety.change_from_baseline(s, by=["site"], total=True),
        "safety_share_at_or_above": safety.share_at_or_above(s, by=["site"], total=True),
        "safety_agreement": safety.respondent_agreement(s),
        "safety_mixed_model": model,
        "safety_gee": GEE().fit(professional, "score", "years_since_registration", "household_id",
                                categorical=["site"]),
        "safety_trajectory_bands": safety.trajectory_bands(s),
        "safety_fitted_trajectory": fitted_mean_trajectory(model, range(0, 19)),
    }
    tables = {name: release(result, ROUNDED) for name, result in results.items()}
    for name, table in tables.items():
        assert table.attrs["disclosure"]["applied"], name
        frame = pd.read_csv(io.StringIO(released_csv(table)), dtype=str, keep_default_na=False)
        roles = column_roles(table)
        assert [str(f) for f in check_table(frame, f"tables/{name}.csv", ROUNDED, manifest=roles)] == [], name
    # small sites at T3 are suppressed, with a second site so the 'all' row does not reveal them
    t3 = tables["safety_by_wave"].query("wave == 'T3'")
    assert t3["suppressed"].sum() >= 2 and not t3.set_index("site").loc["all", "suppressed"]
