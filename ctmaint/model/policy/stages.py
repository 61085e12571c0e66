"""The ``[stages]`` table: when each lead notice (a week, a day before) is due."""

from __future__ import annotations

from datetime import time, timedelta

from msgspec import Struct

from ctmaint.model.policy.table import Table
from ctmaint.model.times import parse_duration, parse_local_time
from ctmaint.model.vocabulary import LEAD_STAGES, Stage

STAGE_KEYS = ("before", "at")


class LeadStage(Struct, frozen=True):
    """A reminder due ``before`` the window's start, moved to local time ``at`` if given."""

    name: str
    before: timedelta
    at: time | None

    @classmethod
    def from_toml(cls, name: Stage, table: Table) -> LeadStage | None:
        """The ``[stages.NAME]`` table, or None when ``before`` is missing or refused."""
        table.known(STAGE_KEYS)
        before = table.required("before", parse_duration)
        at_text = table.optional("at", str, "")  # empty, like absent: no time of day
        at = table.parsed("at", at_text, parse_local_time) if at_text else None
        if before is not None and before <= timedelta(0):  # after `at`: the order `check` shows
            table.report("before", "must be longer than 0, like 7d or 24h")
            return None
        return None if before is None else cls(name, before, at)


def stages_from_toml(table: Table) -> dict[str, LeadStage]:
    """The lead stages the policy times, by name (a calendar may ask only for these)."""
    table.known(LEAD_STAGES)
    stages: dict[str, LeadStage] = {}
    for name in LEAD_STAGES:
        if name in table:
            stage = LeadStage.from_toml(name, table.table(name))
            if stage is not None:
                stages[name] = stage
    return stages
