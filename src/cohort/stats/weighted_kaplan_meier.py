"""Weighted Kaplan–Meier survival per arm, and the difference between the arms.

The inverse-probability-weighted product-limit estimator
``S(t) = prod over s <= t of (1 - dN_w(s) / Y_w(s))`` with weighted events and numbers at
risk, per arm: the survival the whole trial population would have had under each way of
working (when the weights balance the covariates and censoring is independent of the
outcome within an arm). Estimates equal R's ``survfit(Surv(time, status) ~ arm,
weights = w)``; the standard errors are the infinitesimal-jackknife ones (R's
``robust = TRUE``) with the weights held fixed (``se_fixed_weights``) and, with the
propensity model given, with the estimated weights (``se``); see
:mod:`cohort.stats.weighted_aalen_johansen` for the derivation.

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5, 1, 3, 4, 6], "e": [1, 1, 1, 0, 1, 1, 1, 1, 0, 1],
...                   "arm": ["pilot"] * 6 + ["comparison"] * 4,
...                   "w": [1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 2.0, 1.0]})
>>> km = WeightedKaplanMeier(horizons_days=[2, 4]).fit(d, "t", "e", "arm", weights="w")
>>> km.survival_[["group", "time", "survival"]].round(4)
        group  time  survival
0       pilot   2.0    0.3846
1       pilot   4.0    0.2564
2  comparison   2.0    0.8000
3  comparison   4.0    0.6000
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.exceptions import DefinitionError
from cohort.stats.intervals import confint
from cohort.stats.weighted_aalen_johansen import _Curve, _WeightedCurves

__all__ = ["WeightedKaplanMeier"]


class WeightedKaplanMeier(_WeightedCurves):
    """Weighted Kaplan–Meier survival per arm and the difference between the arms.

    Parameters
    ----------
    horizons_days : sequence of float, optional
        Times of :attr:`survival_` and :attr:`differences_` (default 6, 12, 24 months).
    alpha : float
    conf_type : {"log", "log-log", "plain"}
        Transform of each arm's pointwise intervals (R's default "log"); differences get
        plain Wald intervals.

    Attributes
    ----------
    table_ : DataFrame
        Per arm and distinct time: ``group, time, n_risk, n_event, n_censor,
        weighted_n_risk, weighted_n_event, survival``.
    survival_ : DataFrame
        Per arm and horizon: ``group, time, survival, se, se_fixed_weights, ci_lower,
        ci_upper, n_risk``.
    risks_ : DataFrame
        The same as risks (``1 - survival``), for reports that speak of risks.
    differences_ : DataFrame
        Per horizon: the difference in survival (first minus second arm of ``contrast_``),
        ``se, se_fixed_weights, ci_lower, ci_upper, p``.
    """

    def fit(self, df, duration_col, event_col, group_col, weights=None, propensity=None,
            cluster_col=None, contrast=None):
        """Fit the curves; the arguments are those of :meth:`WeightedAalenJohansen.fit`,
        with ``event_col`` 0 (censored) or 1 (event).

        Returns
        -------
        self
        """
        time, status, w, codes, ordered, clusters = self._prepare(
            df, duration_col, event_col, group_col, weights, propensity, cluster_col, contrast
        )
        if (status > 1).any():
            raise DefinitionError(
                f"{event_col!r} must hold 0 (censored) or 1 (event); for competing events use "
                "WeightedAalenJohansen"
            )
        if not (status == 1).any():
            raise DefinitionError(f"no events in {event_col!r}")
        horizons = np.asarray(self.horizons_days)
        n, H = len(df), len(horizons)
        der = {g: np.zeros((n, H)) for g in ordered}
        tables, rows_out = [], []
        for g in ordered:
            rows = np.flatnonzero(codes == g)
            cur = _Curve(time[rows], status[rows], w[rows], [1])
            label = self.contrast_[ordered.index(g)]
            tables.append(pd.DataFrame({
                "group": label, "time": cur.ut, "n_risk": cur.n_risk, "n_event": cur.n_event[1],
                "n_censor": cur.n_censor, "weighted_n_risk": cur.Y, "weighted_n_event": cur.dN[1],
                "survival": cur.S,
            }))
            der[g][rows[cur.order]] = cur.survival_derivative(horizons)
            at_risk = np.r_[cur.n_risk, 0][np.searchsorted(cur.ut, horizons, side="left")]
            rows_out.append(pd.DataFrame({
                "group": label, "time": horizons, "survival": cur.survival_at(horizons), "n_risk": at_risk,
            }))
        self.table_ = pd.concat(tables, ignore_index=True)
        surv = pd.concat(rows_out, ignore_index=True)
        se, se_fixed, _ = self._variance(np.hstack([der[g] for g in ordered]), w, propensity, clusters)
        surv["se"], surv["se_fixed_weights"] = se, se_fixed
        with np.errstate(divide="ignore", invalid="ignore"):
            se_log = np.where(surv["survival"] > 0, se / surv["survival"].to_numpy(), np.nan)
        lo, up = confint(surv["survival"].to_numpy(), se_log, self.conf_type, self.alpha, logse=True)
        surv["ci_lower"], surv["ci_upper"] = lo, up
        self.survival_ = surv[["group", "time", "survival", "se", "se_fixed_weights", "ci_lower", "ci_upper", "n_risk"]]
        risks = self.survival_.rename(columns={"survival": "risk"}).copy()
        risks["risk"] = 1.0 - risks["risk"]
        risks["ci_lower"], risks["ci_upper"] = 1.0 - up, 1.0 - lo
        self.risks_ = risks
        se_d, se_d_fixed, phi = self._variance(der[ordered[0]] - der[ordered[1]], w, propensity, clusters)
        s = surv["survival"].to_numpy()
        self.differences_ = self._difference_frame(s[:H] - s[H:], se_d, se_d_fixed, {"time": horizons})
        self.influence_ = phi
        return self
