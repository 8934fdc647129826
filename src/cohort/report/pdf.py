"""``report.pdf``: the report typeset for A4 with Typst, from the same document as the page.

The PDF is made with the ``typst`` wheel, a self-contained compiler with no system
libraries to install and no network use, from the :class:`~cohort.report.document.Document`
that ``report.html`` is rendered from, so both show the same numbers, captions and
cross-references. It has:

* A4 pages with page numbers (``Pagina 3 van 24``) and a running header with the report's
  name and status (concept / definitief);
* the synthetic-data notice in the header of every page when the delivery is synthetic,
  and in full on the title page;
* the title block, the key findings and the contents (with page numbers) up front;
* vector figures (the notebooks' SVG; PNG where a notebook has only that), with alt text
  in the PDF's tags;
* tables that break across pages with their header repeated, and tables wider than the
  text column printed in column parts that each repeat the row labels, so nothing is cut;
* headings that stay with what follows them.

The fonts are DejaVu Sans and DejaVu Sans Mono from matplotlib's own files (the same as
in the figures), and system fonts are ignored, so the PDF does not depend on the machine.
The PDF is byte-reproducible: its creation date is the parameters' ``issue_date`` (no
date while the report is not issued), never the clock; Typst is also given
``SOURCE_DATE_EPOCH`` (default: the build's fixed timestamp) for anything else it would
date, and its document id is derived from the content.

All text is passed to Typst as string literals, never as markup, so no character in a
caption or a table cell can change the layout.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cohort.exceptions import ReportError
from cohort.report.document import (
    KEEP_TOGETHER_ROWS,
    PRINT_WIDTH_CHARS,
    Document,
    Figure,
    Heading,
    Preformatted,
    Table,
    Text,
    build_document,
)
from cohort.report.execute import SOURCE_DATE_EPOCH
from cohort.report.params import Params

__all__ = ["render_pdf", "document_pdf", "typst_source", "typst_string"]

#: Creation time written into the PDF when ``SOURCE_DATE_EPOCH`` is not set: the build's
#: fixed timestamp (:data:`cohort.report.execute.SOURCE_DATE_EPOCH`).
DEFAULT_EPOCH = int(SOURCE_DATE_EPOCH)


def typst_string(text: str) -> str:
    """``text`` as a Typst string literal.

    Examples
    --------
    >>> print(typst_string('a "b" \\\\ #c\\n'))
    "a \\"b\\" \\\\ #c\\n"
    """
    out = []
    for ch in str(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ch == "\x7f":
            continue
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _s(text: str) -> str:
    """Plain text in markup: a string expression, ended so nothing after it extends it."""
    return f"#{typst_string(text)};"


# --------------------------------------------------------------------------------------
# Markdown tokens to Typst
# --------------------------------------------------------------------------------------


def _inline(tokens) -> str:
    parts = []
    for token in tokens:
        kind = token.get("type")
        children = token.get("children", [])
        if kind == "text":
            parts.append(_s(token.get("raw", "")))
        elif kind == "strong":
            parts.append(f"#strong[{_inline(children)}]")
        elif kind == "emphasis":
            parts.append(f"#emph[{_inline(children)}]")
        elif kind == "strikethrough":
            parts.append(f"#strike[{_inline(children)}]")
        elif kind == "codespan":
            parts.append(f"#raw({typst_string(token.get('raw', ''))});")
        elif kind == "link":
            url = token.get("attrs", {}).get("url", "")
            if url.startswith("#"):
                parts.append(f"#link(label({typst_string(url[1:])}))[{_inline(children)}]")
            else:
                parts.append(f"#link({typst_string(url)})[{_inline(children)}]")
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "linebreak":
            parts.append("#linebreak();")
        elif kind in ("inline_html", "block_html"):
            parts.append(_s(token.get("raw", "")))
        elif children:
            parts.append(_inline(children))
        elif "raw" in token:
            parts.append(_s(token["raw"]))
    return "".join(parts)


def _markdown_block(token) -> str:
    kind = token.get("type")
    children = token.get("children", [])
    if kind in ("paragraph", "block_text"):
        return f"#par[{_inline(children)}]\n"
    if kind == "list":
        function = "enum" if token.get("attrs", {}).get("ordered") else "list"
        items = ", ".join(f"[{''.join(_markdown_block(c) for c in item.get('children', []))}]" for item in children)
        return f"#{function}(tight: true, {items})\n"
    if kind == "block_code":
        return f"#raw(block: true, {typst_string(token.get('raw', ''))})\n"
    if kind == "block_quote":
        return f"#quote(block: true)[{''.join(_markdown_block(c) for c in children)}]\n"
    if kind == "thematic_break":
        return "#line(length: 100%, stroke: 0.4pt + luma(180))\n"
    if kind == "table":
        return _markdown_table(token)
    if kind == "heading":
        return f"#strong[{_inline(children)}]\n"
    if kind == "blank_line":
        return ""
    if children:
        return "".join(_markdown_block(c) for c in children)
    return _s(token.get("raw", "")) + "\n" if token.get("raw") else ""


def _markdown_table(token) -> str:
    head = next((c for c in token.get("children", []) if c["type"] == "table_head"), {"children": []})
    body = next((c for c in token.get("children", []) if c["type"] == "table_body"), {"children": []})
    n = len(head["children"])
    cells = [f"[#strong[{_inline(c.get('children', []))}]]" for c in head["children"]]
    rows = [f"[{_inline(c.get('children', []))}]" for row in body["children"] for c in row.get("children", [])]
    return (
        f"#text-table({n}, ({', '.join(cells)},), ({', '.join(rows)}{',' if rows else ''}))\n"
    )


# --------------------------------------------------------------------------------------
# Document to Typst
# --------------------------------------------------------------------------------------


def _figure(figure: Figure, doc: Document, files: dict[str, bytes]) -> str:
    if figure.svg is not None:
        path = f"figures/figure-{figure.number}.svg"
        files[path] = figure.svg.encode("utf-8")
    else:
        path = f"figures/figure-{figure.number}.png"
        files[path] = base64.b64decode(figure.png)
    caption = f"#strong[{_s(doc.label('report.figure') + ' ' + str(figure.number) + '.')}] {_s(figure.caption)}"
    if figure.data:
        caption += f" #text(size: 7.5pt, fill: luma(90))[{_s(doc.label('report.figure_data') + ': ' + ', '.join(figure.data))}]"
    return (
        f"#figure(image({typst_string(path)}, alt: {typst_string(figure.alt)}, width: 100%), "
        f"caption: [{caption}]) <{figure.id}>\n"
    )


def _cell_chars(table: Table, row, index: int) -> int:
    """Printed width of a cell in characters: text wraps at 26 characters, numbers never."""
    text = row[index]
    return len(text) if table.roles[index] in ("count", "value", "share", "p") else min(len(text), 26)


def _header(table: Table, index: int, wrap: bool = True) -> str:
    """A column header, broken (with ``wrap``) into lines no wider than the column's cells
    or its longest word, so the header never makes its column wider than the page has
    room for."""
    import textwrap

    label = table.columns[index]
    if not wrap:
        return _s(label)
    words = label.split() or [""]
    cells = max((_cell_chars(table, row, index) for row in table.rows), default=0)
    width = max(max(len(w) for w in words), cells, 1)
    lines = textwrap.wrap(label, width=width, break_long_words=False, break_on_hyphens=False) or [label]
    return "#linebreak();".join(_s(line) for line in lines)


def _table(table: Table, doc: Document) -> str:
    label = f"{doc.label('report.table')} {table.number}."
    caption = f"#strong[{_s(label)}] {_s(table.caption)}"
    if table.release:
        caption += f" #text(size: 7.5pt, fill: luma(90))[{_s(doc.label('report.table_data') + ': ' + table.release)}]"
    out = []
    if not table.rows:
        out.append(f"#block(sticky: true)[{caption}]\n#par[#emph[{_s(table.empty_text)}]] <{table.id}>\n")
    parts = table.parts or [list(range(len(table.columns)))]
    for n, columns in enumerate(parts if table.rows else [], start=1):
        part_caption = caption
        if len(parts) > 1:
            part_caption += " " + _s(f"({doc.label('report.part', n=n, total=len(parts))})")
        # headers on one line where the part fits the page so; else each wrapped to its column
        natural = sum(max(len(table.columns[i]), *(_cell_chars(table, r, i) for r in table.rows)) + 2
                      for i in columns)
        wrap = natural > PRINT_WIDTH_CHARS
        header = ", ".join(f"[{_header(table, i, wrap)}]" for i in columns)
        aligns = ", ".join("right" if table.align[i] == "right" else "left" for i in columns)
        cells = ", ".join(f"[{_s(row[i])}]" for row in table.rows for i in columns)
        label_mark = f" <{table.id}>" if n == 1 else ""
        # a short table stays on one page (with its caption); a long one breaks, its
        # header repeated on every page
        breakable = "true" if len(table.rows) > KEEP_TOGETHER_ROWS else "false"
        out.append(
            f"#data-table([{part_caption}], ({aligns},), ({header},), ({cells},), breakable: {breakable}){label_mark}\n"
        )
    for note in table.footnotes:
        out.append(f"#footnote-text({typst_string(note)})\n")
    return "".join(out)


def _block(block, doc: Document, files: dict[str, bytes]) -> str:
    if isinstance(block, Heading):
        level = max(2, block.level - 1)
        return f"#heading(level: {level}, outlined: {'true' if level == 2 else 'false'})[{_s(block.text)}] <{block.id}>\n"
    if isinstance(block, Text):
        return "".join(_markdown_block(t) for t in block.tokens)
    if isinstance(block, Preformatted):
        return f"#raw(block: true, {typst_string(block.text)})\n"
    if isinstance(block, Figure):
        return _figure(block, doc, files)
    if isinstance(block, Table):
        return _table(block, doc)
    raise TypeError(f"no Typst for {type(block).__name__}")


_PREAMBLE = r"""
#let accent = rgb("#154273")
#let warn = rgb("#8a1c00")
#set text(font: "DejaVu Sans", size: 9pt, lang: LANG, hyphenate: true)
#set par(leading: 0.6em, spacing: 0.9em)
#show raw: set text(font: "DejaVu Sans Mono", size: 8pt)
#show heading: set text(fill: accent, hyphenate: false)
#show heading: set block(sticky: true, above: 1.4em, below: 0.7em)
#show heading.where(level: 1): it => { pagebreak(weak: true); block(width: 100%, stroke: (bottom: 0.6pt + accent), inset: (bottom: 3pt), text(size: 15pt, it.body)) }
#show heading.where(level: 2): set text(size: 11.5pt)
#show heading.where(level: 3): set text(size: 10pt)
#show link: set text(fill: accent)
#show figure: set block(breakable: false, above: 1.2em, below: 1.2em)
#show figure.where(kind: table): set block(breakable: true)
#show figure: set align(left)
#show figure.caption: set align(left)
#show figure.caption: set text(size: 8.5pt)
#set figure(numbering: none, supplement: none, gap: 0.5em)
#set figure.caption(separator: none)
#let data-table(caption, aligns, header, cells, breakable: true) = block(breakable: breakable, width: 100%, figure(
  kind: table,
  caption: figure.caption(position: top, caption),
  {
    set text(size: 7.5pt, number-width: "tabular", hyphenate: false)
    table(
      columns: header.len(),
      align: (x, y) => aligns.at(x) + if y == 0 { bottom } else { top },
      inset: (x: 3.5pt, y: 2.6pt),
      stroke: (x, y) => if y == 0 { (bottom: 0.6pt + rgb("#9fb0c6")) } else { (bottom: 0.3pt + luma(215)) },
      fill: (x, y) => if y == 0 { rgb("#eef2f7") },
      table.header(repeat: true, ..header.map(h => strong(h))),
      ..cells,
    )
  },
))
#let text-table(n, header, cells) = {
  set text(size: 8pt, hyphenate: false)
  table(
    columns: n,
    inset: (x: 3.5pt, y: 2.6pt),
    stroke: (x, y) => if y == 0 { (bottom: 0.6pt + rgb("#9fb0c6")) } else { (bottom: 0.3pt + luma(215)) },
    fill: (x, y) => if y == 0 { rgb("#eef2f7") },
    table.header(repeat: true, ..header),
    ..cells,
  )
}
#let footnote-text(body) = block(above: 0.4em, below: 1em, text(size: 7.5pt, fill: luma(60), body))
"""


def _page_setup(doc: Document) -> str:
    running = f"{doc.name} · {doc.status_label}"
    notice = ""
    if doc.synthetic:
        notice = (
            "block(width: 100%, fill: warn, inset: (x: 4pt, y: 2.5pt), spacing: 0pt, "
            f"align(center, text(fill: white, weight: \"bold\", size: 7.5pt, {typst_string(doc.synthetic_short)})))\n"
        )
    page = doc.label("report.page")
    of = doc.label("report.page_of")
    return (
        "#set page(paper: \"a4\", margin: (top: 24mm, bottom: 20mm, x: 18mm),\n"
        "  header: {\n"
        f"    {notice}"
        "    v(2pt)\n"
        f"    text(size: 7.5pt, fill: luma(90), {typst_string(running)})\n"
        "  },\n"
        "  footer: context align(right, text(size: 7.5pt, fill: luma(90),\n"
        f"    {typst_string(page)} + \" \" + counter(page).display() + \" {of} \" + str(counter(page).final().first()))),\n"
        ")\n"
    )


def typst_source(doc: Document) -> tuple[str, dict[str, bytes]]:
    """The Typst source of the report and the files it includes (the figures)."""
    files: dict[str, bytes] = {}
    date = "none"
    if doc.issue_date:
        issued = dt.date.fromisoformat(doc.issue_date)
        date = f"datetime(year: {issued.year}, month: {issued.month}, day: {issued.day})"
    author = f"({typst_string(doc.author)},)" if doc.author else "()"
    out = [
        f"#set document(title: {typst_string(doc.title)}, author: {author}, date: {date})\n",
        _PREAMBLE.replace("LANG", typst_string(doc.language)),
        _page_setup(doc),
    ]
    # title page
    status_colour = "accent" if doc.status == "final" else "warn"
    out.append(
        f"#block(stroke: 1.2pt + {status_colour}, inset: (x: 6pt, y: 3pt))"
        f"[#text(fill: {status_colour}, weight: \"bold\", tracking: 0.08em, {typst_string(doc.status_label.upper())})]\n"
    )
    out.append(
        f"#v(4mm)\n#text(size: 20pt, weight: \"bold\", fill: accent, hyphenate: false, {typst_string(doc.title)})\n#v(4mm)\n"
    )
    grid = ", ".join(f"strong({typst_string(k)}), {typst_string(v)}" for k, v in doc.title_block)
    out.append(f"#grid(columns: (auto, 1fr), column-gutter: 10mm, row-gutter: 2.2mm, {grid})\n")
    if doc.synthetic:
        out.append(
            "#v(4mm)\n#block(width: 100%, stroke: 1.5pt + warn, fill: rgb(\"#fff1e6\"), inset: 8pt, "
            f"text(fill: warn, weight: \"bold\", {typst_string(doc.synthetic_notice)}))\n"
        )
    findings = []
    for f in doc.findings:
        source = f"({f['table'][0]}, {f['source']})" if f["table"] else f"({f['source']})"
        findings.append(f"[{_s(f['text'])} #text(size: 7.5pt, fill: luma(90), {typst_string(source)})]")
    out.append(
        "#v(4mm)\n#block(width: 100%, fill: rgb(\"#eef2f7\"), inset: 8pt)["
        f"#text(size: 12pt, weight: \"bold\", fill: accent, {typst_string(doc.label('report.findings'))})\n\n"
        f"#text(size: 7.5pt, fill: luma(90), {typst_string(doc.label('report.findings_note'))})\n\n"
        f"#list(spacing: 0.8em, {', '.join(findings)})]\n"
    )
    facts = ", ".join(f"strong({typst_string(k)}), {typst_string(v)}" for k, v in doc.facts)
    out.append(f"#v(4mm)\n#text(size: 8pt, grid(columns: (auto, 1fr), column-gutter: 8mm, row-gutter: 1.6mm, {facts}))\n")
    out.append(f"#pagebreak()\n#outline(title: {typst_string(doc.label('report.contents'))}, depth: 2)\n")
    for section in doc.sections:
        out.append(f"#heading(level: 1)[{_s(f'{section.number}. {section.title}')}] <{section.id}>\n")
        out.extend(_block(b, doc, files) for b in section.blocks)
    out.append(f"#v(8mm)\n#text(size: 7.5pt, fill: luma(90), {typst_string(doc.footer)})\n")
    return "".join(out), files


def _font_paths() -> list[str]:
    import matplotlib

    return [str(Path(matplotlib.get_data_path()) / "fonts" / "ttf")]


def _epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_EPOCH
    try:
        return int(value)
    except ValueError:
        raise ReportError(
            f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got {value!r}; unset it or fix it"
        ) from None


def document_pdf(doc: Document) -> bytes:
    """Typeset a document as PDF bytes (A4).

    Raises
    ------
    ReportError
        Typst could not typeset the report (the message says where).
    """
    import tempfile

    import typst

    source, files = typst_source(doc)
    # Typst reads images from files under its root (not from memory): a private folder
    # holds the source and the figures while it typesets; no path of it reaches the PDF.
    with tempfile.TemporaryDirectory(prefix="cohort-pdf-") as tmp:
        root = Path(tmp)
        (root / "main.typ").write_text(source, encoding="utf-8")
        for name, payload in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(payload)
        compiler = typst.Compiler(root=str(root), font_paths=_font_paths(), ignore_system_fonts=True)
        try:
            return compiler.compile(str(root / "main.typ"), format="pdf", timestamp=_epoch())
        except (typst.TypstError, RuntimeError) as error:
            raise ReportError(f"report.pdf could not be typeset: {error}; the report was not replaced") from None


def render_pdf(
    params: Params,
    folder: Path,
    sources: Sequence[Path],
    releases: Mapping[str, dict],
    provenance: Mapping,
    root: Path,
    *,
    synthetic: bool | None = None,
) -> bytes:
    """``report.pdf`` for the report in ``folder`` (same arguments as ``render_html``)."""
    doc = build_document(params, folder, sources, releases, provenance, root, synthetic=synthetic)
    return document_pdf(doc)
