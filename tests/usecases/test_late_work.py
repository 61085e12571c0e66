"""Work reported late reads right: unscheduled work recorded once it had begun is announced
once as in progress, work recorded once it had ended (with --ended) once as performed, and
every window's notices reach each recipient in the order announce, start, complete."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, outbox, send, write_contacts

DETAILS = (
    "--product", "teams", "--summary", "Emergency SBC patch",
    "--description", "Patch the session border controllers.",
    "--justification", "Fixes a critical security bug.",
)  # fmt: skip
TOLD = {"ann@acme.example", "di@gamma.example"}  # the contacts whose organizations use teams


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_contacts(tmp_path, CONTACTS)
    return tmp_path


def add(run_cli: CliRunner, now: str, start: str, length: str, *extra: str) -> str:
    result = run_cli("--now", now, "add", "--start", start, "--duration", length, *DETAILS, *extra)
    assert result.code == 0, result.err
    return result.out.strip()


def sent_in_order(site: Path) -> list[tuple[str, str]]:
    """(notice id, address) of every delivery, in the order the ledger claimed them."""
    db = sqlite3.connect(site / ".ctmaint" / "state.db")
    try:
        rows = db.execute(
            "SELECT notice_id, recipient FROM deliveries WHERE state = 'sent' ORDER BY rowid"
        ).fetchall()
    finally:
        db.close()
    return [(str(notice), str(address)) for notice, address in rows]


def subjects(site: Path) -> dict[str, str]:
    return {str(m["X-Ctmaint-Notice-Id"]): str(m["Subject"]) for m in outbox(site)}


def test_work_recorded_while_under_way_is_announced_once_as_in_progress(
    run_cli: CliRunner, site: Path
) -> None:
    window = add(run_cli, "2030-06-12T03:40:00-06:00", "2030-06-12T03:00:00-06:00", "2h")
    assert send(run_cli, "2030-06-12T03:41:00-06:00").startswith("sent 2,")
    assert subjects(site) == {
        f"{window}/announce": "[CallTower] Unscheduled maintenance in progress: Emergency SBC "
        "patch, Wed 2030-06-12 03:00 MDT"
    }
    text = next(m for m in outbox(site)).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "is in progress now" in text
    assert "will perform" not in text
    assert send(run_cli, "2030-06-12T05:01:00-06:00").startswith("sent 2,")
    order = sent_in_order(site)
    assert [notice for notice, _ in order] == [f"{window}/announce"] * 2 + [
        f"{window}/complete"
    ] * 2
    assert {address for _, address in order} == TOLD
    planned = json.loads(run_cli("--now", "2030-06-12T05:02:00-06:00", "notices", "--days",
                                 "2", "--format", "json").out)  # fmt: skip
    assert {n["stage"] for n in planned if n["window"] == window} == {"announce", "complete"}


def test_work_recorded_after_it_ended_is_refused_unless_marked_ended(
    run_cli: CliRunner, site: Path
) -> None:
    now = "2030-06-12T03:40:00-06:00"
    refused = run_cli("--now", now, "add", "--start", "2030-06-12T02:00:00-06:00",
                      "--duration", "1h", *DETAILS)  # fmt: skip
    assert refused.code == 1
    assert "already past" in refused.err
    assert "--ended" in refused.err
    assert not (site / ".ctmaint").exists()  # nothing was changed
    early = run_cli("--now", now, "add", "--start", "2030-06-12T03:00:00-06:00",
                    "--duration", "1h", *DETAILS, "--ended")  # fmt: skip
    assert early.code == 1
    assert "not past yet" in early.err
    assert "--ended" in early.err
    stale = run_cli("--now", now, "add", "--start", "2030-01-12T03:00:00-07:00",
                    "--duration", "1h", *DETAILS, "--ended")  # fmt: skip
    assert stale.code == 1
    assert "publish.days_back" in stale.err
    assert not (site / ".ctmaint").exists()


def test_work_recorded_after_it_ended_is_told_once_as_performed_and_published(
    run_cli: CliRunner, site: Path
) -> None:
    """Emergency work done at 02:00 and recorded at 03:40 (inside the hours to avoid would
    need no --urgent either: it is over)."""
    now = "2030-06-12T03:40:00-06:00"
    window = add(run_cli, now, "2030-06-12T02:00:00-06:00", "1h", "--ended")
    assert send(run_cli, "2030-06-12T03:45:00-06:00").startswith("sent 2,")
    assert send(run_cli, "2030-06-13T02:00:00-06:00").startswith("sent 0,")
    assert subjects(site) == {
        f"{window}/announce": "[CallTower] Unscheduled maintenance performed: Emergency SBC "
        "patch, Wed 2030-06-12 02:00 MDT"
    }
    assert {address for _, address in sent_in_order(site)} == TOLD
    built = run_cli("--now", "2030-06-12T03:50:00-06:00", "build")
    assert built.code == 0, built.err
    ics = (site / "calendars" / "all.ics").read_text()
    event = ics[ics.index(f"UID:{window}@") :]
    event = event[: event.index("END:VEVENT")]
    assert "X-MAINTNOTE-STATUS;VALUE=TEXT:COMPLETED" in event
    for feed_file in ("all.atom", "all.rss", "teams.atom"):
        assert "Emergency SBC patch" in (site / "calendars" / feed_file).read_text()
    assert window in (site / "notices" / "index.html").read_text()
    assert (site / "notices" / "windows" / f"{window}.html").exists()
    feed = json.loads((site / "notices" / "api/v2/scheduled-maintenances.json").read_text())
    maintenance = next(m for m in feed["scheduled_maintenances"] if m["id"] == window)
    assert [u["status"] for u in maintenance["incident_updates"]] == ["completed"]
    history = json.loads(run_cli("--now", "2030-06-12T04:00:00-06:00", "history", "--format",
                                 "json").out)  # fmt: skip
    assert [c["window"] for c in history["changes"]] == [window]
    assert [n["notice"] for n in history["notices"]] == [f"{window}/announce"]


def test_notices_of_one_window_reach_each_recipient_in_order(
    run_cli: CliRunner, site: Path
) -> None:
    """Work added minutes before it starts, with no send until it is under way and then
    over: announce before start, start before complete, for every recipient."""
    window = add(run_cli, "2030-06-12T02:55:00-06:00", "2030-06-12T03:00:00-06:00", "30m")
    assert send(run_cli, "2030-06-12T03:10:00-06:00").startswith("sent 4,")
    assert send(run_cli, "2030-06-12T03:31:00-06:00").startswith("sent 2,")
    for address in TOLD:
        stages = [n.split("/")[1] for n, a in sent_in_order(site) if a == address]
        assert stages == ["announce", "start", "complete"], (window, address)


def test_work_under_way_ended_early_still_gets_its_completion(
    run_cli: CliRunner, site: Path
) -> None:
    """Told "in progress", then ended at a time before it was recorded: the completion goes."""
    window = add(run_cli, "2030-06-12T03:00:00-06:00", "2030-06-12T02:00:00-06:00", "3h")
    assert send(run_cli, "2030-06-12T03:01:00-06:00").startswith("sent 2,")
    done = run_cli("--now", "2030-06-12T03:10:00-06:00", "complete", window, "--at",
                   "2030-06-12T02:50:00-06:00")  # fmt: skip
    assert done.code == 0, done.err
    assert send(run_cli, "2030-06-12T03:15:00-06:00").startswith("sent 2,")
    assert [n for n, _ in sent_in_order(site)] == [f"{window}/announce"] * 2 + [
        f"{window}/complete"
    ] * 2


def test_short_work_recorded_under_way_and_over_before_the_next_send_is_still_told(
    run_cli: CliRunner, site: Path
) -> None:
    """Recorded at 03:00 while under way, ended at 03:01, first send at 03:05: the announce
    is not lost; it says what is true when it goes (performed), then the completion."""
    assert send(run_cli, "2030-06-12T02:55:00-06:00").startswith("sent 0,")
    window = add(run_cli, "2030-06-12T03:00:00-06:00", "2030-06-12T02:00:00-06:00", "3h")
    done = run_cli("--now", "2030-06-12T03:02:00-06:00", "complete", window, "--at",
                   "2030-06-12T03:01:00-06:00")  # fmt: skip
    assert done.code == 0, done.err
    result = run_cli("--now", "2030-06-12T03:05:00-06:00", "send")
    assert result.code == 0, result.err
    assert result.out.strip().startswith("sent 4, failed 0, expired 0")
    assert subjects(site)[f"{window}/announce"].startswith(
        "[CallTower] Unscheduled maintenance performed:"
    )
    for address in TOLD:
        stages = [n.split("/")[1] for n, a in sent_in_order(site) if a == address]
        assert stages == ["announce", "complete"]


def test_work_under_way_is_judged_by_the_hours_still_to_come(
    run_cli: CliRunner, site: Path
) -> None:
    """Begun at 22:00 (inside the hours to avoid), recorded at 23:30 when what is left is
    outside them: nothing is left to move, so no --urgent is asked for."""
    add(run_cli, "2030-06-12T23:30:00-06:00", "2030-06-12T22:00:00-06:00", "3h")
    refused = run_cli("--now", "2030-06-12T12:30:00-06:00", "add", "--start",
                      "2030-06-12T10:00:00-06:00", "--duration", "4h", *DETAILS)  # fmt: skip
    assert refused.code == 1
    assert "mark it urgent: it is under way (--urgent)" in refused.err
