"""Running notebooks with papermill in kernels that are this very Python.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from cohort.exceptions import CohortError, ReportError
from cohort.report import provenance as prov
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
SOURCE_DATE_EPOCH = "1735603200"  # 2024-12-31: fixed timestamp for anything that embeds one


# --------------------------------------------------------------------------------------
# Running notebooks
# --------------------------------------------------------------------------------------


def _failure_message(error: Exception, notebook: Path, executed: Path | None) -> str:
    """ReportError text naming the notebook, the failing cell and the error."""
    cell_index = getattr(error, "cell_index", None)
    ename = getattr(error, "ename", type(error).__name__)
    evalue = getattr(error, "evalue", str(error))
    where = f"notebook {notebook.name}"
    if cell_index is not None:
        where += f", cell {cell_index}"
        source = ""
        with contextlib.suppress(Exception):
            import nbformat

            nb = nbformat.read(str(executed), as_version=4)
            source = nb.cells[cell_index].source.strip().splitlines()
            source = source[0] if source else ""
        if source:
            where += f" ({source[:80]})"
    kept = f"; the executed notebook with the error is {executed}" if executed else ""
    return f"{where} failed: {ename}: {evalue}{kept}"


def execute_notebook(notebook: Path, output: Path, parameters: dict) -> None:
    """Run one notebook with papermill; papermill errors become :class:`ReportError`."""
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
        raise ReportError(_failure_message(error, notebook, output)) from None
    except CohortError:
        raise
    except Exception as error:  # kernel died, notebook unreadable, ...
        raise ReportError(_failure_message(error, notebook, output if output.exists() else None)) from None


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
        prov.write_json(
            spec / "kernel.json",
            {
                # log level ERROR: keeps kernel start-up notices (transport warnings) off the console
                "argv": [sys.executable, "-m", "ipykernel_launcher", "--log-level=ERROR", "-f", "{connection_file}"],
                "display_name": "Python 3 (cohort)",
                "language": "python",
            },
        )
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
