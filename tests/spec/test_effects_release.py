"""Spec: disclosure control of the effect tables (cohort.disclosure.effects).

Each test builds the smallest table that sits on the threshold (10 households) and one
below it: 10 is released, 9 is suppressed, whatever the weights. Weighted counts get the
threshold of the unweighted households behind them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohort.delivery.schema import ID_COLUMNS
from cohort.disclosure import effects as rel
from cohort.disclosure.policy import NO_DISCLOSURE_CONTROL, DisclosurePolicy
from cohort.stats.balance import balance_table, weight_summary
from cohort.stats.staggered_did import StaggeredDiD
from cohort.stats.weighted_aalen_johansen import WeightedAalenJohansen
from cohort.stats.weighted_cox import WeightedCoxPH
from cohort.stats.weighted_kaplan_meier import WeightedKaplanMeier
from cohort.stats.weighted_mean import WeightedMeanDifference

POLICY = DisclosurePolicy(threshold=10)


def arms(n_pilot, n_comparison):
    """Households with times 1..n per arm, every one an event (status 1); uneven weights."""
    t = np.r_[np.arange(1, n_pilot + 1), np.arange(1, n_comparison + 1)].astype(float)
    arm = ["pilot"] * n_pilot + ["comparison"] * n_comparison
    w = np.linspace(0.5, 2.0, len(t))
    return pd.DataFrame({"time": t, "status": 1, "arm": arm, "treated": [1] * n_pilot + [0] * n_comparison, "w": w})


def suppressed(frame):
    return frame["suppressed"].astype(bool).tolist()


class TestRiskDifferences:
    def test_events_by_the_horizon_at_the_threshold(self):
        d = arms(20, 30)
        aj = WeightedAalenJohansen(horizons_days=[9, 10]).fit(d, "time", "status", "arm", weights="w")
        out = rel.release_risk_differences(aj, POLICY)
        assert out["n_events_pilot"].tolist()[1] == 10
        assert suppressed(out) == [True, False]  # 9 pilot events by day 9, 10 by day 10
        assert out.loc[0, ["risk_pilot", "difference", "ci_lower"]].isna().all()

    def test_households_at_risk_at_the_horizon(self):
        d = arms(20, 30)
        km = WeightedKaplanMeier(horizons_days=[11, 12]).fit(d, "time", "status", "arm", weights="w")
        out = rel.release_risk_differences(km, POLICY)
        assert out["n_risk_pilot"].tolist()[0] == 10  # times 11..20 at risk on day 11
        assert suppressed(out) == [False, True]

    def test_risk_difference_of_the_kaplan_meier_is_minus_the_survival_difference(self):
        d = arms(40, 40).assign(time=lambda f: f["time"] * np.where(f["treated"] == 1, 1.0, 1.5))
        km = WeightedKaplanMeier(horizons_days=[20]).fit(d, "time", "status", "arm")
        out = rel.release_risk_differences(km, POLICY).iloc[0]
        assert out["difference"] == pytest.approx(out["risk_pilot"] - out["risk_comparison"])
        assert out["ci_lower"] < out["difference"] < out["ci_upper"]


class TestCurves:
    def test_steps_pool_events_and_the_curve_ends_below_the_threshold_at_risk(self):
        d = arms(25, 25)
        aj = WeightedAalenJohansen(horizons_days=[5]).fit(d, "time", "status", "arm", weights="w")
        out = rel.release_curves(aj, POLICY)
        pilot = out[out["group"] == "pilot"]
        assert pilot["n_event"].tolist() == [0, 10]  # steps of 10 events; then fewer than 10 at risk
        assert (pilot["n_risk"].iloc[1:] >= 10).all()
        assert "weighted_n_risk" in out.columns and out["weighted_n_risk"].notna().all()


class TestModels:
    def test_hazard_ratio_needs_the_threshold_of_events_in_each_arm(self):
        for events, hidden in ((10, False), (9, True)):
            d = arms(30, 30).assign(event=1)
            d.loc[d.index[events:30], "event"] = 0  # pilot: `events` events, comparison 30
            cox = WeightedCoxPH().fit(d, "time", "event", ["treated"], weights="w")
            out = rel.release_hazard_ratio(cox, d, policy=POLICY)
            assert suppressed(out) == [hidden]
            assert out["hazard_ratio"].isna().all() == hidden

    def test_ate_risks_need_the_threshold_of_events_by_the_horizon_in_each_arm(self):
        from cohort.stats.ate import AverageTreatmentEffect

        rng = np.random.default_rng(3)
        d = arms(60, 60).assign(x=rng.normal(size=120))
        d.loc[d["treated"] == 1, "status"] = np.r_[np.ones(10, int), np.zeros(50, int)]  # pilot: 10 events by day 10
        est = AverageTreatmentEffect("IPTW", times=[9, 10]).fit(d, "time", "status", "treated", ["x"])
        out = rel.release_ate(est, d, policy=POLICY)
        assert suppressed(out) == [True, False]
        assert out.loc[1, "n_events_pilot"] == 10 and pd.isna(out.loc[0, "difference"])

    def test_mean_difference_needs_the_threshold_of_households_in_each_arm(self):
        for n, hidden in ((10, False), (9, True)):
            d = arms(n, 15).assign(y=lambda f: f["time"] / 3)
            est = WeightedMeanDifference().fit(d, "y", "arm", weights="w")
            assert suppressed(rel.release_mean_difference(est, POLICY)) == [hidden]


class TestWeighting:
    def test_a_balance_term_needs_the_threshold_on_both_sides_in_each_arm(self):
        def table(with_level):
            sev = ["high"] * with_level + ["low"] * (30 - with_level)
            return pd.DataFrame({"treated": [1] * 30 + [0] * 30, "sev": sev + ["high"] * 15 + ["low"] * 15})

        for with_level, hidden in ((10, False), (9, True), (20, False), (21, True)):
            d = table(with_level)
            out = rel.release_balance(balance_table(d, "treated", ["sev"], np.ones(60)), d, policy=POLICY)
            assert suppressed(out) == [hidden, hidden], with_level

    def test_weight_percentiles_need_households_beyond_them_and_min_max_never_show(self):
        w = np.r_[np.linspace(0.5, 2, 40), np.linspace(0.5, 2, 39)]
        a = np.r_[np.ones(40), np.zeros(39)]
        out = rel.release_weight_summary(weight_summary(w, a), POLICY).set_index("arm")
        assert "min" not in out.columns and "max" not in out.columns
        assert pd.notna(out.loc["pilot", "p25"]) and pd.isna(out.loc["comparison", "p25"])  # 0.25 * 40 = 10
        assert pd.isna(out.loc["pilot", "p01"])
        small = rel.release_weight_summary(weight_summary(w[:9], np.ones(9)), POLICY)
        assert suppressed(small)[0] and pd.isna(small["median"].iloc[0])


class TestStaggeredAdoption:
    def panel(self, treated_count):
        # two treated sites (adopting in period 3), three comparison sites, four periods;
        # `count` is the households behind each site-quarter value
        rows = []
        for site, g in (("A", 3), ("B", 3), ("C", 0), ("D", 0), ("E", 0)):
            for t in range(1, 5):
                count = treated_count if g else 20
                rows.append((site, t, g, float(t + (g > 0) * (t >= 3) + ord(site) % 3), count))
        return pd.DataFrame(rows, columns=["site", "period", "group", "y", "count"])

    def test_a_cell_needs_the_threshold_of_households_behind_its_treated_sites(self):
        for per_site, hidden in ((5, False), (4, True)):  # two treated sites: 10 or 8 households
            p = self.panel(per_site)
            did = StaggeredDiD(bootstrap_replications=99, seed=1).fit(p, "y", "site", "period", "group")
            out = rel.release_att_gt(did, p, "count", time_col="period", policy=POLICY)
            assert set(suppressed(out)) == {hidden}
            agg = rel.release_did_aggregates(did, p, "count", time_col="period", policy=POLICY)
            # an aggregate of hidden cells would give them away: it is hidden with them
            assert set(suppressed(agg["overall"])) == {hidden}
            assert suppressed(agg["event_study"]) == [hidden] * len(agg["event_study"])


def test_off_means_nothing_suppressed_and_it_is_recorded():
    d = arms(5, 5)
    aj = WeightedAalenJohansen(horizons_days=[3]).fit(d, "time", "status", "arm")
    out = rel.release_risk_differences(aj, NO_DISCLOSURE_CONTROL)
    assert not out["suppressed"].any()
    assert out.attrs["disclosure"]["applied"] is False and "warning" in out.attrs["disclosure"]


def test_counts_are_rounded_and_no_release_holds_an_identifier():
    d = arms(33, 47)
    aj = WeightedAalenJohansen(horizons_days=[10]).fit(d, "time", "status", "arm")
    out = rel.release_risk_differences(aj, DisclosurePolicy(threshold=10, rounding=5))
    assert out["n_risk_pilot"].iloc[0] % 5 == 0 and out["n_risk_comparison"].iloc[0] % 5 == 0
    assert not set(out.columns) & set(ID_COLUMNS)
    assert out.attrs["disclosure"]["count_columns"] == [c for c in out.columns if c.startswith(("n_risk_", "n_events_"))]
