"""A build's set is whole: a file `build` wrote before and no longer writes is removed in the
same swap, and nothing it did not write is ever touched (DESIGN, "Files")."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ctmaint.model.contacts import COLUMNS
from ctmaint.model.policy import embedded_policy_text
from tests.conftest import CliRunner, calendar_toml, policy_toml

MANIFEST = ".ctmaint-build.json"  # the record build keeps in each folder (documented)
NOW = "2030-06-03T02:00:00-06:00"  # Monday: the start of weekly-2030-06-03
LATER = "2030-06-24T12:00:00-06:00"  # three weeks on: days_back 14 leaves 06-03 behind

# Files of the site's own and of its users, in every folder build writes: never touched.
FOREIGN = {
    "calendars/favicon.ico": b"\x00\x00\x01\x00",
    "calendars/holidays.ics": b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    "notices/robots.txt": b"User-agent: *\n",
    "notices/api/v2/incidents.json": b'{"incidents": []}\n',
    "notices/api/v2/scheduled-maintenances/archive.json": b"[]\n",
    "notices/windows/weekly-2029-01-01.html": b"<p>our own page, named like build's</p>\n",
    "notices/windows/custom.css": b"p { color: black }\n",
}


def site_policy(*, skip: str = "", video: bool = True, sprints: bool = True, back: int = 30) -> str:
    """Two calendars on the status page: weekly work on voice and video, sprints on video."""
    products = ["voice", "video"] if video else ["voice"]
    weekly = calendar_toml(
        "weekly", title="Weekly work", cron="0 2 * * 1", products=products,
        notices=["start"], status_page=True, skip=[skip] if skip else [],
    )  # fmt: skip
    sprint = calendar_toml(
        "sprint", title="Video sprint", cron="0 3 * * 3", products=["video"],
        notices=["start"], status_page=True,
    )  # fmt: skip
    text = policy_toml(weekly, *([sprint] if sprints else []))
    if not video:
        text = text.replace('video = "Video"\n', "")
    return text + f"\n[publish]\ndays_back = {back}\ndays_ahead = 30\n"


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def build(run_cli: CliRunner, now: str, site: Path, into: str = "") -> str:
    calendars, notices = site / into / "calendars", site / into / "notices"
    result = run_cli(
        "--now", now, "build", "--calendars", str(calendars), "--notices", str(notices)
    )
    assert result.code == 0, result.err
    return result.out + result.err


@pytest.fixture
def site(tmp_path: Path, run_cli: CliRunner) -> Path:
    """The first build, with a status post `send` wrote, and foreign files everywhere."""
    (tmp_path / "ctmaint.toml").write_text(site_policy())
    row = "Acme,ACME-1,Ann,,ann@acme.example,,maintenance,*,"
    (tmp_path / "contacts.csv").write_text(",".join(COLUMNS) + "\n" + row + "\n")
    sent = run_cli("--now", NOW, "send")
    assert sent.code == 0, sent.err
    build(run_cli, NOW, tmp_path)
    for relative, data in FOREIGN.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(data)
    return tmp_path


def assert_whole(run_cli: CliRunner, site: Path, now: str) -> None:
    """The folders hold what a build into empty folders writes, the posts `send` wrote, and
    every foreign file as it was: nothing an earlier build wrote is left over."""
    build(run_cli, now, site, into="fresh")
    for folder in ("calendars", "notices"):
        here = {
            relative: data
            for relative, data in tree(site / folder).items()
            if f"{folder}/{relative}" not in FOREIGN and not relative.startswith("posts/")
        }
        assert here == tree(site / "fresh" / folder), folder
    for relative, data in FOREIGN.items():
        assert (site / relative).read_bytes() == data, relative
    posts = json.loads((site / "notices" / "index.json").read_text())["posts"]
    assert [p["path"] for p in posts] == ["posts/weekly-2030-06-03--start.md"]
    assert (site / "notices" / posts[0]["path"]).is_file()  # send's post is never build's


CHANGES: dict[str, tuple[Callable[[], str], str, list[str]]] = {
    "a skipped window": (
        lambda: site_policy(skip="2030-06-10"),
        NOW,
        ["notices/windows/weekly-2030-06-10.html", "notices/windows/weekly-2030-06-10.ics"],
    ),
    "a product removed": (
        lambda: site_policy(video=False, sprints=False),
        NOW,
        ["calendars/video.ics", "calendars/video.rss", "calendars/video.atom"],
    ),
    "a calendar removed": (
        lambda: site_policy(sprints=False),
        NOW,
        ["notices/windows/sprint-2030-06-05.html", "notices/windows/sprint-2030-05-29.ics"],
    ),
    "a shorter published span": (
        lambda: site_policy(back=7),
        NOW,
        ["notices/windows/weekly-2030-05-20.html", "notices/windows/sprint-2030-05-15.ics"],
    ),
    "time passing": (
        lambda: site_policy(back=14),
        LATER,
        ["notices/windows/weekly-2030-06-03.html", "notices/windows/weekly-2030-06-03.ics"],
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_files_build_no_longer_writes_are_removed_and_no_other(
    run_cli: CliRunner, site: Path, change: str
) -> None:
    policy, now, gone = CHANGES[change]
    assert all((site / relative).is_file() for relative in gone)
    (site / "ctmaint.toml").write_text(policy())
    out = build(run_cli, now, site)
    assert not [relative for relative in gone if (site / relative).exists()]
    assert " removed" in out
    assert "ctmaint:" not in out  # nothing left, nothing to say
    assert_whole(run_cli, site, now)
    assert (site / "notices" / "windows").is_dir()  # an emptied folder may stay; files go


def test_the_window_the_issue_skipped_leaves_the_page_and_the_calendar(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    """The shipped policy, `skip = ["2027-01-15"]`: the window's page and .ics go with it."""
    assert run_cli("--now", "2026-12-01T12:00:00Z", "build").code == 0
    page = tmp_path / "notices" / "windows" / "monthly-2027-01-15.html"
    assert "Scheduled" in page.read_text()
    policy = embedded_policy_text().replace("skip = []", 'skip = ["2027-01-15"]', 1)
    (tmp_path / "ctmaint.toml").write_text(policy)
    assert run_cli("--now", "2026-12-01T12:00:00Z", "build").code == 0
    assert not page.exists()
    assert not page.with_suffix(".ics").exists()
    assert not list((tmp_path / "calendars").glob("*monthly-2027-01-15*"))
    for feed in (tmp_path / "calendars").glob("all.*"):
        assert "monthly-2027-01-15" not in feed.read_text()


def test_a_file_changed_since_build_wrote_it_is_left_and_named(
    run_cli: CliRunner, site: Path
) -> None:
    page = site / "notices" / "windows" / "weekly-2030-06-10.html"
    page.write_text(page.read_text() + "<!-- our note -->\n")
    (site / "ctmaint.toml").write_text(site_policy(skip="2030-06-10"))
    out = build(run_cli, NOW, site)
    assert f"ctmaint: left {page}: build no longer writes it, but it changed since" in out
    assert page.read_text().endswith("<!-- our note -->\n")
    assert not page.with_suffix(".ics").exists()  # unchanged: removed
    record = json.loads((site / "notices" / MANIFEST).read_text())["files"]
    assert "windows/weekly-2030-06-10.html" not in record  # no longer build's
    again = build(run_cli, NOW, site)
    assert "ctmaint:" not in again
    assert page.is_file()


def test_a_record_that_is_not_build_s_removes_nothing(run_cli: CliRunner, site: Path) -> None:
    """A record edited to name files outside the folder, or unreadable: nothing goes."""
    outside = site / "precious.txt"
    outside.write_bytes(b"keep me\n")
    record = site / "calendars" / MANIFEST
    files = json.loads(record.read_text())["files"]
    digest = hashlib.sha256(b"keep me\n").hexdigest()
    files |= {"../precious.txt": digest, str(outside): digest, "./../precious.txt": digest}
    record.write_text(json.dumps({"files": files}))
    (site / "notices" / MANIFEST).write_text("{not json")
    (site / "ctmaint.toml").write_text(site_policy(skip="2030-06-10"))
    out = build(run_cli, NOW, site)
    assert outside.read_bytes() == b"keep me\n"
    assert f"{site / 'notices' / MANIFEST} is not the record build writes" in out
    assert (site / "notices" / "windows" / "weekly-2030-06-10.html").is_file()
    assert json.loads((site / "notices" / MANIFEST).read_text())["files"]  # written anew


def test_a_build_that_fails_while_removing_leaves_the_previous_set(
    run_cli: CliRunner, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last removal fails: every file replaced or removed before it is put back."""
    before = tree(site)
    (site / "ctmaint.toml").write_text(site_policy(video=False, sprints=False))
    real = os.unlink
    last = sorted((site / "notices" / "windows").glob("sprint-*"))[-1]  # removed last

    def unlink(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if Path(path).resolve() == last.resolve():
            raise OSError(30, "Read-only file system", str(path))
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(os, "unlink", unlink)
        failed = run_cli("--now", NOW, "build")
    assert failed.code == 1
    assert "Read-only file system" in failed.err
    assert "the previous feeds and status files are unchanged" in failed.err
    after = tree(site)
    assert {k for k in after if k != "ctmaint.toml"} == {k for k in before if k != "ctmaint.toml"}
    assert {k: v for k, v in after.items() if k != "ctmaint.toml"} == {
        k: v for k, v in before.items() if k != "ctmaint.toml"
    }
    assert not list(site.rglob("*.tmp"))
    assert " removed" in build(run_cli, NOW, site)  # the next build does it
    assert_whole(run_cli, site, NOW)


def test_a_folder_linked_out_of_the_folder_since_is_not_followed(
    run_cli: CliRunner, site: Path
) -> None:
    """windows/ replaced by a link to another folder holding the same files: build writes
    through the link as before, but removes nothing outside its folder."""
    elsewhere = site / "elsewhere"
    (site / "notices" / "windows").rename(elsewhere)
    (site / "notices" / "windows").symlink_to(elsewhere, target_is_directory=True)
    (site / "ctmaint.toml").write_text(site_policy(skip="2030-06-10"))
    out = build(run_cli, NOW, site)
    assert (elsewhere / "weekly-2030-06-10.html").is_file()
    assert "weekly-2030-06-10.html: a link leads out of" in out


FOREIGN = {
    "index.html": b"<!DOCTYPE html><title>Our site</title><p>Welcome</p>\n",
    "index.json": b'{"site": "ours"}\n',
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_a_file_build_did_not_write_is_never_replaced(
    run_cli: CliRunner, tmp_path: Path, name: str
) -> None:
    """A folder shared with a site: build refuses, names the file, and writes nothing."""
    shared = tmp_path / "www"
    shared.mkdir()
    (shared / name).write_bytes(FOREIGN[name])
    result = run_cli("--now", "2030-06-01T12:00:00Z", "build", "--notices", str(shared))
    assert result.code == 1
    assert f"{shared / name} was not written by ctmaint, which would replace it" in result.err
    assert "nothing was written there" in result.err
    assert sorted(p.name for p in shared.iterdir()) == [name]
    assert (shared / name).read_bytes() == FOREIGN[name]
    assert not (tmp_path / "calendars").exists()


def test_files_an_older_build_wrote_without_a_record_are_still_build_s(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    """An upgrade: the folders of a build from before the record are replaced as before."""
    first = run_cli("--now", "2030-06-01T12:00:00Z", "build")
    assert first.code == 0, first.err
    for folder in ("calendars", "notices"):
        (tmp_path / folder / ".ctmaint-build.json").unlink()
    page = tmp_path / "notices" / "index.html"
    page.write_bytes(page.read_bytes().replace(b'<meta name="generator" content="ctmaint">\n', b""))
    again = run_cli("--now", "2030-06-08T12:00:00Z", "build")
    assert again.code == 0, again.err
    assert b'content="ctmaint"' in page.read_bytes()


def test_send_never_replaces_an_index_json_it_did_not_write(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "contacts.csv").write_text(
        ",".join(COLUMNS) + "\nAcme,A,Ann,,ann@acme.example,,maintenance,*,\n"
    )
    shared = tmp_path / "www"
    shared.mkdir()
    (shared / "index.json").write_bytes(FOREIGN["index.json"])
    result = run_cli("--now", "2030-06-14T09:00:00-06:00", "send", "--notices", str(shared))
    assert result.code == 1
    assert "the status index was not written" in result.err
    assert (shared / "index.json").read_bytes() == FOREIGN["index.json"]
    assert result.out.startswith("sent 1,")  # the email went regardless
