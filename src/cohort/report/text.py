"""Report text in the report's language: sections, captions, labels, dates.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pandas as pd
import yaml

from cohort.disclosure.policy import SUPPRESSED
from cohort.disclosure.writer import KINDS
from cohort.report.params import (
    Params,
)

# --------------------------------------------------------------------------------------
# Report text
# --------------------------------------------------------------------------------------


@functools.cache
def _texts() -> dict:
    path = Path(__file__).parent.parent / "resources" / "report_text.yaml"
    # libyaml's loader when PyYAML was built with it: the texts load in a few milliseconds
    # instead of a quarter of a second in every notebook kernel
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader


def _lookup(key: str, language: str) -> str:
    node = _texts()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"no report text {key!r}")
        node = node[part]
    if not isinstance(node, dict) or language not in node:
        raise KeyError(f"report text {key!r} has no {language!r} version")
    return node[language]


def _fields(params: Params) -> dict:
    """Parameter values a text may quote, formatted for readers."""
    out = {k: v for k, v in params.raw.items() if not isinstance(v, dict | list)}
    for key in ("reference_date", "study_start", "change_date", "previous_reference_date"):
        value = getattr(params, key)
        out[key] = _format_date(value, params.language) if value else ""
    out["safety_threshold"] = f"{params.safety_threshold:g}"
    out["disclosure_threshold"] = params.disclosure.threshold
    spec = getattr(params, "effects", None)
    if spec is not None:  # the protocol of the effect analyses, as the effects texts quote it
        out["enrolment_start"] = _format_date(spec.enrolment_start.date(), params.language)
        out["enrolment_end"] = _format_date(spec.enrolment_end.date(), params.language)
        out["covariates"] = _listing([_covariate(c, params.language) for c in spec.covariates], params.language)
        out["horizons"] = _listing([str(h) for h in spec.horizons_months], params.language)
        out["bootstrap_replications"] = spec.bootstrap_replications
    return out


def _covariate(name: str, language: str) -> str:
    """A covariate of the propensity model as the effects texts name it
    (``effects.covariates``), else its column name in words."""
    try:
        return _lookup(f"effects.covariates.{name}", language)
    except KeyError:
        return name.replace("_", " ")


def _listing(items, language: str) -> str:
    """``a, b en c`` (nl) or ``a, b and c`` (en).

    >>> _listing(["6", "12", "24"], "nl"), _listing(["x"], "en")
    ('6, 12 en 24', 'x')
    """
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {_lookup('findings.and', language)} " + items[-1]


_MONTHS = {
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "en": "January February March April May June July August September October November December",
}


def _format_date(value: dt.date, language: str) -> str:
    """``31 december 2024`` (nl) or ``31 December 2024`` (en).

    >>> _format_date(dt.date(2024, 12, 31), "nl")
    '31 december 2024'
    """
    return f"{value.day} {_MONTHS[language].split()[value.month - 1]} {value.year}"


def text_exists(key: str) -> bool:
    """Whether ``key`` names a report text (in any language).

    >>> text_exists("monitor.intro"), text_exists("months since closure")
    (True, False)
    """
    node = _texts()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, dict) and all(isinstance(v, str) for v in node.values())


def report_text(key: str, language: str, /, **fields) -> str:
    """The text ``key`` (e.g. ``"monitor.intro"``) in ``language`` with fields filled in.

    Examples
    --------
    >>> report_text("section.02_monitor", "nl")
    'Kwartaalmonitor'
    """
    return _lookup(key, language).format(**fields)


def value_labels(column: str, language: str) -> dict[str, str]:
    """How the report shows the values of label column ``column`` in ``language``.

    The released CSV files keep the values themselves (machine-readable identifiers);
    only the report page and the notebooks' displayed tables use these labels.

    Examples
    --------
    >>> value_labels("analysis", "nl")["reregistration"]
    'heraanmelding'
    >>> value_labels("no_such_column", "nl")
    {}
    """
    table = _texts().get("values", {}).get(column, {})
    return {str(value): labels[language] for value, labels in table.items() if language in labels}


def labelled(frame: pd.DataFrame, language: str) -> pd.DataFrame:
    """A copy of ``frame`` for display in ``language``: readable labels for the values of
    known label columns (``figure``, ``indicator``, ``step``, ...; see the ``values``
    section of the report text), for column headers a pivot took from such a column, for
    the suppression marker and for the word joining the dates of a ``period``. Column names stay (the report page labels them); the
    frame itself is not changed.

    Examples
    --------
    >>> t = pd.DataFrame({"step": ["analysed"], "episodes": ["[suppressed]"],
    ...                   "period": ["2023-01-01 to 2024-12-31"]})
    >>> labelled(t, "nl").to_dict("records")
    [{'step': 'geanalyseerd', 'episodes': 'x', 'period': '2023-01-01 t/m 2024-12-31'}]
    >>> wide = pd.DataFrame({"registrations": [4]}).rename_axis(columns="indicator")
    >>> list(labelled(wide, "nl").columns)
    ['aanmeldingen']
    """
    out = frame.copy()
    marker = report_text("report.suppressed_marker", language)
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
            continue
        labels = value_labels(str(column), language)
        if marker != SUPPRESSED:
            labels = {**labels, SUPPRESSED: marker}
        if not labels:
            continue
        values = values.astype(object)
        hit = values.isin(list(labels)).to_numpy()
        if hit.any():
            out[column] = values.where(~hit, values.map(labels))
    if "period" in out.columns and not pd.api.types.is_numeric_dtype(out["period"].dtype):
        to = report_text("report.period_to", language)
        out["period"] = out["period"].astype("string").str.replace(" to ", f" {to} ", regex=False).astype(object)
    header = out.columns.name
    if header is not None:
        labels = value_labels(str(header), language)
        out.columns = pd.Index([labels.get(str(c), c) for c in out.columns], name=header)
    return out


def plot_labels(name: str, params: Params) -> dict[str, str]:
    """Texts drawn inside a figure, in the report's language, for a plot function's
    ``labels=`` argument: ``"survival"`` for :mod:`cohort.survival_plots`,
    ``"trajectories"`` for :func:`cohort.plots.trends.plot_trajectories`.

    Placeholders such as ``{lo}`` stay in: the plot function fills them in.

    Examples
    --------
    >>> from cohort.report.params import from_mapping
    >>> p = from_mapping({"name": "d", "title": "D", "language": "nl", "delivery": "x",
    ...                   "reference_date": "2024-12-31"}, check_delivery=False)
    >>> plot_labels("survival", p)["at_risk"]
    'aantal in risicoset'
    """
    table = _texts().get("plots", {}).get(name)
    if table is None:
        raise KeyError(f"no plot labels {name!r}")
    return {key: _lookup(f"plots.{name}.{key}", params.language) for key in table}


def column_labels(names, language: str) -> list[str]:
    """Column headers as the report shows them (``columns`` section of the report text);
    a column not listed keeps its name.

    >>> column_labels(["n_households", "ci_lower", "AMS"], "nl")
    ['huishoudens', '95%-BI onder', 'AMS']
    """
    labels = _texts().get("columns", {})
    return [labels.get(str(n), {}).get(language, str(n)) for n in names]


def figure_caption(name: str, language: str) -> str | None:
    """The caption of figure ``name`` in ``language`` (``captions.figures``), or ``None``.

    >>> figure_caption("monitor_registrations_by_site", "nl")
    'Aanmeldingen per kwartaal, per proeftuin'
    >>> figure_caption("no_such_figure", "nl") is None
    True
    """
    try:
        return _lookup(f"captions.figures.{name}", language)
    except KeyError:
        return None


def caption_text(kind: str, name: str, language: str) -> str | None:
    """The caption of released file ``name`` of ``kind`` in ``language`` (None if unknown).

    >>> caption_text("table", "attrition", "nl")
    'Uitval: van geleverde naar geanalyseerde episodes'
    """
    try:
        return _lookup(f"captions.{KINDS.get(kind, kind)}.{name}", language)
    except KeyError:
        return None


class Markdown:
    """Markdown shown by Jupyter; plain text repr is the Markdown itself (stable under nbval)."""

    def __init__(self, source: str):
        self.source = source

    def _repr_markdown_(self):
        return self.source

    def __repr__(self):
        return self.source


def text(key: str, params: Params, /, *, level: int | None = None, **fields) -> Markdown:
    """Show report text ``key`` in the report's language; ``level`` makes it a heading.

    Examples
    --------
    >>> from cohort.report.params import from_mapping
    >>> p = from_mapping({"name": "d", "title": "D", "language": "en", "delivery": "x",
    ...                   "reference_date": "2024-12-31"}, check_delivery=False)
    >>> text("monitor.headline", p, level=3)
    ### Headline figures on 31 December 2024
    """
    body = report_text(key, params.language, **{**_fields(params), **fields})
    return Markdown(("#" * level + " " + body) if level else body)


def _kind_label(kind: str, language: str) -> str:
    """``figure-data`` -> ``figuurgegevens`` (nl); unknown kinds stay as they are."""
    try:
        return _lookup(f"report.kinds.{kind}", language)
    except KeyError:
        return kind
