"""ical.js 2.x (the parser inside Thunderbird and Nextcloud) reads every published window, and
the .ics attached to a notice, at the instants `ctmaint upcoming` gives.

ical.js needs the file's own VTIMEZONE registered before it reads an event (else a TZID time is
floating); the reader below does that per file, as those applications do.
"""

from __future__ import annotations

import email
import json
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import (
    FALL_BACK_UTC,
    NEEDS_CLIENTS,
    add_fall_back_window,
    build,
    client_env,
    run_client,
    upcoming,
)
from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, write_contacts

pytestmark = NEEDS_CLIENTS

READER = """\
import { readFileSync } from 'node:fs';
import ICAL from 'ical.js';

// ISO 8601 in UTC, to the second, ending in Z.
const utc = (time) => {
  const iso = time.convertToZone(ICAL.Timezone.utcTimezone).toJSDate().toISOString();
  return iso.replace(/\\.\\d{3}Z$/, 'Z');
};
const found = {};
for (const path of process.argv.slice(2)) {
  ICAL.TimezoneService.reset();
  const root = new ICAL.Component(ICAL.parse(readFileSync(path, 'utf8')));
  for (const vtimezone of root.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.register(vtimezone);
  }
  found[path] = root.getAllSubcomponents('vevent').map((vevent) => {
    const event = new ICAL.Event(vevent);
    return {
      id: vevent.getFirstPropertyValue('x-maintnote-maintenance-id') ?? event.uid,
      status: vevent.getFirstPropertyValue('status'),
      zones: [event.startDate.zone.tzid, event.endDate.zone.tzid],
      start: utc(event.startDate),
      end: utc(event.endDate),
    };
  });
}
process.stdout.write(JSON.stringify(found));
"""

# Builds in two DST seasons, and windows whose instants are worked out by hand (America/Denver:
# MST is UTC-7, MDT UTC-6), which a VTIMEZONE made of DTSTART+RDATE observances moved by an hour.
KNOWN = {
    "2026-12-01T12:00:00Z": {
        "connect-2026-12-08": ("2026-12-09T04:00:00Z", "2026-12-09T06:00:00Z"),  # 21:00 MST
        "monthly-2026-12-18": ("2026-12-19T05:00:00Z", "2026-12-19T11:00:00Z"),  # 22:00 MST
    },
    "2027-04-15T12:00:00Z": {
        "monthly-2027-04-16": ("2027-04-17T04:00:00Z", "2027-04-17T10:00:00Z"),  # 22:00 MDT
        "connect-2027-05-04": ("2027-05-05T03:00:00Z", "2027-05-05T05:00:00Z"),  # 21:00 MDT
    },
}


def read_with_icaljs(node_dir: Path, *paths: Path) -> dict[str, list[dict[str, Any]]]:
    """What ical.js reads from each file, by file name."""
    script = node_dir / "read-ics.mjs"
    if not script.exists():
        script.write_text(READER)
    done = run_client(["node", script, *paths], client_env(), "ical.js reader")
    found: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    events = {Path(path).name: items for path, items in found.items()}
    floating = [
        f"{name} {e['id']}" for name, items in events.items() for e in items
        if "floating" in e["zones"]
    ]  # fmt: skip
    assert not floating, f"ical.js read these as floating time (VTIMEZONE not found): {floating}"
    return events


def mismatches(
    events: dict[str, list[dict[str, Any]]], windows: dict[str, dict[str, Any]]
) -> list[str]:
    """One line per event whose instants differ from `upcoming`'s (events not upcoming are
    left out: they are past)."""
    return [
        f"{name} {e['id']}: ical.js read {e['start']} to {e['end']}, "
        f"upcoming says {windows[e['id']]['start_utc']} to {windows[e['id']]['end_utc']}"
        for name, items in sorted(events.items())
        for e in items
        if e["id"] in windows
        and (e["start"], e["end"]) != (windows[e["id"]]["start_utc"], windows[e["id"]]["end_utc"])
    ]


@pytest.mark.parametrize("now", sorted(KNOWN))
def test_published_calendars_read_at_the_upcoming_instants(
    run_cli: CliRunner, tmp_path: Path, node_dir: Path, now: str
) -> None:
    build(run_cli, now)
    windows = upcoming(run_cli, now)
    files = sorted((tmp_path / "calendars").glob("*.ics"))
    assert "all.ics" in {f.name for f in files}
    events = read_with_icaljs(node_dir, *files)
    by_id = {e["id"]: e for e in events["all.ics"]}
    known_wrong = []
    for window_id, expected in KNOWN[now].items():
        planned = (windows[window_id]["start_utc"], windows[window_id]["end_utc"])
        assert planned == expected, f"upcoming gives {window_id} as {planned}, not {expected}"
        read = (by_id[window_id]["start"], by_id[window_id]["end"])
        if read != expected:
            known_wrong.append(
                f"{window_id}: ical.js read {read[0]} to {read[1]}, "
                f"expected {expected[0]} to {expected[1]}"
            )
    assert not known_wrong, f"all.ics built at {now}:\n" + "\n".join(known_wrong)
    compared = sum(e["id"] in windows for items in events.values() for e in items)
    assert compared > 100, f"only {compared} published events are upcoming: nothing to compare"
    wrong = mismatches(events, windows)
    assert not wrong, f"built at {now}, {len(wrong)} of {compared} events read wrong:\n" + (
        "\n".join(wrong[:25])
    )


@pytest.mark.parametrize(
    "built_at",
    [
        "2026-10-30T12:00:00Z",  # the day it is added: the zone's range ends before 2027-11
        "2026-12-01T12:00:00Z",  # a month on, still published: the range spans two fall-backs
    ],
)
def test_a_window_across_the_fall_back_hour(
    run_cli: CliRunner, tmp_path: Path, node_dir: Path, built_at: str
) -> None:
    window_id = add_fall_back_window(run_cli, "2026-10-30T12:00:00Z")
    windows = upcoming(run_cli, "2026-10-30T12:00:00Z", days=5)
    assert (windows[window_id]["start_utc"], windows[window_id]["end_utc"]) == FALL_BACK_UTC
    build(run_cli, built_at)
    calendars = tmp_path / "calendars"
    events = read_with_icaljs(node_dir, calendars / "all.ics", calendars / "teams.ics")
    for name, items in events.items():
        (event,) = (e for e in items if e["id"] == window_id)
        read = (event["start"], event["end"])
        assert read == FALL_BACK_UTC, (
            f"{name} built at {built_at}: ical.js read {window_id} as {read[0]} to {read[1]}, "
            f"expected {FALL_BACK_UTC[0]} to {FALL_BACK_UTC[1]} (00:30 MDT to 01:45 MST)"
        )


def calendar_part(message_file: Path) -> bytes:
    """The bytes of the one text/calendar part of an .eml, as a mail client takes them."""
    message = email.message_from_bytes(message_file.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, f"{message_file.name}: {len(parts)} text/calendar parts"
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.startswith(b"BEGIN:VCALENDAR"), payload[:200]
    # A client that takes the part as text decodes it by its declared charset (ASCII if none).
    text = parts[0].get_content()
    assert text == payload.decode("utf-8"), (
        f"{message_file.name}: Python's email read the part ({parts[0]['Content-Type']}) as "
        f"{[line for line in text.splitlines() if not line.isascii()][:2]}"
    )
    return payload


@pytest.mark.parametrize("case", ["monthly-week-before", "fall-back-announce"])
def test_the_ics_attached_to_a_notice(
    run_cli: CliRunner, tmp_path: Path, node_dir: Path, case: str
) -> None:
    write_contacts(tmp_path, CONTACTS)
    if case == "monthly-week-before":
        now, window_id = "2026-12-11T09:00:00-07:00", "monthly-2026-12-18"
    else:
        now = "2026-10-30T12:00:00Z"
        window_id = add_fall_back_window(run_cli, now)
    result = run_cli("--now", now, "send")
    assert result.code == 0, result.err
    window = upcoming(run_cli, now, days=30)[window_id]
    expected = (window["start_utc"], window["end_utc"])
    sent = sorted((tmp_path / ".ctmaint" / "outbox").glob(f"{window_id}--*.eml"))
    assert sent, f"no notice for {window_id} in the outbox: {result.out}"
    attachment = tmp_path / f"{sent[0].stem}.ics"
    attachment.write_bytes(calendar_part(sent[0]))
    (event,) = read_with_icaljs(node_dir, attachment)[attachment.name]
    assert event["id"] == window_id
    read = (event["start"], event["end"])
    assert read == expected, (
        f"{sent[0].name}: ical.js read the attached {window_id} as {read[0]} to {read[1]}, "
        f"upcoming says {expected[0]} to {expected[1]}"
    )
