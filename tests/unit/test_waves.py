"""cohort.definitions.waves: the wave rule and the joins of prepare_safety."""

from __future__ import annotations

import pandas as pd
import pytest
from safety_tables import safety_delivery

from cohort.definitions.waves import derive_wave, prepare_safety
from cohort.exceptions import DefinitionError, ParameterError


def test_missing_wave_is_derived_from_months_since_registration():
    sa, ep, hh = safety_delivery([
        ("h1", "AMS", "2024-01-01", "2024-01-10", "professional", 4.0, None),   # 0.3 months -> T0
        ("h1", "AMS", "2024-01-01", "2024-03-25", "professional", 5.0, None),   # 2.8 months -> T0
        ("h1", "AMS", "2024-01-01", "2024-04-15", "professional", 5.0, None),   # 3.5 months -> T1
        ("h1", "AMS", "2024-01-01", "2024-12-20", "professional", 6.0, None),   # 11.6 months -> T2
        ("h1", "AMS", "2024-01-01", "2026-01-01", "professional", 7.0, None),   # 24 months -> T3 (cap)
        ("h2", "UTR", "2024-01-01", "2024-12-20", "professional", 6.0, "T1"),   # recorded wins
    ])
    long = prepare_safety(sa, ep, hh)
    got = dict(zip(long["assessment_date"].dt.strftime("%Y-%m-%d") + long["household_id"],
                   long["wave"], strict=True))
    assert got == {"2024-01-10h1": "T0", "2024-03-25h1": "T0", "2024-04-15h1": "T1",
                   "2024-12-20h1": "T2", "2026-01-01h1": "T3", "2024-12-20h2": "T1"}
    assert long.loc[long["household_id"] == "h2", "wave_source"].tolist() == ["recorded"]
    assert (long.loc[long["household_id"] == "h1", "wave_source"] == "derived").all()


def test_assessments_before_registration_are_left_out_and_counted():
    sa, ep, hh = safety_delivery([("h1", "AMS", "2024-03-01", "2024-02-01", "professional", 4.0, "T0"),
                          ("h1", "AMS", "2024-03-01", "2024-03-05", "professional", 5.0, "T0")])
    long = prepare_safety(sa, ep, hh)
    assert len(long) == 1 and long.attrs["n_before_registration"] == 1


def test_prepare_does_not_mutate_and_needs_the_episode():
    sa, ep, hh = safety_delivery([("h1", "AMS", "2024-03-01", "2024-03-05", "professional", 5.0, "T0")])
    before = sa.copy()
    prepare_safety(sa, ep, hh)
    pd.testing.assert_frame_equal(sa, before)
    with pytest.raises(DefinitionError, match="not found in episodes"):
        prepare_safety(sa.assign(episode_id="nope"), ep, hh)
    with pytest.raises(DefinitionError, match="lacks column"):
        prepare_safety(sa.drop(columns="score"), ep, hh)


def test_derive_wave_parameters():
    assert derive_wave(pd.Series([0.0, 4.0, 8.0]), wave_months=4, n_waves=2).tolist() == ["T0", "T1", "T1"]
    with pytest.raises(ParameterError):
        derive_wave(pd.Series([1.0]), wave_months=0)
