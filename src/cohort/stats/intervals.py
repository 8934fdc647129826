"""Confidence intervals: pointwise transforms for curves, proportions and Poisson rates.

The one implementation of each interval the workbench reports:

* :func:`confint` - pointwise limits of a survival or incidence curve (``conf_type`` "log",
  "log-log", "plain"), as R's ``survival:::survfit_confint``;
* :func:`proportion_ci` - the binomial interval of proportions on arrays (Wilson = R's
  ``prop.test(correct = FALSE)``, Clopper-Pearson = ``binom.test``), and
  :func:`proportion_intervals`, the same added to a table;
* :func:`rate_intervals` and :func:`count_intervals` - exact Poisson (Garwood) intervals,
  as ``survival::cipoisson``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.rates import confint_poisson

from cohort.exceptions import DefinitionError, ParameterError
from cohort.stats.base import _check_columns, check_alpha

CONF_TYPES = ("log", "log-log", "plain")


def _check_conf_type(conf_type) -> str:
    if conf_type not in CONF_TYPES:
        raise DefinitionError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")
    return conf_type


def confint(p, se, conf_type: str, alpha: float, logse: bool = True):
    """Pointwise confidence limits exactly as R's ``survival:::survfit_confint``.

    Parameters
    ----------
    p : array
        Estimate (survival or state probability).
    se : array
        Standard error of ``log(p)`` when ``logse`` (KM), else of ``p`` (multi-state).
    conf_type : {"log", "log-log", "plain"}
    alpha : float
    logse : bool

    Returns
    -------
    (lower, upper) : tuple of arrays (NaN where R gives NA)

    Examples
    --------
    >>> lo, up = confint(np.array([0.5]), np.array([0.1]), "log", 0.05)
    >>> round(float(lo[0]), 6), round(float(up[0]), 6)
    (0.411008, 0.608261)
    """
    p = np.asarray(p, dtype=float)
    se = np.asarray(se, dtype=float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if not logse:
            se = np.where(se == 0, 0.0, se / p)
        if conf_type == "plain":
            se2 = se * p * z
            return np.maximum(p - se2, 0), np.minimum(p + se2, 1)
        if conf_type == "log":
            xx = np.where(p == 0, np.nan, p)
            se2 = z * se
            return np.exp(np.log(xx) - se2), np.minimum(np.exp(np.log(xx) + se2), 1)
        if conf_type == "log-log":
            xx = np.where((p == 0) | (p == 1), np.nan, p)
            se2 = z * se / np.log(xx)
            return (
                np.exp(-np.exp(np.log(-np.log(xx)) - se2)),
                np.exp(-np.exp(np.log(-np.log(xx)) + se2)),
            )
    raise DefinitionError(f"conf_type must be one of {CONF_TYPES}, got {conf_type!r}")


#: Binomial interval methods: name -> statsmodels ``proportion_confint`` method.
PROPORTION_METHODS = {"wilson": "wilson", "clopper-pearson": "beta"}


# ---------------------------------------------------------------- intervals


def proportion_ci(numerator, denominator, method: str = "wilson", alpha: float = 0.05, *,
                  error=ParameterError) -> tuple[np.ndarray, np.ndarray]:
    """Binomial confidence interval of ``numerator / denominator`` per element.

    ``method="wilson"`` equals R's ``prop.test(x, n, correct = FALSE)$conf.int``,
    ``"clopper-pearson"`` R's ``binom.test(x, n)$conf.int``. Limits lie in [0, 1]; they are
    ``NaN`` where the denominator is 0 or missing, or the numerator is missing, negative
    or above the denominator (:func:`proportion_intervals` refuses those instead).

    Parameters
    ----------
    numerator, denominator : array-like
    method : {"wilson", "clopper-pearson"}
    alpha : float
        1 - confidence level.
    error : exception class
        Raised for an unknown ``method`` or a bad ``alpha``
        (:class:`~cohort.exceptions.ParameterError` by default: these usually come from a
        parameter file).

    Returns
    -------
    (lower, upper) : arrays of the shape of ``numerator``

    Examples
    --------
    >>> lo, hi = proportion_ci([88, 0], [557, 0])
    >>> print(f"{lo[0]:.5f} {hi[0]:.5f}", np.isnan(lo[1]))
    0.13006 0.19061 True
    """
    if method not in PROPORTION_METHODS:
        raise error(
            f"proportion interval method must be one of {', '.join(PROPORTION_METHODS)}, "
            f"got {method!r}"
        )
    check_alpha(alpha, error=error)
    x = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    ok = np.isfinite(x) & np.isfinite(n) & (n > 0) & (x >= 0) & (x <= n)
    lower = np.full(x.shape, np.nan)
    upper = np.full(x.shape, np.nan)
    if ok.any():
        lo, hi = proportion_confint(x[ok], n[ok], alpha=alpha, method=PROPORTION_METHODS[method])
        lower[ok] = np.clip(lo, 0.0, 1.0)
        upper[ok] = np.clip(hi, 0.0, 1.0)
    return lower, upper


def count_intervals(df: pd.DataFrame, count_col: str, alpha: float = 0.05) -> pd.DataFrame:
    """Add an exact Poisson interval for a count (``ci_lower``, ``ci_upper``, ``ci_method``).

    The interval is Garwood's: ``chi2(alpha/2, 2k)/2`` to ``chi2(1-alpha/2, 2k+2)/2``,
    equal to ``survival::cipoisson(k)``; the lower limit of a zero count is 0.

    >>> count_intervals(pd.DataFrame({"n": [0, 10]}), "n").round(3)[["ci_lower", "ci_upper"]]
       ci_lower  ci_upper
    0     0.000     3.689
    1     4.795    18.390
    """
    return rate_intervals(df, count_col, None, alpha=alpha, rate_col=None)


def rate_intervals(df: pd.DataFrame, events_col: str, person_time_col: str | None,
                   per: float = 1.0, alpha: float = 0.05, rate_col: str | None = "rate"
                   ) -> pd.DataFrame:
    """Add a rate per ``per`` units of person-time with its exact Poisson interval.

    Parameters
    ----------
    df : DataFrame
    events_col : str
        Event counts (whole numbers >= 0).
    person_time_col : str or None
        Person-time at risk; ``None`` gives an interval for the count itself.
    per : float
        Multiplier (e.g. 1000 for a rate per 1000 person-years).
    alpha : float
    rate_col : str or None
        Name of the rate column added (not added when ``None``).

    Returns
    -------
    DataFrame
        A copy with ``rate_col`` (if given), ``ci_lower``, ``ci_upper`` and
        ``ci_method = "exact Poisson"``. Rows with zero or missing person-time get NaN.

    Raises
    ------
    DefinitionError
        A column is missing, or a count is negative or not whole.

    Examples
    --------
    >>> df = pd.DataFrame({"events": [3], "years": [200.0]})
    >>> rate_intervals(df, "events", "years", per=1000).round(2)
       events  years  rate  ci_lower  ci_upper      ci_method
    0       3  200.0  15.0      3.09     43.84  exact Poisson
    """
    _check_columns(df, [events_col, person_time_col])
    check_alpha(alpha)
    k = df[events_col].to_numpy(dtype=float, na_value=np.nan)
    bad = np.isfinite(k) & ((k < 0) | (k != np.round(k)))
    if bad.any():
        raise DefinitionError(
            f"column '{events_col}' must hold whole counts >= 0; row {int(np.flatnonzero(bad)[0])} does not"
        )
    if person_time_col is None:
        exposure = np.ones_like(k)
    else:
        exposure = df[person_time_col].to_numpy(dtype=float, na_value=np.nan)
    valid = np.isfinite(k) & np.isfinite(exposure) & (exposure > 0)
    lo = np.full(len(k), np.nan)
    hi = np.full(len(k), np.nan)
    if valid.any():
        lo[valid], hi[valid] = confint_poisson(k[valid], exposure[valid], method="exact-c", alpha=alpha)
    out = df.copy()
    if rate_col is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rate_col] = np.where(valid, k / exposure * per, np.nan)
    out["ci_lower"] = lo * per
    out["ci_upper"] = hi * per
    out["ci_method"] = "exact Poisson"
    return out


def proportion_intervals(df: pd.DataFrame, numerator_col: str, denominator_col: str,
                         method: str = "wilson", alpha: float = 0.05,
                         proportion_col: str = "proportion") -> pd.DataFrame:
    """Add a proportion with its Wilson or Clopper-Pearson interval.

    ``method="wilson"`` equals R's ``prop.test(x, n, correct = FALSE)$conf.int``;
    ``method="clopper-pearson"`` equals ``binom.test(x, n)$conf.int``
    (:func:`proportion_ci`). The method's name is written in the ``ci_method`` column. A
    zero denominator gives NaN.

    Raises
    ------
    DefinitionError
        A column is missing, or a numerator is negative or above its denominator.
    ParameterError
        ``method`` is unknown.

    Examples
    --------
    >>> df = pd.DataFrame({"x": [3, 0], "n": [10, 0]})
    >>> proportion_intervals(df, "x", "n").round(4)[["proportion", "ci_lower", "ci_upper"]]
       proportion  ci_lower  ci_upper
    0         0.3    0.1078    0.6032
    1         NaN       NaN       NaN
    """
    _check_columns(df, [numerator_col, denominator_col])
    check_alpha(alpha)
    x = df[numerator_col].to_numpy(dtype=float, na_value=np.nan)
    n = df[denominator_col].to_numpy(dtype=float, na_value=np.nan)
    if np.any(np.isfinite(x) & np.isfinite(n) & ((x < 0) | (x > n))):
        raise DefinitionError(
            f"'{numerator_col}' must lie between 0 and '{denominator_col}' in every row"
        )
    valid = np.isfinite(x) & np.isfinite(n) & (n > 0)
    lo, hi = proportion_ci(x, n, method, alpha)
    out = df.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out[proportion_col] = np.where(valid, x / n, np.nan)
    out["ci_lower"] = lo
    out["ci_upper"] = hi
    out["ci_method"] = method
    return out
