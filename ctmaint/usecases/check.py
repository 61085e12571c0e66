"""`ctmaint check` and `ctmaint init`: validate the policy, contacts.csv and a shared
state, collecting every problem; write the shipped files to start from."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from msgspec import Struct

from ctmaint import clock
from ctmaint.errors import (
    CtmaintError,
    Input,
    InvalidInputError,
    Problem,
    PublishError,
    StateError,
    os_reason,
)
from ctmaint.model.contacts import Contact, load_contacts
from ctmaint.model.policy import (
    EMBEDDED,
    CalendarSpec,
    Policy,
    embedded_policy_text,
    example_contacts_text,
    example_subscriptions_text,
    file_outline,
)
from ctmaint.model.subscriptions import Subscription
from ctmaint.model.text import plural
from ctmaint.model.times import format_duration, human_local
from ctmaint.model.windows import windows_between
from ctmaint.publishing.files import (
    write_trees,
)
from ctmaint.state import peers
from ctmaint.usecases.migrate_state import masked_state
from ctmaint.usecases.workspace import (
    CONTACTS_FILE,
    POLICY_FILE,
    SUBSCRIPTIONS_FILE,
    Workspace,
    host_files,
)


class CheckReport(Struct, frozen=True):
    """What `check` found: every problem, and notes on what is configured."""

    problems: list[Problem]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(workspace: Workspace) -> CheckReport:
    """Validate the policy, contacts.csv and subscriptions.csv, collecting every problem;
    changes nothing."""
    try:
        policy = workspace.policy
    except InvalidInputError as error:
        return CheckReport(error.problems + _outline_problems(workspace), [])
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
    subscriptions = workspace.subscriptions
    try:
        contacts = load_contacts(policy.contacts_path, policy.products)
    except InvalidInputError as error:
        return CheckReport(problems + error.problems + workspace.subscription_problems, notes)
    problems += workspace.subscription_problems
    if problems:
        return CheckReport(problems, notes)
    notes += [calendar_note(policy, spec, workspace.now) for spec in policy.calendars.values()]
    notes.append(contacts_note(policy, contacts))
    if subscriptions:
        notes.append(subscriptions_note(policy, subscriptions))
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
    notes += _transport_notes(policy)
    return CheckReport([], notes)


def _transport_notes(policy: Policy) -> list[str]:
    """What `send` would miss on this host to use the policy's transport."""
    if policy.provider.transport != "sendgrid":
        return []
    from ctmaint.channels.sendgrid import KEY_VARIABLE

    if os.environ.get(KEY_VARIABLE):
        return []
    return [f"transport: sendgrid, but {KEY_VARIABLE} is not set here; `send` needs it"]


def _outline_problems(workspace: Workspace) -> list[Problem]:
    """The problems of contacts.csv and subscriptions.csv, read where a policy that has
    problems of its own names them."""
    from ctmaint.model.subscriptions import read_subscriptions

    problems: list[Problem] = []
    try:
        path, product_ids = file_outline(workspace.config, workspace.cwd)
        load_contacts(path, product_ids or None)  # no products known: do not judge them
    except InvalidInputError as error:
        problems += error.problems
    except OSError:
        pass
    try:
        path, product_ids = file_outline(workspace.config, workspace.cwd, "subscriptions")
        problems += read_subscriptions(path, product_ids or None)[1]
    except InvalidInputError as error:
        problems += error.problems
    except OSError:
        pass
    return problems


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


def subscriptions_note(policy: Policy, subscriptions: list[Subscription]) -> str:
    """How many subscriptions of each channel are posted to (no URL: they are credentials)."""
    counts = Counter(subscription.channel for subscription in subscriptions)
    each = ", ".join(f"{channel} {count}" for channel, count in sorted(counts.items()))
    listed = plural(len(subscriptions), "subscription")
    return f"subscriptions: {policy.subscriptions_path}: {listed} ({each})"


def init(directory: Path, force: bool = False) -> list[Path]:
    """Write the shipped policy, an example contacts.csv and a subscriptions.csv whose
    example rows are commented out (owner-only, as its real rows will be credentials) into
    ``directory``.

    Refuses to overwrite any of them unless ``force``; writes nothing if it refuses.
    """
    targets = {
        directory / POLICY_FILE: embedded_policy_text(),
        directory / CONTACTS_FILE: example_contacts_text(),
        directory / SUBSCRIPTIONS_FILE: example_subscriptions_text(),
    }
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        raise CtmaintError(
            f"{existing[0]} already exists; edit it, or overwrite it", about=Input.FORCE
        )
    try:
        files = {path.name: text.encode() for path, text in targets.items()}
        write_trees({directory: files}, private=[directory / SUBSCRIPTIONS_FILE])
    except OSError as error:
        raise PublishError(
            f"cannot write into {directory} ({os_reason(error)}); give a folder you can write"
        ) from None
    return list(targets)
