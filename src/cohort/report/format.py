"""Numbers, dates and labels as a report in Dutch or English writes them.

One place decides how every cell of a report table reads, so that the same table follows
Dutch conventions in a Dutch report and English ones in an English report:

* **count**: a whole number with thousands separators (``19.973`` / ``19,973``);
* **value**: an estimate (mean, coefficient, hazard ratio, interval bound) with a fixed
  number of decimals per column, chosen from the column's magnitude, never in
  e-notation (``0,64`` / ``0.64``);
* **share**: a proportion shown as a percentage with one decimal (``12,0%`` / ``12.0%``);
* **p**: a p-value with three decimals, ``< 0,001`` / ``< 0.001`` below that (never
  ``p = 0``);
* **date**: written out (``31 december 2024`` / ``31 December 2024``);
* **group**, **key**, **label**: text, shown as it is (labels are translated before).

A suppressed cell reads as one marker in every table of a report
(:func:`suppression_marker`), explained by one footnote (:func:`suppression_footnote`):
the released files' ``[suppressed]``, the ``<10`` of numbers at risk and an empty cell in
a row flagged ``suppressed`` all become that marker.

Babel supplies the separators and month names (CLDR data, no system locale needed).

Examples
--------
>>> format_number(19973, "count", "nl"), format_number(19973, "count", "en")
('19.973', '19,973')
>>> format_number(0.1204, "share", "nl"), format_number(2.217e-26, "p", "nl")
('12,0%', '< 0,001')
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "ROLES",
    "LOCALES",
    "format_number",
    "format_date",
    "format_frame",
    "column_decimals",
    "suppression_marker",
    "suppression_footnote",
    "is_suppressed_text",
    "alignment",
    "infer_roles",
    "term_label",
]

#: What a column holds, and so how its cells are written.
ROLES = ("count", "value", "group", "key", "share", "p", "date", "label")

#: Babel locale per report language.
LOCALES = {"nl": "nl_NL", "en": "en_GB"}

#: p-values below this are written as "< 0.001".
P_FLOOR = 0.001

#: Decimals of a value column are chosen so its typical value shows about three
#: significant digits, within these bounds.
MIN_DECIMALS, MAX_DECIMALS = 0, 4

#: The released files' marker for a suppressed cell (:data:`cohort.disclosure.policy.SUPPRESSED`).
RELEASED_MARKER = "[suppressed]"

# "<10" as numbers-at-risk tables show a count below the threshold, and the markers
# earlier versions displayed; all read as the one marker of the report.
_ISO_DATE = re.compile(r"(?<![\d-])\d{4}-\d{2}-\d{2}(?![\d-])")
_SUPPRESSED_TEXT = re.compile(r"^\s*(<\s*\d+|\[suppressed\]|\[onderdrukt\])\s*$")


def _locale(language: str) -> str:
    try:
        return LOCALES[language]
    except KeyError:
        from cohort.exceptions import ParameterError

        raise ParameterError(
            f"report language {language!r} is not supported; use one of {', '.join(LOCALES)}"
        ) from None


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _decimal_text(value: float, decimals: int, language: str) -> str:
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    rounded = round(float(value), decimals)
    if rounded == 0:
        rounded = 0.0  # no "-0,00"
    return format_decimal(rounded, format=pattern, locale=_locale(language))


def _auto_decimals(magnitude: float) -> int:
    """Decimals that show about three significant digits of ``magnitude``.

    >>> [_auto_decimals(m) for m in (1234.5, 12.3, 1.23, 0.123, 0.0123, 0.00012)]
    [0, 1, 2, 3, 4, 4]
    """
    if not math.isfinite(magnitude) or magnitude == 0:
        return 2
    digits = 2 - math.floor(math.log10(abs(magnitude)))
    return int(min(MAX_DECIMALS, max(MIN_DECIMALS, digits)))


def format_date(value, language: str) -> str:
    """A date written out in ``language``.

    Examples
    --------
    >>> format_date(dt.date(2024, 12, 31), "nl"), format_date("2024-12-31", "en")
    ('31 december 2024', '31 December 2024')
    """
    from babel.dates import format_date as babel_date

    if isinstance(value, str):
        value = dt.date.fromisoformat(value.strip()[:10])
    elif isinstance(value, pd.Timestamp | np.datetime64):
        value = pd.Timestamp(value).date()
    elif isinstance(value, dt.datetime):
        value = value.date()
    return babel_date(value, format="d MMMM y", locale=_locale(language))


def format_number(value, role: str, language: str, *, decimals: int | None = None) -> str:
    """One cell as the report writes it.

    Parameters
    ----------
    value : number, date, text or missing
        The cell. ``[suppressed]`` and ``<10`` are suppressed cells.
    role : str
        One of :data:`ROLES`.
    language : {"nl", "en"}
    decimals : int, optional
        Decimals of a ``value`` (default: about three significant digits, see
        :func:`column_decimals`); ignored for the other roles.

    Returns
    -------
    str
        The text; ``""`` for a missing value, :func:`suppression_marker` for a
        suppressed one.

    Examples
    --------
    >>> format_number(1653, "count", "nl"), format_number(1653.0, "count", "en")
    ('1.653', '1,653')
    >>> format_number(0.1204, "share", "en"), format_number(0.05, "p", "nl")
    ('12.0%', '0,050')
    >>> format_number(0, "p", "en"), format_number(0.0004, "p", "nl")
    ('< 0.001', '< 0,001')
    >>> format_number(-0.2335444, "value", "nl"), format_number(108.06, "value", "en")
    ('-0,234', '108')
    >>> format_number(4.3287, "value", "nl", decimals=2)
    '4,33'
    >>> format_number("[suppressed]", "count", "nl"), format_number("<10", "count", "en")
    ('x', '[c]')
    >>> format_number(None, "value", "nl"), format_number(float("nan"), "share", "nl")
    ('', '')
    >>> format_number("2024-12-31", "date", "nl")
    '31 december 2024'
    >>> format_number("2023-01-01 t/m 2024-12-31", "label", "nl")
    '1 januari 2023 t/m 31 december 2024'
    >>> format_number(0.0089, "value", "en", decimals=0)
    '0.0089'
    """
    if role not in ROLES:
        raise ValueError(f"unknown column role {role!r}; roles: {', '.join(ROLES)}")
    if isinstance(value, str) and is_suppressed_text(value):
        return suppression_marker(language)
    if _is_missing(value):
        return ""
    if role == "date":
        return format_date(value, language)
    if role in ("group", "key", "label") or isinstance(value, str | bool | np.bool_):
        # dates inside text ("2023-01-01 to 2024-12-31") are written out as well
        return _ISO_DATE.sub(lambda m: format_date(m.group(0), language), str(value))
    number = float(value)
    if not math.isfinite(number):
        return ""
    if role == "count":
        if number == round(number):
            return _decimal_text(number, 0, language)
        role = "value"  # a mean count or a rounded estimate: shown as a value
    if role == "share":
        from babel.numbers import format_percent

        return format_percent(number, format="#,##0.0%", locale=_locale(language))
    if role == "p":
        if number < P_FLOOR:
            return "< " + _decimal_text(P_FLOOR, 3, language)
        return _decimal_text(min(number, 1.0), 3, language)
    if decimals is None or (number != 0 and round(number, decimals) == 0):
        # a column's decimals never turn a small non-zero value into 0
        decimals = _auto_decimals(abs(number))
    return _decimal_text(number, decimals, language)


def column_decimals(values) -> int:
    """Decimals for a ``value`` column: about three significant digits of its median size.

    One number of decimals per column keeps the column aligned and comparable; it is
    chosen from the median absolute non-zero value (0 to 4 decimals).

    Examples
    --------
    >>> column_decimals([4.33, 1.42, -0.23, 0.17]), column_decimals([108.1, 1.16, 0.75])
    (3, 2)
    >>> column_decimals([0.0241, 0.0519, 0.0854]), column_decimals([1250.0, 980.5])
    (4, 0)
    >>> column_decimals([297.0, 24.0, 16.0])
    0
    """
    numbers = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").astype(float)
    numbers = numbers[np.isfinite(numbers)]
    if not numbers.empty and (numbers == np.round(numbers)).all():
        return 0  # whole numbers (counts in a pivoted table) have no decimals
    numbers = numbers[numbers != 0]
    if numbers.empty:
        return 2
    return _auto_decimals(float(np.median(np.abs(numbers))))


def is_suppressed_text(text: str) -> bool:
    """Whether a cell's text marks a suppressed value (``[suppressed]``, ``<10``, ...).

    >>> is_suppressed_text("[suppressed]"), is_suppressed_text("<10"), is_suppressed_text("10")
    (True, True, False)
    """
    return bool(_SUPPRESSED_TEXT.match(text)) or text in _all_markers()


def _all_markers() -> set[str]:
    from cohort.report.text import _texts

    return set(_texts()["report"]["suppressed_marker"].values())


def suppression_marker(language: str) -> str:
    """The one marker of a suppressed cell in a report in ``language``.

    Dutch reports use CBS's sign for a cell kept secret (``x``), English ones the
    Government Statistical Service's ``[c]`` (confidential).

    >>> suppression_marker("nl"), suppression_marker("en")
    ('x', '[c]')
    """
    from cohort.report.text import report_text

    _locale(language)
    return report_text("report.suppressed_marker", language)


def suppression_footnote(language: str, threshold: int) -> str:
    """The footnote explaining :func:`suppression_marker` under a table that shows it.

    >>> print(suppression_footnote("en", 10))
    [c] = not shown (disclosure control): the cell rests on fewer than 10 households, episodes or rows – zero included – or is withheld so that such a small cell cannot be worked out from other cells or totals.
    """
    from cohort.report.text import report_text

    return report_text(
        "report.suppressed_footnote", language, marker=suppression_marker(language), threshold=threshold
    )


def alignment(role: str) -> str:
    """``"right"`` for numbers (so digits line up), ``"left"`` for text and dates.

    >>> alignment("count"), alignment("label")
    ('right', 'left')
    """
    return "right" if role in ("count", "value", "share", "p") else "left"


# Column names the package's tables use, by role; for tables shown without roles.
_COUNT = re.compile(
    r"^(n|n_.*|numerator|denominator|rows_.*|households|episodes|measures|events|"
    r"previous_n|current_n|threshold|df)$"
)
_SHARE = re.compile(r"^(proportion|share|share_safe|.*_share|cif|survival)$")
_P = re.compile(r"^(p|p_value|pvalue|p-value)$")
_DATE = re.compile(r"^(.*_date|interval_start|interval_end|date)$")
_GROUP = re.compile(r"^(site|wave|respondent|cause|analysis|measure_type|kind|severity|table|quarter)$")
_KEY = re.compile(r"^(term|indicator|rule|step|figure|ci_method|period|baseline)$")


def infer_roles(columns, frame: pd.DataFrame | None = None) -> dict[str, str]:
    """Roles of columns from their names (and, with ``frame``, their types).

    For tables that come without roles: the package's column names say what they hold
    (``n_households`` counts, ``proportion`` is a share, ``p`` a p-value, ``*_date`` a date).
    Anything else is a ``value`` when numeric and a ``label`` otherwise.

    Examples
    --------
    >>> infer_roles(["site", "n_households", "proportion", "ci_lower", "p", "interval_end"])
    {'site': 'group', 'n_households': 'count', 'proportion': 'share', 'ci_lower': 'value', 'p': 'p', 'interval_end': 'date'}
    """
    roles = {}
    for column in columns:
        name = str(column)
        if _COUNT.match(name):
            role = "count"
        elif _SHARE.match(name):
            role = "share"
        elif _P.match(name):
            role = "p"
        elif _DATE.match(name):
            role = "date"
        elif _GROUP.match(name):
            role = "group"
        elif _KEY.match(name):
            role = "key"
        elif frame is not None and not pd.api.types.is_numeric_dtype(frame[column].dtype):
            numeric = pd.to_numeric(frame[column].astype(object).where(lambda s: ~s.isin(["", None])),
                                    errors="coerce")
            texts = frame[column].astype(str)
            marker = texts.map(is_suppressed_text) | texts.eq("")
            role = "value" if numeric.notna().sum() and (numeric.notna() | marker).all() else "label"
        else:
            role = "value"
        roles[column] = role
    return roles


def format_frame(
    frame: pd.DataFrame,
    roles: Mapping[str, str] | None,
    language: str,
    *,
    decimals: Mapping[str, int] | None = None,
    suppressed=None,
    kind_column: str | None = "kind",
) -> pd.DataFrame:
    """Every cell of ``frame`` as text, as the report shows it.

    Parameters
    ----------
    frame : DataFrame
        A released table (or a selection of its columns); not changed.
    roles : mapping of column to role, optional
        Role (:data:`ROLES`) per column; columns not named get :func:`infer_roles`.
    language : {"nl", "en"}
    decimals : mapping of column to int, optional
        Decimals of ``value`` columns (default :func:`column_decimals` per column).
    suppressed : column name, boolean array or Series, optional
        Rows whose empty number cells are suppressed (default: the ``suppressed`` column
        when the frame has one); they show the marker, not an empty cell.
    kind_column : str, optional
        A column saying per row whether the row's ``value`` cells are a ``count``, a
        ``proportion`` (written as a share) or a ``ratio`` (a value), as the monitor's
        tables do; ``None`` to ignore it.

    Returns
    -------
    DataFrame
        Same index and columns, every cell a ``str``.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["AMS", "FLE"], "n_households": [1653, 9],
    ...                   "proportion": [0.1204, pd.NA], "p": [2.2e-26, 0.0421],
    ...                   "suppressed": [False, True]})
    >>> format_frame(t.drop(columns="suppressed"), {"n_households": "count"}, "nl",
    ...              suppressed=t["suppressed"]).to_dict("records")
    [{'site': 'AMS', 'n_households': '1.653', 'proportion': '12,0%', 'p': '< 0,001'}, {'site': 'FLE', 'n_households': '9', 'proportion': 'x', 'p': '0,042'}]
    >>> m = pd.DataFrame({"kind": ["count", "proportion"], "value": [1653, 0.1204]})
    >>> format_frame(m, {"kind": "group", "value": "value"}, "en")["value"].tolist()
    ['1,653', '12.0%']
    """
    roles = {**infer_roles([c for c in frame.columns if c not in (roles or {})], frame), **(roles or {})}
    bad = sorted({r for r in roles.values() if r not in ROLES})
    if bad:
        raise ValueError(f"unknown column role {bad[0]!r}; roles: {', '.join(ROLES)}")
    if isinstance(suppressed, str):
        flags = frame[suppressed]
    elif suppressed is None and "suppressed" in frame.columns:
        flags = frame["suppressed"]
    else:
        flags = suppressed
    if flags is None:
        flags = np.zeros(len(frame), dtype=bool)
    flags = pd.Series(np.asarray(flags, dtype=object), index=frame.index).map(
        lambda v: str(v).strip().lower() in ("true", "1") if isinstance(v, str) else bool(v) if not _is_missing(v) else False
    )
    kinds = None
    if kind_column and kind_column in frame.columns:
        kinds = frame[kind_column].astype(object).map(lambda v: None if _is_missing(v) else str(v))
    marker = suppression_marker(language)
    out = {}
    for column in frame.columns:
        role = roles[column]
        cells = frame[column].astype(object)
        places = (decimals or {}).get(column)
        if role == "value" and places is None:
            places = column_decimals(cells.map(lambda v: np.nan if isinstance(v, str) else v))
        texts = []
        for index, value in cells.items():
            cell_role = role
            if role == "value" and kinds is not None:
                cell_role = {"count": "count", "proportion": "share"}.get(kinds[index], "value")
            text = format_number(value, cell_role, language, decimals=places)
            if text == "" and flags[index] and role in ("count", "value", "share", "p"):
                text = marker
            texts.append(text)
        out[column] = pd.Series(texts, index=frame.index, dtype=object)
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


# --------------------------------------------------------------------------------------
# Model terms
# --------------------------------------------------------------------------------------

_LEVEL = re.compile(r"^(?:C\()?(?P<var>[A-Za-z_][A-Za-z0-9_]*)\)?\[T\.(?P<level>[^\]]+)\]$")
_VARIANCE = re.compile(r"^(?P<kind>sd|var)\((?P<term>[^|()]+?)\s*(?:\|\s*(?P<group>[^)]+))?\)$")
_CORR = re.compile(r"^corr\((?P<a>[^,|()]+),\s*(?P<b>[^|()]+?)\s*\|\s*(?P<group>[^)]+)\)$")


def term_label(term: str, language: str) -> str:
    """A model term as a reader understands it, in ``language``.

    Covariates take their label from the report text (``values.term``); a contrast
    ``site[T.FLE]`` names the level; variance components of a mixed model say what
    varies between which units. A term the report text does not know stays as it is.

    Examples
    --------
    >>> term_label("site[T.FLE]", "nl"), term_label("site[T.FLE]", "en")
    ('proeftuin FLE', 'site FLE')
    >>> term_label("sd(Intercept | household)", "nl")
    'SD van het intercept tussen huishoudens'
    >>> term_label("sd(years_since_registration | household)", "en")
    'SD of the slope (years since registration) between households'
    >>> term_label("corr(Intercept, years_since_registration | household)", "nl")
    'correlatie van intercept en helling (jaren sinds aanmelding) tussen huishoudens'
    >>> term_label("sd(residual)", "nl"), term_label("prior_reports", "en")
    ('SD van het residu (binnen huishoudens)', 'prior reports')
    >>> term_label("severitylow", "nl"), term_label("unknown_term", "nl")
    ('ernst: laag', 'unknown_term')
    """
    from cohort.report.text import report_text, value_labels

    terms = value_labels("term", language)
    if term in terms:
        return terms[term]
    match = _LEVEL.match(term)
    if match:
        var, level = match["var"], match["level"]
        label = value_labels("column_terms", language).get(var) or var.replace("_", " ")
        level_label = value_labels(var, language).get(level, level)
        return f"{label} {level_label}" if var == "site" else f"{label}: {level_label}"
    match = _VARIANCE.match(term)
    if match:
        inner = match["term"].strip()
        group = (match["group"] or "").strip()
        if not group:
            return report_text("terms.residual_sd", language)
        return report_text(
            "terms.variance_sd" if match["kind"] == "sd" else "terms.variance_var",
            language,
            what=_component(inner, language),
            group=_group_plural(group, language),
        )
    match = _CORR.match(term)
    if match:
        return report_text(
            "terms.correlation",
            language,
            a=_component(match["a"].strip(), language, article=False),
            b=_component(match["b"].strip(), language, article=False),
            group=_group_plural(match["group"].strip(), language),
        )
    return term


def _component(name: str, language: str, *, article: bool = True) -> str:
    """``Intercept`` -> "het intercept"; a covariate -> "de helling (its label)"."""
    from cohort.report.text import report_text, value_labels

    if name.lower() == "intercept":
        return report_text("terms.intercept" if article else "terms.intercept_bare", language)
    label = value_labels("term", language).get(name) or name.replace("_", " ")
    return report_text("terms.slope" if article else "terms.slope_bare", language, label=label)


def _group_plural(name: str, language: str) -> str:
    from cohort.report.text import value_labels

    return value_labels("groups", language).get(name) or name.replace("_", " ")
