"""Microsoft Teams: a notice as one Adaptive Card in the message envelope that Teams
Workflows ("when a Teams webhook request is received") and incoming webhooks accept.

The card is version 1.5, the latest Teams renders. It states the title, the four details
(times in the provider's zone and UTC, and the subscription's zone when it differs; the
products; the impact; the work and why), and links to the window's page. Every text is a
``TextRun`` of a ``RichTextBlock``, which Adaptive Cards never read as Markdown (a TextBlock
or a FactSet would): a summary cannot make a link, a list or bold text, and needs no
escaping that a host might show. A message over Teams' 28 KB is cut to fit, its longest
text first (an operator may paste a whole change record as the work).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ctmaint.channels.base import Setup
from ctmaint.channels.message import stage_text
from ctmaint.channels.webpost import WebPostChannel
from ctmaint.model.notices import Notice
from ctmaint.model.policy import Policy
from ctmaint.publishing.details import details

CARD_VERSION = "1.5"
MESSAGE_LIMIT = 27 * 1024  # Teams posts a message of 28 KB at most; room for what it adds
CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def envelope(card: dict[str, Any]) -> dict[str, Any]:
    """The message Teams accepts, carrying ``card``."""
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "content": card}]}


def card(notice: Notice, policy: Policy, now: datetime, zone: ZoneInfo | None) -> dict[str, Any]:
    """The Adaptive Card of ``notice`` as of ``now``, for a channel in ``zone`` (None: the
    provider's zone only)."""
    window, provider = notice.window, policy.provider
    prefix, lead = stage_text(notice, now)
    said = details(window, policy, zone)
    body = [
        _runs((f"{prefix}: {window.title}", "Bolder")),
        _runs((lead.format(title=window.title, provider=provider.name), "Default")),
    ]
    labelled = zip(["When: ", *([""] * (len(said.when) - 1))], said.when, strict=True)
    body += [_runs((label, "Bolder"), (line, "Default")) for label, line in labelled]
    body += [
        _runs(("Products: ", "Bolder"), (said.products, "Default")),
        _runs(("Impact: ", "Bolder"), (said.impact, "Default")),
        _runs(("Work: ", "Bolder"), (said.description, "Default")),
        _runs(("Why: ", "Bolder"), (said.justification, "Default")),
    ]
    if notice.note:
        body.append(_runs((notice.note, "Default")))
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


def fitted(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` (an :func:`envelope`) within MESSAGE_LIMIT bytes as sent: its longest
    text cut first, with an ellipsis, until it fits. Teams posts no larger message, and a
    Workflow says so only after it answered 202, so the sender never hears of it."""
    runs = [
        run
        for block in message["attachments"][0]["content"]["body"]
        for run in block.get("inlines", [])
    ]
    while runs and (excess := _size(message) - MESSAGE_LIMIT) > 0:
        longest = max(runs, key=lambda run: len(run["text"]))
        text = longest["text"]
        if len(text) <= 1:
            break  # nothing left to cut: a card of one-letter runs is never this large
        # Its bytes as JSON are its UTF-8 bytes or more (escapes): cut those, and the ellipsis.
        kept = text.encode("utf-8")[: max(len(text.encode("utf-8")) - excess - 3, 0)]
        longest["text"] = kept.decode("utf-8", errors="ignore") + "…"
    return message


def _size(message: dict[str, Any]) -> int:
    """Bytes of ``message`` as posted (the channel encodes it so: UTF-8, not ASCII escapes)."""
    return len(json.dumps(message, ensure_ascii=False).encode("utf-8"))


def _runs(*runs: tuple[str, str]) -> dict[str, Any]:
    """A RichTextBlock of ``(text, weight)`` runs; runs with no text are left out."""
    inlines = [{"type": "TextRun", "text": text, "weight": weight} for text, weight in runs if text]
    return {"type": "RichTextBlock", "inlines": inlines}


def make(setup: Setup) -> WebPostChannel:
    """The teams channel, posting to the setup's teams subscriptions."""
    return WebPostChannel("teams", payload, setup)


def payload(notice: Notice, policy: Policy, now: datetime, zone: ZoneInfo | None) -> dict[str, Any]:
    """What is posted: the card of ``notice`` in Teams' message envelope, within the size
    Teams takes (see :func:`fitted`)."""
    return fitted(envelope(card(notice, policy, now, zone)))
