"""Transports: how a rendered message reaches its recipients.

A transport takes one message and the recipients of one audience and says, for each
recipient, what happened. It never touches the ledger: the caller records outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from msgspec import Struct

from ctmaint.model.notices import Recipient
from ctmaint.model.vocabulary import Answer

if TYPE_CHECKING:  # rendering imports jinja2 and icalendar: not on a cron tick with nothing due
    from ctmaint.channels.message import Message


class Outcome(Struct, frozen=True):
    """What the transport answered for one recipient of a batch."""

    recipient: str
    state: Answer
    message_id: str | None = None
    error: str | None = None


class Transport(Protocol):
    name: str
    batch_size: int  # recipients per deliver() call
    concurrency: int  # deliver() calls at once (a killed run leaves at most these in flight)

    def start(self) -> None:
        """Called once the send lock is held, before the first delivery."""
        ...

    def deliver(
        self, message: Message, recipients: Sequence[Recipient], now: datetime
    ) -> list[Outcome]:
        """Deliver ``message`` to each of ``recipients`` (one copy each, none seeing another).

        Raises DeliveryError when the transport cannot work at all (bad credentials):
        the caller stops the run and leaves every delivery pending. With ``concurrency``
        above one, it is called from several threads at once.
        """
        ...
