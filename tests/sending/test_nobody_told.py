"""Nobody told is never silent: a due notice that reaches no one because contacts.csv is
missing, empty or names no one for the window's products is a problem `send` reports (one
line naming the notice and why, exit 1) and `notices` shows as `no recipients`, not `sent`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctmaint.model.contacts import COLUMNS
from tests.conftest import CliRunner
from tests.sending.test_send import MONTHLY, write_contacts

REMINDER = "2030-06-14T09:00:00-06:00"  # MONTHLY's week-before reminder is due
HEADER = ",".join(COLUMNS) + "\n"
CONNECT_ONLY = ["Beta,BETA-9,Cy,,cy@beta.example,,maintenance,connect,"]


def notice_states(run_cli: CliRunner, now: str) -> dict[str, tuple[int, str]]:
    result = run_cli("--now", now, "notices", "--days", "10", "--format", "json")
    assert result.code == 0, result.err
    return {n["id"]: (n["recipients"], n["state"]) for n in json.loads(result.out)}


@pytest.mark.parametrize(
    ("contacts", "why"),
    [
        pytest.param(None, "contacts.csv does not exist", id="missing"),
        pytest.param(
            HEADER.encode(), "contacts.csv lists no contact that can be read", id="header_only"
        ),
        pytest.param(
            (HEADER + "Bad,,X,,not-an-address,,maintenance,*,\n").encode(),
            "contacts.csv lists no contact that can be read",
            id="every_row_bad",
        ),
    ],
)
def test_a_reminder_that_reaches_no_one_is_reported_on_every_tick_until_fixed(
    run_cli: CliRunner, tmp_path: Path, contacts: bytes | None, why: str
) -> None:
    if contacts is not None:
        (tmp_path / "contacts.csv").write_bytes(contacts)
    for now in (REMINDER, "2030-06-14T09:05:00-06:00"):
        result = run_cli("--now", now, "send")
        assert result.code == 1
        assert result.out.strip().endswith("sent 0, failed 0, expired 0, pending 0")
        line = f"ctmaint: no recipients: {MONTHLY}/week-before reached no one: "
        reported = [text for text in result.err.splitlines() if text.startswith(line)]
        assert len(reported) == 1, result.err
        assert reported[0].endswith(why)
        assert "Traceback" not in result.err
    assert notice_states(run_cli, "2030-06-14T09:06:00-06:00")[f"{MONTHLY}/week-before"] == (
        0,
        "no recipients",
    )
    write_contacts(tmp_path, ["Acme,ACME-1,Ann,,ann@acme.example,,maintenance,*,"])
    fixed = run_cli("--now", "2030-06-14T09:10:00-06:00", "send")
    assert (fixed.code, fixed.err) == (0, "")
    assert fixed.out.startswith("sent 1,")  # still meaningful: the window has not begun
    assert notice_states(run_cli, "2030-06-14T09:11:00-06:00")[f"{MONTHLY}/week-before"] == (
        1,
        "sent",
    )


def test_an_empty_contacts_file_is_refused_by_name(run_cli: CliRunner, tmp_path: Path) -> None:
    """Zero bytes (a file not yet deployed) is no contacts file: every run says so."""
    (tmp_path / "contacts.csv").write_bytes(b"")
    for command in (("send",), ("send", "--dry-run"), ("notices",), ("check",)):
        result = run_cli("--now", REMINDER, *command)
        assert result.code == 1, command
        assert "contacts.csv: line 1: the header must be exactly" in result.err, command
    assert not (tmp_path / ".ctmaint" / "outbox").exists()


def test_contacts_that_use_none_of_the_products_are_named_as_the_reason(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    write_contacts(tmp_path, CONNECT_ONLY)
    added = run_cli(
        "--now", "2030-06-12T03:00:00-06:00", "add", "--start", "2030-06-13T01:00:00-06:00",
        "--duration", "1h", "--product", "teams,sip", "--summary", "SBC patch",
        "--description", "Patch.", "--justification", "Fix.",
    )  # fmt: skip
    assert added.code == 0, added.err
    window = added.out.strip()
    dry = run_cli("--now", "2030-06-12T03:01:00-06:00", "send", "--dry-run")
    assert dry.code == 1
    assert (
        f"ctmaint: no recipients: {window}/announce reached no one: no maintenance contact in "
        f"{tmp_path / 'contacts.csv'} is of an organization using teams or sip"
    ) in dry.err.splitlines()
    plan = run_cli("--now", "2030-06-12T03:01:00-06:00", "send", "--dry-run", "--format", "json")
    assert json.loads(plan.out)["no_recipients"] == [f"{window}/announce"]
    sent = run_cli("--now", "2030-06-12T03:01:00-06:00", "send")
    assert sent.code == 1
    assert f"{window}/announce reached no one" in sent.err
    states = notice_states(run_cli, "2030-06-12T03:02:00-06:00")
    assert states[f"{window}/announce"] == (0, "no recipients")
    assert states[f"{window}/start"] == (0, "no recipients")  # seen before it is due


def test_a_notice_past_its_grace_period_is_not_reported_again(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    assert run_cli("--now", REMINDER, "send").code == 1
    later = run_cli("--now", "2030-06-21T22:01:00-06:00", "send")  # the window has begun
    assert later.code == 1
    assert f"{MONTHLY}/week-before" not in later.err
    assert f"{MONTHLY}/start reached no one" in later.err


def test_a_change_notice_to_nobody_told_is_no_problem(run_cli: CliRunner, tmp_path: Path) -> None:
    """A cancel goes to those told of the window; when nobody was, nobody needs telling."""
    write_contacts(tmp_path, CONNECT_ONLY)
    cancelled = run_cli(
        "--now", "2030-06-01T12:00:00-06:00", "cancel", MONTHLY, "--reason", "Not needed."
    )
    assert cancelled.code == 0, cancelled.err
    result = run_cli("--now", "2030-06-01T12:05:00-06:00", "send")
    assert (result.code, result.err) == (0, "")
