"""``cohort report PARAMS.yaml``: run the notebooks and build ``reports/<name>/``."""

from __future__ import annotations

import os

NAME = "report"
HELP = "run the notebooks for a parameter file and build reports/<name>/ (HTML, tables, provenance)"


def register(parser) -> None:
    parser.add_argument("params", metavar="PARAMS.yaml", help="parameter file, e.g. parameters/interim-2024q4.yaml")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="notebooks to run at the same time (default: 2, or 1 on a single core)",
    )
    parser.add_argument("--reports-dir", default=None, help="folder holding the reports (default: reports/)")
    parser.add_argument(
        "--against",
        metavar="OTHER_REPORT_DIR",
        default=None,
        help="a report released before (e.g. reports/interim-2024q4): the monitor is protected "
        "against its released monitor (cells it suppressed stay suppressed), and the release check "
        "also makes sure the two together do not reveal a suppressed cell",
    )
    parser.add_argument(
        "--ledger",
        metavar="LEDGER_DIR",
        default=None,
        help="the release ledger the report is protected against and recorded in (default: "
        "$COHORT_LEDGER, else .ledger in the reports folder)",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def run(args) -> int:
    from cohort.exceptions import ParameterError
    from cohort.report.build import build_report

    if args.jobs < 1:
        raise ParameterError(f"--jobs must be at least 1, got {args.jobs}")
    folder = build_report(
        args.params,
        jobs=args.jobs,
        reports_root=args.reports_dir,
        progress=not args.no_progress,
        against=args.against,
        ledger=args.ledger,
    )
    print(f"report built: {folder}/report.html (release check passed; recorded in the release ledger)")
    return 0
