"""The only module that reads the real clock. Everything else is handed ``now``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ctmaint.model.times import parse_instant


def resolve_now(text: str | None, source: str) -> datetime:
    """``text`` if given (ISO 8601 with offset; ``source`` names where it came from in an
    error), else the real time in UTC."""
    if text is not None:  # an empty --now is a mistake, not a request for the real clock
        return parse_instant(text, source)
    return datetime.now(UTC)


def real_time() -> float:
    """Seconds since the epoch, for waits on real servers (rate-limit resets), never for rules."""
    return time.time()


def monotonic() -> float:
    """Seconds on a clock that never goes back, for a run's time budget."""
    return time.monotonic()


def sleep(seconds: float) -> None:
    time.sleep(seconds)
