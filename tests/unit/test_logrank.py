"""The log-rank test (cohort.stats.logrank) against R's survdiff, stratified and not."""

from __future__ import annotations

import numpy as np
import pytest
from r_reference import REL, close, survival_ref

from cohort.exceptions import DefinitionError
from cohort.stats.logrank import LogRankTest, logrank_test

LR_CASES = {
    "rossi_fin": ("rossi", "week", "arrest", "fin", None),
    "rossi_prio": ("rossi", "week", "arrest", "prio4", None),
    "tied_site": ("tied", "time", "event", "site", None),
    "tied_x1_strata_site": ("tied", "time", "event", "x1", "site"),
}


@pytest.mark.parametrize("case", sorted(LR_CASES))
def test_logrank_matches_survdiff(case, request):
    data, t, e, g, strata = LR_CASES[case]
    df = request.getfixturevalue(data)
    if g == "prio4":
        df = df.assign(prio4=np.minimum(df["prio"], 4))
    res = LogRankTest().fit(df, t, e, g, strata_col=strata)
    ref = survival_ref("logrank.csv")
    ref = ref[ref["case"] == case]
    close(res.table_["observed"], ref["observed"], rtol=REL)
    close(res.table_["expected"], ref["expected"], rtol=REL)
    assert res.statistic_ == pytest.approx(ref["chisq"].iloc[0], rel=REL)
    assert res.df_ == ref["df"].iloc[0]


def test_synthetic_logrank_by_site_matches_r(fu_ep):
    res = logrank_test(fu_ep.assign(site=fu_ep["site"].astype(str)), "time", "event", "site")
    ref = survival_ref("fu_logrank.csv")
    assert res.statistic_ == pytest.approx(ref["chisq"].iloc[0], rel=REL)
    close(res.summary["expected"], ref["expected"], rtol=REL)


def test_logrank_result_object(rossi):
    res = LogRankTest().fit(rossi, "week", "arrest", "fin")
    facts = res.describe()
    assert facts["model"] == "LogRankTest" and facts["group_col"] == "fin"
    assert facts["events"] == int(rossi["arrest"].sum()) and facts["df"] == 1
    assert facts["p"] == pytest.approx(res.p_value_)
    assert res.summary.attrs["chisq"] == res.statistic_
    assert res.summary["n"].sum() == len(rossi)
    assert repr(LogRankTest()) == "<LogRankTest: not fitted>"


def test_logrank_needs_two_groups(rossi):
    with pytest.raises(DefinitionError, match="two groups"):
        logrank_test(rossi.assign(g=1), "week", "arrest", "g")
