"""Checks shared by the bad-input suite (see conftest.py for what each case asserts)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

VALID = Path(__file__).parents[1] / "fixtures" / "deliveries" / "valid"


@dataclass
class Result:
    code: int
    out: str
    err: str
    written: str  # the text of every file under the watched folders

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if "error:" in line]

    def everything(self) -> str:
        return self.out + self.err + self.written


def read_all(*folders: Path) -> str:
    """The text of every file below ``folders`` (bytes decoded leniently)."""
    parts = []
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    parts.append(path.read_bytes().decode("utf-8", errors="replace"))
        elif folder.is_file():
            parts.append(folder.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)




def physical_data_lines(path: Path) -> int:
    """Lines of a CSV file after its header: the line ends an editor shows, counted here."""
    text = path.read_bytes().decode("utf-8")
    ends = len(re.findall(r"\r\n|\r|\n", text))
    return ends + (0 if text.endswith(("\n", "\r")) else 1) - 1


def assert_accounted(folder: Path, **validate_options) -> pd.DataFrame:
    """Every row and line of every CSV table is accepted or rejected; return the accounting."""
    from cohort.delivery.validate import validate_delivery

    report = validate_delivery(folder, **validate_options)
    acc = report.accounting.set_index("table")
    assert (acc["rows_read"] == acc["rows_accepted"] + acc["rows_rejected"]).all()
    assert (acc["lines_read"] == acc["lines_accepted"] + acc["lines_rejected"]).all()
    for table, row in acc.iterrows():
        path = folder / f"{table}.csv"
        if path.is_file():
            assert row["lines_read"] == physical_data_lines(path), table
    for table, frame in report.rejected.items():
        assert len(frame) == acc.loc[table, "rows_rejected"], table
        assert int(frame["lines"].sum()) == acc.loc[table, "lines_rejected"], table
    return acc


def assert_one_line_error(result: Result, code: int, *expected: str) -> str:
    """The command failed with ``code`` and one error line holding every ``expected`` text."""
    assert result.code == code, (result.code, result.err)
    assert "Traceback" not in result.err
    lines = result.error_lines
    assert len(lines) == 1, result.err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def assert_not_leaked(result: Result, *secrets: str) -> None:
    everything = result.everything()
    for secret in secrets:
        assert secret not in everything, secret
