"""Windows: what the policy's rules produce over a span of time.

A :class:`Window` is one occurrence of maintenance with everything a notice or a feed
entry states. :func:`windows_between` expands every calendar's rule; operator changes
(added, moved, cancelled windows) are applied on top by later layers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from msgspec import Struct

from ctmaint.errors import PolicyError, Problem
from ctmaint.model.policy import CalendarSpec, Policy
from ctmaint.model.vocabulary import ChangeKind, Impact, WindowStatus


class ChangeNote(Struct, frozen=True):
    """What subscribers are told of one change that re-notifies customers (a cancel, a
    move, an extension): the kind of change, when it was made, and the paragraph its notice
    carries (``Reason: ...``, ``It was planned for ...``). Feeds, calendars and the status
    page state it too, so that a subscriber learns why, not only that, a window changed."""

    kind: ChangeKind
    made_at: datetime
    text: str


class Window(Struct, frozen=True):
    """One maintenance window. ``start``/``end`` are aware, in the provider's zone."""

    id: str
    calendar: str
    title: str
    start: datetime
    end: datetime
    products: tuple[str, ...]
    impact: Impact
    summary: str
    description: str
    justification: str
    created_at: datetime
    changed_at: datetime
    cancelled: bool = False
    sequence: int = 0  # operator changes; the published SEQUENCE is revision(now).sequence
    edited_at: datetime | None = None  # the last `edit`, for "updated since" notes
    edited_fields: tuple[str, ...] = ()
    notes: tuple[ChangeNote, ...] = ()  # oldest first
    # Where unscheduled work stood when it was recorded: to come, under way, or over
    # (`add --ended`). Its announce says so, whatever later changes (a `complete --at`
    # before then) do to start and end.
    recorded: WindowStatus = WindowStatus.SCHEDULED

    def status(self, now: datetime) -> WindowStatus:
        """``scheduled``, ``in-progress``, ``completed`` or ``cancelled`` as of ``now``."""
        if self.cancelled:
            return WindowStatus.CANCELLED
        if now < self.start:
            return WindowStatus.SCHEDULED
        return WindowStatus.IN_PROGRESS if now < self.end else WindowStatus.COMPLETED

    def revision(self, now: datetime) -> Revision:
        """What subscribers should see as of ``now``: status, SEQUENCE and last change.

        Starting and ending are changes too (X-MAINTNOTE-STATUS moves to IN-PROCESS, then
        COMPLETED), so each raises the sequence by one and moves the stamp to that moment;
        operator changes add ``self.sequence``. Nothing here depends on when a build runs.
        """
        status = self.status(now)
        passed = [moment for moment in (self.start, self.end) if moment <= now]
        if self.cancelled:
            passed = []
        stamp = max([self.changed_at, *passed], key=lambda m: m.timestamp())
        return Revision(status, self.sequence + len(passed), stamp.astimezone(UTC))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and self.end > start


class Revision(Struct, frozen=True):
    """A window's revision as calendars publish it: SEQUENCE, DTSTAMP and status."""

    status: WindowStatus
    sequence: int
    stamp: datetime  # UTC


def on_status_page(policy: Policy, window: Window) -> bool:
    """Whether the policy posts this window's notices to the status page."""
    spec = policy.calendars.get(window.calendar)
    return spec.status_page if spec is not None else policy.unscheduled.status_page


def window_id(calendar: str, start: datetime) -> str:
    """The contract id: ``<calendar id>-<local start date>``."""
    return f"{calendar}-{start:%Y-%m-%d}"


def windows_between(policy: Policy, start: datetime, end: datetime) -> list[Window]:
    """Every rule window that overlaps [start, end), ordered by start then id."""
    # A rule window counts as published when it first enters the feeds' horizon.
    lead = timedelta(days=policy.days_ahead)
    found = [
        window
        for spec in policy.calendars.values()
        for window in _calendar_windows(spec, start, end, lead, policy.source)
    ]
    return sorted(found, key=lambda w: (w.start.timestamp(), w.id))


def _calendar_windows(
    spec: CalendarSpec, start: datetime, end: datetime, lead: timedelta, source: str
) -> Iterator[Window]:
    seen: set[str] = set()
    # A window overlaps [start, end) when it starts after start - duration.
    for begins in spec.rule.starts_after(start - spec.duration):
        if begins >= end:
            return
        if begins.date() in spec.skip:
            continue
        identifier = window_id(spec.id, begins)
        if identifier in seen:
            raise PolicyError(
                [
                    Problem(
                        source,
                        f"calendars.{spec.id}",
                        f"the rule starts two windows on {begins:%Y-%m-%d}; window ids are "
                        "<calendar>-<date>, so a calendar may start at most one window a day",
                    )
                ]
            )
        seen.add(identifier)
        yield Window(
            id=identifier,
            calendar=spec.id,
            title=spec.title,
            start=begins,
            end=elapsed_end(begins, spec.duration),
            products=spec.products,
            impact=spec.impact,
            summary=spec.summary,
            description=spec.description,
            justification=spec.justification,
            created_at=(begins - lead).astimezone(UTC),
            changed_at=(begins - lead).astimezone(UTC),
        )


def elapsed_end(start: datetime, duration: timedelta) -> datetime:
    """``start + duration`` as elapsed time, in start's zone.

    Python adds a timedelta to an aware datetime on the wall clock, which would make a
    window that spans a DST change an hour too long or short; UTC arithmetic does not.
    """
    return (start.astimezone(UTC) + duration).astimezone(start.tzinfo)
