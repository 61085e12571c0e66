"""What the read-only use cases return: plain records for the CLI to show as tables or JSON.

They live apart from :mod:`ctmaint.services` so that renderers can read them without
depending on the use cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctmaint.changes import Change
from ctmaint.notices import Notice


@dataclass(frozen=True)
class PlannedNotice:
    notice: Notice
    recipients: int
    state: str


@dataclass(frozen=True)
class HistoryEntry:
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


@dataclass(frozen=True)
class History:
    notices: list[HistoryEntry]
    changes: list[Change]
