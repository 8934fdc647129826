"""The report builder: files, provenance, manifest, the gate, byte-identical rebuild, atomic swap.

One real build on the bundled synthetic delivery (two of the notebooks, to keep the suite
fast) is shared by the tests of its contents; its rebuild from provenance is the second
build whose tables, figure data and notebooks must be byte-identical. Failure handling
uses tiny notebooks written in the test.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from cohort.disclosure.policy import SUPPRESSED
from cohort.exceptions import ReportError
from cohort.files import sha256_file
from cohort.report import provenance as prov
from cohort.report.build import build_report
from cohort.report.execute import NOTEBOOKS
from cohort.report.params import load_params
from cohort.report.rebuild import rebuild_report

ROOT = Path(__file__).resolve().parents[2]
INTERIM = ROOT / "parameters" / "interim-2024q4.yaml"
FINAL = ROOT / "parameters" / "final-2026.yaml"
FAST_NOTEBOOKS = ("02_monitor", "03_reregistration")
FAST_TABLES = ("monitor", "reregistration_km", "reregistration_cox")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    folder = build_report(
        INTERIM, jobs=2, reports_root=reports, progress=False, notebooks=FAST_NOTEBOOKS, required_tables=FAST_TABLES
    )
    return folder


def test_report_folder_has_every_part(built):
    assert built.name == "interim-2024q4"
    for name in FAST_TABLES:
        assert (built / "tables" / f"{name}.csv").is_file()
    assert (built / "figure-data" / "reregistration_km.csv").is_file()
    assert sorted(p.name for p in (built / "notebooks").iterdir()) == [f"{n}.ipynb" for n in FAST_NOTEBOOKS]
    assert not list(built.parent.glob(".interim-2024q4.*")), "no staging or failed folder is left behind"


def test_released_tables_have_the_promised_columns(built):
    km = pd.read_csv(built / "tables" / "reregistration_km.csv")
    assert {"time", "survival", "ci_lower", "ci_upper", "n_risk"} <= set(km.columns)
    cox = pd.read_csv(built / "tables" / "reregistration_cox.csv")
    assert {"term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"} <= set(cox.columns)
    monitor = pd.read_csv(built / "tables" / "monitor.csv", dtype=str, keep_default_na=False)
    headline = monitor[
        (monitor["indicator"] == "households_involved") & (monitor["site"] == "all") & (monitor["interval_end"] == "2024-12-31")
    ]
    assert headline["numerator"].tolist() == ["1653"]
    assert SUPPRESSED in set(monitor["numerator"])


def test_report_html_is_one_page_without_code(built):
    html = (built / "report.html").read_text(encoding="utf-8")
    params = load_params(INTERIM)
    assert params.title in html and '<html lang="nl">' in html
    for heading in ("Inhoud", "Kwartaalmonitor", "Heraanmelding na afsluiting", "Definities", "Methoden", "Beperkingen"):
        assert heading in html
    assert "data:image/svg+xml;base64," in html and "data:image/png" not in html  # vector figures only
    assert 'src="http' not in html and "<script" not in html, "self-contained, no external resources"
    for code in ("import pandas", "report.release_table(", "from_namespace(globals())", "quarterly_series("):
        assert code not in html
    assert "households_involved" in html  # the definitions page is included


def test_dutch_report_shows_dutch_labels_and_releases_identifiers(built):
    html = (built / "report.html").read_text(encoding="utf-8")
    assert '<th scope="row" class="left">huishoudens betrokken sinds de start</th>' in html
    assert "households involved since the study start" not in html
    assert '<td class="left">verhuisd</td>' in html and "moved away</td>" not in html
    assert '<td class="right">x</td>' in html and "[onderdrukt]" not in html and "tables/monitor.csv" in html
    assert "Kwartaalmonitor: elke indicator, elk kwartaal en elke proeftuin" in html  # caption
    headline = pd.read_csv(built / "tables" / "monitor_headline.csv", dtype=str, keep_default_na=False)
    assert "households involved since the study start" in set(headline["figure"])
    cif = pd.read_csv(built / "tables" / "reregistration_cif.csv", dtype=str, keep_default_na=False)
    assert set(cif["cause"]) == {"re-registration", "moved away"}


def _page_text(html: str) -> str:
    """The text a reader sees on the page before the appendices (no markup, no code)."""
    import html as markup

    body = html.split("</style>")[1].split('id="definitions"')[0]
    body = re.sub(r"<code>.*?</code>|<img[^>]*>", " ", body, flags=re.S)
    return " ".join(markup.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_report_page_numbers_captions_and_alt_texts_of_the_real_build(built):
    html = (built / "report.html").read_text(encoding="utf-8")
    text = _page_text(html)
    # Dutch numbers, shares, p-values and written-out dates; nothing printed the English way
    for shown in ("1.653", "10,3%", "< 0,001", "31 december 2024", "1 januari 2023 t/m 31 december 2024"):
        assert shown in text.replace("\u00a0", " "), shown
    assert not re.search(r"\b\d+\.\d+e-\d+\b|\b0\.\d{3,}\b|\b\d{4}-\d{2}-\d{2}\b(?!\.csv)", text)
    # model terms and headers in Dutch
    assert "site[T." not in html and "has_children" not in text
    assert "eerdere meldingen" in text and "hazardratio" in text and "robuuste standaardfout" in text
    # every figure numbered and captioned, drawn as SVG, with an alt text that says what it shows
    images = re.findall(r'<img src="data:image/([a-z+]+);base64,[^"]+" alt="([^"]*)">', html)
    assert [kind for kind, _ in images] == ["svg+xml"] * 3  # the trend, Kaplan-Meier, cumulative incidence
    alts = [a.replace("&#x27;", "'") for _, a in images]
    assert alts[0].startswith("Aanmeldingen per kwartaal, per proeftuin. Verticaal: aanmeldingen per kwartaal")
    assert "van K1 2023 tot en met K4 2024" in alts[0] and "Eén paneel per proeftuin (13)" in alts[0]
    km = next(a for a in alts if a.startswith("Kaplan-Meier"))
    assert "van 0 tot 12" in km and "De curve eindigt na 7,3 maanden" in km and "na 0, 3, 6, 9 en 12 maanden" in km
    for number in range(1, 4):
        assert f"<b>Figuur {number}.</b>" in html
    assert re.search(r"<b>Tabel \d+\.</b> Kaplan-Meier: tijd sinds afsluiting", html)
    # the one marker, its footnote, and no English left in the page's own text
    assert "x = niet getoond (onthullingscontrole)" in text
    for english in ("Number at risk", "rate ratio", " SE ", "at risk", "suppressed", "Figure ", "Table "):
        assert english not in text, english


def test_the_numbers_at_risk_drawn_are_those_released(built):
    """The KM figure's axis ends at the last released number at risk; every released
    number is drawn, none other (the SVG holds text as paths: the alt text names them)."""
    at_risk = pd.read_csv(built / "figure-data" / "reregistration_km_at_risk.csv", dtype=str)
    released = at_risk.loc[at_risk["suppressed"] == "false"]
    months = [round(float(t) / 30.4375) for t in released["time"]]
    html = (built / "report.html").read_text(encoding="utf-8")
    km = next(a for a in re.findall(r'alt="([^"]*)"', html) if a.startswith("Kaplan-Meier"))
    listed = ", ".join(str(m) for m in months[:-1]) + f" en {months[-1]} maanden"
    assert f"na {listed}" in km and f"van 0 tot {months[-1]}" in km


def test_report_pdf_of_the_real_build_is_a4_with_the_notice_on_every_page_and_nothing_cut(built):
    import numpy as np
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument((built / "report.pdf").read_bytes())
    margin = 18 / 25.4 * 72
    assert len(pdf) >= 10
    for index in range(len(pdf)):
        page = pdf[index]
        width, height = page.get_size()
        assert (round(width, 1), round(height, 1)) == (595.3, 841.9), f"page {index + 1} is not A4"
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        assert "SYNTHETISCHE GEGEVENS" in text and f"Pagina {index + 1} van {len(pdf)}" in text
        for char in range(textpage.count_chars()):
            left, _, right, _ = textpage.get_charbox(char)
            if right - left > 0 and not textpage.get_text_range(char, 1).isspace():
                assert margin - 1 <= left and right <= width - margin + 1, f"page {index + 1}: text outside the column"
        image = np.asarray(page.render(scale=1).to_pil().convert("L"))
        assert image[:, : int(margin) - 2].min() > 250 and image[:, -int(margin) + 2 :].min() > 250, (
            f"page {index + 1}: ink in a margin"
        )
    everything = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "1.653" in everything and "< 0,001" in everything and "Figuur 2." in everything
    assert b"/Subtype /Image" not in (built / "report.pdf").read_bytes(), "figures stay vector graphics"


def test_provenance_records_inputs_parameters_and_versions(built):
    provenance = json.loads((built / "provenance.json").read_text(encoding="utf-8"))
    assert set(provenance) >= {"git", "inputs", "parameters", "seeds", "versions", "started", "finished"}
    assert set(provenance["git"]) == {"commit", "dirty"}
    delivery = provenance["inputs"]["delivery"]
    assert "data/synthetic/default/episodes.csv" in delivery
    assert delivery["data/synthetic/default/episodes.csv"] == sha256_file(
        ROOT / "data" / "synthetic" / "default" / "episodes.csv"
    )
    assert provenance["parameters"] == load_params(INTERIM).notebook_parameters()
    assert provenance["seeds"]["seed"] == 20230101
    assert {"python", "pandas", "statsmodels", "lifelines", "papermill"} <= set(provenance["versions"])


def test_manifest_lists_every_file_with_hash_and_disclosure_status(built):
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    files = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == sha256_file(built / name)
        assert entry["disclosure"]
    # the monitor's rule, and the cells the build suppressed further to protect the release
    # against itself (the audit), which the manifest counts
    assert manifest["files"]["tables/monitor.csv"]["disclosure"] == (
        "passed the release check; disclosure control applied (monitor cells + ledger)"
    )
    assert manifest["files"]["tables/monitor.csv"]["ledger_suppressed"] > 0
    assert manifest["files"]["tables/monitor.csv"]["columns"]["numerator"] == "count"
    # every exemption from disclosure control is listed with its reason
    exempt = {f: e["exemption"] for f, e in manifest["files"].items() if e.get("exemption")}
    assert manifest["exemptions"] == exempt == {}, "every table of the report passed a disclosure rule"
    assert "model terms" in manifest["files"]["tables/reregistration_cox_zph.csv"]["disclosure"]
    # the numbers at risk drawn under a curve are figure data, checked like any count
    at_risk = manifest["files"]["figure-data/reregistration_km_at_risk.csv"]
    assert at_risk["columns"]["n_risk"] == "count" and at_risk["suppressed_cells"] > 0


def test_notebooks_are_normalised(built):
    for path in (built / "notebooks").iterdir():
        nb = nbformat.read(str(path), as_version=4)
        assert "papermill" not in nb.metadata
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert [c.id for c in injected] == ["injected-parameters"]
        assert 'output_dir = "reports/interim-2024q4"' in injected[0].source
        assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in nb.cells)
        assert ".building" not in path.read_text(encoding="utf-8")


def test_rebuild_from_provenance_is_byte_identical(built):
    before = {p: p.read_bytes() for p in built.rglob("*") if p.is_file()}
    result = rebuild_report(built, jobs=2, progress=False)
    assert result["different"] == [] and result["missing"] == [] and result["extra"] == []
    assert {f.split("/")[0] for f in result["identical"]} == {"tables", "figure-data", "notebooks"}
    assert {p: p.read_bytes() for p in built.rglob("*") if p.is_file()} == before, "rebuild leaves the report alone"


def test_rebuild_refuses_changed_inputs(built, tmp_path):
    copy = tmp_path / built.name
    import shutil

    shutil.copytree(built, copy)
    provenance = json.loads((copy / "provenance.json").read_text(encoding="utf-8"))
    provenance["inputs"]["delivery"]["data/synthetic/default/episodes.csv"] = "0" * 64
    (copy / "provenance.json").write_text(json.dumps(provenance), encoding="utf-8")
    with pytest.raises(ReportError, match="input file data/synthetic/default/episodes.csv changed"):
        rebuild_report(copy, progress=False)


# ---------------------------------------------------------------------- tiny notebooks


def tiny_root(tmp_path, body: str, name="01_tiny") -> Path:
    """A repository root with one notebook: the parameters cell, then ``body``."""
    params = load_params(INTERIM).notebook_parameters()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(
        nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()), metadata={"tags": ["parameters"]})
    )
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import pandas as pd\nfrom cohort.report.notebook import start\nreport = start(globals())"
        )
    )
    nb.cells.append(nbformat.v4.new_code_cell(body))
    (tmp_path / "notebooks").mkdir(parents=True)
    nbformat.write(nb, str(tmp_path / "notebooks" / f"{name}.ipynb"))
    return tmp_path


def tiny_params(**changes):
    return dataclasses.replace(load_params(INTERIM), **changes)


def last_good(reports: Path) -> dict:
    folder = reports / "interim-2024q4"
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("last good report", encoding="utf-8")
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_failing_notebook_names_cell_and_error_and_keeps_the_last_good_report(tmp_path):
    root = tiny_root(tmp_path / "repo", 'raise ValueError("planted failure")', name="01_fails")
    reports = tmp_path / "reports"
    before = last_good(reports)
    with pytest.raises(ReportError) as info:
        build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_fails",), required_tables=(), progress=False)
    message = str(info.value)
    # the cell as numbered in the notebook itself (papermill's copy has two more cells)
    assert 'notebook 01_fails.ipynb, cell 3 (raise ValueError("planted failure"))' in message
    assert "ValueError: planted failure" in message
    assert {p: p.read_bytes() for p in (reports / "interim-2024q4").rglob("*") if p.is_file()} == before
    kept = reports / ".interim-2024q4.failed" / "notebooks" / "01_fails.ipynb"
    assert kept.is_file() and ".interim-2024q4.failed/notebooks/01_fails.ipynb" in message
    assert (reports / ".interim-2024q4.failed" / "error.txt").is_file()
    assert not (reports / ".interim-2024q4.building").exists()


def test_a_frame_that_never_passed_disclosure_control_is_refused(tmp_path):
    body = 'report.table(pd.DataFrame({"total": [3, 41]}), "totals")'
    root = tiny_root(tmp_path / "repo", body)
    reports = tmp_path / "reports"
    before = last_good(reports)
    with pytest.raises(ReportError) as info:
        build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_tiny",), required_tables=(), progress=False)
    assert "cell 3 (report.table(" in str(info.value)
    assert "DisclosureError: this table never passed disclosure control" in str(info.value)
    assert {p: p.read_bytes() for p in (reports / "interim-2024q4").rglob("*") if p.is_file()} == before
    failed = reports / ".interim-2024q4.failed"
    assert sorted(p.relative_to(failed).as_posix() for p in failed.rglob("*") if p.is_file()) == [
        "error.txt", "notebooks/01_tiny.ipynb"
    ], "a failed build keeps its error and notebooks, never its tables"


def test_release_check_failure_stops_the_build_and_leaves_no_tables(tmp_path):
    body = 'report.table(pd.DataFrame({"site": ["A", "B"], "n": [25, 4]}), "planted", exemption="planted")'
    root = tiny_root(tmp_path / "repo", body)
    reports = tmp_path / "reports"
    before = last_good(reports)
    with pytest.raises(ReportError) as info:
        build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_tiny",), required_tables=(), progress=False)
    assert "tables/planted.csv, row 2 (line 3), column 'n': count 4 is below the threshold 10" in str(info.value)
    assert {p: p.read_bytes() for p in (reports / "interim-2024q4").rglob("*") if p.is_file()} == before
    assert not list((reports / ".interim-2024q4.failed").rglob("*.csv"))


def test_an_interrupted_swap_is_restored_before_the_next_build(tmp_path):
    reports = tmp_path / "reports"
    before = last_good(reports)
    (reports / "interim-2024q4").rename(reports / ".interim-2024q4.previous")  # killed mid-swap
    root = tiny_root(tmp_path / "repo", "raise ValueError('fails')")
    with pytest.raises(ReportError):
        build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_tiny",), required_tables=(), progress=False)
    assert {p: p.read_bytes() for p in (reports / "interim-2024q4").rglob("*") if p.is_file()} == before


def test_missing_required_table_stops_the_build(tmp_path):
    root = tiny_root(tmp_path / "repo", "x = 1")
    with pytest.raises(ReportError, match="required table tables/monitor.csv"):
        build_report(tiny_params(), root=root, reports_root=tmp_path / "r", notebooks=("01_tiny",),
                     required_tables=("monitor",), progress=False)


def test_successful_build_replaces_the_last_report(tmp_path):
    body = (
        'from cohort.roles import with_roles\n'
        't = with_roles(pd.DataFrame({"site": ["A", "B", "all"], "n": [25, 4, 29]}), counts=["n"], groups=["site"])\n'
        'released = report.release(t, "sites")\n'
        'report.release(released[["site", "n", "suppressed"]].assign(k="x"), "sites_plot", kind="figure-data")'
    )
    root = tiny_root(tmp_path / "repo", body)
    reports = tmp_path / "reports"
    last_good(reports)
    folder = build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_tiny",), required_tables=(), progress=False)
    assert (folder / "report.html").read_text(encoding="utf-8") != "last good report"
    assert (folder / "tables" / "sites.csv").read_text(encoding="utf-8") == (
        "site,n,suppressed\nA,[suppressed],true\nB,[suppressed],true\nall,29,false\n"
    )
    assert (folder / "figure-data" / "sites_plot.csv").is_file()
    # nothing left of the build but the report and its entry in the release ledger beside it
    assert sorted(p.name for p in reports.iterdir()) == [".ledger", "interim-2024q4"]
    from cohort.disclosure.ledger import Ledger

    assert [e.report for e in Ledger(reports / ".ledger").entries()] == ["interim-2024q4"]


def test_final_report_built_against_the_interim_cannot_be_differenced(built, tmp_path):
    from cohort.disclosure.check import check_release
    from cohort.disclosure.monitor import read_released

    folder = build_report(
        FINAL, jobs=1, reports_root=tmp_path, progress=False, notebooks=("02_monitor",),
        required_tables=("monitor",), against=built,
    )
    assert check_release(folder, against=built) == []
    interim = read_released(built / "tables" / "monitor.csv")
    final = read_released(folder / "tables" / "monitor.csv")
    keys = ["indicator", "interval_start", "interval_end", "site"]
    both = interim.merge(final, on=keys, suffixes=("_interim", "_final"))
    hidden = both["numerator_interim"].isna().to_numpy()
    assert hidden.any() and both.loc[hidden, "numerator_final"].isna().all()
    # The staged copy of the interim monitor is not part of the report.
    assert not (folder / "_inputs").exists() and not (folder / "_release").exists()
    assert "previous-monitor.csv" not in (folder / "manifest.json").read_text(encoding="utf-8")


def test_against_needs_a_report_with_a_monitor(tmp_path):
    with pytest.raises(ReportError, match="no released monitor"):
        build_report(FINAL, reports_root=tmp_path / "r", progress=False, notebooks=("02_monitor",),
                     required_tables=("monitor",), against=tmp_path / "nothing")


def test_normalise_notebook_is_idempotent_and_strips_timing():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2024-01-01T00:00:00", "duration": 3.2}
    cell = nbformat.v4.new_code_cell(
        "output_dir = '/scratch/.x.building'",
        metadata={"tags": ["injected-parameters"], "papermill": {"duration": 0.1}, "execution": {"iopub.status.busy": "2024-01-01T00:00:00Z"}},
    )
    nb.cells.append(cell)
    once = prov.normalise_notebook(nb, {"/scratch/.x.building": "reports/x"})
    twice = prov.normalise_notebook(once)
    assert once == twice
    assert once.cells[0].source == "output_dir = 'reports/x'"
    assert once.cells[0].metadata == {"tags": ["injected-parameters"]}


# ---------------------------------------------------------------------- the notebooks


def test_the_notebooks_are_the_report_and_are_thin():
    """Every report notebook exists; each has one literal parameters cell, then package
    calls: no function or class definitions, nothing read from files directly."""
    import ast

    assert sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), f"{name}: the first code cell holds the parameters"
        assert nb.metadata["kernelspec"]["name"] == "python3"
        for cell in code[1:]:
            tree = ast.parse(cell.source)
            defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)]
            assert not defined, f"{name}: notebooks call the package; definitions belong in src/cohort"
            assert "read_csv" not in cell.source and "open(" not in cell.source, name
            code_only = re.sub(r"\"[^\"]*\"|'[^']*'", '""', cell.source)  # text keys may say anything
            plumbing = re.findall(r"\bpolicy\b|disclosure|apply_\w+|release_\w+\(|\.attrs\b|\.threshold\b", code_only)
            assert not plumbing, f"{name}: no disclosure plumbing in notebooks ({plumbing})"
            assert all(o.get("output_type") != "error" for o in cell.get("outputs", [])), name
        setup = code[1].source
        assert "report = start(globals())" in setup, f"{name}: one call sets up the report context"


def test_notebooks_are_committed_with_outputs():
    for name in NOTEBOOKS:
        nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"][1:]
        assert all(c.execution_count for c in code), f"{name}: run `cohort notebooks --refresh`"
        assert any(c.outputs for c in code), name


def test_refresh_reexecutes_notebooks_in_place_and_checks_their_parameters(tmp_path):
    from cohort.report.rebuild import refresh_notebooks

    root = tiny_root(tmp_path / "repo", 'report.show(pd.DataFrame({"n": [40]}))')
    path = root / "notebooks" / "01_tiny.ipynb"
    assert refresh_notebooks(INTERIM, root=root, names=("01_tiny",), progress=False) == [path]
    nb = nbformat.read(str(path), as_version=4)
    assert "papermill" not in nb.metadata
    assert nb.cells[-1].outputs[0]["data"]["text/plain"] == " n\n40"
    first = path.read_bytes()
    refresh_notebooks(INTERIM, root=root, names=("01_tiny",), progress=False)
    assert path.read_bytes() == first, "a refresh without changes gives the same bytes"
    nb.cells[0].source = nb.cells[0].source.replace("'2024-12-31'", "'2024-09-30'")
    nbformat.write(nb, str(path))
    with pytest.raises(ReportError, match="parameter 'reference_date' in the parameters cell is '2024-09-30'"):
        refresh_notebooks(INTERIM, root=root, names=("01_tiny",), progress=False)


def test_two_builds_of_one_report_at_once_the_second_is_refused(tmp_path):
    from cohort.disclosure.writer import build_lock

    reports = tmp_path / "reports"
    reports.mkdir()
    root = tiny_root(tmp_path / "repo", "x = 1")
    with build_lock(reports / "interim-2024q4"):
        with pytest.raises(ReportError, match="another build of report interim-2024q4 is running"):
            build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_tiny",),
                         required_tables=(), progress=False)


def test_a_reports_folder_that_cannot_be_made_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    root = tiny_root(tmp_path / "repo", "x = 1")
    with pytest.raises(ReportError, match="cannot create the reports folder"):
        build_report(tiny_params(), root=root, reports_root=tmp_path / "file" / "reports",
                     notebooks=("01_tiny",), required_tables=(), progress=False)


def test_a_reports_folder_that_cannot_be_written_is_a_clear_error(tmp_path):
    import os

    reports = tmp_path / "reports"
    reports.mkdir()
    reports.chmod(0o500)
    try:
        if os.access(reports, os.W_OK):
            pytest.skip("running with permissions that ignore folder modes")
        root = tiny_root(tmp_path / "repo", "x = 1")
        with pytest.raises(ReportError, match="cannot write in"):
            build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_tiny",),
                         required_tables=(), progress=False)
    finally:
        reports.chmod(0o700)


def test_a_delivery_that_changes_during_the_build_is_refused(tmp_path):
    import shutil

    delivery = tmp_path / "delivery"
    shutil.copytree(ROOT / "data" / "synthetic" / "default", delivery)
    body = f"open({str(delivery / 'referrals.csv')!r}, 'a').write('')\nfrom pathlib import Path\nPath({str(delivery / 'extra.txt')!r}).write_text('x')"
    root = tiny_root(tmp_path / "repo", body)
    with pytest.raises(ReportError, match="changed while the report was being built"):
        build_report(tiny_params(delivery=delivery), root=root, reports_root=tmp_path / "reports",
                     notebooks=("01_tiny",), required_tables=(), progress=False)
