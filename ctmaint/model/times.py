"""Parsing and formatting of instants, local times and durations.

Rules for local wall times that a zone skips or repeats (RFC 5545, section 3.3.5):

* a time that does not exist (the hour skipped when clocks spring forward) is read with
  the offset in force before the change, so 02:30 on spring-forward day in America/Denver
  becomes 03:30 MDT: the window starts as late into the gap as it would have lasted;
* a time that repeats (the hour when clocks fall back) is the first of the two, the one
  with the offset in force before the change.

Calendar clients apply the same reading to TZID times, so feeds and notices agree.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ctmaint.errors import UsageError

# The span any time may take: wide enough for every real window, narrow enough that no sum
# or difference of two such times leaves what datetime can hold (an OverflowError).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
LONGEST_DURATION = timedelta(days=366)

_DURATION = re.compile(r"^(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?$")


def parse_duration(text: str) -> timedelta:
    """Read a duration such as ``6h``, ``30m``, ``1h30m``, ``7d`` or ``3w``.

    Raises ValueError with a sentence naming the accepted form.
    """
    match = _DURATION.match(text.strip().lower().replace(" ", ""))
    if not text.strip() or match is None:
        raise ValueError(f"'{text}' is not a duration; write it like 30m, 6h, 1h30m, 7d or 3w")
    parts = {key: int(value) for key, value in match.groupdict(default="0").items()}
    minutes = ((parts["w"] * 7 + parts["d"]) * 24 + parts["h"]) * 60 + parts["m"]
    if minutes > LONGEST_DURATION.total_seconds() // 60:
        raise ValueError(f"'{text}' is longer than {LONGEST_DURATION.days} days")
    return timedelta(minutes=minutes)


def format_duration(span: timedelta) -> str:
    """The inverse of :func:`parse_duration` (``timedelta(hours=6)`` -> ``6h``)."""
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return text or "0m"


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone by name; ValueError with a sentence if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{name}' is not an IANA time zone; use a name like America/Denver or Europe/London"
        ) from None


def parse_instant(text: str, option: str) -> datetime:
    """Read an ISO 8601 date-time that carries an offset (``Z`` or ``+hh:mm``), between
    :data:`EARLIEST` and :data:`LATEST`.

    ``option`` names the option or key for the error message. Naive times are refused
    rather than guessed: the machine's zone is not the provider's.
    """
    stripped = text.strip()
    try:
        value = datetime.fromisoformat(stripped)
    except ValueError:
        raise UsageError(
            f"{option} '{text}' is not an ISO 8601 time; write it like 2026-12-18T22:00-07:00"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        wall = stripped if "T" in stripped or " " in stripped else f"{stripped}T00:00"
        raise UsageError(
            f"{option} '{text}' has no UTC offset; add one, like {wall}-07:00 or {wall}Z"
        )
    try:
        check_in_range(value, option)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return value


def check_in_range(moment: datetime, what: str) -> None:
    """ValueError with a sentence unless ``moment`` lies in [EARLIEST, LATEST)."""
    if not EARLIEST <= moment < LATEST:
        raise ValueError(
            f"{what} {moment.isoformat()} is outside the years ctmaint handles "
            f"({EARLIEST.year} to {LATEST.year - 1})"
        )


def parse_local_time(text: str) -> time:
    """Read ``HH:MM``; ValueError with a sentence otherwise."""
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a time of day; write it like 09:00") from None


def localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """Attach ``zone`` to a naive wall time by the rules in this module's docstring.

    The result is normalized: a skipped time comes back as the real wall time it denotes
    (02:30 on spring-forward day -> 03:30), a repeated one with ``fold=0``.
    """
    aware = wall.replace(tzinfo=zone, fold=0)
    return aware.astimezone(UTC).astimezone(zone)


def at_local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``clock`` in ``zone`` (see :func:`localize`)."""
    return localize(datetime.combine(day, clock), zone)


def utc_z(moment: datetime) -> str:
    """ISO 8601 in UTC ending in ``Z``, to the second: ``2026-12-19T05:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_iso(moment: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 in ``zone`` with its offset: ``2026-12-18T22:00:00-07:00``."""
    return moment.astimezone(zone).isoformat(timespec="seconds")


def human_local(moment: datetime, zone: tzinfo) -> str:
    """``Fri 2026-12-18 22:00 MST``: weekday, date, time and the zone's abbreviation."""
    local = moment.astimezone(zone)
    return local.strftime("%a %Y-%m-%d %H:%M ") + _abbreviation(local)


def _abbreviation(local: datetime) -> str:
    """The abbreviation in force at ``local`` (``MDT``), or its offset where the zone has none."""
    return local.tzname() or local.strftime("%z")


class RangeForm(Enum):
    """How :func:`range_ends` writes the two ends of a span of time."""

    FULL = "full"  # each end whole: details, pages
    TITLE = "title"  # one line, as short as it can be read right: feed titles
    COLUMNS = "columns"  # two table cells, each read on its own: ``upcoming``


def range_ends(
    start: datetime, end: datetime, zone: tzinfo, form: RangeForm = RangeForm.FULL
) -> tuple[str, str]:
    """The start and the end of a span of time as written in ``zone``: the one home of
    that wording, for every output that states a window.

    An end's time is always read with the abbreviation in force at that end, so a span
    across a clock change names each end's own (``01:15 MDT`` to ``01:15 MST``).

    * ``FULL``: both ends whole, each with its abbreviation:
      ``Fri 2026-12-18 22:00 MST``, ``Sat 2026-12-19 04:00 MST``.
    * ``TITLE``: the end leaves out its weekday and date when it falls on the start's
      date; when both ends share an abbreviation it is written once, after the end
      (``Fri 2026-12-18 20:00``, ``23:00 MST``), else each end carries its own
      (``Sun 2027-11-07 01:15 MDT``, ``01:15 MST``).
    * ``COLUMNS``: each end with its abbreviation; the end leaves out its date (not its
      weekday) when it is less than six days after the start (``Sat 04:00 MST``).
    """
    first, last = start.astimezone(zone), end.astimezone(zone)
    whole = "%a %Y-%m-%d %H:%M"
    if form is RangeForm.TITLE:
        shown = "%H:%M" if last.date() == first.date() else whole
        once = _abbreviation(first) == _abbreviation(last)
    else:
        near = form is RangeForm.COLUMNS and end - start < timedelta(days=6)
        shown = "%a %H:%M" if near else whole
        once = False
    opening = first.strftime(whole) if once else human_local(first, zone)
    return opening, f"{last.strftime(shown)} {_abbreviation(last)}"


def local_range(
    start: datetime, end: datetime, zone: tzinfo, form: RangeForm = RangeForm.FULL
) -> str:
    """``Fri 2026-12-18 22:00 MST to Sat 2026-12-19 04:00 MST`` (see :func:`range_ends`)."""
    return " to ".join(range_ends(start, end, zone, form))


def human_utc(moment: datetime) -> str:
    """``Sat 2026-12-19 05:00 UTC``."""
    return human_local(moment, UTC)
