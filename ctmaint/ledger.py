"""The state database: a SQLite file that is a record, never a cache.

Schema versions live in ``PRAGMA user_version``. Each migration and its version bump
run in one ``BEGIN IMMEDIATE`` transaction, so a crash leaves the old schema or the
new one, and two processes starting together migrate once. A database written by a
newer ctmaint is refused, never rebuilt. Times are stored as UTC text
(``YYYY-MM-DDTHH:MM:SSZ``) passed in as parameters: SQLite's own clock is never used.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctmaint.errors import StateError

if TYPE_CHECKING:
    from ctmaint.changes import Change

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: operator changes to windows (added, edited, moved, cancelled...), in order.
    (
        """CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            window_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            fields TEXT NOT NULL,          -- JSON object: what the change sets
            made_at TEXT NOT NULL,         -- UTC, ...Z
            made_by TEXT NOT NULL
        )""",
        "CREATE INDEX changes_by_window ON changes (window_id, seq)",
    ),
    # 2: the delivery ledger (one row per notice and recipient), status posts, settings.
    (
        """CREATE TABLE deliveries (
            notice_id TEXT NOT NULL,       -- <window id>/<stage>
            recipient TEXT NOT NULL,       -- lowercased email address
            window_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            account TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('pending', 'sending', 'sent', 'failed', 'expired', 'uncertain')),
            attempts INTEGER NOT NULL DEFAULT 0,
            due_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            transport TEXT,
            message_id TEXT,
            error TEXT,
            PRIMARY KEY (notice_id, recipient)
        )""",
        "CREATE INDEX deliveries_by_state ON deliveries (state, due_at)",
        """CREATE TABLE posts (
            notice_id TEXT PRIMARY KEY,
            window_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            status TEXT NOT NULL,
            title TEXT NOT NULL,
            path TEXT NOT NULL,
            posted_at TEXT NOT NULL
        )""",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # 3: an uncertain delivery is resent once, whatever attempts came before it.
    ("ALTER TABLE deliveries ADD COLUMN resent_uncertain INTEGER NOT NULL DEFAULT 0",),
)

BUSY_TIMEOUT_S = 30.0


class Ledger:
    """An open state database. Use :func:`open_ledger`; close with :meth:`close`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock at once (no upgrade deadlocks)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def open_ledger(path: Path) -> Ledger:
    """Open (creating with owner-only permissions if needed) and migrate the database."""
    try:
        _create_private(path)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        _use_wal(connection)
        connection.execute("PRAGMA foreign_keys=ON")
    except (OSError, sqlite3.Error) as error:
        raise StateError(f"cannot open the state database {path}: {error}") from None
    ledger = Ledger(connection, path)
    try:
        _migrate(ledger)
    except BaseException:
        connection.close()
        raise
    return ledger


def open_snapshot(path: Path) -> Ledger:
    """A read-only view of the database, for commands that must change nothing
    (``--dry-run``, listings, reading the changes on a cron tick).

    A current database is opened read-only in place; an older one is copied into memory
    and the copy migrated; a missing one gives an empty ledger. Nothing is created.
    """
    if path.exists():
        try:
            source = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S
            )
            version = int(source.execute("PRAGMA user_version").fetchone()[0])
            if version == len(MIGRATIONS):
                return Ledger(source, path)
            memory = sqlite3.connect(":memory:", isolation_level=None)
            source.backup(memory)
            source.close()
        except sqlite3.Error as error:
            raise StateError(f"cannot read the state database {path}: {error}") from None
    else:
        memory = sqlite3.connect(":memory:", isolation_level=None)
    ledger = Ledger(memory, path)
    _migrate(ledger)
    return ledger


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch to WAL (readers never block the writer), retrying while others hold a lock.

    Changing the journal mode does not wait on SQLite's busy handler, so two processes
    opening a new database together would otherwise see "database is locked".
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _create_private(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # O_EXCL: if another process creates it first, use theirs. SQLite gives its WAL
    # and journal files the database file's permissions.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _migrate(ledger: Ledger) -> None:
    target = len(MIGRATIONS)
    if ledger.schema_version > target:
        raise StateError(
            f"the state database {ledger.path} has schema version {ledger.schema_version}, "
            f"newer than this ctmaint knows ({target}); upgrade ctmaint"
        )
    while ledger.schema_version < target:
        with ledger.transaction() as db:
            version = ledger.schema_version  # re-read under the lock: another process may have won
            if version >= target:
                break
            for statement in MIGRATIONS[version]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")


# -- deliveries ------------------------------------------------------------------------------
# A delivery is one (notice, recipient) row. Its life: pending -> sending (claimed, committed
# before the transport is called) -> sent | failed | pending (retry) | uncertain. A run
# that dies leaves rows in 'sending'; the next run, holding the send lock, knows they were
# in flight and sends them again. 'expired' rows are notices that came too late to send.

PENDING, EXPIRED = "pending", "expired"


@dataclass(frozen=True)
class DeliveryRow:
    notice_id: str
    recipient: str
    window_id: str
    stage: str
    account: str
    state: str
    attempts: int
    sent_at: str | None
    transport: str | None
    message_id: str | None
    error: str | None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Deliveries:
    """Queries on the delivery ledger. Each method is one transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def setting(self, key: str) -> str | None:
        row = self.ledger.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting_once(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` has one; return the stored value."""
        with self.ledger.transaction() as db:
            db.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", (key, value))
        stored = self.setting(key)
        assert stored is not None
        return stored

    def add(
        self,
        notice_id: str,
        window_id: str,
        stage: str,
        recipients: Iterable[tuple[str, str]],
        state: str,
        due: datetime,
        expires: datetime,
        now: datetime,
    ) -> int:
        """Add a row per ``(address, account)`` not yet in the ledger; return how many.

        Writes nothing (no transaction, no fsync) when every recipient has a row: a cron
        tick with nothing new stays cheap.
        """
        known = self.recipients(notice_id)
        times = (_utc(due), _utc(expires), _utc(now))
        rows = [
            (notice_id, address, window_id, stage, account, state, *times)
            for address, account in recipients
            if address not in known
        ]
        if not rows:
            return 0
        with self.ledger.transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO deliveries (notice_id, recipient, window_id, stage,"
                " account, state, due_at, expires_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return db.total_changes - before

    def recipients(self, notice_id: str) -> set[str]:
        """Every address with a row for ``notice_id``, whatever its state."""
        cursor = self.ledger.db.execute(
            "SELECT recipient FROM deliveries WHERE notice_id = ?", (notice_id,)
        )
        return {str(row[0]) for row in cursor}

    def expire(self, notice_id: str, now: datetime) -> int:
        """Mark the notice's undelivered rows expired; return how many."""
        with self.ledger.transaction() as db:
            cursor = db.execute(
                "UPDATE deliveries SET state = 'expired', updated_at = ?"
                " WHERE notice_id = ? AND state IN ('pending', 'sending', 'uncertain')",
                (_utc(now), notice_id),
            )
            return cursor.rowcount

    def recover_in_flight(self, now: datetime) -> int:
        """Rows a dead run left in 'sending' go back to 'pending'. Call with the send lock."""
        with self.ledger.transaction() as db:
            cursor = db.execute(
                "UPDATE deliveries SET state = 'pending', updated_at = ?,"
                " error = 'in flight when an earlier run stopped; sent again'"
                " WHERE state = 'sending'",
                (_utc(now),),
            )
            return cursor.rowcount

    def retry_uncertain(self, now: datetime) -> tuple[int, int]:
        """Uncertain rows (no answer after sending) are sent once more, then given up.

        Returns (sent again, given up). Call with the send lock, before claiming.
        """
        with self.ledger.transaction() as db:
            again = db.execute(
                "UPDATE deliveries SET state = 'pending', updated_at = ?, resent_uncertain = 1,"
                " error = 'the last attempt got no answer after sending; sent once more'"
                " WHERE state = 'uncertain' AND resent_uncertain = 0",
                (_utc(now),),
            ).rowcount
            given_up = db.execute(
                "UPDATE deliveries SET state = 'failed', updated_at = ?,"
                " error = 'no answer after sending, twice; not sent again"
                " (check the provider''s activity log)'"
                " WHERE state = 'uncertain'",
                (_utc(now),),
            ).rowcount
        return again, given_up

    def told(self, window_id: str) -> dict[str, str]:
        """``address -> account`` of everyone sent any notice of ``window_id``."""
        cursor = self.ledger.db.execute(
            "SELECT recipient, account FROM deliveries WHERE window_id = ? AND state = 'sent'"
            " ORDER BY recipient",
            (window_id,),
        )
        return {str(address): str(account) for address, account in cursor}

    def last_sent(self, window_id: str) -> datetime | None:
        row = self.ledger.db.execute(
            "SELECT max(sent_at) FROM deliveries WHERE window_id = ? AND state = 'sent'",
            (window_id,),
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def pending(self, notice_id: str) -> list[str]:
        """Addresses whose delivery of ``notice_id`` is pending."""
        cursor = self.ledger.db.execute(
            "SELECT recipient FROM deliveries WHERE notice_id = ? AND state = 'pending'",
            (notice_id,),
        )
        return [str(row[0]) for row in cursor]

    def claim(self, notice_id: str, recipients: Iterable[str], now: datetime) -> list[str]:
        """Atomically move the notice's pending rows for ``recipients`` to 'sending'.

        Returns the addresses claimed: a row claimed by one run is never claimed by another.
        """
        wanted = set(recipients)
        with self.ledger.transaction() as db:
            pending = [
                str(row[0])
                for row in db.execute(
                    "SELECT recipient FROM deliveries WHERE notice_id = ? AND state = 'pending'",
                    (notice_id,),
                )
                if row[0] in wanted
            ]
            db.executemany(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1,"
                " updated_at = ? WHERE notice_id = ? AND recipient = ? AND state = 'pending'",
                [(_utc(now), notice_id, address) for address in pending],
            )
        return pending

    def record(
        self,
        notice_id: str,
        outcomes: Iterable[tuple[str, str, str | None, str | None]],
        transport: str,
        now: datetime,
    ) -> None:
        """Store each ``(address, state, message id, error)`` of claimed rows."""
        stamp = _utc(now)
        with self.ledger.transaction() as db:
            db.executemany(
                # a row sent after a problem keeps the problem's note for `history`
                "UPDATE deliveries SET state = ?, message_id = COALESCE(?, message_id),"
                " error = COALESCE(?, error), transport = ?, updated_at = ?,"
                " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END"
                " WHERE notice_id = ? AND recipient = ? AND state = 'sending'",
                [
                    (state, message_id, error, transport, stamp, state, stamp, notice_id, address)
                    for address, state, message_id, error in outcomes
                ],
            )

    def rows(self) -> list[DeliveryRow]:
        """Every delivery, in due order."""
        cursor = self.ledger.db.execute(
            "SELECT notice_id, recipient, window_id, stage, account, state, attempts,"
            " sent_at, transport, message_id, error FROM deliveries"
            " ORDER BY due_at, notice_id, recipient"
        )
        return [DeliveryRow(*row) for row in cursor]

    def states(self) -> dict[str, dict[str, int]]:
        """``notice id -> state -> count`` over the whole ledger."""
        counts: dict[str, dict[str, int]] = {}
        for notice_id, state, count in self.ledger.db.execute(
            "SELECT notice_id, state, count(*) FROM deliveries GROUP BY notice_id, state"
        ):
            counts.setdefault(notice_id, {})[state] = count
        return counts

    # -- status posts ----------------------------------------------------------------------

    def posted(self) -> set[str]:
        return {str(row[0]) for row in self.ledger.db.execute("SELECT notice_id FROM posts")}

    def add_post(
        self, notice_id: str, window_id: str, stage: str, status: str, title: str, path: str,
        posted_at: datetime,
    ) -> None:  # fmt: skip
        with self.ledger.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO posts VALUES (?, ?, ?, ?, ?, ?, ?)",
                (notice_id, window_id, stage, status, title, path, _utc(posted_at)),
            )

    def posts(self) -> list[dict[str, str]]:
        """Every status post, newest first."""
        cursor = self.ledger.db.execute(
            "SELECT notice_id, window_id, stage, status, title, path, posted_at FROM posts"
            " ORDER BY posted_at DESC, notice_id DESC"
        )
        keys = ("notice", "window", "stage", "status", "title", "path", "posted_at")
        return [dict(zip(keys, row, strict=True)) for row in cursor]


class Changes:
    """The log of operator changes, oldest first."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def all(self) -> list[Change]:
        from ctmaint.changes import Change

        cursor = self.ledger.db.execute(
            "SELECT seq, window_id, kind, fields, made_at, made_by FROM changes ORDER BY seq"
        )
        return [
            Change(seq, window_id, kind, json.loads(fields), datetime.fromisoformat(made_at), by)
            for seq, window_id, kind, fields, made_at, by in cursor
        ]

    def add(
        self, window_id: str, kind: str, fields: dict[str, Any], made_at: datetime, made_by: str
    ) -> None:
        with self.ledger.transaction() as db:
            db.execute(
                "INSERT INTO changes (window_id, kind, fields, made_at, made_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (window_id, kind, json.dumps(fields, sort_keys=True), _utc(made_at), made_by),
            )
            if kind == "cancel":  # undelivered notices of a cancelled window are not sent
                db.execute(
                    "UPDATE deliveries SET state = 'expired', updated_at = ?,"
                    " error = 'not sent: the window was cancelled'"
                    " WHERE window_id = ? AND state IN ('pending', 'uncertain')",
                    (_utc(made_at), window_id),
                )
