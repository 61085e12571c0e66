"""Several cron hosts on one PostgreSQL ledger: each host is a working folder of its own
(policy, contacts, outbox, notices) and runs ``ctmaint`` as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pg import drop_database, fresh_database, postgres_or_skip
from tests.sending.test_send import CTMAINT, write_contacts


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database on the test server; dropped after the test."""
    postgres_or_skip()
    url = fresh_database(request.node.name)
    try:
        yield url
    finally:
        drop_database(url)


@dataclass
class Host:
    """One machine running ctmaint from cron: its own folder, the shared state URL."""

    folder: Path
    state: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "PG"))}
        return env | {"CTMAINT_STATE": self.state}

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(CTMAINT), *args], cwd=self.folder, env=self.env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def run(self, *args: str, code: int = 0) -> str:
        done = subprocess.run(
            [str(CTMAINT), *args], cwd=self.folder, env=self.env(),
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done.stdout

    def outbox(self) -> Counter[tuple[str, str]]:
        """(notice id, address) -> .eml files in this host's outbox."""
        import email
        from email.policy import default

        box = self.folder / ".ctmaint" / "outbox"
        found: Counter[tuple[str, str]] = Counter()
        for path in sorted(box.glob("*.eml")) if box.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=default)
            found[str(message["X-Ctmaint-Notice-Id"]), message["To"].addresses[0].addr_spec] += 1
        return found


def make_hosts(tmp_path: Path, url: str, count: int, contacts: list[str]) -> list[Host]:
    hosts = []
    for n in range(count):
        folder = tmp_path / f"host{n}"
        folder.mkdir()
        write_contacts(folder, contacts)
        hosts.append(Host(folder, url))
    return hosts


def state_rows(url: str) -> list[tuple[str, str, str, int]]:
    import psycopg

    with psycopg.connect(url) as connection:
        return [
            (str(a), str(b), str(c), int(d))
            for a, b, c, d in connection.execute(
                "SELECT notice_id, recipient, state, attempts FROM deliveries"
            )
        ]


def history(host: Host) -> dict[str, list[dict[str, object]]]:
    document: dict[str, list[dict[str, object]]] = json.loads(
        host.run("history", "--format", "json")
    )
    return document


_NOT_RUN: list[int] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a server, the tests that need one are left out and said so once, at the end
    (not one "skipped" line each)."""
    from tests.pg import SERVER_URL

    if SERVER_URL:
        return
    here = Path(__file__).parent
    needing = [
        i for i in items if "database" in getattr(i, "fixturenames", ()) and here in i.path.parents
    ]
    if needing:
        config.hook.pytest_deselected(items=needing)
        items[:] = [i for i in items if i not in needing]
        _NOT_RUN.append(len(needing))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _NOT_RUN:
        terminalreporter.write_line(
            f"{sum(_NOT_RUN)} PostgreSQL tests not run: CTMAINT_TEST_POSTGRES is not set "
            "(give a server's URL; .ci/run starts one)"
        )
