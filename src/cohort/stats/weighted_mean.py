"""Weighted difference in means between the arms, with the variance for estimated weights.

For an outcome measured once per household (the change in the safety score from T0 to T2,
:func:`cohort.definitions.target_trial.safety_trial`), the inverse-probability-weighted
(Hajek) mean of each arm, ``sum w y / sum w``, estimates the mean the whole trial population
would have had under that way of working, and their difference the average treatment
effect. The standard error is from the influence function, with the term for the
estimated weights of :class:`cohort.stats.propensity.PropensityScore` (M-estimation; as
R's ``WeightIt`` + ``survey`` would give by the same sandwich), or with the weights held
fixed (``se_fixed_weights``, the robust standard error of a weighted regression on the arm).

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"y": [1.0, 2.0, 3.0, 1.0, 1.5], "arm": ["pilot"] * 3 + ["comparison"] * 2})
>>> WeightedMeanDifference().fit(d, "y", "arm", weights=[1, 1, 2, 1, 1]).summary[["difference"]].round(4)
   difference
0         1.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohort.exceptions import DefinitionError
from cohort.stats.base import Estimator, _check_columns, _numeric
from cohort.stats.weighted_aalen_johansen import _contrast, _weights_from

__all__ = ["WeightedMeanDifference"]


class WeightedMeanDifference(Estimator):
    """Hajek-weighted mean per arm and their difference (first minus second arm).

    Attributes
    ----------
    means_ : DataFrame
        ``group, n, mean, se, se_fixed_weights, ci_lower, ci_upper``.
    differences_ : DataFrame
        One row: ``difference, se, se_fixed_weights, ci_lower, ci_upper, p``.
    """

    _fitted_attribute = "differences_"

    def fit(self, df: pd.DataFrame, outcome_col: str, group_col: str, weights=None, propensity=None,
            cluster_col: str | None = None, contrast=None):
        """Fit; the arguments are those of :meth:`WeightedAalenJohansen.fit`.

        Returns
        -------
        self
        """
        _check_columns(df, [outcome_col, group_col, cluster_col])
        y = _numeric(df, outcome_col)
        w = _weights_from(df, weights, propensity)
        if propensity is not None and propensity.n_ != len(df):
            raise DefinitionError(f"the propensity model was fitted on {propensity.n_} rows, the table has {len(df)}")
        codes, labels = pd.factorize(df[group_col], sort=True)
        labels = list(labels)
        if len(labels) != 2:
            raise DefinitionError(f"{group_col!r} must hold two arms, found {labels}")
        self.contrast_ = _contrast(labels, contrast)
        order = [labels.index(c) for c in self.contrast_]
        n = len(df)
        der = np.zeros((n, 2))
        rows = []
        for k, g in enumerate(order):
            sel = codes == g
            wsum = w[sel].sum()
            mean = float(np.sum(w[sel] * y[sel]) / wsum)
            der[sel, k] = (y[sel] - mean) / wsum  # d mean / d w_i
            rows.append((self.contrast_[k], int(sel.sum()), mean))
        phi_fixed = w[:, None] * der
        phi = phi_fixed + (propensity.correction(der) if propensity is not None else 0.0)
        if cluster_col is not None:
            cl = pd.factorize(df[cluster_col], sort=True)[0]
            phi = np.vstack([np.bincount(cl, phi[:, i]) for i in range(2)]).T
            phi_fixed = np.vstack([np.bincount(cl, phi_fixed[:, i]) for i in range(2)]).T
        z = stats.norm.ppf(1 - self.alpha / 2)
        se = np.sqrt((phi**2).sum(axis=0))
        se_f = np.sqrt((phi_fixed**2).sum(axis=0))
        self.means_ = pd.DataFrame(rows, columns=["group", "n", "mean"]).assign(
            se=se, se_fixed_weights=se_f)
        self.means_["ci_lower"] = self.means_["mean"] - z * se
        self.means_["ci_upper"] = self.means_["mean"] + z * se
        d_phi = phi[:, 0] - phi[:, 1]
        d_phi_f = phi_fixed[:, 0] - phi_fixed[:, 1]
        diff = rows[0][2] - rows[1][2]
        d_se = float(np.sqrt((d_phi**2).sum()))
        self.differences_ = pd.DataFrame({
            "difference": [diff], "se": [d_se], "se_fixed_weights": [float(np.sqrt((d_phi_f**2).sum()))],
            "ci_lower": [diff - z * d_se], "ci_upper": [diff + z * d_se],
            "p": [2 * stats.norm.sf(abs(diff / d_se)) if d_se > 0 else np.nan],
        })
        self.n_ = n
        self.estimated_weights_ = propensity is not None
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """:attr:`differences_`."""
        self._require_fitted()
        return self.differences_

    def describe(self) -> dict:
        out = super().describe()
        out.update(contrast=[str(c) for c in self.contrast_],
                   variance="influence function with the estimated weights" if self.estimated_weights_
                   else "influence function with the weights held fixed")
        return out
