"""The PostgreSQL ledger itself: one schema and one set of migrations, atomic claims,
read-only views, and errors in one sentence without the password."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ctmaint.errors import StateError
from ctmaint.model.vocabulary import DeliveryState
from ctmaint.state.ledger import Deliveries, LedgerNotice
from ctmaint.state.location import PostgresUrl
from ctmaint.state.migrations import MIGRATIONS
from ctmaint.state.open import open_ledger, open_snapshot
from tests.conftest import CliRunner

NOW = datetime(2030, 6, 14, 15, tzinfo=UTC)


def test_hosts_starting_together_migrate_once(database: str) -> None:
    versions: list[int] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            ledger = open_ledger(PostgresUrl(database))
            versions.append(ledger.schema_version)
            ledger.close()
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert versions == [len(MIGRATIONS)] * 8


def test_a_row_is_claimed_by_one_run_only(database: str) -> None:
    first, second = open_ledger(PostgresUrl(database)), open_ledger(PostgresUrl(database))
    try:
        addresses = [(f"p{i}@x.example", "X", "email") for i in range(50)]
        notice = LedgerNotice("w/start", "w", "start", NOW, NOW)
        Deliveries(first).add(notice, addresses, DeliveryState.PENDING, NOW)
        wanted = [a for a, _, _ in addresses]
        one = Deliveries(first).claim("w/start", wanted, NOW)
        other = Deliveries(second).claim("w/start", wanted, NOW)
        assert sorted(one) == sorted(wanted)
        assert other == []
        assert Deliveries(second).add(notice, addresses, DeliveryState.PENDING, NOW) == 0
    finally:
        first.close()
        second.close()


def test_reading_an_empty_database_creates_nothing(database: str) -> None:
    snapshot = open_snapshot(PostgresUrl(database))
    try:
        assert Deliveries(snapshot).rows() == []
    finally:
        snapshot.close()
    reader = open_snapshot(PostgresUrl(database))  # still nothing written: still an empty view
    reader.close()
    ledger = open_ledger(PostgresUrl(database))
    try:
        view = open_snapshot(PostgresUrl(database))
        with pytest.raises(Exception, match="read-only"):
            view.execute("INSERT INTO settings (key, value) VALUES ('a', 'b')")
        view.close()
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        pytest.param("postgresql://ctmaint:s3cr3t-pw@127.0.0.1:1/ctmaint", "cannot reach",
                     id="unreachable"),
        pytest.param("postgresql://ctmaint:s3cr3t-pw@127.0.0.1:99x/ctmaint", "port is not a number",
                     id="bad_port"),
        pytest.param("postgresql://ctmaint:s3cr3t-pw@/ctmaint", "not a PostgreSQL URL",
                     id="no_host"),
    ],
)  # fmt: skip
def test_check_says_what_is_wrong_with_the_state_without_the_password(
    run_cli: CliRunner, tmp_path: Path, url: str, words: str
) -> None:
    result = run_cli("--state", url, "check")
    assert result.code in (1, 2)
    assert words in result.err
    assert "s3cr3t-pw" not in result.err + result.out
    assert "Traceback" not in result.err
    assert not (tmp_path / "postgresql:").exists()  # never taken for a file path


def test_an_unreachable_state_is_one_sentence_for_every_command(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    url = "postgresql://ctmaint:s3cr3t-pw@127.0.0.1:1/ctmaint"
    for command in (["upcoming"], ["send"], ["send", "--dry-run"], ["history"],
                    ["cancel", "monthly-2030-06-21", "--reason", "r"]):  # fmt: skip
        result = run_cli("--state", url, "--now", "2030-06-01T00:00:00Z", *command)
        assert result.code == 1, command
        assert result.err.startswith("ctmaint: cannot reach the state database postgresql://")
        assert "s3cr3t-pw" not in result.err
        assert len(result.err.strip().splitlines()) == 1


def test_a_state_error_never_shows_the_password() -> None:
    from ctmaint.state.location import masked

    assert masked("postgresql://u:pw@h:5/d") == "postgresql://u:***@h:5/d"
    assert masked("postgresql://u@h/d") == "postgresql://u@h/d"
    with pytest.raises(StateError) as error:
        open_ledger(PostgresUrl("postgresql://u:hunter2@127.0.0.1:1/d"))
    assert "hunter2" not in str(error.value)
