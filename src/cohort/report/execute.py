"""Running notebooks with papermill in kernels that are this very Python.

The build log stays clean: kernels are shut down without the interrupt that
``jupyter_client`` sends first (see :class:`QuietShutdownKernelManager`), and progress is a
bar on a terminal and plain lines otherwise (:class:`Progress`), so CI logs hold no bar
frames.
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
    "07_effects",
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


def _quiet_shutdown_kernel_manager():
    """The kernel manager class papermill's client starts kernels with (built lazily, so
    importing this module does not import ``jupyter_client``)."""
    global QuietShutdownKernelManager
    if QuietShutdownKernelManager is None:
        from jupyter_client.manager import AsyncKernelManager

        class _Manager(AsyncKernelManager):
            """An ``AsyncKernelManager`` that does not interrupt a kernel it shuts down.

            ``jupyter_client`` sends SIGINT before every shutdown request, to stop a busy
            kernel. Papermill shuts a kernel down right after the reply to its last
            ``kernel_info_request``; the kernel sends that reply from inside its message
            handler, which runs with Python's default SIGINT handler, so the interrupt
            often lands before the handler returns and the kernel logs ``KeyboardInterrupt
            caught in kernel`` on the build's console. Papermill only shuts down a kernel
            that has answered, i.e. one that is not running code, so the interrupt is not
            needed: the shutdown request, and SIGTERM/SIGKILL after ``shutdown_wait_time``,
            still stop it.
            """

            async def _async_interrupt_kernel(self) -> None:
                if self.shutting_down:
                    return
                await super()._async_interrupt_kernel()

        QuietShutdownKernelManager = _Manager
    return QuietShutdownKernelManager


#: Set on first use by :func:`_quiet_shutdown_kernel_manager`.
QuietShutdownKernelManager = None


def _named_kernel_manager(name: str):
    """The kernel manager for notebook ``name``: its kernel knows which notebook it runs
    (:data:`cohort.disclosure.writer.NOTEBOOK_ENV`), so every release record names the
    notebook that released the file."""
    from cohort.disclosure.writer import NOTEBOOK_ENV

    base = _quiet_shutdown_kernel_manager()

    class _Named(base):
        async def _async_pre_start_kernel(self, **kw):
            env = dict(kw.pop("env", None) or os.environ)
            env[NOTEBOOK_ENV] = name
            kw["env"] = env
            return await super()._async_pre_start_kernel(**kw)

    return _Named


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
            kernel_manager_class=_named_kernel_manager(Path(notebook).stem),
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


class Progress:
    """Progress of a build: a bar on a terminal, one plain line per notebook otherwise.

    A bar redraws itself with carriage returns, which a CI log or a file keeps as raw
    frames; there each finished notebook is one line instead.

    Parameters
    ----------
    total : int
        Number of notebooks.
    label : str
        What is being built, e.g. ``"report interim-2024q4"``.
    enabled : bool
        ``False`` shows nothing.
    stream : text stream, optional
        Where progress goes (default ``sys.stderr``).
    terminal : bool, optional
        Whether ``stream`` is a terminal (default: ``stream.isatty()``).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(2, "report demo", stream=out) as progress:
    ...     progress.done("01_data_quality")
    ...     progress.done("02_monitor")
    >>> print(out.getvalue(), end="")
    report demo: 1/2 notebooks done (01_data_quality)
    report demo: 2/2 notebooks done (02_monitor)
    """

    def __init__(self, total: int, label: str, *, enabled: bool = True, stream=None, terminal=None):
        import sys

        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream if stream is not None else sys.stderr
        if terminal is None:
            isatty = getattr(self.stream, "isatty", None)
            terminal = bool(isatty and isatty())
        self.terminal = terminal
        self.count = 0
        self._bar = None
        if enabled and terminal:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=label, unit="notebook", file=self.stream)

    def done(self, name: str) -> None:
        """One more notebook has run."""
        self.count += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(name)
            self._bar.update()
        else:
            print(f"{self.label}: {self.count}/{self.total} notebooks done ({name})", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _run_all(
    jobs_list: Sequence[tuple[Path, Path, dict]], jobs: int, progress: bool, label: str
) -> None:
    """Run notebooks, ``jobs`` at a time; the first failure cancels the rest and is raised."""
    jobs = max(1, int(jobs))
    with (
        _kernel_environment(),
        ThreadPoolExecutor(max_workers=jobs) as pool,
        Progress(len(jobs_list), label, enabled=progress) as bar,
    ):
        futures = {pool.submit(execute_notebook, *job): job[0] for job in jobs_list}
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                for other in futures:
                    other.cancel()
                raise error
            bar.done(futures[future].stem)


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
