"""Subscriptions on a PostgreSQL state shared by several hosts: two hosts, two senders each,
post every notice to every subscription exactly once between them, as they email it."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.hosts.conftest import make_hosts, state_rows
from tests.hosts.test_shared_state import MOMENTS
from tests.sending.test_send import CONTACTS, MONTHLY

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
COUNT = 30  # subscriptions, half Teams, half signed webhooks


class Receiver(ThreadingHTTPServer):
    """Takes every post after a short wait (requests overlap across the four senders) and
    counts (path, notice) pairs: the notice is the webhook update's id, or the card's title."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.got: Counter[tuple[str, str]] = Counter()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if "incident" in body:
            said = body["incident"]["incident_updates"][0]["id"]
        else:
            said = body["attachments"][0]["content"]["body"][0]["inlines"][0]["text"]
        time.sleep(0.02)
        with self.server.lock:
            self.server.got[self.path, said] += 1
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the counts."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def write_subscriptions(folder: Path, port: int) -> None:
    rows = ["organization,account,channel,target,products,timezone,secret"]
    for n in range(COUNT):
        channel, secret = ("teams", "") if n % 2 else ("webhook", SECRET)
        rows.append(f"Org {n},,{channel},http://127.0.0.1:{port}/s{n},*,,{secret}")
    path = folder / "subscriptions.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    path.chmod(0o600)


def test_two_hosts_post_each_notice_to_each_subscription_once(
    tmp_path: Path, database: str, receiver: Receiver
) -> None:
    hosts = make_hosts(tmp_path, database, 2, CONTACTS)
    for host in hosts:
        write_subscriptions(host.folder, receiver.server_address[1])
    for moment in MOMENTS:
        runs = [host.start("--now", moment, "send") for host in hosts for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0] * 4, outputs
        assert not any("Traceback" in err for _, err in outputs)
        assert not any("127.0.0.1:" in out + err for out, err in outputs)  # hosts only
    paths = {f"/s{n}" for n in range(COUNT)}
    for stage in ("week-before", "start", "complete"):
        notice = f"{MONTHLY}/{stage}"
        hooks = {p: c for (p, said), c in receiver.got.items() if said == notice}
        assert set(hooks) == {f"/s{n}" for n in range(0, COUNT, 2)}, stage  # nobody lost
        assert set(hooks.values()) == {1}, stage  # nobody twice, across both hosts
    cards = {key: c for key, c in receiver.got.items() if not key[1].startswith(MONTHLY)}
    assert {p for p, _ in cards} == paths - {f"/s{n}" for n in range(0, COUNT, 2)}
    assert set(cards.values()) == {1}  # each card (one title per notice) once per channel
    assert len(cards) >= 3 * COUNT // 2
    rows = [r for r in state_rows(database) if r[0].startswith(MONTHLY)]
    assert {r[2] for r in rows} == {"sent"}
    assert {r[3] for r in rows} == {1}  # one attempt each: no run posted another's row
