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

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from ctmaint.policy import Policy
from ctmaint.render.details import details, headline
from ctmaint.render.templates import template
from ctmaint.schedule import Window


@dataclass(frozen=True)
class FeedFiles:
    rss: bytes
    atom: bytes


@dataclass(frozen=True)
class Entry:
    """A window's feed entry, made once and shared by every feed that lists it."""

    window: Window
    stamp: datetime
    entry: FeedEntry


def entries(windows: Sequence[Window], policy: Policy, now: datetime) -> dict[str, Entry]:
    """One entry per window, keyed by window id."""
    made = {}
    base = policy.provider.status_page or _base(policy)
    for window in windows:
        revision = window.revision(now)
        entry = FeedEntry()
        entry.id(entry_id(window, policy))  # feedgen uses it as the RSS guid too
        entry.title(headline(window, policy))
        entry.link(href=base)
        body = _body(window, policy, revision.status)
        entry.description(body, isSummary=True)  # RSS <description>: read as HTML
        entry.summary(body, type="html")  # Atom <summary type="html">
        entry.updated(revision.stamp)
        entry.published(revision.stamp)
        entry.category(term=window.calendar)
        made[window.id] = Entry(window, revision.stamp, entry)
    return made


def feeds(
    chosen: Sequence[Entry],
    policy: Policy,
    *,
    name: str,
    stem: str,
    empty_updated: datetime,
) -> FeedFiles:
    """RSS and Atom listing ``chosen``; ``stem`` is the file name without extension.

    ``empty_updated`` dates a feed with no entries (its horizon's start, say).
    """
    provider = policy.provider
    ordered = sorted(chosen, key=lambda e: (e.stamp, e.window.start.timestamp()), reverse=True)
    generator = FeedGenerator()
    base = _base(policy)
    generator.id(f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{base}/{stem}')}")
    generator.title(name)
    generator.author(name=provider.name)
    generator.description(f"Maintenance windows published by {provider.name}.")
    generator.language("en")
    generator.generator("ctmaint")
    updated = ordered[0].stamp if ordered else empty_updated
    generator.updated(updated)
    generator.lastBuildDate(updated)
    for item in ordered:
        generator.add_entry(item.entry, order="append")

    def links(extension: str) -> None:
        # Each file's rel="self" names that file. feedgen takes the last link added as
        # the RSS channel's <link>: self first, alternate last.
        generator.link(href=f"{base}/{stem}.{extension}", rel="self", replace=True)
        generator.link(href=provider.status_page or base, rel="alternate")

    links("atom")
    atom = generator.atom_str(pretty=True)
    links("rss")
    return FeedFiles(rss=generator.rss_str(pretty=True), atom=atom)


def _base(policy: Policy) -> str:
    provider = policy.provider
    return provider.calendar_url or provider.status_page or f"https://{provider.domain}"


def entry_id(window: Window, policy: Policy) -> str:
    """``urn:uuid:`` + UUID5 of the window's iCalendar UID: an IRI, as Atom requires."""
    uid = f"{window.id}@{policy.provider.domain}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uid)}"


def _body(window: Window, policy: Policy, status: str) -> str:
    """The entry as escaped HTML (RSS readers render a description as HTML, so plain text
    would be interpreted and lose its line breaks)."""
    return template("feed_entry.html.j2").render(
        summary=window.summary,
        status=status,
        details=details(window, policy),
        status_page=policy.provider.status_page,
    )
