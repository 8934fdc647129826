"""The report text of the effects section: both languages, the same fields, every caption."""

from __future__ import annotations

import string
from pathlib import Path

import yaml

TEXTS = Path(__file__).resolve().parents[2] / "src" / "cohort" / "resources" / "report_text.yaml"
FIELDS = {"enrolment_start", "enrolment_end", "reference_date", "n_pilot_sites", "n_comparison_sites",
          "covariates", "horizons", "bootstrap_replications", "disclosure_threshold",
          "analysis"}  # the analysis not estimable here, in words (the notebook passes it)


def leaves(node, path=()):
    if isinstance(node, dict) and set(node) <= {"nl", "en"}:
        yield path, node
        return
    for key, value in node.items():
        yield from leaves(value, (*path, key))


def fields(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_effects_text_has_dutch_and_english_with_the_same_known_fields():
    effects = yaml.safe_load(TEXTS.read_text(encoding="utf-8"))["effects"]
    found = list(leaves(effects))
    assert len(found) > 30
    for path, text in found:
        assert set(text) == {"nl", "en"}, path
        assert text["nl"].strip() and text["en"].strip(), path
        assert fields(text["nl"]) == fields(text["en"]), path
        assert fields(text["en"]) <= FIELDS, path


def test_the_section_has_its_parts_and_a_caption_per_released_file():
    texts = yaml.safe_load(TEXTS.read_text(encoding="utf-8"))
    effects = texts["effects"]
    for part in ("section", "intro", "design", "weighting", "balance", "curves", "estimates",
                 "staggered", "event_study", "few_sites", "methods_text", "limitations_text"):
        assert part in effects, part
    assert texts["section"]["07_effects"] == effects["section"]
    # captions are looked up where every released file's caption is (captions.KIND.NAME)
    tables = texts["captions"]["tables"]
    for name in ("effects_attrition", "effects_propensity_model", "effects_balance", "effects_weights",
                 "effects_legal_measure_risks", "effects_reregistration_risks", "effects_hazard_ratios",
                 "effects_doubly_robust", "effects_safety", "effects_staggered_att_gt", "effects_staggered_overall"):
        assert name in tables, name
    for name in ("effects_legal_measure_cif", "effects_reregistration_cif", "effects_event_study"):
        assert name in texts["captions"]["figure-data"], name
        assert name in texts["captions"]["figures"], name


def test_the_covariates_are_named_in_words_and_the_protocol_fills_the_fields():
    from cohort.report.params import load_params
    from cohort.report.text import _fields

    root = Path(__file__).resolve().parents[2]
    final = _fields(load_params(root / "parameters" / "final-2026.yaml"))
    assert final["enrolment_start"] == "1 January 2023" and final["enrolment_end"] == "30 June 2026"
    assert final["horizons"] == "6, 12 and 24"
    assert final["covariates"] == ("the severity of the case, the number of earlier reports, whether there "
                                   "are children in the household and the number of earlier involvements")
    interim = _fields(load_params(root / "parameters" / "interim-2024q4.yaml"))
    assert interim["horizons"] == "6, 12 en 24" and interim["enrolment_end"] == "31 december 2024"
