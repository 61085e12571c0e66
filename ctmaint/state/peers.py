"""Hosts that share a state, and whether they run with the same files.

Every host that sends from a shared state records, in the state, a digest of its policy
file and of its contacts.csv (``hosts``, one row per host: its name and working folder).
Hosts whose files differ plan differently: a contact only one host lists is only ever sent
to by that host, and the others leave the row pending. `check` and `send` say so, naming
the other host and the file, and a row left for another host says which and why.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from msgspec import Struct

from ctmaint.model.text import plural
from ctmaint.model.vocabulary import EMAIL
from ctmaint.state.ledger import DeliveryRow, Ledger

RECENT = timedelta(days=1)  # a host that has not sent for longer no longer counts


class HostFiles(Struct, frozen=True):
    """One host's name and the digests of what it plans with."""

    name: str
    policy: str
    contacts: str

    @classmethod
    def here(
        cls,
        cwd: Path,
        policy: Mapping[str, Any],
        contacts: Iterable[Sequence[Any]],
        subscriptions: Iterable[Sequence[Any]] = (),
    ) -> HostFiles:
        """This host, in ``cwd``, planning with ``policy`` (the policy file's tables, as
        read), ``contacts`` and ``subscriptions`` (each row read, as JSON values in a
        canonical form; the subscriptions count with the contacts: both say who is told).
        Digests are of what the files say, not of their bytes: a comment, line endings or
        where the files lie differ harmlessly."""
        paths = {"contacts": None, "subscriptions": None}
        tables = {**policy, "provider": {**policy.get("provider", {}), **paths}}
        said = json.dumps(tables, sort_keys=True, default=str)
        told = sorted(subscriptions, key=json.dumps)
        listed = json.dumps([sorted(contacts), told] if told else sorted(contacts))
        return cls(host_name(cwd), _digest(said), _digest(listed))


def host_name(cwd: Path) -> str:
    """How the ledger names this host: its name and the folder ctmaint runs in."""
    return f"{socket.gethostname()}:{cwd}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def record(ledger: Ledger, host: HostFiles, seen_at: datetime) -> None:
    """Store what ``host`` runs with, and when it was seen (the host's real clock)."""
    with ledger.transaction():
        ledger.execute(
            "INSERT INTO hosts (name, policy, contacts, seen_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET policy = excluded.policy,"
            " contacts = excluded.contacts, seen_at = excluded.seen_at",
            (host.name, host.policy, host.contacts, _utc(seen_at)),
        )
    ledger.host = host.name


def disagreements(ledger: Ledger, host: HostFiles, seen_at: datetime) -> list[str]:
    """One line per other host seen within :data:`RECENT` whose files differ from ``host``'s
    (a host that stopped sending drops out after a day)."""
    rows = ledger.execute(
        "SELECT name, policy, contacts, seen_at FROM hosts WHERE name <> ? AND seen_at >= ?"
        " ORDER BY name",
        (host.name, _utc(seen_at - RECENT)),
    ).fetchall()
    lines = []
    for name, policy, contacts, seen in rows:
        differ = [
            label
            for label, theirs, ours in (
                ("policy file", policy, host.policy),
                ("contacts.csv (or subscriptions.csv)", contacts, host.contacts),
            )
            if theirs != ours
        ]
        if differ:
            lines.append(
                f"host {name} (seen {seen}) runs with another {' and '.join(differ)} than this "
                f"host ({host.name}): hosts sharing a state must use the same files"
            )
    return lines


def waiting_lines(rows: Sequence[DeliveryRow], here: str) -> list[str]:
    """Why rows stay pending: by notice and by the host that made them, one line each."""
    groups: dict[tuple[str, str, str], int] = {}
    for row in rows:
        file = "contacts.csv" if row.channel == EMAIL else "subscriptions.csv"
        key = (row.notice_id, row.host, file)
        groups[key] = groups.get(key, 0) + 1
    lines = []
    for (notice_id, made_by, file), count in sorted(groups.items()):
        whose = (
            f"no longer listed in this host's {file}"
            if made_by in ("", here)
            else f"listed by host {made_by}'s {file}, not this host's"
        )
        lines.append(f"{notice_id}: {plural(count, 'recipient')} {whose}")
    return lines


def _utc(moment: datetime) -> str:
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
