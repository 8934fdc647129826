"""The release check: scan a report's released files, each on its own, before anyone sees them.

:func:`check_release` reads every CSV under a report folder (``tables/``, ``figure-data/``)
as text and applies the rules below without trusting how the file was made. Each problem
is a :class:`Finding` naming the file, the row (1 = first data row; the CSV line is one
more) and the column. Values that could identify someone are never echoed.

Rules (thresholds from the report's ``provenance.json`` or the policy passed in):

``small-count``
    A **count column** holds an unsuppressed whole number ``n`` with ``0 < n < threshold``.
    Count columns are recognised by name (:data:`COUNT_COLUMN`): ``n``, ``count``,
    ``numerator``, ``denominator``, ``events``, ``at_risk``, ``households`` and the like,
    ``n_*``, ``*_n``, ``*_count``, ``*_at_risk``, ``*_events``. A zero is allowed: it
    rests on no household. Cells holding ``[suppressed]`` or empty are fine.
``suppressed-part``
    A row where a count is suppressed still releases a value derived from it (columns
    named like :data:`VALUE_COLUMN`: ``value``, ``share``, ``rate``, ``lower``, ``upper``,
    ``survival`` ...): the suppressed count could be worked back from it.
``id-column``
    A column named like an identifier: one of :data:`cohort.delivery.schema.ID_COLUMNS`, or ending
    in ``_id``/``id``, ``pseudonym``, ``bsn``.
``id-value``
    A cell that looks like a pseudonym or key: ``SYN-...`` (the synthetic pseudonyms), a
    hex string of 16 or more characters (a hash), or a code like ``AB-12345678``.
``row-level``
    Signs of one row per person or household rather than aggregates:

    * a date column with :data:`MAX_INDIVIDUAL_DATES` or more distinct dates that are
      not the first or last day of a month (aggregates are dated by period boundaries;
      individual records carry individual dates);
    * a text column whose values are all different over :data:`MAX_UNIQUE_ROWS` or more
      rows (a key of individual records);
    * :data:`MAX_ROWS_WITHOUT_COUNT` or more rows without any count column (aggregates
      carry the number of units behind each row).
``disclosure-off``
    The report was built with disclosure control switched off: it must not be released.

:func:`check_differencing` checks two reports released together (the interim and the
final report): see its docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.delivery.schema import ID_COLUMNS
from cohort.disclosure.policy import SUPPRESSED, DisclosurePolicy
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

#: A date column with this many distinct dates off month boundaries is row-level.
MAX_INDIVIDUAL_DATES = 5
#: A text column all of whose values differ, over this many rows, is a key of records.
MAX_UNIQUE_ROWS = 100
#: This many rows without a count column look like individual records.
MAX_ROWS_WITHOUT_COUNT = 1000

#: Indicators counted since the study start: each is a non-decreasing series over dates.
CUMULATIVE_INDICATORS = ("households_involved", "legal_measures", "households_with_measure")
_RELEASE_FOLDERS = ("tables", "figure-data")


@dataclass(frozen=True)
class Finding:
    """One problem in one released file."""

    file: str
    rule: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row} (line {self.row + 1})"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message} [{self.rule}]"


def format_findings(findings: Sequence[Finding], limit: int = 50) -> str:
    """One line per finding (the first ``limit``), for messages and the command line."""
    lines = [f"  {f}" for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"  ... and {len(findings) - limit} more")
    return "\n".join(lines)


def report_policy(report_dir: str | Path) -> DisclosurePolicy:
    """The disclosure policy a report was built with, from its provenance or manifest."""
    report_dir = Path(report_dir)
    for name, path in (("provenance.json", ("parameters", "disclosure")), ("manifest.json", ("disclosure_policy",))):
        file = report_dir / name
        if file.is_file():
            node = json.loads(file.read_text(encoding="utf-8"))
            for key in path:
                node = node.get(key, {}) if isinstance(node, dict) else {}
            if node:
                return DisclosurePolicy(
                    threshold=node.get("threshold", 10),
                    rounding=node.get("rounding"),
                    enabled=node.get("enabled", True),
                )
    raise DisclosureError(
        f"{report_dir}: no provenance.json or manifest.json with the disclosure settings; "
        "check a folder built by `cohort report`"
    )


def released_files(report_dir: str | Path) -> list[Path]:
    """Every released CSV of a report (tables and figure data), sorted."""
    report_dir = Path(report_dir)
    return sorted(p for sub in _RELEASE_FOLDERS for p in (report_dir / sub).glob("*.csv"))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.where(column.str.strip() != ""), errors="coerce")


def _count_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if COUNT_COLUMN.search(str(c)) and not VALUE_COLUMN.search(str(c))]


def check_table(frame: pd.DataFrame, name: str, policy: DisclosurePolicy) -> list[Finding]:
    """Apply the release rules to one table read as text (every cell a string).

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["A", "B"], "n": ["12", "3"], "share": ["0.5", "0.1"]})
    >>> [str(f) for f in check_table(t, "tables/x.csv", DisclosurePolicy())]
    ["tables/x.csv, row 2 (line 3), column 'n': count 3 is below the threshold 10 and not suppressed [small-count]"]
    """
    findings: list[Finding] = []
    counts = _count_columns(frame)
    rows = np.arange(1, len(frame) + 1)

    for column in frame.columns:
        if str(column) in ID_COLUMNS or ID_COLUMN.search(str(column)):
            findings.append(
                Finding(name, "id-column", "an identifier column must never be released", column=str(column))
            )
    text = frame.astype(str)
    for column in text.columns:
        hits = text[column].str.match(ID_VALUE).to_numpy()
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

    if policy.enabled:
        suppressed_row = np.zeros(len(frame), dtype=bool)
        for column in counts:
            values = _numbers(frame[column])
            marked = (frame[column] == SUPPRESSED).to_numpy()
            suppressed_row |= marked
            whole = values.notna() & (values == values.round())
            small = (whole & (values > 0) & (values < policy.threshold)).to_numpy()
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
        for column in frame.columns:
            if column in counts or not VALUE_COLUMN.search(str(column)):
                continue
            shown = (frame[column].str.strip() != "") & (frame[column] != SUPPRESSED)
            leak = suppressed_row & shown.to_numpy()
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


def check_release(
    report_dir: str | Path,
    *,
    policy: DisclosurePolicy | None = None,
    against: str | Path | None = None,
) -> list[Finding]:
    """Check every released file of a report; return the findings (empty: releasable).

    Parameters
    ----------
    report_dir : path
        A report folder (or a folder being built).
    policy : DisclosurePolicy, optional
        Default: the policy in the report's ``provenance.json``.
    against : path, optional
        Another report released alongside (e.g. the interim report); adds
        :func:`check_differencing`.
    """
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise InputNotFoundError(f"report folder {report_dir} does not exist")
    policy = policy or report_policy(report_dir)
    findings: list[Finding] = []
    if not policy.enabled:
        findings.append(
            Finding(
                "provenance.json",
                "disclosure-off",
                "the report was built with disclosure control switched off; it must not be released",
            )
        )
    for path in released_files(report_dir):
        rel = path.relative_to(report_dir).as_posix()
        try:
            frame = _read(path)
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            findings.append(Finding(rel, "unreadable", f"not a readable CSV file: {error}"))
            continue
        findings.extend(check_table(frame, rel, policy))
    if against is not None:
        findings.extend(check_differencing(report_dir, against, policy=policy))
    return findings


def _long_cells(report_dir: Path, label: str) -> pd.DataFrame:
    """Every numeric or suppressed cell of a report's released files, in long form.

    Columns: ``file, key, column, value, suppressed, report, row``. ``key`` joins the
    row's text, date and other non-measure cells, so a cell is identified across reports
    by file, key and column.
    """
    parts = []
    for path in released_files(report_dir):
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
