"""Annual or quarterly percent change (APC, AAPC) from a log-linear model, as NCI Joinpoint.

``100 (exp(b) - 1)`` from ``lm(log(y) ~ t)`` (with fixed joinpoints: a continuous
piecewise-linear model in ``log(y)``); intervals use the t distribution with the model's
residual degrees of freedom. Joinpoints are given, not searched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from cohort.exceptions import DefinitionError
from cohort.stats.base import _check_columns, check_alpha

__all__ = ["percent_change"]


def _apc_one(t, y, joinpoints, aapc_range, alpha):
    """Log-linear piecewise fit with fixed joinpoints; returns segment APCs and the AAPC."""
    ok = np.isfinite(y) & (y > 0)
    t, logy = t[ok], np.log(y[ok])
    jps = sorted(joinpoints)
    X = np.column_stack([np.ones_like(t), t] + [np.maximum(t - j, 0.0) for j in jps])
    n, p = X.shape
    if n - p < 1:
        raise DefinitionError(
            f"percent change needs more positive quarters ({n}) than parameters ({p})"
        )
    fit = sm.OLS(logy, X).fit()
    b, cov, df_resid = fit.params, fit.cov_params(), fit.df_resid
    tq = stats.t.ppf(1 - alpha / 2, df_resid)
    edges = [t.min(), *jps, t.max()]
    rows = []
    # Slope of segment k is b[1] + sum of the first k hinge coefficients: a contrast c'b.
    for k in range(len(edges) - 1):
        c = np.zeros(p)
        c[1] = 1.0
        c[2:2 + k] = 1.0
        rows.append(("APC", edges[k], edges[k + 1], c))
    lo_r, hi_r = (t.min(), t.max()) if aapc_range is None else aapc_range
    # AAPC: segment slopes weighted by their length inside the range (Joinpoint's AAPC).
    c = np.zeros(p)
    for k in range(len(edges) - 1):
        w = max(0.0, min(edges[k + 1], hi_r) - max(edges[k], lo_r))
        ck = np.zeros(p)
        ck[1] = 1.0
        ck[2:2 + k] = 1.0
        c += w * ck
    c /= hi_r - lo_r
    rows.append(("AAPC", lo_r, hi_r, c))
    out = []
    for kind, a, z, cvec in rows:
        est = float(cvec @ b)
        se = float(np.sqrt(cvec @ cov @ cvec))
        out.append({
            "measure": kind, "segment_start": a, "segment_end": z,
            "slope": est, "slope_se": se,
            "percent_change": 100 * np.expm1(est),
            "ci_lower": 100 * np.expm1(est - tq * se),
            "ci_upper": 100 * np.expm1(est + tq * se),
            "p": float(2 * stats.t.sf(abs(est / se), df_resid)) if se > 0 else np.nan,
            "df": df_resid, "n_periods": n,
        })
    return out


def percent_change(df: pd.DataFrame, time_col: str, value_col: str, by=(),
                   joinpoints=(), aapc_range: tuple | None = None,
                   alpha: float = 0.05) -> pd.DataFrame:
    """Average percent change per time unit from a log-linear model (Joinpoint-style).

    Fits ``log(value) = a + b t`` by least squares (with fixed ``joinpoints``, a
    continuous piecewise-linear model in ``log(value)``) and reports, per segment, the
    annual/quarterly percent change ``APC = 100 (exp(b) - 1)`` and, over ``aapc_range``
    (default: the whole series), the average percent change ``AAPC = 100 (exp(sum w_k
    b_k) - 1)`` with ``w_k`` the share of the range in segment ``k``. Intervals use the
    t distribution with the model's residual degrees of freedom, transformed like the
    estimate. Joinpoints are given, not searched (Joinpoint's permutation search is not
    done). Quarters with a value <= 0 or missing are left out (log undefined).

    Parameters
    ----------
    df : DataFrame
    time_col : str
        Numeric time, e.g. :func:`cohort.definitions.dates.quarter_index` of ``interval_start``; the unit sets the
        unit of the percent change (quarter -> quarterly percent change).
    value_col : str
        Count, rate or proportion per period.
    by : sequence of str
        Group columns (e.g. ``["site"]``); one fit per group.
    joinpoints : sequence of float
        Times where the slope may change.
    aapc_range : (float, float), optional
    alpha : float

    Returns
    -------
    DataFrame with columns ``by..., measure (APC/AAPC), segment_start, segment_end, slope,
    slope_se, percent_change, ci_lower, ci_upper, p, df, n_periods``.

    Examples
    --------
    >>> df = pd.DataFrame({"q": np.arange(8.0), "y": 100 * 1.05 ** np.arange(8) * [1, 1.01, .99, 1, 1.02, .98, 1, 1]})
    >>> percent_change(df, "q", "y")[["measure", "percent_change"]].round(2)
      measure  percent_change
    0     APC            4.92
    1    AAPC            4.92
    """
    by = list(by)
    _check_columns(df, [time_col, value_col, *by])
    check_alpha(alpha)
    t_all = df[time_col].to_numpy(dtype=float)
    y_all = df[value_col].to_numpy(dtype=float, na_value=np.nan)
    rows = []
    if by:
        grouped = df.groupby(by, sort=True, observed=True).indices.items()
    else:
        grouped = [((), np.arange(len(df)))]
    for key, idx in grouped:
        key = key if isinstance(key, tuple) else (key,)
        for r in _apc_one(t_all[idx], y_all[idx], joinpoints, aapc_range, alpha):
            rows.append({**dict(zip(by, key, strict=True)), **r})
    return pd.DataFrame(rows)
