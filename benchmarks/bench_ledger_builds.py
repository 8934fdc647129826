"""Build a release history in one reports folder and attack it (issue 12, "done means").

The interim report, the same report for every "all sites but one" subset, a report for
each single site and one for each quarter of 2025 are built one after the other with
``build_report`` into one reports folder (one ledger, no ``--against``). Each build
protects itself against every earlier release in the ledger. Afterwards every released
file of every report is read back and attacked together with the audit
(:func:`cohort.disclosure.check.attack`): the result must be that no suppressed cell and no
count below the threshold can be worked out.

    .venv/bin/python benchmarks/bench_ledger_builds.py                   # the full set
    .venv/bin/python benchmarks/bench_ledger_builds.py --notebooks 02_monitor 03_reregistration
    .venv/bin/python benchmarks/bench_ledger_builds.py --sets interim but-one --limit 3

Prints one line per build (seconds, passes, cells suppressed further, check and choose
seconds) and the attack's result, and writes them as JSON next to the reports
(``--reports-dir``, default a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INTERIM = ROOT / "parameters" / "interim-2024q4.yaml"
QUARTERS = ("2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31")
SETS = ("interim", "but-one", "single", "quarters")


def parameter_sets(sites: list[str], sets=SETS, active_in_2024=None, left_out=None) -> list[tuple[str, dict]]:
    """(name, changes to the interim parameters) for every report of the history, in order:
    ``left_out`` (default every site) names the sites of the "all but one" reports,
    ``active_in_2024`` those of the single-site reports."""
    base = yaml.safe_load(INTERIM.read_text(encoding="utf-8"))
    out = []
    if "interim" in sets:
        out.append((base["name"], {}))
    if "but-one" in sets:
        for site in left_out or sites:
            out.append((f"interim-2024q4-without-{site.lower()}", {"sites": [s for s in sites if s != site]}))
    if "single" in sets:
        for site in active_in_2024 or sites:
            out.append((f"interim-2024q4-{site.lower()}", {"sites": [site]}))
    if "quarters" in sets:
        for date in QUARTERS:
            year, month, _ = date.split("-")
            out.append((f"monitor-{year}q{(int(month) - 1) // 3 + 1}", {"reference_date": date}))
    return out


def write_parameters(folder: Path, name: str, changes: dict) -> Path:
    data = yaml.safe_load(INTERIM.read_text(encoding="utf-8"))
    data.update({"name": name, "issue_date": None, "previous_reference_date": None, "output_dir": None}, **changes)
    for key in ("reference_date", "study_start", "change_date", "issue_date"):
        if data.get(key) is not None:
            data[key] = str(data[key])
    if name != "interim-2024q4":
        data["title"] = f"{data['title']} ({name})"
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports-dir", default=None)
    parser.add_argument("--notebooks", nargs="*", default=None, help="notebook stems (default: all)")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS)
    parser.add_argument("--limit", type=int, default=None, help="at most this many sites per subset kind")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.pop("COHORT_LEDGER", None)
    from cohort.definitions.population import site_periods
    from cohort.delivery.load import load
    from cohort.disclosure.check import attack, run_check
    from cohort.disclosure.ledger import LEDGER_FOLDER
    from cohort.report.build import REQUIRED_TABLES, build_report
    from cohort.report.execute import NOTEBOOKS
    from cohort.report.params import load_params

    notebooks = tuple(args.notebooks) if args.notebooks else NOTEBOOKS
    required = REQUIRED_TABLES if not args.notebooks else ()
    reports = Path(args.reports_dir) if args.reports_dir else Path(tempfile.mkdtemp(prefix="ledger-builds-"))
    reports.mkdir(parents=True, exist_ok=True)
    params_dir = reports / ".parameters"
    params_dir.mkdir(exist_ok=True)
    delivery = load(load_params(INTERIM).delivery, on_error="proceed")
    periods = site_periods(delivery)
    sites = sorted(periods)
    active = [s for s in sites if periods[s][0] <= "2024-12-31"]
    left_out = sites
    if args.limit:
        left_out, active = sites[: args.limit], active[: args.limit]
    plan = parameter_sets(sites, args.sets, active, left_out)
    print(f"{len(plan)} reports into {reports} (notebooks: {', '.join(notebooks)})", flush=True)
    rows = []
    started = time.perf_counter()
    for name, changes in plan:
        path = write_parameters(params_dir, name, changes)
        t0 = time.perf_counter()
        try:
            folder = build_report(path, jobs=args.jobs, reports_root=reports, progress=False,
                                  notebooks=notebooks, required_tables=required, root=ROOT)
        except Exception as error:  # noqa: BLE001 - reported, the history goes on
            rows.append({"report": name, "seconds": round(time.perf_counter() - t0, 1), "error": str(error)[:2000]})
            print(f"{name}: FAILED after {rows[-1]['seconds']} s: {str(error)[:500]}", flush=True)
            continue
        seconds = time.perf_counter() - t0
        protection = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))["protection"]
        row = {"report": name, "seconds": round(seconds, 1), **{k: protection[k] for k in
               ("passes", "further_suppressions", "further_by_file", "audits", "audit")},
               "stages": protection["seconds"], "earlier": len(protection["earlier_releases"])}
        rows.append(row)
        print(
            f"{name}: {row['seconds']} s, {row['passes']} pass(es), {row['further_suppressions']} further "
            f"suppression(s), against {row['earlier']} earlier release(s); check {protection['seconds']['check']} s, "
            f"choose {protection['seconds']['choose']} s, notebooks {protection['seconds']['notebooks']} s",
            flush=True,
        )
    built = [reports / r["report"] for r in rows if "error" not in r]
    t0 = time.perf_counter()
    rs, found = attack(built, ledger=reports / LEDGER_FOLDER, site_periods=periods)
    attack_seconds = time.perf_counter() - t0
    unprotected = found.unprotected
    print(
        f"attack over {len(built)} reports: {len(rs.variables)} cells, {int(rs.system.n_relations)} relations, "
        f"{len(unprotected)} unprotected cell(s), {attack_seconds:.1f} s"
    )
    for cell, row in unprotected.head(20).iterrows():
        print(f"  {rs.describe(cell)}: {row['lower']:g} to {row['upper']:g}")
    # the whole ledger, report by report, as `cohort check-release REPORT` does
    checks = []
    for folder in built:
        t0 = time.perf_counter()
        result = run_check(folder, ledger=reports / LEDGER_FOLDER)
        bad = [f for f in result.findings if f.severity == "error"]
        checks.append({"report": folder.name, "seconds": round(time.perf_counter() - t0, 1), "errors": len(bad)})
    print("check-release against the whole ledger: "
          + ", ".join(f"{c['report']} {c['seconds']} s ({c['errors']} errors)" for c in checks))
    summary = {
        "reports": rows,
        "attack": {"reports": len(built), "cells": len(rs.variables), "relations": int(rs.system.n_relations),
                   "unprotected": len(unprotected), "seconds": round(attack_seconds, 1)},
        "check_release": checks,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (reports / "ledger-builds.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"total {summary['total_seconds']} s; summary in {reports / 'ledger-builds.json'}")
    return 0 if not unprotected.shape[0] and all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
