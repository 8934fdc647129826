"""Kaplan-Meier and cumulative-incidence figures with a numbers-at-risk table, from released tables.

A figure draws nothing but released tables: the curve
(:func:`cohort.disclosure.curves.release_km_table`, ``release_cif_table``,
``release_mcf_table``: a curve ends where fewer than ``threshold`` households are at risk;
steps pool at least ``threshold`` events) and the numbers at risk under it
(:func:`cohort.disclosure.curves.numbers_at_risk_table`: suppressed below the threshold,
rounded as configured). A table that did not pass disclosure control is refused, so the
figure can never show more than its figure data. Each plot function names the rule that
gives its tables (``figure_data``), which the notebook API uses to release them.

Times are in days in the tables; the x axis shows months (days / 30.4375) by default.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> from cohort.disclosure.curves import km_figure_data
>>> from cohort.disclosure.policy import DisclosurePolicy
>>> from cohort.stats.kaplan_meier import KaplanMeier
>>> df = pd.DataFrame({"t": [30 * k for k in range(1, 41)], "e": [1, 0] * 20})
>>> km = KaplanMeier().fit(df, "t", "e")
>>> tables = km_figure_data(km, DisclosurePolicy(threshold=5), risk_times=[0, 365, 730])
>>> fig = plot_km(tables[""], tables["_at_risk"])
>>> len(fig.axes)
2
>>> plot_km(km.table_, tables["_at_risk"])
Traceback (most recent call last):
...
cohort.exceptions.DisclosureError: plot_km draws released tables only: this table never passed disclosure control; release it first (cohort.disclosure.release.release, or report.table / report.figure in a notebook)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cohort.disclosure.tables import require_released
from cohort.plots.base import PALETTE, figure_data
from cohort.stats.kaplan_meier import DAYS_PER_MONTH

__all__ = ["PLOT_LABELS", "plot_km", "plot_cif", "plot_mcf"]

#: Texts drawn in the figures (English); pass ``labels=`` with any of these keys to replace
#: them, e.g. in the report's language. ``ci_note`` is filled in with ``level`` and
#: ``transform``; ``suppressed`` is drawn for a number at risk that is not released.
PLOT_LABELS = {
    "at_risk": "Number at risk",
    "all": "all",
    "ci_note": "{level}% CI, {transform} transform",
    "suppressed": "-",
}


def _ci_note(labels: Mapping[str, str] | None, level, transform) -> str:
    """The confidence-interval note drawn in a corner of the plot.

    >>> _ci_note(None, 95, "log")
    '95% CI, log transform'
    """
    if level is None or transform is None:
        return ""
    template = {**PLOT_LABELS, **(labels or {})}["ci_note"]
    return template.format(level=int(round(level)), transform=transform)


def _draw(curve, at_risk, value, *, ax, title, xlabel, ylabel, time_scale, legend_title, labels, what):
    import matplotlib.pyplot as plt

    require_released(curve, what)
    require_released(at_risk, what)
    labels = {**PLOT_LABELS, **(labels or {})}
    group_col = "group" if "group" in curve.columns else None
    times = np.unique(at_risk["time"].to_numpy(dtype=float))
    if ax is None:
        fig = plt.figure(figsize=(7.5, 5.2))
        # room on the left for group labels of the numbers-at-risk table
        grid = fig.add_gridspec(2, 1, height_ratios=(4, 1.2), hspace=0.35, left=0.24, right=0.97)
        ax = fig.add_subplot(grid[0])
        ax_risk = fig.add_subplot(grid[1], sharex=ax)
    else:
        fig = ax.figure
        ax_risk = ax.inset_axes((0, -0.45, 1, 0.25), sharex=ax)
    groups = [(None, curve)] if group_col is None else list(curve.groupby(group_col, sort=False))
    for k, (label, tab) in enumerate(groups):
        colour = PALETTE[k % len(PALETTE)]
        x = tab["time"].to_numpy(dtype=float) / time_scale
        y = tab[value].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        name = labels["all"] if label is None else str(label)
        ax.step(x, y, where="post", color=colour, lw=1.8, label=name)
        lo = tab["ci_lower"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        hi = tab["ci_upper"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        ax.fill_between(x, lo, hi, step="post", color=colour, alpha=0.15, lw=0)
    ax.set_ylim(0, 1.02 if value == "survival" else None)
    ax.set_xlim(0, times[-1] / time_scale if len(times) else None)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "")
    ax.grid(True, color="0.9")
    ax.spines[["top", "right"]].set_visible(False)
    if group_col is not None:
        ax.legend(title=legend_title, frameon=False, fontsize=8)
    note = _ci_note(labels, curve.attrs.get("confidence_level"), curve.attrs.get("conf_type"))
    if note:
        ax.text(0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
    risk_groups = (
        [(labels["all"], at_risk)] if "group" not in at_risk.columns else list(at_risk.groupby("group", sort=False))
    )
    ax_risk.set_ylim(-0.5, len(risk_groups) - 0.5)
    for i, (label, rows) in enumerate(risk_groups):
        yy = len(risk_groups) - 1 - i
        shown = rows["n_risk"].astype("Int64")
        for t, v in zip(rows["time"].to_numpy(dtype=float), shown, strict=True):
            text = labels["suppressed"] if pd.isna(v) else str(int(v))
            ax_risk.text(t / time_scale, yy, text, ha="center", va="center", fontsize=8)
        colour = PALETTE[i % len(PALETTE)] if group_col is not None else "black"
        ax_risk.text(
            -0.03, yy, str(label), transform=ax_risk.get_yaxis_transform(), ha="right", va="center",
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


@figure_data("cohort.disclosure.curves", "km_figure_data", labels="survival")
def plot_km(
    curve: pd.DataFrame,
    at_risk: pd.DataFrame,
    *,
    ax=None,
    title: str | None = None,
    xlabel: str = "Months since closure",
    ylabel: str = "Not re-registered",
    time_scale: float = DAYS_PER_MONTH,
    legend_title: str | None = None,
    labels: Mapping[str, str] | None = None,
):
    """Kaplan-Meier curve(s) with pointwise CIs and the numbers at risk underneath.

    Parameters
    ----------
    curve : DataFrame
        :func:`cohort.disclosure.curves.release_km_table` output (times in days).
    at_risk : DataFrame
        :func:`cohort.disclosure.curves.numbers_at_risk_table` output: the times and
        numbers shown under the curve.
    time_scale : float
        Days per x-axis unit (default months).
    labels : mapping, optional
        Replacements for the texts in :data:`PLOT_LABELS`, e.g. in the report's language.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _draw(curve, at_risk, "survival", ax=ax, title=title, xlabel=xlabel, ylabel=ylabel,
                 time_scale=time_scale, legend_title=legend_title, labels=labels, what="plot_km")


@figure_data("cohort.disclosure.curves", "cif_figure_data", labels="survival")
def plot_cif(
    curve: pd.DataFrame,
    at_risk: pd.DataFrame,
    *,
    ax=None,
    title: str | None = None,
    xlabel: str = "Months since closure",
    ylabel: str = "Cumulative incidence",
    time_scale: float = DAYS_PER_MONTH,
    legend_title: str | None = None,
    labels: Mapping[str, str] | None = None,
):
    """Cumulative incidence (Aalen-Johansen) with CIs and the numbers at risk.

    ``curve`` is :func:`cohort.disclosure.curves.release_cif_table` output, or stacked
    curves of several causes (``release_cif_tables``, a ``cause`` column), of which the
    first cause is drawn.
    """
    if "cause" in curve.columns and len(curve):
        first = curve["cause"].iloc[0]
        attrs = curve.attrs
        curve = curve.loc[(curve["cause"] == first).to_numpy()]
        curve.attrs = attrs
    fig = _draw(curve, at_risk, "cif", ax=ax, title=title, xlabel=xlabel, ylabel=ylabel,
                time_scale=time_scale, legend_title=legend_title, labels=labels, what="plot_cif")
    upper = curve["ci_upper"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    top = np.nanmax(upper) if np.isfinite(upper).any() else np.nan
    fig.axes[0].set_ylim(0, min(1.0, max(0.05, top * 1.1)) if np.isfinite(top) else 1.0)
    return fig


@figure_data(None, labels="survival")
def plot_mcf(
    curve: pd.DataFrame,
    at_risk: pd.DataFrame,
    *,
    ax=None,
    title: str | None = None,
    xlabel: str = "Months since first closure",
    ylabel: str = "Mean number of re-registrations",
    time_scale: float = DAYS_PER_MONTH,
    legend_title: str | None = None,
    labels: Mapping[str, str] | None = None,
):
    """Mean cumulative function (:func:`cohort.disclosure.curves.release_mcf_table` output)."""
    fig = _draw(curve, at_risk, "mcf", ax=ax, title=title, xlabel=xlabel, ylabel=ylabel,
                time_scale=time_scale, legend_title=legend_title, labels=labels, what="plot_mcf")
    upper = curve["ci_upper"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    top = np.nanmax(upper) if np.isfinite(upper).any() else np.nan
    fig.axes[0].set_ylim(0, max(0.05, top * 1.1) if np.isfinite(top) else 1.0)
    return fig

