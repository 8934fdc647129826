"""Benchmark: the full quarterly monitor (all quarters, by site) for many households.

Generates a delivery on the fly with numpy (independent of the synthetic-data generator):
``--households`` households over 12 sites, 1.3 episodes per household on average (some
overlapping, some before the study start, some after the reference date), 0.15 legal
measures per household. Times each step and the whole ``monitor_summary`` +
``quarterly_counts`` released with disclosure control on, and prints a Markdown table.

Run::

    .venv/bin/python benchmarks/bench_monitor.py --households 1000000

Results are recorded in ``benchmarks/RESULTS.md`` under "Quarterly monitor".
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np
import pandas as pd

from cohort.disclosure.policy import DEFAULT_POLICY, NO_DISCLOSURE_CONTROL
from cohort.disclosure.release import release
from cohort.monitor.indicators import indicator_counts, prepare
from cohort.monitor.series import monitor_summary, quarterly_counts

REFERENCE = "2024-12-31"


def make_delivery(n_households: int, seed: int = 2024) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    sites = np.array([f"S{i:02d}" for i in range(12)])
    hh_ids = pd.array(np.char.add("H", np.arange(n_households).astype(str)), dtype="string")
    hh_site = sites[rng.integers(0, len(sites), n_households)]
    households = pd.DataFrame(
        {
            "household_id": hh_ids,
            "site": pd.array(hh_site, dtype="string"),
            "has_children": pd.array(rng.random(n_households) < 0.84, dtype="boolean"),
        }
    )
    n_episodes = int(n_households * 1.3)
    owner = np.r_[np.arange(n_households), rng.integers(0, n_households, n_episodes - n_households)]
    day0 = np.datetime64("2022-06-01")
    reg = day0 + rng.integers(0, 1000, n_episodes).astype("timedelta64[D]")
    length = rng.gamma(2.0, 120.0, n_episodes).astype(np.int64).astype("timedelta64[D]")
    closure = (reg + length).astype("datetime64[ns]")
    closure[rng.random(n_episodes) < 0.3] = np.datetime64("NaT")
    episodes = pd.DataFrame(
        {
            "episode_id": pd.array(
                np.char.add("E", np.arange(n_episodes).astype(str)), dtype="string"
            ),
            "household_id": hh_ids[owner],
            "site": pd.array(hh_site[owner], dtype="string"),
            "registration_date": reg.astype("datetime64[ns]"),
            "closure_date": closure,
        }
    )
    n_measures = int(n_households * 0.15)
    m_owner = rng.integers(0, n_episodes, n_measures)
    start = reg[m_owner] + rng.integers(0, 200, n_measures).astype("timedelta64[D]")
    measures = pd.DataFrame(
        {
            "measure_id": pd.array(
                np.char.add("M", np.arange(n_measures).astype(str)), dtype="string"
            ),
            "household_id": hh_ids[owner[m_owner]],
            "episode_id": episodes["episode_id"].to_numpy()[m_owner],
            "measure_type": "supervision_order",
            "start_date": start.astype("datetime64[ns]"),
        }
    )
    return {"households": households, "episodes": episodes, "legal_measures": measures}


def timed(label, func, results):
    t0 = time.perf_counter()
    value = func()
    results.append((label, time.perf_counter() - t0))
    return value


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    results: list[tuple[str, float]] = []
    tables = timed(
        "generate delivery (not part of the monitor)",
        lambda: make_delivery(args.households),
        results,
    )
    data = timed("prepare: clip to R, code groups", lambda: prepare(tables, REFERENCE), results)
    timed(
        "raw counts, 8 indicators x 8 quarters x 12 sites (no disclosure)",
        lambda: indicator_counts(None, None, group_by=["site"], data=data),
        results,
    )
    timed(
        "quarterly series by site, disclosure off (prepared data and spells reused)",
        lambda: release(
            quarterly_counts(tables, REFERENCE, by="site", data=data), NO_DISCLOSURE_CONTROL
        ),
        results,
    )

    def full():
        series = release(quarterly_counts(tables, REFERENCE, by="site"), DEFAULT_POLICY)
        return monitor_summary(series), series

    summary, series = timed(
        "full monitor by site from the raw tables (disclosure on)", full, results
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.households:,} households, {len(tables['episodes']):,} episodes, "
        f"{len(tables['legal_measures']):,} measures; Python {platform.python_version()}, "
        f"pandas {pd.__version__}, numpy {np.__version__}"
    )
    print("| step | seconds |")
    print("| --- | ---: |")
    for label, seconds in results:
        print(f"| {label} | {seconds:.2f} |")
    print(
        f"\npeak memory (max RSS): {peak_mb:,.0f} MB; series rows: {len(series)}, "
        f"suppressed: {int(series['suppressed'].sum())}; summary rows: {len(summary)}"
    )


if __name__ == "__main__":
    main()
