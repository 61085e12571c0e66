"""Windows as RFC 5545 calendars with the maintenance-notification BCOP properties.

One VEVENT per window (never an RRULE), UID ``<window id>@<domain>``, times with TZID
and a VTIMEZONE, DTSTAMP from the window's last change and SEQUENCE raised on every
change, so the same state renders to the same bytes. No METHOD: the BCOP says a
maintenance calendar is published, not sent as an iTIP request.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vDuration, vText
from icalendar.enums import STATUS, TRANSP
from icalendar.parser import Contentline
from msgspec import Struct

from ctmaint import __version__
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import Impact, WindowStatus
from ctmaint.model.windows import Window
from ctmaint.publishing.details import cancelled_prefix, details
from ctmaint.publishing.notes import change_notes
from ctmaint.publishing.vtimezone import vtimezone_ics

PUBLIC_ACCOUNT = "ALL-CUSTOMERS"
REFRESH = timedelta(hours=1)
_END = b"END:VCALENDAR\r\n"
_FOLD_AT = 75
BCOP_STATUS = {
    WindowStatus.SCHEDULED: "CONFIRMED",
    WindowStatus.IN_PROGRESS: "IN-PROCESS",
    WindowStatus.COMPLETED: "COMPLETED",
    WindowStatus.CANCELLED: "CANCELLED",
}


def calendar_ics(
    events: Sequence[bytes],
    policy: Policy,
    *,
    name: str,
    first: date,
    last: date,
) -> bytes:
    """A VCALENDAR around ``events`` (from :func:`event_ics`), with the provider zone's
    VTIMEZONE covering ``first``..``last`` (see :mod:`ctmaint.publishing.vtimezone`).

    Each VEVENT is serialized once by :func:`event_ics` and reused in every file that
    lists it (all.ics and the per-product files): folding long DESCRIPTION lines is
    most of icalendar's cost.

    The calendar has no UID of its own: RFC 7986 allows one, but vdirsyncer (and the
    CLI calendars it feeds) takes the first UID line as every event's identity.
    """
    provider = policy.provider
    calendar = Calendar.new(
        prodid=f"-//{provider.name}//ctmaint {__version__}//EN",
        name=name,
        url=provider.status_page or None,
    )
    del calendar["UID"]  # Calendar.new always sets one
    # RFC 7986, 5.7: REFRESH-INTERVAL requires VALUE=DURATION.
    calendar.add("REFRESH-INTERVAL", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", vDuration(REFRESH))
    head: bytes = calendar.to_ical()
    if not head.endswith(_END):
        raise ValueError("icalendar wrote a VCALENDAR that does not end with END:VCALENDAR")
    timezone = vtimezone_ics(policy.zone, first, last) if events else b""
    return head[: -len(_END)] + timezone + b"".join(events) + _END


def window_calendar(
    window: Window, policy: Policy, now: datetime, account: str = PUBLIC_ACCOUNT
) -> bytes:
    """A calendar of one window (an email's attachment, a status page's "add to calendar").

    A notice goes to thousands of audiences that differ only in X-MAINTNOTE-ACCOUNT, so the
    calendar is rendered once per window with a marker for the account, and each account
    is put in its place (escaped and folded as icalendar would): byte for byte what a full
    rendering gives (a test holds it to that).
    """
    marked = _marked_calendar(window, _Same(policy), now)
    value = vText(account).to_ical().decode()
    line = fold(f"X-MAINTNOTE-ACCOUNT;VALUE=TEXT:{value}") + "\r\n"
    return marked.replace(_MARKED_LINE, line.encode())


_ACCOUNT_MARK = "CTMAINT-ACCOUNT-MARK-7F3A"  # nothing in it that vText escapes
_MARKED_LINE = f"X-MAINTNOTE-ACCOUNT;VALUE=TEXT:{_ACCOUNT_MARK}\r\n".encode()


class _Same(Struct, frozen=True, eq=False):
    """A policy as a cache key: by identity (a policy holds dicts, so it has no hash)."""

    policy: Policy

    def __hash__(self) -> int:
        return id(self.policy)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.policy is self.policy


@functools.lru_cache(maxsize=64)
def _marked_calendar(window: Window, same: _Same, now: datetime) -> bytes:
    return full_window_calendar(window, same.policy, now, _ACCOUNT_MARK)


def full_window_calendar(window: Window, policy: Policy, now: datetime, account: str) -> bytes:
    """:func:`window_calendar` rendered whole, without the per-window cache."""
    return calendar_ics(
        [event_ics(window, policy, now, account)],
        policy,
        name=f"{policy.provider.name} maintenance: {window.title}",
        first=(window.start - timedelta(days=1)).date(),
        last=(window.end + timedelta(days=1)).date(),
    )


def event_ics(
    window: Window, policy: Policy, now: datetime, account: str = PUBLIC_ACCOUNT
) -> bytes:
    """The serialized VEVENT of one window (see :func:`window_event`).

    Byte for byte what ``Event.to_ical()`` writes (a test holds it to that), with ASCII
    lines folded by slicing: icalendar folds character by character, which is most of
    the cost of a ten-year feed.
    """
    lines = window_event(window, policy, now, account).content_lines()
    return "".join(fold(line) + "\r\n" for line in lines if line).encode()


def fold(line: str) -> str:
    """Fold one content line at 75 octets (RFC 5545, section 3.1) as icalendar does,
    never splitting a backslash or caret escape from the character it escapes."""
    if not line.isascii():
        folded: bytes = Contentline(line).to_ical()  # type: ignore[no-untyped-call]
        return folded.decode()
    chunks, position = [], 0
    while len(line) - position >= _FOLD_AT:
        chunk = line[position : position + _FOLD_AT - 1]
        if chunk[-1] in "\\^":
            chunk = chunk[:-1]
        chunks.append(chunk)
        position += len(chunk)
    chunks.append(line[position:])
    return "\r\n ".join(chunks)


def window_event(window: Window, policy: Policy, now: datetime, account: str) -> Event:
    """The VEVENT of one window as of ``now``, for ``account`` (a customer or the public)."""
    provider = policy.provider
    revision = window.revision(now)
    # What changed comes first (a cancel's reason, the time a move replaced): calendars
    # show a description's first lines.
    text = "".join(f"{note}\n\n" for note in change_notes(window))
    text += details(window, policy).text()
    if provider.status_page:
        text += f"\nStatus page: {provider.status_page}"
    start, end = event_times(window.start, window.end, policy.zone)
    event = Event.new(
        uid=f"{window.id}@{provider.domain}",
        start=start,
        end=end,
        stamp=revision.stamp,
        last_modified=revision.stamp,
        sequence=revision.sequence,
        status=STATUS.CANCELLED if window.cancelled else STATUS.CONFIRMED,
        summary=f"{cancelled_prefix(window)}{provider.name}: {window.summary}",
        description=text,
        categories=["MAINTENANCE", window.calendar.upper()],
        transparency=TRANSP.TRANSPARENT if window.impact is Impact.NO_IMPACT else TRANSP.OPAQUE,
        url=provider.status_page or None,
    )
    event.add("organizer", _organizer(provider.sender, provider.name))
    _maintnote(event, "PROVIDER", provider.domain)
    _maintnote(event, "ACCOUNT", account)
    _maintnote(event, "MAINTENANCE-ID", window.id)
    for product in window.products:
        _maintnote(event, "OBJECT-ID", product)
    _maintnote(event, "IMPACT", window.impact)
    _maintnote(event, "STATUS", BCOP_STATUS[revision.status])
    return event


def event_times(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """DTSTART and DTEND as written: wall times in ``zone`` (with TZID), or both in UTC
    when either is a wall time that repeats (fall-back) or does not exist (spring-forward),
    which a TZID form would leave open to another reading. Both ends take the same form:
    recurring-ical-events computes a mixed pair's end on the wall clock.
    """
    local = start.astimezone(zone), end.astimezone(zone)
    if all(_unambiguous(moment) for moment in local):
        return local
    return start.astimezone(UTC), end.astimezone(UTC)


def _unambiguous(local: datetime) -> bool:
    """Whether this wall time names exactly one instant in its zone."""
    return local.replace(fold=0).utcoffset() == local.replace(fold=1).utcoffset()


def _maintnote(event: Event, name: str, value: str) -> None:
    # vText escapes commas, semicolons and newlines; a plain str would be written raw.
    event.add(f"X-MAINTNOTE-{name}", vText(value), parameters={"VALUE": "TEXT"})


@functools.cache
def _organizer(sender: str, provider_name: str) -> vCalAddress:
    display, address = parseaddr(sender)
    organizer = vCalAddress(f"mailto:{address or sender}")
    organizer.params["CN"] = display or provider_name
    return organizer
