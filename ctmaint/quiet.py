"""A cron tick with nothing due, answered without doing the work again.

Most `ctmaint send` runs find nothing to do. A run whose plan was empty, and which had
nothing to report, remembers so in the state (one row of ``settings``): the line it printed,
the span of time in which nothing can come due (up to the next due or expiry time of any
notice or the next time a window enters or leaves the span `send` looks at, and at most
:data:`LONGEST`), and a digest of everything its plan was made from:

- ctmaint's own code: its version, and the size and time of each of its files;
- the working folder, the policy and state files, the run's options, and the environment
  the transports read (the SendGrid key goes into the digest only, never into the state);
- the bytes of the policy file and of contacts.csv, as the run read them;
- the state's schema version, last change, last delivery row, last post and epoch, and
  that no delivery is waiting.

A later tick (:func:`recall`) that finds the same digest while its clock is inside the span
prints that line and stops. Anything else (a changed file, an operator's change, a row not
settled, a clock outside the span, a state that is damaged by its size, not writable or
locked by another `send`) and it does the full run, which is always right and reports what
is wrong. A run whose plan does anything forgets the record first.

Only a SQLite state keeps a record; several hosts sharing PostgreSQL always do the full run.
This module is on the path of every tick, so it imports only the standard library.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ctmaint

RECORD_KEY = "quiet"
LONGEST = timedelta(hours=1)  # how long a record can stand, whatever the schedule says
EMBEDDED_POLICY = Path(__file__).parent / "data" / "policy.toml"
ENVIRONMENT = ("SENDGRID_API_KEY", "CTMAINT_SENDGRID_HOST")  # what the transports read
_CODE = Path(__file__).parent

# One query for everything in the state a send plan depends on besides the files.
_STATE_MARKS = """
SELECT (SELECT coalesce(max(seq), 0) FROM changes),
       (SELECT coalesce(max(rowid), 0) FROM deliveries),
       (SELECT coalesce(max(rowid), 0) FROM posts),
       (SELECT value FROM settings WHERE key = 'send_epoch'),
       EXISTS (SELECT 1 FROM deliveries WHERE state IN ('pending', 'sending', 'uncertain'))
"""


@dataclass(frozen=True)
class Tick:
    """One `send` as it was asked for: where it runs and with which options."""

    cwd: Path
    config: Path | None  # None: the embedded policy
    state: Path
    transport: str | None
    notices: Path
    outbox: Path | None

    def parts(self) -> list[str]:
        options = [self.cwd, self.config, self.state, self.notices, self.outbox]
        paths = [str(part.absolute()) if part else "" for part in options]
        return [*paths, "embedded" if self.config is None else "file", self.transport or ""]


@dataclass(frozen=True)
class Record:
    """What a quiet run remembers (see the module docstring)."""

    digest: str
    since: datetime
    until: datetime
    line: str
    inputs: tuple[str, ...]  # the files the run read, by absolute path

    def to_json(self) -> str:
        import json  # only the full run writes a record; a tick reads it with SQLite's JSON

        return json.dumps(
            {"digest": self.digest, "since": self.since.astimezone(UTC).isoformat(),
             "until": self.until.astimezone(UTC).isoformat(), "line": self.line,
             "inputs": list(self.inputs)}
        )  # fmt: skip

    @classmethod
    def read(cls, db: Any) -> Record | None:
        """The record in ``db`` (a DB-API connection), parsed by SQLite's own JSON
        functions so that a tick never imports Python's; None if there is none."""
        fields = ", ".join(f"json_extract(value, '$.{name}')"
                           for name in ("digest", "since", "until", "line"))  # fmt: skip
        row = db.execute(f"SELECT {fields} FROM settings WHERE key = ?", (RECORD_KEY,)).fetchone()
        if row is None:
            return None
        inputs = db.execute(
            "SELECT entry.value FROM settings, json_each(settings.value, '$.inputs') AS entry"
            " WHERE settings.key = ?",
            (RECORD_KEY,),
        ).fetchall()
        return cls(
            str(row[0]),
            datetime.fromisoformat(row[1]),
            datetime.fromisoformat(row[2]),
            str(row[3]),
            tuple(str(entry[0]) for entry in inputs),
        )


def file_digest(path: Path) -> str:
    """A digest of the file's bytes; a missing or unreadable file has a digest of its own."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"unreadable {error.errno}"


def digest(tick: Tick, inputs: dict[str, str], marks: tuple[Any, ...]) -> str:
    """The digest of a run: ``inputs`` maps each file read to :func:`file_digest`."""
    hashed = hashlib.sha256()
    parts = [
        ctmaint.__version__, *_code_signature(), *tick.parts(),
        *(os.environ.get(name, "") for name in ENVIRONMENT),
        *(f"{path}={inputs[path]}" for path in sorted(inputs)), *map(str, marks),
    ]  # fmt: skip
    for part in parts:
        hashed.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return hashed.hexdigest()


def _code_signature() -> list[str]:
    """Each file of the installed package with its size and time: an upgrade, or an edit
    in a development checkout, makes every record stale."""
    found = []
    for folder, subfolders, files in os.walk(_CODE):
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        for name in sorted(files):
            try:
                status = os.lstat(os.path.join(folder, name))
            except OSError:  # gone while listed: its name alone still counts
                status = None
            stamp = f"{status.st_size}:{status.st_mtime_ns}" if status else "gone"
            found.append(f"{folder}/{name}:{stamp}")
    return found


def state_marks(db: Any) -> tuple[Any, ...]:
    """The marks of a SQLite state (a DB-API connection or a Ledger): its schema version,
    then :data:`_STATE_MARKS`."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    return (version, *db.execute(_STATE_MARKS).fetchone())


def recall(tick: Tick, now: datetime) -> str | None:
    """The line the full run would print now, if a quiet run left a record that still
    holds (see the module docstring); otherwise None. Never raises: anything unexpected
    means the full run, which reports it properly."""
    state = tick.state.absolute()
    if not _usable(state):
        return None
    try:
        db = sqlite3.connect(f"file:{quote(str(state))}?mode=ro", uri=True, isolation_level=None)
        try:
            db.execute("BEGIN")  # the record and the marks from one snapshot
            record = Record.read(db)
            marks = state_marks(db)
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            page = db.execute("PRAGMA page_size").fetchone()[0]
        finally:
            db.close()
        size, wal = state.stat().st_size, state.with_name(state.name + "-wal").exists()
        if record is None or size % page or (not wal and size < pages * page):
            return None  # no record; or a damaged file, which the full run reports
        if not record.since <= now < record.until:
            return None
        inputs = {path: file_digest(Path(path)) for path in record.inputs}
        return record.line if digest(tick, inputs, marks) == record.digest else None
    except (sqlite3.Error, OSError, ValueError, KeyError, TypeError):
        return None


def send_lock_file(state: Path) -> Path:
    """The file beside a SQLite state that a running `send` holds locked."""
    return state.with_name(state.name + ".send.lock")


def _usable(state: Path) -> bool:
    """What the full run would find wrong before any work, checked cheaply: the state is a
    file it can write, in a folder it can write, and no other `send` holds its lock (then
    the full run says so). Damage inside the file is found by the full run only."""
    if not state.is_file() or not os.access(state, os.W_OK):
        return False
    if not os.access(state.parent, os.W_OK):
        return False
    lock = send_lock_file(state)
    try:
        handle = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except OSError:  # another run holds it
        return False
    finally:
        os.close(handle)


def remember(db: Any, record: Record) -> None:
    """Store ``record`` (``db``: a Ledger in a write transaction)."""
    db.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (RECORD_KEY, record.to_json()),
    )


def forget(db: Any) -> None:
    """Drop the record: this run is about to change what it was made from."""
    db.execute("DELETE FROM settings WHERE key = ?", (RECORD_KEY,))
