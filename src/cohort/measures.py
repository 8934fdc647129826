"""Measures: indicators as numerator / denominator over intervals and groups, released safely.

In the style of OpenSAFELY's measures framework. A :class:`Measure` names a numerator and an
optional denominator (indicators from :mod:`cohort.indicators`), the columns it is grouped by
(``site``, ``has_children``) and whether it is a proportion. :func:`evaluate` computes all
measures for all intervals (by default every calendar quarter from the study start to the
reference date, the last cut at the reference date) and all groups at once, into one long
table::

    indicator, kind, interval_start, interval_end, site, has_children,
    numerator, denominator, value, ci_lower, ci_upper, ci_method, suppressed

* ``kind`` is ``count`` (value = numerator), ``proportion`` (numerator units are among the
  denominator units; value with a binomial interval, ``ci_method`` ``wilson`` = R's
  ``prop.test(correct = FALSE)`` or ``clopper-pearson`` = R's ``binom.test``) or ``ratio``
  (for instance measures per household, which can exceed 1: no binomial interval, so
  ``ci_method`` is ``none``).
* Group columns a measure is not grouped by hold :data:`~cohort.indicators.TOTAL`
  (``"all"``); a grouped measure also has the total rows (margins).
* Disclosure control is on by default: every count behind the table is one cell, protected
  together with the totals, the relations between indicators (involved = active + ended)
  and the quarter-to-quarter differences of cumulative counts (see
  :func:`cohort.disclosure.protect_cells`). Values and intervals are computed from the
  released (possibly rounded) counts; a row with a suppressed part is suppressed.
* ``previous=``, the table an earlier report released (the interim report's monitor for
  the final report), protects the new table against that release too: see
  :func:`quarterly_series`.

:func:`quarterly_series` and :func:`monitor_summary` give the monitor as the progress
report shows it; the ``cohort monitor`` command prints them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from cohort.disclosure import (
    DEFAULT_POLICY,
    DisclosurePolicy,
    apply_disclosure,
    check_policy,
    disclosure_record,
    margin_relations,
    protect_cells,
)
from cohort.episodes import STUDY_START, to_date
from cohort.exceptions import DefinitionError, ParameterError
from cohort.indicators import (
    CUMULATIVE_INDICATORS,
    GROUP_COLUMNS,
    INDICATOR_RELATIONS,
    INDICATORS,
    TOTAL,
    _check_group_by,
    check_intervals,
    indicator,
    indicator_counts,
    prepare,
)

#: Confidence-interval methods for proportions: name -> statsmodels ``proportion_confint``.
CI_METHODS = {"wilson": "wilson", "clopper-pearson": "beta"}

#: ``ci_method`` of rows that get no binomial interval (counts, ratios).
NO_CI = "none"

KINDS = ("count", "proportion", "ratio")


@dataclass(frozen=True)
class Measure:
    """One measure: numerator / denominator, grouped.

    Parameters
    ----------
    name : str
        Name of the measure in the output's ``indicator`` column.
    numerator : str
        An indicator name (:data:`cohort.indicators.INDICATORS`).
    denominator : str, optional
        An indicator name; ``None`` for a plain count.
    group_by : tuple of str
        Among ``("site", "has_children")``; the interval is always a grouping.
    proportion : bool
        The numerator's units are a subset of the denominator's (households with a measure
        among households involved): the value gets a binomial confidence interval. Leave
        ``False`` for a ratio such as measures per household.

    Examples
    --------
    >>> Measure("legal_measures_share", "legal_measures", "households_involved").kind
    'ratio'
    >>> Measure("x", "households_active", group_by=("region",))
    Traceback (most recent call last):
    ...
    cohort.exceptions.DefinitionError: cannot group by 'region': choose distinct columns among site, has_children (the interval is always a grouping)
    """

    name: str
    numerator: str
    denominator: str | None = None
    group_by: tuple[str, ...] = ()
    proportion: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise DefinitionError("a measure needs a name")
        indicator(self.numerator)
        if self.denominator is not None:
            indicator(self.denominator)
        object.__setattr__(self, "group_by", _check_group_by(self.group_by))
        if self.proportion and self.denominator is None:
            raise DefinitionError(f"measure {self.name!r} is a proportion but has no denominator")

    @property
    def kind(self) -> str:
        if self.denominator is None:
            return "count"
        return "proportion" if self.proportion else "ratio"


def monitor_measures(by: str | Sequence[str] | None = None) -> tuple[Measure, ...]:
    """The measures of the quarterly monitor, grouped by ``by`` (``None``, ``"site"``, ...).

    Examples
    --------
    >>> [m.name for m in monitor_measures()][:3]
    ['households_involved', 'households_active', 'ended_since_start']
    """
    group_by = () if by is None else _check_group_by(by)
    return (
        Measure("households_involved", "households_involved", group_by=group_by),
        Measure("households_active", "households_active", group_by=group_by),
        Measure("ended_since_start", "ended_since_start", group_by=group_by),
        Measure("ended_in_period", "ended_in_period", group_by=group_by),
        Measure("registrations", "registrations", group_by=group_by),
        Measure(
            "registrations_without_children", "registrations_without_children", group_by=group_by
        ),
        Measure(
            "registrations_without_children_share",
            "registrations_without_children",
            "registrations",
            group_by=group_by,
            proportion=True,
        ),
        Measure("legal_measures", "legal_measures", group_by=group_by),
        Measure("legal_measures_share", "legal_measures", "households_involved", group_by=group_by),
        Measure("households_with_measure", "households_with_measure", group_by=group_by),
        Measure(
            "households_with_measure_share",
            "households_with_measure",
            "households_involved",
            group_by=group_by,
            proportion=True,
        ),
    )


def proportion_ci(numerator, denominator, method: str = "wilson", alpha: float = 0.05):
    """Binomial confidence interval per row; ``NaN`` where the denominator is 0.

    ``wilson`` equals R's ``prop.test(x, n, correct = FALSE)$conf.int``, ``clopper-pearson``
    R's ``binom.test(x, n)$conf.int``.

    Examples
    --------
    >>> lo, hi = proportion_ci([88], [557])
    >>> print(f"{lo[0]:.5f} {hi[0]:.5f}")
    0.13006 0.19061
    """
    if method not in CI_METHODS:
        raise ParameterError(f"ci_method must be one of {', '.join(CI_METHODS)}, got {method!r}")
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ParameterError(f"alpha must be between 0 and 1, got {alpha!r}")
    x = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    ok = np.isfinite(x) & np.isfinite(n) & (n > 0) & (x >= 0) & (x <= n)
    lower = np.full(x.shape, np.nan)
    upper = np.full(x.shape, np.nan)
    if ok.any():
        lo, hi = proportion_confint(x[ok], n[ok], alpha=alpha, method=CI_METHODS[method])
        lower[ok] = np.clip(lo, 0.0, 1.0)
        upper[ok] = np.clip(hi, 0.0, 1.0)
    return lower, upper


def _closure(names: set[str]) -> list[str]:
    """Indicators needed for ``names`` and for the relations disclosure control checks."""
    needed = set(names)
    changed = True
    while changed:
        changed = False
        for total, parts in INDICATOR_RELATIONS:
            members = {total, *(p for p in parts if p is not None)}
            if members & needed and not members <= needed:
                needed |= members
                changed = True
    return [n for n in INDICATORS if n in needed]


def evaluate(
    measures: Sequence[Measure],
    tables,
    reference_date,
    *,
    study_start=STUDY_START,
    intervals=None,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    ci_method: str = "wilson",
    alpha: float = 0.05,
    data=None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Evaluate measures for every interval and group into one long table.

    Parameters
    ----------
    measures : sequence of Measure
    tables : Delivery or mapping of DataFrames
        The delivery (``households``, ``episodes``, ``legal_measures``; ``sites`` optional).
    reference_date : date or str
        ``R``: data after it is ignored.
    study_start : date or str
        ``S``, default 1 January 2023.
    intervals : DataFrame or sequence of (start, end), optional
        Default :func:`cohort.indicators.quarterly_intervals` (every quarter from ``S``,
        the last cut at ``R``).
    policy : DisclosurePolicy
        On by default (threshold 10). ``cohort.disclosure.NO_DISCLOSURE_CONTROL`` switches
        it off; this is recorded in ``attrs["disclosure"]``.
    ci_method : {"wilson", "clopper-pearson"}
        Interval for proportions.
    alpha : float
        1 - confidence level.
    data : MonitorData, optional
        An already prepared delivery (:func:`cohort.indicators.prepare`).
    previous : DataFrame, optional
        A table of the same measures released earlier (an earlier report's output of this
        function, or its ``monitor.csv`` read with :func:`read_released`), so that the two
        releases together do not reveal a suppressed cell: see :func:`previous_cells`.

    Returns
    -------
    DataFrame, sorted by measure (in the given order), interval, groups (totals first).

    Raises
    ------
    DefinitionError
        On an unknown indicator or grouping, or two measures with the same name.
    ParameterError
        On bad dates, intervals, ``ci_method`` or ``alpha``.
    """
    policy = check_policy(policy)
    measures = list(measures)
    if not measures or not all(isinstance(m, Measure) for m in measures):
        raise DefinitionError("evaluate needs a non-empty sequence of Measure objects")
    names = [m.name for m in measures]
    if len(set(names)) != len(names):
        raise DefinitionError(f"measure names must be unique, got {names}")
    if ci_method not in CI_METHODS:
        raise ParameterError(f"ci_method must be one of {', '.join(CI_METHODS)}, got {ci_method!r}")
    if data is None:
        data = prepare(tables, reference_date, study_start)
    iv = check_intervals(intervals, data.study_start, data.reference_date)
    groups = tuple(g for g in GROUP_COLUMNS if any(g in m.group_by for m in measures))
    needed = _closure(
        {m.numerator for m in measures} | {m.denominator for m in measures if m.denominator}
    )

    cube = indicator_counts(
        None, None, needed, group_by=groups, intervals=iv, margins=True, data=data
    )
    protected = _protect_cube(cube, measures, groups, iv, policy, previous)

    pieces = []
    for order, m in enumerate(measures):  # a handful of measures, each vectorised
        num = _select(protected, m.numerator, m.group_by, groups)
        den = _select(protected, m.denominator, m.group_by, groups) if m.denominator else None
        piece = num[["interval_start", "interval_end", *groups]].copy()
        piece.insert(0, "indicator", m.name)
        piece.insert(1, "kind", m.kind)
        piece["numerator"] = num["released"].array
        piece["_num_sup"] = num["cell_suppressed"].to_numpy()
        if den is None:
            piece["denominator"] = pd.array([pd.NA] * len(piece), dtype="Int64")
            piece["_den_sup"] = False
        else:
            piece["denominator"] = den["released"].array
            piece["_den_sup"] = den["cell_suppressed"].to_numpy()
        piece["_order"] = order
        pieces.append(piece)
    out = pd.concat(pieces, ignore_index=True)
    suppressed = out["_num_sup"].to_numpy(dtype=bool) | out["_den_sup"].to_numpy(dtype=bool)
    num = out["numerator"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    den = out["denominator"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    kind = out["kind"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(kind == "count", num, np.where(den > 0, num / den, np.nan))
    lower, upper = proportion_ci(num, den, ci_method, alpha)
    is_prop = kind == "proportion"
    lower = np.where(is_prop, lower, np.nan)
    upper = np.where(is_prop, upper, np.nan)
    value[suppressed] = np.nan
    lower[suppressed] = np.nan
    upper[suppressed] = np.nan
    out["value"] = pd.array(value, dtype="Float64")
    out["ci_lower"] = pd.array(lower, dtype="Float64")
    out["ci_upper"] = pd.array(upper, dtype="Float64")
    for c in ("value", "ci_lower", "ci_upper"):
        out[c] = out[c].mask(out[c].isna(), pd.NA)
    out["ci_method"] = np.where(is_prop, ci_method, NO_CI)
    out["ci_method"] = out["ci_method"].astype("string")
    out["suppressed"] = pd.array(suppressed, dtype="boolean")

    sort_keys = ["_order", "interval_start", "interval_end"]
    for g in groups:
        out[f"_{g}_total"] = out[g] != TOTAL
        sort_keys += [f"_{g}_total", g]
    out = out.sort_values(sort_keys, kind="mergesort").reset_index(drop=True)
    columns = [
        "indicator",
        "kind",
        "interval_start",
        "interval_end",
        *groups,
        "numerator",
        "denominator",
        "value",
        "ci_lower",
        "ci_upper",
        "ci_method",
        "suppressed",
    ]
    out = out[columns]
    out.attrs["disclosure"] = disclosure_record(
        policy,
        count_columns=["numerator", "denominator"],
        value_columns=["value", "ci_lower", "ci_upper"],
        n_suppressed=int(protected["cell_suppressed"].sum()),
    )
    out.attrs["study_start"] = data.study_start.strftime("%Y-%m-%d")
    out.attrs["reference_date"] = data.reference_date.strftime("%Y-%m-%d")
    return out


def _select(cube: pd.DataFrame, name: str, group_by, groups) -> pd.DataFrame:
    """Rows of ``cube`` for indicator ``name`` grouped by ``group_by`` (others at TOTAL)."""
    mask = (cube["indicator"] == name).to_numpy()
    for g in groups:
        if g not in group_by:
            mask &= (cube[g] == TOTAL).to_numpy(dtype=bool)
    return cube.loc[mask]


def read_released(path) -> pd.DataFrame:
    """Read a released measures table (``tables/monitor.csv``) back for ``previous=``.

    Dates become dates, counts ``Int64`` and values ``Float64`` (``<NA>`` where
    suppressed or empty), ``suppressed`` boolean; the other columns stay text.
    """
    from cohort.disclosure import SUPPRESSED

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    for column in ("interval_start", "interval_end"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], format="%Y-%m-%d")
    for column, dtype in (
        ("numerator", "Int64"),
        ("denominator", "Int64"),
        ("value", "Float64"),
        ("ci_lower", "Float64"),
        ("ci_upper", "Float64"),
    ):
        if column in frame.columns:
            text = frame[column].mask(frame[column].isin([SUPPRESSED, ""]))
            frame[column] = pd.to_numeric(text).astype(dtype)
    if "suppressed" in frame.columns:
        frame["suppressed"] = pd.array(frame["suppressed"].str.lower() == "true", dtype="boolean")
    for column in ("indicator", "kind", "ci_method", *GROUP_COLUMNS):
        if column in frame.columns:
            frame[column] = frame[column].astype("string")
    return frame


def previous_cells(previous: pd.DataFrame, measures, groups) -> pd.DataFrame:
    """The cells (indicator, interval, groups) an earlier release showed or suppressed.

    Each row of ``previous`` holds the numerator cell and, for a ratio or proportion, the
    denominator cell of its measure. Returns one row per cell: ``indicator,
    interval_start, interval_end, *groups, previous_count`` (``<NA>``: suppressed there).
    A group column the earlier table lacks is taken as the total; rows of groups this
    release does not have are left out. A cell shown in one row and suppressed in another
    counts as suppressed.
    """
    if not isinstance(previous, pd.DataFrame):
        raise ParameterError(
            f"previous must be a released measures table (DataFrame), got {type(previous).__name__}"
        )
    missing = [
        c for c in ("indicator", "interval_start", "interval_end", "numerator") if c not in previous
    ]
    if missing:
        raise ParameterError(
            f"previous is not a released measures table: it has no column {missing[0]!r}"
        )
    frame = previous.copy()
    for g in GROUP_COLUMNS:
        if g not in frame.columns:
            frame[g] = TOTAL
    keep = np.ones(len(frame), dtype=bool)
    for g in GROUP_COLUMNS:
        frame[g] = frame[g].astype("string")
        if g not in groups:
            keep &= (frame[g] == TOTAL).fillna(False).to_numpy(dtype=bool)
    frame = frame.loc[keep]
    for c in ("interval_start", "interval_end"):
        frame[c] = pd.to_datetime(frame[c]).astype("datetime64[ns]")
    pieces = []
    for m in measures:
        rows = frame.loc[(frame["indicator"].astype(str) == m.name).to_numpy()]
        for name, column in ((m.numerator, "numerator"), (m.denominator, "denominator")):
            if name is None or column not in rows.columns or rows.empty:
                continue
            piece = rows[["interval_start", "interval_end", *groups]].copy()
            piece.insert(0, "indicator", name)
            piece["previous_count"] = pd.to_numeric(rows[column]).astype("Int64").array
            pieces.append(piece)
    columns = ["indicator", "interval_start", "interval_end", *groups]
    if not pieces:
        return pd.DataFrame(columns=[*columns, "previous_count"])
    cells = pd.concat(pieces, ignore_index=True)
    cells["_hidden"] = cells["previous_count"].isna()
    cells = (
        cells.sort_values([*columns, "_hidden"], kind="mergesort")
        .groupby(columns, sort=True, dropna=False)
        .agg(previous_count=("previous_count", "first"), _hidden=("_hidden", "max"))
        .reset_index()
    )
    cells.loc[cells["_hidden"].to_numpy(dtype=bool), "previous_count"] = pd.NA
    return cells.drop(columns="_hidden")


def _protect_cube(cube, measures, groups, iv, policy, previous=None) -> pd.DataFrame:
    """Disclosure control on all counts behind the measures at once.

    Every row of ``cube`` is a cell. Cells no measure shows are treated as not shown but
    possibly derivable (virtual), as are the parts that relations imply without an
    indicator of their own (households with children, new households in a quarter).
    Returns ``cube`` with ``released`` (Int64, rounded, ``<NA>`` if suppressed) and
    ``cell_suppressed``.
    """
    cube = cube.reset_index(drop=True)
    n = len(cube)
    counts = cube["count"].to_numpy(dtype=np.int64)
    shown = np.zeros(n, dtype=bool)
    for m in measures:
        for name in (m.numerator, m.denominator):
            if name is None:
                continue
            mask = (cube["indicator"] == name).to_numpy()
            for g in groups:
                if g not in m.group_by:
                    mask &= (cube[g] == TOTAL).to_numpy(dtype=bool)
            shown |= mask

    rel_parts, cell_parts = [], []
    rel, pos = margin_relations(cube, groups, ("indicator", "interval_start", "interval_end"))
    rel_parts.append(rel)
    cell_parts.append(pos)
    next_rel = int(rel.max()) + 1 if len(rel) else 0

    # Blocks: the cube holds the same (interval, groups) keys, in the same order, per indicator.
    names = list(dict.fromkeys(cube["indicator"]))
    block = n // len(names)
    start_of = {name: i * block for i, name in enumerate(names)}
    keys = cube.loc[: block - 1, ["interval_start", "interval_end", *groups]].reset_index(drop=True)
    for name in names[1:]:
        other = cube.loc[start_of[name] : start_of[name] + block - 1, keys.columns].reset_index(
            drop=True
        )
        if not other.equals(keys):  # pragma: no cover - indicator_counts guarantees it
            raise DefinitionError("internal: indicator blocks are not aligned")
    key_pos = np.arange(block)

    virtual_counts = []
    n_virtual = 0

    def add_virtual(values):
        nonlocal n_virtual
        idx = n + n_virtual + np.arange(len(values))
        virtual_counts.append(np.asarray(values, dtype=np.int64))
        n_virtual += len(values)
        return idx

    for total, parts in INDICATOR_RELATIONS:
        present = [p for p in parts if p is not None]
        if total not in start_of or not all(p in start_of for p in present):
            continue
        member_cells = [start_of[total] + key_pos] + [start_of[p] + key_pos for p in present]
        if any(p is None for p in parts):
            rest = counts[start_of[total] + key_pos] - sum(
                counts[start_of[p] + key_pos] for p in present
            )
            member_cells.append(add_virtual(np.maximum(rest, 0)))
        rel_ids = next_rel + key_pos
        for cells in member_cells:
            rel_parts.append(rel_ids)
            cell_parts.append(cells)
        next_rel += block

    # Quarter-to-quarter differences of cumulative counts: consecutive, touching intervals.
    starts = iv["interval_start"].to_numpy()
    ends = iv["interval_end"].to_numpy()
    order = np.argsort(starts, kind="mergesort")
    touching = [
        (order[i - 1], order[i])
        for i in range(1, len(order))
        if starts[order[i]] == ends[order[i - 1]] + np.timedelta64(1, "D")
    ]
    if touching:
        iv_index = pd.MultiIndex.from_arrays([pd.DatetimeIndex(starts), pd.DatetimeIndex(ends)])
        key_iv = iv_index.get_indexer(
            pd.MultiIndex.from_frame(keys[["interval_start", "interval_end"]])
        )
        group_key = (
            keys[list(groups)].astype(str).agg("|".join, axis=1)
            if groups
            else pd.Series([""] * block)
        )
        lookup = pd.Series(key_pos, index=pd.MultiIndex.from_arrays([group_key.to_numpy(), key_iv]))
        prev_iv = np.array([p for p, _ in touching])
        this_iv = np.array([t for _, t in touching])
        group_values = np.unique(group_key.to_numpy())
        pairs = list(itertools.product(group_values, range(len(touching))))
        g_arr = np.array([p[0] for p in pairs], dtype=object)
        t_arr = np.array([p[1] for p in pairs])
        prev_pos = lookup.reindex(pd.MultiIndex.from_arrays([g_arr, prev_iv[t_arr]])).to_numpy()
        this_pos = lookup.reindex(pd.MultiIndex.from_arrays([g_arr, this_iv[t_arr]])).to_numpy()
        for name in CUMULATIVE_INDICATORS:
            if name not in start_of:
                continue
            a = start_of[name] + prev_pos.astype(np.int64)
            b = start_of[name] + this_pos.astype(np.int64)
            new = add_virtual(np.maximum(counts[b] - counts[a], 0))
            rel_ids = next_rel + np.arange(len(a))
            for cells in (a, b, new):
                rel_parts.append(rel_ids)
                cell_parts.append(cells)
            next_rel += len(a)

    forced = np.zeros(n, dtype=bool)
    public_cells = np.zeros(0, dtype=np.int64)
    if previous is not None:
        forced, public_cube, cross = _previous_relations(
            cube, measures, groups, counts, previous, policy
        )
        # Cells the earlier release showed are known; shown again here unless too small now
        # (a revised delivery), in which case primary suppression hides the new value.
        public_cube &= shown & (counts >= policy.threshold)
        forced &= shown
        public_cells = np.flatnonzero(public_cube)
        for old_value, new_cell, difference in cross:
            old_cells = add_virtual(old_value)
            public_cells = np.r_[public_cells, old_cells]
            diff_cells = add_virtual(difference)
            rel_ids = next_rel + np.arange(len(old_cells))
            for cells in (old_cells, new_cell, diff_cells):
                rel_parts.append(rel_ids)
                cell_parts.append(cells)
            next_rel += len(old_cells)

    all_counts = np.concatenate([counts, *virtual_counts]) if virtual_counts else counts
    virtual = np.r_[~shown, np.ones(n_virtual, dtype=bool)]
    public = np.zeros(len(all_counts), dtype=bool)
    public[public_cells] = True
    suppressed = protect_cells(
        all_counts,
        (np.concatenate(rel_parts), np.concatenate(cell_parts)),
        policy=policy,
        virtual=virtual,
        forced=np.r_[forced, np.zeros(n_virtual, dtype=bool)],
        public=public,
    )[:n]
    released = policy.round_counts(counts)
    out = cube.copy()
    out["released"] = pd.array(np.where(suppressed, 0, released), dtype="Int64")
    out.loc[suppressed, "released"] = pd.NA
    out["cell_suppressed"] = suppressed
    return out


def _previous_relations(cube, measures, groups, counts, previous, policy):
    """What an earlier release means for this cube.

    Returns ``forced`` (cells the earlier release suppressed), ``public`` (cells it showed)
    and the cross-release relations of cumulative counts: a list of ``(old values, new
    cells, differences)``, one entry per direction. For a cumulative indicator and group,
    an old value released on date ``d`` and this release's count on the nearest period end
    after ``d`` (or before ``d``) differ by the units that entered in between; that
    difference must not be the only unknown of the relation when it is small. Only
    differences of 0 or more are counts of units: a negative one (a revised delivery
    counting fewer units) is no relation. The difference is the one a reader sees, of
    released (rounded) counts; with rounding to ``r`` it only bounds the true count to
    within ``r``, so ``r`` is added before it is compared with the threshold (as
    :func:`cohort.release.check_differencing` does).
    """
    cells = previous_cells(previous, measures, groups)
    keys = ["indicator", "interval_start", "interval_end", *groups]
    positions = pd.DataFrame({"_pos": np.arange(len(cube))})
    for c in keys:
        positions[c] = cube[c].astype("string") if c in groups else cube[c]
    for c in ("interval_start", "interval_end"):
        positions[c] = positions[c].astype("datetime64[ns]")
    cells = cells.copy()
    for c in groups:
        cells[c] = cells[c].astype("string")
    cells["indicator"] = cells["indicator"].astype(str)
    positions["indicator"] = positions["indicator"].astype(str)
    matched = cells.merge(positions, on=keys, how="inner")
    hidden = matched["previous_count"].isna().to_numpy()
    forced = np.zeros(len(cube), dtype=bool)
    public = np.zeros(len(cube), dtype=bool)
    forced[matched["_pos"].to_numpy()[hidden]] = True
    public[matched["_pos"].to_numpy()[~hidden]] = True

    cross = []
    old = cells.loc[
        cells["indicator"].isin(list(CUMULATIVE_INDICATORS)).to_numpy()
        & cells["previous_count"].notna().to_numpy()
    ]
    new = positions.loc[positions["indicator"].isin(list(CUMULATIVE_INDICATORS)).to_numpy()]
    if old.empty or new.empty:
        return forced, public, cross
    by = ["indicator", *groups]
    old = old[[*by, "interval_end", "previous_count"]].rename(columns={"interval_end": "_date"})
    new = new[[*by, "interval_end", "_pos"]].rename(columns={"interval_end": "_date"})
    old = old.sort_values("_date", kind="mergesort").reset_index(drop=True)
    new = new.sort_values("_date", kind="mergesort").reset_index(drop=True)
    for direction, sign in (("forward", 1), ("backward", -1)):
        pairs = pd.merge_asof(
            old, new, on="_date", by=by, direction=direction, allow_exact_matches=False
        ).dropna(subset=["_pos"])
        if pairs.empty:
            continue
        old_value = pairs["previous_count"].to_numpy(dtype=np.int64)
        new_cell = pairs["_pos"].to_numpy(dtype=np.int64)
        difference = sign * (policy.round_counts(counts[new_cell]) - old_value)
        keep = difference >= 0
        if keep.any():
            slack = (policy.rounding or 0) if policy.enabled else 0
            cross.append((old_value[keep], new_cell[keep], difference[keep] + slack))
    return forced, public, cross


# --- the monitor -----------------------------------------------------------------------

#: Headline figures of the monitor, as the progress report lists them:
#: (figure, measure, which interval: "last" quarter or "comparison" quarter).
HEADLINE = (
    ("households involved since the study start", "households_involved", "last"),
    ("compulsory legal measures since the study start", "legal_measures", "last"),
    ("legal measures per household involved", "legal_measures_share", "last"),
    ("households with a legal measure", "households_with_measure", "last"),
    ("share of households involved with a legal measure", "households_with_measure_share", "last"),
    ("households actively involved on the reference date", "households_active", "last"),
    ("households actively involved on the comparison date", "households_active", "comparison"),
    ("involvements ended in the last quarter (episodes closed)", "ended_in_period", "last"),
    (
        "households whose involvement ended since the start (involved - active)",
        "ended_since_start",
        "last",
    ),
    ("registrations in the last quarter", "registrations", "last"),
    (
        "registrations in the last quarter, households without children",
        "registrations_without_children",
        "last",
    ),
    ("share of registrations without children", "registrations_without_children_share", "last"),
)


def quarterly_series(
    tables,
    reference_date,
    *,
    by: str | Sequence[str] | None = None,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    study_start=STUDY_START,
    ci_method: str = "wilson",
    alpha: float = 0.05,
    data=None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The monitor's measures for every quarter from the study start to ``R`` (released).

    The long table of :func:`evaluate` for :func:`monitor_measures`, disclosure control on
    by default.

    ``previous`` is the monitor an earlier report released (this function's output for
    the earlier reference date, or that report's ``tables/monitor.csv`` read with
    :func:`read_released`). With it, the two releases together reveal no suppressed cell:

    * a cell the earlier report suppressed stays suppressed (same indicator, interval and
      groups);
    * a cell it released is known to the reader: it is never chosen as a secondary
      suppression, and relations count it as known;
    * for cumulative indicators, the earlier release's count on a date and this release's
      count on the neighbouring period end must not differ by less than the threshold
      unless this release suppresses its side (the earlier report is out already).

    A delivery revised since may give a cell another value than the earlier report
    released: both values are then released. The new value is shown (not suppressed as a
    secondary, since the old value is out anyway), or hidden by primary suppression if it
    is now below the threshold; the old value takes part in the cross-release relations
    of cumulative counts as a known number. Mixing old and new values of different cells
    of the same period is not an exact relation and is not protected.
    """
    return evaluate(
        monitor_measures(by),
        tables,
        reference_date,
        study_start=study_start,
        policy=policy,
        ci_method=ci_method,
        alpha=alpha,
        data=data,
        previous=previous,
    )


def comparison_quarter_end(reference_date, study_start=STUDY_START) -> pd.Timestamp:
    """The default comparison date: the end of the quarter two quarters before ``R``'s.

    For 31 December 2024 that is 30 June 2024, as in the progress report; never before the
    end of the study's first quarter.

    Examples
    --------
    >>> comparison_quarter_end("2024-12-31")
    Timestamp('2024-06-30 00:00:00')
    """
    reference = to_date(reference_date, "reference_date")
    start = to_date(study_start, "study_start")
    quarter = reference.to_period("Q") - 2
    first = start.to_period("Q")
    if quarter < first:
        quarter = first
    return min(quarter.end_time.normalize(), reference)


def monitor_summary(
    tables,
    reference_date,
    *,
    by: str | Sequence[str] | None = None,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    study_start=STUDY_START,
    comparison_date=None,
    ci_method: str = "wilson",
    alpha: float = 0.05,
    series: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The headline figures of the monitor on the reference date, as a tidy released table.

    One row per figure (and per group when ``by`` is given, totals first): ``figure``,
    ``indicator``, ``interval_start``, ``interval_end``, groups, ``numerator``,
    ``denominator``, ``value``, ``ci_lower``, ``ci_upper``, ``ci_method``, ``suppressed``.
    Both readings of "ended" are there: episodes closed in the last quarter and households
    whose involvement ended since the start. The figures are rows of
    :func:`quarterly_series`, so both tables carry the same suppression.

    Parameters
    ----------
    comparison_date : date, optional
        A second date for "actively involved" (default :func:`comparison_quarter_end`); it
        must be the end of a quarter of the series or the reference date.
    series : DataFrame, optional
        The output of :func:`quarterly_series` for the same arguments, to avoid computing
        it twice.
    previous : DataFrame, optional
        The monitor an earlier report released; see :func:`quarterly_series`.
    """
    reference = to_date(reference_date, "reference_date")
    if series is None:
        series = quarterly_series(
            tables,
            reference,
            by=by,
            policy=policy,
            study_start=study_start,
            ci_method=ci_method,
            alpha=alpha,
            previous=previous,
        )
    comparison = (
        comparison_quarter_end(reference, study_start)
        if comparison_date is None
        else to_date(comparison_date, "comparison_date")
    )
    ends = pd.DatetimeIndex(series["interval_end"].unique())
    if comparison not in ends:
        raise ParameterError(
            f"comparison_date {comparison.date()} is not the end of a quarter between the "
            f"study start and {reference.date()}; choose a quarter end such as "
            f"{comparison_quarter_end(reference, study_start).date()}"
        )
    last = ends.max()
    pieces = []
    for order, (figure, name, which) in enumerate(HEADLINE):
        end = last if which == "last" else comparison
        rows = series.loc[
            (series["indicator"] == name).to_numpy() & (series["interval_end"] == end).to_numpy()
        ]
        rows = rows.copy()
        rows.insert(0, "figure", figure)
        rows["_order"] = order
        pieces.append(rows)
    out = pd.concat(pieces, ignore_index=False)
    out = (
        out.sort_values(["_order"], kind="mergesort").drop(columns="_order").reset_index(drop=True)
    )
    start = to_date(study_start, "study_start")
    out.insert(out.columns.get_loc("interval_end") + 1, "period", _period_text(out, start))
    out.attrs = dict(series.attrs)
    out.attrs["comparison_date"] = comparison.strftime("%Y-%m-%d")
    return out


def _period_text(headline: pd.DataFrame, study_start: pd.Timestamp) -> pd.Series:
    # A headline figure is read against one of three periods, and the quarter's own start
    # date would mislead for the first two: counted since the study start (involved,
    # measures, ended since the start), on a date (active), or within the quarter.
    numerator = {m.name: m.numerator for m in monitor_measures()}
    name = headline["indicator"].map(lambda n: numerator.get(n, n))
    since_start = name.isin([*CUMULATIVE_INDICATORS, "ended_since_start"])
    in_period = name.map(lambda n: INDICATORS[n].kind == "in_period" if n in INDICATORS else False)
    end = headline["interval_end"].dt.strftime("%Y-%m-%d")
    first = headline["interval_start"].dt.strftime("%Y-%m-%d").where(
        in_period.to_numpy(dtype=bool), study_start.strftime("%Y-%m-%d")
    )
    ranged = since_start.to_numpy(dtype=bool) | in_period.to_numpy(dtype=bool)
    return (first + " to " + end).where(ranged, end)


def legal_measures_by_type(
    tables,
    reference_date,
    *,
    study_start=STUDY_START,
    policy: DisclosurePolicy = DEFAULT_POLICY,
) -> pd.DataFrame:
    """Compulsory legal measures by type on the reference date, as a released table.

    The measures are exactly those the ``legal_measures`` indicator counts for
    ``[study_start, reference_date]`` (so the ``all`` row equals the monitor's figure):
    columns ``measure_type``, ``measures`` (count) and ``households`` (households with at
    least one measure of that type; a household with two types counts in both, so the
    types do not add up to ``all`` for households). Disclosure control is applied with
    ``all`` as the total of the types.

    Examples
    --------
    >>> tables = {
    ...     "households": pd.DataFrame({"household_id": ["H1", "H2"], "site": ["A", "A"],
    ...                                 "has_children": [True, True]}),
    ...     "episodes": pd.DataFrame({"episode_id": ["E1", "E2"], "household_id": ["H1", "H2"],
    ...         "site": ["A", "A"], "registration_date": pd.to_datetime(["2023-02-01"] * 2),
    ...         "closure_date": pd.to_datetime([None, None])}),
    ...     "legal_measures": pd.DataFrame({"measure_id": ["M1", "M2", "M3"],
    ...         "household_id": ["H1", "H1", "H2"],
    ...         "measure_type": ["supervision_order", "barring_order", "supervision_order"],
    ...         "start_date": pd.to_datetime(["2023-03-01", "2023-04-01", "2022-12-01"])}),
    ... }
    >>> from cohort.disclosure import NO_DISCLOSURE_CONTROL
    >>> legal_measures_by_type(tables, "2024-12-31", policy=NO_DISCLOSURE_CONTROL)[
    ...     ["measure_type", "measures", "households"]].to_string(index=False)
    '     measure_type  measures  households\\n    barring_order         1           1\\nsupervision_order         1           1\\n              all         2           1'
    """
    from cohort.indicators import counted_units, get_table, require_columns

    policy = check_policy(policy)
    reference = to_date(reference_date, "reference_date")
    start = to_date(study_start, "study_start")
    ids = counted_units(tables, "legal_measures", start, reference, study_start=start)
    measures = get_table(tables, "legal_measures")
    require_columns(measures, "legal_measures", ("measure_id", "household_id", "measure_type"))
    counted = measures.loc[measures["measure_id"].astype("string").isin(ids.astype(str))]
    per_type = (
        counted.groupby(counted["measure_type"].astype("string"), observed=True, sort=True)
        .agg(measures=("measure_id", "size"), households=("household_id", "nunique"))
        .reset_index()
    )
    total = pd.DataFrame(
        {
            "measure_type": [TOTAL],
            "measures": [len(counted)],
            "households": [counted["household_id"].nunique()],
        }
    )
    out = pd.concat([per_type, total], ignore_index=True)
    out["measure_type"] = out["measure_type"].astype("string")
    out[["measures", "households"]] = out[["measures", "households"]].astype("int64")
    # Only the measure counts add up over the types; households do not (a household can
    # have several types), so the relation is declared for the measure counts alone.
    protected = apply_disclosure(
        out, policy, count_columns=["measures"], group_columns=["measure_type"]
    )
    alone = apply_disclosure(out[["measure_type", "households"]], policy, count_columns=["households"])
    protected["households"] = alone["households"]
    protected["suppressed"] = protected["suppressed"] | alone["suppressed"]
    return protected
