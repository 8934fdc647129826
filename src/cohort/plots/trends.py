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

#: Texts drawn by :func:`plot_site_trends` (English); pass ``labels=`` with any of these
#: keys to replace them, e.g. in the report's language.
TREND_LABELS = {
    "this_site": "this site",
    "other_sites": "other sites",
    "gap": "gap: quarter not shown (disclosure control)",
    "none_shown": "no quarter shown",
}

#: More groups than this are drawn as small multiples (one panel each), not as lines in
#: one plot: 13 lines on one plot cannot be told apart, whatever their styles.
MAX_OVERLAY = 6


def _is_dates(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return True
    if pd.api.types.is_numeric_dtype(values.dtype):
        return False
    return bool(values.astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}.*").all()) and len(values) > 0


def _numbers(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None or column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column].astype(object), errors="coerce").to_numpy(dtype=float)


@figure_data(None, labels="trends")
def plot_site_trends(released: pd.DataFrame, time_col: str, value_col: str,
                     lower_col: str = "ci_lower", upper_col: str = "ci_upper",
                     group_col: str | None = "site", ax=None, ylabel: str | None = None,
                     xlabel: str | None = None, title: str | None = None, *, language: str = "en",
                     layout: str = "auto", sites=None, labels: Mapping[str, str] | None = None):
    """Per-site trend lines with interval bands, from a released table.

    A line per group (site) in one plot, each site in its own colour, marker and line style
    (:func:`cohort.plots.style.site_styles` over ``sites``, default the groups shown), or,
    for more than :data:`MAX_OVERLAY` groups (``layout="auto"``) or ``layout="panels"``,
    small multiples: one panel per site with the other sites in grey behind it, on shared
    axes. A date axis is put on calendar quarters (:func:`cohort.plots.style.quarter_axis`,
    ``K1 2024`` / ``Q1 2024``) with each quarter's value in the middle of its quarter.
    Suppressed cells are gaps in the line (never drawn as 0), and the figure says so.
    Returns the Figure.
    """
    import matplotlib.pyplot as plt

    from cohort.plots.style import (
        PALETTE as SITE_PALETTE,
    )
    from cohort.plots.style import (
        quarter_axis,
        quarter_midpoint,
        record_facts,
        site_styles,
        small_multiples,
    )

    require_released(released, "plot_site_trends")
    if layout not in ("auto", "panels", "overlay"):
        raise ValueError(f"plot_site_trends: layout must be auto, panels or overlay, not {layout!r}")
    labels = {**TREND_LABELS, **(labels or {})}
    frame = released.reset_index(drop=True)
    dates = _is_dates(frame[time_col])
    if dates:
        when = pd.to_datetime(frame[time_col].astype(str).str.slice(0, 10))
        frame = frame.assign(_x=quarter_midpoint(when).to_numpy(), _when=when.to_numpy())
    else:
        frame = frame.assign(_x=frame[time_col].to_numpy(), _when=frame[time_col].to_numpy())
    names = sorted({str(v) for v in frame[group_col]}) if group_col else [None]
    styles = site_styles(list(sites) if sites is not None else names) if group_col else {}
    panels = ax is None and group_col is not None and (
        layout == "panels" or (layout == "auto" and len(names) > MAX_OVERLAY)
    )

    def series(name):
        part = frame if name is None else frame.loc[frame[group_col].astype(str).to_numpy() == name]
        part = part.sort_values("_when", kind="mergesort")
        return (part["_x"].to_numpy(), _numbers(part, value_col), _numbers(part, lower_col),
                _numbers(part, upper_col))

    gaps = False
    if panels:
        ncols = 3 if len(names) > 4 else 2
        fig, axes = small_multiples(len(names), ncols=ncols, panel=(2.1, 1.3))
        fig.set_layout_engine("constrained")
        for k, (name, axis) in enumerate(zip(names, axes, strict=True)):
            for other in names:
                if other != name:
                    x, y, _, _ = series(other)
                    axis.plot(x, y, color="0.82", lw=0.7, zorder=1)
            x, y, lo, hi = series(name)
            gaps |= bool(np.isnan(y).any())
            if np.isfinite(lo).any():
                axis.fill_between(x, lo, hi, color=SITE_PALETTE[0], alpha=0.18, linewidth=0, zorder=2)
            axis.plot(x, y, color=SITE_PALETTE[0], lw=1.4, marker="o", ms=2.6, zorder=3)
            axis.set_title(name, fontsize=8, pad=2)
            if not np.isfinite(y).any():
                axis.text(0.5, 0.5, labels["none_shown"], transform=axis.transAxes, ha="center",
                          va="center", fontsize=6.5, color="0.35", in_layout=False)
            # a panel with no panel under it shows the quarter labels
            if k + ncols >= len(names):
                axis.xaxis.set_tick_params(labelbottom=True)
        spare = [a for a in fig.axes if not a.get_visible()]
        if spare:
            key = spare[0]
            key.set_visible(True)
            key.axis("off")
            handles = [
                plt.Line2D([], [], color=SITE_PALETTE[0], lw=1.4, marker="o", ms=2.6, label=labels["this_site"]),
                plt.Line2D([], [], color="0.82", lw=0.7, label=labels["other_sites"]),
            ]
            key.legend(handles=handles, loc="upper left", frameon=False, fontsize=7,
                       borderaxespad=0).set_in_layout(False)
            if gaps:
                key.text(0, 0.3, labels["gap"], transform=key.transAxes, fontsize=6.5, color="0.3",
                         va="top", in_layout=False)
        if ylabel:
            fig.supylabel(ylabel, fontsize=9)
        if xlabel:
            fig.supxlabel(xlabel, fontsize=9)
        if title:
            fig.suptitle(title)
        first = axes[0]
        if np.all(np.nan_to_num(_numbers(frame, value_col), nan=0.0) >= 0):
            first.set_ylim(bottom=0)
        bottom = axes[-1]
        drawn = axes
    else:
        if ax is None:
            fig, ax = plt.subplots(figsize=(6.3, 3.4))
            fig.set_layout_engine("constrained")
        else:
            fig = ax.figure
        for name in names:
            x, y, lo, hi = series(name)
            gaps |= bool(np.isnan(y).any())
            style = styles[name].kwargs(ms=3.5, lw=1.4) if name is not None else {"color": SITE_PALETTE[0], "marker": "o", "ms": 3.5}
            if np.isfinite(lo).any():
                ax.fill_between(x, lo, hi, color=style["color"], alpha=0.15, linewidth=0)
            ax.plot(x, y, label=str(name if name is not None else value_col), **style)
        ax.set_xlabel(xlabel or time_col.replace("_", " "))
        ax.set_ylabel(ylabel or value_col.replace("_", " "))
        if title:
            ax.set_title(title)
        if group_col:
            ax.legend(fontsize="small", ncol=1 if len(names) <= 3 else 2, frameon=False,
                      loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        if gaps:
            ax.annotate(labels["gap"], xy=(0, 0), xycoords="axes fraction", xytext=(0, -34),
                        textcoords="offset points", fontsize=7, color="0.3", va="top")
        if np.all(np.nan_to_num(_numbers(frame, value_col), nan=0.0) >= 0):
            ax.set_ylim(bottom=0)
        bottom = ax
        drawn = [ax]
    start = end = None
    if dates and len(frame):
        start, end = frame["_when"].min(), frame["_when"].max()
        fig.canvas.draw()
        step = quarter_axis(bottom, start, end, language)
        for axis in drawn:
            if axis is not bottom:
                axis.grid(True, which="minor", axis="x", alpha=0.25, linewidth=0.6)
                axis.grid(False, which="major", axis="x")
                axis.tick_params(axis="x", which="major", length=0)
        record_facts(fig, kind="trend", groups=[n for n in names if n is not None], start=start, end=end,
                     label_step=step, panels=bool(panels), gaps=gaps)
    else:
        record_facts(fig, kind="trend", groups=[n for n in names if n is not None], panels=bool(panels), gaps=gaps)
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
                      labels: Mapping[str, str] | None = None, language: str = "en"):
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
    from cohort.plots.style import number_axis, record_facts

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.3, 3.6))
        fig.set_layout_engine("constrained")
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
    shown = x[np.isfinite(vals[pcols[0]])] if pcols else x
    ends = [v for v in (shown.min() if len(shown) else None, shown.max() if len(shown) else None) if v is not None]
    if fitted is not None and len(fitted):
        ends += [float(fitted["months"].min()), float(fitted["months"].max())]
    if ends:
        ax.set_xlim(min(ends), max(ends))
    if len(x):
        ax.set_xticks(x)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    ax.grid(alpha=0.3)
    number_axis(ax, language, "x")
    number_axis(ax, language, "y")
    waves = [str(w) for w in bands["wave"]] if "wave" in bands.columns else []
    record_facts(fig, kind="trajectory", x_min=min(ends) if ends else None, x_max=max(ends) if ends else None,
                 waves=waves, percentiles=[c[1:] for c in pcols],
                 waves_shown=[w for w, v in zip(waves, vals[pcols[0]] if pcols else [], strict=False) if np.isfinite(v)])
    return fig
