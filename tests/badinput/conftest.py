"""Shared tools of the bad-input suite.

Every case builds a tiny delivery (or parameter file) in a temporary folder from the valid
fixture, plants one fault, runs the command line in-process and checks what the user
relies on:

* the exit code is the documented one and stderr holds one line with ``error:`` that
  names the file, the row or line, the column and the rule (as far as the case has them);
* no traceback: :func:`cohort.cli.main` lets only programming errors escape, so a case
  that raised anything but a user error fails here;
* every row and every line is accounted for (read = accepted + rejected, and lines read
  equals the file's own line count, counted here independently of the reader);
* no planted identifier, secret or foreign content appears in stdout, stderr or any file
  the command wrote (the quarantine, ``violations.csv``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from badinput_helpers import VALID, Result, read_all

from cohort.cli import main


@pytest.fixture
def cli(capsys):
    """Run ``cohort ARGS`` in-process; ``watch`` names folders whose files are collected."""

    def run(*args, watch=()) -> Result:
        try:
            code = main([str(a) for a in args])
        except SystemExit as stop:  # argparse errors
            code = stop.code
        captured = capsys.readouterr()
        return Result(int(code), captured.out, captured.err, read_all(*map(Path, watch)))

    return run


@pytest.fixture
def delivery(tmp_path):
    """A copy of the valid fixture delivery to plant faults in: ``delivery(name)``."""

    def make(name: str = "d") -> Path:
        folder = tmp_path / name
        shutil.copytree(VALID, folder)
        return folder

    return make


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Loads in these tests never write the repository's data/cache."""
    monkeypatch.setenv("COHORT_CACHE_DIR", str(tmp_path / "cache"))
