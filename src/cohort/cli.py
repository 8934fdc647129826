"""The ``cohort`` command-line program.

Subcommands live in :mod:`cohort.commands`, one module each. Errors a user can cause
(:class:`cohort.exceptions.CohortError`) are printed as one line on stderr, without a
traceback, and the process exits with the error's exit code.

Options are never abbreviated (``--key`` is not taken for ``--key-file``), and a
command-line error never repeats the values it was given: a mistyped option may have been
followed by a secret (``--key SECRET``), and whatever follows it is reported by count, not
shown.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys
from collections.abc import Sequence

import cohort
from cohort import commands
from cohort.exceptions import CohortError, exit_code_for

#: Option names that suggest a secret typed on the command line.
_SECRET_OPTIONS = re.compile(r"^--?(key|secret|password|passwd|token|pseudonym[-_]key)$", re.I)


def _without_values(message: str) -> str:
    """An argparse error message with the user's values left out.

    Examples
    --------
    >>> _without_values("unrecognized arguments: --key s3cr3t extra")
    'unrecognized arguments: --key (and 2 values, not shown); a key is never given on the command line: use --key-file PATH or the environment variable COHORT_PSEUDONYM_KEY'
    >>> _without_values("argument --length: invalid int value: 'abc'")
    'argument --length: invalid int value (the value is not shown)'
    >>> _without_values("argument --format: invalid choice: 'x' (choose from 'csv', 'parquet')")
    "argument --format: invalid choice (choose from 'csv', 'parquet')"
    """
    if message.startswith("unrecognized arguments: "):
        tokens = message[len("unrecognized arguments: ") :].split()
        options = [t.split("=", 1)[0] for t in tokens if t.startswith("-") and len(t) > 1]
        n_values = len(tokens) - len(options) + sum("=" in t for t in tokens if t.startswith("-"))
        shown = ", ".join(dict.fromkeys(re.sub(r"[^\w\-]", "?", o)[:30] for o in options))
        text = "unrecognized arguments: " + (shown or "values")
        if n_values and options:
            text += f" (and {n_values} value{'s' if n_values > 1 else ''}, not shown)"
        elif n_values:
            text = f"unrecognized arguments: {n_values} value{'s' if n_values > 1 else ''} (not shown)"
        if any(_SECRET_OPTIONS.match(o) for o in options):
            text += (
                "; a key is never given on the command line: use --key-file PATH or the "
                "environment variable COHORT_PSEUDONYM_KEY"
            )
        return text
    head, sep, rest = message.partition(": ")
    if head.startswith("argument ") and sep:
        choices = ""
        if " (choose from " in rest:
            rest, _, choices = rest.partition(" (choose from ")
            choices = " (choose from " + choices
        if re.search(r"['\"]", rest) or re.search(r":\s*\S", rest):
            rest = re.split(r":\s|\s['\"]|,?\s+got\b", rest, maxsplit=1)[0].strip()
            if not choices:
                rest += " (the value is not shown)"
        return f"{head}: {rest}{choices}"
    if message.startswith("ambiguous option: "):
        option = message[len("ambiguous option: ") :].split("=", 1)[0].split()[0]
        return f"ambiguous option: {option[:30]}; write the option in full"
    return message


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations whose errors never echo a value."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):  # noqa: D401 - argparse's signature
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {_without_values(message)}\n")


def _command_modules():
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"cohort.commands.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every discovered subcommand."""
    parser = _Parser(
        prog="cohort",
        description=(
            "Research and evaluation workbench for households at the pilot sites of the "
            "Dutch child- and family-protection reform."
        ),
    )
    parser.add_argument("--version", action="version", version=f"cohort {cohort.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.register(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the program; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except CohortError as error:
        print(f"cohort {args.command}: error: {error}", file=sys.stderr)
        return exit_code_for(error)
    except KeyboardInterrupt:
        print("cohort: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `cohort monitor ... | head`): not an error.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
