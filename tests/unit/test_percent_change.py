"""cohort.stats.percent_change: APC and AAPC agree with R's log-linear lm."""

from __future__ import annotations

import numpy as np
import pandas as pd
from r_reference import trends_ref

from cohort.definitions.dates import quarter_index
from cohort.stats.percent_change import percent_change


def _close(ours, ref, rtol=1e-4):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(ref, float), rtol=rtol)


def test_apc_and_aapc_match_log_linear_lm(total):
    pos = total[total["registrations"] > 0]
    one = percent_change(pos, "quarter", "registrations")
    jp = percent_change(pos, "quarter", "registrations", joinpoints=[6])
    ours = pd.concat([one.iloc[:1], jp], ignore_index=True)
    assert ours["measure"].tolist() == ["APC", "APC", "APC", "AAPC"]
    ref = trends_ref("percent_change")
    for col in ["slope", "slope_se", "percent_change", "ci_lower", "ci_upper"]:
        _close(ours[col], ref[col], rtol=1e-9)


def test_apc_single_segment_aapc_equals_apc(total):
    out = percent_change(total[total["registrations"] > 0], "quarter", "registrations")
    np.testing.assert_allclose(out["percent_change"].iloc[0], out["percent_change"].iloc[1])


def test_apc_recovers_exact_growth():
    df = pd.DataFrame({"q": np.arange(12.0), "y": 50 * 1.04 ** np.arange(12) * np.exp(
        np.random.default_rng(1).normal(0, 0.01, 12))})
    out = percent_change(df, "q", "y")
    row = out.iloc[0]
    assert row["ci_lower"] < 4.0 < row["ci_upper"]


def test_apc_by_site(quarterly):
    d = quarterly.assign(q=quarter_index(quarterly["interval_start"]))
    out = percent_change(d[d["registrations"] > 0], "q", "registrations", by=["site"])
    assert sorted(out["site"].unique()) == sorted(quarterly["site"].unique())
    assert set(out["measure"]) == {"APC", "AAPC"}
