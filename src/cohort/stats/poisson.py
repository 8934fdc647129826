"""Poisson (and quasi-Poisson) regression of counts on time, with a log person-time offset.

``log E[count] = log(person_time) + b0 + b1 time + ...``; equal to R's
``glm(count ~ time + ..., offset = log(person_time), family = poisson)`` and, with
``scale="X2"``, to ``family = quasipoisson`` (dispersion = Pearson chi2 / residual df).
Fitted by statsmodels' IRLS (``GLM``); intervals are Wald (``confint.default``), rate
ratios ``exp`` of the coefficients.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning as _SMConvergenceWarning

from cohort.exceptions import DefinitionError
from cohort.stats.base import RegressionModel, _check_columns, term_support
from cohort.stats.design import design_matrix, log_offset

__all__ = ["PoissonModel", "count_design", "fit_glm"]


def count_design(df: pd.DataFrame, time_col: str | None, covariates=(), categorical=(),
                 levels: dict | None = None) -> pd.DataFrame:
    """The design of the count and share models: ``Intercept``, the time column (if any),
    numeric covariates, treatment indicators with patsy names (``site[T.AMS]``).

    >>> count_design(pd.DataFrame({"q": [0, 1], "site": ["A", "B"]}), "q", categorical=["site"]).columns.tolist()
    ['Intercept', 'q', 'site[T.B]']
    """
    covariates, categorical = list(covariates), list(categorical)
    columns = ([] if time_col is None else [time_col]) + covariates + categorical
    return design_matrix(df, columns, categorical=categorical, levels=levels, intercept=True,
                         naming="patsy", missing="keep")


def fit_glm(model: RegressionModel, y, X: pd.DataFrame, family, *, offset=None,
            scale=None, what: str):
    """Fit a statsmodels GLM for ``model`` and set its coefficients and convergence.

    Sets ``params_``, ``variance_matrix_``, ``converged_`` and ``n_iter_``; issues
    :class:`~cohort.stats.base.ConvergenceWarning` (instead of statsmodels' own) when
    IRLS stops at ``model.max_iter``. Returns the statsmodels result.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _SMConvergenceWarning)
        fit = sm.GLM(y, X.to_numpy(), family=family, offset=offset).fit(
            scale=scale, tol=model.tol, maxiter=model.max_iter)
    names = list(X.columns)
    model.params_ = pd.Series(np.asarray(fit.params), index=names)
    model.variance_matrix_ = pd.DataFrame(np.asarray(fit.cov_params()), index=names, columns=names)
    model.converged_ = bool(fit.converged)
    model.n_iter_ = int(fit.fit_history["iteration"])
    if not model.converged_:
        model._warn_not_converged(what, model.max_iter)
    return fit


class PoissonModel(RegressionModel):
    """Poisson regression of counts (per period) with a log person-time offset.

    Parameters
    ----------
    scale : {None, "X2"}
        ``"X2"``: quasi-Poisson, the dispersion estimated by Pearson chi2 / residual df.
    alpha : float
    max_iter, tol : IRLS iterations and tolerance (statsmodels ``GLM.fit``).

    Attributes
    ----------
    params_, variance_matrix_, summary (rate ratios in ``exp_*``)
    dispersion_ : float
        Pearson chi2 / residual df (also reported for a plain Poisson fit: a value well
        above 1 says to use ``scale="X2"`` or :class:`~cohort.stats.negative_binomial.NegativeBinomialModel`).
    deviance_, df_resid_ : float
    n_ : int
        Rows (periods, or periods by group): the unit of this model.
    term_support_ : DataFrame
        Rows and counts behind each term: the unit is a row of the aggregated table (a
        period), ``events`` sums the counts.

    Examples
    --------
    >>> df = pd.DataFrame({"q": np.arange(6.0), "n": [10, 12, 15, 13, 18, 22], "py": [100.0] * 6})
    >>> PoissonModel().fit(df, "n", "q", "py").summary["estimate"].round(4).to_dict()
    {'Intercept': -2.295, 'q': 0.1467}
    """

    _exp_scale = "rate ratio"
    _release_ratio_names = ("rate_ratio", "rr_ci_lower", "rr_ci_upper")

    def __init__(self, scale: str | None = None, alpha: float = 0.05, max_iter: int = 100,
                 tol: float = 1e-12):
        super().__init__(alpha)
        if scale not in (None, "X2"):
            raise DefinitionError(f"scale must be None (Poisson) or 'X2' (quasi-Poisson), got {scale!r}")
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, df: pd.DataFrame, count_col: str, time_col: str | None = None,
            person_time_col: str | None = None, covariates=(), categorical=(),
            levels: dict | None = None):
        """Fit; returns ``self``.

        Parameters
        ----------
        df : DataFrame
            One row per period (and group).
        count_col : str
        time_col : str or None
            Numeric time (e.g. quarters, :func:`cohort.definitions.dates.with_quarter_number`).
        person_time_col : str, optional
            Person-time at risk (the offset); ``None`` models the counts themselves.
        covariates, categorical : sequences of str
        levels : dict, optional
            Level order of categorical columns (first = reference).

        Raises
        ------
        DefinitionError
            A column is missing or a person-time is not positive.
        """
        _check_columns(df, [count_col, time_col, person_time_col, *covariates, *categorical])
        X = count_design(df, time_col, covariates, categorical, levels)
        y = df[count_col].to_numpy(dtype=float)
        fit = fit_glm(self, y, X, sm.families.Poisson(), offset=log_offset(df, person_time_col),
                      scale=self.scale, what="Poisson model")
        self.dispersion_ = float(fit.pearson_chi2 / fit.df_resid)
        self.deviance_ = float(fit.deviance)
        self.df_resid_ = float(fit.df_resid)
        self.n_ = len(y)
        self.count_col, self.time_col, self.person_time_col = count_col, time_col, person_time_col
        self.term_support_ = term_support(X.to_numpy(dtype=float), X.columns, np.arange(len(y)), y)
        return self

    @property
    def family_(self) -> str:
        return "quasi-Poisson" if self.scale else "Poisson"

    def release_table(self) -> pd.DataFrame:
        """``term, estimate, se, ci_lower, ci_upper, statistic, p, rate_ratio, rr_ci_lower,
        rr_ci_upper``; attributes ``dispersion``, ``deviance``, ``df_resid``, ``model``."""
        out = super().release_table()
        out.attrs.update(dispersion=self.dispersion_, deviance=self.deviance_,
                         df_resid=self.df_resid_, model=self.family_)
        return out

    def describe(self) -> dict:
        out = super().describe()
        out.update(family=self.family_, link="log", offset=self.person_time_col,
                   dispersion=self.dispersion_,
                   scale="Pearson chi2 / residual df" if self.scale else "fixed at 1",
                   unit="row (period)")
        return out
