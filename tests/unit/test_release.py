"""The release check: small cells, identifiers, row-level data, differencing between reports.

Reports here are tiny folders written in the test: a provenance.json with the disclosure
settings and a few CSV files, so every rule is exercised on a table one can read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohort.cli import main
from cohort.disclosure.check import check_differencing, check_release, errors, format_findings
from cohort.disclosure.policy import SUPPRESSED, DisclosurePolicy
from cohort.exceptions import DisclosureError

GOOD_MONITOR = f"""indicator,kind,interval_start,interval_end,site,numerator,denominator,value,suppressed
households_involved,count,2024-10-01,2024-12-31,all,120,,120,false
households_involved,count,2024-10-01,2024-12-31,A,70,,70,false
households_involved,count,2024-10-01,2024-12-31,B,{SUPPRESSED},,{SUPPRESSED},true
households_involved,count,2024-10-01,2024-12-31,C,{SUPPRESSED},,{SUPPRESSED},true
households_active,count,2024-10-01,2024-12-31,all,50,,50,false
"""


def make_report(
    folder: Path, files: dict[str, str], threshold=10, rounding=None, enabled=True, roles=None
) -> Path:
    """A tiny report folder; ``roles`` (file -> column -> role) goes to the manifest."""
    folder.mkdir(parents=True)
    (folder / "provenance.json").write_text(
        json.dumps({"parameters": {"disclosure": {"threshold": threshold, "rounding": rounding, "enabled": enabled}}}),
        encoding="utf-8",
    )
    if roles:
        manifest = {"files": {name: {"columns": cols} for name, cols in roles.items()}}
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def rules(findings):
    return sorted({f.rule for f in findings})


def test_good_report_passes(tmp_path):
    report = make_report(tmp_path / "r", {"tables/monitor.csv": GOOD_MONITOR})
    assert check_release(report) == []


def test_planted_small_cell_is_named_by_file_row_and_column(tmp_path):
    planted = GOOD_MONITOR.replace(f"B,{SUPPRESSED},,{SUPPRESSED},true", "B,7,,7,false")
    report = make_report(tmp_path / "r", {"tables/monitor.csv": planted})
    findings = [f for f in check_release(report) if f.column == "numerator"]
    assert [(f.file, f.row, f.column, f.rule) for f in findings] == [
        ("tables/monitor.csv", 3, "numerator", "small-count")
    ]
    assert "count 7 is below the threshold 10" in str(findings[0])
    assert "tables/monitor.csv, row 3 (line 4), column 'numerator'" in str(findings[0])


@pytest.mark.parametrize(
    ("value", "rule"),
    [("9", "small-count"), ("10", None), ("0", "protected-zero"), ("1", "small-count"), ("9.5", None)],
)
def test_threshold_boundaries(tmp_path, value, rule):
    report = make_report(tmp_path / "r", {"figure-data/curve.csv": f"time,n_risk,survival\n0,40,1\n5,{value},0.5\n"})
    found = [f for f in check_release(report, audit=False) if f.column == "n_risk"]
    assert [f.rule for f in found] == ([rule] if rule else [])


def test_a_lower_threshold_in_the_report_does_not_lower_the_check(tmp_path):
    # provenance says 7: the check still applies the workbench minimum of 10 and says why
    report = make_report(tmp_path / "r", {"tables/t.csv": "group,n\nx,8\ny,40\n"}, threshold=7)
    assert rules(check_release(report, audit=False)) == ["small-count", "threshold-below-minimum"]
    # a build whose policy is lower than the minimum is refused the same way
    built = make_report(tmp_path / "b", {"tables/t.csv": "group,n\nx,12\n"})
    assert rules(check_release(built, policy=DisclosurePolicy(threshold=5), audit=False)) == [
        "threshold-below-minimum"
    ]


def test_a_higher_threshold_in_the_report_raises_the_check(tmp_path):
    report = make_report(tmp_path / "r", {"tables/t.csv": "group,n\nx,12\ny,40\n"}, threshold=15)
    assert rules(check_release(report, audit=False)) == ["small-count"]


def test_value_next_to_a_suppressed_count_is_flagged(tmp_path):
    text = f"site,numerator,denominator,value\nA,{SUPPRESSED},50,0.1\nB,20,50,0.4\n"
    findings = check_release(make_report(tmp_path / "r", {"tables/share.csv": text}))
    assert [(f.rule, f.row, f.column) for f in findings] == [("suppressed-part", 1, "value")]


def test_planted_id_column_is_named(tmp_path):
    text = "household_id,n\nx1,12\nx2,15\n"
    findings = check_release(make_report(tmp_path / "r", {"tables/t.csv": text}))
    assert [(f.rule, f.column) for f in findings] == [("id-column", "household_id")]


def test_pseudonym_values_are_found_without_echoing_them(tmp_path):
    text = "group,n\nSYN-H-0001234,12\nall,40\n"
    findings = errors(check_release(make_report(tmp_path / "r", {"tables/t.csv": text})))
    assert [(f.rule, f.row, f.column) for f in findings] == [("id-value", 1, "group")]
    assert "SYN-H-0001234" not in str(findings[0])


def test_hash_values_are_found(tmp_path):
    text = "key,n\n" + "0123456789abcdef0123,12\n"
    findings = check_release(make_report(tmp_path / "r", {"tables/t.csv": text}))
    assert rules(findings) == ["id-value"]


def test_individual_dates_are_row_level(tmp_path):
    dates = ["2024-01-03", "2024-02-11", "2024-03-17", "2024-05-09", "2024-06-21"]
    text = "event_date,score\n" + "".join(f"{d},{i}\n" for i, d in enumerate(dates))
    roles = {"figure-data/f.csv": {"score": "value"}}
    findings = check_release(make_report(tmp_path / "r", {"figure-data/f.csv": text}, roles=roles))
    assert [(f.rule, f.column, f.row) for f in findings] == [("row-level", "event_date", 1)]


def test_period_boundaries_are_not_row_level(tmp_path):
    text = "".join(f"2024-{m:02d}-01,2024-{m:02d}-28,{20 + m}\n" for m in range(1, 13))
    text = "interval_start,interval_end,n\n" + text.replace("-28,", "-28,")
    # 28th is not a month end except in February: use real month ends
    text = "interval_start,interval_end,n\n" + "".join(
        f"{s},{e},{20 + i}\n"
        for i, (s, e) in enumerate(
            [("2024-01-01", "2024-03-31"), ("2024-04-01", "2024-06-30"), ("2024-07-01", "2024-09-30"),
             ("2024-10-01", "2024-12-31"), ("2025-01-01", "2025-03-31"), ("2025-04-01", "2025-06-30")]
        )
    )
    assert check_release(make_report(tmp_path / "r", {"tables/q.csv": text})) == []


def test_unique_key_column_and_many_rows_without_counts_are_row_level(tmp_path):
    keyed = "code,score\n" + "".join(f"K{i:05d},{i % 10}\n" for i in range(150))
    bare = "wave,score\n" + "".join(f"T{i % 4},{i % 10}\n" for i in range(1200))
    roles = {"tables/keyed.csv": {"score": "value"}, "figure-data/bare.csv": {"score": "value"}}
    findings = check_release(
        make_report(tmp_path / "r", {"tables/keyed.csv": keyed, "figure-data/bare.csv": bare}, roles=roles)
    )
    assert {(f.file, f.rule) for f in findings} == {
        ("tables/keyed.csv", "row-level"),
        ("figure-data/bare.csv", "row-level"),
    }


def test_disclosure_off_is_never_releasable(tmp_path):
    report = make_report(tmp_path / "r", {"tables/t.csv": "group,n\nx,3\n"}, enabled=False)
    # the content is still judged: switching control off never hides a small count
    assert rules(check_release(report)) == ["disclosure-off", "small-count"]


def interim_final(tmp_path, interim_rows: str, final_rows: str):
    header = "indicator,kind,interval_start,interval_end,site,numerator,value,suppressed\n"
    a = make_report(tmp_path / "interim", {"tables/monitor.csv": header + interim_rows})
    b = make_report(tmp_path / "final", {"tables/monitor.csv": header + final_rows})
    return a, b


def test_differencing_a_cumulative_count_between_reports(tmp_path):
    # Site B: 40 involved by the interim date, 46 by the final date; the final report does
    # not repeat the interim quarter. Together they give 6 new households: too few.
    a, b = interim_final(
        tmp_path,
        "households_involved,count,2024-10-01,2024-12-31,B,40,40,false\n",
        "households_involved,count,2026-04-01,2026-06-30,B,46,46,false\n"
        f"registrations,count,2026-04-01,2026-06-30,B,{SUPPRESSED},{SUPPRESSED},true\n",
    )
    assert check_release(a) == [] and check_release(b) == []
    findings = check_differencing(a, b)
    assert [(f.rule, f.file, f.row, f.column) for f in findings] == [
        ("differencing-cumulative", "tables/monitor.csv", 1, "numerator")
    ]
    assert "difference 6 is a count below the threshold 10" in str(findings[0])
    # the command line: exit code of DisclosureError, the finding on stderr
    assert main(["check-release", str(b), "--against", str(a)]) == DisclosureError.exit_code


def test_differences_of_at_least_the_threshold_pass(tmp_path):
    a, b = interim_final(
        tmp_path,
        "households_involved,count,2024-10-01,2024-12-31,B,40,40,false\n",
        "households_involved,count,2026-04-01,2026-06-30,B,52,52,false\n",
    )
    assert check_differencing(a, b) == []


def test_pairs_within_one_report_are_not_differencing_findings(tmp_path):
    # The final report repeats the interim quarter with the same value: the pair is
    # already in the final report alone, so releasing the interim adds nothing.
    row_interim = "households_involved,count,2024-10-01,2024-12-31,B,40,40,false\n"
    a, b = interim_final(
        tmp_path,
        row_interim,
        row_interim + "households_involved,count,2025-01-01,2025-03-31,B,55,55,false\n",
    )
    assert check_differencing(a, b) == []


def test_same_cell_suppressed_in_one_report_and_released_in_the_other(tmp_path):
    a, b = interim_final(
        tmp_path,
        f"households_active,count,2024-10-01,2024-12-31,C,{SUPPRESSED},{SUPPRESSED},true\n",
        "households_active,count,2024-10-01,2024-12-31,C,12,12,false\n",
    )
    findings = check_differencing(a, b)
    assert {(f.rule, f.column) for f in findings} == {
        ("differencing-same-cell", "numerator"),
        ("differencing-same-cell", "value"),
    }
    assert all("suppressed in interim but released in final" in f.message for f in findings)


def test_rounding_protects_small_differences(tmp_path):
    a, b = interim_final(
        tmp_path,
        "households_involved,count,2024-10-01,2024-12-31,B,40,40,false\n",
        "households_involved,count,2026-04-01,2026-06-30,B,45,45,false\n",
    )
    assert check_differencing(a, b, policy=DisclosurePolicy(threshold=10, rounding=5)) == []
    assert rules(check_differencing(a, b, policy=DisclosurePolicy(threshold=10))) == ["differencing-cumulative"]


def test_command_line_passes_and_fails(tmp_path, capsys):
    good = make_report(tmp_path / "good", {"tables/monitor.csv": GOOD_MONITOR})
    assert main(["check-release", str(good)]) == 0
    assert "no problems found" in capsys.readouterr().out
    bad = make_report(tmp_path / "bad", {"tables/t.csv": "household_id,n\nx,3\n"})
    assert main(["check-release", str(bad)]) == DisclosureError.exit_code
    err = capsys.readouterr().err
    assert "tables/t.csv, column 'household_id'" in err and "row 1 (line 2), column 'n'" in err


def test_format_findings_limits_the_list(tmp_path):
    text = "group,n\n" + "".join(f"g{i},{i % 9 + 1}\n" for i in range(60))
    findings = check_release(make_report(tmp_path / "r", {"tables/t.csv": text}))
    assert len(findings) == 60
    assert format_findings(findings, limit=5).splitlines()[-1] == "  ... and 55 more"
