"""Time the effects section of the final report: its notebook alone, and the build with and without it.

Run: ``.venv/bin/python benchmarks/bench_effects_report.py [--pairs 2] [--jobs 2] [--alone 3]``
(``--pairs 0``: the notebook alone, without the two builds).

* **Notebook alone**: ``notebooks/07_effects.ipynb`` through papermill with the final
  parameters (its kernel start, the comparison delivery from the Parquet cache, the three
  trials, the propensity models, weighted curves and Cox models, the doubly robust
  estimator, the staggered-adoption analysis with its wild bootstrap, the figures),
  ``--alone`` times, into a temporary folder.
* **Build**: ``cohort report parameters/final-2026.yaml`` with every notebook and with all
  but ``07_effects``, alternated ``--pairs`` times (into temporary folders; the
  repository's ``reports/`` is not touched). The difference of the medians is what the
  section adds to the build; with two notebooks at a time it is less than the notebook's
  own time, since it runs next to another one.

Both deliveries' Parquet caches are warmed first. Prints every wall time and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from cohort.delivery.load import load
from cohort.report.build import build_report
from cohort.report.execute import NOTEBOOKS, _run_all
from cohort.report.params import load_params

ROOT = Path(__file__).resolve().parents[1]
FINAL = ROOT / "parameters" / "final-2026.yaml"
SECTION = "07_effects"


def run_alone(params) -> float:
    """Wall seconds of the effects notebook through papermill with the final parameters."""
    with tempfile.TemporaryDirectory() as tmp:
        source = ROOT / "notebooks" / f"{SECTION}.ipynb"
        start = time.perf_counter()
        _run_all([(source, Path(tmp) / source.name, params.notebook_parameters())], 1, False, SECTION)
        return time.perf_counter() - start


def run_build(params, notebooks, jobs: int) -> float:
    required = () if SECTION not in notebooks else ("effects_hazard_ratios",)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_report(params, jobs=jobs, reports_root=tmp, progress=False, notebooks=notebooks,
                     required_tables=("monitor", *required))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--alone", type=int, default=3)
    args = parser.parse_args()
    params = load_params(FINAL)
    load(params.delivery, on_error="proceed")
    load(params.comparison_delivery, on_error="proceed")

    alone = [run_alone(params) for _ in range(args.alone)]
    print("notebook alone: " + ", ".join(f"{t:.1f}" for t in alone) + f" s; median {statistics.median(alone):.1f} s")

    if args.pairs == 0:
        return
    without = tuple(n for n in NOTEBOOKS if n != SECTION)
    times = {"with": [], "without": []}
    for _ in range(args.pairs):
        times["without"].append(run_build(params, without, args.jobs))
        times["with"].append(run_build(params, NOTEBOOKS, args.jobs))
    for key, values in times.items():
        print(f"build {key} {SECTION} (--jobs {args.jobs}): " + ", ".join(f"{t:.1f}" for t in values)
              + f" s; median {statistics.median(values):.1f} s")
    print(f"added by the section: {statistics.median(times['with']) - statistics.median(times['without']):.1f} s")


if __name__ == "__main__":
    main()
