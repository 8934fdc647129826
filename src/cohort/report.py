"""Reports: run the notebooks for a parameter set and build ``reports/<name>/``.

Two halves:

* **Notebook helpers**, called from the thin notebooks in ``notebooks/``:
  :func:`setup` (stable display and plot settings), :func:`text` (report text in the
  report's language), :func:`show` (a table as the report shows it),
  :func:`release_table` (write a released table or the data behind a figure into the
  report being built) and :func:`figure` (show a figure and release its data).
* **The builder**, :func:`build_report`, behind ``cohort report PARAMS.yaml``: it runs
  every notebook with papermill (two at a time by default, with a progress bar) into a
  temporary sibling folder, normalises the executed notebooks, renders ``report.html``,
  writes ``provenance.json`` and ``manifest.json``, runs the release check
  (:mod:`cohort.release`) and only then swaps the new folder in place of the old one.
  A failing notebook stops the build with a :class:`~cohort.exceptions.ReportError` that
  names the notebook, the cell and the error; the last good report stays in place.

Layout of a report folder::

    reports/<name>/
        report.html          one self-contained page, no code
        notebooks/*.ipynb    the executed notebooks, normalised
        tables/*.csv         released tables
        figure-data/*.csv    the aggregated data behind every figure
        provenance.json      code version, input hashes, parameters, versions, times
        manifest.json        every file with its sha256 and disclosure-control status
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import html
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
import yaml

import cohort
from cohort import disclosure as _disclosure
from cohort import provenance as prov
from cohort.exceptions import CohortError, DisclosureError, ParameterError, ReportError
from cohort.params import (
    Params,
    from_mapping,
    load_params,
    notebook_parameters,
    repo_root,
    resolve_path,
)
from cohort.schema import ID_COLUMNS

__all__ = [
    "NOTEBOOKS",
    "REQUIRED_TABLES",
    "KINDS",
    "setup",
    "text",
    "show",
    "release_table",
    "figure",
    "load_delivery",
    "changes_since",
    "previous_monitor",
    "build_report",
    "rebuild_report",
    "refresh_notebooks",
    "execute_notebook",
]

#: The notebooks of a report, in report order (file stems in ``notebooks/``).
NOTEBOOKS = (
    "01_data_quality",
    "02_monitor",
    "03_reregistration",
    "04_legal_measures",
    "05_safety",
    "06_summary",
)

#: Tables every complete report releases.
REQUIRED_TABLES = ("monitor", "reregistration_km", "reregistration_cox", "safety_mixed_model")

#: Kinds of released file and the report sub-folder each goes to.
KINDS = {"table": "tables", "figure-data": "figure-data"}

_RELEASE_META = "_release"  # sidecar folder inside a build, folded into manifest.json
#: In the sidecar folder: the monitor the report given with ``against`` released.
_PREVIOUS_MONITOR = "previous-monitor.csv"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
FLOAT_FORMAT = "%.10g"  # released CSVs: 10 significant digits, stable across runs
KERNEL_NAME = "python3"  # the kernel notebooks are saved with; provided by the builder
SOURCE_DATE_EPOCH = "1735603200"  # 2024-12-31: fixed timestamp for anything that embeds one


# --------------------------------------------------------------------------------------
# Report text
# --------------------------------------------------------------------------------------


@functools.cache
def _texts() -> dict:
    path = Path(__file__).parent / "resources" / "report_text.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


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
    return out


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
    [{'step': 'geanalyseerd', 'episodes': '[onderdrukt]', 'period': '2023-01-01 t/m 2024-12-31'}]
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
        if marker != _disclosure.SUPPRESSED:
            labels = {**labels, _disclosure.SUPPRESSED: marker}
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
    ``"trajectories"`` for :func:`cohort.trend_plots.plot_trajectories`.

    Placeholders such as ``{lo}`` stay in: the plot function fills them in.

    Examples
    --------
    >>> from cohort.params import from_mapping
    >>> p = from_mapping({"name": "d", "title": "D", "language": "nl", "delivery": "x",
    ...                   "reference_date": "2024-12-31"}, check_delivery=False)
    >>> plot_labels("survival", p)["at_risk"]
    'aantal in risicoset'
    """
    table = _texts().get("plots", {}).get(name)
    if table is None:
        raise KeyError(f"no plot labels {name!r}")
    return {key: _lookup(f"plots.{name}.{key}", params.language) for key in table}


def caption_text(kind: str, name: str, language: str) -> str | None:
    """The caption of released file ``name`` of ``kind`` in ``language`` (None if unknown).

    >>> caption_text("table", "attrition", "nl")
    'Uitval: van geleverde naar geanalyseerde episodes'
    """
    try:
        return _lookup(f"captions.{KINDS.get(kind, kind)}.{name}", language)
    except KeyError:
        return None


class _Markdown:
    """Markdown shown by Jupyter; plain text repr is the Markdown itself (stable under nbval)."""

    def __init__(self, source: str):
        self.source = source

    def _repr_markdown_(self):
        return self.source

    def __repr__(self):
        return self.source


def text(key: str, params: Params, /, *, level: int | None = None, **fields) -> _Markdown:
    """Show report text ``key`` in the report's language; ``level`` makes it a heading.

    Examples
    --------
    >>> from cohort.params import from_mapping
    >>> p = from_mapping({"name": "d", "title": "D", "language": "en", "delivery": "x",
    ...                   "reference_date": "2024-12-31"}, check_delivery=False)
    >>> text("monitor.headline", p, level=3)
    ### Headline figures on 31 December 2024
    """
    body = report_text(key, params.language, **{**_fields(params), **fields})
    return _Markdown(("#" * level + " " + body) if level else body)


# --------------------------------------------------------------------------------------
# Notebook helpers
# --------------------------------------------------------------------------------------


def setup(params: Params) -> None:
    """Stable display and plot settings for a notebook; call once after the parameters.

    Pandas prints every row and column of the (small, aggregated) tables with fixed float
    formatting; matplotlib draws inline with fixed size, fonts and no software metadata in
    the PNGs, so outputs do not vary between runs or machines with the same versions.
    """
    import matplotlib
    import seaborn as sns

    os.environ.setdefault("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_columns", 50)
    pd.set_option("display.width", 120)
    pd.set_option("display.float_format", "{:.4g}".format)
    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams.update(
        {
            "figure.figsize": (8.0, 4.5),
            "figure.dpi": 96,
            "savefig.dpi": 96,
            "svg.hashsalt": "cohort",
            "font.family": "DejaVu Sans",
        }
    )
    try:  # inside a Jupyter kernel: draw inline even when MPLBACKEND says otherwise
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with jupyterlab
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        matplotlib.use("module://matplotlib_inline.backend_inline")
        set_matplotlib_formats("png", metadata={"Software": None})


class Table:
    """A table as the report shows it: deterministic HTML and plain text, no index."""

    def __init__(self, frame: pd.DataFrame, caption: str | None = None):
        self.frame = frame
        self.caption = caption

    def _display(self) -> pd.DataFrame:
        """Every cell as display text: whole numbers without decimals, others to 4
        significant digits, dates as YYYY-MM-DD, missing values empty."""
        import numpy as np

        def fmt(values: np.ndarray) -> np.ndarray:
            whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 1e15)
            return np.where(
                whole,
                np.char.mod("%d", np.where(whole, values, 0).astype(np.int64)),
                np.char.mod("%.4g", values),
            ).astype(object)

        out = {}
        for column in self.frame.columns:
            col = self.frame[column]
            present = col.notna().to_numpy()
            if pd.api.types.is_datetime64_any_dtype(col.dtype):
                text = col.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
            elif pd.api.types.is_bool_dtype(col.dtype):
                text = col.astype(object).to_numpy()
            elif pd.api.types.is_numeric_dtype(col.dtype):
                text = fmt(col.astype("Float64").fillna(0).to_numpy(dtype=float))
            else:
                numeric = pd.to_numeric(col.where(col != _disclosure.SUPPRESSED), errors="coerce")
                is_number = numeric.notna().to_numpy() & col.map(lambda v: isinstance(v, int | float)).to_numpy()
                text = col.astype(object).to_numpy()
                text = np.where(is_number, fmt(numeric.fillna(0).to_numpy(dtype=float)), text)
            out[str(column)] = pd.Series(np.where(present, text, ""), index=self.frame.index, dtype=object)
        return pd.DataFrame(out, index=self.frame.index)

    def _repr_html_(self) -> str:
        body = self._display().to_html(index=False, border=0, classes="table")
        if self.caption:
            body = re.sub(
                r"^(<table[^>]*>)", lambda m: f"{m.group(1)}\n  <caption>{html.escape(self.caption)}</caption>", body, count=1
            )
        return body

    def __repr__(self) -> str:
        body = self._display().to_string(index=False)
        return f"{self.caption}\n{body}" if self.caption else body


def show(frame: pd.DataFrame, params: Params | None = None, *, caption: str | None = None) -> Table:
    """Display ``frame`` as a report table (no index; 4 significant digits).

    The released files keep their ``suppressed`` flag column; on screen the
    ``[suppressed]`` markers say the same, so the flag column is left out. With
    ``params`` the table is shown in the report's language (:func:`labelled`): labels of
    known values, such as headline figures and attrition steps, and the suppression
    marker; the released files keep the identifiers. Column headers are labelled on the
    report page.

    Examples
    --------
    >>> from cohort.params import from_mapping
    >>> p = from_mapping({"name": "d", "title": "D", "language": "nl", "delivery": "x",
    ...                   "reference_date": "2024-12-31"}, check_delivery=False)
    >>> show(pd.DataFrame({"cause": ["moved away"], "n": [12]}), p)
       cause  n
    verhuisd 12
    """
    if isinstance(params, str):  # show(frame, "caption"), as before params was accepted
        params, caption = None, params
    if "suppressed" in frame.columns:
        frame = frame.drop(columns="suppressed")
    if params is not None:
        frame = labelled(frame, params.language)
    return Table(frame, caption)


def _check_releasable(frame: pd.DataFrame, name: str) -> None:
    ids = [c for c in frame.columns if str(c) in ID_COLUMNS]
    if ids:
        raise DisclosureError(
            f"table {name!r} has the identifier column {ids[0]!r}: released tables never "
            "carry pseudonyms or row identifiers; aggregate first"
        )


def _suppressed_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells disclosure control suppressed: True where a marker belongs.

    Tables from :func:`cohort.disclosure.apply_disclosure` (and the release functions built
    on it) carry ``attrs["disclosure"]`` naming their count and value columns and a boolean
    ``suppressed`` column; a suppressed cell is a missing value in one of those columns on
    a suppressed row.
    """
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    record = frame.attrs.get("disclosure")
    if not isinstance(record, dict) or "suppressed" not in frame.columns:
        return mask
    row = frame["suppressed"].fillna(False).to_numpy(dtype=bool)
    for column in [*record.get("count_columns", []), *record.get("value_columns", [])]:
        if column in frame.columns:
            mask[column] = row & frame[column].isna().to_numpy()
    return mask


def _text_column(column: pd.Series) -> pd.Series:
    """One column as released text: dates ``YYYY-MM-DD``, booleans ``true``/``false``,
    floats with 10 significant digits, missing values empty."""
    import numpy as np

    present = column.notna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        text = column.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    elif pd.api.types.is_bool_dtype(column.dtype):
        text = np.where(column.fillna(False).to_numpy(dtype=bool), "true", "false").astype(object)
    elif pd.api.types.is_float_dtype(column.dtype):
        values = column.astype("Float64").fillna(0).to_numpy(dtype=float)
        text = np.char.mod(FLOAT_FORMAT, values).astype(object)
    elif pd.api.types.is_integer_dtype(column.dtype):
        text = column.astype("Int64").fillna(0).astype("int64").astype(str).to_numpy(dtype=object)
    else:
        text = column.astype("string").fillna("").to_numpy(dtype=object)
    return pd.Series(np.where(present, text, ""), index=column.index, dtype=object)


def released_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The table exactly as written to CSV: every cell text, suppressed cells ``[suppressed]``.

    Examples
    --------
    >>> from cohort.disclosure import apply_disclosure
    >>> t = apply_disclosure(pd.DataFrame({"site": ["A", "B", "all"], "n": [40, 3, 43],
    ...                                    "share": [0.8, 0.06, 0.86]}),
    ...                      count_columns=["n"], group_columns=["site"], value_columns=["share"])
    >>> released_text(t).to_dict("list")["n"], released_text(t).to_dict("list")["share"]
    (['[suppressed]', '[suppressed]', '43'], ['[suppressed]', '[suppressed]', '0.86'])
    """
    mask = _suppressed_cells(frame)
    out = pd.DataFrame({c: _text_column(frame[c]) for c in frame.columns}, index=frame.index)
    out = out.mask(mask, _disclosure.SUPPRESSED)
    out.columns = [str(c) for c in out.columns]
    return out.reset_index(drop=True)


def released_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``[suppressed]`` in suppressed cells, for display; values kept."""
    mask = _suppressed_cells(frame)
    out = frame.copy()
    for column in mask.columns[mask.any().to_numpy()]:
        values = out[column].astype(object)
        values[mask[column].to_numpy()] = _disclosure.SUPPRESSED
        out[column] = values
    out.attrs = {}
    return out


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return released_text(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def release_table(
    frame: pd.DataFrame,
    name: str,
    params: Params,
    *,
    kind: str = "table",
    caption: str | None = None,
) -> pd.DataFrame:
    """Release ``frame`` as ``tables/<name>.csv`` (or ``figure-data/<name>.csv``).

    The frame must already have passed disclosure control (the analysis modules return
    controlled tables); this function refuses identifier columns, writes suppressed cells
    as ``[suppressed]`` and numbers with 10 significant digits, and records the release
    (kind, caption, disclosure policy) for the manifest. Nothing is written when
    ``params.output_dir`` is empty (a plain notebook run), so notebooks can always call it.

    Parameters
    ----------
    frame : DataFrame
        The aggregated, disclosure-controlled table, rows in a stable order.
    name : str
        File name without extension: lower-case letters, digits and ``_``.
    params : Params
        The notebook's parameters (output folder and disclosure policy).
    kind : {"table", "figure-data"}
    caption : str, optional
        What the table shows, recorded in the manifest; by default the caption of
        ``name`` in the report text (``captions`` section) in the report's language.

    Returns
    -------
    DataFrame
        The table as released (markers in suppressed cells), for display.

    Raises
    ------
    DisclosureError
        The frame has an identifier column.
    ParameterError
        A bad name or kind.
    """
    if kind not in KINDS:
        raise ParameterError(f"release kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not _NAME_RE.match(name):
        raise ParameterError(f"release name must be lower-case letters, digits and '_', got {name!r}")
    _check_releasable(frame, name)
    if caption is None:
        caption = caption_text(kind, name, params.language)
    out = released_frame(frame)
    if params.output_dir is None:
        return out
    folder = Path(params.output_dir)
    path = folder / KINDS[kind] / f"{name}.csv"
    meta_path = folder / _RELEASE_META / f"{KINDS[kind]}--{name}.json"
    if meta_path.exists():
        raise ReportError(f"{KINDS[kind]}/{name}.csv is released twice; give each release its own name")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_csv_bytes(frame))
    controlled = frame.attrs.get("disclosure")
    policy = params.disclosure.as_dict()
    prov.write_json(
        meta_path,
        {
            "file": f"{KINDS[kind]}/{name}.csv",
            "kind": kind,
            "caption": caption,
            "rows": int(len(out)),
            "columns": [str(c) for c in out.columns],
            "suppressed_cells": int(_suppressed_cells(frame).to_numpy().sum()),
            "disclosure_policy": policy,
            "disclosure": _plain(controlled) if controlled is not None else None,
        },
    )
    return out


def _plain(value):
    """JSON-safe copy of small metadata (policies, dicts, dataclasses)."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def figure(fig, name: str, params: Params, data: pd.DataFrame | None = None, *, caption: str | None = None):
    """Show ``fig`` in the notebook, release ``data`` behind it as ``figure-data/<name>.csv``.

    The figure is closed after display so it is not drawn twice.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    if data is not None:
        release_table(data, name, params, kind="figure-data", caption=caption)
    display(fig)
    plt.close(fig)


def load_delivery(params: Params):
    """Load the parameters' delivery (valid rows kept, rejections reported) for the sites.

    Validation errors do not stop a report: rejected rows are kept aside and counted, and
    the data-quality notebook shows them. With ``sites`` other than ``"all"`` every table
    is restricted to those sites (household-level tables through their household).

    Raises
    ------
    ParameterError
        A site in ``sites`` is not in the delivery.
    """
    import dataclasses

    from cohort.io import load

    delivery = load(params.delivery, on_error="proceed")
    if params.sites is None:
        return delivery
    known = set(delivery.sites["site"].astype(str))
    unknown = [s for s in params.sites if s not in known]
    if unknown:
        raise ParameterError(
            f"{params.source}: parameter 'sites' names {unknown[0]!r}, which is not a site of the "
            f"delivery; known sites: {', '.join(sorted(known))}"
        )
    wanted = list(params.sites)
    tables = dict(delivery.tables)
    for name in ("sites", "households", "episodes"):
        frame = tables[name]
        tables[name] = frame[frame["site"].isin(wanted).to_numpy()].reset_index(drop=True)
    households = tables["households"]["household_id"]
    for name in ("legal_measures", "safety_assessments", "referrals"):
        frame = tables[name]
        tables[name] = frame[frame["household_id"].isin(households).to_numpy()].reset_index(drop=True)
    return dataclasses.replace(delivery, tables=tables)


def previous_monitor(params: Params, tables) -> pd.DataFrame | None:
    """The monitor the earlier report released, for ``quarterly_series(..., previous=)``.

    * Built by ``cohort report --against EARLIER_REPORT``: that report's own
      ``tables/monitor.csv``, exactly as it was released.
    * Otherwise, with ``previous_reference_date`` set: the monitor as the earlier report
      computes it (:func:`cohort.measures.quarterly_series` by site on the previous
      reference date, same delivery, sites and disclosure settings). This is the earlier
      report's release when it was built from the same delivery and settings, as the
      interim and final parameter files are.
    * Otherwise ``None``: no earlier release to protect against.
    """
    from cohort.measures import quarterly_series, read_released

    if params.output_dir is not None:
        staged = Path(params.output_dir) / _RELEASE_META / _PREVIOUS_MONITOR
        if staged.is_file():
            return read_released(staged)
    if params.previous_reference_date is None:
        return None
    return quarterly_series(
        tables,
        params.previous_reference_date,
        by="site",
        policy=params.disclosure,
        study_start=params.study_start,
    )


def changes_since(tables, params: Params, *, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """The monitor's headline figures on the previous and the current reference date.

    One row per headline figure (all sites): ``figure, kind, previous_date, previous_n,
    previous_value, current_date, current_n, current_value, change`` where ``change`` is
    ``current_value - previous_value``. Both sides are the all-sites rows of
    :func:`cohort.measures.monitor_summary` by site with the report's disclosure policy,
    the same cells as the monitor tables: the previous side from ``previous`` (the monitor
    the earlier report released, default :func:`previous_monitor`), the current side
    protected against it. A figure suppressed on either date has its change suppressed
    (``suppressed`` column, recorded in ``attrs["disclosure"]``). A change of a count
    smaller than the threshold (with rounding ``r``: when ``|change| + r`` is below it),
    for example fewer than 10 new households, is itself a small count: the change and the
    current side are suppressed.

    Raises
    ------
    ParameterError
        ``previous_reference_date`` is empty.
    """
    from cohort.disclosure import disclosure_record
    from cohort.measures import monitor_summary

    if params.previous_reference_date is None:
        raise ParameterError(f"{params.source}: parameter 'previous_reference_date' is empty: nothing to compare with")
    if previous is None:
        previous = previous_monitor(params, tables)

    def side(date, prefix, series=None, against=None):
        summary = monitor_summary(
            tables,
            date,
            by="site",
            policy=params.disclosure,
            study_start=params.study_start,
            series=series,
            previous=against,
        )
        summary = summary.loc[(summary["site"].astype(str) == "all").to_numpy()]
        # Values from the released counts, as evaluate computes them: the same numbers
        # whether the earlier release was computed here or read back from its CSV file.
        numerator = summary["numerator"].astype("Float64")
        ratio = numerator / summary["denominator"].astype("Float64").where(lambda d: d > 0)
        value = numerator.where((summary["kind"] == "count").to_numpy(), ratio)
        value = value.where(summary["value"].notna().to_numpy(), pd.NA)
        out = pd.DataFrame(
            {
                "figure": summary["figure"].astype(str),
                "kind": summary["kind"].astype(str),
                f"{prefix}_date": summary["interval_end"],
                f"{prefix}_n": summary["numerator"].astype("Int64"),
                f"{prefix}_value": value.astype("Float64").to_numpy(),
                f"{prefix}_suppressed": summary["suppressed"].fillna(False).astype(bool),
            }
        )
        return out

    earlier = previous
    previous = side(params.previous_reference_date, "previous", series=earlier)
    current = side(params.reference_date, "current", against=earlier)
    # In the order of the current headline figures; a figure new since then has no previous side.
    out = current.merge(previous, on=["figure", "kind"], how="left", sort=False)
    out = out[["figure", "kind", *previous.columns[2:], *current.columns[2:]]]
    hidden = (
        out["previous_suppressed"].astype("boolean").fillna(True) | out["current_suppressed"].astype("boolean").fillna(True)
    ).to_numpy(dtype=bool)
    out["change"] = (out["current_value"] - out["previous_value"]).astype("Float64")
    # A change of a count is a count of units itself (new households, new measures):
    # below the threshold it is suppressed, with the current side it follows from.
    slack = (params.disclosure.rounding or 0) if params.disclosure.enabled else 0
    small = (
        (out["kind"] == "count").to_numpy()
        & (out["change"].abs() + slack < params.disclosure.threshold).fillna(False).to_numpy(dtype=bool)
        & params.disclosure.enabled
    )
    out.loc[small, ["current_n", "current_value"]] = pd.NA
    hidden |= small
    out.loc[hidden, "change"] = pd.NA
    out["suppressed"] = pd.array(hidden, dtype="boolean")
    out = out.drop(columns=["previous_suppressed", "current_suppressed"])
    out.attrs["disclosure"] = disclosure_record(
        params.disclosure,
        count_columns=["previous_n", "current_n"],
        value_columns=["previous_value", "current_value", "change"],
        n_suppressed=int(hidden.sum()),
    )
    return out


# --------------------------------------------------------------------------------------
# Running notebooks
# --------------------------------------------------------------------------------------


def _failure_message(error: Exception, notebook: Path, executed: Path | None) -> str:
    """ReportError text naming the notebook, the failing cell and the error."""
    cell_index = getattr(error, "cell_index", None)
    ename = getattr(error, "ename", type(error).__name__)
    evalue = getattr(error, "evalue", str(error))
    where = f"notebook {notebook.name}"
    if cell_index is not None:
        where += f", cell {cell_index}"
        source = ""
        with contextlib.suppress(Exception):
            import nbformat

            nb = nbformat.read(str(executed), as_version=4)
            source = nb.cells[cell_index].source.strip().splitlines()
            source = source[0] if source else ""
        if source:
            where += f" ({source[:80]})"
    kept = f"; the executed notebook with the error is {executed}" if executed else ""
    return f"{where} failed: {ename}: {evalue}{kept}"


def execute_notebook(notebook: Path, output: Path, parameters: dict) -> None:
    """Run one notebook with papermill; papermill errors become :class:`ReportError`."""
    import papermill as pm

    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            progress_bar=False,
            request_save_on_cell_execute=False,
            log_output=False,
        )
    except pm.PapermillExecutionError as error:
        raise ReportError(_failure_message(error, notebook, output)) from None
    except CohortError:
        raise
    except Exception as error:  # kernel died, notebook unreadable, ...
        raise ReportError(_failure_message(error, notebook, output if output.exists() else None)) from None


@contextlib.contextmanager
def _kernel_environment():
    """Environment the kernels inherit: fixed hash seed and timestamp, inline plots, and a
    ``python3`` kernel that is this very Python.

    The kernel spec is written to a temporary folder put first on ``JUPYTER_PATH``, so a
    user-level ``python3`` kernel pointing at another Python (without this package) is
    never picked up by a report build.
    """
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cohort-kernel-") as tmp:
        spec = Path(tmp) / "kernels" / KERNEL_NAME
        spec.mkdir(parents=True)
        prov.write_json(
            spec / "kernel.json",
            {
                # log level ERROR: keeps kernel start-up notices (transport warnings) off the console
                "argv": [sys.executable, "-m", "ipykernel_launcher", "--log-level=ERROR", "-f", "{connection_file}"],
                "display_name": "Python 3 (cohort)",
                "language": "python",
            },
        )
        old_path = os.environ.get("JUPYTER_PATH")
        wanted = {
            "PYTHONHASHSEED": "0",
            "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
            "JUPYTER_PATH": tmp + (os.pathsep + old_path if old_path else ""),
        }
        saved = {k: os.environ.get(k) for k in (*wanted, "MPLBACKEND")}
        os.environ.update(wanted)
        os.environ.pop("MPLBACKEND", None)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _run_all(
    jobs_list: Sequence[tuple[Path, Path, dict]], jobs: int, progress: bool, label: str
) -> None:
    """Run notebooks, ``jobs`` at a time; the first failure cancels the rest and is raised."""
    from tqdm.auto import tqdm

    jobs = max(1, int(jobs))
    with _kernel_environment(), ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(execute_notebook, *job): job[0] for job in jobs_list}
        bar = tqdm(total=len(futures), desc=label, unit="notebook", disable=not progress)
        try:
            for future in as_completed(futures):
                error = future.exception()
                if error is not None:
                    for other in futures:
                        other.cancel()
                    raise error
                bar.set_postfix_str(futures[future].stem)
                bar.update()
        finally:
            bar.close()


def notebook_paths(root: Path | None = None, names: Iterable[str] = NOTEBOOKS) -> list[Path]:
    """The report's notebooks under ``root/notebooks``; a missing one is a ReportError."""
    folder = (root or repo_root()) / "notebooks"
    paths = [folder / f"{name}.ipynb" for name in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ReportError(f"notebook {missing[0]} not found; the report needs {', '.join(names)}")
    return paths


# --------------------------------------------------------------------------------------
# Building a report
# --------------------------------------------------------------------------------------


def build_report(
    params: str | Path | Params,
    *,
    jobs: int = 2,
    reports_root: str | Path | None = None,
    progress: bool = True,
    notebooks: Iterable[str] = NOTEBOOKS,
    required_tables: Iterable[str] = REQUIRED_TABLES,
    root: Path | None = None,
    against: str | Path | None = None,
) -> Path:
    """Build ``reports/<name>/`` for a parameter set and return its path.

    Parameters
    ----------
    params : path or Params
        The parameter file (or checked parameters, e.g. from a report's provenance).
    jobs : int
        Notebooks run at the same time (each in its own kernel).
    reports_root : path, optional
        Folder holding the reports (default ``<repo>/reports``).
    progress : bool
        Show a progress bar.
    notebooks : names
        Notebook stems to run, in report order (default :data:`NOTEBOOKS`).
    required_tables : names
        Tables the build must release; a missing one fails the build.
    root : Path, optional
        Repository root (default :func:`cohort.params.repo_root`).
    against : path, optional
        A report released before (e.g. the interim report): its released monitor is what
        the monitor notebook protects against (:func:`previous_monitor`; without it, the
        monitor on ``previous_reference_date`` is recomputed from the delivery), and the
        release check also runs :func:`cohort.release.check_differencing` against it.

    Raises
    ------
    ReportError
        A notebook failed (message: notebook, cell, error), a required table is missing,
        or the release check found a problem. The previous report is left unchanged.
    """
    from cohort.release import check_release, format_findings

    root = root or repo_root()
    if not isinstance(params, Params):
        params = load_params(params)
    notebooks = tuple(notebooks)
    sources = notebook_paths(root, notebooks)
    reports_root = Path(reports_root) if reports_root else root / "reports"
    reports_root.mkdir(parents=True, exist_ok=True)
    final = reports_root / params.name
    staging = reports_root / f".{params.name}.building"
    failed = reports_root / f".{params.name}.failed"
    shutil.rmtree(staging, ignore_errors=True)
    for sub in ("notebooks", *KINDS.values()):
        (staging / sub).mkdir(parents=True)
    started = prov.utc_now()
    try:
        _prewarm(params)
        if against is not None:
            _stage_previous_monitor(Path(against), staging)
        parameters = params.notebook_parameters(output_dir=str(staging))
        runs = [(src, staging / "notebooks" / src.name, parameters) for src in sources]
        _run_all(runs, jobs, progress, f"report {params.name}")
        for src in sources:
            executed = staging / "notebooks" / src.name
            nb = prov.normalise_notebook(
                _read_notebook(executed), {str(staging): f"reports/{params.name}"}
            )
            prov.write_notebook(nb, executed)
        releases = _collect_releases(staging)
        missing = [t for t in required_tables if f"tables/{t}.csv" not in releases]
        if missing:
            raise ReportError(
                f"report {params.name}: no notebook released the required table "
                f"tables/{missing[0]}.csv; each of {', '.join(required_tables)} must be released"
            )
        findings = check_release(staging, policy=params.disclosure, against=against)
        if findings:
            raise ReportError(
                f"report {params.name}: the release check failed:\n" + format_findings(findings)
            )
        provenance = _provenance(params, root, sources, started)
        prov.write_json(staging / "provenance.json", provenance)
        html_text = render_html(params, staging, sources, releases, provenance, root)
        (staging / "report.html").write_text(html_text, encoding="utf-8")
        prov.write_json(staging / "manifest.json", _manifest(staging, releases, params))
    except BaseException:
        shutil.rmtree(failed, ignore_errors=True)
        if staging.exists():
            staging.rename(failed)
        raise
    _swap_in(staging, final)
    shutil.rmtree(failed, ignore_errors=True)
    return final


def _stage_previous_monitor(against: Path, staging: Path) -> None:
    """Put the earlier report's released monitor where :func:`previous_monitor` finds it."""
    source = against / "tables" / "monitor.csv"
    if not source.is_file():
        raise ReportError(
            f"--against {against}: no released monitor {source}; name the folder of a report "
            "built by cohort report (e.g. reports/interim-2024q4)"
        )
    meta = staging / _RELEASE_META
    meta.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, meta / _PREVIOUS_MONITOR)


def _prewarm(params: Params) -> None:
    """Load the delivery once before the notebooks run.

    This fills the loader's Parquet cache, so notebooks running side by side read it instead
    of validating the delivery at the same time, and a delivery that cannot be read stops
    the build before any kernel starts.
    """
    from cohort.io import load

    load(params.delivery, on_error="proceed")


def _read_notebook(path: Path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging``: two renames, the old report restored on failure."""
    previous = final.with_name(f".{final.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        final.rename(previous)
    try:
        staging.rename(final)
    except OSError:
        if previous.exists():
            previous.rename(final)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _collect_releases(staging: Path) -> dict[str, dict]:
    """Release records written by :func:`release_table`, keyed by file; folder removed."""
    meta = staging / _RELEASE_META
    records = {}
    if meta.is_dir():
        for path in sorted(meta.glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            records[record["file"]] = record
        shutil.rmtree(meta)
    on_disk = {
        p.relative_to(staging).as_posix()
        for sub in KINDS.values()
        for p in (staging / sub).glob("*")
        if p.is_file()
    }
    stray = sorted(on_disk - set(records))
    if stray:
        raise ReportError(
            f"{stray[0]} was written without cohort.report.release_table; released files "
            "must go through it so they are recorded and checked"
        )
    return dict(sorted(records.items()))


def _provenance(params: Params, root: Path, sources: Sequence[Path], started: str) -> dict:
    from cohort.io import delivery_hashes, fingerprint_of

    inputs = prov.hash_files([params.delivery], root)
    code_files = [*sources, root / "docs" / "definitions.md"]
    if params.source:
        code_files.append(Path(params.source))
    code_inputs = prov.hash_files([p for p in code_files if p.exists()], root)
    return {
        "report": params.name,
        "parameter_file": _rel(params.source, root) if params.source else None,
        "parameters": params.notebook_parameters(),
        "seeds": {"seed": params.seed, "PYTHONHASHSEED": "0"},
        "git": prov.git_info(root),
        "inputs": {"delivery": inputs, "code": code_inputs},
        "delivery_fingerprint": fingerprint_of(delivery_hashes(params.delivery)),
        "versions": prov.package_versions(),
        "started": started,
        "finished": prov.utc_now(),
    }


def _rel(path: str | Path, root: Path) -> str:
    with contextlib.suppress(ValueError):
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    return str(path)


def _release_status(record: dict, policy) -> str:
    """Disclosure-control status of a released file, for the manifest."""
    if not policy.enabled:
        return "not controlled: not for release"
    applied = (record.get("disclosure") or {}).get("applied")
    how = "disclosure control applied" if applied else "no disclosure record (model estimates or test statistics)"
    return f"passed the release check; {how}"


def _manifest(staging: Path, releases: dict[str, dict], params: Params) -> dict:
    """Every file of the report with its sha256, size and disclosure-control status."""
    policy = params.disclosure
    files = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        rel = path.relative_to(staging).as_posix()
        if rel == "manifest.json":
            continue
        entry = {"sha256": prov.sha256_file(path), "bytes": path.stat().st_size}
        if rel in releases:
            record = releases[rel]
            entry.update(
                kind=record["kind"],
                caption=record["caption"],
                rows=record["rows"],
                suppressed_cells=record["suppressed_cells"],
                disclosure=_release_status(record, policy),
            )
        elif rel.startswith("notebooks/"):
            entry.update(kind="notebook", disclosure="shows released tables and figures only")
        elif rel == "report.html":
            entry.update(kind="report", disclosure="shows released tables and figures only")
        else:
            entry.update(kind="provenance", disclosure="no data")
        files[rel] = entry
    return {
        "report": params.name,
        "disclosure_policy": policy.as_dict(),
        "files": files,
    }


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


def _kind_label(kind: str, language: str) -> str:
    """``figure-data`` -> ``figuurgegevens`` (nl); unknown kinds stay as they are."""
    try:
        return _lookup(f"report.kinds.{kind}", language)
    except KeyError:
        return kind


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
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
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


# --------------------------------------------------------------------------------------
# Rebuilding and refreshing
# --------------------------------------------------------------------------------------


def rebuild_report(
    report_dir: str | Path, *, jobs: int = 2, progress: bool = True, root: Path | None = None
) -> dict:
    """Rebuild a report from its ``provenance.json`` and compare it byte for byte.

    The inputs recorded in the provenance must be unchanged (else a ReportError names the
    first changed file). The rebuild goes to a temporary folder next to the report, and
    the report itself is not touched.

    Returns
    -------
    dict
        ``{"identical": [...], "different": [...], "missing": [...], "extra": [...],
        "commit": {"built": ..., "now": ...}}`` over tables, figure data and notebooks.
    """
    report_dir = Path(report_dir)
    root = root or repo_root()
    provenance_path = report_dir / "provenance.json"
    if not provenance_path.is_file():
        raise ReportError(f"{provenance_path} not found: {report_dir} is not a report folder")
    provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
    manifest = json.loads((report_dir / "manifest.json").read_text(encoding="utf-8"))
    params = from_mapping(provenance["parameters"], source=str(provenance_path), root=root)
    recorded = provenance["inputs"]["delivery"]
    current = prov.hash_files([params.delivery], root)
    changed = sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
    if changed:
        raise ReportError(
            f"cannot rebuild {report_dir}: input file {changed[0]} changed since the report was "
            "built (sha256 differs or the file is missing/new); restore the delivery it was built from"
        )
    scratch = report_dir.parent / f".{report_dir.name}.rebuild"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        stems = [Path(f).stem for f in manifest["files"] if f.startswith("notebooks/")]
        order = [n for n in NOTEBOOKS if n in stems] + sorted(set(stems) - set(NOTEBOOKS))
        required = [t for t in REQUIRED_TABLES if f"tables/{t}.csv" in manifest["files"]]
        rebuilt = build_report(
            params,
            jobs=jobs,
            reports_root=scratch,
            progress=progress,
            notebooks=order,
            required_tables=required,
            root=root,
        )
        new_manifest = json.loads((rebuilt / "manifest.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def compared(files):
        return {
            k: v["sha256"]
            for k, v in files.items()
            if k.split("/", 1)[0] in ("tables", "figure-data", "notebooks")
        }

    old, new = compared(manifest["files"]), compared(new_manifest["files"])
    return {
        "identical": sorted(k for k in old if new.get(k) == old[k]),
        "different": sorted(k for k in old if k in new and new[k] != old[k]),
        "missing": sorted(set(old) - set(new)),
        "extra": sorted(set(new) - set(old)),
        "commit": {
            "built": provenance["git"].get("commit"),
            "built_dirty": provenance["git"].get("dirty"),
            "now": prov.git_info(root)["commit"],
        },
    }


def refresh_notebooks(
    params_path: str | Path | None = None,
    *,
    jobs: int = 2,
    progress: bool = True,
    names: Iterable[str] = NOTEBOOKS,
    root: Path | None = None,
) -> list[Path]:
    """Re-execute the committed notebooks in place on their own parameters, normalised.

    Each notebook's ``parameters`` cell already holds the interim parameter set; this
    checks that it agrees with ``params_path`` (default ``parameters/interim-2024q4.yaml``)
    and runs the notebook without injecting anything, so the committed notebook shows
    exactly what a reviewer gets from running it. Nothing is written unless every notebook
    runs: outputs go to a temporary folder first.
    """
    root = root or repo_root()
    params_path = Path(params_path) if params_path else root / "parameters" / "interim-2024q4.yaml"
    params = load_params(params_path)
    expected = params.notebook_parameters()
    sources = notebook_paths(root, names)
    for src in sources:
        found = notebook_parameters(src)
        if found != expected:
            keys = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
            raise ReportError(
                f"{src.name}: parameter {keys[0]!r} in the parameters cell is "
                f"{found.get(keys[0])!r} but {params_path.name} has {expected.get(keys[0])!r}; "
                "make the parameters cell match the interim parameter file"
            )
    _prewarm(params)
    scratch = root / "notebooks" / ".refresh"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        _run_all([(src, scratch / src.name, {}) for src in sources], jobs, progress, "notebooks")
        for src in sources:
            nb = prov.normalise_notebook(_read_notebook(scratch / src.name))
            prov.write_notebook(nb, scratch / src.name)
        for src in sources:
            os.replace(scratch / src.name, src)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sources


__all__ += ["value_labels", "labelled", "plot_labels", "caption_text", "report_text", "released_frame", "notebook_body", "render_html", "notebook_paths", "resolve_path"]
