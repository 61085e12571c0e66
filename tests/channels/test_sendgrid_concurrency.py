"""Requests to SendGrid in flight at once, up to [sendgrid] concurrency, with every guarantee
kept: each recipient once, a killed run repeating at most the batches in flight, 401 still
stopping the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.channels.test_sendgrid import KEY, setup_site
from tests.sending.test_send import CTMAINT, ledger_rows

WEEK_BEFORE = "2030-06-14T09:00:00-06:00"
NOTICE = "monthly-2030-06-21/week-before"


@dataclass
class SlowSendGrid:
    """Answers 202 (or ``status``) after ``latency`` seconds; counts requests in flight."""

    latency: float
    status: int = 202
    url: str = ""
    flying: int = 0
    most: int = 0
    to: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def slow() -> Iterator[SlowSendGrid]:
    state = SlowSendGrid(latency=0.2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body: dict[str, Any] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.flying += 1
                state.most = max(state.most, state.flying)
            time.sleep(state.latency)
            with state.lock:
                state.flying -= 1
                if state.status == 202:
                    state.to.update(p["to"][0]["email"] for p in body["personalizations"])
            self.send_response(state.status)
            payload = b'{"errors": [{"message": "bad key"}]}' if state.status != 202 else b""
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Message-Id", "m1")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()


def organizations(count: int) -> tuple[list[str], set[str]]:
    rows = [f"Org {i},ORG-{i},P {i},,p{i}@org{i}.example,,maintenance,*," for i in range(count)]
    return rows, {f"p{i}@org{i}.example" for i in range(count)}


def send(folder: Path, url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "SENDGRID_"))}
    env |= {"SENDGRID_API_KEY": KEY, "CTMAINT_SENDGRID_HOST": url}
    return subprocess.Popen(
        [str(CTMAINT), "--now", WEEK_BEFORE, "send"], cwd=folder, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_requests_fly_up_to_the_limit_and_each_recipient_gets_one(
    tmp_path: Path, slow: SlowSendGrid
) -> None:
    rows, everyone = organizations(24)
    setup_site(tmp_path, rows, concurrency=4)
    out, err = send(tmp_path, slow.url).communicate(timeout=120)
    assert out.strip().splitlines()[-1].startswith("sent 24, failed 0"), err
    assert slow.most == 4  # in flight together, never more than the policy allows
    assert slow.to == Counter(everyone)
    assert {(r[2], r[3]) for r in ledger_rows(tmp_path)} == {("sent", 1)}


def test_a_killed_run_repeats_at_most_the_batches_in_flight(
    tmp_path: Path, slow: SlowSendGrid
) -> None:
    rows, everyone = organizations(40)
    setup_site(tmp_path, rows, concurrency=4)
    slow.latency = 0.5
    run = send(tmp_path, slow.url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(slow.to.values()) < 8:
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    in_flight = {r[1] for r in ledger_rows(tmp_path) if r[2] == "sending"}
    assert 0 < len(in_flight) <= 4  # one recipient per audience here: four batches at most
    slow.latency = 0.01
    _, err = send(tmp_path, slow.url).communicate(timeout=120)
    assert set(slow.to) == everyone  # nobody lost
    assert {a for a, n in slow.to.items() if n > 1} <= in_flight  # only in-flight repeated
    assert {r[2] for r in ledger_rows(tmp_path)} == {"sent"}, err


def test_bad_credentials_stop_the_run_even_with_requests_in_flight(
    tmp_path: Path, slow: SlowSendGrid
) -> None:
    rows, _ = organizations(30)
    setup_site(tmp_path, rows, concurrency=4)
    slow.status = 401
    run = send(tmp_path, slow.url)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1
    assert err.strip().splitlines()[-1].startswith("ctmaint: SendGrid refused the API key (401")
    assert slow.most <= 4
    states = Counter(r[2] for r in ledger_rows(tmp_path))
    assert states["sent"] == 0
    assert states["sending"] == 0
    assert sum(states.values()) == 30  # nothing claimed was lost: it waits for the next run
