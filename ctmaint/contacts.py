"""Load and validate contacts.csv: the customers' designated points of contact.

Columns (contract): organization,account,name,title,email,phone,roles,products,timezone.
``roles`` and ``products`` are ';'-separated; ``products`` may be ``*``. Every bad row is
reported with its line number. Role ``maintenance`` receives notices.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from ctmaint.errors import ContactsError, Problem
from ctmaint.text import bad_character
from ctmaint.times import parse_zone

COLUMNS = (
    "organization", "account", "name", "title", "email", "phone", "roles", "products", "timezone",
)  # fmt: skip
REQUIRED = ("organization", "name", "email", "roles", "products")
ROLES = ("primary", "secondary", "technical", "master-case", "maintenance", "escalation", "billing")
NOTIFY_ROLE = "maintenance"
ALL_PRODUCTS = "*"
# Deliberately simple: one @, a dotted domain, and only the ASCII that RFC 5321 allows in an
# unquoted local part: SendGrid does not deliver to internationalized (SMTPUTF8) addresses,
# so `check` refuses them rather than `send` failing on them. SendGrid is the final judge.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def is_email(text: str) -> bool:
    return _EMAIL.fullmatch(text) is not None


@dataclass(frozen=True)
class Contact:
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


def parse_contacts(text: str, source: str, product_ids: frozenset[str] | None) -> list[Contact]:
    """The contacts of ``text``; ContactsError listing every bad row."""
    contacts, problems = split_contacts(text, source, product_ids)
    if problems:
        raise ContactsError(problems)
    return contacts


def split_contacts(
    text: str, source: str, product_ids: frozenset[str] | None
) -> tuple[list[Contact], list[Problem]]:
    """The contacts of ``text`` and the problems of its bad rows (see read_contacts)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip().lower() for cell in next(rows, [])]
    if tuple(header) != COLUMNS:
        raise ContactsError(
            [Problem(source, "line 1", f"the header must be exactly: {','.join(COLUMNS)}")]
        )
    problems: list[Problem] = []
    contacts: list[Contact] = []
    try:
        for cells in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in cells):
                continue
            found, contact = _contact(cells, line, source, product_ids)
            problems.extend(found)
            if contact is not None:
                contacts.append(contact)
    except csv.Error as error:  # a field over the csv module's limit (128 KiB), a NUL byte
        problems.append(Problem(source, f"line {rows.line_num}", f"cannot be read: {error}"))
    return contacts, problems


def _contact(
    cells: list[str], line: int, source: str, product_ids: frozenset[str] | None
) -> tuple[list[Problem], Contact | None]:
    where = f"line {line}"
    if len(cells) != len(COLUMNS):
        return [Problem(source, where, f"has {len(cells)} fields; expected {len(COLUMNS)}")], None
    row = dict(zip(COLUMNS, (cell.strip() for cell in cells), strict=True))
    problems = [
        Problem(source, where, f"column {column} is empty; fill it in")
        for column in REQUIRED
        if not row[column]
    ]
    problems += [
        Problem(source, where, f"column {column} {problem}; write it on one line")
        for column, value in row.items()
        if (problem := bad_character(value)) is not None
    ]
    if problems:
        return problems, None
    if row["email"] and not is_email(row["email"]):
        problems.append(
            Problem(
                source,
                where,
                f"'{row['email']}' is not an email address like name@example.com "
                "(ASCII only: SendGrid cannot deliver to internationalized addresses)",
            )
        )
    roles = _split(row["roles"])
    problems += [
        Problem(source, where, f"role '{role}' is unknown; use one of {', '.join(ROLES)}")
        for role in sorted(roles - set(ROLES))
    ]
    products = _split(row["products"])
    problems += [
        Problem(
            source,
            where,
            f"product '{p}' is unknown; use '*' or one of {', '.join(sorted(product_ids or ()))}",
        )
        for p in sorted(products - (product_ids or products) - {ALL_PRODUCTS})
    ]
    zone = None
    if row["timezone"]:
        try:
            zone = parse_zone(row["timezone"])
        except ValueError as error:
            problems.append(Problem(source, where, str(error)))
    if problems:
        return problems, None
    contact = Contact(
        organization=row["organization"],
        account=row["account"] or row["organization"],
        name=row["name"],
        title=row["title"],
        email=row["email"],
        phone=row["phone"],
        roles=roles,
        products=products,
        zone=zone,
        line=line,
    )
    return [], contact


@functools.lru_cache(maxsize=1024)  # a few role and product lists repeat on every row
def _split(cell: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in cell.split(";") if part.strip())
