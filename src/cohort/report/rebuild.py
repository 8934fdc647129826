"""Rebuilding a report from its provenance, and refreshing the committed notebooks.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from cohort.disclosure.ledger import ledger_path
from cohort.exceptions import ReportError
from cohort.report import provenance as prov
from cohort.report.build import REQUIRED_TABLES, _input_folders, _prewarm, build_report
from cohort.report.execute import NOTEBOOKS, _read_notebook, _run_all, notebook_paths
from cohort.report.params import (
    from_mapping,
    load_params,
    notebook_parameters,
    repo_root,
)

# --------------------------------------------------------------------------------------
# Rebuilding and refreshing
# --------------------------------------------------------------------------------------


def rebuild_report(
    report_dir: str | Path, *, jobs: int = 2, progress: bool = True, root: Path | None = None
) -> dict:
    """Rebuild a report from its ``provenance.json`` and compare it byte for byte.

    The inputs recorded in the provenance must be unchanged (else a ReportError names the
    first changed file). The rebuild goes to a temporary folder next to the report, and
    the report itself is not touched. It is protected against the ledger entries the
    report was protected against (``provenance.json``: ``protection.earlier_releases``),
    in the report's ledger, and it is not recorded in the ledger.

    Returns
    -------
    dict
        ``{"identical": [...], "different": [...], "missing": [...], "extra": [...],
        "commit": {"built": ..., "now": ...}}`` over tables, figure data and notebooks.
    """
    report_dir = Path(report_dir)
    root = root or repo_root()
    provenance_path = report_dir / "provenance.json"
    if not provenance_path.is_file():
        raise ReportError(f"{provenance_path} not found: {report_dir} is not a report folder")
    provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
    manifest = json.loads((report_dir / "manifest.json").read_text(encoding="utf-8"))
    params = from_mapping(provenance["parameters"], source=str(provenance_path), root=root)
    changed = []
    for key, folder in _input_folders(params).items():
        recorded = provenance["inputs"].get(key, {})
        current = prov.hash_files([folder], root)
        changed += sorted(k for k in set(recorded) | set(current) if recorded.get(k) != current.get(k))
    if changed:
        raise ReportError(
            f"cannot rebuild {report_dir}: input file {changed[0]} changed since the report was "
            "built (sha256 differs or the file is missing/new); restore the delivery it was built from"
        )
    scratch = report_dir.parent / f".{report_dir.name}.rebuild"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        stems = [Path(f).stem for f in manifest["files"] if f.startswith("notebooks/")]
        order = [n for n in NOTEBOOKS if n in stems] + sorted(set(stems) - set(NOTEBOOKS))
        required = [t for t in REQUIRED_TABLES if f"tables/{t}.csv" in manifest["files"]]
        # protected against the same earlier releases as the report was (the ledger has the
        # report itself by now), and not recorded: a rebuild verifies, it releases nothing
        protection = provenance.get("protection") or {}
        rebuilt = build_report(
            params,
            jobs=jobs,
            reports_root=scratch,
            progress=progress,
            notebooks=order,
            required_tables=required,
            root=root,
            ledger=ledger_path(report_dir=report_dir),
            record=False,
            ledger_entries=protection.get("earlier_releases", []),
        )
        new_manifest = json.loads((rebuilt / "manifest.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def compared(files):
        return {
            k: v["sha256"]
            for k, v in files.items()
            if k.split("/", 1)[0] in ("tables", "figure-data", "notebooks")
        }

    old, new = compared(manifest["files"]), compared(new_manifest["files"])
    return {
        "identical": sorted(k for k in old if new.get(k) == old[k]),
        "different": sorted(k for k in old if k in new and new[k] != old[k]),
        "missing": sorted(set(old) - set(new)),
        "extra": sorted(set(new) - set(old)),
        "commit": {
            "built": provenance["git"].get("commit"),
            "built_dirty": provenance["git"].get("dirty"),
            "now": prov.git_info(root)["commit"],
        },
    }


def refresh_notebooks(
    params_path: str | Path | None = None,
    *,
    jobs: int = 2,
    progress: bool = True,
    names: Iterable[str] = NOTEBOOKS,
    root: Path | None = None,
) -> list[Path]:
    """Re-execute the committed notebooks in place on their own parameters, normalised.

    Each notebook's ``parameters`` cell already holds the interim parameter set; this
    checks that it agrees with ``params_path`` (default ``parameters/interim-2024q4.yaml``)
    and runs the notebook without injecting anything, so the committed notebook shows
    exactly what a reviewer gets from running it. Nothing is written unless every notebook
    runs: outputs go to a temporary folder first.
    """
    root = root or repo_root()
    params_path = Path(params_path) if params_path else root / "parameters" / "interim-2024q4.yaml"
    params = load_params(params_path)
    expected = params.notebook_parameters()
    sources = notebook_paths(root, names)
    for src in sources:
        found = notebook_parameters(src)
        if found != expected:
            keys = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
            raise ReportError(
                f"{src.name}: parameter {keys[0]!r} in the parameters cell is "
                f"{found.get(keys[0])!r} but {params_path.name} has {expected.get(keys[0])!r}; "
                "make the parameters cell match the interim parameter file"
            )
    _prewarm(params)
    scratch = root / "notebooks" / ".refresh"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        _run_all([(src, scratch / src.name, {}) for src in sources], jobs, progress, "notebooks")
        for src in sources:
            nb = prov.normalise_notebook(_read_notebook(scratch / src.name))
            (scratch / src.name).write_text(prov.notebook_text(nb), encoding="utf-8")
        for src in sources:
            os.replace(scratch / src.name, src)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sources
