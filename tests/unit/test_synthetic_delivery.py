"""A delivery says whether it is synthetic; reports built from one carry a notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohort.delivery import schema
from cohort.delivery.load import is_synthetic, load
from cohort.delivery.pseudonymise import pseudonymise_delivery
from cohort.exceptions import DeliveryError

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "tests" / "fixtures" / "deliveries" / "valid"


def test_the_bundled_delivery_is_synthetic():
    assert is_synthetic(load(ROOT / "data" / "synthetic" / "default", on_error="proceed", cache_dir=False))


def test_a_pseudonymised_delivery_is_not_synthetic(tmp_path):
    target = tmp_path / "real"
    pseudonymise_delivery(VALID, target, list(schema.ID_COLUMNS), b"k" * 32)
    delivery = load(target, on_error="proceed", cache_dir=False)
    assert not delivery.households["household_id"].str.startswith("SYN-").any()
    assert not is_synthetic(delivery)


def test_synthetic_rows_in_a_real_delivery_are_refused_without_echoing_them(tmp_path):
    target = tmp_path / "real"
    pseudonymise_delivery(VALID, target, list(schema.ID_COLUMNS), b"k" * 32)
    tables = dict(load(target, on_error="proceed", cache_dir=False).tables)
    households = tables["households"].copy()
    households.loc[0, "household_id"] = "SYN-H777"
    tables["households"] = households
    with pytest.raises(DeliveryError, match="households.household_id mixes synthetic") as error:
        is_synthetic(tables)
    assert "SYN-H777" not in str(error.value)
