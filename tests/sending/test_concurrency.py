"""Operators and senders at the same moment, as separate processes on one state database."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path

from tests.sending.test_send import (
    CTMAINT,
    MONTHLY,
    deliveries,
    kill_mid_run,
    ledger_rows,
    many_contacts,
    spawn,
    write_contacts,
)

NOW = "2030-06-01T12:00:00-06:00"


def ctmaint(folder: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    return subprocess.Popen(
        [str(CTMAINT), "--now", NOW, *args],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(runs: list[subprocess.Popen[str]]) -> list[str]:
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * len(runs), outputs
    return [out.strip() for out, _ in outputs]


def history(folder: Path) -> dict[str, list[dict[str, object]]]:
    done = subprocess.run(
        [str(CTMAINT), "--now", NOW, "history", "--format", "json"],
        cwd=folder, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    document: dict[str, list[dict[str, object]]] = json.loads(done.stdout)
    return document


def test_concurrent_adds_for_one_day_get_distinct_ids_and_all_are_kept(tmp_path: Path) -> None:
    write_contacts(tmp_path, [])
    printed: list[str] = []
    for day in range(10, 15):  # five rounds, eight operators each
        start = f"2030-06-{day}T23:30:00-06:00"
        runs = [
            ctmaint(tmp_path, "add", "--start", start, "--duration", "1h", "--products", "teams",
                    "--summary", f"Patch {n}", "--description", "d", "--justification", "j")
            for n in range(8)
        ]  # fmt: skip
        ids = finish(runs)
        assert sorted(ids) == [f"unscheduled-2030-06-{day}-{n}" for n in range(1, 9)]
        printed += ids
    added = [c for c in history(tmp_path)["changes"] if c["change"] == "add"]
    assert sorted(str(c["window"]) for c in added) == sorted(printed)
    listed = subprocess.run(
        [str(CTMAINT), "--now", NOW, "upcoming", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    unscheduled = [w["id"] for w in json.loads(listed) if w["calendar"] == "unscheduled"]
    assert sorted(unscheduled) == sorted(printed)  # every window present, none replaced


def test_concurrent_edits_of_one_window_are_all_recorded(tmp_path: Path) -> None:
    write_contacts(tmp_path, [])
    texts = [f"Description {n}" for n in range(4)]
    finish([ctmaint(tmp_path, "edit", MONTHLY, "--description", text) for text in texts])
    edits = [c for c in history(tmp_path)["changes"] if c["change"] == "edit"]
    assert sorted(str(e["fields"]["description"]) for e in edits) == texts  # type: ignore[index]
    listed = subprocess.run(
        [str(CTMAINT), "--now", NOW, "upcoming", "--days", "30", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    (monthly,) = [w for w in json.loads(listed) if w["id"] == MONTHLY]
    last = edits[-1]["fields"]["description"]  # type: ignore[index]
    assert monthly["description"] == last  # the state is the last edit recorded


def test_a_cancel_after_an_interrupted_send_resolves_every_row(tmp_path: Path) -> None:
    """SIGKILL a send, cancel the window, send again: nothing stays pending, the summary
    counts only what was sent, and whoever a reminder may have reached hears of the cancel
    exactly once (the rows in flight included); nobody else does."""
    addresses = many_contacts(tmp_path, 2000)
    box = tmp_path / ".ctmaint" / "outbox"
    kill_mid_run(spawn(tmp_path, "2030-06-14T09:00:00-06:00"), box, "*.eml", 60)
    after_kill = ledger_rows(tmp_path)
    reached = {r[1] for r in after_kill if r[2] in ("sent", "sending")}
    in_flight = {r[1] for r in after_kill if r[2] == "sending"}
    assert 0 < len(reached) < len(addresses)
    cancel = subprocess.run(
        [str(CTMAINT), "--now", "2030-06-14T09:05:00-06:00", "cancel", MONTHLY,
         "--reason", "Vendor recall"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert cancel.returncode == 0, cancel.stderr
    rerun = spawn(tmp_path, "2030-06-14T09:10:00-06:00")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(f"sent {len(reached)}, failed 0, expired 0, pending 0"), summary
    assert "sent again" not in summary
    if in_flight:
        assert f"{len(in_flight)} not sent: their window was cancelled" in summary
    rows = ledger_rows(tmp_path)
    assert {r[2] for r in rows} <= {"sent", "cancelled"}  # nothing pending or in flight
    week = {r[1]: r[2] for r in rows if r[0] == f"{MONTHLY}/week-before"}
    assert set(week) == addresses
    assert {a for a, state in week.items() if state == "cancelled"} == addresses - (
        reached - in_flight
    )
    cancels = Counter(
        address for (notice, address), n in deliveries(tmp_path, MONTHLY).items()
        for _ in range(n) if notice == f"{MONTHLY}/cancel"
    )  # fmt: skip
    assert set(cancels) == reached
    assert set(cancels.values()) == {1}
    again = spawn(tmp_path, "2030-06-14T09:15:00-06:00")
    out, _ = again.communicate(timeout=120)
    assert out.strip().splitlines()[-1].startswith("sent 0, failed 0, expired 0, pending 0")


def dry_run(folder: Path, now: str) -> dict[str, int]:
    done = subprocess.run(
        [str(CTMAINT), "--now", now, "send", "--dry-run", "--format", "json"],
        cwd=folder, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    return {d["notice"]: d["recipients"] for d in plan["deliveries"]}


def operate(folder: Path, now: str, *args: str) -> None:
    done = subprocess.run(
        [str(CTMAINT), "--now", now, *args],
        cwd=folder, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_each_dry_run_predicts_the_following_send_exactly(tmp_path: Path) -> None:
    """A scripted life: an unscheduled add, its start and end, a SIGKILLed reminder, a
    reschedule and a cancel. Before each send, `send --dry-run --format json` names the
    notices and recipient counts that send then delivers."""
    many_contacts(tmp_path, 600)
    box = tmp_path / ".ctmaint" / "outbox"
    moments = iter(
        ["2030-06-03T12:00:00-06:00", "2030-06-05T23:30:00-06:00", "2030-06-06T01:30:00-06:00",
         "2030-06-14T09:01:00-06:00", "2030-06-15T10:00:00-06:00", "2030-06-20T10:00:00-06:00"]
    )  # fmt: skip
    operate(tmp_path, "2030-06-03T11:00:00-06:00", "add", "--start", "2030-06-05T23:30:00-06:00",
            "--duration", "2h", "--products", "teams", "--summary", "SBC patch",
            "--description", "d", "--justification", "j")  # fmt: skip
    checked = 0

    def predict_then_send(now: str) -> None:
        nonlocal checked
        predicted = dry_run(tmp_path, now)
        before = {(r[0], r[1]): r[3] for r in ledger_rows(tmp_path)} if checked else {}
        _, err = spawn(tmp_path, now).communicate(timeout=120)
        assert "Traceback" not in err
        # a delivery is an attempt: a row the send claimed (a resent .eml keeps its name)
        made = Counter(r[0] for r in ledger_rows(tmp_path) if r[3] > before.get((r[0], r[1]), 0))
        assert predicted == dict(made), now
        checked += 1

    for _ in range(3):  # announce, start, complete of the unscheduled window
        predict_then_send(next(moments))
    killed = spawn(tmp_path, "2030-06-14T09:00:00-06:00")  # the reminder, killed mid-run
    kill_mid_run(killed, box, f"{MONTHLY}--week-before*.eml", 40)
    predict_then_send(next(moments))  # what was in flight and what was left
    operate(tmp_path, "2030-06-15T09:00:00-06:00", "reschedule", MONTHLY,
            "--start", "2030-06-28T22:00:00-06:00")  # fmt: skip
    predict_then_send(next(moments))
    operate(tmp_path, "2030-06-20T09:00:00-06:00", "cancel", MONTHLY, "--reason", "Recall")
    predict_then_send(next(moments))
    assert checked == 6
