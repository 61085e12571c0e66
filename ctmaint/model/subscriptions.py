"""subscriptions.csv: the chat channels and webhooks that hear of maintenance, one row each.

``organization,account,channel,target,products,timezone,secret``: ``channel`` is ``teams``,
``slack`` or ``webhook``; ``target`` the https URL to post to; ``products`` ``;``-separated
ids or ``*``; ``timezone`` an optional IANA zone; ``secret`` only for ``webhook``, in Standard
Webhooks form ``whsec_<base64>``. Its URLs and secrets are credentials: the file must be
readable by its owner only, and no message here shows more of a URL than its host, nor any
of a secret. Rows are read as contacts.csv's are (:mod:`ctmaint.model.csvrows`); a line
starting with ``#`` is a comment (`ctmaint init` writes the file with its rows commented out).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.errors import Problem, SubscriptionsError
from ctmaint.model.csvrows import (
    ALL_PRODUCTS,
    CsvFile,
    read_rows,
    split_list,
    unknown_products,
    zone_problems,
)
from ctmaint.model.times import parse_zone
from ctmaint.model.vocabulary import SUBSCRIPTION_CHANNELS as CHANNELS

COLUMNS = ("organization", "account", "channel", "target", "products", "timezone", "secret")
REQUIRED = ("organization", "channel", "target", "products")
SUBSCRIPTIONS_CSV = CsvFile(COLUMNS, REQUIRED, SubscriptionsError, comments=True)
SECRET_PREFIX = "whsec_"
_LOOPBACK_NAMES = ("localhost",)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{20,}")  # a run of base64 or URL-safe text: a token
LONGEST_TARGET = 8000
_CHANNELS = ", ".join(
    CHANNELS
)  # what web servers take in a request line (RFC 9110 recommends 8000)


class Subscription(Struct, frozen=True):
    """One row of subscriptions.csv, checked: where a channel posts, and about what."""

    organization: str
    account: str
    channel: str
    target: str
    products: frozenset[str]
    zone: ZoneInfo | None
    secret: str
    line: int

    @property
    def host(self) -> str:
        """All of the target that output may show."""
        return urlsplit(self.target).hostname or ""

    @property
    def key(self) -> str:
        """What the ledger knows it by, in place of an address: the channel, the host and a
        digest of the whole target (``teams:example.webhook.office.com#1a2b3c4d5e6f``). The
        same target is one subscription; a new URL is a new one. Nothing of the URL beyond
        its host can be read back from it."""
        digest = hashlib.sha256(self.target.encode()).hexdigest()[:12]
        return f"{self.channel}:{self.host}#{digest}"

    def canonical(self) -> list[Any]:
        """What this row says, as JSON values that compare equal whenever two files say the
        same (the order of products does not count); the URL only as its key's digest."""
        zone = self.zone.key if self.zone else ""
        return [self.organization, self.account, self.key, sorted(self.products), zone]

    def uses(self, products: Iterable[str]) -> bool:
        """Whether a window affecting ``products`` concerns this subscription."""
        return ALL_PRODUCTS in self.products or not self.products.isdisjoint(products)


def read_subscriptions(
    path: Path, product_ids: Iterable[str] | None
) -> tuple[list[Subscription], list[Problem]]:
    """The good rows of ``path`` and a problem for each bad one; a missing file means no
    subscriptions. A file that others can read, that cannot be read at all or has the wrong
    header raises SubscriptionsError. ``product_ids`` None: the products are not known (the
    policy is broken), so product names are not checked."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8-sig") if stat.S_ISREG(mode) else None
    except FileNotFoundError:
        if path.is_symlink():  # a secrets mount not mounted is no "no subscriptions"
            problem = "is a link to a file that does not exist; mount it, or remove the link"
            raise SubscriptionsError([Problem(str(path), "", problem)]) from None
        return [], []
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise SubscriptionsError([Problem(str(path), "", f"cannot be read ({reason})")]) from None
    if text is None:
        raise SubscriptionsError([Problem(str(path), "", "is not a file")])
    if mode & 0o077:
        raise SubscriptionsError(
            [
                Problem(
                    str(path),
                    "",
                    f"can be read by others (mode {stat.S_IMODE(mode):o}); its URLs and secrets "
                    "are credentials: make it readable by its owner only (chmod 600)",
                )
            ]
        )
    known = None if product_ids is None else frozenset(product_ids)
    return split_subscriptions(text, str(path), known)


def split_subscriptions(
    text: str, source: str, product_ids: frozenset[str] | None
) -> tuple[list[Subscription], list[Problem]]:
    """The subscriptions of ``text`` and the problems of its bad rows, one row per line. A
    URL is one channel's: a later row naming it for another channel is a problem."""
    found, problems = read_rows(
        text, source, SUBSCRIPTIONS_CSV, lambda row: _not_taken(row, product_ids), _made
    )
    first: dict[str, Subscription] = {}
    kept = []
    for subscription in found:
        earlier = first.setdefault(subscription.target, subscription)
        if earlier.channel == subscription.channel:
            kept.append(subscription)
            continue
        said = (
            f"its target (host {subscription.host}) is line {earlier.line}'s, a "
            f"{earlier.channel} URL; one URL takes one channel's posts"
        )
        problems.append(Problem(source, f"line {subscription.line}", said))
    return kept, problems


def _made(row: dict[str, str], line: int) -> Subscription:
    """The subscription of a row with nothing wrong."""
    return Subscription(
        organization=row["organization"],
        account=row["account"] or row["organization"],
        channel=row["channel"].lower(),
        target=row["target"],
        products=split_list(row["products"]),
        zone=parse_zone(row["timezone"]) if row["timezone"] else None,
        secret=row["secret"],
        line=line,
    )


def _not_taken(row: dict[str, str], product_ids: frozenset[str] | None) -> list[str]:
    """The values that are not what their column takes. A cell is quoted only if it cannot
    be a credential: columns written in the wrong order would print a URL or a secret."""
    channel = row["channel"].lower()
    found = []
    if channel not in CHANNELS:
        found.append(f"channel{_quoted(row['channel'])} is unknown; use one of {_CHANNELS}")
    found += _target_problems(row["target"])
    products = split_list(row["products"])
    found += _unquoted(
        unknown_products(products, product_ids),
        products,
        f"column products names a product this policy lacks; use '*' or one of "
        f"{', '.join(sorted(product_ids or ()))}",
    )
    found += _unquoted(
        zone_problems(row["timezone"]),
        [row["timezone"]],
        "column timezone is not an IANA time zone (like Europe/London)",
    )
    return found + (_secret_problems(channel, row["secret"]) if channel in CHANNELS else [])


def _unquoted(problems: list[str], cells: Iterable[str], instead: str) -> list[str]:
    """``problems`` (which quote ``cells``), or ``instead`` if a cell may not be shown."""
    if problems and not all(_quotable(cell) for cell in cells):
        return [instead]
    return problems


def _quotable(cell: str) -> bool:
    """Whether ``cell`` may be shown: nothing like a URL, a secret or a token."""
    return (
        len(cell) <= 40
        and "://" not in cell
        and not cell.lower().startswith(SECRET_PREFIX)
        and _TOKEN.search(cell) is None
    )


def _quoted(cell: str) -> str:
    """`` 'cell'`` when it may be shown (see :func:`_quotable`), else nothing."""
    return f" '{cell}'" if _quotable(cell) else ""


def _target_problems(target: str) -> list[str]:
    """Why ``target`` is no URL to post to: https with a host, or http on this machine (for
    tests); without a user or password in it. The URL itself is never shown."""
    try:
        parts = urlsplit(target)
        host = parts.hostname or ""
    except ValueError:
        return ["column target is not a URL; give the https URL to post to"]
    if not host:
        return ["column target is not a URL with a host; give the https URL to post to"]
    if parts.username is not None or parts.password is not None:
        return [f"column target (host {host}) holds a user or password; give the URL without"]
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number, or past 65535
        port_ok = False
    if not port_ok:
        return [f"column target (host {host}) has no port a request can go to; fix its port"]
    if len(target) > LONGEST_TARGET:
        return [f"column target (host {host}) is longer than {LONGEST_TARGET} characters"]
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return []
    return [f"column target (host {host}) is not an https URL; give the https URL to post to"]


def _is_loopback(host: str) -> bool:
    import ipaddress  # only for a row whose target is http: the rest never needs it

    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret_problems(channel: str, secret: str) -> list[str]:
    """A webhook needs a Standard Webhooks secret; no other channel takes one."""
    if channel != "webhook":
        return (
            [f"column secret is for webhooks only; leave it empty for {channel}"] if secret else []
        )
    if not secret:
        return [
            "column secret is empty; a webhook needs one: whsec_ and base64 of 24 bytes or more"
        ]
    if not secret.startswith(SECRET_PREFIX):
        return ["column secret does not start with whsec_; give a Standard Webhooks secret"]
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        return ["column secret is not base64 after whsec_; give a Standard Webhooks secret"]
    if len(key) < 24:
        return [
            f"column secret is {len(key)} bytes long; give at least 24 (openssl rand -base64 32)"
        ]
    return []
