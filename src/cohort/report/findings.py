"""The report's key findings, written from its released tables only.

Each sentence is generated from one released CSV file of the report being built (never
from the data behind it), and names that file, so a finding can never disagree with a
table a reader holds. Where the cell a sentence needs is suppressed, missing or not
determinable from the released table (a curve that ends before 12 months), the sentence
says that the figure cannot be reported here, and why.

The findings:

* **re-registration within 12 months** of closure, with its 95% interval: the cumulative
  incidence with moving away as a competing risk (``tables/reregistration_cif.csv``), or
  one minus Kaplan-Meier (``tables/reregistration_km.csv``) where the report has no
  competing-risks table;
* **change in safety since T0** per follow-up wave with its interval
  (``tables/safety_change_from_baseline.csv``);
* **time to safety**: the share directly safe at the latest horizon (6 to 24 months) the
  released table shows, and the share stably safe then or at the latest earlier horizon
  shown (``tables/safety_share_safe.csv``);
* **compulsory legal measures** per household involved since the start, on the reference
  date and a year earlier (``tables/monitor.csv``, all sites);
* **the effect against regular care** (the effects section): re-registration within 12
  months of closure per group, weighted, with the difference and its interval
  (``tables/effects_reregistration_risks.csv``), and the weighted change in the safety
  score from T0 to T2 per group with the difference (``tables/effects_safety.csv``). A
  report without comparison households says that the effect is not estimable here.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> (folder / "tables").mkdir()
>>> _ = (folder / "tables" / "reregistration_km.csv").write_text(
...     "time,survival,ci_lower,ci_upper,n_risk,n_event,suppressed\\n"
...     "0,1,1,1,441,0,false\\n200,0.85,0.80,0.90,120,30,false\\n400,0.78,0.72,0.84,40,12,false\\n")
>>> print(reregistration_finding(folder, "en").text)
Within 12 months of closure, 15.0% of households were registered again (95% CI 10.0% to 20.0%; one minus Kaplan-Meier).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cohort.report.format import format_date, format_number

__all__ = ["Finding", "key_findings", "reregistration_finding", "safety_finding", "time_to_safety_finding",
           "legal_measures_finding", "effects_findings"]

#: Twelve months in days, as the survival tables count time (30.4375 days a month).
TWELVE_MONTHS_DAYS = 12 * 30.4375

_MISSING = {"", "[suppressed]"}


@dataclass(frozen=True)
class Finding:
    """One sentence of the key findings.

    Attributes
    ----------
    key : str
        Which finding (``reregistration_12_months``, ``safety_change``, ``legal_measures``).
    text : str
        The sentence in the report's language.
    source : str
        The released file it is written from, relative to the report folder.
    reported : bool
        ``False`` when the sentence says the figure cannot be reported here.
    """

    key: str
    text: str
    source: str
    reported: bool


def _t(key: str, language: str, **fields) -> str:
    from cohort.report.text import report_text

    return report_text(f"findings.{key}", language, **fields)


def _read(folder: Path, source: str) -> pd.DataFrame | None:
    path = Path(folder) / source
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _number(value) -> float | None:
    """A released cell as a number; ``None`` when empty or suppressed."""
    if value is None or (isinstance(value, str) and value.strip() in _MISSING):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _not_reported(key: str, source: str, language: str, what: str, reason: str, **fields) -> Finding:
    text = _t("cannot_report", language, what=_t(f"what.{what}", language, **fields),
              reason=_t(f"reason.{reason}", language, **fields))
    return Finding(key, text, source, False)


def reregistration_finding(folder: Path, language: str) -> Finding:
    """Re-registration within 12 months of closure, with its 95% interval."""
    key = "reregistration_12_months"
    cif_source, km_source = "tables/reregistration_cif.csv", "tables/reregistration_km.csv"
    table, source, method = _read(folder, cif_source), cif_source, "cif"
    if table is not None and "cause" in table.columns:
        table = table[table["cause"] == "re-registration"]
    if table is None or table.empty:
        table, source, method = _read(folder, km_source), km_source, "km"
    if table is None or table.empty:
        return _not_reported(key, cif_source, language, "reregistration", "no_table")
    times = pd.to_numeric(table["time"], errors="coerce")
    if not (times >= TWELVE_MONTHS_DAYS).any():
        last = float(times.max())
        months = format_number(last / 30.4375, "value", language, decimals=0)
        return _not_reported(key, source, language, "reregistration", "curve_ends", months=months)
    row = table[times <= TWELVE_MONTHS_DAYS].iloc[-1]
    if method == "cif":
        value, lower, upper = (_number(row[c]) for c in ("cif", "ci_lower", "ci_upper"))
    else:
        survival, s_lower, s_upper = (_number(row[c]) for c in ("survival", "ci_lower", "ci_upper"))
        value = None if survival is None else 1 - survival
        lower = None if s_upper is None else 1 - s_upper
        upper = None if s_lower is None else 1 - s_lower
    if value is None or lower is None or upper is None:
        return _not_reported(key, source, language, "reregistration", "suppressed")
    text = _t(
        "reregistration",
        language,
        share=format_number(value, "share", language),
        lower=format_number(lower, "share", language),
        upper=format_number(upper, "share", language),
        method=_t(f"method.{method}", language),
    )
    return Finding(key, text, source, True)


def safety_finding(folder: Path, language: str) -> Finding:
    """Mean change in the safety score since T0, per follow-up wave, with intervals."""
    key, source = "safety_change", "tables/safety_change_from_baseline.csv"
    table = _read(folder, source)
    if table is None or table.empty:
        return _not_reported(key, source, language, "safety", "no_table")
    rows = []
    for _, row in table.iterrows():
        change, lower, upper, pairs = (_number(row.get(c)) for c in ("mean_change", "ci_lower", "ci_upper", "n_pairs"))
        if None not in (change, lower, upper, pairs):
            rows.append((row["wave"], change, lower, upper, pairs))
    if not rows:
        return _not_reported(key, source, language, "safety", "suppressed")
    signs = {np.sign(round(change, 2)) for _, change, _, _, _ in rows}
    direction = "up" if signs == {1} else "down" if signs == {-1} else "mixed"
    flip = -1 if direction == "down" else 1  # "fell by 0,20", not "fell by -0,20"
    parts = []
    for wave, change, lower, upper, pairs in rows:
        lower, upper = sorted((flip * lower, flip * upper))
        parts.append(
            _t(
                "safety_wave",
                language,
                wave=wave,
                change=format_number(flip * change, "value", language, decimals=2),
                lower=format_number(lower, "value", language, decimals=2),
                upper=format_number(upper, "value", language, decimals=2),
                pairs=format_number(pairs, "count", language),
            )
        )
    verb = _t(f"safety_verb.{direction}", language)
    joined = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {_t('and', language)} {parts[-1]}"
    baseline = table["baseline"].iloc[0] if "baseline" in table.columns else "T0"
    return Finding(key, _t("safety", language, baseline=baseline, verb=verb, waves=joined), source, True)


def _shown_shares(table: pd.DataFrame, outcome: str) -> list[tuple[float, float, float, float]]:
    """``(months, share, lower, upper)`` of the rows of ``outcome`` that are shown."""
    rows = table[table["group"] == outcome] if "group" in table.columns else table
    out = []
    for _, row in rows.iterrows():
        values = tuple(_number(row.get(c)) for c in ("months", "share_safe", "ci_lower", "ci_upper"))
        if None not in values:
            out.append(values)
    return sorted(out)


def time_to_safety_finding(folder: Path, language: str) -> Finding:
    """The share directly safe at the latest horizon the released table shows, and the share
    stably safe at that horizon (or the latest earlier one shown).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "tables").mkdir()
    >>> _ = (folder / "tables" / "safety_share_safe.csv").write_text(
    ...     "group,months,share_safe,ci_lower,ci_upper,suppressed\\n"
    ...     "direct,6,0.186,0.16,0.21,false\\ndirect,12,0.365,0.316,0.41,false\\n"
    ...     "stable,6,0.127,0.088,0.163,false\\nstable,12,,,,true\\n")
    >>> print(time_to_safety_finding(folder, "en").text)
    At 12 months after registration an estimated 36.5% of households were directly safe (95% CI 31.6% to 41.0%; Turnbull estimate for interval-censored times). The share stably safe at 12 months rests on too few households to be shown; at 6 months it was 12.7% (95% CI 8.8% to 16.3%).
    """
    key, source = "time_to_safety", "tables/safety_share_safe.csv"
    table = _read(folder, source)
    if table is None or table.empty:
        return _not_reported(key, source, language, "time_to_safety", "no_table")
    direct = _shown_shares(table, "direct")
    if not direct:
        return _not_reported(key, source, language, "time_to_safety", "suppressed")

    def share(v):
        return format_number(v, "share", language)

    months, value, lower, upper = direct[-1]
    when = format_number(months, "count", language)
    text = _t("time_to_safety", language, months=when, share=share(value), lower=share(lower),
              upper=share(upper))
    stable = [row for row in _shown_shares(table, "stable") if row[0] <= months]
    if stable and stable[-1][0] == months:
        _, s_value, s_lower, s_upper = stable[-1]
        text += " " + _t("time_to_safety_stable", language, share=share(s_value), lower=share(s_lower),
                         upper=share(s_upper))
    elif stable:
        s_months, s_value, s_lower, s_upper = stable[-1]
        text += " " + _t("time_to_safety_stable_earlier", language, months=when,
                         earlier=format_number(s_months, "count", language), share=share(s_value),
                         lower=share(s_lower), upper=share(s_upper))
    else:
        text += " " + _t("time_to_safety_stable_none", language, months=when)
    return Finding(key, text, source, True)


def legal_measures_finding(folder: Path, language: str) -> Finding:
    """Compulsory legal measures per household involved, on the reference date and a year
    earlier (all sites)."""
    key, source = "legal_measures", "tables/monitor.csv"
    table = _read(folder, source)
    if table is None or table.empty:
        return _not_reported(key, source, language, "legal_measures", "no_table")
    rows = table[(table["indicator"] == "legal_measures_share") & (table["site"] == "all")].copy()
    if rows.empty:
        return _not_reported(key, source, language, "legal_measures", "no_table")
    rows["end"] = pd.to_datetime(rows["interval_end"])
    rows = rows.sort_values("end")
    last = rows.iloc[-1]
    value, measures, households = (_number(last[c]) for c in ("value", "numerator", "denominator"))
    if value is None or measures is None or households is None:
        return _not_reported(key, source, language, "legal_measures", "suppressed")
    text = _t(
        "legal_measures",
        language,
        date=format_date(last["end"], language),
        measures=format_number(measures, "count", language),
        households=format_number(households, "count", language),
        share=format_number(value, "share", language),
    )
    year_before = last["end"] - pd.DateOffset(years=1)
    earlier = rows[rows["end"] <= year_before]
    if earlier.empty:
        earlier, which = rows.iloc[:1], "first"
    else:
        earlier, which = earlier.iloc[-1:], "year"
    before = earlier.iloc[0]
    before_value = _number(before["value"])
    if before["end"] < last["end"] and before_value is not None:
        direction = "up" if before_value < value else "down" if before_value > value else "same"
        text += " " + _t(
            f"legal_measures_trend_{which}",
            language,
            date=format_date(before["end"], language),
            share=format_number(before_value, "share", language),
            direction=_t(f"direction.{direction}", language),
        )
    return Finding(key, text, source, True)


#: The released tables of the effects section the effect findings are written from.
EFFECT_SOURCES = ("tables/effects_reregistration_risks.csv", "tables/effects_safety.csv")


def _direction(lower: float, upper: float) -> str:
    """``lower`` / ``higher`` when the interval of a pilot-minus-comparison difference lies
    below / above zero, else ``unclear``."""
    return "lower" if upper < 0 else "higher" if lower > 0 else "unclear"


def effects_findings(folder: Path, language: str) -> list[Finding]:
    """The effect of the new way of working against regular care, from the effects section's
    released tables: re-registration within 12 months of closure and the change in safety
    (weighted, pilot minus comparison, with 95% intervals).

    Without any of those tables (the report has no comparison households, or too few) one
    sentence says that the effect is not estimable here.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "tables").mkdir()
    >>> print(effects_findings(folder, "en")[0].text)
    The effect of the new way of working compared with regular care cannot be reported here: it is not estimable here: the report has no comparison households, or too few (see the effects section).
    >>> _ = (folder / "tables" / "effects_reregistration_risks.csv").write_text(
    ...     "months,risk_pilot,risk_comparison,difference,ci_lower,ci_upper,suppressed\\n"
    ...     "6,0.108,0.137,-0.029,-0.053,-0.005,false\\n12,0.167,0.222,-0.054,-0.085,-0.023,false\\n")
    >>> print(effects_findings(folder, "en")[0].text)
    Compared with regular care, fewer households at the pilot sites were registered again within 12 months of closure: 16.7% against 22.2% in the comparison regions (weighted; difference -5.4 percentage points, 95% CI -8.5 to -2.3).
    """
    rereg_source, safety_source = EFFECT_SOURCES
    rereg, safety = _read(folder, rereg_source), _read(folder, safety_source)
    if rereg is None and safety is None:
        return [_not_reported("effects", rereg_source, language, "effects", "no_comparison")]
    out = []
    key = "effects_reregistration_12_months"
    if rereg is None or rereg.empty:
        out.append(_not_reported(key, rereg_source, language, "effects_reregistration", "too_few"))
    else:
        rows = rereg[pd.to_numeric(rereg["months"], errors="coerce") == 12]
        values = [_number(rows.iloc[0][c]) for c in ("risk_pilot", "risk_comparison", "difference", "ci_lower",
                                                      "ci_upper")] if len(rows) else [None]
        if None in values:
            out.append(_not_reported(key, rereg_source, language, "effects_reregistration", "suppressed"))
        else:
            pilot, comparison, difference, lower, upper = values

            def share(v):
                return format_number(v, "share", language)

            def points(v):  # a difference of two shares, in percentage points
                return format_number(100 * v, "value", language, decimals=1)

            out.append(Finding(key, _t(f"effects_reregistration.{_direction(lower, upper)}", language,
                                       pilot=share(pilot), comparison=share(comparison), difference=points(difference),
                                       lower=points(lower), upper=points(upper)), rereg_source, True))
    key = "effects_safety"
    if safety is None or safety.empty:
        out.append(_not_reported(key, safety_source, language, "effects_safety", "too_few"))
    else:
        values = [_number(safety.iloc[0].get(c)) for c in ("mean_pilot", "mean_comparison", "difference", "ci_lower",
                                                           "ci_upper")]
        if None in values:
            out.append(_not_reported(key, safety_source, language, "effects_safety", "suppressed"))
        else:
            pilot, comparison, difference, lower, upper = values

            def points(v):
                return format_number(v, "value", language, decimals=2)

            out.append(Finding(key, _t(f"effects_safety.{_direction(lower, upper)}", language,
                                       pilot=points(pilot), comparison=points(comparison),
                                       difference=points(abs(difference)), lower=points(lower), upper=points(upper)),
                               safety_source, True))
    return out


def key_findings(folder: str | Path, language: str) -> list[Finding]:
    """The key findings of the report in ``folder``, from its released tables.

    Parameters
    ----------
    folder : path
        The report folder being built (holding ``tables/``).
    language : {"nl", "en"}

    Returns
    -------
    list of Finding
        Re-registration within 12 months, change in safety since T0, time to safety,
        legal measures, and the effect against regular care (:func:`effects_findings`).
    """
    folder = Path(folder)
    return [
        reregistration_finding(folder, language),
        safety_finding(folder, language),
        time_to_safety_finding(folder, language),
        legal_measures_finding(folder, language),
        *effects_findings(folder, language),
    ]
