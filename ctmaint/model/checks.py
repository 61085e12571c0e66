"""The checks the events share: an operator's text, a window that can still change, a span
in range and in order, products and hours the policy allows, the next unscheduled id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta

from ctmaint.errors import Input, ScheduleError, UsageError
from ctmaint.model.policy import UNSCHEDULED, Policy
from ctmaint.model.text import bad_character, plural
from ctmaint.model.times import check_in_range, format_duration, utc_z
from ctmaint.model.windows import Window


def check_text(name: str, text: str, *, multiline: bool) -> None:
    """An operator's text: not empty, and no control characters (they would reach email
    headers, feeds and the `history` table)."""
    if not text.strip():
        what = "the notes are" if name == "notes" else f"the {name} is"
        raise ScheduleError(f"{what} empty; give the text customers are to read", about=Input(name))
    problem = bad_character(text, multiline=multiline)
    if problem is not None:
        fix = "use plain line breaks" if multiline else "write it on one line"
        raise ScheduleError(f"the {name} {problem}; {fix}", about=Input(name))


def check_author(by: str) -> None:
    check_text("author", by, multiline=False)


def check_changeable(window: Window, now: datetime) -> None:
    if window.cancelled:
        raise ScheduleError(f"{window.id} is already cancelled")
    if now >= window.end:
        raise ScheduleError(
            f"{window.id} ended at {utc_z(window.end)}; a window that has ended cannot be changed"
        )


def check_span(start: datetime, end: datetime, now: datetime, ended: bool | None = None) -> None:
    """The start and end are in range and in order, and the end is still to come. New work
    says whether it has ``ended``: then its end must be past, and a past end without it is
    refused with the way to record work already done."""
    for moment, name in ((start, "start"), (end, "end")):
        try:
            check_in_range(moment, f"the {name}")
        except ValueError as error:
            raise ScheduleError(str(error), about=Input(name)) from None
    if end <= start:
        raise ScheduleError(
            f"the end {utc_z(end)} is not after the start {utc_z(start)}", about=Input.END
        )
    past = f"the window would end at {utc_z(end)}, which is already past"
    if end <= now and ended is None:
        raise ScheduleError(past, about=Input.END)
    if end <= now and ended is False:
        raise ScheduleError(
            f"{past}; to record work that has already ended, mark it as ended", about=Input.ENDED
        )
    if end > now and ended:
        raise ScheduleError(
            f"the window ends at {utc_z(end)}, which is not past yet, so it has not ended",
            about=Input.ENDED,
        )


def check_published(policy: Policy, end: datetime, now: datetime) -> None:
    """Work recorded after it ended must still be in the published span, or no feed, page
    or notice would ever show it."""
    oldest = now - timedelta(days=policy.days_back)
    if end < oldest:
        raise ScheduleError(
            f"the window ended at {utc_z(end)}, before the {plural(policy.days_back, 'day')} "
            "the feeds and status page show (policy: publish.days_back)",
            about=Input.END,
        )


def check_length(start: datetime, end: datetime, limit: timedelta) -> None:
    if end - start > limit:
        raise ScheduleError(
            f"the window would last {format_duration(end - start)}, longer than the "
            f"{plural(limit.days, 'day')} allowed "
            "(policy: unscheduled.max_duration)",
            about=Input.END,
        )


def longest(policy: Policy, window: Window) -> timedelta:
    """The longest a window may become: the policy's limit, or its rule's own length."""
    spec = policy.calendars.get(window.calendar)
    limit = policy.unscheduled.max_duration
    return max(limit, spec.duration) if spec is not None else limit


def check_products(policy: Policy, products: Sequence[str]) -> None:
    """Products named by an operator; an unknown one is a usage error, as in every command."""
    if not products:
        raise UsageError("no products given; name the products affected", about=Input.PRODUCTS)
    unknown = [p for p in products if p not in policy.products]
    if unknown:
        raise UsageError(
            f"'{unknown[0]}' is not a product; known: {', '.join(policy.products)}",
            about=Input.PRODUCTS,
        )


def next_unscheduled_id(policy: Policy, existing: Iterable[str], start: datetime) -> str:
    """``unscheduled-<local date>-<n>``, n one more than any taken that day."""
    day = start.astimezone(policy.zone).date().isoformat()
    prefix = f"{UNSCHEDULED}-{day}-"
    taken = [
        int(i[len(prefix) :])
        for i in existing
        if i.startswith(prefix) and i[len(prefix) :].isdigit()
    ]
    return f"{prefix}{max(taken, default=0) + 1}"


def inside_avoided_hours(policy: Policy, start: datetime, end: datetime) -> datetime | None:
    """The first moment of [start, end) inside the hours unscheduled work should avoid."""
    spec, zone = policy.unscheduled, policy.zone
    day = start.astimezone(zone).date() - timedelta(days=1)
    while datetime.combine(day, time(0), zone) < end:
        busy_from = datetime.combine(day, spec.avoid_from, zone)
        busy_until = datetime.combine(day, spec.avoid_until, zone)
        if start < busy_until and end > busy_from:
            return max(start, busy_from)
        day += timedelta(days=1)
    return None
