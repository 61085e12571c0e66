"""The ``[sendgrid]`` and ``[channels]`` tables (patience with SendGrid, and with the hosts
that subscriptions post to) and the ``[send]`` table (a run's time budget): how a run
delivers, every key with a default."""

from __future__ import annotations

from datetime import timedelta

from msgspec import Struct

from ctmaint.model.policy.table import Table
from ctmaint.model.times import parse_duration

SEND_KEYS = ("time_budget",)
# Each [sendgrid] or [channels] setting's largest sensible value: patience that cannot
# outlast a cron run.
PATIENCE_LIMITS = {
    "retries": 10,
    "backoff_seconds": 60,
    "max_wait_seconds": 600,
    "timeout_seconds": 300,
    "down_after": 100,
    "concurrency": 32,
}


class Patience(Struct, frozen=True):
    """Patience with a provider (SendGrid, or each host a subscription posts to): tries
    after the first, backoff, longest 429 wait, timeout, silences before it is down for the
    run, and requests in flight."""

    retries: int = 3
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 60.0
    timeout_seconds: float = 30.0
    down_after: int = 3  # requests in a row unanswered: the provider is down for this run
    concurrency: int = 8  # requests in flight at once

    @classmethod
    def from_toml(cls, table: Table) -> Patience:
        """Each key a number from 0 to its limit in PATIENCE_LIMITS; the defaults unless
        all are accepted. A zero timeout means the default one, and at least one request
        is in flight and one silence ends the run's patience."""
        defaults = cls()
        keys = tuple(cls.__struct_fields__)
        table.known(keys)
        values: dict[str, float] = {}
        for key in keys:
            value = table.get(key, getattr(defaults, key))
            limit = PATIENCE_LIMITS[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                table.report(key, f"must be a number from 0 to {limit}, not {value!r}")
            elif not 0 <= value <= limit:
                table.report(key, f"must be from 0 to {limit}, not {value!r}")
            else:
                values[key] = value
        if len(values) < len(keys):
            return defaults
        return cls(
            retries=int(values["retries"]),
            backoff_seconds=values["backoff_seconds"],
            max_wait_seconds=values["max_wait_seconds"],
            timeout_seconds=values["timeout_seconds"] or defaults.timeout_seconds,
            down_after=max(1, int(values["down_after"])),
            concurrency=max(1, int(values["concurrency"])),
        )


class SendSettings(Struct, frozen=True):
    """A run's time budget: past it, what is left waits for the next run (cron's interval
    is the natural bound; the default stays well under the usual five minutes)."""

    time_budget: timedelta = timedelta(minutes=4)

    @classmethod
    def from_toml(cls, table: Table) -> SendSettings:
        table.known(SEND_KEYS)
        return cls(table.optional("time_budget", _time_budget, cls().time_budget))


def _time_budget(text: str) -> timedelta:
    budget = parse_duration(text)
    if not timedelta(minutes=1) <= budget <= timedelta(hours=1):
        raise ValueError(f"must be from 1m to 1h, like 4m, not {text}")
    return budget
