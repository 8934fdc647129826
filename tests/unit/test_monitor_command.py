"""``cohort monitor`` on the bundled synthetic delivery: output, options, user errors."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from cohort.cli import main
from cohort.disclosure.policy import SUPPRESSED

DELIVERY = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "default"

pytestmark = pytest.mark.skipif(
    not DELIVERY.is_dir(), reason="bundled synthetic delivery not generated"
)


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("COHORT_CACHE_DIR", str(tmp_path / "cache"))


def run(capsys, *args):
    code = main(["monitor", str(DELIVERY), "--reference-date", "2024-12-31", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_prints_headline_and_series(capsys):
    code, out, err = run(capsys)
    assert code == 0
    assert "Disclosure control: on (at least 10 units per cell, no rounding)" in out
    assert "2024Q4" in out and "2023Q1" in out
    assert "SYN-" not in out  # never a pseudonym
    assert err == ""


def test_by_site(capsys):
    code, out, _ = run(capsys, "--by", "site")
    assert code == 0
    assert "per site" in out and SUPPRESSED in out


def test_csv_is_the_released_series(capsys):
    code, out, _ = run(capsys, "--csv", "--rounding", "5", "--threshold", "11")
    assert code == 0
    table = pd.read_csv(io.StringIO(out), keep_default_na=False)
    assert table.columns[0] == "indicator"
    last = table.loc[
        (table["interval_end"] == "2024-12-31") & (table["indicator"] == "households_involved")
    ]
    assert last["numerator"].tolist() == ["1655"]  # 1653 rounded to 5
    assert (table.loc[table["suppressed"] == "true", "numerator"].isin([SUPPRESSED, ""])).all()


def test_switching_off_is_loud(capsys):
    code, out, err = run(capsys, "--no-disclosure-control")
    assert code == 0
    assert "OFF" in out and "not for release" in err


def test_off_with_a_threshold_is_an_error(capsys):
    code, _, err = run(capsys, "--no-disclosure-control", "--threshold", "5")
    assert code == 2
    assert "cannot be combined" in err


def test_bad_reference_date(capsys):
    code = main(["monitor", str(DELIVERY), "--reference-date", "2024-02-30"])
    assert code == 2
    assert "reference_date must be a date" in capsys.readouterr().err
