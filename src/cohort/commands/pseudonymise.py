"""``cohort pseudonymise``: replace identifier columns with keyed pseudonyms.

The key comes from ``--key-file PATH`` or the environment variable ``COHORT_PSEUDONYM_KEY``;
there is no option that takes the key itself, so it never shows in the process list or
the shell history (``--key SECRET`` is refused without repeating what followed it).
"""

from __future__ import annotations

from cohort.delivery.pseudonymise import (
    DEFAULT_LENGTH,
    KEY_ENV,
    MAX_LENGTH,
    MIN_LENGTH,
    pseudonymise_delivery,
    read_key,
)

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
        help=f"file holding the secret key (default: the environment variable {KEY_ENV}); "
        "the key itself is never given on the command line",
    )
    parser.add_argument(
        "--length",
        type=int,
        default=DEFAULT_LENGTH,
        help=f"hex characters per pseudonym, {MIN_LENGTH} to {MAX_LENGTH} (default "
        f"{DEFAULT_LENGTH}); a length too short for the delivery's size is refused",
    )
    parser.add_argument("--prefix", default="", help="text put before every pseudonym")


def run(args) -> int:
    key = read_key(args.key_file)
    done = pseudonymise_delivery(
        args.delivery, args.output, args.columns, key, length=args.length, prefix=args.prefix
    )
    for table, cols in done.items():
        print(f"{table}: {', '.join(cols) if cols else 'no identifier columns'}")
    print(f"written to {args.output}; the key was not stored")
    return 0
