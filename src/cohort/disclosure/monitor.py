"""Disclosure control of the monitor: every count behind its measures protected at once.

The monitor's cells (indicator x interval x group) are protected together with their
margins, the relations between indicators (involved = active + ended) and the
quarter-to-quarter differences of cumulative counts, and against what an earlier release
of the monitor showed or suppressed (:func:`release_measures`). The changes between two
reports are released by :func:`release_changes`: a change of a count is itself a count
of units.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from cohort.disclosure.cells import (
    disclosure_record,
    margin_relations,
    protect_cells,
)
from cohort.disclosure.policy import SUPPRESSED, check_policy, outside_delivery
from cohort.exceptions import DefinitionError, ParameterError
from cohort.monitor.indicators import (
    CUMULATIVE_INDICATORS,
    GROUP_COLUMNS,
    INDICATOR_RELATIONS,
    TOTAL,
)


def release_measures(counts, policy, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """The long measures table of ``counts`` (:class:`cohort.monitor.measures.MeasureCounts`)
    under disclosure control.

    Every count behind the table is one cell, protected together with the totals, the
    relations between indicators and the quarter-to-quarter differences of cumulative
    counts (:func:`cohort.disclosure.cells.protect_cells`). Values and intervals are
    computed from the released (possibly rounded) counts; a row with a suppressed part is
    suppressed.

    ``previous`` is the monitor an earlier report released (this function's output for the
    earlier reference date, or that report's ``tables/monitor.csv`` read with
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
    of cumulative counts as a known number.
    """
    policy = check_policy(policy)
    protected = _protect_cube(counts.cube, counts.measures, counts.groups, counts.intervals, policy, previous,
                              getattr(counts, "site_periods", None))
    out = counts.table(protected["released"].array, protected["cell_suppressed"].to_numpy(dtype=bool))
    out.attrs["disclosure"] = disclosure_record(
        policy,
        count_columns=["numerator", "denominator"],
        value_columns=["value", "ci_lower", "ci_upper"],
        n_suppressed=int(protected["cell_suppressed"].sum()),
        rule="monitor cells",
        key_columns=[c for c in ("indicator", "kind", "interval_start", "interval_end", "ci_method") if c in out.columns],
        group_columns=list(counts.groups),
    )
    return out


def release_changes(changes: pd.DataFrame, policy) -> pd.DataFrame:
    """Changes of the headline figures between two reports, under disclosure control.

    ``changes`` is :func:`cohort.monitor.series.changes_since` output (both sides already
    released). A figure suppressed on either date has its change suppressed. A change of a
    count smaller than the threshold (with rounding ``r``: when ``|change| + r`` is below
    it), for example fewer than 10 new households, is itself a small count: the change and
    the current side are suppressed.
    """
    policy = check_policy(policy)
    out = changes.copy()
    hidden = (
        out["previous_suppressed"].astype("boolean").fillna(True)
        | out["current_suppressed"].astype("boolean").fillna(True)
    ).to_numpy(dtype=bool)
    slack = (policy.rounding or 0) if policy.enabled else 0
    small = (
        (out["kind"] == "count").to_numpy()
        & (out["change"].abs() + slack < policy.threshold).fillna(False).to_numpy(dtype=bool)
        & policy.enabled
    )
    out.loc[small, ["current_n", "current_value"]] = pd.NA
    hidden |= small
    out.loc[hidden, "change"] = pd.NA
    out["suppressed"] = pd.array(hidden, dtype="boolean")
    out = out.drop(columns=["previous_suppressed", "current_suppressed"])
    out.attrs = {}
    out.attrs["disclosure"] = disclosure_record(
        policy,
        count_columns=["previous_n", "current_n"],
        value_columns=["previous_value", "current_value", "change"],
        n_suppressed=int(hidden.sum()),
        rule="changes between reports",
    )
    return out


def read_released(path) -> pd.DataFrame:
    """Read a released measures table (``tables/monitor.csv``) back for ``previous=``.

    Dates become dates, counts ``Int64`` and values ``Float64`` (``<NA>`` where
    suppressed or empty), ``suppressed`` boolean; the other columns stay text.
    """
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
    if {"interval_start", "interval_end"} <= set(frame.columns) and len(frame):
        # the dates the monitor describes, as a released series records them
        frame.attrs["study_start"] = frame["interval_start"].min().strftime("%Y-%m-%d")
        frame.attrs["reference_date"] = frame["interval_end"].max().strftime("%Y-%m-%d")
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


def _protect_cube(cube, measures, groups, iv, policy, previous=None, site_periods=None) -> pd.DataFrame:
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

    # A site's zero outside its delivery period is structural: known to every reader, so
    # it is shown (as 0), never forced or chosen, and counts as known in every relation.
    structural = structural_cells(cube, site_periods or {}, _study_start(iv)) & (counts == 0)
    forced &= ~structural
    all_counts = np.concatenate([counts, *virtual_counts]) if virtual_counts else counts
    virtual = np.r_[~shown, np.ones(n_virtual, dtype=bool)]
    public = np.zeros(len(all_counts), dtype=bool)
    public[public_cells] = True
    public[:n] |= structural
    suppressed = protect_cells(
        all_counts,
        (np.concatenate(rel_parts), np.concatenate(cell_parts)),
        policy=policy,
        virtual=virtual,
        forced=np.r_[forced, np.zeros(n_virtual, dtype=bool)],
        public=public,
    )[:n]
    suppressed &= ~structural
    released = policy.round_counts(counts)
    out = cube.copy()
    out["released"] = pd.array(np.where(suppressed, 0, released), dtype="Int64")
    out.loc[suppressed, "released"] = pd.NA
    out["cell_suppressed"] = suppressed
    out["structural"] = structural
    return out


def _study_start(iv) -> pd.Timestamp:
    return pd.Timestamp(iv["interval_start"].min())


def structural_cells(cube: pd.DataFrame, site_periods, study_start) -> np.ndarray:
    """Cells of the monitor's cube outside their site's delivery period
    (:func:`cohort.disclosure.policy.outside_delivery`), by each indicator's period: since
    the study start for a cumulative count, the quarter for a count in a period, the
    quarter's end for a count on a date."""
    n = len(cube)
    if not site_periods or "site" not in cube.columns or n == 0:
        return np.zeros(n, dtype=bool)
    from cohort.monitor.indicators import INDICATORS

    indicator = cube["indicator"].astype(str)
    kind = indicator.map(lambda name: INDICATORS[name].kind if name in INDICATORS else "on_date")
    additivity = np.where(
        indicator.isin(list(CUMULATIVE_INDICATORS)).to_numpy(),
        "cumulative",
        np.where(kind.to_numpy() == "in_period", "in_period", "on_date"),
    )
    start = pd.to_datetime(cube["interval_start"]).dt.strftime("%Y-%m-%d").to_numpy()
    end = pd.to_datetime(cube["interval_end"]).dt.strftime("%Y-%m-%d").to_numpy()
    first = pd.Timestamp(study_start).strftime("%Y-%m-%d")
    period_start = np.where(additivity == "cumulative", first, np.where(additivity == "on_date", end, start))
    return outside_delivery(cube["site"].astype(str).to_numpy(), period_start, end, additivity, site_periods)


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
    :func:`cohort.disclosure.check.check_differencing` does).
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
