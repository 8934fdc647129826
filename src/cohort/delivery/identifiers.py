"""The identifier guard: refuse any delivery that still carries direct identifiers.

Pseudonymised data must not contain BSNs, bank account numbers, names, e-mail addresses,
phone numbers, full postcodes, street addresses or exact birth dates, in its values **or in
its column headers**, nor free text the data model does not expect. :func:`scan_frame`
looks for them in every column of a table, whatever the column is called;
:func:`check_raw_delivery` raises :class:`~cohort.exceptions.IdentifierError` naming the
file, the column, the rule and the first row, and **never the value**. A column whose
header itself looks like an identifier is named by its position only.

Rules
-----
``bsn``
    nine digits passing the elfproef, written plain (``111222333``) or grouped with dots,
    spaces or hyphens (``111.222.333``, ``111 222 333``, ``111-222-333``,
    ``1112.22.333``); also eight plain digits whose zero-padded value passes (a
    spreadsheet dropped the leading zero of ``011122233x``), unless the eight digits are a
    calendar date (``20230305``). As a whole value or a word in text, in any column; and
    any non-empty column named like a BSN (``bsn``, ``sofinummer``, ...).
``iban``
    a bank account number: country code (in capitals; ``nl`` also in lower case), two
    check digits and the account, with or without spaces, of the length the country uses
    and passing the ISO 13616 checksum (mod 97); any non-empty column named like one.
``email``
    an e-mail address, also written ``jan [at] example [dot] nl``, ``jan(at)example.nl``
    or ``jan at example dot nl``; any non-empty column named like one.
``phone``
    a Dutch phone number in any usual notation (``06-12345678``, ``06 1234 5678``,
    ``(020) 123 4567``, ``020-1234567``, ``+31 (0)20 123 4567``, ``0031 6 12345678``)
    or an international number with a ``+`` country code; any non-empty column named
    like one.
``postcode``
    a full postcode, four digits and two letters, with or without a space and in any
    case (``1234 AB``, ``1234ab``, ``1234 ab``); the four-digit area (``1234``) alone is
    allowed, as is ordinary text such as ``2023 en 2024``.
``address``
    a street and house number (``Dorpsstraat 12a``) in any column, or a non-empty column
    named like an address.
``name``
    a person's name in text: a form of address with a name (``dhr. Jansen``,
    ``mevr. de Vries``, ``gezin Jansen``), a common first name followed by a surname
    (``Jan de Vries``, ``Fatima El Amrani``), or initials with a surname
    (``J.P. Jansen``, ``J. van der Berg``); any non-empty column named like a name
    (``naam``, ``voornaam``, ``surname``, ...; not the data model's ``sites.name``); any
    column named like a person (``moeder``, ``vader``, ``kind``, ``child``, ``ouder_2``,
    ...) that holds text rather than numbers or yes/no values.
``birth_date``
    an exact date after a birth keyword (``geboren 04-03-2012``, ``geb. 2012/03/04``,
    ``born 4 March 2012``); in a column named like a birth date (``geboortedatum``,
    ``geb_datum``, ``child_born``, ``date_of_birth``, ``dob``, ...) any value that gives
    more than a year or a year and month (``2012-03-04``, ``20120304``, ``04-03-2012``,
    ``4 maart 2012``).
``undeclared_text``
    (:func:`scan_raw_delivery` only) text in a column the data model does not name and
    the delivery did not declare in ``columns.yaml``: free text may hold anything, so a
    pseudonymised delivery may carry it only where it says so. Numbers, yes/no values and
    empty cells in such columns are fine.

Headers are searched with the content rules (a header that is a BSN, an e-mail address, a
phone number, a name, ...); file names that are not tables are shown only if they pass the
same rules (:func:`is_safe_label`).

Matching is whole-column: each column is searched with one RE2 regular expression that
combines all content rules (pyarrow's compute functions), and only the few candidates are
examined rule by rule (checksums, dates, word lists), so the guard runs at about the speed
of a file read.

What the guard cannot see: a surname alone (``Jansen``), a first name that is not in
:data:`FIRST_NAMES`, names written in lower case, identifiers spelled out in words. A
delivery is pseudonymised at the site; the guard is the last line of defence, not the
first.

Examples
--------
>>> is_bsn(pd.Series(["111222333", "123456789", "111.222.333", "SYN-111222333"])).tolist()
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
import pyarrow as pa
import pyarrow.compute as pc

from cohort.exceptions import IdentifierError

# --------------------------------------------------------------------------------------
# word lists

#: Common first names in the Netherlands (Dutch, Frisian, and the larger communities of
#: Turkish, Moroccan, Surinamese, Antillean, Polish, Syrian and Eritrean origin). A name
#: in free text is found as one of these followed by a surname.
FIRST_NAMES = tuple(
    """
    Aaliyah Aart Abdel Abdelkader Abdellah Abdullah Abdul Abel Abraham Adam Adriaan Adrianus
    Ahmad Ahmed Aicha Aisha Ali Alexander Alexandra Alice Amber Amina Amira Amy Anna Anne
    Anneke Annemarie Annet Anouk Anton Antonius Arie Arjen Arjan Aron Astrid Ayoub Ayse Aya
    Bart Bas Bastiaan Bayu Bea Berend Bernard Bert Bilal Bram Brenda Britt Carla Carlos
    Caroline Cas Casper Catharina Celine Charlotte Chloe Chloë Christiaan Cindy Claudia
    Cor Cornelis Cornelia Daan Damian Daniel Daniëlle Danielle David Dennis Dewi Diana Dick
    Dirk Dominique Dylan Edwin Eline Elif Elisabeth Ellen Emma Emine Emre Erik Esther Eva
    Evi Ewa Fatima Fatma Femke Finn Fleur Floor Frank Frans Freek Gerard Gerrit Gijs
    Hamza Hanna Hannah Hans Harm Hasan Hassan Hatice Hein Hendrik Henk Henny Hugo Ibrahim
    Ilse Imane Ingrid Inge Iris Isa Isabel Isabella Ivo Jaap Jacob Jacobus Jamal Jan Jana
    Janneke Jannes Jasper Jayden Jelle Jeroen Jesse Joep Johan Johanna Johannes John
    Joost Jordy Jorrit Joris Josephine Julia Julian Juliette Karim Karin Kees Kevin Khadija
    Klaas Koen Kofi Lara Lars Laura Lauren Leon Levi Lieke Linda Lisa Lisanne Liam Lotte
    Luca Lucas Lucia Luuk Maarten Maria Marieke Mariam Marloes Marco Mark Marleen Martijn
    Martin Maryam Mateusz Mathijs Max Maximiliaan Mehmet Melissa Michael Michel Mila Milan
    Mirjam Mohamed Mohammed Mohammad Monique Mustafa Naima Nadia Natasha Nina Niels Noah
    Noor Nora Nour Olivia Omar Oscar Pascal Patrick Paul Peter Petra Piet Pieter Piotr Rachid
    Rafael Ramon Rashid Rayan Rens Rik Rob Robert Robin Roel Roos Rosa Ruben Rutger Ryan
    Said Saar Sam Samira Sander Sanne Sara Sarah Sem Senna Siem Sien Simon Sofie Sophie
    Stefan Stijn Suzanne Sven Thijs Thomas Tim Tom Tomasz Tess Teun Thijmen Tygo Vera
    Wendy Willem Wilhelmina Wim Wouter Yara Yasmina Yasmine Youssef Yusuf Zahra Zainab
    Zeynep Zoë Zoe
    """.split()
)

#: Words between a first name and a surname: Dutch tussenvoegsels and their neighbours.
PARTICLES = (
    "van", "de", "der", "den", "het", "'t", "ten", "ter", "te", "op", "in", "uit", "aan",
    "bij", "voor", "la", "le", "du", "da", "di", "del", "dos", "das", "el", "al", "bin",
    "ben", "ibn", "von", "zu", "vd", "v.d.", "v/d", "De", "Van", "El", "Al",
)

#: Two-letter words that may follow a four-digit number in ordinary text ("2023 en 2024",
#: "1500 km"): with a space and in lower case they are not read as a postcode.
POSTCODE_STOPWORDS = frozenset(
    """
    aa al an as at be bv by cm co de do dr en er et ex ga gr he hr ik in is it je ka kg km
    la le ll ma me mg ml mm mr ms mw my na nl no nr nu of ok om on op or os pp pt re so st
    te to tv uk um up us vs wa we wo ze zo
    """.split()
)

_MONTHS = (
    r"(?:jan(?:uari|uary)?|feb(?:ruari|ruary)?|m(?:aa)?rt|march|mar|apr(?:il)?|mei|may"
    r"|jun[ie]?|jul[iy]?|aug(?:ustus|ust)?|sep(?:t(?:ember)?)?|o[ck]t(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)"
)

#: An exact date in any common notation (day, month and year).
EXACT_DATE = (
    r"(?:\d{1,2}[-/. ]\d{1,2}[-/. ](?:\d{4}|\d{2})"
    r"|\d{4}[-/. ]\d{1,2}[-/. ]\d{1,2}"
    r"|\d{8}"
    r"|\d{1,2}(?:e|st|nd|rd|th)? ?(?i:" + _MONTHS + r")\.? ?(?:\d{4}|'?\d{2})"
    r"|(?i:" + _MONTHS + r")\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4})"
)

#: Values a birth-date column may hold: nothing that gives the day.
_COARSE_BIRTH = (
    r"\s*(?:\d{1,3}|\d{4}|\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{4}|(?i:" + _MONTHS + r")\.? \d{4}"
    r"|[^0-9]*)\s*"
)

# --------------------------------------------------------------------------------------
# content rules

_B = r"(?:^|[^0-9A-Za-z_\-])"  # a word boundary that treats SYN-123 as one word
_E = r"(?:$|[^0-9A-Za-z_\-])"
_NB = r"(?:^|[^0-9A-Za-z])"
_NE = r"(?:$|[^0-9A-Za-z])"

_BSN_WORD = r"\d{9}|\d{8}|\d{3}[ .\-]\d{3}[ .\-]\d{3}|\d{4}[ .]\d{2}[ .]\d{3}|\d{2}\.\d{3}\.\d{3}"

_PHONE = (
    r"(?:0[1-9](?:[ \-.]?\d){8}"
    r"|\(0\d\)[ \-]?\d(?:[ \-.]?\d){7}"
    r"|\(0\d{2}\)[ \-]?\d(?:[ \-.]?\d){6}"
    r"|\(0\d{3}\)[ \-]?\d(?:[ \-.]?\d){5}"
    r"|(?:\+|00) ?31[ \-]?(?:\(0\)[ \-]?)?[1-9](?:[ \-.]?\d){8}"
    r"|\+[1-9]\d{0,2}(?:[ \-.]?\d){8,12})"
)

_AT = r"(?:\s*@\s*|\s*[\[({<]\s*(?i:at|apenstaartje)\s*[\])}>]\s*|\s+(?i:at)\s+)"
_DOT = r"(?:\.|\s*[\[({<]\s*(?i:dot|punt)\s*[\])}>]\s*|\s+(?i:dot|punt)\s+)"

# Letters as explicit ranges (Latin-1 and Latin Extended-A, which covers Dutch, Turkish and
# Polish names): RE2 builds a far smaller automaton from these than from Unicode classes,
# which keeps the combined pattern fast.
_UP = "A-ZÀ-ÖØ-ÞĀ-ž"
_LO = "a-zß-öø-ÿĀ-ž"
_NOT_LETTER = f"[^{_UP}{_LO}]"
_NAME_WORD = f"[{_UP}][{_LO}'’]+(?:-[{_UP}][{_LO}'’]+)?"
_PARTICLE_RE = "|".join(re.escape(p) for p in PARTICLES)
_PARTICLES_OPT = r"(?:(?:" + _PARTICLE_RE + r")\s+)*"
_FIRST_RE = "|".join(FIRST_NAMES)
_FORMS = (
    r"(?:[Dd]hr|[Mm]evr|[Mm]w|[Mm]evrouw|[Mm]eneer|[Hh]eer|[Mm]rs?|[Mm]s|[Mm]iss|[Ff]amilie"
    r"|[Ff]am|[Gg]ezin|[Jj]uf|[Mm]eester)"
)

#: Content rules: name -> RE2 pattern (no look-arounds: they run in pyarrow). Candidates
#: of ``bsn``, ``iban``, ``phone`` and ``postcode`` are checked further (checksums, dates,
#: word lists) by :func:`_confirm`.
CONTENT_PATTERNS: dict[str, str] = {
    "bsn": _B + r"(?:" + _BSN_WORD + r")" + _E,
    "iban": _NB + r"(?:[A-Z]{2}|nl|Nl)\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?" + _NE,
    "email": r"[A-Za-z0-9._%+\-]+" + _AT + r"[A-Za-z0-9\-]+(?:" + _DOT + r"[A-Za-z0-9\-]+)*"
    + _DOT + r"[A-Za-z]{2,}",
    "phone": r"(?:^|[^0-9A-Za-z_\-+])" + _PHONE + _NE,
    "postcode": _NB + r"[1-9]\d{3} ?[A-Za-z]{2}" + _NE,
    "address": f"[{_UP}][{_LO}]+" r"(?:straat|laan|weg|plein|gracht|kade|singel|dijk|dreef|steeg"
    r"|hof|markt|pad|park|plantsoen|boulevard|allee|Street|Road|Avenue) \d{1,4}"
    r"(?:[ \-]?[A-Za-z])?" + _NE,
    "name": f"(?:^|{_NOT_LETTER})(?:"
    + _FORMS + r"\.? " + _PARTICLES_OPT + f"(?:[{_UP}]\\.\\s?)*" + _NAME_WORD
    + r"|(?:" + _FIRST_RE + r")\s+" + _PARTICLES_OPT + _NAME_WORD
    + f"|[{_UP}]\\.\\s?(?:[{_UP}]\\.\\s?)+" + _PARTICLES_OPT + _NAME_WORD
    + f"|[{_UP}]\\.\\s?(?:" + _PARTICLE_RE + r")\s+" + _PARTICLES_OPT + _NAME_WORD
    + f")(?:$|{_NOT_LETTER})",
    "birth_date": r"(?i:geboren|geb\.|geb:|geb |geboortedatum|geb\.datum|gebdatum|born|birth ?date"
    r"|date of birth|d\.o\.b\.?|dob)[\s:=]*(?i:op |on )?" + EXACT_DATE,
}

#: Column-name rules: name -> pattern on the normalised column name (lower case, ``_``).
NAME_PATTERNS: dict[str, str] = {
    "bsn": r"(^|_)(bsn|sofi|sofinummer|sofi_nummer|burgerservicenummer|burger_service_nummer"
    r"|citizen_service_number)($|_)",
    "iban": r"(^|_)(iban|rekeningnummer|rekening_nummer|bankrekening|bankrekeningnummer"
    r"|bank_account|account_number)($|_)",
    "email": r"(^|_)(e_?mail|email_?adres|mailadres|e-mail)($|_)",
    "phone": r"(^|_)(telefoon|telefoonnummer|tel|telnr|phone|phone_number|mobiel|mobile|gsm)($|_)",
    "address": r"(^|_)(adres|address|straat|straatnaam|street|huisnummer|house_number)($|_)",
    "name": r"(^|_)(naam|name|voornaam|achternaam|roepnaam|voorletters|initialen|surname"
    r"|firstname|first_name|lastname|last_name|given_name|family_name|full_name|tussenvoegsel"
    r"|meisjesnaam|geboortenaam)($|_)",
    "birth_date": r"(^|_)(geb|gebdat|gebdatum|geb_dat|geb_datum|geboren|geboren_op|born|born_on"
    r"|dob|verjaardag|birthday)($|_)|geboorte|birth",
}

#: Column names that stand for a person (the whole name, optionally numbered: ``kind``,
#: ``kind_2``, ``moeder``, ``child1``). Such a column may hold numbers or yes/no values,
#: never text: text there is a name.
PERSON_COLUMNS = (
    r"^(moeder|vader|ouder|kind|kinderen|child|mother|father|parent|partner|client|clint"
    r"|cliënt|jeugdige|jongere|pleegouder|pleegkind|stiefvader|stiefmoeder|voogd|guardian"
    r"|verzorger|caregiver|grootouder|oma|opa|broer|zus|sibling|dader|pleger|slachtoffer"
    r"|victim|perpetrator|contactpersoon|contact_person|gezinslid)(_?\d+)?$"
)

DESCRIPTIONS = {
    "bsn": "BSNs (nine digits passing the elfproef)",
    "iban": "bank account numbers (IBAN)",
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "postcode": "full postcodes (four digits and two letters)",
    "address": "street addresses",
    "name": "personal names",
    "birth_date": "exact birth dates",
    "undeclared_text": "free text in a column the data model does not name (declare it in "
    "columns.yaml or remove it)",
}

#: The columns of a findings table (:func:`scan_frame`): where, which rule, how many, and
#: whether the header itself is the finding. Never a value.
FINDING_COLUMNS = ["file", "table", "column", "rule", "n_values", "first_row", "in_header"]

#: Columns of the data model whose *name* matches a rule but which are allowed by design.
ALLOWED_BY_NAME = {("sites", "name")}

_COMBINED = "|".join(f"(?:{p})" for p in CONTENT_PATTERNS.values())
_TEXT = pd.StringDtype("pyarrow")
_NUMBER = r"\s*[+-]?(\d+[.,]?\d*|[.,]\d+)([eE][+-]?\d+)?\s*"
_YES_NO = (
    r"\s*(?i:true|false|yes|no|ja|nee|j|n|y|t|f|waar|onwaar|1|0)\s*"
)

#: ISO 13616 IBAN length per country (the IBAN registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


# --------------------------------------------------------------------------------------
# checks on candidate words (few values: the combined pattern found them)


def is_bsn(values: pd.Series) -> np.ndarray:
    """Return, per value, whether it is a BSN: nine digits passing the elfproef.

    Dots, spaces and hyphens between the digits are ignored (``111.222.333``); eight
    digits are read with the leading zero a spreadsheet drops (``12345672`` is
    ``012345672``). The sum ``9*d1 + 8*d2 + ... + 2*d8 - d9`` must be divisible by 11 and
    the number not zero.

    Examples
    --------
    >>> is_bsn(pd.Series(["123456782", "123456789", "000000000", "1234567"])).tolist()
    [True, False, False, False]
    >>> is_bsn(pd.Series(["12345672", "012345672", "012-345-672", "12345673"])).tolist()
    [True, True, True, False]
    """
    text = _text(values).str.replace(r"[ .\-]", "", regex=True)
    eight = text.str.fullmatch(r"\d{8}").fillna(False).to_numpy(dtype=bool)
    text = text.where(~eight, "0" + text)
    ok = text.str.fullmatch(r"\d{9}").fillna(False).to_numpy(dtype=bool)
    out = np.zeros(len(text), dtype=bool)
    if ok.any():
        digits = _digit_matrix(text[ok], 9)
        weights = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1], dtype=np.int64)
        total = digits @ weights
        out[ok] = (total % 11 == 0) & (digits.sum(axis=1) > 0)
    return out


def _digit_matrix(text: pd.Series, width: int) -> np.ndarray:
    joined = "".join(text.astype(str).tolist()).encode("ascii")
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, width).astype(np.int64) - 48


def _is_calendar_date(words: pd.Series) -> np.ndarray:
    """Whether eight-digit words read as YYYYMMDD or DDMMYYYY (1900-2099)."""
    d = _digit_matrix(words, 8)
    num = d @ (10 ** np.arange(7, -1, -1))
    y1, m1, d1 = num // 10000, num // 100 % 100, num % 100
    d2, m2, y2 = num // 1000000, num // 10000 % 100, num % 10000
    ymd = (y1 >= 1900) & (y1 <= 2099) & (m1 >= 1) & (m1 <= 12) & (d1 >= 1) & (d1 <= 31)
    dmy = (y2 >= 1900) & (y2 <= 2099) & (m2 >= 1) & (m2 <= 12) & (d2 >= 1) & (d2 <= 31)
    return ymd | dmy


def is_iban(values: pd.Series) -> np.ndarray:
    """Return, per value, whether it is an IBAN: known country, its length, mod 97 == 1.

    Examples
    --------
    >>> is_iban(pd.Series(["NL91ABNA0417164300", "NL91 ABNA 0417 1643 00",
    ...                    "NL91ABNA0417164301", "XX91ABNA0417164300"])).tolist()
    [True, True, False, False]
    """
    text = _text(values).str.replace(" ", "", regex=False).str.upper()
    country = text.str.slice(0, 2)
    want = country.map(IBAN_LENGTHS).astype("Float64").to_numpy(dtype="float64", na_value=0)
    length = text.str.len().to_numpy(dtype="float64", na_value=-1)
    ok = (want == length) & text.str.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+").fillna(False).to_numpy(
        dtype=bool
    )
    out = np.zeros(len(text), dtype=bool)
    if ok.any():
        moved = (text[ok].str.slice(4) + text[ok].str.slice(0, 4)).astype(str)
        width = int(moved.str.len().max())
        padded = moved.str.pad(width, side="left", fillchar="0")
        codes = np.frombuffer("".join(padded).encode("ascii"), dtype=np.uint8).reshape(-1, width)
        # letters count as two digits (A = 10 ... Z = 35); work character by character
        # over all candidates at once, the remainder kept below 97
        value = np.where(codes >= 65, codes.astype(np.int64) - 55, codes.astype(np.int64) - 48)
        rem = np.zeros(len(padded), dtype=np.int64)
        for j in range(width):
            v = value[:, j]
            rem = np.where(v >= 10, (rem * 100 + v) % 97, (rem * 10 + v) % 97)
        out[ok] = rem == 1
    return out


def _words(values: pd.Series, pattern: str) -> tuple[np.ndarray, pd.Series]:
    """All matches of ``pattern`` (one group) in ``values``: value position and word."""
    found = values.astype(object).str.extractall(pattern)
    if not len(found):
        return np.zeros(0, dtype=np.intp), pd.Series([], dtype="string")
    rows = np.asarray(found.index.get_level_values(0), dtype=np.intp)
    return rows, found[0].astype("string").reset_index(drop=True)


def _confirm(rule: str, values: pd.Series) -> np.ndarray:
    """For candidate values of ``rule``, whether a word in them really breaks it."""
    n = len(values)
    if rule == "bsn":
        rows, words = _words(
            values, r"(?:^|[^0-9A-Za-z_\-])(" + _BSN_WORD + r")(?=$|[^0-9A-Za-z_\-])"
        )
        hit = is_bsn(words)
        plain8 = words.str.fullmatch(r"\d{8}").fillna(False).to_numpy(dtype=bool)
        if plain8.any():
            hit[plain8] &= ~_is_calendar_date(words[plain8])
    elif rule == "iban":
        rows, words = _words(values, r"(?:^|[^0-9A-Za-z])(" + _PY_IBAN + r")(?=$|[^0-9A-Za-z])")
        hit = is_iban(words)
    elif rule == "phone":
        # the digits of an account number (NL91 ABNA 0417 1643 00) are not a phone number
        values = values.astype(object).str.replace(_PY_IBAN, " ", regex=True)
        rows, words = _words(values, r"(?:^|[^0-9A-Za-z_\-+])(" + _PY_PHONE + r")(?=$|[^0-9A-Za-z])")
        # a day-first date followed by a time (05-03-2023 10:00) is not a phone number
        dated = words.str.match(r"(0[1-9]|[12]\d|3[01])[-/.](0[1-9]|1[0-2])[-/.](19|20)\d\d")
        hit = ~dated.fillna(False).to_numpy(dtype=bool)
    elif rule == "postcode":
        rows, words = _words(values, r"(?:^|[^0-9A-Za-z])([1-9]\d{3} ?[A-Za-z]{2})(?=$|[^0-9A-Za-z])")
        letters = words.str.slice(-2)
        spaced = words.str.contains(" ", regex=False).fillna(False).to_numpy(dtype=bool)
        capitals = letters.str.fullmatch(r"[A-Z]{2}").fillna(False).to_numpy(dtype=bool)
        stop = letters.str.lower().isin(POSTCODE_STOPWORDS).to_numpy(dtype=bool)
        hit = capitals | ~spaced | ~stop
    else:
        return np.ones(n, dtype=bool)
    out = np.zeros(n, dtype=bool)
    out[rows[hit]] = True
    return out


# The phone and account patterns in Python's re syntax (the same as the RE2 ones).
_PY_PHONE = _PHONE
_PY_IBAN = r"(?:[A-Z]{2}|nl|Nl)\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?"


# --------------------------------------------------------------------------------------
# scanning


def _arrow_text(values: pd.Series) -> pa.Array:
    """A column as Arrow text, missing values as empty text (numbers as their digits)."""
    dtype = values.dtype
    is_object = pd.api.types.is_object_dtype(dtype)
    if isinstance(dtype, pd.StringDtype) or is_object:
        arr = pa.array((values.astype(_TEXT) if is_object else values).array)
        return pc.fill_null(arr.cast(pa.string()) if arr.type != pa.string() else arr, "")
    if pd.api.types.is_integer_dtype(dtype):
        arr = pa.array(values.astype("Int64").array)
        return pc.fill_null(pc.cast(arr, pa.string()), "")
    if pd.api.types.is_float_dtype(dtype):
        # a number stored as a float (Parquet, Excel) is searched as its integer digits
        v = values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2.0**53)
        as_int = pc.cast(pa.array(np.where(whole, v, 0).astype(np.int64)), pa.string())
        as_float = pc.cast(pa.array(v), pa.string())
        out = pc.if_else(pa.array(whole), as_int, as_float)
        return pc.if_else(pa.array(np.isnan(v)), pa.scalar(""), out)
    return pa.array(values.astype(object).where(values.notna(), "").astype(str).tolist())


def _text(values: pd.Series) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(_arrow_text(values)), index=values.index)


def _matches(arr: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False)


def _fullmatches(arr: pa.Array, pattern: str) -> np.ndarray:
    return _matches(arr, r"^(?:" + pattern + r")$")


def content_rules(arr: pa.Array) -> dict[str, np.ndarray]:
    """Which content rules each value breaks: ``{rule: bool array over arr}``.

    One pass of the combined pattern finds the candidates; the rules are told apart on
    those, and confirmed by :func:`_confirm` (checksums, dates, word lists).

    Examples
    --------
    >>> found = content_rules(pa.array(["Jan de Vries", "2023 en 2024", "1234 ab"]))
    >>> {rule: hits.tolist() for rule, hits in found.items()}
    {'postcode': [False, False, True], 'name': [True, False, False]}
    """
    cand = np.flatnonzero(_matches(arr, _COMBINED))
    out: dict[str, np.ndarray] = {}
    if not len(cand):
        return out
    sub = arr.take(pa.array(cand))
    for rule, pattern in CONTENT_PATTERNS.items():
        hit = _matches(sub, pattern)
        if hit.any() and rule in ("bsn", "iban", "phone", "postcode"):
            ok = np.zeros(len(sub), dtype=bool)
            ok[hit] = _confirm(rule, pd.Series(sub.filter(pa.array(hit)).to_pylist(), dtype=object))
            hit = ok
        if hit.any():
            full = np.zeros(len(arr), dtype=bool)
            full[cand[hit]] = True
            out[rule] = full
    return out


def is_safe_label(labels) -> np.ndarray:
    """Whether each header or file name may be shown: it breaks no content rule.

    Examples
    --------
    >>> is_safe_label(["household_id", "111222333", "j.jansen@example.nl", "Severity"]).tolist()
    [True, False, False, True]
    """
    arr = pa.array([str(x) for x in labels], type=pa.string())
    bad = np.zeros(len(arr), dtype=bool)
    for hits in content_rules(arr).values():
        bad |= hits
    return ~bad


def column_label(name: str, position: int, safe: bool) -> str:
    """How a column is named in messages: its name, or its position if the name is unsafe.

    Examples
    --------
    >>> column_label("site", 2, True), column_label("111222333", 7, False)
    ('site', 'number 7 (its header is not shown)')
    """
    return name if safe else f"number {position} (its header is not shown)"


def _name_rules(table: str, name: str) -> list[str]:
    rules = [
        rule
        for rule, pattern in NAME_PATTERNS.items()
        if re.search(pattern, name) and (table, name) not in ALLOWED_BY_NAME
    ]
    if re.fullmatch(PERSON_COLUMNS, name) and "name" not in rules:
        rules.append("person")
    return rules


def scan_frame(
    frame: pd.DataFrame,
    *,
    table: str = "",
    file: str = "",
    row_numbers: np.ndarray | None = None,
    header: list[str] | tuple[str, ...] | None = None,
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
    header : sequence of str, optional
        The header as written in the file (default: the frame's column names). It is
        searched too: a header that breaks a content rule is a finding in row 1, and its
        column is named by position in every finding.

    Returns
    -------
    pandas.DataFrame
        ``file, table, column, rule, n_values, first_row, in_header``
        (:data:`FINDING_COLUMNS`): how many rows break the rule and the first of them, or
        (``in_header``) that the header itself does. The values are never returned.
    """
    if row_numbers is None:
        row_numbers = np.arange(2, len(frame) + 2)
    header = [str(c) for c in (header if header is not None else frame.columns)]
    safe = is_safe_label(header)
    findings = []
    header_hits = content_rules(pa.array(header, type=pa.string()))
    for rule, hits in header_hits.items():
        for i in np.flatnonzero(hits):
            findings.append((column_label("", i + 1, False), rule, None, True))
    for i, column in enumerate(frame.columns):
        label = column_label(str(column), i + 1, bool(safe[i]) if i < len(safe) else True)
        s = frame[column]
        name = re.sub(r"\s+", "_", str(column).strip().lower())
        by_name = _name_rules(table, name)
        skip = set(by_name) | ({"name"} if "person" in by_name else set())
        typed_date = pd.api.types.is_datetime64_any_dtype(s.dtype)
        typed_bool = pd.api.types.is_bool_dtype(s.dtype)
        text = None if (typed_date or typed_bool) else _arrow_text(s)
        for rule in by_name:
            if rule == "birth_date":
                if typed_date:
                    mask = s.notna().to_numpy()
                elif typed_bool:
                    continue
                else:
                    mask = ~_fullmatches(text, _COARSE_BIRTH)
            elif rule == "person":
                if text is None:
                    continue
                plain = _fullmatches(text, _NUMBER + "|" + _YES_NO + r"|\s*")
                mask = ~plain
                rule = "name"
            else:
                mask = s.notna().to_numpy() if text is None else _matches(text, r"\S")
            if mask.any():
                findings.append((label, rule, mask, False))
        if text is None:
            continue  # dates and yes/no values hold no identifiers by content
        for rule, hit in content_rules(text).items():
            if rule in skip:
                continue
            findings.append((label, rule, hit, False))
    rows = []
    for label, rule, mask, in_header in findings:
        if in_header:
            n, first_row = 1, 1
        else:
            pos = np.flatnonzero(mask)
            n, first_row = int(len(pos)), int(row_numbers[pos[0]])
        rows.append(
            {
                "file": file,
                "table": table,
                "column": label,
                "rule": rule,
                "n_values": n,
                "first_row": first_row,
                "in_header": bool(in_header),
            }
        )
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def undeclared_text(raw_table) -> pd.DataFrame:
    """Findings for columns outside the data model (and ``columns.yaml``) holding text.

    Such a column is kept (households) or ignored (other tables), but text in it may be
    anything, so a pseudonymised delivery carries free text only where it declares it.
    Numbers, yes/no values and empty cells are fine.
    """
    from cohort.delivery import schema

    spec = schema.with_declared(schema.TABLES[raw_table.name], raw_table.declared)
    known = set(spec.column_names)
    header = list(raw_table.header) if raw_table.header else list(raw_table.frame.columns)
    safe = is_safe_label(header)
    rows = []
    for i, column in enumerate(raw_table.frame.columns):
        if column in known:
            continue
        s = raw_table.frame[column]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            # a date is text in a CSV file and needs declaring there: the same in Parquet
            pos = np.flatnonzero(s.notna().to_numpy())
        elif isinstance(s.dtype, pd.StringDtype) or pd.api.types.is_object_dtype(s.dtype):
            plain = _fullmatches(_arrow_text(s), _NUMBER + "|" + _YES_NO + r"|\s*")
            pos = np.flatnonzero(~plain)
        else:
            continue
        if len(pos):
            rows.append(
                {
                    "file": raw_table.file,
                    "table": raw_table.name,
                    "column": column_label(str(column), i + 1, bool(safe[i])),
                    "rule": "undeclared_text",
                    "n_values": int(len(pos)),
                    "first_row": int(raw_table.row_numbers[pos[0]]),
                    "in_header": False,
                }
            )
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def findings_message(findings: pd.DataFrame, delivery: str = "the delivery") -> str:
    """The refusal message: one clause per column and rule, never a value.

    Examples
    --------
    >>> f = pd.DataFrame([{"file": "h.csv", "table": "households", "column": "note",
    ...                    "rule": "phone", "n_values": 2, "first_row": 5, "in_header": False}])
    >>> print(findings_message(f, "delivery d"))
    delivery d is refused because it carries direct identifiers: h.csv column note: 2 value(s) look like phone numbers, first in row 5 (rule: phone). Remove these columns, or replace them with pseudonyms using 'cohort pseudonymise', and deliver again. The values are not shown.
    """
    parts = []
    for f in findings.itertuples():
        if f.rule == "undeclared_text":
            parts.append(
                f"{f.file} column {f.column}: {f.n_values} value(s) are "
                f"{DESCRIPTIONS[f.rule]}, first in row {f.first_row} (rule: {f.rule})"
            )
        elif f.in_header:
            parts.append(
                f"{f.file} column {f.column}: the header looks like {DESCRIPTIONS[f.rule]} "
                f"(rule: {f.rule})"
            )
        else:
            parts.append(
                f"{f.file} column {f.column}: {f.n_values} value(s) look like "
                f"{DESCRIPTIONS[f.rule]}, first in row {f.first_row} (rule: {f.rule})"
            )
    rules = set(findings["rule"])
    what, advice = [], []
    if rules - {"undeclared_text"}:
        what.append("direct identifiers")
        advice.append(
            "Remove these columns, or replace them with pseudonyms using 'cohort pseudonymise'"
        )
    if "undeclared_text" in rules:
        what.append("free text it does not declare")
        advice.append(
            "declare the text columns in columns.yaml (see docs/data-model.md) or remove them"
        )
    advice[0] = advice[0][0].upper() + advice[0][1:]
    return (
        f"{delivery} is refused because it carries {' and '.join(what)}: "
        + "; ".join(parts)
        + ". "
        + "; ".join(advice)
        + ", and deliver again. The values are not shown."
    )


def scan_raw_delivery(raw) -> pd.DataFrame:
    """Scan every table of a :class:`cohort.delivery.read.RawDelivery`; return all findings.

    Values and headers of every table, the text of rows with a wrong field count, and
    undeclared text columns (:func:`undeclared_text`).
    """
    parts = []
    for t in raw.tables.values():
        parts.append(
            scan_frame(
                t.frame,
                table=t.name,
                file=t.file,
                row_numbers=t.row_numbers,
                header=list(t.header) if t.header else None,
            )
        )
        parts.append(undeclared_text(t))
    # rows with the wrong number of fields are checked too: nothing escapes the guard
    for t in raw.tables.values():
        if len(t.bad_rows):
            lines = pd.DataFrame({"row_text": t.bad_rows["text"].astype(str)})
            found = scan_frame(
                lines, table=t.name, file=t.file, row_numbers=t.bad_rows["row"].to_numpy()
            )
            found["column"] = "(row with wrong field count)"
            parts.append(found)
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=FINDING_COLUMNS)
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
    "FIRST_NAMES",
    "NAME_PATTERNS",
    "PERSON_COLUMNS",
    "check_frame",
    "check_raw_delivery",
    "column_label",
    "content_rules",
    "is_bsn",
    "is_iban",
    "is_safe_label",
    "scan_frame",
    "scan_raw_delivery",
    "undeclared_text",
]
