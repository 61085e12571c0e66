"""Standard Webhooks signatures: what a signed webhook request carries so that its receiver
can check who sent it and when, and drop a repeat (https://www.standardwebhooks.com).

``webhook-id`` names one delivery and stays the same on every retry of it; the signature is
``v1,`` and the base64 HMAC-SHA256, keyed by the secret's bytes, of ``id.timestamp.body``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

SECRET_PREFIX = "whsec_"


def signed_headers(secret: str, delivery_id: str, sent_at: datetime, body: bytes) -> dict[str, str]:
    """The three headers of a request carrying ``body``, sent at ``sent_at`` as delivery
    ``delivery_id`` and signed with ``secret`` (``whsec_<base64>``, checked when read)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    timestamp = str(int(sent_at.timestamp()))
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }
