"""Reading a delivery: find its files, read CSV, Parquet and Excel tables as text.

Every table is read as text (:class:`RawTable`) so that validation sees exactly what the
file holds; typing happens in :mod:`cohort.delivery.coerce`. Files are hashed here
(sha256 per file, one fingerprint per delivery) for provenance and the load cache.

Only regular files inside the delivery folder are read. A table that is a symbolic link,
a folder, a pipe or a device, a file larger than the size limit (:data:`MAX_FILE_BYTES`,
checked from ``stat`` before a byte is read) or a file that cannot be opened is refused
with a :class:`~cohort.exceptions.DeliveryError` that names the file and the rule and
never shows its content. Files are opened without following links (``O_NOFOLLOW``), so a
link put in place after the folder was listed is refused too.

Row numbers and lines
---------------------
For CSV the row a user sees is the **line of the file where the row starts** (the header
is line 1). Every physical line is accounted for: a row whose quoted value spans line
breaks covers several lines (:attr:`RawTable.line_counts`), and ``lines_read`` equals the
lines of the file after the header, so validation can count lines accepted and rejected as
well as rows.
"""

from __future__ import annotations

import codecs
import csv
import errno
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cohort.delivery import schema
from cohort.delivery.columns import DECLARATIONS_FILE, normalise_column_name, read_declarations
from cohort.exceptions import DeliveryError, InputNotFoundError

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")

ISO_DATE = r"\d{4}-\d{2}-\d{2}"
DMY_DATE = r"\d{2}-\d{2}-\d{4}"
_ISO_FMT, _DMY_FMT = "%Y-%m-%d", "%d-%m-%Y"

_RAW_STRING = pd.StringDtype("pyarrow")  # compact and regex-fast while validating

#: Largest file of a delivery that is read (1 GiB): a national delivery of ten million
#: rows holds about 700 MB in its largest table. Checked from ``stat`` before reading.
MAX_FILE_BYTES = 1 << 30

#: Environment variable that sets the limit in MB (``cohort validate --max-file-mb``).
MAX_FILE_ENV = "COHORT_MAX_FILE_MB"

_CHUNK = 1 << 24


def _string_dtype() -> pd.StringDtype:
    """The dtype of id/str/cat columns in loaded tables: pandas ``string``.

    It follows ``pd.options.mode.string_storage`` (``"python"`` by default), so frames
    built with ``astype("string")`` elsewhere compare equal to loaded ones.
    """
    return pd.StringDtype()


def max_file_bytes(limit: int | None = None) -> int:
    """The file-size limit in bytes: ``limit``, else ``$COHORT_MAX_FILE_MB``, else the default.

    Examples
    --------
    >>> max_file_bytes(5) == 5, max_file_bytes() >= 1 << 20
    (True, True)
    """
    if limit is not None:
        value = limit
    else:
        env = os.environ.get(MAX_FILE_ENV)
        if env is None:
            return MAX_FILE_BYTES
        try:
            value = int(float(env) * (1 << 20))
        except ValueError:
            raise DeliveryError(
                f"the environment variable {MAX_FILE_ENV} must be a number of MB (rule: "
                "file_size)"
            ) from None
    if value < 1:
        raise DeliveryError(f"the file-size limit must be positive (rule: file_size); got {value}")
    return int(value)


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
        Row number as in the file for each row of ``frame``: for CSV the line where the
        row starts, for Excel the spreadsheet row, for Parquet the record (from 1).
    bad_rows : pandas.DataFrame
        Rows with the wrong number of fields: ``row`` (line where it starts), ``n_fields``,
        ``expected``, ``text``, ``lines`` (physical lines it covers).
    decimal_comma : bool
        True for semicolon-separated CSV, where ``7,5`` means 7.5.
    header : tuple of str
        The header as written in the file (before normalising).
    line_counts : numpy.ndarray or None
        Physical lines each row of ``frame`` covers (more than 1 where a quoted value spans
        line breaks); ``None`` when every row is one line.
    lines_read : int or None
        Physical lines after the header (CSV); rows for Excel and Parquet.
    unclosed_quote : bool
        The last row of a CSV file opens a quote that is never closed (it runs to the end
        of the file).
    declared : tuple of Column
        The extra columns the delivery declared for this table (``columns.yaml``).
    """

    name: str
    file: str
    format: str
    frame: pd.DataFrame
    row_numbers: np.ndarray
    bad_rows: pd.DataFrame = field(default_factory=lambda: _empty_bad_rows())
    decimal_comma: bool = False
    header: tuple[str, ...] = ()
    line_counts: np.ndarray | None = None
    lines_read: int | None = None
    unclosed_quote: bool = False
    declared: tuple = ()

    @property
    def rows_read(self) -> int:
        """Data rows in the file: well-formed rows plus rows with the wrong field count."""
        return len(self.frame) + len(self.bad_rows)

    @property
    def delimiter(self) -> str | None:
        """The CSV field separator, None for Parquet and Excel."""
        if self.format != "csv":
            return None
        return ";" if self.decimal_comma else ","

    @property
    def physical_lines(self) -> int:
        """Lines of data in the file (rows for Excel and Parquet)."""
        return self.rows_read if self.lines_read is None else int(self.lines_read)

    def lines_of(self, positions) -> int:
        """Physical lines covered by the rows of ``frame`` at ``positions``."""
        positions = np.asarray(positions)
        if self.line_counts is None:
            return int(positions.sum()) if positions.dtype == bool else len(positions)
        return int(self.line_counts[positions].sum())


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
            "lines": pd.Series([], dtype="int64"),
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


# ---------------------------------------------------------------------------------------
# Files: only regular files inside the folder, opened without following links


def _label(name: str) -> str:
    """A file name as shown in messages: the name, unless it looks like an identifier."""
    from cohort.delivery.identifiers import is_safe_label

    return name if is_safe_label([name])[0] else "a file whose name is not shown"


def open_delivery_file(path: Path, limit: int | None = None, file: str | None = None):
    """Open a file of a delivery for reading; return the binary file object.

    The file is opened without following a symbolic link and without blocking on a pipe,
    and must be a regular file of at most ``limit`` bytes (:func:`max_file_bytes`).
    Raises :class:`DeliveryError` (rules ``symlink``, ``not_a_file``, ``file_size``,
    ``unreadable``) naming the file; its content is never read for the message.
    """
    file = file or path.name
    limit = max_file_bytes(limit)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise DeliveryError(
            f"{file} cannot be read: permission denied (rule: unreadable); make the file "
            "readable for the account that runs cohort (for example chmod u+r) and run again"
        ) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _symlink_error(file) from None
        raise DeliveryError(
            f"{file} cannot be opened ({error.strerror or type(error).__name__}) (rule: "
            "unreadable); check that the file exists and is readable"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_a_file_error(file, info.st_mode)
        if info.st_size > limit:
            raise DeliveryError(
                f"{file} is {_size_text(info.st_size)}, more than the limit of "
                f"{_size_text(limit)} per file (rule: file_size); if the table really "
                f"is this large, raise the limit (cohort validate --max-file-mb, or the "
                f"environment variable {MAX_FILE_ENV}); Parquet files are smaller than CSV"
            )
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle


def _size_text(n: int) -> str:
    """``2,048 MB`` for large sizes, ``534 bytes`` for small ones."""
    return f"{n / (1 << 20):,.0f} MB" if n >= 1 << 20 else f"{n:,} bytes"


def _symlink_error(file: str) -> DeliveryError:
    return DeliveryError(
        f"{file} is a symbolic link (rule: symlink); links are not followed, so that nothing "
        "outside the delivery folder is read: copy the file itself into the folder"
    )


def _not_a_file_error(file: str, mode: int) -> DeliveryError:
    if stat.S_ISDIR(mode):
        return DeliveryError(
            f"{file} is a folder, not a file (rule: not_a_file); a table is one file: rename "
            "or move the folder"
        )
    return DeliveryError(
        f"{file} is not a regular file (a pipe, socket or device) (rule: not_a_file); deliver "
        "the table as an ordinary file"
    )


def _read_file(path: Path, limit: int | None, file: str | None = None) -> bytes:
    with open_delivery_file(path, limit, file) as handle:
        try:
            return handle.read()
        except OSError as error:
            raise DeliveryError(
                f"{file or path.name} cannot be read ({error.strerror}) (rule: unreadable); "
                "copy the file again"
            ) from None


def _hash_file(path: Path, limit: int | None) -> str:
    digest = hashlib.sha256()
    with open_delivery_file(path, limit) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class DeliveryLayout:
    """What a delivery folder holds: the file of each table, declarations, ignored files."""

    folder: Path
    tables: dict[str, tuple[Path, str]]
    ignored: list[str]
    declarations: Path | None = None


def delivery_layout(path: str | os.PathLike, *, limit: int | None = None) -> DeliveryLayout:
    """Find the file of each table in a delivery folder.

    Raises :class:`InputNotFoundError` when the folder does not exist and
    :class:`DeliveryError` when it is a link or unreadable, or a table is missing,
    delivered twice, a link, a folder or a special file.
    """
    folder = Path(path)
    if folder.is_symlink():
        raise DeliveryError(
            f"delivery folder {folder} is a symbolic link (rule: symlink); links are not "
            "followed: give the folder itself"
        )
    if not folder.exists():
        raise InputNotFoundError(f"delivery folder {folder} does not exist; check the path")
    if not folder.is_dir():
        raise InputNotFoundError(
            f"{folder} is not a folder; a delivery is a folder with one file per table"
        )
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except PermissionError:
        raise DeliveryError(
            f"delivery folder {folder} cannot be listed: permission denied (rule: unreadable); "
            "make it readable for the account that runs cohort"
        ) from None
    found: dict[str, list[tuple[Path, str]]] = {name: [] for name in schema.TABLES}
    ignored: list[str] = []
    workbooks: list[Path] = []
    declarations = None
    for entry in entries:
        name = entry.name
        if name.startswith((".", "~$")):
            continue
        suffix = Path(name).suffix.lower()
        stem = Path(name).stem.strip().lower()
        is_table = suffix in CSV_SUFFIXES + PARQUET_SUFFIXES and stem in found
        is_book = suffix in EXCEL_SUFFIXES
        is_decl = name.lower() == DECLARATIONS_FILE
        if not (is_table or is_book or is_decl):
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                ignored.append(name)
            continue
        # a file that would be read: it must be a regular file of the folder itself
        if entry.is_symlink():
            raise _symlink_error(name)
        mode = entry.stat(follow_symlinks=False).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_file_error(name, mode)
        if is_decl:
            declarations = Path(entry.path)
        elif is_book:
            workbooks.append(Path(entry.path))
        else:
            found[stem].append((Path(entry.path), "csv" if suffix in CSV_SUFFIXES else "parquet"))
    if len(workbooks) > 1:
        names = ", ".join(w.name for w in workbooks)
        raise DeliveryError(
            f"{folder} holds more than one Excel workbook ({names}); deliver one workbook "
            "with a sheet per table"
        )
    if workbooks:
        book = workbooks[0]
        for sheet in _sheet_names(book, limit):
            key = sheet.strip().lower()
            if key in found:
                found[key].append((book, f"excel:{sheet}"))
    tables = {}
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
        tables[name] = candidates[0]
    return DeliveryLayout(folder, tables, ignored, declarations)


def delivery_files(path: str | os.PathLike) -> tuple[dict[str, tuple[Path, str]], list[str]]:
    """Map each table to its ``(file, format)`` in a delivery folder.

    Returns the mapping and the names of files that are not tables (ignored); see
    :func:`delivery_layout` for what is refused.
    """
    layout = delivery_layout(path)
    return layout.tables, layout.ignored


def _sheet_names(book: Path, limit: int | None) -> list[str]:
    import openpyxl

    with open_delivery_file(book, limit) as handle:
        try:
            wb = openpyxl.load_workbook(handle, read_only=True)
            sheets = list(wb.sheetnames)
            wb.close()
        except Exception as error:  # openpyxl raises many types for broken files
            raise DeliveryError(
                f"{book.name} cannot be read as an Excel workbook ({type(error).__name__}) "
                "(rule: excel_format); save it again as .xlsx or deliver CSV files"
            ) from None
    return sheets


def _display_name(path: Path, fmt: str) -> str:
    return f"{path.name}[{fmt.split(':', 1)[1]}]" if fmt.startswith("excel:") else path.name


def _check_header(names: list[str], file: str) -> list[str]:
    """Normalised column names; empty and repeated names are refused.

    A header that looks like an identifier is never shown: the message names its position.
    """
    from cohort.delivery.identifiers import column_label, is_safe_label

    cols = [normalise_column_name(n) for n in names]
    safe = is_safe_label(names)
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
            label = column_label(f"'{c}'", i + 1, bool(safe[i]))
            raise DeliveryError(
                f"{file} row 1: column {label} appears twice in the header (columns "
                f"{seen[c] + 1} and {i + 1}) (rule: duplicate_header); remove or rename one"
            )
        seen[c] = i
    return cols


def _check_utf8(data: bytes, file: str, chunk_size: int = _CHUNK) -> None:
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


def physical_lines(data: bytes) -> int:
    """Lines in CSV bytes: line ends ``\\n``, ``\\r\\n`` or ``\\r``, plus an unended last line.

    Examples
    --------
    >>> physical_lines(b"a\\nb\\r\\nc\\rd"), physical_lines(b"a\\n\\n"), physical_lines(b"")
    (4, 2, 0)
    """
    n_lf, n_cr = data.count(b"\n"), data.count(b"\r")
    n_crlf = data.count(b"\r\n") if n_cr else 0  # most files have no \r at all
    ended = data.endswith((b"\n", b"\r")) or not data
    return n_lf + n_cr - n_crlf + (0 if ended else 1)


def _line_breaks(values) -> np.ndarray:
    """Line breaks in each text value (``\\r\\n`` counts once), as int64."""
    lf = pc.count_substring(values, "\n")
    cr = pc.count_substring(values, "\r")
    crlf = pc.count_substring(values, "\r\n")
    total = pc.subtract(pc.add(lf, cr), crlf)
    return pc.fill_null(total, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def read_csv_table(
    path: Path, name: str, data: bytes | None = None, *, limit: int | None = None
) -> RawTable:
    """Read one CSV file as text, comma or semicolon separated.

    The separator is the one the header uses (``;`` when the header has more semicolons
    than commas; then decimal commas are accepted in number columns). Rows are numbered
    by the line where they start, and the lines each row covers are counted.
    """
    file = path.name
    if data is None:
        data = _read_file(path, limit)
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
    if b"\n" not in data and b"\r" not in data:
        data += b"\n"  # a header without a line end is still a header
    # the header ends at the first line end; find it without copying the rest of the file
    match = re.compile(rb"\r|\n").search(data)
    first_line = data[: match.start() if match else len(data)].decode("utf-8")
    if first_line.count('"') % 2:
        raise DeliveryError(
            f"{file} line 1: the header has an unbalanced quote (rule: unbalanced_quote); "
            "write the header on one line with every quote closed"
        )
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    header = next(csv.reader([first_line], delimiter=delimiter))
    cols = _check_header(header, file)
    # Parse multi-threaded first; rows with a wrong field count are numbered only by a
    # single-threaded parse, so the (rare) file that has them is parsed again that way.
    table, bad = _parse_csv(data, cols, delimiter, file, use_threads=True)
    if any(b[0] is None for b in bad):
        table, bad = _parse_csv(data, cols, delimiter, file, use_threads=False)
    if any(b[0] is None for b in bad):  # pragma: no cover - single-threaded reads number rows
        raise DeliveryError(f"{file}: rows with a wrong number of fields could not be located")
    n_records = table.num_rows + len(bad)
    data_lines = physical_lines(data) - 1
    if not bad and n_records == data_lines:
        # the usual file: every row covers at least one line, so as many rows as lines
        # means one line each (no value holds a line break that would need counting)
        frame = table.to_pandas(types_mapper=_raw_types_mapper)
        del table
        frame.index = pd.RangeIndex(len(frame))
        return RawTable(
            name=name,
            file=file,
            format="csv",
            frame=frame,
            row_numbers=np.arange(2, n_records + 2, dtype=np.int64),
            decimal_comma=delimiter == ";",
            header=tuple(header),
            lines_read=data_lines,
        )
    # Lines per record: a record covers one line plus the line breaks inside its quoted
    # values (outside quotes a line break ends the record). Without a quote in the file,
    # no value can hold a line break.
    spans = np.ones(n_records, dtype=np.int64)
    bad_index = np.array([b[0] - 2 for b in bad], dtype=np.int64)
    good = np.ones(n_records, dtype=bool)
    good[bad_index] = False
    good_index = np.flatnonzero(good)
    if b'"' in data:
        extra = np.zeros(table.num_rows, dtype=np.int64)
        for column in table.columns:
            extra += _line_breaks(column)
        spans[good_index] += extra
        if len(bad):
            spans[bad_index] += _line_breaks(pa.array([b[3] for b in bad], type=pa.string()))
    unclosed = False
    total = int(spans.sum())
    if n_records and total == data_lines + 1:
        # a quote never closed swallows the file's last line end into its value
        spans[-1] -= 1
        unclosed = True
    elif total != data_lines:
        raise _line_accounting_error(file, n_records, data_lines)
    starts = 2 + np.cumsum(spans) - spans
    frame = table.to_pandas(types_mapper=_raw_types_mapper)
    del table
    frame.index = pd.RangeIndex(len(frame))
    row_numbers = starts[good_index]
    multi = spans[good_index]
    bad_rows = (
        pd.DataFrame(
            {
                "row": starts[bad_index],
                "n_fields": np.array([b[1] for b in bad], dtype="int64"),
                "expected": np.array([b[2] for b in bad], dtype="int64"),
                "text": pd.Series([b[3] for b in bad], dtype=object),
                "lines": spans[bad_index],
            }
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
        header=tuple(header),
        line_counts=multi if (multi != 1).any() else None,
        lines_read=data_lines,
        unclosed_quote=unclosed,
    )


def _line_accounting_error(file: str, n_records: int, data_lines: int) -> DeliveryError:
    return DeliveryError(
        f"{file}: {n_records} rows were read from {data_lines} lines and the two cannot be "
        "matched (rule: line_accounting); check quoting and line ends, and export the file again"
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
    """Arrow's reason without the file content it may quote (``..., got 2: a,b``)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    text = re.sub(r"\s*'[^']*'|\s*\"[^\"]*\"", "", text)
    return ": ".join(text.split(": ")[:2])[:120]


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


def read_parquet_table(
    path: Path, name: str, data: bytes | None = None, *, limit: int | None = None
) -> RawTable:
    """Read one Parquet file; its stored types are kept (typing happens in coerce_table)."""
    if data is None:
        data = _read_file(path, limit)
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as error:  # pyarrow raises several types for broken files
        raise DeliveryError(
            f"{path.name} cannot be read as Parquet ({_arrow_reason(error)}) "
            "(rule: parquet_format); write the file again"
        ) from None
    header = [str(c) for c in table.column_names]
    cols = _check_header(header, path.name)
    table = table.rename_columns(cols)
    frame = table.to_pandas(types_mapper=_raw_types_mapper, ignore_metadata=True)
    frame.index = pd.RangeIndex(len(frame))
    return RawTable(
        name=name,
        file=path.name,
        format="parquet",
        frame=frame,
        row_numbers=np.arange(1, len(frame) + 1, dtype="int64"),
        header=tuple(header),
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


def read_excel_tables(
    path: Path, sheets: dict[str, str], data: bytes | None = None, *, limit: int | None = None
) -> dict[str, RawTable]:
    """Read the sheets of one workbook (``{table: sheet}``) as text tables."""
    if data is None:
        data = _read_file(path, limit)
    try:
        books = pd.read_excel(
            io.BytesIO(data),
            sheet_name=list(sheets.values()),
            header=None,
            dtype=object,
            engine="openpyxl",
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
        header = [str(v) for v in text.iloc[0]]
        cols = _check_header(header, file)
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
            header=tuple(header),
        )
    return out


def read_raw_delivery(path: str | os.PathLike, *, max_file_bytes: int | None = None) -> RawDelivery:
    """Read every table of a delivery folder as a :class:`RawTable`.

    Parameters
    ----------
    path : path-like
        The delivery folder.
    max_file_bytes : int, optional
        Largest file read (default :func:`max_file_bytes`: 1 GiB or ``$COHORT_MAX_FILE_MB``).

    Raises
    ------
    InputNotFoundError
        The folder does not exist.
    DeliveryError
        A table is missing, delivered twice, a link, a folder or special file, too large,
        unreadable, empty, not UTF-8, has a duplicated or empty header, or cannot be parsed;
        ``columns.yaml`` is not valid.
    """
    layout = delivery_layout(path, limit=max_file_bytes)
    limit = max_file_bytes
    tables: dict[str, RawTable] = {}
    hashes: dict[str, str] = {}
    declared = {name: () for name in schema.TABLES}
    if layout.declarations is not None:
        data = _read_file(layout.declarations, limit)
        hashes[layout.declarations.name] = hashlib.sha256(data).hexdigest()
        declared = read_declarations(data, layout.declarations.name)
    excel_sheets: dict[str, str] = {}
    excel_path = None
    for name, (file_path, fmt) in layout.tables.items():
        if fmt in ("csv", "parquet"):
            data = _read_file(file_path, limit)
            hashes[file_path.name] = hashlib.sha256(data).hexdigest()
            reader = read_csv_table if fmt == "csv" else read_parquet_table
            tables[name] = reader(file_path, name, data)
            del data
        else:
            excel_path = file_path
            excel_sheets[name] = fmt.split(":", 1)[1]
    if excel_path is not None:
        data = _read_file(excel_path, limit)
        hashes[excel_path.name] = hashlib.sha256(data).hexdigest()
        tables.update(read_excel_tables(excel_path, excel_sheets, data))
        del data
    for name, table in tables.items():
        table.declared = declared[name]
    tables = {name: tables[name] for name in schema.TABLES}
    ignored = [_label(n) for n in layout.ignored]
    return RawDelivery(path=layout.folder, tables=tables, file_hashes=hashes, ignored_files=ignored)


def delivery_hashes(path: str | os.PathLike, *, max_file_bytes: int | None = None) -> dict[str, str]:
    """Return ``{file name: sha256}`` of the files of a delivery that are read, unparsed.

    The table files and ``columns.yaml``: everything that decides what a load returns.
    """
    layout = delivery_layout(path, limit=max_file_bytes)
    paths = dict.fromkeys(p for p, _fmt in layout.tables.values())  # a workbook once
    if layout.declarations is not None:
        paths[layout.declarations] = None
    return {p.name: _hash_file(p, max_file_bytes) for p in paths}
