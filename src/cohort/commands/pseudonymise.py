"""``cohort pseudonymise``: replace identifier columns with keyed pseudonyms."""

from __future__ import annotations

from cohort.delivery.pseudonymise import DEFAULT_LENGTH, KEY_ENV, pseudonymise_delivery, read_key

NAME = "pseudonymise"
HELP = "replace identifier columns of a delivery with keyed HMAC-SHA256 pseudonyms"


def register(parser) -> None:
    parser.add_argument("delivery", help="delivery folder with the identifying values")
    parser.add_argument("output", help="new folder for the pseudonymised delivery (CSV)")
    parser.add_argument(
        "--column",
        "-c",
        action="append",
        dest="columns",
        metavar="NAME",
        help="a column to pseudonymise wherever it occurs (repeat the option; default: "
        "household_id, episode_id, measure_id, assessment_id, referral_id where present)",
    )
    parser.add_argument(
        "--key-file",
        metavar="PATH",
        help=f"file holding the secret key (default: the environment variable {KEY_ENV})",
    )
    parser.add_argument(
        "--length",
        type=int,
        default=DEFAULT_LENGTH,
        help=f"hex characters per pseudonym (default {DEFAULT_LENGTH})",
    )
    parser.add_argument("--prefix", default="", help="text put before every pseudonym")


def run(args) -> int:
    from cohort.delivery import schema
    from cohort.delivery.read import read_raw_delivery

    key = read_key(args.key_file)
    columns = args.columns
    if not columns:
        raw = read_raw_delivery(args.delivery)
        present = {c for t in raw.tables.values() for c in t.frame.columns}
        columns = [c for c in schema.ID_COLUMNS if c in present]
    done = pseudonymise_delivery(
        args.delivery, args.output, columns, key, length=args.length, prefix=args.prefix
    )
    for table, cols in done.items():
        print(f"{table}: {', '.join(cols) if cols else 'no identifier columns'}")
    print(f"written to {args.output}; the key was not stored")
    return 0
