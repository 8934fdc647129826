"""Keyed pseudonyms (HMAC-SHA256) for sites that have not pseudonymised yet.

A pseudonym is ``HMAC-SHA256(key, value)`` written as hexadecimal and cut to
:data:`DEFAULT_LENGTH` characters (80 bits: for a million distinct values the chance that
two share a pseudonym is below one in a billion). The same value and key give the same
pseudonym in every delivery, so households link across quarters; another key gives
pseudonyms that cannot be linked to these. Values are trimmed before hashing; empty
values stay empty.

The key is read from a file (``--key-file``) or from the environment variable
:data:`KEY_ENV`; it is never written anywhere nor shown in any message. Without a key,
pseudonymisation refuses to run (:class:`~cohort.exceptions.KeyMissingError`). How the
key should be held is described in ``docs/data-model.md``.

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
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cohort.exceptions import CohortError, InputNotFoundError, KeyMissingError, ParameterError

#: Environment variable holding the key when no key file is given.
KEY_ENV = "COHORT_PSEUDONYM_KEY"

#: Hex characters kept of each HMAC (80 bits).
DEFAULT_LENGTH = 20

#: A key shorter than this is refused: it could be guessed.
MIN_KEY_BYTES = 16


def read_key(key_file: str | os.PathLike | None = None, *, env: str = KEY_ENV) -> bytes:
    """Return the key from ``key_file`` or else the environment variable ``env``.

    A trailing newline in the file is ignored. Raises :class:`KeyMissingError` when there
    is no key, and :class:`ParameterError` when it is shorter than :data:`MIN_KEY_BYTES`.
    The key itself never appears in a message.

    Examples
    --------
    >>> read_key(env="COHORT_NO_SUCH_VARIABLE")
    Traceback (most recent call last):
    ...
    cohort.exceptions.KeyMissingError: no pseudonymisation key: give --key-file PATH or set the environment variable COHORT_NO_SUCH_VARIABLE; the key is the same secret for every delivery and is kept by the site (see docs/data-model.md)
    """
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise InputNotFoundError(f"key file {path} does not exist; check the path")
        key = path.read_bytes().rstrip(b"\r\n")
        source = f"key file {path}"
    else:
        value = os.environ.get(env)
        if not value:
            raise KeyMissingError(
                f"no pseudonymisation key: give --key-file PATH or set the environment "
                f"variable {env}; the key is the same secret for every delivery and is kept "
                "by the site (see docs/data-model.md)"
            )
        key = value.encode("utf-8")
        source = f"environment variable {env}"
    if len(key) < MIN_KEY_BYTES:
        raise ParameterError(
            f"the key in {source} is shorter than {MIN_KEY_BYTES} bytes; use a long random "
            "secret, e.g. 32 random bytes written as hexadecimal"
        )
    return key


def pseudonymise(
    frame: pd.DataFrame,
    columns: Sequence[str],
    key: bytes,
    *,
    length: int = DEFAULT_LENGTH,
    prefix: str = "",
) -> pd.DataFrame:
    """Return a copy of ``frame`` with ``columns`` replaced by keyed pseudonyms.

    Each distinct value is hashed once (HMAC cannot be vectorised; the work is per
    distinct value, then mapped back to all rows as a whole column).

    Raises :class:`ParameterError` when a column is missing or ``key`` is empty.
    """
    if not key:
        raise KeyMissingError("no pseudonymisation key given")
    if not 8 <= length <= 64:
        raise ParameterError(f"pseudonym length must be between 8 and 64, not {length}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"no column {', '.join(missing)} to pseudonymise")
    base = hmac.new(key, digestmod=hashlib.sha256)
    out = frame.copy()
    for column in columns:
        text = out[column].astype("string").str.strip()
        text = text.mask(text.eq(""))
        codes, uniques = pd.factorize(text)
        hashed = []
        for value in uniques:  # distinct values only
            h = base.copy()
            h.update(str(value).encode("utf-8"))
            hashed.append(prefix + h.hexdigest()[:length])
        mapped = pd.array(hashed, dtype="string").take(codes, allow_fill=True)
        out[column] = pd.Series(mapped, index=out.index, dtype="string")
    return out


def pseudonymise_delivery(
    source: str | os.PathLike,
    target: str | os.PathLike,
    columns: Sequence[str],
    key: bytes,
    *,
    length: int = DEFAULT_LENGTH,
    prefix: str = "",
) -> dict[str, list[str]]:
    """Pseudonymise the named columns in every table of a delivery folder.

    Reads the delivery as delivered (text), replaces each named column wherever it
    occurs, and writes one comma-separated UTF-8 CSV per table to ``target`` (created;
    it must not be the source). Returns ``{table: [columns replaced]}``.
    """
    from cohort.delivery.coerce import _as_text
    from cohort.delivery.read import read_raw_delivery

    source, target = Path(source), Path(target)
    if target.resolve() == source.resolve():
        raise ParameterError("the output folder must differ from the delivery folder")
    if target.exists() and any(target.iterdir()):
        raise ParameterError(f"output folder {target} is not empty; choose a new folder")
    raw = read_raw_delivery(source)
    wanted = [c.strip().lower() for c in columns]
    present = {c for t in raw.tables.values() for c in t.frame.columns}
    absent = [c for c in wanted if c not in present]
    if absent:
        raise ParameterError(
            f"column {', '.join(absent)} occurs in no table of {source.name}; "
            "name the identifier columns as they appear in the header"
        )
    bad = {t.file: len(t.bad_rows) for t in raw.tables.values() if len(t.bad_rows)}
    if bad:
        first = next(iter(bad))
        raise CohortError(
            f"{first} has rows with the wrong number of fields (first in row "
            f"{int(raw.tables[_table_of(raw, first)].bad_rows['row'].iloc[0])}); fix the file "
            "before pseudonymising so that no row is lost"
        )
    target.mkdir(parents=True, exist_ok=True)
    done = {}
    for name, table in raw.tables.items():
        frame = pd.DataFrame({c: _as_text(table.frame[c]) for c in table.frame.columns})
        cols = [c for c in wanted if c in frame.columns]
        frame = pseudonymise(frame, cols, key, length=length, prefix=prefix)
        frame.to_csv(target / f"{name}.csv", index=False, lineterminator="\n")
        done[name] = cols
    return done


def _table_of(raw, file: str) -> str:
    return next(name for name, t in raw.tables.items() if t.file == file)
