"""Status posts as files: every notice id has its own post file, listed once in index.json,
holding its own text; and a ledger from before that held is put right by the next `send`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.test_send import CONTACTS, MONTHLY, send, write_contacts

# The monthly window, moved twice before it starts, extended twice, then followed up twice:
# every change stage that can repeat, each twice, with a send after each change.
CHANGES: list[tuple[str, ...]] = [
    ("2030-06-15T10:00:00-06:00", "reschedule", "--start", "2030-06-28T22:00-06:00"),
    ("2030-06-16T10:00:00-06:00", "reschedule", "--start", "2030-06-29T22:00-06:00"),
    ("2030-06-30T01:00:00-06:00", "extend", "--until", "2030-06-30T05:00-06:00"),
    ("2030-06-30T04:30:00-06:00", "extend", "--until", "2030-06-30T06:00-06:00"),
    ("2030-06-30T07:00:00-06:00", "follow-up", "--file", "first.md"),
    ("2030-06-30T08:00:00-06:00", "follow-up", "--file", "second.md"),
]
# What each post, and no other, says: the note of its own change.
OWN_TEXT = {
    "reschedule": "It was planned for Fri 2030-06-21 22:00 MDT.",
    "reschedule-2": "It was planned for Fri 2030-06-28 22:00 MDT.",
    "extend": "It was planned to end Sun 2030-06-30 04:00 MDT.",
    "extend-2": "It was planned to end Sun 2030-06-30 05:00 MDT.",
    "follow-up": "The first notes.",
    "follow-up-2": "The second notes.",
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_contacts(tmp_path, CONTACTS)
    (tmp_path / "first.md").write_text("The first notes.\n")
    (tmp_path / "second.md").write_text("The second notes.\n")
    return tmp_path


def change_twice_each(run_cli: CliRunner, *, send_after_each: bool = True) -> None:
    send(run_cli, "2030-06-14T09:00:00-06:00")  # the week-before reminder tells everyone
    for now, command, *args in CHANGES:
        result = run_cli("--now", now, command, MONTHLY, *args)
        assert result.code == 0, result.err
        if send_after_each:
            send(run_cli, now.replace(":00:00-", ":01:00-"))


def listed_posts(site: Path) -> list[dict[str, str]]:
    return list(json.loads((site / "notices" / "index.json").read_text())["posts"])


def assert_every_post_has_its_own_file(site: Path) -> None:
    """Every post listed exists, at its own path, exactly once, and no post file is unlisted;
    each of the window's change posts holds its own note and no other's."""
    posts = listed_posts(site)
    paths = [post["path"] for post in posts]
    assert len(paths) == len(set(paths)), sorted(paths)
    on_disk = {
        str(p.relative_to(site / "notices")) for p in (site / "notices" / "posts").iterdir()
    }
    assert on_disk == set(paths)
    for post in posts:
        _, _, stage = post["notice"].rpartition("/")
        assert post["path"] == f"posts/{post['window']}--{stage}.md"
        text = (site / "notices" / post["path"]).read_text()
        assert f'stage: "{post["stage"]}"' in text
        assert f"# {post['title']}\n" in text
        if post["window"] == MONTHLY and stage in OWN_TEXT:
            others = [note for key, note in OWN_TEXT.items() if key != stage]
            assert OWN_TEXT[stage] in text, (stage, text)
            assert not [note for note in others if note in text], (stage, text)
    stages = {p["notice"].rpartition("/")[2] for p in posts if p["window"] == MONTHLY}
    assert set(OWN_TEXT) <= stages


def test_every_notice_has_its_own_post_file(run_cli: CliRunner, site: Path) -> None:
    change_twice_each(run_cli)
    assert_every_post_has_its_own_file(site)
    index = listed_posts(site)
    assert run_cli("--now", "2030-07-01T00:00:00-06:00", "build").code == 0
    assert listed_posts(site) == index  # build lists the same posts
    assert_every_post_has_its_own_file(site)


def test_posts_written_in_one_run_each_have_their_own_file(
    run_cli: CliRunner, site: Path
) -> None:
    """Two changes of one stage before the next send: both posts in one run, same time."""
    send(run_cli, "2030-06-14T09:00:00-06:00")
    for now, command, *args in CHANGES[:2]:
        assert run_cli("--now", now, command, MONTHLY, *args).code == 0
    send(run_cli, "2030-06-16T10:01:00-06:00")
    posted = {p["notice"] for p in listed_posts(site)}
    assert {f"{MONTHLY}/reschedule", f"{MONTHLY}/reschedule-2"} <= posted
    paths = [p["path"] for p in listed_posts(site)]
    assert len(paths) == len(set(paths))
    assert all((site / "notices" / path).is_file() for path in paths)
