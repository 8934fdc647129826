"""``cohort check-release REPORT_DIR``: scan a report's released files before release."""

from __future__ import annotations

import sys

NAME = "check-release"
HELP = "check every released table and figure-data file of a report for disclosure risks"


def register(parser) -> None:
    parser.add_argument("report", metavar="REPORT_DIR", help="a report folder, e.g. reports/interim-2024q4")
    parser.add_argument(
        "--against",
        metavar="OTHER_REPORT_DIR",
        default=None,
        help="another report released alongside (e.g. the interim report): also check that "
        "the two together do not reveal a suppressed cell by differencing",
    )


def run(args) -> int:
    from cohort.disclosure.check import check_release, format_findings, released_files
    from cohort.exceptions import DisclosureError

    findings = check_release(args.report, against=args.against)
    if findings:
        print(format_findings(findings, limit=200), file=sys.stderr)
        raise DisclosureError(
            f"{args.report}: {len(findings)} problem(s) found; do not release this report until "
            "they are fixed (see the list above)"
        )
    n = len(released_files(args.report))
    against = f" and together with {args.against}" if args.against else ""
    print(f"{args.report}: {n} released files checked{against}: no problems found")
    return 0
