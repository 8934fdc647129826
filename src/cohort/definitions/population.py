"""The population a report describes: the delivery restricted to the report's sites.

Every notebook of a report reads the same population. :func:`restrict_to_sites` keeps the
rows of the chosen sites: sites, households and episodes by their own ``site``, the other
tables through their household.
"""

from __future__ import annotations

import dataclasses

from cohort.exceptions import ParameterError

__all__ = ["restrict_to_sites"]

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
