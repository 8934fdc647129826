"""``cohort validate``: check a delivery, print a summary, quarantine rejected rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

NAME = "validate"
HELP = "validate a delivery folder: summary per table and rule, rejected rows quarantined"

#: How many violation messages are printed before pointing to the CSV.
SHOWN = 20


def register(parser) -> None:
    parser.add_argument("delivery", help="delivery folder (one file per table, or a workbook)")
    parser.add_argument(
        "--proceed",
        action="store_true",
        help="exit 0 even when rows are rejected (they are quarantined and counted)",
    )
    parser.add_argument(
        "--violations-csv",
        metavar="PATH",
        help="where to write the full list of violations (default: violations.csv in the "
        "quarantine folder)",
    )
    parser.add_argument(
        "--quarantine",
        metavar="DIR",
        help="folder for rejected rows (default: data/quarantine/<delivery name>/)",
    )
    parser.add_argument(
        "--tolerance-days",
        type=int,
        default=None,
        help="days legal measures and assessments may lie outside their episode, 0 to 365 "
        "(default 30)",
    )
    parser.add_argument(
        "--max-file-mb",
        type=float,
        default=None,
        metavar="MB",
        help="largest file read, in MB (default 1024, or the environment variable "
        "COHORT_MAX_FILE_MB); a larger file is refused before it is read",
    )


def run(args) -> int:
    from cohort.delivery.load import project_root
    from cohort.delivery.validate import EPISODE_TOLERANCE_DAYS, check_tolerance, validate_delivery
    from cohort.exceptions import ParameterError, ValidationError

    tol = EPISODE_TOLERANCE_DAYS if args.tolerance_days is None else args.tolerance_days
    tol = check_tolerance(tol, "--tolerance-days")
    limit = None
    if args.max_file_mb is not None:
        if not 0 < args.max_file_mb <= 1 << 20:
            raise ParameterError(
                f"--max-file-mb must be a positive number of MB (at most {1 << 20:,}), got "
                f"{args.max_file_mb:g}"
            )
        limit = int(args.max_file_mb * (1 << 20))
    report = validate_delivery(args.delivery, tolerance_days=tol, max_file_bytes=limit)
    delivery = Path(args.delivery)
    quarantine = (
        Path(args.quarantine)
        if args.quarantine
        else project_root() / "data" / "quarantine" / delivery.resolve().name
    )
    written = report.write_quarantine(quarantine)
    if args.violations_csv:
        violations_path = report.write_violations(args.violations_csv)
        default = quarantine / "violations.csv"
        if default.exists() and default.resolve() != Path(violations_path).resolve():
            default.unlink()  # one list only, where the user asked for it
    else:
        violations_path = written["violations"]
    print(f"delivery {delivery.resolve().name} (fingerprint {report.fingerprint[:12]})")
    print()
    print("rows and lines per table (read = accepted + rejected):")
    print(_table(report.accounting.drop(columns="file")))
    print()
    summary = report.summary
    if summary.empty:
        print("no violations")
    else:
        print("violations per table and rule:")
        print(_table(summary))
        print()
        shown = report.violations.head(SHOWN)
        for message in shown["message"]:
            print(f"  {message}")
        if len(report.violations) > SHOWN:
            print(f"  ... and {len(report.violations) - SHOWN} more")
    print()
    print(f"full list of violations: {violations_path}")
    if len(written) > 1:
        print(f"rejected rows: {quarantine}")
    if not report.ok and not args.proceed:
        raise ValidationError(
            f"{report.n_errors} validation errors, "
            f"{int(report.accounting['rows_rejected'].sum())} rows rejected; see "
            f"{violations_path} (use --proceed to accept the valid rows)",
            violations=report.violations,
        )
    return 0


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False)
