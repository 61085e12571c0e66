"""Microsoft Teams: a notice as one Adaptive Card in the message envelope that Teams
Workflows ("when a Teams webhook request is received") and incoming webhooks accept.

The card is version 1.5, the latest Teams renders. It states the title, the four details
(times in the provider's zone and UTC, and the subscription's zone when it differs; the
products; the impact; the work and why), and links to the window's page. TextBlock text
is a Markdown subset, so operator text is escaped: a summary cannot make a link or a list.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ctmaint.channels.message import stage_text
from ctmaint.model.notices import Notice
from ctmaint.model.policy import Policy
from ctmaint.publishing.details import details

CARD_VERSION = "1.5"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<&])")


def escaped(text: str) -> str:
    """``text`` shown as written in a TextBlock: every Markdown character escaped."""
    return _MARKDOWN.sub(r"\\\1", text)


def envelope(card: dict[str, Any]) -> dict[str, Any]:
    """The message Teams accepts, carrying ``card``."""
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "content": card}]}


def card(notice: Notice, policy: Policy, now: datetime, zone: ZoneInfo | None) -> dict[str, Any]:
    """The Adaptive Card of ``notice`` as of ``now``, for a channel in ``zone`` (None: the
    provider's zone only)."""
    window, provider = notice.window, policy.provider
    prefix, lead = stage_text(notice, now)
    said = details(window, policy, zone)
    facts = [{"title": "When", "value": said.when[0]}]
    facts += [{"title": "", "value": line} for line in said.when[1:]]
    facts += [
        {"title": "Products", "value": said.products},
        {"title": "Impact", "value": said.impact},
    ]
    body: list[dict[str, Any]] = [
        _text(f"{prefix}: {window.title}", weight="Bolder", size="Medium"),
        _text(lead.format(title=window.title, provider=provider.name)),
        {"type": "FactSet", "facts": [_fact(f) for f in facts]},
        _text(f"Work: {said.description}"),
        _text(f"Why: {said.justification}"),
    ]
    if notice.note:
        body.append(_text(notice.note))
    made: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
    }
    if provider.status_page:
        page = f"{provider.status_page.rstrip('/')}/windows/{window.id}.html"
        made["actions"] = [{"type": "Action.OpenUrl", "title": "The window's page", "url": page}]
    return made


def _text(text: str, **style: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": escaped(text), "wrap": True, **style}


def _fact(fact: dict[str, str]) -> dict[str, str]:
    return {"title": escaped(fact["title"]), "value": escaped(fact["value"])}
