"""Every signed request verifies with the Standard Webhooks reference library, and a body,
an id or a timestamp changed after signing does not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ctmaint.channels.signing import signed_headers

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
BODY = json.dumps({"meta": {"unsubscribe": "", "documentation": ""}, "page": {"id": "x"}}).encode()


def library() -> Any:
    """The reference library's module (installed with the dev extras)."""
    return pytest.importorskip("standardwebhooks.webhooks")


def verifier() -> Any:
    return library().Webhook(SECRET)


def test_a_signed_request_verifies_with_the_reference_library() -> None:
    now = datetime.now(UTC)  # the library refuses timestamps more than five minutes off
    headers = signed_headers(SECRET, "monthly-2030-06-21/week-before/acme", now, BODY)
    assert verifier().verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-id"] == "monthly-2030-06-21/week-before/acme"


@pytest.mark.parametrize("change", ["body", "id", "timestamp", "secret"])
def test_anything_changed_after_signing_fails(change: str) -> None:
    now = datetime.now(UTC)
    headers = signed_headers(SECRET, "d-1", now, BODY)
    body = BODY
    if change == "body":
        body = BODY.replace(b'"x"', b'"y"')
    elif change == "id":
        headers["webhook-id"] = "d-2"
    elif change == "timestamp":
        headers["webhook-timestamp"] = str(int(now.timestamp()) - 1)
    else:
        other = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
        headers = signed_headers(other, "d-1", now, BODY)
    with pytest.raises(library().WebhookVerificationError, match=r"(?i)signature"):
        verifier().verify(body, headers)


def test_the_id_is_the_same_on_every_retry() -> None:
    first = signed_headers(SECRET, "d-1", datetime(2030, 6, 14, 15, tzinfo=UTC), BODY)
    again = signed_headers(SECRET, "d-1", datetime(2030, 6, 14, 15, 5, tzinfo=UTC), BODY)
    assert first["webhook-id"] == again["webhook-id"]
    assert first["webhook-signature"] != again["webhook-signature"]
