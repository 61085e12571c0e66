"""What text from a file or an operator may hold, and how it is made safe for a header.

Text from policy files, contacts.csv and the command line reaches email headers, feeds,
calendars and the `history` table. A control character there can add a mail header
(``\\r\\nBcc:``), break a calendar line or garble a table, so validation refuses them,
and renderers flatten what reaches a header anyway (defence in depth).
"""

from __future__ import annotations

# Text that may span lines (descriptions, reasons, notes) may hold these; no other text may.
_MULTILINE = frozenset("\n\t")
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


# Bidirectional overrides and isolates: they reorder what a terminal or mail client shows
# (the "Trojan Source" trick), so they count as control characters here.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_control(character: str) -> bool:
    """Control characters, Unicode line or paragraph separators, and bidi controls."""
    import unicodedata  # its tables are loaded only when some text is not plain printable

    return unicodedata.category(character) in ("Cc", "Zl", "Zp") or character in _BIDI_CONTROLS


def bad_character(text: str, *, multiline: bool = False) -> str | None:
    """A sentence fragment naming the first character ``text`` may not hold, or None."""
    if text.isprintable():  # the common case, checked in C: nothing to look at one by one
        return None
    allowed = _MULTILINE if multiline else frozenset()
    for character in text:
        if character not in allowed and is_control(character):
            kind = "line break" if character in _LINE_BREAKS else "control character"
            return f"contains a {kind} ({character!r})"
    return None


def one_line(text: str) -> str:
    """``text`` with every control character and line break turned into a space, for a
    header: whatever validation let through, it can add no header line."""
    return "".join(" " if is_control(c) else c for c in text)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 window``, ``2 windows``: the count with its noun, singular or plural."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"
