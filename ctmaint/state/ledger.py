"""The one ledger API: an open state database, and the queries on what it records.

:class:`Ledger` is a connection in a :class:`~ctmaint.state.dialects.Dialect` with write
transactions that hold the write lock; :class:`Deliveries` (what was sent to whom, status
posts, settings) and :class:`Changes` (the operator's change log) are the queries the rest of
ctmaint uses. Times are stored as UTC text (``YYYY-MM-DDTHH:MM:SSZ``) passed in as
parameters: the database's own clock is never used. Which database, how it is opened and
how its schema is made are :mod:`ctmaint.state.open`'s business, below which this module
sits: it imports only the dialects and the locations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from msgspec import Struct

from ctmaint.errors import StateError
from ctmaint.model.vocabulary import EMAIL, DeliveryState
from ctmaint.state.dialects import SQLITE, Dialect
from ctmaint.state.location import StateLocation


class Ledger:
    """An open state database. Use :func:`ctmaint.state.open.open_ledger`; close with
    :meth:`close`. Messages name it by its ``location`` (a path, or a URL without its
    password).
    """

    def __init__(self, connection: Any, location: StateLocation, dialect: Dialect = SQLITE) -> None:
        self.db = connection
        self.location = location
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
            found = self.dialect.translate(error, str(self.location))
            if found is None:
                raise
            raise found from None

    @property
    def schema_version(self) -> int:
        """The version of the schema (the number of migrations applied; 0: none yet)."""
        return self.dialect.schema_version(self)

    def set_schema_version(self, version: int) -> None:
        self.dialect.set_schema_version(self, version)

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


LEDGER_ID_KEY = "ledger_id"  # the ledger's identity: `check` names it on every host


def ledger_id(ledger: Ledger) -> str | None:
    """The identity recorded in ``ledger`` when it was made (or first opened by a ctmaint
    that knows identities); None in a ledger nobody has written."""
    return setting(ledger, LEDGER_ID_KEY)


def setting(ledger: Ledger, key: str) -> str | None:
    """The value of ``key`` in the ledger's settings, or None."""
    row = ledger.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


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
    channel: str = EMAIL  # email, or the subscription's channel (teams, slack, webhook)

    @property
    def key(self) -> RowKey:
        return self.notice_id, self.recipient


class LedgerNotice(Struct, frozen=True):
    """What every delivery row of one notice records of it."""

    notice_id: str  # <window id>/<stage>
    window_id: str
    stage: str
    due: datetime
    expires: datetime  # the end of its grace period


class PostRow(Struct, frozen=True):
    """One status post as the ledger records it: the notice it tells of, and its file."""

    notice_id: str
    window_id: str
    stage: str
    status: str
    title: str
    path: str  # where its file is, under the notices folder
    posted_at: datetime


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
        notice: LedgerNotice,
        recipients: Iterable[tuple[str, str, str]],
        state: DeliveryState,
        now: datetime,
    ) -> int:
        """Add a row of ``notice`` in ``state`` per ``(address, account, channel)`` not yet
        in the ledger; return how many. A subscription's address is its key.

        Writes nothing (no transaction, no fsync) when there is nothing to add: a cron
        tick with nothing new stays cheap.
        """
        same = (str(state), _utc(notice.due), _utc(notice.expires), _utc(now), self.ledger.host)
        rows = [
            (notice.notice_id, address, notice.window_id, notice.stage, account, channel, *same)
            for address, account, channel in recipients
        ]
        if not rows:
            return 0
        with self.ledger.transaction() as ledger:
            return ledger.executemany(
                "INSERT INTO deliveries (notice_id, recipient, window_id, stage, account,"
                " channel, state, due_at, expires_at, updated_at, host)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
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
        rows = [
            (str(state), message_id, error, transport, stamp, str(state), stamp, notice_id, address)
            for address, state, message_id, error in outcomes
        ]
        with self.ledger.transaction() as ledger:
            ledger.executemany(
                # a row sent after a problem keeps the problem's note for `history`
                "UPDATE deliveries SET state = ?, message_id = COALESCE(?, message_id),"
                " error = COALESCE(?, error), transport = ?, updated_at = ?,"
                " sent_at = CASE WHEN CAST(? AS TEXT) = 'sent' THEN ? ELSE sent_at END"
                " WHERE notice_id = ? AND recipient = ? AND state = 'sending'",
                rows,
            )

    def rows(self) -> list[DeliveryRow]:
        """Every delivery, in due order."""
        cursor = self.ledger.execute(
            "SELECT notice_id, recipient, window_id, stage, account, state, attempts,"
            " sent_at, transport, message_id, error, resent_uncertain, host, channel"
            " FROM deliveries"
            " ORDER BY due_at, notice_id, recipient"
        )
        return [_delivery_row(row) for row in cursor]

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

    def add_post(self, post: PostRow) -> None:
        """Record ``post``, unless its notice's post is recorded already."""
        what = (post.notice_id, post.window_id, post.stage, post.status, post.title, post.path)
        with self.ledger.transaction() as ledger:
            ledger.execute(
                "INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*what, _utc(post.posted_at)),
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


def _delivery_row(row: tuple[Any, ...]) -> DeliveryRow:
    """One row of :meth:`Deliveries.rows`'s query, whose columns are the fields in order:
    its state read into the vocabulary, its flag as a bool, and '' for no host."""
    notice_id, recipient, window_id, stage, account, state, attempts, *stored = row
    sent_at, transport, message_id, error, resent, host, channel = stored
    return DeliveryRow(
        notice_id,
        recipient,
        window_id,
        stage,
        account,
        DeliveryState(state),
        attempts,
        sent_at,
        transport,
        message_id,
        error,
        bool(resent),
        host or "",
        channel,
    )


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
                StoredChange(seq, window, kind, json.loads(fields), datetime.fromisoformat(at), by)
                for seq, window, kind, fields, at, by in cursor
            ]
        except ValueError as error:
            raise StateError(
                f"the change log in {self.ledger.location} cannot be read ({error}); "
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
