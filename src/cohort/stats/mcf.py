"""Mean cumulative function of recurrent events (Nelson-Aalen with a robust standard error).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohort.stats.base import _check_columns, _events, _group_codes, _numeric

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
