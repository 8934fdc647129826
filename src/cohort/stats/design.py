"""Design matrices with R-style treatment coding.
"""

from __future__ import annotations

import pandas as pd

from cohort.exceptions import DefinitionError
from cohort.stats.base import _check_columns

# ----------------------------------------------------------------------------- Cox model


def design_matrix(df: pd.DataFrame, columns) -> pd.DataFrame:
    """Numeric covariate matrix with R-style treatment coding.

    Numeric and boolean columns are used as they are (booleans as 0/1); text or categorical
    columns become one indicator per level except the first (sorted, or the categorical's
    order), named ``<column><level>`` as R names them.

    Examples
    --------
    >>> import pandas as pd
    >>> design_matrix(pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]}), ["a", "s"])
         a   sy
    0  1.0  0.0
    1  2.0  1.0
    """
    _check_columns(df, columns)
    parts = {}
    assign = {}
    for col in columns:
        s = df[col]
        if s.isna().any():
            raise DefinitionError(
                f"covariate {col!r} has {int(s.isna().sum())} missing value(s); drop those rows "
                "(complete-case analysis, as R's na.omit) or impute before fitting"
            )
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            parts[col] = s.astype("float64").to_numpy()
            assign[col] = col
            continue
        cat = s.astype("category") if not isinstance(s.dtype, pd.CategoricalDtype) else s
        if not isinstance(s.dtype, pd.CategoricalDtype):
            cat = cat.cat.reorder_categories(sorted(cat.cat.categories))
        for level in cat.cat.categories[1:]:
            parts[f"{col}{level}"] = (cat == level).to_numpy(dtype="float64")
            assign[f"{col}{level}"] = col
    out = pd.DataFrame(parts, index=df.index)
    out.attrs["assign"] = assign  # design column -> covariate (term), as R's assign
    return out
