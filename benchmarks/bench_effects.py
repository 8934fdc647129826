"""Benchmark: the effect analyses on a national-scale comparison delivery, against R.

Data: ``cohort.synth.comparison.generate_comparison(seed, households)`` in memory (default
1,000,000 households: 11 pilot sites with staggered starts, 8 comparison regions), the
emulated trials of the legal measures and of re-registration at reference date 30 June
2026, and the quarterly site panel.

Measures (wall seconds, each step once, in one process; peak memory at the end):

* the trial tables and the site panel (definitions);
* the propensity model, balance table and weight summary;
* weighted Aalen-Johansen and Kaplan-Meier with the estimated-weights variance, the
  weighted Cox model (Efron) with robust and estimated-weights variance, the IPTW risks of
  ``riskRegression::ate``'s estimator, the staggered-adoption estimator with 999 wild
  bootstrap draws; the augmented estimator (AIPTW), whose cost is households x censoring
  times, on the first ``--aiptw-rows`` rows only;
* the same models in R on the same trial table (written to a temporary CSV; reading it is
  not timed): ``glm``, ``survfit(weights=, robust = TRUE)``, ``coxph(weights=, cluster=)``,
  ``riskRegression::ate(estimator = "IPTW")`` on at most ``--r-ate-rows`` rows (its
  influence functions are held as dense matrices), and the largest absolute difference
  between the two sets of estimates.

Usage::

    .venv/bin/python benchmarks/bench_effects.py                      # 1M households
    .venv/bin/python benchmarks/bench_effects.py --households 100000 --no-r

Results are written down in ``benchmarks/RESULTS.md`` (section "Effects").
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

REFERENCE_DATE = "2026-06-30"
HORIZONS = [6 * 30.4375, 12 * 30.4375, 24 * 30.4375]


def _timed(results: dict, name: str, fn):
    t0 = time.perf_counter()
    out = fn()
    results[name] = round(time.perf_counter() - t0, 2)
    print(f"{name}: {results[name]} s", flush=True)
    return out


R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(riskRegression)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); ate_rows <- as.integer(args[2])
h <- c(6, 12, 24) * 30.4375
out <- list()
t <- system.time(ps <- glm(treated ~ severity_high + prior_reports + no_children + prior_episodes,
                           family = binomial, data = d))
out$glm <- t[["elapsed"]]
p <- fitted(ps); s <- mean(d$treated)
d$w <- ifelse(d$treated == 1, s / p, (1 - s) / (1 - p))
t <- system.time(aj <- survfit(Surv(time, factor(status, levels = 0:2)) ~ treated, data = d,
                               weights = w, id = id, conf.type = "none"))
out$survfit_aj <- t[["elapsed"]]
sa <- summary(aj, times = h)
out$aj_cif1 <- as.numeric(sa$pstate[, 2])
d$event <- as.integer(d$status == 1)
t <- system.time(cox <- coxph(Surv(time, event) ~ treated, data = d, weights = w, cluster = id))
out$coxph_robust <- t[["elapsed"]]
out$cox_coef <- unname(coef(cox)); out$cox_robust_se <- sqrt(diag(cox$var))
dd <- d[seq_len(min(nrow(d), ate_rows)), ]; dd$treated <- factor(dd$treated)
t <- system.time({
  tr <- glm(treated ~ severity_high + prior_reports + no_children + prior_episodes, family = binomial, data = dd)
  cens <- coxph(Surv(time, status == 0) ~ strata(treated), data = dd, x = TRUE, y = TRUE, ties = "breslow")
  e <- suppressWarnings(ate(event = c("time", "status"), treatment = tr, censor = cens, data = dd,
                            times = h, cause = 1, estimator = "IPTW", verbose = FALSE))
})
out$ate_iptw <- t[["elapsed"]]; out$ate_rows <- nrow(dd)
out$ate_diff <- as.numeric(as.data.frame(e$diffRisk)$estimate)
cat(jsonlite::toJSON(out, digits = 12, auto_unbox = TRUE))
"""


def run_r(trial: pd.DataFrame, ate_rows: int) -> dict:
    if shutil.which("Rscript") is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trial.csv"
        script = Path(tmp) / "bench.R"
        trial.to_csv(path, index=False)
        script.write_text(R_SCRIPT, encoding="utf-8")
        proc = subprocess.run(["Rscript", str(script), str(path), str(ate_rows)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return {"error": proc.stderr[-500:]}
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--aiptw-rows", type=int, default=20_000)
    parser.add_argument("--r-ate-rows", type=int, default=100_000)
    args = parser.parse_args()

    from cohort.definitions.site_panel import site_quarter_panel
    from cohort.definitions.target_trial import TrialSpec, legal_measure_trial, reregistration_trial
    from cohort.stats.ate import AverageTreatmentEffect
    from cohort.stats.balance import balance_table, weight_summary
    from cohort.stats.propensity import PropensityScore
    from cohort.stats.staggered_did import StaggeredDiD
    from cohort.stats.weighted_aalen_johansen import WeightedAalenJohansen
    from cohort.stats.weighted_cox import WeightedCoxPH
    from cohort.stats.weighted_kaplan_meier import WeightedKaplanMeier
    from cohort.synth.comparison import generate_comparison

    res: dict = {"households": args.households}
    d = _timed(res, "generate delivery (not part of the analyses)",
               lambda: generate_comparison(seed=args.seed, households=args.households))
    spec = TrialSpec(reference_date=REFERENCE_DATE)
    cov = list(spec.covariates)
    trial = _timed(res, "legal-measure trial table", lambda: legal_measure_trial(d, spec))
    _timed(res, "re-registration trial table", lambda: reregistration_trial(d, spec))
    panel = _timed(res, "quarterly site panel", lambda: site_quarter_panel(d, REFERENCE_DATE))
    res["trial_rows"] = len(trial)
    ps = _timed(res, "propensity model and weights", lambda: PropensityScore().fit(trial, "treated", cov))
    _timed(res, "balance table and weight summary", lambda: (
        balance_table(trial, "treated", cov, ps.weights_), weight_summary(ps.weights_, trial["treated"])))
    aj = _timed(res, "weighted Aalen-Johansen, estimated-weights variance", lambda: WeightedAalenJohansen(
        horizons_days=HORIZONS).fit(trial, "time", "status", "arm", propensity=ps))
    ev = trial.assign(event=(trial["status"] == 1).astype(int))
    _timed(res, "weighted Kaplan-Meier, estimated-weights variance", lambda: WeightedKaplanMeier(
        horizons_days=HORIZONS).fit(ev, "time", "event", "arm", propensity=ps))
    cox = _timed(res, "weighted Cox (Efron), robust and estimated-weights variance", lambda: WeightedCoxPH().fit(
        ev, "time", "event", ["treated"], propensity=ps, cluster_col="cluster"))
    _timed(res, "IPTW risks (riskRegression::ate's estimator)", lambda: AverageTreatmentEffect(
        "IPTW", times=HORIZONS).fit(trial, "time", "status", "treated", cov))
    small = trial.iloc[: args.aiptw_rows].reset_index(drop=True)
    _timed(res, f"AIPTW on {len(small):,} rows", lambda: AverageTreatmentEffect(
        "AIPTW", times=HORIZONS).fit(small, "time", "status", "treated", cov))
    panel = panel.assign(y=np.log(panel["first_registrations"].clip(lower=1)))
    _timed(res, "staggered adoption, 999 wild bootstrap draws", lambda: StaggeredDiD(seed=1).fit(
        panel, "y", "site", "period", "group_period"))
    res["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"peak memory: {res['peak_memory_mb']} MB")

    if not args.no_r:
        export = pd.DataFrame({
            "id": np.arange(1, len(trial) + 1), "time": trial["time"], "status": trial["status"],
            "treated": trial["treated"], "severity_high": (trial["severity"] == "high").astype(int),
            "prior_reports": trial["prior_reports"], "no_children": (~trial["has_children"].astype(bool)).astype(int),
            "prior_episodes": trial["prior_episodes"],
        })
        r = run_r(export, args.r_ate_rows)
        res["r"] = r
        if "cox_coef" in r:
            cif = aj.risks_.query("cause == 1")
            order = [cif[cif["group"] == g]["cif"].to_numpy() for g in ("comparison", "pilot")]
            res["max_abs_difference_r"] = float(max(
                abs(cox.params_["treated"] - r["cox_coef"]),
                np.max(np.abs(np.concatenate(order) - np.asarray(r["aj_cif1"]))),
            ))
            iptw_small = AverageTreatmentEffect("IPTW", times=HORIZONS).fit(
                trial.iloc[: r["ate_rows"]].reset_index(drop=True), "time", "status", "treated", cov)
            res["max_abs_difference_r_ate"] = float(np.max(np.abs(
                iptw_small.differences_["difference"].to_numpy() - np.asarray(r["ate_diff"]))))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
