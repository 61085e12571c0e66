"""Every Teams card validates against Microsoft's own Adaptive Card 1.5 schema (in the shared
folder beside the clone), states the four details, and shows operator text as written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from msgspec.structs import replace

from ctmaint.channels.teams import CARD_TYPE, card, envelope
from ctmaint.model.notices import Notice
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import Stage
from ctmaint.model.windows import windows_between

SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "adaptivecards" / "adaptive-card-1.5.json"
NOW = datetime(2030, 6, 14, 15, tzinfo=UTC)
HOSTILE = "[click](https://evil.example) **now** <at>everyone</at> & #1 _x_ `code`\n- item"


def validator() -> Any:
    if not SCHEMA.is_file():
        pytest.skip(f"no Adaptive Card schema at {SCHEMA} (the shared folder beside the clone)")
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft6Validator(json.loads(SCHEMA.read_text()))


def notices(policy: Policy) -> list[Notice]:
    windows = windows_between(policy, NOW, NOW + timedelta(days=40))
    hostile = replace(windows[0], title=HOSTILE, description=HOSTILE, justification=HOSTILE)
    made = []
    for window in [*windows, hostile]:
        for stage in Stage:
            note = HOSTILE if stage in (Stage.CANCEL, Stage.FOLLOW_UP) else ""
            made.append(Notice(window, stage, NOW, NOW + timedelta(days=1), note=note))
    return made


@pytest.mark.parametrize("zone", [None, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Denver")])
def test_every_card_validates_against_the_schema(shipped: Policy, zone: ZoneInfo | None) -> None:
    checker = validator()
    for notice in notices(shipped):
        made = card(notice, shipped, NOW, zone)
        errors = [e.message for e in checker.iter_errors(made)]
        assert not errors, (notice.id, errors[:3])
        assert made["version"] == "1.5"
        message = envelope(made)
        assert message["type"] == "message"
        assert message["attachments"] == [{"contentType": CARD_TYPE, "content": made}]


def runs(made: dict[str, Any]) -> list[str]:
    """Each block's text, its runs joined."""
    return ["".join(run["text"] for run in block["inlines"]) for block in made["body"]]


def test_a_card_states_the_four_details_and_the_zones(shipped: Policy) -> None:
    ahead = windows_between(shipped, NOW, NOW + timedelta(days=40))
    window = next(w for w in ahead if w.calendar == "monthly")
    made = card(Notice(window, Stage.WEEK_BEFORE, NOW, NOW), shipped, NOW, ZoneInfo("Asia/Tokyo"))
    lines = runs(made)
    for label in ("When: ", "Products: ", "Impact: ", "Work: ", "Why: "):
        assert any(line.startswith(label) for line in lines), (label, lines)
    assert any("UTC" in line for line in lines)
    assert any("Asia/Tokyo" in line for line in lines)
    assert window.title in lines[0]
    assert made["actions"][0]["url"].endswith(f"/windows/{window.id}.html")


def test_operator_text_is_never_read_as_markdown(shipped: Policy) -> None:
    """Adaptive Cards read TextBlock and FactSet text as Markdown, never a TextRun's: every
    text is a TextRun, and operator text stands in it exactly as written."""
    for notice in notices(shipped):
        made = card(notice, shipped, NOW, None)
        assert {block["type"] for block in made["body"]} == {"RichTextBlock"}
        if notice.window.description == HOSTILE:
            assert any(line == f"Work: {HOSTILE}" for line in runs(made))
