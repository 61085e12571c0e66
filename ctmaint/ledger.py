"""The state database: a SQLite file that is a record, never a cache.

Schema versions live in ``PRAGMA user_version``. Each migration and its version bump
run in one ``BEGIN IMMEDIATE`` transaction, so a crash leaves the old schema or the
new one, and two processes starting together migrate once. A database written by a
newer ctmaint is refused, never rebuilt. Times are stored as UTC text
(``YYYY-MM-DDTHH:MM:SSZ``) passed in as parameters: SQLite's own clock is never used.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ctmaint.errors import StateError

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
