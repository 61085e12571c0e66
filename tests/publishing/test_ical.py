"""The calendars as consumers we did not write read them: icalendar and recurring-ical-events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar, Event

from ctmaint.model.windows import windows_between
from ctmaint.publishing.ical import fold
from tests.conftest import Built, CliRunner

IMPACTS = {"NO-IMPACT", "REDUCED-REDUNDANCY", "DEGRADED", "OUTAGE"}
STATUSES = {"TENTATIVE", "CONFIRMED", "CANCELLED", "IN-PROCESS", "COMPLETED"}
DENVER = ZoneInfo("America/Denver")


def load(path: Path) -> Calendar:
    return Calendar.from_ical(path.read_bytes())


def ics_files(built: Built) -> list[Path]:
    files = sorted(built.calendars.glob("*.ics"))
    assert len(files) == 8  # all + seven products
    return files


def test_every_file_parses_and_round_trips(built: Built) -> None:
    for path in ics_files(built):
        raw = path.read_bytes()
        calendar = Calendar.from_ical(raw)
        assert calendar.to_ical() == raw, path.name


def test_lines_are_crlf_and_folded_at_75_octets(built: Built) -> None:
    raw = (built.calendars / "all.ics").read_bytes()
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")[:-1]
    assert all(b"\n" not in line for line in lines)
    assert max(len(line) for line in lines) <= 75


def test_calendar_properties(built: Built) -> None:
    calendar = load(built.calendars / "all.ics")
    assert "METHOD" not in calendar
    assert calendar["X-WR-CALNAME"] == "CallTower maintenance"
    assert calendar["REFRESH-INTERVAL"].dt == timedelta(hours=1)
    assert "X-PUBLISHED-TTL" in calendar
    (zone,) = calendar.walk("VTIMEZONE")
    assert zone["TZID"] == "America/Denver"
    assert calendar.get_missing_tzids() == set()


def test_no_calendar_level_uid_so_each_event_is_its_own_item(built: Built) -> None:
    """vdirsyncer takes the first UID line as every item's identity."""
    for path in ics_files(built):
        calendar = load(path)
        assert "UID" not in calendar, path.name
        first_uid = path.read_bytes().index(b"\r\nUID:")
        assert first_uid > path.read_bytes().index(b"BEGIN:VEVENT"), path.name


def test_refresh_interval_is_typed_as_a_duration(built: Built) -> None:
    """RFC 7986, 5.7: REFRESH-INTERVAL;VALUE=DURATION:..."""
    assert (
        b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n"
        in (built.calendars / "all.ics").read_bytes()
    )


def test_vtimezone_states_each_onset_once_no_comment_and_onsets_in_the_old_offset(
    built: Built,
) -> None:
    (zone,) = load(built.calendars / "all.ics").walk("VTIMEZONE")
    assert "COMMENT" not in zone
    for observance in zone.subcomponents:
        # The RDATE repeats the DTSTART (Home Assistant's ical needs it); no other onset.
        assert [d.dt for d in observance["RDATE"].dts] == [observance["DTSTART"].dt]
        assert "RRULE" not in observance
    onsets = {
        (o.name, o["DTSTART"].dt.date()): o["DTSTART"].dt.time()
        for o in zone.subcomponents
        if o["DTSTART"].dt.year > 1970
    }
    # BUILD_NOW is 2027-03-01: the span is 2026-12-01 to 2028-02-29.
    assert onsets[("DAYLIGHT", date(2027, 3, 14))] == datetime(2026, 1, 1, 2).time()
    assert onsets[("STANDARD", date(2027, 11, 7))] == datetime(2026, 1, 1, 2).time()


def test_every_event_carries_the_bcop_properties_with_legal_values(built: Built) -> None:
    for path in ics_files(built):
        for event in load(path).walk("VEVENT"):
            window_id = str(event["X-MAINTNOTE-MAINTENANCE-ID"])
            assert isinstance(event["X-MAINTNOTE-MAINTENANCE-ID"], str)  # exactly one
            assert event["UID"] == f"{window_id}@calltower.com"
            assert event["X-MAINTNOTE-PROVIDER"] == "calltower.com"
            assert event["X-MAINTNOTE-ACCOUNT"] == "ALL-CUSTOMERS"
            assert event["X-MAINTNOTE-IMPACT"] in IMPACTS
            assert event["X-MAINTNOTE-STATUS"] in STATUSES
            objects = event["X-MAINTNOTE-OBJECT-ID"]
            objects = [objects] if isinstance(objects, str) else objects
            assert objects
            if path.stem != "all":
                assert path.stem in objects  # per-product files hold only their windows
            for required in ("DTSTAMP", "SUMMARY", "ORGANIZER", "SEQUENCE", "DESCRIPTION"):
                assert required in event, (window_id, required)
            assert "RRULE" not in event
            assert event["DTSTART"].params["TZID"] == "America/Denver"
            assert event["DTEND"].params["TZID"] == "America/Denver"
            assert isinstance(event.start, datetime)  # never an all-day date
            assert event["STATUS"] in ("CONFIRMED", "CANCELLED")
            transparent = event["X-MAINTNOTE-IMPACT"] == "NO-IMPACT"
            assert event["TRANSP"] == ("TRANSPARENT" if transparent else "OPAQUE")
            assert event["URL"] == "https://status.calltower.com"
            assert "MAINTENANCE" in event.categories


def test_description_states_the_four_details(built: Built) -> None:
    events = {str(e["UID"]): e for e in load(built.calendars / "all.ics").walk("VEVENT")}
    description = str(events["monthly-2027-03-19@calltower.com"]["DESCRIPTION"])
    assert "When: Fri 2027-03-19 22:00 MDT to Sat 2027-03-20 04:00 MDT (MT)" in description
    assert "Sat 2027-03-20 04:00 UTC to Sat 2027-03-20 10:00 UTC" in description
    assert "Products affected: Microsoft Teams Voice, Skype for Business" in description
    assert "Work: System patching" in description
    assert "Why: Proactive, routine maintenance" in description


def test_status_sequence_and_stamp_follow_the_window_not_the_build(built: Built) -> None:
    events = {str(e["UID"]): e for e in load(built.calendars / "all.ics").walk("VEVENT")}
    done = events["monthly-2027-02-19@calltower.com"]  # ended before BUILD_NOW
    assert done["X-MAINTNOTE-STATUS"] == "COMPLETED"
    assert done["SEQUENCE"] == 2  # started, then completed
    assert done["DTSTAMP"].dt == datetime(2027, 2, 20, 11, 0, tzinfo=UTC)  # its end
    ahead = events["monthly-2027-03-19@calltower.com"]
    assert ahead["X-MAINTNOTE-STATUS"] == "CONFIRMED"
    assert ahead["SEQUENCE"] == 0
    # a rule window counts as published when it entered the 365-day horizon
    assert ahead["DTSTAMP"].dt == datetime(2026, 3, 20, 4, 0, tzinfo=UTC)


def test_recurring_ical_events_lists_the_expected_windows(built: Built) -> None:
    calendar = load(built.calendars / "all.ics")
    found = recurring_ical_events.of(calendar).between(
        datetime(2027, 3, 1, tzinfo=DENVER), datetime(2027, 4, 1, tzinfo=DENVER)
    )
    uids = sorted(str(event["UID"]).split("@")[0] for event in found)
    assert uids == [
        "connect-2027-03-02",
        "connect-2027-03-23",
        "monthly-2027-03-19",
        "skype-cert-2027-03-05",
        "skype-cert-2027-03-12",
        "skype-cert-2027-03-19",
        "skype-cert-2027-03-26",
    ]
    connect = recurring_ical_events.of(load(built.calendars / "connect.ics")).between(
        date(2027, 3, 1), date(2027, 4, 1)
    )
    assert {str(e["UID"]) for e in connect} == {
        "connect-2027-03-02@calltower.com",
        "connect-2027-03-23@calltower.com",
        "monthly-2027-03-19@calltower.com",
    }


# Subscribers elsewhere, in the weeks when the US has changed its clocks and Europe or
# Australia has not (or the reverse). Expected local times are worked out by hand.
SUBSCRIBERS = [
    # US on MDT since 03-14, UK still on GMT until 03-28: 22:00 MDT = 04:00 GMT
    pytest.param("monthly-2027-03-19", "Europe/London", "2027-03-20 04:00 GMT", id="london_gap"),
    # both on summer time: 22:00 MDT = 05:00 BST
    pytest.param("monthly-2027-04-16", "Europe/London", "2027-04-17 05:00 BST", id="london"),
    # US on MDT, Sydney still on daylight time until 04-04: 22:00 MDT = 15:00 AEDT
    pytest.param("monthly-2027-03-19", "Australia/Sydney", "2027-03-20 15:00 AEDT", id="sydney"),
    # Sydney back on standard time from 04-04: 22:00 MDT = 14:00 AEST
    pytest.param("monthly-2027-04-16", "Australia/Sydney", "2027-04-17 14:00 AEST", id="syd_std"),
    # before US DST starts (03-14): Connect 21:00 MST on 03-02 = 04:00 GMT on 03-03
    pytest.param("connect-2027-03-02", "Europe/London", "2027-03-03 04:00 GMT", id="london_mst"),
    # after: Connect 21:00 MDT on 03-23 = 03:00 GMT on 03-24 (UK changes on 03-28)
    pytest.param("connect-2027-03-23", "Europe/London", "2027-03-24 03:00 GMT", id="london_mdt"),
]


@pytest.mark.parametrize(("window_id", "zone", "expected"), SUBSCRIBERS)
def test_subscribers_elsewhere_see_the_right_local_time(
    built: Built, window_id: str, zone: str, expected: str
) -> None:
    calendar = load(built.calendars / "all.ics")
    (event,) = [e for e in calendar.walk("VEVENT") if e["UID"] == f"{window_id}@calltower.com"]
    assert f"{event.start.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M %Z}" == expected


def test_the_vtimezone_alone_gives_the_right_instants(built: Built) -> None:
    """A client that ignores its own tz database and reads only the VTIMEZONE agrees."""
    calendar = load(built.calendars / "all.ics")
    (component,) = calendar.walk("VTIMEZONE")
    embedded = component.to_tz()
    for event in calendar.walk("VEVENT"):
        wall = event.start.replace(tzinfo=None)
        assert wall.replace(tzinfo=embedded).astimezone(UTC) == event.start.astimezone(UTC)


def test_fold_matches_icalendar_byte_for_byte() -> None:
    event = Event.new(
        summary="Ünïcödé " * 20,
        description="a\\" * 60 + "b" * 100 + "^" * 40,
        uid="x@example.net",
        stamp=datetime(2026, 1, 1, tzinfo=UTC),
    )
    for line in event.content_lines():
        if line:
            assert fold(line).encode() == line.to_ical()


def test_a_window_ending_in_the_repeated_hour_reads_one_way(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    """01:45 on fall-back day happens twice: the .ics must say which (here in UTC)."""
    now = ("--now", "2026-10-30T12:00:00Z")
    added = run_cli(
        *now, "add", "--start", "2026-11-01T00:30-06:00", "--end", "2026-11-01T01:45-07:00",
        "--products", "teams", "--summary", "Fall-back work", "--description", "d",
        "--justification", "j", "--urgent",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert run_cli(*now, "build").code == 0
    raw = (tmp_path / "calendars" / "teams.ics").read_bytes()
    assert b"DTSTART:20261101T063000Z\r\nDTEND:20261101T084500Z\r\n" in raw
    (event,) = [e for e in load(tmp_path / "calendars" / "teams.ics").walk("VEVENT")
                if e["X-MAINTNOTE-MAINTENANCE-ID"] == added.out.strip()]  # fmt: skip
    assert event.end - event.start == timedelta(hours=2, minutes=15)


@pytest.mark.parametrize(
    "account",
    ["ACME-1", "ALL-CUSTOMERS", "A,B;C\\D", "Zürich Ärzte AG", "X" * 120, "Ünïcödé " * 12],
)
def test_the_account_is_put_in_exactly_as_a_full_rendering_writes_it(
    shipped: object, account: str
) -> None:
    from ctmaint.model.policy import Policy
    from ctmaint.publishing.ical import full_window_calendar, window_calendar

    assert isinstance(shipped, Policy)
    now = datetime(2030, 6, 1, tzinfo=UTC)
    (window,) = [
        w for w in windows_between(shipped, now, now + timedelta(days=30))
        if w.calendar == "monthly"
    ]  # fmt: skip
    assert window_calendar(window, shipped, now, account) == full_window_calendar(
        window, shipped, now, account
    )
    calendar = Calendar.from_ical(window_calendar(window, shipped, now, account))
    (event,) = calendar.walk("VEVENT")
    assert str(event["X-MAINTNOTE-ACCOUNT"]) == account
