"""Where a command runs: the policy file, the state database, the clock and the folder.

Kept light on purpose: the CLI makes one for every command. What a workspace loads (the
policy, the contacts, the ledger) is imported and read on first use, so commands that need
neither stay fast and a command that fails validation creates no state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ctmaint.errors import Input, UsageError
from ctmaint.state.location import PostgresUrl, SqliteFile, StateLocation

if TYPE_CHECKING:
    from ctmaint.errors import Problem
    from ctmaint.model.changes import Change
    from ctmaint.model.contacts import Contact
    from ctmaint.model.notices import ContactBook
    from ctmaint.model.policy import Policy
    from ctmaint.model.subscriptions import Subscription
    from ctmaint.model.windows import Window
    from ctmaint.state.ledger import Ledger
    from ctmaint.state.peers import HostFiles

POLICY_FILE = "ctmaint.toml"
CONTACTS_FILE = "contacts.csv"
SUBSCRIPTIONS_FILE = "subscriptions.csv"
DEFAULT_STATE = Path(".ctmaint") / "state.db"


class Workspace:
    """The policy, state and clock of one command (see the module docstring). Each file is
    read once, when first asked for."""

    def __init__(self, config: Path | None, state: StateLocation, now: datetime, cwd: Path) -> None:
        self.config = config
        self.state = state
        self.now = now
        self.cwd = cwd
        self._policy: Policy | None = None
        self._contacts: list[Contact] | None = None
        self._contact_problems: list[Problem] = []
        self._subscriptions: list[Subscription] | None = None
        self._subscription_problems: list[Problem] = []
        self._ledger: Ledger | None = None
        self._changes: list[Change] | None = None

    @classmethod
    def locate(
        cls, config: Path | None, state: str | Path | None, now: datetime, cwd: Path
    ) -> Workspace:
        """Apply the defaults.

        The policy is ./ctmaint.toml if present, else the embedded one; the state is
        ./.ctmaint/state.db, or what ``state`` names: a file, or a ``postgresql://`` URL.
        """
        if config is None and (cwd / POLICY_FILE).is_file():
            config = cwd / POLICY_FILE
        return cls(config=config, state=state_location(state, cwd), now=now, cwd=cwd)

    @property
    def shared(self) -> bool:
        """Whether the state is a PostgreSQL database that several hosts share."""
        return self.state.shared

    def outbox(self, folder: Path | None) -> Path:
        """Where the outbox transport writes: ``folder`` if given, else beside a SQLite
        state, or ``.ctmaint/outbox`` in the working folder for a shared state."""
        if folder is not None:
            return folder
        if isinstance(self.state, PostgresUrl):
            return self.cwd / ".ctmaint" / "outbox"
        return self.state.path.parent / "outbox"

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            from ctmaint.model.policy import load_policy

            self._policy = load_policy(self.config, self.cwd)
        return self._policy

    @property
    def contacts(self) -> list[Contact]:
        """The good rows of contacts.csv (see :attr:`contact_problems` for the others)."""
        if self._contacts is None:
            from ctmaint.model.contacts import read_contacts

            policy = self.policy
            found = read_contacts(policy.contacts_path, policy.products)
            self._contacts, self._contact_problems = found
        return self._contacts

    @property
    def contact_problems(self) -> list[Problem]:
        """The rows of contacts.csv left out: `check` lists them; `send` reports them and
        delivers to everyone else."""
        _ = self.contacts
        return self._contact_problems

    @property
    def subscriptions(self) -> list[Subscription]:
        """The good rows of subscriptions.csv (none if it is missing, or refused as a whole:
        see :attr:`subscription_problems`)."""
        if self._subscriptions is None:
            from ctmaint.errors import SubscriptionsError
            from ctmaint.model.subscriptions import read_subscriptions

            policy = self.policy
            try:
                found = read_subscriptions(policy.subscriptions_path, policy.products)
            except SubscriptionsError as error:
                found = [], error.problems
            self._subscriptions, self._subscription_problems = found
        return self._subscriptions

    @property
    def subscription_problems(self) -> list[Problem]:
        """What is wrong with subscriptions.csv: its rows left out, or the whole file (one
        that others can read is refused). `send` reports them and delivers the rest."""
        _ = self.subscriptions
        return self._subscription_problems

    @property
    def book(self) -> ContactBook:
        """Who may be told: the contacts and the subscriptions, as a send asks."""
        from ctmaint.model.notices import ContactBook

        return ContactBook(self.contacts, self.subscriptions)

    @property
    def changes(self) -> list[Change]:
        """The operator changes, read from a snapshot: reading them creates no state."""
        if self._changes is None:
            from ctmaint.model.changes import decode_stored
            from ctmaint.state.ledger import Changes

            with self.reading() as ledger:
                self._changes = decode_stored(Changes(ledger).all())
        return self._changes

    def forget_changes(self) -> None:
        self._changes = None

    @contextmanager
    def reading(self) -> Iterator[Ledger]:
        """The state, read-only (see :func:`open_snapshot`): creates nothing, changes nothing."""
        from ctmaint.state.open import open_snapshot

        ledger = open_snapshot(self.state)
        try:
            yield ledger
        finally:
            ledger.close()

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            from ctmaint.state.open import open_ledger

            self._ledger = open_ledger(self.state)
        return self._ledger

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


def state_location(state: str | Path | None, cwd: Path) -> StateLocation:
    """``--state`` as given: a ``postgresql://`` URL stays a URL, anything else is a path
    (relative to ``cwd``); none means ./.ctmaint/state.db."""
    if state is None or state == "":
        return SqliteFile(cwd / DEFAULT_STATE)
    text = str(state)
    found = _SCHEME.match(text)
    if found is None and _CONNINFO.match(text):
        raise UsageError(  # not shown: it may hold a password
            "the state looks like a libpq connection string (key=value ...): give a "
            "postgresql:// URL, or a SQLite file name",
            about=Input.STATE,
        )
    if found is None:
        return SqliteFile(cwd / text)
    scheme = found.group(1).lower()
    if scheme not in ("postgresql", "postgres"):
        raise UsageError(
            f"'{found.group(1)}://...' is not a state ctmaint can use: give a SQLite file, or "
            "a postgresql:// URL",
            about=Input.STATE,
        )
    text = scheme + text[len(scheme) :]  # libpq reads the scheme in lowercase only
    return PostgresUrl.checked(text)


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# host=db dbname=ctmaint: a libpq connection string, which a file name is not
_CONNINFO = re.compile(r"\s*[A-Za-z_]+\s*=\s*\S+(\s+[A-Za-z_]+\s*=|\s*$)")


def schedule(workspace: Workspace, start: datetime, end: datetime) -> list[Window]:
    """The windows overlapping [start, end): the policy's rules with operator changes applied."""
    from ctmaint.model import changes

    return changes.schedule(workspace.policy, workspace.changes, start, end)


def notice_windows(workspace: Workspace, start: datetime, end: datetime) -> list[Window]:
    """The windows whose notices may be due: those in [start, end), and every changed one
    (a window moved far ahead still owes its `reschedule` notice now)."""
    from ctmaint.model import changes

    windows = {w.id: w for w in schedule(workspace, start, end)}
    for window in changes.changed_windows(workspace.policy, workspace.changes):
        windows.setdefault(window.id, window)
    return sorted(windows.values(), key=lambda w: (w.start.timestamp(), w.id))


def host_files(workspace: Workspace) -> HostFiles:
    """This host and the files it plans with, as :mod:`ctmaint.state.peers` records them."""
    import tomllib

    from ctmaint.model.policy import embedded_policy_text
    from ctmaint.state import peers

    config = workspace.config
    text = config.read_text(encoding="utf-8-sig") if config is not None else embedded_policy_text()
    rows = [contact.canonical() for contact in workspace.contacts]
    subscribed = [subscription.canonical() for subscription in workspace.subscriptions]
    return peers.HostFiles.here(workspace.cwd, tomllib.loads(text), rows, subscribed)
