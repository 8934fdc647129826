"""The monitor as the progress report shows it: the quarterly series and the headline figures.

:func:`quarterly_series` evaluates every monitor measure for every quarter from the study
start to the reference date; :func:`monitor_summary` picks the headline figures the
progress report lists; :func:`legal_measures_by_type` counts measures by type.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cohort.definitions.dates import STUDY_START, to_date
from cohort.disclosure.cells import (
    apply_disclosure,
)
from cohort.disclosure.policy import DEFAULT_POLICY, DisclosurePolicy, check_policy
from cohort.exceptions import ParameterError
from cohort.monitor.indicators import (
    CUMULATIVE_INDICATORS,
    INDICATORS,
    TOTAL,
)
from cohort.monitor.measures import evaluate, monitor_measures

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


def quarterly_series(
    tables,
    reference_date,
    *,
    by: str | Sequence[str] | None = None,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    study_start=STUDY_START,
    ci_method: str = "wilson",
    alpha: float = 0.05,
    data=None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The monitor's measures for every quarter from the study start to ``R`` (released).

    The long table of :func:`evaluate` for :func:`monitor_measures`, disclosure control on
    by default.

    ``previous`` is the monitor an earlier report released (this function's output for
    the earlier reference date, or that report's ``tables/monitor.csv`` read with
    :func:`read_released`). With it, the two releases together reveal no suppressed cell:

    * a cell the earlier report suppressed stays suppressed (same indicator, interval and
      groups);
    * a cell it released is known to the reader: it is never chosen as a secondary
      suppression, and relations count it as known;
    * for cumulative indicators, the earlier release's count on a date and this release's
      count on the neighbouring period end must not differ by less than the threshold
      unless this release suppresses its side (the earlier report is out already).

    A delivery revised since may give a cell another value than the earlier report
    released: both values are then released. The new value is shown (not suppressed as a
    secondary, since the old value is out anyway), or hidden by primary suppression if it
    is now below the threshold; the old value takes part in the cross-release relations
    of cumulative counts as a known number. Mixing old and new values of different cells
    of the same period is not an exact relation and is not protected.
    """
    return evaluate(
        monitor_measures(by),
        tables,
        reference_date,
        study_start=study_start,
        policy=policy,
        ci_method=ci_method,
        alpha=alpha,
        data=data,
        previous=previous,
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
    tables,
    reference_date,
    *,
    by: str | Sequence[str] | None = None,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    study_start=STUDY_START,
    comparison_date=None,
    ci_method: str = "wilson",
    alpha: float = 0.05,
    series: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The headline figures of the monitor on the reference date, as a tidy released table.

    One row per figure (and per group when ``by`` is given, totals first): ``figure``,
    ``indicator``, ``interval_start``, ``interval_end``, groups, ``numerator``,
    ``denominator``, ``value``, ``ci_lower``, ``ci_upper``, ``ci_method``, ``suppressed``.
    Both readings of "ended" are there: episodes closed in the last quarter and households
    whose involvement ended since the start. The figures are rows of
    :func:`quarterly_series`, so both tables carry the same suppression.

    Parameters
    ----------
    comparison_date : date, optional
        A second date for "actively involved" (default :func:`comparison_quarter_end`); it
        must be the end of a quarter of the series or the reference date.
    series : DataFrame, optional
        The output of :func:`quarterly_series` for the same arguments, to avoid computing
        it twice.
    previous : DataFrame, optional
        The monitor an earlier report released; see :func:`quarterly_series`.
    """
    reference = to_date(reference_date, "reference_date")
    if series is None:
        series = quarterly_series(
            tables,
            reference,
            by=by,
            policy=policy,
            study_start=study_start,
            ci_method=ci_method,
            alpha=alpha,
            previous=previous,
        )
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
    start = to_date(study_start, "study_start")
    out.insert(out.columns.get_loc("interval_end") + 1, "period", _period_text(out, start))
    out.attrs = dict(series.attrs)
    out.attrs["comparison_date"] = comparison.strftime("%Y-%m-%d")
    return out


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
    policy: DisclosurePolicy = DEFAULT_POLICY,
) -> pd.DataFrame:
    """Compulsory legal measures by type on the reference date, as a released table.

    The measures are exactly those the ``legal_measures`` indicator counts for
    ``[study_start, reference_date]`` (so the ``all`` row equals the monitor's figure):
    columns ``measure_type``, ``measures`` (count) and ``households`` (households with at
    least one measure of that type; a household with two types counts in both, so the
    types do not add up to ``all`` for households). Disclosure control is applied with
    ``all`` as the total of the types.

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
    >>> from cohort.disclosure import NO_DISCLOSURE_CONTROL
    >>> legal_measures_by_type(tables, "2024-12-31", policy=NO_DISCLOSURE_CONTROL)[
    ...     ["measure_type", "measures", "households"]].to_string(index=False)
    '     measure_type  measures  households\\n    barring_order         1           1\\nsupervision_order         1           1\\n              all         2           1'
    """
    from cohort.definitions.episodes import require_columns
    from cohort.monitor.indicators import counted_units, get_table

    policy = check_policy(policy)
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
    # Only the measure counts add up over the types; households do not (a household can
    # have several types), so the relation is declared for the measure counts alone.
    protected = apply_disclosure(
        out, policy, count_columns=["measures"], group_columns=["measure_type"]
    )
    alone = apply_disclosure(out[["measure_type", "households"]], policy, count_columns=["households"])
    protected["households"] = alone["households"]
    protected["suppressed"] = protected["suppressed"] | alone["suppressed"]
    return protected
