"""`ctmaint send` (the real command, as a subprocess) to subscriptions, against loopback
receivers that check what Teams, Slack and a Standard Webhooks receiver would: each due
notice once to each matching subscription beside the email, operator text inert, nothing of a
URL beyond its host or of a secret ever printed, and exactly once under concurrent runs and a
SIGKILL. Failures of receivers (429, silence, 410, redirects) are in test_subscribed_faults.py.
"""

from __future__ import annotations

import email
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.policy import default
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.channels.receivers import Receiver, Receivers, Reply, receivers
from tests.channels.test_teams import validator

ROOT = Path(__file__).resolve().parents[2]
_VENV = ROOT / ".venv" / "bin" / "ctmaint"
CTMAINT = _VENV if _VENV.exists() else Path(sys.executable).parent / "ctmaint"
MONTHLY = "monthly-2030-06-21"  # Fri 2030-06-21 22:00 MDT, every product
WEEK_BEFORE = f"{MONTHLY}/week-before"
DUE = "2030-06-14T09:00:00-06:00"  # its week-before reminder is due
LATER = "2030-06-14T09:05:00-06:00"
# How a receiver knows the reminder: a webhook by the notice id, a card or a message by its title.
REMINDER = {"webhook": WEEK_BEFORE, "teams": "In one week: Monthly scheduled maintenance"}
REMINDER["slack"] = REMINDER["teams"]
CONNECT = "connect-2030-06-11/day-before"  # due 2030-06-10T21:00-06:00
CONTACTS = [
    "Acme,ACME-1,Ann,,ann@acme.example,,maintenance,*,",
    "Beta,BETA-9,Cy,,cy@beta.example,,maintenance,connect,",
]
# Small patience, so that waits and silences take a second, not minutes.
PATIENCE = {
    "retries": 2,
    "backoff_seconds": 0.05,
    "max_wait_seconds": 2,
    "timeout_seconds": 1,
    "down_after": 2,
    "concurrency": 4,
}


@dataclass(frozen=True)
class Sub:
    """One row of subscriptions.csv, and where its requests arrive."""

    receiver: Receiver
    url: str
    path: str
    products: str
    secret: str = ""
    zone: str = ""
    org: str = ""

    @property
    def channel(self) -> str:
        return self.receiver.channel

    @property
    def key(self) -> str:
        """The ledger's recipient for it: channel, host and a digest of the URL."""
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return f"{self.channel}:{urlsplit(self.url).hostname}#{digest}"

    def delivered(self) -> Counter[str]:
        return self.receiver.delivered(self.path)

    def arrived(self) -> Counter[str]:
        return self.receiver.arrived(self.path)


@dataclass
class Ran:
    code: int | None
    out: str
    err: str
    seconds: float

    @property
    def summary(self) -> str:
        lines = self.out.strip().splitlines()
        return lines[-1] if lines else ""

    @property
    def counts(self) -> str:
        """The summary without its count by channel: ``sent 5, failed 0, ...``."""
        return re.sub(r"^(sent \d+) \([^)]*\)", r"\1", self.summary)


@dataclass
class Site:
    """A working folder: the shipped policy with small [channels] patience, contacts.csv,
    and subscriptions.csv (mode 600) pointing at loopback receivers."""

    root: Path
    subs: list[Sub] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)  # every run's stdout and stderr

    def policy(self, products: dict[str, str] | None = None, **patience: float) -> None:
        text = (ROOT / "ctmaint" / "data" / "policy.toml").read_text(encoding="utf-8")
        table = "\n".join(f"{k} = {v}" for k, v in (PATIENCE | patience).items())
        text = re.sub(r"\[channels\]\n(?:[^\[].*\n|\n)*", f"[channels]\n{table}\n\n", text)
        for product, name in (products or {}).items():
            text = re.sub(
                rf"^{product} = .*$", f"{product} = {json.dumps(name)}", text, count=1, flags=re.M
            )
        (self.root / "ctmaint.toml").write_text(text, encoding="utf-8")

    def subscribe(
        self,
        receiver: Receiver,
        products: str = "*",
        zone: str = "",
        org: str = "",
        same_as: Sub | None = None,
    ) -> Sub:
        """A row for a new URL on ``receiver`` (or ``same_as``'s URL again)."""
        if same_as is None:
            url, path = receiver.new_url(f"/{receiver.channel}/")
            secret = getattr(receiver, "secrets", {}).get(path, "")
        else:
            url, path, secret = same_as.url, same_as.path, same_as.secret
        sub = Sub(receiver, url, path, products, secret, zone, org or f"Org {len(self.subs)}")
        self.subs.append(sub)
        rows = ["organization,account,channel,target,products,timezone,secret"]
        rows += [
            f"{s.org},ACC-{n},{s.channel},{s.url},{s.products},{s.zone},{s.secret}"
            for n, s in enumerate(self.subs)
        ]
        written = self.root / "subscriptions.csv"
        written.write_text("\n".join(rows) + "\n", encoding="utf-8")
        written.chmod(0o600)
        return sub

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "SENDGRID"))}

    def spawn(self, *args: str, now: str = DUE) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(CTMAINT), "--now", now, *args],
            cwd=self.root, env=self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip

    def run(self, *args: str, now: str = DUE, timeout: float = 60) -> Ran:
        started = time.monotonic()
        process = self.spawn(*args, now=now)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
        ran = Ran(process.returncode, out, err, time.monotonic() - started)
        assert "Traceback" not in ran.err + ran.out, ran.err
        self.printed.append(ran.out + ran.err)
        return ran

    def send(self, now: str = DUE, code: int = 0) -> Ran:
        ran = self.run("send", now=now)
        assert ran.code == code, (ran.code, ran.err, ran.out)
        return ran

    def ledger(self) -> dict[tuple[str, str], tuple[str, int, str, str]]:
        """(notice, recipient) -> (state, attempts, channel, error)."""
        with sqlite3.connect(self.root / ".ctmaint" / "state.db") as db:
            rows = db.execute(
                "SELECT notice_id, recipient, state, attempts, channel, coalesce(error, '') "
                "FROM deliveries"
            )
            return {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows}

    def emails(self) -> Counter[tuple[str, str]]:
        """(notice, address) -> messages in the outbox."""
        box = self.root / ".ctmaint" / "outbox"
        messages = [
            email.message_from_bytes(p.read_bytes(), policy=default) for p in box.glob("*.eml")
        ]
        return Counter(
            (str(m["X-Ctmaint-Notice-Id"]), m["To"].addresses[0].addr_spec.lower())
            for m in messages
        )

    def secrets(self) -> list[str]:
        """What no output may show: each URL's path (its token) and each webhook secret."""
        found = []
        for sub in self.subs:
            found += [sub.path.rsplit("/", 1)[1], sub.path]
            if sub.secret:
                found += [sub.secret, sub.secret.removeprefix("whsec_")]
        return found

    def leaks(self) -> list[str]:
        """Secrets in anything printed so far, or stored under .ctmaint (state, outbox)."""
        texts = list(self.printed)
        for path in (self.root / ".ctmaint").rglob("*"):
            if path.is_file():
                texts.append(path.read_bytes().decode("utf-8", "replace"))
        for path in (self.root / "notices").rglob("*"):
            if path.is_file():
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
        return sorted({s for s in self.secrets() for text in texts if s in text})


def new_site(root: Path) -> Site:
    """A folder with contacts.csv and the policy; subscriptions come with Site.subscribe."""
    (root / "contacts.csv").write_text(
        "organization,account,name,title,email,phone,roles,products,timezone\n"
        + "\n".join(CONTACTS)
        + "\n"
    )
    made = Site(root)
    made.policy()
    return made


@pytest.fixture
def hosts() -> Iterator[Receivers]:
    made = receivers(validator())
    yield made
    made.close()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return new_site(tmp_path)


def add(site: Site, products: str, summary: str, description: str = "Patching.") -> str:
    """An unscheduled window two days after DUE; its announcement is due at once."""
    ran = site.run(
        "add", "--start", "2030-06-16T23:30:00-06:00", "--duration", "1h",
        "--products", products, "--summary", summary, "--description", description,
        "--justification", "Security.",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    return ran.out.strip() + "/announce"


def test_each_due_notice_goes_once_to_each_matching_subscription_and_email_still_goes(
    site: Site, hosts: Receivers
) -> None:
    everything = site.subscribe(hosts.teams, "*", zone="Asia/Tokyo")
    sip_slack = site.subscribe(hosts.slack, "sip")
    sip_webhook = site.subscribe(hosts.webhook, "sip;connect")
    site.subscribe(hosts.teams, "skype")  # the monthly only: it affects every product
    site.subscribe(hosts.slack, "teams")
    every_webhook = site.subscribe(hosts.webhook, "*")
    # The Skype certificate job (every Friday 00:00, no notices) posts nothing.
    for now in ("2030-06-07T00:00:00-06:00", "2030-06-07T00:30:00-06:00"):
        assert site.send(now).counts.startswith("sent 0, failed 0"), now
    assert [r.requests for r in hosts] == [[], [], []]
    # The Connect release's day-before notice: to the subscriptions of connect (or *).
    connect = {everything, sip_webhook, every_webhook}
    ran = site.send("2030-06-10T21:00:00-06:00")
    assert ran.summary.startswith("sent 5 (email 2, teams 1, webhook 2), failed 0,"), ran.err
    for sub in site.subs:
        assert sum(sub.delivered().values()) == (sub in connect), (sub.channel, sub.products)
    assert set(sip_webhook.delivered()) == {CONNECT}
    announce = add(site, "sip", "SIP trunk patch")
    sip = {everything, sip_slack, sip_webhook, every_webhook}
    planned = site.run("send", "--dry-run", "--format", "json")
    steps = {
        d["notice"]: set(d["addresses"]) | {s["key"] for s in d["subscriptions"]}
        for d in json.loads(planned.out)["deliveries"]
    }
    assert steps == {
        WEEK_BEFORE: {s.key for s in site.subs} | {"ann@acme.example", "cy@beta.example"},
        announce: {s.key for s in sip} | {"ann@acme.example"},
    }
    ran = site.send()
    assert ran.counts.startswith("sent 13, failed 0, expired 0, pending 0"), ran.err
    assert hosts.problems() == []
    for sub in site.subs:
        expected = [CONNECT] * (sub in connect) + [WEEK_BEFORE] + [announce] * (sub in sip)
        counts = sub.delivered()
        assert sorted(counts.values()) == [1] * len(expected), (sub.channel, sub.products, counts)
        if sub.channel == "webhook":
            assert sorted(counts) == sorted(expected)
    assert site.emails() == Counter(
        {(CONNECT, "ann@acme.example"): 1, (CONNECT, "cy@beta.example"): 1,
         (WEEK_BEFORE, "ann@acme.example"): 1, (WEEK_BEFORE, "cy@beta.example"): 1,
         (announce, "ann@acme.example"): 1}
    )  # fmt: skip
    ledger = site.ledger()
    for sub in site.subs:
        assert ledger[(WEEK_BEFORE, sub.key)][:3] == ("sent", 1, sub.channel)
    # Nothing again: not on the next run, nor at the certificate job of the next Friday.
    requests = [len(r.requests) for r in hosts]
    for now in (LATER, "2030-06-21T00:00:00-06:00", "2030-06-21T00:30:00-06:00"):
        assert site.send(now).counts.startswith("sent 0, failed 0"), now
    assert [len(r.requests) for r in hosts] == requests
    assert site.leaks() == []


def test_a_url_on_two_rows_hears_of_both_rows_products_or_the_run_says_why_not(
    site: Site, hosts: Receivers
) -> None:
    """Two organizations share a Slack channel: one for SIP, one for Connect. The Connect
    notice reaches it once, or the run names the row it ignores."""
    shared = site.subscribe(hosts.slack, "sip")
    site.subscribe(hosts.slack, "connect", same_as=shared)
    ran = site.send("2030-06-10T21:00:00-06:00")  # the Connect day-before notice is due
    assert sum(shared.delivered().values()) == 1 or "line 3" in ran.err, ran.err
    site.send()  # the monthly reminder: every product, once to the URL
    assert sum(shared.delivered().values()) == 2


def test_a_card_has_the_subscriptions_zone_and_the_windows_page(
    site: Site, hosts: Receivers
) -> None:
    tokyo = site.subscribe(hosts.teams, "*", zone="Asia/Tokyo")
    site.send()
    (request,) = hosts.teams.to(tokyo.path)
    card = request.json["attachments"][0]["content"]
    text = json.dumps(card)
    for zone in ("Asia/Tokyo", "UTC", "MDT"):
        assert zone in text
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "The window's page",
            "url": f"https://status.calltower.com/windows/{MONTHLY}.html",
        }
    ]


HOSTILE_SUMMARY = "<!channel> @here <http://evil.example|click> **bold** [x](http://evil.example)"
HOSTILE_DESCRIPTION = '"}]} \\u0000-like and "quotes" \'single\' & <b>tags</b> `code`'
HOSTILE_PRODUCT = "SIP <!here> **Trunking** [x](http://evil.example)"


def texts_of(card: dict[str, Any]) -> list[tuple[str, str]]:
    """(element type, its text) for every element of a card holding text."""
    found: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value"):
                if isinstance(node.get(key), str):
                    found.append((str(node.get("type")), node[key]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card.get("body", []))
    return found


def test_hostile_operator_text_arrives_inert(site: Site, hosts: Receivers) -> None:
    site.policy(products={"sip": HOSTILE_PRODUCT})
    teams = site.subscribe(hosts.teams, "sip")
    slack = site.subscribe(hosts.slack, "sip")
    webhook = site.subscribe(hosts.webhook, "sip")
    announce = add(site, "sip", HOSTILE_SUMMARY, HOSTILE_DESCRIPTION)
    site.send()
    assert hosts.problems() == []
    for sub in (teams, slack, webhook):
        assert len(sub.delivered()) == 2, sub.channel  # the monthly and the announcement
    # Slack: the fallback is mrkdwn, escaped; every block is plain text.
    (message,) = [r.json for r in hosts.slack.to(slack.path) if "SIP trunk" not in r.notice
                  and HOSTILE_SUMMARY[:9] in r.notice]  # fmt: skip
    assert "<!" not in message["text"]
    assert "<http" not in message["text"]
    assert "&lt;!channel&gt;" in message["text"]
    assert "&lt;!here&gt;" in message["text"]  # the product name
    for block in message["blocks"]:
        for text in [block.get("text"), *block.get("elements", [])]:
            if text:
                assert text["type"] == "plain_text", block
    plain = "\n".join(
        t["text"] for b in message["blocks"] for t in [b.get("text"), *b.get("elements", [])] if t
    )
    for hostile in (HOSTILE_SUMMARY, HOSTILE_DESCRIPTION, HOSTILE_PRODUCT):
        assert hostile in plain
    # Teams: text only in TextRuns (never read as Markdown), no action but the window's page.
    for request in hosts.teams.to(teams.path):
        card = request.json["attachments"][0]["content"]
        assert {kind for kind, _ in texts_of(card)} == {"TextRun"}
        assert [a["type"] for a in card.get("actions", [])] == ["Action.OpenUrl"]
        assert card["actions"][0]["url"].startswith("https://status.calltower.com/windows/")
        assert "selectAction" not in json.dumps(card)
    shown = "\n".join(
        text
        for r in hosts.teams.to(teams.path)
        for _, text in texts_of(r.json["attachments"][0]["content"])
    )
    for hostile in (HOSTILE_SUMMARY, HOSTILE_DESCRIPTION, HOSTILE_PRODUCT):
        assert hostile in shown
    # Webhook: JSON that parses, the text verbatim.
    (update,) = [r.json["incident"] for r in hosts.webhook.to(webhook.path) if r.notice == announce]
    assert HOSTILE_SUMMARY in update["name"]
    assert HOSTILE_DESCRIPTION in update["incident_updates"][0]["body"]
    assert HOSTILE_PRODUCT in {c["name"] for c in update["components"]}


@pytest.mark.parametrize("word", ["patch ", "日本語の作業 "])
def test_a_long_description_is_cut_to_what_each_service_takes(
    site: Site, hosts: Receivers, word: str
) -> None:
    """An operator may paste a whole change record: Teams posts no message over 28 KB
    (a Workflow answers 202, then drops it) and Slack takes 3,000 characters a section."""
    subs = [site.subscribe(receiver, "sip") for receiver in hosts]
    long = (word * 5_000).strip()  # 30 KB in ASCII, 95 KB in UTF-8
    announce = add(site, "sip", "SIP trunk patch", long)
    site.send()
    assert hosts.problems() == []
    for sub in subs:
        assert len(sub.delivered()) == 2, sub.channel  # the monthly and the announcement
    (update,) = [r.json for r in hosts.webhook.to(subs[2].path) if r.notice == announce]
    assert long in update["incident"]["incident_updates"][0]["body"]  # a webhook takes it all
    (card,) = [r for r in hosts.teams.to(subs[0].path) if "SIP trunk" in r.notice]
    assert len(card.body) > 20_000  # cut to fit, not dropped
    shown = [t for _, t in texts_of(card.json["attachments"][0]["content"])]
    (work,) = [t for t in shown if long[:1000] in t]
    assert work.endswith("…")
    assert shown[-1] == "Security."  # the reason why is still there, after the work
    (message,) = [r.json for r in hosts.slack.to(subs[1].path) if "SIP trunk" in r.notice]
    assert message["text"].endswith("Why: Security.")  # all four details in the fallback


@pytest.mark.parametrize("size", range(90, 110))
def test_a_cut_fallback_never_ends_in_half_an_escape(size: int) -> None:
    from ctmaint.channels.slack import fitted

    text = fitted(["When: soon", "Work: " + "<&>" * 100, "Why: because"], size, escape=True)
    assert len(text) <= size
    assert text.endswith("\nWhy: because")
    work = text.splitlines()[1]
    assert work.endswith("…")
    assert re.fullmatch(r"Work: (&lt;|&amp;|&gt;)*…", work), work


def test_nothing_printed_or_stored_shows_more_of_a_url_than_its_host(
    site: Site, hosts: Receivers
) -> None:
    """Dry runs, sends with failures and deferrals, `notices` and `history`: the host, never
    a URL's path (its token) nor a webhook secret."""
    gone = site.subscribe(hosts.slack)
    hosts.slack.always(gone.path, Reply(404, {"Content-Type": "text/html"}, apache_404(gone.path)))
    busy = site.subscribe(hosts.webhook)
    hosts.webhook.always(busy.path, Reply(503, body=f"{busy.url} is busy".encode()))
    silent = site.subscribe(hosts.teams)
    hosts.teams.always(silent.path, Reply(hang=True))
    site.subscribe(hosts.webhook, "connect")
    site.run("send", "--dry-run")
    site.run("send", "--dry-run", "--verbose")
    site.run("send", "--dry-run", "--format", "json")
    first = site.send(code=1)
    assert "127.0.0.1" in first.err
    site.send(LATER)  # the 404 is not asked again; the others are
    site.run("notices")
    site.run("notices", "--format", "json")
    site.run("history")
    site.run("history", "--format", "json")
    assert site.leaks() == []
    # Rows that are wrong: the problems name the line and the host, nothing more.
    token, secret = "tokBADROW0123456789", "whsec_c2hvcnQ="  # not https; a short secret
    written = site.root / "subscriptions.csv"
    with written.open("a", encoding="utf-8") as rows:
        rows.write(f"Bad,BAD-1,teams,http://teams.example.com/{token},*,,\n")
        rows.write(f"Bad,BAD-2,webhook,{hosts.webhook.url('/x/' + token)}1,*,,{secret}\n")
    for args in (("check",), ("send", "--dry-run"), ("send",)):
        ran = site.run(*args, now=LATER)
        assert "Traceback" not in ran.err
    assert "teams.example.com" in site.printed[-1]
    assert site.leaks() == []
    assert not [text for text in site.printed if token in text or "c2hvcnQ" in text]


def apache_404(path: str) -> bytes:
    """The page a web server answers for a path it does not have: it names the path."""
    return (
        "<!DOCTYPE HTML><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
        f"<p>The requested URL {path} was not found on this server.</p></body></html>"
    ).encode()


def many(site: Site, hosts: Receivers, count: int) -> list[Sub]:
    """``count`` subscriptions, the three channels in turn, all products."""
    order: Sequence[Receiver] = (hosts.teams, hosts.slack, hosts.webhook)
    return [site.subscribe(order[n % 3]) for n in range(count)]


def test_two_concurrent_sends_deliver_each_subscription_once(site: Site, hosts: Receivers) -> None:
    subs = many(site, hosts, 24)
    for receiver in hosts:
        for sub in subs:
            if sub.receiver is receiver:
                receiver.always(sub.path, Reply(delay=0.2))
    runs = [site.spawn("send"), site.spawn("send")]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    summaries = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert summaries[0].startswith("sent 0,"), summaries  # it waited, and found nothing left
    assert summaries[1].startswith("sent 26 (email 2, slack 8, teams 8, webhook 8),"), summaries
    assert hosts.problems() == []
    for sub in subs:
        assert sub.arrived() == Counter({REMINDER[sub.channel]: 1}), sub.channel
    assert site.emails() == Counter({(WEEK_BEFORE, "ann@acme.example"): 1,
                                     (WEEK_BEFORE, "cy@beta.example"): 1})  # fmt: skip


def test_a_send_killed_mid_run_repeats_only_what_was_in_flight(
    site: Site, hosts: Receivers
) -> None:
    subs = many(site, hosts, 30)
    for sub in subs:
        sub.receiver.always(sub.path, Reply(delay=0.2))
    run = site.spawn("send")
    deadline = time.monotonic() + 30
    while sum(len(r.requests) for r in hosts) < 8 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert run.poll() is None, "the run ended before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    before = {sub.path: sum(sub.arrived().values()) for sub in subs}
    assert 0 < sum(before.values()) < len(subs)
    in_flight = {key for key, row in site.ledger().items() if row[0] == "sending"}
    for sub in subs:
        sub.receiver.always(sub.path, None)
    rerun = site.send(LATER)
    assert "sent again" in rerun.summary or not in_flight, rerun.summary
    assert hosts.problems() == []
    repeated = [sub for sub in subs if sum(sub.arrived().values()) > 1]
    for sub in subs:
        assert sub.arrived().keys() == {REMINDER[sub.channel]}, sub.channel  # nobody lost
        assert sum(sub.arrived().values()) <= 2
    # each channel keeps its own requests in flight, side by side
    assert len(repeated) <= PATIENCE["concurrency"] * len({sub.channel for sub in subs})
    assert {(WEEK_BEFORE, sub.key) for sub in repeated} <= in_flight
    for sub in repeated:
        if sub.channel == "webhook":
            ids = hosts.webhook.ids(sub.path)
            assert len(set(ids)) == 1, ids  # the receiver can drop the repeat
    assert {row[0] for row in site.ledger().values()} == {"sent"}
