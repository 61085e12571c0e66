"""The four details every notice and feed entry states, as plain text.

Date and time (provider zone with its abbreviation, and UTC; optionally a reader's own
zone), the products affected, what is done, and why. One function so that feeds, email
and status posts can never disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.model.policy import Policy
from ctmaint.model.times import RangeForm, local_range
from ctmaint.model.vocabulary import Impact
from ctmaint.model.windows import Window

IMPACT_WORDS = {
    Impact.NO_IMPACT: "no impact on service expected",
    Impact.REDUCED_REDUNDANCY: "service continues with reduced redundancy",
    Impact.DEGRADED: "service may be degraded or briefly interrupted",
    Impact.OUTAGE: "service will be unavailable",
}


class Details(Struct, frozen=True):
    """The four details as labelled lines, for renderers that lay them out themselves."""

    when: list[str]
    products: str
    impact: str
    description: str
    justification: str

    def lines(self) -> list[str]:
        first, *more = self.when
        return [
            f"When: {first}",
            *(f"      {line}" for line in more),
            f"Products affected: {self.products}",
            f"Impact: {self.impact}",
            f"Work: {self.description}",
            f"Why: {self.justification}",
        ]

    def text(self) -> str:
        return "\n".join(self.lines())


def details(window: Window, policy: Policy, reader_zone: ZoneInfo | None = None) -> Details:
    """The details of ``window``; ``reader_zone`` adds the reader's local time."""
    zone = policy.zone
    when = [span(window.start, window.end, zone, policy.provider.zone_label)]
    when.append(local_range(window.start, window.end, UTC))
    if reader_zone is not None and reader_zone.key != zone.key:
        when.append(span(window.start, window.end, reader_zone, reader_zone.key))
    return Details(
        when=when,
        products=", ".join(product_names(window, policy)),
        impact=f"{window.impact} ({IMPACT_WORDS[window.impact]})",
        description=window.description,
        justification=window.justification,
    )


def product_names(window: Window, policy: Policy) -> list[str]:
    """The display names of the products ``window`` affects (an unknown id as itself)."""
    return [policy.products[p].name if p in policy.products else p for p in window.products]


def span(start: datetime, end: datetime, zone: ZoneInfo, label: str) -> str:
    """``Fri 2026-12-18 22:00 MST to Sat 2026-12-19 04:00 MST (MT)``."""
    suffix = f" ({label})" if label else ""
    return local_range(start, end, zone) + suffix


def headline(window: Window, policy: Policy) -> str:
    """A one-line title stating the window in provider time, in the short form of
    :func:`ctmaint.model.times.range_ends`: ``Fri 2026-12-18 22:00 to Sat 2026-12-19 04:00 MST``,
    each end with its own abbreviation across a clock change."""
    when = local_range(window.start, window.end, policy.zone, RangeForm.TITLE)
    return f"{cancelled_prefix(window)}{window.title}: {when}"


def cancelled_prefix(window: Window) -> str:
    """What goes before a cancelled window's title in feeds and calendars."""
    return "CANCELLED: " if window.cancelled else ""
