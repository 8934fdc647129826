"""Reading a delivery: files to raw tables, raw tables to typed tables, and :func:`load`.

A delivery is a folder with one table per file, named after the table
(``episodes.csv``, ``episodes.parquet``) or one Excel workbook (``*.xlsx``) with a sheet
per table. Formats may be mixed across tables, but a table may come from one file only.

Reading happens in two steps, so that nothing is lost between them:

1. :func:`read_raw_delivery` reads every file as text (CSV, Excel) or as stored (Parquet)
   into a :class:`RawTable` that remembers, for each row, its **row number as in the
   file**:

   * CSV: the header is row 1, the first data row is row 2 (the record number; it equals
     the line number unless a quoted field spans lines);
   * Excel: the spreadsheet row number (header in row 1, first data row 2);
   * Parquet: the record number, the first record being row 1 (Parquet has no header row).

   Rows with the wrong number of fields are kept aside with their row number, never
   dropped silently.

2. :func:`coerce_table` turns a raw table into the typed table of :mod:`cohort.schema`
   and reports every cell that does not parse. Dates are ISO ``YYYY-MM-DD``;
   ``DD-MM-YYYY`` is accepted too, decided **per column** (a column with both forms is a
   :class:`~cohort.exceptions.DeliveryError`, never guessed per row).

:func:`load` runs the identifier guard and validation (:mod:`cohort.validate`), returns a
:class:`Delivery` of validated tables, and caches them as Parquet keyed by the delivery's
content hash.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import re
import shutil
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cohort import schema
from cohort.exceptions import DeliveryError, InputNotFoundError, ParameterError

#: Bump when the cached layout or the validation rules change: old caches are then ignored.
CACHE_FORMAT = 1

#: Environment variable that overrides the default cache folder.
CACHE_ENV = "COHORT_CACHE_DIR"

#: Rows converted to Arrow at a time when a table is written to the cache. It equals
#: pyarrow's default row-group size, so the files are laid out as ``to_parquet`` would
#: lay them out, while only one row group is held as Arrow data at a time.
CACHE_CHUNK_ROWS = 1 << 20

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
        Table name (a key of :data:`cohort.schema.TABLES`).
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


def file_sha256(path: Path, chunk_size: int = 1 << 24) -> str:
    """Return the sha256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


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
            hashes[file_path.name] = file_sha256(file_path)
            tables[name] = read_parquet_table(file_path, name)
        else:
            excel_path = file_path
            excel_sheets[name] = fmt.split(":", 1)[1]
    if excel_path is not None:
        hashes[excel_path.name] = file_sha256(excel_path)
        tables.update(read_excel_tables(excel_path, excel_sheets))
    tables = {name: tables[name] for name in schema.TABLES}
    return RawDelivery(path=folder, tables=tables, file_hashes=hashes, ignored_files=ignored)


def delivery_hashes(path: str | os.PathLike) -> dict[str, str]:
    """Return ``{file name: sha256}`` of the table files of a delivery, without parsing."""
    files, _ = delivery_files(path)
    paths = dict.fromkeys(p for p, _fmt in files.values())  # a workbook once, not per sheet
    return {p.name: file_sha256(p) for p in paths}


# ---------------------------------------------------------------------------------------
# Typing


#: Cell-level problems found while typing: position, column, rule, value (or NA), detail.
CELL_COLUMNS = ["pos", "column", "rule", "value", "detail"]


def _cells(pos, column: str, rule: str, detail, value=None) -> pd.DataFrame:
    pos = np.asarray(pos, dtype="int64")
    n = len(pos)
    if value is None:
        value = pd.Series(pd.NA, index=range(n), dtype="string")
    return pd.DataFrame(
        {
            "pos": pos,
            "column": column,
            "rule": rule,
            "value": pd.array(np.asarray(value, dtype=object), dtype="string"),
            "detail": pd.array(
                np.asarray(detail, dtype=object) if not isinstance(detail, str) else [detail] * n,
                dtype="string",
            ),
        }
    )


def empty_cells() -> pd.DataFrame:
    return _cells([], "", "", [])


def detect_date_format(text: pd.Series, file: str, column: str) -> str | None:
    """Return ``"%Y-%m-%d"`` or ``"%d-%m-%Y"`` for a column of date text, or None if empty.

    The format is decided for the whole column. Values matching neither form are left to
    the caller (they become ``invalid_date`` violations); a column holding both forms is
    ambiguous and raises :class:`DeliveryError`.

    Examples
    --------
    >>> detect_date_format(pd.Series(["05-03-2023", "", "31-12-2024"]), "e.csv", "d")
    '%d-%m-%Y'
    >>> detect_date_format(pd.Series(["2023-03-05", "05-03-2023"]), "e.csv", "d")
    Traceback (most recent call last):
    ...
    cohort.exceptions.DeliveryError: e.csv column d: dates are written both as YYYY-MM-DD (1 rows) and as DD-MM-YYYY (1 rows) (rule: date_format_ambiguous); write the whole column in one form, preferably YYYY-MM-DD
    """
    text = text.astype(_RAW_STRING)
    n_iso = int(text.str.fullmatch(ISO_DATE).sum())
    n_dmy = int(text.str.fullmatch(DMY_DATE).sum())
    if n_iso and n_dmy:
        raise DeliveryError(
            f"{file} column {column}: dates are written both as YYYY-MM-DD ({n_iso} rows) and "
            f"as DD-MM-YYYY ({n_dmy} rows) (rule: date_format_ambiguous); write the whole "
            "column in one form, preferably YYYY-MM-DD"
        )
    if n_dmy:
        return _DMY_FMT
    if n_iso:
        return _ISO_FMT
    return None


def _fmt_dates(values: pd.Series) -> pd.Series:
    return values.dt.strftime(_ISO_FMT)


def coerce_column(
    raw: pd.Series,
    col: schema.Column,
    *,
    file: str,
    decimal_comma: bool = False,
    text_dtype: pd.StringDtype | None = None,
) -> tuple[pd.Series, pd.DataFrame]:
    """Type one raw column; return the typed column and its cell problems.

    Empty text becomes missing. A value that does not parse becomes missing and is
    reported (``invalid_date``, ``invalid_number``, ``invalid_integer``,
    ``invalid_boolean``); the text itself is never reported, because it might identify
    someone. Text columns get ``text_dtype`` (default: pandas ``string`` as configured).

    Examples
    --------
    >>> s, bad = coerce_column(pd.Series(["7,5", "x", ""]), schema.Column("score", "float"),
    ...                        file="a.csv", decimal_comma=True)
    >>> s.tolist(), bad["rule"].tolist()
    ([7.5, <NA>, <NA>], ['invalid_number'])
    """
    kind = col.kind
    pos_all = np.arange(len(raw))
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            out = raw.dt.tz_localize(None) if raw.dt.tz is not None else raw
            out = out.astype("datetime64[ns]").dt.normalize()
            return out.rename(col.name), empty_cells()
        text = _as_text(raw)
        fmt = detect_date_format(text, file, col.name)
        if fmt is None:
            out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
            bad = text.ne("").fillna(False).to_numpy(dtype=bool)
            return out.rename(col.name), _cells(
                pos_all[bad], col.name, "invalid_date", "is not a date in the form YYYY-MM-DD"
            )
        pattern = ISO_DATE if fmt == _ISO_FMT else DMY_DATE
        ok = text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
        parsed = pd.to_datetime(text.where(ok), format=fmt, errors="coerce")
        parsed = pd.Series(parsed, index=raw.index).astype("datetime64[ns]")
        nonempty = text.ne("").fillna(False).to_numpy(dtype=bool)
        bad = nonempty & parsed.isna().to_numpy()
        form = "YYYY-MM-DD" if fmt == _ISO_FMT else "DD-MM-YYYY (the form of this column)"
        return parsed.rename(col.name), _cells(
            pos_all[bad],
            col.name,
            "invalid_date",
            f"is not a valid date in the form {form}",
        )
    if kind in ("id", "str", "cat"):
        text = _as_text(raw).str.strip()
        out = text.mask(text.eq("")).astype(text_dtype or _string_dtype())
        return out.rename(col.name), empty_cells()
    if kind == "bool":
        if pd.api.types.is_bool_dtype(raw.dtype):
            return raw.astype("boolean").rename(col.name), empty_cells()
        text = _as_text(raw).str.strip().str.lower()
        is_true = text.isin(schema.TRUE_VALUES).to_numpy(dtype=bool)
        is_false = text.isin(schema.FALSE_VALUES).to_numpy(dtype=bool)
        out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
        out[is_true] = True
        out[is_false] = False
        bad = text.ne("").fillna(False).to_numpy(dtype=bool) & ~is_true & ~is_false
        return out.rename(col.name), _cells(
            pos_all[bad],
            col.name,
            "invalid_boolean",
            "is not a yes/no value (true/false, 1/0, ja/nee)",
        )
    if kind in ("int", "float"):
        if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
            num = raw.astype("Float64")
            nonempty = num.notna().to_numpy()
        else:
            text = _as_text(raw).str.strip()
            if decimal_comma:
                text = text.str.replace(",", ".", regex=False)
            nonempty = text.ne("").fillna(False).to_numpy(dtype=bool)
            # plain decimal numbers only: no thousands separators, no 'inf'/'nan' words
            looks = text.str.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?").fillna(False)
            num = pd.to_numeric(text.where(looks.to_numpy(dtype=bool)), errors="coerce").astype(
                "Float64"
            )
        values = num.to_numpy(dtype="float64", na_value=np.nan)
        finite = np.isfinite(values)
        if kind == "float":
            bad = nonempty & ~finite
            out = num.mask(~finite)
            return out.rename(col.name), _cells(
                pos_all[bad], col.name, "invalid_number", "is not a number"
            )
        integral = finite & (np.abs(values) < 2.0**53) & (np.floor(values) == values)
        bad = nonempty & ~integral
        clean = np.where(integral, values, 0.0).astype("int64")
        out = pd.Series(pd.array(clean, dtype="Int64"), index=raw.index)
        out[~integral] = pd.NA
        return out.rename(col.name), _cells(
            pos_all[bad], col.name, "invalid_integer", "is not a whole number"
        )
    raise ValueError(f"unknown column kind {kind!r}")  # a schema bug, not a user error


def _as_text(raw: pd.Series) -> pd.Series:
    """Return a column as pyarrow-backed text with missing values as empty text."""
    if isinstance(raw.dtype, pd.StringDtype):
        out = raw.astype(_RAW_STRING)
    elif pd.api.types.is_datetime64_any_dtype(raw.dtype):
        out = raw.dt.strftime(_ISO_FMT).astype(_RAW_STRING)
    else:
        out = raw.astype(object).where(raw.notna(), "").astype(str).astype(_RAW_STRING)
    return out.fillna("")


def infer_extra_column(
    raw: pd.Series, *, decimal_comma: bool = False, text_dtype: pd.StringDtype | None = None
) -> pd.Series:
    """Type a covariate column the data model does not name.

    Whole numbers become ``Int64``, other numbers ``Float64``, anything else ``string``;
    the same values give the same type whatever the file format.

    Examples
    --------
    >>> infer_extra_column(pd.Series(["1", "", "3"])).dtype
    Int64Dtype()
    >>> infer_extra_column(pd.Series(["1,5", "2"]), decimal_comma=True).tolist()
    [1.5, 2.0]
    """
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("boolean")
    text = _as_text(raw).str.strip()
    num_text = text.str.replace(",", ".", regex=False) if decimal_comma else text
    nonempty = text.ne("").fillna(False).to_numpy(dtype=bool)
    is_num = num_text.str.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?").fillna(False)
    if nonempty.any() and bool(is_num.to_numpy(dtype=bool)[nonempty].all()):
        num = pd.to_numeric(num_text.where(is_num.to_numpy(dtype=bool)), errors="coerce")
        values = num.to_numpy(dtype="float64", na_value=np.nan)
        finite = values[~np.isnan(values)]
        if np.all(np.floor(finite) == finite) and np.all(np.abs(finite) < 2.0**53):
            return num.astype("Float64").astype("Int64").rename(raw.name)
        return num.astype("Float64").rename(raw.name)
    return text.mask(text.eq("")).astype(text_dtype or _string_dtype()).rename(raw.name)


def coerce_table(
    raw: RawTable, *, text_dtype: pd.StringDtype | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Type a raw table per :mod:`cohort.schema`; return the typed frame and cell problems.

    The typed frame has every column of the data model in schema order (optional columns
    that were not delivered are all missing), followed by extra household covariates.
    Columns the data model does not allow are left out (validation reports them).
    Index positions match ``raw.frame``. Delivered text columns get ``text_dtype``
    (default: pandas ``string`` as configured); validation types them Arrow-backed, which
    is compact, and converts the accepted rows at the end.
    """
    spec = schema.TABLES[raw.name]
    cols = {}
    problems = []
    for col in spec.columns:
        if col.name in raw.frame.columns:
            typed, bad = coerce_column(
                raw.frame[col.name],
                col,
                file=raw.file,
                decimal_comma=raw.decimal_comma,
                text_dtype=text_dtype,
            )
            cols[col.name] = typed
            problems.append(bad)
        else:
            cols[col.name] = empty_column(col, len(raw.frame))
    if spec.extra_columns_allowed:
        for name in raw.frame.columns:
            if name not in spec.column_names:
                cols[name] = infer_extra_column(
                    raw.frame[name], decimal_comma=raw.decimal_comma, text_dtype=text_dtype
                )
    # the columns are new objects already: no need for the copy DataFrame() makes by default
    frame = pd.DataFrame(cols, index=raw.frame.index, copy=False)
    del cols
    problems = [p for p in problems if len(p)]
    cells = pd.concat(problems, ignore_index=True) if problems else empty_cells()
    return frame, cells


def empty_column(col: schema.Column, n: int) -> pd.Series:
    """An all-missing column of the right dtype for an optional column not delivered."""
    dtype = dtype_of(col)
    if dtype == "datetime64[ns]":
        return pd.Series(pd.NaT, index=range(n), dtype=dtype, name=col.name)
    return pd.Series(pd.NA, index=range(n), dtype=dtype, name=col.name)


def dtype_of(col: schema.Column):
    """Return the pandas dtype of a column kind (see :mod:`cohort.schema`)."""
    return {
        "id": _string_dtype(),
        "str": _string_dtype(),
        "cat": _string_dtype(),
        "date": "datetime64[ns]",
        "bool": pd.BooleanDtype(),
        "int": pd.Int64Dtype(),
        "float": pd.Float64Dtype(),
    }[col.kind]


# ---------------------------------------------------------------------------------------
# Delivery and load


@dataclass
class Delivery:
    """A loaded, validated delivery: one typed DataFrame per table.

    Attributes
    ----------
    tables : dict[str, pandas.DataFrame]
        Accepted rows per table (``sites``, ``households``, ``episodes``, ``legal_measures``,
        ``safety_assessments``, ``referrals``), also available as attributes.
    fingerprint : str
        sha256 hex of the delivery's content (see :func:`fingerprint_of`).
    file_hashes : dict[str, str]
        sha256 per delivered file, for provenance.
    validation : cohort.validate.ValidationReport
        Violations, per-table/per-rule summary and row accounting. With
        ``on_error="proceed"`` it states what was rejected.
    name : str
        The delivery folder's name.
    from_cache : bool
        Whether the tables came from the Parquet cache.
    """

    tables: dict[str, pd.DataFrame]
    fingerprint: str
    file_hashes: dict[str, str]
    validation: object
    name: str = ""
    path: Path | None = None
    from_cache: bool = False

    @property
    def sites(self) -> pd.DataFrame:
        return self.tables["sites"]

    @property
    def households(self) -> pd.DataFrame:
        return self.tables["households"]

    @property
    def episodes(self) -> pd.DataFrame:
        return self.tables["episodes"]

    @property
    def legal_measures(self) -> pd.DataFrame:
        return self.tables["legal_measures"]

    @property
    def safety_assessments(self) -> pd.DataFrame:
        return self.tables["safety_assessments"]

    @property
    def referrals(self) -> pd.DataFrame:
        return self.tables["referrals"]

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.tables.items())
        return f"Delivery({self.name!r}, {counts}, fingerprint={self.fingerprint[:12]})"


def project_root(start: Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` (default: cwd) with a pyproject.toml.

    Falls back to ``start`` itself, so default folders such as ``data/cache`` resolve the
    same from the repository root, ``notebooks/`` or ``tests/``.
    """
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "data").is_dir():
            return folder
    return start


def default_cache_dir() -> Path:
    """``$COHORT_CACHE_DIR`` if set, else ``data/cache`` under the project root."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else project_root() / "data" / "cache"


def load(
    path: str | os.PathLike,
    *,
    on_error: str = "raise",
    cache_dir: str | os.PathLike | None | bool = None,
    tolerance_days: int | None = None,
) -> Delivery:
    """Load, guard and validate a delivery folder; return its accepted tables.

    Parameters
    ----------
    path : str or path-like
        The delivery folder.
    on_error : {"raise", "proceed"}
        ``"raise"`` (default): any validation error raises
        :class:`~cohort.exceptions.ValidationError` with a summary and the full
        ``.violations`` table. ``"proceed"``: keep the valid rows; what was rejected is in
        ``delivery.validation`` (``.summary``, ``.accounting``, ``.rejected``).
    cache_dir : path-like, None or False
        Where the Parquet cache lives (default :func:`default_cache_dir`); ``False``
        disables caching. The cache is keyed by the content hash of the files, so a
        changed file is noticed and validated afresh.
    tolerance_days : int, optional
        How far legal measures and assessments may lie outside their episode
        (default :data:`cohort.validate.EPISODE_TOLERANCE_DAYS`).

    Raises
    ------
    InputNotFoundError, DeliveryError, IdentifierError, ValidationError

    Examples
    --------
    >>> load("no/such/folder")
    Traceback (most recent call last):
    ...
    cohort.exceptions.InputNotFoundError: delivery folder no/such/folder does not exist; check the path
    """
    from cohort import validate as _validate

    if on_error not in ("raise", "proceed"):
        raise ParameterError(f"on_error must be 'raise' or 'proceed', not {on_error!r}")
    tol = _validate.EPISODE_TOLERANCE_DAYS if tolerance_days is None else int(tolerance_days)
    folder = Path(path)
    cache_root = None
    if cache_dir is not False:
        cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if cache_root is not None:
        hashes = delivery_hashes(folder)
        key = _cache_key(fingerprint_of(hashes), tol)
        cached = _read_cache(cache_root / key)
        if cached is not None:
            tables, report = cached
            delivery = Delivery(
                tables=tables,
                fingerprint=fingerprint_of(hashes),
                file_hashes=hashes,
                validation=report,
                name=folder.name,
                path=folder,
                from_cache=True,
            )
            if on_error == "raise":
                report.raise_for_errors()
            return delivery
    raw = read_raw_delivery(folder)
    fingerprint, file_hashes = raw.fingerprint, raw.file_hashes
    tables, report = _validate.validate_raw(raw, tolerance_days=tol, release=True)
    del raw
    delivery = Delivery(
        tables=tables,
        fingerprint=fingerprint,
        file_hashes=file_hashes,
        validation=report,
        name=folder.name,
        path=folder,
    )
    if cache_root is not None:
        _write_cache(cache_root / _cache_key(fingerprint, tol), tables, report)
    if on_error == "raise":
        report.raise_for_errors()
    return delivery


def _cache_key(fingerprint: str, tolerance_days: int) -> str:
    from cohort import __version__

    settings = f"{CACHE_FORMAT}|{__version__}|{tolerance_days}|{pd.options.mode.string_storage}"
    return f"{fingerprint[:32]}-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"


def _write_cache(folder: Path, tables: dict[str, pd.DataFrame], report) -> None:
    """Write tables and the validation report as Parquet.

    Written to a private temporary folder and renamed into place, so a reader never sees
    half a cache and two processes loading the same delivery do not collide. A cache that
    cannot be written (read-only disk) is skipped with a warning: the load itself is done.
    """
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir(parents=True)
        for name, frame in tables.items():
            write_parquet(frame, tmp / f"{name}.parquet")
        report.to_folder(tmp)
        (tmp / "complete.json").write_text(json.dumps({"format": CACHE_FORMAT}), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except OSError as error:
        warnings.warn(
            f"the load cache in {folder.parent} was not written ({error.strerror})", stacklevel=3
        )
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(frame: pd.DataFrame, path: Path, chunk_rows: int = CACHE_CHUNK_ROWS) -> None:
    """Write a frame as Parquet like ``frame.to_parquet(path, index=False)``, in row chunks.

    ``to_parquet`` converts the whole frame to Arrow before writing; a table of millions
    of rows with Python strings then briefly needs its size again. Here one chunk of
    ``chunk_rows`` rows (one row group) is converted and written at a time. The schema,
    pandas metadata and values are those of ``to_parquet``, so reading the file gives the
    same frame.

    Examples
    --------
    >>> import tempfile
    >>> df = pd.DataFrame({"id": pd.array(["a", None, "c"], dtype="string"),
    ...                    "n": pd.array([1, 2, None], dtype="Int64")})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_parquet(df, Path(tmp) / "t.parquet", chunk_rows=2)
    ...     back = pd.read_parquet(Path(tmp) / "t.parquet")
    >>> back.equals(df)
    True
    """
    if len(frame) <= chunk_rows:
        frame.to_parquet(path, index=False)
        return
    # the types come from the dtypes (all columns are typed), so an empty slice suffices
    arrow_schema = pa.Schema.from_pandas(frame.iloc[:0], preserve_index=False)
    with pq.ParquetWriter(path, arrow_schema, compression="snappy") as writer:
        for start in range(0, len(frame), chunk_rows):
            chunk = pa.Table.from_pandas(
                frame.iloc[start : start + chunk_rows], schema=arrow_schema, preserve_index=False
            )
            writer.write_table(chunk, row_group_size=chunk_rows)
            del chunk


def _read_cache(folder: Path):
    from cohort.validate import ValidationReport

    if not (folder / "complete.json").is_file():
        return None
    try:
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in schema.TABLES}
        report = ValidationReport.from_folder(folder)
    except (OSError, ValueError, pa.ArrowException):  # a broken cache is rebuilt, not fatal
        return None
    return tables, report
