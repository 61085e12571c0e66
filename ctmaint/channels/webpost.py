"""Posting a notice to a subscription's URL: what Teams, Slack and signed webhooks share.

Each channel module says only how a notice becomes its JSON body (and, for webhooks, that
the request is signed); this one posts it with ``httpcore`` (pooled connections, every read
and write of a request within its timeout all told, no redirects followed) and decides each
subscription's outcome from the answer, as the SendGrid transport does:

* 2xx: sent;
* 429, 5xx, or no connection: retried ``retries`` times with backoff, waiting out a
  ``Retry-After`` within ``max_wait_seconds`` (and the run's time budget), then left pending
  for the next run;
* no answer after the request went out (a read timeout, a dropped connection): uncertain,
  since the receiver may have taken it; the next run sends it once more. The answer must
  come within ``timeout_seconds`` of the request, all told, however slowly a receiver
  trickles it. Once the status line came, that is the answer, whatever the body does: it
  is read for a short while (``timeout_seconds`` all told) and a few KiB at most, to
  quote it;
* 404, 410, 401, 403 (the webhook was removed or revoked), or a URL no request can be made
  to: failed, and so is every other notice to that subscription in this run, without a
  request; other 4xx and 3xx (a redirect is never followed): that delivery fails with the
  answer;
* a host whose requests go unanswered ``down_after`` times in a row is down for the rest of
  the run: its deliveries wait for the next one; other hosts go on.

Nothing printed or stored names more of a URL than its host, not even what a receiver
answers (its status line or its body may echo the URL): the URL of a Teams or Slack webhook
is its credential, and a webhook secret never leaves the signature. A connection is reused
for the next request only after an answer whose end is known (a 204 or 304 that declares a
body is not: its bytes would be read as the next request's answer).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from msgspec import Struct
from msgspec.structs import replace

from ctmaint import clock
from ctmaint.channels.base import Outcome, Setup
from ctmaint.model.notices import Audience, Notice, Recipient
from ctmaint.model.policy import Patience, Policy
from ctmaint.model.subscriptions import Subscription
from ctmaint.model.text import plural
from ctmaint.model.vocabulary import Answer

if TYPE_CHECKING:
    import ssl

    import httpcore

# How a notice becomes a channel's JSON body: the notice (its note the one to tell), the
# policy, the time it is sent at, and the subscription's zone (None: the provider's only).
Payload = Callable[[Notice, Policy, datetime, ZoneInfo | None], dict[str, Any]]
GONE = (401, 403, 404, 410)  # the subscription no longer exists, or no longer takes ours
USER_AGENT = "ctmaint (maintenance notices)"
LONGEST_REASON = 200
LONGEST_BODY = 4096  # bytes of an answer read for its reason; the rest is not read
SHORTEST_TOKEN = 8  # a piece of a URL this long may be (part of) its credential
BODILESS = (204, 304)  # statuses that have no body, whatever their headers say


class Body(Struct, frozen=True):
    """One notice rendered for one audience of a channel: the bytes every one of its
    subscriptions is sent."""

    notice_id: str
    content: bytes


class Answered(Struct, frozen=True):
    """What one request came to (see the module docstring)."""

    state: Answer
    error: str | None = None
    unanswered: bool = False  # counts toward the host's down_after
    gone: bool = False  # the subscription is refused for the rest of the run


class Heard(Struct, frozen=True):
    """What a receiver answered one request: what decides the outcome, and the start of
    its body to quote."""

    status: int
    retry_after: str | None
    phrase: str
    text: str = ""


class WebPostChannel:
    """A channel posting JSON to each subscription's target (see the module docstring);
    ``signed`` adds the Standard Webhooks headers."""

    batch_size = 1  # one request per claim: a killed run repeats only requests in flight

    def __init__(
        self,
        name: str,
        payload: Payload,
        setup: Setup,
        signed: bool = False,
        sleep: Callable[[float], None] = clock.sleep,
    ) -> None:
        self.name, self.payload, self.signed, self.sleep = name, payload, signed, sleep
        self.policy = setup.policy
        self.patience: Patience = setup.policy.channels
        self.concurrency = self.patience.concurrency
        self.subscriptions: Mapping[str, Subscription] = {
            s.key: s for s in setup.subscriptions if s.channel == name
        }
        self.deadline = setup.deadline
        self._pool: httpcore.ConnectionPool | None = None
        self._lock = threading.Lock()  # deliver() runs on several threads at once
        self._unanswered: dict[str, int] = {}  # host -> requests in a row with no answer
        self._down: dict[str, str] = {}  # host -> why it is down for this run
        self._gone: dict[str, str] = {}  # subscription key -> what its receiver answered

    def start(self) -> None:
        """Nothing to prepare: connections are opened on the first post."""

    def render(
        self, notice: Notice, audience: Audience, policy: Policy, now: datetime, note: str
    ) -> Body:
        """The body of ``notice`` for ``audience``; ``note`` is what the notice says beyond
        its details (an operator's reason, what changed since the last notice)."""
        zone = ZoneInfo(audience.zone_key) if audience.zone_key else None
        told = replace(notice, note=note)
        data = self.payload(told, policy, now, zone)
        return Body(notice.id, json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def deliver(self, body: Body, recipients: Sequence[Recipient], now: datetime) -> list[Outcome]:
        return [self._deliver_one(body, recipient) for recipient in recipients]

    def _deliver_one(self, body: Body, recipient: Recipient) -> Outcome:
        subscription = self.subscriptions.get(recipient.email)
        if subscription is None:  # the plan only gives subscriptions of this channel
            return Outcome(recipient.email, Answer.FAILED, None, "no such subscription")
        host, key = subscription.host, subscription.key
        with self._lock:
            down, gone = self._down.get(host), self._gone.get(key)
        if gone is not None:
            return Outcome(key, Answer.FAILED, None, gone)
        if down is not None:
            return Outcome(key, Answer.RETRY, None, down)
        delivery_id = delivery_id_of(body.notice_id, key)
        answered = self._post(subscription, body, delivery_id)
        error = self._count(subscription, answered)
        sent_id = delivery_id if answered.state is Answer.SENT else None
        return Outcome(key, answered.state, sent_id, error)

    def _count(self, subscription: Subscription, answered: Answered) -> str | None:
        """Keep the host's run of silences, and a subscription its receiver refused; the
        error to report. A refused subscription's is the same for every notice of the run,
        so that the run says it once."""
        host, error = subscription.host, answered.error
        with self._lock:
            if answered.gone:
                error = self._gone[subscription.key] = f"{error}; no notice goes to it in this run"
            if not answered.unanswered:
                self._unanswered[host] = 0
                return error
            count = self._unanswered[host] = self._unanswered.get(host, 0) + 1
            if count >= self.patience.down_after:
                self._down[host] = (
                    f"{host} did not answer {plural(count, 'request')} in a row (last: "
                    f"{error}); its deliveries wait for the next run"
                )
            return error

    def _post(self, subscription: Subscription, body: Body, delivery_id: str) -> Answered:
        """Post ``body`` to the subscription's target until it answers or patience ends."""
        import httpcore

        host, patience = subscription.host, self.patience
        unanswered = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError)
        delay, last = patience.backoff_seconds, Answered(Answer.RETRY, "no attempt made", True)
        tries = 0
        for attempt in range(patience.retries + 1):
            if attempt and not self._wait(delay):
                break  # the run's time is nearly up: the next run tries again
            if attempt:
                delay *= 2
            tries += 1
            try:
                heard = self._ask(subscription, body, delivery_id)
            except (httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.PoolTimeout) as error:
                last = Answered(Answer.RETRY, f"no connection to {host} ({_kind(error)})", True)
                continue
            except (ValueError, httpcore.UnsupportedProtocol) as error:
                # The same URL will never do: pending, it would wait unnoticed until expiry.
                said = f"its URL (host {host}) cannot be posted to ({_kind(error)}); fix its row"
                return Answered(Answer.FAILED, said, gone=True)
            except unanswered as error:
                # The request went out and no answer came back: it may have been taken.
                said = f"no answer from {host} after sending ({_kind(error)})"
                return Answered(Answer.UNCERTAIN, said, unanswered=True)
            except Exception as error:  # no message of it is shown: it may hold the URL
                return Answered(Answer.RETRY, f"could not post to {host} ({_kind(error)})")
            status = heard.status
            if 200 <= status < 300:
                return Answered(Answer.SENT)
            said = f"{host} answered {status}{_reason(heard, subscription)}"
            if status == 429 or status >= 500:
                last = Answered(Answer.RETRY, said, unanswered=status >= 500)
                wait = retry_after(heard.retry_after, clock.real_time())
                if wait is not None and wait > patience.max_wait_seconds:
                    return Answered(Answer.RETRY, f"{said}; asked to wait {wait:.0f} s")
                delay = wait if wait is not None else delay
                continue
            if 300 <= status < 400:
                said += " (a redirect, not followed: give the URL it points to)"
            return Answered(Answer.FAILED, said, gone=status in GONE)
        return replace(last, error=f"{last.error} (after {plural(tries, 'try', 'tries')})")

    def _ask(self, subscription: Subscription, body: Body, delivery_id: str) -> Heard:
        """Post once and hear the answer: its status, and of its body no more than
        LONGEST_BODY bytes read within timeout_seconds all told. A timeout on each read
        alone would let a receiver trickling its headers or an endless body hold the run
        (and the send lock) for ever: every read and write of the request ends by its
        deadline (:class:`_TimedStream`); the status line decides, body or not. (A body
        read to its end leaves the connection in the pool for the next request.)"""
        headers = self._headers(subscription, body, delivery_id)
        step = self.patience.timeout_seconds
        timeouts = {"connect": step, "read": step, "write": step, "pool": step}
        started = clock.monotonic()
        _REQUEST.limit, _REQUEST.deadline = step, None
        try:
            with self.pool.stream(
                "POST",
                subscription.target,
                headers=list(headers.items()),
                content=body.content,
                extensions={"timeout": timeouts},
            ) as response:
                phrase = response.extensions.get("reason_phrase", b"")
                heard = Heard(
                    response.status, _header(response, "retry-after"), phrase.decode("latin-1")
                )
                head, whole = self._head(response, started)
                text = _decoded(head, response)
                if _unframed(response):  # what follows on its connection is not an answer
                    _drop_connection(response)
                # A word cut short may be the start of a token that redacted() would not know.
                return replace(heard, text=text if whole else re.sub(r"\S+\Z", "", text))
        finally:
            _REQUEST.limit = None

    def _head(self, response: httpcore.Response, started: float) -> tuple[bytes, bool]:
        """The start of ``response``'s body, and whether it is all of it. The status came
        already: a body that stalls or breaks off changes nothing of what was answered."""
        import httpcore

        head = bytearray()
        try:
            for chunk in response.iter_stream():  # as sent: no decompression asked for
                head += chunk
                spent = clock.monotonic() - started
                if len(head) >= LONGEST_BODY or spent >= self.patience.timeout_seconds:
                    return bytes(head[:LONGEST_BODY]), False
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError):
            return bytes(head[:LONGEST_BODY]), False
        return bytes(head), True

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless that would pass the run's time budget (False)."""
        if clock.monotonic() + seconds >= self.deadline:
            return False
        self.sleep(seconds)
        return True

    def _headers(self, subscription: Subscription, body: Body, delivery_id: str) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",  # an answer is read raw (see _ask)
        }
        if self.signed:
            from ctmaint.channels.signing import signed_headers

            sent_at = datetime.fromtimestamp(clock.real_time(), UTC)
            headers |= signed_headers(subscription.secret, delivery_id, sent_at, body.content)
        return headers

    @property
    def pool(self) -> httpcore.ConnectionPool:
        """The connections to the receivers, made on the first post: at most
        ``concurrency`` at once, each read and write timed (:class:`_TimedBackend`). Only
        what a row names is asked: no proxy from the environment, no redirect followed."""
        with self._lock:
            if self._pool is None:
                import httpcore

                backend = cast("httpcore.NetworkBackend", _TimedBackend(httpcore.SyncBackend()))
                self._pool = httpcore.ConnectionPool(
                    max_connections=self.concurrency, network_backend=backend
                )
            return self._pool


def delivery_id_of(notice_id: str, key: str) -> str:
    """The id of one delivery, the same on every retry of it (``webhook-id``): a receiver
    that sees it twice drops the repeat."""
    return "msg_" + hashlib.sha256(f"{notice_id}\0{key}".encode()).hexdigest()[:32]


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (a number, or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also takes '²', float() not
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now) if when.tzinfo else None


def _reason(heard: Heard, subscription: Subscription) -> str:
    """The receiver's own words (its reason phrase, and its body), on one line and short;
    never the URL beyond its host (a receiver may echo it back, or its path: a web server's
    404 page names it, and some servers put that message in the status line itself)."""
    phrase, said = (_shown(text, subscription.target) for text in (heard.phrase, heard.text))
    reason = f" {phrase}" if phrase else ""
    return f"{reason}: {said}" if said else reason


def _shown(text: str, target: str) -> str:
    """``text`` redacted of ``target``, on one line of at most LONGEST_REASON printable
    characters."""
    words = " ".join(redacted(text, target).split())[:LONGEST_REASON]
    return "".join(c for c in words if c.isprintable())


def _header(response: httpcore.Response, name: str) -> str | None:
    """The first ``name`` header of ``response`` (as Latin-1 text, as HTTP has it), or None."""
    wanted = name.encode("ascii")
    for key, value in response.headers:
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def _unframed(response: httpcore.Response) -> bool:
    """Whether ``response`` declares a body that its status cannot have: h11 reads none, so
    whatever the receiver sent after its headers would be taken for the next answer."""
    length = (_header(response, "content-length") or "0").strip()
    declared = length != "0" or _header(response, "transfer-encoding") is not None
    return response.status in BODILESS and declared


def _drop_connection(response: httpcore.Response) -> None:
    """Close the connection ``response`` came on: the pool then discards it, unused again."""
    stream = response.extensions.get("network_stream")
    if stream is not None:
        stream.close()


def _decoded(head: bytes, response: httpcore.Response) -> str:
    """The start of an answer's body as text, in its charset if it names a known one."""
    named = re.search(r"charset=\"?([\w.:-]+)", _header(response, "content-type") or "", re.I)
    try:
        return head.decode(named.group(1) if named else "utf-8", errors="replace")
    except LookupError:
        return head.decode("utf-8", errors="replace")


def redacted(text: str, target: str) -> str:
    """``text`` with nothing of ``target`` but its host: the whole URL becomes the host, and
    its path, query and every piece of them long enough to be a token (a path segment, a
    query value, raw or decoded) an ellipsis."""
    parts = urlsplit(target)
    text = text.replace(target, parts.hostname or "")
    pairs = [pair.partition("=") for pair in parts.query.split("&")]
    pieces = {
        parts.path + "?" + parts.query,
        parts.path,
        parts.query,
        *parts.path.split("/"),
        *(value for _, _, value in pairs),
    }
    pieces |= {unquote(piece) for piece in pieces}
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= SHORTEST_TOKEN:
            text = text.replace(piece, "…")
    return text


def _kind(error: Exception) -> str:
    """What went wrong, without the URL an httpcore message may hold."""
    return type(error).__name__


class _Request(threading.local):
    """The request this thread is making: how long its answer may take all told, and by
    when (from its first byte sent: connecting has its own timeout)."""

    limit: float | None = None
    deadline: float | None = None


_REQUEST = _Request()


def _time_left(timeout: float | None, sending: bool) -> float | None:
    """The timeout of one read or write of this thread's request: ``timeout`` (httpcore's,
    for this step alone), or what is left until the request's deadline if that is less."""
    limit = _REQUEST.limit
    if limit is None:
        return timeout
    now = clock.monotonic()
    if _REQUEST.deadline is None and sending:
        _REQUEST.deadline = now + limit
    if _REQUEST.deadline is None:
        return timeout
    left = _REQUEST.deadline - now
    if left <= 0:
        import httpcore

        late = httpcore.WriteTimeout if sending else httpcore.ReadTimeout
        raise late(f"no answer within {limit:g} s all told")
    return left if timeout is None else min(timeout, left)


class _TimedStream:
    """A connection's stream whose every read and write ends by the deadline of the request
    it serves (see :func:`_time_left`)."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _time_left(timeout, sending=False))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _time_left(timeout, sending=True))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _timed(self.stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class _TimedBackend:
    """httpcore's network backend, its connections' streams timed (see :class:`_TimedStream`)."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self.backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self.backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _timed(stream)

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


def _timed(stream: httpcore.NetworkStream) -> httpcore.NetworkStream:
    return cast("httpcore.NetworkStream", _TimedStream(stream))
