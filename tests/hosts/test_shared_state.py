"""A PostgreSQL state shared by several hosts keeps every guarantee of one SQLite file:
each delivery exactly once across all outboxes, nothing lost when a host dies mid-run,
operators on any host seeing one schedule, identical feeds, each status post written once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

from tests.hosts.conftest import Host, history, make_hosts, state_rows
from tests.sending.test_send import CONTACTS, MONTHLY, MONTHLY_TO

BIG = [f"Org {i},ORG-{i},Person {i},,p{i}@org{i % 50}.example,,maintenance,*," for i in range(400)]
BIG_TO = {f"p{i}@org{i % 50}.example" for i in range(400)}
MOMENTS = [
    "2030-06-14T09:00:00-06:00",  # the monthly reminder (week before)
    "2030-06-21T22:00:00-06:00",  # its start
    "2030-06-22T04:00:00-06:00",  # its completion
]


def all_outboxes(hosts: list[Host]) -> Counter[tuple[str, str]]:
    total: Counter[tuple[str, str]] = Counter()
    for host in hosts:
        total += host.outbox()
    return total


def test_two_hosts_two_senders_each_deliver_every_notice_exactly_once(
    tmp_path: Path, database: str
) -> None:
    hosts = make_hosts(tmp_path, database, 2, BIG)
    for moment in MOMENTS:
        runs = [host.start("--now", moment, "send") for host in hosts for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0] * 4, outputs
        assert not any("Traceback" in err for _, err in outputs)
    delivered = all_outboxes(hosts)
    for stage in ("week-before", "start", "complete"):
        got = Counter(a for (n, a), c in delivered.items() for _ in range(c)
                      if n == f"{MONTHLY}/{stage}")  # fmt: skip
        assert set(got) == BIG_TO, stage  # nobody lost
        assert set(got.values()) == {1}, stage  # nobody twice, across both hosts
    rows = state_rows(database)
    assert {r[2] for r in rows} == {"sent"}
    assert {r[3] for r in rows} == {1}  # one attempt each: no run sent another's row
    posts = [p for h in hosts for p in (h.folder / "notices" / "posts").glob("*.md")]
    names = Counter(p.name for p in posts)
    assert set(names.values()) == {1}  # each status post written once, by one host
    assert len(names) == 3


def test_a_host_killed_mid_run_leaves_the_rest_to_the_other(tmp_path: Path, database: str) -> None:
    first, second = make_hosts(tmp_path, database, 2, BIG)
    box = first.folder / ".ctmaint" / "outbox"
    run = first.start("--now", MOMENTS[0], "send")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if box.exists() and sum(1 for _ in box.glob("*.eml")) >= 40:
            break
        time.sleep(0.005)
    assert run.poll() is None, "the run finished before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    in_flight = {r[1] for r in state_rows(database) if r[2] == "sending"}
    sent_first = {a for (_, a) in first.outbox()}
    out = second.run("--now", "2030-06-14T09:01:00-06:00", "send")
    assert out.strip().splitlines()[-1].startswith(f"sent {400 - len(sent_first - in_flight)},")
    delivered = all_outboxes([first, second])
    got = Counter(a for (n, a), c in delivered.items() for _ in range(c)
                  if n == f"{MONTHLY}/week-before")  # fmt: skip
    assert set(got) == BIG_TO  # zero lost
    twice = {a for a, c in got.items() if c > 1}
    assert twice <= in_flight  # only what was in flight when the host died is repeated
    assert {r[2] for r in state_rows(database)} == {"sent"}


def test_operators_on_one_host_are_seen_on_the_other_and_builds_agree(
    tmp_path: Path, database: str
) -> None:
    east, west = make_hosts(tmp_path, database, 2, CONTACTS)
    now = ("--now", "2030-06-03T12:00:00-06:00")
    added = east.run(
        *now, "add", "--start", "2030-06-05T23:30:00-06:00", "--duration", "2h",
        "--products", "teams", "--summary", "SBC patch", "--description", "d",
        "--justification", "j",
    ).strip()  # fmt: skip
    west.run(*now, "cancel", MONTHLY, "--reason", "Vendor recall")
    assert added == "unscheduled-2030-06-05-1"
    again = west.run(
        *now, "add", "--start", "2030-06-05T23:30:00-06:00", "--duration", "1h",
        "--products", "sip", "--summary", "Second", "--description", "d", "--justification", "j",
    ).strip()  # fmt: skip
    assert again == "unscheduled-2030-06-05-2"  # one sequence of ids across hosts
    for host in (east, west):
        kinds = [(c["window"], c["change"]) for c in history(host)["changes"]]
        assert kinds == [(added, "add"), (MONTHLY, "cancel"), (again, "add")]
        host.run(*now, "build")
    for folder in ("calendars", "notices"):
        east_files = {p.relative_to(east.folder): p.read_bytes()
                      for p in (east.folder / folder).rglob("*") if p.is_file()}  # fmt: skip
        west_files = {p.relative_to(west.folder): p.read_bytes()
                      for p in (west.folder / folder).rglob("*") if p.is_file()}  # fmt: skip
        assert east_files == west_files, folder
    assert MONTHLY_TO  # the cancelled window had no reminder sent yet: nobody to tell


def test_a_sqlite_ledger_moves_into_postgresql_and_carries_on(
    tmp_path: Path, database: str
) -> None:
    host = make_hosts(tmp_path, database, 1, CONTACTS)[0]
    local = ("--state", str(host.folder / ".ctmaint" / "state.db"))
    host.run(*local, "--now", MOMENTS[0], "send")
    host.run(*local, "--now", "2030-06-15T10:00:00-06:00", "reschedule", MONTHLY,
             "--start", "2030-06-28T22:00:00-06:00")  # fmt: skip
    before = history(Host(host.folder, str(host.folder / ".ctmaint" / "state.db")))
    out = host.run(*local, "migrate-state", "--to", database)
    # settings: the first and last send, the identity
    assert out.startswith("copied 1 change, 4 deliveries, 1 post, 3 settings;")
    assert "ctmaint-test-pw" not in out
    after = history(host)  # now on the shared state
    assert after == before
    host.run("--now", "2030-06-15T11:00:00-06:00", "send")  # the reschedule notice, once
    assert {a for (n, a) in host.outbox() if n.endswith("/reschedule")} == MONTHLY_TO
    refused = host.run(*local, "migrate-state", "--to", database, code=1)
    assert refused == ""
