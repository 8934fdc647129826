"""The one gate: the only code that writes a released file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.delivery.schema import ID_COLUMNS
from cohort.disclosure.cells import _ID_COLUMNS
from cohort.disclosure.policy import SUPPRESSED
from cohort.exceptions import DisclosureError, ParameterError, ReportError
from cohort.files import dumps_json


def released_csv(
    table: pd.DataFrame, *, allow_unprotected: bool = False, float_format: str = "%.6f"
) -> str:
    """Return a table that passed :func:`apply_disclosure` as CSV text, suppressed cells marked.

    Suppressed counts and the values blanked with them are written as :data:`SUPPRESSED`;
    dates as ``YYYY-MM-DD``; floats with ``float_format``; same table, same bytes.

    Raises
    ------
    DisclosureError
        If the table did not pass disclosure control, holds identifier columns, or had
        disclosure control switched off and ``allow_unprotected`` is not set.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["A", "B", "all"], "count": [40, 3, 43]})
    >>> print(released_csv(apply_disclosure(t, group_columns=["site"])), end="")
    site,count,suppressed
    A,[suppressed],true
    B,[suppressed],true
    all,43,false
    """
    record = table.attrs.get("disclosure") if isinstance(table, pd.DataFrame) else None
    if not isinstance(record, dict) or "applied" not in record:
        raise DisclosureError(
            "this table has not passed disclosure control: run cohort.disclosure.cells.apply_disclosure "
            "(or a release function such as cohort.monitor.series.monitor_summary) first"
        )
    if not record["applied"] and not allow_unprotected:
        raise DisclosureError(
            "disclosure control was switched off for this table; it cannot be written as a "
            "release (pass allow_unprotected=True only for internal, non-released work)"
        )
    identifiers = [c for c in table.columns if c in _ID_COLUMNS]
    if identifiers:
        raise DisclosureError(
            f"table holds identifier column(s) {', '.join(identifiers)}: aggregate before release"
        )
    out = table.copy()
    marked = [
        c
        for c in [*record.get("count_columns", []), *record.get("value_columns", [])]
        if c in out.columns
    ]
    flag = (
        out["suppressed"].fillna(False).to_numpy(dtype=bool)
        if "suppressed" in out.columns
        else np.zeros(len(out), bool)
    )
    for c in out.columns:
        column = out[c]
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            text = column.dt.strftime("%Y-%m-%d").astype(object)
        elif pd.api.types.is_bool_dtype(column.dtype):
            text = column.astype(object).map({True: "true", False: "false"})
        elif pd.api.types.is_float_dtype(column.dtype):
            values = column.astype("Float64")
            present = values.notna().to_numpy()
            formatted = np.char.mod(float_format, values.fillna(0).to_numpy(dtype=float))
            text = pd.Series(formatted, index=out.index, dtype=object).where(present, None)
        else:
            text = (
                column.astype(object)
                .where(column.notna(), None)
                .map(lambda v: v if v is None else str(v))
            )
        if c in marked:
            text = text.where(~(flag & column.isna().to_numpy()), SUPPRESSED)
        out[c] = text
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return buffer.getvalue()


def write_released_csv(table: pd.DataFrame, path, *, allow_unprotected: bool = False) -> Path:
    """Write :func:`released_csv` to ``path`` (UTF-8, ``\\n`` line ends); return the path."""
    path = Path(path)
    text = released_csv(table, allow_unprotected=allow_unprotected)
    path.write_text(text, encoding="utf-8", newline="")
    return path


#: Kinds of released file and the report sub-folder each goes to.
KINDS = {"table": "tables", "figure-data": "figure-data"}

_RELEASE_META = "_release"  # sidecar folder inside a build, folded into manifest.json
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
FLOAT_FORMAT = "%.10g"  # released CSVs: 10 significant digits, stable across runs


def _check_releasable(frame: pd.DataFrame, name: str) -> None:
    ids = [c for c in frame.columns if str(c) in ID_COLUMNS]
    if ids:
        raise DisclosureError(
            f"table {name!r} has the identifier column {ids[0]!r}: released tables never "
            "carry pseudonyms or row identifiers; aggregate first"
        )


def _suppressed_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells disclosure control suppressed: True where a marker belongs.

    Tables from :func:`cohort.disclosure.cells.apply_disclosure` (and the release functions built
    on it) carry ``attrs["disclosure"]`` naming their count and value columns and a boolean
    ``suppressed`` column; a suppressed cell is a missing value in one of those columns on
    a suppressed row.
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
    import numpy as np

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
    """The table exactly as written to CSV: every cell text, suppressed cells ``[suppressed]``.

    Examples
    --------
    >>> from cohort.disclosure import apply_disclosure
    >>> t = apply_disclosure(pd.DataFrame({"site": ["A", "B", "all"], "n": [40, 3, 43],
    ...                                    "share": [0.8, 0.06, 0.86]}),
    ...                      count_columns=["n"], group_columns=["site"], value_columns=["share"])
    >>> released_text(t).to_dict("list")["n"], released_text(t).to_dict("list")["share"]
    (['[suppressed]', '[suppressed]', '43'], ['[suppressed]', '[suppressed]', '0.86'])
    """
    mask = _suppressed_cells(frame)
    out = pd.DataFrame({c: _text_column(frame[c]) for c in frame.columns}, index=frame.index)
    out = out.mask(mask, SUPPRESSED)
    out.columns = [str(c) for c in out.columns]
    return out.reset_index(drop=True)


def released_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``[suppressed]`` in suppressed cells, for display; values kept."""
    mask = _suppressed_cells(frame)
    out = frame.copy()
    for column in mask.columns[mask.any().to_numpy()]:
        values = out[column].astype(object)
        values[mask[column].to_numpy()] = SUPPRESSED
        out[column] = values
    out.attrs = {}
    return out


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return released_text(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def release_table(
    frame: pd.DataFrame,
    name: str,
    params,
    *,
    kind: str = "table",
    caption: str | None = None,
) -> pd.DataFrame:
    """Release ``frame`` as ``tables/<name>.csv`` (or ``figure-data/<name>.csv``).

    The frame must already have passed disclosure control (the analysis modules return
    controlled tables); this function refuses identifier columns, writes suppressed cells
    as ``[suppressed]`` and numbers with 10 significant digits, and records the release
    (kind, caption, disclosure policy) for the manifest. Nothing is written when
    ``params.output_dir`` is empty (a plain notebook run), so notebooks can always call it.

    Parameters
    ----------
    frame : DataFrame
        The aggregated, disclosure-controlled table, rows in a stable order.
    name : str
        File name without extension: lower-case letters, digits and ``_``.
    params : Params
        The notebook's parameters (output folder and disclosure policy).
    kind : {"table", "figure-data"}
    caption : str, optional
        What the table shows, recorded in the manifest; by default the caption of
        ``name`` in the report text (``captions`` section) in the report's language.

    Returns
    -------
    DataFrame
        The table as released (markers in suppressed cells), for display.

    Raises
    ------
    DisclosureError
        The frame has an identifier column.
    ParameterError
        A bad name or kind.
    """
    if kind not in KINDS:
        raise ParameterError(f"release kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not _NAME_RE.match(name):
        raise ParameterError(f"release name must be lower-case letters, digits and '_', got {name!r}")
    _check_releasable(frame, name)
    out = released_frame(frame)
    if params.output_dir is None:
        return out
    folder = Path(params.output_dir)
    path = folder / KINDS[kind] / f"{name}.csv"
    meta_path = folder / _RELEASE_META / f"{KINDS[kind]}--{name}.json"
    if meta_path.exists():
        raise ReportError(f"{KINDS[kind]}/{name}.csv is released twice; give each release its own name")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_csv_bytes(frame))
    controlled = frame.attrs.get("disclosure")
    policy = params.disclosure.as_dict()
    meta_path.write_text(dumps_json(
        {
            "file": f"{KINDS[kind]}/{name}.csv",
            "kind": kind,
            "caption": caption,
            "rows": int(len(out)),
            "columns": [str(c) for c in out.columns],
            "suppressed_cells": int(_suppressed_cells(frame).to_numpy().sum()),
            "disclosure_policy": policy,
            "disclosure": _plain(controlled) if controlled is not None else None,
        }
    ), encoding="utf-8")
    return out


def _plain(value):
    """JSON-safe copy of small metadata (policies, dicts, dataclasses)."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)
