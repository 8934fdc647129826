"""The indicators of the quarterly monitor, each defined once.

Every indicator in ``docs/definitions.md`` ("Indicators of the quarterly monitor") is an
:class:`Indicator` in :data:`INDICATORS`: a unit (household, episode, measure), a kind and a
rule that turns the delivery into *counting rows*. A counting row is one unit with an
``entry`` and an ``exit`` day and its groups (site, with or without children):

* kind ``"on_date"``: the unit counts on day ``d`` when ``entry <= d < exit`` (``exit``
  empty: never leaves). Cumulative indicators ("since the start") are of this kind with an
  empty exit. An interval ``[a, b]`` reports the value on its end ``b``.
* kind ``"in_period"``: the row is an event on day ``entry``; an interval ``[a, b]`` counts
  the events with ``a <= entry <= b``.

Counting is vectorised over all units, dates and groups at once (:func:`count_on_dates`):
each row adds one at the first evaluation date on or after its entry and removes it at the
first on or after its exit, and a cumulative sum over the dates gives every count; a period
count is the difference of two such counts. There is no loop over households or dates.

Raw counts here are for computation; what the package releases goes through
:mod:`cohort.measures` and :mod:`cohort.disclosure`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from cohort.definitions.dates import STUDY_START, check_period, to_date
from cohort.definitions.episodes import (
    activity_spells,
    clip_dates,
    first_registration,
    in_study_dates,
    inactive_spells,
)
from cohort.definitions.tables import date_values, require_columns
from cohort.exceptions import DefinitionError, DeliveryError, ParameterError

#: Label of the row that totals a group column (all sites, with and without children).
TOTAL = "all"

#: The columns an indicator can be grouped by (besides the interval).
GROUP_COLUMNS = ("site", "has_children")

#: Labels of ``has_children`` in released tables (``unknown``: missing in the delivery).
HAS_CHILDREN_LABELS = {True: "yes", False: "no"}
UNKNOWN = "unknown"

_NEVER = np.iinfo(np.int64).max  # exit day of a unit that never leaves


@dataclass(frozen=True)
class Indicator:
    """One indicator of the monitor.

    Parameters
    ----------
    name : str
        Name used in tables and in ``docs/definitions.md``.
    unit : str
        What is counted: ``"household"``, ``"episode"`` or ``"measure"``.
    kind : str
        ``"on_date"`` (value on the interval's end) or ``"in_period"`` (events in it).
    description : str
        One line, as in the definitions page.
    derive : callable
        ``derive(data: MonitorData) -> DataFrame`` of counting rows with columns
        ``unit`` (code of the household, episode or measure), ``entry``, ``exit`` (int days since 1970, ``exit`` may be the sentinel
        for "never"), ``site`` and ``has_children`` (category codes of ``data``).
    """

    name: str
    unit: str
    kind: str
    description: str
    derive: Callable[[MonitorData], pd.DataFrame]


def get_table(tables, name: str) -> pd.DataFrame:
    """Return table ``name`` of a delivery, a mapping of frames or an object with attributes.

    Raises
    ------
    DeliveryError
        If the table is absent.
    """
    frame = None
    if isinstance(tables, Mapping):
        frame = tables.get(name)
    else:
        inner = getattr(tables, "tables", None)
        if isinstance(inner, Mapping):
            frame = inner.get(name)
        if frame is None:
            frame = getattr(tables, name, None)
    if frame is None:
        raise DeliveryError(
            f"the delivery has no table {name!r}; the monitor needs households, episodes "
            "and legal_measures (see docs/data-model.md)"
        )
    if not isinstance(frame, pd.DataFrame):
        raise DeliveryError(f"table {name!r} is not a pandas DataFrame but {type(frame).__name__}")
    return frame


def _days(values) -> np.ndarray:
    """Datetime values as int64 days since 1970 (NaT becomes the minimum int64)."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    return arr.astype("datetime64[D]").astype(np.int64)


@dataclass(frozen=True)
class MonitorData:
    """The delivery prepared once for all indicators: clipped to ``R``, coded for grouping.

    Build it with :func:`prepare`. Households are integer codes (their row in
    ``household_ids``), so that the derivations never sort strings; ``sites`` and
    ``has_children`` are the labels the group codes refer to.
    """

    study_start: pd.Timestamp
    reference_date: pd.Timestamp
    household_ids: np.ndarray  # pseudonym per household code (row-level: never released)
    household_site: np.ndarray  # site code per household code
    household_child: np.ndarray  # has_children code per household code
    episodes: pd.DataFrame  # in study, clipped: household_id (code), registration_date, closure_date, reg, close, site_code
    episode_ids: np.ndarray  # pseudonym per row of ``episodes``
    measures: pd.DataFrame  # in [S, R]: household (code), start (int days)
    measure_ids: np.ndarray  # identifier per row of ``measures``
    sites: tuple[str, ...]
    has_children: tuple[str, ...]

    @property
    def categories(self) -> dict[str, tuple[str, ...]]:
        return {"site": self.sites, "has_children": self.has_children}

    @cached_property
    def involved_entry(self) -> pd.Series:
        """Per household code: the day it counts as involved (first registration in the study)."""
        first = first_registration(
            self.episodes[["household_id", "registration_date", "closure_date"]], self.study_start
        )
        return pd.Series(_days(first.to_numpy()), index=first.index.to_numpy().astype(np.int64))

    @cached_property
    def spells(self) -> pd.DataFrame:
        return activity_spells(self.episodes[["household_id", "registration_date", "closure_date"]])

    @cached_property
    def gaps(self) -> pd.DataFrame:
        return inactive_spells(
            self.episodes[["household_id", "registration_date", "closure_date"]], self.study_start
        )


def prepare(tables, reference_date, study_start=STUDY_START) -> MonitorData:
    """Clip the delivery to the reference date and code its groups (pure; input unchanged).

    Applies the rules of :func:`cohort.definitions.episodes.clip_to_reference` and
    :func:`cohort.definitions.episodes.in_study` on arrays
    (:func:`~cohort.definitions.episodes.clip_dates`,
    :func:`~cohort.definitions.episodes.in_study_dates`), keeping only what the indicators
    need.

    Raises
    ------
    DeliveryError
        If a table or column the monitor needs is missing, household ids repeat, or an
        episode's household is not in ``households``.
    DefinitionError
        If an episode has no registration date.
    ParameterError
        If the dates are not dates or ``R`` is before ``S``.
    """
    start, reference = check_period(study_start, reference_date)
    households = get_table(tables, "households")
    episodes = get_table(tables, "episodes")
    measures = get_table(tables, "legal_measures")
    require_columns(households, "households", ("household_id", "site", "has_children"))
    require_columns(
        episodes,
        "episodes",
        ("episode_id", "household_id", "site", "registration_date", "closure_date"),
    )
    require_columns(measures, "legal_measures", ("measure_id", "household_id", "start_date"))
    hh_index = pd.Index(households["household_id"].astype("string"))
    if not hh_index.is_unique:
        raise DeliveryError(
            "table 'households' has duplicate household_id values (rule: key is unique); "
            "run cohort validate and use the accepted rows"
        )

    site_values = [households["site"], episodes["site"]]
    try:
        site_values.append(get_table(tables, "sites")["site"])
    except DeliveryError:
        pass  # the sites table only adds sites without any household
    all_sites = pd.concat([s.astype("string") for s in site_values], ignore_index=True)
    sites = tuple(sorted(all_sites.dropna().unique().tolist()))
    if all_sites.isna().any():
        sites = sites + (UNKNOWN,)
    site_index = pd.Index(sites)

    def site_codes(series: pd.Series) -> np.ndarray:
        values = series.astype("string").fillna(UNKNOWN)
        return site_index.get_indexer(values).astype(np.int64)

    children = households["has_children"].astype("boolean")
    labels = ["no", "yes"]
    if children.isna().any():
        labels.append(UNKNOWN)
    # no -> 0, yes -> 1, missing -> 2
    child_code = np.where(
        children.isna().to_numpy(), 2, children.fillna(False).to_numpy(dtype=bool).astype(np.int64)
    )

    reg = date_values(episodes, "episodes", "registration_date")
    close = date_values(episodes, "episodes", "closure_date")
    if np.isnat(reg).any():
        raise DefinitionError(
            f"table 'episodes' has {int(np.isnat(reg).sum())} row(s) without a "
            "registration_date (rule: required); run cohort validate and use the accepted rows"
        )
    r64, s64 = reference.to_datetime64(), start.to_datetime64()
    known, close = clip_dates(reg, close, reference)  # closed after R: open on R
    keep = known & in_study_dates(reg, close, start)  # in the study [S, R]
    position = hh_index.get_indexer(episodes["household_id"].astype("string")[keep])
    if (position < 0).any():
        raise DeliveryError(
            f"table 'episodes' has {int((position < 0).sum())} row(s) whose household_id is "
            "not in 'households' (rule: reference households.household_id); run cohort validate"
        )
    reg, close = reg[keep], close[keep].astype("datetime64[ns]")
    ep = pd.DataFrame(
        {
            "household_id": position.astype(np.int64),
            "registration_date": reg,
            "closure_date": close,
            "reg": _days(reg),
            "close": np.where(np.isnat(close), _NEVER, _days(close)),
            "site_code": site_codes(episodes["site"][keep]),
        }
    )

    measure_start = date_values(measures, "legal_measures", "start_date")
    m_keep = (measure_start >= s64) & (measure_start <= r64)
    m_household = hh_index.get_indexer(measures["household_id"].astype("string")[m_keep])
    ms = pd.DataFrame(
        {"household": m_household.astype(np.int64), "start": _days(measure_start[m_keep])}
    )
    return MonitorData(
        study_start=start,
        reference_date=reference,
        household_ids=hh_index.to_numpy(),
        household_site=site_codes(households["site"]),
        household_child=child_code,
        episodes=ep,
        episode_ids=episodes["episode_id"].to_numpy()[keep],
        measures=ms,
        measure_ids=measures["measure_id"].to_numpy()[m_keep],
        sites=sites,
        has_children=tuple(labels),
    )


# --- counting rows per indicator ------------------------------------------------------


def _rows(unit, entry, exit_, site, child) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit": np.asarray(unit, dtype=np.int64),
            "entry": np.asarray(entry, dtype=np.int64),
            "exit": np.asarray(exit_, dtype=np.int64),
            "site": np.asarray(site, dtype=np.int64),
            "has_children": np.asarray(child, dtype=np.int64),
        }
    )


def _household_rows(data: MonitorData, household, entry, exit_) -> pd.DataFrame:
    household = np.asarray(household, dtype=np.int64)
    return _rows(
        household, entry, exit_, data.household_site[household], data.household_child[household]
    )


def _spell_rows(data: MonitorData, spells: pd.DataFrame) -> pd.DataFrame:
    entry = _days(spells["start"])
    end = spells["end"].to_numpy()
    exit_ = np.where(np.isnat(end), _NEVER, _days(end))
    return _household_rows(data, spells["household_id"].to_numpy(), entry, exit_)


def _rows_households_involved(data: MonitorData) -> pd.DataFrame:
    entry = data.involved_entry
    return _household_rows(data, entry.index, entry.to_numpy(), np.full(len(entry), _NEVER))


def _rows_households_active(data: MonitorData) -> pd.DataFrame:
    return _spell_rows(data, data.spells)


def _rows_ended_since_start(data: MonitorData) -> pd.DataFrame:
    return _spell_rows(data, data.gaps)


def _episode_rows(data: MonitorData, mask: np.ndarray, entry: np.ndarray) -> pd.DataFrame:
    ep = data.episodes
    household = ep["household_id"].to_numpy()[mask]
    return _rows(
        np.flatnonzero(mask),
        entry[mask],
        np.full(int(mask.sum()), _NEVER),
        ep["site_code"].to_numpy()[mask],
        data.household_child[household],
    )


def _rows_registrations(data: MonitorData) -> pd.DataFrame:
    ep = data.episodes
    return _episode_rows(data, np.ones(len(ep), dtype=bool), ep["reg"].to_numpy())


def _rows_registrations_without_children(data: MonitorData) -> pd.DataFrame:
    ep = data.episodes
    without = data.household_child[ep["household_id"].to_numpy()] == 0
    return _episode_rows(data, without, ep["reg"].to_numpy())


def _rows_ended_in_period(data: MonitorData) -> pd.DataFrame:
    ep = data.episodes
    closed = ep["close"].to_numpy() != _NEVER
    return _episode_rows(data, closed, ep["close"].to_numpy())


def _measure_entries(data: MonitorData) -> pd.DataFrame:
    """Measures in ``[S, R]`` of households involved since the start, with the day they count
    from: the later of the measure's start and the household's first registration."""
    involved = data.involved_entry
    ms = data.measures
    position = involved.index.get_indexer(ms["household"].to_numpy())
    keep = position >= 0
    entry = np.maximum(ms["start"].to_numpy()[keep], involved.to_numpy()[position[keep]])
    return pd.DataFrame(
        {
            "measure": np.flatnonzero(keep),
            "household": ms["household"].to_numpy()[keep],
            "entry": entry,
        }
    )


def _rows_legal_measures(data: MonitorData) -> pd.DataFrame:
    m = _measure_entries(data)
    rows = _household_rows(data, m["household"], m["entry"], np.full(len(m), _NEVER))
    rows["unit"] = m["measure"].to_numpy()
    return rows


def _rows_households_with_measure(data: MonitorData) -> pd.DataFrame:
    m = _measure_entries(data)
    first = m.groupby("household", sort=True)["entry"].min()
    return _household_rows(data, first.index, first.to_numpy(), np.full(len(first), _NEVER))


_INDICATOR_LIST = (
    Indicator(
        "households_involved",
        "household",
        "on_date",
        "households with at least one episode in the study registered on or before d (cumulative since S)",
        _rows_households_involved,
    ),
    Indicator(
        "households_active",
        "household",
        "on_date",
        "households with an episode active on d (registered on or before d, not closed on or before d)",
        _rows_households_active,
    ),
    Indicator(
        "ended_since_start",
        "household",
        "on_date",
        "households involved since S that are not active on d (households_involved - households_active)",
        _rows_ended_since_start,
    ),
    Indicator(
        "registrations",
        "episode",
        "in_period",
        "episodes registered in the period",
        _rows_registrations,
    ),
    Indicator(
        "registrations_without_children",
        "episode",
        "in_period",
        "episodes registered in the period by households without children",
        _rows_registrations_without_children,
    ),
    Indicator(
        "ended_in_period",
        "episode",
        "in_period",
        "episodes closed in the period",
        _rows_ended_in_period,
    ),
    Indicator(
        "legal_measures",
        "measure",
        "on_date",
        "compulsory legal measures started in [S, d] of households involved by d",
        _rows_legal_measures,
    ),
    Indicator(
        "households_with_measure",
        "household",
        "on_date",
        "households involved by d with at least one compulsory legal measure started in [S, d]",
        _rows_households_with_measure,
    ),
)

#: Every indicator of the monitor by name.
INDICATORS: dict[str, Indicator] = {i.name: i for i in _INDICATOR_LIST}

#: Linear relations between indicators on the same interval and groups, ``total = sum(parts)``;
#: a part absent from a table can still be worked out from the others (``None``: a part
#: no indicator names). Disclosure control uses them for secondary suppression.
INDICATOR_RELATIONS: tuple[tuple[str, tuple[str | None, ...]], ...] = (
    ("households_involved", ("households_active", "ended_since_start")),
    ("households_involved", ("households_with_measure", None)),
    ("registrations", ("registrations_without_children", None)),
)

#: Indicators that only grow with the interval end (counted since the start, never leave):
#: the difference of consecutive quarters is a count of its own.
CUMULATIVE_INDICATORS = ("households_involved", "legal_measures", "households_with_measure")


def indicator(name: str) -> Indicator:
    """Return the indicator called ``name``.

    Raises
    ------
    DefinitionError
        If there is no such indicator; the message lists the known ones.
    """
    try:
        return INDICATORS[name]
    except KeyError:
        raise DefinitionError(
            f"unknown indicator {name!r}; known indicators: {', '.join(INDICATORS)}"
        ) from None


def indicator_table() -> pd.DataFrame:
    """The indicators as a table: name, unit, kind, description (for reports).

    Examples
    --------
    >>> indicator_table().loc[0, ["indicator", "unit", "kind"]].tolist()
    ['households_involved', 'household', 'on_date']
    """
    return pd.DataFrame(
        [(i.name, i.unit, i.kind, i.description) for i in _INDICATOR_LIST],
        columns=["indicator", "unit", "kind", "description"],
    )


# --- intervals ------------------------------------------------------------------------


def quarterly_intervals(study_start=STUDY_START, reference_date=None) -> pd.DataFrame:
    """Calendar quarters from the one containing ``S`` to the one containing ``R``.

    The first starts at ``S``, the last is cut at ``R``. Returns ``interval_start``,
    ``interval_end``.

    Examples
    --------
    >>> quarterly_intervals("2023-01-01", "2023-08-15")
      interval_start interval_end
    0     2023-01-01   2023-03-31
    1     2023-04-01   2023-06-30
    2     2023-07-01   2023-08-15
    """
    start, reference = check_period(study_start, reference_date)
    periods = pd.period_range(start.to_period("Q"), reference.to_period("Q"), freq="Q")
    starts = periods.start_time.normalize()
    ends = periods.end_time.normalize()
    frame = pd.DataFrame(
        {
            "interval_start": np.maximum(starts.to_numpy(), start.to_datetime64()),
            "interval_end": np.minimum(ends.to_numpy(), reference.to_datetime64()),
        }
    )
    return frame.astype("datetime64[ns]")


def check_intervals(intervals, study_start, reference_date) -> pd.DataFrame:
    """Return ``intervals`` as a frame of ``interval_start``/``interval_end`` inside ``[S, R]``.

    Accepts a frame with those columns or a sequence of ``(start, end)`` pairs.

    Raises
    ------
    ParameterError
        If an interval ends before it starts or lies partly outside ``[S, R]``.
    """
    start, reference = check_period(study_start, reference_date)
    if intervals is None:
        return quarterly_intervals(start, reference)
    if isinstance(intervals, pd.DataFrame):
        require_columns(intervals, "intervals", ("interval_start", "interval_end"))
        pairs = list(zip(intervals["interval_start"], intervals["interval_end"], strict=True))
    else:
        pairs = list(intervals)
    if not pairs:
        raise ParameterError("intervals is empty: give at least one (start, end) pair")
    rows = []
    for i, pair in enumerate(pairs):
        a, b = to_date(pair[0], f"intervals[{i}] start"), to_date(pair[1], f"intervals[{i}] end")
        if b < a or a < start or b > reference:
            raise ParameterError(
                f"interval {i} [{a.date()}, {b.date()}] must satisfy study_start <= start <= end "
                f"<= reference_date ([{start.date()}, {reference.date()}])"
            )
        rows.append((a, b))
    return pd.DataFrame(rows, columns=["interval_start", "interval_end"]).astype("datetime64[ns]")


# --- counting -------------------------------------------------------------------------


def count_on_dates(
    entry: np.ndarray, exit_: np.ndarray, group: np.ndarray, n_groups: int, dates: np.ndarray
) -> np.ndarray:
    """Count rows with ``entry <= d < exit`` per group and per date, all at once.

    Parameters
    ----------
    entry, exit_ : int arrays
        Days; ``exit_`` may be a very large sentinel (never leaves).
    group : int array
        Group code of each row in ``[0, n_groups)``.
    dates : int array
        Sorted, unique evaluation days.

    Returns
    -------
    ndarray of shape ``(n_groups, len(dates))``.

    Examples
    --------
    >>> count_on_dates(np.array([1, 2, 5]), np.array([3, 9, 6]), np.array([0, 0, 1]), 2,
    ...                np.array([2, 3, 5, 6]))
    array([[2, 1, 1, 1],
           [0, 0, 1, 0]])
    """
    k = len(dates)
    first_in = np.searchsorted(dates, entry, side="left")
    first_out = np.searchsorted(dates, exit_, side="left")
    width = k + 1
    size = n_groups * width
    delta = np.bincount(group * width + first_in, minlength=size) - np.bincount(
        group * width + first_out, minlength=size
    )
    return np.cumsum(delta.reshape(n_groups, width), axis=1)[:, :k]


def indicator_counts(
    tables,
    reference_date,
    indicators: Sequence[str] | None = None,
    *,
    group_by: Sequence[str] = (),
    intervals=None,
    study_start=STUDY_START,
    margins: bool = True,
    data: MonitorData | None = None,
) -> pd.DataFrame:
    """Raw counts of indicators per interval and group: one long table.

    Not for release as such (no disclosure control): :func:`cohort.monitor.measures.evaluate`
    builds the released tables on it.

    Parameters
    ----------
    tables : Delivery or mapping of DataFrames
        Needs ``households``, ``episodes``, ``legal_measures`` (``sites`` optional).
    reference_date : date or str
        ``R``; data after it is ignored.
    indicators : sequence of str, optional
        Names from :data:`INDICATORS` (default: all).
    group_by : sequence of str
        Any of :data:`GROUP_COLUMNS`.
    intervals : DataFrame or sequence of (start, end), optional
        Default: :func:`quarterly_intervals`.
    margins : bool
        Also return the totals over each group column (labelled :data:`TOTAL`).
    data : MonitorData, optional
        A prepared delivery (skips :func:`prepare`).

    Returns
    -------
    DataFrame with ``indicator``, ``interval_start``, ``interval_end``, the group columns
    and ``count`` (int64), sorted.
    """
    group_by = _check_group_by(group_by)
    names = list(INDICATORS) if indicators is None else [indicator(n).name for n in indicators]
    if data is None:
        data = prepare(tables, reference_date, study_start)
    iv = check_intervals(intervals, data.study_start, data.reference_date)
    starts, ends = _days(iv["interval_start"]), _days(iv["interval_end"])
    dates = np.unique(np.r_[ends, starts - 1])
    at_end = np.searchsorted(dates, ends)
    before_start = np.searchsorted(dates, starts - 1)
    categories = [data.categories[g] for g in group_by]
    shape = tuple(len(c) for c in categories)
    n_groups = int(np.prod(shape)) if shape else 1

    frames = []
    for name in names:  # a handful of indicators; each is vectorised over all units
        ind = INDICATORS[name]
        rows = ind.derive(data)
        if group_by:
            codes = tuple(rows[g].to_numpy() for g in group_by)
            group = np.ravel_multi_index(codes, shape) if len(rows) else np.zeros(0, np.int64)
        else:
            group = np.zeros(len(rows), dtype=np.int64)
        counts = count_on_dates(
            rows["entry"].to_numpy(),
            rows["exit"].to_numpy(),
            group.astype(np.int64),
            n_groups,
            dates,
        )
        if ind.kind == "on_date":
            values = counts[:, at_end]
        else:
            values = counts[:, at_end] - counts[:, before_start]
        frames.append(
            _long(name, values.reshape(shape + (len(iv),)), iv, group_by, categories, margins)
        )
    out = pd.concat(frames, ignore_index=True)
    return out


def _check_group_by(group_by) -> tuple[str, ...]:
    if isinstance(group_by, str):
        group_by = (group_by,)
    group_by = tuple(group_by)
    unknown = [g for g in group_by if g not in GROUP_COLUMNS]
    if unknown or len(set(group_by)) != len(group_by):
        raise DefinitionError(
            f"cannot group by {', '.join(map(repr, group_by))}: choose distinct columns among "
            f"{', '.join(GROUP_COLUMNS)} (the interval is always a grouping)"
        )
    return group_by


def _long(name, values, iv, group_by, categories, margins) -> pd.DataFrame:
    """Reshape a (groups..., intervals) array to a long frame, with totals if ``margins``."""
    n_iv = len(iv)
    pieces = []
    choices = [(False, True) if margins else (False,)] * len(group_by)
    for summed in itertools.product(*choices):
        arr = values
        labels = []
        for axis in reversed(range(len(group_by))):
            if summed[axis]:
                arr = arr.sum(axis=axis, keepdims=True)
        for axis in range(len(group_by)):
            labels.append((TOTAL,) if summed[axis] else categories[axis])
        grid = list(itertools.product(*labels, range(n_iv)))
        flat = arr.reshape(-1)
        frame = pd.DataFrame(grid, columns=[*group_by, "_iv"])
        frame["count"] = flat.astype(np.int64)
        pieces.append(frame)
    out = pd.concat(pieces, ignore_index=True)
    out["_iv"] = out["_iv"].astype(np.int64)  # a group without categories gives no rows
    out.insert(0, "indicator", name)
    out.insert(1, "interval_start", iv["interval_start"].to_numpy()[out["_iv"].to_numpy()])
    out.insert(2, "interval_end", iv["interval_end"].to_numpy()[out["_iv"].to_numpy()])
    out = out.drop(columns="_iv")
    for g in group_by:
        out[g] = out[g].astype("string")
    return out.sort_values(
        ["interval_start", "interval_end", *group_by], kind="mergesort"
    ).reset_index(drop=True)


def counted_units(
    tables, name: str, interval_start, interval_end, reference_date=None, study_start=STUDY_START
) -> pd.Index:
    """The units an indicator counts in ``[interval_start, interval_end]`` (internal checks only).

    Returns the sorted ids (household, episode or measure ids) behind a count. Row-level:
    never print or release it; spec tests use it to state the expected unit per household.
    ``reference_date`` defaults to ``interval_end``.

    Examples
    --------
    >>> tables = {
    ...     "households": pd.DataFrame({"household_id": ["H1", "H2"], "site": ["A", "A"],
    ...                                 "has_children": [True, False]}),
    ...     "episodes": pd.DataFrame({"episode_id": ["E1", "E2"], "household_id": ["H1", "H2"],
    ...         "site": ["A", "A"],
    ...         "registration_date": pd.to_datetime(["2023-02-01", "2023-03-01"]),
    ...         "closure_date": pd.to_datetime(["2023-03-31", None])}),
    ...     "legal_measures": pd.DataFrame({"measure_id": [], "household_id": [], "start_date": []}),
    ... }
    >>> counted_units(tables, "households_active", "2023-01-01", "2023-03-31").tolist()
    ['H2']
    """
    ind = indicator(name)
    reference = interval_end if reference_date is None else reference_date
    data = prepare(tables, reference, study_start)
    iv = check_intervals([(interval_start, interval_end)], data.study_start, data.reference_date)
    a, b = _days(iv["interval_start"])[0], _days(iv["interval_end"])[0]
    rows = ind.derive(data)
    entry, exit_ = rows["entry"].to_numpy(), rows["exit"].to_numpy()
    if ind.kind == "on_date":
        mask = (entry <= b) & (b < exit_)
    else:
        mask = (entry >= a) & (entry <= b)
    ids = {
        "household": data.household_ids,
        "episode": data.episode_ids,
        "measure": data.measure_ids,
    }[ind.unit]
    return pd.Index(
        np.sort(np.asarray(ids, dtype=object)[rows["unit"].to_numpy()[mask]]), name="unit_id"
    )
