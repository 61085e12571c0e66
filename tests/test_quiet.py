"""A tick with nothing due, answered from the record of the last quiet run (ctmaint.quiet).

Each test makes a quiet run, then marks the record's line so that a tick answered from it
shows: the record must be used while nothing changes, and every change that could make a
notice due (a file, an operator's change, a row, the clock, the code) means the full run.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ctmaint import cli, quiet, services
from ctmaint.changes import Add
from ctmaint.notices import lookahead
from ctmaint.policy import Policy, embedded_policy_text
from ctmaint.schedule import windows_between
from ctmaint.sendplan import next_moment
from ctmaint.vocabulary import Impact
from ctmaint.workspace import Workspace
from tests.conftest import CliRunner
from tests.test_send import CONTACTS, MONTHLY, deliveries, send, write_contacts

REMINDER = "2030-06-14T09:00:00-06:00"  # the week-before reminder of MONTHLY is due
MARK = "sent 0, failed 0, expired 0, pending 0 (from the record)"
ZERO = "sent 0, failed 0, expired 0, pending 0"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_contacts(tmp_path, CONTACTS)
    return tmp_path


def stored(site: Path) -> dict[str, object] | None:
    db = sqlite3.connect(site / ".ctmaint" / "state.db")
    try:
        row = db.execute("SELECT value FROM settings WHERE key = 'quiet'").fetchone()
    finally:
        db.close()
    return None if row is None else dict(json.loads(row[0]))


def mark(site: Path) -> None:
    """Change the line the record answers with, so a tick answered from it shows."""
    record = stored(site)
    assert record is not None, "the quiet run left no record"
    db = sqlite3.connect(site / ".ctmaint" / "state.db")
    with db:
        db.execute(
            "UPDATE settings SET value = ? WHERE key = 'quiet'",
            (json.dumps({**record, "line": MARK}),),
        )
    db.close()


def quiet_at(run_cli: CliRunner, site: Path, now: str) -> None:
    """A quiet run at ``now``, its record marked."""
    assert send(run_cli, now) == ZERO
    mark(site)


@pytest.fixture
def reminded(run_cli: CliRunner, site: Path) -> Path:
    """The reminder went out at 09:00; a quiet run at 09:05 left a marked record."""
    assert send(run_cli, REMINDER).startswith("sent 4,")
    quiet_at(run_cli, site, "2030-06-14T09:05:00-06:00")
    return site


def test_a_quiet_run_records_until_when_nothing_can_be_due(
    run_cli: CliRunner, reminded: Path
) -> None:
    record = stored(reminded)
    assert record is not None
    assert record["since"] == "2030-06-14T15:05:00+00:00"
    assert record["until"] == "2030-06-14T16:05:00+00:00"  # nothing due within the hour
    assert record["inputs"] == [
        str(Path(quiet.__file__).parent / "data" / "policy.toml"),
        str(reminded / "contacts.csv"),
    ]
    text = json.dumps(record)
    for address in ("ann@acme.example", "Acme"):
        assert address not in text  # digests, not contents
    for minute in ("09:06", "09:30", "10:04"):
        assert send(run_cli, f"2030-06-14T{minute}:00-06:00") == MARK
    assert send(run_cli, "2030-06-14T10:05:00-06:00") == ZERO  # the span is over: full run
    assert stored(reminded)["since"] == "2030-06-14T16:05:00+00:00"  # type: ignore[index]


def test_the_record_ends_when_the_next_notice_is_due(run_cli: CliRunner, site: Path) -> None:
    assert send(run_cli, REMINDER).startswith("sent 4,")
    quiet_at(run_cli, site, "2030-06-21T21:30:00-06:00")  # the window starts at 22:00
    assert stored(site)["until"] == "2030-06-22T04:00:00+00:00"  # type: ignore[index]
    assert send(run_cli, "2030-06-21T21:59:59-06:00") == MARK
    assert send(run_cli, "2030-06-21T22:00:00-06:00").startswith("sent 4,")
    assert deliveries(site, f"{MONTHLY}/start").total() == 4


def test_a_contact_added_to_contacts_csv_is_told_on_the_next_tick(
    run_cli: CliRunner, reminded: Path
) -> None:
    write_contacts(reminded, [*CONTACTS, "Eps,EPS-1,Flo,,flo@eps.example,,maintenance,*,"])
    assert send(run_cli, "2030-06-14T09:10:00-06:00").startswith("sent 1,")
    assert deliveries(reminded, MONTHLY)[(f"{MONTHLY}/week-before", "flo@eps.example")] == 1


def test_a_changed_policy_file_means_the_full_run(run_cli: CliRunner, site: Path) -> None:
    assert run_cli("init", "--force").code == 0  # ./ctmaint.toml, the shipped policy
    write_contacts(site, CONTACTS)
    assert send(run_cli, REMINDER).startswith("sent 4,")
    quiet_at(run_cli, site, "2030-06-14T09:05:00-06:00")
    assert send(run_cli, "2030-06-14T09:06:00-06:00") == MARK
    policy = site / "ctmaint.toml"
    policy.write_text(policy.read_text() + "\n# reviewed\n")
    assert send(run_cli, "2030-06-14T09:07:00-06:00") == ZERO


def test_an_operators_change_is_told_on_the_next_tick(run_cli: CliRunner, reminded: Path) -> None:
    added = run_cli(
        "--now", "2030-06-14T09:06:00-06:00", "add", "--start", "2030-06-14T12:00:00-06:00",
        "--duration", "1h", "--products", "teams", "--summary", "Teams gateway patch",
        "--description", "Patch.", "--justification", "Security fix.", "--urgent",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert send(run_cli, "2030-06-14T09:07:00-06:00").startswith("sent 2,")  # Ann and Di


@pytest.mark.parametrize("state", ["sending", "pending", "uncertain"])
def test_a_delivery_left_waiting_means_the_full_run(
    run_cli: CliRunner, reminded: Path, state: str
) -> None:
    db = sqlite3.connect(reminded / ".ctmaint" / "state.db")
    with db:
        db.execute("UPDATE deliveries SET state = ? WHERE recipient = 'ann@acme.example'", (state,))
    db.close()
    assert send(run_cli, "2030-06-14T09:10:00-06:00").startswith("sent 1,")  # Ann, again


def test_a_clock_before_the_record_means_the_full_run(run_cli: CliRunner, reminded: Path) -> None:
    assert send(run_cli, "2030-06-14T09:04:59-06:00") == ZERO


def test_other_options_or_transport_environment_mean_the_full_run(
    run_cli: CliRunner, reminded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = ("--now", "2030-06-14T09:10:00-06:00", "send")
    assert run_cli(*now, "--notices", "elsewhere").out.strip() == ZERO
    mark(reminded)
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    refused = run_cli(*now, "--transport", "sendgrid")
    assert (refused.code, refused.out) == (1, "")
    assert "SENDGRID_API_KEY is not set" in refused.err
    with monkeypatch.context() as patched:
        patched.setenv("CTMAINT_SENDGRID_HOST", "http://127.0.0.1:9")
        assert run_cli(*now).out.strip() == ZERO  # not the record's: the environment differs


def test_a_bad_contacts_row_is_reported_on_every_tick(run_cli: CliRunner, site: Path) -> None:
    write_contacts(site, [*CONTACTS, "Bad,,X,,not-an-address,,maintenance,*,"])
    for now in (REMINDER, "2030-06-14T09:05:00-06:00", "2030-06-14T09:10:00-06:00"):
        result = run_cli("--now", now, "send")
        assert result.code == 1
        assert "left out until fixed: " in result.err
    assert stored(site) is None


@pytest.mark.parametrize(
    "value", ["{", "[]", '{"digest": 1}', '{"digest": "x", "since": "soon"}', "\udcff"]
)
def test_a_damaged_record_means_the_full_run(
    run_cli: CliRunner, reminded: Path, value: str
) -> None:
    db = sqlite3.connect(reminded / ".ctmaint" / "state.db")
    with db:
        db.execute(
            "UPDATE settings SET value = ? WHERE key = 'quiet'",
            (value.encode("utf-8", "surrogateescape"),),
        )
    db.close()
    result = run_cli("--now", "2030-06-14T09:10:00-06:00", "send")
    assert (result.code, result.out.strip(), result.err) == (0, ZERO, "")
    assert stored(reminded) is not None  # written anew


def test_a_run_that_does_anything_forgets_the_record_first(
    run_cli: CliRunner, reminded: Path
) -> None:
    assert send(run_cli, "2030-06-21T22:00:00-06:00").startswith("sent 4,")
    assert stored(reminded) is None


def test_a_change_made_while_a_run_planned_keeps_it_from_recording(site: Path) -> None:
    now = datetime(2030, 6, 14, 14, 55, tzinfo=UTC)  # nothing due yet
    state = site / ".ctmaint" / "state.db"
    planner = Workspace.locate(None, state, now, site)
    operator = Workspace.locate(None, state, now, site)
    try:
        assert planner.changes == []  # read before the operator's change
        work = Add(
            start=now + timedelta(days=30), end=now + timedelta(days=30, hours=1),
            products=("teams",), impact=Impact.DEGRADED, summary="Later work",
            description="Work.", justification="Needed.", urgent=True,
        )  # fmt: skip
        services.add(operator, work, "op")
        report = services.send(planner, "outbox", site / "notices", dry_run=False)
        assert report.summary() == ZERO
        assert stored(site) is None  # the plan did not see the change: no record
    finally:
        planner.close()
        operator.close()


def test_a_shared_state_keeps_no_record() -> None:
    now = datetime(2030, 6, 14, tzinfo=UTC)
    url = "postgresql://ctmaint@127.0.0.1:9/ctmaint"
    assert Workspace(None, url, now, Path.cwd()).send_tick(None, Path("notices"), None) is None


def test_any_change_to_ctmaints_own_files_changes_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "ctmaint"
    (code / "render").mkdir(parents=True)
    module = code / "render" / "rules.py"
    module.write_text("RULE = 1\n")
    monkeypatch.setattr(quiet, "_CODE", code)
    tick = quiet.Tick(tmp_path, tmp_path / "p.toml", tmp_path / "s.db", None, Path("n"), None)
    before = quiet.digest(tick, {}, (5, 0))
    assert quiet.digest(tick, {}, (5, 0)) == before
    module.write_text("RULE = 2\n")
    os.utime(module, ns=(1, 1))
    assert quiet.digest(tick, {}, (5, 0)) != before
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.changed")
    assert quiet.digest(tick, {}, (5, 0)) != quiet.digest(tick, {}, (5, 1))


def test_a_tick_answered_from_the_record_loads_none_of_the_core(reminded: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ctmaint", "--now",
         "2030-06-14T09:10:00-06:00", "send"],
        cwd=reminded, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, MARK)
    modules = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if "import time:" in line
    }
    core = {"ctmaint.services", "ctmaint.policy", "ctmaint.schedule", "ctmaint.ledger"}
    assert not modules & core, sorted(modules & core)


def test_ticks_answered_from_records_say_and_send_exactly_what_full_runs_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two sites, one tick list across the November 2030 DST change: one site keeps its
    records, the other has its record removed before every tick (always the full run).
    Ticks fall just before, at and after every due time, and in between."""
    sites = {name: tmp_path / name for name in ("recorded", "full")}
    for folder in sites.values():
        folder.mkdir()
        write_contacts(folder, CONTACTS)

    def tick(name: str, now: datetime) -> tuple[int, str, str]:
        monkeypatch.chdir(sites[name])
        monkeypatch.setattr(sys, "argv", ["ctmaint", "--now", now.isoformat(), "send"])
        capsys.readouterr()
        try:
            cli.main()
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    start, end = datetime(2030, 11, 1, 6, tzinfo=UTC), datetime(2030, 11, 17, 12, tzinfo=UTC)
    planned = json.loads(subprocess.run(
        [sys.executable, "-m", "ctmaint", "--now", start.isoformat(), "notices", "--days", "17",
         "--format", "json"], cwd=sites["full"], capture_output=True, text=True, check=True,
    ).stdout)  # fmt: skip
    dues = {datetime.fromisoformat(n["due"]).astimezone(UTC) for n in planned}
    assert len(dues) >= 4  # Connect's day-before; the monthly reminder, start and end
    grid = range(int((end - start) / timedelta(minutes=97)))  # and each again 10 min later
    moments = {start + timedelta(minutes=97 * k + extra) for k in grid for extra in (0, 10)}
    for due in dues:
        moments |= {
            due - timedelta(minutes=1),
            due,
            due + timedelta(minutes=1),
            due + timedelta(minutes=6),
        }
    operator_at = datetime(2030, 11, 10, 18, 2, tzinfo=UTC)  # unscheduled work is added
    moments |= {operator_at + timedelta(minutes=m) for m in (1, 2, 60, 120)}
    for due in (datetime(2030, 11, 12, 6, tzinfo=UTC), datetime(2030, 11, 12, 7, tzinfo=UTC)):
        moments |= {due - timedelta(minutes=1), due, due + timedelta(minutes=3)}
    answered = 0
    for now in sorted(m for m in moments if start <= m <= end):
        if now > operator_at:
            operator_at = end + timedelta(days=1)
            for name in sites:
                monkeypatch.chdir(sites[name])
                monkeypatch.setattr(sys, "argv", ["ctmaint", "--now", now.isoformat(), "add",
                    "--start", "2030-11-12T06:00:00Z", "--duration", "1h", "--products", "teams",
                    "--summary", "Gateway patch", "--description", "Patch.",
                    "--justification", "Fix.", "--urgent"])  # fmt: skip
                with pytest.raises(SystemExit) as done:
                    cli.main()
                assert done.value.code in (0, None)
        full_state = sites["full"] / ".ctmaint" / "state.db"
        if full_state.exists():
            db = sqlite3.connect(full_state)
            with db:
                db.execute("DELETE FROM settings WHERE key = 'quiet'")
            db.close()
        before = stored(sites["recorded"]) if (sites["recorded"] / ".ctmaint").exists() else None
        recorded = tick("recorded", now)
        assert recorded == tick("full", now), now
        answered += before is not None and stored(sites["recorded"]) == before
    assert answered > len(moments) // 3  # many ticks were answered from a record
    assert deliveries(sites["recorded"]) == deliveries(sites["full"])
    sent = deliveries(sites["full"])
    assert sum(sent.values()) == 14 + 2 * 3  # the unscheduled work: announced, started, ended
    assert {notice.split("/")[1] for notice, _ in sent if notice.startswith("unscheduled")} == {
        "announce",
        "start",
        "complete",
    }


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
    day" would reach its window. The lookahead covers it, and a quiet run's record ends
    when a window enters the span, so the first tick at its due time sends it."""
    policy = embedded_policy_text().replace(
        'before = "7d"\nat = "09:00"', 'before = "7d"\nat = "00:00"'
    )
    assert policy.count('at = "00:00"') >= 1
    (site / "ctmaint.toml").write_text(policy.replace("[calendars.skype-cert]", LATE_SUNDAY))
    assert send(run_cli, "2026-10-31T12:00:00Z").startswith("sent ")
    assert send(run_cli, "2026-11-01T05:50:00Z") == ZERO
    assert stored(site) is not None
    assert stored(site)["until"] <= "2026-11-01T06:00:00+00:00"  # type: ignore[index,operator]
    assert send(run_cli, "2026-11-01T06:00:00Z").startswith("sent 4,")
    assert deliveries(site, "late-2026-11-08/week-before").total() == 4


def test_the_next_moment_counts_windows_entering_the_span(shipped: Policy) -> None:
    now = datetime(2030, 6, 1, tzinfo=UTC)
    windows = windows_between(shipped, now, now + timedelta(days=30))
    monthly = next(w for w in windows if w.calendar == "monthly")
    entry = monthly.start - lookahead(shipped)
    just_before = entry - timedelta(minutes=5)
    found = next_moment(shipped, [monthly], [], just_before, just_before + timedelta(hours=1))
    assert found == entry


def test_the_packaged_policy_named_with_config_is_not_the_embedded_one(
    run_cli: CliRunner, reminded: Path
) -> None:
    """--config naming the packaged policy file reads contacts beside that file, not here."""
    packaged = Path(quiet.__file__).parent / "data" / "policy.toml"
    result = run_cli("--config", str(packaged), "--now", "2030-06-14T09:10:00-06:00", "send")
    assert result.out.strip() != MARK


def test_a_damaged_state_is_reported_by_the_tick_as_by_the_full_run(
    run_cli: CliRunner, reminded: Path
) -> None:
    with open(reminded / ".ctmaint" / "state.db", "ab") as state:
        state.write(b"junk")  # no longer a whole number of pages
    result = run_cli("--now", "2030-06-14T09:10:00-06:00", "send")
    assert result.code == 1
    assert "truncated" in result.err


def test_a_tick_leaves_the_work_to_the_full_run_while_another_send_holds_the_lock(
    reminded: Path,
) -> None:
    state = reminded / ".ctmaint" / "state.db"
    assert quiet._usable(state)
    handle = os.open(quiet.send_lock_file(state), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert not quiet._usable(state)  # the full run waits, then says another run holds it
    finally:
        os.close(handle)
    assert quiet._usable(state)


def test_a_file_that_vanishes_from_the_package_does_not_break_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "ctmaint"
    code.mkdir()
    (code / ".#cli.py").symlink_to(tmp_path / "nowhere")  # an editor's lock file
    monkeypatch.setattr(quiet, "_CODE", code)
    tick = quiet.Tick(tmp_path, None, tmp_path / "s.db", None, Path("n"), None)
    assert len(quiet.digest(tick, {}, ())) == 64
