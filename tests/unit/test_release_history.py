"""Issue 12, "done means": reports built one after the other in one reports folder, without
``--against``, cannot be worked out together.

The interim report, the same for all sites but FRL, UTR alone and the report for 31 March
2025 are built with the package API into one reports folder (one ledger). Each build
protects itself against every earlier release in the ledger. Then every released file of
all four is read back and attacked together (:func:`cohort.disclosure.check.attack`): no
suppressed cell and no count below the threshold can be worked out. Built without the
ledger, the subset report gives FRL's suppressed counts away.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohort.disclosure.check import attack, check_release
from cohort.disclosure.ledger import LEDGER_ENV, Ledger
from cohort.report.build import build_report
from cohort.report.params import from_mapping, load_params

ROOT = Path(__file__).resolve().parents[2]
INTERIM = ROOT / "parameters" / "interim-2024q4.yaml"
NOTEBOOKS = ("02_monitor", "03_reregistration")

pytestmark = pytest.mark.slow


def _params(name, **changes):
    """The interim parameters with ``changes``, checked as a parameter file is."""
    values = load_params(INTERIM).notebook_parameters()
    values.update(name=name, issue_date=None, **changes)
    return from_mapping(values, source=f"{name}.yaml")


def _sites():
    from cohort.definitions.population import site_periods
    from cohort.delivery.load import load

    return site_periods(load(load_params(INTERIM).delivery, on_error="proceed"))


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    import os

    saved = os.environ.pop(LEDGER_ENV, None)
    try:
        reports = tmp_path_factory.mktemp("reports")
        periods = _sites()
        but_frl = [s for s in sorted(periods) if s != "FRL"]
        plan = [
            _params("interim-2024q4"),
            _params("interim-2024q4-without-frl", sites=but_frl),
            # a single site large enough for the re-registration model (FRL's two events are not)
            _params("interim-2024q4-utr", sites=["UTR"]),
            _params("monitor-2025q1", reference_date="2025-03-31"),
        ]
        folders = [
            build_report(p, reports_root=reports, notebooks=NOTEBOOKS, required_tables=(), progress=False, jobs=2)
            for p in plan
        ]
        yield reports, folders, periods
    finally:
        if saved is not None:
            os.environ[LEDGER_ENV] = saved


def test_every_build_is_recorded_in_the_ledger_against_the_ones_before(history):
    reports, folders, _ = history
    entries = Ledger(reports / ".ledger").entries()
    assert [e.report for e in entries] == [f.name for f in folders]
    for i, folder in enumerate(folders):
        protection = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))["protection"]
        assert len(protection["earlier_releases"]) == i, "protected against every earlier release"
        assert protection["passes"] <= 4


def test_no_combination_of_the_released_files_gives_a_cell_away(history):
    reports, folders, periods = history
    rs, found = attack(folders, ledger=reports / ".ledger", site_periods=periods)
    described = [f"{rs.describe(c)}: {r['lower']:g} to {r['upper']:g}" for c, r in found.unprotected.iterrows()]
    assert described == []
    # the reader's system is the real thing: cells of every report, linked across them
    assert found.stats["relations"] > 1000 and rs.variables["report"].nunique() >= len(folders)


def test_each_report_passes_the_check_against_the_whole_ledger(history):
    _, folders, _ = history
    for folder in folders:
        assert check_release(folder) == [], folder.name


def test_without_the_ledger_the_subset_report_gives_frl_away(history, tmp_path):
    reports, folders, periods = history
    but_frl = [s for s in sorted(periods) if s != "FRL"]
    naive = build_report(_params("interim-2024q4-without-frl", sites=but_frl), reports_root=tmp_path,
                         notebooks=("02_monitor",), required_tables=(), progress=False, jobs=1)
    rs, found = attack([folders[0], naive], site_periods=periods)
    frl = [c for c in found.unprotected.index if rs.variables.loc[c, "sites"] == "FRL"]
    assert frl, "all sites minus all sites but FRL is FRL"
