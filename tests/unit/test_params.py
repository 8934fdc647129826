"""Parameter sets: the declared spec, errors naming key and file, notebooks in step with files."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cohort.disclosure.policy import DisclosurePolicy
from cohort.exceptions import InputNotFoundError, ParameterError
from cohort.report.build import NOTEBOOKS
from cohort.report.params import (
    KEYS,
    from_mapping,
    from_namespace,
    load_params,
    notebook_parameters,
    repo_root,
)

ROOT = Path(__file__).resolve().parents[2]
PARAMETER_FILES = sorted((ROOT / "parameters").glob("*.yaml"))
NOTEBOOK_FILES = [ROOT / "notebooks" / f"{name}.ipynb" for name in NOTEBOOKS]

MINIMAL = {
    "name": "demo",
    "title": "Demo",
    "language": "en",
    "delivery": "data/synthetic/default",
    "reference_date": "2024-12-31",
}


def write(tmp_path, values, name="p.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def test_minimal_file_gets_the_declared_defaults(tmp_path):
    p = load_params(write(tmp_path, MINIMAL), check_delivery=False)
    assert p.reference_date == dt.date(2024, 12, 31)
    assert p.study_start == dt.date(2023, 1, 1)
    assert p.sites is None
    assert p.reregistration_window_days == 365
    assert p.safety_threshold == 7.0
    assert p.disclosure == DisclosurePolicy(threshold=10, rounding=None, enabled=True)
    assert p.output_dir is None
    assert p.delivery == repo_root() / "data" / "synthetic" / "default"


def test_yaml_dates_and_papermill_strings_parse_the_same(tmp_path):
    # yaml.safe_dump of a date writes an unquoted date; papermill hands notebooks strings.
    from_file = load_params(write(tmp_path, {**MINIMAL, "reference_date": dt.date(2024, 12, 31)}), check_delivery=False)
    from_strings = from_mapping(MINIMAL, check_delivery=False)
    assert from_file == from_strings
    assert from_file.notebook_parameters()["reference_date"] == "2024-12-31"


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, {**MINIMAL, "refernce_date": "2024-12-31"})
    with pytest.raises(ParameterError, match=r"p\.yaml: unknown parameter 'refernce_date'"):
        load_params(path, check_delivery=False)


def test_unknown_disclosure_subkey_is_named(tmp_path):
    path = write(tmp_path, {**MINIMAL, "disclosure": {"threshold": 10, "round": 5}})
    with pytest.raises(ParameterError, match=r"parameter 'disclosure' has unknown key 'round'"):
        load_params(path, check_delivery=False)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("language", "de", "must be one of nl, en"),
        ("reference_date", "31-12-2024", "must be a date like 2024-12-31"),
        ("reference_date", "2024-02-30", "must be a date like 2024-12-31"),
        ("name", "Interim Report", "lower-case"),
        ("sites", [], 'must be "all" or a non-empty list'),
        ("sites", ["AMS", "AMS"], "lists a site twice"),
        ("reregistration_window_days", 0, "whole number from 1"),
        ("reregistration_window_days", True, "whole number from 1"),
        ("safety_threshold", 11, "number from 0 to 10"),
        ("seed", -1, "whole number from 0"),
        ("disclosure", {"threshold": 0}, "threshold must be a whole number of at least 1"),
        ("disclosure", {"rounding": 2.5}, "rounding must be a whole number"),
        ("disclosure", {"enabled": "yes"}, "enabled must be true or false"),
        ("effects", {"horizon": [6]}, "has unknown key 'horizon'; known keys: enrolment_start"),
        ("effects", [6, 12], "must be a mapping with the keys enrolment_start"),
        ("effects", {"horizons_months": [0]}, "horizons_months must be whole months from 1 to 120"),
        ("effects", {"covariates": []}, "covariates must be a non-empty list"),
        ("effects", {"enrolment_end": "2025-06-30"}, "must be in order and end on or before the reference date"),
        ("effects", {"trim_quantiles": [0.99, 0.01]}, "trim_quantiles must be two quantiles"),
        ("comparison_delivery", 3, "must be a path"),
    ],
)
def test_bad_values_name_the_key(tmp_path, key, value, expected):
    path = write(tmp_path, {**MINIMAL, key: value})
    with pytest.raises(ParameterError) as info:
        load_params(path, check_delivery=False)
    message = str(info.value)
    assert f"parameter {key!r}" in message and "p.yaml" in message and expected in message


def test_the_effects_block_is_the_protocol_of_the_effect_analyses(tmp_path):
    from cohort.definitions.target_trial import TrialSpec

    p = load_params(write(tmp_path, {**MINIMAL, "study_start": "2023-04-01"}), check_delivery=False)
    assert p.comparison_delivery is None
    assert p.effects == TrialSpec(reference_date="2024-12-31", enrolment_start="2023-04-01")
    assert p.notebook_parameters()["effects"] == {
        "enrolment_start": "2023-04-01", "enrolment_end": None, "comparison": "concurrent",
        "covariates": ["severity", "prior_reports", "has_children", "prior_episodes"],
        "horizons_months": [6, 12, 24], "trim_quantiles": None, "stabilised": True, "bootstrap_replications": 999,
    }
    given = {"enrolment_end": dt.date(2024, 6, 30), "covariates": ["severity"], "trim_quantiles": [0.01, 0.99]}
    q = load_params(write(tmp_path, {**MINIMAL, "effects": given}), check_delivery=False)
    assert q.effects.enrolment_end == pd.Timestamp("2024-06-30") and q.effects.covariates == ("severity",)
    assert q.notebook_parameters()["effects"]["enrolment_end"] == "2024-06-30"
    assert from_mapping({**MINIMAL, "effects": q.notebook_parameters()["effects"]}, check_delivery=False) == q, (
        "the values papermill injects parse to the same protocol"
    )


def test_the_comparison_delivery_is_a_folder_like_the_delivery(tmp_path):
    final = load_params(ROOT / "parameters" / "final-2026.yaml")
    assert final.comparison_delivery == repo_root() / "data" / "synthetic" / "comparison"
    assert load_params(ROOT / "parameters" / "interim-2024q4.yaml").comparison_delivery == final.comparison_delivery
    with pytest.raises(InputNotFoundError, match="parameter 'comparison_delivery': folder 'no/such' does not exist"):
        load_params(write(tmp_path, {**MINIMAL, "comparison_delivery": "no/such"}))


def test_missing_required_key(tmp_path):
    values = {k: v for k, v in MINIMAL.items() if k != "title"}
    with pytest.raises(ParameterError, match="required parameter 'title' is missing"):
        load_params(write(tmp_path, values), check_delivery=False)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"study_start": "2025-01-01"}, "'reference_date' (2024-12-31) must be after study_start"),
        ({"change_date": "2025-03-01"}, "'change_date' (2025-03-01) must lie after study_start"),
        ({"previous_reference_date": "2024-12-31"}, "'previous_reference_date' (2024-12-31) must lie between"),
    ],
)
def test_inconsistent_dates(values, expected):
    with pytest.raises(ParameterError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        from_mapping({**MINIMAL, **values}, check_delivery=False)


def test_missing_delivery_and_file():
    with pytest.raises(InputNotFoundError, match="parameter 'delivery'"):
        from_mapping({**MINIMAL, "delivery": "data/no-such-delivery"})
    with pytest.raises(InputNotFoundError, match="not found"):
        load_params("parameters/no-such-file.yaml")


def test_invalid_yaml_is_a_parameter_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_params(path)


def test_from_namespace_takes_only_the_declared_keys():
    namespace = {**from_mapping(MINIMAL, check_delivery=False).notebook_parameters(), "other": 1}
    assert from_namespace(namespace, check_delivery=False).name == "demo"
    del namespace["seed"]
    with pytest.raises(ParameterError, match="'seed' is not defined"):
        from_namespace(namespace, check_delivery=False)


def test_parameter_files_exist_and_load():
    names = {p.name for p in PARAMETER_FILES}
    assert {"interim-2024q4.yaml", "final-2026.yaml"} <= names
    interim = load_params(ROOT / "parameters" / "interim-2024q4.yaml")
    final = load_params(ROOT / "parameters" / "final-2026.yaml")
    assert interim.reference_date == dt.date(2024, 12, 31)
    assert final.reference_date > interim.reference_date
    assert final.previous_reference_date == interim.reference_date
    assert {interim.language, final.language} <= {"nl", "en"}


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: p.name)
def test_parameter_file_keys_are_notebook_parameters_and_vice_versa(path):
    """Every key of a parameter file is a parameter of every notebook, and vice versa."""
    file_keys = set(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert file_keys == set(KEYS), f"{path.name} must list exactly the keys of cohort.report.params.SPEC"
    for notebook in NOTEBOOK_FILES:
        assert set(notebook_parameters(notebook)) == file_keys, notebook.name


@pytest.mark.parametrize("notebook", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_parameters_equal_the_interim_file(notebook):
    """A plain notebook run gives the interim analysis: the parameters cell holds its values."""
    interim = load_params(ROOT / "parameters" / "interim-2024q4.yaml")
    assert notebook_parameters(notebook) == interim.notebook_parameters()


def test_notebook_parameters_cell_must_hold_literals(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("name = 'x'\nn = len('abc')", metadata={"tags": ["parameters"]}))
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(ParameterError, match="'n' must be a literal"):
        notebook_parameters(path)


def test_title_block_defaults_to_an_unnamed_draft():
    p = from_mapping(MINIMAL, check_delivery=False)
    assert (p.author, p.organisation, p.issue_date, p.version, p.status) == (None, None, None, "0.1", "draft")


def test_a_final_report_names_author_organisation_and_issue_date():
    final = {**MINIMAL, "status": "final", "author": "Team", "organisation": "Org"}
    with pytest.raises(ParameterError, match="'status' is final but 'issue_date' is empty"):
        from_mapping(final, source="f.yaml", check_delivery=False)
    p = from_mapping({**final, "issue_date": "2025-03-31"}, check_delivery=False)
    assert p.status == "final" and p.issue_date == dt.date(2025, 3, 31)
    assert p.notebook_parameters()["issue_date"] == "2025-03-31"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("status", "definitief", "must be draft \\(concept\\) or final \\(definitief\\)"),
        ("version", 1.1, 'must be text in quotes, e.g. "1.0"'),
        ("issue_date", "2024-12-30", "lies before reference_date"),
        ("author", "  ", "must be non-empty text"),
    ],
)
def test_bad_title_block_values_name_the_key(key, value, message):
    with pytest.raises(ParameterError, match=f"'{key}'.*{message}|{message}"):
        from_mapping({**MINIMAL, key: value}, source="x.yaml", check_delivery=False)


def _valid_params(**values):
    return from_mapping(
        {**MINIMAL, "delivery": "tests/fixtures/deliveries/valid", **values}, source="p.yaml"
    )


@pytest.fixture(scope="module")
def valid_delivery():
    from cohort.delivery.load import load

    return load(ROOT / "tests" / "fixtures" / "deliveries" / "valid", cache_dir=False)


def test_check_against_delivery_accepts_a_consistent_file_and_returns_notes(valid_delivery):
    from cohort.report.params import check_against_delivery

    assert check_against_delivery(_valid_params(reference_date="2024-06-30"), valid_delivery) == ()
    notes = check_against_delivery(_valid_params(reference_date="2030-12-31"), valid_delivery)
    assert any("lies after the delivery's data ends (2024-12-31)" in n for n in notes)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"sites": ["XXX"]}, "parameter 'sites': site 'XXX' is not a site of the delivery valid"),
        ({"sites": ["UTR"], "study_start": "2024-07-01", "change_date": "2024-08-01"},
         "parameter 'study_start' (2024-07-01) is after the data of the chosen sites ends"),
        ({"reference_date": "2022-06-30", "study_start": "2022-01-01", "change_date": "2022-03-01"},
         "parameter 'reference_date' (2022-06-30) is before the delivery's data begins"),
    ],
)
def test_check_against_delivery_refuses_what_the_delivery_cannot_answer(
    valid_delivery, values, expected
):
    from cohort.report.params import check_against_delivery

    with pytest.raises(ParameterError, match=re.escape(expected)):
        check_against_delivery(_valid_params(**values), valid_delivery)


def test_aliases_and_duplicate_keys_are_refused_in_parameter_files(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: demo\nsites: &s [AMS]\nother: *s\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"p.yaml line 2, column 8: .*yaml_alias"):
        load_params(path, check_delivery=False)
    path.write_text("name: demo\nname: other\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"line 2, column 1: key 'name' appears twice"):
        load_params(path, check_delivery=False)
