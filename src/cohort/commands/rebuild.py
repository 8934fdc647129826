"""``cohort rebuild REPORT_DIR``: rebuild a report from its provenance and compare bytes."""

from __future__ import annotations

import os
import sys

NAME = "rebuild"
HELP = "rebuild a report from its provenance.json and verify byte-identical tables, figure data and notebooks"


def register(parser) -> None:
    parser.add_argument("report", metavar="REPORT_DIR", help="a report folder, e.g. reports/interim-2024q4")
    parser.add_argument("--jobs", "-j", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def run(args) -> int:
    from cohort.exceptions import ReportError
    from cohort.report.rebuild import rebuild_report

    result = rebuild_report(args.report, jobs=args.jobs, progress=not args.no_progress)
    built, now = result["commit"]["built"], result["commit"]["now"]
    if built != now:
        print(f"note: the report was built at commit {built}, the code is now at {now}", file=sys.stderr)
    if result["commit"].get("built_dirty"):
        print(
            "note: the report was built from a working tree with uncommitted changes; "
            "differences can come from edits made since",
            file=sys.stderr,
        )
    problems = [("differs", f) for f in result["different"]]
    problems += [("missing from the rebuild", f) for f in result["missing"]]
    problems += [("new in the rebuild", f) for f in result["extra"]]
    if problems:
        for what, file in problems:
            print(f"  {file}: {what}", file=sys.stderr)
        raise ReportError(
            f"{args.report}: the rebuild is not byte-identical ({len(problems)} file(s)); "
            "see the list above"
        )
    print(f"{args.report}: rebuilt; {len(result['identical'])} tables, figure-data files and notebooks are byte-identical")
    return 0
