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
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msgspec import Struct, field

from ctmaint.errors import Input, StateError
from ctmaint.model.vocabulary import DeliveryState

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: operator changes to windows (added, edited, moved, cancelled...), in order.
    (
        """CREATE TABLE changes (
            seq {serial},
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
    # 4: one window per id: two operators adding work at once cannot both take an id.
    ("CREATE UNIQUE INDEX one_add_per_window ON changes (window_id) WHERE kind = 'add'",),
    # 5: 'cancelled' rows: notices of a window cancelled before they reached the recipient.
    # SQLite cannot alter a CHECK constraint: the table is rebuilt, rows kept as they are.
    (
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
        )""",
        "INSERT INTO deliveries_5 SELECT notice_id, recipient, window_id, stage, account, state,"
        " attempts, due_at, expires_at, updated_at, sent_at, transport, message_id, error,"
        " resent_uncertain FROM deliveries",
        "DROP TABLE deliveries",
        "ALTER TABLE deliveries_5 RENAME TO deliveries",
        "CREATE INDEX deliveries_by_state ON deliveries (state, due_at)",
        "CREATE INDEX deliveries_by_window ON deliveries (window_id)",
    ),
    # 6: hosts sharing a state say which files they run with, and which host made each row.
    (
        """CREATE TABLE hosts (
            name TEXT PRIMARY KEY,         -- host name and working folder
            policy TEXT NOT NULL,          -- SHA-256 of what the policy file says
            contacts TEXT NOT NULL,        -- SHA-256 of the contacts read
            seen_at TEXT NOT NULL          -- UTC, ...Z, the host's real clock
        )""",
        "ALTER TABLE deliveries ADD COLUMN host TEXT",
    ),
)


class Dialect(Struct, frozen=True):
    """What differs between the SQL of the two backends; everything else is one schema,
    one set of migrations and one set of queries. Queries are written with ``?``
    placeholders and ``{serial}`` in migrations."""

    name: str
    placeholder: str
    serial: str  # an auto-numbered primary key
    begin: tuple[str, ...]  # statements that open a write transaction holding the write lock
    # The error to raise instead of a driver's (a lost connection, a lock wait past its
    # bound), given the error and the state as messages name it; None: raise it as it is.
    translate: Callable[[Exception, str], Exception | None] = field(
        default=lambda error, location: None
    )

    def sql(self, text: str) -> str:
        text = text.replace("{serial}", self.serial)
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


def _sqlite_error(error: Exception, location: str) -> Exception | None:
    """A SQLite lock held past the busy timeout, as the one sentence it means."""
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
        from ctmaint.errors import StateBusy

        return StateBusy(
            f"the state database {location} stayed locked by another ctmaint for "
            f"{BUSY_TIMEOUT_S:.0f} s (a migration, or a process stopped in the middle of a "
            "change?); this command stopped there, and what it did before is kept"
        )
    return None


SQLITE = Dialect(
    "sqlite", "?", "INTEGER PRIMARY KEY AUTOINCREMENT", ("BEGIN IMMEDIATE",), _sqlite_error
)


class Ledger:
    """An open state database. Use :func:`open_ledger`; close with :meth:`close`.

    ``location`` names it in messages (a path, or a URL without its password).
    """

    def __init__(self, connection: Any, location: Path | str, dialect: Dialect = SQLITE) -> None:
        self.db = connection
        self.path = location
        self.dialect = dialect
        self.host = ""  # who writes: rows it adds name this host (see :class:`Deliveries`)
        # Checked at the start of every write transaction, under the write lock.
        self.on_begin: Callable[[Ledger], None] = lambda ledger: None
        self._depth = 0

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Any:
        """Run one statement; the cursor (iterable rows, ``fetchone``, ``rowcount``)."""
        with self._translated():
            return self.db.execute(self.dialect.sql(sql), tuple(parameters))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> int:
        """Run one statement per row; the number of rows changed in all."""
        with self._translated():
            cursor = self.db.cursor()
            try:
                cursor.executemany(self.dialect.sql(sql), [tuple(row) for row in rows])
                return int(cursor.rowcount)
            finally:
                cursor.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The driver's errors that mean something to the user, as :class:`StateError`."""
        try:
            yield
        except Exception as error:
            found = self.dialect.translate(error, str(self.path))
            if found is None:
                raise
            raise found from None

    @property
    def schema_version(self) -> int:
        if self.dialect is SQLITE:
            return int(self.execute("PRAGMA user_version").fetchone()[0])
        found = self.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ctmaint_schema'"
            " AND table_schema = current_schema()"
        ).fetchone()[0]
        if not found:
            return 0
        row = self.execute("SELECT version FROM ctmaint_schema").fetchone()
        return int(row[0]) if row else 0

    def set_schema_version(self, version: int) -> None:
        if self.dialect is SQLITE:
            self.execute(f"PRAGMA user_version = {int(version)}")
            return
        self.execute("CREATE TABLE IF NOT EXISTS ctmaint_schema (version INTEGER NOT NULL)")
        self.execute("DELETE FROM ctmaint_schema")
        self.execute("INSERT INTO ctmaint_schema (version) VALUES (?)", (version,))

    @contextmanager
    def transaction(self) -> Iterator[Ledger]:
        """A write transaction that takes the write lock at once (no upgrade deadlocks;
        on PostgreSQL an advisory lock, so writers on every host take turns).

        Nested uses join the outermost one, so a use case can read, check and write in
        one transaction through methods that each ask for one.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        for statement in self.dialect.begin:
            self.execute(statement)
        self._depth = 1
        try:
            self.on_begin(self)
            yield self
        except BaseException:
            self._depth = 0
            with suppress(Exception):  # a lost connection has nothing to roll back
                self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        self.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


BUSY_TIMEOUT_S = 30.0


StateLocation = Path | str  # a SQLite file, or a postgresql:// URL


def open_ledger(location: StateLocation) -> Ledger:
    """The state at ``location`` open for writing, migrated (see :func:`open_sqlite` and
    :mod:`ctmaint.state.postgres`)."""
    if isinstance(location, str):
        from ctmaint.state import postgres  # psycopg: only when a URL is given

        return postgres.open_ledger(location)
    return open_sqlite(location)


def open_snapshot(location: StateLocation) -> Ledger:
    """A read-only view of the state at ``location``: creates nothing, changes nothing."""
    if isinstance(location, str):
        from ctmaint.state import postgres

        return postgres.open_snapshot(location)
    return open_sqlite_snapshot(location)


def memory_ledger(location: StateLocation) -> Ledger:
    """An empty, current ledger in memory: what a state nobody has written yet reads as."""
    ledger = Ledger(sqlite3.connect(":memory:", isolation_level=None), location)
    migrate(ledger)
    return ledger


def open_sqlite(path: Path) -> Ledger:
    """Open for writing and migrate; a missing database is created whole, owner-only.

    An existing file that is empty, not a SQLite database, or a SQLite database ctmaint did
    not create is refused, never re-created: the ledger is a record, and a new one would
    send every reminder again and forget every cancellation.
    """
    if not path.exists():
        _create_whole(path)
    _check_existing(path)
    _check_writable(path)
    try:
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        _use_wal(connection)
        connection.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as error:
        raise damaged(path, error) from None
    ledger = Ledger(connection, path)
    try:
        migrate(ledger)
        refuse_if_moved(ledger)
        ledger.on_begin = refuse_if_moved  # a migration may have moved it since
    except sqlite3.DatabaseError as error:
        connection.close()
        raise damaged(path, error) from None
    except BaseException:
        connection.close()
        raise
    return ledger


MOVED_KEY = "moved_to"  # set by migrate-state: the shared state this ledger now lives in


def refuse_if_moved(ledger: Ledger) -> None:
    """StateError if ``ledger`` was copied into a shared state by `migrate-state`: a cron
    job still pointing here must not send what the shared state sends too."""
    moved_to = setting(ledger, MOVED_KEY)
    if moved_to is not None:
        raise StateError(
            f"the state database {ledger.path} was moved by `ctmaint migrate-state` to "
            f"{moved_to}: give that URL as the state from now on (and stop any cron job that "
            "still names this file)",
            about=Input.STATE,
        )


def open_sqlite_snapshot(path: Path) -> Ledger:
    """A read-only view of the database, for commands that must change nothing
    (``--dry-run``, listings, reading the changes on a cron tick).

    A current database is opened read-only in place (immutable when its folder cannot be
    written, where SQLite could not create the WAL's shared-memory file); an older one is
    copied into memory and the copy migrated; a missing one gives an empty ledger.
    Nothing is created.
    """
    if not path.exists():
        return memory_ledger(path)
    _check_existing(path)
    try:
        source = _connect_read_only(path)
        version = int(source.execute("PRAGMA user_version").fetchone()[0])
        if version == len(MIGRATIONS):
            return Ledger(source, path)
        memory = sqlite3.connect(":memory:", isolation_level=None)
        source.backup(memory)
        source.close()
        ledger = Ledger(memory, path)
        migrate(ledger)
        return ledger
    except sqlite3.DatabaseError as error:
        raise damaged(path, error) from None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    writable = os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)
    mode = "mode=ro" if writable else "mode=ro&immutable=1"
    return sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=BUSY_TIMEOUT_S)


def damaged(path: Path, error: BaseException) -> StateError:
    """The one sentence for a state database SQLite cannot read."""
    return StateError(
        f"the state database {path} cannot be read ({error}); it may be damaged: restore it "
        "from your backup, and keep the damaged copy"
    )


_HEADER = b"SQLite format 3\x00"


def _check_existing(path: Path) -> None:
    """Refuse a file that is not a whole ctmaint state database."""
    try:
        with path.open("rb") as stream:
            header = stream.read(100)
    except IsADirectoryError:
        raise StateError(f"the state database {path} is a folder; give a file path") from None
    except OSError as error:
        raise StateError(f"the state database {path} cannot be read ({error.strerror})") from None
    if not header:
        raise StateError(
            f"the state database {path} is empty (0 bytes), so its records are lost; restore "
            "it from your backup (ctmaint does not start a new one over it)"
        )
    if not header.startswith(_HEADER) or len(header) < 100:
        raise StateError(
            f"{path} is not a SQLite database; restore the state database from your backup"
        )
    size = path.stat().st_size
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    # The header's page count is valid when its version-valid-for number equals the change
    # counter; pages still in a WAL file may not be in the main file yet.
    pages = int.from_bytes(header[28:32], "big")
    counted = header[92:96] == header[24:28]
    in_wal = path.with_name(path.name + "-wal").exists()
    if not page or size % page or (counted and not in_wal and size < pages * page):
        raise StateError(
            f"the state database {path} is truncated ({size} bytes); restore it from your backup"
        )


def _check_writable(path: Path) -> None:
    """A writing command needs the file and its folder (for the WAL) writable: say so at once
    rather than after SQLite's busy timeout."""
    for target, what in ((path, "file"), (path.parent, "folder")):
        if not os.access(target, os.W_OK):
            raise StateError(
                f"the state database's {what} {target} is read-only; this command writes to it "
                "(upcoming, notices, history and a dry run of send only read)"
            )


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
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _create_whole(path: Path) -> None:
    """Create the database at ``path`` fully migrated, or not at all.

    It is built under a temporary name in the same folder and linked into place, so no
    reader ever sees a half-made or empty file; if another process creates it first, theirs
    is kept.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
        os.close(handle)  # mkstemp creates it 0600: SQLite keeps the mode
    except OSError as error:
        raise StateError(
            f"cannot create the state database {path} ({error.strerror}); give a state path "
            "in a folder you can write",
            about=Input.STATE,
        ) from None
    temporary = Path(name)
    try:
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            migrate(Ledger(connection, temporary))
        finally:
            connection.close()
        with suppress(FileExistsError):
            os.link(temporary, path)
    except (OSError, sqlite3.Error) as error:
        raise StateError(f"cannot create the state database {path} ({error})") from None
    finally:
        temporary.unlink(missing_ok=True)


LEDGER_ID_KEY = "ledger_id"  # the ledger's identity: `check` names it on every host


def ledger_id(ledger: Ledger) -> str | None:
    """The identity recorded in ``ledger`` when it was made (or first opened by a ctmaint
    that knows identities); None in a ledger nobody has written."""
    return setting(ledger, LEDGER_ID_KEY)


def setting(ledger: Ledger, key: str) -> str | None:
    """The value of ``key`` in the ledger's settings, or None."""
    row = ledger.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


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
            f"the state database {ledger.path} has schema version {ledger.schema_version}, "
            f"newer than this ctmaint knows ({target}); upgrade ctmaint"
        )
    while ledger.schema_version < target:
        with ledger.transaction():
            version = ledger.schema_version  # re-read under the lock: another process may have won
            if version >= target:
                break
            for statement in MIGRATIONS[version]:
                ledger.execute(statement)
            ledger.set_schema_version(version + 1)


# -- deliveries ------------------------------------------------------------------------------
# A delivery is one (notice, recipient) row; its states are :class:`DeliveryState`. A run
# that dies leaves rows in 'sending'; the next run, holding the send lock, knows they were
# in flight and decides what to do with them (see :mod:`ctmaint.sending.plan`).

RowKey = tuple[str, str]  # (notice id, recipient)


class DeliveryRow(Struct, frozen=True):
    """One (notice, recipient) row of the ledger as stored."""

    notice_id: str
    recipient: str
    window_id: str
    stage: str
    account: str
    state: DeliveryState
    attempts: int
    sent_at: str | None
    transport: str | None
    message_id: str | None
    error: str | None
    resent_uncertain: bool = False
    host: str = ""  # the host whose send made the row ('' before hosts were recorded)

    @property
    def key(self) -> RowKey:
        return self.notice_id, self.recipient


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class Deliveries:
    """Queries on the delivery ledger. Each method is one transaction (or joins the one
    its caller holds)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def setting(self, key: str) -> str | None:
        return setting(self.ledger, key)

    def set_setting(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing any."""
        with self.ledger.transaction() as ledger:
            ledger.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def set_earliest(self, key: str, value: str) -> str:
        """Store ``value`` (UTC text, ``...Z``) unless ``key`` holds an earlier one; return
        what is stored. The first send's time: a run whose clock was ahead set it too late."""
        with self.ledger.transaction():
            stored = self.setting(key)
            if stored is None or value < stored:
                self.set_setting(key, value)  # joins this transaction
                stored = value
        return stored

    def sent_count(self, notice_id: str) -> int:
        """How many recipients ``notice_id`` was sent to."""
        row = self.ledger.execute(
            "SELECT count(*) FROM deliveries WHERE notice_id = ? AND state = ?",
            (notice_id, DeliveryState.SENT),
        ).fetchone()
        return int(row[0])

    def add(
        self,
        notice_id: str,
        window_id: str,
        stage: str,
        recipients: Iterable[tuple[str, str]],
        state: DeliveryState,
        due: datetime,
        expires: datetime,
        now: datetime,
    ) -> int:
        """Add a row per ``(address, account)`` not yet in the ledger; return how many.

        Writes nothing (no transaction, no fsync) when there is nothing to add: a cron
        tick with nothing new stays cheap.
        """
        times = (_utc(due), _utc(expires), _utc(now))
        rows = [
            (notice_id, address, window_id, stage, account, str(state), *times, self.ledger.host)
            for address, account in recipients
        ]
        if not rows:
            return 0
        with self.ledger.transaction() as ledger:
            return ledger.executemany(
                "INSERT INTO deliveries (notice_id, recipient, window_id, stage,"
                " account, state, due_at, expires_at, updated_at, host)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )

    def set_state(
        self,
        keys: Iterable[RowKey],
        state: DeliveryState,
        error: str | None,
        now: datetime,
        *,
        only_from: Iterable[DeliveryState],
        resent_uncertain: bool = False,
    ) -> int:
        """Move the rows ``keys`` that are in one of ``only_from`` to ``state``; return how
        many moved. The condition on the old state makes each move safe to repeat."""
        sources = [str(s) for s in only_from]
        flag = ", resent_uncertain = 1" if resent_uncertain else ""
        rows = [
            (str(state), _utc(now), error, notice_id, address, *sources)
            for notice_id, address in keys
        ]
        if not rows:
            return 0
        with self.ledger.transaction() as ledger:
            return ledger.executemany(
                "UPDATE deliveries SET state = ?, updated_at = ?, error = COALESCE(?, error)"
                f"{flag} WHERE notice_id = ? AND recipient = ?"
                f" AND state IN ({_marks(len(sources))})",
                rows,
            )

    def cancel_undelivered(self, window_id: str, keep_stage: str, now: datetime) -> int:
        """A window was cancelled: its notices still waiting (pending, or uncertain after no
        answer) are never sent. Rows in 'sending' belong to a run in progress, which
        records them; the next run resolves them. ``keep_stage`` (the cancel notice's own
        stage) is left alone."""
        with self.ledger.transaction() as ledger:
            cursor = ledger.execute(
                "UPDATE deliveries SET state = 'cancelled', updated_at = ?,"
                " error = 'not sent: the window was cancelled'"
                " WHERE window_id = ? AND state IN ('pending', 'uncertain') AND stage != ?",
                (_utc(now), window_id, keep_stage),
            )
            return int(cursor.rowcount)

    def claim(self, notice_id: str, recipients: Iterable[str], now: datetime) -> list[str]:
        """Atomically move the notice's pending rows for ``recipients`` to 'sending'.

        Returns the addresses claimed: one statement moves each row only if it is still
        pending, so a row claimed by one run (on any host) is never claimed by another.
        """
        wanted = sorted(set(recipients))
        if not wanted:
            return []
        with self.ledger.transaction() as ledger:
            cursor = ledger.execute(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1,"
                " updated_at = ? WHERE notice_id = ? AND state = 'pending'"
                f" AND recipient IN ({_marks(len(wanted))}) RETURNING recipient",
                (_utc(now), notice_id, *wanted),
            )
            return [str(row[0]) for row in cursor]

    def record(
        self,
        notice_id: str,
        outcomes: Iterable[tuple[str, DeliveryState, str | None, str | None]],
        transport: str,
        now: datetime,
    ) -> None:
        """Store each ``(address, state, message id, error)`` of claimed rows."""
        stamp = _utc(now)
        with self.ledger.transaction() as ledger:
            ledger.executemany(
                # a row sent after a problem keeps the problem's note for `history`
                "UPDATE deliveries SET state = ?, message_id = COALESCE(?, message_id),"
                " error = COALESCE(?, error), transport = ?, updated_at = ?,"
                " sent_at = CASE WHEN CAST(? AS TEXT) = 'sent' THEN ? ELSE sent_at END"
                " WHERE notice_id = ? AND recipient = ? AND state = 'sending'",
                [
                    (str(state), message_id, error, transport, stamp, str(state), stamp,
                     notice_id, address)
                    for address, state, message_id, error in outcomes
                ],
            )  # fmt: skip

    def rows(self) -> list[DeliveryRow]:
        """Every delivery, in due order."""
        cursor = self.ledger.execute(
            "SELECT notice_id, recipient, window_id, stage, account, state, attempts,"
            " sent_at, transport, message_id, error, resent_uncertain, host FROM deliveries"
            " ORDER BY due_at, notice_id, recipient"
        )
        return [
            DeliveryRow(
                notice_id=notice_id, recipient=recipient, window_id=window_id, stage=stage,
                account=account, state=DeliveryState(state), attempts=attempts,
                sent_at=sent_at, transport=transport, message_id=message_id, error=error,
                resent_uncertain=bool(resent), host=host or "",
            )
            for (notice_id, recipient, window_id, stage, account, state, attempts, sent_at,
                 transport, message_id, error, resent, host) in cursor
        ]  # fmt: skip

    def states(self) -> dict[str, dict[str, int]]:
        """``notice id -> state -> count`` over the whole ledger."""
        counts: dict[str, dict[str, int]] = {}
        for notice_id, state, count in self.ledger.execute(
            "SELECT notice_id, state, count(*) FROM deliveries GROUP BY notice_id, state"
        ):
            counts.setdefault(notice_id, {})[state] = int(count)
        return counts

    # -- status posts ----------------------------------------------------------------------

    def posted(self) -> set[str]:
        return {str(row[0]) for row in self.ledger.execute("SELECT notice_id FROM posts")}

    def add_post(
        self, notice_id: str, window_id: str, stage: str, status: str, title: str, path: str,
        posted_at: datetime,
    ) -> None:  # fmt: skip
        with self.ledger.transaction() as ledger:
            ledger.execute(
                "INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (notice_id, window_id, stage, status, title, path, _utc(posted_at)),
            )

    def refile_posts(self, posts: Iterable[tuple[str, str, str]]) -> None:
        """Record, in one transaction, each ``(notice id, path, title)``: where a post's file
        now is and the title it has there (:mod:`ctmaint.channels.posts`)."""
        with self.ledger.transaction() as ledger:
            ledger.executemany(
                "UPDATE posts SET path = ?, title = ? WHERE notice_id = ?",
                [(path, title, notice_id) for notice_id, path, title in posts],
            )

    def posts(self) -> list[dict[str, str]]:
        """Every status post, newest first."""
        cursor = self.ledger.execute(
            "SELECT notice_id, window_id, stage, status, title, path, posted_at FROM posts"
            " ORDER BY posted_at DESC, notice_id DESC"
        )
        keys = ("notice", "window", "stage", "status", "title", "path", "posted_at")
        return [dict(zip(keys, row, strict=True)) for row in cursor]


class StoredChange(Struct, frozen=True):
    """One row of the change log as stored: ``fields`` is the decoded JSON object."""

    seq: int
    window_id: str
    kind: str
    fields: dict[str, Any]
    made_at: datetime
    made_by: str


class Changes:
    """The log of operator changes, oldest first. It stores what it is given; what a
    change means is :mod:`ctmaint.model.changes`'s business."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def all(self) -> list[StoredChange]:
        cursor = self.ledger.execute(
            "SELECT seq, window_id, kind, fields, made_at, made_by FROM changes ORDER BY seq"
        )
        try:
            return [
                StoredChange(seq, window_id, kind, json.loads(fields),
                             datetime.fromisoformat(made_at), by)
                for seq, window_id, kind, fields, made_at, by in cursor
            ]  # fmt: skip
        except ValueError as error:
            raise StateError(
                f"the change log in {self.ledger.path} cannot be read ({error}); "
                "restore the state database from a backup"
            ) from None

    def add(
        self, window_id: str, kind: str, fields: dict[str, Any], made_at: datetime, made_by: str
    ) -> None:
        """Append one change. Raises :class:`WindowTaken` if ``kind`` is 'add' and the id
        is already used (the unique index of migration 4)."""
        with self.ledger.transaction() as ledger:
            taken = ledger.execute(
                "SELECT count(*) FROM changes WHERE window_id = ? AND kind = 'add'", (window_id,)
            ).fetchone()[0]
            if kind == "add" and taken:  # the unique index would refuse it too
                raise WindowTaken(window_id)
            ledger.execute(
                "INSERT INTO changes (window_id, kind, fields, made_at, made_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (window_id, kind, json.dumps(fields, sort_keys=True), _utc(made_at), made_by),
            )


class WindowTaken(StateError):
    """Another change already added a window with this id."""

    def __init__(self, window_id: str) -> None:
        super().__init__(f"the window id {window_id} is already taken")
        self.window_id = window_id
