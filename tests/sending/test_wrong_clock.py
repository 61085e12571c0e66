"""A clock ahead cannot lose notices: a `send` whose clock ran ahead (`--now` in the future,
a host clock running fast) marks notices expired that still mean something at the real time;
they go out at their real due time, `notices` shows them as pending, and no status post
announces a notice nobody was sent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, deliveries, send, write_contacts

APRIL = "monthly-2030-04-19"  # Fri 2030-04-19 22:00 MDT; reminder Fri 04-12 09:00 MDT
AHEAD = "2030-06-01T12:00:00Z"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_contacts(tmp_path, CONTACTS)
    return tmp_path


@pytest.fixture
def ahead(run_cli: CliRunner, site: Path) -> Path:
    """A first send at the real time (early March 2030), then one with a clock ahead."""
    assert send(run_cli, "2030-03-01T12:00:00-07:00").startswith("sent ")
    result = run_cli("--now", AHEAD, "send")
    assert result.code == 0, result.err
    assert f"expired: {APRIL}/week-before (4 recipients) was due at 2030-04-12T15:00:00Z" in (
        result.err
    )
    assert "came due while" not in result.err  # says what it knows, not a guess
    return site


def notice_state(run_cli: CliRunner, now: str, notice_id: str) -> tuple[int, str]:
    result = run_cli("--now", now, "notices", "--days", "30", "--format", "json")
    assert result.code == 0, result.err
    found = {n["id"]: (n["recipients"], n["state"]) for n in json.loads(result.out)}
    assert notice_id in found, (now, sorted(found))
    return found[notice_id]


def test_notices_expired_by_a_clock_ahead_go_out_at_their_real_due_time(
    run_cli: CliRunner, ahead: Path
) -> None:
    assert deliveries(ahead, f"{APRIL}/").total() == 0
    assert notice_state(run_cli, "2030-04-05T12:00:00-06:00", f"{APRIL}/week-before") == (
        4,
        "pending",
    )
    assert send(run_cli, "2030-04-12T08:59:00-06:00").startswith("sent 0,")
    assert send(run_cli, "2030-04-12T09:00:00-06:00").startswith("sent 4,")
    assert deliveries(ahead, f"{APRIL}/week-before").total() == 4
    assert send(run_cli, "2030-04-19T22:00:00-06:00").startswith("sent 4,")  # its start
    assert send(run_cli, "2030-04-20T04:00:00-06:00").startswith("sent 4,")  # its end
    assert notice_state(run_cli, "2030-04-13T05:00:00-06:00", f"{APRIL}/week-before") == (
        4,
        "sent",
    )


def test_a_notice_late_but_meaningful_is_sent_once_the_clock_is_right(
    run_cli: CliRunner, ahead: Path
) -> None:
    """The reminder was due on 04-12; a real run on 04-15 (cron was down) still sends it:
    it means something until the window starts."""
    assert send(run_cli, "2030-04-15T10:00:00-06:00").startswith("sent 4,")
    assert deliveries(ahead, f"{APRIL}/week-before").total() == 4


def test_no_status_post_announces_a_notice_nobody_was_sent(run_cli: CliRunner, ahead: Path) -> None:
    def posted() -> set[str]:
        index = ahead / "notices" / "index.json"
        if not index.exists():
            return set()
        return {post["notice"] for post in json.loads(index.read_text())["posts"]}

    assert not any(notice.startswith(APRIL) for notice in posted())
    assert send(run_cli, "2030-04-12T09:00:00-06:00").startswith("sent 4,")
    assert f"{APRIL}/week-before" in posted()  # posted once it was sent
    assert posted() <= {notice for notice, _ in deliveries(ahead)}


def test_a_notice_with_nobody_to_tell_is_not_posted(run_cli: CliRunner, site: Path) -> None:
    write_contacts(site, ["Beta,BETA-9,Cy,,cy@beta.example,,maintenance,connect,"])
    added = run_cli(
        "--now", "2030-03-01T12:00:00-07:00", "add", "--start", "2030-03-02T01:00:00-07:00",
        "--duration", "1h", "--product", "teams", "--summary", "Patch", "--description", "Patch.",
        "--justification", "Fix.",
    )  # fmt: skip
    assert added.code == 0, added.err
    result = run_cli("--now", "2030-03-01T12:01:00-07:00", "send")
    assert result.code == 1
    assert "reached no one" in result.err
    index = site / "notices" / "index.json"
    assert not index.exists() or json.loads(index.read_text())["posts"] == []


def test_notices_that_expired_while_cron_was_down_longer_than_the_span_are_reported(
    run_cli: CliRunner, site: Path
) -> None:
    """Cron down from January to June, longer than publish.days_back (90 days): the notices
    of February's window still expire with a row each and a line on stderr, so `history`
    keeps a trace of them."""
    assert send(run_cli, "2030-01-02T12:00:00-07:00").startswith("sent ")
    result = run_cli("--now", "2030-06-01T12:00:00-06:00", "send")
    assert result.code == 0, result.err
    for stage in ("week-before", "start", "complete"):
        assert f"expired: monthly-2030-02-15/{stage} (4 recipients) was due at" in result.err
    noticed = json.loads(run_cli("--now", "2030-06-01T12:01:00-06:00", "history",
                                 "--format", "json").out)["notices"]  # fmt: skip
    february = {n["notice"]: n["expired"] for n in noticed if "2030-02-15" in n["notice"]}
    assert february == {f"monthly-2030-02-15/{s}": 4 for s in ("week-before", "start", "complete")}


def test_a_run_with_a_clock_far_behind_does_not_make_the_next_look_back_for_decades(
    run_cli: CliRunner, site: Path
) -> None:
    assert send(run_cli, "2001-01-01T00:00:00Z").startswith("sent ")
    result = run_cli("--now", "2030-06-14T09:00:00-06:00", "send")
    assert result.code == 0, result.err
    expired = int(result.out.split("expired ")[1].split(",")[0])
    assert 0 < expired < 400  # a year and the published span at most (not 4,392: thirty years)


def test_a_row_whose_notice_is_no_longer_due_is_not_said_to_wait_for_another_host(
    run_cli: CliRunner, site: Path
) -> None:
    assert send(run_cli, "2030-06-14T09:05:00-06:00").startswith("sent 4,")
    db = sqlite3.connect(site / ".ctmaint" / "state.db")
    with db:
        db.execute("UPDATE deliveries SET state = 'pending' WHERE recipient = 'ann@acme.example'")
    db.close()
    moved = run_cli("--now", "2030-06-14T09:06:00-06:00", "reschedule", "monthly-2030-06-21",
                    "--start", "2030-08-02T22:00:00-06:00")  # fmt: skip
    assert moved.code == 0, moved.err
    result = run_cli("--now", "2030-06-14T09:07:00-06:00", "send")
    assert "left pending" not in result.err
