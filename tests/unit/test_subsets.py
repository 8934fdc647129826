"""A report for any subset a researcher asks for: every single site of the bundled
delivery and a few odd parameter sets run every notebook of the report, and an analysis
the subset cannot support is shown as "not estimable here", in the report's language,
with its reason, while the rest stands.

Each parameter set runs the six notebooks once, one kernel at a time, through the release
gate (:func:`cohort.report.build.run_notebooks`: the build up to its release check).
Measured on 2 cores: about 30 s per parameter set alone, about 65 s each when two run
side by side under ``-n 2``: about 9-10 minutes of the suite's wall time for the 17 sets.

The last test builds whole reports (release check against the ledger, document, methods
text) for two odd parameter sets.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from cohort.disclosure.writer import ReleaseFolder
from cohort.report.build import REQUIRED_TABLES, build_report, run_notebooks
from cohort.report.execute import notebook_paths
from cohort.report.params import from_mapping, repo_root

pytestmark = pytest.mark.slow

ROOT = repo_root()
INTERIM = yaml.safe_load((ROOT / "parameters" / "interim-2024q4.yaml").read_text(encoding="utf-8"))
SITES = pd.read_csv(ROOT / "data" / "synthetic" / "default" / "sites.csv")["site"].tolist()

#: Every table the report releases (``changes_since_previous`` only with a previous
#: reference date): released on every subset, estimable there or not.
TABLES = (
    "validation_accounting", "validation_rules", "attrition", "monitor", "monitor_segmented_regression",
    "reregistration_km", "reregistration_cif", "reregistration_cox", "reregistration_cox_zph",
    "legal_measure_cif", "legal_measures_by_type", "safety_by_wave", "safety_share_at_or_above",
    "safety_change_from_baseline", "safety_mixed_model", "safety_gee", "safety_share_safe",
    "safety_time_model",
)

#: The words of "not estimable here" in each language (report text not_estimable.here and
#: not_estimable.figure).
NOT_ESTIMABLE = {"nl": ("Hier niet te schatten", "hier niet te tekenen"),
                 "en": ("Not estimable here", "cannot be drawn here")}

ODD = {
    "far-reference-date": {"reference_date": "2030-12-31", "issue_date": None},
    "huge-threshold": {"disclosure": {"threshold": 1_000_000, "rounding": None, "enabled": True}},
    "sites-FRL": {"sites": ["FRL"]},
    "sites-AMS": {"sites": ["AMS"], "language": "en"},
}
CASES = {**{f"site-{site}": {"sites": [site]} for site in SITES}, **ODD}


def _params(name: str, overrides: dict):
    values = {**INTERIM, **overrides, "name": f"subset-{name.lower()}"}
    return from_mapping(values, f"test parameters {name}", root=ROOT)


def _run(params) -> tuple[dict, dict[str, str]]:
    """Release records and the text of every executed notebook."""
    with tempfile.TemporaryDirectory(prefix="cohort-subset-") as folder:
        folder = Path(folder)
        (folder / "staging").mkdir()
        (folder / "executed").mkdir()
        gate = ReleaseFolder(folder / "staging", params.disclosure)
        releases = run_notebooks(params, gate, folder / "executed", notebook_paths(ROOT), jobs=1)
        texts = {}
        for path in sorted((folder / "staging" / "notebooks").glob("*.ipynb")):
            nb = nbformat.read(str(path), as_version=4)
            outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
            assert not [o for o in outputs if o.get("output_type") == "error"], path.name
            texts[path.stem] = "\n".join(
                str(o.get("data", {}).get("text/markdown", "")) + str(o.get("data", {}).get("text/plain", ""))
                for o in outputs
            )
    return releases, texts


def _not_estimable(record: dict) -> str | None:
    """The reason key a released table carries when it is not estimable here."""
    about = record.get("about") if isinstance(record.get("about"), dict) else {}
    if about.get("not_estimable"):
        return about["not_estimable"]
    return (record.get("disclosure") or {}).get("reason_key")


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_report_for_every_site_and_odd_parameter_set_runs_with_the_unestimable_parts_marked(case):
    params = _params(case, CASES[case])
    releases, texts = _run(params)
    tables = {Path(file).stem for file in releases if file.startswith("tables/")}
    assert set(TABLES) <= tables, sorted(set(TABLES) - tables)
    assert set(REQUIRED_TABLES) <= tables
    marked = {Path(f).stem: _not_estimable(r) for f, r in releases.items()
              if f.startswith("tables/") and _not_estimable(r)}
    words = NOT_ESTIMABLE[params.language]
    report_text = "\n".join(texts.values())
    if marked:
        # every table marked in its record is said to be not estimable in the notebook, in
        # the report's language, with a reason after the words
        assert words[0] in report_text, (case, marked)
    other = NOT_ESTIMABLE["en" if params.language == "nl" else "nl"]
    assert other[0] not in report_text and other[1] not in report_text
    # no count below the threshold in a reason
    threshold = params.disclosure.threshold
    for line in report_text.splitlines():
        if words[0] in line and ("rests on" in line or "berust op" in line):
            assert "fewer than" in line or "minder dan" in line, line
    # cases the issue names, and what they now get
    if case == "site-GRO":  # its data begin after the interim reference date
        assert marked["reregistration_cox"] == "no_data" and marked["safety_mixed_model"] == "no_data"
        assert "1 januari 2025" in report_text
    if case == "huge-threshold":
        assert marked["reregistration_cox"] == "too_few_households"
        assert marked["safety_time_model"] == "too_few_events"
        assert "minder dan 1.000.000" in report_text and threshold == 1_000_000
    if case == "sites-FRL":  # the segmented regression used to fail on a NaN deviance
        assert "monitor_segmented_regression" not in marked  # fitted without the suppressed quarters
        assert marked["reregistration_cox"] == "too_few_events"
    if case == "sites-AMS":  # the Cox model (6 events) used to stop the whole build
        assert marked["reregistration_cox"] == "too_few_events" and "safety_mixed_model" not in marked
        assert "Not estimable here: the analysis rests on fewer than 10 events" in report_text
    if case == "far-reference-date":
        assert params.reference_date == dt.date(2030, 12, 31)


@pytest.mark.parametrize("case", ["sites-FRL", "huge-threshold"])
def test_a_whole_subset_report_is_built_and_passes_the_release_check(case, tmp_path):
    params = _params(case, ODD[case])
    folder = build_report(params, reports_root=tmp_path, progress=False, jobs=1)
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert NOT_ESTIMABLE[params.language][0] in page
    if case == "huge-threshold":
        # the reasons say "fewer than" the threshold, in the report's number format
        assert "minder dan 1.000.000" in page
