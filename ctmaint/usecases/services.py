"""Use cases: what each command does, with the clock and the paths passed in.

Nothing here prints or exits; results are returned as data for the CLI to show.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct

from ctmaint import clock
from ctmaint.channels import posts
from ctmaint.channels.base import Transport
from ctmaint.errors import (
    CtmaintError,
    InvalidInputError,
    Problem,
    PublishError,
    ScheduleError,
    StateBusy,
    StateError,
    UsageError,
    os_reason,
)
from ctmaint.model import changes
from ctmaint.model.changes import (
    Add,
    Cancel,
    Change,
    Complete,
    Edit,
    Extend,
    FollowUp,
    Reschedule,
    WindowEvent,
    check_author,
    decode_stored,
)
from ctmaint.model.contacts import Contact, load_contacts, rows_left_out
from ctmaint.model.notices import ContactBook, Notice, lookahead, plan
from ctmaint.model.policy import (
    EMBEDDED,
    CalendarSpec,
    Policy,
    contacts_outline,
    embedded_policy_text,
    example_contacts_text,
)
from ctmaint.model.text import plural
from ctmaint.model.times import format_duration, human_local
from ctmaint.model.vocabulary import WAITING, DeliveryState, Impact, Stage
from ctmaint.model.windows import Window, elapsed_end, windows_between
from ctmaint.publishing.files import (
    ForeignFile,
    publish_trees,
    remove_stale_temporaries,
    write_trees,
)
from ctmaint.sending import plan as sendplan
from ctmaint.sending import run as dispatch
from ctmaint.sending.run import SendReport
from ctmaint.state import peers
from ctmaint.state.ledger import Changes, Deliveries, DeliveryRow, Ledger, WindowTaken
from ctmaint.state.location import PostgresUrl, StateLocation
from ctmaint.usecases.workspace import CONTACTS_FILE, POLICY_FILE

if TYPE_CHECKING:  # reports are built by `notices` and `history`, not on a cron tick
    from ctmaint.usecases.records import History, HistoryEntry, PlannedNotice
from ctmaint.usecases.workspace import Workspace as Workspace  # where the tests find it


def schedule(workspace: Workspace, start: datetime, end: datetime) -> list[Window]:
    """The windows overlapping [start, end): the policy's rules with operator changes applied."""
    return changes.schedule(workspace.policy, workspace.changes, start, end)


def notice_windows(workspace: Workspace, start: datetime, end: datetime) -> list[Window]:
    """The windows whose notices may be due: those in [start, end), and every changed one
    (a window moved far ahead still owes its `reschedule` notice now)."""
    windows = {w.id: w for w in schedule(workspace, start, end)}
    for window in changes.changed_windows(workspace.policy, workspace.changes):
        windows.setdefault(window.id, window)
    return sorted(windows.values(), key=lambda w: (w.start.timestamp(), w.id))


class BuildResult(Struct, frozen=True):
    """What `build` did: the windows, the files written, unchanged and removed."""

    windows: int
    written: list[Path]
    unchanged: int
    removed: list[Path]  # files an earlier build wrote that this one no longer writes
    notes: list[str]  # why a file an earlier build wrote was left in place


def build(workspace: Workspace, calendars_dir: Path, notices_dir: Path) -> BuildResult:
    """Render every feed and status document, then write them atomically.

    Everything is rendered in memory first: a failure leaves the previous files intact.
    """
    from ctmaint.publishing.site import Horizon, calendar_files, notice_files

    if calendars_dir.resolve() == notices_dir.resolve():
        raise UsageError(
            f"the feeds and the status files would share {calendars_dir}: give two folders",
            subject="calendars",
        )
    policy, now = workspace.policy, workspace.now
    horizon = Horizon(
        now - timedelta(days=policy.days_back), now + timedelta(days=policy.days_ahead)
    )
    windows = schedule(workspace, horizon.start, horizon.end)
    calendars = calendar_files(windows, policy, now, horizon)
    with workspace.reading() as ledger:
        posts = Deliveries(ledger).posts()  # index.json lists what `send` posted
    notices = notice_files(windows, policy, now, horizon, posts, workspace.changes)
    try:
        done = publish_trees({calendars_dir: calendars, notices_dir: notices})
    except ForeignFile as error:
        raise PublishError(str(error)) from None
    except OSError as error:
        where = error.filename or f"{calendars_dir} or {notices_dir}"
        raise PublishError(
            f"cannot write {where} ({os_reason(error)}); the previous feeds and status files "
            "are unchanged"
        ) from None
    total = len(calendars) + len(notices) + 2  # and the record of each folder
    return BuildResult(
        len(windows), done.written, total - len(done.written), done.removed, done.notes
    )


def upcoming(workspace: Workspace, days: int, products: tuple[str, ...] = ()) -> list[Window]:
    """Windows that have not ended at ``now`` and start within ``days`` days of it; with
    ``products``, only those affecting at least one of them."""
    policy = workspace.policy
    unknown = [product for product in products if product not in policy.products]
    if unknown:
        raise UsageError(
            f"'{unknown[0]}' is not a product of this policy; known: {', '.join(policy.products)}",
            subject="product",
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


class CheckReport(Struct, frozen=True):
    """What `check` found: every problem, and notes on what is configured."""

    problems: list[Problem]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(workspace: Workspace) -> CheckReport:
    """Validate the policy and contacts.csv, collecting every problem; changes nothing."""
    try:
        policy = workspace.policy
    except InvalidInputError as error:
        return CheckReport(error.problems + _outline_contacts_problems(workspace), [])
    source = "the embedded policy" if policy.source == EMBEDDED else policy.source
    notes = [
        f"policy: {source}: {plural(len(policy.calendars), 'calendar')}, "
        f"{plural(len(policy.products), 'product')}"
    ]
    problems: list[Problem] = []
    try:  # rules that only fail when expanded (two windows on one day)
        windows_between(policy, workspace.now, workspace.now + timedelta(days=366))
    except InvalidInputError as error:
        problems += error.problems
    try:
        contacts = load_contacts(policy.contacts_path, policy.products)
    except InvalidInputError as error:
        return CheckReport(problems + error.problems, notes)
    if problems:
        return CheckReport(problems, notes)
    notes += [calendar_note(policy, spec, workspace.now) for spec in policy.calendars.values()]
    notes.append(contacts_note(policy, contacts))
    if workspace.shared:  # a shared state must be reachable from this host
        try:
            from ctmaint.state.postgres import identify

            with workspace.reading() as ledger:
                where = masked_state(workspace.state)
                notes.append(f"state: {where} is reachable: {identify(ledger)}")
                seen = datetime.fromtimestamp(clock.real_time(), UTC)
                disagree = peers.disagreements(ledger, host_files(workspace), seen)
        except StateError as error:
            return CheckReport([Problem("state", "", str(error))], notes)
        if disagree:
            return CheckReport([Problem("state", "", line) for line in disagree], notes)
    if policy.provider.transport == "sendgrid" and not os.environ.get("SENDGRID_API_KEY"):
        notes.append("transport: sendgrid, but SENDGRID_API_KEY is not set here; `send` needs it")
    return CheckReport([], notes)


def _outline_contacts_problems(workspace: Workspace) -> list[Problem]:
    try:
        path, product_ids = contacts_outline(workspace.config, workspace.cwd)
        load_contacts(path, product_ids or None)  # no products known: do not judge them
    except InvalidInputError as error:
        return error.problems
    except OSError:
        pass
    return []


def calendar_note(policy: Policy, spec: CalendarSpec, now: datetime) -> str:
    """One line on a calendar: its rule, its length and its next window (``check`` prints it)."""
    start = human_local(spec.rule.next_after(now), policy.zone)
    length = format_duration(spec.duration)
    return f"calendar {spec.id}: {spec.rule.describe()}, {length}; next {start}"


def contacts_note(policy: Policy, contacts: list[Contact]) -> str:
    path = policy.contacts_path
    if not path.exists():
        return f"contacts: {path} does not exist, so no one will be emailed"
    told = {c.email.lower() for c in contacts if "maintenance" in c.roles}
    receive = "receives" if len(told) == 1 else "receive"
    listed = plural(len(contacts), "contact")
    return f"contacts: {path}: {listed}, {len(told)} {receive} maintenance notices"


def init(directory: Path, force: bool = False) -> list[Path]:
    """Write the shipped policy and an example contacts.csv into ``directory``.

    Refuses to overwrite either file unless ``force``; writes nothing if it refuses.
    """
    targets = {
        directory / POLICY_FILE: embedded_policy_text(),
        directory / CONTACTS_FILE: example_contacts_text(),
    }
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        raise CtmaintError(
            f"{existing[0]} already exists; edit it, or overwrite it", subject="force"
        )
    try:
        write_trees({directory: {path.name: text.encode() for path, text in targets.items()}})
    except OSError as error:
        raise PublishError(
            f"cannot write into {directory} ({os_reason(error)}); give a folder you can write"
        ) from None
    return list(targets)


# Given the number of deliveries a run will make, returns what to call as they are handled.
ProgressStart = Callable[[int], Callable[[int], None]]


def send(
    workspace: Workspace,
    transport_name: str | None,
    notices_dir: Path,
    dry_run: bool,
    progress: ProgressStart | None = None,
    outbox: Path | None = None,
    verbose: bool = False,
) -> SendReport:
    """The cron entry point: deliver and post every due notice (see :mod:`ctmaint.sending.plan`
    for what is decided and :mod:`ctmaint.sending.run` for how it is carried out)."""
    _ = workspace.contacts  # read before anything is claimed; bad rows left out
    if dry_run:
        plan = plan_send(workspace)
        report = dispatch.describe(plan, verbose)
        _note_left_out(report, workspace)
        report.nobody = nobody_told(workspace, plan.nobody)
        report.waiting = peers.waiting_lines(plan.unlisted, peers.host_name(workspace.cwd))
        return report
    name = transport_name or workspace.policy.provider.transport
    transport = make_transport(name, workspace, outbox)
    try:
        return _send(workspace, transport, notices_dir, progress)
    except StateBusy as error:  # another session holds the write lock: leave as for ours
        raise dispatch.AnotherRunError(str(error)) from None


def _send(
    workspace: Workspace,
    transport: Transport,
    notices_dir: Path,
    progress: ProgressStart | None,
) -> SendReport:
    """:func:`send`, once the transport is made: under the send lock, plan and carry out."""
    policy, now = workspace.policy, workspace.now
    contacts = workspace.contacts
    with dispatch.send_lock(workspace.state) as held:
        if held is None:
            raise dispatch.AnotherRunError(
                "another `ctmaint send` on this state database is still running; "
                "this run did nothing"
            )
        ledger = workspace.ledger
        disagree = _meet_the_other_hosts(workspace, ledger) if workspace.shared else []
        transport.start()
        remove_stale_temporaries(notices_dir / "posts")
        windows = notice_windows(workspace, *dispatch.span(policy, now, ledger))
        plan = dispatch.make_plan(policy, ledger, windows, workspace.changes, contacts, now)
        run = dispatch.Run(clock.monotonic() + policy.send.time_budget.total_seconds())
        run.still_held = held
        if progress is not None and plan.deliveries:
            run.progress = progress(plan.deliveries)
        report = dispatch.send(policy, ledger, plan, transport, notices_dir, now, run)
        _note_left_out(report, workspace)
        report.nobody = nobody_told(workspace, plan.nobody)
        report.disagree = disagree
        report.waiting = peers.waiting_lines(plan.unlisted, ledger.host)
        failure = posts.refile(Deliveries(ledger), policy, workspace.changes, notices_dir, now)
        if failure:
            report.failed += 1
            report.failures.append(failure)
        return report


def _meet_the_other_hosts(workspace: Workspace, ledger: Ledger) -> list[str]:
    """On a shared state: refuse a host clock far from the server's, record this host's
    files, and say how the other hosts' differ."""
    from ctmaint.state.postgres import check_clock

    seen = datetime.fromtimestamp(clock.real_time(), UTC)
    check_clock(ledger, seen.timestamp())
    here = host_files(workspace)
    peers.record(ledger, here, seen)
    return peers.disagreements(ledger, here, seen)


def host_files(workspace: Workspace) -> peers.HostFiles:
    """This host and the files it plans with, as :mod:`ctmaint.state.peers` records them."""
    import tomllib

    config = workspace.config
    text = config.read_text(encoding="utf-8-sig") if config is not None else embedded_policy_text()
    rows = [contact.canonical() for contact in workspace.contacts]
    return peers.HostFiles.here(workspace.cwd, tomllib.loads(text), rows)


def nobody_told(workspace: Workspace, notices: Sequence[Notice]) -> list[str]:
    """One line per due notice that reaches no one, naming it and why: the contacts file is
    missing, lists no one who can be read, or names no maintenance contact of an
    organization using the window's products."""
    path = workspace.policy.contacts_path

    def why(notice: Notice) -> str:
        if not path.exists():
            return f"{path} does not exist"
        if not workspace.contacts:
            return f"{path} lists no contact that can be read"
        used = " or ".join(notice.window.products)
        return f"no maintenance contact in {path} is of an organization using {used}"

    return [f"{notice.id} reached no one: {why(notice)}" for notice in notices]


def _note_left_out(report: dispatch.SendReport, workspace: Workspace) -> None:
    """Put the rows of contacts.csv left out into ``report``: each problem, and how many
    rows of how many were left out (nothing when none was)."""
    problems = workspace.contact_problems
    if problems:
        report.left_out = [str(problem) for problem in problems]
        report.left_out_rows = rows_left_out(problems)
        report.contact_rows = len(workspace.contacts) + report.left_out_rows


def plan_send(workspace: Workspace) -> sendplan.SendPlan:
    """What `send` would do now, decided on a read-only snapshot (``send --dry-run``)."""
    policy, now = workspace.policy, workspace.now
    contacts = workspace.contacts
    with workspace.reading() as ledger:
        windows = notice_windows(workspace, *dispatch.span(policy, now, ledger))
        return dispatch.make_plan(policy, ledger, windows, workspace.changes, contacts, now)


def make_transport(name: str, workspace: Workspace, outbox: Path | None = None) -> Transport:
    """The transport ``name``, its configuration checked; it touches nothing until started."""
    if name == "outbox":
        from ctmaint.channels.outbox import OutboxTransport

        return OutboxTransport(workspace.outbox(outbox))
    if name == "sendgrid":
        from ctmaint.channels.sendgrid import SendGridTransport

        return SendGridTransport.from_environment(workspace.policy.sendgrid)
    raise UsageError(f"'{name}' is not a transport; use outbox or sendgrid", subject="transport")


def planned_notices(workspace: Workspace, days: int) -> list[PlannedNotice]:
    """Notices due from a week ago to ``days`` ahead, with recipients and ledger state,
    and, further back, every notice the next `send` will report as expired."""
    from ctmaint.usecases.records import PlannedNotice

    check_days(days)
    policy, now = workspace.policy, workspace.now
    contacts = workspace.contacts
    first, last = now - timedelta(days=7), now + timedelta(days=days)
    with workspace.reading() as ledger:
        back, _ = dispatch.span(policy, now, ledger)  # how far back `send` looks
        start = min(first - policy.longest_window, back)
        windows = notice_windows(workspace, start, last + lookahead(policy))
        notices = plan(policy, windows) + changes.change_notices(policy, windows, workspace.changes)
        deliveries = Deliveries(ledger)
        states = deliveries.states()
        told = sendplan.told(deliveries.rows())
        epoch = deliveries.setting(dispatch.EPOCH_KEY)
    # As `send` decides: a notice that expired before the first send here is not one it
    # missed, so neither reports it (with no send yet, that is everything expired by now).
    since = min(datetime.fromisoformat(epoch), now) if epoch else now
    shown = []
    book = ContactBook(contacts)
    for notice in sorted(notices, key=lambda n: (n.due, n.id)):
        counts = dict(states.get(notice.id, {}))
        if not notice.is_expired(now) and counts.get(DeliveryState.EXPIRED):
            # expired by a run whose clock was ahead: the next send sends them after all
            expired = counts.pop(DeliveryState.EXPIRED)
            counts[DeliveryState.PENDING] = counts.get(DeliveryState.PENDING, 0) + expired
        missed = not counts and notice.is_expired(now) and notice.expires > since
        if not (first <= notice.due <= last or (missed and notice.window.end > back)):
            continue
        if not counts and notice.is_expired(now) and not missed:
            continue
        total = sum(counts.values()) or len(sendplan.addressees(notice, book, told))
        if total == 0 and notice.due < first:
            continue  # nobody to tell, so `send` reports nothing
        state = notice_state(notice, counts, now)
        if total == 0 and not notice.to_told:
            state = NO_RECIPIENTS  # a problem `send` reports: the contacts are wrong
        elif total == 0 and notice.due <= now and state == "pending":
            state = "sent"  # nobody was told of the window, so nobody needs telling
        shown.append(PlannedNotice(notice, total, state))
    return shown


def check_days(days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"the number of days must be 1 to {MAX_DAYS}, not {days}", subject="days")


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
    from ctmaint.usecases.records import HistoryEntry

    sent_times = sorted(r.sent_at for r in group if r.sent_at)
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
        transport=next((r.transport for r in group if r.transport), None),
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
    )


# -- operating on windows ------------------------------------------------------------------------
# Each command reads the change log, checks the change against the window as it stands and
# appends it, in one transaction that holds the write lock: two operators at once are
# serialized, never interleaved.


def window_in(workspace: Workspace, log: list[Change], window_id: str) -> Window:
    """The window ``window_id`` as ``log`` leaves it; ScheduleError if there is none."""
    history = changes.group(log).get(window_id, [])
    window = changes.final_window(workspace.policy, window_id, history)
    if window is None:
        raise ScheduleError(
            f"there is no window {window_id!r}; `ctmaint upcoming` lists window ids"
        )
    return window


def current_window(workspace: Workspace, window_id: str) -> Window:
    """The window ``window_id`` as it stands after every change; ScheduleError if unknown."""
    return window_in(workspace, workspace.changes, window_id)


def add(workspace: Workspace, work: Add, by: str) -> Window:
    """Record unscheduled work; its announce notice is due on the next send."""
    check_author(by)
    work.check(workspace.policy, workspace.now)
    ledger = workspace.ledger
    with ledger.transaction():
        log = decode_stored(Changes(ledger).all())
        window_id = changes.next_unscheduled_id(workspace.policy, changes.group(log), work.start)
        try:
            Changes(ledger).add(window_id, work.kind, work.to_json(), workspace.now, by)
        except WindowTaken:  # cannot happen while the log is read under the write lock
            raise ScheduleError(f"{window_id} was taken meanwhile; run the command again") from None
    workspace.forget_changes()
    return work.create(window_id, workspace.policy, workspace.now)


def _change(
    workspace: Workspace, window_id: str, by: str, make: Callable[[Window], WindowEvent]
) -> Window:
    """Read, check and record one change of ``window_id`` in one transaction.

    The change is checked once against a read-only snapshot first, so a refused change
    creates no state database; then again under the write lock, where it counts.
    """
    check_author(by)
    policy, now = workspace.policy, workspace.now
    seen = current_window(workspace, window_id)
    make(seen).validate(seen, policy, now)
    ledger = workspace.ledger
    with ledger.transaction():
        window = window_in(workspace, decode_stored(Changes(ledger).all()), window_id)
        event = make(window)
        event.validate(window, policy, now)
        Changes(ledger).add(window_id, event.kind, event.to_json(), now, by)
        if isinstance(event, Cancel):  # undelivered notices of a cancelled window are not sent
            Deliveries(ledger).cancel_undelivered(window_id, Stage.CANCEL, now)
    workspace.forget_changes()
    return event.apply(window, policy, now)


def edit(
    workspace: Workspace,
    window_id: str,
    by: str,
    *,
    summary: str | None = None,
    description: str | None = None,
    justification: str | None = None,
    products: tuple[str, ...] | None = None,
    impact: Impact | None = None,
) -> Window:
    """Change the details of one window; the next notice carries them."""
    given = {
        "summary": summary,
        "description": description,
        "justification": justification,
        "products": products,
        "impact": impact,
    }
    values = {key: value for key, value in given.items() if value is not None}
    return _change(workspace, window_id, by, lambda window: Edit(values))


def cancel(workspace: Workspace, window_id: str, reason: str, by: str) -> Window:
    """Cancel one window; those told of it are told why on the next send."""
    return _change(workspace, window_id, by, lambda window: Cancel(reason))


def reschedule(
    workspace: Workspace, window_id: str, start: datetime, end: datetime | None, by: str
) -> Window:
    """Move one window (keeping its length unless ``end`` is given)."""

    def move(window: Window) -> Reschedule:
        until = end or elapsed_end(start, window.end - window.start)
        return Reschedule(start, until, window.start, window.end)

    return _change(workspace, window_id, by, move)


def extend(workspace: Workspace, window_id: str, until: datetime, by: str) -> Window:
    """Lengthen one window."""
    return _change(workspace, window_id, by, lambda window: Extend(until, window.end))


def complete(workspace: Workspace, window_id: str, at: datetime | None, by: str) -> Window:
    """End one window at ``at`` (default now)."""
    end = at or workspace.now
    return _change(workspace, window_id, by, lambda window: Complete(end, window.end))


def follow_up(workspace: Workspace, window_id: str, notes: str, by: str) -> Window:
    """After a window, the note on what it brought, for those told of it."""
    return _change(workspace, window_id, by, lambda window: FollowUp(notes.strip()))


def masked_state(state: StateLocation | str) -> str:
    """The state as messages show it: a path, or a URL with its password masked."""
    if isinstance(state, str):
        from ctmaint.state.location import masked

        return masked(state)
    return str(state)


def migrate_state(workspace: Workspace, url: str) -> dict[str, int]:
    """Copy the SQLite state of ``workspace`` into the empty PostgreSQL database at ``url``
    and mark the file as moved (:func:`ctmaint.state.migrate.copy_ledger`); how many rows of
    each table were copied.

    Holds the SQLite state's send lock throughout (waiting as a second `send` does, then
    refusing), and refuses rows in flight, which only a send on the old state can settle.
    """
    from ctmaint.state.migrate import copy_ledger

    if workspace.shared:
        raise UsageError("the state to copy from must be a SQLite file", subject="state")
    try:
        target = PostgresUrl.checked(url)
    except StateError as error:
        raise UsageError(str(error), subject="to") from None
    with dispatch.send_lock(workspace.state) as held:
        if held is None:
            raise StateError(
                f"a `ctmaint send` on {workspace.state} is still running (it kept the send lock "
                f"for {dispatch.LOCK_WAIT_S:.0f} s): stop cron's `ctmaint send`, then migrate"
            )
        return copy_ledger(workspace.ledger, target)  # the ledger refuses a state already moved
