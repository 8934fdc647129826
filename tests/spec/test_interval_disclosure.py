"""Spec: disclosure control of the time-to-safety analyses at the threshold (10).

Tiny analysis tables (``left, right`` in days) with 9, 10 or 11 households behind the
cell that is at stake; the expected result is what is released.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.disclosure.interval_curves import (
    release_interval_model_table,
    release_share_safe,
    release_turnbull_table,
)
from cohort.disclosure.policy import NO_DISCLOSURE_CONTROL, DisclosurePolicy
from cohort.exceptions import ParameterError
from cohort.stats.interval_regression import IntervalRegression
from cohort.stats.turnbull import Turnbull

POLICY = DisclosurePolicy(threshold=10)


def table(safe, followed=30, followed_from=400.0):
    """``safe`` households became safe in (0, 10]; ``followed`` are still not safe at day
    ``followed_from``."""
    return pd.DataFrame({
        "left": np.r_[np.zeros(safe), np.full(followed, followed_from)],
        "right": np.r_[np.full(safe, 10.0), np.full(followed, np.inf)],
    })


@pytest.mark.parametrize(("safe", "steps"), [(9, []), (10, [(5.0, 10)]), (11, [(5.0, 11)])])
def test_a_step_is_shown_only_when_it_rests_on_ten_households(safe, steps):
    out = release_turnbull_table(Turnbull().fit(table(safe)), POLICY)
    assert out.iloc[0][["time", "survival"]].tolist() == [0.0, 1.0]
    assert [(r.time, r.n_event) for r in out.iloc[1:].itertuples()] == steps
    assert out.attrs["disclosure"]["suppressed_cells"] == (1 if safe == 9 else 0)


def test_small_steps_are_pooled_until_they_rest_on_ten():
    # four groups of 5 households, safe in (0,10], (10,20], (20,30], (30,40]
    df = pd.DataFrame({"left": np.r_[np.repeat([0.0, 10, 20, 30], 5), np.full(20, 400.0)],
                       "right": np.r_[np.repeat([10.0, 20, 30, 40], 5), np.full(20, np.inf)]})
    out = release_turnbull_table(Turnbull().fit(df), POLICY)
    fit = Turnbull().fit(df)
    assert out["time"].tolist() == [0.0, 15.0, 35.0]
    assert out["n_event"].tolist() == [0, 10, 10]
    # the survival shown is the estimate at the released step itself
    at = fit.survival_at([15.0, 35.0])["survival"].tolist()
    assert out["survival"].tolist()[1:] == pytest.approx(at)


@pytest.mark.parametrize(("total", "shown"), [(9, False), (10, True), (11, True)])
def test_a_curve_starts_only_with_ten_households(total, shown):
    out = release_turnbull_table(Turnbull().fit(table(total, followed=0)), POLICY)
    assert (len(out) > 0) == shown


@pytest.mark.parametrize(("safe", "suppressed"), [(9, True), (10, False), (11, False)])
def test_share_safe_at_six_months_needs_ten_safe_households(safe, suppressed):
    out = release_share_safe(Turnbull().fit(table(safe)), POLICY)
    row = out.loc[out["months"] == 6].iloc[0]
    assert bool(row["suppressed"]) == suppressed
    if suppressed:
        assert pd.isna(row["share_safe"]) and pd.isna(row["n_safe"])
    else:
        assert row["share_safe"] == pytest.approx(safe / (safe + 30))
        assert row["n_safe"] == safe and row["n_risk"] == 30


@pytest.mark.parametrize(("followed", "suppressed"), [(9, True), (10, False), (11, False)])
def test_share_safe_needs_ten_households_still_followed(followed, suppressed):
    out = release_share_safe(Turnbull().fit(table(20, followed=followed)), POLICY)
    assert bool(out.loc[out["months"] == 6, "suppressed"].iloc[0]) == suppressed


def _model_data(k):
    """``k`` households with x = 1 (all safe at some point), 40 with x = 0."""
    rng = np.random.default_rng(7)
    n0 = 40
    left0 = rng.integers(10, 200, n0).astype(float)
    right0 = np.where(np.arange(n0) % 3 == 0, np.inf, left0 + 180)
    left1 = rng.integers(10, 100, k).astype(float)
    return pd.DataFrame({"left": np.r_[left0, left1], "right": np.r_[right0, left1 + 180],
                         "x": np.r_[np.zeros(n0), np.ones(k)]})


@pytest.mark.parametrize(("k", "suppressed"), [(9, True), (10, False), (11, False)])
def test_a_coefficient_resting_on_fewer_than_ten_households_is_suppressed(k, suppressed):
    fit = IntervalRegression("weibull").fit(_model_data(k), covariates=["x"])
    out = release_interval_model_table(fit, POLICY).set_index("term")
    assert bool(out.loc["x", "suppressed"]) == suppressed
    assert pd.isna(out.loc["x", "estimate"]) == suppressed
    assert not out.loc["(Intercept)", "suppressed"]


@pytest.mark.parametrize(("events", "refused"), [(9, True), (10, False)])
def test_a_model_resting_on_fewer_than_ten_events_is_not_released(events, refused):
    df = pd.DataFrame({"left": np.r_[np.arange(1.0, events + 1), np.full(30, 50.0)],
                       "right": np.r_[np.arange(1.0, events + 1) + 20, np.full(30, np.inf)],
                       "x": np.r_[np.arange(events) % 2, np.arange(30) % 2]})
    fit = IntervalRegression("lognormal").fit(df, covariates=["x"])
    out = release_interval_model_table(fit, POLICY)
    assert len(out) == 3
    if refused:  # released with every estimate suppressed, and why: "not estimable here"
        assert out["suppressed"].all() and out["estimate"].isna().all()
        assert out.attrs["disclosure"]["reason_key"] == "too_few_events"
    else:
        assert not out["suppressed"].all() and "reason_key" not in out.attrs["disclosure"]


def test_switched_off_is_explicit_and_recorded():
    out = release_turnbull_table(Turnbull().fit(table(3, followed=2)), NO_DISCLOSURE_CONTROL)
    assert len(out) == 2 and out.attrs["disclosure"]["applied"] is False
    with pytest.raises(ParameterError):
        release_turnbull_table(Turnbull().fit(table(10)), None)


def test_counts_are_rounded_as_the_policy_says():
    out = release_turnbull_table(Turnbull().fit(table(11)), DisclosurePolicy(threshold=10, rounding=5))
    # 41 open households at the step (11 + 30) and 11 events, to multiples of 5
    assert out["n_risk"].tolist() == [40, 40] and out["n_event"].tolist() == [0, 10]


def test_shares_of_both_outcomes_in_one_release():
    fits = {"direct": Turnbull().fit(table(12)), "stable": Turnbull().fit(table(9))}
    out = release_share_safe(fits, POLICY)
    six = out.loc[out["months"] == 6].set_index("outcome")
    assert not six.loc["direct", "suppressed"] and six.loc["stable", "suppressed"]
    assert out.attrs["disclosure"]["suppressed_cells"] == int(out["suppressed"].sum())


def two_horizons(later):
    """20 households safe in (0, 150] days, ``later`` more in (200, 350] (between 6 and 12
    months), 30 still followed and not safe at day 800."""
    return pd.DataFrame({
        "left": np.r_[np.zeros(20), np.full(later, 200.0), np.full(30, 800.0)],
        "right": np.r_[np.full(20, 150.0), np.full(later, 350.0), np.full(30, np.inf)],
    })


@pytest.mark.parametrize(("later", "suppressed"), [(9, True), (10, False), (11, False)])
def test_a_horizon_is_not_shown_when_it_differs_from_the_previous_by_fewer_than_ten(later, suppressed):
    # 6 months: 20 seen safe; 12 months: 20 + later. Shown together, the two rows would give
    # the households that became safe between them by subtraction.
    out = release_share_safe(Turnbull().fit(two_horizons(later)), POLICY).set_index("months")
    assert not out.loc[6.0, "suppressed"] and out.loc[6.0, "n_safe"] == 20
    assert bool(out.loc[12.0, "suppressed"]) == suppressed
    if not suppressed:
        assert out.loc[12.0, "n_safe"] - out.loc[6.0, "n_safe"] == later


def test_shown_rows_of_a_curve_never_differ_by_a_small_count():
    rng = np.random.default_rng(3)
    n = 300
    right = rng.choice([0.0, 182.625, 365.25, 547.875, 730.5, np.inf], n, p=[0.1, 0.2, 0.05, 0.02, 0.01, 0.62])
    left = np.where(np.isinf(right), rng.choice([365.25, 547.875, 730.5, 900.0], n),
                    np.maximum(right - 182.625, 0.0))
    out = release_share_safe(Turnbull().fit(pd.DataFrame({"left": left, "right": right})), POLICY)
    shown = out.loc[~out["suppressed"].astype(bool), "n_safe"].astype(float).to_numpy()
    assert len(shown) >= 1
    assert (np.diff(shown) >= 10).all()
