"""Aalen-Johansen cumulative incidence under competing risks, as R's ``survfit`` with a factor status.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.definitions.dates import DAYS_PER_MONTH
from cohort.exceptions import DefinitionError, NotEstimable
from cohort.stats.base import Estimator, _check_columns, _group_codes, _numeric
from cohort.stats.intervals import _check_conf_type, confint
from cohort.stats.kaplan_meier import SUMMARY_MONTHS, horizon_columns

__all__ = ["AalenJohansen"]


class AalenJohansen(Estimator):
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
    n_ : int
        Rows analysed.
    n_events_ : dict
        Events per cause.
    summary : DataFrame
        Per group and cause: rows, events and the incidence at 6, 12 and 24 months.

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
    >>> aj
    <AalenJohansen: n=6, confidence_level=0.95, conf_type=log, group_col=None, n_groups=1, variance=infinitesimal jackknife>
    """

    _fitted_attribute = "table_"

    def __init__(self, alpha: float = 0.05, conf_type: str = "log"):
        super().__init__(alpha)
        self.conf_type = _check_conf_type(conf_type)

    def fit(self, df, duration_col, event_col, group_col=None, causes=None):
        """Fit the cumulative incidence of every cause; returns ``self``.

        Parameters
        ----------
        df : DataFrame
        duration_col : str
        event_col : str
            0 censored, else the (whole, positive) number of the cause.
        group_col : str, optional
            One set of curves per value.
        causes : iterable of int, optional
            The causes the study defines (the levels of R's factor status in ``survfit``):
            a cause without events in these data has a cumulative incidence of 0, as in R.
            Default: the causes that occur.

        Without rows, or without any event and without ``causes``, the result is not
        estimable (``not_estimable_``, reason ``no_observations`` or ``no_events``).

        Raises
        ------
        DefinitionError
            A column is missing or bad, or an event has a cause not in ``causes``.
        """
        _check_columns(df, [duration_col, event_col, group_col])
        time = _numeric(df, duration_col)
        status = _numeric(df, event_col)
        if np.any(status < 0) or np.any(status != np.round(status)):
            raise DefinitionError(
                f"{event_col!r} must hold 0 (censored) or a positive whole number (cause)"
            )
        status = status.astype(np.int64)
        seen = sorted(int(c) for c in np.unique(status) if c > 0)
        if not len(df):
            raise NotEstimable("no_observations")
        if causes is not None:
            declared = sorted({int(c) for c in causes})
            if any(c <= 0 for c in declared) or not set(seen) <= set(declared):
                raise DefinitionError(
                    f"{event_col!r} holds cause(s) {sorted(set(seen) - set(declared))} not among "
                    f"the causes given {declared} (positive whole numbers)"
                )
            causes = declared
        else:
            causes = seen
        if not causes:
            raise NotEstimable("no_events", f"no events in {event_col!r}")
        groups, labels = _group_codes(df, group_col)
        self.labels_, self.causes_, self.group_col = labels, causes, group_col
        self.duration_col, self.event_col = duration_col, event_col
        self.n_ = len(df)
        self.n_events_ = {k: int((status == k).sum()) for k in causes}
        self._n_rows = np.bincount(groups, minlength=len(labels))
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
        self._require_fitted()
        if cause not in self.causes_:
            raise DefinitionError(f"cause {cause!r} not among the fitted causes {self.causes_}")
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

    @property
    def summary(self) -> pd.DataFrame:
        """Per group and cause: ``n`` (rows), ``events`` and the incidence with its interval
        at 6, 12 and 24 months (days: :data:`~cohort.definitions.dates.DAYS_PER_MONTH`)."""
        self._require_fitted()
        times = [m * DAYS_PER_MONTH for m in SUMMARY_MONTHS]
        groups = [None] if self.group_col is None else self.labels_
        tab = self.table_
        parts = []
        for cause in self.causes_:
            at = self.cif_at(times, cause=cause)
            if self.group_col is None:
                events = np.array([tab[f"n_event_{cause}"].sum()])
            else:
                events = tab.groupby("group", sort=True)[f"n_event_{cause}"].sum()
                events = events.reindex(groups).to_numpy()
            out = pd.DataFrame({"cause": cause, "n": self._n_rows, "events": events})
            if self.group_col is not None:
                out.insert(0, "group", groups)
            parts.append(horizon_columns(out, at, SUMMARY_MONTHS, "cif"))
        out = pd.concat(parts, ignore_index=True)
        out.attrs["conf_type"] = self.conf_type
        return out

    def describe(self) -> dict:
        """Rows, events per cause, the interval transform, groups: for the methods text."""
        out = super().describe()
        out.update(conf_type=self.conf_type, causes=list(self.causes_),
                   events=dict(self.n_events_), group_col=self.group_col,
                   n_groups=len(self.labels_), variance="infinitesimal jackknife")
        return out
