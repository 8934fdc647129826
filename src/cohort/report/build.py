"""Reports: run the notebooks for a parameter set and build ``reports/<name>/``.

Two halves:

* **Notebook helpers**, called from the thin notebooks in ``notebooks/``:
  :func:`setup` (stable display and plot settings), :func:`text` (report text in the
  report's language), :func:`show` (a table as the report shows it),
  :func:`release_table` (write a released table or the data behind a figure into the
  report being built) and :func:`figure` (show a figure and release its data).
* **The builder**, :func:`build_report`, behind ``cohort report PARAMS.yaml``: it runs
  every notebook with papermill (two at a time by default, with a progress bar) into a
  temporary sibling folder, normalises the executed notebooks, renders ``report.html``,
  writes ``provenance.json`` and ``manifest.json``, runs the release check
  (:mod:`cohort.release`) and only then swaps the new folder in place of the old one.
  A failing notebook stops the build with a :class:`~cohort.exceptions.ReportError` that
  names the notebook, the cell and the error; the last good report stays in place.

Layout of a report folder::

    reports/<name>/
        report.html          one self-contained page, no code
        notebooks/*.ipynb    the executed notebooks, normalised
        tables/*.csv         released tables
        figure-data/*.csv    the aggregated data behind every figure
        provenance.json      code version, input hashes, parameters, versions, times
        manifest.json        every file with its sha256 and disclosure-control status
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from cohort.disclosure.writer import _RELEASE_META, KINDS
from cohort.exceptions import ReportError
from cohort.report import provenance as prov
from cohort.report.execute import NOTEBOOKS, _read_notebook, _run_all, notebook_paths
from cohort.report.html import render_html
from cohort.report.params import (
    Params,
    load_params,
    repo_root,
)

#: Tables every complete report releases.
REQUIRED_TABLES = ("monitor", "reregistration_km", "reregistration_cox", "safety_mixed_model")
#: In the sidecar folder: the monitor the report given with ``against`` released.
_PREVIOUS_MONITOR = "previous-monitor.csv"


# --------------------------------------------------------------------------------------
# Building a report
# --------------------------------------------------------------------------------------


def build_report(
    params: str | Path | Params,
    *,
    jobs: int = 2,
    reports_root: str | Path | None = None,
    progress: bool = True,
    notebooks: Iterable[str] = NOTEBOOKS,
    required_tables: Iterable[str] = REQUIRED_TABLES,
    root: Path | None = None,
    against: str | Path | None = None,
) -> Path:
    """Build ``reports/<name>/`` for a parameter set and return its path.

    Parameters
    ----------
    params : path or Params
        The parameter file (or checked parameters, e.g. from a report's provenance).
    jobs : int
        Notebooks run at the same time (each in its own kernel).
    reports_root : path, optional
        Folder holding the reports (default ``<repo>/reports``).
    progress : bool
        Show a progress bar.
    notebooks : names
        Notebook stems to run, in report order (default :data:`NOTEBOOKS`).
    required_tables : names
        Tables the build must release; a missing one fails the build.
    root : Path, optional
        Repository root (default :func:`cohort.report.params.repo_root`).
    against : path, optional
        A report released before (e.g. the interim report): its released monitor is what
        the monitor notebook protects against (:func:`previous_monitor`; without it, the
        monitor on ``previous_reference_date`` is recomputed from the delivery), and the
        release check also runs :func:`cohort.disclosure.check.check_differencing` against it.

    Raises
    ------
    ReportError
        A notebook failed (message: notebook, cell, error), a required table is missing,
        or the release check found a problem. The previous report is left unchanged.
    """
    from cohort.disclosure.check import check_release, format_findings

    root = root or repo_root()
    if not isinstance(params, Params):
        params = load_params(params)
    notebooks = tuple(notebooks)
    sources = notebook_paths(root, notebooks)
    reports_root = Path(reports_root) if reports_root else root / "reports"
    reports_root.mkdir(parents=True, exist_ok=True)
    final = reports_root / params.name
    staging = reports_root / f".{params.name}.building"
    failed = reports_root / f".{params.name}.failed"
    shutil.rmtree(staging, ignore_errors=True)
    for sub in ("notebooks", *KINDS.values()):
        (staging / sub).mkdir(parents=True)
    started = prov.utc_now()
    try:
        _prewarm(params)
        if against is not None:
            _stage_previous_monitor(Path(against), staging)
        parameters = params.notebook_parameters(output_dir=str(staging))
        runs = [(src, staging / "notebooks" / src.name, parameters) for src in sources]
        _run_all(runs, jobs, progress, f"report {params.name}")
        for src in sources:
            executed = staging / "notebooks" / src.name
            nb = prov.normalise_notebook(
                _read_notebook(executed), {str(staging): f"reports/{params.name}"}
            )
            prov.write_notebook(nb, executed)
        releases = _collect_releases(staging)
        missing = [t for t in required_tables if f"tables/{t}.csv" not in releases]
        if missing:
            raise ReportError(
                f"report {params.name}: no notebook released the required table "
                f"tables/{missing[0]}.csv; each of {', '.join(required_tables)} must be released"
            )
        findings = check_release(staging, policy=params.disclosure, against=against)
        if findings:
            raise ReportError(
                f"report {params.name}: the release check failed:\n" + format_findings(findings)
            )
        provenance = _provenance(params, root, sources, started)
        prov.write_json(staging / "provenance.json", provenance)
        html_text = render_html(params, staging, sources, releases, provenance, root)
        (staging / "report.html").write_text(html_text, encoding="utf-8")
        prov.write_json(staging / "manifest.json", _manifest(staging, releases, params))
    except BaseException:
        shutil.rmtree(failed, ignore_errors=True)
        if staging.exists():
            staging.rename(failed)
        raise
    _swap_in(staging, final)
    shutil.rmtree(failed, ignore_errors=True)
    return final


def _stage_previous_monitor(against: Path, staging: Path) -> None:
    """Put the earlier report's released monitor where :func:`previous_monitor` finds it."""
    source = against / "tables" / "monitor.csv"
    if not source.is_file():
        raise ReportError(
            f"--against {against}: no released monitor {source}; name the folder of a report "
            "built by cohort report (e.g. reports/interim-2024q4)"
        )
    meta = staging / _RELEASE_META
    meta.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, meta / _PREVIOUS_MONITOR)


def _prewarm(params: Params) -> None:
    """Load the delivery once before the notebooks run.

    This fills the loader's Parquet cache, so notebooks running side by side read it instead
    of validating the delivery at the same time, and a delivery that cannot be read stops
    the build before any kernel starts.
    """
    from cohort.delivery.load import load
    from cohort.report.params import check_against_delivery

    # everything the parameter file refers to is checked here, before any kernel starts
    check_against_delivery(params, load(params.delivery, on_error="proceed"))


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging``: two renames, the old report restored on failure."""
    previous = final.with_name(f".{final.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        final.rename(previous)
    try:
        staging.rename(final)
    except OSError:
        if previous.exists():
            previous.rename(final)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _collect_releases(staging: Path) -> dict[str, dict]:
    """Release records written by :func:`release_table`, keyed by file; folder removed."""
    meta = staging / _RELEASE_META
    records = {}
    if meta.is_dir():
        for path in sorted(meta.glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            records[record["file"]] = record
        shutil.rmtree(meta)
    on_disk = {
        p.relative_to(staging).as_posix()
        for sub in KINDS.values()
        for p in (staging / sub).glob("*")
        if p.is_file()
    }
    stray = sorted(on_disk - set(records))
    if stray:
        raise ReportError(
            f"{stray[0]} was written without cohort.disclosure.writer.release_table; released files "
            "must go through it so they are recorded and checked"
        )
    return dict(sorted(records.items()))


def _provenance(params: Params, root: Path, sources: Sequence[Path], started: str) -> dict:
    from cohort.delivery.read import delivery_hashes, fingerprint_of

    inputs = prov.hash_files([params.delivery], root)
    code_files = [*sources, root / "docs" / "definitions.md"]
    if params.source:
        code_files.append(Path(params.source))
    code_inputs = prov.hash_files([p for p in code_files if p.exists()], root)
    return {
        "report": params.name,
        "parameter_file": _rel(params.source, root) if params.source else None,
        "parameters": params.notebook_parameters(),
        "seeds": {"seed": params.seed, "PYTHONHASHSEED": "0"},
        "git": prov.git_info(root),
        "inputs": {"delivery": inputs, "code": code_inputs},
        "delivery_fingerprint": fingerprint_of(delivery_hashes(params.delivery)),
        "versions": prov.package_versions(),
        "started": started,
        "finished": prov.utc_now(),
    }


def _rel(path: str | Path, root: Path) -> str:
    with contextlib.suppress(ValueError):
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    return str(path)


def _release_status(record: dict, policy) -> str:
    """Disclosure-control status of a released file, for the manifest."""
    if not policy.enabled:
        return "not controlled: not for release"
    applied = (record.get("disclosure") or {}).get("applied")
    how = "disclosure control applied" if applied else "no disclosure record (model estimates or test statistics)"
    return f"passed the release check; {how}"


def _manifest(staging: Path, releases: dict[str, dict], params: Params) -> dict:
    """Every file of the report with its sha256, size and disclosure-control status."""
    policy = params.disclosure
    files = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        rel = path.relative_to(staging).as_posix()
        if rel == "manifest.json":
            continue
        entry = {"sha256": prov.sha256_file(path), "bytes": path.stat().st_size}
        if rel in releases:
            record = releases[rel]
            entry.update(
                kind=record["kind"],
                caption=record["caption"],
                rows=record["rows"],
                suppressed_cells=record["suppressed_cells"],
                disclosure=_release_status(record, policy),
            )
        elif rel.startswith("notebooks/"):
            entry.update(kind="notebook", disclosure="shows released tables and figures only")
        elif rel == "report.html":
            entry.update(kind="report", disclosure="shows released tables and figures only")
        else:
            entry.update(kind="provenance", disclosure="no data")
        files[rel] = entry
    return {
        "report": params.name,
        "disclosure_policy": policy.as_dict(),
        "files": files,
    }
