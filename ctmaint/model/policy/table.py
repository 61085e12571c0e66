"""The toolkit each section of the policy is read with: one TOML table at a time, required
and optional keys told apart, every problem recorded under its key path instead of stopping.

A *kind* is either a type (``str``, ``int``, ``bool``, ``list``), which the value must be, or a
parser of text (``parse_duration``, :func:`one_of`), which receives the string written and
refuses it with a ValueError whose message becomes the problem. Strings are refused with a
control character in them (a line break too, except in a description or justification).
"""

from __future__ import annotations

import re
from collections.abc import Callable, ItemsView, Iterator, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from ctmaint.errors import Problem
from ctmaint.model.text import bad_character
from ctmaint.model.times import parse_duration

T = TypeVar("T")
S = TypeVar("S", bound=str)
Kind = type[T] | Callable[[str], T]

ID = re.compile(r"[a-z0-9][a-z0-9-]*")  # matched with fullmatch: no trailing newline
ID_RULE = "ids use lowercase letters, digits and '-', starting with a letter or digit"
_MULTILINE_KEYS = frozenset({"description", "justification"})
_KIND_NAMES = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class Table:
    """One table of the policy file, named by its key path (``calendars.monthly``).

    The problems go to one list shared by every table of the file, in reading order, so that
    all of them are reported at once. A refused value is reported, then stands as missing
    (``required`` answers None) or as its default (``optional``), so that reading goes on; a
    file with any problem is refused as a whole, whatever its sections returned.
    """

    __slots__ = ("_data", "key", "path", "problems", "source")

    def __init__(
        self, data: Mapping[str, Any], source: str, problems: list[Problem], path: str, key: str
    ) -> None:
        self._data = data
        self.source = source
        self.problems = problems
        self.path = path
        self.key = key  # this table's own key in its parent ("" for the file's top table)

    @classmethod
    def document(cls, data: Mapping[str, Any], source: str) -> Table:
        """The file's top table; ``source`` names the file in every problem."""
        return cls(data, source, [], "", "")

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> ItemsView[str, Any]:
        """The raw keys and values, for a table whose keys are the user's own (``[products]``)."""
        return self._data.items()

    def get(self, key: str, default: object) -> object:
        """The raw value at ``key``, for a section that checks its values itself."""
        return self._data.get(key, default)

    # -- problems ---------------------------------------------------------------------------

    def _path_of(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def report(self, key: str, message: str) -> None:
        """Record a problem with the value at ``key`` of this table."""
        self.problems.append(Problem(self.source, self._path_of(key), message))

    def report_table(self, message: str) -> None:
        """Record a problem with this table as a whole."""
        self.problems.append(Problem(self.source, self.path, message))

    def known(self, allowed: tuple[str, ...]) -> None:
        """Report each key that is not ``allowed``, with the closest allowed one as a hint."""
        for key in self._data:
            if key not in allowed:
                import difflib  # only for a misspelt key

                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                self.report(key, f"unknown key; {hint}")

    # -- tables -----------------------------------------------------------------------------

    def table(self, key: str) -> Table:
        """The table at ``key``: empty when absent, and empty after a problem when ``key``
        holds something else, so that its own keys are then reported missing."""
        value = self._data.get(key, {})
        if not isinstance(value, dict):
            self.report(key, "must be a table")
            value = {}
        return Table(value, self.source, self.problems, self._path_of(key), key)

    def tables(self) -> Iterator[Table]:
        """Each value of this table that is a table, in file order; any other value is
        reported as it is reached, and skipped."""
        for key, value in self._data.items():
            if isinstance(value, dict):
                yield Table(value, self.source, self.problems, self._path_of(key), key)
            else:
                self.report(key, "must be a table")

    # -- values -----------------------------------------------------------------------------

    def required(self, key: str, kind: Kind[T]) -> T | None:
        """The value at ``key`` read as ``kind``, or None when it is missing or refused
        (either is reported)."""
        if key not in self._data:
            self.report(key, f"is missing; add {key} = ...")
            return None
        return self._read(key, kind)

    def optional(self, key: str, kind: Kind[T], default: T) -> T:
        """The value at ``key`` read as ``kind``, or ``default`` when it is absent or refused
        (a refusal is reported)."""
        if key not in self._data:
            return default
        value = self._read(key, kind)
        return default if value is None else value

    def parsed(self, key: str, text: str, parse: Callable[[str], T]) -> T | None:
        """``parse(text)`` for a string found at ``key`` (an item of its list), or None
        when the parser refuses it (reported)."""
        try:
            return parse(text)
        except ValueError as error:
            self.report(key, str(error))
            return None

    def strings(self, key: str) -> tuple[str, ...] | None:
        """The list of strings at ``key``, or None when it is missing or refused."""
        items = self.required(key, list)
        if items is None:
            return None
        if not all(isinstance(item, str) and bad_character(item) is None for item in items):
            self.report(key, "must be a list of strings without control characters")
            return None
        return tuple(items)

    def optional_strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """The list of strings at ``key``, or ``default`` when it is absent or refused."""
        if key not in self._data:
            return default
        items = self.strings(key)
        return default if items is None else items

    def _read(self, key: str, kind: Kind[T]) -> T | None:
        if isinstance(kind, type):
            return self._checked(key, kind)
        text = self._checked(key, str)
        return None if text is None else self.parsed(key, text, kind)

    def _checked(self, key: str, kind: type[T]) -> T | None:
        value = self._data[key]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            self.report(key, f"must be {_KIND_NAMES.get(kind, kind.__name__)}, not {value!r}")
            return None
        if isinstance(value, str):
            problem = bad_character(value, multiline=key in _MULTILINE_KEYS)
            if problem is not None:
                self.report(key, f"{problem}; write it without control characters")
                return None
        return value


def one_of(allowed: tuple[S, ...]) -> Callable[[str], S]:
    """A parser that accepts only a member of ``allowed`` and answers that member."""

    def member(text: str) -> S:
        for item in allowed:
            if item == text:
                return item
        raise ValueError(f"'{text}' is not one of {', '.join(allowed)}")

    return member


def positive_duration(example: str) -> Callable[[str], timedelta]:
    """A parser of a duration longer than zero; ``example`` shows one in the refusal."""

    def duration(text: str) -> timedelta:
        span = parse_duration(text)
        if span <= timedelta(0):
            raise ValueError(f"must be longer than 0, like {example}")
        return span

    return duration
