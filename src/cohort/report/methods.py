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

from collections.abc import Mapping

from cohort.report.text import _lookup, report_text

__all__ = ["fitted_sentences", "methods_markdown"]


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


def _sentence(about: Mapping, caption: str, language: str) -> str | None:
    model = about.get("model")
    fields = {k: (_number(v, language) if isinstance(v, int | float) and not isinstance(v, bool) else v)
              for k, v in about.items()}
    fields["caption"] = caption.rstrip(".") if caption else model
    fields["level"] = _number(round(100 * float(about.get("confidence_level", 0.95))), language)
    if isinstance(about.get("events"), Mapping):
        fields["events"] = ", ".join(f"{k}: {_number(v, language)}" for k, v in about["events"].items())
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
                n_clusters=_number(int(about.get("n_clusters") or about.get("n") or 0), language),
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
    key = f"methods.{model}"
    try:
        return report_text(key, language, **fields)
    except KeyError:
        if "terms" in about:
            fields["terms"] = _terms(about.get("terms", []), language)
            return report_text("methods.model", language, **fields)
        return None


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
        sentence = _sentence(about, record.get("caption") or "", language)
        if sentence:
            out.append(sentence)
    return out


def methods_markdown(params, releases: Mapping[str, Mapping]) -> str:
    """The methods section as Markdown: the general paragraphs, then what was fitted."""
    from cohort.report.text import _fields

    general = report_text("report.methods_text", params.language, **_fields(params)).rstrip()
    fitted = fitted_sentences(releases, params.language)
    if not fitted:
        return general
    paragraphs = [general, report_text("report.methods_fitted", params.language)]
    paragraphs.append("\n".join(f"- {s}" for s in fitted))
    return "\n\n".join(paragraphs)
