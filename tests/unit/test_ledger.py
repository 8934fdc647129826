"""The release ledger: an append-only store, cell identities, and the relations it implies.

Relations are tested by what a reader can work out with them: tiny released tables go
through :func:`table_cells` and :func:`linear_system`, and the attack audit says which
counts follow.
"""

from __future__ import annotations

import gzip
import multiprocessing

import pandas as pd
import pytest

from cohort.disclosure.audit import audit
from cohort.disclosure.ledger import (
    LEDGER_ENV,
    Ledger,
    LedgerEntry,
    ReleaseContext,
    empty_cells,
    entry_from_tables,
    ledger_path,
    linear_system,
    table_cells,
)
from cohort.disclosure.policy import SUPPRESSED
from cohort.exceptions import DisclosureError

S = SUPPRESSED
SITES = ("AMS", "FRL", "UTR", "ZEE")


def table(text: str) -> pd.DataFrame:
    rows = [line.split(",") for line in text.strip().splitlines()]
    return pd.DataFrame(rows[1:], columns=rows[0], dtype=object)


def release(name, tables: dict[str, str], roles: dict[str, dict], *, sites=SITES, R="2024-12-31", periods=None):
    ctx = ReleaseContext(name, sites=tuple(sites), reference_date=R, study_start="2023-01-01",
                         site_periods=periods or {})
    return entry_from_tables({f: table(t) for f, t in tables.items()}, roles, context=ctx,
                             settings={"threshold": 10}, files={})


def attack(*entries, periods=None, threshold=10):
    """Audit the entries as releases in this order; return {description: (lo, hi)} of the
    cells that are not protected."""
    cells = pd.concat(
        [e.cells.assign(release=i, report=e.report) for i, e in enumerate(entries)], ignore_index=True
    )
    rs = linear_system(cells, site_periods=periods, new_release=len(entries) - 1)
    found = audit(rs.system, threshold=threshold)
    return {rs.describe(c): (row.lower, row.upper) for c, row in found.unprotected.iterrows()}


# --- the store ----------------------------------------------------------------------------


def an_entry(name="interim", value="12"):
    return release(name, {"tables/t.csv": f"site,n\nAMS,{value}\nall,40\n"}, {"tables/t.csv": {"n": "count"}})


def test_entries_are_appended_read_back_and_never_doubled(tmp_path):
    ledger = Ledger(tmp_path / ".ledger")
    first = ledger.append(an_entry(), recorded="20250101T000000000000Z")
    again = ledger.append(an_entry(), recorded="20250102T000000000000Z")
    assert first == again and len(ledger.files()) == 1
    second = ledger.append(an_entry("final", "14"))
    assert [e.report for e in ledger.entries()] == ["interim", "final"]
    read = ledger.entries()[0]
    pd.testing.assert_frame_equal(read.cells, an_entry().cells)
    assert read.id == an_entry().id and second != first
    assert set(ledger.cells()["report"]) == {"interim", "final"}


def test_the_same_entry_gives_the_same_bytes(tmp_path):
    a = Ledger(tmp_path / "a").append(an_entry(), recorded="20250101T000000000000Z")
    b = Ledger(tmp_path / "b").append(an_entry(), recorded="20250101T000000000000Z")
    assert a.read_bytes() == b.read_bytes()


def test_a_changed_entry_is_refused_by_name(tmp_path):
    ledger = Ledger(tmp_path / ".ledger")
    path = ledger.append(an_entry())
    text = gzip.decompress(path.read_bytes()).decode().replace('"12.0"', '"11.0"').replace("12.0", "11.0")
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(DisclosureError, match=f"{path.name}.*changed after it was recorded"):
        ledger.entries()
    path.write_bytes(b"not gzip")
    with pytest.raises(DisclosureError, match=f"{path.name}.*cannot be read"):
        ledger.entries()


def _append(args):
    folder, i = args
    Ledger(folder).append(an_entry(f"report-{i}", str(10 + i)))


def test_builds_appending_at_once_each_add_a_whole_entry(tmp_path):
    folder = tmp_path / ".ledger"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_append, [(folder, i) for i in range(16)])
    ledger = Ledger(folder)
    assert sorted(e.report for e in ledger.entries()) == sorted(f"report-{i}" for i in range(16))
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp")]


def test_where_the_ledger_is(tmp_path, monkeypatch):
    monkeypatch.delenv(LEDGER_ENV, raising=False)
    assert ledger_path(report_dir=tmp_path / "reports" / "x") == (tmp_path / "reports" / ".ledger").resolve()
    assert ledger_path(reports_root=tmp_path / "r") == tmp_path / "r" / ".ledger"
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "secure"))
    assert ledger_path(report_dir=tmp_path / "reports" / "x") == tmp_path / "secure"
    assert ledger_path(tmp_path / "option", report_dir=tmp_path / "x") == tmp_path / "option"


def test_an_absent_ledger_is_empty(tmp_path):
    ledger = Ledger(tmp_path / "none")
    assert ledger.entries() == [] and ledger.cells().empty
    entry = LedgerEntry(ReleaseContext("x"), {}, {}, empty_cells())
    assert ledger.find("x", {}) is None and entry.id == LedgerEntry(ReleaseContext("x"), {}, {}, empty_cells()).id


# --- cell identity ------------------------------------------------------------------------


MONITOR = f"""indicator,kind,interval_start,interval_end,site,numerator,denominator,value,suppressed
households_involved,count,2024-10-01,2024-12-31,all,120,,120,false
households_active,count,2024-10-01,2024-12-31,all,80,,80,false
registrations,count,2024-10-01,2024-12-31,AMS,30,,30,false
legal_measures_share,ratio,2024-10-01,2024-12-31,all,{S},120,{S},true
"""
MONITOR_ROLES = {"tables/monitor.csv": {"numerator": "count", "denominator": "count", "value": "value"}}


def test_monitor_cells_have_the_populations_of_their_definitions():
    cells = release("r", {"tables/monitor.csv": MONITOR}, MONITOR_ROLES).cells
    got = cells[["quantity", "additivity", "sites", "period_start", "period_end", "value"]].fillna(-1)
    assert got.values.tolist() == [
        ["monitor:households_involved", "cumulative", "AMS+FRL+UTR+ZEE", "2023-01-01", "2024-12-31", 120.0],
        ["monitor:households_active", "on_date", "AMS+FRL+UTR+ZEE", "2024-12-31", "2024-12-31", 80.0],
        ["monitor:registrations", "in_period", "AMS", "2024-10-01", "2024-12-31", 30.0],
        ["monitor:legal_measures", "cumulative", "AMS+FRL+UTR+ZEE", "2023-01-01", "2024-12-31", -1],
        ["monitor:households_involved", "cumulative", "AMS+FRL+UTR+ZEE", "2023-01-01", "2024-12-31", 120.0],
    ]
    # the share's denominator and the first row are one cell
    assert cells.drop_duplicates(["quantity", "sites", "period_start", "period_end"]).shape[0] == 4


def test_a_group_column_of_site_codes_gives_the_sites():
    t = table("group,time,n_risk\nAMS,0,40\nZEE,0,12\nall,0,52\n")
    ctx = ReleaseContext("r", sites=SITES, reference_date="2024-12-31")
    cells = table_cells(t, file="tables/km.csv", roles={"n_risk": "count", "time": "axis"}, context=ctx)
    assert cells["sites"].tolist() == ["AMS", "ZEE", "AMS+FRL+UTR+ZEE"]
    assert cells["key"].tolist() == ["time=0"] * 3 and (cells["groups"] == "").all()


def test_other_text_columns_with_a_total_are_groups():
    t = table("has_children,n\nyes,40\nno,12\nall,52\n")
    ctx = ReleaseContext("r", sites=SITES, reference_date="2024-12-31")
    cells = table_cells(t, file="tables/t.csv", roles={"n": "count"}, context=ctx)
    assert cells["groups"].tolist() == ["has_children=yes", "has_children=no", "has_children=*"]


# --- relations: what a reader works out --------------------------------------------------

COUNT = {"tables/t.csv": {"n": "count"}}


def test_nested_site_sets_give_the_left_out_site():
    """All sites 199, all but FRL 190: FRL had 9 (the issue's legal measures)."""
    everyone = release("interim", {"tables/t.csv": f"site,n\nAMS,150\nFRL,{S}\nall,199\n"}, COUNT)
    but_frl = release("interim-no-frl", {"tables/t.csv": "site,n\nall,190\n"}, COUNT,
                      sites=("AMS", "UTR", "ZEE"))
    found = attack(everyone, but_frl)
    assert found["tables/t.csv:n, sites FRL, 2023-01-01 to 2024-12-31"] == (9.0, 9.0)
    # alone, the first release keeps FRL's cell hidden among FRL, UTR and ZEE (49 together)
    assert attack(everyone) == {}


def test_consecutive_quarters_of_a_cumulative_count_give_the_new_units():
    header = "indicator,kind,interval_start,interval_end,site,numerator,suppressed\n"
    q4 = release("interim", {"tables/monitor.csv": header + "households_involved,count,2024-10-01,2024-12-31,all,1653,false\n"},
                 {"tables/monitor.csv": {"numerator": "count"}})
    q1 = release("q1-2025", {"tables/monitor.csv": header + "households_involved,count,2025-01-01,2025-03-31,all,1660,false\n"},
                 {"tables/monitor.csv": {"numerator": "count"}}, R="2025-03-31")
    # 1660 - 1653 = 7 new households in the quarter: every site's share lies in 0..7
    # (the audit judges the finest parts; a small total shows in each of them)
    found = attack(q4, q1)
    assert found == {f"households_involved:new, sites {s}, 2025-01-01 to 2025-03-31": (0.0, 7.0) for s in SITES}
    q1_more = release("q1-2025", {"tables/monitor.csv": header + "households_involved,count,2025-01-01,2025-03-31,all,1663,false\n"},
                      {"tables/monitor.csv": {"numerator": "count"}}, R="2025-03-31")
    assert attack(q4, q1_more) == {}


def test_counts_in_periods_add_up_over_adjacent_periods():
    header = "indicator,kind,interval_start,interval_end,site,numerator,suppressed\n"
    year = release("year", {"tables/monitor.csv": header + "registrations,count,2024-01-01,2024-12-31,all,400,false\n"},
                   {"tables/monitor.csv": {"numerator": "count"}})
    quarters = release("quarters", {"tables/monitor.csv": header
                                    + "registrations,count,2024-01-01,2024-03-31,all,100,false\n"
                                    + "registrations,count,2024-04-01,2024-06-30,all,95,false\n"
                                    + "registrations,count,2024-07-01,2024-09-30,all,199,false\n"},
                       {"tables/monitor.csv": {"numerator": "count"}})
    found = attack(year, quarters)
    for site in SITES:  # 400 - 100 - 95 - 199 = 6 in the fourth quarter
        assert found[f"registrations, sites {site}, 2024-10-01 to 2024-12-31"] == (0.0, 6.0)


def test_a_cell_released_once_and_suppressed_once_is_known():
    first = release("a", {"tables/t.csv": "site,n\nAMS,30\nFRL,14\nUTR,12\nZEE,20\nall,76\n"}, COUNT)
    second = release("b", {"tables/t.csv": f"site,n\nAMS,{S}\nFRL,{S}\nUTR,{S}\nZEE,{S}\nall,{S}\n"}, COUNT)
    assert attack(first, second) == {}  # all known from the first: nothing suppressed is hidden
    small = release("a", {"tables/t.csv": f"site,n\nAMS,30\nFRL,{S}\nUTR,{S}\nZEE,20\nall,58\n"}, COUNT)
    again = release("b", {"tables/t.csv": f"site,n\nAMS,30\nFRL,4\nUTR,{S}\nZEE,20\nall,58\n"}, COUNT)
    found = attack(small, again)
    assert found["tables/t.csv:n, sites UTR, 2023-01-01 to 2024-12-31"] == (4.0, 4.0)


def test_numbers_at_risk_of_nested_site_sets_give_a_site_at_a_time():
    """KM numbers at risk at day 222: 85 for all sites, 81 without ZEE: ZEE had 4."""
    roles = {"figure-data/at_risk.csv": {"n_risk": "count", "time": "axis"}}
    a = release("all", {"figure-data/at_risk.csv": "time,n_risk\n0,120\n222,85\n"}, roles)
    b = release("no-zee", {"figure-data/at_risk.csv": "time,n_risk\n0,108\n222,81\n"}, roles, sites=("AMS", "FRL", "UTR"))
    found = attack(a, b)
    assert found["figure-data/at_risk.csv:n_risk, sites ZEE, 2023-01-01 to 2024-12-31, time=222"] == (4.0, 4.0)


def test_steps_of_a_curve_give_the_households_that_left_in_between():
    roles = {"tables/km.csv": {"n_risk": "count", "n_event": "count", "time": "axis"}}
    km = release("r", {"tables/km.csv": "time,n_risk,n_event\n0,40,0\n9,32,10\n19,22,10\n"}, roles)
    found = attack(km)
    assert found["tables/km.csv:leavers, sites AMS+FRL+UTR+ZEE, 2023-01-01 to 2024-12-31, from=0|to=9"] == (8.0, 8.0)
    assert not any("from=9" in k for k in found)  # 32 - 22 = 10 left between 9 and 19: fine


def test_rows_read_accepted_and_rejected_are_related():
    roles = {"tables/accounting.csv": {"rows_read": "count", "rows_accepted": "count", "rows_rejected": "count"}}
    acc = release("r", {"tables/accounting.csv": f"table,rows_read,rows_accepted,rows_rejected\nepisodes,5034,5031,{S}\n"}, roles)
    found = attack(acc)
    assert found["tables/accounting.csv:rows_rejected, sites AMS+FRL+UTR+ZEE, 2023-01-01 to 2024-12-31, table=episodes"] == (3.0, 3.0)


def test_relations_between_indicators_give_the_missing_part():
    header = "indicator,kind,interval_start,interval_end,site,numerator,suppressed\n"
    rows = ("households_involved,count,2024-10-01,2024-12-31,all,120,false\n"
            "households_active,count,2024-10-01,2024-12-31,all,113,false\n")
    found = attack(release("r", {"tables/monitor.csv": header + rows}, {"tables/monitor.csv": {"numerator": "count"}}))
    assert found["ended_since_start, sites AMS+FRL+UTR+ZEE, on 2024-12-31"] == (7.0, 7.0)


def test_margins_over_a_group_column():
    t = f"has_children,n\nyes,{S}\nno,40\nall,49\n"
    found = attack(release("r", {"tables/t.csv": t}, COUNT))
    assert found["tables/t.csv:n, sites AMS+FRL+UTR+ZEE, 2023-01-01 to 2024-12-31, has_children=yes"] == (9.0, 9.0)


def test_a_site_outside_its_delivery_period_is_a_structural_zero():
    """GRO started in 2025: its registrations in 2024 are 0 by construction, so ZEE's
    suppressed count is the difference (and is reported), but GRO's zero is not."""
    header = "indicator,kind,interval_start,interval_end,site,numerator,suppressed\n"
    rows = ("registrations,count,2024-10-01,2024-12-31,all,52,false\n"
            "registrations,count,2024-10-01,2024-12-31,AMS,45,false\n"
            f"registrations,count,2024-10-01,2024-12-31,GRO,{S},true\n"
            f"registrations,count,2024-10-01,2024-12-31,ZEE,{S},true\n")
    roles = {"tables/monitor.csv": {"numerator": "count"}}
    sites = ("AMS", "GRO", "ZEE")
    periods = {"AMS": ("2023-01-01", "2026-09-30"), "GRO": ("2025-01-01", "2026-09-30"),
               "ZEE": ("2023-01-01", "2026-09-30")}
    without = attack(release("r", {"tables/monitor.csv": header + rows}, roles, sites=sites))
    assert set(without.values()) == {(0.0, 7.0)}  # GRO and ZEE share 7
    found = attack(release("r", {"tables/monitor.csv": header + rows}, roles, sites=sites, periods=periods),
                   periods=periods)
    assert found["registrations, sites ZEE, 2024-10-01 to 2024-12-31"] == (7.0, 7.0)
    assert not any("GRO" in k for k in found)
