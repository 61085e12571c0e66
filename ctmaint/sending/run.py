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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field

from ctmaint import clock
from ctmaint.channels.base import Channel, Channels, NotPublished, Outcome, Publisher
from ctmaint.errors import CtmaintError, DeliveryError, Input, StateError, TransportDown, os_reason
from ctmaint.model.notices import Audience, Notice, Recipient
from ctmaint.model.policy import Policy
from ctmaint.model.times import utc_z
from ctmaint.model.vocabulary import EMAIL, Answer, DeliveryState
from ctmaint.sending.plan import EPOCH_KEY, LAST_SEND_KEY, Deliver, Due, Expire, SendPlan
from ctmaint.sending.report import SendReport, grace
from ctmaint.state.ledger import Deliveries, LedgerNotice, PostRow
from ctmaint.state.location import PostgresUrl, StateLocation

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from ctmaint.channels.message import Message

RECORD_RUN = timedelta(days=1)  # how stale the recorded last run may grow
LOCK_WAIT_S = 30.0
PENDING, SENDING, UNCERTAIN = DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.UNCERTAIN


def _no_progress(handled: int) -> None:
    """Nothing to tell: no terminal to draw a bar on."""


def _always_held() -> bool:
    return True  # a SQLite state's lock is the kernel's until this process ends


class Run(Struct):
    """One run's context: what it delivers with (email's transport and each subscription
    channel) and where it writes, until ``deadline`` (seconds on :func:`clock.monotonic`),
    telling ``progress`` how many deliveries were handled (the CLI draws a bar on a
    terminal); ``report`` fills as it goes."""

    policy: Policy
    deliveries: Deliveries
    channels: Channels
    publisher: Publisher
    now: datetime
    deadline: float
    progress: Callable[[int], None] = _no_progress
    still_held: Callable[[], bool] = _always_held  # the send lock (a shared state's can go)
    report: SendReport = field(default_factory=SendReport)
    halted: str = ""  # why nothing more is claimed (time budget used up, lock lost)
    down: set[str] = field(default_factory=set)  # channels that stopped answering this run


def carry_out(plan: SendPlan, run: Run) -> SendReport:
    """Carry out ``plan`` (made with the send lock held); see the module docstring.

    One notice or recipient that cannot be rendered or delivered never stops the others,
    and a status post that cannot be written never stops the email. A notice is posted once
    it was sent to someone: no post announces a notice nobody received.
    When the provider stops answering or the run's time is up, delivering stops and the
    rest stays pending for the next run.
    """
    deliveries, report, now = run.deliveries, run.report, run.now
    _mark_run(deliveries, plan.epoch, now)
    report.recovered, report.resent_uncertain = plan.resent_in_flight, len(plan.resend_uncertain)
    report.given_up = report.failed = len(plan.give_up)
    report.failures += [
        f"{notice_id} to {recipient}: no answer after sending, twice; not sent again"
        for notice_id, recipient in plan.give_up
    ]
    report.cancelled = len(plan.cancel)
    _resolve(deliveries, plan, now)
    try:
        for step in plan.steps:
            if isinstance(step, Expire):
                _expire(run, step)
                continue
            notice = step.due.notice
            new = [(r.email, r.account, r.channel) for r in step.new]
            deliveries.add(_ledger_notice(notice), new, PENDING, now)
            if not run.halted:
                _deliver(run, step)
            if step.post and deliveries.sent_count(notice.id):  # a post tells what was sent
                _post(run, step.due)
    finally:
        if report.posts:
            _write_index(run)
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
    """The plan's decisions on rows left by earlier runs and on cancelled windows: each
    set of rows, the state it moves to from which states, and why."""
    decided = (
        (
            plan.cancel,
            DeliveryState.CANCELLED,
            (PENDING, SENDING, UNCERTAIN),
            "not sent: the window was cancelled",
        ),
        (plan.recover, PENDING, (SENDING,), "in flight when an earlier run stopped; sent again"),
        (
            plan.revive,
            PENDING,
            (DeliveryState.EXPIRED,),
            "marked expired by a run whose clock was ahead; sent after all",
        ),
        (
            plan.resend_uncertain,
            PENDING,
            (UNCERTAIN,),
            "the last attempt got no answer after sending; sent once more",
        ),
        (
            plan.give_up,
            DeliveryState.FAILED,
            (UNCERTAIN,),
            "no answer after sending, twice; not sent again (check the provider's activity log)",
        ),
    )
    for keys, state, only_from, reason in decided:
        resent = keys is plan.resend_uncertain
        deliveries.set_state(keys, state, reason, now, only_from=only_from, resent_uncertain=resent)


def _expire(run: Run, step: Expire) -> None:
    notice, deliveries, now = step.notice, run.deliveries, run.now
    waiting = [(notice.id, address) for address in step.waiting]
    count = deliveries.set_state(waiting, DeliveryState.EXPIRED, None, now, only_from=(PENDING,))
    missed = [(r.email, r.account, r.channel) for r in step.missed]
    count += deliveries.add(_ledger_notice(notice), missed, DeliveryState.EXPIRED, now)
    if count:
        run.report.expired.append((notice.id, count, grace(notice)))


def _ledger_notice(notice: Notice) -> LedgerNotice:
    """What the ledger records of ``notice`` on each of its rows."""
    return LedgerNotice(notice.id, notice.window.id, notice.stage, notice.due, notice.expires)


def _deliver(run: Run, step: Deliver) -> None:
    """Deliver the step's notice to its recipients by email and to its subscriptions, each
    channel with up to its ``concurrency`` requests in flight, all channels side by side
    (a slow chat host does not hold back the email, nor the email the chat).

    Each batch is claimed (committed) before the channel is called and recorded as soon
    as it answers, so a run killed at any moment leaves at most the batches in flight.
    The ledger is only ever touched from this thread; workers only call the channels.
    """
    by_channel: dict[str, dict[Audience, list[Recipient]]] = {}
    for recipient in step.send:
        by_channel.setdefault(recipient.channel, {}).setdefault(recipient.audience, [])
        by_channel[recipient.channel][recipient.audience].append(recipient)
    with ExitStack() as stack:  # whatever happens, every flight lands what it sent
        lanes = []
        for name, groups in by_channel.items():
            channel = run.channels[name]
            if channel.name not in run.down:  # down by its own name: sendgrid, teams, ...
                flight = stack.enter_context(_Flight(run, step.due.notice, channel))
                lanes.append((flight, _batches(run, flight, step.due, groups)))
        _interleave(lanes)


def _interleave(lanes: list[tuple[_Flight, Iterator[bool]]]) -> None:
    """Send each lane's batches in turn: a lane whose channel has all its requests in flight
    waits while the others go on; when every lane waits, the first answer lets one go on.
    What lands is recorded at once, whichever lane it is of."""
    flights = [flight for flight, _ in lanes]
    while lanes:
        moved = False
        for lane in list(lanes):
            flight, batches = lane
            if not flight.full:
                moved = True
                if not next(batches, False):
                    lanes.remove(lane)
        if not moved:
            _first_answer(flights)
        for flight in flights:
            flight.land_done()


def _batches(
    run: Run, flight: _Flight, due: Due, groups: dict[Audience, list[Recipient]]
) -> Iterator[bool]:
    """Send ``due`` through the flight's channel to each audience of ``groups``, a claimed
    batch at a time, stopping at the next batch after the run halts or the channel went
    down; each batch sent yields True."""
    notice, channel = due.notice, flight.channel
    for audience, group in groups.items():
        try:
            message = channel.render(notice, audience, run.policy, run.now, due.note)
        except Exception as error:  # a notice that cannot be rendered will not render later
            _fail_unrenderable(run, notice, group, error)
            continue
        size = channel.batch_size
        for start in range(0, len(group), size):
            if _stop_reason(run) or channel.name in run.down:
                return
            batch = group[start : start + size]
            claimed = set(run.deliveries.claim(notice.id, (r.email for r in batch), run.now))
            batch = [r for r in batch if r.email in claimed]
            if batch:
                flight.send(message, batch)
                yield True


def _stop_reason(run: Run) -> str:
    """Why the run must stop claiming now (also set in its report), or "" to go on."""
    if run.halted:
        return run.halted
    if clock.monotonic() >= run.deadline:
        run.halted = "the run's time budget is used up"
    elif not run.still_held():
        run.halted = (
            "the send lock was lost (its database session ended), so another run "
            "may have begun: this one stopped claiming"
        )
    run.report.stopped = run.report.stopped or run.halted
    return run.halted


class _Flight:
    """The requests in flight for one notice through one channel: at most its
    ``concurrency`` at once (on worker threads when more than one), each recorded here, in
    this thread, as it ends."""

    def __init__(self, run: Run, notice: Notice, channel: Channel) -> None:
        self.run, self.notice, self.channel = run, notice, channel
        self.limit = max(1, channel.concurrency)
        self.pool: ThreadPoolExecutor | None = None
        self.flying: deque[tuple[Future[list[Outcome]], list[Recipient]]] = deque()
        self.fatal: DeliveryError | None = None

    def __enter__(self) -> _Flight:
        if self.limit > 1:  # threads only when a run sends (not on a tick with nothing due)
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(self.limit, thread_name_prefix="ctmaint-send")
        return self

    @property
    def full(self) -> bool:
        """Whether the channel has all the requests in flight it may."""
        return len(self.flying) >= self.limit

    def send(self, message: Message, batch: list[Recipient]) -> None:
        """Hand ``batch`` (claimed) to the channel; it is recorded when it lands."""
        from concurrent.futures import Future

        future: Future[list[Outcome]]
        deliver, now = self.channel.deliver, self.run.now
        if self.pool is None:
            future = Future()
            try:
                future.set_result(deliver(message, batch, now))
            except Exception as error:
                future.set_exception(error)
        else:
            future = self.pool.submit(deliver, message, batch, now)
        self.flying.append((future, batch))
        self.land_done()

    def land_done(self) -> None:
        """Record every request that has been answered (in any order: rows are apart)."""
        for entry in [entry for entry in self.flying if entry[0].done()]:
            self.flying.remove(entry)  # one at a time: if recording fails, exit lands the rest
            self._land(*entry)

    def _land(self, future: Future[list[Outcome]], batch: list[Recipient]) -> None:
        run, notice = self.run, self.notice
        report, name = run.report, self.channel.name
        try:
            outcomes = future.result()
        except (DeliveryError, TransportDown) as error:
            release = [(r.email, PENDING, None, None) for r in batch]
            run.deliveries.record(notice.id, release, name, run.now)
            if not isinstance(error, TransportDown):
                self.fatal = self.fatal or error
            run.down.add(name)
            report.stopped = report.stopped or str(error)
            return
        except Exception as error:  # a bug in a transport: this batch waits, the others go on
            reason = f"not delivered: {type(error).__name__}: {error}"
            noted: list[tuple[str, DeliveryState, str | None, str | None]] = [
                (r.email, PENDING, None, reason) for r in batch
            ]
            run.deliveries.record(notice.id, noted, name, run.now)
            report.failed += len(batch)
            report.failures += [f"{notice.id} to {r.email}: {reason}" for r in batch]
            return
        _record(run, notice, self.channel, outcomes)
        run.progress(len(batch))

    def __exit__(self, *exc: object) -> None:
        try:
            while self.flying:  # whatever happens, every batch in flight is recorded
                self._land(*self.flying.popleft())
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
        if self.fatal is not None and exc[0] is None:
            raise self.fatal


def _fail_unrenderable(run: Run, notice: Notice, group: list[Recipient], error: Exception) -> None:
    reason = f"the message could not be rendered ({type(error).__name__}: {error})"
    keys = [(notice.id, r.email) for r in group]
    run.report.failed += run.deliveries.set_state(
        keys, DeliveryState.FAILED, reason, run.now, only_from=(PENDING,)
    )
    run.report.failures += [f"{notice.id} to {r.email}: {reason}" for r in group]


def _record(run: Run, notice: Notice, channel: Channel, outcomes: list[Outcome]) -> None:
    """Record each answer in the ledger, then count it in the run's report. A problem of a
    subscription (a webhook removed, a host down) is said once per run, not per notice."""
    answered = [(o.recipient, o.state.recorded, o.message_id, o.error) for o in outcomes]
    run.deliveries.record(notice.id, answered, channel.name, run.now)
    report, email = run.report, channel is run.channels.email
    kind = EMAIL if email else channel.name
    for outcome in outcomes:
        # a subscription's problem is its own, whatever the notice: said once per run
        said = f"{notice.id} to {outcome.recipient}: {outcome.error}"
        if not email:
            said = f"{outcome.recipient}: {outcome.error}"
        if outcome.state is Answer.SENT:
            report.sent += 1
            report.sent_by[kind] = report.sent_by.get(kind, 0) + 1
        elif outcome.state is Answer.FAILED:
            report.failed += 1
            _say_once(report, report.failures, said)
        else:  # retry or uncertain: left for the next run
            report.uncertain += outcome.state is Answer.UNCERTAIN
            _say_once(report, report.deferred, said)


def _say_once(report: SendReport, lines: list[str], said: str) -> None:
    if said not in report.said:
        report.said.add(said)
        lines.append(said)


def _post(run: Run, due: Due) -> None:
    """Post the notice and record the post; if it cannot be written, say so and leave it
    for the next run (the email goes out regardless)."""
    notice = due.notice
    try:
        post = run.publisher.publish(notice, due.note, run.now)
    except NotPublished as error:
        run.report.failed += 1
        run.report.failures.append(str(error))
        return
    window_id, stage = notice.window.id, notice.stage
    row = PostRow(notice.id, window_id, stage, post.status, post.title, post.path, run.now)
    run.deliveries.add_post(row)
    run.report.posts += 1


def _write_index(run: Run) -> None:
    """The index of every post recorded, newest first (called after a post)."""
    try:
        run.publisher.publish_index(run.deliveries.posts(), run.now)
    except NotPublished as error:
        run.report.failed += 1
        run.report.failures.append(str(error))


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
            about=Input.STATE,
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


def _first_answer(flights: list[_Flight]) -> None:
    """Wait until a request in flight, of any of ``flights``, is answered."""
    from concurrent.futures import FIRST_COMPLETED, wait

    flying = [future for flight in flights for future, _ in flight.flying]
    if flying:
        wait(flying, return_when=FIRST_COMPLETED)


class AnotherRunError(CtmaintError):
    """Another send kept the lock: this run did nothing (exit 0: cron overlap is normal)."""

    exit_code = 0
