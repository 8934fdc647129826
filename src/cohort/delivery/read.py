"""Reading a delivery: find its files, read CSV, Parquet and Excel tables as text.

Every table is read as text (:class:`RawTable`) so that validation sees exactly what the
file holds; typing happens in :mod:`cohort.delivery.coerce`. Files are hashed here
(sha256 per file, one fingerprint per delivery) for provenance and the load cache.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cohort.delivery import schema
from cohort.exceptions import DeliveryError, InputNotFoundError
from cohort.files import sha256_file

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")

ISO_DATE = r"\d{4}-\d{2}-\d{2}"
DMY_DATE = r"\d{2}-\d{2}-\d{4}"
_ISO_FMT, _DMY_FMT = "%Y-%m-%d", "%d-%m-%Y"

_RAW_STRING = pd.StringDtype("pyarrow")  # compact and regex-fast while validating


def _string_dtype() -> pd.StringDtype:
    """The dtype of id/str/cat columns in loaded tables: pandas ``string``.

    It follows ``pd.options.mode.string_storage`` (``"python"`` by default), so frames
    built with ``astype("string")`` elsewhere compare equal to loaded ones.
    """
    return pd.StringDtype()


# ---------------------------------------------------------------------------------------
# Raw reading


@dataclass
class RawTable:
    """One table as read from its file, before typing.

    Attributes
    ----------
    name : str
        Table name (a key of :data:`cohort.delivery.schema.TABLES`).
    file : str
        File name as delivered (``episodes.csv``, or ``delivery.xlsx[episodes]`` for a sheet).
    format : str
        ``"csv"``, ``"parquet"`` or ``"excel"``.
    frame : pandas.DataFrame
        The rows that have the right number of fields, columns named by the normalised
        header, index ``0..n-1``. CSV/Excel values are text; Parquet keeps its stored types.
    row_numbers : numpy.ndarray
        Row number as in the file for each row of ``frame``.
    bad_rows : pandas.DataFrame
        Rows with the wrong number of fields: ``row``, ``n_fields``, ``expected``, ``text``.
    decimal_comma : bool
        True for semicolon-separated CSV, where ``7,5`` means 7.5.
    """

    name: str
    file: str
    format: str
    frame: pd.DataFrame
    row_numbers: np.ndarray
    bad_rows: pd.DataFrame = field(default_factory=lambda: _empty_bad_rows())
    decimal_comma: bool = False

    @property
    def rows_read(self) -> int:
        """Data rows in the file: well-formed rows plus rows with the wrong field count."""
        return len(self.frame) + len(self.bad_rows)


@dataclass
class RawDelivery:
    """All tables of a delivery as read, with the content hashes of its files."""

    path: Path
    tables: dict[str, RawTable]
    file_hashes: dict[str, str]
    ignored_files: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.file_hashes)

    @property
    def name(self) -> str:
        return self.path.name


def _empty_bad_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.Series([], dtype="int64"),
            "n_fields": pd.Series([], dtype="int64"),
            "expected": pd.Series([], dtype="int64"),
            "text": pd.Series([], dtype=object),
        }
    )


def fingerprint_of(file_hashes: dict[str, str]) -> str:
    """Return the delivery fingerprint: sha256 over the sorted ``name  sha256`` lines.

    Examples
    --------
    >>> fingerprint_of({"b.csv": "2" * 64, "a.csv": "1" * 64}) == fingerprint_of(
    ...     {"a.csv": "1" * 64, "b.csv": "2" * 64})
    True
    """
    text = "".join(f"{name}  {digest}\n" for name, digest in sorted(file_hashes.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_column_name(name: object) -> str:
    """Return a header as a column name: trimmed, lower case, spaces as underscores.

    Examples
    --------
    >>> normalise_column_name("  Household ID ")
    'household_id'
    """
    return re.sub(r"\s+", "_", str(name).strip().lower())


def delivery_files(path: str | os.PathLike) -> tuple[dict[str, tuple[Path, str]], list[str]]:
    """Map each table to its ``(file, format)`` in a delivery folder.

    Returns the mapping and the names of files that are not tables (ignored). Raises
    :class:`InputNotFoundError` when the folder does not exist and
    :class:`DeliveryError` when a table is missing or delivered twice.
    """
    folder = Path(path)
    if not folder.exists():
        raise InputNotFoundError(f"delivery folder {folder} does not exist; check the path")
    if not folder.is_dir():
        raise InputNotFoundError(
            f"{folder} is not a folder; a delivery is a folder with one file per table"
        )
    found: dict[str, list[tuple[Path, str]]] = {name: [] for name in schema.TABLES}
    ignored: list[str] = []
    workbooks = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "~$")) or not entry.is_file():
            continue
        suffix = entry.suffix.lower()
        stem = entry.stem.strip().lower()
        if suffix in EXCEL_SUFFIXES:
            workbooks.append(entry)
        elif suffix in CSV_SUFFIXES + PARQUET_SUFFIXES and stem in found:
            found[stem].append((entry, "csv" if suffix in CSV_SUFFIXES else "parquet"))
        else:
            ignored.append(entry.name)
    if len(workbooks) > 1:
        names = ", ".join(w.name for w in workbooks)
        raise DeliveryError(
            f"{folder} holds more than one Excel workbook ({names}); deliver one workbook "
            "with a sheet per table"
        )
    if workbooks:
        book = workbooks[0]
        try:
            import openpyxl

            wb = openpyxl.load_workbook(book, read_only=True)
            sheets = list(wb.sheetnames)
            wb.close()
        except Exception as error:  # openpyxl raises many types for broken files
            raise DeliveryError(
                f"{book.name} cannot be read as an Excel workbook ({type(error).__name__}); "
                "save it again as .xlsx or deliver CSV files"
            ) from None
        for sheet in sheets:
            key = sheet.strip().lower()
            if key in found:
                found[key].append((book, f"excel:{sheet}"))
    result = {}
    for name, candidates in found.items():
        if not candidates:
            raise DeliveryError(
                f"{folder} has no table '{name}': deliver {name}.csv, {name}.parquet or a "
                f"sheet '{name}' in the workbook"
            )
        if len(candidates) > 1:
            names = ", ".join(_display_name(p, f) for p, f in candidates)
            raise DeliveryError(
                f"table '{name}' is delivered more than once ({names}); keep one of them"
            )
        result[name] = candidates[0]
    return result, ignored


def _display_name(path: Path, fmt: str) -> str:
    return f"{path.name}[{fmt.split(':', 1)[1]}]" if fmt.startswith("excel:") else path.name


def _check_header(names: list[str], file: str) -> list[str]:
    cols = [normalise_column_name(n) for n in names]
    if not any(cols):
        raise DeliveryError(f"{file} has an empty header row; row 1 must name the columns")
    for i, c in enumerate(cols):
        if c == "":
            raise DeliveryError(
                f"{file} row 1, column {i + 1}: the header is empty (rule: header_name); "
                "name every column or remove the empty column"
            )
    seen: dict[str, int] = {}
    for i, c in enumerate(cols):
        if c in seen:
            raise DeliveryError(
                f"{file} row 1: column '{c}' appears twice in the header (columns "
                f"{seen[c] + 1} and {i + 1}) (rule: duplicate_header); remove or rename one"
            )
        seen[c] = i
    return cols


def _check_utf8(data: bytes, file: str, chunk_size: int = 1 << 24) -> None:
    """Raise DeliveryError naming the line of the first byte that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(data), chunk_size):
        chunk = data[start : start + chunk_size]
        try:
            decoder.decode(chunk, final=start + chunk_size >= len(data))
        except UnicodeDecodeError as error:
            # the decoder may hold back up to 3 bytes of an unfinished character
            offset = max(0, start + error.start - 3)
            line = data.count(b"\n", 0, offset) + 1
            raise DeliveryError(
                f"{file} is not UTF-8 text: the first invalid byte is on line {line} "
                "(rule: encoding); export the file as 'CSV UTF-8' and deliver it again"
            ) from None


def read_csv_table(path: Path, name: str, data: bytes | None = None) -> RawTable:
    """Read one CSV file as text, comma or semicolon separated.

    The separator is the one the header uses (``;`` when the header has more semicolons
    than commas; then decimal commas are accepted in number columns).
    """
    file = path.name
    if data is None:
        data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DeliveryError(
            f"{file} is UTF-16 text (rule: encoding); export the file as 'CSV UTF-8' and "
            "deliver it again"
        )
    if not data.strip():
        raise DeliveryError(
            f"{file} is empty: it has no header row (rule: empty_file); deliver the table "
            "with at least its header row"
        )
    _check_utf8(data, file)
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise DeliveryError(
            f"{file} contains a NUL byte on line {line} (rule: encoding); export the file "
            "as 'CSV UTF-8' and deliver it again"
        )
    if b"\n" not in data:
        data += b"\n"  # a header without a line end is still a header
    first_line = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    header = next(csv.reader([first_line], delimiter=delimiter))
    cols = _check_header(header, file)
    # Parse multi-threaded first; rows with a wrong field count are numbered only by a
    # single-threaded parse, so the (rare) file that has them is parsed again that way.
    table, bad = _parse_csv(data, cols, delimiter, file, use_threads=True)
    if any(b[0] is None for b in bad):
        table, bad = _parse_csv(data, cols, delimiter, file, use_threads=False)
    frame = table.to_pandas(types_mapper=_raw_types_mapper)
    frame.index = pd.RangeIndex(len(frame))
    n_total = len(frame) + len(bad)
    if any(b[0] is None for b in bad):  # pragma: no cover - single-threaded reads number rows
        raise DeliveryError(f"{file}: rows with a wrong number of fields could not be located")
    bad_numbers = np.array([b[0] for b in bad], dtype="int64")
    all_rows = np.arange(2, n_total + 2, dtype="int64")
    row_numbers = all_rows[~np.isin(all_rows, bad_numbers)] if bad else all_rows
    bad_rows = (
        pd.DataFrame(bad, columns=["row", "n_fields", "expected", "text"]).astype(
            {"row": "int64", "n_fields": "int64", "expected": "int64"}
        )
        if bad
        else _empty_bad_rows()
    )
    return RawTable(
        name=name,
        file=file,
        format="csv",
        frame=frame,
        row_numbers=row_numbers,
        bad_rows=bad_rows,
        decimal_comma=delimiter == ";",
    )


def _parse_csv(data: bytes, cols: list[str], delimiter: str, file: str, *, use_threads: bool):
    """Parse CSV bytes (header skipped) as text columns; return the table and bad rows."""
    bad: list[tuple[int | None, int, int, str]] = []

    def on_bad_row(row):
        bad.append((row.number, row.actual_columns, row.expected_columns, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                skip_rows=1, column_names=cols, use_threads=use_threads, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_bad_row,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in cols},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException) as error:
        raise DeliveryError(
            f"{file} cannot be read as CSV ({_arrow_reason(error)}) (rule: csv_format); check "
            "quoting and separators, and export the file again"
        ) from None
    return table, bad


def _arrow_reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


def _raw_types_mapper(arrow_type: pa.DataType):
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return _RAW_STRING
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_floating(arrow_type):
        return pd.Float64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


def read_parquet_table(path: Path, name: str) -> RawTable:
    """Read one Parquet file; its stored types are kept (typing happens in coerce_table)."""
    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for broken files
        raise DeliveryError(
            f"{path.name} cannot be read as Parquet ({_arrow_reason(error)}) "
            "(rule: parquet_format); write the file again"
        ) from None
    cols = _check_header(list(table.column_names), path.name)
    table = table.rename_columns(cols)
    frame = table.to_pandas(types_mapper=_raw_types_mapper, ignore_metadata=True)
    frame.index = pd.RangeIndex(len(frame))
    return RawTable(
        name=name,
        file=path.name,
        format="parquet",
        frame=frame,
        row_numbers=np.arange(1, len(frame) + 1, dtype="int64"),
    )


def _excel_cell_text(value) -> str:
    """Return an Excel cell as the text a CSV export would hold."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        ts = pd.Timestamp(value)
        return ts.strftime(_ISO_FMT) if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_excel_tables(path: Path, sheets: dict[str, str]) -> dict[str, RawTable]:
    """Read the sheets of one workbook (``{table: sheet}``) as text tables."""
    try:
        books = pd.read_excel(
            path, sheet_name=list(sheets.values()), header=None, dtype=object, engine="openpyxl"
        )
    except Exception as error:  # openpyxl raises many types for broken files
        raise DeliveryError(
            f"{path.name} cannot be read as an Excel workbook ({type(error).__name__}) "
            "(rule: excel_format); save it again as .xlsx or deliver CSV files"
        ) from None
    out = {}
    for name, sheet in sheets.items():
        file = f"{path.name}[{sheet}]"
        raw = books[sheet]
        if raw.empty:
            raise DeliveryError(
                f"{file} is empty: it has no header row (rule: empty_file); deliver the "
                "table with at least its header row"
            )
        # openpyxl hands over one Python object per cell, so the conversion to text is
        # per cell; workbooks are small (a sheet holds at most about a million rows).
        text = raw.map(_excel_cell_text)
        cols = _check_header(list(text.iloc[0]), file)
        frame = text.iloc[1:].copy()
        frame.columns = cols
        frame = frame.astype(_RAW_STRING)
        frame.index = pd.RangeIndex(len(frame))
        out[name] = RawTable(
            name=name,
            file=file,
            format="excel",
            frame=frame,
            row_numbers=np.arange(2, len(frame) + 2, dtype="int64"),
        )
    return out


def read_raw_delivery(path: str | os.PathLike) -> RawDelivery:
    """Read every table of a delivery folder as a :class:`RawTable`.

    Raises
    ------
    InputNotFoundError
        The folder does not exist.
    DeliveryError
        A table is missing, delivered twice, empty, not UTF-8, has a duplicated or empty
        header, or cannot be parsed at all.
    """
    folder = Path(path)
    files, ignored = delivery_files(folder)
    tables: dict[str, RawTable] = {}
    hashes: dict[str, str] = {}
    excel_sheets: dict[str, str] = {}
    excel_path = None
    for name, (file_path, fmt) in files.items():
        if fmt == "csv":
            data = file_path.read_bytes()
            hashes[file_path.name] = hashlib.sha256(data).hexdigest()
            tables[name] = read_csv_table(file_path, name, data)
            del data
        elif fmt == "parquet":
            hashes[file_path.name] = sha256_file(file_path)
            tables[name] = read_parquet_table(file_path, name)
        else:
            excel_path = file_path
            excel_sheets[name] = fmt.split(":", 1)[1]
    if excel_path is not None:
        hashes[excel_path.name] = sha256_file(excel_path)
        tables.update(read_excel_tables(excel_path, excel_sheets))
    tables = {name: tables[name] for name in schema.TABLES}
    return RawDelivery(path=folder, tables=tables, file_hashes=hashes, ignored_files=ignored)


def delivery_hashes(path: str | os.PathLike) -> dict[str, str]:
    """Return ``{file name: sha256}`` of the table files of a delivery, without parsing."""
    files, _ = delivery_files(path)
    paths = dict.fromkeys(p for p, _fmt in files.values())  # a workbook once, not per sheet
    return {p.name: sha256_file(p) for p in paths}
