"""Operator changes as a log over the policy's rules: each :class:`Change` is an event
(:mod:`ctmaint.model.events`) made at a time by someone, applied in order to the window the
rules made (or, for an added window, to nothing); and the notices the changes owe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from msgspec import Struct

from ctmaint.model.events import Add, AnyEvent, decode
from ctmaint.model.notices import Notice
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import ChangeKind, Stage
from ctmaint.model.windows import Window, windows_between

_ID_DATE = re.compile(r"(?P<calendar>.+)-(?P<date>\d{4}-\d\d-\d\d)")  # used with fullmatch


class Change(Struct, frozen=True):
    """One entry of the change log: ``event`` applied to ``window_id``."""

    seq: int
    window_id: str
    event: AnyEvent
    made_at: datetime
    made_by: str

    @property
    def kind(self) -> ChangeKind:
        return self.event.kind


class StoredChange(Protocol):
    """One entry of the change log as the state keeps it (``fields`` decoded from JSON)."""

    @property
    def seq(self) -> int: ...
    @property
    def window_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def fields(self) -> dict[str, Any]: ...
    @property
    def made_at(self) -> datetime: ...
    @property
    def made_by(self) -> str: ...


def decode_stored(stored: Iterable[StoredChange]) -> list[Change]:
    """The change log as the ledger holds it, each entry decoded (see :func:`decode`)."""
    return [
        Change(c.seq, c.window_id, decode(c.kind, c.fields), c.made_at, c.made_by) for c in stored
    ]


# -- applying ---------------------------------------------------------------------------------


def schedule(
    policy: Policy, changes: Sequence[Change], start: datetime, end: datetime
) -> list[Window]:
    """Windows overlapping [start, end): the rules' windows with every change applied."""
    changed = changed_windows(policy, changes)
    ids = {w.id for w in changed}
    found = [w for w in windows_between(policy, start, end) if w.id not in ids]
    found += [w for w in changed if w.overlaps(start, end)]
    return sorted(found, key=lambda w: (w.start.timestamp(), w.id))


def changed_windows(policy: Policy, changes: Sequence[Change]) -> list[Window]:
    """Every window that has changes, wherever it now lies in time."""
    found = (final_window(policy, wid, log) for wid, log in group(changes).items())
    return [w for w in found if w is not None]


def group(changes: Iterable[Change]) -> dict[str, list[Change]]:
    by_window: dict[str, list[Change]] = {}
    for change in sorted(changes, key=lambda c: c.seq):
        by_window.setdefault(change.window_id, []).append(change)
    return by_window


def final_window(policy: Policy, window_id: str, log: Sequence[Change]) -> Window | None:
    """The window ``window_id`` after its changes, or None if it does not exist."""
    added = bool(log) and isinstance(log[0].event, Add)
    window = None if added else rule_window(policy, window_id)
    for index, change in enumerate(log):
        event = change.event
        if isinstance(event, Add):  # only the first add makes the window (the id is unique)
            if index == 0:
                window = event.create(window_id, policy, change.made_at)
        elif window is not None:
            window = event.apply(window, policy, change.made_at)
    return window


def rule_window(policy: Policy, window_id: str) -> Window | None:
    """The window the rules make with this id (``<calendar>-<local start date>``)."""
    match = _ID_DATE.fullmatch(window_id)
    if match is None or match["calendar"] not in policy.calendars:
        return None
    try:
        day = date.fromisoformat(match["date"])
    except ValueError:
        return None
    start = datetime.combine(day, time(0), policy.zone)
    for window in windows_between(policy, start, start + timedelta(days=1)):
        if window.id == window_id:
            return window
    return None


# -- notices of changes -----------------------------------------------------------------------


def change_notices(
    policy: Policy, windows: Sequence[Window], changes: Sequence[Change]
) -> list[Notice]:
    """The cancel, reschedule, extend and follow-up notices of ``windows``, due when made."""
    current = {w.id: w for w in windows}
    notices = []
    for window_id, log in group(changes).items():
        window = current.get(window_id)
        if window is None:
            continue
        seen: dict[Stage, int] = {}
        for change in log:
            stage = change.event.notice()
            if stage is None:
                continue
            seen[stage] = seen.get(stage, 0) + 1
            notices.append(
                Notice(
                    window,
                    stage,
                    change.made_at.astimezone(UTC),
                    change.event.notice_expires(window, change.made_at),
                    ordinal=seen[stage],
                    note=change.event.note(policy),
                    to_told=True,
                )
            )
    return notices
