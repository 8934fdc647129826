"""Log-rank test, as R's ``survdiff`` (rho = 0), optionally stratified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cohort.exceptions import DefinitionError
from cohort.stats.base import _check_columns, _events, _group_codes, _numeric

# ----------------------------------------------------------------------------- log-rank


@dataclass(frozen=True)
class LogRankResult:
    """Result of :func:`logrank_test`: observed, expected, chi-square, df and p-value."""

    table: pd.DataFrame
    chisq: float
    df: int
    p_value: float


def logrank_test(df, duration_col, event_col, group_col, strata_col=None) -> LogRankResult:
    """Log-rank test of equal survival between groups, as R's ``survdiff`` (rho = 0).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "e": [1, 1, 0, 1, 1, 1, 0, 1],
    ...                   "g": list("aabbabab")})
    >>> round(logrank_test(d, "t", "e", "g").chisq, 4)
    0.5819
    """
    _check_columns(df, [duration_col, event_col, group_col, strata_col])
    time = _numeric(df, duration_col)
    event = _events(df, event_col).astype(np.int64)
    groups, labels = _group_codes(df, group_col)
    strata, _ = _group_codes(df, strata_col)
    k = len(labels)
    if k < 2:
        raise DefinitionError(f"log-rank test needs at least two groups in {group_col!r}")
    frame = pd.DataFrame({"s": strata, "t": time, "g": groups, "d": event})
    # counts per (stratum, time, group)
    cnt = frame.groupby(["s", "t", "g"], sort=True)["d"].agg(["sum", "size"])
    n_tg = cnt["size"].unstack("g", fill_value=0).reindex(columns=range(k), fill_value=0)
    d_tg = cnt["sum"].unstack("g", fill_value=0).reindex(columns=range(k), fill_value=0)
    s_idx = n_tg.index.get_level_values("s").to_numpy()
    n_tg = n_tg.to_numpy(dtype=float)
    d_tg = d_tg.to_numpy(dtype=float)
    # at risk: reverse cumulative sum within stratum
    risk = pd.DataFrame(n_tg[::-1]).groupby(s_idx[::-1]).cumsum().to_numpy()[::-1]
    n_t = risk.sum(axis=1)
    d_t = d_tg.sum(axis=1)
    expected = (risk * (d_t / n_t)[:, None]).sum(axis=0)
    observed = d_tg.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t * n_t * (n_t - 1)), 0.0)
    var = np.diag((risk * (factor * n_t)[:, None]).sum(axis=0)) - (risk * factor[:, None]).T @ risk
    diff = observed - expected
    sub = slice(0, k - 1)
    vsub = var[sub, sub]
    chisq = float(diff[sub] @ np.linalg.pinv(vsub) @ diff[sub])
    dof = int(np.linalg.matrix_rank(vsub))
    table = pd.DataFrame(
        {
            "group": labels,
            "n": np.bincount(groups, minlength=k),
            "observed": observed,
            "expected": expected,
        }
    )
    return LogRankResult(table=table, chisq=chisq, df=dof, p_value=float(stats.chi2.sf(chisq, dof)))
