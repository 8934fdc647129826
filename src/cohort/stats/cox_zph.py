"""Proportional-hazards test, as R's ``cox.zph`` (survival >= 3.0).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import linalg, stats

from cohort.exceptions import DefinitionError, NotEstimable
from cohort.stats.base import HypothesisTest, _tri_pairs
from cohort.stats.cox import CoxPH
from cohort.stats.kaplan_meier import _km_counts

__all__ = ["TRANSFORMS", "ProportionalHazardsTest", "cox_zph"]

#: Time transforms of the test (R ``cox.zph(transform=)``).
TRANSFORMS = ("km", "identity", "rank", "log")


def _km_left(time, event, entry=None):
    """1 - S(t-) at each row's time from the Kaplan-Meier of all rows (R's zph 'km')."""
    g = np.zeros(len(time), dtype=np.int64)
    _, t, n_risk, n_event, _ = _km_counts(time, event, g, entry)
    surv = np.cumprod(1 - n_event / n_risk)
    idx = np.searchsorted(t, time, side="left")  # number of tabulated times < time
    return 1 - np.r_[1.0, surv][idx]


class ProportionalHazardsTest(HypothesisTest):
    """Test of proportional hazards of a fitted :class:`~cohort.stats.cox.CoxPH`, as R's
    ``cox.zph`` (survival >= 3.0).

    A score test, at the fitted coefficients, of adding ``x * g(t)`` for each covariate,
    with ``g`` the time transform ("km": 1 - left-continuous Kaplan-Meier of all rows, R's
    default; "identity", "rank", "log"), centred over events. Per covariate: chi-square on
    1 df; GLOBAL: all together. Terms with several columns (treatment-coded text covariates)
    are tested jointly when ``terms`` is true, as R does.

    Parameters
    ----------
    transform : {"km", "identity", "rank", "log"}
    terms : bool
        Test the columns of a treatment-coded covariate jointly (one row per covariate).
    global_test : bool
        Add the row ``GLOBAL``.

    Attributes
    ----------
    model : CoxPH
        The fitted model tested (also ``model_``).
    summary : DataFrame
        Index ``term`` (with ``GLOBAL``), columns ``chisq, df, p``; ``attrs["transform"]``.
    statistic_, df_, p_value_
        Of the global test (``NaN`` without ``global_test``).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6, 7, 8], "e": [1, 1, 1, 0, 1, 1, 0, 1],
    ...                   "x": [1, 0, 1, 1, 0, 0, 1, 0]})
    >>> zph = ProportionalHazardsTest().fit(CoxPH().fit(d, "t", "e", ["x"]))
    >>> zph.summary.round(4).to_dict("index")
    {'x': {'chisq': 0.9695, 'df': 1, 'p': 0.3248}, 'GLOBAL': {'chisq': 0.9695, 'df': 1, 'p': 0.3248}}
    >>> zph.model is zph.model_
    True
    """

    def __init__(self, transform: str = "km", terms: bool = True, global_test: bool = True):
        super().__init__()
        if transform not in TRANSFORMS:
            raise DefinitionError(
                f"transform must be 'km', 'identity', 'rank' or 'log', got {transform!r}"
            )
        self.transform = transform
        self.terms = terms
        self.global_test = global_test

    @property
    def model(self) -> CoxPH:
        """The fitted Cox model this test is about."""
        self._require_fitted()
        return self.model_

    def fit(self, cox: CoxPH):
        """Test the fitted ``cox``; returns ``self``.

        Terms the Cox model did not estimate (``dropped_terms_``: coefficient ``NA`` in R,
        or infinite) have no row, as in R's ``cox.zph``, which leaves ``NA`` coefficients
        out; an infinite coefficient still enters the risk scores.

        Returns a not-estimable result (``not_estimable_``) where R's ``cox.zph`` stops or
        cannot start: the Cox model is not estimable (reason ``model_not_estimable``), every
        event falls at the same time (``ph_tied_events``: the time transform has no spread
        over the events, R stops with "system is exactly singular"), or the test's matrix
        is singular otherwise (``ph_singular``).

        Raises
        ------
        DefinitionError
            ``cox`` is not a fitted :class:`~cohort.stats.cox.CoxPH`.
        """
        if not isinstance(cox, CoxPH) or not (cox.fitted or not cox.estimable):
            raise DefinitionError("the proportional-hazards test needs a fitted CoxPH model")
        self.model_ = cox
        if not cox.estimable:
            raise NotEstimable("model_not_estimable", cause=cox.not_estimable_)
        table = _zph_table(cox, self.transform, self.terms, self.global_test)
        self.table_ = table
        self.n_, self.n_events_ = cox.n_, cox.n_events_
        if self.global_test:
            g = table.loc["GLOBAL"]
            self.statistic_, self.df_, self.p_value_ = float(g["chisq"]), int(g["df"]), float(g["p"])
        else:
            self.statistic_, self.df_, self.p_value_ = np.nan, 0, np.nan
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """Per term (and ``GLOBAL``): ``chisq, df, p``, as R's ``cox.zph(fit)$table``."""
        self._require_fitted()
        out = self.table_.copy()
        out.attrs["transform"] = self.transform
        return out

    def describe(self) -> dict:
        out = super().describe()
        stat = {k: out.pop(k) for k in ("statistic", "df", "p")}
        out.update(events=self.n_events_, test="score test (R cox.zph)",
                   transform=self.transform, terms_jointly=self.terms,
                   global_test=self.global_test, **stat)
        return out


def cox_zph(cox: CoxPH, transform: str = "km", terms: bool = True,
            global_test: bool = True) -> ProportionalHazardsTest:
    """The :class:`ProportionalHazardsTest` of ``cox`` (R's ``cox.zph``); its
    :attr:`~ProportionalHazardsTest.summary` is the table of ``chisq, df, p`` per term."""
    return ProportionalHazardsTest(transform, terms, global_test).fit(cox)


def _zph_table(cox: CoxPH, transform: str, terms: bool, global_test: bool) -> pd.DataFrame:
    X, cd = cox._X, cox._cd
    time = cox._stop
    entry = None if cox.entry_col is None else cox._start
    if transform == "km":
        tt = _km_left(time, cox._event, entry)
    elif transform == "identity":
        tt = time.copy()
    elif transform == "rank":
        tt = stats.rankdata(time)
    else:  # "log", checked by the constructor
        tt = np.log(time)
    gtime = tt - tt[cox._event].mean()
    if np.ptp(tt[cox._event]) == 0:
        raise NotEstimable("ph_tied_events")
    gj = np.zeros(cd.K)
    gj[cd.jd] = gtime[cd.dead]
    beta = cox._beta
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
    # the tested columns: the estimated, finite coefficients (R leaves NA terms out)
    tested = np.flatnonzero(cox._finite)
    q = len(tested)
    u = u[tested]
    blocks = [b[np.ix_(tested, tested)] for b in blocks]
    imat = np.block([[blocks[0], blocks[1]], [blocks[1], blocks[2]]])
    # group design columns into terms (a treatment-coded covariate is one term, as in R)
    assign: dict[str, list[int]] = {}
    for i, column in enumerate(tested):
        name = cox.covariates_[cox._keep[column]]
        assign.setdefault(cox.terms_[name] if terms else name, []).append(i)

    def score(sub, uu):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", linalg.LinAlgWarning)
                return float(linalg.solve(sub, uu) @ uu)
        except (linalg.LinAlgError, linalg.LinAlgWarning) as err:
            raise NotEstimable("ph_singular") from err

    rows = []
    for term, cols in assign.items():
        kk_ = np.r_[np.arange(q), np.asarray(cols) + q]
        uu = np.r_[np.zeros(q), u[cols]]
        rows.append((term, score(imat[np.ix_(kk_, kk_)], uu), len(cols)))
    if global_test:
        uu = np.r_[np.zeros(q), u]
        rows.append(("GLOBAL", score(imat, uu), q))
    out = pd.DataFrame(rows, columns=["term", "chisq", "df"]).set_index("term")
    out["p"] = stats.chi2.sf(out["chisq"], out["df"])
    return out
