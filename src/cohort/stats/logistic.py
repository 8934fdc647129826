"""Binomial (logistic) regression of a share per period on time, on grouped counts.

``logit P = b0 + b1 time + ...`` fitted to numerator / denominator counts, equal to R's
``glm(cbind(x, n - x) ~ time + ..., family = binomial)``. For shares such as registrations
without children among registrations. Odds ratios are ``exp`` of the coefficients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from cohort.exceptions import DefinitionError
from cohort.stats.base import RegressionModel, _check_columns, term_support
from cohort.stats.poisson import count_design, fit_glm

__all__ = ["LogisticModel"]


class LogisticModel(RegressionModel):
    """Logistic regression of grouped binomial counts (one row per period and group).

    Parameters
    ----------
    alpha : float
    max_iter, tol : IRLS iterations and tolerance (statsmodels ``GLM.fit``).

    Attributes
    ----------
    params_, variance_matrix_, summary (odds ratios in ``exp_*``)
    deviance_, df_resid_ : float
    n_ : int
        Rows used (rows with a zero denominator are left out).
    term_support_ : DataFrame
        The unit is a row of the aggregated table (a period); ``events`` sums the
        numerators.

    Examples
    --------
    >>> df = pd.DataFrame({"q": np.arange(6.0), "x": [10, 12, 15, 14, 18, 21], "n": [100] * 6})
    >>> LogisticModel().fit(df, "x", "n", "q").params_.round(4).to_dict()
    {'Intercept': -2.1707, 'q': 0.1636}
    """

    _exp_scale = "odds ratio"
    _release_ratio_names = ("odds_ratio", "or_ci_lower", "or_ci_upper")

    def __init__(self, alpha: float = 0.05, max_iter: int = 100, tol: float = 1e-12):
        super().__init__(alpha)
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, df: pd.DataFrame, numerator_col: str, denominator_col: str,
            time_col: str | None = None, covariates=(), categorical=(),
            levels: dict | None = None):
        """Fit; returns ``self``.

        Raises
        ------
        DefinitionError
            A column is missing, or a numerator lies outside 0 and its denominator.
        """
        _check_columns(df, [numerator_col, denominator_col, time_col, *covariates, *categorical])
        x = df[numerator_col].to_numpy(dtype=float)
        n = df[denominator_col].to_numpy(dtype=float)
        if np.any((x < 0) | (x > n)):
            raise DefinitionError(f"'{numerator_col}' must lie between 0 and '{denominator_col}' in every row")
        keep = n > 0
        X = count_design(df.loc[keep], time_col, covariates, categorical, levels)
        fit = fit_glm(self, np.column_stack([x[keep], n[keep] - x[keep]]), X,
                      sm.families.Binomial(), what="logistic model")
        self.deviance_ = float(fit.deviance)
        self.df_resid_ = float(fit.df_resid)
        self.n_ = int(keep.sum())
        self.numerator_col, self.denominator_col, self.time_col = numerator_col, denominator_col, time_col
        self.term_support_ = term_support(X.to_numpy(dtype=float), X.columns,
                                          np.arange(self.n_), x[keep])
        return self

    def release_table(self) -> pd.DataFrame:
        """``term, estimate, se, ci_lower, ci_upper, statistic, p, odds_ratio, or_ci_lower,
        or_ci_upper``; attributes ``deviance``, ``df_resid``, ``model``."""
        out = super().release_table()
        out.attrs.update(deviance=self.deviance_, df_resid=self.df_resid_, model="binomial")
        return out

    def describe(self) -> dict:
        out = super().describe()
        out.update(family="binomial", link="logit", unit="row (period)")
        return out
