"""``cohort monitor``: the quarterly monitor on a reference date, disclosure control on.

Prints the headline figures as the progress report shows them (both readings of "ended":
episodes closed in the last quarter, and households whose involvement ended since the
start) and the quarterly series from the study start to the reference date, for the pilot
sites (``--arm`` counts the comparison sites, or all, instead). ``--csv``
prints the quarterly series as a released CSV instead (every headline figure is a row of
it); suppressed cells carry the marker ``[suppressed]``.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from cohort.definitions.dates import STUDY_START, check_period, to_date
from cohort.definitions.population import restrict
from cohort.disclosure.policy import NO_DISCLOSURE_CONTROL, SUPPRESSED, DisclosurePolicy
from cohort.disclosure.release import release
from cohort.disclosure.writer import released_csv
from cohort.exceptions import ParameterError
from cohort.monitor.indicators import GROUP_COLUMNS, TOTAL, prepare
from cohort.monitor.series import monitor_summary, quarterly_counts
from cohort.stats.intervals import PROPORTION_METHODS as CI_METHODS

NAME = "monitor"
HELP = "Print the quarterly monitor (headline figures and quarterly series) for a reference date."

#: Short column names of the printed quarterly series.
SERIES_COLUMNS = {
    "households_involved": "involved",
    "households_active": "active",
    "ended_since_start": "ended_since_start",
    "ended_in_period": "ended_in_quarter",
    "registrations": "registrations",
    "registrations_without_children": "without_children",
    "registrations_without_children_share": "without_children_%",
    "legal_measures": "measures",
    "legal_measures_share": "measures_per_hh_%",
    "households_with_measure": "hh_with_measure",
    "households_with_measure_share": "hh_with_measure_%",
}


def register(parser) -> None:
    parser.add_argument(
        "delivery", metavar="DELIVERY", help="delivery folder (as read by cohort.load)"
    )
    parser.add_argument(
        "--reference-date",
        required=True,
        metavar="YYYY-MM-DD",
        help="reference date (peildatum); later data is ignored",
    )
    parser.add_argument(
        "--study-start",
        default=STUDY_START.strftime("%Y-%m-%d"),
        metavar="YYYY-MM-DD",
        help="study start (default 2023-01-01)",
    )
    parser.add_argument(
        "--comparison-date",
        metavar="YYYY-MM-DD",
        help="second date for 'actively involved' (a quarter end; default two quarters before)",
    )
    parser.add_argument(
        "--by",
        choices=list(GROUP_COLUMNS),
        help="also per site or per has_children (the totals stay)",
    )
    parser.add_argument(
        "--csv", action="store_true", help="print the quarterly series as released CSV"
    )
    parser.add_argument(
        "--threshold", type=int, metavar="N", help="minimum units behind a cell (default 10)"
    )
    parser.add_argument(
        "--rounding", type=int, metavar="N", help="round released counts to a multiple of N"
    )
    parser.add_argument(
        "--no-disclosure-control",
        action="store_true",
        help="switch disclosure control off (internal work only; recorded and warned about)",
    )
    parser.add_argument(
        "--ci-method", choices=sorted(CI_METHODS), default="wilson", help="interval for proportions"
    )
    parser.add_argument(
        "--arm",
        choices=("pilot", "comparison", "all"),
        default="pilot",
        help="sites counted: the pilot sites (default, as the programme's monitor), the "
        "comparison sites, or all",
    )


def policy_from_args(args) -> DisclosurePolicy:
    """The disclosure policy the options ask for; switching off excludes the other options."""
    if args.no_disclosure_control:
        if args.threshold is not None or args.rounding is not None:
            raise ParameterError(
                "--no-disclosure-control cannot be combined with --threshold or --rounding"
            )
        return NO_DISCLOSURE_CONTROL
    kwargs = {}
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    if args.rounding is not None:
        kwargs["rounding"] = args.rounding
    return DisclosurePolicy(**kwargs)


def run(args) -> int:
    from cohort.delivery.load import load

    policy = policy_from_args(args)
    start, reference = check_period(args.study_start, args.reference_date)
    comparison = (
        None if args.comparison_date is None else to_date(args.comparison_date, "--comparison-date")
    )
    delivery = restrict(load(args.delivery), arms=args.arm)
    data = prepare(delivery, reference, start)
    counts = quarterly_counts(
        delivery, reference, by=args.by, study_start=start, ci_method=args.ci_method, data=data
    )
    series = release(counts, policy)
    summary = monitor_summary(series, comparison_date=comparison)
    if not policy.enabled:
        print(
            "cohort monitor: disclosure control is OFF; this output is not for release",
            file=sys.stderr,
        )
    if args.csv:
        sys.stdout.write(released_csv(series, allow_unprotected=not policy.enabled))
        return 0
    print(render(summary, series, policy, fingerprint=getattr(delivery, "fingerprint", None)))
    return 0


def _pct(x) -> str:
    return "" if pd.isna(x) else f"{100 * float(x):.1f}%"


def _int(x) -> str:
    return "" if pd.isna(x) else f"{int(x)}"


def display_values(table: pd.DataFrame) -> pd.Series:
    """One display string per row: counts as integers, shares as percentages, suppressed
    rows as the marker."""
    kind = table["kind"].to_numpy()
    count_text = table["numerator"].map(_int)
    share_text = table["value"].map(_pct)
    text = pd.Series(np.where(kind == "count", count_text, share_text), index=table.index)
    return text.where(~table["suppressed"].fillna(False).to_numpy(dtype=bool), SUPPRESSED)


def render(
    summary: pd.DataFrame, series: pd.DataFrame, policy: DisclosurePolicy, fingerprint=None
) -> str:
    """The monitor as text: headline figures, then the quarterly series."""
    lines = [
        f"Quarterly monitor: reference date {summary.attrs.get('reference_date')}, "
        f"study start {summary.attrs.get('study_start')}, "
        f"comparison date {summary.attrs.get('comparison_date')}",
    ]
    if fingerprint:
        lines.append(f"Delivery fingerprint: {fingerprint[:16]}")
    lines.append(f"Disclosure control: {policy.describe()}")
    lines.append("")

    headline = summary.copy()
    headline["shown"] = display_values(headline)
    detail = np.where(
        (headline["kind"] != "count").to_numpy()
        & ~headline["suppressed"].fillna(False).to_numpy(dtype=bool),
        headline["numerator"].map(_int) + " / " + headline["denominator"].map(_int),
        "",
    )
    ci = np.where(
        headline["ci_method"].to_numpy() != "none",
        "95% CI "
        + headline["ci_lower"].map(_pct)
        + " to "
        + headline["ci_upper"].map(_pct)
        + " ("
        + headline["ci_method"].astype(str)
        + ")",
        "",
    )
    headline["detail"] = (
        pd.Series(detail, index=headline.index)
        .str.cat(pd.Series(ci, index=headline.index), sep="  ")
        .str.strip()
    )
    headline.loc[headline["suppressed"].fillna(False).to_numpy(dtype=bool), "detail"] = ""
    headline["date"] = headline["period"]
    group = next((g for g in GROUP_COLUMNS if g in headline.columns), None)
    if group is not None:
        wide = headline.pivot_table(
            index=["figure", "date"], columns=group, values="shown", aggfunc="first", sort=False
        )
        wide = wide[[TOTAL, *[c for c in wide.columns if c != TOTAL]]]
        lines.append(f"Headline figures (per {group}; 'all' is the total)")
        lines.append(wide.to_string())
    else:
        lines.append("Headline figures (all sites)")
        lines.append(
            headline[["figure", "date", "shown", "detail"]]
            .rename(columns={"shown": "value"})
            .to_string(index=False)
        )
    lines.append("")
    lines.append(
        "Note: the progress report's 'ended in the fourth quarter' (468 for 31 December 2024) "
        "equals households involved minus households active, i.e. ended since the start; "
        "both readings are shown."
    )
    lines.append("")

    s = series.copy()
    s["shown"] = display_values(s)
    s["quarter"] = s["interval_end"].dt.to_period("Q").astype(str)
    index = [group, "quarter"] if group is not None else ["quarter"]
    wide = s.pivot_table(
        index=index, columns="indicator", values="shown", aggfunc="first", sort=False
    )
    wide = wide[[c for c in SERIES_COLUMNS if c in wide.columns]].rename(columns=SERIES_COLUMNS)
    lines.append(
        "Quarterly series (on-date figures on the quarter's last day; others within the quarter)"
    )
    lines.append(wide.to_string())
    return "\n".join(lines)
