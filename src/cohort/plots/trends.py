"""Report plots of quarterly trends and safety trajectories, drawn from released tables only.

Each plot function refuses a table that did not pass disclosure control
(:func:`cohort.disclosure.tables.require_released`): suppressed cells are gaps, never
zeros, and no household's own trajectory is ever drawn (the spread behind a fitted mean is
shown as released percentile bands).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cohort.disclosure.tables import require_released
from cohort.plots.base import PALETTE, figure_data

# ------------------------------------------------------------------ plots


def plot_site_trends(released: pd.DataFrame, time_col: str, value_col: str,
                     lower_col: str = "ci_lower", upper_col: str = "ci_upper",
                     group_col: str | None = "site", ax=None, ylabel: str | None = None,
                     xlabel: str | None = None, title: str | None = None):
    """Per-site trend lines with interval bands, from a released table.

    Suppressed cells are gaps in the line (never drawn as 0). Returns the Figure.
    """
    import matplotlib.pyplot as plt

    require_released(released, "plot_site_trends")
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4.5))
    else:
        fig = ax.figure
    groups = released.groupby(group_col, sort=True) if group_col else [("all", released)]
    for i, (name, g) in enumerate(groups):
        g = g.sort_values(time_col)
        x = g[time_col].to_numpy()
        y = g[value_col].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        lo = g[lower_col].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        hi = g[upper_col].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(x, y, marker="o", ms=3, color=colour, label=str(name))
        ax.fill_between(x, lo, hi, color=colour, alpha=0.15, linewidth=0)
    ax.set_xlabel(xlabel or time_col.replace("_", " "))
    ax.set_ylabel(ylabel or value_col.replace("_", " "))
    if title:
        ax.set_title(title)
    if group_col:
        ax.legend(fontsize="small", ncol=2, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


#: Texts drawn by :func:`plot_trajectories` (English); pass ``labels=`` with any of these
#: keys to replace them, e.g. in the report's language. ``band`` is filled in with the
#: percentiles ``lo`` and ``hi``, ``percentile`` with ``p``.
TRAJECTORY_LABELS = {
    "band": "households {lo}th-{hi}th percentile",
    "percentile": "{p}th percentile",
    "fitted": "fitted mean (mixed model)",
    "xlabel": "months since registration",
}


@figure_data(None, labels="trajectories")
def plot_trajectories(bands: pd.DataFrame, fitted: pd.DataFrame | None = None, ax=None,
                      ylabel: str = "safety score (0-10)", title: str | None = None,
                      labels: Mapping[str, str] | None = None):
    """Fitted mean trajectory over percentile bands of households' scores per wave.

    ``bands`` is :func:`cohort.stats.safety.trajectory_bands` output and ``fitted``
    :func:`cohort.stats.mixed.fitted_mean_trajectory` output, both released. No household's own
    trajectory is drawn. ``labels`` replaces any of the legend and axis texts in
    :data:`TRAJECTORY_LABELS`. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    labels = {**TRAJECTORY_LABELS, **(labels or {})}

    require_released(bands, "plot_trajectories")
    if fitted is not None:
        require_released(fitted, "plot_trajectories")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    else:
        fig = ax.figure
    pcols = [c for c in bands.columns if c.startswith("p") and c[1:].replace(".", "").isdigit()]
    pcols = sorted(pcols, key=lambda c: float(c[1:]))
    x = bands["months"].to_numpy(dtype=float)
    vals = {c: bands[c].astype("Float64").to_numpy(dtype=float, na_value=np.nan) for c in pcols}
    for k in range(len(pcols) // 2):
        lo, hi = pcols[k], pcols[-1 - k]
        ax.fill_between(x, vals[lo], vals[hi], color=PALETTE[0], alpha=0.12 + 0.12 * k, linewidth=0,
                        label=labels["band"].format(lo=lo[1:], hi=hi[1:]))
    if len(pcols) % 2 == 1:
        mid = pcols[len(pcols) // 2]
        ax.plot(x, vals[mid], color=PALETTE[0], ls="--", marker="o", ms=3, label=labels["percentile"].format(p=mid[1:]))
    if fitted is not None:
        ax.plot(fitted["months"], fitted["estimate"], color=PALETTE[1], lw=2, label=labels["fitted"])
        ax.fill_between(fitted["months"], fitted["ci_lower"], fitted["ci_upper"], color=PALETTE[1],
                        alpha=0.25, linewidth=0)
    ax.set_xlabel(labels["xlabel"])
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 10)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small", frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
