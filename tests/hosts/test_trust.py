"""Shared state you can trust (issue 20): one ledger per database whatever the role or the
search path, no migration under a running send, bounded lock waits, a lost connection said
in one sentence, and no password on screen. Every test runs against the real server."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from ctmaint.model.policy import embedded_policy_text
from ctmaint.state.dialects import WRITE_LOCK
from ctmaint.state.postgres import SEND_LOCK
from tests.hosts.conftest import Host, history, make_hosts
from tests.sending.test_send import CONTACTS, CTMAINT, MONTHLY, MONTHLY_TO, write_contacts

REMINDER = "2030-06-14T09:00:00-06:00"
MANY = [f"Org {i},ORG-{i},Person {i},,p{i}@org{i}.example,,maintenance,*," for i in range(1500)]
PASSWORD = "ctmaint-test-pw"


def connect(url: str) -> object:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def with_user(url: str, user: str, password: str, query: str = "") -> str:
    parts = urlsplit(url)
    netloc = f"{quote(user)}:{quote(password)}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@pytest.fixture
def role(database: str) -> Iterator[tuple[str, str]]:
    """A second login role (name, password), dropped after the test; skipped where the
    test server's role may not create roles."""
    import psycopg

    name, password = f"r_{uuid.uuid4().hex[:10]}", "other-pw"
    with psycopg.connect(database, autocommit=True) as db:
        try:
            db.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("the test server's role may not create roles")
        db.execute(f"GRANT {name} TO CURRENT_USER")
    try:
        yield name, password
    finally:
        with psycopg.connect(database, autocommit=True) as db:
            db.execute(f"DROP OWNED BY {name}")
            db.execute(f"DROP ROLE {name}")


def grant_ledger(database: str, name: str) -> None:
    with connect(database) as db:  # type: ignore[attr-defined]
        db.execute(f"GRANT USAGE ON SCHEMA ctmaint TO {name}")
        db.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA ctmaint TO {name}")
        db.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA ctmaint TO {name}")


def ctmaint_run(host: Host, *args: str) -> subprocess.CompletedProcess[str]:
    """``ctmaint ARGS`` on ``host``, whatever its exit code."""
    return subprocess.run(
        [str(CTMAINT), *args],
        cwd=host.folder, env=host.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def first_sends_then_role_joins(
    tmp_path: Path, database: str, role: tuple[str, str], *, grant: bool, sql: str = ""
) -> tuple[Host, Host]:
    """Two hosts: the first sends the reminder on the ledger it makes; then ``sql`` runs
    (``{role}`` naming the role) and the second host joins as ``role`` (given rights on
    the ledger's tables if ``grant``)."""
    name, password = role
    first, second = make_hosts(tmp_path, database, 2, CONTACTS)
    first.run("--now", REMINDER, "send")
    if grant:
        grant_ledger(database, name)
    if sql:
        with connect(database) as db:  # type: ignore[attr-defined]
            db.execute(sql.format(role=name))
    second.state = with_user(database, name, password)
    return first, second


def ledger_named(check_output: str) -> str:
    found = re.search(r"is reachable: ledger (\w+) in the schema (\w+)", check_output)
    assert found, check_output
    return f"{found.group(1)}@{found.group(2)}"


# -- one ledger per database ------------------------------------------------------------------


def test_a_role_with_a_schema_of_its_own_shares_the_one_ledger(
    tmp_path: Path, database: str, role: tuple[str, str]
) -> None:
    """The role's own schema comes first on its default search path (CREATE SCHEMA
    AUTHORIZATION): it still finds the ledger the first host made, sends nothing twice,
    and `check` names the same ledger on both hosts."""
    name, password = role
    with connect(database) as db:  # type: ignore[attr-defined]
        db.execute(f"CREATE SCHEMA AUTHORIZATION {name}")
    first, second = make_hosts(tmp_path, database, 2, CONTACTS)
    first.run("--now", REMINDER, "send")
    grant_ledger(database, name)
    second.state = with_user(database, name, password)
    out = second.run("--now", "2030-06-14T09:01:00-06:00", "send")
    assert out.strip() == "sent 0, failed 0, expired 0, pending 0"
    assert ledger_named(first.run("check")) == ledger_named(second.run("check"))
    assert second.outbox() == Counter()
    assert {a for _, a in first.outbox()} == MONTHLY_TO


@pytest.mark.parametrize(
    "query", ["options=-c%20search_path%3Delsewhere", "options=-c%20search_path%3Dpublic"]
)
def test_a_search_path_in_the_url_reads_the_one_ledger(
    tmp_path: Path, database: str, query: str
) -> None:
    first, second = make_hosts(tmp_path, database, 2, CONTACTS)
    first.run("--now", REMINDER, "send")
    second.state = f"{database}?{query}"
    assert history(second) == history(first)
    assert history(second)["notices"]
    out = second.run("--now", "2030-06-14T09:01:00-06:00", "send")
    assert out.strip() == "sent 0, failed 0, expired 0, pending 0"
    assert ledger_named(first.run("check")) == ledger_named(second.run("check"))


def test_a_role_whose_search_path_names_a_missing_schema_sees_what_was_sent(
    tmp_path: Path, database: str, role: tuple[str, str]
) -> None:
    first, second = first_sends_then_role_joins(
        tmp_path, database, role, grant=True, sql="ALTER ROLE {role} SET search_path = nowhere"
    )
    assert history(second)["notices"] == history(first)["notices"]
    assert "nothing has been sent yet" not in second.run("history")


def test_a_role_without_rights_on_the_ledger_is_told_in_one_sentence(
    tmp_path: Path, database: str, role: tuple[str, str]
) -> None:
    _, second = first_sends_then_role_joins(tmp_path, database, role, grant=False)
    done = ctmaint_run(second, "--now", REMINDER, "send")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "refused this role" in done.stderr
    assert "other-pw" not in done.stderr
    assert second.outbox() == Counter()


def test_a_database_holding_two_ledgers_is_refused(tmp_path: Path, database: str) -> None:
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    host.run("--now", REMINDER, "send")
    with connect(database) as db:  # type: ignore[attr-defined]
        db.execute("CREATE SCHEMA stray")
        db.execute("CREATE TABLE stray.ctmaint_schema (version INTEGER NOT NULL)")
    for command in (("send",), ("history",), ("check",)):
        done = ctmaint_run(host, "--now", REMINDER, *command)
        assert done.returncode == 1, (command, done.stderr)
        assert "holds 2 ctmaint ledgers (in the schemas ctmaint, stray)" in done.stderr
        assert "Traceback" not in done.stderr


# -- migration under a running send -----------------------------------------------------------


def test_migrating_while_a_send_runs_waits_for_it_and_sends_nothing_twice(
    tmp_path: Path, database: str
) -> None:
    host = make_hosts(tmp_path, database, 1, MANY[:600])[0]  # a send well inside 30 s
    state = host.folder / ".ctmaint" / "state.db"
    local = ("--state", str(state))
    running = host.start(*local, "--now", REMINDER, "send")
    deadline = time.monotonic() + 60
    box = host.folder / ".ctmaint" / "outbox"
    while not (box.exists() and any(box.iterdir())):  # the send is under way
        assert running.poll() is None, running.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    migrated = host.run(*local, "migrate-state", "--to", database)  # waits for the lock
    out, err = running.communicate(timeout=120)
    assert running.returncode == 0, err
    assert out.strip().splitlines()[-1].startswith("sent 600,")
    assert migrated.startswith("copied ")
    again = host.run("--now", "2030-06-14T09:01:00-06:00", "send")  # on the shared state
    assert again.strip() == "sent 0, failed 0, expired 0, pending 0"
    assert max(host.outbox().values()) == 1
    assert sum(host.outbox().values()) == 600
    moved = ctmaint_run(host, *local, "--now", "2030-06-14T09:02:00-06:00", "send")
    assert moved.returncode == 1
    assert "was moved by `ctmaint migrate-state`" in moved.stderr
    assert PASSWORD not in moved.stderr


def test_migrating_refuses_while_another_send_keeps_the_lock(tmp_path: Path, database: str) -> None:
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    state = host.folder / ".ctmaint" / "state.db"
    local = ("--state", str(state))
    host.run(*local, "--now", REMINDER, "send")
    handle = os.open(state.with_name("state.db.send.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        started = time.monotonic()
        refused = host.run(*local, "migrate-state", "--to", database, code=1)
        assert time.monotonic() - started >= 29
    finally:
        os.close(handle)
    assert refused == ""
    assert history(host)["notices"] == []  # the shared state is still empty


def test_migrating_refuses_rows_in_flight(tmp_path: Path, database: str) -> None:
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    state = host.folder / ".ctmaint" / "state.db"
    local = ("--state", str(state))
    host.run(*local, "--now", REMINDER, "send")
    db = sqlite3.connect(state)
    with db:
        db.execute("UPDATE deliveries SET state = 'sending' WHERE recipient = 'ann@acme.example'")
    db.close()
    done = ctmaint_run(host, *local, "migrate-state", "--to", database)
    assert done.returncode == 1
    assert "1 delivery of" in done.stderr
    assert "is in flight" in done.stderr
    host.run(*local, "--now", "2030-06-14T09:01:00-06:00", "send")  # settles it: sent again
    assert host.run(*local, "migrate-state", "--to", database).startswith("copied ")


# -- bounded waits, lost sessions -------------------------------------------------------------


def ctmaint(host: Host, *args: str) -> subprocess.Popen[str]:
    return host.start(*args)


def test_a_session_holding_the_write_lock_bounds_every_wait(tmp_path: Path, database: str) -> None:
    """A frozen host holds the write lock in an open transaction: `cancel` says so in one
    sentence after 30 s, `send` leaves quietly; both end, neither changes anything."""
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    host.run("--now", "2030-06-01T12:00:00-06:00", "send")  # makes the ledger
    frozen = connect(database)
    frozen.execute("BEGIN")  # type: ignore[attr-defined]
    frozen.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))  # type: ignore[attr-defined]
    try:
        started = time.monotonic()
        cancel = host.start("--now", "2030-06-01T12:01:00-06:00", "cancel", MONTHLY,
                            "--reason", "Vendor recall")  # fmt: skip
        send = host.start("--now", REMINDER, "send")
        _, cancel_err = cancel.communicate(timeout=90)
        _, send_err = send.communicate(timeout=90)
        waited = time.monotonic() - started
    finally:
        frozen.close()  # type: ignore[attr-defined]
    assert 29 <= waited < 80
    assert cancel.returncode == 1
    assert "stayed locked by another session for 30 s" in cancel_err
    assert cancel_err.count("\n") == 1
    assert send.returncode == 0, send_err
    assert "stayed locked by another session" in send_err
    assert "Traceback" not in cancel_err + send_err
    assert host.outbox() == Counter()
    assert history(host)["changes"] == []
    host.run("--now", REMINDER, "send")  # free again
    assert {a for _, a in host.outbox()} == MONTHLY_TO


def backends(database: str, holding_send_lock: bool) -> list[int]:
    """The pids of ctmaint's sessions on ``database``: those holding the send lock, or the
    others."""
    name = urlsplit(database).path.strip("/")
    with connect(database) as db:  # type: ignore[attr-defined]
        lock_holders = {
            int(pid)
            for (pid,) in db.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted",
                (SEND_LOCK,),
            )
        }
        sessions = {
            int(pid)
            for (pid,) in db.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        }
    return sorted(lock_holders if holding_send_lock else sessions - lock_holders)


def waiting_for_a_lock(database: str) -> list[int]:
    name = urlsplit(database).path.strip("/")
    with connect(database) as db:  # type: ignore[attr-defined]
        return [
            int(pid)
            for (pid,) in db.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                (name,),
            )
        ]


def start_big_send(tmp_path: Path, database: str) -> tuple[Host, subprocess.Popen[str]]:
    host = make_hosts(tmp_path, database, 1, MANY)[0]
    host.run("--now", "2030-06-01T12:00:00-06:00", "send")  # makes the ledger
    running = host.start("--now", REMINDER, "send")
    box = host.folder / ".ctmaint" / "outbox"
    deadline = time.monotonic() + 60
    while sum(1 for _ in box.glob("*.eml")) < 100 if box.exists() else True:
        assert running.poll() is None, running.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return host, running


def terminate(database: str, pids: list[int]) -> None:
    with connect(database) as db:  # type: ignore[attr-defined]
        for pid in pids:
            db.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_send_whose_lock_session_ends_stops_claiming(tmp_path: Path, database: str) -> None:
    host, running = start_big_send(tmp_path, database)
    terminate(database, backends(database, holding_send_lock=True))
    _out, err = running.communicate(timeout=120)
    assert running.returncode == 0, err
    assert "the send lock was lost" in err
    assert "Traceback" not in err
    assert "bug" not in err
    assert sum(host.outbox().values()) < 1500  # it stopped claiming
    host.run("--now", "2030-06-14T09:01:00-06:00", "send")  # the next run finishes
    delivered = host.outbox()
    assert set(delivered) == {
        (f"{MONTHLY}/week-before", f"p{i}@org{i}.example") for i in range(1500)
    }
    assert sum(delivered.values()) - 1500 <= 25  # at most the batch in flight, again


def test_a_lost_connection_during_send_is_one_sentence_and_the_next_run_resumes(
    tmp_path: Path, database: str
) -> None:
    host, running = start_big_send(tmp_path, database)
    terminate(database, backends(database, holding_send_lock=False))
    _out, err = running.communicate(timeout=120)
    assert running.returncode == 1
    assert "the connection to the state database" in err
    assert "was lost" in err
    assert "what was done before is kept, and the next run resumes" in err
    assert "bug" not in err
    assert "Traceback" not in err
    assert PASSWORD not in err
    host.run("--now", "2030-06-14T09:01:00-06:00", "send")
    delivered = host.outbox()
    assert len(delivered) == 1500
    assert sum(delivered.values()) - 1500 <= 25


def test_a_lost_connection_during_cancel_is_one_sentence(tmp_path: Path, database: str) -> None:
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    host.run("--now", "2030-06-01T12:00:00-06:00", "send")
    frozen = connect(database)
    frozen.execute("BEGIN")  # type: ignore[attr-defined]
    frozen.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))  # type: ignore[attr-defined]
    try:
        cancel = host.start("--now", "2030-06-01T12:01:00-06:00", "cancel", MONTHLY,
                            "--reason", "Vendor recall")  # fmt: skip
        deadline = time.monotonic() + 20
        while not (waiting := waiting_for_a_lock(database)):  # the cancel waits for the lock
            assert cancel.poll() is None, cancel.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        terminate(database, waiting)
        _, err = cancel.communicate(timeout=60)
    finally:
        frozen.close()  # type: ignore[attr-defined]
    assert cancel.returncode == 1
    assert "was lost" in err
    assert "bug" not in err
    assert history(host)["changes"] == []


# -- no secret on screen ----------------------------------------------------------------------


def test_a_password_in_the_url_query_is_never_printed(tmp_path: Path, database: str) -> None:
    parts = urlsplit(database)
    bare = urlunsplit(parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}"))
    url = f"{bare}?password={PASSWORD}"
    host = make_hosts(tmp_path, url, 1, CONTACTS)[0]
    checked = host.run("check")
    assert "ctmaint:***@" in checked
    local = ("--state", str(host.folder / "local.db"))
    host.run(*local, "--now", REMINDER, "send")
    migrated = host.run(*local, "migrate-state", "--to", url)
    wrong = f"{bare.rsplit('/', 1)[0]}/no_such_db?password={PASSWORD}"
    failed = ctmaint_run(host, "--state", wrong, "history")
    assert failed.returncode == 1
    for text in (checked, migrated, failed.stderr):
        assert PASSWORD not in text
    assert "ctmaint:***@" in migrated


@pytest.mark.parametrize(
    ("netloc", "secret"),
    [
        pytest.param("ctmaint:pa@ss@127.0.0.1:55432", "ss@", id="raw_at_in_password"),
        pytest.param("ctmaint:" + PASSWORD + "@" + "h" * 300, PASSWORD, id="300_character_host"),
    ],
)
def test_urls_libpq_reads_otherwise_are_refused_without_their_secrets(
    tmp_path: Path, database: str, netloc: str, secret: str
) -> None:
    url = f"postgresql://{netloc}/ctmaint"
    write_contacts(tmp_path, CONTACTS)
    for command in (("check",), ("history",), ("send",)):
        done = subprocess.run(
            [str(CTMAINT), "--state", url, *command],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "PG"))},
        )  # fmt: skip
        assert done.returncode in (1, 2), command
        assert secret not in done.stdout + done.stderr
        assert "unexpected error" not in done.stderr
        assert "Traceback" not in done.stderr


# -- one clock -------------------------------------------------------------------------------

SKEWED_HOST = (
    "import datetime, sys, freezegun\n"
    "ahead = datetime.timedelta(minutes=float(sys.argv.pop(1)))\n"
    "freezegun.freeze_time(datetime.datetime.now(datetime.UTC) + ahead, tick=True).start()\n"
    "from ctmaint.cli.main import main\n"
    "sys.argv[0] = 'ctmaint'\n"
    "main()\n"
)


@pytest.mark.parametrize(("minutes", "words"), [(10, "ahead of"), (-5, "behind")])
def test_a_host_whose_clock_is_off_refuses_to_send(
    tmp_path: Path, database: str, minutes: int, words: str
) -> None:
    """The host's own clock (not --now, which an operator gives on purpose) against the
    database server's: more than two minutes apart and `send` refuses, sending nothing."""
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    host.run("--now", "2030-06-01T12:00:00-06:00", "send")  # makes the ledger
    done = subprocess.run(
        [sys.executable, "-c", SKEWED_HOST, str(minutes), "--now", REMINDER, "send"],
        cwd=host.folder, env=host.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"this host's clock is {abs(minutes):.1f} minutes {words}" in done.stderr
    assert "nothing was sent" in done.stderr
    assert host.outbox() == Counter()
    in_step = subprocess.run(
        [sys.executable, "-c", SKEWED_HOST, "1", "--now", REMINDER, "send"],
        cwd=host.folder, env=host.env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert in_step.returncode == 0, in_step.stderr  # a minute is within bounds
    assert {a for _, a in host.outbox()} == MONTHLY_TO


# -- hosts that disagree ----------------------------------------------------------------------

EXTRA = "Eps,EPS-1,Flo,,flo@eps.example,,maintenance,*,"


def test_hosts_with_other_contacts_are_told_and_a_waiting_row_says_why(
    tmp_path: Path, database: str
) -> None:
    west, east = make_hosts(tmp_path, database, 2, CONTACTS)
    write_contacts(west.folder, [*CONTACTS, EXTRA])  # only the west host lists Flo
    west.run("--now", REMINDER, "send")
    with connect(database) as db:  # type: ignore[attr-defined]
        db.execute(  # as if the provider had deferred Flo's message
            "UPDATE ctmaint.deliveries SET state = 'pending' WHERE recipient = 'flo@eps.example'"
        )
    dry = ctmaint_run(east, "--now", "2030-06-14T09:01:00-06:00", "send", "--dry-run")
    run = ctmaint_run(east, "--now", "2030-06-14T09:01:00-06:00", "send")
    assert run.returncode == 0, run.stderr
    assert dry.stdout.strip().endswith("pending 1")
    assert run.stdout.strip().endswith("pending 1")
    why = f"{MONTHLY}/week-before: 1 recipient listed by host "
    for result in (dry, run):
        assert any(why in line and "not this host's" in line for line in result.stderr.splitlines())
    assert "hosts disagree: host " in run.stderr
    assert "another contacts.csv (or subscriptions.csv) than this host" in run.stderr
    for host, other in ((west, east), (east, west)):
        checked = ctmaint_run(host, "check")
        assert checked.returncode == 1
        assert str(other.folder) in checked.stderr
        assert "contacts.csv" in checked.stderr
    write_contacts(east.folder, [*CONTACTS, EXTRA])  # the same files again
    east.run("--now", "2030-06-14T09:02:00-06:00", "send")
    assert ctmaint_run(east, "check").returncode == 0
    assert ctmaint_run(west, "--now", "2030-06-14T09:03:00-06:00", "send").returncode == 0
    assert ctmaint_run(west, "check").returncode == 0


# -- review: what a second reader broke --------------------------------------------------------


def test_a_change_made_during_a_migration_is_never_lost(tmp_path: Path, database: str) -> None:
    """A cancel on the SQLite file while migrate-state copies waits for it, then is refused
    (the file has moved): it is in neither ledger, so nothing disagrees."""
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    local = ("--state", str(host.folder / ".ctmaint" / "state.db"))
    host.run(*local, "--now", "2030-06-10T09:00:00-06:00", "send")
    frozen = connect(database)
    frozen.execute("BEGIN")  # type: ignore[attr-defined]
    frozen.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))  # type: ignore[attr-defined]
    try:
        migrating = host.start(*local, "migrate-state", "--to", database)
        time.sleep(3)  # the migration holds the SQLite file and waits for the database
        cancel = host.start(*local, "--now", "2030-06-10T09:01:00-06:00", "cancel", MONTHLY,
                            "--reason", "Vendor recall")  # fmt: skip
        time.sleep(2)
    finally:
        frozen.close()  # type: ignore[attr-defined]
    _, migrate_err = migrating.communicate(timeout=120)
    _, cancel_err = cancel.communicate(timeout=120)
    assert migrating.returncode == 0, migrate_err
    assert cancel.returncode == 1
    assert "was moved by `ctmaint migrate-state`" in cancel_err
    assert history(host)["changes"] == []
    sent = host.run("--now", "2030-06-14T09:00:00-06:00", "send")
    assert sent.startswith("sent 4,")  # the window was never cancelled anywhere


def test_a_migration_stopped_after_its_copy_is_finished_by_running_it_again(
    tmp_path: Path, database: str
) -> None:
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    state = host.folder / ".ctmaint" / "state.db"
    local = ("--state", str(state))
    host.run(*local, "--now", REMINDER, "send")
    host.run(*local, "migrate-state", "--to", database)
    db = sqlite3.connect(state)
    with db:  # as if it had stopped between the copy and the mark
        db.execute("DELETE FROM settings WHERE key = 'moved_to'")
    db.close()
    assert host.run(*local, "migrate-state", "--to", database).startswith("copied ")
    moved = ctmaint_run(host, *local, "--now", "2030-06-14T09:05:00-06:00", "send")
    assert moved.returncode == 1
    assert "was moved" in moved.stderr


def test_a_send_waiting_for_the_shared_lock_when_its_session_ends_says_so(
    tmp_path: Path, database: str
) -> None:
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    host.run("--now", "2030-06-01T12:00:00-06:00", "send")
    holder = connect(database)
    holder.execute("SELECT pg_advisory_lock(%s)", (SEND_LOCK,))  # type: ignore[attr-defined]
    try:
        waiting = host.start("--now", REMINDER, "send")
        time.sleep(2)
        others = [
            pid
            for pid in backends(database, holding_send_lock=False)
            if pid != holder.info.backend_pid  # type: ignore[attr-defined]
        ]
        terminate(database, others)
        _, err = waiting.communicate(timeout=60)
    finally:
        holder.close()  # type: ignore[attr-defined]
    assert waiting.returncode == 1
    assert "was lost" in err
    assert "bug" not in err


def test_a_statement_timeout_is_not_called_a_lost_connection(tmp_path: Path, database: str) -> None:
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    host.run("--now", REMINDER, "send")
    host.state = f"{database}?options=-c%20statement_timeout%3D1"
    done = ctmaint_run(host, "history")
    if done.returncode == 0:
        return  # every statement beat the 1 ms bound: nothing to say
    assert "was lost" not in done.stderr
    assert "stopped this command" in done.stderr
    assert "bug" not in done.stderr


def test_a_table_of_someone_elses_in_the_ledgers_schema_is_none_of_its_business(
    tmp_path: Path, database: str, role: tuple[str, str]
) -> None:
    first, second = first_sends_then_role_joins(
        tmp_path, database, role, grant=True, sql="CREATE TABLE ctmaint.billing_secrets (x INT)"
    )
    assert ledger_named(second.run("check")) == ledger_named(first.run("check"))


@pytest.mark.parametrize(
    "state",
    [
        pytest.param("postgresql://ctmaint:" + PASSWORD + "@db..internal/x", id="empty_label"),
        pytest.param(f"host=127.0.0.1 password={PASSWORD} dbname=x", id="conninfo_string"),
    ],
)
def test_other_unusable_states_are_one_sentence_without_the_password(
    tmp_path: Path, state: str
) -> None:
    write_contacts(tmp_path, CONTACTS)
    done = subprocess.run(
        [str(CTMAINT), "--state", state, "history"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "PG"))},
    )  # fmt: skip
    assert done.returncode in (1, 2)
    assert PASSWORD not in done.stdout + done.stderr
    assert "unexpected error" not in done.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "contacts.csv"]  # no SQLite file made


def test_hosts_whose_files_say_the_same_agree(tmp_path: Path, database: str) -> None:
    """A comment, CRLF line endings or another path to the same contacts are no difference."""
    west, east = make_hosts(tmp_path, database, 2, CONTACTS)
    policy = embedded_policy_text()
    (west.folder / "ctmaint.toml").write_text(policy)
    (east.folder / "ctmaint.toml").write_text(
        "# the east host's copy\n" + policy.replace("\n", "\r\n")
    )
    contacts = (east.folder / "contacts.csv").read_bytes()
    (east.folder / "contacts.csv").write_bytes(contacts.replace(b"\n", b"\r\n"))
    west.run("--now", REMINDER, "send")
    east_run = ctmaint_run(east, "--now", "2030-06-14T09:01:00-06:00", "send")
    assert east_run.returncode == 0, east_run.stderr
    assert "disagree" not in east_run.stderr
    assert ctmaint_run(west, "check").returncode == 0
