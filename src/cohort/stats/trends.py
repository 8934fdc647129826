"""Quarterly trends: intervals for counts, rates and proportions, percent change, trend models.

Every function takes a plain long table (one row per quarter, and per site or other group)
with the column names passed explicitly, and returns a new tidy DataFrame; the input is
never changed. The measures framework's series (columns ``indicator``, ``interval_start``,
``interval_end``, group columns, ``numerator``, ``denominator``, ``value``) fits directly.

Methods and the R function each one agrees with (tests compare with fixtures computed by
``r/trends_reference.R``):

==========================  ==========================================  ============================
quantity                    method                                      R
==========================  ==========================================  ============================
count, rate                 exact Poisson (Garwood) interval            ``survival::cipoisson``
proportion                  Wilson score (default) or Clopper-Pearson   ``prop.test(correct=FALSE)``,
                                                                        ``binom.test``
percent change (APC/AAPC)   log-linear least squares, 100(exp(b)-1),    ``lm(log(y) ~ t)``
                            t-distribution interval
Poisson trend               GLM, log link, log person-time offset       ``glm(family=poisson)``
negative binomial trend     ML with the dispersion theta estimated      ``MASS::glm.nb``
share trend (logistic)      binomial GLM on grouped counts              ``glm(family=binomial)``
segmented regression (ITS)  quasi-Poisson, offset, level + slope change ``glm(family=quasipoisson)``
==========================  ==========================================  ============================

Intervals of model coefficients are Wald intervals (``confint.default`` in R). Rate
ratios are ``exp`` of coefficients with the interval transformed the same way.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special, stats

from cohort.exceptions import DefinitionError, ParameterError


def _check(df: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise DefinitionError(
            f"column(s) {missing} not found (columns present: {list(df.columns)}); "
            "pass the names of existing columns"
        )


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ParameterError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")


def quarter_index(dates) -> np.ndarray:
    """Number calendar quarters consecutively: ``4 * year + quarter - 1``.

    Differences between two values are whole quarters, whatever day of the quarter the
    dates fall on.

    >>> quarter_index(pd.Series(pd.to_datetime(["2023-01-01", "2023-12-31", "2024-04-01"])))
    array([8092, 8095, 8097])
    """
    d = pd.DatetimeIndex(pd.to_datetime(dates))
    return (d.year * 4 + d.quarter - 1).to_numpy(dtype=np.int64)


def with_quarter_number(df: pd.DataFrame, period_col: str = "interval_start",
                        col: str = "quarter", start: int = 0) -> pd.DataFrame:
    """Copy of ``df`` with a whole-quarter time column counted from its first period.

    For the long series of :mod:`cohort.measures` (``interval_start``): models need a
    numeric time. Fit trend models to series evaluated without disclosure control
    (suppressed counts are missing) and release the model output with
    :func:`cohort.disclosure.tables.release_model_table`.

    >>> s = pd.DataFrame({"interval_start": pd.to_datetime(["2023-01-01", "2023-04-01", "2024-01-01"])})
    >>> with_quarter_number(s)["quarter"].tolist()
    [0, 1, 4]
    """
    _check(df, [period_col])
    out = df.copy()
    qi = quarter_index(out[period_col])
    out[col] = qi - qi.min() + start
    return out


# ---------------------------------------------------------------- percent change


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
        Numeric time, e.g. :func:`quarter_index` of ``interval_start``; the unit sets the
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
    _check(df, [time_col, value_col, *by])
    _check_alpha(alpha)
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


# ---------------------------------------------------------------- count models


def _design(df, time_col, covariates, categorical, levels=None):
    cols = {"Intercept": np.ones(len(df))}
    if time_col is not None:
        cols[time_col] = df[time_col].to_numpy(dtype=float)
    for c in covariates:
        cols[c] = df[c].to_numpy(dtype=float)
    for c in categorical:
        v = df[c].astype("string")
        lv = list(levels[c]) if levels and c in levels else sorted(v.dropna().unique())
        for level in lv[1:]:
            cols[f"{c}[T.{level}]"] = (v == level).to_numpy(dtype=float, na_value=np.nan)
    return pd.DataFrame(cols, index=df.index)


def _offset(df, person_time_col):
    if person_time_col is None:
        return None
    pt = df[person_time_col].to_numpy(dtype=float)
    if np.any(~np.isfinite(pt) | (pt <= 0)):
        raise DefinitionError(
            f"person-time column '{person_time_col}' must be positive in every row; "
            "drop periods without person-time first"
        )
    return np.log(pt)


def _coef_table(names, est, se, alpha, dist="normal", df_resid=None):
    est, se = np.asarray(est, float), np.asarray(se, float)
    z = est / se
    if dist == "t":
        q = stats.t.ppf(1 - alpha / 2, df_resid)
        p = 2 * stats.t.sf(np.abs(z), df_resid)
    else:
        q = stats.norm.ppf(1 - alpha / 2)
        p = 2 * stats.norm.sf(np.abs(z))
    lo, hi = est - q * se, est + q * se
    return pd.DataFrame({
        "term": list(names), "estimate": est, "se": se, "ci_lower": lo, "ci_upper": hi,
        "statistic": z, "p": p, "rate_ratio": np.exp(est),
        "rr_ci_lower": np.exp(lo), "rr_ci_upper": np.exp(hi),
    })


def poisson_trend(df: pd.DataFrame, count_col: str, time_col: str | None,
                  person_time_col: str | None = None, covariates=(), categorical=(),
                  scale: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Poisson regression of counts on time with a log person-time offset.

    ``log E[count] = log(person_time) + b0 + b1 time + ...``; equal to R's
    ``glm(count ~ time + ..., offset = log(person_time), family = poisson)``.
    ``scale="X2"`` gives quasi-Poisson (dispersion = Pearson chi2 / residual df, as
    ``family = quasipoisson``). Intervals are Wald (``confint.default``).

    Returns
    -------
    DataFrame: ``term, estimate, se, ci_lower, ci_upper, statistic, p, rate_ratio,
    rr_ci_lower, rr_ci_upper``; attributes ``dispersion`` (Pearson chi2 / df),
    ``deviance``, ``df_resid``.

    Examples
    --------
    >>> df = pd.DataFrame({"q": np.arange(6.0), "n": [10, 12, 15, 13, 18, 22], "py": [100.0] * 6})
    >>> poisson_trend(df, "n", "q", "py")[["term", "estimate"]].round(4)
            term  estimate
    0  Intercept   -2.2950
    1          q    0.1467
    """
    _check(df, [count_col, time_col, person_time_col, *covariates, *categorical])
    _check_alpha(alpha)
    X = _design(df, time_col, covariates, categorical)
    y = df[count_col].to_numpy(dtype=float)
    fit = sm.GLM(y, X.to_numpy(), family=sm.families.Poisson(),
                 offset=_offset(df, person_time_col)).fit(scale=scale, tol=1e-12)
    out = _coef_table(X.columns, fit.params, fit.bse, alpha)
    out.attrs.update(dispersion=float(fit.pearson_chi2 / fit.df_resid), deviance=float(fit.deviance),
                     df_resid=float(fit.df_resid), model="quasi-Poisson" if scale else "Poisson")
    return out


def logistic_trend(df: pd.DataFrame, numerator_col: str, denominator_col: str,
                   time_col: str | None, covariates=(), categorical=(),
                   alpha: float = 0.05) -> pd.DataFrame:
    """Binomial (logistic) regression of a quarterly share on time.

    ``logit P = b0 + b1 time + ...`` fitted to grouped counts, equal to R's
    ``glm(cbind(x, n - x) ~ time + ..., family = binomial)``. For shares such as
    registrations without children among registrations. Rows with a zero denominator are
    left out. ``rate_ratio`` columns hold odds ratios here (``exp`` of the coefficients).

    Examples
    --------
    >>> df = pd.DataFrame({"q": np.arange(6.0), "x": [10, 12, 15, 14, 18, 21], "n": [100] * 6})
    >>> logistic_trend(df, "x", "n", "q")[["term", "estimate"]].round(4)
            term  estimate
    0  Intercept   -2.1707
    1          q    0.1636
    """
    _check(df, [numerator_col, denominator_col, time_col, *covariates, *categorical])
    _check_alpha(alpha)
    x = df[numerator_col].to_numpy(dtype=float)
    n = df[denominator_col].to_numpy(dtype=float)
    if np.any((x < 0) | (x > n)):
        raise DefinitionError(f"'{numerator_col}' must lie between 0 and '{denominator_col}' in every row")
    keep = n > 0
    X = _design(df.loc[keep], time_col, covariates, categorical)
    fit = sm.GLM(np.column_stack([x[keep], n[keep] - x[keep]]), X.to_numpy(),
                 family=sm.families.Binomial()).fit(tol=1e-12)
    out = _coef_table(X.columns, fit.params, fit.bse, alpha)
    out = out.rename(columns={"rate_ratio": "odds_ratio", "rr_ci_lower": "or_ci_lower",
                              "rr_ci_upper": "or_ci_upper"})
    out.attrs.update(deviance=float(fit.deviance), df_resid=float(fit.df_resid), model="binomial")
    return out


class NegativeBinomialModel:
    """Negative-binomial (NB2) regression with the dispersion ``theta`` estimated by ML.

    ``Var(Y) = mu + mu^2 / theta``. Agrees with ``MASS::glm.nb``: the joint maximum
    likelihood estimate of ``beta`` and ``theta``; standard errors of ``beta`` from the
    expected information at the estimate with ``theta`` held fixed (what
    ``summary(glm.nb(...))`` reports); ``theta_se_`` from the observed information of
    ``theta`` with ``mu`` fixed (``glm.nb``'s ``SE.theta``). ``theta`` is profiled: for each
    value a GLM with a fixed NB family is fitted by IRLS, and the profile log-likelihood is
    maximised over ``log(theta)``. (statsmodels' ``families.NegativeBinomial()`` alone fixes
    ``alpha = 1/theta = 1``, which is why it is not used on its own.)

    Parameters
    ----------
    alpha : float
        1 - confidence level of the Wald intervals.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> q = np.arange(40.0)
    >>> n = rng.negative_binomial(5, 5 / (5 + 20 * np.exp(0.02 * q)))
    >>> m = NegativeBinomialModel().fit(pd.DataFrame({"q": q, "n": n}), "n", "q")
    >>> bool(m.theta_ > 0), m.summary["term"].tolist()
    (True, ['Intercept', 'q'])
    """

    def __init__(self, alpha: float = 0.05):
        _check_alpha(alpha)
        self.alpha = alpha

    def fit(self, df: pd.DataFrame, count_col: str, time_col: str | None,
            person_time_col: str | None = None, covariates=(), categorical=()):
        """Fit; returns ``self``. See :func:`negbin_trend` for the arguments."""
        _check(df, [count_col, time_col, person_time_col, *covariates, *categorical])
        X = _design(df, time_col, covariates, categorical)
        y = df[count_col].to_numpy(dtype=float)
        off = _offset(df, person_time_col)
        Xa = X.to_numpy()

        def glm(theta):
            return sm.GLM(y, Xa, family=sm.families.NegativeBinomial(alpha=1.0 / theta),
                          offset=off).fit(tol=1e-13, maxiter=200)

        def nll(log_theta):
            theta = np.exp(log_theta)
            mu = glm(theta).fittedvalues
            return -self._loglik(y, mu, theta)

        # Start at the moment estimate of theta from a Poisson fit (as glm.nb does).
        pois = sm.GLM(y, Xa, family=sm.families.Poisson(), offset=off).fit()
        mu0 = pois.fittedvalues
        excess = np.sum((y - mu0) ** 2 / mu0 - 1) / (len(y) - Xa.shape[1])
        start = np.log(np.clip(np.mean(mu0) / excess if excess > 0 else 100.0, 1e-3, 1e6))
        res = optimize.minimize(lambda v: nll(v[0]), [start], method="BFGS",
                                options=dict(gtol=1e-10))
        res = optimize.minimize_scalar(nll, bracket=(res.x[0] - 0.05, res.x[0] + 0.05),
                                       tol=1e-12)
        theta = float(np.exp(res.x))
        if theta > 1e5:
            warnings.warn("theta is very large: the data show no overdispersion; "
                          "use poisson_trend instead", UserWarning, stacklevel=2)
        fit = glm(theta)
        mu = fit.fittedvalues
        info = np.sum(-special.polygamma(1, theta + y) + special.polygamma(1, theta) - 1 / theta
                      + 2 / (mu + theta) - (y + theta) / (mu + theta) ** 2)
        self.theta_ = theta
        self.theta_se_ = float(1 / np.sqrt(info)) if info > 0 else np.nan
        self.params_ = pd.Series(fit.params, index=X.columns)
        self.bse_ = pd.Series(fit.bse, index=X.columns)
        self.loglik_ = float(self._loglik(y, mu, theta))
        self.twologlik_ = 2 * self.loglik_
        self.deviance_ = float(fit.deviance)
        self.n_obs_ = len(y)
        self.summary = _coef_table(X.columns, fit.params, fit.bse, self.alpha)
        self.summary.attrs.update(theta=theta, theta_se=self.theta_se_, model="negative binomial")
        return self

    @staticmethod
    def _loglik(y, mu, theta):
        return float(np.sum(special.gammaln(theta + y) - special.gammaln(theta) - special.gammaln(y + 1)
                            + theta * np.log(theta) + y * np.log(mu)
                            - (theta + y) * np.log(theta + mu)))


def negbin_trend(df: pd.DataFrame, count_col: str, time_col: str | None,
                 person_time_col: str | None = None, covariates=(), categorical=(),
                 alpha: float = 0.05) -> pd.DataFrame:
    """Negative-binomial regression of counts on time with a log person-time offset.

    Equal to ``MASS::glm.nb(count ~ time + ... + offset(log(person_time)))``; the
    dispersion ``theta`` is estimated (see :class:`NegativeBinomialModel`) and returned in
    the attributes ``theta`` and ``theta_se``.

    Examples
    --------
    >>> df = pd.DataFrame({"q": np.arange(8.0), "n": [10, 25, 9, 30, 12, 40, 15, 38], "py": [50.0] * 8})
    >>> out = negbin_trend(df, "n", "q", "py")
    >>> out["term"].tolist(), round(out.attrs["theta"], 2)
    (['Intercept', 'q'], 5.73)
    """
    return NegativeBinomialModel(alpha=alpha).fit(
        df, count_col, time_col, person_time_col, covariates, categorical).summary


# ---------------------------------------------------------------- interrupted time series


def segmented_regression(df: pd.DataFrame, count_col: str, period_col: str, change_date,
                         person_time_col: str | None = None, by=(), quasi: bool = True,
                         seasonal: bool = False, alpha: float = 0.05) -> pd.DataFrame:
    """Segmented (interrupted time series) regression around a change date.

    After Lopez Bernal, Cummins & Gasparrini (2017): a quasi-Poisson GLM with a log
    offset for the population (person-time)::

        log E[count] = log(pt) + b0 + b1 time + b2 post + b3 time_since_change

    ``time`` counts quarters from the first period (0, 1, ...), using
    :func:`quarter_index` of ``period_col``; ``post = 1`` for periods starting on or after
    ``change_date``; ``time_since_change = time - time of the first post period`` for
    post periods (0 before), so ``b2`` is the level change at the first post period and
    ``b3`` the change in slope. The dispersion is Pearson chi2 / residual df
    (``quasi=True``, as ``family = quasipoisson``; statsmodels ``fit(scale="X2")``).
    Intervals are Wald; rate ratios ``exp(b)``.

    Parameters
    ----------
    df : DataFrame
        One row per period (per group when ``by`` is given).
    count_col : str
    period_col : str
        Start date of each period (e.g. ``interval_start``).
    change_date : date-like
        First day of the new regime.
    person_time_col : str, optional
    by : sequence of str
        One model per group.
    quasi : bool
    seasonal : bool
        Adjust for season with quarter-of-year indicators (``season_Q2`` .. ``season_Q4``,
        Q1 the reference), as ``factor(quarter_of_year)`` in R; Lopez Bernal et al. discuss
        this and Fourier terms.
    alpha : float

    Returns
    -------
    DataFrame: ``by..., term (Intercept, time, level_change, slope_change[, season_Q2..Q4]), estimate, se,
    ci_lower, ci_upper, statistic, p, rate_ratio, rr_ci_lower, rr_ci_upper, dispersion,
    n_pre, n_post``.

    Raises
    ------
    DefinitionError
        Fewer than two periods before or after the change date.

    Examples
    --------
    >>> q = pd.date_range("2023-01-01", periods=10, freq="QS")
    >>> n = [20, 22, 21, 24, 30, 33, 35, 38, 41, 44]
    >>> df = pd.DataFrame({"start": q, "n": n, "pt": 1000.0})
    >>> out = segmented_regression(df, "n", "start", "2024-01-01", "pt")
    >>> out["term"].tolist()
    ['Intercept', 'time', 'level_change', 'slope_change']
    """
    by = list(by)
    _check(df, [count_col, period_col, person_time_col, *by])
    _check_alpha(alpha)
    change = pd.Timestamp(change_date)
    if by:
        grouped = df.groupby(by, sort=True, observed=True).indices.items()
    else:
        grouped = [((), np.arange(len(df)))]
    pieces = []
    for key, idx in grouped:
        key = key if isinstance(key, tuple) else (key,)
        d = df.iloc[idx].sort_values(period_col)
        design = its_design(d[period_col], change)
        npre, npost = int((design["post"] == 0).sum()), int((design["post"] == 1).sum())
        if npre < 2 or npost < 2:
            raise DefinitionError(
                f"segmented regression needs at least 2 periods before and after the change "
                f"date {change.date()}; group {key} has {npre} before and {npost} after"
            )
        X = np.column_stack([np.ones(len(d)), design.to_numpy(dtype=float)])
        terms = ["Intercept", "time", "level_change", "slope_change"]
        if seasonal:
            qoy = pd.DatetimeIndex(pd.to_datetime(d[period_col])).quarter.to_numpy()
            X = np.column_stack([X] + [(qoy == k).astype(float) for k in (2, 3, 4)])
            terms += ["season_Q2", "season_Q3", "season_Q4"]
            if len(d) - X.shape[1] < 1 or np.linalg.matrix_rank(X) < X.shape[1]:
                raise DefinitionError(
                    f"too few periods ({len(d)}) for a seasonal segmented regression in group {key}"
                )
        fit = sm.GLM(d[count_col].to_numpy(dtype=float), X, family=sm.families.Poisson(),
                     offset=_offset(d, person_time_col)).fit(scale="X2" if quasi else None, tol=1e-12)
        tab = _coef_table(terms, fit.params, fit.bse, alpha)
        tab["dispersion"] = float(fit.pearson_chi2 / fit.df_resid)
        tab["n_pre"], tab["n_post"] = npre, npost
        for col, v in zip(by, key, strict=True):
            tab[col] = v
        pieces.append(tab)
    out = pd.concat(pieces, ignore_index=True)
    return out[by + [c for c in out.columns if c not in by]]


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
