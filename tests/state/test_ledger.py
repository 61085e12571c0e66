from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from ctmaint.errors import StateError
from ctmaint.state.ledger import Ledger
from ctmaint.state.location import SqliteFile
from ctmaint.state.migrations import MIGRATIONS
from ctmaint.state.open import open_ledger, open_snapshot


def test_created_with_owner_only_permissions_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.db"
    ledger = open_ledger(SqliteFile(path))
    try:
        assert ledger.schema_version == len(MIGRATIONS)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        tables = {row[0] for row in ledger.db.execute("SELECT name FROM sqlite_master")}
        assert "changes" in tables
    finally:
        ledger.close()


def test_reopening_keeps_the_records(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = open_ledger(SqliteFile(path))
    with ledger.transaction() as db:
        db.execute(
            "INSERT INTO changes (window_id, kind, fields, made_at, made_by)"
            " VALUES ('w', 'edit', '{}', '2026-01-01T00:00:00Z', 'ops')"
        )
    ledger.close()
    again = open_ledger(SqliteFile(path))
    try:
        assert again.db.execute("SELECT count(*) FROM changes").fetchone()[0] == 1
    finally:
        again.close()


def test_a_newer_schema_is_refused_not_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_ledger(SqliteFile(path)).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StateError, match="newer than this ctmaint knows"):
        open_ledger(SqliteFile(path))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM changes").fetchone()[0] == 0  # still there


def test_a_failed_transaction_changes_nothing(tmp_path: Path) -> None:
    ledger = open_ledger(SqliteFile(tmp_path / "state.db"))
    try:

        def insert_then_fail() -> None:
            with ledger.transaction() as db:
                db.execute(
                    "INSERT INTO changes (window_id, kind, fields, made_at, made_by)"
                    " VALUES ('w', 'edit', '{}', '2026-01-01T00:00:00Z', 'ops')"
                )
                raise RuntimeError

        with pytest.raises(RuntimeError):
            insert_then_fail()
        assert ledger.db.execute("SELECT count(*) FROM changes").fetchone()[0] == 0
    finally:
        ledger.close()


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            open_ledger(SqliteFile(path)).close()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ledger = open_ledger(SqliteFile(path))
    try:
        assert ledger.schema_version == len(MIGRATIONS)
    finally:
        ledger.close()


def test_a_snapshot_of_an_older_schema_is_migrated_in_memory_only(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        MIGRATIONS[0](Ledger(db, SqliteFile(path)))
        db.execute("PRAGMA user_version = 1")
    snapshot = open_snapshot(SqliteFile(path))
    try:
        assert snapshot.schema_version == len(MIGRATIONS)
        assert snapshot.db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0
    finally:
        snapshot.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1  # the file is untouched


def test_a_snapshot_of_a_current_database_is_read_only_and_creates_nothing(
    tmp_path: Path,
) -> None:
    missing = open_snapshot(SqliteFile(tmp_path / "none.db"))
    missing.close()
    assert not (tmp_path / "none.db").exists()
    path = tmp_path / "state.db"
    open_ledger(SqliteFile(path)).close()
    snapshot = open_snapshot(SqliteFile(path))
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            snapshot.db.execute("DELETE FROM changes")
    finally:
        snapshot.close()


def test_an_upgrade_keeps_every_record(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        for migration in MIGRATIONS[:2]:
            migration(Ledger(db, SqliteFile(path)))
        db.execute("PRAGMA user_version = 2")
        db.execute(
            "INSERT INTO deliveries (notice_id, recipient, window_id, stage, account, state,"
            " attempts, due_at, expires_at, updated_at) VALUES ('w/start', 'a@b.example', 'w',"
            " 'start', 'A', 'uncertain', 1, 'x', 'y', 'z')"
        )
    ledger = open_ledger(SqliteFile(path))
    try:
        assert ledger.schema_version == len(MIGRATIONS)
        row = ledger.db.execute("SELECT state, attempts, resent_uncertain FROM deliveries")
        assert row.fetchall() == [("uncertain", 1, 0)]
    finally:
        ledger.close()
