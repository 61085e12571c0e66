"""The pure rules of posting to a subscription: how long a Retry-After asks to wait, and the
delivery id a receiver drops repeats by."""

from __future__ import annotations

import pytest

from ctmaint.channels.webpost import delivery_id_of, retry_after

NOW = 1_900_000_000.0  # 2030-03-17T17:46:40Z


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Sun, 17 Mar 2030 17:47:10 GMT", 30.0),  # an HTTP date, 30 s ahead
        ("Sun, 17 Mar 2030 17:40:00 GMT", 0.0),  # already past: no wait
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # RFC 9110: delay-seconds is digits only
    ],
)
def test_retry_after_reads_seconds_or_a_date(header: str | None, wait: float | None) -> None:
    assert retry_after(header, NOW) == wait


def test_a_delivery_id_is_stable_and_differs_per_notice_and_subscription() -> None:
    one = delivery_id_of("monthly-2030-06-21/start", "webhook:ops.example.org#1a2b3c4d5e6f")
    assert one == delivery_id_of("monthly-2030-06-21/start", "webhook:ops.example.org#1a2b3c4d5e6f")
    assert one.startswith("msg_")
    assert len(one) == 36
    others = {
        delivery_id_of("monthly-2030-06-21/complete", "webhook:ops.example.org#1a2b3c4d5e6f"),
        delivery_id_of("monthly-2030-06-21/start", "webhook:ops.example.org#000000000000"),
    }
    assert one not in others
    assert len(others) == 2
