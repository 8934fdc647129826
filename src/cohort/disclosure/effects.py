"""Disclosure control of the effect analyses: what may be released of each table.

The rule is the workbench's (``docs/definitions.md``, "Disclosure control"): nothing rests on
fewer than ``policy.threshold`` households. The effect tables add weights and arms:

* **weighted counts get the threshold of the unweighted counts behind them**: a weighted
  number at risk or of events is shown only where the households behind it (unweighted)
  reach the threshold; the released counts are those households, rounded as the policy says;
* **per arm**: a risk, a difference, a hazard ratio or a mean difference is shown only where
  *each* arm has at least the threshold of households and, for an event outcome, of events
  (by the horizon); otherwise the whole row is suppressed (marked, never shown as 0);
* **balance**: a covariate term is shown only where each arm has at least the threshold of
  households on each side of it (with and without the level), since a share times the arm's
  size is a count;
* **weights**: the smallest and largest weight are single households' values and are never
  released; a percentile is released only where at least the threshold of households lie
  beyond it in the arm;
* **staggered adoption**: a group-time effect is shown only where the households behind the
  site-quarter outcomes of the treated sites and of the controls (for instance the
  registrations counted) reach the threshold, in the period and in its base period; an
  event-study or overall estimate only where every cell it averages is shown (with the
  known group sizes a hidden cell could otherwise be solved from it).

Every function is pure and returns a new DataFrame with a boolean ``suppressed`` column and
``attrs["disclosure"]`` (:func:`cohort.disclosure.cells.disclosure_record`), which the
release writer requires.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.disclosure.cells import disclosure_record
from cohort.disclosure.policy import DEFAULT_POLICY, DisclosurePolicy, check_policy
from cohort.exceptions import DisclosureError

__all__ = [
    "balance_figure_data",
    "event_study_figure_data",
    "release_ate",
    "release_ate_result",
    "release_balance_result",
    "release_staggered",
    "release_weight_distribution",
    "release_weighted_cox",
    "release_weighted_risks",
    "weighted_curves_figure_data",
    "release_att_gt",
    "release_balance",
    "release_curves",
    "release_did_aggregates",
    "release_hazard_ratio",
    "release_mean_difference",
    "release_risk_differences",
    "release_weight_summary",
]

DAYS_PER_MONTH = 30.4375


def _finish(frame: pd.DataFrame, suppressed: np.ndarray, policy: DisclosurePolicy, count_columns,
            value_columns) -> pd.DataFrame:
    """Blank suppressed rows, round released counts, record what was done."""
    out = frame.copy()
    suppressed = np.asarray(suppressed, dtype=bool) & policy.enabled
    for c in count_columns:
        counts = out[c].to_numpy(dtype=np.int64)
        released = policy.round_counts(counts)
        out[c] = pd.array(np.where(suppressed, 0, released), dtype="Int64")
        out.loc[suppressed, c] = pd.NA
    for c in value_columns:
        out[c] = out[c].astype("Float64")
        out.loc[suppressed, c] = pd.NA
    out["suppressed"] = pd.array(suppressed, dtype="boolean")
    out.attrs["disclosure"] = disclosure_record(
        policy, count_columns=count_columns, value_columns=value_columns,
        n_suppressed=int(suppressed.sum()),
    )
    return out


def _unsafe(policy: DisclosurePolicy, *counts) -> np.ndarray:
    """Rows where any of the counts is below the threshold."""
    return np.any([np.asarray(c) < policy.threshold for c in counts], axis=0)


def _require(frame, columns, what):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DisclosureError(f"{what} lacks column(s) {missing}: pass the table the estimator made")


# ----------------------------------------------------------------------------- weighting


def release_balance(balance: pd.DataFrame, table: pd.DataFrame, treatment_col: str = "treated",
                    policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """The balance table (:func:`cohort.stats.balance.balance_table`) for release.

    A term rests on the households with and without it in each arm (for a level, the
    households with the level; for a numeric covariate, the arm): each of the four counts
    must reach the threshold.

    Examples
    --------
    >>> from cohort.stats.balance import balance_table
    >>> d = pd.DataFrame({"treated": [1] * 12 + [0] * 12, "sev": ["high"] * 3 + ["low"] * 21})
    >>> rel = release_balance(balance_table(d, "treated", ["sev"], [1.0] * 24), d)
    >>> rel[["term", "smd_unweighted", "suppressed"]]
            term  smd_unweighted  suppressed
    0  sev: high            <NA>        True
    1   sev: low            <NA>        True
    """
    policy = check_policy(policy)
    arm_sizes = table[treatment_col].astype(int).value_counts()
    return _release_balance(balance, int(arm_sizes.get(1, 0)), int(arm_sizes.get(0, 0)), policy)


def _release_balance(balance: pd.DataFrame, n1: int, n0: int, policy: DisclosurePolicy) -> pd.DataFrame:
    _require(balance, ["term", "n_pilot", "n_comparison", "smd_unweighted"], "balance table")
    level = balance["level"].astype(str).ne("") | balance["n_pilot"].lt(n1) | balance["n_comparison"].lt(n0)
    p, c = balance["n_pilot"].to_numpy(), balance["n_comparison"].to_numpy()
    other_p = np.where(level, n1 - p, n1)
    other_c = np.where(level, n0 - c, n0)
    unsafe = _unsafe(policy, p, c, other_p, other_c)
    values = [col for col in balance.columns if col not in ("term", "covariate", "level", "n_pilot", "n_comparison")]
    return _finish(balance, unsafe, policy, ["n_pilot", "n_comparison"], values)


def release_weight_summary(summary: pd.DataFrame, policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """The weight distribution (:func:`cohort.stats.balance.weight_summary`) for release.

    ``min`` and ``max`` (single households' weights) are left out; a percentile ``q`` of an
    arm of ``n`` households is shown only when ``min(q, 1 - q) * n`` reaches the threshold;
    an arm of fewer households than the threshold is suppressed whole. The count of
    truncated weights is a count of households: below the threshold (0 included, as every
    count) it is suppressed. A row with a suppressed cell has ``suppressed`` set, so that the
    released file marks exactly its missing cells.

    Examples
    --------
    >>> from cohort.stats.balance import weight_summary
    >>> w = np.r_[np.linspace(0.5, 2.0, 400), np.linspace(0.8, 1.2, 60)]
    >>> a = np.r_[np.ones(400), np.zeros(60)]
    >>> rel = release_weight_summary(weight_summary(w, a))
    >>> rel[["arm", "n", "p01", "p25", "median"]].round(3)
              arm    n   p01    p25  median
    0       pilot  400  <NA>  0.875    1.25
    1  comparison   60  <NA>    0.9     1.0
    """
    policy = check_policy(policy)
    _require(summary, ["arm", "n", "median", "p01", "p99", "truncated"], "weight summary")
    out = summary.drop(columns=[c for c in ("min", "max") if c in summary.columns]).copy()
    n = out["n"].to_numpy()
    whole = _unsafe(policy, n) & policy.enabled
    for col, q in (("p01", 0.01), ("p25", 0.25), ("median", 0.5), ("p75", 0.25), ("p99", 0.01)):
        if col in out.columns:
            out[col] = out[col].astype("Float64")
            if policy.enabled:
                out.loc[(q * n < policy.threshold) | whole, col] = pd.NA
    truncated = out.pop("truncated").to_numpy(dtype=np.int64)
    values = [c for c in ("sum", "mean", "p01", "p25", "median", "p75", "p99", "effective_sample_size") if c in out.columns]
    hidden = np.zeros(len(out), dtype=bool)  # rows with a percentile left out
    for col in ("p01", "p25", "median", "p75", "p99"):
        if col in out.columns:
            hidden |= out[col].isna().to_numpy(dtype=bool)
    res = _finish(out, whole, policy, ["n"], values)
    few = _unsafe(policy, truncated) & policy.enabled
    res["truncated"] = pd.array(np.where(few, 0, policy.round_counts(truncated)), dtype="Int64")
    res.loc[few, "truncated"] = pd.NA
    # a row with a suppressed cell is flagged, so that its suppressed cells carry the marker
    # (cohort.disclosure.writer.suppressed_cells: missing values on flagged rows)
    res["suppressed"] = pd.array(res["suppressed"].to_numpy(dtype=bool) | ((hidden | few) & policy.enabled),
                                 dtype="boolean")
    res.attrs["disclosure"]["count_columns"].append("truncated")
    res.attrs["disclosure"]["suppressed_cells"] += int(few.sum())
    return res


# ----------------------------------------------------------------------------- curves


def _steps(events: np.ndarray, n_risk: np.ndarray, threshold: int) -> np.ndarray:
    """Positions of released steps: while at least ``threshold`` households are at risk,
    events pooled into steps of at least ``threshold`` events."""
    ok = np.cumprod(n_risk >= threshold).astype(bool)
    pos = np.flatnonzero((events > 0) & ok)
    if not len(pos):
        return pos
    cum = np.cumsum(events[pos])
    keep, last = [], 0
    while True:  # one pass per released step (at most events / threshold of them)
        i = int(np.searchsorted(cum, last + threshold, side="left"))
        if i >= len(cum):
            break
        keep.append(i)
        last = cum[i]
    return pos[np.asarray(keep, dtype=np.int64)]


def release_curves(estimator, policy: DisclosurePolicy = DEFAULT_POLICY, cause: int = 1) -> pd.DataFrame:
    """The weighted curves of each arm (a fitted :class:`WeightedKaplanMeier` or
    :class:`WeightedAalenJohansen`) for a figure.

    Each arm's curve is shown while at least the threshold of households (unweighted) is at
    risk, with events pooled so that every released step rests on at least the threshold of
    events; the released ``n_risk``/``n_event`` are those households and events (rounded),
    ``weighted_n_risk`` the weighted number behind the same households. Columns: ``group,
    time, months, value`` (survival or cumulative incidence), ``n_risk, n_event,
    weighted_n_risk, suppressed``; each curve starts at time 0.
    """
    policy = check_policy(policy)
    table = estimator.table_
    km = "survival" in table.columns and f"cif_{cause}" not in table.columns
    value_col = "survival" if km else f"cif_{cause}"
    event_col = "n_event" if km else f"n_event_{cause}"
    _require(table, ["group", "time", "n_risk", event_col, value_col, "weighted_n_risk"], "curve table")
    parts, dropped = [], 0
    for label, tab in table.groupby("group", sort=False):
        n_risk, events = tab["n_risk"].to_numpy(), tab[event_col].to_numpy()
        pos = _steps(events, n_risk, policy.threshold) if policy.enabled else np.flatnonzero(events > 0)
        dropped += int((events > 0).sum()) - len(pos)
        cum = np.r_[0, np.cumsum(events)]
        pooled = np.diff(np.r_[0, cum[pos + 1]])
        start = int(n_risk[0]) if len(n_risk) else 0
        curve = pd.DataFrame({
            "group": label,
            "time": np.r_[0.0, tab["time"].to_numpy()[pos]],
            "value": np.r_[1.0 if km else 0.0, tab[value_col].to_numpy()[pos]],
            "n_risk": np.r_[start, n_risk[pos]].astype(np.int64),
            "n_event": np.r_[0, pooled].astype(np.int64),
            "weighted_n_risk": np.r_[tab["weighted_n_risk"].to_numpy()[:1], tab["weighted_n_risk"].to_numpy()[pos]],
        })
        if policy.enabled and start < policy.threshold:
            curve = curve.iloc[0:0]
        parts.append(curve)
    out = pd.concat(parts, ignore_index=True)
    out.insert(2, "months", out["time"] / DAYS_PER_MONTH)
    res = _finish(out, np.zeros(len(out), bool), policy, ["n_risk", "n_event"], [])
    res.attrs["disclosure"]["suppressed_cells"] = dropped
    res.attrs["value"] = "survival" if km else f"cumulative incidence of cause {cause}"
    return res


def _arm_counts(estimator, cause=1):
    """Households at risk at each horizon and events by it, per arm (unweighted)."""
    table = estimator.table_
    event_col = "n_event" if "n_event" in table.columns else f"n_event_{cause}"
    out = {}
    for label, tab in table.groupby("group", sort=False):
        t = tab["time"].to_numpy()
        h = np.asarray(estimator.horizons_days)
        at = np.r_[tab["n_risk"].to_numpy(), 0][np.searchsorted(t, h, side="left")]
        ev = np.r_[0, np.cumsum(tab[event_col].to_numpy())][np.searchsorted(t, h, side="right")]
        out[label] = (at.astype(np.int64), ev.astype(np.int64), int(tab["n_risk"].iloc[0]))
    return out


def release_risk_differences(estimator, policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """Risks per arm at the horizons and their difference, for a table.

    From a fitted :class:`WeightedAalenJohansen` (cumulative incidence of each cause) or
    :class:`WeightedKaplanMeier` (risk = 1 - survival). A row is suppressed unless each arm
    has at least the threshold of households at risk at the horizon and of events of the
    cause by it. Columns: ``months, cause, risk_<arm>`` for both arms, ``difference, se,
    ci_lower, ci_upper, p, n_risk_<arm>, n_events_<arm>, suppressed``.
    """
    policy = check_policy(policy)
    treated, control = estimator.contrast_
    km = not hasattr(estimator, "causes_")
    causes = [1] if km else estimator.causes_
    rows = []
    diff = estimator.differences_
    risks = estimator.risks_
    for cause in causes:
        counts = _arm_counts(estimator, cause)
        for k, horizon in enumerate(estimator.horizons_days):
            d = diff.iloc[k] if km else diff[(diff["cause"] == cause)].iloc[k]
            r = {}
            for arm in (treated, control):
                sel = risks[risks["group"] == arm]
                sel = sel if km else sel[sel["cause"] == cause]
                r[arm] = float(sel["risk" if km else "cif"].iloc[k])
            sign = -1.0 if km else 1.0  # a survival difference is minus the risk difference
            rows.append({
                "months": horizon / DAYS_PER_MONTH, "cause": cause,
                f"risk_{treated}": r[treated], f"risk_{control}": r[control],
                "difference": sign * d["difference"], "se": d["se"],
                "ci_lower": sign * (d["ci_upper"] if km else d["ci_lower"]),
                "ci_upper": sign * (d["ci_lower"] if km else d["ci_upper"]),
                "p": d["p"],
                f"n_risk_{treated}": counts[treated][0][k], f"n_risk_{control}": counts[control][0][k],
                f"n_events_{treated}": counts[treated][1][k], f"n_events_{control}": counts[control][1][k],
            })
    frame = pd.DataFrame(rows)
    count_cols = [c for c in frame.columns if c.startswith(("n_risk_", "n_events_"))]
    unsafe = _unsafe(policy, *[frame[c] for c in count_cols])
    values = [c for c in frame.columns if c not in ("months", "cause", *count_cols)]
    return _finish(frame, unsafe, policy, count_cols, values)


# ----------------------------------------------------------------------------- models


def release_hazard_ratio(cox, table: pd.DataFrame, treatment_col: str = "treated",
                         event_col: str = "event", policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """The weighted Cox model's hazard ratio of the arm, for a table.

    Suppressed unless each arm has at least the threshold of households and of events.
    Columns: ``term, hazard_ratio, ci_lower, ci_upper, log_hr, se, p, variance,
    households_pilot, households_comparison, events_pilot, events_comparison, suppressed``.
    """
    policy = check_policy(policy)
    if treatment_col not in cox.params_.index:
        raise DisclosureError(f"the model has no term {treatment_col!r}: release_hazard_ratio is for the arm")
    a = table[treatment_col].astype(int).to_numpy()
    e = table[event_col].astype(int).to_numpy()
    counts = (int((a == 1).sum()), int((a == 0).sum()), int(e[a == 1].sum()), int(e[a == 0].sum()))
    return _release_hazard_ratio(cox, treatment_col, counts, policy)


def _release_hazard_ratio(cox, treatment_col: str, counts, policy: DisclosurePolicy) -> pd.DataFrame:
    s = cox.summary.loc[treatment_col]
    frame = pd.DataFrame([{
        "term": treatment_col, "hazard_ratio": s["exp_estimate"], "ci_lower": s["exp_ci_lower"],
        "ci_upper": s["exp_ci_upper"], "log_hr": s["estimate"], "se": s["se"], "p": s["p"],
        "variance": cox.variance_,
        "households_pilot": counts[0], "households_comparison": counts[1],
        "events_pilot": counts[2], "events_comparison": counts[3],
    }])
    counts = ["households_pilot", "households_comparison", "events_pilot", "events_comparison"]
    unsafe = _unsafe(policy, *[frame[c] for c in counts])
    return _finish(frame, unsafe, policy, counts, ["hazard_ratio", "ci_lower", "ci_upper", "log_hr", "se", "p"])


def release_mean_difference(estimator, policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """The weighted mean difference (:class:`WeightedMeanDifference`) for a table:
    suppressed unless each arm has at least the threshold of households."""
    policy = check_policy(policy)
    m = estimator.means_.set_index("group")
    d = estimator.differences_.iloc[0]
    treated, control = estimator.contrast_
    frame = pd.DataFrame([{
        f"mean_{treated}": m.loc[treated, "mean"], f"mean_{control}": m.loc[control, "mean"],
        "difference": d["difference"], "se": d["se"], "ci_lower": d["ci_lower"], "ci_upper": d["ci_upper"],
        "p": d["p"], f"n_{treated}": int(m.loc[treated, "n"]), f"n_{control}": int(m.loc[control, "n"]),
    }])
    counts = [f"n_{treated}", f"n_{control}"]
    unsafe = _unsafe(policy, *[frame[c] for c in counts])
    values = [c for c in frame.columns if c not in counts]
    return _finish(frame, unsafe, policy, counts, values)


def release_ate(estimator, table: pd.DataFrame, duration_col: str = "time", event_col: str = "status",
                treatment_col: str = "treated", policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """The risks of :class:`cohort.stats.ate.AverageTreatmentEffect` for a table.

    ``table`` is the trial table the estimator was fitted on. A horizon is suppressed unless
    each arm has at least the threshold of households at risk at it and of events of the
    cause by it (unweighted, as behind every weighted estimate). Columns: ``estimator,
    months, risk_pilot, risk_comparison, difference, se, ci_lower, ci_upper, p,
    n_risk_pilot, n_risk_comparison, n_events_pilot, n_events_comparison, suppressed``.
    """
    policy = check_policy(policy)
    _require(table, [duration_col, event_col, treatment_col], "trial table")
    t = table[duration_col].to_numpy(dtype=float)
    e = table[event_col].to_numpy() == estimator.cause
    a = table[treatment_col].to_numpy(dtype=int)
    h = np.asarray(estimator.times)
    risks = estimator.risks_.set_index(["arm", "time"])["risk"]
    d = estimator.differences_
    frame = pd.DataFrame({
        "estimator": estimator.estimator, "months": h / DAYS_PER_MONTH,
        "risk_pilot": [risks[(1, x)] for x in h], "risk_comparison": [risks[(0, x)] for x in h],
        "difference": d["difference"].to_numpy(), "se": d["se"].to_numpy(), "ci_lower": d["ci_lower"].to_numpy(),
        "ci_upper": d["ci_upper"].to_numpy(), "p": d["p"].to_numpy(),
        "n_risk_pilot": [int(((a == 1) & (t >= x)).sum()) for x in h],
        "n_risk_comparison": [int(((a == 0) & (t >= x)).sum()) for x in h],
        "n_events_pilot": [int(((a == 1) & e & (t <= x)).sum()) for x in h],
        "n_events_comparison": [int(((a == 0) & e & (t <= x)).sum()) for x in h],
    })
    counts = ["n_risk_pilot", "n_risk_comparison", "n_events_pilot", "n_events_comparison"]
    unsafe = _unsafe(policy, *[frame[c] for c in counts])
    values = ["risk_pilot", "risk_comparison", "difference", "se", "ci_lower", "ci_upper", "p"]
    return _finish(frame, unsafe, policy, counts, values)


# ----------------------------------------------------------------------------- staggered adoption


def _households_behind(did, panel: pd.DataFrame, count_col: str, unit_col: str, time_col: str):
    """Per cell: households behind the treated sites and behind the controls, the smaller
    of the period and its base period."""
    _require(panel, [count_col, unit_col, time_col], "site panel")
    wide = panel.pivot(index=unit_col, columns=time_col, values=count_col)
    wide.index = wide.index.astype(str)
    wide = wide.reindex(did.units_)
    design = did._design
    col = {p: i for i, p in enumerate(did.periods_)}
    W = wide.to_numpy(dtype=float)
    t_idx = np.array([col[t] for t in design.t])
    b_idx = np.array([col[b] for b in design.b])
    at_t, at_b = W[:, t_idx], W[:, b_idx]
    treated = np.minimum((design.T * at_t).sum(axis=0), (design.T * at_b).sum(axis=0))
    control = np.minimum((design.C * at_t).sum(axis=0), (design.C * at_b).sum(axis=0))
    return treated.astype(np.int64), control.astype(np.int64)


def release_att_gt(did, panel: pd.DataFrame, count_col: str, unit_col: str = "site",
                   time_col: str = "period", policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """The group-time effects of a fitted :class:`StaggeredDiD` for a table.

    ``count_col`` names the panel column of the households behind each site-quarter value
    (``registrations`` for registrations, ``households_active`` for measures per household,
    ``closures`` for re-registration within 12 months). A cell is suppressed unless the
    treated sites and the controls each rest on at least the threshold of households, in
    the period and in its base period.
    """
    policy = check_policy(policy)
    treated, control = _households_behind(did, panel, count_col, unit_col, time_col)
    frame = did.att_gt_.assign(households_treated=treated, households_control=control)
    frame = frame.drop(columns=["n_treated", "n_control"]).assign(
        sites_treated=did.att_gt_["n_treated"], sites_control=did.att_gt_["n_control"])
    unsafe = _unsafe(policy, treated, control) | frame["att"].isna().to_numpy()
    values = ["att", "se", "se_did", "ci_lower", "ci_upper", "p"]
    return _finish(frame, unsafe, policy, ["households_treated", "households_control"], values)


def release_did_aggregates(did, panel: pd.DataFrame, count_col: str, unit_col: str = "site",
                           time_col: str = "period", policy: DisclosurePolicy = DEFAULT_POLICY) -> dict:
    """The event study and overall effects of a fitted :class:`StaggeredDiD`, for release.

    An aggregate is a weighted mean of group-time cells with known weights (the groups'
    sizes), so a reader holding it and all but one of its cells could solve for the last
    one: an aggregate is shown only when every cell it averages may be shown (see
    :func:`release_att_gt`). ``households_treated`` is the smallest number of treated
    households behind any of its cells. Returns ``{"event_study": ..., "overall": ...}``.
    """
    policy = check_policy(policy)
    treated, control = _households_behind(did, panel, count_col, unit_col, time_col)
    design = did._design
    att = did.att_gt_["att"].to_numpy()
    cell_ok = ~_unsafe(policy, treated, control) & np.isfinite(att)
    e = design.t - design.g
    post = design.post & np.isfinite(att)

    def support(mask):
        if not mask.any():
            return 0, 0, False
        return int(treated[mask].min()), int(control[mask].min()), bool(cell_ok[mask].all())

    # sites are not households: their numbers are named so that the release check does
    # not read them as counts of households
    names = {"n_groups": "groups", "n_treated": "sites_treated"}
    es = did.event_study_.rename(columns=names)
    facts = [support((e == ev) & np.isfinite(att)) for ev in es["event_time"]]
    es = es.assign(households_treated=[f[0] for f in facts], households_control=[f[1] for f in facts])
    hide = ~np.array([f[2] for f in facts], dtype=bool)
    es_values = ["estimate", "se", "ci_lower", "ci_upper", "band_lower", "band_upper", "p"]
    event_study = _finish(es, hide, policy, ["households_treated", "households_control"], es_values)
    ov = did.overall_.rename(columns=names)
    t_min, c_min, ok = support(post)
    ov = ov.assign(households_treated=t_min, households_control=c_min)
    overall = _finish(ov, np.full(len(ov), not ok), policy, ["households_treated", "households_control"],
                      ["estimate", "se", "se_did", "ci_lower", "ci_upper", "p"])
    return {"event_study": event_study, "overall": overall}


# ----------------------------------------------------------------------------- fitted results
#
# The rules above take a result and the table or panel behind it. The rules below take the
# fitted result alone (it keeps the households behind its numbers), as the notebook API
# releases it: cohort.disclosure.release.RULES names them per class.


def release_balance_result(balance, policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """A fitted :class:`cohort.stats.balance.Balance`, by the rule of :func:`release_balance`.

    Examples
    --------
    >>> from cohort.stats.balance import Balance
    >>> d = pd.DataFrame({"treated": [1] * 12 + [0] * 12, "sev": ["high"] * 3 + ["low"] * 21})
    >>> release_balance_result(Balance().fit(d, "treated", ["sev"], weights=[1.0] * 24))["suppressed"].tolist()
    [True, True]
    """
    policy = check_policy(policy)
    return _release_balance(balance.table_, balance.n_pilot_, balance.n_comparison_, policy)


def _without(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """A released table without ``columns``, its disclosure record kept and brought up to
    date (the columns left out are not released, so they are not in the record either)."""
    columns = [c for c in columns if c in frame.columns]
    record = dict(frame.attrs["disclosure"])
    out = frame.drop(columns=columns)
    for key in ("count_columns", "value_columns"):
        record[key] = [c for c in record.get(key, []) if c not in columns]
    if "suppressed" in out.columns:
        rows = out["suppressed"].fillna(False).to_numpy(dtype=bool)
        kept = [c for c in (*record["count_columns"], *record["value_columns"]) if c in out.columns]
        record["suppressed_cells"] = int(sum((rows & out[c].isna().to_numpy()).sum() for c in kept))
    out.attrs = {**frame.attrs, "disclosure": record}
    return out


def release_weighted_risks(estimator, policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """A fitted :class:`WeightedAalenJohansen` or :class:`WeightedKaplanMeier`, by the rule of
    :func:`release_risk_differences`; with one cause reported its ``cause`` column is left
    out (the table's caption names the event)."""
    out = release_risk_differences(estimator, policy)
    return _without(out, ["cause"]) if out["cause"].nunique() <= 1 else out


def release_weight_distribution(distribution, policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """A fitted :class:`cohort.stats.balance.WeightDistribution`, by the rule of
    :func:`release_weight_summary`, its households per arm named ``households``, without
    the count of truncated weights: the methods text states where weights were truncated,
    and a small count there would withhold the whole row of its arm."""
    out = _without(release_weight_summary(distribution.table_, policy), ["truncated"])
    record = out.attrs["disclosure"]
    out = out.rename(columns={"n": "households"})
    record["count_columns"] = ["households" if c == "n" else c for c in record["count_columns"]]
    out.attrs = {**out.attrs, "disclosure": record}
    return out


def release_weighted_cox(cox, policy: DisclosurePolicy = DEFAULT_POLICY, treatment_col: str = "treated") -> pd.DataFrame:
    """A fitted :class:`cohort.stats.weighted_cox.WeightedCoxPH` with the arm as a term, by
    the rule of :func:`release_hazard_ratio`; the households and events per arm are those
    behind the model's term (its ``term_support_``)."""
    policy = check_policy(policy)
    if treatment_col not in cox.params_.index:
        raise DisclosureError(f"the model has no term {treatment_col!r}: release_weighted_cox is for the arm")
    support = cox.term_support_.loc[treatment_col]
    if not bool(support["indicator"]):
        raise DisclosureError(f"term {treatment_col!r} is not the arm (0/1): release_weighted_cox is for the arm")
    counts = tuple(int(support[c]) for c in ("units_1", "units_0", "events_1", "events_0"))
    return _release_hazard_ratio(cox, treatment_col, counts, policy)


def release_ate_result(estimator, policy: DisclosurePolicy = DEFAULT_POLICY) -> pd.DataFrame:
    """A fitted :class:`cohort.stats.ate.AverageTreatmentEffect`, by the rule of
    :func:`release_ate` on the rows it was fitted on."""
    rows = pd.DataFrame({"time": estimator.durations_, "status": estimator.status_,
                         "treated": estimator.treatment_})
    return release_ate(estimator, rows, policy=policy)


def weighted_curves_figure_data(estimator, policy: DisclosurePolicy = DEFAULT_POLICY, *, risk_times,
                                cause: int = 1) -> dict:
    """The released tables a figure of weighted curves per arm draws: the curves
    (:func:`release_curves`) and the households at risk per arm at ``risk_times`` (days;
    :func:`cohort.disclosure.curves.numbers_at_risk_table`, unweighted; released with the
    times in ``months``). Returns ``{"": curves, "_at_risk": numbers}``."""
    from cohort.disclosure.curves import numbers_at_risk_table

    policy = check_policy(policy)
    at_risk = numbers_at_risk_table(estimator.table_, risk_times, policy, group_col="group")
    # the times under the figure in months (whole months read as a time axis, not as counts)
    months = np.round(at_risk["time"].to_numpy(dtype=float) / DAYS_PER_MONTH, 6)
    at_risk.insert(at_risk.columns.get_loc("time"), "months", months)
    return {"": release_curves(estimator, policy, cause=cause), "_at_risk": _without(at_risk, ["time"])}


#: What :func:`release_staggered` releases of a fitted :class:`StaggeredDiD`.
STAGGERED_PARTS = ("att_gt", "event_study", "overall")


def release_staggered(did, policy: DisclosurePolicy = DEFAULT_POLICY, *, panel: pd.DataFrame, households: str,
                      part: str = "overall", unit_col: str = "site", time_col: str = "period") -> pd.DataFrame:
    """A table of a fitted :class:`cohort.stats.staggered_did.StaggeredDiD`: its group-time
    effects (``part="att_gt"``, :func:`release_att_gt`), the event study or the overall
    effects (:func:`release_did_aggregates`).

    ``panel`` is the site panel the model was fitted on and ``households`` its column of
    the households behind each site-quarter value (e.g. ``first_registrations`` for the
    new households registered). The group-time table names quarters as ``2024Q1`` and
    keeps the households behind each cell; the event study and the overall effects show
    the estimates only. Numbers of sites and groups are not released as columns.
    """
    from cohort.definitions.site_panel import _label

    if part not in STAGGERED_PARTS:
        raise DisclosureError(f"part must be one of {', '.join(STAGGERED_PARTS)}, got {part!r}")
    # numbers of sites and groups are facts of the adoption design, not counts of
    # households: they are left out (a release check reads whole numbers as counts)
    design = ["sites_treated", "sites_control", "groups"]
    quarters = pd.api.types.is_integer_dtype(panel[time_col].dtype) and panel[time_col].min() > 4 * 1900
    if part == "att_gt":
        out = release_att_gt(did, panel, households, unit_col, time_col, policy=policy)
        for col in ("group", "time", "base"):
            if quarters:  # quarters as numbers -> 2024Q1
                out[col] = _label(out[col].to_numpy(dtype=np.int64))
        return _without(out, design)
    out = release_did_aggregates(did, panel, households, unit_col, time_col, policy=policy)[part]
    # the households behind an aggregate decided whether it is shown; its table shows the
    # estimates (a withheld one marked) and not the smallest of those numbers
    return _without(out, [*design, "households_treated", "households_control"])


def event_study_figure_data(did, policy: DisclosurePolicy = DEFAULT_POLICY, *, panel: pd.DataFrame,
                            households: str) -> dict:
    """The released table an event-study figure draws (:func:`release_staggered`,
    ``part="event_study"``), as ``{"": event_study}``."""
    return {"": release_staggered(did, policy, panel=panel, households=households, part="event_study")}


#: The columns of the balance table a balance figure draws.
BALANCE_FIGURE_COLUMNS = ("analysis", "term", "smd_unweighted", "smd_weighted", "suppressed")


def balance_figure_data(balance, policy: DisclosurePolicy = DEFAULT_POLICY) -> dict:
    """The released table a balance figure draws: the standardised differences before and
    after weighting per term (and analysis, for a
    :class:`~cohort.stats.by_analysis.ByAnalysis` of :class:`~cohort.stats.balance.Balance`),
    the same cells as the released balance table (:func:`release_balance_result`), without
    the households and means it does not draw. Returns ``{"": table}``."""
    from cohort.disclosure.release import release

    table = release(balance, policy)
    return {"": _without(table, [c for c in table.columns if c not in BALANCE_FIGURE_COLUMNS])}
