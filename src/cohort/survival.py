"""Survival estimators that agree with R's ``survival`` and ``cmprsk`` packages.

Every estimator here is tested against reference values computed by R (``r/survival_reference.R``,
fixtures in ``tests/fixtures/survival/r/``). Where lifelines or statsmodels differ from R
(see the statistics notes: CI transforms, cluster-robust variance on (start, stop] data,
Aalen-Johansen with tied times, the proportional-hazards test), the computation is done here,
vectorised in numpy.

Public API
----------
``KaplanMeier(conf_type="log", alpha=0.05).fit(df, duration_col, event_col, group_col=None, entry_col=None)``
    Kaplan-Meier per group (R ``survfit``): ``table_`` (time, n_risk, n_event, n_censor,
    survival, std_err, ci_lower, ci_upper), ``median_``, ``survival_at(times)``, ``summary``
    (n, events, median, survival at 6, 12 and 24 months).
``logrank_test(df, duration_col, event_col, group_col, strata_col=None)``
    Log-rank test (R ``survdiff``, rho = 0): a :class:`LogRankResult`.
``AalenJohansen(alpha=0.05, conf_type="log").fit(df, duration_col, event_col, group_col=None)``
    Cumulative incidence under competing risks (R ``survfit`` with a factor status); ``event_col``
    holds 0 = censored, 1, 2, ... = causes. Standard errors are R's infinitesimal-jackknife
    ones; confidence limits use R's default ``conf.type="log"`` on the incidence.
``CoxPH(ties="efron", alpha=0.05).fit(df, duration_col, event_col, covariates, entry_col=None, strata=None, cluster_col=None, robust=None)``
    Cox model (R ``coxph``), Efron or Breslow ties, strata, (start, stop] rows, cluster-robust
    (dfbeta sandwich) variance. ``summary``, ``params_``, ``variance_matrix_``,
    ``score_residuals()``, ``release_table()``.
    Andersen-Gill recurrent events: ``CoxPH().fit(rows, "stop", "event", covariates,
    entry_col="start", cluster_col="cluster")`` on the counting-process rows of
    :func:`cohort.followup.recurrent_reregistration_table` (robust variance by household).
``cox_zph(cox, transform="km")``
    Proportional-hazards score test exactly as R's ``cox.zph`` (survival >= 3.0): per term and
    GLOBAL.
``FineGray(alpha=0.05).fit(df, duration_col, event_col, covariates, cause=1)``
    Fine-Gray subdistribution hazards (``cmprsk::crr``), with ``crr``'s sandwich variance.
``mean_cumulative_function(df, start_col, stop_col, event_col, id_col, group_col=None)``
    Nelson-Aalen mean cumulative function of recurrent events (R ``survfit(Surv(start, stop,
    event) ~ 1, id=id)`` cumulative hazard, robust standard error by id).
``design_matrix(df, columns)``
    Covariate matrix with R-style treatment coding of text/categorical columns.
``release_km_table(km, policy)``, ``release_km_summary(km, policy)``, ``release_cif_table(aj, policy, cause=1)``, ``release_mcf_table(mcf, policy)``, ``release_cox_table(cox, policy)``
    Tables for release under disclosure control (a :class:`cohort.disclosure.DisclosurePolicy`):
    KM/CIF steps only while at least ``threshold`` households are at risk, pooled so each
    step rests on at least ``threshold`` events, counts rounded as configured; write them
    with :func:`cohort.disclosure.write_released_csv` (e.g. ``reregistration_km.csv``,
    ``reregistration_cox.csv``).

Time is whatever unit the durations are in; the workbench uses days and converts months as
:data:`DAYS_PER_MONTH` = 30.4375 days (365.25 / 12), so 6, 12 and 24 months are 182.625,
365.25 and 730.5 days.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5], "e": [1, 1, 0, 1, 0, 1]})
>>> km = KaplanMeier().fit(df, "t", "e")
>>> km.table_[["time", "n_risk", "n_event", "survival"]].round(4)
   time  n_risk  n_event  survival
0   1.0       6        1    0.8333
1   2.0       5        1    0.6667
2   3.0       3        1    0.4444
3   4.0       2        0    0.4444
4   5.0       1        1    0.0000
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, sparse, stats

from cohort.exceptions import DefinitionError

#: Days in a month (365.25 / 12); survival "at 6 months" is survival at 6 * 30.4375 days.
DAYS_PER_MONTH = 30.4375

#: Horizons (months) reported by :attr:`KaplanMeier.summary`.
SUMMARY_MONTHS = (6, 12, 24)

CONF_TYPES = ("log", "log-log", "plain")


# ----------------------------------------------------------------------------- helpers


def _check_columns(df: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise DefinitionError(
            f"column(s) {missing} not found in the analysis table; available columns: "
            f"{list(df.columns)}"
        )


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    s = df[col]
    if s.isna().any():
        raise DefinitionError(
            f"column {col!r} has {int(s.isna().sum())} missing value(s); drop or impute those "
            "rows before fitting"
        )
    try:
        return s.to_numpy(dtype="float64")
    except (TypeError, ValueError) as err:
        raise DefinitionError(f"column {col!r} must be numeric, got dtype {s.dtype}") from err


def _events(df: pd.DataFrame, col: str) -> np.ndarray:
    e = _numeric(df, col)
    if not np.isin(e, (0.0, 1.0)).all():
        raise DefinitionError(f"event column {col!r} must hold 0 (censored) or 1 (event)")
    return e.astype(bool)


def _check_alpha(alpha) -> float:
    if not 0 < alpha < 1:
        raise DefinitionError(f"alpha must lie in (0, 1), got {alpha!r}")
    return float(alpha)


def _check_conf_type(conf_type) -> str:
    if conf_type not in CONF_TYPES:
        raise DefinitionError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    return conf_type


def _group_codes(df: pd.DataFrame, group_col):
    """Integer codes and sorted labels of a grouping column (one group if ``None``)."""
    if group_col is None:
        return np.zeros(len(df), dtype=np.int64), [None]
    g = df[group_col]
    if g.isna().any():
        raise DefinitionError(f"group column {group_col!r} has missing values")
    codes, labels = pd.factorize(g, sort=True)
    return codes.astype(np.int64), list(labels)


def _composite(groups: np.ndarray, ranks: np.ndarray, n_ranks: int) -> np.ndarray:
    """One sortable int64 key per (group, time rank) pair."""
    return groups.astype(np.int64) * (n_ranks + 2) + ranks.astype(np.int64)


def confint(p, se, conf_type: str, alpha: float, logse: bool = True):
    """Pointwise confidence limits exactly as R's ``survival:::survfit_confint``.

    Parameters
    ----------
    p : array
        Estimate (survival or state probability).
    se : array
        Standard error of ``log(p)`` when ``logse`` (KM), else of ``p`` (multi-state).
    conf_type : {"log", "log-log", "plain"}
    alpha : float
    logse : bool

    Returns
    -------
    (lower, upper) : tuple of arrays (NaN where R gives NA)

    Examples
    --------
    >>> lo, up = confint(np.array([0.5]), np.array([0.1]), "log", 0.05)
    >>> round(float(lo[0]), 6), round(float(up[0]), 6)
    (0.411008, 0.608261)
    """
    p = np.asarray(p, dtype=float)
    se = np.asarray(se, dtype=float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if not logse:
            se = np.where(se == 0, 0.0, se / p)
        if conf_type == "plain":
            se2 = se * p * z
            return np.maximum(p - se2, 0), np.minimum(p + se2, 1)
        if conf_type == "log":
            xx = np.where(p == 0, np.nan, p)
            se2 = z * se
            return np.exp(np.log(xx) - se2), np.minimum(np.exp(np.log(xx) + se2), 1)
        if conf_type == "log-log":
            xx = np.where((p == 0) | (p == 1), np.nan, p)
            se2 = z * se / np.log(xx)
            return (
                np.exp(-np.exp(np.log(-np.log(xx)) - se2)),
                np.exp(-np.exp(np.log(-np.log(xx)) + se2)),
            )
    raise DefinitionError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")


_TOL = float(np.sqrt(np.finfo(float).eps))


def _findq(x, y, p, tol=_TOL):
    """R's ``survival:::findq``: the p-quantile of a step function ``y`` (= 1 - S) over ``x``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return np.nan
    xmax = x[-1]
    # duplicated(y) in R treats NaN as equal to NaN
    keep = ~pd.Series(y).duplicated().to_numpy()
    x, y = x[keep], y[keep]
    n = len(y)
    ok = ~np.isnan(y)
    xs, idx = y[ok], np.arange(n)[ok]

    def approx_const_right(shift):
        v = xs + shift
        if p < v[0] or p > v[-1]:
            return None
        return idx[np.searchsorted(v, p, side="left")]

    i1, i2 = approx_const_right(tol), approx_const_right(-tol)
    if i1 is None or i2 is None:
        q = np.nan
    else:
        q = (x[i1] + x[i2]) / 2
    if p == 0:
        q = x[0]
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol and i1 is not None:
        q = (x[i1] + xmax) / 2
    return q


# ----------------------------------------------------------------------------- Kaplan-Meier


def _km_counts(time, event, groups, entry=None):
    """Per (group, unique time): n_risk, n_event, n_censor, sorted by group then time."""
    frame = pd.DataFrame({"g": groups, "t": time, "d": event.astype(np.int64)})
    agg = frame.groupby(["g", "t"], sort=True)["d"].agg(["sum", "size"]).reset_index()
    g = agg["g"].to_numpy()
    t = agg["t"].to_numpy(dtype=float)
    n_event = agg["sum"].to_numpy()
    n_total = agg["size"].to_numpy()
    # number with time >= t in the group: reverse cumulative count within group
    n_at_or_after = (
        pd.Series(n_total[::-1]).groupby(g[::-1]).cumsum().to_numpy()[::-1]
    )
    if entry is not None:
        # delayed entry: subtract those who enter at or after t (at risk on (entry, time])
        all_t = np.unique(np.concatenate([t, entry]))
        m = len(all_t)
        ekey = np.sort(_composite(groups, np.searchsorted(all_t, entry), m))
        qkey = _composite(g, np.searchsorted(all_t, t), m)
        gend = _composite(g + 1, np.zeros_like(g), m)
        n_at_or_after = n_at_or_after - (
            np.searchsorted(ekey, gend, side="left") - np.searchsorted(ekey, qkey, side="left")
        )
    return g, t, n_at_or_after.astype(np.int64), n_event.astype(np.int64), (
        n_total - n_event
    ).astype(np.int64)


class KaplanMeier:
    """Kaplan-Meier estimator with Greenwood variance, as R's ``survfit`` (stype=1, ctype=1).

    Parameters
    ----------
    conf_type : {"log", "log-log", "plain"}
        Transform for pointwise confidence intervals; "log" is R's default, "log-log" is
        lifelines' default.
    alpha : float
        1 - confidence level.

    Attributes
    ----------
    table_ : DataFrame
        One row per group and distinct time (events and censorings, as R):
        ``group, time, n_risk, n_event, n_censor, survival, std_err, ci_lower, ci_upper``;
        ``std_err`` is the standard error of the survival (R ``summary(fit)$std.err``).
    median_ : DataFrame
        ``group, median, ci_lower, ci_upper`` (R ``quantile(fit, 0.5)``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 1, 0, 1, 0],
    ...                    "g": ["a", "a", "a", "b", "b", "b"]})
    >>> km = KaplanMeier().fit(df, "t", "e", group_col="g")
    >>> km.median_["median"].tolist()
    [2.0, 5.5]
    """

    def __init__(self, conf_type: str = "log", alpha: float = 0.05):
        self.conf_type = _check_conf_type(conf_type)
        self.alpha = _check_alpha(alpha)

    def fit(self, df, duration_col, event_col, group_col=None, entry_col=None):
        _check_columns(df, [duration_col, event_col, group_col, entry_col])
        time = _numeric(df, duration_col)
        event = _events(df, event_col)
        entry = _numeric(df, entry_col) if entry_col is not None else None
        if entry is not None and np.any(entry >= time):
            raise DefinitionError(f"{entry_col!r} must be before {duration_col!r} on every row")
        groups, labels = _group_codes(df, group_col)
        self.group_col, self.duration_col, self.event_col = group_col, duration_col, event_col
        self.labels_ = labels
        self._n_rows = np.bincount(groups, minlength=len(labels))
        g, t, n_risk, n_event, n_censor = _km_counts(time, event, groups, entry)
        with np.errstate(divide="ignore", invalid="ignore"):
            hazard = n_event / n_risk
            log_terms = np.log1p(-hazard)
            gw = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
        gw = np.where((n_event > 0) & (n_risk == n_event), np.inf, gw)
        s = pd.Series(log_terms)
        cum_log = s.groupby(g).cumsum().to_numpy()
        surv = np.exp(cum_log)
        surv[np.isneginf(cum_log)] = 0.0
        var_log = pd.Series(gw).groupby(g).cumsum().to_numpy()
        se_log = np.sqrt(var_log)
        lo, up = confint(surv, se_log, self.conf_type, self.alpha, logse=True)
        with np.errstate(invalid="ignore"):
            se_surv = surv * se_log
        self._se_log = se_log
        table = pd.DataFrame(
            {
                "time": t,
                "n_risk": n_risk,
                "n_event": n_event,
                "n_censor": n_censor,
                "survival": surv,
                "std_err": se_surv,
                "ci_lower": lo,
                "ci_upper": up,
            }
        )
        if group_col is not None:
            table.insert(0, "group", pd.Series(np.asarray(labels, dtype=object)[g]))
        self.table_ = table
        self._g = g
        self.median_ = self._quantile(0.5)
        self.conf_type_ = self.conf_type
        return self

    def _curves(self):
        for k, label in enumerate(self.labels_):
            sel = self._g == k
            yield label, self.table_.loc[sel]

    def _quantile(self, p):
        rows = []
        for label, tab in self._curves():
            x = np.r_[0.0, tab["time"].to_numpy()]
            rows.append(
                {
                    "group": label,
                    "median": _findq(x, np.r_[0.0, 1 - tab["survival"].to_numpy()], p),
                    "ci_lower": _findq(x, np.r_[0.0, 1 - tab["ci_lower"].to_numpy()], p),
                    "ci_upper": _findq(x, np.r_[0.0, 1 - tab["ci_upper"].to_numpy()], p),
                }
            )
        out = pd.DataFrame(rows)
        if self.group_col is None:
            out = out.drop(columns="group")
        return out

    def quantile(self, p: float) -> pd.DataFrame:
        """Time by which a fraction ``p`` has had the event, with CI (R ``quantile.survfit``)."""
        return self._quantile(p)

    def survival_at(self, times) -> pd.DataFrame:
        """Survival at given times, as R's ``summary(fit, times=..., extend=TRUE)``.

        ``n_risk`` is the number at risk at the time; ``n_event`` the events in the interval
        since the previous requested time.
        """
        times = np.sort(np.asarray(times, dtype=float))
        out = []
        for label, tab in self._curves():
            tt = tab["time"].to_numpy()
            pos = np.searchsorted(tt, times, side="right") - 1
            surv = np.where(pos >= 0, tab["survival"].to_numpy()[np.maximum(pos, 0)], 1.0)
            se = np.where(pos >= 0, tab["std_err"].to_numpy()[np.maximum(pos, 0)], 0.0)
            lo = np.where(pos >= 0, tab["ci_lower"].to_numpy()[np.maximum(pos, 0)], 1.0)
            up = np.where(pos >= 0, tab["ci_upper"].to_numpy()[np.maximum(pos, 0)], 1.0)
            # at risk at time t: the first tabulated time >= t (0 beyond the last)
            nxt = np.searchsorted(tt, times, side="left")
            nr = np.r_[tab["n_risk"].to_numpy(), 0][nxt]
            cum_ev = np.r_[0, tab["n_event"].to_numpy().cumsum()][pos + 1]
            frame = pd.DataFrame(
                {
                    "time": times,
                    "n_risk": nr,
                    "n_event": np.diff(np.r_[0, cum_ev]),
                    "survival": surv,
                    "std_err": se,
                    "ci_lower": lo,
                    "ci_upper": up,
                }
            )
            if self.group_col is not None:
                frame.insert(0, "group", label)
            out.append(frame)
        return pd.concat(out, ignore_index=True)

    @property
    def summary(self) -> pd.DataFrame:
        """Per group: n (rows), events, median (with CI) and survival at 6, 12 and 24 months."""
        n = self._n_rows
        events = self.table_.groupby(self._g, sort=True)["n_event"].sum().to_numpy()
        out = pd.DataFrame({"n": n, "events": events})
        if self.group_col is not None:
            out.insert(0, "group", self.labels_)
        med = self.median_
        out["median"] = med["median"].to_numpy()
        out["median_ci_lower"] = med["ci_lower"].to_numpy()
        out["median_ci_upper"] = med["ci_upper"].to_numpy()
        at = self.survival_at([m * DAYS_PER_MONTH for m in SUMMARY_MONTHS])
        k = len(SUMMARY_MONTHS)
        for i, m in enumerate(SUMMARY_MONTHS):
            part = at.iloc[i::k]
            out[f"survival_{m}m"] = part["survival"].to_numpy()
            out[f"survival_{m}m_ci_lower"] = part["ci_lower"].to_numpy()
            out[f"survival_{m}m_ci_upper"] = part["ci_upper"].to_numpy()
        out.attrs["conf_type"] = self.conf_type
        return out


# ----------------------------------------------------------------------------- log-rank


@dataclass(frozen=True)
class LogRankResult:
    """Result of :func:`logrank_test`: observed, expected, chi-square, df and p-value."""

    table: pd.DataFrame
    chisq: float
    df: int
    p_value: float


def logrank_test(df, duration_col, event_col, group_col, strata_col=None) -> LogRankResult:
    """Log-rank test of equal survival between groups, as R's ``survdiff`` (rho = 0).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "e": [1, 1, 0, 1, 1, 1, 0, 1],
    ...                   "g": list("aabbabab")})
    >>> round(logrank_test(d, "t", "e", "g").chisq, 4)
    0.5819
    """
    _check_columns(df, [duration_col, event_col, group_col, strata_col])
    time = _numeric(df, duration_col)
    event = _events(df, event_col).astype(np.int64)
    groups, labels = _group_codes(df, group_col)
    strata, _ = _group_codes(df, strata_col)
    k = len(labels)
    if k < 2:
        raise DefinitionError(f"log-rank test needs at least two groups in {group_col!r}")
    frame = pd.DataFrame({"s": strata, "t": time, "g": groups, "d": event})
    # counts per (stratum, time, group)
    cnt = frame.groupby(["s", "t", "g"], sort=True)["d"].agg(["sum", "size"])
    n_tg = cnt["size"].unstack("g", fill_value=0).reindex(columns=range(k), fill_value=0)
    d_tg = cnt["sum"].unstack("g", fill_value=0).reindex(columns=range(k), fill_value=0)
    s_idx = n_tg.index.get_level_values("s").to_numpy()
    n_tg = n_tg.to_numpy(dtype=float)
    d_tg = d_tg.to_numpy(dtype=float)
    # at risk: reverse cumulative sum within stratum
    risk = pd.DataFrame(n_tg[::-1]).groupby(s_idx[::-1]).cumsum().to_numpy()[::-1]
    n_t = risk.sum(axis=1)
    d_t = d_tg.sum(axis=1)
    expected = (risk * (d_t / n_t)[:, None]).sum(axis=0)
    observed = d_tg.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t * n_t * (n_t - 1)), 0.0)
    var = np.diag((risk * (factor * n_t)[:, None]).sum(axis=0)) - (risk * factor[:, None]).T @ risk
    diff = observed - expected
    sub = slice(0, k - 1)
    vsub = var[sub, sub]
    chisq = float(diff[sub] @ np.linalg.pinv(vsub) @ diff[sub])
    dof = int(np.linalg.matrix_rank(vsub))
    table = pd.DataFrame(
        {
            "group": labels,
            "n": np.bincount(groups, minlength=k),
            "observed": observed,
            "expected": expected,
        }
    )
    return LogRankResult(table=table, chisq=chisq, df=dof, p_value=float(stats.chi2.sf(chisq, dof)))


# ----------------------------------------------------------------------------- Aalen-Johansen


class AalenJohansen:
    """Cumulative incidence of competing events (Aalen-Johansen), as R's ``survfit`` with a
    factor status (``cmprsk::cuminc`` gives the same estimates).

    Tied times are handled exactly (no jittering). Standard errors are R ``survfit``'s
    infinitesimal-jackknife (robust) standard errors, one row per subject; confidence limits
    use ``conf_type`` on the incidence (R default "log"). Right-censored data without delayed
    entry.

    Parameters
    ----------
    alpha : float
    conf_type : {"log", "log-log", "plain"}

    Attributes
    ----------
    table_ : DataFrame
        Per group and distinct time: ``group, time, n_risk, n_event_<k>, n_censor,
        cif_<k>, se_<k>, ci_lower_<k>, ci_upper_<k>`` for each cause ``k`` and
        ``survival`` (no event of any cause).
    causes_ : list of int

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5], "e": [1, 2, 1, 0, 1, 2]})
    >>> aj = AalenJohansen().fit(d, "t", "e")
    >>> aj.table_[["time", "cif_1", "cif_2"]].round(4)
       time   cif_1   cif_2
    0   1.0  0.1667  0.0000
    1   2.0  0.3333  0.1667
    2   3.0  0.3333  0.1667
    3   4.0  0.5833  0.1667
    4   5.0  0.5833  0.4167
    """

    def __init__(self, alpha: float = 0.05, conf_type: str = "log"):
        self.alpha = _check_alpha(alpha)
        self.conf_type = _check_conf_type(conf_type)

    def fit(self, df, duration_col, event_col, group_col=None):
        _check_columns(df, [duration_col, event_col, group_col])
        time = _numeric(df, duration_col)
        status = _numeric(df, event_col)
        if np.any(status < 0) or np.any(status != np.round(status)):
            raise DefinitionError(
                f"{event_col!r} must hold 0 (censored) or a positive whole number (cause)"
            )
        status = status.astype(np.int64)
        causes = sorted(int(c) for c in np.unique(status) if c > 0)
        if not causes:
            raise DefinitionError(f"no events in {event_col!r}")
        groups, labels = _group_codes(df, group_col)
        self.labels_, self.causes_, self.group_col = labels, causes, group_col
        frames = []
        for k, label in enumerate(labels):
            sel = groups == k
            frame = self._fit_one(time[sel], status[sel], causes)
            if group_col is not None:
                frame.insert(0, "group", label)
            frames.append(frame)
        self.table_ = pd.concat(frames, ignore_index=True)
        return self

    def _fit_one(self, time, status, causes):
        order = np.argsort(time, kind="stable")
        time, status = time[order], status[order]
        ut, first, counts = np.unique(time, return_index=True, return_counts=True)
        n = len(time)
        n_risk = n - first
        t_idx = np.repeat(np.arange(len(ut)), counts)
        d_any = np.bincount(t_idx, weights=(status > 0), minlength=len(ut))
        h = d_any / n_risk
        surv = np.cumprod(1 - h)
        surv_prev = np.r_[1.0, surv[:-1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            # C1 at a time s: sum over u < s of h(u) / (Y(u) (1 - h(u))), only needed where
            # 1 - h(u) > 0 (times with S(u) = 0 are never strictly before an event time).
            inc = np.where(h < 1, h / (n_risk * (1 - h)), 0.0)
        c1_before = np.r_[0.0, np.cumsum(inc)[:-1]]
        c1_through = np.cumsum(inc)
        out = {
            "time": ut,
            "n_risk": n_risk,
        }
        cens = np.bincount(t_idx, weights=(status == 0), minlength=len(ut))
        for k in causes:
            dk = np.bincount(t_idx, weights=(status == k), minlength=len(ut))
            hk = dk / n_risk
            cif = np.cumsum(surv_prev * hk)
            g1 = np.cumsum(surv_prev * hk * (c1_before - 1.0 / n_risk))
            # per subject i (time index j): influence for t >= T_i is c_i - a_i * F(t)
            j = t_idx
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(status > 0, 1.0 / (n_risk[j] * (1 - h[j])), 0.0) - c1_through[j]
            a = np.where(np.isfinite(a), a, 0.0)
            b = g1[j] + (status == k) * surv_prev[j] / n_risk[j]
            c = b + a * cif[j]
            # cumulative over subjects sorted by time, evaluated at each distinct time
            upto = first + counts  # subjects with T_i <= t
            cc = np.r_[0.0, np.cumsum(c * c)][upto]
            ca = np.r_[0.0, np.cumsum(c * a)][upto]
            aa = np.r_[0.0, np.cumsum(a * a)][upto]
            var = g1**2 * (n - upto) + cc - 2 * ca * cif + aa * cif**2
            se = np.sqrt(np.maximum(var, 0))
            lo, up = confint(cif, se, self.conf_type, self.alpha, logse=False)
            out[f"n_event_{k}"] = dk.astype(np.int64)
            out[f"cif_{k}"] = cif
            out[f"se_{k}"] = se
            out[f"ci_lower_{k}"] = lo
            out[f"ci_upper_{k}"] = up
        out["n_censor"] = cens.astype(np.int64)
        out["survival"] = surv
        return pd.DataFrame(out)

    def cif_at(self, times, cause: int = 1) -> pd.DataFrame:
        """Cumulative incidence of ``cause`` at given times (step function, right-continuous)."""
        times = np.sort(np.asarray(times, dtype=float))
        parts = []
        groups = [None] if self.group_col is None else self.labels_
        for label in groups:
            tab = self.table_ if label is None else self.table_[self.table_["group"] == label]
            pos = np.searchsorted(tab["time"].to_numpy(), times, side="right") - 1
            frame = pd.DataFrame({"time": times})
            for col, first in (
                (f"cif_{cause}", 0.0),
                (f"se_{cause}", 0.0),
                (f"ci_lower_{cause}", np.nan),
                (f"ci_upper_{cause}", np.nan),
            ):
                vals = tab[col].to_numpy()
                frame[col.replace(f"_{cause}", "")] = np.where(
                    pos >= 0, vals[np.maximum(pos, 0)], first
                )
            if label is not None:
                frame.insert(0, "group", label)
            parts.append(frame)
        return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- Cox model


def design_matrix(df: pd.DataFrame, columns) -> pd.DataFrame:
    """Numeric covariate matrix with R-style treatment coding.

    Numeric and boolean columns are used as they are (booleans as 0/1); text or categorical
    columns become one indicator per level except the first (sorted, or the categorical's
    order), named ``<column><level>`` as R names them.

    Examples
    --------
    >>> import pandas as pd
    >>> design_matrix(pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]}), ["a", "s"])
         a   sy
    0  1.0  0.0
    1  2.0  1.0
    """
    _check_columns(df, columns)
    parts = {}
    assign = {}
    for col in columns:
        s = df[col]
        if s.isna().any():
            raise DefinitionError(
                f"covariate {col!r} has {int(s.isna().sum())} missing value(s); drop those rows "
                "(complete-case analysis, as R's na.omit) or impute before fitting"
            )
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            parts[col] = s.astype("float64").to_numpy()
            assign[col] = col
            continue
        cat = s.astype("category") if not isinstance(s.dtype, pd.CategoricalDtype) else s
        if not isinstance(s.dtype, pd.CategoricalDtype):
            cat = cat.cat.reorder_categories(sorted(cat.cat.categories))
        for level in cat.cat.categories[1:]:
            parts[f"{col}{level}"] = (cat == level).to_numpy(dtype="float64")
            assign[f"{col}{level}"] = col
    out = pd.DataFrame(parts, index=df.index)
    out.attrs["assign"] = assign  # design column -> covariate (term), as R's assign
    return out



def _wald_summary(beta, se, names, alpha, se_naive=None) -> pd.DataFrame:
    """R-style coefficient table: coef, exp(coef), se(coef), [robust se], z, p and the
    hazard-ratio interval, with Wald statistics from ``se`` (the robust one when given)."""
    z = beta / se
    q = stats.norm.ppf(1 - alpha / 2)
    level = f"{1 - alpha:.2f}".rstrip("0").rstrip(".")
    columns = {"coef": beta, "exp(coef)": np.exp(beta)}
    if se_naive is None:
        columns["se(coef)"] = se
    else:
        columns["se(coef)"] = se_naive
        columns["robust se"] = se
    columns.update(
        {
            "z": z,
            "p": 2 * stats.norm.sf(np.abs(z)),
            f"lower {level}": np.exp(beta - q * se),
            f"upper {level}": np.exp(beta + q * se),
        }
    )
    return pd.DataFrame(columns, index=pd.Index(names, name="term"))

def _tri_pairs(p):
    ii, jj = np.triu_indices(p)
    return ii, jj


def _products(X: np.ndarray) -> np.ndarray:
    """Column-major matrix of the products X[:, a] * X[:, b], a <= b (upper triangle)."""
    ii, kk = _tri_pairs(X.shape[1])
    out = np.empty((X.shape[0], len(ii)), order="F")
    for c, (a, b) in enumerate(zip(ii, kk, strict=True)):
        np.multiply(X[:, a], X[:, b], out=out[:, c])
    return out


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


class CoxPH:
    """Cox proportional-hazards model, as R's ``coxph``.

    Newton-Raphson on the partial likelihood with Efron (default, as R) or Breslow ties,
    strata, (start, stop] rows (``entry_col``), and the cluster-robust sandwich variance
    built from dfbeta residuals (R ``coxph(..., cluster=id)``), all vectorised: cost is
    O(n log n) per iteration plus O(n p^2).

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
        Robust variance if a cluster was given (or ``robust=True``), else model-based.
    naive_variance_ : DataFrame
        Inverse information (model-based) variance.
    log_likelihood_, log_likelihood_null_ : float
    summary : DataFrame
        ``coef, exp(coef), se(coef), robust se, z, p, lower 0.95, upper 0.95``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5, 6, 7], "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [1, 0, 1, 1, 0, 0, 1, 0]})
    >>> round(float(CoxPH().fit(d, "t", "e", ["x"]).params_["x"]), 6)
    0.061848
    """

    def __init__(self, ties: str = "efron", alpha: float = 0.05, tol: float = 1e-12, max_iter: int = 50):
        if ties not in ("efron", "breslow"):
            raise DefinitionError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        self.ties = ties
        self.alpha = _check_alpha(alpha)
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
        """
        cols = [duration_col, event_col, entry_col, cluster_col]
        strata_cols = [strata] if isinstance(strata, str) else list(strata or [])
        _check_columns(df, cols + strata_cols + list(covariates))
        design = design_matrix(df, list(covariates))
        self.covariates_ = list(design.columns)
        self.terms_ = dict(design.attrs["assign"])
        X0 = design.to_numpy(dtype=float)
        constant = [c for c, v in zip(self.covariates_, np.ptp(X0, axis=0), strict=True) if v == 0]
        if len(X0) and constant:
            raise DefinitionError(
                f"covariate column(s) {constant} take a single value in the analysed rows and "
                "cannot be estimated; drop them from the model"
            )
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
        if not event.any():
            raise DefinitionError(f"no events in {event_col!r}: the Cox model cannot be fitted")
        self.strata_labels_ = list(s_labels)
        self._mean = X0.mean(axis=0)
        # column-major: every per-covariate pass reads contiguous memory
        X = np.asfortranarray(X0 - self._mean)
        p = X.shape[1]
        # [1 | x | products], row-major: one sparse product per iteration gives all sums
        XX = np.ascontiguousarray(np.column_stack([np.ones(len(X)), X, _products(X)]))
        if p and np.linalg.matrix_rank(X.T @ X) < p:
            raise DefinitionError(
                f"the covariates {self.covariates_} are collinear (one is a combination of "
                "others in the analysed rows); drop or combine covariates"
            )
        cd = _CoxData(start, stop, event, np.asarray(s_codes, dtype=np.int64))
        beta = np.zeros(p)
        ll, grad, info = self._loglik_grad_info(beta, X, cd, XX)
        ll0 = ll
        converged = False
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - iteration count is reported
            try:
                step = linalg.solve(info, grad, assume_a="pos") if p else np.zeros(0)
            except linalg.LinAlgError as err:
                raise DefinitionError(
                    f"the covariates {self.covariates_} are collinear (the information matrix "
                    "is singular); drop or combine covariates"
                ) from err
            new = beta + step
            ll_new, grad_new, info_new = self._loglik_grad_info(new, X, cd, XX)
            halvings = 0
            while (not np.isfinite(ll_new) or ll_new < ll - 1e-12 * abs(ll)) and halvings < 30:
                step = step / 2
                new = beta + step
                ll_new, grad_new, info_new = self._loglik_grad_info(new, X, cd, XX)
                halvings += 1
            done = abs(ll_new - ll) <= self.tol * abs(ll_new) and np.max(np.abs(step)) < 1e-8
            beta, ll, grad, info = new, ll_new, grad_new, info_new
            if done:
                converged = True
                break
        if not converged:
            warnings.warn(
                f"Cox model did not converge in {self.max_iter} iterations; coefficients may "
                "be infinite (a covariate perfectly predicts the event?)",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.n_iter_ = n_iter
        self.converged_ = converged
        var = linalg.inv(info) if p else np.zeros((0, 0))
        self._X, self._cd, self._XX = X, cd, XX
        self.params_ = pd.Series(beta, index=self.covariates_, name="coef")
        self.naive_variance_ = pd.DataFrame(var, index=self.covariates_, columns=self.covariates_)
        self.log_likelihood_ = float(ll)
        self.log_likelihood_null_ = float(ll0)
        self.n_ = len(df)
        self.n_events_ = int(event.sum())
        self.information_ = info
        self._stop, self._start, self._event = stop, start, event
        self._strata_codes = np.asarray(s_codes, dtype=np.int64)
        self.entry_col, self.duration_col, self.event_col = entry_col, duration_col, event_col
        self.cluster_col = cluster_col
        use_robust = robust if robust is not None else cluster_col is not None
        self.robust_ = bool(use_robust)
        clusters = None
        if cluster_col:
            clusters = pd.factorize(df[cluster_col], sort=True)[0]
            if (clusters < 0).any():
                raise DefinitionError(f"cluster column {cluster_col!r} has missing values")
        self.unit_counts_ = _unit_counts(X0, event, clusters, self.covariates_)
        if use_robust:
            if clusters is None:
                clusters = np.arange(len(df))
            dfb = self.score_residuals() @ var
            summed = np.column_stack(
                [np.bincount(clusters, dfb[:, a]) for a in range(p)]
            ) if p else np.zeros((0, 0))
            rvar = summed.T @ summed
            self.n_clusters_ = int(clusters.max() + 1)
            self.robust_variance_ = pd.DataFrame(rvar, index=self.covariates_, columns=self.covariates_)
            self.variance_matrix_ = self.robust_variance_
        else:
            self.robust_variance_ = None
            self.variance_matrix_ = self.naive_variance_
        return self

    # -- residuals ---------------------------------------------------------------
    def score_residuals(self) -> np.ndarray:
        """Score residuals, one row per data row (R ``residuals(fit, type="score")``)."""
        X, cd = self._X, self._cd
        beta = self.params_.to_numpy()
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
    def standard_errors_(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.variance_matrix_)), index=self.covariates_, name="se")

    @property
    def summary(self) -> pd.DataFrame:
        se_naive = np.sqrt(np.diag(self.naive_variance_.to_numpy()))
        return _wald_summary(
            self.params_.to_numpy(),
            self.standard_errors_.to_numpy(),
            self.covariates_,
            self.alpha,
            se_naive=se_naive if self.robust_ else None,
        )

    @property
    def log_likelihood_ratio_test_(self):
        """(statistic, df, p) of the likelihood-ratio test against the null model."""
        stat = 2 * (self.log_likelihood_ - self.log_likelihood_null_)
        k = len(self.covariates_)
        return stat, k, float(stats.chi2.sf(stat, k))

    def release_table(self) -> pd.DataFrame:
        """Coefficient table for release: term, coef, se, robust_se, hr, hr_lower, hr_upper, p.

        Contains no counts below the model level and no row-level data; the number of events
        behind the model is checked by :func:`release_cox_table`.
        """
        s = self.summary
        lower = [c for c in s.columns if c.startswith("lower")][0]
        upper = [c for c in s.columns if c.startswith("upper")][0]
        return pd.DataFrame(
            {
                "term": s.index.to_list(),
                "coef": s["coef"].to_numpy(),
                "se": s["se(coef)"].to_numpy(),
                "robust_se": s["robust se"].to_numpy() if self.robust_ else np.nan,
                "hr": s["exp(coef)"].to_numpy(),
                "hr_lower": s[lower].to_numpy(),
                "hr_upper": s[upper].to_numpy(),
                "p": s["p"].to_numpy(),
            }
        )


def _unit_counts(X0, event, cluster, names) -> pd.DataFrame:
    """Units (clusters, else rows) and events behind each 0/1 covariate's two levels.

    Used by :func:`release_cox_table`: the coefficient of an indicator resting on too few
    units or events on either side is not released.
    """
    units = np.asarray(cluster) if cluster is not None else np.arange(len(event))
    n_units = int(units.max()) + 1 if len(units) else 0
    rows = []
    for a, name in enumerate(names):
        x = X0[:, a]
        if not bool(np.isin(x, (0.0, 1.0)).all()):
            rows.append((name, False, -1, -1, -1, -1))
            continue
        one = x == 1.0
        # distinct units per level in O(n): a unit is counted once however many rows it has
        u1 = int(np.count_nonzero(np.bincount(units[one], minlength=n_units)))
        u0 = int(np.count_nonzero(np.bincount(units[~one], minlength=n_units)))
        rows.append((name, True, u1, u0, int(event[one].sum()), int(event[~one].sum())))
    return pd.DataFrame(
        rows, columns=["term", "indicator", "units_1", "units_0", "events_1", "events_0"]
    ).set_index("term")


class ConvergenceWarning(UserWarning):
    """A model did not converge; estimates may be unreliable."""


# ----------------------------------------------------------------------------- cox.zph


def _km_left(time, event, entry=None):
    """1 - S(t-) at each row's time from the Kaplan-Meier of all rows (R's zph 'km')."""
    g = np.zeros(len(time), dtype=np.int64)
    _, t, n_risk, n_event, _ = _km_counts(time, event, g, entry)
    surv = np.cumprod(1 - n_event / n_risk)
    idx = np.searchsorted(t, time, side="left")  # number of tabulated times < time
    return 1 - np.r_[1.0, surv][idx]


def cox_zph(cox: CoxPH, transform: str = "km", terms: bool = True, global_test: bool = True) -> pd.DataFrame:
    """Test of proportional hazards, reproducing R's ``cox.zph`` (survival >= 3.0).

    A score test, at the fitted coefficients, of adding ``x * g(t)`` for each covariate,
    with ``g`` the time transform ("km": 1 - left-continuous Kaplan-Meier of all rows, R's
    default; "identity", "rank", "log"), centred over events. Per covariate: chi-square on
    1 df; GLOBAL: all together. Terms with several columns (treatment-coded text covariates)
    are tested jointly when ``terms`` is true, as R does.

    Returns
    -------
    DataFrame with index term names (+ "GLOBAL") and columns ``chisq, df, p``.
    """
    X, cd = cox._X, cox._cd
    time = cox._stop
    entry = None if cox.entry_col is None else cox._start
    if transform == "km":
        tt = _km_left(time, cox._event, entry)
    elif transform == "identity":
        tt = time.copy()
    elif transform == "rank":
        tt = stats.rankdata(time)
    elif transform == "log":
        tt = np.log(time)
    else:
        raise DefinitionError(f"transform must be 'km', 'identity', 'rank' or 'log', got {transform!r}")
    gtime = tt - tt[cox._event].mean()
    gj = np.zeros(cd.K)
    gj[cd.jd] = gtime[cd.dead]
    beta = cox.params_.to_numpy()
    eta, r, S0, S0D, S1, S1D, f, d2, xb = cox._sums(beta, X, cd, cox._XX)
    K, jj = cd.K, cd.jj
    p = X.shape[1]
    u = (gtime[cd.dead, None] * X[cd.dead]).sum(axis=0) - (gj[jj, None] * xb).sum(axis=0)
    w1 = np.bincount(jj, 1.0 / d2, minlength=K)
    w2 = np.bincount(jj, f / d2, minlength=K)
    ii, kk = _tri_pairs(p)
    S2, S2D = cox._last_S2
    vj = S2 * w1[:, None] - S2D * w2[:, None]  # per death time, upper-triangle entries
    blocks = [np.zeros((p, p)) for _ in range(3)]
    for power, blk in enumerate(blocks):
        vals = (vj * (gj**power)[:, None]).sum(axis=0)
        blk[ii, kk] = vals
        blk[kk, ii] = vals
    for power, blk in enumerate(blocks):
        gp = gj[jj] ** power
        blk -= (xb * gp[:, None]).T @ xb
    imat = np.block([[blocks[0], blocks[1]], [blocks[1], blocks[2]]])
    # group design columns into terms (a treatment-coded covariate is one term, as in R)
    assign: dict[str, list[int]] = {}
    for i, name in enumerate(cox.covariates_):
        assign.setdefault(cox.terms_[name] if terms else name, []).append(i)
    rows = []
    for term, cols in assign.items():
        kk_ = np.r_[np.arange(p), np.asarray(cols) + p]
        uu = np.r_[np.zeros(p), u[cols]]
        sub = imat[np.ix_(kk_, kk_)]
        rows.append((term, float(linalg.solve(sub, uu) @ uu), len(cols)))
    if global_test:
        uu = np.r_[np.zeros(p), u]
        rows.append(("GLOBAL", float(linalg.solve(imat, uu) @ uu), p))
    out = pd.DataFrame(rows, columns=["term", "chisq", "df"]).set_index("term")
    out["p"] = stats.chi2.sf(out["chisq"], out["df"])
    out.attrs["transform"] = transform
    return out


# ----------------------------------------------------------------------------- recurrent events


def mean_cumulative_function(
    df, start_col, stop_col, event_col, id_col, group_col=None, alpha: float = 0.05
) -> pd.DataFrame:
    """Mean cumulative function of recurrent events (Nelson-Aalen on (start, stop] rows).

    MCF(t) = sum over event times s <= t of dN(s) / Y(s), with Y(s) the rows at risk
    (start < s <= stop), as R's ``survfit(Surv(start, stop, event) ~ 1, id = id)``
    cumulative hazard (``ctype = 1``). Its standard error is R's robust
    (infinitesimal-jackknife) one, summing each subject's influence over its rows (Lawless &
    Nadeau); the confidence interval is ``MCF * exp(+- z se / MCF)`` (log transform).

    Returns
    -------
    DataFrame: ``group`` (if any), ``time, n_risk, n_event, mcf, se, ci_lower, ci_upper``
    at each distinct event time.
    """
    _check_columns(df, [start_col, stop_col, event_col, id_col, group_col])
    start = _numeric(df, start_col)
    stop = _numeric(df, stop_col)
    event = _events(df, event_col)
    ids = pd.factorize(df[id_col], sort=True)[0]
    groups, labels = _group_codes(df, group_col)
    z = stats.norm.ppf(1 - alpha / 2)
    parts = []
    for k, label in enumerate(labels):
        sel = groups == k
        s0, s1, ev, idk = start[sel], stop[sel], event[sel], pd.factorize(ids[sel])[0]
        ut = np.unique(s1[ev])
        if len(ut) == 0:
            continue
        n_risk = (np.searchsorted(np.sort(s1), ut, side="left") * -1 + len(s1)) - (
            len(s0) - np.searchsorted(np.sort(s0), ut, side="left")
        )
        n_event = np.bincount(np.searchsorted(ut, s1[ev]), minlength=len(ut))
        dl = n_event / n_risk
        mcf = np.cumsum(dl)
        # influence of row i at time index t: sum_{s<=t} (dN_i(s) - Y_i(s) dL(s)) / Y(s)
        c = np.r_[0.0, np.cumsum(dl / n_risk)]
        lo = np.searchsorted(ut, s0, side="right")
        hi = np.searchsorted(ut, s1, side="right")
        n_id = idk.max() + 1
        var = np.zeros(len(ut))
        # dense per (subject, time) in blocks of subjects: memory bounded, no row loop
        block = max(1, int(2_000_000 // max(len(ut), 1)))
        order = np.argsort(idk, kind="stable")
        bounds = np.searchsorted(idk[order], np.arange(0, n_id + block, block))
        tgrid = np.arange(len(ut))
        for b0, b1 in zip(bounds[:-1], bounds[1:], strict=False):
            rows = order[b0:b1]
            if len(rows) == 0:
                continue
            local = idk[rows] - idk[rows].min()
            upto = np.clip(tgrid[None, :] + 1, lo[rows, None], hi[rows, None])
            inf_row = -(c[upto] - c[lo[rows], None])
            evpos = np.where(ev[rows], hi[rows] - 1, -1)
            jump = (evpos[:, None] >= 0) & (tgrid[None, :] >= evpos[:, None])
            inf_row += jump / np.where(evpos >= 0, n_risk[np.maximum(evpos, 0)], 1)[:, None]
            summed = np.zeros((local.max() + 1, len(ut)))
            np.add.at(summed, local, inf_row)
            var += (summed**2).sum(axis=0)
        se = np.sqrt(var)
        frame = pd.DataFrame(
            {
                "time": ut,
                "n_risk": n_risk,
                "n_event": n_event,
                "mcf": mcf,
                "se": se,
                "ci_lower": mcf * np.exp(-z * se / mcf),
                "ci_upper": mcf * np.exp(z * se / mcf),
            }
        )
        if group_col is not None:
            frame.insert(0, "group", label)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- release


def _released_steps(counts: np.ndarray, n_risk: np.ndarray, policy) -> np.ndarray:
    """Positions of released steps of one curve (rows with events of the curve).

    The curve ends before the first time with fewer than ``threshold`` at risk; events are
    pooled into steps of at least ``threshold`` events (the released step is at the time the
    pooled events are complete), so no step rests on fewer households than the threshold.
    """
    thr = policy.threshold
    ok = np.cumprod(n_risk >= thr).astype(bool)
    has = (counts > 0) & ok
    pos = np.flatnonzero(has)
    if len(pos) == 0:
        return pos
    cum = np.cumsum(counts[pos])
    # greedy pooling: the next step is released where at least thr events have accrued since
    # the previous one (one searchsorted per released step, at most events / thr of them)
    keep = []
    last = 0
    while True:
        i = int(np.searchsorted(cum, last + thr, side="left"))
        if i >= len(cum):
            break
        keep.append(i)
        last = cum[i]
    return pos[np.asarray(keep, dtype=np.int64)]


def _release_curve(
    frame: pd.DataFrame,
    value_cols: list[str],
    event_col: str,
    policy,
    group_col: str | None,
    start_value: float,
) -> pd.DataFrame:
    from cohort.disclosure import check_policy, disclosure_record

    policy = check_policy(policy)
    parts = []
    n_dropped = 0
    groups = [(None, frame)] if group_col is None else list(frame.groupby(group_col, sort=False))
    for label, tab in groups:
        n_risk = tab["n_risk"].to_numpy()
        events = tab[event_col].to_numpy()
        if policy.enabled:
            pos = _released_steps(events, n_risk, policy)
        else:
            pos = np.flatnonzero(events > 0)
        n_dropped += int((events > 0).sum()) - len(pos)
        cum = np.r_[0, np.cumsum(events)]
        pooled = np.diff(np.r_[0, cum[pos + 1]])
        out = pd.DataFrame({"time": np.r_[0.0, tab["time"].to_numpy()[pos]]})
        for col in value_cols:
            # the curve starts at its value at time 0 (survival 1, incidence 0)
            out[col] = np.r_[start_value, tab[col].to_numpy()[pos]]
        at_start = int(n_risk[0]) if len(n_risk) else 0
        out["n_risk"] = np.r_[at_start, n_risk[pos]].astype(np.int64)
        out["n_event"] = np.r_[0, pooled].astype(np.int64)
        if policy.enabled and at_start < policy.threshold:
            out = out.iloc[0:0]
        out["n_risk"] = policy.round_counts(out["n_risk"].to_numpy())
        out["n_event"] = policy.round_counts(out["n_event"].to_numpy())
        if group_col is not None:
            out.insert(0, "group", label)
        parts.append(out)
    result = pd.concat(parts, ignore_index=True)
    result["n_risk"] = result["n_risk"].astype("Int64")
    result["n_event"] = result["n_event"].astype("Int64")
    result["suppressed"] = pd.array(np.zeros(len(result), bool), dtype="boolean")
    result.attrs["disclosure"] = disclosure_record(
        policy, count_columns=["n_risk", "n_event"], value_columns=value_cols, n_suppressed=n_dropped
    )
    return result


def release_km_table(km: KaplanMeier, policy) -> pd.DataFrame:
    """The Kaplan-Meier curve(s) for release, under disclosure control.

    Columns: ``group`` (if grouped), ``time, survival, ci_lower, ci_upper, n_risk, n_event,
    suppressed``; the first row of each curve is time 0 (survival 1). Rules (``policy`` a
    :class:`cohort.disclosure.DisclosurePolicy`): a curve is shown only while at least
    ``threshold`` households are at risk; events are pooled so that every released step
    rests on at least ``threshold`` events (the survival shown at a step is the exact
    estimate at that time); ``n_risk`` and ``n_event`` (events since the previous released
    step) are rounded as configured. ``attrs["disclosure"]`` records what was done, so
    :func:`cohort.disclosure.write_released_csv` accepts the table (the report writes it to
    ``reregistration_km.csv``).

    Examples
    --------
    >>> import pandas as pd
    >>> from cohort.disclosure import DisclosurePolicy
    >>> df = pd.DataFrame({"t": range(1, 41), "e": [1, 0] * 20})
    >>> rel = release_km_table(KaplanMeier().fit(df, "t", "e"), DisclosurePolicy(threshold=5))
    >>> rel[["time", "n_risk", "n_event"]].astype(int).values.tolist()
    [[0, 40, 0], [9, 32, 5], [19, 22, 5], [29, 12, 5]]
    """
    cols = ["survival", "ci_lower", "ci_upper"]
    group_col = "group" if km.group_col is not None else None
    out = _release_curve(km.table_, cols, "n_event", policy, group_col, 1.0)
    order = ([group_col] if group_col else []) + ["time", *cols, "n_risk", "n_event", "suppressed"]
    out = out[order]
    out.attrs["conf_type"] = km.conf_type
    return out


def release_cif_table(aj: AalenJohansen, policy, cause: int = 1) -> pd.DataFrame:
    """Cumulative incidence of ``cause`` for release, under the same rules as
    :func:`release_km_table` (steps pooled over events of that cause).

    Columns: ``group`` (if grouped), ``time, cif, ci_lower, ci_upper, n_risk, n_event,
    suppressed``.
    """
    if cause not in aj.causes_:
        raise DefinitionError(f"cause {cause!r} not among the fitted causes {aj.causes_}")
    tab = aj.table_.rename(
        columns={
            f"cif_{cause}": "cif",
            f"ci_lower_{cause}": "ci_lower",
            f"ci_upper_{cause}": "ci_upper",
            f"n_event_{cause}": "n_event",
        }
    )
    group_col = "group" if aj.group_col is not None else None
    cols = ["cif", "ci_lower", "ci_upper"]
    out = _release_curve(tab, cols, "n_event", policy, group_col, 0.0)
    out.loc[out["time"] == 0, ["ci_lower", "ci_upper"]] = np.nan
    order = ([group_col] if group_col else []) + ["time", *cols, "n_risk", "n_event", "suppressed"]
    return out[order]


def release_mcf_table(mcf: pd.DataFrame, policy) -> pd.DataFrame:
    """The mean cumulative function (:func:`mean_cumulative_function`) for release.

    Same rules as :func:`release_km_table`: shown while at least ``threshold`` households
    are at risk, steps pooled to at least ``threshold`` events, counts rounded as configured.
    Columns: ``group`` (if grouped), ``time, mcf, ci_lower, ci_upper, n_risk, n_event,
    suppressed``.
    """
    group_col = "group" if "group" in mcf.columns else None
    cols = ["mcf", "ci_lower", "ci_upper"]
    out = _release_curve(mcf, cols, "n_event", policy, group_col, 0.0)
    out.loc[out["time"] == 0, ["ci_lower", "ci_upper"]] = np.nan
    order = ([group_col] if group_col else []) + ["time", *cols, "n_risk", "n_event", "suppressed"]
    return out[order]


def release_km_summary(km: KaplanMeier, policy) -> pd.DataFrame:
    """Per group: households, events, median and survival at 6, 12 and 24 months, for release.

    A group with fewer than ``threshold`` units, or fewer than ``threshold`` events, is
    suppressed entirely; survival at a horizon is shown only when at least ``threshold``
    are still at risk there and at least ``threshold`` events occurred by then; the median
    only when at least ``threshold`` events occurred by it and ``threshold`` were at risk.
    Counts are rounded as configured.
    """
    from cohort.disclosure import check_policy, disclosure_record

    policy = check_policy(policy)
    s = km.summary.copy()
    thr = policy.threshold if policy.enabled else 0
    horizons = [m * DAYS_PER_MONTH for m in SUMMARY_MONTHS]
    at = km.survival_at(horizons)
    k = len(SUMMARY_MONTHS)
    group_bad = (s["n"] < thr) | (s["events"] < thr)
    n_suppressed = 0
    for i, m in enumerate(SUMMARY_MONTHS):
        part = at.iloc[i::k]
        # events by the horizon: cumulative over the grid rows of this group
        by_h = at.assign(_g=np.repeat(np.arange(len(s)), k)).groupby("_g")["n_event"].cumsum()
        cum_events = by_h.iloc[i::k].to_numpy()
        bad = (part["n_risk"].to_numpy() < thr) | (cum_events < thr) | group_bad.to_numpy()
        n_suppressed += int(bad.sum())
        for col in (f"survival_{m}m", f"survival_{m}m_ci_lower", f"survival_{m}m_ci_upper"):
            s[col] = s[col].astype("Float64").mask(bad)
    # median: needs >= thr events up to it and >= thr at risk just before it
    med_bad = group_bad.to_numpy().copy()
    for j, (_, tab) in enumerate(km._curves()):
        med = s["median"].iloc[j]
        if np.isnan(med):
            continue
        upto = tab["time"].to_numpy() <= med
        ev = tab["n_event"].to_numpy()[upto].sum()
        nr = tab["n_risk"].to_numpy()[upto][-1] if upto.any() else 0
        med_bad[j] |= (ev < thr) or (nr < thr)
    n_suppressed += int(med_bad.sum())
    for col in ("median", "median_ci_lower", "median_ci_upper"):
        s[col] = s[col].astype("Float64").mask(med_bad)
    for col in ("n", "events"):
        s[col] = pd.Series(policy.round_counts(s[col].to_numpy()), index=s.index, dtype="Int64").mask(
            group_bad
        )
    s["suppressed"] = pd.array(group_bad.to_numpy(), dtype="boolean")
    value_cols = [c for c in s.columns if c not in ("group", "n", "events", "suppressed")]
    s.attrs["disclosure"] = disclosure_record(
        policy, count_columns=["n", "events"], value_columns=value_cols, n_suppressed=n_suppressed
    )
    return s


def release_cox_table(cox: CoxPH, policy) -> pd.DataFrame:
    """Cox coefficients for release (``reregistration_cox.csv``).

    Columns ``term, coef, se, robust_se, hr, hr_lower, hr_upper, p, suppressed``. The model
    must rest on at least ``threshold`` events (else :class:`DisclosureError`); the
    coefficient of a 0/1 covariate whose either level has fewer than ``threshold`` units
    (clusters) or events is suppressed (its values blanked, ``suppressed`` true).
    """
    from cohort.disclosure import check_policy, disclosure_record
    from cohort.exceptions import DisclosureError

    policy = check_policy(policy)
    if policy.enabled and cox.n_events_ < policy.threshold:
        raise DisclosureError(
            f"the Cox model rests on {cox.n_events_} events, fewer than the disclosure threshold "
            f"{policy.threshold}: it cannot be released; pool groups or lengthen follow-up"
        )
    out = cox.release_table()
    uc = cox.unit_counts_.reindex(out["term"])
    small = (
        uc["indicator"].to_numpy()
        & (
            uc[["units_1", "units_0", "events_1", "events_0"]].to_numpy() < policy.threshold
        ).any(axis=1)
    )
    if not policy.enabled:
        small = np.zeros(len(out), dtype=bool)
    values = ["coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"]
    for col in values:
        out[col] = out[col].astype("Float64").mask(small)
    out["suppressed"] = pd.array(small, dtype="boolean")
    out.attrs["disclosure"] = disclosure_record(
        policy, count_columns=[], value_columns=values, n_suppressed=int(small.sum())
    )
    return out


# ----------------------------------------------------------------------------- Fine-Gray


class FineGray:
    """Fine-Gray proportional subdistribution hazards model, as ``cmprsk::crr``.

    Subjects who had a competing event stay in the risk set with inverse-probability-of-
    censoring weights ``G(t-) / G(T_i-)`` (``G`` the Kaplan-Meier of the censoring
    distribution, one censoring group); Breslow ties, as ``crr``. The variance is ``crr``'s
    sandwich, including the term for the estimated censoring distribution (Fine & Gray 1999).
    Everything is vectorised with cumulative sums: O(n log n) instead of ``crr``'s O(n^2).
    Newton-Raphson is iterated to full convergence; ``crr``'s default stopping rule
    (``gtol = 1e-6`` relative to the log-likelihood) can stop a few digits earlier on very
    small data.

    Parameters
    ----------
    alpha : float
    max_iter : int

    Attributes
    ----------
    params_, variance_matrix_, log_likelihood_, summary (as :class:`CoxPH`).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "s": [1, 2, 1, 0, 1, 2, 1, 0],
    ...                   "x": [1, 0, 1, 0, 0, 1, 1, 0]})
    >>> round(float(FineGray().fit(d, "t", "s", ["x"]).params_["x"]), 4)
    1.2371
    """

    def __init__(self, alpha: float = 0.05, max_iter: int = 50):
        self.alpha = _check_alpha(alpha)
        self.max_iter = max_iter

    def fit(self, df, duration_col, event_col, covariates, cause: int = 1):
        """Fit the subdistribution hazard of ``cause``; ``event_col``: 0 censored, else cause."""
        _check_columns(df, [duration_col, event_col, *covariates])
        design = design_matrix(df, list(covariates))
        self.covariates_ = list(design.columns)
        self.terms_ = dict(design.attrs["assign"])
        T = _numeric(df, duration_col)
        status = _numeric(df, event_col)
        order = np.argsort(T, kind="stable")
        T, status = T[order], status[order]
        X0 = design.to_numpy(dtype=float)[order]
        if not (status == cause).any():
            raise DefinitionError(f"no events of cause {cause!r} in {event_col!r}")
        s1 = status == cause
        s2 = (status != cause) & (status != 0)
        cens = status == 0
        n, p = X0.shape
        # Kaplan-Meier of the censoring distribution, left limits G(t-)
        ut, first, counts = np.unique(T, return_index=True, return_counts=True)
        t_idx = np.repeat(np.arange(len(ut)), counts)
        nc = np.bincount(t_idx, weights=cens, minlength=len(ut))
        y = n - first
        g_after = np.cumprod(1 - nc / y)
        g_before = np.r_[1.0, g_after[:-1]]
        G_i = g_before[t_idx]
        tau = np.unique(T[s1])
        d = np.bincount(np.searchsorted(tau, T[s1]), minlength=len(tau)).astype(float)
        tpos = np.searchsorted(ut, tau)
        G_tau = g_before[tpos]
        first_at = first[tpos]  # subjects with T >= tau start here (sorted)
        X = np.asfortranarray(X0 - X0.mean(axis=0))
        XX = _products(X)
        self._data = (T, s1, s2, cens, X, XX, G_i, tau, d, G_tau, first_at, ut, t_idx, nc, y)

        beta = np.zeros(p)
        ll, grad, info = self._lik(beta)
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - reported
            step = linalg.solve(info, grad, assume_a="pos")
            new = beta + step
            ll_new, g_new, i_new = self._lik(new)
            halvings = 0
            while (not np.isfinite(ll_new) or ll_new < ll - 1e-12 * abs(ll)) and halvings < 30:
                step /= 2
                new = beta + step
                ll_new, g_new, i_new = self._lik(new)
                halvings += 1
            done = abs(ll_new - ll) <= 1e-12 * abs(ll_new) and np.max(np.abs(step)) < 1e-8
            beta, ll, grad, info = new, ll_new, g_new, i_new
            if done:
                break
        self.n_iter_ = n_iter
        var_naive = linalg.inv(info)
        resid = self._residuals(beta)
        self.params_ = pd.Series(beta, index=self.covariates_, name="coef")
        self.variance_matrix_ = pd.DataFrame(
            var_naive @ (resid.T @ resid) @ var_naive, index=self.covariates_, columns=self.covariates_
        )
        self.naive_variance_ = pd.DataFrame(var_naive, index=self.covariates_, columns=self.covariates_)
        self.log_likelihood_ = float(ll)
        self.n_ = n
        self.n_events_ = int(s1.sum())
        self.cause = cause
        return self

    def _risk_sums(self, beta):
        T, s1, s2, cens, X, XX, G_i, tau, d, G_tau, first_at, *_ = self._data
        eta = X @ beta
        r = np.exp(eta)
        w2 = np.where(s2, r / G_i, 0.0)  # competing-event subjects, weight outside the risk set
        n_before = np.searchsorted(T, tau, side="left")  # subjects with T < tau

        def at(w):
            tail = np.r_[np.cumsum(w[::-1])[::-1], 0.0]  # sum over T_j >= tau
            return tail[first_at]

        def kept(w):
            pre = np.r_[0.0, np.cumsum(w)]  # sum over T_j < tau of competing events
            return pre[n_before]

        S0 = at(r) + G_tau * kept(w2)
        S1 = np.column_stack([at(r * X[:, a]) + G_tau * kept(w2 * X[:, a]) for a in range(X.shape[1])])
        return eta, r, w2, S0, S1

    def _lik(self, beta):
        T, s1, s2, cens, X, XX, G_i, tau, d, G_tau, first_at, *_ = self._data
        eta, r, w2, S0, S1 = self._risk_sums(beta)
        n_before = np.searchsorted(T, tau, side="left")
        ll = eta[s1].sum() - (d * np.log(S0)).sum()
        xbar = S1 / S0[:, None]
        grad = X[s1].sum(axis=0) - (d[:, None] * xbar).sum(axis=0)
        p = X.shape[1]
        ii, kk = _tri_pairs(p)
        info = np.zeros((p, p))
        for c, (a, b) in enumerate(zip(ii, kk, strict=True)):
            tail = np.r_[np.cumsum((r * XX[:, c])[::-1])[::-1], 0.0][first_at]
            pre = np.r_[0.0, np.cumsum(w2 * XX[:, c])][n_before]
            S2 = tail + G_tau * pre
            info[a, b] = info[b, a] = (d * S2 / S0).sum()
        info -= (d[:, None] * xbar).T @ xbar
        return ll, grad, info

    def _residuals(self, beta):
        """crr's eta_i + psi_i per subject (score residual plus censoring correction)."""
        T, s1, s2, cens, X, XX, G_i, tau, d, G_tau, first_at, ut, t_idx, nc, y = self._data
        eta, r, w2, S0, S1 = self._risk_sums(beta)
        xbar = S1 / S0[:, None]
        dl = d / S0
        p = X.shape[1]
        # dLambda part while at risk (tau <= T_i) and, for competing events, weighted after
        H = np.r_[0.0, np.cumsum(dl)]
        Hx = np.vstack([np.zeros((1, p)), np.cumsum(dl[:, None] * xbar, axis=0)])
        HG = np.r_[0.0, np.cumsum(G_tau * dl)]
        HGx = np.vstack([np.zeros((1, p)), np.cumsum((G_tau * dl)[:, None] * xbar, axis=0)])
        k = np.searchsorted(tau, T, side="right")  # failure times <= T_i
        res = -r[:, None] * (X * H[k][:, None] - Hx[k])
        after_G = HG[-1] - HG[k]
        after_Gx = HGx[-1] - HGx[k]
        res -= np.where(s2, r / G_i, 0.0)[:, None] * (X * after_G[:, None] - after_Gx)
        j = np.searchsorted(tau, T[s1])
        res[s1] += X[s1] - xbar[j]
        # psi: the estimated censoring distribution's contribution, at censoring times u
        cu = ut[nc > 0]
        if len(cu):
            nc_u = nc[nc > 0]
            y_u = y[nc > 0]
            n_before_u = np.searchsorted(T, cu, side="left")
            B0 = np.r_[0.0, np.cumsum(w2)][n_before_u]
            B1 = np.vstack([np.zeros((1, p)), np.cumsum(w2[:, None] * X, axis=0)])[n_before_u]
            cg = G_tau * dl
            C0_all = np.r_[np.cumsum(cg[::-1])[::-1], 0.0]
            C1_all = np.vstack([np.cumsum((cg[:, None] * xbar)[::-1], axis=0)[::-1], np.zeros((1, p))])
            m = np.searchsorted(tau, cu, side="left")  # failure times >= u
            q = B1 * C0_all[m][:, None] - B0[:, None] * C1_all[m]
            cum = np.vstack([np.zeros((1, p)), np.cumsum(q * (nc_u / y_u**2)[:, None], axis=0)])
            upto = np.searchsorted(cu, T, side="right")
            psi = -cum[upto]
            ci = np.searchsorted(cu, T[cens])
            psi[cens] += q[ci] / y_u[ci][:, None]
            res += psi
        return res

    @property
    def standard_errors_(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.variance_matrix_)), index=self.covariates_, name="se")

    @property
    def summary(self) -> pd.DataFrame:
        return _wald_summary(
            self.params_.to_numpy(), self.standard_errors_.to_numpy(), self.covariates_, self.alpha
        )
