"""Weighted Aalen–Johansen cumulative incidence per arm, and the difference between the arms.

The inverse-probability-weighted Aalen–Johansen estimator (with one cause it is one minus
the weighted Kaplan–Meier, :mod:`cohort.stats.weighted_kaplan_meier`): at every distinct
time the weighted number at risk ``Y(t) = sum of w_i over T_i >= t`` and the weighted
events of each cause give the cause-specific hazards ``h_k = dN_k / Y``; the survival is
``S(t) = prod (1 - sum_k h_k)`` and the cumulative incidence
``F_k(t) = sum over s <= t of S(s-) h_k(s)``. The estimates equal R's
``survfit(Surv(time, factor(status)) ~ arm, weights = w)`` (ties handled exactly, no jitter).

**Variance.** Each estimate is a smooth function of the weights, so its influence function
is its exact derivative with respect to each household's weight (the infinitesimal
jackknife), plus the term for the estimated weights (:meth:`PropensityScore.correction`):

    phi_j = w_j dF/dw_j  +  correction_j

summed within clusters when a cluster column is given. ``se_fixed_weights`` leaves out the
correction: it is the robust standard error that treats the weights as known (R
``survfit(..., weights = w, robust = TRUE)``); ``se`` includes it. With a correctly
specified propensity model the correction usually makes the interval narrower (estimating
the weights uses information about the covariates), so the fixed-weights standard error is
conservative.

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5, 1, 3, 4, 6], "e": [1, 2, 1, 0, 1, 2, 1, 1, 0, 1],
...                   "arm": ["pilot"] * 6 + ["comparison"] * 4,
...                   "w": [1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 2.0, 1.0]})
>>> aj = WeightedAalenJohansen(horizons_days=[2, 4]).fit(d, "t", "e", "arm", weights="w")
>>> aj.risks_.loc[aj.risks_["cause"] == 1, ["group", "time", "cif"]].round(4)
        group  time     cif
0       pilot   2.0  0.3077
1       pilot   4.0  0.4359
4  comparison   2.0  0.2000
5  comparison   4.0  0.4000
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohort.exceptions import DefinitionError
from cohort.stats.base import Estimator, _check_columns, _numeric
from cohort.stats.intervals import _check_conf_type, confint
from cohort.stats.kaplan_meier import DAYS_PER_MONTH, SUMMARY_MONTHS

__all__ = ["WeightedAalenJohansen"]

DEFAULT_HORIZONS_DAYS = tuple(m * DAYS_PER_MONTH for m in SUMMARY_MONTHS)


# ----------------------------------------------------------------------------- core


class _Curve:
    """One group's weighted product-limit quantities at its distinct times."""

    def __init__(self, time, status, weight, causes):
        order = np.argsort(time, kind="stable")
        self.order = order
        t, s, w = time[order], status[order], weight[order]
        ut, first, counts = np.unique(t, return_index=True, return_counts=True)
        k = np.repeat(np.arange(len(ut)), counts)
        self.ut, self.k = ut, k  # distinct times; distinct-time index of each sorted row
        tot = np.bincount(k, weights=w, minlength=len(ut))
        self.Y = np.cumsum(tot[::-1])[::-1]
        self.n_risk = (len(t) - first).astype(np.int64)
        self.dN = {c: np.bincount(k, weights=w * (s == c), minlength=len(ut)) for c in causes}
        self.n_event = {c: np.bincount(k, weights=(s == c), minlength=len(ut)).astype(np.int64) for c in causes}
        self.n_censor = np.bincount(k, weights=(s == 0), minlength=len(ut)).astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.h = {c: np.where(self.Y > 0, self.dN[c] / self.Y, 0.0) for c in causes}
        h_all = np.sum([self.h[c] for c in causes], axis=0)
        self.h_all = np.minimum(h_all, 1.0)
        self.S = np.cumprod(1.0 - self.h_all)
        self.S_prev = np.r_[1.0, self.S[:-1]]
        self.F = {c: np.cumsum(self.S_prev * self.h[c]) for c in causes}
        with np.errstate(divide="ignore", invalid="ignore"):
            # 1 / (Y (1 - h)) where the survival goes on (h < 1); where h = 1 the terms it
            # multiplies vanish (nothing changes after the survival reaches 0)
            self.inv = np.where(self.h_all < 1, 1.0 / (self.Y * (1.0 - self.h_all)), 0.0)
            self.sy = {c: np.where(self.Y > 0, self.S_prev / self.Y, 0.0) for c in causes}
        self.C1 = np.cumsum(self.h_all * self.inv)
        self.C2 = {c: np.cumsum(self.h_all * self.F[c] * self.inv) for c in causes}
        self.A = {c: np.cumsum(self.h[c] * self.sy[c]) for c in causes}
        self.status, self.weight = s, w

    def position(self, times):
        """Index of the last distinct time <= each time (-1: before the first)."""
        return np.searchsorted(self.ut, np.asarray(times, dtype=float), side="right") - 1

    def cif_at(self, cause, times):
        pos = self.position(times)
        return np.where(pos >= 0, self.F[cause][np.maximum(pos, 0)], 0.0)

    def survival_at(self, times):
        pos = self.position(times)
        return np.where(pos >= 0, self.S[np.maximum(pos, 0)], 1.0)

    @staticmethod
    def _at(values, pos):
        return np.where(pos >= 0, values[np.maximum(pos, 0)], 0.0)

    def cif_derivative(self, cause, times) -> np.ndarray:
        """d F_cause(t) / d w_j for the group's rows (sorted order), one column per time."""
        K = self.position(times)
        j = self.k
        out = np.empty((len(j), len(K)))
        s = self.status
        for col, (kk, Ft) in enumerate(zip(K, self.cif_at(cause, times), strict=True)):  # horizons, not rows
            m = np.minimum(j, kk)
            upto = j <= kk
            own = upto & (s == cause)
            ev = upto & (s > 0)
            out[:, col] = (
                np.where(own, self.sy[cause][j], 0.0)
                - self._at(self.A[cause], m)
                - np.where(ev, (Ft - self.F[cause][j]) * self.inv[j], 0.0)
                + Ft * self._at(self.C1, m)
                - self._at(self.C2[cause], m)
            )
        return out

    def survival_derivative(self, times) -> np.ndarray:
        """d S(t) / d w_j for the group's rows (sorted order), one column per time."""
        K = self.position(times)
        j = self.k
        out = np.empty((len(j), len(K)))
        ev = self.status > 0
        for col, (kk, St) in enumerate(zip(K, self.survival_at(times), strict=True)):
            m = np.minimum(j, kk)
            a = np.where(ev & (j <= kk), self.inv[j], 0.0) - self._at(self.C1, m)
            out[:, col] = -St * a
        return out


def _weights_from(df, weights, propensity) -> np.ndarray:
    if weights is None:
        if propensity is not None:
            return propensity.weights_.to_numpy(dtype=float)
        return np.ones(len(df))
    if isinstance(weights, str):
        _check_columns(df, [weights])
        w = _numeric(df, weights)
    else:
        w = np.asarray(weights, dtype=float)
    if w.shape != (len(df),):
        raise DefinitionError(f"weights must have one value per row ({len(df)}), got {w.shape}")
    if not np.isfinite(w).all() or (w <= 0).any():
        raise DefinitionError("weights must be positive and finite")
    return w


def _contrast(labels, contrast):
    if contrast is not None:
        contrast = tuple(contrast)
        if len(contrast) != 2 or any(c not in labels for c in contrast):
            raise DefinitionError(f"contrast must name two groups of {labels}, got {contrast!r}")
        return contrast
    found = set(labels)
    if found == {"pilot", "comparison"}:
        return ("pilot", "comparison")
    if found <= {0, 1} and len(found) == 2:  # True == 1 and False == 0 in a set
        return (1, 0)
    raise DefinitionError(
        f"the groups {labels} are not pilot/comparison or 1/0: give contrast=(treated, control)"
    )


class _WeightedCurves(Estimator):
    """Shared fitting of the weighted curve estimators (one per group, and their contrast)."""

    _fitted_attribute = "risks_"

    def __init__(self, horizons_days=None, alpha: float = 0.05, conf_type: str = "log"):
        super().__init__(alpha)
        hz = DEFAULT_HORIZONS_DAYS if horizons_days is None else tuple(horizons_days)
        if not hz or any(not np.isfinite(h) or h < 0 for h in hz):
            raise DefinitionError(f"horizons_days must be times of 0 or more, got {horizons_days!r}")
        self.horizons_days = tuple(float(h) for h in sorted(hz))
        self.conf_type = _check_conf_type(conf_type)

    def _prepare(self, df, duration_col, event_col, group_col, weights, propensity, cluster_col, contrast):
        _check_columns(df, [duration_col, event_col, group_col, cluster_col])
        time = _numeric(df, duration_col)
        if (time < 0).any():
            raise DefinitionError(f"{duration_col!r} must not be negative")
        status = _numeric(df, event_col)
        if (status < 0).any() or (status != np.round(status)).any():
            raise DefinitionError(f"{event_col!r} must hold 0 (censored) or a cause number 1, 2, ...")
        status = status.astype(np.int64)
        w = _weights_from(df, weights, propensity)
        if propensity is not None and propensity.n_ != len(df):
            raise DefinitionError(
                f"the propensity model was fitted on {propensity.n_} rows, the table has {len(df)}: "
                "fit it on the same rows, in the same order"
            )
        g = df[group_col]
        if g.isna().any():
            raise DefinitionError(f"group column {group_col!r} has missing values")
        codes, labels = pd.factorize(g, sort=True)
        labels = list(labels)
        if len(labels) != 2:
            raise DefinitionError(f"{group_col!r} must hold two arms, found {labels}")
        self.contrast_ = _contrast(labels, contrast)
        ordered = [labels.index(c) for c in self.contrast_]
        clusters = None
        if cluster_col is not None:
            clusters = pd.factorize(df[cluster_col], sort=True)[0]
            if (clusters < 0).any():
                raise DefinitionError(f"cluster column {cluster_col!r} has missing values")
        self.group_col, self.duration_col, self.event_col = group_col, duration_col, event_col
        self.cluster_col = cluster_col
        self.n_ = len(df)
        self.estimated_weights_ = propensity is not None
        return time, status, w, codes, ordered, clusters

    def _variance(self, der, w, propensity, clusters):
        """Standard errors from derivatives (n x k): with and without the weight term."""
        phi_fixed = w[:, None] * der
        phi = phi_fixed + propensity.correction(der) if propensity is not None else phi_fixed
        if clusters is not None:
            n_c = int(clusters.max()) + 1
            phi_fixed = np.vstack([np.bincount(clusters, phi_fixed[:, i], minlength=n_c) for i in range(phi.shape[1])]).T
            phi = np.vstack([np.bincount(clusters, phi[:, i], minlength=n_c) for i in range(phi.shape[1])]).T
        return np.sqrt((phi**2).sum(axis=0)), np.sqrt((phi_fixed**2).sum(axis=0)), phi

    def _difference_frame(self, est, se, se_fixed, keys):
        z = stats.norm.ppf(1 - self.alpha / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = est / se
        frame = pd.DataFrame(keys)
        frame["difference"] = est
        frame["se"] = se
        frame["se_fixed_weights"] = se_fixed
        frame["ci_lower"] = est - z * se
        frame["ci_upper"] = est + z * se
        frame["p"] = 2 * stats.norm.sf(np.abs(stat))
        return frame

    @property
    def summary(self) -> pd.DataFrame:
        """The differences between the arms at the horizons (:attr:`differences_`)."""
        self._require_fitted()
        return self.differences_

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            contrast=[str(c) for c in self.contrast_],
            horizons_days=list(self.horizons_days),
            conf_type=self.conf_type,
            variance="influence function with the estimated weights"
            if self.estimated_weights_
            else "influence function with the weights held fixed",
            cluster=self.cluster_col,
        )
        return out


class WeightedAalenJohansen(_WeightedCurves):
    """Weighted Aalen–Johansen cumulative incidence per arm and the difference between arms.

    Parameters
    ----------
    horizons_days : sequence of float, optional
        Times of :attr:`risks_` and :attr:`differences_` (default 6, 12 and 24 months).
    alpha : float
    conf_type : {"log", "log-log", "plain"}
        Transform of the pointwise intervals of each arm's incidence (R's default "log");
        differences get plain Wald intervals.

    Attributes
    ----------
    table_ : DataFrame
        Per arm and distinct time: ``group, time, n_risk, n_event_<k>, n_censor,
        weighted_n_risk, weighted_n_event_<k>, cif_<k>, survival``. ``n_*`` are households,
        unweighted; disclosure control uses them.
    risks_ : DataFrame
        Per arm, horizon and cause: ``group, time, cause, cif, se, se_fixed_weights,
        ci_lower, ci_upper, n_risk``.
    differences_ : DataFrame
        Per horizon and cause: ``time, cause, difference`` (first minus second arm of
        ``contrast_``), ``se, se_fixed_weights, ci_lower, ci_upper, p``.
    influence_ : ndarray (n or clusters, k)
        The influence functions of the differences, for joint inference.
    """

    def fit(self, df, duration_col, event_col, group_col, weights=None, propensity=None,
            cluster_col=None, contrast=None, causes=None):
        """Fit the curves.

        Parameters
        ----------
        df : DataFrame
            One row per household: time since time zero, status (0 censored, 1, 2, ...
            causes), arm.
        duration_col, event_col, group_col : str
        weights : str or array, optional
            A column of ``df`` or one weight per row (default: the propensity model's, else 1).
        propensity : PropensityScore, optional
            The fitted model behind the weights, on the same rows in the same order: the
            standard errors then account for estimating the weights.
        cluster_col : str, optional
            Sum influence functions within clusters (households with several rows).
        contrast : (treated, control), optional
            The arms to compare (default ``("pilot", "comparison")`` or ``(1, 0)``).
        causes : sequence of int, optional
            Causes reported (default: every cause present).

        Returns
        -------
        self
        """
        time, status, w, codes, ordered, clusters = self._prepare(
            df, duration_col, event_col, group_col, weights, propensity, cluster_col, contrast
        )
        present = sorted(int(c) for c in np.unique(status) if c > 0)
        if not present:
            raise DefinitionError(f"no events in {event_col!r}")
        causes = present if causes is None else sorted(int(c) for c in causes)
        self.causes_ = causes
        horizons = np.asarray(self.horizons_days)
        n, H = len(df), len(horizons)
        tables, risk_rows = [], []
        der = {g: np.zeros((n, H * len(causes))) for g in ordered}
        for g in ordered:
            rows = np.flatnonzero(codes == g)
            cur = _Curve(time[rows], status[rows], w[rows], present)
            label = self.contrast_[ordered.index(g)]
            frame = {"group": label, "time": cur.ut, "n_risk": cur.n_risk}
            for c in present:
                frame[f"n_event_{c}"] = cur.n_event[c]
            frame["n_censor"] = cur.n_censor
            frame["weighted_n_risk"] = cur.Y
            for c in present:
                frame[f"weighted_n_event_{c}"] = cur.dN[c]
            for c in present:
                frame[f"cif_{c}"] = cur.F[c]
            frame["survival"] = cur.S
            tables.append(pd.DataFrame(frame))
            sorted_rows = rows[cur.order]
            for ci, c in enumerate(causes):
                der[g][sorted_rows, ci * H:(ci + 1) * H] = cur.cif_derivative(c, horizons)
            at_risk = np.r_[cur.n_risk, 0][np.searchsorted(cur.ut, horizons, side="left")]
            for c in causes:
                risk_rows.append(pd.DataFrame({
                    "group": label, "time": horizons, "cause": c, "cif": cur.cif_at(c, horizons),
                    "n_risk": at_risk,
                }))
        self.table_ = pd.concat(tables, ignore_index=True)
        risks = pd.concat(risk_rows, ignore_index=True)
        both = np.hstack([der[g] for g in ordered])
        se, se_fixed, _ = self._variance(both, w, propensity, clusters)
        risks["se"], risks["se_fixed_weights"] = se, se_fixed
        lo, up = confint(risks["cif"].to_numpy(), se, self.conf_type, self.alpha, logse=False)
        risks["ci_lower"], risks["ci_upper"] = lo, up
        self.risks_ = risks[["group", "time", "cause", "cif", "se", "se_fixed_weights", "ci_lower", "ci_upper", "n_risk"]]
        diff_der = der[ordered[0]] - der[ordered[1]]
        se_d, se_d_fixed, phi = self._variance(diff_der, w, propensity, clusters)
        est = (risks["cif"].to_numpy()[: H * len(causes)] - risks["cif"].to_numpy()[H * len(causes):])
        keys = {"time": np.tile(horizons, len(causes)), "cause": np.repeat(causes, H)}
        self.differences_ = self._difference_frame(est, se_d, se_d_fixed, keys)
        self.influence_ = phi
        return self
