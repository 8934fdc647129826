"""Benchmark: validating and loading a national-scale delivery.

Generates a delivery on the fly with numpy/pyarrow (independent of ``cohort synth``):
``--households`` households (default 1,000,000) with about 1.5 episodes each, 4 safety
assessments per episode, a legal measure for about 15% of episodes and 2 referrals per
household: about 10.5 million rows in all at the default size. A small number of faults
is planted (0.1% of scores out of range, 0.1% of closures before registration) so the
rejection path is exercised too.

It then runs, each in a fresh process so that peak memory (max RSS) is the load's own:

1. ``cohort.load(folder, on_error="proceed")`` without a cache: read, identifier guard,
   typing, validation, cache write;
2. the same call again: a cache hit (hash the files, read Parquet).

Results are written to ``benchmarks/RESULTS.md`` under the heading
"Loading and validation" (other sections of that file are left alone).

Usage::

    python benchmarks/bench_load.py                   # 1M households
    python benchmarks/bench_load.py --households 100000
    python benchmarks/bench_load.py --string-storage python   # one storage only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

HEADING = "## Loading and validation"

#: Figures of the first load before the memory work (same command, same machine), kept in
#: the written section for comparison.
BEFORE = """Before the memory work, the same command measured for the first load the figures below.
Then text columns were typed straight into the configured storage (Python strings by
default) while the raw tables were still held, repeated ids were found and references
looked up through pandas hash tables over all strings, the accepted rows were copied
while the checked table was still held, and the cache was written a whole table at a
time. Now text is Arrow-backed while checking and converted once the raw tables are
gone, ids are compared by sorting in Arrow, the accepted rows are copied a column at a
time, freed memory is returned between tables and the cache is written in row groups.

| pandas `string_storage` | wall seconds | CPU seconds | peak memory (max RSS) | loaded tables in memory |
| --- | --- | --- | --- | --- |
| `python` | 107.0 | 54.5 | 5.19 GB | 3.06 GB |
| `pyarrow` | 70.2 | 46.2 | 4.45 GB | 0.97 GB |

The second load (cache hit) runs the same code as before; it measured 6.6 / 2.1 CPU
seconds and 3.69 / 1.37 GB then.
"""
RESULTS = Path(__file__).parent / "RESULTS.md"
DAY0 = np.datetime64("2019-01-01")
DELIVERY_END = np.datetime64("2026-12-31")


def _ids(prefix: str, n: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), 9, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    values = (DAY0 + days.astype("timedelta64[D]")).astype("datetime64[D]")
    return pa.array(values, type=pa.date32(), mask=mask)


def _write(folder: Path, name: str, columns: dict[str, pa.Array]) -> int:
    table = pa.table(columns)
    pacsv.write_csv(table, folder / f"{name}.csv")
    return table.num_rows


def generate(folder: Path, n_households: int, seed: int = 20250101) -> dict[str, int]:
    """Write a valid-looking delivery of ``n_households`` households; return row counts."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_sites = 10
    end_day = int((DELIVERY_END - DAY0).astype(int))
    counts = {}
    site_codes = np.array([f"S{i:02d}" for i in range(n_sites)])
    counts["sites"] = _write(
        folder,
        "sites",
        {
            "site": pa.array(site_codes),
            "name": pa.array([f"Region {i}" for i in range(n_sites)]),
            "delivery_start": _dates(np.zeros(n_sites, dtype=int)),
            "delivery_end": _dates(np.full(n_sites, end_day)),
        },
    )
    hh_site = rng.integers(0, n_sites, n_households)
    n_children = rng.poisson(1.5, n_households)
    hh_start = rng.integers(0, 1640, n_households)  # 2019-01-01 .. mid 2023
    hh_ids = _ids("SYN-H", n_households)
    counts["households"] = _write(
        folder,
        "households",
        {
            "household_id": hh_ids,
            "site": pa.array(site_codes[hh_site]),
            "has_children": pa.array(n_children > 0),
            "n_children": pa.array(n_children),
            "n_adults": pa.array(rng.integers(1, 4, n_households)),
            "severity": pa.array(rng.integers(1, 6, n_households)),
        },
    )
    # episodes: 1-3 per household, one after the other
    n_ep_hh = np.minimum(1 + rng.poisson(0.5, n_households), 3)
    hh_of_ep = np.repeat(np.arange(n_households), n_ep_hh)
    first = np.repeat(np.cumsum(n_ep_hh) - n_ep_hh, n_ep_hh)
    j = np.arange(len(hh_of_ep)) - first
    n_ep = len(hh_of_ep)
    reg = hh_start[hh_of_ep] + j * 400 + rng.integers(0, 100, n_ep)
    dur = rng.integers(30, 300, n_ep)
    last = j == n_ep_hh[hh_of_ep] - 1
    is_open = last & (rng.random(n_ep) < 0.3)
    clo = reg + dur
    bad_close = rng.random(n_ep) < 0.001  # planted: closure before registration
    clo = np.where(bad_close, reg - 5, clo)
    reasons = np.array(["goal_reached", "transferred", "refused", "moved_away", "other"])
    ep_ids = _ids("SYN-E", n_ep)
    counts["episodes"] = _write(
        folder,
        "episodes",
        {
            "episode_id": ep_ids,
            "household_id": hh_ids.take(pa.array(hh_of_ep)),
            "site": pa.array(site_codes[hh_site[hh_of_ep]]),
            "registration_date": _dates(reg),
            "closure_date": _dates(clo, mask=is_open),
            "closure_reason": pa.array(reasons[rng.integers(0, 5, n_ep)], mask=is_open),
            "referral_source": pa.array(
                np.array(["police", "school", "gp", "self"])[rng.integers(0, 4, n_ep)]
            ),
        },
    )
    span = np.where(is_open, 365, np.maximum(dur, 1))
    # legal measures for about 15% of episodes
    with_measure = np.flatnonzero(rng.random(n_ep) < 0.15)
    n_m = len(with_measure)
    m_start = reg[with_measure] + (rng.random(n_m) * np.minimum(span[with_measure], 200)).astype(
        int
    )
    m_start = np.minimum(m_start, end_day)
    m_end = m_start + rng.integers(30, 400, n_m)
    types = np.array(
        [
            "supervision_order",
            "custody_termination",
            "barring_order",
            "contact_ban",
            "probation_order",
        ]
    )
    counts["legal_measures"] = _write(
        folder,
        "legal_measures",
        {
            "measure_id": _ids("SYN-M", n_m),
            "household_id": hh_ids.take(pa.array(hh_of_ep[with_measure])),
            "episode_id": ep_ids.take(pa.array(with_measure)),
            "measure_type": pa.array(types[rng.integers(0, 5, n_m)]),
            "start_date": _dates(m_start),
            "end_date": _dates(np.minimum(m_end, end_day), mask=rng.random(n_m) < 0.4),
        },
    )
    # four safety assessments per episode
    ep_of_a = np.repeat(np.arange(n_ep), 4)
    n_a = len(ep_of_a)
    wave = np.tile(np.arange(4), n_ep)
    a_date = reg[ep_of_a] + (wave / 4 * span[ep_of_a]).astype(int)
    a_date = np.minimum(a_date, end_day)
    score = np.round(rng.uniform(0, 10, n_a) * 4) / 4
    score[rng.random(n_a) < 0.001] = 12.5  # planted: out of range
    counts["safety_assessments"] = _write(
        folder,
        "safety_assessments",
        {
            "assessment_id": _ids("SYN-A", n_a),
            "household_id": hh_ids.take(pa.array(hh_of_ep[ep_of_a])),
            "episode_id": ep_ids.take(pa.array(ep_of_a)),
            "assessment_date": _dates(a_date),
            "respondent": pa.array(
                np.array(["professional", "parent", "child"])[rng.integers(0, 3, n_a)]
            ),
            "score": pa.array(score),
            "wave": pa.array(np.array(["T0", "T1", "T2", "T3"])[wave]),
        },
    )
    # two referrals per household
    hh_of_r = np.repeat(np.arange(n_households), 2)
    n_r = len(hh_of_r)
    r_date = np.minimum(hh_start[hh_of_r] + rng.integers(-60, 1500, n_r), end_day)
    r_date = np.maximum(r_date, 0)
    counts["referrals"] = _write(
        folder,
        "referrals",
        {
            "referral_id": _ids("SYN-R", n_r),
            "household_id": hh_ids.take(pa.array(hh_of_r)),
            "referral_date": _dates(r_date),
            "source": pa.array(
                np.array(["police", "school", "gp", "neighbour"])[rng.integers(0, 4, n_r)]
            ),
        },
    )
    return counts


def measure(folder: Path, cache: Path, string_storage: str) -> dict:
    """Run one load in this process; return seconds, max RSS and counts."""
    import pandas as pd

    pd.options.mode.string_storage = string_storage
    import cohort

    t0 = time.perf_counter()
    start = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = start.ru_utime + start.ru_stime
    delivery = cohort.load(folder, on_error="proceed", cache_dir=cache)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_kb = usage.ru_maxrss
    acc = delivery.validation.accounting
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime - cpu0, 1),
        "max_rss_gb": round(rss_kb / 1024**2, 2),
        "from_cache": delivery.from_cache,
        "rows_read": int(acc["rows_read"].sum()),
        "rows_rejected": int(acc["rows_rejected"].sum()),
        "violations": len(delivery.validation.violations),
        "memory_of_tables_gb": round(
            sum(t.memory_usage(deep=True).sum() for t in delivery.tables.values()) / 1024**3, 2
        ),
    }


def measure_guard(folder: Path) -> dict:
    """Read the raw tables, then time the identifier guard alone (CPU seconds of each)."""
    from cohort.delivery.identifiers import scan_raw_delivery
    from cohort.delivery.read import read_raw_delivery

    c0 = time.process_time()
    raw = read_raw_delivery(folder)
    c1 = time.process_time()
    findings = scan_raw_delivery(raw)
    c2 = time.process_time()
    return {
        "read_cpu_seconds": round(c1 - c0, 1),
        "guard_cpu_seconds": round(c2 - c1, 1),
        "findings": len(findings),
        "lines_read": sum(t.physical_lines for t in raw.tables.values()),
    }


def _run_child(folder: Path, cache: Path, string_storage: str) -> dict:
    if string_storage == "guard":
        args = [sys.executable, __file__, "--measure-guard", str(folder)]
        out = subprocess.run(args, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(folder), str(cache), string_storage],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_results(text: str) -> None:
    """Replace this benchmark's section of RESULTS.md, keeping the other sections."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    start = old.find(HEADING)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + len(HEADING))
        new = old[:start] + text.rstrip("\n") + "\n\n" + (old[nxt + 1 :] if nxt >= 0 else "")
    RESULTS.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--string-storage", choices=["python", "pyarrow", "both"], default="both")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--measure-guard", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_guard:
        print(json.dumps(measure_guard(Path(args.measure_guard))))
        return 0
    if args.measure:
        folder, cache, storage = args.measure
        print(json.dumps(measure(Path(folder), Path(cache), storage)))
        return 0
    storages = ["python", "pyarrow"] if args.string_storage == "both" else [args.string_storage]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "delivery"
        t0 = time.perf_counter()
        counts = generate(folder, args.households)
        gen = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1024**2
        print(f"generated {sum(counts.values()):,} rows ({size_mb:,.0f} MB CSV) in {gen:.0f} s")
        for storage in storages:
            cache = Path(tmp) / f"cache-{storage}"
            first = _run_child(folder, cache, storage)
            print(f"first load ({storage} strings):", first)
            second = _run_child(folder, cache, storage)
            print(f"second load ({storage} strings):", second)
            runs[storage] = (first, second)
        guard = _run_child(folder, Path(tmp), "guard")
        print("identifier guard alone:", guard)
    rows = "\n".join(f"| {k} | {v:,} |" for k, v in counts.items())
    steps = "\n".join(
        f"| first load: read, identifier guard, typing, validation, Parquet cache write | "
        f"`{st}` | {a['seconds']} | {a['cpu_seconds']} | {a['max_rss_gb']} GB | "
        f"{a['memory_of_tables_gb']} GB |\n"
        f"| second load: hash the files, read the Parquet cache | `{st}` | {b['seconds']} | "
        f"{b['cpu_seconds']} | {b['max_rss_gb']} GB | {b['memory_of_tables_gb']} GB |"
        for st, (a, b) in runs.items()
    )
    first = next(iter(runs.values()))[0]
    text = f"""{HEADING}

`python benchmarks/bench_load.py --households {args.households} --string-storage {args.string_storage}`
on {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}, one fresh
process per load. A generated delivery of {args.households:,} households,
{sum(counts.values()):,} rows in all ({size_mb:,.0f} MB of comma CSV), with 0.1% planted
faults:

| table | rows |
| --- | --- |
{rows}

| step | pandas `string_storage` | wall seconds | CPU seconds | peak memory (max RSS) | loaded tables in memory |
| --- | --- | --- | --- | --- | --- |
{steps}

The identifier guard alone (its share of the first load), measured on the raw tables of
the same delivery in a process of its own: reading the raw tables (every text value
quoted, lines counted) {guard["read_cpu_seconds"]} CPU seconds, the guard (every value
and header of {guard["lines_read"]:,} lines against all content rules, name rules and
undeclared text) {guard["guard_cpu_seconds"]} CPU seconds, {guard["findings"]} findings.

Rows rejected: {first["rows_rejected"]:,} ({first["violations"]:,} violations, all planted).
`string_storage="python"` is pandas' default and what the data model documents; with
`pd.options.mode.string_storage = "pyarrow"` set before loading, the same tables (dtype
`string`, Arrow-backed) take far less memory. The machine is shared: wall time depends
on its load, CPU time (user + system of the loading process) does not.

{BEFORE}"""
    if not args.no_write:
        write_results(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
