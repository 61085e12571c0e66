"""The ``[calendars.ID]`` tables: each rule-driven calendar, when its windows start and what
they say."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.model.policy.provider import Product
from ctmaint.model.policy.stages import LeadStage
from ctmaint.model.policy.table import ID, ID_RULE, Table, one_of, positive_duration
from ctmaint.model.rules import CronRule, CycleRule, Rule
from ctmaint.model.times import check_in_range, parse_duration
from ctmaint.model.vocabulary import LEAD_STAGES, TIMED_STAGES, Impact, Stage

UNSCHEDULED = "unscheduled"  # the calendar of the operator's own windows: no rule may take it
IMPACTS = tuple(Impact)
IMPACT = one_of(IMPACTS)
CALENDAR_KEYS = (
    "title", "cron", "every", "anchor", "duration", "products", "impact", "summary",
    "description", "justification", "notices", "status_page", "skip",
)  # fmt: skip
_TEXTS = ("title", "summary", "description", "justification")
_TIMED_STAGE = one_of(TIMED_STAGES)
_DURATION = positive_duration("30m or 6h")


class CalendarSpec(Struct, frozen=True):
    """One rule-driven calendar: when its windows start and what they say."""

    id: str
    title: str
    rule: Rule
    duration: timedelta
    products: tuple[str, ...]
    impact: Impact
    summary: str
    description: str
    justification: str
    notices: tuple[Stage, ...]
    status_page: bool
    skip: frozenset[date]

    @classmethod
    def from_toml(
        cls,
        table: Table,
        zone: ZoneInfo | None,
        products: Mapping[str, Product],
        stages: Mapping[str, LeadStage],
    ) -> CalendarSpec | None:
        """The calendar of ``table`` (its key is the id), or None when a required key is
        missing or refused, or when ``zone`` is None (the provider reported why).

        Any other problem (an unknown key, a bad id, a notice or skip date refused) is
        reported and its value left out: the policy refuses the file as a whole.
        """
        if not ID.fullmatch(table.key) or table.key == UNSCHEDULED:
            table.report_table(f"{ID_RULE}, and not '{UNSCHEDULED}'")
        table.known(CALENDAR_KEYS)
        rule = _rule(table, zone)
        duration = table.required("duration", _DURATION)
        affected = _affected_products(table, products)
        impact = table.required("impact", IMPACT)
        title, summary, description, justification = (table.required(k, str) for k in _TEXTS)
        notices = _notices(table, stages)
        status_page = table.optional("status_page", bool, False)
        skip = _skip_dates(table)
        if rule is None or duration is None or affected is None or impact is None:
            return None
        if title is None or summary is None or description is None or justification is None:
            return None
        return cls(
            id=table.key,
            title=title or table.key,  # an empty title reads as the calendar's id
            rule=rule,
            duration=duration,
            products=affected,
            impact=impact,
            summary=summary,
            description=description,
            justification=justification,
            notices=notices,
            status_page=status_page,
            skip=skip,
        )


def _rule(table: Table, zone: ZoneInfo | None) -> Rule | None:
    """A cron rule or a cycle (``every`` from ``anchor``), whichever the table holds."""
    has_cron, has_cycle = "cron" in table, "every" in table or "anchor" in table
    if has_cron == has_cycle:
        table.report_table("needs either cron = '...' or every = '...' with anchor = '...'")
        return None
    if has_cron:
        return _cron_rule(table, zone)
    every = table.required("every", _whole_days)
    anchor = table.required("anchor", _local_datetime)
    if every is None or anchor is None or zone is None:
        return None
    return CycleRule(anchor, every, zone)


def _cron_rule(table: Table, zone: ZoneInfo | None) -> CronRule | None:
    expression = table.required("cron", str)
    if expression is None or not _valid_cron(expression):
        table.report(
            "cron",
            f"{expression!r} is not a cron expression with 5 fields, "
            "like '0 22 * * 5#3' (third Friday, 22:00)",
        )
        return None
    if not _cron_matches(expression):
        table.report(
            "cron",
            f"{expression!r} never matches a real date (like 30 February); check its day and month",
        )
        return None
    return CronRule(expression, zone) if zone else None


def _affected_products(table: Table, products: Mapping[str, Product]) -> tuple[str, ...] | None:
    """The product ids listed, every product for ``*``; None when one is unknown."""
    listed = table.strings("products")
    if listed is None:
        return None
    if not listed:
        table.report("products", "is empty; list the affected product ids, or '*'")
        return None
    if "*" in listed:
        return tuple(products)
    unknown = [p for p in listed if p not in products]
    for product_id in unknown:
        table.report(
            "products",
            f"'{product_id}' is not a product; known: {', '.join(products) or 'none'}",
        )
    return None if unknown else listed


def _notices(table: Table, stages: Mapping[str, LeadStage]) -> tuple[Stage, ...]:
    """The timed notices asked for (none when left out); a lead stage needs its table."""
    notices: list[Stage] = []
    for text in table.optional_strings("notices", ()):
        stage = table.parsed("notices", text, _TIMED_STAGE)
        if stage is None:
            continue
        if stage in LEAD_STAGES and stage not in stages:
            table.report("notices", f"'{stage}' needs a [stages.{stage}] table")
        else:
            notices.append(stage)
    return tuple(notices)


def _skip_dates(table: Table) -> frozenset[date]:
    days = (table.parsed("skip", text, _iso_date) for text in table.optional_strings("skip", ()))
    return frozenset(day for day in days if day is not None)


def _valid_cron(expression: str) -> bool:
    from croniter import croniter

    return len(expression.split()) == 5 and bool(croniter.is_valid(expression))


def _cron_matches(expression: str) -> bool:
    """Whether the expression names at least one real moment (croniter gives up after
    decades of searching, which is how a 30 February shows)."""
    from croniter import CroniterBadDateError, croniter

    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)  # noqa: DTZ001 - wall time
    except CroniterBadDateError:
        return False
    return True


def _whole_days(text: str) -> timedelta:
    period = parse_duration(text)
    if period < timedelta(days=1) or period % timedelta(days=1):
        raise ValueError(f"'{text}' must be a whole number of days or weeks, like 21d or 3w")
    return period


def _local_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is not None:
        raise ValueError(
            f"'{text}' must be a local date and time without offset, like 2026-01-06T21:00"
        )
    check_in_range(value.replace(tzinfo=UTC), "the anchor")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date; write it like 2026-12-25") from None
