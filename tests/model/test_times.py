from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ctmaint.errors import UsageError
from ctmaint.model.times import (
    RangeForm,
    format_duration,
    human_local,
    local_range,
    localize,
    parse_duration,
    parse_instant,
    range_ends,
    utc_z,
)

DENVER = ZoneInfo("America/Denver")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("7d", timedelta(days=7)),
        ("3w", timedelta(weeks=3)),
        ("0m", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "6", "h6", "6 hours", "-1h", "1.5h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_parse_instant_needs_an_offset() -> None:
    assert utc_z(parse_instant("2026-12-18T22:00-07:00", "--now")) == "2026-12-19T05:00:00Z"
    assert utc_z(parse_instant("2026-12-19T05:00Z", "--now")) == "2026-12-19T05:00:00Z"
    with pytest.raises(UsageError, match="has no UTC offset"):
        parse_instant("2026-12-18T22:00", "--now")
    with pytest.raises(UsageError, match="is not an ISO 8601 time"):
        parse_instant("next friday", "--now")


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        pytest.param(datetime(2026, 3, 8, 2, 30), "2026-03-08 03:30:00-06:00", id="spring_gap"),
        pytest.param(datetime(2026, 11, 1, 1, 30), "2026-11-01 01:30:00-06:00", id="fall_repeat"),
        pytest.param(datetime(2026, 7, 1, 22, 0), "2026-07-01 22:00:00-06:00", id="summer"),
        pytest.param(datetime(2026, 12, 1, 22, 0), "2026-12-01 22:00:00-07:00", id="winter"),
    ],
)
def test_localize_reads_skipped_and_repeated_times_as_rfc5545(
    wall: datetime, expected: str
) -> None:
    assert str(localize(wall, DENVER)) == expected


def test_human_local_names_the_abbreviation() -> None:
    moment = datetime(2026, 12, 19, 5, 0, tzinfo=ZoneInfo("UTC"))
    assert human_local(moment, DENVER) == "Fri 2026-12-18 22:00 MST"
    assert human_local(moment + timedelta(days=180), DENVER) == "Wed 2027-06-16 23:00 MDT"


@pytest.mark.parametrize(
    ("zone", "start", "end", "title", "end_cell"),
    [
        pytest.param("America/Denver", "2027-11-07T01:15-06:00", "2027-11-07T01:15-07:00",
                     "Sun 2027-11-07 01:15 MDT to 01:15 MST", "Sun 01:15 MST", id="fall_repeat"),
        pytest.param("America/Denver", "2027-11-06T23:30-06:00", "2027-11-07T02:30-07:00",
                     "Sat 2027-11-06 23:30 MDT to Sun 2027-11-07 02:30 MST", "Sun 02:30 MST",
                     id="fall_overnight"),
        pytest.param("America/Denver", "2027-03-14T01:30-07:00", "2027-03-14T03:30-06:00",
                     "Sun 2027-03-14 01:30 MST to 03:30 MDT", "Sun 03:30 MDT", id="spring_gap"),
        pytest.param("America/Denver", "2027-11-07T03:00-07:00", "2027-11-07T04:00-07:00",
                     "Sun 2027-11-07 03:00 to 04:00 MST", "Sun 04:00 MST", id="same_zone"),
        pytest.param("America/Denver", "2026-12-18T22:00-07:00", "2026-12-19T04:00-07:00",
                     "Fri 2026-12-18 22:00 to Sat 2026-12-19 04:00 MST", "Sat 04:00 MST",
                     id="same_zone_overnight"),
        pytest.param("America/Denver", "2027-03-01T00:00-07:00", "2027-12-01T00:00-07:00",
                     "Mon 2027-03-01 00:00 to Wed 2027-12-01 00:00 MST",
                     "Wed 2027-12-01 00:00 MST", id="both_changes_inside"),
        pytest.param("Australia/Sydney", "2027-04-04T02:30+11:00", "2027-04-04T02:30+10:00",
                     "Sun 2027-04-04 02:30 AEDT to 02:30 AEST", "Sun 02:30 AEST",
                     id="southern_fall_repeat"),
        pytest.param("Europe/London", "2027-03-28T00:30+00:00", "2027-03-28T02:30+01:00",
                     "Sun 2027-03-28 00:30 GMT to 02:30 BST", "Sun 02:30 BST",
                     id="london_spring_gap"),
        pytest.param("America/Phoenix", "2027-11-07T01:15-07:00", "2027-11-07T02:15-07:00",
                     "Sun 2027-11-07 01:15 to 02:15 MST", "Sun 02:15 MST", id="no_dst"),
    ],
)  # fmt: skip
def test_a_range_names_each_ends_zone_when_they_differ(
    zone: str, start: str, end: str, title: str, end_cell: str
) -> None:
    """Every form names the abbreviation in force at each end; the title form writes it
    once only when both ends share it (the compact form), the others always at both."""
    begins, ends, where = datetime.fromisoformat(start), datetime.fromisoformat(end), ZoneInfo(zone)
    assert local_range(begins, ends, where, RangeForm.TITLE) == title
    full = f"{human_local(begins, where)} to {human_local(ends, where)}"
    assert local_range(begins, ends, where) == full
    assert range_ends(begins, ends, where, RangeForm.COLUMNS) == (
        human_local(begins, where),
        end_cell,
    )
