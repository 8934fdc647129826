"""Semi-parametric proportional-hazards model for interval-censored times: an unspecified
baseline (Turnbull's support) with Cox-type covariate effects, the approach of R's
``icenReg::ic_sp``, with bootstrap standard errors.

The model: ``S(t | x) = S0(t) ^ exp(x'beta)``. The baseline ``S0`` is a step function on
the jump points of Turnbull's innermost intervals of all rows (as
:class:`cohort.stats.turnbull.Turnbull` finds them) and a mass at infinity when rows are
right-censored beyond them; it is parametrised by its cumulative-hazard increments
``delta_k >= 0`` at the jump points, so that it is non-increasing by construction. A row with interval ``(L, R]`` contributes

    log( S0(L) ^ c - S0(R) ^ c ),    c = exp(x'beta),

(``S0(R) = 0`` when right-censored). Baseline and coefficients are estimated together by
maximising this likelihood by a projected Newton method with an active set, from the
pooled Turnbull NPMLE (the fit with no covariate effect): increments at zero stay there
unless their gradient is positive, the step is cut back to keep increments non-negative,
and the Hessian - whose baseline block has the structure of Turnbull's problem - is built
from prefix sums over the jump points (no loop over rows). Iteration stops when the
projected gradient per row is below ``tol``.

Standard errors come from a **bootstrap** over households (clusters), as ``ic_sp`` does
(``bs_samples``; icenReg resamples rows): each replicate reweights the households by a
multinomial draw, refits from the full-data estimate, and the covariance of the
replicates' coefficients is the variance. The bootstrap is seeded, so the same data and
seed give the same standard errors. There is no likelihood-based variance for this model
(the baseline has as many parameters as jump points). icenReg is not packaged for this
environment; the model is checked by recovering known effects from data simulated under
proportional hazards (``tests/unit/test_interval_ph.py``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from cohort.exceptions import DefinitionError, NotEstimable
from cohort.stats.base import ConvergenceWarning, RegressionModel, _check_columns, term_support
from cohort.stats.design import design_matrix
from cohort.stats.turnbull import (
    EXACT,
    INTERVAL,
    LEFT,
    RIGHT,
    _cnm_masses,
    _jump_points,
    interval_status,
)

#: Cap of a starting increment where the pooled curve reaches 0 (S0 = exp(-50)).
_MAX_INCREMENT = 50.0

#: Default number of bootstrap replicates.
N_BOOTSTRAP = 200


def _ranges(left, right):
    """Per row: the jump points ``[a, b)`` its interval covers (``b = J + 1`` reaches the
    point at infinity), the jump points and the status."""
    status = interval_status(left, right)
    lo = np.asarray(left, dtype=float)
    hi = np.asarray(right, dtype=float)
    y1 = np.where(status == LEFT, hi, lo)
    y2 = np.where(status == INTERVAL, hi, y1)
    jtimes, _, _, status, _ = _jump_points(y1, y2, status)
    n_jump = len(jtimes)
    a = np.select([status == LEFT, status == EXACT],
                  [0, np.searchsorted(jtimes, y1)], np.searchsorted(jtimes, y1, side="right"))
    b = np.select([status == LEFT, status == EXACT, status == RIGHT],
                  [np.searchsorted(jtimes, y1, side="right"), np.searchsorted(jtimes, y1) + 1,
                   n_jump + 1], np.searchsorted(jtimes, y2, side="right"))
    return a.astype(np.int64), b.astype(np.int64), jtimes, status


def _row_terms(beta, delta, X, a, b, right_open):
    """Per row: log-likelihood and its derivatives in (eta, H_l, H_r)."""
    H = np.r_[0.0, np.cumsum(delta)]  # cumulative hazard before jump point k
    h_l = H[a]
    d = np.where(right_open, 0.0, H[np.minimum(b, len(delta))] - h_l)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _terms(np.exp(X @ beta), h_l, d, right_open)


def _terms(c, h_l, d, right_open):
    cd = c * d
    q = np.where(right_open, 0.0, 1.0 / np.expm1(cd))
    ll = -c * h_l + np.where(right_open, 0.0, np.log(-np.expm1(-cd)))
    kappa = np.where(right_open, 0.0, c**2 * q * (1.0 + q))
    t = {
        "ll": ll,
        "l": np.where(right_open, -c, -c * (1.0 + q)),
        "r": np.where(right_open, 0.0, c * q),
        "eta": c * (-h_l + d * q),
        "kappa": kappa,
        "eta_eta": c * (-h_l + d * q) - kappa * d**2,
        "eta_l": np.where(right_open, -c, -c * (1.0 + q) + kappa * d),
        "eta_r": np.where(right_open, 0.0, c * q - kappa * d),
    }
    return t


def _suffix(index, weights, size):
    """``out[m] = sum(weights[index > m])`` for m in 0..size-1."""
    tot = np.bincount(index, weights=weights, minlength=size + 2)
    return np.cumsum(tot[::-1])[::-1][1:size + 1]


class _Problem:
    """Log-likelihood, gradient and Hessian of the semi-parametric PH model."""

    def __init__(self, X, a, b, w, n_jump):
        self.X, self.a, self.b, self.w, self.n_jump = X, a, b, w, n_jump
        self.right_open = b > n_jump
        self.b_cap = np.minimum(b, n_jump)
        bounded = ~self.right_open & (w > 0)
        diff = np.zeros(n_jump + 1)
        np.add.at(diff, a[bounded], 1.0)
        np.add.at(diff, self.b_cap[bounded], -1.0)
        self.bounded_cover = np.cumsum(diff)[:-1] > 0

    def value(self, beta, delta):
        t = _row_terms(beta, delta, self.X, self.a, self.b, self.right_open)
        with np.errstate(over="ignore", invalid="ignore"):
            v = float(np.sum(self.w * t["ll"]))
        return v if np.isfinite(v) else -np.inf

    def derivatives(self, beta, delta, free):
        X, a, b, w, J = self.X, self.a, self.b_cap, self.w, self.n_jump
        t = _row_terms(beta, delta, X, a, self.b, self.right_open)
        value = float(np.sum(w * t["ll"]))
        g_beta = X.T @ (w * t["eta"])
        g_delta = _suffix(a, w * t["l"], J) + _suffix(b, w * np.where(self.right_open, 0.0, t["r"]), J)
        p = X.shape[1]
        k = len(free)
        # delta-delta block: -sum kappa * 1{m in [a, b)} 1{m' in [a, b)}, on the free points
        s_u = np.searchsorted(free, a, side="left")
        e_u = np.searchsorted(free, b, side="left")
        grid = np.bincount(s_u * (k + 1) + e_u, weights=w * t["kappa"],
                           minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
        cum = np.cumsum(np.cumsum(grid[:, ::-1], axis=1)[:, ::-1], axis=0)
        idx = np.arange(k)
        lo = np.minimum(idx[:, None], idx[None, :])
        hi = np.maximum(idx[:, None], idx[None, :])
        hess = np.empty((p + k, p + k))
        hess[p:, p:] = -cum[lo, hi + 1]
        hess[:p, :p] = (X * (w * t["eta_eta"])[:, None]).T @ X
        cross = np.empty((p, k))
        for j in range(p):  # covariates, not rows
            xj = X[:, j] * w
            cross[j] = (_suffix(a, xj * t["eta_l"], J) + _suffix(b, xj * np.where(self.right_open, 0.0, t["eta_r"]), J))[free]
        hess[:p, p:] = cross
        hess[p:, :p] = cross.T
        return value, g_beta, g_delta, hess


def _newton_step(info, grad):
    """Solve ``info @ step = grad``. Where ``info`` is not positive definite (the joint
    likelihood need not be concave far from the maximum, and near-empty increments make it
    nearly singular) a growing multiple of its mean diagonal is added until it is - a
    Levenberg-Marquardt step, still an ascent direction."""
    from scipy import linalg

    ridge = 0.0
    scale = max(float(np.mean(np.abs(np.diag(info)))), 1e-300)
    for _ in range(30):
        try:
            return linalg.cho_solve(linalg.cho_factor(info + ridge * np.eye(len(info))), grad)
        except linalg.LinAlgError:
            ridge = 1e-10 * scale if ridge == 0.0 else ridge * 100
    return grad / scale  # pragma: no cover - a gradient step as the last resort


def _maximise(problem: _Problem, beta, delta, tol, max_iter):
    """Projected Newton with an active set: increments at zero stay there unless their
    gradient is positive; the step is cut back to keep them non-negative."""
    n = problem.w.sum()
    p = len(beta)
    value = problem.value(beta, delta)
    it, converged, n_blocked = 0, False, 0
    while it < max_iter:
        it += 1
        t = _row_terms(beta, delta, problem.X, problem.a, problem.b, problem.right_open)
        w = problem.w
        g_delta = _suffix(problem.a, w * t["l"], problem.n_jump) + _suffix(
            problem.b_cap, w * np.where(problem.right_open, 0.0, t["r"]), problem.n_jump)
        free = np.flatnonzero((delta > 0) | (g_delta > 0))
        value, g_beta, g_delta, hess = problem.derivatives(beta, delta, free)
        # a point covered by no row with an upper bound has no curvature and a falling
        # likelihood (only -c * H_l): its increment belongs at 0
        flat = ~problem.bounded_cover[free]
        if flat.any():
            delta = delta.copy()
            delta[free[flat]] = 0.0
            free = free[~flat]
            value, g_beta, g_delta, hess = problem.derivatives(beta, delta, free)
        grad = np.r_[g_beta, g_delta[free]]
        projected = np.r_[np.abs(g_beta), np.where(delta > 0, np.abs(g_delta), np.maximum(g_delta, 0.0))]
        if projected.max() / n <= tol:
            converged = True
            break
        step = _newton_step(-hess, grad)
        accepted = False
        # first the projected step (increments pushed below 0 stop at 0); if that does not
        # raise the likelihood, the feasible step that stops where the first increment
        # reaches 0 (an ascent direction, so some step length raises it)
        for projected_step in (True, False):
            size = 1.0
            if not projected_step:
                down = step[p:] < 0
                if down.any():
                    size = min(1.0, float(np.min(-delta[free][down] / step[p:][down])))
            while size > 1e-14:
                nb = beta + size * step[:p]
                nd = delta.copy()
                nd[free] = np.maximum(delta[free] + size * step[p:], 0.0)
                nv = problem.value(nb, nd)
                if nv > value:
                    accepted = True
                    break
                size /= 2
            if accepted:
                break
        if not accepted:
            # an increment next to zero that the step pushes below it blocks every step:
            # fix it at zero (it joins the active set) and try again
            tiny = (delta[free] < 1e-8 * max(float(delta.max()), 1e-300)) & (step[p:] < 0)
            if tiny.any() and n_blocked < 50:
                n_blocked += 1
                delta = delta.copy()
                delta[free[tiny]] = 0.0
                value = problem.value(beta, delta)
                continue
            converged = projected.max() / n <= max(tol, 1e-6)  # no ascent left
            break
        beta, delta, value = nb, nd, nv
    return beta, delta, value, it, converged


class IntervalPH(RegressionModel):
    """Proportional-hazards model with a nonparametric baseline for interval-censored
    data (the approach of ``icenReg::ic_sp``), bootstrap standard errors.

    Parameters
    ----------
    n_bootstrap : int
        Bootstrap replicates for the variance (0: no standard errors). icenReg's default is
        20; 200 gives standard errors stable to about 5%.
    seed : int
        Seed of the bootstrap (``numpy.random.default_rng``).
    alpha : float
    max_iter : int
        Newton iterations per fit.
    tol : float
        Stop when the largest projected gradient component of the log-likelihood, per row,
        is below this.

    Attributes
    ----------
    params_ : Series
        Log hazard ratios.
    variance_matrix_ : DataFrame
        Covariance of the bootstrap replicates.
    baseline_ : DataFrame
        ``time`` (jump points), ``survival`` of the baseline (all covariates 0) just after
        each jump point.
    loglik_ : float
    bootstrap_ : DataFrame
        The replicates' coefficients, one row per replicate.
    converged_, n_iter_, n_, n_events_, term_support_

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.integers(0, 2, 400)
    >>> t = rng.weibull(1.5, 400) * 10 * np.exp(-0.7 * x / 1.5)
    >>> visits = np.arange(0, 40, 3.0)
    >>> k = np.searchsorted(visits, t)
    >>> df = pd.DataFrame({"left": visits[k - 1], "right": np.where(k < len(visits), visits[np.minimum(k, len(visits) - 1)], np.inf), "x": x})
    >>> fit = IntervalPH(n_bootstrap=20, seed=2).fit(df, covariates=["x"])
    >>> round(float(fit.params_["x"]), 2)  # the true log hazard ratio is 0.7
    0.71
    """

    _exp_scale = "hazard ratio"

    def __init__(self, n_bootstrap: int = N_BOOTSTRAP, seed: int = 20240101, alpha: float = 0.05,
                 max_iter: int = 200, tol: float = 1e-9):
        super().__init__(alpha)
        for name, value, low in (("n_bootstrap", n_bootstrap, 0), ("seed", seed, 0),
                                 ("max_iter", max_iter, 1)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise DefinitionError(f"{name} must be a whole number of at least {low}, got {value!r}")
        if not tol > 0:
            raise DefinitionError(f"tol must be positive, got {tol!r}")
        self.n_bootstrap, self.seed = int(n_bootstrap), int(seed)
        self.max_iter, self.tol = int(max_iter), float(tol)

    def fit(self, df: pd.DataFrame, left_col: str = "left", right_col: str = "right",
            covariates=(), cluster_col: str | None = None) -> IntervalPH:
        """Fit the model (and the bootstrap).

        Parameters
        ----------
        df : DataFrame
            One row per unit; never changed.
        left_col, right_col : str
            The interval ``(left, right]`` (``right`` infinite: right-censored).
        covariates : sequence of str
            At least one; text columns get R's treatment coding.
        cluster_col : str, optional
            Household of each row: the unit the bootstrap resamples (default: rows).
        """
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        if not covariates:
            raise DefinitionError("IntervalPH needs at least one covariate; for the curve "
                                  "alone use cohort.stats.turnbull.Turnbull")
        _check_columns(df, [left_col, right_col, cluster_col, *covariates])
        if len(df) == 0:
            raise NotEstimable("no_observations", "the analysis table has no rows: nothing to fit")
        left = df[left_col].to_numpy(dtype="float64", na_value=np.nan)
        right = df[right_col].to_numpy(dtype="float64", na_value=np.nan)
        a, b, jtimes, status = _ranges(left, right)
        n_jump = len(jtimes)
        if n_jump == 0:
            raise DefinitionError("no row has an event (every row is right-censored): the "
                                  "model has nothing to estimate")
        design = design_matrix(df, covariates)
        X = design.to_numpy(dtype=float)
        names = list(design.columns)
        p = X.shape[1]
        # start: no covariate effect and the pooled NPMLE (the model's fit when beta = 0)
        uniq, inv, cnt = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True,
                                   return_counts=True)
        masses, _, _ = _cnm_masses(uniq[:, 0], uniq[:, 1], cnt.astype(float), n_jump + 1,
                                   1e-10, 200)
        surv = np.maximum(1.0 - np.cumsum(masses[:n_jump]), 0.0)
        with np.errstate(divide="ignore"):
            delta0 = np.minimum(-np.diff(np.log(np.r_[1.0, surv])), _MAX_INCREMENT)
        w = np.ones(len(df))
        problem = _Problem(X, a, b, w, n_jump)
        beta, delta, value, it, converged = _maximise(problem, np.zeros(p), delta0,
                                                      self.tol, self.max_iter)
        self.covariates = covariates
        self.params_ = pd.Series(beta, index=pd.Index(names, name="term"), name="estimate")
        self.baseline_ = pd.DataFrame({"time": jtimes, "survival": np.exp(-np.cumsum(delta))})
        self.loglik_ = float(value)
        self.converged_ = bool(converged)
        self.n_iter_ = int(it)
        self.n_ = int(len(df))
        events = status != RIGHT
        self.n_events_ = int(events.sum())
        if cluster_col is None:
            units = np.arange(len(df))
        else:
            units = pd.factorize(df[cluster_col], sort=True)[0]
        self.term_support_ = term_support(X, names, units, events)
        if not self.converged_:
            warnings.warn("the interval-censored PH model did not converge; estimates may be "
                          "unreliable", ConvergenceWarning, stacklevel=2)
        # bootstrap over households: multinomial weights per household, warm start
        reps = np.full((self.n_bootstrap, p), np.nan)
        rng = np.random.default_rng(self.seed)
        n_units = int(units.max()) + 1
        n_failed = 0
        for r in range(self.n_bootstrap):  # replicates, not households
            draw = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units)).astype(float)
            wb = draw[units]
            keep = wb > 0
            sub = _Problem(X[keep], a[keep], b[keep], wb[keep], n_jump)
            rb, _, _, _, ok_r = _maximise(sub, beta, delta, self.tol, self.max_iter)
            if ok_r and np.all(np.isfinite(rb)):
                reps[r] = rb
            else:
                n_failed += 1
        ok = np.all(np.isfinite(reps), axis=1)
        self.bootstrap_ = pd.DataFrame(reps, columns=names)
        self.n_bootstrap_failed_ = n_failed
        if ok.sum() >= 2:
            cov = np.atleast_2d(np.cov(reps[ok], rowvar=False))
        else:
            cov = np.full((p, p), np.nan)
        self.variance_matrix_ = pd.DataFrame(cov, index=self.params_.index, columns=self.params_.index)
        if n_failed:
            warnings.warn(f"{n_failed} of {self.n_bootstrap} bootstrap replicates did not "
                          "converge and were left out of the variance", ConvergenceWarning,
                          stacklevel=2)
        return self

    def describe(self) -> dict:
        out = super().describe()
        out.update(description="semi-parametric proportional hazards (interval-censored, "
                         "Turnbull baseline, as icenReg::ic_sp)",
                   variance=f"bootstrap over households, {self.n_bootstrap} replicates, seed {self.seed}",
                   n_bootstrap=int(self.n_bootstrap), seed=self.seed,
                   events=self.n_events_, loglik=self.loglik_)
        return out
