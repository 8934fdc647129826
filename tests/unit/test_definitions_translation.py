"""The Dutch definitions page stays in step with the English one it translates."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def structure(text: str) -> dict:
    """What a translation must keep: headings per level, code, table rows, list items."""
    lines = text.splitlines()
    return {
        "headings": [len(m.group(1)) for m in (re.match(r"^(#+) ", line) for line in lines) if m],
        "code": Counter(" ".join(c.split()) for c in re.findall(r"`([^`]+)`", text)),
        "table_rows": sum(1 for line in lines if line.startswith("|")),
        "list_items": sum(1 for line in lines if re.match(r"^- ", line)),
        "numbers": Counter(re.findall(r"(?<![\w.,])\d+(?:[.,]\d+)?%?", re.sub(r"`[^`]+`", "", text))),
    }


@pytest.mark.parametrize("part", ["headings", "code", "table_rows", "list_items"])
def test_dutch_definitions_follow_the_english_ones(part):
    english = structure((DOCS / "definitions.md").read_text(encoding="utf-8"))
    dutch = structure((DOCS / "definitions.nl.md").read_text(encoding="utf-8"))
    assert dutch[part] == english[part], f"docs/definitions.nl.md differs from docs/definitions.md in {part}"


def test_the_numbers_agree_in_both_languages():
    def normalise(counter):
        return Counter({k.replace(",", "."): v for k, v in counter.items()})

    english = normalise(structure((DOCS / "definitions.md").read_text(encoding="utf-8"))["numbers"])
    dutch = normalise(structure((DOCS / "definitions.nl.md").read_text(encoding="utf-8"))["numbers"])
    assert dutch == english


def test_a_drifted_translation_is_noticed():
    english = (DOCS / "definitions.md").read_text(encoding="utf-8")
    drifted = english.replace("`households_active`", "`households_open`", 1)
    assert structure(drifted)["code"] != structure(english)["code"]
