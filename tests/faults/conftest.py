"""The fault harness (issue 11): each case sets up a working folder with one fault, runs
``ctmaint`` as a subprocess there and checks the generic contract on every run:

* the exit code is one the case expects (a run killed at its time limit has none);
* no ``Traceback`` in stdout or stderr;
* stderr has at most a few non-empty lines, each of a known form: ``ctmaint: <sentence>``
  for an error; `send` may also print its report lines (a short lowercase label and a
  colon: ``failed: ``, ``left for the next run: ``, ``expired: ``...); `check` prints each
  problem as ``<file>: <where>: <sentence>`` and a count. A failing run says something;
* where the case says bad input changes nothing, the folder is unchanged: every directory,
  every file's bytes, and each ``*.db`` as the SQL dump of a copy (so WAL and page layout
  do not matter), except the paths the case names;
* no row of any ``*.db`` under the folder left ``sending``;
* for secret cases, :data:`SENTINEL` in no output and in no file under the folder.

With CTMAINT_FAULT_REPORT=<path> each case appends its outcome (passed or failed, a
traceback or not, rows stuck, duplicates, losses) to that JSON lines file;
``tests/faults/report.py`` runs the suite that way and prints the figures per family.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ROOT = Path(__file__).resolve().parents[2]
_VENV_CTMAINT = ROOT / ".venv" / "bin" / "ctmaint"
CTMAINT = _VENV_CTMAINT if _VENV_CTMAINT.exists() else Path(sys.executable).parent / "ctmaint"
REPORT_VARIABLE = "CTMAINT_FAULT_REPORT"
RUN_TIMEOUT_S = 90.0

HEADER = "organization,account,name,title,email,phone,roles,products,timezone"
CONTACTS = [
    "Acme,ACME-1,Ann Zoë,CTO,ann@acme.example,,maintenance,*,Europe/London",
    "Acme,ACME-1,Bob,,bob@acme.example,,primary;escalation,*,",
    "Beta,BETA-9,Cy,,cy@beta.example,,maintenance,connect,",
    "Gamma,,Di,,di@gamma.example,,maintenance,teams,America/New_York",
    "Gamma,,Di again,,DI@gamma.example,,maintenance,teams,",
    "Delta,DEL-4,Ed,,ed@delta.example,,maintenance,skype,",
]
NEXT_LINE = len(CONTACTS) + 2  # the line a row appended to CONTACTS is on
# The shipped policy's monthly window of June 2030 and the moment its reminder is due.
MONTHLY = "monthly-2030-06-21"
WEEK_BEFORE = f"{MONTHLY}/week-before"
DUE = "2030-06-14T09:00:00-06:00"
SOON_AFTER = "2030-06-14T09:05:00-06:00"  # the reminder is still worth sending
QUIET = "2030-06-10T12:00:00-06:00"  # nothing due: a first run that only creates the state
MONTHLY_TO = frozenset({"ann@acme.example", "cy@beta.example", "di@gamma.example",
                        "ed@delta.example"})  # fmt: skip

# A key never to be seen again once given to ctmaint. SENTINEL_KEY has the shape SendGrid
# issues ("SG." + 22 + "." + 43 characters), so only the fault of the case is wrong with it.
SENTINEL = "sentinel-DO-NOT-PRINT"
SENTINEL_KEY = f"SG.{SENTINEL}-.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
VALID_KEY = "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"

GLOBAL_OPTIONS = ("--config", "--state", "--now")
# send's report lines: a short lowercase label, then what it is about ("failed: ...", "left
# for the next run: ...", "expired: ...", "left out until fixed: ..."), or "... and N more".
_SEND_REPORT = re.compile(r"^(?:[a-z][a-z ,'-]{1,40}: \S|\.\.\. and \d+ more)")
_CHECK_PROBLEM = re.compile(r"^(?:\S*[/.]\S*|<[^>]+>|the embedded policy): \S")
_CHECK_COUNT = re.compile(r"^\d+ problem")
DB_SIDECARS = ("-wal", "-shm", "-journal")


# -- writing the inputs ---------------------------------------------------------------------


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string, every control character escaped (JSON's escapes
    are TOML's)."""
    return json.dumps(value)


@functools.cache
def shipped_policy() -> str:
    """The policy `ctmaint init` writes (the shipped one, as the installed ctmaint has it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "SENDGRID_"))}
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [str(CTMAINT), "init", tmp, "--force"], env=env, capture_output=True, timeout=60
        )
        written = Path(tmp) / "ctmaint.toml"
        if done.returncode == 0 and written.is_file():
            return written.read_text(encoding="utf-8")
    return (ROOT / "ctmaint" / "data" / "policy.toml").read_text(encoding="utf-8")


def set_keys(text: str, table: str, values: Mapping[str, object]) -> str:
    """``text`` (TOML) with ``key = value`` set in ``[table]`` for each of ``values``
    (strings are written as TOML literals as given: quote them yourself); keys the table
    lacks are added at its end."""
    header = f"[{table}]\n"
    assert header in text, f"the policy has no [{table}] table"
    head, rest = text.split(header, 1)
    match = re.search(r"^\[", rest, flags=re.MULTILINE)
    body, tail = (rest[: match.start()], rest[match.start() :]) if match else (rest, "")
    for key, value in values.items():
        line = f"{key} = {value}"
        pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", flags=re.MULTILINE)
        if pattern.search(body):
            body = pattern.sub(line.replace("\\", "\\\\"), body, count=1)
        else:
            body = body.rstrip("\n") + f"\n{line}\n" + ("\n" if tail else "")
    return head + header + body + tail


def policy_text(
    replace: Mapping[str, str] | None = None,
    sendgrid: Mapping[str, object] | None = None,
    transport: str | None = None,
) -> str:
    """The shipped policy, with whole lines replaced (``old line -> new line``), keys of
    its ``[sendgrid]`` table set and its transport set."""
    text = shipped_policy()
    for old, new in (replace or {}).items():
        assert old in text, f"the shipped policy no longer has {old!r}"
        text = text.replace(old, new, 1)
    if transport is not None:
        text = set_keys(text, "provider", {"transport": toml_string(transport)})
    if sendgrid is not None:
        text = set_keys(text, "sendgrid", sendgrid)
    return text


def sendgrid_table(
    retries: int = 1, backoff: float = 0.05, timeout: float = 5, max_wait: float = 1
) -> dict[str, object]:
    return {
        "retries": retries,
        "backoff_seconds": backoff,
        "max_wait_seconds": max_wait,
        "timeout_seconds": timeout,
    }


def csv_row(*cells: str) -> str:
    """One contacts.csv record, quoted where CSV needs it (a line break inside a field)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().removesuffix("\n")


def organizations(count: int) -> list[str]:
    """``count`` organizations of one maintenance contact each (``count`` audiences)."""
    return [
        f"Org {i},ACC-{i},Person {i},,p{i}@org{i}.example,,maintenance,*," for i in range(count)
    ]


def people(count: int) -> list[str]:
    """``count`` maintenance contacts of one organization (one audience)."""
    return [f"Big Co,BIG-1,Person {i},,p{i}@big.example,,maintenance,*," for i in range(count)]


def addresses(rows: Sequence[str]) -> set[str]:
    return {row.split(",")[4].lower() for row in rows}


# -- looking at the folder ------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _db_copy(path: Path, folder: Path) -> Path:
    """A copy of the database ``path`` (and its WAL) in ``folder``: reading it can change
    nothing of the case's, and works on a read-only or locked original."""
    copy = folder / "copy.db"
    shutil.copyfile(path, copy)
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, folder / "copy.db-wal")
    return copy


def db_digest(path: Path) -> str:
    """The SQL dump of the database (its content, not its pages), or its raw bytes when
    SQLite cannot read it (a corrupted or truncated file)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with closing(sqlite3.connect(_db_copy(path, Path(tmp)))) as db:
                dump = "\n".join(db.iterdump())
                version = db.execute("PRAGMA user_version").fetchone()[0]
            return "sql:" + _sha(f"{dump}\nuser_version={version}".encode())
        except (sqlite3.Error, OSError):
            pass
    try:
        raw = path.read_bytes()
    except OSError as error:
        return f"unreadable: {error.strerror}"
    return f"raw:{len(raw)}:{_sha(raw)}"


def _is_sidecar(path: Path) -> bool:
    for suffix in DB_SIDECARS:
        if path.name.endswith(suffix):
            return path.with_name(path.name.removesuffix(suffix)).exists()
    return False


def walk(root: Path) -> Iterator[tuple[Path, str]]:
    """Every entry under ``root`` (symlinks not followed): its path and its kind
    (``dir``, ``link``, ``file`` or ``other``)."""
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs) + sorted(files):
            path = Path(folder) / name
            if path.is_symlink():
                yield path, "link"
            elif name in dirs:
                yield path, "dir"
            elif path.is_file():
                yield path, "file"
            else:
                yield path, "other"


def digest(root: Path, skip: Sequence[str] = ()) -> dict[str, str]:
    """``relative path -> what it holds`` for everything under ``root`` but the ``skip``
    globs; databases by their dump (see :func:`db_digest`)."""
    found: dict[str, str] = {}
    for path, kind in walk(root):
        relative = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatch(relative, pattern) for pattern in skip):
            continue
        if kind == "link":
            found[relative] = f"link -> {os.readlink(path)}"
        elif kind == "dir":
            found[relative + "/"] = "dir"
        elif kind == "other":
            found[relative] = "special file"
        elif _is_sidecar(path):
            continue
        elif path.suffix == ".db":
            found[relative] = db_digest(path)
        else:
            try:
                found[relative] = _sha(path.read_bytes())
            except OSError as error:
                found[relative] = f"unreadable: {error.strerror}"
    return found


def differences(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    return (
        [f"created {p}" for p in added]
        + [f"removed {p}" for p in removed]
        + [f"changed {p}" for p in changed]
    )


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on a copy of the database ``path``; [] if it cannot be read."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with closing(sqlite3.connect(_db_copy(path, Path(tmp)))) as db:
                return list(db.execute(sql))
        except (sqlite3.Error, OSError):
            return []


def databases(root: Path) -> list[Path]:
    return [p for p, kind in walk(root) if kind == "file" and p.suffix == ".db"]


def header_block(message: bytes) -> bytes:
    """The header section of an RFC 5322 message (up to the first empty line)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in message:
            return message.split(separator, 1)[0]
    return message


def header_lines(message: bytes) -> list[bytes]:
    return re.split(rb"\r\n|\n|\r", header_block(message))


# -- one run ----------------------------------------------------------------------------------


@dataclass
class Run:
    args: tuple[str, ...]
    code: int | None  # None: killed at its time limit
    out: str
    err: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        """The non-empty lines of stderr."""
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def summary(self) -> str:
        """send's last stdout line (``sent 4, failed 0, expired 0, pending 0``)."""
        lines = self.out.strip().splitlines()
        return lines[-1] if lines else ""


def command_of(args: Sequence[str]) -> str:
    """The subcommand in ``args``, past the global options and their values."""
    items = iter(args)
    for arg in items:
        if arg in GLOBAL_OPTIONS:
            next(items, None)
        elif not arg.startswith("-"):
            return arg
    return ""


def traceback_line(text: str) -> str:
    """The exception line that ends a traceback in ``text``."""
    tail = text[text.index("Traceback") :].strip().splitlines()
    return tail[-1][:200] if tail else "Traceback"


def line_is_well_formed(line: str, command: str) -> bool:
    if line.startswith("ctmaint: "):
        return True
    if command == "send" and _SEND_REPORT.match(line):
        return True
    return command == "check" and bool(_CHECK_PROBLEM.match(line) or _CHECK_COUNT.match(line))


Mention = str | tuple[str, ...]  # a text stderr must hold, or a choice of such texts


@dataclass
class CaseRecord:
    family: str
    case: str
    traceback: bool = False
    rows_stuck: int = 0
    duplicates: int = 0
    losses: int = 0
    runs: int = 0
    seconds: float = 0.0


class Site:
    """One case's working folder and the runs of ``ctmaint`` in it."""

    def __init__(self, root: Path, record: CaseRecord) -> None:
        self.root = root
        self.record = record
        self.env: dict[str, str] = {}
        self._cleanups: list[Callable[[], object]] = []

    # -- setup

    @property
    def state(self) -> Path:
        return self.root / ".ctmaint" / "state.db"

    @property
    def outbox(self) -> Path:
        return self.root / ".ctmaint" / "outbox"

    def policy(self, text: str | None = None, name: str = "ctmaint.toml") -> Path:
        path = self.root / name
        path.write_text(policy_text() if text is None else text, encoding="utf-8")
        return path

    def contacts(self, rows: Sequence[str] = CONTACTS, name: str = "contacts.csv") -> Path:
        path = self.root / name
        path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
        return path

    def shipped(self, rows: Sequence[str] = CONTACTS) -> None:
        """The shipped policy and ``rows`` as contacts.csv."""
        self.policy()
        self.contacts(rows)

    def on_cleanup(self, undo: Callable[[], object]) -> None:
        self._cleanups.append(undo)

    def cleanup(self) -> None:
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception as error:  # leave the rest to undo; report, do not hide
                print(f"fault harness: cleanup failed: {error!r}", file=sys.stderr)

    def read_only(self, path: Path) -> str:
        """Make ``path`` unwritable for ctmaint; return how. As root chmod binds nothing,
        so the immutable attribute is used; the case is skipped if neither works."""
        if os.geteuid() != 0:
            mode = path.stat().st_mode
            path.chmod(0o500 if path.is_dir() else 0o400)
            self.on_cleanup(lambda: path.chmod(mode))
            how = "chmod"
        else:
            if shutil.which("chattr") is None:
                pytest.skip("running as root, where chmod binds nothing, and chattr is missing")
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
            if done.returncode:
                pytest.skip(f"running as root and `chattr +i` failed: {done.stderr.strip()}")
            self.on_cleanup(lambda: subprocess.run(["chattr", "-i", str(path)], check=False))
            how = "chattr +i"
        if os.access(path, os.W_OK):
            pytest.skip(f"{path.name} is still writable after {how}")
        return how

    def tmpfs(self, path: Path, size: str) -> None:
        """Mount a tmpfs of ``size`` on ``path`` (skips the case where mount is refused)."""
        path.mkdir(parents=True, exist_ok=True)
        if shutil.which("mount") is None:
            pytest.skip("no mount(8) here to make a small file system")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            pytest.skip(f"cannot mount a small tmpfs: {done.stderr.strip() or done.returncode}")
        self.on_cleanup(lambda: subprocess.run(["umount", "-l", str(path)], check=False))

    def fill(self, path: Path, leave: int) -> Path:
        """Fill the file system of ``path`` until about ``leave`` bytes are free."""
        stats = os.statvfs(path)
        free = stats.f_bavail * stats.f_frsize
        filler = path / "filler.bin"
        with filler.open("wb") as stream:
            remaining = max(0, free - leave)
            chunk = b"\0" * (1 << 16)
            while remaining > 0:
                try:
                    remaining -= stream.write(chunk[: min(len(chunk), remaining)])
                except OSError:
                    break
        return filler

    # -- looking

    def digest(self, skip: Sequence[str] = ()) -> dict[str, str]:
        return digest(self.root, skip)

    def rows(self, db: Path | None = None) -> list[tuple[str, str, str, int]]:
        """(notice id, recipient, state, attempts) of every delivery row."""
        path = db or self.state
        if not path.exists():
            return []
        found = query(path, "SELECT notice_id, recipient, state, attempts FROM deliveries")
        return [(str(n), str(r), str(s), int(a)) for n, r, s, a in found]

    def states(self, notice: str = WEEK_BEFORE) -> dict[str, str]:
        """recipient -> state of ``notice``'s rows."""
        return {r: s for n, r, s, _ in self.rows() if n == notice}

    def sending(self) -> int:
        total = 0
        for db in databases(self.root):
            found = query(db, "SELECT count(*) FROM deliveries WHERE state = 'sending'")
            total += int(found[0][0]) if found else 0
        return total

    def emls(self) -> list[Path]:
        return sorted(self.outbox.glob("*.eml")) if self.outbox.is_dir() else []

    def outbox_recipients(self, notice: str = WEEK_BEFORE) -> Counter[str]:
        """Address -> number of .eml files of ``notice`` addressed to it."""
        found: Counter[str] = Counter()
        prefix = notice.replace("/", "--") + "--"
        for path in self.emls():
            if not path.name.startswith(prefix):
                continue
            for line in header_lines(path.read_bytes()):
                if line.lower().startswith(b"to:"):
                    match = re.search(rb"<([^>]+)>|([^\s<>]+@[^\s<>]+)", line)
                    if match:
                        found[(match.group(1) or match.group(2)).decode().lower()] += 1
        return found

    def leaks(self, secret: str = SENTINEL) -> list[str]:
        """Files under the folder holding ``secret``."""
        needle = secret.encode()
        found = []
        for path, kind in walk(self.root):
            if kind != "file":
                continue
            try:
                if needle in path.read_bytes():
                    found.append(path.relative_to(self.root).as_posix())
            except OSError:
                continue
        return found

    def note(self, duplicates: int = 0, losses: int = 0) -> None:
        """Count deliveries made twice and deliveries never made, for the figures."""
        self.record.duplicates += duplicates
        self.record.losses += losses

    def exactly_once(self, delivered: Mapping[str, int], expected: Collection[str]) -> None:
        """Record and assert that each of ``expected`` got one delivery and nobody else any."""
        duplicates = sum(n - 1 for a, n in delivered.items() if a in expected and n > 1)
        missing = sorted(set(expected) - {a for a, n in delivered.items() if n})
        strangers = sorted(a for a in delivered if a not in expected)
        self.note(duplicates=duplicates, losses=len(missing))
        failure = (
            f"not exactly once: {duplicates} duplicate(s), {len(missing)} never delivered "
            f"({missing[:3]}), {len(strangers)} unexpected ({strangers[:3]})"
        )
        assert not duplicates, failure
        assert not missing, failure
        assert not strangers, failure

    # -- running

    def invoke(
        self, args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 90
    ) -> Run:
        """Run ``ctmaint ARGS`` here with a clean environment (no CTMAINT_*, SENDGRID_*
        but the case's); kill it and its children at ``timeout``."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "SENDGRID_"))}
        clean.update(self.env)
        clean.update(env or {})
        started = time.monotonic()
        process = subprocess.Popen(
            [str(CTMAINT), *args],
            cwd=self.root,
            env=clean,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            umask=0o022,
        )
        code: int | None
        try:
            out, err = process.communicate(timeout=timeout)
            code = process.returncode
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = process.communicate()
            code = None
        seconds = time.monotonic() - started
        self.record.runs += 1
        self.record.seconds += seconds
        return Run(
            tuple(args),
            code,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            seconds,
        )

    def run(
        self,
        *args: str,
        codes: Collection[int] = (1,),
        unchanged: bool = False,
        may_change: Sequence[str] = (),
        secret: bool = False,
        within: float | None = None,
        env: Mapping[str, str] | None = None,
        mentions: Sequence[Mention] = (),
        absent: Sequence[str] = (),
        max_lines: int = 4,
    ) -> Run:
        """Run ``ctmaint ARGS`` and assert the generic contract (see the module docstring).

        ``codes``: the exit codes the case accepts. ``unchanged``: the folder must be as it
        was, but for the ``may_change`` globs. ``within``: seconds the run must end in (it is
        killed a little after). ``mentions``: texts stderr must hold (case-insensitive);
        ``absent``: texts it must not.
        """
        before = self.digest(may_change) if unchanged else None
        timeout = RUN_TIMEOUT_S if within is None else within + 2
        result = self.invoke(args, env, timeout)
        command = command_of(args)
        broken: list[str] = []
        if result.code is None:
            broken.append(f"still running after {timeout:.0f} s (killed)")
        elif result.code not in codes:
            broken.append(f"exit {result.code}, expected {' or '.join(map(str, codes))}")
        for stream in (result.err, result.out):
            if "Traceback" in stream:
                self.record.traceback = True
                broken.append(f"traceback: {traceback_line(stream)}")
                break
        lines = result.lines
        if len(lines) > max_lines:
            broken.append(f"{len(lines)} lines on stderr (at most {max_lines})")
        odd = [line for line in lines if not line_is_well_formed(line, command)]
        if odd and "Traceback" not in result.err:
            broken.append(f"stderr line not of the form 'ctmaint: <sentence>': {odd[0][:160]!r}")
        if result.code not in (0, None) and not lines:
            broken.append("failed without a word on stderr")
        if within is not None and result.seconds > within:
            broken.append(f"took {result.seconds:.1f} s (at most {within:.0f} s)")
        lowered = result.err.lower()
        for mention in mentions:
            choices = (mention,) if isinstance(mention, str) else mention
            if not any(choice.lower() in lowered for choice in choices):
                broken.append(f"stderr does not mention {' or '.join(map(repr, choices))}")
        for text in absent:
            if text.lower() in lowered:
                broken.append(f"stderr mentions {text!r}")
        if before is not None:
            changed = differences(before, self.digest(may_change))
            if changed:
                more = f" (+{len(changed) - 3} more)" if len(changed) > 3 else ""
                broken.append("changed the folder: " + ", ".join(changed[:3]) + more)
        stuck = self.sending()
        self.record.rows_stuck = max(self.record.rows_stuck, stuck)
        if stuck:
            broken.append(f"{stuck} row(s) left 'sending'")
        if secret:
            if SENTINEL in result.out or SENTINEL in result.err:
                broken.append("the key is printed")
            leaked = self.leaks()
            if leaked:
                broken.append(f"the key is stored in {', '.join(leaked[:3])}")
        if broken:
            raise AssertionError(
                f"`ctmaint {' '.join(map(repr, args))}`: {'; '.join(broken)}\n"
                f"--- stderr:\n{result.err[-1500:]}\n--- stdout:\n{result.out[-600:]}"
            )
        return result

    def ok(self, *args: str, **contract: Any) -> Run:
        """A step the case needs to succeed (exit 0), under the same contract."""
        return self.run(*args, codes=(0,), **contract)


# -- the fixture that runs and records a case ----------------------------------------------

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _outcome(item: pytest.Item) -> tuple[str, str]:
    """passed, failed or skipped, and the first line of why (for the figures)."""
    reports = item.stash.get(_REPORTS, {})
    for when in ("setup", "call"):
        report = reports.get(when)
        if report is None or report.passed:
            continue
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            return "skipped", str(reason).removeprefix("Skipped: ")
        text = report.longreprtext
        lines = text.strip().splitlines()
        first = next((ln[1:].strip() for ln in lines if ln.startswith("E ")), "")
        return "failed", first or (lines[-1] if lines else "")
    return ("passed", "") if "call" in reports else ("failed", "did not run")


@pytest.fixture
def site(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    """A working folder for one case; its outcome goes to CTMAINT_FAULT_REPORT if set."""
    module = request.node.module.__name__.rsplit(".", 1)[-1]
    record = CaseRecord(module.removeprefix("test_"), request.node.name)
    folder = tmp_path / "site"
    folder.mkdir()
    case = Site(folder, record)
    try:
        yield case
    finally:
        case.cleanup()
        target = os.environ.get(REPORT_VARIABLE)
        if target:
            outcome, reason = _outcome(request.node)
            line = {**record.__dict__, "outcome": outcome, "reason": reason}
            line["seconds"] = round(record.seconds, 2)
            with open(target, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(line, ensure_ascii=False) + "\n")


# -- SendGrid stand-ins ---------------------------------------------------------------------


def accepted(_: Request) -> Response:
    return Response(status=202, headers={"X-Message-Id": f"msg-{time.monotonic_ns()}"})


def answer(code: int, message: str = "") -> Callable[[Request], Response]:
    body = json.dumps({"errors": [{"message": message or f"status {code}", "field": None}]})
    return lambda _: Response(body, status=code, content_type="application/json")


@dataclass
class SendGridFake:
    """POST /v3/mail/send on loopback: answers with ``respond`` (202 by default) and
    records every request's body and Authorization header."""

    server: HTTPServer
    respond: Callable[[Request], Response] = accepted
    bodies: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def handle(self, request: Request) -> Response:
        try:
            self.bodies.append(json.loads(request.get_data()))
        except ValueError:
            self.bodies.append({})
        self.authorizations.append(request.headers.get("Authorization", ""))
        response = self.respond(request)
        self.statuses.append(response.status_code)
        return response

    @property
    def host(self) -> str:
        return self.server.url_for("").rstrip("/")

    def deliveries(self, notice: str = WEEK_BEFORE) -> Counter[str]:
        """Address -> personalizations of ``notice`` received for it, over every request
        that was answered 2xx."""
        found: Counter[str] = Counter()
        for body, status in zip(self.bodies, self.statuses, strict=False):
            if status >= 300:
                continue
            for personalization in body.get("personalizations", []):
                if personalization.get("custom_args", {}).get("notice_id", notice) != notice:
                    continue
                for to in personalization.get("to", []):
                    found[str(to.get("email", "")).lower()] += 1
        return found


@pytest.fixture
def sendgrid(httpserver: HTTPServer) -> Iterator[SendGridFake]:
    fake = SendGridFake(httpserver)
    httpserver.expect_request("/v3/mail/send", method="POST").respond_with_handler(fake.handle)
    yield fake
    httpserver.clear()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class BlackHole:
    """A loopback server that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        for connection in self.held:
            connection.close()
        self.listener.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    server = BlackHole()
    yield server
    server.close()


def kill_mid_run(run: subprocess.Popen[bytes], box: Path, pattern: str, written: int) -> None:
    """SIGKILL ``run`` (and its group) once ``written`` files matching ``pattern`` are in
    ``box`` (the model is tests/sending/test_send.py's helper of that name)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.poll() is None:
        if box.exists() and sum(1 for _ in box.glob(pattern)) >= written:
            break
        time.sleep(0.005)
    assert run.poll() is None, "the run finished before it could be killed; add contacts"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)


def spawn(site: Site, *args: str) -> subprocess.Popen[bytes]:
    """``ctmaint ARGS`` started in the background, with the case's clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "SENDGRID_"))}
    env.update(site.env)
    return subprocess.Popen(
        [str(CTMAINT), *args],
        cwd=site.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        umask=0o022,
    )
