"""The notice plan: which notice of which window is due when, until when, and to whom.

Pure functions of the policy, the windows and the contacts; the ledger says what has
been delivered. Late-run policy (the contract's "misfire grace"): a reminder is still
worth sending up to the window's start, a start notice up to its end, a completion
notice up to 24 hours after the end. Past that a notice is expired: reported, not sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.model.contacts import NOTIFY_ROLE, Contact
from ctmaint.model.csvrows import ALL_PRODUCTS
from ctmaint.model.policy import LeadStage, Policy
from ctmaint.model.times import at_local
from ctmaint.model.vocabulary import EMAIL, Stage, WindowStatus
from ctmaint.model.windows import Window

if TYPE_CHECKING:  # read only where subscriptions.csv is
    from ctmaint.model.subscriptions import Subscription

COMPLETE_GRACE = timedelta(hours=24)
# Status the window has when a stage's notice goes out (front matter of status posts).
STAGE_STATUS = {
    Stage.WEEK_BEFORE: WindowStatus.SCHEDULED,
    Stage.DAY_BEFORE: WindowStatus.SCHEDULED,
    Stage.ANNOUNCE: WindowStatus.SCHEDULED,
    Stage.START: WindowStatus.IN_PROGRESS,
    Stage.COMPLETE: WindowStatus.COMPLETED,
    Stage.CANCEL: WindowStatus.CANCELLED,
    Stage.RESCHEDULE: WindowStatus.SCHEDULED,
    Stage.EXTEND: WindowStatus.IN_PROGRESS,
    Stage.FOLLOW_UP: WindowStatus.COMPLETED,
}


class Notice(Struct, frozen=True):
    """One notice of one window: ``id`` is ``<window id>/<stage>``; times are UTC."""

    window: Window
    stage: Stage
    due: datetime
    expires: datetime
    ordinal: int = 1  # the second reschedule of a window is <window id>/reschedule-2
    note: str = ""  # operator text: a cancellation's reason, a follow-up's notes
    to_told: bool = False  # goes to those already sent a notice of the window, not by product

    @property
    def id(self) -> str:
        suffix = f"-{self.ordinal}" if self.ordinal > 1 else ""
        return f"{self.window.id}/{self.stage}{suffix}"

    @property
    def status(self) -> WindowStatus:
        """The window's status as the notice tells it (an announce says what it found)."""
        if self.stage is Stage.ANNOUNCE:
            return self.window.recorded
        return STAGE_STATUS[self.stage]

    def status_at(self, now: datetime) -> WindowStatus:
        """:attr:`status` as the notice says it when it goes out at ``now``: an announce sent
        once the work began (or ended) says so, never that it is still to come."""
        status = self.status
        if self.stage is not Stage.ANNOUNCE or status is WindowStatus.COMPLETED:
            return status
        if now >= self.window.end:
            return WindowStatus.COMPLETED
        return WindowStatus.IN_PROGRESS if now >= self.window.start else status

    @property
    def post_path(self) -> str:
        """Its status post's file under notices/ (see :func:`post_path`)."""
        return post_path(self.id)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires


def post_path(notice_id: str) -> str:
    """The status post of ``notice_id`` under notices/: ``posts/<window id>--<stage>.md``,
    the stage as in the id, so every notice has its own file (``--reschedule-2.md``)."""
    window_id, _, stage = notice_id.rpartition("/")
    return f"posts/{window_id}--{stage}.md"


class Recipient(Struct, frozen=True):
    """Where one copy of a notice goes. ``email`` is the ledger's key: the address
    (lowercased), or a subscription's :attr:`Subscription.key` when ``channel`` is one."""

    email: str
    name: str
    organization: str
    account: str
    zone_key: str | None
    channel: str = EMAIL

    @classmethod
    def of(cls, contact: Contact) -> Recipient:
        zone_key = contact.zone.key if contact.zone else None
        return cls(
            contact.email.lower(), contact.name, contact.organization, contact.account, zone_key
        )

    @classmethod
    def subscribed(cls, subscription: Subscription) -> Recipient:
        zone = subscription.zone
        return cls(
            subscription.key,
            subscription.organization,
            subscription.organization,
            subscription.account,
            zone.key if zone else None,
            subscription.channel,
        )

    @property
    def audience(self) -> Audience:
        return Audience(self.organization, self.account, self.zone_key, self.channel)


class Audience(Struct, frozen=True):
    """Recipients who get identical content: same channel, organization, account and zone."""

    organization: str
    account: str
    zone_key: str | None
    channel: str = EMAIL


def stages_of(policy: Policy, window: Window) -> tuple[Stage, ...]:
    """The stages of ``window``'s notices. Work announced once it had begun is not told
    again that it began; work recorded once it had ended, not that it ended: its announce
    says so (see :attr:`Window.recorded`), so each recipient hears of it in order."""
    spec = policy.calendars.get(window.calendar)
    stages = spec.notices if spec is not None else policy.unscheduled.notices
    if Stage.ANNOUNCE not in stages:
        return stages
    status = window.recorded
    told = {
        WindowStatus.IN_PROGRESS: {Stage.START},
        WindowStatus.COMPLETED: {Stage.START, Stage.COMPLETE},
    }
    return tuple(stage for stage in stages if stage not in told.get(status, ()))


def plan(policy: Policy, windows: Iterable[Window]) -> list[Notice]:
    """Every timed notice of ``windows`` (cancelled windows have none), ordered by due time."""
    notices = [
        notice
        for window in windows
        if not window.cancelled
        for stage in stages_of(policy, window)
        if (notice := notice_for(policy, window, stage)) is not None
    ]
    return sorted(notices, key=lambda n: (n.due, n.id))


def notice_for(policy: Policy, window: Window, stage: Stage) -> Notice | None:
    """The notice of ``stage`` for ``window`` with its due and expiry times, in UTC."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    if stage in policy.stages:
        due = _lead_due(policy.stages[stage], window, policy.zone)
        return Notice(window, stage, due, start)
    if stage is Stage.ANNOUNCE:
        made = window.created_at.astimezone(UTC)
        if window.recorded is WindowStatus.SCHEDULED:
            return Notice(window, stage, made, end)
        # work reported late is told, however short it was, for as long as a completion is
        return Notice(window, stage, made, max(made, end) + COMPLETE_GRACE)
    if stage is Stage.START:
        return Notice(window, stage, start, end)
    if stage is Stage.COMPLETE:
        return Notice(window, stage, end, end + COMPLETE_GRACE)
    return None


def _lead_due(stage: LeadStage, window: Window, zone: ZoneInfo) -> datetime:
    """``before`` the start (elapsed time), then moved to local time ``at`` that day.

    Never later than the start: a reminder after the window began would be no reminder.
    """
    due = window.start.astimezone(UTC) - stage.before
    if stage.at is not None:
        due = at_local(due.astimezone(zone).date(), stage.at, zone)
    return min(due, window.start).astimezone(UTC)


class ContactBook:
    """The contacts and subscriptions, indexed once for the questions a send asks of every
    notice.

    What an organization uses is every product on any of its rows: a maintenance contact
    listed with ``teams`` still hears of Connect work if another row of the organization
    names ``connect``. One copy per address: the first row of an address decides its
    name, account and zone. A subscription hears of the products of every row naming its
    target, one copy per target (its first row decides the rest).
    """

    def __init__(
        self, contacts: Sequence[Contact], subscriptions: Sequence[Subscription] = ()
    ) -> None:
        used: dict[str, set[str]] = {}
        for contact in contacts:
            used.setdefault(contact.organization, set()).update(contact.products)
        # every address, by its first row (whatever its roles): who a change notice reaches
        self.known: dict[str, Recipient] = {}
        # maintenance contacts, by the first maintenance row of each address
        self._notified: list[tuple[Recipient, frozenset[str]]] = []
        notified: set[str] = set()
        for contact in contacts:
            key = contact.email.lower()
            recipient = None
            if key not in self.known:
                recipient = self.known[key] = Recipient.of(contact)
            if NOTIFY_ROLE in contact.roles and key not in notified:
                notified.add(key)
                organization_uses = frozenset(used[contact.organization])
                # this row decides (its first row may have been another role's)
                self._notified.append((recipient or Recipient.of(contact), organization_uses))
        self._add_subscriptions(subscriptions)
        self._by_products: dict[frozenset[str], list[Recipient]] = {}

    def _add_subscriptions(self, subscriptions: Sequence[Subscription]) -> None:
        """One recipient per target URL, its first row deciding its organization, account
        and zone; it hears of the products of every row naming it (two organizations may
        share a channel, each for its own products)."""
        places: dict[str, int] = {}
        self._subscribed: dict[tuple[str, str], Recipient] = {}
        for subscription in subscriptions:
            key = subscription.key
            if key in places:
                recipient, products = self._notified[places[key]]
                self._notified[places[key]] = (recipient, products | subscription.products)
            elif key not in self.known:
                places[key] = len(self._notified)
                recipient = self.known[key] = Recipient.subscribed(subscription)
                self._notified.append((recipient, subscription.products))
                self._subscribed.setdefault((recipient.account, recipient.channel), recipient)

    def successor(self, account: str, channel: str) -> Recipient | None:
        """The subscription now listed for ``account`` on ``channel`` (its first row): where
        a subscription no longer listed, its URL replaced, is told of changes."""
        return self._subscribed.get((account, channel))

    def recipients(self, window: Window) -> list[Recipient]:
        """The maintenance contacts of organizations using a product ``window`` affects, then
        the subscriptions to one of them."""
        affected = frozenset(window.products) | {ALL_PRODUCTS}
        found = self._by_products.get(affected)
        if found is None:
            found = [r for r, used in self._notified if not used.isdisjoint(affected)]
            self._by_products[affected] = found
        return list(found)


def lookahead(policy: Policy) -> timedelta:
    """How far before a window its earliest notice can be due: the longest ``before``,
    plus a day for a stage's ``at`` (which can move the due time to earlier that day) and a
    day for a DST change between the two (a fall-back day has 25 hours)."""
    leads = [stage.before for stage in policy.stages.values()]
    return max(leads, default=timedelta(0)) + timedelta(days=2)
