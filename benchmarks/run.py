"""Benchmarks, run by hand (`make bench`), never as timed tests.

build_10y: `ctmaint build` of the shipped policy over a ten-year horizon, in process
(rules expanded, every feed and status document rendered and written).
send_idle: the cron tick with nothing due, as cron runs it (a new `ctmaint` process).
send_1000: one `ctmaint send` delivering a reminder to 1000 contacts into the outbox.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ctmaint.policy import embedded_policy_text
from ctmaint.services import Workspace, build

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def ten_year_policy(folder: Path) -> Path:
    text = embedded_policy_text().replace("days_ahead = 365", "days_ahead = 3650")
    path = folder / "ctmaint.toml"
    path.write_text(text, encoding="utf-8")
    return path


def timed(label: str, action: Callable[[], object], repeat: int = 5) -> None:
    action()  # warm: imports and caches, as a long-lived process would have them
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    print(
        f"{label}: median {statistics.median(samples) * 1000:.0f} ms, "
        f"min {min(samples) * 1000:.0f} ms over {repeat} runs"
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        config = ten_year_policy(root)

        def build_once(fresh: list[int] = [0]) -> None:  # noqa: B006 - a counter
            fresh[0] += 1
            workspace = Workspace.locate(config, root / "state.db", NOW, root)
            out = root / f"out{fresh[0]}"  # a fresh folder: every file is written
            result = build(workspace, out / "calendars", out / "notices")
            workspace.close()
            assert result.windows > 800, result.windows

        timed("build_10y (shipped policy, 10-year horizon, cold output)", build_once)
        send_benchmarks(root / "send")
    return 0


def send_benchmarks(root: Path) -> None:
    ctmaint = str(Path(sys.executable).parent / "ctmaint")
    root.mkdir()
    header = "organization,account,name,title,email,phone,roles,products,timezone"
    rows = [f"Org {i % 50},A{i % 50},P {i},,p{i}@example.com,,maintenance,*," for i in range(1000)]
    (root / "contacts.csv").write_text("\n".join([header, *rows]) + "\n")

    def run(now: str) -> None:
        subprocess.run([ctmaint, "--now", now, "send"], cwd=root, check=True, capture_output=True)

    run("2030-06-01T12:00:00-06:00")  # creates the state
    timed("send_idle (new process, nothing due)", lambda: run("2030-06-02T12:00:00-06:00"))
    counter = iter(range(100))

    def deliver() -> None:
        state = root / f"state{next(counter)}.db"  # a fresh ledger: the reminder is due again
        subprocess.run(
            [ctmaint, "--state", str(state), "--now", "2030-06-14T09:00:00-06:00", "send"],
            cwd=root, check=True, capture_output=True,
        )  # fmt: skip

    timed("send_1000 (new process, 1000 reminders to the outbox)", deliver, repeat=3)


if __name__ == "__main__":
    sys.exit(main())
