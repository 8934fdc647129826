"""The ``cohort`` program: help, version, and user errors without a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cohort
from cohort.cli import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"cohort {cohort.__version__}"


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        assert name in out


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: cohort " + name in capsys.readouterr().out


def test_python_dash_m_cohort_help():
    result = subprocess.run(
        [sys.executable, "-m", "cohort", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "usage: cohort" in result.stdout


def test_user_error_is_one_line_without_traceback(tmp_path):
    missing = tmp_path / "no-such-delivery"
    result = subprocess.run(
        [sys.executable, "-m", "cohort", "validate", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(missing) in lines[0]
