"""Real consumer programs read ctmaint's output: ical.js (Thunderbird, Nextcloud), vdirsyncer and
khal, Home Assistant's `ical`, and from npm the `statuspage.io` client and rss-parser (under
many feed readers and Node apps).

They come from the npm registry and PyPI at pinned versions, installed on first use into
``${XDG_CACHE_HOME:-~/.cache}/ctmaint/clients-<tag>/`` (node/ and python/ each built in a temporary
folder, marked as complete last, then renamed into place under a lock, so an interrupted or
concurrent install is never taken for a finished one). Everything the tests serve listens on
127.0.0.1 only. The package runs where CTMAINT_CLIENTS=1 and is skipped elsewhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ctmaint.model.changes import Change
from ctmaint.model.policy import Policy
from ctmaint.model.windows import Window
from ctmaint.usecases.workspace import Workspace, schedule
from tests.conftest import CliRunner
from tests.serving import Served, serve  # noqa: F401 - serve is a fixture

ENABLED = os.environ.get("CTMAINT_CLIENTS") == "1"
SKIP_REASON = (
    "CTMAINT_CLIENTS is not 1: the real consumer programs (ical.js, vdirsyncer, khal, "
    "Home Assistant's ical, statuspage.io, rss-parser) are not installed here"
)
NEEDS_CLIENTS = pytest.mark.skipif(not ENABLED, reason=SKIP_REASON)

# Pinned consumers. statuspage.io 3.4.x ships no dist/ and needs Node >= 21: stay on 3.3.8.
NPM_PACKAGES = {"ical.js": "2.2.1", "statuspage.io": "3.3.8", "rss-parser": "3.13.0"}
# vdirsyncer, khal and Home Assistant's `ical`, and the libraries that decide how they read a
# calendar (tzdata is the zone database `ical` prefers to the system's).
PYPI_PACKAGES = {
    "vdirsyncer": "0.21.0",
    "khal": "0.14.1",
    "ical": "14.3.1",
    "icalendar": "7.3.2",
    "python-dateutil": "4.0.0",
    "pytz": "2026.6",
    "tzdata": "2026.6",
    "pydantic": "2.14.4",
    "aiohttp": "3.14.5",
}
TAG = hashlib.sha256(
    json.dumps([1, NPM_PACKAGES, PYPI_PACKAGES], sort_keys=True).encode()
).hexdigest()[:12]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ctmaint"
CLIENTS = CACHE / f"clients-{TAG}"
MARKER = "installed.json"


def _install(final: Path, build: Callable[[Path], dict[str, Any]]) -> Path:
    """``final`` once complete: built by ``build(temporary)`` (which returns what the marker
    records), the marker written last, then renamed into place. A lock serializes installers;
    a folder without its marker (from an older layout, or tampered with) is built again."""
    if (final / MARKER).exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with (final.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / MARKER).exists():
            return final
        for leftover in [final, *final.parent.glob(f".{final.name}-*")]:
            shutil.rmtree(leftover, ignore_errors=True)  # unfinished: an install was stopped
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        work.chmod(0o755)
        try:
            recorded = build(work)
            (work / MARKER).write_text(json.dumps(recorded, indent=2) + "\n")
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


def _run_install(command: list[str], cwd: Path, timeout: int) -> None:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-3000:]}"


def _build_node(work: Path) -> dict[str, Any]:
    package = {"name": "ctmaint-clients", "private": True, "dependencies": NPM_PACKAGES}
    (work / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    _run_install(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        work,
        timeout=600,
    )
    found = {
        name: json.loads((work / "node_modules" / name / "package.json").read_text())["version"]
        for name in NPM_PACKAGES
    }
    assert found == NPM_PACKAGES, f"npm installed {found}, pinned {NPM_PACKAGES}"
    return {"npm": found}


def _build_python(work: Path) -> dict[str, Any]:
    _run_install([sys.executable, "-m", "venv", str(work)], work, timeout=300)
    pins = [f"{name}=={version}" for name, version in PYPI_PACKAGES.items()]
    python = str(work / "bin" / "python")
    _run_install([python, "-m", "pip", "install", "--quiet", *pins], work, timeout=900)
    freeze = subprocess.run(
        [python, "-m", "pip", "freeze"], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    return {"pypi": PYPI_PACKAGES, "freeze": freeze}


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """node_modules with ical.js, statuspage.io and rss-parser, installed on first use."""
    if not ENABLED:
        pytest.skip(SKIP_REASON)
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("CTMAINT_CLIENTS=1 but node or npm is not on PATH")
    return _install(CLIENTS / "node", _build_node) / "node_modules"


@pytest.fixture(scope="session")
def node_dir(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the tests' node scripts, whose node_modules is the cached install (so
    `import ICAL from 'ical.js'` resolves from a script written there)."""
    folder = tmp_path_factory.mktemp("node-scripts")
    (folder / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The python of a virtual environment holding vdirsyncer, khal and Home Assistant's
    `ical` (run with -m: a venv that was renamed into place keeps working that way, its bin/
    scripts would not)."""
    if not ENABLED:
        pytest.skip(SKIP_REASON)
    return _install(CLIENTS / "python", _build_python) / "bin" / "python"


def client_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for a consumer: no proxy between it and 127.0.0.1, clock in UTC and,
    given ``home``, its config and data folders there rather than the user's."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", TZ="UTC")
    if home is not None:
        for name, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
            (home / sub).mkdir(parents=True, exist_ok=True)
            env[name] = str(home / sub)
    env.update(extra)
    return env


def run_client(
    command: list[str | Path], env: dict[str, str], what: str
) -> subprocess.CompletedProcess[str]:
    """Run a consumer (no standard input: a prompt fails it); a failed assertion with its
    output if it exits non-zero."""
    done = subprocess.run(
        list(map(str, command)), capture_output=True, text=True, timeout=120, env=env,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"{what} exited {done.returncode}:\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}"
    )
    return done


def build(run_cli: CliRunner, now: str) -> None:
    """`ctmaint --now NOW build` (the embedded policy) into calendars/ and notices/."""
    result = run_cli("--now", now, "build")
    assert result.code == 0, result.err


def upcoming(run_cli: CliRunner, now: str, days: int = 400) -> dict[str, dict[str, Any]]:
    """`ctmaint upcoming --format json` by window id."""
    result = run_cli("--now", now, "upcoming", "--days", str(days), "--format", "json")
    assert result.code == 0, result.err
    return {w["id"]: w for w in json.loads(result.out)}


@dataclass(frozen=True)
class Published:
    """What `build` at one moment publishes, as ctmaint itself has it."""

    windows: dict[str, Window]  # by id
    policy: Policy
    changes: list[Change]


def published(folder: Path, now: str) -> Published:
    """ctmaint's own windows in the span `build` at ``now`` publishes (the past 90 days
    included, which `upcoming` leaves out), from the state in ``folder``."""
    moment = datetime.fromisoformat(now)
    workspace = Workspace.locate(None, None, moment, folder)
    try:
        policy = workspace.policy
        span = (
            moment - timedelta(days=policy.days_back),
            moment + timedelta(days=policy.days_ahead),
        )
        windows = {w.id: w for w in schedule(workspace, *span)}
        return Published(windows, policy, list(workspace.changes))
    finally:
        workspace.close()


FALL_BACK_WORK = "Firmware on the Zürich SBCs"  # not ASCII: the .ics must say how it is encoded


def add_fall_back_window(run_cli: CliRunner, now: str) -> str:
    """Unscheduled Teams work across the fall-back hour: 00:30 MDT to 01:45 MST on 2026-11-01
    (06:30Z to 08:45Z; 01:45 comes twice that night). Returns its id."""
    result = run_cli(
        "--now", now, "add",
        "--start", "2026-11-01T00:30-06:00", "--end", "2026-11-01T01:45-07:00",
        "--products", "teams", "--summary", "Fall-back work", "--description", FALL_BACK_WORK,
        "--justification", "j", "--urgent",
    )  # fmt: skip
    assert result.code == 0, result.err
    window_id = result.out.strip().splitlines()[-1]
    assert window_id.startswith("unscheduled-2026-11-01"), result.out
    return window_id


FALL_BACK_UTC = ("2026-11-01T06:30:00Z", "2026-11-01T08:45:00Z")
