"""The jinja2 templates, and how text from files and operators is escaped in each format.

HTML templates (``*.html.j2``) autoescape. Markdown templates (``*.md.j2``) escape every
value too: Markdown renderers (markdown-it, Python-Markdown, marked) pass raw HTML through
and read ``*``, ``#``, ``[`` and friends as markup, so a description with ``<script>``
or ``<notes>`` would be run or lost. A value the template must write as is (front matter
already quoted) is passed as :class:`markupsafe.Markup`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jinja2
from markupsafe import Markup, escape

# Inline markup, wherever it stands: numeric references, which CommonMark, Python-Markdown
# and marked all turn back into the character without reading it as syntax.
_INLINE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;"} | {c: f"&#{ord(c)};" for c in "\\`*_[]|~#="}
)
# Block markup that only counts at the start of a line: a list item (``-``, ``+``, ``1.``,
# ``1)``); ``#``, ``>``, ``=`` and fences are already escaped wherever they stand.
_LINE_START = re.compile(r"^(?:([-+])|(\d+)([.)]))")


def markdown_text(text: str, indent: str = "  ") -> str:
    """``text`` as Markdown that renders back to exactly ``text``.

    Line breaks become hard breaks (two spaces) and continuation lines are indented by
    ``indent``, so a multi-line value stays inside the list item it was written in.
    Leading blanks are dropped: four of them would start a code block.
    """
    lines = [
        _LINE_START.sub(_escape_line_start, line.lstrip().translate(_INLINE))
        for line in text.splitlines()
    ]
    return f"  \n{indent}".join(lines)


def _escape_line_start(match: re.Match[str]) -> str:
    if match[1]:
        return f"&#{ord(match[1])};"
    return f"{match[2]}&#{ord(match[3])};"


def line_breaks(text: str, newline: bool = True) -> Markup:
    """HTML: ``text`` escaped, its line breaks kept as ``<br>``, each followed by a newline
    unless ``newline`` is false. Feed bodies pass false: rss-parser (npm, its issue 281)
    takes the text after ``<br>`` and a newline for part of the tag and drops it.
    """
    separator = Markup("<br>\n" if newline else "<br>")
    return separator.join(escape(line) for line in text.splitlines())


def _finalize_markdown(value: Any) -> Any:
    return value if isinstance(value, Markup) else markdown_text(str(value))


def template(name: str) -> jinja2.Template:
    """The template ``name``: HTML-escaping for ``*.html.j2``, Markdown-escaping for
    ``*.md.j2``, verbatim for ``*.txt.j2`` (plain text)."""
    return _environment(name.rsplit(".", 2)[-2]).get_template(name)


@functools.cache
def _environment(kind: str) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ctmaint", "templates"),
        autoescape=kind == "html",
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        finalize=_finalize_markdown if kind == "md" else None,
    )
    environment.filters["line_breaks"] = line_breaks
    return environment
