"""What the public outputs of a window say about its changes: why it was cancelled, when it
was planned before a move or an extension.

The text is the paragraph the change's notice carried (see
:class:`ctmaint.model.windows.ChangeNote`), headed by what happened, so feed entries, calendar
descriptions, the status page and the Statuspage JSON tell subscribers the same as the
customers who were emailed. Plain text: each renderer escapes it as it escapes all operator
text.
"""

from __future__ import annotations

from ctmaint.model.vocabulary import ChangeKind
from ctmaint.model.windows import ChangeNote, Window

HEADINGS = {
    ChangeKind.CANCEL: "Cancelled",
    ChangeKind.RESCHEDULE: "Rescheduled",
    ChangeKind.EXTEND: "Extended",
}


def note_text(note: ChangeNote) -> str:
    """``Cancelled. Reason: ...``; a multi-line reason keeps its line breaks."""
    heading = HEADINGS.get(note.kind, str(note.kind).capitalize())
    return f"{heading}. {note.text}"


def change_notes(window: Window) -> list[str]:
    """The text of every change note of ``window``, oldest first."""
    return [note_text(note) for note in window.notes]
