"""What the synthetic generator implies for time to safety: the true distributions that a
time-to-safety analysis of a scaled delivery should recover.

The generator (:mod:`cohort.synth.generate`, ``docs/synthetic-data.md``) draws the score of
the professional at ``m`` months since registration as

    y = 4.6 - 1.3 [severity high] + b0 + (0.12 + b1) m + eps,
    b0 ~ N(0, 1), b1 ~ N(0, 0.04^2) per household, eps ~ N(0, 0.9^2) per assessment,

rounded to a whole point (so a score is at or above a whole threshold ``c`` exactly when
``y >= c - 0.5``), at waves T0, T1, T2, T3 planned 0, 6, 12 and 18 months after
registration (T0 0-14 days after it, the others within about 10 days of the plan).

Because every assessment carries its own noise ``eps``, the generator has no moment at
which a household "becomes safe": *direct safety* (the first assessment at or above the
threshold) is a property of the noisy scores and of the assessment schedule. What the
model does fix is, for a household assessed at every planned wave, the probability that
its first safe assessment comes by wave ``k``:

    P(direct by T_k) = 1 - E[ prod_{j <= k} (1 - p_j(b)) ],
    p_j(b) = P(y_j >= c - 0.5 | b0, b1),

and for *stable safety* (two consecutive safe waves; waves are six months apart, so every
pair spans the 90 days of the definition) the probability that the first such pair starts
by wave ``k``. Given the household's ``b0, b1`` the waves are independent, so both are
exact expectations over ``(b0, b1)``, computed by Gauss-Hermite quadrature; the jitter of
the wave dates enters exactly for T0 (uniform days) and as its normal approximation for
the later waves (effects on the probabilities below 1e-4). The distribution is a step
function: between the waves' windows (at 3, 9 and 15 months) Turnbull's NPMLE of the time
to safety estimates these probabilities, on households assessed at every wave up to the
end of their follow-up (a missed wave followed by an attended one changes the number of
chances to score high, see ``docs/methods-interval-censoring.md``).

The effect of severity is the difference between the two curves; the generator has no
hazard or time ratio, so an AFT or PH coefficient estimates a summary of that difference,
not a parameter. :func:`latent_time_to_safety` gives, for comparison, the time at which the
noise-free trajectory itself reaches the threshold: the observed first safe assessment
comes earlier, because a single noisy score can pass the threshold before the trajectory
does.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special, stats

from cohort.exceptions import ParameterError
from cohort.synth.generate import MODEL, TRUE_EFFECTS

#: Days per month used by the generator for the wave dates.
GENERATOR_DAYS_PER_MONTH = 30.4375

#: Times between the waves' windows (months) where the truth is read off a curve.
BETWEEN_WAVES_MONTHS = (3.0, 9.0, 15.0, 21.0)

_NODES = 60


def _cutoff(threshold) -> float:
    try:
        thr = float(threshold)
    except (TypeError, ValueError):
        raise ParameterError(f"threshold must be a number from 0 to 10, got {threshold!r}") from None
    if not 0 <= thr <= 10:
        raise ParameterError(f"threshold must be a number from 0 to 10, got {threshold!r}")
    # rint(y) >= thr  <=>  rint(y) >= ceil(thr)  <=>  y >= ceil(thr) - 0.5 (clipping to
    # [0, 10] does not matter for a threshold in (0, 10])
    return -np.inf if thr <= 0 else math.ceil(thr) - 0.5


def _mean(severity: str) -> float:
    saf = TRUE_EFFECTS["safety"]
    if severity not in ("high", "low"):
        raise ParameterError(f"severity must be 'high' or 'low', got {severity!r}")
    return saf["intercept"] + (saf["severity_high"] if severity == "high" else 0.0)


def _quadrature():
    """Gauss-Hermite nodes and weights for b0 ~ N(0, sd0^2) and b1 ~ N(0, sd1^2)."""
    x, w = special.roots_hermite(_NODES)
    z = np.sqrt(2.0) * x
    w = w / np.sqrt(np.pi)
    saf = TRUE_EFFECTS["safety"]
    b0 = saf["random_intercept_sd"] * z
    b1 = saf["random_slope_sd"] * z
    B0, B1 = np.meshgrid(b0, b1, indexing="ij")
    W = np.outer(w, w)
    return B0.ravel(), B1.ravel(), W.ravel()


def wave_safe_probability(threshold, severity, b0, b1) -> np.ndarray:
    """``p_j(b)``: the chance that the professional's score at planned wave ``j`` is at or
    above ``threshold``, given the household's random intercept and slope (one row per
    ``(b0, b1)``, one column per wave), averaged over the jitter of the wave date."""
    c = _cutoff(threshold)
    saf = TRUE_EFFECTS["safety"]
    waves = np.asarray(MODEL["safety_waves_months"], dtype=float)
    sd_eps = saf["residual_sd"]
    slope = saf["slope_per_month"] + np.asarray(b1, dtype=float)[:, None]
    level = _mean(severity) + np.asarray(b0, dtype=float)[:, None] - c
    out = np.empty((len(level), len(waves)))
    # T0: 0-14 days after registration, uniform
    t0 = np.arange(15) / GENERATOR_DAYS_PER_MONTH
    out[:, 0] = stats.norm.cdf((level + slope * t0[None, :]) / sd_eps).mean(axis=1)
    # later waves: planned date + N(0, 10 days): Phi of a normal mean is Phi of a wider one
    tau = MODEL["safety_wave_jitter_sd_days"] / GENERATOR_DAYS_PER_MONTH
    planned = np.rint(waves[1:] * GENERATOR_DAYS_PER_MONTH) / GENERATOR_DAYS_PER_MONTH
    out[:, 1:] = stats.norm.cdf((level + slope * planned[None, :])
                                / np.sqrt(sd_eps**2 + (slope * tau) ** 2))
    return out


def time_to_safety_truth(threshold=7, severity: str = "low", outcome: str = "direct") -> pd.DataFrame:
    """The true distribution of time to direct or stable safety for households assessed
    at every planned wave.

    Returns one row per wave ``k``: ``wave`` (``T0``...), ``months`` (planned),
    ``read_at_months`` (between that wave's window and the next, where a curve is read),
    ``probability`` (safe by wave ``k``). For stable safety the last wave has no
    confirming wave, so the table stops one wave earlier.

    Examples
    --------
    >>> t = time_to_safety_truth(7, "low", "direct")
    >>> t[["wave", "probability"]].round(3).values.tolist()
    [['T0', 0.082], ['T1', 0.23], ['T2', 0.442], ['T3', 0.653]]
    """
    if outcome not in ("direct", "stable"):
        raise ParameterError(f"outcome must be 'direct' or 'stable', got {outcome!r}")
    b0, b1, w = _quadrature()
    p = wave_safe_probability(threshold, severity, b0, b1)
    n_w = p.shape[1]
    if outcome == "direct":
        never = np.cumprod(1.0 - p, axis=1)  # no safe assessment up to wave k
        prob = 1.0 - w @ never
        waves = np.arange(n_w)
    else:
        # P(no two consecutive safe waves among 0..k+1): track whether the last was safe
        unsafe_last = 1.0 - p[:, 0]
        safe_last = p[:, 0]
        prob = []
        for j in range(1, n_w):  # waves, not households
            new_unsafe = (unsafe_last + safe_last) * (1.0 - p[:, j])
            new_safe = unsafe_last * p[:, j]
            unsafe_last, safe_last = new_unsafe, new_safe
            prob.append(1.0 - w @ (unsafe_last + safe_last))
        prob = np.asarray(prob)
        waves = np.arange(n_w - 1)
    planned = np.asarray(MODEL["safety_waves_months"], dtype=float)
    return pd.DataFrame({
        "wave": [f"T{k}" for k in waves],
        "months": planned[waves],
        "read_at_months": np.asarray(BETWEEN_WAVES_MONTHS)[waves],
        "probability": prob,
    })


def latent_time_to_safety(months, threshold=7, severity: str = "low") -> pd.DataFrame:
    """The chance that the household's noise-free professional trajectory
    ``4.6 - 1.3 [high] + b0 + (0.12 + b1) m`` has reached ``threshold - 0.5`` by ``months``
    (it is a straight line, so it has reached it by ``m`` when it is above it at 0 or at
    ``m``). Not what the data measure (see the module docstring); given for comparison.

    Examples
    --------
    >>> latent_time_to_safety([0, 12], 7, "low")["probability"].round(3).tolist()
    [0.029, 0.339]
    """
    c = _cutoff(threshold)
    m = np.asarray(months, dtype=float)
    saf = TRUE_EFFECTS["safety"]
    x, wts = special.roots_hermite(_NODES)
    b1 = saf["random_slope_sd"] * np.sqrt(2.0) * x
    wts = wts / np.sqrt(np.pi)
    mu = _mean(severity) - c
    slope = saf["slope_per_month"] + b1
    # not yet: b0 + mu < 0 and b0 + mu + slope m < 0, b0 ~ N(0, sd0)
    bound = np.minimum(-mu, -mu - slope[None, :] * m[:, None]) / saf["random_intercept_sd"]
    prob = 1.0 - stats.norm.cdf(bound) @ wts
    return pd.DataFrame({"months": m, "probability": prob})
