"""``cohort report`` with bad parameter files: refused in one short line before any notebook."""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput_helpers import assert_not_leaked, assert_one_line_error

from cohort.exceptions import IdentifierError, ParameterError


def _params(tmp_path: Path, delivery: Path, extra: str = "", sites: str = "all") -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: demo\n"
        "title: Demo\n"
        "language: en\n"
        f"delivery: {delivery}\n"
        "reference_date: 2024-06-30\n"
        "change_date: 2024-01-01\n"
        f"sites: {sites}\n" + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def no_notebooks(monkeypatch):
    """Fail the test if a notebook would start: every check must come before."""
    from cohort.report import build

    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was started")

    monkeypatch.setattr(build, "_run_all", refuse)


def _report(cli, params: Path, tmp_path: Path):
    return cli("report", params, "--reports-dir", tmp_path / "reports", "--no-progress")


def test_an_alias_bomb_gives_a_short_error(cli, delivery, tmp_path, no_notebooks):
    bomb = (
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    )
    path = tmp_path / "p.yaml"
    path.write_text(bomb + "sites: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n", encoding="utf-8")
    result = _report(cli, path, tmp_path)
    line = assert_one_line_error(result, ParameterError.exit_code, "p.yaml line 1, column 4",
                                 "(rule: yaml_alias)")
    assert len(result.err) < 400
    assert "lol" not in line


def test_a_duplicated_key_names_the_key_and_both_lines(cli, delivery, tmp_path, no_notebooks):
    path = _params(tmp_path, delivery(), extra="sites: [AMS]\n")
    result = _report(cli, path, tmp_path)
    assert_one_line_error(
        result, ParameterError.exit_code, "p.yaml line 8, column 1: key 'sites' appears twice "
        "(first on line 7) (rule: duplicate_key)",
    )


def test_a_duplicated_key_in_a_nested_mapping(cli, delivery, tmp_path, no_notebooks):
    path = _params(tmp_path, delivery(), extra="disclosure:\n  threshold: 10\n  threshold: 1\n")
    result = _report(cli, path, tmp_path)
    assert_one_line_error(result, ParameterError.exit_code, "line 10", "key 'threshold' appears twice")


def test_an_unknown_site_is_caught_before_any_notebook(cli, delivery, tmp_path, no_notebooks):
    path = _params(tmp_path, delivery(), sites="[AMS, XXX]")
    result = _report(cli, path, tmp_path)
    assert_one_line_error(
        result, ParameterError.exit_code, "p.yaml: parameter 'sites': site 'XXX' is not a site of "
        "the delivery d (its sites: AMS, UTR)",
    )


def test_a_site_whose_row_was_rejected_is_named(cli, delivery, tmp_path, no_notebooks):
    folder = delivery()
    with open(folder / "sites.csv", "a", encoding="utf-8") as fh:
        fh.write("ROT,Rotterdam,2023-01-01,2022-12-31\n")  # delivery_end before start
    result = _report(cli, _params(tmp_path, folder, sites="[ROT]"), tmp_path)
    assert_one_line_error(result, ParameterError.exit_code, "site 'ROT'", "(rule: rejected_site)")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("study_start: 2025-01-01\n", "'reference_date' (2024-06-30) must be after study_start"),
    ],
)
def test_inconsistent_dates_are_refused(cli, delivery, tmp_path, no_notebooks, extra, expected):
    result = _report(cli, _params(tmp_path, delivery(), extra=extra), tmp_path)
    assert_one_line_error(result, ParameterError.exit_code, expected)


def test_a_reference_date_before_the_data_is_refused(cli, delivery, tmp_path, no_notebooks):
    folder = delivery()
    text = (folder / "sites.csv").read_text(encoding="utf-8").replace("2023-01-01", "2024-09-01")
    (folder / "sites.csv").write_text(text, encoding="utf-8")
    for name in ("households", "episodes", "legal_measures", "safety_assessments", "referrals"):
        (folder / f"{name}.csv").write_text(
            (folder / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0] + "\n"
        )
    (folder / "households.csv").write_text(
        "household_id,site,has_children\nSYN-H001,AMS,true\n", encoding="utf-8"
    )
    result = _report(cli, _params(tmp_path, folder), tmp_path)
    assert_one_line_error(result, ParameterError.exit_code, "parameter 'reference_date' "
                          "(2024-06-30) is before the delivery's data begins (2024-09-01)",
                          "(rule: reference_date_before_data)")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"name: demo\n\xff\xfe\n", "not UTF-8"),
        (b"sites: " + b"[" * 100 + b"]" * 100 + b"\n", "(rule: yaml_depth)"),
        (b"name: [unclosed\n", "(rule: yaml_syntax)"),
        (b"name: demo\n\ttitle: x\n", "indent with spaces"),
        (b"x" * (2 << 20), "(rule: yaml_size)"),
    ],
    ids=["encoding", "depth", "syntax", "tab", "size"],
)
def test_files_that_are_not_parameter_files(cli, tmp_path, no_notebooks, content, expected):
    path = tmp_path / "p.yaml"
    path.write_bytes(content)
    result = _report(cli, path, tmp_path)
    assert_one_line_error(result, ParameterError.exit_code, "p.yaml", expected)
    assert len(result.err) < 600


def test_a_foreign_file_as_parameter_file_is_not_echoed(cli, tmp_path, no_notebooks):
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:FOREIGN-CONTENT-1:/root:/bin/bash\n" * 20, encoding="utf-8")
    result = _report(cli, path, tmp_path)
    assert_one_line_error(result, ParameterError.exit_code, "must be a mapping")
    assert_not_leaked(result, "FOREIGN-CONTENT", "root:x")
    path.write_text("FOREIGN-CONTENT-2: x\nroot: 'x: y'\n", encoding="utf-8")
    result = _report(cli, path, tmp_path)
    assert result.code == ParameterError.exit_code
    assert "x: y" not in result.err


def test_a_long_bad_value_is_cut_short(cli, delivery, tmp_path, no_notebooks):
    sites = "[" + ", ".join(f"S{i:05d}" for i in range(5000)) + ", S00001]"
    result = _report(cli, _params(tmp_path, delivery(), sites=sites), tmp_path)
    assert_one_line_error(result, ParameterError.exit_code, "parameter 'sites' lists a site twice")
    assert len(result.err) < 400


def test_a_delivery_with_identifiers_stops_the_report_without_echo(cli, delivery, tmp_path,
                                                                    no_notebooks):
    folder = delivery()
    text = (folder / "referrals.csv").read_text(encoding="utf-8").replace(",police", ",06-12345678")
    (folder / "referrals.csv").write_text(text, encoding="utf-8")
    result = _report(cli, _params(tmp_path, folder), tmp_path)
    assert_one_line_error(result, IdentifierError.exit_code, "referrals.csv column source",
                          "(rule: phone)")
    assert_not_leaked(result, "06-12345678")
