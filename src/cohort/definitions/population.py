"""Whose data an analysis sees: the report's sites and the arms of the comparison design.

A delivery may hold pilot sites (``arm`` ``pilot``, working the new way from their
``pilot_start``) and comparison sites (``arm`` ``comparison``, regions in regular care);
see ``docs/data-model.md``.
:func:`site_periods` states each site's delivery period, outside of which its counts are
structural zeros. The monitor and every indicator describe the pilot, so they
count **pilot-arm sites only**; the effect analyses need both arms. :func:`restrict` is the
one place where a delivery is cut down to the sites and arms an analysis is about: every
table is restricted to those sites, household-level tables through their household.

Deliveries without an ``arm`` column (made before comparison sites existed, or tables built
in memory) are all pilot: :func:`site_arms` reads a missing or empty arm as ``pilot`` and a
pilot site without ``pilot_start`` as working the new way from its ``delivery_start``.

Examples
--------
>>> import pandas as pd
>>> D = pd.to_datetime
>>> tables = {
...     "sites": pd.DataFrame({"site": ["A", "B"], "delivery_start": D(["2022-01-01"] * 2),
...                            "delivery_end": D(["2026-09-30"] * 2), "arm": ["pilot", "comparison"],
...                            "pilot_start": D(["2023-04-01", None])}),
...     "households": pd.DataFrame({"household_id": ["H1", "H2"], "site": ["A", "B"]}),
...     "episodes": pd.DataFrame({"episode_id": ["E1", "E2"], "household_id": ["H1", "H2"],
...                               "site": ["A", "B"]}),
...     "referrals": pd.DataFrame({"referral_id": ["R1", "R2"], "household_id": ["H1", "H2"]}),
... }
>>> restrict(tables)["households"]["household_id"].tolist()
['H1']
>>> sorted(restrict(tables, arms=ALL_ARMS)["episodes"]["episode_id"])
['E1', 'E2']
>>> site_arms(tables)[["site", "arm", "pilot_start"]]
  site         arm pilot_start
0    A       pilot  2023-04-01
1    B  comparison         NaT
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from cohort.delivery.schema import ARMS, COMPARISON, PILOT
from cohort.exceptions import DeliveryError, ParameterError

__all__ = ["ALL_ARMS", "COMPARISON_ARM", "PILOT_ARM", "arm_counts", "restrict", "site_arms", "site_periods"]

#: The arms the monitor and every indicator count (the default of :func:`restrict`).
PILOT_ARM = (PILOT,)

#: The comparison arm alone.
COMPARISON_ARM = (COMPARISON,)

#: Both arms, for the effect analyses.
ALL_ARMS = ARMS

#: Tables with a ``site`` column of their own; the others follow their household.
_SITE_TABLES = ("sites", "households", "episodes")


def _tables_of(delivery) -> Mapping[str, pd.DataFrame]:
    tables = getattr(delivery, "tables", None)
    if tables is None and isinstance(delivery, Mapping):
        tables = delivery
    if tables is None:
        raise DeliveryError("expected a delivery (cohort.load(...)) or a mapping of tables")
    return tables


def _check_arms(arms) -> tuple[str, ...]:
    if isinstance(arms, str):
        arms = ALL_ARMS if arms == "all" else (arms,)
    arms = tuple(arms)
    unknown = [a for a in arms if a not in ARMS]
    if not arms or unknown:
        raise ParameterError(
            f"arms must be a non-empty selection of {', '.join(ARMS)} (or 'all'), got {arms!r}"
        )
    return tuple(a for a in ARMS if a in arms)


def site_arms(delivery) -> pd.DataFrame:
    """Per site: ``site, arm, pilot_start, delivery_start, delivery_end``.

    ``arm`` is ``pilot`` where the delivery has none; a pilot site's ``pilot_start`` is its
    ``delivery_start`` where the delivery leaves it empty; a comparison site's is empty.

    Raises
    ------
    DeliveryError
        The delivery has no ``sites`` table, or it lacks ``site``.
    """
    tables = _tables_of(delivery)
    if "sites" not in tables:
        raise DeliveryError("the delivery has no table 'sites'; it names each site's arm")
    sites = tables["sites"]
    if "site" not in sites.columns:
        raise DeliveryError("table 'sites' lacks column 'site'; see docs/data-model.md")
    n = len(sites)
    start = (
        pd.to_datetime(sites["delivery_start"]).astype("datetime64[ns]")
        if "delivery_start" in sites.columns
        else pd.Series(pd.NaT, index=sites.index, dtype="datetime64[ns]")
    )
    end = (
        pd.to_datetime(sites["delivery_end"]).astype("datetime64[ns]")
        if "delivery_end" in sites.columns
        else pd.Series(pd.NaT, index=sites.index, dtype="datetime64[ns]")
    )
    arm = (
        sites["arm"].astype("string").fillna(PILOT)
        if "arm" in sites.columns
        else pd.Series([PILOT] * n, index=sites.index, dtype="string")
    )
    pilot_start = (
        pd.to_datetime(sites["pilot_start"]).astype("datetime64[ns]")
        if "pilot_start" in sites.columns
        else pd.Series(pd.NaT, index=sites.index, dtype="datetime64[ns]")
    )
    is_pilot = (arm == PILOT).to_numpy(dtype=bool)
    pilot_start = pilot_start.where(~(is_pilot & pilot_start.isna().to_numpy()), start)
    pilot_start = pilot_start.where(is_pilot)
    return pd.DataFrame(
        {
            "site": sites["site"].astype("string").to_numpy(),
            "arm": arm.to_numpy(),
            "pilot_start": pilot_start.to_numpy(dtype="datetime64[ns]"),
            "delivery_start": start.to_numpy(dtype="datetime64[ns]"),
            "delivery_end": end.to_numpy(dtype="datetime64[ns]"),
        }
    ).astype({"site": "string", "arm": "string"})


def restrict(delivery, *, sites: Iterable[str] | None = None, arms=PILOT_ARM):
    """The delivery cut down to ``sites`` (``None``: all) of the given ``arms``.

    Pure: returns a new delivery of the same kind (a :class:`cohort.delivery.load.Delivery`
    keeps its fingerprint and validation report; a mapping of tables gives a dict); the
    input is not changed. Tables with a ``site`` column (``sites``, ``households``,
    ``episodes``) are restricted by it, the others (``legal_measures``,
    ``safety_assessments``, ``referrals``) through their household.

    Parameters
    ----------
    delivery : Delivery or mapping of DataFrames
    sites : iterable of str, optional
        Site codes to keep (a report's ``sites`` parameter); ``None`` keeps every site of
        the arms.
    arms : str or tuple of str
        ``("pilot",)`` (default: what the monitor and the indicators count),
        ``("comparison",)``, or both (:data:`ALL_ARMS`, or ``"all"``) for the effect
        analyses.

    Raises
    ------
    ParameterError
        A site in ``sites`` is not in the delivery, or ``arms`` names no known arm.
    """
    arms = _check_arms(arms)
    tables = _tables_of(delivery)
    arm_of = site_arms(tables)
    known = set(arm_of["site"].astype(str))
    keep = arm_of.loc[arm_of["arm"].isin(arms).to_numpy(dtype=bool), "site"]
    if sites is not None:
        wanted = list(sites)
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise ParameterError(
                f"site {unknown[0]!r} is not a site of the delivery; known sites: "
                f"{', '.join(sorted(known))}"
            )
        keep = keep[keep.isin(wanted).to_numpy(dtype=bool)]
    keep = keep.astype(str).tolist()
    out = dict(tables)
    if len(keep) == len(known):  # nothing to cut: keep the frames themselves
        return _same_kind(delivery, out)
    for name in _SITE_TABLES:
        if name in out:
            frame = out[name]
            mask = frame["site"].astype("string").isin(keep).to_numpy(dtype=bool)
            out[name] = frame[mask].reset_index(drop=True)
    households = out["households"]["household_id"] if "households" in out else None
    for name, frame in tables.items():
        if name in _SITE_TABLES or "household_id" not in frame.columns:
            continue
        if households is None:
            raise DeliveryError(
                f"table {name!r} refers to households but the delivery has no 'households'"
            )
        mask = frame["household_id"].isin(households).to_numpy(dtype=bool)
        out[name] = frame[mask].reset_index(drop=True)
    return _same_kind(delivery, out)


def _same_kind(delivery, tables: dict):
    """``tables`` as the kind of object ``delivery`` is: a Delivery stays a Delivery."""
    if dataclasses.is_dataclass(delivery) and not isinstance(delivery, type):
        return dataclasses.replace(delivery, tables=tables)
    return tables


def arm_counts(delivery) -> pd.DataFrame:
    """Sites and households per arm: ``arm, sites, households`` (unrounded; internal).

    Examples
    --------
    >>> import pandas as pd
    >>> t = {"sites": pd.DataFrame({"site": ["A", "B"], "arm": ["pilot", None]}),
    ...      "households": pd.DataFrame({"household_id": ["H1", "H2", "H3"],
    ...                                  "site": ["A", "A", "B"]})}
    >>> arm_counts(t)
              arm  sites  households
    0       pilot      2           3
    1  comparison      0           0
    """
    tables = _tables_of(delivery)
    arms = site_arms(tables)
    hh = tables["households"]
    arm = hh["site"].astype("string").map(dict(zip(arms["site"], arms["arm"], strict=True)))
    rows = []
    for a in ARMS:
        rows.append(
            (
                a,
                int((arms["arm"] == a).sum()),
                int(np.count_nonzero((arm == a).fillna(False).to_numpy(dtype=bool))),
            )
        )
    return pd.DataFrame(rows, columns=["arm", "sites", "households"])


def site_periods(tables) -> dict[str, tuple[str, str]]:
    """``{site: (delivery_start, delivery_end)}`` (ISO dates) from the ``sites`` table.

    ``tables`` is a delivery or a mapping of tables; a delivery without a ``sites`` table,
    or without the two date columns, gives ``{}``. A site whose start or end is missing is
    left out (nothing is structural about it).

    >>> import pandas as pd
    >>> sites = pd.DataFrame({"site": ["GRO", "AMS"], "delivery_start": pd.to_datetime(["2025-01-01", "2023-01-01"]),
    ...                       "delivery_end": pd.to_datetime(["2026-09-30", None])})
    >>> site_periods({"sites": sites})
    {'GRO': ('2025-01-01', '2026-09-30')}
    """
    if isinstance(tables, Mapping):
        frame = tables.get("sites")
    else:
        frame = (getattr(tables, "tables", None) or {}).get("sites")
    if frame is None or not {"site", "delivery_start", "delivery_end"} <= set(frame.columns):
        return {}
    start = pd.to_datetime(frame["delivery_start"], errors="coerce")
    end = pd.to_datetime(frame["delivery_end"], errors="coerce")
    known = (start.notna() & end.notna()).to_numpy(dtype=bool)
    sites = frame["site"].astype(str)[known].tolist()
    a = start[known].dt.strftime("%Y-%m-%d").tolist()
    b = end[known].dt.strftime("%Y-%m-%d").tolist()
    return dict(sorted(zip(sites, zip(a, b, strict=True), strict=True)))
