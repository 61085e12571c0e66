"""The status page: a static, self-contained site in the notices folder.

``index.html`` shows the maintenance in progress, what is coming in the published span and
what ended or was cancelled in the last 30 days, with a product filter that works without
JavaScript (radio buttons and CSS) and links to subscribe to every feed. Each window has a
page of its own (``windows/<window id>.html``) with its whole history and its ``.ics``
beside it. Built from the same windows, posts and changes as the status JSON, rendered by
autoescaping templates, and dated by the data, never the clock: the same state gives the
same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec import Struct

from ctmaint.model.changes import Change
from ctmaint.model.events import Complete, Edit
from ctmaint.model.policy import Policy
from ctmaint.model.times import human_local, human_utc, range_ends, utc_z
from ctmaint.model.vocabulary import ChangeKind, WindowStatus
from ctmaint.model.windows import Window
from ctmaint.publishing import ical
from ctmaint.publishing.details import IMPACT_WORDS, product_names
from ctmaint.publishing.notes import change_notes
from ctmaint.publishing.templates import template

RECENT = timedelta(days=30)
STATUS_LABELS = {
    WindowStatus.SCHEDULED: "Scheduled",
    WindowStatus.IN_PROGRESS: "In progress",
    WindowStatus.COMPLETED: "Completed",
    WindowStatus.CANCELLED: "Cancelled",
}
CHANGE_LABELS = {
    ChangeKind.ADD: "Announced",
    ChangeKind.EDIT: "Details updated",
    ChangeKind.CANCEL: "Cancelled",
    ChangeKind.RESCHEDULE: "Rescheduled",
    ChangeKind.EXTEND: "Extended",
    ChangeKind.COMPLETE: "Completed early",
    ChangeKind.FOLLOW_UP: "Follow-up",
}


class Moment(Struct, frozen=True):
    """An instant as the page shows it: provider time with its abbreviation, and UTC."""

    iso: str  # the <time datetime>: UTC, ending in Z
    local: str
    utc: str


class Entry(Struct, frozen=True):
    """One line of a window's history: a status post, or an operator change."""

    at: Moment
    title: str
    text: str = ""


class WindowView(Struct, frozen=True):
    """A window as the status page shows it."""

    id: str
    title: str
    status: str
    status_class: str
    start: Moment
    end: Moment
    products: list[tuple[str, str]]  # (id, display name)
    impact: str
    description: str
    justification: str
    notes: list[str]  # what each cancel, move or extension said, oldest first
    updates: list[Entry]  # status posts, newest first
    history: list[Entry]  # posts and changes, newest first


def page_files(
    windows: Sequence[Window],
    policy: Policy,
    now: datetime,
    posts: Sequence[dict[str, Any]],
    changes: Sequence[Change],
    updated: datetime,
) -> dict[str, bytes]:
    """index.html, and windows/<id>.html and .ics for every window, keyed by path.

    ``windows`` are those posted to the status page in the published span; ``updated``
    dates the page (the latest change of the status documents).
    """
    views = {w.id: _view(w, policy, now, posts, changes) for w in windows}
    running, upcoming, recent = [], [], []
    for window in sorted(windows, key=lambda w: (w.start.timestamp(), w.id)):
        status = window.status(now)
        if status is WindowStatus.IN_PROGRESS:
            running.append(views[window.id])
        elif status is WindowStatus.SCHEDULED:
            upcoming.append(views[window.id])
        elif _ended_at(window) >= now - RECENT:
            recent.append(views[window.id])
    recent.reverse()  # the latest first
    context = {
        "provider": policy.provider,
        "products": [(p.id, p.name) for p in policy.products.values()],
        "feeds": _feeds(policy),
        "updated": _moment(updated, policy),
        "zone_label": policy.provider.zone_label or policy.zone.key,
    }
    files = {
        "status.css": template("status.css.j2").render(context).encode(),
        "index.html": template("status_index.html.j2")
        .render(context, running=running, upcoming=upcoming, recent=recent, root="")
        .encode(),
    }
    for window in windows:
        view = views[window.id]
        files[f"windows/{window.id}.html"] = (
            template("status_window.html.j2").render(context, window=view, root="../").encode()
        )
        files[f"windows/{window.id}.ics"] = ical.window_calendar(window, policy, now)
    return files


def _ended_at(window: Window) -> datetime:
    return window.changed_at if window.cancelled else window.end


def _view(
    window: Window,
    policy: Policy,
    now: datetime,
    posts: Sequence[dict[str, Any]],
    changes: Sequence[Change],
) -> WindowView:
    status = window.status(now)
    updates = [
        Entry(_moment(datetime.fromisoformat(p["posted_at"]), policy), p["title"])
        for p in posts
        if p["window"] == window.id
    ]  # the ledger lists posts newest first
    made = [
        Entry(_moment(c.made_at, policy), CHANGE_LABELS[c.kind], _change_text(c, policy))
        for c in changes
        if c.window_id == window.id
    ]
    history = sorted([*updates, *made], key=lambda e: e.at.iso, reverse=True)
    start, end = _ends(window, policy)
    return WindowView(
        id=window.id,
        title=window.title,
        status=STATUS_LABELS[status],
        status_class=str(status),
        start=start,
        end=end,
        products=list(zip(window.products, product_names(window, policy), strict=True)),
        impact=f"{window.impact}: {IMPACT_WORDS[window.impact]}",
        description=window.description,
        justification=window.justification,
        notes=change_notes(window),
        updates=updates,
        history=history,
    )


def _change_text(change: Change, policy: Policy) -> str:
    event = change.event
    if isinstance(event, Edit):
        return "Changed: " + ", ".join(event.values) + "."
    if isinstance(event, Complete):
        return f"Ended {human_local(event.end, policy.zone)}."
    return event.note(policy)


def _moment(instant: datetime, policy: Policy) -> Moment:
    return Moment(utc_z(instant), human_local(instant, policy.zone), human_utc(instant))


def _ends(window: Window, policy: Policy) -> tuple[Moment, Moment]:
    """The window's start and end, written as every output writes a range."""
    local = range_ends(window.start, window.end, policy.zone)
    utc = range_ends(window.start, window.end, UTC)
    return (
        Moment(utc_z(window.start), local[0], utc[0]),
        Moment(utc_z(window.end), local[1], utc[1]),
    )


def _feeds(policy: Policy) -> list[dict[str, str]]:
    """Subscribe links for all windows and for each product: webcal and https calendars,
    RSS and Atom, from the policy's calendar_url (none without one)."""
    base = policy.provider.calendar_url.rstrip("/")
    if not base:
        return []
    stems = [("all", "All products"), *((p.id, p.name) for p in policy.products.values())]
    webcal = "webcal://" + base.split("://", 1)[-1]
    return [
        {
            "name": name,
            "webcal": f"{webcal}/{stem}.ics",
            "ics": f"{base}/{stem}.ics",
            "rss": f"{base}/{stem}.rss",
            "atom": f"{base}/{stem}.atom",
        }
        for stem, name in stems
    ]
