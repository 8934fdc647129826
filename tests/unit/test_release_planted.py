"""Planted problems: ``check-release`` must find every one, and pass a clean report.

Each case is a tiny report folder written here (some with an earlier report recorded in
a ledger first) with one problem planted in it; the check must report it with the rule
and the file named. The clean report holds what looks like a problem to a careless check
but is not: years, row numbers, a time axis, scores and degrees of freedom the manifest
calls values, negative numbers, the zero that starts a curve, suppressed cells whose
margins keep them hidden.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cohort.cli import main
from cohort.disclosure.check import check_release, errors, record_release
from cohort.disclosure.ledger import LEDGER_ENV, ReleaseContext
from cohort.disclosure.policy import SUPPRESSED, disclosure_settings
from cohort.exceptions import DisclosureError

S = SUPPRESSED
SITES = ["AMS", "UTR", "ZEE"]


@pytest.fixture(autouse=True)
def _no_ledger_from_the_environment(monkeypatch):
    monkeypatch.delenv(LEDGER_ENV, raising=False)


def write_report(folder: Path, files: dict, *, threshold=10, enabled=True, sites=SITES,
                 reference_date="2024-12-31", roles=None, name=None) -> Path:
    """A report folder: provenance, optional manifest roles, and files (text, or a
    DataFrame for .xlsx/.parquet, or an object for .json)."""
    folder.mkdir(parents=True, exist_ok=True)
    provenance = {
        "report": name or folder.name,
        "parameters": {
            "sites": sites,
            "study_start": "2023-01-01",
            "reference_date": reference_date,
            "disclosure": {"threshold": threshold, "rounding": None, "enabled": enabled},
        },
    }
    (folder / "provenance.json").write_text(json.dumps(provenance), encoding="utf-8")
    if roles:
        manifest = {"files": {f: {"columns": cols} for f, cols in roles.items()}}
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for name_, content in files.items():
        path = folder / name_
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif path.suffix.lower() == ".xlsx":
            write_xlsx(path, content)
        elif path.suffix.lower() == ".parquet":
            content.to_parquet(path, index=False)
        elif path.suffix.lower() == ".json":
            path.write_text(json.dumps(content), encoding="utf-8")
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def write_xlsx(path: Path, rows: list[list]):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Blad1"
    for row in rows:
        sheet.append(row)
    book.save(path)


def record(folder: Path, ledger: Path, sites=SITES, reference_date="2024-12-31"):
    context = ReleaseContext(folder.name, sites=tuple(sites), reference_date=reference_date)
    return record_release(folder, context, disclosure_settings({}), ledger=ledger)


MONITOR_HEADER = "indicator,kind,interval_start,interval_end,site,numerator,denominator,value,suppressed\n"


# --- the clean report ----------------------------------------------------------------------

CLEAN = {
    # a monitor whose suppressed sites share at least 10 in every relation
    "tables/monitor.csv": MONITOR_HEADER
    + "households_involved,count,2024-10-01,2024-12-31,all,160,,160,false\n"
    + "households_involved,count,2024-10-01,2024-12-31,AMS,120,,120,false\n"
    + f"households_involved,count,2024-10-01,2024-12-31,UTR,{S},,{S},true\n"
    + f"households_involved,count,2024-10-01,2024-12-31,ZEE,{S},,{S},true\n"
    + "registrations,count,2024-10-01,2024-12-31,all,61,,61,false\n"
    + "registrations,count,2024-10-01,2024-12-31,AMS,40,,40,false\n"
    + f"registrations,count,2024-10-01,2024-12-31,UTR,{S},,{S},true\n"
    + f"registrations,count,2024-10-01,2024-12-31,ZEE,{S},,{S},true\n"
    + f"registrations_without_children_share,proportion,2024-10-01,2024-12-31,all,{S},61,{S},true\n",
    # a curve: the zero at time 0 is structural; at least 10 leave between steps
    "figure-data/reregistration_km.csv": "time,survival,n_risk,n_event\n0,1,80,0\n30,0.85,68,12\n95,0.7,52,10\n",
    # a model: degrees of freedom and negative coefficients are not counts
    "tables/reregistration_cox_zph.csv": "term,chisq,df,p\nfin,0.56,1,0.45\nage,5.97,1,0.01\nGLOBAL,8.1,7,0.32\n",
    "tables/safety_bands.csv": "wave,months,n_households,p10,p50,p90,change\nT0,0,40,3,5,7,0\nT1,6,35,4,6,8,-1\n",
    # years and a row number, in a workbook; labels with dashes
    "tables/by_year.xlsx": [["", "jaar", "regio", "aantal"], [1, 2023, "Hart van Brabant-Noord", 40],
                            [2, 2024, "Hart van Brabant-Noord", 52]],
    "report.html": "<html><body>report</body></html>",
    "notebooks/02_monitor.ipynb": "{}",
}
CLEAN_ROLES = {
    "tables/reregistration_cox_zph.csv": {"df": "value"},
    "tables/safety_bands.csv": {"p10": "value", "p50": "value", "p90": "value", "change": "value"},
}


def test_a_clean_report_passes(tmp_path, capsys):
    report = write_report(tmp_path / "reports" / "clean", CLEAN, roles=CLEAN_ROLES)
    assert check_release(report) == []
    assert main(["check-release", str(report)]) == 0
    out = capsys.readouterr().out
    assert "5 released files checked with threshold 10 (from minimum" in out
    assert "no problems found" in out


# --- planted problems ------------------------------------------------------------------------


def small(column="aantal", value=4):
    return f"site,{column}\nAMS,40\nUTR,{value}\nall,{S}\n"


PLANTED = {
    "small count named aantal": ({"tables/t.csv": small("aantal")}, "small-count", "tables/t.csv"),
    "small count named value": ({"tables/t.csv": small("value")}, "small-count", "tables/t.csv"),
    "small count the manifest calls a value": (
        {"tables/t.csv": small("households")}, "small-count", "tables/t.csv", {"tables/t.csv": {"households": "value"}}
    ),
    "small count under a statistic name without manifest": (
        {"tables/t.csv": "wave,score\nT0,4\nT1,12\n"}, "small-count", "tables/t.csv"
    ),
    "a year column that is no year": ({"tables/t.csv": "jaar,n\n3,40\n2024,52\n"}, "small-count", "tables/t.csv"),
    "a zero where zeros are protected": (
        {"tables/t.csv": f"site,n\nAMS,40\nUTR,0\nall,{S}\n"}, "protected-zero", "tables/t.csv"
    ),
    "a zero in a curve after its start": (
        {"figure-data/km.csv": "time,n_risk,n_event\n0,80,0\n30,68,0\n"}, "protected-zero", "figure-data/km.csv"
    ),
    "formula in a site label": (
        {"tables/t.csv": 'site,n\n"=HYPERLINK(""http://x"",""AMS"")",40\nall,52\n'}, "formula", "tables/t.csv"
    ),
    "formula starting with @": ({"tables/t.csv": "label,n\n@SUM(A1),40\n"}, "formula", "tables/t.csv"),
    "formula after a tab": ({"tables/t.csv": 'label,n\n"\tcmd",40\n'}, "formula", "tables/t.csv"),
    "formula as a column name": ({"tables/t.csv": '"=1+1",n\nx,40\n'}, "formula", "tables/t.csv"),
    "a file in a subfolder": ({"tables/extra/by_site.csv": small()}, "small-count", "tables/extra/by_site.csv"),
    "a file outside the release folders": ({"extra/notes.csv": small()}, "small-count", "extra/notes.csv"),
    "an upper-case CSV extension": ({"tables/T.CSV": small()}, "small-count", "tables/T.CSV"),
    "a semicolon CSV with decimal commas": (
        {"tables/t.csv": "regio;aantal;aandeel\nAMS;40;0,91\nUTR;4;0,09\n"}, "small-count", "tables/t.csv"
    ),
    "a tab-separated text file": ({"tables/t.txt": "site\taantal\nAMS\t40\nUTR\t3\n"}, "small-count", "tables/t.txt"),
    "an Excel workbook": (
        {"tables/t.xlsx": [["site", "aantal"], ["AMS", 40], ["UTR", 4]]}, "small-count", "tables/t.xlsx[Blad1]"
    ),
    "an Excel formula": (
        {"tables/t.xlsx": [["site", "aantal"], ["AMS", 40], ["UTR", "=B2-30"]]}, "formula", "tables/t.xlsx[Blad1]"
    ),
    "JSON records": ({"figure-data/f.json": [{"site": "AMS", "n": 40}, {"site": "UTR", "n": 6}]},
                     "small-count", "figure-data/f.json"),
    "a count nested in JSON": ({"figure-data/f.json": {"summary": {"n_households": 3, "label": "x"}}},
                               "small-count", "figure-data/f.json#/summary"),
    "Parquet": ({"tables/t.parquet": pd.DataFrame({"site": ["AMS", "UTR"], "n": [40, 5]})},
                "small-count", "tables/t.parquet"),
    "an identifier column": ({"tables/t.csv": "household_id,n\nx1,12\nx2,15\n"}, "id-column", "tables/t.csv"),
    "a pseudonym": ({"tables/t.csv": "group,n\nSYN-H-0001234,12\nall,40\n"}, "id-value", "tables/t.csv"),
    "a value beside a suppressed count": (
        {"tables/t.csv": f"site,n,share\nAMS,{S},0.1\nUTR,40,0.9\n"}, "suppressed-part", "tables/t.csv"
    ),
    "a binary file among the tables": ({"tables/t.csv": b"\x00\x01\x02"}, "unreadable", "tables/t.csv"),
    "a workbook in the old format": ({"tables/t.xls": b"\xd0\xcf\x11\xe0"}, "unreadable", "tables/t.xls"),
    "a cell derivable from its margin": (
        {"tables/t.csv": f"site,aantal\nAMS,21\nUTR,{S}\nZEE,40\nall,70\n"}, "derivable-cell", "tables/t.csv"
    ),
    "rows rejected from rows read and accepted": (
        {"tables/validation_accounting.csv": f"table,rows_read,rows_accepted,rows_rejected\nepisodes,5034,5031,{S}\n"},
        "derivable-cell", "tables/validation_accounting.csv",
    ),
    "at-risk arithmetic of a curve": (
        {"figure-data/km.csv": "time,n_risk,n_event\n0,80,0\n30,73,12\n95,52,12\n"},
        "derivable-cell", "figure-data/km.csv",
    ),
}


@pytest.mark.parametrize("case", list(PLANTED), ids=list(PLANTED))
def test_each_planted_problem_is_found(tmp_path, case):
    files, rule, file, *roles = PLANTED[case]
    report = write_report(tmp_path / "reports" / "r", {**CLEAN, **files}, roles={**CLEAN_ROLES, **(roles[0] if roles else {})})
    found = errors(check_release(report))
    assert (rule, file) in {(f.rule, f.file) for f in found}, [str(f) for f in found]
    # nothing is found in the clean files around the plant
    assert {f.file for f in found} <= {file, *files, "provenance.json", "ledger"}
    assert main(["check-release", str(report)]) == DisclosureError.exit_code


def test_an_edited_provenance_threshold_does_not_let_a_small_count_pass(tmp_path):
    report = write_report(tmp_path / "reports" / "r", {**CLEAN, "tables/t.csv": small(value=5)},
                          roles=CLEAN_ROLES, threshold=1)
    rules = {(f.rule, f.file) for f in errors(check_release(report))}
    assert {("small-count", "tables/t.csv"), ("threshold-below-minimum", "provenance.json")} <= rules


def test_a_report_built_with_disclosure_control_off_is_refused(tmp_path):
    report = write_report(tmp_path / "reports" / "r", CLEAN, roles=CLEAN_ROLES, enabled=False)
    assert [f.rule for f in errors(check_release(report))] == ["disclosure-off"]


def test_a_lowering_in_the_parameter_file_is_honoured_and_stated(tmp_path, capsys):
    report = write_report(tmp_path / "reports" / "r", {**CLEAN, "tables/t.csv": "site,n\nAMS,40\nUTR,7\n"},
                          roles=CLEAN_ROLES, threshold=5)
    params = tmp_path / "p.yaml"
    params.write_text('disclosure:\n  threshold: 5\n  lower_minimum: "three small sites, agreed with CBS"\n')
    assert main(["check-release", str(report), "--parameters", str(params)]) == 0
    assert "threshold 5 (from parameters; workbench minimum 10)" in capsys.readouterr().out
    unlowered = tmp_path / "q.yaml"
    unlowered.write_text("disclosure:\n  threshold: 5\n")
    assert main(["check-release", str(report), "--parameters", str(unlowered)]) == 2  # ParameterError


# --- planted across releases: the ledger ----------------------------------------------------


def test_nested_site_sets_across_two_reports(tmp_path):
    ledger = tmp_path / "reports" / ".ledger"
    everyone = write_report(tmp_path / "reports" / "interim",
                            {"tables/t.csv": f"site,aantal\nAMS,40\nUTR,{S}\nZEE,{S}\nall,60\n"})
    assert errors(check_release(everyone)) == []
    record(everyone, ledger)
    but_zee = write_report(tmp_path / "reports" / "interim-no-zee", {"tables/t.csv": "site,aantal\nall,48\n"},
                           sites=["AMS", "UTR"])
    assert errors(check_release(but_zee, ledger=False)) == []  # alone it is fine
    found = errors(check_release(but_zee))  # the ledger next to the reports is found
    assert ("derivable-cell", "tables/t.csv") in {(f.rule, f.file) for f in found}
    assert any("sites UTR" in f.message and "as 8" in f.message for f in found)
    # --ledger names another ledger: an empty one finds nothing across releases
    assert main(["check-release", str(but_zee), "--ledger", str(tmp_path / "elsewhere")]) == 0


def test_consecutive_quarters_across_two_reports(tmp_path):
    ledger = tmp_path / "secure-ledger"
    q4 = write_report(tmp_path / "reports" / "q4", {
        "tables/monitor.csv": MONITOR_HEADER + "households_involved,count,2024-10-01,2024-12-31,all,1653,,1653,false\n"})
    record(q4, ledger)
    q1 = write_report(tmp_path / "reports" / "q1", {
        "tables/monitor.csv": MONITOR_HEADER + "households_involved,count,2025-01-01,2025-03-31,all,1660,,1660,false\n"},
        reference_date="2025-03-31")
    found = errors(check_release(q1, ledger=ledger))
    assert [(f.rule, f.file, f.row, f.column) for f in found][:1] == [("derivable-cell", "tables/monitor.csv", 1, "numerator")]
    assert "households_involved:new" in found[0].message and "0 to 7" in found[0].message


def test_the_same_cell_suppressed_in_one_report_and_released_in_another(tmp_path):
    ledger = tmp_path / "reports" / ".ledger"
    first = write_report(tmp_path / "reports" / "first",
                         {"tables/t.csv": f"site,aantal\nAMS,{S}\nUTR,15\nZEE,{S}\nall,60\n"})
    record(first, ledger)
    second = write_report(tmp_path / "reports" / "second",
                          {"tables/t.csv": f"site,aantal\nAMS,40\nUTR,{S}\nZEE,{S}\nall,60\n"})
    assert errors(check_release(second, ledger=False)) == []
    found = errors(check_release(second))
    assert any(f.rule == "derivable-cell" and "sites ZEE" in f.message and "as 5" in f.message for f in found)


def test_a_recorded_release_is_matched_and_its_lowering_trusted(tmp_path):
    ledger = tmp_path / "reports" / ".ledger"
    report = write_report(tmp_path / "reports" / "r", {"tables/t.csv": "site,n\nAMS,40\nUTR,7\n"}, threshold=5)
    settings = disclosure_settings({"threshold": 5, "lower_minimum": "three small sites, agreed with CBS"})
    record_release(report, ReleaseContext("r", sites=tuple(SITES), reference_date="2024-12-31"), settings,
                   ledger=ledger)
    assert errors(check_release(report)) == []
    # change a released file: no entry matches any more, and the minimum applies again
    (report / "tables" / "t.csv").write_text("site,n\nAMS,40\nUTR,6\n", encoding="utf-8")
    rules = {f.rule for f in errors(check_release(report))}
    assert {"small-count", "threshold-below-minimum"} <= rules


def test_there_are_at_least_twenty_planted_problems():
    assert len(PLANTED) + 6 >= 20
