"""The methods text says what the fitted models did, from the models themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.report.methods import fitted_sentences
from cohort.stats.cox import CoxPH
from cohort.stats.mixed import MixedModel


def _cox(strata, cluster):
    rng = np.random.default_rng(1)
    n = 200
    df = pd.DataFrame({"t": rng.exponential(100, n).round() + 1, "e": rng.random(n) < 0.6,
                       "x": rng.random(n), "site": rng.choice(["A", "B", "C"], n),
                       "cluster": rng.integers(0, 150, n)}).assign(e=lambda d: d["e"].astype(int))
    return CoxPH().fit(df, "t", "e", ["x"], strata=strata, cluster_col=cluster)


def test_cox_text_follows_strata_and_cluster_of_the_fit():
    text = fitted_sentences({"tables/cox.csv": {"caption": "Cox", "about": _cox("site", "cluster").describe()}}, "en")[0]
    assert "stratified by site (3 strata" in text and "clustered by household" in text
    assert "clustered by site" not in text
    plain = fitted_sentences({"tables/cox.csv": {"caption": "Cox", "about": _cox(None, None).describe()}}, "en")[0]
    assert "stratified" not in plain and "model-based standard errors" in plain
    dutch = fitted_sentences({"tables/cox.csv": {"caption": "Cox", "about": _cox("site", "cluster").describe()}}, "nl")[0]
    assert "gestratificeerd naar proeftuin" in dutch and "geclusterd per huishouden" in dutch


def test_mixed_model_text_says_which_random_effects_were_fitted():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"g": np.repeat(np.arange(60), 3), "t": np.tile([0.0, 0.5, 1.0], 60)})
    df["y"] = 5 + df["t"] + rng.normal(size=len(df)) + np.repeat(rng.normal(size=60), 3)
    about = MixedModel().fit(df, "y", "t", "g").describe()
    text = fitted_sentences({"tables/m.csv": {"caption": "Mixed", "about": about}}, "en")[0]
    assert f"({about['method']})" in text and "180 scores of 60 households" in text


def test_tables_without_a_model_give_no_sentence():
    assert fitted_sentences({"tables/monitor.csv": {"caption": "Monitor"}}, "nl") == []
