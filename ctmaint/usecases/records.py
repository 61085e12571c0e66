"""What the read-only use cases return: plain records for the CLI to show as tables or JSON.

They live apart from :mod:`ctmaint.usecases.reports` so that the CLI's tables can read them
without importing the use cases.
"""

from __future__ import annotations

from msgspec import Struct

from ctmaint.model.changes import Change
from ctmaint.model.notices import Notice


class PlannedNotice(Struct, frozen=True):
    """A notice as `notices` lists it: its recipients (in all, and by channel: email and
    each subscription channel) and its state."""

    notice: Notice
    recipients: int
    state: str
    channels: dict[str, int] = {}


class HistoryEntry(Struct, frozen=True):
    """What became of one notice, as `history` lists it."""

    notice_id: str
    sent: int
    failed: int
    expired: int
    cancelled: int
    pending: int
    uncertain: int
    first_sent: str | None
    last_sent: str | None
    transport: str | None
    message_ids: list[str]
    errors: list[str]
    notes: list[str]
    channels: dict[str, dict[str, int]] = {}  # channel -> state -> deliveries
    transports: list[str] = []  # every transport or channel that delivered, in order

    def counts(self) -> dict[str, int]:
        """The deliveries in each state, in the order `history` shows them."""
        return {state: getattr(self, state) for state in HISTORY_STATES}


# The states `history` counts, in its order ('sending', a run in progress, counts as pending).
HISTORY_STATES = ("sent", "failed", "expired", "cancelled", "pending", "uncertain")


class History(Struct, frozen=True):
    """Every notice sent or tried, and every operator change."""

    notices: list[HistoryEntry]
    changes: list[Change]
