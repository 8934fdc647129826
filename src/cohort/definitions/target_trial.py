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
from cohort.definitions.followup import (
    _Attrition,
    _attrition_record,
    _cluster_codes,
    _days,
    _earliest,
    _first_after,
    _household_frame,
    _table,
    _tables,
)
from cohort.definitions.population import site_arms
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
        ``R``. ``attrs["attrition"]`` accounts for every episode; ``attrs["trial"]`` is
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
    R, a, b = spec.reference_date, spec.enrolment_start, spec.enrolment_end
    eps = _table(
        tables, "episodes", ["episode_id", "household_id", "site", "registration_date", "closure_date"]
    )[["episode_id", "household_id", "site", "registration_date", "closure_date"]].copy()
    eps["registration_date"] = pd.to_datetime(eps["registration_date"]).astype("datetime64[ns]")
    eps["closure_date"] = pd.to_datetime(eps["closure_date"]).astype("datetime64[ns]")
    eps["closure_date"] = eps["closure_date"].where(eps["closure_date"] <= R)
    eps["site"] = eps["site"].astype("string")
    hh = _household_frame(tables)
    available = set(hh.columns) | {"registration_quarter", "prior_episodes"}
    missing = [c for c in spec.covariates if c not in available]
    if missing:
        raise DefinitionError(
            f"covariate(s) {missing} are not columns of households; available: "
            f"{sorted(c for c in available if c not in ('household_id', 'site', 'moved_out_date'))}"
        )
    # a new registration: no earlier episode of the household still open on the day
    # (earlier episodes before the window count too)
    order = eps.sort_values(["household_id", "registration_date", "episode_id"], kind="mergesort")
    ends = order["closure_date"].fillna(pd.Timestamp.max.normalize())
    running = ends.groupby(order["household_id"], sort=False).cummax()
    prev_open_until = running.groupby(order["household_id"], sort=False).shift(1)
    overlapping = pd.Series(
        (order["registration_date"] < prev_open_until).fillna(False).to_numpy(dtype=bool),
        index=order.index,
    ).reindex(eps.index)
    # earlier episodes of the household (registered before this one): its history of
    # involvement at time zero
    prior = order.groupby("household_id", sort=False).cumcount()
    eps["prior_episodes"] = prior.reindex(eps.index).to_numpy(dtype=np.int64)

    arms = site_arms(tables).set_index("site")
    eps = eps.assign(
        arm=eps["site"].map(arms["arm"]).astype("string"),
        pilot_start=eps["site"].map(arms["pilot_start"]).astype("datetime64[ns]"),
        delivery_start=eps["site"].map(arms["delivery_start"]).astype("datetime64[ns]"),
        delivery_end=eps["site"].map(arms["delivery_end"]).astype("datetime64[ns]"),
    )
    reg = eps["registration_date"]
    att = _Attrition(eps, "episodes in the delivery")
    eps = att.drop(eps, reg > R, "registered after the reference date")
    reg = eps["registration_date"]
    eps = att.drop(eps, (reg < a) | (reg > b), "registered outside the enrolment window")
    eps = att.drop(
        eps,
        overlapping.reindex(eps.index).to_numpy(dtype=bool),
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
    is_pilot_site = (eps["arm"] == PILOT).fillna(False).to_numpy(dtype=bool)
    before = is_pilot_site & (eps["registration_date"] < eps["pilot_start"]).fillna(False).to_numpy(
        dtype=bool
    )
    if spec.comparison == "concurrent":
        eps = att.drop(eps, before, "registered at a pilot site before its pilot_start")
        before = np.zeros(len(eps), dtype=bool)
    is_pilot_site = (eps["arm"] == PILOT).fillna(False).to_numpy(dtype=bool)
    treated = is_pilot_site & ~before
    eps = eps.assign(
        treated=treated.astype(np.int64),
        arm=np.where(treated, PILOT, COMPARISON),
        comparison_source=np.where(
            treated, "", np.where(before, "before_pilot_start", "comparison_site")
        ),
    )
    eps = eps.sort_values(["household_id", "registration_date", "episode_id"], kind="mergesort")
    first = ~eps["household_id"].duplicated(keep="first").to_numpy()
    eps = att.drop(eps, ~first, "a later eligible registration of a household already in the trial")
    hh_cols = [c for c in hh.columns if c not in ("site",)]
    eps = eps.merge(hh[hh_cols], on="household_id", how="left")
    eps["registration_quarter"] = _quarter_label(eps["registration_date"])
    incomplete = np.zeros(len(eps), dtype=bool)
    for c in spec.covariates:
        incomplete |= eps[c].isna().to_numpy(dtype=bool)
    eps = att.drop(eps, incomplete, "a covariate is missing")
    eps = eps.assign(time_zero=eps["registration_date"])
    out = _finalise(eps, hh, keep_ids, [
        "arm", "treated", "comparison_source", "time_zero", "registration_date", "closure_date",
        "registration_quarter", "prior_episodes",
    ])
    out.attrs["attrition"] = _attrition_record(att.table(eps))
    out.attrs["trial"] = spec.as_dict()
    return out


def _finalise(frame: pd.DataFrame, hh: pd.DataFrame, keep_ids: bool, front) -> pd.DataFrame:
    frame = frame.assign(cluster=_cluster_codes(frame["household_id"], hh["household_id"]))
    covariates = [c for c in hh.columns if c not in ("household_id", "site", "moved_out_date")]
    cols = ["cluster", "site", *front, *[c for c in covariates if c not in front]]
    if keep_ids:
        cols = ["household_id", "episode_id", *cols]
    out = frame[cols].reset_index(drop=True)
    out["site"] = out["site"].astype("string")
    out["arm"] = out["arm"].astype("string")
    return out


def _population_ids(delivery, spec: TrialSpec) -> pd.DataFrame:
    return trial_population(delivery, spec, keep_ids=True)


def _carry_attrition(population: pd.DataFrame, label: str) -> _Attrition:
    """Continue the population's attrition table for an outcome's extra exclusions."""
    att = _Attrition(population, label)
    att.rows = [tuple(r) for r in population.attrs["attrition"]["rows"][:-1]]
    return att


def _outcome_table(frame, att, keep_ids, front, spec) -> pd.DataFrame:
    cols = ["cluster", "site", "arm", "treated", "comparison_source", "time_zero", *front]
    rest = [c for c in frame.columns if c not in cols and c not in ("household_id", "episode_id")]
    rest = [c for c in rest if not c.startswith("_")]
    if keep_ids:
        cols = ["household_id", "episode_id", *cols]
    out = frame[cols + [c for c in rest if c not in cols]].reset_index(drop=True)
    out.attrs["attrition"] = _attrition_record(att.table(frame))
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
    pop = _population_ids(delivery, spec)
    att = _carry_attrition(pop, "episodes in the delivery")
    R = spec.reference_date
    lm = _table(tables, "legal_measures", ["episode_id", "start_date"])[["episode_id", "start_date"]]
    lm = lm.assign(start_date=pd.to_datetime(lm["start_date"]).astype("datetime64[ns]"))
    lm = lm.loc[lm["start_date"] <= R]
    m = lm.merge(pop[["episode_id", "registration_date"]], on="episode_id", how="inner")
    m = m.loc[m["start_date"] >= m["registration_date"]]
    first_measure = pop["episode_id"].map(m.groupby("episode_id")["start_date"].min())
    first_measure = first_measure.astype("datetime64[ns]")
    site_end = pop["site"].map(site_arms(tables).set_index("site")["delivery_end"])
    censor = _earliest(site_end.astype("datetime64[ns]"), R, index=pop.index)
    close = pop["closure_date"]
    end_of_chance = _earliest(close, censor, index=pop.index)
    is_event = first_measure.notna() & (first_measure <= end_of_chance)
    is_ended = ~is_event & close.notna() & (close <= censor)
    end = censor.where(~is_ended, close).where(~is_event, first_measure)
    out = pop.assign(
        time=_days(end, pop["time_zero"]).astype(np.int64),
        status=np.select([is_event, is_ended], [EVENT, COMPETING], CENSORED).astype(np.int64),
        event=is_event.to_numpy().astype(np.int64),
        censor_reason=np.select(
            [is_event.to_numpy(), is_ended.to_numpy(), (censor == R).to_numpy()],
            ["legal_measure", "episode_ended", "reference_date"],
            "delivery_end",
        ),
    )
    out = att.drop(
        out, ((out["time"] == 0) & (out["status"] == CENSORED)).to_numpy(), "no follow-up time"
    )
    return _outcome_table(out, att, keep_ids, ["time", "status", "event", "censor_reason"], spec)


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
    pop = _population_ids(delivery, spec)
    att = _carry_attrition(pop, "episodes in the delivery")
    R = spec.reference_date
    eps = _table(tables, "episodes", ["episode_id", "closure_reason"])[["episode_id", "closure_reason"]]
    reason = pop["episode_id"].map(eps.set_index("episode_id")["closure_reason"].astype("string"))
    moved_out = pop["household_id"].map(_household_frame(tables).set_index("household_id")["moved_out_date"])
    pop = pop.assign(_reason=reason.to_numpy(), _moved=moved_out.astype("datetime64[ns]").to_numpy())
    pop = att.drop(pop, pop["closure_date"].isna().to_numpy(), "the episode is open on the reference date")
    pop = att.drop(
        pop, (pop["_reason"] == MOVED_AWAY).fillna(False).to_numpy(dtype=bool),
        "closed because the household moved away",
    )
    pop = att.drop(
        pop, (pop["_moved"] <= pop["closure_date"]).fillna(False).to_numpy(dtype=bool),
        "household moved out on or before the closure",
    )
    site_end = pop["site"].map(site_arms(tables).set_index("site")["delivery_end"]).astype("datetime64[ns]")
    pop = pop.assign(_end=site_end.to_numpy())
    pop = att.drop(
        pop, (pop["_end"] <= pop["closure_date"]).fillna(True).to_numpy(dtype=bool),
        "site delivered no data after the closure",
    )
    pop = att.drop(pop, (pop["closure_date"] == R).to_numpy(), "closed on the reference date (no follow-up)")
    pop = pop.reset_index(drop=True).assign(_row=lambda f: np.arange(len(f)))
    refs = _table(tables, "referrals", ["household_id", "referral_date"])[["household_id", "referral_date"]]
    refs = refs.assign(referral_date=pd.to_datetime(refs["referral_date"]).astype("datetime64[ns]"))
    refs = refs.loc[refs["referral_date"] <= R]
    regs = _table(tables, "episodes", ["household_id", "registration_date"])[["household_id", "registration_date"]]
    regs = regs.assign(registration_date=pd.to_datetime(regs["registration_date"]).astype("datetime64[ns]"))
    regs = regs.loc[regs["registration_date"] <= R]
    c = pop["closure_date"]
    next_ref = _first_after(pop, "closure_date", refs, "referral_date", "next_referral")
    next_reg = _first_after(pop, "closure_date", regs, "registration_date", "next_registration")
    rereg = _earliest(pd.Series(next_ref, index=pop.index), pd.Series(next_reg, index=pop.index), index=pop.index)
    censor = _earliest(pop["_end"], R, index=pop.index)
    moved = pop["_moved"]
    is_event = rereg.notna() & (rereg <= censor) & (moved.isna() | (rereg <= moved))
    is_moved = ~is_event & moved.notna() & (moved <= censor)
    end = censor.where(~is_event, rereg).where(~is_moved, moved)
    out = pop.assign(
        time_zero=c,
        time=_days(end, c).astype(np.int64),
        status=np.select([is_event, is_moved], [EVENT, COMPETING], CENSORED).astype(np.int64),
        event=is_event.to_numpy().astype(np.int64),
        censor_reason=np.select(
            [is_event.to_numpy(), is_moved.to_numpy(), (censor == R).to_numpy()],
            ["reregistration", "moved_out", "reference_date"],
            "delivery_end",
        ),
        reregistered_within_12m=(is_event & (rereg <= c + pd.Timedelta(days=365))).to_numpy(),
    ).drop(columns=["_reason", "_end", "_row", "_moved"])
    return _outcome_table(
        out, att, keep_ids,
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
    pop = _population_ids(delivery, spec)
    att = _carry_attrition(pop, "episodes in the delivery")
    sa = _table(
        tables, "safety_assessments", ["episode_id", "assessment_date", "respondent", "score", "wave"]
    )
    sa = sa.loc[
        (pd.to_datetime(sa["assessment_date"]) <= spec.reference_date)
        & (sa["respondent"].astype("string") == respondent).fillna(False)
        & sa["episode_id"].isin(pop["episode_id"])
    ]
    # one score per episode and wave: the first assessment of the wave
    sa = sa.sort_values(["episode_id", "assessment_date"], kind="mergesort")
    by_wave = sa.drop_duplicates(["episode_id", "wave"], keep="first").set_index(["wave", "episode_id"])["score"]

    def score(w):
        if w not in by_wave.index.get_level_values(0):
            return pd.Series(np.nan, index=pop.index)
        return pop["episode_id"].map(by_wave.xs(w, level="wave").astype("Float64")).astype(float)

    pop = pop.assign(score_baseline=score(baseline_wave).to_numpy(), score_followup=score(wave).to_numpy())
    pop = att.drop(pop, pop["score_baseline"].isna().to_numpy(), f"no {respondent} score at {baseline_wave}")
    pop = att.drop(pop, pop["score_followup"].isna().to_numpy(), f"no {respondent} score at {wave} (yet)")
    pop = pop.assign(change=pop["score_followup"] - pop["score_baseline"])
    out = _outcome_table(pop, att, keep_ids, ["score_baseline", "score_followup", "change"], spec)
    out.attrs["respondent"], out.attrs["wave"] = respondent, wave
    return out
