"""How a report says that an analysis is not estimable here, and how a reduced fit reads.

An estimator that cannot be fitted on the report's data returns a not-estimable result
(:class:`cohort.exceptions.NotEstimable` in ``not_estimable_``, see
:mod:`cohort.stats.base`); a model table that disclosure control suppresses as a whole says
why in its record (``reason_key``). The notebook API (:mod:`cohort.report.notebook`) shows
both as "not estimable here" with the reason, in the report's language, and releases a
one-row table that says so (:func:`not_estimable_frame`), so a required table of a report
always exists.

**Counts in the reasons pass disclosure control.** With disclosure control on, a count of
units (households, scores, events) below the threshold is never written: a reason that
rests on one becomes "the analysis rests on fewer than T households / events" (zero
included, as a suppressed cell: "no events" reads "fewer than 10 events"), and larger
counts are rounded as the report's counts are. The same holds for the facts a model
records for the methods text (:func:`coarse_about`).

Reduced fits (a Cox term R sets to ``NA``, a mixed model without its random slope, the
quarters a segmented regression leaves out) are stated under their table
(:func:`fit_notes`), and their terms are marked in the table (:data:`report.not_estimable
marker <cohort.report.text>`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from cohort.exceptions import NotEstimable

__all__ = [
    "COUNT_FACTS",
    "EXEMPTION",
    "safe_reason",
    "reason_text",
    "not_estimable_frame",
    "coarse_about",
    "fit_notes",
    "term_reasons",
]

#: Facts of a reason that count units (households, scores, events): checked against the
#: disclosure threshold before they are written.
COUNT_FACTS = ("events", "households", "n_obs", "n_re", "n_groups", "total")

#: Why the table of a not-estimable analysis needs no disclosure control (manifest).
EXEMPTION = "not estimable here: the table holds the analysis and the reason, no estimates or counts"

#: Which "too few" reason a small count turns a reason into, by fact.
_SMALL = {"events": "too_few_events", "households": "too_few_households", "n_groups": "too_few_households",
          "n_obs": "too_few_households", "n_re": "too_few_households", "total": "small_counts"}


class _Coarse(str):
    """A count below the threshold, written as "fewer than T"."""


def safe_reason(error: NotEstimable, policy) -> NotEstimable:
    """``error`` as a report may state it under ``policy``: no count of units below the
    threshold, none that tells zero apart from other small counts.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> safe_reason(NotEstimable("no_events"), DisclosurePolicy()).reason
    'too_few_events'
    >>> r = safe_reason(NotEstimable("not_identifiable", n_obs=25, n_re=16, n_groups=8), DisclosurePolicy())
    >>> r.reason, r.facts["households"]
    ('too_few_households', 'fewer than 10')
    >>> safe_reason(NotEstimable("not_identifiable", n_obs=2592, n_re=3084, n_groups=1542),
    ...             DisclosurePolicy()).facts
    {'n_obs': 2592, 'n_re': 3084, 'n_groups': 1542}
    >>> safe_reason(NotEstimable("no_events"), DisclosurePolicy(enabled=False)).reason
    'no_events'
    """
    facts = dict(error.facts)
    if isinstance(facts.get("cause"), NotEstimable):
        facts["cause"] = safe_reason(facts["cause"], policy)
    if not getattr(policy, "enabled", False):
        return NotEstimable(error.reason, str(error), **facts)
    threshold = int(policy.threshold)
    fewer = _Coarse(f"fewer than {threshold}")
    if error.reason == "no_events":
        return NotEstimable("too_few_events", events=fewer, threshold=threshold)
    if error.reason == "no_observations":
        return NotEstimable("too_few_households", households=fewer, threshold=threshold)
    for name in COUNT_FACTS:
        value = facts.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value < threshold:
            key = _SMALL[name]
            fact = {"too_few_events": "events", "too_few_households": "households", "small_counts": "total"}[key]
            return NotEstimable(key, **{fact: fewer}, threshold=threshold)
    for name in COUNT_FACTS:
        value = facts.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            facts[name] = int(policy.round_counts([value])[0])
    return NotEstimable(error.reason, str(error), **facts)


def _fact_text(value, language: str) -> str:
    from cohort.report.format import format_date, format_number
    from cohort.report.text import report_text

    if isinstance(value, _Coarse):
        return report_text("not_estimable.fewer_than", language,
                           threshold=format_number(int(value.split()[-1]), "count", language))
    if isinstance(value, NotEstimable):
        return reason_text(value, language)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return format_number(value, "count", language)
    if isinstance(value, dt.date | pd.Timestamp):
        return format_date(value, language)
    if isinstance(value, list | tuple):
        return ", ".join(_fact_text(v, language) for v in value)
    return str(value)


def reason_text(error: NotEstimable, language: str) -> str:
    """The reason of ``error`` in ``language`` (report text ``not_estimable.reasons.KEY``);
    give it :func:`safe_reason` first when the report is under disclosure control.

    Examples
    --------
    >>> reason_text(NotEstimable("too_few_periods", n_pre=1, n_post=6,
    ...                          change_date=dt.date(2024, 1, 1), n_terms=4), "en")
    'there are 1 quarters with a count before 1 January 2024 and 6 from that date; the model needs at least 2 on either side and one more than it has terms (4)'
    """
    from cohort.report.text import report_text, text_exists

    key = f"not_estimable.reasons.{error.reason}"
    if not text_exists(key):
        return str(error)
    fields = {k: _fact_text(v, language) for k, v in error.facts.items()}
    try:
        return report_text(key, language, **fields)
    except (KeyError, IndexError):
        return str(error)


def not_estimable_frame(name: str, error: NotEstimable) -> pd.DataFrame:
    """The released table of an analysis that is not estimable here: one row with the
    analysis (the table's name), ``estimable`` false and the reason's key.

    Examples
    --------
    >>> not_estimable_frame("reregistration_cox", NotEstimable("too_few_events"))
                 analysis  estimable          reason
    0  reregistration_cox      False  too_few_events
    """
    frame = pd.DataFrame({"analysis": [name], "estimable": [False], "reason": [error.reason]})
    frame.attrs["not_estimable"] = error
    return frame


def coarse_about(about: Mapping | None, policy) -> dict | None:
    """A model's facts for the manifest and the methods text, with every count of units
    below the threshold written ``<T`` (and the counts of a reduced fit's reason too).

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> coarse_about({"model": "CoxPH", "n": 69, "events": 6, "n_iter": 5}, DisclosurePolicy())
    {'model': 'CoxPH', 'n': 69, 'events': '<10', 'n_iter': 5}
    """
    if about is None:
        return None
    if not getattr(policy, "enabled", False):
        return dict(about)
    threshold = int(policy.threshold)
    counts = {"n", "events", "n_obs", "n_groups", "n_clusters", "n_dropped", "n_events", "n_competing",
              "n_households", "n_re"}

    def coarse(value):
        if isinstance(value, int) and not isinstance(value, bool) and value < threshold:
            return f"<{threshold}"
        return value

    out = {}
    for key, value in about.items():
        if key in counts and isinstance(value, Mapping):
            out[key] = {k: coarse(v) for k, v in value.items()}
        elif key in counts:
            out[key] = coarse(value)
        elif key == "reduced" and isinstance(value, Mapping):
            out[key] = {k: coarse(v) if k in counts else v for k, v in value.items()}
        else:
            out[key] = value
    return out


def term_reasons(obj) -> dict[str, str]:
    """The terms of a fitted model that are not estimated, by reason key (``dropped_terms_``)."""
    dropped = getattr(obj, "dropped_terms_", None)
    return dict(dropped) if isinstance(dropped, Mapping) else {}


def fit_notes(obj, language: str, policy) -> list[str]:
    """What a reduced fit leaves out, in ``language``, for under its table: the random slope
    of a mixed model, the quarters of a segmented regression without a count."""
    from cohort.report.text import report_text

    notes = []
    reduction = getattr(obj, "reduction_", None)
    if isinstance(reduction, Mapping) and reduction.get("dropped") == "random slope":
        error = NotEstimable(reduction.get("reason", "not_identifiable"),
                             **{k: reduction[k] for k in ("n_obs", "n_re", "n_groups") if k in reduction})
        if error.reason == "too_few_groups":
            error = NotEstimable("too_few_groups", n_groups=reduction.get("n_groups"), needed=3)
        notes.append(report_text("not_estimable.random_slope", language,
                                 reason=reason_text(safe_reason(error, policy), language)))
    left_out = getattr(obj, "periods_left_out_", None)
    if left_out:
        letter = report_text("alt.quarter_letter", language)
        quarters = [f"{letter}{pd.Timestamp(p).quarter} {pd.Timestamp(p).year}" for p in left_out]
        notes.append(report_text("not_estimable.periods_left_out", language, n=len(quarters),
                                 periods=", ".join(quarters)))
    return notes
