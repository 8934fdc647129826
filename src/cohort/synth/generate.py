"""Synthetic pilot-site deliveries: a calibrated default and a generator that scales.

Real data never leaves the secure environment, so development, demos, tests and reviews
run on synthetic deliveries made here. A delivery holds the six tables of
:mod:`cohort.schema`; every pseudonym starts with ``SYN-`` so synthetic and real data
cannot be confused.

Two modes:

* **Default delivery** (``households=None``): the intake follows a fixed quarterly
  allocation and a deterministic calibration step makes the delivery reproduce the
  published monitor for reference date 31 December 2024 exactly (:data:`PUBLISHED_FIGURES`)
  under the definitions of ``docs/definitions.md``. The bundled
  ``data/synthetic/default/`` is this delivery with :data:`DEFAULT_SEED`.
* **Scaled delivery** (``households=N``): ``N`` households drawn from the same model
  without calibration, generated in chunks of households so memory stays bounded.

The generating model, every parameter and the true effects analyses should recover are
documented in ``docs/synthetic-data.md`` and exposed as :data:`TRUE_EFFECTS`.

Everything is vectorised numpy; a generator is ``numpy.random.default_rng`` seeded from
the seed (and the chunk number), so the same seed and version give byte-identical files.

Examples
--------
>>> d = generate(seed=1, households=300)
>>> sorted(d.tables)
['episodes', 'households', 'legal_measures', 'referrals', 'safety_assessments', 'sites']
>>> bool(d.tables["households"]["household_id"].str.startswith("SYN-H").all())
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.delivery.schema import CLOSURE_REASONS, MEASURE_TYPES, MOVED_AWAY, RESPONDENTS, TABLES
from cohort.exceptions import ParameterError

__all__ = [
    "DEFAULT_SEED",
    "FAULTS",
    "FAULTS_FILE",
    "MODEL",
    "PUBLISHED_FIGURES",
    "SITES",
    "TRUE_EFFECTS",
    "TRUE_PILOT_EFFECTS",
    "SyntheticDelivery",
    "generate",
    "monitor_figures",
    "plant_faults",
    "write_declarations",
    "write_delivery",
]

#: Chosen among seeds 1-200 as the one whose calibration needs the fewest edits (10), so
#: the default delivery is as close to a plain draw from the model as possible.
DEFAULT_SEED = 131

#: The published monitor for reference date 31 December 2024, all sites together, which
#: the default delivery reproduces exactly.
PUBLISHED_FIGURES = {
    "reference_date": "2024-12-31",
    "households_involved": 1653,
    "legal_measures": 199,
    "households_active": 1185,
    "households_active_2024-06-30": 812,
    "ended_since_start": 468,
    "registrations_q4": 557,
    "registrations_q4_without_children": 88,
}

_EPOCH = np.datetime64("1970-01-01", "D")


def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - _EPOCH).astype(np.int64))


STUDY_START = _day("2023-01-01")
REFERENCE_DATE = _day("2024-12-31")
MID_DATE = _day("2024-06-30")
Q4_START = _day("2024-10-01")
DATA_END = _day("2026-09-30")
#: Histories are simulated past the data end so that shifting a household by a few weeks
#: in calibration never exposes an unsimulated stretch; the horizon cut comes last.
_GEN_HORIZON = DATA_END + 400
_NA = np.iinfo(np.int64).min  # missing date in the integer-day representation

#: Quarter starts from 2023Q1 to 2026Q4 (the last one closes the 2026Q3 interval).
_QUARTER_STARTS = np.array(
    [_day(f"{y}-{m:02d}-01") for y in (2023, 2024, 2025, 2026) for m in (1, 4, 7, 10)]
)

#: New households (first registrations) per quarter, 2023Q1 .. 2026Q3, of the default
#: delivery. 2024Q3 and 2024Q4 are nominal: calibration moves households between them so
#: that the 2024Q4 registrations (first ones plus re-registration episodes) are exactly 557.
#: The first 8 quarters sum to 1653. Scaled deliveries use these as relative weights.
DEFAULT_INTAKE = (105, 130, 145, 165, 185, 235, 140, 548, 400, 430, 390, 440, 450, 470, 430)

#: The site that stops its pilot at the end of 2024: no new households after
#: ``_WIND_DOWN_INTAKE_END``, open episodes transferred to regular care in November and
#: December, and no data after its ``delivery_end``.
_STOPPING_SITE = "FRL"
_WIND_DOWN_INTAKE_END = _day("2024-10-31")
_WIND_DOWN_FROM = _day("2024-11-01")


@dataclass(frozen=True)
class Site:
    code: str
    name: str
    weight: float  # relative intake
    severity_shift: float  # shift of the latent severity (sites differ in case mix)
    reregistration_loghr: float  # site log hazard ratio for re-registration (UTR = 0)
    measure_logodds: float  # site log odds ratio for a legal measure (UTR = 0)
    duration_factor: float  # multiplies the episode duration scale
    delivery_start: str = "2023-01-01"
    delivery_end: str = "2026-09-30"


#: The pilot regions. FRL stops delivering at the end of 2024; GRO starts in 2025.
SITES = (
    Site("AMS", "Amsterdam-Amstelland", 0.15, 0.20, 0.10, 0.20, 1.00),
    Site("RRN", "Rotterdam-Rijnmond", 0.14, 0.30, 0.15, 0.30, 1.05),
    Site("UTR", "Utrecht", 0.10, 0.00, 0.00, 0.00, 1.00),
    Site("HGL", "Haaglanden", 0.09, 0.10, 0.05, 0.10, 0.95),
    Site("FVL", "FoodValley", 0.07, -0.20, -0.15, -0.30, 0.90),
    Site("ZEE", "Zeeland", 0.06, -0.10, -0.10, 0.20, 1.10),
    Site("WBW", "West-Brabant West", 0.07, 0.00, 0.05, 0.00, 1.00),
    Site("HVB", "Hart van Brabant", 0.07, -0.10, -0.05, -0.20, 0.95),
    Site("FLE", "Flevoland", 0.06, 0.20, 0.20, 0.40, 1.10),
    Site("ZWL", "Zaanstreek-Waterland", 0.05, -0.20, -0.20, -0.40, 0.90),
    Site("FRL", "Fryslân", 0.06, 0.00, 0.00, -0.10, 1.00, delivery_end="2024-12-31"),
    Site("GLZ", "Gelderland-Zuid", 0.06, -0.10, -0.05, 0.00, 1.05),
    Site("GRO", "Groningen", 0.08, 0.10, 0.10, 0.10, 1.00, delivery_start="2025-01-01"),
)

_SITE_CODES = np.array([s.code for s in SITES])
_SITE_START = np.array([_day(s.delivery_start) for s in SITES])
_SITE_END = np.array([min(_day(s.delivery_end), DATA_END) for s in SITES])
_SITE_WEIGHT = np.array([s.weight for s in SITES])
_SITE_SEV = np.array([s.severity_shift for s in SITES])
_SITE_RR = np.array([s.reregistration_loghr for s in SITES])
_SITE_MEAS = np.array([s.measure_logodds for s in SITES])
_SITE_DUR = np.array([s.duration_factor for s in SITES])
_STOP_IDX = int(np.flatnonzero(_SITE_CODES == _STOPPING_SITE)[0])
_RISING_BARRING_SITES = ("RRN", "ZEE")  # more barring and contact orders from 2024

#: Parameters of the generating model (documented in docs/synthetic-data.md).
MODEL = {
    # household composition; the share without children rises over calendar time
    "childless_logit_intercept": -2.05,  # logit P(no children) on 1 January 2023
    "childless_logit_per_year": 0.20,
    "children_extra_poisson_mean": 0.9,  # n_children = 1 + Poisson, capped at 8
    "second_adult_prob": 0.62,
    "third_adult_prob": 0.06,
    # latent severity z ~ N(site shift + trend * years, 1); observable proxies
    "severity_trend_per_year": 0.15,
    "severity_high_threshold": 0.80,  # severity = "high" when z + N(0, 0.5) > threshold
    "severity_proxy_noise_sd": 0.5,
    "prior_reports_log_mean": 0.20,  # prior_reports ~ Poisson(exp(0.2 + 0.35 z)), cap 12
    "prior_reports_log_per_z": 0.35,
    # episode duration: Weibull in days, scale * exp(0.2 high) * site factor (x0.8 later ep.)
    "duration_shape": 3.8,
    "duration_scale_days": 482.0,
    "duration_high_logfactor": 0.20,
    "duration_later_episode_factor": 0.80,
    "duration_min_days": 14,
    # moving out of the region
    "move_rate_open_per_year": 0.04,  # during an episode: closure with reason moved_away
    "move_rate_after_per_year": 0.08,  # after a closure: competing event for re-registration
    # re-registration after a closure: Weibull proportional hazards in days since closure
    "reregistration_shape": 0.75,
    "reregistration_scale_days": 3000.0,
    "reregistration_episode_prob_low": 0.40,  # re-registration opens a new episode
    "reregistration_episode_prob_high": 0.60,
    # legal measures: logistic model per episode, timing from registration
        "measure_second_prob": 0.20,
    "measure_delay_mean_days": 70.0,
    # safety scores
    "safety_waves_months": (0, 6, 12, 18),
    "safety_wave_miss_prob": (0.05, 0.12, 0.15, 0.18),
    "safety_wave_jitter_sd_days": 10.0,
    "safety_dropout_per_wave": 0.08,
    "safety_respondent_prob": {"professional": 0.95, "parent": 0.80, "child": 0.35},
    # referrals during an open episode (follow-up reports, not re-registrations)
    "followup_referral_rate_per_year": 0.25,
    "rvt_prob": 0.75,
}

_LN = math.log

#: The true effects of the generating model; analyses of a scaled (uncalibrated) delivery
#: should recover them. See docs/synthetic-data.md for the exact model statements.
TRUE_EFFECTS = {
    # re-registration: cause-specific hazard, gap time since each closure (moving away and
    # censoring at reference date / delivery end compete); Weibull baseline, PH covariates
    "reregistration_loghr": {
        "no_children": _LN(0.70),
        "severity_high": _LN(1.50),
        "prior_reports": _LN(1.10),  # per prior report
        "site": {s.code: s.reregistration_loghr for s in SITES},  # relative to UTR
    },
    "reregistration_hr": {"no_children": 0.70, "severity_high": 1.50, "prior_reports": 1.10},
    "reregistration_baseline": {"distribution": "weibull", "shape": 0.75, "scale_days": 3000.0},
    # legal measure: P(episode has >= 1 compulsory legal measure), logistic
    "measure_logodds": {
        "intercept": -2.80,
        "severity_high": 1.40,
        "prior_reports": 0.15,  # per prior report
        "site": {s.code: s.measure_logodds for s in SITES},  # relative to UTR
    },
    # safety score (0-10) of an assessment at t months since the episode's registration
    "safety": {
        "intercept": 4.6,  # professional, low severity, t = 0
        "severity_high": -1.3,  # T0 difference high vs low
        "slope_per_month": 0.12,
        "respondent": {"professional": 0.0, "parent": 0.5, "child": -0.4},
        "random_intercept_sd": 1.0,  # household level
        "random_slope_sd": 0.04,  # household level, per month; independent of intercept
        "residual_sd": 0.9,
        "rounding": "scores are rounded to whole points and clipped to [0, 10]",
    },
}

#: The true effects of the new way of working in the comparison design
#: (:mod:`cohort.synth.comparison`, ``cohort synth OUT --design comparison``): what the
#: effect analyses should recover. An episode is *served the new way* when it is registered
#: at a pilot site on or after the site's ``pilot_start``. See docs/synthetic-data.md,
#: "The comparison design".
TRUE_PILOT_EFFECTS = {
    # a pilot site registers more households once it works the new way: its regular intake
    # plus 40% extra, severe and acute cases (the programme's sites "increasingly take on
    # severe and acute cases"); site-level effect on log registrations: log(1.4)
    "intake": {"pilot_intake_ratio": 1.40},
    # the extra cases: latent severity shifted by +1.5 (so more often severity "high" and
    # more prior reports, through the default model's proxies) and more often without
    # children (+0.8 on the log odds). This is the confounding by case mix.
    "case_mix": {"acute_severity_shift": 1.5, "acute_childless_logodds": 0.8},
    # re-registration after the closure of an episode served the new way: hazard ratio 0.80
    # on the default model's Weibull proportional hazards (other terms as TRUE_EFFECTS;
    # regions have no effect of their own in this design)
    "reregistration_loghr": {"pilot": _LN(0.80)},
    "reregistration_hr": {"pilot": 0.80},
    # first compulsory legal measure during an episode: Weibull proportional hazards from
    # the registration, ended by the closure; hazard ratio 0.70 for the new way
    "measure_loghr": {
        "pilot": _LN(0.70),
        "severity_high": _LN(3.5),
        "prior_reports": _LN(1.15),  # per prior report
        "no_children": _LN(0.60),
    },
    "measure_hr": {"pilot": 0.70, "severity_high": 3.5, "prior_reports": 1.15, "no_children": 0.60},
    "measure_baseline": {"distribution": "weibull", "shape": 0.8, "scale_days": 14000.0},
    # safety score: the slope per month since registration is 0.05 steeper for an episode
    # served the new way (no difference at T0): +0.6 points after 12 months
    "safety": {"pilot_slope_per_month": 0.05, "pilot_t0": 0.0, "pilot_change_12m": 0.6},
    # what the design leaves out on purpose (so that its assumptions hold by construction)
    "assumptions": (
        "regions differ in size only: no outcome effects or case mix of their own",
        "no calendar trends: parallel trends hold for the site-level outcomes",
        "episode durations do not depend on severity or on the way of working",
    ),
}

_RR = TRUE_EFFECTS["reregistration_loghr"]
_MEAS = TRUE_EFFECTS["measure_logodds"]
_SAF = TRUE_EFFECTS["safety"]

_REASONS_NOT_MOVED = np.array(["goal_reached", "transferred", "refused", "other"])
_REASON_P_LOW = np.array([0.50, 0.28, 0.14, 0.08])
_REASON_P_HIGH = np.array([0.40, 0.32, 0.18, 0.10])
_REASON_CODES = np.array(CLOSURE_REASONS)  # episodes hold an index into the schema's tuple
_NOT_MOVED_CODES = np.array([CLOSURE_REASONS.index(r) for r in _REASONS_NOT_MOVED])
_MOVED_CODE = CLOSURE_REASONS.index(MOVED_AWAY)
_REFERRAL_SOURCES = np.array(
    ["veilig_thuis", "police", "local_team", "school", "healthcare", "self"]
)
_REFERRAL_SOURCE_P = np.array([0.45, 0.20, 0.15, 0.08, 0.07, 0.05])
_MEASURES = np.array(MEASURE_TYPES)
# supervision, custody termination, barring, contact ban, probation
_MEASURE_P_LOW = np.array([0.50, 0.04, 0.22, 0.14, 0.10])
_MEASURE_P_HIGH = np.array([0.52, 0.12, 0.16, 0.10, 0.10])
_RESPONDENTS = np.array(RESPONDENTS)

_CHUNK_HOUSEHOLDS = 50_000
_ID_WIDTH = 8


# --------------------------------------------------------------------------- helpers


def _weekday_forward(days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to the next Monday (1970-01-01 was a Thursday)."""
    wd = (days + 3) % 7  # Monday = 0
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def _choice(rng: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    """Vectorised categorical draw with one probability vector."""
    return np.searchsorted(np.cumsum(p), rng.random(size) * p.sum(), side="right").clip(0, len(p) - 1)


def _choice_rows(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """Categorical draw with one probability row per draw (rows sum to 1)."""
    c = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None] * c[:, -1:]
    return (u >= c).sum(axis=1).clip(0, p.shape[1] - 1)


def _years(days: np.ndarray) -> np.ndarray:
    return (days - STUDY_START) / 365.25


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------- households


@dataclass
class _State:
    """The delivery in integer days while it is being generated (internal)."""

    hh: dict  # household arrays
    ep: dict  # episode arrays (hh, k, reg, close, reason, src)
    rr: dict  # re-registration referrals (hh, date, src)
    move: np.ndarray  # moved_out_date per household (_NA = none)
    calibration: dict = field(default_factory=dict)


def _intake_days(rng, counts_per_quarter: np.ndarray) -> np.ndarray:
    """Registration days: for each quarter, its count of uniform weekdays."""
    out = []
    for q, n in enumerate(counts_per_quarter):  # 15 quarters, not households
        a, b = _QUARTER_STARTS[q], _QUARTER_STARTS[q + 1]
        days = np.arange(a, b)
        days = days[(days + 3) % 7 < 5]
        out.append(np.sort(rng.choice(days, size=int(n))))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _draw_sites(rng, reg: np.ndarray) -> np.ndarray:
    """Site per household, by intake weight among the sites open for intake that day."""
    open_ = (reg[:, None] >= _SITE_START[None, :]) & (reg[:, None] <= _SITE_END[None, :])
    open_[:, _STOP_IDX] &= reg <= _WIND_DOWN_INTAKE_END
    w = open_ * _SITE_WEIGHT[None, :]
    return _choice_rows(rng, w / w.sum(axis=1, keepdims=True))


def _draw_households(rng, reg: np.ndarray) -> dict:
    n = len(reg)
    site = _draw_sites(rng, reg)
    t = _years(reg)
    m = MODEL
    p_childless = _expit(m["childless_logit_intercept"] + m["childless_logit_per_year"] * t)
    childless = rng.random(n) < p_childless
    n_children = np.where(childless, 0, 1 + np.minimum(rng.poisson(m["children_extra_poisson_mean"], n), 7))
    u = rng.random(n)
    n_adults = 1 + (u < m["second_adult_prob"]) + (u < m["third_adult_prob"])
    z = rng.normal(_SITE_SEV[site] + m["severity_trend_per_year"] * t, 1.0)
    high = z + rng.normal(0.0, m["severity_proxy_noise_sd"], n) > m["severity_high_threshold"]
    prior = np.minimum(rng.poisson(np.exp(m["prior_reports_log_mean"] + m["prior_reports_log_per_z"] * z)), 12)
    lin_rr = (
        _RR["no_children"] * childless
        + _RR["severity_high"] * high
        + _RR["prior_reports"] * prior
        + _SITE_RR[site]
    )
    b0 = rng.normal(0.0, _SAF["random_intercept_sd"], n)
    b1 = rng.normal(0.0, _SAF["random_slope_sd"], n)
    return {
        "reg1": reg.astype(np.int64),
        "site": site,
        "childless": childless,
        "n_children": n_children.astype(np.int64),
        "n_adults": n_adults.astype(np.int64),
        "high": high,
        "prior": prior.astype(np.int64),
        "lin_rr": lin_rr,
        "b0": b0,
        "b1": b1,
    }


# --------------------------------------------------------------------------- histories


def _simulate_histories(rng, hh: dict) -> _State:
    """Alternate episodes and at-risk spells per household until the generation horizon.

    Loops run over generations (episode number, re-registration number), each one
    vectorised over all households still in play; there are a handful of generations.
    """
    m = MODEL
    n = len(hh["reg1"])
    ep_parts, rr_parts = [], []
    move = np.full(n, _NA, np.int64)
    idx = np.arange(n)
    reg = hh["reg1"].copy()
    src = _choice(rng, _REFERRAL_SOURCE_P, n)
    k = 0
    while idx.size:
        high = hh["high"][idx]
        scale = (
            m["duration_scale_days"]
            * np.exp(m["duration_high_logfactor"] * high)
            * _SITE_DUR[hh["site"][idx]]
            * (m["duration_later_episode_factor"] if k else 1.0)
        )
        dur = np.maximum(np.rint(scale * rng.weibull(m["duration_shape"], idx.size)), m["duration_min_days"])
        close = _weekday_forward(reg + dur.astype(np.int64))
        mv = reg + np.ceil(rng.exponential(365.25 / m["move_rate_open_per_year"], idx.size)).astype(np.int64)
        moved = mv < close
        close = np.where(moved, _weekday_forward(mv), close)
        p = np.where(high[:, None], _REASON_P_HIGH[None, :], _REASON_P_LOW[None, :])
        reason_nm = _choice_rows(rng, p)
        reason = np.where(moved, _MOVED_CODE, _NOT_MOVED_CODES[reason_nm])
        ep_parts.append(
            {"hh": idx, "k": np.full(idx.size, k), "reg": reg, "close": close, "reason": reason, "src": src}
        )
        move[idx[moved]] = close[moved]
        # at risk of re-registration after a closure that was not a move
        go = ~moved & (close <= _GEN_HORIZON)
        a_idx, t = idx[go], close[go]
        a_move = t + np.ceil(rng.exponential(365.25 / m["move_rate_after_per_year"], a_idx.size)).astype(np.int64)
        next_idx, next_reg, next_src = [], [], []
        while a_idx.size:
            e = rng.exponential(1.0, a_idx.size)
            gap = m["reregistration_scale_days"] * (e / np.exp(hh["lin_rr"][a_idx])) ** (1.0 / m["reregistration_shape"])
            ev = t + np.maximum(1, np.ceil(np.minimum(gap, 1e6))).astype(np.int64)
            moved_first = a_move <= ev
            move[a_idx[moved_first]] = a_move[moved_first]
            cont = ~moved_first & (ev <= _GEN_HORIZON)
            a_idx, t, a_move, ev = a_idx[cont], t[cont], a_move[cont], ev[cont]
            s = _choice(rng, _REFERRAL_SOURCE_P, a_idx.size)
            rr_parts.append({"hh": a_idx, "date": ev, "src": s})
            p_ep = np.where(
                hh["high"][a_idx], m["reregistration_episode_prob_high"], m["reregistration_episode_prob_low"]
            )
            becomes = rng.random(a_idx.size) < p_ep
            lag = rng.integers(0, 15, a_idx.size)
            next_idx.append(a_idx[becomes])
            next_reg.append(_weekday_forward(ev[becomes] + lag[becomes]))
            next_src.append(s[becomes])
            a_idx, t, a_move = a_idx[~becomes], ev[~becomes], a_move[~becomes]
        idx = np.concatenate(next_idx) if next_idx else np.zeros(0, np.int64)
        reg = np.concatenate(next_reg) if next_reg else np.zeros(0, np.int64)
        src = np.concatenate(next_src) if next_src else np.zeros(0, np.int64)
        keep = reg <= _GEN_HORIZON
        idx, reg, src = idx[keep], reg[keep], src[keep]
        k += 1
    ep = {key: np.concatenate([p[key] for p in ep_parts]) for key in ep_parts[0]}
    if rr_parts:
        rr = {key: np.concatenate([p[key] for p in rr_parts]) for key in rr_parts[0]}
    else:
        rr = {"hh": np.zeros(0, np.int64), "date": np.zeros(0, np.int64), "src": np.zeros(0, np.int64)}
    return _State(hh=hh, ep=ep, rr=rr, move=move)


# --------------------------------------------------------------------------- site rules


def _apply_wind_down(state: _State, rng) -> None:
    """The stopping site takes no new episodes after October 2024 and transfers every
    episode still open at its delivery end to regular care in November-December 2024."""
    ep, hh = state.ep, state.hh
    site = hh["site"][ep["hh"]]
    stop = site == _STOP_IDX
    drop = stop & (ep["reg"] > _WIND_DOWN_INTAKE_END)
    for key in ep:
        ep[key] = ep[key][~drop]
    site = hh["site"][ep["hh"]]
    end = _SITE_END[_STOP_IDX]
    force = (site == _STOP_IDX) & (ep["close"] > end)
    lo = np.maximum(ep["reg"][force] + 14, _WIND_DOWN_FROM)
    span = np.maximum(end - lo, 0)
    day = lo + np.floor(rng.random(force.sum()) * (span + 1)).astype(np.int64)
    day = _weekday_forward(day)
    day = np.where(day > end, end, day)  # 2024-12-31 is a Tuesday
    ep["close"][force] = day
    ep["reason"][force] = CLOSURE_REASONS.index("transferred")


def _shift_households(state: _State, sel: np.ndarray, from_day: np.ndarray, delta: np.ndarray) -> None:
    """Shift every event of households ``sel`` dated on or after ``from_day`` by ``delta``.

    Shifting a household's whole remaining history keeps every gap time of the model
    intact; only calendar time (and hence censoring) changes.
    """
    n = len(state.hh["reg1"])
    frm = np.full(n, np.iinfo(np.int64).max)
    dl = np.zeros(n, np.int64)
    frm[sel] = from_day
    dl[sel] = delta
    ep, rr = state.ep, state.rr
    for key in ("reg", "close"):
        m = ep[key] >= frm[ep["hh"]]
        ep[key] = np.where(m, ep[key] + dl[ep["hh"]], ep[key])
    m = rr["date"] >= frm[rr["hh"]]
    rr["date"] = np.where(m, rr["date"] + dl[rr["hh"]], rr["date"])
    mv = state.move
    m = (mv != _NA) & (mv >= frm)
    state.move = np.where(m, mv + dl, mv)
    first = np.zeros(n, bool)
    first[sel] = True
    state.hh["reg1"] = np.where(first & (state.hh["reg1"] >= frm), state.hh["reg1"] + dl, state.hh["reg1"])


# --------------------------------------------------------------------------- calibration


def _counts(state: _State) -> dict:
    """The monitor for 31 December 2024 in integer days (the generator's own accounting)."""
    ep, n = state.ep, len(state.hh["reg1"])
    reg, close, h = ep["reg"], ep["close"], ep["hh"]

    def households(mask):
        return int(np.bincount(h[mask], minlength=n).astype(bool).sum())

    in_q4 = (reg >= Q4_START) & (reg <= REFERENCE_DATE)
    return {
        "households_involved": households(reg <= REFERENCE_DATE),
        "households_active": households((reg <= REFERENCE_DATE) & (close > REFERENCE_DATE)),
        "households_active_2024-06-30": households((reg <= MID_DATE) & (close > MID_DATE)),
        "registrations_q4": int(in_q4.sum()),
        "registrations_q4_without_children": int((in_q4 & state.hh["childless"][h]).sum()),
    }


def _pick(rng, candidates: np.ndarray, k: int, what: str) -> np.ndarray:
    candidates = np.sort(candidates)
    if k > candidates.size:
        raise RuntimeError(f"calibration cannot reach the target for {what}: {k} > {candidates.size}")
    return np.sort(rng.choice(candidates, size=k, replace=False))


def _calibrate_registrations(state: _State, rng) -> None:
    """Move whole households between 2024Q3 and 2024Q4 (14 weeks) so the Q4 registrations
    are exactly 557, then set ``has_children`` of Q4 newcomers so 88 are without children."""
    target = PUBLISHED_FIGURES["registrations_q4"]
    ep, hh = state.ep, state.hh
    first = ep["k"] == 0
    c1 = np.full(len(hh["reg1"]), _NA)
    c1[ep["hh"][first]] = ep["close"][first]
    c = _counts(state)
    diff = target - c["registrations_q4"]
    # households whose history after registration lies beyond 2024 even after the shift
    ok = (c1 > REFERENCE_DATE + 98) & (hh["site"] != _STOP_IDX)
    if diff > 0:
        cand = np.flatnonzero(ok & (hh["reg1"] >= _day("2024-07-01")) & (hh["reg1"] <= _day("2024-09-24")))
        delta = 98
    else:
        cand = np.flatnonzero(ok & (hh["reg1"] >= _day("2024-10-07")) & (hh["reg1"] <= REFERENCE_DATE))
        delta = -98
    sel = _pick(rng, cand, abs(diff), "registrations in 2024Q4")
    _shift_households(state, sel, np.full(sel.size, np.iinfo(np.int64).min // 2), np.full(sel.size, delta))
    state.calibration["households_moved_between_2024q3_and_q4"] = int(diff)

    target = PUBLISHED_FIGURES["registrations_q4_without_children"]
    c = _counts(state)
    diff = target - c["registrations_q4_without_children"]
    in_q4 = (ep["reg"] >= Q4_START) & (ep["reg"] <= REFERENCE_DATE)
    n_q4 = np.bincount(ep["hh"][in_q4], minlength=len(hh["reg1"]))
    newcomer = (hh["reg1"] >= Q4_START) & (hh["reg1"] <= REFERENCE_DATE) & (n_q4 == 1)
    cand = np.flatnonzero(newcomer & (hh["childless"] != (diff > 0)))
    sel = _pick(rng, cand, abs(diff), "registrations without children in 2024Q4")
    to_childless = diff > 0
    hh["childless"][sel] = to_childless
    hh["n_children"][sel] = 0 if to_childless else 1 + np.minimum(
        rng.poisson(MODEL["children_extra_poisson_mean"], sel.size), 7
    )
    state.calibration["has_children_flipped_in_2024q4"] = int(diff)


def _calibrate_active(state: _State, rng) -> None:
    """Move first closures of single-episode households (in whole weeks, shifting the rest
    of their history along) so the active households are exactly 812 on 30 June 2024 and
    1185 on 31 December 2024; each move changes one of the two counts by one."""
    ep, hh = state.ep, state.hh
    n = len(hh["reg1"])
    touched = np.zeros(n, bool)

    def simple_info():
        upto_r = np.bincount(ep["hh"][ep["reg"] <= REFERENCE_DATE], minlength=n)
        first = ep["k"] == 0
        c1 = np.full(n, _NA)
        c1[ep["hh"][first]] = ep["close"][first]
        r2 = np.full(n, np.iinfo(np.int64).max)
        second = ep["k"] == 1
        r2[ep["hh"][second]] = ep["reg"][second]
        simple = (upto_r == 1) & (hh["site"] != _STOP_IDX) & ~touched & (hh["reg1"] <= REFERENCE_DATE)
        return simple, c1, r2

    def move(cand, lo, hi, k, what):
        """Move closures of ``k`` households among ``cand`` into [lo, hi] by whole weeks."""
        _, c1, r2 = simple_info()
        c = c1[cand]
        m_lo = np.ceil((lo[cand] - c) / 7).astype(np.int64)
        m_hi = np.floor((hi[cand] - c) / 7).astype(np.int64)
        ok = m_hi >= m_lo
        cand, c, m_lo, m_hi = cand[ok], c[ok], m_lo[ok], m_hi[ok]
        m = m_lo + np.floor(rng.random(cand.size) * (m_hi - m_lo + 1)).astype(np.int64)
        delta = 7 * m
        # a later episode must stay after the reference date
        ok = r2[cand] + np.minimum(delta, 0) > REFERENCE_DATE
        cand, c, delta = cand[ok], c[ok], delta[ok]
        pos = np.searchsorted(cand, _pick(rng, cand, k, what))
        sel = cand[pos]
        _shift_households(state, sel, c[pos], delta[pos])
        touched[sel] = True

    counts = _counts(state)
    diff = PUBLISHED_FIGURES["households_active_2024-06-30"] - counts["households_active_2024-06-30"]
    simple, c1, _ = simple_info()
    reg1 = hh["reg1"]
    if diff > 0:  # closed by mid-2024 -> closed in the second half of 2024
        cand = np.flatnonzero(simple & (c1 <= MID_DATE))
        move(cand, np.full(n, MID_DATE + 1), np.full(n, REFERENCE_DATE), diff, "active on 2024-06-30")
    elif diff < 0:  # closed in the second half of 2024 -> closed by mid-2024
        cand = np.flatnonzero(simple & (c1 > MID_DATE) & (c1 <= REFERENCE_DATE) & (reg1 <= MID_DATE - 14))
        move(cand, reg1 + 14, np.full(n, MID_DATE), -diff, "active on 2024-06-30")
    state.calibration["closures_moved_for_2024-06-30"] = int(diff)

    counts = _counts(state)
    diff = PUBLISHED_FIGURES["households_active"] - counts["households_active"]
    simple, c1, _ = simple_info()
    if diff > 0:  # closed in the second half of 2024 -> still open on 31 December 2024
        cand = np.flatnonzero(simple & (c1 > MID_DATE) & (c1 <= REFERENCE_DATE))
        move(cand, np.full(n, REFERENCE_DATE + 1), np.full(n, REFERENCE_DATE + 364), diff, "active on 2024-12-31")
    elif diff < 0:  # open on 31 December 2024 -> closed in the second half of 2024
        cand = np.flatnonzero(simple & (c1 > REFERENCE_DATE) & (reg1 <= REFERENCE_DATE - 14))
        lo = np.maximum(reg1 + 14, MID_DATE + 1)
        move(cand, lo, np.full(n, REFERENCE_DATE), -diff, "active on 2024-12-31")
    state.calibration["closures_moved_for_2024-12-31"] = int(diff)


# --------------------------------------------------------------------------- child tables


def _measure_prob(state: _State, e: np.ndarray) -> np.ndarray:
    hh = state.hh
    h = state.ep["hh"][e]
    lin = (
        _MEAS["intercept"]
        + _MEAS["severity_high"] * hh["high"][h]
        + _MEAS["prior_reports"] * hh["prior"][h]
        + _SITE_MEAS[hh["site"][h]]
    )
    return _expit(lin)


def _measure_types_and_ends(rng, state: _State, e: np.ndarray, start: np.ndarray):
    hh = state.hh
    h = state.ep["hh"][e]
    p = np.where(hh["high"][h][:, None], _MEASURE_P_HIGH[None, :], _MEASURE_P_LOW[None, :]).copy()
    rising = np.isin(_SITE_CODES[hh["site"][h]], _RISING_BARRING_SITES) & (start >= _day("2024-01-01"))
    p[rising, 2:4] *= 2.0
    p /= p.sum(axis=1, keepdims=True)
    typ = _choice_rows(rng, p)
    u = rng.random(e.size)
    end = np.select(
        [typ == 0, typ == 1, typ == 2, typ == 3],
        [
            np.where(u < 0.7, start + 365, _NA),  # supervision order: a year, some extended
            np.full(e.size, _NA),  # termination of parental authority: no end
            start + np.where(u < 0.6, 10, 28),  # barring order: 10 days, extended to 28
            start + 90 + np.floor(u * 276).astype(np.int64),  # contact ban: 3-12 months
        ],
        start + 365 + np.floor(u * 366).astype(np.int64),  # probation: 1-2 years
    )
    return typ, end


def _draw_measures(state: _State, rng) -> dict:
    m = MODEL
    ep = state.ep
    n_ep = ep["reg"].size
    e = np.arange(n_ep)
    has = rng.random(n_ep) < _measure_prob(state, e)
    e = e[has]
    dur = ep["close"][e] - ep["reg"][e]
    delay = np.ceil(rng.exponential(m["measure_delay_mean_days"], e.size)).astype(np.int64)
    delay = np.where(delay > dur, np.floor(rng.random(e.size) * dur).astype(np.int64), delay)
    start = ep["reg"][e] + delay
    second = rng.random(e.size) < m["measure_second_prob"]
    start2 = start + np.ceil(rng.exponential(90.0, e.size)).astype(np.int64)
    second &= start2 <= ep["close"][e]
    e = np.concatenate([e, e[second]])
    start = np.concatenate([start, start2[second]])
    typ, end = _measure_types_and_ends(rng, state, e, start)
    return {"ep": e, "type": typ, "start": start, "end": end}


def _calibrate_measures(state: _State, meas: dict, rng) -> dict:
    """Remove or add measures so exactly 199 start in [2023-01-01, 2024-12-31]."""
    target = PUBLISHED_FIGURES["legal_measures"]
    upto = np.flatnonzero(meas["start"] <= REFERENCE_DATE)
    diff = target - upto.size
    if diff < 0:
        drop = _pick(rng, upto, -diff, "legal measures")
        keep = np.ones(meas["start"].size, bool)
        keep[drop] = False
        meas = {k: v[keep] for k, v in meas.items()}
    elif diff > 0:
        ep = state.ep
        without = np.ones(ep["reg"].size, bool)
        without[meas["ep"]] = False
        cand = np.flatnonzero(without & (ep["reg"] <= REFERENCE_DATE) & (ep["close"] > ep["reg"]))
        w = _measure_prob(state, cand)
        e = np.sort(rng.choice(cand, size=diff, replace=False, p=w / w.sum()))
        span = np.minimum(ep["close"][e], REFERENCE_DATE) - ep["reg"][e]
        start = ep["reg"][e] + np.floor(rng.random(e.size) * (span + 1)).astype(np.int64)
        typ, end = _measure_types_and_ends(rng, state, e, start)
        add = {"ep": e, "type": typ, "start": start, "end": end}
        meas = {k: np.concatenate([meas[k], add[k]]) for k in meas}
    state.calibration["legal_measures_added"] = int(diff)
    return meas


def draw_assessments(rng, hh: dict, ep: dict, slope_shift=0.0) -> dict:
    """Safety scores of every episode's waves and respondents (the model's ``safety``
    block); ``slope_shift`` (a number or one per episode) is added to the slope per month,
    so a comparison design can give episodes served the new way a steeper one."""
    m = MODEL
    n_ep = ep["reg"].size
    waves = np.array(m["safety_waves_months"])
    miss = np.array(m["safety_wave_miss_prob"])
    nw = waves.size
    e = np.repeat(np.arange(n_ep), nw)
    w = np.tile(np.arange(nw), n_ep)
    jitter = np.where(
        w == 0,
        rng.integers(0, 15, e.size),
        np.rint(rng.normal(0.0, m["safety_wave_jitter_sd_days"], e.size)).astype(np.int64),
    )
    date = _weekday_forward(ep["reg"][e] + np.rint(waves[w] * 30.4375).astype(np.int64) + jitter)
    # dropout: after a wave >= 1 the household stops being assessed in this episode
    drop_wave = 1 + rng.geometric(m["safety_dropout_per_wave"], n_ep)
    ok = (date < ep["close"][e]) & (rng.random(e.size) >= miss[w]) & (w < drop_wave[e])
    e, w, date = e[ok], w[ok], date[ok]
    nr = len(RESPONDENTS)
    e3 = np.repeat(e, nr)
    w3 = np.repeat(w, nr)
    d3 = np.repeat(date, nr)
    r3 = np.tile(np.arange(nr), e.size)
    h3 = ep["hh"][e3]
    p_resp = np.array([m["safety_respondent_prob"][r] for r in RESPONDENTS])
    ok = rng.random(e3.size) < p_resp[r3]
    ok &= ~((r3 == RESPONDENTS.index("child")) & hh["childless"][h3])
    e3, w3, d3, r3, h3 = e3[ok], w3[ok], d3[ok], r3[ok], h3[ok]
    months = (d3 - ep["reg"][e3]) / 30.4375
    resp_eff = np.array([_SAF["respondent"][r] for r in RESPONDENTS])
    # adding a zero shift is exact, so the default delivery does not change
    shift = np.asarray(slope_shift, dtype=float)
    slope = _SAF["slope_per_month"] + (shift[e3] if shift.ndim else shift)
    y = (
        _SAF["intercept"]
        + _SAF["severity_high"] * hh["high"][h3]
        + resp_eff[r3]
        + hh["b0"][h3]
        + (slope + hh["b1"][h3]) * months
        + rng.normal(0.0, _SAF["residual_sd"], e3.size)
    )
    score = np.clip(np.rint(y), 0.0, 10.0)
    return {"ep": e3, "date": d3, "resp": r3, "score": score, "wave": w3}


def draw_referrals(rng, ep: dict, rr: dict, first_start) -> dict:
    """All referrals: the one before each first episode (not before ``first_start``, one
    date per first episode or one for all), the re-registrations, and follow-up reports
    during open episodes."""
    m = MODEL
    first = np.flatnonzero(ep["k"] == 0)
    lag = rng.integers(0, 22, first.size)
    d0 = np.maximum(ep["reg"][first] - lag, first_start)
    # follow-up reports during an open episode (strictly before its closure)
    span = np.minimum(ep["close"], _GEN_HORIZON) - ep["reg"]
    n_f = rng.poisson(m["followup_referral_rate_per_year"] * np.maximum(span, 0) / 365.25)
    fe = np.repeat(np.arange(ep["reg"].size), n_f)
    fd = ep["reg"][fe] + 1 + np.floor(rng.random(fe.size) * np.maximum(span[fe] - 1, 0)).astype(np.int64)
    hh_all = np.concatenate([ep["hh"][first], rr["hh"], ep["hh"][fe]])
    date = np.concatenate([d0, rr["date"], fd])
    src = np.concatenate([ep["src"][first], rr["src"], _choice(rng, _REFERRAL_SOURCE_P, fe.size)])
    return {"hh": hh_all, "date": date, "src": src}


def draw_rvt(rng, ep: dict) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of the child-protection investigation (RvT) of each episode, or none."""
    n = ep["reg"].size
    start = _weekday_forward(ep["reg"] + rng.integers(0, 29, n))
    has = (rng.random(n) < MODEL["rvt_prob"]) & (start < ep["close"])
    end = np.maximum(ep["close"] - rng.integers(0, 15, n), start)
    return np.where(has, start, _NA), np.where(has, end, _NA)


# --------------------------------------------------------------------------- assembling


def _truncate(state: _State, meas: dict, ass: dict, ref: dict, rvt) -> dict:
    """Cut every table at the site's delivery end (and the data end): nothing dated later
    is delivered; closures later than that are still open."""
    hh, ep = state.hh, state.ep
    horizon = _SITE_END[hh["site"]]
    he = horizon[ep["hh"]]
    keep_ep = ep["reg"] <= he
    closed = ep["close"] <= he
    close = np.where(closed, ep["close"], _NA)
    reason = np.where(closed, ep["reason"], -1)
    rvt_start = np.where((rvt[0] != _NA) & (rvt[0] <= he), rvt[0], _NA)
    rvt_end = np.where(closed & (rvt_start != _NA), rvt[1], _NA)
    new_index = np.cumsum(keep_ep) - 1
    episodes = {
        "hh": ep["hh"][keep_ep],
        "reg": ep["reg"][keep_ep],
        "close": close[keep_ep],
        "reason": reason[keep_ep],
        "src": ep["src"][keep_ep],
        "rvt_start": rvt_start[keep_ep],
        "rvt_end": rvt_end[keep_ep],
    }
    mk = keep_ep[meas["ep"]] & (meas["start"] <= he[meas["ep"]])
    end = meas["end"][mk]
    end = np.where((end != _NA) & (end <= he[meas["ep"]][mk]), end, _NA)
    measures = {"ep": new_index[meas["ep"][mk]], "type": meas["type"][mk], "start": meas["start"][mk], "end": end}
    ak = keep_ep[ass["ep"]] & (ass["date"] <= he[ass["ep"]])
    assessments = {k: v[ak] for k, v in ass.items()}
    assessments["ep"] = new_index[assessments["ep"]]
    rk = ref["date"] <= horizon[ref["hh"]]
    referrals = {k: v[rk] for k, v in ref.items()}
    move = np.where((state.move != _NA) & (state.move <= horizon), state.move, _NA)
    households = dict(hh)
    households["move"] = move
    return {
        "households": households,
        "episodes": episodes,
        "measures": measures,
        "assessments": assessments,
        "referrals": referrals,
    }


def _dates(days: np.ndarray) -> pd.Series:
    na = days == _NA
    out = np.where(na, 0, days).astype("datetime64[D]").astype("datetime64[ns]")
    out[na] = np.datetime64("NaT")
    return pd.Series(out)


def _ids(prefix: str, numbers: np.ndarray) -> pd.Series:
    return pd.Series(np.char.add(f"SYN-{prefix}", np.char.zfill(numbers.astype(str), _ID_WIDTH)), dtype="string")


def _cat(values: np.ndarray, codes: np.ndarray) -> pd.Series:
    s = pd.Series(values[np.clip(codes, 0, len(values) - 1)], dtype="string")
    s[codes < 0] = pd.NA
    return s


def _sites_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": pd.Series(_SITE_CODES, dtype="string"),
            "name": pd.Series([s.name for s in SITES], dtype="string"),
            "delivery_start": _dates(_SITE_START),
            "delivery_end": _dates(_SITE_END),
        }
    ).sort_values("site", ignore_index=True)


def _frames(raw: dict, rng, offsets: dict, site_codes: np.ndarray | None = None) -> dict[str, pd.DataFrame]:
    """Typed tables with pseudonyms; rows sorted by their key. IDs are a random
    permutation within the chunk's number range, so they do not encode dates.
    ``site_codes`` maps the site numbers of ``raw`` to codes (default: :data:`SITES`)."""
    hh, ep = raw["households"], raw["episodes"]
    n_h = hh["reg1"].size
    h_num = offsets["households"] + 1 + rng.permutation(n_h)
    n_e = ep["reg"].size
    e_num = offsets["episodes"] + 1 + rng.permutation(n_e)
    hid = _ids("H", h_num)
    site = pd.Series((_SITE_CODES if site_codes is None else site_codes)[hh["site"]], dtype="string")

    households = pd.DataFrame(
        {
            "household_id": hid,
            "site": site,
            "has_children": pd.Series(~hh["childless"], dtype="boolean"),
            "n_children": pd.Series(hh["n_children"], dtype="Int64"),
            "n_adults": pd.Series(hh["n_adults"], dtype="Int64"),
            "moved_out_date": _dates(hh["move"]),
            "severity": pd.Series(np.where(hh["high"], "high", "low"), dtype="string"),
            "prior_reports": pd.Series(hh["prior"], dtype="Int64"),
        }
    )
    eid = _ids("E", e_num)
    episodes = pd.DataFrame(
        {
            "episode_id": eid,
            "household_id": hid.iloc[ep["hh"]].reset_index(drop=True),
            "site": site.iloc[ep["hh"]].reset_index(drop=True),
            "registration_date": _dates(ep["reg"]),
            "closure_date": _dates(ep["close"]),
            "closure_reason": _cat(_REASON_CODES, ep["reason"]),
            "referral_source": _cat(_REFERRAL_SOURCES, ep["src"]),
            "rvt_start_date": _dates(ep["rvt_start"]),
            "rvt_end_date": _dates(ep["rvt_end"]),
        }
    )
    me = raw["measures"]
    m_num = offsets["legal_measures"] + 1 + rng.permutation(me["ep"].size)
    legal_measures = pd.DataFrame(
        {
            "measure_id": _ids("M", m_num),
            "household_id": episodes["household_id"].iloc[me["ep"]].reset_index(drop=True),
            "episode_id": eid.iloc[me["ep"]].reset_index(drop=True),
            "measure_type": _cat(_MEASURES, me["type"]),
            "start_date": _dates(me["start"]),
            "end_date": _dates(me["end"]),
        }
    )
    a = raw["assessments"]
    a_num = offsets["safety_assessments"] + 1 + rng.permutation(a["ep"].size)
    safety_assessments = pd.DataFrame(
        {
            "assessment_id": _ids("A", a_num),
            "household_id": episodes["household_id"].iloc[a["ep"]].reset_index(drop=True),
            "episode_id": eid.iloc[a["ep"]].reset_index(drop=True),
            "assessment_date": _dates(a["date"]),
            "respondent": _cat(_RESPONDENTS, a["resp"]),
            "score": pd.Series(a["score"], dtype="Float64"),
            "wave": pd.Series(np.char.add("T", a["wave"].astype(str)), dtype="string"),
        }
    )
    r = raw["referrals"]
    r_num = offsets["referrals"] + 1 + rng.permutation(r["hh"].size)
    referrals = pd.DataFrame(
        {
            "referral_id": _ids("R", r_num),
            "household_id": hid.iloc[r["hh"]].reset_index(drop=True),
            "referral_date": _dates(r["date"]),
            "source": _cat(_REFERRAL_SOURCES, r["src"]),
        }
    )
    out = {
        "households": households,
        "episodes": episodes,
        "legal_measures": legal_measures,
        "safety_assessments": safety_assessments,
        "referrals": referrals,
    }
    numbers = {
        "households": h_num,
        "episodes": e_num,
        "legal_measures": m_num,
        "safety_assessments": a_num,
        "referrals": r_num,
    }
    # rows sorted by key: the numbers have a fixed width, so numeric order is text order
    return {
        name: df.take(np.argsort(numbers[name], kind="stable")).reset_index(drop=True)
        for name, df in out.items()
    }


def _chunk(rng, counts: np.ndarray, calibrate: bool, offsets: dict) -> tuple[dict, dict]:
    reg = _intake_days(rng, counts)
    hh = _draw_households(rng, reg)
    state = _simulate_histories(rng, hh)
    _apply_wind_down(state, rng)
    if calibrate:
        _calibrate_registrations(state, rng)
        _calibrate_active(state, rng)
        got = _counts(state)
        for key, value in got.items():
            if value != PUBLISHED_FIGURES[key]:  # pragma: no cover - a bug, not a user error
                raise RuntimeError(f"calibration missed {key}: {value} != {PUBLISHED_FIGURES[key]}")
    meas = _draw_measures(state, rng)
    if calibrate:
        meas = _calibrate_measures(state, meas, rng)
    ass = draw_assessments(rng, state.hh, state.ep)
    # a first referral is not dated before its site joined the study
    first_hh = state.ep["hh"][state.ep["k"] == 0]
    ref = draw_referrals(rng, state.ep, state.rr, _SITE_START[state.hh["site"][first_hh]])
    rvt = draw_rvt(rng, state.ep)
    raw = _truncate(state, meas, ass, ref, rvt)
    return _frames(raw, rng, offsets), state.calibration


@dataclass
class SyntheticDelivery:
    """A generated delivery: typed tables (as :func:`cohort.load` returns them), the
    planted faults (empty unless asked for) and what calibration changed."""

    tables: dict[str, pd.DataFrame]
    faults: pd.DataFrame
    calibration: dict
    seed: int
    n_households: int | None

    def __getattr__(self, name):
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)


_FAULT_COLUMNS = ["table", "row", "column", "rule", "description"]


def _check_households(households, seed=0) -> None:
    if households is not None and (not isinstance(households, int | np.integer) or households < 1):
        raise ParameterError(f"--households must be a positive whole number, got {households!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"--seed must be a whole number of 0 or more, got {seed!r}")


def _chunk_plan(seed: int, households: int | None):
    """Yield (rng, counts per quarter, calibrate) per chunk."""
    weights = np.array(DEFAULT_INTAKE, float)
    if households is None:
        yield np.random.default_rng(seed), np.array(DEFAULT_INTAKE), True
        return
    n_chunks = -(-households // _CHUNK_HOUSEHOLDS)
    for c in range(n_chunks):
        n_c = min(_CHUNK_HOUSEHOLDS, households - c * _CHUNK_HOUSEHOLDS)
        rng = np.random.default_rng([seed, c])
        yield rng, rng.multinomial(n_c, weights / weights.sum()), False


def _iter_chunks(seed: int, households: int | None):
    offsets = dict.fromkeys(("households", "episodes", "legal_measures", "safety_assessments", "referrals"), 0)
    for rng, counts, calibrate in _chunk_plan(seed, households):
        frames, calibration = _chunk(rng, counts, calibrate, offsets)
        for name, df in frames.items():
            offsets[name] += len(df)
        yield frames, calibration


def generate(seed: int = DEFAULT_SEED, households: int | None = None, faults: bool = False) -> SyntheticDelivery:
    """Generate a synthetic delivery in memory.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same delivery.
    households : int, optional
        ``None`` (default) gives the calibrated default delivery that reproduces
        :data:`PUBLISHED_FIGURES`; a number gives that many households drawn from the
        model without calibration (for large numbers use :func:`cohort.synth.write.synthesize`, which writes
        chunk by chunk).
    faults : bool
        Plant data-quality faults (see :func:`plant_faults`); off by default. With faults
        the tables are returned as text frames, as delivered (a date that does not exist
        cannot be held in a typed table), and ``faults`` lists what was planted where.

    Returns
    -------
    SyntheticDelivery

    Raises
    ------
    cohort.exceptions.ParameterError
        If ``households`` is not a positive whole number or ``seed`` is negative.

    Examples
    --------
    >>> d = generate(seed=3, households=200)
    >>> len(d.households)
    200
    >>> d.faults.empty
    True
    """
    _check_households(households, seed)
    parts, calibration = [], {}
    for frames, cal in _iter_chunks(seed, households):
        parts.append(frames)
        calibration.update(cal)
    tables = {"sites": _sites_frame()}
    for name in parts[0]:
        tables[name] = pd.concat([p[name] for p in parts], ignore_index=True) if len(parts) > 1 else parts[0][name]
    fault_frame = pd.DataFrame(columns=_FAULT_COLUMNS)
    if faults:
        tables, fault_frame = plant_faults(tables, seed=seed)
    tables = {name: tables[name] for name in TABLES}
    return SyntheticDelivery(tables, fault_frame, calibration, seed, households)


# --------------------------------------------------------------------------- writing


def _format_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Every column as text with a fixed format: ISO dates, ``true``/``false``, whole
    numbers, scores with one decimal; missing values as empty cells."""
    out = {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            v = s.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
            txt = np.datetime_as_string(v, unit="D")
            out[col] = np.where(np.isnat(v), "", txt)
        elif pd.api.types.is_bool_dtype(s):
            txt = np.where(s.fillna(False).to_numpy(dtype=bool), "true", "false")
            out[col] = np.where(s.isna().to_numpy(), "", txt)
        elif pd.api.types.is_integer_dtype(s):
            na = s.isna().to_numpy()
            txt = s.fillna(0).to_numpy(dtype=np.int64).astype(str)
            out[col] = np.where(na, "", txt)
        elif pd.api.types.is_float_dtype(s):
            na = s.isna().to_numpy()
            v = s.fillna(0.0).to_numpy(dtype=float)
            txt = np.char.mod("%.1f", v)
            out[col] = np.where(na, "", txt)
        else:
            out[col] = s.astype("string").to_numpy(dtype=object, na_value="")
    return pd.DataFrame(out, columns=df.columns)


def _arrow_columns(df: pd.DataFrame):
    """The columns as Arrow arrays written in the fixed CSV format (see _format_frame)."""
    import pyarrow as pa

    arrays = []
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            v = s.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
            arrays.append(pa.array(v, type=pa.date32(), from_pandas=True))
        elif pd.api.types.is_bool_dtype(s):
            arrays.append(pa.array(s, type=pa.bool_(), from_pandas=True))
        elif pd.api.types.is_integer_dtype(s):
            arrays.append(pa.array(s, type=pa.int64(), from_pandas=True))
        elif pd.api.types.is_float_dtype(s):
            v = s.to_numpy(dtype=float, na_value=np.nan)
            txt = np.char.mod("%.1f", v).astype(object)
            txt[np.isnan(v)] = None
            arrays.append(pa.array(txt, type=pa.string()))
        else:
            arrays.append(pa.array(s.astype("string").to_numpy(dtype=object, na_value=None), type=pa.string()))
    return pa.Table.from_arrays(arrays, names=[str(c) for c in df.columns])


def _write_csv(df: pd.DataFrame, path: Path, header: bool) -> None:
    """Append ``df`` to a CSV file in the fixed format; values are never quoted unless a
    value holds a comma, quote or line break (then the whole table is written quoting
    where needed)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    table = _arrow_columns(df)
    with open(path, "ab" if not header else "wb") as fh:
        if header:
            fh.write((",".join(map(str, df.columns)) + "\n").encode("utf-8"))
        try:
            pcsv.write_csv(table, fh, pcsv.WriteOptions(include_header=False, quoting_style="none"))
            return
        except pa.ArrowInvalid:
            pass
    with open(path, "a" if not header else "w", encoding="utf-8", newline="") as fh:
        _format_frame(df).to_csv(fh, index=False, header=header, lineterminator="\n")


#: The household covariates the synthetic delivery adds, declared as a site would declare
#: them (``columns.yaml``, see :mod:`cohort.delivery.columns`): a text column outside the
#: data model is refused unless declared.
DECLARATIONS = """\
# Columns of this delivery outside the data model (docs/data-model.md).
households:
  severity:
    type: code
    values: [low, high]
    description: case severity at registration
  prior_reports:
    type: integer
    description: reports about the household before registration
"""


def write_declarations(out_dir) -> Path:
    """Write :data:`DECLARATIONS` as ``columns.yaml`` in ``out_dir``; return its path."""
    from cohort.delivery.columns import DECLARATIONS_FILE

    path = Path(out_dir) / DECLARATIONS_FILE
    path.write_text(DECLARATIONS, encoding="utf-8", newline="\n")
    return path


def write_delivery(tables: dict[str, pd.DataFrame], out_dir, format: str = "csv") -> list[Path]:
    """Write ``tables`` as one file per table (``<table>.csv`` or ``<table>.parquet``).

    CSV files are comma separated, UTF-8, ISO dates, empty cells for missing values, with
    the columns in the data model's order and rows in the order given (sorted by key when
    they come from :func:`generate`), so the same tables give byte-identical files.

    Examples
    --------
    >>> import tempfile
    >>> d = generate(seed=2, households=50)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [p.name for p in write_delivery(d.tables, tmp)][:2]
    ['sites.csv', 'households.csv']
    """
    if format not in ("csv", "parquet"):
        raise ParameterError(f"--format must be csv or parquet, got {format!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = out / f"{name}.{format}"
        if format == "csv":
            _write_csv(df, path, header=True)
        else:
            df.to_parquet(path, index=False)
        paths.append(path)
    if "severity" in tables.get("households", pd.DataFrame()).columns:
        paths.append(write_declarations(out))
    return paths


# --------------------------------------------------------------------------- accounting


def monitor_figures(tables: dict[str, pd.DataFrame], reference_date, study_start="2023-01-01") -> dict:
    """The quarterly monitor, all sites together, by the definitions in docs/definitions.md.

    A small independent implementation used to check the calibration; the workbench's
    indicators live in :mod:`cohort.indicators`.

    Examples
    --------
    >>> f = monitor_figures(generate().tables, "2024-12-31")
    >>> f["households_involved"], f["households_active"], f["legal_measures"]
    (1653, 1185, 199)
    """
    d = pd.Timestamp(reference_date)
    s = pd.Timestamp(study_start)
    q_start = d.to_period("Q").start_time
    ep = tables["episodes"]
    reg, close = ep["registration_date"], ep["closure_date"]
    in_study = (reg <= d) & (close.isna() | (close >= s))
    active = (reg <= d) & (close.isna() | (close > d))
    involved = ep.loc[in_study, "household_id"].nunique()
    n_active = ep.loc[active, "household_id"].nunique()
    in_q = (reg >= q_start) & (reg <= d)
    childless = ep["household_id"].map(
        tables["households"].set_index("household_id")["has_children"].eq(False)
    ).fillna(False).astype(bool)
    lm = tables["legal_measures"]["start_date"]
    return {
        "households_involved": int(involved),
        "households_active": int(n_active),
        "ended_since_start": int(involved - n_active),
        "registrations": int(in_q.sum()),
        "registrations_without_children": int((in_q & childless).sum()),
        "legal_measures": int(((lm >= s) & (lm <= d)).sum()),
    }



# --------------------------------------------------------------------------- faults

#: Where :func:`cohort.synth.write.synthesize` lists the planted faults (a dot file: delivery readers skip it).
FAULTS_FILE = ".faults.csv"

#: The faults :func:`plant_faults` plants: (table, column, rule of cohort.delivery.validate,
#: what).
FAULTS = (
    ("episodes", "closure_date", "closure_not_before_registration", "closure date a week before registration"),
    ("episodes", "rvt_end_date", "rvt_end_not_before_rvt_start", "RVT end before RVT start"),
    ("episodes", "site", "unknown_reference", "site code that is not in sites (typo)"),
    ("episodes", "site", "site_mismatch", "episode site differs from the household's site"),
    ("episodes", "registration_date", "overlapping_episodes", "second episode registered while the first is open"),
    ("households", "has_children", "invalid_boolean", "has_children is not a yes/no value"),
    ("legal_measures", "measure_id", "duplicate_id", "two measures share one measure_id"),
    ("legal_measures", "measure_type", "allowed_values", "misspelled measure type"),
    ("legal_measures", "start_date", "invalid_date", "start date that does not exist (30 February)"),
    ("legal_measures", "start_date", "outside_episode", "measure starts 200 days after its episode closed"),
    ("legal_measures", "end_date", "end_not_before_start", "end date before start date"),
    ("safety_assessments", "score", "out_of_range", "score above 10"),
    ("safety_assessments", "score", "out_of_range", "score below 0"),
    ("safety_assessments", "score", "invalid_number", "score that is not a number"),
    ("safety_assessments", "respondent", "missing_value", "respondent left empty"),
    ("safety_assessments", "respondent", "allowed_values", "respondent in Dutch (ouder)"),
    ("safety_assessments", "assessment_date", "outside_episode", "assessment 100 days before its episode"),
    ("safety_assessments", "episode_id", "episode_household_mismatch", "assessment linked to another household's episode"),
    ("safety_assessments", "", "exact_duplicate", "the same row delivered twice"),
    ("referrals", "household_id", "unknown_reference", "referral of a household that is not in households"),
    ("referrals", "referral_date", "after_delivery_end", "referral dated after the site's delivery end"),
    ("referrals", "referral_date", "missing_value", "referral date left empty"),
    ("referrals", "referral_date", "implausible_date", "referral date in 1971"),
    ("referrals", "", "exact_duplicate", "the same row delivered twice"),
)


def _iso_day(ts) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d")


def plant_faults(tables: dict[str, pd.DataFrame], seed: int = DEFAULT_SEED) -> tuple[dict, pd.DataFrame]:
    """Plant the data-quality faults of :data:`FAULTS`, one of each, in clean tables.

    Faults are planted in the delivered text (some, like a date that does not exist,
    cannot be held in a typed table), so the tables come back as text frames ready to
    write. Each fault sits in a row of its own (and in a household of its own), chosen so
    it triggers its rule; a row rejected for a fault takes the rows that refer to it along
    (``rejected_reference``), as in a real delivery.

    Returns
    -------
    tables : dict of pandas.DataFrame
        Text frames (every cell a string, ``""`` for missing), rows in file order.
    manifest : pandas.DataFrame
        ``table, row, column, rule, description``; ``row`` is the row number as in the
        CSV file (header row 1, first data row 2), as :mod:`cohort.validate` reports it.
        A duplicate id lists both rows; an exact duplicate the second copy.

    Examples
    --------
    >>> d = generate(seed=4, households=1000, faults=True)
    >>> sorted(d.faults["rule"].unique())[:3]
    ['after_delivery_end', 'allowed_values', 'closure_not_before_registration']
    """
    rng = np.random.default_rng([seed, 7919])
    typed = tables
    text = {name: _format_frame(df).astype(object) for name, df in tables.items()}
    for df in text.values():
        df["_fault"] = ""
    faults = list(FAULTS)
    ep, hh = typed["episodes"], typed["households"]
    ma, sa, rf = typed["legal_measures"], typed["safety_assessments"], typed["referrals"]
    site_end = typed["sites"].set_index("site")["delivery_end"]
    n_ep_hh = ep.groupby("household_id")["episode_id"].transform("size")
    used_ep: set = set()
    used_hh: set = set()

    def mark(name, pos, k):
        cur = text[name].at[pos, "_fault"]
        text[name].at[pos, "_fault"] = f"{cur};{k}" if cur else str(k)

    def pick(mask: pd.Series, what: str) -> int:
        pos = np.flatnonzero(mask.to_numpy(dtype=bool))
        if pos.size == 0:
            raise ParameterError(f"the delivery is too small to plant a fault ({what}); use more households")
        return int(pos[rng.integers(pos.size)])

    def free_episode(extra=True) -> int:
        m = (
            (n_ep_hh == 1)
            & ep["closure_date"].notna()
            & (ep["registration_date"] >= pd.Timestamp("2023-06-01"))
            & ~ep["episode_id"].isin(used_ep)
            & ~ep["household_id"].isin(used_hh)
            & extra
        )
        p = pick(m, "episode")
        used_ep.add(ep.at[p, "episode_id"])
        used_hh.add(ep.at[p, "household_id"])
        return p

    te, th, tm, ts, tr = (text[n] for n in ("episodes", "households", "legal_measures", "safety_assessments", "referrals"))
    extra_rows: dict[str, list] = {n: [] for n in text}
    for k, (table, _column, rule, what) in enumerate(faults):
        if table == "episodes":
            if rule == "closure_not_before_registration":
                p = free_episode()
                te.at[p, "closure_date"] = _iso_day(ep.at[p, "registration_date"] - pd.Timedelta(days=7))
                te.at[p, "rvt_start_date"] = ""
                te.at[p, "rvt_end_date"] = ""
            elif rule == "rvt_end_not_before_rvt_start":
                p = free_episode(ep["rvt_start_date"].notna() & ep["rvt_end_date"].notna())
                te.at[p, "rvt_end_date"] = _iso_day(ep.at[p, "rvt_start_date"] - pd.Timedelta(days=5))
            elif rule == "unknown_reference":
                p = free_episode()
                te.at[p, "site"] = str(ep.at[p, "site"])[:2] + "X"
            elif rule == "site_mismatch":
                p = free_episode(ep["site"] != _STOPPING_SITE)
                te.at[p, "site"] = "UTR" if ep.at[p, "site"] != "UTR" else "AMS"
            elif rule == "overlapping_episodes":
                dur = ep["closure_date"] - ep["registration_date"]
                p = free_episode(dur > pd.Timedelta(days=120))
                row = te.loc[p].copy()
                reg = ep.at[p, "registration_date"]
                row["episode_id"] = f"SYN-E{'9' * _ID_WIDTH}"
                row["registration_date"] = _iso_day(reg + pd.Timedelta(days=60))
                row["closure_date"] = _iso_day(reg + pd.Timedelta(days=91))
                row["closure_reason"] = "other"
                row["rvt_start_date"] = ""
                row["rvt_end_date"] = ""
                row["_fault"] = str(k)
                extra_rows["episodes"].append((p, row))
                continue
            mark("episodes", p, k)
        elif table == "households":
            p_ep = free_episode()
            p = int(np.flatnonzero((hh["household_id"] == ep.at[p_ep, "household_id"]).to_numpy())[0])
            th.at[p, "has_children"] = "misschien"
            mark("households", p, k)
        elif table == "legal_measures":
            base = ~ma["episode_id"].isin(used_ep) & ~ma["household_id"].isin(used_hh)
            if rule == "duplicate_id":
                p = pick(base, "measure")
                used_ep.add(ma.at[p, "episode_id"])
                q = pick(~ma["episode_id"].isin(used_ep) & ~ma["household_id"].isin(used_hh), "measure")
                used_ep.add(ma.at[q, "episode_id"])
                tm.at[q, "measure_id"] = tm.at[p, "measure_id"]
                mark("legal_measures", p, k)
                mark("legal_measures", q, k)
                continue
            if rule == "outside_episode":
                close = ma["episode_id"].map(ep.set_index("episode_id")["closure_date"])
                end = ma["household_id"].map(hh.set_index("household_id")["site"]).map(site_end)
                p = pick(base & (close + pd.Timedelta(days=200) <= end), "measure after its episode")
                tm.at[p, "start_date"] = _iso_day(close.iloc[p] + pd.Timedelta(days=200))
                tm.at[p, "end_date"] = ""
            elif rule == "end_not_before_start":
                p = pick(base, "measure")
                tm.at[p, "end_date"] = _iso_day(ma.at[p, "start_date"] - pd.Timedelta(days=3))
            else:
                p = pick(base, "measure")
                if rule == "allowed_values":
                    tm.at[p, "measure_type"] = "supervison_order"
                else:  # invalid_date
                    tm.at[p, "start_date"] = "2024-02-30"
            used_ep.add(ma.at[p, "episode_id"])
            mark("legal_measures", p, k)
        elif table == "safety_assessments":
            base = ~sa["episode_id"].isin(used_ep) & ~sa["household_id"].isin(used_hh)
            if rule == "exact_duplicate":
                p = pick(base, "assessment")
                row = ts.loc[p].copy()
                row["_fault"] = str(k)
                extra_rows["safety_assessments"].append((p, row))
                used_ep.add(sa.at[p, "episode_id"])
                continue
            if rule == "outside_episode":
                reg = sa["episode_id"].map(ep.set_index("episode_id")["registration_date"])
                p = pick(base & (reg >= pd.Timestamp("2023-06-01")), "assessment")
                ts.at[p, "assessment_date"] = _iso_day(reg.iloc[p] - pd.Timedelta(days=100))
            elif rule == "episode_household_mismatch":
                p = pick(base, "assessment")
                d = sa.at[p, "assessment_date"]
                other = pick(
                    (ep["household_id"] != sa.at[p, "household_id"])
                    & (ep["registration_date"] <= d)
                    & (ep["closure_date"].isna() | (ep["closure_date"] >= d)),
                    "episode of another household",
                )
                ts.at[p, "episode_id"] = ep.at[other, "episode_id"]
            else:
                p = pick(base, "assessment")
                if rule == "out_of_range":
                    ts.at[p, "score"] = "11.0" if "above" in what else "-1.0"
                elif rule == "invalid_number":
                    ts.at[p, "score"] = "n.v.t."
                elif rule == "missing_value":
                    ts.at[p, "respondent"] = ""
                else:  # allowed_values
                    ts.at[p, "respondent"] = "ouder"
            used_ep.add(sa.at[p, "episode_id"])
            mark("safety_assessments", p, k)
        else:  # referrals
            base = ~rf["household_id"].isin(used_hh)
            if rule == "exact_duplicate":
                p = pick(base, "referral")
                row = tr.loc[p].copy()
                row["_fault"] = str(k)
                extra_rows["referrals"].append((p, row))
                continue
            if rule == "after_delivery_end":
                site = rf["household_id"].map(hh.set_index("household_id")["site"])
                p = pick(base & (site == _STOPPING_SITE), "referral at the stopping site")
                tr.at[p, "referral_date"] = _iso_day(site_end[_STOPPING_SITE] + pd.Timedelta(days=73))
            else:
                p = pick(base, "referral")
                if rule == "unknown_reference":
                    tr.at[p, "household_id"] = f"SYN-H{'9' * _ID_WIDTH}"
                elif rule == "missing_value":
                    tr.at[p, "referral_date"] = ""
                else:  # implausible_date
                    tr.at[p, "referral_date"] = "1971-01-01"
            mark("referrals", p, k)
    # insert the extra rows right after the row they copy or overlap
    for name, extras in extra_rows.items():
        if not extras:
            continue
        df = text[name]
        order = np.arange(len(df), dtype=float)
        add = pd.DataFrame([r for _, r in extras])
        add_order = np.array([p + 0.5 for p, _ in extras])
        df = pd.concat([df, add], ignore_index=True)
        df["_o"] = np.concatenate([order, add_order])
        text[name] = df.sort_values("_o", kind="stable", ignore_index=True).drop(columns="_o")
    rows = []
    for name, df in text.items():
        has = df["_fault"] != ""
        for pos, codes in zip(np.flatnonzero(has.to_numpy()), df.loc[has, "_fault"], strict=True):
            for code in codes.split(";"):
                table, column, rule, what = faults[int(code)]
                rows.append((table, int(pos) + 2, column, rule, what))
        text[name] = df.drop(columns="_fault")
    manifest = pd.DataFrame(rows, columns=_FAULT_COLUMNS).sort_values(
        ["table", "row", "rule"], ignore_index=True
    )
    return text, manifest
