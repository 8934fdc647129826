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
    assert repr(view).splitlines() == ["C", "   x  n", "1,00 12", "2,50   "]
    assert meta["cohort"] == {"kind": "table", "name": "demo", "caption": "C",
                              "columns": {"x": "value", "n": "count"}, "roles": ["value", "count"],
                              "headers_labelled": True, "notes": [], "empty": ""}


def test_cells_follow_the_report_language_by_column_role():
    frame = counts({"table": ["households", "safety_assessments"], "rows_read": [4663, 19973],
                    "proportion": [0.1204, 0.0006], "ci_lower": [0.1, 0.0001], "p": [2.217e-26, 0.0421],
                    "interval_end": pd.to_datetime(["2024-12-31", "2023-03-31"])},
                   counts=["rows_read"], keys=["table", "interval_end"])
    dutch = TableView(frame, "nl")._display()
    assert dutch.to_dict("list") == {
        "table": ["huishoudens", "veiligheidsmetingen"], "rows_read": ["4.663", "19.973"],
        "proportion": ["12,0%", "0,1%"], "ci_lower": ["10,0%", "0,0%"], "p": ["< 0,001", "0,042"],
        "interval_end": ["31 december 2024", "31 maart 2023"]}
    english = TableView(frame, "en")._display()
    assert english["rows_read"].tolist() == ["4,663", "19,973"] and english["p"].tolist() == ["< 0.001", "0.042"]
    assert english["interval_end"].tolist() == ["31 December 2024", "31 March 2023"]
    assert TableView(frame, "nl").headers == ["tabel", "rijen gelezen", "aandeel", "95%-BI onder", "p", "einde periode"]


def test_model_terms_are_written_out_in_the_report_language():
    frame = pd.DataFrame({"term": ["Intercept", "site[T.FLE]", "sd(Intercept | household)"],
                          "estimate": [4.33, -0.23, 1.07]})
    assert TableView(frame, "nl")._display()["term"].tolist() == [
        "intercept", "proeftuin FLE", "SD van het intercept tussen huishoudens"]
    assert TableView(frame, "en")._display()["term"].tolist()[1] == "site FLE"


def test_headline_values_are_written_by_the_kind_of_each_row():
    """The headline table is shown without its kind column: counts, shares and ratios
    still read as such (from the monitor's definition of each figure)."""
    from cohort.monitor.series import HEADLINE

    figures = {indicator: figure for figure, indicator, _ in HEADLINE}
    frame = pd.DataFrame({"figure": [figures["households_involved"], figures["households_with_measure_share"],
                                     figures["legal_measures_share"]],
                          "numerator": [1653, 170, 199], "denominator": [None, 1653, 1653],
                          "value": [1653.0, 0.1028, 0.1204], "ci_lower": [None, 0.0891, None]})
    shown = TableView(frame, "nl")._display()
    assert shown["value"].tolist() == ["1.653", "10,3%", "0,120"]  # a ratio can exceed 1: no percentage
    assert shown["ci_lower"].tolist() == ["", "8,9%", ""]


def test_a_change_in_a_share_is_shown_in_percentage_points():
    frame = pd.DataFrame({"figure": ["a", "b"], "kind": ["count", "proportion"],
                          "current_value": [4233.0, 0.2], "change": [2580.0, 0.0416]})
    assert TableView(frame, "nl")._display()["change"].tolist() == ["2.580", "4,2 %-punt"]
    assert TableView(frame, "en")._display()["change"].tolist() == ["2,580", "4.2 pp"]


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
        "1 januari 2023 t/m 31 december 2024",
        "not a known figure",  # unknown values are shown as they are
    ):
        assert f'<td style="text-align: left;">{dutch}</td>' in html, dutch
    assert '<td style="text-align: right;">x</td>' in html  # the report's one marker ...
    assert "x = niet getoond (onthullingscontrole)" in html and "ook 0" in html  # ... with its footnote
    assert figure not in html and "excluded:" not in html and "[onderdrukt]" not in html
    csv = pd.read_csv(tmp_path / "tables" / "labels.csv", dtype=str)
    assert csv["figure"].tolist() == [figure, "not a known figure"]  # files keep identifiers
    assert csv["n"].tolist() == ["40", SUPPRESSED]
    english = Report(params(language="en")).show(csv)._html()
    assert f">{figure}</td>" in english and ">re-registration</td>" in english and ">[c]</td>" in english


def test_a_pivot_of_a_released_table_keeps_its_markers():
    report = Report(params())
    released = report.protect(counts({"indicator": ["registrations", "legal_measures"],
                                      "interval_end": ["2024-12-31"] * 2, "n": [557, 4]},
                                     counts=["n"], keys=["indicator", "interval_end"]))
    view = report.show(released, index="interval_end", columns="indicator", values="n")
    html = view._html()
    assert ">aanmeldingen</th>" in html and ">gedwongen juridische maatregelen</th>" in html
    assert ">einde periode</th>" in html and ">31 december 2024</td>" in html
    assert '<td style="text-align: right;">x</td>' in html and '<td style="text-align: right;">557</td>' in html
    assert view.roles == {"interval_end": "date", "registrations": "count", "legal_measures": "count"}


def test_a_table_without_rows_says_so_in_its_own_words():
    from cohort.report.text import report_text

    report = Report(params())
    empty = counts({"table": pd.Series([], dtype=object), "rule": pd.Series([], dtype=object),
                    "n_violations": pd.Series([], dtype="int64")}, counts=["n_violations"], keys=["table", "rule"])
    view = report.table(empty, "validation_rules")
    assert repr(view).splitlines() == [
        "Overtredingen per tabel en regel",
        "Geen overtredingen: elke rij van de levering voldoet aan elke validatieregel.",
    ]
    assert view._repr_mimebundle_()[1]["cohort"]["empty"] == report_text("empty.validation_rules", "nl")
    assert "Geen rijen" in repr(report.table(empty, "other_table"))


def test_the_row_accounting_says_what_its_marker_means():
    report = Report(params())
    accounting = counts({"table": ["households"], "rows_read": [4663], "rows_accepted": [4663], "rows_rejected": [0]},
                        counts=["rows_read", "rows_accepted", "rows_rejected"], keys=["table"])
    view = report.table(accounting, "validation_accounting")
    assert view._display()["rows_rejected"].tolist() == ["x"]
    notes = view._repr_mimebundle_()[1]["cohort"]["notes"]
    assert notes and "ook wanneer het er geen zijn" in notes[0]


def test_a_figure_draws_its_released_tables_and_writes_them_as_figure_data(tmp_path):
    from cohort.plots.survival import plot_km
    from cohort.stats.kaplan_meier import KaplanMeier

    data = pd.DataFrame({"time": [10.0 * t for t in range(1, 81)], "event": [1, 0] * 40})
    km = KaplanMeier().fit(data, "time", "event")
    report = Report(params(output_dir=tmp_path))
    view = report.figure("demo_km", plot_km, km, risk_months=[0, 6, 12, 24],
                         xlabel="reregistration.months_since_closure", ylabel="reregistration.not_reregistered")
    data, meta = view._repr_mimebundle_()
    assert data["image/svg+xml"].startswith("<?xml") and "image/png" not in data  # vector only
    assert meta["cohort"]["data"] == ["figure-data/demo_km.csv", "figure-data/demo_km_at_risk.csv"]
    alt = meta["cohort"]["alt"]
    # the curve runs past the last released number at risk (12 months): the axis runs on
    # to the next time at risk, and the plot says where and why the curve ends
    assert "maanden sinds afsluiting, van 0 tot 24" in alt and "niet heraangemeld" in alt
    assert "De curve eindigt na 19,4 maanden: daarna zijn er minder dan 10 huishoudens in de risicoset" in alt
    assert "na 0, 6, 12 en 24 maanden" in alt
    at_risk = pd.read_csv(tmp_path / "figure-data" / "demo_km_at_risk.csv", dtype=str)
    assert at_risk["time"].tolist() == ["0", "182.625", "365.25", "730.5"]
    assert at_risk["n_risk"].tolist()[0] == "80" and at_risk["n_risk"].tolist()[-1] == SUPPRESSED


def test_a_site_trend_figure_has_a_panel_per_site_on_quarters():
    report = Report(params())
    monitor = report.protect(quarterly_counts(report.delivery, report.reference_date, by="site",
                                              study_start=report.study_start))
    from cohort.plots.trends import plot_site_trends

    by_site = monitor.loc[(monitor["indicator"] == "registrations") & (monitor["site"] != "all")]
    view = report.figure("trend_demo", plot_site_trends, by_site, time_col="interval_start", value_col="value",
                         ylabel="monitor.registrations_label", xlabel="monitor.quarter_label")
    alt = view.alt
    assert "van K1 2023 tot en met K4 2024" in alt and "Eén paneel per proeftuin (13)" in alt
    assert "AMS, FLE" in alt and "onthullingscontrole" in alt


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
