"""Primary and secondary suppression of cells of long tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cohort.delivery.schema import ID_COLUMNS
from cohort.disclosure.policy import (
    DEFAULT_POLICY,
    SUPPRESSED,
    TOTAL,
    DisclosurePolicy,
    check_policy,
)
from cohort.exceptions import DisclosureError

#: Columns that are pseudonyms or row identifiers: never in a released table.
_ID_COLUMNS = ID_COLUMNS


def protect_cells(
    counts,
    relations=None,
    *,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    virtual=None,
    forced=None,
    public=None,
) -> np.ndarray:
    """Primary and secondary suppression of a set of cells; returns the suppressed mask.

    Parameters
    ----------
    counts : int array
        The unrounded count behind each cell (units, e.g. households).
    relations : tuple of (relation id array, cell index array), optional
        Membership of cells in linear relations such as ``total = sum(parts)``: each
        relation is one id, listed once per member cell.
    policy : DisclosurePolicy
    virtual : bool array, optional
        Cells that are not shown but follow from the others (for example "households with
        children" = registrations - registrations without children). They are never
        released, so they are unknowns; one that rests on too few units must not be the
        only unknown of a relation.
    forced : bool array, optional
        Shown cells that must be suppressed whatever their count, for instance cells an
        earlier release suppressed (releasing them now would reveal them). They count as
        protected cells in every relation.
    public : bool array, optional
        Cells the reader already knows, for instance cells an earlier release showed, or
        (with ``virtual``) values of an earlier release added to state a relation across
        releases. A public cell is never chosen as a secondary suppression and counts as
        known in every relation, even where primary suppression hides it in this table
        (the reader has it from the earlier release). A relation that is violated only
        because of public cells, with no shown non-public cell left to suppress, was
        revealed by the earlier release itself; it is left as it is.

    Rules: a shown cell below ``policy.threshold`` is suppressed (primary). Then, until
    nothing changes, every relation whose only unknown cell is suppressed or rests on too
    few units gets its smallest released cell suppressed too (secondary; ties: lowest
    index), so that no relation can be solved for a protected cell. This is the usual
    heuristic (each relation keeps zero or at least two unknowns); it does not solve
    systems of several relations at once.

    Returns
    -------
    bool array, True for suppressed cells (virtual cells are always False).

    Examples
    --------
    Total 25 over three sites 12, 9 and 4: the 9 and the 4 are small (primary); two
    unknowns, so the total may stay.

    >>> protect_cells([25, 12, 9, 4], (np.zeros(4, int), np.arange(4))).tolist()
    [False, False, True, True]

    Total 30 over 21 and 9: the 9 alone would follow from 30 - 21, so 21 goes too.

    >>> protect_cells([30, 21, 9], (np.zeros(3, int), np.arange(3))).tolist()
    [False, True, True]
    """
    policy = check_policy(policy)
    counts = np.asarray(counts)
    if counts.ndim != 1:
        raise DisclosureError("counts must be one-dimensional")
    if counts.dtype.kind == "f":
        if np.isnan(counts).any() or (counts != np.round(counts)).any():
            raise DisclosureError("counts must be whole numbers without missing values")
    elif counts.dtype.kind not in "iub":
        raise DisclosureError(f"counts must be whole numbers, got dtype {counts.dtype}")
    counts = counts.astype(np.int64)
    if (counts < 0).any():
        raise DisclosureError("counts must not be negative: a count of units is 0 or more")
    n = len(counts)
    virtual = np.zeros(n, dtype=bool) if virtual is None else np.asarray(virtual, dtype=bool)
    if virtual.shape != (n,):
        raise DisclosureError("virtual must be a boolean array as long as counts")
    forced = np.zeros(n, dtype=bool) if forced is None else np.asarray(forced, dtype=bool)
    public = np.zeros(n, dtype=bool) if public is None else np.asarray(public, dtype=bool)
    for label, mask in (("forced", forced), ("public", public)):
        if mask.shape != (n,):
            raise DisclosureError(f"{label} must be a boolean array as long as counts")
    if (forced & public).any():
        raise DisclosureError(
            "a cell cannot be both forced (suppressed earlier) and public (released earlier)"
        )
    if not policy.enabled:
        return np.zeros(n, dtype=bool)
    unsafe = counts < policy.threshold
    suppressed = (unsafe | forced) & ~virtual
    if relations is None:
        return suppressed
    rel, cell = (np.asarray(a, dtype=np.int64) for a in relations)
    if rel.shape != cell.shape or (len(cell) and (cell.min() < 0 or cell.max() >= n)):
        raise DisclosureError(
            "relations must be two equally long arrays of relation ids and cell indices"
        )
    if len(rel) == 0:
        return suppressed
    _, rel = np.unique(rel, return_inverse=True)
    n_rel = int(rel.max()) + 1
    # Relations that no suppression in this table can protect (all their shown cells are
    # public): the earlier release revealed them already.
    beyond_reach = np.zeros(n_rel, dtype=bool)
    # Each pass suppresses at least one more cell or sets relations aside, so there are
    # at most n + n_rel passes.
    for _ in range(n + n_rel + 1):
        known, derived_from = _derivable(suppressed, virtual, unsafe, rel, cell, n_rel, public)
        unknown_member = ~known[cell]
        n_unknown = np.bincount(rel, weights=unknown_member, minlength=n_rel)
        # A protected cell: suppressed, or not shown and resting on too few units.
        protected_member = unknown_member & (suppressed[cell] | unsafe[cell])
        violated = (
            (n_unknown == 1)
            & (np.bincount(rel, weights=protected_member, minlength=n_rel) == 1)
            & ~beyond_reach
        )
        if not violated.any():
            return suppressed
        shown_member = ~virtual[cell] & ~suppressed[cell] & ~public[cell]
        # Where the other cells of a violated relation are hidden but derivable, break the
        # relation they were derived from instead.
        has_shown = np.bincount(rel, weights=violated[rel] & shown_member, minlength=n_rel) > 0
        target = violated & has_shown
        via = (
            violated[rel]
            & ~has_shown[rel]
            & virtual[cell]
            & known[cell]
            & (derived_from[cell] >= 0)
        )
        target = target.copy()
        target[derived_from[cell[via]]] = True
        candidate = target[rel] & shown_member
        if not candidate.any():
            # Nothing this table shows can break them: set them aside and look again.
            beyond_reach |= violated
            continue
        c_rel, c_cell = rel[candidate], cell[candidate]
        order = np.lexsort((c_cell, counts[c_cell], c_rel))
        c_rel, c_cell = c_rel[order], c_cell[order]
        first = np.r_[True, c_rel[1:] != c_rel[:-1]]
        suppressed = suppressed.copy()
        suppressed[c_cell[first]] = True
    raise DisclosureError("secondary suppression did not settle")  # pragma: no cover


def _derivable(suppressed, virtual, unsafe, rel, cell, n_rel, public=None):
    """Which cells a reader knows: shown and public cells, and hidden safe cells that are
    the only unknown of some relation (repeatedly). Returns the known mask and, per derived
    cell, the relation it follows from (-1 otherwise)."""
    n = len(suppressed)
    known = ~suppressed & ~virtual
    if public is not None:
        known |= public
    derived_from = np.full(n, -1, dtype=np.int64)
    for _ in range(n + 1):
        unknown_member = ~known[cell]
        n_unknown = np.bincount(rel, weights=unknown_member, minlength=n_rel)
        solvable = (n_unknown == 1)[rel] & unknown_member & virtual[cell] & ~unsafe[cell]
        if not solvable.any():
            break
        new_cells, first = np.unique(cell[solvable], return_index=True)
        known = known.copy()
        known[new_cells] = True
        derived_from[new_cells] = rel[solvable][first]
    return known, derived_from


def margin_relations(
    table: pd.DataFrame, group_columns: Sequence[str], by: Sequence[str] = (), total: str = TOTAL
):
    """Relations ``total row = sum of the other rows`` of a long table, per group column.

    For each group column ``g``: the rows with the same ``by`` values and the same values
    in the other group columns form one relation when exactly one of them has ``g ==
    total``. Returns ``(relation ids, row positions)``.
    """
    rel_ids, rows = [], []
    offset = 0
    positions = np.arange(len(table))
    for g in group_columns:
        keys = [*by, *[c for c in group_columns if c != g]]
        is_total = (table[g].astype("string") == total).fillna(False).to_numpy(dtype=bool)
        if keys:
            group = table.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
        else:
            group = np.zeros(len(table), dtype=np.int64)
        if len(group) == 0:
            continue
        n_group = int(group.max()) + 1
        totals = np.bincount(group, weights=is_total, minlength=n_group)
        members = np.bincount(group, minlength=n_group)
        valid = (totals == 1) & (members >= 2)
        keep = valid[group]
        rel_ids.append(group[keep] + offset)
        rows.append(positions[keep])
        offset += n_group
    if not rel_ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rel_ids), np.concatenate(rows)


def apply_disclosure(
    table: pd.DataFrame,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    *,
    count_columns: Sequence[str] = ("count",),
    group_columns: Sequence[str] = (),
    by: Sequence[str] = (),
    value_columns: Sequence[str] = (),
    total: str = TOTAL,
    forced=None,
    public=None,
    sums=None,
) -> pd.DataFrame:
    """Apply disclosure control to a long table; return a new table.

    Parameters
    ----------
    table : DataFrame
        One row per cell of a released table; never changed.
    policy : DisclosurePolicy
        Default: threshold 10, no rounding. Pass ``NO_DISCLOSURE_CONTROL`` to switch off;
        the choice is recorded in ``result.attrs["disclosure"]``.
    count_columns : sequence of str
        Columns holding counts of units. Each count is a cell: below the threshold it is
        suppressed; released counts are rounded if the policy says so.
    group_columns : sequence of str
        Columns where the label ``total`` marks a row that totals the others (all sites,
        for instance); used for secondary suppression, per count column.
    by : sequence of str
        Columns that separate independent tables in the long table (indicator, interval).
    value_columns : sequence of str
        Columns derived from the counts (rates, shares, intervals): blanked in every row
        where a count is suppressed. When rounding, compute values from the rounded counts
        (as :func:`cohort.monitor.measures.evaluate` does); this function does not recompute them.
    forced, public : bool array, optional
        Cells suppressed, or released, by an earlier release of the same table (see
        :func:`protect_cells`): one flag per row (for every count column) or a 2-D array
        with one column per count column. Forced cells stay suppressed; public cells are
        never chosen as secondary suppressions and count as known to the reader.
    sums : mapping, optional
        Relations across the count columns of each row, ``{total: [parts]}`` (for
        instance ``rows_read = rows_accepted + rows_rejected``): protected like a margin,
        so a suppressed part never follows from its row's total and the other parts.

    Returns
    -------
    DataFrame with the count columns as ``Int64`` (``<NA>`` where suppressed), the value
    columns blanked where a count in the row is suppressed, and a boolean ``suppressed``
    column. ``attrs["disclosure"]`` records the policy and what was done.

    Raises
    ------
    DisclosureError
        On a column that is missing, or counts that are negative, fractional or missing.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["A", "B", "C", "all"], "count": [40, 7, 15, 62]})
    >>> out = apply_disclosure(t, count_columns=["count"], group_columns=["site"])
    >>> out[["site", "count", "suppressed"]]
      site  count  suppressed
    0    A     40       False
    1    B   <NA>        True
    2    C   <NA>        True
    3  all     62       False
    """
    policy = check_policy(policy)
    if not isinstance(table, pd.DataFrame):
        raise DisclosureError(f"apply_disclosure needs a DataFrame, got {type(table).__name__}")
    count_columns, group_columns, by, value_columns = (
        [count_columns] if isinstance(count_columns, str) else list(count_columns),
        [group_columns] if isinstance(group_columns, str) else list(group_columns),
        [by] if isinstance(by, str) else list(by),
        [value_columns] if isinstance(value_columns, str) else list(value_columns),
    )
    if not count_columns:
        raise DisclosureError("count_columns is empty: name the columns that hold counts")
    missing = [
        c for c in [*count_columns, *group_columns, *by, *value_columns] if c not in table.columns
    ]
    if missing:
        raise DisclosureError(f"table has no column(s) {', '.join(map(repr, missing))}")
    identifiers = [c for c in table.columns if c in _ID_COLUMNS]
    if identifiers:
        raise DisclosureError(
            f"table holds identifier column(s) {', '.join(identifiers)}: aggregate before release"
        )
    n = len(table)
    counts = []
    for c in count_columns:
        column = table[c]
        if column.isna().any():
            raise DisclosureError(
                f"column {c!r} has missing counts; a released count must be a number"
            )
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(
            column.dtype
        ):
            raise DisclosureError(
                f"column {c!r} must hold whole-number counts, got dtype {column.dtype}"
            )
        values = column.to_numpy(dtype=float)
        if (values != np.round(values)).any() or (values < 0).any():
            raise DisclosureError(f"column {c!r} must hold counts: whole numbers of 0 or more")
        counts.append(values.astype(np.int64))
    all_counts = np.concatenate(counts) if counts else np.zeros(0, np.int64)

    rel, pos = margin_relations(table, group_columns, by, total)
    n_rel = int(rel.max()) + 1 if len(rel) else 0
    # The same relations hold in every count column; cell = column index * n + row.
    rel_all = (
        np.concatenate([rel + k * n_rel for k in range(len(count_columns))]) if len(rel) else rel
    )
    cell_all = np.concatenate([pos + k * n for k in range(len(count_columns))]) if len(pos) else pos
    if sums:
        next_rel = int(rel_all.max()) + 1 if len(rel_all) else 0
        rows = np.arange(n)
        for total_col, parts in sums.items():  # a relation or two per table
            members = [total_col, *parts]
            missing = [c for c in members if c not in count_columns]
            if missing:
                raise DisclosureError(f"sums: {missing[0]!r} is not one of the count columns")
            for c in members:
                rel_all = np.r_[rel_all, next_rel + rows]
                cell_all = np.r_[cell_all, count_columns.index(c) * n + rows]
            next_rel += n
    suppressed_cells = protect_cells(
        all_counts,
        (rel_all, cell_all),
        policy=policy,
        forced=_cell_mask(forced, n, len(count_columns), "forced"),
        public=_cell_mask(public, n, len(count_columns), "public"),
    )

    out = table.copy()
    row_suppressed = np.zeros(n, dtype=bool)
    for k, c in enumerate(count_columns):
        mask = suppressed_cells[k * n : (k + 1) * n]
        released = policy.round_counts(counts[k])
        out[c] = pd.array(np.where(mask, 0, released), dtype="Int64")
        out.loc[mask, c] = pd.NA
        row_suppressed |= mask
    for c in value_columns:
        out[c] = out[c].astype("Float64") if pd.api.types.is_numeric_dtype(out[c].dtype) else out[c]
        out.loc[row_suppressed, c] = pd.NA
    out["suppressed"] = pd.array(row_suppressed, dtype="boolean")
    out.attrs = dict(table.attrs)
    out.attrs["disclosure"] = disclosure_record(
        policy,
        count_columns=count_columns,
        value_columns=value_columns,
        n_suppressed=int(suppressed_cells.sum()),
        key_columns=[c for c in by if c not in group_columns],
        group_columns=group_columns,
    )
    return out


def _cell_mask(mask, n_rows: int, n_columns: int, label: str):
    """A per-row or per-(row, count column) mask as one flag per cell, column by column."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.shape == (n_rows,):
        return np.tile(mask, n_columns)
    if mask.shape == (n_rows, n_columns):
        return mask.T.reshape(-1)
    raise DisclosureError(
        f"{label} must have one flag per row ({n_rows}) or per row and count column "
        f"({n_rows} x {n_columns}), got shape {mask.shape}"
    )


def disclosure_record(
    policy: DisclosurePolicy, *, count_columns, value_columns, n_suppressed: int, rule: str | None = None,
    key_columns=(), group_columns=(),
) -> dict:
    """What disclosure control did to a table, for ``attrs["disclosure"]`` and the manifest.

    ``rule`` names the rule of ``docs/definitions.md`` that protected the table (``cells``,
    ``curve``, ``model terms``, ...). ``key_columns`` and ``group_columns`` state the roles
    of the columns that identify a row (a curve's ``time``, a model's ``term``), so that
    every column of a released table has a stated role (:func:`cohort.roles.column_roles`).
    """
    record = policy.as_dict()
    record.update(
        applied=bool(policy.enabled),
        count_columns=list(count_columns),
        value_columns=list(value_columns),
        suppressed_cells=int(n_suppressed),
        marker=SUPPRESSED,
    )
    if key_columns:
        record["key_columns"] = list(key_columns)
    if group_columns:
        record["group_columns"] = list(group_columns)
    if rule:
        record["rule"] = rule
    if not policy.enabled:
        record["warning"] = "disclosure control switched off: not for release"
    return record


def combine_records(records) -> dict:
    """One disclosure record for tables released together (stacked rows of one table).

    Count and value columns are united in order, suppressed cells summed, the policy must be
    the same (else :class:`DisclosureError`), and ``applied`` holds only if it holds for
    every part.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> a = disclosure_record(DisclosurePolicy(), count_columns=["n"], value_columns=["x"], n_suppressed=2)
    >>> b = disclosure_record(DisclosurePolicy(), count_columns=["n", "m"], value_columns=[], n_suppressed=1)
    >>> r = combine_records([a, b])
    >>> r["count_columns"], r["value_columns"], r["suppressed_cells"]
    (['n', 'm'], ['x'], 3)
    """
    records = list(records)
    if not records:
        raise DisclosureError("no disclosure records to combine")
    for r in records:
        if not isinstance(r, dict) or "applied" not in r:
            raise DisclosureError(
                "a part has no disclosure record: every part of a combined table must have "
                "passed disclosure control"
            )
    policy_keys = ("threshold", "rounding", "enabled")
    first = {k: records[0].get(k) for k in policy_keys}
    for r in records[1:]:
        if {k: r.get(k) for k in policy_keys} != first:
            raise DisclosureError("parts released under different disclosure policies cannot be combined")
    out = dict(records[0])
    for key in ("count_columns", "value_columns", "key_columns", "group_columns"):
        merged = list(dict.fromkeys(c for r in records for c in r.get(key, [])))
        if merged or key in ("count_columns", "value_columns"):
            out[key] = merged
    out["suppressed_cells"] = int(sum(int(r.get("suppressed_cells", 0)) for r in records))
    out["applied"] = all(bool(r.get("applied")) for r in records)
    rules = [r.get("rule") for r in records if r.get("rule")]
    if rules:
        out["rule"] = " + ".join(dict.fromkeys(rules))
    return out


def concat(frames, **kwargs) -> pd.DataFrame:
    """``pd.concat`` of released tables that keeps their disclosure record and roles.

    ``pandas.concat`` drops ``attrs`` when the parts' attributes differ; this merges them
    (:func:`combine_records`) so a stacked table is still a released table, with every
    suppressed cell counted.

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["A", "all"], "n": [40, 43]})
    >>> a = apply_disclosure(t, count_columns=["n"])
    >>> b = apply_disclosure(t.assign(n=[2, 43]), count_columns=["n"])
    >>> out = concat([a.assign(part="a"), b.assign(part="b")], ignore_index=True)
    >>> out.attrs["disclosure"]["suppressed_cells"]
    1
    """
    frames = list(frames)
    out = pd.concat(frames, **kwargs)
    out.attrs = {}
    out.attrs["disclosure"] = combine_records([f.attrs.get("disclosure") for f in frames])
    roles = [f.attrs.get("roles") for f in frames if isinstance(f.attrs.get("roles"), dict)]
    if roles:
        merged = {k: list(dict.fromkeys(c for r in roles for c in r.get(k, []))) for k in ("counts", "values", "groups", "keys")}
        merged["proportion"] = roles[0].get("proportion")
        out.attrs["roles"] = merged
    return out
