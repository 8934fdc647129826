"""The notebook API: one call sets up the report context; ``table``, ``figure`` and ``text`` do the rest.

A report notebook reads like the analysis it runs::

    report = start(globals())            # right after the parameters cell
    delivery = report.delivery
    km = KaplanMeier(conf_type="log").fit(followup, "time", "event")
    report.figure("reregistration_km", plot_km, km, risk_months=range(0, 25, 3),
                  xlabel="reregistration.months_since_closure",
                  ylabel="reregistration.not_reregistered")
    report.table(km, "reregistration_km")

:func:`start` checks the parameters, fixes the display and plot settings and builds a
:class:`Report`: the policy, the language and the report folder live there, never in the
notebook. :meth:`Report.table` releases an analysis result under the report's disclosure
policy (:func:`cohort.disclosure.release.release`), writes it through the one gate
(:class:`cohort.disclosure.writer.ReleaseFolder`) and shows it; :meth:`Report.figure`
releases the tables a figure draws, writes them as figure data and draws exactly them;
:meth:`Report.text` shows report text in the report's language. Outside ``cohort
report`` (``output_dir`` empty) everything is checked the same way and nothing is written.

What a notebook shows carries metadata for the report page (``metadata["cohort"]``):
``{"kind": "table", "name", "caption", "columns": {column: role}}`` for a table and
``{"kind": "figure", "name", "caption", "alt", "data": [files]}`` for a figure.
"""

from __future__ import annotations

import base64
import functools
import html
import inspect
import io
import os
import re

import numpy as np
import pandas as pd

from cohort.disclosure.policy import SUPPRESSED
from cohort.disclosure.writer import KINDS, ReleaseFolder, released_frame
from cohort.exceptions import ParameterError
from cohort.report.params import Params, from_namespace
from cohort.report.text import (
    Markdown,
    caption_text,
    labelled,
    plot_labels,
    report_text,
    text_exists,
)
from cohort.roles import column_roles

__all__ = ["start", "Report", "TableView", "FigureView", "SOURCE_DATE_EPOCH"]

#: Fixed timestamp (31 December 2024) for anything that embeds one.
SOURCE_DATE_EPOCH = "1735603200"

#: Where a build stages the earlier report's released monitor (``--against``).
PREVIOUS_MONITOR = "previous-monitor.csv"

_LABEL_OPTIONS = re.compile(r"(^|_)(x|y)?label$|^title$|^legend_title$")


def start(namespace) -> Report:
    """Set up the report context from a notebook's namespace (``globals()``).

    Checks the parameters the ``parameters`` cell (or papermill) set, as a parameter file
    is checked; fixes pandas' display settings and matplotlib's (inline figures without
    software metadata, a fixed timestamp), so outputs do not vary between runs.

    Raises
    ------
    ParameterError
        A parameter is missing or has a bad value.
    """
    params = from_namespace(namespace)
    _settings()
    return Report(params)


def _settings() -> None:
    os.environ.setdefault("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_columns", 50)
    pd.set_option("display.width", 120)
    pd.set_option("display.float_format", "{:.4g}".format)


@functools.cache
def _matplotlib():
    """matplotlib with the report's settings; imported when the first figure is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update(
        {
            "figure.figsize": (8.0, 4.5),
            "figure.dpi": 96,
            "savefig.dpi": 150,
            "svg.hashsalt": "cohort",
            "svg.fonttype": "path",
            "font.family": "DejaVu Sans",
            "axes.grid": True,
            "grid.color": "0.9",
        }
    )
    return plt


class Report:
    """The context of one report in a notebook: parameters, policy, language, gate.

    Build it with :func:`start`. Attributes: ``params`` (:class:`cohort.report.params.Params`),
    ``language``, ``reference_date`` and ``study_start`` (timestamps),
    ``previous_reference_date`` (timestamp or ``None``).
    """

    def __init__(self, params: Params):
        self.params = params
        self.language = params.language
        self.reference_date = pd.Timestamp(params.reference_date)
        self.study_start = pd.Timestamp(params.study_start)
        self.previous_reference_date = (
            pd.Timestamp(params.previous_reference_date) if params.previous_reference_date else None
        )
        self._policy = params.disclosure
        self._gate = ReleaseFolder(params.output_dir, self._policy)
        self._delivery = None
        self._previous = ...
        self._further = ...

    def __repr__(self) -> str:
        return f"<Report {self.params.name}: {self.language}, reference date {self.reference_date.date()}>"

    # -- data ------------------------------------------------------------------------
    @property
    def delivery(self):
        """The parameters' delivery, restricted to the report's sites (loaded once).

        Validation errors do not stop a report: rejected rows are kept aside and counted,
        and the data-quality notebook shows them.
        """
        if self._delivery is None:
            from cohort.definitions.population import restrict_to_sites
            from cohort.delivery.load import load

            delivery = load(self.params.delivery, on_error="proceed")
            self._delivery = restrict_to_sites(delivery, self.params.sites, source=self.params.source)
        return self._delivery

    # -- text ------------------------------------------------------------------------
    def text(self, key: str, *, level: int | None = None, **fields) -> Markdown:
        """Report text ``key`` in the report's language; ``level`` makes it a heading."""
        from cohort.report.text import text

        return text(key, self.params, level=level, **fields)

    def label(self, key: str, **fields) -> str:
        """Report text ``key`` as plain text (for a figure's axis, a legend)."""
        return report_text(key, self.language, **fields)

    # -- releases --------------------------------------------------------------------
    def protect(self, obj, **options) -> pd.DataFrame:
        """The released table of ``obj`` under the report's policy, without writing it: for a
        view of cells another notebook of the report releases (the same rule on the same
        data gives the same cells, and the build's further suppressions of those cells
        apply to the view as to the file)."""
        return self._protect(obj, None, options)

    def _protect(self, obj, file: str | None, options: dict) -> pd.DataFrame:
        """The release rule of ``obj``, then the cells the build suppresses further in
        ``file`` to protect the release against itself and the ledger
        (:mod:`cohort.disclosure.protect`); without a file (a view), those of the released
        file this table is a view of."""
        from cohort.disclosure.protect import apply_suppressions, released_digest
        from cohort.disclosure.release import release

        if type(obj).__name__ == "MeasureCounts" and "previous" not in options:
            same_date = pd.Timestamp(obj.reference_date) == self.reference_date
            options["previous"] = self.previous_monitor() if same_date else None
        released = release(obj, self._policy, **options)
        further = self._suppressions()
        if file is None and self._gate.folder is not None:
            digest = released_digest(released)
            self._gate.note_view(digest)
            return apply_suppressions(released, further.for_file(None, digest) if further else [])
        return apply_suppressions(released, further.for_file(file) if further else [])

    def _suppressions(self):
        """The further suppressions a build handed this report (``None`` outside a second
        pass)."""
        if self._further is ...:
            from cohort.disclosure.protect import SUPPRESSIONS, Suppressions

            staged = self._gate.staged_input(SUPPRESSIONS)
            self._further = Suppressions.from_json(staged.read_text(encoding="utf-8")) if staged else None
        return self._further

    def release(self, obj, name: str, *, kind: str = "table", caption: str | None = None,
                exemption: str | None = None, **options) -> pd.DataFrame:
        """Release ``obj`` under the report's policy and write it as ``tables/NAME.csv``
        (or ``figure-data/NAME.csv``); return the released table (suppressed cells
        missing, its disclosure record in ``attrs``).

        ``obj`` is whatever :func:`cohort.disclosure.release.release` accepts; ``options``
        go to its rule. The monitor's counts on the reference date are protected against
        the monitor the earlier report released (:meth:`previous_monitor`). A table that
        holds no counts of units may be released with an ``exemption`` reason instead,
        which the manifest shows.
        """
        if exemption is not None and isinstance(obj, pd.DataFrame) and obj.attrs.get("disclosure") is None:
            released = obj
        else:
            released = self._protect(obj, f"{KINDS[kind]}/{name}.csv" if kind in KINDS else None, options)
        if caption is None:
            caption = caption_text(kind, name, self.language)
        about = None
        if not isinstance(obj, pd.DataFrame) and callable(getattr(obj, "describe", None)):
            about = obj.describe()
        self._gate.release(released, name, kind=kind, caption=caption, exemption=exemption,
                           about=about if isinstance(about, dict) else None)
        return released

    def table(self, obj, name: str, *, caption: str | None = None, exemption: str | None = None,
              columns=None, **options) -> TableView:
        """Release ``obj`` as ``tables/NAME.csv`` (see :meth:`release`) and show it.

        ``columns`` selects the columns shown (the file holds them all).
        """
        released = self.release(obj, name, caption=caption, exemption=exemption, **options)
        caption = caption if caption is not None else caption_text("table", name, self.language)
        shown = released if columns is None else released[list(columns)]
        return TableView(shown, self.language, caption=caption, name=name)

    def show(self, frame: pd.DataFrame, *, caption: str | None = None, index=None, columns=None,
             values=None) -> TableView:
        """Show a view of released tables (a selection, or a pivot with ``index``,
        ``columns`` and ``values``) in the report's language.

        Nothing is written: the numbers shown are those of the released tables the view
        was made from, suppressed cells marked as in those tables.
        """
        if index is not None or columns is not None or values is not None:
            frame = (
                released_frame(frame)
                .pivot_table(index=index, columns=columns, values=values, aggfunc="first", sort=False)
                .reset_index()
            )
        return TableView(frame, self.language, caption=caption)

    def figure(self, name: str, plot, data, *, caption: str | None = None, alt: str | None = None,
               **options) -> FigureView:
        """Release the tables a figure draws, write them as figure data and draw them.

        Parameters
        ----------
        name : str
            The figure's name: its main table is ``figure-data/NAME.csv``, further tables
            ``figure-data/NAME_<part>.csv`` (e.g. ``_at_risk`` for the numbers at risk).
        plot : callable
            A plot function of :mod:`cohort.plots` (it takes released tables only).
        data
            An analysis result the plot function's rule releases (a fitted
            :class:`~cohort.stats.kaplan_meier.KaplanMeier`, ...), a table, or a dict of
            tables keyed by release name (``""``: ``name``).
        caption, alt : str, optional
            Default: the figure's caption in the report text; the alt text says what the
            figure shows, from the caption and the axis labels.
        **options
            For the release rule (e.g. ``risk_months``) or the plot (labels: a report-text
            key such as ``"reregistration.months_since_closure"`` is shown in the report's
            language).
        """
        from cohort.disclosure.release import figure_data
        from cohort.plots.base import tables_for

        rule = tables_for(plot)
        rule_options, plot_options = {}, {}
        accepted = set(inspect.signature(rule).parameters) if rule is not None else set()
        for key, value in options.items():
            if key == "risk_months":
                rule_options["risk_times"] = [float(m) * _days_per_month() for m in value]
            elif key in accepted:
                rule_options[key] = value
            else:
                plot_options[key] = value
        if rule is not None and not isinstance(data, dict | pd.DataFrame):
            tables = rule(data, self._policy, **rule_options)
        else:
            if rule_options:
                raise ParameterError(f"options {sorted(rule_options)} apply to analysis results only")
            tables = figure_data(data, self._policy)
        files = []
        for key, table in list(tables.items()):
            file_name = name if key == "" else (name + key if key.startswith("_") else key)
            # the figure draws the tables as released (with the build's further suppressions)
            tables[key] = self.release(table, file_name, kind="figure-data")
            files.append(f"{KINDS['figure-data']}/{file_name}.csv")
        for key, value in list(plot_options.items()):
            if isinstance(value, str) and _LABEL_OPTIONS.search(key) and text_exists(value):
                plot_options[key] = self.label(value)
        label_set = getattr(plot, "label_set", None)
        if label_set and "labels" not in plot_options:
            plot_options["labels"] = plot_labels(label_set, self.params)
        plt = _matplotlib()
        figure = plot(*tables.values(), **plot_options)
        caption = caption if caption is not None else (caption_text("figure-data", name, self.language) or "")
        if alt is None:
            axes = [a for a in figure.axes if a.get_xlabel() or a.get_ylabel()]
            described = "; ".join(
                part for a in axes for part in (a.get_ylabel(), a.get_xlabel()) if part
            )
            alt = f"{caption}. {described}." if described else caption
        view = FigureView(figure, name=name, caption=caption, alt=alt, files=files)
        plt.close(figure)
        return view

    # -- the earlier report ------------------------------------------------------------
    def previous_monitor(self) -> pd.DataFrame | None:
        """The monitor the earlier report released, to protect this report against it.

        * Built by ``cohort report --against EARLIER_REPORT``: that report's own
          ``tables/monitor.csv``, exactly as it was released.
        * Otherwise, with ``previous_reference_date`` set: the monitor as the earlier
          report computes it (the monitor by site on the previous reference date, same
          delivery, sites and disclosure settings).
        * Otherwise ``None``: no earlier release to protect against.
        """
        if self._previous is not ...:
            return self._previous
        from cohort.disclosure.monitor import read_released
        from cohort.disclosure.release import release
        from cohort.monitor.series import quarterly_counts

        staged = self._gate.staged_input(PREVIOUS_MONITOR)
        if staged is not None:
            self._previous = read_released(staged)
        elif self.previous_reference_date is None:
            self._previous = None
        else:
            counts = quarterly_counts(self.delivery, self.previous_reference_date, by="site",
                                      study_start=self.study_start)
            self._previous = release(counts, self._policy)
        return self._previous


@functools.cache
def _days_per_month() -> float:
    from cohort.stats.kaplan_meier import DAYS_PER_MONTH

    return DAYS_PER_MONTH


# ----------------------------------------------------------------------------- views


class TableView:
    """A table as the report shows it: deterministic HTML and plain text, no index.

    Suppressed cells show the marker; the ``suppressed`` flag column of the released file
    is left out (the markers say the same). Known values (headline figures, attrition
    steps, ...) are shown in the report's language; column headers are labelled on the
    report page.
    """

    def __init__(self, frame: pd.DataFrame, language: str, *, caption: str | None = None,
                 name: str | None = None):
        self.roles = column_roles(frame)
        if isinstance(frame.attrs.get("disclosure"), dict):
            frame = released_frame(frame)
        frame = frame.drop(columns="suppressed") if "suppressed" in frame.columns else frame
        self.frame = labelled(frame, language)
        self.caption = caption
        self.name = name

    def _display(self) -> pd.DataFrame:
        """Every cell as display text: whole numbers without decimals, others to 4
        significant digits, dates as YYYY-MM-DD, missing values empty."""

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
                numeric = pd.to_numeric(col.where(col != SUPPRESSED), errors="coerce")
                is_number = numeric.notna().to_numpy() & col.map(lambda v: isinstance(v, int | float)).to_numpy()
                text = col.astype(object).to_numpy()
                text = np.where(is_number, fmt(numeric.fillna(0).to_numpy(dtype=float)), text)
            out[str(column)] = pd.Series(np.where(present, text, ""), index=self.frame.index, dtype=object)
        return pd.DataFrame(out, index=self.frame.index)

    def _html(self) -> str:
        body = self._display().to_html(index=False, border=0, classes="table")
        attributes = f' data-release="tables/{self.name}.csv"' if self.name else ""
        caption = f"\n  <caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return re.sub(r"^<table([^>]*)>", lambda m: f"<table{m.group(1)}{attributes}>{caption}", body, count=1)

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/html": self._html(), "text/plain": repr(self)}
        meta = {"cohort": {"kind": "table", "name": self.name, "caption": self.caption, "columns": self.roles}}
        return data, meta

    def _repr_html_(self) -> str:
        return self._html()

    def __repr__(self) -> str:
        body = self._display().to_string(index=False)
        return f"{self.caption}\n{body}" if self.caption else body


class FigureView:
    """A released figure: SVG (vector, for the report and print) and PNG, with its caption,
    alt text and the figure-data files it was drawn from."""

    def __init__(self, figure, *, name: str, caption: str, alt: str, files: list[str]):
        svg = io.BytesIO()
        figure.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=150, metadata={"Software": None})
        self.svg = svg.getvalue().decode("utf-8")
        self.png = base64.b64encode(png.getvalue()).decode("ascii")
        self.name, self.caption, self.alt, self.files = name, caption, alt, files

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"image/svg+xml": self.svg, "image/png": self.png, "text/plain": self.caption}
        meta = {"cohort": {"kind": "figure", "name": self.name, "caption": self.caption,
                           "alt": self.alt, "data": self.files}}
        return data, meta

    def __repr__(self) -> str:
        return self.caption

