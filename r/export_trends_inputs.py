"""Export the inputs of r/trends_reference.R to tests/fixtures/trends/.

Run from the repository root::

    python r/export_trends_inputs.py            # the bundled synthetic delivery
    Rscript r/trends_reference.R               # writes tests/fixtures/trends/r/

The inputs are computed from the bundled synthetic delivery ``data/synthetic/default/``
when it exists; otherwise (or with ``--simulate``) from a delivery simulated here with a
fixed seed. Household pseudonyms are replaced by consecutive numbers; the files hold
synthetic data only. Written:

* ``safety_long.csv``: one row per safety score (household number, site, respondent,
  wave, years since registration, score), built with :func:`cohort.definitions.waves.prepare_safety`;
* ``quarterly.csv``: per site and quarter (inside the site's delivery window), legal
  measures started, reports (referrals) about households, person-years of active
  involvement, registrations and registrations without children;
* ``source.txt``: which data the fixtures come from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.definitions.dates import DAYS_PER_YEAR
from cohort.definitions.waves import prepare_safety

ROOT = Path(__file__).resolve().parents[1]
DELIVERY = ROOT / "data" / "synthetic" / "default"
OUT = ROOT / "tests" / "fixtures" / "trends"
START, REFERENCE = pd.Timestamp("2023-01-01"), pd.Timestamp("2025-12-31")


def simulate_delivery(n_households: int = 600, seed: int = 20240101) -> dict[str, pd.DataFrame]:
    """A small delivery-like set of tables with known safety and trend effects."""
    rng = np.random.default_rng(seed)
    sites = np.array(["ALM", "EIN", "GRO", "LEE", "UTR", "ZWO"])
    site_effect = dict(zip(sites, [0.0, 0.4, -0.3, 0.2, 0.6, -0.5], strict=True))
    hh = pd.DataFrame({
        "household_id": [f"SYN-H{i:05d}" for i in range(n_households)],
        "site": rng.choice(sites, n_households),
        "has_children": rng.uniform(size=n_households) > 0.15,
        "severity": rng.choice(["low", "high"], n_households, p=[0.6, 0.4]),
    })
    span = (pd.Timestamp("2025-03-31") - START).days
    reg = START + pd.to_timedelta(np.sort(rng.integers(0, span, n_households)), unit="D")
    dur = rng.exponential(700, n_households).astype(int) + 120
    closure = reg + pd.to_timedelta(dur, unit="D")
    closure = pd.Series(closure).where(closure <= REFERENCE)
    ep = pd.DataFrame({"episode_id": [f"SYN-E{i:05d}" for i in range(n_households)],
                       "household_id": hh["household_id"], "site": hh["site"],
                       "registration_date": reg, "closure_date": closure.to_numpy()})
    # Safety: every 6 months from registration while open; some waves missing.
    k = np.tile(np.arange(4), n_households)
    h = np.repeat(np.arange(n_households), 4)
    date = ep["registration_date"].to_numpy()[h] + pd.to_timedelta(k * 182 + rng.integers(0, 21, len(k)), unit="D").to_numpy()
    end = ep["closure_date"].fillna(REFERENCE).to_numpy()[h]
    keep = (date <= end) & (rng.uniform(size=len(k)) > 0.12)
    b0 = rng.normal(0, 1.0, n_households)
    b1 = rng.normal(0, 0.5, n_households)
    years = (date - ep["registration_date"].to_numpy()[h]) / np.timedelta64(1, "D") / DAYS_PER_YEAR
    mu = (4.2 + hh["site"].map(site_effect).to_numpy()[h] - 1.3 * (hh["severity"].to_numpy()[h] == "high")
          + 1.2 * years + b0[h] + b1[h] * years)
    rows = []
    for resp, shift, sd in (("professional", 0.0, 0.8), ("parent", 0.5, 1.1)):
        sc = np.clip(np.round(mu + shift + rng.normal(0, sd, len(k)), 1), 0, 10)
        wave = np.array([f"T{v}" for v in k], dtype=object)
        wave[rng.uniform(size=len(k)) < 0.1] = None  # missing wave labels: derived
        rows.append(pd.DataFrame({"household_id": hh["household_id"].to_numpy()[h],
                                  "episode_id": ep["episode_id"].to_numpy()[h],
                                  "assessment_date": date, "respondent": resp, "score": sc,
                                  "wave": wave})[keep & (rng.uniform(size=len(k)) > (0 if resp == "professional" else 0.3))])
    sa = pd.concat(rows, ignore_index=True)
    sa.insert(0, "assessment_id", [f"SYN-A{i:06d}" for i in range(len(sa))])
    # Legal measures: 0.3 per household, rising 3% per quarter, with a gamma(2) multiplier
    # per site and quarter so that the quarterly counts are overdispersed (theta about 2).
    mid = ep["registration_date"] + (ep["closure_date"].fillna(REFERENCE) - ep["registration_date"]) * rng.uniform(size=n_households)
    qn = ((mid.dt.year - 2023) * 4 + mid.dt.quarter - 1).to_numpy()
    si = pd.factorize(hh["site"], sort=True)[0]
    mult = rng.gamma(2.0, 0.5, size=(len(sites), 16))
    lam = 0.3 * np.exp(0.03 * qn) * mult[si, qn]
    count = rng.poisson(lam)
    idx = np.repeat(np.arange(n_households), count)
    lm_rows = pd.DataFrame({"measure_id": [f"SYN-M{i:05d}" for i in range(len(idx))],
                            "household_id": ep["household_id"].to_numpy()[idx],
                            "episode_id": ep["episode_id"].to_numpy()[idx],
                            "measure_type": "supervision_order",
                            "start_date": mid.dt.normalize().to_numpy()[idx]})
    # Reports (referrals) about households: 0.8 per household, overdispersed the same way.
    count = rng.poisson(0.8 * np.exp(0.03 * qn) * rng.gamma(2.0, 0.5, size=(len(sites), 16))[si, qn])
    idx = np.repeat(np.arange(n_households), count)
    refs = pd.DataFrame({"referral_id": [f"SYN-R{i:05d}" for i in range(len(idx))],
                         "household_id": ep["household_id"].to_numpy()[idx],
                         "referral_date": mid.dt.normalize().to_numpy()[idx]})
    sites_t = pd.DataFrame({"site": sites, "delivery_start": START, "delivery_end": REFERENCE})
    return {"sites": sites_t, "households": hh, "episodes": ep, "safety_assessments": sa,
            "legal_measures": lm_rows, "referrals": refs}


def read_delivery(folder: Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for name, dates in (("sites", ["delivery_start", "delivery_end"]), ("households", []), ("episodes", ["registration_date", "closure_date"]),
                        ("safety_assessments", ["assessment_date"]), ("legal_measures", ["start_date", "end_date"]),
                        ("referrals", ["referral_date"])):
        df = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False, na_values=[""])
        for c in dates:
            if c in df.columns:
                df[c] = pd.to_datetime(df[c])
        tables[name] = df
    tables["safety_assessments"]["score"] = tables["safety_assessments"]["score"].astype(float)
    hc = tables["households"]["has_children"].str.lower()
    tables["households"]["has_children"] = hc.isin(["true", "1", "yes", "ja"])
    return tables


def quarterly_series(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per site and quarter: measures started, active person-years, registrations."""
    ep = t["episodes"].merge(t["households"][["household_id", "has_children"]], on="household_id")
    reference = t["sites"]["delivery_end"].max()
    q = pd.DataFrame({"interval_start": pd.date_range(START, reference, freq="QS")})
    q["interval_end"] = q["interval_start"] + pd.offsets.QuarterEnd(0)
    # Quarters inside each site's delivery window only (a site that stopped delivering
    # contributes no person-time after its delivery end).
    win = t["sites"][["site", "delivery_start", "delivery_end"]]
    x = ep.merge(win, on="site").merge(q, how="cross")
    x = x[(x["interval_start"] >= x["delivery_start"]) & (x["interval_end"] <= x["delivery_end"])]
    end = x["closure_date"].fillna(reference + pd.Timedelta(days=1))
    a = np.maximum(x["registration_date"], x["interval_start"])
    b = np.minimum(end, x["interval_end"] + pd.Timedelta(days=1))
    x["person_years"] = ((b - a).dt.days.clip(lower=0)) / DAYS_PER_YEAR
    x["registrations"] = x["registration_date"].between(x["interval_start"], x["interval_end"])
    x["registrations_without_children"] = x["registrations"] & ~x["has_children"].astype(bool)
    out = x.groupby(["site", "interval_start"], sort=True).agg(
        person_years=("person_years", "sum"), registrations=("registrations", "sum"),
        registrations_without_children=("registrations_without_children", "sum")).reset_index()
    lm = t["legal_measures"].merge(ep[["episode_id", "site"]], on="episode_id")
    lm["interval_start"] = lm["start_date"].dt.to_period("Q").dt.start_time
    n = lm.groupby(["site", "interval_start"]).size().rename("measures").reset_index()
    rf = t["referrals"].merge(t["households"][["household_id", "site"]], on="household_id")
    rf["interval_start"] = rf["referral_date"].dt.to_period("Q").dt.start_time
    r = rf.groupby(["site", "interval_start"]).size().rename("referrals").reset_index()
    out = out.merge(n, on=["site", "interval_start"], how="left").merge(
        r, on=["site", "interval_start"], how="left").fillna({"measures": 0, "referrals": 0})
    out["measures"] = out["measures"].astype(int)
    out["referrals"] = out["referrals"].astype(int)
    out = out[out["person_years"] > 0]
    out["quarter"] = (out["interval_start"].dt.year - 2023) * 4 + out["interval_start"].dt.quarter
    out["interval_start"] = out["interval_start"].dt.strftime("%Y-%m-%d")
    return out[["site", "interval_start", "quarter", "measures", "referrals", "person_years", "registrations",
                "registrations_without_children"]].reset_index(drop=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulate", action="store_true", help="use the simulated delivery")
    args = ap.parse_args(argv)
    if not args.simulate and (DELIVERY / "safety_assessments.csv").exists():
        t, source = read_delivery(DELIVERY), "bundled synthetic delivery data/synthetic/default"
    else:
        t, source = simulate_delivery(), "delivery simulated by r/export_trends_inputs.py (seed 20240101)"
    long = prepare_safety(t["safety_assessments"], t["episodes"], t["households"],
                          covariates=["severity"])
    codes, _ = pd.factorize(long["household_id"], sort=True)
    safety = pd.DataFrame({
        "household": codes + 1, "episode": pd.factorize(long["episode_id"], sort=True)[0] + 1,
        "site": long["site"], "severity": long["severity"], "respondent": long["respondent"],
        "wave": long["wave"],
        "assessment_date": long["assessment_date"].dt.strftime("%Y-%m-%d"),
        "years": long["years_since_registration"].round(10), "score": long["score"]})
    OUT.mkdir(parents=True, exist_ok=True)
    safety.to_csv(OUT / "safety_long.csv", index=False, float_format="%.10g")
    quarterly_series(t).to_csv(OUT / "quarterly.csv", index=False, float_format="%.10g")
    (OUT / "source.txt").write_text(source + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} from the {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
