"""The notebook API: one report context; tables and figures released through the gate."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from cohort.definitions.population import restrict
from cohort.delivery.load import load
from cohort.disclosure.policy import SUPPRESSED
from cohort.exceptions import DisclosureError, ParameterError, ReportError
from cohort.monitor.series import changes_since, monitor_summary, quarterly_counts
from cohort.report.format import suppression_marker
from cohort.report.notebook import Report, TableView
from cohort.report.params import load_params
from cohort.report.text import plot_labels
from cohort.roles import with_roles

ROOT = Path(__file__).resolve().parents[2]
INTERIM = ROOT / "parameters" / "interim-2024q4.yaml"
FINAL = ROOT / "parameters" / "final-2026.yaml"


def params(**changes):
    return dataclasses.replace(load_params(INTERIM), **changes)


def counts(values, **roles):
    return with_roles(pd.DataFrame(values), **roles)


def test_release_writes_nothing_without_an_output_dir_but_still_checks(tmp_path):
    report = Report(params())
    out = report.release(counts({"site": ["A", "B", "all"], "n": [4, 48, 52]}, counts=["n"], groups=["site"]), "x")
    assert out["n"].isna().tolist() == [True, True, False] and not list(tmp_path.iterdir())
    with pytest.raises(DisclosureError, match="never passed disclosure control"):
        report.release(pd.DataFrame({"total": [3, 41]}), "totals")


def test_release_refuses_identifiers_bad_names_and_a_second_release(tmp_path):
    report = Report(params(output_dir=tmp_path))
    with pytest.raises(DisclosureError, match="identifier column"):
        report.release(counts({"household_id": ["x"], "n": [40]}, counts=["n"]), "x")
    with pytest.raises(ParameterError, match="release name"):
        report.release(counts({"n": [40]}, counts=["n"]), "Bad Name")
    with pytest.raises(ParameterError, match="release kind"):
        report.release(counts({"n": [40]}, counts=["n"]), "x", kind="picture")
    report.release(counts({"n": [40]}, counts=["n"]), "twice")
    with pytest.raises(ReportError, match="released twice"):
        report.release(counts({"n": [40]}, counts=["n"]), "twice")


def test_release_captions_default_to_the_report_language(tmp_path):
    report = Report(params(output_dir=tmp_path))
    report.release(counts({"n": [40]}, counts=["n"]), "attrition")
    record = json.loads((tmp_path / "_release" / "tables--attrition.json").read_text(encoding="utf-8"))
    assert record["caption"] == "Uitval: van geleverde naar geanalyseerde episodes"
    assert record["columns"] == {"n": "count", "suppressed": "flag"}
    report.release(counts({"n": [40]}, counts=["n"]), "other", caption="Own caption")
    record = json.loads((tmp_path / "_release" / "tables--other.json").read_text(encoding="utf-8"))
    assert record["caption"] == "Own caption"


def test_table_view_is_deterministic_and_carries_metadata_for_the_page():
    frame = pd.DataFrame({"x": [1.0, 2.5], "n": pd.array([12, None], dtype="Int64")})
    view = TableView(frame, "nl", caption="C", name="demo")
    data, meta = view._repr_mimebundle_()
    assert data["text/html"] == TableView(frame, "nl", caption="C", name="demo")._html()
    assert '<table class="dataframe table" data-release="tables/demo.csv">' in data["text/html"]
    assert "<caption>C</caption>" in data["text/html"]
    assert repr(view).splitlines() == ["C", "  x  n", "  1 12", "2.5   "]
    assert meta["cohort"] == {"kind": "table", "name": "demo", "caption": "C",
                              "columns": {"x": "label", "n": "label"}}


def test_a_released_table_is_shown_with_markers_and_labels_in_the_report_language(tmp_path):
    from cohort.monitor.series import HEADLINE

    figure = HEADLINE[0][0]
    frame = counts(
        {
            "figure": [figure, "not a known figure"],
            "step": ["excluded: registered after the reference date", "analysed"],
            "analysis": ["reregistration", "legal_measures"],
            "period": ["2023-01-01 to 2024-12-31", "2024-12-31"],
            "n": [40, 4],
        },
        counts=["n"], keys=["figure", "step", "analysis", "period"],
    )
    view = Report(params(output_dir=tmp_path)).table(frame, "labels")
    html = view._html()
    for dutch in (
        "huishoudens betrokken sinds de start",
        "uitgesloten: aangemeld na de peildatum",
        "geanalyseerd",
        "heraanmelding",
        "juridische maatregelen",
        "2023-01-01 t/m 2024-12-31",
        "not a known figure",  # unknown values are shown as they are
        suppression_marker("nl"),
    ):
        assert f"<td>{dutch}</td>" in html
    assert figure not in html and "excluded:" not in html
    csv = pd.read_csv(tmp_path / "tables" / "labels.csv", dtype=str)
    assert csv["figure"].tolist() == [figure, "not a known figure"]  # files keep identifiers
    assert csv["n"].tolist() == ["40", SUPPRESSED]
    english = Report(params(language="en")).show(csv)._html()
    assert f"<td>{figure}</td>" in english and "<td>re-registration</td>" in english


def test_a_pivot_of_a_released_table_keeps_its_markers():
    report = Report(params())
    released = report.protect(counts({"indicator": ["registrations", "legal_measures"],
                                      "interval_end": ["2024-12-31"] * 2, "n": [557, 4]},
                                     counts=["n"], keys=["indicator", "interval_end"]))
    html = report.show(released, index="interval_end", columns="indicator", values="n")._html()
    assert "<th>aanmeldingen</th>" in html and "<th>gedwongen juridische maatregelen</th>" in html
    assert f"<td>{suppression_marker('nl')}</td>" in html and "<td>557</td>" in html


def test_a_figure_draws_its_released_tables_and_writes_them_as_figure_data(tmp_path):
    from cohort.plots.survival import plot_km
    from cohort.stats.kaplan_meier import KaplanMeier

    data = pd.DataFrame({"time": [10.0 * t for t in range(1, 81)], "event": [1, 0] * 40})
    km = KaplanMeier().fit(data, "time", "event")
    report = Report(params(output_dir=tmp_path))
    view = report.figure("demo_km", plot_km, km, risk_months=[0, 6, 12, 24],
                         xlabel="reregistration.months_since_closure", ylabel="reregistration.not_reregistered")
    data, meta = view._repr_mimebundle_()
    assert data["image/svg+xml"].startswith("<?xml") and data["image/png"]
    assert meta["cohort"]["data"] == ["figure-data/demo_km.csv", "figure-data/demo_km_at_risk.csv"]
    assert "Maanden sinds afsluiting" in meta["cohort"]["alt"] or "maanden" in meta["cohort"]["alt"].lower()
    at_risk = pd.read_csv(tmp_path / "figure-data" / "demo_km_at_risk.csv", dtype=str)
    assert at_risk["time"].tolist() == ["0", "182.625", "365.25", "730.5"]
    assert at_risk["n_risk"].tolist()[0] == "80" and at_risk["n_risk"].tolist()[-1] == SUPPRESSED


def test_plot_texts_follow_the_report_language():
    import matplotlib.pyplot as plt

    from cohort.disclosure.curves import km_figure_data
    from cohort.plots.survival import plot_km
    from cohort.stats.kaplan_meier import KaplanMeier

    data = pd.DataFrame({"time": [float(t) for t in range(1, 41)], "event": [1, 0] * 20})
    tables = km_figure_data(KaplanMeier().fit(data, "time", "event"), params().disclosure,
                            risk_times=[0.0, 20.0, 40.0])

    def texts(fig):
        found = {t.get_text() for ax in fig.axes for t in ax.texts}
        found |= {ax.get_title(loc="left") for ax in fig.axes}
        plt.close(fig)
        return found

    dutch = texts(plot_km(tables[""], tables["_at_risk"], labels=plot_labels("survival", params())))
    assert {"aantal in risicoset", "alle"} <= dutch and "Number at risk" not in dutch
    assert any(t.endswith("log-transformatie") for t in dutch)
    assert {"Number at risk", "all"} <= texts(plot_km(tables[""], tables["_at_risk"]))


def test_the_report_population_is_restricted_to_its_sites():
    delivery = restrict(load(ROOT / "data" / "synthetic" / "default", on_error="proceed"), sites=("AMS", "UTR"))
    assert set(delivery.households["site"]) == {"AMS", "UTR"}
    assert delivery.episodes["household_id"].isin(delivery.households["household_id"]).all()
    assert delivery.referrals["household_id"].isin(delivery.households["household_id"]).all()
    report = Report(params(sites=("XXX",)))
    with pytest.raises(ParameterError, match="parameter 'sites': site 'XXX' is not a site of the delivery"):
        report.delivery  # noqa: B018 - loading is what fails


def test_previous_monitor_is_the_earlier_release():
    previous = Report(load_params(FINAL)).previous_monitor()
    assert previous["interval_end"].max() == pd.Timestamp("2024-12-31")
    assert previous.attrs["disclosure"]["applied"] is True
    assert Report(load_params(INTERIM)).previous_monitor() is None


def test_changes_since_the_previous_report_and_a_small_change_is_suppressed():
    report = Report(load_params(FINAL))
    previous = report.previous_monitor()
    current = monitor_summary(report.protect(quarterly_counts(report.delivery, report.reference_date, by="site",
                                                              study_start=report.study_start)))
    changes = report.protect(changes_since(monitor_summary(previous), current)).set_index("figure")
    figure = "households involved since the study start"
    assert changes.loc[figure, "previous_n"] == 1653
    assert changes.loc[figure, "change"] == changes.loc[figure, "current_n"] - 1653
    now = int(changes.loc[figure, "current_n"])
    row = ((previous["indicator"] == "households_involved") & (previous["site"] == "all")
           & (previous["interval_end"] == pd.Timestamp("2024-12-31"))).to_numpy()
    for shortfall, hidden in ((5, True), (10, False)):
        earlier = previous.copy()
        earlier.loc[row, ["numerator", "value"]] = now - shortfall
        out = report.protect(changes_since(monitor_summary(earlier), current)).set_index("figure")
        assert bool(out.loc[figure, "suppressed"]) is hidden
        if hidden:
            assert pd.isna(out.loc[figure, "change"]) and pd.isna(out.loc[figure, "current_n"])
        else:
            assert out.loc[figure, "change"] == 10
