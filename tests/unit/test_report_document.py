"""The report page and the PDF, rendered from executed notebooks in the notebook API's form.

The notebooks here are written by the test in the form the notebook API emits (figures
as SVG with caption, alt text and data files in the output metadata; tables as HTML with
a caption and column roles), with the released tables the findings read, so the page and
the PDF are checked as a reader gets them: captions, alt texts, the synthetic notice,
Dutch numbers, A4 pages, nothing wider than the page, page numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from cohort.exceptions import ReportError  # noqa: E402
from cohort.plots.style import figure_svg, quarter_axis, site_styles  # noqa: E402
from cohort.report.document import build_document  # noqa: E402
from cohort.report.format import format_frame  # noqa: E402
from cohort.report.html import render_document_html, render_html  # noqa: E402
from cohort.report.params import from_mapping  # noqa: E402
from cohort.report.pdf import document_pdf  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
A4 = (595.28, 841.89)  # points
MARGIN_X_PT = 18 / 25.4 * 72
SITES = ["AMS", "FLE", "FRL", "FVL", "GLZ", "GRO", "HGL", "HVB", "RRN", "UTR", "WBW", "ZEE", "ZWL"]


def _params(language: str):
    return from_mapping(
        {
            "name": "demo-report",
            "title": "Tussenrapportage demo" if language == "nl" else "Demo report",
            "language": language,
            "delivery": "data/synthetic/default",
            "reference_date": "2024-12-31",
            "author": "Evaluatieteam",
            "organisation": "Onderzoeksbureau",
            "issue_date": "2025-03-31",
            "version": "1.0",
            "status": "draft",
        },
        source="test",
        check_delivery=False,
    )


def _figure_output(name, caption, alt):
    fig, ax = plt.subplots(figsize=(6.3, 3.2))
    dates = pd.date_range("2023-01-01", "2024-12-31", freq="QS") + pd.Timedelta(days=45)
    styles = site_styles(SITES)
    for i, site in enumerate(SITES):
        ax.plot(dates, np.arange(len(dates)) + i, label=site, **styles[site].kwargs())
    quarter_axis(ax, "2023-01-01", "2024-12-31", "nl")
    ax.legend(ncol=4, fontsize=6)
    svg = figure_svg(fig)
    plt.close(fig)
    meta = {"cohort": {"kind": "figure", "name": name, "caption": caption, "alt": alt,
                       "data": [f"figure-data/{name}.csv"]}}
    return nbformat.v4.new_output("display_data", data={"image/svg+xml": svg, "text/plain": caption}, metadata=meta)


def _table_output(frame, name, caption, roles, language):
    shown = format_frame(frame, roles, language)
    body = shown.to_html(index=False, border=0, classes="table", escape=True)
    body = body.replace('<table border="0" class="dataframe table">',
                        f'<table class="table" data-release="tables/{name}.csv">\n<caption>{caption}</caption>', 1)
    meta = {"cohort": {"kind": "table", "name": name, "caption": caption, "columns": roles}}
    return nbformat.v4.new_output("display_data", data={"text/html": body, "text/plain": caption}, metadata=meta)


def _markdown_output(text):
    return nbformat.v4.new_output("display_data", data={"text/markdown": text, "text/plain": text})


def _notebook(language):
    counts = pd.DataFrame({"table": ["households", "safety_assessments"], "rows_read": [4663, 19973],
                           "rows_rejected": [0, 12], "share": [0.1204, 0.0006], "p": [2.217e-26, 0.0421]})
    wide = pd.DataFrame({"indicator": ["households_involved", "registrations"], "site": ["all", "all"],
                         **{f"q{i}": [19973 + i, 557 + i] for i in range(1, 15)}})
    wide["q3"] = wide["q3"].astype(object)
    wide.loc[1, "q3"] = "[suppressed]"
    long = pd.DataFrame({"time": np.arange(120) * 3, "survival": np.linspace(1, 0.7, 120),
                         "n_risk": [str(900 - i * 7) if i < 110 else "<10" for i in range(120)]})
    outputs = [
        _markdown_output(f"### {'Kop' if language == 'nl' else 'Heading'}\n\n"
                         "Zie {fig:registrations_by_site} en {tab:row_counts}."),
        _figure_output("registrations_by_site", "Aanmeldingen per kwartaal en proeftuin",
                       "Lijnen per proeftuin: aanmeldingen per kwartaal stijgen van 2023 tot eind 2024"),
        _table_output(counts, "row_counts", "Rijen per tabel",
                      {"table": "key", "rows_read": "count", "rows_rejected": "count", "share": "share", "p": "p"},
                      language),
        _table_output(wide, "monitor_by_site", "Per kwartaal",
                      {"indicator": "key", "site": "group", **{f"q{i}": "count" for i in range(1, 15)}}, language),
        _table_output(long, "km_steps", "Kaplan-Meier",
                      {"time": "count", "survival": "share", "n_risk": "count"}, language),
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("name = 'x'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("Inleiding van dit hoofdstuk."),
        nbformat.v4.new_code_cell("show()", outputs=outputs),
    ]
    return nb


RELEASED = {
    "reregistration_cif": "time,cif,ci_lower,ci_upper,n_risk,n_event,suppressed,cause\n"
    "0,0,,,900,0,false,re-registration\n360,0.2021,0.1812,0.2250,300,40,false,re-registration\n"
    "420,0.25,0.22,0.28,120,20,false,re-registration\n",
    "safety_change_from_baseline": "wave,n_pairs,mean_change,ci_lower,ci_upper,baseline,suppressed\n"
    "T1,706,0.6402,0.5396,0.7408,T0,false\n",
    "monitor": "indicator,kind,interval_start,interval_end,site,numerator,denominator,value,ci_lower,ci_upper,ci_method,suppressed\n"
    "legal_measures_share,ratio,2023-10-01,2023-12-31,all,47,545,0.0862,,,none,false\n"
    "legal_measures_share,ratio,2024-10-01,2024-12-31,all,199,1653,0.1204,,,none,false\n",
}


def _report_folder(tmp_path, language):
    folder = tmp_path / f"report-{language}"
    (folder / "notebooks").mkdir(parents=True)
    (folder / "tables").mkdir()
    nbformat.write(_notebook(language), str(folder / "notebooks" / "02_monitor.ipynb"))
    for name, text in RELEASED.items():
        (folder / "tables" / f"{name}.csv").write_text(text, encoding="utf-8")
    releases = {f"tables/{n}.csv": {"kind": "table", "rows": t.count("\n") - 1, "caption": n} for n, t in RELEASED.items()}
    provenance = {"git": {"commit": "0123456789abcdef", "dirty": False}, "delivery_fingerprint": "ab" * 32,
                  "parameter_file": "parameters/demo.yaml"}
    return folder, releases, provenance


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    out = {}
    for language in ("nl", "en"):
        folder, releases, provenance = _report_folder(tmp_path_factory.mktemp(language), language)
        args = (_params(language), folder, [Path("notebooks/02_monitor.ipynb")], releases, provenance, ROOT)
        out[language] = (args, build_document(*args, synthetic=True))
    return out


# --------------------------------------------------------------------------------------
# report.html
# --------------------------------------------------------------------------------------


def test_figures_and_tables_are_numbered_captioned_and_referenced(documents):
    html = render_document_html(documents["nl"][1])
    assert "<b>Figuur 1.</b> Aanmeldingen per kwartaal en proeftuin" in html
    assert "<b>Tabel 1.</b> Rijen per tabel" in html and "<b>Tabel 3.</b> Kaplan-Meier" in html
    assert 'Zie <a href="#fig-registrations-by-site">Figuur 1</a> en <a href="#tab-row-counts">Tabel 1</a>.' in html
    assert 'id="fig-registrations-by-site"' in html and 'id="tab-row-counts"' in html
    english = render_document_html(documents["en"][1])
    assert "<b>Figure 1.</b>" in english and ">Table 1</a>" in english


def test_figures_carry_their_alt_text_as_vector_images(documents):
    html = render_document_html(documents["nl"][1])
    images = re.findall(r'<img src="data:image/([a-z+]+);base64,[^"]+" alt="([^"]*)">', html)
    assert images == [("svg+xml", "Lijnen per proeftuin: aanmeldingen per kwartaal stijgen van 2023 tot eind 2024")]
    assert 'alt="figure"' not in html


def test_the_synthetic_notice_is_on_the_page_only_for_synthetic_data(documents):
    args, doc = documents["nl"]
    html = render_document_html(doc)
    assert "<title>[SYNTHETISCHE GEGEVENS" in html  # browser tab and window title
    assert '<div class="synthetic-banner" role="note">SYNTHETISCHE GEGEVENS' in html  # top of every screen
    assert re.search(r'@page \{.*?@top-right \{ content: "SYNTHETISCHE GEGEVENS', html, re.S)  # every printed page
    assert '<p class="synthetic-notice" role="note">SYNTHETISCHE GEGEVENS – dit rapport' in html  # title page
    real = render_html(*args, synthetic=False)
    assert "SYNTHETISCHE" not in real and "synthetic-banner" not in real.split("</style>")[1]


def test_dutch_numbers_dates_and_one_suppression_marker_with_its_footnote(documents):
    html = render_document_html(documents["nl"][1])
    for text in ("19.973", "12,0%", "&lt; 0,001", "0,042", "31 december 2024", "31 maart 2025"):
        assert text in html, text
    body = html.split('id="definitions"')[0]  # the definitions describe the released files' marker
    assert not re.search(r"\d\.\d+e-\d+|p = 0\b|\[onderdrukt\]|\[suppressed\]|&lt;10<", body)
    cells = re.findall(r'<td class="right">x</td>', html)
    assert cells, "the suppressed cells show the marker"
    assert "x = niet getoond (onthullingscontrole): de cel berust op minder dan 10 huishoudens" in html
    assert "ook 0" in html  # a suppressed cell may be a zero: the footnote never says it is not
    english = render_document_html(documents["en"][1])
    assert "19,973" in english and "12.0%" in english and "&lt; 0.001" in english
    assert '<td class="right">[c]</td>' in english


def test_the_title_block_and_the_findings_are_on_the_first_page(documents):
    html = render_document_html(documents["nl"][1])
    title_page = html.split('<nav class="contents"')[0]
    for text in ("Evaluatieteam", "Onderzoeksbureau", "31 maart 2025", "Versie", "concept", "CONCEPT",
                 "Belangrijkste bevindingen", "20,2% van de huishoudens opnieuw aangemeld"):
        assert text in title_page, text
    assert "tables/reregistration_cif.csv" in title_page


def test_the_contents_sidebar_lists_sections_and_their_headings(documents):
    html = render_document_html(documents["nl"][1])
    nav = html.split('<nav class="contents"')[1].split("</nav>")[0]
    assert '<a href="#02_monitor">1. Kwartaalmonitor</a>' in nav
    assert ">Kop</a>" in nav and ">Definities</a>" in nav.replace("2. Definities", "Definities")


def test_a_wide_table_scrolls_on_screen_and_prints_in_parts(documents):
    html = render_document_html(documents["nl"][1])
    block = html.split('id="tab-monitor-by-site"')[1].split('<div class="table-block"')[0]
    assert '<div class="table-wrap screen-only">' in block
    assert block.count('<div class="table-wrap print-only">') >= 2
    assert "(deel 1 van" in block
    prints = block.split('<div class="table-wrap print-only">')[1:]
    assert all("households_involved" in part for part in prints)  # row labels in every part


def test_the_definitions_are_in_dutch_in_a_dutch_report(documents):
    html = render_document_html(documents["nl"][1])
    definitions = html.split('id="definitions"')[1].split('id="methods"')[0]
    assert "Studieperiode en peildatum" in definitions
    assert "Study period and reference date" not in definitions


def test_the_page_is_self_contained_and_the_same_every_time(documents):
    args, _ = documents["nl"]
    first, second = render_html(*args, synthetic=True), render_html(*args, synthetic=True)
    assert first == second
    assert "<script" not in first and 'src="http' not in first and "url(http" not in first


def test_a_reference_to_a_figure_the_report_does_not_show_stops_the_build(tmp_path):
    folder, releases, provenance = _report_folder(tmp_path, "nl")
    path = folder / "notebooks" / "02_monitor.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Zie {fig:no_such_figure}."))
    nbformat.write(nb, str(path))
    with pytest.raises(ReportError, match=r"refers to \{fig:no_such_figure\}.*known: fig:registrations_by_site"):
        build_document(_params("nl"), folder, [path], releases, provenance, ROOT, synthetic=True)


def test_outputs_without_metadata_still_render_formatted(tmp_path):
    """Notebooks written before the notebook API emitted metadata: tables by column name."""
    folder, releases, provenance = _report_folder(tmp_path, "nl")
    frame = pd.DataFrame({"term": ["site[T.FLE]", "sd(Intercept | household)"], "estimate": ["-0.2335", "1.071"],
                          "p": ["2.217e-26", "0"], "n_households": ["19973", "[onderdrukt]"]})
    legacy = nbformat.v4.new_notebook()
    legacy.cells = [
        nbformat.v4.new_code_cell("x", outputs=[
            nbformat.v4.new_output("execute_result", data={"text/markdown": "### Lineair gemengd model",
                                                           "text/plain": ""}, execution_count=1),
            nbformat.v4.new_output("execute_result", data={"text/html": frame.to_html(index=False),
                                                           "text/plain": ""}, execution_count=2),
        ])
    ]
    nbformat.write(legacy, str(folder / "notebooks" / "05_safety.ipynb"))
    doc = build_document(_params("nl"), folder, [Path("05_safety.ipynb")], releases, provenance, ROOT, synthetic=True)
    table = doc.tables[0]
    assert table.caption == "Lineair gemengd model"
    assert table.columns == ["term", "schatting", "p", "huishoudens"]
    assert table.rows == [["proeftuin FLE", "-0,234", "< 0,001", "19.973"],
                          ["SD van het intercept tussen huishoudens", "1,071", "< 0,001", "x"]]
    assert table.footnotes and table.footnotes[0].startswith("x = niet getoond")


# --------------------------------------------------------------------------------------
# report.pdf
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdfs(documents):
    return {language: document_pdf(doc) for language, (_, doc) in documents.items()}


def _pages(pdf_bytes):
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(pdf_bytes)


@pytest.mark.parametrize("language", ["nl", "en"])
def test_pdf_pages_are_a4_and_numbered(pdfs, language):
    pdf = _pages(pdfs[language])
    total = len(pdf)
    assert total >= 5  # title page, contents, the section, the appendices
    word, of = ("Pagina", "van") if language == "nl" else ("Page", "of")
    for index in range(total):
        page = pdf[index]
        width, height = page.get_size()
        assert (round(width, 1), round(height, 1)) == (round(A4[0], 1), round(A4[1], 1))
        text = page.get_textpage().get_text_range()
        assert f"{word} {index + 1} {of} {total}" in text
        assert "demo-report · " + ("concept" if language == "nl" else "draft") in text


def test_pdf_shows_the_synthetic_notice_on_every_page(pdfs):
    pdf = _pages(pdfs["nl"])
    for index in range(len(pdf)):
        assert "SYNTHETISCHE GEGEVENS" in pdf[index].get_textpage().get_text_range()


def test_no_table_or_text_is_wider_than_the_page(pdfs):
    """Every character lies inside the text column, and the rendered margins stay blank."""
    pdf = _pages(pdfs["nl"])
    assert "(deel 1 van" in "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    for index in range(len(pdf)):
        page = pdf[index]
        width, _ = page.get_size()
        textpage = page.get_textpage()
        for char in range(textpage.count_chars()):
            left, _, right, _ = textpage.get_charbox(char)
            if right - left <= 0 or textpage.get_text_range(char, 1).isspace():
                continue
            assert MARGIN_X_PT - 1 <= left and right <= width - MARGIN_X_PT + 1, f"page {index + 1}: text outside the column"
        image = np.asarray(page.render(scale=1).to_pil().convert("L"))
        margin = int(MARGIN_X_PT) - 2
        assert image[:, :margin].min() > 250 and image[:, -margin:].min() > 250, f"page {index + 1}: ink in a margin"


def test_pdf_has_vector_figures_alt_text_and_is_byte_reproducible(documents, pdfs):
    pdf = pdfs["nl"]
    assert b"/Subtype /Image" not in pdf and b"/Subtype/Image" not in pdf  # the SVG figure stays vector
    assert document_pdf(documents["nl"][1]) == pdf


def test_pdf_is_dated_by_the_issue_date_not_by_the_clock(documents, monkeypatch):
    doc = documents["en"][1]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = document_pdf(doc)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    assert document_pdf(doc) == first
    assert b"D:20250331" in first  # the parameters' issue_date
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(ReportError, match="SOURCE_DATE_EPOCH must be a whole number"):
        document_pdf(doc)


def test_declared_roles_apply_whether_headers_hold_names_or_labels():
    from cohort.report.document import _table_from_html

    for header in ("n_households", "huishoudens"):
        fragment = (f'<table class="table" data-release="tables/t.csv"><caption>T</caption><thead><tr><th>site</th>'
                    f"<th>{header}</th></tr></thead><tbody><tr><td>AMS</td><td>1.653</td></tr></tbody></table>")
        table = _table_from_html(fragment, {"kind": "table", "name": "t", "caption": "T",
                                            "columns": {"site": "group", "n_households": "count"}}, "nl", 10)
        assert table.columns == ["proeftuin", "huishoudens"]
        assert table.align == ["left", "right"] and table.rows == [["AMS", "1.653"]]
        assert table.release == "tables/t.csv"
