"""Write the input tables for ``r/interval_reference.R`` into ``tests/fixtures/interval/``.

The chain is reproducible: this script writes the intervals (from the package's own
definitions, :mod:`cohort.definitions.safety_events`), the R script reads them and writes
reference values into ``tests/fixtures/interval/r/``, and the tests compare the package's
estimates with those values. Run from the repository root::

    python r/export_interval_inputs.py
    Rscript r/interval_reference.R

Inputs written (one row per episode; ``left`` and ``right`` in days since time zero,
``right`` written ``Inf`` when right-censored; a household safe at its first assessment
has ``left = 0``, the interval from time zero, as the definitions give it):

``bundled_direct.csv``, ``bundled_stable.csv``
    Time to direct and to stable safety in the bundled synthetic delivery
    ``data/synthetic/default/`` (reference date 30 June 2026, the final report's;
    threshold 7, professional scores, time zero at registration).
``bundled_t0.csv``
    Time to direct safety with time zero at T0 (safe at T0: an event at time 0).
``fresh_direct.csv``, ``fresh_stable.csv``
    The same for a fresh synthetic delivery, ``cohort synth OUT --seed 15 --households
    3000`` (generated in memory: the same tables).
``toy.csv``
    Twenty rows written out by hand with every kind of row (exact, left-, interval- and
    right-censored, an exact event at 0) in two groups, and a group whose
    self-consistency weights are whole numbers (R then uses Greenwood's variance).

Covariates: ``site``, ``severity`` (``high``/``low``), ``children`` (``yes``/``no``),
``prior_reports``, and ``cluster`` (an internal household number, not a pseudonym).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "interval"
SYNTHETIC = ROOT / "data" / "synthetic" / "default"

#: Reference date of the fixtures (the final report's).
REFERENCE_DATE = "2026-06-30"

#: The fresh delivery: ``cohort synth OUT --seed FRESH_SEED --households FRESH_HOUSEHOLDS``.
FRESH_SEED = 15
FRESH_HOUSEHOLDS = 3000

COLUMNS = ["left", "right", "site", "severity", "children", "prior_reports", "cluster"]


def _bound_text(values) -> np.ndarray:
    """Days as R reads them: whole numbers as such, ``Inf`` and ``NA`` spelled as R does."""
    v = np.asarray(values, dtype=float)
    text = np.char.mod("%.10g", np.where(np.isfinite(v), v, 0.0)).astype(object)
    text[np.isposinf(v)] = "Inf"
    text[np.isnan(v)] = "NA"
    return text


def _write(df: pd.DataFrame, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    df = df.assign(left=_bound_text(df["left"]), right=_bound_text(df["right"]))
    df.to_csv(OUT / name, index=False, lineterminator="\n")


def analysis_columns(intervals: pd.DataFrame) -> pd.DataFrame:
    """The exported columns: R's ``interval2`` coding and plain covariates."""
    out = pd.DataFrame({
        "left": intervals["left"].to_numpy(dtype=float),
        "right": intervals["right"].to_numpy(dtype=float),
        "site": intervals["site"].astype(str).to_numpy(),
        "severity": intervals["severity"].astype(str).to_numpy(),
        "children": np.where(intervals["has_children"].astype(bool), "yes", "no"),
        "prior_reports": intervals["prior_reports"].astype(int).to_numpy(),
        "cluster": intervals["cluster"].astype(int).to_numpy(),
    })
    return out[COLUMNS]


def delivery_cases(delivery, prefix: str, with_t0: bool) -> dict[str, pd.DataFrame]:
    from cohort.definitions.safety_events import safety_intervals

    cases = {}
    for outcome in ("direct", "stable"):
        iv = safety_intervals(delivery, REFERENCE_DATE, outcome=outcome)
        cases[f"{prefix}_{outcome}.csv"] = analysis_columns(iv)
    if with_t0:
        iv = safety_intervals(delivery, REFERENCE_DATE, outcome="direct", origin="t0")
        cases[f"{prefix}_t0.csv"] = analysis_columns(iv)
    return cases


def toy() -> pd.DataFrame:
    """Every kind of row, by hand; group ``c`` has whole-number self-consistency weights."""
    nan, inf = np.nan, np.inf
    rows = [
        # group a: exact, left-, interval- and right-censored rows, ties of ends
        (0, 6, "a"), (5, 12, "a"), (10, inf, "a"), (3, 3, "a"), (nan, 8, "a"), (7, inf, "a"),
        (0, 0, "a"), (12, 30, "a"), (20, inf, "a"), (2, 9, "a"), (9, 12, "a"), (12, 18, "a"),
        # group b: intervals that overlap and nest
        (0, 10, "b"), (4, 6, "b"), (6, 20, "b"), (15, inf, "b"), (1, 30, "b"), (25, 40, "b"),
        # group c: disjoint intervals, each its own innermost interval
        (0, 5, "c"), (10, 15, "c"), (20, 25, "c"), (30, inf, "c"),
    ]
    df = pd.DataFrame(rows, columns=["left", "right", "site"])
    df["severity"] = np.where(np.arange(len(df)) % 3 == 0, "high", "low")
    df["children"] = np.where(np.arange(len(df)) % 4 == 0, "no", "yes")
    df["prior_reports"] = np.arange(len(df)) % 5
    df["cluster"] = np.arange(len(df))
    return df[COLUMNS]


def main() -> int:
    _write(toy(), "toy.csv")
    if (SYNTHETIC / "episodes.csv").exists():
        from cohort.delivery.load import load

        for name, df in delivery_cases(load(SYNTHETIC, cache_dir=False), "bundled", True).items():
            _write(df, name)
    else:
        print("synthetic delivery not found: bundled cases not written", file=sys.stderr)
    from cohort.synth.generate import generate

    fresh = generate(seed=FRESH_SEED, households=FRESH_HOUSEHOLDS)
    for name, df in delivery_cases(fresh, "fresh", False).items():
        _write(df, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
