"""vdirsyncer subscribes to a published calendar over HTTP and stores one file per event (a
vdir); khal, the terminal calendar, lists that vdir. Together they are how a subscriber outside
a big calendar application sees the feed.

vdirsyncer's `http` storage takes each item's identity from the first UID: line it meets, and
rewrites UIDs to content hashes: compare counts and times, never UIDs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from tests.clients.conftest import (
    FALL_BACK_UTC,
    NEEDS_CLIENTS,
    Served,
    add_fall_back_window,
    build,
    client_env,
    run_client,
    upcoming,
)
from tests.conftest import CliRunner

pytestmark = NEEDS_CLIENTS

NOW = "2026-12-01T12:00:00Z"
KHAL_FORMAT = "%Y-%m-%dT%H:%M:%S"
ISO_Z = "%Y-%m-%dT%H:%M:%SZ"
KHAL_CONFIG = """\
[calendars]
[[published]]
path = {vdir}
type = calendar

[sqlite]
path = {database}

[locale]
local_timezone = UTC
default_timezone = UTC
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = {fmt}
longdatetimeformat = {fmt}
"""


def vevents(ics: Path) -> int:
    return ics.read_text(encoding="utf-8").count("BEGIN:VEVENT")


def sync(python: Path, folder: Path, url: str) -> tuple[Path, list[str]]:
    """`vdirsyncer discover` and `sync` of ``url`` into a new vdir in ``folder``: the vdir, and
    the identities vdirsyncer gave the items it copied."""
    vdir = folder / "vdir"
    vdir.mkdir(parents=True)
    config = folder / "vdirsyncer.conf"
    config.write_text(
        f"""\
[general]
status_path = {json.dumps(str(folder / "vdirsyncer-status"))}

[pair published]
a = "published_remote"
b = "published_local"
collections = null
conflict_resolution = "a wins"

[storage published_remote]
type = "http"
url = {json.dumps(url)}

[storage published_local]
type = "filesystem"
path = {json.dumps(str(vdir))}
fileext = ".ics"
"""
    )
    env = client_env(folder / "home")
    vdirsyncer: list[str | Path] = [python, "-m", "vdirsyncer", "-c", config]
    run_client([*vdirsyncer, "discover"], env, "vdirsyncer discover")
    done = run_client([*vdirsyncer, "sync"], env, "vdirsyncer sync")
    copied = re.findall(r"Copying \(uploading\) item (\S+) to", done.stderr + done.stdout)
    return vdir, copied


def khal(python: Path, folder: Path, vdir: Path, *args: str | Path) -> str:
    """Run khal with a config (in ``folder``) whose one calendar is ``vdir``, times in UTC."""
    config = folder / "khal.conf"
    config.write_text(KHAL_CONFIG.format(vdir=vdir, database=folder / "khal.db", fmt=KHAL_FORMAT))
    command: list[str | Path] = [python, "-m", "khal", "-c", config, *args]
    return run_client(command, client_env(folder / "home"), f"khal {args[0]}").stdout


def utc_z(khal_time: str) -> str:
    """A time khal printed (UTC, in KHAL_FORMAT) as an ISO string ending in Z."""
    return datetime.strptime(khal_time, KHAL_FORMAT).replace(tzinfo=UTC).strftime(ISO_Z)


def khal_list(
    python: Path, folder: Path, vdir: Path, first: str, last: str
) -> list[dict[str, Any]]:
    """`khal list` of the vdir from day ``first`` to day ``last``: each event once, with start
    and end as ISO strings ending in Z."""
    fields = ["start-full", "end-full", "title"]
    json_args = [arg for name in fields for arg in ("--json", name)]
    out = khal(python, folder, vdir, "list", "--once", *json_args, first, last)
    return [
        {"start": utc_z(event["start-full"]), "end": utc_z(event["end-full"]), **event}
        for line in out.splitlines()
        if line.strip()
        for event in json.loads(line)
    ]


def maintenance_ids(ics: Path) -> set[str]:
    calendar = Calendar.from_ical(ics.read_bytes())
    return {str(event["X-MAINTNOTE-MAINTENANCE-ID"]) for event in calendar.walk("VEVENT")}


def test_vdirsyncer_stores_one_item_per_event(
    run_cli: CliRunner, tmp_path: Path, client_python: Path, serve: Callable[[Path], Served]
) -> None:
    build(run_cli, NOW)
    all_ics = tmp_path / "calendars" / "all.ics"
    served = serve(tmp_path / "calendars")
    vdir, copied = sync(client_python, tmp_path / "sync", f"{served.url}/all.ics")
    assert "/all.ics" in served.paths, f"vdirsyncer fetched {served.paths}, not /all.ics"
    items = sorted(vdir.glob("*.ics"))
    expected = vevents(all_ics)
    assert len(items) == expected, (
        f"vdirsyncer stored {len(items)} item(s) from all.ics, which has {expected} VEVENTs; "
        f"the identities it took: {sorted(set(copied))[:5]}"
    )
    assert sum(vevents(item) for item in items) == expected


def test_khal_lists_the_synced_events_at_the_upcoming_instants(
    run_cli: CliRunner, tmp_path: Path, client_python: Path, serve: Callable[[Path], Served]
) -> None:
    build(run_cli, NOW)
    all_ics = tmp_path / "calendars" / "all.ics"
    published = maintenance_ids(all_ics)
    windows = [w for w in upcoming(run_cli, NOW).values() if w["id"] in published]
    assert len(windows) > 50, f"only {len(windows)} upcoming windows are in all.ics"
    served = serve(tmp_path / "calendars")
    vdir, _ = sync(client_python, tmp_path / "sync", f"{served.url}/all.ics")
    now = datetime.fromisoformat(NOW)
    last = (now + timedelta(days=400)).date().isoformat()
    listed = [
        e
        for e in khal_list(client_python, tmp_path, vdir, now.date().isoformat(), last)
        if e["end"] > NOW  # upcoming lists the windows not yet over
    ]
    expected = Counter((w["start_utc"], w["end_utc"]) for w in windows)
    read = Counter((e["start"], e["end"]) for e in listed)
    names = {(w["start_utc"], w["end_utc"]): w["id"] for w in windows}
    missing = [f"{names[k]} {k[0]} to {k[1]}" for k in sorted(expected - read)]
    extra = [f"{k[0]} to {k[1]}" for k in sorted(read - expected)]
    assert not missing + extra, (
        f"khal listed {len(listed)} events after vdirsyncer, upcoming has {len(windows)} in "
        f"all.ics.\nNot listed at the upcoming instants ({len(missing)}): {missing[:10]}\n"
        f"Listed at instants upcoming does not have ({len(extra)}): {extra[:10]}"
    )
    summaries = {(w["start_utc"], w["end_utc"]): w["summary"] for w in windows}
    wrong_titles = [
        e["title"] for e in listed if not e["title"].endswith(summaries[(e["start"], e["end"])])
    ]
    assert not wrong_titles, f"khal titles not ending in the window's summary: {wrong_titles[:5]}"


@pytest.mark.parametrize("built_at", ["2026-10-30T12:00:00Z", "2026-12-01T12:00:00Z"])
def test_khal_reads_the_fall_back_window(
    run_cli: CliRunner,
    tmp_path: Path,
    client_python: Path,
    serve: Callable[[Path], Served],
    built_at: str,
) -> None:
    add_fall_back_window(run_cli, "2026-10-30T12:00:00Z")
    build(run_cli, built_at)
    teams = tmp_path / "calendars" / "teams.ics"
    served = serve(tmp_path / "calendars")
    vdir, copied = sync(client_python, tmp_path / "sync", f"{served.url}/teams.ics")
    # khal reading the file itself, then the vdir that vdirsyncer made of it.
    fmt = "{start-full}|{end-full}|{title}"
    printed = khal(client_python, tmp_path, vdir, "printics", "-f", fmt, teams)
    (line,) = (x for x in printed.splitlines() if x.endswith("Fall-back work"))
    start, end, _ = line.split("|")
    read = (utc_z(start), utc_z(end))
    assert read == FALL_BACK_UTC, (
        f"teams.ics built at {built_at}: khal printics read the fall-back window as "
        f"{read[0]} to {read[1]}, expected {FALL_BACK_UTC[0]} to {FALL_BACK_UTC[1]}"
    )
    listed = khal_list(client_python, tmp_path, vdir, "2026-10-31", "2026-11-02")
    found = [(e["start"], e["end"]) for e in listed if e["title"].endswith("Fall-back work")]
    assert found == [FALL_BACK_UTC], (
        f"teams.ics built at {built_at}, synced by vdirsyncer ({len(list(vdir.glob('*.ics')))} "
        f"items from {vevents(teams)} VEVENTs, identities {sorted(set(copied))[:3]}): khal "
        f"listed the fall-back window as {found}, expected [{FALL_BACK_UTC}]"
    )
