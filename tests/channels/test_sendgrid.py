"""The sendgrid transport against a real HTTP server on loopback that records each request."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ctmaint.model.contacts import COLUMNS
from tests.conftest import CliRunner

KEY = "SG.test-key-that-must-never-leak.0123456789"
WEEK_BEFORE = "2030-06-14T09:00:00-06:00"
NOTICE = "monthly-2030-06-21/week-before"
# One request at a time: these tests script SendGrid's answers in order (concurrency has
# its own tests below).
FAST = """
[sendgrid]
retries = 2
backoff_seconds = 0.01
max_wait_seconds = 3
timeout_seconds = {timeout}
concurrency = {concurrency}
"""


@dataclass
class SendGridMock:
    """Answers from ``script`` in order (then 202), recording every request."""

    server: HTTPServer
    script: list[Callable[[Request], Response]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def handle(self, request: Request) -> Response:
        self.requests.append(json.loads(request.get_data()))
        self.headers.append(dict(request.headers))
        if self.script:
            return self.script.pop(0)(request)
        return accepted(request)

    @property
    def host(self) -> str:
        return self.server.url_for("").rstrip("/")

    def recipients(self) -> list[str]:
        return [p["to"][0]["email"] for body in self.requests for p in body["personalizations"]]


def accepted(_: Request) -> Response:
    return Response(status=202, headers={"X-Message-Id": f"msg-{time.monotonic_ns()}"})


def status(
    code: int, message: str = "", headers: dict[str, str] | None = None
) -> Callable[[Request], Response]:
    body = json.dumps({"errors": [{"message": message or f"status {code}", "field": None}]})
    return lambda _: Response(body, status=code, headers=headers, content_type="application/json")


@pytest.fixture
def mock(httpserver: HTTPServer) -> Iterator[SendGridMock]:
    recorder = SendGridMock(httpserver)
    httpserver.expect_request("/v3/mail/send", method="POST").respond_with_handler(recorder.handle)
    yield recorder
    httpserver.clear()


def setup_site(folder: Path, rows: list[str], timeout: float = 5.0, concurrency: int = 1) -> None:
    from ctmaint.model.policy import embedded_policy_text

    text = embedded_policy_text().split("[sendgrid]")[0] + FAST.format(
        timeout=timeout, concurrency=concurrency
    )
    (folder / "ctmaint.toml").write_text(
        text.replace('transport = "outbox"', 'transport = "sendgrid"')
    )
    (folder / "contacts.csv").write_text("\n".join([",".join(COLUMNS), *rows]) + "\n")


CONTACTS = [
    "Acme,ACME-1,Ann Example,CTO,ann@acme.example,,maintenance,*,Europe/London",
    "Acme,ACME-1,Al Example,,al@acme.example,,maintenance,*,Europe/London",
    "Beta,BETA-9,Cy,,cy@beta.example,,maintenance,teams,",
]


@pytest.fixture
def site(tmp_path: Path, mock: SendGridMock, monkeypatch: pytest.MonkeyPatch) -> Path:
    setup_site(tmp_path, CONTACTS)
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("CTMAINT_SENDGRID_HOST", mock.host)
    return tmp_path


@pytest.fixture
def impatient_site(tmp_path: Path, mock: SendGridMock, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One contact, and a 0.3 s request timeout that :func:`slow` answers too late for."""
    setup_site(tmp_path, CONTACTS[:1], timeout=0.3)
    monkeypatch.setenv("SENDGRID_API_KEY", KEY)
    monkeypatch.setenv("CTMAINT_SENDGRID_HOST", mock.host)
    return tmp_path


def slow(request: Request) -> Response:
    time.sleep(0.8)
    return accepted(request)


def ledger(folder: Path) -> list[tuple[str, str, str, int, str | None, str | None]]:
    with sqlite3.connect(folder / ".ctmaint" / "state.db") as db:
        return list(
            db.execute(
                "SELECT notice_id, recipient, state, attempts, message_id, error FROM deliveries"
                " WHERE notice_id = ? ORDER BY recipient",
                (NOTICE,),
            )
        )


def test_payload_shape(run_cli: CliRunner, site: Path, mock: SendGridMock) -> None:
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.code == 0, result.err
    assert result.out.strip() == "sent 3, failed 0, expired 0, pending 0"
    assert len(mock.requests) == 2  # one per audience: Acme in London, Beta
    assert mock.headers[0]["Authorization"] == f"Bearer {KEY}"
    acme = next(b for b in mock.requests if len(b["personalizations"]) == 2)
    for personalization in acme["personalizations"]:
        assert len(personalization["to"]) == 1  # nobody sees another address
        assert personalization["custom_args"] == {"notice_id": NOTICE}
    assert [p["to"][0] for p in acme["personalizations"]] == [
        {"email": "ann@acme.example", "name": "Ann Example"},
        {"email": "al@acme.example", "name": "Al Example"},
    ]
    assert acme["from"] == {"email": "maintenance@calltower.com", "name": "CallTower Maintenance"}
    assert acme["reply_to"] == {"email": "support@calltower.com"}
    assert acme["subject"].startswith("[CallTower] In one week: Monthly scheduled maintenance")
    assert [c["type"] for c in acme["content"]] == ["text/plain", "text/html"]
    assert "(Europe/London)" in acme["content"][0]["value"]
    assert acme["categories"] == ["ctmaint", "week-before", "monthly"]
    assert acme["headers"]["X-Ctmaint-Notice-Id"] == NOTICE
    assert "custom_args" not in acme  # the spec types message-level custom_args as a string
    (attachment,) = acme["attachments"]
    assert (attachment["type"], attachment["disposition"]) == (
        "text/calendar; charset=utf-8",
        "attachment",
    )
    (event,) = Calendar.from_ical(base64.b64decode(attachment["content"])).walk("VEVENT")
    assert event["X-MAINTNOTE-ACCOUNT"] == "ACME-1"
    rows = ledger(site)
    assert {r[2] for r in rows} == {"sent"}
    assert all(r[4] and r[4].startswith("msg-") for r in rows)  # X-Message-Id kept
    history = json.loads(run_cli("history", "--format", "json").out)["notices"]
    entry = next(h for h in history if h["notice"] == NOTICE)
    assert entry["transport"] == "sendgrid"
    assert set(entry["message_ids"]) == {r[4] for r in rows}
    assert f"message ids:\n  {NOTICE}: msg-" in run_cli("history").out


def test_ten_thousand_recipients_take_ten_requests(
    run_cli: CliRunner, site: Path, mock: SendGridMock
) -> None:
    rows = [f"Big Co,BIG-1,P {i},,p{i}@big.example,,maintenance,*," for i in range(10_000)]
    setup_site(site, rows)
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.code == 0, result.err
    assert result.out.strip().startswith("sent 10000,")
    assert [len(b["personalizations"]) for b in mock.requests] == [1000] * 10
    assert len(set(mock.recipients())) == 10_000


def test_429_waits_for_the_reset_then_sends(
    run_cli: CliRunner, site: Path, mock: SendGridMock
) -> None:
    reset = int(time.time()) + 2
    mock.script = [status(429, "too many requests", {"X-RateLimit-Reset": str(reset)})]
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.out.strip() == "sent 3, failed 0, expired 0, pending 0"
    assert len(mock.requests) == 3  # the 429, then both audiences
    assert time.time() >= reset  # it waited for the reset


def test_429_beyond_the_longest_wait_is_left_for_the_next_run(
    run_cli: CliRunner, site: Path, mock: SendGridMock
) -> None:
    far = str(int(time.time()) + 3600)
    mock.script = [status(429, "too many requests", {"X-RateLimit-Reset": far})] * 2
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.code == 0
    assert result.out.strip() == "sent 0, failed 0, expired 0, pending 3"
    assert "left for the next run" in result.err
    assert "429 rate limited" in result.err
    assert {r[2] for r in ledger(site)} == {"pending"}
    again = run_cli("--now", "2030-06-14T09:05:00-06:00", "send")
    assert again.out.strip() == "sent 3, failed 0, expired 0, pending 0"


def test_5xx_is_retried_with_a_limit_then_left_pending(
    run_cli: CliRunner, site: Path, mock: SendGridMock
) -> None:
    mock.script = [status(503), status(500)]  # two failures, then 202
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.out.strip() == "sent 3, failed 0, expired 0, pending 0"
    assert len(mock.requests) == 4
    mock.requests.clear()
    mock.script = [status(500)] * 3  # retries = 2: three tries, all failing
    setup_site(site, [*CONTACTS, "Gamma,,Di,,di@gamma.example,,maintenance,*,"])
    result = run_cli("--now", "2030-06-14T09:05:00-06:00", "send")
    assert result.code == 0
    assert result.out.strip() == "sent 0, failed 0, expired 0, pending 1"
    assert len(mock.requests) == 3
    assert "500: status 500 (after 3 tries)" in result.err


def test_network_errors_are_retried_then_left_pending(
    run_cli: CliRunner, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("CTMAINT_SENDGRID_HOST", f"http://127.0.0.1:{port}")
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.code == 0
    assert result.out.strip() == "sent 0, failed 0, expired 0, pending 3"
    assert "no connection to SendGrid" in result.err


@pytest.mark.parametrize("code", [401, 403])
def test_bad_credentials_stop_the_run_and_mark_nothing_sent(
    run_cli: CliRunner, site: Path, mock: SendGridMock, code: int
) -> None:
    mock.script = [status(code, "The provided authorization grant is invalid")]
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        f"ctmaint: SendGrid refused the API key ({code}: The provided authorization grant is "
        "invalid); check SENDGRID_API_KEY and that the key has Mail Send permission"
    ]
    assert len(mock.requests) == 1  # the run stopped at once
    assert {r[2] for r in ledger(site)} == {"pending"}


def test_other_4xx_fail_for_good_with_the_reason(
    run_cli: CliRunner, site: Path, mock: SendGridMock
) -> None:
    mock.script = [status(400, "The from address does not match a verified Sender Identity")]
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.code == 1
    assert result.out.strip().startswith("sent 1, failed 2,")
    assert "does not match a verified Sender Identity" in result.err
    history = next(
        h
        for h in json.loads(run_cli("history", "--format", "json").out)["notices"]
        if h["notice"] == NOTICE
    )
    assert history["failed"] == 2
    assert any("verified Sender Identity" in e for e in history["errors"])
    again = run_cli("--now", "2030-06-14T09:05:00-06:00", "send")
    assert again.out.strip().startswith("sent 0, failed 0,")  # failed for good: not resent


def test_a_timeout_after_sending_is_uncertain_and_resent_once(
    run_cli: CliRunner, impatient_site: Path, mock: SendGridMock
) -> None:
    mock.script = [slow]
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.code == 0
    assert "uncertain 1" in result.out
    assert "no answer from SendGrid after sending" in result.err
    assert len(mock.requests) == 1  # not retried at once: it may have been accepted
    history = next(
        h
        for h in json.loads(run_cli("history", "--format", "json").out)["notices"]
        if h["notice"] == NOTICE
    )
    assert history["uncertain"] == 1
    time.sleep(0.6)  # let the slow handler finish
    again = run_cli("--now", "2030-06-14T09:05:00-06:00", "send")
    assert again.out.strip() == (
        "sent 1, failed 0, expired 0, pending 0 (1 unanswered last time, sent once more)"
    )
    assert len(mock.requests) == 2
    notes = next(
        h
        for h in json.loads(run_cli("history", "--format", "json").out)["notices"]
        if h["notice"] == NOTICE
    )["notes"]
    assert notes == [
        "ann@acme.example: the last attempt got no answer after sending; sent once more"
    ]


def test_missing_key_is_a_clear_error_before_anything_is_claimed(
    run_cli: CliRunner, site: Path, mock: SendGridMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENDGRID_API_KEY")
    result = run_cli("--now", WEEK_BEFORE, "send")
    assert result.code == 1
    assert result.err.strip() == (
        "ctmaint: SENDGRID_API_KEY is not set; export the SendGrid API key (Mail Send "
        "permission) in the environment of `ctmaint send`"
    )
    assert mock.requests == []
    assert not (site / ".ctmaint").exists()


def test_the_key_never_reaches_output_logs_or_the_state(
    run_cli: CliRunner, site: Path, mock: SendGridMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.script = [status(400, "bad"), status(401, "bad key")]
    outputs = [run_cli("--now", WEEK_BEFORE, "send")]
    setup_site(site, [*CONTACTS, "Gamma,,Di,,di@gamma.example,,maintenance,*,"])
    outputs.append(run_cli("--now", WEEK_BEFORE, "send"))
    outputs.append(run_cli("history"))
    for result in outputs:
        assert KEY not in result.out
        assert KEY not in result.err
    assert KEY not in caplog.text
    for path in (site / ".ctmaint").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("now", "loaded"),
    [
        pytest.param("2030-06-13T09:00:00-06:00", "False False False", id="nothing_due"),
        pytest.param(WEEK_BEFORE, "False True True", id="outbox_sends"),
    ],
)
def test_heavy_libraries_are_imported_only_when_used(tmp_path: Path, now: str, loaded: str) -> None:
    (tmp_path / "contacts.csv").write_text("\n".join([",".join(COLUMNS), CONTACTS[0]]) + "\n")
    script = (
        "import sys; from ctmaint.cli import main as cli\n"
        f"sys.argv = ['ctmaint', '--now', '{now}', 'send']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print(*(name in sys.modules for name in ('sendgrid', 'icalendar', 'jinja2')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == loaded


def test_a_second_silence_gives_up_instead_of_resending_forever(
    run_cli: CliRunner, impatient_site: Path, mock: SendGridMock
) -> None:
    mock.script = [status(503), slow, slow]  # a retried 5xx first: the resend still happens
    assert "uncertain 1" in run_cli("--now", WEEK_BEFORE, "send").out
    time.sleep(0.6)
    assert "uncertain 1" in run_cli("--now", "2030-06-14T09:05:00-06:00", "send").out
    time.sleep(0.6)
    last = run_cli("--now", "2030-06-14T09:10:00-06:00", "send")
    assert last.code == 1
    assert "1 unanswered twice, given up" in last.out
    assert len(mock.requests) == 3  # 503, then two sends that got no answer: no fourth
    history = json.loads(run_cli("history", "--format", "json").out)["notices"]
    (entry,) = [h for h in history if h["notice"] == NOTICE]
    assert entry["failed"] == 1
    assert "no answer after sending, twice" in entry["errors"][0]
