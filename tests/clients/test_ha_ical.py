"""Home Assistant's `ical` (PyPI `ical`, what its calendar integrations parse with) reads every
event of all.ics and of a product's calendar at the instants of ctmaint's own windows, across
both 2027 DST changes in America/Denver (2027-03-14 and 2027-11-07).

`ical` takes a TZID it knows from its own zone database; one it cannot map (a zone newer than
its tzdata, a private name) it reads from the file's VTIMEZONE, and there an observance with
only a DTSTART never takes effect: every time reads as UTC. So each file is read twice: as
published, and with its TZID renamed to one no database has, so that the VTIMEZONE alone
decides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ctmaint.model.times import utc_z
from ctmaint.model.windows import Window
from tests.clients.conftest import NEEDS_CLIENTS, build, client_env, published, run_client
from tests.conftest import CliRunner

pytestmark = NEEDS_CLIENTS

READER = """\
import datetime, json, sys
from pathlib import Path

from ical.calendar_stream import IcsCalendarStream

def utc(moment):
    if moment.tzinfo is None:
        raise SystemExit(f"ical read {moment} as floating time")
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

found = {}
for path in sys.argv[1:]:
    calendar = IcsCalendarStream.calendar_from_ics(Path(path).read_text(encoding="utf-8"))
    found[path] = [
        {"uid": event.uid, "start": utc(event.dtstart), "end": utc(event.dtend),
         "zone": str(event.dtstart.tzinfo)}
        for event in calendar.events
    ]
print(json.dumps(found))
"""

ADDED_AT = "2027-01-10T12:00:00Z"
# Unscheduled work across each change, as the examples have it (MST is UTC-7, MDT
# UTC-6): written with TZID where both ends name one instant, in UTC where one repeats.
ACROSS = {
    "spring-forward": ("2027-03-14T01:00-07:00", "2027-03-14T04:00-06:00"),
    "overnight-fall-back": ("2027-11-06T23:30-06:00", "2027-11-07T02:30-07:00"),
    "repeated-hour": ("2027-11-07T01:15-06:00", "2027-11-07T01:15-07:00"),
}
UNMAPPED = "Ctmaint-Test/Unknown-Zone"


def add_across_the_changes(run_cli: CliRunner) -> None:
    for name, (start, end) in ACROSS.items():
        result = run_cli(
            "--now", ADDED_AT, "add", "--start", start, "--end", end, "--products", "teams",
            "--summary", f"Work across the change ({name})", "--description", "d",
            "--justification", "j",
        )  # fmt: skip
        assert result.code == 0, result.err


def read_with_ha_ical(python: Path, folder: Path, *paths: Path) -> dict[str, list[dict[str, Any]]]:
    """What `ical` reads from each file, by file name."""
    script = folder / "read_ics.py"
    script.write_text(READER)
    done = run_client([python, script, *paths], client_env(), "Home Assistant's ical")
    found: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return {Path(path).name: items for path, items in found.items()}


def unmapped_copy(path: Path, zone: str, folder: Path) -> Path:
    """``path`` with its TZID renamed to one that no zone database has."""
    copy = folder / f"unmapped-{path.name}"
    raw = path.read_bytes()
    assert f"TZID:{zone}\r\n".encode() in raw, f"{path.name} has no VTIMEZONE for {zone}"
    copy.write_bytes(raw.replace(zone.encode(), UNMAPPED.encode()))
    return copy


def mismatches(events: list[dict[str, Any]], windows: dict[str, Window]) -> list[str]:
    wrong = []
    for event in events:
        window = windows[event["uid"].split("@")[0]]
        expected = (utc_z(window.start), utc_z(window.end))
        if (event["start"], event["end"]) != expected:
            wrong.append(
                f"{window.id} ({event['zone']}): read {event['start']} to {event['end']}, "
                f"ctmaint has {expected[0]} to {expected[1]}"
            )
    return wrong


@pytest.mark.parametrize("built_at", ["2027-01-15T12:00:00Z", "2027-06-01T12:00:00Z"])
def test_every_event_at_ctmaints_instants_across_both_2027_changes(
    run_cli: CliRunner, tmp_path: Path, client_python: Path, built_at: str
) -> None:
    add_across_the_changes(run_cli)
    build(run_cli, built_at)
    state = published(tmp_path, built_at)
    zone = state.policy.zone.key
    calendars = tmp_path / "calendars"
    files = [calendars / "all.ics", calendars / "teams.ics"]
    files += [unmapped_copy(path, zone, tmp_path) for path in files]
    found = read_with_ha_ical(client_python, tmp_path, *files)
    across = {w.id for w in state.windows.values() if w.summary.startswith("Work across")}
    assert len(across) == len(ACROSS)
    problems = []
    for name, events in sorted(found.items()):
        read = {e["uid"].split("@")[0] for e in events}
        expected = {w.id for w in state.windows.values() if name.endswith("all.ics")
                    or "teams" in w.products}  # fmt: skip
        assert read == expected, f"{name}: ical read other events than were published"
        assert across <= read
        zones = {e["zone"] for e in events if e["zone"] != "UTC"}
        assert zones == {UNMAPPED if name.startswith("unmapped-") else zone}, zones
        wrong = mismatches(events, state.windows)
        if wrong:
            problems.append(f"{name}: {len(wrong)} of {len(events)} events, first: {wrong[:3]}")
    assert not problems, f"built at {built_at}:\n" + "\n".join(problems)
