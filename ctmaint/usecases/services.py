"""Use cases: what each command does, with the clock and the paths passed in.

Nothing here prints or exits; results are returned as data for the CLI to show.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from ctmaint import clock
from ctmaint.errors import (
    CtmaintError,
    InvalidInputError,
    Problem,
    PublishError,
    ScheduleError,
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
from ctmaint.model.contacts import Contact, load_contacts
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
    write_trees,
)
from ctmaint.sending import plan as sendplan
from ctmaint.sending import run as dispatch
from ctmaint.state import peers
from ctmaint.state.ledger import (
    LEDGER_ID_KEY,
    MOVED_KEY,
    Changes,
    Deliveries,
    DeliveryRow,
    Ledger,
    StateLocation,
    WindowTaken,
    ledger_id,
)
from ctmaint.usecases.workspace import (
    CONTACTS_FILE,
    POLICY_FILE,
    host_files,
    notice_windows,
    schedule,
)

if TYPE_CHECKING:  # reports are built by `notices` and `history`, not on a cron tick
    from ctmaint.usecases.records import History, HistoryEntry, PlannedNotice
from ctmaint.usecases.workspace import Workspace as Workspace  # where the tests find it


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


def planned_notices(workspace: Workspace, days: int) -> list[PlannedNotice]:
    """Notices due from a week ago to ``days`` ahead, with recipients and ledger state,
    and, further back, every notice the next `send` will report as expired."""
    from ctmaint.usecases.records import PlannedNotice

    check_days(days)
    policy, now = workspace.policy, workspace.now
    contacts = workspace.contacts
    first, last = now - timedelta(days=7), now + timedelta(days=days)
    with workspace.reading() as ledger:
        back, _ = sendplan.span(policy, now, ledger)  # how far back `send` looks
        start = min(first - policy.longest_window, back)
        windows = notice_windows(workspace, start, last + lookahead(policy))
        notices = plan(policy, windows) + changes.change_notices(policy, windows, workspace.changes)
        deliveries = Deliveries(ledger)
        states = deliveries.states()
        told = sendplan.told(deliveries.rows())
        since = sendplan.first_send(sendplan.recorded_epoch(deliveries), now)
    shown = []
    book = ContactBook(contacts)
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
        from ctmaint.state.postgres import masked

        return masked(state)
    return str(state)


# The tables a state holds, in the order they are copied, with their columns.
_TABLES = {
    "changes": "seq, window_id, kind, fields, made_at, made_by",
    "deliveries": "notice_id, recipient, window_id, stage, account, state, attempts, due_at,"
    " expires_at, updated_at, sent_at, transport, message_id, error, resent_uncertain, host",
    "posts": "notice_id, window_id, stage, status, title, path, posted_at",
    "settings": "key, value",
}  # not hosts: only a shared state records them


def migrate_state(workspace: Workspace, url: str) -> dict[str, int]:
    """Copy the SQLite state of ``workspace`` into the empty PostgreSQL database at
    ``url``, in one transaction: every change (with its number), delivery, post and setting,
    the ledger's identity included; then mark the SQLite file as moved, so that a cron job
    still naming it refuses to send.

    Holds the SQLite state's send lock throughout (waiting as a second `send` does, then
    refusing), and refuses rows in flight, which only a send on the old state can settle.
    """
    from ctmaint.state import postgres

    if workspace.shared:
        raise UsageError("the state to copy from must be a SQLite file", subject="state")
    try:
        postgres.check_url(url)
    except StateError as error:
        raise UsageError(str(error), subject="to") from None
    with dispatch.send_lock(workspace.state) as held:
        if held is None:
            raise StateError(
                f"a `ctmaint send` on {workspace.state} is still running (it kept the send lock "
                f"for {dispatch.LOCK_WAIT_S:.0f} s): stop cron's `ctmaint send`, then migrate"
            )
        source = workspace.ledger  # refuses a state already moved
        # One SQLite write transaction from the read to the mark: an operator's change made
        # meanwhile waits for it (then is refused: the file is moved), never lost; if the
        # copy fails, the mark is rolled back with it.
        with source.transaction():
            rows = _rows_to_copy(source)
            source.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)",
                (MOVED_KEY, postgres.masked(url)),
            )
            _copy_into(url, rows)
    return {table: len(found) for table, found in rows.items()}


def _rows_to_copy(source: Ledger) -> dict[str, list[Any]]:
    """Every row of the SQLite ledger, read in one transaction; StateError if a delivery is
    in flight (left 'sending' by a run that stopped)."""
    with source.transaction():
        in_flight = int(
            source.execute(
                "SELECT count(*) FROM deliveries WHERE state = ?", (DeliveryState.SENDING,)
            ).fetchone()[0]
        )
        if in_flight:
            verb = "is" if in_flight == 1 else "are"
            raise StateError(
                f"{plural(in_flight, 'delivery', 'deliveries')} of {source.path} {verb} in "
                "flight, left by a `ctmaint send` that stopped: run `ctmaint send` on it once "
                "to settle them, then migrate"
            )
        return {
            table: list(source.execute(f"SELECT {columns} FROM {table}"))
            for table, columns in _TABLES.items()
        }


def _same_copy(target: Ledger, rows: dict[str, list[Any]]) -> bool:
    """Whether ``target`` already holds exactly ``rows``: the same ledger (its identity)
    with as many records of each kind, copied by a migration stopped before its end."""
    source_id = next((value for key, value in rows["settings"] if key == LEDGER_ID_KEY), None)
    if source_id is None or ledger_id(target) != source_id:
        return False
    return all(
        int(target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) == len(found_rows)
        for table, found_rows in rows.items()
    )


def _copy_into(url: str, rows: dict[str, list[Any]]) -> None:
    """Insert ``rows`` into the empty shared ledger at ``url``, in one transaction; the
    identity the new ledger was given makes way for the copied one's."""
    from ctmaint.state import postgres

    target = postgres.open_ledger(url)
    try:
        if _same_copy(target, rows):
            return  # an earlier run copied it and stopped before marking the file as moved
        with target.transaction():
            target.execute("DELETE FROM settings WHERE key = ?", (LEDGER_ID_KEY,))
            held = sum(
                int(target.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in _TABLES
            )
            if held:
                raise StateError(
                    f"the state database {postgres.masked(url)} already holds {held} records; "
                    "copy into an empty database"
                )
            for table, columns in _TABLES.items():
                marks = ", ".join("?" * len(columns.split(",")))
                target.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows[table])
            target.execute(
                "SELECT setval(pg_get_serial_sequence('changes', 'seq'),"
                " COALESCE((SELECT max(seq) FROM changes), 0) + 1, false)"
            )
    finally:
        target.close()
