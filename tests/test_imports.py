"""A cron tick with nothing due imports only what it needs: no sendgrid, icalendar, feedgen,
jinja2 or psycopg (each costs tens of milliseconds, every five minutes, for years)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sending.test_send import CONTACTS, write_contacts

HEAVY = ("sendgrid", "icalendar", "feedgen", "jinja2", "psycopg", "rich", "lxml")


def imported(folder: Path, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ctmaint", *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["send"], id="send_nothing_due"),
        pytest.param(["send", "--dry-run"], id="dry_run"),
        pytest.param(["upcoming"], id="upcoming"),
    ],
)
def test_a_tick_with_nothing_due_imports_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    write_contacts(tmp_path, CONTACTS)
    first = subprocess.run(  # the reminder goes out: the next tick has nothing to do
        [sys.executable, "-m", "ctmaint", "--now", "2030-06-14T09:00:00-06:00", "send"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    modules = imported(tmp_path, "--now", "2030-06-14T09:05:00-06:00", *args)
    assert "ctmaint" in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
