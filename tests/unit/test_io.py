"""Reading deliveries: formats, date forms, row numbers, the cache and file-level errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from cohort.delivery import schema
from cohort.delivery.coerce import coerce_column, detect_date_format
from cohort.delivery.load import load
from cohort.delivery.read import delivery_files, read_raw_delivery
from cohort.exceptions import DeliveryError, InputNotFoundError

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"


@pytest.fixture(scope="module")
def reference():
    return load(VALID, cache_dir=False)


def _copy(tmp_path: Path, name: str = "d") -> Path:
    folder = tmp_path / name
    shutil.copytree(VALID, folder)
    return folder


def _as_semicolon(folder: Path) -> None:
    """Rewrite every CSV as a Dutch spreadsheet export: ';' separated, decimal commas."""
    for path in folder.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "score" in frame.columns:
            frame["score"] = frame["score"].str.replace(".", ",", regex=False)
        path.write_text(frame.to_csv(index=False, sep=";"), encoding="utf-8")


def test_tables_have_the_documented_dtypes(reference):
    for name, spec in schema.TABLES.items():
        frame = reference.tables[name]
        for col in spec.columns:
            expected = {
                "id": "string",
                "str": "string",
                "cat": "string",
                "date": "datetime64[ns]",
                "bool": "boolean",
                "int": "Int64",
                "float": "Float64",
            }[col.kind]
            assert frame[col.name].dtype == expected, (name, col.name)
    assert reference.households["severity"].dtype == "Int64"  # an extra covariate
    assert reference.safety_assessments["score"].tolist()[:3] == [3.5, 5.0, 7.25]
    assert reference.episodes["closure_date"].isna().sum() == 2


def test_attribute_and_mapping_access(reference):
    assert reference.episodes is reference.tables["episodes"]
    assert len(reference.fingerprint) == 64
    assert set(reference.file_hashes) == {f"{t}.csv" for t in schema.TABLES}


def test_semicolon_csv_with_decimal_commas_loads_identically(tmp_path, reference):
    folder = _copy(tmp_path)
    _as_semicolon(folder)
    other = load(folder, cache_dir=False)
    for name in schema.TABLES:
        pd.testing.assert_frame_equal(other.tables[name], reference.tables[name])


def test_parquet_loads_identically(tmp_path, reference):
    folder = tmp_path / "pq"
    folder.mkdir()
    for name, frame in reference.tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    other = load(folder, cache_dir=False)
    for name in schema.TABLES:
        pd.testing.assert_frame_equal(other.tables[name], reference.tables[name])


def test_parquet_with_text_columns_loads_identically(tmp_path, reference):
    folder = tmp_path / "pqtext"
    folder.mkdir()
    for path in VALID.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.to_parquet(folder / f"{path.stem}.parquet", index=False)
    other = load(folder, cache_dir=False)
    for name in schema.TABLES:
        pd.testing.assert_frame_equal(other.tables[name], reference.tables[name])


def test_excel_workbook_loads_identically(tmp_path, reference):
    folder = tmp_path / "xl"
    folder.mkdir()
    with pd.ExcelWriter(folder / "delivery.xlsx", engine="openpyxl") as writer:
        for name, frame in reference.tables.items():
            out = frame.copy()
            for col in out.columns:  # Excel has no nullable integers or booleans
                if out[col].dtype in ("Int64", "Float64", "boolean", "string"):
                    out[col] = out[col].astype(object).where(out[col].notna(), None)
            out.to_excel(writer, sheet_name=name, index=False)
    other = load(folder, cache_dir=False)
    for name in schema.TABLES:
        pd.testing.assert_frame_equal(other.tables[name], reference.tables[name])


def test_excel_row_numbers_are_spreadsheet_rows(tmp_path):
    folder = tmp_path / "xl"
    folder.mkdir()
    with pd.ExcelWriter(folder / "delivery.xlsx", engine="openpyxl") as writer:
        for path in sorted(VALID.glob("*.csv")):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            if path.stem == "episodes":
                frame.loc[2, "closure_date"] = "2020-01-01"
            frame.to_excel(writer, sheet_name=path.stem, index=False)
    from cohort.delivery.validate import validate_delivery

    v = validate_delivery(folder).violations
    assert v[["file", "row", "rule"]].values.tolist() == [
        ["delivery.xlsx[episodes]", 4, "closure_not_before_registration"],
        ["delivery.xlsx[safety_assessments]", 5, "rejected_reference"],  # its episode
    ]


def test_parquet_rows_are_numbered_from_one(tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    for path in VALID.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.stem == "referrals":
            frame.loc[0, "referral_date"] = "not a date"
        frame.to_parquet(folder / f"{path.stem}.parquet", index=False)
    from cohort.delivery.validate import validate_delivery

    v = validate_delivery(folder).violations
    assert v[["file", "row", "rule"]].values.tolist() == [["referrals.parquet", 1, "invalid_date"]]


def test_mixed_formats_are_allowed_but_a_table_twice_is_not(tmp_path):
    folder = _copy(tmp_path)
    pd.read_csv(folder / "sites.csv").to_parquet(folder / "sites.parquet", index=False)
    with pytest.raises(DeliveryError, match="table 'sites' is delivered more than once"):
        read_raw_delivery(folder)
    (folder / "sites.csv").unlink()
    assert delivery_files(folder)[0]["sites"][1] == "parquet"
    assert len(load(folder, cache_dir=False).sites) == 2


def test_missing_table_and_missing_folder(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        read_raw_delivery(tmp_path / "nope")
    folder = _copy(tmp_path)
    (folder / "referrals.csv").unlink()
    with pytest.raises(DeliveryError, match="no table 'referrals'"):
        read_raw_delivery(folder)


def test_latin1_file_is_refused_with_its_line(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "referrals.csv"
    text = path.read_text(encoding="utf-8").replace("police\nSYN-R002", "politié\nSYN-R002")
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(
        DeliveryError, match=r"referrals.csv is not UTF-8 text.*line 2 \(rule: encoding\)"
    ):
        read_raw_delivery(folder)


def test_utf8_bom_is_accepted(tmp_path, reference):
    folder = _copy(tmp_path)
    path = folder / "sites.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    pd.testing.assert_frame_equal(load(folder, cache_dir=False).sites, reference.sites)


def test_empty_file_and_duplicate_header(tmp_path):
    folder = _copy(tmp_path)
    (folder / "referrals.csv").write_bytes(b"")
    with pytest.raises(DeliveryError, match="referrals.csv is empty"):
        read_raw_delivery(folder)
    folder = _copy(tmp_path, "e")
    path = folder / "referrals.csv"
    path.write_text(path.read_text().replace("source", "household_id", 1), encoding="utf-8")
    with pytest.raises(
        DeliveryError, match="column 'household_id' appears twice.*duplicate_header"
    ):
        read_raw_delivery(folder)


def test_header_only_file_is_an_empty_table(tmp_path):
    folder = _copy(tmp_path)
    (folder / "referrals.csv").write_text("referral_id,household_id,referral_date,source\n")
    delivery = load(folder, cache_dir=False)
    assert len(delivery.referrals) == 0
    assert delivery.referrals["referral_date"].dtype == "datetime64[ns]"


def test_header_names_are_normalised(tmp_path, reference):
    folder = _copy(tmp_path)
    path = folder / "sites.csv"
    path.write_text(path.read_text().replace("delivery_end", " Delivery End "), encoding="utf-8")
    pd.testing.assert_frame_equal(load(folder, cache_dir=False).sites, reference.sites)


def test_row_numbers_are_the_lines_where_rows_start(tmp_path):
    folder = _copy(tmp_path)
    with open(folder / "referrals.csv", "a", encoding="utf-8") as fh:
        fh.write("SYN-R006,SYN-H001,2023-05-05,police,extra\n")  # line 7: too many fields
        fh.write('SYN-R007,SYN-H001,2023-05-06,"police, ""multi""\nline"\n')  # lines 8-9
        fh.write("SYN-R008,SYN-H001,2023-05-07\n")  # line 10: too few fields
        fh.write("SYN-R009,SYN-H001,2023-13-07,\n")  # line 11: bad date
    raw = read_raw_delivery(folder).tables["referrals"]
    assert raw.rows_read == 9 and raw.lines_read == 10
    assert raw.bad_rows["row"].tolist() == [7, 10]
    assert raw.row_numbers.tolist() == [2, 3, 4, 5, 6, 8, 11]
    assert raw.line_counts.tolist() == [1, 1, 1, 1, 1, 2, 1]
    from cohort.delivery.validate import validate_delivery

    report = validate_delivery(folder)
    # source is not free text: a line break there is a quote that swallowed a line
    assert report.violations[["row", "column", "rule"]].values.tolist() == [
        [7, None, "field_count"],
        [8, "source", "multiline_value"],
        [10, None, "field_count"],
        [11, "referral_date", "invalid_date"],
    ]
    acc = report.accounting.set_index("table").loc["referrals"]
    assert (acc["rows_read"], acc["rows_rejected"], acc["lines_read"], acc["lines_rejected"]) == (
        9, 4, 10, 5
    )


def test_lines_are_counted_for_every_line_end(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "referrals.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    # old Mac line ends, Windows line ends and no line end after the last row
    path.write_bytes(("\r".join(lines[:3]) + "\r\n" + "\r\n".join(lines[3:])).encode())
    raw = read_raw_delivery(folder).tables["referrals"]
    assert raw.rows_read == raw.lines_read == len(lines) - 1
    assert raw.row_numbers.tolist() == list(range(2, len(lines) + 1))


def test_date_form_is_decided_per_column():
    assert detect_date_format(pd.Series(["2023-01-02", ""]), "f", "c") == "%Y-%m-%d"
    assert detect_date_format(pd.Series(["02-01-2023", "x"]), "f", "c") == "%d-%m-%Y"
    assert detect_date_format(pd.Series(["", "x"]), "f", "c") is None
    with pytest.raises(DeliveryError, match="date_format_ambiguous"):
        detect_date_format(pd.Series(["2023-01-02", "02-01-2023"]), "f", "c")
    typed, bad = coerce_column(
        pd.Series(["02-01-2023", "31-02-2023", ""]), schema.Column("d", "date"), file="f"
    )
    assert typed.tolist()[0] == pd.Timestamp("2023-01-02")
    assert bad["pos"].tolist() == [1] and bad["rule"].tolist() == ["invalid_date"]


@pytest.mark.parametrize(
    ("kind", "text", "value", "rule"),
    [
        ("int", "3", 3, None),
        ("int", "3.0", 3, None),
        ("int", "3.5", pd.NA, "invalid_integer"),
        ("int", "1e300", pd.NA, "invalid_integer"),
        ("float", "inf", pd.NA, "invalid_number"),
        ("float", "1,5", pd.NA, "invalid_number"),  # decimal comma only in semicolon files
        ("float", "-0.5", -0.5, None),
        ("bool", "Ja", True, None),
        ("bool", "0", False, None),
        ("bool", "perhaps", pd.NA, "invalid_boolean"),
        ("id", "  SYN-1 ", "SYN-1", None),
        ("id", "   ", pd.NA, None),
    ],
)
def test_cells_are_typed_or_reported(kind, text, value, rule):
    typed, bad = coerce_column(pd.Series([text]), schema.Column("c", kind), file="f")
    got = typed.iloc[0]
    assert (pd.isna(got) and pd.isna(value)) or got == value
    assert bad["rule"].tolist() == ([] if rule is None else [rule])
    assert bad["value"].isna().all()  # unparsed text is never reported


def test_cache_makes_the_second_load_read_parquet_and_notices_changes(tmp_path, reference):
    folder = _copy(tmp_path)
    cache = tmp_path / "cache"
    first = load(folder, cache_dir=cache)
    assert not first.from_cache
    second = load(folder, cache_dir=cache)
    assert second.from_cache
    assert second.fingerprint == first.fingerprint
    for name in schema.TABLES:
        pd.testing.assert_frame_equal(second.tables[name], reference.tables[name])
    pd.testing.assert_frame_equal(second.validation.accounting, first.validation.accounting)
    # change one file: a new fingerprint and a fresh validation
    with open(folder / "referrals.csv", "a", encoding="utf-8") as fh:
        fh.write("SYN-R006,SYN-H001,2023-05-05,police\n")
    third = load(folder, cache_dir=cache)
    assert not third.from_cache
    assert third.fingerprint != first.fingerprint
    assert len(third.referrals) == len(first.referrals) + 1


def test_cached_errors_still_stop_the_load(tmp_path):
    from cohort.exceptions import ValidationError

    folder = _copy(tmp_path)
    with open(folder / "referrals.csv", "a", encoding="utf-8") as fh:
        fh.write("SYN-R006,SYN-H099,2023-05-05,police\n")
    cache = tmp_path / "cache"
    kept = load(folder, cache_dir=cache, on_error="proceed")
    assert kept.validation.accounting.set_index("table").loc["referrals", "rows_rejected"] == 1
    with pytest.raises(ValidationError):
        load(folder, cache_dir=cache)
    again = load(folder, cache_dir=cache, on_error="proceed")
    assert again.from_cache
    assert list(again.validation.rejected) == ["referrals"]
    assert again.validation.summary.equals(kept.validation.summary)


def test_fingerprint_depends_on_content_not_location(tmp_path):
    a = load(_copy(tmp_path, "a"), cache_dir=False)
    b = load(_copy(tmp_path, "b"), cache_dir=False)
    assert a.fingerprint == b.fingerprint


def test_cache_tables_are_written_in_row_chunks_like_to_parquet(tmp_path, reference):
    from cohort.delivery.load import write_parquet

    frame = reference.safety_assessments
    assert len(frame) > 3
    frame.to_parquet(tmp_path / "whole.parquet", index=False)
    write_parquet(frame, tmp_path / "same.parquet")
    write_parquet(frame, tmp_path / "chunked.parquet", chunk_rows=2)
    # one chunk: the very file to_parquet writes
    assert (tmp_path / "same.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    # many chunks (row groups): the same table back
    back = pd.read_parquet(tmp_path / "chunked.parquet")
    pd.testing.assert_frame_equal(back, pd.read_parquet(tmp_path / "whole.parquet"))
    pd.testing.assert_frame_equal(back, frame)


def test_files_are_refused_from_their_size_before_reading(tmp_path, monkeypatch):
    from cohort.delivery import read

    folder = _copy(tmp_path)
    reads = []
    real = read.open_delivery_file

    def spy(path, limit=None, file=None):
        handle = real(path, limit, file)
        reads.append(Path(path).name)
        return handle

    monkeypatch.setattr(read, "open_delivery_file", spy)
    with pytest.raises(DeliveryError, match=r"episodes.csv is 534 bytes, more than the limit of 300 bytes per file \(rule: file_size\)"):
        read_raw_delivery(folder, max_file_bytes=300)
    assert "episodes.csv" not in reads  # refused at open, from fstat: never read


def test_the_size_limit_comes_from_the_environment(monkeypatch):
    from cohort.delivery.read import MAX_FILE_BYTES, max_file_bytes

    monkeypatch.delenv("COHORT_MAX_FILE_MB", raising=False)
    assert max_file_bytes() == MAX_FILE_BYTES
    monkeypatch.setenv("COHORT_MAX_FILE_MB", "2")
    assert max_file_bytes() == 2 << 20
    monkeypatch.setenv("COHORT_MAX_FILE_MB", "lots")
    with pytest.raises(DeliveryError, match="COHORT_MAX_FILE_MB must be a number"):
        max_file_bytes()


def test_columns_yaml_is_part_of_the_hashes_and_not_an_unknown_file(tmp_path):
    from cohort.delivery.read import delivery_hashes
    from cohort.delivery.validate import validate_delivery

    folder = _copy(tmp_path)
    (folder / "columns.yaml").write_text("households:\n  severity: integer\n", encoding="utf-8")
    assert "columns.yaml" in delivery_hashes(folder)
    assert validate_delivery(folder).violations.empty


def test_a_value_spanning_lines_is_one_row_over_several_lines(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "sites.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Utrecht", '"Utrecht\nStad"'))
    raw = read_raw_delivery(folder).tables["sites"]
    assert raw.rows_read == 2 and raw.lines_read == 3
    assert raw.row_numbers.tolist() == [2, 3] and raw.line_counts.tolist() == [1, 2]


def test_arrow_messages_lose_the_file_content_they_quote():
    from cohort.delivery.read import _arrow_reason

    reason = _arrow_reason(ValueError("CSV parse error: Expected 4 columns, got 2: SECRET,ROW"))
    assert reason == "CSV parse error: Expected 4 columns, got 2"
