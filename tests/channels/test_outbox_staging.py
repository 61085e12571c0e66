"""A send killed while writing a message leaves nothing in the outbox: each .eml is staged
in a private folder beside it and renamed in whole; the next send clears the staging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.sending.test_send import CONTACTS, MONTHLY_TO, deliveries, write_contacts

KILLED_MID_WRITE = (
    "import os, signal, sys\n"
    "real_fsync = os.fsync\n"
    "count = [0]\n"
    "def fsync(fd):\n"
    "    count[0] += 1\n"
    "    if count[0] == 3:  # the third message is on its way to the disk\n"
    "        os.kill(os.getpid(), signal.SIGKILL)\n"
    "    real_fsync(fd)\n"
    "os.fsync = fsync\n"
    "from ctmaint.cli.main import main\n"
    "sys.argv[0] = 'ctmaint'\n"
    "main()\n"
)


def test_a_send_killed_mid_write_leaves_nothing_half_written_in_the_outbox(
    tmp_path: Path,
) -> None:
    write_contacts(tmp_path, CONTACTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    now = ("--now", "2030-06-14T09:00:00-06:00", "send")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_WRITE, *now],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    outbox = tmp_path / ".ctmaint" / "outbox"
    assert [p.name for p in outbox.iterdir() if not p.name.endswith(".eml")] == []
    for eml in outbox.iterdir():
        assert eml.stat().st_size > 0
    staging = tmp_path / ".ctmaint" / ".outbox.staging"
    assert any(staging.iterdir())  # what the kill interrupted is there, not in the outbox
    done = subprocess.run(
        [sys.executable, "-m", "ctmaint", "--now", "2030-06-14T09:05:00-06:00", "send"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list(staging.iterdir()) == []
    reminded = deliveries(tmp_path, "monthly-2030-06-21/week-before")
    assert {address for _, address in reminded} == MONTHLY_TO
    assert set(reminded.values()) == {1}
