"""`ctmaint migrate-state`: copy a SQLite state into a PostgreSQL database that several
hosts share, and how a state is named in messages (a URL's password masked)."""

from __future__ import annotations

from ctmaint.errors import (
    Input,
    StateError,
    UsageError,
)
from ctmaint.sending import run as dispatch
from ctmaint.state.location import PostgresUrl, StateLocation
from ctmaint.usecases.workspace import Workspace


def masked_state(state: StateLocation | str) -> str:
    """The state as messages show it: a path, or a URL with its password masked."""
    if isinstance(state, str):
        from ctmaint.state.location import masked

        return masked(state)
    return str(state)


def migrate_state(workspace: Workspace, url: str) -> dict[str, int]:
    """Copy the SQLite state of ``workspace`` into the empty PostgreSQL database at ``url``
    and mark the file as moved (:func:`ctmaint.state.migrate.copy_ledger`); how many rows of
    each table were copied.

    Holds the SQLite state's send lock throughout (waiting as a second `send` does, then
    refusing), and refuses rows in flight, which only a send on the old state can settle.
    """
    from ctmaint.state.migrate import copy_ledger

    if workspace.shared:
        raise UsageError("the state to copy from must be a SQLite file", about=Input.STATE)
    try:
        target = PostgresUrl.checked(url)
    except StateError as error:
        raise UsageError(str(error), about=Input.TO) from None
    with dispatch.send_lock(workspace.state) as held:
        if held is None:
            raise StateError(
                f"a `ctmaint send` on {workspace.state} is still running (it kept the send lock "
                f"for {dispatch.LOCK_WAIT_S:.0f} s): stop cron's `ctmaint send`, then migrate"
            )
        return copy_ledger(workspace.ledger, target)  # the ledger refuses a state already moved
