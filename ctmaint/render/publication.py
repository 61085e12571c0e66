"""Everything `ctmaint build` writes, as ``relative path -> bytes``, rendered in memory."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ctmaint.policy import Policy
from ctmaint.render import feeds, ical, statuspage
from ctmaint.schedule import Window, on_status_page


@dataclass(frozen=True)
class Horizon:
    """The span the feeds cover, [start, end)."""

    start: datetime
    end: datetime


def calendar_files(
    windows: Sequence[Window], policy: Policy, now: datetime, horizon: Horizon
) -> dict[str, bytes]:
    """all.ics/.rss/.atom and the same three per product (only windows affecting it)."""
    events = event_files(windows, policy, now)
    entries = feeds.entries(windows, policy, now)
    first = horizon.start.astimezone(policy.zone).date()
    last = horizon.end.astimezone(policy.zone).date()
    name = f"{policy.provider.name} maintenance"
    selections: list[tuple[str, str, list[Window]]] = [("all", name, list(windows))]
    for product in policy.products.values():
        chosen = [w for w in windows if product.id in w.products]
        selections.append((product.id, f"{name}: {product.name}", chosen))
    files: dict[str, bytes] = {}
    for stem, title, chosen in selections:
        files[f"{stem}.ics"] = ical.calendar_ics(
            [events[w.id] for w in chosen],
            policy,
            name=title,
            uid=f"calendar-{stem}",
            first=first,
            last=last,
        )
        published = feeds.feeds(
            [entries[w.id] for w in chosen],
            policy,
            name=title,
            stem=stem,
            empty_updated=horizon.start,
        )
        files[f"{stem}.rss"] = published.rss
        files[f"{stem}.atom"] = published.atom
    return files


def event_files(windows: Sequence[Window], policy: Policy, now: datetime) -> dict[str, bytes]:
    """Every window's serialized VEVENT, keyed by window id.

    icalendar costs about half a millisecond per event, most of a long horizon's build,
    so past PARALLEL_FROM windows half of them are rendered in a forked child on the
    second core. The child only renders and returns bytes: it touches no file and no
    database, and ends with os._exit, so nothing of the parent is closed or flushed twice.
    """
    if len(windows) < PARALLEL_FROM or (os.cpu_count() or 1) < 2 or not _can_fork():
        return _events(windows, policy, now)
    half = len(windows) // 2
    with multiprocessing.get_context("fork").Pool(1) as pool:
        other = pool.apply_async(_events, (windows[half:], policy, now))
        mine = _events(windows[:half], policy, now)
        return mine | other.get()


PARALLEL_FROM = 300


def _events(windows: Sequence[Window], policy: Policy, now: datetime) -> dict[str, bytes]:
    return {w.id: ical.event_ics(w, policy, now) for w in windows}


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def notice_files(
    windows: Sequence[Window], policy: Policy, now: datetime, posts: Sequence[dict[str, Any]]
) -> dict[str, bytes]:
    """The Statuspage-shaped JSON documents and index.json (``posts`` newest first)."""
    posted = [w for w in windows if on_status_page(policy, w)]
    files = {
        path: statuspage.as_json(document)
        for path, document in statuspage.documents(posted, policy, now).items()
    }
    files["index.json"] = statuspage.index_json(policy, posts)
    return files
