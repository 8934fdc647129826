"""Episodes of involvement: clipping to the reference date, the study, activity on a date.

The definitions are those of ``docs/definitions.md`` (sections "Study period and reference
date" and "Episodes of involvement"); this module implements each of them once, as pure
functions over the ``episodes`` table that return new objects and never change their input.

* :func:`clip_to_reference` - the data as if extracted at the end of day ``R``: episodes
  registered after ``R`` are dropped, closures after ``R`` become "still open".
* :func:`in_study` - episodes overlapping ``[S, R]``.
* :func:`clip_dates` and :func:`in_study_dates` - the same two rules on arrays of dates,
  for code that works on arrays (the monitor's :func:`cohort.monitor.indicators.prepare`,
  the follow-up tables of :mod:`cohort.definitions.followup`); the frame functions above
  call them, so each rule is written once.
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
from cohort.definitions.tables import date_column, require_columns
from cohort.exceptions import DefinitionError

__all__ = [
    "active_on",
    "activity_spells",
    "clip_dates",
    "clip_to_reference",
    "first_registration",
    "households_active_on",
    "in_study",
    "in_study_dates",
    "inactive_spells",
    "require_columns",
]

_EPISODE_COLUMNS = ("household_id", "registration_date", "closure_date")
_NAT = np.datetime64("NaT", "ns")


def _day(value, name: str) -> np.datetime64:
    return to_date(value, name).to_datetime64().astype("datetime64[ns]")


def clip_dates(registration, closure, reference_date) -> tuple[np.ndarray, np.ndarray]:
    """The reference-date rule on arrays: which episodes exist on ``R``, and their closure.

    An episode registered after ``R`` does not exist yet in data extracted at the end of
    ``R`` (``known`` is False); a closure after ``R`` has not happened yet (``NaT``: still
    open on ``R``). Vectorised; the inputs are not changed.

    Parameters
    ----------
    registration, closure : array-like of datetime64
        One value per episode; ``closure`` is ``NaT`` for an open episode.
    reference_date : date-like

    Returns
    -------
    (known, closure) : bool array and the closures as known on ``R`` (``datetime64[ns]``)

    Examples
    --------
    >>> reg = np.array(["2024-01-05", "2025-01-02"], dtype="datetime64[ns]")
    >>> close = np.array(["2025-02-01", "NaT"], dtype="datetime64[ns]")
    >>> known, clipped = clip_dates(reg, close, "2024-12-31")
    >>> known.tolist(), np.isnat(clipped).tolist()
    ([True, False], [True, True])
    """
    reference = _day(reference_date, "reference_date")
    registration = np.asarray(registration, dtype="datetime64[ns]")
    closure = np.asarray(closure, dtype="datetime64[ns]")
    known = registration <= reference
    return known, np.where(closure > reference, _NAT, closure)


def in_study_dates(registration, closure, study_start=STUDY_START,
                   reference_date=None) -> np.ndarray:
    """The study rule on arrays: episodes overlapping ``[S, R]``.

    ``registration_date <= R`` and (open on ``R`` or ``closure_date >= S``), with the
    dates clipped to ``R`` by :func:`clip_dates`; ``reference_date=None`` takes them as
    already clipped (then every episode with a registration date is registered by ``R``).

    Examples
    --------
    >>> reg = np.array(["2022-06-01", "2022-06-01", "2024-01-01"], dtype="datetime64[ns]")
    >>> close = np.array(["2022-12-31", "2023-01-01", "NaT"], dtype="datetime64[ns]")
    >>> in_study_dates(reg, close, "2023-01-01", "2024-12-31").tolist()
    [False, True, True]
    """
    start = _day(study_start, "study_start")
    registration = np.asarray(registration, dtype="datetime64[ns]")
    if reference_date is None:
        known = ~np.isnat(registration)
        closure = np.asarray(closure, dtype="datetime64[ns]")
    else:
        known, closure = clip_dates(registration, closure, reference_date)
    return known & (np.isnat(closure) | (closure >= start))


def clip_to_reference(episodes: pd.DataFrame, reference_date) -> pd.DataFrame:
    """Return the episodes as known at the end of the reference date ``R``.

    Episodes registered after ``R`` are dropped; a ``closure_date`` after ``R`` becomes
    ``NaT`` (still open on ``R``) and its ``closure_reason`` is cleared; RVT dates after
    ``R`` become ``NaT``. The rule is :func:`clip_dates`. The input is not changed.

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
    registration = date_column(episodes["registration_date"], "episodes", "registration_date")
    if registration.isna().any():
        raise DefinitionError(
            f"table 'episodes' has {int(registration.isna().sum())} row(s) without a "
            "registration_date (rule: required); run cohort validate and use the accepted rows"
        )
    closure = date_column(episodes["closure_date"], "episodes", "closure_date")
    keep, clipped = clip_dates(registration.to_numpy(), closure.to_numpy(), reference)
    out = episodes.loc[keep].copy()
    out["registration_date"] = registration[keep]
    after = (closure > reference)[keep]
    out["closure_date"] = pd.Series(clipped[keep], index=out.index)
    if "closure_reason" in out.columns:
        out["closure_reason"] = out["closure_reason"].mask(after)
    for column in ("rvt_start_date", "rvt_end_date"):
        if column in out.columns:
            values = date_column(out[column], "episodes", column)
            out[column] = values.mask(values > reference)
    return out


def in_study(episodes: pd.DataFrame, study_start=STUDY_START, reference_date=None) -> pd.Series:
    """Whether each episode overlaps the study period ``[S, R]``.

    ``registration_date <= R`` and (open on ``R`` or ``closure_date >= S``). An episode
    registered before ``S`` and open at ``S`` is in the study; one closed before ``S`` is
    not. ``reference_date=None`` takes the episodes as already clipped. The rule is
    :func:`in_study_dates`.

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
    require_columns(episodes, "episodes", _EPISODE_COLUMNS)
    registration = date_column(episodes["registration_date"], "episodes", "registration_date")
    closure = date_column(episodes["closure_date"], "episodes", "closure_date")
    result = in_study_dates(registration.to_numpy(), closure.to_numpy(), study_start, reference_date)
    return pd.Series(result, index=episodes.index, name="in_study")


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
    registration = date_column(episodes["registration_date"], "episodes", "registration_date")
    closure = date_column(episodes["closure_date"], "episodes", "closure_date")
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
    registration = date_column(episodes["registration_date"], "episodes", "registration_date")
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
    start = date_column(episodes["registration_date"], "episodes", "registration_date").to_numpy()
    end = date_column(episodes["closure_date"], "episodes", "closure_date").to_numpy()
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
