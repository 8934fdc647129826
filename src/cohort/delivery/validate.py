"""Validation of a delivery: every rule, every row and every line accounted for.

:func:`validate_delivery` reads a delivery folder (:mod:`cohort.delivery.read`), refuses
it if it carries direct identifiers (:mod:`cohort.delivery.identifiers`), types it
(:mod:`cohort.delivery.coerce`) and checks it against the rules in :data:`RULES`. Column
rules (required values, allowed values, ranges) run as a
`pandera <https://pandera.readthedocs.io>`_ schema built from
:mod:`cohort.delivery.schema` (with the columns the delivery declares in ``columns.yaml``);
rules across rows and tables (unique ids, references, date order, episodes, delivery
period) are whole-column pandas operations.

Severities
    ``error``: the row is rejected (kept aside in the quarantine, counted);
    ``warning``: reported, the row is kept (e.g. overlapping episodes, which the
    indicator definitions keep).

Rejection cascades along references, in the order sites, households, episodes, then
legal measures, safety assessments and referrals: a row whose household (or episode, or
site) was rejected is rejected too, with rule ``rejected_reference``, so the accepted
tables are always consistent. For every table, rows read = rows accepted + rows rejected,
and lines read = lines accepted + lines rejected (a CSV row whose quoted value spans line
breaks covers several lines; a value that swallows lines through a quote never closed is a
violation, never a silent merge).

A violation names the file, the row number as in the file (for CSV the line where the row
starts; see :mod:`cohort.delivery.read`), the column and the rule, and says what to do. Values are shown only where they cannot identify
anyone: dates, numbers and yes/no values that parsed. Pseudonyms, free text and anything
that did not parse are never shown.

Examples
--------
>>> RULES["closure_not_before_registration"].severity
'error'
>>> RULES["overlapping_episodes"].severity
'warning'
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from cohort.delivery import schema
from cohort.delivery.coerce import coerce_table
from cohort.delivery.read import RawDelivery, RawTable, read_raw_delivery
from cohort.exceptions import DeliveryError, ParameterError, ValidationError
from cohort.roles import with_roles

#: Legal measures and safety assessments may lie this many days before their episode's
#: registration or after its closure (documented in docs/data-model.md).
EPISODE_TOLERANCE_DAYS = 30

#: Dates before this are not plausible for this programme and are rejected.
MIN_DATE = pd.Timestamp("1990-01-01")

#: A site code: 1 to 10 ASCII letters or digits. Site codes appear in every released table
#: (and in messages), so nothing else is accepted; ``all`` is the label of the total.
SITE_CODE = r"[A-Za-z0-9]{1,10}"
#: Longest site name (label) accepted.
MAX_LABEL_LENGTH = 100

#: Dates after this are not plausible either (a typo such as 2150 or 2199, or a
#: placeholder for "open"). A fixed date, not today's, so that the same delivery always
#: validates the same way; move it when the workbench serves a later study.
MAX_DATE = pd.Timestamp("2035-12-31")

#: ``tolerance_days`` must lie in this range: a negative tolerance rejects rows inside
#: their episode, and more than a year lets a row belong to any episode.
TOLERANCE_RANGE = (0, 365)


@dataclass(frozen=True)
class Rule:
    severity: str  # "error" rejects the row, "warning" keeps it
    action: str  # what to do, shown after every violation


RULES: dict[str, Rule] = {
    # structure of a file
    "field_count": Rule(
        "error", "Fix the row's fields (check quoting and separators) or remove the row."
    ),
    "multiline_value": Rule(
        "error",
        "Close the quote that opens the value, or remove the line breaks; only columns "
        "declared as text in columns.yaml may hold line breaks.",
    ),
    "unbalanced_quote": Rule(
        "error",
        "Close the quote that opens the value: the lines after it were read into the value.",
    ),
    "unclosed_quote": Rule(
        "error",
        "Close the quote that opens the value: it runs to the end of the file.",
    ),
    "empty_row": Rule("error", "Remove empty rows from the export."),
    "required_column": Rule(
        "error", "Add the column to the file; every row of the table is rejected until then."
    ),
    "unknown_column": Rule(
        "warning",
        "The column is not part of the data model and was ignored; remove it from the export.",
    ),
    "unknown_file": Rule(
        "warning",
        "The file is not a table of the data model and was ignored; remove it from the delivery.",
    ),
    # cells
    "invalid_date": Rule(
        "error", "Write the date as YYYY-MM-DD (or the whole column as DD-MM-YYYY)."
    ),
    "invalid_number": Rule(
        "error", "Write a plain number (decimal point, or decimal comma in semicolon files)."
    ),
    "invalid_integer": Rule("error", "Write a whole number."),
    "invalid_boolean": Rule("error", "Write true/false (or 1/0, ja/nee)."),
    "missing_value": Rule("error", "Fill in the value at the site or remove the row."),
    "allowed_values": Rule("error", "Use one of the allowed values listed in docs/data-model.md."),
    "out_of_range": Rule("error", "Correct the value at the site or remove the row."),
    "implausible_date": Rule(
        "error",
        "Correct the date at the site or remove the row (dates lie from 1990-01-01 to "
        "2035-12-31).",
    ),
    # rows
    "exact_duplicate": Rule("error", "Remove the repeated row; the first copy is kept."),
    "duplicate_id": Rule(
        "error", "Give every row its own id; all rows sharing the id are rejected."
    ),
    # order of dates
    "closure_not_before_registration": Rule(
        "error", "Correct the dates at the site or remove the row."
    ),
    "rvt_end_not_before_rvt_start": Rule(
        "error", "Correct the dates at the site or remove the row."
    ),
    "end_not_before_start": Rule("error", "Correct the dates at the site or remove the row."),
    "delivery_end_not_before_start": Rule("error", "Correct the site's delivery period."),
    # arms of the comparison design
    "pilot_start_for_comparison": Rule(
        "error",
        "A comparison site works in regular care: leave its pilot_start empty, or set its "
        "arm to pilot if it started the new way.",
    ),
    "pilot_start_outside_delivery": Rule(
        "error",
        "Correct the pilot_start, or leave it empty if the site worked the new way before "
        "its data begins (the site then counts as a pilot site from its delivery_start).",
    ),
    "after_delivery_end": Rule(
        "error",
        "Correct the date, or extend the site's delivery_end in sites if the data covers that date.",
    ),
    "outside_episode": Rule(
        "error", "Link the row to the episode it belongs to, or correct its date."
    ),
    "overlapping_episodes": Rule(
        "warning", "Kept; check whether the earlier episode should have been closed."
    ),
    # references
    "unknown_reference": Rule("error", "Add the referenced row or correct the reference."),
    "rejected_reference": Rule(
        "error", "Correct the referenced row (see its own violation); this row is rejected with it."
    ),
    "site_mismatch": Rule("error", "Correct the site of the episode or of the household."),
    # site codes and labels are shown in released tables
    "invalid_site_code": Rule(
        "error",
        "Use a short site code of 1 to 10 letters or digits (A-Z, 0-9), such as AMS; "
        "every row of the site is rejected until then.",
    ),
    "invalid_label": Rule(
        "error",
        "Write the site's name as plain text of at most 100 characters that does not start "
        "with =, +, -, @ or a tab, and has no control characters.",
    ),
    "episode_household_mismatch": Rule(
        "error", "Link the row to an episode of the same household."
    ),
}

VIOLATION_COLUMNS = [
    "file",
    "table",
    "row",
    "column",
    "rule",
    "severity",
    "value",
    "message",
    "action",
]

# date-order rules within one table: (table, earlier column, later column, rule)
DATE_ORDER = (
    ("sites", "delivery_start", "delivery_end", "delivery_end_not_before_start"),
    ("episodes", "registration_date", "closure_date", "closure_not_before_registration"),
    ("episodes", "rvt_start_date", "rvt_end_date", "rvt_end_not_before_rvt_start"),
    ("legal_measures", "start_date", "end_date", "end_not_before_start"),
)

# date of a row that must lie near its episode
NEAR_EPISODE = {"legal_measures": "start_date", "safety_assessments": "assessment_date"}


def _iso(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d").astype(object)


def _pandera_schema(spec: schema.Table) -> pa.DataFrameSchema:
    """The column rules of one table as a pandera schema (nullability, allowed, range)."""
    columns = {}
    for col in spec.columns:
        checks = []
        if col.allowed is not None:
            checks.append(pa.Check.isin(list(col.allowed)))
        if col.min is not None or col.max is not None:
            lo = -np.inf if col.min is None else col.min
            hi = np.inf if col.max is None else col.max
            checks.append(pa.Check.in_range(lo, hi))
        columns[col.name] = pa.Column(nullable=col.nullable, checks=checks, required=False)
    return pa.DataFrameSchema(columns, strict=False)


def _pandera_rule(check: str) -> str:
    if check == "not_nullable":
        return "missing_value"
    if check.startswith("isin"):
        return "allowed_values"
    if check.startswith("in_range"):
        return "out_of_range"
    raise RuntimeError(f"unexpected pandera check {check!r}")  # a bug, not a user error


class _TableCheck:
    """Collects the violations and the rejected rows of one table."""

    def __init__(self, raw: RawTable):
        self.raw = raw
        self.spec = schema.with_declared(schema.TABLES[raw.name], raw.declared)
        n = len(raw.frame)
        self.rejected = np.zeros(n, dtype=bool)
        self.warned = np.zeros(n, dtype=bool)
        self.skip = np.zeros(n, dtype=bool)  # rows whose other problems are not reported
        self.parts: list[pd.DataFrame] = []
        self.all_rejected = False
        self.typed: pd.DataFrame | None = None

    def add(self, pos, column, rule, detail, value=None) -> None:
        """Record a violation for row positions ``pos`` (array) of the frame."""
        pos = np.asarray(pos, dtype="int64")
        if len(pos) == 0:
            return
        keep = ~self.skip[pos]
        pos = pos[keep]
        if len(pos) == 0:
            return
        detail = _subset(detail, keep)
        value = None if value is None else _subset(value, keep)
        severity = RULES[rule].severity
        if severity == "error":
            self.rejected[pos] = True
        else:
            self.warned[pos] = True
        self.parts.append(
            pd.DataFrame(
                {
                    "row": pd.array(self.raw.row_numbers[pos], dtype="Int64"),
                    "column": column,
                    "rule": rule,
                    "value": pd.array(
                        [pd.NA] * len(pos) if value is None else np.asarray(value, dtype=object),
                        dtype="string",
                    ),
                    "detail": np.asarray(detail, dtype=object)
                    if not isinstance(detail, str)
                    else detail,
                }
            )
        )

    def add_rows(self, rows, column, rule, detail) -> None:
        """Record violations for rows that are not in the frame (wrong field count)."""
        rows = np.asarray(rows, dtype="int64")
        if len(rows):
            self.parts.append(
                pd.DataFrame(
                    {
                        "row": pd.array(rows, dtype="Int64"),
                        "column": column,
                        "rule": rule,
                        "value": pd.array([pd.NA] * len(rows), dtype="string"),
                        "detail": np.asarray(detail, dtype=object),
                    }
                )
            )

    def add_table(self, column, rule, detail) -> None:
        """Record a violation of the whole table (no row)."""
        if RULES[rule].severity == "error":
            self.rejected[:] = True
            self.all_rejected = True
        self.parts.append(
            pd.DataFrame(
                {
                    "row": pd.array([pd.NA], dtype="Int64"),
                    "column": [column],
                    "rule": [rule],
                    "value": pd.array([pd.NA], dtype="string"),
                    "detail": [detail],
                }
            )
        )

    def violations(self) -> pd.DataFrame:
        if not self.parts:
            return _empty_violations()
        v = pd.concat(self.parts, ignore_index=True)
        v.insert(0, "table", self.raw.name)
        v.insert(0, "file", self.raw.file)
        v["column"] = v["column"].astype(object).where(v["column"].notna(), None)
        return v


def _subset(values, keep):
    if isinstance(values, str):
        return values
    return np.asarray(values, dtype=object)[keep]


def _empty_violations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": pd.Series([], dtype=object),
            "table": pd.Series([], dtype=object),
            "row": pd.Series([], dtype="Int64"),
            "column": pd.Series([], dtype=object),
            "rule": pd.Series([], dtype=object),
            "value": pd.Series([], dtype="string"),
            "detail": pd.Series([], dtype=object),
        }
    )


# ---------------------------------------------------------------------------------------
# the rules, table by table


def _structure(chk: _TableCheck) -> bool:
    """File-level rules; return False when the table cannot be checked row by row."""
    raw, spec = chk.raw, chk.spec
    bad = raw.bad_rows
    if len(bad):
        detail = (
            "the row has "
            + bad["n_fields"].astype(str)
            + " fields where the header has "
            + bad["expected"].astype(str)
        )
        lines = bad["lines"].to_numpy() if "lines" in bad else np.ones(len(bad), dtype=int)
        spans = _span_text(bad["row"].to_numpy(), lines)
        detail = (detail + pd.Series(spans, index=detail.index)).to_numpy()
        chk.add_rows(bad["row"].to_numpy(), None, "field_count", detail)
    labels = _column_labels(raw)
    for name in raw.frame.columns:
        if name not in spec.column_names and not spec.extra_columns_allowed:
            label = labels[name]
            chk.add_table(label, "unknown_column", f"{raw.name} has no column '{label}'")
    _line_breaks_in_values(chk, labels)
    missing = [c for c in spec.required_columns if c not in raw.frame.columns]
    for name in missing:
        chk.add_table(name, "required_column", f"the required column '{name}' is missing")
    if missing:
        return False
    # rows whose every field is empty: report once, not once per required column.
    # Only rows whose first field is empty can be empty, so the rest is checked on those.
    frame = raw.frame
    if len(frame) and len(frame.columns):
        cand = np.flatnonzero(_blank(frame.iloc[:, 0]))
        for c in frame.columns[1:]:
            if not len(cand):
                break
            cand = cand[_blank(frame[c].iloc[cand])]
        chk.add(cand, None, "empty_row", "the row is empty")
        chk.skip[cand] = True
    return True


def _blank(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.StringDtype):
        return (s.fillna("").str.strip() == "").to_numpy(dtype=bool)
    return s.isna().to_numpy()


def _column_labels(raw: RawTable) -> dict[str, str]:
    """How each column is named in violations: its name, or its position if the header
    looks like an identifier (the guard refuses such a delivery; this keeps the rule
    true also for data checked with ``guard=False``)."""
    from cohort.delivery.identifiers import column_label, is_safe_label

    header = list(raw.header) if raw.header else [str(c) for c in raw.frame.columns]
    safe = is_safe_label(header) if header else np.zeros(0, dtype=bool)
    return {
        c: column_label(str(c), i + 1, bool(safe[i]) if i < len(safe) else True)
        for i, c in enumerate(raw.frame.columns)
    }


def _span_text(rows: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """``"; it covers 4 lines (3 to 6) ..."`` for rows over several lines, else ``""``."""
    rows, lines = np.asarray(rows, dtype=np.int64), np.asarray(lines, dtype=np.int64)
    out = np.full(len(rows), "", dtype=object)
    many = lines > 1
    if many.any():
        first = pd.Series(rows[many]).astype(str)
        last = pd.Series(rows[many] + lines[many] - 1).astype(str)
        n = pd.Series(lines[many]).astype(str)
        out[many] = (
            "; it covers " + n + " lines (" + first + " to " + last + "): a quote is "
            "probably not closed"
        ).to_numpy()
    return out


def _line_breaks_in_values(chk: _TableCheck, labels: dict[str, str]) -> None:
    """Values holding line breaks: allowed in declared free text only.

    In a CSV a value holds a line break only inside quotes, so a line break in a column
    that is not free text means a quote left open swallowed the next lines; in a
    free-text column a line inside the value that holds a whole row's separators means
    the same. A quote never closed runs to the end of the file (``unclosed_quote``).
    """
    raw = chk.raw
    frame = raw.frame
    free = {c.name for c in chk.spec.columns if c.free_text}
    delimiter = raw.delimiter
    lines = raw.line_counts
    # a CSV row covers one line plus the line breaks in its values: rows of one line each
    # hold none, and the values need no search
    searched = raw.format != "csv" or lines is not None or raw.unclosed_quote
    for name in frame.columns if searched else ():
        s = frame[name]
        if not isinstance(s.dtype, pd.StringDtype):
            continue
        arr = pa_array(s)
        has = pc.fill_null(pc.match_substring_regex(arr, r"[\r\n]"), False)
        pos = np.flatnonzero(has.to_numpy(zero_copy_only=False))
        if not len(pos):
            continue
        label = labels[name]
        if name in free:
            if delimiter is None or len(frame.columns) < 2:
                continue  # a spreadsheet cell or Parquet value may hold lines of text
            sub = arr.take(pyarrow.array(pos))
            parts = pc.split_pattern_regex(sub, r"\r\n|\r|\n")
            counts = pc.count_substring(pc.list_flatten(parts), delimiter).to_numpy(
                zero_copy_only=False
            )
            parent = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
            most = np.zeros(len(pos), dtype=np.int64)
            np.maximum.at(most, parent, counts)
            pos = pos[most >= len(frame.columns) - 1]
            rule = "unbalanced_quote"
            what = f"{label} holds lines that look like rows of the file"
        else:
            rule = "multiline_value"
            what = f"{label} holds a line break"
        if not len(pos):
            continue
        n_lines = np.ones(len(pos), dtype=np.int64) if lines is None else lines[pos]
        detail = (what + pd.Series(_span_text(raw.row_numbers[pos], n_lines))).to_numpy()
        chk.add(pos, label, rule, detail)
    if raw.unclosed_quote:
        bad = raw.bad_rows
        last_good = int(raw.row_numbers[-1]) if len(raw.row_numbers) else -1
        last_bad = int(bad["row"].max()) if len(bad) else -1
        detail = "a quote opened in this row is never closed: the row runs to the end of the file"
        if last_bad > last_good:
            chk.add_rows([last_bad], None, "unclosed_quote", [detail])
        else:
            chk.add([len(frame) - 1], None, "unclosed_quote", detail)


def pa_array(s: pd.Series):
    """A text column as an Arrow (chunked) array."""
    arr = pyarrow.array(s.array)
    return arr if arr.type == pyarrow.string() else arr.cast(pyarrow.string())


def _cells_and_columns(chk: _TableCheck) -> None:
    typed, cells = coerce_table(chk.raw, text_dtype=_WORK_TEXT)
    chk.typed = typed
    for (column, rule), grp in cells.groupby(["column", "rule"], sort=False):
        chk.add(
            grp["pos"].to_numpy(),
            column,
            rule,
            (f"{column} " + grp["detail"].astype(object)).to_numpy(),
        )
    # pandera: required values, allowed values, ranges
    try:
        _pandera_schema(chk.spec).validate(typed, lazy=True, inplace=True)
        failures = None
    except pa.errors.SchemaErrors as error:
        failures = error.failure_cases
    if failures is None or failures.empty:
        return
    failures = failures[failures["index"].notna()]
    failures = failures.assign(rule=failures["check"].map(_pandera_rule))
    for (column, rule), grp in failures.groupby(["column", "rule"], sort=False):
        pos = grp["index"].to_numpy(dtype="int64")
        if rule == "missing_value":
            # a value that did not parse is reported as such, not again as missing
            unreadable = cells.loc[cells["column"] == column, "pos"].to_numpy(dtype="int64")
            pos = pos[~np.isin(pos, unreadable)]
            chk.add(pos, column, rule, f"{column} is empty but required")
            continue
        col = chk.spec.column(column)
        if rule == "allowed_values":
            # the value is not shown: text outside the allowed codes may be anything
            chk.add(
                pos,
                column,
                rule,
                f"{column} is not one of the allowed values ({', '.join(col.allowed)})",
            )
        else:
            vals = typed[column].to_numpy(dtype="float64", na_value=np.nan)[pos]
            shown = np.array([_num(v) for v in vals], dtype=object)
            chk.add(
                pos,
                column,
                rule,
                f"{column} " + shown + f" is outside {_num(col.min)} to {_num(col.max)}",
                value=shown,
            )


def _num(x) -> str:
    if x is None:
        return "-"
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:g}"


def _rows(chk: _TableCheck) -> None:
    typed, spec = chk.typed, chk.spec
    live = ~chk.skip
    # exact duplicates: the first copy is kept, later copies are rejected. Identical rows
    # share their id, so whole rows are compared only where the id repeats (or is missing).
    key = typed[spec.key]
    has_key = key.notna().to_numpy()
    repeated = _repeated(key)
    maybe = np.flatnonzero(repeated | ~has_key)
    dup = np.zeros(len(typed), dtype=bool)
    if len(maybe):
        dup[maybe] = typed.iloc[maybe].duplicated(keep="first").to_numpy()
    dup &= live
    chk.add(np.flatnonzero(dup), None, "exact_duplicate", "the row repeats an earlier row exactly")
    # ids: all rows sharing an id are rejected (we cannot tell which one is right)
    consider = live & ~dup & has_key
    if consider[has_key].all():  # usual case: no row was set aside, the repeats stand
        clash = repeated & has_key
    else:
        clash = np.zeros(len(typed), dtype=bool)
        clash[np.flatnonzero(consider)[_repeated(key[consider])]] = True
    chk.add(
        np.flatnonzero(clash),
        spec.key,
        "duplicate_id",
        f"{spec.key} is used by more than one row",
    )
    # dates in order within the row
    for table, early, late, rule in DATE_ORDER:
        if table != spec.name:
            continue
        a, b = typed[early], typed[late]
        bad = (b < a).fillna(False).to_numpy(dtype=bool)
        pos = np.flatnonzero(bad)
        if len(pos):
            av, bv = _iso(a.iloc[pos]), _iso(b.iloc[pos])
            chk.add(
                pos,
                late,
                rule,
                (late + " " + bv + f" is before {early} " + av).to_numpy(),
                value=bv.to_numpy(),
            )
    if spec.name == "sites":
        _site_arms(chk, live & ~dup & ~clash)
    for col in spec.columns:
        if col.kind != "date":
            continue
        s = typed[col.name]
        for bad, what in ((s < MIN_DATE, f"before {MIN_DATE:%Y-%m-%d}"),
                          (s > MAX_DATE, f"after {MAX_DATE:%Y-%m-%d}")):
            pos = np.flatnonzero(bad.fillna(False).to_numpy(dtype=bool))
            if len(pos):
                v = _iso(s.iloc[pos])
                chk.add(
                    pos,
                    col.name,
                    "implausible_date",
                    (col.name + " " + v + f" is {what}").to_numpy(),
                    value=v.to_numpy(),
                )


def _site_arms(chk: _TableCheck, considered: np.ndarray) -> None:
    """The arm rules of ``sites``: a comparison site has no ``pilot_start``; a pilot site's
    ``pilot_start`` lies within its delivery period (``docs/data-model.md``)."""
    typed = chk.typed
    start = typed["pilot_start"]
    has = start.notna().to_numpy(dtype=bool) & considered
    comparison = (typed["arm"] == schema.COMPARISON).fillna(False).to_numpy(dtype=bool)
    pos = np.flatnonzero(has & comparison)
    if len(pos):
        v = _iso(start.iloc[pos])
        chk.add(
            pos,
            "pilot_start",
            "pilot_start_for_comparison",
            ("pilot_start " + v + " is given for a site whose arm is comparison").to_numpy(),
            value=v.to_numpy(),
        )
    lo, hi = typed["delivery_start"], typed["delivery_end"]
    before = (start < lo).fillna(False).to_numpy(dtype=bool)
    after = (start > hi).fillna(False).to_numpy(dtype=bool)
    for mask, what, ref, name in ((before, "before", lo, "delivery_start"), (after, "after", hi, "delivery_end")):
        pos = np.flatnonzero(mask & has & ~comparison)
        if len(pos):
            v = _iso(start.iloc[pos])
            chk.add(
                pos,
                "pilot_start",
                "pilot_start_outside_delivery",
                ("pilot_start " + v + f" is {what} the site's {name} " + _iso(ref.iloc[pos])).to_numpy(),
                value=v.to_numpy(),
            )


def _repeated(values: pd.Series) -> np.ndarray:
    """Whether each value occurs more than once (missing values never count).

    Equal to ``values.duplicated(keep=False) & values.notna()``, found by sorting the
    values as Arrow text: no hash table over millions of (Python) strings.

    Examples
    --------
    >>> _repeated(pd.Series(["a", None, "b", "a", None], dtype="string")).tolist()
    [True, False, False, True, False]
    """
    if not isinstance(values.dtype, pd.StringDtype):
        return (values.duplicated(keep=False) & values.notna()).to_numpy(dtype=bool)
    arr = pyarrow.array(values.array)
    if isinstance(arr, pyarrow.ChunkedArray):
        arr = arr.combine_chunks()
    out = np.zeros(len(arr), dtype=bool)
    if len(arr) < 2:
        return out
    order = pc.sort_indices(arr)  # missing values last, and never equal to anything
    ordered = arr.take(order)
    same = pc.fill_null(pc.equal(ordered[1:], ordered[:-1]), False)
    same = same.to_numpy(zero_copy_only=False)
    del ordered, arr
    rep = np.zeros(len(out), dtype=bool)
    rep[1:] |= same
    rep[:-1] |= same
    out[order.to_numpy()] = rep
    return out


#: Text columns are Arrow-backed while a delivery is checked: a few bytes a value where a
#: Python string takes about sixty, and Arrow does the lookups. The accepted tables get
#: the configured storage (``pd.options.mode.string_storage``) at the end of validation.
_WORK_TEXT = pd.StringDtype("pyarrow")


def _with_string_storage(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with its text columns in the configured ``string`` storage."""
    target = pd.StringDtype()
    convert = [
        c
        for c, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.StringDtype) and dtype != target
    ]
    if not convert:
        return frame
    return pd.DataFrame(
        {c: frame[c].astype(target) if c in convert else frame[c] for c in frame.columns},
        copy=False,
    )


# tables that other tables refer to (see _references)
_PARENT_TABLES = ("sites", "households", "episodes")

# the columns children need of their parent table
_PARENT_COLUMNS = {
    "sites": ["delivery_end"],
    "households": ["site"],
    "episodes": ["household_id", "registration_date", "closure_date"],
    "legal_measures": [],
    "safety_assessments": [],
    "referrals": [],
}


@dataclass
class _Parent:
    """What children of a table need: keys as delivered and the accepted rows."""

    all_keys: pd.Index
    accepted: pd.DataFrame  # indexed by key

    @classmethod
    def of(cls, chk: _TableCheck) -> _Parent:
        key = chk.spec.key
        if chk.typed is None:
            raw = chk.raw.frame
            if key in raw.columns:
                from cohort.delivery.coerce import coerce_column

                keys, _ = coerce_column(raw[key], chk.spec.column(key), file=chk.raw.file)
                all_keys = pd.Index(keys.dropna().unique())
            else:
                all_keys = pd.Index([], dtype="string")
            empty = pd.DataFrame({c.name: pd.Series([], dtype=object) for c in chk.spec.columns})
            return cls(all_keys, empty.set_index(key))
        typed = chk.typed[[key, *_PARENT_COLUMNS[chk.spec.name]]]
        all_keys = pd.Index(typed[key].dropna().unique())
        accepted = typed[~chk.rejected] if chk.rejected.any() else typed
        return cls(all_keys, accepted.set_index(key))


def _reference(chk: _TableCheck, column: str, parent: _Parent, parent_table: str) -> np.ndarray:
    """Check one reference column; return the parent positions (-1 where not accepted)."""
    values = chk.typed[column]
    where = _positions(parent.accepted.index, values)
    present = values.notna().to_numpy()
    missing = present & (where < 0)
    if missing.any():
        known = parent.all_keys.get_indexer(values[missing]) >= 0
        pos = np.flatnonzero(missing)
        # site codes are not personal and are shown; pseudonyms are not
        shown = (
            values.iloc[pos[~known]].astype(object).to_numpy() if parent_table == "sites" else None
        )
        detail = f"{column} refers to no row of {parent_table}"
        if shown is not None:
            # only what reads as a site code is shown; anything else may be foreign content
            as_code = pd.Series(shown, dtype="string").str.fullmatch(SITE_CODE).fillna(False)
            shown = np.where(as_code.to_numpy(dtype=bool), shown, None)
            detail = np.where(
                as_code.to_numpy(dtype=bool),
                (f"{column} " + pd.Series(shown, dtype=object).fillna("") + f" is not a {column} in {parent_table}").to_numpy(),
                f"{column} is not a {column} in {parent_table} (value not shown: not a site code)",
            )
        chk.add(pos[~known], column, "unknown_reference", detail, value=shown)
        chk.add(
            pos[known],
            column,
            "rejected_reference",
            f"{column} refers to a row of {parent_table} that was rejected",
        )
    return where


def _is_arrow_text(dtype) -> bool:
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


def _positions(index: pd.Index, values: pd.Series) -> np.ndarray:
    """``index.get_indexer(values)`` for a unique index: positions, -1 where not found.

    With Arrow-backed text on both sides the lookup runs in Arrow; pandas would first
    turn millions of values into Python strings.
    """
    if not (_is_arrow_text(index.dtype) and _is_arrow_text(values.dtype)):
        return index.get_indexer(values)
    found = pc.index_in(
        pyarrow.array(values.array).cast(pyarrow.large_string()),
        value_set=pyarrow.array(index.array).cast(pyarrow.large_string()),
    )
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.intp)


def _after_delivery_end(chk: _TableCheck, site_pos: np.ndarray, sites: _Parent) -> None:
    """Dates after the site's delivery_end. ``site_pos``: row -> accepted site position."""
    ends = sites.accepted["delivery_end"].to_numpy(dtype="datetime64[ns]")
    has = site_pos >= 0
    end = np.full(len(site_pos), np.datetime64("NaT"), dtype="datetime64[ns]")
    end[has] = ends[site_pos[has]]
    end = pd.Series(end, index=chk.typed.index)
    for col in chk.spec.columns:
        if col.kind != "date" or col.name in ("delivery_start", "delivery_end"):
            continue
        s = chk.typed[col.name]
        pos = np.flatnonzero((s > end).fillna(False).to_numpy(dtype=bool))
        if len(pos):
            v = _iso(s.iloc[pos])
            chk.add(
                pos,
                col.name,
                "after_delivery_end",
                (
                    col.name + " " + v + " is after the site's delivery_end " + _iso(end.iloc[pos])
                ).to_numpy(),
                value=v.to_numpy(),
            )


def _near_episode(chk: _TableCheck, ep_pos: np.ndarray, episodes: _Parent, tol: int) -> None:
    column = NEAR_EPISODE[chk.spec.name]
    acc = episodes.accepted
    has = ep_pos >= 0
    reg = np.full(len(ep_pos), np.datetime64("NaT"), dtype="datetime64[ns]")
    clo = reg.copy()
    reg[has] = acc["registration_date"].to_numpy(dtype="datetime64[ns]")[ep_pos[has]]
    clo[has] = acc["closure_date"].to_numpy(dtype="datetime64[ns]")[ep_pos[has]]
    reg, clo = pd.Series(reg), pd.Series(clo)
    d = chk.typed[column].reset_index(drop=True)
    delta = pd.Timedelta(days=tol)
    before = (d < reg - delta).fillna(False).to_numpy(dtype=bool)
    after = (d > clo + delta).fillna(False).to_numpy(dtype=bool) & ~before
    for mask, what, ref in ((before, "before", reg), (after, "after", clo)):
        pos = np.flatnonzero(mask)
        if len(pos):
            v = _iso(d.iloc[pos])
            refname = "registration_date" if what == "before" else "closure_date"
            chk.add(
                pos,
                column,
                "outside_episode",
                (
                    column + " " + v + f" is more than {tol} days {what} its episode's "
                    f"{refname} " + _iso(ref.iloc[pos])
                ).to_numpy(),
                value=v.to_numpy(),
            )


def _overlaps(chk: _TableCheck) -> None:
    """Warn about episodes registered while an earlier episode of the household was open."""
    typed = chk.typed
    ok = np.flatnonzero(~chk.rejected)
    ep = typed.iloc[ok][["household_id", "registration_date", "closure_date"]].copy()
    ep["pos"] = ok
    ep = ep.sort_values(["household_id", "registration_date", "pos"], kind="stable")
    end = ep["closure_date"].fillna(pd.Timestamp.max.floor("D"))
    running = end.groupby(ep["household_id"], sort=False).cummax()
    prev = running.groupby(ep["household_id"], sort=False).shift(1)
    overlap = (ep["registration_date"] < prev).fillna(False).to_numpy(dtype=bool)
    pos = ep["pos"].to_numpy()[overlap]
    if len(pos):
        order = np.sort(pos)
        v = _iso(typed["registration_date"].iloc[order])
        chk.add(
            order,
            "registration_date",
            "overlapping_episodes",
            (
                "registration_date " + v + " falls while an earlier episode of the same "
                "household is still open"
            ).to_numpy(),
            value=v.to_numpy(),
        )


# ---------------------------------------------------------------------------------------
# the report


@dataclass
class ValidationReport:
    """The outcome of validating one delivery.

    Attributes
    ----------
    violations : pandas.DataFrame
        One row per violation: ``file, table, row, column, rule, severity, value,
        message, action``. ``row`` is the row number as in the file (empty for a
        violation of a whole file or column); ``value`` is empty unless it cannot identify
        anyone.
    accounting : pandas.DataFrame
        Per table: ``table, file, rows_read, rows_accepted, rows_rejected,
        rows_with_warnings, lines_read, lines_accepted, lines_rejected``;
        ``rows_read == rows_accepted + rows_rejected`` and
        ``lines_read == lines_accepted + lines_rejected`` (physical lines of a CSV file
        after its header; rows for Excel and Parquet).
    rejected : dict[str, pandas.DataFrame]
        The rejected rows per table as delivered (text), with ``row``, ``lines`` and
        ``rules``:
        what :meth:`write_quarantine` writes.
    delivery : str
        The delivery's name.
    fingerprint : str
        The delivery's content hash.
    """

    violations: pd.DataFrame
    accounting: pd.DataFrame
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)
    delivery: str = ""
    fingerprint: str = ""

    @property
    def summary(self) -> pd.DataFrame:
        """Violations per table and rule: ``table, rule, severity, n_violations, n_rows``.

        ``n_rows`` counts the rows concerned; a missing required column concerns every row
        of its table.
        """
        v = self.violations
        if v.empty:
            empty = pd.DataFrame(
                {
                    "table": pd.Series([], dtype=object),
                    "rule": pd.Series([], dtype=object),
                    "severity": pd.Series([], dtype=object),
                    "n_violations": pd.Series([], dtype="int64"),
                    "n_rows": pd.Series([], dtype="int64"),
                }
            )
            return with_roles(empty, counts=["n_violations", "n_rows"], keys=["table", "rule", "severity"])
        g = v.groupby(["table", "rule", "severity"], sort=False)
        out = g.agg(n_violations=("rule", "size"), n_rows=("row", "nunique")).reset_index()
        read = self.accounting.set_index("table")["rows_read"]
        whole = out["rule"].eq("required_column")
        out.loc[whole, "n_rows"] = out.loc[whole, "table"].map(read).fillna(0)
        order = {t: i for i, t in enumerate([*schema.TABLES, "delivery"])}
        out = out.assign(_o=out["table"].map(order)).sort_values(["_o", "severity", "rule"])
        out = (
            out.drop(columns="_o")
            .astype({"n_violations": "int64", "n_rows": "int64"})
            .reset_index(drop=True)
        )
        return with_roles(out, counts=["n_violations", "n_rows"], keys=["table", "rule", "severity"])

    @property
    def row_accounting(self) -> pd.DataFrame:
        """Rows per table: ``table, rows_read, rows_accepted, rows_rejected,
        rows_with_warnings``, stating its column roles and that ``rows_read =
        rows_accepted + rows_rejected`` (a table for release; the file names are in
        :attr:`accounting`)."""
        out = self.accounting.drop(columns="file")
        return with_roles(
            out, counts=["rows_read", "rows_accepted", "rows_rejected", "rows_with_warnings"], keys=["table"],
            sums={"rows_read": ["rows_accepted", "rows_rejected"]},
        )

    def __repr__(self) -> str:
        acc = self.accounting
        return (
            f"ValidationReport({self.delivery!r}, rows_read={int(acc['rows_read'].sum())}, "
            f"rows_rejected={int(acc['rows_rejected'].sum())}, errors={self.n_errors}, "
            f"warnings={self.n_warnings})"
        )

    @property
    def n_errors(self) -> int:
        return int(self.violations["severity"].eq("error").sum())

    @property
    def n_warnings(self) -> int:
        return int(self.violations["severity"].eq("warning").sum())

    @property
    def ok(self) -> bool:
        """True when no row was rejected (warnings allowed)."""
        return self.n_errors == 0

    def raise_for_errors(self) -> None:
        """Raise :class:`ValidationError` (with ``.violations``) if there are errors."""
        if self.ok:
            return
        acc = self.accounting
        rej = acc[acc["rows_rejected"] > 0]
        tables = ", ".join(
            f"{t} {n}" for t, n in zip(rej["table"], rej["rows_rejected"], strict=True)
        )
        first = self.violations[self.violations["severity"] == "error"]["message"].iloc[0]
        raise ValidationError(
            f"delivery {self.delivery} has {self.n_errors} validation errors; rows rejected: "
            f"{tables or 'none'}. First: {first} Run 'cohort validate' on the delivery for the "
            "full list, or load with on_error='proceed' to keep the valid rows.",
            violations=self.violations,
        )

    def write_quarantine(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write rejected rows (one CSV per table) and ``violations.csv`` to ``folder``.

        The folder is created; earlier files of this delivery in it are replaced.
        Returns the written paths by name.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for name in schema.TABLES:
            path = folder / f"{name}.csv"
            frame = self.rejected.get(name)
            if frame is None or frame.empty:
                if path.exists():
                    path.unlink()
                continue
            frame.to_csv(path, index=False, lineterminator="\n")
            written[name] = path
        written["violations"] = self.write_violations(folder / "violations.csv")
        return written

    def write_violations(self, path: str | os.PathLike) -> Path:
        """Write the full violation list as CSV (UTF-8, sorted, no pseudonyms)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.violations.to_csv(path, index=False, lineterminator="\n")
        return path

    def to_folder(self, folder: Path) -> None:
        """Store the report as Parquet (used by the load cache)."""
        self.violations.to_parquet(folder / "violations.parquet", index=False)
        self.accounting.to_parquet(folder / "accounting.parquet", index=False)
        for name, frame in self.rejected.items():
            frame.to_parquet(folder / f"rejected_{name}.parquet", index=False)
        meta = {
            "delivery": self.delivery,
            "fingerprint": self.fingerprint,
            "rejected": sorted(self.rejected),
        }
        (folder / "report.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def from_folder(cls, folder: Path) -> ValidationReport:
        meta = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        return cls(
            violations=pd.read_parquet(folder / "violations.parquet"),
            accounting=pd.read_parquet(folder / "accounting.parquet"),
            rejected={
                n: pd.read_parquet(folder / f"rejected_{n}.parquet") for n in meta["rejected"]
            },
            delivery=meta["delivery"],
            fingerprint=meta["fingerprint"],
        )


def _quarantine_rows(chk: _TableCheck, violations: pd.DataFrame) -> pd.DataFrame:
    """The rejected rows of one table as delivered, with row number and rules."""
    raw = chk.raw
    pos = np.flatnonzero(chk.rejected)
    body = raw.frame.iloc[pos]
    text = pd.DataFrame(
        {c: body[c].astype(object).where(body[c].notna(), "").astype(str) for c in body.columns}
    )
    text.insert(0, "row", raw.row_numbers[pos])
    lines = np.ones(len(pos), dtype=np.int64) if raw.line_counts is None else raw.line_counts[pos]
    text.insert(1, "lines", lines)
    bad = raw.bad_rows
    if len(bad):
        extra = pd.DataFrame(
            {
                "row": bad["row"].to_numpy(),
                "lines": bad["lines"].to_numpy() if "lines" in bad else 1,
                "raw_line": bad["text"].to_numpy(),
            }
        )
        text = pd.concat([text, extra], ignore_index=True)
    errors = violations[(violations["severity"] == "error") & violations["row"].notna()]
    rules = errors.groupby("row")["rule"].agg(lambda r: ";".join(sorted(set(r))))
    table_rules = ";".join(
        sorted(
            set(
                violations.loc[
                    (violations["severity"] == "error") & violations["row"].isna(), "rule"
                ]
            )
        )
    )
    r = text["row"].map(rules).fillna("")
    if table_rules:
        r = (r + ";" + table_rules).str.strip(";")
    text.insert(1, "rules", r.astype(str))
    return text.sort_values("row", kind="stable").reset_index(drop=True)


def _finish(violations: pd.DataFrame) -> pd.DataFrame:
    """Add severity, message and action; order columns and rows."""
    if violations.empty:
        v = violations.assign(
            severity=pd.Series([], dtype=object),
            message=pd.Series([], dtype=object),
            action=pd.Series([], dtype=object),
        )
        return v[VIOLATION_COLUMNS].reset_index(drop=True)
    v = violations.copy()
    v["severity"] = v["rule"].map(lambda r: RULES[r].severity)
    v["action"] = v["rule"].map(lambda r: RULES[r].action)
    row_text = ("row " + v["row"].astype("string")).fillna("")
    col_text = ("column " + v["column"].astype("string")).fillna("")
    where = (row_text + ", " + col_text).str.strip(", ")
    head = v["file"].astype("string") + (" " + where).where(where.ne(""), "")
    v["message"] = (
        head
        + ": "
        + v["detail"].astype("string")
        + " (rule: "
        + v["rule"].astype("string")
        + "). "
        + v["action"].astype("string")
    ).astype(object)
    order = {t: i for i, t in enumerate([*schema.TABLES, "delivery"])}
    v["_t"] = v["table"].map(order)
    v["_r"] = v["row"].fillna(-1)
    v = v.sort_values(["_t", "_r", "column", "rule"], kind="stable", na_position="first")
    return v[VIOLATION_COLUMNS].reset_index(drop=True)


def validate_raw(
    raw: RawDelivery,
    *,
    tolerance_days: int = EPISODE_TOLERANCE_DAYS,
    guard: bool = True,
    release: bool = False,
) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    """Validate raw tables; return the accepted typed tables and the report.

    Raises :class:`~cohort.exceptions.IdentifierError` first if the delivery carries direct
    identifiers (``guard=False`` skips this only for data already checked). With
    ``release=True`` each raw table is dropped from ``raw`` once it is validated, so that a
    large delivery is not held twice in memory (``raw`` is then empty afterwards).
    """
    tolerance_days = check_tolerance(tolerance_days)
    if guard:
        from cohort.delivery.identifiers import check_raw_delivery

        check_raw_delivery(raw)
    name_, fingerprint = raw.name, raw.fingerprint
    parents: dict[str, _Parent] = {}
    tables, parts, acc_rows, rejected = {}, [], [], {}
    for name in schema.TABLES:
        chk = _TableCheck(raw.tables[name])
        if release:
            raw.tables[name] = None  # the check holds the only reference now
        if _structure(chk):
            _cells_and_columns(chk)
            _rows(chk)
            _references(chk, parents, tolerance_days)
        if name in _PARENT_TABLES:  # what child tables need; nothing refers to the others
            parents[name] = _Parent.of(chk)
        # this table's verdict is final (children never reject a parent): settle it now
        v = chk.violations()
        parts.append(v)
        if chk.typed is None or chk.all_rejected:
            tables[name] = _empty_table(chk.spec)
        elif chk.rejected.any():
            tables[name] = _accepted_rows(chk)
        else:
            tables[name] = chk.typed
        acc_rows.append(_accounting_row(chk))
        if chk.rejected.any() or len(chk.raw.bad_rows):
            rejected[name] = _quarantine_rows(chk, _finish(v))
        del chk, v
        if release:
            _release_memory()
    if raw.ignored_files:
        parts.append(
            pd.DataFrame(
                {
                    "file": raw.ignored_files,
                    "table": "delivery",
                    "row": pd.array([pd.NA] * len(raw.ignored_files), dtype="Int64"),
                    "column": None,
                    "rule": "unknown_file",
                    "value": pd.array([pd.NA] * len(raw.ignored_files), dtype="string"),
                    "detail": "the file is not a table of the data model",
                }
            )
        )
    # the accepted tables in the configured string storage, one at a time now that the
    # raw tables and the parents' lookups are gone (the Arrow-backed copy of one table is
    # freed as it is replaced)
    parents.clear()
    for name in list(tables):
        tables[name] = _with_string_storage(tables[name])
        if release:
            _release_memory()
    parts = [p for p in parts if len(p)]
    violations = _finish(pd.concat(parts, ignore_index=True) if parts else _empty_violations())
    accounting = pd.DataFrame(acc_rows)
    report = ValidationReport(
        violations=violations,
        accounting=accounting,
        rejected=rejected,
        delivery=name_,
        fingerprint=fingerprint,
    )
    return tables, report


def _accounting_row(chk: _TableCheck) -> dict:
    """Rows and physical lines read, accepted and rejected; read = accepted + rejected."""
    raw = chk.raw
    bad = raw.bad_rows
    n_bad = len(bad)
    bad_lines = int(bad["lines"].sum()) if n_bad and "lines" in bad else n_bad
    row = {
        "table": raw.name,
        "file": raw.file,
        "rows_read": raw.rows_read,
        "rows_accepted": int((~chk.rejected).sum()),
        "rows_rejected": int(chk.rejected.sum()) + n_bad,
        "rows_with_warnings": int((chk.warned & ~chk.rejected).sum()),
        "lines_read": raw.physical_lines,
        "lines_accepted": raw.lines_of(~chk.rejected),
        "lines_rejected": raw.lines_of(chk.rejected) + bad_lines,
    }
    if (
        row["rows_read"] != row["rows_accepted"] + row["rows_rejected"]
        or row["lines_read"] != row["lines_accepted"] + row["lines_rejected"]
    ):
        raise DeliveryError(
            f"{raw.file}: {row['rows_read']} rows in {row['lines_read']} lines were read but "
            f"{row['rows_accepted']} + {row['rows_rejected']} rows in {row['lines_accepted']} + "
            f"{row['lines_rejected']} lines accounted for (rule: line_accounting); report this "
            "with the file to the workbench's maintainers"
        )
    return row


def _accepted_rows(chk: _TableCheck) -> pd.DataFrame:
    """The typed table without its rejected rows, as ``typed[~rejected]`` with a new index.

    Built column by column, dropping each column from ``chk.typed`` once it is copied, so
    that a table of millions of rows is not held twice. ``chk.typed`` is emptied.
    """
    typed, keep = chk.typed, ~chk.rejected
    chk.typed = None
    out = {}
    for name in list(typed.columns):
        out[name] = typed[name][keep].reset_index(drop=True)
        del typed[name]
    return pd.DataFrame(out, copy=False)


def _release_memory() -> None:
    """Give freed memory back to the operating system between tables.

    Arrow keeps freed blocks in its pool, and the C allocator keeps freed heap pages
    (millions of small Python strings leave many); both are returned here, so the next
    table starts from what is really in use. ``malloc_trim`` exists only in glibc.
    """
    pyarrow.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library the interpreter runs on
        libc.malloc_trim  # noqa: B018 - absent outside glibc (musl)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _load_libc()


def _empty_table(spec: schema.Table) -> pd.DataFrame:
    from cohort.delivery.coerce import empty_column

    return pd.DataFrame({c.name: empty_column(c, 0) for c in spec.columns})


def _site_codes(chk: _TableCheck) -> None:
    """Site codes are short codes of letters and digits, and names plain text.

    Both are shown in released tables and messages: a code or label a spreadsheet would
    run as a formula (``=HYPERLINK(...)``), or that holds control characters or could be
    mistaken for the total label ``all``, is rejected, and its value is never shown.
    """
    from cohort.disclosure.policy import TOTAL
    from cohort.disclosure.safe_text import formula_mask

    codes = chk.typed["site"]
    present = codes.notna().to_numpy()
    valid = codes.str.fullmatch(SITE_CODE).fillna(False).to_numpy(dtype=bool)
    total = (codes.str.lower() == TOTAL).fillna(False).to_numpy(dtype=bool)
    bad = np.flatnonzero(present & (~valid | total))
    chk.add(
        bad,
        "site",
        "invalid_site_code",
        f"site is not a site code of 1 to 10 letters or digits other than '{TOTAL}' (value not shown)",
    )
    if "name" not in chk.typed.columns:
        return
    names = chk.typed["name"]
    has = names.notna().to_numpy()
    text = names.astype("string")
    control = text.str.contains(r"[\x00-\x1f\x7f]", regex=True).fillna(False).to_numpy(dtype=bool)
    long = (text.str.len() > MAX_LABEL_LENGTH).fillna(False).to_numpy(dtype=bool)
    formula = formula_mask(names.to_numpy(dtype=object, na_value=None))
    chk.add(
        np.flatnonzero(has & (control | long | formula)),
        "name",
        "invalid_label",
        "name is not a plain label: it starts like a spreadsheet formula, holds control "
        f"characters or is longer than {MAX_LABEL_LENGTH} characters (value not shown)",
    )


def _references(chk: _TableCheck, parents: dict[str, _Parent], tol: int) -> None:
    name = chk.spec.name
    if name == "sites":
        _site_codes(chk)
        return
    sites = parents["sites"]
    if name == "households":
        site_pos = _reference(chk, "site", sites, "sites")
        _after_delivery_end(chk, site_pos, sites)
        return
    households = parents["households"]
    hh_pos = _reference(chk, "household_id", households, "households")
    hh_site = np.full(len(hh_pos), -1, dtype="int64")
    if len(households.accepted):
        site_of_hh = _positions(sites.accepted.index, households.accepted["site"])
        hh_site[hh_pos >= 0] = site_of_hh[hh_pos[hh_pos >= 0]]
    if name == "episodes":
        site_pos = _reference(chk, "site", sites, "sites")
        both = (site_pos >= 0) & (hh_site >= 0)
        mismatch = np.flatnonzero(both & (site_pos != hh_site))
        chk.add(
            mismatch,
            "site",
            "site_mismatch",
            "site differs from the site of the episode's household in households",
        )
        _after_delivery_end(chk, site_pos, sites)
        _overlaps(chk)
        return
    if name in NEAR_EPISODE:
        episodes = parents["episodes"]
        ep_pos = _reference(chk, "episode_id", episodes, "episodes")
        has = ep_pos >= 0
        # compare households by their position among accepted households: integers, not
        # millions of strings
        hh_of_episode = _positions(households.accepted.index, episodes.accepted["household_id"])
        ep_hh = np.full(len(ep_pos), -1, dtype="int64")
        ep_hh[has] = hh_of_episode[ep_pos[has]]
        mismatch = np.flatnonzero(has & (hh_pos >= 0) & (ep_hh != hh_pos))
        chk.add(
            mismatch,
            "episode_id",
            "episode_household_mismatch",
            "episode_id refers to an episode of another household",
        )
        _near_episode(chk, np.where(has, ep_pos, -1), episodes, tol)
    _after_delivery_end(chk, hh_site, sites)


def check_tolerance(tolerance_days, option: str = "tolerance_days") -> int:
    """Return ``tolerance_days`` as an int, or raise :class:`ParameterError`.

    Examples
    --------
    >>> check_tolerance(30)
    30
    >>> check_tolerance(-40, "--tolerance-days")
    Traceback (most recent call last):
    ...
    cohort.exceptions.ParameterError: --tolerance-days must be a whole number of days from 0 to 365, got -40; it is how far legal measures and assessments may lie outside their episode (default 30)
    """
    low, high = TOLERANCE_RANGE
    if (
        isinstance(tolerance_days, bool)
        or not isinstance(tolerance_days, int | np.integer)
        or not low <= tolerance_days <= high
    ):
        from cohort.strict_yaml import short

        raise ParameterError(
            f"{option} must be a whole number of days from {low} to {high}, got "
            f"{short(tolerance_days, 20)}; it is how far legal measures and assessments may "
            f"lie outside their episode (default {EPISODE_TOLERANCE_DAYS})"
        )
    return int(tolerance_days)


def validate_delivery(
    path: str | os.PathLike,
    *,
    tolerance_days: int = EPISODE_TOLERANCE_DAYS,
    max_file_bytes: int | None = None,
) -> ValidationReport:
    """Read, guard and validate a delivery folder; return the :class:`ValidationReport`.

    Raises only for deliveries that cannot be read (:class:`DeliveryError`,
    :class:`InputNotFoundError`), that carry identifiers (:class:`IdentifierError`), or
    for a bad ``tolerance_days`` (:class:`ParameterError`, checked before anything is
    read); rule violations are in the report. ``max_file_bytes`` is the largest file read
    (see :func:`cohort.delivery.read.max_file_bytes`).
    """
    tolerance_days = check_tolerance(tolerance_days)
    raw = read_raw_delivery(path, max_file_bytes=max_file_bytes)
    _tables, report = validate_raw(raw, tolerance_days=tolerance_days)
    return report
