"""Quarterly site-level outcomes for the staggered-adoption analysis.

Implements ``docs/definitions.md``, section "Staggered adoption: quarterly site outcomes":
one row per site and complete calendar quarter with the site's adoption group (the quarter
its ``pilot_start`` falls in; comparison sites are never treated) and the outcomes
registrations (all, and of new households), households active, legal measures per
household and re-registration within 12 months of a closure. Everything is whole-column: episodes are expanded over the
quarters they are active in, never looped over.

Examples
--------
>>> import pandas as pd
>>> D = pd.to_datetime
>>> tables = {
...     "sites": pd.DataFrame({"site": ["A", "C"], "delivery_start": D(["2023-01-01"] * 2),
...                            "delivery_end": D(["2023-12-31"] * 2), "arm": ["pilot", "comparison"],
...                            "pilot_start": D(["2023-07-01", None])}),
...     "households": pd.DataFrame({"household_id": ["H1", "H2"], "site": ["A", "C"]}),
...     "episodes": pd.DataFrame({"episode_id": ["E1", "E2"], "household_id": ["H1", "H2"],
...                               "site": ["A", "C"], "registration_date": D(["2023-02-01", "2023-08-01"]),
...                               "closure_date": D(["2023-05-01", None]), "closure_reason": ["other", None]}),
...     "legal_measures": pd.DataFrame({"measure_id": ["M1"], "household_id": ["H1"],
...                                     "start_date": D(["2023-03-01"])}),
...     "referrals": pd.DataFrame({"referral_id": [], "household_id": [], "referral_date": D([])}),
... }
>>> p = site_quarter_panel(tables, "2023-12-31")
>>> cols = ["site", "quarter", "group", "treated", "registrations", "households_active", "legal_measures"]
>>> print(p[cols].to_string(index=False))
site quarter  group  treated  registrations  households_active  legal_measures
   A  2023Q1 2023Q3    False              1                  1               1
   A  2023Q2 2023Q3    False              0                  1               0
   A  2023Q3 2023Q3     True              0                  0               0
   A  2023Q4 2023Q3     True              0                  0               0
   C  2023Q1  never    False              0                  0               0
   C  2023Q2  never    False              0                  0               0
   C  2023Q3  never    False              1                  1               0
   C  2023Q4  never    False              0                  1               0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohort.definitions.dates import to_date
from cohort.definitions.followup import _household_frame, _table, _tables
from cohort.definitions.population import site_arms
from cohort.delivery.schema import MOVED_AWAY, PILOT

__all__ = ["NEVER", "site_quarter_panel"]

#: Group label of a site that never starts the new way (a comparison site).
NEVER = "never"

#: Days of follow-up behind ``reregistered_12m``.
WINDOW_DAYS = 365


def _quarter_number(dates) -> np.ndarray:
    """Calendar quarters as consecutive whole numbers: year * 4 + quarter - 1."""
    d = pd.DatetimeIndex(pd.to_datetime(dates))
    return (d.year.to_numpy() * 4 + (d.month.to_numpy() - 1) // 3).astype(np.int64)


def _quarter_start(number: np.ndarray) -> pd.DatetimeIndex:
    y, q = np.divmod(np.asarray(number, dtype=np.int64), 4)
    return pd.to_datetime(pd.DataFrame({"year": y, "month": 3 * q + 1, "day": 1}))


def _label(number: np.ndarray) -> np.ndarray:
    y, q = np.divmod(np.asarray(number, dtype=np.int64), 4)
    return np.char.add(np.char.add(y.astype(str), "Q"), (q + 1).astype(str))


_NAT_DAY = np.iinfo(np.int64).min


def _day_of(values: np.ndarray) -> np.ndarray:
    """datetime64 values as whole days since 1970 (NaT: the minimum int64)."""
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)


def _quarter_of(values: np.ndarray) -> np.ndarray:
    """datetime64 values as quarters ``year * 4 + quarter - 1`` (as :func:`_quarter_number`)."""
    months = np.asarray(values, dtype="datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    return 1970 * 4 + np.floor_divide(months, 3)


def _next_after(q_unit, q_day, e_unit, e_day) -> np.ndarray:
    """Per query, the first event day of the same unit strictly after the query day
    (``_NAT_DAY`` replaced by a day beyond any date where there is none)."""
    never = np.iinfo(np.int64).max
    valid = (e_unit >= 0) & (e_day != _NAT_DAY)
    eu, ed = e_unit[valid].astype(np.int64), e_day[valid].astype(np.int64)
    if not len(eu) or not len(q_unit):
        return np.full(len(q_unit), never)
    span = int(max(ed.max(), q_day.max()) - min(ed.min(), q_day.min()) + 2)
    base = int(min(ed.min(), q_day.min()))
    keys = np.sort(eu * span + (ed - base))
    q = q_unit.astype(np.int64) * span + (q_day.astype(np.int64) - base)
    pos = np.searchsorted(keys, q, side="right")
    found = pos < len(keys)
    hit = keys[np.minimum(pos, len(keys) - 1)]
    same = found & (hit // span == q_unit)
    return np.where(same, hit % span + base, never)


def site_quarter_panel(delivery, reference_date) -> pd.DataFrame:
    """The site-by-quarter panel of outcomes (complete quarters on or before ``R``).

    A site has a row for every calendar quarter that lies wholly in its delivery period
    and ends on or before ``reference_date``.

    Returns
    -------
    DataFrame
        ``site, arm, quarter, period, quarter_start, group, group_period, treated,
        registrations, first_registrations, households_active, legal_measures,
        legal_measures_per_household,
        closures, reregistered_12m, reregistered_12m_share``; ``period`` and
        ``group_period`` are quarters as whole numbers (``year * 4 + quarter - 1``;
        ``group_period`` 0 for a site that never starts), ``treated`` whether the site
        works the new way in the quarter. Counts are unrounded: release them through
        :mod:`cohort.disclosure.effects`.
    """
    tables = _tables(delivery)
    R = to_date(reference_date, "reference_date")
    arms = site_arms(tables)
    first_q = _quarter_number(arms["delivery_start"]) + (
        arms["delivery_start"].dt.is_quarter_start.to_numpy(dtype=bool) == 0
    )
    # the last complete quarter: its last day on or before the delivery end and R
    last_day = np.minimum(arms["delivery_end"].to_numpy(dtype="datetime64[ns]"), R.to_datetime64())
    last_q = _quarter_number(last_day + np.timedelta64(1, "D")) - 1
    n_q = np.maximum(last_q - first_q + 1, 0)
    site_idx = np.repeat(np.arange(len(arms)), n_q)
    period = np.concatenate([np.arange(a, a + k) for a, k in zip(first_q, n_q, strict=True)]) if len(arms) else np.zeros(0, np.int64)
    is_pilot = (arms["arm"] == PILOT).to_numpy(dtype=bool)
    g = np.where(is_pilot, _quarter_number(arms["pilot_start"].fillna(pd.Timestamp("1970-01-01"))), 0)
    panel = pd.DataFrame(
        {
            "site": arms["site"].to_numpy()[site_idx],
            "arm": arms["arm"].to_numpy()[site_idx],
            "quarter": _label(period),
            "period": period,
            "quarter_start": _quarter_start(period).to_numpy(),
            "group": np.where(is_pilot, _label(g), NEVER)[site_idx],
            "group_period": g[site_idx].astype(np.int64),
        }
    )
    panel["treated"] = (panel["group_period"] > 0) & (panel["period"] >= panel["group_period"])
    # counts by (site, quarter) as integer keys: no string grouping over millions of rows
    q_min = int(period.min()) if len(period) else 0
    n_keys = int(period.max() - q_min + 1) if len(period) else 1
    site_index = pd.Index(arms["site"].astype(str))
    row_key = site_idx * n_keys + (period - q_min)

    def count(site_pos, quarters, unique_by=None) -> np.ndarray:
        site_pos, quarters = np.asarray(site_pos), np.asarray(quarters)
        ok = (site_pos >= 0) & (quarters >= q_min) & (quarters < q_min + n_keys)
        keys = site_pos[ok] * n_keys + (quarters[ok] - q_min)
        if unique_by is not None:  # count distinct units per key
            keys = np.unique(keys * (int(unique_by.max()) + 1 if len(unique_by) else 1) + unique_by[ok])
            keys = keys // (int(unique_by.max()) + 1 if len(unique_by) else 1)
        return np.bincount(keys, minlength=len(site_index) * n_keys)[row_key].astype(np.int64)

    eps = _table(tables, "episodes", ["episode_id", "household_id", "site", "registration_date", "closure_date"])
    reg = eps["registration_date"].to_numpy(dtype="datetime64[ns]")
    close = eps["closure_date"].to_numpy(dtype="datetime64[ns]")
    r64 = R.to_datetime64()
    close = np.where(close <= r64, close, np.datetime64("NaT"))
    live = reg <= r64
    eps, reg, close = eps[live], reg[live], close[live]
    ep_site = site_index.get_indexer(eps["site"].astype(str))
    hh = _household_frame(tables)
    hh_index = pd.Index(hh["household_id"].astype("string"))
    ep_hh = hh_index.get_indexer(eps["household_id"].astype("string"))
    qa = _quarter_of(reg)
    panel["registrations"] = count(ep_site, qa)
    # a household's first episode in the delivery: a new household for the site
    order = np.lexsort((_day_of(reg), ep_hh))
    first = np.zeros(len(ep_hh), dtype=bool)
    first[order[np.r_[True, ep_hh[order][1:] != ep_hh[order][:-1]]] if len(order) else order] = True
    panel["first_registrations"] = count(ep_site[first], qa[first])
    # active on some day of the quarter: from the registration's quarter to the closure's
    # (an episode closed on a quarter's first day was active on no day of it)
    qb = np.where(np.isnat(close), _quarter_of(np.array([r64]))[0],
                  _quarter_of(np.where(np.isnat(close), r64, close) - np.timedelta64(1, "D")))
    span = np.maximum(qb - qa + 1, 0)
    rep = np.repeat(np.arange(len(qa)), span)
    offset = np.arange(rep.size) - np.repeat(np.cumsum(span) - span, span)
    panel["households_active"] = count(ep_site[rep], qa[rep] + offset, unique_by=np.maximum(ep_hh[rep], 0))

    hh_site = site_index.get_indexer(hh["site"].astype(str))
    lm = _table(tables, "legal_measures", ["household_id", "start_date"])
    start = lm["start_date"].to_numpy(dtype="datetime64[ns]")
    keep = start <= r64
    lm_hh = hh_index.get_indexer(lm["household_id"].astype("string")[keep])
    panel["legal_measures"] = count(np.where(lm_hh >= 0, hh_site[np.maximum(lm_hh, 0)], -1), _quarter_of(start[keep]))
    with np.errstate(divide="ignore", invalid="ignore"):
        panel["legal_measures_per_household"] = np.where(
            panel["households_active"] > 0, panel["legal_measures"] / panel["households_active"], np.nan
        )

    # closures and re-registration within 12 months
    reason = eps["closure_reason"].astype("string") if "closure_reason" in eps.columns else pd.Series(pd.NA, index=eps.index, dtype="string")
    moved_all = hh["moved_out_date"].to_numpy(dtype="datetime64[ns]")
    moved = np.where(ep_hh >= 0, moved_all[np.maximum(ep_hh, 0)], np.datetime64("NaT"))
    ok = ~np.isnat(close) & ~(reason == MOVED_AWAY).fillna(False).to_numpy(dtype=bool) & ~(moved <= close)
    c_hh, c_day, c_site, c_moved = ep_hh[ok], _day_of(close[ok]), ep_site[ok], _day_of(moved[ok])
    refs = _table(tables, "referrals", ["household_id", "referral_date"])
    ref_day = _day_of(refs["referral_date"].to_numpy(dtype="datetime64[ns]"))
    ref_keep = ref_day <= _day_of(np.array([r64]))[0]
    e_hh = np.r_[hh_index.get_indexer(refs["household_id"].astype("string")[ref_keep]), ep_hh]
    e_day = np.r_[ref_day[ref_keep], _day_of(reg)]
    nxt = _next_after(c_hh, c_day, e_hh, e_day)
    within = (nxt <= c_day + WINDOW_DAYS) & ((c_moved == _NAT_DAY) | (nxt <= c_moved))
    cq = _quarter_of(close[ok])
    panel["closures"] = count(c_site, cq)
    panel["reregistered_12m"] = count(c_site[within], cq[within])
    q_end = _quarter_start(panel["period"].to_numpy() + 1) - pd.Timedelta(days=1)
    site_end = panel["site"].map(arms.set_index("site")["delivery_end"]).astype("datetime64[ns]")
    horizon = np.minimum(site_end.to_numpy(dtype="datetime64[ns]"), R.to_datetime64())
    complete = (q_end + pd.Timedelta(days=WINDOW_DAYS)).to_numpy() <= horizon
    with np.errstate(divide="ignore", invalid="ignore"):
        panel["reregistered_12m_share"] = np.where(
            complete & (panel["closures"] > 0), panel["reregistered_12m"] / panel["closures"], np.nan
        )
    panel = panel.sort_values(["site", "period"], kind="mergesort").reset_index(drop=True)
    panel["site"] = panel["site"].astype("string")
    panel["arm"] = panel["arm"].astype("string")
    panel.attrs["reference_date"] = R.date().isoformat()
    return panel
