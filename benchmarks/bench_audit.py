"""Benchmark: the release check with the attack audit against a growing release ledger.

Builds, with the package's own monitor (``quarterly_counts`` by site, released by
:func:`cohort.disclosure.release.release`), the release history the issue describes, on a delivery generated on the fly with
numpy (``--households`` households over ``--sites`` sites, registrations from mid 2022 to
2026):

1. the interim report (reference date 2024-12-31), all sites;
2. the same report for all sites but the first;
3. one report per quarter of 2025 (reference dates 2025-03-31 ... 2025-12-31), all sites.

Each report is written through the release gate as a report folder (``tables/monitor.csv``
and a provenance) and checked with :func:`cohort.disclosure.check.run_check` against the
ledger of the reports before it (reading, content rules, relation generation and the
attack audit). With ``--protect`` (as ``cohort report`` does) the cells the audit finds
derivable are then protected by suppressing further cells of the new release
(:func:`cohort.disclosure.protect.choose_suppressions`, applied with
:func:`~cohort.disclosure.protect.apply_suppressions`) and the release is checked again,
until the check passes; then it is recorded in the ledger. Prints a Markdown table: per
release the cells in the ledger, the size of the linear system, the programs solved, the
findings of the first check, the cells suppressed further, the findings left and the
seconds of each step; and the peak memory of the process.

Run::

    .venv/bin/python benchmarks/bench_audit.py --households 5000 --sites 13      # interim scale
    .venv/bin/python benchmarks/bench_audit.py --households 1000000 --sites 40  # national
    .venv/bin/python benchmarks/bench_audit.py --households 1000000 --sites 40 --protect

Results are recorded in ``benchmarks/RESULTS.md`` under "Release check and attack audit".
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.disclosure.check import errors, record_release, run_check
from cohort.disclosure.ledger import Ledger, ReleaseContext
from cohort.disclosure.policy import disclosure_settings
from cohort.disclosure.protect import apply_suppressions, choose_suppressions
from cohort.disclosure.release import release
from cohort.disclosure.writer import ReleaseFolder
from cohort.monitor.series import quarterly_counts


def make_delivery(n_households: int, n_sites: int, seed: int = 2024) -> dict[str, pd.DataFrame]:
    """Households over ``n_sites`` sites of very different sizes, episodes and measures."""
    rng = np.random.default_rng(seed)
    sites = np.array([f"S{i:02d}" for i in range(n_sites)])
    size = rng.pareto(1.2, n_sites) + 0.2  # a few large sites, many small ones
    hh_site = sites[rng.choice(n_sites, n_households, p=size / size.sum())]
    hh_ids = pd.array(np.char.add("H", np.arange(n_households).astype(str)), dtype="string")
    households = pd.DataFrame(
        {
            "household_id": hh_ids,
            "site": pd.array(hh_site, dtype="string"),
            "has_children": pd.array(rng.random(n_households) < 0.84, dtype="boolean"),
        }
    )
    n_episodes = int(n_households * 1.3)
    owner = np.r_[np.arange(n_households), rng.integers(0, n_households, n_episodes - n_households)]
    reg = np.datetime64("2022-06-01") + rng.integers(0, 1400, n_episodes).astype("timedelta64[D]")
    length = rng.gamma(2.0, 120.0, n_episodes).astype(np.int64).astype("timedelta64[D]")
    closure = (reg + length).astype("datetime64[ns]")
    closure[rng.random(n_episodes) < 0.3] = np.datetime64("NaT")
    episodes = pd.DataFrame(
        {
            "episode_id": pd.array(np.char.add("E", np.arange(n_episodes).astype(str)), dtype="string"),
            "household_id": hh_ids[owner],
            "site": pd.array(hh_site[owner], dtype="string"),
            "registration_date": reg.astype("datetime64[ns]"),
            "closure_date": closure,
        }
    )
    n_measures = int(n_households * 0.15)
    pick = rng.integers(0, n_episodes, n_measures)
    start = (reg[pick] + rng.integers(0, 200, n_measures).astype("timedelta64[D]")).astype("datetime64[ns]")
    measures = pd.DataFrame(
        {
            "measure_id": pd.array(np.char.add("M", np.arange(n_measures).astype(str)), dtype="string"),
            "household_id": hh_ids[owner[pick]],
            "episode_id": episodes["episode_id"].array[pick],
            "measure_type": "supervision_order",
            "start_date": start,
        }
    )
    return {"households": households, "episodes": episodes, "legal_measures": measures}


def subset(delivery, sites):
    households = delivery["households"][delivery["households"]["site"].isin(sites)]
    ids = households["household_id"]
    return {
        "households": households,
        "episodes": delivery["episodes"][delivery["episodes"]["household_id"].isin(ids)],
        "legal_measures": delivery["legal_measures"][delivery["legal_measures"]["household_id"].isin(ids)],
    }


def write_monitor(folder: Path, series: pd.DataFrame, settings) -> None:
    """Release ``series`` as ``tables/monitor.csv`` through the gate, with a manifest of
    the column roles the gate recorded (as a build writes it)."""
    target = folder / "tables" / "monitor.csv"
    target.unlink(missing_ok=True)
    gate = ReleaseFolder(folder, settings.policy)
    gate.release(series, "monitor")
    records = gate.close_records()
    manifest = {"files": {f: {"columns": r["columns"]} for f, r in records.items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--sites", type=int, default=13)
    parser.add_argument("--keep", metavar="DIR", default=None, help="keep the reports and ledger here")
    parser.add_argument("--protect", action="store_true",
                        help="protect each release against the ledger before recording it, as a build does")
    args = parser.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-audit-"))
    reports = root / "reports"
    ledger = reports / ".ledger"
    t = time.perf_counter()
    delivery = make_delivery(args.households, args.sites)
    generate = time.perf_counter() - t
    all_sites = tuple(sorted(delivery["households"]["site"].unique()))
    history = [("interim", all_sites, "2024-12-31"), ("interim-but-one", all_sites[1:], "2024-12-31")]
    history += [(f"q{q}-2025", all_sites, d) for q, d in
                enumerate(["2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31"], start=1)]
    settings = disclosure_settings({})
    rows = []
    for name, sites, reference in history:  # six releases, one after the other
        t = time.perf_counter()
        series = release(quarterly_counts(subset(delivery, sites), reference, by="site"), settings.policy)
        monitor_s = time.perf_counter() - t
        folder = reports / name
        folder.mkdir(parents=True, exist_ok=True)
        write_monitor(folder, series, settings)
        provenance = {"report": name, "parameters": {"sites": list(sites), "reference_date": reference,
                                                     "study_start": "2023-01-01", "disclosure": {"threshold": 10}}}
        (folder / "provenance.json").write_text(json.dumps(provenance), encoding="utf-8")
        earlier = int(sum(len(e.cells) for e in Ledger(ledger).entries()))
        t = time.perf_counter()
        result = run_check(folder, ledger=ledger)
        check_s = time.perf_counter() - t
        first = collections.Counter(f.rule for f in errors(result.findings))
        st = dict(result.audit_stats)
        further, protect_s, passes = 0, 0.0, 1
        while args.protect and first.get("derivable-cell", 0) and errors(result.findings) and passes < 10:
            t = time.perf_counter()
            choice = choose_suppressions(result)
            cells = choice.suppressions.cells.get("tables/monitor.csv", [])
            if not cells:
                protect_s += time.perf_counter() - t
                break
            further += len(cells)
            series = apply_suppressions(series, cells)
            write_monitor(folder, series, settings)
            result = run_check(folder, ledger=ledger)
            protect_s += time.perf_counter() - t
            passes += 1
        left = collections.Counter(f.rule for f in errors(result.findings))
        t = time.perf_counter()
        record_release(folder, ReleaseContext(name, sites=sites, reference_date=reference), settings, ledger=ledger)
        record_s = time.perf_counter() - t
        rows.append(
            (name, len(series), earlier, st.get("cells", 0), st.get("relations", 0),
             st.get("unknown_in_relations", 0), st.get("components", 0), st.get("lp", 0) + st.get("milp", 0),
             first.get("derivable-cell", 0), further, left.get("derivable-cell", 0), round(monitor_s, 2),
             round(check_s, 2), st.get("seconds", 0.0), round(protect_s, 2), round(record_s, 2))
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"households {args.households:,}, sites {args.sites}; generate {generate:.2f} s; "
          f"Python {platform.python_version()}, {platform.machine()}; peak memory {peak:,.0f} MB")
    print()
    print("| release | monitor rows | ledger cells before | system cells | relations | unknowns in relations "
          "| components | programs | derivable cells | suppressed further | derivable left | monitor s | check s "
          "| of which audit s | protect s | record s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in r) + " |")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
