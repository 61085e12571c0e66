"""Everything `ctmaint build` writes, as ``relative path -> bytes``, rendered in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from msgspec import Struct

from ctmaint.model.changes import Change
from ctmaint.model.policy import Policy
from ctmaint.model.windows import Window, on_status_page
from ctmaint.publishing import feeds, ical, page, statusjson


class Horizon(Struct, frozen=True):
    """The span the feeds cover, [start, end)."""

    start: datetime
    end: datetime


def calendar_files(
    windows: Sequence[Window], policy: Policy, now: datetime, horizon: Horizon
) -> dict[str, bytes]:
    """all.ics/.rss/.atom and the same three per product (only windows affecting it)."""
    name = f"{policy.provider.name} maintenance"
    selections: list[tuple[str, str, list[Window]]] = [("all", name, list(windows))]
    for product in policy.products.values():
        chosen = [w for w in windows if product.id in w.products]
        selections.append((product.id, f"{name}: {product.name}", chosen))
    files: dict[str, bytes] = {}
    entries = feeds.entries(windows, policy, now)
    for stem, title, chosen in selections:
        published = feeds.feeds(
            [entries[w.id] for w in chosen],
            policy,
            name=title,
            stem=stem,
            empty_updated=horizon.start,
        )
        files[f"{stem}.rss"] = published.rss
        files[f"{stem}.atom"] = published.atom
    events = {w.id: ical.event_ics(w, policy, now) for w in windows}  # each rendered once
    first = horizon.start.astimezone(policy.zone).date()
    last = horizon.end.astimezone(policy.zone).date()
    for stem, title, chosen in selections:
        files[f"{stem}.ics"] = ical.calendar_ics(
            [events[w.id] for w in chosen],
            policy,
            name=title,
            first=first,
            last=last,
        )
    return files


def notice_files(
    windows: Sequence[Window],
    policy: Policy,
    now: datetime,
    horizon: Horizon,
    posts: Sequence[dict[str, Any]],
    changes: Sequence[Change],
) -> dict[str, bytes]:
    """The status site: the Statuspage API v2 documents, index.json (``posts`` newest
    first) and the status page itself. A page with no window and no post is dated by the
    horizon's start, never by the clock."""
    posted = [w for w in windows if on_status_page(policy, w)]
    documents = statusjson.documents(posted, policy, now, horizon.start)
    files = {path: statusjson.as_json(document) for path, document in documents.items()}
    files["index.json"] = statusjson.index_json(policy, posts, horizon.start)
    updated = statusjson.last_change(posted, now, horizon.start)
    files |= page.page_files(posted, policy, now, posts, changes, updated)
    return files
