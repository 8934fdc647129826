"""``cohort pseudonymise`` misused: secrets on the command line, short lengths, odd formats."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from badinput_helpers import assert_accounted, assert_not_leaked, assert_one_line_error

from cohort.delivery.pseudonymise import KEY_ENV
from cohort.exceptions import DeliveryError, InputNotFoundError, ParameterError

SECRET = "0123456789abcdef-TOP-SECRET-KEY-4242"


@pytest.fixture
def site(delivery):
    """A delivery whose ids are still the case system's client numbers."""
    folder = delivery("site")
    for path in folder.glob("*.csv"):
        path.write_text(path.read_text(encoding="utf-8").replace("SYN-H", "CL-77"), encoding="utf-8")
    return folder


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "site.key"
    path.write_text(SECRET + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--key", SECRET],
        [f"--key={SECRET}"],
        ["--secret", SECRET],
        ["--key-f", SECRET],  # an abbreviation of --key-file is not accepted either
        ["--len", "12", "--key", SECRET],
    ],
    ids=["key", "key=", "secret", "abbreviated", "two"],
)
def test_a_secret_on_the_command_line_is_refused_and_never_repeated(cli, site, tmp_path, args):
    out = tmp_path / "out"
    result = cli("pseudonymise", site, out, *args)
    assert_one_line_error(result, 2, "unrecognized arguments", "not shown")
    assert_not_leaked(result, SECRET, "TOP-SECRET")
    assert not out.exists()


def test_the_refusal_points_to_the_key_file_and_the_environment(cli, site, tmp_path):
    result = cli("pseudonymise", site, tmp_path / "out", "--key", SECRET)
    assert "use --key-file PATH or the environment variable COHORT_PSEUDONYM_KEY" in result.err


def test_a_secret_typed_as_the_key_file_is_not_shown(cli, site, tmp_path):
    result = cli("pseudonymise", site, tmp_path / "out", "--key-file", SECRET)
    assert_one_line_error(result, InputNotFoundError.exit_code, "the key file given with --key-file")
    assert_not_leaked(result, SECRET)


def test_a_secret_before_the_folders_is_refused_before_anything_runs(cli, site, tmp_path):
    result = cli("pseudonymise", "--key", SECRET, site, tmp_path / "out")
    assert result.code == 2
    assert_not_leaked(result, SECRET)
    assert not (tmp_path / "out").exists()


def test_from_a_fresh_process_the_secret_is_not_repeated(site, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cohort", "pseudonymise", str(site), str(tmp_path / "o"),
         "--key", SECRET],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_the_key_from_a_file_or_the_environment_is_never_written(cli, site, tmp_path, key_file,
                                                                  monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    out = tmp_path / "out"
    result = cli("pseudonymise", site, out, "--key-file", key_file, watch=[out])
    assert result.code == 0, result.err
    assert_not_leaked(result, SECRET, "CL-77")
    monkeypatch.setenv(KEY_ENV, SECRET)
    out2 = tmp_path / "out2"
    result = cli("pseudonymise", site, out2, watch=[out2])
    assert result.code == 0, result.err
    assert_not_leaked(result, SECRET, "CL-77")
    # the same key gives the same pseudonyms by either route
    assert (out / "households.csv").read_bytes() == (out2 / "households.csv").read_bytes()


def test_a_semicolon_decimal_comma_delivery_keeps_its_format_and_validates(cli, site, tmp_path,
                                                                          key_file):
    for path in site.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "score" in frame.columns:
            frame["score"] = frame["score"].str.replace(".", ",", regex=False)
        path.write_text(frame.to_csv(index=False, sep=";"), encoding="utf-8")
    out = tmp_path / "out"
    result = cli("pseudonymise", site, out, "--key-file", key_file)
    assert result.code == 0, result.err
    text = (out / "safety_assessments.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0].count(";") == 6 and ";3,5;" in text
    result = cli("validate", out, "--quarantine", tmp_path / "q")
    assert result.code == 0, result.out + result.err
    assert "no violations" in result.out
    acc = assert_accounted(out)
    assert (acc["rows_rejected"] == 0).all()


def test_a_length_too_short_for_the_delivery_is_refused_with_the_safe_length(cli, tmp_path,
                                                                            key_file):
    folder = tmp_path / "big"
    folder.mkdir()
    n = 200_000
    ids = pd.Series([f"CL-{i:07d}" for i in range(n)])
    pd.DataFrame({"site": ["AMS"], "name": ["Amsterdam"], "delivery_start": ["2023-01-01"],
                  "delivery_end": ["2024-12-31"]}).to_csv(folder / "sites.csv", index=False)
    pd.DataFrame({"household_id": ids, "site": "AMS", "has_children": "true"}).to_csv(
        folder / "households.csv", index=False
    )
    for name, header in [
        ("episodes", "episode_id,household_id,site,registration_date"),
        ("legal_measures", "measure_id,household_id,episode_id,measure_type,start_date"),
        ("safety_assessments",
         "assessment_id,household_id,episode_id,assessment_date,respondent,score"),
        ("referrals", "referral_id,household_id,referral_date"),
    ]:
        (folder / f"{name}.csv").write_text(header + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = cli("pseudonymise", folder, out, "--key-file", key_file, "--length", "8",
                 "-c", "household_id")
    line = assert_one_line_error(
        result, ParameterError.exit_code, "--length 8 is too short for the 200,000 distinct values "
        "of household_id", "use --length 14 or more",
    )
    assert "CL-0" not in line
    assert not out.exists()
    # at the safe length every household keeps a pseudonym of its own
    result = cli("pseudonymise", folder, out, "--key-file", key_file, "--length", "14",
                 "-c", "household_id")
    assert result.code == 0, result.err
    written = pd.read_csv(out / "households.csv", dtype=str)["household_id"]
    assert written.nunique() == n


def test_an_actual_collision_is_refused_whatever_the_bound(monkeypatch):
    from cohort.delivery import pseudonymise as ps

    # two values whose 8-character HMACs agree would merge two households: find such a pair
    key = b"k" * 32
    seen = {}
    for i in range(200_000):
        h = hmac.new(key, f"v{i}".encode(), hashlib.sha256).hexdigest()[:8]
        if h in seen:
            pair = [seen[h], f"v{i}"]
            break
        seen[h] = f"v{i}"
    monkeypatch.setattr(ps, "MAX_COLLISION_CHANCE", 1.0)  # let the bound pass
    with pytest.raises(ParameterError, match="two distinct values of c get the same pseudonym"):
        ps.pseudonymise(pd.DataFrame({"c": pair}), ["c"], key, length=8)


def test_rows_with_a_wrong_field_count_stop_pseudonymisation(cli, site, tmp_path, key_file):
    with open(site / "referrals.csv", "a", encoding="utf-8") as fh:
        fh.write("SYN-R009,CL-77001,2023-05-05\n")
    out = tmp_path / "out"
    result = cli("pseudonymise", site, out, "--key-file", key_file)
    assert_one_line_error(result, DeliveryError.exit_code, "referrals.csv row 7",
                          "(rule: field_count)")
    assert not out.exists()
    assert_not_leaked(result, "CL-77001")


def test_a_linked_table_is_not_pseudonymised(cli, site, tmp_path, key_file):
    foreign = tmp_path / "passwd"
    foreign.write_text("root:x:0:0:FOREIGN-CONTENT:/root:/bin/sh\n", encoding="utf-8")
    (site / "referrals.csv").unlink()
    (site / "referrals.csv").symlink_to(foreign)
    out = tmp_path / "out"
    result = cli("pseudonymise", site, out, "--key-file", key_file, watch=[out])
    assert_one_line_error(result, DeliveryError.exit_code, "referrals.csv", "(rule: symlink)")
    assert_not_leaked(result, "FOREIGN-CONTENT")
    assert not out.exists()


def test_bad_lengths_are_refused(cli, site, tmp_path, key_file):
    for value in ("7", "65"):
        result = cli("pseudonymise", site, tmp_path / "o", "--key-file", key_file,
                     "--length", value)
        assert_one_line_error(result, ParameterError.exit_code, "between 8 and 64")
