"""Use cases: what each command does, with the clock and the paths passed in.

Nothing here prints or exits; results are returned as data for the CLI to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ctmaint.contacts import Contact, load_contacts
from ctmaint.errors import CtmaintError, InvalidInputError, Problem, UsageError
from ctmaint.ledger import Ledger, open_ledger
from ctmaint.policy import (
    EMBEDDED,
    Policy,
    contacts_outline,
    embedded_policy_text,
    example_contacts_text,
    load_policy,
)
from ctmaint.publish import write_tree
from ctmaint.schedule import Window, windows_between

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
    _ledger: Ledger | None = field(default=None, init=False)

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
    return windows_between(workspace.policy, start, end)


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
    notices = notice_files(windows, policy, now, posts=[])
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
    _ = workspace.ledger  # operator changes live here; opening it also creates it
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
    try:
        windows_between(policy, workspace.now, workspace.now + timedelta(days=366))
    except InvalidInputError as error:
        return CheckReport(error.problems, notes)
    try:
        contacts = load_contacts(policy.contacts_path, policy.products)
    except InvalidInputError as error:
        return CheckReport(error.problems, notes)
    notes.append(contacts_note(policy, contacts))
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
