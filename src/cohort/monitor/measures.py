"""Measures: indicators as numerator / denominator over intervals and groups, released safely.

In the style of OpenSAFELY's measures framework. A :class:`Measure` names a numerator and an
optional denominator (indicators from :mod:`cohort.indicators`), the columns it is grouped by
(``site``, ``has_children``) and whether it is a proportion. :func:`evaluate` computes all
measures for all intervals (by default every calendar quarter from the study start to the
reference date, the last cut at the reference date) and all groups at once, into one long
table::

    indicator, kind, interval_start, interval_end, site, has_children,
    numerator, denominator, value, ci_lower, ci_upper, ci_method, suppressed

* ``kind`` is ``count`` (value = numerator), ``proportion`` (numerator units are among the
  denominator units; value with a binomial interval, ``ci_method`` ``wilson`` = R's
  ``prop.test(correct = FALSE)`` or ``clopper-pearson`` = R's ``binom.test``) or ``ratio``
  (for instance measures per household, which can exceed 1: no binomial interval, so
  ``ci_method`` is ``none``).
* Group columns a measure is not grouped by hold :data:`~cohort.monitor.indicators.TOTAL`
  (``"all"``); a grouped measure also has the total rows (margins).
* Disclosure control is on by default: every count behind the table is one cell, protected
  together with the totals, the relations between indicators (involved = active + ended)
  and the quarter-to-quarter differences of cumulative counts (see
  :func:`cohort.disclosure.cells.protect_cells`). Values and intervals are computed from the
  released (possibly rounded) counts; a row with a suppressed part is suppressed.
* ``previous=``, the table an earlier report released (the interim report's monitor for
  the final report), protects the new table against that release too: see
  :func:`quarterly_series`.

:func:`quarterly_series` and :func:`monitor_summary` give the monitor as the progress
report shows it; the ``cohort monitor`` command prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cohort.definitions.dates import STUDY_START
from cohort.definitions.population import site_periods
from cohort.exceptions import DefinitionError, ParameterError
from cohort.monitor.indicators import (
    GROUP_COLUMNS,
    INDICATOR_RELATIONS,
    INDICATORS,
    TOTAL,
    _check_group_by,
    check_intervals,
    indicator,
    indicator_counts,
    prepare,
)
from cohort.stats.intervals import PROPORTION_METHODS as CI_METHODS
from cohort.stats.intervals import proportion_ci

#: ``ci_method`` of rows that get no binomial interval (counts, ratios).
NO_CI = "none"

KINDS = ("count", "proportion", "ratio")


@dataclass(frozen=True)
class Measure:
    """One measure: numerator / denominator, grouped.

    Parameters
    ----------
    name : str
        Name of the measure in the output's ``indicator`` column.
    numerator : str
        An indicator name (:data:`cohort.monitor.indicators.INDICATORS`).
    denominator : str, optional
        An indicator name; ``None`` for a plain count.
    group_by : tuple of str
        Among ``("site", "has_children")``; the interval is always a grouping.
    proportion : bool
        The numerator's units are a subset of the denominator's (households with a measure
        among households involved): the value gets a binomial confidence interval. Leave
        ``False`` for a ratio such as measures per household.

    Examples
    --------
    >>> Measure("legal_measures_share", "legal_measures", "households_involved").kind
    'ratio'
    >>> Measure("x", "households_active", group_by=("region",))
    Traceback (most recent call last):
    ...
    cohort.exceptions.DefinitionError: cannot group by 'region': choose distinct columns among site, has_children (the interval is always a grouping)
    """

    name: str
    numerator: str
    denominator: str | None = None
    group_by: tuple[str, ...] = ()
    proportion: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise DefinitionError("a measure needs a name")
        indicator(self.numerator)
        if self.denominator is not None:
            indicator(self.denominator)
        object.__setattr__(self, "group_by", _check_group_by(self.group_by))
        if self.proportion and self.denominator is None:
            raise DefinitionError(f"measure {self.name!r} is a proportion but has no denominator")

    @property
    def kind(self) -> str:
        if self.denominator is None:
            return "count"
        return "proportion" if self.proportion else "ratio"


def monitor_measures(by: str | Sequence[str] | None = None) -> tuple[Measure, ...]:
    """The measures of the quarterly monitor, grouped by ``by`` (``None``, ``"site"``, ...).

    Examples
    --------
    >>> [m.name for m in monitor_measures()][:3]
    ['households_involved', 'households_active', 'ended_since_start']
    """
    group_by = () if by is None else _check_group_by(by)
    return (
        Measure("households_involved", "households_involved", group_by=group_by),
        Measure("households_active", "households_active", group_by=group_by),
        Measure("ended_since_start", "ended_since_start", group_by=group_by),
        Measure("ended_in_period", "ended_in_period", group_by=group_by),
        Measure("registrations", "registrations", group_by=group_by),
        Measure(
            "registrations_without_children", "registrations_without_children", group_by=group_by
        ),
        Measure(
            "registrations_without_children_share",
            "registrations_without_children",
            "registrations",
            group_by=group_by,
            proportion=True,
        ),
        Measure("legal_measures", "legal_measures", group_by=group_by),
        Measure("legal_measures_share", "legal_measures", "households_involved", group_by=group_by),
        Measure("households_with_measure", "households_with_measure", group_by=group_by),
        Measure(
            "households_with_measure_share",
            "households_with_measure",
            "households_involved",
            group_by=group_by,
            proportion=True,
        ),
    )


def _closure(names: set[str]) -> list[str]:
    """Indicators needed for ``names`` and for the relations disclosure control checks."""
    needed = set(names)
    changed = True
    while changed:
        changed = False
        for total, parts in INDICATOR_RELATIONS:
            members = {total, *(p for p in parts if p is not None)}
            if members & needed and not members <= needed:
                needed |= members
                changed = True
    return [n for n in INDICATORS if n in needed]


@dataclass(frozen=True)
class MeasureCounts:
    """The counts behind a set of measures, before disclosure control.

    ``cube`` holds one row per cell: indicator x interval x group (margins included),
    with its ``count`` of units, in blocks of equal keys per indicator (as
    :func:`cohort.monitor.indicators.indicator_counts` returns them). Release it with
    :func:`cohort.disclosure.release.release` (the rule is
    :func:`cohort.disclosure.monitor.release_measures`); :meth:`table` assembles the long
    measures table from given counts. ``site_periods`` holds each site's delivery period
    (``{site: (delivery_start, delivery_end)}``, from the delivery's ``sites`` table): a
    site's count outside it is a structural zero.
    """

    cube: pd.DataFrame
    measures: tuple
    groups: tuple
    intervals: pd.DataFrame
    study_start: pd.Timestamp
    reference_date: pd.Timestamp
    ci_method: str = "wilson"
    alpha: float = 0.05
    site_periods: dict = field(default_factory=dict)

    def table(self, counts=None, cell_suppressed=None) -> pd.DataFrame:
        """The long measures table computed from ``counts`` (one per cube row; default the
        cube's own counts), with ``cell_suppressed`` cells (default none) marked.

        Values and intervals are computed from the given (released) counts; a row with a
        suppressed numerator or denominator is suppressed. Without arguments this is the
        unprotected table, for internal work only.
        """
        cube = self.cube.reset_index(drop=True)
        released = (
            pd.array(cube["count"].to_numpy(dtype=np.int64), dtype="Int64")
            if counts is None
            else pd.array(counts, dtype="Int64")
        )
        hidden = (
            np.zeros(len(cube), dtype=bool)
            if cell_suppressed is None
            else np.asarray(cell_suppressed, dtype=bool)
        )
        cube = cube.assign(released=released, cell_suppressed=hidden)
        out = _measure_rows(cube, self.measures, self.groups, self.ci_method, self.alpha)
        return _dated(out, self.study_start, self.reference_date)


def count_measures(
    measures: Sequence[Measure],
    tables,
    reference_date,
    *,
    study_start=STUDY_START,
    intervals=None,
    ci_method: str = "wilson",
    alpha: float = 0.05,
    data=None,
) -> MeasureCounts:
    """Count the units behind measures for every interval and group.

    Parameters
    ----------
    measures : sequence of Measure
    tables : Delivery or mapping of DataFrames
        The delivery (``households``, ``episodes``, ``legal_measures``; ``sites`` optional).
    reference_date : date or str
        ``R``: data after it is ignored.
    study_start : date or str
        ``S``, default 1 January 2023.
    intervals : DataFrame or sequence of (start, end), optional
        Default :func:`cohort.monitor.indicators.quarterly_intervals` (every quarter from ``S``,
        the last cut at ``R``).
    ci_method : {"wilson", "clopper-pearson"}
        Interval for proportions.
    alpha : float
        1 - confidence level.
    data : MonitorData, optional
        An already prepared delivery (:func:`cohort.monitor.indicators.prepare`).

    Returns
    -------
    MeasureCounts
        Unprotected counts: release them with :func:`cohort.disclosure.release.release`.

    Raises
    ------
    DefinitionError
        On an unknown indicator or grouping, or two measures with the same name.
    ParameterError
        On bad dates, intervals, ``ci_method`` or ``alpha``.
    """
    measures = list(measures)
    if not measures or not all(isinstance(m, Measure) for m in measures):
        raise DefinitionError("count_measures needs a non-empty sequence of Measure objects")
    names = [m.name for m in measures]
    if len(set(names)) != len(names):
        raise DefinitionError(f"measure names must be unique, got {names}")
    if ci_method not in CI_METHODS:
        raise ParameterError(f"ci_method must be one of {', '.join(CI_METHODS)}, got {ci_method!r}")
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ParameterError(f"alpha must be between 0 and 1, got {alpha!r}")
    if data is None:
        data = prepare(tables, reference_date, study_start)
    iv = check_intervals(intervals, data.study_start, data.reference_date)
    groups = tuple(g for g in GROUP_COLUMNS if any(g in m.group_by for m in measures))
    needed = _closure(
        {m.numerator for m in measures} | {m.denominator for m in measures if m.denominator}
    )
    cube = indicator_counts(
        None, None, needed, group_by=groups, intervals=iv, margins=True, data=data
    )
    return MeasureCounts(
        cube=cube.reset_index(drop=True),
        measures=tuple(measures),
        groups=groups,
        intervals=iv,
        study_start=data.study_start,
        reference_date=data.reference_date,
        ci_method=ci_method,
        alpha=float(alpha),
        site_periods=site_periods(tables) if tables is not None else {},
    )


def _dated(out: pd.DataFrame, study_start, reference_date) -> pd.DataFrame:
    out.attrs["study_start"] = study_start.strftime("%Y-%m-%d")
    out.attrs["reference_date"] = reference_date.strftime("%Y-%m-%d")
    return out


def _measure_rows(protected: pd.DataFrame, measures, groups, ci_method, alpha) -> pd.DataFrame:
    """The long measures table from a cube with ``released`` counts and ``cell_suppressed``."""
    pieces = []
    for order, m in enumerate(measures):  # a handful of measures, each vectorised
        num = _select(protected, m.numerator, m.group_by, groups)
        den = _select(protected, m.denominator, m.group_by, groups) if m.denominator else None
        piece = num[["interval_start", "interval_end", *groups]].copy()
        piece.insert(0, "indicator", m.name)
        piece.insert(1, "kind", m.kind)
        piece["numerator"] = num["released"].array
        piece["_num_sup"] = num["cell_suppressed"].to_numpy()
        if den is None:
            piece["denominator"] = pd.array([pd.NA] * len(piece), dtype="Int64")
            piece["_den_sup"] = False
        else:
            piece["denominator"] = den["released"].array
            piece["_den_sup"] = den["cell_suppressed"].to_numpy()
        piece["_order"] = order
        pieces.append(piece)
    out = pd.concat(pieces, ignore_index=True)
    suppressed = out["_num_sup"].to_numpy(dtype=bool) | out["_den_sup"].to_numpy(dtype=bool)
    num = out["numerator"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    den = out["denominator"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    kind = out["kind"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(kind == "count", num, np.where(den > 0, num / den, np.nan))
    lower, upper = proportion_ci(num, den, ci_method, alpha)
    is_prop = kind == "proportion"
    lower = np.where(is_prop, lower, np.nan)
    upper = np.where(is_prop, upper, np.nan)
    value[suppressed] = np.nan
    lower[suppressed] = np.nan
    upper[suppressed] = np.nan
    out["value"] = pd.array(value, dtype="Float64")
    out["ci_lower"] = pd.array(lower, dtype="Float64")
    out["ci_upper"] = pd.array(upper, dtype="Float64")
    for c in ("value", "ci_lower", "ci_upper"):
        out[c] = out[c].mask(out[c].isna(), pd.NA)
    out["ci_method"] = np.where(is_prop, ci_method, NO_CI)
    out["ci_method"] = out["ci_method"].astype("string")
    out["suppressed"] = pd.array(suppressed, dtype="boolean")

    sort_keys = ["_order", "interval_start", "interval_end"]
    for g in groups:
        out[f"_{g}_total"] = out[g] != TOTAL
        sort_keys += [f"_{g}_total", g]
    out = out.sort_values(sort_keys, kind="mergesort").reset_index(drop=True)
    columns = [
        "indicator",
        "kind",
        "interval_start",
        "interval_end",
        *groups,
        "numerator",
        "denominator",
        "value",
        "ci_lower",
        "ci_upper",
        "ci_method",
        "suppressed",
    ]
    return out[columns]


def _select(cube: pd.DataFrame, name: str, group_by, groups) -> pd.DataFrame:
    """Rows of ``cube`` for indicator ``name`` grouped by ``group_by`` (others at TOTAL)."""
    mask = (cube["indicator"] == name).to_numpy()
    for g in groups:
        if g not in group_by:
            mask &= (cube[g] == TOTAL).to_numpy(dtype=bool)
    return cube.loc[mask]
