"""The ``cohort`` command-line program.

Subcommands live in :mod:`cohort.commands`, one module each. Errors a user can cause
(:class:`cohort.exceptions.CohortError`) are printed as one line on stderr, without a
traceback, and the process exits with the error's exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

import cohort
from cohort import commands
from cohort.exceptions import CohortError, exit_code_for


def _command_modules():
    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"cohort.commands.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
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
