"""A cron tick with nothing due, answered without doing the work again.

Most `ctmaint send` runs find nothing to do. A run whose plan was empty, and which had
nothing to report, remembers so in the state (one row of ``settings``): the line it printed,
the span of time in which nothing can come due (up to the next due or expiry time of any
notice, and at most :data:`LONGEST`), and a digest of everything its plan was made from:

- ctmaint's own code: its version, and the size and time of each of its files;
- the working folder, the policy and state files, the run's options, and the environment
  the transports read (the SendGrid key goes into the digest only, never into the state);
- the bytes of the policy file and of contacts.csv, as the run read them;
- the state's schema version, last change, last delivery row, last post and epoch, and
  that no delivery is waiting.

A later tick (:func:`recall`) that finds the same digest while its clock is inside the span
prints that line and stops. Anything else (a changed file, an operator's change, a row not
settled, a clock outside the span, a state that cannot be read) and it does the full run,
which is always right. A run whose plan does anything forgets the record first.

Only a SQLite state keeps a record; several hosts sharing PostgreSQL always do the full run.
This module is on the path of every tick, so it imports only the standard library.
"""

from __future__ import annotations

import hashlib
import json
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
    policy_file: Path
    state: Path
    transport: str | None
    notices: Path
    outbox: Path | None

    def parts(self) -> list[str]:
        options = [self.cwd, self.policy_file, self.state, self.notices, self.outbox]
        return [str(part.absolute()) if part else "" for part in options] + [self.transport or ""]


@dataclass(frozen=True)
class Record:
    """What a quiet run remembers (see the module docstring)."""

    digest: str
    since: datetime
    until: datetime
    line: str
    inputs: tuple[str, ...]  # the files the run read, by absolute path

    def to_json(self) -> str:
        return json.dumps(
            {"digest": self.digest, "since": self.since.astimezone(UTC).isoformat(),
             "until": self.until.astimezone(UTC).isoformat(), "line": self.line,
             "inputs": list(self.inputs)}
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Record:
        data = json.loads(text)
        return cls(
            str(data["digest"]),
            datetime.fromisoformat(data["since"]),
            datetime.fromisoformat(data["until"]),
            str(data["line"]),
            tuple(str(path) for path in data["inputs"]),
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
            status = os.stat(os.path.join(folder, name))
            found.append(f"{folder}/{name}:{status.st_size}:{status.st_mtime_ns}")
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
    if not tick.state.is_file():
        return None
    try:
        uri = f"file:{quote(str(tick.state.absolute()))}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            db.execute("BEGIN")  # the record and the marks from one snapshot
            row = db.execute("SELECT value FROM settings WHERE key = ?", (RECORD_KEY,)).fetchone()
            marks = state_marks(db)
        finally:
            db.close()
        if row is None:
            return None
        record = Record.from_json(row[0])
        if not record.since <= now < record.until:
            return None
        inputs = {path: file_digest(Path(path)) for path in record.inputs}
        return record.line if digest(tick, inputs, marks) == record.digest else None
    except (sqlite3.Error, OSError, ValueError, KeyError, TypeError):
        return None


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
