"""End to end on the bundled delivery: the issue's site-subset attack is found by the audit.

The interim monitor by site for all sites is recorded in a ledger; the same monitor for
all sites but FRL is then checked against it. Each release passes the old per-file rules,
but together they give FRL's suppressed counts (all minus all-but-FRL), and the check
must say so, naming FRL's cells and the relations that pin them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohort.disclosure.ledger import LEDGER_ENV, ReleaseContext

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "default"


@pytest.mark.skipif(not BUNDLED.is_dir(), reason="bundled synthetic delivery not generated")
def test_all_sites_and_all_but_one_cannot_both_be_released(tmp_path, monkeypatch):
    from cohort.delivery.load import load
    from cohort.disclosure.check import check_release, errors, record_release
    from cohort.disclosure.policy import disclosure_settings
    from cohort.disclosure.release import release
    from cohort.disclosure.writer import ReleaseFolder
    from cohort.monitor.series import quarterly_counts

    monkeypatch.delenv(LEDGER_ENV, raising=False)
    delivery = load(BUNDLED, cache_dir=False)
    sites_table = delivery.tables["sites"]
    all_sites = tuple(sorted(sites_table["site"].astype(str)))
    periods = {
        str(s): (str(a.date()), str(b.date()))
        for s, a, b in sites_table[["site", "delivery_start", "delivery_end"]].itertuples(index=False)
    }

    def subset(sites):
        t = delivery.tables
        households = t["households"][t["households"]["site"].isin(sites)]
        ids = households["household_id"]
        out = {"households": households, "sites": t["sites"][t["sites"]["site"].isin(sites)]}
        for name in ("episodes", "legal_measures", "referrals", "safety_assessments"):
            out[name] = t[name][t[name]["household_id"].isin(ids)]
        return out

    def build(name, sites):
        folder = tmp_path / "reports" / name
        folder.mkdir(parents=True)
        policy = disclosure_settings({}).policy
        gate = ReleaseFolder(folder, policy)
        gate.release(release(quarterly_counts(subset(sites), "2024-12-31", by="site"), policy), "monitor")
        records = gate.close_records()
        # the column roles the gate recorded go into the manifest, as a build writes them
        manifest = {"files": {f: {"columns": r["columns"]} for f, r in records.items()}}
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        provenance = {"report": name, "parameters": {"sites": list(sites), "reference_date": "2024-12-31",
                                                     "study_start": "2023-01-01", "disclosure": {"threshold": 10}}}
        (folder / "provenance.json").write_text(json.dumps(provenance), encoding="utf-8")
        return folder

    interim = build("interim-2024q4", all_sites)
    context = ReleaseContext("interim-2024q4", sites=all_sites, reference_date="2024-12-31",
                             site_periods={s: periods[s] for s in all_sites})
    record_release(interim, context, disclosure_settings({}))

    but_frl = build("interim-2024q4-no-frl", tuple(s for s in all_sites if s != "FRL"))
    found = [f for f in errors(check_release(but_frl)) if f.rule == "derivable-cell"]
    frl = [f for f in found if "sites FRL," in f.message and "suppressed in interim-2024q4" in f.message]
    assert frl, "FRL's suppressed counts follow from the two releases together"
    assert all(f.file == "tables/monitor.csv" and f.row and f.column for f in frl)
    assert all("pinned by:" in f.message for f in frl)
    # alone, the subset report does not reveal FRL (it has no FRL cells)
    alone = [f for f in errors(check_release(but_frl, ledger=False)) if "sites FRL," in f.message]
    assert alone == []
