"""Windows as JSON records and as a plain-text table for the terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ctmaint.cli.table import format_table
from ctmaint.model.changes import Change
from ctmaint.model.times import RangeForm, human_local, human_utc, local_iso, range_ends, utc_z
from ctmaint.model.vocabulary import EMAIL
from ctmaint.model.windows import Window
from ctmaint.sending.plan import Expire, SendPlan
from ctmaint.sending.report import by_channel
from ctmaint.usecases.records import HistoryEntry, PlannedNotice


def window_record(window: Window, zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    """The contract's JSON shape of a window (``upcoming --format json``). ``sequence`` is
    the calendar's SEQUENCE as of ``now`` (:meth:`Window.revision`, which the .ics uses too):
    operator changes, and one each for the start and the end once passed."""
    revision = window.revision(now)
    return {
        "id": window.id,
        "calendar": window.calendar,
        "title": window.title,
        "start": local_iso(window.start, zone),
        "end": local_iso(window.end, zone),
        "start_utc": utc_z(window.start),
        "end_utc": utc_z(window.end),
        "products": list(window.products),
        "impact": window.impact,
        "status": revision.status,
        "summary": window.summary,
        "description": window.description,
        "justification": window.justification,
        "sequence": revision.sequence,
    }


def window_table(
    windows: Sequence[Window], zone: ZoneInfo, label: str, now: datetime, width: int = 100
) -> str:
    """Id, local start and end with the zone's abbreviation, UTC start, impact, status and
    products, in ``width`` columns (see :mod:`ctmaint.cli.table`): products wrap first,
    then impact, status and the times (the date above the time). An end within six days
    of the start leaves out its date (``Sat 04:00 MST``)."""
    local = f"({label})" if label else f"({zone.key})"
    header = ["ID", f"START {local}", f"END {local}", "START (UTC)", "IMPACT", "STATUS", "PRODUCTS"]
    rows = [
        [
            w.id,
            *range_ends(w.start, w.end, zone, RangeForm.COLUMNS),
            w.start.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            w.impact,
            w.status(now),
            ", ".join(w.products),
        ]
        for w in windows
    ]
    flexible = [(6, 8), (4, 10), (5, 9), (3, 10), (2, 9), (1, 14)]
    return format_table(header, rows, width, flexible, stepped=frozenset({1, 2, 3}))


def notice_record(planned: PlannedNotice, zone: ZoneInfo) -> dict[str, Any]:
    """The contract's JSON shape of a planned notice (``notices --format json``)."""
    notice = planned.notice
    return {
        "id": notice.id,
        "window": notice.window.id,
        "stage": notice.stage,
        "due": local_iso(notice.due, zone),
        "due_utc": utc_z(notice.due),
        "expires": local_iso(notice.expires, zone),
        "recipients": planned.recipients,
        "channels": planned.channels,
        "state": planned.state,
    }


def notice_table(
    planned: Sequence[PlannedNotice], zone: ZoneInfo, label: str, width: int = 100
) -> str:
    """Notice id, due time (local and UTC), recipients and state; the times wrap first."""
    local = f"({label})" if label else f"({zone.key})"
    header = ["NOTICE", f"DUE {local}", "DUE (UTC)", "RECIPIENTS", "STATE"]
    rows = [
        [
            p.notice.id,
            human_local(p.notice.due, zone),
            human_utc(p.notice.due),
            f"{p.recipients}{by_channel(p.channels)}",
            p.state,
        ]
        for p in planned
    ]
    return format_table(header, rows, width, [(2, 14), (1, 14)], stepped=frozenset({1, 2}))


def history_record(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "notice": entry.notice_id,
        **entry.counts(),
        "first_sent": entry.first_sent,
        "last_sent": entry.last_sent,
        "transport": entry.transport,
        "channels": entry.channels,
        "message_ids": entry.message_ids,
        "errors": entry.errors,
        "notes": entry.notes,
    }


def history_table(entries: Sequence[HistoryEntry], width: int = 100) -> str:
    """A row per notice (its deliveries counted by state), then what failed, notes and
    SendGrid's message ids; ``--format json`` has every field."""
    header = ["NOTICE", "DELIVERIES", "LAST SENT (UTC)", "TRANSPORT"]
    rows = [
        [e.notice_id, _counts(e), e.last_sent or "-", ", ".join(e.transports) or "-"]
        for e in entries
    ]
    table = format_table(header, rows, width, [(1, 12), (0, 20)])
    sections = {
        "failures": [f"{e.notice_id}: {error}" for e in entries for error in e.errors],
        "notes": [f"{e.notice_id}: {note}" for e in entries for note in e.notes],
        "message ids": [
            f"{e.notice_id}: {', '.join(e.message_ids)}"
            for e in entries
            if e.transport == "sendgrid" and e.message_ids
        ],
    }
    for title, lines in sections.items():
        if lines:
            wrapped = (
                textwrap.fill(line, width, initial_indent="  ", subsequent_indent="    ")
                for line in lines
            )
            table += f"\n{title}:\n" + "\n".join(wrapped)
    return table


def _counts(entry: HistoryEntry) -> str:
    """``sent 4, failed 1``: the states that have deliveries, in a fixed order."""
    counts = entry.counts()
    return ", ".join(f"{state} {n}" for state, n in counts.items() if n) or "none"


def change_record(change: Change, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "window": change.window_id,
        "change": change.kind,
        "made_at": local_iso(change.made_at, zone),
        "made_by": change.made_by,
        "fields": change.event.to_json(),
    }


def change_table(changes: Sequence[Change], zone: ZoneInfo, width: int = 100) -> str:
    """A row per operator change; its details (each value cut at 40 characters) wrap."""
    header = ["WINDOW", "CHANGE", "MADE", "BY", "DETAILS"]
    rows = [
        [
            c.window_id,
            c.kind,
            human_local(c.made_at, zone),
            c.made_by,
            "; ".join(f"{k}={_short(v)}" for k, v in sorted(c.event.to_json().items())),
        ]
        for c in changes
    ]
    return format_table(header, rows, width, [(4, 24), (2, 14)], stepped=frozenset({2}))


def _short(value: object, width: int = 40) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def plan_record(plan: SendPlan) -> dict[str, Any]:
    """``send --dry-run --format json``: every action of the send plan."""
    deliveries, posts, expired = [], [], []
    for step in plan.steps:
        if isinstance(step, Expire):
            expired.append({"notice": step.notice.id, "recipients": step.count})
            continue
        notice_id = step.due.notice.id
        if step.send:
            deliveries.append(
                {
                    "notice": notice_id,
                    "stage": str(step.due.notice.stage),
                    "window": step.due.notice.window.id,
                    "recipients": len(step.send),
                    "addresses": [r.email for r in step.send if r.channel == EMAIL],
                    "subscriptions": [
                        {"channel": r.channel, "organization": r.organization, "key": r.email}
                        for r in step.send
                        if r.channel != EMAIL
                    ],
                }
            )
        if step.post:
            posts.append(notice_id)
    return {
        "deliveries": deliveries,
        "posts": posts,
        "expired": expired,
        "no_recipients": [notice.id for notice in plan.nobody],
        "in_flight_resent": plan.resent_in_flight,
        "uncertain_resent": len(plan.resend_uncertain),
        "given_up": len(plan.give_up),
        "cancelled": len(plan.cancel),
    }
