"""Weighted Cox model: the hazard ratio of a marginal structural model, as R's ``coxph(weights=)``.

A Cox proportional-hazards model fitted by maximising the weighted partial likelihood,
with Efron ties handled as R's ``coxph`` does with case weights (each of the ``d`` tied
deaths' fractional risk sets counts with the mean weight of the deaths) or Breslow ties.
With inverse-probability weights and the arm as the only covariate, ``exp(coef)`` is the
marginal hazard ratio of the new way of working versus regular care.

**Variance.** ``robust`` (default whenever weights or clusters are given) is R's
``coxph(..., weights = w, cluster = id)``: the sandwich built from the weighted dfbeta
residuals ``w_i r_i V`` (``r_i`` the score residual, ``V`` the inverse information), summed
within clusters; it treats the weights as known. Given the propensity model behind the
weights, ``variance="estimated-weights"`` adds the term for estimating them
(M-estimation): the influence of household ``j`` is
``V (w_j r_j + (sum_i r_i dw_i/d eta) Phi_j)``, where the score residual ``r_i`` is the
derivative of the weighted score with respect to household ``i``'s weight (the unit tests
check the term against numerical derivatives of the fit, for both kinds of ties).

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5, 6, 7], "e": [1, 1, 1, 0, 1, 1, 0, 1],
...                   "x": [1, 0, 1, 1, 0, 0, 1, 0], "w": [1.0, 2.0, 0.5, 1.0, 1.0, 1.5, 1.0, 1.0]})
>>> cox = WeightedCoxPH().fit(d, "t", "e", ["x"], weights="w")
>>> round(float(cox.params_["x"]), 6)
-0.291638
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.exceptions import DefinitionError
from cohort.stats.base import (
    RegressionModel,
    _check_columns,
    _events,
    _numeric,
    newton_raphson,
    term_support,
)
from cohort.stats.design import design_matrix

__all__ = ["WeightedCoxPH"]

VARIANCES = ("robust", "estimated-weights", "model")


class _Sums:
    """Sorted structure of right-censored data: rows by time, distinct death times, ties."""

    def __init__(self, time, event, weight):
        order = np.argsort(time, kind="stable")
        self.order = order
        t, e, w = time[order], event[order], weight[order]
        self.t, self.e, self.w = t, e, w
        dt = np.unique(t[e])
        self.death_time = dt
        self.K = len(dt)
        # rows at risk at death time k: T >= dt[k], i.e. sorted rows from first[k] on
        self.first = np.searchsorted(t, dt, side="left")
        dead = np.flatnonzero(e)
        self.dead = dead
        self.kd = np.searchsorted(dt, t[dead])  # death-time index of each death
        self.d = np.bincount(self.kd, minlength=self.K).astype(float)
        self.wd = np.bincount(self.kd, weights=w[dead], minlength=self.K)
        self.meanwt = self.wd / self.d
        d_int = self.d.astype(np.int64)
        # one entry per (death time, fraction l = 0 .. d - 1) of Efron's approximation
        self.jj = np.repeat(np.arange(self.K), d_int)
        self.ll = np.arange(len(self.jj)) - np.repeat(np.cumsum(d_int) - d_int, d_int)
        # the last death time at or before each row's time (-1: none)
        self.k_row = np.searchsorted(dt, t, side="right") - 1


class WeightedCoxPH(RegressionModel):
    """Weighted Cox proportional-hazards model with robust variance, as R's ``coxph``.

    Parameters
    ----------
    ties : {"efron", "breslow"}
    variance : {"robust", "estimated-weights", "model"}, optional
        ``robust``: R's sandwich (weights known); ``estimated-weights``: also accounts for
        estimating the weights (needs ``propensity`` in :meth:`fit`); ``model``: inverse
        information. Default: ``estimated-weights`` when a propensity model is given,
        ``robust`` when weights or clusters are, else ``model``.
    alpha : float

    Attributes
    ----------
    params_ : Series
        Log hazard ratios.
    variance_matrix_ : DataFrame
        The variance named by ``variance_``.
    robust_variance_, model_variance_ : DataFrame
        R's robust and model-based variances (``estimated_weights_variance_`` too when the
        propensity model was given).
    baseline_hazard_ : DataFrame
        ``time, hazard`` (Breslow-type increments at the death times, for ``x = 0``).
    term_support_ : DataFrame
        Households and events behind each term, and on both sides of a 0/1 term
        (``units_1, units_0, events_1, events_0``: per arm for the arm), for disclosure
        control.
    """

    _exp_scale = "hazard ratio"

    def __init__(self, ties: str = "efron", variance: str | None = None, alpha: float = 0.05,
                 tol: float = 1e-12, max_iter: int = 50):
        super().__init__(alpha)
        if ties not in ("efron", "breslow"):
            raise DefinitionError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        if variance is not None and variance not in VARIANCES:
            raise DefinitionError(f"variance must be one of {VARIANCES}, got {variance!r}")
        self.ties, self.variance = ties, variance
        self.tol, self.max_iter = tol, max_iter

    # -- the weighted partial likelihood ---------------------------------------
    def _pieces(self, beta, X, s: _Sums):
        """Risk-set sums and the Efron (or Breslow) denominators at every fraction."""
        eta = X @ beta
        r = np.exp(eta)
        wr = s.w * r
        p = X.shape[1]
        # reverse cumulative sums over rows sorted by time: risk sets at each death time
        Z = np.column_stack([wr, wr[:, None] * X]) if p else wr[:, None]
        R = np.cumsum(Z[::-1], axis=0)[::-1][s.first]
        dead = s.dead
        D = np.zeros((s.K, 1 + p))
        np.add.at(D, s.kd, Z[dead])
        f = s.ll / s.d[s.jj] if self.ties == "efron" else np.zeros(len(s.jj))
        denom = R[s.jj, 0] - f * D[s.jj, 0]
        xbar = (R[s.jj, 1:] - f[:, None] * D[s.jj, 1:]) / denom[:, None]
        return eta, r, wr, R, D, f, denom, xbar

    def _objective(self, beta, X, s: _Sums):
        eta, r, wr, R, D, f, denom, xbar = self._pieces(beta, X, s)
        mw = s.meanwt[s.jj]
        dead = s.dead
        ll = float(np.sum(s.w[dead] * eta[dead]) - np.sum(mw * np.log(denom)))
        grad = (s.w[dead, None] * X[dead]).sum(axis=0) - (mw[:, None] * xbar).sum(axis=0)
        p = X.shape[1]
        # information: sum over fractions of meanwt * (S2 - f D2) / denom - xbar xbar'
        XX = X[:, :, None] * X[:, None, :]
        W2 = wr[:, None, None] * XX
        R2 = np.cumsum(W2[::-1], axis=0)[::-1][s.first]
        D2 = np.zeros((s.K, p, p))
        np.add.at(D2, s.kd, W2[dead])
        m2 = (R2[s.jj] - f[:, None, None] * D2[s.jj]) / denom[:, None, None]
        info = np.einsum("l,lab->ab", mw, m2) - np.einsum("l,la,lb->ab", mw, xbar, xbar)
        return ll, grad, info

    # -- fitting ---------------------------------------------------------------
    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, covariates, weights=None,
            propensity=None, cluster_col: str | None = None):
        """Fit the model.

        Parameters
        ----------
        df : DataFrame
            One row per household (right-censored: time since time zero, event 0/1).
        duration_col, event_col : str
        covariates : list of str
            Columns; text columns are treatment-coded as R does.
        weights : str or array, optional
            A column or one weight per row (default: the propensity model's, else 1).
        propensity : PropensityScore, optional
            The model behind the weights (same rows, same order): enables
            ``variance="estimated-weights"``.
        cluster_col : str, optional
            Cluster of the robust variance (R ``cluster=``).

        Returns
        -------
        self
        """
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        _check_columns(df, [duration_col, event_col, cluster_col, *covariates])
        from cohort.stats.weighted_aalen_johansen import _weights_from

        w = _weights_from(df, weights, propensity)
        if propensity is not None and propensity.n_ != len(df):
            raise DefinitionError(
                f"the propensity model was fitted on {propensity.n_} rows, the table has {len(df)}"
            )
        time = _numeric(df, duration_col)
        event = _events(df, event_col)
        if not event.any():
            raise DefinitionError(f"no events in {event_col!r}: the Cox model cannot be fitted")
        design = design_matrix(df, covariates)
        names = list(design.columns)
        X0 = design.to_numpy(dtype=float)
        constant = [c for c, v in zip(names, np.ptp(X0, axis=0), strict=True) if v == 0]
        if len(X0) and constant:
            raise DefinitionError(
                f"covariate column(s) {constant} take a single value and cannot be estimated; "
                "drop them from the model"
            )
        if names and np.linalg.matrix_rank(X0 - X0.mean(axis=0)) < len(names):
            raise DefinitionError(f"the covariates {names} are collinear; drop or combine covariates")
        self._mean = X0.mean(axis=0)
        s = _Sums(time, event, w)
        X = (X0 - self._mean)[s.order]
        res = newton_raphson(
            lambda b: self._objective(b, X, s), np.zeros(len(names)), max_iter=self.max_iter,
            tol=self.tol, what="weighted Cox model",
        )
        beta = res.x
        V = np.linalg.inv(res.information) if names else np.zeros((0, 0))
        self._s, self._X = s, X
        self.params_ = pd.Series(beta, index=names, name="coef")
        self.model_variance_ = pd.DataFrame(V, index=names, columns=names)
        self.converged_, self.n_iter_ = res.converged, res.n_iter
        self.log_likelihood_, self.log_likelihood_null_ = res.value, res.value_start
        self.n_, self.n_events_ = len(df), int(event.sum())
        self.duration_col, self.event_col, self.cluster_col = duration_col, event_col, cluster_col
        self.covariates, self.weighted_ = covariates, not np.all(w == 1.0)
        clusters = pd.factorize(df[cluster_col], sort=True)[0] if cluster_col else np.arange(len(df))
        if (clusters < 0).any():
            raise DefinitionError(f"cluster column {cluster_col!r} has missing values")
        self.term_support_ = term_support(X0, names, clusters, event, levels=True)
        # influence (dfbeta) per row in the original order
        resid = np.empty_like(X)
        resid[s.order] = self._score_residuals(beta, X, s)
        self._resid = resid
        w_orig = w
        dfb = (w_orig[:, None] * resid) @ V
        self.robust_variance_ = pd.DataFrame(_cluster_cross(dfb, clusters), index=names, columns=names)
        self.estimated_weights_variance_ = None
        if propensity is not None:
            corr = propensity.correction(resid) @ V
            self.estimated_weights_variance_ = pd.DataFrame(
                _cluster_cross(dfb + corr, clusters), index=names, columns=names
            )
        kind = self.variance
        if kind is None:
            kind = (
                "estimated-weights" if propensity is not None
                else "robust" if (self.weighted_ or cluster_col) else "model"
            )
        if kind == "estimated-weights" and propensity is None:
            raise DefinitionError("variance='estimated-weights' needs the propensity model: fit(..., propensity=ps)")
        self.variance_ = kind
        self.variance_matrix_ = {
            "model": self.model_variance_, "robust": self.robust_variance_,
            "estimated-weights": self.estimated_weights_variance_,
        }[kind]
        self.n_clusters_ = int(clusters.max()) + 1
        self.baseline_hazard_ = self._baseline(beta, X, s)
        return self

    def _score_residuals(self, beta, X, s: _Sums) -> np.ndarray:
        """Score residuals of the sorted rows, as R's ``residuals(fit, type = "score")``
        (unweighted per row; R weights them in its dfbeta residuals)."""
        eta, r, wr, R, D, f, denom, xbar = self._pieces(beta, X, s)
        K, jj = s.K, s.jj
        p = X.shape[1]
        mw = s.meanwt[jj]
        h = np.bincount(jj, mw / denom, minlength=K)
        hf = np.bincount(jj, mw * f / denom, minlength=K)
        g = np.column_stack([np.bincount(jj, mw * xbar[:, a] / denom, minlength=K) for a in range(p)])
        gf = np.column_stack([np.bincount(jj, mw * f * xbar[:, a] / denom, minlength=K) for a in range(p)])
        xbar_mean = np.column_stack([np.bincount(jj, xbar[:, a], minlength=K) for a in range(p)]) / s.d[:, None]
        Hc = np.r_[0.0, np.cumsum(h)]
        Gc = np.vstack([np.zeros((1, p)), np.cumsum(g, axis=0)])
        k = s.k_row + 1  # cumulative sums through each row's own time
        resid = -r[:, None] * (X * Hc[k][:, None] - Gc[k])
        dead, kd = s.dead, s.kd
        resid[dead] += (X[dead] - xbar_mean[kd]) + r[dead, None] * (X[dead] * hf[kd, None] - gf[kd])
        return resid

    def _baseline(self, beta, X, s: _Sums) -> pd.DataFrame:
        """Baseline hazard increments at ``x = 0`` (the covariates' original scale)."""
        eta, r, wr, R, D, f, denom, xbar = self._pieces(beta, X, s)
        mw = s.meanwt[s.jj]
        inc = np.bincount(s.jj, mw / denom, minlength=s.K)
        # the fit is centred: the baseline at x = 0 is exp(-mean'beta) times the centred one
        return pd.DataFrame({"time": s.death_time, "hazard": inc * np.exp(-self._mean @ beta)})

    def cumulative_hazard(self, df: pd.DataFrame, times) -> np.ndarray:
        """Cumulative hazard at ``times`` for each row of ``df`` (rows x times)."""
        self._require_fitted()
        X = design_matrix(df, self.covariates).to_numpy(dtype=float) if len(self.params_) else np.zeros((len(df), 0))
        base = self.baseline_hazard_
        cum = np.r_[0.0, np.cumsum(base["hazard"].to_numpy())]
        pos = np.searchsorted(base["time"].to_numpy(), np.asarray(times, dtype=float), side="right")
        return np.exp(X @ self.params_.to_numpy())[:, None] * cum[pos][None, :]

    def describe(self) -> dict:
        out = super().describe()
        out.update(ties=self.ties, variance=self.variance_, cluster=self.cluster_col,
                   weighted=self.weighted_, n_events=self.n_events_)
        return out


def _cluster_cross(phi: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """sum over clusters of (sum of phi within the cluster)(...)'."""
    n_c = int(clusters.max()) + 1 if len(clusters) else 0
    summed = np.column_stack([np.bincount(clusters, phi[:, a], minlength=n_c) for a in range(phi.shape[1])])
    return summed.T @ summed
