"""The kinds of operator change, each one small frozen class (an *event*) that owns
everything about it: its validation against the window as it stands, how it applies to the
window, the note it adds to the notice customers get, and when that notice stops being worth
sending. Every change but :class:`FollowUp` raises the window's SEQUENCE and moves its
DTSTAMP.

:func:`decode` is the only place where a stored change becomes an event; ``to_json`` is
the inverse, and the stored shape is the one every earlier ctmaint wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from msgspec import Struct, field
from msgspec.structs import replace

from ctmaint.errors import Input, ScheduleError, StateError
from ctmaint.model.checks import (
    check_changeable,
    check_length,
    check_products,
    check_published,
    check_span,
    check_text,
    inside_avoided_hours,
    longest,
)
from ctmaint.model.policy import UNSCHEDULED, Policy
from ctmaint.model.times import human_local, utc_z
from ctmaint.model.vocabulary import ChangeKind, Impact, Stage, WindowStatus
from ctmaint.model.windows import ChangeNote, Window

FOLLOW_UP_GRACE = timedelta(days=7)
CANCEL_GRACE = timedelta(hours=24)


class Event:
    """What every change kind can do. Subclasses are frozen structs."""

    kind: ClassVar[ChangeKind]

    def validate(self, window: Window, policy: Policy, now: datetime) -> None:
        """Raise :class:`ScheduleError` (one sentence) if this change cannot be made now."""
        check_changeable(window, now)

    def apply(self, window: Window, policy: Policy, made_at: datetime) -> Window:
        """``window`` after this change, made at ``made_at``."""
        return bumped(window, made_at)

    def notice(self) -> Stage | None:
        """The stage of the notice this change sends to those already told, if any."""
        return None

    def note(self, policy: Policy) -> str:
        """The paragraph this change adds to its notice."""
        return ""

    def notice_expires(self, window: Window, made_at: datetime) -> datetime:
        """Until when this change's notice is worth sending (UTC)."""
        return window.end.astimezone(UTC)

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


class Add(Struct, Event, frozen=True):
    """Unscheduled work: a new window, announced on the next send."""

    kind: ClassVar[ChangeKind] = ChangeKind.ADD
    start: datetime
    end: datetime
    products: tuple[str, ...]
    impact: Impact
    summary: str
    description: str
    justification: str
    urgent: bool = False
    ended: bool = False  # recorded once it was over: the operator says so, so a typo is refused

    def check(self, policy: Policy, now: datetime) -> None:
        """Validation of new work (there is no window yet). Work may have begun; work that
        has ended is taken only when marked ``ended``, and only inside the published span."""
        check_span(self.start, self.end, now, self.ended)
        if self.ended:
            check_published(policy, self.end, now)
        check_length(self.start, self.end, policy.unscheduled.max_duration)
        check_products(policy, self.products)
        for name in ("summary", "description", "justification"):
            check_text(name, getattr(self, name), multiline=name != "summary")
        # Only what is still to come can be moved: work under way is judged from now on.
        busy = inside_avoided_hours(policy, max(self.start, now), self.end)
        if busy is not None and not self.urgent and not self.ended:  # done: nothing to avoid
            spec = policy.unscheduled
            under_way = self.start <= now
            hint = (
                "mark it urgent: it is under way"
                if under_way
                else "move it, or mark it urgent if it cannot wait"
            )
            raise ScheduleError(
                f"unscheduled work should fall outside {spec.avoid_from:%H:%M}-"
                f"{spec.avoid_until:%H:%M} {policy.provider.zone_label or policy.zone.key}, "
                f"and this runs at {human_local(busy, policy.zone)}; {hint}",
                about=Input.URGENT,
            )

    def create(self, window_id: str, policy: Policy, made_at: datetime) -> Window:
        zone = policy.zone
        return Window(
            id=window_id,
            calendar=UNSCHEDULED,
            title=self.summary,  # unscheduled work is named by what the operator wrote
            start=self.start.astimezone(zone),
            end=self.end.astimezone(zone),
            products=self.products,
            impact=self.impact,
            summary=self.summary,
            description=self.description,
            justification=self.justification,
            created_at=made_at,
            changed_at=made_at,
            recorded=self.recorded(made_at),
        )

    def recorded(self, made_at: datetime) -> WindowStatus:
        """Where the work stood when it was recorded (see :attr:`Window.recorded`)."""
        if self.ended:
            return WindowStatus.COMPLETED
        return WindowStatus.IN_PROGRESS if self.start <= made_at else WindowStatus.SCHEDULED

    def to_json(self) -> dict[str, Any]:
        return {
            "start": utc_z(self.start),
            "end": utc_z(self.end),
            "products": list(self.products),
            "impact": str(self.impact),
            "urgent": self.urgent,
            "summary": self.summary,
            "description": self.description,
            "justification": self.justification,
        } | ({"ended": True} if self.ended else {})  # older records have no such key


EDITABLE = ("summary", "description", "justification", "products", "impact")


class Edit(Struct, Event, frozen=True):
    """New details for a window; the next notice carries them and says what changed."""

    kind: ClassVar[ChangeKind] = ChangeKind.EDIT
    values: Mapping[str, Any] = field(default_factory=dict)  # EDITABLE keys only

    def validate(self, window: Window, policy: Policy, now: datetime) -> None:
        check_changeable(window, now)
        if not self.values:
            raise ScheduleError(
                "nothing to edit; give a new summary, description, justification, products or "
                "impact"
            )
        for name, value in self.values.items():
            if name == "products":
                check_products(policy, value)
            elif name != "impact":
                check_text(name, value, multiline=name != "summary")
        if all(getattr(window, k) == v for k, v in self.values.items()):
            raise ScheduleError(f"{window.id} already has these details; nothing to change")

    def apply(self, window: Window, policy: Policy, made_at: datetime) -> Window:
        values = dict(self.values)
        if "summary" in values and window.calendar == UNSCHEDULED:
            values["title"] = values["summary"]
        so_far = tuple(dict.fromkeys([*window.edited_fields, *self.values]))
        return replace(bumped(window, made_at), **values, edited_at=made_at, edited_fields=so_far)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if k == "products" else str(v) for k, v in self.values.items()}


class Cancel(Struct, Event, frozen=True):
    """Call off a window: it stays published as CANCELLED; those told are told why."""

    kind: ClassVar[ChangeKind] = ChangeKind.CANCEL
    reason: str

    def validate(self, window: Window, policy: Policy, now: datetime) -> None:
        check_changeable(window, now)
        check_text("reason", self.reason, multiline=True)

    def apply(self, window: Window, policy: Policy, made_at: datetime) -> Window:
        return replace(noted(window, self, policy, made_at), cancelled=True)

    def notice(self) -> Stage:
        return Stage.CANCEL

    def note(self, policy: Policy) -> str:
        return f"Reason: {self.reason}"

    def notice_expires(self, window: Window, made_at: datetime) -> datetime:
        return max(window.end.astimezone(UTC), made_at.astimezone(UTC) + CANCEL_GRACE)

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason}


class Reschedule(Struct, Event, frozen=True):
    """Move a window; it keeps its id."""

    kind: ClassVar[ChangeKind] = ChangeKind.RESCHEDULE
    start: datetime
    end: datetime
    was_start: datetime
    was_end: datetime

    def validate(self, window: Window, policy: Policy, now: datetime) -> None:
        check_changeable(window, now)
        if (self.start, self.end) == (window.start, window.end):
            raise ScheduleError(
                f"{window.id} already runs from {utc_z(window.start)} to {utc_z(window.end)}; "
                "nothing to move",
                about=Input.START,
            )
        if self.start < now:
            raise ScheduleError(
                f"the new start {utc_z(self.start)} is in the past; a window can only move "
                "ahead of now",
                about=Input.START,
            )
        check_span(self.start, self.end, now)
        check_length(self.start, self.end, longest(policy, window))

    def apply(self, window: Window, policy: Policy, made_at: datetime) -> Window:
        zone = policy.zone
        return replace(
            noted(window, self, policy, made_at),
            start=self.start.astimezone(zone),
            end=self.end.astimezone(zone),
        )

    def notice(self) -> Stage:
        return Stage.RESCHEDULE

    def note(self, policy: Policy) -> str:
        return f"It was planned for {human_local(self.was_start, policy.zone)}."

    def to_json(self) -> dict[str, Any]:
        return {
            "start": utc_z(self.start),
            "end": utc_z(self.end),
            "was_start": utc_z(self.was_start),
            "was_end": utc_z(self.was_end),
        }


class Extend(Struct, Event, frozen=True):
    """Lengthen a window, before or while it runs."""

    kind: ClassVar[ChangeKind] = ChangeKind.EXTEND
    end: datetime
    was_end: datetime

    def validate(self, window: Window, policy: Policy, now: datetime) -> None:
        check_changeable(window, now)
        if self.end <= window.end:
            raise ScheduleError(
                f"the new end {utc_z(self.end)} is not after the current end "
                f"{utc_z(window.end)}; to end it earlier, "
                + ("complete it" if now >= window.start else "reschedule it with the new end"),
                about=Input.UNTIL,
            )
        check_length(window.start, self.end, longest(policy, window))

    def apply(self, window: Window, policy: Policy, made_at: datetime) -> Window:
        return replace(noted(window, self, policy, made_at), end=self.end.astimezone(policy.zone))

    def notice(self) -> Stage:
        return Stage.EXTEND

    def note(self, policy: Policy) -> str:
        return f"It was planned to end {human_local(self.was_end, policy.zone)}."

    def to_json(self) -> dict[str, Any]:
        return {"end": utc_z(self.end), "was_end": utc_z(self.was_end)}


class Complete(Struct, Event, frozen=True):
    """End a window early (or at its end): the completion notice goes out then."""

    kind: ClassVar[ChangeKind] = ChangeKind.COMPLETE
    end: datetime
    was_end: datetime

    def validate(self, window: Window, policy: Policy, now: datetime) -> None:
        check_changeable(window, now)
        if self.end <= window.start:
            raise ScheduleError(
                f"the end {utc_z(self.end)} is not after the start {utc_z(window.start)}; "
                "to call off work that has not begun, cancel it",
                about=Input.AT,
            )
        if self.end > now:
            raise ScheduleError(
                f"the end {utc_z(self.end)} is in the future; complete a window when it is done",
                about=Input.AT,
            )

    def apply(self, window: Window, policy: Policy, made_at: datetime) -> Window:
        return replace(bumped(window, made_at), end=self.end.astimezone(policy.zone))

    def to_json(self) -> dict[str, Any]:
        return {"end": utc_z(self.end), "was_end": utc_z(self.was_end)}


class FollowUp(Struct, Event, frozen=True):
    """After a window, what it brought, to those told of it. Not a change to the window."""

    kind: ClassVar[ChangeKind] = ChangeKind.FOLLOW_UP
    notes: str

    def validate(self, window: Window, policy: Policy, now: datetime) -> None:
        if window.cancelled:
            raise ScheduleError(f"{window.id} was cancelled; there is nothing to follow up")
        if now < window.end:
            raise ScheduleError(
                f"{window.id} has not ended (it ends {utc_z(window.end)}); follow up after it"
            )
        check_text("notes", self.notes, multiline=True)

    def apply(self, window: Window, policy: Policy, made_at: datetime) -> Window:
        return window

    def notice(self) -> Stage:
        return Stage.FOLLOW_UP

    def note(self, policy: Policy) -> str:
        return self.notes

    def notice_expires(self, window: Window, made_at: datetime) -> datetime:
        return made_at.astimezone(UTC) + FOLLOW_UP_GRACE

    def to_json(self) -> dict[str, Any]:
        return {"notes": self.notes}


WindowEvent = Edit | Cancel | Reschedule | Extend | Complete | FollowUp
AnyEvent = Add | WindowEvent


def decode(kind: str, fields: Mapping[str, Any]) -> AnyEvent:
    """A stored change as its event. The only place stored JSON becomes an event."""
    try:
        match ChangeKind(kind):
            case ChangeKind.ADD:
                return Add(
                    start=_instant(fields["start"]),
                    end=_instant(fields["end"]),
                    products=tuple(fields["products"]),
                    impact=Impact(fields["impact"]),
                    summary=fields["summary"],
                    description=fields["description"],
                    justification=fields["justification"],
                    urgent=bool(fields.get("urgent", False)),
                    ended=bool(fields.get("ended", False)),
                )
            case ChangeKind.EDIT:
                values = {
                    k: tuple(v) if k == "products" else Impact(v) if k == "impact" else str(v)
                    for k, v in fields.items()
                    if k in EDITABLE
                }
                return Edit(values)
            case ChangeKind.CANCEL:
                return Cancel(fields["reason"])
            case ChangeKind.RESCHEDULE:
                return Reschedule(
                    _instant(fields["start"]),
                    _instant(fields["end"]),
                    _instant(fields["was_start"]),
                    _instant(fields["was_end"]),
                )
            case ChangeKind.EXTEND:
                return Extend(_instant(fields["end"]), _instant(fields["was_end"]))
            case ChangeKind.COMPLETE:
                return Complete(_instant(fields["end"]), _instant(fields["was_end"]))
            case ChangeKind.FOLLOW_UP:
                return FollowUp(fields["notes"])
    except (KeyError, TypeError, ValueError) as error:
        raise StateError(
            f"the state database holds a '{kind}' change this ctmaint cannot read ({error!r}); "
            "restore the state database from a backup"
        ) from None


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def bumped(window: Window, made_at: datetime) -> Window:
    """``window`` with its SEQUENCE raised and its last change at ``made_at``."""
    return replace(window, sequence=window.sequence + 1, changed_at=made_at)


def noted(window: Window, event: Event, policy: Policy, made_at: datetime) -> Window:
    """:func:`bumped`, with the paragraph ``event``'s notice carries kept on the window
    (:class:`ChangeNote`), for the feeds, calendars and status page to state too."""
    note = ChangeNote(event.kind, made_at, event.note(policy))
    return replace(bumped(window, made_at), notes=(*window.notes, note))
