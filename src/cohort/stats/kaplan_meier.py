"""Kaplan-Meier estimator, as R's ``survfit``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.definitions.dates import DAYS_PER_MONTH
from cohort.exceptions import DefinitionError, NotEstimable
from cohort.stats.base import (
    Estimator,
    _check_columns,
    _composite,
    _events,
    _group_codes,
    _numeric,
)
from cohort.stats.intervals import _check_conf_type, confint

__all__ = ["DAYS_PER_MONTH", "SUMMARY_MONTHS", "KaplanMeier"]

#: Horizons (months) reported by :attr:`KaplanMeier.summary`.
SUMMARY_MONTHS = (6, 12, 24)


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


def horizon_columns(out: pd.DataFrame, at: pd.DataFrame, months, value: str) -> pd.DataFrame:
    """``out`` with ``{value}_{m}m`` and its interval limits for each horizon ``m``.

    ``at`` holds the estimates at the horizons group by group, in the order of ``months``
    within each group (as ``survival_at`` and ``cif_at`` return them), one group per row of
    ``out``.
    """
    out = out.copy()
    k = len(months)
    for i, m in enumerate(months):
        part = at.iloc[i::k]
        out[f"{value}_{m}m"] = part[value].to_numpy()
        out[f"{value}_{m}m_ci_lower"] = part["ci_lower"].to_numpy()
        out[f"{value}_{m}m_ci_upper"] = part["ci_upper"].to_numpy()
    return out


def median_columns(out: pd.DataFrame, median: pd.DataFrame) -> pd.DataFrame:
    """``out`` with the median time and its interval limits, one group per row."""
    out = out.copy()
    out["median"] = median["median"].to_numpy()
    out["median_ci_lower"] = median["ci_lower"].to_numpy()
    out["median_ci_upper"] = median["ci_upper"].to_numpy()
    return out


class KaplanMeier(Estimator):
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
    n_, n_events_ : int
        Rows and events analysed.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 1, 0, 1, 0],
    ...                    "g": ["a", "a", "a", "b", "b", "b"]})
    >>> km = KaplanMeier().fit(df, "t", "e", group_col="g")
    >>> km.median_["median"].tolist()
    [2.0, 5.5]
    >>> km
    <KaplanMeier: n=6, confidence_level=0.95, events=4, conf_type=log, group_col=g, n_groups=2, entry_col=None, variance=Greenwood>
    """

    _fitted_attribute = "table_"

    def __init__(self, conf_type: str = "log", alpha: float = 0.05):
        super().__init__(alpha)
        self.conf_type = _check_conf_type(conf_type)

    def fit(self, df, duration_col, event_col, group_col=None, entry_col=None):
        """Fit the curve(s).

        Parameters
        ----------
        df : DataFrame
            One row per subject (per (entry, time] interval with ``entry_col``).
        duration_col, event_col : str
            Time and event indicator (0 censored, 1 event).
        group_col : str, optional
            One curve per value.
        entry_col : str, optional
            Delayed entry: at risk on ``(entry, time]``.

        Returns
        -------
        self

        Without rows the result is not estimable (``not_estimable_``, reason
        ``no_observations``; R's ``survfit`` stops there).

        Raises
        ------
        DefinitionError
            A column is missing, not numeric, has missing values, or an entry is not
            before its time.
        """
        _check_columns(df, [duration_col, event_col, group_col, entry_col])
        if not len(df):
            raise NotEstimable("no_observations")
        time = _numeric(df, duration_col)
        event = _events(df, event_col)
        entry = _numeric(df, entry_col) if entry_col is not None else None
        if entry is not None and np.any(entry >= time):
            raise DefinitionError(f"{entry_col!r} must be before {duration_col!r} on every row")
        groups, labels = _group_codes(df, group_col)
        self.group_col, self.duration_col, self.event_col = group_col, duration_col, event_col
        self.entry_col = entry_col
        self.labels_ = labels
        self.n_ = len(df)
        self.n_events_ = int(event.sum())
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

    def curves(self):
        """``(group label, table_ rows of that curve)`` per curve (label ``None`` ungrouped)."""
        self._require_fitted()
        for k, label in enumerate(self.labels_):
            sel = self._g == k
            yield label, self.table_.loc[sel]

    _curves = curves  # earlier private name, read by the release code

    def _quantile(self, p):
        rows = []
        for label, tab in self.curves():
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
        self._require_fitted()
        return self._quantile(p)

    def survival_at(self, times) -> pd.DataFrame:
        """Survival at given times, as R's ``summary(fit, times=..., extend=TRUE)``.

        ``n_risk`` is the number at risk at the time; ``n_event`` the events in the interval
        since the previous requested time.
        """
        self._require_fitted()
        times = np.sort(np.asarray(times, dtype=float))
        out = []
        for label, tab in self.curves():
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
        """Per group: n (rows), events, median (with CI) and survival at 6, 12 and 24 months.

        Months are converted to days with :data:`DAYS_PER_MONTH` (the time unit of the fit
        must be days); ``attrs["conf_type"]`` names the interval transform.
        """
        self._require_fitted()
        n = self._n_rows
        events = self.table_.groupby(self._g, sort=True)["n_event"].sum().to_numpy()
        out = pd.DataFrame({"n": n, "events": events})
        if self.group_col is not None:
            out.insert(0, "group", self.labels_)
        out = median_columns(out, self.median_)
        at = self.survival_at([m * DAYS_PER_MONTH for m in SUMMARY_MONTHS])
        out = horizon_columns(out, at, SUMMARY_MONTHS, "survival")
        out.attrs["conf_type"] = self.conf_type
        return out

    def describe(self) -> dict:
        """Rows, events, the interval transform, groups and entry: for the methods text."""
        out = super().describe()
        out.update(events=self.n_events_, conf_type=self.conf_type, group_col=self.group_col,
                   n_groups=len(self.labels_), entry_col=self.entry_col, variance="Greenwood")
        return out
