"""The report builder: files, provenance, manifest, byte-identical rebuild, atomic swap.

One real build on the bundled synthetic delivery (two of the notebooks, to keep the suite
fast) is shared by the tests of its contents; its rebuild from provenance is the second
build whose tables, figure data and notebooks must be byte-identical. Failure handling
uses tiny notebooks written in the test.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from cohort.disclosure.cells import apply_disclosure
from cohort.disclosure.policy import SUPPRESSED
from cohort.disclosure.writer import release_table, released_text
from cohort.exceptions import DisclosureError, ParameterError, ReportError
from cohort.report import provenance as prov
from cohort.report.build import NOTEBOOKS, build_report
from cohort.report.notebook import changes_since, load_delivery, previous_monitor, show
from cohort.report.params import load_params
from cohort.report.rebuild import rebuild_report
from cohort.report.text import plot_labels

ROOT = Path(__file__).resolve().parents[2]
INTERIM = ROOT / "parameters" / "interim-2024q4.yaml"
FINAL = ROOT / "parameters" / "final-2026.yaml"
FAST_NOTEBOOKS = ("02_monitor", "03_reregistration")
FAST_TABLES = ("monitor", "reregistration_km", "reregistration_cox")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    folder = build_report(
        INTERIM, jobs=2, reports_root=reports, progress=False, notebooks=FAST_NOTEBOOKS, required_tables=FAST_TABLES
    )
    return folder


def test_report_folder_has_every_part(built):
    assert built.name == "interim-2024q4"
    for name in FAST_TABLES:
        assert (built / "tables" / f"{name}.csv").is_file()
    assert (built / "figure-data" / "reregistration_km.csv").is_file()
    assert sorted(p.name for p in (built / "notebooks").iterdir()) == [f"{n}.ipynb" for n in FAST_NOTEBOOKS]
    assert not list(built.parent.glob(".interim-2024q4.*")), "no staging or failed folder is left behind"


def test_released_tables_have_the_promised_columns(built):
    km = pd.read_csv(built / "tables" / "reregistration_km.csv")
    assert {"time", "survival", "ci_lower", "ci_upper", "n_risk"} <= set(km.columns)
    cox = pd.read_csv(built / "tables" / "reregistration_cox.csv")
    assert {"term", "coef", "se", "robust_se", "hr", "hr_lower", "hr_upper", "p"} <= set(cox.columns)
    monitor = pd.read_csv(built / "tables" / "monitor.csv", dtype=str, keep_default_na=False)
    headline = monitor[
        (monitor["indicator"] == "households_involved") & (monitor["site"] == "all") & (monitor["interval_end"] == "2024-12-31")
    ]
    assert headline["numerator"].tolist() == ["1653"]
    assert SUPPRESSED in set(monitor["numerator"])


def test_report_html_is_one_page_without_code(built):
    html = (built / "report.html").read_text(encoding="utf-8")
    params = load_params(INTERIM)
    assert params.title in html and '<html lang="nl">' in html
    for heading in ("Inhoud", "Kwartaalmonitor", "Heraanmelding na afsluiting", "Definities", "Methoden", "Beperkingen"):
        assert heading in html
    assert "data:image/png;base64," in html
    assert 'src="http' not in html and "<script" not in html, "self-contained, no external resources"
    for code in ("import pandas", "report.release_table(", "from_namespace(globals())", "quarterly_series("):
        assert code not in html
    assert "households_involved" in html  # the definitions page is included


def test_dutch_report_shows_dutch_labels_and_releases_identifiers(built):
    html = (built / "report.html").read_text(encoding="utf-8")
    assert "<td>huishoudens betrokken sinds de start</td>" in html
    assert "households involved since the study start" not in html
    assert "<td>verhuisd</td>" in html and "<td>moved away</td>" not in html
    assert "[onderdrukt]" in html and "tables/monitor.csv" in html
    assert "Kwartaalmonitor: elke indicator, elk kwartaal en elke proeftuin" in html  # caption
    headline = pd.read_csv(built / "tables" / "monitor_headline.csv", dtype=str, keep_default_na=False)
    assert "households involved since the study start" in set(headline["figure"])
    cif = pd.read_csv(built / "tables" / "reregistration_cif.csv", dtype=str, keep_default_na=False)
    assert set(cif["cause"]) == {"re-registration", "moved away"}


def test_provenance_records_inputs_parameters_and_versions(built):
    provenance = json.loads((built / "provenance.json").read_text(encoding="utf-8"))
    assert set(provenance) >= {"git", "inputs", "parameters", "seeds", "versions", "started", "finished"}
    assert set(provenance["git"]) == {"commit", "dirty"}
    delivery = provenance["inputs"]["delivery"]
    assert "data/synthetic/default/episodes.csv" in delivery
    assert delivery["data/synthetic/default/episodes.csv"] == prov.sha256_file(
        ROOT / "data" / "synthetic" / "default" / "episodes.csv"
    )
    assert provenance["parameters"] == load_params(INTERIM).notebook_parameters()
    assert provenance["seeds"]["seed"] == 20230101
    assert {"python", "pandas", "statsmodels", "lifelines", "papermill"} <= set(provenance["versions"])


def test_manifest_lists_every_file_with_hash_and_disclosure_status(built):
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    files = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == prov.sha256_file(built / name)
        assert entry["disclosure"]
    assert manifest["files"]["tables/monitor.csv"]["disclosure"] == (
        "passed the release check; disclosure control applied"
    )


def test_notebooks_are_normalised(built):
    for path in (built / "notebooks").iterdir():
        nb = nbformat.read(str(path), as_version=4)
        assert "papermill" not in nb.metadata
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert [c.id for c in injected] == ["injected-parameters"]
        assert 'output_dir = "reports/interim-2024q4"' in injected[0].source
        assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in nb.cells)
        assert ".building" not in path.read_text(encoding="utf-8")


def test_rebuild_from_provenance_is_byte_identical(built):
    before = {p: p.read_bytes() for p in built.rglob("*") if p.is_file()}
    result = rebuild_report(built, jobs=2, progress=False)
    assert result["different"] == [] and result["missing"] == [] and result["extra"] == []
    assert {f.split("/")[0] for f in result["identical"]} == {"tables", "figure-data", "notebooks"}
    assert {p: p.read_bytes() for p in built.rglob("*") if p.is_file()} == before, "rebuild leaves the report alone"


def test_rebuild_refuses_changed_inputs(built, tmp_path):
    copy = tmp_path / built.name
    import shutil

    shutil.copytree(built, copy)
    provenance = json.loads((copy / "provenance.json").read_text(encoding="utf-8"))
    provenance["inputs"]["delivery"]["data/synthetic/default/episodes.csv"] = "0" * 64
    (copy / "provenance.json").write_text(json.dumps(provenance), encoding="utf-8")
    with pytest.raises(ReportError, match="input file data/synthetic/default/episodes.csv changed"):
        rebuild_report(copy, progress=False)


# ---------------------------------------------------------------------- tiny notebooks


def tiny_root(tmp_path, body: str, name="01_tiny") -> Path:
    """A repository root with one notebook: the parameters cell, then ``body``."""
    params = load_params(INTERIM).notebook_parameters()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(
        nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()), metadata={"tags": ["parameters"]})
    )
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import pandas as pd\nimport cohort.params\nfrom cohort import report\n"
            "P = cohort.report.params.from_namespace(globals())"
        )
    )
    nb.cells.append(nbformat.v4.new_code_cell(body))
    (tmp_path / "notebooks").mkdir(parents=True)
    nbformat.write(nb, str(tmp_path / "notebooks" / f"{name}.ipynb"))
    return tmp_path


def tiny_params(**changes):
    return dataclasses.replace(load_params(INTERIM), **changes)


def last_good(reports: Path) -> dict:
    folder = reports / "interim-2024q4"
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("last good report", encoding="utf-8")
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_failing_notebook_names_cell_and_error_and_keeps_the_last_good_report(tmp_path):
    root = tiny_root(tmp_path / "repo", 'raise ValueError("planted failure")', name="01_fails")
    reports = tmp_path / "reports"
    before = last_good(reports)
    with pytest.raises(ReportError) as info:
        build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_fails",), required_tables=(), progress=False)
    message = str(info.value)
    assert "notebook 01_fails.ipynb, cell 3" in message
    assert "ValueError: planted failure" in message
    assert {p: p.read_bytes() for p in (reports / "interim-2024q4").rglob("*") if p.is_file()} == before
    assert (reports / ".interim-2024q4.failed" / "notebooks" / "01_fails.ipynb").is_file()
    assert not (reports / ".interim-2024q4.building").exists()


def test_release_check_failure_stops_the_build(tmp_path):
    body = 'report.release_table(pd.DataFrame({"site": ["A", "B"], "n": [25, 4]}), "planted", P)'
    root = tiny_root(tmp_path / "repo", body)
    reports = tmp_path / "reports"
    before = last_good(reports)
    with pytest.raises(ReportError) as info:
        build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_tiny",), required_tables=(), progress=False)
    assert "tables/planted.csv, row 2 (line 3), column 'n': count 4 is below the threshold 10" in str(info.value)
    assert {p: p.read_bytes() for p in (reports / "interim-2024q4").rglob("*") if p.is_file()} == before


def test_missing_required_table_stops_the_build(tmp_path):
    root = tiny_root(tmp_path / "repo", "x = 1")
    with pytest.raises(ReportError, match="required table tables/monitor.csv"):
        build_report(tiny_params(), root=root, reports_root=tmp_path / "r", notebooks=("01_tiny",),
                     required_tables=("monitor",), progress=False)


def test_successful_build_replaces_the_last_report(tmp_path):
    body = (
        'from cohort.disclosure import apply_disclosure\n'
        't = apply_disclosure(pd.DataFrame({"site": ["A", "B", "all"], "n": [25, 4, 29]}), P.disclosure,'
        ' count_columns=["n"], group_columns=["site"])\n'
        'report.release_table(t, "sites", P)\n'
        'report.release_table(t[["site", "n"]].assign(k=1.0), "sites_plot", P, kind="figure-data")'
    )
    root = tiny_root(tmp_path / "repo", body)
    reports = tmp_path / "reports"
    last_good(reports)
    folder = build_report(tiny_params(), root=root, reports_root=reports, notebooks=("01_tiny",), required_tables=(), progress=False)
    assert (folder / "report.html").read_text(encoding="utf-8") != "last good report"
    assert (folder / "tables" / "sites.csv").read_text(encoding="utf-8") == (
        "site,n,suppressed\nA,[suppressed],true\nB,[suppressed],true\nall,29,false\n"
    )
    assert (folder / "figure-data" / "sites_plot.csv").is_file()
    assert sorted(p.name for p in reports.iterdir()) == ["interim-2024q4"]


# ---------------------------------------------------------------------- helpers


def test_release_table_writes_nothing_without_output_dir(tmp_path):
    frame = pd.DataFrame({"site": ["A"], "n": [40]})
    out = release_table(frame, "x", tiny_params())
    assert out.equals(frame) and not list(tmp_path.iterdir())


def test_release_table_refuses_identifiers_and_bad_names(tmp_path):
    params = tiny_params(output_dir=tmp_path)
    with pytest.raises(DisclosureError, match="identifier column 'household_id'"):
        release_table(pd.DataFrame({"household_id": ["x"], "n": [40]}), "x", params)
    with pytest.raises(ParameterError, match="release name"):
        release_table(pd.DataFrame({"n": [40]}), "Bad Name", params)
    with pytest.raises(ParameterError, match="release kind"):
        release_table(pd.DataFrame({"n": [40]}), "x", params, kind="picture")
    release_table(pd.DataFrame({"n": [40]}), "twice", params)
    with pytest.raises(ReportError, match="released twice"):
        release_table(pd.DataFrame({"n": [40]}), "twice", params)


def test_released_text_is_stable_and_marks_suppressed_cells():
    frame = apply_disclosure(
        pd.DataFrame(
            {
                "date": pd.to_datetime(["2024-12-31", "2024-12-31"]),
                "group": ["a", "all"],
                "n": [5, 50],
                "share": [0.1, 1 / 3],
            }
        ),
        count_columns=["n"],
        value_columns=["share"],
    )
    text = released_text(frame)
    assert text.to_dict("list") == {
        "date": ["2024-12-31", "2024-12-31"],
        "group": ["a", "all"],
        "n": [SUPPRESSED, "50"],
        "share": [SUPPRESSED, "0.3333333333"],
        "suppressed": ["true", "false"],
    }


def test_show_renders_deterministic_html_and_text():
    table = show(pd.DataFrame({"x": [1.0, 2.5], "n": pd.array([12, None], dtype="Int64")}), caption="C")
    assert table._repr_html_() == show(table.frame, caption="C")._repr_html_()
    assert "<caption>C</caption>" in table._repr_html_()
    assert repr(table).splitlines() == ["C", "  x  n", "  1 12", "2.5   "]


def test_show_labels_values_in_the_report_language_and_the_release_keeps_them(tmp_path):
    from cohort.monitor.series import HEADLINE

    figure = HEADLINE[0][0]
    assert figure == "households involved since the study start"
    frame = pd.DataFrame(
        {
            "figure": [figure, "not a known figure"],
            "step": ["excluded: registered after the reference date", "analysed"],
            "analysis": ["reregistration", "legal_measures"],
            "period": ["2023-01-01 to 2024-12-31", "2024-12-31"],
            "n": [40, 12],
        }
    )
    nl = tiny_params(output_dir=tmp_path)
    released = release_table(frame, "labels", nl)
    html = show(released, nl)._repr_html_()
    for dutch in (
        "huishoudens betrokken sinds de start",
        "uitgesloten: aangemeld na de peildatum",
        "geanalyseerd",
        "heraanmelding",
        "juridische maatregelen",
        "2023-01-01 t/m 2024-12-31",
        "not a known figure",  # unknown values are shown as they are
    ):
        assert f"<td>{dutch}</td>" in html
    assert figure not in html and "excluded:" not in html
    assert released["figure"].tolist() == frame["figure"].tolist(), "display never changes the frame"
    csv = pd.read_csv(tmp_path / "tables" / "labels.csv", dtype=str)
    assert csv["figure"].tolist() == [figure, "not a known figure"]
    assert csv["step"].tolist() == ["excluded: registered after the reference date", "analysed"]
    assert csv["analysis"].tolist() == ["reregistration", "legal_measures"]
    en = show(released, dataclasses.replace(nl, language="en"))._repr_html_()
    assert f"<td>{figure}</td>" in en and "<td>re-registration</td>" in en
    assert show(released)._repr_html_().count("<td>reregistration</td>") == 1  # no params: as released


def test_pivoted_headers_and_suppressed_markers_are_labelled():
    wide = pd.DataFrame({"interval_end": ["2024-12-31"], "registrations": [557], "legal_measures": [SUPPRESSED]})
    wide = wide.rename_axis(columns="indicator")
    html = show(wide, tiny_params())._repr_html_()
    assert "<th>aanmeldingen</th>" in html and "<th>gedwongen juridische maatregelen</th>" in html
    assert "<th>interval_end</th>" in html  # column names are labelled on the report page
    assert "<td>[onderdrukt]</td>" in html
    assert list(wide.columns) == ["interval_end", "registrations", "legal_measures"]


def test_release_captions_default_to_the_report_language(tmp_path):
    release_table(pd.DataFrame({"n": [40]}), "attrition", tiny_params(output_dir=tmp_path))
    record = json.loads((tmp_path / "_release" / "tables--attrition.json").read_text(encoding="utf-8"))
    assert record["caption"] == "Uitval: van geleverde naar geanalyseerde episodes"
    release_table(pd.DataFrame({"n": [40]}), "other", tiny_params(output_dir=tmp_path), caption="Own caption")
    record = json.loads((tmp_path / "_release" / "tables--other.json").read_text(encoding="utf-8"))
    assert record["caption"] == "Own caption"


def test_plot_texts_follow_the_labels_and_default_to_english():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cohort.plots.survival import plot_km
    from cohort.stats.kaplan_meier import KaplanMeier

    data = pd.DataFrame({"time": [float(t) for t in range(1, 41)], "event": [1, 0] * 20})
    km = KaplanMeier().fit(data, "time", "event")
    policy = tiny_params().disclosure

    def texts(fig):
        found = {t.get_text() for ax in fig.axes for t in ax.texts}
        found |= {ax.get_title(loc="left") for ax in fig.axes}
        plt.close(fig)
        return found

    days = [0.0, 20.0, 40.0]
    dutch = texts(plot_km(km, policy, risk_times=days, labels=plot_labels("survival", tiny_params())))
    assert {"aantal in risicoset", "alle"} <= dutch and "Number at risk" not in dutch
    assert any(t.endswith("log-transformatie") for t in dutch)
    english = texts(plot_km(km, policy, risk_times=days))
    assert {"Number at risk", "all"} <= english


def test_load_delivery_restricts_sites():
    delivery = load_delivery(tiny_params(sites=("AMS", "UTR")))
    assert set(delivery.households["site"]) == {"AMS", "UTR"}
    assert delivery.episodes["household_id"].isin(delivery.households["household_id"]).all()
    assert delivery.referrals["household_id"].isin(delivery.households["household_id"]).all()
    with pytest.raises(ParameterError, match="parameter 'sites' names 'XXX'"):
        load_delivery(tiny_params(sites=("XXX",)))


def test_final_report_built_against_the_interim_cannot_be_differenced(built, tmp_path):
    from cohort.disclosure.check import check_release
    from cohort.disclosure.monitor import read_released

    folder = build_report(
        FINAL, jobs=1, reports_root=tmp_path, progress=False, notebooks=("02_monitor",),
        required_tables=("monitor",), against=built,
    )
    assert check_release(folder, against=built) == []
    interim = read_released(built / "tables" / "monitor.csv")
    final = read_released(folder / "tables" / "monitor.csv")
    keys = ["indicator", "interval_start", "interval_end", "site"]
    both = interim.merge(final, on=keys, suffixes=("_interim", "_final"))
    hidden = both["numerator_interim"].isna().to_numpy()
    assert hidden.any() and both.loc[hidden, "numerator_final"].isna().all()
    # The staged copy of the interim monitor is not part of the report.
    assert not (folder / "_release").exists()
    assert "previous-monitor.csv" not in (folder / "manifest.json").read_text(encoding="utf-8")


def test_against_needs_a_report_with_a_monitor(tmp_path):
    with pytest.raises(ReportError, match="no released monitor"):
        build_report(FINAL, reports_root=tmp_path / "r", progress=False, notebooks=("02_monitor",),
                     required_tables=("monitor",), against=tmp_path / "nothing")


def test_previous_monitor_is_the_earlier_release():
    params = load_params(FINAL)
    delivery = load_delivery(params)
    previous = previous_monitor(params, delivery)
    assert previous["interval_end"].max() == pd.Timestamp("2024-12-31")
    assert previous.attrs["disclosure"]["applied"] is True
    assert previous_monitor(load_params(INTERIM), delivery) is None


def test_a_small_change_of_a_count_is_suppressed():
    params = load_params(FINAL)
    delivery = load_delivery(params)
    previous = previous_monitor(params, delivery)
    changes = changes_since(delivery, params, previous=previous).set_index("figure")
    figure = "households involved since the study start"
    current = int(changes.loc[figure, "current_n"])
    # An earlier release (other data) that said 5 households fewer: 5 new households.
    row = (
        (previous["indicator"] == "households_involved")
        & (previous["site"] == "all")
        & (previous["interval_end"] == pd.Timestamp("2024-12-31"))
    ).to_numpy()
    for shortfall, hidden in ((5, True), (10, False)):
        earlier = previous.copy()
        earlier.loc[row, ["numerator", "value"]] = current - shortfall
        out = changes_since(delivery, params, previous=earlier).set_index("figure")
        assert bool(out.loc[figure, "suppressed"]) is hidden
        if hidden:
            assert pd.isna(out.loc[figure, "change"]) and pd.isna(out.loc[figure, "current_n"])
            assert out.loc[figure, "previous_n"] == current - 5
        else:
            assert out.loc[figure, "change"] == 10


def test_changes_since_the_previous_reference_date():
    params = load_params(FINAL)
    changes = changes_since(load_delivery(params), params)
    involved = changes.loc[changes["figure"] == "households involved since the study start"].iloc[0]
    assert involved["previous_n"] == 1653
    assert involved["current_n"] > involved["previous_n"]
    assert involved["change"] == involved["current_n"] - involved["previous_n"]
    with pytest.raises(ParameterError, match="previous_reference_date"):
        changes_since(None, load_params(INTERIM))


def test_normalise_notebook_is_idempotent_and_strips_timing():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2024-01-01T00:00:00", "duration": 3.2}
    cell = nbformat.v4.new_code_cell(
        "output_dir = '/scratch/.x.building'",
        metadata={"tags": ["injected-parameters"], "papermill": {"duration": 0.1}, "execution": {"iopub.status.busy": "2024-01-01T00:00:00Z"}},
    )
    nb.cells.append(cell)
    once = prov.normalise_notebook(nb, {"/scratch/.x.building": "reports/x"})
    twice = prov.normalise_notebook(once)
    assert once == twice
    assert once.cells[0].source == "output_dir = 'reports/x'"
    assert once.cells[0].metadata == {"tags": ["injected-parameters"]}


# ---------------------------------------------------------------------- the notebooks


def test_the_notebooks_are_the_report_and_are_thin():
    """Every report notebook exists; each has one literal parameters cell, then package
    calls: no function or class definitions, nothing read from files directly."""
    import ast

    assert sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), f"{name}: the first code cell holds the parameters"
        assert nb.metadata["kernelspec"]["name"] == "python3"
        for cell in code[1:]:
            tree = ast.parse(cell.source)
            defined = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)]
            assert not defined, f"{name}: notebooks call the package; definitions belong in src/cohort"
            assert "read_csv" not in cell.source and "open(" not in cell.source, name
            assert all(o.get("output_type") != "error" for o in cell.get("outputs", [])), name


def test_notebooks_are_committed_with_outputs():
    for name in NOTEBOOKS:
        nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"][1:]
        assert all(c.execution_count for c in code), f"{name}: run `cohort notebooks --refresh`"
        assert any(c.outputs for c in code), name


def test_refresh_reexecutes_notebooks_in_place_and_checks_their_parameters(tmp_path):
    from cohort.report.rebuild import refresh_notebooks

    root = tiny_root(tmp_path / "repo", 'report.show(pd.DataFrame({"n": [40]}))')
    path = root / "notebooks" / "01_tiny.ipynb"
    assert refresh_notebooks(INTERIM, root=root, names=("01_tiny",), progress=False) == [path]
    nb = nbformat.read(str(path), as_version=4)
    assert "papermill" not in nb.metadata
    assert nb.cells[-1].outputs[0]["data"]["text/plain"] == " n\n40"
    first = path.read_bytes()
    refresh_notebooks(INTERIM, root=root, names=("01_tiny",), progress=False)
    assert path.read_bytes() == first, "a refresh without changes gives the same bytes"
    nb.cells[0].source = nb.cells[0].source.replace("'2024-12-31'", "'2024-09-30'")
    nbformat.write(nb, str(path))
    with pytest.raises(ReportError, match="parameter 'reference_date' in the parameters cell is '2024-09-30'"):
        refresh_notebooks(INTERIM, root=root, names=("01_tiny",), progress=False)
