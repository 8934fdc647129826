"""The one design-matrix builder (cohort.stats.design): coding, naming, levels, missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.design import design_matrix, log_offset


def test_design_matrix_treatment_coding():
    d = design_matrix(pd.DataFrame({"a": [1, 2, 3], "s": ["y", "x", "z"]}), ["a", "s"])
    assert list(d.columns) == ["a", "sy", "sz"]
    assert d["sy"].tolist() == [1.0, 0.0, 0.0]
    assert d.attrs["assign"] == {"a": "a", "sy": "s", "sz": "s"}
    assert d.attrs["levels"] == {"s": ["x", "y", "z"]}


def test_patsy_naming_intercept_and_levels():
    df = pd.DataFrame({"t": [0.0, 1.0, 2.0], "site": ["B", "A", "C"], "flag": [True, False, True]})
    d = design_matrix(df, ["t", "flag", "site"], intercept=True, naming="patsy",
                      levels={"site": ["C", "A", "B"]})
    assert list(d.columns) == ["Intercept", "t", "flag", "site[T.A]", "site[T.B]"]
    assert d["flag"].tolist() == [1.0, 0.0, 1.0]
    assert d["site[T.B]"].tolist() == [1.0, 0.0, 0.0]
    assert (d["Intercept"] == 1.0).all()


def test_categorical_order_and_numeric_codes():
    cat = pd.Categorical(["low", "high", "low"], categories=["low", "mid", "high"])
    d = design_matrix(pd.DataFrame({"sev": cat, "year": [2024, 2023, 2025]}), ["sev", "year"],
                      categorical=["year"])
    # the categorical's order (low first; "mid" does not occur) and codes sorted as numbers
    assert list(d.columns) == ["sevhigh", "year2024", "year2025"]
    assert d["year2024"].tolist() == [1.0, 0.0, 0.0]


def test_missing_values_raise_or_are_kept():
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0], "s": pd.array(["a", "b", None], dtype="string")})
    with pytest.raises(DefinitionError, match="missing value"):
        design_matrix(df, ["x", "s"])
    kept = design_matrix(df, ["x", "s"], missing="keep", naming="patsy")
    assert np.isnan(kept["x"].iloc[1]) and np.isnan(kept["s[T.b]"].iloc[2])
    assert kept["s[T.b]"].iloc[:2].tolist() == [0.0, 1.0]


def test_bad_options_and_columns():
    df = pd.DataFrame({"x": [1.0]})
    with pytest.raises(DefinitionError, match="naming"):
        design_matrix(df, ["x"], naming="stata")
    with pytest.raises(DefinitionError, match="lacks column"):
        design_matrix(df, ["y"])


def test_input_is_not_changed():
    df = pd.DataFrame({"x": [1, 2], "s": ["a", "b"]})
    before = df.copy()
    design_matrix(df, ["x", "s"], intercept=True)
    pd.testing.assert_frame_equal(df, before)


def test_log_offset():
    assert log_offset(pd.DataFrame({"py": [1.0]}), None) is None
    with pytest.raises(DefinitionError, match="positive"):
        log_offset(pd.DataFrame({"py": [1.0, 0.0]}), "py")
