"""Parametric accelerated-failure-time models for interval-censored times, as R's
``survival::survreg(Surv(L, R, type = "interval2") ~ x, dist = ...)``.

The model: ``log T = x'beta + sigma * W`` with ``W`` standard extreme-value (Weibull) or
standard normal (log-normal). An exponentiated coefficient is a **time ratio**: the
factor by which the covariate stretches the time to the event (above 1: later). For the
Weibull model the hazard ratio of a coefficient is ``exp(-beta / sigma)``
(:meth:`IntervalRegression.hazard_ratios`).

Each row contributes, on the log-time scale with ``z = (log t - x'beta) / sigma``:
``log(F(z_R) - F(z_L))`` for an interval ``(L, R]``; ``log F(z_R)`` left-censored;
``log(1 - F(z_L))`` right-censored; ``log f(z) - log sigma - log t`` for an exact time (the
log-likelihood on the time scale, as R reports it). Parameters are ``beta`` and
``Log(scale)``; the maximum is found by Newton's method with step-halving
(:func:`cohort.stats.base.newton_raphson`) from the intercept-only fit, with analytic
first and second derivatives; the variance is the inverse of the observed information at
the maximum, as R's ``vcov``.

Two codings follow R:

* an interval starting at 0, ``(0, R]``, is left-censored at ``R`` (its likelihood
  ``F(R) - F(0) = F(R)`` is the same; R refuses a lower bound of 0 on the log scale,
  so the reference script passes it as ``Surv(NA, R, type = "interval2")``);
* a row right-censored at time 0, ``(0, inf)``, carries no information: R drops it (it
  becomes ``Surv(NA, Inf)``), and so does this model (counted in ``n_dropped_``);
* an event exactly at time 0 has probability 0 under a distribution on positive times:
  R refuses the data ("Invalid survival times for this distribution"), and so does this
  model, saying how many rows and what to do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from cohort.exceptions import DefinitionError, NotEstimable
from cohort.stats.base import RegressionModel, _check_columns, newton_raphson, term_support
from cohort.stats.design import design_matrix
from cohort.stats.turnbull import EXACT, INTERVAL, LEFT, RIGHT, interval_status

DISTRIBUTIONS = ("weibull", "lognormal")

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def _log_density(z, dist):
    """log f, f'/f and f''/f of the standard distribution of W."""
    if dist == "weibull":
        ez = np.exp(z)
        return z - ez, 1.0 - ez, (1.0 - ez) ** 2 - ez
    return -0.5 * z**2 - _LOG_SQRT_2PI, -z, z**2 - 1.0


def _log_prob(u, v, dist):
    """log(F(v) - F(u)); u = -inf for left-censored, v = +inf for right-censored."""
    out = np.empty(len(u))
    left = np.isneginf(u)
    right = np.isposinf(v)
    both = ~left & ~right
    if dist == "weibull":
        out[right] = -np.exp(u[right])
        out[left] = np.log(-np.expm1(-np.exp(v[left])))
        eu, ev = np.exp(u[both]), np.exp(v[both])
        out[both] = -eu + np.log(-np.expm1(-(ev - eu)))
        return out
    out[right] = special.log_ndtr(-u[right])
    out[left] = special.log_ndtr(v[left])
    uu, vv = u[both], v[both]
    upper = uu > 0  # both in the upper tail: difference of survival functions
    lu, lv = special.log_ndtr(-uu), special.log_ndtr(-vv)
    lo_u, lo_v = special.log_ndtr(uu), special.log_ndtr(vv)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[both] = np.where(upper, lu + np.log1p(-np.exp(lv - lu)),
                             lo_v + np.log1p(-np.exp(lo_u - lo_v)))
    return out


class _Data:
    """Log-time bounds by kind of row."""

    def __init__(self, left, right):
        status = interval_status(left, right)
        lo = np.asarray(left, dtype=float)
        hi = np.asarray(right, dtype=float)
        # right-censored at 0, (0, inf): no information; R drops the row (Surv(NA, Inf))
        self.used = ~((status == RIGHT) & (lo == 0))
        status, lo, hi = status[self.used], lo[self.used], hi[self.used]
        # (0, R] is left-censored at R (R's survreg refuses log 0)
        status = np.where((status == INTERVAL) & (lo == 0), LEFT, status)
        if ((status == EXACT) & (lo <= 0)).any() or ((status != LEFT) & (lo < 0)).any():
            n_bad = int(((status == EXACT) & (lo <= 0)).sum() + ((status != LEFT) & (lo < 0)).sum())
            raise DefinitionError(
                f"{n_bad} row(s) have an event at time 0 or a negative bound; a Weibull or "
                "log-normal model gives an event at time 0 probability 0 and R's survreg "
                "refuses such data ('Invalid survival times for this distribution'). Leave "
                "them out (they were safe at time zero) and report them separately"
            )
        with np.errstate(divide="ignore"):
            self.u = np.where(np.isin(status, (INTERVAL, RIGHT, EXACT)), np.log(np.where(lo > 0, lo, 1.0)), -np.inf)
            self.v = np.where(np.isin(status, (INTERVAL, LEFT)), np.log(np.where(hi > 0, hi, 1.0)), np.inf)
        self.v = np.where(status == EXACT, self.u, self.v)
        # censored rows first, exact ones last: the likelihood works on two slices
        self.order = np.argsort(status == EXACT, kind="stable")
        self.u, self.v = self.u[self.order], self.v[self.order]
        self.n_censored = int((status != EXACT).sum())
        self.u_c, self.v_c = self.u[:self.n_censored], self.v[:self.n_censored]
        self.exact = status == EXACT
        self.status = status
        self.log_t_exact = float(self.u[self.n_censored:].sum())
        st = status[self.order]
        self.mid = np.where(st == INTERVAL, (self.u + self.v) / 2,
                            np.where(st == LEFT, self.v, self.u))


def _loglik(theta, X, data: _Data, dist, want_derivatives=True):
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _loglik_terms(theta, X, data, dist, want_derivatives)


def _loglik_terms(theta, X, data: _Data, dist, want_derivatives):
    """Log-likelihood (and derivatives) with ``X`` in ``data.order`` (censored rows first)."""
    p = X.shape[1]
    beta, tau = theta[:p], theta[p]
    sigma = np.exp(tau)
    eta = X @ beta
    k = data.n_censored
    out_value = 0.0
    parts = {name: [] for name in ("e", "t", "ee", "et", "tt")}
    # censored rows: l = log(F(v) - F(u))
    if k:
        u = (data.u_c - eta[:k]) / sigma
        v = (data.v_c - eta[:k]) / sigma
        log_a = _log_prob(u, v, dist)
        out_value += float(log_a.sum())
        if want_derivatives:
            fin_u, fin_v = np.isfinite(u), np.isfinite(v)
            uu, vv = np.where(fin_u, u, 0.0), np.where(fin_v, v, 0.0)
            lf_u, h_u, _ = _log_density(uu, dist)
            lf_v, h_v, _ = _log_density(vv, dist)
            a_u = np.where(fin_u, np.exp(lf_u - log_a), 0.0)
            a_v = np.where(fin_v, np.exp(lf_v - log_a), 0.0)
            g_e = -(a_v - a_u) / sigma
            g_t = -(vv * a_v - uu * a_u)
            h_ee = (h_v * a_v - h_u * a_u) / sigma**2
            h_et = (vv * h_v * a_v - uu * h_u * a_u + a_v - a_u) / sigma
            h_tt = vv * a_v + vv**2 * h_v * a_v - uu * a_u - uu**2 * h_u * a_u
            for name, val in (("e", g_e), ("t", g_t), ("ee", h_ee - g_e**2),
                              ("et", h_et - g_e * g_t), ("tt", h_tt - g_t**2)):
                parts[name].append(val)
    if k < len(eta):
        z = (data.u[k:] - eta[k:]) / sigma
        lf, h, f2 = _log_density(z, dist)
        out_value += float(lf.sum() - tau * (len(eta) - k)) - data.log_t_exact
        if want_derivatives:
            hp = f2 - h**2
            for name, val in (("e", -h / sigma), ("t", -z * h - 1.0), ("ee", hp / sigma**2),
                              ("et", (z * hp + h) / sigma), ("tt", z * h + z**2 * hp)):
                parts[name].append(val)
    if not want_derivatives:
        return out_value
    l_e, l_t, l_ee, l_et, l_tt = (np.concatenate(parts[n]) for n in ("e", "t", "ee", "et", "tt"))
    grad = np.r_[X.T @ l_e, l_t.sum()]
    hess = np.empty((p + 1, p + 1))
    hess[:p, :p] = (X * l_ee[:, None]).T @ X
    hess[:p, p] = hess[p, :p] = X.T @ l_et
    hess[p, p] = l_tt.sum()
    return out_value, grad, -hess


def _support_with_constants(X_terms, names, units, events):
    """:func:`term_support` of the covariates, with the intercept and ``Log(scale)`` resting
    on every household and event (a constant column is not a 0/1 split)."""
    rows = term_support(np.column_stack([np.zeros(len(units)), X_terms, np.zeros(len(units))]),
                        names, units, events)
    everyone = int(len(np.unique(units)))
    for term in (names[0], names[-1]):
        rows.loc[term, ["indicator", "units", "events"]] = [False, everyone, int(np.sum(events))]
    rows["indicator"] = rows["indicator"].astype(bool)
    return rows


def _positive_definite(info):
    """The information, shifted by a multiple of the identity where it is not positive
    definite (far from the maximum the log-likelihood need not be concave in
    ``(beta, log sigma)``): a Levenberg-Marquardt step, which is still an ascent direction.
    At the maximum the information is positive definite and the step is Newton's."""
    if not np.all(np.isfinite(info)):
        return info
    vals = np.linalg.eigvalsh(info)
    floor = 1e-8 * max(float(np.abs(vals).max()), 1.0)
    if vals.min() >= floor:
        return info
    return info + (floor - vals.min()) * np.eye(len(info))


class IntervalRegression(RegressionModel):
    """Weibull or log-normal accelerated-failure-time model for interval-censored data,
    as R's ``survreg(Surv(left, right, type = "interval2") ~ covariates, dist = dist)``.

    Parameters
    ----------
    dist : {"weibull", "lognormal"}
    alpha : float
        1 - confidence level of the Wald intervals.
    max_iter : int
        Newton iterations (R's ``survreg.control`` default is 30).

    Attributes
    ----------
    params_ : Series
        ``(Intercept)``, the covariates (R's names), ``Log(scale)``.
    variance_matrix_ : DataFrame
        Inverse observed information, as R's ``vcov(fit)``.
    scale_ : float
        ``sigma = exp(Log(scale))``.
    loglik_, loglik_null_ : float
        Log-likelihood of the model and of the intercept-only model (R's ``fit$loglik``).
    converged_, n_iter_, n_, n_events_ : convergence, iterations, rows, rows not
        right-censored.
    term_support_ : DataFrame
        Households and events behind each term (:func:`cohort.stats.base.term_support`).

    Examples
    --------
    >>> df = pd.DataFrame({"left": [0, 10, 30, 5, 40, 20, 0, 15],
    ...                    "right": [12, 25, np.inf, 20, np.inf, 60, 8, 40],
    ...                    "x": [0, 0, 1, 0, 1, 1, 0, 1]})
    >>> fit = IntervalRegression("weibull").fit(df, covariates=["x"])
    >>> fit.params_.round(4).to_dict()
    {'(Intercept)': 2.2966, 'x': 1.499, 'Log(scale)': -1.5271}

    R gives the same with ``survreg(Surv(ifelse(left == 0, NA, left), right,
    type = "interval2") ~ x, dist = "weibull")``.
    """

    _exp_scale = "time ratio"

    def __init__(self, dist: str = "weibull", alpha: float = 0.05, max_iter: int = 50):
        super().__init__(alpha)
        if dist not in DISTRIBUTIONS:
            raise DefinitionError(f"dist must be one of {DISTRIBUTIONS}, got {dist!r}")
        if not isinstance(max_iter, int | np.integer) or max_iter < 1:
            raise DefinitionError(f"max_iter must be a whole number of at least 1, got {max_iter!r}")
        self.dist = dist
        self.max_iter = int(max_iter)

    def fit(self, df: pd.DataFrame, left_col: str = "left", right_col: str = "right",
            covariates=(), cluster_col: str | None = None) -> IntervalRegression:
        """Fit the model.

        Parameters
        ----------
        df : DataFrame
            One row per unit; never changed.
        left_col, right_col : str
            The interval ``(left, right]``: ``right`` infinite when right-censored,
            ``left`` 0 or missing when left-censored.
        covariates : sequence of str
            Columns of ``df``; text columns get R's treatment coding
            (:func:`cohort.stats.design.design_matrix`).
        cluster_col : str, optional
            The household of each row, for the households behind each term (default:
            every row its own household).

        Raises
        ------
        DefinitionError
            Missing columns or values, an event at time 0, collinear covariates.
        """
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        _check_columns(df, [left_col, right_col, cluster_col, *covariates])
        if len(df) == 0:
            raise NotEstimable("no_observations", "the analysis table has no rows: nothing to fit")
        left = df[left_col].to_numpy(dtype="float64", na_value=np.nan)
        right = df[right_col].to_numpy(dtype="float64", na_value=np.nan)
        data = _Data(left, right)
        used = df.loc[data.used]
        if len(used) == 0:
            raise NotEstimable("no_observations", "every row is right-censored at time 0: nothing to fit")
        design = design_matrix(used, covariates) if covariates else pd.DataFrame(index=used.index)
        names = ["(Intercept)", *design.columns, "Log(scale)"]
        X = np.column_stack([np.ones(len(used)), design.to_numpy(dtype=float)])[data.order]
        dist = self.dist

        def objective(X_):
            def f(theta):
                value, grad, info = _loglik(theta, X_, data, dist)
                return value, grad, _positive_definite(info)
            return f

        sd = float(np.std(data.mid[np.isfinite(data.mid)])) if np.isfinite(data.mid).any() else 1.0
        start0 = np.array([float(np.mean(data.mid[np.isfinite(data.mid)])), np.log(max(sd, 1e-3))])
        null = newton_raphson(objective(X[:, :1]), start0, max_iter=self.max_iter,
                              what="intercept-only interval regression")
        start = np.r_[null.x[0], np.zeros(X.shape[1] - 1), null.x[1]]
        res = newton_raphson(objective(X), start, max_iter=self.max_iter,
                             what="interval regression")
        from scipy import linalg

        value, _, info = _loglik(res.x, X, data, dist)
        try:
            variance = linalg.inv(info)
        except linalg.LinAlgError as err:  # pragma: no cover - newton_raphson checks first
            raise DefinitionError("the information matrix is singular; drop or combine terms") from err
        self.covariates = covariates
        self.left_col, self.right_col = left_col, right_col
        self.params_ = pd.Series(res.x, index=pd.Index(names, name="term"), name="estimate")
        self.variance_matrix_ = pd.DataFrame(variance, index=self.params_.index, columns=self.params_.index)
        self.scale_ = float(np.exp(res.x[-1]))
        self.loglik_ = float(value)
        self.loglik_null_ = float(null.value)
        self.converged_ = bool(res.converged and null.converged)
        self.n_iter_ = int(res.n_iter)
        self.n_ = int(len(used))
        self.n_dropped_ = int((~data.used).sum())
        events = data.status != RIGHT
        self.n_events_ = int(events.sum())
        self.counts_ = {k: int((data.status == v).sum()) for k, v in
                        (("exact", EXACT), ("left", LEFT), ("interval", INTERVAL), ("right", RIGHT))}
        if cluster_col is None:
            units = np.arange(len(used))
        else:
            units = pd.factorize(used[cluster_col], sort=True)[0]
        X_rows = np.empty_like(X)
        X_rows[data.order] = X  # back in the rows' own order
        self.term_support_ = _support_with_constants(X_rows[:, 1:], names, units, events)
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """:func:`cohort.stats.base.wald_table` of the coefficients; the time-ratio
        columns are left empty for ``Log(scale)``."""
        out = super().summary
        for col in ("exp_estimate", "exp_ci_lower", "exp_ci_upper"):
            out.loc["Log(scale)", col] = np.nan
        return out

    def likelihood_ratio_test(self) -> dict:
        """Likelihood-ratio test of all covariates (R's ``print(fit)``: chisq, df, p)."""
        self._require_fitted()
        chisq = 2 * (self.loglik_ - self.loglik_null_)
        df = len(self.params_) - 2
        return {"chisq": float(chisq), "df": int(df),
                "p": float(stats.chi2.sf(chisq, df)) if df > 0 else float("nan")}

    def hazard_ratios(self) -> pd.Series:
        """Weibull only: hazard ratios ``exp(-beta / sigma)`` of the covariates."""
        self._require_fitted()
        if self.dist != "weibull":
            raise DefinitionError("hazard ratios follow from the Weibull model only; the "
                                  "log-normal model does not have proportional hazards")
        beta = self.params_.drop(["(Intercept)", "Log(scale)"])
        return np.exp(-beta / self.scale_).rename("hazard_ratio")

    def describe(self) -> dict:
        out = super().describe()
        out.update(description=f"{self.dist} accelerated failure time (interval-censored)",
                   dist=self.dist, events=self.n_events_, censoring=self.counts_,
                   loglik=self.loglik_, scale=self.scale_)
        return out
