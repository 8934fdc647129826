"""The identifier guard: refuse any delivery that still carries direct identifiers.

Pseudonymised data must not contain BSNs, names, e-mail addresses, phone numbers, full
postcodes, street addresses or exact birth dates. :func:`scan_frame` looks for them in
every column of a table, whatever the column is called; :func:`check_raw_delivery`
raises :class:`~cohort.exceptions.IdentifierError` naming the file, the column, the rule
and the first row, and **never the value**.

Rules
-----
``bsn``
    a nine-digit number (optionally written ``1234.56.782``) passing the elfproef, as a
    whole value or as a word in text, in any column; also any non-empty column named like
    a BSN (``bsn``, ``sofinummer``, ``burgerservicenummer``).
``email``
    an e-mail address in any column, or a non-empty column named like one.
``phone``
    a Dutch phone number (``06-12345678``, ``+31 20 123 4567``, ``0031...``) or an
    international number with a ``+`` country code, in any column; or a non-empty column
    named like one.
``postcode``
    a full postcode, four digits and two capital letters (``1234 AB`` or ``1234AB``);
    the four-digit area (``1234``) alone is allowed.
``address``
    a street and house number (``Dorpsstraat 12a``) in any column, or a non-empty column
    named like an address.
``name``
    a non-empty column named like a person's name (``naam``, ``voornaam``, ``surname``,
    ...) other than the data model's ``sites.name``; or a form of address followed by a
    name (``dhr. Jansen``, ``mevr. De Vries``) in any column.
``birth_date``
    a column named like a birth date (``geboortedatum``, ``date_of_birth``, ``dob``) that
    holds exact dates (a year or month alone is allowed).

Matching is whole-column: each column is searched with one RE2 regular expression that
combines all content rules (through pandas' pyarrow string methods), and only the few
candidates are examined rule by rule, so the guard runs at about the speed of a file read.

Examples
--------
>>> is_bsn(pd.Series(["111222333", "123456789", "1112.22.333", "SYN-111222333"])).tolist()
[True, False, True, False]
>>> df = pd.DataFrame({"household_id": ["SYN-1", "SYN-2"], "note": ["", "bel 06-12345678"]})
>>> scan_frame(df, table="households", file="households.csv")[["column", "rule", "n_values", "first_row"]]
  column   rule  n_values  first_row
0   note  phone         1          3
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cohort.exceptions import IdentifierError

_B = r"(?:^|[^0-9A-Za-z_\-])"  # a word boundary that treats SYN-123 as one word
_E = r"(?:$|[^0-9A-Za-z_])"

#: Content rules: name -> RE2-compatible pattern (no look-arounds: they run in pyarrow).
CONTENT_PATTERNS: dict[str, str] = {
    "bsn": _B + r"(?:\d{9}|\d{4}\.\d{2}\.\d{3})(?:$|[^0-9A-Za-z_\-])",
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
    "phone": _B
    + r"(?:(?:\+31|0031)[ \-]?(?:\(0\))?[ \-]?[1-9](?:[ \-]?\d){8}"
    + r"|0[1-9](?:[ \-]?\d){8}"
    + r"|\+[1-9]\d{0,2}(?:[ \-]?\d){8,12})"
    + r"(?:$|[^0-9])",
    "postcode": r"(?:^|[^0-9A-Za-z])[1-9]\d{3} ?[A-Z]{2}(?:$|[^0-9A-Za-z])",
    "address": r"[A-Z][a-zà-ÿ]+(?:straat|laan|weg|plein|gracht|kade|singel|dijk|dreef|steeg"
    r"|hof|markt|pad|park|plantsoen|boulevard|allee|Street|Road|Avenue) \d{1,4}"
    r"(?:[ \-]?[A-Za-z])?(?:$|[^0-9A-Za-z])",
    "name": r"(?:^|[^A-Za-z])(?:[Dd]hr|[Mm]evr|[Mm]w|[Mm]evrouw|[Mm]eneer|[Hh]eer|[Mm]rs?|[Mm]s)"
    r"\.? (?:[a-z]{1,3} )?[A-Z][a-z]+",
}

#: Column-name rules: name -> pattern on the normalised column name (lower case, ``_``).
NAME_PATTERNS: dict[str, str] = {
    "bsn": r"(^|_)(bsn|sofi|sofinummer|sofi_nummer|burgerservicenummer|citizen_service_number)($|_)",
    "email": r"(^|_)(e_?mail|email_?adres|mailadres)($|_)",
    "phone": r"(^|_)(telefoon|telefoonnummer|tel|telnr|phone|phone_number|mobiel|mobile|gsm)($|_)",
    "address": r"(^|_)(adres|address|straat|straatnaam|street|huisnummer|house_number)($|_)",
    "name": r"(^|_)(naam|name|voornaam|achternaam|roepnaam|voorletters|initialen|surname"
    r"|firstname|first_name|lastname|last_name|given_name|family_name|full_name|tussenvoegsel"
    r"|meisjesnaam|geboortenaam)($|_)",
    "birth_date": r"(^|_)(geboortedatum|geb_datum|gebdatum|birth_date|birthdate|date_of_birth"
    r"|dob|birthday|geboren)($|_)",
}

DESCRIPTIONS = {
    "bsn": "BSNs (nine digits passing the elfproef)",
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "postcode": "full postcodes (four digits and two letters)",
    "address": "street addresses",
    "name": "personal names",
    "birth_date": "exact birth dates",
}

#: Columns of the data model whose *name* matches a rule but which are allowed by design.
ALLOWED_BY_NAME = {("sites", "name")}

_EXACT_DATE = r"\d{4}-\d{2}-\d{2}.*|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}.*"
_COMBINED = "|".join(f"(?:{p})" for p in CONTENT_PATTERNS.values())
_TEXT = pd.StringDtype("pyarrow")


def is_bsn(values: pd.Series) -> np.ndarray:
    """Return, per value, whether it is a BSN: nine digits passing the elfproef.

    Dots, spaces and dashes between the digits are ignored (``1234.56.782``); the sum
    ``9*d1 + 8*d2 + ... + 2*d8 - d9`` must be divisible by 11 and the number not zero.

    Examples
    --------
    >>> is_bsn(pd.Series(["123456782", "123456789", "000000000", "12345678"])).tolist()
    [True, False, False, False]
    """
    text = _text(values).str.replace(r"[ .\-]", "", regex=True)
    ok = text.str.fullmatch(r"\d{9}").fillna(False).to_numpy(dtype=bool)
    out = np.zeros(len(text), dtype=bool)
    if ok.any():
        joined = "".join(text[ok].astype(str).tolist()).encode("ascii")
        digits = np.frombuffer(joined, dtype=np.uint8).reshape(-1, 9).astype(np.int64) - 48
        weights = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1], dtype=np.int64)
        total = digits @ weights
        out[ok] = (total % 11 == 0) & (digits.sum(axis=1) > 0)
    return out


def _text(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.StringDtype):
        out = values.astype(_TEXT)
    elif pd.api.types.is_float_dtype(values.dtype):
        # a number stored as a float (Parquet, Excel) is searched as its integer digits
        v = values.astype("Float64")
        whole = v.notna() & (v == v.round())
        out = v.astype(object).where(~whole, v.round().astype("Int64").astype(object))
        out = out.where(v.notna(), "").astype(str).astype(_TEXT)
    else:
        out = values.astype(object).where(values.notna(), "").astype(str).astype(_TEXT)
    return out.fillna("")


def _bsn_words(values: pd.Series) -> np.ndarray:
    """Whether a text holds a word that is a BSN (candidates only; few values)."""
    found = np.zeros(len(values), dtype=bool)
    words = values.astype(object).str.extractall(
        r"(?:^|[^0-9A-Za-z_\-])(\d{9}|\d{4}\.\d{2}\.\d{3})(?=$|[^0-9A-Za-z_\-])"
    )
    if len(words):
        hit = is_bsn(words[0].astype("string"))
        rows = words.index.get_level_values(0)[hit]
        found[np.asarray(rows, dtype=int)] = True
    return found


def _content_rules(unique: pd.Series) -> dict[str, np.ndarray]:
    """For distinct values, which content rules they break (bool arrays over ``unique``)."""
    cand = unique.str.contains(_COMBINED, regex=True).fillna(False).to_numpy(dtype=bool)
    out = {}
    if not cand.any():
        return out
    sub = unique[cand].reset_index(drop=True)
    for rule, pattern in CONTENT_PATTERNS.items():
        hit = sub.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)
        if rule == "bsn" and hit.any():
            ok = np.zeros(len(sub), dtype=bool)
            ok[hit] = _bsn_words(sub[hit].reset_index(drop=True))
            hit = ok
        if hit.any():
            full = np.zeros(len(unique), dtype=bool)
            full[np.flatnonzero(cand)[hit]] = True
            out[rule] = full
    return out


def scan_frame(
    frame: pd.DataFrame,
    *,
    table: str = "",
    file: str = "",
    row_numbers: np.ndarray | None = None,
) -> pd.DataFrame:
    """Find direct identifiers in a table; return one finding per column and rule.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table, as text or typed.
    table, file : str
        Names used in the findings (``table`` also decides which data-model columns are
        allowed by name, such as ``sites.name``).
    row_numbers : numpy.ndarray, optional
        Row number in the file of each row (default: ``2, 3, ...``, as in a CSV file).

    Returns
    -------
    pandas.DataFrame
        ``file, table, column, rule, n_values, first_row``: how many rows break the rule
        and the first of them. The values themselves are never returned.
    """
    if row_numbers is None:
        row_numbers = np.arange(2, len(frame) + 2)
    findings = []
    for column in frame.columns:
        s = frame[column]
        name = re.sub(r"\s+", "_", str(column).strip().lower())
        by_name = [
            rule
            for rule, pattern in NAME_PATTERNS.items()
            if re.search(pattern, name) and (table, name) not in ALLOWED_BY_NAME
        ]
        for rule in by_name:
            if rule == "birth_date":
                if pd.api.types.is_datetime64_any_dtype(s.dtype):
                    mask = s.notna().to_numpy()
                else:
                    mask = _text(s).str.fullmatch(_EXACT_DATE).fillna(False).to_numpy(dtype=bool)
            else:
                mask = (_text(s).str.strip() != "").fillna(False).to_numpy(dtype=bool)
            if mask.any():
                findings.append((column, rule, mask))
        if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            continue  # dates and yes/no values hold no identifiers by content
        # one RE2 pass over the column finds the few candidates; rules are told apart on those
        text = _text(s)
        cand = np.flatnonzero(
            text.str.contains(_COMBINED, regex=True).fillna(False).to_numpy(dtype=bool)
        )
        if not len(cand):
            continue
        for rule, hit in _content_rules(text.iloc[cand].reset_index(drop=True)).items():
            if rule in by_name:
                continue
            mask = np.zeros(len(text), dtype=bool)
            mask[cand[hit]] = True
            findings.append((column, rule, mask))
    rows = []
    for column, rule, mask in findings:
        pos = np.flatnonzero(mask)
        rows.append(
            {
                "file": file,
                "table": table,
                "column": str(column),
                "rule": rule,
                "n_values": int(len(pos)),
                "first_row": int(row_numbers[pos[0]]),
            }
        )
    columns = ["file", "table", "column", "rule", "n_values", "first_row"]
    return pd.DataFrame(rows, columns=columns)


def findings_message(findings: pd.DataFrame, delivery: str = "the delivery") -> str:
    """The refusal message: one clause per column and rule, never a value."""
    parts = [
        f"{f.file} column {f.column}: {f.n_values} value(s) look like "
        f"{DESCRIPTIONS[f.rule]}, first in row {f.first_row} (rule: {f.rule})"
        for f in findings.itertuples()
    ]
    return (
        f"{delivery} is refused because it carries direct identifiers: "
        + "; ".join(parts)
        + ". Remove these columns, or replace them with pseudonyms using 'cohort pseudonymise', "
        "and deliver again. The values are not shown."
    )


def scan_raw_delivery(raw) -> pd.DataFrame:
    """Scan every table of a :class:`cohort.delivery.read.RawDelivery`; return all findings."""
    parts = [
        scan_frame(t.frame, table=t.name, file=t.file, row_numbers=t.row_numbers)
        for t in raw.tables.values()
    ]
    # rows with the wrong number of fields are checked too: nothing escapes the guard
    for t in raw.tables.values():
        if len(t.bad_rows):
            lines = pd.DataFrame({"row_text": t.bad_rows["text"].astype(str)})
            found = scan_frame(
                lines, table=t.name, file=t.file, row_numbers=t.bad_rows["row"].to_numpy()
            )
            found["column"] = "(row with wrong field count)"
            parts.append(found)
    return pd.concat(parts, ignore_index=True)


def check_raw_delivery(raw) -> None:
    """Raise :class:`IdentifierError` if any table of the delivery carries identifiers."""
    findings = scan_raw_delivery(raw)
    if len(findings):
        error = IdentifierError(findings_message(findings, f"delivery {raw.name}"))
        error.findings = findings
        raise error


def check_frame(frame: pd.DataFrame, *, table: str = "", file: str = "") -> None:
    """Raise :class:`IdentifierError` if one table carries direct identifiers.

    Examples
    --------
    >>> check_frame(pd.DataFrame({"x": ["mail: a.b@example.org"]}), file="t.csv")
    Traceback (most recent call last):
    ...
    cohort.exceptions.IdentifierError: t.csv is refused because it carries direct identifiers: t.csv column x: 1 value(s) look like e-mail addresses, first in row 2 (rule: email). Remove these columns, or replace them with pseudonyms using 'cohort pseudonymise', and deliver again. The values are not shown.
    """
    findings = scan_frame(frame, table=table, file=file)
    if len(findings):
        error = IdentifierError(findings_message(findings, file or table or "the table"))
        error.findings = findings
        raise error


__all__ = [
    "CONTENT_PATTERNS",
    "NAME_PATTERNS",
    "check_frame",
    "check_raw_delivery",
    "is_bsn",
    "scan_frame",
    "scan_raw_delivery",
]
