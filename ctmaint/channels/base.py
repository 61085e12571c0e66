"""Channels: how a notice reaches its recipients, behind one small protocol.

A channel renders a notice for one audience, then takes that message and the recipients of
the audience and says, for each recipient, what happened. It never touches the ledger: the
caller records outcomes. Email goes through the policy's transport (:data:`CHANNELS`);
subscriptions through the channel their row names (:data:`SUBSCRIBED`). A new channel is
one module with a ``make(setup)`` function, and one line in one of those tables. What is
posted once for everyone (the status page's posts) goes through the sibling protocol
:class:`Publisher`: a notice in, the post made out.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import Struct

from ctmaint.errors import Input, UsageError
from ctmaint.model.notices import Audience, Notice, Recipient
from ctmaint.model.policy import Policy
from ctmaint.model.subscriptions import Subscription
from ctmaint.model.vocabulary import EMAIL, Answer

if TYPE_CHECKING:  # rendering imports jinja2 and icalendar: not on a cron tick with nothing due
    from ctmaint.channels.message import Message, Post


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

    def render(
        self, notice: Notice, audience: Audience, policy: Policy, now: datetime, note: str
    ) -> Any:
        """What ``notice`` says to ``audience`` sent at ``now`` in this channel's form (an
        email, a card, a JSON body), ``note`` added. Raises anything if it cannot be
        rendered: the caller fails those deliveries, which would never render later."""
        ...

    def deliver(
        self, message: Any, recipients: Sequence[Recipient], now: datetime
    ) -> list[Outcome]:
        """Deliver ``message`` (what :meth:`render` made) to each of ``recipients`` (one copy
        each, none seeing another).

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
    """What a channel may need to be made: the policy (its settings for the channel), the
    outbox folder, the subscriptions (where each is posted to), and the run's deadline (on
    :func:`ctmaint.clock.monotonic`): no wait of a channel may pass it."""

    policy: Policy
    outbox: Path
    subscriptions: Sequence[Subscription] = ()
    deadline: float = float("inf")


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


# Each channel a subscription can name, and the module that makes it.
SUBSCRIBED = {
    "teams": "ctmaint.channels.teams",
    "slack": "ctmaint.channels.slack",
    "webhook": "ctmaint.channels.webhook",
}


class Channels:
    """The channels of one run: the email transport, and each subscription channel made and
    started when first asked for (a run that posts nothing imports no HTTP client)."""

    def __init__(self, email: Channel, setup: Setup) -> None:
        self.email, self.setup = email, setup
        self._made: dict[str, Channel] = {}

    def __getitem__(self, name: str) -> Channel:
        if name == EMAIL:
            return self.email
        channel = self._made.get(name)
        if channel is None:
            channel = importlib.import_module(SUBSCRIBED[name]).make(self.setup)
            channel.start()
            self._made[name] = channel
        return channel


def render_email(
    notice: Notice, audience: Audience, policy: Policy, now: datetime, note: str
) -> Message:
    """The email channels' :meth:`Channel.render`: the message of ``notice`` for
    ``audience`` (the templates are imported only when a message is rendered)."""
    from ctmaint.channels.message import render_message

    return render_message(notice, audience, policy, now, note)
