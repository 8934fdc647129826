"""Proportional-hazards test, as R's ``cox.zph`` (survival >= 3.0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, stats

from cohort.exceptions import DefinitionError
from cohort.stats.base import _tri_pairs
from cohort.stats.cox import CoxPH
from cohort.stats.kaplan_meier import _km_counts

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
