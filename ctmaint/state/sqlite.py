"""SQLite state: a file on one host that is a record, never a cache.

A missing database is created whole (migrated under a temporary name, then linked into
place), owner-only; an existing file that is not a whole ctmaint database is refused, never
rebuilt, since a new ledger would send every reminder again and forget every cancellation.
The database runs in WAL mode, so readers never block the writer, and every lock wait is
bounded by :data:`~ctmaint.state.dialects.BUSY_TIMEOUT_S`. A file that `migrate-state`
copied into a shared state is refused from then on.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from ctmaint.errors import Input, StateError
from ctmaint.state.dialects import BUSY_TIMEOUT_S
from ctmaint.state.ledger import Ledger, setting
from ctmaint.state.location import SqliteFile
from ctmaint.state.migrations import MIGRATIONS, memory_ledger, migrate


def open_ledger(file: SqliteFile) -> Ledger:
    """Open for writing and migrate; a missing database is created whole, owner-only.

    An existing file that is empty, not a SQLite database, or a SQLite database ctmaint did
    not create is refused, never re-created: the ledger is a record, and a new one would
    send every reminder again and forget every cancellation.
    """
    path = file.path
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
    ledger = Ledger(connection, file)
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
            f"the state database {ledger.location} was moved by `ctmaint migrate-state` to "
            f"{moved_to}: give that URL as the state from now on (and stop any cron job that "
            "still names this file)",
            about=Input.STATE,
        )


def open_snapshot(file: SqliteFile) -> Ledger:
    """A read-only view of the database, for commands that must change nothing
    (``--dry-run``, listings, reading the changes on a cron tick).

    A current database is opened read-only in place (immutable when its folder cannot be
    written, where SQLite could not create the WAL's shared-memory file); an older one is
    copied into memory and the copy migrated; a missing one gives an empty ledger.
    Nothing is created.
    """
    path = file.path
    if not path.exists():
        return memory_ledger(file)
    _check_existing(path)
    try:
        source = _connect_read_only(path)
        version = int(source.execute("PRAGMA user_version").fetchone()[0])
        if version == len(MIGRATIONS):
            return Ledger(source, file)
        memory = sqlite3.connect(":memory:", isolation_level=None)
        source.backup(memory)
        source.close()
        ledger = Ledger(memory, file)
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
            migrate(Ledger(connection, SqliteFile(temporary)))
        finally:
            connection.close()
        with suppress(FileExistsError):
            os.link(temporary, path)
    except (OSError, sqlite3.Error) as error:
        raise StateError(f"cannot create the state database {path} ({error})") from None
    finally:
        temporary.unlink(missing_ok=True)
