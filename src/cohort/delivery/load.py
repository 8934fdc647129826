"""Reading a delivery: files to raw tables, raw tables to typed tables, and :func:`load`.

A delivery is a folder with one table per file, named after the table
(``episodes.csv``, ``episodes.parquet``) or one Excel workbook (``*.xlsx``) with a sheet
per table. Formats may be mixed across tables, but a table may come from one file only.

Reading happens in two steps, so that nothing is lost between them:

1. :func:`read_raw_delivery` reads every file as text (CSV, Excel) or as stored (Parquet)
   into a :class:`RawTable` that remembers, for each row, its **row number as in the
   file**:

   * CSV: the line of the file where the row starts (the header is line 1), so a row
     after a quoted value that spans lines keeps the number an editor shows; the lines
     each row covers are counted too;
   * Excel: the spreadsheet row number (header in row 1, first data row 2);
   * Parquet: the record number, the first record being row 1 (Parquet has no header row).

   Rows with the wrong number of fields are kept aside with their row number, never
   dropped silently.

2. :func:`coerce_table` turns a raw table into the typed table of
   :mod:`cohort.delivery.schema` (with the columns declared in ``columns.yaml``)
   and reports every cell that does not parse. Dates are ISO ``YYYY-MM-DD``;
   ``DD-MM-YYYY`` is accepted too, decided **per column** (a column with both forms is a
   :class:`~cohort.exceptions.DeliveryError`, never guessed per row).

:func:`load` runs the identifier guard and validation (:mod:`cohort.delivery.validate`),
returns a
:class:`Delivery` of validated tables, and caches them as Parquet keyed by the delivery's
content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cohort.delivery import schema
from cohort.delivery.read import delivery_hashes, fingerprint_of, read_raw_delivery
from cohort.exceptions import DeliveryError, ParameterError

#: Bump when the cached layout or the validation rules change: old caches are then ignored.
#: 2: rows numbered by the line where they start, lines accounted for, columns.yaml, the
#: sites' arms.
CACHE_FORMAT = 2

#: Environment variable that overrides the default cache folder.
CACHE_ENV = "COHORT_CACHE_DIR"

#: Rows converted to Arrow at a time when a table is written to the cache. It equals
#: pyarrow's default row-group size, so the files are laid out as ``to_parquet`` would
#: lay them out, while only one row group is held as Arrow data at a time.
CACHE_CHUNK_ROWS = 1 << 20


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
    validation : cohort.delivery.validate.ValidationReport
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


#: Prefix of every pseudonym in a synthetic delivery (``cohort synth``, the bundled one).
SYNTHETIC_PREFIX = "SYN-"


def is_synthetic(tables) -> bool:
    """Whether a delivery is synthetic, decided from its pseudonyms.

    A delivery is synthetic when every pseudonym and row id (the columns of
    :data:`cohort.delivery.schema.ID_COLUMNS`) starts with :data:`SYNTHETIC_PREFIX`, as
    ``cohort synth`` writes them; the bundled delivery is one. Reports built from it say so
    on every page, so a screenshot cannot pass for real figures. A delivery with no
    pseudonyms at all is not called synthetic.

    Parameters
    ----------
    tables : Delivery or mapping of table name to DataFrame

    Raises
    ------
    DeliveryError
        Some pseudonyms are synthetic and others are not: synthetic rows mixed into a real
        delivery (or the reverse) make figures that are neither real nor a demonstration.

    Examples
    --------
    >>> real = {"households": pd.DataFrame({"household_id": ["H9f3a", "H02c1"]})}
    >>> demo = {"households": pd.DataFrame({"household_id": ["SYN-H01", "SYN-H02"]})}
    >>> is_synthetic(real), is_synthetic(demo)
    (False, True)
    >>> is_synthetic({"households": pd.DataFrame({"household_id": ["SYN-H01", "H02c1"]})})
    Traceback (most recent call last):
    ...
    cohort.exceptions.DeliveryError: households.household_id mixes synthetic pseudonyms (starting with SYN-) with others; build a report from a synthetic or a real delivery, not both: remove the synthetic rows from a real delivery
    """
    tables = getattr(tables, "tables", tables)
    seen_synthetic, seen_other, first_other = False, False, None
    for name, frame in tables.items():
        for column in schema.ID_COLUMNS:
            if column not in frame.columns:
                continue
            values = frame[column].dropna().astype("string")
            if values.empty:
                continue
            synthetic = values.str.startswith(SYNTHETIC_PREFIX).to_numpy(dtype=bool)
            if synthetic.any() and not synthetic.all():
                first_other = first_other or f"{name}.{column}"
                seen_synthetic = seen_other = True
                break
            seen_synthetic |= bool(synthetic.all())
            if not synthetic.all():
                seen_other = True
                first_other = first_other or f"{name}.{column}"
    if seen_synthetic and seen_other:
        raise DeliveryError(
            f"{first_other} mixes synthetic pseudonyms (starting with {SYNTHETIC_PREFIX}) with others; "
            "build a report from a synthetic or a real delivery, not both: remove the synthetic rows "
            "from a real delivery"
        )
    return seen_synthetic


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
    max_file_bytes: int | None = None,
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
        How far legal measures and assessments may lie outside their episode, 0 to 365
        days (default :data:`cohort.delivery.validate.EPISODE_TOLERANCE_DAYS`).
    max_file_bytes : int, optional
        Largest file read (default :func:`cohort.delivery.read.max_file_bytes`); a larger
        file is refused from its size alone, before it is read.

    Raises
    ------
    InputNotFoundError, DeliveryError, IdentifierError, ValidationError
    ParameterError
        ``on_error`` or ``tolerance_days`` is not valid.

    Examples
    --------
    >>> load("no/such/folder")
    Traceback (most recent call last):
    ...
    cohort.exceptions.InputNotFoundError: delivery folder no/such/folder does not exist; check the path
    """
    from cohort.delivery import validate as _validate

    if on_error not in ("raise", "proceed"):
        raise ParameterError(f"on_error must be 'raise' or 'proceed', not {on_error!r}")
    tol = _validate.check_tolerance(
        _validate.EPISODE_TOLERANCE_DAYS if tolerance_days is None else tolerance_days
    )
    folder = Path(path)
    cache_root = None
    if cache_dir is not False:
        cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if cache_root is not None:
        hashes = delivery_hashes(folder, max_file_bytes=max_file_bytes)
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
    raw = read_raw_delivery(folder, max_file_bytes=max_file_bytes)
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
    from cohort._version import __version__

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
    from cohort.delivery.validate import ValidationReport

    if not (folder / "complete.json").is_file():
        return None
    try:
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in schema.TABLES}
        report = ValidationReport.from_folder(folder)
    except (OSError, ValueError, pa.ArrowException):  # a broken cache is rebuilt, not fatal
        return None
    return tables, report
