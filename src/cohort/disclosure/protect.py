"""Protecting a new release against itself and every earlier release: suppress until the
attack audit passes.

The release rules protect each table on its own, with a one-relation-at-a-time heuristic
(:func:`cohort.disclosure.cells.protect_cells`). What a reader can work out from *all*
released relations - this release's tables together, and every earlier release in the
ledger - only the attack audit (:mod:`cohort.disclosure.audit`) sees. A build therefore
protects its release in rounds (:func:`cohort.report.build.build_report`):

1. the notebooks run and release their tables through the gate;
2. the release is audited together with the ledger (:func:`cohort.disclosure.check.run_check`);
3. for the cells the audit finds unprotected, :func:`choose_suppressions` picks further
   cells of *this* release to suppress - never a cell an earlier release showed, which no
   new release can take back - and audits again in memory, until the audit passes;
4. the chosen cells, by file, row and column, are handed to the notebooks whose tables
   hold them (and those that show them), which run again: :meth:`Report.protect
   <cohort.report.notebook.Report.protect>` applies them after the release rule
   (:func:`apply_suppressions`), so the released files, the figures and the notebooks'
   displays show the same numbers;
5. the new release is audited again from its files; a bounded number of rounds, then the
   build fails with the findings.

How a cell is chosen (the rule of :func:`protect_cells
<cohort.disclosure.cells.protect_cells>`, over the audit's relations): for each unprotected
cell, in a fixed order, among the relations that pin it - those containing the cell
first; for a cell the audit names no pins for, the relations it takes part in - the
candidates are the counts this release shows that no earlier release showed,
at or above the threshold; the one chosen is a cell an earlier release suppressed if there
is one (suppressing it again reveals nothing new), else the smallest, ties by position. A
cell whose candidates include one already chosen in this round waits for the next audit.
Everything is ordered, so the same release and ledger give the same suppressions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cohort.disclosure.audit import LinearSystem, audit
from cohort.exceptions import DisclosureError

__all__ = [
    "SUPPRESSIONS",
    "Suppressions",
    "choose_suppressions",
    "apply_suppressions",
    "released_digest",
]

#: Name of the staged input that hands a build's further suppressions to its notebooks.
SUPPRESSIONS = "ledger-suppressions.json"

#: Rounds of choosing and auditing in memory before the build gives up.
MAX_ROUNDS = 40

_IDENTITY = ["quantity", "sites", "period_start", "period_end", "groups", "key"]


@dataclass
class Suppressions:
    """Further cells a release suppresses to protect itself, by file.

    ``cells``: file -> sorted ``(row, column)`` (row 1 = first data row); ``digests``:
    file -> sha256 of the file as its rule released it before these suppressions (a view
    of the same cells, made by a notebook that does not release them, is recognised by it).
    """

    cells: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(v) for v in self.cells.values())

    def files(self) -> list[str]:
        return sorted(f for f, v in self.cells.items() if v)

    def merge(self, other: Suppressions) -> Suppressions:
        cells = {f: sorted(set(map(tuple, self.cells.get(f, []))) | set(map(tuple, other.cells.get(f, []))))
                 for f in sorted(set(self.cells) | set(other.cells))}
        digests = {**other.digests, **self.digests}  # the first pass's digests stay
        return Suppressions({f: v for f, v in cells.items() if v}, digests)

    def as_json(self) -> str:
        data = {
            "files": {
                f: {"sha256": self.digests.get(f), "cells": [[int(r), str(c)] for r, c in self.cells[f]]}
                for f in self.files()
            }
        }
        return json.dumps(data, sort_keys=True, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Suppressions:
        data = json.loads(text)
        files = data.get("files") or {}
        return cls(
            {f: sorted((int(r), str(c)) for r, c in v.get("cells", [])) for f, v in files.items()},
            {f: v.get("sha256") for f, v in files.items() if v.get("sha256")},
        )

    def for_file(self, file: str | None, digest: str | None = None) -> list[tuple[int, str]]:
        """The cells to suppress in ``file``; without a file (a view), those of the file
        whose released digest is ``digest``."""
        if file is not None:
            return list(self.cells.get(file, []))
        if digest is None:
            return []
        out: list[tuple[int, str]] = []
        for f in self.files():
            if self.digests.get(f) == digest:
                out = sorted(set(out) | set(self.cells[f]))
        return out


def released_digest(frame: pd.DataFrame) -> str:
    """sha256 of a released table as the gate writes it (to recognise a view of it)."""
    from cohort.disclosure.writer import released_text

    text = released_text(frame).to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------
# Choosing
# --------------------------------------------------------------------------------------


@dataclass
class Choice:
    """What :func:`choose_suppressions` decided: ``suppressions`` (by file), the variables
    chosen, the rounds it took, the cells it could not protect (variable ids) and its
    ``stats``."""

    suppressions: Suppressions
    variables: list
    rounds: int
    unprotected: list
    stats: dict = field(default_factory=dict)


def _takes_part(rs, found) -> np.ndarray:
    """Unprotected cells this release takes part in: its own cell, or a relation with one
    of its cells among the pins (the others earlier releases gave away alone)."""
    v = rs.variables
    rel_new = rs.relations["new"].to_numpy(dtype=bool) if len(rs.relations) else np.zeros(0, bool)
    cells = found.unprotected.index.to_numpy()
    out = np.zeros(len(cells), dtype=bool)
    new = v["new"].to_numpy(dtype=bool)
    for i, cell in enumerate(cells):
        pins = list(found.pins.get(int(cell), ()))
        out[i] = bool(new[cell]) or (bool(rel_new[pins].any()) if pins else False)
    return cells[out]


def choose_suppressions(
    result,
    *,
    pairs: Mapping[str, Sequence[str]] | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> Choice:
    """Further cells of the new release to suppress until the audit passes, in memory.

    Parameters
    ----------
    result : cohort.disclosure.check.CheckResult
        A check of the new release with the audit (``system``, ``audit``, ``cells``).
    pairs : mapping, optional
        file -> the two count columns of a share (numerator and complement): suppressed
        together.
    max_rounds : int
        Audits in memory before giving up.

    Returns
    -------
    Choice
        ``unprotected`` lists the cells that no suppression in this release can protect
        (empty when the audit passes with the suppressions chosen).
    """
    rs, found = result.system, result.audit
    threshold = result.settings.policy.threshold
    width = result.settings.width
    empty = Choice(Suppressions(), [], 0, [], {})
    if rs is None or found is None:
        return empty
    v = rs.variables
    n = len(v)
    cells = result.cells
    index = pd.MultiIndex.from_frame(v[_IDENTITY].astype(str))
    var_of = index.get_indexer(pd.MultiIndex.from_frame(cells[_IDENTITY].astype(str)))
    new_cell = (cells["release"] == result.new_release).to_numpy()
    shown = ~cells["suppressed"].to_numpy(dtype=bool) & cells["value"].notna().to_numpy()
    earlier_shown = np.zeros(n, dtype=bool)
    earlier_hidden = np.zeros(n, dtype=bool)
    np.logical_or.at(earlier_shown, var_of[~new_cell & shown & (var_of >= 0)], True)
    np.logical_or.at(earlier_hidden, var_of[~new_cell & ~shown & (var_of >= 0)], True)
    value = v["value"].to_numpy(dtype=float)
    status = v["status"].to_numpy()
    candidate = (
        (status == "released")
        & v["new"].to_numpy(dtype=bool)
        & ~earlier_shown
        & (np.nan_to_num(value, nan=-1.0) >= threshold)
    )
    # the new release's occurrences of each variable, and the partners of a share's parts
    occ = cells.loc[new_cell, ["file", "row", "column"]].assign(var=var_of[new_cell])
    partner = _partners(occ, pairs or {})

    system = rs.system
    lower, upper, audited = system.lower.copy(), system.upper.copy(), system.audited.copy()
    member_rel, member_cell = system.rel, system.cell
    order_rel = np.argsort(member_rel, kind="mergesort")
    starts = np.searchsorted(member_rel[order_rel], np.arange(system.n_relations + 1))

    def members(rels) -> np.ndarray:
        if not len(rels):
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate([member_cell[order_rel[starts[r]:starts[r + 1]]] for r in rels]))

    # the relations each cell takes part in: where the audit names no pins (a cell decided by
    # bounds propagated through several relations), these are where its protection lies
    order_cell = np.argsort(member_cell, kind="mergesort")
    cell_starts = np.searchsorted(member_cell[order_cell], np.arange(n + 1))

    def relations_of(cell: int) -> list[int]:
        return sorted(set(member_rel[order_cell[cell_starts[cell]:cell_starts[cell + 1]]].tolist()))

    chosen_all: list[int] = []
    rounds = 0
    stats = {"audits": 0, "seconds": 0.0}
    current = found
    unfixable: list[int] = []
    while True:
        todo = _takes_part(rs, current)
        if not len(todo):
            break
        if rounds >= max_rounds:
            unfixable = [int(c) for c in todo]
            break
        rounds += 1
        chosen: list[int] = []
        chosen_set: set[int] = set()
        unfixable = []
        for cell in sorted(int(c) for c in todo):
            pins = list(current.pins.get(cell, ())) or relations_of(cell)
            near = [r for r in pins if cell in set(members([r]).tolist())]
            pick = None
            for pool_rels in (near, pins):
                pool = members(pool_rels)
                pool = pool[candidate[pool]]
                if len(pool):
                    if chosen_set.intersection(pool.tolist()):
                        pick = -1
                        break
                    key = np.lexsort((pool, value[pool], ~earlier_hidden[pool]))
                    pick = int(pool[key[0]])
                    break
            if pick is None:
                unfixable.append(cell)
            elif pick >= 0:
                group = [pick, *partner.get(pick, [])]
                for p in group:
                    if p not in chosen_set and candidate[p]:
                        chosen.append(p)
                        chosen_set.add(p)
        if not chosen:
            break
        for p in chosen:
            lower[p], upper[p], audited[p] = 0.0, np.inf, True
            candidate[p] = False
        chosen_all.extend(chosen)
        system = LinearSystem(lower.copy(), upper.copy(), system.rel, system.cell, system.coef,
                              system.rhs, audited.copy(), system.integer)
        rs = _with_system(rs, system, chosen)
        current = audit(system, threshold=threshold, width=width)
        stats["audits"] += 1
        stats["seconds"] += float(current.stats.get("seconds", 0.0))
    picked = np.isin(occ["var"].to_numpy(), np.asarray(chosen_all, dtype=np.int64))
    by_file: dict[str, set] = {}
    for file, row, column in occ.loc[picked, ["file", "row", "column"]].itertuples(index=False):
        by_file.setdefault(str(file), set()).add((int(row), str(column)))
    suppressions = Suppressions({f: sorted(c) for f, c in sorted(by_file.items())}, {})
    return Choice(suppressions, sorted(chosen_all), rounds, unfixable, stats)


def _with_system(rs, system, chosen):
    """``rs`` with the chosen variables suppressed (for the next round's bookkeeping)."""
    from cohort.disclosure.ledger import ReleaseSystem

    variables = rs.variables.copy()
    variables.loc[np.asarray(chosen, dtype=np.int64), "status"] = "suppressed"
    return ReleaseSystem(system, variables, rs.relations)


def _partners(occ: pd.DataFrame, pairs: Mapping[str, Sequence[str]]) -> dict[int, list[int]]:
    """Variable -> the variables of the other part of a share in the same row."""
    out: dict[int, list[int]] = {}
    if not pairs or occ.empty:
        return out
    by_cell = {(str(f), int(r), str(c)): int(var) for f, r, c, var in occ.itertuples(index=False)}
    for (f, r, c), var in by_cell.items():
        pair = list(pairs.get(f, ()))
        if c in pair and len(pair) == 2:
            other = by_cell.get((f, r, pair[1 - pair.index(c)]))
            if other is not None and other >= 0:
                out.setdefault(var, []).append(other)
    return out


# --------------------------------------------------------------------------------------
# Applying, in the notebook
# --------------------------------------------------------------------------------------


def apply_suppressions(frame: pd.DataFrame, cells: Sequence[tuple[int, str]]) -> pd.DataFrame:
    """Suppress further cells of a released table (after its release rule); a new table.

    ``cells`` are ``(row, column)`` (row 1 = first row). The count is blanked, and so are
    the other part of a share (``proportion`` in the disclosure record) and the row's
    value columns; the row is marked ``suppressed``; the disclosure record counts the cells
    (``suppressed_cells``, ``ledger_suppressed``) and names the rule (``+ ledger``).

    Raises
    ------
    DisclosureError
        The table carries no disclosure record, or a cell lies outside the table (the
        table changed since the cells were chosen).

    Examples
    --------
    >>> from cohort.disclosure.cells import apply_disclosure
    >>> t = apply_disclosure(pd.DataFrame({"site": ["A", "B", "all"], "n": [40, 30, 70],
    ...                                    "share": [0.57, 0.43, 1.0]}),
    ...                      count_columns=["n"], group_columns=["site"], value_columns=["share"])
    >>> out = apply_suppressions(t, [(2, "n")])
    >>> out[["site", "n", "share", "suppressed"]].values.tolist()
    [['A', 40, 0.57, False], ['B', <NA>, <NA>, True], ['all', 70, 1.0, False]]
    >>> out.attrs["disclosure"]["ledger_suppressed"], out.attrs["disclosure"]["rule"]
    (1, 'cells + ledger')
    """
    if not cells:
        return frame
    record = frame.attrs.get("disclosure")
    if not isinstance(record, dict) or "applied" not in record:
        raise DisclosureError(
            "further suppressions apply to released tables only; this table carries no "
            "disclosure record"
        )
    record = dict(record)
    counts = list(record.get("count_columns", []))
    values = list(record.get("value_columns", []))
    pair = list(record.get("proportion") or [])
    out = frame.copy()
    n = len(out)
    hide: dict[str, np.ndarray] = {}
    for row, column in cells:
        if column not in out.columns or not 1 <= int(row) <= n:
            raise DisclosureError(
                f"a further suppression (row {row}, column {column!r}) lies outside the table "
                f"({n} rows, columns {list(out.columns)}): the table changed since the build chose it"
            )
        group = [column, *(c for c in pair if c != column and c in out.columns)] if column in pair else [column]
        for c in group:
            hide.setdefault(c, np.zeros(n, dtype=bool))[int(row) - 1] = True
    newly = 0
    row_hidden = np.zeros(n, dtype=bool)
    for column, mask in hide.items():
        col = out[column]
        before = col.isna().to_numpy()
        newly += int((mask & ~before).sum())
        out[column] = _nullable(col).mask(mask)
        row_hidden |= mask
        if column not in counts and column not in values:
            values.append(column)
    for column in values:
        if column in out.columns and column not in hide:
            out[column] = _nullable(out[column]).mask(row_hidden)
    flag = out["suppressed"].fillna(False).to_numpy(dtype=bool) if "suppressed" in out.columns else np.zeros(n, bool)
    if "suppressed" in out.columns:
        out["suppressed"] = pd.array(flag | row_hidden, dtype="boolean")
    else:
        out["suppressed"] = pd.array(row_hidden, dtype="boolean")
    record["value_columns"] = values
    record["suppressed_cells"] = int(record.get("suppressed_cells", 0)) + newly
    record["ledger_suppressed"] = int(record.get("ledger_suppressed", 0)) + newly
    rule = record.get("rule") or "cells"
    record["rule"] = rule if rule.endswith("+ ledger") else f"{rule} + ledger"
    out.attrs = dict(frame.attrs)
    out.attrs["disclosure"] = record
    return out


def _nullable(col: pd.Series) -> pd.Series:
    """A column that can hold a missing value without changing what it shows."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("boolean")
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.astype("Int64")
    if pd.api.types.is_float_dtype(col.dtype):
        return col.astype("Float64")
    return col.astype(object)
