"""Analysis-ready follow-up tables for the survival analyses.

Implements ``docs/definitions.md``, sections "Re-registration" and "Time to first legal
measure", as pure functions over the in-memory delivery tables (a :class:`cohort.delivery.load.Delivery`,
a :class:`cohort.synth.generate.SyntheticDelivery`, or any object with a ``tables`` dict of
DataFrames). Nothing here loops over households: matching is done with ``merge_asof``,
``searchsorted`` and ``groupby``.

Public API
----------
``reregistration_table(delivery, reference_date, study_start=STUDY_START, window_days=365, keep_ids=False)``
    One row per closed episode: origin = closure, event = first re-registration
    (``status`` 1), competing event = the household moving out (``status`` 2), censored
    (``status`` 0) at the reference date or the site's ``delivery_end``.
``recurrent_reregistration_table(delivery, reference_date, study_start=STUDY_START, link_days=14, keep_ids=False)``
    Counting-process rows ``(start, stop]`` in days since the household's first closure,
    for recurrent re-registrations (Andersen-Gill, mean cumulative function).
``legal_measure_table(delivery, reference_date, study_start=STUDY_START, keep_ids=False)``
    One row per registration in ``[S, R]``: time to the first compulsory legal measure,
    moving away competing, censored at closure, ``R`` or ``delivery_end``.
``attrition(table)``
    The attrition table stored with each of the above (``table.attrs["attrition"]``):
    every episode of the delivery accounted for (excluded, and why, or analysed).

Columns of the episode tables: ``cluster`` (an internal household number, not a pseudonym;
for cluster-robust variance), ``site`` (the episode's site), ``time`` (days), ``status``,
``event`` (``status == 1``), ``censor_reason``, the household covariates (every column of
``households`` except ``household_id``, ``site`` and ``moved_out_date``), and helpers such as
``closure_year``, ``episode_number``. Pseudonyms (``household_id``, ``episode_id``) are only
included with ``keep_ids=True`` (spec tests, internal checks); released output never holds
them.

Ties, as the definitions say: a referral or registration on the closure day itself is not a
re-registration; an event on the censoring day counts as an event; a re-registration and a
move on the same day count as a re-registration (the report reached the site before the
household left); a legal measure on the closure day counts.

Examples
--------
>>> import pandas as pd
>>> from types import SimpleNamespace
>>> D = pd.to_datetime
>>> tables = {
...     "sites": pd.DataFrame({"site": ["A"], "delivery_start": D(["2023-01-01"]),
...                            "delivery_end": D(["2026-12-31"])}),
...     "households": pd.DataFrame({"household_id": ["H1", "H2"], "site": ["A", "A"],
...                                 "has_children": [True, False],
...                                 "moved_out_date": D([None, "2024-03-01"])}),
...     "episodes": pd.DataFrame({"episode_id": ["E1", "E2", "E3"],
...                               "household_id": ["H1", "H1", "H2"], "site": ["A", "A", "A"],
...                               "registration_date": D(["2023-02-01", "2024-05-01", "2023-03-01"]),
...                               "closure_date": D(["2024-01-01", None, "2024-01-01"]),
...                               "closure_reason": ["goal_reached", None, "refused"]}),
...     "referrals": pd.DataFrame({"referral_id": ["R1"], "household_id": ["H1"],
...                                "referral_date": D(["2024-04-20"])}),
...     "legal_measures": pd.DataFrame({"measure_id": [], "household_id": [], "episode_id": [],
...                                     "start_date": D([])}),
... }
>>> t = reregistration_table(SimpleNamespace(tables=tables), "2024-12-31", keep_ids=True)
>>> t[["household_id", "time", "status"]]
  household_id  time  status
0           H1   110       1
1           H2    60       2
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.definitions.dates import STUDY_START, to_date
from cohort.definitions.episodes import clip_dates, in_study_dates
from cohort.definitions.tables import date_column, require_columns
from cohort.delivery.schema import MOVED_AWAY
from cohort.exceptions import DefinitionError, DeliveryError
from cohort.roles import with_roles

__all__ = [
    "CENSORED",
    "COMPETING",
    "DEFAULT_WINDOW_DAYS",
    "EVENT",
    "STUDY_START",
    "attrition",
    "legal_measure_table",
    "recurrent_reregistration_table",
    "reregistration_table",
]

#: Default window for "re-registered within w days" (parameter ``reregistration_window_days``).
DEFAULT_WINDOW_DAYS = 365

#: Status codes of the episode tables.
CENSORED, EVENT, COMPETING = 0, 1, 2

_HH_NOT_COVARIATES = ("household_id", "site", "moved_out_date")


# ----------------------------------------------------------------------------- inputs


def _tables(delivery) -> dict[str, pd.DataFrame]:
    tables = getattr(delivery, "tables", None)
    if tables is None and isinstance(delivery, dict):
        tables = delivery
    if tables is None:
        raise DeliveryError("expected a delivery (cohort.load(...)) with a 'tables' mapping")
    return tables


def _table(tables, name, columns) -> pd.DataFrame:
    if name not in tables:
        raise DeliveryError(f"the delivery has no table {name!r}; it is needed for follow-up")
    df = tables[name]
    require_columns(df, name, columns, hint="see docs/data-model.md")
    return df


def _dates(frame: pd.DataFrame, table: str, column: str) -> pd.Series:
    return date_column(frame[column], table, column)


def _earliest(*values, index) -> pd.Series:
    """Elementwise earliest date, ignoring missing ones (NaT only if all are missing)."""
    cols = [
        (v.reindex(index) if isinstance(v, pd.Series) else pd.Series(v, index=index)).astype(
            "datetime64[ns]"
        )
        for v in values
    ]
    return pd.concat(cols, axis=1).min(axis=1).astype("datetime64[ns]")


def _days(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    return ((later - earlier) / pd.Timedelta(days=1)).to_numpy(dtype="float64")


def _cluster_codes(household_ids: pd.Series, all_ids: pd.Series) -> np.ndarray:
    """Internal household number: position of the pseudonym in the sorted households."""
    uniques = np.sort(pd.unique(all_ids.astype("string").to_numpy(dtype=object)))
    return np.searchsorted(uniques, household_ids.astype("string").to_numpy(dtype=object))


def _covariates(households: pd.DataFrame) -> list[str]:
    return [c for c in households.columns if c not in _HH_NOT_COVARIATES]


class _Attrition:
    """Accumulates (reason, episodes, households) as exclusions are applied."""

    def __init__(self, frame: pd.DataFrame, label: str):
        self.rows = [(label, len(frame), frame["household_id"].nunique())]

    def drop(self, frame: pd.DataFrame, mask, reason: str) -> pd.DataFrame:
        mask = np.asarray(mask, dtype=bool)
        gone = frame.loc[mask]
        self.rows.append((f"excluded: {reason}", len(gone), gone["household_id"].nunique()))
        return frame.loc[~mask]

    def table(self, kept: pd.DataFrame) -> pd.DataFrame:
        rows = [*self.rows, ("analysed", len(kept), kept["household_id"].nunique())]
        return pd.DataFrame(rows, columns=["step", "episodes", "households"])


def attrition(table: pd.DataFrame) -> pd.DataFrame:
    """The attrition table of a follow-up table: every episode accounted for.

    The first row counts the episodes considered, each ``excluded: ...`` row those set aside
    and why, the last row those analysed; excluded plus analysed equals considered.
    Counts are unrounded: pass them through disclosure control before release.
    """
    att = table.attrs.get("attrition")
    if att is None:
        raise DefinitionError("this table carries no attrition table (was it built here?)")
    return pd.DataFrame(list(att["rows"]), columns=list(att["columns"]))


def attrition_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The attrition tables of several analyses stacked: ``step, episodes, households,
    analysis``, stating its roles.

    ``tables`` maps an analysis name to its follow-up table. In each analysis the first
    step (the episodes in the delivery) is the total of the others, a relation disclosure
    control protects like a margin.
    """
    parts = [attrition(table).assign(analysis=name) for name, table in tables.items()]
    out = pd.concat(parts, ignore_index=True)
    first = out.groupby("analysis", sort=False)["step"].transform("first")
    if not (out["step"] == first).groupby(out["analysis"], sort=False).sum().eq(1).all():
        raise DefinitionError("every attrition table must start with one total step")
    return with_roles(out, counts=["episodes", "households"], groups=["step"], keys=["analysis"],
                      totals={"step": str(first.iloc[0])})


def _attrition_record(frame: pd.DataFrame) -> dict:
    # Plain tuples, not a DataFrame: pandas compares ``attrs`` when frames are combined or
    # printed, and a DataFrame there makes that comparison ambiguous.
    return {
        "columns": tuple(frame.columns),
        "rows": tuple(tuple(r) for r in frame.itertuples(index=False, name=None)),
    }


def _site_end(tables, frame: pd.DataFrame) -> pd.Series:
    sites = _table(tables, "sites", ["site", "delivery_end"])
    end = pd.Series(_dates(sites, "sites", "delivery_end").to_numpy(), index=sites["site"].astype("string"))
    return frame["site"].astype("string").map(end).astype("datetime64[ns]")


def _episodes_at(tables, reference: pd.Timestamp) -> tuple[pd.DataFrame, np.ndarray]:
    """Every episode of the delivery, closures as known at the end of ``R``.

    The reference-date rule (:func:`cohort.definitions.episodes.clip_dates`): a closure
    after ``R`` becomes ``NaT`` (still open) and its reason is cleared. Episodes registered
    after ``R`` are kept here and flagged in the returned ``known`` array (False), so that
    the callers exclude them in their attrition tables.
    """
    eps = _table(
        tables, "episodes", ["episode_id", "household_id", "site", "registration_date", "closure_date"]
    ).copy()
    eps["registration_date"] = _dates(eps, "episodes", "registration_date")
    closure = _dates(eps, "episodes", "closure_date")
    known, clipped = clip_dates(eps["registration_date"].to_numpy(), closure.to_numpy(), reference)
    eps["closure_date"] = pd.Series(clipped, index=eps.index)
    if "closure_reason" not in eps.columns:
        eps["closure_reason"] = pd.NA
    eps["closure_reason"] = eps["closure_reason"].astype("string").mask(closure > reference)
    return eps, known


def _household_frame(tables) -> pd.DataFrame:
    hh = _table(tables, "households", ["household_id", "site"]).copy()
    if "moved_out_date" not in hh.columns:
        hh["moved_out_date"] = pd.NaT
    hh["moved_out_date"] = _dates(hh, "households", "moved_out_date")
    return hh


def _attach_households(frame: pd.DataFrame, hh: pd.DataFrame) -> pd.DataFrame:
    cov = _covariates(hh)
    right = hh[["household_id", "moved_out_date", *cov]]
    if not right["household_id"].is_unique:
        raise DeliveryError(
            "table 'households' has duplicate household_id values (rule: key is unique); "
            "run cohort validate and use the accepted rows"
        )
    return frame.merge(right, on="household_id", how="left")


def _first_after(left: pd.DataFrame, left_on: str, right: pd.DataFrame, right_on: str, name: str):
    """Per left row, the first ``right_on`` date of the same household strictly after ``left_on``."""
    lft = left[["_row", "household_id", left_on]].sort_values(left_on, kind="mergesort")
    rgt = right[["household_id", right_on]].dropna().sort_values(right_on, kind="mergesort")
    rgt = rgt.rename(columns={right_on: name})
    rgt[f"_{name}_key"] = rgt[name]
    merged = pd.merge_asof(
        lft.dropna(subset=[left_on]),
        rgt,
        left_on=left_on,
        right_on=f"_{name}_key",
        by="household_id",
        direction="forward",
        allow_exact_matches=False,
    )
    return merged.set_index("_row")[name].reindex(left["_row"]).to_numpy()


def _finalise(out: pd.DataFrame, hh: pd.DataFrame, keep_ids: bool, extra_front) -> pd.DataFrame:
    out = out.assign(cluster=_cluster_codes(out["household_id"], hh["household_id"]))
    cov = _covariates(hh)
    front = ["cluster", "site", *extra_front]
    cols = front + [c for c in cov if c not in front]
    if keep_ids:
        cols = ["household_id", "episode_id", *cols]
    out = out[cols].reset_index(drop=True)
    out["site"] = out["site"].astype("string")
    return out


# ----------------------------------------------------------------------------- re-registration


def reregistration_table(
    delivery,
    reference_date,
    study_start=STUDY_START,
    window_days: int = DEFAULT_WINDOW_DAYS,
    keep_ids: bool = False,
) -> pd.DataFrame:
    """Time from each closure to the household's first re-registration.

    Parameters
    ----------
    delivery : Delivery-like
        Needs ``sites``, ``households``, ``episodes`` and ``referrals``.
    reference_date : date-like
        ``R``: data after it is ignored; follow-up is censored at it.
    study_start : date-like
        ``S``: episodes closed before it are not in the study.
    window_days : int
        ``w`` for ``reregistered_within_window`` (re-registration in ``(c, c + w]``).
    keep_ids : bool
        Keep ``household_id`` and ``episode_id`` (never for release).

    Returns
    -------
    DataFrame
        One row per analysed closed episode, sorted by household then closure:
        ``cluster, site, closure_date, closure_year, episode_number, time, status, event,
        reregistered_within_window, censor_reason`` and the household covariates.
        ``status``: 0 censored, 1 re-registration, 2 moved out (competing).
        ``attrs["attrition"]`` holds the attrition table (see :func:`attrition`).

    Raises
    ------
    DeliveryError
        A needed table or column is missing.
    DefinitionError
        Bad dates or window.
    """
    tables = _tables(delivery)
    R = to_date(reference_date, "reference_date")
    S = to_date(study_start, "study_start")
    if not isinstance(window_days, int | np.integer) or window_days < 1:
        raise DefinitionError(f"reregistration_window_days must be a positive whole number, got {window_days!r}")
    eps, known = _episodes_at(tables, R)
    hh = _household_frame(tables)
    refs = _table(tables, "referrals", ["household_id", "referral_date"]).copy()
    refs["referral_date"] = _dates(refs, "referrals", "referral_date")
    refs = refs.loc[refs["referral_date"] <= R]
    registered = eps.loc[known, ["household_id", "registration_date"]]

    att = _Attrition(eps, "episodes in the delivery")
    eps = att.drop(eps, ~known, "registered after the reference date")
    eps = att.drop(eps, eps["closure_date"].isna(), "open on the reference date")
    # the closed episodes that are not in the study [S, R] are those closed before S
    in_study = in_study_dates(eps["registration_date"], eps["closure_date"], S)
    eps = att.drop(eps, ~in_study, "closed before the study start")
    eps = att.drop(eps, (eps["closure_reason"] == MOVED_AWAY).fillna(False), "closed because the household moved away")
    eps = eps.assign(_row=np.arange(len(eps)))
    eps = _attach_households(eps, hh)
    eps = att.drop(
        eps,
        (eps["moved_out_date"] <= eps["closure_date"]).fillna(False),
        "household moved out on or before the closure",
    )
    eps = eps.assign(delivery_end=_site_end(tables, eps))
    eps = att.drop(
        eps,
        (eps["delivery_end"].isna() | (eps["delivery_end"] <= eps["closure_date"])).to_numpy(),
        "site delivered no data after the closure",
    )
    eps = att.drop(eps, eps["closure_date"] == R, "closed on the reference date (no follow-up)")
    c = eps["closure_date"]
    next_ref = _first_after(eps, "closure_date", refs, "referral_date", "next_referral")
    next_reg = _first_after(eps, "closure_date", registered, "registration_date", "next_registration")
    rereg = _earliest(
        pd.Series(next_ref, index=eps.index), pd.Series(next_reg, index=eps.index), index=eps.index
    )
    censor = _earliest(eps["delivery_end"], R, index=eps.index)
    moved = eps["moved_out_date"]
    is_event = rereg.notna() & (rereg <= censor) & (moved.isna() | (rereg <= moved))
    is_moved = ~is_event & moved.notna() & (moved <= censor)
    end = censor.where(~is_event, rereg).where(~is_moved, moved)
    status = np.select([is_event, is_moved], [EVENT, COMPETING], CENSORED)
    eps = eps.assign(
        time=_days(end, c).astype(np.int64),
        status=status.astype(np.int64),
        event=is_event.to_numpy().astype(np.int64),
        reregistered_within_window=(is_event & (rereg <= c + pd.Timedelta(days=int(window_days)))).to_numpy(),
        censor_reason=np.select(
            [is_event.to_numpy(), is_moved.to_numpy(), (censor == R).to_numpy()],
            ["reregistration", "moved_out", "reference_date"],
            "delivery_end",
        ),
        closure_year=c.dt.year.astype(np.int64),
    )
    eps = eps.sort_values(["household_id", "closure_date", "episode_id"], kind="mergesort")
    eps["episode_number"] = eps.groupby("household_id", sort=False).cumcount() + 1
    out = _finalise(
        eps,
        hh,
        keep_ids,
        [
            "closure_date",
            "closure_year",
            "episode_number",
            "time",
            "status",
            "event",
            "reregistered_within_window",
            "censor_reason",
        ],
    )
    out.attrs["attrition"] = _attrition_record(att.table(eps))
    out.attrs["reference_date"] = R.date().isoformat()
    out.attrs["window_days"] = int(window_days)
    return out


def recurrent_reregistration_table(
    delivery,
    reference_date,
    study_start=STUDY_START,
    link_days: int = 14,
    keep_ids: bool = False,
) -> pd.DataFrame:
    """Counting-process rows for recurrent re-registrations (Andersen-Gill / MCF).

    Time 0 is the household's first closure that is analysed in :func:`reregistration_table`.
    The household is at risk while it has no open episode: from a closure until the next
    registration, and again after each re-registration. Events are the distinct days, in an
    at-risk period and strictly after its start, with a referral of the household or with a
    registration that opens a new episode (that registration ends the at-risk period; the
    household is at risk again from that episode's closure). A registration within
    ``link_days`` (default 14) after a referral in the same at-risk period is that
    referral's follow-through, not a second re-registration: the period then ends at the
    referral (a report is typically followed by a registration within two weeks; counting
    both would double the events and make "prior re-registrations" look strongly
    predictive). ``link_days=0`` counts every referral and registration day. Follow-up ends at the earliest
    of moving out (``moved_out_date``, or a closure with reason ``moved_away``), ``R`` and
    the ``delivery_end`` of the site of the first closure.

    Returns
    -------
    DataFrame
        ``cluster, site, start, stop, event, prior_events, period`` and the household
        covariates; ``(start, stop]`` in days since the first closure; ``prior_events`` is
        the number of earlier re-registrations of the household (a time-varying covariate);
        ``period`` numbers the at-risk periods (1 = after the first closure).
    """
    tables = _tables(delivery)
    R = to_date(reference_date, "reference_date")
    first = reregistration_table(delivery, R, study_start, keep_ids=True)
    hh = _household_frame(tables)
    if first.empty:
        cols = ["cluster", "site", "start", "stop", "event", "prior_events", "period", *_covariates(hh)]
        return pd.DataFrame(columns=(["household_id", *cols] if keep_ids else cols))
    origin = first.groupby("household_id", sort=True).agg(
        origin=("closure_date", "min"), site=("site", "first")
    )
    origin = origin.assign(delivery_end=_site_end(tables, origin.reset_index()).to_numpy())
    eps, known = _episodes_at(tables, R)
    eps = eps.loc[known]
    eps = eps.loc[eps["household_id"].isin(origin.index)]
    moved_close = (
        eps.loc[(eps["closure_reason"] == MOVED_AWAY).fillna(False) & eps["closure_date"].notna()]
        .groupby("household_id")["closure_date"]
        .min()
    )
    moved = hh.set_index("household_id")["moved_out_date"].reindex(origin.index)
    end = _earliest(moved, moved_close, origin["delivery_end"], R, index=origin.index)
    origin = origin.assign(end=end)

    # activity spells: union of [registration, closure) per household (vectorised sweep)
    e = eps[["household_id", "registration_date", "closure_date"]].copy()
    e["c"] = e["closure_date"].fillna(pd.Timestamp.max.normalize())
    e = e.sort_values(["household_id", "registration_date"], kind="mergesort")
    running = e.groupby("household_id", sort=False)["c"].cummax()
    prev = running.groupby(e["household_id"], sort=False).shift(1)
    new_spell = prev.isna() | (e["registration_date"] > prev)
    spell_id = new_spell.cumsum()
    spells = e.groupby(spell_id, sort=False).agg(
        household_id=("household_id", "first"), start=("registration_date", "min"), stop=("c", "max")
    )
    spells = spells.sort_values(["household_id", "start"], kind="mergesort")
    # gaps: from a spell's end to the next spell's start (or end of follow-up)
    nxt = spells.groupby("household_id", sort=False)["start"].shift(-1)
    gaps = pd.DataFrame(
        {
            "household_id": spells["household_id"].astype("string").to_numpy(),
            "g0": spells["stop"].to_numpy(),
            "next_reg": nxt.to_numpy(),
        }
    )
    gaps["household_id"] = gaps["household_id"].astype("string")
    gaps = gaps.merge(origin[["origin", "end"]], left_on="household_id", right_index=True)
    gaps = gaps.loc[(gaps["g0"] >= gaps["origin"]) & (gaps["g0"] < gaps["end"])]
    gaps["g1"] = _earliest(gaps["next_reg"], gaps["end"], index=gaps.index)
    gaps["reg_event"] = gaps["next_reg"].notna() & (gaps["next_reg"] <= gaps["end"])
    gaps = gaps.sort_values(["household_id", "g0"], kind="mergesort").reset_index(drop=True)
    gaps["period"] = gaps.groupby("household_id", sort=False).cumcount() + 1
    gaps["gap"] = np.arange(len(gaps))

    # events inside gaps: referral days in (g0, g1], plus the registration ending the gap
    refs = _table(tables, "referrals", ["household_id", "referral_date"])
    refs = refs.assign(referral_date=_dates(refs, "referrals", "referral_date"))
    refs = refs.loc[refs["household_id"].isin(origin.index) & (refs["referral_date"] <= R)]
    refs = refs[["household_id", "referral_date"]].rename(columns={"referral_date": "day"})
    refs["household_id"] = refs["household_id"].astype("string")
    refs = refs.sort_values("day", kind="mergesort")
    lookup = gaps[["household_id", "g0", "gap"]].sort_values("g0", kind="mergesort")
    # the gap a referral falls in: the last gap starting strictly before the referral day
    hit = pd.merge_asof(
        refs,
        lookup,
        left_on="day",
        right_on="g0",
        by="household_id",
        direction="backward",
        allow_exact_matches=False,
    ).dropna(subset=["gap"])
    hit["gap"] = hit["gap"].astype(np.int64)
    hit = hit.loc[hit["day"].to_numpy() <= gaps["g1"].to_numpy()[hit["gap"].to_numpy()]]
    # a registration shortly after a referral in the same period is that referral's
    # re-registration, not a second one: the period ends at the referral
    last_ref = gaps["gap"].map(hit.groupby("gap")["day"].max()).astype("datetime64[ns]")
    linked = gaps["reg_event"] & (gaps["g1"] - last_ref <= pd.Timedelta(days=int(link_days))).fillna(False)
    gaps.loc[linked, "g1"] = last_ref[linked]
    gaps.loc[linked, "reg_event"] = False
    reg_ev = gaps.loc[gaps["reg_event"], ["gap", "g1"]].rename(columns={"g1": "day"})
    ev = pd.concat([hit[["gap", "day"]], reg_ev], ignore_index=True).drop_duplicates()
    ev = ev.sort_values(["gap", "day"], kind="mergesort")
    # rows: (g0, e1], (e1, e2], ..., (ek, g1] (the last one only if g1 > ek)
    ev["row_start"] = ev.groupby("gap", sort=False)["day"].shift(1)
    g0 = pd.Series(gaps["g0"].to_numpy(), index=gaps["gap"])
    ev["row_start"] = ev["row_start"].fillna(ev["gap"].map(g0))
    last = ev.groupby("gap", sort=False)["day"].max()
    tail = gaps[["gap", "g0", "g1"]].copy()
    tail["row_start"] = tail["gap"].map(last).fillna(tail["g0"])
    tail = tail.loc[tail["g1"] > tail["row_start"]]
    rows = pd.concat(
        [
            ev.assign(event=1).rename(columns={"day": "row_stop"})[["gap", "row_start", "row_stop", "event"]],
            tail.assign(event=0).rename(columns={"g1": "row_stop"})[["gap", "row_start", "row_stop", "event"]],
        ],
        ignore_index=True,
    )
    rows = rows.merge(gaps[["gap", "household_id", "period"]], on="gap")
    rows = rows.merge(origin[["origin", "site"]], left_on="household_id", right_index=True)
    rows = rows.sort_values(["household_id", "row_start", "row_stop"], kind="mergesort")
    rows["start"] = _days(rows["row_start"], rows["origin"]).astype(np.int64)
    rows["stop"] = _days(rows["row_stop"], rows["origin"]).astype(np.int64)
    rows["prior_events"] = (
        rows.groupby("household_id", sort=False)["event"].cumsum() - rows["event"]
    ).astype(np.int64)
    rows = rows.merge(hh[["household_id", *_covariates(hh)]], on="household_id", how="left")
    rows["episode_id"] = pd.NA
    out = _finalise(rows, hh, keep_ids, ["start", "stop", "event", "prior_events", "period"])
    if keep_ids:
        out = out.drop(columns="episode_id")
    out.attrs["reference_date"] = R.date().isoformat()
    out.attrs["attrition"] = first.attrs["attrition"]
    return out


# ----------------------------------------------------------------------------- legal measures


def legal_measure_table(
    delivery, reference_date, study_start=STUDY_START, keep_ids: bool = False
) -> pd.DataFrame:
    """Time from each registration in ``[S, R]`` to the episode's first legal measure.

    Event (``status`` 1): the first compulsory legal measure of the episode with
    ``start_date >= registration_date`` (a measure on the registration day gives time 0).
    Competing (``status`` 2): closure with reason ``moved_away``. Censored (``status`` 0) at
    closure for another reason (a measure after the closure belongs to a later episode), at
    ``R`` or at the site's ``delivery_end``; a measure on the censoring day counts.

    Returns
    -------
    DataFrame
        ``cluster, site, registration_date, registration_year, time, status, event,
        censor_reason`` and the household covariates; ``attrs["attrition"]``.
    """
    tables = _tables(delivery)
    R = to_date(reference_date, "reference_date")
    S = to_date(study_start, "study_start")
    eps, known = _episodes_at(tables, R)
    hh = _household_frame(tables)
    lm = _table(tables, "legal_measures", ["episode_id", "start_date"])
    lm = lm.assign(start_date=_dates(lm, "legal_measures", "start_date"))
    lm = lm.loc[lm["start_date"] <= R]
    att = _Attrition(eps, "episodes in the delivery")
    eps = att.drop(eps, ~known, "registered after the reference date")
    eps = att.drop(eps, eps["registration_date"] < S, "registered before the study start")
    eps = eps.assign(delivery_end=_site_end(tables, eps))
    eps = att.drop(
        eps,
        (eps["delivery_end"].isna() | (eps["delivery_end"] <= eps["registration_date"])).to_numpy(),
        "site delivered no data after the registration",
    )
    eps = _attach_households(eps, hh)
    # first measure of the episode on or after its registration
    m = lm[["episode_id", "start_date"]].merge(
        eps[["episode_id", "registration_date"]], on="episode_id", how="inner"
    )
    m = m.loc[m["start_date"] >= m["registration_date"]]
    first_measure = m.groupby("episode_id")["start_date"].min()
    measure = eps["episode_id"].map(first_measure).astype("datetime64[ns]")
    closure = eps["closure_date"]
    censor = _earliest(eps["delivery_end"], R, closure, index=eps.index)
    is_event = measure.notna() & (measure <= censor)
    moved_closure = (eps["closure_reason"] == MOVED_AWAY).fillna(False) & closure.notna()
    is_moved = ~is_event & moved_closure & (closure <= censor)
    end = censor.where(~is_event, measure)
    at_closure = closure.notna() & (censor == closure)
    eps = eps.assign(
        time=_days(end, eps["registration_date"]).astype(np.int64),
        status=np.select([is_event, is_moved], [EVENT, COMPETING], CENSORED).astype(np.int64),
        event=is_event.to_numpy().astype(np.int64),
        censor_reason=np.select(
            [is_event.to_numpy(), is_moved.to_numpy(), at_closure.to_numpy(), (censor == R).to_numpy()],
            ["legal_measure", "moved_away", "closure", "reference_date"],
            "delivery_end",
        ),
        registration_year=eps["registration_date"].dt.year.astype(np.int64),
    )
    eps = att.drop(
        eps, ((eps["time"] == 0) & (eps["status"] == CENSORED)).to_numpy(), "no follow-up time"
    )
    eps = eps.sort_values(["household_id", "registration_date", "episode_id"], kind="mergesort")
    out = _finalise(
        eps,
        hh,
        keep_ids,
        ["registration_date", "registration_year", "time", "status", "event", "censor_reason"],
    )
    out.attrs["attrition"] = _attrition_record(att.table(eps))
    out.attrs["reference_date"] = R.date().isoformat()
    return out
