"""Extra columns a delivery declares: ``columns.yaml`` next to its tables.

A column the data model does not name may hold numbers, yes/no values or nothing without
further ado (households keep it as a covariate, other tables ignore it). A column holding
**text** is refused by the identifier guard unless the delivery declares it: free text may
hold anything, and a pseudonymised delivery carries it only where it says so. The
declaration also fixes the column's type, so it is typed and checked like a column of the
data model::

    # columns.yaml
    households:
      severity:
        type: code
        values: [low, high]
        description: case severity at registration
      prior_reports: integer
    episodes:
      notes:
        type: text

Types: ``code`` (one of ``values``, or any single-line code when ``values`` is left out),
``text`` (free text: the only type whose values may span lines), ``integer``, ``number``,
``boolean`` (yes/no) and ``date``. Declared columns are optional and may be empty, are kept
in their table after loading, and are searched by the identifier guard like every other
column: declaring a column never lets an identifier through.

Examples
--------
>>> cols = parse_declarations({"households": {"severity": {"type": "code",
...                                                       "values": ["low", "high"]}}})
>>> [(c.name, c.kind, c.allowed) for c in cols["households"]]
[('severity', 'cat', ('low', 'high'))]
>>> parse_declarations({"households": {"site": "text"}})
Traceback (most recent call last):
...
cohort.exceptions.DeliveryError: columns.yaml: households.site is a column of the data model and cannot be declared (rule: declaration); remove it from columns.yaml
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cohort.delivery import schema
from cohort.exceptions import DeliveryError
from cohort.strict_yaml import load_yaml, short

#: The declarations file in a delivery folder.
DECLARATIONS_FILE = "columns.yaml"

#: Declared type -> column kind of :mod:`cohort.delivery.schema`.
TYPES = {
    "code": "cat",
    "text": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "date": "date",
}

_KEYS = ("type", "values", "description")


def normalise_column_name(name: object) -> str:
    """Return a header as a column name: trimmed, lower case, spaces as underscores.

    Examples
    --------
    >>> normalise_column_name("  Household ID ")
    'household_id'
    """
    return re.sub(r"\s+", "_", str(name).strip().lower())


def read_declarations(data: bytes, file: str = DECLARATIONS_FILE) -> dict[str, tuple]:
    """Parse the bytes of a ``columns.yaml``; return ``{table: (Column, ...)}``.

    Raises :class:`DeliveryError` naming the file, the table and column, and the rule.
    """
    values = load_yaml(data, source=file, error=DeliveryError)
    return parse_declarations(values, file)


def parse_declarations(values, file: str = DECLARATIONS_FILE) -> dict[str, tuple]:
    """Check parsed declarations; return ``{table: (Column, ...)}`` (every table present)."""
    from cohort.delivery.identifiers import is_safe_label

    out: dict[str, tuple] = {name: () for name in schema.TABLES}
    if values is None:
        return out
    if not isinstance(values, Mapping):
        raise DeliveryError(
            f"{file}: the file must map table names to their extra columns (rule: "
            "declaration); see docs/data-model.md"
        )
    for table, columns in values.items():
        if table not in schema.TABLES:
            shown = short(table, 40) if is_safe_label([table])[0] else "(not shown)"
            raise DeliveryError(
                f"{file}: {shown} is not a table of the data model (rule: declaration); "
                f"declare columns of {', '.join(schema.TABLES)}"
            )
        if columns is None:
            continue
        if not isinstance(columns, Mapping):
            raise DeliveryError(
                f"{file}: {table} must map column names to their type (rule: declaration)"
            )
        spec = schema.TABLES[table]
        declared = []
        for position, (raw_name, entry) in enumerate(columns.items(), start=1):
            if not isinstance(raw_name, str) or not raw_name.strip():
                raise DeliveryError(
                    f"{file}: {table}, declaration {position}: the column name must be text "
                    "(rule: declaration)"
                )
            if not is_safe_label([raw_name])[0]:
                raise DeliveryError(
                    f"{file}: {table}, declaration {position}: the column name looks like a "
                    "direct identifier and is not shown (rule: declaration); name columns by "
                    "what they hold"
                )
            name = normalise_column_name(raw_name)
            where = f"{table}.{name}"
            if name in spec.column_names:
                raise DeliveryError(
                    f"{file}: {where} is a column of the data model and cannot be declared "
                    "(rule: declaration); remove it from columns.yaml"
                )
            if any(c.name == name for c in declared):
                raise DeliveryError(f"{file}: {where} is declared twice (rule: declaration)")
            declared.append(_column(name, entry, file, where))
        out[table] = tuple(declared)
    return out


def _column(name: str, entry, file: str, where: str) -> schema.Column:
    if isinstance(entry, str):
        entry = {"type": entry}
    if not isinstance(entry, Mapping):
        raise DeliveryError(
            f"{file}: {where} must give a type (for example 'type: code') (rule: declaration)"
        )
    unknown = [k for k in entry if k not in _KEYS]
    if unknown:
        raise DeliveryError(
            f"{file}: {where} has unknown key {short(unknown[0], 30)} (rule: declaration); "
            f"known keys: {', '.join(_KEYS)}"
        )
    kind = entry.get("type")
    if kind not in TYPES:
        raise DeliveryError(
            f"{file}: {where}: type must be one of {', '.join(TYPES)}, got {short(kind, 30)} "
            "(rule: declaration)"
        )
    allowed = entry.get("values")
    if allowed is not None:
        if kind != "code":
            raise DeliveryError(
                f"{file}: {where}: 'values' is for columns of type code only (rule: declaration)"
            )
        if (
            not isinstance(allowed, list)
            or not allowed
            or not all(isinstance(v, str | int) and str(v).strip() for v in allowed)
        ):
            raise DeliveryError(
                f"{file}: {where}: 'values' must be a non-empty list of codes (rule: declaration)"
            )
        allowed = tuple(str(v).strip() for v in allowed)
        if len(set(allowed)) != len(allowed):
            raise DeliveryError(f"{file}: {where}: 'values' lists a code twice (rule: declaration)")
    description = entry.get("description") or ""
    if not isinstance(description, str):
        raise DeliveryError(f"{file}: {where}: 'description' must be text (rule: declaration)")
    return schema.Column(
        name,
        TYPES[kind],
        required=False,
        nullable=True,
        allowed=allowed,
        description=description,
        free_text=kind == "text",
        declared=True,
    )
