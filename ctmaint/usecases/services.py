"""`ctmaint migrate-state`: copy a SQLite state into a PostgreSQL database that several
hosts share, and how a state is named in messages (a URL's password masked)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctmaint.errors import (
    Input,
    StateError,
    UsageError,
)
from ctmaint.model.text import plural
from ctmaint.model.vocabulary import DeliveryState
from ctmaint.sending import run as dispatch
from ctmaint.state.ledger import (
    LEDGER_ID_KEY,
    MOVED_KEY,
    Ledger,
    StateLocation,
    ledger_id,
)

if TYPE_CHECKING:  # reports are built by `notices` and `history`, not on a cron tick
    pass
from ctmaint.usecases.workspace import Workspace as Workspace  # where the tests find it


def masked_state(state: StateLocation | str) -> str:
    """The state as messages show it: a path, or a URL with its password masked."""
    if isinstance(state, str):
        from ctmaint.state.postgres import masked

        return masked(state)
    return str(state)


# The tables a state holds, in the order they are copied, with their columns.
_TABLES = {
    "changes": "seq, window_id, kind, fields, made_at, made_by",
    "deliveries": "notice_id, recipient, window_id, stage, account, state, attempts, due_at,"
    " expires_at, updated_at, sent_at, transport, message_id, error, resent_uncertain, host",
    "posts": "notice_id, window_id, stage, status, title, path, posted_at",
    "settings": "key, value",
}  # not hosts: only a shared state records them


def migrate_state(workspace: Workspace, url: str) -> dict[str, int]:
    """Copy the SQLite state of ``workspace`` into the empty PostgreSQL database at
    ``url``, in one transaction: every change (with its number), delivery, post and setting,
    the ledger's identity included; then mark the SQLite file as moved, so that a cron job
    still naming it refuses to send.

    Holds the SQLite state's send lock throughout (waiting as a second `send` does, then
    refusing), and refuses rows in flight, which only a send on the old state can settle.
    """
    from ctmaint.state import postgres

    if workspace.shared:
        raise UsageError("the state to copy from must be a SQLite file", about=Input.STATE)
    try:
        postgres.check_url(url)
    except StateError as error:
        raise UsageError(str(error), about=Input.TO) from None
    with dispatch.send_lock(workspace.state) as held:
        if held is None:
            raise StateError(
                f"a `ctmaint send` on {workspace.state} is still running (it kept the send lock "
                f"for {dispatch.LOCK_WAIT_S:.0f} s): stop cron's `ctmaint send`, then migrate"
            )
        source = workspace.ledger  # refuses a state already moved
        # One SQLite write transaction from the read to the mark: an operator's change made
        # meanwhile waits for it (then is refused: the file is moved), never lost; if the
        # copy fails, the mark is rolled back with it.
        with source.transaction():
            rows = _rows_to_copy(source)
            source.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)",
                (MOVED_KEY, postgres.masked(url)),
            )
            _copy_into(url, rows)
    return {table: len(found) for table, found in rows.items()}


def _rows_to_copy(source: Ledger) -> dict[str, list[Any]]:
    """Every row of the SQLite ledger, read in one transaction; StateError if a delivery is
    in flight (left 'sending' by a run that stopped)."""
    with source.transaction():
        in_flight = int(
            source.execute(
                "SELECT count(*) FROM deliveries WHERE state = ?", (DeliveryState.SENDING,)
            ).fetchone()[0]
        )
        if in_flight:
            verb = "is" if in_flight == 1 else "are"
            raise StateError(
                f"{plural(in_flight, 'delivery', 'deliveries')} of {source.path} {verb} in "
                "flight, left by a `ctmaint send` that stopped: run `ctmaint send` on it once "
                "to settle them, then migrate"
            )
        return {
            table: list(source.execute(f"SELECT {columns} FROM {table}"))
            for table, columns in _TABLES.items()
        }


def _same_copy(target: Ledger, rows: dict[str, list[Any]]) -> bool:
    """Whether ``target`` already holds exactly ``rows``: the same ledger (its identity)
    with as many records of each kind, copied by a migration stopped before its end."""
    source_id = next((value for key, value in rows["settings"] if key == LEDGER_ID_KEY), None)
    if source_id is None or ledger_id(target) != source_id:
        return False
    return all(
        int(target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) == len(found_rows)
        for table, found_rows in rows.items()
    )


def _copy_into(url: str, rows: dict[str, list[Any]]) -> None:
    """Insert ``rows`` into the empty shared ledger at ``url``, in one transaction; the
    identity the new ledger was given makes way for the copied one's."""
    from ctmaint.state import postgres

    target = postgres.open_ledger(url)
    try:
        if _same_copy(target, rows):
            return  # an earlier run copied it and stopped before marking the file as moved
        with target.transaction():
            target.execute("DELETE FROM settings WHERE key = ?", (LEDGER_ID_KEY,))
            held = sum(
                int(target.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in _TABLES
            )
            if held:
                raise StateError(
                    f"the state database {postgres.masked(url)} already holds {held} records; "
                    "copy into an empty database"
                )
            for table, columns in _TABLES.items():
                marks = ", ".join("?" * len(columns.split(",")))
                target.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows[table])
            target.execute(
                "SELECT setval(pg_get_serial_sequence('changes', 'seq'),"
                " COALESCE((SELECT max(seq) FROM changes), 0) + 1, false)"
            )
    finally:
        target.close()
