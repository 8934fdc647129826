"""Disclosure control of curves: Kaplan-Meier, cumulative incidence, mean cumulative function.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.disclosure.cells import apply_disclosure, concat, disclosure_record
from cohort.disclosure.policy import check_policy
from cohort.exceptions import DefinitionError
from cohort.roles import with_roles
from cohort.stats.aalen_johansen import AalenJohansen
from cohort.stats.kaplan_meier import DAYS_PER_MONTH, SUMMARY_MONTHS, KaplanMeier

# ----------------------------------------------------------------------------- release


def _released_steps(counts: np.ndarray, n_risk: np.ndarray, policy) -> np.ndarray:
    """Positions of released steps of one curve (rows with events of the curve).

    The curve ends before the first time with fewer than ``threshold`` at risk; events are
    pooled into steps of at least ``threshold`` events (the released step is at the time the
    pooled events are complete), so no step rests on fewer households than the threshold.
    """
    thr = policy.threshold
    ok = np.cumprod(n_risk >= thr).astype(bool)
    has = (counts > 0) & ok
    pos = np.flatnonzero(has)
    if len(pos) == 0:
        return pos
    cum = np.cumsum(counts[pos])
    # greedy pooling: the next step is released where at least thr events have accrued since
    # the previous one (one searchsorted per released step, at most events / thr of them)
    keep = []
    last = 0
    while True:
        i = int(np.searchsorted(cum, last + thr, side="left"))
        if i >= len(cum):
            break
        keep.append(i)
        last = cum[i]
    return pos[np.asarray(keep, dtype=np.int64)]


def _release_curve(
    frame: pd.DataFrame,
    value_cols: list[str],
    event_col: str,
    policy,
    group_col: str | None,
    start_value: float,
) -> pd.DataFrame:
    policy = check_policy(policy)
    parts = []
    n_dropped = 0
    groups = [(None, frame)] if group_col is None else list(frame.groupby(group_col, sort=False))
    for label, tab in groups:
        n_risk = tab["n_risk"].to_numpy()
        events = tab[event_col].to_numpy()
        if policy.enabled:
            pos = _released_steps(events, n_risk, policy)
        else:
            pos = np.flatnonzero(events > 0)
        n_dropped += int((events > 0).sum()) - len(pos)
        cum = np.r_[0, np.cumsum(events)]
        pooled = np.diff(np.r_[0, cum[pos + 1]])
        out = pd.DataFrame({"time": np.r_[0.0, tab["time"].to_numpy()[pos]]})
        for col in value_cols:
            # the curve starts at its value at time 0 (survival 1, incidence 0)
            out[col] = np.r_[start_value, tab[col].to_numpy()[pos]]
        at_start = int(n_risk[0]) if len(n_risk) else 0
        out["n_risk"] = np.r_[at_start, n_risk[pos]].astype(np.int64)
        out["n_event"] = np.r_[0, pooled].astype(np.int64)
        if policy.enabled and at_start < policy.threshold:
            out = out.iloc[0:0]
        out["n_risk"] = policy.round_counts(out["n_risk"].to_numpy())
        out["n_event"] = policy.round_counts(out["n_event"].to_numpy())
        if group_col is not None:
            out.insert(0, "group", label)
        parts.append(out)
    result = pd.concat(parts, ignore_index=True)
    result["n_risk"] = result["n_risk"].astype("Int64")
    result["n_event"] = result["n_event"].astype("Int64")
    result["suppressed"] = pd.array(np.zeros(len(result), bool), dtype="boolean")
    result.attrs["disclosure"] = disclosure_record(
        policy, count_columns=["n_risk", "n_event"], value_columns=value_cols, n_suppressed=n_dropped,
        rule="curve", key_columns=(["group"] if group_col is not None else []) + ["time"],
    )
    return result


def release_km_table(km: KaplanMeier, policy) -> pd.DataFrame:
    """The Kaplan-Meier curve(s) for release, under disclosure control.

    Columns: ``group`` (if grouped), ``time, survival, ci_lower, ci_upper, n_risk, n_event,
    suppressed``; the first row of each curve is time 0 (survival 1). Rules (``policy`` a
    :class:`cohort.disclosure.policy.DisclosurePolicy`): a curve is shown only while at least
    ``threshold`` households are at risk; events are pooled so that every released step
    rests on at least ``threshold`` events (the survival shown at a step is the exact
    estimate at that time); ``n_risk`` and ``n_event`` (events since the previous released
    step) are rounded as configured. ``attrs["disclosure"]`` records what was done, so
    the release gate (:meth:`cohort.disclosure.writer.ReleaseFolder.release`) accepts the table
    (the report releases it as ``tables/reregistration_km.csv``).

    Examples
    --------
    >>> import pandas as pd
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> df = pd.DataFrame({"t": range(1, 41), "e": [1, 0] * 20})
    >>> rel = release_km_table(KaplanMeier().fit(df, "t", "e"), DisclosurePolicy(threshold=5))
    >>> rel[["time", "n_risk", "n_event"]].astype(int).values.tolist()
    [[0, 40, 0], [9, 32, 5], [19, 22, 5], [29, 12, 5]]
    """
    cols = ["survival", "ci_lower", "ci_upper"]
    group_col = "group" if km.group_col is not None else None
    out = _release_curve(km.table_, cols, "n_event", policy, group_col, 1.0)
    order = ([group_col] if group_col else []) + ["time", *cols, "n_risk", "n_event", "suppressed"]
    out = out[order]
    out.attrs["conf_type"] = km.conf_type
    out.attrs["confidence_level"] = 100 * (1 - km.alpha)
    return out


def release_cif_table(aj: AalenJohansen, policy, cause: int = 1) -> pd.DataFrame:
    """Cumulative incidence of ``cause`` for release, under the same rules as
    :func:`release_km_table` (steps pooled over events of that cause).

    Columns: ``group`` (if grouped), ``time, cif, ci_lower, ci_upper, n_risk, n_event,
    suppressed``.
    """
    if cause not in aj.causes_:
        raise DefinitionError(f"cause {cause!r} not among the fitted causes {aj.causes_}")
    tab = aj.table_.rename(
        columns={
            f"cif_{cause}": "cif",
            f"ci_lower_{cause}": "ci_lower",
            f"ci_upper_{cause}": "ci_upper",
            f"n_event_{cause}": "n_event",
        }
    )
    group_col = "group" if aj.group_col is not None else None
    cols = ["cif", "ci_lower", "ci_upper"]
    out = _release_curve(tab, cols, "n_event", policy, group_col, 0.0)
    out.loc[out["time"] == 0, ["ci_lower", "ci_upper"]] = np.nan
    order = ([group_col] if group_col else []) + ["time", *cols, "n_risk", "n_event", "suppressed"]
    out = out[order]
    out.attrs["conf_type"] = aj.conf_type
    out.attrs["confidence_level"] = 100 * (1 - aj.alpha)
    return out


def release_aalen_johansen(aj: AalenJohansen, policy, cause: int = 1, causes: dict | None = None) -> pd.DataFrame:
    """The cumulative incidence of ``cause``, or the stacked curves of ``causes``
    (:func:`release_cif_tables`), for release."""
    return release_cif_tables(aj, policy, causes) if causes else release_cif_table(aj, policy, cause)


def release_mcf_table(mcf: pd.DataFrame, policy) -> pd.DataFrame:
    """The mean cumulative function (:func:`mean_cumulative_function`) for release.

    Same rules as :func:`release_km_table`: shown while at least ``threshold`` households
    are at risk, steps pooled to at least ``threshold`` events, counts rounded as configured.
    Columns: ``group`` (if grouped), ``time, mcf, ci_lower, ci_upper, n_risk, n_event,
    suppressed``.
    """
    group_col = "group" if "group" in mcf.columns else None
    cols = ["mcf", "ci_lower", "ci_upper"]
    out = _release_curve(mcf, cols, "n_event", policy, group_col, 0.0)
    out.loc[out["time"] == 0, ["ci_lower", "ci_upper"]] = np.nan
    order = ([group_col] if group_col else []) + ["time", *cols, "n_risk", "n_event", "suppressed"]
    return out[order]


def release_km_summary(km: KaplanMeier, policy) -> pd.DataFrame:
    """Per group: households, events, median and survival at 6, 12 and 24 months, for release.

    A group with fewer than ``threshold`` units, or fewer than ``threshold`` events, is
    suppressed entirely; survival at a horizon is shown only when at least ``threshold``
    are still at risk there and at least ``threshold`` events occurred by then; the median
    only when at least ``threshold`` events occurred by it and ``threshold`` were at risk.
    Counts are rounded as configured.
    """
    policy = check_policy(policy)
    s = km.summary.copy()
    thr = policy.threshold if policy.enabled else 0
    horizons = [m * DAYS_PER_MONTH for m in SUMMARY_MONTHS]
    at = km.survival_at(horizons)
    k = len(SUMMARY_MONTHS)
    group_bad = (s["n"] < thr) | (s["events"] < thr)
    n_suppressed = 0
    for i, m in enumerate(SUMMARY_MONTHS):
        part = at.iloc[i::k]
        # events by the horizon: cumulative over the grid rows of this group
        by_h = at.assign(_g=np.repeat(np.arange(len(s)), k)).groupby("_g")["n_event"].cumsum()
        cum_events = by_h.iloc[i::k].to_numpy()
        bad = (part["n_risk"].to_numpy() < thr) | (cum_events < thr) | group_bad.to_numpy()
        n_suppressed += int(bad.sum())
        for col in (f"survival_{m}m", f"survival_{m}m_ci_lower", f"survival_{m}m_ci_upper"):
            s[col] = s[col].astype("Float64").mask(bad)
    # median: needs >= thr events up to it and >= thr at risk just before it
    med_bad = group_bad.to_numpy().copy()
    for j, (_, tab) in enumerate(km._curves()):
        med = s["median"].iloc[j]
        if np.isnan(med):
            continue
        upto = tab["time"].to_numpy() <= med
        ev = tab["n_event"].to_numpy()[upto].sum()
        nr = tab["n_risk"].to_numpy()[upto][-1] if upto.any() else 0
        med_bad[j] |= (ev < thr) or (nr < thr)
    n_suppressed += int(med_bad.sum())
    for col in ("median", "median_ci_lower", "median_ci_upper"):
        s[col] = s[col].astype("Float64").mask(med_bad)
    for col in ("n", "events"):
        s[col] = pd.Series(policy.round_counts(s[col].to_numpy()), index=s.index, dtype="Int64").mask(
            group_bad
        )
    s["suppressed"] = pd.array(group_bad.to_numpy(), dtype="boolean")
    value_cols = [c for c in s.columns if c not in ("group", "n", "events", "suppressed")]
    s.attrs["disclosure"] = disclosure_record(
        policy, count_columns=["n", "events"], value_columns=value_cols, n_suppressed=n_suppressed
    )
    return s


def release_cif_tables(aj: AalenJohansen, policy, causes: dict) -> pd.DataFrame:
    """Cumulative incidence of several causes for release, stacked with a ``cause`` label.

    ``causes`` maps each cause code to the label written in the ``cause`` column (e.g.
    ``{1: "re-registration", 2: "moved away"}``); each curve follows the rules of
    :func:`release_cif_table`, and the stacked table keeps one disclosure record for all
    of them. A cause no household had (not among ``aj.causes_``, as in a small subset of
    sites) gets the curve's first row only, as a cause with fewer events than the threshold
    does: it shows that there are too few events to draw, never that there are none.
    """
    parts = [
        (release_cif_table(aj, policy, cause=code) if code in aj.causes_ else _start_only(aj, policy)).assign(cause=label)
        for code, label in causes.items()
    ]
    for part in parts:
        part.attrs["disclosure"]["key_columns"] = [*part.attrs["disclosure"].get("key_columns", []), "cause"]
    out = concat(parts, ignore_index=True)
    out.attrs.update({k: v for k, v in parts[0].attrs.items() if k != "disclosure"})
    return out


def _start_only(aj: AalenJohansen, policy) -> pd.DataFrame:
    """The released table of a cumulative incidence without events: its first row."""
    tab = aj.table_.assign(cif=0.0, ci_lower=np.nan, ci_upper=np.nan, _no_events=0)
    group_col = "group" if aj.group_col is not None else None
    cols = ["cif", "ci_lower", "ci_upper"]
    out = _release_curve(tab, cols, "_no_events", policy, group_col, 0.0)
    order = ([group_col] if group_col else []) + ["time", *cols, "n_risk", "n_event", "suppressed"]
    out = out[order]
    out.attrs["conf_type"] = aj.conf_type
    out.attrs["confidence_level"] = 100 * (1 - aj.alpha)
    return out


def numbers_at_risk_table(table: pd.DataFrame, times, policy, group_col: str | None = None) -> pd.DataFrame:
    """Numbers at risk at ``times`` for release: the numbers drawn under a curve.

    ``table`` is a fitted curve's table (``time``, ``n_risk`` and ``group`` if grouped, as
    :attr:`cohort.stats.kaplan_meier.KaplanMeier.table_`); the number at risk at ``t`` is
    that of the first tabulated time at or after ``t`` (0 after the last). One row per
    group and time: ``group`` (if grouped), ``time``, ``n_risk``, ``suppressed``. A number
    below the threshold is suppressed (zeros too: a zero rests on no household but says
    that none remain), released numbers are rounded as the policy says.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> tab = pd.DataFrame({"time": [10.0, 20.0, 30.0], "n_risk": [25, 12, 4]})
    >>> numbers_at_risk_table(tab, [0, 15, 25, 40], DisclosurePolicy())[["time", "n_risk"]]
       time  n_risk
    0   0.0      25
    1  15.0      12
    2  25.0    <NA>
    3  40.0    <NA>
    """
    policy = check_policy(policy)
    times = np.asarray(times, dtype=float)
    groups = [(None, table)] if group_col is None else list(table.groupby(group_col, sort=False))
    parts = []
    for label, tab in groups:
        tt = tab["time"].to_numpy(dtype=float)
        nr = np.r_[tab["n_risk"].to_numpy(dtype=np.int64), 0]
        part = pd.DataFrame({"time": times, "n_risk": nr[np.searchsorted(tt, times, side="left")]})
        if group_col is not None:
            part.insert(0, "group", label)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    # the time axis and the curve are keys, not values: nothing to blank in a suppressed row
    keys = (["group"] if group_col is not None else []) + ["time"]
    return apply_disclosure(with_roles(out, counts=["n_risk"], keys=keys), policy, count_columns=["n_risk"],
                            by=keys)


def km_figure_data(km: KaplanMeier, policy, *, risk_times) -> dict[str, pd.DataFrame]:
    """The released tables a Kaplan-Meier figure draws: the curve and the numbers at risk.

    Returns ``{"": curve, "_at_risk": numbers}`` (:func:`release_km_table`,
    :func:`numbers_at_risk_table` at ``risk_times`` in days).
    """
    group_col = "group" if km.group_col is not None else None
    return {
        "": release_km_table(km, policy),
        "_at_risk": numbers_at_risk_table(km.table_, risk_times, policy, group_col),
    }


def cif_figure_data(aj: AalenJohansen, policy, *, risk_times, cause: int = 1,
                    causes: dict | None = None) -> dict[str, pd.DataFrame]:
    """The released tables a cumulative-incidence figure draws: the curve of ``cause`` (or
    the stacked curves of ``causes``, see :func:`release_cif_tables`) and the numbers at
    risk at ``risk_times`` (days)."""
    group_col = "group" if aj.group_col is not None else None
    curve = release_cif_tables(aj, policy, causes) if causes else release_cif_table(aj, policy, cause)
    return {"": curve, "_at_risk": numbers_at_risk_table(aj.table_, risk_times, policy, group_col)}
