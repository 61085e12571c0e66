"""What the read-only commands show: the windows ahead (`upcoming`), the notices with their
recipients and states (`notices`) and what became of each (`history`). Nothing here
writes; a missing state database reads as empty."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ctmaint.errors import (
    Input,
    UsageError,
)
from ctmaint.model import changes
from ctmaint.model.notices import Notice, Recipient, lookahead, plan
from ctmaint.model.vocabulary import EMAIL, WAITING, DeliveryState
from ctmaint.model.windows import Window
from ctmaint.sending import plan as sendplan
from ctmaint.state.ledger import (
    Deliveries,
    DeliveryRow,
)
from ctmaint.usecases.workspace import (
    Workspace,
    notice_windows,
    schedule,
)

if TYPE_CHECKING:  # the records are imported where they are made
    from ctmaint.usecases.records import History, HistoryEntry, PlannedNotice


def upcoming(workspace: Workspace, days: int, products: tuple[str, ...] = ()) -> list[Window]:
    """Windows that have not ended at ``now`` and start within ``days`` days of it; with
    ``products``, only those affecting at least one of them."""
    policy = workspace.policy
    unknown = [product for product in products if product not in policy.products]
    if unknown:
        raise UsageError(
            f"'{unknown[0]}' is not a product of this policy; known: {', '.join(policy.products)}",
            about=Input.PRODUCTS,
        )
    check_days(days)
    now = workspace.now
    windows = schedule(workspace, now, now + timedelta(days=days))
    return [w for w in windows if not products or set(products) & set(w.products)]


def window_ids(workspace: Workspace) -> list[str]:
    """The ids of every window in the published span and of every changed one: what a
    command taking a window id can be given (shell completion offers them)."""
    policy, now = workspace.policy, workspace.now
    start = now - timedelta(days=policy.days_back)
    windows = notice_windows(workspace, start, now + timedelta(days=policy.days_ahead))
    return [window.id for window in windows]


def planned_notices(workspace: Workspace, days: int) -> list[PlannedNotice]:
    """Notices due from a week ago to ``days`` ahead, with recipients and ledger state,
    and, further back, every notice the next `send` will report as expired."""
    from ctmaint.usecases.records import PlannedNotice

    check_days(days)
    policy, now = workspace.policy, workspace.now
    book = workspace.book
    first, last = now - timedelta(days=7), now + timedelta(days=days)
    with workspace.reading() as ledger:
        back, _ = sendplan.span(policy, now, ledger)  # how far back `send` looks
        start = min(first - policy.longest_window, back)
        windows = notice_windows(workspace, start, last + lookahead(policy))
        notices = plan(policy, windows) + changes.change_notices(policy, windows, workspace.changes)
        deliveries = Deliveries(ledger)
        states = deliveries.states()
        rows = deliveries.rows()
        told = sendplan.told(rows)
        since = sendplan.first_send(sendplan.recorded_epoch(deliveries), now)
    shown = []
    channels = _channels_by_notice(rows)
    for notice in sorted(notices, key=lambda n: (n.due, n.id)):
        counts = dict(states.get(notice.id, {}))
        if not notice.is_expired(now) and counts.get(DeliveryState.EXPIRED):
            # expired by a run whose clock was ahead: the next send sends them after all
            expired = counts.pop(DeliveryState.EXPIRED)
            counts[DeliveryState.PENDING] = counts.get(DeliveryState.PENDING, 0) + expired
        missed = not counts and sendplan.missed(notice, since, now)  # as `send` decides
        if not (first <= notice.due <= last or (missed and notice.window.end > back)):
            continue
        if not counts and notice.is_expired(now) and not missed:
            continue
        by_channel = channels.get(notice.id)
        if by_channel is None:
            by_channel = _count_channels(sendplan.addressees(notice, book, told))
        total = sum(counts.values()) or sum(by_channel.values())
        if total == 0 and notice.due < first:
            continue  # nobody to tell, so `send` reports nothing
        state = notice_state(notice, counts, now)
        if total == 0 and not notice.to_told:
            state = NO_RECIPIENTS  # a problem `send` reports: the contacts are wrong
        elif total == 0 and notice.due <= now and state == "pending":
            state = "sent"  # nobody was told of the window, so nobody needs telling
        shown.append(PlannedNotice(notice, total, state, by_channel))
    return shown


def _channels_by_notice(rows: Sequence[DeliveryRow]) -> dict[str, dict[str, int]]:
    """``notice id -> channel -> rows``: whom the ledger holds each notice for."""
    found: dict[str, Counter[str]] = {}
    for row in rows:
        found.setdefault(row.notice_id, Counter())[row.channel] += 1
    return {notice_id: dict(counts) for notice_id, counts in found.items()}


def _count_channels(recipients: Sequence[Recipient]) -> dict[str, int]:
    return dict(Counter(recipient.channel for recipient in recipients))


def check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(
            f"the number of days must be 1 to {MAX_DAYS}, not {days}", about=Input.DAYS
        )


MAX_DAYS = 3660
NO_RECIPIENTS = "no recipients"  # the state `notices` shows for a notice nobody would get


def notice_state(notice: Notice, counts: dict[str, int], now: datetime) -> str:
    """pending, sent, failed, expired (a cancelled window's notice included), or partial
    while some recipients are still pending."""
    waiting = sum(counts.get(state, 0) for state in WAITING)
    if not counts:
        return "expired" if notice.is_expired(now) else "pending"
    if waiting:
        return "partial" if counts.get(DeliveryState.SENT) else "pending"
    for state in (DeliveryState.FAILED, DeliveryState.EXPIRED):
        if counts.get(state):
            return str(state)
    if counts.get(DeliveryState.CANCELLED) and not counts.get(DeliveryState.SENT):
        return "expired"  # the contract's word for a notice that will never be sent
    return "sent"


def history(workspace: Workspace) -> History:
    """What was sent, to how many, when, and what failed, per notice (oldest first), and
    every operator change."""
    from ctmaint.usecases.records import History

    with workspace.reading() as ledger:
        rows = Deliveries(ledger).rows()
    by_notice: dict[str, list[DeliveryRow]] = {}
    for row in rows:
        by_notice.setdefault(row.notice_id, []).append(row)
    return History([_history_entry(n, group) for n, group in by_notice.items()], workspace.changes)


def _history_entry(notice_id: str, group: list[DeliveryRow]) -> HistoryEntry:
    from ctmaint.usecases.records import HISTORY_STATES, HistoryEntry

    sent_times = sorted(r.sent_at for r in group if r.sent_at)
    channels: dict[str, dict[str, int]] = {}
    for row in group:
        counts = channels.setdefault(row.channel, dict.fromkeys(HISTORY_STATES, 0))
        counts[_HISTORY_STATE.get(row.state, str(row.state))] += 1
    email = [r for r in group if r.channel == EMAIL]
    return HistoryEntry(
        notice_id=notice_id,
        sent=sum(r.state is DeliveryState.SENT for r in group),
        failed=sum(r.state is DeliveryState.FAILED for r in group),
        expired=sum(r.state is DeliveryState.EXPIRED for r in group),
        cancelled=sum(r.state is DeliveryState.CANCELLED for r in group),
        pending=sum(r.state in (DeliveryState.PENDING, DeliveryState.SENDING) for r in group),
        uncertain=sum(r.state is DeliveryState.UNCERTAIN for r in group),
        first_sent=sent_times[0] if sent_times else None,
        last_sent=sent_times[-1] if sent_times else None,
        transport=next((r.transport for r in email if r.transport), None),
        message_ids=sorted({r.message_id for r in group if r.message_id}),
        errors=sorted(
            {f"{r.recipient}: {r.error}" for r in group if r.state is DeliveryState.FAILED}
        ),
        notes=sorted(
            {
                f"{r.recipient}: {r.error}"
                for r in group
                if r.state is not DeliveryState.FAILED and r.error
            }
        ),
        channels=channels,
        transports=list(dict.fromkeys(r.transport for r in group if r.transport)),
    )


_HISTORY_STATE = {DeliveryState.SENDING: "pending"}  # a run in progress: still pending


# -- operating on windows ------------------------------------------------------------------------
# Each command reads the change log, checks the change against the window as it stands and
# appends it, in one transaction that holds the write lock: two operators at once are
# serialized, never interleaved.
