from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ctmaint.errors import UsageError
from ctmaint.times import (
    format_duration,
    human_local,
    localize,
    parse_duration,
    parse_instant,
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
