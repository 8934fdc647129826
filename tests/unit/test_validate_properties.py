"""Corrupted deliveries: always a clear CohortError or an accounted rejection.

Hypothesis corrupts one file of the valid fixture delivery (bad dates, wrong encodings,
truncated rows, duplicated headers, empty files, extreme values, stray separators) and
checks that validation never fails with a traceback and never drops a row silently: every
record in the file is read, and rows read = rows accepted + rows rejected.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohort.delivery.load import load
from cohort.exceptions import CohortError

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"
FILES = sorted(p.name for p in VALID.glob("*.csv"))

EXTREME = [
    "9999-12-31",
    "0001-01-01",
    "1677-09-21",
    "2262-04-12",
    "2023-00-10",
    "2023-1-5",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-0",
    "99999999999999999999",
    "-5",
    "",
    " ",
    "\t",
    "NULL",
    "N/A",
    "0x10",
    "1_000",
    "١٢",
    "ß",
    "\u200b",
    '"',
    "'",
    ";",
    ",",
    "😀",
    "é",
]


def _records(text: str) -> int:
    """Data records in a CSV text as Python's csv module counts them (blank lines too)."""
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") > first.count(",") else ","
    return sum(1 for _ in csv.reader(io.StringIO(text, newline=""), delimiter=sep)) - 1


@st.composite
def corruption(draw):
    file = draw(st.sampled_from(FILES))
    text = (VALID / file).read_text(encoding="utf-8")
    lines = text.splitlines()
    kind = draw(
        st.sampled_from(
            [
                "cell",
                "truncate",
                "cut_bytes",
                "duplicate_header",
                "empty",
                "encoding",
                "drop_field",
                "extra_field",
                "blank_lines",
            ]
        )
    )
    if kind == "cell":
        rows = [line.split(",") for line in lines]
        r = draw(st.integers(1, len(rows) - 1))
        c = draw(st.integers(0, len(rows[0]) - 1))
        value = draw(st.one_of(st.sampled_from(EXTREME), st.text(max_size=12)))
        rows[r][c] = (
            '"' + value.replace('"', '""') + '"' if any(ch in value for ch in ',"\n\r') else value
        )
        data = ("\n".join(",".join(row) for row in rows) + "\n").encode("utf-8")
    elif kind == "truncate":
        keep = draw(st.integers(1, len(lines)))
        data = ("\n".join(lines[:keep]) + "\n").encode("utf-8")
    elif kind == "cut_bytes":
        raw = text.encode("utf-8")
        data = raw[: draw(st.integers(0, len(raw)))]
    elif kind == "duplicate_header":
        names = lines[0].split(",")
        i, j = draw(st.integers(0, len(names) - 1)), draw(st.integers(0, len(names) - 1))
        names[j] = names[i]
        data = ("\n".join([",".join(names), *lines[1:]]) + "\n").encode("utf-8")
    elif kind == "empty":
        data = draw(st.sampled_from([b"", b"\n", b"   \n\n"]))
    elif kind == "encoding":
        codec = draw(st.sampled_from(["latin-1", "utf-16", "cp1252"]))
        data = text.replace(lines[-1], lines[-1] + "é", 1).encode(codec)
    elif kind == "drop_field":
        r = draw(st.integers(1, len(lines) - 1))
        lines[r] = lines[r].rsplit(",", 1)[0]
        data = ("\n".join(lines) + "\n").encode("utf-8")
    elif kind == "extra_field":
        r = draw(st.integers(1, len(lines) - 1))
        lines[r] = lines[r] + ",extra"
        data = ("\n".join(lines) + "\n").encode("utf-8")
    else:
        r = draw(st.integers(1, len(lines)))
        lines.insert(r, draw(st.sampled_from(["", ",,,", " "])))
        data = ("\n".join(lines) + "\n").encode("utf-8")
    return file, data


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(corruption())
def test_corruption_gives_a_clear_error_or_an_accounted_rejection(tmp_path_factory, case):
    file, data = case
    folder = tmp_path_factory.mktemp("corrupt") / "delivery"
    shutil.copytree(VALID, folder)
    (folder / file).write_bytes(data)
    try:
        delivery = load(folder, on_error="proceed", cache_dir=False)
    except CohortError as error:
        message = str(error)
        assert message and "\n" not in message
        assert file in message or "delivery" in message
        return
    report = delivery.validation
    acc = report.accounting.set_index("table")
    assert (acc["rows_read"] == acc["rows_accepted"] + acc["rows_rejected"]).all()
    for table, row in acc.iterrows():
        assert len(delivery.tables[table]) == row["rows_accepted"]
        rejected = report.rejected.get(table)
        assert (0 if rejected is None else len(rejected)) == row["rows_rejected"]
    # nothing dropped silently: every record of the corrupted file was read
    table = file.removesuffix(".csv")
    text = data.decode("utf-8").removeprefix("\ufeff")
    assert acc.loc[table, "rows_read"] == _records(text)
    # every rejected row has an error that names its row
    errors = report.violations[report.violations["severity"] == "error"]
    for name, frame in report.rejected.items():
        rows_with_errors = set(errors.loc[errors["table"] == name, "row"].dropna().astype(int))
        whole_table = errors.loc[(errors["table"] == name) & errors["row"].isna()]
        assert set(frame["row"].astype(int)) <= rows_with_errors or len(whole_table)


def test_record_counter_counts_blank_lines():
    assert _records("a,b\n1,2\n\n3,4\n") == 3
