"""Family 4, machine: faults of the machine, not of the input.

* `build` into a folder it cannot write, or onto a full disk, fails in one sentence and
  leaves the previous complete set of files as it was, with no temporary file behind;
* `send` on a full disk fails in one sentence, leaves nothing 'sending', and the next run
  (with space again) delivers every recipient once;
* a read-only state file or folder: `send` says so at once, and the commands that only
  read (`upcoming`, `notices`, `history`, `send --dry-run`) work;
* a state.db with a corrupted page, truncated to nothing or to half, is refused with a
  sentence that says to restore the backup, and never re-created or rewritten;
* `init` into a folder it cannot write, and `--state` under a regular file, are one
  sentence and change nothing.

Running as root, chmod binds nothing: read-only is made with the immutable attribute
(`chattr +i`) and the full disk with a small tmpfs; a case is skipped, saying why, only
where neither is possible.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from ctmaint.publishing.files import MANIFEST
from tests.faults.conftest import (
    DUE,
    QUIET,
    SOON_AFTER,
    CaseRecord,
    Site,
    addresses,
    people,
    walk,
)

FIRST_BUILD = "2030-06-01T12:00:00Z"
NEXT_BUILD = "2031-06-01T12:00:00Z"  # a year on: every file of the set differs
MONTHLY_ID = "monthly-2030-06-21"
RESTORE = ("backup", "restore")
READ_ONLY = ("read-only", "read only", "cannot write", "not writable", "permission")
FULL = ("space", "full")


def leftovers(folder: Path) -> list[str]:
    """Temporary files (``*.tmp``, dot files but build's record) under ``folder``."""
    return [
        path.relative_to(folder).as_posix()
        for path, kind in walk(folder)
        if kind == "file"
        and (path.name.endswith(".tmp") or path.name.startswith("."))
        and path.name != MANIFEST
    ]


# -- build ----------------------------------------------------------------------------------


def build_twice(site: Site, calendars: str, notices: str, fault: Callable[[], object]) -> None:
    """A good build, the fault, then a build that would change every file: it fails in one
    sentence, the previous set is unchanged and nothing temporary is left."""
    site.shipped()
    site.ok("--now", FIRST_BUILD, "build", "--calendars", calendars, "--notices", notices)
    fault()
    site.run(
        "--now", NEXT_BUILD, "build", "--calendars", calendars, "--notices", notices,
        codes=(1,), unchanged=True, max_lines=1,
    )  # fmt: skip
    for folder in (site.root / calendars, site.root / notices):
        assert not leftovers(folder), f"temporary files left: {leftovers(folder)[:3]}"


def test_build_into_calendars_under_a_regular_file(site: Site) -> None:
    site.shipped()
    site.ok("--now", FIRST_BUILD, "build")
    (site.root / "blocker").write_text("a file, not a folder\n")
    site.run(
        "--now", NEXT_BUILD, "build", "--calendars", "blocker/calendars",
        codes=(1,), unchanged=True, max_lines=1,
    )  # fmt: skip
    assert not leftovers(site.root / "notices")


def test_build_into_a_read_only_calendars_folder(site: Site) -> None:
    build_twice(site, "calendars", "notices", lambda: site.read_only(site.root / "calendars"))


def test_build_into_a_read_only_notices_folder(site: Site) -> None:
    build_twice(site, "calendars", "notices", lambda: site.read_only(site.root / "notices"))


def test_build_over_an_immutable_feed_file(site: Site) -> None:
    def fault() -> None:
        # chmod on a file does not stop a rename over it; only the immutable attribute does
        if site.read_only(site.root / "calendars" / "sip.ics") == "chmod":
            pytest.skip("a read-only file in a writable folder can be replaced: no fault")

    build_twice(site, "calendars", "notices", fault)


def test_build_onto_a_full_disk(site: Site) -> None:
    disk = site.root / "disk"
    site.tmpfs(disk, "8m")
    build_twice(site, "disk/calendars", "disk/notices", lambda: site.fill(disk, leave=96 * 1024))


# -- send on a full disk --------------------------------------------------------------------


def test_send_onto_a_full_disk_loses_nothing(site: Site) -> None:
    rows = people(150)
    site.shipped(rows)
    site.tmpfs(site.root / ".ctmaint", "4m")
    site.ok("--now", QUIET, "send")  # the state exists; the disk fills up afterwards
    filler = site.fill(site.root / ".ctmaint", leave=160 * 1024)
    site.run("--now", DUE, "send", codes=(1,), mentions=(FULL,))
    filler.unlink()
    site.ok("--now", SOON_AFTER, "send")
    site.exactly_once(site.outbox_recipients(), addresses(rows))
    assert not leftovers(site.root / ".ctmaint"), leftovers(site.root / ".ctmaint")


# -- read-only state ------------------------------------------------------------------------

READERS = ["upcoming", "notices", "history", "send --dry-run"]


def read_only_state(site: Site, what: str) -> None:
    site.shipped()
    site.ok("--now", QUIET, "send")  # a state with its schema and the send epoch
    site.read_only(site.state if what == "file" else site.state.parent)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_send_on_read_only_state_says_so_at_once(site: Site, what: str) -> None:
    read_only_state(site, what)
    site.run(
        "--now", DUE, "send", codes=(1,), within=10, unchanged=True, max_lines=1,
        mentions=(READ_ONLY,),
    )  # fmt: skip


@pytest.mark.parametrize("command", READERS)
@pytest.mark.parametrize("what", ["file", "folder"])
def test_reading_commands_work_on_read_only_state(site: Site, what: str, command: str) -> None:
    read_only_state(site, what)
    site.run("--now", DUE, *command.split(), codes=(0,), within=10, unchanged=True)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_operator_change_on_read_only_state_says_so_at_once(site: Site, what: str) -> None:
    read_only_state(site, what)
    site.run(
        "--now", QUIET, "cancel", MONTHLY_ID, "--reason", "Postponed.",
        codes=(1,), within=10, unchanged=True, max_lines=1, mentions=(READ_ONLY,),
    )  # fmt: skip


# -- damaged state --------------------------------------------------------------------------

DAMAGED_COMMANDS = ["send", "upcoming", "notices", "history", "build", "send --dry-run"]


@pytest.fixture(scope="module")
def full_state(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A state.db of several pages (a reminder sent to 300 contacts), checkpointed: made
    once, copied into each case that damages it."""
    folder = tmp_path_factory.mktemp("full-state")
    maker = Site(folder, CaseRecord("machine", "full_state"))
    maker.shipped(people(300))
    maker.ok("--now", DUE, "send")
    with closing(sqlite3.connect(maker.state)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = maker.state.read_bytes()
    assert len(data) > 3 * 4096
    return data


def state_with_data(site: Site, data: bytes) -> None:
    site.shipped(people(300))
    site.state.parent.mkdir(mode=0o700)
    site.state.write_bytes(data)
    site.state.chmod(0o600)
    lock = site.state.with_name("state.db.send.lock")  # as the sends that made it left it
    lock.touch(mode=0o600)


def corrupt_a_page(site: Site, data: bytes) -> None:
    state_with_data(site, data)
    with site.state.open("r+b") as stream:
        stream.seek(4096)
        stream.write(random.Random(11).randbytes(4096))


def truncate_to_nothing(site: Site, data: bytes) -> None:
    state_with_data(site, data)
    site.state.write_bytes(b"")


def truncate_to_half(site: Site, data: bytes) -> None:
    state_with_data(site, data[: len(data) // 2])


DAMAGE = {
    "corrupted_page": corrupt_a_page,
    "truncated_to_0_bytes": truncate_to_nothing,
    "truncated_to_half": truncate_to_half,
}


@pytest.mark.parametrize("command", DAMAGED_COMMANDS)
@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_state_is_refused_and_never_recreated(
    site: Site, full_state: bytes, damage: Callable[[Site, bytes], None], command: str
) -> None:
    damage(site, full_state)
    before = site.state.read_bytes()
    site.run(
        "--now", SOON_AFTER, *command.split(), codes=(1,), unchanged=True, max_lines=1,
        mentions=(RESTORE,),
    )  # fmt: skip
    assert site.state.read_bytes() == before, "the damaged state.db was rewritten"


# -- where ctmaint cannot write -------------------------------------------------------------


def test_init_into_a_read_only_folder(site: Site) -> None:
    target = site.root / "new"
    target.mkdir()
    site.read_only(target)
    site.run("init", "new", codes=(1,), unchanged=True, max_lines=1)


def test_init_under_a_regular_file(site: Site) -> None:
    (site.root / "blocker").write_text("a file, not a folder\n")
    site.run("init", "blocker/new", codes=(1, 2), unchanged=True, max_lines=1)


STATE_UNDER_A_FILE = {
    "send": (("--now", DUE, "send"), (1, 2)),
    "cancel": (("--now", QUIET, "cancel", MONTHLY_ID, "--reason", "Postponed."), (1, 2)),
    "upcoming": (("--now", DUE, "upcoming"), (0, 1, 2)),
    "history": (("history",), (0, 1, 2)),
}


@pytest.mark.parametrize(
    ("args", "codes"), STATE_UNDER_A_FILE.values(), ids=STATE_UNDER_A_FILE.keys()
)
def test_state_under_a_regular_file(
    site: Site, args: tuple[str, ...], codes: tuple[int, ...]
) -> None:
    site.shipped()
    (site.root / "blocker").write_text("a file, not a folder\n")
    site.run("--state", "blocker/state.db", *args, codes=codes, unchanged=True, max_lines=1)
