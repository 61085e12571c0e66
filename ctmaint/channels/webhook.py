"""Signed webhooks: a notice as the JSON body Statuspage sends for an incident (``meta``,
``page``, ``incident`` with its ``incident_updates`` and ``components``), so that receivers
already built for Statuspage read it; it is signed per Standard Webhooks
(:mod:`ctmaint.channels.signing`).

A window is the incident (its id the window id, scheduled for its start and until its end)
and each notice one update of it (its id the notice id). Products are the components.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ctmaint.channels.base import Setup
from ctmaint.channels.message import stage_text
from ctmaint.channels.webpost import WebPostChannel
from ctmaint.model.notices import Notice
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import WindowStatus
from ctmaint.publishing.details import details

DOCUMENTATION = "https://www.standardwebhooks.com"
# A window's status as Statuspage names a scheduled maintenance's.
INCIDENT_STATUS = {
    WindowStatus.SCHEDULED: "scheduled",
    WindowStatus.IN_PROGRESS: "in_progress",
    WindowStatus.COMPLETED: "completed",
    WindowStatus.CANCELLED: "completed",  # Statuspage has no cancelled maintenance
}
COMPONENT_STATUS = {WindowStatus.IN_PROGRESS: "under_maintenance"}


def body(notice: Notice, policy: Policy, now: datetime) -> dict[str, Any]:
    """The webhook body of ``notice`` sent at ``now``."""
    provider, status = policy.provider, notice.status_at(now)
    meta = {"unsubscribe": "", "documentation": DOCUMENTATION, "generated_at": _z(now)}
    page = {
        "id": provider.domain,
        "status_indicator": "maintenance" if status is WindowStatus.IN_PROGRESS else "none",
        "status_description": provider.name,
    }
    return {"meta": meta, "page": page, "incident": _incident(notice, policy, now)}


def _incident(notice: Notice, policy: Policy, now: datetime) -> dict[str, Any]:
    """The window as Statuspage's incident, with ``notice`` as its one update."""
    window, page_id = notice.window, policy.provider.domain
    status, stamp = notice.status_at(now), _z(now)
    products = _products(window.products, policy)
    return {
        "name": f"{stage_text(notice, now)[0]}: {window.title}",
        "status": INCIDENT_STATUS[status],
        "created_at": _z(window.created_at),
        "updated_at": stamp,
        "monitoring_at": None,
        "resolved_at": _z(window.end) if status is WindowStatus.COMPLETED else None,
        "impact": "maintenance",
        "shortlink": _page(policy, window.id),
        "postmortem_ignored": True,
        "postmortem_body": None,
        "postmortem_body_last_updated_at": None,
        "postmortem_published_at": None,
        "postmortem_notified_subscribers": False,
        "postmortem_notified_twitter": False,
        "backfilled": False,
        "scheduled_for": _z(window.start),
        "scheduled_until": _z(window.end),
        "scheduled_remind_prior": False,
        "scheduled_reminded_at": None,
        "impact_override": None,
        "scheduled_auto_in_progress": True,
        "scheduled_auto_completed": True,
        "id": window.id,
        "page_id": page_id,
        "incident_updates": [_update(notice, policy, now)],
        "components": [
            _component_of(pid, name, i, status, page_id, window.created_at)
            for i, (pid, name) in enumerate(products)
        ],
    }


def _update(notice: Notice, policy: Policy, now: datetime) -> dict[str, Any]:
    """``notice`` as one update of its incident: its text and the components it affects."""
    window, status, stamp = notice.window, notice.status_at(now), _z(now)
    lead = stage_text(notice, now)[1].format(title=window.title, provider=policy.provider.name)
    lines = [lead, *details(window, policy).lines(), *([notice.note] if notice.note else [])]
    components = [
        {"code": pid, "name": name, "old_status": "operational", "new_status": _component(status)}
        for pid, name in _products(window.products, policy)
    ]
    return {
        "status": INCIDENT_STATUS[status],
        "body": "\n".join(lines),
        "created_at": stamp,
        "wants_twitter_update": False,
        "twitter_updated_at": None,
        "updated_at": stamp,
        "display_at": stamp,
        "affected_components": components,
        "custom_tweet": None,
        "deliver_notifications": True,
        "id": notice.id,
        "incident_id": window.id,
    }


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _page(policy: Policy, window_id: str) -> str:
    base = policy.provider.status_page.rstrip("/")
    return f"{base}/windows/{window_id}.html" if base else ""


def _component(status: WindowStatus) -> str:
    return COMPONENT_STATUS.get(status, "operational")


def _products(ids: tuple[str, ...], policy: Policy) -> list[tuple[str, str]]:
    return [(p, policy.products[p].name if p in policy.products else p) for p in ids]


def _component_of(
    pid: str, name: str, position: int, status: WindowStatus, page_id: str, made: datetime
) -> dict[str, Any]:
    return {
        "status": _component(status),
        "name": name,
        "created_at": _z(made),
        "updated_at": _z(made),
        "position": position + 1,
        "description": None,
        "showcase": True,
        "id": pid,
        "page_id": page_id,
        "group_id": None,
    }


def make(setup: Setup) -> WebPostChannel:
    """The webhook channel, posting to the setup's webhook subscriptions."""
    return WebPostChannel("webhook", payload, setup, signed=True)


def payload(notice: Notice, policy: Policy, now: datetime, zone: ZoneInfo | None) -> dict[str, Any]:
    """What is posted: :func:`body` (its times are UTC, as Statuspage's are, whatever
    ``zone`` the subscription reads in)."""
    return body(notice, policy, now)
