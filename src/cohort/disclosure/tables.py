"""Release tables and report plots for quarterly trends and safety trajectories.

Everything a report shows from :mod:`cohort.trends`, :mod:`cohort.safety` and
:mod:`cohort.mixed` goes through a ``release_*`` function here first, which applies
:func:`cohort.disclosure.cells.apply_disclosure` (threshold, rounding, secondary suppression over
an ``all`` row, values blanked where a count is suppressed). The plot functions only accept
released tables (they check ``attrs["disclosure"]``), so a figure can never show more than
its released figure data.

Individual trajectories are never drawn. The spread of households' scores behind a fitted
mean trajectory is shown as percentile bands per wave (:func:`trajectory_bands`), computed
only for waves with at least ``threshold`` households and suppressed otherwise; the
percentiles are interpolated (numpy's linear rule) and the extreme ones (minimum, maximum)
are not offered.

Public API
----------
``release_table(table, policy, count_columns, value_columns=None, group_columns=(), by=())``
``release_proportion_table(table, numerator_col, denominator_col, policy, ...)``
``release_share_table(share, policy, group_columns=(), by=())``
``safety_release_tables(long, policy, threshold=7.0, by=("site",))`` -> dict of tables
``release_rate_table(rates, events_col, person_time_col, policy, per=1.0, ...)``
``release_model_table(table, n_units, policy)``
``fitted_mean_trajectory(model, months, profile=None, months_per_unit=12)``
``trajectory_bands(long, policy, by=(), percentiles=(10, 25, 50, 75, 90))``
``plot_site_trends(released, time_col, value_col, ...)`` -> Figure
``plot_trajectories(bands, fitted, ...)`` -> Figure
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cohort.disclosure.cells import apply_disclosure
from cohort.disclosure.policy import check_policy
from cohort.exceptions import DefinitionError, DisclosureError
from cohort.stats.intervals import proportion_intervals
from cohort.stats.mixed import fitted_mean_trajectory


def _require_released(table: pd.DataFrame, what: str) -> None:
    record = table.attrs.get("disclosure") if isinstance(table, pd.DataFrame) else None
    if not isinstance(record, dict) or "applied" not in record:
        raise DisclosureError(
            f"{what} needs a table that passed disclosure control; pass it through a "
            "cohort.trend_plots.release_* function first"
        )


def release_table(table: pd.DataFrame, policy, count_columns: Sequence[str],
                  value_columns: Sequence[str] | None = None, group_columns: Sequence[str] = (),
                  by: Sequence[str] = ()) -> pd.DataFrame:
    """Apply disclosure control to a trend or safety table (one row per cell).

    ``count_columns`` hold the numbers of households (or events) behind each row; a row with
    a count below the threshold is suppressed and every value column in it blanked.
    ``value_columns`` defaults to every numeric column that is not a count, group or
    ``by`` column (means, SDs, intervals, p-values). ``group_columns`` name columns where
    the label ``all`` marks a total row (secondary suppression).

    Examples
    --------
    >>> from cohort.disclosure import DisclosurePolicy
    >>> t = pd.DataFrame({"wave": ["T0", "T1"], "n_households": [25, 4], "mean": [4.2, 6.0]})
    >>> release_table(t, DisclosurePolicy(threshold=10), ["n_households"])[["wave", "n_households", "mean"]]
      wave  n_households  mean
    0   T0            25   4.2
    1   T1          <NA>  <NA>
    """
    policy = check_policy(policy)
    count_columns = list(count_columns)
    skip = set(count_columns) | set(group_columns) | set(by)
    if value_columns is None:
        value_columns = [c for c in table.columns if c not in skip
                         and pd.api.types.is_numeric_dtype(table[c].dtype)
                         and not pd.api.types.is_bool_dtype(table[c].dtype)]
    return apply_disclosure(table, policy, count_columns=count_columns,
                            group_columns=list(group_columns), by=list(by),
                            value_columns=list(value_columns))


def release_proportion_table(table: pd.DataFrame, numerator_col: str, denominator_col: str,
                             policy, group_columns: Sequence[str] = (), by: Sequence[str] = (),
                             method: str | None = None, keep: Sequence[str] | None = None
                             ) -> pd.DataFrame:
    """Release proportions (e.g. :func:`cohort.stats.intervals.proportion_intervals` output).

    The numerator and its complement (``denominator - numerator``, column
    ``<numerator>_complement``) are both cells; when either is suppressed, both are (else
    one could be worked back from the denominator), and the proportion and its interval
    are blanked. After rounding, proportion and interval (Wilson unless ``method`` or a
    ``ci_method`` column says otherwise) are recomputed from the released counts. Only the
    group and ``by`` columns, the counts and the proportion columns are released, plus
    ``keep``.
    """
    policy = check_policy(policy)
    comp = f"{numerator_col}_complement"
    if method is None:
        method = str(table["ci_method"].iloc[0]) if len(table) and "ci_method" in table.columns else "wilson"
    cols = [*dict.fromkeys([*group_columns, *by, *(keep or ())]), numerator_col, denominator_col]
    t = table[cols].copy()
    t[comp] = t[denominator_col] - t[numerator_col]
    out = apply_disclosure(t, policy, count_columns=[numerator_col, comp, denominator_col],
                           group_columns=list(group_columns), by=list(by), value_columns=[])
    attrs = out.attrs
    part_hidden = (out[numerator_col].isna() | out[comp].isna()).to_numpy(dtype=bool)
    out.loc[part_hidden, [numerator_col, comp]] = pd.NA
    ok = ~part_hidden & out[denominator_col].notna().to_numpy(dtype=bool)
    num = out[numerator_col].fillna(0).to_numpy(dtype=float)
    den = num + out[comp].fillna(0).to_numpy(dtype=float)
    ci = proportion_intervals(pd.DataFrame({"x": num, "n": den}), "x", "n", method=method)
    for c in ("proportion", "ci_lower", "ci_upper"):
        out[c] = pd.array(np.where(ok, ci[c].to_numpy(), np.nan), dtype="Float64")
        out.loc[~ok, c] = pd.NA
    out["ci_method"] = method
    # the released denominator is the sum of the released parts
    out[denominator_col] = (out[numerator_col] + out[comp]).where(ok, out[denominator_col])
    out["suppressed"] = pd.array(~ok, dtype="boolean")
    out = out[[c for c in out.columns if c != "suppressed"] + ["suppressed"]]
    out.attrs = attrs
    out.attrs["disclosure"]["value_columns"] = ["proportion", "ci_lower", "ci_upper"]
    return out


def release_share_table(share: pd.DataFrame, policy, group_columns: Sequence[str] = (),
                        by: Sequence[str] = ()) -> pd.DataFrame:
    """Release :func:`cohort.stats.safety.share_at_or_above` output.

    :func:`release_proportion_table` with the households at or above the threshold and
    those below (``n_below``) as cells. Pass ``group_columns=["site"]`` with an ``all``
    row (``share_at_or_above(..., total=True)``) for secondary suppression across sites.

    Examples
    --------
    >>> from cohort.disclosure import DisclosurePolicy
    >>> t = pd.DataFrame({"wave": ["T0", "T1"], "n_at_or_above": [12, 3], "n_households": [40, 30],
    ...                   "ci_method": "wilson", "threshold": 7.0})
    >>> out = release_share_table(t, DisclosurePolicy(threshold=10), by=["wave"])
    >>> out[["wave", "n_at_or_above", "n_below", "n_households", "proportion"]]
      wave  n_at_or_above  n_below  n_households  proportion
    0   T0             12       28            40         0.3
    1   T1           <NA>     <NA>            30        <NA>
    """
    shown = [c for c in share.columns if c not in ("proportion", "ci_lower", "ci_upper")]
    keep = [c for c in shown if c not in (*group_columns, *by, "n_at_or_above", "n_households")]
    out = release_proportion_table(share, "n_at_or_above", "n_households", policy,
                                   group_columns=group_columns, by=by, keep=keep)
    attrs = out.attrs
    out = out.rename(columns={"n_at_or_above_complement": "n_below"})
    # the input's columns in their order, then the released parts and the share
    out = out[shown + ["n_below", "proportion", "ci_lower", "ci_upper", "suppressed"]]
    out.attrs = attrs
    return out


def release_rate_table(rates: pd.DataFrame, events_col: str, person_time_col: str, policy,
                       per: float = 1.0, group_columns: Sequence[str] = (),
                       by: Sequence[str] = ()) -> pd.DataFrame:
    """Release a table of rates (:func:`cohort.stats.intervals.rate_intervals` output).

    Only the group and ``by`` columns, the event count, the person-time and the rate with
    its interval are released (other columns of the input are dropped). The event count
    is the disclosure cell; rate and exact Poisson interval are recomputed from the
    released (possibly rounded) count.
    """
    from cohort.stats.intervals import rate_intervals

    policy = check_policy(policy)
    keep = [*dict.fromkeys([*group_columns, *by]), events_col, person_time_col]
    out = apply_disclosure(rates[keep], policy, count_columns=[events_col],
                           group_columns=list(group_columns), by=list(by), value_columns=[])
    ok = ~out["suppressed"].to_numpy(dtype=bool)
    tmp = pd.DataFrame({"k": out[events_col].fillna(0).to_numpy(dtype=float),
                        "pt": out[person_time_col].to_numpy(dtype=float)})
    ci = rate_intervals(tmp, "k", "pt", per=per)
    attrs = out.attrs
    for c in ("rate", "ci_lower", "ci_upper"):
        out[c] = pd.array(np.where(ok, ci[c].to_numpy(), np.nan), dtype="Float64")
        out.loc[~ok, c] = pd.NA
    out["ci_method"] = "exact Poisson"
    out = out[[c for c in out.columns if c != "suppressed"] + ["suppressed"]]
    out.attrs = attrs
    out.attrs["disclosure"]["value_columns"] = ["rate", "ci_lower", "ci_upper"]
    return out


def release_model_table(table: pd.DataFrame, n_units: int, policy) -> pd.DataFrame:
    """Release a model's coefficient table (e.g. :func:`cohort.stats.safety.mixed_model_table`).

    A model's estimates are aggregates over all its households; the table is released
    with the number of households it rests on (``n_households``, rounded as the policy
    says) and is suppressed as a whole when that number is below the threshold.

    Examples
    --------
    >>> from cohort.disclosure import DisclosurePolicy
    >>> t = pd.DataFrame({"term": ["Intercept"], "estimate": [4.2], "se": [0.1]})
    >>> release_model_table(t, 8, DisclosurePolicy(threshold=10))[["estimate", "suppressed"]]
       estimate  suppressed
    0      <NA>        True
    """
    t = table.copy()
    t["n_households"] = int(n_units)
    return release_table(t, policy, ["n_households"], by=["term"])


def safety_release_tables(long: pd.DataFrame, policy, threshold: float = 7.0,
                          by: Sequence[str] = ("site",), respondent: str = "professional",
                          time_col: str = "years_since_registration",
                          fitted_months: Sequence[float] = tuple(range(0, 19)),
                          wave_months: float = 6.0) -> dict[str, pd.DataFrame]:
    """Every released safety table for a report, from a :func:`cohort.definitions.waves.prepare_safety` table.

    Returns a dict (sorted keys) of released tables: ``safety_by_wave`` (per ``by`` group
    with an ``all`` row), ``safety_by_wave_respondent``, ``safety_change_from_t0``,
    ``safety_share_at_or_above``, ``safety_agreement``, ``safety_mixed_model``,
    ``safety_gee``, ``safety_trajectory_bands`` and ``safety_fitted_trajectory`` (the
    figure data of :func:`plot_trajectories`). The models use ``by`` as fixed effects.
    """
    from cohort.stats import safety as sf

    policy = check_policy(policy)
    by = list(by)
    out = {}
    t = sf.trajectory_by_wave(long, by=by, respondent=respondent, total=True)
    out["safety_by_wave"] = release_table(t, policy, ["n_households", "n_scores"],
                                          group_columns=by, by=["wave"])
    t = sf.trajectory_by_wave(long, by=["respondent"], respondent=None)
    out["safety_by_wave_respondent"] = release_table(t, policy, ["n_households", "n_scores"],
                                                     by=["respondent", "wave"])
    t = sf.change_from_baseline(long, by=by, respondent=respondent, total=True)
    out["safety_change_from_t0"] = release_table(t, policy, ["n_households", "n_pairs"],
                                                 group_columns=by, by=["wave"])
    t = sf.share_at_or_above(long, threshold=threshold, by=by, respondent=respondent, total=True)
    out["safety_share_at_or_above"] = release_share_table(t, policy, group_columns=by, by=["wave"])
    t = sf.respondent_agreement(long)
    out["safety_agreement"] = release_table(t, policy, ["n_pairs", "n_households"], by=["wave"])
    model = sf.fit_mixed_model(long, respondent=respondent, time_col=time_col, categorical=by)
    out["safety_mixed_model"] = release_model_table(sf.mixed_model_table(model), model.n_groups_, policy)
    gee = sf.fit_gee(long, respondent=respondent, time_col=time_col, categorical=by)
    out["safety_gee"] = release_model_table(gee[["term", "estimate", "se", "ci_lower", "ci_upper", "p"]],
                                            gee.attrs["n_households"], policy)
    out["safety_trajectory_bands"] = trajectory_bands(long, policy, respondent=respondent,
                                                      wave_months=wave_months)
    per_unit = 12.0 if time_col.startswith("years") else 1.0
    fitted = fitted_mean_trajectory(model, fitted_months, months_per_unit=per_unit)
    out["safety_fitted_trajectory"] = release_table(fitted, policy, ["n_households"], by=["months"])
    return dict(sorted(out.items()))


def trajectory_bands(long: pd.DataFrame, policy, by: Sequence[str] = (),
                     respondent: str | None = "professional",
                     percentiles: Sequence[float] = (10, 25, 50, 75, 90),
                     wave_months: float = 6.0) -> pd.DataFrame:
    """Percentile bands of household scores per wave: the released stand-in for spaghetti.

    One score per household, episode and wave (the latest, as in
    :func:`cohort.stats.safety.trajectory_by_wave`); a wave (and group) with fewer than
    ``threshold`` households is suppressed. ``months`` is the wave's nominal time
    (``wave_number * wave_months``). Percentiles must lie strictly between 0 and 100.
    """
    from cohort.stats.safety import _one_per_wave

    policy = check_policy(policy)
    pct = [float(p) for p in percentiles]
    if any(not 0 < p < 100 for p in pct):
        raise DefinitionError("percentiles must lie strictly between 0 and 100 (no minimum or maximum)")
    d = _one_per_wave(long, respondent)
    keys = [*by, "wave"]
    g = d.groupby(keys, sort=True, observed=True)
    out = g.agg(n_households=("household_id", "nunique"),
                wave_number=("wave_number", "first")).reset_index()
    q = g["score"].quantile([p / 100 for p in pct]).unstack()
    q.columns = [f"p{int(p) if float(p).is_integer() else p}" for p in pct]
    out = out.merge(q.reset_index(), on=keys)
    out.insert(len(keys), "months", out.pop("wave_number").astype(float) * wave_months)
    out = release_table(out, policy, ["n_households"], value_columns=list(q.columns), by=keys)
    return out
