"""Load and validate contacts.csv: the customers' designated points of contact.

Columns (contract): organization,account,name,title,email,phone,roles,products,timezone.
``roles`` and ``products`` are ';'-separated; ``products`` may be ``*``. Every bad row is
reported with its line number. Role ``maintenance`` receives notices.

A contact is one line. The file is read as CSV (RFC 4180, strictly: text after a closing
quote is refused; a quote inside an unquoted field is text, as spreadsheets read it), so a
quoted field may span lines: such a row is one row, named by its first and last line, and
left out because a field holds a line break. But a stray quote must not hide the rows
below it: a row that spans lines and does not read as one row of the nine columns is
its first line's unclosed quote, so that line alone is left out and reading goes on at the
next line. Line numbers are the file's physical lines (CRLF, LF or CR ends one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from msgspec import Struct

from ctmaint.errors import ContactsError, Problem
from ctmaint.model.csvrows import (
    CsvFile,
    read_rows,
    split_list,
    unknown_products,
    zone_problems,
)
from ctmaint.model.times import parse_zone

COLUMNS = (
    "organization", "account", "name", "title", "email", "phone", "roles", "products", "timezone",
)  # fmt: skip
REQUIRED = ("organization", "name", "email", "roles", "products")
CONTACTS_CSV = CsvFile(COLUMNS, REQUIRED, ContactsError)
ROLES = ("primary", "secondary", "technical", "master-case", "maintenance", "escalation", "billing")
NOTIFY_ROLE = "maintenance"
# Deliberately simple: one @, a dotted domain, and only the ASCII that RFC 5321 allows in an
# unquoted local part: SendGrid does not deliver to internationalized (SMTPUTF8) addresses,
# so `check` refuses them rather than `send` failing on them. SendGrid is the final judge.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def is_email(text: str) -> bool:
    return _EMAIL.fullmatch(text) is not None


class Contact(Struct, frozen=True):
    """One row of contacts.csv, checked: who is told of what."""

    organization: str
    account: str
    name: str
    title: str
    email: str
    phone: str
    roles: frozenset[str]
    products: frozenset[str]
    zone: ZoneInfo | None
    line: int

    def canonical(self) -> list[Any]:
        """What this contact says, as JSON values that compare equal whenever two files say
        the same (an address's case, the order of roles and products do not count)."""
        zone = self.zone.key if self.zone else ""
        said = [self.organization, self.account, self.name, self.title, self.email.lower()]
        return [*said, self.phone, sorted(self.roles), sorted(self.products), zone]


def load_contacts(path: Path, product_ids: Iterable[str] | None) -> list[Contact]:
    """Read ``path``; a missing file means no contacts. ``product_ids`` None: the products
    are not known (the policy is broken), so product names are not checked.

    Raises ContactsError listing every bad row.
    """
    contacts, problems = read_contacts(path, product_ids)
    if problems:
        raise ContactsError(problems)
    return contacts


def read_contacts(
    path: Path, product_ids: Iterable[str] | None
) -> tuple[list[Contact], list[Problem]]:
    """The good rows of ``path`` and a problem for each bad one: `send` delivers to the
    good ones, so one bad row never holds back every notice. A file that cannot be read at
    all (or has the wrong header) raises ContactsError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [], []
    except UnicodeDecodeError as error:
        raise ContactsError(
            [Problem(str(path), "", f"is not UTF-8 text ({error.reason})")]
        ) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ContactsError(
            [Problem(str(path), "", f"cannot be read ({reason}); give a contacts file")]
        ) from None
    known = None if product_ids is None else frozenset(product_ids)
    return split_contacts(text, str(path), known)


def split_contacts(
    text: str, source: str, product_ids: frozenset[str] | None
) -> tuple[list[Contact], list[Problem]]:
    """The contacts of ``text`` and the problems of its bad rows (see read_contacts).

    Rows are read as CSV, so a quoted field may span lines; but a row that spans lines and
    cannot be read (a quote opened and never closed, text after the closing quote, the
    wrong number of fields) is taken to be a stray quote: its first line is a problem and
    reading goes on at the next line, so one bad quote never swallows the rows after it.
    Problems name physical lines (a row that spans lines: its first and last).
    """
    return read_rows(text, source, CONTACTS_CSV, lambda row: _not_taken(row, product_ids), _made)


def rows_left_out(problems: Iterable[Problem]) -> int:
    """How many rows ``problems`` (of read_contacts) are about: a row may have several."""
    return len({(problem.file, problem.where) for problem in problems})


def _made(row: dict[str, str], line: int) -> Contact:
    """The contact of a row with nothing wrong."""
    return Contact(
        organization=row["organization"],
        account=row["account"] or row["organization"],
        name=row["name"],
        title=row["title"],
        email=row["email"],
        phone=row["phone"],
        roles=split_list(row["roles"]),
        products=split_list(row["products"]),
        zone=parse_zone(row["timezone"]) if row["timezone"] else None,
        line=line,
    )


def _not_taken(row: dict[str, str], product_ids: frozenset[str] | None) -> list[str]:
    """The values that are not what their column takes: an address, known roles, known
    products (any, when ``product_ids`` is None), a time zone."""
    found = []
    if row["email"] and not is_email(row["email"]):
        found.append(
            f"'{row['email']}' is not an email address like name@example.com "
            "(ASCII only: SendGrid cannot deliver to internationalized addresses)"
        )
    roles, products = split_list(row["roles"]), split_list(row["products"])
    found += [
        f"role '{role}' is unknown; use one of {', '.join(ROLES)}"
        for role in sorted(roles - set(ROLES))
    ]
    found += unknown_products(products, product_ids)
    found += zone_problems(row["timezone"])
    return found
