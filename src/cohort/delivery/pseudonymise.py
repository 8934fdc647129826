"""Keyed pseudonyms (HMAC-SHA256) for sites that have not pseudonymised yet.

A pseudonym is ``HMAC-SHA256(key, value)`` written as hexadecimal and cut to
:data:`DEFAULT_LENGTH` characters (80 bits). The same value and key give the same
pseudonym in every delivery, so households link across quarters; another key gives
pseudonyms that cannot be linked to these. Values are trimmed before hashing; empty
values stay empty.

Two distinct values must never share a pseudonym (their households would be merged).
The chance that some two of ``n`` values do is about ``n² / (2 · 16^length)`` (the
birthday bound, :func:`collision_chance`); a length that gives more than
:data:`MAX_COLLISION_CHANCE` for the delivery at hand is refused with the shortest safe
length (:func:`safe_length`), and the pseudonyms made are always checked for an actual
collision. Pseudonyms that would look like a direct identifier to the guard (all digits,
like a BSN or a phone number) are refused too: give a ``prefix``.

The key is read from a file (``--key-file``) or from the environment variable
:data:`KEY_ENV`, **never from the command line**, where it would show in the process
list and the shell history; it is never written anywhere nor shown in any message.
Without a key, pseudonymisation refuses to run
(:class:`~cohort.exceptions.KeyMissingError`). How the key should be held is described in
``docs/data-model.md``.

Examples
--------
>>> key = b"k" * 32
>>> df = pd.DataFrame({"client": ["123", " 123", None], "x": [1, 2, 3]})
>>> out = pseudonymise(df, ["client"], key)
>>> bool(out["client"].iloc[0] == out["client"].iloc[1]), bool(out["client"].isna().iloc[2])
(True, True)
>>> len(out["client"].iloc[0])
20
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.exceptions import DeliveryError, InputNotFoundError, KeyMissingError, ParameterError

#: Environment variable holding the key when no key file is given.
KEY_ENV = "COHORT_PSEUDONYM_KEY"

#: Hex characters kept of each HMAC (80 bits).
DEFAULT_LENGTH = 20

#: Shortest and longest pseudonym (hex characters of the 64 an HMAC-SHA256 gives).
MIN_LENGTH, MAX_LENGTH = 8, 64

#: A key shorter than this is refused: it could be guessed.
MIN_KEY_BYTES = 16

#: A key file larger than this is not a key (a wrong file was named).
MAX_KEY_FILE_BYTES = 1 << 16

#: The largest accepted chance that two distinct values get the same pseudonym.
MAX_COLLISION_CHANCE = 1e-6


def read_key(key_file: str | os.PathLike | None = None, *, env: str = KEY_ENV) -> bytes:
    """Return the key from ``key_file`` or else the environment variable ``env``.

    A trailing newline in the file is ignored. Raises :class:`KeyMissingError` when there
    is no key, and :class:`ParameterError` when it is shorter than :data:`MIN_KEY_BYTES`.
    Neither the key nor the name of the key file appears in a message (a key typed where
    the file name belongs would otherwise be shown).

    Examples
    --------
    >>> read_key(env="COHORT_NO_SUCH_VARIABLE")
    Traceback (most recent call last):
    ...
    cohort.exceptions.KeyMissingError: no pseudonymisation key: give --key-file PATH or set the environment variable COHORT_NO_SUCH_VARIABLE; the key is the same secret for every delivery and is kept by the site (see docs/data-model.md)
    """
    if key_file is not None:
        key = _read_key_file(Path(key_file))
        source = "the key file"
    else:
        value = os.environ.get(env)
        if not value:
            raise KeyMissingError(
                f"no pseudonymisation key: give --key-file PATH or set the environment "
                f"variable {env}; the key is the same secret for every delivery and is kept "
                "by the site (see docs/data-model.md)"
            )
        key = value.encode("utf-8")
        source = f"the environment variable {env}"
    if len(key) < MIN_KEY_BYTES:
        raise ParameterError(
            f"the key in {source} is shorter than {MIN_KEY_BYTES} bytes; use a long random "
            "secret, e.g. 32 random bytes written as hexadecimal"
        )
    return key


def _read_key_file(path: Path) -> bytes:
    hidden = "(its name is not shown, in case a key was typed in its place)"
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise InputNotFoundError(
            f"the key file given with --key-file does not exist {hidden}; check the path"
        ) from None
    except OSError:
        raise KeyMissingError(f"the key file given with --key-file cannot be read {hidden}") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_KEY_FILE_BYTES:
        raise ParameterError(
            f"the key file given with --key-file is not a small ordinary file {hidden}; "
            "name the file that holds the key"
        )
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError:
        raise KeyMissingError(
            f"the key file given with --key-file cannot be read {hidden}; make it readable "
            "for the account that runs cohort (and for no one else: chmod 600)"
        ) from None


def collision_chance(n: int, length: int) -> float:
    """The chance that some two of ``n`` distinct values share a pseudonym of ``length``.

    The birthday bound ``1 - exp(-n (n - 1) / (2 · 16^length))``.

    Examples
    --------
    >>> round(collision_chance(200_000, 8), 2), collision_chance(200_000, 20) < 1e-13
    (0.99, True)
    """
    if n < 2:
        return 0.0
    return -math.expm1(-n * (n - 1) / (2.0 * 16.0**length))


def safe_length(n: int, max_chance: float = MAX_COLLISION_CHANCE) -> int:
    """The shortest pseudonym length whose collision chance for ``n`` values is acceptable.

    Examples
    --------
    >>> safe_length(200_000), safe_length(10_000_000), safe_length(10)
    (14, 17, 8)
    """
    for length in range(MIN_LENGTH, MAX_LENGTH + 1):
        if collision_chance(n, length) <= max_chance:
            return length
    return MAX_LENGTH


def _check_length(length) -> int:
    if isinstance(length, bool) or not isinstance(length, int | np.integer):
        raise ParameterError(f"pseudonym length must be a whole number, not {type(length).__name__}")
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ParameterError(
            f"pseudonym length must be between {MIN_LENGTH} and {MAX_LENGTH}, not {length}"
        )
    return int(length)


def pseudonym_map(
    values: pd.Series,
    key: bytes,
    *,
    length: int = DEFAULT_LENGTH,
    prefix: str = "",
    column: str = "the column",
) -> pd.Series:
    """Pseudonyms of the distinct non-empty values: a Series indexed by the (trimmed) value.

    Raises :class:`ParameterError` when ``length`` is too short for the number of distinct
    values (:func:`safe_length`), when two values would share a pseudonym, or when
    pseudonyms would look like a direct identifier to the guard (give a ``prefix``).
    """
    if not key:
        raise KeyMissingError("no pseudonymisation key given")
    length = _check_length(length)
    text = values.astype("string").str.strip()
    distinct = pd.Index(text[text.ne("").fillna(False)].dropna().unique())
    n = len(distinct)
    chance = collision_chance(n, length)
    if chance > MAX_COLLISION_CHANCE:
        raise ParameterError(
            f"--length {length} is too short for the {n:,} distinct values of {column}: the "
            f"chance that two of them get the same pseudonym (merging their households) is "
            f"{_chance_text(chance)}; use --length {safe_length(n)} or more (default "
            f"{DEFAULT_LENGTH})"
        )
    base = hmac.new(key, digestmod=hashlib.sha256)
    hashed = []
    for value in distinct:  # HMAC cannot be vectorised: once per distinct value
        h = base.copy()
        h.update(str(value).encode("utf-8"))
        hashed.append(h.hexdigest()[:length])
    out = pd.Series(pd.array([prefix + h for h in hashed], dtype="string"), index=distinct)
    if out.duplicated().any():
        raise ParameterError(
            f"two distinct values of {column} get the same pseudonym with --length {length}; "
            f"use a longer --length (for example {min(MAX_LENGTH, length + 8)})"
        )
    _check_not_identifier_like(out, column)
    return out


def _chance_text(chance: float) -> str:
    if chance >= 0.5:
        return f"about {chance:.0%}"
    return f"about 1 in {max(2, round(1 / chance)):,}"


def _check_not_identifier_like(pseudonyms: pd.Series, column: str) -> None:
    import pyarrow as pa

    from cohort.delivery.identifiers import DESCRIPTIONS, content_rules

    found = content_rules(pa.array(pseudonyms.astype(str).tolist(), type=pa.string()))
    if found:
        rule, hits = next(iter(found.items()))
        raise ParameterError(
            f"{int(hits.sum())} pseudonym(s) of {column} would look like "
            f"{DESCRIPTIONS[rule]} to the identifier guard (rule: {rule}), so the delivery "
            "would be refused; give a --prefix with a letter (for example --prefix H-) or a "
            "longer --length"
        )


def pseudonymise(
    frame: pd.DataFrame,
    columns: Sequence[str],
    key: bytes,
    *,
    length: int = DEFAULT_LENGTH,
    prefix: str = "",
) -> pd.DataFrame:
    """Return a copy of ``frame`` with ``columns`` replaced by keyed pseudonyms.

    Each distinct value is hashed once (:func:`pseudonym_map`; HMAC cannot be vectorised),
    then mapped back to all rows as a whole column.

    Raises :class:`ParameterError` when a column is missing, the length is too short for
    the column's distinct values, or two values would share a pseudonym;
    :class:`KeyMissingError` when ``key`` is empty.
    """
    if not key:
        raise KeyMissingError("no pseudonymisation key given")
    _check_length(length)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"no column {', '.join(missing)} to pseudonymise")
    out = frame.copy()
    for column in columns:
        mapping = pseudonym_map(out[column], key, length=length, prefix=prefix, column=column)
        out[column] = _apply(out[column], mapping)
    return out


def _apply(values: pd.Series, mapping: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    text = text.mask(text.eq(""))
    codes = mapping.index.get_indexer(text)
    mapped = mapping.array.take(codes, allow_fill=True)
    return pd.Series(mapped, index=values.index, dtype="string")


def pseudonymise_delivery(
    source: str | os.PathLike,
    target: str | os.PathLike,
    columns: Sequence[str] | None,
    key: bytes,
    *,
    length: int = DEFAULT_LENGTH,
    prefix: str = "",
) -> dict[str, list[str]]:
    """Pseudonymise the named columns in every table of a delivery folder.

    Reads the delivery as delivered (text), replaces each named column wherever it
    occurs (the same value gets the same pseudonym in every table), and writes one UTF-8
    CSV per table to ``target`` (created; it must not be the source) in the separator the
    table came in: a semicolon file with decimal commas stays one, so it validates as
    before. ``columns=None`` takes the id columns of the data model that are present.
    ``columns.yaml`` is copied. The written delivery is read back and must hold every
    row. Returns ``{table: [columns replaced]}``.
    """
    from cohort.delivery import schema
    from cohort.delivery.coerce import _as_text
    from cohort.delivery.read import read_raw_delivery

    source, target = Path(source), Path(target)
    if target.resolve() == source.resolve():
        raise ParameterError("the output folder must differ from the delivery folder")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ParameterError(f"output folder {target} is not empty; choose a new folder")
    _check_length(length)
    if not key:
        raise KeyMissingError("no pseudonymisation key given")
    raw = read_raw_delivery(source)
    present = {c for t in raw.tables.values() for c in t.frame.columns}
    if columns is None:
        wanted = [c for c in schema.ID_COLUMNS if c in present]
    else:
        wanted = [c.strip().lower() for c in columns]
    absent = [c for c in wanted if c not in present]
    if absent:
        raise ParameterError(
            f"column {', '.join(absent)} occurs in no table of {source.name}; "
            "name the identifier columns as they appear in the header"
        )
    for table in raw.tables.values():
        if len(table.bad_rows):
            row = int(table.bad_rows["row"].iloc[0])
            raise DeliveryError(
                f"{table.file} row {row}: the row has the wrong number of fields (rule: "
                "field_count); fix the file before pseudonymising so that no row is lost"
            )
        if table.unclosed_quote:
            raise DeliveryError(
                f"{table.file} row {int(table.row_numbers[-1])}: a quote opened here is never "
                "closed (rule: unclosed_quote); fix the file before pseudonymising"
            )
    # one mapping per column over all tables: a household gets one pseudonym everywhere
    mappings = {}
    for column in wanted:
        values = pd.concat(
            [_as_text(t.frame[column]) for t in raw.tables.values() if column in t.frame.columns],
            ignore_index=True,
        )
        mappings[column] = pseudonym_map(values, key, length=length, prefix=prefix, column=column)
    target.mkdir(parents=True, exist_ok=True)
    done = {}
    rows = {}
    for name, table in raw.tables.items():
        frame = pd.DataFrame({c: _as_text(table.frame[c]) for c in table.frame.columns})
        cols = [c for c in wanted if c in frame.columns]
        for column in cols:
            frame[column] = _apply(frame[column], mappings[column])
        sep = ";" if table.decimal_comma else ","
        frame.to_csv(target / f"{name}.csv", index=False, sep=sep, lineterminator="\n")
        done[name] = cols
        rows[name] = table.rows_read
    declarations = source / "columns.yaml"
    if declarations.is_file() and not declarations.is_symlink():
        (target / "columns.yaml").write_bytes(declarations.read_bytes())
    back = read_raw_delivery(target)
    for name, n in rows.items():
        if back.tables[name].rows_read != n or len(back.tables[name].bad_rows):
            raise DeliveryError(
                f"{name}.csv was written with {back.tables[name].rows_read} rows where "
                f"{raw.tables[name].file} has {n} (rule: row_accounting); the output in "
                f"{target} is incomplete: remove it and report this"
            )
    return done
