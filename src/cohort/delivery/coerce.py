"""Typing a delivery's text columns by the data model: dates, booleans, numbers, codes.

Each problem becomes a cell finding (position, column, rule, detail) that validation turns
into a violation; nothing here drops a row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.delivery import schema
from cohort.delivery.read import (
    _DMY_FMT,
    _ISO_FMT,
    _RAW_STRING,
    DMY_DATE,
    ISO_DATE,
    RawTable,
    _string_dtype,
)
from cohort.exceptions import DeliveryError

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
    """Type a raw table per :mod:`cohort.delivery.schema`; return the typed frame and problems.

    The typed frame has every column of the data model in schema order (optional columns
    that were not delivered are all missing, or hold their ``default`` where the data model
    gives one, as ``sites.arm`` does), then the columns the delivery declared in
    ``columns.yaml`` (typed as declared), then the other extra household covariates.
    Columns the data model does not allow are left out (validation reports them).
    Index positions match ``raw.frame``. Delivered text columns get ``text_dtype``
    (default: pandas ``string`` as configured); validation types them Arrow-backed, which
    is compact, and converts the accepted rows at the end.
    """
    spec = schema.with_declared(schema.TABLES[raw.name], raw.declared)
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
        if col.default is not None:
            # an optional column with a default (sites.arm): not delivered or left empty
            # means the default, so older deliveries read as they always did
            cols[col.name] = cols[col.name].fillna(col.default)
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
    """Return the pandas dtype of a column kind (see :mod:`cohort.delivery.schema`)."""
    return {
        "id": _string_dtype(),
        "str": _string_dtype(),
        "cat": _string_dtype(),
        "date": "datetime64[ns]",
        "bool": pd.BooleanDtype(),
        "int": pd.Int64Dtype(),
        "float": pd.Float64Dtype(),
    }[col.kind]
