"""Benchmark: random intercept-and-slope REML fits, cohort.stats.mixed.MixedModel vs statsmodels MixedLM
(and the GEE, cohort.stats.gee.GEE, vs statsmodels GEE).

The data: ``households`` households with four waves each (0, 6, 12, 18 months; 10% of
scores missing at random), 12 sites as fixed effects, true model
``score = 4.6 + 0.12 months + site + b0 + b1 months + e`` with ``sd(b0) = 1``,
``sd(b1) = 0.04``, ``sd(e) = 0.9``. The same data are fitted with both libraries where
statsmodels finishes in reasonable time; estimates are compared.

Command (results in benchmarks/RESULTS.md, section "Trends and mixed models")::

    .venv/bin/python benchmarks/bench_mixed.py                       # default sizes
    .venv/bin/python benchmarks/bench_mixed.py --ours 100000 1000000 --statsmodels 1000 5000
    .venv/bin/python benchmarks/bench_mixed.py --lme4 100000         # also time lme4 (needs R)
    .venv/bin/python benchmarks/bench_mixed.py --ours --statsmodels --gee 10000 100000  # GEE
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def simulate(households: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(households), 4)
    months = np.tile(np.array([0.0, 6.0, 12.0, 18.0]), households) + rng.normal(0, 0.3, 4 * households)
    months = np.maximum(months, 0.0)
    sites = np.array([f"S{k:02d}" for k in range(12)])
    site = rng.integers(0, 12, households)
    site_eff = np.linspace(-0.5, 0.5, 12)
    b0 = rng.normal(0, 1.0, households)
    b1 = rng.normal(0, 0.04, households)
    y = 4.6 + 0.12 * months + site_eff[site][g] + b0[g] + b1[g] * months + rng.normal(0, 0.9, g.size)
    keep = rng.random(g.size) > 0.10
    return pd.DataFrame({"household": g, "site": sites[site][g], "months": months,
                         "score": y})[keep].reset_index(drop=True)


def time_ours(df):
    from cohort.stats.mixed import MixedModel

    t0 = time.perf_counter()
    m = MixedModel().fit(df, "score", "months", "household", categorical=["site"])
    return time.perf_counter() - t0, m


def time_statsmodels(df):
    import statsmodels.formula.api as smf

    t0 = time.perf_counter()
    fit = smf.mixedlm("score ~ months + C(site)", df, groups=df["household"],
                      re_formula="~months").fit(reml=True, method="lbfgs")
    return time.perf_counter() - t0, fit


def time_gee(df):
    from cohort.stats.gee import GEE

    t0 = time.perf_counter()
    gee = GEE().fit(df, "score", "months", "household", categorical=["site"])
    return time.perf_counter() - t0, gee


def time_lme4(df):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        df.to_csv(path, index=False)
        script = (
            "suppressPackageStartupMessages(library(lme4));"
            f"d <- read.csv('{path}');"
            "t <- system.time(f <- lmer(score ~ months + site + (1 + months | household), d));"
            "cat(t[['elapsed']], fixef(f)[['months']], sep='\\n')"
        )
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    elapsed, slope = out.stdout.split()
    return float(elapsed), float(slope)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--statsmodels", type=int, nargs="*", default=[1_000, 5_000])
    ap.add_argument("--lme4", type=int, nargs="*", default=[])
    ap.add_argument("--gee", type=int, nargs="*", default=[])
    args = ap.parse_args(argv)
    rows = []
    for n in sorted(set(args.ours) | set(args.statsmodels) | set(args.lme4) | set(args.gee)):
        df = simulate(n)
        row = {"households": n, "rows": len(df)}
        if n in args.ours:
            sec, m = time_ours(df)
            row.update(ours_s=round(sec, 2), ours_slope=m.params_["months"], ours_sd_b0=m.variance_components_["sd"].iloc[0],
                       ours_sd_b1=m.variance_components_["sd"].iloc[1], ours_sigma=np.sqrt(m.sigma2_))
        if n in args.statsmodels:
            sec, fit = time_statsmodels(df)
            row.update(statsmodels_s=round(sec, 2), sm_slope=fit.fe_params["months"])
            if "ours_slope" in row:
                # statsmodels names: Intercept, C(site)[T.S01], ..., months
                sm_params = fit.fe_params.rename(lambda k: k.replace("C(site)", "site"))
                ours = m.params_.reindex(sm_params.index)
                row["max_rel_diff_fixed"] = float(np.max(np.abs(ours.to_numpy() / sm_params.to_numpy() - 1)))
                row["sm_sd_b1"] = float(np.sqrt(fit.cov_re.iloc[1, 1]))
        if n in args.gee:
            sec, out = time_gee(df)
            row.update(gee_s=round(sec, 2), gee_slope=float(out.params_["months"]))
        if n in args.lme4:
            sec, slope = time_lme4(df)
            row.update(lme4_s=round(sec, 2), lme4_slope=slope)
        rows.append(row)
        print(row, flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"peak memory (max RSS) {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
