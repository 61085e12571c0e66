"""Windows as RFC 5545 calendars with the maintenance-notification BCOP properties.

One VEVENT per window (never an RRULE), UID ``<window id>@<domain>``, times with TZID
and a VTIMEZONE, DTSTAMP from the window's last change and SEQUENCE raised on every
change, so the same state renders to the same bytes. No METHOD: the BCOP says a
maintenance calendar is published, not sent as an iTIP request.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from email.utils import parseaddr

from icalendar import Calendar, Event, Timezone, vCalAddress, vDuration, vText
from icalendar.enums import STATUS, TRANSP
from icalendar.parser import Contentline

from ctmaint import __version__
from ctmaint.policy import Policy
from ctmaint.render.details import details
from ctmaint.schedule import CANCELLED, COMPLETED, IN_PROGRESS, SCHEDULED, Window

PUBLIC_ACCOUNT = "ALL-CUSTOMERS"
REFRESH = timedelta(hours=1)
_END = b"END:VCALENDAR\r\n"
_FOLD_AT = 75
BCOP_STATUS = {
    SCHEDULED: "CONFIRMED",
    IN_PROGRESS: "IN-PROCESS",
    COMPLETED: "COMPLETED",
    CANCELLED: "CANCELLED",
}


def calendar_ics(
    events: Sequence[bytes],
    policy: Policy,
    *,
    name: str,
    uid: str,
    first: date,
    last: date,
) -> bytes:
    """A VCALENDAR around ``events`` (from :func:`event_ics`), with the provider zone's
    VTIMEZONE covering ``first``..``last``.

    Each VEVENT is serialized once by :func:`event_ics` and reused in every file that
    lists it (all.ics and the per-product files): folding long DESCRIPTION lines is
    most of icalendar's cost.
    """
    provider = policy.provider
    calendar = Calendar.new(
        prodid=f"-//{provider.name}//ctmaint {__version__}//EN",
        name=name,
        refresh_interval=REFRESH,
        uid=f"{uid}@{provider.domain}",
        url=provider.status_page or None,
    )
    calendar.add("X-PUBLISHED-TTL", vDuration(REFRESH))
    if events:
        calendar.add_component(Timezone.from_tzinfo(policy.zone, first_date=first, last_date=last))
    head: bytes = calendar.to_ical()
    assert head.endswith(_END)
    return head[: -len(_END)] + b"".join(events) + _END


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
    text = details(window, policy).text()
    if provider.status_page:
        text += f"\nStatus page: {provider.status_page}"
    prefix = "CANCELLED: " if window.cancelled else ""
    event = Event.new(
        uid=f"{window.id}@{provider.domain}",
        start=window.start.astimezone(policy.zone),
        end=window.end.astimezone(policy.zone),
        stamp=revision.stamp,
        last_modified=revision.stamp,
        sequence=revision.sequence,
        status=STATUS.CANCELLED if window.cancelled else STATUS.CONFIRMED,
        summary=f"{prefix}{provider.name}: {window.summary}",
        description=text,
        categories=["MAINTENANCE", window.calendar.upper()],
        transparency=TRANSP.TRANSPARENT if window.impact == "NO-IMPACT" else TRANSP.OPAQUE,
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


def _maintnote(event: Event, name: str, value: str) -> None:
    # vText escapes commas, semicolons and newlines; a plain str would be written raw.
    event.add(f"X-MAINTNOTE-{name}", vText(value), parameters={"VALUE": "TEXT"})


@functools.cache
def _organizer(sender: str, provider_name: str) -> vCalAddress:
    display, address = parseaddr(sender)
    organizer = vCalAddress(f"mailto:{address or sender}")
    organizer.params["CN"] = display or provider_name
    return organizer
