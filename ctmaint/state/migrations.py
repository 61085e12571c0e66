"""The schema, as the migrations that build it: one named function per version.

Version ``n`` is ``MIGRATIONS[n - 1]``; a ledger's version is the number of migrations
applied to it (SQLite keeps it in ``PRAGMA user_version``, PostgreSQL in a table: see
:mod:`ctmaint.state.dialects`). A migration is history: once released it never changes, and
a new schema is a new function at the end. Each migration and its version bump run in one
write transaction, so a crash leaves the old schema or the new one, and processes (or hosts)
starting together migrate once. A ledger written by a newer ctmaint is refused, never
rebuilt. Migrations are written once for both databases, with ``?`` placeholders and
``{serial}`` for an auto-numbered key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import cache
from pathlib import Path

from ctmaint.errors import StateError
from ctmaint.state.ledger import LEDGER_ID_KEY, Ledger, ledger_id
from ctmaint.state.location import SqliteFile, StateLocation


def v1_changes(ledger: Ledger) -> None:
    """Operator changes to windows (added, edited, moved, cancelled...), in order."""
    ledger.execute(
        """CREATE TABLE changes (
            seq {serial},
            window_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            fields TEXT NOT NULL,          -- JSON object: what the change sets
            made_at TEXT NOT NULL,         -- UTC, ...Z
            made_by TEXT NOT NULL
        )"""
    )
    ledger.execute("CREATE INDEX changes_by_window ON changes (window_id, seq)")


def v2_deliveries_posts_settings(ledger: Ledger) -> None:
    """The delivery ledger (one row per notice and recipient), status posts, settings."""
    ledger.execute(
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
        )"""
    )
    ledger.execute("CREATE INDEX deliveries_by_state ON deliveries (state, due_at)")
    ledger.execute(
        """CREATE TABLE posts (
            notice_id TEXT PRIMARY KEY,
            window_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            status TEXT NOT NULL,
            title TEXT NOT NULL,
            path TEXT NOT NULL,
            posted_at TEXT NOT NULL
        )"""
    )
    ledger.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def v3_resent_uncertain(ledger: Ledger) -> None:
    """An uncertain delivery is resent once, whatever attempts came before it."""
    ledger.execute("ALTER TABLE deliveries ADD COLUMN resent_uncertain INTEGER NOT NULL DEFAULT 0")


def v4_one_add_per_window(ledger: Ledger) -> None:
    """One window per id: two operators adding work at once cannot both take an id."""
    ledger.execute(
        "CREATE UNIQUE INDEX one_add_per_window ON changes (window_id) WHERE kind = 'add'"
    )


def v5_cancelled_deliveries(ledger: Ledger) -> None:
    """'cancelled' rows: notices of a window cancelled before they reached the recipient.
    SQLite cannot alter a CHECK constraint: the table is rebuilt, rows kept as they are."""
    ledger.execute(
        """CREATE TABLE deliveries_5 (
            notice_id TEXT NOT NULL,
            recipient TEXT NOT NULL,
            window_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            account TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed',
                'expired', 'uncertain', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            due_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            transport TEXT,
            message_id TEXT,
            error TEXT,
            resent_uncertain INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (notice_id, recipient)
        )"""
    )
    ledger.execute(
        "INSERT INTO deliveries_5 SELECT notice_id, recipient, window_id, stage, account, state,"
        " attempts, due_at, expires_at, updated_at, sent_at, transport, message_id, error,"
        " resent_uncertain FROM deliveries"
    )
    ledger.execute("DROP TABLE deliveries")
    ledger.execute("ALTER TABLE deliveries_5 RENAME TO deliveries")
    ledger.execute("CREATE INDEX deliveries_by_state ON deliveries (state, due_at)")
    ledger.execute("CREATE INDEX deliveries_by_window ON deliveries (window_id)")


def v6_hosts(ledger: Ledger) -> None:
    """Hosts sharing a state say which files they run with, and which host made each row."""
    ledger.execute(
        """CREATE TABLE hosts (
            name TEXT PRIMARY KEY,         -- host name and working folder
            policy TEXT NOT NULL,          -- SHA-256 of what the policy file says
            contacts TEXT NOT NULL,        -- SHA-256 of the contacts read
            seen_at TEXT NOT NULL          -- UTC, ...Z, the host's real clock
        )"""
    )
    ledger.execute("ALTER TABLE deliveries ADD COLUMN host TEXT")


def v7_delivery_channels(ledger: Ledger) -> None:
    """A delivery goes by email or to a subscription: its channel (email, teams, slack or
    webhook), so that `notices` and `history` count each; every earlier row was email."""
    ledger.execute("ALTER TABLE deliveries ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'")


Migration = Callable[[Ledger], None]

MIGRATIONS: tuple[Migration, ...] = (
    v1_changes,
    v2_deliveries_posts_settings,
    v3_resent_uncertain,
    v4_one_add_per_window,
    v5_cancelled_deliveries,
    v6_hosts,
    v7_delivery_channels,
)


def migrate(ledger: Ledger) -> None:
    """Bring ``ledger`` to the current schema, one transaction per step, and give it an
    identity if it has none."""
    _migrate_schema(ledger)
    if ledger_id(ledger) is None:
        import uuid

        with ledger.transaction():
            ledger.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (LEDGER_ID_KEY, uuid.uuid4().hex[:16]),
            )


def _migrate_schema(ledger: Ledger) -> None:
    target = len(MIGRATIONS)
    if ledger.schema_version > target:
        raise StateError(
            f"the state database {ledger.location} has schema version {ledger.schema_version}, "
            f"newer than this ctmaint knows ({target}); upgrade ctmaint"
        )
    while ledger.schema_version < target:
        with ledger.transaction():
            version = ledger.schema_version  # re-read under the lock: another process may have won
            if version >= target:
                break
            MIGRATIONS[version](ledger)
            ledger.set_schema_version(version + 1)


def memory_ledger(location: StateLocation) -> Ledger:
    """An empty, current ledger in memory: what a state nobody has written yet reads as."""
    ledger = Ledger(sqlite3.connect(":memory:", isolation_level=None), location)
    migrate(ledger)
    return ledger


@cache
def tables() -> dict[str, tuple[str, ...]]:
    """The ledger's tables, in the order the migrations first made them, each with its
    columns as they stand now: the one schema, read from an empty ledger the migrations build
    step by step in memory."""
    memory = SqliteFile(Path(":memory:"))
    ledger = Ledger(sqlite3.connect(":memory:", isolation_level=None), memory)
    try:
        made: list[str] = []
        for step in MIGRATIONS:
            step(ledger)
            names = ledger.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite~_%' ESCAPE '~' ORDER BY rowid"
            )
            made += [name for (name,) in names if name not in made]
        return {
            name: tuple(column[1] for column in ledger.execute(f"PRAGMA table_info({name})"))
            for name in made
        }
    finally:
        ledger.close()
