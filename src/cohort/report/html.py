"""The report page: ``report.html`` from the report's :class:`~cohort.report.document.Document`.

One self-contained file (figures embedded, no scripts, no external requests): a title
page with the title block, the synthetic-data notice where the delivery is synthetic and
the key findings; a contents sidebar that stays in view on screen; numbered, captioned
figures (vector graphics with alt text) and tables (scrollable when wider than the column
on screen, printed in column parts that repeat the row labels, headers repeated on every
page); a footnote under every table that shows the suppression marker; and print styles
for A4 (margins, page numbers, the notice on every page, headings kept with what follows,
figures never split).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from cohort.report.document import (
    KEEP_TOGETHER_ROWS,
    Document,
    Figure,
    Heading,
    Preformatted,
    Table,
    Text,
    build_document,
)
from cohort.report.params import Params

__all__ = ["render_html", "render_document_html", "markdown_html"]


def _markdown_renderer():
    import mistune

    return mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])


def markdown_html(tokens) -> str:
    """Parsed Markdown (see :class:`~cohort.report.document.Text`) as HTML; tables scroll.

    Examples
    --------
    >>> import mistune
    >>> tokens = mistune.create_markdown(renderer=None)("See **this** <b>.")
    >>> markdown_html(tokens)
    '<p>See <strong>this</strong> &lt;b&gt;.</p>\\n'
    """
    from mistune.core import BlockState

    body = _markdown_renderer().renderer(list(tokens), BlockState())
    return body.replace("<table>", '<div class="table-wrap"><table class="text-table">').replace(
        "</table>", "</table></div>"
    )


def _figure_html(figure: Figure, label: str, data_label: str) -> str:
    if figure.svg is not None:
        payload = base64.b64encode(figure.svg.encode("utf-8")).decode("ascii")
        src = f"data:image/svg+xml;base64,{payload}"
    else:
        src = f"data:image/png;base64,{figure.png}"
    data = ""
    if figure.data:
        links = ", ".join(f'<a href="{html.escape(d)}">{html.escape(d)}</a>' for d in figure.data)
        data = f' <span class="data">{html.escape(data_label)}: {links}</span>'
    caption = f"<b>{html.escape(label)} {figure.number}.</b> {html.escape(figure.caption)}"
    return (
        f'<figure class="figure" id="{figure.id}">\n'
        f'<img src="{src}" alt="{html.escape(figure.alt, quote=True)}">\n'
        f"<figcaption>{caption}{data}</figcaption>\n</figure>"
    )


def _header_text(label: str) -> str:
    """A column header for the page: words wrap at spaces, never inside ``95%-BI``."""
    return html.escape(label).replace("-", "\u2011")


def _table_element(table: Table, caption: str | None, columns: Sequence[int] | None = None,
                   labelled_by: str | None = None) -> str:
    indices = list(range(len(table.columns))) if columns is None else list(columns)
    # dates are not broken over lines; numbers never are (see the style sheet)
    classes = [table.align[i] + (" nowrap" if table.roles[i] == "date" else "") for i in range(len(table.columns))]
    head = "".join(
        f'<th scope="col" class="{table.align[i]}">{_header_text(table.columns[i])}</th>' for i in indices
    )
    body = []
    for row in table.rows:
        cells = []
        for n, i in enumerate(indices):
            tag = "th" if n == 0 and table.roles[i] in ("group", "key", "label", "date") else "td"
            scope = ' scope="row"' if tag == "th" else ""
            cells.append(f'<{tag}{scope} class="{classes[i]}">{html.escape(row[i])}</{tag}>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    opening = f'<table aria-labelledby="{labelled_by}">' if labelled_by else f"<table><caption>{caption}</caption>"
    return (
        f"{opening}\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n" + "\n".join(body) + "\n</tbody></table>"
    )


def _table_html(table: Table, doc: Document) -> str:
    label = doc.label("report.table")
    caption = f"<b>{html.escape(label)} {table.number}.</b> {html.escape(table.caption)}"
    if table.release:
        caption += (
            f' <span class="data">{html.escape(doc.label("report.table_data"))}: '
            f'<a href="{html.escape(table.release)}">{html.escape(table.release)}</a></span>'
        )
    # a short table is kept on one page in print, with its caption
    keep = " keep" if len(table.rows) <= KEEP_TOGETHER_ROWS else ""
    parts = [f'<div class="table-block{keep}" id="{table.id}">']
    if not table.rows:
        parts.append(f'<p class="table-caption">{caption}</p><p class="empty">{html.escape(table.empty_text)}</p>')
    elif len(table.parts) <= 1:
        parts.append(f'<div class="table-wrap">{_table_element(table, caption)}</div>')
    else:
        # on screen one table that scrolls sideways, its caption above it (it does not
        # scroll away); in print column parts that fit the page
        caption_id = f"{table.id}-caption"
        parts.append(f'<p class="table-caption screen-only" id="{caption_id}">{caption}</p>')
        parts.append(
            f'<div class="table-wrap screen-only">{_table_element(table, None, labelled_by=caption_id)}</div>'
        )
        total = len(table.parts)
        for n, columns in enumerate(table.parts, start=1):
            part_caption = caption + f' <span class="part">({doc.label("report.part", n=n, total=total)})</span>'
            parts.append(f'<div class="table-wrap print-only">{_table_element(table, part_caption, columns)}</div>')
    for note in table.footnotes:
        parts.append(f'<p class="footnote">{html.escape(note)}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def _block_html(block, doc: Document) -> str:
    if isinstance(block, Heading):
        return f'<h{block.level} id="{block.id}">{html.escape(block.text)}</h{block.level}>'
    if isinstance(block, Text):
        return markdown_html(block.tokens)
    if isinstance(block, Preformatted):
        return f"<pre>{html.escape(block.text)}</pre>"
    if isinstance(block, Figure):
        return _figure_html(block, doc.label("report.figure"), doc.label("report.figure_data"))
    if isinstance(block, Table):
        return _table_html(block, doc)
    raise TypeError(f"no HTML for {type(block).__name__}")


def render_document_html(doc: Document) -> str:
    """``report.html`` for a document."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parents[1] / "templates")),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    sections = []
    for section in doc.sections:
        body = "\n".join(_block_html(b, doc) for b in section.blocks)
        subsections = [(b.id, b.text) for b in section.blocks if isinstance(b, Heading) and b.level == 3]
        sections.append({"id": section.id, "title": section.title, "number": section.number,
                         "body": body, "subsections": subsections})
    return env.get_template("report.html.j2").render(doc=doc, sections=sections, t=doc.label)


def render_html(
    params: Params,
    folder: Path,
    sources: Sequence[Path],
    releases: Mapping[str, dict],
    provenance: Mapping,
    root: Path,
    *,
    synthetic: bool | None = None,
) -> str:
    """Render ``report.html`` from the executed notebooks in ``folder/notebooks``.

    ``synthetic`` says whether the delivery is synthetic (default: decided from its
    pseudonyms, :func:`cohort.delivery.load.is_synthetic`).
    """
    doc = build_document(params, folder, sources, releases, provenance, root, synthetic=synthetic)
    return render_document_html(doc)
