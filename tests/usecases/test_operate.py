"""Unscheduled work and changes to one window, through the CLI with --now: feeds, outbox,
status JSON and history."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import feedparser
import pytest
from icalendar import Calendar

from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, MONTHLY, MONTHLY_TO, deliveries, send, write_contacts

UID = f"{MONTHLY}@calltower.com"
BEFORE = "2030-06-12T10:00:00-06:00"  # before the week-before reminder
AFTER_REMINDER = "2030-06-15T10:00:00-06:00"
ADD = [
    "add", "--start", "2030-06-05T23:30:00-06:00", "--duration", "2h", "--products", "teams,sip",
    "--summary", "Emergency SBC patch", "--description", "Patch the <SBC> firmware & restart",
    "--justification", "Fixes CVE-2030-0001",
]  # fmt: skip


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_contacts(tmp_path, CONTACTS)
    return tmp_path


def event(folder: Path, run_cli: CliRunner, now: str, uid: str = UID) -> Any:
    assert run_cli("--now", now, "build").code == 0
    calendar = Calendar.from_ical((folder / "calendars" / "all.ics").read_bytes())
    return next(e for e in calendar.walk("VEVENT") if e["UID"] == uid)


def maintenance(folder: Path, window_id: str) -> dict[str, Any]:
    document = json.loads((folder / "notices/api/v2/scheduled-maintenances.json").read_text())
    found: dict[str, Any] = next(
        m for m in document["scheduled_maintenances"] if m["id"] == window_id
    )
    return found


def changes_count(folder: Path) -> int:
    path = folder / ".ctmaint" / "state.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM changes").fetchone()[0])


def ok(run_cli: CliRunner, *args: str) -> str:
    result = run_cli(*args)
    assert result.code == 0, result.err
    return result.out


def test_add_announces_at_once_then_start_and_complete(run_cli: CliRunner, site: Path) -> None:
    window_id = ok(run_cli, "--now", "2030-06-05T12:00:00-06:00", *ADD).strip()
    assert window_id == "unscheduled-2030-06-05-1"
    assert send(run_cli, "2030-06-05T12:01:00-06:00").startswith("sent 2,")  # Ann (*), Di (teams)
    told = deliveries(site, window_id)
    assert {address for _, address in told} == {"ann@acme.example", "di@gamma.example"}
    assert {notice for notice, _ in told} == {f"{window_id}/announce"}
    send(run_cli, "2030-06-05T23:30:00-06:00")
    send(run_cli, "2030-06-06T01:30:00-06:00")
    stages = sorted({notice.split("/")[1] for notice, _ in deliveries(site, window_id)})
    assert stages == ["announce", "complete", "start"]
    assert set(deliveries(site, window_id).values()) == {1}
    vevent = event(site, run_cli, "2030-06-05T12:00:00-06:00", f"{window_id}@calltower.com")
    assert vevent["X-MAINTNOTE-IMPACT"] == "DEGRADED"  # the policy's default for unscheduled
    assert "Patch the <SBC> firmware & restart" in str(vevent["DESCRIPTION"])
    second = ok(run_cli, "--now", "2030-06-05T12:00:00-06:00", *ADD).strip()
    assert second == "unscheduled-2030-06-05-2"


def test_add_inside_business_hours_needs_urgent(run_cli: CliRunner, site: Path) -> None:
    args = [a if a != "2030-06-05T23:30:00-06:00" else "2030-06-05T14:00:00-06:00" for a in ADD]
    refused = run_cli("--now", "2030-06-05T12:00:00-06:00", *args)
    assert refused.code == 1
    assert refused.err.strip() == (
        "ctmaint: unscheduled work should fall outside 05:00-23:00 MT, and this runs at "
        "Wed 2030-06-05 14:00 MDT; move it, or mark it urgent if it cannot wait (--urgent)"
    )
    assert changes_count(site) == 0
    # ending inside the hours counts too: 03:30 for 2 h runs until 05:30
    early = [a if a != "2030-06-05T23:30:00-06:00" else "2030-06-06T03:30:00-06:00" for a in ADD]
    assert run_cli("--now", "2030-06-05T12:00:00-06:00", *early).code == 1
    urgent = run_cli("--now", "2030-06-05T12:00:00-06:00", *args, "--urgent")
    assert urgent.code == 0
    assert urgent.out.strip() == "unscheduled-2030-06-05-1"


def test_edit_raises_sequence_and_the_next_notice_says_what_changed(
    run_cli: CliRunner, site: Path
) -> None:
    send(run_cli, "2030-06-14T09:00:00-06:00")  # the reminder goes out
    before = event(site, run_cli, AFTER_REMINDER)
    out = ok(run_cli, "--now", AFTER_REMINDER, "edit", MONTHLY, "--description",
             "Core switch firmware upgrade.", "--by", "alice")  # fmt: skip
    assert "edited description" in out
    assert send(run_cli, "2030-06-15T10:05:00-06:00").startswith("sent 0,")  # nothing at once
    after = event(site, run_cli, AFTER_REMINDER)
    assert after["SEQUENCE"] == before["SEQUENCE"] + 1
    assert after["DTSTAMP"].dt > before["DTSTAMP"].dt
    assert "Work: Core switch firmware upgrade." in str(after["DESCRIPTION"])
    send(run_cli, "2030-06-21T22:00:00-06:00")
    outbox = site / ".ctmaint" / "outbox"
    start = (next(outbox.glob(f"{MONTHLY}--start--ann*"))).read_text()
    assert "Updated since our last notice: description." in start
    assert "Core switch firmware upgrade." in start
    changes = json.loads(run_cli("history", "--format", "json").out)["changes"]
    assert [(c["window"], c["change"], c["made_by"]) for c in changes] == [
        (MONTHLY, "edit", "alice")
    ]
    assert "alice" in run_cli("history").out


def test_cancel_tells_those_told_keeps_the_window_and_sends_nothing_else(
    run_cli: CliRunner, site: Path
) -> None:
    send(run_cli, "2030-06-14T09:00:00-06:00")
    ok(run_cli, "--now", AFTER_REMINDER, "cancel", MONTHLY, "--reason", "Vendor recall")
    assert send(run_cli, "2030-06-15T10:05:00-06:00").startswith("sent 4,")
    assert send(run_cli, "2030-06-21T22:00:00-06:00").startswith("sent 0,")  # no start notice
    send(run_cli, "2030-06-22T04:00:00-06:00")
    sent = deliveries(site, MONTHLY)
    assert {n for n, _ in sent} == {f"{MONTHLY}/week-before", f"{MONTHLY}/cancel"}
    assert {a for n, a in sent if n.endswith("cancel")} == MONTHLY_TO
    cancel = next((site / ".ctmaint" / "outbox").glob(f"{MONTHLY}--cancel--ann*")).read_text()
    assert "has been cancelled" in cancel
    assert "Reason: Vendor recall" in cancel
    vevent = event(site, run_cli, "2030-06-23T00:00:00-06:00")
    assert (vevent["STATUS"], vevent["X-MAINTNOTE-STATUS"]) == ("CANCELLED", "CANCELLED")
    assert vevent["SEQUENCE"] == 1
    assert str(vevent["SUMMARY"]).startswith("CANCELLED: ")
    for name in ("all.rss", "all.atom"):
        feed = feedparser.parse((site / "calendars" / name).read_bytes())
        titles = [e.title for e in feed.entries if e.title.startswith("CANCELLED: ")]
        assert titles == ["CANCELLED: Monthly scheduled maintenance: Fri 2030-06-21 22:00 to "
                          "Sat 2030-06-22 04:00 MDT"]  # fmt: skip
    status = maintenance(site, MONTHLY)
    assert status["status"] == "completed"
    assert status["incident_updates"][0]["body"] == (
        "This scheduled maintenance has been cancelled.\n\nReason: Vendor recall"
    )
    post = (site / "notices" / "posts" / f"{MONTHLY}--cancel.md").read_text()
    assert 'status: "cancelled"' in post
    again = run_cli("--now", AFTER_REMINDER, "cancel", MONTHLY, "--reason", "twice")
    assert (again.code, again.err.strip()) == (1, f"ctmaint: {MONTHLY} is already cancelled")


def test_a_cancel_before_any_notice_tells_no_one(run_cli: CliRunner, site: Path) -> None:
    send(run_cli, BEFORE)
    ok(run_cli, "--now", BEFORE, "cancel", MONTHLY, "--reason", "Not needed")
    for now in ("2030-06-14T09:00:00-06:00", "2030-06-21T22:00:00-06:00"):
        send(run_cli, now)
    assert deliveries(site, MONTHLY) == {}


def test_reschedule_moves_the_window_and_its_notices(run_cli: CliRunner, site: Path) -> None:
    send(run_cli, "2030-06-14T09:00:00-06:00")
    out = ok(run_cli, "--now", AFTER_REMINDER, "reschedule", MONTHLY,
             "--start", "2030-06-28T22:00:00-06:00")  # fmt: skip
    assert "moved to 2030-06-28T22:00:00-06:00 - 2030-06-29T04:00:00-06:00" in out
    vevent = event(site, run_cli, AFTER_REMINDER)
    assert vevent["UID"] == UID  # same id, same UID
    assert str(vevent.start) == "2030-06-28 22:00:00-06:00"
    assert vevent["SEQUENCE"] == 1
    assert send(run_cli, "2030-06-15T10:05:00-06:00").startswith("sent 4,")  # reschedule
    assert send(run_cli, "2030-06-21T22:00:00-06:00").startswith("sent 0,")  # old start: nothing
    send(run_cli, "2030-06-21T09:00:00-06:00")  # the new week-before time: already sent
    assert send(run_cli, "2030-06-28T22:00:00-06:00").startswith("sent 4,")  # the new start
    sent = deliveries(site, MONTHLY)
    assert sorted({n for n, _ in sent}) == [
        f"{MONTHLY}/reschedule", f"{MONTHLY}/start", f"{MONTHLY}/week-before",
    ]  # fmt: skip
    assert set(sent.values()) == {1}
    note = next((site / ".ctmaint" / "outbox").glob(f"{MONTHLY}--reschedule--ann*")).read_text()
    assert "It was planned for Fri 2030-06-21 22:00 MDT." in note
    assert "Fri 2030-06-28 22:00 MDT to Sat 2030-06-29 04:00 MDT" in note
    past = run_cli("--now", AFTER_REMINDER, "reschedule", MONTHLY, "--start",
                   "2030-06-10T22:00:00-06:00")  # fmt: skip
    assert past.code == 1
    assert "is in the past" in past.err


def test_a_second_reschedule_is_a_second_notice(run_cli: CliRunner, site: Path) -> None:
    send(run_cli, "2030-06-14T09:00:00-06:00")
    ok(run_cli, "--now", AFTER_REMINDER, "reschedule", MONTHLY, "--start", "2030-06-28T22:00-06:00")
    send(run_cli, "2030-06-15T10:01:00-06:00")
    ok(run_cli, "--now", "2030-06-16T10:00:00-06:00", "reschedule", MONTHLY,
       "--start", "2030-06-29T22:00-06:00")  # fmt: skip
    send(run_cli, "2030-06-16T10:01:00-06:00")
    notices = {n for n, _ in deliveries(site, MONTHLY)}
    assert {f"{MONTHLY}/reschedule", f"{MONTHLY}/reschedule-2"} <= notices


def test_extend_tells_and_moves_the_completion(run_cli: CliRunner, site: Path) -> None:
    send(run_cli, "2030-06-21T22:00:00-06:00")  # start notice out
    ok(run_cli, "--now", "2030-06-22T03:00:00-06:00", "extend", MONTHLY,
       "--until", "2030-06-22T06:00:00-06:00")  # fmt: skip
    assert send(run_cli, "2030-06-22T03:01:00-06:00").startswith("sent 4,")  # extend
    assert send(run_cli, "2030-06-22T04:00:00-06:00").startswith("sent 0,")  # not the old end
    assert send(run_cli, "2030-06-22T06:00:00-06:00").startswith("sent 4,")  # the new end
    vevent = event(site, run_cli, "2030-06-22T05:00:00-06:00")
    assert str(vevent.end) == "2030-06-22 06:00:00-06:00"
    assert vevent["X-MAINTNOTE-STATUS"] == "IN-PROCESS"
    short = run_cli("--now", "2030-06-22T05:00:00-06:00", "extend", MONTHLY, "--until",
                    "2030-06-22T05:30:00-06:00")  # fmt: skip
    assert short.code == 1
    assert "is not after the current end" in short.err


def test_complete_early_sends_the_completion_and_resolves_the_status(
    run_cli: CliRunner, site: Path
) -> None:
    send(run_cli, "2030-06-21T22:00:00-06:00")
    ok(run_cli, "--now", "2030-06-22T01:30:00-06:00", "complete", MONTHLY,
       "--at", "2030-06-22T01:15:00-06:00")  # fmt: skip
    assert send(run_cli, "2030-06-22T01:31:00-06:00").startswith("sent 4,")
    assert {n for n, _ in deliveries(site, MONTHLY)} == {f"{MONTHLY}/start", f"{MONTHLY}/complete"}
    vevent = event(site, run_cli, "2030-06-22T01:31:00-06:00")
    assert vevent["X-MAINTNOTE-STATUS"] == "COMPLETED"
    assert str(vevent.end) == "2030-06-22 01:15:00-06:00"
    status = maintenance(site, MONTHLY)
    assert (status["status"], status["resolved_at"]) == (
        "completed",
        "2030-06-22T01:15:00.000-06:00",
    )
    assert send(run_cli, "2030-06-22T04:00:00-06:00").startswith("sent 0,")


def test_follow_up_goes_to_those_told_after_the_window(run_cli: CliRunner, site: Path) -> None:
    notes = site / "NOTES.md"
    notes.write_text("New: call recording for Teams.\n")
    early = run_cli(
        "--now", "2030-06-21T23:00:00-06:00", "follow-up", MONTHLY, "--file", str(notes)
    )
    assert early.code == 1
    assert "has not ended" in early.err
    send(run_cli, "2030-06-21T22:00:00-06:00")
    send(run_cli, "2030-06-22T04:00:00-06:00")
    ok(run_cli, "--now", "2030-06-22T09:00:00-06:00", "follow-up", MONTHLY, "--file", str(notes))
    assert send(run_cli, "2030-06-22T09:01:00-06:00").startswith("sent 4,")
    text = next((site / ".ctmaint" / "outbox").glob(f"{MONTHLY}--follow-up--ann*")).read_text()
    assert "New: call recording for Teams." in text
    missing = run_cli(
        "--now", "2030-06-22T09:00:00-06:00", "follow-up", MONTHLY, "--file", "none.md"
    )
    assert missing.code == 2
    assert "cannot be read" in missing.err


BAD_CHANGES = {
    "unknown_id": (
        ["cancel", "monthly-2030-06-20", "--reason", "x"],
        "there is no window 'monthly-2030-06-20'",
    ),
    "end_before_start": (
        [*ADD[:3], "--end", "2030-06-05T22:00:00-06:00", *ADD[5:]],
        "is not after the start",
    ),
    "ended": (
        ["edit", "monthly-2030-05-17", "--summary", "x"],
        "a window that has ended cannot be changed",
    ),
    "into_the_past": (
        ["reschedule", MONTHLY, "--start", "2030-06-01T22:00:00-06:00"],
        "is in the past",
    ),
    "extend_shorter": (
        ["extend", MONTHLY, "--until", "2030-06-22T03:00:00-06:00"],
        "is not after the current end",
    ),
    "complete_before_start": (["complete", MONTHLY], "is not after the start"),
    "nothing": (["edit", MONTHLY], "nothing to edit"),
}


@pytest.mark.parametrize(("args", "message"), BAD_CHANGES.values(), ids=BAD_CHANGES.keys())
def test_bad_changes_are_one_sentence_and_store_nothing(
    run_cli: CliRunner, site: Path, args: list[str], message: str
) -> None:
    result = run_cli("--now", BEFORE, *args)
    assert result.code == 1, result.out
    assert message in result.err
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err
    assert changes_count(site) == 0


def test_times_without_offset_are_usage_errors(run_cli: CliRunner, site: Path) -> None:
    result = run_cli("--now", BEFORE, "reschedule", MONTHLY, "--start", "2030-06-28T22:00")
    assert result.code == 2
    assert "--start '2030-06-28T22:00' has no UTC offset" in result.err
