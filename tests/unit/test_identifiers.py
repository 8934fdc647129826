"""The identifier guard: direct identifiers refuse a delivery; the value is never shown."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from cohort.cli import main
from cohort.delivery.identifiers import check_frame, is_bsn, scan_frame
from cohort.delivery.load import load
from cohort.exceptions import IdentifierError

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"
BSN = "111222333"  # passes the elfproef: 9+8+7+12+10+8+9+6-3 = 66 = 6 * 11


def test_elfproef():
    assert is_bsn(pd.Series([BSN, "123456782", "1112.22.333", "111 222 333"])).all()
    assert not is_bsn(pd.Series(["111222334", "000000000", "11122233", "1112223330"])).any()


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (BSN, "bsn"),
        (f"client {BSN} seen", "bsn"),
        ("1112.22.333", "bsn"),
        ("j.jansen@example.nl", "email"),
        ("06-12345678", "phone"),
        ("+31 20 123 4567", "phone"),
        ("0031612345678", "phone"),
        ("1234 AB", "postcode"),
        ("3512JK", "postcode"),
        ("Dorpsstraat 12a", "address"),
        ("woont Kerkweg 3", "address"),
        ("gesprek met mevr. de Vries", "name"),
    ],
)
def test_identifiers_are_found_in_any_column(value, rule):
    frame = pd.DataFrame({"anything": ["fine", value], "other": ["a", "b"]})
    found = scan_frame(frame, table="households", file="households.csv")
    assert found[["column", "rule", "n_values", "first_row"]].values.tolist() == [
        ["anything", rule, 1, 3]
    ]


@pytest.mark.parametrize(
    "value",
    [
        "111222334",  # nine digits, fails the elfproef
        "SYN-111222333",  # a pseudonym that contains digits
        "2023-03-05",
        "05-03-2023",
        "1234",  # a four-digit postcode area is allowed
        "7,5",
        "T1",
        "Amsterdam-Amstelland",
        "supervision_order",
        "in 2023 en 2024",
    ],
)
def test_ordinary_values_pass(value):
    assert scan_frame(pd.DataFrame({"x": [value]})).empty


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("Achternaam", "Jansen", "name"),
        ("first_name", "Jan", "name"),
        ("bsn", "12345", "bsn"),
        ("email", "x", "email"),
        ("telefoon", "x", "phone"),
        ("adres", "x", "address"),
        ("geboortedatum", "2015-04-03", "birth_date"),
        ("date_of_birth", "03-04-2015", "birth_date"),
    ],
)
def test_identifier_columns_are_found_by_name(column, value, rule):
    found = scan_frame(pd.DataFrame({column: [value]}))
    assert found["rule"].tolist() == [rule]


def test_birth_year_and_site_name_are_allowed():
    assert scan_frame(pd.DataFrame({"geboortejaar": ["2015"], "birth_date": ["2015"]})).empty
    assert scan_frame(pd.DataFrame({"name": ["Utrecht"]}), table="sites").empty
    assert not scan_frame(pd.DataFrame({"name": ["Jan"]}), table="households").empty


def test_typed_columns_are_searched_too():
    frame = pd.DataFrame({"n": pd.array([1, int(BSN)], dtype="Int64"), "f": [1.0, float(BSN)]})
    assert scan_frame(frame)["rule"].tolist() == ["bsn", "bsn"]


def test_message_names_column_and_rule_never_the_value():
    frame = pd.DataFrame({"kenmerk": ["a", BSN, BSN]})
    with pytest.raises(IdentifierError) as info:
        check_frame(frame, file="households.csv")
    message = str(info.value)
    assert "households.csv column kenmerk: 2 value(s) look like BSNs" in message
    assert "first in row 3 (rule: bsn)" in message
    assert BSN not in message


def _plant(tmp_path: Path, file: str, column: str, value: str) -> Path:
    folder = tmp_path / "d"
    shutil.copytree(VALID, folder)
    frame = pd.read_csv(folder / file, dtype=str, keep_default_na=False)
    frame[column] = frame[column].astype(object) if column in frame.columns else ""
    frame.loc[len(frame) - 1, column] = value
    frame.to_csv(folder / file, index=False)
    return folder


@pytest.mark.parametrize(
    ("file", "column"),
    [
        ("referrals.csv", "source"),
        ("episodes.csv", "episode_id"),
        ("safety_assessments.csv", "wave"),
        ("households.csv", "mystery_column"),
    ],
)
def test_a_bsn_anywhere_refuses_the_delivery_and_is_never_output(tmp_path, file, column):
    folder = _plant(tmp_path, file, column, BSN)
    with pytest.raises(IdentifierError) as info:
        load(folder, cache_dir=tmp_path / "cache")
    assert BSN not in str(info.value)
    assert f"{file} column {column}" in str(info.value)
    assert not (tmp_path / "cache").exists()  # nothing was cached


def test_the_command_line_refuses_without_echoing_or_writing(tmp_path, capsys):
    folder = _plant(tmp_path, "referrals.csv", "source", BSN)
    code = main(["validate", str(folder), "--quarantine", str(tmp_path / "q")])
    captured = capsys.readouterr()
    assert code == IdentifierError.exit_code
    assert BSN not in captured.out + captured.err
    assert "referrals.csv column source" in captured.err
    assert not (tmp_path / "q").exists()


def test_the_refusal_is_one_line_without_traceback(tmp_path):
    folder = _plant(tmp_path, "households.csv", "note", f"bsn {BSN}")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cohort",
            "validate",
            str(folder),
            "--quarantine",
            str(tmp_path / "q"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == IdentifierError.exit_code
    assert BSN not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_bsn_in_a_malformed_row_is_still_found(tmp_path):
    folder = tmp_path / "d"
    shutil.copytree(VALID, folder)
    with open(folder / "referrals.csv", "a", encoding="utf-8") as fh:
        fh.write(f"SYN-R9,SYN-H001,2023-01-01,police,{BSN}\n")
    with pytest.raises(IdentifierError, match="rule: bsn") as info:
        load(folder, cache_dir=False)
    assert BSN not in str(info.value)


# --------------------------------------------------------------------------------------
# the classes of identifiers (the full planted list is tests/badinput/)


def test_elfproef_on_grouped_and_zero_dropped_bsns():
    from cohort.delivery.identifiers import _confirm

    values = pd.Series(["111 222 333", "111-222-333", "111.222.333", "12345672", "12.345.672"])
    assert is_bsn(values).all()
    # eight digits that are a date are read as a date, not as a BSN with its zero dropped
    words = pd.Series(["20230305", "05032023", "12345672", "19870412"], dtype=object)
    assert _confirm("bsn", words).tolist() == [False, False, True, False]


def test_iban_checksum_country_and_length():
    from cohort.delivery.identifiers import is_iban

    good = ["NL91ABNA0417164300", "BE68539007547034", "DE89370400440532013000", "nl91abna0417164300"]
    bad = ["NL91ABNA0417164301", "NL91ABNA041716430", "ZZ91ABNA0417164300", "ab12cdef3456ab12cd"]
    assert is_iban(pd.Series(good)).all()
    assert not is_iban(pd.Series(bad)).any()


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("NL91 ABNA 0417 1643 00", "iban"),  # not also a phone number
        ("(020) 123 4567", "phone"),
        ("+31 (0)20 123 4567", "phone"),
        ("1234 ab", "postcode"),
        ("jan [at] example [dot] nl", "email"),
        ("Piet van der Berg", "name"),
        ("geb. 2012/03/04", "birth_date"),
    ],
)
def test_each_value_breaks_exactly_its_own_rule(value, rule):
    from cohort.delivery.identifiers import content_rules

    assert list(content_rules(pa.array([value]))) == [rule]


@pytest.mark.parametrize(
    "value",
    ["in 2023 en 2024", "1500 km", "05-03-2023 10:15", "20230305", "Hart van Brabant",
     "Veilig Thuis", "0612345678abcdef1234", "SYN-H00001673"],
)
def test_lookalikes_pass(value):
    from cohort.delivery.identifiers import content_rules

    assert content_rules(pa.array([value])) == {}


def test_headers_are_searched_and_named_by_position():
    frame = pd.DataFrame({"household_id": ["SYN-1"], "111222333": ["1"], "j@example.nl": ["2"]})
    found = scan_frame(frame, table="households", file="h.csv")
    header = found[found["in_header"]]
    assert header["rule"].tolist() == ["bsn", "email"]
    assert header["column"].tolist() == [
        "number 2 (its header is not shown)", "number 3 (its header is not shown)"
    ]
    assert "111222333" not in found.to_string() and "j@example" not in found.to_string()


def test_person_columns_may_hold_numbers_and_yes_no_but_not_text():
    ok = pd.DataFrame({"kind": ["1", "2", ""], "moeder": ["ja", "nee", ""], "ouder_2": ["0", "", "1"]})
    assert scan_frame(ok).empty
    found = scan_frame(pd.DataFrame({"kind_1": ["", "Sanne"], "measure_kind": ["ots", "x"]}))
    assert found[["column", "rule", "first_row"]].values.tolist() == [["kind_1", "name", 3]]


def test_birth_date_columns_allow_years_months_and_ages_only():
    frame = pd.DataFrame(
        {"geboortejaar": ["2012", "2012-03", "03-2012", "maart 2012", "7", "onbekend", ""]}
    )
    assert scan_frame(frame).empty
    for value in ["2012-03-04", "2012/03/04", "20120304", "04-03-2012", "4 maart 2012"]:
        found = scan_frame(pd.DataFrame({"child_born": ["", value]}))
        assert found["rule"].tolist() == ["birth_date"], value


def test_is_safe_label():
    from cohort.delivery.identifiers import is_safe_label

    assert is_safe_label(["severity", "Household ID", "notes.txt"]).all()
    assert not is_safe_label(["06-12345678", "Jan de Vries", "NL91ABNA0417164300"]).any()


def test_undeclared_text_is_a_finding_numbers_and_yes_no_are_not(tmp_path):
    from cohort.delivery.identifiers import scan_raw_delivery
    from cohort.delivery.read import read_raw_delivery

    folder = tmp_path / "d"
    shutil.copytree(VALID, folder)
    frame = pd.read_csv(folder / "households.csv", dtype=str, keep_default_na=False)
    frame["score_2"] = "3,5"  # a number (decimal comma) is not text
    frame["pets"] = "ja"
    frame["colour"] = "red"
    frame.to_csv(folder / "households.csv", index=False)
    found = scan_raw_delivery(read_raw_delivery(folder))
    assert found[["column", "rule", "n_values"]].values.tolist() == [["colour", "undeclared_text", 6]]
