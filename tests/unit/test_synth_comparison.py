"""The comparison design of the synthetic data: staggered pilot starts, comparison regions,
confounding by case mix, the bundled delivery, the command line and the truths."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.cli import main
from cohort.definitions.target_trial import TrialSpec, trial_population
from cohort.delivery import schema
from cohort.delivery.load import load
from cohort.synth import comparison, write
from cohort.synth import generate as synth

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "comparison"
TABLE_FILES = sorted(f"{name}.csv" for name in schema.TABLES)


@pytest.fixture(scope="module")
def bundled():
    return load(BUNDLED, cache_dir=False)


def test_bundled_delivery_is_a_fresh_generation(tmp_path):
    write.synthesize(tmp_path, design="comparison")
    files = sorted([*TABLE_FILES, "columns.yaml"])
    assert sorted(p.name for p in BUNDLED.iterdir()) == files
    match, mismatch, errors = filecmp.cmpfiles(BUNDLED, tmp_path, files, shallow=False)
    assert mismatch == [] and errors == []


def test_bundled_delivery_validates_cleanly(bundled):
    assert bundled.validation.ok and bundled.validation.n_warnings == 0


def test_pilot_sites_start_staggered_and_comparison_sites_never(bundled):
    sites = bundled.sites.set_index("site")
    pilot, comp = sites[sites["arm"] == "pilot"], sites[sites["arm"] == "comparison"]
    assert (len(pilot), len(comp)) == (11, 8)
    assert pilot["pilot_start"].notna().all() and comp["pilot_start"].isna().all()
    assert pilot["pilot_start"].nunique() == 8  # eight adoption quarters
    assert (pilot["pilot_start"] > pilot["delivery_start"]).all()  # every pilot site has a pre-period
    # the pre-period holds households of the pilot sites in regular care
    ep = bundled.episodes.merge(sites[["arm", "pilot_start"]], left_on="site", right_index=True)
    before = (ep["arm"] == "pilot") & (ep["registration_date"] < ep["pilot_start"])
    assert before.sum() > 500


def test_households_served_the_new_way_are_of_worse_case_mix(bundled):
    spec = TrialSpec(reference_date="2026-06-30", comparison="concurrent_and_before")
    pop = trial_population(bundled, spec)
    share_high = pop.assign(high=pop["severity"] == "high").groupby("treated")["high"].mean()
    assert share_high[1] - share_high[0] > 0.08
    mean_prior = pop.groupby("treated")["prior_reports"].mean()
    assert mean_prior[1] > mean_prior[0]
    # households in regular care look alike at pilot sites (before the start) and elsewhere
    untreated = pop[pop["treated"] == 0]
    by_source = untreated.assign(high=untreated["severity"] == "high").groupby("comparison_source")["high"].mean()
    assert abs(by_source["before_pilot_start"] - by_source["comparison_site"]) < 0.05


def test_true_effects_are_consistent(bundled):
    t = synth.TRUE_PILOT_EFFECTS
    assert t["reregistration_hr"]["pilot"] == pytest.approx(np.exp(t["reregistration_loghr"]["pilot"]))
    for k, v in t["measure_hr"].items():
        assert v == pytest.approx(np.exp(t["measure_loghr"][k]))
    assert t["safety"]["pilot_change_12m"] == pytest.approx(12 * t["safety"]["pilot_slope_per_month"])
    # the new way lowers both risks in the trial population
    pop = trial_population(bundled, TrialSpec(reference_date="2026-06-30"))
    for outcome in ("legal_measure", "reregistration"):
        risks = comparison.true_risks(pop, outcome)
        assert (risks["risk_pilot"] < risks["risk_comparison"]).all()
        assert risks["risk_comparison"].is_monotonic_increasing


def test_same_seed_same_bytes_and_chunks_equal_one_pass(tmp_path, monkeypatch):
    write.synthesize(tmp_path / "a", seed=3, households=1_500, design="comparison")
    write.synthesize(tmp_path / "b", seed=3, households=1_500, design="comparison")
    for name in TABLE_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    monkeypatch.setattr(comparison, "_CHUNK_HOUSEHOLDS", 400)
    write.synthesize(tmp_path / "c", seed=3, households=1_500, design="comparison")
    chunked = load(tmp_path / "c", cache_dir=False)
    assert chunked.validation.ok
    assert len(chunked.households) == 1_500 and chunked.households["household_id"].is_unique
    assert chunked.episodes["episode_id"].is_unique


def test_the_pilot_design_is_unchanged_by_the_comparison_design(tmp_path):
    # the default design takes no comparison sites and no new columns
    write.synthesize(tmp_path, seed=5, households=300)
    header = (tmp_path / "sites.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "site,name,delivery_start,delivery_end"


def test_cli_writes_the_comparison_design(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "out"), "--design", "comparison", "--households", "400"]) == 0
    assert "households 400" in capsys.readouterr().out
    sites = pd.read_csv(tmp_path / "out" / "sites.csv")
    assert set(sites["arm"]) == {"pilot", "comparison"}


def test_cli_faults_are_for_the_pilot_design(tmp_path, capsys):
    assert main(["synth", str(tmp_path), "--design", "comparison", "--faults"]) == 2
    assert "pilot design only" in capsys.readouterr().err


def test_the_monitor_command_counts_pilot_sites_unless_asked(capsys):
    assert main(["monitor", str(BUNDLED), "--reference-date", "2024-12-31", "--csv"]) == 0
    pilot = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert main(["monitor", str(BUNDLED), "--reference-date", "2024-12-31", "--csv", "--arm", "all"]) == 0
    both = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert main(["monitor", str(BUNDLED), "--reference-date", "2024-12-31", "--csv", "--arm", "comparison"]) == 0
    comp = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))

    def involved(series):
        row = series[(series["indicator"] == "households_involved") & (series["interval_end"] == "2024-12-31")]
        return int(row["numerator"].iloc[0])

    assert involved(pilot) + involved(comp) == involved(both)
    assert 0 < involved(comp) < involved(pilot)
