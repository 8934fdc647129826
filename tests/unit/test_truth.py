"""The generator's true time-to-safety distribution (``cohort.synth.truth``): checked
against a simulation of the generator's score model, and recovered from a scaled
delivery by the package's definitions and Turnbull's NPMLE."""

from __future__ import annotations

import numpy as np
import pytest

from cohort.definitions.safety_events import safety_intervals
from cohort.exceptions import ParameterError
from cohort.stats.turnbull import Turnbull
from cohort.synth import generate as synth
from cohort.synth.generate import _weekday_forward
from cohort.synth.truth import latent_time_to_safety, time_to_safety_truth

DAYS_PER_MONTH = 30.4375


def _simulated_waves(severity, n=400_000, seed=0):
    """Professional scores at the four planned waves, drawn as the generator draws them
    (registration on a weekday, T0 0-14 days later, later waves +-N(0, 10 days), moved
    off weekends), every wave assessed."""
    rng = np.random.default_rng(seed)
    mu = 4.6 - (1.3 if severity == "high" else 0.0)
    reg = rng.integers(0, 5000, 2 * n)
    reg = reg[(reg + 3) % 7 < 5][:n]
    b0 = rng.normal(0, 1.0, n)
    b1 = rng.normal(0, 0.04, n)
    safe = []
    for w, months in enumerate((0, 6, 12, 18)):
        jitter = rng.integers(0, 15, n) if w == 0 else np.rint(rng.normal(0, 10, n)).astype(int)
        day = _weekday_forward(reg + int(np.rint(months * DAYS_PER_MONTH)) + jitter)
        m = (day - reg) / DAYS_PER_MONTH
        y = mu + b0 + (0.12 + b1) * m + rng.normal(0, 0.9, n)
        safe.append(np.clip(np.rint(y), 0, 10) >= 7)
    return np.array(safe)


@pytest.mark.parametrize("severity", ["low", "high"])
def test_truth_matches_a_simulation_of_the_generators_score_model(severity):
    s = _simulated_waves(severity)
    direct = [s[: k + 1].any(axis=0).mean() for k in range(4)]
    pair = s[:-1] & s[1:]
    stable = [pair[: k + 1].any(axis=0).mean() for k in range(3)]
    np.testing.assert_allclose(time_to_safety_truth(7, severity, "direct")["probability"], direct,
                               atol=0.003)
    np.testing.assert_allclose(time_to_safety_truth(7, severity, "stable")["probability"], stable,
                               atol=0.003)


def test_noise_makes_the_first_safe_score_come_before_the_trajectory_is_safe():
    observed = time_to_safety_truth(7, "low")["probability"].to_numpy()
    latent = latent_time_to_safety([0, 6, 12, 18], 7, "low")["probability"].to_numpy()
    assert (observed > latent).all()
    assert (np.diff(observed) > 0).all() and (np.diff(latent) > 0).all()


def test_bad_arguments():
    with pytest.raises(ParameterError):
        time_to_safety_truth(11)
    with pytest.raises(ParameterError):
        time_to_safety_truth(7, "medium")
    with pytest.raises(ParameterError):
        time_to_safety_truth(7, "low", "sustained")


@pytest.fixture(scope="module")
def scaled():
    return synth.generate(seed=2026, households=20_000)


@pytest.fixture(scope="module")
def complete_schedule(scaled):
    """Episodes whose professional assessments follow the waves without a gap, from T0 to
    the last one (missed waves and dropout are independent of the scores, so this choice
    does not depend on safety; with a gap the first safe score also depends on how many
    chances a household had, see docs/methods-interval-censoring.md)."""
    sa = scaled.tables["safety_assessments"]
    prof = sa.loc[sa["respondent"] == "professional"]
    w = prof.assign(k=prof["wave"].str.slice(1).astype(int)).groupby("episode_id")["k"].agg(
        ["min", "max", "size"])
    return w.index[(w["min"] == 0) & (w["size"] == w["max"] + 1)]


@pytest.mark.slow
@pytest.mark.parametrize("outcome", ["direct", "stable"])
def test_turnbull_recovers_the_true_distribution_from_a_scaled_delivery(scaled, complete_schedule, outcome):
    iv = safety_intervals(scaled, "2026-09-30", outcome=outcome, time_scale="waves", keep_ids=True)
    iv = iv.loc[(iv["episode_number"] == 1) & iv["episode_id"].isin(complete_schedule)]
    fit = Turnbull().fit(iv, group_col="severity")
    for severity in ("high", "low"):
        truth = time_to_safety_truth(7, severity, outcome)
        at = fit.survival_at(truth["months"].to_numpy() * DAYS_PER_MONTH)
        at = at.loc[at["group"] == severity]
        share = 1 - at["survival"].to_numpy()
        lower, upper = 1 - at["ci_upper"].to_numpy(), 1 - at["ci_lower"].to_numpy()
        p = truth["probability"].to_numpy()
        assert ((lower <= p) & (p <= upper)).all(), (outcome, severity, share, p)
        assert (upper - lower < 0.1).all()  # informative intervals, not trivially wide
        assert at["determined"].all()


@pytest.mark.slow
def test_the_severity_difference_is_recovered(scaled, complete_schedule):
    iv = safety_intervals(scaled, "2026-09-30", time_scale="waves", keep_ids=True)
    iv = iv.loc[(iv["episode_number"] == 1) & iv["episode_id"].isin(complete_schedule)]
    at = Turnbull().fit(iv, group_col="severity").survival_at([12 * DAYS_PER_MONTH]).set_index("group")
    diff = at.loc["high", "survival"] - at.loc["low", "survival"]
    se = np.hypot(at.loc["high", "std_err"], at.loc["low", "std_err"])
    t12 = {s: time_to_safety_truth(7, s).set_index("wave").loc["T2", "probability"] for s in ("high", "low")}
    assert abs(diff - (t12["low"] - t12["high"])) < 1.96 * se
