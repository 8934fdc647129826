"""Cox proportional-hazards model, as R's ``coxph``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import linalg, sparse, stats

from cohort.exceptions import DefinitionError, NotEstimable
from cohort.stats.base import (
    RegressionModel,
    StatisticalWarning,
    _check_columns,
    _composite,
    _events,
    _numeric,
    _products,
    _tri_pairs,
    newton_raphson,
    term_support,
)
from cohort.stats.design import design_matrix

__all__ = ["CoxPH"]

#: R's ``coxph.control()`` defaults: ``eps`` (convergence of the log-likelihood, and the
#: rule for an infinite coefficient) and ``toler.chol`` (a singular pivot).
_EPS = 1e-9
_TOLER_CHOL = np.finfo(float).eps ** 0.75


def _singular_columns(info: np.ndarray, toler: float = _TOLER_CHOL) -> list[int]:
    """Columns R's ``coxph`` sets to ``NA``: a zero pivot of survival's ``cholesky2``.

    The pivots of the information matrix in column order, each after removing the columns
    before it; a pivot below ``toler`` times the largest diagonal element is singular (the
    column is constant, or a combination of earlier columns, in every risk set).

    Examples
    --------
    >>> _singular_columns(np.array([[2.0, 1.0, 3.0], [1.0, 1.0, 2.0], [3.0, 2.0, 5.0]]))
    [2]
    >>> _singular_columns(np.zeros((2, 2)))
    [0, 1]
    """
    m = np.array(info, dtype=float, copy=True)
    n = len(m)
    eps = max([m[i, i] for i in range(n)] + [0.0])
    eps = toler if eps == 0 else eps * toler
    singular = []
    for i in range(n):
        pivot = m[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            m[i, i] = 0.0
            singular.append(i)
            continue
        for j in range(i + 1, n):
            temp = m[j, i] / pivot
            m[j, i] = temp
            m[j, j] -= temp * temp * pivot
            m[j + 1:, j] -= temp * m[j + 1:, i]
    return singular


def _dropped_reason(x: np.ndarray, strata: np.ndarray) -> str:
    """Why a column was dropped: ``constant``, ``constant_within_strata`` or ``collinear``."""
    if not len(x) or np.ptp(x) == 0:
        return "constant"
    order = np.argsort(strata, kind="stable")
    xs, ss = x[order], strata[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    if (np.maximum.reduceat(xs, starts) == np.minimum.reduceat(xs, starts)).all():
        return "constant_within_strata"
    return "collinear"


class _CoxData:
    """Sorted index structures for the Efron/Breslow likelihood on (start, stop] data.

    Risk sets are handled through the global index of distinct (stratum, death time) pairs:
    a row is at risk at death times ``j`` in ``[lo, hi)``, so every risk-set sum is one
    sparse product (+1 at ``lo``, -1 at ``hi``) followed by a cumulative sum; strata are
    consecutive blocks of that index, so sums never cross strata.
    """

    def __init__(self, start, stop, event, strata):
        allt = np.unique(np.concatenate([stop, start[np.isfinite(start)]]))
        m = len(allt)
        stop_rank = np.searchsorted(allt, stop) + 1
        start_rank = np.where(np.isfinite(start), np.searchsorted(allt, start) + 1, 0)
        stop_key = _composite(strata, stop_rank, m)
        start_key = _composite(strata, start_rank, m)
        dkeys = np.unique(stop_key[event])
        self.K = len(dkeys)
        self.lo = np.searchsorted(dkeys, start_key, side="right")
        self.hi = np.searchsorted(dkeys, stop_key, side="right")
        self.event = event
        self.dead = np.flatnonzero(event)
        self.jd = self.hi[self.dead] - 1
        self.d = np.bincount(self.jd, minlength=self.K).astype(float)
        d_int = self.d.astype(np.int64)
        self.jj = np.repeat(np.arange(self.K), d_int)
        kk = np.arange(len(self.jj)) - np.repeat(np.cumsum(d_int) - d_int, d_int)
        self.frac = kk / self.d[self.jj]
        self.death_time = allt[(dkeys % (m + 2)) - 1]
        self.death_stratum = dkeys // (m + 2)
        n = len(stop)
        rows = np.arange(n)
        # risk sums at every death time in one sparse product: +1 where a row enters the
        # risk sets (lo), -1 where it leaves (hi), then a cumulative sum over death times
        self.A = sparse.csr_array(
            (np.r_[np.ones(n), -np.ones(n)], (np.r_[self.lo, self.hi], np.r_[rows, rows])),
            shape=(self.K + 1, n),
        )
        self.A.sum_duplicates()
        self.D = sparse.csr_array(
            (np.ones(len(self.dead)), (self.jd, self.dead)), shape=(self.K, n)
        )


class CoxPH(RegressionModel):
    """Cox proportional-hazards model, as R's ``coxph``.

    Newton-Raphson on the partial likelihood with Efron (default, as R) or Breslow ties,
    strata, (start, stop] rows (``entry_col``), and the cluster-robust sandwich variance
    built from dfbeta residuals (R ``coxph(..., cluster=id)``), all vectorised: cost is
    O(n log n) per iteration plus O(n p^2).

    Reduced fits, as R's ``coxph`` (survival 3.5):

    * **A term R sets to NA** (a zero pivot of the information, survival's ``cholesky2``
      rule: a covariate constant in the analysed rows or within every stratum, or a
      combination of earlier columns) is dropped and the rest is fitted; its coefficient
      and standard errors are ``NaN`` (R prints a standard error of 0) and
      ``dropped_terms_`` names it with the reason (``constant``, ``constant_within_strata``,
      ``collinear``). A :class:`~cohort.stats.base.StatisticalWarning` says so; R is silent.
    * **An infinite coefficient** (a term separates the outcome: monotone likelihood). R
      stops when the log-likelihood has converged and warns "coefficient may be infinite"
      (rule: the last Newton step larger than ``sqrt(eps)`` times the coefficient), printing
      the finite value it reached. Here the same rule finds the term, its coefficient is
      ``NaN`` (reason ``infinite``) and the other terms are their limits (the variance of
      the finite block; they agree with R's to about ``1e-8``).
    * **No events**: R returns a fit with every coefficient ``NA`` and log-likelihood 0,
      without a warning. The same is returned here, marked not estimable (``not_estimable_``,
      reason ``no_events``), with a :class:`~cohort.stats.base.StatisticalWarning`.
    * **No estimable term** at all: the null model's log-likelihood, every coefficient
      ``NaN``, not estimable (``no_estimable_term``); no rows: not estimable
      (``no_observations``).

    Parameters
    ----------
    ties : {"efron", "breslow"}
    alpha : float
        1 - confidence level of the hazard-ratio intervals.
    tol : float
        Convergence when the relative change in log partial likelihood is below ``tol``
        (R default 1e-9; we iterate to 1e-12 and one further step, giving the MLE to more
        digits than R's default).
    max_iter : int

    Attributes
    ----------
    params_ : Series
        Coefficients (log hazard ratios).
    variance_matrix_ : DataFrame
        The variance inference uses: robust if a cluster was given (or ``robust=True``),
        else model-based.
    naive_variance_ : DataFrame
        Inverse information (model-based) variance; ``robust_variance_`` the sandwich
        (``None`` without ``robust``).
    log_likelihood_, log_likelihood_null_ : float
    n_, n_events_ : int
        Rows and events analysed.
    n_clusters_ : int or None
        Clusters of the robust variance (rows when ``robust=True`` without a cluster
        column), else the distinct values of ``cluster_col`` if given.
    converged_, n_iter_ : bool, int
    term_support_ : DataFrame
        Units (clusters, else rows) and events behind each term (:func:`term_support`).
    dropped_terms_ : dict
        Terms not estimated (coefficient ``NaN``; R ``NA``) -> reason key.
    strata_support_ : DataFrame
        Units and events per stratum: the strata columns, ``units``, ``events``.
    unit_counts_ : DataFrame
        Both sides of every 0/1 term (``units_1, units_0, events_1, events_0``; -1 for
        other terms), derived from the same counts as ``term_support_``.
    summary : DataFrame
        :func:`~cohort.stats.base.wald_table` with hazard ratios (``exp_*``); ``se`` is the
        standard error inference uses (the robust one when robust) and, when robust,
        ``se_model`` the model-based one.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5, 6, 7], "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [1, 0, 1, 1, 0, 0, 1, 0]})
    >>> cox = CoxPH().fit(d, "t", "e", ["x"])
    >>> round(float(cox.params_["x"]), 6)
    0.061848
    >>> cox
    <CoxPH: n=8, confidence_level=0.95, converged=True, n_iter=4, ratio=hazard ratio, events=6, ties=efron, strata=None, n_strata=None, cluster_col=None, robust=False, n_clusters=None, entry_col=None>
    """

    _exp_scale = "hazard ratio"

    def __init__(self, ties: str = "efron", alpha: float = 0.05, tol: float = 1e-12, max_iter: int = 50):
        super().__init__(alpha)
        if ties not in ("efron", "breslow"):
            raise DefinitionError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        self.ties = ties
        self.tol = tol
        self.max_iter = max_iter

    # -- the likelihood --------------------------------------------------------
    def _all_sums(self, beta, X, cd: _CoxData, Z):
        """Risk-set and death-set sums of r * [1, x, x x'] at every death time."""
        eta = X @ beta
        r = np.exp(eta)
        # weight the sparse entries by r instead of forming r * Z (n x m)
        A = cd.A.copy()
        A.data = cd.A.data * r[cd.A.indices]
        D = cd.D.copy()
        D.data = cd.D.data * r[cd.D.indices]
        R = np.cumsum(A @ Z, axis=0)[: cd.K]
        Dm = D @ Z
        return eta, r, R, Dm

    def _sums(self, beta, X, cd: _CoxData, Z):
        eta, r, R, Dm = self._all_sums(beta, X, cd, Z)
        p = X.shape[1]
        S0, S0D = R[:, 0], Dm[:, 0]
        S1, S1D = R[:, 1 : 1 + p], Dm[:, 1 : 1 + p]
        f = cd.frac if self.ties == "efron" else np.zeros_like(cd.frac)
        jj = cd.jj
        d2 = S0[jj] - f * S0D[jj]
        xb = (S1[jj] - f[:, None] * S1D[jj]) / d2[:, None]
        self._last_S2 = (R[:, 1 + p :], Dm[:, 1 + p :])
        return eta, r, S0, S0D, S1, S1D, f, d2, xb

    def _loglik_grad_info(self, beta, X, cd, Z, want_info=True):
        eta, r, S0, S0D, S1, S1D, f, d2, xb = self._sums(beta, X, cd, Z)
        K = cd.K
        jj = cd.jj
        ll = eta[cd.dead].sum() - np.log(d2).sum()
        grad = X[cd.dead].sum(axis=0) - xb.sum(axis=0)
        if not want_info:
            return ll, grad, None
        p = X.shape[1]
        w1 = np.bincount(jj, 1.0 / d2, minlength=K)
        w2 = np.bincount(jj, f / d2, minlength=K)
        S2, S2D = self._last_S2
        vals = S2.T @ w1 - S2D.T @ w2
        ii, kk = _tri_pairs(p)
        info = np.zeros((p, p))
        info[ii, kk] = vals
        info[kk, ii] = vals
        info -= xb.T @ xb
        return ll, grad, info

    # -- fitting ---------------------------------------------------------------
    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str,
        event_col: str,
        covariates,
        entry_col: str | None = None,
        strata: str | list | None = None,
        cluster_col: str | None = None,
        robust: bool | None = None,
    ):
        """Fit the model.

        Parameters
        ----------
        df : DataFrame
            One row per subject, or per (start, stop] interval with ``entry_col``.
        duration_col, event_col : str
            Stop time and event indicator (0/1).
        covariates : list of str
            Columns; text/categorical columns are treatment-coded (see :func:`design_matrix`).
        entry_col : str, optional
            Start of the (start, stop] interval (delayed entry / counting process).
        strata : str or list of str, optional
            Stratify the baseline hazard (R ``strata()``).
        cluster_col : str, optional
            Cluster for the robust sandwich variance (R ``cluster=``).
        robust : bool, optional
            Robust variance with each row its own cluster when no ``cluster_col``; default
            ``True`` when ``cluster_col`` is given, else ``False``.

        Returns
        -------
        self
            A reduced fit where R's ``coxph`` gives a coefficient ``NA`` (see the class
            docstring); a not-estimable result (``not_estimable_``) without events or rows.
        """
        cols = [duration_col, event_col, entry_col, cluster_col]
        strata_cols = [strata] if isinstance(strata, str) else list(strata or [])
        _check_columns(df, cols + strata_cols + list(covariates))
        design = design_matrix(df, list(covariates))
        self.covariates_ = list(design.columns)
        self.terms_ = dict(design.attrs["assign"])
        X0 = design.to_numpy(dtype=float)
        stop = _numeric(df, duration_col)
        event = _events(df, event_col)
        start = _numeric(df, entry_col) if entry_col else np.full(len(df), -np.inf)
        if entry_col and np.any(start >= stop):
            bad = int(np.flatnonzero(start >= stop)[0])
            raise DefinitionError(
                f"row {bad}: {entry_col!r} must be before {duration_col!r} ((start, stop] intervals)"
            )
        if strata_cols:
            strata_codes = (
                df[strata_cols].astype("string").fillna("<NA>").agg("\x1f".join, axis=1)
                if len(strata_cols) > 1
                else df[strata_cols[0]]
            )
            if df[strata_cols].isna().any().any():
                raise DefinitionError(f"strata column(s) {strata_cols} have missing values")
            s_codes, s_labels = pd.factorize(strata_codes, sort=True)
        else:
            s_codes, s_labels = np.zeros(len(df), dtype=np.int64), [None]
        clusters = None
        if cluster_col:
            clusters = pd.factorize(df[cluster_col], sort=True)[0]
            if (clusters < 0).any():
                raise DefinitionError(f"cluster column {cluster_col!r} has missing values")
        if not len(df):
            raise NotEstimable("no_observations")
        self.strata_labels_ = list(s_labels)
        self._strata_codes = np.asarray(s_codes, dtype=np.int64)
        self.entry_col, self.duration_col, self.event_col = entry_col, duration_col, event_col
        self.cluster_col = cluster_col
        self.strata_cols_ = strata_cols
        self.n_ = len(df)
        self.n_events_ = int(event.sum())
        self._stop, self._start, self._event = stop, start, event
        use_robust = robust if robust is not None else cluster_col is not None
        self.robust_ = bool(use_robust)
        # households behind each term and stratum: clusters when given, else rows
        units = clusters if clusters is not None else np.arange(len(df))
        self._term_levels = term_support(X0, self.covariates_, units, event, levels=True)
        self.term_support_ = self._term_levels[["indicator", "units", "events"]]
        self.strata_support_ = _strata_support(df, strata_cols, self._strata_codes, units, event,
                                               rows_are_units=clusters is None)
        self.n_clusters_ = int(units.max() + 1) if cluster_col and len(units) else None
        self._mean = X0.mean(axis=0)
        Xc = X0 - self._mean
        p_all = Xc.shape[1]
        if not event.any():
            # R's coxph: a fit without events has every coefficient NA and log-likelihood 0
            self._null_fit(p_all, clusters)
            self._mark_not_estimable(NotEstimable("no_events"))
            return self
        # Terms R drops (coefficient NA): a zero pivot in the Cholesky decomposition of the
        # information (survival's cholesky2, toler.chol = .Machine$double.eps^0.75), which
        # does not depend on the coefficients: constant, constant within every stratum, or
        # a linear combination of earlier columns.
        cd_all = _CoxData(start, stop, event, self._strata_codes)
        XX_all = np.ascontiguousarray(np.column_stack([np.ones(len(Xc)), Xc, _products(Xc)]))
        info0 = self._loglik_grad_info(np.zeros(p_all), Xc, cd_all, XX_all)[2] if p_all else np.zeros((0, 0))
        singular = _singular_columns(info0)
        self.dropped_terms_ = {self.covariates_[i]: _dropped_reason(X0[:, i], self._strata_codes)
                               for i in singular}
        keep = np.array([i for i in range(p_all) if i not in singular], dtype=np.int64)
        # column-major: every per-covariate pass reads contiguous memory
        X = np.asfortranarray(Xc[:, keep])
        p = X.shape[1]
        if len(keep) == p_all:
            cd, XX = cd_all, XX_all
        else:
            cd = cd_all
            # [1 | x | products], row-major: one sparse product per iteration gives all sums
            XX = np.ascontiguousarray(np.column_stack([np.ones(len(X)), X, _products(X)]))
        if p_all and not p:
            self._null_fit(p_all, clusters, cd=cd, X=X, XX=XX)
            self._mark_not_estimable(NotEstimable("no_estimable_term"))
            return self
        res = newton_raphson(
            lambda beta: self._loglik_grad_info(beta, X, cd, XX),
            np.zeros(p), max_iter=self.max_iter, tol=self.tol, what="Cox model",
            allow_diverging=True,
        )
        beta, ll, info, ll0 = res.x, res.value, res.information, res.value_start
        # R's rule (coxph.fit): where the likelihood converged, the Newton step of a
        # coefficient still larger than sqrt(eps) times the coefficient: infinite
        finite = ~res.infinite(_EPS) if p else np.ones(0, dtype=bool)
        # and a coefficient whose information has vanished where the iteration ended (it
        # ran on beyond R's stopping point): infinite too, its variance is not defined
        start_info = np.diag(info0)[keep]
        finite &= ~(np.diag(info) <= _TOLER_CHOL * start_info)
        if res.diverging and finite.all():
            raise NotEstimable("diverging")
        if not finite.all():
            for i in np.flatnonzero(~finite):
                self.dropped_terms_[self.covariates_[keep[i]]] = "infinite"
            warnings.warn(
                "the Cox model's likelihood converged before the coefficient(s) of "
                f"{[self.covariates_[keep[i]] for i in np.flatnonzero(~finite)]}; they are infinite "
                "(the term separates the outcome: monotone likelihood) and not estimable",
                StatisticalWarning, stacklevel=3,
            )
        self.n_iter_ = res.n_iter
        self.converged_ = res.converged or not finite.all()
        var = np.zeros((p, p))
        if finite.any():
            f = np.flatnonzero(finite)
            var[np.ix_(f, f)] = linalg.inv(info[np.ix_(f, f)])
        self._X, self._cd, self._XX = X, cd, XX
        self._beta, self._keep, self._finite = beta, keep, finite
        self.log_likelihood_ = float(ll)
        self.log_likelihood_null_ = float(ll0)
        self.information_ = info
        rvar = None
        if use_robust:
            if clusters is None:
                clusters = np.arange(len(df))
            dfb = self._score_residuals() @ var
            summed = np.column_stack(
                [np.bincount(clusters, dfb[:, a]) for a in range(p)]
            ) if p else np.zeros((0, 0))
            rvar = summed.T @ summed
            self.n_clusters_ = int(clusters.max() + 1)
        shown = keep[finite]
        self._set_results(beta[finite], var[np.ix_(finite, finite)],
                          None if rvar is None else rvar[np.ix_(finite, finite)], shown, p_all)
        if self.dropped_terms_ and finite.all():
            warnings.warn(
                f"the Cox model drops {list(self.dropped_terms_)} (coefficient NA, as R's coxph): "
                + "; ".join(f"{t}: {r.replace('_', ' ')}" for t, r in self.dropped_terms_.items()),
                StatisticalWarning, stacklevel=3,
            )
        return self

    def _set_results(self, beta, var, rvar, columns, p_all):
        """Coefficients and variances by term, ``NaN`` for terms not estimated."""
        full = np.full(p_all, np.nan)
        full[columns] = beta
        V = np.full((p_all, p_all), np.nan)
        V[np.ix_(columns, columns)] = var
        names = self.covariates_
        self.params_ = pd.Series(full, index=names, name="coef")
        self.naive_variance_ = pd.DataFrame(V, index=names, columns=names)
        if rvar is not None:
            R = np.full((p_all, p_all), np.nan)
            R[np.ix_(columns, columns)] = rvar
            self.robust_variance_ = pd.DataFrame(R, index=names, columns=names)
            self.variance_matrix_ = self.robust_variance_
        else:
            self.robust_variance_ = None
            self.variance_matrix_ = self.naive_variance_

    def _null_fit(self, p_all, clusters, cd=None, X=None, XX=None):
        """R's fit without estimable coefficients: every coefficient ``NA``; the
        log-likelihood that of the null model (0 without events)."""
        self.dropped_terms_ = getattr(self, "dropped_terms_", {}) if self.n_events_ else {}
        ll = 0.0
        if cd is not None and self.n_events_:
            ll = float(self._loglik_grad_info(np.zeros(0), X, cd, XX, want_info=False)[0])
        self.log_likelihood_ = self.log_likelihood_null_ = ll
        self.n_iter_, self.converged_ = 0, True
        self.information_ = np.zeros((0, 0))
        if self.robust_ and clusters is None:
            clusters = np.arange(self.n_)
        if self.robust_:
            self.n_clusters_ = int(clusters.max() + 1)
        self._X = self._XX = self._cd = None
        self._beta, self._keep, self._finite = np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        self._set_results(np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0)) if self.robust_ else None,
                          np.zeros(0, dtype=np.int64), p_all)

    # -- residuals ---------------------------------------------------------------
    def score_residuals(self, *, reduced: bool = False) -> np.ndarray:
        """Score residuals, one row per data row (R ``residuals(fit, type="score")``).

        One column per covariate, ``NaN`` for a term not estimated (``dropped_terms_``);
        ``reduced`` gives the columns of the fitted (kept) terms only, infinite ones included.
        """
        self._require_fitted()
        if self._X is None:  # a null fit: no coefficient estimated
            return np.full((self.n_, len(self.covariates_)), np.nan)
        if reduced:
            return self._score_residuals()
        out = np.full((self.n_, len(self.covariates_)), np.nan)
        out[:, self._keep[self._finite]] = self._score_residuals()[:, self._finite]
        return out

    def _score_residuals(self) -> np.ndarray:
        """Score residuals of the fitted (kept) columns at the fitted coefficients."""
        X, cd = self._X, self._cd
        beta = self._beta
        eta, r, S0, S0D, S1, S1D, f, d2, xb = self._sums(beta, X, cd, self._XX)
        K, jj = cd.K, cd.jj
        p = X.shape[1]
        h = np.bincount(jj, 1.0 / d2, minlength=K)
        hf = np.bincount(jj, f / d2, minlength=K)
        g = np.column_stack([np.bincount(jj, xb[:, a] / d2, minlength=K) for a in range(p)])
        gf = np.column_stack([np.bincount(jj, f * xb[:, a] / d2, minlength=K) for a in range(p)])
        xbar = np.column_stack([np.bincount(jj, xb[:, a], minlength=K) for a in range(p)])
        xbar = xbar / cd.d[:, None]
        Hc = np.r_[0.0, np.cumsum(h)]
        Gc = np.vstack([np.zeros((1, p)), np.cumsum(g, axis=0)])
        dH = Hc[cd.hi] - Hc[cd.lo]
        dG = Gc[cd.hi] - Gc[cd.lo]
        resid = -r[:, None] * (X * dH[:, None] - dG)
        dead, j = cd.dead, cd.jd
        resid[dead] += (X[dead] - xbar[j]) + r[dead, None] * (X[dead] * hf[j, None] - gf[j])
        return resid

    # -- results -----------------------------------------------------------------
    @property
    def summary(self) -> pd.DataFrame:
        """:func:`~cohort.stats.base.wald_table` with hazard ratios; ``se`` is the standard
        error of the Wald statistics (robust when robust) and, when robust, ``se_model``
        the model-based one."""
        out = super().summary
        if self.robust_:
            se_model = np.sqrt(np.diag(self.naive_variance_.to_numpy()))
            out.insert(out.columns.get_loc("se") + 1, "se_model", se_model)
        return out

    @property
    def log_likelihood_ratio_test_(self):
        """(statistic, df, p) of the likelihood-ratio test against the null model."""
        self._require_fitted()
        stat = 2 * (self.log_likelihood_ - self.log_likelihood_null_)
        k = len(self._keep)  # R: the coefficients not NA (an infinite one counts)
        return stat, k, float(stats.chi2.sf(stat, k))

    @property
    def unit_counts_(self) -> pd.DataFrame:
        """Units and events on both sides of each 0/1 term, ``-1`` for other terms
        (``indicator, units_1, units_0, events_1, events_0``).

        The layout read by :func:`cohort.disclosure.models.release_cox_table`; the same
        counts as :attr:`term_support_`, which gives the smaller side only.
        """
        self._require_fitted()
        lv = self._term_levels
        cols = ["units_1", "units_0", "events_1", "events_0"]
        out = pd.DataFrame({"indicator": lv["indicator"].to_numpy()}, index=lv.index)
        for c in cols:
            out[c] = lv[c].fillna(-1).astype(np.int64).to_numpy()
        return out

    def release_table(self) -> pd.DataFrame:
        """Coefficient table for release: term, coef, se, robust_se, hr, hr_lower, hr_upper, p.

        ``se`` is the model-based standard error and ``robust_se`` the robust one (``NaN``
        when not robust); the interval and ``p`` use the standard error of :attr:`summary`.
        Contains no counts below the model level and no row-level data; the number of
        events behind the model is checked by the release code.
        """
        s = self.summary
        return pd.DataFrame(
            {
                "term": s.index.to_list(),
                "coef": s["estimate"].to_numpy(),
                "se": s["se_model" if self.robust_ else "se"].to_numpy(),
                "robust_se": s["se"].to_numpy() if self.robust_ else np.nan,
                "hr": s["exp_estimate"].to_numpy(),
                "hr_lower": s["exp_ci_lower"].to_numpy(),
                "hr_upper": s["exp_ci_upper"].to_numpy(),
                "p": s["p"].to_numpy(),
            }
        )

    def describe(self) -> dict:
        """What was fitted: n, events, ties, strata columns, cluster column, robust
        variance yes/no, number of clusters, delayed entry."""
        out = super().describe()
        out.update(events=self.n_events_, ties=self.ties,
                   strata=list(self.strata_cols_) or None,
                   n_strata=len(self.strata_labels_) if self.strata_cols_ else None,
                   cluster_col=self.cluster_col, robust=self.robust_,
                   n_clusters=self.n_clusters_, entry_col=self.entry_col)
        if self.dropped_terms_:
            out["dropped_terms"] = dict(self.dropped_terms_)
        return out


def _strata_support(df, strata_cols, codes, units, event, *, rows_are_units=False) -> pd.DataFrame:
    """Units (distinct) and events per stratum; one row per stratum, strata columns first."""
    n = len(event)
    if not strata_cols:
        frame = pd.DataFrame(index=pd.RangeIndex(1))
        codes = np.zeros(n, dtype=np.int64)
    else:
        # the first row of each stratum gives its column values (strata are codes 0..k-1)
        first = np.full(int(codes.max()) + 1 if n else 0, n)
        np.minimum.at(first, codes, np.arange(n))
        frame = df[strata_cols].iloc[first].reset_index(drop=True)
    k = len(frame)
    if rows_are_units:
        n_units = np.bincount(codes, minlength=k)
    else:
        size = int(units.max()) + 1 if n else 0
        # one pass per stratum (a handful), each a bincount over its rows: no sorting
        n_units = [np.count_nonzero(np.bincount(units[codes == j], minlength=size))
                   for j in range(k)]
    frame["units"] = np.asarray(n_units, dtype=np.int64)
    frame["events"] = np.bincount(codes, weights=event, minlength=k).astype(np.int64)
    return frame
