"""Time building the interim report on the bundled synthetic delivery.

Run: ``.venv/bin/python benchmarks/bench_report.py [--jobs 1 2]``. Builds into a temporary
folder (the repository's ``reports/`` is not touched) and prints the wall time per number
of notebooks run at the same time.

Measured (2 cores, Python 3.11.7, bundled delivery, interim parameters, Parquet cache
warm, machine shared with other work): ``--jobs 1`` 38.1 s, ``--jobs 2`` 19.2 s; see
``benchmarks/RESULTS.md``, section "Reports".
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cohort.report.build import build_report

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--params", default=str(ROOT / "parameters" / "interim-2024q4.yaml"))
    args = parser.parse_args()
    for jobs in args.jobs:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            build_report(args.params, jobs=jobs, reports_root=tmp, progress=False)
            print(f"jobs={jobs}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
