"""Benchmarks, run by hand (`make bench`), never as timed tests.

Prints one table, each figure beside its goal (issue 14), and with ``--json PATH`` writes
the same rows as JSON. Every command is run as cron runs it: a new ``ctmaint`` process.

- tick: `send` with nothing due, against an empty Typer app with two commands (the floor of
  the framework), median of interleaved runs, as a ratio.
- sendgrid_10k: 10,000 recipients in 2,500 organizations through the SendGrid transport
  against a loopback stand-in that answers each request after 100 ms; wall time and the
  process's peak memory.
- teams_2500: 2,500 organizations, each with 4 email contacts (through SendGrid, against
  sendgrid_10k's stand-in) and one Teams subscription (its own URL on a loopback Workflows
  stand-in, 202 after 100 ms); one send at the monthly reminder: wall time within the
  policy's time budget, peak memory, and a failure row unless it exits 0 and each
  subscription got exactly one well-formed post. Measured 38.5 to 47.9 s over three runs,
  76 MB, 2,500 posts each subscription once (docs/PERFORMANCE.md): the email and the Teams
  posts side by side (each 2,500 x 0.1 s / 8 = 31 s floor, 37 to 46 s on the loaded VM).
- contacts_100k: `check`, `notices` and `send --dry-run` with 100,003 contacts.
- build: the shipped policy over 1 year and over 50 years of windows, in process; the ratio.
- send_1000: 1000 reminders into the outbox (no goal; for comparison across changes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec.structs

import ctmaint
from ctmaint.model.policy import Policy, embedded_policy_text, parse_policy
from ctmaint.usecases.build import build
from ctmaint.usecases.workspace import Workspace

BIN = Path(sys.executable).parent
CTMAINT = str(BIN / "ctmaint")
HEADER = "organization,account,name,title,email,phone,roles,products,timezone"
SUBSCRIPTIONS_HEADER = "organization,account,channel,target,products,timezone,secret"
TEAMS_CARD = "application/vnd.microsoft.card.adaptive"
REMINDER = "2030-06-14T09:00:00-06:00"  # the monthly reminder of 2030-06-21 is due
EMPTY_APP = '''
import typer
app = typer.Typer()
@app.callback()
def main() -> None:
    """Empty."""
@app.command()
def one() -> None:
    """One."""
@app.command()
def two() -> None:
    """Two."""
app()
'''


@dataclasses.dataclass
class Row:
    name: str
    figure: float
    unit: str
    goal: float | None  # the figure must be at most this
    note: str = ""

    @property
    def met(self) -> str:
        return "-" if self.goal is None else ("yes" if self.figure <= self.goal else "NO")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a cron job: none of ctmaint's variables, and Python free to use
    its bytecode cache, as an installed package does (pip compiles it when it installs)."""
    skipped = ("CTMAINT_", "SENDGRID_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skipped)}
    return env | extra


def compile_package() -> None:
    """Write ctmaint's bytecode, as `pip install` does: an editable checkout run with
    PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run, which
    the installed tool never does (the libraries it is compared with are compiled)."""
    import compileall

    compileall.compile_dir(Path(ctmaint.__file__).parent, quiet=1)


def contacts(folder: Path, count: int, per_org: int) -> None:
    rows = [
        f"Org {i // per_org},ORG-{i // per_org},Person {i},,p{i}@org{i // per_org}.example,,"
        "maintenance,*,"
        for i in range(count)
    ]
    (folder / "contacts.csv").write_text("\n".join([HEADER, *rows]) + "\n")


def timed_run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env or clean_env(), check=True, capture_output=True)
    return time.perf_counter() - started


def peak_run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and the child's peak resident memory in MB (a fresh wrapper process, so
    the peak is this command's alone); a failed command raises, with what it said."""
    wall, peak, code, said = measured_run(args, cwd, env)
    if code:
        raise subprocess.CalledProcessError(code, args, stderr=said)
    return wall, peak


def measured_run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int, str]:
    """:func:`peak_run`, also for a command that fails: wall seconds, peak MB, the
    command's exit code and its stderr."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "done = subprocess.run(sys.argv[1:], capture_output=True); "
        "sys.stderr.buffer.write(done.stderr); "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.returncode)"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args], cwd=cwd, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    wall, peak, code = done.stdout.split()
    return float(wall), float(peak), int(code), done.stderr


def tick(root: Path, runs: int = 31) -> list[Row]:
    root.mkdir()
    contacts(root, 200, 4)
    (root / "empty_app.py").write_text(EMPTY_APP)
    subprocess.run([CTMAINT, "--now", REMINDER, "send"], cwd=root, check=True,
                   capture_output=True, env=clean_env())  # fmt: skip
    tick_args = [CTMAINT, "--now", "2030-06-14T09:05:00-06:00", "send"]
    empty, ctmaint = [], []
    for _ in range(runs):  # interleaved, so both see the same machine
        empty.append(timed_run([sys.executable, "empty_app.py", "one"], root))
        ctmaint.append(timed_run(tick_args, root))
    floor, ours = statistics.median(empty), statistics.median(ctmaint)
    return [
        Row(
            "tick: send, nothing due, the full run (median)",
            ours * 1000,
            "ms",
            None,
            f"empty Typer app {floor * 1000:.0f} ms",
        ),
        Row("tick / empty Typer app", ours / floor, "x", 1.4),
    ]


class _SlowSendGrid(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    latency = 0.1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.latency)
        self.send_response(202)
        self.send_header("X-Message-Id", "bench")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _InstantSendGrid(_SlowSendGrid):
    latency = 0.0


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A loopback server on its own thread, a thread per connection (so it takes as many
    requests at once as a run keeps in flight)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def sendgrid_env(server: ThreadingHTTPServer) -> dict[str, str]:
    """The environment of a run whose SendGrid transport posts to ``server``."""
    return clean_env(
        SENDGRID_API_KEY="SG.benchmark.key",
        CTMAINT_SENDGRID_HOST=f"http://127.0.0.1:{server.server_address[1]}",
    )


def sendgrid_policy(root: Path) -> None:
    text = embedded_policy_text().replace('transport = "outbox"', 'transport = "sendgrid"')
    (root / "ctmaint.toml").write_text(text)


def sendgrid_run(root: Path, handler: type[BaseHTTPRequestHandler]) -> tuple[float, float]:
    """10,000 recipients in 2,500 organizations through the SendGrid transport against a
    loopback stand-in answering with ``handler``: wall seconds and peak MB."""
    root.mkdir(parents=True)
    contacts(root, 10_000, 4)
    sendgrid_policy(root)
    server = serve(handler)
    try:
        return peak_run([CTMAINT, "--now", REMINDER, "send"], root, sendgrid_env(server))
    finally:
        server.shutdown()


def sendgrid_10k(root: Path) -> list[Row]:
    wall, peak = sendgrid_run(root / "slow", _SlowSendGrid)
    instant, _ = sendgrid_run(root / "instant", _InstantSendGrid)
    return [
        Row("sendgrid_10k: 10,000 recipients, 2,500 requests at 100 ms", wall, "s", 60),
        Row("sendgrid_10k: peak memory", peak, "MB", 250),
        Row("sendgrid_10k: the same against an instant server, per request", instant / 2.5,
            "ms", None, "our own work: rendering, ledger, HTTP"),
    ]  # fmt: skip


class Tally:
    """What a stand-in received, counted from its threads: requests by path, and requests
    whose body was not what the real service takes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_path: Counter[str] = Counter()
        self.malformed = 0
        self.first = self.last = 0.0  # perf_counter() of the first and last request

    def add(self, path: str, good: bool = True) -> None:
        now = time.perf_counter()
        with self.lock:
            self.by_path[path] += 1
            self.malformed += not good
            self.first, self.last = self.first or now, now

    @property
    def span(self) -> float:
        """Seconds from the first request to the last (each answered ``latency`` later)."""
        return self.last - self.first


def teams_receiver(tally: Tally, latency: float = 0.1) -> type[BaseHTTPRequestHandler]:
    """A Teams Workflows stand-in: 202 after ``latency`` seconds for every post, each
    counted in ``tally`` by its path (one path per subscription), with whether its body is
    Teams' message envelope holding an Adaptive Card."""

    class Teams(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            # Counted before the answer, so the count is complete once the run has ended.
            envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            attachments = envelope.get("attachments") or [{}]
            card = attachments[0].get("contentType") == TEAMS_CARD
            tally.add(self.path, envelope.get("type") == "message" and card)
            time.sleep(latency)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Teams


def counted_sendgrid(tally: Tally) -> type[BaseHTTPRequestHandler]:
    """The SendGrid stand-in of sendgrid_10k (202 after 100 ms), counting its requests."""

    class Counted(_SlowSendGrid):
        def do_POST(self) -> None:
            tally.add(self.path)  # before the answer, as the Teams stand-in counts
            super().do_POST()

    return Counted


def teams_subscriptions(root: Path, organizations: int, port: int) -> None:
    """One Teams subscription for each organization of :func:`contacts`, each its own URL,
    readable by its owner only (subscriptions.csv holds credentials)."""
    rows = [
        f"Org {n},ORG-{n},teams,http://127.0.0.1:{port}/teams/{n},*,," for n in range(organizations)
    ]
    path = root / "subscriptions.csv"
    path.write_text("\n".join([SUBSCRIPTIONS_HEADER, *rows]) + "\n")
    path.chmod(0o600)


def teams_2500(root: Path) -> list[Row]:
    """2,500 organizations, each with 4 email contacts (through SendGrid, as sendgrid_10k)
    and one Teams subscription, every receiver answering in 100 ms: one send, its wall time
    and peak memory; a failure row unless it exits 0, every subscription got exactly one
    well-formed post and the emails went in 2,500 requests."""
    organizations = 2_500
    root.mkdir()
    contacts(root, organizations * 4, 4)
    sendgrid_policy(root)
    posts, emails = Tally(), Tally()
    sendgrid, teams = serve(counted_sendgrid(emails)), serve(teams_receiver(posts))
    teams_subscriptions(root, organizations, teams.server_address[1])
    try:
        args = [CTMAINT, "--now", REMINDER, "send"]
        wall, peak, code, said = measured_run(args, root, sendgrid_env(sendgrid))
    finally:
        sendgrid.shutdown()
        teams.shutdown()
    policy = parse_policy(embedded_policy_text(), "<embedded policy>", root)
    budget = policy.send.time_budget.total_seconds()
    received = posts.by_path.total()
    once = sum(posts.by_path[f"/teams/{n}"] == 1 for n in range(organizations))
    rows = [
        Row("teams_2500: 2,500 Teams posts and 10,000 emails, 100 ms a request",
            wall, "s", budget, "the run's time budget"),
        Row("teams_2500: peak memory", peak, "MB", 250),
        Row("teams_2500: Teams posts received", received, "posts", None,
            f"{once} subscriptions exactly once; {emails.by_path.total()} SendGrid requests"),
        Row("teams_2500: first to last Teams request", posts.span, "s", None,
            f"SendGrid's: {emails.span:.1f} s"),
    ]  # fmt: skip
    problems = []
    if code:
        problems.append(f"send exited {code}: {' '.join(said.split())[-300:]}")
    if received != organizations or once != organizations or posts.malformed:
        problems.append(
            f"{received} posts ({posts.malformed} malformed), "
            f"{once} of {organizations} subscriptions exactly once"
        )
    if emails.by_path.total() != organizations:
        problems.append(f"{emails.by_path.total()} SendGrid requests, not {organizations}")
    if problems:
        rows.append(Row("teams_2500: FAILED: " + "; ".join(problems), len(problems), "problems", 0))
    return rows


def contacts_100k(root: Path) -> list[Row]:
    root.mkdir()
    contacts(root, 100_003, 4)
    rows = []
    for command in (["check"], ["notices"], ["send", "--dry-run"]):
        samples = [timed_run([CTMAINT, "--now", REMINDER, *command], root) for _ in range(3)]
        rows.append(Row(f"contacts_100k: {' '.join(command)} (median of 3)",
                        statistics.median(samples), "s", 3))  # fmt: skip
    return rows


def build_years(root: Path) -> list[Row]:
    base = parse_policy(embedded_policy_text(), "<embedded policy>", root)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)

    def once(days: int, label: str) -> float:
        policy: Policy = msgspec.structs.replace(base, days_ahead=days, days_back=0)
        workspace = Workspace.locate(None, root / f"{label}.db", now, root)
        workspace._policy = policy  # the bound on days_ahead is the policy file's, not ours
        started = time.perf_counter()
        build(workspace, root / label / "calendars", root / label / "notices")
        workspace.close()
        return time.perf_counter() - started

    one = statistics.median(once(365, f"y1-{n}") for n in range(3))
    ten = statistics.median(once(3650, f"y10-{n}") for n in range(3))
    fifty = once(50 * 365, "y50")
    return [
        Row("build: 1 year (median of 3)", one, "s", None),
        Row("build: 10 years, the longest a policy allows (median of 3)", ten, "s", None),
        Row("build: 50 years", fifty, "s", None),
        Row("build: 50 years / 1 year", fifty / one, "x", 60),
    ]


def send_1000(root: Path) -> list[Row]:
    root.mkdir()
    contacts(root, 1000, 20)
    samples = [
        timed_run([CTMAINT, "--state", str(root / f"s{n}.db"), "--now", REMINDER, "send"], root)
        for n in range(3)
    ]
    return [Row("send_1000: 1000 reminders into the outbox (median of 3)",
                statistics.median(samples), "s", None)]  # fmt: skip


def table(rows: list[Row]) -> str:
    lines = ["| benchmark | figure | goal | met |", "| --- | --- | --- | --- |"]
    for row in rows:
        goal = "-" if row.goal is None else f"<= {row.goal:g} {row.unit}"
        note = f" ({row.note})" if row.note else ""
        lines.append(f"| {row.name}{note} | {row.figure:.2f} {row.unit} | {goal} | {row.met} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    options = parser.parse_args()
    benches: dict[str, Callable[[Path], list[Row]]] = {
        "tick": tick, "contacts_100k": contacts_100k, "build": build_years,
        "send_1000": send_1000, "sendgrid_10k": sendgrid_10k, "teams_2500": teams_2500,
    }  # fmt: skip
    rows: list[Row] = []
    compile_package()
    with tempfile.TemporaryDirectory() as scratch:
        for name, bench in benches.items():
            if options.only and name not in options.only:
                continue
            print(f"running {name}...", file=sys.stderr)
            rows += bench(Path(scratch) / name)
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {socket.gethostname()}"
    print(f"ctmaint benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}\n")
    print(table(rows))
    if options.json:
        options.json.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
    return 0 if all(r.met != "NO" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
