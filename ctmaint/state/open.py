"""The one opener of a state: it picks the backend for a location, above both of them.

The rest of ctmaint opens a ledger here and never asks which database it is; the PostgreSQL
backend (and so psycopg) is imported only when the location is a URL, so the SQLite tick
stays fast.
"""

from __future__ import annotations

from ctmaint.state import sqlite
from ctmaint.state.ledger import Ledger
from ctmaint.state.location import PostgresUrl, StateLocation


def open_ledger(location: StateLocation) -> Ledger:
    """The state at ``location`` open for writing, migrated (see
    :func:`ctmaint.state.sqlite.open_ledger`, :func:`ctmaint.state.postgres.open_ledger`)."""
    if isinstance(location, PostgresUrl):
        from ctmaint.state import postgres

        return postgres.open_ledger(location)
    return sqlite.open_ledger(location)


def open_snapshot(location: StateLocation) -> Ledger:
    """A read-only view of the state at ``location``: creates nothing, changes nothing."""
    if isinstance(location, PostgresUrl):
        from ctmaint.state import postgres

        return postgres.open_snapshot(location)
    return sqlite.open_snapshot(location)
