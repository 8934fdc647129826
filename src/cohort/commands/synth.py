"""``cohort synth``: write a synthetic delivery.

Without options it writes the calibrated default delivery (the one bundled under
``data/synthetic/default/``), which reproduces the published monitor for 31 December 2024.
``--households N`` writes ``N`` households drawn from the same model without calibration,
chunk by chunk; ``--faults`` plants data-quality faults and lists what was planted where in
``.faults.csv`` (a dot file, so readers of the delivery skip it). ``--design comparison``
writes the comparison design instead (pilot sites with staggered starts and comparison
regions in regular care, with known effects of the new way of working; the one bundled
under ``data/synthetic/comparison/``).
"""

from __future__ import annotations

import argparse

from cohort.exceptions import ParameterError

NAME = "synth"
HELP = "write a synthetic delivery (default: the calibrated bundled delivery)"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    from cohort.synth.comparison import COMPARISON_SEED, DEFAULT_COMPARISON_HOUSEHOLDS
    from cohort.synth.generate import DEFAULT_SEED
    from cohort.synth.write import DESIGNS

    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the tables to (created if missing)")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"random seed (default {DEFAULT_SEED}; {COMPARISON_SEED} for the comparison design)",
    )
    parser.add_argument(
        "--design",
        choices=DESIGNS,
        default="pilot",
        help="pilot: the pilot sites, calibrated to the published monitor (default); "
        "comparison: pilot sites with staggered starts and comparison regions "
        f"({DEFAULT_COMPARISON_HOUSEHOLDS} households unless --households)",
    )
    parser.add_argument(
        "--households",
        type=_positive_int,
        default=None,
        help="number of households of a scaled, uncalibrated delivery (default: the calibrated default)",
    )
    parser.add_argument("--faults", action="store_true", help="plant data-quality faults; they are listed in OUT_DIR/.faults.csv")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")


def run(args: argparse.Namespace) -> int:
    from cohort.synth.write import FAULTS_FILE, synthesize

    if args.out_dir in ("", None):
        raise ParameterError("OUT_DIR is required")
    summary = synthesize(
        args.out_dir,
        seed=args.seed,
        households=args.households,
        faults=args.faults,
        format=args.format,
        design=args.design,
    )
    rows = ", ".join(f"{name} {n}" for name, n in summary["rows"].items())
    print(f"wrote {args.format} delivery to {args.out_dir}: {rows}")
    if args.faults:
        print(f"planted {summary['faults']} faults, listed in {FAULTS_FILE}")
    return 0
