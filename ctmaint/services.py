"""Use cases: what each command does, with the clock and the paths passed in.

Nothing here prints or exits; results are returned as data for the CLI to show.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ctmaint import changes, dispatch
from ctmaint.changes import Change
from ctmaint.contacts import Contact, load_contacts
from ctmaint.delivery import Transport
from ctmaint.dispatch import SendReport
from ctmaint.errors import CtmaintError, InvalidInputError, Problem, ScheduleError, UsageError
from ctmaint.ledger import (
    Changes,
    Deliveries,
    DeliveryRow,
    Ledger,
    open_ledger,
    open_snapshot,
)
from ctmaint.notices import Notice, lookahead, plan
from ctmaint.policy import (
    EMBEDDED,
    CalendarSpec,
    Policy,
    contacts_outline,
    embedded_policy_text,
    example_contacts_text,
    load_policy,
)
from ctmaint.publish import write_tree
from ctmaint.schedule import Window, windows_between
from ctmaint.times import format_duration, human_local

POLICY_FILE = "ctmaint.toml"
CONTACTS_FILE = "contacts.csv"
DEFAULT_STATE = Path(".ctmaint") / "state.db"


@dataclass
class Workspace:
    """Where a command runs: the policy file, the state database and the clock.

    The policy and ledger are loaded on first use, so commands that need neither stay
    fast and a command that fails validation creates no state.
    """

    config: Path | None
    state: Path
    now: datetime
    cwd: Path
    _policy: Policy | None = field(default=None, init=False)
    _contacts: list[Contact] | None = field(default=None, init=False)
    _ledger: Ledger | None = field(default=None, init=False)
    _changes: list[Change] | None = field(default=None, init=False)

    @classmethod
    def locate(cls, config: Path | None, state: Path | None, now: datetime, cwd: Path) -> Workspace:
        """Apply the defaults.

        The policy is ./ctmaint.toml if present, else the embedded one; the state is
        ./.ctmaint/state.db.
        """
        if config is None and (cwd / POLICY_FILE).is_file():
            config = cwd / POLICY_FILE
        return cls(config=config, state=state or cwd / DEFAULT_STATE, now=now, cwd=cwd)

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = load_policy(self.config, self.cwd)
        return self._policy

    @property
    def contacts(self) -> list[Contact]:
        if self._contacts is None:
            self._contacts = load_contacts(self.policy.contacts_path, self.policy.products)
        return self._contacts

    @property
    def changes(self) -> list[Change]:
        """The operator changes, read from a snapshot: reading them creates no state."""
        if self._changes is None:
            with self.reading() as ledger:
                self._changes = Changes(ledger).all()
        return self._changes

    def forget_changes(self) -> None:
        self._changes = None

    @contextmanager
    def reading(self) -> Iterator[Ledger]:
        """The state, read-only (see :func:`open_snapshot`): creates nothing, changes nothing."""
        ledger = open_snapshot(self.state)
        try:
            yield ledger
        finally:
            ledger.close()

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = open_ledger(self.state)
        return self._ledger

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


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


@dataclass(frozen=True)
class BuildResult:
    windows: int
    written: list[Path]
    unchanged: int


def build(workspace: Workspace, calendars_dir: Path, notices_dir: Path) -> BuildResult:
    """Render every feed and status document, then write them atomically.

    Everything is rendered in memory first: a failure leaves the previous files intact.
    """
    from ctmaint.render.publication import Horizon, calendar_files, notice_files

    policy, now = workspace.policy, workspace.now
    horizon = Horizon(
        now - timedelta(days=policy.days_back), now + timedelta(days=policy.days_ahead)
    )
    windows = schedule(workspace, horizon.start, horizon.end)
    calendars = calendar_files(windows, policy, now, horizon)
    with workspace.reading() as ledger:
        posts = Deliveries(ledger).posts()  # index.json lists what `send` posted
    notices = notice_files(windows, policy, now, horizon, posts)
    written = write_tree(calendars_dir, calendars) + write_tree(notices_dir, notices)
    return BuildResult(len(windows), written, len(calendars) + len(notices) - len(written))


def upcoming(workspace: Workspace, days: int, product: str | None = None) -> list[Window]:
    """Windows that have not ended at ``now`` and start within ``days`` days of it."""
    policy = workspace.policy
    if product is not None and product not in policy.products:
        raise UsageError(
            f"--product '{product}' is not a product of this policy; "
            f"known: {', '.join(policy.products)}"
        )
    if days < 1:
        raise UsageError(f"--days must be 1 or more, not {days}")
    _ = workspace.ledger  # the state database is created (and migrated) on first use
    now = workspace.now
    windows = schedule(workspace, now, now + timedelta(days=days))
    return [w for w in windows if product is None or product in w.products]


@dataclass(frozen=True)
class CheckReport:
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
        f"policy: {source}: {len(policy.calendars)} calendars, {len(policy.products)} products"
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
    if policy.provider.transport == "sendgrid" and not os.environ.get("SENDGRID_API_KEY"):
        notes.append("transport: sendgrid, but SENDGRID_API_KEY is not set here; `send` needs it")
    return CheckReport([], notes)


def _outline_contacts_problems(workspace: Workspace) -> list[Problem]:
    try:
        path, product_ids = contacts_outline(workspace.config, workspace.cwd)
        load_contacts(path, product_ids)
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
    return f"contacts: {path}: {len(contacts)} contacts, {len(told)} receive maintenance notices"


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
            f"{existing[0]} already exists; edit it, or pass --force to overwrite it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        path.write_text(text, encoding="utf-8")
    return list(targets)


def send(
    workspace: Workspace, transport_name: str | None, notices_dir: Path, dry_run: bool
) -> SendReport:
    """The cron entry point: deliver and post every due notice (see :mod:`ctmaint.dispatch`)."""
    policy, now = workspace.policy, workspace.now
    contacts = workspace.contacts  # validated before anything is claimed
    start, end = dispatch.span(policy, now)
    if dry_run:
        with workspace.reading() as ledger:
            windows = notice_windows(workspace, start, end)
            return dispatch.dry_run(policy, ledger, windows, workspace.changes, contacts, now)
    transport = make_transport(transport_name or policy.provider.transport, workspace)
    with dispatch.send_lock(workspace.state) as locked:
        if not locked:
            raise dispatch.AnotherRunError(
                "another `ctmaint send` on this state database is still running; "
                "this run did nothing"
            )
        windows = notice_windows(workspace, start, end)
        return dispatch.send(
            policy, workspace.ledger, windows, workspace.changes, contacts, transport,
            notices_dir, now,
        )  # fmt: skip


def make_transport(name: str, workspace: Workspace) -> Transport:
    if name == "outbox":
        from ctmaint.delivery.outbox import OutboxTransport

        return OutboxTransport(workspace.state.parent / "outbox")
    if name == "sendgrid":
        from ctmaint.delivery.sendgrid import SendGridTransport

        return SendGridTransport.from_environment(workspace.policy.sendgrid)
    raise UsageError(f"--transport '{name}' is not a transport; use outbox or sendgrid")


@dataclass(frozen=True)
class PlannedNotice:
    notice: Notice
    recipients: int
    state: str


def planned_notices(workspace: Workspace, days: int) -> list[PlannedNotice]:
    """Notices due from a week ago to ``days`` ahead, with recipients and ledger state."""
    if days < 1:
        raise UsageError(f"--days must be 1 or more, not {days}")
    policy, now = workspace.policy, workspace.now
    contacts = workspace.contacts
    first, last = now - timedelta(days=7), now + timedelta(days=days)
    windows = notice_windows(workspace, first - policy.longest_window, last + lookahead(policy))
    notices = plan(policy, windows) + changes.change_notices(policy, windows, workspace.changes)
    with workspace.reading() as ledger:
        deliveries = Deliveries(ledger)
        states = deliveries.states()
        shown = []
        for notice in sorted(notices, key=lambda n: (n.due, n.id)):
            if not first <= notice.due <= last:
                continue
            counts = states.get(notice.id, {})
            total = sum(counts.values()) or len(dispatch.addressees(notice, contacts, deliveries))
            state = notice_state(notice, counts, now)
            if total == 0 and notice.due <= now and state == "pending":
                state = "sent"  # nobody to tell: nothing is waiting
            shown.append(PlannedNotice(notice, total, state))
    return shown


def notice_state(notice: Notice, counts: dict[str, int], now: datetime) -> str:
    """pending, sent, failed, expired, or partial while some recipients are still pending."""
    waiting = counts.get("pending", 0) + counts.get("sending", 0) + counts.get("uncertain", 0)
    if not counts:
        return "expired" if notice.is_expired(now) else "pending"
    if waiting:
        return "partial" if counts.get("sent") else "pending"
    if counts.get("failed"):
        return "failed"
    if counts.get("expired"):
        return "expired"
    return "sent"


@dataclass(frozen=True)
class HistoryEntry:
    notice_id: str
    sent: int
    failed: int
    expired: int
    pending: int
    uncertain: int
    first_sent: str | None
    last_sent: str | None
    transport: str | None
    message_ids: list[str]
    errors: list[str]
    notes: list[str]


@dataclass(frozen=True)
class History:
    notices: list[HistoryEntry]
    changes: list[Change]


def history(workspace: Workspace) -> History:
    """What was sent, to how many, when, and what failed, per notice (oldest first), and
    every operator change."""
    with workspace.reading() as ledger:
        rows = Deliveries(ledger).rows()
    by_notice: dict[str, list[DeliveryRow]] = {}
    for row in rows:
        by_notice.setdefault(row.notice_id, []).append(row)
    return History([_history_entry(n, group) for n, group in by_notice.items()], workspace.changes)


def _history_entry(notice_id: str, group: list[DeliveryRow]) -> HistoryEntry:
    sent_times = sorted(r.sent_at for r in group if r.sent_at)
    return HistoryEntry(
        notice_id=notice_id,
        sent=sum(r.state == "sent" for r in group),
        failed=sum(r.state == "failed" for r in group),
        expired=sum(r.state == "expired" for r in group),
        pending=sum(r.state in ("pending", "sending") for r in group),
        uncertain=sum(r.state == "uncertain" for r in group),
        first_sent=sent_times[0] if sent_times else None,
        last_sent=sent_times[-1] if sent_times else None,
        transport=next((r.transport for r in group if r.transport), None),
        message_ids=sorted({r.message_id for r in group if r.message_id}),
        errors=sorted({f"{r.recipient}: {r.error}" for r in group if r.state == "failed"}),
        notes=sorted(
            {f"{r.recipient}: {r.error}" for r in group if r.state != "failed" and r.error}
        ),
    )


# -- operating on windows ------------------------------------------------------------------------


def current_window(workspace: Workspace, window_id: str) -> Window:
    """The window ``window_id`` as it stands after every change; ScheduleError if unknown."""
    log = changes.group(workspace.changes).get(window_id, [])
    window = changes.final_window(workspace.policy, window_id, log)
    if window is None:
        raise ScheduleError(
            f"there is no window '{window_id}'; `ctmaint upcoming` lists window ids"
        )
    return window


def _record(
    workspace: Workspace, window_id: str, kind: str, fields: dict[str, Any], by: str
) -> None:
    Changes(workspace.ledger).add(window_id, kind, fields, workspace.now, by)
    workspace.forget_changes()


def add(
    workspace: Workspace,
    start: datetime,
    end: datetime,
    products: list[str],
    texts: dict[str, str],
    impact: str | None,
    urgent: bool,
    by: str,
) -> Window:
    """Record unscheduled work; its announce notice is due on the next send."""
    existing = list(changes.group(workspace.changes))
    window_id, fields = changes.check_add(
        workspace.policy, existing, workspace.now, start, end, products, texts, impact, urgent
    )
    _record(workspace, window_id, "add", fields, by)
    return current_window(workspace, window_id)


def change_window(workspace: Workspace, window_id: str, kind: str, by: str, **args: Any) -> Window:
    """Validate and record one change (edit, cancel, reschedule, extend, complete, follow-up)."""
    window = current_window(workspace, window_id)
    now, policy = workspace.now, workspace.policy
    checks = {
        "edit": lambda: changes.check_edit(policy, window, now, args["values"]),
        "cancel": lambda: changes.check_cancel(window, now, args["reason"]),
        "reschedule": lambda: changes.check_reschedule(window, now, args["start"], args["end"]),
        "extend": lambda: changes.check_extend(window, now, args["until"]),
        "complete": lambda: changes.check_complete(window, now, args["at"] or now),
        "follow-up": lambda: changes.check_follow_up(window, now, args["notes"]),
    }
    fields = checks[kind]()
    _record(workspace, window_id, kind, fields, by)
    return current_window(workspace, window_id)
