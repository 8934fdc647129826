"""Synthetic deliveries of the comparison design: staggered pilot starts and comparison regions.

The default delivery (:mod:`cohort.synth.generate`) holds pilot sites only and reproduces the
published monitor; it cannot show an effect. This design adds what an effect analysis
needs, drawn from the same household model (``MODEL``, ``TRUE_EFFECTS``) with the true
effects of the new way of working of :data:`cohort.synth.generate.TRUE_PILOT_EFFECTS`:

* 11 **pilot sites** that start the new way on different dates (``pilot_start``, from
  2023Q1 to 2025Q1: staggered adoption) and deliver data from 1 January 2022, so every
  pilot site has quarters in regular care before its start;
* 8 **comparison sites** (regions in regular care, ``arm`` ``comparison``) delivering over
  the same period;
* **confounding by case mix**: once a site works the new way it takes on extra severe and
  acute cases (:data:`~cohort.synth.generate.TRUE_PILOT_EFFECTS` ``case_mix``), so pilot
  households are more often of high severity, have more prior reports and more often no
  children. Outcomes depend on those covariates, so a naive comparison of pilot and
  comparison households is biased;
* the **true effects** of being served the new way (an episode registered at a pilot site on
  or after its ``pilot_start``): on the re-registration hazard after the episode's closure,
  on the hazard of a first compulsory legal measure during the episode, and on the slope
  of the safety score.

Regions differ in size only: no region has outcomes or a case mix of its own beyond the
pilot's, and nothing trends over calendar time, so the assumptions of the weighted
analyses (no unmeasured confounding given severity, prior reports and children; censoring
independent of the outcome within an arm) and of the difference-in-differences (parallel
trends) hold by construction. ``docs/synthetic-data.md`` ("The comparison design") states
the model; :func:`true_risks` computes the true counterfactual risks an analysis should
recover.

Examples
--------
>>> d = generate_comparison(seed=1, households=2_000)
>>> d.sites["arm"].value_counts().to_dict()
{'pilot': 11, 'comparison': 8}
>>> bool(d.households["household_id"].str.startswith("SYN-H").all())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cohort.delivery.schema import TABLES
from cohort.synth import generate as _g
from cohort.synth.generate import (
    _CHUNK_HOUSEHOLDS,
    _MEASURE_P_HIGH,
    _MEASURE_P_LOW,
    _MOVED_CODE,
    _NA,
    _NOT_MOVED_CODES,
    _REASON_P_HIGH,
    _REASON_P_LOW,
    _REFERRAL_SOURCE_P,
    MODEL,
    TRUE_EFFECTS,
    TRUE_PILOT_EFFECTS,
    SyntheticDelivery,
    _choice,
    _choice_rows,
    _dates,
    _day,
    _expit,
    _weekday_forward,
)

__all__ = [
    "COMPARISON_SEED",
    "COMPARISON_SITES",
    "DEFAULT_COMPARISON_HOUSEHOLDS",
    "ComparisonSite",
    "generate_comparison",
    "iter_chunks",
    "sites_frame",
    "true_risks",
]

#: Seed of the bundled comparison delivery (``data/synthetic/comparison/``).
COMPARISON_SEED = 16

#: Households of the bundled comparison delivery (a plain draw, not calibrated).
DEFAULT_COMPARISON_HOUSEHOLDS = 8_000

DATA_START = _day("2022-01-01")
DATA_END = _g.DATA_END
_GEN_HORIZON = DATA_END + 400

#: Quarter starts 2022Q1 .. 2026Q4; intake runs over the 19 quarters 2022Q1 .. 2026Q3.
_QUARTER_STARTS = np.array(
    [_day(f"{y}-{m:02d}-01") for y in range(2022, 2027) for m in (1, 4, 7, 10)]
)
_N_QUARTERS = len(_QUARTER_STARTS) - 1


@dataclass(frozen=True)
class ComparisonSite:
    code: str
    name: str
    arm: str  # pilot or comparison
    weight: float  # relative intake in regular care
    pilot_start: str | None = None


#: The sites of the comparison design: 11 pilot regions with staggered starts (quarter
#: starts from 2023Q1 to 2025Q1) and 8 comparison regions in regular care.
COMPARISON_SITES = (
    ComparisonSite("AMS", "Amsterdam-Amstelland", "pilot", 0.10, "2023-01-01"),
    ComparisonSite("RRN", "Rotterdam-Rijnmond", "pilot", 0.09, "2023-01-01"),
    ComparisonSite("UTR", "Utrecht", "pilot", 0.07, "2023-04-01"),
    ComparisonSite("HGL", "Haaglanden", "pilot", 0.06, "2023-04-01"),
    ComparisonSite("FVL", "FoodValley", "pilot", 0.04, "2023-07-01"),
    ComparisonSite("ZEE", "Zeeland", "pilot", 0.04, "2023-10-01"),
    ComparisonSite("WBW", "West-Brabant West", "pilot", 0.04, "2024-01-01"),
    ComparisonSite("HVB", "Hart van Brabant", "pilot", 0.05, "2024-01-01"),
    ComparisonSite("FLE", "Flevoland", "pilot", 0.04, "2024-04-01"),
    ComparisonSite("ZWL", "Zaanstreek-Waterland", "pilot", 0.03, "2024-07-01"),
    ComparisonSite("GLZ", "Gelderland-Zuid", "pilot", 0.04, "2025-01-01"),
    ComparisonSite("NHN", "Noord-Holland-Noord", "comparison", 0.06),
    ComparisonSite("KEN", "Kennemerland", "comparison", 0.05),
    ComparisonSite("TWE", "Twente", "comparison", 0.06),
    ComparisonSite("IJS", "IJsselland", "comparison", 0.05),
    ComparisonSite("LNO", "Limburg-Noord", "comparison", 0.04),
    ComparisonSite("ZLB", "Zuid-Limburg", "comparison", 0.05),
    ComparisonSite("DRE", "Drenthe", "comparison", 0.04),
    ComparisonSite("BZO", "Brabant-Zuidoost", "comparison", 0.05),
)

_CODES = np.array([s.code for s in COMPARISON_SITES])
_WEIGHT = np.array([s.weight for s in COMPARISON_SITES])
_IS_PILOT = np.array([s.arm == "pilot" for s in COMPARISON_SITES])
_START = np.array(
    [_day(s.pilot_start) if s.pilot_start else np.iinfo(np.int64).max for s in COMPARISON_SITES],
    dtype=np.int64,
)

_P = TRUE_PILOT_EFFECTS
_RR = TRUE_EFFECTS["reregistration_loghr"]
_SAF = TRUE_EFFECTS["safety"]
_MEAS = _P["measure_loghr"]
_MB = _P["measure_baseline"]
_MIX = _P["case_mix"]


def _treated(site: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Served the new way: registered at a pilot site on or after its ``pilot_start``."""
    return _IS_PILOT[site] & (day >= _START[site])


# --------------------------------------------------------------------------- households


def _intake(rng, n: int):
    """Site and registration day of ``n`` first registrations.

    Cells are (site, quarter); a pilot site's quarters from its start carry the extra intake
    of the new way (``pilot_intake_ratio``). Days are uniform weekdays within the quarter.
    """
    post = _IS_PILOT[:, None] & (_QUARTER_STARTS[None, :-1] >= _START[:, None])
    w = _WEIGHT[:, None] * np.where(post, _P["intake"]["pilot_intake_ratio"], 1.0)
    p = (w / w.sum()).ravel()
    counts = rng.multinomial(n, p)
    cell = np.repeat(np.arange(p.size), counts)
    site, quarter = np.divmod(cell, _N_QUARTERS)
    # weekdays of every quarter, concatenated, with each quarter's offset and length
    days = np.arange(_QUARTER_STARTS[0], _QUARTER_STARTS[-1])
    days = days[(days + 3) % 7 < 5]
    first = np.searchsorted(days, _QUARTER_STARTS[:-1])
    length = np.diff(np.r_[first, days.size])
    reg = days[first[quarter] + np.floor(rng.random(cell.size) * length[quarter]).astype(np.int64)]
    return site.astype(np.int64), reg.astype(np.int64)


def _draw_households(rng, site: np.ndarray, reg: np.ndarray) -> dict:
    n = site.size
    m = MODEL
    treated = _treated(site, reg)
    ratio = _P["intake"]["pilot_intake_ratio"]
    # the extra intake of the new way: severe and acute cases
    acute = treated & (rng.random(n) < (ratio - 1.0) / ratio)
    p_childless = _expit(m["childless_logit_intercept"] + _MIX["acute_childless_logodds"] * acute)
    childless = rng.random(n) < p_childless
    n_children = np.where(
        childless, 0, 1 + np.minimum(rng.poisson(m["children_extra_poisson_mean"], n), 7)
    )
    u = rng.random(n)
    n_adults = 1 + (u < m["second_adult_prob"]) + (u < m["third_adult_prob"])
    z = rng.normal(_MIX["acute_severity_shift"] * acute, 1.0)
    high = z + rng.normal(0.0, m["severity_proxy_noise_sd"], n) > m["severity_high_threshold"]
    prior = np.minimum(
        rng.poisson(np.exp(m["prior_reports_log_mean"] + m["prior_reports_log_per_z"] * z)), 12
    )
    lin_rr = _RR["no_children"] * childless + _RR["severity_high"] * high + _RR["prior_reports"] * prior
    lin_m = (
        _MEAS["no_children"] * childless
        + _MEAS["severity_high"] * high
        + _MEAS["prior_reports"] * prior
    )
    return {
        "reg1": reg,
        "site": site,
        "childless": childless,
        "n_children": n_children.astype(np.int64),
        "n_adults": n_adults.astype(np.int64),
        "high": high,
        "prior": prior.astype(np.int64),
        "lin_rr": lin_rr,
        "lin_m": lin_m,
        "b0": rng.normal(0.0, _SAF["random_intercept_sd"], n),
        "b1": rng.normal(0.0, _SAF["random_slope_sd"], n),
    }


# --------------------------------------------------------------------------- histories


def _simulate_histories(rng, hh: dict):
    """Episodes and re-registrations, generation by generation (vectorised per generation).

    As the default model, except that an episode served the new way lowers the hazard of
    re-registration after its closure (``reregistration_loghr["pilot"]``) and that episode
    durations do not depend on severity (see the module docstring).
    """
    m = MODEL
    n = hh["reg1"].size
    ep_parts, rr_parts = [], []
    move = np.full(n, _NA, np.int64)
    idx = np.arange(n)
    reg = hh["reg1"].copy()
    src = _choice(rng, _REFERRAL_SOURCE_P, n)
    k = 0
    while idx.size:
        high = hh["high"][idx]
        treated = _treated(hh["site"][idx], reg)
        scale = m["duration_scale_days"] * (m["duration_later_episode_factor"] if k else 1.0)
        dur = np.maximum(
            np.rint(scale * rng.weibull(m["duration_shape"], idx.size)), m["duration_min_days"]
        )
        close = _weekday_forward(reg + dur.astype(np.int64))
        mv = reg + np.ceil(
            rng.exponential(365.25 / m["move_rate_open_per_year"], idx.size)
        ).astype(np.int64)
        moved = mv < close
        close = np.where(moved, _weekday_forward(mv), close)
        p = np.where(high[:, None], _REASON_P_HIGH[None, :], _REASON_P_LOW[None, :])
        reason = np.where(moved, _MOVED_CODE, _NOT_MOVED_CODES[_choice_rows(rng, p)])
        ep_parts.append(
            {"hh": idx, "k": np.full(idx.size, k), "reg": reg, "close": close, "reason": reason,
             "src": src, "treated": treated}
        )
        move[idx[moved]] = close[moved]
        go = ~moved & (close <= _GEN_HORIZON)
        a_idx, t = idx[go], close[go]
        a_lin = hh["lin_rr"][a_idx] + _P["reregistration_loghr"]["pilot"] * treated[go]
        a_move = t + np.ceil(
            rng.exponential(365.25 / m["move_rate_after_per_year"], a_idx.size)
        ).astype(np.int64)
        next_idx, next_reg, next_src = [], [], []
        while a_idx.size:
            e = rng.exponential(1.0, a_idx.size)
            gap = m["reregistration_scale_days"] * (e / np.exp(a_lin)) ** (
                1.0 / m["reregistration_shape"]
            )
            ev = t + np.maximum(1, np.ceil(np.minimum(gap, 1e6))).astype(np.int64)
            moved_first = a_move <= ev
            move[a_idx[moved_first]] = a_move[moved_first]
            cont = ~moved_first & (ev <= _GEN_HORIZON)
            a_idx, t, a_move, ev, a_lin = a_idx[cont], t[cont], a_move[cont], ev[cont], a_lin[cont]
            s = _choice(rng, _REFERRAL_SOURCE_P, a_idx.size)
            rr_parts.append({"hh": a_idx, "date": ev, "src": s})
            p_ep = np.where(
                hh["high"][a_idx],
                m["reregistration_episode_prob_high"],
                m["reregistration_episode_prob_low"],
            )
            becomes = rng.random(a_idx.size) < p_ep
            lag = rng.integers(0, 15, a_idx.size)
            next_idx.append(a_idx[becomes])
            next_reg.append(_weekday_forward(ev[becomes] + lag[becomes]))
            next_src.append(s[becomes])
            # a re-registration without a new episode: at risk again, from the report on
            keep = ~becomes
            a_idx, t, a_move, a_lin = a_idx[keep], ev[keep], a_move[keep], a_lin[keep]
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
        rr = {key: np.zeros(0, np.int64) for key in ("hh", "date", "src")}
    return ep, rr, move


# --------------------------------------------------------------------------- child tables


def _draw_measures(rng, hh: dict, ep: dict) -> dict:
    """First compulsory measure of an episode: Weibull proportional hazards from the
    registration, ended by the closure (a measure later belongs to a later episode)."""
    n_ep = ep["reg"].size
    lin = hh["lin_m"][ep["hh"]] + _MEAS["pilot"] * ep["treated"]
    e = rng.exponential(1.0, n_ep)
    t = _MB["scale_days"] * (e / np.exp(lin)) ** (1.0 / _MB["shape"])
    dur = ep["close"] - ep["reg"]
    has = t <= dur
    which = np.flatnonzero(has)
    start = ep["reg"][which] + np.floor(t[which]).astype(np.int64)
    second = rng.random(which.size) < MODEL["measure_second_prob"]
    start2 = start + np.ceil(rng.exponential(90.0, which.size)).astype(np.int64)
    second &= start2 <= ep["close"][which]
    e_idx = np.concatenate([which, which[second]])
    start = np.concatenate([start, start2[second]])
    high = hh["high"][ep["hh"][e_idx]]
    p = np.where(high[:, None], _MEASURE_P_HIGH[None, :], _MEASURE_P_LOW[None, :])
    typ = _choice_rows(rng, p)
    u = rng.random(e_idx.size)
    end = np.select(
        [typ == 0, typ == 1, typ == 2, typ == 3],
        [
            np.where(u < 0.7, start + 365, _NA),
            np.full(e_idx.size, _NA),
            start + np.where(u < 0.6, 10, 28),
            start + 90 + np.floor(u * 276).astype(np.int64),
        ],
        start + 365 + np.floor(u * 366).astype(np.int64),
    )
    return {"ep": e_idx, "type": typ, "start": start, "end": end}


# --------------------------------------------------------------------------- assembling


def _chunk(rng, n: int, offsets: dict) -> dict[str, pd.DataFrame]:
    site, reg = _intake(rng, n)
    hh = _draw_households(rng, site, reg)
    ep, rr, move = _simulate_histories(rng, hh)
    meas = _draw_measures(rng, hh, ep)
    # an episode served the new way has a steeper slope (``safety["pilot_slope_per_month"]``)
    ass = _g.draw_assessments(rng, hh, ep, _P["safety"]["pilot_slope_per_month"] * ep["treated"])
    ref = _g.draw_referrals(rng, ep, rr, DATA_START)
    rvt = _g.draw_rvt(rng, ep)
    # cut at the data end: nothing later is delivered, a later closure is still open
    end = DATA_END
    keep = ep["reg"] <= end
    closed = ep["close"] <= end
    new_index = np.cumsum(keep) - 1
    rvt_start = np.where((rvt[0] != _NA) & (rvt[0] <= end), rvt[0], _NA)
    episodes = {
        "hh": ep["hh"][keep],
        "reg": ep["reg"][keep],
        "close": np.where(closed, ep["close"], _NA)[keep],
        "reason": np.where(closed, ep["reason"], -1)[keep],
        "src": ep["src"][keep],
        "rvt_start": rvt_start[keep],
        "rvt_end": np.where(closed & (rvt_start != _NA), rvt[1], _NA)[keep],
    }
    mk = keep[meas["ep"]] & (meas["start"] <= end)
    measures = {
        "ep": new_index[meas["ep"][mk]],
        "type": meas["type"][mk],
        "start": meas["start"][mk],
        "end": np.where((meas["end"][mk] != _NA) & (meas["end"][mk] <= end), meas["end"][mk], _NA),
    }
    ak = keep[ass["ep"]] & (ass["date"] <= end)
    assessments = {k: v[ak] for k, v in ass.items()}
    assessments["ep"] = new_index[assessments["ep"]]
    rk = ref["date"] <= end
    referrals = {k: v[rk] for k, v in ref.items()}
    households = dict(hh)
    households["move"] = np.where((move != _NA) & (move <= end), move, _NA)
    raw = {
        "households": households,
        "episodes": episodes,
        "measures": measures,
        "assessments": assessments,
        "referrals": referrals,
    }
    return _g._frames(raw, rng, offsets, site_codes=_CODES)


def sites_frame() -> pd.DataFrame:
    """The ``sites`` table of the comparison design (sorted by site code)."""
    return pd.DataFrame(
        {
            "site": pd.Series(_CODES, dtype="string"),
            "name": pd.Series([s.name for s in COMPARISON_SITES], dtype="string"),
            "delivery_start": _dates(np.full(_CODES.size, DATA_START)),
            "delivery_end": _dates(np.full(_CODES.size, DATA_END)),
            "arm": pd.Series([s.arm for s in COMPARISON_SITES], dtype="string"),
            "pilot_start": _dates(np.where(_IS_PILOT, _START, _NA)),
        }
    ).sort_values("site", ignore_index=True)


def iter_chunks(seed: int, households: int | None):
    """Yield the tables (without ``sites``) chunk by chunk, 50,000 households at a time."""
    n = DEFAULT_COMPARISON_HOUSEHOLDS if households is None else int(households)
    offsets = dict.fromkeys(
        ("households", "episodes", "legal_measures", "safety_assessments", "referrals"), 0
    )
    n_chunks = -(-n // _CHUNK_HOUSEHOLDS)
    for c in range(n_chunks):
        n_c = min(_CHUNK_HOUSEHOLDS, n - c * _CHUNK_HOUSEHOLDS)
        # its own stream, apart from the default design's ([seed, chunk]) streams
        rng = np.random.default_rng([seed, c, 16])
        frames = _chunk(rng, n_c, offsets)
        for name, df in frames.items():
            offsets[name] += len(df)
        yield frames


def generate_comparison(
    seed: int = COMPARISON_SEED, households: int | None = None
) -> SyntheticDelivery:
    """A comparison-design delivery in memory (``households=None``: the bundled size).

    Raises
    ------
    cohort.exceptions.ParameterError
        If ``households`` is not a positive whole number or ``seed`` is negative.
    """
    _g._check_households(households, seed)
    parts = list(iter_chunks(seed, households))
    tables = {"sites": sites_frame()}
    for name in parts[0]:
        tables[name] = (
            pd.concat([p[name] for p in parts], ignore_index=True) if len(parts) > 1 else parts[0][name]
        )
    tables = {name: tables[name] for name in TABLES}
    faults = pd.DataFrame(columns=_g._FAULT_COLUMNS)
    return SyntheticDelivery(tables, faults, {}, seed, households)


# --------------------------------------------------------------------------- the truth


def _weibull_cum(t, shape, scale):
    return (np.asarray(t, dtype=float) / scale) ** shape


def true_risks(trial: pd.DataFrame, outcome: str, months=(6, 12, 24), step_days: float = 0.25):
    """The true counterfactual risks of ``outcome`` in a trial population, per arm.

    For every household of ``trial`` (a table of :mod:`cohort.definitions.target_trial`,
    with ``severity``, ``prior_reports``, ``has_children`` and ``prior_episodes``) the
    cumulative incidence of the
    outcome at ``months`` is computed from the generating model twice, as if served the new
    way and as if in regular care, in the absence of administrative censoring; the averages
    over the trial population are the risks the weighted analyses estimate (average
    treatment effect). Numerical integration on a grid of ``step_days``.

    ``outcome``: ``"reregistration"`` (from the closure; moving out competes) or
    ``"legal_measure"`` (from the registration; the end of the episode, by closure or
    moving, competes).

    Returns
    -------
    DataFrame with ``months, risk_pilot, risk_comparison, risk_difference``.
    """
    days = np.asarray(months, dtype=float) * 30.4375
    grid = np.arange(0.0, days.max() + step_days, step_days)
    m = MODEL
    childless = ~trial["has_children"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    high = (trial["severity"].astype("string") == "high").fillna(False).to_numpy(dtype=bool)
    prior = trial["prior_reports"].to_numpy(dtype=float)
    # a later episode of a household is shorter (the default model's factor 0.8)
    later = (trial["prior_episodes"].to_numpy() > 0) if "prior_episodes" in trial.columns else np.zeros(len(trial), bool)
    patterns, counts = np.unique(np.c_[childless, high, prior, later], axis=0, return_counts=True)
    c, h, p, k = patterns[:, 0], patterns[:, 1], patterns[:, 2], patterns[:, 3]
    if outcome == "reregistration":
        lin = _RR["no_children"] * c + _RR["severity_high"] * h + _RR["prior_reports"] * p
        effect = _P["reregistration_loghr"]["pilot"]
        shape, scale = m["reregistration_shape"], m["reregistration_scale_days"]
        competing = np.broadcast_to(m["move_rate_after_per_year"] / 365.25 * grid, (len(lin), len(grid)))
    elif outcome == "legal_measure":
        lin = _MEAS["no_children"] * c + _MEAS["severity_high"] * h + _MEAS["prior_reports"] * p
        effect = _MEAS["pilot"]
        shape, scale = _MB["shape"], _MB["scale_days"]
        dur_scale = m["duration_scale_days"] * np.where(k > 0, m["duration_later_episode_factor"], 1.0)
        dur = np.where(
            grid[None, :] < m["duration_min_days"], 0.0,
            _weibull_cum(grid[None, :], m["duration_shape"], dur_scale[:, None]),
        )
        competing = dur + m["move_rate_open_per_year"] / 365.25 * grid[None, :]
    else:
        raise ValueError(f"unknown outcome {outcome!r}")  # a programming error
    H0 = _weibull_cum(grid, shape, scale)
    out = {}
    for arm, a in (("pilot", 1.0), ("comparison", 0.0)):
        H1 = H0[None, :] * np.exp(lin + effect * a)[:, None]
        surv = np.exp(-H1 - competing)
        # F1(t) = sum of S(u-) dH1(u): trapezoid on the grid
        dH = np.diff(H1, axis=1)
        s_mid = 0.5 * (surv[:, 1:] + surv[:, :-1])
        F = np.c_[np.zeros(len(lin)), np.cumsum(dH * s_mid, axis=1)]
        at = F[:, np.searchsorted(grid, days)]
        out[arm] = (counts[:, None] * at).sum(axis=0) / counts.sum()
    frame = pd.DataFrame(
        {"months": list(months), "risk_pilot": out["pilot"], "risk_comparison": out["comparison"]}
    )
    frame["risk_difference"] = frame["risk_pilot"] - frame["risk_comparison"]
    return frame



def true_marginal_hazard_ratio(trial: pd.DataFrame, outcome: str, replicates: int = 10,
                               seed: int = 0) -> float:
    """The true marginal hazard ratio of ``outcome`` in a trial population (new way vs
    regular care), which a weighted Cox model with the arm alone estimates.

    A conditional hazard ratio (0.80, 0.70) is not the marginal one: the hazard ratio is not
    collapsible over the covariates. Here every household of ``trial`` is followed
    ``replicates`` times under both ways of working with common random numbers, from the
    generating model, censored at the trial's reference date as in the data (competing
    events censor, as in a cause-specific Cox model); the Cox model on the arm of these
    counterfactual rows gives the hazard ratio of the trial population.
    """
    from cohort.stats.weighted_cox import WeightedCoxPH

    rng = np.random.default_rng([seed, 16, 1])
    m = MODEL
    n = len(trial)
    childless = ~trial["has_children"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    high = (trial["severity"].astype("string") == "high").fillna(False).to_numpy(dtype=bool)
    prior = trial["prior_reports"].to_numpy(dtype=float)
    later = trial["prior_episodes"].to_numpy() > 0
    reference = pd.Timestamp(trial.attrs["trial"]["reference_date"])
    admin = ((reference - pd.to_datetime(trial["time_zero"])) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    rows = []
    for _ in range(replicates):  # Monte Carlo replicates of the whole population
        e = rng.exponential(1.0, n)
        if outcome == "legal_measure":
            lin = _MEAS["no_children"] * childless + _MEAS["severity_high"] * high + _MEAS["prior_reports"] * prior
            effect, shape, scale = _MEAS["pilot"], _MB["shape"], _MB["scale_days"]
            dur_scale = m["duration_scale_days"] * np.where(later, m["duration_later_episode_factor"], 1.0)
            dur = np.maximum(np.rint(dur_scale * rng.weibull(m["duration_shape"], n)), m["duration_min_days"])
            move = rng.exponential(365.25 / m["move_rate_open_per_year"], n)
            end = np.minimum(np.minimum(dur, move), admin)
        elif outcome == "reregistration":
            lin = _RR["no_children"] * childless + _RR["severity_high"] * high + _RR["prior_reports"] * prior
            effect = _P["reregistration_loghr"]["pilot"]
            shape, scale = m["reregistration_shape"], m["reregistration_scale_days"]
            end = np.minimum(rng.exponential(365.25 / m["move_rate_after_per_year"], n), admin)
        else:
            raise ValueError(f"unknown outcome {outcome!r}")  # a programming error
        for arm in (0.0, 1.0):
            t1 = scale * (e / np.exp(lin + effect * arm)) ** (1.0 / shape)
            rows.append(pd.DataFrame({"time": np.minimum(t1, end), "event": (t1 <= end).astype(int), "arm": arm}))
    data = pd.concat(rows, ignore_index=True)
    return float(np.exp(WeightedCoxPH(ties="breslow").fit(data, "time", "event", ["arm"]).params_["arm"]))
