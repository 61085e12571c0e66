"""The default transport: one RFC 5322 .eml file per delivery, in a folder.

File names are derived from the notice and the address, and each file is written
atomically, so delivering again after a crash replaces the same file instead of adding
a second one: the outbox is idempotent. Files are written in a staging folder beside the
outbox and renamed in whole, so a run killed mid-write leaves nothing in the outbox.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ctmaint.channels.base import Outcome, Setup, render_email
from ctmaint.errors import DeliveryError, os_reason
from ctmaint.model.notices import Recipient
from ctmaint.model.vocabulary import Answer
from ctmaint.publishing.files import (
    remove_stale_temporaries,
    staging_beside,
    staging_folder,
    write_private,
)

if TYPE_CHECKING:
    from ctmaint.channels.message import Message


def make(setup: Setup) -> OutboxTransport:
    """The outbox channel, writing into the setup's outbox folder."""
    return OutboxTransport(setup.outbox)


class OutboxTransport:
    name = "outbox"
    batch_size = 25
    concurrency = 1  # the disk is the limit: one writer
    render = staticmethod(render_email)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._staging: tuple[Path | None] | None = None  # made on the first message

    def start(self) -> None:
        """With the send lock held: remove what a killed run left half-written (in the
        staging folder, or in the outbox itself from an older ctmaint). Creates nothing."""
        remove_stale_temporaries(self.folder)
        remove_stale_temporaries(staging_folder(self.folder))

    @property
    def staging(self) -> Path | None:
        if self._staging is None:
            self._staging = (staging_beside(self.folder),)
        return self._staging[0]

    def deliver(
        self, message: Message, recipients: Sequence[Recipient], now: datetime
    ) -> list[Outcome]:
        from ctmaint.channels.message import envelope, message_id, personalize

        common = envelope(message, now)
        outcomes = []
        for recipient in recipients:
            try:
                email = personalize(common, message, recipient)
            except (UnicodeError, ValueError) as error:  # an address no header can carry
                unsendable = f"not sendable: {error}"
                outcomes.append(Outcome(recipient.email, Answer.FAILED, None, unsendable))
                continue
            try:
                name = eml_name(message.notice_id, recipient.email)
                write_private(self.folder / name, email, self.staging)
            except OSError as error:  # a full disk, a folder gone read-only: stop the run
                raise DeliveryError(
                    f"cannot write to the outbox {self.folder} ({os_reason(error)}); "
                    "the rest is left for the next run"
                ) from None
            outcomes.append(Outcome(recipient.email, Answer.SENT, message_id(message, recipient)))
        return outcomes


def eml_name(notice_id: str, address: str) -> str:
    """``monthly-2026-12-18--start--dana.reyes_example.com-1a2b3c4d.eml``."""
    safe = re.sub(r"[^A-Za-z0-9.+-]", "_", address)[:64]
    digest = hashlib.sha256(address.encode()).hexdigest()[:8]
    return f"{notice_id.replace('/', '--')}--{safe}-{digest}.eml"
