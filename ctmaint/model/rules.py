"""Rule kinds: pure descriptions of when a calendar's windows start.

Each rule works on the provider's wall clock and answers one question,
:meth:`Rule.next_after`. Local times that the zone skips or repeats are read as
:mod:`ctmaint.model.times` documents (a skipped time moves forward by the gap, a repeated
one is the first occurrence), so a rule fires exactly once per wall-clock match.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.model.text import plural
from ctmaint.model.times import localize

# Looking back this far on the wall clock covers a repeated hour at fall-back.
_FOLD_MARGIN = timedelta(hours=3)


class Rule(Protocol):
    """When windows start. Implementations are frozen and hold no state."""

    def starts_after(self, after: datetime) -> Iterator[datetime]:
        """Every start strictly later than the aware instant ``after``, in order, in the
        rule's zone. The iterator is endless; the caller stops it."""
        ...

    def next_after(self, after: datetime) -> datetime:
        """The first start strictly later than ``after``."""
        ...

    def describe(self) -> str:
        """A short human description, e.g. ``cron 0 22 * * 5#3 (America/Denver)``."""
        ...


class CronRule(Struct, frozen=True):
    """A cron expression on the wall clock of ``zone`` (croniter syntax: ``5#3`` = third Friday).

    Matching is done on naive wall times, so DST never changes which days match;
    each match is then placed in ``zone`` by :func:`ctmaint.model.times.localize`.
    """

    expression: str
    zone: ZoneInfo

    def starts_after(self, after: datetime) -> Iterator[datetime]:
        from croniter import CroniterBadDateError, croniter  # 40 ms: only rule paths pay it

        wall = after.astimezone(self.zone).replace(tzinfo=None) - _FOLD_MARGIN
        matches = croniter(self.expression, wall)
        while True:
            try:
                start = localize(matches.get_next(datetime), self.zone)
            except CroniterBadDateError:  # no more matches (the policy check refuses none)
                return
            if start > after:
                yield start

    def next_after(self, after: datetime) -> datetime:
        return next(self.starts_after(after))

    def describe(self) -> str:
        return f"cron {self.expression} ({self.zone.key})"


class CycleRule(Struct, frozen=True):
    """Every ``period`` of wall-clock days from ``anchor`` (a naive local date and time).

    Occurrence k is ``anchor + k * period`` on the wall clock (k >= 0), so a Tuesday
    21:00 anchor stays Tuesday 21:00 across DST changes. ``period`` is whole days.
    """

    anchor: datetime
    period: timedelta
    zone: ZoneInfo

    def starts_after(self, after: datetime) -> Iterator[datetime]:
        wall = after.astimezone(self.zone).replace(tzinfo=None) - _FOLD_MARGIN
        k = max(0, -((self.anchor - wall) // self.period))
        while True:
            start = localize(self.anchor + k * self.period, self.zone)
            if start > after:
                yield start
            k += 1

    def next_after(self, after: datetime) -> datetime:
        return next(self.starts_after(after))

    def describe(self) -> str:
        days = self.period.days
        every = plural(days // 7, "week") if days % 7 == 0 else plural(days, "day")
        return f"every {every} from {self.anchor:%Y-%m-%d %H:%M} ({self.zone.key})"
