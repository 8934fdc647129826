"""Write the input tables for ``r/effects_reference.R`` into ``tests/fixtures/effects/inputs/``.

The chain is reproducible: this script derives the trial tables from the bundled comparison
delivery ``data/synthetic/comparison/`` (no pseudonyms), the R script reads them and writes
reference values into ``tests/fixtures/effects/r/``, and the tests compare the package's
estimates with those values. Run from the repository root::

    python r/export_effects_inputs.py
    Rscript r/effects_reference.R

Inputs written:

``legal_measure_trial.csv``
    The legal-measure trial (:func:`cohort.definitions.target_trial.legal_measure_trial`,
    reference date 30 June 2026): ``id, time, status`` (0 censored, 1 first legal measure,
    2 episode ended), ``treated``, ``severity_high``, ``prior_reports``, ``no_children``.
``reregistration_trial.csv``
    The re-registration trial: the same columns, status 1 re-registration, 2 moved out.
``legal_measure_untied.csv``
    The legal-measure trial with every time moved by a distinct seeded fraction of a day
    (0 to 0.5), so that no two times tie, not even within R's tolerance for equal times:
    the data on which ``riskRegression::ate``'s augmented estimator is compared (it counts
    tied censoring times once per tie, see the tests).
``site_panel.csv``
    The quarterly site panel (:func:`cohort.definitions.site_panel.site_quarter_panel`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "effects" / "inputs"
DELIVERY = ROOT / "data" / "synthetic" / "comparison"
REFERENCE_DATE = "2026-06-30"


def _write(df: pd.DataFrame, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT / name, index=False, float_format="%.10g", lineterminator="\n")


def _trial_columns(trial: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.arange(1, len(trial) + 1),
            "time": trial["time"].to_numpy(dtype=np.int64),
            "status": trial["status"].to_numpy(dtype=np.int64),
            "treated": trial["treated"].to_numpy(dtype=np.int64),
            "severity_high": (trial["severity"] == "high").to_numpy(dtype=np.int64),
            "prior_reports": trial["prior_reports"].to_numpy(dtype=np.int64),
            "no_children": (~trial["has_children"].astype(bool)).to_numpy(dtype=np.int64),
        }
    )


def main() -> None:
    from cohort.definitions.site_panel import site_quarter_panel
    from cohort.definitions.target_trial import TrialSpec, legal_measure_trial, reregistration_trial
    from cohort.delivery.load import load

    delivery = load(DELIVERY, cache_dir=False)
    spec = TrialSpec(reference_date=REFERENCE_DATE)
    measures = _trial_columns(legal_measure_trial(delivery, spec))
    _write(measures, "legal_measure_trial.csv")
    _write(_trial_columns(reregistration_trial(delivery, spec)), "reregistration_trial.csv")
    # distinct fractions of a day, at least 0.5 / (n + 1) apart: far beyond the tolerance
    # within which R's survival treats two times as tied (timefix, about 1.5e-8 relative)
    rng = np.random.default_rng(20260630)
    fraction = (rng.permutation(len(measures)) + 1) / (len(measures) + 1) * 0.5
    untied = measures.assign(time=measures["time"] + np.round(fraction, 7))
    _write(untied, "legal_measure_untied.csv")
    panel = site_quarter_panel(delivery, REFERENCE_DATE)
    _write(panel.drop(columns=["quarter_start"]), "site_panel.csv")


if __name__ == "__main__":
    main()
