"""Safety-score trajectories, descriptive: by wave, by months, change from T0, the share at
or above a threshold, agreement between respondents.

Input is the ``safety_assessments`` table (one 0-10 score per respondent per assessment)
joined to ``episodes`` (for ``registration_date``) and ``households`` (for ``site`` and
covariates) by :func:`cohort.definitions.waves.prepare_safety`. The models of the same
table are :class:`cohort.stats.mixed.MixedModel` (``score ~ years + site + (1 + years |
household_id)``) and :class:`cohort.stats.gee.GEE`; fit them to the rows of one
respondent, e.g. ``long[long["respondent"] == "professional"]``.

Rules (also in ``docs/methods-trends.md``):

* **Time** is measured from the registration date of the assessment's episode:
  ``months_since_registration = days / (365.25 / 12)``, ``years_since_registration =
  days / 365.25``.
* **Wave.** A recorded wave (``T0``, ``T1``, ...) is used as recorded. A missing wave is
  derived from the time since registration: ``T<k>`` with ``k = round(months /
  wave_months)`` (default every 6 months: T0 < 3 months, T1 3-9, T2 9-15, T3 >= 15
  months), capped at the last wave (``n_waves - 1``). ``wave_source`` says which.
  Assessments dated before the registration date are left out (counted in
  ``attrs["n_before_registration"]``).
* **One score per cell.** Descriptive tables use one score per household, episode,
  wave and respondent: the latest assessment in that wave. Households are the units
  counted (``n_households``).
* **Missing waves and dropout.** The mixed model uses every observed score (a household
  with T0 and T2 but no T1 contributes both); it is unbiased when missingness is at
  random given the observed scores and covariates (MAR). GEE is valid under the stronger
  assumption that missingness does not depend on the scores (MCAR). Change from T0 is
  complete-case: only households with a score at T0 and at the later wave; it describes
  those who stay and is biased when dropout depends on safety.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohort.exceptions import DefinitionError, ParameterError
from cohort.roles import with_roles
from cohort.stats.intervals import proportion_intervals

__all__ = [
    "change_from_baseline",
    "respondent_agreement",
    "share_at_or_above",
    "trajectory_by_months",
    "trajectory_by_wave",
]


def _one_per_wave(long, respondent):
    d = long if respondent is None else long[long["respondent"] == respondent]
    d = d.dropna(subset=["score", "wave"])
    # The latest assessment per household, episode, wave and respondent.
    d = d.sort_values(["household_id", "episode_id", "respondent", "wave_number", "assessment_date"],
                      kind="stable")
    return d.drop_duplicates(["household_id", "episode_id", "respondent", "wave"], keep="last")


def _with_counts(out, counts, by, total, key):
    """State the roles of a per-wave table: with ``total`` the ``by`` columns hold ``all``
    rows (group columns), else they only identify rows (keys)."""
    by = list(by)
    if total:
        return with_roles(out, counts=counts, groups=by, keys=[key])
    return with_roles(out, counts=counts, keys=[*by, key])


def trajectory_bands(long: pd.DataFrame, by=(), respondent: str | None = "professional",
                     percentiles=(10, 25, 50, 75, 90), wave_months: float = 6.0) -> pd.DataFrame:
    """Percentile bands of household scores per wave: the stand-in for individual trajectories.

    One score per household, episode and wave (the latest, as in
    :func:`trajectory_by_wave`). ``months`` is the wave's nominal time
    (``wave_number * wave_months``). Percentiles are interpolated (numpy's linear rule) and
    must lie strictly between 0 and 100 (no minimum or maximum, which would be one
    household's score). Released like any table: a wave with fewer than the threshold of
    households is suppressed.

    >>> long = pd.DataFrame({"household_id": list("abcd"), "episode_id": list("1234"),
    ...     "respondent": "professional", "wave": "T0", "wave_number": 0,
    ...     "assessment_date": pd.Timestamp("2024-01-01"), "score": [2.0, 4.0, 6.0, 8.0]})
    >>> trajectory_bands(long, percentiles=(25, 50, 75))[["wave", "n_households", "p25", "p50", "p75"]]
      wave  n_households  p25  p50  p75
    0   T0             4  3.5  5.0  6.5
    """
    pct = [float(p) for p in percentiles]
    if any(not 0 < p < 100 for p in pct):
        raise DefinitionError("percentiles must lie strictly between 0 and 100 (no minimum or maximum)")
    d = _one_per_wave(long, respondent)
    keys = [*by, "wave"]
    names = [f"p{int(p) if float(p).is_integer() else p}" for p in pct]
    if d.empty:  # no scores (e.g. sites without data before the reference date): no waves
        empty = pd.DataFrame({**{k: pd.Series(dtype=object) for k in keys},
                              "months": pd.Series(dtype=float), "n_households": pd.Series(dtype="int64"),
                              **{n: pd.Series(dtype=float) for n in names}})
        return with_roles(empty, counts=["n_households"], values=names, keys=[*keys, "months"])
    g = d.groupby(keys, sort=True, observed=True)
    out = g.agg(n_households=("household_id", "nunique"),
                wave_number=("wave_number", "first")).reset_index()
    q = g["score"].quantile([p / 100 for p in pct]).unstack()
    q.columns = names
    out = out.merge(q.reset_index(), on=keys)
    out.insert(len(keys), "months", out.pop("wave_number").astype(float) * wave_months)
    return with_roles(out, counts=["n_households"], values=list(q.columns), keys=[*keys, "months"])


def _add_total(fn, by, total):
    """``fn(by)`` plus, when ``total`` and ``by`` is given, rows over everything with the
    ``by`` columns set to ``"all"`` (the margin that disclosure control protects)."""
    by = list(by)
    out = fn(by)
    if total and by:
        overall = fn([])
        for c in by:
            overall.insert(0, c, "all")
        out = pd.concat([out.astype({c: "string" for c in by}), overall[out.columns]],
                        ignore_index=True)
    return out


def _describe(d, keys, alpha):
    g = d.groupby(keys, sort=True, observed=True)
    out = g.agg(n_households=("household_id", "nunique"), n_scores=("score", "size"),
                mean=("score", "mean"), sd=("score", "std"), median=("score", "median"),
                q25=("score", lambda x: x.quantile(0.25)),
                q75=("score", lambda x: x.quantile(0.75))).reset_index()
    se = out["sd"] / np.sqrt(out["n_scores"])
    tq = stats.t.ppf(1 - alpha / 2, np.maximum(out["n_scores"] - 1, 1))
    out["ci_lower"] = out["mean"] - tq * se
    out["ci_upper"] = out["mean"] + tq * se
    out.loc[out["n_scores"] < 2, ["ci_lower", "ci_upper"]] = np.nan
    return out


def trajectory_by_wave(long: pd.DataFrame, by=(), respondent: str | None = "professional",
                       alpha: float = 0.05, total: bool = False) -> pd.DataFrame:
    """Mean, SD, t-interval, median and quartiles of the score per wave (and group).

    One score per household, episode, wave and respondent (the latest). ``respondent=None``
    keeps all respondents (then add ``"respondent"`` to ``by``). ``total=True`` adds rows
    over all groups with the ``by`` columns set to ``"all"``.

    >>> long = pd.DataFrame({"household_id": ["a", "a", "b", "b"], "episode_id": ["1", "1", "2", "2"],
    ...     "respondent": "professional", "wave": ["T0", "T1", "T0", "T1"], "wave_number": [0, 1, 0, 1],
    ...     "assessment_date": pd.to_datetime(["2024-01-01", "2024-07-01"] * 2), "score": [4.0, 6.0, 5.0, 8.0]})
    >>> trajectory_by_wave(long)[["wave", "n_households", "mean"]]
      wave  n_households  mean
    0   T0             2   4.5
    1   T1             2   7.0
    """
    d = _one_per_wave(long, respondent)
    out = _add_total(lambda b: _describe(d, [*b, "wave"], alpha), by, total)
    return _with_counts(out, ["n_households", "n_scores"], by, total, "wave")


def trajectory_by_months(long: pd.DataFrame, bin_months: float = 3.0, by=(),
                         respondent: str | None = "professional", alpha: float = 0.05) -> pd.DataFrame:
    """Score summaries by months since registration in bins of ``bin_months``.

    Every assessment counts (not one per wave); ``months_from``/``months_to`` bound each bin
    ``[from, to)``; ``n_households`` counts distinct households in the bin.
    """
    d = long if respondent is None else long[long["respondent"] == respondent]
    d = d.dropna(subset=["score", "months_since_registration"]).copy()
    b = np.floor(d["months_since_registration"].to_numpy() / bin_months)
    d["months_from"] = b * bin_months
    out = _describe(d, [*by, "months_from"], alpha)
    out.insert(len(by) + 1, "months_to", out["months_from"] + bin_months)
    return out


def change_from_baseline(long: pd.DataFrame, by=(), respondent: str | None = "professional",
                         baseline: str = "T0", alpha: float = 0.05,
                         total: bool = False) -> pd.DataFrame:
    """Mean change in score from the baseline wave to each later wave, complete-case.

    Only households (episodes) with a score both at ``baseline`` and at the later wave
    enter that wave's row (complete-case; see the module notes on dropout). The interval
    is the paired t-interval of the mean difference (``t.test(later, base, paired=TRUE)``).

    >>> long = pd.DataFrame({"household_id": list("aabbcc"), "episode_id": list("112233"),
    ...     "respondent": "professional", "wave": ["T0", "T1"] * 3, "wave_number": [0, 1] * 3,
    ...     "assessment_date": pd.to_datetime(["2024-01-01", "2024-07-01"] * 3),
    ...     "score": [4.0, 6.0, 5.0, 6.0, 3.0, 6.0]})
    >>> change_from_baseline(long)[["wave", "n_households", "mean_change"]]
      wave  n_households  mean_change
    0   T1             3          2.0
    """
    d = _one_per_wave(long, respondent)
    keys = ["household_id", "episode_id", "respondent"]
    base = d.loc[d["wave"] == baseline, [*keys, "score"]].rename(columns={"score": "baseline_score"})
    later = d.loc[d["wave"] != baseline]
    pairs = later.merge(base, on=keys, how="inner")
    pairs["change"] = pairs["score"] - pairs["baseline_score"]
    out = _add_total(lambda b: _change_table(pairs, b, baseline, alpha), by, total)
    return _with_counts(out, ["n_households", "n_pairs"], by, total, "wave")


def _change_table(pairs, by, baseline, alpha):
    g = pairs.groupby([*by, "wave"], sort=True, observed=True)
    out = g.agg(n_households=("household_id", "nunique"), n_pairs=("change", "size"),
                mean_baseline=("baseline_score", "mean"), mean_score=("score", "mean"),
                mean_change=("change", "mean"), sd_change=("change", "std")).reset_index()
    se = out["sd_change"] / np.sqrt(out["n_pairs"])
    tq = stats.t.ppf(1 - alpha / 2, np.maximum(out["n_pairs"] - 1, 1))
    out["ci_lower"] = out["mean_change"] - tq * se
    out["ci_upper"] = out["mean_change"] + tq * se
    out["p"] = 2 * stats.t.sf(np.abs(out["mean_change"] / se), np.maximum(out["n_pairs"] - 1, 1))
    out.loc[out["n_pairs"] < 2, ["ci_lower", "ci_upper", "p"]] = np.nan
    out["baseline"] = baseline
    out["analysis"] = "complete-case"
    return out


def respondent_agreement(long: pd.DataFrame, a: str = "professional", b: str = "parent",
                         by=("wave",), alpha: float = 0.05) -> pd.DataFrame:
    """Agreement between two respondents' scores of the same household at the same wave.

    Pairs are matched on household, episode and wave (one score per respondent per wave,
    the latest). Reported per group:

    * Bland-Altman: mean difference ``a - b`` with its t-interval, SD of the differences,
      95% limits of agreement ``mean +- 1.96 SD`` (Bland & Altman 1986);
    * Pearson correlation with the Fisher-z interval (``cor.test``);
    * ICC(A,1): two-way random effects, absolute agreement, single rater (McGraw & Wong
      1996, case 2A), from the two-way ANOVA mean squares.
    """
    d = _one_per_wave(long, None)
    keys = ["household_id", "episode_id", "wave"]
    extra = [c for c in by if c not in keys]
    sa = d.loc[d["respondent"] == a, [*keys, *extra, "score"]].rename(columns={"score": "score_a"})
    sb = d.loc[d["respondent"] == b, [*keys, "score"]].rename(columns={"score": "score_b"})
    p = sa.merge(sb, on=keys, how="inner")
    p["diff"] = p["score_a"] - p["score_b"]
    p["mean_ab"] = (p["score_a"] + p["score_b"]) / 2
    by = list(by)
    groups = p.groupby(by, sort=True, observed=True) if by else [((), p)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        n = len(g)
        row = dict(zip(by, key, strict=True))
        row.update(respondent_a=a, respondent_b=b, n_pairs=n, n_households=g["household_id"].nunique())
        x, y, dd = g["score_a"].to_numpy(), g["score_b"].to_numpy(), g["diff"].to_numpy()
        md = dd.mean() if n else np.nan
        sd = dd.std(ddof=1) if n > 1 else np.nan
        tq = stats.t.ppf(1 - alpha / 2, max(n - 1, 1))
        row.update(mean_difference=md, md_ci_lower=md - tq * sd / np.sqrt(n) if n > 1 else np.nan,
                   md_ci_upper=md + tq * sd / np.sqrt(n) if n > 1 else np.nan, sd_difference=sd,
                   loa_lower=md - 1.96 * sd, loa_upper=md + 1.96 * sd)
        if n > 3 and x.std() > 0 and y.std() > 0:
            r = float(np.corrcoef(x, y)[0, 1])
            zr, zq = np.arctanh(r), stats.norm.ppf(1 - alpha / 2) / np.sqrt(n - 3)
            row.update(pearson_r=r, r_ci_lower=np.tanh(zr - zq), r_ci_upper=np.tanh(zr + zq))
            # ICC(A,1) from the two-way ANOVA on the n x 2 table.
            m = np.column_stack([x, y])
            grand = m.mean()
            msr = 2 * ((m.mean(axis=1) - grand) ** 2).sum() / (n - 1)
            msc = n * ((m.mean(axis=0) - grand) ** 2).sum() / 1
            sse = ((m - m.mean(axis=1, keepdims=True) - m.mean(axis=0, keepdims=True) + grand) ** 2).sum()
            mse = sse / (n - 1)
            row["icc_a1"] = (msr - mse) / (msr + mse + 2 * (msc - mse) / n)
        else:
            row.update(pearson_r=np.nan, r_ci_lower=np.nan, r_ci_upper=np.nan, icc_a1=np.nan)
        rows.append(row)
    return with_roles(pd.DataFrame(rows), counts=["n_pairs", "n_households"], keys=["wave"])


def share_at_or_above(long: pd.DataFrame, threshold: float = 7.0, by=(),
                      respondent: str | None = "professional", method: str = "wilson",
                      alpha: float = 0.05, total: bool = False) -> pd.DataFrame:
    """Share of households with a score at or above ``threshold``, per wave, Wilson interval.

    Unit: household (episode) with a score at that wave (the latest). ``n_at_or_above`` /
    ``n_households``; the interval is Wilson's (``prop.test(correct = FALSE)``) or
    Clopper-Pearson (``method="clopper-pearson"``). ``total=True`` adds the ``"all"`` rows.

    >>> long = pd.DataFrame({"household_id": list("abcd"), "episode_id": list("1234"),
    ...     "respondent": "professional", "wave": "T0", "wave_number": 0,
    ...     "assessment_date": pd.Timestamp("2024-01-01"), "score": [6.0, 7.0, 8.5, 3.0]})
    >>> share_at_or_above(long)[["wave", "n_at_or_above", "n_households", "proportion"]]
      wave  n_at_or_above  n_households  proportion
    0   T0              2             4         0.5
    """
    if not 0 <= threshold <= 10:
        raise ParameterError(f"safety threshold must lie in [0, 10], got {threshold!r}")
    d = _one_per_wave(long, respondent).copy()
    d["at_or_above"] = d["score"] >= threshold

    def table(b):
        g = d.groupby([*b, "wave"], sort=True, observed=True)
        return g.agg(n_at_or_above=("at_or_above", "sum"),
                     n_households=("at_or_above", "size")).reset_index()

    out = _add_total(table, by, total)
    out["n_at_or_above"] = out["n_at_or_above"].astype(int)
    out = proportion_intervals(out, "n_at_or_above", "n_households", method=method, alpha=alpha)
    out["threshold"] = threshold
    by = list(by)
    # ``threshold`` is the analysis's parameter, one value in every row: a key, not a count
    return with_roles(out, counts=["n_at_or_above", "n_households"],
                      values=["proportion", "ci_lower", "ci_upper"],
                      groups=by if total else [],
                      keys=["wave", "threshold"] if total else [*by, "wave", "threshold"],
                      proportion=("n_at_or_above", "n_households"))
