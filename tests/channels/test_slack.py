"""Every Slack payload passes slack_sdk's own block models (which hold Slack's limits), its
`text` fallback alone carries the four details, and operator text cannot ping or link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from msgspec.structs import replace

from ctmaint.channels.slack import escaped, message
from ctmaint.model.notices import Notice
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import Stage
from ctmaint.model.windows import windows_between

NOW = datetime(2030, 6, 14, 15, tzinfo=UTC)
HOSTILE = "<!channel> <!here> <https://evil.example|click> *bold* & done"


def notices(policy: Policy) -> list[Notice]:
    windows = windows_between(policy, NOW, NOW + timedelta(days=40))
    long = "x" * 5000
    odd = [
        replace(windows[0], title=HOSTILE, description=HOSTILE, justification=HOSTILE),
        replace(windows[0], title=long, description=long, justification=long),
    ]
    return [
        Notice(
            window,
            stage,
            NOW,
            NOW + timedelta(days=1),
            note=HOSTILE if stage is Stage.CANCEL else "",
        )
        for window in [*windows, *odd]
        for stage in Stage
    ]


@pytest.mark.parametrize("zone", [None, ZoneInfo("Asia/Tokyo")])
def test_every_payload_passes_slacks_own_block_models(
    shipped: Policy, zone: ZoneInfo | None
) -> None:
    blocks_module = pytest.importorskip("slack_sdk.models.blocks")
    for notice in notices(shipped):
        body = message(notice, shipped, NOW, zone)
        for block in body["blocks"]:
            blocks_module.Block.parse(block).validate_json()
        assert len(body["text"]) <= 3000


def test_the_fallback_alone_carries_the_four_details(shipped: Policy) -> None:
    window = windows_between(shipped, NOW, NOW + timedelta(days=40))[0]
    text = message(Notice(window, Stage.WEEK_BEFORE, NOW, NOW), shipped, NOW, None)["text"]
    for label in ("When: ", "UTC", "Products affected: ", "Impact: ", "Work: ", "Why: "):
        assert label in text
    assert window.title in text


def test_operator_text_cannot_ping_or_link(shipped: Policy) -> None:
    window = windows_between(shipped, NOW, NOW + timedelta(days=40))[0]
    hostile = replace(window, title=HOSTILE, description=HOSTILE)
    body = message(Notice(hostile, Stage.CANCEL, NOW, NOW, note=HOSTILE), shipped, NOW, None)
    assert "<!channel>" not in body["text"]
    assert "<https://" not in body["text"]
    assert escaped(HOSTILE) in body["text"]
    for block in body["blocks"]:
        texts = [block.get("text", {}), *block.get("elements", [])]
        assert all(t.get("type") == "plain_text" for t in texts if t)
