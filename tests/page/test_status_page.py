"""The status page of issue 12 (`ctmaint build` renders notices/index.html and one page per
window), served from 127.0.0.1 and read in headless Chromium, with JavaScript on and off.

Every expectation comes from the CLI itself: `ctmaint upcoming --format json` for the windows,
their times and products, `notices/index.json` for the status posts.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from icalendar import Calendar

from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import WindowStatus
from tests.conftest import CliRunner
from tests.page.conftest import (
    NEEDS_BROWSER,
    Chromium,
    Served,
    build,
    cli_ok,
    upcoming,
    write_contacts,
)

pytestmark = NEEDS_BROWSER

Serve = Callable[[Path], Served]

PRODUCTS = ["teams", "skype", "cisco", "webex", "sip", "contact-center", "connect"]
CALENDAR_URL = "status.calltower.com/calendars"  # the shipped policy's calendar_url, sans scheme
SITE = "status.calltower.com"  # provider.status_page: where notices/ is published; links may go
RUNNING_NOW = "2026-12-19T06:00:00Z"  # Fri 2026-12-18 23:00 MST: inside the monthly window
RUNNING = "monthly-2026-12-18"  # Fri 22:00 MST to Sat 04:00 MST (05:00Z to 11:00Z)
QUIET_NOW = "2027-02-03T18:00:00Z"  # Wed 11:00 MST: nothing runs
PHONE = {"width": 390, "height": 844}
RECENT_DAYS = 30
PUBLISHED_DAYS = 365  # publish.days_ahead of the shipped policy


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def publish(run_cli: CliRunner, serve: Serve, tmp_path: Path, now: str) -> Served:
    """Build at NOW and serve notices/, the status site's root."""
    build(run_cli, now)
    index = tmp_path / "notices" / "index.html"
    assert index.is_file(), (
        f"`ctmaint --now {now} build` wrote no notices/index.html (issue 12: the status page); "
        f"notices/ holds {sorted(p.name for p in (tmp_path / 'notices').iterdir())}"
    )
    return serve(tmp_path / "notices")


def console_errors(facts: dict[str, Any]) -> list[str]:
    """The console errors of a page, less the 404 of the favicon Chromium asks for itself."""
    return [e for e in facts["console_errors"] if not e.endswith("/favicon.ico)")]


def heading_link(window_id: str) -> str:
    """The selector of the link in the heading of a window's article."""
    return f'article[data-window="{window_id}"] :is(h1, h2, h3, h4, h5, h6) a[href]'


def article(facts: dict[str, Any], window_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [a for a in facts["articles"] if a["window"] == window_id]
    assert len(found) == 1, (
        f"expected one article[data-window={window_id!r}] on {facts['url']}, found {len(found)}; "
        f"articles: {[a['window'] for a in facts['articles']]}"
    )
    return found[0]


def section(facts: dict[str, Any], section_id: str) -> list[str] | None:
    """The window ids listed in ``section#SECTION_ID`` of main, or None without one."""
    found = [s for s in facts["sections"] if s["id"] == section_id]
    assert len(found) <= 1, f"{len(found)} section#{section_id} in main on {facts['url']}"
    return found[0]["windows"] if found else None


def on_status_page(policy: Policy, window: dict[str, Any]) -> bool:
    """Whether the policy puts this window on the status page: its calendar's `status_page`
    (`[unscheduled] status_page` for added work), as for the posts and the Statuspage JSON,
    which the page must not disagree with. The shipped weekly skype-cert job is left out."""
    spec = policy.calendars.get(window["calendar"])
    return spec.status_page if spec is not None else policy.unscheduled.status_page


def expected_sections(
    run_cli: CliRunner, policy: Policy, now: str
) -> dict[str, list[dict[str, Any]]]:
    """What each section must list at NOW, from `ctmaint upcoming --format json`: running
    windows, scheduled ones of the published span by start, and those that ended in the
    last 30 days."""
    at = instant(now)
    month_ago = at - timedelta(days=RECENT_DAYS)
    ahead = [w for w in upcoming(run_cli, now, PUBLISHED_DAYS) if on_status_page(policy, w)]
    behind = upcoming(run_cli, month_ago.isoformat(), RECENT_DAYS + 1)
    return {
        "in-progress": [w for w in ahead if w["status"] == "in-progress"],
        "upcoming": [
            w for w in ahead if w["status"] == "scheduled" and instant(w["start_utc"]) > at
        ],
        "recent": [
            w
            for w in behind
            if month_ago <= instant(w["end_utc"]) <= at and on_status_page(policy, w)
        ],
    }


# 1. Sections and what they list.


@pytest.mark.parametrize(
    ("now", "running"), [(RUNNING_NOW, [RUNNING]), (QUIET_NOW, [])], ids=["running", "quiet"]
)
def test_sections_list_running_upcoming_and_recent_windows(
    run_cli: CliRunner,
    serve: Serve,
    tmp_path: Path,
    chromium: Chromium,
    shipped: Policy,
    now: str,
    running: list[str],
) -> None:
    served = publish(run_cli, serve, tmp_path, now)
    expected = expected_sections(run_cli, shipped, now)
    assert [w["id"] for w in expected["in-progress"]] == running, "the test's premise changed"
    on, off = chromium.run_many(
        [
            {"url": f"{served.url}/index.html"},
            {"url": f"{served.url}/index.html", "javascript": False},
        ]
    )
    assert on["status"] == 200, f"GET /index.html answered {on['status']}"
    assert on["lang"] == "en", f'<html lang="en"> expected, found lang={on["lang"]!r}'
    assert "width=device-width" in (on["viewport_meta"] or ""), (
        f"a viewport meta tag with width=device-width expected, found {on['viewport_meta']!r}"
    )
    assert on["main_count"] == 1, f"one <main> expected, found {on['main_count']}"
    h1 = [h for h in on["headings"] if h["level"] == 1]
    assert len(h1) == 1, f"one <h1> expected, found {h1}"
    assert h1[0]["in_main"], f"the <h1> should be inside main: {h1}"
    assert "CallTower" in h1[0]["text"], f"the h1 should name the provider: {h1[0]['text']!r}"

    listed = {name: section(on, name) for name in ("in-progress", "upcoming", "recent")}
    assert listed["upcoming"] is not None, f"no section#upcoming in main: {on['sections']}"
    assert listed["recent"] is not None, f"no section#recent in main: {on['sections']}"
    assert (listed["in-progress"] or []) == running, (
        f"section#in-progress at {now} should list exactly {running}, lists {listed['in-progress']}"
    )
    upcoming_ids = [w["id"] for w in expected["upcoming"]]
    assert listed["upcoming"] == upcoming_ids, (
        "section#upcoming should list every scheduled window of the published span ahead, "
        f"ordered by start; missing {sorted(set(upcoming_ids) - set(listed['upcoming']))}, "
        f"extra {sorted(set(listed['upcoming']) - set(upcoming_ids))}, first ten listed "
        f"{listed['upcoming'][:10]} vs expected {upcoming_ids[:10]}"
    )
    recent_ids = {w["id"] for w in expected["recent"]}
    assert recent_ids, "the test's premise changed: some window ended in the last 30 days"
    assert set(listed["recent"]) == recent_ids, (
        f"section#recent should hold the windows that ended in the {RECENT_DAYS} days before "
        f"{now}: missing {sorted(recent_ids - set(listed['recent']))}, "
        f"extra {sorted(set(listed['recent']) - recent_ids)}"
    )
    every = [i for ids in listed.values() for i in ids or []]
    assert len(every) == len(set(every)), "a window is listed in more than one section"

    windows = {w["id"]: w for ws in expected.values() for w in ws}
    for window_id in every:
        facts = article(on, window_id)
        window = windows[window_id]
        wanted = {"window", *(f"product-{p}" for p in window["products"])}
        assert set(facts["classes"]) >= wanted, (
            f"article {window_id} classes {facts['classes']} lack {sorted(wanted)}"
        )
        extra = {c for c in facts["classes"] if c.startswith("product-")} - wanted
        assert not extra, f"article {window_id} has classes of products it does not affect: {extra}"
        assert window["title"] in (facts["heading"] or ""), (
            f"article {window_id} heading {facts['heading']!r} should carry {window['title']!r}"
        )
        assert facts["heading_url"] == f"{served.url}/windows/{window_id}.html", (
            f"article {window_id} heading should link to windows/{window_id}.html, "
            f"links to {facts['heading_href']!r}"
        )
        assert (tmp_path / "notices" / "windows" / f"{window_id}.html").is_file(), (
            f"notices/windows/{window_id}.html is missing"
        )

    if running:
        text = article(on, RUNNING)["text"]
        window = windows[RUNNING]
        for what in ("description", "justification", "impact"):
            assert window[what] in text, f"the running window's article lacks its {what}: {text}"
        assert re.search(r"in[ -]progress", text, re.I), f"its status is not shown: {text}"
        assert any(name in text for name in ("Microsoft Teams Voice", "teams")), (
            f"the running window's article does not name the products affected: {text}"
        )
    assert not console_errors(on), f"console errors: {console_errors(on)}"
    assert not on["page_errors"], f"page errors: {on['page_errors']}"
    assert off["sections"] == on["sections"], "without JavaScript the sections differ"
    hidden = sorted(set(every) - set(off["visible"]))
    assert not hidden, f"without JavaScript, these articles are not visible: {hidden}"
    for window_id in every:
        window = windows[window_id]
        text = article(off, window_id)["text"]
        for what in ("description", "justification"):
            assert window[what] in text, (
                f"without JavaScript, article {window_id} lacks its {what}: {text}"
            )


# 2. The product filter, without a server and without JavaScript.


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_product_filter_hides_other_products(
    run_cli: CliRunner, serve: Serve, tmp_path: Path, chromium: Chromium, javascript: bool
) -> None:
    served = publish(run_cli, serve, tmp_path, RUNNING_NOW)
    facts = chromium.run(
        {
            "url": f"{served.url}/index.html",
            "javascript": javascript,
            "filter": [*PRODUCTS, "all"],
        }
    )
    radios = {r["id"] for r in facts["radios"]}
    wanted = {"product-all", *(f"product-{p}" for p in PRODUCTS)}
    assert radios == wanted, (
        f"radio input[name=product] ids should be {sorted(wanted)}, are {sorted(radios)}"
    )
    assert all(r["type"] == "radio" for r in facts["radios"]), f"not all radios: {facts['radios']}"
    labelled = {label["for"] for label in facts["labels"]}
    assert wanted <= labelled, f"no label[for] for {sorted(wanted - labelled)}"

    every = [a["window"] for a in facts["articles"]]
    assert len(every) > 1, f"the page lists too few windows: {every}"
    for product in PRODUCTS:
        result = facts["filter"][product]
        assert "error" not in result, result.get("error")
        assert result["checked"], (
            f"clicking the label for {product} did not check #product-{product}"
        )
        having = [a["window"] for a in facts["articles"] if f"product-{product}" in a["classes"]]
        shown = result["visible"]
        assert shown, f"after choosing {product}, no article is visible"
        stray = [w for w in shown if w not in having]
        assert not stray, (
            f"after choosing {product}, articles without product-{product} show: {stray}"
        )
        assert shown == having, (
            f"after choosing {product}, hidden articles of {product}: "
            f"{sorted(set(having) - set(shown))}"
        )
    teams = facts["filter"]["teams"]["visible"]
    assert len(teams) < len(every), "after choosing teams, no article is hidden"
    assert facts["filter"]["all"]["checked"], "clicking the label for all did not check it"
    assert facts["filter"]["all"]["visible"] == every, (
        f"after choosing all, hidden: {sorted(set(every) - set(facts['filter']['all']['visible']))}"
    )
    if javascript:
        assert not console_errors(facts), f"console errors: {console_errors(facts)}"
        assert not facts["page_errors"], f"page errors: {facts['page_errors']}"


# 3. Subscribe links.


def test_subscribe_links_for_all_and_each_product(
    run_cli: CliRunner, serve: Serve, tmp_path: Path, chromium: Chromium
) -> None:
    served = publish(run_cli, serve, tmp_path, RUNNING_NOW)
    facts = chromium.run({"url": f"{served.url}/index.html"})
    hrefs = [link["href"] for link in facts["links"] if link["subscribe"]]
    assert hrefs, "no links inside #subscribe (section#subscribe expected)"
    wanted: list[str] = []
    for stem in ["all", *PRODUCTS]:
        assert (tmp_path / "calendars" / f"{stem}.ics").is_file(), f"build wrote no {stem}.ics"
        wanted += [
            f"webcal://{CALENDAR_URL}/{stem}.ics",
            f"https://{CALENDAR_URL}/{stem}.ics",
            f"https://{CALENDAR_URL}/{stem}.rss",
            f"https://{CALENDAR_URL}/{stem}.atom",
        ]
    missing = [h for h in wanted if h not in hrefs]
    assert not missing, f"#subscribe lacks {missing}; it has {hrefs}"
    foreign = [h for h in hrefs if h not in wanted and urlsplit(h).netloc]
    assert not foreign, f"#subscribe links elsewhere: {foreign}"


# 4. One page per window: its history and its own .ics.

HISTORY = "monthly-2026-12-18"
REASON = "Postponed: the vendor's firmware is not ready."
EDITED = "Core switch firmware upgrade and patching."


def test_window_page_history_and_add_to_calendar(
    run_cli: CliRunner, serve: Serve, tmp_path: Path, chromium: Chromium
) -> None:
    write_contacts(tmp_path)
    cli_ok(run_cli, "--now", "2026-12-11T16:05:00Z", "send")  # week-before, Fri 09:05 MST
    cli_ok(run_cli, "--now", "2026-12-12T17:00:00Z", "edit", HISTORY, "--description", EDITED)
    cli_ok(run_cli, "--now", "2026-12-12T18:00:00Z", "cancel", HISTORY, "--reason", REASON)
    cli_ok(run_cli, "--now", "2026-12-12T18:05:00Z", "send")  # the cancel notice
    served = publish(run_cli, serve, tmp_path, "2026-12-12T18:10:00Z")
    index = json.loads((tmp_path / "notices" / "index.json").read_text())
    posts = [p for p in index["posts"] if p["window"] == HISTORY]
    assert {p["stage"] for p in posts} == {"week-before", "cancel"}, f"premise: posts {posts}"

    home, page = chromium.run_many(
        [
            {"url": f"{served.url}/index.html"},
            {
                "url": f"{served.url}/index.html",
                "click": heading_link(HISTORY),
            },
        ]
    )
    entry = article(home, HISTORY)
    newest_first = sorted(posts, key=lambda p: p["posted_at"], reverse=True)
    assert len(entry["updates"]) == len(posts), (
        f"ol.updates of {HISTORY} should list its {len(posts)} posts: {entry['updates']}"
    )
    for post, item in zip(newest_first, entry["updates"], strict=True):
        assert post["title"] in item, (
            f"ol.updates should list posts newest first: expected {post['title']!r} in {item!r}"
        )
    assert re.search(r"cancel", entry["text"], re.I), f"the index does not say cancelled: {entry}"
    holding = [name for name in ("upcoming", "recent") if HISTORY in (section(home, name) or [])]
    assert len(holding) == 1, f"the cancelled window should be in one section, is in {holding}"
    assert HISTORY not in (section(home, "in-progress") or []), "a cancelled window runs"

    assert page["url"] == f"{served.url}/windows/{HISTORY}.html", (
        f"the article's heading link led to {page['url']}"
    )
    assert page["status"] == 200, f"window page: HTTP {page['status']}"
    assert page["lang"] == "en", f'window page: <html lang="en"> expected, not {page["lang"]!r}'
    assert page["main_count"] == 1, f"window page: {page['main_count']} <main>, one expected"
    text = page["main_text"]
    for post in posts:
        assert post["title"] in text, f"the window page's history lacks the post {post['title']!r}"
    assert REASON in text, f"the window page does not give the cancel reason {REASON!r}: {text}"
    assert EDITED in text, f"the window page does not show the edited description: {text}"

    ics = [link for link in page["links"] if link["href"] == f"{HISTORY}.ics"]
    assert ics, (
        f'no <a href="{HISTORY}.ics"> (add to calendar) on the window page; links: '
        f"{[link['href'] for link in page['links']]}"
    )
    url = urljoin(page["url"], ics[0]["href"])
    assert url == f"{served.url}/windows/{HISTORY}.ics", url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200, f"GET {url} answered {response.status}"
        body = response.read()
    calendar = Calendar.from_ical(body)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1, f"{HISTORY}.ics should hold one VEVENT, holds {len(events)}"
    assert str(events[0]["UID"]) == f"{HISTORY}@calltower.com", f"UID {events[0]['UID']}"
    assert str(events[0].get("STATUS")) == "CANCELLED", (
        f"the cancelled window's .ics says STATUS {events[0].get('STATUS')}"
    )
    assert f"/windows/{HISTORY}.ics" in served.paths, f"served {served.paths}"


# 5. Operator text is text.

SUMMARY = "Patch <b>now</b>"
DESCRIPTION = "<img src=x onerror=alert(1)> and <script>alert(2)</script>"
JUSTIFICATION = "a & b"


def test_operator_text_is_escaped(
    run_cli: CliRunner, serve: Serve, tmp_path: Path, chromium: Chromium
) -> None:
    now = "2026-12-10T18:00:00Z"
    out = cli_ok(
        run_cli, "--now", now, "add",
        "--start", "2026-12-14T23:30-07:00", "--duration", "2h", "--products", "teams",
        "--summary", SUMMARY, "--description", DESCRIPTION, "--justification", JUSTIFICATION,
    )  # fmt: skip
    window_id = out.strip().splitlines()[-1]
    assert window_id.startswith("unscheduled-2026-12-14"), f"add printed {out!r}"
    served = publish(run_cli, serve, tmp_path, now)
    raw = (tmp_path / "notices" / "index.html").read_text()
    for markup in ("<script>alert(2)", "<img src=x", "<b>now</b>"):
        assert markup not in raw, f"index.html holds operator text unescaped: {markup!r}"

    index, page = chromium.run_many(
        [
            {"url": f"{served.url}/index.html"},
            {"url": f"{served.url}/index.html", "click": heading_link(window_id)},
        ]
    )
    entry = article(index, window_id)
    assert SUMMARY in (entry["heading"] or ""), (
        f"the heading of unscheduled work should be its summary as text: {entry['heading']!r}"
    )
    for value in (DESCRIPTION, JUSTIFICATION):
        assert value in entry["text"], f"{value!r} not shown literally: {entry['text']}"
    assert page["url"] == f"{served.url}/windows/{window_id}.html", page["url"]
    for value in (SUMMARY, DESCRIPTION, JUSTIFICATION):
        assert value in page["main_text"], f"window page: {value!r} not shown literally"
    for facts in (index, page):
        where = facts["url"]
        assert facts["main_elements"]["img"] == 0, f"an <img> inside main on {where}"
        assert facts["main_elements"]["script"] == 0, f"a <script> inside main on {where}"
        assert facts["main_elements"]["iframe"] == 0, f"an <iframe> inside main on {where}"
        handlers = [a for a in facts["on_attributes"] if a["name"].lower() == "onerror"]
        assert not handlers, f"elements with onerror on {where}: {handlers}"
        assert not facts["dialogs"], f"a dialog opened on {where}: {facts['dialogs']}"
        assert not facts["page_errors"], f"page errors on {where}: {facts['page_errors']}"
        scripts = facts["scripts"]
        assert all(not s["in_main"] and s["src"] is None for s in scripts), (
            f"{where}: only an inline script outside main is allowed: {scripts}"
        )
        assert len(scripts) <= 1, f"{where}: one inline script at most: {scripts}"


# 6. A phone.


def test_phone_no_horizontal_scroll_and_screenshot(
    run_cli: CliRunner, serve: Serve, tmp_path: Path, chromium: Chromium
) -> None:
    served = publish(run_cli, serve, tmp_path, RUNNING_NOW)
    index = f"{served.url}/index.html"
    window = f"{served.url}/windows/{RUNNING}.html"
    shots = {"index": tmp_path / "phone-index.png", "window": tmp_path / "phone-window.png"}
    results = chromium.run_many(
        [
            {"url": index, "viewport": PHONE},
            {"url": window, "viewport": PHONE},
            {"url": index, "viewport": PHONE, "mobile": True, "screenshot": str(shots["index"])},
            {"url": window, "viewport": PHONE, "mobile": True, "screenshot": str(shots["window"])},
        ]
    )
    for number, facts in enumerate(results):
        where = f"{facts['url']} at 390x844" + (" (phone emulation)" if number >= 2 else "")
        assert facts["status"] == 200, f"{where}: HTTP {facts['status']}"
        assert facts["inner_width"] == PHONE["width"], (
            f"{where}: innerWidth {facts['inner_width']} (a missing or wrong viewport meta tag?)"
        )
        assert facts["scroll_width"] <= facts["inner_width"], (
            f"{where}: scrolls sideways, scrollWidth {facts['scroll_width']} > innerWidth "
            f"{facts['inner_width']}"
        )
        assert not facts["overflowing"], f"{where}: text runs past the edge: {facts['overflowing']}"
    readme_shot = os.environ.get("CTMAINT_README_SCREENSHOT")
    if readme_shot:  # `make screenshot`: the README's picture, from this same run
        chromium.run_many(
            [{"url": index, "viewport": PHONE, "mobile": True, "screenshot": readme_shot,
              "full_page": False}]
        )  # fmt: skip
    for name, shot in shots.items():
        assert shot.is_file(), f"no {name} screenshot at {shot}"
        size = shot.stat().st_size
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG"
        assert size > 10_000, f"the {name} screenshot is {size} bytes: a blank page?"


# 7. Self-contained.


def test_no_external_resources(
    run_cli: CliRunner, serve: Serve, tmp_path: Path, chromium: Chromium
) -> None:
    served = publish(run_cli, serve, tmp_path, RUNNING_NOW)
    origin = urlsplit(served.url).netloc
    results = chromium.run_many(
        [{"url": f"{served.url}/index.html"}, {"url": f"{served.url}/windows/{RUNNING}.html"}]
    )
    for facts in results:
        where = facts["url"]
        assert facts["status"] == 200, f"{where}: HTTP {facts['status']}"
        away = [u for u in facts["requests"] if urlsplit(u).netloc != origin]
        assert not away, f"{where} requested other hosts than {origin}: {away}"
        assert not facts["failed_requests"], f"{where}: failed requests {facts['failed_requests']}"
        foreign = [
            r
            for r in facts["resources"]
            if r["attr"] == "other"
            or urlsplit(urljoin(served.url + "/", r["value"])).netloc != origin
        ]
        assert not foreign, f"{where} names resources on other hosts: {foreign}"
        links = [
            link["href"]
            for link in facts["links"]
            if not link["subscribe"] and urlsplit(link["url"]).netloc not in {origin, SITE}
        ]
        assert not links, f"{where} links to other hosts outside #subscribe: {links}"


# 8. Times.


def test_time_elements_are_iso_and_match_upcoming(
    run_cli: CliRunner, serve: Serve, tmp_path: Path, chromium: Chromium, shipped: Policy
) -> None:
    served = publish(run_cli, serve, tmp_path, RUNNING_NOW)
    windows = {
        w["id"]: w
        for w in upcoming(run_cli, RUNNING_NOW, PUBLISHED_DAYS)
        if on_status_page(shipped, w)
    }
    summer = next(w for w in windows.values() if w["start"].endswith("-06:00"))  # MDT
    facts = chromium.run({"url": f"{served.url}/index.html", "javascript": False})
    assert facts["times"], "no <time> elements"
    for element in facts["times"]:
        value = element["datetime"]
        assert value, f"a <time> without datetime: {element}"
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pytest.fail(f"<time datetime={value!r}> is not ISO 8601 ({element})")

    for window_id, zone in ((RUNNING, "MST"), (summer["id"], "MDT")):
        window = windows[window_id]
        mine = [t for t in facts["times"] if t["window"] == window_id]
        by_instant = {instant(t["datetime"]): t for t in mine if "T" in (t["datetime"] or "")}
        for edge in ("start_utc", "end_utc"):
            at = instant(window[edge])
            assert at in by_instant, (
                f"{window_id}: no <time> at {window[edge]} ({edge} of `upcoming`); "
                f"its times: {[t['datetime'] for t in mine]}"
            )
            element = by_instant[at]
            assert element["datetime"].endswith("Z"), f"{window_id}: {element} is not in UTC"
            assert zone in element["text"], f"{window_id}: {element['text']!r} should say {zone}"
        local = datetime.fromisoformat(window["start"]).strftime("%H:%M")
        utc = instant(window["start_utc"]).strftime("%H:%M")
        text = article(facts, window_id)["text"]
        for shown in (local, utc, "UTC"):
            assert shown in text, (
                f"{window_id}: the article should show the start at {local} {zone} and "
                f"{utc} UTC ({shown!r} missing): {text}"
            )


# Determinism (the spec's last point).


def test_two_builds_at_one_moment_are_identical(run_cli: CliRunner, tmp_path: Path) -> None:
    write_contacts(tmp_path)
    cli_ok(run_cli, "--now", "2026-12-11T16:05:00Z", "send")
    now = "2026-12-19T06:00:00Z"
    build(run_cli, now)
    build(run_cli, now, "--calendars", "calendars-2", "--notices", "notices-2")
    first, second = tmp_path / "notices", tmp_path / "notices-2"
    assert (first / "index.html").is_file(), "build wrote no notices/index.html"
    pages = sorted(p.relative_to(first) for p in first.glob("windows/*") if p.is_file())
    assert pages, "build wrote no notices/windows/"
    again = sorted(p.relative_to(second) for p in second.glob("windows/*") if p.is_file())
    assert pages == again, "the two builds wrote different window files"
    for name in [Path("index.html"), *pages]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), (
            f"{name} differs between two builds at {now}"
        )


# 9. Readable in both colour schemes (WCAG 2.2 AA, 1.4.3 Contrast (Minimum)).

SCHEMES = ("light", "dark")
AA_NORMAL = 4.5
AA_LARGE = 3.0  # large text: at least 18pt (24px), or 14pt (18.67px) and bold
CANCELLED_AT = "2026-12-12T18:00:00Z"
CONTRAST_REASON = "Postponed: the carrier moved its own work onto this night."


def luminance(rgb: list[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour given as 0-255 channels."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(one: list[float], two: list[float]) -> float:
    """WCAG 2 contrast ratio of two opaque colours, 1 to 21."""
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def is_large(node: dict[str, Any]) -> bool:
    """WCAG's large text: 18pt (24 CSS px) and up, or bold (700 and up) from 14pt (56/3 px)."""
    size: float = node["font_size"]
    return size >= 24 or (size >= 56 / 3 and node["font_weight"] >= 700)


def contrast_failures(facts: dict[str, Any]) -> list[str]:
    """Every text node of a page under AA: its ratio, colours, size and where it is."""
    failures = []
    for node in facts["contrast"]:
        ratio = contrast_ratio(node["color"], node["background"])
        needed = AA_LARGE if is_large(node) else AA_NORMAL
        if node["image"] or ratio < needed:
            colours = "/".join(
                "#" + "".join(f"{round(c):02x}" for c in rgb)
                for rgb in (node["color"], node["background"])
            )
            image = f", background image {node['image']}" if node["image"] else ""
            failures.append(
                f"{ratio:.2f}:1 < {needed} ({colours}, {node['font_size']:g}px "
                f"{node['font_weight']}{image}) {node['path']}: {node['text']!r}"
            )
    return failures


def axe_failures(axe: dict[str, Any], where: str) -> list[str]:
    """axe-core's WCAG A/AA violations, and the text whose contrast it could not decide (on
    the browser's bare canvas it assumes white: the page must paint its own background)."""
    undecided = [r for r in axe["incomplete"] if r["id"] == "color-contrast"]
    return [
        f"{where}: axe-core {axe['version']} {kind} {rule['id']} ({rule['help']}), "
        f"{len(rule['nodes'])} nodes: "
        + "; ".join(f"{n['target']} {n['data'] or n['summary']}" for n in rule["nodes"][:4])
        for kind, rules in (("violation", axe["violations"]), ("incomplete", undecided))
        for rule in rules
    ]


def page_contrast_failures(facts: dict[str, Any], scheme: str, name: str, where: str) -> list[str]:
    """What fails AA on one page in one scheme (the first 12 measured, and how many in all,
    then axe-core's findings), after asserting the premises: the scheme applied, every colour
    read, and the page shows the badge of its status (the index: of every status)."""
    assert facts["status"] == 200, f"{where}: HTTP {facts['status']}"
    assert facts["dark"] == (scheme == "dark"), f"{where}: the colour-scheme emulation failed"
    assert not facts["contrast_unparsed"], (
        f"{where}: colours the measurement cannot read: {facts['contrast_unparsed']}"
    )
    measured = facts["contrast"]
    assert len(measured) >= 20, f"{where}: only {len(measured)} text nodes measured"
    badges = {c for b in facts["badges"] for c in b} - {"status"}
    wanted = {str(s) for s in WindowStatus} if name == "index" else {name}
    shown = (wanted <= badges) if name == "index" else (badges == wanted)
    assert shown, f"{where}: premise: status badges {sorted(wanted)}, found {sorted(badges)}"
    heading = next((n for n in measured if n["path"].endswith("h1")), None)
    assert heading is not None, f"{where}: no h1 text measured"
    if scheme == "dark":  # the page declares color-scheme: light dark, so light on dark
        assert luminance(heading["background"]) < luminance(heading["color"]), (
            f"{where}: dark text on a light background in the dark scheme (h1 "
            f"{heading['color']} on {heading['background']})"
        )
    failing = contrast_failures(facts)
    found = [f"{where}: {f}" for f in failing[:12]]
    if len(failing) > 12:
        found.append(f"{where}: ... {len(failing)} of {len(measured)} text nodes fail")
    return found + axe_failures(facts["axe"], where)


def status_page_states(run_cli: CliRunner, shipped: Policy) -> dict[WindowStatus, str]:
    """Make the shipped policy's state hold a window of every status at RUNNING_NOW, with
    posts and a history: a week-before notice sent for RUNNING, its description edited, and
    the next window on the status page cancelled with a reason. Returns a window id for each
    status: in-progress RUNNING, scheduled the one after the cancelled one, completed the
    latest that ended in the last 30 days, cancelled the one cancelled."""
    cli_ok(run_cli, "--now", "2026-12-11T16:05:00Z", "send")
    cli_ok(run_cli, "--now", "2026-12-12T17:00:00Z", "edit", RUNNING, "--description", EDITED)
    ahead = [
        w
        for w in upcoming(run_cli, CANCELLED_AT, PUBLISHED_DAYS)
        if on_status_page(shipped, w) and instant(w["start_utc"]) > instant(RUNNING_NOW)
    ]
    cancelled, scheduled = ahead[0]["id"], ahead[1]["id"]
    cli_ok(run_cli, "--now", CANCELLED_AT, "cancel", cancelled, "--reason", CONTRAST_REASON)
    cli_ok(run_cli, "--now", "2026-12-12T18:05:00Z", "send")
    recent = expected_sections(run_cli, shipped, RUNNING_NOW)["recent"]
    completed = max(recent, key=lambda w: w["end_utc"])["id"]
    return {
        WindowStatus.IN_PROGRESS: RUNNING,
        WindowStatus.SCHEDULED: scheduled,
        WindowStatus.COMPLETED: completed,
        WindowStatus.CANCELLED: cancelled,
    }


def test_every_text_meets_wcag_aa_contrast_in_light_and_dark(
    run_cli: CliRunner,
    serve: Serve,
    tmp_path: Path,
    chromium: Chromium,
    axe_script: Path,
    shipped: Policy,
) -> None:
    """status.css declares `color-scheme: light dark`, so a browser set to dark draws the page
    on its dark canvas: every visible text node, measured (colour against the backgrounds it is
    drawn on, alpha composited), must reach AA in both schemes, on the index and on a window
    page of every status. axe-core (WCAG A and AA rules) must find no violation and decide
    every contrast: on the old page it found none, leaving every node on the bare dark canvas
    "incomplete" (it takes the canvas for white), hence the measurement of our own."""
    write_contacts(tmp_path)
    states = status_page_states(run_cli, shipped)
    served = publish(run_cli, serve, tmp_path, RUNNING_NOW)
    pages = {"index": f"{served.url}/index.html"} | {
        str(status): f"{served.url}/windows/{window_id}.html"
        for status, window_id in states.items()
    }
    jobs = [
        {"url": url, "color_scheme": scheme, "contrast": True, "axe": str(axe_script)}
        for scheme in SCHEMES
        for url in pages.values()
    ]
    results = iter(chromium.run_many(jobs))
    failures: list[str] = []
    for scheme in SCHEMES:
        for name, url in pages.items():
            where = f"{scheme} scheme, {name} page ({url.removeprefix(served.url)})"
            failures += page_contrast_failures(next(results), scheme, name, where)
    assert not failures, "WCAG AA fails:\n" + "\n".join(failures)
