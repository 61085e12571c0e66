"""Loopback receivers standing in for Microsoft Teams, Slack and a Standard Webhooks endpoint.

Each is a threaded ``http.server`` on a loopback address that records every request (its
path, headers, body, when it came and what it was answered) and can be scripted per path,
one :class:`Reply` per request: a status, headers such as ``Retry-After``, a body, a delay,
no answer at all (:attr:`Reply.hang`), a connection closed without one (:attr:`Reply.drop`)
a body that trickles in forever (:attr:`Reply.drip`) or stops half-way (:attr:`Reply.stall`).
With nothing scripted a receiver checks the request as the real service would and answers
as it does:

* :class:`TeamsReceiver`: the ``message`` envelope with one Adaptive Card that validates
  against Microsoft's own schema (``shared/adaptivecards`` beside the clone), version 1.5 at
  most, 28 KB at most (Teams' limit for a message); 202 (a Workflows trigger's answer), 400
  otherwise;
* :class:`SlackReceiver`: ``text`` carrying the four details on its own and ``blocks`` that
  slack_sdk's block models accept; 200 ``ok``, 400 ``invalid_blocks`` otherwise;
* :class:`WebhookReceiver`: a Standard Webhooks signature that the ``standardwebhooks``
  library verifies with the subscription's secret, and a Statuspage-shaped body (``meta``,
  ``page``, ``incident`` with ``incident_updates`` and ``components``); 204 (or what
  ``answer`` says), 400 otherwise.

What a check found wrong is kept in :attr:`Received.problems`; tests assert there is none.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_LIMIT_S = 60.0  # a hung request is let go at the latest then (or when the receiver stops)
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
TEAMS_LIMIT = 28 * 1024  # a message Teams posts, card included (learn.microsoft.com)
SLACK_DETAILS = ("When: ", "UTC", "Products affected: ", "Impact: ", "Work: ", "Why: ")


@dataclass(frozen=True)
class Reply:
    """How to answer one request. ``status`` 0: the receiver's own answer (its check)."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before answering (or before hanging or dropping)
    hang: bool = False  # never answer: hold the connection until the receiver stops
    drop: bool = False  # close the connection without a word
    drip: float = 0.0  # status and headers, then a body of one byte per `drip` s, unending
    stall: bool = False  # status, headers and part of the body, then silence


@dataclass
class Received:
    """One request as it arrived, and what it was answered (None: nothing)."""

    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes
    at: float  # time.monotonic() on arrival
    problems: list[str] = field(default_factory=list)
    notice: str = ""  # which notice it carries, as the receiver can tell
    status: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def token() -> str:
    """A path segment standing for a webhook URL's secret part, easy to search output for."""
    return "tok" + secrets.token_hex(10)


def loopback_available(host: str) -> bool:
    """Whether a server can listen on ``host`` here (127.0.0.2 is loopback on Linux only)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
        return True
    except OSError:
        return False


class Receiver:
    """A loopback HTTP receiver (see the module docstring); subclasses say what it checks,
    how it answers a good request and which notice a request carries."""

    channel = "plain"
    good = Reply(200, body=b"ok")

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[Received] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {}
        self._always: dict[str, Reply] = {}
        self.server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    # -- set up

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def new_url(self, prefix: str = "/hook/") -> tuple[str, str]:
        """A fresh URL on this receiver and its path (whose token output must never show)."""
        path = prefix + token()
        return self.url(path), path

    def script(self, path: str, *replies: Reply) -> None:
        """The next requests to ``path`` get ``replies``, in order; later ones as before."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(replies)

    def always(self, path: str, reply: Reply | None) -> None:
        """Every request to ``path`` not scripted gets ``reply`` (None: the check's answer)."""
        with self._lock:
            if reply is None:
                self._always.pop(path, None)
            else:
                self._always[path] = reply

    def close(self) -> None:
        self.stopping.set()  # hung requests end
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    # -- what came

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def delivered(self, path: str) -> Counter[str]:
        """Notice -> requests to ``path`` carrying it that were answered 2xx."""
        return Counter(r.notice for r in self.to(path) if r.ok)

    def arrived(self, path: str | None = None) -> Counter[str]:
        """Notice -> requests (to ``path``, or to any) carrying it, answered or not."""
        with self._lock:
            return Counter(r.notice for r in self.requests if path is None or r.path == path)

    def problems(self) -> list[str]:
        with self._lock:
            return [f"{r.path}: {p}" for r in self.requests for p in r.problems]

    # -- a request

    def check(self, received: Received) -> list[str]:
        """What the real service would refuse in ``received`` (nothing here)."""
        return []

    def notice_of(self, document: Any) -> str:
        """Which notice a body that passed the check carries."""
        return ""

    def refused(self, problems: list[str]) -> Reply:
        return Reply(400, body=("; ".join(problems)).encode()[:500])

    def take(self, received: Received) -> Reply:
        """Record ``received``, check it, and pick its reply."""
        try:
            received.problems = self.check(received)
        except Exception as error:  # a body the check cannot even read
            received.problems = [f"unreadable: {type(error).__name__}: {error}"]
        if not received.problems:
            try:
                received.notice = self.notice_of(received.json)
            except (ValueError, LookupError, TypeError):
                received.notice = "?"
        with self._lock:
            self.requests.append(received)
            queue = self._scripts.get(received.path)
            scripted = queue.popleft() if queue else self._always.get(received.path, Reply())
        if scripted.status or scripted.hang or scripted.drop or scripted.drip or scripted.stall:
            return scripted
        answer = self.refused(received.problems) if received.problems else self.good
        return Reply(answer.status, answer.headers, answer.body, delay=scripted.delay)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real services and httpx use

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(self.path, headers, body, time.monotonic())
            reply = receiver.take(received)
            if reply.delay:
                receiver.stopping.wait(reply.delay)
            if reply.hang:
                receiver.stopping.wait(HANG_LIMIT_S)
                self.close_connection = True
                return
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.drip:
                self._drip(reply)
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                promised = len(reply.body) + (1000 if reply.stall else 0)
                self.send_header("Content-Length", str(promised))
                self.end_headers()
                self.wfile.write(reply.body)
                self.wfile.flush()
            except OSError:  # the sender is gone (killed, or it gave up waiting)
                self.close_connection = True
                return
            received.status = reply.status
            if reply.stall:  # the rest of the body never comes
                self.close_connection = True
                receiver.stopping.wait(HANG_LIMIT_S)

        def _drip(self, reply: Reply) -> None:
            """Answer ``reply.status``, then a chunked body that never ends."""
            self.close_connection = True
            try:
                self.send_response(reply.status or 200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while not receiver.stopping.wait(reply.drip):
                    self.wfile.write(b"1\r\nx\r\n")
                    self.wfile.flush()
            except OSError:
                return

        do_GET = do_POST  # a redirect target may be asked with GET

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the tests read self.requests

    return Handler


def _json_problems(received: Received) -> tuple[Any, list[str]]:
    if not received.headers.get("content-type", "").startswith("application/json"):
        return None, [f"content type {received.headers.get('content-type')!r}, not JSON"]
    try:
        return json.loads(received.body), []
    except ValueError as error:
        return None, [f"body is not JSON ({error})"]


class TeamsReceiver(Receiver):
    """A Teams Workflows trigger (or incoming webhook) that renders only valid cards."""

    channel = "teams"
    good = Reply(202)

    def __init__(self, validator: Any, host: str = "127.0.0.1") -> None:
        self.validator = validator  # a Draft6Validator of the Adaptive Card 1.5 schema
        super().__init__(host)

    def check(self, received: Received) -> list[str]:
        document, problems = _json_problems(received)
        if problems:
            return problems
        if document.get("type") != "message" or set(document) != {"type", "attachments"}:
            return [f"not a message envelope: keys {sorted(document)}"]
        attachments = document["attachments"]
        if len(attachments) != 1 or attachments[0].get("contentType") != CARD_TYPE:
            return ["the message does not carry exactly one Adaptive Card"]
        card = attachments[0].get("content")
        found = [f"schema: {e.message[:200]}" for e in self.validator.iter_errors(card)]
        if len(received.body) > TEAMS_LIMIT:  # a Workflow takes it (202), then drops it
            found.append(f"{len(received.body)} bytes: over the 28 KB Teams posts")
        version = tuple(int(part) for part in str(card.get("version", "")).split("."))
        if version > (1, 5):
            found.append(f"card version {card.get('version')}: Teams renders 1.5 at most")
        return found

    def notice_of(self, document: Any) -> str:
        """The card's first line (its stage and the window's title)."""
        first = document["attachments"][0]["content"]["body"][0]
        return "".join(run["text"] for run in first["inlines"])


class SlackReceiver(Receiver):
    """A Slack incoming webhook: Block Kit blocks Slack accepts, and a full fallback."""

    channel = "slack"
    good = Reply(200, {"Content-Type": "text/html"}, b"ok")

    def refused(self, problems: list[str]) -> Reply:
        return Reply(400, {"Content-Type": "text/html"}, b"invalid_blocks")

    def check(self, received: Received) -> list[str]:
        from slack_sdk.errors import SlackObjectFormationError
        from slack_sdk.models.blocks import Block

        document, problems = _json_problems(received)
        if problems:
            return problems
        text, blocks = document.get("text"), document.get("blocks")
        if not isinstance(text, str) or not text or not isinstance(blocks, list) or not blocks:
            return ["no text or no blocks"]
        found = [f"text lacks {label!r}" for label in SLACK_DETAILS if label not in text]
        for block in blocks:
            parsed = Block.parse(block)
            if parsed is None:
                found.append(f"unknown block {block!r:.80}")
                continue
            try:
                parsed.validate_json()
            except SlackObjectFormationError as error:
                found.append(f"block refused: {error}")
        return found

    def notice_of(self, document: Any) -> str:
        """The header block's text (its stage and the window's title)."""
        return str(document["blocks"][0]["text"]["text"])


class WebhookReceiver(Receiver):
    """An endpoint that verifies each request's Standard Webhooks signature with the secret
    of its path, and reads it as Statuspage's incident webhook."""

    channel = "webhook"
    good = Reply(204)

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.secrets: dict[str, str] = {}  # path -> whsec_ secret
        super().__init__(host)

    def new_url(self, prefix: str = "/hook/") -> tuple[str, str]:
        url, path = super().new_url(prefix)
        self.secrets[path] = new_secret()
        return url, path

    def check(self, received: Received) -> list[str]:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        secret = self.secrets.get(received.path)
        if secret is None:
            return ["no subscription at this path"]
        try:
            document = Webhook(secret).verify(received.body, received.headers)
        except WebhookVerificationError as error:
            return [f"signature: {error}"]
        found = [f"no {key}" for key in ("meta", "page", "incident") if key not in document]
        incident = document.get("incident", {})
        updates, components = incident.get("incident_updates"), incident.get("components")
        if not isinstance(updates, list) or not updates:
            found.append("no incident_updates")
        if not isinstance(components, list):
            found.append("no components")
        return found

    def notice_of(self, document: Any) -> str:
        """The notice id: the incident update's id."""
        return str(document["incident"]["incident_updates"][0]["id"])

    def ids(self, path: str) -> list[str]:
        """The webhook-id of each request to ``path``, in order."""
        return [r.headers.get("webhook-id", "") for r in self.to(path)]


def new_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Receivers:
    """A Teams, a Slack and a webhook receiver on one loopback host."""

    teams: TeamsReceiver
    slack: SlackReceiver
    webhook: WebhookReceiver

    def __iter__(self) -> Iterator[Receiver]:
        return iter((self.teams, self.slack, self.webhook))

    def problems(self) -> list[str]:
        return [f"{r.channel}{p}" for r in self for p in r.problems()]

    def close(self) -> None:
        for receiver in self:
            receiver.close()


def receivers(validator: Any, host: str = "127.0.0.1") -> Receivers:
    return Receivers(TeamsReceiver(validator, host), SlackReceiver(host), WebhookReceiver(host))
