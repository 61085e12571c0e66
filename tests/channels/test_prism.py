"""SendGrid's own contract: real notices sent to Stoplight Prism serving SendGrid's OpenAPI file.

Prism answers 202 to a request the spec accepts and 400 (reason in its ``sl-violations``
header) to one it does not. The spec's path comes from CTMAINT_SENDGRID_SPEC (.ci/run sets
it); Prism is installed by ``start-prism.sh`` beside the spec into a cache folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from msgspec.structs import replace

from ctmaint.channels.message import Message, render_message
from ctmaint.channels.sendgrid import SendGridTransport
from ctmaint.model.contacts import COLUMNS
from ctmaint.model.notices import Audience, Recipient, plan
from ctmaint.model.policy import Patience, Policy
from ctmaint.model.windows import windows_between
from tests.conftest import CliRunner

SPEC = os.environ.get("CTMAINT_SENDGRID_SPEC", "")
pytestmark = pytest.mark.skipif(
    not SPEC, reason="CTMAINT_SENDGRID_SPEC is unset: no SendGrid OpenAPI file to mock"
)
PRISM_DIR = Path(
    os.environ.get("CTMAINT_PRISM_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ctmaint" / "prism"
)
QUICK = Patience(retries=1, backoff_seconds=0.01, max_wait_seconds=1, timeout_seconds=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_prism(spec: Path, log: Path) -> Iterator[str]:
    script = Path(SPEC).parent / "start-prism.sh"
    port = free_port()
    started = subprocess.run(
        ["bash", str(script), str(PRISM_DIR), str(port), str(spec), str(log)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    pid = int(started.stdout.strip().splitlines()[-1])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.kill(pid, signal.SIGTERM)
        subprocess.run(["bash", "-c", f"while kill -0 {pid} 2>/dev/null; do sleep 0.1; done"],
                       timeout=30, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    yield from start_prism(Path(SPEC), log)


@pytest.fixture(scope="module")
def fault_prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("fault-prism")
    spec = folder / "tsg_mail_v3_faults.json"
    maker = Path(SPEC).parent / "make_fault_spec.py"
    subprocess.run([sys.executable, str(maker), SPEC, str(spec)], check=True, timeout=60)
    yield from start_prism(spec, folder / "prism.log")


def a_message(policy: Policy, sender: str | None = None) -> tuple[Message, list[Recipient]]:
    now = datetime(2030, 6, 14, 15, tzinfo=UTC)
    notice = plan(policy, windows_between(policy, now, now + timedelta(days=10)))[0]
    message = render_message(notice, Audience("Acme", "ACME-1", "Europe/London"), policy, now)
    if sender is not None:
        message = replace(message, sender=sender)
    people = [Recipient(f"p{i}@acme.example", f"P {i}", "Acme", "ACME-1", None) for i in range(3)]
    return message, people


def test_real_notices_are_accepted_by_sendgrids_spec(
    run_cli: CliRunner, tmp_path: Path, prism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        "Acme,ACME-1,Ann Example,CTO,ann@acme.example,,maintenance,*,Europe/London",
        'Beta,BETA-9,"Cy, Jr.",,cy@beta.example,,maintenance,connect,',
        "Gamma,,Di,,di@gamma.example,,maintenance,teams,America/New_York",
    ]
    (tmp_path / "contacts.csv").write_text("\n".join([",".join(COLUMNS), *rows]) + "\n")
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.prism-test-key.0123456789abcdef")
    monkeypatch.setenv("CTMAINT_SENDGRID_HOST", prism)
    for now in ("2030-06-14T09:00:00-06:00", "2030-06-21T22:00:00-06:00",
                "2030-06-22T04:00:00-06:00"):  # fmt: skip
        result = run_cli("--now", now, "send", "--transport", "sendgrid")
        assert result.code == 0, result.err
        assert result.out.strip().startswith("sent 3, failed 0,"), result.out + result.err
    history = json.loads(run_cli("history", "--format", "json").out)["notices"]
    assert {h["notice"] for h in history} == {
        f"monthly-2030-06-21/{stage}" for stage in ("week-before", "start", "complete")
    }
    assert all(h["transport"] == "sendgrid" and h["failed"] == 0 for h in history)


def test_a_request_that_breaks_the_spec_fails_with_prisms_reason(
    prism: str, shipped: Policy
) -> None:
    message, people = a_message(shipped, sender="CallTower Maintenance <not an address>")
    transport = SendGridTransport("SG.prism-test-key", prism, QUICK)
    outcomes = transport.deliver(message, people, datetime.now(UTC))
    assert {o.state for o in outcomes} == {"failed"}
    assert "from.email must match format" in str(outcomes[0].error)


def test_the_fault_spec_answers_429_and_gives_a_message_id(
    fault_prism: str, shipped: Policy
) -> None:
    message, people = a_message(shipped)
    sent = SendGridTransport("SG.prism-test-key", fault_prism, QUICK).deliver(
        message, people, datetime.now(UTC)
    )
    assert {(o.state, o.message_id) for o in sent} == {("sent", "W86EgYT6SQKk0lRflfLRsA")}
    limited = SendGridTransport(
        "SG.prism-test-key", fault_prism, QUICK, extra_headers={"Prefer": "code=429"}
    ).deliver(message, people, datetime.now(UTC))
    assert {o.state for o in limited} == {"retry"}  # waited out within limits, then left
    assert str(limited[0].error).startswith("429 rate limited")
