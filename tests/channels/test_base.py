"""The channel registries: every channel the policy and `--transport` accept, and every one a
subscription can name, is one module that makes it; a name nobody registered is refused in
one sentence."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from ctmaint.channels.base import CHANNELS, SUBSCRIBED, Channel, Channels, Setup, make_channel
from ctmaint.cli.send import TransportName
from ctmaint.errors import Input, UsageError
from ctmaint.model.policy import TRANSPORTS, Policy
from ctmaint.model.vocabulary import EMAIL, SUBSCRIPTION_CHANNELS


def test_every_channel_the_policy_and_the_cli_accept_is_registered() -> None:
    assert tuple(CHANNELS) == TRANSPORTS
    assert [name.value for name in TransportName] == list(CHANNELS)
    for module in CHANNELS.values():
        assert callable(importlib.import_module(module).make)


def test_the_outbox_channel_is_made_from_its_setup(shipped: Policy, tmp_path: Path) -> None:
    channel: Channel = make_channel("outbox", Setup(shipped, tmp_path / "outbox"))
    assert channel.name == "outbox"
    assert not (tmp_path / "outbox").exists()  # nothing is touched until the run starts


def test_an_unknown_channel_is_refused(shipped: Policy, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        make_channel("pigeon", Setup(shipped, tmp_path))
    assert str(caught.value) == "'pigeon' is not a transport; use outbox or sendgrid"
    assert caught.value.about is Input.TRANSPORT


def test_every_channel_a_subscription_can_name_is_registered_and_made_on_first_use(
    shipped: Policy, tmp_path: Path
) -> None:
    assert tuple(SUBSCRIBED) == SUBSCRIPTION_CHANNELS
    email = make_channel("outbox", Setup(shipped, tmp_path / "outbox"))
    channels = Channels(email, Setup(shipped, tmp_path / "outbox"))
    assert channels[EMAIL] is email
    for name in SUBSCRIPTION_CHANNELS:
        made = channels[name]
        assert made.name == name
        assert channels[name] is made  # one per run
