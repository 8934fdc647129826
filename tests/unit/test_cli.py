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


def test_no_subcommand_accepts_abbreviated_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert parser.allow_abbrev is False
    for name, subparser in sub.choices.items():
        assert subparser.allow_abbrev is False, name


@pytest.mark.parametrize(
    "argv",
    [
        ["pseudonymise", "a", "b", "--key", "s3cr3t-value"],
        ["pseudonymise", "a", "b", "--key=s3cr3t-value"],
        ["pseudonymise", "a", "b", "--length", "s3cr3t-value"],
        ["s3cr3t-value"],
        ["synth", "out", "--households", "s3cr3t-value"],
        ["validate", "d", "--tolerance-days", "s3cr3t-value"],
    ],
)
def test_command_line_errors_never_repeat_values(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert "s3cr3t" not in captured.out + captured.err
    assert len([line for line in captured.err.splitlines() if "error:" in line]) == 1
