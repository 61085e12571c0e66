"""Load and validate the policy file (TOML) into frozen, typed objects.

Validation reports every problem at once, each naming the file, the key and the fix.
Zone names become ZoneInfo, durations timedelta, rules :mod:`ctmaint.model.rules` objects,
so nothing downstream parses text again.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.errors import PolicyError, Problem
from ctmaint.model.contacts import is_email
from ctmaint.model.rules import CronRule, CycleRule, Rule
from ctmaint.model.text import bad_character
from ctmaint.model.times import check_in_range, parse_duration, parse_local_time, parse_zone
from ctmaint.model.vocabulary import LEAD_STAGES, TIMED_STAGES, UNSCHEDULED_STAGES, Impact, Stage

EMBEDDED = "<embedded policy>"
IMPACTS = tuple(Impact)
TRANSPORTS = ("outbox", "sendgrid")
UNSCHEDULED = "unscheduled"
MAX_PUBLISH_DAYS = 3660  # ten years each way: feeds stay readable and times stay in range
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")  # matched with fullmatch: no trailing newline
_MULTILINE_KEYS = frozenset({"description", "justification"})

T = TypeVar("T")


class Provider(Struct, frozen=True):
    """The ``[provider]`` table: who publishes, in which zone, from which address."""

    name: str
    domain: str
    zone: ZoneInfo
    zone_label: str
    status_page: str
    calendar_url: str
    sender: str
    reply_to: str
    transport: str


class Product(Struct, frozen=True):
    """One product of ``[products]``: its id and the name customers read."""

    id: str
    name: str


class LeadStage(Struct, frozen=True):
    """A reminder due ``before`` the window's start, moved to local time ``at`` if given."""

    name: str
    before: timedelta
    at: time | None


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


class UnscheduledSpec(Struct, frozen=True):
    """The ``[unscheduled]`` table: the hours to avoid, the default impact, the notices."""

    avoid_from: time
    avoid_until: time
    impact: Impact
    notices: tuple[Stage, ...]
    status_page: bool
    max_duration: timedelta = timedelta(days=31)  # the longest an operator's window may be


class SendGridSettings(Struct, frozen=True):
    """Patience with SendGrid: tries after the first, backoff, longest 429 wait, timeout."""

    retries: int = 3
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 60.0
    timeout_seconds: float = 30.0
    down_after: int = 3  # requests in a row unanswered: SendGrid is down for the rest of the run
    concurrency: int = 8  # requests in flight at once


# Each [sendgrid] setting's largest sensible value: patience that cannot outlast a cron run.
SENDGRID_LIMITS = {
    "retries": 10,
    "backoff_seconds": 60,
    "max_wait_seconds": 600,
    "timeout_seconds": 300,
    "down_after": 100,
    "concurrency": 32,
}


class SendSettings(Struct, frozen=True):
    """A run's time budget: past it, what is left waits for the next run (cron's interval
    is the natural bound; the default stays well under the usual five minutes)."""

    time_budget: timedelta = timedelta(minutes=4)


class Policy(Struct, frozen=True):
    """The whole policy file, read and checked."""

    source: str
    provider: Provider
    products: dict[str, Product]
    stages: dict[str, LeadStage]
    calendars: dict[str, CalendarSpec]
    unscheduled: UnscheduledSpec
    days_back: int
    days_ahead: int
    contacts_path: Path
    sendgrid: SendGridSettings = SendGridSettings()
    send: SendSettings = SendSettings()

    @property
    def zone(self) -> ZoneInfo:
        return self.provider.zone

    @property
    def longest_window(self) -> timedelta:
        return max((c.duration for c in self.calendars.values()), default=timedelta(0))


def _domain_problem(domain: str) -> str:
    """Why ``domain`` is refused, with the ASCII (punycode) form to write when it is an
    internationalized name: UIDs, Message-IDs and the BCOP properties carry it as ASCII."""
    try:
        ascii_form = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_form = ""
    if (
        ascii_form
        and ascii_form != domain
        and re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", ascii_form, re.IGNORECASE)
    ):
        return (
            f"'{domain}' is not written in ASCII: write its ASCII form, domain = "
            f'"{ascii_form}" (calendars, mail and the maintenance BCOP carry the domain as ASCII)'
        )
    return f"'{domain}' is not a domain name like example.com"


# The package's own files, read from where it is installed (importlib.resources would cost a
# cron tick a few milliseconds of imports for the same bytes).
DATA = Path(__file__).parents[1] / "data"


def embedded_policy_text() -> str:
    """The shipped policy, as `ctmaint init` writes it."""
    return (DATA / "policy.toml").read_text(encoding="utf-8")


def example_contacts_text() -> str:
    return (DATA / "contacts.csv").read_text(encoding="utf-8")


def load_policy(path: Path | None, cwd: Path) -> Policy:
    """Load ``path``, or the embedded policy when ``path`` is None. Raises PolicyError."""
    if path is None:
        return parse_policy(embedded_policy_text(), EMBEDDED, cwd)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problem = Problem(str(path), "", "does not exist; give an existing policy file")
        raise PolicyError([problem]) from None
    except IsADirectoryError:
        problem = Problem(str(path), "", "is a folder; give the policy file in it")
        raise PolicyError([problem]) from None
    except (OSError, UnicodeDecodeError) as error:
        problem = Problem(str(path), "", f"cannot be read as UTF-8 text ({error})")
        raise PolicyError([problem]) from None
    return parse_policy(text, str(path), path.parent)


def contacts_outline(path: Path | None, cwd: Path) -> tuple[Path, frozenset[str]]:
    """Best effort for an invalid policy: where contacts.csv is and the product ids named.

    Lets `check` validate contacts.csv even when the policy itself has problems.
    """
    base_dir = cwd if path is None else path.parent
    try:
        text = embedded_policy_text() if path is None else path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = {}
    provider, products = data.get("provider", {}), data.get("products", {})
    contacts = provider.get("contacts") if isinstance(provider, dict) else None
    ids = frozenset(products) if isinstance(products, dict) else frozenset()
    return base_dir / (contacts if isinstance(contacts, str) else "contacts.csv"), ids


def parse_policy(text: str, source: str, base_dir: Path) -> Policy:
    """Parse and validate policy ``text``; ``source`` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError([Problem(source, "", f"is not valid TOML: {error}")]) from None
    reader = _Reader(source)
    policy = reader.policy(data, base_dir)
    if reader.problems or policy is None:
        raise PolicyError(reader.problems)
    return policy


class _Reader:
    """Walks the TOML tree, converting values and collecting problems instead of stopping."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.source, key, message))

    def known_keys(self, table: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                import difflib  # only for a misspelt key

                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                self.fail(f"{where}.{key}" if where else key, f"unknown key; {hint}")

    def table(self, data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.fail(where, "must be a table")
            return {}
        return value

    def value(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        kind: type[T],
        default: T | None = None,
    ) -> T | None:
        full = f"{where}.{key}" if where else key
        if key not in data:
            if default is None:
                self.fail(full, f"is missing; add {key} = ...")
            return default
        value = data[key]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            self.fail(full, f"must be {_KIND_NAMES.get(kind, kind.__name__)}, not {value!r}")
            return default
        if isinstance(value, str):
            problem = bad_character(value, multiline=key in _MULTILINE_KEYS)
            if problem is not None:
                self.fail(full, f"{problem}; write it without control characters")
                return default
        return value

    def convert(self, full: str, text: str | None, parse: Callable[[str], T]) -> T | None:
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as error:
            self.fail(full, str(error))
            return None

    def strings(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
        items = self.value(data, key, where, list)
        if items is None:
            return None
        if not all(isinstance(item, str) and bad_character(item) is None for item in items):
            self.fail(f"{where}.{key}", "must be a list of strings without control characters")
            return None
        return tuple(items)

    def choice(self, full: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
        if value is not None and value not in allowed:
            self.fail(full, f"'{value}' is not one of {', '.join(allowed)}")
            return None
        return value

    # -- sections ---------------------------------------------------------------------------

    def policy(self, data: dict[str, Any], base_dir: Path) -> Policy | None:
        self.known_keys(data, "", KEYS[""])
        provider_table = self.table(data, "provider", "provider")
        provider = self.provider(provider_table)
        products = self.products(self.table(data, "products", "products"))
        stages = self.stages(self.table(data, "stages", "stages"))
        calendars: dict[str, CalendarSpec] = {}
        zone = provider.zone if provider else None
        for calendar_id, table in self.table(data, "calendars", "calendars").items():
            spec = self.calendar(calendar_id, table, zone, products, stages)
            if spec is not None:
                calendars[calendar_id] = spec
        unscheduled = self.unscheduled(self.table(data, "unscheduled", "unscheduled"))
        publish = self.table(data, "publish", "publish")
        self.known_keys(publish, "publish", KEYS["publish"])
        days_back = self.value(publish, "days_back", "publish", int, 90)
        days_ahead = self.value(publish, "days_ahead", "publish", int, 365)
        for key, days in (("days_back", days_back), ("days_ahead", days_ahead)):
            if days is not None and not 0 <= days <= MAX_PUBLISH_DAYS:
                self.fail(f"publish.{key}", f"must be 0 to {MAX_PUBLISH_DAYS} days, not {days}")
        contacts = self.value(provider_table, "contacts", "provider", str, "contacts.csv")
        sendgrid = self.sendgrid(self.table(data, "sendgrid", "sendgrid"))
        send = self.send(self.table(data, "send", "send"))
        if self.problems or provider is None or unscheduled is None:
            return None
        assert days_back is not None
        assert days_ahead is not None
        assert contacts is not None
        return Policy(
            source=self.source,
            provider=provider,
            products=products,
            stages=stages,
            calendars=calendars,
            unscheduled=unscheduled,
            days_back=days_back,
            days_ahead=days_ahead,
            contacts_path=base_dir / contacts,
            sendgrid=sendgrid,
            send=send,
        )

    def provider(self, table: dict[str, Any]) -> Provider | None:
        where = "provider"
        self.known_keys(table, where, _PROVIDER_KEYS)
        name = self.value(table, "name", where, str)
        domain = self.value(table, "domain", where, str)
        if domain is not None and not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", domain):
            self.fail("provider.domain", _domain_problem(domain))
        zone = self.convert(
            "provider.timezone", self.value(table, "timezone", where, str), parse_zone
        )
        transport = self.choice(
            "provider.transport",
            self.value(table, "transport", where, str, "outbox"),
            TRANSPORTS,
        )
        texts = {
            key: self.value(table, key, where, str, fallback)
            for key, fallback in (
                ("zone_label", ""),
                ("status_page", ""),
                ("calendar_url", ""),
                ("sender", f"maintenance@{domain}" if domain else ""),
                ("reply_to", ""),
            )
        }
        for key in ("sender", "reply_to"):
            text = texts[key] or ""
            if text and not is_email(parseaddr(text)[1]):
                self.fail(
                    f"provider.{key}",
                    f"'{text}' is not an address like Name <maintenance@example.com>",
                )
        if name is None or domain is None or zone is None or transport is None:
            return None
        return Provider(
            name=name,
            domain=domain,
            zone=zone,
            zone_label=texts["zone_label"] or "",
            status_page=(texts["status_page"] or "").rstrip("/"),
            calendar_url=(texts["calendar_url"] or "").rstrip("/"),
            sender=texts["sender"] or "",
            reply_to=texts["reply_to"] or "",
            transport=transport,
        )

    def products(self, table: dict[str, Any]) -> dict[str, Product]:
        products: dict[str, Product] = {}
        if not table:
            self.fail("products", "is empty; add at least one product, like voice = 'Cloud Voice'")
        for product_id, name in table.items():
            if not _ID.fullmatch(product_id):
                self.fail(f"products.{product_id}", _ID_RULE)
            elif not isinstance(name, str) or not name.strip() or bad_character(name):
                self.fail(
                    f"products.{product_id}",
                    "must be the product's display name, on one line without control characters",
                )
            else:
                products[product_id] = Product(product_id, name)
        return products

    def stages(self, table: dict[str, Any]) -> dict[str, LeadStage]:
        self.known_keys(table, "stages", LEAD_STAGES)
        stages: dict[str, LeadStage] = {}
        for name in LEAD_STAGES:
            if name not in table:
                continue
            where = f"stages.{name}"
            body = self.table(table, name, where)
            self.known_keys(body, where, KEYS["stages.NAME"])
            before = self.convert(
                f"{where}.before", self.value(body, "before", where, str), parse_duration
            )
            at_text = self.value(body, "at", where, str, "")
            at = self.convert(f"{where}.at", at_text or None, parse_local_time)
            if before is not None and before <= timedelta(0):
                self.fail(f"{where}.before", "must be longer than 0, like 7d or 24h")
            elif before is not None:
                stages[name] = LeadStage(name, before, at)
        return stages

    def calendar(
        self,
        calendar_id: str,
        table: Any,
        zone: ZoneInfo | None,
        products: dict[str, Product],
        stages: dict[str, LeadStage],
    ) -> CalendarSpec | None:
        where = f"calendars.{calendar_id}"
        if not isinstance(table, dict):
            self.fail(where, "must be a table")
            return None
        count = len(self.problems)
        if not _ID.fullmatch(calendar_id) or calendar_id == UNSCHEDULED:
            self.fail(where, f"{_ID_RULE}, and not '{UNSCHEDULED}'")
        self.known_keys(table, where, _CALENDAR_KEYS)
        rule = self.rule(table, where, zone)
        duration = self.convert(
            f"{where}.duration", self.value(table, "duration", where, str), parse_duration
        )
        if duration is not None and duration <= timedelta(0):
            self.fail(f"{where}.duration", "must be longer than 0, like 30m or 6h")
        affected = self.product_list(table, where, products)
        impact = self.choice(f"{where}.impact", self.value(table, "impact", where, str), IMPACTS)
        texts = {key: self.value(table, key, where, str) for key in _CALENDAR_TEXTS}
        notices = (self.strings(table, "notices", where) if "notices" in table else ()) or ()
        for stage in notices:
            if stage not in TIMED_STAGES:
                self.fail(f"{where}.notices", f"'{stage}' is not one of {', '.join(TIMED_STAGES)}")
            elif stage in LEAD_STAGES and stage not in stages:
                self.fail(f"{where}.notices", f"'{stage}' needs a [stages.{stage}] table")
        status_page = self.value(table, "status_page", where, bool, False)
        skip = self.skip_dates(table, where)
        if len(self.problems) > count or rule is None or zone is None:
            return None  # with no zone, the provider section has reported the problem
        if duration is None or affected is None or impact is None:
            return None
        return CalendarSpec(
            id=calendar_id,
            title=texts["title"] or calendar_id,
            rule=rule,
            duration=duration,
            products=affected,
            impact=Impact(impact),
            summary=texts["summary"] or "",
            description=texts["description"] or "",
            justification=texts["justification"] or "",
            notices=tuple(Stage(n) for n in notices),
            status_page=bool(status_page),
            skip=skip,
        )

    def rule(self, table: dict[str, Any], where: str, zone: ZoneInfo | None) -> Rule | None:
        has_cron, has_cycle = "cron" in table, "every" in table or "anchor" in table
        if has_cron == has_cycle:
            self.fail(where, "needs either cron = '...' or every = '...' with anchor = '...'")
            return None
        if has_cron:
            expression = self.value(table, "cron", where, str)
            if expression is None or not _valid_cron(expression):
                self.fail(
                    f"{where}.cron",
                    f"{expression!r} is not a cron expression with 5 fields, "
                    "like '0 22 * * 5#3' (third Friday, 22:00)",
                )
                return None
            if not _cron_matches(expression):
                self.fail(
                    f"{where}.cron",
                    f"{expression!r} never matches a real date (like 30 February); "
                    "check its day and month",
                )
                return None
            return CronRule(expression, zone) if zone else None
        every = self.convert(f"{where}.every", self.value(table, "every", where, str), _whole_days)
        anchor = self.convert(
            f"{where}.anchor", self.value(table, "anchor", where, str), _local_datetime
        )
        if every is None or anchor is None or zone is None:
            return None
        return CycleRule(anchor, every, zone)

    def product_list(
        self, table: dict[str, Any], where: str, products: dict[str, Product]
    ) -> tuple[str, ...] | None:
        listed = self.strings(table, "products", where)
        if listed is None:
            return None
        if not listed:
            self.fail(f"{where}.products", "is empty; list the affected product ids, or '*'")
            return None
        if "*" in listed:
            return tuple(products)
        unknown = [p for p in listed if p not in products]
        for product_id in unknown:
            self.fail(
                f"{where}.products",
                f"'{product_id}' is not a product; known: {', '.join(products) or 'none'}",
            )
        return None if unknown else listed

    def skip_dates(self, table: dict[str, Any], where: str) -> frozenset[date]:
        dates = set()
        listed = self.strings(table, "skip", where) if "skip" in table else ()
        for text in listed or ():
            day = self.convert(f"{where}.skip", text, _iso_date)
            if day is not None:
                dates.add(day)
        return frozenset(dates)

    def sendgrid(self, table: dict[str, Any]) -> SendGridSettings:
        defaults = SendGridSettings()
        keys = tuple(defaults.__struct_fields__)
        self.known_keys(table, "sendgrid", keys)
        values: dict[str, float] = {}
        for key in keys:
            value = table.get(key, getattr(defaults, key))
            limit = SENDGRID_LIMITS[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.fail(f"sendgrid.{key}", f"must be a number from 0 to {limit}, not {value!r}")
            elif not 0 <= value <= limit:
                self.fail(f"sendgrid.{key}", f"must be from 0 to {limit}, not {value!r}")
            else:
                values[key] = value
        if len(values) < len(keys):
            return defaults
        return SendGridSettings(
            retries=int(values["retries"]),
            backoff_seconds=values["backoff_seconds"],
            max_wait_seconds=values["max_wait_seconds"],
            timeout_seconds=values["timeout_seconds"] or defaults.timeout_seconds,
            down_after=max(1, int(values["down_after"])),
            concurrency=max(1, int(values["concurrency"])),
        )

    def send(self, table: dict[str, Any]) -> SendSettings:
        self.known_keys(table, "send", KEYS["send"])
        text = self.value(table, "time_budget", "send", str, "4m")
        budget = self.convert("send.time_budget", text, parse_duration)
        if budget is None:
            return SendSettings()
        if not timedelta(minutes=1) <= budget <= timedelta(hours=1):
            self.fail("send.time_budget", f"must be from 1m to 1h, like 4m, not {text}")
            return SendSettings()
        return SendSettings(budget)

    def unscheduled(self, table: dict[str, Any]) -> UnscheduledSpec | None:
        where = "unscheduled"
        self.known_keys(table, where, KEYS["unscheduled"])
        avoid_from = self.convert(
            f"{where}.avoid_from",
            self.value(table, "avoid_from", where, str, "05:00"),
            parse_local_time,
        )
        avoid_until = self.convert(
            f"{where}.avoid_until",
            self.value(table, "avoid_until", where, str, "23:00"),
            parse_local_time,
        )
        impact = self.choice(
            f"{where}.impact",
            self.value(table, "impact", where, str, str(Impact.DEGRADED)),
            IMPACTS,
        )
        notices = (
            self.strings(table, "notices", where) if "notices" in table else UNSCHEDULED_STAGES
        )
        for stage in notices or ():
            if stage not in UNSCHEDULED_STAGES:
                self.fail(
                    f"{where}.notices", f"'{stage}' is not one of {', '.join(UNSCHEDULED_STAGES)}"
                )
        status_page = self.value(table, "status_page", where, bool, True)
        longest = self.convert(
            f"{where}.max_duration",
            self.value(table, "max_duration", where, str, "31d"),
            parse_duration,
        )
        if longest is not None and longest <= timedelta(0):
            self.fail(f"{where}.max_duration", "must be longer than 0, like 31d")
            longest = None
        if avoid_from is None or avoid_until is None or impact is None or notices is None:
            return None
        if longest is None:
            return None
        return UnscheduledSpec(
            avoid_from,
            avoid_until,
            Impact(impact),
            tuple(Stage(n) for n in notices),
            bool(status_page),
            longest,
        )


_KIND_NAMES = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}
_ID_RULE = "ids use lowercase letters, digits and '-', starting with a letter or digit"
_PROVIDER_KEYS = (
    "name", "domain", "timezone", "zone_label", "status_page", "calendar_url",
    "sender", "reply_to", "transport", "contacts",
)  # fmt: skip
_CALENDAR_TEXTS = ("title", "summary", "description", "justification")
_CALENDAR_KEYS = (
    "title", "cron", "every", "anchor", "duration", "products", "impact", "summary",
    "description", "justification", "notices", "status_page", "skip",
)  # fmt: skip
# Every key a policy file may hold, by table: "stages.NAME" is each lead stage's table and
# "calendars.ID" each calendar's ([products] holds ids of the provider's own choosing). The
# README's policy table names each one (tests/test_docs.py).
KEYS: dict[str, tuple[str, ...]] = {
    "": ("provider", "products", "stages", "calendars", "unscheduled", "publish", "sendgrid",
         "send"),
    "provider": _PROVIDER_KEYS,
    "stages.NAME": ("before", "at"),
    "calendars.ID": _CALENDAR_KEYS,
    "unscheduled": ("avoid_from", "avoid_until", "impact", "notices", "status_page",
                    "max_duration"),
    "publish": ("days_back", "days_ahead"),
    "sendgrid": tuple(SendGridSettings.__struct_fields__),
    "send": ("time_budget",),
}  # fmt: skip


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
