"""The status JSON has the Statuspage public API v2 field set, and follows --now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctmaint.policy import Policy
from ctmaint.render.statuspage import documents
from ctmaint.schedule import windows_between
from tests.conftest import Built

PAGE_FIELDS = {"id", "name", "url", "time_zone", "updated_at"}
MAINTENANCE_FIELDS = {
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
    "impact", "shortlink", "started_at", "page_id", "incident_updates", "components",
    "scheduled_for", "scheduled_until",
}  # fmt: skip
UPDATE_FIELDS = {
    "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
    "affected_components", "deliver_notifications",
}  # fmt: skip
TIMESTAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$"


def read(built: Built, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((built.notices / name).read_text())
    return document


def test_documents_have_the_statuspage_field_set(built: Built) -> None:
    for name in ("api/v2/scheduled-maintenances.json", "upcoming.json", "active.json"):
        document = read(built, name)
        assert set(document) == {"page", "scheduled_maintenances"}
        assert set(document["page"]) == PAGE_FIELDS
        for maintenance in document["scheduled_maintenances"]:
            assert set(maintenance) == MAINTENANCE_FIELDS
            assert maintenance["status"] in ("scheduled", "in_progress", "verifying", "completed")
            assert maintenance["impact"] in ("none", "minor", "major", "critical", "maintenance")
            for update in maintenance["incident_updates"]:
                assert set(update) == UPDATE_FIELDS
                assert update["incident_id"] == maintenance["id"]
            for field in ("scheduled_for", "scheduled_until", "created_at", "updated_at"):
                assert maintenance[field] is not None
                assert __import__("re").match(TIMESTAMP, maintenance[field])


def test_only_status_page_calendars_are_posted(built: Built) -> None:
    everything = read(built, "api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    calendars = {m["id"].rsplit("-", 3)[0] for m in everything}
    assert calendars == {"monthly", "connect"}  # not the certificate job
    upcoming = read(built, "upcoming.json")["scheduled_maintenances"]
    assert upcoming
    assert {m["status"] for m in upcoming} == {"scheduled"}
    assert read(built, "active.json")["scheduled_maintenances"] == []


@pytest.mark.parametrize(
    ("now", "status", "updates"),
    [
        pytest.param("2027-03-19T21:59:00-06:00", "scheduled", ["scheduled"], id="before"),
        pytest.param(
            "2027-03-19T22:00:00-06:00", "in_progress", ["in_progress", "scheduled"], id="start"
        ),
        pytest.param(
            "2027-03-20T04:00:00-06:00",
            "completed",
            ["completed", "in_progress", "scheduled"],
            id="after",
        ),
    ],
)
def test_status_follows_now(shipped: Policy, now: str, status: str, updates: list[str]) -> None:
    moment = datetime.fromisoformat(now)
    windows = [
        w
        for w in windows_between(shipped, moment - timedelta(days=2), moment + timedelta(days=2))
        if w.calendar == "monthly"
    ]
    docs = documents(windows, shipped, moment)
    (maintenance,) = docs["api/v2/scheduled-maintenances.json"]["scheduled_maintenances"]
    assert maintenance["status"] == status
    assert [u["status"] for u in maintenance["incident_updates"]] == updates
    active = docs["active.json"]["scheduled_maintenances"]
    assert [m["id"] for m in active] == (["monthly-2027-03-19"] if status == "in_progress" else [])
    components = {c["status"] for c in maintenance["components"]}
    assert components == {"under_maintenance" if status == "in_progress" else "operational"}
    if status == "completed":
        assert maintenance["resolved_at"] == "2027-03-20T04:00:00.000-06:00"
        assert maintenance["started_at"] == "2027-03-19T22:00:00.000-06:00"
    assert maintenance["scheduled_for"] == "2027-03-19T22:00:00.000-06:00"
    assert docs["upcoming.json"]["page"]["updated_at"] is not None
    assert moment.astimezone(UTC)  # keeps mypy aware the parse gave an aware time
