"""The policy file as a whole: where it is read from, and the sections assembled into one
:class:`Policy`, every problem of every section reported at once."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.errors import PolicyError, Problem
from ctmaint.model.policy.calendars import CALENDAR_KEYS, CalendarSpec
from ctmaint.model.policy.delivery import SEND_KEYS, Patience, SendSettings
from ctmaint.model.policy.provider import (
    PROVIDER_KEYS,
    Product,
    Provider,
    products_from_toml,
)
from ctmaint.model.policy.stages import STAGE_KEYS, LeadStage, stages_from_toml
from ctmaint.model.policy.table import Table
from ctmaint.model.policy.unscheduled import UNSCHEDULED_KEYS, UnscheduledSpec

EMBEDDED = "<embedded policy>"
MAX_PUBLISH_DAYS = 3660  # ten years each way: feeds stay readable and times stay in range
PUBLISH_KEYS = ("days_back", "days_ahead")
# Every key a policy file may hold, by table: "stages.NAME" is each lead stage's table and
# "calendars.ID" each calendar's ([products] holds ids of the provider's own choosing). The
# README's policy table names each one (tests/test_docs.py).
KEYS: dict[str, tuple[str, ...]] = {
    "": ("provider", "products", "stages", "calendars", "unscheduled", "publish", "sendgrid",
         "channels", "send"),
    "provider": PROVIDER_KEYS,
    "stages.NAME": STAGE_KEYS,
    "calendars.ID": CALENDAR_KEYS,
    "unscheduled": UNSCHEDULED_KEYS,
    "publish": PUBLISH_KEYS,
    "sendgrid": tuple(Patience.__struct_fields__),
    "channels": tuple(Patience.__struct_fields__),
    "send": SEND_KEYS,
}  # fmt: skip


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
    subscriptions_path: Path = Path("subscriptions.csv")
    sendgrid: Patience = Patience()
    channels: Patience = Patience()  # with the hosts subscriptions post to (Teams, Slack, ...)
    send: SendSettings = SendSettings()

    @property
    def zone(self) -> ZoneInfo:
        return self.provider.zone

    @property
    def longest_window(self) -> timedelta:
        return max((c.duration for c in self.calendars.values()), default=timedelta(0))

    @classmethod
    def from_toml(cls, table: Table, base_dir: Path) -> Policy | None:
        """The policy of the file's top ``table``, or None when the provider is unusable.

        Reads every section, in the file's documented order, whatever the others hold, so
        that all problems are reported; the caller refuses a file with any of them.
        ``provider.contacts`` and ``provider.subscriptions`` are paths relative to ``base_dir``.
        """
        table.known(KEYS[""])
        provider_table = table.table("provider")
        provider = Provider.from_toml(provider_table)
        products = products_from_toml(table.table("products"))
        stages = stages_from_toml(table.table("stages"))
        zone = provider.zone if provider else None
        calendars: dict[str, CalendarSpec] = {}
        for body in table.table("calendars").tables():
            spec = CalendarSpec.from_toml(body, zone, products, stages)
            if spec is not None:
                calendars[body.key] = spec
        unscheduled = UnscheduledSpec.from_toml(table.table("unscheduled"))
        days_back, days_ahead = _publish_days(table.table("publish"))
        contacts = provider_table.optional("contacts", str, "contacts.csv")
        subscriptions = provider_table.optional("subscriptions", str, "subscriptions.csv")
        sendgrid = Patience.from_toml(table.table("sendgrid"))
        channels = Patience.from_toml(table.table("channels"))
        send = SendSettings.from_toml(table.table("send"))
        if provider is None:
            return None
        return cls(
            source=table.source,
            provider=provider,
            products=products,
            stages=stages,
            calendars=calendars,
            unscheduled=unscheduled,
            days_back=days_back,
            days_ahead=days_ahead,
            contacts_path=base_dir / contacts,
            subscriptions_path=base_dir / subscriptions,
            sendgrid=sendgrid,
            channels=channels,
            send=send,
        )


def _publish_days(table: Table) -> tuple[int, int]:
    """The ``[publish]`` table: how many days back and ahead the calendars and feeds hold."""
    table.known(PUBLISH_KEYS)
    days_back = table.optional("days_back", int, 90)
    days_ahead = table.optional("days_ahead", int, 365)
    for key, count in (("days_back", days_back), ("days_ahead", days_ahead)):
        if not 0 <= count <= MAX_PUBLISH_DAYS:
            table.report(key, f"must be 0 to {MAX_PUBLISH_DAYS} days, not {count}")
    return days_back, days_ahead


def parse_policy(text: str, source: str, base_dir: Path) -> Policy:
    """Parse and validate policy ``text``; ``source`` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError([Problem(source, "", f"is not valid TOML: {error}")]) from None
    table = Table.document(data, source)
    policy = Policy.from_toml(table, base_dir)
    if table.problems or policy is None:
        raise PolicyError(table.problems)
    return policy


# The package's own files, read from where it is installed (importlib.resources would cost a
# cron tick a few milliseconds of imports for the same bytes).
DATA = Path(__file__).parents[2] / "data"


def embedded_policy_text() -> str:
    """The shipped policy, as `ctmaint init` writes it."""
    return (DATA / "policy.toml").read_text(encoding="utf-8")


def example_contacts_text() -> str:
    return (DATA / "contacts.csv").read_text(encoding="utf-8")


def example_subscriptions_text() -> str:
    """subscriptions.csv as `ctmaint init` writes it: the header, and example rows commented
    out (nothing is posted until the operator gives real URLs)."""
    return (DATA / "subscriptions.csv").read_text(encoding="utf-8")


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


def file_outline(
    path: Path | None, cwd: Path, key: str = "contacts"
) -> tuple[Path, frozenset[str]]:
    """Best effort for an invalid policy: where the file of ``provider.<key>`` is
    (contacts.csv, subscriptions.csv) and the product ids named.

    Lets `check` validate those files even when the policy itself has problems.
    """
    base_dir = cwd if path is None else path.parent
    try:
        text = embedded_policy_text() if path is None else path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = {}
    provider, products = data.get("provider", {}), data.get("products", {})
    named = provider.get(key) if isinstance(provider, dict) else None
    ids = frozenset(products) if isinstance(products, dict) else frozenset()
    return base_dir / (named if isinstance(named, str) else f"{key}.csv"), ids
