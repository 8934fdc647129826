"""Disclosure control of model tables: coefficients resting on enough households and events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.stats.cox import CoxPH


def release_cox_table(cox: CoxPH, policy) -> pd.DataFrame:
    """Cox coefficients for release (``reregistration_cox.csv``).

    Columns ``term, coef, se, robust_se, hr, hr_lower, hr_upper, p, suppressed``. The model
    must rest on at least ``threshold`` events (else :class:`DisclosureError`); the
    coefficient of a 0/1 covariate whose either level has fewer than ``threshold`` units
    (clusters) or events is suppressed (its values blanked, ``suppressed`` true).
    """
    from cohort.disclosure.cells import disclosure_record
    from cohort.disclosure.policy import check_policy
    from cohort.exceptions import DisclosureError

    policy = check_policy(policy)
    if policy.enabled and cox.n_events_ < policy.threshold:
        raise DisclosureError(
            f"the Cox model rests on {cox.n_events_} events, fewer than the disclosure threshold "
            f"{policy.threshold}: it cannot be released; pool groups or lengthen follow-up"
        )
    out = cox.release_table()
    uc = cox.unit_counts_.reindex(out["term"])
    small = (
        uc["indicator"].to_numpy()
        & (
            uc[["units_1", "units_0", "events_1", "events_0"]].to_numpy() < policy.threshold
        ).any(axis=1)
    )
    if not policy.enabled:
        small = np.zeros(len(out), dtype=bool)
    values = ["coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"]
    for col in values:
        out[col] = out[col].astype("Float64").mask(small)
    out["suppressed"] = pd.array(small, dtype="boolean")
    out.attrs["disclosure"] = disclosure_record(
        policy, count_columns=[], value_columns=values, n_suppressed=int(small.sum()), rule="model terms"
    )
    return out


def release_mixed_model(model, policy) -> pd.DataFrame:
    """The mixed model's table (:func:`cohort.stats.safety.mixed_model_table`) for release:
    resting on the households of the model, suppressed as a whole below the threshold."""
    from cohort.disclosure.tables import release_model_table
    from cohort.stats.safety import mixed_model_table

    return release_model_table(mixed_model_table(model), model.n_groups_, policy)
