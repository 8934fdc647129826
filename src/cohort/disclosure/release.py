"""Release anything an analysis produces: the rule for each kind of result, in one place.

:func:`release` takes what an analysis returned (a fitted estimator, the monitor's counts,
a table that states its column roles) and a :class:`~cohort.disclosure.policy.DisclosurePolicy`,
and returns the released table, with its disclosure record. :func:`figure_data` does the
same for the tables a figure draws. The rules themselves live in the modules named below;
this module only says which rule serves which result:

============================================  ==========================================
result                                        rule
============================================  ==========================================
a table with a disclosure record              already released: returned as it is
a table with column roles                     :func:`cohort.disclosure.tables.release_by_roles`
  (rule "changes between reports")            :func:`cohort.disclosure.monitor.release_changes`
:class:`~cohort.monitor.measures.MeasureCounts`  :func:`cohort.disclosure.monitor.release_measures`
:class:`~cohort.stats.kaplan_meier.KaplanMeier`  :func:`cohort.disclosure.curves.release_km_table`
:class:`~cohort.stats.aalen_johansen.AalenJohansen`  :func:`cohort.disclosure.curves.release_cif_table` / ``release_cif_tables``
:class:`~cohort.stats.cox.CoxPH`                 :func:`cohort.disclosure.models.release_cox_table`
:class:`~cohort.stats.cox_zph.ProportionalHazardsTest`  :func:`cohort.disclosure.models.release_ph_test`
:class:`~cohort.stats.mixed.MixedModel`          :func:`cohort.disclosure.models.release_mixed_model`
:class:`~cohort.stats.gee.GEE`                   :func:`cohort.disclosure.models.release_gee`
:class:`~cohort.stats.segmented.SegmentedRegression`  :func:`cohort.disclosure.models.release_segmented`
:class:`~cohort.stats.turnbull.Turnbull`         :func:`cohort.disclosure.interval_curves.release_share_safe`
:class:`~cohort.stats.interval_regression.IntervalRegression`, ``IntervalPH``  :func:`cohort.disclosure.interval_curves.release_interval_model_table`
Poisson, logistic, negative binomial models    :func:`cohort.disclosure.models.release_model`
the effect analyses (propensity model,         :mod:`cohort.disclosure.effects` (``release_balance_result``,
  balance, weights, weighted curves and Cox,     ``release_weighted_risks``, ``release_weighted_cox``,
  AIPTW, mean difference, staggered adoption)    ``release_ate_result``, ``release_staggered``, ...)
:class:`~cohort.stats.by_analysis.ByAnalysis`   :func:`release_by_analysis` (each part by its rule, stacked)
============================================  ==========================================

Results are recognised by their class's module and name, so importing this module does
not import the estimators (a notebook kernel starts faster).
"""

from __future__ import annotations

import importlib

import pandas as pd

from cohort.disclosure.policy import check_policy
from cohort.exceptions import DisclosureError

__all__ = ["release", "release_by_analysis", "figure_data", "RULES"]

#: (module, class) of a result -> (module, function) of its release rule.
RULES = {
    ("cohort.monitor.measures", "MeasureCounts"): ("cohort.disclosure.monitor", "release_measures"),
    ("cohort.stats.kaplan_meier", "KaplanMeier"): ("cohort.disclosure.curves", "release_km_table"),
    ("cohort.stats.aalen_johansen", "AalenJohansen"): ("cohort.disclosure.curves", "release_aalen_johansen"),
    ("cohort.stats.cox", "CoxPH"): ("cohort.disclosure.models", "release_cox_table"),
    ("cohort.stats.cox_zph", "ProportionalHazardsTest"): ("cohort.disclosure.models", "release_ph_test"),
    ("cohort.stats.mixed", "MixedModel"): ("cohort.disclosure.models", "release_mixed_model"),
    ("cohort.stats.gee", "GEE"): ("cohort.disclosure.models", "release_gee"),
    ("cohort.stats.segmented", "SegmentedRegression"): ("cohort.disclosure.models", "release_segmented"),
    ("cohort.stats.turnbull", "Turnbull"): ("cohort.disclosure.interval_curves", "release_share_safe"),
    ("cohort.stats.interval_regression", "IntervalRegression"): ("cohort.disclosure.interval_curves", "release_interval_model_table"),
    ("cohort.stats.interval_ph", "IntervalPH"): ("cohort.disclosure.interval_curves", "release_interval_model_table"),
    ("cohort.stats.poisson", "PoissonModel"): ("cohort.disclosure.models", "release_model"),
    ("cohort.stats.logistic", "LogisticModel"): ("cohort.disclosure.models", "release_model"),
    ("cohort.stats.negative_binomial", "NegativeBinomialModel"): ("cohort.disclosure.models", "release_model"),
    # the effect analyses (cohort.disclosure.effects: per-arm thresholds)
    ("cohort.stats.propensity", "PropensityScore"): ("cohort.disclosure.models", "release_model"),
    ("cohort.stats.balance", "Balance"): ("cohort.disclosure.effects", "release_balance_result"),
    ("cohort.stats.balance", "WeightDistribution"): ("cohort.disclosure.effects", "release_weight_distribution"),
    ("cohort.stats.weighted_aalen_johansen", "WeightedAalenJohansen"): ("cohort.disclosure.effects", "release_weighted_risks"),
    ("cohort.stats.weighted_kaplan_meier", "WeightedKaplanMeier"): ("cohort.disclosure.effects", "release_weighted_risks"),
    ("cohort.stats.weighted_cox", "WeightedCoxPH"): ("cohort.disclosure.effects", "release_weighted_cox"),
    ("cohort.stats.ate", "AverageTreatmentEffect"): ("cohort.disclosure.effects", "release_ate_result"),
    ("cohort.stats.weighted_mean", "WeightedMeanDifference"): ("cohort.disclosure.effects", "release_mean_difference"),
    ("cohort.stats.staggered_did", "StaggeredDiD"): ("cohort.disclosure.effects", "release_staggered"),
    ("cohort.stats.by_analysis", "ByAnalysis"): ("cohort.disclosure.release", "release_by_analysis"),
}

#: Named rules for tables that state their roles (``roles["rule"]``).
TABLE_RULES = {
    None: ("cohort.disclosure.tables", "release_by_roles"),
    "changes between reports": ("cohort.disclosure.monitor", "release_changes"),
}

#: (module, class) of a figure's source -> (module, function) giving its released tables.
FIGURE_DATA = {
    ("cohort.stats.kaplan_meier", "KaplanMeier"): ("cohort.disclosure.curves", "km_figure_data"),
    ("cohort.stats.aalen_johansen", "AalenJohansen"): ("cohort.disclosure.curves", "cif_figure_data"),
    ("cohort.stats.turnbull", "Turnbull"): ("cohort.disclosure.interval_curves", "turnbull_figure_data"),
}


def _function(spec):
    module, name = spec
    return getattr(importlib.import_module(module), name)


def _rule_for(obj, table: dict):
    for cls in type(obj).__mro__:
        spec = table.get((cls.__module__, cls.__name__))
        if spec is not None:
            return _function(spec)
    return None


def release(obj, policy, **options) -> pd.DataFrame:
    """The released table of ``obj`` under ``policy``.

    Parameters
    ----------
    obj
        A table with a disclosure record or with column roles, or an analysis result
        named in :data:`RULES`.
    policy : DisclosurePolicy
    **options
        Passed to the rule (for example ``previous=`` for the monitor's counts, ``cause=``
        or ``causes=`` for cumulative incidence).

    Raises
    ------
    DisclosureError
        ``obj`` is of a kind no rule releases.

    Examples
    --------
    >>> from cohort.disclosure.policy import DisclosurePolicy
    >>> from cohort.roles import with_roles
    >>> t = with_roles(pd.DataFrame({"site": ["A", "B", "all"], "n": [40, 3, 43]}),
    ...                counts=["n"], groups=["site"])
    >>> release(t, DisclosurePolicy())[["site", "n"]]
      site     n
    0    A  <NA>
    1    B  <NA>
    2  all    43
    """
    policy = check_policy(policy)
    if isinstance(obj, pd.DataFrame):
        record = obj.attrs.get("disclosure")
        if isinstance(record, dict) and "applied" in record:
            if options:
                raise DisclosureError(
                    f"this table was released already; options {sorted(options)} do not apply"
                )
            return obj
        roles = obj.attrs.get("roles")
        if isinstance(roles, dict):
            spec = TABLE_RULES.get(roles.get("rule"))
            if spec is None:
                raise DisclosureError(f"no release rule named {roles.get('rule')!r}")
            return _function(spec)(obj, policy, **options)
        raise DisclosureError(
            "this table never passed disclosure control and states no column roles "
            "(cohort.roles.with_roles), so no rule can release it"
        )
    rule = _rule_for(obj, RULES)
    if rule is None:
        raise DisclosureError(
            f"no disclosure rule releases a {type(obj).__name__}; release a table of its "
            "results that states its column roles, or add a rule to cohort.disclosure.release.RULES"
        )
    return rule(obj, policy, **options)


def release_by_analysis(results, policy, **options) -> pd.DataFrame:
    """Results of one kind for several analyses (:class:`~cohort.stats.by_analysis.ByAnalysis`)
    as one released table: each released by its own rule, stacked in order under a first
    column ``analysis``, with one disclosure record for the whole table."""
    from cohort.disclosure.cells import concat

    policy = check_policy(policy)
    parts = []
    for name, result in results.items():
        table = release(result, policy, **options).copy()
        table.insert(0, "analysis", name)
        parts.append(table)
    return concat(parts, ignore_index=True)


def figure_data(obj, policy, **options) -> dict[str, pd.DataFrame]:
    """The released tables a figure of ``obj`` draws, keyed by a name suffix (``""`` for
    the main table, ``"at_risk"`` for the numbers at risk under a curve, ...).

    A table (or several: pass a dict) is released with :func:`release`.
    """
    policy = check_policy(policy)
    if isinstance(obj, dict):
        return {key: release(value, policy) for key, value in obj.items()}
    rule = _rule_for(obj, FIGURE_DATA)
    if rule is not None:
        return rule(obj, policy, **options)
    return {"": release(obj, policy, **options)}
