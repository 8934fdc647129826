"""The monitor as the progress report shows it: the quarterly series and the headline figures.

:func:`quarterly_counts` counts every monitor measure for every quarter from the study
start to the reference date (release it with :func:`cohort.disclosure.release.release`);
:func:`monitor_summary` picks the headline figures the progress report lists from a
(released) series; :func:`changes_since` sets two reports' headline figures side by side;
:func:`legal_measures_by_type` counts measures by type.

Nothing here applies disclosure control: the functions return counts, and the rules of
:mod:`cohort.disclosure` release them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cohort.definitions.dates import STUDY_START, to_date
from cohort.exceptions import ParameterError
from cohort.monitor.indicators import (
    CUMULATIVE_INDICATORS,
    INDICATORS,
    TOTAL,
)
from cohort.monitor.measures import MeasureCounts, count_measures, monitor_measures
from cohort.roles import with_roles

# --- the monitor -----------------------------------------------------------------------

#: Headline figures of the monitor, as the progress report lists them:
#: (figure, measure, which interval: "last" quarter or "comparison" quarter).
HEADLINE = (
    ("households involved since the study start", "households_involved", "last"),
    ("compulsory legal measures since the study start", "legal_measures", "last"),
    ("legal measures per household involved", "legal_measures_share", "last"),
    ("households with a legal measure", "households_with_measure", "last"),
    ("share of households involved with a legal measure", "households_with_measure_share", "last"),
    ("households actively involved on the reference date", "households_active", "last"),
    ("households actively involved on the comparison date", "households_active", "comparison"),
    ("involvements ended in the last quarter (episodes closed)", "ended_in_period", "last"),
    (
        "households whose involvement ended since the start (involved - active)",
        "ended_since_start",
        "last",
    ),
    ("registrations in the last quarter", "registrations", "last"),
    (
        "registrations in the last quarter, households without children",
        "registrations_without_children",
        "last",
    ),
    ("share of registrations without children", "registrations_without_children_share", "last"),
)


def quarterly_counts(
    tables,
    reference_date,
    *,
    by: str | Sequence[str] | None = None,
    study_start=STUDY_START,
    ci_method: str = "wilson",
    alpha: float = 0.05,
    data=None,
) -> MeasureCounts:
    """The counts behind the monitor's measures for every quarter from the study start to ``R``.

    :func:`cohort.monitor.measures.count_measures` for :func:`monitor_measures`; release
    the result with :func:`cohort.disclosure.release.release` (optionally against the
    monitor an earlier report released: ``previous=``).

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> from cohort.disclosure.release import release
    >>> tables = {
    ...     "households": pd.DataFrame({"household_id": [f"H{i}" for i in range(12)],
    ...         "site": ["A"] * 12, "has_children": [True] * 12}),
    ...     "episodes": pd.DataFrame({"episode_id": [f"E{i}" for i in range(12)],
    ...         "household_id": [f"H{i}" for i in range(12)], "site": ["A"] * 12,
    ...         "registration_date": pd.to_datetime(["2023-02-01"] * 12),
    ...         "closure_date": pd.to_datetime([None] * 12)}),
    ...     "legal_measures": pd.DataFrame({"measure_id": [], "household_id": [],
    ...         "measure_type": [], "start_date": pd.to_datetime([])}),
    ... }
    >>> series = release(quarterly_counts(tables, "2023-03-31"), DisclosurePolicy())
    >>> int(series.set_index("indicator").loc["households_active", "numerator"])
    12
    """
    return count_measures(
        monitor_measures(by),
        tables,
        reference_date,
        study_start=study_start,
        ci_method=ci_method,
        alpha=alpha,
        data=data,
    )


def comparison_quarter_end(reference_date, study_start=STUDY_START) -> pd.Timestamp:
    """The default comparison date: the end of the quarter two quarters before ``R``'s.

    For 31 December 2024 that is 30 June 2024, as in the progress report; never before the
    end of the study's first quarter.

    Examples
    --------
    >>> comparison_quarter_end("2024-12-31")
    Timestamp('2024-06-30 00:00:00')
    """
    reference = to_date(reference_date, "reference_date")
    start = to_date(study_start, "study_start")
    quarter = reference.to_period("Q") - 2
    first = start.to_period("Q")
    if quarter < first:
        quarter = first
    return min(quarter.end_time.normalize(), reference)


def monitor_summary(
    series: pd.DataFrame,
    *,
    comparison_date=None,
) -> pd.DataFrame:
    """The headline figures of the monitor on the reference date, from its series.

    ``series`` is the long measures table of :func:`quarterly_counts` (released, or
    assembled without protection for internal work); the reference date and the study
    start are the series' own (``attrs``). One row per figure (and per group when the
    series is grouped, totals first): ``figure``, ``indicator``, ``interval_start``,
    ``interval_end``, ``period``, groups, ``numerator``, ``denominator``, ``value``,
    ``ci_lower``, ``ci_upper``, ``ci_method``, ``suppressed``. Both readings of "ended"
    are there: episodes closed in the last quarter and households whose involvement ended
    since the start. The figures are rows of the series, so both carry the same
    suppression (and the same disclosure record).

    Parameters
    ----------
    comparison_date : date, optional
        A second date for "actively involved" (default :func:`comparison_quarter_end`); it
        must be the end of a quarter of the series or the reference date.
    """
    try:
        reference = to_date(series.attrs["reference_date"], "reference_date")
        study_start = to_date(series.attrs["study_start"], "study_start")
    except KeyError:
        raise ParameterError(
            "monitor_summary needs the monitor's series (quarterly_counts, released), which "
            "records its reference date and study start"
        ) from None
    comparison = (
        comparison_quarter_end(reference, study_start)
        if comparison_date is None
        else to_date(comparison_date, "comparison_date")
    )
    ends = pd.DatetimeIndex(series["interval_end"].unique())
    if comparison not in ends:
        raise ParameterError(
            f"comparison_date {comparison.date()} is not the end of a quarter between the "
            f"study start and {reference.date()}; choose a quarter end such as "
            f"{comparison_quarter_end(reference, study_start).date()}"
        )
    last = ends.max()
    pieces = []
    for order, (figure, name, which) in enumerate(HEADLINE):
        end = last if which == "last" else comparison
        rows = series.loc[
            (series["indicator"] == name).to_numpy() & (series["interval_end"] == end).to_numpy()
        ]
        rows = rows.copy()
        rows.insert(0, "figure", figure)
        rows["_order"] = order
        pieces.append(rows)
    out = pd.concat(pieces, ignore_index=False)
    out = (
        out.sort_values(["_order"], kind="mergesort").drop(columns="_order").reset_index(drop=True)
    )
    out.insert(out.columns.get_loc("interval_end") + 1, "period", _period_text(out, study_start))
    out.attrs = dict(series.attrs)
    out.attrs["comparison_date"] = comparison.strftime("%Y-%m-%d")
    return out


def changes_since(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """The headline figures of two reports side by side, all sites, with the change.

    ``previous`` and ``current`` are :func:`monitor_summary` tables of two reports (both
    released: the earlier report's as it was released). One row per headline figure of
    ``current``: ``figure, kind, previous_date, previous_n, previous_value, current_date,
    current_n, current_value, change`` (``current_value - previous_value``; values from
    the released counts, as the monitor computes them) and each side's ``suppressed``
    flag. A figure new since then has no previous side. Release it with
    :func:`cohort.disclosure.release.release` (rule "changes between reports").
    """

    def side(summary, prefix):
        summary = summary.loc[(summary["site"].astype(str) == TOTAL).to_numpy()] if "site" in summary else summary
        # Values from the released counts, as evaluate computes them: the same numbers
        # whether the earlier release was computed here or read back from its CSV file.
        numerator = summary["numerator"].astype("Float64")
        ratio = numerator / summary["denominator"].astype("Float64").where(lambda d: d > 0)
        value = numerator.where((summary["kind"] == "count").to_numpy(), ratio)
        value = value.where(summary["value"].notna().to_numpy(), pd.NA)
        return pd.DataFrame(
            {
                "figure": summary["figure"].astype(str),
                "kind": summary["kind"].astype(str),
                f"{prefix}_date": summary["interval_end"],
                f"{prefix}_n": summary["numerator"].astype("Int64"),
                f"{prefix}_value": value.astype("Float64").to_numpy(),
                f"{prefix}_suppressed": summary["suppressed"].fillna(False).astype(bool),
            }
        )

    before, after = side(previous, "previous"), side(current, "current")
    # In the order of the current headline figures.
    out = after.merge(before, on=["figure", "kind"], how="left", sort=False)
    out = out[["figure", "kind", *before.columns[2:], *after.columns[2:]]]
    out["change"] = (out["current_value"] - out["previous_value"]).astype("Float64")
    out = out[[c for c in out.columns if not c.endswith("_suppressed")] + ["previous_suppressed", "current_suppressed"]]
    return with_roles(
        out,
        counts=["previous_n", "current_n"],
        values=["previous_value", "current_value", "change"],
        keys=["figure", "kind", "previous_date", "current_date"],
        rule="changes between reports",
    )


def _period_text(headline: pd.DataFrame, study_start: pd.Timestamp) -> pd.Series:
    # A headline figure is read against one of three periods, and the quarter's own start
    # date would mislead for the first two: counted since the study start (involved,
    # measures, ended since the start), on a date (active), or within the quarter.
    numerator = {m.name: m.numerator for m in monitor_measures()}
    name = headline["indicator"].map(lambda n: numerator.get(n, n))
    since_start = name.isin([*CUMULATIVE_INDICATORS, "ended_since_start"])
    in_period = name.map(lambda n: INDICATORS[n].kind == "in_period" if n in INDICATORS else False)
    end = headline["interval_end"].dt.strftime("%Y-%m-%d")
    first = headline["interval_start"].dt.strftime("%Y-%m-%d").where(
        in_period.to_numpy(dtype=bool), study_start.strftime("%Y-%m-%d")
    )
    ranged = since_start.to_numpy(dtype=bool) | in_period.to_numpy(dtype=bool)
    return (first + " to " + end).where(ranged, end)


def legal_measures_by_type(
    tables,
    reference_date,
    *,
    study_start=STUDY_START,
) -> pd.DataFrame:
    """Compulsory legal measures by type on the reference date (counts, with roles).

    The measures are exactly those the ``legal_measures`` indicator counts for
    ``[study_start, reference_date]`` (so the ``all`` row equals the monitor's figure):
    columns ``measure_type``, ``measures`` (count) and ``households`` (households with at
    least one measure of that type; a household with two types counts in both, so the
    types do not add up to ``all`` for households: only ``measures`` is declared additive
    over ``measure_type``, whose ``all`` row is the total).

    Examples
    --------
    >>> tables = {
    ...     "households": pd.DataFrame({"household_id": ["H1", "H2"], "site": ["A", "A"],
    ...                                 "has_children": [True, True]}),
    ...     "episodes": pd.DataFrame({"episode_id": ["E1", "E2"], "household_id": ["H1", "H2"],
    ...         "site": ["A", "A"], "registration_date": pd.to_datetime(["2023-02-01"] * 2),
    ...         "closure_date": pd.to_datetime([None, None])}),
    ...     "legal_measures": pd.DataFrame({"measure_id": ["M1", "M2", "M3"],
    ...         "household_id": ["H1", "H1", "H2"],
    ...         "measure_type": ["supervision_order", "barring_order", "supervision_order"],
    ...         "start_date": pd.to_datetime(["2023-03-01", "2023-04-01", "2022-12-01"])}),
    ... }
    >>> legal_measures_by_type(tables, "2024-12-31")[
    ...     ["measure_type", "measures", "households"]].to_string(index=False)
    '     measure_type  measures  households\\n    barring_order         1           1\\nsupervision_order         1           1\\n              all         2           1'
    """
    from cohort.definitions.episodes import require_columns
    from cohort.monitor.indicators import counted_units, get_table

    reference = to_date(reference_date, "reference_date")
    start = to_date(study_start, "study_start")
    ids = counted_units(tables, "legal_measures", start, reference, study_start=start)
    measures = get_table(tables, "legal_measures")
    require_columns(measures, "legal_measures", ("measure_id", "household_id", "measure_type"))
    counted = measures.loc[measures["measure_id"].astype("string").isin(ids.astype(str))]
    per_type = (
        counted.groupby(counted["measure_type"].astype("string"), observed=True, sort=True)
        .agg(measures=("measure_id", "size"), households=("household_id", "nunique"))
        .reset_index()
    )
    total = pd.DataFrame(
        {
            "measure_type": [TOTAL],
            "measures": [len(counted)],
            "households": [counted["household_id"].nunique()],
        }
    )
    out = pd.concat([per_type, total], ignore_index=True)
    out["measure_type"] = out["measure_type"].astype("string")
    out[["measures", "households"]] = out[["measures", "households"]].astype("int64")
    return with_roles(
        out, counts=["measures", "households"], groups=["measure_type"], additive=["measures"]
    )
