"""Planted identifiers are refused and never shown; clean data passes.

``PLANTED`` holds every identifier of issue 13 that used to pass the guard, and more of
each class: BSN notations, IBANs, phone notations, postcodes in any case, obfuscated
e-mail addresses, birth dates in any notation and in birth-date columns, names in text and
in person columns, and identifiers as headers. ``CLEAN`` holds values of the same shapes
that are not identifiers and must pass.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from badinput_helpers import assert_accounted, assert_not_leaked, assert_one_line_error

from cohort.exceptions import IdentifierError

# (value, where, rule): where is "source" (the text column referrals.source), "id" (the id
# column referrals.referral_id), "column NAME" (a new households column of that name) or
# "header" (a households column whose header is the value)
PLANTED = [
    # issue 13: BSNs written with separators or without their leading zero
    ("123.456.782", "source", "bsn"),
    ("123 456 782", "source", "bsn"),
    ("123-456-782", "source", "bsn"),
    ("12345672", "id", "bsn"),  # 012345672 passes the elfproef
    # issue 13: an account number, a phone number, a postcode in lower case
    ("NL91ABNA0417164300", "source", "iban"),
    ("(020) 123 4567", "source", "phone"),
    ("1234 ab", "source", "postcode"),
    # issue 13: an obfuscated e-mail address
    ("jan.jansen [at] example.nl", "source", "email"),
    # issue 13: exact birth dates in other notations, and a column named child_born
    ("2012/03/04", "column geboortedatum", "birth_date"),
    ("20120304", "column geboortedatum", "birth_date"),
    ("2012-03-04", "column child_born", "birth_date"),
    # issue 13: a name in free text and in a column named like a person
    ("Jan de Vries", "source", "name"),
    ("Fatima", "column moeder", "name"),
    # issue 13: identifiers as column headers
    ("123456782", "header", "bsn"),
    ("j.jansen@example.nl", "header", "email"),
    # more of each class
    ("111222333", "id", "bsn"),
    ("bsn 1112.22.333 bekend", "source", "bsn"),
    ("12.345.672", "source", "bsn"),
    ("NL91 ABNA 0417 1643 00", "source", "iban"),
    ("nl91abna0417164300", "source", "iban"),
    ("BE68539007547034", "source", "iban"),
    ("rekening DE89370400440532013000", "source", "iban"),
    ("06-12345678", "source", "phone"),
    ("06 1234 5678", "source", "phone"),
    ("+31 (0)20 123 4567", "source", "phone"),
    ("0031 6 12345678", "source", "phone"),
    ("bel 020-1234567", "source", "phone"),
    ("(0118) 123456", "source", "phone"),
    ("+32 2 123 45 67", "source", "phone"),
    ("1234AB", "source", "postcode"),
    ("1234ab", "source", "postcode"),
    ("woont in 3512 jk Utrecht", "source", "postcode"),
    ("jan(at)example(dot)nl", "source", "email"),
    ("jan at example dot nl", "source", "email"),
    ("J.Jansen@Example.NL", "source", "email"),
    ("geboren 04-03-2012", "source", "birth_date"),
    ("geb. 2012/03/04", "source", "birth_date"),
    ("born 4 March 2012", "source", "birth_date"),
    ("geboortedatum: 4 maart 2012", "source", "birth_date"),
    ("04-03-2012", "column geb_datum", "birth_date"),
    ("4 maart 2012", "column date_of_birth", "birth_date"),
    ("03/04/12", "column dob", "birth_date"),
    ("gesprek met Piet van der Berg", "source", "name"),
    ("Fatima El Amrani", "source", "name"),
    ("J.P. Jansen", "source", "name"),
    ("J. van der Berg", "source", "name"),
    ("mevr. de Vries", "source", "name"),
    ("gezin Jansen", "source", "name"),
    ("Mohamed", "column vader", "name"),
    ("Sanne", "column kind_1", "name"),
    ("Bakker", "column naam", "name"),
    ("Dorpsstraat 12a", "source", "address"),
    ("06-12345678", "header", "phone"),
    ("Jan de Vries", "header", "name"),
    ("NL91ABNA0417164300", "header", "iban"),
]

CLEAN = [
    "police",
    "veilig_thuis",
    "Veilig Thuis",
    "Hart van Brabant",
    "West-Brabant West",
    "Jeugdbescherming Regio Amsterdam",
    "GGD Hollands Noorden",
    "in 2023 en 2024",
    "2024 is het jaar",
    "1500 km",
    "1234",
    "2023-03-05",
    "05-03-2023",
    "05-03-2023 10:15",
    "20230305",
    "Q4 2024",
    "score 7,5",
    "T1",
    "12%",
    "SYN-H00001673",
    "a1b2c3d4e5f6a7b8c9d0",
    "0612345678abcdef1234",
    "ba1234567890abcdef01",
    "111222334",
]


def _plant(folder: Path, value: str, where: str) -> None:
    if where in ("source", "id"):
        path = folder / "referrals.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.loc[len(frame) - 1, "source" if where == "source" else "referral_id"] = value
        frame.to_csv(path, index=False)
        return
    path = folder / "households.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if where == "header":
        frame = frame.rename(columns={"severity": value})  # the values stay numbers
    else:
        name = where.split(" ", 1)[1]
        frame[name] = ""
        frame.loc[len(frame) - 1, name] = value
    frame.to_csv(path, index=False)


@pytest.mark.parametrize(("value", "where", "rule"), PLANTED, ids=[f"{w}:{v}" for v, w, _ in PLANTED])
def test_a_planted_identifier_refuses_the_delivery_and_is_never_shown(
    cli, delivery, tmp_path, value, where, rule
):
    folder = delivery()
    _plant(folder, value, where)
    q = tmp_path / "quarantine"
    result = cli("validate", folder, "--quarantine", q, "--violations-csv", tmp_path / "v.csv",
                 watch=[q, tmp_path / "v.csv"])
    if where == "header":
        expected = ["households.csv column number 7 (its header is not shown)", f"(rule: {rule})"]
    elif where.startswith("column"):
        expected = [f"households.csv column {where.split(' ', 1)[1]}", f"(rule: {rule})"]
    else:
        column = "source" if where == "source" else "referral_id"
        expected = [f"referrals.csv column {column}", f"(rule: {rule})", "first in row 6"]
    line = assert_one_line_error(result, IdentifierError.exit_code, *expected)
    assert "The values are not shown" in line
    assert_not_leaked(result, value)
    assert not q.exists() and not (tmp_path / "v.csv").exists()  # nothing is written


def test_the_planted_list_covers_every_rule_of_the_guard():
    from cohort.delivery.identifiers import CONTENT_PATTERNS

    assert {rule for *_, rule in PLANTED} >= set(CONTENT_PATTERNS)
    assert len(PLANTED) >= 41


@pytest.mark.parametrize("value", CLEAN)
def test_clean_values_pass(cli, delivery, tmp_path, value):
    folder = delivery()
    _plant(folder, value, "source")
    q = tmp_path / "quarantine"
    result = cli("validate", folder, "--quarantine", q, watch=[q])
    assert result.code == 0, result.err
    assert "no violations" in result.out


def test_clean_covariates_and_declared_columns_pass(cli, delivery, tmp_path):
    folder = delivery()
    path = folder / "households.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    n = len(frame)
    frame["geboortejaar"] = ["2012", "2015", "", "2009", "2020", "2011"][:n]  # a birth year
    frame["postcode_area"] = ["1234", "3512", "9999", "1011", "2000", "5000"][:n]
    frame["kind_age"] = ["3", "", "12", "7", "1", "0"][:n]
    frame["has_pets"] = ["ja", "nee", "", "ja", "nee", "ja"][:n]
    frame["region"] = ["Noord", "Zuid", "Oost", "West", "Noord", "Zuid"][:n]
    frame.to_csv(path, index=False)
    (folder / "columns.yaml").write_text(
        "households:\n  region:\n    type: code\n    values: [Noord, Zuid, Oost, West]\n",
        encoding="utf-8",
    )
    result = cli("validate", folder, "--quarantine", tmp_path / "q")
    assert result.code == 0, result.err
    from cohort.delivery.load import load

    households = load(folder, cache_dir=False).households
    assert households["region"].tolist()[:2] == ["Noord", "Zuid"]
    assert str(households["geboortejaar"].dtype) == "Int64"
    assert_accounted(folder)


def test_undeclared_free_text_is_refused_until_declared(cli, delivery, tmp_path):
    folder = delivery()
    path = folder / "episodes.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["notes"] = "follow-up planned"
    frame.to_csv(path, index=False)
    result = cli("validate", folder, "--quarantine", tmp_path / "q")
    assert_one_line_error(
        result, IdentifierError.exit_code, "episodes.csv column notes", "(rule: undeclared_text)",
        "Declare the text columns in columns.yaml",
    )
    (folder / "columns.yaml").write_text("episodes:\n  notes: text\n", encoding="utf-8")
    result = cli("validate", folder, "--quarantine", tmp_path / "q")
    assert result.code == 0, result.err
    # declaring never lets an identifier through
    frame.loc[0, "notes"] = "gesprek met mevr. Jansen"
    frame.to_csv(path, index=False)
    result = cli("validate", folder, "--quarantine", tmp_path / "q")
    assert_one_line_error(result, IdentifierError.exit_code, "episodes.csv column notes",
                          "(rule: name)")
    assert_not_leaked(result, "Jansen")


def test_an_identifier_named_file_is_reported_without_its_name(cli, delivery, tmp_path):
    folder = delivery()
    (folder / "j.jansen@example.nl.txt").write_text("notes", encoding="utf-8")
    (folder / "overview.txt").write_text("notes", encoding="utf-8")
    q = tmp_path / "q"
    result = cli("validate", folder, "--quarantine", q, watch=[q])
    assert result.code == 0, result.err
    assert "a file whose name is not shown" in result.written
    assert "overview.txt" in result.written
    assert_not_leaked(result, "j.jansen@example.nl", "jansen")


def test_a_duplicated_identifier_header_is_named_by_position(cli, delivery, tmp_path):
    folder = delivery()
    path = folder / "households.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("severity", "111222333") + ",111222333"
    lines[1:] = [line + ",1" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("validate", folder, "--quarantine", tmp_path / "q")
    assert_one_line_error(
        result, 3, "households.csv row 1: column number 8 (its header is not shown) appears twice",
        "(rule: duplicate_header)",
    )
    assert_not_leaked(result, "111222333")


def test_an_identifier_in_a_row_with_a_wrong_field_count_is_found(cli, delivery, tmp_path):
    folder = delivery()
    with open(folder / "referrals.csv", "a", encoding="utf-8") as fh:
        fh.write("SYN-R009,SYN-H001,2023-05-05,police,Jan de Vries,extra\n")
    q = tmp_path / "q"
    result = cli("validate", folder, "--quarantine", q, watch=[q])
    assert_one_line_error(result, IdentifierError.exit_code, "(row with wrong field count)",
                          "(rule: name)", "first in row 7")
    assert_not_leaked(result, "Vries")
    assert not q.exists()
