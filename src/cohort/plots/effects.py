"""Figures of the effect analyses, from released tables: weighted curves per arm with the
households at risk, and the event study of the staggered start.

Both draw released tables only (:mod:`cohort.disclosure.effects`): the weighted curves
(:func:`~cohort.disclosure.effects.release_curves`: each arm's curve shown while at least
the threshold of households is at risk, steps pooling at least the threshold of events)
with the unweighted numbers at risk per arm under them; the event study
(:func:`~cohort.disclosure.effects.release_did_aggregates`) with its pointwise intervals and
simultaneous band, where an event time whose estimate is suppressed is marked, not drawn.
Each plot function names the rule that gives its tables, which the notebook API uses.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> from cohort.disclosure.effects import weighted_curves_figure_data
>>> from cohort.disclosure.policy import DisclosurePolicy
>>> from cohort.stats.weighted_aalen_johansen import WeightedAalenJohansen
>>> d = pd.DataFrame({"t": list(range(1, 61)) * 2, "e": [1, 0, 2] * 40,
...                   "arm": ["pilot"] * 60 + ["comparison"] * 60})
>>> aj = WeightedAalenJohansen().fit(d, "t", "e", "arm")
>>> tables = weighted_curves_figure_data(aj, DisclosurePolicy(threshold=5), risk_times=[0, 30])
>>> fig = plot_weighted_curves(tables[""], tables["_at_risk"])
>>> len(fig.axes), figure_facts(fig)["groups"]
(2, ['pilot sites', 'comparison regions'])
>>> plot_weighted_curves(aj.table_, tables["_at_risk"])
Traceback (most recent call last):
...
cohort.exceptions.DisclosureError: plot_weighted_curves draws released tables only: this table never passed disclosure control; release it first (cohort.disclosure.release.release, or report.table / report.figure in a notebook)
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cohort.disclosure.tables import require_released
from cohort.plots.base import figure_data
from cohort.plots.style import figure_facts
from cohort.stats.kaplan_meier import DAYS_PER_MONTH

__all__ = [
    "BALANCE_LABELS",
    "EFFECT_PLOT_LABELS",
    "EVENT_STUDY_LABELS",
    "plot_balance",
    "plot_event_study",
    "plot_weighted_curves",
    "figure_facts",
]

#: Texts drawn in the weighted-curve figures (English); ``labels=`` replaces any of them,
#: e.g. in the report's language (``plots.effects`` of the report text). ``pilot`` and
#: ``comparison`` name the arms in the legend and under the curves.
EFFECT_PLOT_LABELS = {
    "at_risk": "Number at risk (households, unweighted)",
    "all": "all",
    "ci_note": "{level}% CI, {transform} transform",
    "suppressed": "-",
    "curve_ends": "curve ends at {months} months:\nfewer than {threshold} further events,\ntoo few to show a step",
    "curve_ends_at_risk": "curve ends at {months} months:\nafter that fewer than {threshold}\nhouseholds at risk",
    "pilot": "pilot sites",
    "comparison": "comparison regions",
}

#: Texts drawn in the event-study figure (English); ``plots.event_study`` of the report text.
EVENT_STUDY_LABELS = {
    "before": "before the start",
    "after": "from the start",
    "band": "simultaneous 95% band",
    "start": "start",
    "suppressed": "not shown (disclosure control)",
}


#: Texts drawn in the balance figure (English); ``plots.balance`` of the report text. The
#: analyses' names are keyed by analysis (``legal_measures``, ...).
BALANCE_LABELS = {
    "before": "before weighting",
    "after": "after weighting",
    "threshold": "0.1: usual limit of good balance",
    "suppressed": "not shown (disclosure control)",
    "legal_measures": "legal measures",
    "reregistration": "re-registration",
    "safety": "safety",
    "severity: high": "severity: high",
    "severity: low": "severity: low",
    "prior_reports": "prior reports",
    "has_children": "household with children",
    "prior_episodes": "earlier episodes",
}


def _relabel(table: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """A copy with the arms named for the reader; the disclosure record stays with it."""
    out = table.copy()
    if "group" in out.columns:
        out["group"] = out["group"].astype(object).map(lambda g: names.get(str(g), g))
    out.attrs = dict(table.attrs)
    return out


@figure_data("cohort.disclosure.effects", "weighted_curves_figure_data", labels="effects")
def plot_weighted_curves(
    curve: pd.DataFrame,
    at_risk: pd.DataFrame,
    *,
    ax=None,
    title: str | None = None,
    xlabel: str = "Months since registration",
    ylabel: str = "Cumulative incidence (weighted)",
    time_scale: float = DAYS_PER_MONTH,
    legend_title: str | None = None,
    labels: Mapping[str, str] | None = None,
    language: str = "en",
):
    """Weighted cumulative incidence (or survival) per arm, with the households at risk per
    arm underneath.

    Parameters
    ----------
    curve : DataFrame
        :func:`cohort.disclosure.effects.release_curves` output (``group, time, value``;
        times in days); ``attrs["value"]`` says whether it is a survival curve.
    at_risk : DataFrame
        The households at risk per arm (``group, months, n_risk``, as
        :func:`cohort.disclosure.effects.weighted_curves_figure_data` releases them; or
        ``time`` in days, :func:`cohort.disclosure.curves.numbers_at_risk_table`).
    labels : mapping, optional
        Replacements for :data:`EFFECT_PLOT_LABELS`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from cohort.plots.survival import _draw

    require_released(curve, "plot_weighted_curves")
    require_released(at_risk, "plot_weighted_curves")
    labels = {**EFFECT_PLOT_LABELS, **(labels or {})}
    names = {"pilot": labels["pilot"], "comparison": labels["comparison"]}
    value = "survival" if curve.attrs.get("value") == "survival" else "cif"
    shown = _relabel(curve, names).rename(columns={"value": value})
    shown.attrs = dict(curve.attrs)
    under = _relabel(at_risk, names)
    if "time" not in under.columns:  # released with the times in months
        under["time"] = under["months"].to_numpy(dtype=float) * DAYS_PER_MONTH
    fig = _draw(shown, under, value, ax=ax, title=title, xlabel=xlabel, ylabel=ylabel,
                time_scale=time_scale, legend_title=legend_title, labels=labels, what="plot_weighted_curves",
                language=language)
    if value == "cif":
        top = pd.to_numeric(shown[value].astype(object), errors="coerce").max()
        fig.axes[0].set_ylim(0, min(1.0, max(0.05, float(top) * 1.15)) if pd.notna(top) else 1.0)
    if ax is None:  # room on the left for the arms' names under the curves
        longest = max((len(str(n)) for n in names.values()), default=0)
        fig.axes[0].get_gridspec().update(left=min(0.34, max(0.17, 0.012 * longest + 0.04)))
    return fig


@figure_data("cohort.disclosure.effects", "event_study_figure_data", labels="event_study")
def plot_event_study(
    event_study: pd.DataFrame,
    *,
    ax=None,
    title: str | None = None,
    xlabel: str = "Quarters since the start",
    ylabel: str = "Effect",
    labels: Mapping[str, str] | None = None,
    language: str = "en",
):
    """The event study of the staggered start: the effect per event time (quarters since
    the start; negative before it) with its pointwise interval and the simultaneous band.

    Parameters
    ----------
    event_study : DataFrame
        The ``event_study`` table of :func:`cohort.disclosure.effects.release_did_aggregates`
        (``event_time, estimate, ci_lower, ci_upper, band_lower, band_upper, suppressed``).
        A suppressed event time is marked on the zero line with an ``x``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from cohort.disclosure.cells import disclosure_record
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> es = pd.DataFrame({"event_time": [-2, -1, 0, 1], "estimate": [0.0, pd.NA, 0.3, 0.35],
    ...                    "ci_lower": [-0.1, pd.NA, 0.1, 0.1], "ci_upper": [0.1, pd.NA, 0.5, 0.6],
    ...                    "band_lower": [-0.2, pd.NA, 0.0, 0.0], "band_upper": [0.2, pd.NA, 0.6, 0.7],
    ...                    "suppressed": [False, True, False, False]})
    >>> es.attrs["disclosure"] = disclosure_record(DisclosurePolicy(), count_columns=[],
    ...     value_columns=["estimate"], n_suppressed=1)
    >>> figure_facts(plot_event_study(es))["suppressed_times"]
    [-1]
    """
    import matplotlib.pyplot as plt

    from cohort.plots.style import PALETTE, number_axis, record_facts

    require_released(event_study, "plot_event_study")
    labels = {**EVENT_STUDY_LABELS, **(labels or {})}

    def numbers(column):
        return pd.to_numeric(event_study[column].astype(object), errors="coerce").to_numpy(dtype=float)

    e = event_study["event_time"].to_numpy(dtype=float)
    est, lo, hi = numbers("estimate"), numbers("ci_lower"), numbers("ci_upper")
    band_lo, band_hi = numbers("band_lower"), numbers("band_upper")
    shown = np.isfinite(est)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.3, 4.0))
        fig.subplots_adjust(left=0.13, right=0.97, top=0.97, bottom=0.27)
    else:
        fig = ax.figure
    ax.axhline(0.0, color="0.45", lw=0.8, zorder=1)
    ax.axvline(-0.5, color="0.45", lw=0.8, ls="--", zorder=1)
    for side, mask, colour, marker in (("before", shown & (e < 0), PALETTE[0], "o"),
                                       ("after", shown & (e >= 0), PALETTE[1], "s")):
        if not mask.any():
            continue
        ax.vlines(e[mask], band_lo[mask], band_hi[mask], color=colour, lw=5, alpha=0.18, zorder=2)
        ax.errorbar(e[mask], est[mask], yerr=[est[mask] - lo[mask], hi[mask] - est[mask]], fmt=marker,
                    color=colour, ms=4.5, lw=1.2, capsize=2.5, zorder=3, label=labels[side])
    hidden = ~shown
    if hidden.any():
        ax.scatter(e[hidden], np.zeros(int(hidden.sum())), marker="x", s=22, color="0.35", lw=1.0, zorder=4)
    handles, names = ax.get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles.append(Line2D([0], [0], color="0.5", lw=5, alpha=0.3))
    names.append(labels["band"])
    if hidden.any():
        handles.append(Line2D([0], [0], marker="x", color="0.35", lw=0, ms=5))
        names.append(labels["suppressed"])
    ax.legend(handles, names, frameon=False, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.17),
              ncol=2)
    ax.text(-0.45, 0.02, labels["start"], transform=ax.get_xaxis_transform(), fontsize=7, color="0.35",
            ha="left", va="bottom")
    if len(e):
        ax.set_xlim(e.min() - 0.7, e.max() + 0.7)
        step = 1 if e.max() - e.min() <= 16 else 2
        ax.set_xticks(np.arange(int(e.min()), int(e.max()) + 1, step))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(textwrap.fill(ylabel, 34, break_on_hyphens=False) if ylabel else ylabel)
    ax.set_title(title or "")
    ax.grid(True, axis="y", color="0.9")
    ax.spines[["top", "right"]].set_visible(False)
    number_axis(ax, language, "y")
    number_axis(ax, language, "x")
    record_facts(
        fig, kind="event_study", x_min=float(e.min()) if len(e) else None, x_max=float(e.max()) if len(e) else None,
        shown_times=[int(t) for t in e[shown]], suppressed_times=[int(t) for t in e[hidden]],
    )
    return fig


@figure_data("cohort.disclosure.effects", "balance_figure_data", labels="balance")
def plot_balance(
    balance: pd.DataFrame,
    *,
    title: str | None = None,
    xlabel: str = "Absolute standardised difference",
    ylabel: str | None = None,
    labels: Mapping[str, str] | None = None,
    language: str = "en",
    threshold: float = 0.1,
):
    """Balance of the covariates before and after weighting (a "love plot"): the absolute
    standardised difference between the arms per covariate term, one panel per analysis,
    with the usual limit of good balance (0.1).

    Parameters
    ----------
    balance : DataFrame
        The released balance table (:func:`cohort.disclosure.effects.balance_figure_data`:
        ``[analysis,] term, smd_unweighted, smd_weighted, suppressed``). A suppressed term
        is marked with an ``x`` at zero, not drawn.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from cohort.disclosure.effects import balance_figure_data
    >>> from cohort.stats.balance import Balance
    >>> d = pd.DataFrame({"treated": [1] * 12 + [0] * 12, "x": [float(i % 5) for i in range(24)],
    ...                   "sev": ["high"] * 3 + ["low"] * 21})
    >>> table = balance_figure_data(Balance().fit(d, "treated", ["x", "sev"], weights=[1.0] * 24))[""]
    >>> facts = figure_facts(plot_balance(table))
    >>> facts["terms"], facts["suppressed_terms"]
    (['x', 'sev: high', 'sev: low'], ['sev: high', 'sev: low'])
    """
    import matplotlib.pyplot as plt

    from cohort.plots.style import PALETTE, number_axis, record_facts

    require_released(balance, "plot_balance")
    labels = {**BALANCE_LABELS, **(labels or {})}
    table = balance if "analysis" in balance.columns else balance.assign(analysis="")
    analyses = list(dict.fromkeys(table["analysis"].astype(str)))
    terms = list(dict.fromkeys(table["term"].astype(str)))
    position = {term: len(terms) - 1 - i for i, term in enumerate(terms)}

    def numbers(frame, column):
        return np.abs(pd.to_numeric(frame[column].astype(object), errors="coerce").to_numpy(dtype=float))

    height = 1.6 + 0.28 * len(terms)  # inches: the panels, and 1.1 below them for the axis text and legend
    fig, axes = plt.subplots(1, len(analyses), figsize=(6.3, height), sharey=True, squeeze=False)
    longest = max((len(labels.get(t, t)) for t in terms), default=0)
    fig.subplots_adjust(left=min(0.4, 0.06 + 0.0125 * longest), right=0.98, top=1 - 0.35 / height,
                        bottom=1.1 / height, wspace=0.08)
    hidden_terms, top = [], 0.0
    for ax, name in zip(axes[0], analyses, strict=True):
        part = table[table["analysis"].astype(str) == name]
        y = part["term"].astype(str).map(position).to_numpy(dtype=float)
        before, after = numbers(part, "smd_unweighted"), numbers(part, "smd_weighted")
        shown = np.isfinite(before) & np.isfinite(after)
        top = max(top, float(np.nanmax(np.r_[before[shown], after[shown], threshold])))
        ax.axvline(threshold, color="0.45", lw=0.8, ls="--", zorder=1)
        ax.hlines(y[shown], np.minimum(before, after)[shown], np.maximum(before, after)[shown], color="0.75",
                  lw=1.0, zorder=2)
        ax.scatter(before[shown], y[shown], facecolors="white", edgecolors=PALETTE[1], s=24, lw=1.2, zorder=3,
                   label=labels["before"])
        ax.scatter(after[shown], y[shown], color=PALETTE[0], s=24, zorder=4, label=labels["after"])
        if (~shown).any():
            ax.scatter(np.zeros(int((~shown).sum())), y[~shown], marker="x", s=22, color="0.35", lw=1.0, zorder=4,
                       label=labels["suppressed"])
            hidden_terms += [t for t in part["term"].astype(str)[~shown] if t not in hidden_terms]
        ax.set_title(labels.get(name, name.replace("_", " ")) if name else (title or ""), fontsize=9)
        ax.grid(True, axis="x", color="0.9")
        ax.spines[["top", "right"]].set_visible(False)
        number_axis(ax, language, "x")
    for ax in axes[0]:
        ax.set_xlim(0, top * 1.1)
    axes[0][0].set_yticks(list(position.values()), [labels.get(term, term) for term in position])
    axes[0][0].set_ylim(-0.7, len(terms) - 0.3)
    if ylabel:
        axes[0][0].set_ylabel(ylabel)
    fig.supxlabel(xlabel, fontsize=9, y=0.62 / height, va="bottom")
    from matplotlib.lines import Line2D

    handles, names = axes[0][0].get_legend_handles_labels()
    if hidden_terms and labels["suppressed"] not in names:
        handles.append(Line2D([0], [0], marker="x", color="0.35", lw=0, ms=5))
        names.append(labels["suppressed"])
    handles.append(Line2D([0], [0], color="0.45", lw=0.8, ls="--"))
    names.append(labels["threshold"])
    fig.legend(handles, names, frameon=False, fontsize=7.5, loc="lower center", ncol=2, bbox_to_anchor=(0.5, 0.02))
    if title and analyses != [""]:
        fig.suptitle(title)
    record_facts(fig, kind="balance", terms=terms, suppressed_terms=hidden_terms, analyses=analyses,
                 x_min=0.0, x_max=float(top))
    return fig
