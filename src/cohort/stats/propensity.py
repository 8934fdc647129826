"""Propensity model for being in the pilot arm, and the inverse-probability weights it gives.

A logistic regression of the treatment (1 = served the new way, 0 = regular care) on the
baseline covariates, fitted by Newton's method as R's ``glm(family = binomial)``, and the
weights of the average treatment effect (ATE): ``1 / p`` for pilot households and
``1 / (1 - p)`` for comparison households, *stabilised* by the arm's share (``P(A = 1) / p``
and ``P(A = 0) / (1 - p)``, so that each arm's weights average about 1 and the weighted
sample is as large as the real one) and optionally *truncated* at quantiles of their
distribution (Cole and Hernán 2008).

The weights are estimated, and the variance of every weighted estimator here accounts for
that (M-estimation; Lunceford and Davidian 2004): a weighted estimator ``theta(w)`` has the
influence function

    phi_j = w_j * d theta / d w_j  +  (sum_i d theta / d w_i * d w_i / d eta) . Phi_j

where ``eta`` are the weight parameters (the logistic coefficients and, for stabilised
weights, the share of the pilot arm), ``d w_i / d eta`` is :meth:`PropensityScore.weight_jacobian`
and ``Phi_j`` their influence functions (:attr:`PropensityScore.weight_influence_`).
:meth:`PropensityScore.correction` computes the second term for any estimator given its
derivatives ``d theta / d w_i``. Truncation points are treated as fixed (a truncated weight
has derivative 0), as is usual.

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"a": [1, 1, 1, 0, 0, 0, 1, 0], "x": [2.0, 1.5, 0.3, 0.2, 1.0, -0.5, 0.8, 0.1]})
>>> ps = PropensityScore().fit(d, "a", ["x"])
>>> ps.params_.round(4).to_dict()
{'(Intercept)': -1.5648, 'x': 2.4645}
>>> round(float(ps.weights_.mean()), 4)
0.8895
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.exceptions import DefinitionError
from cohort.stats.base import (
    RegressionModel,
    StatisticalWarning,
    _check_columns,
    newton_raphson,
    term_support,
)
from cohort.stats.design import design_matrix

__all__ = ["INTERCEPT", "PropensityScore"]

#: Name of the intercept term, as R prints it.
INTERCEPT = "(Intercept)"


def _treatment(df: pd.DataFrame, col: str) -> np.ndarray:
    s = df[col]
    if s.isna().any():
        raise DefinitionError(f"treatment column {col!r} has missing values")
    try:
        a = s.to_numpy(dtype="float64")
    except (TypeError, ValueError) as err:
        raise DefinitionError(f"treatment column {col!r} must hold 0 and 1") from err
    if not np.isin(a, (0.0, 1.0)).all():
        raise DefinitionError(f"treatment column {col!r} must hold 0 (comparison) and 1 (pilot)")
    if a.min() == a.max():
        raise DefinitionError(
            f"treatment column {col!r} holds one arm only: a propensity model needs households "
            "of both arms"
        )
    return a


class PropensityScore(RegressionModel):
    """Logistic propensity model and inverse-probability weights (ATE), as R's ``glm``.

    Parameters
    ----------
    stabilised : bool
        Multiply the weights by the arm's share (default True).
    trim_quantiles : (float, float), optional
        Truncate the weights at these quantiles of all weights (R ``quantile`` type 7),
        e.g. ``(0.01, 0.99)``; ``None`` (default): no truncation.
    alpha : float
        1 - confidence level of the odds-ratio intervals.

    Attributes
    ----------
    params_ : Series
        Log odds ratios by term (``(Intercept)`` first).
    variance_matrix_ : DataFrame
        Inverse information (R ``vcov(glm)``).
    propensity_ : ndarray
        Estimated P(pilot | covariates) per row.
    treatment_ : ndarray
        The treatment (0/1) per row.
    weights_ : Series
        The weights, indexed like the fitted frame.
    truncated_ : ndarray of bool
        Rows whose weight was truncated.
    weight_influence_ : ndarray, (n, q)
        Influence functions of the weight parameters (the logistic coefficients, then the
        pilot share when stabilised), scaled so that ``estimate - truth ~ sum of rows``.
    """

    _exp_scale = "odds ratio"
    _release_ratio_names = ("odds_ratio", "or_ci_lower", "or_ci_upper")

    def __init__(self, stabilised: bool = True, trim_quantiles=None, alpha: float = 0.05):
        super().__init__(alpha)
        if not isinstance(stabilised, bool):
            raise DefinitionError("stabilised must be True or False")
        if trim_quantiles is not None:
            lo, hi = (float(q) for q in trim_quantiles)
            if not 0 <= lo < hi <= 1:
                raise DefinitionError(
                    f"trim_quantiles must be two quantiles 0 <= low < high <= 1, got {trim_quantiles!r}"
                )
            trim_quantiles = (lo, hi)
        self.stabilised = stabilised
        self.trim_quantiles = trim_quantiles

    # -- fitting ---------------------------------------------------------------
    def fit(self, df: pd.DataFrame, treatment_col: str, covariates, cluster_col: str | None = None):
        """Fit the model and compute the weights.

        Parameters
        ----------
        df : DataFrame
            One row per household (a trial table of :mod:`cohort.definitions.target_trial`).
        treatment_col : str
            1 for the pilot arm, 0 for the comparison arm.
        covariates : list of str
            Columns; text columns are treatment-coded as R does (:func:`design_matrix`).
        cluster_col : str, optional
            Unit of :attr:`term_support_` (default: each row its own household).

        Returns
        -------
        self

        Raises
        ------
        DefinitionError
            A missing or constant column, one arm only, or collinear covariates.
        """
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        _check_columns(df, [treatment_col, cluster_col, *covariates])
        a = _treatment(df, treatment_col)
        design = design_matrix(df, covariates)
        names = [INTERCEPT, *design.columns]
        X = np.column_stack([np.ones(len(df)), design.to_numpy(dtype=float)])
        constant = [n for n, v in zip(names[1:], np.ptp(X[:, 1:], axis=0), strict=True) if v == 0]
        if constant:
            raise DefinitionError(
                f"covariate column(s) {constant} take a single value and cannot be estimated; "
                "drop them from the propensity model"
            )
        if np.linalg.matrix_rank(X) < X.shape[1]:
            raise DefinitionError(
                f"the covariates {names[1:]} are collinear; drop or combine covariates"
            )

        def objective(beta):
            eta = X @ beta
            p = 1.0 / (1.0 + np.exp(-eta))
            ll = float(np.sum(a * eta - np.logaddexp(0.0, eta)))
            grad = X.T @ (a - p)
            info = (X * (p * (1 - p))[:, None]).T @ X
            return ll, grad, info

        res = newton_raphson(objective, np.zeros(X.shape[1]), what="propensity model")
        beta = res.x
        p = 1.0 / (1.0 + np.exp(-(X @ beta)))
        if np.any((p < 1e-8) | (p > 1 - 1e-8)):
            import warnings

            warnings.warn(
                "some propensities are 0 or 1 (a covariate separates the arms): the arms do not "
                "overlap and weighting cannot compare them; see the weight distribution",
                StatisticalWarning,
                stacklevel=2,
            )
        info = res.information
        var = np.linalg.inv(info)
        self._X, self._a = X, a
        self.params_ = pd.Series(beta, index=names, name="coef")
        self.variance_matrix_ = pd.DataFrame(var, index=names, columns=names)
        self.converged_, self.n_iter_ = res.converged, res.n_iter
        self.log_likelihood_ = res.value
        self.n_ = len(df)
        self.n_treated_ = int(a.sum())
        self.treatment_col, self.covariates = treatment_col, covariates
        units = (
            pd.factorize(df[cluster_col], sort=True)[0] if cluster_col else np.arange(len(df))
        )
        self.term_support_ = term_support(X, names, units)
        self.propensity_ = p
        self.treatment_ = a
        self.pilot_share_ = float(a.mean())
        self._weights(df.index)
        # influence functions of the weight parameters: the coefficients (score times the
        # inverse information), then the pilot share when the weights are stabilised
        phi = (X * (a - p)[:, None]) @ var
        if self.stabilised:
            phi = np.column_stack([phi, (a - self.pilot_share_) / self.n_])
        self.weight_influence_ = phi
        return self

    def _weights(self, index) -> None:
        a, p = self.treatment_, self.propensity_
        share = self.pilot_share_ if self.stabilised else 1.0
        num = np.where(a == 1, share, 1.0 - share) if self.stabilised else np.ones_like(a)
        raw = num / np.where(a == 1, p, 1.0 - p)
        truncated = np.zeros(len(raw), dtype=bool)
        w = raw
        if self.trim_quantiles is not None:
            lo, hi = np.quantile(raw, self.trim_quantiles)
            truncated = (raw < lo) | (raw > hi)
            w = np.clip(raw, lo, hi)
            self.trim_bounds_ = (float(lo), float(hi))
        self.raw_weights_ = raw
        self.truncated_ = truncated
        self.weights_ = pd.Series(w, index=index, name="weight")

    # -- what the weighted estimators need --------------------------------------
    def weight_jacobian(self) -> np.ndarray:
        """``d w_i / d eta`` (n x q): derivatives of each weight with respect to the weight
        parameters (coefficients, then the pilot share when stabilised); 0 for truncated
        weights."""
        self._require_fitted()
        a, p, X = self.treatment_, self.propensity_, self._X
        w = self.raw_weights_
        # d(1/p)/d beta = -(1 - p)/p x ; d(1/(1-p))/d beta = p/(1-p) x
        d_beta = (w * np.where(a == 1, -(1.0 - p), p))[:, None] * X
        parts = [d_beta]
        if self.stabilised:
            parts.append((np.where(a == 1, 1.0 / p, -1.0 / (1.0 - p)))[:, None])
        jac = np.column_stack(parts)
        jac[self.truncated_] = 0.0
        return jac

    def correction(self, derivatives) -> np.ndarray:
        """The estimated-weights term of the influence function of weighted estimators.

        Parameters
        ----------
        derivatives : array (n,) or (n, k)
            ``d theta / d w_i`` for each of ``k`` estimands, one row per fitted row.

        Returns
        -------
        ndarray (n,) or (n, k): ``Phi_j . (sum_i d theta / d w_i * d w_i / d eta)``, to be
        added to the estimator's influence function with the weights held fixed.
        """
        self._require_fitted()
        der = np.asarray(derivatives, dtype=float)
        one = der.ndim == 1
        der = der[:, None] if one else der
        if der.shape[0] != self.n_:
            raise DefinitionError(
                f"derivatives have {der.shape[0]} rows; the propensity model has {self.n_}"
            )
        grad = der.T @ self.weight_jacobian()  # (k, q)
        out = self.weight_influence_ @ grad.T  # (n, k)
        return out[:, 0] if one else out

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            estimand="ATE",
            stabilised=self.stabilised,
            trim_quantiles=None if self.trim_quantiles is None else list(self.trim_quantiles),
        )
        # counts of households (the truncated weights, the pilot arm) are left out: the
        # released weight distribution shows them under disclosure control
        return out
