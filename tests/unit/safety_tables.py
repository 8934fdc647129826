"""Tiny safety tables written in the tests (delivery tables and the prepared long table)."""

from __future__ import annotations

import pandas as pd

from cohort.definitions.waves import prepare_safety


def safety_delivery(rows):
    """Tiny delivery tables: rows are (household, site, registration, assessment, resp, score, wave)."""
    hh = pd.DataFrame({"household_id": sorted({r[0] for r in rows}),
                       "site": [next(r[1] for r in rows if r[0] == h) for h in sorted({r[0] for r in rows})]})
    ep = pd.DataFrame({"episode_id": "E" + hh["household_id"], "household_id": hh["household_id"],
                       "registration_date": pd.to_datetime([next(r[2] for r in rows if r[0] == h)
                                                            for h in hh["household_id"]])})
    sa = pd.DataFrame({
        "assessment_id": [f"A{i}" for i in range(len(rows))],
        "household_id": [r[0] for r in rows], "episode_id": ["E" + r[0] for r in rows],
        "assessment_date": pd.to_datetime([r[3] for r in rows]), "respondent": [r[4] for r in rows],
        "score": pd.array([r[5] for r in rows], dtype="Float64"),
        "wave": pd.array([r[6] for r in rows], dtype="string")})
    return sa, ep, hh


def long_table(rows):
    """The prepared long table of :func:`safety_delivery` rows."""
    return prepare_safety(*safety_delivery(rows))
