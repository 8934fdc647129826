"""``cohort report`` writes report.html and report.pdf side by side, with a clean log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from cohort.report.build import build_report
from cohort.report.params import load_params

ROOT = Path(__file__).resolve().parents[2]

FIGURE_CELL = '''
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import display
from cohort.plots.style import figure_svg
fig, ax = plt.subplots()
ax.plot([0, 1, 2], [1.0, 0.9, 0.85])
svg = figure_svg(fig)
plt.close(fig)
display({"image/svg+xml": svg, "text/plain": "Curve"}, raw=True,
        metadata={"cohort": {"kind": "figure", "name": "curve", "caption": "Een curve",
                             "alt": "Een dalende lijn van 1 naar 0,85"}})
display({"text/markdown": "Zie {fig:curve}.", "text/plain": "Zie {fig:curve}."}, raw=True)
'''


@pytest.mark.slow
def test_a_build_writes_the_page_and_the_pdf_and_lists_both(tmp_path, capfd):
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "docs", root / "docs")
    shutil.copytree(ROOT / "parameters", root / "parameters")
    (root / "pyproject.toml").write_text("", encoding="utf-8")
    params = load_params(ROOT / "parameters" / "interim-2024q4.yaml")
    keys = params.notebook_parameters()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in keys.items()), metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(FIGURE_CELL),
    ]
    nbformat.write(nb, str(root / "notebooks" / "01_demo.ipynb"))
    folder = build_report(params, jobs=1, reports_root=tmp_path / "reports", progress=True,
                          notebooks=("01_demo",), required_tables=(), root=root)
    log = capfd.readouterr().err
    assert "KeyboardInterrupt" not in log and "\r" not in log
    assert f"report {params.name}: 1/1 notebooks done (01_demo)" in log
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert '<a href="#fig-curve">Figuur 1</a>' in html and 'alt="Een dalende lijn van 1 naar 0,85"' in html
    assert "SYNTHETISCHE GEGEVENS" in html
    pdf = (folder / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["report.pdf"]["kind"] == "report"
    assert manifest["files"]["report.html"]["kind"] == "report"
