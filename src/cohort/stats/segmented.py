"""Segmented (interrupted time series) regression of quarterly counts around a change date.

After Lopez Bernal, Cummins & Gasparrini (2017): a quasi-Poisson GLM with a log offset
for the population (person-time)::

    log E[count] = log(pt) + b0 + b1 time + b2 post + b3 time_since_change

``time`` counts quarters from the first period (0, 1, ...), using
:func:`cohort.definitions.dates.quarter_index` of the period column; ``post = 1`` for
periods starting on or after the change date; ``time_since_change = time - time of the
first post period`` for post periods (0 before), so ``b2`` is the level change at the first
post period and ``b3`` the change in slope. The dispersion is Pearson chi2 / residual df
(``quasi=True``, as ``family = quasipoisson``; statsmodels ``fit(scale="X2")``). Intervals
are Wald; rate ratios ``exp(b)``. One series per fit; for one model per site use
:func:`cohort.stats.base.fit_by_group`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from cohort.definitions.dates import quarter_index, to_date
from cohort.exceptions import DefinitionError, NotEstimable
from cohort.stats.base import RegressionModel, StatisticalWarning, _check_columns, term_support
from cohort.stats.design import log_offset
from cohort.stats.poisson import fit_glm

__all__ = ["SegmentedRegression", "its_design"]

TERMS = ("Intercept", "time", "level_change", "slope_change")
SEASON_TERMS = ("season_Q2", "season_Q3", "season_Q4")


def its_design(periods, change_date) -> pd.DataFrame:
    """The ITS covariates ``time``, ``post``, ``time_since_change`` for period start dates.

    >>> its_design(pd.Series(pd.date_range("2024-01-01", periods=4, freq="QS")), "2024-07-01")
       time  post  time_since_change
    0     0     0                  0
    1     1     0                  0
    2     2     1                  0
    3     3     1                  1
    """
    qi = quarter_index(periods)
    time = qi - qi.min()
    post = (pd.to_datetime(pd.Series(periods)).to_numpy() >= np.datetime64(pd.Timestamp(change_date))).astype(int)
    first_post = quarter_index([pd.Timestamp(change_date)])[0] - qi.min()
    # The first post period is the first whole quarter starting on or after the change date.
    if post.any():
        first_post = time[post == 1].min()
    tsc = np.where(post == 1, time - first_post, 0)
    return pd.DataFrame({"time": time, "post": post, "time_since_change": tsc})


class SegmentedRegression(RegressionModel):
    """Segmented regression of a count series around ``change_date`` (quasi-Poisson).

    Parameters
    ----------
    change_date : date-like
        First day of the new regime.
    quasi : bool
        Estimate the dispersion (quasi-Poisson, default) or fix it at 1 (Poisson).
    seasonal : bool
        Adjust for season with quarter-of-year indicators (``season_Q2`` .. ``season_Q4``,
        Q1 the reference), as ``factor(quarter_of_year)`` in R; Lopez Bernal et al. discuss
        this and Fourier terms.
    alpha : float
    max_iter, tol : IRLS iterations and tolerance (statsmodels ``GLM.fit``).

    Attributes
    ----------
    params_, variance_matrix_, summary
        Terms ``Intercept, time, level_change, slope_change`` (and the season terms).
    dispersion_ : float
        Pearson chi2 / residual df (the scale estimate of the quasi-Poisson fit).
    n_pre_, n_post_ : int
        Periods with a count before and from the change date; ``first_post_period_`` the
        start of the first post period of the series (where ``level_change`` applies).
    periods_left_out_ : list of str
        Start dates of the periods left out because their count is missing.
    n_ : int
        Periods.
    term_support_ : DataFrame
        The unit is a period (a row of the aggregated series), not a household;
        ``events`` sums the counts behind each term.

    Examples
    --------
    >>> q = pd.date_range("2023-01-01", periods=10, freq="QS")
    >>> n = [20, 22, 21, 24, 30, 33, 35, 38, 41, 44]
    >>> df = pd.DataFrame({"start": q, "n": n, "pt": 1000.0})
    >>> its = SegmentedRegression("2024-01-01").fit(df, "n", "start", "pt")
    >>> its.summary.index.tolist(), its.n_pre_, its.n_post_
    (['Intercept', 'time', 'level_change', 'slope_change'], 4, 6)
    """

    _exp_scale = "rate ratio"
    _release_ratio_names = ("rate_ratio", "rr_ci_lower", "rr_ci_upper")

    def __init__(self, change_date, quasi: bool = True, seasonal: bool = False,
                 alpha: float = 0.05, max_iter: int = 100, tol: float = 1e-12):
        super().__init__(alpha)
        self.change_date = to_date(change_date, "change_date")
        self.quasi = quasi
        self.seasonal = seasonal
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, df: pd.DataFrame, count_col: str, period_col: str,
            person_time_col: str | None = None):
        """Fit to one series (one row per period); returns ``self``.

        Parameters
        ----------
        df : DataFrame
        count_col : str
        period_col : str
            Start date of each period (e.g. ``interval_start``).
        person_time_col : str, optional

        Periods whose count (or person-time) is missing - a quarter whose count disclosure
        control suppressed, a quarter after the data ends - are left out, as R's ``glm``
        does (``na.action = na.omit``), after ``time`` and ``time_since_change`` are
        counted over the whole series; ``periods_left_out_`` lists them and a
        :class:`~cohort.stats.base.StatisticalWarning` says so (a suppressed count is a small
        one, so leaving it out can overstate the level).

        Returns a not-estimable result (``not_estimable_``) when no period has a count
        (reason ``counts_missing``), every count is 0 (``no_events``), or fewer than two
        periods with a count lie before or after the change date, or no more than there
        are terms (``too_few_periods``: the quasi-Poisson scale needs a residual degree of
        freedom).

        Raises
        ------
        DefinitionError
            A column is missing.
        """
        _check_columns(df, [count_col, period_col, person_time_col])
        if not len(df):  # no period with a count (e.g. every count suppressed and left out)
            raise NotEstimable("counts_missing")
        change = self.change_date
        d = df.sort_values(period_col)
        design = its_design(d[period_col], change)
        X = np.column_stack([np.ones(len(d)), design.to_numpy(dtype=float)])
        terms = list(TERMS)
        if self.seasonal:
            qoy = pd.DatetimeIndex(pd.to_datetime(d[period_col])).quarter.to_numpy()
            X = np.column_stack([X] + [(qoy == k).astype(float) for k in (2, 3, 4)])
            terms += list(SEASON_TERMS)
        y = pd.to_numeric(d[count_col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        present = np.isfinite(y)
        if person_time_col is not None:
            pt = pd.to_numeric(d[person_time_col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            present &= np.isfinite(pt)
        periods = pd.to_datetime(d[period_col])
        post = design["post"].to_numpy() == 1
        first_post = pd.Timestamp(periods[post].min()) if post.any() else None
        self.periods_left_out_ = [p.date().isoformat() for p in periods[~present]]
        if not present.any():
            raise NotEstimable("counts_missing")
        if self.periods_left_out_:
            warnings.warn(
                f"the segmented regression leaves out {len(self.periods_left_out_)} period(s) "
                f"without a count ({', '.join(self.periods_left_out_)}), as R's glm does "
                "(na.omit); a suppressed count is a small one, so this can overstate the level",
                StatisticalWarning, stacklevel=3,
            )
        d, design, X, y = d[present], design[present], X[present], y[present]
        npre, npost = int((design["post"] == 0).sum()), int((design["post"] == 1).sum())
        if npre < 2 or npost < 2 or len(d) - X.shape[1] < (1 if self.quasi else 0):
            raise NotEstimable(
                "too_few_periods",
                f"segmented regression needs at least 2 periods before and after the change "
                f"date {change.date()} and more periods than terms ({X.shape[1]}); the series "
                f"has {npre} before and {npost} after",
                n_pre=npre, n_post=npost, change_date=change.date(), n_terms=X.shape[1],
            )
        if self.seasonal and np.linalg.matrix_rank(X) < X.shape[1]:
            raise DefinitionError(
                f"too few periods ({len(d)}) for a seasonal segmented regression"
            )
        if not (y > 0).any():
            raise NotEstimable("no_events")
        X = pd.DataFrame(X, columns=terms, index=d.index)
        fit = fit_glm(self, y, X, sm.families.Poisson(), offset=log_offset(d, person_time_col),
                      scale="X2" if self.quasi else None, what="segmented regression")
        self.dispersion_ = float(fit.pearson_chi2 / fit.df_resid) if fit.df_resid > 0 else float("nan")
        self.n_pre_, self.n_post_ = npre, npost
        self.n_ = len(d)
        self.first_post_period_ = first_post
        self.count_col, self.period_col, self.person_time_col = count_col, period_col, person_time_col
        self.term_support_ = term_support(X.to_numpy(), terms, np.arange(len(y)), y)
        return self

    def release_table(self) -> pd.DataFrame:
        """``term, estimate, se, ci_lower, ci_upper, statistic, p, rate_ratio, rr_ci_lower,
        rr_ci_upper, dispersion, n_pre, n_post``: the columns of the released table."""
        out = super().release_table()
        out["dispersion"] = self.dispersion_
        out["n_pre"], out["n_post"] = self.n_pre_, self.n_post_
        return out

    def describe(self) -> dict:
        """Family, scale estimate, change date, first post period, periods either side."""
        out = super().describe()
        out.update(family="quasi-Poisson" if self.quasi else "Poisson", link="log",
                   scale="Pearson chi2 / residual df" if self.quasi else "fixed at 1",
                   dispersion=self.dispersion_, offset=self.person_time_col,
                   change_date=self.change_date.date().isoformat(),
                   first_post_period=self.first_post_period_.date().isoformat(),
                   n_pre=self.n_pre_, n_post=self.n_post_, seasonal=self.seasonal,
                   unit="period", periods_left_out=list(self.periods_left_out_))
        return out
