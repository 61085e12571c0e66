"""`ctmaint send`: deliver every due notice once per recipient, and post it.

The order of work makes the guarantees hold:

1. One send runs at a time per state database (an exclusive lock on a file beside it,
   released by the kernel if the process dies). A second run waits briefly, then leaves.
2. Rows a dead run left in 'sending' were in flight: they go back to 'pending'.
3. Due notices get a ledger row per current recipient; notices past their grace period
   are marked expired instead (and reported), unless they expired before the first send.
4. Rows are claimed ('sending', committed) before the transport is called, and marked
   'sent' only after it accepted them. A crash between the two repeats only those rows.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ctmaint.changes import Change, change_notices
from ctmaint.contacts import Contact
from ctmaint.delivery import Transport
from ctmaint.errors import CtmaintError, DeliveryError
from ctmaint.ledger import EXPIRED, PENDING, Deliveries, Ledger
from ctmaint.notices import Audience, Notice, Recipient, lookahead, plan, recipients
from ctmaint.policy import Policy
from ctmaint.publish import write_atomic
from ctmaint.schedule import Window, on_status_page
from ctmaint.times import utc_z

if TYPE_CHECKING:
    from ctmaint.render.message import Message

EPOCH_KEY = "send_epoch"
LOCK_WAIT_S = 30.0


@dataclass
class SendReport:
    """What one run did (or, with --dry-run, would do)."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    uncertain: int = 0
    recovered: int = 0
    resent_uncertain: int = 0
    given_up: int = 0
    posts: int = 0
    expired: list[tuple[str, int]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    def summary(self) -> str:
        expired = sum(count for _, count in self.expired)
        line = f"sent {self.sent}, failed {self.failed}, expired {expired}, pending {self.pending}"
        if self.uncertain:
            line += f", uncertain {self.uncertain}"
        notes = []
        if self.recovered:
            notes.append(f"{self.recovered} in flight when an earlier run stopped, sent again")
        if self.resent_uncertain:
            notes.append(f"{self.resent_uncertain} unanswered last time, sent once more")
        if self.given_up:
            notes.append(f"{self.given_up} unanswered twice, given up")
        return line + (f" ({'; '.join(notes)})" if notes else "")


@dataclass(frozen=True)
class Due:
    """A notice to act on now, with its current recipients and any note to add."""

    notice: Notice
    recipients: list[Recipient]
    note: str = ""


def due_notices(
    policy: Policy,
    windows: Sequence[Window],
    changes: Sequence[Change],
    contacts: Sequence[Contact],
    deliveries: Deliveries,
    now: datetime,
) -> list[Due]:
    """Notices whose due time has come (expired ones included), oldest first.

    Timed notices go to the contacts using the window's products; notices of changes
    (cancel, reschedule, extend, follow-up) to everyone already sent a notice of it.
    """
    notices = plan(policy, windows) + change_notices(policy, windows, changes)
    due = sorted((n for n in notices if n.due <= now), key=lambda n: (n.due, n.id))
    return [
        Due(notice, addressees(notice, contacts, deliveries), _edit_note(notice, deliveries))
        for notice in due
    ]


def addressees(
    notice: Notice, contacts: Sequence[Contact], deliveries: Deliveries
) -> list[Recipient]:
    """Who gets ``notice``: by product, or (notices of changes) everyone already told."""
    if not notice.to_told:
        return recipients(contacts, notice.window)
    known: dict[str, Recipient] = {}
    for contact in contacts:  # the first row of an address decides, as in recipients()
        known.setdefault(contact.email.lower(), Recipient.of(contact))
    return [
        known.get(address) or Recipient(address, "", account, account, None)
        for address, account in deliveries.told(notice.window.id).items()
    ]


def _edit_note(notice: Notice, deliveries: Deliveries) -> str:
    """No silent change: a notice after an edit says what changed since the last one."""
    window = notice.window
    if notice.note or window.edited_at is None:
        return notice.note
    last = deliveries.last_sent(window.id)
    if last is None or window.edited_at <= last:
        return ""
    return f"Updated since our last notice: {', '.join(window.edited_fields)}."


def span(policy: Policy, now: datetime) -> tuple[datetime, datetime]:
    """Windows whose notices may be due or expiring at ``now``."""
    back = timedelta(days=policy.days_back)
    return now - back, now + lookahead(policy)


def send(
    policy: Policy,
    ledger: Ledger,
    windows: Sequence[Window],
    changes: Sequence[Change],
    contacts: Sequence[Contact],
    transport: Transport,
    notices_dir: Path,
    now: datetime,
) -> SendReport:
    """Deliver and post every due notice. Call while holding :func:`send_lock`."""
    deliveries = Deliveries(ledger)
    report = SendReport(recovered=deliveries.recover_in_flight(now))
    report.resent_uncertain, report.given_up = deliveries.retry_uncertain(now)
    report.failed += report.given_up
    epoch = datetime.fromisoformat(deliveries.set_setting_once(EPOCH_KEY, utc_z(now)))
    posted = deliveries.posted()
    try:
        for due in due_notices(policy, windows, changes, contacts, deliveries, now):
            notice = due.notice
            if notice.is_expired(now):
                _expire(deliveries, due, epoch, now, report)
                continue
            addresses = [(r.email, r.account) for r in due.recipients]
            deliveries.add(
                notice.id, notice.window.id, notice.stage, addresses, PENDING,
                notice.due, notice.expires, now,
            )  # fmt: skip
            if on_status_page(policy, notice.window) and notice.id not in posted:
                _post(deliveries, due, policy, notices_dir, now)
                report.posts += 1
            _deliver(deliveries, due, policy, transport, now, report)
    finally:
        if report.posts:
            write_index(deliveries, policy, notices_dir, now)
    report.pending = sum(counts.get(PENDING, 0) for counts in deliveries.states().values())
    return report


def _expire(
    deliveries: Deliveries, due: Due, epoch: datetime, now: datetime, report: SendReport
) -> None:
    notice = due.notice
    if notice.expires <= epoch:
        return  # it expired before ctmaint sent anything here: not a notice we missed
    if deliveries.recipients(notice.id):
        # It went out (or began to): what is still undelivered expires. A contact added
        # since is not reported as having missed it.
        count = deliveries.expire(notice.id, now)
    else:  # missed entirely while send was not running: record who missed it
        addresses = [(r.email, r.account) for r in due.recipients]
        count = deliveries.add(
            notice.id, notice.window.id, notice.stage, addresses, EXPIRED,
            notice.due, notice.expires, now,
        )  # fmt: skip
    if count:
        report.expired.append((notice.id, count))


def _deliver(
    deliveries: Deliveries,
    due: Due,
    policy: Policy,
    transport: Transport,
    now: datetime,
    report: SendReport,
) -> None:
    """Deliver ``due`` to its recipients still pending, a batch at a time.

    Each batch is claimed (committed) before the transport is called and recorded right
    after, so a run killed at any moment leaves at most one batch in flight.
    """
    notice = due.notice
    waiting = set(deliveries.pending(notice.id))
    groups: dict[Audience, list[Recipient]] = {}
    for recipient in due.recipients:
        if recipient.email in waiting:
            groups.setdefault(recipient.audience, []).append(recipient)
    if not groups:
        return
    from ctmaint.render.message import render_message

    for audience, group in groups.items():
        message = render_message(notice, audience, policy, now, due.note)
        for start in range(0, len(group), transport.batch_size):
            batch = group[start : start + transport.batch_size]
            claimed = set(deliveries.claim(notice.id, (r.email for r in batch), now))
            batch = [r for r in batch if r.email in claimed]
            if batch:
                _deliver_batch(deliveries, notice, message, batch, transport, now, report)


def _deliver_batch(
    deliveries: Deliveries,
    notice: Notice,
    message: Message,
    batch: list[Recipient],
    transport: Transport,
    now: datetime,
    report: SendReport,
) -> None:
    try:
        outcomes = transport.deliver(message, batch, now)
    except DeliveryError:
        release = [(r.email, PENDING, None, None) for r in batch]
        deliveries.record(notice.id, release, transport.name, now)
        raise
    deliveries.record(
        notice.id,
        [(o.recipient, _LEDGER_STATE[o.state], o.message_id, o.error) for o in outcomes],
        transport.name,
        now,
    )
    for outcome in outcomes:
        if outcome.state == "sent":
            report.sent += 1
        elif outcome.state == "failed":
            report.failed += 1
            report.failures.append(f"{notice.id} to {outcome.recipient}: {outcome.error}")
        elif outcome.state == "uncertain":
            report.uncertain += 1
            report.deferred.append(f"{notice.id} to {outcome.recipient}: {outcome.error}")
        elif outcome.state == "retry":
            report.deferred.append(f"{notice.id} to {outcome.recipient}: {outcome.error}")


_LEDGER_STATE = {"sent": "sent", "failed": "failed", "retry": "pending", "uncertain": "uncertain"}


def _post(
    deliveries: Deliveries, due: Due, policy: Policy, notices_dir: Path, now: datetime
) -> None:
    from ctmaint.render.message import render_post

    notice = due.notice
    post = render_post(notice, policy, now, due.note)
    write_atomic(notices_dir / post.path, post.markdown.encode())
    deliveries.add_post(
        notice.id, notice.window.id, notice.stage, post.status, post.title, post.path, now
    )


def write_index(deliveries: Deliveries, policy: Policy, notices_dir: Path, now: datetime) -> None:
    """notices/index.json from the ledger's posts, newest first (called after a post)."""
    from ctmaint.render.statuspage import index_json

    write_atomic(notices_dir / "index.json", index_json(policy, deliveries.posts(), now))


def dry_run(
    policy: Policy,
    ledger: Ledger,
    windows: Sequence[Window],
    changes: Sequence[Change],
    contacts: Sequence[Contact],
    now: datetime,
) -> SendReport:
    """What :func:`send` would do at ``now``, computed on a snapshot; changes nothing."""
    deliveries = Deliveries(ledger)
    states = deliveries.states()
    done = {(row.notice_id, row.recipient) for row in deliveries.rows() if row.state != PENDING}
    epoch_text = deliveries.setting(EPOCH_KEY)
    epoch = datetime.fromisoformat(epoch_text) if epoch_text else now
    posted = deliveries.posted()
    report = SendReport()
    for due in due_notices(policy, windows, changes, contacts, deliveries, now):
        notice = due.notice
        waiting = [r for r in due.recipients if (notice.id, r.email) not in done]
        if notice.is_expired(now):
            counts = states.get(notice.id, {})
            undelivered = sum(counts.get(state, 0) for state in ("pending", "sending", "uncertain"))
            count = undelivered if counts else len(due.recipients)  # as _expire decides
            if notice.expires > epoch and count:
                report.expired.append((notice.id, count))
                report.actions.append(f"would mark {notice.id} expired ({count} recipients)")
            continue
        if waiting:
            report.sent += len(waiting)
            names = ", ".join(r.email for r in waiting)
            report.actions.append(f"would send {notice.id} to {len(waiting)}: {names}")
        if on_status_page(policy, notice.window) and notice.id not in posted:
            report.posts += 1
            report.actions.append(f"would post {notice.id} to the status page")
    return report


@contextmanager
def send_lock(state: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[bool]:
    """Hold the send lock of ``state``; yields False if another run kept it for ``wait_s``."""
    path = state.with_name(state.name + ".send.lock")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(handle)  # closing releases the lock


class AnotherRunError(CtmaintError):
    """Another send kept the lock: this run did nothing (exit 0: cron overlap is normal)."""

    exit_code = 0
