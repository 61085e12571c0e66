"""`ctmaint send`: carry out the send plan, delivering each due notice once per recipient.

The decisions are :mod:`ctmaint.sending.plan`'s; this module executes them in an order that
makes the guarantees hold:

1. One send runs at a time per state database (an exclusive lock on a file beside it,
   released by the kernel if the process dies). A second run waits briefly, then leaves.
2. The plan is made from the ledger as it is once the lock is held, so rows in 'sending'
   were left by a dead run.
3. Rows are claimed ('sending', committed) before the transport is called, and marked
   'sent' only after it accepted them. A crash between the two repeats only those rows.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field

from ctmaint import clock
from ctmaint.channels.base import Outcome, Transport
from ctmaint.errors import CtmaintError, DeliveryError, StateError, TransportDown, os_reason
from ctmaint.model.changes import Change
from ctmaint.model.contacts import Contact
from ctmaint.model.notices import Audience, Notice, Recipient, lookahead
from ctmaint.model.policy import Policy
from ctmaint.model.text import plural
from ctmaint.model.times import utc_z
from ctmaint.model.vocabulary import DeliveryState
from ctmaint.model.windows import Window
from ctmaint.publishing.files import ForeignFile, write_atomic, write_own
from ctmaint.sending.plan import Deliver, Due, Expire, LedgerView, SendPlan, decide
from ctmaint.state.ledger import Deliveries, Ledger, LedgerNotice, PostRow
from ctmaint.state.location import PostgresUrl, StateLocation

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from ctmaint.channels.message import Message

EPOCH_KEY = "send_epoch"
LAST_SEND_KEY = "last_send"  # when the last send ran: the next looks back at least as far
RECORD_RUN = timedelta(days=1)  # how stale the recorded last run may grow
LONGEST_LOOK_BACK = timedelta(days=366)  # however long ago the last run was
LOCK_WAIT_S = 30.0
PENDING, SENDING, UNCERTAIN = DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.UNCERTAIN


class SendReport(Struct):
    """What one run did (or, with --dry-run, would do)."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    uncertain: int = 0
    recovered: int = 0
    resent_uncertain: int = 0
    given_up: int = 0
    cancelled: int = 0
    posts: int = 0
    stopped: str = ""  # why delivering stopped early (provider down, time budget used up)
    left_out: list[str] = field(default_factory=list)  # bad contacts.csv rows, not told
    nobody: list[str] = field(default_factory=list)  # due notices with no one to send to
    disagree: list[str] = field(default_factory=list)  # other hosts with other files
    waiting: list[str] = field(default_factory=list)  # why rows stay pending (another host)
    left_out_rows: int = 0  # how many rows those problems are about (a row may have several)
    contact_rows: int = 0  # the rows of contacts.csv read, good and left out
    expired: list[tuple[str, int, str]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    def summary(self) -> str:
        expired = sum(count for _, count, _ in self.expired)
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
        if self.cancelled:
            notes.append(f"{self.cancelled} not sent: their window was cancelled")
        return line + (f" ({'; '.join(notes)})" if notes else "")


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


def view(deliveries: Deliveries) -> LedgerView:
    """The ledger as the send plan reads it."""
    epoch = deliveries.setting(EPOCH_KEY)
    return LedgerView(
        deliveries.rows(),
        frozenset(deliveries.posted()),
        datetime.fromisoformat(epoch) if epoch else None,
    )


def make_plan(
    policy: Policy,
    ledger: Ledger,
    windows: Sequence[Window],
    changes: Sequence[Change],
    contacts: Sequence[Contact],
    now: datetime,
) -> SendPlan:
    return decide(policy, windows, changes, contacts, view(Deliveries(ledger)), now)


SHOWN_ADDRESSES = 3  # a dry run names a few recipients per notice; --verbose names all


def describe(plan: SendPlan, verbose: bool = False) -> SendReport:
    """The report `send --dry-run` prints: the plan, with the counts `send` would report,
    naming a few recipients of each notice (all of them if ``verbose``): a notice to
    100,000 contacts is one short line, not megabytes."""
    report = SendReport(
        pending=len(plan.waiting),
        sent=plan.deliveries,
        recovered=plan.resent_in_flight,
        resent_uncertain=len(plan.resend_uncertain),
        given_up=len(plan.give_up),
        failed=len(plan.give_up),
        cancelled=len(plan.cancel),
    )
    for step in plan.steps:
        notice_id = step.notice.id if isinstance(step, Expire) else step.due.notice.id
        if isinstance(step, Expire):
            report.expired.append((notice_id, step.count, _grace(step.notice)))
            report.actions.append(
                f"would mark {notice_id} expired ({plural(step.count, 'recipient')})"
            )
            continue
        if step.send:
            shown = step.send if verbose else step.send[:SHOWN_ADDRESSES]
            names = ", ".join(r.email for r in shown)
            more = len(step.send) - len(shown)
            names += f" and {more} more" if more else ""
            report.actions.append(f"would send {notice_id} to {len(step.send)}: {names}")
        if step.post:
            report.posts += 1
            report.actions.append(f"would post {notice_id} to the status page")
    return report


class Run(Struct):
    """How one run goes on: until ``deadline`` (seconds on :func:`clock.monotonic`), telling
    ``progress`` how many deliveries were handled (the CLI draws a bar on a terminal)."""

    deadline: float
    progress: Callable[[int], None] = lambda handled: None
    still_held: Callable[[], bool] = lambda: True  # the send lock (a shared state's can go)


def send(
    policy: Policy,
    ledger: Ledger,
    plan: SendPlan,
    transport: Transport,
    notices_dir: Path,
    now: datetime,
    run: Run,
) -> SendReport:
    """Carry out ``plan`` (made with the send lock held); see the module docstring.

    One notice or recipient that cannot be rendered or delivered never stops the others,
    and a status post that cannot be written never stops the email. A notice is posted once
    it was sent to someone: no post announces a notice nobody received.
    When the provider stops answering or the run's time is up, delivering stops and the
    rest stays pending for the next run.
    """
    deliveries = Deliveries(ledger)
    _mark_run(deliveries, plan.epoch, now)
    report = SendReport(
        recovered=plan.resent_in_flight,
        resent_uncertain=len(plan.resend_uncertain),
        given_up=len(plan.give_up),
        failed=len(plan.give_up),
        cancelled=len(plan.cancel),
    )
    _resolve(deliveries, plan, now)
    try:
        for step in plan.steps:
            if isinstance(step, Expire):
                _expire(deliveries, step, now, report)
                continue
            notice = step.due.notice
            new = [(r.email, r.account) for r in step.new]
            deliveries.add(_ledger_notice(notice), new, PENDING, now)
            if not report.stopped:
                _deliver(deliveries, step, policy, transport, now, report, run)
            if step.post and deliveries.sent_count(notice.id):  # a post tells what was sent
                _post(deliveries, step.due, policy, notices_dir, now, report)
    finally:
        if report.posts:
            _write_index(deliveries, policy, notices_dir, now, report)
    report.pending = sum(counts.get(PENDING, 0) for counts in deliveries.states().values())
    return report


def _mark_run(deliveries: Deliveries, epoch: datetime, now: datetime) -> None:
    """Record the first send's time (the earliest clock seen) and this one's. A run within
    a day of the last recorded one writes nothing: a quiet tick stays read-only, and the
    look back (:func:`span`) needs the last run to the day, not to the minute."""
    first, last = deliveries.setting(EPOCH_KEY), deliveries.setting(LAST_SEND_KEY)
    recent = last is not None and timedelta(0) <= now - datetime.fromisoformat(last) < RECORD_RUN
    if first is not None and first <= utc_z(epoch) and recent:
        return
    with deliveries.ledger.transaction():
        deliveries.set_earliest(EPOCH_KEY, utc_z(epoch))
        deliveries.set_setting(LAST_SEND_KEY, utc_z(now))


def _resolve(deliveries: Deliveries, plan: SendPlan, now: datetime) -> None:
    """The plan's decisions on rows left by earlier runs and on cancelled windows."""
    deliveries.set_state(
        plan.cancel, DeliveryState.CANCELLED, "not sent: the window was cancelled", now,
        only_from=(PENDING, SENDING, UNCERTAIN),
    )  # fmt: skip
    deliveries.set_state(
        plan.recover, PENDING, "in flight when an earlier run stopped; sent again", now,
        only_from=(SENDING,),
    )  # fmt: skip
    deliveries.set_state(
        plan.revive, PENDING, "marked expired by a run whose clock was ahead; sent after all",
        now, only_from=(DeliveryState.EXPIRED,),
    )  # fmt: skip
    deliveries.set_state(
        plan.resend_uncertain, PENDING,
        "the last attempt got no answer after sending; sent once more", now,
        only_from=(UNCERTAIN,), resent_uncertain=True,
    )  # fmt: skip
    deliveries.set_state(
        plan.give_up, DeliveryState.FAILED,
        "no answer after sending, twice; not sent again (check the provider's activity log)",
        now, only_from=(UNCERTAIN,),
    )  # fmt: skip


def _expire(deliveries: Deliveries, step: Expire, now: datetime, report: SendReport) -> None:
    notice = step.notice
    count = deliveries.set_state(
        [(notice.id, address) for address in step.waiting], DeliveryState.EXPIRED, None, now,
        only_from=(PENDING,),
    )  # fmt: skip
    missed = [(r.email, r.account) for r in step.missed]
    count += deliveries.add(_ledger_notice(notice), missed, DeliveryState.EXPIRED, now)
    if count:
        report.expired.append((notice.id, count, _grace(notice)))


def _ledger_notice(notice: Notice) -> LedgerNotice:
    """What the ledger records of ``notice`` on each of its rows."""
    return LedgerNotice(notice.id, notice.window.id, notice.stage, notice.due, notice.expires)


def _grace(notice: Notice) -> str:
    """When ``notice`` was due and when its grace period ended: what an expiry knows."""
    return f"was due at {utc_z(notice.due)} and its grace period ended at {utc_z(notice.expires)}"


def _deliver(
    deliveries: Deliveries,
    step: Deliver,
    policy: Policy,
    transport: Transport,
    now: datetime,
    report: SendReport,
    run: Run,
) -> None:
    """Deliver the step's notice to its recipients, an audience and a batch at a time, up
    to ``transport.concurrency`` requests in flight.

    Each batch is claimed (committed) before the transport is called and recorded as soon
    as it answers, so a run killed at any moment leaves at most the batches in flight.
    The ledger is only ever touched from this thread; workers only call the transport.
    """
    notice = step.due.notice
    groups: dict[Audience, list[Recipient]] = {}
    for recipient in step.send:
        groups.setdefault(recipient.audience, []).append(recipient)
    if not groups:
        return
    from ctmaint.channels.message import render_message

    with _Flight(deliveries, notice, transport, now, report, run) as flight:
        for audience, group in groups.items():
            if report.stopped:
                return
            try:
                message = render_message(notice, audience, policy, now, step.due.note)
            except Exception as error:  # a notice that cannot be rendered will not render later
                _fail_unrenderable(deliveries, notice, group, error, now, report)
                continue
            for start in range(0, len(group), transport.batch_size):
                if clock.monotonic() >= run.deadline:
                    report.stopped = "the run's time budget is used up"
                elif not run.still_held():
                    report.stopped = (
                        "the send lock was lost (its database session ended), so another run "
                        "may have begun: this one stopped claiming"
                    )
                if report.stopped:
                    return
                batch = group[start : start + transport.batch_size]
                claimed = set(deliveries.claim(notice.id, (r.email for r in batch), now))
                batch = [r for r in batch if r.email in claimed]
                if batch:
                    flight.send(message, batch)


class _Flight:
    """The requests in flight for one notice: at most ``transport.concurrency`` at once (on
    worker threads when more than one), each recorded here, in this thread, as it ends."""

    def __init__(
        self,
        deliveries: Deliveries,
        notice: Notice,
        transport: Transport,
        now: datetime,
        report: SendReport,
        run: Run,
    ) -> None:
        self.deliveries, self.notice, self.transport = deliveries, notice, transport
        self.now, self.report, self.run = now, report, run
        self.limit = max(1, transport.concurrency)
        self.pool: ThreadPoolExecutor | None = None
        self.flying: deque[tuple[Future[list[Outcome]], list[Recipient]]] = deque()
        self.fatal: DeliveryError | None = None

    def __enter__(self) -> _Flight:
        if self.limit > 1:  # threads only when a run sends (not on a tick with nothing due)
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(self.limit, thread_name_prefix="ctmaint-send")
        return self

    def send(self, message: Message, batch: list[Recipient]) -> None:
        from concurrent.futures import Future

        future: Future[list[Outcome]]
        if self.pool is None:
            future = Future()
            try:
                future.set_result(self.transport.deliver(message, batch, self.now))
            except Exception as error:
                future.set_exception(error)
        else:
            future = self.pool.submit(self.transport.deliver, message, batch, self.now)
        self.flying.append((future, batch))
        while len(self.flying) >= self.limit or (self.flying and self.flying[0][0].done()):
            self._land()

    def _land(self) -> None:
        future, batch = self.flying.popleft()
        notice, deliveries, report = self.notice, self.deliveries, self.report
        try:
            outcomes = future.result()
        except (DeliveryError, TransportDown) as error:
            release = [(r.email, PENDING, None, None) for r in batch]
            deliveries.record(notice.id, release, self.transport.name, self.now)
            if isinstance(error, TransportDown):
                report.stopped = report.stopped or str(error)
            else:
                self.fatal = self.fatal or error
                report.stopped = report.stopped or str(error)
            return
        except Exception as error:  # a bug in a transport: this batch waits, the others go on
            reason = f"not delivered: {type(error).__name__}: {error}"
            noted: list[tuple[str, DeliveryState, str | None, str | None]] = [
                (r.email, PENDING, None, reason) for r in batch
            ]
            deliveries.record(notice.id, noted, self.transport.name, self.now)
            report.failed += len(batch)
            report.failures += [f"{notice.id} to {r.email}: {reason}" for r in batch]
            return
        _record(deliveries, notice, outcomes, self.transport, self.now, report)
        self.run.progress(len(batch))

    def __exit__(self, *exc: object) -> None:
        try:
            while self.flying:  # whatever happens, every batch in flight is recorded
                self._land()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
        if self.fatal is not None and exc[0] is None:
            raise self.fatal


def _fail_unrenderable(
    deliveries: Deliveries,
    notice: Notice,
    group: list[Recipient],
    error: Exception,
    now: datetime,
    report: SendReport,
) -> None:
    reason = f"the message could not be rendered ({type(error).__name__}: {error})"
    keys = [(notice.id, r.email) for r in group]
    report.failed += deliveries.set_state(
        keys, DeliveryState.FAILED, reason, now, only_from=(PENDING,)
    )
    report.failures += [f"{notice.id} to {r.email}: {reason}" for r in group]


def _record(
    deliveries: Deliveries,
    notice: Notice,
    outcomes: list[Outcome],
    transport: Transport,
    now: datetime,
    report: SendReport,
) -> None:
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


_LEDGER_STATE = {
    "sent": DeliveryState.SENT,
    "failed": DeliveryState.FAILED,
    "retry": DeliveryState.PENDING,
    "uncertain": DeliveryState.UNCERTAIN,
}


def _post(
    deliveries: Deliveries,
    due: Due,
    policy: Policy,
    notices_dir: Path,
    now: datetime,
    report: SendReport,
) -> None:
    """Write the notice's status post and record it; if it cannot be written, say so and
    leave it for the next run (the email goes out regardless)."""
    from ctmaint.channels.message import render_post

    notice = due.notice
    post = render_post(notice, policy, now, due.note)
    try:
        write_atomic(notices_dir / post.path, post.markdown.encode())
    except OSError as error:
        report.failed += 1
        report.failures.append(
            f"the status post of {notice.id} cannot be written to {notices_dir} "
            f"({os_reason(error)}); it is written on the next run"
        )
        return
    deliveries.add_post(
        PostRow(notice.id, notice.window.id, notice.stage, post.status, post.title, post.path, now)
    )
    report.posts += 1


def _write_index(
    deliveries: Deliveries, policy: Policy, notices_dir: Path, now: datetime, report: SendReport
) -> None:
    """notices/index.json from the ledger's posts, newest first (called after a post)."""
    from ctmaint.publishing.statusjson import index_json

    try:
        write_own(notices_dir, "index.json", index_json(policy, deliveries.posts(), now))
    except ForeignFile as error:
        report.failed += 1
        report.failures.append(f"the status index was not written: {error}")
    except OSError as error:
        report.failed += 1
        report.failures.append(
            f"the status index cannot be written to {notices_dir} ({os_reason(error)}); "
            "`ctmaint build` writes it too"
        )


@contextmanager
def send_lock(
    state: StateLocation, wait_s: float = LOCK_WAIT_S
) -> Iterator[Callable[[], bool] | None]:
    """Hold the send lock of ``state``: yields a function that tells whether it is still
    held, or None if another run kept it for ``wait_s``.

    For a SQLite file, a lock file beside it (the kernel releases it if the process dies);
    for a shared PostgreSQL state, an advisory lock in the database, so one run at a time
    on every host (see :mod:`ctmaint.state.postgres`).
    """
    if isinstance(state, PostgresUrl):
        from ctmaint.state import postgres

        with postgres.send_lock(state, wait_s) as locked:
            yield locked
        return
    path = send_lock_file(state.path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise StateError(
            f"cannot use the state folder {path.parent} ({os_reason(error)}); give a state "
            "path in a folder you can write",
            subject="state",
        ) from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield None
                    return
                time.sleep(0.05)
        yield lambda: True  # the kernel holds it until this process ends
    finally:
        os.close(handle)  # closing releases the lock


def send_lock_file(state: Path) -> Path:
    """The file beside a SQLite state that a running `send` holds locked."""
    return state.with_name(state.name + ".send.lock")


class AnotherRunError(CtmaintError):
    """Another send kept the lock: this run did nothing (exit 0: cron overlap is normal)."""

    exit_code = 0
