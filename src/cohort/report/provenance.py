"""Provenance, manifests and normalised notebooks: what a report was built from, byte for byte.

A report carries ``provenance.json`` (code version, sha256 of every input file, the
parameters and seed, versions of Python and key packages, start and end time) and
``manifest.json`` (every file of the report with its sha256 and disclosure-control status).
Executed notebooks are normalised so that two builds of the same inputs give the same
bytes: papermill's timing metadata and the injected cell's random id are replaced, and
execution timestamps are dropped. Times appear only in ``provenance.json``. Files are
hashed and JSON written by :mod:`cohort.files`; the report folder is written by the gate
(:mod:`cohort.disclosure.writer`).

Examples
--------
>>> sorted(package_versions(["pandas"]))
['pandas', 'python']
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path

import nbformat

from cohort.files import sha256_file

__all__ = [
    "KEY_PACKAGES",
    "hash_files",
    "git_info",
    "package_versions",
    "normalise_notebook",
    "notebook_text",
    "utc_now",
]

#: Packages whose versions can change a published number; recorded in every provenance.
KEY_PACKAGES = (
    "cohort",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "lifelines",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbformat",
    "nbconvert",
    "ipykernel",
    "pyyaml",
    "jinja2",
)

#: Cell metadata keys that record when or how long a cell ran; removed on normalising.
_VOLATILE_CELL_METADATA = ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled")
INJECTED_CELL_ID = "injected-parameters"


def hash_files(paths: Iterable[Path], root: Path) -> dict[str, str]:
    """sha256 per file, keyed by its path relative to ``root`` (POSIX), sorted.

    Folders are walked; hidden files (a leading dot) are skipped.
    """
    out: dict[str, str] = {}
    for path in paths:
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            rel = _relative(f, root)
            if any(part.startswith(".") for part in Path(rel).parts):
                continue
            out[rel] = sha256_file(f)
    return dict(sorted(out.items()))


def _relative(path: Path, root: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def git_info(root: Path) -> dict:
    """The commit of the repository at ``root`` and whether the working tree is dirty.

    Returns ``{"commit": None, "dirty": None}`` outside a git checkout (e.g. an unpacked
    release archive), so a report can still be built and says so.
    """

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def package_versions(names: Iterable[str] = KEY_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (``None`` when not installed), plus Python's."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


#: The kernel every committed and executed notebook names: the Jupyter default, which a
#: report build provides as this very Python (:mod:`cohort.report.execute`).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def normalise_notebook(nb: nbformat.NotebookNode, replacements: dict[str, str] | None = None):
    """Return a copy of an executed notebook whose bytes depend only on its inputs.

    * notebook- and cell-level ``papermill`` metadata (start and end times, durations,
      temporary input and output paths) and execution timestamps are removed;
    * the cell papermill injects gets the fixed id ``injected-parameters`` (papermill gives
      it a random one) and every other cell without an id gets ``cell-<n>``;
    * ``replacements`` maps text to replace in the injected cell's source, e.g. the
      temporary build folder by the report's own folder;
    * the kernel is named :data:`KERNELSPEC` (a notebook saved from JupyterLab with another
      kernel, e.g. "Python (cohort)", gets the name back);
    * the kernel's reported language version is kept (it is part of the environment).

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.metadata["papermill"] = {"duration": 1.5}
    >>> cell = nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["injected-parameters"],
    ...                                                  "papermill": {"duration": 0.1}})
    >>> nb.cells.append(cell)
    >>> out = normalise_notebook(nb)
    >>> "papermill" in out.metadata, out.cells[0].id, dict(out.cells[0].metadata)
    (False, 'injected-parameters', {'tags': ['injected-parameters']})
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # deep copy, plain types
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell.id = INJECTED_CELL_ID
            for old, new in (replacements or {}).items():
                cell.source = cell.source.replace(old, new)
        elif not cell.get("id") or cell.id in seen:
            cell.id = f"cell-{index}"
        seen.add(cell.id)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).pop("execution", None)
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """A notebook as text with stable formatting (sorted keys, one-space indent, final newline)."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
