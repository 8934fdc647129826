"""The attack audit: intervals a reader can infer, against known answers.

Known answers come from three sources: brute-force enumeration of every whole-number
solution on tiny tables (2- and 3-dimensional with all margins, nested hierarchies),
analytical bounds (Fréchet bounds of a two-way table whose interior is hidden, the
increments of a cumulative series) and classic hand-worked examples.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohort.disclosure.audit import (
    LinearSystem,
    audit,
    brute_force_intervals,
    rounded_interval,
)
from cohort.exceptions import DisclosureError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- tables with all their margins as linear systems ----------------------------------


def cube_with_margins(inner: np.ndarray):
    """Every cell of an n-dimensional table and of all its margins, with the relations.

    Cells are indexed by tuples where ``-1`` marks a summed dimension (the margin). Each
    relation says: a cell with ``-1`` in dimension ``d`` = sum over that dimension.
    """
    shape = inner.shape
    axes = [list(range(s)) + [-1] for s in shape]
    keys = list(itertools.product(*axes))
    index = {k: i for i, k in enumerate(keys)}
    values = np.array(
        [inner[tuple(slice(None) if j == -1 else j for j in k)].sum() for k in keys], dtype=float
    )
    triples, rel = [], 0
    for k in keys:
        for d, j in enumerate(k):
            if j != -1:
                continue
            triples.append((rel, index[k], 1.0))
            for part in range(shape[d]):
                sub = list(k)
                sub[d] = part
                triples.append((rel, index[tuple(sub)], -1.0))
            rel += 1
    return keys, values, np.array(triples).reshape(-1, 3)


def system_for(values, triples, hidden, cap):
    lower = np.where(hidden, 0.0, values)
    upper = np.where(hidden, float(cap), values)
    return LinearSystem.from_arrays(
        lower, upper, triples[:, 0].astype(int), triples[:, 1].astype(int), triples[:, 2]
    )


def brute(values, triples, hidden, cap):
    """Enumerate the hidden cells over 0..cap; the known ones stay fixed."""
    n = len(values)
    m = int(triples[:, 0].max()) + 1
    dense = np.zeros((m, n))
    np.add.at(dense, (triples[:, 0].astype(int), triples[:, 1].astype(int)), triples[:, 2])
    lo = np.where(hidden, 0, values).astype(int)
    hi = np.where(hidden, cap, values).astype(int)
    return brute_force_intervals(lo, hi, dense, np.zeros(m))


@st.composite
def hidden_tables(draw, dims):
    shape = tuple(draw(st.integers(2, 3)) for _ in range(dims)) if dims == 2 else (2,) * dims
    inner = np.array(
        draw(st.lists(st.integers(0, 4), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    ).reshape(shape)
    keys, values, triples = cube_with_margins(inner)
    k = draw(st.integers(1, 4))
    hidden_pos = draw(st.lists(st.integers(0, len(keys) - 1), min_size=k, max_size=k, unique=True))
    hidden = np.zeros(len(keys), dtype=bool)
    hidden[hidden_pos] = True
    return values, triples, hidden


def check_against_brute_force(values, triples, hidden, threshold=3):
    cap = int(values.max()) + 3
    expected = brute(values, triples, hidden, cap)
    result = audit(system_for(values, triples, hidden, cap), threshold=threshold, intervals="all")
    got = result.cells
    assert got.index.tolist() == np.flatnonzero(hidden).tolist()
    np.testing.assert_array_equal(got["lower"].to_numpy(), expected[hidden, 0])
    np.testing.assert_array_equal(got["upper"].to_numpy(), expected[hidden, 1])
    assert got["exact"].all()
    # the true values lie inside the intervals
    assert (got["lower"] <= values[hidden]).all() and (values[hidden] <= got["upper"]).all()
    return result


@SETTINGS
@given(hidden_tables(2))
def test_two_way_tables_with_margins_match_enumeration(case):
    check_against_brute_force(*case)


@SETTINGS
@given(hidden_tables(3))
def test_three_way_tables_with_all_margins_match_enumeration(case):
    check_against_brute_force(*case)


@SETTINGS
@given(hidden_tables(3), st.integers(1, 6))
def test_needed_and_all_agree_on_protection(case, threshold):
    values, triples, hidden = case
    cap = int(values.max()) + 3
    system = system_for(values, triples, hidden, cap)
    full = audit(system, threshold=threshold, intervals="all")
    quick = audit(system, threshold=threshold)
    assert quick.cells["protected"].tolist() == full.cells["protected"].tolist()
    q, f = quick.cells, full.cells
    # a proven-feasible interval lies inside the reader's exact one, a propagated one around it
    inner = (q["method"] == "sample").to_numpy() & ~q["exact"].to_numpy()
    outer = (q["method"] == "propagation").to_numpy() & ~q["exact"].to_numpy()
    assert (q["lower"][inner] >= f["lower"][inner]).all() and (q["upper"][inner] <= f["upper"][inner]).all()
    assert (q["lower"][outer] <= f["lower"][outer]).all() and (q["upper"][outer] >= f["upper"][outer]).all()
    exact = q["exact"].to_numpy()
    np.testing.assert_array_equal(
        quick.cells.loc[exact, ["lower", "upper"]].to_numpy(),
        full.cells.loc[exact, ["lower", "upper"]].to_numpy(),
    )


@SETTINGS
@given(hidden_tables(3))
def test_linear_bounds_contain_the_whole_number_bounds(case):
    values, triples, hidden = case
    cap = int(values.max()) + 3
    system = system_for(values, triples, hidden, cap)
    whole = audit(system, threshold=3, intervals="all").cells
    relaxed = audit(system, threshold=3, intervals="all", integer=False).cells
    assert (relaxed["lower"] <= whole["lower"] + 1e-9).all()
    assert (relaxed["upper"] >= whole["upper"] - 1e-9).all()


@st.composite
def hierarchies(draw):
    """total = sum of regions, region = sum of its sites; some cells hidden."""
    n_regions = draw(st.integers(2, 3))
    sites = [draw(st.lists(st.integers(0, 5), min_size=2, max_size=3)) for _ in range(n_regions)]
    values = [sum(map(sum, sites))] + [sum(s) for s in sites] + [v for s in sites for v in s]
    triples = [(0, 0, 1.0)] + [(0, 1 + r, -1.0) for r in range(n_regions)]
    pos = 1 + n_regions
    for r, s in enumerate(sites):
        triples.append((r + 1, 1 + r, 1.0))
        for _ in s:
            triples.append((r + 1, pos, -1.0))
            pos += 1
    values = np.array(values, dtype=float)
    k = draw(st.integers(1, 4))
    hidden_pos = draw(st.lists(st.integers(0, len(values) - 1), min_size=k, max_size=k, unique=True))
    hidden = np.zeros(len(values), dtype=bool)
    hidden[hidden_pos] = True
    return values, np.array(triples), hidden


@SETTINGS
@given(hierarchies())
def test_nested_hierarchies_match_enumeration(case):
    check_against_brute_force(*case)


@SETTINGS
@given(
    st.lists(st.integers(0, 40), min_size=3, max_size=6),
    st.lists(st.integers(0, 40), min_size=3, max_size=6),
)
def test_hidden_interior_of_a_two_way_table_has_the_frechet_bounds(rows, cols):
    """All interior cells hidden, margins released: each cell lies in
    [max(0, r_i + c_j - N), min(r_i, c_j)] (Fréchet bounds), and every value between is
    reachable."""
    rows, cols = np.array(rows), np.array(cols)
    # a table with these margins exists when both sum to the same N: scale the columns
    n = rows.sum()
    if n == 0:
        return
    cols = np.floor(cols / max(cols.sum(), 1) * n).astype(int)
    cols[-1] += n - cols.sum()
    inner = np.zeros((len(rows), len(cols)), dtype=int)
    r, c = rows.copy(), cols.copy()
    for i in range(len(rows)):  # north-west corner rule: a table with these margins
        for j in range(len(cols)):
            inner[i, j] = min(r[i], c[j])
            r[i] -= inner[i, j]
            c[j] -= inner[i, j]
    keys, values, triples = cube_with_margins(inner)
    hidden = np.array([all(j != -1 for j in k) for k in keys])
    result = audit(system_for(values, triples, hidden, 10 * n + 10), threshold=10, intervals="all")
    idx = np.array([k for k, h in zip(keys, hidden, strict=True) if h])
    lower = np.maximum(0, rows[idx[:, 0]] + cols[idx[:, 1]] - n)
    upper = np.minimum(rows[idx[:, 0]], cols[idx[:, 1]])
    np.testing.assert_array_equal(result.cells["lower"].to_numpy(), lower)
    np.testing.assert_array_equal(result.cells["upper"].to_numpy(), upper)


@SETTINGS
@given(st.lists(st.integers(0, 30), min_size=2, max_size=12), st.data())
def test_increments_of_a_released_cumulative_series_are_exact(increments, data):
    """c_k released for k in a random subset: an increment between two released values is
    exact; elsewhere the hidden increments share the difference."""
    cum = np.cumsum(increments).astype(float)
    n = len(cum)
    released = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    released[-1] = True
    # cells: cumulative values 0..n-1, increments n..2n-1; c_k = c_{k-1} + d_k
    lower = np.r_[np.where(released, cum, 0.0), np.zeros(n)]
    upper = np.r_[np.where(released, cum, np.inf), np.full(n, np.inf)]
    triples = [(0, 0, 1.0), (0, n, -1.0)]
    for k in range(1, n):
        triples += [(k, k, 1.0), (k, k - 1, -1.0), (k, n + k, -1.0)]
    result = audit(LinearSystem.from_relations(lower, upper, triples), threshold=10, intervals="all")
    inc = result.cells.loc[n:]
    known_before = np.r_[True, released[:-1]]  # c_{k-1} known (c_{-1} = 0)
    both = released & known_before
    assert (inc["lower"].to_numpy()[both] == np.array(increments)[both]).all()
    assert (inc["upper"].to_numpy()[both] == np.array(increments)[both]).all()


# --- classic examples ------------------------------------------------------------------


def one_relation(total, parts, hidden):
    """``total = sum(parts)``; ``hidden`` lists positions among [total, *parts]."""
    values = np.array([total, *parts], dtype=float)
    mask = np.zeros(len(values), dtype=bool)
    mask[list(hidden)] = True
    lower = np.where(mask, 0.0, values)
    upper = np.where(mask, np.inf, values)
    triples = [(0, 0, 1.0)] + [(0, i + 1, -1.0) for i in range(len(parts))]
    return LinearSystem.from_relations(lower, upper, triples)


def test_a_single_suppressed_part_follows_from_the_total():
    result = audit(one_relation(30, [12, 11, 7], hidden=[3]), threshold=10)
    assert result.cells.loc[3, ["lower", "upper"]].tolist() == [7.0, 7.0]
    assert not result.cells.loc[3, "protected"]
    assert result.pins[3] == (0,)


def test_two_suppressed_parts_whose_sum_is_below_the_threshold_are_not_protected():
    # 25 = 18 + 4 + 3: the reader learns 4 + 3 = 7, a count below 10.
    result = audit(one_relation(25, [18, 4, 3], hidden=[2, 3]), threshold=10, intervals="all")
    assert result.cells[["lower", "upper"]].to_numpy().tolist() == [[0, 7], [0, 7]]
    assert not result.cells["protected"].any()


@pytest.mark.parametrize(("sum_hidden", "protected"), [(9, False), (10, True), (11, True)])
def test_protection_width_boundary(sum_hidden, protected):
    result = audit(one_relation(20 + sum_hidden, [20, 1, sum_hidden - 1], hidden=[2, 3]), threshold=10)
    assert result.cells["protected"].tolist() == [protected, protected]


def test_a_cell_known_to_be_at_least_the_threshold_is_protected_even_when_exact():
    result = audit(one_relation(50, [12, 38], hidden=[2]), threshold=10)
    assert result.cells.loc[2, ["lower", "upper", "protected"]].tolist() == [38.0, 38.0, True]


def test_the_classic_rectangle_of_four_suppressions_protects_a_two_way_table():
    """Rows A, B and columns x, y hidden in a rectangle: each cell moves with the others."""
    inner = np.array([[3, 12, 20], [11, 4, 25], [30, 30, 30]])
    keys, values, triples = cube_with_margins(inner)
    hidden = np.array([k in {(0, 0), (0, 1), (1, 0), (1, 1)} for k in keys])
    result = audit(system_for(values, triples, hidden, 1000), threshold=10, intervals="all")
    bounds = dict(zip(result.cells.index, result.cells[["lower", "upper"]].to_numpy().tolist(), strict=True))
    a, b, c, d = (keys.index(k) for k in [(0, 0), (0, 1), (1, 0), (1, 1)])
    # rows share 15 and 15, columns 14 and 16: a moves freely in [0, 14], the rest with it
    assert bounds[a] == [0, 14] and bounds[c] == [0, 14]
    assert bounds[b] == [1, 15] and bounds[d] == [1, 15]
    assert result.cells["protected"].all()


def test_a_single_suppression_in_a_row_of_a_two_way_table_is_found():
    inner = np.array([[3, 12], [11, 14]])
    keys, values, triples = cube_with_margins(inner)
    hidden = np.array([k == (0, 0) for k in keys])
    result = audit(system_for(values, triples, hidden, 1000), threshold=10)
    cell = keys.index((0, 0))
    assert result.cells.loc[cell, ["lower", "upper"]].tolist() == [3.0, 3.0]
    assert result.cells.loc[cell, "method"] == "singleton"
    assert len(result.pins[cell]) == 1  # its row or its column: one relation suffices


def test_pins_follow_the_chain_of_derived_cells():
    """c = a + b (a released, b hidden but b = d - e with d, e released): c's value comes
    through b, so both relations pin it."""
    # cells: 0 c (hidden), 1 a = 4, 2 b (hidden), 3 d = 10, 4 e = 7
    lower = [0, 4, 0, 10, 7]
    upper = [np.inf, 4, np.inf, 10, 7]
    triples = [(0, 0, 1), (0, 1, -1), (0, 2, -1), (1, 3, 1), (1, 2, -1), (1, 4, -1)]
    result = audit(LinearSystem.from_relations(lower, upper, triples), threshold=10)
    assert result.cells.loc[0, ["lower", "upper"]].tolist() == [7.0, 7.0]
    assert result.pins[0] == (0, 1)
    assert result.pins[2] == (1,)


def test_cells_pinned_by_linear_programs_name_the_relations_that_bound_them():
    """Two relations bound x from above (x + y = 6, x + z = 4): the tighter one pins it."""
    lower = [0, 0, 0, 6, 4]
    upper = [np.inf, np.inf, np.inf, 6, 4]
    triples = [(0, 0, 1), (0, 1, 1), (0, 3, -1), (1, 0, 1), (1, 2, 1), (1, 4, -1)]
    result = audit(LinearSystem.from_relations(lower, upper, triples), threshold=10, intervals="all")
    assert result.cells.loc[0, ["lower", "upper"]].tolist() == [0.0, 4.0]
    assert 1 in result.pins[0]


def test_rounded_cells_give_intervals():
    # released rounded to 5: total 30 (28..32), A 20 (18..22); B hidden: 6..14
    lo, hi = rounded_interval(np.array([30, 20]), 5)
    system = LinearSystem.from_relations(
        lower=[lo[0], lo[1], 0], upper=[hi[0], hi[1], np.inf],
        relations=[(0, 0, 1), (0, 1, -1), (0, 2, -1)],
        audited=[False, False, True],
    )
    result = audit(system, threshold=10, intervals="all")
    assert result.cells.loc[2, ["lower", "upper"]].tolist() == [6.0, 14.0]
    assert not result.cells.loc[2, "protected"]  # width 8 < 10, and it can be below 10


def test_an_unbounded_cell_is_reported_as_infinite():
    # x - y = 3: x can be anything from 3 up
    system = LinearSystem.from_relations(
        lower=[0, 0, 3], upper=[np.inf, np.inf, 3], relations=[(0, 0, 1), (0, 1, -1), (0, 2, -1)]
    )
    result = audit(system, threshold=10, intervals="all")
    assert result.cells.loc[0, "lower"] == 3 and np.isinf(result.cells.loc[0, "upper"])
    assert result.cells["protected"].all()


def test_fractional_vertices_are_solved_as_integer_programs():
    """x + y + w = 1, y + z + w = 1, x + z + w = 1: as a linear program w can be 0 (with
    x = y = z = 1/2); in whole numbers the only solution is w = 1, x = y = z = 0."""
    lower = [0, 0, 0, 0, 1, 1, 1]
    upper = [np.inf] * 4 + [1, 1, 1]
    triples = [
        (0, 0, 1), (0, 1, 1), (0, 3, 1), (0, 4, -1),
        (1, 1, 1), (1, 2, 1), (1, 3, 1), (1, 5, -1),
        (2, 0, 1), (2, 2, 1), (2, 3, 1), (2, 6, -1),
    ]
    system = LinearSystem.from_relations(lower, upper, triples)
    whole = audit(system, threshold=2, intervals="all").cells
    relaxed = audit(system, threshold=2, intervals="all", integer=False).cells
    expected = brute_force_intervals([0, 0, 0, 0, 1, 1, 1], [2, 2, 2, 2, 1, 1, 1],
                                     _dense(triples, 7), np.zeros(3))
    np.testing.assert_array_equal(whole[["lower", "upper"]].to_numpy(), expected[:4])
    assert whole.loc[3, ["lower", "upper"]].tolist() == [1.0, 1.0]
    assert relaxed.loc[3, "lower"] == 0 and whole.loc[3, "method"] == "milp"
    assert (relaxed["upper"] >= whole["upper"]).all()


def _dense(triples, n):
    t = np.array(triples, dtype=float)
    m = int(t[:, 0].max()) + 1
    out = np.zeros((m, n))
    np.add.at(out, (t[:, 0].astype(int), t[:, 1].astype(int)), t[:, 2])
    return out


def test_contradicting_releases_are_reconciled_with_the_smallest_change():
    """The same total released as 30 and as 31 (a revised delivery) next to parts 12 and
    11 and a hidden part: the reader takes one total as revised and still finds the part."""
    # cells: 0 total (release 1) = 30, 1 total (release 2) = 31, 2 A = 12, 3 B = 11, 4 C hidden,
    # 5 hidden D; relations: total1 = A + B + C; total1 = total2 (same cell twice);
    # total2 = A + B + C + D - D... keep it simple: D = total2 - total1 as an unknown >= 0 would
    # absorb it, so state equality directly.
    lower = [30, 31, 12, 11, 0]
    upper = [30, 31, 12, 11, np.inf]
    triples = [(0, 0, 1), (0, 2, -1), (0, 3, -1), (0, 4, -1),
               (1, 1, 1), (1, 2, -1), (1, 3, -1), (1, 4, -1)]
    result = audit(LinearSystem.from_relations(lower, upper, triples), threshold=10, intervals="all")
    # singleton elimination meets the contradiction first: one relation is dropped
    assert len(result.inconsistent) == 1
    assert result.cells.loc[4, "upper"] <= 8 and not result.cells.loc[4, "protected"]


def test_reconciliation_by_linear_program():
    """x + y = 10 (x, y hidden), x + y + z = 9 with z released as 0: no solution; the
    reader adjusts the smallest number of released values and the cells stay bounded."""
    lower = [0, 0, 10, 9, 0]
    upper = [np.inf, np.inf, 10, 9, 0]
    triples = [(0, 0, 1), (0, 1, 1), (0, 2, -1), (1, 0, 1), (1, 1, 1), (1, 4, 1), (1, 3, -1)]
    result = audit(LinearSystem.from_relations(lower, upper, triples), threshold=5, intervals="all")
    assert len(result.revised) == 1 and abs(result.revised["adjustment"].iloc[0]) == 1
    assert set(result.cells.index) == {0, 1}
    assert (result.cells["upper"] <= 10).all()


def test_same_system_same_result():
    inner = np.arange(27).reshape(3, 3, 3) % 5
    keys, values, triples = cube_with_margins(inner)
    hidden = (values < 3) & (np.arange(len(values)) % 2 == 0)
    system = system_for(values, triples, hidden, 500)
    a, b = audit(system, threshold=5), audit(system, threshold=5)
    assert a.cells.equals(b.cells) and a.pins == b.pins


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold must be a whole number"),
        ({"threshold": 10, "width": -1}, "width must be"),
        ({"threshold": 10, "intervals": "some"}, "intervals must be one of"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(DisclosureError, match=message):
        audit(one_relation(30, [12, 18], hidden=[1]), **kwargs)


def test_bad_systems_are_refused():
    with pytest.raises(DisclosureError, match="lower <= upper"):
        LinearSystem.from_relations([1.0], [0.0])
    with pytest.raises(DisclosureError, match="cells or relations that do not exist"):
        LinearSystem.from_relations([0.0], [1.0], [(0, 3, 1.0)])
