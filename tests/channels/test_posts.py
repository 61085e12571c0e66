"""Status posts as files: every notice id has its own post file, listed once in index.json,
holding its own text; and a ledger from before that held is put right by the next `send`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, MONTHLY, send, write_contacts

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
    on_disk = {str(p.relative_to(site / "notices")) for p in (site / "notices" / "posts").iterdir()}
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


def test_posts_written_in_one_run_each_have_their_own_file(run_cli: CliRunner, site: Path) -> None:
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


def posts_dir_bytes(site: Path, only: object = MONTHLY) -> dict[str, bytes]:
    """The window's post files, by name."""
    posts = sorted((site / "notices" / "posts").glob(f"{only}--*"))
    return {p.name: p.read_bytes() for p in posts}


def as_before_the_fix(site: Path) -> None:
    """The state a ledger and notices/ from before every post had its own file were left in:
    a second post of a stage was written over the first one's file and recorded there."""
    db = sqlite3.connect(site / ".ctmaint" / "state.db")
    rows = db.execute("SELECT notice_id, stage, path FROM posts ORDER BY posted_at").fetchall()
    for notice_id, stage, path in rows:
        window_id = notice_id.rpartition("/")[0]
        shared = f"posts/{window_id}--{stage}.md"
        if path != shared:
            (site / "notices" / path).replace(site / "notices" / shared)
            db.execute("UPDATE posts SET path = ? WHERE notice_id = ?", (shared, notice_id))
    db.commit()
    db.close()
    assert run_index_paths(site) != sorted(set(run_index_paths(site)))


def run_index_paths(site: Path) -> list[str]:
    db = sqlite3.connect(site / ".ctmaint" / "state.db")
    try:
        return sorted(str(row[0]) for row in db.execute("SELECT path FROM posts"))
    finally:
        db.close()


def test_the_next_send_gives_posts_of_an_older_ledger_their_own_files(
    run_cli: CliRunner, site: Path
) -> None:
    """Each post the old layout lost is written again from its change, the one left in the
    shared file keeps its bytes, and index.json lists each at its own file."""
    change_twice_each(run_cli)
    expected = posts_dir_bytes(site)
    as_before_the_fix(site)
    assert posts_dir_bytes(site) != expected
    assert ", failed 0," in send(run_cli, "2030-07-02T00:00:00-06:00")
    assert posts_dir_bytes(site) == expected  # every text as `send` first wrote it
    assert_every_post_has_its_own_file(site)
    assert run_cli("--now", "2030-07-02T00:05:00-06:00", "build").code == 0
    assert_every_post_has_its_own_file(site)


def test_two_posts_of_one_run_are_put_right_too(run_cli: CliRunner, site: Path) -> None:
    """Both reschedules posted by one run (same posted_at): the second overwrote the first."""
    send(run_cli, "2030-06-14T09:00:00-06:00")
    for now, command, *args in CHANGES[:2]:
        assert run_cli("--now", now, command, MONTHLY, *args).code == 0
    send(run_cli, "2030-06-16T10:01:00-06:00")
    expected = posts_dir_bytes(site)
    as_before_the_fix(site)
    send(run_cli, "2030-06-16T10:06:00-06:00")
    kept = expected[f"{MONTHLY}--reschedule-2.md"]
    assert posts_dir_bytes(site)[f"{MONTHLY}--reschedule-2.md"] == kept
    first = (site / "notices" / "posts" / f"{MONTHLY}--reschedule.md").read_text()
    assert OWN_TEXT["reschedule"] in first
    assert OWN_TEXT["reschedule-2"] not in first
    paths = [p["path"] for p in listed_posts(site)]
    assert len(paths) == len(set(paths))


def test_a_repair_stopped_half_way_is_finished_by_the_next_send(
    run_cli: CliRunner, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that copied the kept text and rewrote the shared file, then failed, is done
    again whole: the kept text is not replaced by the rewritten one."""
    from ctmaint.channels import posts as postfiles

    change_twice_each(run_cli)
    expected = posts_dir_bytes(site)
    as_before_the_fix(site)
    real, calls = postfiles.write_atomic, []

    def fail_third(path: Path, data: bytes) -> bool:
        calls.append(path)
        if len(calls) == 3:  # the kept copy and the rewritten shared file are on disk
            raise OSError(28, "No space left on device")
        return real(path, data)

    with monkeypatch.context() as patched:
        patched.setattr(postfiles, "write_atomic", fail_third)
        stopped = run_cli("--now", "2030-07-02T00:00:00-06:00", "send")
    assert stopped.code == 1
    assert "cannot be given their own in" in stopped.err
    assert "No space left on device" in stopped.err
    send(run_cli, "2030-07-02T00:05:00-06:00")
    assert posts_dir_bytes(site) == expected
    assert_every_post_has_its_own_file(site)


def test_a_post_whose_window_is_gone_keeps_what_the_ledger_knows(
    run_cli: CliRunner, site: Path
) -> None:
    """The window's date was skipped after the posts: the lost post cannot be rendered
    again; it gets its own file with its title, status and time."""
    send(run_cli, "2030-06-14T09:00:00-06:00")
    for now, command, *args in CHANGES[:2]:
        assert run_cli("--now", now, command, MONTHLY, *args).code == 0
        send(run_cli, now.replace(":00:00-", ":01:00-"))
    as_before_the_fix(site)
    from ctmaint.model.policy import embedded_policy_text

    policy = embedded_policy_text().replace("skip = []", 'skip = ["2030-06-21"]', 1)
    (site / "ctmaint.toml").write_text(policy)
    send(run_cli, "2030-06-16T10:06:00-06:00")
    posts = {p["notice"]: p for p in listed_posts(site)}
    first = (site / "notices" / posts[f"{MONTHLY}/reschedule"]["path"]).read_text()
    assert f"# {posts[f'{MONTHLY}/reschedule']['title']}\n" in first
    assert 'status: "scheduled"' in first
    second = (site / "notices" / posts[f"{MONTHLY}/reschedule-2"]["path"]).read_text()
    assert OWN_TEXT["reschedule-2"] in second
    paths = [p["path"] for p in posts.values()]
    assert len(paths) == len(set(paths))
