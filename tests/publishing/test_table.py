"""Tables that fit: free text wraps, ids and counts never do, and every cell is whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ctmaint.cli.table import format_table
from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, write_contacts

HEADER = ["ID", "WHEN", "COUNT", "PRODUCTS"]
ROWS = [
    ["monthly-2030-06-21", "Fri 2030-06-21 22:00 MDT", "4", "teams, skype, cisco, webex, sip"],
    ["connect-2030-06-11", "Tue 2030-06-11 21:00 MDT", "12", "connect"],
]


def test_a_table_that_fits_is_one_line_a_row() -> None:
    lines = format_table(HEADER, ROWS, 200, [(3, 10)]).splitlines()
    assert len(lines) == 3
    assert lines[1].split("  ")[0] == "monthly-2030-06-21"


@pytest.mark.parametrize("width", [60, 70, 80])
def test_a_narrow_table_wraps_the_flexible_columns_in_order(width: int) -> None:
    text = format_table(HEADER, ROWS, width, [(3, 10), (1, 14)])
    lines = text.splitlines()
    assert max(map(len, lines)) <= width
    assert "" in lines  # rows that wrap are spaced
    words = " ".join(text.split())
    for row in ROWS:
        for cell in row:
            assert all(word in words for word in cell.split())  # nothing cut
    assert all(re.match(r"^\S", line) or not line or line.startswith(" ") for line in lines)


def test_a_table_too_wide_for_any_wrapping_becomes_one_block_a_row() -> None:
    text = format_table(HEADER, ROWS, 40, [(3, 10)])
    assert text.splitlines()[:5] == [
        "monthly-2030-06-21",
        "  WHEN:     Fri 2030-06-21 22:00 MDT",
        "  COUNT:    4",
        "  PRODUCTS: teams, skype, cisco, webex,",
        "            sip",
    ]
    assert max(map(len, text.splitlines())) <= 40


@pytest.mark.parametrize("columns", ["80", "100", "160"])
def test_every_table_of_the_cli_fits_its_width(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    write_contacts(tmp_path, CONTACTS)  # a send that reaches no one is a failure
    now = ("--now", "2030-06-14T09:00:00-06:00")
    added = run_cli(
        *now, "add", "--start", "2030-06-15T01:00:00-06:00", "--duration", "2h",
        "--product", "teams,skype,cisco,webex,sip,contact-center,connect",
        "--summary", "A summary long enough to need wrapping in any table at all " * 2,
        "--description", "Work. " * 40, "--justification", "Reasons. " * 30, "--urgent",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert run_cli(*now, "send").code == 0
    for args in (["upcoming", "--days", "365"], ["notices", "--days", "60"], ["history"]):
        result = run_cli(*now, *args)
        assert result.code == 0, result.err
        too_wide = [line for line in result.out.splitlines() if len(line) > int(columns)]
        assert not too_wide, (args, too_wide[:3])
    records = json.loads(run_cli(*now, "history", "--format", "json").out)
    add = next(c for c in records["changes"] if c["change"] == "add")
    assert add["fields"]["description"].startswith("Work. Work.")  # json: whole
    assert len(add["fields"]["description"]) > 200
