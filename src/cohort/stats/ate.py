"""Average treatment effects on the risk of an event by a horizon, as R's ``riskRegression::ate``.

The standardised risks of an event (a cause, under competing risks) by time ``tau`` if the
whole trial population had been served the new way (``A = 1``) or regular care (``A = 0``),
their difference and ratio, with the two estimators of ``riskRegression::ate``
(Ozenne, Scheike, Staerk and Gerds 2020):

* ``"IPTW"`` (ate's ``IPTW,IPCW``): inverse probability of treatment *and* of censoring
  weighting, the Horvitz–Thompson mean
  ``r_a(tau) = 1/n sum_i 1{A_i = a} / pi_a(X_i) * 1{T_i <= tau, cause_i = k} / G(T_i- | A_i)``
  with the logistic propensity ``pi_a`` and the censoring survival ``G`` (not normalised,
  not stabilised, as ate);
* ``"AIPTW"`` (ate's ``AIPTW,AIPCW``): the augmented, doubly robust estimator that adds
  the cause-specific Cox outcome models' predictions and the censoring martingale term.

Choices matched to ate (``riskRegression`` 2022.11.28): the censoring model is a Cox model
without covariates, stratified by arm (``coxph(Surv(time, status == 0) ~ strata(arm),
ties = "breslow")``) or pooled; ``G(t-)`` is its survival just before ``t`` (ate evaluates
at ``min(T, tau) - 1e-12``); for IPTW ``G = exp(-Lambda)`` (ate's ``product.limit = FALSE``
for an event given by its columns), for AIPTW the product limit (ate's default with a
``CSC`` outcome model). The outcome models are cause-specific Cox models (Breslow ties) of
every cause on the arm and the covariates; absolute risks by the product-limit of the
all-cause hazard, as ``predictRisk.CauseSpecificCox``.

With tied censoring times ``ate`` of riskRegression 2022.11.28 takes the sorted censoring
times with their ties repeated as the jumps of the augmentation integral, so a day with
``k`` censorings adds its censoring hazard ``k`` times; here the integral runs over the
distinct censoring times (the tests compare with ``ate`` on untied data and with the same
estimator assembled in R from riskRegression's predictions on tied data).

Standard errors are influence-function based. For IPTW they account for estimating the
propensity model and the censoring distribution (ate's default ``known.nuisance = FALSE``).
For AIPTW they treat the nuisance models as known (ate's ``known.nuisance = TRUE``): the
efficient influence function, valid when both working models are correct (double
robustness makes the nuisance terms vanish to first order then); ate's default would add
their second-order corrections. The report states which.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(4)
>>> x = rng.normal(size=400); a = (rng.random(400) < 1 / (1 + np.exp(-x))).astype(int)
>>> t = np.ceil(rng.exponential(10 * np.exp(-0.5 * a), 400)); c = np.ceil(rng.exponential(20, 400))
>>> d = pd.DataFrame({"a": a, "x": x, "time": np.minimum(t, c), "status": (t <= c).astype(int)})
>>> e = AverageTreatmentEffect("IPTW", times=[5, 10]).fit(d, "time", "status", "a", ["x"])
>>> e.differences_[["time", "difference"]].round(4)
   time  difference
0   5.0      0.0711
1  10.0      0.0123
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohort.exceptions import DefinitionError
from cohort.stats.base import Estimator, _check_columns, _numeric
from cohort.stats.design import design_matrix
from cohort.stats.propensity import PropensityScore

__all__ = ["ESTIMATORS", "AverageTreatmentEffect"]

ESTIMATORS = ("IPTW", "AIPTW")
CENSORING = ("arm", "pooled")

_TOL = 1e-12  # ate evaluates the censoring survival at min(T, tau) - 1e-12


class _Censoring:
    """Cox model for censoring without covariates, one stratum per arm (or pooled):
    Breslow (Nelson–Aalen) increments at the censoring times of each stratum."""

    def __init__(self, time, censored, strata):
        self.strata = strata
        self.levels = np.unique(strata)
        self.jumps, self.dL, self.Y = {}, {}, {}
        for s in self.levels:
            sel = strata == s
            t, c = time[sel], censored[sel]
            jt = np.unique(t[c])
            ts = np.sort(t)
            self.Y[s] = (len(ts) - np.searchsorted(ts, jt, side="left")).astype(float)
            self.jumps[s] = jt
            self.dL[s] = np.bincount(np.searchsorted(jt, t[c]), minlength=len(jt)) / self.Y[s]

    def before(self, s, t):
        """Cumulative hazard strictly before ``t`` (jumps < t), and the number of jumps."""
        k = np.searchsorted(self.jumps[s], t, side="left")
        return np.r_[0.0, np.cumsum(self.dL[s])][k], k


class AverageTreatmentEffect(Estimator):
    """Standardised risks per arm and their contrasts, as ``riskRegression::ate``.

    Parameters
    ----------
    estimator : {"IPTW", "AIPTW"}
    times : sequence of float
        The horizons ``tau`` (in the unit of the durations).
    cause : int
        The event of interest (status code; other positive codes compete).
    censoring : {"arm", "pooled"}
        Censoring model: stratified by arm (default) or one for all.
    alpha : float

    Attributes
    ----------
    risks_ : DataFrame
        ``arm, time, risk, se, ci_lower, ci_upper`` (arm 0 = comparison, 1 = pilot).
    differences_ : DataFrame
        ``time, difference`` (risk under the new way minus under regular care) ``se,
        ci_lower, ci_upper, p``.
    ratios_ : DataFrame
        ``time, ratio, se, ci_lower, ci_upper`` (delta-method se; Wald interval on the
        ratio scale, as ate).
    influence_ : dict of ndarray
        Influence functions (n x times) of the risks per arm and of the difference.
    durations_, status_, treatment_ : ndarray
        The fitted rows' times, status and arm (1 = pilot): the households behind each
        risk, for disclosure control.
    """

    _fitted_attribute = "risks_"

    def __init__(self, estimator: str = "IPTW", times=(182.625, 365.25, 730.5), cause: int = 1,
                 censoring: str = "arm", alpha: float = 0.05):
        super().__init__(alpha)
        if estimator not in ESTIMATORS:
            raise DefinitionError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if censoring not in CENSORING:
            raise DefinitionError(f"censoring must be one of {CENSORING}, got {censoring!r}")
        times = tuple(float(t) for t in times)
        if not times or any(not np.isfinite(t) or t <= 0 for t in times):
            raise DefinitionError(f"times must be positive, got {times!r}")
        self.estimator, self.times, self.cause, self.censoring = estimator, times, int(cause), censoring

    def fit(self, df: pd.DataFrame, duration_col: str, event_col: str, treatment_col: str, covariates):
        """Fit the propensity, censoring (and for AIPTW outcome) models and the risks.

        Parameters
        ----------
        df : DataFrame
            One row per household.
        duration_col, event_col : str
            Time since time zero and status (0 censored, 1, 2, ... causes).
        treatment_col : str
            1 = pilot (new way), 0 = comparison.
        covariates : list of str
            Of the propensity model (and the outcome models).

        Returns
        -------
        self
        """
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        _check_columns(df, [duration_col, event_col, treatment_col, *covariates])
        time = _numeric(df, duration_col)
        status = _numeric(df, event_col)
        if (status < 0).any() or (status != np.round(status)).any():
            raise DefinitionError(f"{event_col!r} must hold 0 (censored) or a cause number")
        status = status.astype(np.int64)
        if not (status == self.cause).any():
            raise DefinitionError(f"no events of cause {self.cause} in {event_col!r}")
        ps = PropensityScore(stabilised=False).fit(df, treatment_col, covariates)
        a, p = ps.treatment_.astype(np.int64), ps.propensity_
        n = len(df)
        tau = np.asarray(self.times)
        strata = a if self.censoring == "arm" else np.zeros(n, dtype=np.int64)
        cens = _Censoring(time, status == 0, strata)
        self.propensity_model_ = ps
        self.n_, self.n_events_ = n, int((status == self.cause).sum())
        # what each household contributed, for the households behind each released risk
        self.durations_, self.status_, self.treatment_ = time, status, a
        if self.estimator == "IPTW":
            risk, infl = self._iptw(time, status, a, p, ps, cens, strata, tau)
        else:
            risk, infl = self._aiptw(df, time, status, a, p, cens, strata, tau, covariates)
        z = stats.norm.ppf(1 - self.alpha / 2)
        rows = []
        for arm in (0, 1):
            se = np.sqrt((infl[arm] ** 2).sum(axis=0))
            rows.append(pd.DataFrame({"arm": arm, "time": tau, "risk": risk[arm], "se": se,
                                      "ci_lower": risk[arm] - z * se, "ci_upper": risk[arm] + z * se}))
        self.risks_ = pd.concat(rows, ignore_index=True)
        d_inf = infl[1] - infl[0]
        diff = risk[1] - risk[0]
        se = np.sqrt((d_inf ** 2).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            zstat = diff / se
        self.differences_ = pd.DataFrame({
            "time": tau, "difference": diff, "se": se, "ci_lower": diff - z * se,
            "ci_upper": diff + z * se, "p": 2 * stats.norm.sf(np.abs(zstat)),
        })
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = risk[1] / risk[0]
            r_inf = infl[1] / risk[0] - risk[1] * infl[0] / risk[0] ** 2
        r_se = np.sqrt((r_inf ** 2).sum(axis=0))
        self.ratios_ = pd.DataFrame({"time": tau, "ratio": ratio, "se": r_se,
                                     "ci_lower": ratio - z * r_se, "ci_upper": ratio + z * r_se})
        self.influence_ = {0: infl[0], 1: infl[1], "difference": d_inf}
        return self

    # -- IPTW, IPCW ---------------------------------------------------------------
    def _iptw(self, time, status, a, p, ps, cens, strata, tau):
        n = len(time)
        X, V = ps._X, ps.variance_matrix_.to_numpy()
        phi_gamma = (X * (a - p)[:, None]) @ V  # influence of the logistic coefficients
        risk, infl = {}, {}
        G_before = np.empty(n)
        for s in cens.levels:
            sel = strata == s
            L, _ = cens.before(s, time[sel])
            G_before[sel] = np.exp(-L)  # G(T-) = exp(-Lambda(T-)), product.limit = FALSE
        for arm in (0, 1):
            pi = np.where(arm == 1, p, 1.0 - p)
            dpi = (p * (1.0 - p) * (1 if arm == 1 else -1))[:, None] * X  # d pi_a / d gamma
            is_a = (a == arm).astype(float)
            out_r, out_i = np.empty(len(tau)), np.empty((n, len(tau)))
            for k, t in enumerate(tau):  # horizons, not rows
                y = ((time <= t) & (status == self.cause)).astype(float)
                z = is_a * y / (pi * G_before)  # the Horvitz-Thompson terms
                theta = z.mean()
                term_ht = (z - theta) / n
                # the propensity model
                grad = -(is_a * y / (pi**2 * G_before)) @ dpi / n
                term_ps = phi_gamma @ grad
                # the censoring model: sum_i c_i IF_j(Lambda(T_i-)), c_i = z_i / n
                c = z / n
                term_c = np.zeros(n)
                for s in cens.levels:
                    if not len(cens.jumps[s]):  # no censoring in the stratum: G = 1, known
                        continue
                    sel = np.flatnonzero(strata == s)
                    ti, ci = time[sel], c[sel]
                    order = np.argsort(ti, kind="stable")
                    ts, cs = ti[order], ci[order]
                    # C_>(u): sum of c_i over T_i > u, at each censoring jump and each T_j
                    suffix = np.r_[np.cumsum(cs[::-1])[::-1], 0.0]
                    jumps = cens.jumps[s]
                    above_jump = suffix[np.searchsorted(ts, jumps, side="right")]
                    above_own = suffix[np.searchsorted(ts, ti, side="right")]
                    integrand = np.cumsum(cens.dL[s] / cens.Y[s] * above_jump)
                    kj = np.searchsorted(jumps, ti, side="right")  # jumps <= T_j
                    part2 = np.r_[0.0, integrand][kj]
                    kown = np.searchsorted(jumps, ti, side="left")
                    Yown = np.where(kown < len(jumps), cens.Y[s][np.minimum(kown, len(jumps) - 1)], np.inf)
                    censored = status[sel] == 0
                    part1 = np.where(censored, above_own / Yown, 0.0)
                    term_c[sel] = part1 - part2
                out_r[k] = theta
                out_i[:, k] = term_ht + term_ps + term_c
            risk[arm], infl[arm] = out_r, out_i
        return risk, infl

    # -- AIPTW, AIPCW ---------------------------------------------------------------
    def _aiptw(self, df, time, status, a, p, cens, strata, tau, covariates):
        from cohort.stats.weighted_cox import WeightedCoxPH

        n = len(time)
        causes = sorted(int(c) for c in np.unique(status) if c > 0)
        frame = df[covariates].copy()
        frame["_a"] = a
        frame["_time"], frame["_status"] = time, status
        models = {}
        for c in causes:
            frame["_e"] = (status == c).astype(int)
            models[c] = WeightedCoxPH(ties="breslow", variance="model").fit(
                frame, "_time", "_e", ["_a", *covariates]
            )
        # the event times of every cause, where the absolute-risk step function jumps
        grid = np.unique(np.concatenate([m.baseline_hazard_["time"].to_numpy() for m in models.values()]))
        base = {c: np.zeros(len(grid)) for c in causes}
        for c, m in models.items():
            bh = m.baseline_hazard_
            base[c][np.searchsorted(grid, bh["time"].to_numpy())] = bh["hazard"].to_numpy()

        X_obs = design_matrix(frame, ["_a", *covariates]).to_numpy(dtype=float)
        arm_col = 0  # "_a" is the first design column

        def absolute_risk(X, at):
            """F_cause(t | x) and S(t- | x) at the times ``at`` for the rows of ``X``."""
            m = len(X)
            dl = {c: np.exp(X @ models[c].params_.to_numpy())[:, None] * base[c][None, :] for c in causes}
            total = np.sum([dl[c] for c in causes], axis=0)
            S = np.cumprod(1.0 - total, axis=1)
            S_prev = np.c_[np.ones(m), S[:, :-1]]
            F = np.cumsum(S_prev * dl[self.cause], axis=1)
            F_at = np.c_[np.zeros(m), F][:, np.searchsorted(grid, at, side="right")]
            S_before = np.c_[np.ones(m), S][:, np.searchsorted(grid, at, side="left")]
            return F_at, S_before

        # censoring: product-limit survival of each stratum just before every censoring
        # jump, and its hazard increments there
        all_jumps = np.unique(np.concatenate([cens.jumps[s] for s in cens.levels]))
        n_before = np.searchsorted(all_jumps, tau, side="right")
        G_prev, dL = {}, {}
        G_before = np.empty(n)
        for s in cens.levels:
            sel = strata == s
            dl = np.zeros(len(all_jumps))
            dl[np.searchsorted(all_jumps, cens.jumps[s])] = cens.dL[s]
            surv = np.cumprod(1.0 - dl)
            G_prev[s], dL[s] = np.r_[1.0, surv[:-1]], dl
            G_before[sel] = np.r_[1.0, surv][np.searchsorted(all_jumps, time[sel], side="left")]
        G_mat = np.vstack([G_prev[s] for s in cens.levels])  # strata x jumps
        dL_mat = np.vstack([dL[s] for s in cens.levels])
        y = (time[:, None] <= tau[None, :]) & (status == self.cause)[:, None]
        ipcw = np.where(y, 1.0 / G_before[:, None], 0.0)
        terms = {0: np.empty((n, len(tau))), 1: np.empty((n, len(tau)))}
        # rows in chunks, so that the rows x times matrices stay small whatever n is
        width = max(len(grid), len(all_jumps), 1)
        step = max(1, 4_000_000 // width)
        for lo in range(0, n, step):  # chunks of rows, not single households
            sl = slice(lo, min(n, lo + step))
            Xc, tc, sc = X_obs[sl], time[sl], status[sl]
            codes = np.searchsorted(cens.levels, strata[sl])
            Gc, dLc = G_mat[codes], dL_mat[codes]
            # the augmentation (ate's augTerm) with the outcome model at the observed arm
            F_tau_obs, _ = absolute_risk(Xc, tau)
            F_jump, S_jump = absolute_risk(Xc, all_jumps)
            dN_c = (tc[:, None] == all_jumps[None, :]) & (sc == 0)[:, None]
            at_risk = all_jumps[None, :] <= tc[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                integrand = np.where(at_risk, (dN_c - dLc) / (Gc * S_jump), 0.0)
            int1 = np.cumsum(integrand, axis=1)
            int2 = np.cumsum(F_jump * integrand, axis=1)
            aug = np.zeros((len(tc), len(tau)))
            for k, m in enumerate(n_before):  # horizons
                if m:
                    aug[:, k] = F_tau_obs[:, k] * int1[:, m - 1] - int2[:, m - 1]
            for arm in (0, 1):
                Xa = Xc.copy()
                Xa[:, arm_col] = arm
                F_ctf, _ = absolute_risk(Xa, tau)
                pi = p[sl] if arm == 1 else 1.0 - p[sl]
                w = (a[sl] == arm) / pi
                terms[arm][sl] = F_ctf + w[:, None] * (y[sl] * ipcw[sl] - F_ctf + aug)
        risk, infl = {}, {}
        for arm in (0, 1):
            risk[arm] = terms[arm].mean(axis=0)
            infl[arm] = (terms[arm] - risk[arm]) / n
        self.outcome_models_ = models
        return risk, infl

    @property
    def summary(self) -> pd.DataFrame:
        """:attr:`differences_`."""
        self._require_fitted()
        return self.differences_

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            estimator=self.estimator, cause=self.cause, censoring_model=f"Cox, strata: {self.censoring}",
            times=list(self.times),
            nuisance="estimated (propensity and censoring models)" if self.estimator == "IPTW"
            else "treated as known",
        )
        return out
