"""The one gate: the only code that puts a file under a report folder.

Every file of a report reaches disk through :class:`ReleaseFolder`:

* :meth:`ReleaseFolder.release` writes a released table (``tables/NAME.csv``) or the
  data behind a figure (``figure-data/NAME.csv``). It refuses a frame that carries no
  disclosure record (``attrs["disclosure"]``, set by the rules of :mod:`cohort.disclosure`)
  unless the caller gives an explicit exemption reason, which the manifest shows; it
  refuses identifier columns, writes suppressed cells as :data:`SUPPRESSED` and numbers
  with 10 significant digits, neutralises text a spreadsheet would run as a formula
  (:mod:`cohort.disclosure.safe_text`), and records the release (kind, caption, column
  roles, disclosure record, cells neutralised, the notebook that released it) for the
  manifest.
* :meth:`ReleaseFolder.write_document` writes the files that hold no data of their own:
  the report page, the executed notebooks, ``provenance.json`` and ``manifest.json``.
* :func:`publish` swaps a finished build in place of the previous report;
  :func:`discard_build` removes a failed build's files, keeping only the error and the
  failing notebook's traceback (none of the tables its notebooks showed: they were never
  released).

Without a folder (a notebook run outside ``cohort report``) the gate applies every check
and writes nothing, so a notebook behaves the same in JupyterLab as in a build.

:func:`released_text` is the one formatting of a released table, for files and for the
command line (``cohort monitor --csv``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.delivery.schema import ID_COLUMNS
from cohort.disclosure.policy import SUPPRESSED, DisclosurePolicy, check_policy
from cohort.disclosure.safe_text import neutralise_frame
from cohort.exceptions import DisclosureError, ParameterError, ReportError
from cohort.files import dumps_json
from cohort.roles import column_roles, not_additive

__all__ = [
    "KINDS",
    "FLOAT_FORMAT",
    "RECORDS",
    "ReleaseFolder",
    "released_text",
    "released_csv",
    "released_frame",
    "suppressed_cells",
    "publish",
    "discard_build",
]

#: Kinds of released file and the report sub-folder each goes to.
KINDS = {"table": "tables", "figure-data": "figure-data"}

#: Sidecar folder inside a build with one record per released file; folded into the manifest.
RECORDS = "_release"

#: Inputs a build hands to its notebooks (e.g. the earlier report's released monitor);
#: removed with the records before the report is published.
INPUTS = "_inputs"

#: Sub-folder of the records holding the views notebooks noted (:meth:`ReleaseFolder.note_view`).
VIEWS = "views"

#: Environment variable a build sets in each notebook's kernel to the notebook's name, so
#: that every release record says which notebook released the file.
NOTEBOOK_ENV = "COHORT_NOTEBOOK"

#: Released CSVs: 10 significant digits, the same bytes on every run.
FLOAT_FORMAT = "%.10g"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_DOCUMENT_RE = re.compile(r"^(report\.(html|pdf)|provenance\.json|manifest\.json|notebooks/[A-Za-z0-9_.-]+\.ipynb)$")


# ----------------------------------------------------------------------------- text


def suppressed_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells disclosure control suppressed: True where a marker belongs.

    A table from a rule of :mod:`cohort.disclosure` carries ``attrs["disclosure"]`` naming
    its count and value columns and a boolean ``suppressed`` column; a suppressed cell is a
    missing value in one of those columns on a suppressed row.
    """
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    record = frame.attrs.get("disclosure")
    if not isinstance(record, dict) or "suppressed" not in frame.columns:
        return mask
    row = frame["suppressed"].fillna(False).to_numpy(dtype=bool)
    for column in [*record.get("count_columns", []), *record.get("value_columns", [])]:
        if column in frame.columns:
            mask[column] = row & frame[column].isna().to_numpy()
    return mask


def _text_column(column: pd.Series) -> pd.Series:
    """One column as released text: dates ``YYYY-MM-DD``, booleans ``true``/``false``,
    floats with 10 significant digits, missing values empty."""
    present = column.notna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        text = column.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    elif pd.api.types.is_bool_dtype(column.dtype):
        text = np.where(column.fillna(False).to_numpy(dtype=bool), "true", "false").astype(object)
    elif pd.api.types.is_float_dtype(column.dtype):
        values = column.astype("Float64").fillna(0).to_numpy(dtype=float)
        text = np.char.mod(FLOAT_FORMAT, values).astype(object)
    elif pd.api.types.is_integer_dtype(column.dtype):
        text = column.astype("Int64").fillna(0).astype("int64").astype(str).to_numpy(dtype=object)
    else:
        text = column.astype("string").fillna("").to_numpy(dtype=object)
    return pd.Series(np.where(present, text, ""), index=column.index, dtype=object)


def released_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The table exactly as written to CSV: every cell text, suppressed cells ``[suppressed]``,
    and text a spreadsheet would run as a formula made inert
    (:func:`cohort.disclosure.safe_text.neutralise_frame`: a ``'`` in front).

    Examples
    --------
    >>> from cohort.disclosure.cells import apply_disclosure
    >>> t = apply_disclosure(pd.DataFrame({"site": ["A", "B", "all"], "n": [40, 3, 43],
    ...                                    "share": [0.8, 0.06, 0.86]}),
    ...                      count_columns=["n"], group_columns=["site"], value_columns=["share"])
    >>> released_text(t).to_dict("list")["n"], released_text(t).to_dict("list")["share"]
    (['[suppressed]', '[suppressed]', '43'], ['[suppressed]', '[suppressed]', '0.86'])
    """
    return _safe_text(frame)[0]


def _safe_text(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """:func:`released_text` and the number of cells and column names it neutralised."""
    mask = suppressed_cells(frame)
    out = pd.DataFrame({c: _text_column(frame[c]) for c in frame.columns}, index=frame.index)
    out = out.mask(mask, SUPPRESSED)
    out.columns = [str(c) for c in out.columns]
    out, changed = neutralise_frame(out.reset_index(drop=True))
    out.attrs = {}
    return out, changed


def released_csv(frame: pd.DataFrame, *, allow_unprotected: bool = False) -> str:
    """A released table as CSV text (:func:`released_text`, ``\\n`` line ends).

    Raises
    ------
    DisclosureError
        The table carries no disclosure record, or disclosure control was switched off for
        it and ``allow_unprotected`` is not set (internal, non-released work only).

    Examples
    --------
    >>> from cohort.disclosure.cells import apply_disclosure
    >>> t = pd.DataFrame({"site": ["A", "B", "all"], "count": [40, 3, 43]})
    >>> print(released_csv(apply_disclosure(t, group_columns=["site"])), end="")
    site,count,suppressed
    A,[suppressed],true
    B,[suppressed],true
    all,43,false
    """
    record = _record_of(frame)
    if record is None:
        raise DisclosureError(
            "this table has not passed disclosure control: release it through a rule of "
            "cohort.disclosure (for example cohort.disclosure.release.release) first"
        )
    if not record.get("applied", False) and not allow_unprotected:
        raise DisclosureError(
            "disclosure control was switched off for this table; it cannot be written as a "
            "release (allow_unprotected=True only for internal, non-released work)"
        )
    _refuse_identifiers(frame, "this table")
    return released_text(frame).to_csv(index=False, lineterminator="\n")


def released_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``[suppressed]`` in suppressed cells, for display; values kept."""
    mask = suppressed_cells(frame)
    out = frame.copy()
    for column in mask.columns[mask.any().to_numpy()]:
        values = out[column].astype(object)
        values[mask[column].to_numpy()] = SUPPRESSED
        out[column] = values
    out.attrs = {k: v for k, v in frame.attrs.items() if k == "roles"}
    return out


def _record_of(frame) -> dict | None:
    record = frame.attrs.get("disclosure") if isinstance(frame, pd.DataFrame) else None
    return record if isinstance(record, dict) and "applied" in record else None


def _refuse_identifiers(frame: pd.DataFrame, what: str) -> None:
    ids = [str(c) for c in frame.columns if str(c) in ID_COLUMNS]
    if ids:
        raise DisclosureError(
            f"{what} has the identifier column {ids[0]!r}: released tables never carry "
            "pseudonyms or row identifiers; aggregate first"
        )


def _plain(value):
    """JSON-safe copy of small metadata (policies, dicts)."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


# ----------------------------------------------------------------------------- the gate


class ReleaseFolder:
    """A report folder being built; the only way a file gets into it.

    Parameters
    ----------
    folder : path or None
        The build folder (``reports/.NAME.building``); ``None`` checks everything and
        writes nothing (a notebook run outside a build).
    policy : DisclosurePolicy
        The report's disclosure policy, recorded with every release.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> gate = ReleaseFolder(None, DisclosurePolicy())
    >>> gate.release(pd.DataFrame({"total": [3, 41]}), "totals")
    Traceback (most recent call last):
    ...
    cohort.exceptions.DisclosureError: tables/totals.csv: this frame never passed disclosure control; release it through a rule of cohort.disclosure (or, for a table that holds no counts of units, give exemption="why" and the manifest shows it)
    """

    def __init__(self, folder, policy: DisclosurePolicy):
        self.folder = Path(folder) if folder is not None else None
        self.policy = check_policy(policy)

    # -- released tables -----------------------------------------------------------
    def release(
        self,
        frame: pd.DataFrame,
        name: str,
        *,
        kind: str = "table",
        caption: str | None = None,
        exemption: str | None = None,
        about: dict | None = None,
    ) -> pd.DataFrame:
        """Write ``frame`` as ``tables/NAME.csv`` (or ``figure-data/NAME.csv``).

        Parameters
        ----------
        frame : DataFrame
            The released table: the output of a rule of :mod:`cohort.disclosure`.
        name : str
            File name without extension: lower-case letters, digits and ``_``.
        kind : {"table", "figure-data"}
        caption : str, optional
            What the table shows, recorded in the manifest.
        exemption : str, optional
            Why a frame without a disclosure record may be released anyway (it holds no
            counts of units, e.g. a list of rule names). Shown in the manifest; the
            release check still reads the file.
        about : dict, optional
            Plain facts recorded with the release (e.g. what model the table is about).

        Returns
        -------
        DataFrame
            The table as released (markers in suppressed cells), for display.

        Raises
        ------
        DisclosureError
            No disclosure record and no exemption, or an identifier column.
        ParameterError
            A bad name or kind.
        ReportError
            The same file released twice in one report.
        """
        if kind not in KINDS:
            raise ParameterError(f"release kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ParameterError(f"release name must be lower-case letters, digits and '_', got {name!r}")
        if not isinstance(frame, pd.DataFrame):
            raise DisclosureError(f"{KINDS[kind]}/{name}.csv: only tables (DataFrames) are released")
        file = f"{KINDS[kind]}/{name}.csv"
        record = _record_of(frame)
        if record is None and not (isinstance(exemption, str) and exemption.strip()):
            raise DisclosureError(
                f"{file}: this frame never passed disclosure control; release it through a rule "
                "of cohort.disclosure (or, for a table that holds no counts of units, give "
                'exemption="why" and the manifest shows it)'
            )
        _refuse_identifiers(frame, file)
        out = released_frame(frame)
        if self.folder is None:
            return out
        path = self.folder / file
        meta = self.folder / RECORDS / f"{KINDS[kind]}--{name}.json"
        if meta.exists() or path.exists():
            raise ReportError(f"{file} is released twice; give each release its own name")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta.parent.mkdir(parents=True, exist_ok=True)
        text, neutralised = _safe_text(frame)
        _write_atomic(path, text.to_csv(index=False, lineterminator="\n").encode("utf-8"))
        entry = {
            "file": file,
            "kind": kind,
            "caption": caption,
            "rows": int(len(out)),
            "columns": column_roles(frame),
            "not_additive": not_additive(frame),
            "suppressed_cells": int(suppressed_cells(frame).to_numpy().sum()),
            "disclosure_policy": self.policy.as_dict(),
            "disclosure": _plain(record) if record is not None else None,
            "exemption": exemption.strip() if record is None else None,
            "neutralised_cells": int(neutralised),
            "notebook": os.environ.get(NOTEBOOK_ENV) or None,
        }
        if about:
            entry["about"] = _plain(about)
        _write_atomic(meta, dumps_json(entry).encode("utf-8"))
        return out

    # -- documents -----------------------------------------------------------------
    def write_document(self, relative: str, data: bytes | str) -> Path:
        """Write a file that holds no data of its own (the report page, an executed
        notebook, the provenance or the manifest) at ``relative`` in the build.

        Raises
        ------
        ReportError
            ``relative`` is not one of the report's document places, or the gate has no
            folder.
        """
        if not _DOCUMENT_RE.match(relative):
            raise ReportError(
                f"{relative!r} is not a report document (report.html, report.pdf, "
                "provenance.json, manifest.json, notebooks/*.ipynb); tables go through release()"
            )
        if self.folder is None:
            raise ReportError("no report folder to write into (the report is not being built)")
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)
        return path

    # -- inputs of the build ---------------------------------------------------------
    def stage_input(self, name: str, source: Path | None = None, *, text: str | None = None) -> None:
        """Hand the notebooks of this build a file that was released before (e.g. the
        earlier report's ``tables/monitor.csv``), or ``text`` the build wrote for them (the
        further suppressions of :mod:`cohort.disclosure.protect`); it never becomes part of
        the report."""
        if self.folder is None:
            raise ReportError("no report folder to stage an input in (the report is not being built)")
        target = self.folder / INPUTS / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            _write_atomic(target, text.encode("utf-8"))
        else:
            shutil.copyfile(source, target)

    def staged_input(self, name: str) -> Path | None:
        """The path of a staged input, or ``None``."""
        if self.folder is None:
            return None
        path = self.folder / INPUTS / name
        return path if path.is_file() else None

    def note_view(self, digest: str) -> None:
        """Record that this notebook shows a view of released cells (a table protected
        without being released), by the released table's digest: when the build
        suppresses further cells of that table, the notebook runs again to show them
        suppressed."""
        if self.folder is None:
            return
        notebook = os.environ.get(NOTEBOOK_ENV) or "unknown"
        folder = self.folder / RECORDS / VIEWS
        folder.mkdir(parents=True, exist_ok=True)
        entry = {"notebook": notebook, "sha256": digest}
        _write_atomic(folder / f"{notebook}--{digest[:16]}.json", dumps_json(entry).encode("utf-8"))

    def views(self) -> list[dict]:
        """The views noted by :meth:`note_view`, sorted."""
        if self.folder is None or not (self.folder / RECORDS / VIEWS).is_dir():
            return []
        return [json.loads(p.read_text(encoding="utf-8"))
                for p in sorted((self.folder / RECORDS / VIEWS).glob("*.json"))]

    def forget(self, notebook: str) -> list[str]:
        """Remove what ``notebook`` released (files, records, views), before it runs again;
        returns the files removed."""
        if self.folder is None:
            return []
        removed = []
        for file, record in self.records().items():
            if record.get("notebook") == notebook:
                (self.folder / file).unlink(missing_ok=True)
                kind, name = file.split("/", 1)
                (self.folder / RECORDS / f"{kind}--{name[:-4]}.json").unlink(missing_ok=True)
                removed.append(file)
        views = self.folder / RECORDS / VIEWS
        if views.is_dir():
            for path in views.glob(f"{notebook}--*.json"):
                path.unlink()
        return removed

    # -- records -------------------------------------------------------------------
    def records(self) -> dict[str, dict]:
        """The release records of this build, keyed by file, sorted."""
        if self.folder is None:
            return {}
        folder = self.folder / RECORDS
        records = {}
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                record = json.loads(path.read_text(encoding="utf-8"))
                records[record["file"]] = record
        return dict(sorted(records.items()))

    def unrecorded_files(self) -> list[str]:
        """Files in the build's data folders that no release record accounts for."""
        if self.folder is None:
            return []
        recorded = set(self.records())
        on_disk = {
            p.relative_to(self.folder).as_posix()
            for p in self.folder.rglob("*")
            if p.is_file() and p.relative_to(self.folder).parts[0] in KINDS.values()
        }
        return sorted(on_disk - recorded)

    def close_records(self) -> dict[str, dict]:
        """Read the records and remove their sidecar folder (they go into the manifest)."""
        records = self.records()
        if self.folder is not None:
            shutil.rmtree(self.folder / RECORDS, ignore_errors=True)
            shutil.rmtree(self.folder / INPUTS, ignore_errors=True)
        return records


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: a reader never sees
    half a file."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- builds


@contextlib.contextmanager
def build_lock(final: Path):
    """Hold the lock of the report ``final`` for the duration of a build.

    A second build of the same report, at the same time, fails at once with a
    :class:`ReportError` instead of both builds corrupting each other's folders. The lock
    is an ``flock`` on ``.NAME.lock`` next to the report, removed when the build ends; the
    operating system releases the lock however the build ends.
    """
    import fcntl

    final = Path(final)
    path = final.with_name(f".{final.name}.lock")
    try:
        handle = open(path, "a+")  # noqa: SIM115 - held open for the whole build
    except OSError as error:
        raise ReportError(
            f"cannot write in {final.parent} ({error.strerror}); build the report into a folder "
            "you may write to (cohort report PARAMS --reports-dir FOLDER)"
        ) from None
    busy = ReportError(f"another build of report {final.name} is running; wait until it has finished")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        # the file may have been removed by a build that just finished: then it is not the lock
        if not path.exists() or os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino:
            raise busy
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
    finally:
        handle.close()


def publish(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging`` and keep nothing else.

    The previous report is first renamed to ``.NAME.previous``; if the second rename fails
    it is put back. A build that finds ``.NAME.previous`` without ``NAME`` (a process killed
    between the two renames) restores it first (:func:`restore_interrupted`).
    """
    staging, final = Path(staging), Path(final)
    previous = final.with_name(f".{final.name}.previous")
    restore_interrupted(final)
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        final.rename(previous)
    try:
        staging.rename(final)
    except OSError:
        if previous.exists() and not final.exists():
            previous.rename(final)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def restore_interrupted(final: Path) -> bool:
    """Put ``.NAME.previous`` back as ``NAME`` when an earlier swap was interrupted; True if
    it did."""
    final = Path(final)
    previous = final.with_name(f".{final.name}.previous")
    if previous.is_dir() and not final.exists():
        previous.rename(final)
        return True
    return False


def discard_build(staging: Path, failed: Path, error: str, *, notebooks=()) -> Path:
    """Keep a failed build's evidence, never its data.

    Writes ``error.txt`` and a copy of each notebook in ``notebooks`` (the executed notebook
    that failed) to ``failed``, with its tracebacks but none of its other outputs: the
    tables a failed build's notebooks show were never released (a release that fails its
    check, or a second pass that fails, is not protected), so none of them is kept. Removes
    the build folder with everything else (tables, figure data, records, staged inputs).
    Returns ``failed``.
    """
    staging, failed = Path(staging), Path(failed)
    shutil.rmtree(failed, ignore_errors=True)
    failed.mkdir(parents=True)
    kept = [Path(p) for p in notebooks if p is not None and Path(p).is_file()]
    if kept:
        (failed / "notebooks").mkdir()
        for path in kept:
            (failed / "notebooks" / path.name).write_text(_errors_only(path), encoding="utf-8")
    (failed / "error.txt").write_text(error.rstrip("\n") + "\n", encoding="utf-8")
    shutil.rmtree(staging, ignore_errors=True)
    return failed


def _errors_only(path: Path) -> str:
    """An executed notebook with every output removed but the tracebacks."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for cell in data.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"
