"""Balance diagnostics of a weighting: standardised mean differences, effective sample size,
the weight distribution.

Weighting is only as good as the balance it achieves, so every weighted analysis reports:

* the **standardised mean difference** (SMD) of every covariate term between the arms,
  before and after weighting: ``(mean_pilot - mean_comparison) / s``, with
  ``s = sqrt((var_pilot + var_comparison) / 2)`` from the *unweighted* arms (sample
  variances, as R's ``var``), the same ``s`` before and after, so the change shows the
  change in the means only. A categorical covariate gets a row per level. Absolute SMDs
  below 0.1 are the usual mark of balance;
* the **variance ratio** (pilot / comparison), unweighted and weighted (weighted variances
  as R's ``cov.wt(method = "unbiased")``);
* the **effective sample size** per arm, Kish's ``(sum w)^2 / sum w^2``: how many
  unweighted households the weighted arm is worth;
* the **weight distribution** per arm (minimum, percentiles, maximum, mean, truncated).

Counts of households are kept with each row (``n_pilot``, ``n_comparison``: households per
arm behind the row, for a level those with the level) so disclosure control can suppress
rows resting on too few households.

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"a": [1, 1, 1, 0, 0, 0], "x": [3.0, 2.0, 1.0, 1.0, 0.0, 2.0]})
>>> balance_table(d, "a", ["x"], weights=[1, 1, 1, 1, 1, 1])[["term", "smd_unweighted", "smd_weighted"]]
  term  smd_unweighted  smd_weighted
0    x             1.0           1.0
>>> effective_sample_size([1.0, 1.0, 2.0, 1.0], [1, 1, 1, 0])
{'pilot': 2.6666666666666665, 'comparison': 1.0}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.exceptions import DefinitionError
from cohort.stats.base import Estimator, _check_columns

__all__ = [
    "SMD_BALANCED",
    "Balance",
    "WeightDistribution",
    "balance_table",
    "effective_sample_size",
    "weight_summary",
]

#: The usual threshold of balance: an absolute standardised mean difference below 0.1.
SMD_BALANCED = 0.1

_ARMS = ("pilot", "comparison")


def _arrays(treatment, weights):
    a = np.asarray(treatment, dtype=float)
    w = np.asarray(weights, dtype=float)
    if a.shape != w.shape:
        raise DefinitionError("weights and treatment must be equally long")
    if not np.isin(a, (0.0, 1.0)).all():
        raise DefinitionError("the treatment must hold 0 (comparison) and 1 (pilot)")
    if not np.isfinite(w).all() or (w < 0).any():
        raise DefinitionError("weights must be finite and not negative")
    return a.astype(bool), w


def _terms(df: pd.DataFrame, covariates) -> list[tuple[str, str, np.ndarray]]:
    """(covariate, level, values) per term: numeric and yes/no columns as they are,
    text columns one 0/1 term per level (all levels)."""
    terms = []
    for col in covariates:
        s = df[col]
        if s.isna().any():
            raise DefinitionError(f"covariate {col!r} has missing values")
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            terms.append((col, "", s.astype("float64").to_numpy()))
            continue
        levels = (
            list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.unique())
        )
        for level in levels:
            terms.append((col, str(level), (s == level).to_numpy(dtype=float)))
    return terms


def _wmean(x, w):
    return float(np.sum(w * x) / np.sum(w))


def _wvar(x, w):
    """Weighted variance as R's cov.wt(method = "unbiased")."""
    v = w / np.sum(w)
    m = np.sum(v * x)
    denom = 1.0 - np.sum(v * v)
    return float(np.sum(v * (x - m) ** 2) / denom) if denom > 0 else np.nan


def balance_table(df: pd.DataFrame, treatment_col: str, covariates, weights) -> pd.DataFrame:
    """Balance of every covariate term before and after weighting (pure; ``df`` unchanged).

    Returns
    -------
    DataFrame
        One row per term: ``term, covariate, level, n_pilot, n_comparison, mean_pilot,
        mean_comparison, smd_unweighted, mean_pilot_weighted, mean_comparison_weighted,
        smd_weighted, variance_ratio_unweighted, variance_ratio_weighted``. ``term`` is
        ``covariate`` or ``covariate: level``; ``n_*`` are households behind the row.
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    _check_columns(df, [treatment_col, *covariates])
    a, w = _arrays(df[treatment_col], weights)
    rows = []
    for col, level, x in _terms(df, covariates):
        x1, x0, w1, w0 = x[a], x[~a], w[a], w[~a]
        v1 = float(np.var(x1, ddof=1)) if len(x1) > 1 else np.nan
        v0 = float(np.var(x0, ddof=1)) if len(x0) > 1 else np.nan
        s = np.sqrt((v1 + v0) / 2.0)
        m1, m0 = float(x1.mean()), float(x0.mean())
        mw1, mw0 = _wmean(x1, w1), _wmean(x0, w0)
        indicator = bool(level) or bool(np.isin(x, (0.0, 1.0)).all())
        with np.errstate(divide="ignore", invalid="ignore"):
            rows.append(
                {
                    "term": f"{col}: {level}" if level else col,
                    "covariate": col,
                    "level": level,
                    "n_pilot": int((x1 == 1).sum()) if indicator else int(len(x1)),
                    "n_comparison": int((x0 == 1).sum()) if indicator else int(len(x0)),
                    "mean_pilot": m1,
                    "mean_comparison": m0,
                    "smd_unweighted": (m1 - m0) / s if s > 0 else np.nan,
                    "mean_pilot_weighted": mw1,
                    "mean_comparison_weighted": mw0,
                    "smd_weighted": (mw1 - mw0) / s if s > 0 else np.nan,
                    "variance_ratio_unweighted": v1 / v0 if v0 > 0 else np.nan,
                    "variance_ratio_weighted": _wvar(x1, w1) / _wvar(x0, w0) if _wvar(x0, w0) > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows)


def effective_sample_size(weights, treatment) -> dict[str, float]:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` per arm."""
    a, w = _arrays(treatment, weights)
    out = {}
    for name, sel in (("pilot", a), ("comparison", ~a)):
        ws = w[sel]
        out[name] = float(ws.sum() ** 2 / np.sum(ws * ws)) if len(ws) else 0.0
    return out


def weight_summary(weights, treatment, truncated=None) -> pd.DataFrame:
    """The weight distribution per arm.

    Returns
    -------
    DataFrame
        One row per arm: ``arm, n, sum, mean, min, p01, p25, median, p75, p99, max,
        effective_sample_size, truncated`` (quantiles as R's ``quantile`` type 7).

    Examples
    --------
    >>> weight_summary([1.0, 2.0, 3.0, 1.0], [1, 1, 1, 0])[["arm", "n", "mean", "max"]]
              arm  n  mean  max
    0       pilot  3   2.0  3.0
    1  comparison  1   1.0  1.0
    """
    a, w = _arrays(treatment, weights)
    tr = np.zeros(len(w), dtype=bool) if truncated is None else np.asarray(truncated, dtype=bool)
    ess = effective_sample_size(w, a)
    rows = []
    for name, sel in (("pilot", a), ("comparison", ~a)):
        ws = w[sel]
        q = np.quantile(ws, [0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0]) if len(ws) else [np.nan] * 7
        rows.append(
            {
                "arm": name,
                "n": int(sel.sum()),
                "sum": float(ws.sum()),
                "mean": float(ws.mean()) if len(ws) else np.nan,
                "min": q[0], "p01": q[1], "p25": q[2], "median": q[3], "p75": q[4], "p99": q[5],
                "max": q[6],
                "effective_sample_size": ess[name],
                "truncated": int(tr[sel].sum()),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- results


def _weights_of(df: pd.DataFrame, weights, propensity) -> np.ndarray:
    if weights is None and propensity is None:
        raise DefinitionError("give the weights or the fitted propensity model behind them")
    if weights is None:
        if propensity.n_ != len(df):
            raise DefinitionError(
                f"the propensity model was fitted on {propensity.n_} rows, the table has {len(df)}: "
                "fit it on the same rows, in the same order"
            )
        return propensity.weights_.to_numpy(dtype=float)
    if isinstance(weights, str):
        _check_columns(df, [weights])
        return df[weights].to_numpy(dtype=float)
    return np.asarray(weights, dtype=float)


class Balance(Estimator):
    """Balance of the covariates between the arms before and after weighting, as a fitted
    result that disclosure control can release (:func:`balance_table` with the arms' sizes).

    Examples
    --------
    >>> d = pd.DataFrame({"a": [1, 1, 1, 0, 0, 0], "x": [3.0, 2.0, 1.0, 1.0, 0.0, 2.0]})
    >>> b = Balance().fit(d, "a", ["x"], weights=[1.0] * 6)
    >>> b.table_[["term", "smd_unweighted"]], (b.n_pilot_, b.n_comparison_)
    (  term  smd_unweighted
    0    x             1.0, (3, 3))

    Attributes
    ----------
    table_ : DataFrame
        :func:`balance_table` (one row per covariate term).
    n_pilot_, n_comparison_ : int
        Households per arm (unweighted).
    """

    _fitted_attribute = "table_"

    def fit(self, df: pd.DataFrame, treatment_col: str, covariates, weights=None, propensity=None):
        """Tabulate the balance.

        Parameters
        ----------
        df : DataFrame
            One row per household (a trial table).
        treatment_col : str
            1 for the pilot arm, 0 for the comparison arm.
        covariates : list of str
        weights : str or array, optional
            A column or one weight per row; default the weights of ``propensity``.
        propensity : PropensityScore, optional
            The fitted model behind the weights.

        Returns
        -------
        self
        """
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        _check_columns(df, [treatment_col, *covariates])
        w = _weights_of(df, weights, propensity)
        self.table_ = balance_table(df, treatment_col, covariates, w)
        a, _ = _arrays(df[treatment_col], w)
        self.n_, self.n_pilot_, self.n_comparison_ = len(df), int(a.sum()), int((~a).sum())
        self.treatment_col, self.covariates = treatment_col, covariates
        self.weighting_ = "propensity" if weights is None else "given"
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """:attr:`table_`."""
        self._require_fitted()
        return self.table_

    def describe(self) -> dict:
        out = super().describe()
        del out["confidence_level"]
        out.update(covariates=list(self.covariates), smd_balanced=SMD_BALANCED,
                   standardiser="pooled SD of the unweighted arms")
        return out


class WeightDistribution(Estimator):
    """The distribution of a propensity model's weights per arm, with Kish's effective
    sample size, as a fitted result that disclosure control can release
    (:func:`weight_summary`).

    Examples
    --------
    >>> from cohort.stats.propensity import PropensityScore
    >>> d = pd.DataFrame({"a": [1, 1, 1, 0, 0, 0, 1, 0], "x": [2.0, 1.5, 0.3, 0.2, 1.0, -0.5, 0.8, 0.1]})
    >>> WeightDistribution().fit(PropensityScore().fit(d, "a", ["x"])).table_[["arm", "n"]]
              arm  n
    0       pilot  4
    1  comparison  4

    Attributes
    ----------
    table_ : DataFrame
        :func:`weight_summary` (one row per arm).
    """

    _fitted_attribute = "table_"

    def fit(self, propensity):
        """Summarise the weights of a fitted :class:`~cohort.stats.propensity.PropensityScore`.

        Returns
        -------
        self
        """
        propensity._require_fitted()
        self.table_ = weight_summary(propensity.weights_, propensity.treatment_, propensity.truncated_)
        self.n_ = int(propensity.n_)
        self.stabilised = propensity.stabilised
        self.trim_quantiles = propensity.trim_quantiles
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """:attr:`table_`."""
        self._require_fitted()
        return self.table_

    def describe(self) -> dict:
        out = super().describe()
        del out["confidence_level"]
        out.update(stabilised=self.stabilised,
                   trim_quantiles=None if self.trim_quantiles is None else list(self.trim_quantiles),
                   effective_sample_size="Kish")
        return out
