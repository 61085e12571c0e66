from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ctmaint.errors import PolicyError
from ctmaint.model.policy import Policy
from ctmaint.model.windows import windows_between
from tests.conftest import calendar_toml, make_policy

DENVER = ZoneInfo("America/Denver")
WALL_STARTS = {"monthly": "Fri 22:00", "skype-cert": "Fri 00:00", "connect": "Tue 21:00"}


def dst_changes(zone: ZoneInfo, first_year: int, last_year: int) -> Iterator[datetime]:
    """Noon on each day after which the zone's offset changes (found by scanning days)."""
    day = datetime(first_year, 1, 1, 12, tzinfo=zone)
    while day.year <= last_year:
        following = (day.astimezone(UTC) + timedelta(days=1)).astimezone(zone)
        if following.utcoffset() != day.utcoffset():
            yield day
        day = following.replace(hour=12)


def test_dst_changes_found_twice_a_year() -> None:
    changes = list(dst_changes(DENVER, 2026, 2036))
    assert len(changes) == 22
    assert changes[0].date() == date(2026, 3, 7)


@pytest.mark.parametrize("change", list(dst_changes(DENVER, 2026, 2036)), ids=str)
def test_windows_on_both_sides_of_every_dst_change(shipped: Policy, change: datetime) -> None:
    windows = windows_between(shipped, change - timedelta(days=35), change + timedelta(days=35))
    assert {w.calendar for w in windows} == set(WALL_STARTS)
    offsets = set()
    for window in windows:
        assert window.start.strftime("%a %H:%M") == WALL_STARTS[window.calendar], window.id
        spec = shipped.calendars[window.calendar]
        assert window.end.astimezone(UTC) - window.start.astimezone(UTC) == spec.duration
        # the offset is the zone's real offset at that instant, not a copied one
        assert (
            window.start.utcoffset() == window.start.astimezone(UTC).astimezone(DENVER).utcoffset()
        )
        offsets.add(window.start.utcoffset())
    assert len(offsets) == 2  # windows on both sides


def test_monthly_crosses_midnight_friday_to_saturday(shipped: Policy) -> None:
    (window,) = [
        w
        for w in windows_between(
            shipped, datetime(2026, 12, 1, tzinfo=DENVER), datetime(2027, 1, 1, tzinfo=DENVER)
        )
        if w.calendar == "monthly"
    ]
    assert window.id == "monthly-2026-12-18"
    assert str(window.start) == "2026-12-18 22:00:00-07:00"
    assert str(window.end) == "2026-12-19 04:00:00-07:00"
    assert window.end.strftime("%A") == "Saturday"


def test_duration_is_elapsed_across_a_dst_change() -> None:
    # Saturday 22:00 MST before spring-forward, 6 hours: ends Sunday 05:00 MDT (04:00 MST).
    policy = make_policy(calendar_toml(cron="0 22 7 3 *", duration="6h"))
    (window,) = windows_between(
        policy, datetime(2026, 3, 1, tzinfo=DENVER), datetime(2026, 3, 31, tzinfo=DENVER)
    )
    assert str(window.start) == "2026-03-07 22:00:00-07:00"
    assert str(window.end) == "2026-03-08 05:00:00-06:00"


def test_skip_dates_leave_out_one_window() -> None:
    policy = make_policy(calendar_toml(cron="0 22 * * 5#3", skip=["2026-12-18"]))
    windows = windows_between(
        policy, datetime(2026, 11, 1, tzinfo=DENVER), datetime(2027, 2, 1, tzinfo=DENVER)
    )
    assert [w.id for w in windows] == ["nightly-2026-11-20", "nightly-2027-01-15"]


def test_windows_between_includes_a_window_already_running(shipped: Policy) -> None:
    inside = datetime(2026, 12, 19, 1, 0, tzinfo=DENVER)
    windows = windows_between(shipped, inside, inside + timedelta(hours=1))
    assert [w.id for w in windows] == ["monthly-2026-12-18"]
    assert windows[0].status(inside) == "in-progress"
    assert windows[0].status(inside - timedelta(hours=4)) == "scheduled"
    assert windows[0].status(inside + timedelta(hours=3)) == "completed"


def test_windows_are_ordered_by_start_and_carry_the_calendar_details(shipped: Policy) -> None:
    windows = windows_between(
        shipped, datetime(2026, 12, 1, tzinfo=DENVER), datetime(2027, 1, 1, tzinfo=DENVER)
    )
    starts = [w.start.astimezone(UTC) for w in windows]
    assert starts == sorted(starts)
    connect = next(w for w in windows if w.calendar == "connect")
    assert connect.id == "connect-2026-12-08"
    assert connect.products == ("connect",)
    assert connect.impact == "NO-IMPACT"
    monthly = next(w for w in windows if w.calendar == "monthly")
    assert set(monthly.products) == set(shipped.products)


def test_a_rule_that_fires_twice_a_day_is_refused() -> None:
    policy = make_policy(calendar_toml(cron="0 1,13 * * *"))
    with pytest.raises(PolicyError, match="starts two windows on 2026-06-01"):
        windows_between(
            policy, datetime(2026, 6, 1, tzinfo=DENVER), datetime(2026, 6, 2, tzinfo=DENVER)
        )
