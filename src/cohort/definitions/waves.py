"""Safety assessments as an analysis table: waves, time since registration, respondents.

:func:`prepare_safety` joins assessments to their episode and household and derives the
wave and the time since registration, as ``docs/methods-trends.md`` describes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.definitions.dates import DAYS_PER_MONTH, DAYS_PER_YEAR
from cohort.definitions.tables import require_columns
from cohort.exceptions import DefinitionError, ParameterError


def derive_wave(months: pd.Series, wave_months: float = 6.0, n_waves: int = 4) -> pd.Series:
    """Wave label from months since registration: ``T<round(months / wave_months)>``, capped.

    >>> derive_wave(pd.Series([0.0, 2.9, 3.1, 8.0, 14.0, 30.0])).tolist()
    ['T0', 'T0', 'T1', 'T1', 'T2', 'T3']
    """
    if wave_months <= 0 or n_waves < 1:
        raise ParameterError("wave_months must be > 0 and n_waves >= 1")
    # floor(x + 0.5): halves go up, unlike numpy's round-half-to-even.
    k = np.floor(months.to_numpy(dtype=float, na_value=np.nan) / wave_months + 0.5)
    k = np.clip(k, 0, n_waves - 1)
    out = pd.Series(pd.array(["T" + str(int(v)) if np.isfinite(v) else None for v in k],
                             dtype="string"), index=months.index)
    return out


def prepare_safety(safety_assessments: pd.DataFrame, episodes: pd.DataFrame,
                   households: pd.DataFrame, covariates=(), wave_months: float = 6.0,
                   n_waves: int = 4) -> pd.DataFrame:
    """Join scores to their episode and household and add time and wave columns.

    Returns a new long table, one row per assessment, with ``household_id, episode_id,
    site, respondent, assessment_date, registration_date, months_since_registration,
    years_since_registration, wave, wave_number, wave_source, score`` and the requested
    household ``covariates``; sorted by household, episode, date, respondent.

    Raises
    ------
    DefinitionError
        A required column is missing, or an assessment names an episode that does not
        exist (the row is identified by position only: pseudonyms are not echoed).
    """
    require_columns(safety_assessments, "safety_assessments",
                    ["household_id", "episode_id", "assessment_date", "respondent", "score"],
                    error=DefinitionError)
    require_columns(episodes, "episodes", ["episode_id", "registration_date"], error=DefinitionError)
    require_columns(households, "households", ["household_id", "site", *covariates],
                    error=DefinitionError)
    s = safety_assessments.copy()
    if "wave" not in s.columns:
        s["wave"] = pd.array([None] * len(s), dtype="string")
    ep = episodes[["episode_id", "registration_date"]]
    out = s.merge(ep, on="episode_id", how="left", validate="many_to_one")
    if out["registration_date"].isna().any():
        row = int(np.flatnonzero(out["registration_date"].isna().to_numpy())[0])
        raise DefinitionError(
            f"safety_assessments row {row}: episode_id not found in episodes (or no "
            "registration_date); validate the delivery first"
        )
    hh = households[["household_id", "site", *covariates]]
    out = out.merge(hh, on="household_id", how="left", validate="many_to_one")
    days = (out["assessment_date"] - out["registration_date"]).dt.days.astype(float)
    before = days < 0
    n_before = int(before.sum())
    out = out.loc[~before.to_numpy()].copy()
    days = days[~before]
    out["months_since_registration"] = days / DAYS_PER_MONTH
    out["years_since_registration"] = days / DAYS_PER_YEAR
    recorded = out["wave"].astype("string").str.strip().str.upper()
    valid = recorded.str.fullmatch(r"T\d+").fillna(False).astype(bool)
    derived = derive_wave(out["months_since_registration"], wave_months, n_waves)
    out["wave_source"] = np.where(valid, "recorded", "derived")
    out["wave"] = recorded.where(valid, derived).astype("string")
    out["wave_number"] = out["wave"].str.slice(1).astype("Int64")
    out["score"] = out["score"].astype(float)
    cols = ["household_id", "episode_id", "site", "respondent", "assessment_date",
            "registration_date", "months_since_registration", "years_since_registration",
            "wave", "wave_number", "wave_source", "score", *covariates]
    out = out[cols].sort_values(["household_id", "episode_id", "assessment_date", "respondent"],
                                kind="stable").reset_index(drop=True)
    out.attrs["n_before_registration"] = n_before
    out.attrs["wave_rule"] = (f"recorded wave if present, else T<round(months/{wave_months:g})>, "
                              f"capped at T{n_waves - 1}")
    return out
