"""Operator changes: unscheduled work, and changes to one window, over the policy's rules.

Each kind of change is one small frozen class (an *event*) that owns everything about it:
its validation against the window as it stands, how it applies to the window, the note
it adds to the notice customers get, and when that notice stops being worth sending.
Changes are a log (the ledger's ``changes`` table), applied in order to the window the
rules made (or, for :class:`Add`, to nothing). Every change but :class:`FollowUp` raises
the window's SEQUENCE and moves its DTSTAMP.

:func:`decode` is the only place where a stored change becomes an event; ``to_json`` is
the inverse, and the stored shape is the one every earlier ctmaint wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Protocol

from msgspec import Struct, field
from msgspec.structs import replace

from ctmaint.errors import Input, ScheduleError, StateError, UsageError
from ctmaint.model.notices import Notice
from ctmaint.model.policy import UNSCHEDULED, Policy
from ctmaint.model.text import bad_character, plural
from ctmaint.model.times import check_in_range, format_duration, human_local, utc_z
from ctmaint.model.vocabulary import ChangeKind, Impact, Stage, WindowStatus
from ctmaint.model.windows import ChangeNote, Window, windows_between

FOLLOW_UP_GRACE = timedelta(days=7)
CANCEL_GRACE = timedelta(hours=24)
_ID_DATE = re.compile(r"(?P<calendar>.+)-(?P<date>\d{4}-\d\d-\d\d)")  # used with fullmatch


# -- events -----------------------------------------------------------------------------------


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
        busy = _inside_avoided_hours(policy, max(self.start, now), self.end)
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


def bumped(window: Window, made_at: datetime) -> Window:
    """``window`` with its SEQUENCE raised and its last change at ``made_at``."""
    return replace(window, sequence=window.sequence + 1, changed_at=made_at)


def noted(window: Window, event: Event, policy: Policy, made_at: datetime) -> Window:
    """:func:`bumped`, with the paragraph ``event``'s notice carries kept on the window
    (:class:`ChangeNote`), for the feeds, calendars and status page to state too."""
    note = ChangeNote(event.kind, made_at, event.note(policy))
    return replace(bumped(window, made_at), notes=(*window.notes, note))


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


# -- validation shared by the events ----------------------------------------------------------


def check_text(name: str, text: str, *, multiline: bool) -> None:
    """An operator's text: not empty, and no control characters (they would reach email
    headers, feeds and the `history` table)."""
    if not text.strip():
        what = "the notes are" if name == "notes" else f"the {name} is"
        raise ScheduleError(f"{what} empty; give the text customers are to read", about=Input(name))
    problem = bad_character(text, multiline=multiline)
    if problem is not None:
        fix = "use plain line breaks" if multiline else "write it on one line"
        raise ScheduleError(f"the {name} {problem}; {fix}", about=Input(name))


def check_author(by: str) -> None:
    check_text("author", by, multiline=False)


def check_changeable(window: Window, now: datetime) -> None:
    if window.cancelled:
        raise ScheduleError(f"{window.id} is already cancelled")
    if now >= window.end:
        raise ScheduleError(
            f"{window.id} ended at {utc_z(window.end)}; a window that has ended cannot be changed"
        )


def check_span(start: datetime, end: datetime, now: datetime, ended: bool | None = None) -> None:
    """The start and end are in range and in order, and the end is still to come. New work
    says whether it has ``ended``: then its end must be past, and a past end without it is
    refused with the way to record work already done."""
    for moment, name in ((start, "start"), (end, "end")):
        try:
            check_in_range(moment, f"the {name}")
        except ValueError as error:
            raise ScheduleError(str(error), about=Input(name)) from None
    if end <= start:
        raise ScheduleError(
            f"the end {utc_z(end)} is not after the start {utc_z(start)}", about=Input.END
        )
    past = f"the window would end at {utc_z(end)}, which is already past"
    if end <= now and ended is None:
        raise ScheduleError(past, about=Input.END)
    if end <= now and ended is False:
        raise ScheduleError(
            f"{past}; to record work that has already ended, mark it as ended", about=Input.ENDED
        )
    if end > now and ended:
        raise ScheduleError(
            f"the window ends at {utc_z(end)}, which is not past yet, so it has not ended",
            about=Input.ENDED,
        )


def check_published(policy: Policy, end: datetime, now: datetime) -> None:
    """Work recorded after it ended must still be in the published span, or no feed, page
    or notice would ever show it."""
    oldest = now - timedelta(days=policy.days_back)
    if end < oldest:
        raise ScheduleError(
            f"the window ended at {utc_z(end)}, before the {plural(policy.days_back, 'day')} "
            "the feeds and status page show (policy: publish.days_back)",
            about=Input.END,
        )


def check_length(start: datetime, end: datetime, limit: timedelta) -> None:
    if end - start > limit:
        raise ScheduleError(
            f"the window would last {format_duration(end - start)}, longer than the "
            f"{plural(limit.days, 'day')} allowed "
            "(policy: unscheduled.max_duration)",
            about=Input.END,
        )


def longest(policy: Policy, window: Window) -> timedelta:
    """The longest a window may become: the policy's limit, or its rule's own length."""
    spec = policy.calendars.get(window.calendar)
    limit = policy.unscheduled.max_duration
    return max(limit, spec.duration) if spec is not None else limit


def check_products(policy: Policy, products: Sequence[str]) -> None:
    """Products named by an operator; an unknown one is a usage error, as in every command."""
    if not products:
        raise UsageError("no products given; name the products affected", about=Input.PRODUCTS)
    unknown = [p for p in products if p not in policy.products]
    if unknown:
        raise UsageError(
            f"'{unknown[0]}' is not a product; known: {', '.join(policy.products)}",
            about=Input.PRODUCTS,
        )


def next_unscheduled_id(policy: Policy, existing: Iterable[str], start: datetime) -> str:
    """``unscheduled-<local date>-<n>``, n one more than any taken that day."""
    day = start.astimezone(policy.zone).date().isoformat()
    prefix = f"{UNSCHEDULED}-{day}-"
    taken = [
        int(i[len(prefix) :])
        for i in existing
        if i.startswith(prefix) and i[len(prefix) :].isdigit()
    ]
    return f"{prefix}{max(taken, default=0) + 1}"


def _inside_avoided_hours(policy: Policy, start: datetime, end: datetime) -> datetime | None:
    """The first moment of [start, end) inside the hours unscheduled work should avoid."""
    spec, zone = policy.unscheduled, policy.zone
    day = start.astimezone(zone).date() - timedelta(days=1)
    while datetime.combine(day, time(0), zone) < end:
        busy_from = datetime.combine(day, spec.avoid_from, zone)
        busy_until = datetime.combine(day, spec.avoid_until, zone)
        if start < busy_until and end > busy_from:
            return max(start, busy_from)
        day += timedelta(days=1)
    return None
