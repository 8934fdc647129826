"""Committed notebooks are as ``cohort notebooks --refresh`` writes them.

Opening a notebook in JupyterLab and saving it changes it: the kernel it was run with,
cell metadata (collapsed, scrolled), execution counts out of order, error outputs. nbval
would then check the altered notebook, not the one the refresh made. These tests fail on
such a change; ``make notebooks`` (or ``git restore notebooks/``) puts it right. That the
parameters cell holds the interim parameter file is checked in ``test_params.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohort.report.execute import NOTEBOOKS
from cohort.report.provenance import KERNELSPEC, normalise_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_FILES = [ROOT / "notebooks" / f"{name}.ipynb" for name in NOTEBOOKS]


def problems(text: str) -> list[str]:
    """What keeps a notebook's text from being as the refresh writes it."""
    nb = json.loads(text)
    found = []
    if nb.get("metadata", {}).get("kernelspec") != KERNELSPEC:
        found.append(f"kernel is {nb.get('metadata', {}).get('kernelspec')}, expected {KERNELSPEC}")
    extra = sorted(set(nb.get("metadata", {})) - {"kernelspec", "language_info"})
    if extra:
        found.append(f"notebook metadata {extra[0]!r} (written by an editor)")
    counts = []
    for index, cell in enumerate(nb.get("cells", [])):
        keys = sorted(set(cell.get("metadata", {})) - {"tags"})
        if keys:
            found.append(f"cell {index} has metadata {keys[0]!r}")
        if cell.get("cell_type") == "code":
            counts.append(cell.get("execution_count"))
            if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                found.append(f"cell {index} holds an error")
    if counts != list(range(1, len(counts) + 1)):
        found.append(f"code cells were not run once, top to bottom (execution counts {counts})")
    if text != json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n":
        found.append("not in the refresh's layout (sorted keys, one-space indent, final newline)")
    return found


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_committed_notebook_is_as_the_refresh_wrote_it(path):
    assert problems(path.read_text(encoding="utf-8")) == [], (
        f"{path.name} was changed outside `make notebooks`; run `make notebooks` or `git restore {path.name}`"
    )


def test_a_notebook_saved_from_jupyterlab_is_noticed():
    nb = json.loads(NOTEBOOK_FILES[0].read_text(encoding="utf-8"))
    nb["metadata"]["kernelspec"] = {"display_name": "Python (cohort)", "language": "python", "name": "cohort"}
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[-1]["execution_count"] = 42
    code[0]["metadata"]["scrolled"] = True
    found = problems(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert any("kernel is" in p for p in found)
    assert any("'scrolled'" in p for p in found)
    assert any("execution counts" in p for p in found)


def test_the_refresh_gives_the_expected_kernel_back():
    import nbformat

    nb = nbformat.read(str(NOTEBOOK_FILES[0]), as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Python (cohort)", "language": "python", "name": "cohort"}
    assert normalise_notebook(nb).metadata["kernelspec"] == KERNELSPEC
