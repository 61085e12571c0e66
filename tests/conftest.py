"""Shared helpers: policies written from small TOML pieces, and the CLI run in-process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ctmaint.cli import main as cli
from ctmaint.model.policy import Policy, embedded_policy_text, parse_policy
from ctmaint.usecases.build import build
from ctmaint.usecases.workspace import Workspace

PROVIDER = """
[provider]
name = "Example"
domain = "example.net"
timezone = "{zone}"
zone_label = "{label}"
status_page = "https://status.example.net"
calendar_url = "https://status.example.net/calendars"
sender = "Example Maintenance <maintenance@example.net>"

[products]
voice = "Cloud Voice"
video = "Video"

[stages.week-before]
before = "7d"
at = "09:00"

[stages.day-before]
before = "24h"
"""


def calendar_toml(calendar_id: str = "nightly", **keys: object) -> str:
    """A [calendars.ID] table with workable defaults; ``keys`` override or add keys."""
    values: dict[str, object] = {
        "title": "Nightly work",
        "cron": "30 2 * * *",
        "duration": "1h",
        "products": ["voice"],
        "impact": "DEGRADED",
        "summary": "Nightly work",
        "description": "Patching.",
        "justification": "Security.",
        "notices": [],
    }
    values.update(keys)
    lines = [f"[calendars.{calendar_id}]"]
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


def policy_toml(*calendars: str, zone: str = "America/Denver", label: str = "MT") -> str:
    return PROVIDER.format(zone=zone, label=label) + "\n".join(calendars or (calendar_toml(),))


def make_policy(*calendars: str, zone: str = "America/Denver") -> Policy:
    return parse_policy(policy_toml(*calendars, zone=zone), "test.toml", Path("."))


@pytest.fixture
def shipped() -> Policy:
    return parse_policy(embedded_policy_text(), "<embedded policy>", Path("."))


@dataclass(frozen=True)
class Built:
    """The output of one `build` of the shipped policy."""

    calendars: Path
    notices: Path
    now: datetime


BUILD_NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # far from today; US DST starts 03-14


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The shipped policy built once at BUILD_NOW (90 days back, 365 ahead)."""
    root = tmp_path_factory.mktemp("built")
    workspace = Workspace.locate(None, root / "state.db", BUILD_NOW, root)
    try:
        build(workspace, root / "calendars", root / "notices")
    finally:
        workspace.close()
    return Built(root / "calendars", root / "notices", BUILD_NOW)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Rewrite tests/golden/ from the output."
    )


@dataclass
class Result:
    code: int
    out: str
    err: str


CliRunner = Callable[..., Result]


@pytest.fixture
def run_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> CliRunner:
    """Run ``ctmaint ARGS`` in-process, in tmp_path, through the real entry point."""
    monkeypatch.chdir(tmp_path)
    for name in ("CTMAINT_CONFIG", "CTMAINT_STATE", "CTMAINT_NOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "100")  # what a table gets without a terminal

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["ctmaint", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
