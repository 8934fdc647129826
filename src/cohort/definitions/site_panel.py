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
from cohort.definitions.followup import _first_after, _household_frame, _table, _tables
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
    key = pd.MultiIndex.from_arrays([panel["site"].astype(str), panel["period"]])

    def count(sites, periods, unique_by=None) -> np.ndarray:
        frame = pd.DataFrame({"site": np.asarray(sites, dtype=object).astype(str), "period": periods})
        if unique_by is not None:
            frame["u"] = unique_by
            frame = frame.drop_duplicates()
        c = frame.groupby(["site", "period"]).size()
        return c.reindex(key, fill_value=0).to_numpy(dtype=np.int64)

    eps = _table(tables, "episodes", ["episode_id", "household_id", "site", "registration_date", "closure_date"])
    reg = pd.to_datetime(eps["registration_date"]).astype("datetime64[ns]")
    close = pd.to_datetime(eps["closure_date"]).astype("datetime64[ns]")
    close = close.where(close <= R)
    live = (reg <= R).to_numpy()
    eps, reg, close = eps[live], reg[live], close[live]
    ep_site = eps["site"].astype("string").to_numpy(dtype=object)
    panel["registrations"] = count(ep_site, _quarter_number(reg))
    # a household's first episode in the delivery: a new household for the site
    first = ~eps.assign(_r=reg.to_numpy()).sort_values(["household_id", "_r"], kind="mergesort")[
        "household_id"].duplicated(keep="first")
    first = first.reindex(eps.index).to_numpy(dtype=bool)
    panel["first_registrations"] = count(ep_site[first], _quarter_number(reg[first]))
    # active on some day of the quarter: from the registration's quarter to the closure's
    # (an episode closed on a quarter's first day was active on no day of it)
    qa = _quarter_number(reg)
    qb = np.where(
        close.isna().to_numpy(),
        _quarter_number(pd.Series([R] * len(close))) if len(close) else np.zeros(0, np.int64),
        _quarter_number(close.fillna(R) - pd.Timedelta(days=1)),
    )
    span = np.maximum(qb - qa + 1, 0)
    rep = np.repeat(np.arange(len(qa)), span)
    offset = np.arange(rep.size) - np.repeat(np.cumsum(span) - span, span)
    hh_codes = pd.factorize(eps["household_id"].astype("string"))[0]
    panel["households_active"] = count(ep_site[rep], qa[rep] + offset, unique_by=hh_codes[rep])

    hh = _household_frame(tables)
    hh_site = hh.set_index("household_id")["site"].astype("string")
    lm = _table(tables, "legal_measures", ["household_id", "start_date"])
    start = pd.to_datetime(lm["start_date"]).astype("datetime64[ns]")
    lm = lm.loc[(start <= R).to_numpy()]
    panel["legal_measures"] = count(
        lm["household_id"].map(hh_site).to_numpy(dtype=object), _quarter_number(start[start <= R])
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        panel["legal_measures_per_household"] = np.where(
            panel["households_active"] > 0, panel["legal_measures"] / panel["households_active"], np.nan
        )

    # closures and re-registration within 12 months
    reason = eps["closure_reason"].astype("string") if "closure_reason" in eps.columns else pd.Series(pd.NA, index=eps.index, dtype="string")
    moved = eps["household_id"].map(hh.set_index("household_id")["moved_out_date"]).astype("datetime64[ns]")
    ok = close.notna() & ~(reason == MOVED_AWAY).fillna(False) & ~(moved <= close).fillna(False)
    closed = eps.loc[ok.to_numpy(), ["household_id"]].assign(
        closure_date=close[ok].to_numpy(), site=ep_site[ok.to_numpy()], moved=moved[ok].to_numpy()
    ).reset_index(drop=True)
    closed["_row"] = np.arange(len(closed))
    refs = _table(tables, "referrals", ["household_id", "referral_date"])[["household_id", "referral_date"]]
    refs = refs.assign(
        household_id=refs["household_id"].astype("string"),
        referral_date=pd.to_datetime(refs["referral_date"]).astype("datetime64[ns]"),
    )
    refs = refs.loc[refs["referral_date"] <= R]
    regs = pd.DataFrame(
        {
            "household_id": eps["household_id"].astype("string").reset_index(drop=True),
            "registration_date": reg.reset_index(drop=True),
        }
    )
    closed["household_id"] = closed["household_id"].astype("string")
    nxt = pd.concat(
        [
            pd.Series(_first_after(closed, "closure_date", refs, "referral_date", "r"), dtype="datetime64[ns]"),
            pd.Series(_first_after(closed, "closure_date", regs, "registration_date", "g"), dtype="datetime64[ns]"),
        ],
        axis=1,
    ).min(axis=1)
    within = (nxt <= closed["closure_date"] + pd.Timedelta(days=WINDOW_DAYS)) & (
        closed["moved"].isna() | (nxt <= closed["moved"])
    )
    cq = _quarter_number(closed["closure_date"])
    panel["closures"] = count(closed["site"].to_numpy(dtype=object), cq)
    panel["reregistered_12m"] = count(
        closed["site"].to_numpy(dtype=object)[within.to_numpy(dtype=bool)], cq[within.to_numpy(dtype=bool)]
    )
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
