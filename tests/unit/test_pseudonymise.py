"""Keyed pseudonyms: stable per key, unlinkable across keys, the key never shown."""

from __future__ import annotations

import hashlib
import hmac
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cohort.cli import main
from cohort.delivery.load import load
from cohort.delivery.pseudonymise import KEY_ENV, pseudonymise, pseudonymise_delivery, read_key
from cohort.exceptions import KeyMissingError, ParameterError

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"
KEY = b"0123456789abcdef0123456789abcdef"
OTHER = b"fedcba9876543210fedcba9876543210"


def test_pseudonym_is_the_truncated_hmac_sha256():
    out = pseudonymise(pd.DataFrame({"c": ["123"]}), ["c"], KEY)
    assert out["c"].iloc[0] == hmac.new(KEY, b"123", hashlib.sha256).hexdigest()[:20]


def test_same_key_same_pseudonym_other_key_unlinkable():
    frame = pd.DataFrame({"c": ["a", "b", "a", None, " b "], "keep": [1, 2, 3, 4, 5]})
    one = pseudonymise(frame, ["c"], KEY)
    again = pseudonymise(frame.iloc[::-1], ["c"], KEY).iloc[::-1]
    other = pseudonymise(frame, ["c"], OTHER)
    pd.testing.assert_frame_equal(one, again)
    assert one["c"].iloc[0] == one["c"].iloc[2] != one["c"].iloc[1]
    assert one["c"].iloc[1] == one["c"].iloc[4]  # trimmed before hashing
    assert pd.isna(one["c"].iloc[3])
    assert set(one["c"].dropna()).isdisjoint(set(other["c"].dropna()))
    assert one["keep"].tolist() == [1, 2, 3, 4, 5]
    assert frame["c"].iloc[0] == "a"  # the input is not changed


def test_missing_or_short_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(KeyMissingError):
        read_key()
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ParameterError) as info:
        read_key()
    assert "short" not in str(info.value).replace("shorter", "")
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY + b"\n")
    assert read_key(key_file) == KEY


def _with_client_numbers(tmp_path: Path) -> Path:
    """A delivery whose ids are still the case system's client numbers."""
    folder = tmp_path / "site"
    shutil.copytree(VALID, folder)
    for path in folder.glob("*.csv"):
        text = path.read_text(encoding="utf-8").replace("SYN-H", "CL-77")
        path.write_text(text, encoding="utf-8")
    return folder


def test_delivery_is_pseudonymised_consistently_across_tables(tmp_path):
    source = _with_client_numbers(tmp_path)
    done = pseudonymise_delivery(source, tmp_path / "out", ["household_id"], KEY)
    assert done["households"] == ["household_id"] and done["sites"] == []
    delivery = load(tmp_path / "out", cache_dir=False)  # still a valid delivery
    ids = set(delivery.households["household_id"])
    assert len(ids) == 6 and not any(i.startswith("CL-") for i in ids)
    assert set(delivery.episodes["household_id"]) <= ids
    expected = hmac.new(KEY, b"CL-77001", hashlib.sha256).hexdigest()[:20]
    assert expected in ids


def test_command_refuses_without_key_and_never_shows_it(tmp_path, monkeypatch, capsys):
    source = _with_client_numbers(tmp_path)
    monkeypatch.delenv(KEY_ENV, raising=False)
    code = main(["pseudonymise", str(source), str(tmp_path / "out")])
    assert code == KeyMissingError.exit_code
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    code = main(["pseudonymise", str(source), str(tmp_path / "out"), "-c", "household_id"])
    out = capsys.readouterr()
    assert code == 0
    assert KEY.decode() not in out.out + out.err
    for path in (tmp_path / "out").iterdir():
        assert KEY.decode() not in path.read_text(encoding="utf-8")
        assert "CL-77" not in path.read_text(encoding="utf-8")


def test_command_default_columns_are_the_id_columns(tmp_path, monkeypatch):
    source = _with_client_numbers(tmp_path)
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert (
        main(["pseudonymise", str(source), str(tmp_path / "out"), "--key-file", str(key_file)]) == 0
    )
    episodes = pd.read_csv(tmp_path / "out" / "episodes.csv", dtype=str)
    assert not episodes["episode_id"].str.startswith("SYN-").any()
    assert episodes["site"].tolist()[0] == "AMS"


def test_unknown_column_and_same_output_folder_are_refused(tmp_path):
    source = _with_client_numbers(tmp_path)
    with pytest.raises(ParameterError, match="column client_nr occurs in no table"):
        pseudonymise_delivery(source, tmp_path / "out", ["client_nr"], KEY)
    with pytest.raises(ParameterError, match="must differ"):
        pseudonymise_delivery(source, source, ["household_id"], KEY)


def test_collision_chance_is_the_birthday_bound_and_safe_length_its_inverse():
    from cohort.delivery.pseudonymise import MAX_COLLISION_CHANCE, collision_chance, safe_length

    assert collision_chance(1, 8) == 0.0
    assert collision_chance(2, 8) == pytest.approx(1 / 16**8, rel=1e-6)
    assert collision_chance(200_000, 8) > 0.99
    for n in (10, 1_000, 200_000, 10_000_000):
        length = safe_length(n)
        assert collision_chance(n, length) <= MAX_COLLISION_CHANCE
        assert length == 8 or collision_chance(n, length - 1) > MAX_COLLISION_CHANCE


def test_a_length_too_short_for_the_values_is_refused():
    frame = pd.DataFrame({"c": [f"id{i}" for i in range(5_000)]})
    with pytest.raises(ParameterError, match=r"--length 8 is too short for the 5,000 distinct values "
                       r"of c.*use --length 11 or more"):
        pseudonymise(frame, ["c"], KEY, length=8)
    assert pseudonymise(frame, ["c"], KEY, length=11)["c"].nunique() == 5_000


def test_pseudonyms_that_look_like_identifiers_are_refused():
    from cohort.delivery.pseudonymise import _check_not_identifier_like

    with pytest.raises(ParameterError, match=r"1 pseudonym\(s\) of c would look like BSNs.*--prefix"):
        _check_not_identifier_like(pd.Series(["123456782", "abcdef123"]), "c")
    _check_not_identifier_like(pd.Series(["H-123456782", "abcdef123"]), "c")


def test_a_household_gets_one_pseudonym_in_every_table(tmp_path):
    source = _with_client_numbers(tmp_path)
    pseudonymise_delivery(source, tmp_path / "out", None, KEY)
    households = pd.read_csv(tmp_path / "out" / "households.csv", dtype=str)["household_id"]
    episodes = pd.read_csv(tmp_path / "out" / "episodes.csv", dtype=str)["household_id"]
    assert set(episodes) <= set(households)
    assert (tmp_path / "out" / "columns.yaml").exists() is (source / "columns.yaml").exists()


def test_the_name_of_a_missing_key_file_is_not_shown(tmp_path):
    from cohort.exceptions import InputNotFoundError

    with pytest.raises(InputNotFoundError) as info:
        read_key(tmp_path / "s3cr3t-typed-as-a-path")
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ParameterError, match="not a small ordinary file"):
        read_key(tmp_path)  # a folder
