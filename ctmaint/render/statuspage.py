"""Windows in the shape of the Statuspage public API v2, for status pages to read.

``scheduled-maintenances.json`` lists every window the policy posts to the status page;
``upcoming.json`` those still ``scheduled``; ``active.json`` those ``in_progress`` or
``verifying``. Status follows ``now``. Timestamps are ISO 8601 with milliseconds and the
provider zone's offset, as Statuspage writes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ctmaint.policy import Policy
from ctmaint.render.details import details
from ctmaint.schedule import CANCELLED, COMPLETED, IN_PROGRESS, SCHEDULED, Window

Json = dict[str, Any]
STATUS = {
    SCHEDULED: "scheduled",
    IN_PROGRESS: "in_progress",
    COMPLETED: "completed",
    CANCELLED: "completed",  # Statuspage has no cancelled state; the last update says so
}
BODIES = {
    "in_progress": "Scheduled maintenance is currently in progress. "
    "We will provide updates as necessary.",
    "completed": "The scheduled maintenance has been completed.",
    "cancelled": "This scheduled maintenance has been cancelled.",
}


def as_json(document: Any) -> bytes:
    """One document per line, compact: json's C encoder only runs without ``indent``,
    and the status JSON of a long horizon is large."""
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def index_json(policy: Policy, posts: Sequence[dict[str, Any]]) -> bytes:
    """notices/index.json: the page and every status post, newest first."""
    updated = datetime.fromisoformat(posts[0]["posted_at"]) if posts else None
    return as_json({"page": page(policy, updated), "posts": list(posts)})


def stamp(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """``2026-12-18T22:00:00.000-07:00``, or None."""
    return None if moment is None else moment.astimezone(zone).isoformat(timespec="milliseconds")


def page(policy: Policy, updated: datetime | None) -> Json:
    provider = policy.provider
    return {
        "id": provider.domain,
        "name": provider.name,
        "url": provider.status_page,
        "time_zone": policy.zone.key,
        "updated_at": stamp(updated, policy.zone),
    }


def documents(windows: Sequence[Window], policy: Policy, now: datetime) -> dict[str, Json]:
    """The three API documents, keyed by their path under notices/."""
    ordered = sorted(windows, key=lambda w: (w.start.timestamp(), w.id), reverse=True)
    maintenances = [maintenance(w, policy, now) for w in ordered]
    updated = max((w.revision(now).stamp for w in windows), default=None)

    def document(items: list[Json]) -> Json:
        return {"page": page(policy, updated), "scheduled_maintenances": items}

    return {
        "api/v2/scheduled-maintenances.json": document(maintenances),
        "upcoming.json": document([m for m in maintenances if m["status"] == "scheduled"]),
        "active.json": document(
            [m for m in maintenances if m["status"] in ("in_progress", "verifying")]
        ),
    }


def maintenance(window: Window, policy: Policy, now: datetime) -> Json:
    """One window as a Statuspage scheduled maintenance."""
    zone = policy.zone
    revision = window.revision(now)
    status = STATUS[revision.status]
    started = window.start if revision.status in (IN_PROGRESS, COMPLETED) else None
    resolved = window.end if revision.status == COMPLETED else None
    if revision.status == CANCELLED:
        resolved = revision.stamp
    return {
        "id": window.id,
        "name": window.summary,
        "status": status,
        "created_at": stamp(window.created_at, zone),
        "updated_at": stamp(revision.stamp, zone),
        "monitoring_at": None,
        "resolved_at": stamp(resolved, zone),
        "impact": "none" if window.impact == "NO-IMPACT" else "maintenance",
        "shortlink": f"{policy.provider.status_page}/incidents/{window.id}",
        "started_at": stamp(started, zone),
        "page_id": policy.provider.domain,
        "incident_updates": _updates(window, policy, now),
        "components": _components(window, policy, status, revision.stamp),
        "scheduled_for": stamp(window.start, zone),
        "scheduled_until": stamp(window.end, zone),
    }


def _updates(window: Window, policy: Policy, now: datetime) -> list[Json]:
    """The automatic timeline: announced, started, completed (or cancelled), newest first."""
    steps: list[tuple[str, str, datetime]] = [
        ("scheduled", f"{window.summary}\n\n{details(window, policy).text()}", window.created_at)
    ]
    if window.cancelled:
        steps.append(("completed", BODIES["cancelled"], window.changed_at))
    else:
        steps += [
            (status, BODIES[status], moment)
            for status, moment in (("in_progress", window.start), ("completed", window.end))
            if moment <= now
        ]
    zone = policy.zone
    return [
        {
            "id": f"{window.id}/{status}",
            "status": status,
            "body": body,
            "incident_id": window.id,
            "created_at": stamp(moment, zone),
            "updated_at": stamp(moment, zone),
            "display_at": stamp(moment, zone),
            "affected_components": [
                {"code": product, "name": _product_name(policy, product)}
                for product in window.products
            ],
            "deliver_notifications": True,
        }
        for status, body, moment in reversed(steps)
    ]


def _components(window: Window, policy: Policy, status: str, updated: datetime) -> list[Json]:
    component_status = "under_maintenance" if status == "in_progress" else "operational"
    ids = list(policy.products)
    return [
        {
            "id": product,
            "page_id": policy.provider.domain,
            "group_id": None,
            "name": _product_name(policy, product),
            "description": None,
            "status": component_status,
            "position": ids.index(product) + 1 if product in ids else len(ids) + 1,
            "showcase": True,
            "only_show_if_degraded": False,
            "start_date": None,
            "group": False,
            "created_at": stamp(window.created_at, policy.zone),
            "updated_at": stamp(updated, policy.zone),
        }
        for product in window.products
    ]


def _product_name(policy: Policy, product: str) -> str:
    return policy.products[product].name if product in policy.products else product
