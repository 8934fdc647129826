"""The report text of the effects section: both languages, the same fields, every caption."""

from __future__ import annotations

import string
from pathlib import Path

import yaml

TEXTS = Path(__file__).resolve().parents[2] / "src" / "cohort" / "resources" / "report_text.yaml"
FIELDS = {"enrolment_start", "enrolment_end", "reference_date", "n_pilot_sites", "n_comparison_sites",
          "covariates", "bootstrap_replications", "disclosure_threshold"}


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
    effects = yaml.safe_load(TEXTS.read_text(encoding="utf-8"))["effects"]
    for part in ("section", "intro", "design", "weighting", "balance", "curves", "estimates",
                 "staggered", "event_study", "few_sites", "methods_text", "limitations_text"):
        assert part in effects, part
    tables = effects["captions"]["tables"]
    for name in ("effects_attrition", "effects_balance", "effects_weights", "effects_legal_measure_risks",
                 "effects_reregistration_risks", "effects_hazard_ratios", "effects_staggered_overall"):
        assert name in tables, name
    assert "effects_event_study" in effects["captions"]["figure-data"]
