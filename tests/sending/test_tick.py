"""Every cron tick does the real work: `send` decides from the schedule, the changes, the
contacts and the ledger each time it runs, never from a record of an earlier run. A digest
of a run's inputs cannot know them all (the time-zone database, library versions), so any
change to any of them is obeyed on the very next tick.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from ctmaint.model.policy import embedded_policy_text
from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, MONTHLY, MONTHLY_TO, deliveries, send, write_contacts

REMINDER = "2030-06-14T09:00:00-06:00"  # the week-before reminder of MONTHLY is due
ZERO = "sent 0, failed 0, expired 0, pending 0"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_contacts(tmp_path, CONTACTS)
    return tmp_path


@pytest.fixture
def reminded(run_cli: CliRunner, site: Path) -> Path:
    """The reminder went out at 09:00; a tick at 09:05 found nothing to do."""
    assert send(run_cli, REMINDER).startswith("sent 4,")
    assert send(run_cli, "2030-06-14T09:05:00-06:00") == ZERO
    return site


def settings(site: Path) -> dict[str, str]:
    db = sqlite3.connect(site / ".ctmaint" / "state.db")
    try:
        return dict(db.execute("SELECT key, value FROM settings").fetchall())
    finally:
        db.close()


def test_a_tick_with_nothing_to_do_leaves_no_record_to_answer_the_next_from(
    reminded: Path,
) -> None:
    assert set(settings(reminded)) == {"send_epoch", "last_send", "ledger_id"}


def changed_zone_database(folder: Path, zone: str, instead: str) -> Path:
    """A private copy of the zone database in which ``zone`` has the rules of ``instead``:
    what a tzdata update does when a government changes its clocks at short notice."""
    source = resources.files("tzdata.zoneinfo").joinpath(*instead.split("/"))
    target = folder.joinpath(*zone.split("/"))
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes())
    return folder


def tick(site: Path, now: str, tzpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`ctmaint send` as cron runs it: a new process, with its own zone database if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "PYTHONTZ"))}
    if tzpath is not None:
        env["PYTHONTZPATH"] = str(tzpath)
    return subprocess.run(
        [sys.executable, "-m", "ctmaint", "--now", now, "send"],
        cwd=site, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_changed_zone_database_is_obeyed_on_the_next_tick(site: Path, tmp_path: Path) -> None:
    """Denver moves to Chicago's clock between two ticks: the reminder, due at 09:00 local,
    is now due at 14:00Z instead of 15:00Z. The tick at 14:10Z sends it; the tick before,
    under the old rules, had nothing to do."""
    before = tick(site, "2030-06-14T13:50:00Z")
    assert (before.returncode, before.stdout.strip()) == (0, ZERO), before.stderr
    tzpath = changed_zone_database(tmp_path / "zoneinfo", "America/Denver", "America/Chicago")
    after = tick(site, "2030-06-14T14:10:00Z", tzpath)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip().startswith("sent 4,"), after.stdout
    reminded = deliveries(site, f"{MONTHLY}/week-before")
    assert {address for _, address in reminded} == MONTHLY_TO


def test_a_contact_added_to_contacts_csv_is_told_on_the_next_tick(
    run_cli: CliRunner, reminded: Path
) -> None:
    write_contacts(reminded, [*CONTACTS, "Eps,EPS-1,Flo,,flo@eps.example,,maintenance,*,"])
    assert send(run_cli, "2030-06-14T09:10:00-06:00").startswith("sent 1,")
    assert deliveries(reminded, MONTHLY)[(f"{MONTHLY}/week-before", "flo@eps.example")] == 1


def test_a_changed_policy_file_is_obeyed_on_the_next_tick(run_cli: CliRunner, site: Path) -> None:
    (site / "ctmaint.toml").write_text(embedded_policy_text())
    assert send(run_cli, REMINDER).startswith("sent 4,")
    assert send(run_cli, "2030-06-14T09:05:00-06:00") == ZERO
    policy = embedded_policy_text().replace('cron = "0 22 * * 5#3"', 'cron = "0 22 * * 5#2"')
    (site / "ctmaint.toml").write_text(policy)  # the monthly window moves to the 2nd Friday
    assert send(run_cli, "2030-06-14T09:06:00-06:00").startswith("sent 4,")
    assert deliveries(site, "monthly-2030-06-14/week-before").total() == 4  # late, still useful


def test_an_operators_change_is_told_on_the_next_tick(run_cli: CliRunner, reminded: Path) -> None:
    added = run_cli(
        "--now", "2030-06-14T09:06:00-06:00", "add", "--start", "2030-06-14T12:00:00-06:00",
        "--duration", "1h", "--products", "teams", "--summary", "Teams gateway patch",
        "--description", "Patch.", "--justification", "Security fix.", "--urgent",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert send(run_cli, "2030-06-14T09:07:00-06:00").startswith("sent 2,")  # Ann and Di


@pytest.mark.parametrize("state", ["sending", "pending", "uncertain"])
def test_a_delivery_left_waiting_is_sent_on_the_next_tick(
    run_cli: CliRunner, reminded: Path, state: str
) -> None:
    db = sqlite3.connect(reminded / ".ctmaint" / "state.db")
    with db:
        db.execute("UPDATE deliveries SET state = ? WHERE recipient = 'ann@acme.example'", (state,))
    db.close()
    assert send(run_cli, "2030-06-14T09:10:00-06:00").startswith("sent 1,")  # Ann, again


def test_a_bad_contacts_row_is_reported_on_every_tick(run_cli: CliRunner, site: Path) -> None:
    write_contacts(site, [*CONTACTS, "Bad,,X,,not-an-address,,maintenance,*,"])
    for now in (REMINDER, "2030-06-14T09:05:00-06:00", "2030-06-14T09:10:00-06:00"):
        result = run_cli("--now", now, "send")
        assert result.code == 1
        assert "left out until fixed: " in result.err


def test_a_damaged_state_is_reported_on_the_next_tick(run_cli: CliRunner, reminded: Path) -> None:
    with open(reminded / ".ctmaint" / "state.db", "ab") as state:
        state.write(b"junk")  # no longer a whole number of pages
    result = run_cli("--now", "2030-06-14T09:10:00-06:00", "send")
    assert result.code == 1
    assert "truncated" in result.err


LATE_SUNDAY = """[calendars.late]
title = "Late Sunday work"
cron = "30 23 * * 0"
duration = "30m"
products = ["*"]
impact = "DEGRADED"
summary = "Late Sunday work"
description = "Work."
justification = "Needed."
notices = ["week-before"]
status_page = false

[calendars.skype-cert]"""


def test_a_reminder_on_a_fall_back_day_goes_out_at_its_due_time(
    run_cli: CliRunner, site: Path
) -> None:
    """A reminder at 00:00 a week before Sunday 23:30 work falls on the 25-hour fall-back
    day, 8 days and 30 minutes ahead: it is due before a span of "the longest lead plus a
    day" would reach its window. The lookahead covers it, so the first tick at its due time
    sends it."""
    policy = embedded_policy_text().replace(
        'before = "7d"\nat = "09:00"', 'before = "7d"\nat = "00:00"'
    )
    assert policy.count('at = "00:00"') >= 1
    (site / "ctmaint.toml").write_text(policy.replace("[calendars.skype-cert]", LATE_SUNDAY))
    assert send(run_cli, "2026-10-31T12:00:00Z").startswith("sent ")
    assert send(run_cli, "2026-11-01T05:50:00Z") == ZERO
    assert send(run_cli, "2026-11-01T06:00:00Z").startswith("sent 4,")
    assert deliveries(site, "late-2026-11-08/week-before").total() == 4
