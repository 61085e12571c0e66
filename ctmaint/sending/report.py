"""What a send did, or, previewed, would do: the counts and lines `send` prints.

:func:`describe` turns a plan into the report of a preview (`send --dry-run`); the run
(:mod:`ctmaint.sending.run`) fills one as it goes, so both print the same way.
"""

from __future__ import annotations

from collections import Counter

from msgspec import Struct, field

from ctmaint.model.notices import Notice
from ctmaint.model.text import plural
from ctmaint.model.times import utc_z
from ctmaint.model.vocabulary import EMAIL
from ctmaint.sending.plan import Expire, SendPlan


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
    sent_by: dict[str, int] = field(default_factory=dict)  # channel -> deliveries sent
    said: set[str] = field(default_factory=set)  # the lines above, each said once

    def summary(self) -> str:
        expired = sum(count for _, count, _ in self.expired)
        sent = f"sent {self.sent}{by_channel(self.sent_by)}"
        line = f"{sent}, failed {self.failed}, expired {expired}, pending {self.pending}"
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
            report.expired.append((notice_id, step.count, grace(step.notice)))
            report.actions.append(
                f"would mark {notice_id} expired ({plural(step.count, 'recipient')})"
            )
            continue
        if step.send:
            shown = step.send if verbose else step.send[:SHOWN_ADDRESSES]
            names = ", ".join(r.email for r in shown)
            more = len(step.send) - len(shown)
            names += f" and {more} more" if more else ""
            channels = Counter(recipient.channel for recipient in step.send)
            for channel, count in channels.items():
                report.sent_by[channel] = report.sent_by.get(channel, 0) + count
            to = f"{len(step.send)}{by_channel(channels)}"
            report.actions.append(f"would send {notice_id} to {to}: {names}")
        if step.post:
            report.posts += 1
            report.actions.append(f"would post {notice_id} to the status page")
    return report


def by_channel(counts: dict[str, int]) -> str:
    """`` (email 2, teams 1)`` when anything goes to a subscription; "" for email alone."""
    if not set(counts) - {EMAIL}:
        return ""
    return " (" + ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) + ")"


def grace(notice: Notice) -> str:
    """When ``notice`` was due and when its grace period ended: what an expiry knows."""
    return f"was due at {utc_z(notice.due)} and its grace period ended at {utc_z(notice.expires)}"
