"""The effects section of the reports: its data, its releases, its figures, its text.

Unit tests release real fits on the bundled comparison delivery (fitted once for the
module) and judge every released table with the release check's own content rules; the
build tests run the section's notebook alone on the final parameters and on parameters
without a comparison delivery, as `cohort report` runs it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohort.disclosure.check import check_release, check_table, column_roles
from cohort.disclosure.policy import DisclosurePolicy
from cohort.disclosure.release import release
from cohort.disclosure.writer import released_text
from cohort.exceptions import DefinitionError, DisclosureError, ParameterError, ReportError
from cohort.report.params import check_comparison_delivery, load_params

ROOT = Path(__file__).resolve().parents[2]
INTERIM = ROOT / "parameters" / "interim-2024q4.yaml"
FINAL = ROOT / "parameters" / "final-2026.yaml"
POLICY = DisclosurePolicy()

#: Tables of the section (and the figure data), in the final report.
EFFECT_TABLES = (
    "effects_attrition", "effects_propensity_model", "effects_balance", "effects_weights",
    "effects_legal_measure_risks", "effects_reregistration_risks", "effects_hazard_ratios",
    "effects_doubly_robust", "effects_safety", "effects_staggered_att_gt", "effects_staggered_overall",
)
EFFECT_FIGURE_DATA = (
    "effects_balance", "effects_legal_measure_cif", "effects_legal_measure_cif_at_risk", "effects_reregistration_cif",
    "effects_reregistration_cif_at_risk", "effects_event_study",
)


def passes_the_release_check(table: pd.DataFrame, name: str = "t.csv") -> list:
    """Findings of the release check on ``table`` as it would be written (text, content rules)."""
    text = released_text(table)
    roles = {c: r for c, r in column_roles(text).items()}
    return check_table(text, name, POLICY, roles=roles)


@pytest.fixture(scope="module")
def fits():
    from cohort.definitions.site_panel import site_quarter_panel
    from cohort.definitions.target_trial import (
        legal_measure_trial,
        reregistration_trial,
        safety_trial,
    )
    from cohort.report.notebook import Report
    from cohort.stats.ate import AverageTreatmentEffect
    from cohort.stats.balance import Balance, WeightDistribution
    from cohort.stats.by_analysis import ByAnalysis
    from cohort.stats.propensity import PropensityScore
    from cohort.stats.staggered_did import StaggeredDiD
    from cohort.stats.weighted_aalen_johansen import WeightedAalenJohansen
    from cohort.stats.weighted_cox import WeightedCoxPH
    from cohort.stats.weighted_mean import WeightedMeanDifference

    params = load_params(FINAL)
    report = Report(params)
    population = report.effects_population()
    spec = params.effects
    cov = list(spec.covariates)
    trials = {"legal_measures": legal_measure_trial(population, spec),
              "reregistration": reregistration_trial(population, spec),
              "safety": safety_trial(population, spec)}
    ps = {k: PropensityScore().fit(t, "treated", cov, cluster_col="cluster") for k, t in trials.items()}
    horizons = [m * 30.4375 for m in spec.horizons_months]
    panel = site_quarter_panel(population, spec.reference_date)
    did = StaggeredDiD(bootstrap_replications=199, seed=1).fit(
        panel.assign(y=np.log(panel["first_registrations"])), "y", "site", "period", "group_period")
    return {
        "report": report, "population": population, "trials": trials, "ps": ps, "panel": panel, "did": did,
        "balance": ByAnalysis({k: Balance().fit(t, "treated", cov, propensity=ps[k]) for k, t in trials.items()}),
        "weights": ByAnalysis({k: WeightDistribution().fit(p) for k, p in ps.items()}),
        "curves": WeightedAalenJohansen(horizons_days=horizons).fit(
            trials["legal_measures"], "time", "status", "arm", propensity=ps["legal_measures"], causes=[1]),
        "cox": {k: WeightedCoxPH().fit(trials[k], "time", "event", ["treated"], propensity=ps[k])
                for k in ("legal_measures", "reregistration")},
        "aiptw": AverageTreatmentEffect("AIPTW", times=horizons).fit(
            trials["reregistration"], "time", "status", "treated", cov),
        "safety": WeightedMeanDifference().fit(trials["safety"], "change", "arm", propensity=ps["safety"]),
    }


def _without_comparison_delivery():
    """The interim parameters without a comparison delivery: the report's own delivery,
    which holds no comparison regions."""
    from cohort.report.params import from_mapping

    return from_mapping({**load_params(INTERIM).raw, "comparison_delivery": None}, "interim without comparison")


# ---------------------------------------------------------------------- the data


def test_the_section_reads_both_arms_of_the_comparison_delivery_and_the_reports_pilot_sites(fits):
    from cohort.definitions.population import arm_counts
    from cohort.report.notebook import Report

    counts = arm_counts(fits["population"]).set_index("arm")["sites"]
    assert (counts["pilot"], counts["comparison"]) == (11, 8)
    subset = Report(dataclasses.replace(load_params(FINAL), sites=("AMS", "GRO", "UTR")))
    arms = arm_counts(subset.effects_population()).set_index("arm")["sites"]
    # GRO is a pilot site of the report's delivery only: the comparison delivery has AMS and UTR
    assert (arms["pilot"], arms["comparison"]) == (2, 8)
    own = arm_counts(Report(_without_comparison_delivery()).effects_population()).set_index("arm")["sites"]
    assert own["comparison"] == 0, "the report's own delivery has no comparison regions"


def test_the_comparison_delivery_must_hold_comparison_regions(tmp_path):
    final = load_params(FINAL)
    check_comparison_delivery(final)  # the bundled comparison delivery passes
    wrong = dataclasses.replace(final, comparison_delivery=ROOT / "data" / "synthetic" / "default")
    with pytest.raises(ParameterError, match="parameter 'comparison_delivery': the delivery default holds no "
                                             "comparison region"):
        check_comparison_delivery(wrong)


def test_the_section_says_why_it_estimates_nothing(fits):
    from cohort.report.notebook import Report

    final = load_params(FINAL)
    assert fits["report"].effects_status() == "ok"
    assert Report(_without_comparison_delivery()).effects_status() == "no_comparison_delivery"
    # a pilot site of the report's delivery that the comparison delivery does not hold
    assert Report(dataclasses.replace(final, sites=("GRO",))).effects_status() == "no_pilot"
    # GLZ has 314 households: enough at the threshold 10, too few at 400
    assert Report(dataclasses.replace(final, sites=("GLZ",))).effects_status() == "ok"
    high = dataclasses.replace(final, sites=("GLZ",), disclosure=DisclosurePolicy(threshold=400))
    assert Report(high).effects_status() == "too_few"
    assert fits["report"].effects_status({"legal_measures": False, "safety": False}) == "too_few"


def test_an_analysis_with_too_few_households_or_events_in_an_arm_is_not_estimable(fits):
    from cohort.definitions.target_trial import (
        legal_measure_trial,
        reregistration_trial,
        safety_trial,
    )
    from cohort.report.notebook import Report

    assert fits["report"].estimable(fits["trials"]) == {"legal_measures": True, "reregistration": True,
                                                        "safety": True}
    subset = Report(dataclasses.replace(load_params(FINAL), sites=("GLZ",)))
    population, spec = subset.effects_population(), subset.params.effects
    trials = {"legal_measures": legal_measure_trial(population, spec),
              "reregistration": reregistration_trial(population, spec),
              "safety": safety_trial(population, spec)}
    # GLZ started in 2025: 148 households with 8 first measures, 35 closures with 2
    # re-registrations, 22 households with a safety score at T0 and T2
    pilot = trials["legal_measures"]["treated"].eq(1)
    assert int(trials["legal_measures"].loc[pilot, "event"].sum()) == 8
    assert subset.estimable(trials) == {"legal_measures": False, "reregistration": False, "safety": True}
    off = Report(dataclasses.replace(load_params(FINAL), sites=("GLZ",),
                                     disclosure=DisclosurePolicy(threshold=10, enabled=False)))
    assert off.estimable(trials) == {"legal_measures": True, "reregistration": True, "safety": True}


# ---------------------------------------------------------------------- the releases


def test_every_result_of_the_section_has_a_rule_and_passes_the_release_check(fits):
    panel = fits["panel"]
    released = {
        "propensity": release(fits["ps"]["legal_measures"], POLICY),
        "balance": release(fits["balance"], POLICY),
        "weights": release(fits["weights"], POLICY),
        "risks": release(fits["curves"], POLICY),
        "hazard_ratios": release(fits["cox"]["legal_measures"], POLICY),
        "aiptw": release(fits["aiptw"], POLICY),
        "safety": release(fits["safety"], POLICY),
        **{part: release(fits["did"], POLICY, panel=panel, households="first_registrations", part=part)
           for part in ("att_gt", "event_study", "overall")},
    }
    for name, table in released.items():
        assert table.attrs["disclosure"]["applied"], name
        assert passes_the_release_check(table, name) == [], name
    assert released["aiptw"]["suppressed"].tolist() == [False, False, False]


def test_tables_of_several_analyses_stack_under_one_record(fits):
    table = release(fits["balance"], POLICY)
    assert table.columns[0] == "analysis"
    assert table["analysis"].unique().tolist() == ["legal_measures", "reregistration", "safety"]
    parts = [release(b, POLICY) for b in fits["balance"].values()]
    assert len(table) == sum(len(p) for p in parts)
    assert table.attrs["disclosure"]["count_columns"] == ["n_pilot", "n_comparison"]
    about = fits["balance"].describe()
    assert about["model"] == "Balance" and list(about["parts"]) == ["legal_measures", "reregistration", "safety"]


def test_by_analysis_holds_fitted_results_of_one_kind(fits):
    from cohort.stats.by_analysis import ByAnalysis

    with pytest.raises(DefinitionError, match="one kind"):
        ByAnalysis(a=fits["safety"], b=fits["aiptw"])
    with pytest.raises(DefinitionError, match="at least one"):
        ByAnalysis()


def test_the_hazard_ratio_counts_the_households_and_events_of_each_arm(fits):
    from cohort.disclosure.effects import release_hazard_ratio

    trial = fits["trials"]["legal_measures"]
    cox = fits["cox"]["legal_measures"]
    from_model = release(cox, POLICY)
    from_table = release_hazard_ratio(cox, trial, policy=POLICY)
    pd.testing.assert_frame_equal(from_model, from_table)
    pilot = trial["treated"] == 1
    assert int(from_model.at[0, "households_pilot"]) == int(pilot.sum())
    assert int(from_model.at[0, "events_comparison"]) == int(trial.loc[~pilot, "event"].sum())
    few = release(cox, DisclosurePolicy(threshold=300))  # fewer than 300 events in the comparison arm
    assert bool(few.at[0, "suppressed"]) and pd.isna(few.at[0, "hazard_ratio"])


def test_the_aiptw_release_equals_the_rule_on_the_trial_table(fits):
    from cohort.disclosure.effects import release_ate

    trial = fits["trials"]["reregistration"]
    pd.testing.assert_frame_equal(release(fits["aiptw"], POLICY), release_ate(fits["aiptw"], trial, policy=POLICY))


def test_a_risk_table_of_one_cause_has_no_cause_column_and_marks_what_it_suppresses(fits):
    risks = release(fits["curves"], POLICY)
    assert "cause" not in risks.columns
    assert "cause" not in risks.attrs["disclosure"]["value_columns"] + risks.attrs["disclosure"]["count_columns"]
    text = released_text(risks)
    hidden = risks["suppressed"].to_numpy(dtype=bool)
    assert hidden.any(), "the legal measures at 24 months rest on too few households at risk"
    assert (text.loc[hidden, "difference"] == "[suppressed]").all()


def test_the_weights_table_names_households_marks_hidden_percentiles_and_leaves_out_truncation(fits):
    weights = release(fits["weights"], DisclosurePolicy(threshold=10))
    assert "truncated" not in weights.columns and "min" not in weights.columns and "max" not in weights.columns
    assert "households" in weights.attrs["disclosure"]["count_columns"]
    text = released_text(weights)
    small = text["p01"] == "[suppressed]"  # the comparison arm of the safety analysis: 696 x 1% < 10
    assert small.any()
    assert (weights.loc[small.to_numpy(), "suppressed"]).all(), "a row with a hidden cell is flagged"
    assert (text.loc[small, "median"] != "[suppressed]").all(), "only the hidden cells carry the marker"


def test_the_staggered_tables_name_quarters_and_leave_out_numbers_of_sites(fits):
    panel, did = fits["panel"], fits["did"]
    att = release(did, POLICY, panel=panel, households="first_registrations", part="att_gt")
    assert att["group"].iloc[0] == "2023Q1" and att["time"].str.match(r"^\d{4}Q[1-4]$").all()
    assert not {"sites_treated", "sites_control", "groups"} & set(att.columns)
    overall = release(did, POLICY, panel=panel, households="first_registrations", part="overall")
    assert list(overall["aggregation"]) == ["simple", "group", "dynamic"]
    assert not {"households_treated", "households_control", "groups", "sites_treated"} & set(overall.columns)
    with pytest.raises(DisclosureError, match="part must be one of"):
        release(did, POLICY, panel=panel, households="first_registrations", part="everything")


def test_an_aggregate_is_hidden_whenever_a_cell_it_averages_is(fits):
    panel, did = fits["panel"], fits["did"]
    att = release(did, POLICY, panel=panel, households="first_registrations", part="att_gt")
    es = release(did, POLICY, panel=panel, households="first_registrations", part="event_study")
    hidden_post = att["post"].to_numpy(dtype=bool) & att["suppressed"].to_numpy(dtype=bool)
    overall = release(did, POLICY, panel=panel, households="first_registrations", part="overall")
    assert overall["suppressed"].all() == bool(hidden_post.any())
    assert len(es) == len(did.event_study_) and es["suppressed"].any()


# ---------------------------------------------------------------------- the figures


def test_the_weighted_curves_draw_their_released_tables_with_the_arms_named(fits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cohort.disclosure.effects import weighted_curves_figure_data
    from cohort.plots.effects import plot_weighted_curves
    from cohort.plots.style import figure_facts

    tables = weighted_curves_figure_data(fits["curves"], POLICY, risk_times=[m * 30.4375 for m in (0, 6, 12)])
    at_risk = tables["_at_risk"]
    assert list(at_risk.columns) == ["group", "months", "n_risk", "suppressed"]
    assert at_risk["months"].tolist() == [0.0, 6.0, 12.0, 0.0, 6.0, 12.0]
    for name, table in tables.items():
        assert passes_the_release_check(table, name or "curve") == []
    fig = plot_weighted_curves(*tables.values(), labels={"pilot": "proeftuinen", "comparison": "vergelijking"},
                               language="nl")
    facts = figure_facts(fig)
    assert facts["groups"] == ["proeftuinen", "vergelijking"]
    assert facts["at_risk"][:3] == [int(v) for v in at_risk["n_risk"].iloc[:3]]
    plt.close(fig)
    with pytest.raises(DisclosureError, match="draws released tables only"):
        plot_weighted_curves(fits["curves"].table_, at_risk)


def test_the_balance_figure_draws_the_released_balance_cells(fits):
    import matplotlib

    matplotlib.use("Agg")
    from cohort.disclosure.effects import balance_figure_data
    from cohort.plots.effects import plot_balance
    from cohort.plots.style import figure_facts

    table = release(fits["balance"], POLICY)
    drawn = balance_figure_data(fits["balance"], POLICY)[""]
    assert list(drawn.columns) == ["analysis", "term", "smd_unweighted", "smd_weighted", "suppressed"]
    pd.testing.assert_frame_equal(drawn, table[list(drawn.columns)], check_like=False)
    assert passes_the_release_check(drawn) == []
    # after weighting every term is balanced (|SMD| < 0.1); before, severity and prior reports are not
    assert drawn["smd_weighted"].abs().max() < 0.1
    assert drawn.loc[drawn["term"] == "severity: high", "smd_unweighted"].abs().min() > 0.2
    facts = figure_facts(plot_balance(drawn))
    assert facts["analyses"] == ["legal_measures", "reregistration", "safety"]
    assert facts["terms"][0] == "severity: high" and facts["suppressed_terms"] == []
    with pytest.raises(DisclosureError, match="plot_balance draws released tables only"):
        plot_balance(fits["balance"]["safety"].table_)
    # a term too small in one analysis is marked, not drawn
    small = DisclosurePolicy(threshold=700)
    hidden = balance_figure_data(fits["balance"], small)[""]
    assert hidden["suppressed"].any()
    assert set(figure_facts(plot_balance(hidden))["suppressed_terms"]) == set(
        hidden.loc[hidden["suppressed"].fillna(False).astype(bool), "term"])


def test_the_event_study_marks_what_disclosure_control_withholds(fits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cohort.disclosure.effects import event_study_figure_data
    from cohort.plots.effects import plot_event_study
    from cohort.plots.style import figure_facts

    table = event_study_figure_data(fits["did"], POLICY, panel=fits["panel"], households="first_registrations")[""]
    fig = plot_event_study(table)
    facts = figure_facts(fig)
    hidden = table.loc[table["suppressed"].to_numpy(dtype=bool), "event_time"].tolist()
    assert facts["suppressed_times"] == hidden and facts["kind"] == "event_study"
    assert set(facts["shown_times"]) | set(hidden) == set(table["event_time"])
    plt.close(fig)


# ---------------------------------------------------------------------- the text


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_effect_estimator_has_its_own_methods_sentence(fits, language):
    from cohort.report.methods import EFFECT_MODELS, fitted_sentences
    from cohort.report.text import report_text

    results = {"ps": fits["ps"]["safety"], "balance": fits["balance"], "weights": fits["weights"],
               "curves": fits["curves"], "cox": fits["cox"]["reregistration"], "aiptw": fits["aiptw"],
               "safety": fits["safety"], "did": fits["did"]}
    records = {name: {"caption": "C", "about": r.describe()} for name, r in results.items()}
    sentences = fitted_sentences(records, language)
    assert len(sentences) == 1 + 3 + 3 + 1 + 1 + 1 + 1 + 1  # one per part of a table of analyses
    assert {r.describe()["model"] for r in results.values()} <= set(EFFECT_MODELS)
    generic = report_text("methods.model", language, caption="C", model="M", terms="T", n="1", level="95")
    for sentence in sentences:  # each its own sentence, not the generic one of any model
        assert "{" not in sentence and generic.split("M", 1)[1][:12] not in sentence
    joined = " ".join(sentences)
    if language == "nl":
        assert "C – veiligheid" in joined and "wild cluster bootstrap-t per regio (Webb-gewichten, 199 herhalingen, seed 1)" in joined
        assert "die ook het schatten van de gewichten meeneemt" in joined
    else:
        assert "C – safety" in joined and "at 6, 12 and 24 months" in joined
        assert "Doubly robust estimator (AIPTW)" in joined


def test_a_table_view_of_selected_columns_keeps_its_markers(fits):
    view = fits["report"].table(fits["curves"], "effects_legal_measure_risks", columns=["months", "difference", "p"])
    assert list(view.frame.columns) == ["months", "difference", "p"]
    assert repr(view).splitlines()[-2].split()[-2:] == ["[c]", "[c]"]


# ---------------------------------------------------------------------- the builds


@pytest.mark.slow
def test_the_final_reports_effects_section_releases_checked_tables_with_their_records(tmp_path):
    from cohort.report.build import build_report

    folder = build_report(FINAL, jobs=1, reports_root=tmp_path, progress=False, notebooks=("07_effects",),
                          required_tables=EFFECT_TABLES)
    for name in EFFECT_TABLES:
        assert (folder / "tables" / f"{name}.csv").is_file(), name
    for name in EFFECT_FIGURE_DATA:
        assert (folder / "figure-data" / f"{name}.csv").is_file(), name
    assert check_release(folder, ledger=False) == [], "every released file passes the release check"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for name in EFFECT_TABLES:
        entry = manifest["files"][f"tables/{name}.csv"]
        assert entry["disclosure"].startswith("passed the release check; disclosure control applied"), name
        assert entry["caption"], name
    assert manifest["files"]["tables/effects_hazard_ratios.csv"]["about"]["model"] == "WeightedCoxPH"
    provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    assert "data/synthetic/comparison/sites.csv" in provenance["inputs"]["comparison_delivery"]
    assert provenance["comparison_delivery_fingerprint"]
    assert provenance["parameters"]["effects"]["bootstrap_replications"] == 999
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "Effects against comparison households" in page and "Emulated trial." in page
    assert "Weighted Cox model with the group as its only term" in page
    # the key findings state the effect against regular care from the released tables
    assert "Compared with regular care, fewer households at the pilot sites were registered again" in page
    assert "at the pilot sites than in regular care (weighted means" in page


@pytest.mark.slow
def test_a_report_without_a_comparison_delivery_says_so_and_still_builds(tmp_path):
    from cohort.report.build import build_report

    folder = build_report(_without_comparison_delivery(), jobs=1, reports_root=tmp_path, progress=False, notebooks=("07_effects",),
                          required_tables=())
    assert not (folder / "tables").exists() and not (folder / "figure-data").exists()
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "Effecten ten opzichte van vergelijkingshuishoudens" in page
    assert "Dit rapport heeft geen vergelijkingslevering" in page
    assert "niet te schatten: het rapport heeft geen of te weinig vergelijkingshuishoudens" in page
    assert "Nagebootste trial" not in page, "no effects methods without effect estimates"
    provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    assert "comparison_delivery" not in provenance["inputs"]


@pytest.mark.slow
def test_a_comparison_delivery_that_changes_during_the_build_is_refused(tmp_path):
    import nbformat

    from cohort.report.build import build_report

    comparison = tmp_path / "comparison"
    shutil.copytree(ROOT / "data" / "synthetic" / "comparison", comparison)
    params = dataclasses.replace(load_params(INTERIM), comparison_delivery=comparison)
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell(f"open({str(comparison / 'referrals.csv')!r}, 'a').write('')\n"
                                              f"open({str(comparison / 'extra.txt')!r}, 'w').write('x')"))
    nbformat.write(nb, str(root / "notebooks" / "01_tiny.ipynb"))
    with pytest.raises(ReportError, match="the comparison delivery .* changed while the report was being built"):
        build_report(params, root=root, reports_root=tmp_path / "reports", notebooks=("01_tiny",),
                     required_tables=(), progress=False)
