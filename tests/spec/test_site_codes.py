"""Spec: site codes and site names are validated at load (docs/data-model.md).

Site codes and names are shown in every released table, so a code is 1 to 10 letters or
digits (not ``all``, the label of the total) and a name is plain text: nothing a
spreadsheet would run as a formula, no control characters, at most 100 characters. A bad
code rejects the site and, by the cascade, every row that refers to it; its value is
never shown.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cohort.delivery.validate import validate_delivery

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"

# (site code, name) -> (rule or None)
CASES = [
    (("ROT", "Rotterdam"), None),
    (("R2", "Regio 2"), None),
    (("ABCDEFGHIJ", "Ten letters"), None),
    (("ABCDEFGHIJK", "Eleven letters"), "invalid_site_code"),
    (("all", "The total"), "invalid_site_code"),
    (("ALL", "The total"), "invalid_site_code"),
    (("R-T", "Dash"), "invalid_site_code"),
    (('=HYPERLINK("http://x")', "Link"), "invalid_site_code"),
    (("ROT", '=HYPERLINK("http://x")'), "invalid_label"),
    (("ROT", "+31 10 123"), "invalid_label"),
    (("ROT", "@SUM(A1)"), "invalid_label"),
    (("ROT", "-Rotterdam"), "invalid_label"),
    (("ROT", "Fryslân"), None),
    (("ROT", "Hart van Brabant-Noord"), None),
    (("ROT", "x" * 101), "invalid_label"),
    (("ROT", "x" * 100), None),
]


def delivery_with_site(tmp_path, code, name):
    folder = tmp_path / "delivery"
    shutil.copytree(VALID, folder)
    quoted = '"' + name.replace('"', '""') + '"'
    code_text = '"' + code.replace('"', '""') + '"'
    with open(folder / "sites.csv", "a", encoding="utf-8") as handle:
        handle.write(f"{code_text},{quoted},2023-01-01,2024-12-31\n")
    with open(folder / "households.csv", "a", encoding="utf-8") as handle:
        handle.write(f"SYN-H900,{code_text},true,1,1,,1\n")
    return folder


@pytest.mark.parametrize(("site", "rule"), CASES, ids=[f"{c[:12]}|{n[:12]}" for (c, n), _ in CASES])
def test_site_codes_and_names(tmp_path, site, rule):
    code, name = site
    report = validate_delivery(delivery_with_site(tmp_path, code, name))
    v = report.violations
    site_rows = v[(v["table"] == "sites")]
    if rule is None:
        assert site_rows.empty
        return
    assert site_rows["rule"].tolist() == [rule]
    assert site_rows["row"].tolist() == [4]  # header, AMS, UTR, then the planted site
    # the household of the rejected site goes with it; nothing foreign is echoed
    households = v[(v["table"] == "households") & (v["row"] == 8)]
    if rule == "invalid_site_code":
        assert households["rule"].tolist() == ["rejected_reference"]
    text = " ".join(v["message"].astype(str)) + " ".join(v["value"].dropna().astype(str))
    assert "HYPERLINK" not in text and "@SUM" not in text


def test_an_unknown_site_that_is_not_a_code_is_not_echoed(tmp_path):
    folder = tmp_path / "delivery"
    shutil.copytree(VALID, folder)
    with open(folder / "households.csv", "a", encoding="utf-8") as handle:
        handle.write('SYN-H901,"=cmd|\' /C calc\'!A0",true,1,1,,1\n')
        handle.write("SYN-H902,XYZ,true,1,1,,1\n")
    v = validate_delivery(folder).violations
    unknown = v[v["rule"] == "unknown_reference"]
    assert unknown["row"].tolist() == [8, 9]
    assert "cmd" not in " ".join(unknown["message"].astype(str))
    assert unknown["value"].tolist()[1] == "XYZ"  # a real code is shown, to help the site
