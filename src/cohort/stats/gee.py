"""Marginal model by generalised estimating equations (GEE): Gaussian, identity link,
exchangeable working correlation, robust (sandwich) standard errors clustered by group.

Equal to ``geepack::geeglm(y ~ time + ..., id = group, corstr = "exchangeable")``
(``std.err = "san.se"``) and to statsmodels' ``GEE(..., ddof_scale=0)``, which loops over
the groups in Python; here every quantity is a per-group sum, vectorised.

With ``V_i = phi [(1 - rho) I + rho J]`` the inverse is closed form,
``V_i^-1 = [I - c_i J] / (phi (1 - rho))`` with ``c_i = rho / (1 + (n_i - 1) rho)``, so every
quantity is a per-cluster sum (``np.add.reduceat``) and a weighted cross-product: no loop
over clusters. The fit iterates ``beta`` (GLS given ``rho``) and the moment estimates
``phi = sum r^2 / N`` and ``rho = sum_{j<k} r_ij r_ik / (phi * pairs)`` to their fixed
point. Covariance: the robust sandwich ``B^-1 M B^-1``.

GEE is valid when missingness does not depend on the outcome (MCAR); the mixed model
(:class:`~cohort.stats.mixed.MixedModel`) needs only MAR.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.exceptions import NotEstimable
from cohort.stats.base import RegressionModel, _check_columns, term_support
from cohort.stats.mixed import fixed_effects_design

__all__ = ["GEE"]


class GEE(RegressionModel):
    """Gaussian GEE with an exchangeable working correlation: ``y ~ time + covariates``.

    Parameters
    ----------
    alpha : float
        1 - confidence level of the Wald intervals.
    tol : float
        Convergence when no coefficient changes by more than ``tol`` (relative to the
        largest coefficient, at least 1) between iterations.
    max_iter : int

    Attributes
    ----------
    params_ : Series
        Coefficients (names as :func:`~cohort.stats.mixed.fixed_effects_design`).
    variance_matrix_ : DataFrame
        Robust (sandwich) covariance, used for inference; ``naive_variance_`` the
        model-based one.
    working_correlation_, scale_ : float
        ``rho`` and ``phi`` of the working covariance.
    n_obs_ (also ``n_``), n_groups_, n_dropped_ : int
    converged_, n_iter_ : bool, int
    term_support_ : DataFrame
        Groups (households) behind each term.
    summary : DataFrame
        :func:`~cohort.stats.base.wald_table`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(300), 3)
    >>> t = np.tile([0.0, 0.5, 1.0], 300)
    >>> y = 4 + 1.5 * t + rng.normal(0, 1, 300)[g] + rng.normal(0, 1, 900)
    >>> gee = GEE().fit(pd.DataFrame({"y": y, "t": t, "g": g}), "y", "t", "g")
    >>> gee.params_.round(2).tolist(), round(gee.working_correlation_, 2)
    ([3.83, 1.71], 0.56)
    """

    def __init__(self, alpha: float = 0.05, tol: float = 1e-10, max_iter: int = 100):
        super().__init__(alpha)
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, df: pd.DataFrame, outcome_col: str, time_col: str, group_col: str,
            covariates=(), categorical=(), levels: dict | None = None):
        """Fit to a long table (one row per observation); returns ``self``.

        Parameters
        ----------
        df : DataFrame
        outcome_col, time_col, group_col : str
            Outcome, time (a fixed effect) and cluster (e.g. household) columns.
        covariates : sequence of str
            Numeric fixed-effect columns.
        categorical : sequence of str
            Categorical fixed-effect columns (treatment coding, first level reference).
        levels : dict, optional
            Level order per categorical column (first = reference).

        Returns a not-estimable result (``not_estimable_``) without usable observations
        (reason ``no_observations``) or with a rank-deficient design (``rank_deficient``).

        Raises
        ------
        DefinitionError
            A named column is missing.
        """
        covariates, categorical = list(covariates), list(categorical)
        _check_columns(df, [outcome_col, time_col, group_col, *covariates, *categorical])
        design = fixed_effects_design(df, time_col, covariates, categorical, levels)
        names = list(design.columns)
        X = design.to_numpy(dtype=float)
        y = df[outcome_col].to_numpy(dtype=float, na_value=np.nan)
        groups = df[group_col]
        ok = np.isfinite(y) & np.isfinite(X).all(axis=1) & groups.notna().to_numpy()
        y, X = y[ok], X[ok]
        if not len(y):
            raise NotEstimable("no_observations")
        if len(y) <= X.shape[1] or np.linalg.matrix_rank(X) < X.shape[1]:
            raise NotEstimable(
                "rank_deficient",
                f"the GEE design is rank deficient (a covariate is constant or a category has "
                f"no observations); terms: {names}",
            )
        codes, _ = pd.factorize(groups[ok], sort=True)
        codes = np.asarray(codes)
        res = _gee_exchangeable(y, X, codes, self.tol, self.max_iter)
        self.n_iter_, self.converged_ = res["n_iter"], res["converged"]
        if not self.converged_:
            self._warn_not_converged("GEE", self.max_iter)
        self.params_ = pd.Series(res["params"], index=names)
        self.variance_matrix_ = pd.DataFrame(res["cov"], index=names, columns=names)
        self.naive_variance_ = pd.DataFrame(res["cov_naive"], index=names, columns=names)
        self.working_correlation_, self.scale_ = res["rho"], res["phi"]
        self.n_obs_ = self.n_ = int(len(y))
        self.n_groups_ = int(codes.max() + 1)
        self.n_dropped_ = int((~ok).sum())
        self.time_col, self.group_col, self.outcome_col = time_col, group_col, outcome_col
        self.levels_ = design.attrs["levels"]
        self.term_support_ = term_support(X, names, codes)
        return self

    def release_table(self) -> pd.DataFrame:
        """``term, estimate, se, ci_lower, ci_upper, statistic, p`` with attributes
        ``working_correlation``, ``scale``, ``n_obs``, ``n_households``, ``covariance``."""
        out = super().release_table()
        out.attrs.update(working_correlation=self.working_correlation_, scale=self.scale_,
                         n_obs=self.n_obs_, n_households=self.n_groups_, covariance="robust")
        return out

    def describe(self) -> dict:
        """Family, link, working correlation and its estimate, covariance, groups."""
        out = super().describe()
        out.update(family="gaussian", link="identity", working_correlation="exchangeable",
                   rho=self.working_correlation_, covariance="robust (sandwich)",
                   n_obs=self.n_obs_, n_groups=self.n_groups_, group_col=self.group_col)
        return out


def _gee_exchangeable(y: np.ndarray, X: np.ndarray, codes: np.ndarray, tol: float,
                      max_iter: int) -> dict:
    """The fixed-point iteration of :class:`GEE`: ``params``, ``cov`` (robust),
    ``cov_naive``, ``rho``, ``phi``, ``n_iter``, ``converged``."""
    order = np.argsort(codes, kind="stable")
    y, X, codes = y[order], X[order], codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    n_i = np.diff(np.r_[starts, len(y)]).astype(float)
    N = len(y)
    Xs = np.add.reduceat(X, starts, axis=0)  # X_i' 1
    ys = np.add.reduceat(y, starts)  # 1' y_i
    XtX, Xty = X.T @ X, X.T @ y
    pairs = float(np.sum(n_i * (n_i - 1) / 2))
    beta = np.linalg.solve(XtX, Xty)  # independence start
    rho, phi = 0.0, 1.0
    n_iter, converged = 0, False
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        r = y - X @ beta
        phi = float(r @ r) / N
        rs = np.add.reduceat(r, starts)
        rr = np.add.reduceat(r * r, starts)
        rho = float(np.sum((rs * rs - rr) / 2)) / (phi * pairs) if pairs > 0 else 0.0
        # keep the working covariance positive definite for the largest cluster
        rho = max(rho, -1.0 / max(n_i.max() - 1.0, 1.0) + 1e-8)
        c = rho / (1 + (n_i - 1) * rho)
        # sum_i X_i'(I - c_i J) X_i and X_i'(I - c_i J) y_i (the 1/(phi(1-rho)) cancels)
        A = XtX - (Xs * c[:, None]).T @ Xs
        b = Xty - Xs.T @ (c * ys)
        new = np.linalg.solve(A, b)
        done = np.max(np.abs(new - beta)) <= tol * max(1.0, np.max(np.abs(beta)))
        beta = new
        if done:
            converged = True
            break
    r = y - X @ beta
    rs = np.add.reduceat(r, starts)
    # U_i = X_i' V_i^-1 r_i = [X_i' r_i - c_i (X_i' 1)(1' r_i)] / (phi (1 - rho))
    k = 1.0 / (phi * (1 - rho))
    U = (np.add.reduceat(X * r[:, None], starts, axis=0) - Xs * (c * rs)[:, None]) * k
    bread = A * k
    naive = np.linalg.inv(bread)
    cov = naive @ (U.T @ U) @ naive
    return {"params": beta, "cov": cov, "cov_naive": naive, "rho": rho, "phi": phi,
            "n_iter": n_iter, "converged": converged}
