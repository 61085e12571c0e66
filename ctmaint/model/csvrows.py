"""Reading a CSV file of ours (contacts.csv, subscriptions.csv) one row per line, so that one
stray quote never swallows the rows below it, and the small helpers their cells share."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator
from typing import NamedTuple, TypeVar

from msgspec import Struct

from ctmaint.errors import InvalidInputError, Problem
from ctmaint.model.text import bad_character
from ctmaint.model.times import parse_zone

ALL_PRODUCTS = "*"  # in a products column: every product
T = TypeVar("T")


class CsvFile(Struct, frozen=True):
    """What one of our CSV files must be: its header, the columns no row may leave empty,
    the error that refuses the whole file, and whether a line starting with ``#`` is a
    comment (read as a blank line, so every line keeps its number)."""

    columns: tuple[str, ...]
    required: tuple[str, ...]
    error: type[InvalidInputError]
    comments: bool = False


def read_rows(
    text: str,
    source: str,
    spec: CsvFile,
    check: Callable[[dict[str, str]], list[str]],
    make: Callable[[dict[str, str], int], T],
) -> tuple[list[T], list[Problem]]:
    """The good rows of ``text`` made into values, and a problem for each bad one.

    A wrong header refuses the file (``spec.error``). Each row is read as a line of its own
    (see :func:`csv_rows`); blank lines are skipped; a row with the wrong number of fields,
    an empty required column or a character no cell may hold is a problem; otherwise
    ``check`` (the cells, stripped) says what else is wrong, and a row with nothing wrong
    is made into a value by ``make`` (the cells and the row's first line).
    """
    lines = io.StringIO(text.removeprefix("\ufeff"), newline="").readlines()
    if spec.comments:
        lines = ["\n" if line.lstrip().startswith("#") else line for line in lines]
    rows = csv_rows(lines)
    header = next(rows, None)
    while spec.comments and header is not None and not any(header.cells):
        header = next(rows, None)  # blank lines and comments above the header
    if header is None or tuple(c.strip().lower() for c in header.cells) != spec.columns:
        exactly = ",".join(spec.columns)
        where = header.where if header is not None else "line 1"
        raise spec.error([Problem(source, where, f"the header must be exactly: {exactly}")])
    made: list[T] = []
    problems: list[Problem] = []
    for row in rows:
        if row.unreadable:
            problems.append(Problem(source, row.where, f"cannot be read: {row.unreadable}"))
        elif any(cell.strip() for cell in row.cells):
            said = _row_problems(row, spec, check)
            problems += [Problem(source, row.where, text) for text in said]
            if not said:
                made.append(make(_cells(row, spec), row.first))
    return made, problems


def _cells(row: Row, spec: CsvFile) -> dict[str, str]:
    return dict(zip(spec.columns, (cell.strip() for cell in row.cells), strict=True))


def _row_problems(
    row: Row, spec: CsvFile, check: Callable[[dict[str, str]], list[str]]
) -> list[str]:
    """What is wrong with one readable row: first its shape, then what is missing or
    unprintable, then (if none of those) what ``check`` finds."""
    if len(row.cells) != len(spec.columns):
        return [f"has {len(row.cells)} fields; expected {len(spec.columns)}"]
    cells = _cells(row, spec)
    return unwritten(cells, spec.required) or check(cells)


class Row(NamedTuple):
    """One CSV row: its first and last physical line (1-based), and its cells or, when it
    cannot be read, why."""

    first: int
    last: int
    cells: list[str]
    unreadable: str = ""

    @property
    def where(self) -> str:
        return (
            f"line {self.first}" if self.first == self.last else f"lines {self.first}-{self.last}"
        )


def csv_rows(lines: list[str]) -> Iterator[Row]:
    """The rows of ``lines`` (each with its line ending), read as strict CSV.

    No field may hold a line break, so a row never spans lines: a quote that does not close
    on its own line makes that line an unreadable row, and reading starts again at the line
    after it (a second stray quote further down cannot pair with it and swallow the good
    rows between).
    """
    start = 0
    while start < len(lines):
        reader = csv.reader(map(lines.__getitem__, range(start, len(lines))), strict=True)
        first = start  # the index of the line the next row begins on
        try:
            for cells in reader:
                last = start + reader.line_num - 1
                if last > first:
                    break  # a quote that swallowed the lines below it
                yield Row(first + 1, last + 1, cells)
                first = last + 1
            else:
                return
        except csv.Error as error:
            if start + reader.line_num - 1 == first:  # a row of one line
                yield Row(first + 1, first + 1, [], _why(str(error)))
                start = first + 1
                continue
        yield Row(first + 1, first + 1, [], _why("unexpected end of data"))
        start = first + 1


_QUOTING = 'put the whole field in quotes and write each " inside it as ""'


def _why(error: str) -> str:
    """The csv module's complaint about a row, as the operator would fix it."""
    if error == "unexpected end of data":
        return 'a quote (") opens a field and does not close on this line; close it there'

    if error.startswith("',' expected after"):
        return 'text follows the quote (") that closes a field; ' + _QUOTING
    if error.startswith("field larger than field limit"):
        return f"a field is longer than {csv.field_size_limit()} characters"
    return error


def fix_for(problem: str) -> str:
    return "write it on one line" if "line break" in problem else "remove it"


@functools.lru_cache(maxsize=1024)  # a few role and product lists repeat on every row
def split_list(cell: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in cell.split(";") if part.strip())


def unwritten(row: dict[str, str], required: tuple[str, ...]) -> list[str]:
    """The ``required`` columns of ``row`` left empty, and the characters no column may
    hold (a line break, a control character)."""
    found = [f"column {column} is empty; fill it in" for column in required if not row[column]]
    found += [
        f"column {column} {problem}; {fix_for(problem)}"
        for column, value in row.items()
        if (problem := bad_character(value)) is not None
    ]
    return found


def unknown_products(products: frozenset[str], product_ids: frozenset[str] | None) -> list[str]:
    """A problem for each of ``products`` that is neither ``*`` nor a known id (none when the
    ids are not known: the policy is broken)."""
    known = ", ".join(sorted(product_ids or ()))
    return [
        f"product '{product}' is unknown; use '*' or one of {known}"
        for product in sorted(products - (product_ids or products) - {ALL_PRODUCTS})
    ]


def zone_problems(text: str) -> list[str]:
    """Why ``text`` (empty: no zone) is not an IANA time zone, if it is not."""
    if not text:
        return []
    try:
        parse_zone(text)
    except ValueError as error:
        return [str(error)]
    return []
