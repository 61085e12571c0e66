"""Copying a SQLite ledger into an empty PostgreSQL database, as `migrate-state` does.

The copy holds every change (with its number), delivery, post and setting, the ledger's
identity included; the tables and their columns are the schema's own
(:func:`ctmaint.state.migrations.tables`). The SQLite file is then marked as moved, in the
same SQLite write transaction as the read, so a cron job still naming it refuses to send and
an operator's change made meanwhile waits, then is refused, never lost.
"""

from __future__ import annotations

from typing import Any

from ctmaint.errors import StateError
from ctmaint.model.text import plural
from ctmaint.model.vocabulary import DeliveryState
from ctmaint.state import postgres
from ctmaint.state.ledger import LEDGER_ID_KEY, Ledger, ledger_id
from ctmaint.state.location import PostgresUrl
from ctmaint.state.migrations import tables
from ctmaint.state.sqlite import MOVED_KEY

NOT_COPIED = frozenset({"hosts"})  # only a shared state records hosts: a file's table is empty

Rows = dict[str, list[Any]]  # table -> its rows, in the columns of :func:`copied_tables`


def copied_tables() -> dict[str, tuple[str, ...]]:
    """The tables a copy holds, in the order they are copied, with their columns."""
    return {name: columns for name, columns in tables().items() if name not in NOT_COPIED}


def copy_ledger(source: Ledger, target: PostgresUrl) -> dict[str, int]:
    """Copy ``source`` (an open SQLite ledger) into the empty shared ledger at ``target``,
    in one transaction on each side, and mark ``source`` as moved there; how many rows of
    each table were copied.

    StateError if a delivery is in flight (only a send on the old state can settle it) or
    if ``target`` already holds records; a copy an earlier run made and stopped before
    marking the file is recognised and kept.
    """
    with source.transaction():  # if the copy fails, the mark is rolled back with it
        rows = _rows_to_copy(source)
        source.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (MOVED_KEY, str(target)))
        _copy_into(target, rows)
    return {table: len(found) for table, found in rows.items()}


def _rows_to_copy(source: Ledger) -> Rows:
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
                f"{plural(in_flight, 'delivery', 'deliveries')} of {source.location} {verb} in "
                "flight, left by a `ctmaint send` that stopped: run `ctmaint send` on it once "
                "to settle them, then migrate"
            )
        return {
            table: list(source.execute(f"SELECT {', '.join(columns)} FROM {table}"))
            for table, columns in copied_tables().items()
        }


def _same_copy(target: Ledger, rows: Rows) -> bool:
    """Whether ``target`` already holds exactly ``rows``: the same ledger (its identity)
    with as many records of each kind, copied by a migration stopped before its end."""
    source_id = next((value for key, value in rows["settings"] if key == LEDGER_ID_KEY), None)
    if source_id is None or ledger_id(target) != source_id:
        return False
    return all(
        int(target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) == len(found_rows)
        for table, found_rows in rows.items()
    )


def _copy_into(location: PostgresUrl, rows: Rows) -> None:
    """Insert ``rows`` into the empty shared ledger at ``location``, in one transaction; the
    identity the new ledger was given makes way for the copied one's."""
    target = postgres.open_ledger(location)
    try:
        if _same_copy(target, rows):
            return  # an earlier run copied it and stopped before marking the file as moved
        with target.transaction():
            target.execute("DELETE FROM settings WHERE key = ?", (LEDGER_ID_KEY,))
            held = sum(
                int(target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in rows
            )
            if held:
                raise StateError(
                    f"the state database {location} already holds {held} records; "
                    "copy into an empty database"
                )
            for table, columns in copied_tables().items():
                marks = ", ".join("?" * len(columns))
                target.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows[table]
                )
            postgres.continue_numbering(target)
    finally:
        target.close()
