"""A VTIMEZONE that every calendar client reads the same way.

icalendar's ``Timezone.from_tzinfo`` groups transitions into observances with ``RDATE``
lists, writes spring-forward onsets in the new offset and puts a COMMENT inside the
VTIMEZONE; ical.js (Thunderbird, Nextcloud) then resolves some onsets an hour off and
libical rejects the COMMENT. This module writes the plainest form RFC 5545 allows:
one observance per transition, each with a single onset and no RRULE, so there is nothing
for a client to expand. That onset is stated twice, as DTSTART and as an RDATE equal to it:
Home Assistant's ``ical`` (reading a TZID it cannot map to its own zone database) expands
an observance's RDATEs and RRULE only, so one with a DTSTART alone never takes effect and
every time reads as UTC; ical.js (which misreads RDATEs listing other onsets) and icalendar
read the repeated onset as the one it is. Section 3.6.5 puts an observance's DTSTART in the
offset in effect *before* the onset (TZOFFSETFROM): the Denver spring-forward onset is
02:00, not 03:00. The transitions come from the zone itself (zoneinfo), found by
sampling once a day and bisecting to the second, so any IANA zone works.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from msgspec import Struct

# An observance whose onset lies before every published time: the offset in effect at
# the start of the span, stated as unchanged since then.
_ORIGIN = datetime(1970, 1, 1)  # noqa: DTZ001 - observance onsets are local wall times
_MARGIN = timedelta(days=2)  # windows may run a little past the published span's last day


class Observance(Struct, frozen=True):
    """One onset: from ``onset`` (UTC) on, the zone has ``offset_to`` and ``name``."""

    onset: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    daylight: bool

    @property
    def local_onset(self) -> datetime:
        """The onset as a naive wall time in the old offset (RFC 5545, 3.6.5)."""
        return (self.onset + self.offset_from).replace(tzinfo=None)


def observances(zone: ZoneInfo, first: date, last: date) -> list[Observance]:
    """The observance in effect on ``first`` and every transition up to ``last``."""
    start = datetime.combine(first, time(0), zone).astimezone(UTC) - _MARGIN
    end = datetime.combine(last, time(0), zone).astimezone(UTC) + _MARGIN
    state = _state(zone, start)
    found = [Observance(_ORIGIN.replace(tzinfo=UTC) - state[0], state[0], *state)]
    day, moment = timedelta(days=1), start
    while moment < end:
        following = min(moment + day, end)
        if _state(zone, following) != state:
            onset = _onset(zone, moment, following)
            new = _state(zone, onset)
            found.append(Observance(onset, state[0], *new))
            state, moment = new, onset
        else:
            moment = following
    return found


def _state(zone: ZoneInfo, instant: datetime) -> tuple[timedelta, str, bool]:
    local = instant.astimezone(zone)
    return (
        local.utcoffset() or timedelta(),
        local.tzname() or "",
        bool(local.dst()),
    )


def _onset(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first second in (before, after] whose state differs from ``before``'s."""
    state = _state(zone, before)
    low, high = 0, int((after - before).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if _state(zone, before + timedelta(seconds=middle)) == state:
            low = middle
        else:
            high = middle
    return before + timedelta(seconds=high)


@functools.lru_cache(maxsize=64)
def vtimezone_ics(zone: ZoneInfo, first: date, last: date) -> bytes:
    """The serialized VTIMEZONE of ``zone`` for times from ``first`` to ``last``."""
    lines = ["BEGIN:VTIMEZONE", f"TZID:{zone.key}", f"X-LIC-LOCATION:{zone.key}"]
    for observance in observances(zone, first, last):
        kind = "DAYLIGHT" if observance.daylight else "STANDARD"
        onset = f"{observance.local_onset:%Y%m%dT%H%M%S}"
        lines += [
            f"BEGIN:{kind}",
            f"DTSTART:{onset}",
            f"RDATE:{onset}",  # the same onset: see the module's docstring
            f"TZNAME:{_text(observance.name)}",
            f"TZOFFSETFROM:{_offset(observance.offset_from)}",
            f"TZOFFSETTO:{_offset(observance.offset_to)}",
            f"END:{kind}",
        ]
    lines.append("END:VTIMEZONE")
    return "".join(f"{line}\r\n" for line in lines).encode()


def _offset(offset: timedelta) -> str:
    """``-0700``; seconds only where the zone has them (LMT-era offsets)."""
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{seconds:02d}" if seconds else "")


def _text(value: str) -> str:
    # Zone abbreviations are short ASCII words or numeric ("+0530"); escape anyway.
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
