"""What differs between SQLite and PostgreSQL: everything else is one schema, one set of
migrations (:mod:`ctmaint.state.migrations`) and one set of queries (:mod:`ctmaint.state.ledger`).

A dialect knows how its database spells a few things (placeholders, an auto-numbered key, a
write transaction), where it keeps the schema version, and which of its driver's errors mean
something to the user. It imports no other module of the state package.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from ctmaint.errors import ConnectionLost, StateBusy, StateError

if TYPE_CHECKING:
    from typing import Protocol

    class Session(Protocol):
        """What a dialect needs of an open ledger: one statement at a time."""

        def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Any: ...


BUSY_TIMEOUT_S = 30.0  # how long a lock is waited for, on either database
WRITE_LOCK = 73417341  # pg_advisory_xact_lock key of every PostgreSQL write transaction
MARKER_TABLE = "ctmaint_schema"  # PostgreSQL: the table that holds the schema version


class Dialect(Struct, frozen=True):
    """How one database spells the little that differs. Queries are written with ``?``
    placeholders, and migrations with ``{serial}`` for an auto-numbered primary key."""

    name: str
    placeholder: str
    serial: str  # an auto-numbered primary key
    begin: tuple[str, ...]  # statements that open a write transaction holding the write lock
    # The schema version of the ledger a session is on (0: none yet), and setting it.
    schema_version: Callable[[Session], int]
    set_schema_version: Callable[[Session, int], None]
    # The error to raise instead of a driver's (a lost connection, a lock wait past its
    # bound), given the error and the state as messages name it; None: raise it as it is.
    translate: Callable[[Exception, str], Exception | None]

    def sql(self, text: str) -> str:
        text = text.replace("{serial}", self.serial)
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


# -- SQLite: the version in PRAGMA user_version, a busy timeout that runs out ----------------


def _sqlite_version(session: Session) -> int:
    return int(session.execute("PRAGMA user_version").fetchone()[0])


def _set_sqlite_version(session: Session, version: int) -> None:
    session.execute(f"PRAGMA user_version = {int(version)}")


def _sqlite_error(error: Exception, location: str) -> Exception | None:
    """A SQLite lock held past the busy timeout, as the one sentence it means."""
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
        return StateBusy(
            f"the state database {location} stayed locked by another ctmaint for "
            f"{BUSY_TIMEOUT_S:.0f} s (a migration, or a process stopped in the middle of a "
            "change?); this command stopped there, and what it did before is kept"
        )
    return None


SQLITE = Dialect(
    "sqlite",
    "?",
    "INTEGER PRIMARY KEY AUTOINCREMENT",
    ("BEGIN IMMEDIATE",),
    _sqlite_version,
    _set_sqlite_version,
    _sqlite_error,
)


# -- PostgreSQL: the version in a table of the ledger's schema, psycopg's errors ------------


def _postgres_version(session: Session) -> int:
    found = session.execute(
        f"SELECT count(*) FROM information_schema.tables WHERE table_name = '{MARKER_TABLE}'"
        " AND table_schema = current_schema()"
    ).fetchone()[0]
    if not found:
        return 0
    row = session.execute(f"SELECT version FROM {MARKER_TABLE}").fetchone()
    return int(row[0]) if row else 0


def _set_postgres_version(session: Session, version: int) -> None:
    session.execute(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (version INTEGER NOT NULL)")
    session.execute(f"DELETE FROM {MARKER_TABLE}")
    session.execute(f"INSERT INTO {MARKER_TABLE} (version) VALUES (?)", (version,))


def postgres_error(error: Exception, location: str) -> Exception | None:
    """A psycopg error as the one sentence it means here, or None to let it through."""
    import psycopg  # the postgres extra: only a shared state gets here
    from psycopg import errors

    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, errors.LockNotAvailable):
        return StateBusy(
            f"the state database {location} stayed locked by another session for "
            f"{BUSY_TIMEOUT_S:.0f} s (a host stopped in the middle of a change?); this command "
            "stopped there, and what it did before is kept"
        )
    if isinstance(error, errors.InsufficientPrivilege):
        return StateError(f"the state database {location} refused this role ({reason})")
    state = getattr(error, "sqlstate", None)
    lost = state is None or state.startswith(("08", "57P"))  # the connection, or the server
    if isinstance(error, psycopg.OperationalError) and lost:
        return ConnectionLost(
            f"the connection to the state database {location} was lost ({reason}); what was "
            "done before is kept, and the next run resumes"
        )
    if isinstance(error, psycopg.OperationalError):
        return StateError(
            f"the state database {location} stopped this command ({reason}); what was done "
            "before is kept"
        )
    return None


POSTGRES = Dialect(
    "postgresql",
    "%s",
    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ("BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
    _postgres_version,
    _set_postgres_version,
    postgres_error,
)
