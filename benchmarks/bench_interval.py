"""Benchmark: the interval-censored estimators at scale, against R on the same intervals.

Data: ``--households`` episodes (default 1,000,000) with intervals shaped like the
time-to-safety table of the synthetic delivery: assessments at T0 (0-14 days after
registration) and every 183 days (+- N(0, 10) days) after it, up to a closure drawn from
the generator's duration model; a latent score trajectory with noise decides the first
safe assessment; three covariates (severity 0/1, children 0/1, prior reports). Seeded, so
every run fits the same intervals. Both time scales are measured: calendar days, and the
planned waves (``time_scale="waves"``: every assessment at 0, 183, 365, 548 days).

Measures, each in a fresh fit (wall time of the fit only):

* ``Turnbull()`` (the NPMLE, constrained Newton method) on both scales, by severity;
* ``Turnbull(method="survfit")`` (R's algorithm reproduced operation for operation) up to
  ``--survfit-max`` episodes;
* ``IntervalRegression("weibull")`` with the three covariates (episodes with an event at
  day 0 left out, as R requires);
* R ``survfit(Surv(L, R, type = "interval2") ~ severity)`` (up to ``--r-survfit-max``
  episodes: R's algorithm holds a dense rows-by-jump-points matrix) and
  ``survreg(..., dist = "weibull")`` via ``Rscript`` on the same intervals written to a
  temporary CSV, ``system.time`` of the fit only; the coefficients are compared.

Usage::

    .venv/bin/python benchmarks/bench_interval.py                      # 1M episodes
    .venv/bin/python benchmarks/bench_interval.py --households 100000 --no-r

Results are written down in ``benchmarks/RESULTS.md`` (section "Interval-censored
survival").
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.stats.interval_regression import IntervalRegression
from cohort.stats.turnbull import Turnbull

COVARIATES = ["severity", "children", "prior_reports"]


def make_intervals(n: int, seed: int = 1, scale: str = "days") -> pd.DataFrame:
    """Direct-safety intervals (left, right] in days, vectorised over episodes."""
    rng = np.random.default_rng(seed)
    high = rng.random(n) < 0.36
    children = rng.random(n) < 0.85
    prior = np.minimum(rng.poisson(1.5, n), 12)
    b0 = rng.normal(0, 1, n)
    b1 = rng.normal(0, 0.04, n)
    duration = np.maximum(np.rint(482 * np.exp(0.2 * high) * rng.weibull(3.8, n)), 14)
    waves = np.arange(4)
    planned = np.rint(waves * 6 * 30.4375)
    jitter = np.where(waves[None, :] == 0, rng.integers(0, 15, (n, 4)),
                      np.rint(rng.normal(0, 10, (n, 4))))
    day = planned[None, :] + jitter
    day[:, 0] = np.maximum(day[:, 0], 0)
    seen = (day < duration[:, None]) & (rng.random((n, 4)) >= np.array([0.05, 0.12, 0.15, 0.18]))
    months = day / 30.4375
    y = 4.6 - 1.3 * high[:, None] + b0[:, None] + (0.12 + b1[:, None]) * months + rng.normal(0, 0.9, (n, 4))
    safe = (np.clip(np.rint(y), 0, 10) >= 7) & seen
    t = planned[None, :] if scale == "waves" else day
    t = np.broadcast_to(t, (n, 4))
    first = np.where(safe.any(axis=1), safe.argmax(axis=1), -1)
    # the last assessment before the first safe one (or the last one when never safe)
    idx = np.arange(4)[None, :]
    before = seen & ((idx < first[:, None]) | (first[:, None] < 0))
    last_before = np.where(before.any(axis=1), 3 - before[:, ::-1].argmax(axis=1), -1)
    has_seen = seen.any(axis=1)
    rows = np.arange(n)
    right = np.where(first >= 0, t[rows, np.maximum(first, 0)], np.inf)
    left = np.where(last_before >= 0, t[rows, np.maximum(last_before, 0)], 0.0)
    keep = has_seen
    return pd.DataFrame({
        "left": left[keep], "right": right[keep],
        "severity": np.where(high, "high", "low")[keep],
        "children": np.where(children, "yes", "no")[keep],
        "prior_reports": prior[keep],
    })


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


R_SCRIPT = r"""
suppressPackageStartupMessages(library(survival))
args <- commandArgs(TRUE)
d <- read.csv(args[1]); fit_curve <- args[2] == "1"
out <- list()
if (fit_curve) {
  out$survfit <- system.time(f <- survfit(Surv(left, right, type = "interval2") ~ severity, data = d))[["elapsed"]]
}
e <- d[d$right > 0, ]
e$L <- ifelse(e$left == 0, NA, e$left)
out$survreg <- system.time(s <- survreg(Surv(L, right, type = "interval2") ~ severity + children + prior_reports,
                                        data = e, dist = "weibull"))[["elapsed"]]
out$coef <- unname(c(coef(s), log(s$scale)))
vals <- sapply(out, function(v) if (length(v) > 1) paste0("[", paste(sprintf("%.10g", v), collapse = ","), "]") else sprintf("%.10g", v))
cat(paste0("{", paste0('"', names(out), '": ', vals, collapse = ", "), "}"), "\n")
"""


def run_r(df: pd.DataFrame, fit_curve: bool) -> dict:
    if shutil.which("Rscript") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "intervals.csv"
        out = df.assign(right=np.where(np.isinf(df["right"]), "Inf", df["right"].astype(str)))
        out.to_csv(path, index=False)
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(script), str(path), "1" if fit_curve else "0"],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            return {"error": res.stderr.strip().splitlines()[-1] if res.stderr else "failed"}
        return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=1_000_000)
    ap.add_argument("--survfit-max", type=int, default=20_000)
    ap.add_argument("--r-survfit-max", type=int, default=20_000)
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    n = args.households
    report = {"episodes": n}
    for scale in ("days", "waves"):
        df, t_make = timed(lambda scale=scale: make_intervals(n, scale=scale))
        report[f"{scale}_rows"] = len(df)
        report[f"{scale}_make_s"] = round(t_make, 2)
        fit, t = timed(lambda df=df: Turnbull().fit(df, group_col="severity"))
        report[f"{scale}_turnbull_npmle_s"] = round(t, 2)
        report[f"{scale}_jump_points"] = int(len(fit.intervals_))
        if len(df) <= args.survfit_max:
            _, t = timed(lambda df=df: Turnbull(method="survfit").fit(df, group_col="severity"))
            report[f"{scale}_turnbull_survfit_s"] = round(t, 2)
        if scale == "days":
            used = df.loc[df["right"] > 0]
            model, t = timed(lambda used=used: IntervalRegression("weibull").fit(used, covariates=COVARIATES))
            report["weibull_s"] = round(t, 2)
            report["weibull_coef"] = [round(float(v), 6) for v in model.params_.to_numpy()]
            if not args.no_r:
                r = run_r(df, fit_curve=len(df) <= args.r_survfit_max)
                report["r"] = r
                if "coef" in r:
                    report["max_abs_coef_diff_vs_r"] = float(np.max(np.abs(np.asarray(r["coef"]) - model.params_.to_numpy())))
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
