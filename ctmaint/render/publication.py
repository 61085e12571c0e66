"""Everything `ctmaint build` writes, as ``relative path -> bytes``, rendered in memory."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ctmaint.changes import Change
from ctmaint.policy import Policy
from ctmaint.render import feeds, ical, page, statuspage
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
    name = f"{policy.provider.name} maintenance"
    selections: list[tuple[str, str, list[Window]]] = [("all", name, list(windows))]
    for product in policy.products.values():
        chosen = [w for w in windows if product.id in w.products]
        selections.append((product.id, f"{name}: {product.name}", chosen))
    files: dict[str, bytes] = {}
    with events_in_background(windows, policy, now) as collect_events:
        # feeds are rendered here while the VEVENTs are rendered on the other core
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
        events = collect_events()
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


@contextmanager
def events_in_background(
    windows: Sequence[Window], policy: Policy, now: datetime
) -> Iterator[Callable[[], dict[str, bytes]]]:
    """Start rendering every window's VEVENT; the yielded function returns them by id.

    icalendar costs about half a millisecond per event, the largest part of a long
    horizon's build, so past PARALLEL_FROM windows a forked child renders most of them on
    the second core while the caller works on the feeds, and the caller renders the rest
    when it collects. The child inherits the windows (nothing to send it), only renders,
    writes the bytes to a pipe and leaves with os._exit: it touches no file or database
    of the parent. If it fails, the caller renders its share itself.
    """
    if len(windows) < PARALLEL_FROM or (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        yield lambda: _events(windows, policy, now)
        return
    split = int(len(windows) * PARENT_SHARE)
    head, tail = windows[:split], windows[split:]
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(read_end)
        status = 1
        try:
            with os.fdopen(write_end, "wb") as stream:
                stream.write(pickle.dumps(_events(tail, policy, now)))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    reader = os.fdopen(read_end, "rb")

    def collect() -> dict[str, bytes]:
        mine = _events(head, policy, now)
        data = reader.read()
        reader.close()
        _, status = os.waitpid(child, 0)
        theirs: dict[str, bytes] = pickle.loads(data) if status == 0 and data else {}
        return mine | (theirs or _events(tail, policy, now))

    try:
        yield collect
    finally:
        if not reader.closed:  # the caller failed before collecting: reap the child
            reader.close()
            os.waitpid(child, 0)


def event_files(windows: Sequence[Window], policy: Policy, now: datetime) -> dict[str, bytes]:
    """Every window's serialized VEVENT, keyed by window id (see events_in_background)."""
    with events_in_background(windows, policy, now) as collect:
        return collect()


PARALLEL_FROM = 300
# The caller also renders the feeds meanwhile, so it takes the smaller share.
PARENT_SHARE = 0.35


def _events(windows: Sequence[Window], policy: Policy, now: datetime) -> dict[str, bytes]:
    return {w.id: ical.event_ics(w, policy, now) for w in windows}


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
    documents = statuspage.documents(posted, policy, now, horizon.start)
    files = {path: statuspage.as_json(document) for path, document in documents.items()}
    files["index.json"] = statuspage.index_json(policy, posts, horizon.start)
    updated = statuspage.last_change(posted, now, horizon.start)
    files |= page.page_files(posted, policy, now, posts, changes, updated)
    return files
