"""Linear mixed model with a random intercept (and, where the data support it, a random
slope) per group, fitted by REML.

The model for observation ``j`` of group ``i`` (a household) is::

    y_ij = x_ij' beta + b0_i + b1_i * t_ij + e_ij,
    (b0_i, b1_i) ~ N(0, sigma^2 Lambda Lambda'),   e_ij ~ N(0, sigma^2)

the model ``lme4::lmer(y ~ x + (1 + t | group), REML = TRUE)`` fits. ``Lambda`` is the
lower-triangular *relative covariance factor* with parameters ``theta = (l11, l21, l22)``,
as in lme4 (Bates et al. 2015, *J Stat Softw* 67(1), section 3). With a random intercept
only (``l21 = l22 = 0``) it is ``lmer(y ~ x + (1 | group))``.

**Identifiability, as lme4 checks it.** lme4 refuses a model with no more observations
than random effects (``check.nobs.vs.nRE``: ``n_obs <= 2 * groups`` for an intercept and a
slope per group, ``n_obs <= groups`` for an intercept only; ``check.nobs.vs.nlev``: no more
observations than groups). By default (``random_slope=None``) the model fits what the data
support, as a researcher would after lme4's refusal: the random intercept and slope when
lme4 accepts them, else the random intercept only, which ``describe()`` (and so the methods
text of a report) and a :class:`~cohort.stats.base.StatisticalWarning` state; when lme4
would refuse the random intercept too, the result is not estimable (reason
``not_identifiable``). The estimates equal ``lmer``'s for the model actually fitted
(``random_effects_``), not for a model lme4 refuses.

Why our own implementation: statsmodels' ``MixedLM`` loops over groups in Python and needs
minutes for 100k households (``benchmarks/bench_mixed.py``). Every group here shares the
same 2x2 random-effects structure, so the profiled REML criterion only needs per-group
sufficient statistics (``Z_i'Z_i``, ``Z_i'X_i``, ``Z_i'y_i``), which are computed once with
``np.add.reduceat``. Each evaluation of the criterion is then a handful of vectorised 2x2
operations over all groups (closed-form inverses and determinants, BLAS weighted
cross-products for the ``p x p`` terms): ``O(G p^2)`` work, no loop over groups. ``beta`` and ``sigma^2``
are profiled out; the three ``theta`` parameters are optimised with ``scipy.optimize``
(bounded L-BFGS-B, ``l11, l22 >= 0`` as in lme4, from lme4's start and, if that ends on
the boundary, from a start scaled to the time variable). The gradient of the criterion
in ``theta`` is computed exactly (:meth:`MixedModel._criterion_grad`), so each optimiser
step costs about one and a half criterion evaluations and the optimum is found to about
1e-8 in ``theta`` (lme4's own optimum is typically within 1e-5 of it); Newton steps finish
the job if L-BFGS-B stops abnormally.

Standard errors of the fixed effects are lme4's: ``sigma^2 (X' V^-1 X)^-1`` at the REML
estimates (unconditional on theta). Confidence intervals and p-values use the normal
approximation (Wald); lme4 itself reports no p-values.

Missing data: rows with a missing outcome, time or covariate are left out (counted in
``n_dropped_``); the model uses every remaining observation of a group, so a household
with missing waves still contributes. Under the model this is valid when missingness is
at random given the observed scores and covariates (MAR); dropout that depends on the
unobserved score itself biases it.

The fixed-effects design is :func:`cohort.stats.design.design_matrix` with an intercept
and patsy names (``site[T.UTR]``): ``Intercept``, the time column, the numeric covariates,
then the indicators of the categorical ones.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from cohort.exceptions import DefinitionError, NotEstimable
from cohort.roles import with_roles
from cohort.stats.base import (
    ConvergenceWarning,
    RegressionModel,
    StatisticalWarning,
    _check_columns,
    term_support,
)
from cohort.stats.design import design_matrix

__all__ = ["MixedModel", "fitted_mean_trajectory", "fixed_effects_design"]


def fixed_effects_design(df: pd.DataFrame, time_col: str, covariates=(), categorical=(),
                         levels: dict | None = None) -> pd.DataFrame:
    """The fixed-effects design of :class:`MixedModel` and :class:`~cohort.stats.gee.GEE`:
    ``Intercept``, ``time_col``, the numeric ``covariates``, the treatment indicators of
    the ``categorical`` columns (patsy names, first level the reference unless ``levels``
    orders them); missing values stay ``NaN`` (those rows are left out by the model).

    Examples
    --------
    >>> d = pd.DataFrame({"t": [0.0, 0.5], "site": ["B", "A"]})
    >>> fixed_effects_design(d, "t", categorical=["site"]).columns.tolist()
    ['Intercept', 't', 'site[T.B]']
    """
    covariates, categorical = list(covariates), list(categorical)
    return design_matrix(df, [time_col, *covariates, *categorical], categorical=categorical,
                         levels=levels, intercept=True, naming="patsy", missing="keep")


def _weighted_cross(A, C, w00, w01, w11):
    """``sum_i [A_i C_i]' W_i [A_i C_i]`` for symmetric 2x2 weights ``W_i`` (rows A_i, C_i).

    Written as one cross-product ``F'F`` with ``F = [r00 A + r10 C; r11 C]`` from the
    per-group Cholesky factor of ``W_i`` (positive semi-definite), so BLAS does the work.
    """
    r00 = np.sqrt(np.maximum(w00, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r10 = np.where(r00 > 0, w01 / r00, 0.0)
    r11 = np.sqrt(np.maximum(w11 - r10 * r10, 0.0))
    F1 = A * r00[:, None] + C * r10[:, None]
    F2 = C * r11[:, None]
    return F1.T @ F1 + F2.T @ F2


class MixedModel(RegressionModel):
    """Random intercept (and slope) model, ``y ~ time + covariates + (1 + time | group)``,
    reduced to ``(1 | group)`` where lme4 would refuse the random slope.

    Parameters
    ----------
    reml : bool
        Restricted maximum likelihood (default, as ``lmer``) or maximum likelihood.
    random_slope : bool or None
        ``None`` (default): a random slope when the data identify it (lme4's
        ``check.nobs.vs.nRE``), else a random intercept only, and say so. ``True``: the
        random slope or nothing (not estimable where lme4 refuses it). ``False``: a random
        intercept only.
    alpha : float
        1 - confidence level for the Wald intervals of the fixed effects.
    tol : float
        Convergence tolerance on the criterion for the optimiser.
    max_iter : int
        Iterations of the optimiser (L-BFGS-B) per start.

    Attributes (after ``fit``)
    --------------------------
    params_ : Series, fixed effects; bse_ : Series, their standard errors
    cov_params_ : DataFrame, covariance of the fixed effects (also ``variance_matrix_``)
    theta_ : ndarray, relative covariance factor parameters (lme4's ``getME(fit, "theta")``;
        ``(l11, 0, 0)`` for a random intercept only)
    random_slope_ : bool, whether the fit has a random slope; ``random_effects_`` its lme4
        formula term, e.g. ``(1 | household_id)``
    reduction_ : dict or None, why the random slope was left out (``reason``, ``n_obs``,
        ``n_re``: the random effects the slope model would have), when it was
    cov_re_ : DataFrame, 2x2 covariance of the random intercept and slope (slope 0 without one)
    sigma2_ : float, residual variance
    variance_components_ : DataFrame, lme4's ``VarCorr`` (variances, SDs, correlation)
    deviance_ : float, REML criterion (``REMLcrit``) or deviance (ML)
    loglik_ : float; n_obs_ (also ``n_``), n_groups_, n_dropped_ : int
    x_mean_ : Series, column means of the fixed-effects design (the average profile)
    converged_, n_iter_ : bool, int (optimiser iterations, Newton steps included)
    term_support_ : DataFrame, groups (households) behind each fixed effect
    summary : DataFrame, :func:`~cohort.stats.base.wald_table` of the fixed effects

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(200), 4)
    >>> t = np.tile(np.arange(4.0), 200)
    >>> b0, b1 = rng.normal(0, 1, 200), rng.normal(0, 0.3, 200)
    >>> y = 5 + 0.5 * t + b0[g] + b1[g] * t + rng.normal(0, 0.7, 800)
    >>> df = pd.DataFrame({"hh": g, "t": t, "y": y})
    >>> m = MixedModel().fit(df, outcome_col="y", time_col="t", group_col="hh")
    >>> m.params_.round(2).to_dict()
    {'Intercept': 4.91, 't': 0.47}
    >>> m.n_groups_, m.n_obs_
    (200, 800)
    >>> m.describe()["random_effects"], m.describe()["method"]
    ('(1 + t | hh)', 'REML')
    """

    def __init__(self, reml: bool = True, alpha: float = 0.05, tol: float = 1e-12,
                 max_iter: int = 2000, random_slope: bool | None = None):
        super().__init__(alpha)
        if random_slope not in (None, True, False):
            raise DefinitionError(f"random_slope must be None, True or False, got {random_slope!r}")
        self.reml = reml
        self.tol = tol
        self.max_iter = max_iter
        self.random_slope = random_slope

    # ------------------------------------------------------------------ fitting
    def fit(self, df: pd.DataFrame, outcome_col: str, time_col: str, group_col: str,
            covariates=(), categorical=(), levels: dict | None = None):
        """Fit the model to a long table (one row per observation).

        Parameters
        ----------
        df : DataFrame
        outcome_col, time_col, group_col : str
            Outcome, time (the random slope's variable, also a fixed effect) and group
            (e.g. household) columns.
        covariates : sequence of str
            Numeric fixed-effect columns.
        categorical : sequence of str
            Categorical fixed-effect columns (treatment coding, first level reference).
        levels : dict, optional
            Level order per categorical column (first = reference).

        Returns
        -------
        self

        Returns a not-estimable result (``not_estimable_``) without usable observations
        (reason ``no_observations``), with a rank-deficient fixed-effects design
        (``rank_deficient``), or where lme4 refuses every model the option allows
        (``not_identifiable``, ``too_few_groups``).

        Raises
        ------
        DefinitionError
            A named column is missing.
        """
        covariates, categorical = list(covariates), list(categorical)
        _check_columns(df, [outcome_col, time_col, group_col, *covariates, *categorical])
        design = fixed_effects_design(df, time_col, covariates, categorical, levels)
        X, names = design.to_numpy(dtype=float), list(design.columns)
        self.levels_ = design.attrs["levels"]
        self.time_col, self.group_col, self.outcome_col = time_col, group_col, outcome_col
        self.covariates_, self.categorical_ = covariates, categorical
        y = df[outcome_col].to_numpy(dtype=float, na_value=np.nan)
        t = df[time_col].to_numpy(dtype=float, na_value=np.nan)
        groups = df[group_col]
        ok = np.isfinite(y) & np.isfinite(t) & np.isfinite(X).all(axis=1) & groups.notna().to_numpy()
        self.n_dropped_ = int((~ok).sum())
        codes, _ = pd.factorize(groups[ok], sort=True)
        self._fit_arrays(y[ok], X[ok], t[ok], np.asarray(codes), names)
        return self

    def _fit_arrays(self, y, X, t, codes, names):
        n, p = X.shape
        if n == 0:
            raise NotEstimable("no_observations")
        if n <= p:
            raise NotEstimable("too_few_observations", f"only {n} usable observations for {p} fixed effects",
                               n_obs=n, n_terms=p)
        if np.linalg.matrix_rank(X) < p:
            raise NotEstimable(
                "rank_deficient",
                "the fixed-effects design is rank deficient (a covariate is constant or a "
                f"category has no observations); terms: {names}",
            )
        self.x_mean_ = pd.Series(X.mean(axis=0), index=names)
        support = term_support(X, names, codes)
        order = np.argsort(codes, kind="stable")
        y, X, t, codes = y[order], X[order], t[order], codes[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        G = len(starts)
        self._choose_random_effects(n, G)
        # Per-group sufficient statistics (exact sums, computed once).
        ones_t = np.column_stack([np.ones(n), t])  # Z rows
        ZtZ = np.stack(
            [np.add.reduceat(ones_t[:, a] * ones_t[:, b], starts) for a in range(2) for b in range(2)],
            axis=1,
        ).reshape(G, 2, 2)
        ZtX = np.stack([np.add.reduceat(X * ones_t[:, [a]], starts, axis=0) for a in range(2)], axis=1)
        Zty = np.stack([np.add.reduceat(y * ones_t[:, a], starts) for a in range(2)], axis=1)
        self._stats = dict(ZtZ=ZtZ, ZtX=ZtX, Zty=Zty, XtX=X.T @ X, Xty=X.T @ y, yty=float(y @ y),
                           n=n, p=p, A=np.ascontiguousarray(ZtX[:, 0, :]),
                           C=np.ascontiguousarray(ZtX[:, 1, :]))
        # lme4's start is theta = (1, 0, 1). The criterion is even in l22 (and in l11 when
        # l21 = 0), so a gradient method that reaches l22 = 0 (or l11 = 0) stays there even
        # when it is a saddle; then a second start with the slope on the scale of the time
        # variable (1/sd) is tried, and the better optimum is kept.
        opts = dict(ftol=self.tol, gtol=1e-9, maxiter=self.max_iter)
        if self.random_slope_:
            bounds = [(0.0, None), (None, None), (0.0, None)]
            res = optimize.minimize(self._criterion_grad, np.array([1.0, 0.0, 1.0]), jac=True,
                                    method="L-BFGS-B", bounds=bounds, options=opts)
            sd_t = float(np.std(t))
            if min(res.x[0], res.x[2]) < 1e-6 and sd_t > 0:
                r = optimize.minimize(self._criterion_grad, np.array([1.0, 0.0, 1.0 / sd_t]), jac=True,
                                      method="L-BFGS-B", bounds=bounds, options=opts)
                if r.fun < res.fun - 1e-9:
                    res = r
        else:
            # a random intercept only: theta = (l11, 0, 0), lme4's start l11 = 1
            def intercept_only(a):
                f, g = self._criterion_grad(np.array([a[0], 0.0, 0.0]))
                return f, g[:1]

            res = optimize.minimize(intercept_only, np.array([1.0]), jac=True, method="L-BFGS-B",
                                    bounds=[(0.0, None)], options=opts)
            res.x = np.array([res.x[0], 0.0, 0.0])
        theta, fun, polished, steps = res.x, res.fun, False, 0
        if not res.success:
            # e.g. an abnormal line-search end near the optimum: finish with Newton steps
            theta, fun, polished, steps = self._newton_polish(res.x, res.fun)
        if not (res.success or polished):
            criterion = "REML" if self.reml else "ML"
            warnings.warn(f"the mixed model's {criterion} optimisation did not converge "
                          f"({res.message}); estimates may be unreliable: raise max_iter or "
                          "simplify the fixed effects", ConvergenceWarning, stacklevel=3)
        best = optimize.OptimizeResult(x=theta, fun=fun, success=res.success or polished,
                                       message=res.message, nfev=res.nfev)
        self.theta_ = np.array(best.x)
        self.optimizer_result_ = best
        self.converged_ = bool(best.success)
        self.n_iter_ = int(res.nit) + steps
        self.term_support_ = support
        self._finish(names, G)

    def _newton_polish(self, theta, fun, max_iter: int = 10):
        """Newton steps (exact gradient, Hessian by central differences of the gradient),
        used when L-BFGS-B ends abnormally. Coordinates at a bound (l11 = 0 or l22 = 0: a
        singular fit) are kept fixed.
        """
        theta = np.array(theta, dtype=float)
        converged = False
        steps = 0
        for steps in range(1, max_iter + 1):  # noqa: B007 - the count is reported
            if self.random_slope_:
                free = np.flatnonzero([theta[0] > 1e-8, True, theta[2] > 1e-8])
            else:
                free = np.flatnonzero([theta[0] > 1e-8, False, False])
            if not len(free):
                converged = True
                break
            fun, grad = self._criterion_grad(theta)
            g = grad[free]
            if np.max(np.abs(g)) < 1e-8 * max(1.0, abs(fun)) * 1e-3:
                converged = True
                break
            h = 1e-5 * np.maximum(1.0, np.abs(theta))
            hess = np.zeros((len(free), len(free)))
            for a, i in enumerate(free):
                e = np.zeros(3)
                e[i] = h[i]
                hess[a] = (self._criterion_grad(theta + e)[1][free] - self._criterion_grad(theta - e)[1][free]) / (2 * h[i])
            hess = (hess + hess.T) / 2
            if not np.all(np.isfinite(hess)) or np.any(np.linalg.eigvalsh(hess) <= 0):
                break
            step = np.zeros(3)
            step[free] = np.linalg.solve(hess, g)
            improved = False
            for _half in range(30):
                cand = theta - step
                cand[0], cand[2] = max(cand[0], 0.0), max(cand[2], 0.0)
                fc = self._criterion(cand)
                if fc <= fun:
                    improved = True
                    break
                step /= 2
            if not improved:
                converged = True  # no descent left at the precision of the criterion
                break
            small = np.max(np.abs(cand - theta)) < 1e-10
            theta, fun = cand, fc
            if small:
                converged = True
                break
        return theta, fun, converged, steps

    def _pieces(self, theta):
        s = self._stats
        a_, b_, c_ = theta
        m00, m01, m11 = s["ZtZ"][:, 0, 0], s["ZtZ"][:, 0, 1], s["ZtZ"][:, 1, 1]
        # B_i = L' Z_i'Z_i L + I written out elementwise (stacked 2x2 matmuls are slow).
        B00 = a_ * a_ * m00 + 2 * a_ * b_ * m01 + b_ * b_ * m11 + 1.0
        B01 = c_ * (a_ * m01 + b_ * m11)
        B11 = c_ * c_ * m11 + 1.0
        det = B00 * B11 - B01 * B01
        i00, i01, i11 = B11 / det, -B01 / det, B00 / det
        # W_i = L B_i^-1 L' (symmetric 2x2), so that the Woodbury corrections are
        # sum_i (Z_i'X_i)' W_i (Z_i'X_i): weighted cross-products done by BLAS.
        w00 = a_ * a_ * i00
        w01 = a_ * (b_ * i00 + c_ * i01)
        w11 = b_ * b_ * i00 + 2 * b_ * c_ * i01 + c_ * c_ * i11
        A, C = s["A"], s["C"]
        a, c = s["Zty"][:, 0], s["Zty"][:, 1]
        XVX = s["XtX"] - _weighted_cross(A, C, w00, w01, w11)
        XVy = s["Xty"] - (np.einsum("gp,g->p", A, w00 * a + w01 * c)
                          + np.einsum("gp,g->p", C, w01 * a + w11 * c))
        yVy = s["yty"] - float(np.sum(w00 * a * a + 2 * w01 * a * c + w11 * c * c))
        return det, XVX, XVy, yVy

    def _criterion_grad(self, theta):
        """The criterion and its exact gradient in theta.

        With ``W_i = L B_i^-1 L'``, ``Q_i = Z_i'X_i (X'V^-1X)^-1 X_i'Z_i`` and the
        profiled residual ``e_i = Z_i'(y_i - X_i beta)``, the derivative in ``theta_k``
        (``dL = E_jk``, one entry) is ``sum_i [tr(B_i^-1 dB_i) - <dW_i, S_i>]`` with
        ``S_i = Q_i + (n - p) / r2 e_i e_i'`` (REML; ML drops ``Q`` and uses ``n``), and
        ``<dW, S> = 2 (S K)[j, k] - <dB, K'SK>`` for ``K = L B^-1``. Everything is
        elementwise 2x2 algebra over groups plus two ``G x p x p`` products.
        """
        st = self._stats
        a_, b_, c_ = theta
        m00, m01, m11 = st["ZtZ"][:, 0, 0], st["ZtZ"][:, 0, 1], st["ZtZ"][:, 1, 1]
        B00 = a_ * a_ * m00 + 2 * a_ * b_ * m01 + b_ * b_ * m11 + 1.0
        B01 = c_ * (a_ * m01 + b_ * m11)
        B11 = c_ * c_ * m11 + 1.0
        det = B00 * B11 - B01 * B01
        if not np.all(det > 0):
            return np.inf, np.zeros(3)
        i00, i01, i11 = B11 / det, -B01 / det, B00 / det
        w00 = a_ * a_ * i00
        w01 = a_ * (b_ * i00 + c_ * i01)
        w11 = b_ * b_ * i00 + 2 * b_ * c_ * i01 + c_ * c_ * i11
        A, C = st["A"], st["C"]
        ya, yc = st["Zty"][:, 0], st["Zty"][:, 1]
        XVX = st["XtX"] - _weighted_cross(A, C, w00, w01, w11)
        XVy = st["Xty"] - (np.einsum("gp,g->p", A, w00 * ya + w01 * yc)
                           + np.einsum("gp,g->p", C, w01 * ya + w11 * yc))
        yVy = st["yty"] - float(np.sum(w00 * ya * ya + 2 * w01 * ya * yc + w11 * yc * yc))
        try:
            R = np.linalg.cholesky(XVX)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros(3)
        XVXinv = np.linalg.inv(XVX)
        beta = XVXinv @ XVy
        r2 = yVy - beta @ XVy
        if not r2 > 0:
            return np.inf, np.zeros(3)
        n, p = st["n"], st["p"]
        # e_i = Z_i'(y_i - X_i beta)
        e0, e1 = ya - np.einsum("gp,p->g", A, beta), yc - np.einsum("gp,p->g", C, beta)
        if self.reml:
            f = np.log(det).sum() + 2 * np.log(np.diag(R)).sum() + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p)))
            # Q_i = Z_i'X_i (X'V^-1X)^-1 X_i'Z_i via the Cholesky factor of the inverse
            Rv = np.linalg.cholesky(XVXinv)
            PA, PC = A @ Rv, C @ Rv
            k = (n - p) / r2
            s00 = np.einsum("gp,gp->g", PA, PA) + k * e0 * e0
            s01 = np.einsum("gp,gp->g", PA, PC) + k * e0 * e1
            s11 = np.einsum("gp,gp->g", PC, PC) + k * e1 * e1
        else:
            f = np.log(det).sum() + n * (1 + np.log(2 * np.pi * r2 / n))
            k = n / r2
            s00, s01, s11 = k * e0 * e0, k * e0 * e1, k * e1 * e1
        # K = L B^-1
        k00, k01 = a_ * i00, a_ * i01
        k10, k11 = b_ * i00 + c_ * i01, b_ * i01 + c_ * i11
        # T = K' S K (symmetric); U = B^-1 + T
        sk00, sk01 = s00 * k00 + s01 * k10, s00 * k01 + s01 * k11   # (S K) row 0
        sk10, sk11 = s01 * k00 + s11 * k10, s01 * k01 + s11 * k11   # (S K) row 1
        t00 = k00 * sk00 + k10 * sk10
        t01 = k00 * sk01 + k10 * sk11
        t11 = k01 * sk01 + k11 * sk11
        u00, u01, u11 = i00 + t00, i01 + t01, i11 + t11
        # M L entries for dB
        p00, p01 = m00 * a_ + m01 * b_, m01 * c_
        p10, p11 = m01 * a_ + m11 * b_, m11 * c_
        ga = np.sum(2 * p00 * u00 + 2 * p01 * u01 - 2 * sk00)            # dL = E_00
        gb = np.sum(2 * p10 * u00 + 2 * p11 * u01 - 2 * sk10)            # dL = E_10
        gc = np.sum(2 * p10 * u01 + 2 * p11 * u11 - 2 * sk11)            # dL = E_11
        return float(f), np.array([ga, gb, gc])

    def _criterion(self, theta):
        s = self._stats
        det, XVX, XVy, yVy = self._pieces(theta)
        try:
            R = np.linalg.cholesky(XVX)
        except np.linalg.LinAlgError:
            return np.inf
        beta = np.linalg.solve(XVX, XVy)
        r2 = yVy - beta @ XVy
        if not (r2 > 0 and np.all(det > 0)):
            return np.inf
        logdet = np.log(det).sum()
        n, p = s["n"], s["p"]
        if self.reml:
            return logdet + 2 * np.log(np.diag(R)).sum() + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p)))
        return logdet + n * (1 + np.log(2 * np.pi * r2 / n))

    def _finish(self, names, G):
        s = self._stats
        theta = self.theta_
        det, XVX, XVy, yVy = self._pieces(theta)
        beta = np.linalg.solve(XVX, XVy)
        r2 = yVy - beta @ XVy
        n, p = s["n"], s["p"]
        sigma2 = r2 / (n - p) if self.reml else r2 / n
        cov = sigma2 * np.linalg.inv(XVX)
        L = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
        cov_re = sigma2 * (L @ L.T)
        self.n_obs_, self.n_groups_ = int(n), int(G)
        self.n_ = self.n_obs_
        self.sigma2_ = float(sigma2)
        self.params_ = pd.Series(beta, index=names)
        self.cov_params_ = pd.DataFrame(cov, index=names, columns=names)
        self.variance_matrix_ = self.cov_params_
        self.bse_ = pd.Series(np.sqrt(np.diag(cov)), index=names)
        self.cov_re_ = pd.DataFrame(cov_re, index=["Intercept", "slope"], columns=["Intercept", "slope"])
        self.deviance_ = float(self._criterion(theta))
        self.loglik_ = -self.deviance_ / 2
        sd = np.sqrt(np.diag(cov_re))
        corr = cov_re[0, 1] / (sd[0] * sd[1]) if sd[0] > 0 and sd[1] > 0 else np.nan
        if self.random_slope_:
            self.variance_components_ = pd.DataFrame({
                "component": ["group_intercept", "group_slope", "group_intercept_slope", "residual"],
                "variance": [cov_re[0, 0], cov_re[1, 1], cov_re[0, 1], sigma2],
                "sd": [sd[0], sd[1], np.nan, np.sqrt(sigma2)],
                "corr": [np.nan, np.nan, corr, np.nan],
            })
        else:
            self.variance_components_ = pd.DataFrame({
                "component": ["group_intercept", "residual"],
                "variance": [cov_re[0, 0], sigma2],
                "sd": [sd[0], np.sqrt(sigma2)],
                "corr": [np.nan, np.nan],
            })
        if theta[0] == 0 or (self.random_slope_ and theta[2] == 0):
            what = "a random slope and intercept" if self.random_slope_ else "a random intercept"
            warnings.warn("the random-effects covariance is singular (a variance is estimated "
                          f"at 0): the data do not support {what}; "
                          "interpret the variance components with care", StatisticalWarning,
                          stacklevel=5)
        del self._stats

    def _choose_random_effects(self, n: int, G: int) -> None:
        """The random effects the data identify, by lme4's checks (``check.nobs.vs.nRE``,
        ``check.nobs.vs.nlev``): a random slope needs more observations than twice the
        groups (and 3 groups), a random intercept more observations than groups (and 2)."""
        slope_ok = n > 2 * G and G >= 3
        intercept_ok = n > G and G >= 2
        self.reduction_ = None
        if self.random_slope is True or (self.random_slope is None and slope_ok):
            if not slope_ok:
                if G < 3:
                    raise NotEstimable("too_few_groups", n_groups=G, needed=3)
                raise NotEstimable("not_identifiable", n_obs=n, n_re=2 * G, n_groups=G)
            self.random_slope_ = True
            return
        if not intercept_ok:
            if G < 2:
                raise NotEstimable("too_few_groups", n_groups=G, needed=2)
            raise NotEstimable("not_identifiable", n_obs=n, n_re=G, n_groups=G)
        self.random_slope_ = False
        if self.random_slope is None:
            reason = "not_identifiable" if n <= 2 * G else "too_few_groups"
            self.reduction_ = {"dropped": "random slope", "reason": reason, "n_obs": int(n),
                               "n_re": int(2 * G), "n_groups": int(G)}
            why = (f"{n} observations for {2 * G} random effects (lme4's check.nobs.vs.nRE refuses "
                   "the slope)" if reason == "not_identifiable" else f"{G} groups")
            warnings.warn(f"the mixed model has a random intercept only: a random slope is not "
                          f"identifiable with {why}", StatisticalWarning, stacklevel=5)

    def _design(self, df: pd.DataFrame) -> np.ndarray:
        self._require_fitted()
        design = fixed_effects_design(df, self.time_col, self.covariates_, self.categorical_,
                                      self.levels_)
        return design.reindex(columns=self.params_.index).to_numpy(dtype=float)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Population-level (marginal) prediction ``x' beta`` for new rows."""
        return self._design(df) @ self.params_.to_numpy()

    def predict_se(self, df: pd.DataFrame) -> np.ndarray:
        """Standard error of the marginal prediction (from the fixed effects' covariance)."""
        X = self._design(df)
        return np.sqrt(np.einsum("ij,jk,ik->i", X, self.cov_params_.to_numpy(), X))

    def release_table(self) -> pd.DataFrame:
        """Tidy table of the fitted model for release.

        Fixed effects with ``term, estimate, se, ci_lower, ci_upper, p``, followed by the
        variance components (``sd(Intercept | household)``, ``sd(time | household)``,
        ``corr(Intercept, time | household)``, ``sd(residual)``; the intercept's and the
        residual's only without a random slope) with estimate only; and
        ``n_obs``/``n_households``/``method`` as attributes. Aggregates only: releasable
        as is when the model rests on at least the disclosure threshold of households.
        """
        fixed = self.summary.reset_index()[["term", "estimate", "se", "ci_lower", "ci_upper", "p"]]
        vc = self.variance_components_.set_index("component")
        time = self.params_.index[1]
        if self.random_slope_:
            re = pd.DataFrame({
                "term": ["sd(Intercept | household)", f"sd({time} | household)",
                         f"corr(Intercept, {time} | household)", "sd(residual)"],
                "estimate": [vc.at["group_intercept", "sd"], vc.at["group_slope", "sd"],
                             vc.at["group_intercept_slope", "corr"], vc.at["residual", "sd"]],
            })
        else:
            re = pd.DataFrame({
                "term": ["sd(Intercept | household)", "sd(residual)"],
                "estimate": [vc.at["group_intercept", "sd"], vc.at["residual", "sd"]],
            })
        out = pd.concat([fixed, re], ignore_index=True)
        out.attrs.update(n_obs=self.n_obs_, n_households=self.n_groups_,
                         method="REML" if self.reml else "ML")
        return out

    def describe(self) -> dict:
        """REML or ML, the random-effects structure, observations, groups, dropped rows."""
        out = super().describe()
        out.update(method="REML" if self.reml else "ML",
                   random_effects=self.random_effects_,
                   n_obs=self.n_obs_, n_groups=self.n_groups_, n_dropped=self.n_dropped_,
                   covariance=("unstructured 2x2 (intercept, slope)" if self.random_slope_
                               else "one variance (intercept)"))
        if self.reduction_:
            out["reduced"] = dict(self.reduction_)
        return out

    @property
    def random_effects_(self) -> str:
        """The random-effects term fitted, as lme4 writes it: ``(1 + t | g)`` or ``(1 | g)``."""
        self._require_fitted()
        if self.random_slope_:
            return f"(1 + {self.time_col} | {self.group_col})"
        return f"(1 | {self.group_col})"



# ------------------------------------------------------------------ trajectories


def fitted_mean_trajectory(model, months, profile: dict | None = None,
                           months_per_unit: float = 12.0) -> pd.DataFrame:
    """Population-average fitted trajectory of a :class:`cohort.stats.mixed.MixedModel` with CIs.

    The prediction ``x' beta`` at each time, with the other design columns at the model's
    average profile (``model.x_mean_``: covariate means and category shares) unless
    ``profile`` sets them (e.g. ``{"severity[T.high]": 1.0}``). ``months`` are converted
    to the model's time unit by ``months / months_per_unit`` (12 for a model in years,
    1 for months). Model-based aggregate: no household enters the figure individually.

    For a not-estimable model the table is empty and says why (``attrs["not_estimable"]``),
    so a figure drawn from it leaves the trajectory out and says so.
    """
    if not getattr(model, "estimable", True):
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in
                              ("months", "estimate", "se", "ci_lower", "ci_upper")})
        empty["n_households"] = pd.Series(dtype="int64")
        out = with_roles(empty, counts=["n_households"], keys=["months"])
        out.attrs["not_estimable"] = model.not_estimable_
        return out
    months = np.asarray(months, dtype=float)
    names = list(model.params_.index)
    time_name = names[1]
    base = model.x_mean_.copy()
    for k, v in (profile or {}).items():
        if k not in base.index:
            raise DefinitionError(f"profile names {k!r}, which is not a model term ({names})")
        base[k] = v
    X = np.tile(base.to_numpy(), (len(months), 1))
    X[:, 0] = 1.0
    X[:, names.index(time_name)] = months / months_per_unit
    est = X @ model.params_.to_numpy()
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, model.cov_params_.to_numpy(), X))
    z = stats.norm.ppf(1 - model.alpha / 2)
    out = pd.DataFrame({"months": months, "estimate": est, "se": se,
                        "ci_lower": est - z * se, "ci_upper": est + z * se})
    out["n_households"] = model.n_groups_
    return with_roles(out, counts=["n_households"], keys=["months"])
