"""rss-parser (npm; under many feed readers, bots and Node apps) reads every feed `build` writes,
and every entry shows a body with the four details, what each change said (a cancel's reason,
the time a move or an extension replaced), and every line of text an operator wrote on
several lines.

rss-parser gives an Atom entry's body only from `<content>` (with a `<summary>` alone it
shows none), and its snippet loses the line after a `<br>` that a newline follows (its issue
281).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctmaint.model.events import Cancel, Extend, Reschedule
from ctmaint.model.windows import Window
from ctmaint.publishing.details import details
from ctmaint.publishing.feeds import entry_id
from tests.clients.conftest import (
    NEEDS_CLIENTS,
    Published,
    build,
    client_env,
    published,
    run_client,
)
from tests.conftest import CliRunner

pytestmark = NEEDS_CLIENTS

READER = """\
import { readFileSync } from 'node:fs';
import Parser from 'rss-parser';

const parser = new Parser();
const found = {};
for (const path of process.argv.slice(2)) {
  const feed = await parser.parseString(readFileSync(path, 'utf8'));
  found[path] = feed.items.map((item) => ({
    id: item.guid ?? item.id ?? null,
    content: item.content ?? null,
    snippet: item.contentSnippet ?? null,
  }));
}
process.stdout.write(JSON.stringify(found));
"""

NOW = "2026-12-01T12:00:00Z"
BUILT = "2026-12-01T13:00:00Z"
# Operator text on several lines, with markup that must show as typed.
REASON = "Release postponed a sprint.\nThe fix for <b>ticket 42</b> & its tests is not ready."
WORK = "Upgrades to the Connect platform.\nDatabase schema change.\nNew call routing rules."
WHY = "Customers asked for the routing rules.\nThe schema change makes them possible."


def operate(run_cli: CliRunner) -> None:
    """A cancel with a reason on two lines, a move, unscheduled work with text on several
    lines that is then extended, and a window edited to such text."""
    commands = [
        ("cancel", "connect-2026-12-08", "--reason", REASON),
        ("reschedule", "monthly-2026-12-18", "--start", "2026-12-19T22:00-07:00"),
        ("edit", "connect-2026-12-29", "--description", WORK, "--justification", WHY),
        ("add", "--start", "2026-12-10T01:00-07:00", "--end", "2026-12-10T02:00-07:00",
         "--products", "teams,sip", "--summary", "Carrier cut-over", "--description", WORK,
         "--justification", WHY),
        ("extend", "unscheduled-2026-12-10-1", "--until", "2026-12-10T03:00-07:00"),
    ]  # fmt: skip
    for command in commands:
        result = run_cli("--now", NOW, *command)
        assert result.code == 0, f"{command[0]}: {result.err}"


def read_with_rss_parser(node_dir: Path, *paths: Path) -> dict[str, list[dict[str, Any]]]:
    """What rss-parser reads from each file, by file name."""
    script = node_dir / "read-feeds.mjs"
    if not script.exists():
        script.write_text(READER)
    done = run_client(["node", script, *paths], client_env(), "rss-parser reader")
    found: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return {Path(path).name: items for path, items in found.items()}


def expected(window: Window, state: Published) -> list[tuple[str, str]]:
    """(what, text) an entry's body must show: the four details, and what each cancel, move
    or extension of the window said; a text on several lines with each line on its own."""
    facts = details(window, state.policy)
    shown = [
        ("date and time", "\n".join(facts.when)),
        ("products", facts.products),
        ("description", facts.description),
        ("justification", facts.justification),
    ]
    for change in state.changes:
        if change.window_id == window.id and isinstance(change.event, Cancel | Reschedule | Extend):
            shown.append((f"{change.kind} note", change.event.note(state.policy)))
    return shown


def entry_problems(item: dict[str, Any], window: Window, state: Published) -> dict[str, str]:
    """What is wrong with one entry as rss-parser read it: {kind of problem: details}."""
    if not (item["content"] or "").strip() or not (item["snippet"] or "").strip():
        return {"no body": f"content {item['content']!r}, contentSnippet {item['snippet']!r}"}
    snippet = item["snippet"]
    return {
        f"{what} missing": f"{text!r} is not in the body rss-parser shows: {snippet[:600]!r}"
        for what, text in expected(window, state)
        if text not in snippet
    }


def test_every_feed_entry_has_a_body_with_the_details_the_changes_and_every_line(
    run_cli: CliRunner, tmp_path: Path, node_dir: Path
) -> None:
    operate(run_cli)
    build(run_cli, BUILT)
    state = published(tmp_path, BUILT)
    by_entry = {entry_id(w, state.policy): w for w in state.windows.values()}
    calendars = tmp_path / "calendars"
    files = sorted([*calendars.glob("*.rss"), *calendars.glob("*.atom")])
    assert {"all.rss", "all.atom", "connect.rss", "connect.atom"} <= {f.name for f in files}
    problems: dict[tuple[str, str], list[str]] = {}  # (format, kind) -> one line each
    seen = set()
    for name, items in sorted(read_with_rss_parser(node_dir, *files).items()):
        assert items, f"rss-parser read no entry from {name}"
        for item in items:
            window = by_entry[item["id"]]
            seen.add(window.id)
            for kind, text in entry_problems(item, window, state).items():
                problems.setdefault((Path(name).suffix, kind), []).append(
                    f"{name} {window.id}: {text}"
                )
    assert seen == set(state.windows), f"entries not read: {set(state.windows) - seen}"
    changed = {"connect-2026-12-08", "monthly-2026-12-18", "unscheduled-2026-12-10-1"}
    assert changed <= seen
    assert state.windows["connect-2026-12-08"].cancelled
    assert not problems, "entries rss-parser reads wrong (how many, and the first of each):\n" + (
        "\n".join(
            f"{fmt} {kind} ({len(lines)}): {lines[0]}"
            for (fmt, kind), lines in sorted(problems.items())
        )
    )
