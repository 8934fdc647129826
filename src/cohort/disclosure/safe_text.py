"""Safe text in released files: nothing a spreadsheet would run as a formula.

A spreadsheet opening a CSV runs a cell as a formula when it starts with ``=``, ``+``,
``-`` or ``@`` (and some also after a tab or carriage return): ``=HYPERLINK(...)`` in a
site label becomes a link that sends whoever clicks it elsewhere, ``=cmd|...`` can run
programs (OWASP: CSV injection). Released files come from delivered data (site codes and
labels, category values), so every text cell and every column name is checked.

The rule (:func:`formula_mask`): after leading spaces, a cell that starts with ``=``,
``+``, ``-``, ``@``, or their full-width forms (``＝ ＋ － ＠``), or that starts with a tab or
a carriage return, is a **formula cell** - unless it is a plain number (``-3``, ``+5``,
``-0.25``, ``1e-3``, ``-3,5`` with a decimal comma), which a spreadsheet reads as that
number, or a lone ``-`` or ``+`` (a "no value" mark that runs nothing).

:func:`neutralise` makes such cells inert by putting a single quote in front (the
OWASP recommendation; a spreadsheet shows the text as written, without the quote in most
programs). The release gate calls :func:`neutralise_frame` on every released table; the
release check (:mod:`cohort.disclosure.check`) reports any formula cell left in a released
file, so a file written around the gate is still caught.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: Characters that make a spreadsheet treat a cell as a formula (after leading spaces).
FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
#: Characters that make a formula when they are the very first character.
CONTROL_STARTS = ("\t", "\r")

#: The prefix that makes a formula cell inert text.
PREFIX = "'"

_NUMBER = re.compile(r"^\s*[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?\s*$")
# literal characters, not escapes: Arrow's regular expressions (RE2) know no \\u escapes
_TRIGGER = re.compile("^(?: *[=+\\-@＝＋－＠]|[\t\r])")


def formula_mask(values) -> np.ndarray:
    """Which values a spreadsheet would run as a formula (see the module docstring).

    ``values``: anything array-like. Values are compared as text; numbers and missing
    values are never formulas (a negative number reads as a number).

    Examples
    --------
    >>> formula_mask(["=HYPERLINK(\\"x\\")", "-3", "+5", "-0,5", "@SUM(A1)", "AMS", "-",
    ...               " =1+1", "\\tx", "a-b", None, 3]).tolist()
    [True, False, False, False, True, False, False, True, True, False, False, False]
    """
    text = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    text = text.where(text.notna(), None).astype("string")
    trigger = text.str.contains(_TRIGGER, regex=True).fillna(False).to_numpy(dtype=bool)
    if not trigger.any():
        return trigger
    number = text.str.match(_NUMBER).fillna(False).to_numpy(dtype=bool)
    lone = text.str.strip().isin(["-", "+"]).fillna(False).to_numpy(dtype=bool)
    return trigger & ~number & ~lone


def neutralise(values: pd.Series) -> pd.Series:
    """Return a new series with every formula cell prefixed by a single quote.

    Examples
    --------
    >>> neutralise(pd.Series(["=HYPERLINK(1)", "AMS", "-3"])).tolist()
    ["'=HYPERLINK(1)", 'AMS', '-3']
    """
    mask = formula_mask(values)
    if not mask.any():
        return values.copy()
    out = values.astype(object).copy()
    out[mask] = PREFIX + out[mask].astype(str)
    return out


def neutralise_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Neutralise every text cell and every column name of a table; never mutates it.

    Returns the new table and the number of cells (and names) changed, which the gate
    records in the manifest.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["AMS", "=cmd|' /C calc'!A0"], "n": [12, 14]})
    >>> out, changed = neutralise_frame(t)
    >>> out["site"].tolist(), changed
    (['AMS', "'=cmd|' /C calc'!A0"], 1)
    """
    out = frame.copy()
    changed = 0
    names = pd.Series([str(c) for c in frame.columns], dtype=object)
    name_mask = formula_mask(names)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(
            values.dtype
        ):
            continue
        mask = formula_mask(values.to_numpy(dtype=object))
        if mask.any():
            changed += int(mask.sum())
            out[column] = neutralise(values.astype(object))
    if name_mask.any():
        changed += int(name_mask.sum())
        out.columns = [PREFIX + n if m else c for c, n, m in zip(frame.columns, names, name_mask, strict=True)]
    out.attrs = dict(frame.attrs)
    return out, changed
