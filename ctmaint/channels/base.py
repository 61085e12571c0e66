"""Channels: how a rendered message reaches its recipients, behind one small protocol.

A channel takes one message and the recipients of one audience and says, for each
recipient, what happened. It never touches the ledger: the caller records outcomes.
A new channel is one module with a ``make(setup)`` function, and one line in
:data:`CHANNELS`. What is posted once for everyone (the status page's posts) goes through
the sibling protocol :class:`Publisher`: a notice in, the post made out.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from msgspec import Struct

from ctmaint.errors import Input, UsageError
from ctmaint.model.notices import Recipient
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import Answer

if TYPE_CHECKING:  # rendering imports jinja2 and icalendar: not on a cron tick with nothing due
    from ctmaint.channels.message import Message, Post
    from ctmaint.model.notices import Notice


class Outcome(Struct, frozen=True):
    """What the transport answered for one recipient of a batch."""

    recipient: str
    state: Answer
    message_id: str | None = None
    error: str | None = None


class Channel(Protocol):
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


class NotPublished(Exception):
    """A post or an index that could not be written; the message says what and that the
    next run tries again. Nothing else stops: the email goes out regardless."""


class Publisher(Protocol):
    """Where a notice is posted once for everyone rather than sent to each recipient. Like a
    channel, it never touches the ledger: the caller records each post it returns."""

    def publish(self, notice: Notice, note: str, now: datetime) -> Post:
        """Post ``notice`` (with the change's ``note``, if any) at ``now``; NotPublished if
        it cannot be written."""
        ...

    def publish_index(self, posts: Sequence[dict[str, str]], now: datetime) -> None:
        """After a run that posted: the index of every post recorded, newest first;
        NotPublished if it cannot be written."""
        ...


class Setup(Struct, frozen=True):
    """What a channel may need to be made: the policy (its settings for the channel) and
    the outbox folder."""

    policy: Policy
    outbox: Path


# Each channel, by the name the policy and `--transport` use, and the module whose
# ``make(setup) -> Channel`` makes it (imported only when that channel is used).
CHANNELS = {
    "outbox": "ctmaint.channels.outbox",
    "sendgrid": "ctmaint.channels.sendgrid",
}


def make_channel(name: str, setup: Setup) -> Channel:
    """The channel ``name``, its configuration checked; it touches nothing until started."""
    module = CHANNELS.get(name)
    if module is None:
        known = " or ".join(CHANNELS)
        raise UsageError(f"'{name}' is not a transport; use {known}", about=Input.TRANSPORT)
    channel: Channel = importlib.import_module(module).make(setup)
    return channel
