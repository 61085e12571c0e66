"""Operator commands that would store nonsense are refused in one sentence and store nothing;
whatever is stored, every later command still works (no OverflowError, ever)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, MONTHLY, write_contacts
from tests.usecases.test_operate import ADD, BEFORE, changes_count


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_contacts(tmp_path, CONTACTS)
    return tmp_path


def add_with(**replace: str) -> list[str]:
    """The ADD command with some options' values replaced."""
    args = list(ADD)
    args[args.index("--start") + 1] = "2030-06-13T23:30:00-06:00"  # after BEFORE
    for option, value in replace.items():
        flag = "--" + option.replace("_", "-")
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


REFUSED = {
    # (arguments, exit code, what the message says)
    "same_start": (["reschedule", MONTHLY, "--start", "2030-06-21T22:00:00-06:00"], 1,
                   "nothing to move"),
    "same_times": (["reschedule", MONTHLY, "--start", "2030-06-21T22:00:00-06:00",
                    "--end", "2030-06-22T04:00:00-06:00"], 1, "nothing to move"),
    "edit_empty_summary": (["edit", MONTHLY, "--summary", ""], 1, "the summary is empty"),
    "edit_blank_description": (["edit", MONTHLY, "--description", "  "], 1,
                               "the description is empty"),
    "edit_empty_justification": (["edit", MONTHLY, "--justification", ""], 1,
                                 "the justification is empty"),
    "edit_no_change": (["edit", MONTHLY, "--impact", "DEGRADED"], 1, "already has these details"),
    "edit_summary_newline": (["edit", MONTHLY, "--summary", "a\nBcc: x@evil.example"], 1,
                             "the summary contains a line break"),
    "edit_bell": (["edit", MONTHLY, "--description", "ding\x07"], 1, "control character"),
    "cancel_escape": (["cancel", MONTHLY, "--reason", "\x1b[31mred"], 1, "control character"),
    "by_newline": (["cancel", MONTHLY, "--reason", "r", "--by", "ann\nroot"], 1,
                   "the author contains a line break"),
    "by_empty": (["cancel", MONTHLY, "--reason", "r", "--by", " "], 1, "the author is empty"),
    "by_nothing": (["cancel", MONTHLY, "--reason", "r", "--by", ""], 1, "the author is empty"),
    "extend_9999": (["extend", MONTHLY, "--until", "9999-12-31T20:00Z"], 2,
                    "outside the years ctmaint handles"),
    "extend_too_long": (["extend", MONTHLY, "--until", "2030-08-01T00:00Z"], 1,
                        "longer than the 31 days allowed"),
    "reschedule_1969": (["reschedule", MONTHLY, "--start", "1969-12-31T22:00Z"], 2,
                        "outside the years"),
    "add_9999": (add_with(start="9999-01-01T00:00Z"), 2, "outside the years"),
    "add_huge_duration": (add_with(duration="999999999d"), 2, "longer than 366 days"),
    "add_40_days": (add_with(duration="40d"), 1, "longer than the 31 days allowed"),
    "add_ends_in_2100": (add_with(start="2099-12-31T14:00:00-07:00", duration="12h"), 1,
                         "outside the years"),
    "add_summary_tab": (add_with(summary="a\tb"), 1, "the summary contains a control character"),
    "add_unknown_product": (add_with(products="teams,fax"), 2, "'fax' is not a product"),
    "edit_unknown_product": (["edit", MONTHLY, "--products", "fax"], 2, "'fax' is not a product"),
    "edit_bad_impact": (["edit", MONTHLY, "--impact", "SEVERE"], 2, "--impact"),
    "add_bad_impact": (add_with(impact="severe"), 2, "--impact"),
}  # fmt: skip


@pytest.mark.parametrize(("args", "code", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_refused_in_one_sentence_and_nothing_stored(
    run_cli: CliRunner, site: Path, args: list[str], code: int, message: str
) -> None:
    result = run_cli("--now", BEFORE, *args)
    assert result.code == code, result.err
    assert message in result.err
    assert "Traceback" not in result.err
    assert changes_count(site) == 0
    if code == 1:
        assert len(result.err.strip().splitlines()) == 1


def test_no_stored_change_can_break_a_later_command(run_cli: CliRunner, site: Path) -> None:
    """The largest values the bounds let through: later commands all still work."""
    longest = [*add_with(start="2099-11-30T12:00:00-07:00", duration="31d"), "--urgent"]
    added = run_cli("--now", BEFORE, *longest)
    assert added.code == 0, added.err
    extended = run_cli("--now", BEFORE, "extend", MONTHLY, "--until", "2030-07-22T21:59:00-06:00")
    assert extended.code == 0, extended.err
    for command in (["send"], ["send", "--dry-run"], ["notices"], ["upcoming", "--days", "3660"],
                    ["history"], ["build"], ["send", "--dry-run", "--format", "json"]):  # fmt: skip
        result = run_cli("--now", "2099-12-01T00:00:00Z", *command)
        assert result.code == 0, (command, result.err)
        assert "Traceback" not in result.err


@pytest.mark.parametrize(
    "now", ["0001-01-01T00:00+00:00", "9999-12-31T23:00Z", "1969-12-31T23:59Z"]
)
def test_now_out_of_range_is_a_usage_error(run_cli: CliRunner, now: str) -> None:
    for command in (["upcoming"], ["send", "--dry-run"], ["notices"]):
        result = run_cli("--now", now, *command)
        assert result.code == 2
        assert "outside the years ctmaint handles" in result.err


@pytest.mark.parametrize("days", ["0", "3000000", "-5"])
def test_days_out_of_range_is_a_usage_error(run_cli: CliRunner, days: str) -> None:
    for command in ("upcoming", "notices"):
        result = run_cli(command, "--days", days)
        assert result.code == 2, result.err
        assert "the number of days must be 1 to 3660" in result.err


def test_the_urgent_hint_names_the_option(run_cli: CliRunner, site: Path) -> None:
    result = run_cli("--now", BEFORE, *add_with(start="2030-06-13T14:00:00-06:00"))
    assert result.code == 1
    assert result.err.strip().endswith("mark it urgent if it cannot wait (--urgent)")
