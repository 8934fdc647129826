"""Time to direct and to stable safety as interval-censored outcomes.

Implements ``docs/definitions.md``, section "Time to safety", one function per rule, as
pure functions over DataFrames (nothing loops over households):

* :func:`score_series` - the scores used: one respondent (professional by default), one
  score per episode and day (the lowest of that day's scores by default).
* :func:`time_zero` - the origin: the episode's registration (default) or its first
  assessment ("T0").
* :func:`follow_up_end` - the end of follow-up: closure, moving away, the site's
  ``delivery_end`` or the reference date, whichever comes first, and which it was.
* :func:`direct_safety` - the first assessment at or above the threshold, bracketed by the
  assessment before it.
* :func:`stable_safety` - the first run of consecutive assessments at or above the
  threshold whose first and last are at least ``stable_days`` apart; the onset is
  bracketed by the assessment before the run and the run's first assessment.
* :func:`safety_intervals` - the analysis table: one row per episode registered in
  ``[S, R]`` with ``left, right`` (days since time zero; ``right`` infinite for
  right-censored), the kind of censoring, the end of follow-up and the covariates.

Censoring, as the rules give it (all in days since time zero):

* **interval**: not safe at the assessment on day ``left``, safe at the one on day
  ``right``: the event lies in ``(left, right]``;
* **left**: safe at the first assessment (day ``d0``): ``(0, d0]`` - the household became
  safe between time zero and its first assessment, or was safe already; with time zero at
  T0 this is ``left = right = 0``, an event at time zero;
* **right**: not (yet) safe: ``(left, inf)`` with ``left`` the last assessment for direct
  safety; for stable safety the last assessment made at least ``stable_days`` before the
  last one (0 if there is none), up to which stability is settled whatever the scores.

A household with a single assessment is left-censored (safe then) or right-censored (not
safe then) for direct safety; for stable safety it says nothing (stability needs two
assessments ``stable_days`` apart) and is left out, counted in the attrition table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.definitions.dates import STUDY_START, to_date
from cohort.definitions.episodes import clip_to_reference, in_study
from cohort.definitions.followup import (
    _attach_households,
    _Attrition,
    _attrition_record,
    _finalise,
    _household_frame,
    _site_end,
    _table,
    _tables,
)
from cohort.definitions.waves import DAYS_PER_MONTH, prepare_safety
from cohort.delivery.schema import MOVED_AWAY, RESPONDENTS
from cohort.exceptions import DefinitionError, ParameterError

#: Default minimum number of days between the first and the last assessment of a run of
#: safe assessments for stable safety (parameter ``stable_safety_days``).
STABLE_SAFETY_DAYS = 90

#: Rules for several scores of the chosen respondent on one day.
SAME_DAY_RULES = ("min", "max", "mean")

#: Time zero: the episode's registration, or its first assessment.
ORIGINS = ("registration", "t0")

#: Time scales of :func:`safety_intervals`.
TIME_SCALES = ("days", "waves")

#: The outcomes of :func:`safety_intervals`.
OUTCOMES = ("direct", "stable")

#: Reasons follow-up ends (``end_reason``), in the order used to break ties.
END_REASONS = ("moved_away", "closure", "delivery_end", "reference_date")

_SERIES_COLUMNS = ("episode_id", "assessment_date", "score")


def _check(frame, columns, table):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DefinitionError(
            f"{table} lacks column(s) {missing}; columns present: {list(frame.columns)}"
        )


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ParameterError(f"safety_threshold must be a number from 0 to 10, got {threshold!r}") from None
    if not 0 <= value <= 10:
        raise ParameterError(f"safety_threshold must be a number from 0 to 10, got {threshold!r}")
    return value


def _check_stable_days(days) -> int:
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise ParameterError(f"stable_safety_days must be a whole number of at least 1, got {days!r}")
    return int(days)


# ----------------------------------------------------------------------------- rules


def score_series(long: pd.DataFrame, respondent: str = "professional",
                 same_day: str = "min") -> pd.DataFrame:
    """The score series of one respondent: one score per episode and assessment day.

    Rule: only the scores of ``respondent`` (``professional`` by default; ``parent`` or
    ``child`` as options) are used; scores missing are left out. When the respondent has
    several scores on one day (a repeated assessment), ``same_day`` decides: ``"min"``
    (default) the lowest, so a household counts as safe on a day only if every score of
    that day reaches the threshold - the cautious reading, and one that does not depend on
    the order of rows in a delivery; ``"max"`` the highest; ``"mean"`` their mean.

    Parameters
    ----------
    long : DataFrame
        Assessments with ``episode_id, assessment_date, respondent, score`` (as
        :func:`cohort.definitions.waves.prepare_safety` returns them); other columns that
        are constant within an episode (``household_id``, ``registration_date``) are kept.
    respondent, same_day : str

    Returns
    -------
    DataFrame sorted by episode and day: ``episode_id, assessment_date, score,
    n_scores`` (scores that day) and the kept episode columns.

    Examples
    --------
    >>> long = pd.DataFrame({"episode_id": ["E1", "E1", "E1", "E1"],
    ...     "assessment_date": pd.to_datetime(["2024-01-10", "2024-01-10", "2024-07-01", "2024-07-01"]),
    ...     "respondent": ["professional", "professional", "professional", "parent"],
    ...     "score": [8.0, 6.0, 7.0, 9.0]})
    >>> score_series(long)[["assessment_date", "score", "n_scores"]]
      assessment_date  score  n_scores
    0      2024-01-10    6.0         2
    1      2024-07-01    7.0         1
    """
    _check(long, [*_SERIES_COLUMNS, "respondent"], "the assessment table")
    if respondent not in RESPONDENTS:
        raise ParameterError(f"respondent must be one of {RESPONDENTS}, got {respondent!r}")
    if same_day not in SAME_DAY_RULES:
        raise ParameterError(f"same_day must be one of {SAME_DAY_RULES}, got {same_day!r}")
    d = long.loc[(long["respondent"] == respondent).fillna(False).to_numpy(dtype=bool)]
    d = d.loc[d["score"].notna().to_numpy(dtype=bool)]
    keep = [c for c in ("household_id", "registration_date", "wave", "wave_number")
            if c in d.columns]
    d = d.assign(score=d["score"].astype(float))
    g = d.groupby(["episode_id", "assessment_date"], sort=True, observed=True)
    out = g["score"].agg([same_day, "size"]).rename(columns={same_day: "score", "size": "n_scores"})
    out = out.reset_index()
    if keep:
        first = g[keep].first().reset_index(drop=True)
        out = pd.concat([out, first], axis=1)
    out["n_scores"] = out["n_scores"].astype(np.int64)
    return out


def wave_series(series: pd.DataFrame, same_day: str = "min") -> pd.DataFrame:
    """One score per episode and wave: the scores of a wave's days combined by the
    ``same_day`` rule (a wave assessed twice counts as safe, with ``"min"``, only if both
    days were). ``assessment_date`` is the wave's first day.

    Examples
    --------
    >>> s = pd.DataFrame({"episode_id": ["E1"] * 3, "wave_number": [0, 1, 1],
    ...     "assessment_date": pd.to_datetime(["2024-01-10", "2024-07-01", "2024-07-20"]),
    ...     "score": [5.0, 8.0, 6.0]})
    >>> wave_series(s)[["wave_number", "score"]].values.tolist()
    [[0.0, 5.0], [1.0, 6.0]]
    """
    _check(series, ["episode_id", "wave_number", "assessment_date", "score"], "the score series")
    if same_day not in SAME_DAY_RULES:
        raise ParameterError(f"same_day must be one of {SAME_DAY_RULES}, got {same_day!r}")
    d = series.assign(wave_number=series["wave_number"].astype("float64"))
    g = d.groupby(["episode_id", "wave_number"], sort=True)
    out = g["score"].agg(same_day).rename("score").reset_index()
    first = g.agg(**{c: (c, "first") for c in d.columns
                     if c not in ("episode_id", "wave_number", "score")}).reset_index(drop=True)
    out = pd.concat([out, first], axis=1)
    out["assessment_date"] = g["assessment_date"].min().to_numpy()
    return out


def time_zero(series: pd.DataFrame, origin: str = "registration") -> pd.Series:
    """Per episode: the date of time zero.

    ``"registration"`` (default): the episode's ``registration_date``, the moment the
    household enters the pilot - the clock of every other follow-up of the workbench.
    ``"t0"``: the episode's first assessment in the series (its T0), so that time runs from
    the first score; a household first assessed late starts its clock late.

    Examples
    --------
    >>> s = pd.DataFrame({"episode_id": ["E1", "E1"], "score": [4.0, 8.0],
    ...     "assessment_date": pd.to_datetime(["2024-01-10", "2024-07-01"]),
    ...     "registration_date": pd.to_datetime(["2024-01-02"] * 2)})
    >>> time_zero(s, "t0").dt.strftime("%Y-%m-%d").to_dict()
    {'E1': '2024-01-10'}
    """
    if origin not in ORIGINS:
        raise ParameterError(f"origin must be one of {ORIGINS}, got {origin!r}")
    col = "registration_date" if origin == "registration" else "assessment_date"
    _check(series, ["episode_id", col], "the score series")
    agg = "first" if origin == "registration" else "min"
    return series.groupby("episode_id", sort=True)[col].agg(agg).rename("time_zero")


def follow_up_end(episodes: pd.DataFrame, reference_date) -> pd.DataFrame:
    """Per episode: the end of follow-up and why it ended.

    The earliest of the closure (``closure_reason`` ``moved_away`` reads as moving away),
    the household's ``moved_out_date`` (if not before the registration: an earlier move
    belongs to an earlier period), the site's ``delivery_end`` and the reference date
    ``R``. Ties go to the first of ``moved_away, closure, delivery_end, reference_date``.
    Assessments dated up to and including this day count.

    Parameters
    ----------
    episodes : DataFrame
        ``episode_id, registration_date, closure_date, closure_reason, moved_out_date,
        delivery_end`` (episodes clipped to ``R``, with the household's move and the site's
        delivery end attached).

    Returns
    -------
    DataFrame indexed by ``episode_id``: ``end_date, end_reason``.

    Examples
    --------
    >>> D = pd.to_datetime
    >>> eps = pd.DataFrame({"episode_id": ["E1", "E2", "E3"],
    ...     "registration_date": D(["2024-01-01"] * 3),
    ...     "closure_date": D(["2024-05-01", None, "2024-09-01"]),
    ...     "closure_reason": ["goal_reached", None, "moved_away"],
    ...     "moved_out_date": D([None, "2024-06-01", "2024-09-01"]),
    ...     "delivery_end": D(["2026-09-30"] * 3)})
    >>> follow_up_end(eps, "2024-12-31")["end_reason"].tolist()
    ['closure', 'moved_away', 'moved_away']
    """
    _check(episodes, ["episode_id", "registration_date", "closure_date", "closure_reason",
                      "moved_out_date", "delivery_end"], "episodes")
    R = to_date(reference_date, "reference_date")
    reg = episodes["registration_date"]
    closure = episodes["closure_date"].where(episodes["closure_date"] <= R)
    moved_close = closure.where((episodes["closure_reason"] == MOVED_AWAY).fillna(False))
    other_close = closure.where(moved_close.isna())
    moved = episodes["moved_out_date"].where(episodes["moved_out_date"] >= reg)
    moved = pd.concat([moved, moved_close], axis=1).min(axis=1)
    candidates = pd.concat([moved, other_close, episodes["delivery_end"],
                            pd.Series(R, index=episodes.index)], axis=1)
    candidates.columns = list(END_REASONS)
    end = candidates.min(axis=1)
    hit = candidates.eq(end, axis=0).to_numpy()
    reason = np.asarray(END_REASONS, dtype=object)[hit.argmax(axis=1)]
    return pd.DataFrame({"end_date": end.astype("datetime64[ns]").to_numpy(),
                         "end_reason": reason},
                        index=pd.Index(episodes["episode_id"].to_numpy(), name="episode_id"))


def _days_since(series: pd.DataFrame, zero: pd.Series) -> np.ndarray:
    z = series["episode_id"].map(zero).to_numpy(dtype="datetime64[ns]")
    return ((series["assessment_date"].to_numpy(dtype="datetime64[ns]") - z)
            / np.timedelta64(1, "D")).astype(float)


def _sorted_series(series: pd.DataFrame, threshold, days, zero):
    """Episode codes, ids, days and safe flags of ``series`` sorted by episode and day."""
    thr = _check_threshold(threshold)
    _check(series, _SERIES_COLUMNS, "the score series")
    if days is None:
        days = _days_since(series, zero if zero is not None else time_zero(series))
    days = np.asarray(days, dtype=float)
    if days.shape != (len(series),):
        raise DefinitionError("days must hold one number per row of the score series")
    codes, ids = pd.factorize(series["episode_id"], sort=True)
    order = np.lexsort((days, codes))
    safe = series["score"].to_numpy(dtype=float)[order] >= thr
    return codes[order], np.asarray(ids), days[order], safe


def _episode_bounds(codes: np.ndarray):
    """Start index of each episode's block and the block of each row (rows sorted)."""
    start = np.r_[True, codes[1:] != codes[:-1]] if len(codes) else np.zeros(0, bool)
    block = np.cumsum(start) - 1
    return np.flatnonzero(start), block


def _interval_frame(episode_ids, left, right, censoring, n_assess):
    return pd.DataFrame({"left": left, "right": right, "censoring": censoring,
                         "n_assessments": n_assess.astype(np.int64)},
                        index=pd.Index(episode_ids, name="episode_id"))


def direct_safety(series: pd.DataFrame, threshold: float, days: np.ndarray | None = None,
                  zero: pd.Series | None = None) -> pd.DataFrame:
    """Per episode: the interval of the first assessment at or above ``threshold``.

    Rule: direct safety is reached at the first assessment whose score is at or above
    ``threshold``; it happened after the assessment before it (not at or above) and by
    that assessment: ``(left, right]`` in days since time zero. Safe at the first
    assessment: ``left = 0`` (between time zero and the first assessment). Never at or
    above the threshold: ``right = inf`` and ``left`` the last assessment.

    Parameters
    ----------
    series : DataFrame
        :func:`score_series` output (sorted by episode and day).
    threshold : float
    days : array, optional
        Days since time zero of each row; else computed from ``zero`` (a Series of dates by
        episode, :func:`time_zero`), else from the registration date.

    Returns
    -------
    DataFrame indexed by ``episode_id``: ``left, right, censoring`` (``left``,
    ``interval`` or ``right``), ``n_assessments``.

    Examples
    --------
    >>> s = pd.DataFrame({"episode_id": ["E1", "E1", "E1", "E2", "E3"],
    ...     "assessment_date": pd.to_datetime(["2024-01-10", "2024-07-01", "2025-01-02",
    ...                                        "2024-02-01", "2024-02-01"]),
    ...     "registration_date": pd.to_datetime(["2024-01-02"] * 3 + ["2024-02-01"] * 2),
    ...     "score": [4.0, 7.0, 8.0, 6.0, 9.0]})
    >>> direct_safety(s, 7).reset_index()[["episode_id", "left", "right", "censoring"]]
      episode_id  left  right censoring
    0         E1   8.0  181.0  interval
    1         E2   0.0    inf     right
    2         E3   0.0    0.0      left
    """
    codes, ids, days, safe = _sorted_series(series, threshold, days, zero)
    starts, block = _episode_bounds(codes)
    n = len(starts)
    pos = np.arange(len(codes))
    big = len(codes)
    first_safe = np.full(n, big)
    np.minimum.at(first_safe, block[safe], pos[safe])
    ends = np.r_[starts[1:], len(codes)][:len(starts)] - 1  # none without rows
    has = first_safe < big
    fs = np.where(has, first_safe, 0)
    right = np.where(has, days[fs], np.inf)
    before = fs - 1
    has_before = has & (fs > starts)
    left = np.where(has_before, days[np.maximum(before, 0)], 0.0)
    left = np.where(has, left, days[ends])
    censoring = np.where(~has, "right", np.where(has_before, "interval", "left"))
    return _interval_frame(np.asarray(ids), left, right, censoring, ends - starts + 1)


def stable_safety(series: pd.DataFrame, threshold: float,
                  stable_days: int = STABLE_SAFETY_DAYS, days: np.ndarray | None = None,
                  zero: pd.Series | None = None) -> pd.DataFrame:
    """Per episode: the interval of the onset of stable safety.

    Rule: stable safety is a run of consecutive assessments at or above ``threshold``
    whose first and last lie at least ``stable_days`` (default 90) apart - so at least two
    assessments, and two regular waves (six months apart) qualify while two assessments a
    few days apart do not. The onset is bracketed like direct safety by the run's first
    assessment and the assessment before the run: ``(left, right]``. The household became
    safe then and stayed safe until the last assessment of the run; dating the event at
    the confirming assessment instead would add the time between waves to every household
    and tie the result to the assessment schedule.

    Right-censored (no run long enough): ``left`` is the last assessment made at least
    ``stable_days`` before the episode's last assessment (0 if there is none). Up to that
    assessment it is settled, whatever the scores, whether stability began; after it, a
    run may still be too short to tell. Taking the last assessment *below* the threshold
    instead would also be true, but it would make the censoring depend on the last score
    (a household safe at its last assessment would be censored earlier than one that is
    not), which biases the estimate of the curve downwards. With no such assessment
    (every assessment within ``stable_days`` of the last; a single assessment) nothing is
    settled: ``censoring`` is ``"unsettled"``, ``left`` missing, and
    :func:`safety_intervals` leaves the episode out (counted in the attrition table).

    Examples
    --------
    >>> D = pd.to_datetime
    >>> s = pd.DataFrame({"episode_id": ["E1"] * 4 + ["E2"] * 2,
    ...     "assessment_date": D(["2024-01-10", "2024-07-01", "2025-01-02", "2025-07-01",
    ...                           "2024-01-10", "2024-07-01"]),
    ...     "registration_date": D(["2024-01-02"] * 6),
    ...     "score": [4.0, 7.0, 5.0, 8.0, 3.0, 8.0]})
    >>> stable_safety(s, 7).reset_index()[["episode_id", "left", "right", "censoring"]]
      episode_id   left  right censoring
    0         E1  366.0    inf     right
    1         E2    8.0    inf     right

    E1 was safe twice, but each time on one assessment only; E2's safe run is still one
    assessment long when follow-up ends, so its onset may lie anywhere after day 8 (the
    last assessment at least 90 days before its last one).
    """
    stable_days = _check_stable_days(stable_days)
    codes, ids, days, safe = _sorted_series(series, threshold, days, zero)
    starts, block = _episode_bounds(codes)
    n = len(starts)
    m = len(codes)
    new_episode = np.zeros(m, bool)
    new_episode[starts] = True
    prev_safe = np.r_[False, safe[:-1]] & ~new_episode
    run_start = safe & ~prev_safe
    run_id = np.cumsum(run_start) - 1
    pos = np.arange(m)
    # first and last row of each run (runs never cross episodes: a new episode starts one)
    r_first = pos[run_start]
    r_last = np.full(len(r_first), -1)
    if len(r_first):
        np.maximum.at(r_last, run_id[safe], pos[safe])
    span = days[r_last] - days[r_first] if len(r_first) else np.zeros(0)
    stable_run = span >= stable_days
    big = m
    first_stable = np.full(n, big)
    np.minimum.at(first_stable, block[r_first[stable_run]], r_first[stable_run])
    has = first_stable < big
    fs = np.where(has, first_stable, 0)
    has_before = has & (fs > starts)
    right = np.where(has, days[fs], np.inf)
    left_event = np.where(has_before, days[np.maximum(fs - 1, 0)], 0.0)
    # right-censored: the last assessment at least stable_days before the episode's last
    # one - up to it, whether stability began is settled whatever the later scores are
    ends = np.r_[starts[1:], m][:len(starts)] - 1  # none without rows
    settled = days <= days[ends][block] - stable_days
    last_settled = np.full(n, -1)
    np.maximum.at(last_settled, block[settled], pos[settled])
    left_cens = np.where(last_settled >= 0, days[np.maximum(last_settled, 0)], np.nan)
    left = np.where(has, left_event, left_cens)
    censoring = np.where(~has, np.where(last_settled >= 0, "right", "unsettled"),
                         np.where(has_before, "interval", "left"))
    return _interval_frame(np.asarray(ids), left, right, censoring, ends - starts + 1)


# ----------------------------------------------------------------------------- table


def safety_intervals(delivery, reference_date, outcome: str = "direct",
                     safety_threshold: float = 7, respondent: str = "professional",
                     origin: str = "registration", same_day: str = "min",
                     stable_days: int = STABLE_SAFETY_DAYS, study_start=STUDY_START,
                     time_scale: str = "days", wave_months: float = 6.0,
                     keep_ids: bool = False) -> pd.DataFrame:
    """The interval-censored analysis table of time to direct or to stable safety.

    Cohort: the episodes registered in ``[S, R]`` (:func:`clip_to_reference`,
    :func:`in_study`, and a registration on or after ``S`` - earlier assessments need not
    have been delivered), of sites still delivering after the registration, with at least
    one score of ``respondent`` during follow-up (:func:`follow_up_end`). Every episode of
    the delivery is accounted for in ``attrs["attrition"]``.

    Parameters
    ----------
    delivery : Delivery-like
        Needs ``sites``, ``households``, ``episodes``, ``safety_assessments``.
    reference_date : date-like
        ``R``: data after it is ignored.
    outcome : {"direct", "stable"}
    safety_threshold : float
        Score counted as safe enough (parameter ``safety_threshold``, default 7).
    respondent, same_day : str
        See :func:`score_series`.
    origin : {"registration", "t0"}
        See :func:`time_zero`.
    stable_days : int
        See :func:`stable_safety` (parameter ``stable_safety_days``).
    study_start : date-like
        ``S``.
    time_scale : {"days", "waves"}
        ``"days"`` (default): the calendar days of the assessments. ``"waves"``: the planned
        time of each assessment's wave, ``T<k>`` at ``k * wave_months`` months (in days,
        ``k * wave_months * 365.25 / 12``), one score per wave (:func:`wave_series`). On
        this scale a household that misses a wave is interval-censored over it, and the
        NPMLE estimates the share that would be safe by each wave if every wave were
        assessed (``docs/methods-interval-censoring.md``, "Time scale"). Safe at its first
        assessed wave when that is not T0: ``left`` is missing (left-censored).
    wave_months : float
        Months between planned waves (as for :func:`cohort.definitions.waves.prepare_safety`).
    keep_ids : bool
        Keep ``household_id`` and ``episode_id`` (never for release).

    Returns
    -------
    DataFrame
        One row per episode: ``cluster, site, left, right, censoring, event,
        n_assessments, first_score, follow_up_end, end_reason, registration_year,
        episode_number`` and the household covariates. ``left, right, follow_up_end`` are
        days since time zero; ``right`` is infinite when right-censored; ``event`` is 1
        unless right-censored.

    Raises
    ------
    DeliveryError
        A needed table or column is missing.
    ParameterError
        A bad threshold, respondent, origin, rule or number of days.
    """
    if outcome not in OUTCOMES:
        raise ParameterError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    thr = _check_threshold(safety_threshold)
    stable_days = _check_stable_days(stable_days)
    if origin not in ORIGINS:
        raise ParameterError(f"origin must be one of {ORIGINS}, got {origin!r}")
    if time_scale not in TIME_SCALES:
        raise ParameterError(f"time_scale must be one of {TIME_SCALES}, got {time_scale!r}")
    if not (isinstance(wave_months, int | float) and wave_months > 0):
        raise ParameterError(f"wave_months must be a positive number, got {wave_months!r}")
    tables = _tables(delivery)
    R = to_date(reference_date, "reference_date")
    S = to_date(study_start, "study_start")
    eps = _table(tables, "episodes", ["episode_id", "household_id", "site", "registration_date",
                                      "closure_date"]).copy()
    if "closure_reason" not in eps.columns:
        eps["closure_reason"] = pd.NA
    sa = _table(tables, "safety_assessments", ["household_id", "episode_id", "assessment_date",
                                               "respondent", "score"])
    hh = _household_frame(tables)

    att = _Attrition(eps, "episodes in the delivery")
    clipped = clip_to_reference(eps, R)
    eps = att.drop(eps, ~eps["episode_id"].isin(clipped["episode_id"]).to_numpy(),
                   "registered after the reference date")
    eps = clipped.loc[clipped["episode_id"].isin(eps["episode_id"]).to_numpy()]
    study = in_study(eps, S).to_numpy() & (eps["registration_date"] >= S).to_numpy()
    eps = att.drop(eps, ~study, "registered before the study start")
    eps = eps.assign(delivery_end=_site_end(tables, eps))
    eps = att.drop(eps, (eps["delivery_end"].isna() | (eps["delivery_end"] <= eps["registration_date"])).to_numpy(),
                   "site delivered no data after the registration")
    eps = _attach_households(eps, hh)
    end = follow_up_end(eps, R)

    # scores of the cohort's episodes up to R and up to the end of follow-up
    sa = sa.loc[(sa["assessment_date"] <= R).to_numpy(dtype=bool)
                & sa["episode_id"].isin(eps["episode_id"]).to_numpy(dtype=bool)]
    long = prepare_safety(sa, eps[["episode_id", "registration_date"]],
                          hh[["household_id", "site"]], wave_months=wave_months)
    series = score_series(long, respondent, same_day)
    ends = series["episode_id"].map(end["end_date"]).to_numpy(dtype="datetime64[ns]")
    series = series.loc[series["assessment_date"].to_numpy(dtype="datetime64[ns]") <= ends]
    series = series.reset_index(drop=True)
    eps = att.drop(eps, ~eps["episode_id"].isin(series["episode_id"]).to_numpy(),
                   f"no {respondent} score during follow-up")

    zero = time_zero(series, origin)
    if time_scale == "waves":
        series = wave_series(series, same_day)
        if origin == "t0":
            first_wave = series.groupby("episode_id", sort=False)["wave_number"].transform("min")
        else:
            first_wave = 0
        days = ((series["wave_number"] - first_wave).to_numpy(dtype=float)
                * wave_months * DAYS_PER_MONTH)
    else:
        days = _days_since(series, zero)
    if outcome == "direct":
        iv = direct_safety(series, thr, days=days)
    else:
        iv = stable_safety(series, thr, stable_days, days=days)
    if time_scale == "waves":
        # safe at the first assessed wave when that is not T0: at or before it (R's
        # interval2 coding of left-censoring), since the household may have been safe at T0
        first_day = pd.Series(days, index=series["episode_id"].to_numpy()).groupby(level=0).min()
        late = (iv["censoring"] == "left") & (first_day.reindex(iv.index).to_numpy() > 0)
        iv.loc[late.to_numpy(), "left"] = np.nan
    if outcome == "stable":
        unsettled = iv.index[(iv["censoring"] == "unsettled").to_numpy()]
        eps = att.drop(eps, eps["episode_id"].isin(unsettled).to_numpy(),
                       f"stable safety not settled (no assessment {stable_days} days before "
                       "the last)")
    first_score = series.groupby("episode_id", sort=False)["score"].first()
    eps = eps.sort_values(["household_id", "registration_date", "episode_id"], kind="mergesort")
    eps = eps.assign(episode_number=eps.groupby("household_id", sort=False).cumcount() + 1)
    key = eps["episode_id"]
    z = key.map(zero).to_numpy(dtype="datetime64[ns]")
    fu = (end["end_date"].reindex(key).to_numpy(dtype="datetime64[ns]") - z) / np.timedelta64(1, "D")
    eps = eps.assign(
        left=key.map(iv["left"]).to_numpy(dtype=float),
        right=key.map(iv["right"]).to_numpy(dtype=float),
        censoring=pd.array(key.map(iv["censoring"]).to_numpy(dtype=object), dtype="string"),
        n_assessments=key.map(iv["n_assessments"]).to_numpy(dtype=np.int64),
        first_score=key.map(first_score).to_numpy(dtype=float),
        follow_up_end=fu.astype(float),
        end_reason=pd.array(end["end_reason"].reindex(key).to_numpy(dtype=object), dtype="string"),
        registration_year=eps["registration_date"].dt.year.astype(np.int64),
    )
    eps = eps.assign(event=(eps["censoring"] != "right").to_numpy().astype(np.int64))
    out = _finalise(eps, hh, keep_ids, ["left", "right", "censoring", "event", "n_assessments",
                                        "first_score", "follow_up_end", "end_reason",
                                        "registration_year", "episode_number"])
    out.attrs["attrition"] = _attrition_record(att.table(eps))
    out.attrs["definition"] = {
        "outcome": outcome, "safety_threshold": thr, "respondent": respondent, "origin": origin,
        "same_day": same_day, "stable_days": stable_days if outcome == "stable" else None,
        "time_scale": time_scale, "wave_months": wave_months,
        "reference_date": R.date().isoformat(), "study_start": S.date().isoformat(),
    }
    return out
