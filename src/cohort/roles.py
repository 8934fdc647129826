"""Column roles: what each column of an aggregated table holds.

An analysis function that returns a table meant for release says what its columns are,
so that disclosure control and the release check never have to guess from column names:

``count``
    a whole number of units (households, episodes, events) behind the row: a disclosure
    cell, suppressed below the threshold;
``value``
    a number derived from the counts (a mean, a share, an interval limit, an estimate):
    blanked where a count of its row is suppressed;
``group``
    a label column in which the label ``all`` marks a row that totals the others
    (secondary suppression protects that relation);
``key``
    a label or date that identifies the row (indicator, wave, period, term);
``proportion``
    a pair ``(numerator, denominator)`` of count columns whose share is released: the
    numerator and its complement are both cells.

Two further facts shape the release: ``additive`` names the count columns that add up to
the ``all`` row of the group columns (default: every count; a household with measures of
two types counts under both types, so households are not additive over types),
``totals`` gives a group column's total label when it is not ``all``, and ``rule`` names a release rule other than the cell rule (``"changes between reports"``).

Roles travel with the frame in ``frame.attrs["roles"]``. They describe a table; they do
not protect it. :mod:`cohort.disclosure` reads them, and the manifest of a report lists
them for every released file.

Examples
--------
>>> import pandas as pd
>>> t = with_roles(pd.DataFrame({"wave": ["T0"], "n_households": [25], "mean": [4.2]}),
...                counts=["n_households"], keys=["wave"])
>>> roles_of(t)
{'counts': ['n_households'], 'values': ['mean'], 'groups': [], 'keys': ['wave'], 'proportion': None, 'additive': ['n_households'], 'totals': {}, 'rule': None}
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["ROLES_ATTR", "with_roles", "roles_of", "column_roles", "not_additive"]

#: Key of ``DataFrame.attrs`` that holds a table's column roles.
ROLES_ATTR = "roles"


def _names(columns) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    return [str(c) for c in columns]


def with_roles(
    frame: pd.DataFrame,
    *,
    counts: Sequence[str] = (),
    values: Sequence[str] | None = None,
    groups: Sequence[str] = (),
    keys: Sequence[str] = (),
    proportion: tuple[str, str] | None = None,
    additive: Sequence[str] | None = None,
    totals: dict[str, str] | None = None,
    rule: str | None = None,
    sums: dict[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` that states its column roles.

    ``values`` defaults to every numeric column that is not a count, group or key column.
    Every named column must exist; a column cannot have two roles. ``sums`` states
    relations across the count columns of a row (``{"rows_read": ["rows_accepted",
    "rows_rejected"]}``), which disclosure control protects like a margin.

    Raises
    ------
    ValueError
        A named column is missing or given two roles (a programming error, not a user's).
    """
    counts, groups, keys = _names(counts), _names(groups), _names(keys)
    if values is None:
        taken = set(counts) | set(groups) | set(keys)
        values = [
            str(c)
            for c in frame.columns
            if str(c) not in taken
            and pd.api.types.is_numeric_dtype(frame[c].dtype)
            and not pd.api.types.is_bool_dtype(frame[c].dtype)
        ]
    values = _names(values)
    named = [*counts, *values, *groups, *keys]
    missing = [c for c in named if c not in frame.columns]
    if missing:
        raise ValueError(f"with_roles: no column(s) {missing} in the table")
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise ValueError(f"with_roles: column(s) {twice} given two roles")
    if proportion is not None:
        num, den = proportion
        if num not in counts or den not in counts:
            raise ValueError("with_roles: a proportion's numerator and denominator must be counts")
        proportion = (str(num), str(den))
    additive = counts if additive is None else _names(additive)
    if not set(additive) <= set(counts):
        raise ValueError("with_roles: additive columns must be counts")
    sums = {str(k): _names(v) for k, v in (sums or {}).items()}
    if any(c not in counts for k, v in sums.items() for c in (k, *v)):
        raise ValueError("with_roles: the columns of sums must be counts")
    out = frame.copy()
    out.attrs = dict(frame.attrs)
    out.attrs[ROLES_ATTR] = {
        "counts": counts,
        "values": values,
        "groups": groups,
        "keys": keys,
        "proportion": list(proportion) if proportion else None,
        "additive": list(additive),
        "totals": {str(k): str(v) for k, v in (totals or {}).items()},
        "rule": rule,
    }
    if sums:
        out.attrs[ROLES_ATTR]["sums"] = sums
    return out


def roles_of(frame: pd.DataFrame) -> dict | None:
    """The column roles a table states, or ``None``; roles of dropped columns left out."""
    roles = frame.attrs.get(ROLES_ATTR) if isinstance(frame, pd.DataFrame) else None
    if not isinstance(roles, dict):
        return None
    present = {str(c) for c in frame.columns}
    out = {k: [c for c in roles.get(k, []) if c in present] for k in ("counts", "values", "groups", "keys")}
    prop = roles.get("proportion")
    out["proportion"] = tuple(prop) if prop and all(c in present for c in prop) else None
    out["additive"] = [c for c in roles.get("additive", out["counts"]) if c in present]
    out["totals"] = {k: v for k, v in roles.get("totals", {}).items() if k in present}
    out["rule"] = roles.get("rule")
    sums = {k: v for k, v in (roles.get("sums") or {}).items() if k in present and all(c in present for c in v)}
    if sums:
        out["sums"] = sums
    return out


def column_roles(frame: pd.DataFrame) -> dict[str, str]:
    """One role per column for the manifest: ``count``, ``value``, ``group``, ``key`` or
    ``flag`` (the ``suppressed`` column), from the table's stated roles and its disclosure
    record (``count_columns``, ``value_columns``, ``group_columns``, ``key_columns``);
    columns without a stated role are ``label``.

    >>> t = with_roles(pd.DataFrame({"site": ["A"], "n": [12], "x": ["a"]}), counts=["n"], groups=["site"])
    >>> column_roles(t)
    {'site': 'group', 'n': 'count', 'x': 'label'}
    """
    roles = roles_of(frame) or {}
    record = frame.attrs.get("disclosure") if isinstance(frame.attrs.get("disclosure"), dict) else {}
    out = {}
    for column in frame.columns:
        name = str(column)
        if name in roles.get("counts", []) or name in record.get("count_columns", []):
            out[name] = "count"
        elif name in roles.get("values", []) or name in record.get("value_columns", []):
            out[name] = "value"
        elif name in roles.get("groups", []) or name in record.get("group_columns", []):
            out[name] = "group"
        elif name in roles.get("keys", []) or name in record.get("key_columns", []):
            out[name] = "key"
        elif name == "suppressed":
            out[name] = "flag"
        else:
            out[name] = "label"
    return out


def not_additive(frame: pd.DataFrame) -> list[str]:
    """The count columns that do not add up to the ``all`` row of the table's group columns
    (``additive`` leaves them out), for the manifest: the release ledger relates only the
    counts that add up.

    >>> t = with_roles(pd.DataFrame({"type": ["a", "b", "all"], "measures": [3, 4, 7], "households": [3, 3, 5]}),
    ...                counts=["measures", "households"], groups=["type"], additive=["measures"])
    >>> not_additive(t)
    ['households']
    """
    roles = roles_of(frame)
    if not roles or not roles.get("groups"):
        return []
    return [c for c in roles["counts"] if c not in roles.get("additive", roles["counts"])]
