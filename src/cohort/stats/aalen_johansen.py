"""Aalen-Johansen cumulative incidence under competing risks, as R's ``survfit`` with a factor status.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.exceptions import DefinitionError
from cohort.stats.base import _check_alpha, _check_columns, _group_codes, _numeric
from cohort.stats.intervals import _check_conf_type, confint

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
