"""Running notebooks with papermill in kernels that are this very Python.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from cohort.exceptions import CohortError, ReportError
from cohort.files import dumps_json
from cohort.report.notebook import SOURCE_DATE_EPOCH
from cohort.report.params import (
    repo_root,
)

#: The notebooks of a report, in report order (file stems in ``notebooks/``).
NOTEBOOKS = (
    "01_data_quality",
    "02_monitor",
    "03_reregistration",
    "04_legal_measures",
    "05_safety",
    "06_summary",
)

KERNEL_NAME = "python3"  # the kernel notebooks are saved with; provided by the builder


# --------------------------------------------------------------------------------------
# Running notebooks
# --------------------------------------------------------------------------------------


class NotebookFailed(ReportError):
    """A notebook of a report raised; ``notebook`` is the executed copy with the traceback."""

    def __init__(self, message: str, notebook: Path | None = None):
        super().__init__(message)
        self.notebook = notebook


def _source_cell(notebook: Path, executed: Path, cell_index: int) -> tuple[int | None, str]:
    """The position (1 = first cell) in the *source* notebook of the executed notebook's cell
    ``cell_index``, and the cell's first line.

    Papermill's executed copy has extra cells (two error banners, the injected parameters),
    so its index is not the one a reader finds in the notebook; cells keep their ids, which
    locate the cell in the source.
    """
    import nbformat

    with contextlib.suppress(Exception):
        run = nbformat.read(str(executed), as_version=4)
        # papermill counts cells before it inserts its two error banners
        cells = [c for c in run.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
        cell = cells[cell_index]
        lines = cell.source.strip().splitlines()
        first = lines[0] if lines else ""
        source = nbformat.read(str(notebook), as_version=4)
        ids = [c.get("id") for c in source.cells]
        position = ids.index(cell.get("id")) + 1 if cell.get("id") in ids else None
        return position, first
    return None, ""


def _failure_message(error: Exception, notebook: Path, executed: Path | None) -> str:
    """ReportError text naming the notebook, the failing cell (as numbered in the notebook
    itself) and the error."""
    cell_index = getattr(error, "cell_index", None)
    ename = getattr(error, "ename", type(error).__name__)
    evalue = getattr(error, "evalue", str(error))
    where = f"notebook {notebook.name}"
    if cell_index is not None and executed is not None:
        position, first = _source_cell(notebook, executed, cell_index)
        if position is not None:
            where += f", cell {position}"
        if first:
            where += f" ({first[:80]})"
    return f"{where} failed: {ename}: {evalue}"


def execute_notebook(notebook: Path, output: Path, parameters: dict) -> None:
    """Run one notebook with papermill; papermill errors become :class:`NotebookFailed`."""
    import papermill as pm

    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            progress_bar=False,
            request_save_on_cell_execute=False,
            log_output=False,
        )
    except pm.PapermillExecutionError as error:
        raise NotebookFailed(_failure_message(error, notebook, output), output) from None
    except CohortError:
        raise
    except Exception as error:  # kernel died, notebook unreadable, ...
        kept = output if output.exists() else None
        raise NotebookFailed(_failure_message(error, notebook, kept), kept) from None


@contextlib.contextmanager
def _kernel_environment():
    """Environment the kernels inherit: fixed hash seed and timestamp, inline plots, and a
    ``python3`` kernel that is this very Python.

    The kernel spec is written to a temporary folder put first on ``JUPYTER_PATH``, so a
    user-level ``python3`` kernel pointing at another Python (without this package) is
    never picked up by a report build.
    """
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cohort-kernel-") as tmp:
        spec = Path(tmp) / "kernels" / KERNEL_NAME
        spec.mkdir(parents=True)
        kernel = {
            # log level ERROR: keeps kernel start-up notices (transport warnings) off the console
            "argv": [sys.executable, "-m", "ipykernel_launcher", "--log-level=ERROR", "-f", "{connection_file}"],
            "display_name": "Python 3 (cohort)",
            "language": "python",
        }
        (spec / "kernel.json").write_text(dumps_json(kernel), encoding="utf-8")
        old_path = os.environ.get("JUPYTER_PATH")
        wanted = {
            "PYTHONHASHSEED": "0",
            "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
            "JUPYTER_PATH": tmp + (os.pathsep + old_path if old_path else ""),
        }
        saved = {k: os.environ.get(k) for k in (*wanted, "MPLBACKEND")}
        os.environ.update(wanted)
        os.environ.pop("MPLBACKEND", None)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _run_all(
    jobs_list: Sequence[tuple[Path, Path, dict]], jobs: int, progress: bool, label: str
) -> None:
    """Run notebooks, ``jobs`` at a time; the first failure cancels the rest and is raised."""
    from tqdm.auto import tqdm

    jobs = max(1, int(jobs))
    with _kernel_environment(), ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(execute_notebook, *job): job[0] for job in jobs_list}
        bar = tqdm(total=len(futures), desc=label, unit="notebook", disable=not progress)
        try:
            for future in as_completed(futures):
                error = future.exception()
                if error is not None:
                    for other in futures:
                        other.cancel()
                    raise error
                bar.set_postfix_str(futures[future].stem)
                bar.update()
        finally:
            bar.close()


def notebook_paths(root: Path | None = None, names: Iterable[str] = NOTEBOOKS) -> list[Path]:
    """The report's notebooks under ``root/notebooks``; a missing one is a ReportError."""
    folder = (root or repo_root()) / "notebooks"
    paths = [folder / f"{name}.ipynb" for name in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ReportError(f"notebook {missing[0]} not found; the report needs {', '.join(names)}")
    return paths


def _read_notebook(path: Path):
    import nbformat

    return nbformat.read(str(path), as_version=4)
