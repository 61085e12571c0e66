"""The only module that reads the real clock. Everything else is handed ``now``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ctmaint.times import parse_instant


def resolve_now(text: str | None) -> datetime:
    """``--now``/``CTMAINT_NOW`` if given (ISO 8601 with offset), else the real time in UTC."""
    if text:
        return parse_instant(text, "--now")
    return datetime.now(UTC)


def real_time() -> float:
    """Seconds since the epoch, for waits on real servers (rate-limit resets), never for rules."""
    return time.time()


def sleep(seconds: float) -> None:
    time.sleep(seconds)
