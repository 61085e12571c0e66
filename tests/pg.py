"""The PostgreSQL server the tests run against: a fresh database per test, dropped after.

The server is given by CTMAINT_TEST_POSTGRES (a ``postgresql://`` URL whose role may create
databases); ``.ci/run`` starts one with ``.ci/postgres.sh start``. psycopg is imported only
when a database is made, so the SQLite tests need neither the server nor psycopg.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

SERVER_URL = os.environ.get("CTMAINT_TEST_POSTGRES", "")

SKIP_REASON = (
    "CTMAINT_TEST_POSTGRES is not set: the PostgreSQL tests need a server; .ci/run starts one"
)

_NOT_IN_NAME = re.compile(r"[^a-z0-9_]+")
_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1
_CONNECT_TIMEOUT = 10  # seconds


def postgres_or_skip() -> str:
    """The server's URL, or skip the calling test when no server is given."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    return SERVER_URL


def fresh_database(prefix: str) -> str:
    """Create an empty database ``{prefix}_{10 hex digits}`` on the server; return its URL.

    The prefix is lowercased, anything but letters, digits and ``_`` becomes ``_`` and it is cut
    to fit PostgreSQL's 63 bytes, so a test's name will do (``request.node.name``). The URL is
    SERVER_URL with only the database changed (same role, password, host, port and query
    parameters). Drop it with :func:`drop_database`.
    """
    server = postgres_or_skip()  # before the import: no server, no psycopg needed
    import psycopg
    from psycopg import sql

    stem = _NOT_IN_NAME.sub("_", prefix.lower()).strip("_") or "test"
    if not stem[0].isalpha():
        stem = "db_" + stem
    name = f"{stem[: _MAX_IDENTIFIER - 11].rstrip('_')}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=_CONNECT_TIMEOUT) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(server, name)


def drop_database(url: str) -> None:
    """Drop the database of ``url`` (made by :func:`fresh_database`), if it still exists.

    Connections still open to it (a killed test's, a sender left running) are terminated first.
    """
    import psycopg
    from psycopg import sql

    name = _database_of(url)
    if not name:
        raise ValueError("the URL names no database")
    maintenance = _with_database(url, _database_of(SERVER_URL) or "postgres")
    if name == _database_of(maintenance):
        raise ValueError(f"not dropping {name!r}: it is the server's own database")
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=_CONNECT_TIMEOUT) as conn:
        for attempt in range(5):
            try:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
            except psycopg.Error:
                pass  # e.g. not allowed to end another role's sessions; the drop will say
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 4:
                    raise
                time.sleep(0.2)  # a session connected again between the two statements


def _database_of(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))
