"""cohort.definitions.dates: months in days, numbered quarters."""

from __future__ import annotations

import pandas as pd
import pytest

from cohort.definitions.dates import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    quarter_index,
    with_quarter_number,
)
from cohort.exceptions import DefinitionError


def test_months_and_years_in_days():
    assert DAYS_PER_MONTH == 30.4375 and DAYS_PER_YEAR == 365.25
    assert 12 * DAYS_PER_MONTH == DAYS_PER_YEAR


def test_quarter_index_counts_whole_quarters():
    q = quarter_index(pd.to_datetime(["2023-03-31", "2023-04-01", "2024-12-31"]))
    assert (q - q[0]).tolist() == [0, 1, 7]


def test_with_quarter_number_on_a_measures_series():
    series = pd.DataFrame({"indicator": "registrations", "site": ["A", "A", "B"],
                           "interval_start": pd.to_datetime(["2023-04-01", "2023-07-01", "2023-10-01"]),
                           "numerator": [12, 15, 20]})
    out = with_quarter_number(series, start=1)
    assert out["quarter"].tolist() == [1, 2, 3]
    assert "quarter" not in series.columns
    with pytest.raises(DefinitionError, match="lacks column"):
        with_quarter_number(series, period_col="start")
