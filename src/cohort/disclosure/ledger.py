"""The release ledger: every cell every report has released, and the relations among them.

Releases accumulate (interim, quarterly and final reports, per site and for subsets of
sites). A reader may hold all of them, so each new release is audited against the whole
history. The ledger keeps that history with the reports; the format is documented in
``docs/disclosure.md``.

The store
---------
A folder (default ``reports/.ledger/``; the environment variable :data:`LEDGER_ENV` or the
command-line option ``--ledger`` name another, e.g. in a secure environment) holding one
file per built report, ``<recorded>-<report>-<id>.json.gz``. Entries are never changed or
removed (append-only). An entry is written to a temporary file in the same folder, flushed
to disk and then hard-linked to its final name, an atomic step that fails rather than
overwrite: two builds appending at once each add their own complete file. ``id`` is the
sha256 of the entry's content (recording time excluded), checked on every read, so a
damaged entry is refused by name; recording the same release twice adds nothing.

Cell identity
-------------
A released cell is a count of units in a **population**: what is counted (``quantity``),
the set of sites (``sites``, ``+``-joined site codes), a period (``period_start``,
``period_end``), group levels (``groups``: ``column=level`` joined by ``|``, ``*`` for the
total over a column) and any other key (``key``: for instance ``time=222`` of a curve).
The ``additivity`` of the quantity says how periods combine: ``in_period`` (events in
``[a, b]``, additive over adjacent periods), ``cumulative`` (units counted once since a
common start: ``[S, d2]`` = ``[S, d1]`` + the new units in ``(d1, d2]``) or ``on_date``
(a stock on a date: periods are exact identities). The same population released twice is
the same cell.

Relations (:func:`linear_system`)
---------------------------------
Every population is the disjoint union of **atoms**: single sites x elementary periods x
single group levels (the coarsest partition refining every population seen). Each cell
equals the sum of its atoms, so every nesting (all sites = sum over sites, hence all
minus all-but-X = X; a longer period = its quarters; consecutive cumulative counts differ
by the quarter's new units; a total over ``has_children`` = its levels) follows from one
relation per cell. Atoms no release shows are unknown counts of their own, audited like
suppressed cells: a difference of two released counts is such an atom. Besides, the
relations between quantities (``households_involved = households_active +
ended_since_start``, ...; ``rows_read = rows_accepted + rows_rejected``) and the step
arithmetic of curves (``n_risk`` at one released time minus the next = households that
left the risk set in between) are added.

Decisions: the same cell released twice with different values (a revised delivery) is
taken at its latest released value; a reader is assumed to take a revision as unchanged,
and where releases then contradict each other the audit reconciles them with the smallest
change (:mod:`cohort.disclosure.audit`). An atom of a site wholly outside the site's
delivery period (``site_periods``) is a structural zero: known to be 0 and not audited.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.disclosure.audit import LinearSystem, rounded_interval
from cohort.disclosure.policy import SUPPRESSED, TOTAL, outside_delivery
from cohort.exceptions import DisclosureError, InputNotFoundError

#: Environment variable naming the ledger folder (a secure location, say).
LEDGER_ENV = "COHORT_LEDGER"
#: Name of the ledger folder inside the reports folder.
LEDGER_FOLDER = ".ledger"
#: Version of the entry format.
FORMAT = 1

#: The columns of a ledger's cells, in order.
CELL_COLUMNS = (
    "file",
    "row",
    "column",
    "quantity",
    "additivity",
    "sites",
    "period_start",
    "period_end",
    "groups",
    "key",
    "value",
    "suppressed",
    "rounding",
)
ADDITIVITY = ("in_period", "cumulative", "on_date")

#: Columns that state a period; the first found of each pair is used.
PERIOD_START_COLUMNS = ("interval_start", "period_start", "start")
PERIOD_END_COLUMNS = ("interval_end", "period_end", "end", "date", "reference_date")
#: Columns that name a site.
SITE_COLUMNS = ("site", "proeftuin")
#: A curve's count of events since its previous released step (``n_event`` of the released
#: Kaplan-Meier, cumulative incidence and mean cumulative function tables).
POOLED_EVENTS = "n_event"
#: Text columns of the monitor that describe a row rather than identify it.
_DESCRIPTIVE = ("kind", "ci_method", "figure", "period", "caption", "suppressed")

#: Relations between quantities: ``(total, parts)`` by the quantity's last ``:`` part, per
#: prefix (``monitor``, or a file); ``None`` stands for a part no table names.
QUANTITY_RELATIONS: tuple[tuple[str, tuple[str | None, ...]], ...] = (
    ("households_involved", ("households_active", "ended_since_start")),
    ("households_involved", ("households_with_measure", None)),
    ("registrations", ("registrations_without_children", None)),
    ("rows_read", ("rows_accepted", "rows_rejected")),
)

_SAFE_NAME = re.compile(r"[^a-z0-9._-]+")


# --------------------------------------------------------------------------------------
# Where the ledger is
# --------------------------------------------------------------------------------------


def ledger_path(
    ledger: str | os.PathLike | None = None,
    *,
    report_dir: str | os.PathLike | None = None,
    reports_root: str | os.PathLike | None = None,
) -> Path:
    """The ledger folder in force.

    In order: ``ledger`` (the ``--ledger`` option), the environment variable
    :data:`LEDGER_ENV`, ``<reports_root>/.ledger``, and the folder holding ``report_dir``
    (a report is kept in the reports folder, the ledger with it).

    Examples
    --------
    >>> ledger_path("/secure/ledger").as_posix()
    '/secure/ledger'
    >>> ledger_path(report_dir="reports/interim-2024q4").as_posix()  # doctest: +SKIP
    'reports/.ledger'
    """
    if ledger is not None:
        return Path(ledger)
    env = os.environ.get(LEDGER_ENV)
    if env:
        return Path(env)
    if reports_root is not None:
        return Path(reports_root) / LEDGER_FOLDER
    if report_dir is not None:
        return Path(report_dir).resolve().parent / LEDGER_FOLDER
    raise DisclosureError("no ledger: name a ledger folder, a reports folder or a report")


# --------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseContext:
    """What a release says about its populations.

    Parameters
    ----------
    report : str
        The report's name.
    sites : tuple of str, optional
        The sites of the report's population, resolved (``None``: unknown; the totals then
        relate only to other releases whose sites are unknown).
    study_start, reference_date : str
        ISO dates: ``S`` and ``R``.
    fingerprint : str
        The delivery fingerprint.
    rounding : int or None
        Rounding multiple of released counts.
    site_periods : mapping, optional
        ``{site: (delivery_start, delivery_end)}`` (ISO dates): nothing can be counted at a
        site outside it (structural zeros).
    """

    report: str
    sites: tuple[str, ...] | None = None
    study_start: str = "2023-01-01"
    reference_date: str = ""
    fingerprint: str = ""
    rounding: int | None = None
    site_periods: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "report": self.report,
            "sites": list(self.sites) if self.sites is not None else None,
            "study_start": self.study_start,
            "reference_date": self.reference_date,
            "fingerprint": self.fingerprint,
            "rounding": self.rounding,
            "site_periods": {k: list(v) for k, v in sorted(self.site_periods.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> ReleaseContext:
        sites = data.get("sites")
        return cls(
            report=str(data["report"]),
            sites=tuple(sites) if sites is not None else None,
            study_start=str(data.get("study_start") or "2023-01-01"),
            reference_date=str(data.get("reference_date") or ""),
            fingerprint=str(data.get("fingerprint") or ""),
            rounding=data.get("rounding"),
            site_periods={k: tuple(v) for k, v in (data.get("site_periods") or {}).items()},
        )


@dataclass(frozen=True)
class LedgerEntry:
    """One built report: its context, settings, file hashes and released cells."""

    context: ReleaseContext
    settings: dict
    files: dict
    cells: pd.DataFrame
    recorded: str = ""
    path: Path | None = None

    @property
    def report(self) -> str:
        return self.context.report

    def content(self) -> dict:
        """The entry as stored, without its id and recording time."""
        cells = self.cells.reindex(columns=list(CELL_COLUMNS))
        data = {}
        for c in CELL_COLUMNS:
            col = cells[c]
            if c == "value":
                data[c] = [None if pd.isna(v) else float(v) for v in col.to_numpy(dtype=float)]
            elif c in ("row", "rounding"):
                data[c] = [int(v) for v in col.to_numpy(dtype=np.int64)]
            elif c == "suppressed":
                data[c] = [bool(v) for v in col.to_numpy(dtype=bool)]
            else:
                data[c] = [str(v) for v in col.astype(str).to_numpy()]
        return {
            "format": FORMAT,
            "context": self.context.as_dict(),
            "settings": _plain(self.settings),
            "files": dict(sorted(self.files.items())),
            "cells": data,
        }

    @property
    def id(self) -> str:
        return _digest(self.content())


def _plain(value):
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _digest(content: dict) -> str:
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cells_frame(data: Mapping) -> pd.DataFrame:
    frame = pd.DataFrame({c: data.get(c, []) for c in CELL_COLUMNS})
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["row"] = frame["row"].astype(np.int64)
    frame["rounding"] = frame["rounding"].astype(np.int64)
    frame["suppressed"] = frame["suppressed"].astype(bool)
    for c in CELL_COLUMNS:
        if frame[c].dtype == object:
            frame[c] = frame[c].astype(str)
    return frame


class Ledger:
    """The release ledger in a folder; see the module docstring.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / ".ledger"
    >>> ledger = Ledger(folder)
    >>> entry = LedgerEntry(ReleaseContext("demo", sites=("AMS",)), {"threshold": 10}, {},
    ...                     empty_cells())
    >>> path = ledger.append(entry)
    >>> [e.report for e in ledger.entries()], ledger.append(entry) == path
    (['demo'], True)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Ledger({self.path.as_posix()!r})"

    def files(self) -> list[Path]:
        """The entry files, oldest first (their names start with the recording time)."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.glob("*.json.gz") if not p.name.startswith("."))

    def entries(self) -> list[LedgerEntry]:
        """Every entry, oldest first; a damaged entry is refused by name."""
        return [self._read(p) for p in self.files()]

    def _read(self, path: Path) -> LedgerEntry:
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                stored = json.load(handle)
        except (OSError, EOFError, ValueError) as error:
            raise DisclosureError(
                f"ledger entry {path.name} in {self.path} cannot be read ({type(error).__name__}); "
                "restore it from a backup: the check needs the whole ledger"
            ) from None
        content = {k: stored.get(k) for k in ("format", "context", "settings", "files", "cells")}
        if stored.get("id") != _digest(content) or stored.get("format") != FORMAT:
            raise DisclosureError(
                f"ledger entry {path.name} in {self.path} was changed after it was recorded "
                "(its content does not match its id); restore it from a backup"
            )
        return LedgerEntry(
            context=ReleaseContext.from_dict(stored["context"]),
            settings=stored.get("settings") or {},
            files=stored.get("files") or {},
            cells=_cells_frame(stored.get("cells") or {}),
            recorded=str(stored.get("recorded", "")),
            path=path,
        )

    def find(self, report: str, files: Mapping[str, str]) -> LedgerEntry | None:
        """The entry of exactly this release: same report name and same file hashes."""
        for entry in self.entries():
            if entry.report == report and entry.files == dict(files):
                return entry
        return None

    def append(self, entry: LedgerEntry, *, recorded: str | None = None) -> Path:
        """Add ``entry`` atomically; return its file. An entry already present is not added
        twice (its existing file is returned)."""
        content = entry.content()
        digest = _digest(content)
        self.path.mkdir(parents=True, exist_ok=True)
        existing = sorted(self.path.glob(f"*-{digest[:16]}.json.gz"))
        if existing:
            return existing[0]
        recorded = recorded or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        stored = {**content, "id": digest, "recorded": recorded}
        name = f"{recorded}-{_SAFE_NAME.sub('_', entry.report.lower())}-{digest[:16]}.json.gz"
        final = self.path / name
        tmp = self.path / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
        raw = io.BytesIO()
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(json.dumps(stored, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        try:
            with open(tmp, "wb") as handle:
                handle.write(raw.getvalue())
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, final)  # atomic, and never replaces an existing entry
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.path)
        return final

    def cells(self, *, exclude: LedgerEntry | None = None, only: Iterable[str] | None = None) -> pd.DataFrame:
        """The cells of every entry (but ``exclude``; with ``only``, just the entries with
        those ids), with ``release`` (entry order) and ``report`` columns."""
        parts = []
        wanted = set(only) if only is not None else None
        for i, entry in enumerate(self.entries()):
            if exclude is not None and entry.path == exclude.path:
                continue
            if wanted is not None and entry.id not in wanted:
                continue
            parts.append(entry.cells.assign(release=i, report=entry.report))
        if not parts:
            return empty_cells().assign(release=np.zeros(0, np.int64), report="")
        return pd.concat(parts, ignore_index=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def empty_cells() -> pd.DataFrame:
    """A cells frame with no rows and the ledger's columns."""
    return _cells_frame({})


# --------------------------------------------------------------------------------------
# Cells of a released table
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _monitor_quantities() -> tuple[dict, dict]:
    """Monitor measures -> (numerator, denominator) indicators; indicator -> additivity."""
    from cohort.monitor.indicators import CUMULATIVE_INDICATORS, INDICATORS
    from cohort.monitor.measures import monitor_measures

    measures = {m.name: (m.numerator, m.denominator) for m in monitor_measures()}
    for name in INDICATORS:
        measures.setdefault(name, (name, None))
    additivity = {}
    for name, ind in INDICATORS.items():
        if ind.kind == "in_period":
            additivity[name] = "in_period"
        elif name in CUMULATIVE_INDICATORS:
            additivity[name] = "cumulative"
        else:
            additivity[name] = "on_date"
    return measures, additivity


def parse_numbers(values: pd.Series, *, decimal_comma: bool = False) -> np.ndarray:
    """Released text as numbers (``nan`` where empty, suppressed or not a number).

    With ``decimal_comma`` (semicolon files) ``3,5`` is 3.5 and ``1.653`` is 1653.

    Examples
    --------
    >>> parse_numbers(pd.Series(["12", "12.0", "", "[suppressed]", "x", "1e1"])).tolist()
    [12.0, 12.0, nan, nan, nan, 10.0]
    >>> parse_numbers(pd.Series(["3,5", "1.653", "12"]), decimal_comma=True).tolist()
    [3.5, 1653.0, 12.0]
    """
    text = values.astype("string").str.strip()
    if decimal_comma:
        thousands = text.str.fullmatch(r"\d{1,3}(\.\d{3})+").fillna(False)
        text = text.where(~thousands, text.str.replace(".", "", regex=False))
        text = text.where(thousands, text.str.replace(",", ".", regex=False))
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def table_cells(
    frame: pd.DataFrame,
    *,
    file: str,
    roles: Mapping[str, str],
    context: ReleaseContext,
    decimal_comma: bool = False,
    not_additive: Sequence[str] = (),
) -> pd.DataFrame:
    """The released cells of one table, with their populations (the ledger's cell columns).

    Parameters
    ----------
    frame : DataFrame
        The table as released: every cell text, suppressed cells ``[suppressed]`` (or a
        ``<k`` marker).
    file : str
        The released file, relative to the report (``tables/monitor.csv``).
    roles : mapping
        Column -> ``count``, ``value``, ``group`` or ``key`` (the manifest's column roles,
        or the release check's reading of the content). Only ``count`` columns give cells.
    context : ReleaseContext
    not_additive : column names
        Count columns that do not add up to the ``all`` row of the group columns (a
        household with measures of two types counts under both types): their group levels
        identify the cell (part of its ``key``) instead of making it a part of the total.

    Rules: a table with an ``indicator`` column of monitor measures counts the monitor's
    indicators (``numerator``/``denominator`` of the measure), whose additivity and
    period follow their definitions (``docs/definitions.md``); other counts are
    ``<file>:<column>``, exact identities over the report's period ``[S, R]`` unless the
    table states periods. A column ``site`` (or a group column whose levels are the
    report's site codes) gives the sites; ``all`` there means the report's sites. Other
    text columns with an ``all`` row are groups, the rest keys.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["A", "B", "all"], "n": ["12", "[suppressed]", "30"]})
    >>> c = table_cells(t, file="tables/t.csv", roles={"n": "count"},
    ...                 context=ReleaseContext("r", sites=("A", "B"), reference_date="2024-12-31"))
    >>> c[["quantity", "sites", "period_start", "period_end", "value", "suppressed"]].values.tolist()
    [['tables/t.csv:n', 'A', '2023-01-01', '2024-12-31', 12.0, False], ['tables/t.csv:n', 'B', '2023-01-01', '2024-12-31', nan, True], ['tables/t.csv:n', 'A+B', '2023-01-01', '2024-12-31', 30.0, False]]
    """
    frame = frame.reset_index(drop=True).astype(str)
    n = len(frame)
    counts = [c for c in frame.columns if roles.get(c) == "count"]
    if not counts or n == 0:
        return empty_cells()
    cols = [str(c) for c in frame.columns]
    start_col = next((c for c in PERIOD_START_COLUMNS if c in cols), None)
    end_col = next((c for c in PERIOD_END_COLUMNS if c in cols), None)
    report_sites = "+".join(sorted(context.sites)) if context.sites is not None else "*"
    known_sites = set(context.sites or ())
    text_cols = [
        c
        for c in cols
        if roles.get(c) in (None, "group", "key", "text", "axis")
        and c not in counts
        and c not in (start_col, end_col)
        and roles.get(c) != "value"
        and (frame[c].str.strip() != "").any()
    ]
    site_col = next((c for c in SITE_COLUMNS if c in text_cols), None)
    if site_col is None and known_sites:
        for c in text_cols:
            levels = set(frame[c]) - {TOTAL, ""}
            if levels and levels <= known_sites:
                site_col = c
                break
    group_cols = [
        c
        for c in text_cols
        if c != site_col and (roles.get(c) == "group" or (frame[c] == TOTAL).any())
    ]
    measures, additivity_of = _monitor_quantities()
    monitor = "indicator" in cols and frame["indicator"].isin(list(measures)).all()
    key_cols = [
        c
        for c in text_cols
        if c not in group_cols
        and c != site_col
        and not (monitor and (c == "indicator" or c in _DESCRIPTIVE))
        and c not in _DESCRIPTIVE
    ]

    if site_col is not None:
        site = frame[site_col].where(frame[site_col] != TOTAL, report_sites).to_numpy()
    else:
        site = np.full(n, report_sites, dtype=object)
    if group_cols:
        groups = _joined(frame, sorted(group_cols), total=True)
    else:
        groups = np.full(n, "", dtype=object)
    # other count columns of a monitor table (``value`` when it holds counts) keep the
    # indicator in their key: each indicator's column is a quantity of its own
    own_cols = sorted({*key_cols, "indicator"}) if monitor else key_cols
    own_key = _joined(frame, own_cols, total=False) if own_cols else np.full(n, "", dtype=object)
    ends = frame[end_col].to_numpy() if end_col else np.full(n, context.reference_date, object)
    starts = frame[start_col].to_numpy() if start_col else np.full(n, context.study_start, object)

    parts = []
    for column in counts:  # a handful of count columns per table
        value = parse_numbers(frame[column], decimal_comma=decimal_comma)
        text = frame[column].str.strip()
        suppressed = ((text == SUPPRESSED) | text.str.fullmatch(r"<\s*\d+")).to_numpy(dtype=bool)
        present = ~np.isnan(value) | suppressed
        # a monitor row's ``value`` of a count measure is its numerator (the same cell)
        as_numerator = (
            (frame["kind"] == "count").to_numpy() if monitor and column == "value" and "kind" in cols
            else np.zeros(n, dtype=bool)
        )
        if monitor and (column in ("numerator", "denominator") or as_numerator.all()):
            which = 1 if column == "denominator" else 0
            quantity_name = frame["indicator"].map(lambda m, w=which: measures[m][w]).to_numpy()
            present &= pd.notna(quantity_name)
            names = np.where(pd.notna(quantity_name), quantity_name, "").astype(object)
            quantity = ("monitor:" + pd.Series(names, dtype=object)).to_numpy()
            additivity = pd.Series(names).map(additivity_of).fillna("on_date").to_numpy()
            p_start = np.where(
                additivity == "cumulative",
                context.study_start,
                np.where(additivity == "on_date", ends, starts),
            )
            row_key = np.full(n, "", dtype=object)
        else:
            quantity = np.full(n, f"{file}:{column}", dtype=object)
            additivity = np.full(n, "on_date", dtype=object)
            p_start = starts
            row_key = own_key
            if column in not_additive and group_cols:
                levels = _joined(frame, sorted(group_cols), total=False)
                row_key = np.where(row_key == "", levels, pd.Series(row_key, dtype=object) + "|" + levels)
            if column == POOLED_EVENTS and "time" in key_cols:
                # a curve's released events are those since its previous released step:
                # the window belongs to the cell's identity (curves of other populations
                # pool over other windows, and are no parts of this one)
                row_key = _with_window(frame, key_cols, row_key)
        parts.append(
            pd.DataFrame(
                {
                    "file": file,
                    "row": np.arange(1, n + 1),
                    "column": column,
                    "quantity": quantity,
                    "additivity": additivity,
                    "sites": site,
                    "period_start": p_start,
                    "period_end": ends,
                    "groups": groups if column not in not_additive else np.full(n, "", dtype=object),
                    "key": row_key,
                    "value": value,
                    "suppressed": suppressed,
                    "rounding": int(context.rounding or 0),
                }
            ).loc[present]
        )
    out = pd.concat(parts, ignore_index=True)
    for c in ("file", "column", "quantity", "additivity", "sites", "period_start", "period_end", "groups", "key"):
        out[c] = out[c].astype(str)
    return out.reset_index(drop=True)


def _with_window(frame: pd.DataFrame, key_cols: Sequence[str], row_key: np.ndarray) -> np.ndarray:
    """``key`` plus ``|since=<previous time of the same curve>`` (``since=`` at a curve's start)."""
    others = [c for c in key_cols if c != "time"]
    curve = (
        pd.MultiIndex.from_frame(frame[others].astype(str)).factorize()[0]
        if others
        else np.zeros(len(frame), dtype=np.int64)
    )
    times = frame["time"].astype(str)
    previous = times.groupby(curve, sort=False).shift(1).fillna("")
    return (pd.Series(row_key, dtype=object) + "|since=" + previous.to_numpy()).to_numpy(dtype=object)


def _joined(frame: pd.DataFrame, columns: Sequence[str], *, total: bool) -> np.ndarray:
    """``col=value|col=value`` per row; with ``total`` the label ``all`` becomes ``*``."""
    pieces = []
    for c in columns:
        values = frame[c].astype(str)
        if total:
            values = values.where(values != TOTAL, "*")
        pieces.append(c + "=" + values)
    joined = pieces[0]
    for p in pieces[1:]:
        joined = joined + "|" + p
    return joined.to_numpy(dtype=object)


def entry_from_tables(
    tables: Mapping[str, pd.DataFrame],
    roles: Mapping[str, Mapping[str, str]],
    *,
    context: ReleaseContext,
    settings: Mapping,
    files: Mapping[str, str],
    decimal_comma: Mapping[str, bool] | None = None,
    not_additive: Mapping[str, Sequence[str]] | None = None,
) -> LedgerEntry:
    """A ledger entry for a release: the cells of every released table.

    ``tables``: file -> the table as released (text); ``roles``: file -> column roles;
    ``files``: file -> sha256 of every released file (to match the entry to the report
    later); ``settings``: the disclosure settings in force
    (:meth:`cohort.disclosure.policy.DisclosureSettings.as_dict`).
    """
    decimal_comma = decimal_comma or {}
    parts = [
        table_cells(
            frame,
            file=name,
            roles=roles.get(name, {}),
            context=context,
            decimal_comma=decimal_comma.get(name, False),
            not_additive=tuple((not_additive or {}).get(name, ())),
        )
        for name, frame in sorted(tables.items())
    ]
    parts = [p for p in parts if len(p)]
    cells = pd.concat(parts, ignore_index=True) if parts else empty_cells()
    return LedgerEntry(context=context, settings=dict(settings), files=dict(files), cells=cells)


# --------------------------------------------------------------------------------------
# From cells to the linear system a reader holds
# --------------------------------------------------------------------------------------

_IDENTITY = ["quantity", "sites", "period_start", "period_end", "groups", "key"]


@dataclass
class ReleaseSystem:
    """The linear system of a set of releases, with what each cell and relation is.

    ``variables``: one row per cell of the system (position = cell id) with the identity
    columns, ``status`` (``released``, ``suppressed``, ``virtual``, ``structural``),
    ``new`` (observed in the release under check), and where it was last seen
    (``report``, ``file``, ``row``, ``column``; empty for virtual cells).
    ``relations``: one row per relation (position = id) with ``label``, ``kind`` and
    ``new`` (has a cell of the release under check).
    """

    system: LinearSystem
    variables: pd.DataFrame
    relations: pd.DataFrame

    def describe(self, cell: int) -> str:
        """One line naming a cell's population (never a pseudonym; site codes only)."""
        return _describe(self.variables.iloc[int(cell)])


def _describe(v) -> str:
    return str(_describe_frame(pd.DataFrame([v]))[0])


def _describe_frame(v: pd.DataFrame) -> np.ndarray:
    """One line per row naming its population (whole-column string operations)."""
    q = v["quantity"].astype(str)
    q = q.where(~q.str.startswith("monitor:"), q.str.slice(len("monitor:")))
    sites = v["sites"].astype(str).where(v["sites"] != "*", "all")
    start, end = v["period_start"].astype(str), v["period_end"].astype(str)
    period = ("on " + end).where(start == end, start + " to " + end)
    text = q + ", sites " + sites + ", " + period
    groups = v["groups"].astype(str).str.replace("=*", "=all", regex=False)
    text = text + np.where(groups != "", ", " + groups, "")
    key = v["key"].astype(str)
    text = text + np.where(key != "", ", " + key, "")
    return text.to_numpy(dtype=object)


def linear_system(
    cells: pd.DataFrame,
    *,
    relations: Iterable[tuple[str, tuple[str | None, ...]]] = QUANTITY_RELATIONS,
    site_periods: Mapping[str, tuple[str, str]] | None = None,
    new_release=None,
) -> ReleaseSystem:
    """The linear system a reader of ``cells`` holds; see the module docstring.

    Parameters
    ----------
    cells : DataFrame
        The ledger's cell columns plus ``release`` (order: later releases win for a cell
        released twice) and ``report``.
    relations : sequence
        Relations between quantities (:data:`QUANTITY_RELATIONS`).
    site_periods : mapping, optional
        Delivery period per site: atoms wholly outside it are structural zeros.
    new_release : scalar, optional
        The ``release`` value of the release under check (its cells and relations are
        flagged ``new``).

    Examples
    --------
    All sites (30) and all sites but B (21) released; B's own count is 9.

    >>> from cohort.disclosure.audit import audit
    >>> ctx = dict(file="tables/t.csv", row=1, column="n", quantity="q", additivity="on_date",
    ...            period_start="2024-12-31", period_end="2024-12-31", groups="", key="",
    ...            suppressed=False, rounding=0)
    >>> cells = pd.DataFrame([{**ctx, "sites": "A+B+C", "value": 30.0, "release": 0, "report": "all"},
    ...                       {**ctx, "sites": "A+C", "value": 21.0, "release": 1, "report": "but-B"}])
    >>> rs = linear_system(cells)
    >>> found = audit(rs.system, threshold=10).unprotected
    >>> [(rs.describe(c), row.lower) for c, row in found.iterrows()]
    [('q, sites B, on 2024-12-31', 9.0)]
    """
    cells = cells.reset_index(drop=True).copy()
    if cells.empty:
        return _empty_system()
    for c in _IDENTITY + ["additivity", "file", "column", "report"]:
        cells[c] = cells[c].astype(str)
    cells["release"] = cells["release"]
    cells["new"] = (cells["release"] == new_release) if new_release is not None else False

    # --- 1. cells with the same population are one variable; the latest released value wins
    var_id, uniq = pd.factorize(pd.MultiIndex.from_frame(cells[_IDENTITY]))
    cells["var"] = var_id
    n_var = len(uniq)
    variables = pd.DataFrame(list(uniq), columns=_IDENTITY)
    # the observation kept per variable: released over suppressed, then the latest
    # release, then its first row, then a named count over a monitor row's ``value``
    order = cells.assign(
        _released=~cells["suppressed"], _row=-cells["row"], _named=cells["column"] != "value"
    ).sort_values(["var", "_released", "release", "_row", "_named"], kind="mergesort")
    last = order.groupby("var", sort=True).tail(1).set_index("var").sort_index()
    variables["additivity"] = last["additivity"].to_numpy()
    released = (~last["suppressed"]).to_numpy() & ~np.isnan(last["value"].to_numpy(dtype=float))
    variables["status"] = np.where(released, "released", "suppressed")
    variables["value"] = np.where(released, last["value"].to_numpy(dtype=float), np.nan)
    variables["rounding"] = np.where(released, last["rounding"].to_numpy(), 0)
    for c in ("report", "file", "row", "column"):
        variables[c] = last[c].to_numpy()
    variables["new"] = cells.groupby("var")["new"].any().reindex(range(n_var)).to_numpy()
    variables["seen"] = cells.groupby("var").size().reindex(range(n_var)).to_numpy()

    rel_parts: list[pd.DataFrame] = []  # columns: relation label, kind, var, coef
    study_start = _study_start(variables)

    # --- 2. relations between quantities (creating the members no release shows) -------
    variables, rels = _quantity_relations(variables, list(relations), study_start)
    rel_parts.extend(rels)

    # --- 3. step arithmetic of curves -------------------------------------------------
    variables, rels = _curve_relations(variables)
    rel_parts.extend(rels)

    # --- 4. atoms: every population as the sum of its finest parts ---------------------
    variables, rels = _atom_relations(variables, site_periods or {})
    rel_parts.extend(rels)

    # cells outside their site's delivery period are 0 by construction: known, not audited
    zero = structural_zeros(variables, site_periods or {}) & (variables["status"] != "released").to_numpy()
    variables.loc[zero, "status"] = "structural"

    # --- 5. the system ----------------------------------------------------------------
    rel = pd.concat(rel_parts, ignore_index=True) if rel_parts else pd.DataFrame(
        {"relation": [], "kind": [], "var": [], "coef": []}
    )
    rel_id, rel_labels = pd.factorize(rel["relation"], sort=False)
    # the parts of a released (exact) zero are 0: that tells nothing the zero does not (a
    # released zero is itself judged by the zero rule), so they are known, not audited
    variables = _parts_of_zeros(variables, rel, rel_id)
    kinds = rel.groupby(rel_id)["kind"].first().reindex(range(len(rel_labels))).to_numpy()
    value = variables["value"].to_numpy(dtype=float)
    status = variables["status"].to_numpy()
    rounding = variables["rounding"].to_numpy(dtype=np.int64)
    lower = np.zeros(len(variables))
    upper = np.full(len(variables), np.inf)
    is_released = status == "released"
    lo_r, hi_r = value.copy(), value.copy()
    for r in np.unique(rounding[is_released]):  # one pass per rounding multiple in use
        sel = is_released & (rounding == r)
        lo_r[sel], hi_r[sel] = rounded_interval(value[sel], int(r))
    lower[is_released] = lo_r[is_released]
    upper[is_released] = hi_r[is_released]
    structural = status == "structural"
    upper[structural] = 0.0
    audited = (status == "suppressed") | (status == "virtual")
    system = LinearSystem.from_arrays(
        lower,
        upper,
        rel_id,
        rel["var"].to_numpy(dtype=np.int64),
        rel["coef"].to_numpy(dtype=float),
        audited=audited,
    )
    new_var = variables["new"].to_numpy(dtype=bool)
    rel_new = np.bincount(rel_id, weights=new_var[rel["var"].to_numpy(dtype=np.int64)], minlength=len(rel_labels)) > 0
    relations_frame = pd.DataFrame({"label": list(rel_labels), "kind": kinds, "new": rel_new})
    return ReleaseSystem(system, variables.reset_index(drop=True), relations_frame)


def _parts_of_zeros(variables: pd.DataFrame, rel: pd.DataFrame, rel_id: np.ndarray) -> pd.DataFrame:
    """Mark as ``structural`` the unknown parts of every released exact zero: a relation
    ``total = sum(parts)`` (one coefficient +1, the others -1) whose total is released as 0
    without rounding."""
    if not len(rel):
        return variables
    status = variables["status"].to_numpy()
    value = variables["value"].to_numpy(dtype=float)
    exact_zero = (status == "released") & (value == 0) & (variables["rounding"].to_numpy() <= 1)
    if not exact_zero.any():
        return variables
    var = rel["var"].to_numpy(dtype=np.int64)
    coef = rel["coef"].to_numpy(dtype=float)
    m = int(rel_id.max()) + 1
    n_plus = np.bincount(rel_id, weights=coef > 0, minlength=m)
    n_minus = np.bincount(rel_id, weights=coef < 0, minlength=m)
    n_all = np.bincount(rel_id, minlength=m)
    total_zero = np.bincount(rel_id, weights=(coef > 0) & exact_zero[var], minlength=m) > 0
    sums = (n_plus == 1) & (n_minus == n_all - 1) & total_zero
    parts = var[sums[rel_id] & (coef < 0)]
    unknown = np.isin(status[parts], ("suppressed", "virtual"))
    if unknown.any():
        variables = variables.copy()
        variables.loc[parts[unknown], "status"] = "structural"
    return variables


def _empty_system() -> ReleaseSystem:
    variables = pd.DataFrame(columns=[*_IDENTITY, "additivity", "status", "value", "rounding",
                                      "report", "file", "row", "column", "new", "seen"])
    system = LinearSystem.from_arrays([], [], [], [], [])
    return ReleaseSystem(system, variables, pd.DataFrame({"label": [], "kind": [], "new": []}))


def _study_start(variables: pd.DataFrame) -> str:
    cum = variables.loc[variables["additivity"] == "cumulative", "period_start"]
    if len(cum):
        return str(cum.min())
    return str(variables["period_start"].min())


def _add_virtual(variables: pd.DataFrame, new: pd.DataFrame, status: str = "virtual") -> tuple[pd.DataFrame, np.ndarray]:
    """Append variables ``new`` (identity + additivity) unless present; return their ids."""
    new = new.drop_duplicates(_IDENTITY).reset_index(drop=True)
    index = pd.MultiIndex.from_frame(variables[_IDENTITY])
    found = index.get_indexer(pd.MultiIndex.from_frame(new[_IDENTITY])) if len(new) else np.zeros(0, np.int64)
    missing = new.loc[found < 0]
    if len(missing):
        add = missing.assign(
            status=status, value=np.nan, rounding=0, report="", file="", row=0, column="",
            new=False, seen=0,
        )
        variables = pd.concat([variables, add[variables.columns]], ignore_index=True)
        index = pd.MultiIndex.from_frame(variables[_IDENTITY])
    return variables, index


def _lookup(variables: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    index = pd.MultiIndex.from_frame(variables[_IDENTITY])
    return index.get_indexer(pd.MultiIndex.from_frame(frame[_IDENTITY]))


def _split_quantity(quantity: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``prefix:name`` -> (prefix, name); a quantity without ``:`` has an empty prefix."""
    parts = quantity.str.rsplit(":", n=1, expand=True)
    if parts.shape[1] < 2:
        return pd.Series("", index=quantity.index), parts[0]
    has = parts[1].notna()
    return parts[0].where(has, ""), parts[1].where(has, parts[0])


def _quantity_relations(variables, relations, study_start):
    """``total = sum(parts)`` for every population where any member is released."""
    out = []
    for total, parts in relations:  # a handful of declared relations
        prefix, suffix = _split_quantity(variables["quantity"])
        named = [total, *[p for p in parts if p is not None]]
        sel = suffix.isin(named).to_numpy()
        if not sel.any():
            continue
        members = variables.loc[sel]
        kinds = dict(zip(suffix[sel], members["additivity"], strict=True))
        anchors = (
            pd.DataFrame(
                {
                    "prefix": prefix[sel].to_numpy(),
                    "sites": members["sites"].to_numpy(),
                    "groups": members["groups"].to_numpy(),
                    "key": members["key"].to_numpy(),
                    # the monitor's periods follow from each quantity's definition (the same
                    # date for a stock and a count since the start); elsewhere the period is
                    # the members' own
                    "anchor_start": members["period_start"]
                    .where(
                        (members["additivity"] == "in_period") | (prefix[sel] != "monitor"), ""
                    )
                    .to_numpy(),
                    "period_end": members["period_end"].to_numpy(),
                }
            )
            .drop_duplicates()
            .reset_index(drop=True)
        )
        all_in_period = all(kinds.get(q, _guess_additivity(q)) == "in_period" for q in named)
        specs = [
            (q, kinds.get(q, _guess_additivity(q)), 1.0 if i == 0 else -1.0)
            for i, q in enumerate(named)
        ]
        if any(p is None for p in parts):
            rest = f"{total}-without-{'-'.join(p for p in parts if p)}"
            specs.append((rest, "in_period" if all_in_period else "on_date", -1.0))
        ids = []
        for q, kind, coef in specs:
            frame = pd.DataFrame(
                {
                    "quantity": anchors["prefix"] + ":" + q,
                    "sites": anchors["sites"],
                    "period_start": np.where(
                        anchors["prefix"] == "monitor",
                        _period_start(kind, anchors, study_start),
                        anchors["anchor_start"],
                    ),
                    "period_end": anchors["period_end"],
                    "groups": anchors["groups"],
                    "key": anchors["key"],
                    "additivity": kind,
                }
            )
            variables, _ = _add_virtual(variables, frame)
            ids.append((_lookup(variables, frame), coef))
        text = f"{total} = " + " + ".join(
            p if p is not None else f"({total} without {'/'.join(x for x in parts if x)})"
            for p in parts
        )
        labels = (text + " (" + _describe_frame(variables.iloc[ids[0][0]]) + ")").astype(object)
        for member, coef in ids:
            out.append(pd.DataFrame({"relation": labels, "kind": "quantity", "var": member, "coef": coef}))
    return variables, out


def _guess_additivity(quantity: str) -> str:
    _, additivity = _monitor_quantities()
    return additivity.get(quantity, "on_date")


def _period_start(kind: str, anchors: pd.DataFrame, study_start: str):
    if kind == "in_period":
        return anchors["anchor_start"]
    if kind == "cumulative":
        return study_start
    return anchors["period_end"]


def _curve_relations(variables):
    """``n_risk(t_i) - n_risk(t_next) = households leaving the risk set in between``."""
    is_risk = variables["quantity"].str.endswith(":n_risk") & variables["key"].str.contains(
        r"(?:^|\|)time=", regex=True
    )
    if not is_risk.any():
        return variables, []
    curve = variables.loc[is_risk].copy()
    time_part = curve["key"].str.extract(r"(?:^|\|)time=([^|]*)")[0]
    curve["_t"] = pd.to_numeric(time_part, errors="coerce")
    curve = curve.loc[curve["_t"].notna()]
    curve["_curve"] = curve["key"].str.replace(r"(^|\|)time=[^|]*", "", regex=True)
    curve = curve.sort_values(
        ["quantity", "sites", "period_start", "period_end", "groups", "_curve", "_t"],
        kind="mergesort",
    )
    same = (
        curve[["quantity", "sites", "period_start", "period_end", "groups", "_curve"]]
        .ne(curve[["quantity", "sites", "period_start", "period_end", "groups", "_curve"]].shift())
        .any(axis=1)
    )
    nxt = curve.shift(-1)
    pair = (~same.shift(-1, fill_value=True)).to_numpy()
    a = curve.loc[pair]
    b = nxt.loc[pair]
    if a.empty:
        return variables, []
    leavers = pd.DataFrame(
        {
            "quantity": a["quantity"].str.replace(r":n_risk$", ":leavers", regex=True).to_numpy(),
            "sites": a["sites"].to_numpy(),
            "period_start": a["period_start"].to_numpy(),
            "period_end": a["period_end"].to_numpy(),
            "groups": a["groups"].to_numpy(),
            "key": (
                a["_curve"].str.lstrip("|")
                + np.where(a["_curve"].str.lstrip("|") == "", "", "|")
                + "from="
                + a["_t"].map("{:g}".format)
                + "|to="
                + b["_t"].map("{:g}".format)
            ).to_numpy(),
            "additivity": "on_date",
        }
    )
    variables, _ = _add_virtual(variables, leavers)
    ids_l = _lookup(variables, leavers)
    ids_a = a.index.to_numpy()
    ids_b = _lookup(variables, b[_IDENTITY])
    labels = (
        a["file"].where(a["file"] != "", a["quantity"]).astype(str)
        + ": n_risk at "
        + a["_t"].map("{:g}".format)
        + " minus n_risk at "
        + b["_t"].map("{:g}".format)
        + " = households leaving in between ("
        + a["sites"].astype(str)
        + ")"
    ).to_numpy()
    out = [
        pd.DataFrame({"relation": labels, "kind": "curve", "var": ids, "coef": coef})
        for ids, coef in ((ids_a, 1.0), (ids_b, -1.0), (ids_l, -1.0))
    ]
    return variables, out


def _atom_relations(variables, site_periods):
    """Each cell as the sum of its atoms (single site x elementary period x single levels)."""
    v = variables.reset_index(drop=True).copy()
    v["_var"] = np.arange(len(v))
    add = v["additivity"].to_numpy()
    fam_period = np.where(
        add == "in_period",
        "",
        np.where(add == "cumulative", v["period_start"], v["period_start"] + "/" + v["period_end"]),
    )
    fam_key = pd.MultiIndex.from_arrays(
        [v["quantity"].to_numpy(), v["key"].to_numpy(), fam_period.astype(object)]
    )
    v["_fam"] = pd.factorize(fam_key)[0]

    # sites
    sites = v[["_var", "_fam", "sites"]].assign(site=v["sites"].str.split("+")).explode("site")
    sites = sites[["_var", "_fam", "site"]]

    # periods: elementary intervals per family (from every start and every end + 1 day)
    start_day = _days(v["period_start"])
    end_day = _days(v["period_end"])
    additive = np.isin(add, ("in_period", "cumulative"))
    pts = pd.DataFrame(
        {
            "_fam": np.r_[v["_fam"].to_numpy()[additive], v["_fam"].to_numpy()[additive]],
            "p": np.r_[start_day[additive], end_day[additive] + 1],
        }
    ).drop_duplicates().sort_values(["_fam", "p"], kind="mergesort")
    pts["_next"] = pts.groupby("_fam")["p"].shift(-1)
    atoms_p = pts.dropna(subset=["_next"]).reset_index(drop=True)
    atoms_p["lo"] = atoms_p["p"].astype(np.int64)
    atoms_p["hi"] = atoms_p["_next"].astype(np.int64) - 1
    period_rows = []
    if len(atoms_p):
        key = atoms_p["_fam"].to_numpy(np.int64) * (1 << 32) + (atoms_p["lo"].to_numpy() + (1 << 31))
        va = v.loc[additive]
        a_key = va["_fam"].to_numpy(np.int64) * (1 << 32) + (start_day[additive] + (1 << 31))
        b_key = va["_fam"].to_numpy(np.int64) * (1 << 32) + (end_day[additive] + 1 + (1 << 31))
        first = np.searchsorted(key, a_key, side="left")
        stop = np.searchsorted(key, b_key, side="left")
        count = stop - first
        rep_var = np.repeat(va["_var"].to_numpy(), count)
        offs = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        idx = np.repeat(first, count) + offs
        period_rows.append(
            pd.DataFrame(
                {
                    "_var": rep_var,
                    "p_lo": atoms_p["lo"].to_numpy()[idx],
                    "p_hi": atoms_p["hi"].to_numpy()[idx],
                }
            )
        )
    other = ~additive
    period_rows.append(
        pd.DataFrame({"_var": v["_var"].to_numpy()[other], "p_lo": start_day[other], "p_hi": end_day[other]})
    )
    periods = pd.concat(period_rows, ignore_index=True)

    # groups: column=level pieces; '*' = every level of the family
    g = v[["_var", "_fam", "groups"]].copy()
    g = g.assign(piece=g["groups"].str.split("|")).explode("piece")
    g = g.loc[g["piece"].notna() & (g["piece"] != "")]
    split = g["piece"].str.split("=", n=1)
    g["gcol"] = split.str[0]
    g["gval"] = split.str[1].fillna("*")
    gcols = sorted(g["gcol"].unique())
    members = sites.merge(periods, on="_var", how="left")
    for gc in gcols:  # a handful of group columns over all tables
        part = g.loc[g["gcol"] == gc, ["_var", "_fam", "gval"]]
        levels = part.loc[part["gval"] != "*", ["_fam", "gval"]].drop_duplicates()
        has = v[["_var", "_fam"]].merge(part[["_var", "gval"]], on="_var", how="left")
        has["gval"] = has["gval"].fillna("*")
        fixed = has.loc[has["gval"] != "*"]
        total = has.loc[has["gval"] == "*", ["_var", "_fam"]].merge(levels, on="_fam", how="left")
        total["gval"] = total["gval"].fillna("*")
        expanded = pd.concat([fixed[["_var", "gval"]], total[["_var", "gval"]]], ignore_index=True)
        members = members.merge(expanded.rename(columns={"gval": f"g:{gc}"}), on="_var", how="left")
    atom_cols = ["site", "p_lo", "p_hi", *[f"g:{gc}" for gc in gcols]]
    members = members.merge(v[["_var", "_fam"]], on="_var", how="left", suffixes=("", "_v"))
    members["_fam"] = members["_fam"].fillna(members.get("_fam_v"))
    members = members.drop(columns=[c for c in members.columns if c == "_fam_v"])
    atom_key = pd.MultiIndex.from_frame(members[["_fam", *atom_cols]].astype(str))
    members["_atom"] = pd.factorize(atom_key)[0]
    n_atoms = int(members["_atom"].max()) + 1 if len(members) else 0

    # a variable with one atom is that atom (the first such variable per atom)
    size = members.groupby("_var")["_atom"].transform("size").to_numpy()
    single = members.loc[size == 1].drop_duplicates("_atom")
    atom_var = np.full(n_atoms, -1, dtype=np.int64)
    atom_var[single["_atom"].to_numpy()] = single["_var"].to_numpy()
    missing = np.flatnonzero(atom_var < 0)
    out = []
    if len(missing):
        first = members.drop_duplicates("_atom").set_index("_atom").loc[missing]
        fam = v.set_index("_var").loc[first["_var"].to_numpy()]
        groups = _atom_groups(first, gcols)
        new = pd.DataFrame(
            {
                "quantity": fam["quantity"].to_numpy(),
                "sites": first["site"].to_numpy(),
                "period_start": _iso(first["p_lo"].to_numpy()),
                "period_end": _iso(first["p_hi"].to_numpy()),
                "groups": groups,
                "key": fam["key"].to_numpy(),
                "additivity": fam["additivity"].to_numpy(),
            }
        )
        # an increment of a cumulative count is its own quantity: the new units in a period
        cum = new["additivity"].to_numpy() == "cumulative"
        starts_at_family = new["period_start"].to_numpy() == fam["period_start"].to_numpy()
        inc = cum & ~starts_at_family
        new.loc[inc, "quantity"] = new.loc[inc, "quantity"] + ":new"
        new.loc[inc, "additivity"] = "in_period"
        status = np.full(len(new), "virtual", dtype=object)
        start = len(v)
        add_frame = new.assign(
            status=status, value=np.nan, rounding=0, report="", file="", row=0, column="",
            new=False, seen=0,
        )
        v = pd.concat([v, add_frame.reindex(columns=v.columns)], ignore_index=True)
        atom_var[missing] = start + np.arange(len(missing))
    # one relation per variable that is not itself an atom: var = sum of its atoms
    members["_atom_var"] = atom_var[members["_atom"].to_numpy()]
    compound = members.loc[members["_atom_var"] != members["_var"]]
    compound = compound.drop_duplicates(["_var", "_atom_var"])
    if len(compound):
        vars_ = np.unique(compound["_var"].to_numpy())
        label = pd.Series(
            _describe_frame(v.iloc[vars_]) + " = sum of its parts (by site, period, group)",
            index=vars_,
        )
        labels = label.reindex(compound["_var"].to_numpy()).to_numpy()
        self_rows = pd.DataFrame(
            {"relation": label.to_numpy(), "kind": "parts", "var": vars_, "coef": 1.0}
        )
        parts = pd.DataFrame(
            {"relation": labels, "kind": "parts", "var": compound["_atom_var"].to_numpy(), "coef": -1.0}
        )
        out = [self_rows, parts]
    v = v.drop(columns=["_var", "_fam"])
    return v, out


def _atom_groups(first: pd.DataFrame, gcols) -> np.ndarray:
    if not gcols:
        return np.full(len(first), "", dtype=object)
    pieces = []
    for gc in gcols:
        val = first[f"g:{gc}"].astype(str)
        pieces.append(np.where(val == "nan", "", gc + "=" + val))
    out = pd.Series(pieces[0], dtype=object)
    for p in pieces[1:]:
        out = out.str.cat(pd.Series(p, dtype=object), sep="|")
    return out.str.strip("|").to_numpy()


def structural_zeros(variables: pd.DataFrame, site_periods) -> np.ndarray:
    """Cells that are 0 by construction: one site, outside the site's delivery period.

    The rule is :func:`cohort.disclosure.policy.outside_delivery` (the one the release side
    applies): before the site delivered anything every count is 0; after it stopped,
    counts of events in a period are 0 (stocks on a date and counts since the start need
    not be).
    """
    if not site_periods or not len(variables):
        return np.zeros(len(variables), dtype=bool)
    return outside_delivery(
        variables["sites"].to_numpy(), variables["period_start"].to_numpy(),
        variables["period_end"].to_numpy(), variables["additivity"].to_numpy(), site_periods,
    )


def _days(values: pd.Series) -> np.ndarray:
    """ISO dates as int days since 1970; anything else (or empty) as day 0."""
    parsed = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    days = parsed.to_numpy(dtype="datetime64[D]").astype(np.int64)
    return np.where(parsed.isna().to_numpy(), 0, days)


def _iso(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype=np.int64).astype("datetime64[D]")).astype(object)


def report_files(report_dir: str | os.PathLike, names: Iterable[str]) -> dict:
    """sha256 of the named files of a report (to match a report to its ledger entry)."""
    from cohort.files import sha256_file

    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise InputNotFoundError(f"report folder {report_dir} does not exist")
    return {name: sha256_file(report_dir / name) for name in sorted(names)}
