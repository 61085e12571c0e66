"""Slack: a notice as an incoming-webhook message, ``text`` (the fallback every client and
notification shows, carrying the four details on its own) and Block Kit ``blocks``.

Operator text goes into ``plain_text`` objects, which Slack never formats, links or turns
into mentions; in ``text``, which is mrkdwn, ``&``, ``<`` and ``>`` are escaped, so a summary
holding ``<!channel>`` pings nobody. Every text is cut to Slack's limits (a header 150
characters, a section 3,000), with an ellipsis; a long line is cut before a short one, so
that ``text`` and the details' section keep every detail.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ctmaint.channels.base import Setup
from ctmaint.channels.message import stage_text
from ctmaint.channels.webpost import WebPostChannel
from ctmaint.model.notices import Notice
from ctmaint.model.policy import Policy
from ctmaint.publishing.details import details

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FALLBACK_LIMIT = 3000  # Slack truncates longer text; keep the details whole before that
_ENTITY_CUT = re.compile(r"&[a-z]{0,3}…$")  # an escape (&amp; &lt; &gt;) a cut split


def escaped(text: str) -> str:
    """``text`` as mrkdwn shows it: no link, mention or channel ping can be made of it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, ending in an ellipsis if it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fitted(lines: list[str], limit: int, escape: bool = False) -> str:
    """``lines`` (escaped for mrkdwn if ``escape``) joined, within ``limit`` characters: the
    longest cut first, so that every line keeps its label and its start (cutting the joined
    text would drop the last details, the reason why, whenever the work is long)."""
    shown = [escaped(line) if escape else line for line in lines]
    while (excess := len("\n".join(shown)) - limit) > 0:
        longest = max(range(len(shown)), key=lambda i: len(shown[i]))
        text = shown[longest]
        if len(text) <= 1:
            return cut("\n".join(shown), limit)  # only one-letter lines left: never here
        shortened = cut(text, max(len(text) - excess, 1))
        shown[longest] = _ENTITY_CUT.sub("…", shortened) if escape else shortened
    return "\n".join(shown)


def message(notice: Notice, policy: Policy, now: datetime, zone: ZoneInfo | None) -> dict[str, Any]:
    """The incoming-webhook body of ``notice`` as of ``now``, for a channel in ``zone``."""
    window, provider = notice.window, policy.provider
    prefix, lead = stage_text(notice, now)
    title = f"{prefix}: {window.title}"
    said = details(window, policy, zone)
    lines = [title, lead.format(title=window.title, provider=provider.name), *said.lines()]
    if notice.note:
        lines.append(notice.note)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(title, HEADER_LIMIT)},
        _section(lead.format(title=window.title, provider=provider.name)),
        _section(fitted(said.lines(), SECTION_LIMIT)),
    ]
    if notice.note:
        blocks.append(_section(notice.note))
    if provider.status_page:
        page = f"{provider.status_page.rstrip('/')}/windows/{window.id}.html"
        blocks.append({"type": "context", "elements": [_plain(f"Details: {page}", 2000)]})
    return {"text": fitted(lines, FALLBACK_LIMIT, escape=True), "blocks": blocks}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit), "emoji": False}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _plain(text, SECTION_LIMIT)}


def make(setup: Setup) -> WebPostChannel:
    """The slack channel, posting to the setup's slack subscriptions."""
    return WebPostChannel("slack", message, setup)
