"""The status page (issue 12) seen in a real browser: Debian's Chromium driven by Playwright.

Chromium comes from Debian (``/usr/bin/chromium``): installed with apt on first use if missing,
under a lock so two pytest processes never run apt at once. Playwright for Python comes from PyPI
at pinned versions, into its own venv in ``${XDG_CACHE_HOME:-~/.cache}/ctmaint/page-<tag>/``,
and axe-core from npm at a pinned version into ``.../ctmaint/page-axe-<tag>/`` (each built in a
temporary folder, marked complete last, renamed into place under a lock), so the project's venv
is unchanged; it never downloads a browser of its own. ``driver.py`` runs in that venv: a JSON
job on stdin, JSON facts about the rendered DOM on stdout. Pages are served from 127.0.0.1 only.
The package runs where CTMAINT_BROWSER=1 and is skipped elsewhere; how long the installs took
is printed in the terminal summary.
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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ctmaint.model.contacts import COLUMNS
from tests.conftest import CliRunner
from tests.serving import Served, serve  # noqa: F401 - serve is a fixture

ENABLED = os.environ.get("CTMAINT_BROWSER") == "1"
SKIP_REASON = (
    "CTMAINT_BROWSER is not 1: the status-page tests need Debian's chromium and Playwright "
    "(installed on first use into a cache folder); set CTMAINT_BROWSER=1 to run them"
)
NEEDS_BROWSER = pytest.mark.skipif(not ENABLED, reason=SKIP_REASON)

CHROMIUM = Path("/usr/bin/chromium")
# Playwright for Python and what it imports; it drives the system Chromium over CDP.
PYPI_PACKAGES = {
    "playwright": "1.65.2",
    "greenlet": "3.5.6",
    "pyee": "13.0.1",
    "typing_extensions": "4.16.0",
}
TAG = hashlib.sha256(json.dumps([1, PYPI_PACKAGES], sort_keys=True).encode()).hexdigest()[:12]
# axe-core, the accessibility engine browsers' audit tools run; its axe.min.js is injected.
NPM_PACKAGES = {"axe-core": "4.14.1"}
AXE_TAG = hashlib.sha256(json.dumps([1, NPM_PACKAGES], sort_keys=True).encode()).hexdigest()[:12]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ctmaint"
VENV = CACHE / f"page-{TAG}"
AXE = CACHE / f"page-axe-{AXE_TAG}"
MARKER = "installed.json"
DRIVER = Path(__file__).with_name("driver.py")

# What the installs did and how long they took: printed by pytest_terminal_summary.
INSTALL_LOG: list[str] = []


def _log(line: str) -> None:
    INSTALL_LOG.append(line)
    print(f"[ctmaint page] {line}", file=sys.stderr)


def _run(command: list[str], timeout: int, cwd: Path | None = None) -> tuple[int, str]:
    env = {
        **os.environ,
        "DEBIAN_FRONTEND": "noninteractive",
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
    }
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
        env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done.returncode, (done.stdout[-2000:] + done.stderr[-3000:])


def _install_chromium() -> None:
    """Debian's chromium, with apt, unless /usr/bin/chromium is there; apt-get update only
    if the first try fails (no or stale package lists)."""
    if CHROMIUM.exists():
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".chromium.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if CHROMIUM.exists():
            return
        if shutil.which("apt-get") is None:
            pytest.fail(f"CTMAINT_BROWSER=1 but {CHROMIUM} is missing and there is no apt-get")
        started = time.monotonic()
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        code, output = _run(install, timeout=1200)
        if code != 0:
            code, update = _run(["apt-get", "update"], timeout=600)
            assert code == 0, f"apt-get update failed:\n{update}"
            code, output = _run(install, timeout=1200)
        assert code == 0, f"{' '.join(install)} failed:\n{output}"
        assert CHROMIUM.exists(), f"apt installed chromium but {CHROMIUM} is missing"
        _log(f"chromium: installed with apt in {time.monotonic() - started:.1f} s")


def _build_venv(work: Path) -> dict[str, Any]:
    code, output = _run([sys.executable, "-m", "venv", str(work)], timeout=300)
    assert code == 0, f"python -m venv failed:\n{output}"
    python = str(work / "bin" / "python")
    pins = [f"{name}=={version}" for name, version in PYPI_PACKAGES.items()]
    command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins]
    code, output = _run(command, timeout=900)
    assert code == 0, f"pip install {' '.join(pins)} failed:\n{output}"
    code, freeze = _run([python, "-m", "pip", "freeze"], timeout=120)
    assert code == 0, freeze
    return {"pypi": PYPI_PACKAGES, "freeze": freeze.split()}


def _build_axe(work: Path) -> dict[str, Any]:
    package = {"name": "ctmaint-page-axe", "private": True, "dependencies": NPM_PACKAGES}
    (work / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    command = ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
    code, output = _run(command, timeout=600, cwd=work)
    assert code == 0, f"{' '.join(command)} failed:\n{output}"
    found = {
        name: json.loads((work / "node_modules" / name / "package.json").read_text())["version"]
        for name in NPM_PACKAGES
    }
    assert found == NPM_PACKAGES, f"npm installed {found}, pinned {NPM_PACKAGES}"
    return {"npm": found}


def _install(final: Path, build: Callable[[Path], dict[str, Any]], what: str) -> Path:
    """``final`` once complete: built by ``build(temporary)`` (which returns what the marker
    records), its marker written last, then renamed into place under a lock; a folder without
    its marker is built again."""
    if (final / MARKER).exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with (final.parent / f".{final.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / MARKER).exists():
            return final
        for leftover in [final, *final.parent.glob(f".{final.name}-*")]:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)  # an install was stopped
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        work.chmod(0o755)
        try:
            recorded = build(work)
            recorded["seconds"] = round(time.monotonic() - started, 1)
            (work / MARKER).write_text(json.dumps(recorded, indent=2) + "\n")
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _log(f"{what}: built in {time.monotonic() - started:.1f} s at {final}")
    return final


class BrowserError(AssertionError):
    """The driver failed: its stderr says why."""


@dataclass(frozen=True)
class Chromium:
    """Runs driver.py with the Playwright venv's python: ``run(job)`` gives the facts of one
    job, ``run_many(jobs)`` of several in one browser."""

    python: Path

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        facts: dict[str, Any] = self._drive(job)
        return facts

    def run_many(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        facts: list[dict[str, Any]] = self._drive(jobs)
        return facts

    def _drive(self, job: Any) -> Any:
        # A venv renamed into place keeps working run as `python script`; no proxy to loopback.
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1",
            TZ="UTC",
        )
        done = subprocess.run(
            [str(self.python), str(DRIVER)], input=json.dumps(job), capture_output=True,
            text=True, timeout=300, env=env, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise BrowserError(
                f"driver.py exited {done.returncode} for {json.dumps(job)[:500]}:\n"
                f"{done.stderr[-4000:]}"
            )
        return json.loads(done.stdout)


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    """Chromium and Playwright, installed on first use; skipped unless CTMAINT_BROWSER=1."""
    if not ENABLED:
        pytest.skip(SKIP_REASON)
    started = time.monotonic()
    _install_chromium()
    python = _install(VENV, _build_venv, "playwright venv") / "bin" / "python"
    _log(f"browser ready in {time.monotonic() - started:.1f} s (chromium and playwright venv)")
    return Chromium(python)


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's ``axe.min.js`` (npm, pinned), installed on first use; the driver injects it
    into a page given as a job's ``axe``. Skipped unless CTMAINT_BROWSER=1."""
    if not ENABLED:
        pytest.skip(SKIP_REASON)
    if shutil.which("npm") is None:
        pytest.fail("CTMAINT_BROWSER=1 but npm is not on PATH (axe-core comes from npm)")
    script = _install(AXE, _build_axe, "axe-core") / "node_modules" / "axe-core" / "axe.min.js"
    assert script.is_file(), f"the axe-core install has no {script}"
    return script


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if INSTALL_LOG:
        terminalreporter.write_sep("-", "ctmaint status-page browser")
        for line in INSTALL_LOG:
            terminalreporter.write_line(line)


# The CLI, as the tests use it.


def build(run_cli: CliRunner, now: str, *args: str) -> None:
    """`ctmaint --now NOW build` (the embedded policy) into calendars/ and notices/."""
    result = run_cli("--now", now, "build", *args)
    assert result.code == 0, f"ctmaint --now {now} build failed: {result.err}"


def upcoming(run_cli: CliRunner, now: str, days: int = 365) -> list[dict[str, Any]]:
    """`ctmaint upcoming --format json`: the windows not ended at NOW starting within DAYS."""
    result = run_cli("--now", now, "upcoming", "--days", str(days), "--format", "json")
    assert result.code == 0, result.err
    windows: list[dict[str, Any]] = json.loads(result.out)
    return windows


def cli_ok(run_cli: CliRunner, *args: str) -> str:
    """Run ``ctmaint ARGS``; its stdout, or a failed assertion with its stderr."""
    result = run_cli(*args)
    assert result.code == 0, f"ctmaint {' '.join(args)} exited {result.code}: {result.err}"
    return result.out


CONTACTS = [
    "Acme,ACME-1,Ann,CTO,ann@acme.example,,maintenance,*,Europe/London",
    "Gamma,,Di,,di@gamma.example,,maintenance,teams,America/New_York",
]


def write_contacts(folder: Path) -> None:
    (folder / "contacts.csv").write_text("\n".join([",".join(COLUMNS), *CONTACTS]) + "\n")
