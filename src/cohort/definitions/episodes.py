"""Episodes of involvement: clipping to the reference date, the study, activity on a date.

The definitions are those of ``docs/definitions.md`` (sections "Study period and reference
date" and "Episodes of involvement"); this module implements each of them once, as pure
functions over the ``episodes`` table that return new objects and never change their input.

* :func:`clip_to_reference` - the data as if extracted at the end of day ``R``: episodes
  registered after ``R`` are dropped, closures after ``R`` become "still open".
* :func:`in_study` - episodes overlapping ``[S, R]``.
* :func:`active_on` / :func:`households_active_on` - open on a date (an episode closed on
  ``d`` is not active on ``d``).
* :func:`first_registration` - per household, the first registration of an episode in the
  study: the day the household enters "involved since the start".
* :func:`activity_spells` and :func:`inactive_spells` - per household, the union of its
  episodes' active periods ``[registration, closure)`` and the gaps after its first one;
  overlapping episodes merge, so a household counts once.

Dates are whole days (``datetime64[ns]`` at midnight); open-ended periods have ``NaT`` as
their end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.definitions.dates import STUDY_START, to_date
from cohort.exceptions import DefinitionError, DeliveryError

_EPISODE_COLUMNS = ("household_id", "registration_date", "closure_date")


def require_columns(frame: pd.DataFrame, table: str, columns) -> None:
    """Raise :class:`DeliveryError` naming the table and columns that are missing."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DeliveryError(
            f"table {table!r} lacks column(s) {', '.join(missing)}; "
            "load the delivery with cohort.load so that it follows the data model"
        )


def _as_datetime(series: pd.Series, table: str, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.astype("datetime64[ns]")
    try:
        return pd.to_datetime(series, format="%Y-%m-%d")
    except (TypeError, ValueError):
        raise DeliveryError(
            f"table {table!r} column {column!r} holds values that are not dates written "
            "YYYY-MM-DD; load the delivery with cohort.load, which reports the rows"
        ) from None


def clip_to_reference(episodes: pd.DataFrame, reference_date) -> pd.DataFrame:
    """Return the episodes as known at the end of the reference date ``R``.

    Episodes registered after ``R`` are dropped; a ``closure_date`` after ``R`` becomes
    ``NaT`` (still open on ``R``) and its ``closure_reason`` is cleared; RVT dates after
    ``R`` become ``NaT``. The input is not changed.

    Raises
    ------
    DeliveryError
        If a required column is missing.
    DefinitionError
        If a registration date is missing (validation rejects such rows; run it first).

    Examples
    --------
    >>> eps = pd.DataFrame({
    ...     "household_id": ["H1", "H2", "H3"],
    ...     "registration_date": pd.to_datetime(["2024-01-05", "2024-03-01", "2025-01-02"]),
    ...     "closure_date": pd.to_datetime(["2025-02-01", "2024-12-31", None]),
    ... })
    >>> clip_to_reference(eps, "2024-12-31")[["household_id", "closure_date"]]
      household_id closure_date
    0           H1          NaT
    1           H2   2024-12-31
    """
    require_columns(episodes, "episodes", _EPISODE_COLUMNS)
    reference = to_date(reference_date, "reference_date")
    registration = _as_datetime(episodes["registration_date"], "episodes", "registration_date")
    if registration.isna().any():
        raise DefinitionError(
            f"table 'episodes' has {int(registration.isna().sum())} row(s) without a "
            "registration_date (rule: required); run cohort validate and use the accepted rows"
        )
    keep = (registration <= reference).to_numpy()
    out = episodes.loc[keep].copy()
    out["registration_date"] = registration[keep]
    closure = _as_datetime(out["closure_date"], "episodes", "closure_date")
    after = closure > reference
    out["closure_date"] = closure.mask(after)
    if "closure_reason" in out.columns:
        out["closure_reason"] = out["closure_reason"].mask(after)
    for column in ("rvt_start_date", "rvt_end_date"):
        if column in out.columns:
            values = _as_datetime(out[column], "episodes", column)
            out[column] = values.mask(values > reference)
    return out


def in_study(episodes: pd.DataFrame, study_start=STUDY_START, reference_date=None) -> pd.Series:
    """Whether each episode overlaps the study period ``[S, R]``.

    ``registration_date <= R`` and (open on ``R`` or ``closure_date >= S``). An episode
    registered before ``S`` and open at ``S`` is in the study; one closed before ``S`` is
    not. ``reference_date=None`` takes the episodes as already clipped.

    Examples
    --------
    >>> eps = pd.DataFrame({
    ...     "household_id": ["H1", "H2", "H3"],
    ...     "registration_date": pd.to_datetime(["2022-06-01", "2022-06-01", "2024-01-01"]),
    ...     "closure_date": pd.to_datetime(["2022-12-31", "2023-01-01", None]),
    ... })
    >>> in_study(eps, "2023-01-01", "2024-12-31").tolist()
    [False, True, True]
    """
    start = to_date(study_start, "study_start")
    if reference_date is None:
        require_columns(episodes, "episodes", _EPISODE_COLUMNS)
        registration = _as_datetime(episodes["registration_date"], "episodes", "registration_date")
        closure = _as_datetime(episodes["closure_date"], "episodes", "closure_date")
        result = registration.notna() & (closure.isna() | (closure >= start))
        return result.rename("in_study")
    reference = to_date(reference_date, "reference_date")
    require_columns(episodes, "episodes", _EPISODE_COLUMNS)
    registration = _as_datetime(episodes["registration_date"], "episodes", "registration_date")
    closure = _as_datetime(episodes["closure_date"], "episodes", "closure_date")
    open_on_reference = closure.isna() | (closure > reference)
    result = (registration <= reference) & (open_on_reference | (closure >= start))
    return result.rename("in_study")


def active_on(episodes: pd.DataFrame, date) -> pd.Series:
    """Whether each episode is active (open) on ``date``.

    ``registration_date <= d`` and (``closure_date`` empty or ``closure_date > d``): an
    episode closed **on** ``d`` is not active on ``d``, one registered on ``d`` is.

    Examples
    --------
    >>> eps = pd.DataFrame({
    ...     "household_id": ["H1", "H2", "H3"],
    ...     "registration_date": pd.to_datetime(["2024-01-01", "2024-06-30", "2024-07-01"]),
    ...     "closure_date": pd.to_datetime(["2024-06-30", None, None]),
    ... })
    >>> active_on(eps, "2024-06-30").tolist()
    [False, True, False]
    """
    d = to_date(date, "date")
    require_columns(episodes, "episodes", _EPISODE_COLUMNS)
    registration = _as_datetime(episodes["registration_date"], "episodes", "registration_date")
    closure = _as_datetime(episodes["closure_date"], "episodes", "closure_date")
    return ((registration <= d) & (closure.isna() | (closure > d))).rename("active")


def households_active_on(episodes: pd.DataFrame, date) -> pd.Series:
    """Per household in ``episodes``: whether at least one of its episodes is active on ``date``.

    Returns a boolean Series indexed by ``household_id`` (sorted).

    Examples
    --------
    >>> eps = pd.DataFrame({
    ...     "household_id": ["H1", "H1", "H2"],
    ...     "registration_date": pd.to_datetime(["2024-01-01", "2024-05-01", "2024-01-01"]),
    ...     "closure_date": pd.to_datetime(["2024-03-01", None, "2024-03-01"]),
    ... })
    >>> households_active_on(eps, "2024-06-30").to_dict()
    {'H1': True, 'H2': False}
    """
    active = active_on(episodes, date)
    return (
        active.groupby(episodes["household_id"].to_numpy())
        .any()
        .rename("active")
        .rename_axis("household_id")
    )


def first_registration(
    episodes: pd.DataFrame, study_start=STUDY_START, reference_date=None
) -> pd.Series:
    """Per household: the earliest registration date of its episodes in the study.

    The household counts as *involved since the start* from this date on (for an episode
    registered before ``S`` and still open at ``S``: from ``S`` on, since the date is before
    ``S``). Households with no episode in the study are absent. ``reference_date`` clips
    the episodes first (``None``: already clipped).

    Examples
    --------
    >>> eps = pd.DataFrame({
    ...     "household_id": ["H1", "H1", "H2"],
    ...     "registration_date": pd.to_datetime(["2022-03-01", "2024-05-01", "2022-01-01"]),
    ...     "closure_date": pd.to_datetime(["2022-09-01", None, "2023-02-01"]),
    ... })
    >>> first_registration(eps, "2023-01-01", "2024-12-31").dt.strftime("%Y-%m-%d").to_dict()
    {'H1': '2024-05-01', 'H2': '2022-01-01'}
    """
    if reference_date is not None:
        episodes = clip_to_reference(episodes, reference_date)
    study = in_study(episodes, study_start)
    registration = _as_datetime(episodes["registration_date"], "episodes", "registration_date")
    keys = episodes["household_id"].to_numpy()[study.to_numpy()]
    first = registration[study].groupby(keys).min()
    return first.rename("first_registration").rename_axis("household_id")


def activity_spells(episodes: pd.DataFrame) -> pd.DataFrame:
    """Per household, the union of its episodes' active periods, as disjoint spells.

    An episode is active on the days ``[registration_date, closure_date)``; overlapping or
    touching episodes of a household merge into one spell, so that a household counts once
    however many episodes it has open. Returns columns ``household_id``, ``start``, ``end``
    (``NaT``: still open), sorted. Expects clipped episodes (:func:`clip_to_reference`).

    Examples
    --------
    >>> eps = pd.DataFrame({
    ...     "household_id": ["H1", "H1", "H1", "H2"],
    ...     "registration_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-06-01", "2024-01-01"]),
    ...     "closure_date": pd.to_datetime(["2024-03-01", "2024-04-01", None, "2024-01-01"]),
    ... })
    >>> activity_spells(eps)
      household_id      start        end
    0           H1 2024-01-01 2024-04-01
    1           H1 2024-06-01        NaT
    """
    require_columns(episodes, "episodes", _EPISODE_COLUMNS)
    ids = episodes["household_id"]
    is_text = not pd.api.types.is_integer_dtype(ids.dtype)
    # Integer household codes (as the monitor uses) factorise much faster than strings.
    household = ids.to_numpy(dtype=object) if is_text else ids.to_numpy()
    start = _as_datetime(episodes["registration_date"], "episodes", "registration_date").to_numpy()
    end = _as_datetime(episodes["closure_date"], "episodes", "closure_date").to_numpy()
    start_days = start.astype("datetime64[D]").astype(np.int64)
    # An open episode never ends; a closure before the registration (invalid, reported by
    # validation) gives an empty period.
    end_days = np.where(
        np.isnat(end), np.iinfo(np.int64).max, end.astype("datetime64[D]").astype(np.int64)
    )
    end_days = np.maximum(end_days, start_days)
    nonempty = end_days > start_days  # closed on the day of registration: never active
    codes, uniques = pd.factorize(household[nonempty], sort=True)
    s, e = start_days[nonempty], end_days[nonempty]
    order = np.lexsort((s, codes))
    codes, s, e = codes[order], s[order], e[order]
    n = len(codes)
    if n == 0:
        return pd.DataFrame(
            {
                "household_id": pd.Series([], dtype="string" if is_text else np.int64),
                "start": pd.Series([], dtype="datetime64[ns]"),
                "end": pd.Series([], dtype="datetime64[ns]"),
            }
        )
    # Running maximum of the end within a household, over the episodes before this one:
    # a new spell starts where the registration is after every earlier end.
    new_household = np.r_[True, codes[1:] != codes[:-1]]
    running = _grouped_cummax(e, new_household)
    previous_end = np.r_[np.iinfo(np.int64).min, running[:-1]]
    new_spell = new_household | (s > previous_end)
    spell_start = s[new_spell]
    spell_end = np.maximum.reduceat(e, np.flatnonzero(new_spell))
    spell_household = uniques[codes[new_spell]]
    open_spell = spell_end == np.iinfo(np.int64).max
    return pd.DataFrame(
        {
            "household_id": pd.array(spell_household, dtype="string")
            if is_text
            else spell_household,
            "start": _days_to_datetime(spell_start),
            "end": _days_to_datetime(np.where(open_spell, 0, spell_end), nat=open_spell),
        }
    )


def inactive_spells(episodes: pd.DataFrame, study_start=STUDY_START) -> pd.DataFrame:
    """Per household involved since the start: the periods it is not active.

    The complement of its activity spells (from its episodes in the study) from its first
    registration on: the gaps between spells and the period after its last closure, when
    an involvement has ended. Returns ``household_id``, ``start``, ``end`` (``NaT``: not
    re-registered), sorted. A household registered and closed on the same day is inactive
    from that day. Expects clipped episodes (:func:`clip_to_reference`).

    Examples
    --------
    >>> eps = pd.DataFrame({
    ...     "household_id": ["H1", "H1", "H2"],
    ...     "registration_date": pd.to_datetime(["2023-03-01", "2024-06-01", "2023-05-01"]),
    ...     "closure_date": pd.to_datetime(["2023-09-01", "2024-08-01", None]),
    ... })
    >>> inactive_spells(eps)
      household_id      start        end
    0           H1 2023-09-01 2024-06-01
    1           H1 2024-08-01        NaT
    """
    study = in_study(episodes, study_start).to_numpy()
    episodes = episodes.loc[study]
    first = first_registration(episodes, study_start)
    spells = activity_spells(episodes)
    is_text = not pd.api.types.is_integer_dtype(spells["household_id"].dtype)
    household = (
        spells["household_id"].to_numpy(dtype=object)
        if is_text
        else spells["household_id"].to_numpy()
    )
    last_of_household = (
        np.r_[household[1:] != household[:-1], True] if len(household) else np.array([], bool)
    )
    first_of_household = (
        np.r_[True, household[1:] != household[:-1]] if len(household) else np.array([], bool)
    )
    next_start = np.r_[spells["start"].to_numpy()[1:], np.datetime64("NaT")].astype(
        "datetime64[ns]"
    )
    between = pd.DataFrame(
        {
            "household_id": household,
            "start": spells["end"].to_numpy(),
            "end": np.where(last_of_household, np.datetime64("NaT"), next_start).astype(
                "datetime64[ns]"
            ),
        }
    )
    between = between.loc[between["start"].notna().to_numpy()]  # an open spell leaves no gap
    # Before the first spell: only when an episode closed on its registration day came first,
    # or when the household has no active day at all.
    first_spell_start = pd.Series(
        spells["start"].to_numpy()[first_of_household], index=household[first_of_household]
    )
    spell_start = first_spell_start.reindex(first.index)
    before_mask = (spell_start.isna() | (first < spell_start)).to_numpy()
    before = pd.DataFrame(
        {
            "household_id": first.index.to_numpy()[before_mask],
            "start": first.to_numpy()[before_mask],
            "end": spell_start.to_numpy()[before_mask],
        }
    )
    gaps = pd.concat([between, before], ignore_index=True)
    if is_text:
        gaps["household_id"] = gaps["household_id"].astype("string")
    else:
        gaps["household_id"] = gaps["household_id"].astype(np.int64)
    gaps["start"] = gaps["start"].astype("datetime64[ns]")
    gaps["end"] = gaps["end"].astype("datetime64[ns]")
    gaps = gaps.sort_values(["household_id", "start"], kind="mergesort")
    return gaps.reset_index(drop=True)


def _grouped_cummax(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Cumulative maximum of ``values`` restarting where ``group_start`` is True.

    Vectorised: offsetting each group by a rank-preserving constant keeps groups apart in
    one global ``np.maximum.accumulate``.
    """
    if len(values) == 0:
        return values.copy()
    group = np.cumsum(group_start) - 1
    # Rank-transform values so that each group's offset is a small integer range.
    ranks = np.unique(values, return_inverse=True)[1].astype(np.int64)
    width = int(ranks.max()) + 1
    shifted = ranks + group.astype(np.int64) * width
    running = np.maximum.accumulate(shifted) - group.astype(np.int64) * width
    sorted_unique = np.unique(values)
    return sorted_unique[running]


def _days_to_datetime(days: np.ndarray, nat: np.ndarray | None = None) -> np.ndarray:
    out = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")
    if nat is not None:
        out = out.copy()
        out[nat] = np.datetime64("NaT")
    return out
