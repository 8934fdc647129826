"""The report as a document: numbered sections, figures and tables, from executed notebooks.

:func:`build_document` reads the executed notebooks of a report and the report's texts
and returns a :class:`Document` that both renderers use, so ``report.html``
(:mod:`cohort.report.html`) and ``report.pdf`` (:mod:`cohort.report.pdf`) show the same
numbers, captions and cross-references.

What a notebook output becomes (the notebook API emits these):

* a **figure**: ``display_data`` with ``image/svg+xml`` and/or ``image/png``, and
  ``metadata["cohort"] = {"kind": "figure", "name", "caption", "alt", "data": [...]}``;
* a **table**: ``display_data`` with ``text/html`` holding ``<table class="table"
  data-release="tables/NAME.csv">`` with a ``<caption>``, and ``metadata["cohort"] =
  {"kind": "table", "name", "caption", "columns": {column: role}}``;
* a **text**: ``text/markdown``; headings start at level 3 inside a notebook's section.

Outputs without that metadata (notebooks written before it) still render: an HTML table
is read back and formatted by its column names (:func:`cohort.report.format.infer_roles`),
and a figure or table is captioned by the heading above it.

Figures and tables are numbered through the document (Figure 1, 2, ...; Table 1, 2, ...).
Text refers to them as ``{fig:NAME}`` and ``{tab:NAME}``, which become "Figuur 3" /
"Figure 3" linked to the figure; a reference to a name the report does not show stops the
build (:class:`~cohort.exceptions.ReportError`) rather than print a dangling number.

Examples
--------
>>> resolve_references("See {fig:km} and {tab:cox}.", {"fig:km": 3, "tab:cox": 1}, "en")
'See [Figure 3](#fig-km) and [Table 1](#tab-cox).'
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from cohort.exceptions import ReportError
from cohort.report.format import (
    ROLES,
    alignment,
    format_date,
    format_frame,
    infer_roles,
    is_suppressed_text,
    suppression_footnote,
    suppression_marker,
    term_label,
)
from cohort.report.params import Params

__all__ = [
    "Heading",
    "Text",
    "Preformatted",
    "Figure",
    "Table",
    "Section",
    "Document",
    "build_document",
    "resolve_references",
    "split_columns",
    "PRINT_WIDTH_CHARS",
    "KEEP_TOGETHER_ROWS",
    "keep_dates_together",
]

#: Width of the A4 text column (174 mm) in characters of the tables' printed font (7.5 pt
#: DejaVu Sans, about 4.5 pt a character), less a margin: wider tables are split into
#: parts for print, each repeating the row labels.
PRINT_WIDTH_CHARS = 100
#: Tables of at most this many rows are kept on one page in print, with their caption;
#: longer ones break across pages with their header repeated.
KEEP_TOGETHER_ROWS = 25
#: Text cells wrap; their width counts at most this many characters.
_WRAP_CHARS = 26
#: Cell padding, in characters, on either side together.
_PADDING_CHARS = 2

_SKIP_TAGS = {"parameters", "injected-parameters", "remove-output", "report-skip"}
_PLAIN_NOISE = re.compile(r"^<(Figure|IPython\.core\.display\.|matplotlib\.|Axes)")
_REFERENCE = re.compile(r"\{(fig|tab):([A-Za-z0-9_.-]+)\}")


# --------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------


@dataclass
class Heading:
    """A heading inside a section (level 3 and below; sections are level 2)."""

    level: int
    text: str
    id: str = ""


@dataclass
class Text:
    """Markdown text; :attr:`tokens` is its parsed form (after references are resolved)."""

    source: str
    tokens: list = field(default_factory=list)


@dataclass
class Preformatted:
    """Printed output kept as it is."""

    text: str


@dataclass
class Figure:
    """A numbered figure with caption, alt text and the files of data behind it."""

    name: str
    caption: str
    alt: str
    svg: str | None = None
    png: str | None = None  # base64
    data: tuple[str, ...] = ()
    number: int = 0
    id: str = ""


@dataclass
class Table:
    """A numbered table: header labels and cells as display text, one alignment per column.

    ``parts`` are the column groups it is printed in when it is wider than the page
    (:func:`split_columns`): each a list of column indices, the row labels first.
    """

    name: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    align: list[str]
    roles: list[str]
    release: str | None = None
    number: int = 0
    id: str = ""
    footnotes: list[str] = field(default_factory=list)
    parts: list[list[int]] = field(default_factory=list)
    empty_text: str = ""

    def column_part(self, indices: Sequence[int]) -> Table:
        """The table restricted to the columns ``indices``."""
        return Table(
            self.name,
            self.caption,
            [self.columns[i] for i in indices],
            [[row[i] for i in indices] for row in self.rows],
            [self.align[i] for i in indices],
            [self.roles[i] for i in indices],
            self.release,
            self.number,
            self.id,
            self.footnotes,
            [list(range(len(indices)))],
            self.empty_text,
        )


@dataclass
class Section:
    """A numbered section (one notebook, or an appendix such as the definitions)."""

    id: str
    title: str
    number: int
    blocks: list


@dataclass
class Document:
    """Everything the report shows, in the report's language."""

    language: str
    name: str
    title: str
    status: str
    status_label: str
    title_block: list[tuple[str, str]]
    facts: list[tuple[str, str]]
    synthetic: bool
    synthetic_notice: str
    synthetic_short: str
    findings: list[dict]
    sections: list[Section]
    footer: str
    issue_date: str | None = None
    author: str | None = None

    @property
    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]

    @property
    def tables(self) -> list[Table]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Table)]

    def label(self, key: str, **fields) -> str:
        from cohort.report.text import report_text

        return report_text(key, self.language, **fields)


# --------------------------------------------------------------------------------------
# Reading notebook outputs
# --------------------------------------------------------------------------------------


class _TableParser(HTMLParser):
    """The caption, header rows and body rows of the first ``<table>`` of a fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.attrs: dict[str, str] = {}
        self.caption = ""
        self.head: list[list[str]] = []
        self.body: list[list[str]] = []
        self._in_table = 0
        self._section = "body"
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._in_table += 1
            if self._in_table == 1:
                self.attrs = {k: v or "" for k, v in attrs}
        elif self._in_table != 1:
            return
        elif tag == "caption":
            self._in_caption = True
        elif tag == "thead":
            self._section = "head"
        elif tag == "tbody":
            self._section = "body"
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table -= 1
        elif self._in_table != 1:
            return
        elif tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            (self.head if self._section == "head" else self.body).append(self._row)
            self._row = None
        elif tag == "thead":
            self._section = "body"

    def handle_data(self, data):
        if self._in_caption:
            self.caption += data
        elif self._cell is not None:
            self._cell.append(data)


def _parse_table(fragment: str) -> _TableParser | None:
    parser = _TableParser()
    parser.feed(fragment)
    parser.close()
    if not parser.attrs:
        return None
    if not parser.head and parser.body:  # a table without <thead>: first row is the header
        parser.head, parser.body = parser.body[:1], parser.body[1:]
    return parser


def _slug(text: str) -> str:
    """An id for an anchor: lower-case letters, digits and dashes.

    >>> _slug("Kaplan–Meier: aandeel zonder heraanmelding")
    'kaplan-meier-aandeel-zonder-heraanmelding'
    """
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "x"


def _column_labels(names: Sequence[str], language: str) -> list[str]:
    from cohort.report.text import column_labels

    return column_labels(names, language)


def _legacy_values(frame: pd.DataFrame, roles: Mapping[str, str]) -> pd.DataFrame:
    """Cells a table printed as text (``0.1204``, ``2.217e-26``, ``2024-12-31``) as values."""
    out = frame.copy()
    for column, role in roles.items():
        if role in ("count", "value", "share", "p"):
            values = out[column]
            numbers = pd.to_numeric(values.where(values.str.strip() != "", None), errors="coerce")
            keep = numbers.isna() & values.str.strip().ne("")
            out[column] = numbers.astype(object).where(~keep, values).where(values.str.strip() != "", None)
        elif role == "date":
            values = out[column]
            dated = values.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False)
            out[column] = values.where(~dated, pd.to_datetime(values.where(dated), errors="coerce"))
    return out


def _table_roles(names: Sequence[str], frame: pd.DataFrame) -> dict[str, str]:
    roles = infer_roles(names, frame)
    # interval bounds are shares when the estimate they bound is one
    if any(r == "share" for r in roles.values()) and "kind" not in roles:
        for bound in ("ci_lower", "ci_upper"):
            if bound in roles:
                roles[bound] = "share"
    return roles


def _table_from_html(fragment: str, meta: Mapping, language: str, threshold: int) -> Table | None:
    parsed = _parse_table(fragment)
    if parsed is None or not parsed.head:
        return None
    names = parsed.head[-1]
    width = len(names)
    rows = [r + [""] * (width - len(r)) if len(r) < width else r[:width] for r in parsed.body]
    frame = pd.DataFrame(rows, columns=range(width), dtype=object).astype(str)
    frame.columns = [str(n) for n in names]
    if frame.columns.duplicated().any():
        frame.columns = [f"{n}#{i}" for i, n in enumerate(names)]
    declared = dict(meta.get("columns") or {})
    listed = list(meta.get("roles") or [])
    marker = suppression_marker(language)
    if listed and len(listed) == width:
        # the notebook API wrote every cell and says each column's role in order
        roles = dict(zip(frame.columns, (r if r in ROLES else "label" for r in listed), strict=True))
        cells = frame.map(lambda v: marker if is_suppressed_text(v) else v)
    elif declared:
        # formatted by the notebook API already: keep the cells, one marker for suppression
        # headers hold column names (labelled here) or labels already: roles are found by either
        by_label = dict(zip(_column_labels(list(declared), language), declared.values(), strict=True))
        roles = {c: declared.get(str(n)) or by_label.get(str(n)) or "label" for c, n in zip(frame.columns, names, strict=True)}
        cells = frame.map(lambda v: marker if is_suppressed_text(v) else v)
    else:
        roles = _table_roles(list(frame.columns), frame)
        cells = format_frame(_legacy_values(frame, roles), roles, language, kind_column="kind")
    if "term" in frame.columns:
        cells["term"] = cells["term"].map(lambda v: term_label(v, language))
    cells = cells.map(keep_dates_together)
    role_list = [roles[c] for c in frame.columns]
    table = Table(
        name=str(meta.get("name") or ""),
        caption=str(meta.get("caption") or parsed.caption.strip()),
        columns=list(names) if meta.get("headers_labelled") else _column_labels(names, language),
        rows=cells.to_numpy(dtype=object).tolist(),
        align=[alignment(r) for r in role_list],
        roles=role_list,
        release=parsed.attrs.get("data-release") or None,
    )
    if any(marker == cell for row in table.rows for cell in row):
        table.footnotes.append(suppression_footnote(language, threshold))
    table.footnotes.extend(str(n) for n in meta.get("notes") or () if str(n) not in table.footnotes)
    if not table.rows:
        from cohort.report.text import report_text

        table.empty_text = str(meta.get("empty") or report_text("report.empty_table", language))
    return table


def _written_date():
    from cohort.report.text import _MONTHS

    months = "|".join(sorted({m for names in _MONTHS.values() for m in names.split()}))
    return re.compile(rf"\b(\d{{1,2}}) ({months}) (\d{{4}})\b")


_WRITTEN_DATE = _written_date()


def keep_dates_together(text: str) -> str:
    """A written-out date in a table cell never breaks over lines (no-break spaces).

    >>> keep_dates_together("1 januari 2023 t/m 31 december 2024").split(" ")
    ['1\xa0januari\xa02023', 't/m', '31\xa0december\xa02024']
    """
    if not isinstance(text, str):
        return text
    return _WRITTEN_DATE.sub(lambda m: "\u00a0".join(m.groups()), text)


def _figure_from_output(data: Mapping, meta: Mapping) -> Figure | None:
    svg = data.get("image/svg+xml")
    png = data.get("image/png")
    if svg is None and png is None:
        return None
    if png is not None:
        png = "".join(png).replace("\n", "")
        base64.b64decode(png, validate=True)  # refuse to embed anything but an image payload
    if svg is not None:
        svg = "".join(svg)
        if "<svg" not in svg:
            raise ReportError(f"figure {meta.get('name') or ''}: image/svg+xml output holds no SVG")
    caption = str(meta.get("caption") or "")
    return Figure(
        name=str(meta.get("name") or ""),
        caption=caption,
        alt=str(meta.get("alt") or caption),
        svg=svg,
        png=png,
        data=tuple(meta.get("data") or ()),
    )


def _blocks_of_output(output: Mapping, language: str, threshold: int) -> list:
    kind = output.get("output_type")
    if kind == "stream":
        if output.get("name") != "stdout":
            return []  # warnings and logs on stderr are not part of the report
        return [Preformatted("".join(output.get("text", "")))]
    if kind not in ("display_data", "execute_result"):
        return []
    data = output.get("data", {})
    meta = (output.get("metadata") or {}).get("cohort") or {}
    figure = _figure_from_output(data, meta) if meta.get("kind", "figure") == "figure" else None
    if figure is not None:
        return [figure]
    if "text/html" in data:
        table = _table_from_html("".join(data["text/html"]), meta, language, threshold)
        if table is not None:
            return [table]
        return [Preformatted(html.unescape(re.sub(r"<[^>]+>", " ", "".join(data["text/html"]))).strip())]
    if "text/markdown" in data:
        return [Text("".join(data["text/markdown"]))]
    if "text/plain" in data:
        plain = "".join(data["text/plain"])
        if _PLAIN_NOISE.match(plain):
            return []
        return [Preformatted(plain)]
    return []


def notebook_blocks(nb, language: str, threshold: int) -> list:
    """The blocks of an executed notebook: its markdown and outputs, never code."""
    blocks: list = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & _SKIP_TAGS:
            continue
        if cell.cell_type == "markdown":
            blocks.append(Text(cell.source))
        elif cell.cell_type == "code":
            for output in cell.get("outputs", []):
                blocks.extend(_blocks_of_output(output, language, threshold))
    return blocks


# --------------------------------------------------------------------------------------
# Markdown, headings and references
# --------------------------------------------------------------------------------------


def _markdown():
    import mistune

    return mistune.create_markdown(renderer=None, plugins=["table", "strikethrough"])


def _inline_text(tokens) -> str:
    out = []
    for token in tokens:
        if "raw" in token:
            out.append(token["raw"])
        out.append(_inline_text(token.get("children", [])))
    return "".join(out)


def _split_headings(blocks: list, shift: int = 0) -> list:
    """Parse text blocks; their headings become :class:`Heading` blocks (levels + ``shift``)."""
    md = _markdown()
    out = []
    for block in blocks:
        if not isinstance(block, Text):
            out.append(block)
            continue
        pending: list = []
        for token in md(block.source):
            if token["type"] == "heading":
                if pending:
                    out.append(Text(block.source, pending))
                    pending = []
                level = max(3, min(6, token["attrs"]["level"] + shift))
                out.append(Heading(level, _inline_text(token.get("children", [])).strip()))
            elif token["type"] != "blank_line":
                pending.append(token)
        if pending:
            out.append(Text(block.source, pending))
    return out


def resolve_references(source: str, numbers: Mapping[str, int], language: str) -> str:
    """Replace ``{fig:NAME}`` / ``{tab:NAME}`` by a Markdown link to the numbered item.

    Raises
    ------
    ReportError
        The text refers to a figure or table the report does not show.
    """
    from cohort.report.text import report_text

    def repl(match):
        kind, name = match.group(1), match.group(2)
        key = f"{kind}:{name}"
        if key not in numbers:
            known = ", ".join(sorted(k for k in numbers if k.startswith(kind + ":"))) or "none"
            raise ReportError(
                f"the text refers to {{{key}}}, but the report shows no "
                f"{'figure' if kind == 'fig' else 'table'} named {name!r} (known: {known}); "
                "correct the reference or show the item"
            )
        word = report_text("report.figure" if kind == "fig" else "report.table", language)
        return f"[{word} {numbers[key]}](#{kind}-{_slug(name)})"

    return _REFERENCE.sub(repl, source)


def _caption_legacy_items(blocks: list, fallback: str | None = None) -> None:
    """Caption figures and tables without a caption by the heading above them (the
    section's title, ``fallback``, where no heading comes before them)."""
    heading = fallback
    for block in blocks:
        if isinstance(block, Heading):
            heading = block.text
        elif isinstance(block, Figure | Table) and not block.caption and heading:
            block.caption = heading
            if isinstance(block, Figure) and not block.alt:
                block.alt = heading


# --------------------------------------------------------------------------------------
# Wide tables
# --------------------------------------------------------------------------------------


def _width(text: str, role: str) -> int:
    if role in ("count", "value", "share", "p"):
        return len(text)
    words = text.split() or [""]
    return min(_WRAP_CHARS, max(len(max(words, key=len)), min(len(text), _WRAP_CHARS)))


def column_widths(table: Table) -> list[int]:
    """Estimated print width of each column in characters (header words may wrap)."""
    widths = []
    for i, (label, role) in enumerate(zip(table.columns, table.roles, strict=True)):
        header = max((len(w) for w in label.split()), default=0)
        cells = max((_width(row[i], role) for row in table.rows), default=0)
        widths.append(max(header, cells) + _PADDING_CHARS)
    return widths


def split_columns(table: Table, budget: int = PRINT_WIDTH_CHARS) -> list[list[int]]:
    """Column groups that each fit ``budget`` characters, the row labels in every group.

    The leading text columns (group, key, label or date; at most two) label the rows and
    are repeated in every part; the other columns are filled in, in order, until a part
    is full. A table that fits is one part.

    Examples
    --------
    >>> t = Table("t", "", ["site"] + [f"q{i}" for i in range(12)], [["AMS"] + ["12.345"] * 12],
    ...           ["left"] + ["right"] * 12, ["group"] + ["count"] * 12)
    >>> split_columns(t, budget=40)
    [[0, 1, 2, 3, 4], [0, 5, 6, 7, 8], [0, 9, 10, 11, 12]]
    >>> split_columns(t, budget=80)  # two parts of six columns, not nine and three
    [[0, 1, 2, 3, 4, 5, 6], [0, 7, 8, 9, 10, 11, 12]]
    """
    widths = column_widths(table)
    if sum(widths) <= budget:
        return [list(range(len(widths)))]
    stub = []
    for i, role in enumerate(table.roles[:2]):
        if role in ("group", "key", "label", "date"):
            stub.append(i)
        else:
            break
    stub_width = sum(widths[i] for i in stub)
    rest = list(range(len(stub), len(widths)))

    def fill(limit: int) -> list[list[int]]:
        parts, current, used = [], list(stub), stub_width
        for i in rest:
            if current != stub and used + widths[i] > limit:
                parts.append(current)
                current, used = list(stub), stub_width
            current.append(i)
            used += widths[i]
        parts.append(current)
        return parts

    parts = fill(budget)
    # the fewest parts that fit, then the narrowest limit that still needs no more of them:
    # the columns spread evenly instead of leaving a last part with one column
    low, high = stub_width + max((widths[i] for i in rest), default=0), budget
    while low < high:
        middle = (low + high) // 2
        if len(fill(middle)) <= len(parts):
            high = middle
        else:
            low = middle + 1
    return fill(high)


# --------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------


def _number_items(sections: Sequence[Section]) -> dict[str, int]:
    numbers: dict[str, int] = {}
    counts = {"fig": 0, "tab": 0}
    used_ids: set[str] = set()
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Figure | Table):
                kind = "fig" if isinstance(block, Figure) else "tab"
                counts[kind] += 1
                block.number = counts[kind]
                name = block.name or f"{counts[kind]}"
                block.id = f"{kind}-{_slug(name)}"
                while block.id in used_ids:
                    block.id += "-2"
                used_ids.add(block.id)
                if block.name:
                    numbers.setdefault(f"{kind}:{block.name}", block.number)
    return numbers


def _heading_ids(sections: Sequence[Section]) -> None:
    used = {s.id for s in sections}
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Heading):
                base = f"{section.id}-{_slug(block.text)}"
                candidate, n = base, 2
                while candidate in used:
                    candidate, n = f"{base}-{n}", n + 1
                block.id = candidate
                used.add(candidate)


def _definitions_markdown(root: Path, language: str) -> str:
    docs = root / "docs"
    for name in (f"definitions.{language}.md", "definitions.md"):
        path = docs / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            return re.sub(r"\A# [^\n]*\n", "", text)  # the section has its own title
    return ""


def _title_block(params: Params, t) -> list[tuple[str, str]]:
    rows = []
    if params.author:
        rows.append((t("report.title_block.author"), params.author))
    if params.organisation:
        rows.append((t("report.title_block.organisation"), params.organisation))
    issued = format_date(params.issue_date, params.language) if params.issue_date else t("report.title_block.not_issued")
    rows.append((t("report.title_block.issue_date"), issued))
    rows.append((t("report.title_block.version"), params.version))
    rows.append((t("report.title_block.status"), t(f"report.statuses.{params.status}")))
    return rows


def _facts(params: Params, provenance: Mapping, t) -> list[tuple[str, str]]:
    policy = params.disclosure
    if policy.enabled:
        rounding = t("report.disclosure_rounding", rounding=policy.rounding) if policy.rounding else ""
        disclosure = t("report.disclosure_on", threshold=policy.threshold, rounding=rounding)
    else:
        disclosure = t("report.disclosure_off")
    git = provenance.get("git") or {}
    code_version = (git.get("commit") or "unknown")[:12] + (f" ({t('report.uncommitted')})" if git.get("dirty") else "")
    return [
        (t("report.report_name"), params.name),
        (t("report.reference_date"), format_date(params.reference_date, params.language)),
        (t("report.study_start"), format_date(params.study_start, params.language)),
        (t("report.sites"), ", ".join(params.sites) if params.sites else t("report.all_sites")),
        (t("report.disclosure"), disclosure),
        (t("report.disclosure_minimum"), _minimum(provenance.get("disclosure") or params.settings.as_dict(), t)),
        (t("report.code_version"), code_version),
        (t("report.data_fingerprint"), str(provenance.get("delivery_fingerprint") or "")[:16]),
    ]


def _minimum(settings: Mapping, t) -> str:
    """The workbench minimum threshold and any explicit lowering, as provenance records them."""
    if settings.get("lower_minimum"):
        return t("report.minimum_lowered", minimum=settings.get("minimum"), threshold=settings.get("threshold"),
                 reason=settings["lower_minimum"])
    return t("report.minimum_kept", minimum=settings.get("minimum"))


def _released_files_table(releases: Mapping[str, Mapping], language: str, t) -> Table:
    from cohort.report.format import format_number
    from cohort.report.text import _kind_label

    rows = [
        [file, _kind_label(r.get("kind", ""), language), format_number(r.get("rows"), "count", language),
         str(r.get("caption") or "")]
        for file, r in releases.items()
    ]
    return Table(
        name="released_files",
        caption=t("report.released_files"),
        columns=[t("report.file"), t("report.kind"), t("report.rows"), t("report.caption")],
        rows=rows,
        align=["left", "left", "right", "left"],
        roles=["key", "group", "count", "label"],
    )


def decide_synthetic(params: Params) -> bool:
    """Whether the parameters' delivery is synthetic (:func:`cohort.delivery.load.is_synthetic`)."""
    from cohort.delivery.load import is_synthetic, load

    return is_synthetic(load(params.delivery, on_error="proceed"))


def build_document(
    params: Params,
    folder: Path,
    sources: Sequence[Path],
    releases: Mapping[str, Mapping],
    provenance: Mapping,
    root: Path,
    *,
    synthetic: bool | None = None,
) -> Document:
    """The report in ``folder`` (executed notebooks in ``folder/notebooks``) as a document.

    Parameters
    ----------
    params : Params
    folder : Path
        The report folder being built: ``notebooks/``, ``tables/``, ``figure-data/``.
    sources : paths
        The report's notebooks, in report order (their names locate the executed copies).
    releases : mapping
        Release records by file (kind, rows, caption), for the list of released files.
    provenance : mapping
        The report's provenance (code version, delivery fingerprint).
    root : Path
        Repository root (for ``docs/definitions*.md``).
    synthetic : bool, optional
        Whether the delivery is synthetic; default decided from the delivery's pseudonyms.

    Raises
    ------
    ReportError
        A text refers to a figure or table the report does not show.
    """
    from cohort.report.execute import _read_notebook
    from cohort.report.findings import key_findings
    from cohort.report.methods import methods_markdown
    from cohort.report.text import _fields, report_text

    lang = params.language
    threshold = params.disclosure.threshold

    def t(key, **fields):
        return report_text(key, lang, **fields)

    if synthetic is None:
        synthetic = decide_synthetic(params)
    sections: list[Section] = []
    for number, src in enumerate(sources, start=1):
        nb = _read_notebook(Path(folder) / "notebooks" / src.name)
        try:
            title = t(f"section.{src.stem}")
        except KeyError:
            title = src.stem.split("_", 1)[-1].replace("_", " ").capitalize()
        blocks = _split_headings(notebook_blocks(nb, lang, threshold))
        _caption_legacy_items(blocks, fallback=title)
        sections.append(Section(src.stem, title, number, blocks))
    appendix = [
        ("definitions", t("report.definitions"), [Text(t("report.definitions_note"))] +
         [Text(_definitions_markdown(root, lang))]),
        ("methods", t("report.methods"), [Text(methods_markdown(params, releases))]),
        ("limitations", t("report.limitations"), [Text(t("report.limitations_text", **_fields(params)))]),
        ("released-files", t("report.released_files"), [Text(t("report.released_files_note")),
                                                        _released_files_table(releases, lang, t)]),
    ]
    for offset, (sid, title, blocks) in enumerate(appendix, start=len(sections) + 1):
        sections.append(Section(sid, title, offset, _split_headings(blocks, shift=1 if sid == "definitions" else 0)))
    numbers = _number_items(sections)
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Text):
                block.tokens = _resolve_tokens(block.tokens, numbers, lang)
            elif isinstance(block, Table):
                block.parts = split_columns(block)
    _heading_ids(sections)
    tables_by_file = {b.release: b for b in (x for s in sections for x in s.blocks) if isinstance(b, Table) and b.release}
    findings = []
    for finding in key_findings(folder, lang):
        table = tables_by_file.get(finding.source)
        findings.append(
            {
                "text": finding.text,
                "source": finding.source,
                "reported": finding.reported,
                "table": (f"{t('report.table')} {table.number}", table.id) if table else None,
            }
        )
    return Document(
        language=lang,
        name=params.name,
        title=params.title,
        status=params.status,
        status_label=t(f"report.statuses.{params.status}"),
        title_block=_title_block(params, t),
        facts=_facts(params, provenance, t),
        synthetic=bool(synthetic),
        synthetic_notice=t("report.synthetic_notice"),
        synthetic_short=t("report.synthetic_short"),
        findings=findings,
        sections=sections,
        footer=t("report.generated_by", version=_version(), source=provenance.get("parameter_file") or "provenance.json"),
        issue_date=params.issue_date.isoformat() if params.issue_date else None,
        author=params.author or params.organisation,
    )


def _resolve_tokens(tokens: list, numbers: Mapping[str, int], language: str) -> list:
    """Parsed Markdown with every ``{fig:NAME}`` / ``{tab:NAME}`` turned into a link."""
    out = []
    for token in tokens:
        if token.get("type") == "text" and _REFERENCE.search(token.get("raw", "")):
            resolved = resolve_references(token["raw"], numbers, language)
            for piece in re.split(r"(\[[^\]]+\]\(#[a-z]+-[a-z0-9-]+\))", resolved):
                link = re.fullmatch(r"\[([^\]]+)\]\((#[a-z]+-[a-z0-9-]+)\)", piece)
                if link:
                    out.append({"type": "link", "children": [{"type": "text", "raw": link.group(1)}],
                                "attrs": {"url": link.group(2)}})
                elif piece:
                    out.append({"type": "text", "raw": piece})
            continue
        if "children" in token:
            token = {**token, "children": _resolve_tokens(token["children"], numbers, language)}
        out.append(token)
    return out


def _version() -> str:
    import cohort

    return cohort.__version__
