"""Every output names the zone of each moment it writes, across both 2027 clock changes.

Windows from rules and from `add --urgent`, one extended and one moved across a change,
cross America/Denver's spring forward (2027-03-14 02:00) and fall back (2027-11-07 02:00).
They go through every command that writes them: `build` (calendars, feeds, status JSON,
the status page), `send` (every .eml: subject, text, HTML, its .ics; every status post) and
the `upcoming`, `notices` and `history` tables. Each time written there
(``Sun 2027-11-07 01:15 MDT``) is read back in the zone its abbreviation names and must be
the instant it stands for: a range, a window's start and end (an end's abbreviation stands
for the start too only when the start has none); a page's ``<time>``, its ``datetime``; a
subject or post title, its window's start; a table cell, its row's time. A range whose two
ends share an abbreviation keeps the compact form.
"""

from __future__ import annotations

import email
import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from ctmaint.model.contacts import COLUMNS
from tests.conftest import CliRunner, calendar_toml, policy_toml

ZONES = tuple(ZoneInfo(k) for k in ("America/Denver", "America/New_York", "Europe/London", "UTC"))
CONTACTS = [  # one audience per reader zone: New York crosses its own change inside a window
    "Acme,ACME-1,Ann,,ann@acme.example,,maintenance,*,America/New_York",
    "Beta,BETA-2,Bo,,bo@beta.example,,maintenance,*,Europe/London",
    "Gamma,GAMMA-3,Cy,,cy@gamma.example,,maintenance,*,America/Denver",
    "Delta,,Di,,di@delta.example,,maintenance,*,",
]
RULES = [  # (calendar id, title, cron, duration): windows made by the policy's rules
    ("fallback", "Fall-back work", "30 1 7 11 *", "1h"),  # 01:30 MDT to 01:30 MST
    ("overnight", "Overnight work", "0 23 6 11 *", "4h"),  # Sat 23:00 MDT to Sun 02:00 MST
    ("spring", "Spring work", "45 1 14 3 *", "1h"),  # 01:45 MST to 03:45 MDT
    ("samezone", "Same-zone work", "0 3 7 11 *", "1h"),  # 03:00 to 04:00 MST
    ("night", "Night work", "0 22 5 11 *", "6h"),  # Fri 22:00 to Sat 04:00 MDT
]
ADDED = [  # (--start, --end) of `add --urgent`
    ("2027-11-07T01:15-06:00", "2027-11-07T01:15-07:00"),
    ("2027-11-06T23:30-06:00", "2027-11-07T02:30-07:00"),
    ("2027-03-14T01:30-07:00", "2027-03-14T03:30-06:00"),
    ("2027-11-07T00:00-06:00", "2027-11-07T00:45-06:00"),  # extended below to 01:30 MST
    ("2027-11-06T20:00-06:00", "2027-11-06T21:00-06:00"),  # moved below across the change
]
EXTENDED = ("unscheduled-2027-11-07-2", "2027-11-07T01:30-07:00")
MOVED = ("unscheduled-2027-11-06-2", "2027-11-07T01:45-06:00", "2027-11-07T01:30-07:00")
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=ZoneInfo("America/Denver"))

WEEKDAY = r"(?P<{}>Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
MOMENT = WEEKDAY + r" (?P<{}>\d{{4}}-\d\d-\d\d) (?P<{}>\d\d:\d\d)(?: (?P<{}>[A-Z]{{3,5}})\b)?"
RANGE = re.compile(
    MOMENT.format("weekday1", "day1", "clock1", "label1")
    + " to (?:"
    + WEEKDAY.format("weekday2")
    + r" (?P<day2>\d{4}-\d\d-\d\d) )?(?P<clock2>\d\d:\d\d)(?: (?P<label2>[A-Z]{3,5})\b)?"
)
SINGLE = re.compile(MOMENT.format("weekday", "day", "clock", "label"))
# A column's cell: a weekday, a date unless the end is within six days, a time, a zone.
CELL = re.compile(
    WEEKDAY.format("weekday") + r"(?: (?P<day>\d{4}-\d\d-\d\d))? (?P<clock>\d\d:\d\d) "
    r"(?P<label>[A-Z]{3,5})"
)
BARE_TIME = re.compile(r"(?<![\dT:+\-])\d\d:\d\d(?![\d:])")  # not part of an ISO 8601 time
PAGE_TIME = re.compile(
    r'<time datetime="(?P<iso>[^"]+)">(?P<local>[^<]*)</time>(?: <span class="utc">(?P<utc>[^<]*))?'
)


def instant(day: str, clock: str, label: str, where: str) -> datetime:
    """The one instant written ``day clock label`` in one of ZONES, or an AssertionError
    naming the text: ``2027-11-06 23:30 MST`` is no instant in Denver (it was MDT then)."""
    wall = datetime.fromisoformat(f"{day}T{clock}")
    found = set()
    for zone in ZONES:
        for fold in (0, 1):
            local = wall.replace(tzinfo=zone, fold=fold)
            real = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
            if real and local.tzname() == label:
                found.add(local.astimezone(UTC))
    zones = ", ".join(zone.key for zone in ZONES)
    assert len(found) == 1, f"{where}: '{day} {clock} {label}' names no instant in {zones}"
    return found.pop()


def weekday_of(weekday: str | None, day: str, where: str) -> None:
    assert weekday == date.fromisoformat(day).strftime("%a"), f"{where}: {weekday} {day}"


@dataclass
class Known:
    """What the outputs may say: every window's (start, end) as it was at some point, and
    every instant a command ran at; what they were seen to say, by output."""

    ranges: dict[tuple[datetime, datetime], str] = field(default_factory=dict)
    moments: set[datetime] = field(default_factory=set)
    seen: dict[str, set[str]] = field(default_factory=dict)  # output kind -> window ids

    def learn(self, records: list[dict[str, str]]) -> None:
        for record in records:
            start, end = (datetime.fromisoformat(record[k]) for k in ("start_utc", "end_utc"))
            assert self.ranges.setdefault((start, end), record["id"]) == record["id"]
            self.moments |= {start, end}

    def starts(self, window_id: str) -> set[datetime]:
        return {start for (start, _), wid in self.ranges.items() if wid == window_id}

    def check(self, text: str, where: str, kind: str) -> set[str]:
        """Read back every time in ``text``; the ids of the windows whose ranges it states."""
        ids: set[str] = set()

        def one_range(match: re.Match[str]) -> str:
            said = f"{where}: {match[0]!r}"
            assert match["label2"], f"{said} names no zone at its end"
            weekday_of(match["weekday1"], match["day1"], said)
            if match["day2"]:
                weekday_of(match["weekday2"], match["day2"], said)
            start = instant(
                match["day1"], match["clock1"], match["label1"] or match["label2"], said
            )
            end = instant(match["day2"] or match["day1"], match["clock2"], match["label2"], said)
            if (start, end) not in self.ranges:
                pytest.fail(f"{said} reads {start} to {end}: no window's start and end")
            ids.add(self.ranges[(start, end)])
            return " "

        def one_moment(match: re.Match[str]) -> str:
            said = f"{where}: {match[0]!r}"
            assert match["label"], f"{said} names no zone"
            weekday_of(match["weekday"], match["day"], said)
            if instant(match["day"], match["clock"], match["label"], said) not in self.moments:
                pytest.fail(f"{said} is no window's start or end, nor a time a command ran")
            return " "

        rest = SINGLE.sub(one_moment, RANGE.sub(one_range, text))
        assert not BARE_TIME.search(rest), f"{where}: a time without its date or zone: {rest!r}"
        self.seen.setdefault(kind, set()).update(ids)
        return ids


def write_site(folder: Path) -> None:
    rules = [
        calendar_toml(cid, title=title, cron=cron, duration=length, products=["voice"],
                      notices=["day-before", "start", "complete"], status_page=True)
        for cid, title, cron, length in RULES
    ]  # fmt: skip
    (folder / "ctmaint.toml").write_text(policy_toml(*rules))
    (folder / "contacts.csv").write_text("\n".join([",".join(COLUMNS), *CONTACTS]) + "\n")


def run(run_cli: CliRunner, known: Known, now: datetime, *args: str) -> str:
    known.moments.add(now.astimezone(UTC))
    result = run_cli("--now", now.isoformat(), *args)
    assert result.code == 0, result.err
    return result.out


def upcoming(run_cli: CliRunner, known: Known, now: datetime) -> list[dict[str, str]]:
    records: list[dict[str, str]] = json.loads(
        run(run_cli, known, now, "upcoming", "--days", "400", "--format", "json")
    )
    known.learn(records)
    return records


def prepare(run_cli: CliRunner, known: Known) -> None:
    """Add the windows at NOW, tell everyone, then extend one and move one a minute later."""
    details = ("--summary", "Added work", "--description", "d", "--justification", "j")
    for start, end in ADDED:
        times = ("--start", start, "--end", end, "--products", "video")
        run(run_cli, known, NOW, "add", *times, *details, "--urgent")
    upcoming(run_cli, known, NOW)
    run(run_cli, known, NOW, "send")
    later = NOW + timedelta(minutes=1)
    run(run_cli, known, later, "extend", EXTENDED[0], "--until", EXTENDED[1])
    run(run_cli, known, later, "reschedule", MOVED[0], "--start", MOVED[1], "--end", MOVED[2])
    upcoming(run_cli, known, later)


def send_everything(run_cli: CliRunner, known: Known) -> list[datetime]:
    """`send` at every time a notice comes due; the times, in order."""
    after = NOW + timedelta(minutes=2)
    notices = json.loads(run(run_cli, known, after, "notices", "--days", "400", "--format", "json"))
    due = {datetime.fromisoformat(n["due"]) for n in notices}
    dues = sorted({moment for moment in due if moment > after} | {after})
    for due in dues:
        run(run_cli, known, due, "send")
    return dues


def ics_texts(data: bytes) -> Iterator[tuple[str, str]]:
    for event in Calendar.from_ical(data).walk("VEVENT"):
        yield (
            str(event["X-MAINTNOTE-MAINTENANCE-ID"]),
            f"{event['SUMMARY']}\n{event['DESCRIPTION']}",
        )


def check_ics(known: Known, data: bytes, where: str, kind: str) -> None:
    for window_id, text in ics_texts(data):
        assert known.check(text, f"{where} {window_id}", kind) == {window_id}


def check_feed(known: Known, path: Path) -> None:
    """Every entry's title states one window's range, and its body the same window's."""
    for entry in ET.parse(path).getroot().iter():
        if entry.tag not in ("item", "{http://www.w3.org/2005/Atom}entry"):
            continue
        parts = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in entry}
        title = known.check(parts["title"], f"{path.name} title", f"{path.suffix} title")
        body = parts.get("description") or parts["summary"]
        assert len(title) == 1, f"{path.name}: {parts['title']!r}"
        assert known.check(body, f"{path.name} body", f"{path.suffix} body") == title


def check_page(known: Known, path: Path) -> None:
    """Each ``<time>`` says the instant of its ``datetime``, and so does its UTC beside it."""
    text = path.read_text()
    for match in PAGE_TIME.finditer(text):
        moment = datetime.fromisoformat(match["iso"])
        for shown in filter(None, (match["local"], match["utc"])):
            read = SINGLE.fullmatch(html.unescape(shown))
            assert read, f"{path.name}: {shown!r}"
            assert instant(read["day"], read["clock"], read["label"] or "", path.name) == moment
    known.check(html.unescape(text), path.name, "page")
    if path.parent.name == "windows":
        known.seen.setdefault("window page", set()).add(path.stem)


def check_start(known: Known, text: str, window_id: str, where: str) -> None:
    """A subject or a post title names its window's start, with the zone in force then."""
    read = SINGLE.search(text)
    assert read, f"{where}: {text!r} names no time"
    assert read["label"], f"{where}: {text!r} names no zone"
    moment = instant(read["day"], read["clock"], read["label"], where)
    assert moment in known.starts(window_id), f"{where}: {text!r} is not {window_id}'s start"


def check_post(known: Known, path: Path) -> None:
    text = path.read_text()
    front = dict(line.split(": ", 1) for line in text.split("---")[1].strip().splitlines())
    window_id, title = json.loads(front["window"]), json.loads(front["title"])
    check_start(known, title, window_id, path.name)
    assert known.check(text, path.name, "post") == {window_id}


def strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def walk_build(known: Known, folder: Path) -> int:
    """Check every file of a build (and the posts `send` wrote beside it); the count."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        if path.suffix == ".ics":
            check_ics(known, path.read_bytes(), path.name, "calendar ics")
        elif path.suffix in (".rss", ".atom"):
            check_feed(known, path)
        elif path.suffix == ".json":
            for text in strings(json.loads(path.read_text())):
                known.check(text, path.name, "json")
        elif path.suffix == ".html":
            check_page(known, path)
        elif path.suffix == ".md":
            check_post(known, path)
        else:
            assert path.name == "status.css", f"an output this test does not read: {path}"
    return len(files)


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    content: str = part.get_content()
    return content


def walk_outbox(known: Known, folder: Path) -> int:
    """Check the subject, text, HTML and .ics of every message `send` wrote; the count."""
    paths = sorted((folder / ".ctmaint" / "outbox").glob("*.eml"))
    for path in paths:
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        assert isinstance(message, EmailMessage)
        notice = str(message["X-Ctmaint-Notice-Id"])
        window_id = notice.split("/")[0]
        check_start(known, str(message["Subject"]), window_id, notice)
        assert known.check(body(message, "plain"), f"{notice} text", "email text") == {window_id}
        assert known.check(html.unescape(body(message, "html")), notice, "email html") == {
            window_id
        }
        (attachment,) = message.iter_attachments()
        check_ics(known, attachment.get_content().encode(), f"{notice} .ics", "email ics")
    return len(paths)


def table_rows(out: str) -> list[list[str]]:
    """The cells of a table's rows, up to the first blank line or section title."""
    rows = []
    for line in out.strip().splitlines()[1:]:
        if not line.strip() or re.fullmatch(r"[a-z][a-z ]*:", line):
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def read_cell(cell: str, after: datetime, where: str) -> datetime:
    """A table's local time; one without its date is the first such weekday from ``after``."""
    match = CELL.fullmatch(cell)
    assert match, f"{where}: {cell!r} is not a time with its zone"
    day = match["day"]
    if day is None:
        local = after.astimezone(ZONES[0]).date()
        day = next(
            (local + timedelta(days=n)).isoformat()
            for n in range(7)
            if (local + timedelta(days=n)).strftime("%a") == match["weekday"]
        )
    weekday_of(match["weekday"], day, where)
    return instant(day, match["clock"], match["label"], where)


def check_tables(run_cli: CliRunner, known: Known, at: datetime, final: datetime) -> None:
    later = json.loads(run(run_cli, known, at, "upcoming", "--days", "400", "--format", "json"))
    windows = {w["id"]: w for w in later}
    rows = table_rows(run(run_cli, known, at, "upcoming", "--days", "400"))
    assert sorted(row[0] for row in rows) == sorted(windows)
    for wid, start, end, utc, *_ in rows:
        begins = datetime.fromisoformat(windows[wid]["start_utc"])
        assert read_cell(start, begins, wid) == begins
        assert read_cell(end, begins, wid) == datetime.fromisoformat(windows[wid]["end_utc"])
        assert instant(*utc.split(" "), "UTC", wid) == begins  # the column is headed (UTC)
    notices = json.loads(run(run_cli, known, at, "notices", "--days", "400", "--format", "json"))
    due = {n["id"]: datetime.fromisoformat(n["due"]) for n in notices}
    for notice, local, utc, *_ in table_rows(run(run_cli, known, at, "notices", "--days", "400")):
        assert read_cell(local, due[notice], notice) == due[notice]
        assert read_cell(utc, due[notice], notice) == due[notice]
    history = run(run_cli, known, final, "history")
    changes = json.loads(run(run_cli, known, final, "history", "--format", "json"))["changes"]
    made = table_rows(history.split("changes:\n", 1)[1])
    assert [row[0] for row in made] == [c["window"] for c in changes]
    for row, change in zip(made, changes, strict=True):
        assert read_cell(row[2], NOW, row[0]) == datetime.fromisoformat(change["made_at"])
    for row in table_rows(history):
        assert datetime.fromisoformat(row[2]) in known.moments, row  # LAST SENT (UTC), ISO


def test_every_output_names_the_zone_of_each_end_across_dst(
    run_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # a row per line: the cells read whole
    write_site(tmp_path)
    known = Known()
    prepare(run_cli, known)
    check_tables(run_cli, known, NOW + timedelta(minutes=2), NOW + timedelta(minutes=2))
    dues = send_everything(run_cli, known)
    files = 0
    for at in (dues[0], datetime(2027, 3, 15, tzinfo=UTC), datetime(2027, 11, 8, tzinfo=UTC)):
        folder = tmp_path / f"build-{at:%Y%m%d}"
        upcoming(run_cli, known, at)  # the windows the rules add to its span
        run(run_cli, known, at, "build", "--calendars", f"{folder}/c", "--notices", f"{folder}/n")
        files += walk_build(known, folder)
    for post in (tmp_path / "notices" / "posts").glob("*.md"):
        check_post(known, post)
    messages = walk_outbox(known, tmp_path)
    check_tables(run_cli, known, NOW + timedelta(minutes=2), dues[-1])
    told = {wid for (start, _), wid in known.ranges.items() if start.year == 2027}
    assert len(told) == len(RULES) + len(ADDED)
    for kind in ("calendar ics", ".rss title", ".atom title", ".rss body", "email text",
                 "email html", "email ics", "post", "json", "window page"):  # fmt: skip
        assert known.seen[kind] >= told, kind
    assert files > 40, files
    assert messages > 100, messages
    titles = ET.parse(tmp_path / "build-20270301" / "c" / "all.rss").getroot().iter("title")
    assert {  # ends that share an abbreviation keep the compact form
        "Same-zone work: Sun 2027-11-07 03:00 to 04:00 MST",
        "Night work: Fri 2027-11-05 22:00 to Sat 2027-11-06 04:00 MDT",
        "Fall-back work: Sun 2027-11-07 01:30 MDT to 01:30 MST",
        "Spring work: Sun 2027-03-14 01:45 MST to 03:45 MDT",
    } <= {title.text for title in titles}
