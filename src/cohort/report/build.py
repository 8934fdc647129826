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
        report.pdf           the same report typeset for A4
        notebooks/*.ipynb    the executed notebooks, normalised
        tables/*.csv         released tables
        figure-data/*.csv    the aggregated data behind every figure
        provenance.json      code version, input hashes (the delivery, the comparison delivery),
                             parameters, versions, times
        manifest.json        every file with its sha256 and disclosure-control status
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from cohort.disclosure.ledger import ledger_path
from cohort.disclosure.writer import (
    INPUTS,
    RECORDS,
    ReleaseFolder,
    build_lock,
    discard_build,
    publish,
    restore_interrupted,
)
from cohort.exceptions import ReportError
from cohort.files import dumps_json, sha256_file
from cohort.report import provenance as prov
from cohort.report.document import build_document
from cohort.report.execute import (
    NOTEBOOKS,
    NotebookFailed,
    _read_notebook,
    _run_all,
    notebook_paths,
)
from cohort.report.html import render_document_html
from cohort.report.notebook import PREVIOUS_MONITOR
from cohort.report.params import (
    Params,
    load_params,
    repo_root,
)
from cohort.report.pdf import document_pdf

#: Tables every complete report releases.
REQUIRED_TABLES = ("monitor", "reregistration_km", "reregistration_cox", "safety_mixed_model")


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
    ledger: str | Path | None = None,
    record: bool = True,
    ledger_entries: Iterable[str] | None = None,
) -> Path:
    """Build ``reports/<name>/`` for a parameter set and return its path.

    Every file of the report is written through the one gate
    (:class:`cohort.disclosure.writer.ReleaseFolder`): the notebooks release their tables
    into the build folder through it; the executed notebooks (run in a temporary folder
    outside ``reports/``), the report page, the provenance and the manifest are written
    through it afterwards. The build is published only when every notebook ran, every file
    in the data folders has a release record, the required tables are there and the
    release check passed.

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
        the monitor is protected against (without it, the monitor on
        ``previous_reference_date`` is recomputed from the delivery), and the release check
        also runs :func:`cohort.disclosure.check.check_differencing` against it.
    ledger : path, optional
        The release ledger (default: ``$COHORT_LEDGER``, else ``<reports_root>/.ledger``).
        The release is protected against every entry in it - by suppressing further cells
        of this release until the attack audit passes (:mod:`cohort.disclosure.protect`) -
        and, once the build has passed, recorded in it.
    record : bool
        Record the release in the ledger (a rebuild that only verifies does not).
    ledger_entries : ids, optional
        Protect against these ledger entries only (a rebuild: those its report was built
        against, from its provenance).

    Raises
    ------
    ReportError
        A notebook failed (message: notebook, cell, error), a required table is missing,
        or the release check found a problem. The previous report is left unchanged; the
        failed build keeps only its executed notebooks and the error, never its tables.
    """
    root = root or repo_root()
    if not isinstance(params, Params):
        params = load_params(params)
    notebooks = tuple(notebooks)
    sources = notebook_paths(root, notebooks)
    reports_root = Path(reports_root) if reports_root else root / "reports"
    try:
        reports_root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"cannot create the reports folder {reports_root} ({error.strerror})") from None
    final = reports_root / params.name
    book = ledger_path(ledger, reports_root=reports_root)
    entries = list(ledger_entries) if ledger_entries is not None else None
    with build_lock(final):
        return _build(params, root, sources, reports_root, final, jobs, progress, required_tables, against,
                      book, record, entries)


def _build(params, root, sources, reports_root, final, jobs, progress, required_tables, against,
           book, record, entries) -> Path:
    staging = reports_root / f".{params.name}.building"
    failed = reports_root / f".{params.name}.failed"
    if restore_interrupted(final):
        print(
            f"cohort report: {final.name} was restored from .{final.name}.previous, left by a build "
            "interrupted while it replaced the report",
            file=sys.stderr,
        )
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    gate = ReleaseFolder(staging, params.disclosure)
    started = prov.utc_now()
    snapshot = {key: prov.hash_files([folder], root) for key, folder in _input_folders(params).items()}
    with tempfile.TemporaryDirectory(prefix=f"cohort-{params.name}-") as run_dir:
        executed = Path(run_dir)
        try:
            settings = params.settings
            delivery = _prewarm(params)
            context = release_context(params, delivery, root)
            if against is not None:
                _stage_previous_monitor(Path(against), gate)
            parameters = params.notebook_parameters(output_dir=str(staging))
            protected = _protect(params, gate, sources, executed, parameters, jobs, progress, required_tables,
                                 settings, context, against, book, entries)
            for key, folder in _input_folders(params).items():
                if prov.hash_files([folder], root) != snapshot[key]:
                    raise ReportError(
                        f"report {params.name}: the {key.replace('_', ' ')} {_rel(folder, root)} changed "
                        "while the report was being built, so its notebooks may have read different "
                        "versions; build it again once the delivery is complete"
                    )
            for src in sources:
                nb = prov.normalise_notebook(
                    _read_notebook(executed / src.name), {str(staging): f"reports/{params.name}"}
                )
                gate.write_document(f"notebooks/{src.name}", prov.notebook_text(nb))
            releases = gate.close_records()
            provenance = _provenance(params, root, sources, started, settings, protected)
            gate.write_document("provenance.json", dumps_json(provenance))
            document = build_document(params, staging, sources, releases, provenance, root)
            gate.write_document("report.html", render_document_html(document))
            gate.write_document("report.pdf", document_pdf(document))
            gate.write_document(
                "manifest.json",
                dumps_json(_manifest(staging, releases, params, protected["structural"], protected["further_by_file"])),
            )
            if record:
                # recorded before the report is swapped in: a release on disk is always in
                # the ledger (if the swap fails, the ledger errs on the safe side)
                from cohort.disclosure.check import record_release

                roles = {file: r.get("columns", {}) for file, r in releases.items()}
                alone = {file: r["not_additive"] for file, r in releases.items() if r.get("not_additive")}
                record_release(staging, context, settings, ledger=book, roles=roles, not_additive=alone)
        except NotebookFailed as error:
            keep = [error.notebook] if error.notebook is not None else []
            kept = discard_build(staging, failed, str(error), notebooks=keep)
            raise ReportError(
                f"{error}; the executed notebook with the error is "
                f"{_rel(kept / 'notebooks' / error.notebook.name, root) if error.notebook else _rel(kept, root)}"
            ) from None
        except BaseException as error:
            discard_build(staging, failed, str(error), notebooks=[])
            raise
    publish(staging, final)
    shutil.rmtree(failed, ignore_errors=True)
    return final


def run_notebooks(params: Params, gate: ReleaseFolder, executed: Path, sources: Sequence[Path], *,
                  jobs: int = 2, progress: bool = False, required_tables: Iterable[str] = REQUIRED_TABLES,
                  against: str | Path | None = None) -> dict[str, dict]:
    """Run the report's notebooks into the release folder ``gate`` (executed copies in
    ``executed``) and return the release records, before the release check: the first
    half of a build (:func:`build_report`), and what a test of "every analysis is shown,
    estimable here or not" needs.

    Raises
    ------
    ReportError
        A notebook failed, a file was written past the gate, or a required table is missing.
    """
    staging = gate.folder
    _prewarm(params)
    if against is not None:
        _stage_previous_monitor(Path(against), gate)
    parameters = params.notebook_parameters(output_dir=str(staging))
    runs = [(src, executed / src.name, parameters) for src in sources]
    _run_all(runs, jobs, progress, f"report {params.name}")
    for src in sources:
        nb = prov.normalise_notebook(
            _read_notebook(executed / src.name), {str(staging): f"reports/{params.name}"}
        )
        gate.write_document(f"notebooks/{src.name}", prov.notebook_text(nb))
    stray = gate.unrecorded_files()
    if stray:
        raise ReportError(
            f"{stray[0]} was written without going through the release gate "
            "(cohort.disclosure.writer.ReleaseFolder); released files must be "
            "recorded and checked"
        )
    releases = gate.close_records()
    missing = [t for t in required_tables if f"tables/{t}.csv" not in releases]
    if missing:
        raise ReportError(
            f"report {params.name}: no notebook released the required table "
            f"tables/{missing[0]}.csv; each of {', '.join(required_tables)} must be released"
        )
    return releases


#: Passes of the notebooks: the first, and at most three more that suppress further cells.
MAX_PASSES = 4


def _protect(params, gate, sources, executed, parameters, jobs, progress, required_tables, settings,
             context, against, book, entries) -> dict:
    """Run the notebooks and protect their release against itself and the ledger.

    The first pass runs every notebook. The release is checked (content rules and the
    attack audit over the ledger and this release); cells the audit finds unprotected are
    protected by suppressing further cells of this release
    (:func:`cohort.disclosure.protect.choose_suppressions`), which the notebooks holding
    them - and those showing a view of them - apply when they run again. Repeated until
    the check passes, at most :data:`MAX_PASSES` passes. Returns what the provenance and
    the manifest record about it.
    """
    import time

    from cohort.disclosure.check import errors, format_findings, run_check
    from cohort.disclosure.protect import SUPPRESSIONS, Suppressions, choose_suppressions

    by_name = {src.stem: src for src in sources}
    to_run = list(sources)
    further = Suppressions()
    digests: dict[str, str] = {}
    timing = {"notebooks": 0.0, "check": 0.0, "choose": 0.0}
    passes = 0
    audits = 0
    while True:
        passes += 1
        t0 = time.perf_counter()
        label = f"report {params.name}" if passes == 1 else f"report {params.name} (pass {passes})"
        _run_all([(src, executed / src.name, parameters) for src in to_run], jobs, progress, label)
        timing["notebooks"] += time.perf_counter() - t0
        stray = gate.unrecorded_files()
        if stray:
            raise ReportError(
                f"{stray[0]} was written without going through the release gate "
                "(cohort.disclosure.writer.ReleaseFolder); released files must be "
                "recorded and checked"
            )
        releases = gate.records()
        if passes == 1:
            missing = [t for t in required_tables if f"tables/{t}.csv" not in releases]
            if missing:
                raise ReportError(
                    f"report {params.name}: no notebook released the required table "
                    f"tables/{missing[0]}.csv; each of {', '.join(required_tables)} must be released"
                )
            digests = {file: sha256_file(gate.folder / file) for file in releases}
            unknown = sorted({v["notebook"] for v in gate.views() if v["sha256"] not in digests.values()})
            if unknown:
                raise ReportError(
                    f"notebook {unknown[0]} shows a table of protected cells that no notebook of the "
                    "report releases (Report.protect is for views of released tables); release it "
                    "with report.table, or show a released table"
                )
        roles = {file: r.get("columns", {}) for file, r in releases.items()}
        alone = {file: r["not_additive"] for file, r in releases.items() if r.get("not_additive")}
        t0 = time.perf_counter()
        result = run_check(gate.folder, settings=settings, against=against, roles=roles, ledger=book,
                           context=context, ledger_entries=entries, skip=(RECORDS, INPUTS),
                           not_additive=alone)
        timing["check"] += time.perf_counter() - t0
        audits += 1
        found = errors(result.findings)
        content = [f for f in found if f.rule != "derivable-cell"]
        if content or (found and passes >= MAX_PASSES):
            raise ReportError(
                f"report {params.name}: the release check failed:\n" + format_findings(content or found)
            )
        if not found:
            break
        t0 = time.perf_counter()
        pairs = {f: r["disclosure"]["proportion"] for f, r in releases.items()
                 if (r.get("disclosure") or {}).get("proportion")}
        choice = choose_suppressions(result, pairs=pairs)
        timing["choose"] += time.perf_counter() - t0
        audits += choice.stats.get("audits", 0)
        merged = further.merge(Suppressions(choice.suppressions.cells, {f: digests[f] for f in choice.suppressions.cells if f in digests}))
        # cells the chooser could not protect this round may be protected by the others it
        # chose (the next pass audits again); a pass that adds nothing fails the build
        if len(merged) == len(further):
            raise ReportError(
                f"report {params.name}: the release check failed, and suppressing further cells of "
                "this release cannot protect these cells (earlier releases give them away, or "
                "nothing this release shows pins them):\n" + format_findings(found)
            )
        further = merged
        gate.stage_input(SUPPRESSIONS, text=further.as_json())
        touched = {f for f in further.files()}
        again = {releases[f].get("notebook") for f in touched if f in releases}
        again |= {v["notebook"] for v in gate.views() if v["sha256"] in {digests.get(f) for f in touched}}
        if None in again or "unknown" in again or not again <= set(by_name):
            raise ReportError(
                f"report {params.name}: further suppressions are needed in "
                f"{', '.join(sorted(touched))}, but the notebook that released them is not known"
            )
        for notebook in sorted(again):
            gate.forget(notebook)
        to_run = [by_name[n] for n in by_name if n in again]
    return {
        "passes": passes,
        "further_suppressions": len(further),
        "further_by_file": {f: len(c) for f, c in further.cells.items() if c},
        "audits": audits,
        "earlier_releases": list(result.earlier_ids),
        "structural": result.structural,
        "audit": dict(result.audit_stats),
        "seconds": {k: round(v, 2) for k, v in timing.items()},
    }


def release_context(params: Params, delivery, root: Path):
    """What the release says about its populations (:class:`cohort.disclosure.ledger.ReleaseContext`):
    the report's sites resolved from the delivery, its dates, the delivery fingerprint, the
    rounding and each site's delivery period."""
    from cohort.definitions.population import site_periods
    from cohort.delivery.read import delivery_hashes, fingerprint_of
    from cohort.disclosure.ledger import ReleaseContext

    periods = site_periods(delivery)
    known = sorted(delivery.tables["sites"]["site"].astype(str)) if "sites" in delivery.tables else sorted(periods)
    sites = tuple(sorted(params.sites)) if params.sites is not None else tuple(known)
    return ReleaseContext(
        report=params.name,
        sites=sites,
        study_start=params.study_start.isoformat(),
        reference_date=params.reference_date.isoformat(),
        fingerprint=fingerprint_of(delivery_hashes(params.delivery)),
        rounding=params.disclosure.rounding,
        site_periods={s: periods[s] for s in sites if s in periods},
    )


def _stage_previous_monitor(against: Path, gate: ReleaseFolder) -> None:
    """Hand the notebooks the earlier report's released monitor (``--against``)."""
    source = against / "tables" / "monitor.csv"
    if not source.is_file():
        raise ReportError(
            f"--against {against}: no released monitor {source}; name the folder of a report "
            "built by cohort report (e.g. reports/interim-2024q4)"
        )
    gate.stage_input(PREVIOUS_MONITOR, source)


def _input_folders(params: Params) -> dict[str, Path]:
    """The deliveries a report reads, by parameter: ``delivery`` and, when set,
    ``comparison_delivery`` (the effects section's). Both are hashed into the provenance
    and must stay unchanged while the report is built."""
    folders = {"delivery": Path(params.delivery)}
    if params.comparison_delivery is not None:
        folders["comparison_delivery"] = Path(params.comparison_delivery)
    return folders


def _prewarm(params: Params):
    """Load the deliveries once before the notebooks run, and return the delivery.

    This fills the loader's Parquet cache, so notebooks running side by side read it instead
    of validating the delivery at the same time, and a delivery that cannot be read stops
    the build before any kernel starts.
    """
    from cohort.delivery.load import load
    from cohort.report.params import check_against_delivery, check_comparison_delivery

    delivery = load(params.delivery, on_error="proceed")
    # everything the parameter file refers to is checked here, before any kernel starts
    check_against_delivery(params, delivery)
    if params.comparison_delivery is not None:
        check_comparison_delivery(params, load(params.comparison_delivery, on_error="proceed"))
    return delivery


def _provenance(params: Params, root: Path, sources: Sequence[Path], started: str, settings=None,
                protected: dict | None = None) -> dict:
    from cohort.delivery.read import delivery_hashes, fingerprint_of

    inputs = {key: prov.hash_files([folder], root) for key, folder in _input_folders(params).items()}
    code_files = [*sources, root / "docs" / "definitions.md", root / "docs" / "definitions.nl.md"]
    if params.source:
        code_files.append(Path(params.source))
    code_inputs = prov.hash_files([p for p in code_files if p.exists()], root)
    out = {
        "report": params.name,
        "parameter_file": _rel(params.source, root) if params.source else None,
        "parameters": params.notebook_parameters(),
        "seeds": {"seed": params.seed, "PYTHONHASHSEED": "0"},
        "git": prov.git_info(root),
        "inputs": {**inputs, "code": code_inputs},
        "delivery_fingerprint": fingerprint_of(delivery_hashes(params.delivery)),
        **(
            {"comparison_delivery_fingerprint": fingerprint_of(delivery_hashes(params.comparison_delivery))}
            if params.comparison_delivery is not None else {}
        ),
        "versions": prov.package_versions(),
        "started": started,
        "finished": prov.utc_now(),
    }
    if settings is not None:
        # the threshold in force, the workbench minimum and any explicit lowering of it
        out["disclosure"] = settings.as_dict()
    if protected is not None:
        out["protection"] = {k: v for k, v in protected.items() if k != "structural"}
    return out


def _rel(path: str | Path, root: Path) -> str:
    with contextlib.suppress(ValueError):
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    return str(path)


def _release_status(record: dict, policy) -> str:
    """Disclosure-control status of a released file, for the manifest."""
    if not policy.enabled:
        return "not controlled: not for release"
    disclosure = record.get("disclosure") or {}
    if disclosure.get("applied"):
        rule = disclosure.get("rule")
        how = f"disclosure control applied ({rule})" if rule else "disclosure control applied"
    else:
        how = f"exempt from disclosure control: {record.get('exemption')}"
    return f"passed the release check; {how}"


def _manifest(staging: Path, releases: dict[str, dict], params: Params, structural: dict | None = None,
              further: dict | None = None) -> dict:
    """Every file of the report with its sha256, size and disclosure-control status; for a
    released file also its column roles, its structural zeros (``{column: [rows]}``: zeros
    by construction, such as a site's counts outside its delivery period), the cells the
    build suppressed further to protect the release against the ledger, and the text cells
    the gate neutralised."""
    policy = params.disclosure
    files = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        rel = path.relative_to(staging).as_posix()
        if rel == "manifest.json":
            continue
        entry = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        if rel in releases:
            record = releases[rel]
            entry.update(
                kind=record["kind"],
                caption=record["caption"],
                rows=record["rows"],
                suppressed_cells=record["suppressed_cells"],
                columns=record.get("columns", {}),
                disclosure=_release_status(record, policy),
                structural_zeros=(structural or {}).get(rel, {}),
                ledger_suppressed=int((further or {}).get(rel, 0)),
                neutralised_cells=int(record.get("neutralised_cells", 0)),
            )
            if record.get("not_additive"):
                entry["not_additive"] = record["not_additive"]
            if record.get("exemption"):
                entry["exemption"] = record["exemption"]
            if record.get("about"):
                entry["about"] = record["about"]
        elif rel.startswith("notebooks/"):
            entry.update(kind="notebook", disclosure="shows released tables and figures only")
        elif rel in ("report.html", "report.pdf"):
            entry.update(kind="report", disclosure="shows released tables and figures only")
        else:
            entry.update(kind="provenance", disclosure="no data")
        files[rel] = entry
    exemptions = {rel: r["exemption"] for rel, r in releases.items() if r.get("exemption")}
    return {
        "report": params.name,
        "disclosure_policy": policy.as_dict(),
        "exemptions": exemptions,
        "files": files,
    }
