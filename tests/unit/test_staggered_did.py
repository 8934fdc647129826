"""Staggered adoption (Callaway and Sant'Anna): the 2x2 differences, did's published
mpdta example, and the false-positive rate of the wild cluster bootstrap at 11 treated
clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.exceptions import DefinitionError
from cohort.stats.staggered_did import StaggeredDiD, multipliers
from tests.unit.effects_fixtures import FIXTURES

#: Printed by did's README (did 2.x, ``att_gt(yname = "lemp", gname = "first.treat",
#: idname = "countyreal", tname = "year", xformla = ~1, data = mpdta, est_method = "reg")``
#: and ``aggte(out, type = "dynamic" / "group")``), four decimals.
MPDTA_ATT_GT = {
    (2004, 2004): -0.0105, (2004, 2005): -0.0704, (2004, 2006): -0.1373, (2004, 2007): -0.1008,
    (2006, 2004): 0.0065, (2006, 2005): -0.0028, (2006, 2006): -0.0046, (2006, 2007): -0.0412,
    (2007, 2004): 0.0305, (2007, 2005): -0.0027, (2007, 2006): -0.0311, (2007, 2007): -0.0261,
}
MPDTA_EVENT = {-3: 0.0305, -2: -0.0006, -1: -0.0245, 0: -0.0199, 1: -0.0510, 2: -0.1373, 3: -0.1008}
MPDTA_GROUP = {2004: -0.0797, 2006: -0.0229, 2007: -0.0261}
MPDTA_OVERALL = {"dynamic": (-0.0772, 0.0196), "group": (-0.031, 0.0123)}
MPDTA_PRETEST_P = 0.16812


@pytest.fixture(scope="module")
def mpdta_fit():
    d = pd.read_csv(FIXTURES / "mpdta" / "mpdta.csv")
    return StaggeredDiD(bootstrap_replications=999, seed=2021).fit(d, "lemp", "countyreal", "year", "first.treat")


def test_mpdta_group_time_effects_are_the_published_ones(mpdta_fit):
    got = mpdta_fit.att_gt_.set_index(["group", "time"])["att"]
    assert len(got) == len(MPDTA_ATT_GT)
    for key, value in MPDTA_ATT_GT.items():
        assert got[key] == pytest.approx(value, abs=5e-5), key


def test_mpdta_event_study_group_and_overall_effects_are_the_published_ones(mpdta_fit):
    es = mpdta_fit.event_study_.set_index("event_time")["estimate"]
    assert {e: round(v, 4) for e, v in es.items()} == MPDTA_EVENT
    gr = mpdta_fit.group_effects_.set_index("group")["estimate"]
    assert {g: round(v, 4) for g, v in gr.items()} == MPDTA_GROUP
    ov = mpdta_fit.overall_.set_index("aggregation")
    for name, (estimate, boot_se) in MPDTA_OVERALL.items():
        assert ov.loc[name, "estimate"] == pytest.approx(estimate, abs=5e-4 if name == "group" else 5e-5)
        # did prints multiplier-bootstrap standard errors (random); its large-sample
        # counterpart lies within their simulation noise
        assert ov.loc[name, "se_did"] == pytest.approx(boot_se, rel=0.1)


def test_mpdta_pretest_of_parallel_trends_is_the_published_one(mpdta_fit):
    assert mpdta_fit.pretest_["df"] == 5
    assert mpdta_fit.pretest_["p"] == pytest.approx(MPDTA_PRETEST_P, abs=5e-6)


@pytest.fixture(scope="module")
def site_panel():
    return pd.read_csv(FIXTURES / "inputs" / "site_panel.csv")


@pytest.mark.parametrize("control_group", ["nevertreated", "notyettreated"])
def test_every_group_time_effect_is_its_2x2_difference_of_means(site_panel, control_group):
    panel = site_panel.assign(y=np.log(site_panel["registrations"]))
    did = StaggeredDiD(control_group=control_group, bootstrap_replications=99, seed=1).fit(
        panel, "y", "site", "period", "group_period")
    wide = panel.pivot(index="site", columns="period", values="y")
    group = panel.groupby("site")["group_period"].first()
    for row in did.att_gt_.itertuples():
        change = wide[row.time] - wide[row.base]
        if control_group == "nevertreated":
            controls = group == 0
        else:
            controls = (group == 0) | ((group > row.time) & (group != row.group))
        expected = change[group == row.group].mean() - change[controls].mean()
        assert row.att == pytest.approx(expected, abs=1e-12), (row.group, row.time)
        assert row.n_control == controls.sum()


def test_bootstrap_is_seeded_and_intervals_are_symmetric(site_panel):
    panel = site_panel.assign(y=np.log(site_panel["registrations"]))
    a = StaggeredDiD(bootstrap_replications=199, seed=7).fit(panel, "y", "site", "period", "group_period")
    b = StaggeredDiD(bootstrap_replications=199, seed=7).fit(panel, "y", "site", "period", "group_period")
    c = StaggeredDiD(bootstrap_replications=199, seed=8).fit(panel, "y", "site", "period", "group_period")
    pd.testing.assert_frame_equal(a.overall_, b.overall_)
    assert not np.allclose(a.overall_["ci_lower"], c.overall_["ci_lower"])
    o = a.overall_
    np.testing.assert_allclose(o["estimate"] - o["ci_lower"], o["ci_upper"] - o["estimate"])
    es = a.event_study_
    assert (es["band_upper"] - es["band_lower"] >= es["ci_upper"] - es["ci_lower"] - 1e-12).all()


def _null_panel(rng, n_treated=11, n_control=8, periods=12):
    """Site panels without any effect: site and period effects, heteroskedastic noise."""
    n = n_treated + n_control
    groups = np.r_[rng.choice(np.arange(4, 10), n_treated), np.zeros(n_control, dtype=int)]
    noise_sd = np.exp(rng.normal(0.0, 0.5, n))[:, None]
    y = rng.normal(size=n)[:, None] + rng.normal(size=periods)[None, :] + rng.normal(size=(n, periods)) * noise_sd
    return pd.DataFrame({"site": np.repeat(np.arange(n), periods), "period": np.tile(np.arange(1, periods + 1), n),
                         "group": np.repeat(groups, periods), "y": y.ravel()})


@pytest.mark.slow
def test_false_positive_rate_at_11_treated_sites_is_near_5_percent():
    # 300 panels without an effect; the share of 5% tests of the overall effect that reject
    # is a binomial proportion with standard error sqrt(0.05 * 0.95 / 300) = 0.0126: it must
    # lie within 3 standard errors of 0.05. The large-sample test (estimate / se against
    # 1.96) rejects far more often with this few sites, which is why the bootstrap is used.
    reps = 300
    tolerance = 3 * np.sqrt(0.05 * 0.95 / reps)
    rng = np.random.default_rng(20240101)
    boot = normal = 0
    for r in range(reps):  # simulation replications, not households
        fit = StaggeredDiD(bootstrap_replications=199, seed=r).fit(_null_panel(rng), "y", "site", "period", "group")
        o = fit.overall_.set_index("aggregation").loc["simple"]
        boot += o["p"] < 0.05
        normal += abs(o["estimate"] / o["se"]) > 1.96
    assert abs(boot / reps - 0.05) <= tolerance
    assert normal / reps > 0.05 + tolerance


def test_groups_treated_in_the_first_period_are_left_out():
    d = pd.DataFrame({"u": np.repeat([1, 2, 3, 4], 3), "t": np.tile([1, 2, 3], 4),
                      "g": np.repeat([1, 2, 0, 0], 3), "y": np.arange(12.0)})
    did = StaggeredDiD(bootstrap_replications=99, seed=1).fit(d, "y", "u", "t", "g")
    assert set(did.att_gt_["group"]) == {2}
    assert did.describe()["dropped_groups"] == [1]


def test_bad_panels_are_definition_errors():
    d = pd.DataFrame({"u": [1, 1, 2], "t": [1, 2, 1], "g": [2, 2, 0], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(DefinitionError, match="not balanced"):
        StaggeredDiD().fit(d, "y", "u", "t", "g")
    d = pd.DataFrame({"u": [1, 1, 2, 2], "t": [1, 2, 1, 2], "g": [2, 2, 0, 0], "y": [1.0, None, 3.0, 4.0]})
    with pytest.raises(DefinitionError, match="missing values"):
        StaggeredDiD().fit(d, "y", "u", "t", "g")
    d = d.assign(y=[1.0, 2.0, 3.0, 4.0], g=[2, 2, 3, 3])
    with pytest.raises(DefinitionError, match="no never-treated units"):
        StaggeredDiD().fit(d, "y", "u", "t", "g")
    with pytest.raises(DefinitionError, match="multipliers"):
        multipliers("mammen", 3, np.random.default_rng(0))
