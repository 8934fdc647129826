"""Shared inputs of the effect-analysis tests: the R fixtures of tests/fixtures/effects/.

The trial tables were written by ``r/export_effects_inputs.py`` from the bundled comparison
delivery; ``r/effects_reference.R`` computed the reference values in ``r/``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "effects"
HORIZONS_DAYS = [6 * 30.4375, 12 * 30.4375, 24 * 30.4375]
COVARIATES = ["severity_high", "prior_reports", "no_children"]
OUTCOMES = ("legal_measure", "reregistration")


def trial(outcome: str) -> pd.DataFrame:
    d = pd.read_csv(FIXTURES / "inputs" / f"{outcome}_trial.csv")
    return d.assign(arm=d["treated"].map({1: "pilot", 0: "comparison"}))


def reference(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "r" / f"{name}.csv")
