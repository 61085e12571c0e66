"""`ctmaint send` through the CLI, with the clock set by --now: who gets what, once."""

from __future__ import annotations

import email
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from email.message import Message
from email.policy import default
from pathlib import Path

import pytest
from icalendar import Calendar

from ctmaint.model.contacts import COLUMNS
from tests.conftest import CliRunner

CTMAINT = Path(sys.executable).parent / "ctmaint"
CONTACTS = [
    "Acme,ACME-1,Ann Zoë,CTO,ann@acme.example,,maintenance,*,Europe/London",
    "Acme,ACME-1,Bob,,bob@acme.example,,primary;escalation,*,",
    "Beta,BETA-9,Cy,,cy@beta.example,,maintenance,connect,",
    "Gamma,,Di,,di@gamma.example,,maintenance,teams,America/New_York",
    "Gamma,,Di again,,DI@gamma.example,,maintenance,teams,",
    "Delta,DEL-4,Ed,,ed@delta.example,,maintenance,skype,",
]
MONTHLY = "monthly-2030-06-21"  # Fri 2030-06-21 22:00 MDT to Sat 04:00 MDT
MONTHLY_TO = {"ann@acme.example", "cy@beta.example", "di@gamma.example", "ed@delta.example"}


def write_contacts(folder: Path, rows: list[str]) -> None:
    (folder / "contacts.csv").write_text("\n".join([",".join(COLUMNS), *rows]) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_contacts(tmp_path, CONTACTS)
    return tmp_path


def outbox(folder: Path) -> list[Message]:
    box = folder / ".ctmaint" / "outbox"
    files = sorted(box.glob("*.eml")) if box.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=default) for p in files]


def deliveries(folder: Path, prefix: str = "") -> Counter[tuple[str, str]]:
    """(notice id, address) -> how many messages in the outbox."""
    return Counter(
        (str(m["X-Ctmaint-Notice-Id"]), m["To"].addresses[0].addr_spec.lower())
        for m in outbox(folder)
        if str(m["X-Ctmaint-Notice-Id"]).startswith(prefix)
    )


def send(run_cli: CliRunner, now: str) -> str:
    result = run_cli("--now", now, "send")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    return result.out.strip().splitlines()[-1]


def test_the_full_life_of_a_monthly_window(run_cli: CliRunner, site: Path) -> None:
    assert send(run_cli, "2030-06-14T08:59:00-06:00") == "sent 0, failed 0, expired 0, pending 0"
    assert deliveries(site, MONTHLY) == Counter()
    assert send(run_cli, "2030-06-14T09:00:00-06:00").startswith("sent 4,")
    assert send(run_cli, "2030-06-14T09:05:00-06:00").startswith("sent 0,")
    assert send(run_cli, "2030-06-21T21:59:00-06:00").startswith("sent 0,")
    assert send(run_cli, "2030-06-21T22:00:00-06:00").startswith("sent 4,")
    assert send(run_cli, "2030-06-21T22:05:00-06:00").startswith("sent 0,")
    assert send(run_cli, "2030-06-22T04:00:00-06:00").startswith("sent 4,")
    for minutes in (5, 60, 60 * 30):
        assert send(run_cli, f"2030-06-{22 + minutes // 1440:02d}T05:00:00-06:00").startswith(
            "sent 0,"
        )
    sent = deliveries(site, MONTHLY)
    assert set(sent.values()) == {1}
    assert sent.keys() == {
        (f"{MONTHLY}/{stage}", address)
        for stage in ("week-before", "start", "complete")
        for address in MONTHLY_TO
    }
    posts = sorted(p.name for p in (site / "notices" / "posts").iterdir() if "monthly" in p.name)
    assert posts == [
        f"{MONTHLY}--complete.md",
        f"{MONTHLY}--start.md",
        f"{MONTHLY}--week-before.md",
    ]
    index = json.loads((site / "notices" / "index.json").read_text())
    stages = [p["stage"] for p in index["posts"] if p["window"] == MONTHLY]
    assert stages == ["complete", "start", "week-before"]  # newest first
    assert run_cli("--now", "2030-06-25T00:00:00-06:00", "build").code == 0
    assert json.loads((site / "notices" / "index.json").read_text()) == index  # build keeps it
    history = json.loads(run_cli("history", "--format", "json").out)["notices"]
    monthly = {h["notice"]: h for h in history if h["notice"].startswith(MONTHLY)}
    assert {n: (h["sent"], h["failed"]) for n, h in monthly.items()} == {
        f"{MONTHLY}/week-before": (4, 0),
        f"{MONTHLY}/start": (4, 0),
        f"{MONTHLY}/complete": (4, 0),
    }
    assert monthly[f"{MONTHLY}/start"]["last_sent"] == "2030-06-22T04:00:00Z"


def test_connect_gets_its_24_hour_notice_and_the_cert_job_nothing(
    run_cli: CliRunner, site: Path
) -> None:
    upcoming = json.loads(
        run_cli("--now", "2030-06-01T00:00:00Z", "upcoming", "--format", "json").out
    )
    connect = next(w for w in upcoming if w["calendar"] == "connect")
    cert = next(w for w in upcoming if w["calendar"] == "skype-cert")
    start = connect["start"]  # e.g. 2030-06-11T21:00:00-06:00
    day_before = start.replace(start[8:10], f"{int(start[8:10]) - 1:02d}", 1)
    assert send(run_cli, day_before.replace("21:00:00", "20:59:00")).startswith("sent 0,")
    assert send(run_cli, day_before).startswith("sent 2,")  # Ann (*) and Cy (connect)
    assert deliveries(site, connect["id"]) == Counter(
        {(f"{connect['id']}/day-before", "ann@acme.example"): 1,
         (f"{connect['id']}/day-before", "cy@beta.example"): 1}
    )  # fmt: skip
    send(run_cli, cert["start"])
    send(run_cli, cert["end"])
    assert deliveries(site, cert["id"]) == Counter()
    assert not list((site / "notices" / "posts").glob(f"{cert['id']}*"))


def test_every_message_has_the_four_details_and_its_ics(run_cli: CliRunner, site: Path) -> None:
    send(run_cli, "2030-06-14T09:00:00-06:00")
    messages = [m for m in outbox(site) if str(m["X-Ctmaint-Notice-Id"]).startswith(MONTHLY)]
    assert len(messages) == 4
    for message in messages:
        for header in ("Date", "From", "To", "Subject", "Message-ID", "X-Ctmaint-Notice-Id"):
            assert message[header], header
        assert message["Message-ID"].endswith("@calltower.com>")
        assert "Monthly scheduled maintenance" in message["Subject"]
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for body in (text, html):
            assert "Fri 2030-06-21 22:00 MDT to Sat 2030-06-22 04:00 MDT (MT)" in body
            assert "Sat 2030-06-22 04:00 UTC to Sat 2030-06-22 10:00 UTC" in body
            assert "Microsoft Teams Voice" in body
            assert "System patching" in body
            assert "Proactive, routine maintenance" in body
            assert "https://status.calltower.com" in body
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_content_type() == "text/calendar"
        (event,) = Calendar.from_ical(attachment.get_content()).walk("VEVENT")
        assert event["X-MAINTNOTE-MAINTENANCE-ID"] == MONTHLY
        address = message["To"].addresses[0].addr_spec
        expected_account = {"ann": "ACME-1", "cy": "BETA-9", "di": "Gamma", "ed": "DEL-4"}
        assert event["X-MAINTNOTE-ACCOUNT"] == expected_account[address.split("@")[0]]
        assert "METHOD" not in Calendar.from_ical(attachment.get_content())
    ann = next(m for m in messages if "ann@" in m["To"])
    assert ann["To"].addresses[0].display_name == "Ann Zoë"  # RFC 2047 on the wire
    assert ann["Message-ID"] != messages[1]["Message-ID"]
    assert "Sat 2030-06-22 05:00 BST to Sat 2030-06-22 11:00 BST (Europe/London)" in (
        ann.get_body(("plain",)).get_content()
    )


def test_user_text_is_escaped_in_html(run_cli: CliRunner, site: Path) -> None:
    run_cli("init", "--force")  # the shipped policy, to edit
    write_contacts(site, CONTACTS)
    policy = (site / "ctmaint.toml").read_text()
    hostile = 'Swap <script>alert("x")</script> & <b>routers</b>'
    original = next(line for line in policy.splitlines() if "System patching" in line)
    (site / "ctmaint.toml").write_text(
        policy.replace(original, f"description = '{hostile} System patching.'")
    )
    send(run_cli, "2030-06-14T09:00:00-06:00")
    message = next(m for m in outbox(site) if "ann@" in m["To"])
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;routers&lt;/b&gt;" in html
    )
    assert hostile in message.get_body(("plain",)).get_content()


def test_late_runs_send_what_still_matters_and_expire_the_rest(
    run_cli: CliRunner, site: Path
) -> None:
    send(run_cli, "2030-06-10T12:00:00-06:00")  # the first run; then cron stops
    result = run_cli("--now", "2030-06-21T23:00:00-06:00", "send")  # inside the window
    assert result.code == 0
    assert result.out.strip().startswith("sent 4, failed 0, expired ")  # Connect's too
    assert f"expired: {MONTHLY}/week-before (4 recipients) was due at" in result.err
    assert deliveries(site, MONTHLY).keys() == {(f"{MONTHLY}/start", a) for a in MONTHLY_TO}
    late = run_cli("--now", "2030-06-23T04:00:00-06:00", "send")  # 24 h after the end
    assert late.out.strip().startswith("sent 0, failed 0, expired ")
    assert f"expired: {MONTHLY}/complete (4 recipients)" in late.err
    states = {
        n["id"]: n["state"]
        for n in json.loads(
            run_cli("--now", "2030-06-23T05:00:00-06:00", "notices", "--format", "json").out
        )
    }
    assert f"{MONTHLY}/week-before" not in states  # more than a week ago
    assert states[f"{MONTHLY}/start"] == "sent"
    assert states[f"{MONTHLY}/complete"] == "expired"
    again = run_cli("--now", "2030-06-23T06:00:00-06:00", "send")
    assert again.err == ""  # reported once
    history = {
        h["notice"]: h for h in json.loads(run_cli("history", "--format", "json").out)["notices"]
    }
    assert history[f"{MONTHLY}/complete"]["expired"] == 4
    assert history[f"{MONTHLY}/week-before"]["expired"] == 4
    assert history[f"{MONTHLY}/start"]["sent"] == 4


def test_a_completion_notice_is_still_sent_within_24_hours(run_cli: CliRunner, site: Path) -> None:
    assert send(run_cli, "2030-06-21T22:30:00-06:00").startswith("sent 4,")  # start, late
    assert send(run_cli, "2030-06-23T03:59:00-06:00").startswith("sent 4,")  # complete, late
    assert {n for n, _ in deliveries(site, MONTHLY)} == {f"{MONTHLY}/start", f"{MONTHLY}/complete"}


def test_notices_lists_due_times_recipients_and_state(run_cli: CliRunner, site: Path) -> None:
    now = "2030-06-14T09:30:00-06:00"
    send(run_cli, now)
    planned = json.loads(run_cli("--now", now, "notices", "--days", "10", "--format", "json").out)
    by_id = {n["id"]: n for n in planned}
    week = by_id[f"{MONTHLY}/week-before"]
    assert set(week) >= {"id", "window", "stage", "due", "recipients", "state"}
    assert week == {**week, "window": MONTHLY, "stage": "week-before", "recipients": 4}
    assert week["due"] == "2030-06-14T09:00:00-06:00"
    assert (week["state"], by_id[f"{MONTHLY}/start"]["state"]) == ("sent", "pending")
    table = run_cli("--now", now, "notices").out
    assert "Fri 2030-06-14 09:00 MDT" in table


def test_dry_run_shows_and_changes_nothing(run_cli: CliRunner, site: Path) -> None:
    result = run_cli("--now", "2030-06-14T09:00:00-06:00", "send", "--dry-run")
    assert result.code == 0
    assert f"would send {MONTHLY}/week-before to 4" in result.out
    assert f"would post {MONTHLY}/week-before to the status page" in result.out
    assert result.out.strip().endswith("dry run: would have sent 4, failed 0, expired 0, pending 0")
    assert not (site / ".ctmaint").exists()
    assert not (site / "notices").exists()


def test_a_bad_contact_row_is_left_out_and_everyone_else_told(
    run_cli: CliRunner, site: Path
) -> None:
    """One bad row never holds back every notice: it is reported (exit 1) and left out."""
    write_contacts(site, [*CONTACTS, "Bad,,X,,jörg@example.com,,maintenance,*,"])
    result = run_cli("--now", "2030-06-14T09:00:00-06:00", "send")
    assert result.code == 1
    assert "left out until fixed: " in result.err
    assert "contacts.csv: line 8: 'jörg@example.com' is not an email address" in result.err
    assert {a for _, a in deliveries(site)} == MONTHLY_TO
    dry = run_cli("--now", "2030-06-14T09:00:00-06:00", "send", "--dry-run")
    assert dry.code == 1
    assert "line 8" in dry.err
    checked = run_cli("check")
    assert checked.code == 1
    assert "line 8" in checked.err


def stray_quote_above(folder: Path, count: int) -> tuple[Path, set[str]]:
    """contacts.csv: an unclosed quote on line 2, ``count`` good rows below it."""
    addresses = many_contacts(folder, count)
    path = folder / "contacts.csv"
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, 'Bad Co,,"Unclosed,,x@bad.example,,maintenance,*,', *rows]))
    return path, addresses


def left_out_lines(path: Path, rows: int) -> list[str]:
    """What `send` says about the stray quote on line 2 of ``path`` of ``rows`` rows."""
    return [
        f'ctmaint: left out until fixed: {path}: line 2: cannot be read: a quote (") opens a '
        "field and does not close on this line; close it there",
        f"ctmaint: contacts left out: 1 of {rows} in {path}, told nothing until their rows are "
        "fixed",
    ]


def test_a_stray_quote_above_4000_rows_leaves_out_its_row_only(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    """The issue's file: an unclosed quote used to swallow the 4,000 rows below it into one
    field (1 contact told). Its line is named and left out, the 4,000 would be told."""
    path, _ = stray_quote_above(tmp_path, 4000)
    result = run_cli("--now", "2030-06-14T09:00:00-06:00", "send", "--dry-run")
    assert result.code == 1
    assert result.err.splitlines() == left_out_lines(path, 4001)
    assert f"would send {MONTHLY}/week-before to 4000: " in result.out
    assert result.out.strip().endswith("would have sent 4000, failed 0, expired 0, pending 0")
    checked = run_cli("check")
    assert checked.code == 1
    assert f"{path}: line 2: cannot be read" in checked.err


def test_a_send_past_a_stray_quote_tells_everyone_below_it(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    path, addresses = stray_quote_above(tmp_path, 60)
    result = run_cli("--now", "2030-06-14T09:00:00-06:00", "send")
    assert result.code == 1
    assert result.err.splitlines() == left_out_lines(path, 61)
    assert result.out.strip().splitlines()[-1] == "sent 60, failed 0, expired 0, pending 0"
    week_before = deliveries(tmp_path, f"{MONTHLY}/week-before")
    assert set(week_before.values()) == {1}
    assert {a for _, a in week_before} == addresses


def many_contacts(folder: Path, count: int) -> set[str]:
    rows = [f"Big Co,BIG-1,Person {i},,p{i}@big.example,,maintenance,*," for i in range(count)]
    write_contacts(folder, rows)
    return {f"p{i}@big.example" for i in range(count)}


def ledger_rows(folder: Path) -> list[tuple[str, str, str, int]]:
    with sqlite3.connect(folder / ".ctmaint" / "state.db") as db:
        return list(db.execute("SELECT notice_id, recipient, state, attempts FROM deliveries"))


def spawn(folder: Path, now: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    return subprocess.Popen(
        [str(CTMAINT), "--now", now, "send"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def kill_mid_run(run: subprocess.Popen[str], box: Path, pattern: str, written: int) -> None:
    """SIGKILL ``run`` once ``written`` files matching ``pattern`` are in the outbox."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and run.poll() is None:
        if box.exists() and sum(1 for _ in box.glob(pattern)) >= written:
            break
        time.sleep(0.005)
    assert run.poll() is None, "the run finished before it could be killed; add contacts"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)


def test_two_concurrent_sends_deliver_each_recipient_exactly_once(tmp_path: Path) -> None:
    addresses = many_contacts(tmp_path, 150)
    now = "2030-06-14T09:00:00-06:00"
    runs = [spawn(tmp_path, now), spawn(tmp_path, now)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    summaries = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert summaries[1].startswith("sent 150,")
    assert summaries[0].startswith("sent 0,")  # waited for the lock, found nothing left
    rows = [r for r in ledger_rows(tmp_path) if r[0] == f"{MONTHLY}/week-before"]
    assert {r[1] for r in rows} == addresses
    assert {(r[2], r[3]) for r in rows} == {("sent", 1)}  # one attempt each
    assert sum(deliveries(tmp_path, MONTHLY).values()) == 150


def test_a_send_killed_mid_run_loses_nothing_and_repeats_only_what_was_in_flight(
    tmp_path: Path,
) -> None:
    addresses = many_contacts(tmp_path, 1500)
    box = tmp_path / ".ctmaint" / "outbox"
    now = "2030-06-14T09:00:00-06:00"
    kill_mid_run(spawn(tmp_path, now), box, "*.eml", 50)
    after_kill = ledger_rows(tmp_path)
    in_flight = {r[1] for r in after_kill if r[2] == "sending"}
    sent_before = {r[1] for r in after_kill if r[2] == "sent"}
    assert 0 < len(sent_before) < len(addresses)
    assert len(in_flight) <= 25  # at most one batch
    rerun = spawn(tmp_path, "2030-06-14T09:01:00-06:00")
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    rows = {r[1]: r for r in ledger_rows(tmp_path) if r[0] == f"{MONTHLY}/week-before"}
    assert set(rows) == addresses  # nothing lost
    assert {r[2] for r in rows.values()} == {"sent"}
    repeated = {address for address, r in rows.items() if r[3] > 1}
    assert repeated == in_flight  # nothing sent twice but what was in flight
    assert not repeated & sent_before
    assert sum(deliveries(tmp_path, MONTHLY).values()) == 1500


def test_a_contact_added_later_gets_what_still_matters_and_no_false_expiry(
    run_cli: CliRunner, site: Path
) -> None:
    send(run_cli, "2030-06-14T09:00:00-06:00")  # the reminder to the four
    write_contacts(site, [*CONTACTS, "Eta,,Fay,,fay@eta.example,,maintenance,*,"])
    result = run_cli("--now", "2030-06-21T23:00:00-06:00", "send")
    assert result.out.strip().startswith("sent 5,")  # the start notice, Fay included
    assert f"{MONTHLY}/week-before" not in result.err  # she was not "missed" by a cron outage
    assert (f"{MONTHLY}/week-before", "fay@eta.example") not in deliveries(site, MONTHLY)
    assert deliveries(site, MONTHLY)[(f"{MONTHLY}/start", "fay@eta.example")] == 1


def test_dry_run_after_an_outage_reports_what_would_expire(run_cli: CliRunner, site: Path) -> None:
    send(run_cli, "2030-06-10T12:00:00-06:00")
    before = ledger_rows(site)
    result = run_cli("--now", "2030-06-21T23:00:00-06:00", "send", "--dry-run")
    assert f"would mark {MONTHLY}/week-before expired (4 recipients)" in result.out
    assert f"would send {MONTHLY}/start to 4" in result.out
    assert ledger_rows(site) == before
    real = run_cli("--now", "2030-06-21T23:00:00-06:00", "send")
    assert f"expired: {MONTHLY}/week-before (4 recipients)" in real.err


UNICODE_SUMMARY = "Wartung — SBC Über-Patch “Q1”"


def test_unscheduled_notices_are_named_by_the_summary_and_their_ics_is_utf8(
    run_cli: CliRunner, site: Path
) -> None:
    """Subject, post and attachment carry what the operator wrote, in UTF-8 that
    Python's email decodes (a text/calendar part without charset reads as ASCII)."""
    now = "2030-06-03T12:00:00-06:00"
    added = run_cli(
        "--now", now, "add", "--start", "2030-06-05T23:30:00-06:00", "--duration", "2h",
        "--products", "teams", "--summary", UNICODE_SUMMARY, "--description", "Patch.",
        "--justification", "Security.",
    )  # fmt: skip
    assert added.code == 0, added.err
    send(run_cli, now)
    messages = outbox(site)
    assert messages
    for message in messages:
        subject = str(message["Subject"])
        assert subject.startswith(f"[CallTower] Unscheduled maintenance: {UNICODE_SUMMARY}, ")
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_content_type() == "text/calendar"
        assert attachment.get_content_charset() == "utf-8"
        text = attachment.get_content()
        assert f"SUMMARY:CallTower: {UNICODE_SUMMARY}\r\n" in text
    (post,) = (site / "notices" / "posts").glob("*--announce.md")
    assert f"Unscheduled maintenance: {UNICODE_SUMMARY}" in post.read_text()
    (window,) = json.loads(run_cli("--now", now, "upcoming", "--format", "json").out)[:1]
    assert window["title"] == UNICODE_SUMMARY


def test_every_eml_reads_back_whole_in_pythons_email(run_cli: CliRunner, site: Path) -> None:
    """Python's email parses every message of a scripted life: headers, both bodies, and
    the calendar attachment's text exactly as the .ics bytes say, in UTF-8."""
    now = "2030-06-03T12:00:00-06:00"
    added = run_cli(
        "--now", now, "add", "--start", "2030-06-05T23:30:00-06:00", "--duration", "2h",
        "--products", "teams", "--summary", UNICODE_SUMMARY, "--description", "Ärger — „gelöst“.",
        "--justification", "Sécurité.",
    )  # fmt: skip
    assert added.code == 0, added.err
    for moment in (now, "2030-06-05T23:30:00-06:00", "2030-06-06T01:30:00-06:00",
                   "2030-06-14T09:00:00-06:00"):  # fmt: skip
        send(run_cli, moment)
    messages = outbox(site)
    assert len({str(m["X-Ctmaint-Notice-Id"]) for m in messages}) == 4
    for message in messages:
        for header in ("Date", "From", "To", "Subject", "Message-ID", "X-Ctmaint-Notice-Id"):
            assert str(message[header]), header
        assert message.get_body(("plain",)).get_content()
        assert message.get_body(("html",)).get_content()
        (attachment,) = list(message.iter_attachments())
        raw = attachment.get_payload(decode=True)
        assert attachment.get_content() == raw.decode("utf-8")
        window = str(message["X-Ctmaint-Notice-Id"]).split("/")[0]
        assert f"\r\nX-MAINTNOTE-MAINTENANCE-ID;VALUE=TEXT:{window}\r\n" in raw.decode()
        if window == added.out.strip():
            assert f"\r\nSUMMARY:CallTower: {UNICODE_SUMMARY}\r\n" in attachment.get_content()


def test_a_dry_run_names_a_few_recipients_per_notice_unless_verbose(tmp_path: Path) -> None:
    addresses = many_contacts(tmp_path, 40)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    args = [str(CTMAINT), "--now", "2030-06-14T09:00:00-06:00", "send", "--dry-run"]
    short = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=60, check=True).stdout  # fmt: skip
    line = next(x for x in short.splitlines() if x.startswith(f"would send {MONTHLY}/"))
    assert line.endswith(" and 37 more")
    assert line.startswith(f"would send {MONTHLY}/week-before to 40: ")
    full = subprocess.run([*args, "--verbose"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=True).stdout  # fmt: skip
    line = next(x for x in full.splitlines() if x.startswith(f"would send {MONTHLY}/"))
    assert set(line.split(": ", 1)[1].split(", ")) == addresses


def test_a_run_stops_delivering_when_its_time_budget_is_used_up(
    run_cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[send] time_budget bounds a run: what is left waits for the next run, said once."""
    from ctmaint import clock

    addresses = many_contacts(tmp_path, 150)  # one audience: six outbox batches of 25
    ticks = iter(range(0, 10_000, 100))  # each look at the clock: 100 s later
    with monkeypatch.context() as patched:
        patched.setattr(clock, "monotonic", lambda: float(next(ticks)))
        result = run_cli("--now", "2030-06-14T09:00:00-06:00", "send")
    assert result.code == 0, result.err
    assert result.out.strip() == "sent 50, failed 0, expired 0, pending 100"
    assert result.err.strip() == (
        "ctmaint: the run's time budget is used up; 100 deliveries left for the next run"
    )
    again = run_cli("--now", "2030-06-14T09:05:00-06:00", "send")
    assert again.out.strip() == "sent 100, failed 0, expired 0, pending 0"
    rows = [r for r in ledger_rows(tmp_path) if r[0] == f"{MONTHLY}/week-before"]
    assert {r[1] for r in rows} == addresses
    assert {(r[2], r[3]) for r in rows} == {("sent", 1)}


@pytest.mark.parametrize(
    "first_run", [None, "2030-06-10T12:00:00-06:00", "2030-06-01T09:00:00-06:00"]
)
def test_notices_and_send_agree_on_what_is_reported_expired(
    run_cli: CliRunner, site: Path, first_run: str | None
) -> None:
    """Without a send before, nothing that expired is reported by either; after a first
    send, what came due and expired while cron was down is reported by both."""
    if first_run:
        send(run_cli, first_run)
    now = "2030-06-23T05:00:00-06:00"  # the reminder, start and complete have all passed
    listed = json.loads(run_cli("--now", now, "notices", "--days", "1", "--format", "json").out)
    by_notices = {n["id"] for n in listed if n["state"] == "expired"}
    plan = json.loads(run_cli("--now", now, "send", "--dry-run", "--format", "json").out)
    by_send = {e["notice"] for e in plan["expired"]}
    assert by_notices == by_send  # older than a week too: what send will report, it lists
    if first_run:
        assert {f"{MONTHLY}/week-before", f"{MONTHLY}/start"} <= by_send
        assert f"{MONTHLY}/start" in by_notices
    else:
        assert by_send == set()
        assert not [n for n in listed if n["id"].startswith(MONTHLY)]
    result = run_cli("--now", now, "send")
    reported = {line.split()[2] for line in result.err.splitlines() if "expired:" in line}
    assert reported == by_send
