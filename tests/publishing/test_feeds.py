"""RSS and Atom as feedparser, a consumer we did not write, reads them."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import feedparser

from ctmaint.model.windows import windows_between
from ctmaint.publishing.feeds import entry_id
from tests.conftest import Built, CliRunner


def parsed(built: Built, name: str) -> feedparser.FeedParserDict:
    feed = feedparser.parse((built.calendars / name).read_bytes())
    assert not feed.bozo, (name, feed.get("bozo_exception"))
    return feed


def test_every_feed_parses_without_errors(built: Built) -> None:
    names = sorted(p.name for p in built.calendars.iterdir() if p.suffix in (".rss", ".atom"))
    assert len(names) == 16
    for name in names:
        assert parsed(built, name).entries, name


def test_rss_and_atom_agree_on_ids_titles_and_dates(built: Built) -> None:
    rss, atom = parsed(built, "all.rss"), parsed(built, "all.atom")
    assert rss.version == "rss20"
    assert atom.version == "atom10"
    assert [e.id for e in rss.entries] == [e.id for e in atom.entries]
    assert [e.title for e in rss.entries] == [e.title for e in atom.entries]
    assert [e.published_parsed for e in rss.entries] == [e.updated_parsed for e in atom.entries]
    assert len({e.id for e in rss.entries}) == len(rss.entries)


def test_entries_are_newest_change_first(built: Built) -> None:
    dates = [calendar.timegm(e.updated_parsed) for e in parsed(built, "all.atom").entries]
    assert dates == sorted(dates, reverse=True)


def test_an_entry_states_the_window_in_mt_and_the_four_details(
    built: Built, shipped: object
) -> None:
    entries = {e.title: e for e in parsed(built, "all.rss").entries}
    title = "Monthly scheduled maintenance: Fri 2027-03-19 22:00 to Sat 2027-03-20 04:00 MDT"
    entry = entries[title]
    assert entry.link == "https://status.calltower.com"
    for text in (
        "Status: scheduled",
        "When: Fri 2027-03-19 22:00 MDT to Sat 2027-03-20 04:00 MDT (MT)",
        "Sat 2027-03-20 04:00 UTC to Sat 2027-03-20 10:00 UTC",
        "Products affected: Microsoft Teams Voice",
        "Work: System patching",
        "Why: Proactive, routine maintenance",
    ):
        assert text in entry.description
    assert entry.tags[0].term == "monthly"


def test_ids_are_stable_urns_derived_from_the_uid(built: Built, shipped: object) -> None:
    from ctmaint.model.policy import Policy

    assert isinstance(shipped, Policy)
    windows = windows_between(
        shipped, datetime(2027, 3, 19, tzinfo=UTC), datetime(2027, 3, 21, tzinfo=UTC)
    )
    monthly = next(w for w in windows if w.calendar == "monthly")
    ids = {e.id for e in parsed(built, "all.atom").entries}
    assert entry_id(monthly, shipped) in ids
    assert entry_id(monthly, shipped).startswith("urn:uuid:")


def test_product_feeds_hold_only_their_windows(built: Built) -> None:
    titles = [e.title for e in parsed(built, "teams.rss").entries]
    assert titles
    assert all(t.startswith("Monthly scheduled maintenance") for t in titles)
    connect = {e.title.split(":")[0] for e in parsed(built, "connect.atom").entries}
    assert connect == {"Monthly scheduled maintenance", "CallTower Connect update"}


def test_feed_metadata(built: Built) -> None:
    feed = parsed(built, "all.atom").feed
    assert feed.title == "CallTower maintenance"
    assert any(
        link.rel == "self" and link.href.endswith("/calendars/all.atom") for link in feed.links
    )
    assert feed.id.startswith("urn:uuid:")


def test_each_feed_names_itself_as_self(built: Built) -> None:
    """The W3C validator and rss-parser check that rel="self" is the file's own URL."""
    for path in sorted(built.calendars.iterdir()):
        if path.suffix not in (".rss", ".atom"):
            continue
        links = parsed(built, path.name).feed.links
        (self_link,) = [link.href for link in links if link.rel == "self"]
        assert self_link == f"https://status.calltower.com/calendars/{path.name}"


def test_operator_text_shows_as_text_with_its_line_breaks(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    """Readers render an RSS description (and Atom type="html") as HTML: the body is
    escaped HTML, so markup an operator typed shows as typed and lines stay lines."""
    hostile = "Swap <b>core</b> & <script>alert(1)</script>\nthen reboot"
    now = ("--now", "2030-06-03T12:00:00-06:00")
    added = run_cli(
        *now, "add", "--start", "2030-06-05T23:30:00-06:00", "--duration", "2h",
        "--products", "teams", "--summary", "Core <swap>", "--description", hostile,
        "--justification", "Because & why",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert run_cli(*now, "build").code == 0
    for name in ("teams.rss", "teams.atom"):
        feed = feedparser.parse((tmp_path / "calendars" / name).read_bytes())
        assert not feed.bozo
        entry = next(e for e in feed.entries if e.title.startswith("Core <swap>"))
        assert entry.summary_detail.type == "text/html"
        shown = html_text(entry.summary)
        assert "Work: Swap <b>core</b> & <script>alert(1)</script>\nthen reboot" in shown
        assert "Why: Because & why" in shown
        assert "<script" not in entry.summary
        assert "<b>" not in entry.summary


def html_text(markup: str) -> str:
    """The text a browser shows for ``markup``, with <br> as a line break."""
    parser = _Text()
    parser.feed(markup)
    return "".join(parser.parts)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data.strip("\n"))
