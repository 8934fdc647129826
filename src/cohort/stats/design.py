"""Design matrices with treatment coding: the one builder of every regression model.

:func:`design_matrix` turns the columns of an analysis table into the numeric design of a
model. Numeric and boolean columns are used as they are (booleans as 0/1); categorical
columns become one indicator per level except the first, the reference (R's treatment
contrasts, ``contr.treatment``). Levels are, in this order of precedence, those given in
``levels``, the categories of a pandas ``Categorical`` that occur in the data, in their
order, or the sorted distinct values (as R's ``factor``).

Two naming conventions exist, because released tables use both and must not change:

* ``naming="r"``: ``siteFLE``, as R's ``coxph`` and ``crr`` name a level; the survival
  models (:class:`~cohort.stats.cox.CoxPH`, :class:`~cohort.stats.fine_gray.FineGray`).
* ``naming="patsy"``: ``site[T.FLE]``, as patsy and statsmodels formulas do; the mixed
  model, the GEE and the trend models.

:func:`log_offset` is the log person-time offset of the count models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.definitions.tables import require_columns
from cohort.exceptions import DefinitionError

NAMINGS = ("r", "patsy")


def _dummy_name(column, level, naming: str) -> str:
    return f"{column}{level}" if naming == "r" else f"{column}[T.{level}]"


def _levels(values: pd.Series, column, levels: dict | None) -> list:
    if levels and column in levels:
        return list(levels[column])
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.remove_unused_categories().cat.categories)
    return sorted(pd.unique(values.dropna()))


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s))


def design_matrix(df: pd.DataFrame, columns, *, categorical=(), levels: dict | None = None,
                  intercept: bool = False, naming: str = "r",
                  missing: str = "raise") -> pd.DataFrame:
    """Numeric design matrix with treatment coding (one column per model term).

    Parameters
    ----------
    df : DataFrame
        The analysis table; it is not changed.
    columns : sequence of str
        Covariates in the order of the design. A column is coded as categorical when it
        is listed in ``categorical`` or is neither numeric nor boolean (text, category).
    categorical : sequence of str
        Columns to code as categorical even if numeric (codes of a site, a year).
    levels : dict, optional
        Level order per categorical column; the first is the reference.
    intercept : bool
        Start with a column ``Intercept`` of ones.
    naming : {"r", "patsy"}
        ``siteFLE`` or ``site[T.FLE]`` for the indicator of level ``FLE`` of ``site``.
    missing : {"raise", "keep"}
        ``"raise"``: a missing value is a :class:`~cohort.exceptions.DefinitionError`
        (complete-case analysis is the caller's choice). ``"keep"``: missing values give
        ``NaN`` in the design (in every indicator of a categorical), for a model that
        leaves such rows out itself.

    Returns
    -------
    DataFrame
        Same index as ``df``. ``attrs["assign"]`` maps each design column to the covariate
        (term) it codes, as R's ``assign``; ``attrs["levels"]`` the levels used per
        categorical column.

    Raises
    ------
    DefinitionError
        A column is missing, an option is unknown, or a value is missing with
        ``missing="raise"``.

    Examples
    --------
    >>> d = pd.DataFrame({"a": [1.0, 2.0, 3.0], "s": ["y", "x", "z"]})
    >>> design_matrix(d, ["a", "s"])
         a   sy   sz
    0  1.0  1.0  0.0
    1  2.0  0.0  0.0
    2  3.0  0.0  1.0
    >>> design_matrix(d, ["a", "s"], intercept=True, naming="patsy", levels={"s": ["z", "x", "y"]})
       Intercept    a  s[T.x]  s[T.y]
    0        1.0  1.0     0.0     1.0
    1        1.0  2.0     1.0     0.0
    2        1.0  3.0     0.0     0.0
    """
    columns = list(columns)
    categorical = list(categorical)
    if naming not in NAMINGS:
        raise DefinitionError(f"naming must be one of {NAMINGS}, got {naming!r}")
    if missing not in ("raise", "keep"):
        raise DefinitionError(f"missing must be 'raise' or 'keep', got {missing!r}")
    require_columns(df, "analysis table", [*columns, *categorical], error=DefinitionError)
    parts: dict[str, np.ndarray] = {}
    assign: dict[str, str] = {}
    used_levels: dict[str, list] = {}
    if intercept:
        parts["Intercept"] = np.ones(len(df))
        assign["Intercept"] = "Intercept"
    for col in dict.fromkeys(columns + [c for c in categorical if c not in columns]):
        s = df[col]
        na = s.isna()
        if missing == "raise" and na.any():
            raise DefinitionError(
                f"covariate {col!r} has {int(na.sum())} missing value(s); drop those rows "
                "(complete-case analysis, as R's na.omit) or impute before fitting"
            )
        if col not in categorical and not _is_categorical(s):
            parts[col] = s.to_numpy(dtype="float64", na_value=np.nan)
            assign[col] = col
            continue
        lv = _levels(s, col, levels)
        used_levels[col] = lv
        gaps = na.to_numpy()
        # codes against the levels (a value outside them, or missing, has code -1)
        codes = pd.Categorical(s, categories=lv).codes
        for k, level in enumerate(lv[1:], start=1):
            name = _dummy_name(col, level, naming)
            dummy = (codes == k).astype("float64")
            if gaps.any():
                dummy[gaps] = np.nan
            parts[name] = dummy
            assign[name] = col
    out = pd.DataFrame(parts, index=df.index)
    out.attrs["assign"] = assign  # design column -> covariate (term), as R's assign
    out.attrs["levels"] = used_levels
    return out


def log_offset(df: pd.DataFrame, person_time_col: str | None) -> np.ndarray | None:
    """``log(person_time)`` for a count model's offset (``None`` without person-time).

    Raises
    ------
    DefinitionError
        A person-time is missing, zero or negative.

    Examples
    --------
    >>> log_offset(pd.DataFrame({"py": [1.0, np.e]}), "py").round(6).tolist()
    [0.0, 1.0]
    """
    if person_time_col is None:
        return None
    pt = df[person_time_col].to_numpy(dtype=float, na_value=np.nan)
    if np.any(~np.isfinite(pt) | (pt <= 0)):
        raise DefinitionError(
            f"person-time column '{person_time_col}' must be positive in every row; "
            "drop periods without person-time first"
        )
    return np.log(pt)
