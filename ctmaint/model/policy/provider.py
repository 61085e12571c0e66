"""The ``[provider]`` table (who publishes, in which zone, from which address) and the
``[products]`` table (what the provider maintains)."""

from __future__ import annotations

import re
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.model.contacts import is_email
from ctmaint.model.policy.table import ID, ID_RULE, Table, one_of
from ctmaint.model.text import bad_character
from ctmaint.model.times import parse_zone

TRANSPORTS = ("outbox", "sendgrid")
PROVIDER_KEYS = (
    "name", "domain", "timezone", "zone_label", "status_page", "calendar_url",
    "sender", "reply_to", "transport", "contacts", "subscriptions",
)  # fmt: skip
_TRANSPORT = one_of(TRANSPORTS)


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

    @classmethod
    def from_toml(cls, table: Table) -> Provider | None:
        """The provider, or None when its name, domain or zone is missing or refused.

        ``contacts`` and ``subscriptions`` are the policy's own keys (paths beside the file):
        see ``document``.
        """
        table.known(PROVIDER_KEYS)
        name = table.required("name", str)
        domain = table.required("domain", str)
        if domain is not None and not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", domain):
            table.report("domain", _domain_problem(domain))
        zone = table.required("timezone", parse_zone)
        transport = table.optional("transport", _TRANSPORT, "outbox")
        zone_label = table.optional("zone_label", str, "")
        status_page = table.optional("status_page", str, "")
        calendar_url = table.optional("calendar_url", str, "")
        sender = table.optional("sender", str, f"maintenance@{domain}" if domain else "")
        reply_to = table.optional("reply_to", str, "")
        for key, text in (("sender", sender), ("reply_to", reply_to)):
            if text and not is_email(parseaddr(text)[1]):
                table.report(key, f"'{text}' is not an address like Name <maintenance@example.com>")
        if name is None or domain is None or zone is None:
            return None
        return cls(
            name=name,
            domain=domain,
            zone=zone,
            zone_label=zone_label,
            status_page=status_page.rstrip("/"),
            calendar_url=calendar_url.rstrip("/"),
            sender=sender,
            reply_to=reply_to,
            transport=transport,
        )


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


class Product(Struct, frozen=True):
    """One product of ``[products]``: its id and the name customers read."""

    id: str
    name: str


def products_from_toml(table: Table) -> dict[str, Product]:
    """The ``[products]`` table, ``id = "Display name"`` each: the products accepted, by id."""
    products: dict[str, Product] = {}
    if not table:
        table.report_table("is empty; add at least one product, like voice = 'Cloud Voice'")
    for product_id, name in table.items():
        if not ID.fullmatch(product_id):
            table.report(product_id, ID_RULE)
        elif not isinstance(name, str) or not name.strip() or bad_character(name):
            table.report(
                product_id,
                "must be the product's display name, on one line without control characters",
            )
        else:
            products[product_id] = Product(product_id, name)
    return products
