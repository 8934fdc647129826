"""Dates of the study: the study start, reading a date parameter, checking a period, the
length of a month and numbered quarters.

The definitions are those of ``docs/definitions.md`` (section "Study period and reference
date"); every module that needs the study start, a checked reference date, months in days
or a quarter number takes it from here.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

from cohort.definitions.tables import require_columns
from cohort.exceptions import DefinitionError, ParameterError

#: Start of monitoring (parameter ``study_start``): 1 January 2023.
STUDY_START = pd.Timestamp("2023-01-01")

#: Days in a year (Julian year) and in a month (365.25 / 12 = 30.4375): "6 months after a
#: closure" is 6 * 30.4375 days, "years since registration" is days / 365.25.
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12


def to_date(value, name: str = "date") -> pd.Timestamp:
    """Return ``value`` as a midnight :class:`pandas.Timestamp`.

    Accepts ``YYYY-MM-DD`` strings, dates and timestamps (parameter files and papermill
    deliver dates as strings).

    Raises
    ------
    ParameterError
        If ``value`` is empty, not a date, or has a time of day.

    Examples
    --------
    >>> to_date("2024-02-29", "reference_date")
    Timestamp('2024-02-29 00:00:00')
    >>> to_date("2023-02-29", "reference_date")
    Traceback (most recent call last):
    ...
    cohort.exceptions.ParameterError: reference_date must be a date written YYYY-MM-DD, got '2023-02-29'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise ParameterError(f"{name} is required: give a date written YYYY-MM-DD")
    if isinstance(value, str):
        try:
            parsed = _dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ParameterError(
                f"{name} must be a date written YYYY-MM-DD, got {value!r}"
            ) from None
        return pd.Timestamp(parsed)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a date written YYYY-MM-DD, got {value!r}") from None
    if stamp is pd.NaT or pd.isna(stamp):
        raise ParameterError(f"{name} is required: give a date written YYYY-MM-DD")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    if stamp != stamp.normalize():
        raise ParameterError(f"{name} must be a whole day without a time, got {value!r}")
    return stamp


def check_period(study_start, reference_date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return ``(S, R)`` as timestamps; ``R`` must not be before ``S``.

    Examples
    --------
    >>> check_period("2023-01-01", "2024-12-31")
    (Timestamp('2023-01-01 00:00:00'), Timestamp('2024-12-31 00:00:00'))
    """
    start = to_date(study_start, "study_start")
    reference = to_date(reference_date, "reference_date")
    if reference < start:
        raise ParameterError(
            f"reference_date {reference.date()} is before study_start {start.date()}: "
            "choose a reference date on or after the start of the study"
        )
    return start, reference


def quarter_index(dates) -> np.ndarray:
    """Number calendar quarters consecutively: ``4 * year + quarter - 1``.

    Differences between two values are whole quarters, whatever day of the quarter the
    dates fall on.

    >>> quarter_index(pd.Series(pd.to_datetime(["2023-01-01", "2023-12-31", "2024-04-01"])))
    array([8092, 8095, 8097])
    """
    d = pd.DatetimeIndex(pd.to_datetime(dates))
    return (d.year * 4 + d.quarter - 1).to_numpy(dtype=np.int64)


def with_quarter_number(df: pd.DataFrame, period_col: str = "interval_start",
                        col: str = "quarter", start: int = 0) -> pd.DataFrame:
    """Copy of ``df`` with a whole-quarter time column counted from its first period.

    For the long series of :mod:`cohort.monitor.measures` (``interval_start``): trend models
    need a numeric time.

    Raises
    ------
    DefinitionError
        ``period_col`` is not a column of ``df``.

    >>> s = pd.DataFrame({"interval_start": pd.to_datetime(["2023-01-01", "2023-04-01", "2024-01-01"])})
    >>> with_quarter_number(s)["quarter"].tolist()
    [0, 1, 4]
    """
    require_columns(df, "series", [period_col], error=DefinitionError)
    out = df.copy()
    qi = quarter_index(out[period_col])
    out[col] = qi - qi.min() + start
    return out
