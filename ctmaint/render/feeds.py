"""Windows as RSS 2.0 and Atom feeds (feedgen).

One entry per window with a stable id (``urn:uuid`` derived from the window's UID), the
time of its last change as its date, a title that states the window in provider time,
and the four details in the body. Entries are newest change first. Every date comes
from the windows, never from the clock, so the same state gives the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from feedgen.feed import FeedGenerator

from ctmaint.policy import Policy
from ctmaint.render.details import details, headline
from ctmaint.schedule import Window


@dataclass(frozen=True)
class FeedFiles:
    rss: bytes
    atom: bytes


def feeds(
    windows: Sequence[Window],
    policy: Policy,
    now: datetime,
    *,
    name: str,
    stem: str,
    empty_updated: datetime,
) -> FeedFiles:
    """RSS and Atom for ``windows``; ``stem`` is the file name without extension.

    ``empty_updated`` dates a feed with no entries (its horizon's start, say).
    """
    provider = policy.provider
    revisions = {w.id: w.revision(now) for w in windows}
    ordered = sorted(
        windows, key=lambda w: (revisions[w.id].stamp, w.start.timestamp()), reverse=True
    )
    generator = FeedGenerator()
    base = provider.calendar_url or provider.status_page or f"https://{provider.domain}"
    generator.id(f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{base}/{stem}')}")
    generator.title(name)
    generator.author(name=provider.name)
    generator.description(f"Maintenance windows published by {provider.name}.")
    generator.language("en")
    # feedgen takes the last link added as the RSS channel's <link>: self first.
    generator.link(href=f"{base}/{stem}.atom", rel="self")
    generator.link(href=provider.status_page or base, rel="alternate")
    generator.generator("ctmaint")
    updated = revisions[ordered[0].id].stamp if ordered else empty_updated
    generator.updated(updated)
    generator.lastBuildDate(updated)
    for window in ordered:
        revision = revisions[window.id]
        entry = generator.add_entry(order="append")
        entry.id(entry_id(window, policy))  # feedgen uses it as the RSS guid too
        entry.title(headline(window, policy))
        entry.link(href=provider.status_page or base)
        entry.description(_body(window, policy, revision.status))
        entry.updated(revision.stamp)
        entry.published(revision.stamp)
        entry.category(term=window.calendar)
    return FeedFiles(rss=generator.rss_str(pretty=True), atom=generator.atom_str(pretty=True))


def entry_id(window: Window, policy: Policy) -> str:
    """``urn:uuid:`` + UUID5 of the window's iCalendar UID: an IRI, as Atom requires."""
    uid = f"{window.id}@{policy.provider.domain}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uid)}"


def _body(window: Window, policy: Policy, status: str) -> str:
    lines = [window.summary, f"Status: {status}", *details(window, policy).lines()]
    if policy.provider.status_page:
        lines.append(f"Status page: {policy.provider.status_page}")
    return "\n".join(lines)
