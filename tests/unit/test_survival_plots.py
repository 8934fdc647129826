"""cohort.survival_plots: curves drawn from released tables, numbers at risk controlled."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cohort.disclosure.curves import numbers_at_risk, release_km_table
from cohort.disclosure.policy import DisclosurePolicy
from cohort.plots.survival import plot_cif, plot_km
from cohort.stats.aalen_johansen import AalenJohansen
from cohort.stats.kaplan_meier import KaplanMeier


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


def test_plot_km_draws_only_released_steps(data):
    policy = DisclosurePolicy(threshold=10, rounding=5)
    km = KaplanMeier().fit(data, "time", "event", group_col="g")
    fig = plot_km(km, policy, title="t")
    ax, ax_risk = fig.axes
    released = release_km_table(km, policy)
    lines = ax.get_lines()
    assert len(lines) == released["group"].nunique()
    for line, (_, part) in zip(lines, released.groupby("group", sort=False), strict=True):
        np.testing.assert_allclose(line.get_ydata(), part["survival"].to_numpy(dtype=float))
    texts = [t.get_text() for t in ax_risk.texts]
    assert "<10" in texts  # the small group falls below the threshold
    numbers = [int(t) for t in texts if t.isdigit()]
    assert all(v % 5 == 0 for v in numbers)
    plt.close(fig)


def test_plot_cif_and_existing_axes(data):
    aj = AalenJohansen().fit(data, "time", "status")
    fig, ax = plt.subplots()
    out = plot_cif(aj, DisclosurePolicy(), cause=1, ax=ax)
    assert out is fig
    assert ax.get_lines()
    plt.close(fig)


def test_numbers_at_risk_marks_small_cells(data):
    km = KaplanMeier().fit(data, "time", "event", group_col="g")
    risk = numbers_at_risk(km.table_, [0, 100, 2000], DisclosurePolicy(threshold=10), "group")
    assert risk.loc["small", "0"] == "20"
    assert risk.loc["small", "2000"] == "<10"
    assert risk.loc["large", "0"] == "280"


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
    fig = plot_mcf(mcf, policy)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), rel["mcf"].to_numpy(dtype=float))
    plt.close(fig)
