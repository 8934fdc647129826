"""The report page: ``report.html`` from the executed notebooks.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

import cohort
from cohort.report.execute import _read_notebook
from cohort.report.params import (
    Params,
)
from cohort.report.text import _fields, _format_date, _kind_label, _texts, report_text

# --------------------------------------------------------------------------------------
# The report page
# --------------------------------------------------------------------------------------

_SKIP_TAGS = {"parameters", "injected-parameters", "remove-output", "report-skip"}
_PLAIN_NOISE = re.compile(r"^<(Figure|IPython\.core\.display\.|matplotlib\.|Axes)")


def _output_html(output: dict) -> str:
    """One notebook output as report HTML (richest representation first)."""
    kind = output.get("output_type")
    if kind == "stream":
        if output.get("name") != "stdout":
            return ""  # warnings and logs on stderr are not part of the report
        return f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>"
    if kind not in ("display_data", "execute_result"):
        return ""
    data = output.get("data", {})
    if "image/png" in data:
        png = "".join(data["image/png"]).replace("\n", "")
        base64.b64decode(png, validate=True)  # refuse to embed anything but a PNG payload
        return f'<figure><img alt="figure" src="data:image/png;base64,{png}"></figure>'
    if "text/html" in data:
        return "".join(data["text/html"])
    if "text/markdown" in data:
        from nbconvert.filters import markdown2html

        return markdown2html("".join(data["text/markdown"]))
    if "text/plain" in data:
        plain = "".join(data["text/plain"])
        if _PLAIN_NOISE.match(plain):
            return ""
        return f"<pre>{html.escape(plain)}</pre>"
    return ""


def _label_headers(fragment: str, language: str) -> str:
    """Replace known column names in table headers by their label in ``language``.

    >>> _label_headers("<th>numerator</th><th>other</th>", "nl")
    '<th>teller</th><th>other</th>'
    """
    labels = {k: v[language] for k, v in _texts().get("columns", {}).items()}

    def repl(match):
        name = match.group(2)
        return f"{match.group(1)}{html.escape(labels.get(name, name))}</th>"

    return re.sub(r"(<th[^>]*>)([A-Za-z0-9_]+)</th>", repl, fragment)


def notebook_body(nb) -> str:
    """The report HTML of an executed notebook: markdown cells and outputs, never code."""
    from nbconvert.filters import markdown2html

    parts = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & _SKIP_TAGS:
            continue
        if cell.cell_type == "markdown":
            parts.append(markdown2html(cell.source))
        elif cell.cell_type == "code":
            parts.extend(_output_html(o) for o in cell.get("outputs", []))
    return "\n".join(p for p in parts if p)


def _demote_headings(fragment: str, by: int = 1) -> str:
    """Shift h1..h5 down so notebook headings sit under the section heading."""

    def repl(match):
        level = min(6, int(match.group(2)) + by)
        return f"<{match.group(1)}h{level}"

    return re.sub(r"<(/?)h([1-5])", repl, fragment)


def render_html(
    params: Params,
    folder: Path,
    sources: Sequence[Path],
    releases: dict[str, dict],
    provenance: dict,
    root: Path,
) -> str:
    """Render ``report.html`` from the executed notebooks in ``folder/notebooks``."""
    import jinja2
    from nbconvert.filters import markdown2html

    lang = params.language

    def t(key, **fields):
        return report_text(key, lang, **fields)

    sections = []
    for src in sources:
        nb = _read_notebook(folder / "notebooks" / src.name)
        stem = src.stem
        try:
            title = t(f"section.{stem}")
        except KeyError:
            title = stem.split("_", 1)[-1].replace("_", " ").capitalize()
        sections.append({"id": stem, "title": title, "body": _label_headers(notebook_body(nb), lang)})
    definitions_path = root / "docs" / "definitions.md"
    definitions = (
        _demote_headings(markdown2html(definitions_path.read_text(encoding="utf-8")), 2)
        if definitions_path.is_file()
        else ""
    )
    policy = params.disclosure
    if policy.enabled:
        rounding = t("report.disclosure_rounding", rounding=policy.rounding) if policy.rounding else ""
        disclosure_text = t("report.disclosure_on", threshold=policy.threshold, rounding=rounding)
    else:
        disclosure_text = t("report.disclosure_off")
    git = provenance["git"]
    code_version = (git["commit"] or "unknown")[:12] + (
        f" ({t('report.uncommitted')})" if git.get("dirty") else ""
    )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent.parent / "templates")),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    template = env.get_template("report.html.j2")
    return template.render(
        lang=lang,
        title=params.title,
        t=t,
        facts=[
            (t("report.report_name"), params.name),
            (t("report.reference_date"), _format_date(params.reference_date, lang)),
            (t("report.study_start"), _format_date(params.study_start, lang)),
            (t("report.sites"), ", ".join(params.sites) if params.sites else t("report.all_sites")),
            (t("report.disclosure"), disclosure_text),
            (t("report.code_version"), code_version),
            (t("report.data_fingerprint"), provenance["delivery_fingerprint"][:16]),
        ],
        sections=sections,
        definitions=definitions,
        methods=markdown2html(t("report.methods_text", **_fields(params))),
        limitations=markdown2html(t("report.limitations_text", **_fields(params))),
        releases=[
            {"file": f, "kind": _kind_label(r["kind"], lang), "rows": r["rows"], "caption": r.get("caption") or ""}
            for f, r in releases.items()
        ],
        generated_by=t(
            "report.generated_by",
            version=cohort.__version__,
            source=provenance.get("parameter_file") or "provenance.json",
        ),
    )
