"""The ``[unscheduled]`` table: what an operator's own windows (``ctmaint add``) avoid, say by
default and send."""

from __future__ import annotations

from datetime import time, timedelta

from msgspec import Struct

from ctmaint.model.policy.calendars import IMPACT
from ctmaint.model.policy.table import Table, one_of, positive_duration
from ctmaint.model.times import parse_local_time
from ctmaint.model.vocabulary import UNSCHEDULED_STAGES, Impact, Stage

UNSCHEDULED_KEYS = ("avoid_from", "avoid_until", "impact", "notices", "status_page", "max_duration")
_UNSCHEDULED_STAGE = one_of(UNSCHEDULED_STAGES)
_MAX_DURATION = positive_duration("31d")


class UnscheduledSpec(Struct, frozen=True):
    """The ``[unscheduled]`` table: the hours to avoid, the default impact, the notices."""

    avoid_from: time
    avoid_until: time
    impact: Impact
    notices: tuple[Stage, ...]
    status_page: bool
    max_duration: timedelta = timedelta(days=31)  # the longest an operator's window may be

    @classmethod
    def from_toml(cls, table: Table) -> UnscheduledSpec:
        """Every key has a default (an absent table avoids 05:00 to 23:00); a refused value
        is reported and its default stands in."""
        table.known(UNSCHEDULED_KEYS)
        avoid_from = table.optional("avoid_from", parse_local_time, time(5))
        avoid_until = table.optional("avoid_until", parse_local_time, time(23))
        impact = table.optional("impact", IMPACT, Impact.DEGRADED)
        notices = []
        for text in table.optional_strings("notices", UNSCHEDULED_STAGES):
            stage = table.parsed("notices", text, _UNSCHEDULED_STAGE)
            if stage is not None:
                notices.append(stage)
        status_page = table.optional("status_page", bool, True)
        longest = table.optional("max_duration", _MAX_DURATION, timedelta(days=31))
        return cls(avoid_from, avoid_until, impact, tuple(notices), status_page, longest)
