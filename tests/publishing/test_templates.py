"""Operator text in status posts renders as text in the Markdown renderers site generators
use (markdown-it, the CommonMark reference's Python port, and Python-Markdown)."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
from markdown_it import MarkdownIt

from ctmaint.publishing.templates import line_breaks, markdown_text
from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, MONTHLY, send, write_contacts

Renderer = Callable[[str], str]
RENDERERS: dict[str, Renderer] = {
    "markdown-it": MarkdownIt("commonmark").render,
    "markdown-it-gfm": MarkdownIt("commonmark").enable(["table", "strikethrough"]).render,
    "python-markdown": markdown.markdown,
}
HOSTILE = [
    "see <notes> & “details”",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "Patch *all* the __things__ and `rm -rf`",
    "[click](javascript:alert(1)) ![x](http://x/y.png) <http://evil.example>",
    "&lt;already escaped&gt; &amp; &#42;",
    "line one\n# heading?\n> quote?\n- item?\n+ item?\n1. item?\n2) item?\n===\n---",
    "    indented code?\n```\nfence\n```\n~~~",
    "a | table | row\n--- | --- | ---",
    "trailing backslash \\\nand \\*escaped\\*",
    "~~struck~~ and 5 * 3 = 15",
]


class TextAndTags(HTMLParser):
    """The text a browser would show, and the elements it would build."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def shown(html: str) -> tuple[str, set[str]]:
    parser = TextAndTags()
    parser.feed(html)
    return " ".join("".join(parser.text).split()), parser.tags


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("renderer", RENDERERS.values(), ids=RENDERERS.keys())
@pytest.mark.parametrize("text", HOSTILE)
def test_operator_text_renders_as_itself_inside_a_list_item(renderer: Renderer, text: str) -> None:
    html = renderer(f"- **Work:** {markdown_text(text)}\n- **Why:** x\n")
    visible, tags = shown(html)
    assert words(f"Work: {text} Why: x") == visible, html
    assert tags <= {"ul", "li", "strong", "br"}, html


@pytest.mark.parametrize("renderer", RENDERERS.values(), ids=RENDERERS.keys())
@pytest.mark.parametrize("text", HOSTILE)
def test_operator_text_renders_as_itself_as_a_paragraph(renderer: Renderer, text: str) -> None:
    html = renderer(f"# Title\n\n{markdown_text(text)}\n")
    visible, tags = shown(html)
    assert words(f"Title {text}") == visible, html
    assert tags <= {"h1", "p", "br"}, html


def test_line_breaks_escape_html_and_keep_lines() -> None:
    assert str(line_breaks("a <b>\n& c")) == "a &lt;b&gt;<br>\n&amp; c"


def test_every_post_renders_operator_text_as_text(run_cli: CliRunner, tmp_path: Path) -> None:
    write_contacts(tmp_path, CONTACTS)
    now = "2030-06-03T12:00:00-06:00"
    added = run_cli(
        "--now", now, "add", "--start", "2030-06-05T23:30:00-06:00", "--duration", "2h",
        "--products", "teams", "--summary", "Patch *now* <b>", "--description", HOSTILE[6],
        "--justification", HOSTILE[1],
    )  # fmt: skip
    assert added.code == 0, added.err
    send(run_cli, now)
    send(run_cli, "2030-06-14T09:00:00-06:00")  # the monthly reminder
    cancelled = run_cli("--now", "2030-06-15T10:00:00-06:00", "cancel", MONTHLY,
                        "--reason", HOSTILE[0])  # fmt: skip
    assert cancelled.code == 0, cancelled.err
    send(run_cli, "2030-06-15T10:00:00-06:00")
    posts = sorted((tmp_path / "notices" / "posts").glob("*.md"))
    assert len(posts) == 3
    expected = {
        "announce": ["Patch *now* <b>", HOSTILE[6], HOSTILE[1]],
        "week-before": [],
        "cancel": [HOSTILE[0]],
    }
    for post in posts:
        body = post.read_text().split("---\n", 2)[2]
        for name, render in RENDERERS.items():
            visible, tags = shown(render(body))
            assert tags <= {"h1", "p", "ul", "li", "strong", "br"}, (post.name, name)
            for text in expected[post.stem.rsplit("--", 1)[1]]:
                assert words(text) in visible, (post.name, name, visible)
