"""The population a report describes: the delivery restricted to the report's sites.

Every notebook of a report reads the same population. :func:`restrict_to_sites` keeps the
rows of the chosen sites: sites, households and episodes by their own ``site``, the other
tables through their household. :func:`site_periods` states each site's delivery period,
outside of which its counts are structural zeros.
"""

from __future__ import annotations

import dataclasses

from cohort.exceptions import ParameterError

__all__ = ["restrict_to_sites", "site_periods"]

_BY_SITE = ("sites", "households", "episodes")
_BY_HOUSEHOLD = ("legal_measures", "safety_assessments", "referrals")


def restrict_to_sites(delivery, sites, *, source: str = "parameters"):
    """``delivery`` with only the rows of ``sites`` (``None``: all sites, unchanged).

    Parameters
    ----------
    delivery : Delivery
        A loaded delivery (:func:`cohort.delivery.load.load`).
    sites : sequence of str or None
    source : str
        Where ``sites`` was given, for the error message.

    Raises
    ------
    ParameterError
        A site in ``sites`` is not a site of the delivery.
    """
    if sites is None:
        return delivery
    known = set(delivery.tables["sites"]["site"].astype(str))
    unknown = [s for s in sites if s not in known]
    if unknown:
        raise ParameterError(
            f"{source}: parameter 'sites' names {unknown[0]!r}, which is not a site of the "
            f"delivery; known sites: {', '.join(sorted(known))}"
        )
    wanted = list(sites)
    tables = dict(delivery.tables)
    for name in _BY_SITE:
        frame = tables[name]
        tables[name] = frame[frame["site"].isin(wanted).to_numpy()].reset_index(drop=True)
    households = tables["households"]["household_id"]
    for name in _BY_HOUSEHOLD:
        frame = tables[name]
        tables[name] = frame[frame["household_id"].isin(households).to_numpy()].reset_index(drop=True)
    return dataclasses.replace(delivery, tables=tables)


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
    import pandas as pd

    if isinstance(tables, dict):
        frame = tables.get("sites")
    else:
        frame = (getattr(tables, "tables", None) or {}).get("sites")
    if frame is None or not {"site", "delivery_start", "delivery_end"} <= set(frame.columns):
        return {}
    start = pd.to_datetime(frame["delivery_start"], errors="coerce")
    end = pd.to_datetime(frame["delivery_end"], errors="coerce")
    out = {}
    for site, a, b in zip(frame["site"].astype(str), start, end, strict=True):
        if pd.notna(a) and pd.notna(b):
            out[site] = (a.strftime("%Y-%m-%d"), b.strftime("%Y-%m-%d"))
    return dict(sorted(out.items()))
