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

**Not estimable here.** An analysis the report's data cannot support (a not-estimable
result of an estimator, see :mod:`cohort.stats.base`; a model table disclosure control
suppresses as a whole) is shown by :meth:`Report.table` and :meth:`Report.figure` as "not
estimable here" with the reason in the report's language (:mod:`cohort.report.estimable`),
and the rest of the report stands; the notebook itself holds no ``try``. Its table is still
released, as one row that names the analysis and the reason (or, for a suppressed model,
as the suppressed table), so every required table of a report exists. When the report's
sites have no data before the reference date, that is the reason given.

What a notebook shows carries metadata for the report page (``metadata["cohort"]``):
``{"kind": "table", "name", "caption", "columns": {column: role}}`` for a table and
``{"kind": "figure", "name", "caption", "alt", "data": [files]}`` for a figure.
"""

from __future__ import annotations

import functools
import html
import inspect
import os
import re
import warnings

import numpy as np
import pandas as pd

from cohort.disclosure.writer import KINDS, ReleaseFolder, released_frame
from cohort.exceptions import ParameterError
from cohort.report.format import alignment
from cohort.report.params import Params, from_namespace
from cohort.report.text import (
    Markdown,
    caption_text,
    column_labels,
    figure_caption,
    labelled,
    plot_labels,
    report_text,
    text_exists,
)
from cohort.roles import column_roles

__all__ = ["start", "Report", "TableView", "FigureView", "NoteView", "display_roles", "figure_alt",
           "note_text", "SOURCE_DATE_EPOCH"]

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
    # a warning reads as its kind and message: no path of the kernel's temporary cell file
    # or of the installed package, which differ between machines and runs
    warnings.formatwarning = _format_warning
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_columns", 50)
    pd.set_option("display.width", 120)
    pd.set_option("display.float_format", "{:.4g}".format)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """``warnings.formatwarning`` of a report notebook: ``Category: message``."""
    return f"{category.__name__}: {message}\n"


@functools.cache
def _matplotlib():
    """matplotlib with the report's figure style (:func:`cohort.plots.style.apply_style`);
    imported when the first figure is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cohort.plots.style import apply_style

    apply_style()
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
        self._effects_population = None
        self._previous = ...
        self._further = ...

    def __repr__(self) -> str:
        return f"<Report {self.params.name}: {self.language}, reference date {self.reference_date.date()}>"

    # -- data ------------------------------------------------------------------------
    @property
    def delivery(self):
        """The parameters' delivery, restricted to the report's pilot sites (loaded once).

        Validation errors do not stop a report: rejected rows are kept aside and counted,
        and the data-quality notebook shows them.
        """
        if self._delivery is None:
            self._delivery = self.population()
        return self._delivery

    def population(self, arms="pilot"):
        """The parameters' delivery restricted to the report's sites of ``arms``: the pilot
        sites (what the monitor and every indicator describe) or ``"all"`` for the effect
        analyses, which compare pilot households with households in regular care."""
        from cohort.definitions.population import restrict
        from cohort.delivery.load import load

        delivery = load(self.params.delivery, on_error="proceed")
        try:
            return restrict(delivery, sites=self.params.sites, arms=arms)
        except ParameterError as error:
            raise ParameterError(f"{self.params.source}: parameter 'sites': {error}") from None

    @property
    def no_data(self):
        """Why nothing can be estimated when the report's sites have no data before the
        reference date (their data begin after it): a
        :class:`~cohort.exceptions.NotEstimable` (reason ``no_data``), else ``None``."""
        from cohort.exceptions import NotEstimable

        sites = self.delivery.sites
        if not len(sites) or "delivery_start" not in sites.columns:
            return None
        begins = pd.to_datetime(sites["delivery_start"]).min()
        if pd.isna(begins) or begins <= self.reference_date:
            return None
        return NotEstimable("no_data", sites=sorted(map(str, sites["site"])), start=begins.date())

    def _blocked(self, obj):
        """Why ``obj`` cannot be shown here, as the report may say it, or ``None``."""
        from cohort.report.estimable import safe_reason
        from cohort.stats.base import not_estimable

        error = not_estimable(obj)
        if error is None:
            return None
        return safe_reason(self.no_data or error, self._policy)

    def delivery_notes(self) -> Markdown | None:
        """What the parameters' checks against the delivery found worth saying
        (:func:`cohort.report.params.check_against_delivery`: a reference date after the
        data ends, sites whose data begin later, rows rejected, ...), as a list in the
        report's language; ``None`` when there is nothing to say."""
        from cohort.report.params import check_against_delivery

        notes = check_against_delivery(self.params, self.delivery)
        if not notes:
            return None
        lines = [note_text(note, self.language, self._policy) for note in notes]
        heading = report_text("delivery_notes.heading", self.language)
        return Markdown(f"### {heading}\n\n" + "\n".join(f"- {line}" for line in lines))

    def effects_population(self):
        """The delivery the effect analyses read: its comparison regions and the report's
        pilot sites, both arms recorded alike (loaded once).

        That is the parameters' ``comparison_delivery`` when they name one (a delivery
        with comparison regions and each pilot site's quarters before its start), else the
        report's own delivery. Every comparison region is kept; the pilot sites are the
        report's ``sites`` that the delivery holds (all of its pilot sites for ``"all"``).
        Without comparison regions the arm is empty and the effects section says so.
        """
        if self._effects_population is None:
            from cohort.definitions.population import ALL_ARMS, restrict, site_arms
            from cohort.delivery.load import load
            from cohort.delivery.schema import PILOT

            delivery = load(self.params.comparison_delivery or self.params.delivery, on_error="proceed")
            arms = site_arms(delivery)
            pilot = (arms["arm"] == PILOT).to_numpy(dtype=bool)
            chosen = arms["site"].isin(self.params.sites).to_numpy(dtype=bool) if self.params.sites else pilot
            keep = arms.loc[(pilot & chosen) | ~pilot, "site"].astype(str).tolist()
            self._effects_population = restrict(delivery, sites=keep, arms=ALL_ARMS)
        return self._effects_population

    def _effects_minimum(self) -> int:
        """Households (and events) an arm needs before an effect is estimated: the
        disclosure threshold, or 2 with disclosure control off (one household has no spread)."""
        return max(int(self._policy.threshold), 2) if self._policy.enabled else 2

    def effects_status(self, estimable=None) -> str:
        """Whether the effects section can estimate anything, and if not why not.

        Returns
        -------
        str
            ``"ok"``; ``"no_comparison_delivery"`` (the parameters name no comparison
            delivery and the report's own delivery has no comparison region);
            ``"no_comparison"`` (no comparison household in the delivery read);
            ``"no_pilot"`` (none of the report's pilot sites is in it); ``"too_few"``
            (an arm has fewer households than the disclosure threshold, or, given
            ``estimable`` (:meth:`estimable`), no analysis supports an estimate). The report
            text ``effects.not_estimable.<status>`` says it to the reader.
        """
        from cohort.definitions.population import arm_counts
        from cohort.delivery.schema import COMPARISON, PILOT

        counts = arm_counts(self.effects_population()).set_index("arm")["households"]
        if int(counts[COMPARISON]) == 0:
            return "no_comparison_delivery" if self.params.comparison_delivery is None else "no_comparison"
        if int(counts[PILOT]) == 0:
            return "no_pilot"
        if min(int(counts[COMPARISON]), int(counts[PILOT])) < self._effects_minimum():
            return "too_few"
        if estimable is not None and not any(estimable.values()):
            return "too_few"
        return "ok"

    def estimable(self, trials) -> dict[str, bool]:
        """Which trial tables of the effects section support an estimate: each arm
        (``treated`` 1/0) holds at least the threshold of households (``cluster``) and, for
        a time-to-event trial (an ``event`` column), of events. Below that every estimate
        would be suppressed, so it is not fitted and the section says it cannot be
        estimated here (``effects.analysis_not_estimable``).

        Parameters
        ----------
        trials : mapping of name to DataFrame
            The trial tables (:mod:`cohort.definitions.target_trial`).

        Returns
        -------
        dict of name to bool
        """
        minimum = self._effects_minimum()
        out = {}
        for name, trial in trials.items():
            arm = trial["treated"].astype(int).to_numpy()
            unit = trial["cluster"] if "cluster" in trial.columns else pd.Series(np.arange(len(trial)))
            households = [unit[arm == a].nunique() for a in (1, 0)]
            ok = min(households) >= minimum
            if ok and "event" in trial.columns:
                event = trial["event"].astype(bool).to_numpy()
                ok = min(int(event[arm == a].sum()) for a in (1, 0)) >= minimum
            out[name] = bool(ok)
        return out

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
        from cohort.report.estimable import coarse_about  # no count below the threshold

        self._gate.release(released, name, kind=kind, caption=caption, exemption=exemption,
                           about=coarse_about(about, self._policy) if isinstance(about, dict) else None)
        return released

    def table(self, obj, name: str, *, caption: str | None = None, exemption: str | None = None,
              columns=None, exclude: dict | None = None, **options) -> TableView:
        """Release ``obj`` as ``tables/NAME.csv`` (see :meth:`release`) and show it.

        ``columns`` selects the columns shown and ``exclude`` leaves out the rows whose
        value of a column is listed (``{"term": ["(Intercept)"]}``); the file holds them all.

        A not-estimable result is shown as "not estimable here" with the reason, and
        released as a one-row table that says so (:func:`cohort.report.estimable.not_estimable_frame`);
        a model that disclosure control suppresses as a whole is released suppressed and
        shown the same way. A reduced fit shows its terms that are not estimated with the
        report's marker, and under the table what it left out.
        """
        from cohort.report.estimable import fit_notes, term_reasons

        caption_shown = caption if caption is not None else caption_text("table", name, self.language)
        blocked = self._blocked(obj)
        if blocked is not None:
            return self._not_estimable_table(obj, blocked, name, caption)
        released = self.release(obj, name, caption=caption, exemption=exemption, **options)
        if columns is not None:
            # the row flag stays with the selection, so a suppressed row shows the marker
            keep = [*columns, *(["suppressed"] if "suppressed" in released.columns and "suppressed" not in columns else [])]
            shown = released[keep]
        else:
            shown = released
        for column, values in (exclude or {}).items():
            shown = shown.loc[~shown[column].isin(list(values))]
        suppressed = _suppressed_as_a_whole(released, self._policy)
        if suppressed is not None:
            return TableView(shown.iloc[0:0, 0:0], self.language, caption=caption_shown, name=name,
                             threshold=self._policy.threshold, empty_text=self._not_estimable_text(suppressed))
        return TableView(shown, self.language, caption=caption_shown, name=name, threshold=self._policy.threshold,
                         not_estimable_terms=term_reasons(obj),
                         fit_notes=fit_notes(obj, self.language, self._policy))

    def _not_estimable_text(self, error, key: str = "here") -> str:
        from cohort.report.estimable import reason_text

        return report_text(f"not_estimable.{key}", self.language, reason=reason_text(error, self.language))

    def _not_estimable_table(self, obj, error, name: str, caption: str | None) -> TableView:
        """Release the one-row table of a not-estimable analysis and show the note."""
        from cohort.report.estimable import EXEMPTION, not_estimable_frame, reason_text

        if caption is None:
            caption = caption_text("table", name, self.language)
        model = "table" if isinstance(obj, pd.DataFrame) else type(obj).__name__
        about = {"model": model, "not_estimable": error.reason,
                 "reason_text": reason_text(error, self.language)}
        self._gate.release(not_estimable_frame(name, error), name, kind="table", caption=caption,
                           exemption=EXEMPTION, about=about)
        return TableView(pd.DataFrame(), self.language, caption=caption, name=name,
                         threshold=self._policy.threshold, empty_text=self._not_estimable_text(error))

    def show(self, frame: pd.DataFrame, *, caption: str | None = None, index=None, columns=None,
             values=None) -> TableView:
        """Show a view of released tables (a selection, or a pivot with ``index``,
        ``columns`` and ``values``) in the report's language.

        Nothing is written: the numbers shown are those of the released tables the view
        was made from, suppressed cells marked as in those tables.
        """
        if index is not None or columns is not None or values is not None:
            source = released_frame(frame)
            source_roles = display_roles(source, column_roles(frame))
            pivot = (
                source.pivot_table(index=index, columns=columns, values=values, aggfunc="first", sort=False)
                .reset_index()
            )
            # the pivot's value columns are written as the value column they came from;
            # columns taken from the monitor's indicators by each indicator's kind
            kinds = _measure_kinds() if columns == "indicator" else {}
            by_kind = {"count": "count", "proportion": "share", "ratio": "value"}
            keys = [index] if isinstance(index, str) else list(index or [])
            roles = {}
            for column in pivot.columns:
                if column in keys:
                    roles[column] = source_roles.get(column, "label")
                elif column in kinds:
                    roles[column] = by_kind[kinds[column]]
                else:
                    roles[column] = source_roles.get(values, "value") if isinstance(values, str) else "value"
            pivot.attrs = {DISPLAY_ROLES: roles}
            frame = pivot
        return TableView(frame, self.language, caption=caption, threshold=self._policy.threshold)

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
        from cohort.report.estimable import safe_reason

        main = data.get("") if isinstance(data, dict) else data
        blocked = self._blocked(main)
        if blocked is None and self.no_data is not None:
            blocked = safe_reason(self.no_data, self._policy)  # nothing to draw before the data begin
        if blocked is not None:
            return NoteView(self._not_estimable_text(blocked, "figure"), name=name)
        # parts of a figure that are not estimable here are drawn empty, and the caption says so
        parts_blocked = {}
        if isinstance(data, dict):
            parts_blocked = {key: self._blocked(value) for key, value in data.items() if key}
            parts_blocked = {key: error for key, error in parts_blocked.items() if error is not None}
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
        # a plain dict holds tables; a result that is a dict (ByAnalysis) goes to the rule
        if rule is not None and not (isinstance(data, pd.DataFrame) or type(data) is dict):
            tables = rule(data, self._policy, **rule_options)
        else:
            if rule_options:
                raise ParameterError(f"options {sorted(rule_options)} apply to analysis results only")
            tables = figure_data(data, self._policy)
        first = next(iter(tables.values()), None)
        if first is not None and not len(first):
            from cohort.exceptions import NotEstimable

            # nothing to draw: say so rather than show empty axes
            return NoteView(self._not_estimable_text(safe_reason(NotEstimable("no_observations"), self._policy),
                                                     "figure"), name=name)
        files = []
        for key, table in list(tables.items()):
            file_name = name if key == "" else (name + key if key.startswith("_") else key)
            if key in parts_blocked:
                continue  # nothing to release: it is drawn as an empty part
            # the figure draws the tables as released (with the build's further suppressions)
            tables[key] = self.release(table, file_name, kind="figure-data")
            files.append(f"{KINDS['figure-data']}/{file_name}.csv")
        for key, value in list(plot_options.items()):
            if isinstance(value, str) and _LABEL_OPTIONS.search(key) and text_exists(value):
                plot_options[key] = self.label(value)
        label_set = getattr(plot, "label_set", None)
        if label_set and "labels" not in plot_options:
            plot_options["labels"] = plot_labels(label_set, self.params)
        if "language" in inspect.signature(plot).parameters and "language" not in plot_options:
            plot_options["language"] = self.language
        plt = _matplotlib()
        figure = plot(*tables.values(), **plot_options)
        if caption is None:
            caption = figure_caption(name, self.language) or caption_text("figure-data", name, self.language) or ""
        for key, error in parts_blocked.items():
            from cohort.report.estimable import reason_text

            file_name = name + key if key.startswith("_") else key
            part_key = f"not_estimable.parts.{file_name}"
            part = (report_text(part_key, self.language) if text_exists(part_key)
                    else caption_text("figure-data", file_name, self.language) or file_name)
            caption = caption.rstrip(".") + ". " + report_text(
                "not_estimable.figure_part", self.language, part=part,
                reason=reason_text(error, self.language))
        if alt is None:
            alt = figure_alt(figure, caption, self.language)
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

    Every cell is written by :func:`cohort.report.format.format_frame` in the report's
    language (``19.973`` / ``19,973``, ``12,0%``, ``< 0,001``, dates written out) from the
    table's column roles (:func:`display_roles`); a value column whose rows mix counts,
    proportions and ratios (the monitor's tables) is written row by row by its kind.
    Suppressed cells show the report's one marker, with its footnote under the table; the
    ``suppressed`` flag column of the released file is left out (the markers say the same).
    Known values (headline figures, attrition steps, model terms, ...) and the column
    headers are shown in the report's language, as on the report page. A table without rows
    says so, in words of its own where the report text has them (``empty.NAME``).
    """

    def __init__(self, frame: pd.DataFrame, language: str, *, caption: str | None = None,
                 name: str | None = None, threshold: int | None = None, empty_text: str | None = None,
                 not_estimable_terms: dict | None = None, fit_notes=()):
        declared = column_roles(frame)
        shown_roles = frame.attrs.get(DISPLAY_ROLES)
        if isinstance(frame.attrs.get("disclosure"), dict):
            frame = released_frame(frame)
        frame = frame.drop(columns="suppressed") if "suppressed" in frame.columns else frame
        roles = display_roles(frame, declared)
        if isinstance(shown_roles, dict):
            roles.update({c: r for c, r in shown_roles.items() if c in roles})
        self.language = language
        self.caption = caption
        self.name = name
        self.threshold = threshold
        self.roles = roles
        self.kinds = _row_kinds(frame)
        self.frame = frame
        # a pivot's headers are values of a label column (indicators, sites): labelled as values
        self.headers = column_labels(list(labelled(frame.head(0), language).columns), language)
        self.not_estimable_terms = dict(not_estimable_terms or {})
        self.notes = (_terms_note(self.not_estimable_terms, language) + _table_notes(name, language, threshold)
                      + list(fit_notes))
        if empty_text is not None:
            self.empty_text = empty_text
        else:
            self.empty_text = _empty_text(name, language) if frame.empty else ""

    # -- cells -----------------------------------------------------------------------
    def _display(self) -> pd.DataFrame:
        """Every cell as display text in the report's language (headers still column names)."""
        from cohort.report.format import format_frame, format_number, term_label

        frame = self.frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        if "term" in frame.columns:
            frame["term"] = frame["term"].map(lambda v: term_label(v, self.language) if isinstance(v, str) else v)
        kind_column = "kind" if "kind" in frame.columns else None
        if self.kinds is not None:
            kind_column = _KIND_COLUMN
            frame[kind_column] = self.kinds.to_numpy()
        frame = labelled(frame, self.language)
        roles = {str(c): r for c, r in self.roles.items()}
        if kind_column == _KIND_COLUMN:
            roles[_KIND_COLUMN] = "label"
        text = format_frame(frame, roles, self.language, kind_column=kind_column)
        if "change" in frame.columns and kind_column == "kind":
            # a change in a share is a number of percentage points, not a percentage
            points = self.frame["kind"].astype(object).eq("proportion").to_numpy()  # before labelling
            unit = report_text("report.percentage_points", self.language)
            for index in frame.index[points]:
                value = pd.to_numeric(pd.Series([frame.at[index, "change"]]), errors="coerce").iloc[0]
                if pd.notna(value):
                    text.at[index, "change"] = format_number(100 * float(value), "value", self.language,
                                                             decimals=1) + f" {unit}"
        if self.not_estimable_terms and "term" in self.frame.columns:
            # a term the model could not estimate (R: NA): the report's marker, not a blank
            marker = report_text("not_estimable.marker", self.language)
            rows = self.frame["term"].astype(object).isin(list(self.not_estimable_terms)).to_numpy()
            for column in self.frame.columns:
                if roles.get(str(column)) in ("value", "share", "p"):
                    empty = self.frame[column].isna().to_numpy() & rows
                    text.loc[empty, str(column)] = marker
        return text.drop(columns=_KIND_COLUMN) if kind_column == _KIND_COLUMN else text

    def footnotes(self) -> list[str]:
        """The footnotes under the table: the marker's (where a cell shows it), then the
        table's own notes."""
        from cohort.report.format import suppression_footnote, suppression_marker

        notes = []
        marker = suppression_marker(self.language)
        if self.threshold is not None and (self._display() == marker).to_numpy().any():
            notes.append(suppression_footnote(self.language, self.threshold))
        return notes + list(self.notes)

    def _html(self) -> str:
        cells = self._display()
        align = [alignment(self.roles[c]) for c in self.frame.columns]
        attributes = f' data-release="tables/{self.name}.csv"' if self.name else ""
        out = [f'<table class="dataframe table"{attributes}>']
        if self.caption:
            out.append(f"  <caption>{html.escape(self.caption)}</caption>")
        head = "".join(
            f'<th style="text-align: {a};">{html.escape(h)}</th>' for h, a in zip(self.headers, align, strict=True)
        )
        out.append(f"  <thead>\n    <tr>{head}</tr>\n  </thead>")
        out.append("  <tbody>")
        for row in cells.itertuples(index=False):
            tds = "".join(
                f'<td style="text-align: {a};">{html.escape(str(v))}</td>' for v, a in zip(row, align, strict=True)
            )
            out.append(f"    <tr>{tds}</tr>")
        out.append("  </tbody>\n</table>")
        if self.empty_text:
            out.append(f'<p class="empty"><em>{html.escape(self.empty_text)}</em></p>')
        for note in self.footnotes():
            out.append(f'<p class="footnote"><small>{html.escape(note)}</small></p>')
        return "\n".join(out)

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"text/html": self._html(), "text/plain": repr(self)}
        meta = {
            "cohort": {
                "kind": "table",
                "name": self.name,
                "caption": self.caption,
                "columns": {str(c): r for c, r in self.roles.items()},
                "roles": [self.roles[c] for c in self.frame.columns],
                "headers_labelled": True,
                "notes": list(self.notes),
                "empty": self.empty_text,
            }
        }
        return data, meta

    def _repr_html_(self) -> str:
        return self._html()

    def __repr__(self) -> str:
        if self.frame.empty:
            body = self.empty_text
        else:
            cells = self._display()
            cells.columns = self.headers
            body = cells.to_string(index=False)
        lines = ([self.caption] if self.caption else []) + [body] + self.footnotes()
        return "\n".join(lines)


#: Where :meth:`Report.show` leaves the roles of a pivot's columns for :class:`TableView`.
DISPLAY_ROLES = "display_roles"
_KIND_COLUMN = "__kind__"


def display_roles(frame: pd.DataFrame, declared=None) -> dict:
    """How each column of ``frame`` is written (:data:`cohort.report.format.ROLES`).

    ``declared`` are the roles the table states (:func:`cohort.roles.column_roles`:
    ``count``, ``value``, ``group``, ``key``, ``label``); the column's name and type refine
    them (:func:`cohort.report.format.infer_roles`): a value named ``proportion``,
    ``survival`` or ``cif`` is a share (and so are its interval bounds), ``p`` a p-value,
    a key ``interval_end`` a date. Columns without a stated role are read by name and type.

    Examples
    --------
    >>> t = pd.DataFrame({"wave": ["T0"], "n_households": [25], "proportion": [0.4],
    ...                   "ci_lower": [0.2], "ci_upper": [0.6], "p": [0.01], "interval_end": ["2024-12-31"]})
    >>> display_roles(t, {"wave": "group", "n_households": "count", "proportion": "value",
    ...                   "ci_lower": "value", "ci_upper": "value", "interval_end": "key"})
    {'wave': 'group', 'n_households': 'count', 'proportion': 'share', 'ci_lower': 'share', 'ci_upper': 'share', 'p': 'p', 'interval_end': 'date'}
    """
    from cohort.report.format import infer_roles

    declared = dict(declared or {})
    inferred = infer_roles(list(frame.columns), frame)
    roles = {}
    for column in frame.columns:
        stated, guessed = declared.get(str(column), "label"), inferred[column]
        if pd.api.types.is_datetime64_any_dtype(frame[column].dtype):
            role = "date"
        elif stated == "count":
            role = "count"
        elif stated == "value":
            role = guessed if guessed in ("share", "p", "count") else "value"
        elif stated in ("group", "key"):
            role = "date" if guessed == "date" else stated
        else:
            role = guessed
        roles[column] = role
    if "share" in roles.values() and "kind" not in roles:
        for bound in ("ci_lower", "ci_upper"):
            if roles.get(bound) == "value":
                roles[bound] = "share"
    return roles


@functools.cache
def _measure_kinds() -> dict[str, str]:
    """The kind (count, proportion, ratio) of every monitor indicator and headline figure."""
    from cohort.monitor.measures import monitor_measures
    from cohort.monitor.series import HEADLINE

    kinds = {m.name: m.kind for m in monitor_measures()}
    kinds.update({figure: kinds[indicator] for figure, indicator, _ in HEADLINE if indicator in kinds})
    return kinds


def _row_kinds(frame: pd.DataFrame) -> pd.Series | None:
    """Per row, what the value columns hold, for a monitor table shown without its ``kind``
    column (the headline figures): read from its ``indicator`` or ``figure``."""
    if "kind" in frame.columns or not {"value", "numerator"} & {str(c) for c in frame.columns}:
        return None
    kinds = _measure_kinds()
    for column in ("indicator", "figure"):
        if column in frame.columns:
            mapped = frame[column].astype(object).map(lambda v: kinds.get(v) if isinstance(v, str) else None)
            if mapped.notna().any():
                return mapped
    return None


def _table_notes(name: str | None, language: str, threshold: int | None) -> list[str]:
    """A table's own notes in the report text (``table_notes.NAME``), if it has any."""
    from cohort.report.format import suppression_marker

    if name and threshold is not None and text_exists(f"table_notes.{name}"):
        return [report_text(f"table_notes.{name}", language, marker=suppression_marker(language),
                            threshold=threshold)]
    return []


def _terms_note(terms: dict, language: str) -> list[str]:
    """The footnote of the marker of terms a model could not estimate, with each reason."""
    from cohort.report.format import term_label

    if not terms:
        return []
    said = "; ".join(
        report_text(f"not_estimable.terms.{reason}", language, term=term_label(term, language))
        if text_exists(f"not_estimable.terms.{reason}") else term_label(term, language)
        for term, reason in terms.items()
    )
    return [report_text("not_estimable.marker_footnote", language,
                        marker=report_text("not_estimable.marker", language), terms=said)]


def _empty_text(name: str | None, language: str) -> str:
    """What a table without rows says: its own words (``empty.NAME``) or the general text."""
    if name and text_exists(f"empty.{name}"):
        return report_text(f"empty.{name}", language)
    return report_text("report.empty_table", language)


def _suppressed_as_a_whole(released: pd.DataFrame, policy):
    """Why disclosure control suppressed every estimate of a model table, as a
    :class:`~cohort.exceptions.NotEstimable` the report may state, or ``None``."""
    from cohort.exceptions import NotEstimable
    from cohort.report.estimable import safe_reason

    record = released.attrs.get("disclosure")
    if not isinstance(record, dict) or not record.get("reason_key"):
        return None
    threshold = int(policy.threshold)
    fact = {"too_few_events": "events", "too_few_households": "households", "small_counts": "total"}
    key = record["reason_key"]
    error = NotEstimable(key, **({fact[key]: 0} if key in fact else {}), threshold=threshold)
    return safe_reason(error, policy)


class NoteView:
    """A note shown in place of a figure (a figure that is not estimable here): Markdown,
    with ``metadata["cohort"] = {"kind": "note", "name"}``."""

    def __init__(self, text: str, *, name: str):
        self.text, self.name = text, name

    def _repr_mimebundle_(self, include=None, exclude=None):
        return ({"text/markdown": f"*{self.text}*", "text/plain": self.text},
                {"cohort": {"kind": "note", "name": self.name}})

    def __repr__(self) -> str:
        return self.text


class FigureView:
    """A released figure as vector graphics (SVG, :func:`cohort.plots.style.figure_svg`:
    the same bytes on every run, sharp on screen and in print), with its caption, alt text
    and the figure-data files it was drawn from.

    No PNG copy is kept: the report page and the PDF draw the SVG, JupyterLab shows it,
    and nbval compares the SVG (it skips images in PNG only).
    """

    def __init__(self, figure, *, name: str, caption: str, alt: str, files: list[str]):
        from cohort.plots.style import figure_svg

        self.svg = figure_svg(figure)
        self.name, self.caption, self.alt, self.files = name, caption, alt, files

    def _repr_mimebundle_(self, include=None, exclude=None):
        data = {"image/svg+xml": self.svg, "text/plain": self.caption}
        meta = {"cohort": {"kind": "figure", "name": self.name, "caption": self.caption,
                           "alt": self.alt, "data": self.files}}
        return data, meta

    def __repr__(self) -> str:
        return self.caption


# ----------------------------------------------------------------------------- alt text


def _axis_label(figure, which: str) -> str:
    label = figure.get_supxlabel() if which == "x" else figure.get_supylabel()
    if label:
        return " ".join(label.split())
    for axis in figure.axes:
        text = axis.get_xlabel() if which == "x" else axis.get_ylabel()
        if text:
            return " ".join(text.split())  # a wrapped label reads as one line
    return ""


def _listing(items, language: str) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {report_text('findings.and', language)} " + items[-1]


def figure_alt(figure, caption: str, language: str) -> str:
    """An alt text that says what ``figure`` shows: its caption, what is plotted against
    what over which range, the groups, where a curve ends and why, the numbers at risk.

    Built from the facts the plot function noted (:func:`cohort.plots.style.record_facts`)
    and the axis labels, in the report's language (``alt`` texts of the report text).
    """
    from cohort.plots.style import figure_facts
    from cohort.report.format import format_number

    facts = figure_facts(figure)

    def t(key: str, **fields) -> str:
        return report_text(f"alt.{key}", language, **fields)

    parts = [caption.rstrip(".") + "."] if caption else []
    y, x = _axis_label(figure, "y"), _axis_label(figure, "x")
    kind = facts.get("kind")

    def number(value, decimals=0):
        return format_number(value, "value", language, decimals=decimals)

    if kind == "trend" and facts.get("start") is not None:
        first = pd.Timestamp(facts["start"]).to_period("Q")
        last = pd.Timestamp(facts["end"]).to_period("Q")
        letter = t("quarter_letter")
        span = t("quarters", first=f"{letter}{first.quarter} {first.year}", last=f"{letter}{last.quarter} {last.year}")
        parts.append(t("plotted", y=y or "", x=x or "", range=span))
    elif kind in ("curve", "trajectory", "event_study") and facts.get("x_max") is not None:
        low = number(facts.get("x_min") or 0)
        parts.append(t("plotted", y=y or "", x=x or "", range=t("range", low=low, high=number(facts["x_max"]))))
    elif (y or x) and kind != "balance":  # the balance sentence says what the axes hold
        parts.append(t("plotted", y=y or "", x=x or "", range="").replace(" ,", ",").rstrip(", .") + ".")
    groups = facts.get("groups") or []
    if kind == "trend" and groups:
        key = "panels" if facts.get("panels") else "lines"
        parts.append(t(key, n=len(groups), groups=_listing(groups, language)))
        if facts.get("gaps"):
            parts.append(t("gaps"))
    if kind == "curve":
        if len(groups) > 1:
            parts.append(t("lines", n=len(groups), groups=_listing(groups, language)))
        if facts.get("ended_early"):
            end = min(facts["curve_ends"].values())
            key = "curve_ends_at_risk" if facts.get("end_reason") == "at_risk" else "curve_ends"
            parts.append(t(key, months=number(end, 1), threshold=facts.get("threshold") or ""))
        times = facts.get("at_risk_times") or []
        if times:
            parts.append(t("at_risk", times=_listing([number(v) for v in times], language)))
    if kind == "event_study":
        parts.append(t("event_study"))
        if facts.get("suppressed_times"):
            parts.append(t("event_study_hidden", times=_listing([number(v) for v in facts["suppressed_times"]],
                                                                   language)))
    if kind == "balance":
        from cohort.report.text import value_labels

        names = value_labels("analysis", language)
        parts.append(t("balance", analyses=_listing([names.get(a, a) for a in facts.get("analyses") or []], language)))
        if facts.get("suppressed_terms"):
            parts.append(t("balance_hidden", terms=_listing(facts["suppressed_terms"], language)))
    if kind == "trajectory" and facts.get("waves_shown"):
        parts.append(t("waves", waves=_listing(facts["waves_shown"], language),
                       low=facts["percentiles"][0] if facts.get("percentiles") else "",
                       high=facts["percentiles"][-1] if facts.get("percentiles") else ""))
    return " ".join(p for p in parts if p)


def note_text(note, language: str, policy=None) -> str:
    """A note of :func:`check_against_delivery` in ``language``: dates written out, sites
    listed; a note without a text of its own stays in English. The notes hold no counts of
    units (the rejected rows are counted in the released validation table).

    Examples
    --------
    >>> import datetime as dt
    >>> from cohort.report.params import Note
    >>> n = Note("late_sites", "Sites whose data begins after the reference date add nothing to it: GRO.",
    ...          sites=["GRO"])
    >>> note_text(n, "nl")
    'Proeftuinen waarvan de gegevens na de peildatum beginnen, tellen daarin niet mee: GRO.'
    """
    import datetime as dt

    from cohort.report.format import format_date
    from cohort.report.text import report_text, text_exists

    key = f"delivery_notes.{getattr(note, 'key', '')}"
    if not text_exists(key):
        return str(note)
    fields = {}
    for name, value in getattr(note, "fields", {}).items():
        if isinstance(value, dt.date):
            fields[name] = format_date(value, language)
        elif isinstance(value, list | tuple):
            fields[name] = ", ".join(map(str, value))
        elif name == "scope":
            fields[name] = report_text(f"delivery_notes.scopes.{value}", language)
        else:
            fields[name] = str(value)
    return report_text(key, language, **fields)
