"""The release check: read every released file of a report and judge its content.

:func:`check_release` reads every file of a report folder, in every subfolder and every
format (CSV in any case of extension, semicolon- or tab-separated text, ``.txt``,
``.xlsx``, ``.json``, ``.parquet``), as text, and applies the rules below without trusting
how the file was made or what the report says about itself. Each problem is a
:class:`Finding` naming the file, the row (1 = first data row; in a CSV the line is one
more) and the column. Values that could identify someone are never echoed. The rules are
written out, with their reasons, in ``docs/disclosure.md``.

Which files: everything under the report except its own records (``provenance.json``,
``manifest.json``) and its documents (``report.html``, ``notebooks/*.ipynb``, images
outside ``tables/`` and ``figure-data/``). A file the check cannot read is a finding: what
cannot be checked cannot be released.

Which columns hold counts (:func:`column_roles`): a column is **count-like** when every
value that is not empty or a suppression mark (``[suppressed]``, ``<10``) is a whole
number of 0 or more, whatever the column is called (``aantal``, ``value``, ``n``). Two
exceptions keep years, row numbers and scores out, and each needs the content to agree
with the name:

* an **axis**: a year column (``year``/``jaar``) whose values lie in 1990-2100; a quarter
  (1-4) or calendar month (1-12) column; a time axis (``time``, ``days``, ``months``,
  ``week``, ...) whose values never decrease within a curve (rows with the same text
  columns); a row-number column (unnamed, ``index``, ``row``, ``nr``) holding 0..n-1 or
  1..n in order;
* a **statistic** (``df``, ``score``, ``p50``, ``median``, ``mean``, ``estimate``, ...)
  that the manifest also calls a ``value`` (two independent signs). Without a manifest
  such a column is checked as counts;
* a **parameter** of the analysis (``threshold``, ``cutoff``, ``window_days``, ...) that
  holds one value in every row and that the manifest calls a ``key`` or ``value``: a
  column named ``threshold`` with varying counts is still checked as counts.

A time axis in days or months need not be whole (numbers at risk every three months are
at 91.3125 days): a ``time``-like column whose values never decrease within a curve is an
axis, not a value.

The manifest's column roles (``files: {file: {columns: {name: role}}}``, roles ``count``,
``value``, ``group``, ``key``) are read when present and not trusted blindly: ``count``
makes a column a count column, but ``value`` or ``key`` never exempts a count-like
column except as above.

Rules:

``small-count``
    An unsuppressed count ``n`` with ``0 < n < threshold``.
``protected-zero``
    An unsuppressed count of 0 that is not structural
    (:func:`cohort.disclosure.policy.protected_zeros`: a zero tells that every unit of its
    group had no such event). Structural: the events at time 0 of a curve, and cells the
    manifest declares structural (``structural_zeros: {column: [rows]}``).
``suppressed-part``
    A row where a count is suppressed still shows a value derived from it.
``formula``
    A cell (or column name) a spreadsheet would run as a formula
    (:func:`cohort.disclosure.safe_text.formula_mask`); negative numbers are numbers.
``id-column``, ``id-value``, ``row-level``
    Identifiers and row-level data (as before: pseudonym-like values, hashes, individual
    dates, unique keys, many rows without counts).
``threshold-below-minimum``
    The report says it was built with a threshold below the workbench minimum
    (:data:`cohort.disclosure.policy.MINIMUM_THRESHOLD`) and no explicit lowering is on
    record (in the ledger entry of this release, or in the settings passed in). The check
    never takes its threshold from the report's own ``provenance.json``: it uses the
    minimum (or a recorded lowering), raised - never lowered - by what the report says.
``disclosure-off``
    The report was built with disclosure control switched off.
``unreadable``
    A file the check cannot read as a table.
``derivable-cell``
    The attack audit (:mod:`cohort.disclosure.audit`) over this release and every earlier
    release in the ledger (:mod:`cohort.disclosure.ledger`) narrows a suppressed or never
    released count to an interval narrower than the protection range: the finding names
    the interval and the relations that pin it. Cells that earlier releases alone already
    reveal are reported once as warnings (``derivable-earlier``): this release cannot
    change what was released before.

:func:`check_differencing` is the older check of two reports released together (same cell
suppressed in one and released in the other; consecutive cumulative counts); the audit
covers both and more.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.delivery.schema import ID_COLUMNS
from cohort.disclosure.policy import (
    MINIMUM_THRESHOLD,
    SUPPRESSED,
    TOTAL,
    DisclosurePolicy,
    DisclosureSettings,
    curve_start_rows,
    disclosure_settings,
    protected_zeros,
)
from cohort.disclosure.safe_text import formula_mask
from cohort.exceptions import DisclosureError, InputNotFoundError

COUNT_COLUMN = re.compile(
    r"^(n|count|counts|numerator|denominator|events?|n_events|at_risk|n_at_risk|n_risk|"
    r"censored|n_censored|entered|households|episodes|registrations|measures|units|"
    r"frequency)$|^n_|_n$|_count$|^count_|_at_risk$|_events$|^households_|^episodes_",
    re.IGNORECASE,
)
VALUE_COLUMN = re.compile(
    r"^(value|share|proportion|prop|percent|pct|rate|ratio|mean|lower|upper|ci_lower|"
    r"ci_upper|lcl|ucl|survival|cif|cumulative_incidence|estimate)$|_share$|_rate$|_pct$|"
    r"_percent$|_lower$|_upper$|_mean$",
    re.IGNORECASE,
)
ID_COLUMN = re.compile(r"(^|_)(id|pseudonym|bsn)$|^id_", re.IGNORECASE)
ID_VALUE = re.compile(r"^(SYN-.+|[0-9a-fA-F]{16,}|[A-Z]{1,5}-[0-9A-Fa-f]{8,})$")
DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: A suppression mark other than ``[suppressed]``: ``<10`` (numbers at risk below 10).
MARK_VALUE = re.compile(r"^<\s*\d+$")

#: Axis names (case-insensitive) and what their content must be to count as an axis.
YEAR_AXIS = re.compile(r"^(year|years|jaar|jaren|jaartal)$", re.IGNORECASE)
QUARTER_AXIS = re.compile(r"^(quarter|kwartaal)$", re.IGNORECASE)
MONTH_AXIS = re.compile(r"^(month|maand)$", re.IGNORECASE)
TIME_AXIS = re.compile(
    r"^(t|time|tijd|day|days|dag|dagen|week|weeks|weken|months|maanden|years_since|"
    r"months_since_\w+|days_since_\w+|time_\w+|followup_\w+)$",
    re.IGNORECASE,
)
ROW_AXIS = re.compile(r"^(|#|index|row|rij|nr|no|volgnummer|unnamed: \d+)$", re.IGNORECASE)
#: Statistic names: exempt from the count rule only where the manifest calls them values.
STATISTIC = re.compile(
    r"^(df|dof|degrees_of_freedom|score|scores|p\d+(\.\d+)?|q\d+|percentile|median|mean|"
    r"sd|se|estimate|coef|beta|hr|chisq|statistic|z|p|p_value|wave_number|lower|upper|"
    r"ci_lower|ci_upper|survival|cif|mcf|cumulative_incidence|proportion|share|rate|ratio|"
    r"rate_ratio|dispersion)$|_lower$|_upper$|_se$|_mean$|_median$",
    re.IGNORECASE,
)

#: Parameter names: exempt from the count rule only where the column holds one value in
#: every row and the manifest calls it a key or a value (the safety threshold of a share).
PARAMETER = re.compile(
    r"^(threshold|cutoff|cut_off|drempel|drempelwaarde|window_days|followup_months|horizon_months)$",
    re.IGNORECASE,
)

#: A date column with this many distinct dates off month boundaries is row-level.
MAX_INDIVIDUAL_DATES = 5
#: A text column all of whose values differ, over this many rows, is a key of records.
MAX_UNIQUE_ROWS = 100
#: This many rows without a count column look like individual records.
MAX_ROWS_WITHOUT_COUNT = 1000

#: Indicators counted since the study start: each is a non-decreasing series over dates.
CUMULATIVE_INDICATORS = ("households_involved", "legal_measures", "households_with_measure")
_RELEASE_FOLDERS = ("tables", "figure-data")
#: The report's own records, read for metadata, not released data.
RECORD_FILES = ("provenance.json", "manifest.json")
#: Documents that show released tables but are not tables themselves.
_DOCUMENT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Finding:
    """One problem in one released file (``severity`` ``warning`` does not fail a check)."""

    file: str
    rule: str
    message: str
    row: int | None = None
    column: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row} (line {self.row + 1})"
        if self.column is not None:
            where += f", column {self.column!r}"
        mark = "" if self.severity == "error" else f" ({self.severity})"
        return f"{where}: {self.message} [{self.rule}]{mark}"


def format_findings(findings: Sequence[Finding], limit: int = 50) -> str:
    """One line per finding (the first ``limit``), for messages and the command line."""
    lines = [f"  {f}" for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"  ... and {len(findings) - limit} more")
    return "\n".join(lines)


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that stop a release (not the warnings)."""
    return [f for f in findings if f.severity == "error"]


def report_policy(report_dir: str | Path) -> DisclosurePolicy:
    """The disclosure policy a report *says* it was built with (provenance or manifest).

    For information only: the check does not take its threshold from here (see
    :func:`check_release`).
    """
    report_dir = Path(report_dir)
    for name, path in (("provenance.json", ("parameters", "disclosure")), ("manifest.json", ("disclosure_policy",))):
        file = report_dir / name
        if file.is_file():
            node = _json(file)
            for key in path:
                node = node.get(key, {}) if isinstance(node, dict) else {}
            if node:
                try:
                    return DisclosurePolicy(
                        threshold=node.get("threshold", 10),
                        rounding=node.get("rounding"),
                        enabled=node.get("enabled", True),
                    )
                except Exception:  # noqa: BLE001 - a damaged record is reported by the caller
                    break
    raise DisclosureError(
        f"{report_dir}: no provenance.json or manifest.json with the disclosure settings; "
        "check a folder built by `cohort report`"
    )


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------------------
# Reading every released file
# --------------------------------------------------------------------------------------


@dataclass
class ReleasedTable:
    """One table read from a released file: every cell text.

    ``label`` names it in findings (``tables/x.xlsx[Blad1]`` for a sheet, ``x.json#/a``
    for a table inside a JSON document); ``file`` is the file relative to the report.
    """

    file: str
    label: str
    frame: pd.DataFrame
    decimal_comma: bool = False
    formulas: np.ndarray | None = None  # spreadsheet cells stored as formulas


def released_files(report_dir: str | Path) -> list[Path]:
    """Every released file of a report, in every subfolder, sorted (records and documents
    excluded, see the module docstring)."""
    report_dir = Path(report_dir)
    out = []
    for path in sorted(report_dir.rglob("*")):
        if not path.is_file() and not path.is_symlink():
            continue
        rel = path.relative_to(report_dir)
        if _is_record_or_document(rel):
            continue
        out.append(path)
    return out


def _is_record_or_document(rel: Path) -> bool:
    parts = rel.parts
    if len(parts) == 1 and parts[0] in (*RECORD_FILES, "report.html"):
        return True
    if parts[0] == "notebooks" and rel.suffix.lower() == ".ipynb":
        return True
    return parts[0] not in _RELEASE_FOLDERS and rel.suffix.lower() in _DOCUMENT_SUFFIXES


def read_released(path: Path, label: str) -> list[ReleasedTable]:
    """Read one released file into tables of text.

    Raises
    ------
    DisclosureError
        When the file cannot be read as a table (the message says why; no content).
    """
    suffix = path.suffix.lower()
    if path.is_symlink():
        raise DisclosureError("a symbolic link, not a file: release the file itself")
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(path, label)
    if suffix == ".xls":
        raise DisclosureError("an old Excel workbook (.xls) cannot be checked; save it as .xlsx")
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # noqa: BLE001 - any reader failure means unreadable
            raise DisclosureError(f"not a readable Parquet file ({type(error).__name__})") from None
        return [ReleasedTable(label, label, _as_text(frame))]
    if suffix == ".json":
        return _read_json(path, label)
    return _read_text(path, label)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as released text: missing empty, whole floats without ``.0`` kept as is."""
    out = {}
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col.dtype):
            text = col.map({True: "true", False: "false"}).astype(object)
        else:
            text = col.astype(object).where(col.notna(), "").astype(str)
        out[str(c)] = text.where(col.notna(), "").to_numpy(dtype=object)
    return pd.DataFrame(out, index=range(len(frame)), dtype=object)


def _read_text(path: Path, label: str) -> list[ReleasedTable]:
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise DisclosureError("a binary file, not a table of text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    if not text.strip():
        return [ReleasedTable(label, label, pd.DataFrame())]
    sample = "\n".join(text.splitlines()[:50])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        sep = dialect.delimiter
    except csv.Error:
        sep = ","
    lines = text.splitlines()
    if sep == "," and path.suffix.lower() == ".txt" and "," not in lines[0]:
        # free text: one column of lines, so formula lines and identifiers are still found
        frame = pd.DataFrame({"text": lines}, dtype=object)
        return [ReleasedTable(label, label, frame)]
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
            engine="python",
        )
    except (pd.errors.ParserError, csv.Error, ValueError) as error:
        raise DisclosureError(f"not a readable delimited text file ({str(error)[:80]})") from None
    return [ReleasedTable(label, label, frame.astype(object), decimal_comma=sep == ";")]


def _read_excel(path: Path, label: str) -> list[ReleasedTable]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as error:  # noqa: BLE001 - any reader failure means unreadable
        raise DisclosureError(f"not a readable Excel workbook ({type(error).__name__})") from None
    tables = []
    try:
        for sheet in book.worksheets:  # a handful of sheets per workbook
            rows = [list(r) for r in sheet.iter_rows(values_only=True)]
            rows = [r for r in rows if any(v is not None and v != "" for v in r)]
            name = f"{label}[{sheet.title}]"
            if not rows:
                continue
            width = max(len(r) for r in rows)
            header = [("" if v is None else str(v)) for v in rows[0]] + [""] * (width - len(rows[0]))
            body = [r + [None] * (width - len(r)) for r in rows[1:]]
            frame = pd.DataFrame(body, columns=_unique(header), dtype=object)
            tables.append(ReleasedTable(label, name, _excel_text(frame)))
    finally:
        book.close()
    return tables


def _excel_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for c in frame.columns:
        col = frame[c]
        text = col.map(_excel_value)
        out[c] = text.to_numpy(dtype=object)
    return pd.DataFrame(out, index=range(len(frame)), dtype=object)


def _excel_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "isoformat"):
        return v.isoformat()[:10]
    return str(v)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}.{k}")
        seen[n] = k + 1
    return out


def _read_json(path: Path, label: str) -> list[ReleasedTable]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise DisclosureError(f"not a readable JSON file ({type(error).__name__})") from None
    tables: list[ReleasedTable] = []
    _json_tables(data, "", label, tables)
    return tables


def _json_tables(node, pointer: str, label: str, out: list) -> None:
    """Every table inside a JSON document: lists of records, column mappings, the
    ``{"columns": [...], "data": [[...]]}`` form, and mappings of plain values (one row)."""
    name = label if not pointer else f"{label}#{pointer}"
    if isinstance(node, list):
        if node and all(isinstance(x, dict) for x in node):
            out.append(ReleasedTable(label, name, _as_text(pd.DataFrame(node).map(_json_value))))
            for i, x in enumerate(node):
                for k, v in x.items():
                    if isinstance(v, dict | list):
                        _json_tables(v, f"{pointer}/{i}/{k}", label, out)
        elif node and all(isinstance(x, list) for x in node):
            out.append(ReleasedTable(label, name, _as_text(pd.DataFrame(node).map(_json_value))))
        elif node:
            out.append(ReleasedTable(label, name, _as_text(pd.DataFrame({"value": node}).map(_json_value))))
        return
    if not isinstance(node, dict):
        out.append(ReleasedTable(label, name, pd.DataFrame({"value": [_json_value(node)]}, dtype=object)))
        return
    if isinstance(node.get("columns"), list) and isinstance(node.get("data"), list):
        frame = pd.DataFrame(node["data"], columns=[str(c) for c in node["columns"]])
        out.append(ReleasedTable(label, name, _as_text(frame.map(_json_value))))
        return
    values = {k: v for k, v in node.items() if not isinstance(v, dict | list)}
    lists = {k: v for k, v in node.items() if isinstance(v, list) and not any(isinstance(x, dict | list) for x in v)}
    if lists and len({len(v) for v in lists.values()}) == 1 and not values and len(lists) == len(node):
        out.append(ReleasedTable(label, name, _as_text(pd.DataFrame(lists).map(_json_value))))
        return
    if values:
        out.append(ReleasedTable(label, name, _as_text(pd.DataFrame([values]).map(_json_value))))
    for k, v in node.items():
        if isinstance(v, dict | list):
            _json_tables(v, f"{pointer}/{k}", label, out)


def _json_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v) if not isinstance(v, dict | list) else json.dumps(v)


# --------------------------------------------------------------------------------------
# What each column holds
# --------------------------------------------------------------------------------------


def _present(text: pd.Series) -> np.ndarray:
    t = text.astype(str).str.strip()
    return ((t != "") & (t != SUPPRESSED) & ~t.str.match(MARK_VALUE)).to_numpy(dtype=bool)


def _marked(text: pd.Series) -> np.ndarray:
    t = text.astype(str).str.strip()
    return ((t == SUPPRESSED) | t.str.match(MARK_VALUE)).to_numpy(dtype=bool)


def column_roles(
    frame: pd.DataFrame, manifest: Mapping[str, str] | None = None, *, decimal_comma: bool = False
) -> dict[str, str]:
    """What each column of a released table holds: ``count``, ``value``, ``axis`` or ``text``.

    The rule is in the module docstring (content first; names only exempt where the
    content agrees; the manifest's roles read but not trusted blindly).

    Examples
    --------
    >>> t = pd.DataFrame({"jaar": ["2023", "2024"], "aantal": ["12", "4"],
    ...                   "score": ["7", "6"], "share": ["0.5", "0.25"], "site": ["A", "B"]})
    >>> column_roles(t)
    {'jaar': 'axis', 'aantal': 'count', 'score': 'count', 'share': 'value', 'site': 'text'}
    >>> column_roles(t, {"score": "value"})["score"]
    'value'
    """
    from cohort.disclosure.ledger import parse_numbers

    manifest = manifest or {}
    facts = {}
    text_cols = []
    for c in frame.columns:
        col = frame[c].astype(str)
        present = _present(col)
        values = parse_numbers(col, decimal_comma=decimal_comma)
        facts[c] = (values, present, _marked(col))
        if present.any() and np.isnan(values[present]).any():
            text_cols.append(c)
    group = _curve_groups(frame, text_cols)
    roles: dict[str, str] = {}
    for c in frame.columns:
        name = str(c)
        declared = manifest.get(name)
        values, present, marked = facts[c]
        if not present.any():
            # only suppression marks (or nothing): a count column if anything is marked
            roles[name] = "count" if marked.any() or declared == "count" else "text"
            continue
        if c in text_cols:
            roles[name] = "text"
            continue
        v = values[present]
        whole = bool((v >= 0).all() and (v == np.round(v)).all())
        if declared == "count" or (whole and not _exempt(name, v, present, group, declared)):
            roles[name] = "count"
        elif (whole and any(
            rx.match(name) for rx in (YEAR_AXIS, QUARTER_AXIS, MONTH_AXIS, TIME_AXIS, ROW_AXIS)
        )) or (TIME_AXIS.match(name) and _non_decreasing(v, present, group)) or (
            PARAMETER.match(name) and _exempt(name, v, present, group, declared)
        ):
            # a time axis in days or months need not be whole (numbers at risk every 3
            # months: 91.3125 days); the same content rule holds. A parameter identifies
            # the rows like an axis (it is no value derived from the counts)
            roles[name] = "axis"
        else:
            roles[name] = "value"
    return roles


def _curve_groups(frame: pd.DataFrame, text_cols: list) -> np.ndarray:
    """A code per row: rows with the same text columns (one curve, one group)."""
    if not text_cols:
        return np.zeros(len(frame), dtype=np.int64)
    return pd.MultiIndex.from_frame(frame[text_cols].astype(str)).factorize()[0]


def _exempt(name, v, present, group, declared) -> bool:
    """An axis (name and content agree) or a statistic the manifest calls a value."""
    if YEAR_AXIS.match(name):
        return bool(((v >= 1990) & (v <= 2100)).all())
    if QUARTER_AXIS.match(name):
        return bool(((v >= 1) & (v <= 4)).all())
    if MONTH_AXIS.match(name):
        return bool(((v >= 1) & (v <= 12)).all())
    if TIME_AXIS.match(name):
        return _non_decreasing(v, present, group)
    if ROW_AXIS.match(name):
        return bool(present.all() and len(v) and (
            np.array_equal(v, np.arange(len(v))) or np.array_equal(v, np.arange(1, len(v) + 1))
        ))
    if STATISTIC.search(name):
        return declared in ("value", "key", "group")
    if PARAMETER.match(name):
        # a parameter of the analysis (the safety threshold 7): one value in every row,
        # and the release says it is a key or a value
        return declared in ("value", "key") and len(np.unique(v)) == 1
    return False


def _non_decreasing(v, present, group) -> bool:
    """Values that never decrease within a curve (rows with the same text columns)."""
    g = group[present]
    order = np.argsort(g, kind="mergesort")
    gs, vs = g[order], v[order]
    same = gs[1:] == gs[:-1]
    return bool((vs[1:][same] >= vs[:-1][same]).all())


# --------------------------------------------------------------------------------------
# The rules on one table
# --------------------------------------------------------------------------------------


def check_table(
    frame: pd.DataFrame,
    name: str,
    policy: DisclosurePolicy,
    *,
    roles: Mapping[str, str] | None = None,
    manifest: Mapping[str, str] | None = None,
    structural: Mapping[str, Sequence[int]] | None = None,
    decimal_comma: bool = False,
) -> list[Finding]:
    """Apply the release rules to one table read as text (every cell a string).

    ``roles``: the column roles (default :func:`column_roles` with ``manifest``);
    ``structural``: column -> rows (1-based) the release declares structural zeros.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["A", "B"], "aantal": ["12", "3"], "share": ["0.5", "0.1"]})
    >>> [str(f) for f in check_table(t, "tables/x.csv", DisclosurePolicy())]
    ["tables/x.csv, row 2 (line 3), column 'aantal': count 3 is below the threshold 10 and not suppressed [small-count]"]
    """
    from cohort.disclosure.ledger import parse_numbers

    frame = frame.astype(str) if len(frame.columns) else frame
    roles = dict(roles) if roles is not None else column_roles(frame, manifest, decimal_comma=decimal_comma)
    findings: list[Finding] = []
    counts = [c for c in frame.columns if roles.get(str(c)) == "count"]
    rows = np.arange(1, len(frame) + 1)

    bad_names = formula_mask(pd.Series([str(c) for c in frame.columns], dtype=object))
    if bad_names.any():
        findings.append(
            Finding(
                name,
                "formula",
                f"{int(bad_names.sum())} column name(s) a spreadsheet would run as a formula "
                "(they start with =, +, -, @ or a tab; not shown); rename them",
            )
        )
    for column in frame.columns:
        if str(column) in ID_COLUMNS or ID_COLUMN.search(str(column)):
            findings.append(
                Finding(name, "id-column", "an identifier column must never be released", column=str(column))
            )
    for column in frame.columns:
        values = frame[column]
        hits = values.str.match(ID_VALUE).to_numpy(dtype=bool)
        if hits.any():
            findings.append(
                Finding(
                    name,
                    "id-value",
                    f"{int(hits.sum())} cell(s) look like pseudonyms or keys (value not shown)",
                    row=int(rows[hits][0]),
                    column=str(column),
                )
            )
        formula = formula_mask(values.to_numpy(dtype=object))
        if formula.any():
            findings.append(
                Finding(
                    name,
                    "formula",
                    f"{int(formula.sum())} cell(s) a spreadsheet would run as a formula (they start "
                    "with =, +, -, @, a tab or a carriage return and are not numbers; value not "
                    "shown); release text through the gate, which neutralises them",
                    row=int(rows[formula][0]),
                    column=str(column),
                )
            )

    if policy.enabled:
        suppressed_row = np.zeros(len(frame), dtype=bool)
        time_col = next(
            (c for c in frame.columns if roles.get(str(c)) == "axis" and str(c).lower() in ("time", "tijd", "t")),
            None,
        )
        start = curve_start_rows(frame[time_col]) if time_col is not None else np.zeros(len(frame), bool)
        for column in counts:
            text = frame[column]
            values = parse_numbers(text, decimal_comma=decimal_comma)
            suppressed_row |= _marked(text)
            whole = ~np.isnan(values) & (values == np.round(values))
            small = whole & (values > 0) & (values < policy.threshold)
            for row, value in zip(rows[small], values[small], strict=True):
                findings.append(
                    Finding(
                        name,
                        "small-count",
                        f"count {value:g} is below the threshold {policy.threshold} and not suppressed",
                        row=int(row),
                        column=str(column),
                    )
                )
            declared = np.zeros(len(frame), dtype=bool)
            for r in (structural or {}).get(str(column), ()):
                if 1 <= int(r) <= len(frame):
                    declared[int(r) - 1] = True
            zero_text = np.where(whole, values, np.nan)
            zeros = protected_zeros(zero_text, structural=start | declared)
            for row in rows[zeros]:
                findings.append(
                    Finding(
                        name,
                        "protected-zero",
                        "count 0 is released where zeros are protected (it tells that every unit of "
                        "the group had no such event); suppress it, or declare it structural",
                        row=int(row),
                        column=str(column),
                    )
                )
        for column in frame.columns:
            if roles.get(str(column)) != "value":
                continue
            shown = _present(frame[column])
            leak = suppressed_row & shown
            if leak.any():
                findings.append(
                    Finding(
                        name,
                        "suppressed-part",
                        f"{int(leak.sum())} row(s) release this value although a count in the "
                        "same row is suppressed",
                        row=int(rows[leak][0]),
                        column=str(column),
                    )
                )
    findings.extend(_row_level(frame, name, counts))
    return findings


def _row_level(frame: pd.DataFrame, name: str, counts: list[str]) -> list[Finding]:
    findings = []
    n = len(frame)
    for column in frame.columns:
        values = frame[column]
        present = values.str.strip() != ""
        is_date = values.str.match(DATE_VALUE) & present
        if present.any() and is_date.sum() >= 0.9 * present.sum():
            dates = pd.to_datetime(values[is_date], errors="coerce", format="%Y-%m-%d")
            boundary = dates.dt.is_month_start | dates.dt.is_month_end
            individual = dates[~boundary & dates.notna()]
            if individual.nunique() >= MAX_INDIVIDUAL_DATES:
                first = int(np.flatnonzero(frame.index.isin(individual.index))[0]) + 1
                findings.append(
                    Finding(
                        name,
                        "row-level",
                        f"{individual.nunique()} distinct dates that are not period boundaries: "
                        "looks like individual records",
                        row=first,
                        column=str(column),
                    )
                )
            continue
        numeric = _numbers(values).notna() | (values == SUPPRESSED) | ~present
        if n >= MAX_UNIQUE_ROWS and not numeric.all() and values.nunique() == n:
            findings.append(
                Finding(
                    name,
                    "row-level",
                    f"all {n} values differ: looks like a key of individual records",
                    column=str(column),
                )
            )
    if n >= MAX_ROWS_WITHOUT_COUNT and not counts:
        findings.append(
            Finding(
                name,
                "row-level",
                f"{n} rows and no count column: aggregated tables state the units behind each "
                "row; this looks like individual records",
            )
        )
    return findings




def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.where(column.str.strip() != ""), errors="coerce")


def _count_columns(frame: pd.DataFrame) -> list[str]:
    """Count columns by name (used only by :func:`check_differencing`)."""
    return [c for c in frame.columns if COUNT_COLUMN.search(str(c)) and not VALUE_COLUMN.search(str(c))]


# --------------------------------------------------------------------------------------
# The threshold in force
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSettings:
    """The settings the check applies, and where they come from (for the summary)."""

    policy: DisclosurePolicy
    width: int
    minimum: int
    source: str


def _claimed(report_dir: Path) -> dict:
    """What the report says about its disclosure settings (not trusted)."""
    prov = _json(report_dir / "provenance.json")
    node = (prov.get("parameters") or {}).get("disclosure") if isinstance(prov.get("parameters"), dict) else None
    if not isinstance(node, dict):
        node = _json(report_dir / "manifest.json").get("disclosure_policy")
    return node if isinstance(node, dict) else {}


def settings_in_force(
    report_dir: Path,
    *,
    settings: DisclosureSettings | None = None,
    policy: DisclosurePolicy | None = None,
    entry=None,
    counts: np.ndarray | None = None,
    minimum: int = MINIMUM_THRESHOLD,
) -> tuple[CheckSettings, list[Finding]]:
    """The threshold, rounding and protection width the check applies, and findings.

    Trusted, in order: ``settings`` (from the parameter file: the build, or
    ``check-release --parameters``), a plain ``policy`` (never below the minimum), the
    ledger entry of exactly this release. The report's own files can only raise the
    threshold; a rounding they claim is used only when every released count is a multiple
    of it (``counts``).
    """
    findings: list[Finding] = []
    claimed = _claimed(report_dir)
    trusted: DisclosureSettings | None = settings
    source = "parameters" if settings is not None else ""
    if trusted is None and entry is not None and entry.settings:
        try:
            trusted = disclosure_settings(
                {k: entry.settings.get(k) for k in ("threshold", "rounding", "enabled", "lower_minimum")
                 if entry.settings.get(k) is not None},
                source=f"ledger entry of {entry.report}",
                minimum=minimum,
            )
            source = "ledger"
        except Exception:  # noqa: BLE001 - a recorded setting the workbench no longer accepts
            trusted = None
    if trusted is None and policy is not None:
        if policy.threshold < minimum:
            findings.append(
                Finding(
                    "provenance.json",
                    "threshold-below-minimum",
                    f"the build's threshold {policy.threshold} is below the workbench minimum "
                    f"{minimum} without an explicit lowering (lower_minimum in the parameter "
                    f"file); checked against {minimum}",
                )
            )
        trusted = DisclosureSettings(
            DisclosurePolicy(max(policy.threshold, minimum), policy.rounding, policy.enabled), minimum
        )
        source = "build"
    base = trusted.policy.threshold if trusted is not None else minimum
    if trusted is not None and not trusted.lowered and base < minimum:  # pragma: no cover
        base = minimum
    said = claimed.get("threshold")
    said_ok = isinstance(said, int) and not isinstance(said, bool) and said >= 1
    if said_ok and said < minimum and not (trusted is not None and trusted.lowered and trusted.policy.threshold <= said):
        findings.append(
            Finding(
                "provenance.json",
                "threshold-below-minimum",
                f"the report says it was built with threshold {said}, below the workbench minimum "
                f"{minimum}, and no lowering is on record (ledger or parameter file); checked "
                f"against {base}",
            )
        )
    threshold = max(base, said) if said_ok else base
    enabled = bool(claimed.get("enabled", True)) and (trusted.policy.enabled if trusted else True)
    if not enabled:
        findings.append(
            Finding(
                "provenance.json",
                "disclosure-off",
                "the report was built with disclosure control switched off; it must not be released",
            )
        )
    rounding = trusted.policy.rounding if trusted is not None else None
    said_r = claimed.get("rounding")
    if rounding is None and isinstance(said_r, int) and not isinstance(said_r, bool) and said_r > 1:
        if counts is not None and len(counts) and (np.mod(counts, said_r) == 0).all():
            rounding = said_r
    width = trusted.width if trusted is not None and trusted.protection_width else threshold
    width = max(width, threshold if not (trusted and trusted.lowered) else 1)
    return (
        CheckSettings(DisclosurePolicy(threshold, rounding, True), width, minimum, source or "minimum"),
        findings,
    )


# --------------------------------------------------------------------------------------
# The whole report
# --------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """What :func:`run_check` found and on what it based it.

    With the audit: ``system`` (the :class:`cohort.disclosure.ledger.ReleaseSystem` of the
    earlier releases and this one), ``audit`` (its
    :class:`cohort.disclosure.audit.AuditResult`), ``cells`` (every cell of the system's
    input, ``release`` = ``new_release`` for this report's) and ``earlier_ids`` (the ids of
    the ledger entries audited against), for the build that protects a release by
    suppressing in it (:mod:`cohort.disclosure.protect`).
    """

    findings: list[Finding]
    files: list[str]
    settings: CheckSettings | None
    ledger: object | None = None
    earlier_releases: int = 0
    audit_stats: dict = field(default_factory=dict)
    system: object | None = None
    audit: object | None = None
    cells: pd.DataFrame | None = None
    new_release: int | None = None
    earlier_ids: list = field(default_factory=list)
    structural: dict = field(default_factory=dict)


def _manifest_files(report_dir: Path) -> dict:
    files = _json(report_dir / "manifest.json").get("files")
    return files if isinstance(files, dict) else {}


def read_report(report_dir: Path, *, skip: Sequence[str] = ()) -> tuple[list[ReleasedTable], list[Finding], list[str]]:
    """Every table of every released file, and a finding per file that cannot be read.

    ``skip``: top-level folders that are not part of the release (a build's own records
    and staged inputs, while it is being checked)."""
    tables, findings, names = [], [], []
    for path in released_files(report_dir):
        rel = path.relative_to(report_dir).as_posix()
        if rel.split("/", 1)[0] in skip:
            continue
        names.append(rel)
        try:
            tables.extend(read_released(path, rel))
        except DisclosureError as error:
            findings.append(Finding(rel, "unreadable", f"{error}; a file the check cannot read cannot be released"))
        except (OSError, UnicodeDecodeError) as error:
            findings.append(Finding(rel, "unreadable", f"cannot be read ({type(error).__name__})"))
    return tables, findings, names


def report_context(report_dir: Path, tables: Sequence[ReleasedTable], rounding: int | None):
    """What the report's own provenance says about its populations (used for cell
    identities only, when the ledger has no entry of this release)."""
    from cohort.disclosure.ledger import SITE_COLUMNS, ReleaseContext

    prov = _json(report_dir / "provenance.json")
    params = prov.get("parameters") if isinstance(prov.get("parameters"), dict) else {}
    sites = params.get("sites")
    if isinstance(sites, list) and all(isinstance(s, str) for s in sites):
        resolved = tuple(sorted(sites))
    else:
        seen = set()
        for t in tables:
            for c in SITE_COLUMNS:
                if c in t.frame.columns:
                    seen |= set(t.frame[c].astype(str)) - {TOTAL, ""}
        resolved = tuple(sorted(seen)) if seen else None
    return ReleaseContext(
        report=str(prov.get("report") or _report_name(report_dir)),
        sites=resolved,
        study_start=str(params.get("study_start") or "2023-01-01"),
        reference_date=str(params.get("reference_date") or ""),
        fingerprint=str(prov.get("delivery_fingerprint") or ""),
        rounding=rounding,
    )


def _release_cells(tables, roles, context, not_additive=None):
    from cohort.disclosure.ledger import entry_from_tables

    return entry_from_tables(
        {t.label: t.frame for t in tables},
        {t.label: roles[t.label] for t in tables},
        context=context,
        settings={},
        files={},
        decimal_comma={t.label: t.decimal_comma for t in tables},
        not_additive=not_additive,
    ).cells


def _not_additive(tables, manifest, given) -> dict:
    """Per table, the count columns that do not add up over its group columns (the
    manifest's ``not_additive``, and what the gate recorded)."""
    out = {}
    for t in tables:
        cols = {*((manifest.get(t.file) or {}).get("not_additive") or []), *((given or {}).get(t.file) or [])}
        if cols:
            out[t.label] = sorted(cols)
    return out


def run_check(
    report_dir: str | Path,
    *,
    policy: DisclosurePolicy | None = None,
    settings: DisclosureSettings | None = None,
    against: str | Path | None = None,
    ledger: str | Path | bool | None = None,
    roles: Mapping[str, Mapping[str, str]] | None = None,
    audit: bool = True,
    context=None,
    structural: Mapping[str, Mapping[str, Sequence[int]]] | None = None,
    ledger_entries: Iterable[str] | None = None,
    skip: Sequence[str] = (),
    not_additive: Mapping[str, Sequence[str]] | None = None,
) -> CheckResult:
    """Check every released file of a report against the rules and the whole ledger.

    Parameters
    ----------
    report_dir : path
        A report folder (or a folder being built).
    policy : DisclosurePolicy, optional
        The build's policy (never lowers the threshold below the minimum).
    settings : DisclosureSettings, optional
        The parameter file's disclosure settings (an explicit ``lower_minimum`` counts).
    against : path, optional
        Another report released alongside, audited with this one (and checked by
        :func:`check_differencing`) even if it is not in the ledger.
    ledger : path, ``False`` or None
        The ledger folder (default :func:`cohort.disclosure.ledger.ledger_path`);
        ``False``: no ledger (this report and ``against`` only).
    roles : mapping, optional
        file -> column -> role, as the gate records them (merged over the manifest's).
    audit : bool
        Run the attack audit.
    context : ReleaseContext, optional
        What the report's populations are (the build knows its resolved sites and the
        sites' delivery periods); default: the ledger entry of this release, else what the
        report's provenance says.
    structural : mapping, optional
        file -> column -> rows (1-based) that are structural zeros (merged over the
        manifest's ``structural_zeros``).
    ledger_entries : ids, optional
        Audit against these ledger entries only (a rebuild audits against the entries its
        report was built against).
    skip : folder names
        Top-level folders of ``report_dir`` that are not released (the build's records and
        staged inputs while a build checks itself); a published report has none.
    not_additive : mapping, optional
        file -> count columns that do not add up over the table's group columns (merged
        over the manifest's ``not_additive``); their totals are no relations.
    """
    from cohort.disclosure.audit import audit as run_audit
    from cohort.disclosure.ledger import Ledger, ledger_path, linear_system, report_files

    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise InputNotFoundError(f"report folder {report_dir} does not exist")
    tables, findings, names = read_report(report_dir, skip=skip)
    manifest = _manifest_files(report_dir)
    table_roles: dict[str, dict] = {}
    for t in tables:
        declared = dict((manifest.get(t.file) or {}).get("columns") or {})
        declared.update((roles or {}).get(t.file, {}))
        declared.update((roles or {}).get(t.label, {}))
        table_roles[t.label] = column_roles(t.frame, declared, decimal_comma=t.decimal_comma)

    book = None
    entry = None
    if ledger is not False:
        book = Ledger(ledger_path(ledger, report_dir=report_dir))
        entry = book.find(_report_name_of(report_dir), report_files(report_dir, names))

    from cohort.disclosure.ledger import parse_numbers

    released_counts = np.concatenate(
        [
            v[~np.isnan(v)]
            for t in tables
            for c, r in table_roles[t.label].items()
            if r == "count"
            for v in [parse_numbers(t.frame[c].astype(str), decimal_comma=t.decimal_comma)]
        ]
        or [np.zeros(0)]
    )
    in_force, notes = settings_in_force(
        report_dir, settings=settings, policy=policy, entry=entry, counts=released_counts
    )
    findings.extend(notes)
    if context is None:
        context = entry.context if entry is not None else report_context(
            report_dir, tables, in_force.policy.rounding
        )
    additive_not = _not_additive(tables, manifest, not_additive)
    new_cells = entry.cells if entry is not None else _release_cells(tables, table_roles, context, additive_not)
    # zeros outside a site's delivery period, by the trusted context (the build's, or the
    # ledger entry's), besides what the release declares
    derived = structural_rows(new_cells, context.site_periods)
    zeros: dict = {}
    for source in (derived, structural or {}):
        for file, columns in source.items():
            for column, rows in columns.items():
                zeros.setdefault(file, {}).setdefault(column, set()).update(int(r) for r in rows)
    for t in tables:
        declared_zeros = dict((manifest.get(t.file) or {}).get("structural_zeros") or {})
        for column, rows in (zeros.get(t.label) or {}).items():
            declared_zeros[column] = sorted({*declared_zeros.get(column, []), *rows})
        findings.extend(
            check_table(
                t.frame,
                t.label,
                in_force.policy,
                roles=table_roles[t.label],
                structural=declared_zeros,
                decimal_comma=t.decimal_comma,
            )
        )
    result = CheckResult(findings, names, in_force, book)
    result.structural = {f: {c: sorted(r) for c, r in sorted(cols.items())} for f, cols in sorted(derived.items())}
    if audit:
        earlier = book.cells(exclude=entry, only=ledger_entries) if book is not None else None
        parts = [] if earlier is None or earlier.empty else [earlier]
        result.earlier_releases = int(earlier["release"].nunique()) if earlier is not None and len(earlier) else 0
        site_periods = dict(context.site_periods)
        if book is not None:
            wanted = set(ledger_entries) if ledger_entries is not None else None
            for e in book.entries():
                if entry is not None and e.path == entry.path:
                    continue
                if wanted is not None and e.id not in wanted:
                    continue
                result.earlier_ids.append(e.id)
                for site, period in e.context.site_periods.items():
                    site_periods.setdefault(site, period)
        next_release = (int(earlier["release"].max()) + 1) if parts else 0
        if against is not None:
            other = Path(against)
            if not other.is_dir():
                raise InputNotFoundError(f"report folder {other} does not exist")
            o_tables, o_findings, _ = read_report(other)
            o_roles = {t.label: column_roles(t.frame, ((_manifest_files(other).get(t.file) or {}).get("columns")), decimal_comma=t.decimal_comma) for t in o_tables}
            o_ctx = report_context(other, o_tables, None)
            o_alone = _not_additive(o_tables, _manifest_files(other), None)
            parts.append(_release_cells(o_tables, o_roles, o_ctx, o_alone).assign(release=next_release, report=o_ctx.report))
            next_release += 1
        parts.append(new_cells.assign(release=next_release, report=context.report))
        cells = pd.concat(parts, ignore_index=True)
        result.cells, result.new_release = cells, next_release
        if len(cells):
            rs = linear_system(cells, site_periods=site_periods, new_release=next_release)
            found = run_audit(rs.system, threshold=in_force.policy.threshold, width=in_force.width)
            result.audit_stats = found.stats
            result.system, result.audit = rs, found
            findings.extend(_audit_findings(rs, found, in_force))
    if against is not None:
        findings.extend(check_differencing(report_dir, against, policy=in_force.policy))
    return result


def structural_rows(cells: pd.DataFrame, site_periods) -> dict:
    """The released zeros of a release that are structural: outside their site's delivery
    period (:func:`cohort.disclosure.policy.outside_delivery`). Returns file -> column ->
    sorted rows (1-based), as the manifest's ``structural_zeros`` states them."""
    from cohort.disclosure.policy import outside_delivery

    if cells is None or cells.empty or not site_periods:
        return {}
    zero = (~cells["suppressed"].to_numpy(dtype=bool)) & (cells["value"].to_numpy(dtype=float) == 0)
    if not zero.any():
        return {}
    part = cells.loc[zero]
    outside = outside_delivery(
        part["sites"].to_numpy(), part["period_start"].to_numpy(), part["period_end"].to_numpy(),
        part["additivity"].to_numpy(), site_periods,
    )
    out: dict = {}
    for file, column, row in part.loc[outside, ["file", "column", "row"]].itertuples(index=False):
        out.setdefault(str(file), {}).setdefault(str(column), set()).add(int(row))
    return {f: {c: sorted(r) for c, r in sorted(cols.items())} for f, cols in sorted(out.items())}


def attack(
    report_dirs: Sequence[str | Path],
    *,
    threshold: int = MINIMUM_THRESHOLD,
    width: int | None = None,
    ledger: str | Path | None = None,
    site_periods: Mapping[str, tuple[str, str]] | None = None,
):
    """Attack a set of released reports as a reader holding all of them would.

    Every released file of every report is read as a reader has it (the same reading as
    :func:`run_check`); the reports' populations come from their ledger entries (matched by
    report name and file hashes) when ``ledger`` is given, else from their provenance;
    ``site_periods`` adds the sites' delivery periods a reader may know. Returns the
    :class:`cohort.disclosure.ledger.ReleaseSystem` and the
    :class:`cohort.disclosure.audit.AuditResult` of all of them together: its
    ``unprotected`` cells are what the reader can work out.
    """
    from cohort.disclosure.audit import audit as run_audit
    from cohort.disclosure.ledger import Ledger, linear_system, report_files

    book = Ledger(ledger) if ledger is not None else None
    parts = []
    periods = dict(site_periods or {})
    for i, folder in enumerate(Path(d) for d in report_dirs):
        tables, problems, names = read_report(folder)
        if problems:
            raise DisclosureError(f"{folder}: {len(problems)} released file(s) cannot be read")
        manifest = _manifest_files(folder)
        roles = {
            t.label: column_roles(t.frame, (manifest.get(t.file) or {}).get("columns"), decimal_comma=t.decimal_comma)
            for t in tables
        }
        entry = book.find(_report_name_of(folder), report_files(folder, names)) if book is not None else None
        context = entry.context if entry is not None else report_context(folder, tables, None)
        for site, period in context.site_periods.items():
            periods.setdefault(site, period)
        cells = _release_cells(tables, roles, context, _not_additive(tables, manifest, None))
        parts.append(cells.assign(release=i, report=context.report))
    cells = pd.concat(parts, ignore_index=True)
    rs = linear_system(cells, site_periods=periods)
    return rs, run_audit(rs.system, threshold=threshold, width=width)


def _report_name_of(report_dir: Path) -> str:
    prov = _json(report_dir / "provenance.json")
    return str(prov.get("report") or _report_name(report_dir))


def _audit_findings(rs, found, in_force: CheckSettings) -> list[Finding]:
    """A finding per unprotected cell this release takes part in; one warning for the rest."""
    out: list[Finding] = []
    unprotected = found.unprotected
    if unprotected.empty and not len(found.revised) and not len(found.inconsistent):
        return out
    v = rs.variables
    rel_new = rs.relations["new"].to_numpy(dtype=bool) if len(rs.relations) else np.zeros(0, bool)
    labels = rs.relations["label"].to_numpy() if len(rs.relations) else np.zeros(0, object)
    system = rs.system
    # released counts below the threshold (or zeros) are findings of their own; what they
    # give away goes once they are suppressed, so cells they pin are not reported again
    value = v["value"].to_numpy(dtype=float)
    # (a released zero is judged by the zero rule: structural zeros are known to everyone)
    flagged_var = (v["status"].to_numpy() == "released") & (value > 0) & (value < in_force.policy.threshold)
    flagged_rel = np.bincount(
        system.rel, weights=flagged_var[system.cell], minlength=len(labels)
    ) > 0
    earlier = []
    for cell, row in unprotected.iterrows():  # one finding per unprotected cell
        var = v.iloc[int(cell)]
        pins = list(found.pins.get(int(cell), ()))
        if pins and flagged_rel[pins].any():
            continue
        takes_part = bool(var["new"]) or bool(rel_new[pins].any()) if pins else bool(var["new"])
        lo, hi = row["lower"], row["upper"]
        interval = f"{lo:g}" if lo == hi else f"{lo:g} to {hi:g}"
        if var["status"] == "suppressed":
            what = f"suppressed in {var['report']}" if not var["new"] else "suppressed here"
        else:
            what = "never released, but it follows from released cells"
        why = "; ".join(str(labels[p]) for p in pins[:3]) + (f"; and {len(pins) - 3} more" if len(pins) > 3 else "")
        message = (
            f"{rs.describe(cell)} ({what}) can be worked out as {interval} from this and earlier "
            f"releases; protected cells need a range of at least {in_force.width} or a lower "
            f"bound of at least {in_force.policy.threshold}"
            + (f"; pinned by: {why}" if why else "")
        )
        if not takes_part:
            earlier.append(message)
            continue
        file, line, column = _where(rs, system, var, pins)
        out.append(Finding(file, "derivable-cell", message, row=line, column=column))
    if earlier:
        out.append(
            Finding(
                "ledger",
                "derivable-earlier",
                f"{len(earlier)} cell(s) can be worked out from earlier releases alone (this release "
                f"does not add to it and cannot undo it); first: {earlier[0]}",
                severity="warning",
            )
        )
    if len(found.revised) or len(found.inconsistent):
        out.append(
            Finding(
                "ledger",
                "audit-reconciled",
                f"{len(found.revised) + len(found.inconsistent)} released value(s) or relation(s) "
                "do not add up (a revised delivery, or a total over rows not all shown); the "
                "audit took the smallest change that reconciles them",
                severity="warning",
            )
        )
    return out


def _where(rs, system, var, pins) -> tuple[str, int | None, str | None]:
    """Where in this release a finding belongs: the cell itself, or a cell of this release
    in one of the relations that pin it."""
    v = rs.variables
    if var["new"] and var["file"]:
        return str(var["file"]), int(var["row"]) or None, str(var["column"]) or None
    members = system.cell[np.isin(system.rel, pins)]
    cand = v.iloc[np.unique(members)]
    cand = cand.loc[cand["new"].to_numpy(dtype=bool) & (cand["file"] != "").to_numpy()]
    if len(cand):
        first = cand.sort_values(["file", "row"]).iloc[0]
        return str(first["file"]), int(first["row"]) or None, str(first["column"]) or None
    return "ledger", None, None


def check_release(
    report_dir: str | Path,
    *,
    policy: DisclosurePolicy | None = None,
    settings: DisclosureSettings | None = None,
    against: str | Path | None = None,
    ledger: str | Path | bool | None = None,
    roles: Mapping[str, Mapping[str, str]] | None = None,
    audit: bool = True,
    warnings: bool = False,
) -> list[Finding]:
    """Check every released file of a report; return the findings (empty: releasable).

    The arguments are those of :func:`run_check`. Only findings that stop a release are
    returned, unless ``warnings`` (then also ``derivable-earlier`` and ``audit-reconciled``).
    """
    findings = run_check(
        report_dir, policy=policy, settings=settings, against=against, ledger=ledger,
        roles=roles, audit=audit,
    ).findings
    return findings if warnings else errors(findings)


def release_entry(
    report_dir: str | Path,
    context,
    settings: DisclosureSettings | Mapping,
    *,
    roles: Mapping[str, Mapping[str, str]] | None = None,
    not_additive: Mapping[str, Sequence[str]] | None = None,
):
    """The ledger entry of a built report, from its released files as a reader has them.

    ``context``: :class:`cohort.disclosure.ledger.ReleaseContext` (the build knows the
    resolved sites, dates, fingerprint and site delivery periods); ``roles``: the gate's
    column roles per file. Append it with :meth:`cohort.disclosure.ledger.Ledger.append`.
    """
    from cohort.disclosure.ledger import entry_from_tables, report_files

    report_dir = Path(report_dir)
    tables, problems, names = read_report(report_dir)
    if problems:
        raise DisclosureError(
            f"{report_dir}: {len(problems)} released file(s) cannot be read; nothing recorded:\n"
            + format_findings(problems)
        )
    manifest = _manifest_files(report_dir)
    table_roles = {}
    for t in tables:
        declared = dict((manifest.get(t.file) or {}).get("columns") or {})
        declared.update((roles or {}).get(t.file, {}))
        table_roles[t.label] = column_roles(t.frame, declared, decimal_comma=t.decimal_comma)
    record = settings.as_dict() if hasattr(settings, "as_dict") else dict(settings)
    return entry_from_tables(
        {t.label: t.frame for t in tables},
        table_roles,
        context=context,
        settings=record,
        files=report_files(report_dir, names),
        decimal_comma={t.label: t.decimal_comma for t in tables},
        not_additive=_not_additive(tables, manifest, not_additive),
    )


def record_release(report_dir, context, settings, *, ledger=None, roles=None, not_additive=None) -> Path:
    """Record a built report in the ledger; return the entry's file (see
    :func:`release_entry`)."""
    from cohort.disclosure.ledger import Ledger, ledger_path

    entry = release_entry(report_dir, context, settings, roles=roles, not_additive=not_additive)
    return Ledger(ledger_path(ledger, report_dir=report_dir)).append(entry)


# --------------------------------------------------------------------------------------
# Two reports released together (the older, two-report check)
# --------------------------------------------------------------------------------------


def _csv_files(report_dir: Path) -> list[Path]:
    return sorted(p for sub in _RELEASE_FOLDERS for p in (Path(report_dir) / sub).glob("*.csv"))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def _long_cells(report_dir: Path, label: str) -> pd.DataFrame:
    """Every numeric or suppressed cell of a report's released files, in long form.

    Columns: ``file, key, column, value, suppressed, report, row``. ``key`` joins the
    row's text, date and other non-measure cells, so a cell is identified across reports
    by file, key and column.
    """
    parts = []
    for path in _csv_files(report_dir):
        frame = _read(path)
        if frame.empty:
            continue
        measures = [
            c for c in frame.columns if COUNT_COLUMN.search(str(c)) or VALUE_COLUMN.search(str(c))
        ]
        keys = [c for c in frame.columns if c not in measures and c != "suppressed"]
        key = (
            frame[keys].apply(lambda col: col.name + "=" + col).agg("|".join, axis=1)
            if keys
            else pd.Series("", index=frame.index)
        )
        for column in measures:
            parts.append(
                pd.DataFrame(
                    {
                        "file": path.relative_to(report_dir).as_posix(),
                        "key": key.to_numpy(),
                        "column": column,
                        "value": _numbers(frame[column]).to_numpy(),
                        "suppressed": (frame[column] == SUPPRESSED).to_numpy(),
                        "report": label,
                        "row": np.arange(1, len(frame) + 1),
                        "is_count": column in _count_columns(frame),
                        "indicator": frame["indicator"].to_numpy() if "indicator" in frame else "",
                        "date": _period_end(frame),
                        "group": _group_key(frame, keys),
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            columns=["file", "key", "column", "value", "suppressed", "report", "row", "is_count", "indicator", "date", "group"]
        )
    return pd.concat(parts, ignore_index=True)


_PERIOD_END = ("interval_end", "period_end", "end", "date", "reference_date")
_PERIOD_START = ("interval_start", "period_start", "start")


def _period_end(frame: pd.DataFrame) -> np.ndarray:
    for column in _PERIOD_END:
        if column in frame.columns:
            return frame[column].to_numpy()
    return np.full(len(frame), "", dtype=object)


def _group_key(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """The key without the period columns: the same group at different dates."""
    rest = [c for c in keys if c not in _PERIOD_END and c not in _PERIOD_START]
    if not rest:
        return np.full(len(frame), "", dtype=object)
    return frame[rest].apply(lambda col: col.name + "=" + col).agg("|".join, axis=1).to_numpy()


def _report_name(folder: Path) -> str:
    """A report's name; a folder being built (``.<name>.building``) by the report's name."""
    name = folder.name
    if name.startswith(".") and name.endswith(".building"):
        return name[1 : -len(".building")]
    return name


def check_differencing(
    report_a: str | Path,
    report_b: str | Path,
    *,
    policy: DisclosurePolicy | None = None,
    cumulative: Iterable[str] = CUMULATIVE_INDICATORS,
) -> list[Finding]:
    """Check that releasing two reports together does not reveal a suppressed cell.

    A reader holding both reports holds the union of their cells. Two ways that union can
    give away a cell one report suppressed:

    ``differencing-same-cell``
        The same cell (same file, same key: indicator, groups and period; same column) is
        suppressed in one report and released in the other. With the same or a revised
        delivery, the released value is (nearly) the suppressed one. Only rows dated by a
        period end (``interval_end``, ``period_end``, ``end``, ``date``) are compared:
        undated rows (attrition steps, model terms) describe each report's own reference
        date and are different quantities.
    ``differencing-cumulative``
        For an indicator counted since the study start (:data:`CUMULATIVE_INDICATORS`;
        the files' ``indicator`` column), the released counts of one group at successive
        period ends, taken from both reports together, differ by ``d`` with
        ``0 < d < threshold``: ``d`` is the count of units that entered between the two
        dates, a cell too small to release. Pairs whose two values both come from the
        same report are a within-report matter and not reported here unless the other
        report changes one of them.

    With rounding to a multiple ``r``, a difference of rounded counts only bounds the
    true count to within ``r``; such differences are reported when ``d + r < threshold``.

    Returns
    -------
    list of Finding, naming the file, the row in ``report_b`` (or ``report_a``) and the
    column.
    """
    report_a, report_b = Path(report_a), Path(report_b)
    for folder in (report_a, report_b):
        if not folder.is_dir():
            raise InputNotFoundError(f"report folder {folder} does not exist")
    policy = policy or report_policy(report_b)
    threshold = policy.threshold
    slack = policy.rounding or 0
    cells = pd.concat([_long_cells(report_a, "a"), _long_cells(report_b, "b")], ignore_index=True)
    names = {"a": _report_name(report_a), "b": _report_name(report_b)}
    findings: list[Finding] = []
    if cells.empty:
        return findings

    # Only dated rows (a period end) describe the same quantity in both reports; an undated
    # row (an attrition step, a model term) describes each report's own reference date.
    on = ["file", "key", "column"]
    dated = cells[cells["date"] != ""]
    pairs = dated[dated["report"] == "a"].merge(dated[dated["report"] == "b"], on=on, suffixes=("_a", "_b"))
    reveal_a = pairs["suppressed_a"] & ~pairs["suppressed_b"] & pairs["value_b"].notna()
    reveal_b = pairs["suppressed_b"] & ~pairs["suppressed_a"] & pairs["value_a"].notna()
    for mask, hidden, shown in ((reveal_a, "a", "b"), (reveal_b, "b", "a")):
        for _, cell in pairs[mask.to_numpy()].iterrows():
            findings.append(
                Finding(
                    cell["file"],
                    "differencing-same-cell",
                    f"suppressed in {names[hidden]} but released in {names[shown]}",
                    row=int(cell[f"row_{shown}"]),
                    column=str(cell["column"]),
                )
            )

    cumulative = set(cumulative)
    series = cells[
        cells["is_count"]
        & cells["indicator"].isin(cumulative)
        & ~cells["suppressed"]
        & cells["value"].notna()
        & (cells["date"] != "")
    ]
    if not series.empty:
        group_cols = ["file", "indicator", "group", "column"]
        # One entry per distinct released value on a date, with the reports releasing it
        # ("a", "b" or "ab"); a revised delivery can give two values on one date.
        entries = (
            series.sort_values(["report", "row"])
            .groupby([*group_cols, "date", "value"], sort=True)
            .agg(reports=("report", lambda r: "".join(sorted(set(r)))), row=("row", "first"),
                 first_report=("report", "first"))
            .reset_index()
        )
        dates = entries[[*group_cols, "date"]].drop_duplicates().sort_values([*group_cols, "date"])
        dates["prev_date"] = dates.groupby(group_cols, sort=False)["date"].shift()
        current = entries.merge(dates.dropna(subset=["prev_date"]), on=[*group_cols, "date"])
        previous = entries.rename(
            columns={"date": "prev_date", "value": "prev_value", "reports": "prev_reports"}
        )[[*group_cols, "prev_date", "prev_value", "prev_reports"]]
        pairs = current.merge(previous, on=[*group_cols, "prev_date"])
        diff = pairs["value"] - pairs["prev_value"]
        same_report = np.zeros(len(pairs), dtype=bool)
        for label in ("a", "b"):
            same_report |= (
                pairs["reports"].str.contains(label) & pairs["prev_reports"].str.contains(label)
            ).to_numpy()
        small = ((diff > 0) & (diff + slack < threshold)).to_numpy() & ~same_report
        for (_, pair), d in zip(pairs[small].iterrows(), diff[small], strict=True):
            findings.append(
                Finding(
                    pair["file"],
                    "differencing-cumulative",
                    f"{pair['indicator']} ({pair['group'] or 'all'}) is released as "
                    f"{pair['prev_value']:g} on {pair['prev_date']} in "
                    f"{' and '.join(names[r] for r in pair['prev_reports'])} and as "
                    f"{pair['value']:g} on {pair['date']} in "
                    f"{' and '.join(names[r] for r in pair['reports'])}: the difference "
                    f"{d:g} is a count below the threshold {threshold}",
                    row=int(pair["row"]),
                    column=str(pair["column"]),
                )
            )
    return findings
