"""Every webhook body has the keys and value types of a body Statuspage really sent (Zulip's
captured fixture), and verifies end to end once signed."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ctmaint.channels.signing import signed_headers
from ctmaint.channels.webhook import body
from ctmaint.model.notices import Notice
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import Stage
from ctmaint.model.windows import windows_between

CAPTURED = Path(__file__).with_name("fixtures") / "statuspage_incident_update.json"
NOW = datetime(2030, 6, 14, 15, tzinfo=UTC)


def shape_problems(ours: Any, theirs: Any, where: str = "") -> list[str]:
    """Where ``ours`` differs from ``theirs`` in keys or (non-null) value types."""
    if theirs is None or ours is None:
        return []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{where}: not an object"]
        found = (
            [f"{where}: keys {sorted(set(theirs) ^ set(ours))}"] if set(theirs) != set(ours) else []
        )
        for key in set(theirs) & set(ours):
            found += shape_problems(ours[key], theirs[key], f"{where}.{key}")
        return found
    if isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{where}: not a list"]
        return (
            [p for item in ours for p in shape_problems(item, theirs[0], f"{where}[]")]
            if theirs
            else []
        )
    return (
        []
        if type(ours) is type(theirs)
        else [f"{where}: {type(ours).__name__}, not {type(theirs).__name__}"]
    )


def test_every_body_has_the_shape_statuspage_sends(shipped: Policy) -> None:
    captured = json.loads(CAPTURED.read_text())
    for window in windows_between(shipped, NOW, NOW + timedelta(days=40)):
        for stage in Stage:
            notice = Notice(window, stage, NOW, NOW + timedelta(days=1))
            made = body(notice, shipped, NOW)
            assert shape_problems(made, captured) == [], notice.id
            assert made["incident"]["id"] == window.id
            assert made["incident"]["incident_updates"][0]["id"] == notice.id


def test_a_signed_body_verifies_end_to_end(shipped: Policy) -> None:
    webhooks = pytest.importorskip("standardwebhooks.webhooks")
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    window = windows_between(shipped, NOW, NOW + timedelta(days=40))[0]
    raw = json.dumps(body(Notice(window, Stage.START, NOW, NOW), shipped, NOW)).encode()
    headers = signed_headers(secret, f"{window.id}/start/acme", datetime.now(UTC), raw)
    received = webhooks.Webhook(secret).verify(raw, headers)
    assert received["incident"]["status"] == "in_progress"
    assert received["page"]["status_indicator"] == "maintenance"
