"""Write the input tables for ``r/survival_reference.R`` into ``tests/fixtures/survival/``.

The chain is reproducible: this script writes the inputs (seeded), the R script reads them and
writes reference values into ``tests/fixtures/survival/r/``, and the tests compare the
package's estimates with those values. Run from the repository root::

    python r/export_survival_inputs.py
    Rscript r/survival_reference.R

Inputs written:

``rossi.csv``
    The Rossi recidivism data as shipped with lifelines (race coded 1 = black).
``tied.csv``
    Right-censored data with integer times and many ties, a competing event (status 0/1/2),
    three covariates, a site (strata / cluster) and a cluster id with several rows.
``cp.csv``
    Counting-process (start, stop] rows of recurrent events per subject, with covariates,
    site and subject id; rows can enter exactly at an event time of another row.
``followup_episodes.csv``, ``followup_recurrent.csv``, ``followup_measures.csv``
    Analysis-ready tables derived with :mod:`cohort.definitions.followup` from the bundled synthetic
    delivery ``data/synthetic/default/`` (only when it exists), without pseudonyms.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "survival"
SYNTHETIC = ROOT / "data" / "synthetic" / "default"


def _write(df: pd.DataFrame, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / name, index=False, float_format="%.10g", lineterminator="\n")


def rossi() -> pd.DataFrame:
    from lifelines.datasets import load_rossi

    return load_rossi()


def tied(n: int = 600, seed: int = 20240601) -> pd.DataFrame:
    """Integer-time competing-risks data with heavy ties and clustered rows."""
    rng = np.random.default_rng(seed)
    x1 = rng.binomial(1, 0.4, n)
    x2 = np.round(rng.normal(0, 1, n), 2)
    x3 = rng.integers(0, 4, n)
    site = rng.choice(["AMS", "RTD", "UTR", "ZWO"], n)
    lp = 0.5 * x1 - 0.3 * x2 + 0.15 * x3
    t1 = rng.exponential(40 * np.exp(-lp))
    t2 = rng.exponential(90, n)
    c = rng.uniform(5, 120, n)
    t = np.minimum.reduce([t1, t2, c])
    status = np.select([t == t1, t == t2], [1, 2], 0)
    time = np.ceil(t / 5).astype(int)  # coarse: many tied times
    cluster = rng.integers(0, n // 3, n)
    return pd.DataFrame(
        {
            "time": time,
            "status": status,
            "event": (status == 1).astype(int),
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "site": site,
            "cluster": cluster,
        }
    )


def counting_process(n_id: int = 250, seed: int = 20240602) -> pd.DataFrame:
    """(start, stop] rows of recurrent events per subject, integer times, time-varying x3."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n_id)
    x1 = rng.binomial(1, 0.5, n_id)
    x2 = np.round(rng.normal(0, 1, n_id), 2)
    site = rng.choice(["AMS", "RTD", "UTR"], n_id)
    follow = rng.integers(20, 100, n_id)
    frailty = rng.gamma(2.0, 0.5, n_id)
    rate = 0.02 * frailty * np.exp(0.6 * x1 - 0.4 * x2)
    # up to 8 gaps per subject, drawn at once (no loop over subjects)
    gaps = np.ceil(rng.exponential(1 / rate[:, None], (n_id, 8))).astype(int)
    ends = np.cumsum(gaps, axis=1)
    starts = np.c_[np.zeros(n_id, dtype=int), ends[:, :-1]]
    keep = starts < follow[:, None]
    stop = np.minimum(ends, follow[:, None])
    event = (ends <= follow[:, None]).astype(int)
    rows = pd.DataFrame(
        {
            "id": np.repeat(ids, 8),
            "start": starts.ravel(),
            "stop": stop.ravel(),
            "event": event.ravel(),
            "enum": np.tile(np.arange(1, 9), n_id),
        }
    )[keep.ravel()]
    rows["x1"] = x1[rows["id"]]
    rows["x2"] = x2[rows["id"]]
    rows["x3"] = np.minimum(rows["enum"] - 1, 2)  # prior events (capped): time-varying
    rows["site"] = site[rows["id"]]
    rows = rows[rows["stop"] > rows["start"]]
    return rows.drop(columns="enum").reset_index(drop=True)


#: Reference date of the follow-up fixtures (the final report's).
FOLLOWUP_REFERENCE_DATE = "2026-06-30"


def _model_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Numeric covariates as R reads them: 0/1 indicators, counts."""
    out = df.copy()
    out["no_children"] = (~out["has_children"].astype(bool)).astype(int)
    out["severity_high"] = (out["severity"] == "high").astype(int)
    out["prior_reports"] = out["prior_reports"].astype(int)
    return out


def followup_tables():
    """Analysis-ready tables from the bundled synthetic delivery (no pseudonyms)."""
    from cohort.definitions import followup
    from cohort.delivery.load import load

    delivery = load(SYNTHETIC, cache_dir=False)
    ref = FOLLOWUP_REFERENCE_DATE
    ep = _model_columns(followup.reregistration_table(delivery, ref))
    rec = _model_columns(followup.recurrent_reregistration_table(delivery, ref))
    lm = _model_columns(followup.legal_measure_table(delivery, ref))
    cov = ["no_children", "severity_high", "prior_reports"]
    ep = ep[["cluster", "site", "time", "status", "event", *cov]]
    rec = rec[["cluster", "site", "start", "stop", "event", "prior_events", *cov]]
    lm = lm[["cluster", "site", "time", "status", "event", *cov]]
    return ep, rec, lm


def main() -> int:
    _write(rossi(), "rossi.csv")
    _write(tied(), "tied.csv")
    _write(counting_process(), "cp.csv")
    if (SYNTHETIC / "episodes.csv").exists():
        ep, rec, lm = followup_tables()
        _write(ep, "followup_episodes.csv")
        _write(rec, "followup_recurrent.csv")
        _write(lm, "followup_measures.csv")
    else:
        print("synthetic delivery not found: follow-up tables not written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
