"""Disclosure control of aggregated tables: cells, proportions, rates, by their column roles.

An analysis table states its column roles (:mod:`cohort.roles`); :func:`release_by_roles`
applies the cell rule of :func:`cohort.disclosure.cells.apply_disclosure` to it
(threshold, rounding, secondary suppression over an ``all`` row of its group columns for
the counts that add up, values blanked where a count is suppressed), or the proportion
rule (:func:`release_proportion_table`) when the table releases a share. The explicit
functions below serve tables whose roles are known to the caller.

Individual trajectories are never released. The spread of households' scores behind a
fitted mean trajectory is released as percentile bands per wave
(:func:`cohort.stats.safety.trajectory_bands`), shown only for waves with at least
``threshold`` households.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cohort.disclosure.cells import apply_disclosure, combine_records
from cohort.disclosure.policy import TOTAL, check_policy
from cohort.exceptions import DisclosureError
from cohort.roles import roles_of
from cohort.stats.intervals import proportion_intervals


def require_released(table: pd.DataFrame, what: str) -> None:
    """Refuse a table that did not pass disclosure control (plots draw only released tables).

    >>> require_released(pd.DataFrame({"n": [3]}), "plot_site_trends")
    Traceback (most recent call last):
    ...
    cohort.exceptions.DisclosureError: plot_site_trends draws released tables only: this table never passed disclosure control; release it first (cohort.disclosure.release.release, or report.table / report.figure in a notebook)
    """
    record = table.attrs.get("disclosure") if isinstance(table, pd.DataFrame) else None
    if not isinstance(record, dict) or "applied" not in record:
        raise DisclosureError(
            f"{what} draws released tables only: this table never passed disclosure control; "
            "release it first (cohort.disclosure.release.release, or report.table / "
            "report.figure in a notebook)"
        )


def release_by_roles(table: pd.DataFrame, policy) -> pd.DataFrame:
    """Release a table that states its column roles (:func:`cohort.roles.with_roles`).

    * A table with a ``proportion`` role releases its share: :func:`release_proportion_table`
      with its group and key columns (a share table named ``n_at_or_above`` /
      ``n_households`` gets the names of :func:`release_share_table`).
    * Otherwise the cell rule: every count is a cell; the counts that add up
      (``additive``) are protected together with the total rows of the group columns, the
      other counts each on their own; value columns are blanked where a count of their row
      is suppressed.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> from cohort.roles import with_roles
    >>> t = with_roles(pd.DataFrame({"wave": ["T0", "T1"], "n_households": [25, 4], "mean": [4.2, 6.0]}),
    ...                counts=["n_households"], keys=["wave"])
    >>> release_by_roles(t, DisclosurePolicy())[["wave", "n_households", "mean", "suppressed"]]
      wave  n_households  mean  suppressed
    0   T0            25   4.2       False
    1   T1          <NA>  <NA>        True
    """
    roles = roles_of(table)
    if roles is None:
        raise DisclosureError(
            "this table states no column roles (cohort.roles.with_roles): disclosure control "
            "cannot tell its counts from its values"
        )
    policy = check_policy(policy)
    if roles["proportion"]:
        num, den = roles["proportion"]
        if (num, den) == ("n_at_or_above", "n_households"):
            return release_share_table(table, policy, group_columns=roles["groups"], by=roles["keys"])
        keep = [c for c in roles["keys"] if c not in roles["groups"]]
        return release_proportion_table(table, num, den, policy, group_columns=roles["groups"],
                                        by=roles["keys"], keep=keep)
    additive = roles["additive"]
    alone = [c for c in roles["counts"] if c not in additive]
    labels = {roles["totals"].get(g, TOTAL) for g in roles["groups"]}
    if len(labels) > 1:
        raise DisclosureError("group columns with different total labels cannot be protected together")
    total = labels.pop() if labels else TOTAL
    if not alone:
        return apply_disclosure(table, policy, count_columns=roles["counts"],
                                group_columns=roles["groups"], by=roles["keys"],
                                value_columns=roles["values"], total=total, sums=roles.get("sums"))
    protected = apply_disclosure(table, policy, count_columns=additive, group_columns=roles["groups"],
                                 by=roles["keys"], value_columns=roles["values"], total=total)
    separate = apply_disclosure(table[[*roles["keys"], *roles["groups"], *alone]], policy,
                                count_columns=alone, by=roles["keys"])
    for c in alone:
        protected[c] = separate[c]
    row = protected["suppressed"].to_numpy(dtype=bool) | separate["suppressed"].to_numpy(dtype=bool)
    protected["suppressed"] = pd.array(row, dtype="boolean")
    protected.attrs["disclosure"] = combine_records(
        [protected.attrs["disclosure"], separate.attrs["disclosure"]]
    )
    return protected


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
    >>> from cohort.disclosure.policy import DisclosurePolicy
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
    # the two parts of the share: suppressed together (one follows from the other and the
    # released denominator)
    out.attrs["disclosure"]["proportion"] = [numerator_col, comp]
    return out


def release_share_table(share: pd.DataFrame, policy, group_columns: Sequence[str] = (),
                        by: Sequence[str] = ()) -> pd.DataFrame:
    """Release :func:`cohort.stats.safety.share_at_or_above` output.

    :func:`release_proportion_table` with the households at or above the threshold and
    those below (``n_below``) as cells. Pass ``group_columns=["site"]`` with an ``all``
    row (``share_at_or_above(..., total=True)``) for secondary suppression across sites.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
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
    record = out.attrs["disclosure"]
    rename = {"n_at_or_above_complement": "n_below"}
    record["count_columns"] = [rename.get(c, c) for c in record["count_columns"]]
    record["proportion"] = [rename.get(c, c) for c in record.get("proportion", [])]
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
