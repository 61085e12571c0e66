"""PostgreSQL state: one ledger that several cron hosts share.

Used when the state is a ``postgresql://`` URL, through psycopg 3 (the optional extra
``ctmaint[postgres]``, imported only here and only then, so the SQLite tick stays fast).
The schema, the migrations and the queries are the SQLite ones (see
:mod:`ctmaint.state.dialects` for the little that differs). What makes several hosts safe
lives in the database, not on a host:

* every write transaction takes a transaction-level advisory lock first, so operators on
  any host take turns as they do on one SQLite file;
* ``send`` holds a session-level advisory lock for its whole run (released by the server
  when the connection goes, so a host that dies mid-run frees it), so one run at a time
  decides what rows left in flight mean, whichever host it is on;
* a claim is one ``UPDATE ... WHERE state = 'pending' RETURNING``: a row moves to
  'sending' once, for one run.

One ledger per database, whatever the role, its search path or the URL's options: every
session finds the schema that holds the ledger (the one with a ``ctmaint_schema`` table,
looked up in the catalog, not on the search path) and pins its ``search_path`` to it; a new
ledger goes into the schema ``ctmaint``. A database with two ledgers is refused. Every lock
wait is bounded (``lock_timeout``, as SQLite's busy timeout), and a lost connection or a
lock held too long is one sentence, not a driver's error. No message ever contains a
secret: a location shows its URL masked (:mod:`ctmaint.state.location`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ctmaint.errors import Input, StateError
from ctmaint.state.dialects import BUSY_TIMEOUT_S, MARKER_TABLE, POSTGRES, postgres_error
from ctmaint.state.ledger import Ledger, ledger_id
from ctmaint.state.location import PostgresUrl, check_url, masked_reason
from ctmaint.state.migrations import MIGRATIONS, memory_ledger, migrate, tables

SEND_LOCK = 73417342  # pg_advisory_lock key held by a running `send`
CONNECT_TIMEOUT_S = 10
NEW_SCHEMA = "ctmaint"  # where a database's first ledger is made


def connect(location: PostgresUrl) -> Any:
    """An autocommit psycopg connection; StateError in one sentence (no password) if the
    extra is missing or the server cannot be reached."""
    url = location.url
    check_url(url)
    try:
        import psycopg
    except ImportError:
        raise StateError(
            "a PostgreSQL state needs psycopg: install ctmaint with its postgres extra "
            "(pip install 'ctmaint[postgres]')"
        ) from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except (UnicodeError, ValueError) as error:  # a host name the resolver cannot encode
        raise StateError(
            f"cannot reach the state database {location} (its host name cannot be looked "
            f"up: {type(error).__name__})",
            about=Input.STATE,
        ) from None
    except psycopg.Error as error:
        raise StateError(
            f"cannot reach the state database {location} ({masked_reason(error, url)})",
            about=Input.STATE,
        ) from None


def open_ledger(location: PostgresUrl) -> Ledger:
    """The shared ledger at ``location``, migrated (migrations take the write lock: hosts
    starting together migrate once); made in the schema ``ctmaint`` if the database has
    none yet."""
    connection = connect(location)
    ledger = Ledger(connection, location, POSTGRES)
    try:
        pin_schema(ledger, create=True)
        migrate(ledger)
    except _database_errors() as error:
        connection.close()
        raise StateError(
            f"the state database {location} failed ({masked_reason(error, location.url)})"
        ) from None
    except BaseException:
        connection.close()
        raise
    return ledger


def open_snapshot(location: PostgresUrl) -> Ledger:
    """A read-only view: a session whose transactions cannot write. A database ctmaint
    has not written yet reads as an empty ledger; an older schema is refused (a writing
    command upgrades it), since it cannot be migrated in memory as a SQLite copy is."""
    connection = connect(location)
    ledger = Ledger(connection, location, POSTGRES)
    try:
        schema = pin_schema(ledger, create=False)
        ledger.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        version = ledger.schema_version if schema else 0
    except BaseException:
        connection.close()
        raise
    if version == len(MIGRATIONS):
        return ledger
    connection.close()
    if version == 0:
        return memory_ledger(location)
    if version > len(MIGRATIONS):
        raise StateError(
            f"the state database {location} has schema version {version}, newer than this "
            f"ctmaint knows ({len(MIGRATIONS)}); upgrade ctmaint"
        )
    raise StateError(
        f"the state database {location} has an older schema ({version}); run a command "
        "that writes (send) once to upgrade it"
    )


def pin_schema(ledger: Ledger, create: bool) -> str | None:
    """Bound the session's lock waits and pin its search path to the schema that holds the
    database's ledger, whatever the role's or the URL's search path says; with ``create``,
    make the schema ``ctmaint`` for a database that has none. The schema, or None."""
    ledger.execute(f"SET lock_timeout = '{int(BUSY_TIMEOUT_S * 1000)}ms'")
    schema = ledger_schema(ledger)
    if schema is None and create:
        with ledger.transaction():  # under the write lock: hosts starting together make one
            schema = ledger_schema(ledger)
            if schema is None:
                schema = NEW_SCHEMA
                ledger.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}")
    if schema is not None:
        _check_rights(ledger, schema, "SELECT, INSERT, UPDATE, DELETE" if create else "SELECT")
        ledger.execute(f"SET search_path TO {_quoted(schema)}")
    return schema


def _check_rights(ledger: Ledger, schema: str, rights: str) -> None:
    """StateError naming the grant to ask for when this role may not use the ledger."""
    row = ledger.execute(
        "SELECT current_user, has_schema_privilege(current_user, ?, 'USAGE'),"
        " (SELECT bool_and(has_table_privilege(current_user, c.oid, ?))"
        "  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE n.nspname = ? AND c.relkind IN ('r', 'p') AND c.relname = ANY(?))",
        (schema, rights, schema, [MARKER_TABLE, *tables()]),
    ).fetchone()
    user, usage, granted = str(row[0]), bool(row[1]), row[2] is not False
    if not (usage and granted):
        raise StateError(
            f"the state database {ledger.location} refused this role: {user} may not use the "
            f"ledger in the schema {schema}; its owner can grant it (GRANT USAGE ON SCHEMA "
            f"{schema} TO {user}; GRANT {rights} ON ALL TABLES IN SCHEMA {schema} TO {user}; "
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {user})"
        )


def ledger_schema(ledger: Ledger) -> str | None:
    """The schema that holds the database's ledger, from the catalog (which every role sees,
    whatever its search path or privileges); None if there is none; StateError if there are
    several, since hosts could then each use a different one."""
    found = [
        str(row[0])
        for row in ledger.execute(
            "SELECT n.nspname FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = ? AND c.relkind IN ('r', 'p') ORDER BY n.nspname",
            (MARKER_TABLE,),
        )
    ]
    if len(found) > 1:
        raise StateError(
            f"the state database {ledger.location} holds {len(found)} ctmaint ledgers (in the "
            f"schemas {', '.join(found)}), so hosts could each use another: keep the one "
            "`ctmaint check` names on the host that has sent so far and drop the others "
            "(DROP SCHEMA name CASCADE)"
        )
    return found[0] if found else None


def identify(ledger: Ledger) -> str:
    """Which ledger a snapshot of a shared state reads, as `check` names it on every host:
    its identity and schema, or that the database holds none yet."""
    if ledger.dialect is not POSTGRES:  # the empty ledger a database without one reads as
        return f"it holds no ledger yet (the first command that writes makes one in {NEW_SCHEMA})"
    schema = ledger.execute("SELECT current_schema()").fetchone()[0]
    return f"ledger {ledger_id(ledger) or '(no identity yet)'} in the schema {schema}"


def continue_numbering(ledger: Ledger) -> None:
    """Make the change log's numbers go on after the highest it holds: rows copied in with
    their numbers (`migrate-state`) leave its sequence behind."""
    ledger.execute(
        "SELECT setval(pg_get_serial_sequence('changes', 'seq'),"
        " COALESCE((SELECT max(seq) FROM changes), 0) + 1, false)"
    )


MAX_CLOCK_SKEW_S = 120  # how far a host's clock may be from the database server's


def check_clock(ledger: Ledger, host_time: float) -> None:
    """StateError unless this host's clock (``host_time``, seconds since the epoch) is within
    :data:`MAX_CLOCK_SKEW_S` of the database server's: hosts that disagree on the time
    disagree on what is due and what has expired."""
    server = float(ledger.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])
    skew = host_time - server
    if abs(skew) > MAX_CLOCK_SKEW_S:
        way = "ahead of" if skew > 0 else "behind"
        raise StateError(
            f"this host's clock is {abs(skew) / 60:.1f} minutes {way} the state database "
            f"server's ({_utc_text(host_time)} here, {_utc_text(server)} there): set it right "
            f"(NTP) before sending; nothing was sent"
        )


def _utc_text(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def send_lock(location: PostgresUrl, wait_s: float) -> Iterator[Callable[[], bool] | None]:
    """Hold the send lock of the shared ledger: yields a function that tells whether it is
    still held (its session may end: a server restart, a terminated backend, a network cut,
    and the server then gives the lock to the next run), or None if another run (on any
    host) kept it for ``wait_s``."""
    connection = connect(location)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            row = _raw(connection, location, "SELECT pg_try_advisory_lock(%s)", (SEND_LOCK,))
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                yield None
                return
            time.sleep(0.1)
        yield lambda: _still_held(connection)
    finally:
        connection.close()  # ends the session: the server releases the lock


def _raw(connection: Any, location: PostgresUrl, sql: str, parameters: tuple[Any, ...]) -> Any:
    """One row of ``sql`` on a bare connection, its errors as they read in one sentence."""
    try:
        return connection.execute(sql, parameters).fetchone()
    except _database_errors() as error:
        found = postgres_error(error, str(location))
        raise (found or StateError(masked_reason(error, location.url))) from None


def _still_held(connection: Any) -> bool:
    """Whether ``connection``'s session is alive and holds the send lock."""
    try:
        row = connection.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND classid = 0 AND objid = %s AND objsubid = 1",
            (SEND_LOCK,),
        ).fetchone()
    except _database_errors():
        return False
    return bool(row and row[0])


def _database_errors() -> type[Exception]:
    import psycopg

    error: type[Exception] = psycopg.Error
    return error
