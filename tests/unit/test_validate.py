"""Validation rules: every planted fault reported with file, row, column and rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.delivery import schema
from cohort.delivery.load import load
from cohort.delivery.validate import RULES, ValidationReport, validate_delivery
from cohort.exceptions import DeliveryError, ValidationError

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"

# Rows appended to the valid fixture; each comment names the fault planted in that row.
FAULTS = {
    "sites.csv": [
        "ROT,Rotterdam,2023-01-01,2022-12-31",  # 4 delivery_end before delivery_start
    ],
    "households.csv": [
        "SYN-H007,XXX,true,1,1,,",  # 8 unknown site
        "SYN-H008,AMS,maybe,1,1,,",  # 9 not a boolean
        "SYN-H009,AMS,true,25,1,,",  # 10 n_children out of range
        "SYN-H010,AMS,true,1,1,2025-03-01,",  # 11 after the site's delivery_end
        "SYN-H011,AMS,true,1,1,,",  # 12 kept
        "SYN-H011,AMS,true,1,1,,",  # 13 exact duplicate of row 12
        "SYN-H012,AMS,true,1,1,,",  # 14 duplicate id
        "SYN-H012,UTR,false,0,1,,",  # 15 duplicate id
        "SYN-H013,ROT,true,1,1,,",  # 16 its site was rejected
        ",AMS,true,1,1,,",  # 17 missing household_id
        "SYN-H014,AMS,true,1.5,1,,",  # 18 not a whole number
    ],
    "episodes.csv": [
        "SYN-E008,SYN-H002,AMS,2024-03-05,2024-02-01,goal_reached,,,",  # 9 closure before registration
        "SYN-E009,SYN-H099,AMS,2023-03-01,,,,,",  # 10 unknown household
        "SYN-E010,SYN-H001,UTR,2023-09-01,2023-10-01,other,,,",  # 11 site differs from household's
        "SYN-E011,SYN-H002,AMS,2024-02-01,2024-12-01,cancelled,,,",  # 12 closure_reason not allowed
        "SYN-E012,SYN-H006,UTR,2024-03-01,2024-04-01,goal_reached,,,",  # 13 overlaps E007 (warning)
        "SYN-E013,SYN-H005,UTR,2023-01-05,2023-03-01,goal_reached,,2023-02-01,2023-01-15",  # 14 rvt dates
        "SYN-E014,SYN-H004,UTR,2024-05-01,2024-08-01,goal_reached,,,",  # 15 closure after delivery_end
        "SYN-E015,SYN-H012,AMS,2023-04-01,,,,,",  # 16 household rejected
        "SYN-E016,SYN-H002,AMS,2023-02-31,,,,,",  # 17 not a date
        "SYN-E017,SYN-H002,AMS,1899-01-01,1899-02-01,other,,,",  # 18 implausible dates
        "SYN-E018,SYN-H002,AMS",  # 19 truncated row
    ],
    "legal_measures.csv": [
        "SYN-M005,SYN-H001,SYN-E001,house_arrest,2023-04-01,",  # 6 measure_type not allowed
        "SYN-M006,SYN-H001,SYN-E001,supervision_order,2023-05-01,2023-04-01",  # 7 end before start
        "SYN-M007,SYN-H002,SYN-E001,supervision_order,2023-05-01,",  # 8 episode of another household
        "SYN-M008,SYN-H001,SYN-E001,supervision_order,2022-10-01,",  # 9 long before the episode
        "SYN-M009,SYN-H002,SYN-E008,supervision_order,2024-03-06,",  # 10 episode rejected
        "SYN-M001,SYN-H001,SYN-E001,contact_ban,2023-06-01,",  # 11 duplicate id with row 2
    ],
    "safety_assessments.csv": [
        "SYN-A008,SYN-H001,SYN-E001,2023-03-01,professional,11,T1",  # 9 score out of range
        "SYN-A009,SYN-H001,SYN-E001,2023-03-01,teacher,5,T1",  # 10 respondent not allowed
        "SYN-A010,SYN-H001,SYN-E001,2023-03-01,parent,abc,T1",  # 11 not a number
        "SYN-A011,SYN-H001,SYN-E001,2024-01-01,parent,5,T2",  # 12 long after the episode
        "SYN-A012,SYN-H001,SYN-E099,2023-03-01,parent,5,T1",  # 13 unknown episode
        "SYN-A013,SYN-H001,SYN-E001,2023-03-01,parent,,T1",  # 14 missing score
    ],
    "referrals.csv": [
        "SYN-R006,SYN-H004,2024-07-15,police",  # 7 after the site's delivery_end
        "SYN-R007,SYN-H099,2024-01-01,",  # 8 unknown household
        "SYN-R008,SYN-H001,,police",  # 9 missing referral_date
        "",  # 10 empty row
        "SYN-R009,SYN-H001,2023-05-05,police",  # 11 fine
    ],
}

EXPECTED = {  # (file, row, column, rule)
    ("sites.csv", 4, "delivery_end", "delivery_end_not_before_start"),
    ("households.csv", 8, "site", "unknown_reference"),
    ("households.csv", 9, "has_children", "invalid_boolean"),
    ("households.csv", 10, "n_children", "out_of_range"),
    ("households.csv", 11, "moved_out_date", "after_delivery_end"),
    ("households.csv", 13, None, "exact_duplicate"),
    ("households.csv", 14, "household_id", "duplicate_id"),
    ("households.csv", 15, "household_id", "duplicate_id"),
    ("households.csv", 16, "site", "rejected_reference"),
    ("households.csv", 17, "household_id", "missing_value"),
    ("households.csv", 18, "n_children", "invalid_integer"),
    ("episodes.csv", 9, "closure_date", "closure_not_before_registration"),
    ("episodes.csv", 10, "household_id", "unknown_reference"),
    ("episodes.csv", 11, "site", "site_mismatch"),
    ("episodes.csv", 12, "closure_reason", "allowed_values"),
    ("episodes.csv", 13, "registration_date", "overlapping_episodes"),
    ("episodes.csv", 14, "rvt_end_date", "rvt_end_not_before_rvt_start"),
    ("episodes.csv", 15, "closure_date", "after_delivery_end"),
    ("episodes.csv", 16, "household_id", "rejected_reference"),
    ("episodes.csv", 17, "registration_date", "invalid_date"),
    ("episodes.csv", 18, "registration_date", "implausible_date"),
    ("episodes.csv", 18, "closure_date", "implausible_date"),
    ("episodes.csv", 19, None, "field_count"),
    ("legal_measures.csv", 2, "measure_id", "duplicate_id"),
    ("legal_measures.csv", 6, "measure_type", "allowed_values"),
    ("legal_measures.csv", 7, "end_date", "end_not_before_start"),
    ("legal_measures.csv", 8, "episode_id", "episode_household_mismatch"),
    ("legal_measures.csv", 9, "start_date", "outside_episode"),
    ("legal_measures.csv", 10, "episode_id", "rejected_reference"),
    ("legal_measures.csv", 11, "measure_id", "duplicate_id"),
    ("safety_assessments.csv", 9, "score", "out_of_range"),
    ("safety_assessments.csv", 10, "respondent", "allowed_values"),
    ("safety_assessments.csv", 11, "score", "invalid_number"),
    ("safety_assessments.csv", 12, "assessment_date", "outside_episode"),
    ("safety_assessments.csv", 13, "episode_id", "unknown_reference"),
    ("safety_assessments.csv", 14, "score", "missing_value"),
    ("referrals.csv", 7, "referral_date", "after_delivery_end"),
    ("referrals.csv", 8, "household_id", "unknown_reference"),
    ("referrals.csv", 9, "referral_date", "missing_value"),
    ("referrals.csv", 10, None, "empty_row"),
}


def make_delivery(
    tmp_path: Path, faults: dict[str, list[str]] | None = None, name="faulty"
) -> Path:
    """Copy the valid fixture and append rows to its files."""
    folder = tmp_path / name
    shutil.copytree(VALID, folder)
    for file, lines in (faults or {}).items():
        with open(folder / file, "a", encoding="utf-8", newline="") as fh:
            fh.write("".join(line + "\n" for line in lines))
    return folder


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> ValidationReport:
    return validate_delivery(make_delivery(tmp_path_factory.mktemp("faults"), FAULTS))


def _found(report: ValidationReport) -> set:
    v = report.violations
    return {
        (f, int(r), None if pd.isna(c) else c, rule)
        for f, r, c, rule in zip(v["file"], v["row"], v["column"], v["rule"], strict=True)
    }


def _one(report: ValidationReport, file: str, row: int, rule: str) -> pd.Series:
    v = report.violations
    hit = v[(v["file"] == file) & (v["row"] == row) & (v["rule"] == rule)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_valid_delivery_has_no_violations():
    report = validate_delivery(VALID)
    assert report.ok
    assert report.violations.empty
    acc = report.accounting.set_index("table")
    assert list(acc.index) == list(schema.TABLES)
    assert (acc["rows_rejected"] == 0).all()
    assert acc.loc["episodes", "rows_read"] == 7


def test_every_planted_fault_is_reported_exactly(faulty):
    assert _found(faulty) == EXPECTED


def test_every_rule_has_a_planted_fault_or_its_own_test(faulty):
    planted = {rule for *_, rule in EXPECTED}
    tested_elsewhere = {
        "required_column",
        "unknown_column",
        "unknown_file",
        # quotes and line breaks: tests/unit/test_io.py and tests/badinput/
        "multiline_value",
        "unbalanced_quote",
        "unclosed_quote",
    }
    tested_elsewhere |= {"invalid_site_code", "invalid_label"}  # tests/spec/test_site_codes.py
    # the arms of sites: tests/unit/test_validate_arms.py
    tested_elsewhere |= {"pilot_start_for_comparison", "pilot_start_outside_delivery"}
    assert planted | tested_elsewhere == set(RULES)


def test_row_accounting_is_exact(faulty):
    acc = faulty.accounting.set_index("table")
    assert (acc["rows_read"] == acc["rows_accepted"] + acc["rows_rejected"]).all()
    errors = {(f, r) for f, r, _c, rule in EXPECTED if RULES[rule].severity == "error"}
    for table, row in acc.iterrows():
        file = f"{table}.csv"
        n_appended = len(FAULTS.get(file, []))
        n_valid = len(pd.read_csv(VALID / file))
        assert row["rows_read"] == n_valid + n_appended
        # rejected rows: the rows with an error, plus the rows with a rejected reference
        assert row["rows_rejected"] == len({r for f, r in errors if f == file}), table
    assert acc.loc["episodes", "rows_with_warnings"] == 1


def test_rejected_rows_are_quarantined_with_their_rules(faulty, tmp_path):
    written = faulty.write_quarantine(tmp_path / "q")
    episodes = pd.read_csv(written["episodes"], dtype=str, keep_default_na=False)
    assert episodes["row"].astype(int).tolist() == [9, 10, 11, 12, 14, 15, 16, 17, 18, 19]
    assert episodes.set_index("row").loc["19", "raw_line"] == "SYN-E018,SYN-H002,AMS"
    assert episodes.set_index("row").loc["18", "rules"] == "implausible_date"
    acc = faulty.accounting.set_index("table")
    for table, frame in faulty.rejected.items():
        assert len(frame) == acc.loc[table, "rows_rejected"]
    violations = pd.read_csv(written["violations"])
    assert len(violations) == len(faulty.violations)


def test_messages_name_file_row_column_rule_and_action(faulty):
    hit = _one(faulty, "episodes.csv", 9, "closure_not_before_registration")
    assert hit["message"] == (
        "episodes.csv row 9, column closure_date: closure_date 2024-02-01 is before "
        "registration_date 2024-03-05 (rule: closure_not_before_registration). "
        "Correct the dates at the site or remove the row."
    )
    assert hit["value"] == "2024-02-01"


def test_pseudonyms_and_free_text_are_never_shown(faulty):
    text = faulty.violations.astype(str).to_csv()
    for secret in ["SYN-", "teacher", "house_arrest", "cancelled", "abc", "maybe"]:
        assert secret not in text
    # site codes and parsed numbers are not personal and help the site find the fault
    assert _one(faulty, "households.csv", 8, "unknown_reference")["value"] == "XXX"
    assert _one(faulty, "safety_assessments.csv", 9, "out_of_range")["value"] == "11"


def test_rejection_cascades_and_accepted_tables_are_consistent(tmp_path):
    folder = make_delivery(tmp_path, FAULTS)
    delivery = load(folder, on_error="proceed", cache_dir=False)
    hh = set(delivery.households["household_id"])
    ep = delivery.episodes
    assert set(ep["household_id"]) <= hh
    for table in ("legal_measures", "safety_assessments"):
        t = delivery.tables[table]
        assert set(t["household_id"]) <= hh
        assert set(t["episode_id"]) <= set(ep["episode_id"])
    assert set(delivery.referrals["household_id"]) <= hh
    assert set(delivery.households["site"]) <= set(delivery.sites["site"])
    # the overlapping episode (warning) is kept
    assert "SYN-E012" in set(ep["episode_id"])
    # the first copy of an exact duplicate is kept, the id clash loses both rows
    assert (delivery.households["household_id"] == "SYN-H011").sum() == 1
    assert "SYN-H012" not in hh


def test_load_raises_by_default_with_summary_and_violations(tmp_path):
    folder = make_delivery(tmp_path, FAULTS)
    with pytest.raises(ValidationError) as info:
        load(folder, cache_dir=False)
    assert "validation errors" in str(info.value)
    assert "SYN-" not in str(info.value)
    assert len(info.value.violations) == len(EXPECTED)


def test_summary_counts_per_table_and_rule(faulty):
    s = faulty.summary.set_index(["table", "rule"])
    assert list(faulty.summary.columns) == ["table", "rule", "severity", "n_violations", "n_rows"]
    assert s.loc[("households", "duplicate_id"), "n_rows"] == 2
    assert s.loc[("episodes", "implausible_date"), "n_violations"] == 2
    assert s.loc[("episodes", "implausible_date"), "n_rows"] == 1
    assert s.loc[("episodes", "overlapping_episodes"), "severity"] == "warning"
    assert s["n_violations"].sum() == len(EXPECTED)


def test_missing_required_column_rejects_the_table_and_cascades(tmp_path):
    folder = make_delivery(tmp_path)
    frame = pd.read_csv(folder / "households.csv", dtype=str)
    frame.drop(columns="has_children").to_csv(folder / "households.csv", index=False)
    report = validate_delivery(folder)
    v = report.violations
    row = v[v["rule"] == "required_column"].iloc[0]
    assert (row["file"], row["column"], pd.isna(row["row"])) == (
        "households.csv",
        "has_children",
        True,
    )
    acc = report.accounting.set_index("table")
    assert acc.loc["households", "rows_rejected"] == 6
    assert acc.loc["episodes", "rows_rejected"] == 7  # their households are rejected
    assert (acc["rows_read"] == acc["rows_accepted"] + acc["rows_rejected"]).all()
    s = report.summary.set_index(["table", "rule"])
    assert s.loc[("households", "required_column"), "n_rows"] == 6


def test_unknown_column_and_unknown_file_are_warnings(tmp_path):
    folder = make_delivery(tmp_path)
    frame = pd.read_csv(folder / "referrals.csv", dtype=str)
    frame.assign(weight=["3", "", "1,5", "ja", "0", "7"][: len(frame)]).to_csv(
        folder / "referrals.csv", index=False
    )
    (folder / "notes.txt").write_text("hello", encoding="utf-8")
    report = validate_delivery(folder)
    assert report.ok
    assert set(report.violations["rule"]) == {"unknown_column", "unknown_file"}
    delivery = load(folder, cache_dir=False)
    assert "weight" not in delivery.referrals.columns


def test_an_undeclared_text_column_is_refused_a_declared_one_is_kept(tmp_path):
    from cohort.exceptions import IdentifierError

    folder = make_delivery(tmp_path)
    frame = pd.read_csv(folder / "referrals.csv", dtype=str)
    frame.assign(colour="red").to_csv(folder / "referrals.csv", index=False)
    with pytest.raises(IdentifierError, match=r"referrals.csv column colour: \d+ value\(s\) are free"):
        validate_delivery(folder)
    (folder / "columns.yaml").write_text("referrals:\n  colour: {type: code, values: [red]}\n")
    report = validate_delivery(folder)
    assert report.ok and report.violations.empty
    delivery = load(folder, cache_dir=False)
    assert delivery.referrals["colour"].tolist() == ["red"] * len(frame)
    assert "columns.yaml" in delivery.file_hashes


def test_optional_columns_may_be_left_out(tmp_path):
    folder = make_delivery(tmp_path)
    frame = pd.read_csv(folder / "episodes.csv", dtype=str)
    frame.drop(columns=["rvt_start_date", "rvt_end_date", "referral_source"]).to_csv(
        folder / "episodes.csv", index=False
    )
    delivery = load(folder, cache_dir=False)
    assert delivery.episodes["rvt_start_date"].isna().all()
    assert delivery.episodes["rvt_start_date"].dtype == "datetime64[ns]"
    assert list(delivery.episodes.columns) == list(schema.EPISODES.column_names)


def test_tolerance_for_measures_near_their_episode(tmp_path):
    faults = {"legal_measures.csv": ["SYN-M010,SYN-H001,SYN-E001,supervision_order,2023-01-02,"]}
    folder = make_delivery(tmp_path, faults)  # 30 days before registration 2023-02-01
    assert validate_delivery(folder).ok
    assert not validate_delivery(folder, tolerance_days=29).ok


def test_closure_on_registration_day_and_back_to_back_episodes_are_fine(tmp_path):
    faults = {
        "episodes.csv": [
            "SYN-E020,SYN-H002,AMS,2024-01-20,2024-01-20,other,,,",  # starts as E003 closes
        ]
    }
    report = validate_delivery(make_delivery(tmp_path, faults))
    assert report.violations.empty


def test_mixed_date_forms_in_a_column_are_an_error(tmp_path):
    faults = {"referrals.csv": ["SYN-R010,SYN-H001,05-05-2023,police"]}
    with pytest.raises(
        DeliveryError, match=r"referrals.csv column referral_date.*date_format_ambiguous"
    ):
        validate_delivery(make_delivery(tmp_path, faults))


def test_day_first_dates_are_read_per_column(tmp_path):
    folder = make_delivery(tmp_path)
    frame = pd.read_csv(folder / "referrals.csv", dtype=str, keep_default_na=False)
    frame["referral_date"] = pd.to_datetime(frame["referral_date"]).dt.strftime("%d-%m-%Y")
    frame.to_csv(folder / "referrals.csv", index=False)
    a = load(folder, cache_dir=False).referrals
    b = load(VALID, cache_dir=False).referrals
    pd.testing.assert_frame_equal(a, b)


def test_warnings_alone_do_not_stop_the_load(tmp_path):
    faults = {"episodes.csv": ["SYN-E012,SYN-H006,UTR,2024-03-01,2024-04-01,goal_reached,,,"]}
    delivery = load(make_delivery(tmp_path, faults), cache_dir=False)
    assert delivery.validation.ok and delivery.validation.n_warnings == 1
    assert len(delivery.episodes) == 8


def test_report_counts_are_integers_and_sorted(faulty):
    v = faulty.violations
    assert list(v.columns) == [
        "file",
        "table",
        "row",
        "column",
        "rule",
        "severity",
        "value",
        "message",
        "action",
    ]
    order = v["table"].map({t: i for i, t in enumerate(schema.TABLES)}).to_numpy()
    assert np.all(np.diff(order) >= 0)


# --- the command line -------------------------------------------------------------------


def test_cli_valid_delivery_exits_zero_with_counts(tmp_path, capsys):
    from cohort.cli import main

    code = main(["validate", str(VALID), "--quarantine", str(tmp_path / "q")])
    out = capsys.readouterr().out
    assert code == 0
    assert "no violations" in out
    assert "safety_assessments          7              7              0" in out
    assert (tmp_path / "q" / "violations.csv").exists()
    assert not (tmp_path / "q" / "episodes.csv").exists()


def test_cli_faulty_delivery_reports_and_exits_nonzero(tmp_path, capsys):
    from cohort.cli import main

    folder = make_delivery(tmp_path, FAULTS)
    csv_path = tmp_path / "out" / "violations.csv"
    code = main(
        [
            "validate",
            str(folder),
            "--quarantine",
            str(tmp_path / "q"),
            "--violations-csv",
            str(csv_path),
        ]
    )
    captured = capsys.readouterr()
    assert code == ValidationError.exit_code
    assert "episodes.csv row 9, column closure_date" in captured.out
    assert "closure_not_before_registration" in captured.out
    assert "SYN-" not in captured.out + captured.err
    assert len(captured.err.strip().splitlines()) == 1
    listed = pd.read_csv(csv_path)
    assert len(listed) == len(EXPECTED)
    assert not (tmp_path / "q" / "violations.csv").exists()
    quarantined = pd.read_csv(tmp_path / "q" / "households.csv", dtype=str)
    assert len(quarantined) == 10
    code = main(["validate", str(folder), "--quarantine", str(tmp_path / "q"), "--proceed"])
    assert code == 0


def test_the_data_model_document_names_every_column_and_rule():
    doc = (Path(__file__).parents[2] / "docs" / "data-model.md").read_text(encoding="utf-8")
    for spec in schema.TABLES.values():
        assert f"### `{spec.name}`" in doc
        for col in spec.columns:
            assert f"`{col.name}`" in doc, col.name
            for value in col.allowed or ():
                assert f"`{value}`" in doc, value
    for rule in RULES:
        assert f"`{rule}`" in doc, rule


# ---------------------------------------------------------------------------------------
# memory-saving paths give what the plain pandas operations give


@pytest.mark.parametrize("storage", ["python", "pyarrow"])
def test_arrow_text_storage_gives_the_same_violations_and_accounting(tmp_path, faulty, storage):
    # repeats are found by sorting Arrow text and references looked up in Arrow; with
    # either string storage the report must be the one of the plain pandas operations
    folder = make_delivery(tmp_path, FAULTS)
    with pd.option_context("mode.string_storage", storage):
        report = validate_delivery(folder)
    # the dtype of the value column follows the string storage; the content may not
    pd.testing.assert_frame_equal(report.violations, faulty.violations, check_dtype=False)
    pd.testing.assert_frame_equal(report.accounting, faulty.accounting)
    assert _found(report) == EXPECTED


@pytest.mark.parametrize("storage", ["python", "pyarrow"])
def test_repeated_and_positions_agree_with_pandas(storage):
    from cohort.delivery.validate import _positions, _repeated

    rng = np.random.default_rng(7)
    n = 2_000
    ids = np.array([f"SYN-{i:04d}" for i in rng.integers(0, 1_500, n)], dtype=object)
    ids[rng.random(n) < 0.05] = None
    values = pd.Series(pd.array(ids, dtype=pd.StringDtype(storage)))
    expected = (values.duplicated(keep=False) & values.notna()).to_numpy()
    np.testing.assert_array_equal(_repeated(values), expected)
    np.testing.assert_array_equal(_repeated(values.iloc[:1]), [False])
    index = pd.Index(pd.array(values.dropna().unique()[::2], dtype=pd.StringDtype(storage)))
    np.testing.assert_array_equal(_positions(index, values), index.get_indexer(values))


def test_accepted_rows_equal_boolean_selection():
    from cohort.delivery.read import RawTable
    from cohort.delivery.validate import _accepted_rows, _TableCheck

    frame = pd.DataFrame({"household_id": ["SYN-1", "SYN-2", "SYN-3"]}, dtype="string")
    chk = _TableCheck(RawTable("households", "households.csv", "csv", frame, np.arange(2, 5)))
    typed = pd.DataFrame(
        {
            "household_id": pd.array(["SYN-1", "SYN-2", "SYN-3"], dtype="string"),
            "d1": pd.to_datetime(["2020-01-01", None, "2021-05-02"]),
            "d2": pd.to_datetime([None, "2022-01-01", "2023-01-01"]),
            "n": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    chk.typed = typed.copy()
    chk.rejected[1] = True
    expected = typed[~chk.rejected].reset_index(drop=True)
    pd.testing.assert_frame_equal(_accepted_rows(chk), expected)


@pytest.mark.parametrize("value", [-40, -1, 366, 10**6, 2.5, True, "30"])
def test_tolerance_out_of_range_is_a_parameter_error(tmp_path, value):
    from cohort.delivery.validate import check_tolerance
    from cohort.exceptions import ParameterError

    with pytest.raises(ParameterError, match="from 0 to 365"):
        check_tolerance(value)
    with pytest.raises(ParameterError):
        load(make_delivery(tmp_path), cache_dir=False, tolerance_days=value)


def test_dates_after_max_date_are_implausible(tmp_path):
    from cohort.delivery.validate import MAX_DATE

    folder = make_delivery(tmp_path, {"referrals.csv": [f"SYN-R010,SYN-H001,{MAX_DATE + pd.Timedelta(days=1):%Y-%m-%d},"]})
    v = validate_delivery(folder).violations
    rules = set(v.loc[v["row"] == 7, "rule"])
    assert "implausible_date" in rules


def test_accounting_counts_rows_and_lines(tmp_path):
    folder = make_delivery(tmp_path, {"referrals.csv": ['SYN-R010,SYN-H001,2023-05-05,"po\nlice"']})
    acc = validate_delivery(folder).accounting.set_index("table")
    assert list(acc.columns) == [
        "file", "rows_read", "rows_accepted", "rows_rejected", "rows_with_warnings",
        "lines_read", "lines_accepted", "lines_rejected",
    ]
    row = acc.loc["referrals"]
    assert (row["rows_read"], row["lines_read"], row["rows_rejected"], row["lines_rejected"]) == (
        6, 7, 1, 2
    )
