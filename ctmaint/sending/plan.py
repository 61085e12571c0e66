"""The send decision: what `ctmaint send` does at ``now``, as data.

:func:`decide` is a pure function of the policy, the windows, the operator changes, the
contacts, a read of the ledger and ``now``. ``send`` executes the plan it returns and
``send --dry-run`` prints it, so the two cannot disagree. What only the transport can
tell (sent, refused, no answer) is the one thing a plan does not know.

The decisions, in order:

1. Rows a dead run left in ``sending`` were in flight: they are sent again (recovered).
   Rows a run with a clock ahead marked ``expired`` while their notice still means
   something now are sent after all (revived).
   Rows left ``uncertain`` (no answer after sending) are sent once more, or given up
   (``failed``) if they were already resent once.
2. Waiting rows of a cancelled window's notices are never sent: ``cancelled``.
3. Each due notice, oldest first: past its grace period it expires (reported, unless it
   expired before the first send on this ledger); else its new recipients get rows, it is
   posted to the status page once, and every recipient still waiting is sent it.

Who is *told* of a window (and so hears of its cancellation, move or extension) is everyone
a notice of it may have reached: any row that was handed to a transport, unless the
transport refused it outright.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from msgspec import Struct

from ctmaint.model.changes import Change, change_notices
from ctmaint.model.notices import ContactBook, Notice, Recipient, lookahead, plan
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import EMAIL, DeliveryState, Stage
from ctmaint.model.windows import Window, on_status_page
from ctmaint.state.ledger import Deliveries, DeliveryRow, Ledger, RowKey

EPOCH_KEY = "send_epoch"  # the first send's time on this ledger (the earliest clock seen)
LAST_SEND_KEY = "last_send"  # when the last send ran: the next looks back at least as far
LONGEST_LOOK_BACK = timedelta(days=366)  # however long ago the last run was
Told = tuple[str, str]  # the account and channel of someone a notice of a window reached


def span(policy: Policy, now: datetime, ledger: Ledger) -> tuple[datetime, datetime]:
    """Windows whose notices may be due or expiring at ``now``: the published span back
    from now, or from the last send if that was earlier (cron down for longer than
    ``publish.days_back``), so a notice that expired meanwhile is still marked and
    reported, never silently gone."""
    back = timedelta(days=policy.days_back)
    last = Deliveries(ledger).setting(LAST_SEND_KEY)
    since = min(datetime.fromisoformat(last), now) if last else now
    # A run whose clock was far behind does not make the next look back for decades.
    since = max(since, now - LONGEST_LOOK_BACK)
    return since - back, now + lookahead(policy)


def recorded_epoch(deliveries: Deliveries) -> datetime | None:
    """The first send's time as the ledger recorded it, if a send has run."""
    recorded = deliveries.setting(EPOCH_KEY)
    return datetime.fromisoformat(recorded) if recorded else None


def first_send(recorded: datetime | None, now: datetime) -> datetime:
    """When ctmaint first sent from this ledger: the earliest clock a send has seen (a
    first send "after" ``now`` ran with a clock ahead), or ``now`` if none has run yet."""
    return min(recorded, now) if recorded else now


def missed(notice: Notice, epoch: datetime, now: datetime) -> bool:
    """Whether ``notice`` expired unsent after ctmaint began sending here (``epoch``): one
    a send missed and reports. One that expired before the first send is nobody's miss."""
    return notice.is_expired(now) and notice.expires > epoch


def view(deliveries: Deliveries) -> LedgerView:
    """The ledger as the send plan reads it."""
    return LedgerView(deliveries.rows(), frozenset(deliveries.posted()), recorded_epoch(deliveries))


def make_plan(
    policy: Policy,
    ledger: Ledger,
    windows: Sequence[Window],
    changes: Sequence[Change],
    book: ContactBook,
    now: datetime,
) -> SendPlan:
    """The plan of a send at ``now``, from the ledger as it is (see :func:`decide`)."""
    return decide(policy, windows, changes, book, view(Deliveries(ledger)), now)


class LedgerView(Struct, frozen=True):
    """What the plan needs to know of the ledger: its rows, the notices already posted, and
    when the first send ran (None before it)."""

    rows: Sequence[DeliveryRow]
    posted: frozenset[str]
    epoch: datetime | None


class Due(Struct, frozen=True):
    """A notice to act on now, with its current recipients and any note to add."""

    notice: Notice
    recipients: tuple[Recipient, ...]
    note: str = ""


class Expire(Struct, frozen=True):
    """A notice past its grace period: ``waiting`` rows expire, ``missed`` recipients (who
    have no row: nothing was sent) get an expired row."""

    notice: Notice
    waiting: tuple[str, ...]
    missed: tuple[Recipient, ...]

    @property
    def count(self) -> int:
        return len(self.waiting) + len(self.missed)


class Deliver(Struct, frozen=True):
    """A due notice: add rows for ``new`` recipients, post it if ``post``, send to ``send``."""

    due: Due
    new: tuple[Recipient, ...]
    send: tuple[Recipient, ...]
    post: bool


Step = Expire | Deliver


class SendPlan(Struct, frozen=True):
    """Everything a send does at one moment, decided before any of it is done."""

    epoch: datetime
    recover: tuple[RowKey, ...]
    resend_uncertain: tuple[RowKey, ...]
    give_up: tuple[RowKey, ...]
    cancel: tuple[RowKey, ...]
    steps: tuple[Step, ...]
    nobody: tuple[Notice, ...] = ()  # due, still meaningful, and no one to send them to
    revive: tuple[RowKey, ...] = ()  # expired by a clock that ran ahead, and due again now
    waiting: tuple[DeliveryRow, ...] = ()  # pending rows this run leaves for another
    unlisted: tuple[DeliveryRow, ...] = ()  # of those, due now to someone not in the contacts

    @property
    def deliveries(self) -> int:
        return sum(len(s.send) for s in self.steps if isinstance(s, Deliver))

    @property
    def resent_in_flight(self) -> int:
        """How many rows a dead run left in flight are sent again (not those cancelled)."""
        again = {
            (s.due.notice.id, r.email) for s in self.steps if isinstance(s, Deliver) for r in s.send
        }
        return sum(key in again for key in self.recover)


def decide(
    policy: Policy,
    windows: Sequence[Window],
    changes: Sequence[Change],
    book: ContactBook,
    view: LedgerView,
    now: datetime,
) -> SendPlan:
    """The plan of a send at ``now`` to the contacts and subscriptions of ``book`` (see the
    module docstring)."""
    state = {row.key: row.state for row in view.rows}
    recover: list[RowKey] = []
    resend: list[RowKey] = []
    give_up: list[RowKey] = []
    for row in view.rows:
        if row.state is DeliveryState.SENDING:
            recover.append(row.key)
            state[row.key] = DeliveryState.PENDING
        elif row.state is DeliveryState.UNCERTAIN:
            (give_up if row.resent_uncertain else resend).append(row.key)
            state[row.key] = DeliveryState.FAILED if row.resent_uncertain else DeliveryState.PENDING
    cancelled = {w.id for w in windows if w.cancelled}
    cancel = [
        row.key
        for row in view.rows
        if row.window_id in cancelled
        and row.stage != Stage.CANCEL
        and state[row.key] is DeliveryState.PENDING
    ]
    for key in cancel:
        state[key] = DeliveryState.CANCELLED
    epoch = first_send(view.epoch, now)
    ledger = _Ledger.of(view.rows)
    steps: list[Step] = []
    nobody: list[Notice] = []
    dues = due_notices(policy, windows, changes, book, ledger, now)
    revive = _revived(view.rows, dues, now)
    for key in revive:
        state[key] = DeliveryState.PENDING
    for due in dues:
        step = _step(policy, due, ledger, state, view, now)
        if step is not None:
            steps.append(step)
        if reaches_nobody(due.notice, len(due.recipients), ledger.by_notice, now):
            nobody.append(due.notice)
    return SendPlan(
        epoch,
        tuple(recover),
        tuple(resend),
        tuple(give_up),
        tuple(cancel),
        tuple(steps),
        tuple(nobody),
        revive,
        *_left_waiting(view.rows, state, steps, dues),
    )


def _left_waiting(
    rows: Sequence[DeliveryRow],
    state: dict[RowKey, DeliveryState],
    steps: Sequence[Step],
    dues: Sequence[Due],
) -> tuple[tuple[DeliveryRow, ...], tuple[DeliveryRow, ...]]:
    """Rows that stay pending after the plan, and among them those of a notice due now whose
    recipient this host's contacts do not give it (another host's contacts.csv lists them,
    or no longer lists them): another run must send those."""
    handled = {(s.due.notice.id, r.email) for s in steps if isinstance(s, Deliver) for r in s.send}
    handled |= {(s.notice.id, a) for s in steps if isinstance(s, Expire) for a in s.waiting}
    waiting = tuple(
        row for row in rows if state[row.key] is DeliveryState.PENDING and row.key not in handled
    )
    due_to = {d.notice.id: {r.email for r in d.recipients} for d in dues}
    unlisted = tuple(
        row
        for row in waiting
        if row.notice_id in due_to and row.recipient not in due_to[row.notice_id]
    )
    return waiting, unlisted


def _revived(rows: Sequence[DeliveryRow], dues: Sequence[Due], now: datetime) -> tuple[RowKey, ...]:
    """Rows marked expired by a run whose clock was ahead (``send --now`` in the future, a
    host clock that ran fast) while their notice, due now, still means something: an
    expiry is only ever final once the notice is past its grace period."""
    meaningful = {due.notice.id for due in dues if not due.notice.is_expired(now)}
    return tuple(
        row.key
        for row in rows
        if row.state is DeliveryState.EXPIRED and row.notice_id in meaningful
    )


def reaches_nobody(
    notice: Notice, recipients: int, rows: Mapping[str, Sequence[str]], now: datetime
) -> bool:
    """Whether ``notice``, still meaningful at ``now``, has nobody to go to: it is addressed
    by product (not to those told of a change, who may rightly be nobody), no contact uses
    them, and no row of it exists. A problem, not a success: the contacts are wrong."""
    return not (notice.to_told or recipients or notice.is_expired(now) or rows.get(notice.id))


def _step(
    policy: Policy,
    due: Due,
    ledger: _Ledger,
    state: dict[RowKey, DeliveryState],
    view: LedgerView,
    now: datetime,
) -> Step | None:
    """What to do about ``due`` now: expire it, deliver it to whom and post it, or nothing;
    ``state`` is each row's state as the plan has decided it so far."""
    notice = due.notice
    existing = ledger.by_notice.get(notice.id, ())
    if notice.is_expired(now):
        if not missed(notice, first_send(view.epoch, now), now):
            return None
        if existing:  # it went out (or began to): what is still waiting expires
            waiting = tuple(a for a in existing if state[notice.id, a] is DeliveryState.PENDING)
            return Expire(notice, waiting, ()) if waiting else None
        return Expire(notice, (), due.recipients) if due.recipients else None
    known = set(existing)
    new = tuple(r for r in due.recipients if r.email not in known)
    send = tuple(
        r
        for r in due.recipients
        if r.email not in known or state[notice.id, r.email] is DeliveryState.PENDING
    )
    # A post tells what was sent: it waits for the notice's first delivery.
    reached = bool(send) or notice.id in ledger.sent
    post = on_status_page(policy, notice.window) and notice.id not in view.posted and reached
    return Deliver(due, new, send, post) if new or send or post else None


class _Ledger(Struct, frozen=True):
    """Lookups over the rows: who has a row of each notice, who was told of each window
    (address -> account and channel) and when a notice of it was last sent."""

    by_notice: dict[str, tuple[str, ...]]
    told: dict[str, dict[str, Told]]
    last_sent: dict[str, datetime]
    sent: frozenset[str]  # the notices sent to anyone

    @classmethod
    def of(cls, rows: Iterable[DeliveryRow]) -> _Ledger:
        by_notice: dict[str, list[str]] = {}
        told: dict[str, dict[str, Told]] = {}
        last_sent: dict[str, datetime] = {}
        sent: set[str] = set()
        for row in rows:
            by_notice.setdefault(row.notice_id, []).append(row.recipient)
            if may_have_reached(row):
                told.setdefault(row.window_id, {})[row.recipient] = (row.account, row.channel)
            if row.state is DeliveryState.SENT:
                sent.add(row.notice_id)
            if row.state is DeliveryState.SENT and row.sent_at:
                at = datetime.fromisoformat(row.sent_at)
                last_sent[row.window_id] = max(at, last_sent.get(row.window_id, at))
        by = {k: tuple(v) for k, v in by_notice.items()}
        return cls(by, told, last_sent, frozenset(sent))


def may_have_reached(row: DeliveryRow) -> bool:
    """Whether the row's notice may be in the recipient's inbox: it was handed to a
    transport, which did not refuse it outright (a 4xx)."""
    refused = row.state is DeliveryState.FAILED and not row.resent_uncertain
    return row.attempts > 0 and not refused


def due_notices(
    policy: Policy,
    windows: Sequence[Window],
    changes: Sequence[Change],
    book: ContactBook,
    ledger: _Ledger,
    now: datetime,
) -> list[Due]:
    """Notices whose due time has come (expired ones included), oldest first.

    Timed notices go to the contacts using the window's products; notices of changes
    (cancel, reschedule, extend, follow-up) to everyone already told of the window.
    """
    notices = plan(policy, windows) + change_notices(policy, windows, changes)
    due = sorted((n for n in notices if n.due <= now), key=lambda n: (n.due, n.id))
    return [
        Due(notice, tuple(addressees(notice, book, ledger.told)), _edit_note(notice, ledger))
        for notice in due
    ]


def addressees(
    notice: Notice, book: ContactBook, told: dict[str, dict[str, Told]]
) -> list[Recipient]:
    """Who gets ``notice``: by product, or (notices of changes) everyone already told. An
    address told earlier and no longer in the contacts still hears of the change; a
    subscription no longer in subscriptions.csv is told through the one its account now has
    on that channel (its URL was replaced), if any: otherwise there is nowhere to post."""
    if not notice.to_told:
        return book.recipients(notice.window)
    found: dict[str, Recipient] = {}
    for address, (account, channel) in sorted(told.get(notice.window.id, {}).items()):
        known = book.known.get(address)
        if known is None and channel == EMAIL:
            known = Recipient(address, "", account, account, None)
        elif known is None:
            known = book.successor(account, channel)
        if known is not None:
            found.setdefault(known.email, known)
    return list(found.values())


def _edit_note(notice: Notice, ledger: _Ledger) -> str:
    """No silent change: a notice after an edit says what changed since the last one."""
    window = notice.window
    if notice.note or window.edited_at is None:
        return notice.note
    last = ledger.last_sent.get(window.id)
    if last is None or window.edited_at <= last:
        return ""
    return f"Updated since our last notice: {', '.join(window.edited_fields)}."


def told(rows: Iterable[DeliveryRow]) -> dict[str, dict[str, Told]]:
    """``window id -> address -> (account, channel)`` of everyone a notice of the window may
    have reached."""
    return _Ledger.of(rows).told
