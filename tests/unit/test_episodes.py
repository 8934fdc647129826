"""Episode derivations: clipping, the study, activity, spells; text and integer ids alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.definitions.dates import check_period, to_date
from cohort.definitions.episodes import (
    active_on,
    activity_spells,
    clip_to_reference,
    first_registration,
    households_active_on,
    in_study,
    inactive_spells,
)
from cohort.exceptions import DefinitionError, DeliveryError, ParameterError


def episodes(rows, ids="string"):
    frame = pd.DataFrame(rows, columns=["household_id", "registration_date", "closure_date"])
    frame["registration_date"] = pd.to_datetime(frame["registration_date"])
    frame["closure_date"] = pd.to_datetime(frame["closure_date"])
    frame["household_id"] = frame["household_id"].astype(ids)
    return frame


ROWS = [
    ("H1", "2023-01-10", "2023-03-01"),
    ("H1", "2023-02-01", "2023-04-01"),  # overlaps the first
    ("H1", "2023-04-01", "2023-05-01"),  # touches the second
    ("H1", "2023-08-01", None),
    ("H2", "2023-03-05", "2023-03-05"),  # closed on its registration day
    ("H3", "2022-01-01", "2022-06-01"),  # before the study
]


def test_clip_to_reference_is_pure_and_clears_what_happens_later():
    eps = episodes(ROWS)
    eps["closure_reason"] = ["goal_reached", "refused", "other", None, "other", "other"]
    eps["rvt_end_date"] = pd.to_datetime(["2023-02-01", "2023-06-01", None, None, None, None])
    before = eps.copy()
    out = clip_to_reference(eps, "2023-03-31")
    pd.testing.assert_frame_equal(eps, before)
    assert len(out) == 4  # the episode of 2023-04-01 and the one of 2023-08-01 do not exist yet
    assert out["closure_date"].isna().tolist() == [False, True, False, False]
    assert out["closure_reason"].isna().tolist() == [False, True, False, False]
    assert out["rvt_end_date"].isna().tolist() == [False, True, True, True]


def test_clip_refuses_missing_registration_dates():
    eps = episodes(ROWS)
    eps.loc[0, "registration_date"] = pd.NaT
    with pytest.raises(DefinitionError, match="registration_date"):
        clip_to_reference(eps, "2024-12-31")


def test_missing_columns_and_bad_dates():
    with pytest.raises(DeliveryError, match="closure_date"):
        active_on(episodes(ROWS).drop(columns="closure_date"), "2023-03-01")
    eps = episodes(ROWS).astype({"registration_date": str})
    eps.loc[0, "registration_date"] = "10/01/2023"
    with pytest.raises(DeliveryError, match="YYYY-MM-DD"):
        active_on(eps, "2023-03-01")


def test_in_study_and_active():
    eps = episodes(ROWS)
    assert in_study(eps, "2023-01-01", "2024-12-31").tolist() == [
        True,
        True,
        True,
        True,
        True,
        False,
    ]
    assert active_on(eps, "2023-03-01").tolist() == [False, True, False, False, False, False]
    assert households_active_on(eps, "2023-03-05").to_dict() == {
        "H1": True,
        "H2": False,
        "H3": False,
    }


@pytest.mark.parametrize("ids", ["string", "int"])
def test_spells_merge_overlapping_and_touching_episodes(ids):
    rows = ROWS if ids == "string" else [(int(h[1]), a, b) for h, a, b in ROWS]
    spells = activity_spells(episodes(rows, ids))
    key = "H1" if ids == "string" else 1
    h1 = spells.loc[spells["household_id"] == key]
    assert h1["start"].dt.strftime("%Y-%m-%d").tolist() == ["2023-01-10", "2023-08-01"]
    assert h1["end"].dt.strftime("%Y-%m-%d").fillna("open").tolist() == ["2023-05-01", "open"]
    assert len(spells) == 3  # H1 twice, H3 once; H2 has no active day


def test_gaps_and_first_registration():
    eps = episodes(ROWS)
    first = first_registration(eps, "2023-01-01", "2024-12-31")
    assert first.dt.strftime("%Y-%m-%d").to_dict() == {"H1": "2023-01-10", "H2": "2023-03-05"}
    gaps = inactive_spells(eps, "2023-01-01")
    got = list(
        zip(
            gaps["household_id"],
            gaps["start"].dt.strftime("%Y-%m-%d"),
            gaps["end"].astype(str),
            strict=True,
        )
    )
    assert got == [("H1", "2023-05-01", "2023-08-01"), ("H2", "2023-03-05", "NaT")]


def test_dates():
    assert to_date(pd.Timestamp("2024-02-29"), "d") == pd.Timestamp("2024-02-29")
    assert to_date(np.datetime64("2024-02-29"), "d") == pd.Timestamp("2024-02-29")
    with pytest.raises(ParameterError, match="whole day"):
        to_date(pd.Timestamp("2024-02-29 12:00"), "d")
    with pytest.raises(ParameterError, match="before study_start"):
        check_period("2023-01-01", "2022-12-31")
