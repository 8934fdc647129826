"""cohort.followup: analysis-ready tables, their invariants, errors, and recovery of the
generator's true hazard ratios (definitions are pinned in tests/spec/test_reregistration.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cohort.definitions import followup
from cohort.exceptions import DefinitionError, DeliveryError, ParameterError
from cohort.stats.cox import CoxPH
from cohort.synth import generate as synth

R = "2026-06-30"


@pytest.fixture(scope="module")
def delivery():
    return synth.generate(seed=7, households=3000)


@pytest.fixture(scope="module")
def episodes_table(delivery):
    return followup.reregistration_table(delivery, R, keep_ids=True)


def test_tables_do_not_change_the_delivery(delivery):
    before = {k: v.copy() for k, v in delivery.tables.items()}
    followup.reregistration_table(delivery, R)
    followup.recurrent_reregistration_table(delivery, R)
    followup.legal_measure_table(delivery, R)
    for name, table in before.items():
        pd.testing.assert_frame_equal(delivery.tables[name], table)


def test_tables_are_reproducible(delivery):
    for build in (
        followup.reregistration_table,
        followup.recurrent_reregistration_table,
        followup.legal_measure_table,
    ):
        a, b = build(delivery, R), build(delivery, R)
        pd.testing.assert_frame_equal(a, b)
        assert a.to_csv(index=False) == b.to_csv(index=False)


def test_reregistration_invariants(episodes_table):
    t = episodes_table
    assert (t["time"] > 0).all()
    assert set(t["status"]) <= {0, 1, 2}
    assert (t["event"] == (t["status"] == 1)).all()
    assert not t["reregistered_within_window"][t["status"] != 1].any()
    assert (t["reregistered_within_window"] == ((t["status"] == 1) & (t["time"] <= 365))).all()
    att = followup.attrition(t).set_index("step")["episodes"]
    assert att.iloc[1:-1].sum() + att["analysed"] == att.iloc[0]
    assert att["analysed"] == len(t)
    # covariates of the households table are carried through
    assert {"has_children", "severity", "prior_reports"} <= set(t.columns)


def test_no_pseudonyms_unless_asked(delivery):
    for build in (
        followup.reregistration_table,
        followup.recurrent_reregistration_table,
        followup.legal_measure_table,
    ):
        t = build(delivery, R)
        assert not {"household_id", "episode_id"} & set(t.columns)
        text = t.to_csv(index=False)
        assert "SYN-" not in text


def test_recurrent_first_event_equals_first_reregistration(delivery, episodes_table):
    rec = followup.recurrent_reregistration_table(delivery, R, keep_ids=True)
    assert (rec["start"] < rec["stop"]).all()
    # rows of a household do not overlap
    prev_stop = rec.groupby("household_id")["stop"].shift(1)
    assert (prev_stop.isna() | (rec["start"] >= prev_stop)).all()
    first = episodes_table[episodes_table["episode_number"] == 1].set_index("household_id")
    first_ev = rec[rec["event"] == 1].groupby("household_id")["stop"].min()
    ev = first[first["status"] == 1]
    np.testing.assert_array_equal(first_ev.reindex(ev.index).to_numpy(), ev["time"].to_numpy())
    no_ev = first[first["status"] != 1]
    later = first_ev.reindex(no_ev.index)
    assert (later.isna() | (later > no_ev["time"])).all()


def test_legal_measure_invariants(delivery):
    t = followup.legal_measure_table(delivery, R)
    assert (t["time"] >= 0).all()
    assert ((t["time"] > 0) | (t["status"] == 1)).all()
    assert set(t["censor_reason"][t["status"] == 0]) <= {"closure", "reference_date", "delivery_end"}


def test_missing_table_and_bad_parameters_are_user_errors(delivery):
    tables = {k: v for k, v in delivery.tables.items() if k != "referrals"}
    with pytest.raises(DeliveryError, match="referrals"):
        followup.reregistration_table(SimpleNamespace(tables=tables), R)
    with pytest.raises(DefinitionError, match="window"):
        followup.reregistration_table(delivery, R, window_days=0)
    with pytest.raises(ParameterError, match="reference_date"):
        followup.reregistration_table(delivery, "not a date")
    with pytest.raises(DeliveryError, match="delivery"):
        followup.reregistration_table(object(), R)
    with pytest.raises(DefinitionError, match="attrition"):
        followup.attrition(pd.DataFrame())


def test_generator_true_reregistration_hazard_ratios_are_recovered():
    """Cox on a larger generated delivery: the true HRs lie in the 95% CIs.

    The site that stops delivering (FRL) is left out: the generator transfers its open episodes to
    regular care in November-December 2024 without redrawing the re-registration process,
    so its true site effect does not hold for those closures.
    """
    d = synth.generate(seed=11, households=30000)
    ep = followup.reregistration_table(d, R)
    stopping = [s.code for s in synth.SITES if pd.Timestamp(s.delivery_end) < pd.Timestamp(R)]
    ep = ep[~ep["site"].isin(stopping)].assign(
        no_children=lambda x: (~x["has_children"].astype(bool)).astype(int),
        severity_high=lambda x: (x["severity"] == "high").astype(int),
        prior_reports=lambda x: x["prior_reports"].astype(float),
    )
    sites = ["UTR", *sorted(s for s in ep["site"].unique() if s != "UTR")]
    ep = ep.assign(site=pd.Categorical(ep["site"].astype(str), categories=sites))
    cox = CoxPH().fit(
        ep, "time", "event", ["no_children", "severity_high", "prior_reports", "site"], cluster_col="cluster"
    )
    truth = synth.TRUE_EFFECTS["reregistration_loghr"]
    expected = {k: truth[k] for k in ("no_children", "severity_high", "prior_reports")}
    expected.update({f"site{k}": v for k, v in truth["site"].items() if f"site{k}" in cox.covariates_})
    s = cox.summary
    for term in ("no_children", "severity_high", "prior_reports"):
        lo, hi = s.loc[term, "ci_lower"], s.loc[term, "ci_upper"]
        assert lo <= expected[term] <= hi, term
    # all coefficients jointly (site effects included): Wald test against the truth
    diff = cox.params_.to_numpy() - np.array([expected[t] for t in cox.covariates_])
    wald = diff @ np.linalg.solve(cox.variance_matrix_.to_numpy(), diff)
    assert stats.chi2.sf(wald, len(diff)) > 0.01
