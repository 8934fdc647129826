"""A build protects its release against itself and the ledger, by suppressing in it.

Tiny notebooks written in the test release tables whose protection the per-relation rule
misses (two suppressed cells that add up to fewer than the threshold); the build audits the
release, suppresses a further cell, runs the notebook again and records the release in the
ledger. A second pass that fails keeps no table, and a failed build is never recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from cohort.disclosure.ledger import LEDGER_ENV, Ledger
from cohort.disclosure.protect import Suppressions, apply_suppressions
from cohort.exceptions import DisclosureError, ReportError
from cohort.report.build import build_report
from cohort.report.params import from_mapping, load_params

ROOT = Path(__file__).resolve().parents[2]
INTERIM = ROOT / "parameters" / "interim-2024q4.yaml"

pytestmark = pytest.mark.slow

#: A total of 47 over 4 + 3 + 40: the rule suppresses 4 and 3 (two unknowns), but together
#: they are 7, fewer than the threshold: the audit says so, and the build suppresses 40 too.
SITES = (
    "from cohort.roles import with_roles\n"
    't = with_roles(pd.DataFrame({"site": ["AMS", "FLE", "FRL", "all"], "n": [4, 3, 40, 47]}), counts=["n"], groups=["site"])\n'
)


@pytest.fixture(autouse=True)
def _no_ledger_env(monkeypatch):
    monkeypatch.delenv(LEDGER_ENV, raising=False)


def tiny_root(tmp_path: Path, *bodies: str) -> Path:
    """A repository root with one notebook per body (``01_tiny``, ``02_tiny``, ...)."""
    params = load_params(INTERIM).notebook_parameters()
    (tmp_path / "notebooks").mkdir(parents=True)
    for i, body in enumerate(bodies, start=1):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells.append(nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()),
                                                  metadata={"tags": ["parameters"]}))
        nb.cells.append(nbformat.v4.new_code_cell(
            "import pandas as pd\nfrom cohort.report.notebook import start\nreport = start(globals())"))
        nb.cells.append(nbformat.v4.new_code_cell(body))
        nbformat.write(nb, str(tmp_path / "notebooks" / f"{i:02d}_tiny.ipynb"))
    return tmp_path


def params_for(name="interim-2024q4", sites=("AMS", "FLE", "FRL")):
    values = load_params(INTERIM).notebook_parameters()
    values.update(name=name, sites=list(sites))
    return from_mapping(values, source=f"{name}.yaml")


def build(root, reports, names=("01_tiny",), **kw):
    params = params_for()
    return build_report(params, root=root, reports_root=reports, notebooks=names, required_tables=(),
                        progress=False, jobs=1, **kw)


def test_a_sum_of_suppressed_cells_below_the_threshold_is_protected_by_a_second_pass(tmp_path):
    body = SITES + 'report.table(t, "sites")'
    root = tiny_root(tmp_path / "repo", body)
    reports = tmp_path / "reports"
    folder = build(root, reports)
    assert (folder / "tables" / "sites.csv").read_text(encoding="utf-8") == (
        "site,n,suppressed\nAMS,[suppressed],true\nFLE,[suppressed],true\nFRL,[suppressed],true\nall,47,false\n"
    )
    provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["protection"]["passes"] == 2
    assert provenance["protection"]["further_by_file"] == {"tables/sites.csv": 1}
    assert provenance["disclosure"]["minimum"] == 10 and provenance["disclosure"]["lower_minimum"] is None
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["files"]["tables/sites.csv"]
    assert entry["ledger_suppressed"] == 1 and entry["disclosure"].endswith("(cells + ledger)")
    # the notebook that shows the table ran again: it shows the released cells
    nb = nbformat.read(str(folder / "notebooks" / "01_tiny.ipynb"), as_version=4)
    shown = nb.cells[-1].outputs[0]["data"]["text/plain"]
    assert "40" not in shown and "47" in shown
    # recorded in the ledger with the reports, and the check against it passes
    entries = Ledger(reports / ".ledger").entries()
    assert [e.report for e in entries] == ["interim-2024q4"]
    from cohort.disclosure.check import check_release

    assert check_release(folder) == []
    # the title page states the minimum threshold
    assert "Minimumdrempel" in (folder / "report.html").read_text(encoding="utf-8")


def test_a_view_of_a_protected_table_is_shown_as_released(tmp_path):
    releases = SITES + 'report.table(t, "sites")'
    shows = SITES + "report.show(report.protect(t))"
    root = tiny_root(tmp_path / "repo", releases, shows)
    folder = build(root, tmp_path / "reports", names=("01_tiny", "02_tiny"))
    nb = nbformat.read(str(folder / "notebooks" / "02_tiny.ipynb"), as_version=4)
    shown = nb.cells[-1].outputs[0]["data"]["text/plain"]
    assert "40" not in shown and "47" in shown, "the view ran again with the further suppression"


def test_a_view_of_cells_no_notebook_releases_is_refused(tmp_path):
    root = tiny_root(tmp_path / "repo", SITES + "report.show(report.protect(t))")
    with pytest.raises(ReportError, match="shows a table of protected cells that no notebook of the report releases"):
        build(root, tmp_path / "reports")


def test_a_failing_second_pass_keeps_no_table_and_records_nothing(tmp_path):
    body = (
        SITES + 'shown = report.table(t, "sites")\n'
        'display(shown)\n'
        'if report._suppressions() is not None:\n'
        '    raise ValueError("planted failure in the second pass")'
    )
    root = tiny_root(tmp_path / "repo", body)
    reports = tmp_path / "reports"
    with pytest.raises(ReportError, match="planted failure in the second pass"):
        build(root, reports)
    failed = reports / ".interim-2024q4.failed"
    assert sorted(p.relative_to(failed).as_posix() for p in failed.rglob("*") if p.is_file()) == [
        "error.txt", "notebooks/01_tiny.ipynb"
    ]
    kept = nbformat.read(str(failed / "notebooks" / "01_tiny.ipynb"), as_version=4)
    outputs = [o for c in kept.cells if c.cell_type == "code" for o in c.outputs]
    assert [o["output_type"] for o in outputs] == ["error"], "only the traceback, no table it showed"
    assert not (reports / ".ledger").exists() or Ledger(reports / ".ledger").entries() == []
    assert not (reports / "interim-2024q4").exists()


def test_a_release_check_failure_records_nothing_and_keeps_no_notebook(tmp_path):
    body = 'report.table(pd.DataFrame({"site": ["A", "B"], "n": [25, 4]}), "planted", exemption="planted")'
    root = tiny_root(tmp_path / "repo", body)
    reports = tmp_path / "reports"
    with pytest.raises(ReportError, match="count 4 is below the threshold 10"):
        build(root, reports)
    failed = reports / ".interim-2024q4.failed"
    assert sorted(p.relative_to(failed).as_posix() for p in failed.rglob("*") if p.is_file()) == ["error.txt"]
    assert Ledger(reports / ".ledger").entries() == []


def test_a_second_report_is_protected_against_the_first(tmp_path):
    """Three sites, then the same without AMS: AMS's count is the difference of the totals
    unless the second report suppresses its total."""
    first = (
        "from cohort.roles import with_roles\n"
        't = with_roles(pd.DataFrame({"site": ["AMS", "FLE", "FRL", "all"], "n": [6, 30, 40, 76]}), counts=["n"], groups=["site"])\n'
        'report.table(t, "sites")'
    )
    second = (
        "from cohort.roles import with_roles\n"
        't = with_roles(pd.DataFrame({"site": ["FLE", "FRL", "all"], "n": [30, 40, 70]}), counts=["n"], groups=["site"])\n'
        'report.table(t, "sites")'
    )
    reports = tmp_path / "reports"
    one = build(tiny_root(tmp_path / "repo1", first), reports)
    params = params_for("without-a", ("FLE", "FRL"))
    two = build_report(params, root=tiny_root(tmp_path / "repo2", second), reports_root=reports,
                       notebooks=("01_tiny",), required_tables=(), progress=False, jobs=1)
    text = (two / "tables" / "sites.csv").read_text(encoding="utf-8")
    assert "70" not in text, "the total of B and C would give A = 76 - 70"
    from cohort.disclosure.check import attack, check_release

    rs, found = attack([one, two], ledger=reports / ".ledger")
    assert found.unprotected.empty
    assert check_release(one) == [] and check_release(two) == []
    assert [e.report for e in Ledger(reports / ".ledger").entries()] == ["interim-2024q4", "without-a"]


# ---------------------------------------------------------------------- applying


def _released():
    from cohort.disclosure.cells import apply_disclosure

    t = pd.DataFrame({"wave": ["T0", "T1", "T1"], "n_at_or_above": [30, 20, 12], "n_below": [40, 15, 30],
                      "n_households": [70, 35, 42], "proportion": [0.43, 0.57, 0.29]})
    out = apply_disclosure(t, count_columns=["n_at_or_above", "n_below", "n_households"],
                           value_columns=["proportion"])
    out.attrs["disclosure"]["proportion"] = ["n_at_or_above", "n_below"]
    return out


@pytest.mark.parametrize("column", ["n_at_or_above", "n_below"])
def test_a_further_suppression_of_a_share_part_suppresses_both_parts(column):
    out = apply_suppressions(_released(), [(2, column)])
    row = out.iloc[1]
    assert pd.isna(row["n_at_or_above"]) and pd.isna(row["n_below"]) and pd.isna(row["proportion"])
    assert row["n_households"] == 35 and bool(row["suppressed"])
    assert out.attrs["disclosure"]["ledger_suppressed"] == 2
    assert not out.iloc[0]["suppressed"] and out.iloc[0]["n_below"] == 40


def test_a_further_suppression_outside_the_table_is_refused():
    with pytest.raises(DisclosureError, match="lies outside the table"):
        apply_suppressions(_released(), [(4, "n_below")])
    with pytest.raises(DisclosureError, match="released tables only"):
        apply_suppressions(pd.DataFrame({"n": [12]}), [(1, "n")])


def test_suppressions_round_trip_and_recognise_views_by_digest():
    s = Suppressions({"tables/a.csv": [(3, "n"), (1, "n")]}, {"tables/a.csv": "d" * 64})
    back = Suppressions.from_json(s.as_json())
    assert back.cells == {"tables/a.csv": [(1, "n"), (3, "n")]} and len(back) == 2
    assert back.for_file("tables/a.csv") == [(1, "n"), (3, "n")]
    assert back.for_file(None, "d" * 64) == [(1, "n"), (3, "n")] and back.for_file(None, "e" * 64) == []
    merged = back.merge(Suppressions({"tables/a.csv": [(2, "n")], "tables/b.csv": [(1, "m")]}))
    assert merged.files() == ["tables/a.csv", "tables/b.csv"] and len(merged) == 4
