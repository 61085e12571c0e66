"""What a cancel, a move or an extension said reaches every public output of the window: each
feed entry (RSS, and Atom's content and summary, in all.* and each product's feed), the
DESCRIPTION of every .ics that lists it, its status pages (windows/<id>.html and index.html)
and the Statuspage JSON's incident updates, escaped as all operator text is. Feed HTML never
has a `<br>` followed by a newline (rss-parser drops the line after it), and
`upcoming --format json`'s `sequence` is the calendar's SEQUENCE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest
from icalendar import Calendar

from ctmaint.model.events import Cancel, Extend, Reschedule
from ctmaint.publishing.feeds import entry_id
from ctmaint.usecases.operate import current_window
from ctmaint.usecases.workspace import Workspace
from tests.conftest import CliRunner

NOW = "2026-12-01T12:00:00Z"
BUILT = "2026-12-01T13:00:00Z"
CANCELLED = "connect-2026-12-08"
MOVED = "monthly-2026-12-18"
EXTENDED = "unscheduled-2026-12-10-1"
REASON = "Release postponed a sprint.\nThe fix for <b>ticket 42</b> & its <tests> isn't ready."
BLOCKS = {"br", "p", "li", "ul", "dd", "dt", "div", "h1", "h2", "h3", "h4"}


class _Text(HTMLParser):
    """The text of HTML as a reader shows it: a line break at each `<br>` and block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


@dataclass(frozen=True)
class Changed:
    folder: Path
    notes: dict[str, list[str]]  # window id -> what its changes said, in order
    entries: dict[str, str]  # feed entry id -> window id


@pytest.fixture
def changed(run_cli: CliRunner, tmp_path: Path) -> Changed:
    """A cancel with a reason on two lines (with markup), two moves of one window, unscheduled
    work extended; then a build."""
    commands = [
        ("cancel", CANCELLED, "--reason", REASON),
        ("reschedule", MOVED, "--start", "2026-12-19T22:00-07:00"),
        ("reschedule", MOVED, "--start", "2026-12-20T22:00-07:00"),
        ("add", "--start", "2026-12-10T01:00-07:00", "--end", "2026-12-10T02:00-07:00",
         "--products", "teams,sip", "--summary", "Carrier cut-over", "--description",
         "Work.\nMore work.", "--justification", "Why.\nWhy not."),
        ("extend", EXTENDED, "--until", "2026-12-10T03:00-07:00"),
    ]  # fmt: skip
    for command in commands:
        result = run_cli("--now", NOW, *command)
        assert result.code == 0, f"{command[0]}: {result.err}"
    assert run_cli("--now", BUILT, "build").code == 0
    workspace = Workspace.locate(None, None, datetime.fromisoformat(NOW), tmp_path)
    try:
        notes: dict[str, list[str]] = {}
        for change in workspace.changes:
            if isinstance(change.event, Cancel | Reschedule | Extend):
                notes.setdefault(change.window_id, []).append(change.event.note(workspace.policy))
        entries = {entry_id(current_window(workspace, w), workspace.policy): w for w in notes}
    finally:
        workspace.close()
    assert [len(notes[w]) for w in (CANCELLED, MOVED, EXTENDED)] == [1, 2, 1]
    assert notes[CANCELLED] == [f"Reason: {REASON}"]
    return Changed(tmp_path, notes, entries)


def lost(text: str, notes: list[str]) -> list[str]:
    """The notes not in ``text`` (a note on several lines must keep them, in order)."""
    return [note for note in notes if note not in text]


def test_every_feed_entry_of_a_changed_window_says_what_changed(changed: Changed) -> None:
    calendars = changed.folder / "calendars"
    problems, seen = [], 0
    for path in sorted([*calendars.glob("*.rss"), *calendars.glob("*.atom")]):
        for entry in feedparser.parse(path.read_bytes()).entries:
            window_id = changed.entries.get(entry.id)
            if window_id is None:
                continue
            seen += 1
            bodies = {"summary": entry.summary}
            if path.suffix == ".atom":
                bodies["content"] = entry.content[0].value if "content" in entry else ""
            for part, body in bodies.items():
                if missing := lost(html_text(body), changed.notes[window_id]):
                    problems.append(f"{path.name} {window_id} {part}: {missing}")
    assert seen >= 2 * 3 * 2, f"only {seen} entries of changed windows in the feeds"
    assert not problems, "\n".join(problems)


def test_every_feed_body_has_no_line_break_followed_by_a_newline(changed: Changed) -> None:
    for path in sorted((changed.folder / "calendars").glob("*.[ra][st][so]*")):
        for entry in feedparser.parse(path.read_bytes()).entries:
            bodies = [entry.summary, *(c.value for c in entry.get("content", []))]
            for body in bodies:
                assert "<br>\n" not in body, f"{path.name} {entry.title}: {body!r}"
                assert "<br />\n" not in body, f"{path.name} {entry.title}: {body!r}"


def test_every_calendar_description_says_what_changed(changed: Changed) -> None:
    files = [*(changed.folder / "calendars").glob("*.ics"),
             *(changed.folder / "notices" / "windows").glob("*.ics")]  # fmt: skip
    problems, seen = [], 0
    for path in sorted(files):
        for event in Calendar.from_ical(path.read_bytes()).walk("VEVENT"):
            window_id = str(event["X-MAINTNOTE-MAINTENANCE-ID"])
            if window_id in changed.notes:
                seen += 1
                if missing := lost(str(event["DESCRIPTION"]), changed.notes[window_id]):
                    problems.append(f"{path.name} {window_id}: {missing}")
    assert seen >= 3 * 2 + 3, f"only {seen} events of changed windows"
    assert not problems, "\n".join(problems)


def test_the_status_pages_say_what_changed(changed: Changed) -> None:
    notices = changed.folder / "notices"
    index = html_text((notices / "index.html").read_text())
    for window_id, notes in changed.notes.items():
        page = (notices / "windows" / f"{window_id}.html").read_text()
        assert "<b>" not in page, "operator text written as markup"
        assert not lost(html_text(page.split("</dl>")[0]), notes), f"{window_id}: details"
        assert not lost(index, notes), f"index.html, {window_id}"


def test_the_statuspage_updates_say_what_changed(changed: Changed) -> None:
    path = changed.folder / "notices" / "api" / "v2" / "scheduled-maintenances.json"
    found = {m["id"]: m for m in json.loads(path.read_text())["scheduled_maintenances"]}
    cancelled = found[CANCELLED]["incident_updates"][0]  # the newest
    assert (
        cancelled["body"] == f"This scheduled maintenance has been cancelled.\n\nReason: {REASON}"
    )
    for window_id in (MOVED, EXTENDED):
        updates = found[window_id]["incident_updates"]
        assert len({u["id"] for u in updates}) == len(updates), "update ids repeat"
        bodies = "\n".join(u["body"] for u in updates)
        assert not lost(bodies, changed.notes[window_id]), window_id
    moves = [u for u in found[MOVED]["incident_updates"] if u["id"].startswith(f"{MOVED}/resch")]
    assert [u["id"] for u in moves] == [f"{MOVED}/reschedule-2", f"{MOVED}/reschedule"]
    assert {u["status"] for u in moves} == {"scheduled"}


@pytest.mark.parametrize(
    "now",
    [
        "2026-12-01T13:00:00Z",  # nothing started
        "2026-12-10T09:30:00Z",  # the extended work in progress
        "2026-12-21T06:00:00Z",  # the moved window running, windows before it ended
    ],
)
def test_upcoming_sequence_is_the_calendar_sequence(
    changed: Changed, run_cli: CliRunner, now: str
) -> None:
    assert run_cli("--now", now, "build").code == 0
    listed = run_cli("--now", now, "upcoming", "--days", "400", "--format", "json")
    sequences = {w["id"]: w["sequence"] for w in json.loads(listed.out)}
    calendar = Calendar.from_ical((changed.folder / "calendars" / "all.ics").read_bytes())
    published = {
        str(e["X-MAINTNOTE-MAINTENANCE-ID"]): int(e["SEQUENCE"]) for e in calendar.walk("VEVENT")
    }
    compared = {w: (s, published[w]) for w, s in sequences.items() if w in published}
    assert len(compared) > 50
    assert {w for w, (a, b) in compared.items() if a != b} == set(), compared
    assert max(s for s, _ in compared.values()) >= 2
