"""Where a state is: a SQLite file on this host, or a PostgreSQL database several hosts share.

A location's ``str()`` is how every message names it: a file's path, or a URL with every
secret masked (URLs are parsed as libpq reads them, so a message and the connection always
agree on where the user, password and host are). psycopg, the optional extra
``ctmaint[postgres]``, is imported only to read a URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from msgspec import Struct

from ctmaint.errors import Input, StateError


class SqliteFile(Struct, frozen=True):
    """A SQLite state database: a file that this host alone writes."""

    path: Path
    shared: ClassVar[bool] = False

    def __str__(self) -> str:
        return str(self.path)


class PostgresUrl(Struct, frozen=True):
    """A PostgreSQL state database that several hosts share, by its ``postgresql://`` URL.
    ``url`` may hold a password: show the location itself (``str()``), never ``url``."""

    url: str
    shared: ClassVar[bool] = True

    @classmethod
    def checked(cls, url: str) -> PostgresUrl:
        """``url``, or StateError in one sentence (see :func:`check_url`)."""
        check_url(url)
        return cls(url)

    def __str__(self) -> str:
        return masked(self.url)

    def __repr__(self) -> str:
        return f"PostgresUrl({self})"


StateLocation = SqliteFile | PostgresUrl

SCHEMES = ("postgresql://", "postgres://")
SECRET_FIELDS = frozenset({"password", "sslpassword"})  # libpq fields no message may show
MAX_HOST = 253  # the longest DNS name


def is_url(location: str) -> bool:
    return location.startswith(SCHEMES)


def url_fields(url: str) -> dict[str, str]:
    """The connection fields of ``url`` as libpq reads them (psycopg's own parser); ValueError
    if libpq cannot read it."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {key: str(value) for key, value in conninfo_to_dict(url).items()}
    except Exception as error:  # psycopg.ProgrammingError: libpq's own words
        raise ValueError(str(error)) from None


def masked(url: str) -> str:
    """``url`` as every message shows it: rebuilt from what libpq reads, with every secret
    field (the password, the SSL key's password) replaced by ``***``. A URL libpq cannot
    read shows only its scheme, since where its secrets end is unknown."""
    try:
        fields = url_fields(url)
    except (ValueError, ImportError):
        return url.split("://", 1)[0] + "://..." if "://" in url else "(a URL)"
    user = fields.pop("user", "")
    secret = ":***" if fields.pop("password", None) is not None else ""
    hosts = fields.pop("host", "")
    host = ",".join(f"[{h}]" if ":" in h else h for h in hosts.split(",")) if hosts else ""
    port = fields.pop("port", "")
    where = f"{user}{secret}@" if user or secret else ""
    text = f"postgresql://{where}{host}{':' + port if port else ''}/{fields.pop('dbname', '')}"
    extra = [f"{k}={'***' if k in SECRET_FIELDS else v}" for k, v in sorted(fields.items())]
    return text + ("?" + "&".join(extra) if extra else "")


def masked_reason(error: Exception, url: str) -> str:
    """The server's words about ``error``, first line only, every secret of ``url`` in them
    masked."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    try:
        fields = url_fields(url)
    except ValueError:
        return type(error).__name__
    for key in SECRET_FIELDS:
        if fields.get(key):
            text = text.replace(fields[key], "***")
    return text


def check_url(url: str) -> None:
    """StateError in one sentence unless ``url`` is a PostgreSQL URL with a host and a
    database that libpq reads as written (the password may come from the URL,
    ``PGPASSWORD`` or ``~/.pgpass``)."""
    example = "postgresql://user@host:5432/database"
    if not is_url(url):
        raise StateError(f"the state URL is not a PostgreSQL URL like {example}", about=Input.STATE)
    try:
        fields = url_fields(url)
    except ImportError:
        return  # connecting says psycopg is needed
    except ValueError:
        raise StateError(
            f"the state URL cannot be read as a PostgreSQL URL like {example} (check its port, "
            "its %-escapes and its query parameters)",
            about=Input.STATE,
        ) from None
    hosts = [h for h in fields.get("host", "").split(",") if h]
    if any("@" in h for h in hosts):  # libpq ends the password at the first '@'
        raise StateError(
            "the state URL has an '@' inside its password: write it as %40 (the rest of the "
            "URL is not shown, since it holds part of the password)",
            about=Input.STATE,
        )
    ports = [port for port in fields.get("port", "").split(",") if port]
    if not all(port.isdigit() and 0 < int(port) < 65536 for port in ports):
        raise StateError(
            f"the state URL {masked(url)} is not a PostgreSQL URL like {example} (its port is "
            "not a number)",
            about=Input.STATE,
        )
    if not hosts or not fields.get("dbname"):
        raise StateError(
            f"the state URL {masked(url)} is not a PostgreSQL URL like {example} (it needs a "
            "host and a database)",
            about=Input.STATE,
        )
    _check_host_names(hosts)


def _check_host_names(hosts: list[str]) -> None:
    for host in hosts:
        if host.startswith("/") or ":" in host:  # a socket folder, or an IPv6 address
            continue
        labels = (host[:-1] if host.endswith(".") else host).split(".")
        if len(host) > MAX_HOST or any(not 0 < len(label) <= 63 for label in labels):
            raise StateError(
                f"the state URL's host name ({len(host)} characters) has an empty part or one "
                "over 63 characters: not a host name DNS can resolve",
                about=Input.STATE,
            )
