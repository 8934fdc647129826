"""cohort.plots.survival: curves drawn from released tables only, numbers at risk released too."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cohort.disclosure.curves import (
    cif_figure_data,
    km_figure_data,
    numbers_at_risk_table,
    release_km_table,
)
from cohort.disclosure.policy import DisclosurePolicy
from cohort.exceptions import DisclosureError
from cohort.plots.survival import plot_cif, plot_km
from cohort.stats.aalen_johansen import AalenJohansen
from cohort.stats.kaplan_meier import KaplanMeier

POLICY_10 = DisclosurePolicy(threshold=10)


@pytest.fixture
def data():
    rng = np.random.default_rng(5)
    n = 300
    t = np.ceil(rng.exponential(300, n))
    c = rng.uniform(30, 900, n)
    status = np.where(t <= c, rng.choice([1, 2], n, p=[0.8, 0.2]), 0)
    return pd.DataFrame(
        {
            "time": np.minimum(t, np.ceil(c)),
            "status": status,
            "event": (status == 1).astype(int),
            "g": np.where(np.arange(n) < 280, "large", "small"),
        }
    )


def test_plot_km_draws_only_released_steps_and_numbers(data):
    policy = DisclosurePolicy(threshold=10, rounding=5)
    km = KaplanMeier().fit(data, "time", "event", group_col="g")
    tables = km_figure_data(km, policy, risk_times=[0, 100, 300, 600])
    fig = plot_km(tables[""], tables["_at_risk"], title="t")
    ax, ax_risk = fig.axes
    released = release_km_table(km, policy)
    lines = ax.get_lines()
    assert len(lines) == released["group"].nunique()
    for line, (_, part) in zip(lines, released.groupby("group", sort=False), strict=True):
        np.testing.assert_allclose(line.get_ydata(), part["survival"].to_numpy(dtype=float))
    texts = [t.get_text() for t in ax_risk.texts]
    drawn = sorted(int(t) for t in texts if t.isdigit())
    released_numbers = sorted(int(v) for v in tables["_at_risk"]["n_risk"].dropna())
    assert drawn == released_numbers  # the figure shows the figure data, nothing else
    assert all(v % 5 == 0 for v in drawn)
    assert "-" in texts  # the small group falls below the threshold: not shown
    plt.close(fig)


def test_plots_refuse_unreleased_tables(data):
    km = KaplanMeier().fit(data, "time", "event")
    tables = km_figure_data(km, DisclosurePolicy(), risk_times=[0, 100])
    with pytest.raises(DisclosureError, match="released tables only"):
        plot_km(km.table_, tables["_at_risk"])
    numbers_not_released = pd.DataFrame({"time": [0.0, 100.0], "n_risk": [30, 3]})
    with pytest.raises(DisclosureError, match="released tables only"):
        plot_km(tables[""], numbers_not_released)


def test_plot_cif_and_existing_axes(data):
    aj = AalenJohansen().fit(data, "time", "status")
    fig, ax = plt.subplots()
    tables = cif_figure_data(aj, DisclosurePolicy(), risk_times=[0, 300, 600], cause=1)
    out = plot_cif(tables[""], tables["_at_risk"], ax=ax)
    assert out is fig
    assert ax.get_lines()
    plt.close(fig)


def test_numbers_at_risk_are_released_like_any_count(data):
    km = KaplanMeier().fit(data, "time", "event", group_col="g")
    risk = numbers_at_risk_table(km.table_, [0, 100, 2000], DisclosurePolicy(threshold=10), "group")
    risk = risk.set_index(["group", "time"])["n_risk"]
    assert risk[("small", 0.0)] == 20 and risk[("large", 0.0)] == 280
    assert pd.isna(risk[("small", 2000.0)])  # fewer than 10 (here none) at risk: suppressed
    assert risk.isna().sum() >= 1


def test_plot_mcf_from_released_table():
    from cohort.disclosure.curves import release_mcf_table
    from cohort.plots.survival import plot_mcf
    from cohort.stats.mcf import mean_cumulative_function

    rng = np.random.default_rng(3)
    n = 200
    gaps = np.ceil(rng.exponential(100, (n, 3))).astype(int)
    stops = np.cumsum(gaps, axis=1)
    follow = rng.integers(50, 400, n)
    starts = np.c_[np.zeros(n, int), stops[:, :-1]]
    keep = starts < follow[:, None]
    rows = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), 3),
            "start": starts.ravel(),
            "stop": np.minimum(stops, follow[:, None]).ravel(),
            "event": (stops <= follow[:, None]).astype(int).ravel(),
        }
    )[keep.ravel()]
    mcf = mean_cumulative_function(rows, "start", "stop", "event", "id")
    policy = DisclosurePolicy(threshold=10, rounding=5)
    rel = release_mcf_table(mcf, policy)
    steps = rel[rel["time"] > 0]
    assert (steps["n_event"] >= 10).all() and (rel["n_risk"] % 5 == 0).all()
    np.testing.assert_allclose(steps["mcf"], mcf.set_index("time").loc[steps["time"], "mcf"])
    at_risk = numbers_at_risk_table(mcf, [0, 100, 200], policy)
    fig = plot_mcf(rel, at_risk)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), rel["mcf"].to_numpy(dtype=float))
    plt.close(fig)


def _waves():
    """Wave-scale intervals: 60 households safe at T0, 80 by T1, 50 by T2, 210 not yet."""
    half = 182.625
    left = np.r_[np.full(60, np.nan), np.zeros(80), np.full(50, half), np.full(210, 2 * half)]
    right = np.r_[np.zeros(60), np.full(80, half), np.full(50, 2 * half), np.full(210, np.inf)]
    return pd.DataFrame({"left": left, "right": right,
                         "outcome": np.where(np.arange(400) % 2 == 0, "direct", "stable")})


def test_plot_turnbull_draws_the_released_share_at_each_wave():
    from cohort.disclosure.interval_curves import turnbull_figure_data
    from cohort.disclosure.release import figure_data
    from cohort.plots.style import figure_facts
    from cohort.plots.survival import plot_turnbull
    from cohort.stats.turnbull import Turnbull

    fit = Turnbull().fit(_waves(), group_col="outcome")
    tables = figure_data(fit, POLICY_10)
    assert list(tables) == [""]
    curve = tables[""]
    assert curve.equals(turnbull_figure_data(fit, POLICY_10)[""])
    fig = plot_turnbull(curve, labels={"direct": "directly safe", "stable": "stably safe"})
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(lines) == 2
    for line, (_, tab) in zip(lines, curve.groupby("group", sort=False), strict=True):
        last = tab.drop_duplicates("time_upper", keep="last")
        np.testing.assert_allclose(line.get_xdata(), last["time_upper"].to_numpy(float) / 30.4375)
        np.testing.assert_allclose(line.get_ydata(), 1 - last["survival"].to_numpy(float))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["directly safe", "stably safe"]
    facts = figure_facts(fig)
    assert facts["groups"] == ["directly safe", "stably safe"]
    shown = [int(v) for v in curve.drop_duplicates(["group", "time_upper"])["n_risk"]]
    assert facts["at_risk"] == shown
    plt.close(fig)


def test_plot_turnbull_refuses_the_fit_table():
    from cohort.plots.survival import plot_turnbull
    from cohort.stats.turnbull import Turnbull

    with pytest.raises(DisclosureError):
        plot_turnbull(Turnbull().fit(_waves()).table_)
