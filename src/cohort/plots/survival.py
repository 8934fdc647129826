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

import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cohort.disclosure.tables import require_released
from cohort.plots.base import figure_data
from cohort.stats.kaplan_meier import DAYS_PER_MONTH

__all__ = ["PLOT_LABELS", "TURNBULL_LABELS", "plot_km", "plot_cif", "plot_mcf", "plot_turnbull"]

#: Texts drawn in the figures (English); pass ``labels=`` with any of these keys to replace
#: them, e.g. in the report's language. ``ci_note`` is filled in with ``level`` and
#: ``transform``; ``suppressed`` is drawn for a number at risk that is not released;
#: ``curve_ends`` (with ``months`` and ``threshold``) marks where a curve ends before the axis.
PLOT_LABELS = {
    "at_risk": "Number at risk",
    "all": "all",
    "ci_note": "{level}% CI, {transform} transform",
    "suppressed": "-",
    "curve_ends": "curve ends at {months} months:\nfewer than {threshold} further events,\ntoo few to show a step",
    "curve_ends_at_risk": "curve ends at {months} months:\nafter that fewer than {threshold}\nhouseholds at risk",
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


def _axis_end(at_risk: pd.DataFrame, curve_ends: list[float]) -> float | None:
    """Where the time axis ends (days): at the last number at risk that is released, and
    never before the end of a curve. Later times, whose numbers at risk are all suppressed,
    show nothing a reader can use."""
    times = at_risk["time"].to_numpy(dtype=float)
    if not len(times):
        return max(curve_ends) if curve_ends else None
    shown = pd.to_numeric(at_risk["n_risk"].astype(object), errors="coerce").notna().to_numpy()
    end = times[shown].max() if shown.any() else times.min()
    if curve_ends:
        later = times[times >= max(curve_ends)]
        end = max(end, later.min() if len(later) else max(curve_ends))
    return float(end)


def _draw(curve, at_risk, value, *, ax, title, xlabel, ylabel, time_scale, legend_title, labels, what,
          language="en"):
    import matplotlib.pyplot as plt

    from cohort.plots.style import PALETTE as STYLE_PALETTE
    from cohort.plots.style import number_axis, record_facts

    require_released(curve, what)
    require_released(at_risk, what)
    labels = {**PLOT_LABELS, **(labels or {})}
    group_col = "group" if "group" in curve.columns else None
    groups = [(None, curve)] if group_col is None else list(curve.groupby(group_col, sort=False))
    ends = {}
    reason = None
    for label, tab in groups:
        t = tab["time"].to_numpy(dtype=float)
        if len(t):
            ends[label] = float(t.max())
    x_end = _axis_end(at_risk, list(ends.values()))
    at_risk = at_risk.loc[at_risk["time"].to_numpy(dtype=float) <= (x_end if x_end is not None else np.inf)]
    times = np.unique(at_risk["time"].to_numpy(dtype=float))
    if ax is None:
        fig = plt.figure(figsize=(6.3, 4.0))
        # room on the left for group labels of the numbers-at-risk table
        grid = fig.add_gridspec(2, 1, height_ratios=(4, 0.8), hspace=0.28, left=0.17, right=0.96,
                                top=0.97, bottom=0.11)
        ax = fig.add_subplot(grid[0])
        ax_risk = fig.add_subplot(grid[1], sharex=ax)
    else:
        fig = ax.figure
        ax_risk = ax.inset_axes((0, -0.45, 1, 0.25), sharex=ax)
    colours = STYLE_PALETTE
    for k, (label, tab) in enumerate(groups):
        colour = colours[k % len(colours)]
        x = tab["time"].to_numpy(dtype=float) / time_scale
        y = tab[value].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        name = labels["all"] if label is None else str(label)
        ax.step(x, y, where="post", color=colour, lw=1.8, label=name)
        if "ci_lower" in tab.columns:  # weighted curves carry their intervals in a table
            lo = tab["ci_lower"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            hi = tab["ci_upper"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            ax.fill_between(x, lo, hi, step="post", color=colour, alpha=0.15, lw=0)
    # where a curve ends before the axis does, say so on the plot
    threshold = (curve.attrs.get("disclosure") or {}).get("threshold")
    x_max = x_end / time_scale if x_end is not None else None
    ended = {k: v / time_scale for k, v in ends.items() if x_max is not None and v / time_scale < x_max - 1e-9}
    if ended:
        first_end = min(ended.values())
        ax.axvspan(first_end, x_max, color="0.93", lw=0, zorder=0)
        for k, (label, tab) in enumerate(groups):
            if label in ended and len(tab):
                y_last = tab[value].astype("Float64").to_numpy(dtype=float, na_value=np.nan)[-1]
                ax.scatter([ended[label]], [y_last], marker="|", s=90, linewidths=1.5,
                           color=colours[k % len(colours)], zorder=3)
        months = _month_text(first_end, language)
        # why: a released number at risk after the end says enough households remained, so
        # too few further events were left to pool into a step; otherwise too few at risk
        later = at_risk.loc[at_risk["time"].to_numpy(dtype=float) > min(ends.values())]
        events = bool(pd.to_numeric(later["n_risk"].astype(object), errors="coerce").notna().any())
        reason = "events" if events else "at_risk"
        note = labels["curve_ends" if events else "curve_ends_at_risk"].format(
            months=months, threshold=threshold if threshold else "")
        if (x_max - first_end) >= 0.3 * x_max:
            # in the grey zone after the curve's end
            ax.text(first_end + 0.015 * x_max, 0.5 if value == "survival" else 0.96, note,
                    transform=ax.get_xaxis_transform(), ha="left", va="center" if value == "survival" else "top",
                    fontsize=7, color="0.3")
        else:
            # the zone is narrow: in the corner the curve leaves empty (survival falls from the
            # top left, incidence rises from the bottom left)
            survival = value == "survival"
            ax.text(0.02, 0.06 if survival else 0.96, note, transform=ax.transAxes, ha="left",
                    va="bottom" if survival else "top", fontsize=7, color="0.3")
    if value == "survival":
        ax.set_ylim(0, 1.02)
    ax.set_xlim(0, x_max)
    ax.set_ylabel(textwrap.fill(ylabel, 30, break_on_hyphens=False) if ylabel else ylabel)
    ax.set_title(title or "")
    ax.grid(True, color="0.9")
    ax.spines[["top", "right"]].set_visible(False)
    if group_col is not None:
        ax.legend(title=legend_title, frameon=False, fontsize=8)
    note = _ci_note(labels, curve.attrs.get("confidence_level"), curve.attrs.get("conf_type"))
    if note:
        ax.text(0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.4")
    number_axis(ax, language, "y", percent=value in ("survival", "cif"))
    risk_groups = (
        [(labels["all"], at_risk)] if "group" not in at_risk.columns else list(at_risk.groupby("group", sort=False))
    )
    ax_risk.set_ylim(-0.5, len(risk_groups) - 0.5)
    shown_numbers = []
    for i, (label, rows) in enumerate(risk_groups):
        yy = len(risk_groups) - 1 - i
        shown = pd.to_numeric(rows["n_risk"].astype(object), errors="coerce").astype("Int64")
        for t, v in zip(rows["time"].to_numpy(dtype=float), shown, strict=True):
            text = labels["suppressed"] if pd.isna(v) else _count_text(int(v), language)
            shown_numbers.append(None if pd.isna(v) else int(v))
            ax_risk.text(t / time_scale, yy, text, ha="center", va="center", fontsize=8)
        colour = colours[i % len(colours)] if group_col is not None else "black"
        ax_risk.text(
            -0.07, yy, str(label), transform=ax_risk.get_yaxis_transform(), ha="right", va="center",
            fontsize=8, color=colour,
        )
    ax_risk.set_yticks([])
    ax_risk.set_xticks(times / time_scale)
    number_axis(ax_risk, language, "x")
    ax_risk.set_xlabel(xlabel)
    ax_risk.set_title(labels["at_risk"], fontsize=8.5, loc="left")
    ax_risk.grid(False)
    for side in ("top", "right", "left"):
        ax_risk.spines[side].set_visible(False)
    ax.tick_params(labelbottom=False)
    record_facts(
        fig, kind="curve", value=value, x_max=x_max, groups=[str(g) for g, _ in groups if g is not None],
        curve_ends={("" if k is None else str(k)): v / time_scale for k, v in ends.items()},
        ended_early=bool(ended), threshold=threshold, end_reason=reason if ended else None,
        at_risk_times=[float(t) / time_scale for t in times], at_risk=shown_numbers,
    )
    return fig


def _month_text(months: float, language: str) -> str:
    from cohort.report.format import format_number

    return format_number(months, "value", language, decimals=1)


def _count_text(n: int, language: str) -> str:
    from cohort.report.format import format_number

    return format_number(n, "count", language)


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
    language: str = "en",
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
                 time_scale=time_scale, legend_title=legend_title, labels=labels, what="plot_km",
                 language=language)


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
    language: str = "en",
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
                time_scale=time_scale, legend_title=legend_title, labels=labels, what="plot_cif",
                language=language)
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
    language: str = "en",
):
    """Mean cumulative function (:func:`cohort.disclosure.curves.release_mcf_table` output)."""
    fig = _draw(curve, at_risk, "mcf", ax=ax, title=title, xlabel=xlabel, ylabel=ylabel,
                time_scale=time_scale, legend_title=legend_title, labels=labels, what="plot_mcf",
                language=language)
    upper = curve["ci_upper"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    top = np.nanmax(upper) if np.isfinite(upper).any() else np.nan
    fig.axes[0].set_ylim(0, max(0.05, top * 1.1) if np.isfinite(top) else 1.0)
    return fig



#: Texts drawn in the Turnbull figure (English); ``labels=`` replaces any of them. A curve's
#: group value (``direct``, ``stable``) is looked up here for its legend entry.
TURNBULL_LABELS = {
    "at_risk": "Households not yet seen safe",
    "direct": "directly safe",
    "stable": "stably safe",
    "suppressed": "-",
    "between": "between assessments the curve is not determined:\nthe line joins the share at each wave",
}


@figure_data("cohort.disclosure.interval_curves", "turnbull_figure_data", labels="safety_time")
def plot_turnbull(
    curve: pd.DataFrame,
    *,
    title: str | None = None,
    xlabel: str = "Months since registration",
    ylabel: str = "Share safe",
    time_scale: float = DAYS_PER_MONTH,
    labels: Mapping[str, str] | None = None,
    language: str = "en",
):
    """Share safe (``1 - S``) from Turnbull's NPMLE, with pointwise CIs, and the households
    still open under each step.

    The NPMLE is determined only outside Turnbull's innermost intervals; on the wave scale
    these run from one planned wave to the next. So the figure shows the share at the end
    of each released step (``time_upper``: the wave by which the households were seen
    safe) with its confidence interval, and joins those points with a line, which the
    figure says is not an estimate in between.

    Parameters
    ----------
    curve : DataFrame
        :func:`cohort.disclosure.interval_curves.release_turnbull_table` output, with a
        ``group`` column for several curves (times in days).
    labels : mapping, optional
        Replacements for :data:`TURNBULL_LABELS`, e.g. in the report's language.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from cohort.disclosure.interval_curves import turnbull_figure_data
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> from cohort.stats.turnbull import Turnbull
    >>> df = pd.DataFrame({"left": np.r_[np.arange(0, 60, 2.0), np.full(10, 70.0)],
    ...                    "right": np.r_[np.arange(5, 65, 2.0), np.full(10, np.inf)]})
    >>> tables = turnbull_figure_data(Turnbull().fit(df), DisclosurePolicy(threshold=10))
    >>> len(plot_turnbull(tables[""], time_scale=1.0).axes)
    2
    """
    import matplotlib.pyplot as plt

    from cohort.plots.style import PALETTE as STYLE_PALETTE
    from cohort.plots.style import number_axis, record_facts

    require_released(curve, "plot_turnbull")
    labels = {**TURNBULL_LABELS, **(labels or {})}
    groups = [(None, curve)] if "group" not in curve.columns else list(curve.groupby("group", sort=False))
    fig = plt.figure(figsize=(6.3, 4.0))
    grid = fig.add_gridspec(2, 1, height_ratios=(4, 0.8), hspace=0.28, left=0.17, right=0.96,
                            top=0.97, bottom=0.11)
    ax = fig.add_subplot(grid[0])
    ax_risk = fig.add_subplot(grid[1], sharex=ax)
    ends, x_max, names, shown_numbers, risk_times = {}, 0.0, [], [], set()
    width = max(len(groups), 1)
    for k, (label, tab) in enumerate(groups):
        colour = STYLE_PALETTE[k % len(STYLE_PALETTE)]
        # the share is determined from the end of each step's interval on; of the rows at
        # one such time (the start and a step at 0) the last holds the estimate there
        last = tab.drop_duplicates("time_upper", keep="last")
        x = last["time_upper"].to_numpy(dtype=float) / time_scale
        share = 1.0 - last["survival"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        lo = 1.0 - last["ci_upper"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        hi = 1.0 - last["ci_lower"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        name = labels.get(str(label), str(label)) if label is not None else None
        names.append(name)
        if len(x):
            offset = (k - (width - 1) / 2) * 0.012 * max(float(x.max()), 1.0)
            ax.plot(x, share, color=colour, lw=1.4, ls="--", zorder=2)
            ax.errorbar(x + offset, share, yerr=np.vstack([share - lo, hi - share]), fmt="o", ms=4.5,
                        color=colour, ecolor=colour, elinewidth=1.2, capsize=2.5, label=name, zorder=3)
            ends[label] = float(x.max())
            x_max = max(x_max, float(x.max()))
        first = tab.drop_duplicates("time_upper", keep="first")
        yy = len(groups) - 1 - k
        for t, v in zip(first["time_upper"].to_numpy(dtype=float) / time_scale,
                        first["n_risk"].astype("Int64"), strict=True):
            text = labels["suppressed"] if pd.isna(v) else _count_text(int(v), language)
            shown_numbers.append(None if pd.isna(v) else int(v))
            risk_times.add(float(t))
            ax_risk.text(t, yy, text, ha="center", va="center", fontsize=8)
        ax_risk.text(-0.07, yy, name or "", transform=ax_risk.get_yaxis_transform(), ha="right",
                     va="center", fontsize=8, color=colour)
    pad = 0.06 * x_max if x_max > 0 else 1.0
    ax.set_xlim(-pad, x_max + pad)
    upper = 1.0 - curve["ci_lower"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    top = np.nanmax(upper) if np.isfinite(upper).any() else np.nan
    ax.set_ylim(0, min(1.0, max(0.1, top * 1.1)) if np.isfinite(top) else 1.0)
    ax.set_ylabel(textwrap.fill(ylabel, 30, break_on_hyphens=False) if ylabel else ylabel)
    ax.set_title(title or "")
    ax.grid(True, color="0.9")
    ax.spines[["top", "right"]].set_visible(False)
    if any(n is not None for n in names):
        ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.text(0.99, 0.01, labels["between"], transform=ax.transAxes, ha="right", va="bottom",
            fontsize=7, color="0.4")
    number_axis(ax, language, "y", percent=True)
    ax_risk.set_ylim(-0.5, len(groups) - 0.5)
    ax_risk.set_yticks([])
    ax_risk.set_xticks(sorted(risk_times))
    number_axis(ax_risk, language, "x")
    ax_risk.set_xlabel(xlabel)
    ax_risk.set_title(labels["at_risk"], fontsize=8.5, loc="left")
    ax_risk.grid(False)
    for side in ("top", "right", "left"):
        ax_risk.spines[side].set_visible(False)
    ax.tick_params(labelbottom=False)
    record_facts(
        fig, kind="curve", value="share", x_max=x_max, groups=[n for n in names if n is not None],
        curve_ends={("" if k is None else str(k)): v for k, v in ends.items()}, ended_early=False,
        threshold=(curve.attrs.get("disclosure") or {}).get("threshold"),
        at_risk_times=sorted(risk_times), at_risk=shown_numbers,
    )
    return fig
