"""The mean cumulative function of recurrent events (cohort.stats.mcf) against R's survfit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from r_reference import ABS, close, survival_ref

from cohort.exceptions import DefinitionError
from cohort.stats.mcf import MeanCumulativeFunction, mean_cumulative_function


def test_mean_cumulative_function_matches_r(cp):
    got = MeanCumulativeFunction().fit(cp, "start", "stop", "event", "id").table_
    ref = survival_ref("mcf.csv")
    close(got["time"], ref["time"])
    close(got["n_risk"], ref["n_risk"])
    close(got["n_event"], ref["n_event"])
    close(got["mcf"], ref["mcf"], atol=ABS)
    close(got["se"], ref["se"], atol=ABS)


def test_synthetic_mean_cumulative_function_matches_r(fu_rec):
    got = mean_cumulative_function(fu_rec, "start", "stop", "event", "cluster")
    ref = survival_ref("fu_mcf.csv")
    for col in ("time", "n_risk", "n_event"):
        close(got[col], ref[col])
    close(got["mcf"], ref["mcf"], atol=ABS)
    close(got["se"], ref["se"], atol=ABS)


def test_summary_and_describe(fu_rec):
    df = fu_rec.assign(site=fu_rec["site"].astype(str))
    mcf = MeanCumulativeFunction(alpha=0.1).fit(df, "start", "stop", "event", "cluster", group_col="site")
    s = mcf.summary
    assert s["units"].sum() == df.groupby("site")["cluster"].nunique().sum()
    assert s["events"].sum() == df["event"].sum()
    site = s["group"].iloc[0]
    tab = mcf.table_[mcf.table_["group"] == site]
    expected = tab.loc[tab["time"] <= 365.25, "mcf"].iloc[-1]
    assert s.loc[0, "mcf_12m"] == expected
    facts = mcf.describe()
    assert facts["units"] == df["cluster"].nunique() and facts["confidence_level"] == pytest.approx(0.9)
    assert facts["group_col"] == "site"


def test_errors_and_purity(cp):
    before = cp.copy()
    MeanCumulativeFunction().fit(cp, "start", "stop", "event", "id")
    pd.testing.assert_frame_equal(cp, before)
    with pytest.raises(DefinitionError, match="no events"):
        MeanCumulativeFunction().fit(cp.assign(event=0), "start", "stop", "event", "id")
    with pytest.raises(DefinitionError, match="lacks column"):
        MeanCumulativeFunction().fit(cp, "begin", "stop", "event", "id")
    assert np.isfinite(cp["stop"]).all()
