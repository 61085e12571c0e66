"""The words ctmaint's files, database and commands share, one enum each.

Each member's value is the string stored in the database, written in files and typed on
the command line, so members compare equal to those strings and old databases read as
they always did. Nothing here imports anything of ctmaint's: every layer may use it.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Which notice of a window: timed stages, unscheduled work, and changes."""

    WEEK_BEFORE = "week-before"
    DAY_BEFORE = "day-before"
    START = "start"
    COMPLETE = "complete"
    ANNOUNCE = "announce"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    EXTEND = "extend"
    FOLLOW_UP = "follow-up"


LEAD_STAGES = (Stage.WEEK_BEFORE, Stage.DAY_BEFORE)
TIMED_STAGES = (*LEAD_STAGES, Stage.START, Stage.COMPLETE)
UNSCHEDULED_STAGES = (Stage.ANNOUNCE, Stage.START, Stage.COMPLETE)


class Impact(StrEnum):
    """X-MAINTNOTE-IMPACT of the maintenance-notification BCOP."""

    NO_IMPACT = "NO-IMPACT"
    REDUCED_REDUNDANCY = "REDUCED-REDUNDANCY"
    DEGRADED = "DEGRADED"
    OUTAGE = "OUTAGE"


class WindowStatus(StrEnum):
    """Where a window stands at a moment."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class DeliveryState(StrEnum):
    """One (notice, recipient) row of the ledger.

    pending -> sending (claimed, committed before the transport is called) -> sent | failed
    | pending (retry) | uncertain (no answer after sending). ``expired``: too late to send.
    ``cancelled``: the window was cancelled before this notice reached the recipient.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    UNCERTAIN = "uncertain"
    CANCELLED = "cancelled"


class Answer(StrEnum):
    """What a channel answered for one recipient, and the ledger state it leaves the row in
    (:attr:`recorded`): ``retry`` was not accepted and waits for the next run; ``uncertain``
    went out and got no answer (it may have been accepted)."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    UNCERTAIN = "uncertain"

    @property
    def recorded(self) -> DeliveryState:
        return DeliveryState.PENDING if self is Answer.RETRY else DeliveryState(self.value)


# The channel of a delivery: EMAIL (through the policy's transport) or one of a subscription's.
EMAIL = "email"
SUBSCRIPTION_CHANNELS = ("teams", "slack", "webhook")

# Rows that may still be delivered: a run will (re)send them.
WAITING = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.UNCERTAIN)


class ChangeKind(StrEnum):
    """An operator change, as stored in the change log."""

    ADD = "add"
    EDIT = "edit"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    EXTEND = "extend"
    COMPLETE = "complete"
    FOLLOW_UP = "follow-up"
