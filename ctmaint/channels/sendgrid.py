"""The SendGrid transport: the v3 Mail Send API through the official ``sendgrid`` client.

This is the only module that imports ``sendgrid``, and only when this transport is used.
One request carries up to 1000 recipients of one audience, one personalization each, so
no recipient sees another. What SendGrid answers decides each recipient's outcome:

* 202: sent (SendGrid's X-Message-Id is kept);
* 429: wait until X-RateLimit-Reset if that is within ``max_wait_seconds``, then retry;
* 5xx, or no connection: retried ``retries`` times with exponential backoff, then left
  pending for the next run;
* 401/403: the key is wrong: :class:`DeliveryError` stops the run, nothing marked sent;
* other 4xx: failed for good, with SendGrid's reason;
* no answer after the request went out (a read timeout, a dropped connection): uncertain,
  since SendGrid may have accepted it; the next run sends it once more.

The API key comes only from the environment and is never put in a message, a log record
or the ledger: the client's own debug logging (which prints request headers) is silenced.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import re
import threading
import urllib.error
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from ctmaint import clock
from ctmaint.channels.base import Outcome, Setup, render_email
from ctmaint.channels.message import CALENDAR_TYPE
from ctmaint.errors import DeliveryError, TransportDown
from ctmaint.model.notices import Recipient
from ctmaint.model.policy import Patience
from ctmaint.model.text import plural
from ctmaint.model.vocabulary import Answer

if TYPE_CHECKING:
    from ctmaint.channels.message import Message

KEY_VARIABLE = "SENDGRID_API_KEY"
HOST_VARIABLE = "CTMAINT_SENDGRID_HOST"
DEFAULT_HOST = "https://api.sendgrid.com"
MAX_PERSONALIZATIONS = 1000
DEFAULT_SETTINGS = Patience()


def make(setup: Setup) -> SendGridTransport:
    """The SendGrid channel, with the policy's settings and the key from the environment."""
    return SendGridTransport.from_environment(setup.policy.sendgrid)


class SendGridTransport:
    name = "sendgrid"
    batch_size = MAX_PERSONALIZATIONS
    render = staticmethod(render_email)

    def __init__(
        self,
        api_key: str,
        host: str = DEFAULT_HOST,
        retry: Patience = DEFAULT_SETTINGS,
        extra_headers: dict[str, str] | None = None,
        sleep: Callable[[float], None] = clock.sleep,
        real_time: Callable[[], float] = clock.real_time,
    ) -> None:
        import sendgrid

        # The client logs request headers, the key among them, at DEBUG: never let it.
        logging.getLogger("python_http_client").setLevel(logging.WARNING)
        self._client = sendgrid.SendGridAPIClient(api_key=api_key, host=host)
        if extra_headers:  # for tests against a mock (Prism's "Prefer: code=429")
            self._client.client.request_headers.update(extra_headers)
        self.retry = retry
        self.concurrency = retry.concurrency
        self.sleep = sleep
        self.real_time = real_time
        self._unanswered = 0  # requests in a row that SendGrid did not accept or refuse
        self._last_problem = ""
        self._lock = threading.Lock()  # deliver() runs on several threads at once

    @classmethod
    def from_environment(cls, settings: Patience) -> SendGridTransport:
        """The key from SENDGRID_API_KEY (required), the base URL from CTMAINT_SENDGRID_HOST,
        both checked before use. No message ever contains the key."""
        key = os.environ.get(KEY_VARIABLE, "").strip()
        if not key:
            raise DeliveryError(
                f"{KEY_VARIABLE} is not set; export the SendGrid API key (Mail Send "
                "permission) in the environment of `ctmaint send`"
            )
        if _KEY.fullmatch(key) is None:
            raise DeliveryError(
                f"{KEY_VARIABLE} is not shaped like a SendGrid API key (SG. and two parts of "
                "letters, digits, - and _, separated by a dot); copy it again from SendGrid"
            )
        return cls(key, check_host(os.environ.get(HOST_VARIABLE, "").strip()), settings)

    def start(self) -> None:
        """Nothing to prepare: SendGrid keeps no local state."""

    def deliver(
        self, message: Message, recipients: Sequence[Recipient], now: datetime
    ) -> list[Outcome]:
        with self._lock:
            if self._unanswered >= self.retry.down_after:
                raise TransportDown(
                    f"SendGrid did not answer {plural(self._unanswered, 'request')} in a row "
                    f"(last: {self._last_problem})"
                )
        body = request_body(message, recipients)
        state, message_id, error = self._post(body)
        with self._lock:
            if state in (Answer.RETRY, Answer.UNCERTAIN):
                self._unanswered += 1
                self._last_problem = error or state
            else:
                self._unanswered = 0
        return [Outcome(r.email, state, message_id, error) for r in recipients]

    def _post(self, body: dict[str, Any]) -> tuple[Answer, str | None, str | None]:
        from python_http_client.exceptions import HTTPError

        delay, last_error = self.retry.backoff_seconds, "no attempt made"
        for attempt in range(self.retry.retries + 1):
            if attempt:
                self.sleep(delay)
                delay *= 2
            try:
                response = self._client.client.mail.send.post(
                    request_body=body, timeout=self.retry.timeout_seconds
                )
            except HTTPError as error:
                status = int(error.status_code)
                reason = _reason(error.body, error.headers)
                if status in (401, 403):
                    raise DeliveryError(
                        f"SendGrid refused the API key ({status}: {reason}); check "
                        f"{KEY_VARIABLE} and that the key has Mail Send permission"
                    ) from None
                if status == 429:
                    wait = self._rate_limit_wait(error.headers)
                    last_error = f"429 rate limited: {reason}"
                    if wait is None:
                        return Answer.RETRY, None, last_error
                    self.sleep(wait)
                    delay = self.retry.backoff_seconds
                    continue
                if status >= 500:
                    last_error = f"{status}: {reason}"
                    continue
                return Answer.FAILED, None, f"{status}: {reason}"
            except urllib.error.URLError as error:  # not connected: nothing was sent
                last_error = f"no connection to SendGrid: {error.reason}"
                continue
            except (OSError, http.client.HTTPException) as error:
                # The request went out and no answer came back (a timeout, a reset, a TLS
                # failure mid-response): it may have been accepted.
                return Answer.UNCERTAIN, None, f"no answer from SendGrid after sending ({error!r})"
            headers = response.headers
            return Answer.SENT, headers.get("X-Message-Id") if headers else None, None
        return (
            Answer.RETRY,
            None,
            f"{last_error} (after {plural(self.retry.retries + 1, 'try', 'tries')})",
        )

    def _rate_limit_wait(self, headers: Any) -> float | None:
        """Seconds until X-RateLimit-Reset, or None if absent or beyond the longest wait."""
        try:
            reset = float(headers.get("X-RateLimit-Reset"))
        except (TypeError, ValueError, AttributeError):
            return None
        wait = max(0.0, reset - self.real_time())
        return wait if wait <= self.retry.max_wait_seconds else None


# What SendGrid issues: "SG.", an id and a secret in URL-safe base64, printable ASCII only (a
# key with a newline or a non-ASCII character cannot be sent in a header anyway).
_KEY = re.compile(r"SG\.[A-Za-z0-9_-]{1,100}\.[A-Za-z0-9_-]{1,200}")


def check_host(text: str) -> str:
    """CTMAINT_SENDGRID_HOST (default SendGrid's own): an http(s) URL with a host and, if
    any, a numeric port. Raises DeliveryError otherwise (before anything is claimed)."""
    if not text:
        return DEFAULT_HOST
    problem = f"{HOST_VARIABLE} is not an http or https URL with a host, like {DEFAULT_HOST}"
    try:
        parts = urllib.parse.urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise DeliveryError(problem + " (its port is not a number)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise DeliveryError(problem)
    if parts.username or parts.password or not text.isascii() or not text.isprintable():
        raise DeliveryError(problem + " (no credentials, spaces or control characters)")
    return text


def request_body(message: Message, recipients: Sequence[Recipient]) -> dict[str, Any]:
    """The v3 Mail Send payload: the message once, one personalization per recipient."""
    if len(recipients) > MAX_PERSONALIZATIONS:
        raise ValueError(f"at most {MAX_PERSONALIZATIONS} recipients per request")
    sender_name, sender_email = parseaddr(message.sender)
    body: dict[str, Any] = {
        "personalizations": [
            {
                "to": [_address(r.email, r.name)],
                # the spec types message-level custom_args as a string: keep them here
                "custom_args": {"notice_id": message.notice_id},
            }
            for r in recipients
        ],
        "from": _address(sender_email or message.sender, sender_name),
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
        "attachments": [
            {
                "content": base64.b64encode(message.ics).decode("ascii"),
                "type": CALENDAR_TYPE,
                "filename": message.ics_name,
                "disposition": "attachment",
            }
        ],
        "categories": ["ctmaint", *_categories(message.notice_id)],
        "headers": {
            "X-Ctmaint-Notice-Id": message.notice_id,
            "Auto-Submitted": "auto-generated",
        },
    }
    if message.reply_to:
        body["reply_to"] = _address(*reversed(parseaddr(message.reply_to)))
    return body


def _address(email: str, name: str = "") -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}


def _categories(notice_id: str) -> list[str]:
    """The stage and the calendar (``monthly-2026-12-18/start`` -> start, monthly)."""
    window, stage = notice_id.split("/", 1)
    calendar = window.rsplit("-", 3)[0] if window.count("-") >= 3 else window
    return [stage, calendar]


def _reason(body: Any, headers: Any) -> str:
    """SendGrid's own words from an error body ``{"errors": [{"message": ...}]}``; a mock
    (Prism) puts the real reason in its ``sl-violations`` header."""
    try:
        errors = json.loads(body)["errors"]
        reason = "; ".join(str(e.get("message")) for e in errors) or "no reason given"
    except (TypeError, ValueError, KeyError, AttributeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        reason = text.strip()[:200] or "no reason given"
    violations = headers.get("sl-violations") if headers is not None else None
    return f"{reason} ({violations})" if violations else reason
