"""The status JSON has the Statuspage public API v2 field set, and follows --now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctmaint.model.policy import Policy
from ctmaint.model.windows import windows_between
from ctmaint.publishing.statusjson import documents
from tests.conftest import Built

PAGE_FIELDS = {"id", "name", "url", "time_zone", "updated_at"}
MAINTENANCE_FIELDS = {
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
    "impact", "shortlink", "started_at", "page_id", "incident_updates", "components",
    "scheduled_for", "scheduled_until",
}  # fmt: skip
UPDATE_FIELDS = {
    "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
    "affected_components", "deliver_notifications", "custom_tweet", "tweet_id",
}  # fmt: skip
AFFECTED_FIELDS = {"code", "name", "old_status", "new_status"}
COMPONENT_FIELDS = {
    "id", "page_id", "group_id", "name", "description", "status", "position", "showcase",
    "only_show_if_degraded", "start_date", "group", "created_at", "updated_at",
}  # fmt: skip
COMPONENT_STATUSES = {
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance",
}  # fmt: skip
MAINTENANCES = "api/v2/scheduled-maintenances.json"
UPCOMING = "api/v2/scheduled-maintenances/upcoming.json"
ACTIVE = "api/v2/scheduled-maintenances/active.json"
TIMESTAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$"


def read(built: Built, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((built.notices / name).read_text())
    return document


def test_documents_have_the_statuspage_field_set(built: Built) -> None:
    for name in (MAINTENANCES, UPCOMING, ACTIVE):
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
                assert (update["custom_tweet"], update["tweet_id"]) == (None, None)
                for affected in update["affected_components"]:
                    assert set(affected) == AFFECTED_FIELDS
                    assert {affected["old_status"], affected["new_status"]} <= COMPONENT_STATUSES
            for component in maintenance["components"]:
                assert set(component) == COMPONENT_FIELDS
            for field in ("scheduled_for", "scheduled_until", "created_at", "updated_at"):
                assert maintenance[field] is not None
                assert __import__("re").match(TIMESTAMP, maintenance[field])


def test_only_status_page_calendars_are_posted(built: Built) -> None:
    everything = read(built, MAINTENANCES)["scheduled_maintenances"]
    calendars = {m["id"].rsplit("-", 3)[0] for m in everything}
    assert calendars == {"monthly", "connect"}  # not the certificate job
    upcoming = read(built, UPCOMING)["scheduled_maintenances"]
    assert upcoming
    assert {m["status"] for m in upcoming} == {"scheduled"}
    assert read(built, ACTIVE)["scheduled_maintenances"] == []


def test_page_documents_list_every_product_and_the_status(built: Built) -> None:
    components = read(built, "api/v2/components.json")
    assert set(components) == {"page", "components"}
    names = [c["name"] for c in components["components"]]
    assert names[0] == "Microsoft Teams Voice"
    assert len(names) == 7
    for component in components["components"]:
        assert set(component) == COMPONENT_FIELDS
        assert component["status"] == "operational"
    assert read(built, "api/v2/status.json")["status"] == {
        "indicator": "none",
        "description": "All Systems Operational",
    }
    summary = read(built, "api/v2/summary.json")
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert summary["components"] == components["components"]
    assert summary["scheduled_maintenances"] == read(built, UPCOMING)["scheduled_maintenances"]
    assert summary["incidents"] == []
    for name in (MAINTENANCES, UPCOMING, ACTIVE, "api/v2/summary.json", "index.json"):
        assert read(built, name)["page"]["updated_at"] is not None, name


def test_the_old_top_level_paths_are_not_written(built: Built) -> None:
    assert not (built.notices / "upcoming.json").exists()
    assert not (built.notices / "active.json").exists()


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
    docs = documents(windows, shipped, moment, moment - timedelta(days=90))
    (maintenance,) = docs[MAINTENANCES]["scheduled_maintenances"]
    assert maintenance["status"] == status
    assert [u["status"] for u in maintenance["incident_updates"]] == updates
    active = docs[ACTIVE]["scheduled_maintenances"]
    assert [m["id"] for m in active] == (["monthly-2027-03-19"] if status == "in_progress" else [])
    components = {c["status"] for c in maintenance["components"]}
    assert components == {"under_maintenance" if status == "in_progress" else "operational"}
    if status == "completed":
        assert maintenance["resolved_at"] == "2027-03-20T04:00:00.000-06:00"
        assert maintenance["started_at"] == "2027-03-19T22:00:00.000-06:00"
    assert maintenance["scheduled_for"] == "2027-03-19T22:00:00.000-06:00"
    assert docs[UPCOMING]["page"]["updated_at"] is not None
    running = status == "in_progress"
    indicator = docs["api/v2/status.json"]["status"]["indicator"]
    assert indicator == ("maintenance" if running else "none")
    assert docs["api/v2/summary.json"]["status"]["indicator"] == indicator
    page_components = {c["id"]: c["status"] for c in docs["api/v2/components.json"]["components"]}
    affected = {c["id"] for c in maintenance["components"]}
    for product, product_status in page_components.items():
        under = running and product in affected
        assert product_status == ("under_maintenance" if under else "operational"), product
    transitions = [
        (a["old_status"], a["new_status"])
        for u in maintenance["incident_updates"]
        for a in u["affected_components"][:1]
    ]
    expected_transitions = {
        "scheduled": [("operational", "operational")],
        "in_progress": [("operational", "under_maintenance"), ("operational", "operational")],
        "completed": [
            ("under_maintenance", "operational"),
            ("operational", "under_maintenance"),
            ("operational", "operational"),
        ],
    }
    assert transitions == expected_transitions[status]
    assert moment.astimezone(UTC)  # keeps mypy aware the parse gave an aware time
