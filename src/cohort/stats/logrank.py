"""Log-rank test, as R's ``survdiff`` (rho = 0), optionally stratified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohort.exceptions import DefinitionError
from cohort.stats.base import HypothesisTest, _check_columns, _events, _group_codes, _numeric

__all__ = ["LogRankTest", "logrank_test"]


class LogRankTest(HypothesisTest):
    """Log-rank test of equal survival between groups, as R's ``survdiff`` (rho = 0).

    Optionally stratified (``strata_col``: R's ``strata()``): observed and expected events
    are summed over strata, so groups are compared within strata only.

    Attributes
    ----------
    table_ : DataFrame
        ``group, n, observed, expected`` per group (R's ``survdiff`` table).
    statistic_, df_, p_value_ : chi-square, its degrees of freedom and p-value.
    summary : the per-group table.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "e": [1, 1, 0, 1, 1, 1, 0, 1],
    ...                   "g": list("aabbabab")})
    >>> test = LogRankTest().fit(d, "t", "e", "g")
    >>> round(test.statistic_, 4), test.df_
    (0.5819, 1)
    >>> test
    <LogRankTest: n=8, events=6, group_col=g, strata_col=None, statistic=0.5819, df=1, p=0.4456>
    """

    def fit(self, df, duration_col, event_col, group_col, strata_col=None):
        """Compute the test; returns ``self``.

        Raises
        ------
        DefinitionError
            A column is missing or bad, or there are fewer than two groups.
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
        self.table_ = pd.DataFrame(
            {
                "group": labels,
                "n": np.bincount(groups, minlength=k),
                "observed": observed,
                "expected": expected,
            }
        )
        self.group_col, self.strata_col = group_col, strata_col
        self.n_, self.n_events_ = len(df), int(event.sum())
        self.statistic_, self.df_ = chisq, dof
        self.p_value_ = float(stats.chi2.sf(chisq, dof))
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Observed and expected events per group (chi-square, df and p in ``attrs``)."""
        self._require_fitted()
        out = self.table_.copy()
        out.attrs.update(chisq=self.statistic_, df=self.df_, p=self.p_value_)
        return out

    def describe(self) -> dict:
        out = super().describe()
        stat = {k: out.pop(k) for k in ("statistic", "df", "p")}
        out.update(events=self.n_events_, group_col=self.group_col, strata_col=self.strata_col,
                   **stat)
        return out


def logrank_test(df, duration_col, event_col, group_col, strata_col=None) -> LogRankTest:
    """The fitted :class:`LogRankTest` (named after the test, as R's ``survdiff``).

    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 1, 1], "g": list("abab")})
    >>> round(logrank_test(d, "t", "e", "g").p_value_, 4)
    0.4328
    """
    return LogRankTest().fit(df, duration_col, event_col, group_col, strata_col)
