"""The attack audit: what a reader holding every released relation can infer about a cell.

A reader holds released cells (exact values, or intervals for rounded ones) and knows the
linear relations among all cells: margins and totals, relations between indicators,
differences across releases, the step arithmetic of curves. For every cell that is not
released (suppressed, or never shown but implied by the relations) the reader can work out
the interval

    ``[min x_j, max x_j]``  subject to  ``A x = b``,  ``lower <= x <= upper``,  ``x`` whole,

which is what ``sdcTable::attack`` and Statistics Norway's ``GaussSuppression``
(``ComputeIntervals``) compute by linear programming. :func:`audit` computes these
intervals with scipy's HiGHS solver and judges each against the protection range of
:func:`cohort.disclosure.policy.interval_protected`.

How the system is reduced before any linear program is solved
--------------------------------------------------------------
1. **Known cells are substituted** into the right-hand sides.
2. **Singleton elimination**: a relation with one unknown left determines it exactly;
   repeated until nothing changes (whole-array rounds, one per step of the longest chain).
   These cells are exact without any linear program; the chain of relations that
   determined each is kept, so a finding can say why.
3. **Connected components** of the remaining relation graph (cells linked by a shared
   relation, :func:`scipy.sparse.csgraph.connected_components`). A cell in no relation
   keeps its a-priori bounds.
4. **Certificates from feasible points**: a few linear programs over all components at
   once (minimise and maximise the sum of the unknowns, and ``samples`` random sign
   objectives) give whole-number feasible points; a cell whose values over these points
   already span the protection width is protected whatever its exact interval, and needs
   no linear program of its own.
5. **Batched exact bounds** for the cells left: components are independent, so one
   linear program minimising the *sum* of one target cell per component gives every
   target's minimum at once (and likewise the maximum). Each solution is also a feasible
   point that may certify further cells. With ``integer=True`` a target whose optimal
   point is not whole is solved again as an integer program (``scipy.optimize.milp``);
   on totally unimodular systems (two-dimensional tables, hierarchies, differences) the
   simplex optimum is whole and this never happens.

Complexity: steps 1-3 are ``O(nnz)`` per round of singleton elimination (rounds = the
longest chain). Step 4 solves ``2 + samples`` linear programs over the reduced system.
Step 5 solves ``2 R`` linear programs, ``R`` the largest number of uncertified cells in
one component, each over the components that still have such a cell. An unbounded
maximum is detected by a cap on every unknown (far above every known total of its
component) and reported as ``inf``.

When releases contradict each other (a revised delivery released the same cell with
another value), a component has no solution. The audit then **reconciles** it as a
reader would: the smallest total change of known values (an L1 linear program) that makes
it consistent is applied, the adjusted cells are reported in ``AuditResult.revised``, and
the intervals are computed on the reconciled system.

Examples
--------
A total of 30 over three parts, two released (12 and 11): the third is exactly 7.

>>> system = LinearSystem.from_relations(
...     lower=[30, 12, 11, 0], upper=[30, 12, 11, np.inf],
...     relations=[(0, 0, 1.0), (0, 1, -1.0), (0, 2, -1.0), (0, 3, -1.0)])
>>> result = audit(system, threshold=10)
>>> result.cells[["lower", "upper", "protected"]].reset_index().values.tolist()
[[3, 7.0, 7.0, False]]
>>> result.pins[3]
(0,)

Suppress 11 as well: the two unknowns share 18 and each lies in [0, 18].

>>> system = LinearSystem.from_relations(
...     lower=[30, 12, 0, 0], upper=[30, 12, np.inf, np.inf],
...     relations=[(0, 0, 1.0), (0, 1, -1.0), (0, 2, -1.0), (0, 3, -1.0)])
>>> audit(system, threshold=10, intervals="all").cells[["lower", "upper", "protected"]].values.tolist()
[[0.0, 18.0, True], [0.0, 18.0, True]]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, linprog, milp
from scipy.sparse.csgraph import connected_components

from cohort.disclosure.policy import interval_protected
from cohort.exceptions import DisclosureError

#: Numerical tolerance of whole numbers and of equalities (counts are whole numbers).
TOLERANCE = 1e-6

_INTERVALS = ("needed", "all")
#: Rounds of group pushes (two programs each) before cells are bounded one by one.
_GROUP_PUSHES = 12


@dataclass(frozen=True)
class LinearSystem:
    """Cells and the linear relations among them, as a reader holds them.

    Parameters
    ----------
    lower, upper : float arrays, one value per cell
        What the reader knows a priori: ``lower == upper`` for a released exact value, an
        interval for a rounded value, ``[0, inf]`` for a suppressed or never released count.
    rel, cell, coef : arrays of equal length
        The nonzeros of the relations ``sum(coef * x[cell]) = rhs[rel]``, relation ids
        ``0 .. n_relations - 1``.
    rhs : float array, one value per relation
    audited : bool array, optional
        Cells to judge (default: every cell whose value is not known exactly).
    integer : bool array, optional
        Cells that are whole numbers (default: all).
    """

    lower: np.ndarray
    upper: np.ndarray
    rel: np.ndarray
    cell: np.ndarray
    coef: np.ndarray
    rhs: np.ndarray
    audited: np.ndarray
    integer: np.ndarray

    @classmethod
    def from_relations(
        cls,
        lower,
        upper,
        relations: Iterable[tuple[int, int, float]] = (),
        rhs=None,
        audited=None,
        integer=None,
    ) -> LinearSystem:
        """Build a system from bounds and ``(relation, cell, coefficient)`` triples."""
        triples = np.asarray(list(relations), dtype=float).reshape(-1, 3)
        return cls.from_arrays(
            lower,
            upper,
            triples[:, 0].astype(np.int64),
            triples[:, 1].astype(np.int64),
            triples[:, 2],
            rhs=rhs,
            audited=audited,
            integer=integer,
        )

    @classmethod
    def from_arrays(
        cls, lower, upper, rel, cell, coef, rhs=None, audited=None, integer=None
    ) -> LinearSystem:
        """Build and check a system from arrays (see the class parameters)."""
        lower = np.asarray(lower, dtype=float).copy()
        upper = np.asarray(upper, dtype=float).copy()
        n = len(lower)
        if lower.shape != (n,) or upper.shape != (n,):
            raise DisclosureError("lower and upper must be one value per cell")
        if np.isnan(lower).any() or np.isnan(upper).any() or (upper < lower).any():
            raise DisclosureError("every cell needs bounds lower <= upper (no missing values)")
        if np.isinf(lower).any():
            raise DisclosureError("lower bounds must be finite (counts are 0 or more)")
        rel = np.asarray(rel, dtype=np.int64).copy()
        cell = np.asarray(cell, dtype=np.int64).copy()
        coef = np.asarray(coef, dtype=float).copy()
        if not (rel.shape == cell.shape == coef.shape) or rel.ndim != 1:
            raise DisclosureError("rel, cell and coef must be equally long one-dimensional arrays")
        if len(cell) and (cell.min() < 0 or cell.max() >= n or rel.min() < 0):
            raise DisclosureError("relations refer to cells or relations that do not exist")
        m = int(rel.max()) + 1 if len(rel) else 0
        rhs = np.zeros(m) if rhs is None else np.asarray(rhs, dtype=float).copy()
        if len(rhs) < m:
            raise DisclosureError(f"rhs has {len(rhs)} values for {m} relations")
        known = lower == upper
        audited = ~known if audited is None else np.asarray(audited, dtype=bool).copy()
        integer = np.ones(n, dtype=bool) if integer is None else np.asarray(integer, dtype=bool)
        if audited.shape != (n,) or integer.shape != (n,):
            raise DisclosureError("audited and integer must be one flag per cell")
        return cls(lower, upper, rel, cell, coef, rhs, audited, integer.copy())

    @property
    def n_cells(self) -> int:
        return len(self.lower)

    @property
    def n_relations(self) -> int:
        return len(self.rhs)

    def matrix(self) -> sp.csr_matrix:
        """The relations as a sparse ``n_relations x n_cells`` matrix (duplicates summed)."""
        return sp.csr_matrix(
            (self.coef, (self.rel, self.cell)), shape=(self.n_relations, self.n_cells)
        )


@dataclass
class AuditResult:
    """What :func:`audit` found.

    Attributes
    ----------
    cells : DataFrame
        One row per audited cell (index ``cell``): ``lower``, ``upper`` (the interval a
        reader can infer; ``inf`` when unbounded), ``exact`` (``False``: the interval shown
        is only proven feasible, the reader's interval is at least this wide), ``method``
        (``known``, ``bounds``, ``singleton``, ``lp``, ``milp``, ``sample``) and
        ``protected``.
    pins : dict
        For every unprotected cell, the relation ids that pin its interval (the relations
        with a nonzero dual in its bounding linear programs, and the chain of relations
        that determined the cells they use).
    inconsistent : ndarray
        Relations that the known values contradict (dropped before the audit).
    revised : DataFrame
        Cells whose known values were adjusted to reconcile contradicting releases
        (columns ``cell``, ``adjustment``).
    stats : dict
        Sizes and timings: cells, unknowns, relations, components, linear programs solved.
    """

    cells: pd.DataFrame
    pins: dict
    inconsistent: np.ndarray
    revised: pd.DataFrame
    stats: dict = field(default_factory=dict)

    @property
    def unprotected(self) -> pd.DataFrame:
        """The audited cells that are not protected."""
        return self.cells[~self.cells["protected"].to_numpy(dtype=bool)]


class _Solver:
    """Batched linear programs over the reduced system; counts what it solves."""

    def __init__(self, A: sp.csr_matrix, b, lower, upper, integer):
        self.A = A.tocsr()
        self.Ac = A.tocsc()
        self.b = b
        self.lower = lower
        self.upper = upper
        self.integer = integer
        self.n_lp = 0
        self.n_milp = 0

    def solve(self, c, rows, cols, *, whole=False):
        """Minimise ``c @ x[cols]`` s.t. the relations ``rows``; return (status, x, duals)."""
        A = self.A[rows][:, cols]
        bounds = np.column_stack([self.lower[cols], self.upper[cols]])
        if whole:
            self.n_milp += 1
            res = milp(
                c,
                integrality=self.integer[cols].astype(np.int64),
                bounds=(bounds[:, 0], bounds[:, 1]),
                constraints=LinearConstraint(A, self.b[rows], self.b[rows]),
                options={"presolve": True},
            )
            status = {0: 0, 2: 2, 3: 3}.get(res.status, 4)
            return status, res.x, None
        self.n_lp += 1
        res = linprog(
            c, A_eq=A, b_eq=self.b[rows], bounds=bounds, method="highs-ds"
        )
        duals = res.eqlin.marginals if res.status == 0 else None
        return res.status, res.x, duals


def audit(
    system: LinearSystem,
    *,
    threshold: int,
    width: int | None = None,
    intervals: str = "needed",
    integer: bool = True,
    samples: int = 4,
    seed: int = 0,
) -> AuditResult:
    """Compute, for every audited cell, the interval a reader can infer, and judge it.

    Parameters
    ----------
    system : LinearSystem
    threshold : int
        The disclosure threshold: a cell known to be at least this large is not at risk.
    width : int, optional
        The protection width (default ``threshold``): see
        :func:`cohort.disclosure.policy.interval_protected`.
    intervals : {"needed", "all"}
        ``"needed"``: exact intervals only where the protection judgement needs them (a
        cell proven protected by feasible points keeps the proven, narrower interval with
        ``exact = False``). ``"all"``: exact intervals for every audited cell.
    integer : bool
        Use that counts are whole numbers (integer programs where the linear optimum is
        not whole). ``False`` gives the linear-programming bounds of ``sdcTable::attack``.
    samples : int
        Random objectives solved for certificates (step 4 of the module docstring).
    seed : int
        Seed of those objectives: same system, same result.

    Returns
    -------
    AuditResult

    Raises
    ------
    DisclosureError
        On a bad system or option, or when the solver fails.
    """
    if intervals not in _INTERVALS:
        raise DisclosureError(f"intervals must be one of {', '.join(_INTERVALS)}, got {intervals!r}")
    if not isinstance(threshold, int | np.integer) or threshold < 1:
        raise DisclosureError(f"threshold must be a whole number of at least 1, got {threshold!r}")
    width = threshold if width is None else width
    if not isinstance(width, int | np.integer) or width < 0:
        raise DisclosureError(f"width must be a whole number of 0 or more, got {width!r}")
    started = time.perf_counter()
    n, m = system.n_cells, system.n_relations
    A = system.matrix()
    A.eliminate_zeros()
    lower, upper = system.lower.copy(), system.upper.copy()
    whole = system.integer & integer
    known = lower == upper
    value = np.where(known, lower, np.nan)
    r = system.rhs - A[:, known] @ lower[known]
    alive = np.ones(m, dtype=bool)
    determined_by = np.full(n, -1, dtype=np.int64)
    inconsistent: list[np.ndarray] = []
    Ac = A.tocsc()
    unknown = ~known
    # Unknown nonzeros per relation, kept up to date as cells become known.
    pattern = A.copy()
    pattern.data = np.ones_like(pattern.data)
    n_unknown = np.asarray(pattern[:, unknown].sum(axis=1)).ravel()

    # --- 2. singleton elimination: a relation with one unknown determines it --------------
    while True:
        single = np.flatnonzero(alive & (n_unknown == 1))
        if not len(single):
            break
        sub = A[single][:, unknown]
        coo = sub.tocoo()
        cols = np.flatnonzero(unknown)[coo.col]
        rows = single[coo.row]
        vals = r[rows] / coo.data
        order = np.lexsort((rows, cols))
        cols, rows, vals = cols[order], rows[order], vals[order]
        first = np.r_[True, cols[1:] != cols[:-1]]
        cells, rels, values = cols[first], rows[first], vals[first]
        ok = (values >= lower[cells] - TOLERANCE) & (values <= upper[cells] + TOLERANCE)
        ok &= ~whole[cells] | (np.abs(values - np.round(values)) <= TOLERANCE)
        if not ok.all():
            # Known values contradict a relation: drop it and look again.
            inconsistent.append(rels[~ok])
            alive[rels[~ok]] = False
            continue
        values = np.where(whole[cells], np.round(values), values)
        value[cells] = values
        determined_by[cells] = rels
        known[cells] = True
        unknown[cells] = False
        alive[rels] = False
        r = r - Ac[:, cells] @ values
        n_unknown = n_unknown - np.asarray(pattern[:, cells].sum(axis=1)).ravel()
        # Other relations left without unknowns must hold; those that do not are dropped.
        empty = alive & (n_unknown == 0)
        bad = empty & (np.abs(r) > TOLERANCE * np.maximum(1.0, np.abs(system.rhs)))
        if bad.any():
            inconsistent.append(np.flatnonzero(bad))
        alive &= ~empty
    empty = alive & (n_unknown == 0)
    bad = empty & (np.abs(r) > TOLERANCE * np.maximum(1.0, np.abs(system.rhs)))
    if bad.any():
        inconsistent.append(np.flatnonzero(bad))
    alive &= ~empty

    # --- 3. components of what is left --------------------------------------------------
    rows = np.flatnonzero(alive)
    cols = np.flatnonzero(unknown)
    red = A[rows][:, cols]
    n_comp, comp = _components(red)
    col_comp = comp[len(rows) :]
    row_comp = comp[: len(rows)]
    in_relation = np.asarray(abs(red).sum(axis=0)).ravel() > 0

    out_lo = np.where(known, value, lower)
    out_hi = np.where(known, value, upper)
    exact = known.copy()
    method = np.where(known, np.where(determined_by >= 0, "singleton", "known"), "bounds")
    method = method.astype(object)
    pins_cell = np.zeros(0, dtype=np.int64)
    pins_rel = np.zeros(0, dtype=np.int64)
    revised_cells: list[np.ndarray] = []
    revised_values: list[np.ndarray] = []

    stats = {
        "cells": n,
        "relations": m,
        "known": int((system.lower == system.upper).sum()),
        "singleton": int((determined_by >= 0).sum()),
        "unknown_in_relations": int(in_relation.sum()),
        "relations_left": len(rows),
        "components": 0,
        "lp": 0,
        "milp": 0,
    }

    if len(rows) and in_relation.any():
        lp_cols = cols[in_relation]
        sub_cols = np.flatnonzero(in_relation)
        comp_of = col_comp[sub_cols]
        # Renumber components to those with unknowns in relations.
        uniq, comp_of = np.unique(comp_of, return_inverse=True)
        remap = np.full(n_comp, -1, dtype=np.int64)
        remap[uniq] = np.arange(len(uniq))
        row_comp = remap[row_comp]
        k = len(uniq)
        stats["components"] = int(k)
        A_red = red[:, sub_cols].tocsr()
        b_red = r[rows].copy()
        lo_red = lower[lp_cols].copy()
        hi_red = upper[lp_cols].copy()
        cap = _caps(A_red, b_red, lo_red, hi_red, comp_of, row_comp, k, width)
        hi_capped = np.minimum(hi_red, cap[comp_of])
        solver = _Solver(A_red, b_red, lo_red, hi_capped, whole[lp_cols])
        solver.upper_raw = hi_red
        # Known cells in the relations left, for reconciliation.
        known_in = A[rows][:, np.flatnonzero(known)].tocsc()
        feasible, adjust = _feasible_points(
            solver, comp_of, row_comp, k, samples, seed, known_in, whole[lp_cols]
        )
        if adjust is not None:
            cells_adj, delta = adjust
            known_idx = np.flatnonzero(known)[cells_adj]
            revised_cells.append(known_idx)
            revised_values.append(delta)
            solver.b = b_red - known_in[:, cells_adj] @ delta
            feasible, _ = _feasible_points(
                solver, comp_of, row_comp, k, samples, seed, None, whole[lp_cols]
            )
        inner_lo, inner_hi = feasible
        # outer bounds by propagating every relation's bounds (whole-array rounds)
        outer_lo, outer_hi, src_lo, src_hi = _propagate(
            A_red, solver.b, lo_red, hi_red, whole[lp_cols]
        )
        outer_lo = np.minimum(outer_lo, inner_lo)  # guard against rounding of huge totals
        outer_hi = np.maximum(outer_hi, inner_hi)
        solver.lower = np.maximum(solver.lower, outer_lo)
        solver.upper = np.minimum(solver.upper, np.where(np.isfinite(outer_hi), outer_hi, np.inf))
        audited_red = system.audited[lp_cols]
        lo_ex = np.full(len(lp_cols), np.nan)
        hi_ex = np.full(len(lp_cols), np.nan)
        how = np.full(len(lp_cols), "sample", dtype=object)
        w_red = whole[lp_cols]
        pin_t: list[np.ndarray] = []
        pin_r: list[np.ndarray] = []
        # decided without a program of their own: exact by propagation, certainly
        # unprotected (the outer interval already fails), or certainly at or above threshold
        pinned = outer_hi - outer_lo <= TOLERANCE
        fails = ~interval_protected(outer_lo, outer_hi, threshold, width)
        high = outer_lo >= threshold - 1e-9
        decided = pinned | fails | high
        lo_ex[pinned] = outer_lo[pinned]
        hi_ex[pinned] = outer_hi[pinned]
        how[decided] = "propagation"
        for src in (src_lo, src_hi):
            take = decided & (src >= 0)
            pin_t.append(np.flatnonzero(take))
            pin_r.append(rows[src[take]])

        def certified():
            return interval_protected(inner_lo, inner_hi, threshold, width)

        todo = audited_red.copy()
        if intervals == "needed":
            todo &= ~certified() & ~decided
            # cells without an upper bound: a ray (A d = 0, d >= 0, zero on bounded cells)
            # that raises them; one program finds many at once
            unbounded = _unbounded(solver, todo & np.isinf(hi_red))
            inner_hi[unbounded] = np.inf
            todo &= ~certified()
            # group pushes: raise all undecided cells at once with random positive weights
            # (each relation's mass goes to its heaviest cell, a different one each time), and
            # lower them all; each solution is a feasible point that may certify many
            rng = np.random.default_rng(seed + 1)
            all_r, all_c = np.arange(len(b_red)), np.arange(len(lp_cols))
            for push in range(_GROUP_PUSHES):
                before = int(todo.sum())
                if not before:
                    break
                weights = rng.uniform(0.5, 1.5, size=len(lp_cols))
                objectives = [np.where(todo, -weights, 0.0)]
                if push == 0:
                    objectives.append(np.where(todo, 1.0, 0.0))
                for c in objectives:
                    status, x, _ = solver.solve(c, all_r, all_c)
                    if status == 0:
                        _update_points(inner_lo, inner_hi, x, all_c, w_red, comp_of, k)
                todo &= ~certified()
                if todo.sum() > 0.95 * before:
                    break
        while todo.any():
            # one target per component: the lowest-numbered cell still to do
            cand = np.flatnonzero(todo)
            _, first = np.unique(comp_of[cand], return_index=True)
            targets = cand[first]
            target_of = np.full(k, -1, dtype=np.int64)
            target_of[comp_of[targets]] = targets
            active = target_of >= 0
            sub_c = np.flatnonzero(active[comp_of])
            sub_r = np.flatnonzero(active[row_comp])
            pos = np.searchsorted(sub_c, targets)
            for sign, store in ((1.0, lo_ex), (-1.0, hi_ex)):
                c = np.zeros(len(sub_c))
                c[pos] = sign
                status, x, duals = solver.solve(c, sub_r, sub_c)
                if status != 0:
                    raise DisclosureError(
                        f"the attack audit could not solve a linear program (status {status}); "
                        "this is a bug, please report it with the ledger"
                    )
                frac = _fractional_components(x, w_red[sub_c], comp_of[sub_c], k)
                if frac.any():
                    # the linear optimum is not whole there: solve those as integer programs
                    sub_c2 = sub_c[frac[comp_of[sub_c]]]
                    sub_r2 = sub_r[frac[row_comp[sub_r]]]
                    t2 = target_of[frac & active]
                    c2 = np.zeros(len(sub_c2))
                    c2[np.searchsorted(sub_c2, t2)] = sign
                    status2, x2, _ = solver.solve(c2, sub_r2, sub_c2, whole=True)
                    if status2 == 0:
                        x = x.copy()
                        x[np.searchsorted(sub_c, sub_c2)] = x2
                        how[t2] = "milp"
                store[targets] = x[pos]
                _update_points(inner_lo, inner_hi, x, sub_c, w_red, comp_of, k)
                if duals is not None:
                    hit = sub_r[np.abs(duals) > 1e-9]
                    pin_t.append(target_of[row_comp[hit]])
                    pin_r.append(rows[hit])
            how[targets[how[targets] != "milp"]] = "lp"
            todo[targets] = False
            if intervals == "needed":
                todo &= ~certified()
        done = ~np.isnan(lo_ex)
        outer = ~done & decided & ~certified()
        lo_fin = np.where(done, lo_ex, np.where(outer, outer_lo, inner_lo))
        hi_fin = np.where(done, hi_ex, np.where(outer, outer_hi, inner_hi))
        how[~done & ~outer] = "sample"
        done |= ~done & (inner_lo == outer_lo) & (inner_hi == outer_hi)
        at_cap = hi_fin >= cap[comp_of] * (1 - 1e-9)
        hi_fin = np.where(at_cap & np.isinf(hi_red), np.inf, hi_fin)
        lo_fin = np.where(w_red, np.ceil(lo_fin - TOLERANCE), lo_fin)
        hi_fin = np.where(w_red & np.isfinite(hi_fin), np.floor(hi_fin + TOLERANCE), hi_fin)
        out_lo[lp_cols] = lo_fin
        out_hi[lp_cols] = hi_fin
        exact[lp_cols] = done
        method[lp_cols] = how
        stats["lp"] = solver.n_lp
        stats["milp"] = solver.n_milp
        if pin_t:
            # relations a program's duals name, or that set a propagated bound
            pins_cell = lp_cols[np.concatenate(pin_t).astype(np.int64)]
            pins_rel = np.concatenate(pin_r)

    audited = np.flatnonzero(system.audited)
    lo_a, hi_a = out_lo[audited] + 0.0, out_hi[audited] + 0.0  # no negative zeros
    protected = interval_protected(lo_a, hi_a, threshold, width)
    # the a-priori bounds of a cell in no relation are exact
    exact_a = exact[audited] | (method[audited] == "bounds")
    cells = pd.DataFrame(
        {
            "lower": lo_a,
            "upper": hi_a,
            "exact": exact_a,
            "method": method[audited],
            "protected": protected,
        },
        index=pd.Index(audited, name="cell"),
    )
    pins = _pins(audited[~protected], pins_cell, pins_rel, determined_by, A)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    revised = pd.DataFrame(
        {
            "cell": np.concatenate(revised_cells) if revised_cells else np.zeros(0, np.int64),
            "adjustment": np.concatenate(revised_values) if revised_values else np.zeros(0),
        }
    )
    inconsistent_rel = (
        np.unique(np.concatenate(inconsistent)) if inconsistent else np.zeros(0, np.int64)
    )
    return AuditResult(cells, pins, inconsistent_rel, revised, stats)


def _propagate(A: sp.csr_matrix, b, lower, upper, whole, rounds: int = 50):
    """Outer bounds of every cell from the bounds of the others, relation by relation.

    For relation ``sum_k a_k x_k = b``: ``a_j x_j = b - sum_{k != j} a_k x_k``, whose range
    follows from the other cells' bounds. Repeated (whole-array rounds over all nonzeros)
    until nothing tightens. Returns the bounds and, per cell, the relation that set its
    lower and its upper bound (-1: its own).
    """
    coo = A.tocoo()
    i, j, a = coo.row, coo.col, coo.data
    lo, hi = lower.astype(float).copy(), upper.astype(float).copy()
    m = A.shape[0]
    src_lo = np.full(len(lo), -1, dtype=np.int64)
    src_hi = np.full(len(lo), -1, dtype=np.int64)
    pos = a > 0
    for _ in range(rounds):
        with np.errstate(invalid="ignore"):
            t_lo = np.where(pos, a * lo[j], a * hi[j])
            t_hi = np.where(pos, a * hi[j], a * lo[j])
        ninf = np.isneginf(t_lo) | np.isnan(t_lo)
        pinf = np.isposinf(t_hi) | np.isnan(t_hi)
        s_lo = np.bincount(i, weights=np.where(ninf, 0.0, t_lo), minlength=m)
        s_hi = np.bincount(i, weights=np.where(pinf, 0.0, t_hi), minlength=m)
        n_ninf = np.bincount(i, weights=ninf, minlength=m)
        n_pinf = np.bincount(i, weights=pinf, minlength=m)
        rest_lo = s_lo[i] - np.where(ninf, 0.0, t_lo)
        rest_hi = s_hi[i] - np.where(pinf, 0.0, t_hi)
        rest_lo_inf = (n_ninf[i] - ninf) > 0
        rest_hi_inf = (n_pinf[i] - pinf) > 0
        ax_lo = np.where(rest_hi_inf, -np.inf, b[i] - rest_hi)
        ax_hi = np.where(rest_lo_inf, np.inf, b[i] - rest_lo)
        x_lo = np.where(pos, ax_lo / a, ax_hi / a)
        x_hi = np.where(pos, ax_hi / a, ax_lo / a)
        w = whole[j]
        x_lo = np.where(w & np.isfinite(x_lo), np.ceil(x_lo - TOLERANCE), x_lo)
        x_hi = np.where(w & np.isfinite(x_hi), np.floor(x_hi + TOLERANCE), x_hi)
        new_lo, new_hi = lo.copy(), hi.copy()
        np.maximum.at(new_lo, j, x_lo)
        np.minimum.at(new_hi, j, x_hi)
        up = new_lo > lo + TOLERANCE
        down = new_hi < hi - TOLERANCE
        if not (up.any() or down.any()):
            break
        with np.errstate(invalid="ignore"):
            set_lo = up[j] & (np.abs(x_lo - new_lo[j]) <= TOLERANCE)
            set_hi = down[j] & (np.abs(x_hi - new_hi[j]) <= TOLERANCE)
        src_lo[j[set_lo]] = i[set_lo]
        src_hi[j[set_hi]] = i[set_hi]
        lo, hi = new_lo, new_hi
    hi = np.maximum(hi, lo)  # an inconsistent remainder is left to the programs
    return lo, hi, src_lo, src_hi


def _unbounded(solver: _Solver, targets: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Which of ``targets`` have no upper bound: some ray of the feasible set raises them.

    Maximise the sum of ``d`` over targets not yet found, with ``A d = 0``,
    ``0 <= d <= 1`` on cells without an upper bound and ``d = 0`` on the others; a target
    with ``d > 0`` is unbounded (the feasible set is not empty: it has a point).
    """
    found = np.zeros(len(targets), dtype=bool)
    free = np.isinf(solver.upper_raw)
    if not (targets & free).any():
        return found
    n = len(targets)
    rows = np.arange(solver.A.shape[0])
    for _ in range(rounds):
        left = targets & free & ~found
        if not left.any():
            break
        solver.n_lp += 1
        res = linprog(
            np.where(left, -1.0, 0.0),
            A_eq=solver.A,
            b_eq=np.zeros(len(rows)),
            bounds=np.column_stack([np.zeros(n), np.where(free, 1.0, 0.0)]),
            method="highs-ds",
        )
        if res.status != 0:
            break
        new = left & (res.x > 1e-7)
        if not new.any():
            break
        found |= new
    return found


def _components(red: sp.csr_matrix) -> tuple[int, np.ndarray]:
    """Connected components of the bipartite graph rows x columns of ``red``.

    Returns the number of components and a label per node: rows first, then columns.
    """
    n_r, n_c = red.shape
    coo = red.tocoo()
    graph = sp.coo_matrix(
        (np.ones(len(coo.row)), (coo.row, n_r + coo.col)), shape=(n_r + n_c, n_r + n_c)
    )
    return connected_components(graph, directed=False)


def _caps(A, b, lo, hi, comp_of, row_comp, k, width) -> np.ndarray:
    """A finite upper bound per component, far above anything its known values imply."""
    total = np.bincount(row_comp, weights=np.abs(b), minlength=k)
    finite = np.where(np.isfinite(hi), hi, 0.0) + np.abs(lo)
    total += np.bincount(comp_of, weights=finite, minlength=k)
    return 10.0 * (total + 1.0) + 10.0 * width + 100.0


def _fractional_components(x, whole, comp, k) -> np.ndarray:
    """Components whose solution ``x`` has a cell that should be whole but is not."""
    # the solver's tolerances are absolute and relative: allow both
    frac = whole & (np.abs(x - np.round(x)) > TOLERANCE * np.maximum(1.0, np.abs(x)))
    return np.bincount(comp[frac], minlength=k) > 0


def _update_points(inner_lo, inner_hi, x, sub_c, whole, comp_of, k) -> None:
    """Widen the proven-feasible intervals with a solution's whole-number components."""
    frac = _fractional_components(x, whole[sub_c], comp_of[sub_c], k)
    use = ~frac[comp_of[sub_c]]
    idx = sub_c[use]
    xv = np.round(x[use])
    inner_lo[idx] = np.minimum(inner_lo[idx], xv)
    inner_hi[idx] = np.maximum(inner_hi[idx], xv)


def _feasible_points(solver, comp_of, row_comp, k, samples, seed, known_in, whole):
    """Feasible points from a few objectives; reconcile infeasible components first.

    Returns ``((inner_lo, inner_hi), adjust)`` where ``adjust`` is ``None`` or the known
    cells' adjustments ``(cell positions in known_in, deltas)`` that made every component
    feasible (the caller re-runs with them applied).
    """
    n = len(comp_of)
    all_c = np.arange(n)
    all_r = np.arange(solver.A.shape[0])
    rng = np.random.default_rng(seed)
    objectives = [np.ones(n), -np.ones(n)] + [
        rng.choice([-1.0, 1.0], size=n) for _ in range(samples)
    ]
    inner_lo = np.full(n, np.inf)
    inner_hi = np.full(n, -np.inf)
    for i, c in enumerate(objectives):
        status, x, _ = solver.solve(c, all_r, all_c)
        if status == 2 and i == 0 and known_in is not None:
            return (inner_lo, inner_hi), _reconcile(solver, comp_of, row_comp, k, known_in)
        if status != 0:
            raise DisclosureError(
                f"the attack audit could not find a feasible point (status {status}); the "
                "released values contradict each other in a way reconciliation did not resolve"
            )
        _update_points(inner_lo, inner_hi, x, all_c, whole, comp_of, k)
    # A component whose points were all fractional has no certificate yet: width 0.
    none = np.isinf(inner_lo)
    inner_lo[none] = 0.0
    inner_hi[none] = 0.0
    return (inner_lo, inner_hi), None


def _reconcile(solver, comp_of, row_comp, k, known_in: sp.csc_matrix):
    """The smallest L1 change of known values that makes the reduced system feasible.

    Variables: the unknowns (with their bounds) and, per known cell in the relations, a
    positive and a negative adjustment. Minimise the sum of adjustments.
    """
    n = solver.A.shape[1]
    used = np.flatnonzero(np.asarray(abs(known_in).sum(axis=0)).ravel() > 0)
    K = known_in[:, used]
    A = sp.hstack([solver.A, K, -K]).tocsr()
    c = np.r_[np.zeros(n), np.ones(2 * len(used))]
    bounds = np.vstack(
        [
            np.column_stack([solver.lower, solver.upper]),
            np.column_stack([np.zeros(2 * len(used)), np.full(2 * len(used), np.inf)]),
        ]
    )
    solver.n_lp += 1
    res = linprog(c, A_eq=A, b_eq=solver.b, bounds=bounds, method="highs-ds")
    if res.status != 0:
        raise DisclosureError(
            f"the attack audit could not reconcile contradicting releases (status {res.status})"
        )
    delta = res.x[n : n + len(used)] - res.x[n + len(used) :]
    delta = np.round(delta, 6)
    keep = np.abs(delta) > TOLERANCE
    return used[keep], delta[keep]


def _pins(cells, pins_cell, pins_rel, determined_by, A) -> dict:
    """For each cell, the relations that pin it, closed over the singleton chains.

    ``pins_cell``/``pins_rel``: pairs (cell, relation with a nonzero dual in one of the
    cell's bounding programs). A cell determined by singleton elimination is pinned by the
    relation that determined it; every derived cell a pinning relation uses adds the
    relation that determined that one, and so on.
    """
    if not len(cells):
        return {}
    m, n = A.shape
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[cells] = np.arange(len(cells))
    lp = np.isin(pins_cell, cells)
    own = determined_by[cells] >= 0
    start_row = np.r_[row_of[pins_cell[lp]], np.flatnonzero(own)]
    start_rel = np.r_[pins_rel[lp], determined_by[cells[own]]]
    P = sp.csr_matrix(
        (np.ones(len(start_rel), dtype=bool), (start_row, start_rel)), shape=(len(cells), m)
    )
    member = (A != 0).astype(bool).tocsr()
    src = np.flatnonzero(determined_by >= 0)
    D = sp.csr_matrix((np.ones(len(src), dtype=bool), (src, determined_by[src])), shape=(n, m))
    step = (member @ D).astype(bool)
    for _ in range(m + 1):
        nxt = ((P @ step) + P).astype(bool)
        if nxt.nnz == P.nnz:
            break
        P = nxt
    P = P.tocsr()
    P.sort_indices()
    groups = np.split(P.indices, P.indptr[1:-1])
    return {int(c): tuple(int(j) for j in g) for c, g in zip(cells, groups, strict=True)}


def system_from_frames(
    cells: pd.DataFrame,
    relations: pd.DataFrame,
    *,
    lower: str = "lower",
    upper: str = "upper",
    audited: str | None = "audited",
) -> tuple[LinearSystem, pd.Index, pd.Index]:
    """A :class:`LinearSystem` from long frames, with the labels to map results back.

    ``cells``: one row per cell, indexed by a cell label, with ``lower``/``upper`` (and
    optionally ``audited``). ``relations``: columns ``relation`` (label), ``cell`` (a
    cell label), ``coef`` and optionally ``rhs`` (first value per relation is used).

    Returns the system, the cell labels and the relation labels (positions are ids).

    Examples
    --------
    >>> cells = pd.DataFrame({"lower": [20, 12, 0.0], "upper": [20, 12, np.inf]},
    ...                      index=["total", "A", "B"])
    >>> rel = pd.DataFrame({"relation": "total = A + B", "cell": ["total", "A", "B"],
    ...                     "coef": [1.0, -1.0, -1.0]})
    >>> system, cl, rl = system_from_frames(cells, rel, audited=None)
    >>> r = audit(system, threshold=10)
    >>> cl[r.cells.index].tolist(), r.cells["upper"].tolist(), rl[list(r.pins[2])].tolist()
    (['B'], [8.0], ['total = A + B'])
    """
    cell_labels = pd.Index(cells.index)
    if not cell_labels.is_unique:
        raise DisclosureError("cell labels must be unique")
    rel_codes, rel_labels = pd.factorize(relations["relation"], sort=False)
    pos = cell_labels.get_indexer(relations["cell"])
    if (pos < 0).any():
        raise DisclosureError("a relation refers to a cell that is not in the cell table")
    rhs = None
    if "rhs" in relations.columns and len(relations):
        rhs = (
            pd.Series(relations["rhs"].to_numpy(dtype=float))
            .groupby(rel_codes)
            .first()
            .reindex(range(len(rel_labels)), fill_value=0.0)
            .to_numpy()
        )
    system = LinearSystem.from_arrays(
        cells[lower].to_numpy(dtype=float),
        cells[upper].to_numpy(dtype=float),
        rel_codes,
        pos,
        relations["coef"].to_numpy(dtype=float),
        rhs=rhs,
        audited=None if audited is None or audited not in cells else cells[audited].to_numpy(bool),
    )
    return system, cell_labels, pd.Index(rel_labels)


def rounded_interval(values, rounding: int) -> tuple[np.ndarray, np.ndarray]:
    """The true counts a released count rounded half up to a multiple of ``rounding`` can be.

    Rounding ``x`` to ``r`` gives ``v`` for ``x`` in ``[v - floor(r/2), v + ceil(r/2) - 1]``
    (and never below 0).

    Examples
    --------
    >>> rounded_interval(np.array([0, 10, 15]), 5)
    (array([ 0.,  8., 13.]), array([ 2., 12., 17.]))
    >>> rounded_interval(np.array([10]), 1)
    (array([10.]), array([10.]))
    """
    values = np.asarray(values, dtype=float)
    r = int(rounding)
    if r <= 1:
        return values.copy(), values.copy()
    lo = np.maximum(values - r // 2, 0.0)
    hi = values + (r - r // 2) - 1
    return lo, hi


def brute_force_intervals(
    lower: Sequence[int], upper: Sequence[int], rows: Sequence[Sequence[int]], rhs
) -> np.ndarray:
    """Exact integer intervals by enumeration, for tiny systems (tests and examples).

    ``rows`` is a dense coefficient matrix; every cell ranges over ``lower..upper``.
    Returns an array of shape ``(n_cells, 2)``: min and max over all solutions (``nan``
    when there is none).

    Examples
    --------
    >>> brute_force_intervals([0, 0], [5, 5], [[1, 1]], [4]).tolist()
    [[0.0, 4.0], [0.0, 4.0]]
    """
    import itertools

    rows = np.asarray(rows, dtype=float).reshape(-1, len(lower))
    rhs = np.asarray(rhs, dtype=float)
    ranges = [range(int(a), int(b) + 1) for a, b in zip(lower, upper, strict=True)]
    grid = np.array(list(itertools.product(*ranges)), dtype=float).reshape(-1, len(lower))
    ok = np.all(np.abs(grid @ rows.T - rhs) < 1e-9, axis=1) if len(rows) else np.ones(
        len(grid), dtype=bool
    )
    if not ok.any():
        return np.full((len(lower), 2), np.nan)
    sol = grid[ok]
    return np.column_stack([sol.min(axis=0), sol.max(axis=0)])
