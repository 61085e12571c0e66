from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ctmaint.model.rules import CronRule, CycleRule

DENVER = ZoneInfo("America/Denver")


def third_friday(year: int, month: int) -> date:
    """Independent of croniter: the first Friday is 1 + (FRIDAY - weekday of the 1st) % 7."""
    first_weekday = calendar.weekday(year, month, 1)
    return date(year, month, 1 + (calendar.FRIDAY - first_weekday) % 7 + 14)


def starts(rule: CronRule | CycleRule, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = rule.next_after(after)
        found.append(after)
    return found


def test_monthly_third_friday_for_ten_years_matches_calendar_math() -> None:
    rule = CronRule("0 22 * * 5#3", DENVER)
    got = starts(rule, datetime(2026, 1, 1, tzinfo=DENVER), 120)
    expected = [
        datetime.combine(third_friday(2026 + i // 12, i % 12 + 1), datetime.min.time())
        .replace(hour=22, tzinfo=DENVER)
        .astimezone(UTC)
        for i in range(120)
    ]
    assert [s.astimezone(UTC) for s in got] == expected
    assert all(s.strftime("%a %H:%M") == "Fri 22:00" for s in got)
    offsets = {s.utcoffset() for s in got}
    assert offsets == {timedelta(hours=-7), timedelta(hours=-6)}  # MST and MDT both occur


def test_next_after_is_strict() -> None:
    rule = CronRule("0 22 * * 5#3", DENVER)
    first = rule.next_after(datetime(2026, 12, 1, tzinfo=DENVER))
    assert str(first) == "2026-12-18 22:00:00-07:00"
    assert str(rule.next_after(first)) == "2027-01-15 22:00:00-07:00"
    assert rule.next_after(first - timedelta(seconds=1)) == first


def test_next_after_accepts_any_zone_for_after() -> None:
    rule = CronRule("0 22 * * 5#3", DENVER)
    utc_after = datetime(2026, 12, 19, 4, 59, tzinfo=UTC)  # 21:59 MST on the 18th
    assert str(rule.next_after(utc_after)) == "2026-12-18 22:00:00-07:00"


# Zones with their spring-forward and fall-back days in 2026, and a wall time inside
# the skipped hour and one inside the repeated hour.
ZONE_CASES = [
    # zone, gap wall, expected after gap, repeat wall, expected repeat (first occurrence)
    pytest.param(
        "America/Denver",
        datetime(2026, 3, 8, 2, 30),
        "2026-03-08 03:30:00-06:00",
        datetime(2026, 11, 1, 1, 30),
        "2026-11-01 01:30:00-06:00",
        id="denver",
    ),
    pytest.param(
        "Europe/London",
        datetime(2026, 3, 29, 1, 30),
        "2026-03-29 02:30:00+01:00",
        datetime(2026, 10, 25, 1, 30),
        "2026-10-25 01:30:00+01:00",
        id="london",
    ),
    pytest.param(
        "Australia/Sydney",  # southern: springs forward in October, falls back in April
        datetime(2026, 10, 4, 2, 30),
        "2026-10-04 03:30:00+11:00",
        datetime(2026, 4, 5, 2, 30),
        "2026-04-05 02:30:00+11:00",
        id="sydney",
    ),
    pytest.param(
        "America/Phoenix",  # no DST: nothing is skipped or repeated
        datetime(2026, 3, 8, 2, 30),
        "2026-03-08 02:30:00-07:00",
        datetime(2026, 11, 1, 1, 30),
        "2026-11-01 01:30:00-07:00",
        id="phoenix_no_dst",
    ),
]


def _cron_at(wall: datetime) -> str:
    return f"{wall.minute} {wall.hour} * * *"


@pytest.mark.parametrize(("zone", "gap", "after_gap", "repeat", "first_repeat"), ZONE_CASES)
def test_cron_spring_gap_moves_forward_by_the_gap(
    zone: str, gap: datetime, after_gap: str, repeat: datetime, first_repeat: str
) -> None:
    tz = ZoneInfo(zone)
    rule = CronRule(_cron_at(gap), tz)
    day_before = datetime.combine(gap.date() - timedelta(days=1), gap.time(), tz)
    found = starts(rule, day_before, 2)
    assert str(found[0]) == after_gap
    assert found[1].replace(tzinfo=None) == gap + timedelta(days=1)  # next day is normal


@pytest.mark.parametrize(("zone", "gap", "after_gap", "repeat", "first_repeat"), ZONE_CASES)
def test_cron_fall_repeat_fires_once_at_the_first(
    zone: str, gap: datetime, after_gap: str, repeat: datetime, first_repeat: str
) -> None:
    tz = ZoneInfo(zone)
    rule = CronRule(_cron_at(repeat), tz)
    day_before = datetime.combine(repeat.date() - timedelta(days=1), repeat.time(), tz)
    found = starts(rule, day_before, 2)
    assert str(found[0]) == first_repeat
    assert found[1].date() == repeat.date() + timedelta(days=1)  # not a second 01:30


@pytest.mark.parametrize(("zone", "gap", "after_gap", "repeat", "first_repeat"), ZONE_CASES)
def test_cycle_reads_dst_like_cron(
    zone: str, gap: datetime, after_gap: str, repeat: datetime, first_repeat: str
) -> None:
    tz = ZoneInfo(zone)
    for wall, expected in ((gap, after_gap), (repeat, first_repeat)):
        rule = CycleRule(wall - timedelta(weeks=3), timedelta(weeks=1), tz)
        found = starts(rule, (wall - timedelta(days=1)).replace(tzinfo=tz), 2)
        assert str(found[0]) == expected
        assert found[1].replace(tzinfo=None) == wall + timedelta(weeks=1)


def test_connect_cadence_every_21_days_tuesday_2100_local_for_ten_years() -> None:
    rule = CycleRule(datetime(2026, 1, 6, 21, 0), timedelta(weeks=3), DENVER)
    found = starts(rule, datetime(2025, 12, 1, tzinfo=DENVER), 175)
    assert str(found[0]) == "2026-01-06 21:00:00-07:00"
    assert all(s.strftime("%a %H:%M") == "Tue 21:00" for s in found)
    gaps = {(b.date() - a.date()).days for a, b in itertools.pairwise(found)}
    assert gaps == {21}
    assert found[-1].year == 2036


def test_cycle_starts_at_its_anchor_never_before() -> None:
    rule = CycleRule(datetime(2026, 1, 6, 21, 0), timedelta(weeks=3), DENVER)
    assert str(rule.next_after(datetime(2020, 1, 1, tzinfo=UTC))) == "2026-01-06 21:00:00-07:00"
    later = rule.next_after(datetime(2026, 1, 6, 21, 0, tzinfo=DENVER))
    assert str(later) == "2026-01-27 21:00:00-07:00"


def test_describe() -> None:
    assert CronRule("0 22 * * 5#3", DENVER).describe() == "cron 0 22 * * 5#3 (America/Denver)"
    cycle = CycleRule(datetime(2026, 1, 6, 21, 0), timedelta(weeks=3), DENVER)
    assert cycle.describe() == "every 3 weeks from 2026-01-06 21:00 (America/Denver)"
