"""The parser network operators run on maintenance email (circuit-maintenance-parser) reads
ctmaint's notices and public calendar as the BCOP means them.

It pins icalendar<6, so it lives in its own virtual environment, made on first use in a cache
folder. The test runs where CTMAINT_BCOP_PARSER=1 (.ci/run sets it) and is skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, MONTHLY, write_contacts

pytestmark = pytest.mark.skipif(
    os.environ.get("CTMAINT_BCOP_PARSER") != "1",
    reason="CTMAINT_BCOP_PARSER is not 1: circuit-maintenance-parser is not installed here",
)
VERSION = "2.12.0"
VENV = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "ctmaint"
    / f"circuit-maintenance-parser-{VERSION}"
)
READER = """
import json, sys
from circuit_maintenance_parser import NotificationData, init_provider
provider = init_provider("genericprovider")
found = []
for path in sys.argv[1:]:
    raw = open(path, "rb").read()
    if path.endswith(".ics"):
        data = NotificationData.init_from_raw("ical", raw)
    else:
        data = NotificationData.init_from_email_bytes(raw)
    found += [json.loads(m.to_json()) for m in provider.get_maintenances(data)]
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def parser() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet",
             f"circuit-maintenance-parser=={VERSION}"],
            check=True, timeout=900,
        )  # fmt: skip
    return python


def parse(python: Path, *paths: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(python), "-c", READER, *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_notices_parse_as_bcop_maintenances(
    run_cli: CliRunner, tmp_path: Path, parser: Path
) -> None:
    write_contacts(tmp_path, CONTACTS)
    for now in ("2030-06-14T09:00:00-06:00", "2030-06-21T22:00:00-06:00"):
        assert run_cli("--now", now, "send").code == 0
    outbox = tmp_path / ".ctmaint" / "outbox"
    week = parse(parser, next(outbox.glob(f"{MONTHLY}--week-before--ann*")))
    start = parse(parser, next(outbox.glob(f"{MONTHLY}--start--cy*")))
    (confirmed,) = week
    assert confirmed["maintenance_id"] == MONTHLY
    assert (confirmed["provider"], confirmed["account"]) == ("calltower.com", "ACME-1")
    assert confirmed["status"] == "CONFIRMED"
    assert confirmed["start"] == datetime(2030, 6, 22, 4, tzinfo=UTC).timestamp()
    assert confirmed["end"] == datetime(2030, 6, 22, 10, tzinfo=UTC).timestamp()
    assert {c["circuit_id"] for c in confirmed["circuits"]} >= {"teams", "connect"}
    assert {c["impact"] for c in confirmed["circuits"]} == {"DEGRADED"}
    (running,) = start
    assert (running["status"], running["account"]) == ("IN-PROCESS", "BETA-9")
    assert running["sequence"] > confirmed["sequence"]


def test_the_public_calendar_parses_with_every_window(
    run_cli: CliRunner, tmp_path: Path, parser: Path
) -> None:
    assert run_cli("--now", "2030-06-01T00:00:00Z", "build").code == 0
    found = parse(parser, tmp_path / "calendars" / "connect.ics")
    assert found
    assert {m["account"] for m in found} == {"ALL-CUSTOMERS"}
    assert all(m["provider"] == "calltower.com" for m in found)
    assert any(m["maintenance_id"] == MONTHLY for m in found)
