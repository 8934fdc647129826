"""The effect analyses as emulated target trials: eligibility, time zero and assignment aligned.

Implements ``docs/definitions.md``, section "Effects against comparison households". The
question "what does the new way of working deliver compared with regular care?" is
answered as the trial one would have run: households newly registered in an enrolment
window, assigned at registration to the new way (a pilot site that works the new way on
that day) or to regular care (a comparison site), followed from that moment. Three rules
keep the emulation honest:

* **Time zero is the moment of assignment.** For the legal-measure and safety trials it is
  the registration of the eligible episode; the arm is the way of working of the site on
  that day, and a household never changes arm during follow-up (intention to treat). So no
  follow-up time is credited to the new way before a household was served by it: a
  household registered at a pilot site before its ``pilot_start`` whose episode is still
  open when the pilot starts is *not* a pilot household (that would be immortal time).
* **Eligibility is decided at time zero**, with information available then: a new
  registration (no earlier episode of the household still open) in the enrolment window,
  at a site delivering data, with the baseline covariates known. Later events (a closure,
  a move, a later episode) never decide whether a household is in the trial.
* **One entry per household**: its first eligible registration. Later registrations of the
  same household are outcomes (re-registration), not new entries.

The re-registration trial starts at the closure of the trial episode (time zero = closure;
the arm is the episode's, fixed at its registration); it conditions on the episode having
closed, which the limitations of the report state.

Every function is pure (the delivery is not changed), vectorised, and returns one row per
household with ``attrs["attrition"]``: every episode of the delivery accounted for. Pseudonyms
are only kept with ``keep_ids=True`` (spec tests); ``cluster`` is an internal household number.

Examples
--------
>>> spec = TrialSpec(reference_date="2026-06-30")
>>> spec.enrolment_start, spec.enrolment_end, spec.comparison
(Timestamp('2023-01-01 00:00:00'), Timestamp('2026-06-30 00:00:00'), 'concurrent')
>>> spec.covariates
('severity', 'prior_reports', 'has_children', 'prior_episodes')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cohort.definitions.dates import to_date
from cohort.definitions.followup import _attrition_record, _household_frame, _table, _tables
from cohort.definitions.population import site_arms
from cohort.definitions.site_panel import _NAT_DAY, _day_of, _next_after
from cohort.delivery.schema import COMPARISON, MOVED_AWAY, PILOT
from cohort.exceptions import DefinitionError, ParameterError

__all__ = [
    "COMPARISON_GROUPS",
    "TrialSpec",
    "legal_measure_trial",
    "reregistration_trial",
    "safety_trial",
    "trial_population",
]

#: Who the comparison households are: ``concurrent`` (default), households newly registered
#: at a comparison site in the enrolment window; ``concurrent_and_before`` adds the
#: households registered at a pilot site before its ``pilot_start`` (historical controls,
#: whose outcomes may differ by calendar time).
COMPARISON_GROUPS = ("concurrent", "concurrent_and_before")

#: Status codes of the trial tables (as in :mod:`cohort.definitions.followup`).
CENSORED, EVENT, COMPETING = 0, 1, 2

_KEYS = (
    "enrolment_start",
    "enrolment_end",
    "comparison",
    "covariates",
    "horizons_months",
    "trim_quantiles",
    "stabilised",
    "bootstrap_replications",
)


@dataclass(frozen=True)
class TrialSpec:
    """The protocol of the emulated trial (the ``effects`` block of a parameter file).

    Parameters
    ----------
    reference_date : date-like
        ``R``: data after it is ignored; follow-up is censored at it.
    enrolment_start, enrolment_end : date-like
        Registrations in ``[enrolment_start, enrolment_end]`` are eligible (default
        1 January 2023 to ``R``).
    comparison : {"concurrent", "concurrent_and_before"}
        Who the comparison households are (:data:`COMPARISON_GROUPS`).
    covariates : tuple of str
        Baseline covariates of the propensity model, by column name (household columns, or
        ``registration_quarter`` or ``prior_episodes``); rows missing one are excluded
        (complete cases).
    horizons_months : tuple of int
        Where risks and their differences are reported (6, 12 and 24 months).
    trim_quantiles : (float, float) or None
        Truncate the weights at these quantiles (``None``: no truncation).
    stabilised : bool
        Stabilised weights (the arm's share times the inverse propensity).
    bootstrap_replications : int
        Wild cluster bootstrap replications of the staggered-adoption analysis.
    """

    reference_date: pd.Timestamp
    enrolment_start: pd.Timestamp = pd.Timestamp("2023-01-01")
    enrolment_end: pd.Timestamp | None = None
    comparison: str = "concurrent"
    covariates: tuple[str, ...] = ("severity", "prior_reports", "has_children", "prior_episodes")
    horizons_months: tuple[int, ...] = (6, 12, 24)
    trim_quantiles: tuple[float, float] | None = None
    stabilised: bool = True
    bootstrap_replications: int = 999
    source: str = field(default="trial", compare=False)

    def __post_init__(self):
        src = self.source
        ref = to_date(self.reference_date, f"{src}: reference_date")
        start = to_date(self.enrolment_start, f"{src}: enrolment_start")
        end = ref if self.enrolment_end is None else to_date(self.enrolment_end, f"{src}: enrolment_end")
        if not start <= end <= ref:
            raise ParameterError(
                f"{src}: the enrolment window {start.date()} to {end.date()} must be in order and "
                f"end on or before the reference date {ref.date()}"
            )
        if self.comparison not in COMPARISON_GROUPS:
            raise ParameterError(
                f"{src}: comparison must be one of {', '.join(COMPARISON_GROUPS)}, got "
                f"{self.comparison!r}"
            )
        cov = (self.covariates,) if isinstance(self.covariates, str) else tuple(self.covariates)
        if not cov or not all(isinstance(c, str) and c for c in cov) or len(set(cov)) != len(cov):
            raise ParameterError(
                f"{src}: covariates must be a non-empty list of distinct column names, got "
                f"{self.covariates!r}"
            )
        hor = tuple(self.horizons_months)
        if not hor or not all(isinstance(h, int | np.integer) and 0 < h <= 120 for h in hor):
            raise ParameterError(
                f"{src}: horizons_months must be whole months from 1 to 120, got "
                f"{self.horizons_months!r}"
            )
        trim = self.trim_quantiles
        if trim is not None:
            trim = tuple(float(q) for q in trim)
            if len(trim) != 2 or not 0 <= trim[0] < trim[1] <= 1:
                raise ParameterError(
                    f"{src}: trim_quantiles must be two quantiles 0 <= low < high <= 1 (or "
                    f"empty), got {self.trim_quantiles!r}"
                )
        if not isinstance(self.stabilised, bool):
            raise ParameterError(f"{src}: stabilised must be true or false")
        reps = self.bootstrap_replications
        if isinstance(reps, bool) or not isinstance(reps, int | np.integer) or not 99 <= reps <= 99_999:
            raise ParameterError(
                f"{src}: bootstrap_replications must be a whole number from 99 to 99999, got {reps!r}"
            )
        for name, value in (
            ("reference_date", ref), ("enrolment_start", start), ("enrolment_end", end),
            ("covariates", cov), ("horizons_months", tuple(int(h) for h in sorted(hor))),
            ("trim_quantiles", trim), ("bootstrap_replications", int(reps)),
        ):
            object.__setattr__(self, name, value)

    @classmethod
    def from_mapping(cls, values: Mapping, reference_date, source: str = "effects") -> TrialSpec:
        """The protocol from a parameter file's ``effects`` mapping (keys of :data:`_KEYS`).

        Examples
        --------
        >>> TrialSpec.from_mapping({"covariates": ["severity"]}, "2026-06-30").covariates
        ('severity',)
        >>> TrialSpec.from_mapping({"colour": 1}, "2026-06-30")
        Traceback (most recent call last):
        ...
        cohort.exceptions.ParameterError: effects: unknown key 'colour'; known keys: enrolment_start, enrolment_end, comparison, covariates, horizons_months, trim_quantiles, stabilised, bootstrap_replications
        """
        if not isinstance(values, Mapping):
            raise ParameterError(f"{source}: must be a mapping with the keys {', '.join(_KEYS)}")
        unknown = [k for k in values if k not in _KEYS]
        if unknown:
            raise ParameterError(
                f"{source}: unknown key {unknown[0]!r}; known keys: {', '.join(_KEYS)}"
            )
        return cls(reference_date=reference_date, source=source, **dict(values))

    def as_dict(self) -> dict:
        """Plain values (ISO dates, lists) for provenance and the methods text."""
        return {
            "reference_date": self.reference_date.date().isoformat(),
            "enrolment_start": self.enrolment_start.date().isoformat(),
            "enrolment_end": self.enrolment_end.date().isoformat(),
            "comparison": self.comparison,
            "covariates": list(self.covariates),
            "horizons_months": list(self.horizons_months),
            "trim_quantiles": None if self.trim_quantiles is None else list(self.trim_quantiles),
            "stabilised": self.stabilised,
            "bootstrap_replications": self.bootstrap_replications,
        }


# ----------------------------------------------------------------------------- population


def _quarter_label(dates: pd.Series) -> pd.Series:
    return (
        dates.dt.year.astype("string") + "Q" + ((dates.dt.month - 1) // 3 + 1).astype("string")
    )


class _Att:
    """Attrition as exclusions are applied, counting households by their integer code."""

    def __init__(self, frame: pd.DataFrame, label: str, rows=None):
        self.rows = list(rows) if rows is not None else [(label, len(frame), _n_units(frame))]

    def drop(self, frame: pd.DataFrame, mask, reason: str) -> pd.DataFrame:
        mask = np.asarray(mask, dtype=bool)
        self.rows.append((f"excluded: {reason}", int(mask.sum()), _n_units(frame.loc[mask])))
        return frame.loc[~mask]

    def record(self, kept: pd.DataFrame) -> dict:
        rows = [*self.rows, ("analysed", len(kept), _n_units(kept))]
        return _attrition_record(pd.DataFrame(rows, columns=["step", "episodes", "households"]))


def _n_units(frame: pd.DataFrame) -> int:
    codes = frame["_hid"].to_numpy()
    codes = codes[codes >= 0]
    return int(np.count_nonzero(np.bincount(codes))) if len(codes) else 0


def _order(hid: np.ndarray, day: np.ndarray, ids: pd.Series) -> np.ndarray:
    """Rows by household, then day, then id (the id only breaks ties, which are rare, so
    that the order does not depend on the order of the delivered rows)."""
    order = np.lexsort((day, hid))
    h, d = hid[order], day[order]
    tie = np.r_[False, (h[1:] == h[:-1]) & (d[1:] == d[:-1])]
    if not tie.any():
        return order
    tie = tie | np.r_[tie[1:], False]
    rank = np.zeros(len(hid), dtype=np.int64)
    tied = order[tie]
    rank[tied] = np.argsort(np.argsort(ids.iloc[tied].astype(str).to_numpy(), kind="stable"), kind="stable")
    return np.lexsort((rank, day, hid))


def _population(tables, spec: TrialSpec):
    """The trial population as an internal frame (``_hid`` household position, ``_eid``
    episode position) with its attrition tracker and the households table."""
    R, a, b = spec.reference_date, spec.enrolment_start, spec.enrolment_end
    raw = _table(tables, "episodes", ["episode_id", "household_id", "site", "registration_date", "closure_date"])
    hh = _household_frame(tables)
    available = set(hh.columns) | {"registration_quarter", "prior_episodes"}
    missing = [c for c in spec.covariates if c not in available]
    if missing:
        raise DefinitionError(
            f"covariate(s) {missing} are not columns of households; available: "
            f"{sorted(c for c in available if c not in ('household_id', 'site', 'moved_out_date'))}"
        )
    hh_index = pd.Index(hh["household_id"].astype("string"))
    reg = raw["registration_date"].to_numpy(dtype="datetime64[ns]")
    close = raw["closure_date"].to_numpy(dtype="datetime64[ns]")
    close = np.where(close <= R.to_datetime64(), close, np.datetime64("NaT"))
    eps = pd.DataFrame({
        "_eid": np.arange(len(raw)),
        "_hid": hh_index.get_indexer(raw["household_id"].astype("string")),
        "site": raw["site"].astype("string").to_numpy(),
        "registration_date": reg,
        "closure_date": close,
    })
    # a new registration: no earlier episode of the household still open on the day
    # (earlier episodes before the window count too)
    order = _order(eps["_hid"].to_numpy(), reg.astype("datetime64[D]").astype(np.int64), raw["episode_id"])
    hid_o = eps["_hid"].to_numpy()[order]
    ends = np.where(np.isnat(close), np.iinfo(np.int64).max, close.astype("datetime64[D]").astype(np.int64))[order]
    running = pd.Series(ends).groupby(hid_o, sort=False).cummax().to_numpy()
    new_hh = np.r_[True, hid_o[1:] != hid_o[:-1]]
    prev_open_until = np.where(new_hh, np.iinfo(np.int64).min, np.r_[0, running[:-1]])
    overlapping = np.zeros(len(eps), dtype=bool)
    overlapping[order] = reg[order].astype("datetime64[D]").astype(np.int64) < prev_open_until
    # earlier episodes of the household (registered before this one): its history of
    # involvement at time zero
    prior = np.zeros(len(eps), dtype=np.int64)
    prior[order] = pd.Series(hid_o).groupby(hid_o, sort=False).cumcount().to_numpy()
    eps["prior_episodes"] = prior
    eps["_rank"] = np.argsort(order)  # position in the household order

    arms = site_arms(tables)
    site_pos = pd.Index(arms["site"].astype(str)).get_indexer(eps["site"].astype(str))
    known = site_pos >= 0
    sp = np.maximum(site_pos, 0)
    nat = np.datetime64("NaT")
    eps["arm"] = np.where(known, arms["arm"].to_numpy(dtype=object)[sp], None)
    for col in ("pilot_start", "delivery_start", "delivery_end"):
        eps[col] = np.where(known, arms[col].to_numpy(dtype="datetime64[ns]")[sp], nat)

    att = _Att(eps, "episodes in the delivery")
    eps = att.drop(eps, eps["registration_date"] > R, "registered after the reference date")
    reg_s = eps["registration_date"]
    eps = att.drop(eps, (reg_s < a) | (reg_s > b), "registered outside the enrolment window")
    eps = att.drop(
        eps, overlapping[eps["_eid"].to_numpy()],
        "registered while an earlier episode of the household was open (not a new registration)",
    )
    eps = att.drop(
        eps,
        (
            eps["delivery_start"].isna()
            | (eps["registration_date"] < eps["delivery_start"])
            | (eps["registration_date"] >= eps["delivery_end"])
        ).to_numpy(dtype=bool),
        "site delivered no data on or after the registration",
    )
    is_pilot_site = (eps["arm"] == PILOT).to_numpy(dtype=bool)
    before = is_pilot_site & (eps["registration_date"] < eps["pilot_start"]).fillna(False).to_numpy(dtype=bool)
    if spec.comparison == "concurrent":
        eps = att.drop(eps, before, "registered at a pilot site before its pilot_start")
        before = np.zeros(len(eps), dtype=bool)
    is_pilot_site = (eps["arm"] == PILOT).to_numpy(dtype=bool)
    treated = is_pilot_site & ~before
    eps = eps.assign(
        treated=treated.astype(np.int64),
        arm=np.where(treated, PILOT, COMPARISON),
        comparison_source=np.where(treated, "", np.where(before, "before_pilot_start", "comparison_site")),
    )
    eps = eps.sort_values("_rank", kind="mergesort")
    hid = eps["_hid"].to_numpy()
    first = np.r_[True, hid[1:] != hid[:-1]] if len(hid) else np.zeros(0, dtype=bool)
    eps = att.drop(eps, ~first, "a later eligible registration of a household already in the trial")
    # the household's covariates, by position
    pos = np.maximum(eps["_hid"].to_numpy(), 0)
    for c in hh.columns:
        if c in ("household_id", "site"):
            continue
        values = hh[c].take(pos).reset_index(drop=True)
        if (eps["_hid"] < 0).any():
            values = values.where(eps["_hid"].to_numpy() >= 0)
        eps[c] = values.to_numpy() if not isinstance(values.dtype, pd.api.extensions.ExtensionDtype) else values.array
    eps["registration_quarter"] = _quarter_label(eps["registration_date"])
    incomplete = (eps["_hid"] < 0).to_numpy()
    for c in spec.covariates:
        incomplete |= eps[c].isna().to_numpy(dtype=bool)
    eps = att.drop(eps, incomplete, "a covariate is missing")
    eps = eps.assign(time_zero=eps["registration_date"]).reset_index(drop=True)
    return eps, att, hh, raw


def _with_ids(frame: pd.DataFrame, hh: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        household_id=hh["household_id"].astype("string").take(frame["_hid"].to_numpy()).to_numpy(),
        episode_id=raw["episode_id"].astype("string").take(frame["_eid"].to_numpy()).to_numpy(),
    )


def trial_population(delivery, spec: TrialSpec, keep_ids: bool = False) -> pd.DataFrame:
    """The households of the trial: one row per household, at its time zero (registration).

    Eligible: an episode registered in the enrolment window (and on or before ``R``), that
    is a new registration (no earlier episode of the household still open on that day), at
    a site delivering data on that day and after it, assigned to an arm on that day, with
    every covariate of ``spec.covariates`` known; the household's first such episode.

    Returns
    -------
    DataFrame
        ``cluster, site, arm, treated, comparison_source, time_zero, registration_date,
        closure_date, registration_quarter, prior_episodes`` (episodes of the household
        registered before time zero) and every household covariate, one row per
        household (sorted by household). ``arm`` is ``pilot`` or ``comparison``;
        ``treated`` is 1 for pilot. ``closure_date`` is empty while the episode is open on
        ``R``. ``cluster`` is the household's row in ``households`` (not a pseudonym).
        ``attrs["attrition"]`` accounts for every episode; ``attrs["trial"]`` is
        :meth:`TrialSpec.as_dict`.

    Raises
    ------
    DeliveryError
        A needed table or column is missing.
    DefinitionError
        A covariate is not a column of ``households`` (nor ``registration_quarter`` or
        ``prior_episodes``).
    """
    tables = _tables(delivery)
    eps, att, hh, raw = _population(tables, spec)
    out = _finalise(eps, hh, raw, keep_ids, [
        "arm", "treated", "comparison_source", "time_zero", "registration_date", "closure_date",
        "registration_quarter", "prior_episodes",
    ])
    out.attrs["attrition"] = att.record(eps)
    out.attrs["trial"] = spec.as_dict()
    return out


def _finalise(frame: pd.DataFrame, hh: pd.DataFrame, raw: pd.DataFrame, keep_ids: bool, front) -> pd.DataFrame:
    frame = frame.assign(cluster=frame["_hid"].to_numpy())
    if keep_ids:
        frame = _with_ids(frame, hh, raw)
    covariates = [c for c in hh.columns if c not in ("household_id", "site", "moved_out_date")]
    cols = ["cluster", "site", *front, *[c for c in covariates if c not in front]]
    if keep_ids:
        cols = ["household_id", "episode_id", *cols]
    out = frame[cols].reset_index(drop=True)
    out["site"] = out["site"].astype("string")
    out["arm"] = out["arm"].astype("string")
    return out


def _outcome_table(frame, att, hh, raw, keep_ids, front, spec) -> pd.DataFrame:
    cols = ["cluster", "site", "arm", "treated", "comparison_source", "time_zero", *front]
    base = ["registration_date", "closure_date", "registration_quarter", "prior_episodes"]
    covariates = [c for c in hh.columns if c not in ("household_id", "site", "moved_out_date")]
    rest = [c for c in [*base, *covariates] if c not in cols]
    frame = frame.assign(cluster=frame["_hid"].to_numpy())
    if keep_ids:
        frame = _with_ids(frame, hh, raw)
        cols = ["household_id", "episode_id", *cols]
    out = frame[cols + rest].reset_index(drop=True)
    out["site"] = out["site"].astype("string")
    out["arm"] = out["arm"].astype("string")
    out.attrs["attrition"] = att.record(frame)
    out.attrs["trial"] = spec.as_dict()
    return out


# ----------------------------------------------------------------------------- outcomes


def legal_measure_trial(delivery, spec: TrialSpec, keep_ids: bool = False) -> pd.DataFrame:
    """Time from registration (time zero) to the first compulsory legal measure of the episode.

    Event (``status`` 1): the first legal measure of the trial episode with
    ``registration_date <= start_date``, dated on or before the end of follow-up (a measure
    on the registration day gives time 0; one on the closure or censoring day counts).
    Competing (``status`` 2): the episode ended (closed, for any reason including moving
    away) without a measure: a measure after the closure belongs to a later episode, so the
    closure ends the chance of this outcome. Censored (``status`` 0) at ``R`` or the site's
    ``delivery_end``.

    Returns
    -------
    DataFrame
        The population's columns with ``time`` (days), ``status``, ``event``,
        ``censor_reason`` (``legal_measure``, ``episode_ended``, ``reference_date``,
        ``delivery_end``).
    """
    tables = _tables(delivery)
    pop, att, hh, raw = _population(tables, spec)
    R = spec.reference_date
    r_day = _day_of(np.array([R.to_datetime64()]))[0]
    lm = _table(tables, "legal_measures", ["episode_id", "start_date"])
    ep_index = pd.Index(raw["episode_id"].astype("string"))
    m_eid = ep_index.get_indexer(lm["episode_id"].astype("string"))
    m_day = _day_of(lm["start_date"].to_numpy(dtype="datetime64[ns]"))
    # the first measure of every episode on or after its registration (and on or before R)
    reg_day_all = _day_of(raw["registration_date"].to_numpy(dtype="datetime64[ns]"))
    ok = (m_eid >= 0) & (m_day != _NAT_DAY) & (m_day <= r_day)
    ok &= m_day >= np.where(m_eid >= 0, reg_day_all[np.maximum(m_eid, 0)], np.iinfo(np.int64).max)
    first = np.full(len(raw), np.iinfo(np.int64).max)
    np.minimum.at(first, m_eid[ok], m_day[ok])
    measure = first[pop["_eid"].to_numpy()]
    zero = _day_of(pop["time_zero"].to_numpy(dtype="datetime64[ns]"))
    censor = np.minimum(_day_of(pop["delivery_end"].to_numpy(dtype="datetime64[ns]")), r_day)
    close = _day_of(pop["closure_date"].to_numpy(dtype="datetime64[ns]"))
    has_close = close != _NAT_DAY
    end_of_chance = np.where(has_close, np.minimum(close, censor), censor)
    is_event = measure <= end_of_chance
    is_ended = ~is_event & has_close & (close <= censor)
    end = np.where(is_event, measure, np.where(is_ended, close, censor))
    out = pop.assign(
        time=(end - zero).astype(np.int64),
        status=np.select([is_event, is_ended], [EVENT, COMPETING], CENSORED).astype(np.int64),
        event=is_event.astype(np.int64),
        censor_reason=np.select(
            [is_event, is_ended, censor == r_day], ["legal_measure", "episode_ended", "reference_date"],
            "delivery_end",
        ),
    )
    out = att.drop(out, ((out["time"] == 0) & (out["status"] == CENSORED)).to_numpy(), "no follow-up time")
    return _outcome_table(out, att, hh, raw, keep_ids, ["time", "status", "event", "censor_reason"], spec)


def reregistration_trial(delivery, spec: TrialSpec, keep_ids: bool = False) -> pd.DataFrame:
    """Time from the closure of the trial episode (time zero) to re-registration.

    The trial episode is the household's eligible registration of :func:`trial_population`
    (so the arm was fixed at that registration). It enters this trial when it closed on or
    before ``R`` for a reason other than ``moved_away``, the household had not moved out by
    then, and its site delivers data after the closure. Re-registration, competing moving
    out and censoring follow ``docs/definitions.md`` ("Re-registration"): the first referral
    or registration of the household after the closure day (event, ``status`` 1), its
    ``moved_out_date`` (``status`` 2; the same day as a re-registration counts as
    re-registration), ``R`` or the site's ``delivery_end`` (``status`` 0).

    Returns
    -------
    DataFrame
        The population's columns with ``time_zero`` the closure, ``time`` (days),
        ``status``, ``event``, ``censor_reason``, ``reregistered_within_12m``.
    """
    tables = _tables(delivery)
    pop, att, hh, raw = _population(tables, spec)
    R = spec.reference_date
    r_day = _day_of(np.array([R.to_datetime64()]))[0]
    reason = raw["closure_reason"].astype("string") if "closure_reason" in raw.columns else pd.Series(
        pd.NA, index=raw.index, dtype="string")
    moved_away = (reason == MOVED_AWAY).fillna(False).to_numpy(dtype=bool)[pop["_eid"].to_numpy()]
    moved_all = _day_of(hh["moved_out_date"].to_numpy(dtype="datetime64[ns]"))
    pop = pop.assign(_moved=moved_all[np.maximum(pop["_hid"].to_numpy(), 0)], _away=moved_away)
    close = _day_of(pop["closure_date"].to_numpy(dtype="datetime64[ns]"))
    pop = pop.assign(_close=close, _end=_day_of(pop["delivery_end"].to_numpy(dtype="datetime64[ns]")))
    pop = att.drop(pop, (pop["_close"] == _NAT_DAY).to_numpy(), "the episode is open on the reference date")
    pop = att.drop(pop, pop["_away"].to_numpy(), "closed because the household moved away")
    pop = att.drop(
        pop, ((pop["_moved"] != _NAT_DAY) & (pop["_moved"] <= pop["_close"])).to_numpy(),
        "household moved out on or before the closure",
    )
    pop = att.drop(pop, (pop["_end"] <= pop["_close"]).to_numpy(), "site delivered no data after the closure")
    pop = att.drop(pop, (pop["_close"] == r_day).to_numpy(), "closed on the reference date (no follow-up)")
    # the first referral or registration of the household strictly after the closure day
    hh_index = pd.Index(hh["household_id"].astype("string"))
    refs = _table(tables, "referrals", ["household_id", "referral_date"])
    ref_day = _day_of(refs["referral_date"].to_numpy(dtype="datetime64[ns]"))
    keep = (ref_day != _NAT_DAY) & (ref_day <= r_day)
    reg_day = _day_of(raw["registration_date"].to_numpy(dtype="datetime64[ns]"))
    reg_hid = hh_index.get_indexer(raw["household_id"].astype("string"))
    e_hid = np.r_[hh_index.get_indexer(refs["household_id"].astype("string")[keep]), reg_hid[reg_day <= r_day]]
    e_day = np.r_[ref_day[keep], reg_day[reg_day <= r_day]]
    c = pop["_close"].to_numpy()
    rereg = _next_after(pop["_hid"].to_numpy(), c, e_hid, e_day)
    censor = np.minimum(pop["_end"].to_numpy(), r_day)
    moved = pop["_moved"].to_numpy()
    has_moved = moved != _NAT_DAY
    is_event = (rereg <= censor) & (~has_moved | (rereg <= moved))
    is_moved = ~is_event & has_moved & (moved <= censor)
    end = np.where(is_event, rereg, np.where(is_moved, moved, censor))
    out = pop.assign(
        time_zero=pop["closure_date"],
        time=(end - c).astype(np.int64),
        status=np.select([is_event, is_moved], [EVENT, COMPETING], CENSORED).astype(np.int64),
        event=is_event.astype(np.int64),
        censor_reason=np.select(
            [is_event, is_moved, censor == r_day], ["reregistration", "moved_out", "reference_date"], "delivery_end"
        ),
        reregistered_within_12m=is_event & (rereg <= c + 365),
    )
    return _outcome_table(
        out, att, hh, raw, keep_ids,
        ["time", "status", "event", "censor_reason", "reregistered_within_12m"], spec,
    )


def safety_trial(
    delivery,
    spec: TrialSpec,
    respondent: str = "professional",
    wave: str = "T2",
    baseline_wave: str = "T0",
    keep_ids: bool = False,
) -> pd.DataFrame:
    """Change in the safety score from ``baseline_wave`` to ``wave`` of the trial episode.

    One row per household with a score of ``respondent`` at both waves of its trial episode
    (dated on or before ``R``); ``change = score_<wave> - score_<baseline_wave>``. The
    baseline is measured at the start of the episode (the T0 assessment), so it is a
    baseline covariate as well as the origin of the change. Households without both scores
    are counted in the attrition table (missing waves are not imputed).

    Returns
    -------
    DataFrame
        The population's columns with ``score_baseline``, ``score_followup``, ``change``.
    """
    tables = _tables(delivery)
    pop, att, hh, raw = _population(tables, spec)
    sa = _table(tables, "safety_assessments", ["episode_id", "assessment_date", "respondent", "score", "wave"])
    ep_index = pd.Index(raw["episode_id"].astype("string"))
    a_eid = ep_index.get_indexer(sa["episode_id"].astype("string"))
    a_day = _day_of(sa["assessment_date"].to_numpy(dtype="datetime64[ns]"))
    r_day = _day_of(np.array([spec.reference_date.to_datetime64()]))[0]
    keep = (a_eid >= 0) & (a_day != _NAT_DAY) & (a_day <= r_day) & (
        (sa["respondent"].astype("string") == respondent).fillna(False).to_numpy(dtype=bool))
    wave_s = sa["wave"].astype("string")
    score = sa["score"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)

    def first_score(w):
        """Per episode, the score of the first assessment of wave ``w`` (NaN if none)."""
        sel = np.flatnonzero(keep & (wave_s == w).fillna(False).to_numpy(dtype=bool))
        out = np.full(len(raw), np.nan)
        if len(sel):
            order = sel[np.lexsort((a_day[sel], a_eid[sel]))]
            first = order[np.r_[True, a_eid[order][1:] != a_eid[order][:-1]]]
            out[a_eid[first]] = score[first]
        return out

    eid = pop["_eid"].to_numpy()
    pop = pop.assign(score_baseline=first_score(baseline_wave)[eid], score_followup=first_score(wave)[eid])
    pop = att.drop(pop, pop["score_baseline"].isna().to_numpy(), f"no {respondent} score at {baseline_wave}")
    pop = att.drop(pop, pop["score_followup"].isna().to_numpy(), f"no {respondent} score at {wave} (yet)")
    pop = pop.assign(change=pop["score_followup"] - pop["score_baseline"])
    out = _outcome_table(pop, att, hh, raw, keep_ids, ["score_baseline", "score_followup", "change"], spec)
    out.attrs["respondent"], out.attrs["wave"] = respondent, wave
    return out
