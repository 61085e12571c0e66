"""The one family of errors ctmaint raises for things a user can fix.

Every message is one sentence that says what is wrong, where, and what would be right.
The CLI catches :class:`CtmaintError` in one place, prints the message and exits with
:attr:`CtmaintError.exit_code`; anything else is a bug and may show a traceback.
"""

from __future__ import annotations

from enum import StrEnum

from msgspec import Struct


class Input(StrEnum):
    """An input a use case is given, as an error names what it is about. The CLI, which
    alone knows its option names, maps each to the option that gives it."""

    AT = "at"
    AUTHOR = "author"
    CALENDARS = "calendars"
    DAYS = "days"
    DESCRIPTION = "description"
    DURATION = "duration"
    END = "end"
    ENDED = "ended"
    FORCE = "force"
    JUSTIFICATION = "justification"
    NOTES = "notes"
    PRODUCTS = "products"
    REASON = "reason"
    START = "start"
    STATE = "state"
    SUMMARY = "summary"
    TO = "to"
    TRANSPORT = "transport"
    UNTIL = "until"
    URGENT = "urgent"


class CtmaintError(Exception):
    """Base class: a problem the user can fix. ``exit_code`` is what the CLI returns;
    ``about`` is the input the message is about, if it is about one."""

    exit_code = 1

    def __init__(self, message: str, *, about: Input | None = None) -> None:
        super().__init__(message)
        self.about = about


class UsageError(CtmaintError):
    """A command-line argument is malformed (a time, a duration, a list)."""

    exit_code = 2


class Problem(Struct, frozen=True):
    """One validation finding: the file, the key or line in it, and the sentence to print."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        location = f"{self.file}: {_shown(self.where)}" if self.where else self.file
        return f"{location}: {self.message}"


def _shown(text: str) -> str:
    """A key or path as printed: quoted with escapes if it holds a control character (a
    TOML key with a line break must not break the line it is reported on)."""
    return repr(text) if any(not c.isprintable() for c in text) else text


class InvalidInputError(CtmaintError):
    """A file failed validation; ``problems`` lists every finding, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = str(problems[0])
        more = len(problems) - 1
        suffix = f" (and {more} more; run `ctmaint check` to see all)" if more else ""
        super().__init__(first + suffix)


class PolicyError(InvalidInputError):
    """The policy file is invalid."""


class ContactsError(InvalidInputError):
    """contacts.csv is invalid."""


class SubscriptionsError(InvalidInputError):
    """subscriptions.csv is invalid, or others can read it."""


class ScheduleError(CtmaintError):
    """An operator change does not fit the schedule (unknown id, end before start...)."""


class StateError(CtmaintError):
    """The state database cannot be opened or is newer than this ctmaint."""


class StateBusy(StateError):
    """Another session held the state's write lock past the wait bound: nothing changed."""


class ConnectionLost(StateError):
    """The connection to a shared state went mid-command: what was committed is kept."""


class PublishError(CtmaintError):
    """Files cannot be written (a full disk, a folder without write permission)."""


def os_reason(error: OSError) -> str:
    """``No space left on device``: the OS's words, without a traceback's paths."""
    return error.strerror or type(error).__name__


class DeliveryError(CtmaintError):
    """A transport cannot deliver at all (bad credentials, no key): stops the run."""


class TransportDown(CtmaintError):
    """The provider stopped answering: this run delivers nothing more, the rest stays
    pending for the next run. Not the user's fault, and nothing is lost: exit 0."""

    exit_code = 0
