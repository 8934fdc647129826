"""Report-ready Kaplan-Meier and cumulative-incidence plots with a numbers-at-risk table.

Every curve and number drawn passes disclosure control first: the curves are drawn from
:func:`cohort.disclosure.curves.release_km_table` / :func:`cohort.disclosure.curves.release_cif_table` (a curve
ends where fewer than ``threshold`` households are at risk; steps pool at least
``threshold`` events) and the numbers at risk are rounded as configured, with cells below
the threshold shown as ``<threshold``.

Public API
----------
``plot_km(km, policy, ax=None, ...)`` -> matplotlib Figure
``plot_cif(aj, policy, cause=1, ax=None, ...)`` -> matplotlib Figure
``plot_mcf(mcf, policy, ax=None, ...)`` -> matplotlib Figure (mean cumulative function)
``numbers_at_risk(table, times, policy, group_col=None)`` -> DataFrame (released counts)

Times are in days in the fitted tables; the x axis shows months (days / 30.4375) by default.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> from cohort.disclosure import DisclosurePolicy
>>> from cohort.survival import KaplanMeier
>>> df = pd.DataFrame({"t": [30 * k for k in range(1, 41)], "e": [1, 0] * 20})
>>> fig = plot_km(KaplanMeier().fit(df, "t", "e"), DisclosurePolicy(threshold=5))
>>> len(fig.axes)
2
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cohort.disclosure.curves import (
    numbers_at_risk,
    release_cif_table,
    release_km_table,
    release_mcf_table,
)
from cohort.disclosure.policy import check_policy
from cohort.stats.aalen_johansen import AalenJohansen
from cohort.stats.kaplan_meier import DAYS_PER_MONTH, KaplanMeier

#: Colour-blind-safe palette (Okabe-Ito), cycled over groups.
#: Texts drawn in the figures (English); pass ``labels=`` with any of these keys to replace
#: them, e.g. in the report's language. ``ci_note`` is filled in with ``level`` and
#: ``transform``.
PLOT_LABELS = {
    "at_risk": "Number at risk",
    "all": "all",
    "ci_note": "{level}% CI, {transform} transform",
}

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def _ci_note(labels: Mapping[str, str] | None, level: int, transform: str) -> str:
    """The confidence-interval note drawn in a corner of the plot.

    >>> _ci_note(None, 95, "log")
    '95% CI, log transform'
    """
    template = {**PLOT_LABELS, **(labels or {})}["ci_note"]
    return template.format(level=int(level), transform=transform)


def _default_times(max_time: float, time_scale: float) -> np.ndarray:
    span = max_time / time_scale
    step = 3 if span <= 18 else 6 if span <= 48 else 12
    return np.arange(0, span + 1e-9, step) * time_scale


def _draw(
    released: pd.DataFrame,
    full_table: pd.DataFrame,
    value: str,
    policy,
    group_col,
    ax,
    title,
    xlabel,
    ylabel,
    risk_times,
    time_scale,
    legend_title,
    conf_note,
    labels=None,
):
    import matplotlib.pyplot as plt

    labels = {**PLOT_LABELS, **(labels or {})}

    policy = check_policy(policy)
    max_time = float(full_table["time"].max()) if len(full_table) else 1.0
    times = _default_times(max_time, time_scale) if risk_times is None else np.asarray(risk_times, float)
    if ax is None:
        fig = plt.figure(figsize=(7.5, 5.2))
        # room on the left for group labels of the numbers-at-risk table
        grid = fig.add_gridspec(2, 1, height_ratios=(4, 1.2), hspace=0.35, left=0.24, right=0.97)
        ax = fig.add_subplot(grid[0])
        ax_risk = fig.add_subplot(grid[1], sharex=ax)
    else:
        fig = ax.figure
        ax_risk = ax.inset_axes((0, -0.45, 1, 0.25), sharex=ax)
    groups = [(None, released)] if group_col is None else list(released.groupby(group_col, sort=False))
    for k, (label, tab) in enumerate(groups):
        colour = PALETTE[k % len(PALETTE)]
        x = tab["time"].to_numpy(dtype=float) / time_scale
        y = tab[value].to_numpy(dtype=float)
        name = labels["all"] if label is None else str(label)
        ax.step(x, y, where="post", color=colour, lw=1.8, label=name)
        lo = tab["ci_lower"].to_numpy(dtype=float)
        hi = tab["ci_upper"].to_numpy(dtype=float)
        ax.fill_between(x, lo, hi, step="post", color=colour, alpha=0.15, lw=0)
    ax.set_ylim(0, 1.02 if value == "survival" else None)
    ax.set_xlim(0, times[-1] / time_scale if len(times) else None)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "")
    ax.grid(True, color="0.9")
    ax.spines[["top", "right"]].set_visible(False)
    if group_col is not None:
        ax.legend(title=legend_title, frameon=False, fontsize=8)
    if conf_note:
        ax.text(0.99, 0.01, conf_note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
    risk = numbers_at_risk(full_table, times, policy, group_col)
    risk = risk.rename(index={"all": labels["all"]}) if group_col is None else risk
    ax_risk.set_ylim(-0.5, len(risk) - 0.5)
    for i, (label, row) in enumerate(risk.iterrows()):
        yy = len(risk) - 1 - i
        for t, v in zip(times, row.to_numpy(), strict=True):
            ax_risk.text(t / time_scale, yy, v, ha="center", va="center", fontsize=8)
        colour = PALETTE[i % len(PALETTE)] if group_col is not None else "black"
        ax_risk.text(
            -0.03, yy, label, transform=ax_risk.get_yaxis_transform(), ha="right", va="center",
            fontsize=8, color=colour,
        )
    ax_risk.set_yticks([])
    ax_risk.set_xticks(times / time_scale)
    ax_risk.set_xlabel(xlabel)
    ax_risk.set_title(labels["at_risk"], fontsize=9, loc="left")
    for side in ("top", "right", "left"):
        ax_risk.spines[side].set_visible(False)
    ax.tick_params(labelbottom=False)
    return fig


def plot_km(
    km: KaplanMeier,
    policy,
    ax=None,
    title: str | None = None,
    xlabel: str = "Months since closure",
    ylabel: str = "Not re-registered",
    risk_times=None,
    time_scale: float = DAYS_PER_MONTH,
    legend_title: str | None = None,
    labels: Mapping[str, str] | None = None,
):
    """Kaplan-Meier curve(s) with pointwise CIs and a numbers-at-risk table underneath.

    Parameters
    ----------
    km : KaplanMeier
        A fitted estimator (times in days).
    policy : DisclosurePolicy
        Disclosure control for the curves and the numbers at risk.
    risk_times : array of days, optional
        Where to show numbers at risk (default every 3, 6 or 12 months).
    time_scale : float
        Days per x-axis unit (default months).
    labels : mapping, optional
        Replacements for the texts in :data:`PLOT_LABELS` (numbers-at-risk title, the
        label of an ungrouped curve, the interval note), e.g. in the report's language.

    Returns
    -------
    matplotlib.figure.Figure
    """
    released = release_km_table(km, policy)
    group_col = "group" if km.group_col is not None else None
    note = _ci_note(labels, round((1 - km.alpha) * 100), km.conf_type)
    return _draw(
        released,
        km.table_,
        "survival",
        policy,
        group_col,
        ax,
        title,
        xlabel,
        ylabel,
        risk_times,
        time_scale,
        legend_title or km.group_col,
        note,
        labels,
    )


def plot_cif(
    aj: AalenJohansen,
    policy,
    cause: int = 1,
    ax=None,
    title: str | None = None,
    xlabel: str = "Months since closure",
    ylabel: str = "Cumulative incidence",
    risk_times=None,
    time_scale: float = DAYS_PER_MONTH,
    legend_title: str | None = None,
    labels: Mapping[str, str] | None = None,
):
    """Cumulative incidence of ``cause`` (Aalen-Johansen) with CIs and numbers at risk."""
    released = release_cif_table(aj, policy, cause)
    group_col = "group" if aj.group_col is not None else None
    note = _ci_note(labels, round((1 - aj.alpha) * 100), aj.conf_type)
    fig = _draw(
        released,
        aj.table_,
        "cif",
        policy,
        group_col,
        ax,
        title,
        xlabel,
        ylabel,
        risk_times,
        time_scale,
        legend_title or aj.group_col,
        note,
        labels,
    )
    top = np.nanmax(released["ci_upper"].to_numpy(dtype=float)) if len(released) else 1.0
    fig.axes[0].set_ylim(0, min(1.0, max(0.05, top * 1.1)) if np.isfinite(top) else 1.0)
    return fig


def plot_mcf(
    mcf: pd.DataFrame,
    policy,
    ax=None,
    title: str | None = None,
    xlabel: str = "Months since first closure",
    ylabel: str = "Mean number of re-registrations",
    risk_times=None,
    time_scale: float = DAYS_PER_MONTH,
    legend_title: str | None = None,
    labels: Mapping[str, str] | None = None,
):
    """Mean cumulative function (from :func:`cohort.stats.mcf.mean_cumulative_function`)."""
    released = release_mcf_table(mcf, policy)
    group_col = "group" if "group" in mcf.columns else None
    fig = _draw(
        released,
        mcf,
        "mcf",
        policy,
        group_col,
        ax,
        title,
        xlabel,
        ylabel,
        risk_times,
        time_scale,
        legend_title,
        _ci_note(labels, 95, "log"),
        labels,
    )
    top = np.nanmax(released["ci_upper"].to_numpy(dtype=float)) if len(released) else 1.0
    fig.axes[0].set_ylim(0, max(0.05, top * 1.1) if np.isfinite(top) else 1.0)
    return fig
