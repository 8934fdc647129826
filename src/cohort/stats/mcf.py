"""Mean cumulative function of recurrent events (Nelson-Aalen with a robust standard error).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohort.definitions.dates import DAYS_PER_MONTH
from cohort.exceptions import DefinitionError
from cohort.stats.base import Estimator, _check_columns, _events, _group_codes, _numeric
from cohort.stats.kaplan_meier import SUMMARY_MONTHS

__all__ = ["MeanCumulativeFunction", "mean_cumulative_function"]


class MeanCumulativeFunction(Estimator):
    """Mean cumulative function of recurrent events (Nelson-Aalen on (start, stop] rows).

    MCF(t) = sum over event times s <= t of dN(s) / Y(s), with Y(s) the rows at risk
    (start < s <= stop), as R's ``survfit(Surv(start, stop, event) ~ 1, id = id)``
    cumulative hazard (``ctype = 1``). Its standard error is R's robust
    (infinitesimal-jackknife) one, summing each subject's influence over its rows (Lawless &
    Nadeau); the confidence interval is ``MCF * exp(+- z se / MCF)`` (log transform).

    Parameters
    ----------
    alpha : float

    Attributes
    ----------
    table_ : DataFrame
        ``group`` (if any), ``time, n_risk, n_event, mcf, se, ci_lower, ci_upper`` at each
        distinct event time.
    n_, n_units_, n_events_ : int
        Rows, subjects (``id_col``) and events.
    summary : DataFrame
        Per group: subjects, events and the MCF at 6, 12 and 24 months.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"id": [1, 1, 2, 3], "start": [0, 5, 0, 0], "stop": [5, 9, 7, 9],
    ...                   "event": [1, 0, 1, 0]})
    >>> mcf = MeanCumulativeFunction().fit(d, "start", "stop", "event", "id")
    >>> mcf.table_[["time", "n_risk", "n_event", "mcf"]].round(4)
       time  n_risk  n_event     mcf
    0   5.0       3        1  0.3333
    1   7.0       3        1  0.6667
    """

    _fitted_attribute = "table_"

    def fit(self, df, start_col, stop_col, event_col, id_col, group_col=None):
        """Estimate the MCF; returns ``self``.

        Raises
        ------
        DefinitionError
            A column is missing or bad, or there is no event.
        """
        self.table_ = _mcf_table(df, start_col, stop_col, event_col, id_col, group_col,
                                 self.alpha)
        self.group_col, self.id_col = group_col, id_col
        self.n_ = len(df)
        self.n_units_ = int(df[id_col].nunique())
        self.n_events_ = int(_events(df, event_col).sum())
        groups, labels = _group_codes(df, group_col)
        self.labels_ = labels
        units = pd.factorize(df[id_col], sort=True)[0]
        pairs = np.unique(groups * (units.max() + 1) + units)
        self._units_per_group = np.bincount(pairs // (units.max() + 1), minlength=len(labels))
        self._events_per_group = np.bincount(groups, weights=_events(df, event_col),
                                             minlength=len(labels)).astype(np.int64)
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Per group: ``units`` (subjects), ``events`` and the MCF with its interval at 6, 12
        and 24 months (days: :data:`~cohort.definitions.dates.DAYS_PER_MONTH`)."""
        self._require_fitted()
        out = pd.DataFrame({"units": self._units_per_group, "events": self._events_per_group})
        tab = self.table_
        for i, label in enumerate(self.labels_):
            part = tab if self.group_col is None else tab[tab["group"] == label]
            times = part["time"].to_numpy()
            for m in SUMMARY_MONTHS:
                pos = np.searchsorted(times, m * DAYS_PER_MONTH, side="right") - 1
                for col in ("mcf", "ci_lower", "ci_upper"):
                    name = f"mcf_{m}m" if col == "mcf" else f"mcf_{m}m_{col}"
                    value = part[col].to_numpy()[pos] if pos >= 0 else (0.0 if col == "mcf" else np.nan)
                    out.loc[i, name] = value
        if self.group_col is not None:
            out.insert(0, "group", self.labels_)
        return out

    def describe(self) -> dict:
        out = super().describe()
        out.update(units=self.n_units_, events=self.n_events_, id_col=self.id_col,
                   group_col=self.group_col, n_groups=len(self.labels_),
                   estimator="Nelson-Aalen (ctype 1)",
                   variance="robust (infinitesimal jackknife) by subject")
        return out


def mean_cumulative_function(
    df, start_col, stop_col, event_col, id_col, group_col=None, alpha: float = 0.05
) -> pd.DataFrame:
    """The table of :class:`MeanCumulativeFunction` (``table_``): ``group`` (if any),
    ``time, n_risk, n_event, mcf, se, ci_lower, ci_upper`` at each distinct event time."""
    return MeanCumulativeFunction(alpha).fit(
        df, start_col, stop_col, event_col, id_col, group_col).table_


def _mcf_table(df, start_col, stop_col, event_col, id_col, group_col, alpha) -> pd.DataFrame:
    _check_columns(df, [start_col, stop_col, event_col, id_col, group_col])
    start = _numeric(df, start_col)
    stop = _numeric(df, stop_col)
    event = _events(df, event_col)
    if not event.any():
        raise DefinitionError(f"no events in {event_col!r}: the mean cumulative function is 0")
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
