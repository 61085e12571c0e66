"""The only module that reads the real clock. Everything else is handed ``now``."""

from __future__ import annotations

from datetime import UTC, datetime

from ctmaint.times import parse_instant


def resolve_now(text: str | None) -> datetime:
    """``--now``/``CTMAINT_NOW`` if given (ISO 8601 with offset), else the real time in UTC."""
    if text:
        return parse_instant(text, "--now")
    return datetime.now(UTC)
