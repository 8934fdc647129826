"""Checks on the tables a definition or an analysis reads: required columns, date columns.

Every module of :mod:`cohort.definitions`, :mod:`cohort.monitor` and :mod:`cohort.stats`
checks its input with these two functions, so that a missing column or a column of
badly written dates is reported the same way wherever it is found.

* :func:`require_columns` - the columns a table must have. Delivery tables raise
  :class:`~cohort.exceptions.DeliveryError` (load the delivery with ``cohort.load``);
  analysis tables handed to an estimator raise
  :class:`~cohort.exceptions.DefinitionError` (name an existing column).
* :func:`date_column` / :func:`date_values` - a column of dates as ``datetime64[ns]``,
  parsing text written ``YYYY-MM-DD`` and refusing anything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.exceptions import DefinitionError, DeliveryError

_HINTS = {
    DeliveryError: "load the delivery with cohort.load so that it follows the data model",
    DefinitionError: "pass the names of existing columns",
}


def require_columns(frame: pd.DataFrame, table: str, columns, *, error=DeliveryError,
                    hint: str | None = None) -> None:
    """Raise ``error`` naming the table and the columns it lacks.

    Parameters
    ----------
    frame : DataFrame
    table : str
        Name of the table in the message (``"episodes"``, ``"analysis table"``).
    columns : iterable of str
        Required columns; ``None`` entries (an optional column not asked for) are skipped.
    error : exception class
        :class:`~cohort.exceptions.DeliveryError` (default) for delivery tables,
        :class:`~cohort.exceptions.DefinitionError` for analysis tables.
    hint : str, optional
        What to do; by default a hint fitting ``error``.

    Raises
    ------
    DeliveryError or DefinitionError
        At least one column is missing.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), "t", ["a", None])
    >>> require_columns(pd.DataFrame({"a": [1]}), "t", ["a", "b"], error=DefinitionError)
    Traceback (most recent call last):
    ...
    cohort.exceptions.DefinitionError: table 't' lacks column(s) 'b' (columns present: 'a'); pass the names of existing columns
    """
    missing = [c for c in columns if c is not None and c not in frame.columns]
    if missing:
        present = ", ".join(repr(c) for c in frame.columns) or "none"
        hint = hint or _HINTS.get(error, _HINTS[DefinitionError])
        raise error(
            f"table {table!r} lacks column(s) {', '.join(repr(c) for c in missing)} "
            f"(columns present: {present}); {hint}"
        )


def date_column(series: pd.Series, table: str, column: str) -> pd.Series:
    """A column of dates as ``datetime64[ns]``; text must be written ``YYYY-MM-DD``.

    Missing values become ``NaT``. The input is not changed.

    Raises
    ------
    DeliveryError
        A value is text that is not a date written ``YYYY-MM-DD``.

    Examples
    --------
    >>> date_column(pd.Series(["2024-01-31", None]), "episodes", "closure_date").tolist()
    [Timestamp('2024-01-31 00:00:00'), NaT]
    """
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.astype("datetime64[ns]")
    try:
        return pd.to_datetime(series, format="%Y-%m-%d").astype("datetime64[ns]")
    except (TypeError, ValueError):
        raise DeliveryError(
            f"table {table!r} column {column!r} holds values that are not dates written "
            "YYYY-MM-DD; load the delivery with cohort.load, which reports the rows"
        ) from None


def date_values(frame: pd.DataFrame, table: str, column: str) -> np.ndarray:
    """Column ``column`` of ``frame`` as a ``datetime64[ns]`` array (see :func:`date_column`).

    Examples
    --------
    >>> date_values(pd.DataFrame({"d": ["2024-01-31"]}), "t", "d")
    array(['2024-01-31T00:00:00.000000000'], dtype='datetime64[ns]')
    """
    return date_column(frame[column], table, column).to_numpy(dtype="datetime64[ns]")
