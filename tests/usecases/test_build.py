"""`ctmaint build` as a whole: every file, determinism, atomic replacement, golden files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ctmaint.publishing import feeds as feeds_module
from ctmaint.publishing.files import write_atomic
from tests.conftest import Built, CliRunner, calendar_toml, policy_toml

GOLDEN = Path(__file__).parents[1] / "golden" / "build_small_policy"
NOW = "2030-06-01T12:00:00-06:00"


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_build_writes_every_documented_file(run_cli: CliRunner, tmp_path: Path) -> None:
    result = run_cli("--now", NOW, "build")
    assert result.code == 0, result.err
    written = len(tree(tmp_path / "calendars")) + len(tree(tmp_path / "notices"))
    assert f"{written} files written, 0 unchanged" in result.out
    calendars = sorted(p.name for p in (tmp_path / "calendars").iterdir())
    products = ["cisco", "connect", "contact-center", "sip", "skype", "teams", "webex"]
    expected = sorted(
        f"{stem}.{ext}" for stem in ["all", *products] for ext in ("ics", "rss", "atom")
    )
    assert calendars == [".ctmaint-build.json", *expected]  # build's record of what it wrote
    notices = sorted(
        str(p.relative_to(tmp_path / "notices")) for p in (tmp_path / "notices").rglob("*.json")
    )
    assert notices == [
        ".ctmaint-build.json",
        "api/v2/components.json",
        "api/v2/scheduled-maintenances.json",
        "api/v2/scheduled-maintenances/active.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "api/v2/status.json",
        "api/v2/summary.json",
        "index.json",
    ]
    pages = {p.relative_to(tmp_path / "notices") for p in (tmp_path / "notices").rglob("*.html")}
    posted = json.loads((tmp_path / "notices/api/v2/scheduled-maintenances.json").read_text())
    ids = [m["id"] for m in posted["scheduled_maintenances"]]
    assert ids
    assert pages == {Path("index.html")} | {Path(f"windows/{i}.html") for i in ids}
    assert all((tmp_path / "notices" / "windows" / f"{i}.ics").is_file() for i in ids)


def test_the_readmes_document_every_file(built: Built) -> None:
    root = Path(__file__).parents[2]
    calendars_doc = (root / "calendars" / "README.md").read_text()
    for suffix in (".ics", ".rss", ".atom"):
        assert f"`all{suffix}`" in calendars_doc
    assert "`<product id>.ics`" in calendars_doc
    assert "webcal://" in calendars_doc
    for prop in ("X-MAINTNOTE-PROVIDER", "X-MAINTNOTE-ACCOUNT", "X-MAINTNOTE-STATUS", "SEQUENCE"):
        assert prop in calendars_doc
    notices_doc = (root / "notices" / "README.md").read_text()
    for path in built.notices.rglob("*.json"):
        assert f"`{path.relative_to(built.notices)}`" in notices_doc


def test_building_twice_gives_identical_bytes_and_writes_nothing(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    run_cli("--now", NOW, "build")
    first = tree(tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "calendars").iterdir()}
    again = run_cli("--now", NOW, "build")
    built = [path for path in first if path.startswith(("calendars/", "notices/"))]
    assert f"0 files written, {len(built)} unchanged" in again.out
    assert tree(tmp_path) == first
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "calendars").iterdir()} == stamps


def test_the_build_time_is_in_no_file(run_cli: CliRunner, tmp_path: Path) -> None:
    run_cli("--now", NOW, "--state", "s.db", "build", "--calendars", "a")
    run_cli("--now", NOW, "--state", "s.db", "build", "--calendars", "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")  # the build time is in no file


def test_a_failed_build_leaves_the_previous_files_intact(
    run_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli("--now", NOW, "build")
    before = tree(tmp_path / "calendars") | tree(tmp_path / "notices")

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(feeds_module, "feeds", broken)
    failed = run_cli("--now", "2030-09-01T12:00:00-06:00", "build")
    assert failed.code == 1
    assert failed.err.startswith("ctmaint: unexpected error (RuntimeError); this is a bug")
    assert "Traceback" not in failed.err
    assert tree(tmp_path / "calendars") | tree(tmp_path / "notices") == before
    leftovers = list(tmp_path.rglob("*.tmp"))
    assert leftovers == []


def test_write_atomic_replaces_by_rename_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.ics"
    assert write_atomic(path, b"one")
    inode = path.stat().st_ino
    assert not write_atomic(path, b"one")
    assert path.stat().st_ino == inode  # unchanged bytes: not rewritten
    assert write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert path.stat().st_ino != inode  # a new file renamed into place

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"three")
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.ics"]


def small_policy() -> str:
    return (
        policy_toml(
            calendar_toml(
                "patch",
                title="Patch night",
                cron="0 23 * * 2#2",
                duration="3h",
                products=["voice"],
                summary="Patch night",
                notices=["week-before"],
                status_page=True,
            ),
            calendar_toml(
                "video-sprint",
                title="Video release",
                cron=None,
                every="2w",
                anchor="2030-01-07T20:00",
                duration="90m",
                products=["video"],
                impact="NO-IMPACT",
                summary="Video release",
                description='Release with "quotes", commas; and <html> & ampersands.',
                status_page=True,
            ),
        ).replace("[publish]", "")
        + "\n[publish]\ndays_back = 14\ndays_ahead = 45\n"
    )


def test_golden_files_for_a_small_policy(
    run_cli: CliRunner, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    (tmp_path / "ctmaint.toml").write_text(small_policy())
    result = run_cli(
        "--now", NOW, "build", "--calendars", "out/calendars", "--notices", "out/notices"
    )
    assert result.code == 0, result.err
    produced = tree(tmp_path / "out")
    if request.config.getoption("--update-golden"):
        for relative, data in produced.items():
            (GOLDEN / relative).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / relative).write_bytes(data)
    golden = tree(GOLDEN)
    assert sorted(produced) == sorted(golden)
    for relative, data in produced.items():
        assert data == golden[relative], f"{relative} differs; rerun with --update-golden"
