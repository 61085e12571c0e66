"""Windows as RSS 2.0 and Atom feeds (feedgen).

One entry per window with a stable id (``urn:uuid`` derived from the window's UID), the
time of its last change as its date, a title that states the window in provider time,
and a body with the four details and what each change said (a cancel's reason, the time a
move or an extension replaced): RSS's ``<description>``, and Atom's ``<content
type="html">`` and ``<summary>`` (readers built on rss-parser show only the content).
Entries are newest change first. Every date comes from the windows, never from the clock,
so the same state gives the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from msgspec import Struct

from ctmaint.model.policy import Policy
from ctmaint.model.windows import Window
from ctmaint.publishing.details import details, headline
from ctmaint.publishing.notes import change_notes
from ctmaint.publishing.templates import template


class FeedFiles(Struct, frozen=True):
    """One feed in its two formats."""

    rss: bytes
    atom: bytes


class Entry(Struct, frozen=True):
    """A window's feed entries, made once and shared by every feed that lists it: one for
    RSS and one for Atom, with the same body (feedgen would repeat an Atom ``<content>`` in
    RSS as ``<content:encoded>``, doubling the RSS files for no reader)."""

    window: Window
    stamp: datetime
    rss: FeedEntry
    atom: FeedEntry


def entries(windows: Sequence[Window], policy: Policy, now: datetime) -> dict[str, Entry]:
    """One entry per window, keyed by window id."""
    made = {}
    base = policy.provider.status_page or _base(policy)
    for window in windows:
        revision = window.revision(now)
        body = _body(window, policy, revision.status)
        rss, atom = (_entry(window, policy, base, revision.stamp) for _ in range(2))
        rss.description(body)  # RSS <description>: read as HTML
        atom.content(body, type="html")  # Atom <content type="html">: what rss-parser shows
        atom.summary(body, type="html")  # Atom <summary type="html">: what others may show
        made[window.id] = Entry(window, revision.stamp, rss, atom)
    return made


def _entry(window: Window, policy: Policy, link: str, stamp: datetime) -> FeedEntry:
    """A feed entry of ``window`` without its body."""
    entry = FeedEntry()
    entry.id(entry_id(window, policy))  # feedgen uses it as the RSS guid too
    entry.title(headline(window, policy))
    entry.link(href=link)
    entry.updated(stamp)
    entry.published(stamp)
    entry.category(term=window.calendar)
    return entry


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
    ordered = sorted(chosen, key=lambda e: (e.stamp, e.window.start.timestamp()), reverse=True)
    updated = ordered[0].stamp if ordered else empty_updated
    atom = _channel(policy, name, stem, "atom", updated)
    rss = _channel(policy, name, stem, "rss", updated)
    for item in ordered:
        atom.add_entry(item.atom, order="append")
        rss.add_entry(item.rss, order="append")
    return FeedFiles(rss=rss.rss_str(pretty=True), atom=atom.atom_str(pretty=True))


def _channel(
    policy: Policy, name: str, stem: str, extension: str, updated: datetime
) -> FeedGenerator:
    """A feed without entries, for the file ``<stem>.<extension>``."""
    provider = policy.provider
    generator = FeedGenerator()
    base = _base(policy)
    generator.id(f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{base}/{stem}')}")
    generator.title(name)
    generator.author(name=provider.name)
    generator.description(f"Maintenance windows published by {provider.name}.")
    generator.language("en")
    generator.generator("ctmaint")
    generator.updated(updated)
    generator.lastBuildDate(updated)
    # rel="self" names this file. feedgen takes the last link added as the RSS channel's
    # <link>: self first, alternate last.
    generator.link(href=f"{base}/{stem}.{extension}", rel="self")
    generator.link(href=provider.status_page or base, rel="alternate")
    return generator


def _base(policy: Policy) -> str:
    provider = policy.provider
    return provider.calendar_url or provider.status_page or f"https://{provider.domain}"


def entry_id(window: Window, policy: Policy) -> str:
    """``urn:uuid:`` + UUID5 of the window's iCalendar UID: an IRI, as Atom requires."""
    uid = f"{window.id}@{policy.provider.domain}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uid)}"


def _body(window: Window, policy: Policy, status: str) -> str:
    """The entry as escaped HTML (RSS readers render a description as HTML, so plain text
    would be interpreted and lose its line breaks). No ``<br>`` is followed by a newline:
    rss-parser would drop the line after it."""
    return template("feed_entry.html.j2").render(
        summary=window.summary,
        status=status,
        notes=change_notes(window),
        details=details(window, policy),
        status_page=policy.provider.status_page,
    )
