"""Dates of the study: the study start, reading a date parameter, checking a period.

The definitions are those of ``docs/definitions.md`` (section "Study period and reference
date"); every module that needs the study start or a checked reference date takes it from
here.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

from cohort.exceptions import ParameterError

#: Start of monitoring (parameter ``study_start``): 1 January 2023.
STUDY_START = pd.Timestamp("2023-01-01")


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
