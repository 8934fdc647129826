"""The synthetic data generator: calibration, determinism, structure, faults, true effects."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.cli import main
from cohort.delivery import schema
from cohort.synth import generate as synth
from cohort.synth import write

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "default"
TABLE_FILES = sorted([*(f"{name}.csv" for name in schema.TABLES), "columns.yaml"])


# ----------------------------------------------------------------------------- helpers


def read_csv_delivery(folder: Path) -> dict[str, pd.DataFrame]:
    """Read a delivery with plain pandas (independent of cohort.io)."""
    out = {}
    for name, spec in schema.TABLES.items():
        df = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False, encoding="utf-8")
        for col in spec.columns:
            if col.kind == "date" and col.name in df:
                df[col.name] = pd.to_datetime(df[col.name].replace("", None), format="%Y-%m-%d")
        out[name] = df
    return out


def own_monitor(t: dict[str, pd.DataFrame], d: str) -> dict[str, int]:
    """The published figures, written out from docs/definitions.md without the package."""
    day = pd.Timestamp(d)
    start = pd.Timestamp("2023-01-01")
    ep = t["episodes"]
    reg, close = ep["registration_date"], ep["closure_date"]
    involved = ep.loc[(reg <= day) & (close.isna() | (close >= start)), "household_id"].nunique()
    active = ep.loc[(reg <= day) & (close.isna() | (close > day)), "household_id"].nunique()
    q = (reg >= pd.Timestamp("2024-10-01")) & (reg <= pd.Timestamp("2024-12-31"))
    childless = set(t["households"].loc[t["households"]["has_children"] == "false", "household_id"])
    lm = t["legal_measures"]["start_date"]
    return {
        "households_involved": involved,
        "households_active": active,
        "ended_since_start": involved - active,
        "registrations_q4": int(q.sum()),
        "registrations_q4_without_children": int((q & ep["household_id"].isin(childless)).sum()),
        "legal_measures": int(((lm >= start) & (lm <= day)).sum()),
    }


@pytest.fixture(scope="module")
def committed():
    return read_csv_delivery(DEFAULT_DIR)


@pytest.fixture(scope="module")
def large():
    """A scaled, uncalibrated delivery: a plain draw from the model."""
    return synth.generate(seed=2026, households=20_000)


# ----------------------------------------------------------------------------- the published figures


def test_committed_delivery_reproduces_the_published_monitor(committed):
    got = own_monitor(committed, "2024-12-31")
    assert got == {
        "households_involved": 1653,
        "households_active": 1185,
        "ended_since_start": 468,
        "registrations_q4": 557,
        "registrations_q4_without_children": 88,
        "legal_measures": 199,
    }
    assert own_monitor(committed, "2024-06-30")["households_active"] == 812
    assert round(88 / 557 * 100, 1) == 15.8
    assert round(199 / 1653 * 100) == 12


def test_published_figures_by_the_indicator_module():
    from cohort.delivery.load import load
    from cohort.monitor import indicators

    delivery = load(DEFAULT_DIR, cache_dir=False)
    c = indicators.indicator_counts(delivery, "2024-12-31", intervals=[("2024-10-01", "2024-12-31")])
    got = dict(zip(c["indicator"], c["count"], strict=True))
    assert got["households_involved"] == 1653
    assert got["households_active"] == 1185
    assert got["ended_since_start"] == 468
    assert got["registrations"] == 557
    assert got["registrations_without_children"] == 88
    assert got["legal_measures"] == 199
    mid = indicators.indicator_counts(
        delivery, "2024-12-31", ["households_active"], intervals=[("2024-04-01", "2024-06-30")]
    )
    assert mid["count"].iloc[0] == 812


@pytest.mark.parametrize("seed", [1, 77])
def test_calibration_holds_for_other_seeds(seed):
    d = synth.generate(seed=seed)
    f = synth.monitor_figures(d.tables, "2024-12-31")
    assert (f["households_involved"], f["households_active"], f["ended_since_start"]) == (1653, 1185, 468)
    assert (f["registrations"], f["registrations_without_children"], f["legal_measures"]) == (557, 88, 199)
    assert synth.monitor_figures(d.tables, "2024-06-30")["households_active"] == 812


def test_data_after_the_reference_date_exists_and_reaches_the_final_report(committed):
    ep = committed["episodes"]
    assert ep["registration_date"].max() > pd.Timestamp("2026-06-30")
    assert ep["registration_date"].max() <= pd.Timestamp("2026-09-30")
    assert (ep["registration_date"] > pd.Timestamp("2024-12-31")).sum() > 1000


# ----------------------------------------------------------------------------- regeneration


def test_committed_delivery_is_a_fresh_generation(tmp_path):
    write.synthesize(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == TABLE_FILES
    assert sorted(p.name for p in DEFAULT_DIR.iterdir()) == TABLE_FILES
    match, mismatch, errors = filecmp.cmpfiles(DEFAULT_DIR, tmp_path, TABLE_FILES, shallow=False)
    assert mismatch == [] and errors == []


def test_same_seed_gives_identical_bytes_other_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write.synthesize(a, seed=7, households=2_000)
    write.synthesize(b, seed=7, households=2_000)
    write.synthesize(c, seed=8, households=2_000)
    for name in TABLE_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "episodes.csv").read_bytes() != (c / "episodes.csv").read_bytes()


def test_chunked_writing_equals_the_in_memory_tables(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "_CHUNK_HOUSEHOLDS", 700)
    write.synthesize(tmp_path, seed=3, households=2_000)
    d = synth.generate(seed=3, households=2_000)
    on_disk = read_csv_delivery(tmp_path)
    for name, df in d.tables.items():
        assert len(on_disk[name]) == len(df)
        key = schema.TABLES[name].key
        assert on_disk[name][key].is_unique and on_disk[name][key].is_monotonic_increasing
    assert on_disk["safety_assessments"]["score"].astype(float).sum() == pytest.approx(
        d.safety_assessments["score"].astype(float).sum()
    )


def test_parquet_round_trip(tmp_path):
    write.synthesize(tmp_path, seed=5, households=300, format="parquet")
    d = synth.generate(seed=5, households=300)
    for name, df in d.tables.items():
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_csv_format(committed):
    text = (DEFAULT_DIR / "sites.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "site,name,delivery_start,delivery_end"
    assert "FRL,Fryslân,2023-01-01,2024-12-31" in text
    assert "\r" not in text
    for name, df in committed.items():
        # the data model's columns in its order (the default delivery leaves out the sites'
        # optional arm and pilot_start: every site is a pilot site from its delivery start)
        expected = tuple(c for c in schema.TABLES[name].column_names if c in df.columns)
        assert tuple(df.columns[: len(expected)]) == expected
        assert set(schema.TABLES[name].required_columns) <= set(expected)
    scores = (DEFAULT_DIR / "safety_assessments.csv").read_text().splitlines()[1].split(",")[5]
    assert scores.endswith(".0")


# ----------------------------------------------------------------------------- structure


def test_default_delivery_validates_cleanly():
    from cohort.delivery import validate

    report = validate.validate_delivery(DEFAULT_DIR)
    assert report.violations.empty
    acc = report.accounting
    assert (acc["rows_read"] == acc["rows_accepted"]).all()


def test_pseudonyms_are_visibly_synthetic(committed):
    for name, df in committed.items():
        for col in schema.ID_COLUMNS:
            if col in df:
                assert df[col].str.match(r"^SYN-[HEMAR]\d{8}$").all(), (name, col)


def test_sites_stop_and_start(committed):
    sites = committed["sites"].set_index("site")
    ep = committed["episodes"]
    assert sites.loc["FRL", "delivery_end"] == pd.Timestamp("2024-12-31")
    assert sites.loc["GRO", "delivery_start"].year == 2025
    frl = ep[ep["site"] == "FRL"]
    assert frl["registration_date"].max() <= pd.Timestamp("2024-12-31")
    assert (frl["closure_date"] <= pd.Timestamp("2024-12-31")).all()  # all closed when it stopped
    assert ep.loc[ep["site"] == "GRO", "registration_date"].min() >= pd.Timestamp("2025-01-01")
    year = ep["registration_date"].dt.year
    assert ep.loc[year <= 2024, "site"].nunique() == 12
    assert ep.loc[year == 2025, "site"].nunique() == 12  # FRL gone, GRO new
    ref = committed["referrals"].merge(committed["households"][["household_id", "site"]])
    assert ref.loc[ref["site"] == "FRL", "referral_date"].max() <= pd.Timestamp("2024-12-31")


def test_sites_differ(large):
    ep = large.episodes.merge(large.households[["household_id", "severity"]])
    high = ep.groupby("site")["severity"].apply(lambda s: (s == "high").mean())
    assert high["RRN"] > high["ZWL"] + 0.05
    per_hh = large.legal_measures.groupby("household_id").size()
    share = large.households.assign(m=large.households["household_id"].isin(per_hh.index))
    share = share.groupby("site")["m"].mean()
    assert share["FLE"] > share["ZWL"]


def test_share_without_children_rises(large):
    first = large.episodes.groupby("household_id")["registration_date"].min()
    hh = large.households.set_index("household_id")
    year = first.reindex(hh.index).dt.year
    share = (~hh["has_children"].astype(bool)).groupby(year).mean()
    assert share[2023] < share[2024] < share[2025] < share[2026]
    assert 0.10 < share[2023] < 0.16 and 0.16 < share[2025] < 0.22


def test_scores_waves_and_respondents(committed, large):
    sa = committed["safety_assessments"]
    score = sa["score"].astype(float)
    assert score.between(0, 10).all()
    assert set(sa["wave"]) == {"T0", "T1", "T2", "T3"}
    assert set(sa["respondent"]) == set(schema.RESPONDENTS)
    s = large.safety_assessments
    mean = s.groupby("wave")["score"].mean()
    assert mean["T0"] < mean["T1"] < mean["T2"] < mean["T3"]  # improving on average
    per_wave = s[s["respondent"] == "professional"].groupby("wave").size()
    assert per_wave["T0"] > per_wave["T1"] > per_wave["T2"] > per_wave["T3"]  # missed waves, dropout
    ep = large.episodes.set_index("episode_id")
    closure = s["episode_id"].map(ep["closure_date"])
    assert not (s["assessment_date"] > closure).any()  # closed episodes stop being assessed
    childless = large.households.loc[~large.households["has_children"], "household_id"]
    assert not s.loc[s["respondent"] == "child", "household_id"].isin(childless).any()


def test_every_episode_has_a_referral_on_or_just_before_registration(large):
    ep, ref = large.episodes, large.referrals
    m = ep[["episode_id", "household_id", "registration_date"]].merge(ref, on="household_id")
    lag = (m["registration_date"] - m["referral_date"]).dt.days
    ok = m[(lag >= 0) & (lag <= 21)]
    assert ok["episode_id"].nunique() == len(ep)


def test_moves_closures_and_reregistrations(large):
    ep, hh = large.episodes, large.households.set_index("household_id")
    moved = ep[ep["closure_reason"] == schema.MOVED_AWAY]
    assert len(moved) > 100
    assert (moved["closure_date"].to_numpy() == hh.loc[moved["household_id"], "moved_out_date"].to_numpy()).all()
    last_close = ep.groupby("household_id")["closure_date"].max()
    later = hh["moved_out_date"] > last_close.reindex(hh.index)
    assert later.sum() > 100  # moves after a closure: the competing event
    assert set(ep["closure_reason"].dropna()) == set(schema.CLOSURE_REASONS)
    per_hh = ep.groupby("household_id").size()
    assert (per_hh >= 2).sum() > 500 and (per_hh >= 3).sum() > 5
    # several re-registrations per household happen (referrals after a closure)
    ref = large.referrals.merge(ep[["household_id", "closure_date"]].dropna(), on="household_id")
    after = ref[ref["referral_date"] > ref["closure_date"]]
    assert (after.groupby("household_id")["referral_id"].nunique() >= 2).sum() > 100


def test_reregistration_within_a_year_is_about_a_fifth(large):
    x = first_closures(large)
    full = x[x["censor"] >= 365]
    within = (full["event"] == 1) & (full["T"] <= 365)
    assert 0.15 <= within.mean() <= 0.25


# ----------------------------------------------------------------------------- true effects


def first_closures(d) -> pd.DataFrame:
    """Gap from each household's first closure (not a move) to its first re-registration,
    by the definition in docs/definitions.md (censoring at move, delivery end)."""
    ep, ref, hh = d.episodes, d.referrals, d.households
    first = ep.sort_values(["household_id", "registration_date"]).groupby("household_id").head(1)
    c = first[first["closure_date"].notna() & (first["closure_reason"] != schema.MOVED_AWAY)]
    c = c[["household_id", "site", "closure_date"]]
    events = pd.concat(
        [
            ref[["household_id", "referral_date"]].set_axis(["household_id", "d"], axis=1),
            ep[["household_id", "registration_date"]].set_axis(["household_id", "d"], axis=1),
        ]
    )
    m = c.merge(events, on="household_id")
    nxt = m[m["d"] > m["closure_date"]].groupby("household_id")["d"].min()
    c = c.assign(next=c["household_id"].map(nxt))
    end = c["site"].map(d.sites.set_index("site")["delivery_end"])
    mv = c["household_id"].map(hh.set_index("household_id")["moved_out_date"])
    censor = pd.concat([end, mv.where(mv > c["closure_date"])], axis=1).min(axis=1)
    event = c["next"].notna() & (c["next"] <= censor)
    c = c.assign(
        event=event.astype(int),
        T=(c["next"].where(event, censor) - c["closure_date"]).dt.days,
        censor=(censor - c["closure_date"]).dt.days,
    )
    x = c.merge(hh[["household_id", "has_children", "severity", "prior_reports"]], on="household_id")
    return x.assign(
        no_children=(~x["has_children"].astype(bool)).astype(int),
        severity_high=(x["severity"] == "high").astype(int),
        prior_reports=x["prior_reports"].astype(float),
    )


def test_cox_recovers_the_true_reregistration_hazard_ratios(large):
    lifelines = pytest.importorskip("lifelines")
    x = first_closures(large)
    x = x[x["T"] > 0]
    cph = lifelines.CoxPHFitter().fit(
        x[["T", "event", "no_children", "severity_high", "prior_reports", "site"]],
        "T",
        "event",
        strata=["site"],
    )
    s = cph.summary
    true = synth.TRUE_EFFECTS["reregistration_loghr"]
    for term in ("no_children", "severity_high", "prior_reports"):
        assert s.loc[term, "coef lower 95%"] <= true[term] <= s.loc[term, "coef upper 95%"], term


def test_logistic_recovers_the_true_measure_effects(large):
    smf = pytest.importorskip("statsmodels.formula.api")
    ep = large.episodes
    e = ep[ep["closure_date"].notna()].merge(large.households[["household_id", "severity", "prior_reports"]])
    e = e.assign(
        measure=e["episode_id"].isin(large.legal_measures["episode_id"]).astype(int),
        high=(e["severity"] == "high").astype(int),
        prior_reports=e["prior_reports"].astype(float),
        site=e["site"].astype(str),
    )
    fit = smf.logit('measure ~ high + prior_reports + C(site, Treatment("UTR"))', data=e).fit(disp=0)
    ci = fit.conf_int()
    true = synth.TRUE_EFFECTS["measure_logodds"]
    for term, name in (("Intercept", "intercept"), ("high", "severity_high"), ("prior_reports", "prior_reports")):
        assert ci.loc[term, 0] <= true[name] <= ci.loc[term, 1], term


def test_safety_slope_and_severity_difference(large):
    smf = pytest.importorskip("statsmodels.formula.api")
    s = large.safety_assessments.merge(large.episodes[["episode_id", "registration_date"]])
    s = s.merge(large.households[["household_id", "severity"]])
    s = s.assign(
        months=(s["assessment_date"] - s["registration_date"]).dt.days / 30.4375,
        high=(s["severity"] == "high").astype(int),
        score=s["score"].astype(float),
        respondent=s["respondent"].astype(str),
    )
    fit = smf.ols('score ~ months + high + C(respondent, Treatment("professional"))', data=s).fit()
    true = synth.TRUE_EFFECTS["safety"]
    # rounding to whole points and clipping at 0 and 10 attenuate a little
    assert fit.params["months"] == pytest.approx(true["slope_per_month"], abs=0.01)
    assert fit.params["high"] == pytest.approx(true["severity_high"], abs=0.1)
    assert fit.params["Intercept"] == pytest.approx(true["intercept"], abs=0.1)


# ----------------------------------------------------------------------------- faults


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    out = tmp_path_factory.mktemp("faulty")
    summary = write.synthesize(out, seed=11, households=3_000, faults=True)
    return out, summary


def test_faults_are_listed_and_cover_the_rules(faulty):
    out, summary = faulty
    manifest = pd.read_csv(out / synth.FAULTS_FILE, keep_default_na=False)
    assert summary["faults"] == len(manifest) == len(synth.FAULTS) + 1  # duplicate id: two rows
    assert set(manifest["rule"]) == {f[2] for f in synth.FAULTS}
    assert (manifest["row"] >= 2).all()


def test_every_planted_fault_is_reported_by_the_validator(faulty):
    from cohort.delivery import validate

    out, _ = faulty
    manifest = pd.read_csv(out / synth.FAULTS_FILE, keep_default_na=False)
    unknown = set(manifest["rule"]) - set(validate.RULES)
    assert not unknown
    v = validate.validate_delivery(out).violations
    found = manifest.merge(v[["table", "row", "rule"]].drop_duplicates(), on=["table", "row", "rule"])
    assert len(found) == len(manifest)


def test_faults_are_off_by_default(tmp_path):
    summary = write.synthesize(tmp_path, seed=11, households=300)
    assert summary["faults"] == 0
    assert not (tmp_path / synth.FAULTS_FILE).exists()


def test_faults_need_csv(tmp_path):
    from cohort.exceptions import ParameterError

    with pytest.raises(ParameterError, match="csv"):
        write.synthesize(tmp_path, households=100, faults=True, format="parquet")


# ----------------------------------------------------------------------------- command line


def test_cli_writes_a_delivery(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "out"), "--households", "150", "--seed", "9"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == TABLE_FILES
    assert "households 150" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_cli_rejects_bad_household_counts(tmp_path, bad):
    with pytest.raises(SystemExit) as info:
        main(["synth", str(tmp_path), "--households", bad])
    assert info.value.code == 2


def test_cli_faults_with_parquet_is_a_user_error(tmp_path, capsys):
    code = main(["synth", str(tmp_path), "--households", "100", "--faults", "--format", "parquet"])
    assert code == 2
    assert "csv" in capsys.readouterr().err


def test_true_effects_are_consistent_with_the_model():
    rr = synth.TRUE_EFFECTS["reregistration_loghr"]
    hr = synth.TRUE_EFFECTS["reregistration_hr"]
    for term, value in hr.items():
        assert np.log(value) == pytest.approx(rr[term])
    assert rr["site"]["UTR"] == 0.0 and synth.TRUE_EFFECTS["measure_logodds"]["site"]["UTR"] == 0.0
    assert {s.code for s in synth.SITES} == set(rr["site"])


def test_negative_seed_is_a_user_error(tmp_path, capsys):
    assert main(["synth", str(tmp_path), "--seed", "-1", "--households", "10"]) == 2
    assert "--seed" in capsys.readouterr().err


def test_generate_with_faults_returns_the_delivered_text():
    d = synth.generate(seed=4, households=1_500, faults=True)
    assert d.tables["legal_measures"]["start_date"].eq("2024-02-30").sum() == 1
    assert list(d.faults.columns) == ["table", "row", "column", "rule", "description"]
