"""Windows in the shape of the Statuspage public API v2, for status pages to read.

``scheduled-maintenances.json`` lists every window the policy posts to the status page;
``scheduled-maintenances/upcoming.json`` those still ``scheduled``;
``scheduled-maintenances/active.json`` those ``in_progress`` or ``verifying``;
``components.json``, ``status.json`` and ``summary.json`` the page's products and its
status indicator. Status follows ``now``. Timestamps are ISO 8601 with milliseconds and the
provider zone's offset, as Statuspage writes them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import ChangeKind, Impact, WindowStatus
from ctmaint.model.windows import ChangeNote, Window
from ctmaint.publishing.details import details

Json = dict[str, Any]
STATUS = {
    WindowStatus.SCHEDULED: "scheduled",
    WindowStatus.IN_PROGRESS: "in_progress",
    WindowStatus.COMPLETED: "completed",
    # Statuspage has no cancelled state; the last update says so
    WindowStatus.CANCELLED: "completed",
}
# A maintenance's status -> the status of the components it affects.
COMPONENT_STATUS = {
    "scheduled": "operational",
    "in_progress": "under_maintenance",
    "verifying": "under_maintenance",
    "completed": "operational",
}
BODIES = {
    "in_progress": "Scheduled maintenance is currently in progress. "
    "We will provide updates as necessary.",
    "completed": "The scheduled maintenance has been completed.",
    "cancelled": "This scheduled maintenance has been cancelled.",
    "reschedule": "This scheduled maintenance has been rescheduled.",
    "extend": "This maintenance has been extended.",
}


def as_json(document: Any) -> bytes:
    """One document per line, compact: json's C encoder only runs without ``indent``,
    and the status JSON of a long horizon is large."""
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def index_json(policy: Policy, posts: Sequence[dict[str, Any]], quiet_since: datetime) -> bytes:
    """notices/index.json: the page and every status post, newest first. The page's
    ``updated_at`` is the newest post's time, or ``quiet_since`` before the first post."""
    updated = datetime.fromisoformat(posts[0]["posted_at"]) if posts else quiet_since
    return as_json({"page": page(policy, updated), "posts": list(posts)})


def stamp(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """``2026-12-18T22:00:00.000-07:00``, or None."""
    return None if moment is None else moment.astimezone(zone).isoformat(timespec="milliseconds")


def page(policy: Policy, updated: datetime) -> Json:
    provider = policy.provider
    return {
        "id": provider.domain,
        "name": provider.name,
        "url": provider.status_page,
        "time_zone": policy.zone.key,
        "updated_at": stamp(updated, policy.zone),
    }


def last_change(windows: Sequence[Window], now: datetime, quiet_since: datetime) -> datetime:
    """When the page last changed: the latest change of any window, or ``quiet_since``."""
    return max((w.revision(now).stamp for w in windows), default=quiet_since)


def documents(
    windows: Sequence[Window], policy: Policy, now: datetime, quiet_since: datetime
) -> dict[str, Json]:
    """The Statuspage API v2 documents, keyed by their path under notices/ (the paths
    Statuspage serves them at, so a client pointed at the folder works unchanged).

    The page's ``updated_at`` is the latest change of any window, or ``quiet_since``
    when there is none; the status indicator is ``maintenance`` while one is in progress.
    """
    ordered = sorted(windows, key=lambda w: (w.start.timestamp(), w.id), reverse=True)
    maintenances = [maintenance(w, policy, now) for w in ordered]
    updated = last_change(windows, now, quiet_since)
    head = {"page": page(policy, updated)}
    upcoming = [m for m in maintenances if m["status"] == "scheduled"]
    active = [m for m in maintenances if m["status"] in ("in_progress", "verifying")]
    components = page_components(windows, policy, now, updated)
    indicator = _indicator(active)
    return {
        MAINTENANCES: head | {"scheduled_maintenances": maintenances},
        f"{API}/scheduled-maintenances/upcoming.json": head | {"scheduled_maintenances": upcoming},
        f"{API}/scheduled-maintenances/active.json": head | {"scheduled_maintenances": active},
        f"{API}/components.json": head | {"components": components},
        f"{API}/status.json": head | {"status": indicator},
        f"{API}/summary.json": head
        | {
            "components": components,
            "incidents": [],  # ctmaint publishes maintenance, never incidents
            "scheduled_maintenances": active + upcoming,
            "status": indicator,
        },
    }


API = "api/v2"
MAINTENANCES = f"{API}/scheduled-maintenances.json"


def _indicator(active: Sequence[Json]) -> Json:
    if active:
        return {"indicator": "maintenance", "description": "Service Under Maintenance"}
    return {"indicator": "none", "description": "All Systems Operational"}


def page_components(
    windows: Sequence[Window], policy: Policy, now: datetime, updated: datetime
) -> list[Json]:
    """Every product of the policy as a page component, ``under_maintenance`` while a
    posted window affecting it is in progress."""
    running = {
        p for w in windows if w.revision(now).status is WindowStatus.IN_PROGRESS for p in w.products
    }
    created = min((w.created_at for w in windows), default=updated, key=lambda m: m.timestamp())
    return [
        _component(
            policy,
            product,
            "under_maintenance" if product in running else "operational",
            created,
            updated,
        )
        for product in policy.products
    ]


def maintenance(window: Window, policy: Policy, now: datetime) -> Json:
    """One window as a Statuspage scheduled maintenance."""
    zone = policy.zone
    revision = window.revision(now)
    status = STATUS[revision.status]
    started = (
        window.start
        if revision.status in (WindowStatus.IN_PROGRESS, WindowStatus.COMPLETED)
        else None
    )
    resolved = window.end if revision.status is WindowStatus.COMPLETED else None
    if revision.status is WindowStatus.CANCELLED:
        resolved = revision.stamp
    return {
        "id": window.id,
        "name": window.summary,
        "status": status,
        "created_at": stamp(window.created_at, zone),
        "updated_at": stamp(revision.stamp, zone),
        "monitoring_at": None,
        "resolved_at": stamp(resolved, zone),
        "impact": "none" if window.impact is Impact.NO_IMPACT else "maintenance",
        "shortlink": f"{policy.provider.status_page}/incidents/{window.id}",
        "started_at": stamp(started, zone),
        "page_id": policy.provider.domain,
        "incident_updates": _updates(window, policy, now),
        "components": _components(window, policy, status, revision.stamp),
        "scheduled_for": stamp(window.start, zone),
        "scheduled_until": stamp(window.end, zone),
    }


class _Step(Struct, frozen=True):
    """One incident update before it is written: its id (after the window's), status, body
    and time."""

    id: str
    status: str
    body: str
    moment: datetime


def _updates(window: Window, policy: Policy, now: datetime) -> list[Json]:
    """The timeline, newest first: announced; each move or extension (what it replaced);
    started; completed, or cancelled with the reason given. Work recorded once it was under
    way (or over) opens with that status, at that moment."""
    opened = _OPENED[window.recorded]
    text = f"{window.summary}\n\n{details(window, policy).text()}"
    announced = _Step(opened, opened, text, window.created_at)
    middle, seen = [], Counter[ChangeKind]()
    for note in window.notes:
        if note.kind is not ChangeKind.CANCEL:
            seen[note.kind] += 1
            middle.append(_changed(window, note, seen[note.kind]))
    last = []
    if window.cancelled:
        reasons = [n.text for n in window.notes if n.kind is ChangeKind.CANCEL]
        body = "\n\n".join([BODIES["cancelled"], *reasons])
        last.append(_Step("completed", "completed", body, window.changed_at))
    else:
        if window.created_at < window.start <= now:
            middle.append(_Step("in_progress", "in_progress", BODIES["in_progress"], window.start))
        if window.created_at < window.end <= now:
            last.append(_Step("completed", "completed", BODIES["completed"], window.end))
    # Stable by time; the announcement stays first and the end last whatever the clocks say
    # (a window completed early may have been extended after the end it was given).
    steps = [announced, *sorted(middle, key=lambda s: s.moment.timestamp()), *last]
    updates, previous = [], "scheduled"
    for step in steps:
        updates.append(_update(window, policy, step, previous))
        previous = step.status
    return updates[::-1]


_OPENED = {
    WindowStatus.SCHEDULED: "scheduled",
    WindowStatus.IN_PROGRESS: "in_progress",
    WindowStatus.COMPLETED: "completed",
}


def _changed(window: Window, note: ChangeNote, ordinal: int) -> _Step:
    """The update of the ``ordinal``-th move or extension: still ``scheduled`` if made before
    the start. Its id is ``<window id>/<change>``, then ``-2``, ``-3`` for later ones."""
    status = "scheduled" if note.made_at < window.start else "in_progress"
    body = f"{BODIES[str(note.kind)]} {note.text}"
    return _Step(f"{note.kind}{'' if ordinal == 1 else f'-{ordinal}'}", status, body, note.made_at)


def _update(window: Window, policy: Policy, step: _Step, previous: str) -> Json:
    """One incident update; its components move from ``previous``'s state to its own."""
    at = stamp(step.moment, policy.zone)
    status = step.status
    return {
        "id": f"{window.id}/{step.id}",
        "status": status,
        "body": step.body,
        "incident_id": window.id,
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": [
            {
                "code": product,
                "name": _product_name(policy, product),
                "old_status": COMPONENT_STATUS[previous],
                "new_status": COMPONENT_STATUS[status],
            }
            for product in window.products
        ],
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def _components(window: Window, policy: Policy, status: str, updated: datetime) -> list[Json]:
    component_status = COMPONENT_STATUS[status]
    return [
        _component(policy, product, component_status, window.created_at, updated)
        for product in window.products
    ]


def _component(
    policy: Policy, product: str, status: str, created: datetime, updated: datetime
) -> Json:
    ids = list(policy.products)
    return {
        "id": product,
        "page_id": policy.provider.domain,
        "group_id": None,
        "name": _product_name(policy, product),
        "description": None,
        "status": status,
        "position": ids.index(product) + 1 if product in ids else len(ids) + 1,
        "showcase": True,
        "only_show_if_degraded": False,
        "start_date": None,
        "group": False,
        "created_at": stamp(created, policy.zone),
        "updated_at": stamp(updated, policy.zone),
    }


def _product_name(policy: Policy, product: str) -> str:
    return policy.products[product].name if product in policy.products else product
