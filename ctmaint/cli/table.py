"""Plain-text tables that fit a width: the terminal's, or 100 columns under cron or a pipe.

Columns keep their natural width while the table fits. When it does not, the columns a
table names as flexible give way, in the order named, down to each one's minimum, and their
cells wrap onto more lines, at spaces only: a column never gets narrower than its longest
word, so no id, time or product is split.
Ids, counts and states never wrap. A table whose rows wrap puts a blank line between rows,
so each row reads as one. When even that is too wide (a narrow terminal), each row becomes
a block: its first cell, then one ``HEADER: value`` line per other cell, wrapped to the
width. ``--format json`` is where everything is, whole.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

GAP = "  "


def format_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int = 100,
    flexible: Sequence[tuple[int, int]] = (),
    stepped: frozenset[int] = frozenset(),
) -> str:
    """``rows`` under ``header`` in at most ``width`` columns where the ``flexible``
    columns, ``(index, minimum width)`` in the order they give way, allow it. A ``stepped``
    column (a time: the date above the time) gives all the way to its minimum or nothing."""
    table = [list(header), *(list(row) for row in rows)]
    natural = [max(len(row[i]) for row in table) for i in range(len(header))]
    words = [
        max(len(word) for row in table for word in [*row[i].split(), ""])
        for i in range(len(header))
    ]
    flexible = [(index, max(minimum, words[index])) for index, minimum in flexible]
    widths = _fit(natural, width, flexible, stepped)
    if sum(widths) + len(GAP) * (len(widths) - 1) > width:
        return _blocks(header, rows, width)
    wrapping = {index for index, _ in flexible}
    blocks = [_lines(row, widths, wrapping) for row in table]
    spaced = any(len(block) > 1 for block in blocks[1:])
    out: list[str] = []
    for number, block in enumerate(blocks):
        if spaced and number > 1:
            out.append("")
        out.extend(block)
    return "\n".join(out)


def _fit(
    natural: list[int], width: int, flexible: Sequence[tuple[int, int]], stepped: frozenset[int]
) -> list[int]:
    widths = list(natural)
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    for index, minimum in flexible:
        if excess <= 0:
            break
        spare = max(0, widths[index] - minimum)
        give = spare if index in stepped else min(excess, spare)
        widths[index] -= give
        excess -= give
    return widths


def _lines(row: list[str], widths: list[int], wrapping: set[int]) -> list[str]:
    cells = [
        _wrap(cell, width) if index in wrapping else [cell]
        for index, (cell, width) in enumerate(zip(row, widths, strict=True))
    ]
    height = max(len(cell) for cell in cells)
    return [
        GAP.join(
            (cell[line] if line < len(cell) else "").ljust(width)
            for cell, width in zip(cells, widths, strict=True)
        ).rstrip()
        for line in range(height)
    ]


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _blocks(header: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> str:
    """Each row as its first cell, then ``HEADER: value`` lines, indented and wrapped."""
    label = max(len(name) for name in header[1:]) + 2
    out: list[str] = []
    for row in rows:
        if out:
            out.append("")
        out.append(row[0])
        for name, cell in zip(header[1:], row[1:], strict=True):
            lead = f"  {name + ':':<{label}}"
            out.extend(
                textwrap.wrap(
                    cell,
                    max(width, len(lead) + 24),
                    initial_indent=lead,
                    subsequent_indent=" " * len(lead),
                )
                or [lead.rstrip()]
            )
    return "\n".join(out)
