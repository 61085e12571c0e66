"""Operator changes: unscheduled work, and changes to one window, over the policy's rules.

Changes are a log (the ledger's ``changes`` table), applied in order to the window the
rules made (or, for ``add``, to nothing). Every change but ``follow-up`` raises the
window's SEQUENCE and moves its DTSTAMP. Each ``check_*`` function validates one command
against the window as it stands and returns the fields to store, or raises ScheduleError
with one sentence: nothing is stored for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ctmaint.errors import ScheduleError
from ctmaint.notices import Notice
from ctmaint.policy import IMPACTS, UNSCHEDULED, Policy
from ctmaint.schedule import Window, elapsed_end, windows_between
from ctmaint.times import human_local, utc_z

NOTIFYING = ("cancel", "reschedule", "extend", "follow-up")
EDITABLE = ("summary", "description", "justification", "products", "impact")
FOLLOW_UP_GRACE = timedelta(days=7)
CANCEL_GRACE = timedelta(hours=24)
_ID_DATE = re.compile(r"^(?P<calendar>.+)-(?P<date>\d{4}-\d\d-\d\d)$")


@dataclass(frozen=True)
class Change:
    seq: int
    window_id: str
    kind: str
    fields: dict[str, Any]
    made_at: datetime
    made_by: str


# -- applying ---------------------------------------------------------------------------------


def schedule(
    policy: Policy, changes: Sequence[Change], start: datetime, end: datetime
) -> list[Window]:
    """Windows overlapping [start, end): the rules' windows with every change applied."""
    changed = changed_windows(policy, changes)
    ids = {w.id for w in changed}
    found = [w for w in windows_between(policy, start, end) if w.id not in ids]
    found += [w for w in changed if w.overlaps(start, end)]
    return sorted(found, key=lambda w: (w.start.timestamp(), w.id))


def changed_windows(policy: Policy, changes: Sequence[Change]) -> list[Window]:
    """Every window that has changes, wherever it now lies in time."""
    found = (final_window(policy, wid, log) for wid, log in group(changes).items())
    return [w for w in found if w is not None]


def group(changes: Iterable[Change]) -> dict[str, list[Change]]:
    by_window: dict[str, list[Change]] = {}
    for change in sorted(changes, key=lambda c: c.seq):
        by_window.setdefault(change.window_id, []).append(change)
    return by_window


def final_window(policy: Policy, window_id: str, log: Sequence[Change]) -> Window | None:
    """The window ``window_id`` after its changes, or None if it does not exist."""
    window = None if log and log[0].kind == "add" else rule_window(policy, window_id)
    for change in log:
        window = apply(policy, window, change)
    return window


def rule_window(policy: Policy, window_id: str) -> Window | None:
    """The window the rules make with this id (``<calendar>-<local start date>``)."""
    match = _ID_DATE.match(window_id)
    if match is None or match["calendar"] not in policy.calendars:
        return None
    try:
        day = date.fromisoformat(match["date"])
    except ValueError:
        return None
    start = datetime.combine(day, time(0), policy.zone)
    for window in windows_between(policy, start, start + timedelta(days=1)):
        if window.id == window_id:
            return window
    return None


def apply(policy: Policy, window: Window | None, change: Change) -> Window | None:
    """``window`` after ``change``."""
    fields, zone = change.fields, policy.zone
    if change.kind == "add":
        spec = policy.unscheduled
        return Window(
            id=change.window_id,
            calendar=UNSCHEDULED,
            title=fields["summary"],  # unscheduled work is named by what the operator wrote
            start=_instant(fields["start"], policy),
            end=_instant(fields["end"], policy),
            products=tuple(fields["products"]),
            impact=fields.get("impact") or spec.impact,
            summary=fields["summary"],
            description=fields["description"],
            justification=fields["justification"],
            created_at=change.made_at,
            changed_at=change.made_at,
        )
    if window is None:
        return None
    if change.kind == "follow-up":
        return window  # a note about the window, not a change to it
    changed = replace(window, sequence=window.sequence + 1, changed_at=change.made_at)
    if change.kind == "edit":
        values: dict[str, Any] = {k: tuple(v) if k == "products" else v for k, v in fields.items()}
        if "summary" in values and window.calendar == UNSCHEDULED:
            values["title"] = values["summary"]
        fields_so_far = tuple(dict.fromkeys([*window.edited_fields, *values]))
        return replace(changed, **values, edited_at=change.made_at, edited_fields=fields_so_far)
    if change.kind == "cancel":
        return replace(changed, cancelled=True)
    if change.kind == "reschedule":
        return replace(
            changed, start=_instant(fields["start"], policy), end=_instant(fields["end"], policy)
        )
    if change.kind in ("extend", "complete"):
        return replace(changed, end=_instant(fields["end"], policy).astimezone(zone))
    raise ValueError(f"unknown change kind {change.kind!r}")


def _instant(text: str, policy: Policy) -> datetime:
    return datetime.fromisoformat(text).astimezone(policy.zone)


# -- notices of changes -----------------------------------------------------------------------


def change_notices(
    policy: Policy, windows: Sequence[Window], changes: Sequence[Change]
) -> list[Notice]:
    """The cancel, reschedule, extend and follow-up notices of ``windows``, due when made."""
    current = {w.id: w for w in windows}
    notices = []
    for window_id, log in group(changes).items():
        window = current.get(window_id)
        if window is None:
            continue
        seen: dict[str, int] = {}
        for change in log:
            if change.kind not in NOTIFYING:
                continue
            seen[change.kind] = seen.get(change.kind, 0) + 1
            made = change.made_at.astimezone(UTC)
            expires = {
                "cancel": max(window.end.astimezone(UTC), made + CANCEL_GRACE),
                "follow-up": made + FOLLOW_UP_GRACE,
            }.get(change.kind, window.end.astimezone(UTC))
            notices.append(
                Notice(
                    window,
                    change.kind,
                    made,
                    expires,
                    ordinal=seen[change.kind],
                    note=_note(change, policy),
                    to_told=True,
                )
            )
    return notices


def _note(change: Change, policy: Policy) -> str:
    fields = change.fields
    if change.kind == "cancel":
        return f"Reason: {fields['reason']}"
    if change.kind == "follow-up":
        return str(fields["notes"])
    if change.kind == "reschedule":
        was = _instant(fields["was_start"], policy)
        return f"It was planned for {human_local(was, policy.zone)}."
    if change.kind == "extend":
        was = _instant(fields["was_end"], policy)
        return f"It was planned to end {human_local(was, policy.zone)}."
    return ""


# -- validating commands ----------------------------------------------------------------------


def check_add(
    policy: Policy,
    existing: Sequence[str],
    now: datetime,
    start: datetime,
    end: datetime,
    products: Sequence[str],
    texts: dict[str, str],
    impact: str | None,
    urgent: bool,
) -> tuple[str, dict[str, Any]]:
    """The id and fields of new unscheduled work. ``existing``: all window ids with changes."""
    _check_span(start, end, now)
    _check_products(policy, products)
    _check_impact(impact)
    for key, text in texts.items():
        if not text.strip():
            raise ScheduleError(f"--{key} is empty; every notice states it")
    busy = _inside_avoided_hours(policy, start, end)
    if busy is not None and not urgent:
        spec = policy.unscheduled
        raise ScheduleError(
            f"unscheduled work should fall outside {spec.avoid_from:%H:%M}-"
            f"{spec.avoid_until:%H:%M} {policy.provider.zone_label or policy.zone.key}, and this "
            f"runs at {human_local(busy, policy.zone)}; move it, or pass --urgent if it cannot wait"
        )
    day = start.astimezone(policy.zone).date().isoformat()
    prefix = f"{UNSCHEDULED}-{day}-"
    taken = [
        int(i[len(prefix) :])
        for i in existing
        if i.startswith(prefix) and i[len(prefix) :].isdigit()
    ]
    window_id = f"{prefix}{max(taken, default=0) + 1}"
    fields = {
        "start": utc_z(start),
        "end": utc_z(end),
        "products": list(products),
        "impact": impact or policy.unscheduled.impact,
        "urgent": urgent,
        **texts,
    }
    return window_id, fields


def check_edit(
    policy: Policy, window: Window, now: datetime, values: dict[str, Any]
) -> dict[str, Any]:
    _check_changeable(window, now)
    if not values:
        raise ScheduleError(
            "nothing to edit; give --summary, --description, --justification, --products "
            "or --impact"
        )
    if "products" in values:
        _check_products(policy, values["products"])
        values = {**values, "products": list(values["products"])}
    _check_impact(values.get("impact"))
    return values


def check_cancel(window: Window, now: datetime, reason: str) -> dict[str, Any]:
    _check_changeable(window, now)
    if not reason.strip():
        raise ScheduleError("--reason is empty; customers are told why")
    return {"reason": reason}


def check_reschedule(
    window: Window, now: datetime, start: datetime, end: datetime | None
) -> dict[str, Any]:
    _check_changeable(window, now)
    if start < now:
        raise ScheduleError(
            f"--start {utc_z(start)} is in the past; a window can only move ahead of now"
        )
    end = end or elapsed_end(start, window.end - window.start)
    _check_span(start, end, now)
    return {
        "start": utc_z(start),
        "end": utc_z(end),
        "was_start": utc_z(window.start),
        "was_end": utc_z(window.end),
    }


def check_extend(window: Window, now: datetime, until: datetime) -> dict[str, Any]:
    _check_changeable(window, now)
    if until <= window.end:
        raise ScheduleError(
            f"--until {utc_z(until)} is not after the current end {utc_z(window.end)}; "
            "to end it earlier use `ctmaint complete`"
        )
    return {"end": utc_z(until), "was_end": utc_z(window.end)}


def check_complete(window: Window, now: datetime, at: datetime) -> dict[str, Any]:
    _check_changeable(window, now)
    if at <= window.start:
        raise ScheduleError(
            f"--at {utc_z(at)} is not after the start {utc_z(window.start)}; "
            "to call off work that has not begun use `ctmaint cancel`"
        )
    if at > now:
        raise ScheduleError(f"--at {utc_z(at)} is in the future; complete a window when it is done")
    return {"end": utc_z(at), "was_end": utc_z(window.end)}


def check_follow_up(window: Window, now: datetime, notes: str) -> dict[str, Any]:
    if window.cancelled:
        raise ScheduleError(f"{window.id} was cancelled; there is nothing to follow up")
    if now < window.end:
        raise ScheduleError(
            f"{window.id} has not ended (it ends {utc_z(window.end)}); follow up after it"
        )
    if not notes.strip():
        raise ScheduleError("the follow-up notes are empty")
    return {"notes": notes.strip()}


def _check_changeable(window: Window, now: datetime) -> None:
    if window.cancelled:
        raise ScheduleError(f"{window.id} is already cancelled")
    if now >= window.end:
        raise ScheduleError(
            f"{window.id} ended at {utc_z(window.end)}; a window that has ended cannot be changed"
        )


def _check_span(start: datetime, end: datetime, now: datetime) -> None:
    if end <= start:
        raise ScheduleError(f"the end {utc_z(end)} is not after the start {utc_z(start)}")
    if end <= now:
        raise ScheduleError(f"the window would end at {utc_z(end)}, which is already past")


def _check_products(policy: Policy, products: Sequence[str]) -> None:
    if not products:
        raise ScheduleError("--products is empty; name the products affected")
    unknown = [p for p in products if p not in policy.products]
    if unknown:
        raise ScheduleError(
            f"--products: '{unknown[0]}' is not a product; known: {', '.join(policy.products)}"
        )


def _check_impact(impact: str | None) -> None:
    if impact is not None and impact not in IMPACTS:
        raise ScheduleError(f"--impact '{impact}' is not one of {', '.join(IMPACTS)}")


def _inside_avoided_hours(policy: Policy, start: datetime, end: datetime) -> datetime | None:
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
