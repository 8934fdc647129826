"""Disclosure control of model tables: every term rests on enough households (and events).

One rule for every model table (``docs/definitions.md``, "Model tables"):

* **The model**: it rests on at least ``threshold`` households (for time-to-event models
  also ``threshold`` events); otherwise every estimate of its tables is suppressed and the
  record says why.
* **A term** (a site dummy, a level of a 0/1 or categorical covariate): its support
  (:attr:`term_support_` of the fitted model, :func:`cohort.stats.base.term_support`: the
  smaller side of a 0/1 column, every unit for a continuous one) must be at least
  ``threshold`` households, and for time-to-event models ``threshold`` events; otherwise
  the term's row is suppressed.
* **A stratum** of a stratified model must rest on at least ``threshold`` households;
  otherwise the model is suppressed as a whole (a stratum has no row of its own, but its
  households are behind every estimate).
* **Every table about the same model** suppresses the same terms: the proportional-hazards
  test suppresses the rows of suppressed Cox terms, and its global test when any term is
  suppressed (it combines all terms).
* Terms that rest on all households of the model (variance components, the intercept, a
  continuous covariate) follow the model.

For a model of aggregated counts (the segmented regression of quarterly registrations) the
support is the registrations behind a term, not the quarters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.disclosure.cells import disclosure_record
from cohort.disclosure.policy import check_policy

__all__ = [
    "release_model",
    "release_cox_table",
    "release_ph_test",
    "release_mixed_model",
    "release_gee",
    "release_segmented",
    "suppressed_terms",
]

RULE = "model terms"


def _below(values, policy) -> np.ndarray:
    values = pd.array(values, dtype="Float64")
    return (values < policy.threshold).fillna(False).to_numpy(dtype=bool)


def suppressed_terms(support: pd.DataFrame, policy, *, events: bool = False) -> pd.Series:
    """Which terms a model table suppresses, by term: support below the threshold.

    ``support`` is a model's ``term_support_`` (index ``term``, columns ``units`` and
    ``events``); with ``events`` the events must reach the threshold too.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> s = pd.DataFrame({"units": [40, 9, 12], "events": [20, 5, 9]},
    ...                  index=pd.Index(["x", "siteB", "siteC"], name="term"))
    >>> suppressed_terms(s, DisclosurePolicy()).tolist()
    [False, True, False]
    >>> suppressed_terms(s, DisclosurePolicy(), events=True).tolist()
    [False, True, True]
    """
    policy = check_policy(policy)
    if not policy.enabled:
        return pd.Series(False, index=support.index)
    small = _below(support["units"], policy)
    if events and "events" in support:
        small |= _below(support["events"], policy)
    return pd.Series(small, index=support.index)


def _apply(table: pd.DataFrame, hidden: np.ndarray, policy, *, value_columns, count_columns=(),
           reason: str | None = None, about=None) -> pd.DataFrame:
    """Blank the value (and count) columns of the hidden rows; add ``suppressed``; record."""
    out = table.copy()
    out.attrs = {k: v for k, v in table.attrs.items() if k != "roles"}
    if not policy.enabled:
        hidden = np.zeros(len(out), dtype=bool)
    for col in value_columns:
        if col in out.columns:
            out[col] = out[col].astype("Float64").mask(hidden)
    counts = []
    for col in count_columns:
        if col in out.columns:
            released = policy.round_counts(out[col].to_numpy(dtype=np.int64))
            out[col] = pd.Series(released, index=out.index, dtype="Int64").mask(hidden)
            counts.append(col)
    out["suppressed"] = pd.array(hidden, dtype="boolean")
    record = disclosure_record(
        policy,
        count_columns=counts,
        value_columns=[c for c in value_columns if c in out.columns],
        n_suppressed=int(hidden.sum()),
        rule=RULE,
        key_columns=[c for c in out.columns if c == "term"],
    )
    if reason and policy.enabled:
        record["reason"] = str(reason)
        # which case, for the report's "not estimable here" note (report text
        # not_estimable.reasons.KEY); its counts are below the threshold and are not kept
        record["reason_key"] = getattr(reason, "key", None)
    out.attrs["disclosure"] = record
    if about is not None:
        out.attrs["model"] = about
    return out


class _Reason(str):
    """Why a model table is suppressed as a whole, with the case's key (``key``)."""

    def __new__(cls, text: str, key: str):
        out = super().__new__(cls, text)
        out.key = key
        return out


def _model_reason(n_units: int, n_events: int | None, policy, what: str) -> str | None:
    if not policy.enabled:
        return None
    if n_units < policy.threshold:
        return _Reason(f"the {what} rests on {n_units} households, fewer than {policy.threshold}",
                       "too_few_households")
    if n_events is not None and n_events < policy.threshold:
        return _Reason(f"the {what} rests on {n_events} events, fewer than {policy.threshold}",
                       "too_few_events")
    return None


def _terms_hidden(table: pd.DataFrame, support: pd.DataFrame, policy, *, events: bool) -> np.ndarray:
    small = suppressed_terms(support, policy, events=events)
    return table["term"].map(small).eq(True).to_numpy(dtype=bool)  # no support row: False


# ----------------------------------------------------------------------------- models


def release_cox_table(cox, policy) -> pd.DataFrame:
    """Cox coefficients for release (``reregistration_cox.csv``).

    Columns ``term, coef, se, robust_se, hr, hr_lower, hr_upper, p, suppressed``. A term
    whose households (clusters) or events fall below the threshold on either side of a 0/1
    term is suppressed; a model resting on fewer than the threshold of events, or with a
    stratum of fewer than the threshold of households, is suppressed as a whole with the
    reason in the record.
    """
    policy = check_policy(policy)
    out = cox.release_table()
    values = ["coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"]
    hidden = _terms_hidden(out, cox.term_support_, policy, events=True)
    n_units = int(cox.n_clusters_ or cox.n_)
    reason = _model_reason(n_units, int(cox.n_events_), policy, "Cox model")
    strata = getattr(cox, "strata_support_", None)
    if reason is None and policy.enabled and strata is not None and len(strata) > 1:
        small = strata["units"].to_numpy() < policy.threshold
        if small.any():
            reason = _Reason(
                f"{int(small.sum())} stratum(s) of the Cox model rest on fewer than "
                f"{policy.threshold} households",
                "small_stratum",
            )
    if reason:
        hidden = np.ones(len(out), dtype=bool)
    return _apply(out, hidden, policy, value_columns=values, reason=reason, about=_about(cox))


def release_ph_test(test, policy) -> pd.DataFrame:
    """The proportional-hazards test of a Cox model (``cox.zph``) for release.

    Columns ``term, chisq, df, p, suppressed``. A row of a covariate with a suppressed Cox
    term is suppressed (the rule of :func:`release_cox_table`), and so is ``GLOBAL`` when
    any is; the whole table when the Cox model is suppressed. ``df`` (degrees of freedom)
    is a statistic, a value like ``chisq``: released where the row is, blanked where it is
    suppressed.
    """
    policy = check_policy(policy)
    cox = test.model
    coefficients = release_cox_table(cox, policy)
    hidden_terms = set(coefficients.loc[coefficients["suppressed"].to_numpy(dtype=bool), "term"])
    covariate_of = dict(getattr(cox, "terms_", {}))
    hidden_covariates = {covariate_of.get(t, t) for t in hidden_terms}
    out = test.summary.reset_index()
    hidden = out["term"].isin(hidden_covariates | hidden_terms).to_numpy()
    if hidden.any():
        hidden |= (out["term"] == "GLOBAL").to_numpy()
    values = [c for c in out.columns if c != "term"]
    record = coefficients.attrs["disclosure"]
    reason = _Reason(record["reason"], record.get("reason_key")) if record.get("reason") else None
    return _apply(out, hidden, policy, value_columns=values, reason=reason, about=_about(test))


def _grouped_model(model, table: pd.DataFrame, policy, what: str, values) -> pd.DataFrame:
    """Mixed model and GEE: terms by households; variance components follow the model."""
    n = int(model.n_groups_)
    reason = _model_reason(n, None, policy, what)
    table = table.copy()
    table["n_households"] = n
    hidden = _terms_hidden(table, model.term_support_, policy, events=False)
    if reason:
        hidden = np.ones(len(table), dtype=bool)
    return _apply(table, hidden, policy, value_columns=values, count_columns=["n_households"],
                  reason=reason, about=_about(model))


def release_mixed_model(model, policy) -> pd.DataFrame:
    """The mixed model's table (fixed effects, then variance components) for release:
    ``term, estimate, se, ci_lower, ci_upper, p, n_households, suppressed``."""
    policy = check_policy(policy)
    table = model.release_table()
    values = ["estimate", "se", "ci_lower", "ci_upper", "p"]
    return _grouped_model(model, table, policy, "mixed model", values)


def release_gee(model, policy) -> pd.DataFrame:
    """The GEE's coefficients for release:
    ``term, estimate, se, ci_lower, ci_upper, statistic, p, n_households, suppressed``."""
    policy = check_policy(policy)
    table = model.release_table()
    values = ["estimate", "se", "ci_lower", "ci_upper", "statistic", "p"]
    return _grouped_model(model, table, policy, "GEE", values)


def release_segmented(model, policy) -> pd.DataFrame:
    """The segmented regression of quarterly counts for release: ``term, estimate, se,
    ci_lower, ci_upper, statistic, p, rate_ratio, rr_ci_lower, rr_ci_upper, dispersion,
    suppressed``. Its unit is the counted episode (registration): a term resting on fewer
    than the threshold of them is suppressed, the whole table when the counts are."""
    policy = check_policy(policy)
    table = model.release_table().drop(columns=["n_pre", "n_post"])
    support = model.term_support_.assign(units=model.term_support_["events"])
    hidden = _terms_hidden(table, support, policy, events=False)
    total = int(model.term_support_["events"].max()) if len(model.term_support_) else 0
    reason = None
    if policy.enabled and total < policy.threshold:
        reason = _Reason(f"the counts behind the model add up to {total}, fewer than {policy.threshold}",
                         "small_counts")
        hidden = np.ones(len(table), dtype=bool)
    values = [c for c in table.columns if c != "term"]
    return _apply(table, hidden, policy, value_columns=values, reason=reason, about=_about(model))


def release_model(model, policy) -> pd.DataFrame:
    """Any other regression model (Poisson, logistic, negative binomial): its
    ``release_table()`` with terms resting on fewer than the threshold of units suppressed."""
    policy = check_policy(policy)
    table = model.release_table()
    hidden = _terms_hidden(table, model.term_support_, policy, events=False)
    values = [c for c in table.columns if c != "term"]
    return _apply(table, hidden, policy, value_columns=values, about=_about(model))


def _about(model) -> dict | None:
    describe = getattr(model, "describe", None)
    return describe() if callable(describe) else None
