"""The VTIMEZONE ctmaint writes: one plain observance per transition, onsets in the old
offset, and, read on its own, the same offsets as the tz database for every hour."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from ctmaint.publishing.ical import event_times
from ctmaint.publishing.vtimezone import Observance, observances, vtimezone_ics

ZONES = [
    "America/Denver",  # the shipped policy
    "Europe/London",
    "Australia/Sydney",  # southern: DST over the new year
    "America/Phoenix",  # no DST
    "Asia/Kolkata",  # a half-hour offset, no DST
    "Australia/Lord_Howe",  # a half-hour DST shift
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Sao_Paulo",  # DST abolished in 2019
]


def offset_at(found: list[Observance], instant: datetime) -> timedelta:
    return [o for o in found if o.onset <= instant][-1].offset_to


@pytest.mark.parametrize("key", ZONES)
def test_observances_give_the_tz_database_offset_every_hour(key: str) -> None:
    zone = ZoneInfo(key)
    found = observances(zone, date(2026, 1, 1), date(2028, 12, 31))
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    while moment < datetime(2029, 1, 1, tzinfo=UTC):
        assert offset_at(found, moment) == moment.astimezone(zone).utcoffset(), moment
        moment += timedelta(minutes=30)


@pytest.mark.parametrize("key", ZONES)
def test_the_serialized_vtimezone_read_alone_agrees_with_the_tz_database(key: str) -> None:
    zone = ZoneInfo(key)
    raw = vtimezone_ics(zone, date(2026, 6, 1), date(2027, 12, 31))
    head = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
    calendar = Calendar.from_ical(head + raw + b"END:VCALENDAR\r\n")
    (component,) = calendar.walk("VTIMEZONE")
    assert "COMMENT" not in component
    for observance in component.subcomponents:
        # One onset, stated as DTSTART and again as an RDATE (Home Assistant's ical reads
        # only RDATE and RRULE onsets for a zone it cannot map); nothing to expand.
        assert "RRULE" not in observance
        assert observance["RDATE"].dts[0].dt == observance["DTSTART"].dt
        assert len(observance["RDATE"].dts) == 1
    embedded = component.to_tz()
    moment = datetime(2026, 6, 1, 12, tzinfo=UTC)
    while moment < datetime(2027, 12, 31, tzinfo=UTC):
        wall = moment.astimezone(zone)
        assert wall.replace(tzinfo=embedded).utcoffset() == wall.utcoffset(), str(wall)
        moment += timedelta(hours=7)


@pytest.mark.parametrize(
    ("onset_utc", "local", "offset_from", "offset_to", "name"),
    [
        pytest.param("2027-03-14T09:00", "2027-03-14T02:00", -7, -6, "MDT", id="spring_gap"),
        pytest.param("2026-11-01T08:00", "2026-11-01T02:00", -6, -7, "MST", id="fall_repeat"),
    ],
)
def test_denver_onsets_are_wall_times_in_the_old_offset(
    onset_utc: str, local: str, offset_from: int, offset_to: int, name: str
) -> None:
    found = observances(ZoneInfo("America/Denver"), date(2026, 9, 1), date(2027, 6, 1))
    (observance,) = [o for o in found if o.onset == datetime.fromisoformat(onset_utc + "Z")]
    assert observance.local_onset == datetime.fromisoformat(local)
    assert observance.offset_from == timedelta(hours=offset_from)
    assert observance.offset_to == timedelta(hours=offset_to)
    assert observance.name == name


def test_a_zone_without_transitions_has_one_observance() -> None:
    raw = vtimezone_ics(ZoneInfo("America/Phoenix"), date(2026, 1, 1), date(2030, 1, 1)).decode()
    assert raw.count("BEGIN:STANDARD") == 1
    assert "BEGIN:DAYLIGHT" not in raw
    assert "TZOFFSETFROM:-0700\r\nTZOFFSETTO:-0700" in raw


DENVER = ZoneInfo("America/Denver")


@pytest.mark.parametrize(
    ("start", "end", "form"),
    [
        pytest.param("2026-12-18T22:00-07:00", "2026-12-19T04:00-07:00", "local", id="plain"),
        pytest.param("2026-11-01T00:30-06:00", "2026-11-01T01:45-07:00", "utc", id="ends_repeat"),
        pytest.param("2026-11-01T01:15-06:00", "2026-11-01T03:00-07:00", "utc", id="starts_repeat"),
        pytest.param("2027-03-14T01:00-07:00", "2027-03-14T03:30-06:00", "local", id="over_gap"),
    ],
)
def test_event_times_are_written_so_only_one_reading_is_possible(
    start: str, end: str, form: str
) -> None:
    first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    written = event_times(first, last, DENVER)
    assert written == (first, last)  # the same instants either way
    expected = UTC if form == "utc" else DENVER
    assert all(moment.tzinfo is expected for moment in written)
