"""Key findings are written from released tables only, and say when they cannot be."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from cohort.report.findings import (
    effects_findings,
    key_findings,
    legal_measures_finding,
    reregistration_finding,
    safety_finding,
    time_to_safety_finding,
)
from cohort.report.format import format_date, format_number

CIF = """time,cif,ci_lower,ci_upper,n_risk,n_event,suppressed,cause
0,0,,,900,0,false,re-registration
180,0.12,0.10,0.145,500,60,false,re-registration
360,0.2021,0.1812,0.2250,300,40,false,re-registration
420,0.25,0.22,0.28,120,20,false,re-registration
0,0,,,900,0,false,moved away
400,0.05,0.03,0.07,200,12,false,moved away
"""

SAFETY = """wave,n_households,n_pairs,mean_baseline,mean_score,mean_change,sd_change,ci_lower,ci_upper,p,baseline,analysis,suppressed
T1,704,706,4.36,5.00,0.6402266289,1.36,0.5396327266,0.7408205312,1.6e-32,T0,complete-case,false
T2,269,269,4.29,5.68,1.3866171,1.41,1.217836371,1.55539783,1.6e-41,T0,complete-case,false
T3,[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],T0,complete-case,true
"""

SHARE_SAFE = """group,months,time,share_safe,ci_lower,ci_upper,n_safe,n_risk,determined,suppressed
direct,6,182.625,0.18562,0.1601,0.2101,193,794,true,false
direct,12,365.25,0.365032,0.3162,0.4101,252,251,true,false
direct,18,547.875,,,,,,true,true
stable,6,182.625,0.126572,0.0881,0.1634,51,246,true,false
stable,12,365.25,,,,,,true,true
"""

MONITOR_HEADER = "indicator,kind,interval_start,interval_end,site,numerator,denominator,value,ci_lower,ci_upper,ci_method,suppressed\n"
MONITOR = MONITOR_HEADER + """legal_measures_share,ratio,2023-10-01,2023-12-31,all,47,545,0.08623853211,,,none,false
legal_measures_share,ratio,2024-07-01,2024-09-30,all,135,1103,0.1223934723,,,none,false
legal_measures_share,ratio,2024-10-01,2024-12-31,all,199,1653,0.1203871748,,,none,false
legal_measures_share,ratio,2024-10-01,2024-12-31,AMS,40,297,0.13468,,,none,false
"""


EFFECTS_REREGISTRATION = """months,risk_pilot,risk_comparison,difference,se,ci_lower,ci_upper,p,n_risk_pilot,n_risk_comparison,n_events_pilot,n_events_comparison,suppressed
6,0.1079799212,0.1372427213,-0.02926280009,0.0122,-0.05325637948,-0.005269220688,0.017,1336,897,215,167,false
12,0.1673609091,0.2217009518,-0.05434004268,0.0159,-0.08549519455,-0.02318489082,0.0006,753,537,294,243,false
24,[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],true
"""

EFFECTS_SAFETY = """mean_pilot,mean_comparison,difference,se,ci_lower,ci_upper,p,n_pilot,n_comparison,suppressed
2.020467068,1.508074857,0.5123922115,0.0701,0.3750369228,0.6497475002,2.6e-13,1066,696,false
"""


def report(tmp_path, **tables):
    (tmp_path / "tables").mkdir(exist_ok=True)
    for name, text in tables.items():
        (tmp_path / "tables" / f"{name}.csv").write_text(text, encoding="utf-8")
    return tmp_path


def numbers_in(text: str) -> list[str]:
    return re.findall(r"(?<!\w)\d[\d.,]*%?", text)


def test_every_number_of_a_finding_is_a_cell_of_its_table(tmp_path):
    folder = report(tmp_path, reregistration_cif=CIF, safety_change_from_baseline=SAFETY, monitor=MONITOR,
                    safety_share_safe=SHARE_SAFE, effects_reregistration_risks=EFFECTS_REREGISTRATION,
                    effects_safety=EFFECTS_SAFETY)
    for language in ("nl", "en"):
        for finding in key_findings(folder, language):
            assert finding.reported, finding.text
            table = pd.read_csv(folder / finding.source, dtype=str, keep_default_na=False)
            shown = set()
            for value in table.to_numpy().ravel():
                try:
                    number = float(value)
                except ValueError:
                    continue
                for role in ("count", "share"):
                    shown.add(format_number(number, role, language))
                shown.add(format_number(number, "value", language, decimals=2))
                # a difference of shares in percentage points, a difference of means by its size
                shown.add(format_number(100 * abs(number), "value", language, decimals=1))
                shown.add(format_number(abs(number), "value", language, decimals=2))
            text = finding.text
            for date in table.get("interval_end", pd.Series(dtype=str)).unique():
                text = text.replace(format_date(date, language), "")
            for number in numbers_in(text):
                number = number.rstrip(".,")
                if number in ("6", "12", "95%", "1", "2", "3"):
                    continue  # the 6 and 12 months, 95% intervals and wave numbers
                assert number in shown, f"{number!r} in {finding.text!r} is no cell of {finding.source}"


def test_reregistration_within_twelve_months_reads_the_last_step_before_twelve_months(tmp_path):
    folder = report(tmp_path, reregistration_cif=CIF)
    finding = reregistration_finding(folder, "nl")
    assert finding.text == (
        "Binnen 12 maanden na afsluiting werd 20,2% van de huishoudens opnieuw aangemeld "
        "(95%-BI 18,1% tot 22,5%; cumulatieve incidentie met verhuizing als concurrerend risico)."
    )
    assert finding.source == "tables/reregistration_cif.csv"


def test_a_curve_that_ends_before_twelve_months_cannot_be_reported(tmp_path):
    short = "\n".join(line for line in CIF.splitlines() if not line.startswith(("360", "420")))
    finding = reregistration_finding(report(tmp_path, reregistration_cif=short), "en")
    assert not finding.reported
    assert finding.text == (
        "The share of households registered again within 12 months of closure cannot be reported here: "
        "the released curve ends after 6 months, because later steps would rest on too few households (disclosure control)."
    )


def test_a_suppressed_cell_cannot_be_reported(tmp_path):
    suppressed = CIF.replace("360,0.2021,0.1812,0.2250,300,40,false", "360,[suppressed],[suppressed],[suppressed],[suppressed],[suppressed],true")
    finding = reregistration_finding(report(tmp_path, reregistration_cif=suppressed), "nl")
    assert not finding.reported
    assert finding.text.endswith("kan hier niet worden gerapporteerd: de cel is onderdrukt (onthullingscontrole).")


def test_kaplan_meier_is_used_without_a_competing_risks_table(tmp_path):
    km = "time,survival,ci_lower,ci_upper,n_risk,n_event,suppressed\n0,1,1,1,441,0,false\n300,0.8,0.75,0.85,100,20,false\n400,0.7,0.6,0.8,30,10,false\n"
    finding = reregistration_finding(report(tmp_path, reregistration_km=km), "en")
    assert finding.source == "tables/reregistration_km.csv"
    assert "20.0% of households" in finding.text and "95% CI 15.0% to 25.0%" in finding.text


def test_a_missing_table_cannot_be_reported(tmp_path):
    (tmp_path / "tables").mkdir()
    findings = key_findings(tmp_path, "nl")
    assert [f.reported for f in findings] == [False, False, False, False, False]
    assert all(f.text.endswith("dit rapport bevat de tabel niet.") for f in findings[:4])
    assert findings[4].key == "effects" and findings[4].text == (
        "Het effect van de nieuwe werkwijze ten opzichte van reguliere zorg kan hier niet worden gerapporteerd: "
        "het is hier niet te schatten: het rapport heeft geen of te weinig vergelijkingshuishoudens "
        "(zie het hoofdstuk over effecten)."
    )


def test_the_effect_against_regular_care_reads_the_twelve_month_row_and_says_which_way_it_went(tmp_path):
    folder = report(tmp_path, effects_reregistration_risks=EFFECTS_REREGISTRATION, effects_safety=EFFECTS_SAFETY)
    rereg, safety = effects_findings(folder, "nl")
    assert rereg.source == "tables/effects_reregistration_risks.csv" and rereg.reported
    assert rereg.text == (
        "Ten opzichte van reguliere zorg werden in de proeftuinen minder huishoudens binnen 12 maanden na "
        "afsluiting opnieuw aangemeld: 16,7% tegenover 22,2% in de vergelijkingsregio's "
        "(gewogen; verschil -5,4 procentpunt, 95%-BI -8,5 tot -2,3)."
    )
    assert safety.source == "tables/effects_safety.csv" and safety.text.startswith(
        "De veiligheidsscore van de professional steeg van T0 tot T2 in de proeftuinen 0,51 punt meer")
    assert effects_findings(folder, "en")[1].text == (
        "The professional's safety score rose 0.51 points more from T0 to T2 at the pilot sites than in regular "
        "care (weighted means 2.02 against 1.51; 95% CI of the difference 0.38 to 0.65)."
    )
    # an interval that holds zero is no direction
    unclear = EFFECTS_SAFETY.replace("0.3750369228", "-0.05")
    assert "did not differ clearly" in effects_findings(report(tmp_path, effects_safety=unclear), "en")[1].text
    # the 12-month row suppressed: the sentence says so, and the safety sentence still stands
    hidden = EFFECTS_REREGISTRATION.replace("12,0.1673609091", "12,[suppressed]")
    rereg, safety = effects_findings(report(tmp_path, effects_reregistration_risks=hidden), "en")
    assert not rereg.reported and rereg.text.endswith("the cell is suppressed (disclosure control).")
    assert safety.reported


def test_an_analysis_the_section_could_not_estimate_says_so(tmp_path):
    folder = report(tmp_path, effects_safety=EFFECTS_SAFETY)
    rereg, safety = effects_findings(folder, "en")
    assert not rereg.reported and "too few households or events" in rereg.text
    assert safety.reported


def test_safety_skips_suppressed_waves_and_says_which_way_it_went(tmp_path):
    finding = safety_finding(report(tmp_path, safety_change_from_baseline=SAFETY), "en")
    assert finding.text == (
        "Compared with T0, the mean safety score rose by 0.64 points at T1 (95% CI 0.54 to 0.74; 706 pairs) "
        "and 1.39 points at T2 (95% CI 1.22 to 1.56; 269 pairs)."
    )
    falling = SAFETY.replace("0.6402266289,1.36,0.5396327266,0.7408205312", "-0.2,1.36,-0.3,-0.1").replace(
        "1.3866171,1.41,1.217836371,1.55539783", "-0.5,1.41,-0.7,-0.3")
    finding = safety_finding(report(tmp_path, safety_change_from_baseline=falling), "nl")
    assert "daalde de gemiddelde veiligheidsscore met 0,20 punt bij T1 (95%-BI 0,10 tot 0,30" in finding.text


def test_legal_measures_compare_with_a_year_earlier(tmp_path):
    finding = legal_measures_finding(report(tmp_path, monitor=MONITOR), "nl")
    assert finding.text == (
        "Tot en met 31 december 2024 werden 199 gedwongen juridische maatregelen opgelegd, 12,0% van de "
        "1.653 betrokken huishoudens (maatregelen per huishouden; een huishouden kan er meer dan één hebben). "
        "Een jaar eerder, op 31 december 2023, was dat 8,6%: het aandeel is gestegen."
    )


@pytest.mark.parametrize("language", ["nl", "en"])
def test_legal_measures_suppressed_on_the_reference_date(tmp_path, language):
    hidden = MONITOR.replace("all,199,1653,0.1203871748", "all,[suppressed],[suppressed],[suppressed]")
    finding = legal_measures_finding(report(tmp_path, monitor=hidden), language)
    assert not finding.reported


def test_time_to_safety_reads_the_latest_horizon_shown(tmp_path):
    finding = time_to_safety_finding(report(tmp_path, safety_share_safe=SHARE_SAFE), "nl")
    assert finding.reported and finding.source == "tables/safety_share_safe.csv"
    assert finding.text == (
        "Na 12 maanden was naar schatting 36,5% van de huishoudens direct veilig (95%-BI 31,6% tot "
        "41,0%; Turnbull-schatter voor intervalgecensureerde tijden). Het aandeel stabiel veilig na "
        "12 maanden rust op te weinig huishoudens om te tonen; na 6 maanden was het 12,7% (95%-BI "
        "8,8% tot 16,3%)."
    )


def test_time_to_safety_with_every_row_suppressed_cannot_be_reported(tmp_path):
    rows = [line for line in SHARE_SAFE.splitlines() if not line.endswith("false")]
    finding = time_to_safety_finding(report(tmp_path, safety_share_safe="\n".join(rows) + "\n"), "en")
    assert not finding.reported
    assert finding.text.endswith("cannot be reported here: the cell is suppressed (disclosure control).")
