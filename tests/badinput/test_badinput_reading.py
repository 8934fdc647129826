"""Bad deliveries at the file level: quotes, links, special files, sizes, dates, options.

Each case: ``cohort validate`` exits with the documented code and one error line naming
file, row/line, column and rule; every row and line is accepted or quarantined and
counted; nothing foreign or identifying reaches stdout, stderr or the quarantine.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from badinput_helpers import (
    assert_accounted,
    assert_not_leaked,
    assert_one_line_error,
    physical_data_lines,
)

from cohort.exceptions import DeliveryError, ParameterError, ValidationError

HEADER = "referral_id,household_id,referral_date,source\n"
FOREIGN = "root:x:0:0:FOREIGN-CONTENT-7f3a:/root:/bin/bash\n"


def _referrals(folder: Path, body: str) -> Path:
    path = folder / "referrals.csv"
    path.write_text(HEADER + body, encoding="utf-8", newline="")
    return path


def _validate(cli, folder: Path, tmp_path: Path, *options):
    q = tmp_path / "quarantine"
    return cli("validate", folder, "--quarantine", q, *options, watch=[q]), q


# --------------------------------------------------------------------------------------
# quotes and lines


def test_quote_left_open_in_the_last_column_swallows_lines_and_is_caught(cli, delivery, tmp_path):
    folder = delivery()
    _referrals(
        folder,
        "SYN-R001,SYN-H001,2023-01-20,police\n"
        'SYN-R002,SYN-H001,2024-02-25,"school\n'  # line 3: the quote is never closed
        "SYN-R003,SYN-H002,2024-06-01,\n"
        "SYN-R004,SYN-H004,2022-11-15,gp\n"
        "SYN-R005,SYN-H001,2023-05-05,gp\n",
    )
    result, q = _validate(cli, folder, tmp_path)
    assert "no violations" not in result.out
    assert "referrals.csv row 3, column source" in result.out
    assert "(rule: multiline_value)" in result.out and "(rule: unclosed_quote)" in result.out
    assert "it covers 4 lines (3 to 6)" in result.out
    assert_one_line_error(result, ValidationError.exit_code, "validation errors")
    acc = assert_accounted(folder).loc["referrals"]
    assert (acc["rows_read"], acc["rows_rejected"]) == (2, 1)
    assert (acc["lines_read"], acc["lines_accepted"], acc["lines_rejected"]) == (5, 1, 4)


def test_quote_left_open_in_a_middle_column_rejects_every_line_it_swallowed(cli, delivery, tmp_path):
    folder = delivery()
    _referrals(
        folder,
        'SYN-R001,"SYN-H001,2023-01-20,police\n'  # line 2: swallows the rest of the file
        "SYN-R002,SYN-H001,2024-02-25,school\n"
        "SYN-R003,SYN-H002,2024-06-01,\n"
        "SYN-R004,SYN-H004,2022-11-15,gp\n"
        "SYN-R005,SYN-H001,2023-05-05,gp\n",
    )
    result, q = _validate(cli, folder, tmp_path)
    assert "referrals.csv row 2: the row has 2 fields where the header has 4" in result.out
    assert "it covers 5 lines (2 to 6)" in result.out and "(rule: field_count)" in result.out
    assert result.code == ValidationError.exit_code
    acc = assert_accounted(folder).loc["referrals"]
    assert (acc["rows_read"], acc["lines_read"], acc["lines_rejected"]) == (1, 5, 5)


def test_a_quote_closed_later_still_cannot_hide_lines_in_a_coded_column(cli, delivery, tmp_path):
    folder = delivery()
    _referrals(
        folder,
        'SYN-R001,SYN-H001,2023-01-20,"police\n'  # line 2: closed only on line 4
        "SYN-R002,SYN-H001,2024-02-25,school\n"
        'SYN-R003,SYN-H002,2024-06-01,gp"\n'
        "SYN-R004,SYN-H004,2022-11-15,gp\n",
    )
    result, q = _validate(cli, folder, tmp_path)
    assert "referrals.csv row 2, column source: source holds a line break; it covers 3 lines" in (
        result.out
    )
    assert "referrals.csv row 5" not in result.out  # line 5 is a row of its own, accepted
    acc = assert_accounted(folder).loc["referrals"]
    assert (acc["rows_read"], acc["lines_read"], acc["lines_rejected"]) == (2, 4, 3)


def test_free_text_may_span_lines_but_not_swallow_rows(cli, delivery, tmp_path):
    folder = delivery()
    (folder / "columns.yaml").write_text("referrals:\n  notes: text\n", encoding="utf-8")
    path = folder / "referrals.csv"
    path.write_text(
        "referral_id,household_id,referral_date,source,notes\n"
        'SYN-R001,SYN-H001,2023-01-20,police,"first line\nsecond line"\n'  # lines 2-3: fine
        'SYN-R002,SYN-H001,2024-02-25,school,"open\n'  # line 4: swallows two rows
        "SYN-R003,SYN-H002,2024-06-01,,x\n"
        'SYN-R004,SYN-H004,2022-11-15,gp,y"\n'
        "SYN-R005,SYN-H001,2023-05-05,gp,\n",  # line 7: fine
        encoding="utf-8",
    )
    result, q = _validate(cli, folder, tmp_path)
    assert "referrals.csv row 4, column notes: notes holds lines that look like rows" in result.out
    assert "(rule: unbalanced_quote)" in result.out
    acc = assert_accounted(folder).loc["referrals"]
    assert (acc["rows_read"], acc["rows_rejected"], acc["lines_read"]) == (3, 1, 6)
    assert (acc["lines_accepted"], acc["lines_rejected"]) == (3, 3)


def test_a_quote_never_closed_in_free_text_is_caught(cli, delivery, tmp_path):
    folder = delivery()
    (folder / "columns.yaml").write_text("referrals:\n  notes: text\n", encoding="utf-8")
    (folder / "referrals.csv").write_text(
        "referral_id,household_id,referral_date,source,notes\n"
        "SYN-R001,SYN-H001,2023-01-20,police,\n"
        'SYN-R002,SYN-H001,2024-02-25,school,"never closed\n'
        "more text\n",
        encoding="utf-8",
    )
    result, q = _validate(cli, folder, tmp_path)
    assert "referrals.csv row 3: a quote opened in this row is never closed" in result.out
    assert_accounted(folder)


def test_header_with_an_unbalanced_quote(cli, delivery, tmp_path):
    folder = delivery()
    (folder / "referrals.csv").write_text('referral_id,"household_id,referral_date\n')
    result, q = _validate(cli, folder, tmp_path)
    assert_one_line_error(
        result, DeliveryError.exit_code, "referrals.csv line 1", "(rule: unbalanced_quote)"
    )
    assert not q.exists()


# --------------------------------------------------------------------------------------
# links, special files, permissions, sizes


@pytest.fixture
def foreign_file(tmp_path) -> Path:
    """A file outside the delivery, like /etc/passwd, with a marker that must never show."""
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_text(FOREIGN * 50, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["referrals.csv", "sites.parquet", "delivery.xlsx", "columns.yaml"])
def test_a_linked_file_is_refused_without_reading_it(cli, delivery, tmp_path, foreign_file, name):
    folder = delivery()
    if name == "sites.parquet":
        (folder / "sites.csv").unlink()
    if name != "columns.yaml" and (folder / name).exists():
        (folder / name).unlink()
    if name == "referrals.csv":
        (folder / name).unlink(missing_ok=True)
    os.symlink(foreign_file, folder / name)
    result, q = _validate(cli, folder, tmp_path)
    assert_one_line_error(result, DeliveryError.exit_code, name, "(rule: symlink)")
    assert_not_leaked(result, "FOREIGN-CONTENT-7f3a", "root:x:0:0")
    assert not q.exists()


def test_a_linked_delivery_folder_is_refused(cli, delivery, tmp_path):
    folder = delivery()
    link = tmp_path / "current"
    os.symlink(folder, link)
    result, q = _validate(cli, link, tmp_path)
    assert_one_line_error(result, DeliveryError.exit_code, "is a symbolic link", "(rule: symlink)")


def test_a_link_swapped_in_after_listing_is_refused(delivery, foreign_file, monkeypatch):
    """The file is opened without following links, whatever the listing saw."""
    from cohort.delivery import read

    folder = delivery()
    real = read.delivery_layout

    def swap_after_listing(path, **kwargs):
        layout = real(path, **kwargs)
        (folder / "referrals.csv").unlink()
        os.symlink(foreign_file, folder / "referrals.csv")
        return layout

    monkeypatch.setattr(read, "delivery_layout", swap_after_listing)
    with pytest.raises(DeliveryError, match=r"referrals.csv is a symbolic link \(rule: symlink\)"):
        read.read_raw_delivery(folder)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_named_like_a_table_is_refused_without_blocking(cli, delivery, tmp_path):
    folder = delivery()
    (folder / "referrals.csv").unlink()
    os.mkfifo(folder / "referrals.csv")
    result, q = _validate(cli, folder, tmp_path)
    assert_one_line_error(result, DeliveryError.exit_code, "referrals.csv", "(rule: not_a_file)")


def test_a_folder_named_like_a_table_is_refused(cli, delivery, tmp_path):
    folder = delivery()
    (folder / "referrals.csv").unlink()
    (folder / "referrals.csv").mkdir()
    result, q = _validate(cli, folder, tmp_path)
    assert_one_line_error(
        result, DeliveryError.exit_code, "referrals.csv is a folder", "(rule: not_a_file)"
    )


def test_an_unreadable_file_is_a_clear_error(cli, delivery, tmp_path, monkeypatch):
    folder = delivery()
    target = folder / "referrals.csv"
    if os.geteuid() != 0:
        target.chmod(0)
    else:  # root reads anything: make the open fail as it would for a user
        from cohort.delivery import read

        real_open = os.open

        def denied(path, *args, **kwargs):
            if Path(path).name == "referrals.csv":
                raise PermissionError(13, "Permission denied")
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(read.os, "open", denied)
    result, q = _validate(cli, folder, tmp_path)
    target.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert_one_line_error(
        result, DeliveryError.exit_code, "referrals.csv cannot be read: permission denied",
        "(rule: unreadable)",
    )


def test_a_huge_sparse_file_is_refused_from_its_size(cli, delivery, tmp_path):
    folder = delivery()
    with open(folder / "referrals.csv", "wb") as handle:
        handle.truncate(2 * 1024**3)  # 2 GB of nothing: costs no disk
    result, q = _validate(cli, folder, tmp_path)
    assert_one_line_error(
        result, DeliveryError.exit_code, "referrals.csv is 2,048 MB", "(rule: file_size)",
        "--max-file-mb",
    )


def test_the_size_limit_is_configurable(cli, delivery, tmp_path, monkeypatch):
    folder = delivery()
    result, q = _validate(cli, folder, tmp_path, "--max-file-mb", "0.0001")
    assert_one_line_error(result, DeliveryError.exit_code, "(rule: file_size)")
    monkeypatch.setenv("COHORT_MAX_FILE_MB", "0.0001")
    result, q = _validate(cli, folder, tmp_path)
    assert_one_line_error(result, DeliveryError.exit_code, "(rule: file_size)")
    result, q = _validate(cli, folder, tmp_path, "--max-file-mb", "5")
    assert result.code == 0
    result, q = _validate(cli, folder, tmp_path, "--max-file-mb", "-1")
    assert_one_line_error(result, ParameterError.exit_code, "--max-file-mb")


@pytest.mark.parametrize(
    ("content", "rule"),
    [(b"", "empty_file"), (b"\n\n  \n", "empty_file"), (b"\xff\xfe" + "x".encode("utf-16-le"), "encoding")],
)
def test_empty_and_unreadable_text(cli, delivery, tmp_path, content, rule):
    folder = delivery()
    (folder / "referrals.csv").write_bytes(content)
    result, q = _validate(cli, folder, tmp_path)
    assert_one_line_error(result, DeliveryError.exit_code, "referrals.csv", f"(rule: {rule})")


# --------------------------------------------------------------------------------------
# dates and options


def test_dates_far_in_the_future_are_rejected_even_inside_the_delivery_period(
    cli, delivery, tmp_path
):
    folder = delivery()
    with open(folder / "sites.csv", "a", encoding="utf-8") as fh:
        fh.write("FAR,Far Away,2023-01-01,2199-12-31\n")  # line 4
    with open(folder / "households.csv", "a", encoding="utf-8") as fh:
        fh.write("SYN-H099,FAR,true,1,1,,\n")  # line 8
    with open(folder / "episodes.csv", "a", encoding="utf-8") as fh:
        fh.write("SYN-E099,SYN-H099,FAR,2150-01-01,,,,,\n")  # line 9
        fh.write("SYN-E098,SYN-H001,AMS,2023-06-01,2150-06-01,other,,,\n")  # line 10
    result, q = _validate(cli, folder, tmp_path)
    assert (
        "sites.csv row 4, column delivery_end: delivery_end 2199-12-31 is after 2035-12-31 "
        "(rule: implausible_date)" in result.out
    )
    assert "households.csv row 8, column site" in result.out  # its site was rejected
    assert "episodes.csv row 10, column closure_date: closure_date 2150-06-01 is after" in result.out
    assert result.code == ValidationError.exit_code
    acc = assert_accounted(folder)
    assert acc.loc["sites", "rows_rejected"] == 1 and acc.loc["episodes", "rows_rejected"] == 2


@pytest.mark.parametrize("value", ["-40", "-1", "366", "100000"])
def test_tolerance_days_out_of_range_is_refused_before_reading(cli, delivery, tmp_path, value):
    folder = delivery()
    result, q = _validate(cli, folder, tmp_path, "--tolerance-days", value)
    assert_one_line_error(
        result, ParameterError.exit_code, "--tolerance-days must be a whole number of days from 0 "
        f"to 365, got {value}",
    )
    assert not q.exists()


def test_tolerance_days_in_range_is_used(cli, delivery, tmp_path):
    folder = delivery()
    result, q = _validate(cli, folder, tmp_path, "--tolerance-days", "0")
    assert result.code == ValidationError.exit_code  # the fixture has rows just outside
    assert "(rule: outside_episode)" in result.out
    result, q = _validate(cli, folder, tmp_path, "--tolerance-days", "365")
    assert result.code == 0, result.err


def test_no_traceback_and_one_line_from_a_fresh_process(delivery, tmp_path, foreign_file):
    folder = delivery()
    (folder / "referrals.csv").unlink()
    os.symlink(foreign_file, folder / "referrals.csv")
    result = subprocess.run(
        [sys.executable, "-m", "cohort", "validate", str(folder), "--quarantine", str(tmp_path / "q")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == DeliveryError.exit_code
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "cohort validate: error: referrals.csv is a symbolic link (rule: symlink); links are not "
        "followed, so that nothing outside the delivery folder is read: copy the file itself "
        "into the folder"
    ]
    assert "FOREIGN-CONTENT" not in result.stdout + result.stderr


def test_every_line_is_counted_in_a_file_with_mixed_line_ends(delivery):
    folder = delivery()
    path = folder / "episodes.csv"
    rows = path.read_text(encoding="utf-8").splitlines()
    path.write_bytes(("\r\n".join(rows[:4]) + "\r" + "\n".join(rows[4:]) + "\n\n").encode())
    acc = assert_accounted(folder)
    assert acc.loc["episodes", "lines_read"] == physical_data_lines(path) == len(rows)
    assert acc.loc["episodes", "rows_rejected"] == 1  # the empty last line (empty_row)
