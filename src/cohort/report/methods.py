"""The methods text of a report, written from the fitted models themselves.

Every released table of a model carries the model's own account of what was fitted
(``describe()`` of the estimator, recorded by the notebook API with the release and kept
in the manifest as ``about``): ties, strata, the cluster of the robust variance, the
interval transform, REML or ML, the working correlation, the change date. The methods
section states those facts in the report's language, so it cannot say what the code did
not do (for instance "clustered by site" for a model stratified by site and clustered by
household). General paragraphs (study period, indicators, disclosure control,
reproducibility) come from the report text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cohort.report.text import _lookup, report_text

__all__ = ["EFFECT_MODELS", "fitted_sentences", "methods_markdown"]


def _number(value, language: str, decimals: int | None = None) -> str:
    from cohort.report.format import format_number

    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return format_number(value, "count", language)
    if decimals is not None:
        text = f"{float(value):.{decimals}f}"
        return text.replace(".", ",") if language == "nl" else text
    return format_number(value, "value", language)


def _label(group: str, key, language: str) -> str:
    try:
        return _lookup(f"methods.{group}.{key}", language)
    except KeyError:
        return str(key)


def _terms(terms, language: str) -> str:
    from cohort.report.format import term_label

    names = [term_label(str(t), language) for t in terms if str(t) != "Intercept"]
    return ", ".join(names) if names else "—"


def _count(value, language: str) -> str:
    """A count of units as the methods text writes it: a number, or "fewer than T" where
    the facts hold it coarsened below the threshold."""
    return _number(int(value), language) if isinstance(value, int | float) else _fewer(value, language)


def _fewer(value, language: str):
    """A count the release wrote as ``<T`` (below the threshold) as "fewer than T"."""
    if isinstance(value, str) and re.fullmatch(r"<\d+", value):
        return report_text("not_estimable.fewer_than", language, threshold=_number(int(value[1:]), language))
    return value


def _sentence(about: Mapping, caption: str, language: str) -> str | None:
    model = about.get("model")
    if about.get("not_estimable") and about.get("reason_text"):
        return report_text("not_estimable.methods", language,
                           caption=caption.rstrip(".") if caption else model, reason=about["reason_text"])
    fields = {k: (_number(v, language) if isinstance(v, int | float) and not isinstance(v, bool)
                  else _fewer(v, language))
              for k, v in about.items()}
    if isinstance(about.get("events"), Mapping):
        about = {**about, "events": {k: _fewer(v, language) for k, v in about["events"].items()}}
    fields["caption"] = caption.rstrip(".") if caption else model
    fields["level"] = _number(round(100 * float(about.get("confidence_level", 0.95))), language)
    if isinstance(about.get("events"), Mapping):
        fields["events"] = ", ".join(f"{k}: {_number(v, language) if isinstance(v, int) else v}"
                                     for k, v in about["events"].items())
    if model == "CoxPH":
        fields["ties"] = _label("ties", about.get("ties"), language)
        strata = about.get("strata") or []
        fields["strata_text"] = (
            report_text("methods.cox_strata", language,
                        strata=", ".join(_label("columns", s, language) for s in strata),
                        n_strata=_number(int(about.get("n_strata") or 0), language))
            if strata else ""
        )
        if about.get("robust"):
            cluster = about.get("cluster_col")
            fields["se_text"] = report_text(
                "methods.cox_robust", language,
                cluster=_label("columns", cluster, language) if cluster else _label("columns", "household_id", language),
                # a count below the threshold comes coarsened ("<10"): say "fewer than"
                n_clusters=_count(about.get("n_clusters") or about.get("n") or 0, language),
            )
        else:
            fields["se_text"] = report_text("methods.cox_model_based", language)
    if model == "MixedModel":
        slope = "+" in str(about.get("random_effects", ""))
        fields["random_text"] = report_text(f"methods.random_{'slope' if slope else 'intercept'}", language)
    if model in ("MixedModel", "GEE", "model"):
        fields["terms"] = _terms(about.get("terms", []), language)
    if model in ("IntervalRegression", "IntervalPH"):
        # the intercept and the log scale are parameters of the distribution, not terms
        fields["terms"] = _terms([t for t in about.get("terms", []) if t not in ("(Intercept)", "Log(scale)")],
                                 language)
        fields["dist_text"] = _label("dist", about.get("dist"), language)
    if model == "GEE" and about.get("rho") is not None:
        fields["rho"] = _number(float(about["rho"]), language, decimals=2)
    if model == "SegmentedRegression":
        fields["dispersion"] = _number(float(about.get("dispersion", 1.0)), language, decimals=1)
    if model in EFFECT_MODELS:
        fields.update(_effect_fields(about, language))
    key = f"methods.{model}"
    try:
        sentence = report_text(key, language, **fields)
    except KeyError:
        if "terms" not in about:
            return None
        fields["terms"] = _terms(about.get("terms", []), language)
        sentence = report_text("methods.model", language, **fields)
    return " ".join([sentence, *_reduced_sentences(about, language)])


def _reduced_sentences(about: Mapping, language: str) -> list[str]:
    """What a reduced fit left out, from its facts: terms not estimated (R: ``NA``), the
    random slope lme4 would refuse, the quarters without a count."""
    from cohort.report.format import term_label

    out = []
    dropped = about.get("dropped_terms")
    if isinstance(dropped, Mapping) and dropped:
        said = "; ".join(report_text(f"not_estimable.terms.{reason}", language, term=term_label(str(term), language))
                         for term, reason in dropped.items())
        out.append(report_text("methods.dropped_terms", language, terms=said))
    reduced = about.get("reduced")
    if isinstance(reduced, Mapping) and reduced.get("dropped") == "random slope":
        key = "random_slope_few_groups" if reduced.get("reason") == "too_few_groups" else "random_slope_dropped"
        out.append(report_text(f"methods.{key}", language, n_groups=_count(reduced.get("n_groups"), language),
                               n_obs=_count(reduced.get("n_obs"), language),
                               n_re=_count(reduced.get("n_re"), language)))
    left_out = about.get("periods_left_out")
    if left_out:
        out.append(report_text("methods.periods_left_out", language, n=_number(len(left_out), language)))
    return out


def _count(value, language: str) -> str:
    return _number(value, language) if isinstance(value, int) else str(_fewer(value, language))


#: The estimators of the effects section (``cohort.stats``), whose released tables bring
#: the effects methods paragraphs (``effects.methods_text``) into the methods section.
EFFECT_MODELS = (
    "PropensityScore", "Balance", "WeightDistribution", "WeightedAalenJohansen", "WeightedKaplanMeier",
    "WeightedCoxPH", "AverageTreatmentEffect", "WeightedMeanDifference", "StaggeredDiD",
)


def _effect_fields(about: Mapping, language: str) -> dict:
    """The facts of an effect estimator's ``describe()`` as its methods sentence quotes them."""
    from cohort.report.text import _listing

    def months(days):
        return _listing([_number(int(round(float(d) / 30.4375)), language) for d in days], language)

    out = {}
    model = about.get("model")
    if "variance" in about and model != "WeightedCoxPH":
        estimated = "estimated" in str(about["variance"])
        out["variance_text"] = report_text(f"methods.variance_{'estimated' if estimated else 'fixed'}", language)
    if model == "PropensityScore":
        key = "weights_stabilised" if about.get("stabilised", True) else "weights_unstabilised"
        text = report_text(f"methods.{key}", language)
        trim = about.get("trim_quantiles")
        if trim:
            text += report_text("methods.weights_truncated", language, low=_number(round(100 * float(trim[0]), 1), language),
                                high=_number(round(100 * float(trim[1]), 1), language))
        out["weights_text"] = text
    if model == "Balance":
        out["smd_balanced"] = _number(float(about.get("smd_balanced", 0.1)), language, decimals=1)
    if model in ("WeightedAalenJohansen", "WeightedKaplanMeier"):
        out["horizons"] = months(about.get("horizons_days", []))
    if model == "WeightedCoxPH":
        out["ties"] = _label("ties", about.get("ties"), language)
        out["cox_variance_text"] = _label("cox_variance", about.get("variance"), language)
    if model == "AverageTreatmentEffect":
        out["horizons"] = months(about.get("times", []))
        out["estimator_text"] = _label("ate_estimator", about.get("estimator"), language)
        out["nuisance_text"] = _label("ate_nuisance", about.get("estimator"), language)
    if model == "StaggeredDiD":
        out["control_text"] = _label("did_controls", about.get("control_group"), language)
        out["multipliers_text"] = _label("did_multipliers", about.get("multipliers"), language)
        for key in ("replications", "seed"):
            out[key] = str(about.get(key, ""))
    return out


def _parts(about: Mapping, caption: str, language: str) -> list[tuple[Mapping, str]]:
    """The models of a release with their captions: one, or one per analysis of a table of
    several analyses (:class:`cohort.stats.by_analysis.ByAnalysis`)."""
    from cohort.report.text import value_labels

    parts = about.get("parts")
    if not isinstance(parts, Mapping):
        return [(about, caption)]
    names = value_labels("analysis", language)
    return [
        (part, report_text("methods.part", language, caption=caption.rstrip("."), analysis=names.get(key, key)))
        for key, part in parts.items() if isinstance(part, Mapping)
    ]


def fitted_sentences(releases: Mapping[str, Mapping], language: str) -> list[str]:
    """One sentence per released model table, in the order of the releases.

    ``releases`` are the build's release records (``manifest.json``'s file entries); a
    record without ``about`` (a table that is not a model) gives no sentence.

    Examples
    --------
    >>> records = {"tables/km.csv": {"caption": "Kaplan-Meier", "about": {
    ...     "model": "KaplanMeier", "n": 441, "events": 47, "conf_type": "log",
    ...     "confidence_level": 0.95}}}
    >>> fitted_sentences(records, "en")[0]
    "**Kaplan-Meier.** Kaplan–Meier estimator (441 observations, 47 events) with pointwise 95% confidence intervals (log transform, Greenwood variance, as R's `survfit`)."
    """
    out = []
    for record in releases.values():
        about = record.get("about")
        if not isinstance(about, Mapping) or "model" not in about:
            continue
        for part, caption in _parts(about, record.get("caption") or "", language):
            sentence = _sentence(part, caption, language)
            if sentence:
                out.append(sentence)
    return out


def _effects_released(releases: Mapping[str, Mapping]) -> bool:
    return any(isinstance(r.get("about"), Mapping) and r["about"].get("model") in EFFECT_MODELS
               for r in releases.values())


def methods_markdown(params, releases: Mapping[str, Mapping]) -> str:
    """The methods section as Markdown: the general paragraphs, then what was fitted."""
    from cohort.report.text import _fields

    general = report_text("report.methods_text", params.language, **_fields(params)).rstrip()
    if _effects_released(releases):  # the effects section's design and estimators
        general += "\n\n" + report_text("effects.methods_text", params.language, **_fields(params)).rstrip()
    fitted = fitted_sentences(releases, params.language)
    if not fitted:
        return general
    paragraphs = [general, report_text("report.methods_fitted", params.language)]
    paragraphs.append("\n".join(f"- {s}" for s in fitted))
    return "\n\n".join(paragraphs)
