"""Negative-binomial (NB2) regression of counts with the dispersion ``theta`` estimated by ML.

``Var(Y) = mu + mu^2 / theta``. Agrees with ``MASS::glm.nb``: the joint maximum
likelihood estimate of ``beta`` and ``theta``; standard errors of ``beta`` from the
expected information at the estimate with ``theta`` held fixed (what
``summary(glm.nb(...))`` reports); ``theta_se_`` from the observed information of ``theta``
with ``mu`` fixed (``glm.nb``'s ``SE.theta``). (statsmodels' ``families.NegativeBinomial()``
alone fixes ``alpha = 1/theta = 1``, which is why it is not used on its own.)

``theta`` is profiled: for each value a GLM with a fixed NB family is fitted by IRLS, and
the profile log-likelihood is maximised over ``log(theta)`` by BFGS followed by Brent's
bracketing search. Not by :func:`~cohort.stats.base.newton_raphson`: the profile
log-likelihood need not be concave in ``theta`` away from its maximum, and Newton's method
needs a positive information at every step; the one-dimensional searches do not.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special
from statsmodels.tools.sm_exceptions import ConvergenceWarning as _SMConvergenceWarning

from cohort.stats.base import (
    ConvergenceWarning,
    RegressionModel,
    StatisticalWarning,
    _check_columns,
    term_support,
)
from cohort.stats.design import log_offset
from cohort.stats.poisson import count_design

__all__ = ["NegativeBinomialModel"]


class NegativeBinomialModel(RegressionModel):
    """Negative-binomial (NB2) regression with ``theta`` estimated, as ``MASS::glm.nb``.

    Parameters
    ----------
    alpha : float
        1 - confidence level of the Wald intervals.
    max_iter : int, optional
        Iterations of each of the two searches over ``theta`` (scipy's defaults if
        ``None``).

    Attributes
    ----------
    params_, variance_matrix_, summary (rate ratios in ``exp_*``)
    bse_ : Series
        Standard errors (as :attr:`standard_errors_`).
    theta_, theta_se_ : float
    loglik_, twologlik_, deviance_ : float
    n_obs_ (also ``n_``) : int
        Rows (periods): the unit of this model.
    converged_, n_iter_ : bool, int
    term_support_ : DataFrame
        The unit is a row of the aggregated table (a period); ``events`` sums the counts.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> q = np.arange(40.0)
    >>> n = rng.negative_binomial(5, 5 / (5 + 20 * np.exp(0.02 * q)))
    >>> m = NegativeBinomialModel().fit(pd.DataFrame({"q": q, "n": n}), "n", "q")
    >>> bool(m.theta_ > 0), m.summary.index.tolist()
    (True, ['Intercept', 'q'])
    """

    _exp_scale = "rate ratio"
    _release_ratio_names = ("rate_ratio", "rr_ci_lower", "rr_ci_upper")

    def __init__(self, alpha: float = 0.05, max_iter: int | None = None):
        super().__init__(alpha)
        self.max_iter = max_iter

    def fit(self, df: pd.DataFrame, count_col: str, time_col: str | None = None,
            person_time_col: str | None = None, covariates=(), categorical=(),
            levels: dict | None = None):
        """Fit; returns ``self``. The arguments are those of
        :meth:`cohort.stats.poisson.PoissonModel.fit`."""
        _check_columns(df, [count_col, time_col, person_time_col, *covariates, *categorical])
        X = count_design(df, time_col, covariates, categorical, levels)
        y = df[count_col].to_numpy(dtype=float)
        off = log_offset(df, person_time_col)
        Xa = X.to_numpy()
        inner_ok = []

        def glm(theta):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", _SMConvergenceWarning)
                fit = sm.GLM(y, Xa, family=sm.families.NegativeBinomial(alpha=1.0 / theta),
                             offset=off).fit(tol=1e-13, maxiter=200)
            inner_ok.append(fit.converged)
            return fit

        def nll(log_theta):
            theta = np.exp(log_theta)
            mu = glm(theta).fittedvalues
            return -self._loglik(y, mu, theta)

        # Start at the moment estimate of theta from a Poisson fit (as glm.nb does).
        pois = sm.GLM(y, Xa, family=sm.families.Poisson(), offset=off).fit()
        mu0 = pois.fittedvalues
        excess = np.sum((y - mu0) ** 2 / mu0 - 1) / (len(y) - Xa.shape[1])
        start = np.log(np.clip(np.mean(mu0) / excess if excess > 0 else 100.0, 1e-3, 1e6))
        bfgs = dict(gtol=1e-10) if self.max_iter is None else dict(gtol=1e-10, maxiter=self.max_iter)
        res = optimize.minimize(lambda v: nll(v[0]), [start], method="BFGS", options=bfgs)
        brent = {} if self.max_iter is None else dict(options=dict(maxiter=self.max_iter))
        res2 = optimize.minimize_scalar(nll, bracket=(res.x[0] - 0.05, res.x[0] + 0.05),
                                        tol=1e-12, **brent)
        theta = float(np.exp(res2.x))
        if theta > 1e5:
            warnings.warn("theta is very large: the data show no overdispersion; "
                          "use PoissonModel instead", StatisticalWarning, stacklevel=2)
        inner_ok.clear()
        fit = glm(theta)
        mu = fit.fittedvalues
        info = np.sum(-special.polygamma(1, theta + y) + special.polygamma(1, theta) - 1 / theta
                      + 2 / (mu + theta) - (y + theta) / (mu + theta) ** 2)
        names = list(X.columns)
        self.theta_ = theta
        self.theta_se_ = float(1 / np.sqrt(info)) if info > 0 else np.nan
        self.params_ = pd.Series(np.asarray(fit.params), index=names)
        self.variance_matrix_ = pd.DataFrame(np.asarray(fit.cov_params()), index=names, columns=names)
        self.bse_ = pd.Series(np.asarray(fit.bse), index=names)
        self.loglik_ = float(self._loglik(y, mu, theta))
        self.twologlik_ = 2 * self.loglik_
        self.deviance_ = float(fit.deviance)
        self.n_obs_ = self.n_ = len(y)
        # BFGS may stop short of its gradient tolerance; Brent's search then finishes
        self.converged_ = bool(res2.success) and all(inner_ok)
        self.n_iter_ = int(res.nit) + int(getattr(res2, "nit", 0))
        self.count_col, self.time_col, self.person_time_col = count_col, time_col, person_time_col
        self.term_support_ = term_support(X.to_numpy(dtype=float), names, np.arange(len(y)), y)
        if not self.converged_:
            warnings.warn(
                "the negative binomial model did not converge (the search over theta or the "
                "final IRLS fit stopped early); estimates may be unreliable: raise max_iter",
                ConvergenceWarning, stacklevel=2,
            )
        return self

    @staticmethod
    def _loglik(y, mu, theta):
        return float(np.sum(special.gammaln(theta + y) - special.gammaln(theta) - special.gammaln(y + 1)
                            + theta * np.log(theta) + y * np.log(mu)
                            - (theta + y) * np.log(theta + mu)))

    def release_table(self) -> pd.DataFrame:
        """``term, estimate, se, ci_lower, ci_upper, statistic, p, rate_ratio, rr_ci_lower,
        rr_ci_upper``; attributes ``theta``, ``theta_se``, ``model``."""
        out = super().release_table()
        out.attrs.update(theta=self.theta_, theta_se=self.theta_se_, model="negative binomial")
        return out

    def describe(self) -> dict:
        out = super().describe()
        out.update(family="negative binomial (NB2)", link="log", offset=self.person_time_col,
                   theta=self.theta_, theta_estimate="maximum likelihood (MASS::glm.nb)",
                   unit="row (period)")
        return out
