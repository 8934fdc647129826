"""Disclosure control of the interval-censored analyses: the Turnbull curve, the share
safe at fixed horizons, and the coefficient tables of the interval-censored models.

The rules follow those of the Kaplan-Meier curve (:mod:`cohort.disclosure.curves`),
restated for intervals (``docs/definitions.md``, "Disclosure control of the time-to-safety
analyses"); ``threshold`` is the policy's (default 10):

* **Curve.** A curve is shown from time 0 while at least ``threshold`` households are
  *open* (their interval has not closed: not yet seen safe, and still followed). Steps
  are pooled so that every released step rests on at least ``threshold`` expected events
  (the NPMLE's mass times the households, R's weighted ``n.event``) **and** on at least
  ``threshold`` households first seen safe since the previous released step. Because a
  household carries at most one unit of mass, a step with ``threshold`` expected events
  spreads over at least ``threshold`` households. The survival shown at a released step
  is the exact estimate there.
* **Share safe at a horizon** (6, 12, 18, 24 months): shown only when at least
  ``threshold`` households are open there, at least ``threshold`` were seen safe by then,
  and the expected events by then are at least ``threshold``; and, against the previous
  horizon shown, at least ``threshold`` more households were seen safe and at least
  ``threshold`` more events are expected (else the difference of two rows is a small
  count); otherwise the row is suppressed (values blank, ``suppressed`` true).
* **Model table.** The model must rest on at least ``threshold`` events (households not
  right-censored), else :class:`DisclosureError`; a coefficient of a 0/1 term whose
  smaller side has fewer than ``threshold`` households or events
  (:func:`cohort.stats.base.term_support`) is suppressed.

Counts are whole numbers of households, rounded as the policy says; every table carries
``attrs["disclosure"]`` (:func:`cohort.disclosure.cells.disclosure_record`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.disclosure.cells import disclosure_record
from cohort.disclosure.policy import check_policy
from cohort.exceptions import DisclosureError
from cohort.stats.base import RegressionModel
from cohort.stats.kaplan_meier import DAYS_PER_MONTH
from cohort.stats.turnbull import SUMMARY_MONTHS, Turnbull


def _check_fitted(fit, cls, what):
    if not isinstance(fit, cls) or not fit.fitted:
        raise DisclosureError(f"{what} needs a fitted {cls.__name__}, got {type(fit).__name__}")


def _curves(fit: Turnbull):
    for label in fit.labels_:
        tab = fit.table_ if fit.group_col is None else fit.table_.loc[fit.table_["group"] == label]
        yield label, tab.reset_index(drop=True)


def _pooled_steps(expected, open_ok, thr):
    """Positions of released steps: greedy pooling until the expected events since the
    previous released step reach ``thr`` (one search per released step)."""
    pos = np.flatnonzero((expected > 0) & open_ok)
    if len(pos) == 0:
        return pos
    cum = np.cumsum(expected)[pos]
    keep, last = [], 0.0
    while True:
        i = int(np.searchsorted(cum, last + thr - 1e-9, side="left"))
        if i >= len(cum):
            break
        keep.append(i)
        last = cum[i]
    return pos[np.asarray(keep, dtype=np.int64)]


def release_turnbull_table(fit: Turnbull, policy) -> pd.DataFrame:
    """The Turnbull curve(s) for release, under disclosure control.

    Columns: ``group`` (if grouped), ``time, time_upper, survival, ci_lower, ci_upper,
    n_risk, n_event, suppressed``; the first row of each curve is time 0 (survival 1).
    ``time`` is where R draws the step (the midpoint of Turnbull's innermost interval),
    ``time_upper`` the end of that interval, from which on the NPMLE is determined: on the
    wave scale, the wave itself (draw the step there, or the stretch between as a ramp). ``n_risk``
    is the number of open households at the step, ``n_event`` the expected number of
    households becoming safe since the previous released step, to the nearest whole
    household (both rounded further as configured). Rules:
    module docstring. The plot draws the released steps only.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> df = pd.DataFrame({"left": np.r_[np.arange(0, 60, 2.0), np.full(10, 70.0)],
    ...                    "right": np.r_[np.arange(5, 65, 2.0), np.full(10, np.inf)]})
    >>> out = release_turnbull_table(Turnbull().fit(df), DisclosurePolicy(threshold=10))
    >>> out[["time", "n_risk", "n_event"]].astype(float).round(1).values.tolist()
    [[0.0, 40.0, 0.0], [22.5, 31.0, 12.0], [46.5, 19.0, 12.0]]
    """
    _check_fitted(fit, Turnbull, "release_turnbull_table")
    policy = check_policy(policy)
    thr = policy.threshold if policy.enabled else 0
    parts, n_dropped = [], 0
    for label, tab in _curves(fit):
        times = tab["time"].to_numpy()
        counts = fit.household_counts(times, label)
        expected = tab["n_event"].to_numpy(dtype=float)
        n_open = counts["n_open"].to_numpy()
        open_ok = np.cumprod(n_open >= thr).astype(bool)
        at_start = int(fit.household_counts([0.0], label)["n_open"].iloc[0])
        if policy.enabled:
            pos = _pooled_steps(expected, open_ok, thr)
        else:
            pos = np.flatnonzero(expected > 0)
        n_dropped += int((expected > 0).sum()) - len(pos)
        cum = np.r_[0.0, np.cumsum(expected)]
        pooled = np.floor(np.diff(np.r_[0.0, cum[pos + 1]]) + 0.5) if len(pos) else np.zeros(0)
        jt = fit.intervals_ if fit.group_col is None else fit.intervals_.loc[fit.intervals_["group"] == label]
        upper = pd.Series(jt["upper"].to_numpy(), index=jt["time"].to_numpy())
        step_times = times[pos]
        out = pd.DataFrame({
            "time": np.r_[0.0, step_times],
            "time_upper": np.r_[0.0, upper.reindex(step_times).fillna(pd.Series(step_times, index=step_times)).to_numpy()],
            "survival": np.r_[1.0, tab["survival"].to_numpy()[pos]],
            "ci_lower": np.r_[1.0, tab["ci_lower"].to_numpy()[pos]],
            "ci_upper": np.r_[1.0, tab["ci_upper"].to_numpy()[pos]],
            "n_risk": np.r_[at_start, n_open[pos]].astype(np.int64),
            "n_event": np.r_[0, pooled].astype(np.int64),
        })
        if policy.enabled and at_start < thr:
            out = out.iloc[0:0]
        out["n_risk"] = policy.round_counts(out["n_risk"].to_numpy())
        out["n_event"] = policy.round_counts(out["n_event"].to_numpy())
        if fit.group_col is not None:
            out.insert(0, "group", label)
        parts.append(out)
    result = pd.concat(parts, ignore_index=True)
    result["n_risk"] = result["n_risk"].astype("Int64")
    result["n_event"] = result["n_event"].astype("Int64")
    result["suppressed"] = pd.array(np.zeros(len(result), bool), dtype="boolean")
    result.attrs["disclosure"] = disclosure_record(
        policy, count_columns=["n_risk", "n_event"],
        value_columns=["survival", "ci_lower", "ci_upper"], n_suppressed=n_dropped)
    result.attrs["method"] = fit.describe()["method"]
    result.attrs["conf_type"] = fit.conf_type
    return result


def turnbull_figure_data(fit: Turnbull, policy) -> dict[str, pd.DataFrame]:
    """The released table a figure of the Turnbull curve(s) draws: ``{"": curve}``, the
    curve of :func:`release_turnbull_table` (its ``n_risk`` column gives the households
    still open under each step; no second table is needed).
    """
    return {"": release_turnbull_table(fit, policy)}


def _differences_kept(out: pd.DataFrame, bad: np.ndarray, thr: float) -> np.ndarray:
    """Also suppress a horizon whose counts differ from the previous shown horizon of the
    same curve by fewer than ``thr``: the households seen safe between two horizons (and
    the expected events between them) are counts a reader gets by subtraction.

    The horizons are few (four by default), so the walk is over horizons, not households.
    """
    bad = bad.copy()
    groups = out["group"].to_numpy() if "group" in out.columns else np.zeros(len(out))
    safe = out["n_safe"].to_numpy(dtype=float)
    expected = out["_expected"].to_numpy(dtype=float)
    last = {}
    for i in range(len(out)):
        if bad[i]:
            continue
        prev = last.get(groups[i])
        if prev is not None and (safe[i] - safe[prev] < thr or expected[i] - expected[prev] < thr - 1e-9):
            bad[i] = True
            continue
        last[groups[i]] = i
    return bad


def release_share_safe(fit: Turnbull, policy, months=SUMMARY_MONTHS) -> pd.DataFrame:
    """The share safe (``1 - S``) at ``months`` with limits, for release.

    ``fit`` is a fitted :class:`Turnbull`, or a dict of them by outcome (``{"direct": ...,
    "stable": ...}``), which gives one table with an ``outcome`` column first.

    Columns: ``group`` (if grouped), ``months, time, share_safe, ci_lower, ci_upper,
    n_safe, n_risk, determined, suppressed``; ``n_safe`` households seen safe by then,
    ``n_risk`` households open then. A row is suppressed (values and counts blank) when
    fewer than ``threshold`` households are open, fewer than ``threshold`` were seen safe,
    or fewer than ``threshold`` events are expected by then, or when fewer than
    ``threshold`` households were seen safe (or events expected) since the previous row
    of the curve that is shown. ``determined`` is False where
    the horizon falls inside an innermost interval carrying mass (the NPMLE is not unique
    there; the value follows R's midpoint convention).
    """
    if isinstance(fit, dict):
        parts = [release_share_safe(f, policy, months).assign(outcome=name)
                 for name, f in fit.items()]
        out = pd.concat(parts, ignore_index=True)
        out = out[["outcome", *[c for c in out.columns if c != "outcome"]]]
        out["outcome"] = out["outcome"].astype("string")
        out.attrs["disclosure"] = disclosure_record(
            check_policy(policy), count_columns=["n_safe", "n_risk"],
            value_columns=["share_safe", "ci_lower", "ci_upper"],
            n_suppressed=sum(p.attrs["disclosure"]["suppressed_cells"] for p in parts))
        return out
    _check_fitted(fit, Turnbull, "release_share_safe")
    policy = check_policy(policy)
    thr = policy.threshold if policy.enabled else 0
    months = np.asarray(list(months), dtype=float)
    times = months * DAYS_PER_MONTH
    at = fit.survival_at(times)
    rows = []
    for k, (label, tab) in enumerate(_curves(fit)):
        part = at.iloc[k * len(times):(k + 1) * len(times)].reset_index(drop=True)
        counts = fit.household_counts(times, label)
        cum_expected = np.r_[0.0, np.cumsum(tab["n_event"].to_numpy(dtype=float))][
            np.searchsorted(tab["time"].to_numpy(), times, side="right")]
        frame = pd.DataFrame({
            "months": months,
            "time": times,
            "share_safe": 1.0 - part["survival"].to_numpy(),
            "ci_lower": 1.0 - part["ci_upper"].to_numpy(dtype=float),
            "ci_upper": 1.0 - part["ci_lower"].to_numpy(dtype=float),
            "n_safe": counts["n_safe"].to_numpy(),
            "n_risk": counts["n_open"].to_numpy(),
            "determined": part["determined"].to_numpy(),
            "_expected": cum_expected,
        })
        if label is not None:
            frame.insert(0, "group", label)
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    bad = ((out["n_risk"] < thr) | (out["n_safe"] < thr) | (out["_expected"] < thr - 1e-9)).to_numpy()
    if policy.enabled:
        bad = _differences_kept(out, bad, thr)
    else:
        bad[:] = False
    out = out.drop(columns="_expected")
    for col in ("share_safe", "ci_lower", "ci_upper"):
        out[col] = out[col].astype("Float64").mask(bad)
    for col in ("n_safe", "n_risk"):
        out[col] = pd.Series(policy.round_counts(out[col].to_numpy()), dtype="Int64").mask(bad)
    out["determined"] = pd.array(out["determined"].to_numpy(dtype=bool), dtype="boolean")
    out["suppressed"] = pd.array(bad, dtype="boolean")
    out.attrs["disclosure"] = disclosure_record(
        policy, count_columns=["n_safe", "n_risk"],
        value_columns=["share_safe", "ci_lower", "ci_upper"], n_suppressed=int(bad.sum()))
    return out


def release_interval_model_table(model: RegressionModel, policy) -> pd.DataFrame:
    """Coefficients of an interval-censored model for release (:class:`IntervalRegression`
    or :class:`IntervalPH`).

    Columns ``term, estimate, se, statistic, p, ci_lower, ci_upper, exp_estimate,
    exp_ci_lower, exp_ci_upper, suppressed`` (the ``exp_`` columns are time ratios for the
    AFT models, hazard ratios for the PH model). Rules: module docstring.

    Raises
    ------
    DisclosureError
        The model is not fitted. A model resting on fewer than ``threshold`` events is
        released with every estimate suppressed (``reason_key`` ``too_few_events``).
    """
    policy = check_policy(policy)
    if not isinstance(model, RegressionModel) or not model.fitted or not hasattr(model, "term_support_"):
        raise DisclosureError("release_interval_model_table needs a fitted interval-censored "
                              f"model, got {type(model).__name__}")
    n_events = int(model.n_events_)
    table = model.summary.reset_index()
    support = model.term_support_.reindex(table["term"])
    small = (support["indicator"].to_numpy(dtype=bool)
             & ((support["units"].to_numpy(dtype=float) < policy.threshold)
                | (support["events"].to_numpy(dtype=float) < policy.threshold)))
    # a model resting on fewer events than the threshold is released suppressed as a whole,
    # with the reason, as the Cox model is (cohort.disclosure.models); a report shows it as
    # "not estimable here"
    whole = policy.enabled and n_events < policy.threshold
    if whole:
        small[:] = True
    if not policy.enabled:
        small[:] = False
    values = [c for c in table.columns if c != "term"]
    for col in values:
        table[col] = table[col].astype("Float64").mask(small)
    table["suppressed"] = pd.array(small, dtype="boolean")
    table.attrs["disclosure"] = disclosure_record(
        policy, count_columns=[], value_columns=values, n_suppressed=int(small.sum()))
    if whole:
        table.attrs["disclosure"]["reason"] = (f"the model rests on {n_events} events, fewer than "
                                               f"{policy.threshold}")
        table.attrs["disclosure"]["reason_key"] = "too_few_events"
    table.attrs["ratio"] = getattr(model, "_exp_scale", None)
    return table
