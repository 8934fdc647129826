"""Time building the interim report, side by side with the floor of running six notebooks.

Run: ``.venv/bin/python benchmarks/bench_report.py [--pairs 3] [--jobs 2]``.

The *floor* is what any report of six notebooks run through papermill two at a time costs
at least: one process running six notebooks whose only cell imports pandas, numpy, scipy,
statsmodels, matplotlib and seaborn, with the same kernels and the same two-at-a-time
scheduling as ``cohort report``. The benchmark alternates floor and report builds
(``--pairs`` times each, into temporary folders; the repository's ``reports/`` is not
touched), prints every wall time, the medians and their ratio. The delivery's Parquet
cache is warmed first so that the first build does not pay for validation.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from cohort.delivery.load import load
from cohort.report.build import build_report
from cohort.report.execute import _run_all
from cohort.report.params import load_params

ROOT = Path(__file__).resolve().parents[1]
FLOOR_IMPORTS = "import pandas, numpy, scipy, statsmodels.api, matplotlib.pyplot, seaborn"


def run_floor(jobs: int) -> float:
    """Wall seconds of six import-only notebooks through papermill, ``jobs`` at a time."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = []
        for k in range(6):
            nb = nbformat.v4.new_notebook()
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            nb.cells.append(nbformat.v4.new_code_cell(FLOOR_IMPORTS))
            source = folder / f"floor_{k}.ipynb"
            nbformat.write(nb, str(source))
            runs.append((source, folder / f"out_{k}.ipynb", {}))
        start = time.perf_counter()
        _run_all(runs, jobs, False, "floor")
        return time.perf_counter() - start


def run_report(params, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_report(params, jobs=jobs, reports_root=tmp, progress=False)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--params", default=str(ROOT / "parameters" / "interim-2024q4.yaml"))
    args = parser.parse_args()
    params = load_params(args.params)
    load(params.delivery, on_error="proceed")  # warm the cache
    floor, report = [], []
    for pair in range(1, args.pairs + 1):
        floor.append(run_floor(args.jobs))
        report.append(run_report(params, args.jobs))
        print(f"pair {pair}: floor {floor[-1]:.1f} s, report {report[-1]:.1f} s")
    f, r = statistics.median(floor), statistics.median(report)
    print(f"median floor {f:.1f} s, median report {r:.1f} s, ratio {r / f:.2f}")


if __name__ == "__main__":
    main()
