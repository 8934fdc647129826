"""``cohort check-release REPORT_DIR``: check a report's released files before release.

Every file in every subfolder and format is read and judged by content; the threshold is
the workbench minimum (or a lowering on record: the ledger entry of this release, or the
parameter file named with ``--parameters``), never one the report states about itself;
and the attack audit runs over this report and every earlier release in the ledger.
"""

from __future__ import annotations

import sys

NAME = "check-release"
HELP = "check every released file of a report, and the report against every earlier release"


def register(parser) -> None:
    parser.add_argument("report", metavar="REPORT_DIR", help="a report folder, e.g. reports/interim-2024q4")
    parser.add_argument(
        "--against",
        metavar="OTHER_REPORT_DIR",
        default=None,
        help="another report released alongside that may not be in the ledger (e.g. built "
        "elsewhere): audit the two together",
    )
    parser.add_argument(
        "--ledger",
        metavar="LEDGER_DIR",
        default=None,
        help="the release ledger: the report is audited against every other release in it "
        "(default: $COHORT_LEDGER, else .ledger next to the report)",
    )
    parser.add_argument(
        "--parameters",
        metavar="PARAMS.yaml",
        default=None,
        help="the report's parameter file: its disclosure settings (an explicit "
        "lower_minimum included) are the ones checked",
    )
    parser.add_argument(
        "--no-audit",
        action="store_true",
        help="skip the attack audit (content rules only)",
    )


def _settings(path):
    """The disclosure settings of a parameter file (only its ``disclosure`` mapping)."""
    from pathlib import Path

    import yaml

    from cohort.disclosure.policy import disclosure_settings
    from cohort.exceptions import InputNotFoundError, ParameterError

    file = Path(path)
    if not file.is_file():
        raise InputNotFoundError(f"parameter file {file} does not exist")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ParameterError(f"{file}: not a readable YAML parameter file") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{file}: a parameter file is a mapping of keys to values")
    return disclosure_settings(data.get("disclosure"), source=str(file))


def run(args) -> int:
    from cohort.disclosure.check import errors, format_findings, run_check
    from cohort.exceptions import DisclosureError

    settings = _settings(args.parameters) if args.parameters else None
    result = run_check(
        args.report,
        against=args.against,
        ledger=args.ledger,
        settings=settings,
        audit=not args.no_audit,
    )
    bad = errors(result.findings)
    warnings = [f for f in result.findings if f.severity != "error"]
    s = result.settings
    summary = (
        f"{args.report}: {len(result.files)} released files checked with threshold "
        f"{s.policy.threshold} (from {s.source}; workbench minimum {s.minimum}), protection "
        f"width {s.width}"
    )
    if result.ledger is not None and not args.no_audit:
        summary += f"; audited against {result.earlier_releases} earlier release(s) in {result.ledger.path}"
    if warnings:
        print(format_findings(warnings, limit=20), file=sys.stderr)
    if bad:
        print(format_findings(bad, limit=200), file=sys.stderr)
        print(summary, file=sys.stderr)
        raise DisclosureError(
            f"{args.report}: {len(bad)} problem(s) found; do not release this report until "
            "they are fixed (see the list above)"
        )
    print(summary + ": no problems found")
    return 0
