"""The operator's changes to the schedule: add unscheduled work, edit, cancel, reschedule,
extend, complete, follow up. Each is checked against a read-only snapshot first (a refused
change creates no state), then again and recorded under the ledger's write lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from msgspec import Struct

from ctmaint.errors import CtmaintError, Input, ScheduleError, UsageError
from ctmaint.model import changes, checks
from ctmaint.model.changes import Change, decode_stored
from ctmaint.model.checks import check_author
from ctmaint.model.events import (
    Add,
    Cancel,
    Complete,
    Edit,
    Extend,
    FollowUp,
    Reschedule,
    WindowEvent,
)
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import Impact, Stage
from ctmaint.model.windows import Window, elapsed_end
from ctmaint.state.ledger import Changes, Deliveries, WindowTaken
from ctmaint.usecases.workspace import Workspace


def window_in(workspace: Workspace, log: list[Change], window_id: str) -> Window:
    """The window ``window_id`` as ``log`` leaves it; ScheduleError if there is none."""
    history = changes.group(log).get(window_id, [])
    window = changes.final_window(workspace.policy, window_id, history)
    if window is None:
        raise ScheduleError(
            f"there is no window {window_id!r}; `ctmaint upcoming` lists window ids"
        )
    return window


def current_window(workspace: Workspace, window_id: str) -> Window:
    """The window ``window_id`` as it stands after every change; ScheduleError if unknown."""
    return window_in(workspace, workspace.changes, window_id)


class NewWork(Struct, frozen=True):
    """What `add` is given: when the work starts and ends (an instant, or a length from the
    start), the products it affects, the three texts customers read, its impact (None: the
    policy's for unscheduled work), whether it may fall in the hours to avoid (``urgent``)
    and whether it has already ``ended``."""

    start: datetime
    end: datetime | timedelta
    products: tuple[str, ...]
    summary: str
    description: str
    justification: str
    impact: Impact | None = None
    urgent: bool = False
    ended: bool = False

    def event(self, policy: Policy) -> Add:
        """The change that records this work."""
        end = self.end
        if isinstance(end, timedelta):
            end = elapsed_end(self.start, end)
        return Add(
            start=self.start,
            end=end,
            products=self.products,
            impact=self.impact or policy.unscheduled.impact,
            summary=self.summary,
            description=self.description,
            justification=self.justification,
            urgent=self.urgent,
            ended=self.ended,
        )


def add(workspace: Workspace, new: NewWork, by: str) -> Window:
    """Record unscheduled work; its first notice is due on the next send."""
    if not new.products:
        raise UsageError("give the products the work affects", about=Input.PRODUCTS)
    try:
        return _add(workspace, new.event(workspace.policy), by)
    except CtmaintError as error:
        if error.about is Input.END and isinstance(new.end, timedelta):
            error.about = Input.DURATION  # the end was computed from it
        raise


def _add(workspace: Workspace, work: Add, by: str) -> Window:
    check_author(by)
    work.check(workspace.policy, workspace.now)
    ledger = workspace.ledger
    with ledger.transaction():
        log = decode_stored(Changes(ledger).all())
        window_id = checks.next_unscheduled_id(workspace.policy, changes.group(log), work.start)
        try:
            Changes(ledger).add(window_id, work.kind, work.to_json(), workspace.now, by)
        except WindowTaken:  # cannot happen while the log is read under the write lock
            raise ScheduleError(f"{window_id} was taken meanwhile; run the command again") from None
    workspace.forget_changes()
    return work.create(window_id, workspace.policy, workspace.now)


def _change(
    workspace: Workspace, window_id: str, by: str, make: Callable[[Window], WindowEvent]
) -> Window:
    """Read, check and record one change of ``window_id`` in one transaction.

    The change is checked once against a read-only snapshot first, so a refused change
    creates no state database; then again under the write lock, where it counts.
    """
    check_author(by)
    policy, now = workspace.policy, workspace.now
    seen = current_window(workspace, window_id)
    make(seen).validate(seen, policy, now)
    ledger = workspace.ledger
    with ledger.transaction():
        window = window_in(workspace, decode_stored(Changes(ledger).all()), window_id)
        event = make(window)
        event.validate(window, policy, now)
        Changes(ledger).add(window_id, event.kind, event.to_json(), now, by)
        if isinstance(event, Cancel):  # undelivered notices of a cancelled window are not sent
            Deliveries(ledger).cancel_undelivered(window_id, Stage.CANCEL, now)
    workspace.forget_changes()
    return event.apply(window, policy, now)


class NewDetails(Struct, frozen=True):
    """What `edit` is given: each detail to change (None: keep it)."""

    summary: str | None = None
    description: str | None = None
    justification: str | None = None
    products: tuple[str, ...] | None = None
    impact: Impact | None = None

    def given(self) -> dict[str, Any]:
        """The details to change, by name, in the order above."""
        named = {name: getattr(self, name) for name in self.__struct_fields__}
        return {name: value for name, value in named.items() if value is not None}


def edit(workspace: Workspace, window_id: str, details: NewDetails, by: str) -> Window:
    """Change the details of one window; the next notice carries them."""
    values = details.given()
    return _change(workspace, window_id, by, lambda window: Edit(values))


def cancel(workspace: Workspace, window_id: str, reason: str, by: str) -> Window:
    """Cancel one window; those told of it are told why on the next send."""
    return _change(workspace, window_id, by, lambda window: Cancel(reason))


def reschedule(
    workspace: Workspace, window_id: str, start: datetime, end: datetime | None, by: str
) -> Window:
    """Move one window (keeping its length unless ``end`` is given)."""

    def move(window: Window) -> Reschedule:
        until = end or elapsed_end(start, window.end - window.start)
        return Reschedule(start, until, window.start, window.end)

    return _change(workspace, window_id, by, move)


def extend(workspace: Workspace, window_id: str, until: datetime, by: str) -> Window:
    """Lengthen one window."""
    return _change(workspace, window_id, by, lambda window: Extend(until, window.end))


def complete(workspace: Workspace, window_id: str, at: datetime | None, by: str) -> Window:
    """End one window at ``at`` (default now)."""
    end = at or workspace.now
    return _change(workspace, window_id, by, lambda window: Complete(end, window.end))


def follow_up(workspace: Workspace, window_id: str, notes: str, by: str) -> Window:
    """After a window, the note on what it brought, for those told of it."""
    return _change(workspace, window_id, by, lambda window: FollowUp(notes.strip()))
